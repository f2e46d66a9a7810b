// Drives `netspyctl mcp` with the official MCP TypeScript SDK clients beyond tools: resources
// (listed, read, templates, subscribed: an update arrives after traffic, coalesced), prompts
// (listed, rendered, argument errors), completion, logging, progress and cancellation; then the
// 2.x client in version-negotiation auto mode (it probes with server/discover first).
// Prints "ok - ..." / "not ok - ..." lines.
//
// Environment (set by tests/mcp.test.sh): NETSPYCTL, NETSPY_SOCK; GEN, a uniquely named traffic
// generator (run here, while subscribed); PORT, a port nobody listens on; HANG_URL, the base URL
// of a scripted model server that never answers (for cancellation and progress).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema }
	from '@modelcontextprotocol/sdk/types.js';
import { Client as Client2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioClientTransport2 } from '@modelcontextprotocol/client/stdio';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { basename } from 'node:path';

const env = process.env;
const execFileAsync = promisify(execFile);
const name = basename(env.GEN);
let failures = 0;

function check(desc, cond, detail) {
	let line = `${cond ? 'ok' : 'not ok'} - ${desc}`;
	if (!cond && detail !== undefined)
		line += ` (${JSON.stringify(detail).slice(0, 600)})`;
	console.log(line);
	if (!cond)
		failures++;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const serverEnv = (extra = {}) => ({ PATH: env.PATH ?? '/usr/bin:/bin', HOME: env.HOME ?? '/',
	...extra });

async function expectRpcError(desc, promise, code) {
	let got = null;
	try {
		await promise;
	} catch (e) {
		got = e.code;
	}
	check(desc, got === code, got);
}

async function sdk1() {
	const transport = new StdioClientTransport({ command: env.NETSPYCTL,
		args: ['--offline', '--socket', env.NETSPY_SOCK, 'mcp'], env: serverEnv(),
		stderr: 'pipe' });
	const client = new Client({ name: 'netspy-features', version: '1.0.0' });
	const updates = [];
	const logs = [];
	client.setNotificationHandler(ResourceUpdatedNotificationSchema,
		(n) => updates.push({ uri: n.params.uri, at: Date.now() }));
	client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
	await client.connect(transport);

	const caps = client.getServerCapabilities() ?? {};
	check('capabilities: resources with subscribe, prompts, logging, completions',
		caps.resources?.subscribe === true && !!caps.prompts && !!caps.logging &&
		!!caps.completions, caps);

	// ---- resources
	const { resources } = await client.listResources();
	const uris = resources.map((r) => r.uri);
	check('resources/list: netspy://status and netspy://events/recent',
		uris.includes('netspy://status') && uris.includes('netspy://events/recent'), uris);
	const { resourceTemplates } = await client.listResourceTemplates();
	const tmpl = resourceTemplates.map((t) => t.uriTemplate);
	check('resources/templates/list: netspy://process/{name} and netspy://unit/{unit}',
		tmpl.includes('netspy://process/{name}') && tmpl.includes('netspy://unit/{unit}'), tmpl);
	const read = async (uri) => {
		const r = await client.readResource({ uri });
		return JSON.parse(r.contents[0].text);
	};
	const status = await read('netspy://status');
	check('netspy://status: the daemon\'s version, uptime and events, and the session',
		typeof status.version === 'string' && Number.isInteger(status.uptime_seconds) &&
		Number.isInteger(status.events_total) && status.session?.connected === true, status);
	await expectRpcError('an unknown resource is error -32002',
		client.readResource({ uri: 'netspy://nothing' }), -32002);

	// ---- logging
	await client.setLoggingLevel('debug');

	// ---- subscriptions: an update after traffic, coalesced
	await client.subscribeResource({ uri: `netspy://process/${name}` });
	await client.subscribeResource({ uri: 'netspy://events/recent' });
	await sleep(1200);
	updates.length = 0;
	const t0 = Date.now();
	for (let i = 0; i < 5; i++) { // asynchronously: notifications are timed as they arrive
		await execFileAsync(env.GEN, ['tcp', '127.0.0.1', env.PORT, '2']);
		await sleep(100);
	}
	let mine = [];
	for (let i = 0; i < 60 && mine.length === 0; i++) {
		await sleep(100);
		mine = updates.filter((u) => u.uri === `netspy://process/${name}`);
	}
	check(`resources/subscribe: netspy://process/${name} is updated after its traffic`,
		mine.length > 0, updates);
	await sleep(1500);
	mine = updates.filter((u) => u.uri === `netspy://process/${name}`);
	const span = Date.now() - t0;
	check(`updates are coalesced: ${mine.length} notifications for 5 bursts in ${span} ms ` +
		'(at most one a second)', mine.length >= 1 && mine.length <= Math.ceil(span / 1000) + 1,
		mine);
	const gaps = mine.slice(1).map((u, i) => u.at - mine[i].at);
	check('updates of one resource are about 1 s apart or more', gaps.every((g) => g >= 800), gaps);
	const proc = await read(`netspy://process/${name}`);
	check(`netspy://process/${name}: the summary counts its 10 refused connects`,
		proc.summary?.total_connections === 10 && proc.summary?.failed_connections === 10 &&
		proc.connections?.events?.length === 10, proc.summary);
	const recent = await read('netspy://events/recent');
	check('netspy://events/recent: bounded to 50 connections and 50 drops',
		recent.connections?.events?.length <= 50 && recent.drops?.drops?.length <= 50 &&
		recent.connections?.events?.length > 0, recent.connections?.returned);
	await client.unsubscribeResource({ uri: `netspy://process/${name}` });
	await client.unsubscribeResource({ uri: 'netspy://events/recent' });
	updates.length = 0;
	execFileSync(env.GEN, ['tcp', '127.0.0.1', env.PORT, '2'], { stdio: 'ignore' });
	await sleep(1500);
	check('after resources/unsubscribe no update arrives', updates.length === 0, updates);

	// ---- prompts
	const { prompts } = await client.listPrompts();
	const pnames = prompts.map((p) => p.name);
	check('prompts/list: the four prompts', ['diagnose_process', 'investigate_drops',
		'review_outbound_destinations', 'explain_slow_connections']
		.every((n) => pnames.includes(n)), pnames);
	check('diagnose_process requires its process argument', prompts.find(
		(p) => p.name === 'diagnose_process')?.arguments?.find((a) => a.name === 'process')
		?.required === true);
	const p = await client.getPrompt({ name: 'diagnose_process',
		arguments: { process: name, duration: '120' } });
	const text = p.messages?.[0]?.content?.text ?? '';
	check('prompts/get diagnose_process names the process, the duration and the tools',
		text.includes(`'${name}'`) && text.includes('"duration": 120') &&
		text.includes('get_network_summary') && text.includes('list_packet_drops'), text);
	for (const n of pnames) {
		const r = await client.getPrompt({ name: n, arguments: n === 'diagnose_process' ?
			{ process: name } : {} });
		check(`prompts/get ${n} renders a user message`, r.messages?.[0]?.role === 'user' &&
			r.messages[0].content.text.length > 100);
	}
	const rev = await client.getPrompt({ name: 'review_outbound_destinations', arguments: {} });
	check('prompts/get review_outbound_destinations calls find_anomalies',
		(rev.messages?.[0]?.content?.text ?? '').includes('find_anomalies'), rev.messages);
	const slow = await client.getPrompt({ name: 'explain_slow_connections', arguments: {} });
	check('prompts/get explain_slow_connections calls get_tcp_quality and get_dns_summary',
		['get_tcp_quality', 'get_dns_summary'].every((t) =>
			(slow.messages?.[0]?.content?.text ?? '').includes(t)), slow.messages);
	await expectRpcError('prompts/get without a required argument is error -32602',
		client.getPrompt({ name: 'diagnose_process', arguments: {} }), -32602);
	await expectRpcError('prompts/get with a bad duration is error -32602',
		client.getPrompt({ name: 'investigate_drops', arguments: { duration: 'soon' } }),
		-32602);

	// ---- completion
	const prefix = name.slice(0, 6);
	let c = await client.complete({ ref: { type: 'ref/prompt', name: 'diagnose_process' },
		argument: { name: 'process', value: prefix } });
	check(`completion/complete: process "${prefix}" offers ${name}`,
		c.completion.values.includes(name), c.completion);
	c = await client.complete({ ref: { type: 'ref/resource', uri: 'netspy://process/{name}' },
		argument: { name: 'name', value: prefix } });
	check('completion/complete: the process template\'s {name} too',
		c.completion.values.includes(name), c.completion);
	c = await client.complete({ ref: { type: 'ref/prompt', name: 'investigate_drops' },
		argument: { name: 'duration', value: '3' } });
	check('completion/complete: durations by prefix', c.completion.values.length > 0 &&
		c.completion.values.every((v) => v.startsWith('3')), c.completion);

	// ---- logging
	// Progress of a fast call is checked on the raw stream (tests/mcp.test.sh): the SDK 1.x
	// client drops a progress notification that arrives in the same read as its response, and
	// the slow call below shows it for the SDK.
	logs.length = 0;
	await client.callTool({ name: 'get_network_summary', arguments: { duration: 5 } });
	check('notifications/message at debug level after logging/setLevel debug',
		logs.some((l) => l.level === 'debug' && /get_network_summary/.test(l.data)), logs);
	await client.setLoggingLevel('error');
	logs.length = 0;
	await client.callTool({ name: 'get_network_summary', arguments: { duration: 5 } });
	await sleep(200);
	check('no debug messages after logging/setLevel error', logs.length === 0, logs);
	await client.close();
}

// A slow call (the model never answers) is cancelled: the server stops it and answers the next
// request at once.
async function cancellation() {
	const transport = new StdioClientTransport({ command: env.NETSPYCTL,
		args: ['--socket', env.NETSPY_SOCK, 'mcp'], stderr: 'pipe',
		env: serverEnv({ OPENAI_BASE_URL: env.HANG_URL, OPENAI_API_KEY: 'test-key' }) });
	const client = new Client({ name: 'netspy-cancel', version: '1.0.0' });
	await client.connect(transport);
	const progress = [];
	const ac = new AbortController();
	const call = client.callTool({ name: 'contextual_analysis', arguments: { query: 'hi' } },
		undefined, { signal: ac.signal, onprogress: (p) => progress.push(p),
			timeout: 60000 });
	await sleep(1500);
	ac.abort('test cancels');
	let aborted = false;
	try {
		await call;
	} catch {
		aborted = true;
	}
	check('the slow call reported progress before it was cancelled',
		progress.some((p) => /model/.test(p.message ?? '')), progress);
	const t = Date.now();
	await client.ping({ timeout: 20000 });
	const took = Date.now() - t;
	check(`notifications/cancelled is honoured: the next request is answered in ${took} ms`,
		aborted && took < 3000, { aborted, took });
	await client.close();
}

async function sdk2() {
	const transport = new StdioClientTransport2({ command: env.NETSPYCTL,
		args: ['--offline', '--socket', env.NETSPY_SOCK, 'mcp'], env: serverEnv(),
		stderr: 'pipe' });
	const client = new Client2({ name: 'netspy-sdk2', version: '2.0.0' },
		{ versionNegotiation: { mode: 'auto', probe: { timeoutMs: 10000 } } });
	await client.connect(transport);
	check('SDK 2.x auto negotiation falls back to initialize: 2025-11-25',
		client.getNegotiatedProtocolVersion() === '2025-11-25',
		client.getNegotiatedProtocolVersion());
	const { tools } = await client.listTools();
	check('SDK 2.x: tools/list', tools.some((t) => t.name === 'get_network_summary'));
	const r = await client.callTool({ name: 'get_network_summary',
		arguments: { process_name: name, duration: 300 } });
	check('SDK 2.x: tools/call answers with structuredContent',
		r.structuredContent?.total_connections >= 10, r.structuredContent);
	const { resources } = await client.listResources();
	check('SDK 2.x: resources/list', resources.length === 2);
	const p = await client.getPrompt({ name: 'investigate_drops', arguments: {} });
	check('SDK 2.x: prompts/get', p.messages?.length === 1);
	await client.close();
}

async function main() {
	for (const [label, f] of [['SDK 1.x', sdk1], ['cancellation', cancellation],
		['SDK 2.x', sdk2]]) {
		try {
			await f();
		} catch (e) {
			check(`${label} session`, false, String(e?.stack ?? e));
		}
	}
}

main().then(() => process.exit(failures ? 1 : 0));
