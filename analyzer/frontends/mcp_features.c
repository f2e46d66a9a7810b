/* The MCP server's resources (netspy://status, netspy://events/recent, the netspy://process/{name}
 * and netspy://unit/{unit} templates), their subscriptions and change notifications, its prompts
 * and argument completion. The JSON-RPC side is in mcp.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "core/analyzer.h"
#include "core/client.h"
#include "core/text.h"
#include "frontends/live.h"
#include "frontends/mcp_internal.h"
#include "tools/data.h"
#include "tools/tool.h"

#define MIME_JSON "application/json"
#define URI_STATUS "netspy://status"
#define URI_RECENT "netspy://events/recent"
#define URI_PROCESS "netspy://process/"
#define URI_UNIT "netspy://unit/"

/* ---- resources ---------------------------------------------------------------------------- */

static const struct resource_desc {
	const char *uri, *name, *title, *description;
} static_resources[] = {
	{ URI_STATUS, "status", "netspy status",
	  "The netspyd daemon (version, uptime, events seen and lost, clients) and this session's "
	  "view of it (connected, events held). Changes whenever events arrive." },
	{ URI_RECENT, "recent-events", "Recent network events",
	  "The newest connection attempts and packet drops of the last 300 seconds (at most 50 of "
	  "each), newest first. Subscribe to be told when new events arrive." },
};

static const struct resource_desc templates[] = {
	{ URI_PROCESS "{name}", "process", "A process's network activity",
	  "One process name (the kernel's comm, e.g. curl): its connection summary, newest "
	  "connection attempts and packet drops over the last 300 seconds." },
	{ URI_UNIT "{unit}", "unit", "A systemd unit's network activity",
	  "One systemd unit (nginx.service) or container id: its connection summary, newest "
	  "connection attempts and packet drops over the last 300 seconds." },
};

static json_object *describe(const struct resource_desc *d, const char *uri_key)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, uri_key, json_object_new_string(d->uri));
	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "title", json_object_new_string(d->title));
	json_object_object_add(o, "description", json_object_new_string(d->description));
	json_object_object_add(o, "mimeType", json_object_new_string(MIME_JSON));
	return o;
}

json_object *mcp_resources_list(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	json_object *r = json_object_new_object(), *list = json_object_new_array();

	for (size_t i = 0; i < sizeof(static_resources) / sizeof(static_resources[0]); i++)
		json_object_array_add(list, describe(&static_resources[i], "uri"));
	json_object_object_add(r, "resources", list);
	return r;
}

json_object *mcp_resource_templates_list(struct mcp_server *s, json_object *params,
					 struct rpc_error *e)
{
	json_object *r = json_object_new_object(), *list = json_object_new_array();

	for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++)
		json_object_array_add(list, describe(&templates[i], "uriTemplate"));
	json_object_object_add(r, "resourceTemplates", list);
	return r;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The {name} part of a template URI, percent-decoded into buf; false when empty, too long, or
 * not a plain printable name. */
static bool uri_value(const char *p, char *buf, size_t len)
{
	size_t n = 0;

	for (; *p; p++) {
		char c = *p;

		if (c == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			c = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 2;
		}
		if ((unsigned char)c < 0x20 || c == 0x7f || c == '/' || n + 1 >= len)
			return false;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return n > 0;
}

/* What a resource URI names: 0 status, 1 recent events, 2 a process, 3 a unit; -1 none. The
 * process or unit goes to value. */
static int uri_kind(const char *uri, char *value, size_t len)
{
	if (!strcmp(uri, URI_STATUS))
		return 0;
	if (!strcmp(uri, URI_RECENT))
		return 1;
	if (!strncmp(uri, URI_PROCESS, strlen(URI_PROCESS)))
		return uri_value(uri + strlen(URI_PROCESS), value, len) ? 2 : -1;
	if (!strncmp(uri, URI_UNIT, strlen(URI_UNIT)))
		return uri_value(uri + strlen(URI_UNIT), value, len) ? 3 : -1;
	return -1;
}

/* Runs a tool of the registry; its result, or {"error": why}. */
static json_object *run_tool(struct mcp_server *s, const char *name, json_object *args)
{
	const struct tool *t = tool_lookup(tool_context_tools(s->ctx), name, false);
	json_object *res = NULL, *o;
	char *err = NULL;
	int r;

	if (!t) {
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string("not available"));
		json_object_put(args);
		return o;
	}
	r = tool_invoke(t, s->ctx, args, &res, &err);
	json_object_put(args);
	if (r == 0 && res)
		return res;
	json_object_put(res);
	o = json_object_new_object();
	json_object_object_add(o, "error",
			       json_object_new_string(err ? err : strerror(r < 0 ? -r : EIO)));
	free(err);
	return o;
}

static json_object *recent_args(const char *key, const char *value, bool list)
{
	json_object *a = json_object_new_object();

	if (key)
		json_object_object_add(a, key, json_object_new_string(value));
	json_object_object_add(a, "duration", json_object_new_int(MCP_RECENT_SECONDS));
	if (list)
		json_object_object_add(a, "max_events", json_object_new_int(MCP_RECENT_EVENTS));
	return a;
}

static json_object *status_content(struct mcp_server *s)
{
	struct analyzer *an = s->ctx->an;
	json_object *o = NULL, *sess = json_object_new_object();

	if (an) {
		struct netspy_client c;
		Netspy__V1__ServerMessage *owner = NULL;
		Netspy__V1__Stats *st = NULL;

		if (netspy_client_connect(&c, netspy_socket_path(an->opts.socket),
					  "netspyctl mcp " NETSPY_VERSION, 2000) == 0 &&
		    netspy_client_get_stats(&c, 2000, &st, &owner) == 0)
			o = live_stats_json(st);
		if (!o) {
			o = json_object_new_object();
			json_object_object_add(o, "error", json_object_new_string(
							       c.error[0] ? c.error : "no stats"));
		}
		netspy__v1__server_message__free_unpacked(owner, NULL);
		netspy_client_close(&c);
		json_object_object_add(sess, "connected", json_object_new_boolean(an->connected));
		json_object_object_add(sess, "connections_held",
				       json_object_new_int64((int64_t)an->store.conns.count));
		json_object_object_add(sess, "drops_held",
				       json_object_new_int64((int64_t)an->store.drops.count));
		json_object_object_add(sess, "events_lost",
				       json_object_new_int64((int64_t)analyzer_events_lost(an)));
		json_object_object_add(sess, "reconnects", json_object_new_int64(an->reconnects));
	} else {
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string("no daemon connection"));
		json_object_object_add(sess, "connected", json_object_new_boolean(false));
	}
	json_object_object_add(sess, "subscriptions", json_object_new_int64((int64_t)s->n_subs));
	json_object_object_add(o, "session", sess);
	return o;
}

static json_object *resource_content(struct mcp_server *s, int kind, const char *value)
{
	static const char *const keys[] = { [2] = "process_name", [3] = "unit" };
	json_object *o;

	if (s->before_call)
		s->before_call(s);
	if (kind == 0)
		return status_content(s);
	o = json_object_new_object();
	if (kind >= 2) {
		json_object_object_add(o, keys[kind], json_object_new_string(value));
		json_object_object_add(o, "summary",
				       run_tool(s, "get_network_summary",
						recent_args(keys[kind], value, false)));
	}
	json_object_object_add(o, "connections",
			       run_tool(s, "list_connections",
					recent_args(kind >= 2 ? keys[kind] : NULL, value, true)));
	json_object_object_add(o, "drops",
			       run_tool(s, "list_packet_drops",
					recent_args(kind >= 2 ? keys[kind] : NULL, value, true)));
	return o;
}

json_object *mcp_resources_read(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	const char *uri = mcp_get_string(params, "uri");
	char value[256];
	int kind;
	json_object *content, *item, *list, *r;

	if (!uri)
		return rpc_fail(e, MCP_INVALID_PARAMS, "resources/read needs params.uri (a string)");
	kind = uri_kind(uri, value, sizeof(value));
	if (kind < 0)
		return rpc_fail(e, MCP_RESOURCE_NOT_FOUND,
				"Resource not found: %.200s (see resources/list and "
				"resources/templates/list)",
				uri);
	content = resource_content(s, kind, value);
	item = json_object_new_object();
	json_object_object_add(item, "uri", json_object_new_string(uri));
	json_object_object_add(item, "mimeType", json_object_new_string(MIME_JSON));
	json_object_object_add(item, "text", json_object_new_string(
						 json_object_to_json_string_ext(content, JSON_FLAGS)));
	json_object_put(content);
	list = json_object_new_array();
	json_object_array_add(list, item);
	r = json_object_new_object();
	json_object_object_add(r, "contents", list);
	return r;
}

/* ---- subscriptions ------------------------------------------------------------------------ */

/* The newest record (index + 1, 0: none) of the last MCP_RECENT_SECONDS matching a process or
 * unit. */
static void newest_matching(struct store *st, int kind, const char *value, uint64_t *conn,
			    uint64_t *drop)
{
	struct store_filter f = {
		.since_ns = clock_ns(CLOCK_REALTIME) - MCP_RECENT_SECONDS * 1000000000ull,
		.process = kind == 2 ? value : NULL,
		.unit = kind == 3 ? value : NULL,
	};
	uint64_t abs, total;
	size_t n;

	*conn = *drop = 0;
	if (store_list_conns(st, &f, &abs, 1, &n, &total) == 0 && n == 1)
		*conn = abs + 1;
	if (store_list_drops(st, &f, &abs, 1, &n, &total) == 0 && n == 1)
		*drop = abs + 1;
}

/* Whether sub's resource changed since it was last looked at (and remembers what it saw). */
static bool sub_changed(struct mcp_server *s, struct mcp_subscription *sub)
{
	struct analyzer *an = s->ctx->an;
	char value[256];
	int kind = uri_kind(sub->uri, value, sizeof(value));
	uint64_t conn, drop;
	bool changed;

	if (!an)
		return false;
	if (kind <= 1) {
		changed = an->last_seq != sub->seq_seen;
		sub->seq_seen = an->last_seq;
		return changed;
	}
	newest_matching(&an->store, kind, value, &conn, &drop);
	changed = conn > sub->conn_seen || drop > sub->drop_seen;
	if (conn > sub->conn_seen)
		sub->conn_seen = conn;
	if (drop > sub->drop_seen)
		sub->drop_seen = drop;
	return changed;
}

json_object *mcp_resources_subscribe(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	const char *uri = mcp_get_string(params, "uri");
	struct mcp_subscription *sub;
	char value[256];

	if (!uri)
		return rpc_fail(e, MCP_INVALID_PARAMS,
				"resources/subscribe needs params.uri (a string)");
	if (strlen(uri) >= sizeof(s->subs[0].uri) || uri_kind(uri, value, sizeof(value)) < 0)
		return rpc_fail(e, MCP_RESOURCE_NOT_FOUND, "Resource not found: %.200s", uri);
	for (size_t i = 0; i < s->n_subs; i++)
		if (!strcmp(s->subs[i].uri, uri))
			return json_object_new_object(); /* already subscribed */
	if (s->n_subs == MCP_MAX_SUBSCRIPTIONS)
		return rpc_fail(e, MCP_INVALID_REQUEST,
				"too many subscriptions (at most %d): unsubscribe from one first",
				MCP_MAX_SUBSCRIPTIONS);
	sub = &s->subs[s->n_subs++];
	memset(sub, 0, sizeof(*sub));
	snprintf(sub->uri, sizeof(sub->uri), "%s", uri);
	if (s->before_call)
		s->before_call(s);
	sub_changed(s, sub); /* what is there now is not news */
	mcp_log(s, MCP_LOG_INFO, "subscribed to %s", uri);
	return json_object_new_object();
}

json_object *mcp_resources_unsubscribe(struct mcp_server *s, json_object *params,
				       struct rpc_error *e)
{
	const char *uri = mcp_get_string(params, "uri");

	if (!uri)
		return rpc_fail(e, MCP_INVALID_PARAMS,
				"resources/unsubscribe needs params.uri (a string)");
	for (size_t i = 0; i < s->n_subs; i++)
		if (!strcmp(s->subs[i].uri, uri)) {
			s->subs[i] = s->subs[--s->n_subs];
			break;
		}
	return json_object_new_object();
}

int mcp_check_updates(struct mcp_server *s, uint64_t now_ms)
{
	int due = -1;

	for (size_t i = 0; i < s->n_subs; i++) {
		struct mcp_subscription *sub = &s->subs[i];
		json_object *p;

		if (sub_changed(s, sub))
			sub->pending = true;
		if (!sub->pending)
			continue;
		if (sub->sent_ms && now_ms < sub->sent_ms + s->update_interval_ms) {
			int left = (int)(sub->sent_ms + s->update_interval_ms - now_ms);

			if (due < 0 || left < due)
				due = left;
			continue;
		}
		sub->pending = false;
		sub->sent_ms = now_ms;
		p = json_object_new_object();
		json_object_object_add(p, "uri", json_object_new_string(sub->uri));
		mcp_notify(s, "notifications/resources/updated", p);
	}
	return due;
}

/* ---- prompts ------------------------------------------------------------------------------ */

struct prompt_arg {
	const char *name, *description;
	bool required;
};

static const struct prompt {
	const char *name, *title, *description;
	struct prompt_arg args[4];
	/* The user message; {scope} ("process 'curl'"), {args} (the tools' filter arguments as
	 * JSON members), {duration} (seconds) and {dest} (a destination clause) are filled in. */
	const char *text;
} prompts[] = {
	{ "diagnose_process", "Diagnose a process's networking",
	  "Find out what a process does on the network and what goes wrong for it: failed "
	  "connects, slow handshakes, dropped packets.",
	  { { "process", "The process name (the kernel's comm, e.g. curl)", true },
	    { "duration", "Seconds to look back (default 300)", false } },
	  "Diagnose the networking of {scope} over the last {duration} seconds.\n\n"
	  "1. Call get_network_summary with {{args}\"duration\": {duration}} for totals, failures and "
	  "handshake latency.\n"
	  "2. Call list_connections with the same arguments and \"max_events\": 50 to see "
	  "destinations and outcomes (refused, timeout, unreachable).\n"
	  "3. Call list_packet_drops with the same arguments for packets the kernel dropped and "
	  "why.\n"
	  "4. If anything failed, call analyze_patterns with the same arguments for the top "
	  "destinations and the failure rate.\n\n"
	  "Then say in a few lines: the cause of any failure (which destination, which "
	  "outcome or drop reason), the evidence (counts, times), and what to check next. If "
	  "nothing failed, say so plainly." },
	{ "investigate_drops", "Investigate packet drops",
	  "Explain the packets the kernel dropped: by reason, by process, and what each reason "
	  "means.",
	  { { "process", "Only this process name (optional)", false },
	    { "duration", "Seconds to look back (default 300)", false } },
	  "Investigate the packet drops of {scope} over the last {duration} seconds.\n\n"
	  "1. Call get_packet_drop_summary with {{args}\"duration\": {duration}} for drops by reason.\n"
	  "2. Call list_packet_drops with the same arguments and \"max_events\": 50 for the "
	  "addresses, ports and owning processes.\n"
	  "3. For NO_SOCKET drops, call list_connections with the same arguments: a port "
	  "nobody listens on usually shows as refused connects too. For NETFILTER_DROP, a "
	  "firewall rule dropped the packets.\n\n"
	  "Then explain each drop reason found, which process and address it concerns, and what "
	  "to do about it." },
	{ "review_outbound_destinations", "Review outbound destinations",
	  "Review where this machine (or one process or unit) connects to, and point out "
	  "anything unusual.",
	  { { "process", "Only this process name (optional)", false },
	    { "unit", "Only this systemd unit or container id (optional)", false },
	    { "duration", "Seconds to look back (default 300)", false } },
	  "Review the outbound destinations of {scope} over the last {duration} seconds.\n\n"
	  "1. Call analyze_patterns with {{args}\"duration\": {duration}} for the top destinations, the "
	  "protocol mix and the failure rate.\n"
	  "2. Call list_connections with the same arguments and \"max_events\": 100 to see which "
	  "process talks to which address and port.\n"
	  "3. Call get_network_summary with the same arguments for the processes involved.\n"
	  "4. Call find_anomalies with the same arguments: destinations a process did not use "
	  "before, new listening ports, failure, drop and retransmit spikes, bursts of failed "
	  "DNS lookups, each with its evidence against the baseline.\n\n"
	  "Then list anything unusual: destinations only one process uses, uncommon ports, many "
	  "failures to one address, traffic from processes that should not need the network. "
	  "Name the process, the destination and the counts for each." },
	{ "explain_slow_connections", "Explain slow connections",
	  "Explain why connections are slow: handshake latency, timeouts, retries and drops.",
	  { { "process", "Only this process name (optional)", false },
	    { "destination", "Only this destination address (optional)", false },
	    { "duration", "Seconds to look back (default 300)", false } },
	  "Explain why connections of {scope} are slow over the last {duration} seconds{dest}.\n\n"
	  "1. Call get_network_summary with {{args}\"duration\": {duration}} for the TCP handshake latency "
	  "percentiles (p50, p90, p99) and the failures.\n"
	  "2. Call list_connections with the same arguments and \"max_events\": 100; compare "
	  "latency_ms by destination and look for timeouts.\n"
	  "3. Call list_packet_drops with the same arguments: drops on the path cause "
	  "retransmissions and slow handshakes.\n"
	  "4. Call get_tcp_quality with the same arguments: retransmitted segments and resets "
	  "(a lossy link makes every transfer slow).\n"
	  "5. Call get_dns_summary with the process (if any) and the duration: a slow resolver "
	  "or a name that does not resolve delays every connection that needs it.\n\n"
	  "Then say which destinations are slow, by how much (the numbers), and the likely "
	  "cause (a slow or distant server, timeouts, drops, lost packets, slow DNS)." },
};

static json_object *prompt_json(const struct prompt *p)
{
	json_object *o = json_object_new_object(), *args = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "title", json_object_new_string(p->title));
	json_object_object_add(o, "description", json_object_new_string(p->description));
	for (const struct prompt_arg *a = p->args; a < p->args + 4 && a->name; a++) {
		json_object *ao = json_object_new_object();

		json_object_object_add(ao, "name", json_object_new_string(a->name));
		json_object_object_add(ao, "description", json_object_new_string(a->description));
		json_object_object_add(ao, "required", json_object_new_boolean(a->required));
		json_object_array_add(args, ao);
	}
	json_object_object_add(o, "arguments", args);
	return o;
}

json_object *mcp_prompts_list(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	json_object *r = json_object_new_object(), *list = json_object_new_array();

	for (size_t i = 0; i < sizeof(prompts) / sizeof(prompts[0]); i++)
		json_object_array_add(list, prompt_json(&prompts[i]));
	json_object_object_add(r, "prompts", list);
	return r;
}

static const struct prompt *find_prompt(const char *name)
{
	for (size_t i = 0; name && i < sizeof(prompts) / sizeof(prompts[0]); i++)
		if (!strcmp(prompts[i].name, name))
			return &prompts[i];
	return NULL;
}

/* A prompt argument value: printable, no quotes or backslashes (it goes into JSON examples),
 * at most 255 bytes. */
static bool arg_ok(const char *v)
{
	size_t n = strlen(v);

	if (!n || n > 255)
		return false;
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == '"' || *v == '\\' || *v == 0x7f)
			return false;
	return true;
}

/* tmpl with each vars[i][0] replaced by vars[i][1]; malloc'd, NULL when out of memory. */
static char *expand(const char *tmpl, const char *const vars[][2], size_t n)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	while (*tmpl) {
		size_t i;

		for (i = 0; i < n; i++)
			if (!strncmp(tmpl, vars[i][0], strlen(vars[i][0])))
				break;
		if (i < n) {
			fputs(vars[i][1], f);
			tmpl += strlen(vars[i][0]);
		} else {
			fputc(*tmpl++, f);
		}
	}
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	return out;
}

json_object *mcp_prompts_get(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	const char *name = mcp_get_string(params, "name");
	const struct prompt *p = find_prompt(name);
	const char *val[4] = { 0 }, *process, *unit, *dest, *duration;
	char scope[400], filter[700] = "", dest_clause[300] = "", *text;
	json_object *args = NULL, *r, *msgs, *msg, *content;

	if (!name)
		return rpc_fail(e, MCP_INVALID_PARAMS, "prompts/get needs params.name (a string)");
	if (!p)
		return rpc_fail(e, MCP_INVALID_PARAMS, "Unknown prompt: %.200s (see prompts/list)",
				name);
	json_object_object_get_ex(params, "arguments", &args);
	if (args && !json_object_is_type(args, json_type_object))
		return rpc_fail(e, MCP_INVALID_PARAMS, "prompt arguments must be an object");
	if (args) {
		json_object_object_foreach (args, k, v) {
			size_t i;

			for (i = 0; i < 4 && p->args[i].name && strcmp(p->args[i].name, k); i++)
				;
			if (i == 4 || !p->args[i].name)
				return rpc_fail(e, MCP_INVALID_PARAMS,
						"%s has no argument '%.100s'", p->name, k);
			if (!json_object_is_type(v, json_type_string) ||
			    !arg_ok(json_object_get_string(v)))
				return rpc_fail(e, MCP_INVALID_PARAMS,
						"argument '%s' of %s must be a non-empty string "
						"of at most 255 printable characters without "
						"quotes",
						k, p->name);
			val[i] = json_object_get_string(v);
		}
	}
	for (size_t i = 0; i < 4 && p->args[i].name; i++)
		if (p->args[i].required && !val[i])
			return rpc_fail(e, MCP_INVALID_PARAMS, "%s needs the argument '%s'",
					p->name, p->args[i].name);
	process = unit = dest = NULL;
	duration = "300";
	for (size_t i = 0; i < 4 && p->args[i].name; i++) {
		if (!val[i])
			continue;
		if (!strcmp(p->args[i].name, "process"))
			process = val[i];
		else if (!strcmp(p->args[i].name, "unit"))
			unit = val[i];
		else if (!strcmp(p->args[i].name, "destination"))
			dest = val[i];
		else if (!strcmp(p->args[i].name, "duration"))
			duration = val[i];
	}
	if (strspn(duration, "0123456789") != strlen(duration) || strlen(duration) > 5 ||
	    atoi(duration) < 1 || atoi(duration) > 86400)
		return rpc_fail(e, MCP_INVALID_PARAMS,
				"argument 'duration' of %s must be a number of seconds from 1 to "
				"86400",
				p->name);
	if (process && unit)
		snprintf(scope, sizeof(scope), "process '%s' in unit '%s'", process, unit);
	else if (process)
		snprintf(scope, sizeof(scope), "process '%s'", process);
	else if (unit)
		snprintf(scope, sizeof(scope), "unit '%s'", unit);
	else
		snprintf(scope, sizeof(scope), "all processes on this machine");
	if (process)
		snprintf(filter, sizeof(filter), "\"process_name\": \"%s\", ", process);
	if (unit)
		snprintf(filter + strlen(filter), sizeof(filter) - strlen(filter),
			 "\"unit\": \"%s\", ", unit);
	if (dest)
		snprintf(dest_clause, sizeof(dest_clause),
			 " to %s (keep only the events whose destination_ip is %s)", dest, dest);
	{
		const char *const vars[][2] = { { "{scope}", scope },
						 { "{args}", filter },
						 { "{duration}", duration },
						 { "{dest}", dest_clause } };

		text = expand(p->text, vars, sizeof(vars) / sizeof(vars[0]));
	}
	if (!text)
		return rpc_fail(e, MCP_INTERNAL_ERROR, "out of memory");
	content = json_object_new_object();
	json_object_object_add(content, "type", json_object_new_string("text"));
	json_object_object_add(content, "text", json_object_new_string(text));
	free(text);
	msg = json_object_new_object();
	json_object_object_add(msg, "role", json_object_new_string("user"));
	json_object_object_add(msg, "content", content);
	msgs = json_object_new_array();
	json_object_array_add(msgs, msg);
	r = json_object_new_object();
	json_object_object_add(r, "description", json_object_new_string(p->description));
	json_object_object_add(r, "messages", msgs);
	return r;
}

/* ---- completion --------------------------------------------------------------------------- */

#define MAX_COMPLETIONS 100

struct completions {
	json_object *values;
	size_t total;
};

static void offer(struct completions *c, const char *prefix, const char *v)
{
	size_t n = json_object_array_length(c->values);

	if (strncasecmp(v, prefix, strlen(prefix)))
		return;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(c->values, i)), v))
			return;
	c->total++;
	if (n < MAX_COMPLETIONS)
		json_object_array_add(c->values, json_object_new_string(v));
}

/* Process names, newest first, from the records of the store. */
static void complete_processes(struct store *st, const char *prefix, struct completions *c)
{
	uint8_t seen[65536 / 8] = { 0 };
	uint64_t scanned = 0;

	for (uint64_t abs = st->conns.head; abs > st->conns.head - st->conns.count; abs--) {
		const struct store_conn *r = store_conn_at(st, abs - 1);
		char name[FMT_COMM_LEN];
		size_t len;
		const uint8_t *raw;

		if (++scanned > 200000) /* enough to find every name in practice */
			break;
		if (seen[r->comm / 8] & (1u << (r->comm % 8)))
			continue;
		seen[r->comm / 8] |= (uint8_t)(1u << (r->comm % 8));
		raw = store_comm(st, r->comm, &len);
		fmt_sanitize(name, sizeof(name), raw, len);
		offer(c, prefix, name);
	}
}

static void complete_units(struct store *st, const char *prefix, struct completions *c)
{
	for (size_t i = 0; i < st->cgroups.n; i++) {
		const struct store_cgroup_info *ci = store_cgroup(st, (uint16_t)i);

		if (ci && ci->unit)
			offer(c, prefix, ci->unit);
		if (ci && ci->container)
			offer(c, prefix, ci->container);
	}
}

static void complete_destinations(struct store *st, const char *prefix, struct completions *c)
{
	for (size_t i = 0; i < st->endpoints.n; i++) {
		char ip[64];

		endpoint_ip(store_endpoint(st, (uint32_t)i), ip, sizeof(ip));
		if (ip[0])
			offer(c, prefix, ip);
	}
}

json_object *mcp_complete(struct mcp_server *s, json_object *params, struct rpc_error *e)
{
	static const char *const durations[] = { "60", "300", "900", "3600", "86400" };
	json_object *ref = NULL, *arg = NULL, *r, *comp;
	const char *type, *argname, *prefix;
	struct completions c = { json_object_new_array(), 0 };
	struct store *st = s->ctx->an ? &s->ctx->an->store : NULL;

	json_object_object_get_ex(params, "ref", &ref);
	json_object_object_get_ex(params, "argument", &arg);
	type = mcp_get_string(ref, "type");
	argname = mcp_get_string(arg, "name");
	prefix = mcp_get_string(arg, "value");
	if (!type || !argname || !prefix) {
		json_object_put(c.values);
		return rpc_fail(e, MCP_INVALID_PARAMS,
				"completion/complete needs params.ref.type, params.argument.name "
				"and params.argument.value");
	}
	if (!strcmp(type, "ref/prompt") && !find_prompt(mcp_get_string(ref, "name"))) {
		json_object_put(c.values);
		return rpc_fail(e, MCP_INVALID_PARAMS, "Unknown prompt: %.200s",
				mcp_get_string(ref, "name") ?: "(none)");
	}
	if (strcmp(type, "ref/prompt") && strcmp(type, "ref/resource")) {
		json_object_put(c.values);
		return rpc_fail(e, MCP_INVALID_PARAMS,
				"ref.type must be ref/prompt or ref/resource");
	}
	if (st && s->before_call)
		s->before_call(s);
	/* The argument names of the prompts, the resource templates and the tools. */
	if (st && (!strcmp(argname, "process") || !strcmp(argname, "process_name") ||
		   !strcmp(argname, "name")))
		complete_processes(st, prefix, &c);
	else if (st && !strcmp(argname, "unit"))
		complete_units(st, prefix, &c);
	else if (st && (!strcmp(argname, "destination") || !strcmp(argname, "dest")))
		complete_destinations(st, prefix, &c);
	else if (!strcmp(argname, "duration"))
		for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++)
			offer(&c, prefix, durations[i]);
	comp = json_object_new_object();
	json_object_object_add(comp, "values", c.values);
	json_object_object_add(comp, "total", json_object_new_int64((int64_t)c.total));
	json_object_object_add(comp, "hasMore", json_object_new_boolean(c.total > MAX_COMPLETIONS));
	r = json_object_new_object();
	json_object_object_add(r, "completion", comp);
	return r;
}
