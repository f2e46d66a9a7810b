// Drives `netspyctl mcp` with the official MCP TypeScript SDK client: lists the tools, calls each
// one against a real netspyd after known traffic, validates every structuredContent against the
// tool's outputSchema with Ajv and checks the counts. Prints "ok - ..." / "not ok - ..." lines.
//
// Environment (set by tests/mcp.test.sh): NETSPYCTL and NETSPY_SOCK, the program and the daemon's
// socket; PORT, a port nobody listens on; and uniquely named traffic generators, run once the
// session is subscribed:
//   FAIL_GEN  makes FAIL_TCP refused TCP connects and FAIL_UDP UDP connects to 127.0.0.1:PORT
//   OK_GEN    makes OK_COUNT established TCP connections
//   BIG_GEN   makes BIG_COUNT UDP connects (a result too large for one answer)
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import Ajv from 'ajv';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

const env = process.env;
const failTcp = Number(env.FAIL_TCP);
const failUdp = Number(env.FAIL_UDP);
const okCount = Number(env.OK_COUNT);
const bigCount = Number(env.BIG_COUNT);

const DATA_TOOLS = ['get_network_summary', 'list_connections', 'get_packet_drop_summary',
	'list_packet_drops', 'analyze_patterns', 'get_dns_summary', 'list_dns_queries',
	'find_anomalies'];
const ALL_TOOLS = [...DATA_TOOLS, 'ai_insights', 'contextual_analysis', 'get_tcp_quality'];
let failures = 0;

function check(desc, cond, detail) {
	let line = `${cond ? 'ok' : 'not ok'} - ${desc}`;
	if (!cond && detail !== undefined)
		line += ` (${JSON.stringify(detail).slice(0, 600)})`;
	console.log(line);
	if (!cond)
		failures++;
}

const ajv = new Ajv({ strict: false, allErrors: true });
const validators = new Map();

// Calls a tool; checks the result shape common to every successful call and returns the
// structuredContent (or null).
async function callData(client, name, args) {
	let result;
	try {
		result = await client.callTool({ name, arguments: args });
	} catch (e) {
		check(`${name} ${JSON.stringify(args)} answers`, false, String(e));
		return null;
	}
	const label = `${name} ${JSON.stringify(args)}`;
	const placeholder = 'not built into this netspyctl';
	if (result.isError && result.content?.[0]?.text?.includes(placeholder)) {
		console.log(`ok - ${name} # SKIP this build has no AI module yet`);
		return null;
	}
	if (result.isError) {
		check(`${label} succeeds`, false, result.content);
		return null;
	}
	const sc = result.structuredContent;
	const validate = validators.get(name);
	const valid = validate ? validate(sc) : false;
	check(`${label}: structuredContent validates against the outputSchema`, valid,
		validate ? validate.errors : 'no validator');
	const text = result.content?.[0]?.type === 'text' ? result.content[0].text : null;
	let same = false;
	try {
		same = isDeepStrictEqual(JSON.parse(text), sc);
	} catch { /* not JSON */ }
	check(`${label}: the text content is the same JSON`, same);
	return sc;
}

// The events lost so far, as the analyzer reports them.
async function eventsLost(client) {
	const r = await client.callTool({ name: 'get_network_summary', arguments: { duration: 1 } });
	return r.structuredContent?.events_lost ?? 0;
}

// Asks for name's connection count until it is n (the daemon batches its deliveries).
async function waitTotal(client, name, n) {
	for (let i = 0; i < 50; i++) {
		const r = await client.callTool({ name: 'get_network_summary',
			arguments: { process_name: name, duration: 300, direction: 'out' } });
		if (r.structuredContent?.total_connections === n)
			return true;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	return false;
}

async function expectToolError(client, name, args, mention) {
	let result;
	try {
		result = await client.callTool({ name, arguments: args });
	} catch (e) {
		check(`${name} ${JSON.stringify(args)} gives an isError result`, false, String(e));
		return;
	}
	const text = result.content?.map((c) => c.text).join(' ') ?? '';
	check(`${name} ${JSON.stringify(args)} gives an isError result naming ${mention}`,
		result.isError === true && text.includes(mention) && !result.structuredContent,
		result);
}

async function main() {
	const transport = new StdioClientTransport({
		command: env.NETSPYCTL,
		// --offline: the AI tools answer with the built-in analyst and never call a model.
		args: ['--offline', '--socket', env.NETSPY_SOCK, 'mcp'],
		env: { PATH: env.PATH ?? '/usr/bin:/bin', HOME: env.HOME ?? '/' },
		stderr: 'pipe',
	});
	let stderr = '';
	transport.stderr?.on('data', (d) => { stderr += d; });
	const client = new Client({ name: 'netspy-test', version: '1.0.0' });
	const protocolErrors = [];
	client.onerror = (e) => protocolErrors.push(String(e));
	await client.connect(transport);

	const info = client.getServerVersion();
	check('initialize: serverInfo names netspy', info?.name === 'netspy', info);
	check('initialize: the server offers tools', !!client.getServerCapabilities()?.tools);
	check('initialize: instructions are given', (client.getInstructions() ?? '').length > 40);

	let pong = false;
	try {
		pong = isDeepStrictEqual(await client.ping(), {});
	} catch { /* fails below */ }
	check('ping answers', pong);

	const { tools } = await client.listTools();
	const names = tools.map((t) => t.name);
	check('tools/list lists the eleven tools', ALL_TOOLS.every((n) => names.includes(n)), names);
	for (const t of tools) {
		check(`${t.name}: title, description, input and output schemas`,
			!!t.title && !!t.description && t.inputSchema?.type === 'object' &&
			t.outputSchema?.type === 'object');
		let compiled = null;
		try {
			compiled = ajv.compile(t.outputSchema);
		} catch (e) {
			check(`${t.name}: outputSchema compiles with Ajv`, false, String(e));
		}
		if (compiled)
			validators.set(t.name, compiled);
		check(`${t.name}: readOnlyHint true`, t.annotations?.readOnlyHint === true);
		if (DATA_TOOLS.includes(t.name))
			check(`${t.name}: openWorldHint false`, t.annotations?.openWorldHint === false);
	}

	// Traffic made now, while the session is subscribed. Other tests on this machine may flood
	// every netspyd past what the kernel can buffer: when events were lost meanwhile, the
	// traffic is made again by fresh copies (new names), at most three times.
	let genNames = null;
	for (let attempt = 1; attempt <= 3 && !genNames; attempt++) {
		const lostBefore = await eventsLost(client);
		const gens = [env.FAIL_GEN, env.OK_GEN, env.BIG_GEN].map((g) => {
			const copy = attempt === 1 ? g : `${g}${attempt}`;
			if (copy !== g)
				copyFileSync(g, copy);
			chmodSync(copy, 0o755);
			return copy;
		});
		const gen = (path, ...args) => execFileSync(path, args.map(String), { stdio: 'ignore' });
		gen(gens[0], 'tcp', '127.0.0.1', env.PORT, failTcp);
		gen(gens[0], 'udp', '127.0.0.1', env.PORT, failUdp);
		gen(gens[1], 'tcp-local', '127.0.0.1', okCount);
		gen(gens[2], 'udp', '127.0.0.1', env.PORT, bigCount);
		const want = [[failTcp + failUdp], [okCount], [bigCount]];
		let seen = true;
		for (let i = 0; i < 3; i++)
			seen = (await waitTotal(client, basename(gens[i]), want[i][0])) && seen;
		if (seen || (await eventsLost(client)) === lostBefore || attempt === 3) {
			genNames = gens.map((g) => basename(g));
			check('the session sees the test traffic' +
				(attempt > 1 ? ` (attempt ${attempt}: events were lost before)` : ''), seen);
		}
	}
	const [failName, okName, bigName] = genNames;

	// The process that made refused TCP connects and UDP connects.
	const f = failName;
	let sc = await callData(client, 'get_network_summary', { process_name: f, duration: 300 });
	if (sc) {
		check(`summary: ${failTcp + failUdp} connections of ${f}`,
			sc.total_connections === failTcp + failUdp, sc);
		check(`summary: ${failTcp} failed`, sc.failed_connections === failTcp, sc);
		check('summary: by_protocol counts TCP and UDP',
			sc.by_protocol?.TCP === failTcp && sc.by_protocol?.UDP === failUdp, sc.by_protocol);
	}
	const summaryText = sc ? JSON.stringify(sc) : 'no data';
	sc = await callData(client, 'list_connections',
		{ process_name: f, duration: 300, max_events: 100 });
	if (sc) {
		const ev = sc.events ?? [];
		check(`list: ${failTcp + failUdp} events`, ev.length === failTcp + failUdp, ev.length);
		check(`list: every event is from ${f}`, ev.every((e) => e.process === f));
		check(`list: ${failTcp} TCP connects refused`,
			ev.filter((e) => e.protocol === 'TCP' && e.outcome === 'refused').length === failTcp);
		check(`list: destinations are 127.0.0.1:${env.PORT}`, ev.every((e) =>
			e.destination_ip === '127.0.0.1' && e.destination_port === Number(env.PORT)));
	}
	sc = await callData(client, 'list_connections',
		{ process_name: f, duration: 300, max_events: 2 });
	if (sc)
		check('list: max_events bounds the list', (sc.events ?? []).length === 2, sc.events);
	sc = await callData(client, 'analyze_patterns', { process_name: f, duration: 300 });
	if (sc) {
		const top = sc.top_destinations ?? [];
		check(`analyze: the top destination is 127.0.0.1:${env.PORT}`,
			top.length > 0 && String(top[0].destination).includes(`:${env.PORT}`), top);
		check('analyze: destination counts add up to the connections',
			top.reduce((n, d) => n + d.count, 0) === failTcp + failUdp, top);
		check('analyze: a failure rate above zero', sc.failure_rate > 0, sc.failure_rate);
	}

	// The process whose connections were accepted.
	sc = await callData(client, 'get_network_summary', { process_name: okName, duration: 300 });
	if (sc) {
		check(`summary: ${okCount} connections of ${okName} each way, none failed`,
			sc.total_connections === 2 * okCount && sc.failed_connections === 0 &&
			sc.by_direction.outbound === okCount && sc.by_direction.inbound === okCount, sc);
	}
	sc = await callData(client, 'list_connections',
		{ process_name: okName, duration: 300, direction: 'out' });
	if (sc) {
		const ev = sc.events ?? [];
		check('list: accepted connections are established with a latency',
			ev.length === okCount && ev.every((e) => e.outcome === 'established' &&
				typeof e.latency_ms === 'number'), ev);
	}

	sc = await callData(client, 'get_packet_drop_summary', { duration: 300 });
	if (sc)
		check('drops: total_drops is a count', Number.isInteger(sc.total_drops), sc);
	sc = await callData(client, 'list_packet_drops', { duration: 300, max_events: 5 });
	if (sc)
		check('list-drops: max_events bounds the list', (sc.drops ?? []).length <= 5, sc);

	// find_anomalies: the six kinds, each checked against the baseline it says it used.
	sc = await callData(client, 'find_anomalies', { duration: 60, baseline: 600 });
	if (sc) {
		const kinds = ['new_destination', 'failure_spike', 'drop_spike', 'new_listening_port',
			'retransmit_spike', 'dns_failure_burst'];
		check('find_anomalies: every kind checked, each with its baseline (history or live)',
			kinds.every((k) => (sc.kinds ?? []).some((x) => x.kind === k && x.available &&
				['history', 'live'].includes(x.baseline))), sc.kinds);
		check('find_anomalies: the baseline says its source and window',
			['history', 'live'].includes(sc.baseline?.source) &&
			Number.isInteger(sc.baseline?.seconds), sc.baseline);
	}

	sc = await callData(client, 'ai_insights', { summary_text: summaryText });
	if (sc)
		check('insights: answered by the offline analyst', sc.offline === true && !!sc.insights, sc);
	sc = await callData(client, 'contextual_analysis',
		{ query: `what is ${f} doing?`, process_name: f });
	if (sc)
		check('contextual: answered offline after calling tools',
			sc.offline === true && !!sc.answer && sc.tools_called.length > 0, sc);

	// A list larger than the 256 KiB cap: shortened, still valid, and the cut is stated.
	const big = bigCount;
	const res = await client.callTool({ name: 'list_connections',
		arguments: { process_name: bigName, duration: 300, max_events: big } });
	const bigText = res.content?.[0]?.text ?? '';
	const bigEvents = res.structuredContent?.events ?? [];
	check(`list of ${big} events: shortened to fit 256 KiB (${bigEvents.length} kept)`,
		!res.isError && bigEvents.length > 100 && bigEvents.length < big &&
		bigText.length <= 256 * 1024, { isError: res.isError, n: bigEvents.length });
	check('list of many events: still valid against the outputSchema',
		validators.get('list_connections')?.(res.structuredContent) === true,
		validators.get('list_connections')?.errors);
	check('list of many events: the truncation is stated',
		/truncated/i.test(res.content?.[1]?.text ?? '') &&
		(res.content?.[1]?.text ?? '').includes(`of ${big}`), res.content?.[1]);

	await expectToolError(client, 'get_network_summary', { pid: 'abc' }, 'pid');
	await expectToolError(client, 'get_network_summary', { duration: -5 }, 'duration');
	await expectToolError(client, 'list_connections', { no_such_argument: 1 }, 'no_such_argument');

	let code = null;
	try {
		await client.callTool({ name: 'no_such_tool', arguments: {} });
	} catch (e) {
		code = e.code;
	}
	check('an unknown tool is a JSON-RPC error -32602', code === -32602, code);

	check('nothing but protocol messages on stdout', protocolErrors.length === 0, protocolErrors);
	await client.close();
	check('the server logs to stderr only', !stderr.includes('"jsonrpc"'), stderr.slice(0, 300));
}

main().then(() => process.exit(failures ? 1 : 0), (e) => {
	console.log(`not ok - the MCP session failed: ${e?.stack ?? e}`);
	process.exit(1);
});
