/* The offline analyst: without a model, contextual_analysis runs a fixed plan over the same data
 * tools (summary, connections, drops, patterns) and writes a deterministic report of findings,
 * and ai_insights comments on the numbers it finds in the text. Every name in a report comes
 * from the data; nothing is invented. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ai/offline.h"
#include "core/text.h"
#include "tools/tool.h"

static const char offline_label[] =
    "Offline analysis: no model was configured, so netspy's built-in analyst produced this "
    "deterministic report from the data tools.";

static const struct {
	const char *name, *why;
} drop_reasons[] = {
	{ "NO_SOCKET", "no socket was listening for the packet, e.g. a connection attempt to a "
		       "closed port (the sender gets a reset or an ICMP port unreachable)" },
	{ "NOT_SPECIFIED", "the kernel freed the packet without recording a specific reason" },
	{ "TCP_CSUM", "a TCP segment arrived with a bad checksum (corruption on the path or broken "
		      "checksum offload)" },
	{ "UDP_CSUM", "a UDP datagram arrived with a bad checksum" },
	{ "NETFILTER_DROP",
	  "a firewall rule (netfilter: nftables or iptables) dropped the packet" },
	{ "OTHERHOST", "the packet was addressed to another host's MAC address (normal on shared "
		       "segments or in promiscuous mode)" },
	{ "PKT_TOO_SMALL", "the packet was shorter than its headers say (truncated or malformed)" },
	{ "SOCKET_RCVBUFF", "the receiving socket's buffer was full: the application does not read "
			    "fast enough" },
	{ "QUEUE_PURGE", "a queue was flushed with packets still in it, e.g. when a socket or "
			 "device was closed" },
	{ "SOCKET_FILTER", "a filter attached to the socket rejected the packet" },
	{ "SOCKET_CLOSE", "the socket was closed while the packet was still queued for it" },
	{ "TCP_CLOSE", "the packet arrived for a TCP connection that was already closed" },
	{ "TCP_RESET", "the packet was dropped because the connection was reset" },
	{ "TCP_INVALID_SEQUENCE", "a TCP segment fell outside the receive window" },
	{ "TCP_OLD_DATA", "a TCP segment carried data that had already been received "
			  "(a retransmission)" },
	{ "TCP_FLAGS", "a TCP segment had an invalid combination of flags" },
	{ "TCP_ZEROWINDOW", "the receiver advertised a zero window: it cannot take more data" },
	{ "TCP_OFOMERGE", "an out-of-order segment overlapped data already queued" },
	{ "IP_NOPROTO", "no handler for the packet's IP protocol" },
	{ "IP_CSUM", "an IP header arrived with a bad checksum" },
	{ "IP_INHDR", "the IP header was invalid" },
	{ "IP_RPFILTER", "reverse-path filtering rejected the packet's source address" },
	{ "IP_OUTNOROUTES", "no route to the destination" },
	{ "IP_INADDRERRORS", "the packet's destination address is invalid here" },
	{ "NEIGH_FAILED", "the neighbour (ARP/NDP) lookup for the next hop failed" },
	{ "NEIGH_QUEUEFULL", "too many packets waited for a neighbour (ARP/NDP) resolution" },
	{ "FULL_RING", "a ring buffer (device or tun/tap queue) was full" },
	{ "NOMEM", "the kernel could not allocate memory for the packet" },
	{ "DEV_READY", "the network device was not up or not ready" },
	{ "UNICAST_IN_L2_MULTICAST", "a unicast IP packet came in a link-layer multicast frame" },
	{ "XFRM_POLICY", "an IPsec (xfrm) policy rejected the packet" },
};

const char *ai_offline_drop_reason(const char *name)
{
	size_t i;

	if (name && strncmp(name, "SKB_DROP_REASON_", 16) == 0)
		name += 16;
	for (i = 0; name && i < sizeof(drop_reasons) / sizeof(drop_reasons[0]); i++)
		if (strcmp(name, drop_reasons[i].name) == 0)
			return drop_reasons[i].why;
	return NULL;
}

static const char *drop_explanation(const char *name)
{
	const char *why = ai_offline_drop_reason(name);

	return why ? why
		   : "the kernel dropped packets for this reason (see enum skb_drop_reason "
		     "in the kernel sources for its meaning)";
}

/* A count per key, kept sorted by count for the report. */
struct tally {
	struct tally_entry {
		char *key;
		long count;
	} * v;
	size_t n;
};

#define TALLY_MAX 4096

static void tally_add(struct tally *t, const char *key, long count)
{
	struct tally_entry *p;
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].key, key) == 0) {
			if (__builtin_add_overflow(t->v[i].count, count, &t->v[i].count))
				t->v[i].count = count > 0 ? LONG_MAX : LONG_MIN; /* saturate */
			return;
		}
	}
	if (t->n >= TALLY_MAX || !(p = realloc(t->v, (t->n + 1) * sizeof(*p))))
		return;
	t->v = p;
	t->v[t->n].key = strdup(key);
	t->v[t->n].count = count;
	if (t->v[t->n].key)
		t->n++;
}

static int tally_cmp(const void *a, const void *b)
{
	const struct tally_entry *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->key, y->key);
}

static void tally_sort(struct tally *t)
{
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), tally_cmp);
}

static void tally_free(struct tally *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].key);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* [{key_name: key, "count": n}] of the first max entries. */
static json_object *tally_json(const struct tally *t, const char *key_name, size_t max)
{
	json_object *arr = json_object_new_array(), *o;
	size_t i;

	for (i = 0; i < t->n && i < max; i++) {
		o = json_object_new_object();
		json_object_object_add(o, key_name, json_object_new_string(t->v[i].key));
		json_object_object_add(o, "count", json_object_new_int64(t->v[i].count));
		json_object_array_add(arr, o);
	}
	return arr;
}

static json_object *field(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (json_object_is_type(o, json_type_object))
		json_object_object_get_ex(o, key, &v);
	return v;
}

static const char *field_string(json_object *o, const char *key)
{
	json_object *v = field(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* A count from the data as JSON, clamped: a double out of int64 range cannot be converted. */
static json_object *json_count(double v)
{
	if (!(v > -9e18))
		v = v != v ? 0 : -9e18; /* NaN counts as nothing */
	if (v > 9e18)
		v = 9e18;
	return json_object_new_int64((int64_t)v);
}

static bool field_number(json_object *o, const char *key, double *ret)
{
	json_object *v = field(o, key);

	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return false;
	*ret = json_object_get_double(v);
	return true;
}

enum {
	STEP_SUMMARY,
	STEP_CONNECTIONS,
	STEP_DROPS,
	STEP_DROP_LIST,
	STEP_PATTERNS,
	STEP_DNS,
	STEP_DNS_LIST,
	STEP_ANOMALIES,
	STEP_QUALITY,
	STEP_DROPS_ALL, /* last: the plan stops before it when it is not wanted */
	N_STEPS
};

/* The fixed plan: the same tools a model would call, looked up by name in ctx->tools. */
static const char *const plan[N_STEPS] = {
	"get_network_summary",
	"list_connections",
	"get_packet_drop_summary",
	/* The drops themselves, to join them to the failed connects by destination. */
	"list_packet_drops",
	"analyze_patterns",
	/* Names that fail to resolve and slow resolvers. */
	"get_dns_summary",
	/* The lookups themselves: which process asked which name of which resolver, and how
	 * long the answer took. */
	"list_dns_queries",
	/* What changed in the last quarter of the window against what came before (skipped when
	 * the tool list has no find_anomalies). */
	"find_anomalies",
	/* Retransmits and resets: a slow or aborted connection's story. */
	"get_tcp_quality",
	/* Only when a focused drop summary is empty: the kernel frees most dropped packets in
	 * softirq context, where the owning process is often unknown. */
	"get_packet_drop_summary",
};

struct offline {
	json_object *results[N_STEPS];
	char *errors[N_STEPS];
	json_object *tools_called;
	json_object *findings;
};

/* The focus, passed only as the arguments each tool's schema has. */
static json_object *plan_args(const struct tool *t, json_object *focus)
{
	json_object *schema = json_tokener_parse(t->input_schema ? t->input_schema : "{}");
	json_object *props = field(schema, "properties"), *args = json_object_new_object(), *v;
	double max;

	if ((v = field(focus, "pid")) && field(props, "pid"))
		json_object_object_add(args, "pid", json_object_get(v));
	if ((v = field(focus, "process_name"))) {
		if (field(props, "process_name"))
			json_object_object_add(args, "process_name", json_object_get(v));
		else if (field(props, "process"))
			json_object_object_add(args, "process", json_object_get(v));
	}
	if ((v = field(focus, "unit")) && field(props, "unit"))
		json_object_object_add(args, "unit", json_object_get(v));
	if ((v = field(focus, "duration")) && field(props, "duration"))
		json_object_object_add(args, "duration", json_object_get(v));
	/* As many events as the tool allows: the report counts them. */
	if (field_number(field(props, "max_events"), "maximum", &max))
		json_object_object_add(args, "max_events", json_count(max));
	json_object_put(schema);
	return args;
}

/* Whether the machine-wide drop summary is worth running. */
static bool want_drops_all(json_object *focus, struct offline *o)
{
	double total = 0;

	if (!field(focus, "pid") && !field(focus, "process_name") && !field(focus, "unit"))
		return false;
	return !o->results[STEP_DROPS] ||
	       (field_number(o->results[STEP_DROPS], "total_drops", &total) && total == 0);
}

static int run_plan(struct tool_context *ctx, json_object *focus, struct offline *o,
		    char **ret_error)
{
	json_object *args, *rec, *unfocused;
	const struct tool *t;
	int i, r;

	for (i = 0; i < N_STEPS; i++) {
		if (i == STEP_DROPS_ALL && !want_drops_all(focus, o))
			break;
		t = tool_lookup(ctx->tools, plan[i], false);
		if (!t && (i == STEP_ANOMALIES || i == STEP_DNS_LIST))
			continue;
		if (!t) {
			o->errors[i] = text_printf("%s is not available", plan[i]);
			continue;
		}
		if (i == STEP_DROPS_ALL) {
			unfocused = json_object_new_object();
			if (field(focus, "duration"))
				json_object_object_add(unfocused, "duration",
						       json_object_get(field(focus, "duration")));
			args = plan_args(t, unfocused);
			json_object_put(unfocused);
		} else {
			args = plan_args(t, focus);
		}
		if (i == STEP_ANOMALIES) {
			double d = 60;

			field_number(focus, "duration", &d);
			d /= 4;
			json_object_object_add(args, "duration",
					       json_object_new_int(d < 10 ? 10 : d > 900 ? 900 : (int)d));
		}
		if (tool_context_cancelled(ctx)) {
			json_object_put(args);
			*ret_error = strdup("the request was cancelled");
			return -ECANCELED;
		}
		if (ctx->on_progress) {
			char *m = text_printf("offline analyst: running %s", t->name);

			tool_context_progress(ctx, m ? m : t->name);
			free(m);
		}
		rec = json_object_new_object();
		json_object_object_add(rec, "name", json_object_new_string(t->name));
		json_object_object_add(rec, "arguments", json_object_get(args));
		json_object_array_add(o->tools_called, rec);
		r = tool_invoke(t, ctx, args, &o->results[i], &o->errors[i]);
		json_object_put(args);
		if (r >= 0)
			continue;
		o->results[i] = NULL;
		/* Without the daemon there is nothing to analyse: say so as the tools do. */
		if (r == -ENOTCONN || r == -EACCES) {
			*ret_error = o->errors[i];
			o->errors[i] = NULL;
			return r;
		}
		if (!o->errors[i])
			o->errors[i] = text_printf("%s failed: %s", plan[i], strerror(-r));
	}
	return 0;
}

/* "140.82.112.3:443", or "github.com (140.82.112.3):443" when a lookup named it. */
static void destination(char *buf, size_t len, json_object *ev)
{
	const char *ip = field_string(ev, "destination_ip"), *name = field_string(ev, "destination_name");
	double port = 0;

	field_number(ev, "destination_port", &port);
	if (name)
		snprintf(buf, len, "%s (%s):%.0f", name, ip ? ip : "?", port);
	else
		snprintf(buf, len, strchr(ip ? ip : "", ':') ? "[%s]:%.0f" : "%s:%.0f",
			 ip ? ip : "?", port);
}

/* ---- diagnosis: failed connects joined to the drops of their traffic ------------------------- */

enum cause { CAUSE_FIREWALL, CAUSE_NO_ANSWER, CAUSE_ROUTING, CAUSE_UNREACHABLE, CAUSE_REFUSED,
	     CAUSE_DENIED, CAUSE_IN_CONNECT, N_CAUSES };

/* Each cause as a sentence around the destination, and its key in the findings. */
static const struct {
	const char *before, *after, *key;
} causes[N_CAUSES] = {
	[CAUSE_FIREWALL] = { "a firewall drops the traffic to ", "", "firewall" },
	[CAUSE_NO_ANSWER] = { "no answer from ", " (the connects timed out)", "no_answer" },
	[CAUSE_ROUTING] = { "routing problem: no route to ", "", "routing" },
	[CAUSE_UNREACHABLE] = { "", " is unreachable (the network says so)", "unreachable" },
	[CAUSE_REFUSED] = { "nothing accepts connections at ", " (refused)", "refused" },
	[CAUSE_DENIED] = { "a local policy refuses the connects to ", "", "denied" },
	[CAUSE_IN_CONNECT] = { "the connects to ", " fail inside connect()", "in_connect" },
};

/* One failing (process, destination) pair: how its connects ended and what the drops add. */
struct diagnosis {
	char process[80], dest[96], err[32], pids[64];
	long timeouts, routing, unreachable, refused, denied, other, abandoned, firewall_drops;
};

#define DIAG_MAX 32

static struct diagnosis *diag_get(struct diagnosis *d, size_t *n, const char *who,
				  const char *dest)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (!strcmp(d[i].process, who) && !strcmp(d[i].dest, dest))
			return &d[i];
	if (*n >= DIAG_MAX)
		return NULL;
	memset(&d[*n], 0, sizeof(d[*n]));
	snprintf(d[*n].process, sizeof(d[*n].process), "%s", who);
	snprintf(d[*n].dest, sizeof(d[*n].dest), "%s", dest);
	return &d[(*n)++];
}

/* Adds pid to a list such as "12, 40" (once; "..." when full). */
static void pids_add(char *list, size_t len, long pid)
{
	char one[24], *p;
	size_t n = strlen(list);

	snprintf(one, sizeof(one), "%ld", pid);
	for (p = list; (p = strstr(p, one)); p += strlen(one))
		if ((p == list || p[-1] == ' ') && (p[strlen(one)] == ',' || !p[strlen(one)]))
			return;
	if (n && strstr(list, "..."))
		return;
	if (n + strlen(one) + 6 >= len)
		snprintf(list + n, len - n, ", ...");
	else
		snprintf(list + n, len - n, "%s%s", n ? ", " : "", one);
}

/* "curl (pid 12)" or "curl (pids 12, 40)". */
static void who_text(char *buf, size_t len, const char *process, const char *pids)
{
	snprintf(buf, len, "%s (pid%s %s)", process, strchr(pids, ',') ? "s" : "", pids);
}

static void diag_add_connect(struct diagnosis *d, json_object *ev)
{
	const char *outcome = field_string(ev, "outcome"), *err = field_string(ev, "errno");
	json_object *in_connect = field(ev, "in_connect"), *abandoned = field(ev, "abandoned");

	if (!outcome)
		return;
	if (err && !d->err[0])
		snprintf(d->err, sizeof(d->err), "%s", err);
	if (abandoned && json_object_get_boolean(abandoned))
		d->abandoned++;
	if (!strcmp(outcome, "timeout"))
		d->timeouts++;
	else if (!strcmp(outcome, "unreachable") && in_connect &&
		 json_object_get_boolean(in_connect))
		d->routing++;
	else if (!strcmp(outcome, "unreachable"))
		d->unreachable++;
	else if (!strcmp(outcome, "refused"))
		d->refused++;
	else if (err && !strcmp(err, "EPERM") && in_connect && json_object_get_boolean(in_connect))
		d->denied++; /* counted in other too: one failure, whatever its cause */
	if (strcmp(outcome, "timeout") && strcmp(outcome, "unreachable") &&
	    strcmp(outcome, "refused"))
		d->other++;
}

static enum cause diag_cause(const struct diagnosis *d)
{
	if (d->timeouts && d->firewall_drops)
		return CAUSE_FIREWALL;
	if (d->routing >= d->timeouts && d->routing >= d->refused && d->routing)
		return CAUSE_ROUTING;
	if (d->timeouts >= d->refused && d->timeouts)
		return CAUSE_NO_ANSWER;
	if (d->refused)
		return CAUSE_REFUSED;
	if (d->unreachable)
		return CAUSE_UNREACHABLE;
	if (d->denied)
		return CAUSE_DENIED;
	return CAUSE_IN_CONNECT;
}

/* Collects the failed connects by process and destination, then counts the firewall's drops of
 * each destination's traffic (a drop names its sender when the kernel or its flow tuple says). */
static size_t diagnose(struct offline *o, struct diagnosis *d)
{
	json_object *evs = field(o->results[STEP_CONNECTIONS], "events"), *ev, *failed;
	json_object *drops = field(o->results[STEP_DROP_LIST], "drops");
	size_t i, k, n = 0, ne = json_object_is_type(evs, json_type_array) ?
				     json_object_array_length(evs) : 0;
	size_t nd = json_object_is_type(drops, json_type_array) ? json_object_array_length(drops) : 0;
	char dest[96], who[80];
	const char *proc, *reason;
	double pid;

	for (i = 0; i < ne; i++) {
		struct diagnosis *x;

		ev = json_object_array_get_idx(evs, i);
		failed = field(ev, "failed");
		if (!failed || !json_object_get_boolean(failed))
			continue;
		proc = field_string(ev, "process");
		pid = 0;
		field_number(ev, "pid", &pid);
		snprintf(who, sizeof(who), "%s", proc ? proc : "?");
		destination(dest, sizeof(dest), ev);
		x = diag_get(d, &n, who, dest);
		if (x) {
			diag_add_connect(x, ev);
			pids_add(x->pids, sizeof(x->pids), (long)pid);
		}
	}
	for (i = 0; i < nd; i++) {
		ev = json_object_array_get_idx(drops, i);
		reason = field_string(ev, "reason");
		if (!reason || strcmp(reason, "NETFILTER_DROP"))
			continue;
		destination(dest, sizeof(dest), ev);
		for (k = 0; k < n; k++)
			if (!strcmp(d[k].dest, dest))
				d[k].firewall_drops++;
	}
	return n;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct diagnosis *x = a, *y = b;
	long nx = x->timeouts + x->routing + x->unreachable + x->refused + x->other;
	long ny = y->timeouts + y->routing + y->unreachable + y->refused + y->other;

	return (ny > nx) - (ny < nx);
}

/* ---- diagnosis: names that do not resolve, slow resolvers, lost packets -------------------- */

/* A resolver whose answers take this long (ms) slows every connection that needs a name. */
#define SLOW_DNS_MS 100.0
/* Retransmitted segments of one process and destination worth a diagnosis line. */
#define LOSS_MIN_RETRANSMITS 10

/* One (process, name) whose lookups fail, one (process, resolver) that answers slowly, or one
 * (process, destination) whose segments are retransmitted. */
struct dnsdiag {
	char process[80], subject[260], server[96], why[24], pids[64], names[160];
	long count, connections;
	double ms[64], retrans, bytes;
	size_t n_ms;
};

static struct dnsdiag *dnsdiag_get(struct dnsdiag *d, size_t *n, const char *process,
				   const char *subject)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(d[i].process, process) && !strcmp(d[i].subject, subject))
			return &d[i];
	if (*n >= DIAG_MAX)
		return NULL;
	memset(&d[*n], 0, sizeof(d[*n]));
	snprintf(d[*n].process, sizeof(d[*n].process), "%s", process);
	snprintf(d[*n].subject, sizeof(d[*n].subject), "%s", subject);
	return &d[(*n)++];
}

static int dnsdiag_cmp(const void *a, const void *b)
{
	const struct dnsdiag *x = a, *y = b;

	return (y->count > x->count) - (y->count < x->count);
}

static int double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The failed lookups by (process, name) and the slow ones by (process, resolver). */
static void dns_diagnose(struct offline *o, struct dnsdiag *fail, size_t *n_fail,
			 struct dnsdiag *slow, size_t *n_slow)
{
	json_object *qs = field(o->results[STEP_DNS_LIST], "queries");
	size_t n = json_object_is_type(qs, json_type_array) ? json_object_array_length(qs) : 0;

	*n_fail = *n_slow = 0;
	for (size_t i = 0; i < n; i++) {
		json_object *q = json_object_array_get_idx(qs, i);
		const char *proc = field_string(q, "process"), *name = field_string(q, "name");
		const char *rcode = field_string(q, "rcode"), *status = field_string(q, "status");
		const char *ip = field_string(q, "server_ip");
		double pid = 0, port = 0, ms = -1;
		char server[96];
		struct dnsdiag *d = NULL;

		if (!proc || !name || !status)
			continue;
		field_number(q, "pid", &pid);
		field_number(q, "server_port", &port);
		field_number(q, "latency_ms", &ms);
		snprintf(server, sizeof(server), strchr(ip ? ip : "", ':') ? "[%s]:%.0f" : "%s:%.0f",
			 ip ? ip : "?", port);
		if (!strcmp(status, "unanswered") || (rcode && strcmp(rcode, "NOERROR"))) {
			d = dnsdiag_get(fail, n_fail, proc, name);
			if (d && !d->why[0]) /* newest first: the latest failure */
				snprintf(d->why, sizeof(d->why), "%s",
					 rcode ? rcode : "unanswered");
		} else if (!strcmp(status, "answered") && ms >= SLOW_DNS_MS) {
			d = dnsdiag_get(slow, n_slow, proc, server);
			if (d && d->n_ms < sizeof(d->ms) / sizeof(d->ms[0]))
				d->ms[d->n_ms++] = ms;
			if (d && !strstr(d->names, name) &&
			    strlen(d->names) + strlen(name) + 8 < sizeof(d->names))
				snprintf(d->names + strlen(d->names),
					 sizeof(d->names) - strlen(d->names), "%s%s",
					 d->names[0] ? ", " : "", name);
		}
		if (!d)
			continue;
		d->count++;
		if (!d->server[0])
			snprintf(d->server, sizeof(d->server), "%s", server);
		if (pid > 0)
			pids_add(d->pids, sizeof(d->pids), (long)pid);
	}
	if (*n_fail)
		qsort(fail, *n_fail, sizeof(*fail), dnsdiag_cmp);
	if (*n_slow)
		qsort(slow, *n_slow, sizeof(*slow), dnsdiag_cmp);
}

/* The connections that retransmitted by (process, remote end). */
static size_t loss_diagnose(struct offline *o, struct dnsdiag *d)
{
	json_object *evs = field(o->results[STEP_CONNECTIONS], "events");
	size_t n = 0, ne = json_object_is_type(evs, json_type_array) ? json_object_array_length(evs) : 0;

	for (size_t i = 0; i < ne; i++) {
		json_object *ev = json_object_array_get_idx(evs, i);
		const char *proc = field_string(ev, "process"), *dir = field_string(ev, "direction");
		double rtx = 0, pid = 0, bytes = 0;
		char dest[96];
		struct dnsdiag *x;

		if (!proc || !field_number(ev, "retransmits", &rtx) || rtx <= 0)
			continue;
		if (dir && !strcmp(dir, "inbound")) { /* the remote end is the peer */
			const char *ip = field_string(ev, "source_ip");
			double port = 0;

			field_number(ev, "destination_port", &port);
			snprintf(dest, sizeof(dest), "%s (connected to port %.0f)", ip ? ip : "?",
				 port);
		} else {
			destination(dest, sizeof(dest), ev);
		}
		field_number(ev, "pid", &pid);
		field_number(ev, "bytes_sent", &bytes);
		x = dnsdiag_get(d, &n, proc, dest);
		if (!x)
			continue;
		x->retrans += rtx;
		x->bytes += bytes;
		x->connections++;
		x->count = (long)x->retrans;
		if (pid > 0)
			pids_add(x->pids, sizeof(x->pids), (long)pid);
	}
	if (n)
		qsort(d, n, sizeof(*d), dnsdiag_cmp);
	while (n && d[n - 1].retrans < LOSS_MIN_RETRANSMITS)
		n--;
	return n;
}

static bool more_diagnoses(struct offline *o)
{
	struct dnsdiag *a = calloc(3 * DIAG_MAX, sizeof(*a));
	size_t nf = 0, ns = 0, nl = 0;

	if (!a)
		return false;
	dns_diagnose(o, a, &nf, a + DIAG_MAX, &ns);
	nl = loss_diagnose(o, a + 2 * DIAG_MAX);
	free(a);
	return nf || ns || nl;
}

static const char *rcode_explanation(const char *why)
{
	if (!strcmp(why, "NXDOMAIN"))
		return "the name does not exist: a typo, or a record that was removed";
	if (!strcmp(why, "SERVFAIL"))
		return "the resolver could not get an answer: an upstream or DNSSEC problem";
	if (!strcmp(why, "REFUSED"))
		return "the resolver refuses to answer this client";
	if (!strcmp(why, "unanswered"))
		return "no response within 5 s: the resolver is down or unreachable";
	return "an error answer";
}

static void diag_json(json_object *arr, const struct dnsdiag *d, const char *cause,
		      const char *dest, long failed)
{
	json_object *e = json_object_new_object();

	json_object_object_add(e, "process", json_object_new_string(d->process));
	json_object_object_add(e, "pids", json_object_new_string(d->pids));
	json_object_object_add(e, "destination", json_object_new_string(dest));
	json_object_object_add(e, "cause", json_object_new_string(cause));
	json_object_object_add(e, "failed", json_object_new_int64(failed));
	json_object_object_add(e, "firewall_drops", json_object_new_int64(0));
	json_object_array_add(arr, e);
}

/* "- curl (pid 12): the name x.example does not resolve: NXDOMAIN from the resolver ..." and
 * "- curl (pid 12): slow DNS: the resolver 10.0.0.53:53 took 850 ms ...". */
static void report_dns_diagnosis(FILE *f, struct offline *o, json_object *arr)
{
	struct dnsdiag *fail = calloc(2 * DIAG_MAX, sizeof(*fail)), *slow = fail + DIAG_MAX;
	size_t nf = 0, ns = 0;
	char who[160];

	if (!fail)
		return;
	dns_diagnose(o, fail, &nf, slow, &ns);
	for (size_t i = 0; i < nf && i < 10; i++) {
		struct dnsdiag *d = &fail[i];

		who_text(who, sizeof(who), d->process, d->pids[0] ? d->pids : "?");
		fprintf(f, "- %s: the name %s does not resolve: %s from the resolver %s (%s). %ld "
			   "lookup%s failed, so the connection that needs it cannot start.\n",
			who, d->subject, d->why, d->server, rcode_explanation(d->why), d->count,
			d->count == 1 ? "" : "s");
		diag_json(arr, d, "dns_failure", d->server, d->count);
	}
	for (size_t i = 0; i < ns && i < 10; i++) {
		struct dnsdiag *d = &slow[i];

		qsort(d->ms, d->n_ms, sizeof(d->ms[0]), double_cmp);
		who_text(who, sizeof(who), d->process, d->pids[0] ? d->pids : "?");
		fprintf(f, "- %s: slow DNS: the resolver %s took %.0f ms (median; up to %.0f ms) to "
			   "answer %ld lookup%s (%s): every connection that needs a name waits that "
			   "long before it starts.\n",
			who, d->server, d->ms[(d->n_ms - 1) / 2], d->ms[d->n_ms - 1], d->count,
			d->count == 1 ? "" : "s", d->names);
		diag_json(arr, d, "slow_dns", d->server, 0);
	}
	free(fail);
}

/* "- scp (pid 12): packets to 10.0.0.2:22 are lost on the way: 57 TCP segments retransmitted". */
static void report_loss_diagnosis(FILE *f, struct offline *o, json_object *arr)
{
	struct dnsdiag *d = calloc(DIAG_MAX, sizeof(*d));
	double rate = -1;
	size_t n;
	char who[160];

	if (!d)
		return;
	n = loss_diagnose(o, d);
	if (o->results[STEP_QUALITY])
		field_number(o->results[STEP_QUALITY], "retransmit_rate", &rate);
	for (size_t i = 0; i < n && i < 10; i++) {
		who_text(who, sizeof(who), d[i].process, d[i].pids[0] ? d[i].pids : "?");
		fprintf(f, "- %s: packets to %s are lost on the way: %.0f TCP segments "
			   "retransmitted over %ld connection%s",
			who, d[i].subject, d[i].retrans, d[i].connections,
			d[i].connections == 1 ? "" : "s");
		if (rate > 0 && n == 1)
			fprintf(f, " (%.1f%% of the segments sent)", 100 * rate);
		fprintf(f, ": a lossy link, congestion or a firewall dropping some packets; "
			   "each loss stalls the transfer, which makes it slow.\n");
		diag_json(arr, &d[i], "packet_loss", d[i].subject, 0);
	}
	free(d);
}

/* The report's first lines: for each failing process and destination, the cause. */
static void report_diagnosis(FILE *f, struct offline *o)
{
	struct diagnosis d[DIAG_MAX];
	json_object *arr = json_object_new_array(), *e;
	size_t i, n = diagnose(o, d);
	char cause[160], who[160];

	if (n)
		qsort(d, n, sizeof(d[0]), diag_cmp);
	if (n || more_diagnoses(o))
		fprintf(f, "\nDiagnosis:\n");
	for (i = 0; i < n && i < 10; i++) {
		enum cause c = diag_cause(&d[i]);
		long failed = d[i].timeouts + d[i].routing + d[i].unreachable + d[i].refused +
			      d[i].other;

		snprintf(cause, sizeof(cause), "%s%s%s", causes[c].before, d[i].dest,
			 causes[c].after);
		who_text(who, sizeof(who), d[i].process, d[i].pids);
		fprintf(f, "- %s: %s. %ld connection attempt%s failed", who, cause, failed,
			failed == 1 ? "" : "s");
		if (c == CAUSE_FIREWALL)
			fprintf(f, " without an answer (%ld abandoned by the application), and %ld "
				   "packet%s to it were dropped by a firewall rule (NETFILTER_DROP)",
				d[i].abandoned, d[i].firewall_drops, d[i].firewall_drops == 1 ? "" : "s");
		else if (c == CAUSE_ROUTING)
			fprintf(f, " inside connect() with %s: check the routes (ip route get) "
				   "of its network namespace",
				d[i].err[0] ? d[i].err : "ENETUNREACH");
		else if (c == CAUSE_DENIED)
			fprintf(f, " inside connect() with EPERM, no packet sent: a cgroup BPF "
				   "program (a sandbox or container firewall) or a security module "
				   "refused them");
		else if (c == CAUSE_NO_ANSWER && d[i].abandoned)
			fprintf(f, " (%ld abandoned by the application before the kernel's own "
				   "timeout)", d[i].abandoned);
		else if (d[i].err[0])
			fprintf(f, " (%s)", d[i].err);
		fprintf(f, ".\n");
		e = json_object_new_object();
		json_object_object_add(e, "process", json_object_new_string(d[i].process));
		json_object_object_add(e, "pids", json_object_new_string(d[i].pids));
		json_object_object_add(e, "destination", json_object_new_string(d[i].dest));
		json_object_object_add(e, "cause", json_object_new_string(causes[c].key));
		json_object_object_add(e, "failed", json_object_new_int64(failed));
		json_object_object_add(e, "firewall_drops",
				       json_object_new_int64(d[i].firewall_drops));
		json_object_array_add(arr, e);
	}
	report_dns_diagnosis(f, o, arr);
	report_loss_diagnosis(f, o, arr);
	json_object_object_add(o->findings, "diagnosis", arr);
}

/* What find_anomalies found: right after the diagnosis, since it is news. */
static void report_anomalies(FILE *f, struct offline *o)
{
	json_object *a = o->results[STEP_ANOMALIES], *list = field(a, "findings");
	size_t i, n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	double recent = 0, base = 0;

	if (!a)
		return;
	json_object_object_add(o->findings, "anomalies", json_object_get(list));
	if (!n)
		return;
	field_number(field(a, "recent"), "seconds", &recent);
	field_number(field(a, "baseline"), "seconds", &base);
	fprintf(f, "\nUnusual activity (the last %.0f seconds against the %.0f seconds before):\n",
		recent, base);
	for (i = 0; i < n && i < 10; i++)
		fprintf(f, "- %s.\n",
			field_string(json_object_array_get_idx(list, i), "summary") ?: "?");
}

static void report_summary(FILE *f, struct offline *o)
{
	json_object *s = o->results[STEP_SUMMARY], *by = field(s, "by_protocol");
	double total = 0, failed = 0;

	if (!s)
		return;
	field_number(s, "total_connections", &total);
	field_number(s, "failed_connections", &failed);
	json_object_object_add(o->findings, "total_connections", json_count(total));
	json_object_object_add(o->findings, "failed_connections", json_count(failed));
	json_object_object_add(o->findings, "failure_rate",
			       json_object_new_double(total > 0 ? failed / total : 0));
	fprintf(f, "\nConnections: %.0f attempts, %.0f failed (failure rate %.1f%%)", total, failed,
		total > 0 ? 100 * failed / total : 0.0);
	if (json_object_is_type(by, json_type_object) && json_object_object_length(by)) {
		const char *sep = "; by protocol: ";

		json_object_object_foreach (by, proto, count) {
			fprintf(f, "%s%s %s", sep, proto, json_object_get_string(count));
			sep = ", ";
		}
	}
	fprintf(f, ".\n");
	if (total > 0 && failed / total >= 0.1)
		fprintf(f, "  That failure rate is high: the destinations below explain it.\n");
}

/* Thresholds of the quality lines: a retransmit rate worth explaining (1% of the segments, and
 * enough of them not to be one unlucky connection), and a reset count. */
#define HIGH_RETRANSMIT_RATE 0.01
#define MIN_RETRANSMITS 10
#define MANY_RESETS 5

/* The first worst remote end (destination and its count of key), or "". */
static void worst_remote(char *buf, size_t len, json_object *q, const char *key)
{
	json_object *w = field(q, "worst_destinations"), *e;
	double n = 0;

	buf[0] = 0;
	for (size_t i = 0; json_object_is_type(w, json_type_array) && i < json_object_array_length(w);
	     i++) {
		e = json_object_array_get_idx(w, i);
		if (field_number(e, key, &n) && n > 0) {
			snprintf(buf, len, "; most to %s (%.0f)", field_string(e, "destination"), n);
			return;
		}
	}
}

/* One line each for a high retransmit rate and for many resets, as drops get theirs. */
static void report_quality(FILE *f, struct offline *o)
{
	json_object *q = o->results[STEP_QUALITY];
	double rtx = 0, rate = 0, sent = 0, received = 0;
	char worst[192];

	if (!q)
		return;
	field_number(q, "retransmits", &rtx);
	field_number(q, "retransmit_rate", &rate);
	field_number(q, "resets_sent", &sent);
	field_number(q, "resets_received", &received);
	json_object_object_add(o->findings, "retransmits", json_count(rtx));
	json_object_object_add(o->findings, "retransmit_rate", json_object_new_double(rate));
	json_object_object_add(o->findings, "resets_sent", json_count(sent));
	json_object_object_add(o->findings, "resets_received", json_count(received));
	if (rtx >= MIN_RETRANSMITS && rate >= HIGH_RETRANSMIT_RATE) {
		worst_remote(worst, sizeof(worst), q, "retransmits");
		fprintf(f,
			"\nHigh TCP retransmit rate: %.1f%% of the segments sent were retransmitted "
			"(%.0f segments%s): packets are lost on the way (congestion, a lossy link, or "
			"a firewall dropping some of them), which makes these connections slow.\n",
			100 * rate, rtx, worst);
	}
	if (sent + received >= MANY_RESETS) {
		worst_remote(worst, sizeof(worst), q, "resets");
		fprintf(f,
			"\nMany TCP resets: %.0f sent, %.0f received%s: connections are aborted "
			"rather than closed (a peer closing with unread data or SO_LINGER 0, a service "
			"restarting, or a firewall or middlebox resetting them).\n",
			sent, received, worst);
	}
}

/* Lists a tally under a heading; returns nothing printed when empty. */
static void report_tally(FILE *f, struct tally *t, const char *heading, const char *what,
			 size_t max)
{
	size_t i;

	if (!t->n)
		return;
	tally_sort(t);
	fprintf(f, "\n%s:\n", heading);
	for (i = 0; i < t->n && i < max; i++)
		fprintf(f, "  %s: %ld %.*s\n", t->v[i].key, t->v[i].count,
			(int)(strlen(what) - (t->v[i].count == 1 && what[strlen(what) - 1] == 's')),
			what);
	if (t->n > max)
		fprintf(f, "  ... and %zu more\n", t->n - max);
}

static void report_connections(FILE *f, struct offline *o)
{
	json_object *evs = field(o->results[STEP_CONNECTIONS], "events"), *ev;
	struct tally refused = { 0 }, unreach = { 0 }, timeout = { 0 }, talkers = { 0 };
	struct tally pids = { 0 }; /* "process\tpid" seen */
	char dest[96], who[80];
	size_t i, n = json_object_is_type(evs, json_type_array) ? json_object_array_length(evs) : 0;
	const char *outcome, *proc;
	double pid;

	for (i = 0; i < n; i++) {
		ev = json_object_array_get_idx(evs, i);
		outcome = field_string(ev, "outcome");
		destination(dest, sizeof(dest), ev);
		if (outcome && strcmp(outcome, "refused") == 0)
			tally_add(&refused, dest, 1);
		else if (outcome && strcmp(outcome, "unreachable") == 0)
			tally_add(&unreach, dest, 1);
		else if (outcome && strcmp(outcome, "timeout") == 0)
			tally_add(&timeout, dest, 1);
		proc = field_string(ev, "process");
		pid = 0;
		field_number(ev, "pid", &pid);
		snprintf(who, sizeof(who), "%s", proc ? proc : "?");
		tally_add(&talkers, who, 1);
		snprintf(who, sizeof(who), "%s\t%.0f", proc ? proc : "?", pid);
		tally_add(&pids, who, 1);
	}
	/* A process's pids together: "curl (pids 12, 40)". */
	for (i = 0; i < talkers.n; i++) {
		char list[64] = "", name[160];
		size_t k, plen = strlen(talkers.v[i].key);

		for (k = 0; k < pids.n; k++)
			if (!strncmp(pids.v[k].key, talkers.v[i].key, plen) &&
			    pids.v[k].key[plen] == '\t')
				pids_add(list, sizeof(list), atol(pids.v[k].key + plen + 1));
		who_text(name, sizeof(name), talkers.v[i].key, list);
		free(talkers.v[i].key);
		talkers.v[i].key = strdup(name);
		if (!talkers.v[i].key)
			talkers.v[i].key = strdup("?");
	}
	tally_free(&pids);
	if (o->results[STEP_CONNECTIONS])
		fprintf(f, "\nConnection events examined: %zu.\n", n);
	report_tally(f, &refused, "Refused destinations (nothing listening, or a firewall reset)",
		     "refused", 10);
	report_tally(f, &unreach, "Unreachable destinations (no route or host down)", "unreachable",
		     10);
	report_tally(f, &timeout, "Destinations that timed out", "timed out", 10);
	report_tally(f, &talkers, "Top talkers", "connection attempts", 5);
	json_object_object_add(o->findings, "refused", tally_json(&refused, "destination", 100));
	json_object_object_add(o->findings, "unreachable",
			       tally_json(&unreach, "destination", 100));
	json_object_object_add(o->findings, "timeout", tally_json(&timeout, "destination", 100));
	json_object_object_add(o->findings, "top_talkers", tally_json(&talkers, "process", 10));
	tally_free(&refused);
	tally_free(&unreach);
	tally_free(&timeout);
	tally_free(&talkers);
}

/* One drop summary: the total and each reason with its explanation. */
static void report_drops(FILE *f, struct offline *o, json_object *d, const char *heading,
			 const char *key)
{
	json_object *by = field(d, "by_reason"), *arr, *e;
	struct tally reasons = { 0 };
	double total = 0;
	char total_key[64];
	size_t i;

	if (!d)
		return;
	field_number(d, "total_drops", &total);
	fprintf(f, "\n%s: %.0f%s\n", heading, total, total > 0 ? ", by reason:" : ".");
	if (json_object_is_type(by, json_type_object)) {
		json_object_object_foreach (by, reason, count)
			tally_add(&reasons, reason, json_object_get_int64(count));
	}
	tally_sort(&reasons);
	arr = json_object_new_array();
	for (i = 0; i < reasons.n; i++) {
		const char *why = drop_explanation(reasons.v[i].key);

		if (i < 20)
			fprintf(f, "  %s: %ld — %s.\n", reasons.v[i].key, reasons.v[i].count, why);
		e = json_object_new_object();
		json_object_object_add(e, "reason", json_object_new_string(reasons.v[i].key));
		json_object_object_add(e, "count", json_object_new_int64(reasons.v[i].count));
		json_object_object_add(e, "explanation", json_object_new_string(why));
		json_object_array_add(arr, e);
	}
	snprintf(total_key, sizeof(total_key), "total_%s", key);
	json_object_object_add(o->findings, total_key, json_count(total));
	json_object_object_add(o->findings, key, arr);
	tally_free(&reasons);
}

static void report_patterns(FILE *f, struct offline *o)
{
	json_object *top = field(o->results[STEP_PATTERNS], "top_destinations"), *e;
	size_t i, n = json_object_is_type(top, json_type_array) ? json_object_array_length(top) : 0;
	const char *dest;
	double count;

	if (!n)
		return;
	fprintf(f, "\nTop destinations:\n");
	for (i = 0; i < n && i < 5; i++) {
		const char *name;

		e = json_object_array_get_idx(top, i);
		dest = field_string(e, "destination");
		name = field_string(e, "destination_name");
		count = 0;
		field_number(e, "count", &count);
		if (name && dest && strrchr(dest, ':'))
			fprintf(f, "  %s (%.*s):%s: %.0f connection%s\n", name,
				(int)(strrchr(dest, ':') - dest), dest, strrchr(dest, ':') + 1, count,
				count == 1 ? "" : "s");
		else
			fprintf(f, "  %s: %.0f connection%s\n", dest ? dest : "?", count,
				count == 1 ? "" : "s");
	}
}

/* A resolver whose p90 answer time is above this is reported as slow. */
#define SLOW_RESOLVER_MS 100.0

/* Names that fail to resolve (NXDOMAIN, SERVFAIL, no answer) and slow or silent resolvers. */
static void report_dns(FILE *f, struct offline *o)
{
	json_object *d = o->results[STEP_DNS], *failing = field(d, "failing_names"),
		    *servers = field(d, "servers"), *lat = field(d, "latency_ms"), *arr, *e;
	double total = 0, failed = 0, unanswered = 0, p50 = 0, p90 = 0;
	size_t i, n;

	if (!d)
		return;
	field_number(d, "total_queries", &total);
	field_number(d, "failed_queries", &failed);
	field_number(d, "unanswered_queries", &unanswered);
	json_object_object_add(o->findings, "dns_queries", json_count(total));
	json_object_object_add(o->findings, "dns_failed", json_count(failed));
	json_object_object_add(o->findings, "dns_unanswered", json_count(unanswered));
	if (total <= 0)
		return;
	fprintf(f, "\nDNS: %.0f queries, %.0f failed (error rcode), %.0f unanswered", total, failed,
		unanswered);
	if (field_number(lat, "p50", &p50) && field_number(lat, "p90", &p90))
		fprintf(f, "; answered in %.3f ms (p50), %.3f ms (p90)", p50, p90);
	fprintf(f, ".\n");
	n = json_object_is_type(failing, json_type_array) ? json_object_array_length(failing) : 0;
	arr = json_object_new_array();
	if (n)
		fprintf(f, "  Names that fail to resolve (the connections that need them cannot "
			   "start):\n");
	for (i = 0; i < n; i++) {
		const char *name = field_string(json_object_array_get_idx(failing, i), "name"),
			   *why = field_string(json_object_array_get_idx(failing, i), "last_failure");
		double count = 0;

		field_number(json_object_array_get_idx(failing, i), "count", &count);
		fprintf(f, "  - %s: %.0f failure%s, latest %s%s\n", name ? name : "?", count,
			count == 1 ? "" : "s", why ? why : "?",
			!why		    ? ""
			: !strcmp(why, "NXDOMAIN") ? " (the name does not exist: a typo, or a "
						      "record that was removed)"
			: !strcmp(why, "SERVFAIL") ? " (the resolver could not get an answer: an "
						      "upstream or DNSSEC problem)"
			: !strcmp(why, "unanswered") ? " (no response within 5 s: the resolver is "
							"down or unreachable)"
						     : "");
		e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(name ? name : "?"));
		json_object_object_add(e, "failures", json_count(count));
		json_object_object_add(e, "last_failure", json_object_new_string(why ? why : "?"));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o->findings, "dns_failing_names", arr);
	n = json_object_is_type(servers, json_type_array) ? json_object_array_length(servers) : 0;
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		const char *srv;
		double count = 0, silent = 0, slow = 0;

		e = json_object_array_get_idx(servers, i);
		srv = field_string(e, "server");
		field_number(e, "count", &count);
		field_number(e, "unanswered", &silent);
		field_number(e, "latency_p90_ms", &slow);
		if (slow < SLOW_RESOLVER_MS && silent <= 0)
			continue;
		fprintf(f, "  Resolver %s: %.0f queries, %.0f unanswered, p90 %.3f ms%s.\n",
			srv ? srv : "?", count, silent, slow,
			slow >= SLOW_RESOLVER_MS ? ": slow, every lookup through it waits" : "");
		json_object_array_add(arr, json_object_get(e));
	}
	json_object_object_add(o->findings, "dns_slow_resolvers", arr);
}

/* "2 hours", "10 minutes", "45 seconds". */
static void span_text(char *buf, size_t len, double s)
{
	if (s >= 7200 && (long)s % 3600 == 0)
		snprintf(buf, len, "%.0f hours", s / 3600);
	else if (s >= 120)
		snprintf(buf, len, "%.0f minutes", s / 60);
	else
		snprintf(buf, len, "%.0f seconds", s);
}

/* Seconds of data held before now, from the summary's data_start; -1 when not known, 0 when
 * no event is held. */
static double data_span(struct offline *o)
{
	json_object *start = field(o->results[STEP_SUMMARY], "data_start");
	struct tm tm = { 0 };
	const char *t;

	if (!o->results[STEP_SUMMARY] || !start)
		return -1;
	/* An answer from the recorder's history reaches further back than the live events. */
	if (field_string(o->results[STEP_SUMMARY], "source") &&
	    strcmp(field_string(o->results[STEP_SUMMARY], "source"), "live"))
		return -1;
	if (json_object_is_type(start, json_type_null))
		return 0;
	t = json_object_get_string(start);
	if (!t || !strptime(t, "%Y-%m-%dT%H:%M:%S", &tm))
		return -1;
	return difftime(time(NULL), timegm(&tm));
}

static void report_scope(FILE *f, json_object *focus, struct offline *o)
{
	const char *proc = field_string(focus, "process_name"), *unit = field_string(focus, "unit");
	const char *host = field_string(focus, "host");
	double pid = 0, duration = 60, port = 0, held;
	char asked[32], have[32];

	field_number(focus, "pid", &pid);
	field_number(focus, "duration", &duration);
	field_number(focus, "port", &port);
	fprintf(f, "\nQuestion: %s\nScope: ", field_string(focus, "query"));
	if (proc)
		fprintf(f, "process %s (all its pids), ", proc);
	if (pid > 0)
		fprintf(f, "pid %.0f, ", pid);
	if (unit)
		fprintf(f, "unit %s, ", unit);
	if (!proc && pid <= 0 && !unit)
		fprintf(f, "all processes, ");
	if (host)
		fprintf(f, "host %s, ", host);
	if (port > 0)
		fprintf(f, "port %.0f, ", port);
	fprintf(f, "last %.0f seconds%s.\n", duration,
		field(focus, "duration_from_question") ? " (as the question asks)" : "");
	held = data_span(o);
	span_text(asked, sizeof(asked), duration);
	if (held == 0) {
		fprintf(f, "Note: netspy holds no events yet, so nothing can be said about the "
			   "last %s.\n", asked);
	} else if (held > 0 && duration > held + 5) {
		span_text(have, sizeof(have), held);
		fprintf(f, "Note: the question covers the last %s, but netspy holds events only "
			   "from the last %s (older ones are no longer kept): this report covers "
			   "those %s.\n", asked, have, have);
		json_object_object_add(o->findings, "data_seconds", json_count(held));
	}
	if (field_string(o->results[STEP_SUMMARY], "coverage_end"))
		fprintf(f, "Note: a flood's newest folded counts (since %s) are still on their way "
			   "from the kernel: the counts below will still grow (within two fold "
			   "intervals, two seconds by default).\n",
			field_string(o->results[STEP_SUMMARY], "coverage_end"));
}

static char *write_report(json_object *focus, struct offline *o)
{
	char *text = NULL, *clean;
	size_t len = 0, i;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f, "%s\n", offline_label);
	report_diagnosis(f, o);
	report_anomalies(f, o);
	report_scope(f, focus, o);
	report_summary(f, o);
	report_connections(f, o);
	report_drops(f, o, o->results[STEP_DROPS],
		     o->results[STEP_DROPS_ALL] ? "Packet drops attributed to this focus"
						: "Packet drops",
		     "drops");
	report_drops(f, o, o->results[STEP_DROPS_ALL],
		     "Packet drops machine-wide (the kernel drops most packets outside any "
		     "process's context, so they are often not attributable)",
		     "drops_machine_wide");
	report_patterns(f, o);
	report_dns(f, o);
	report_quality(f, o);
	for (i = 0; i < N_STEPS; i++)
		if (o->errors[i])
			fprintf(f, "\nNote: %s.\n", o->errors[i]);
	fclose(f);
	/* Process names and addresses came from the data: keep the report terminal-safe. */
	clean = text ? text_clean(text, len) : NULL;
	free(text);
	return clean;
}

/* Whether the data has connects (or else DNS lookups) of a process named word. */
static bool process_seen(struct tool_context *ctx, const struct tool *summary, json_object *focus,
			 const char *word)
{
	const struct tool *dns = tool_lookup(ctx->tools, plan[STEP_DNS], false);
	json_object *probe = json_object_new_object(), *args, *res = NULL;
	char *err = NULL;
	double total = 0;

	json_object_object_add(probe, "process_name", json_object_new_string(word));
	if (field(focus, "duration"))
		json_object_object_add(probe, "duration", json_object_get(field(focus, "duration")));
	args = plan_args(summary, probe);
	if (tool_invoke(summary, ctx, args, &res, &err) >= 0)
		field_number(res, "total_connections", &total);
	json_object_put(res);
	json_object_put(args);
	free(err);
	err = NULL;
	res = NULL;
	/* A process whose names do not resolve may never connect. */
	if (total <= 0 && dns) {
		args = plan_args(dns, probe);
		if (tool_invoke(dns, ctx, args, &res, &err) >= 0)
			field_number(res, "total_queries", &total);
		json_object_put(res);
		json_object_put(args);
		free(err);
	}
	json_object_put(probe);
	return total > 0;
}

#define QUERY_MAX_PROBES 16

/* "why can't nsdbapp reach its database?": a question that names a process without --process is
 * about that process. The first word of the question (a possible process name, up to 15 bytes)
 * that the data knows as a process becomes the focus: a new focus object, or NULL. */
static json_object *focus_from_query(struct tool_context *ctx, json_object *args)
{
	const struct tool *summary = tool_lookup(ctx->tools, plan[STEP_SUMMARY], false);
	const char *q = field_string(args, "query"), *p;
	json_object *focus;
	char word[16];
	int probes = 0;

	if (!summary || !q || field(args, "pid") || field(args, "process_name"))
		return NULL;
	for (p = q; *p && probes < QUERY_MAX_PROBES;) {
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789_.-");

		if (n >= 2 && n < sizeof(word) && p[n] != '\'') { /* not "can't" */
			memcpy(word, p, n);
			word[n] = '\0';
			probes++;
			if (process_seen(ctx, summary, args, word)) {
				focus = json_object_new_object();
				json_object_object_foreach (args, k, v)
					json_object_object_add(focus, k, json_object_get(v));
				json_object_object_add(focus, "process_name",
						       json_object_new_string(word));
				return focus;
			}
		}
		p += n ? n : 1;
	}
	return NULL;
}

/* Seconds named by "last hour", "past 10 minutes", "last 2h" in the question; 0 when none. */
static long query_duration(const char *q)
{
	static const struct {
		const char *word;
		long seconds;
	} units[] = { { "second", 1 }, { "sec", 1 }, { "s", 1 },      { "minute", 60 },
		      { "min", 60 },   { "m", 60 },  { "hour", 3600 }, { "hr", 3600 },
		      { "h", 3600 },   { "day", 86400 }, { "d", 86400 } };
	static const char *const lead[] = { "last ", "past ", "previous " };

	for (const char *p = q; *p; p++) {
		const char *w = NULL, *u;
		long n = 1, secs = 0;
		char *end;

		for (size_t i = 0; i < sizeof(lead) / sizeof(lead[0]) && !w; i++)
			if (!strncasecmp(p, lead[i], strlen(lead[i])) &&
			    (p == q || !isalpha((unsigned char)p[-1])))
				w = p + strlen(lead[i]);
		if (!w)
			continue;
		if (isdigit((unsigned char)*w)) {
			n = strtol(w, &end, 10);
			w = end;
			while (*w == ' ')
				w++;
		}
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && !secs; i++) {
			size_t l = strlen(units[i].word);

			u = w + l;
			if (!strncasecmp(w, units[i].word, l) &&
			    (!isalpha((unsigned char)*u) ||
			     ((*u == 's' || *u == 'S') && !isalpha((unsigned char)u[1]))))
				secs = units[i].seconds;
		}
		if (secs && n > 0 && n <= 100000)
			return n * secs > 86400 ? 86400 : n * secs;
	}
	return 0;
}

/* A word of the question without the punctuation around it. */
static void trim_word(char *w)
{
	size_t n = strlen(w);

	while (n && strchr("?!,;\"'()", w[n - 1]))
		w[--n] = '\0';
	if (*w && strchr("\"'(", *w))
		memmove(w, w + 1, n);
}

/* Adds what the question names besides a process: a unit (a word such as nginx.service), a host
 * (an address, with an optional :port), a port ("port 5432") and a window ("last hour"). Returns
 * a new focus object (args plus those), or NULL when out of memory. */
static json_object *scope_from_query(json_object *args)
{
	const char *q = field_string(args, "query");
	json_object *focus = json_object_new_object();
	char word[128], prev[128] = "";
	const char *p;
	long secs;

	json_object_object_foreach (args, k, v)
		json_object_object_add(focus, k, json_object_get(v));
	if (!q)
		return focus;
	if (!field(args, "duration") && (secs = query_duration(q)) > 0) {
		json_object_object_add(focus, "duration", json_object_new_int64(secs));
		json_object_object_add(focus, "duration_from_question", json_object_new_boolean(1));
	}
	for (p = q; *p;) {
		size_t n = strcspn(p, " \t\n");
		unsigned char addr[16];
		char *colon, *end;
		long port;

		if (!n) {
			p++;
			continue;
		}
		snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1),
			 p);
		p += n;
		trim_word(word);
		n = strlen(word);
		if (n > 1 && word[n - 1] == '.') /* the end of a sentence */
			word[--n] = '\0';
		if (!field(focus, "unit") && !field(args, "unit") && n > 8 && n < 128 &&
		    (strstr(word, ".service") == word + n - 8 || strstr(word, ".scope") == word + n - 6))
			json_object_object_add(focus, "unit", json_object_new_string(word));
		if (!strcasecmp(prev, "port") && (port = strtol(word, &end, 10)) > 0 &&
		    port < 65536 && !*end && !field(focus, "port"))
			json_object_object_add(focus, "port", json_object_new_int64(port));
		/* 10.0.0.5, 10.0.0.5:5432, ::1, [::1]:53 */
		if (word[0] == '[' && (end = strchr(word, ']'))) {
			*end = '\0';
			colon = end[1] == ':' ? end + 1 : NULL;
			memmove(word, word + 1, strlen(word));
		} else {
			colon = strchr(word, ':');
			if (colon && strchr(colon + 1, ':'))
				colon = NULL; /* an IPv6 address without a port */
		}
		if (colon) {
			*colon = '\0';
			port = strtol(colon + 1, &end, 10);
			if (!*end && port > 0 && port < 65536 && !field(focus, "port") &&
			    (inet_pton(AF_INET, word, addr) == 1 || inet_pton(AF_INET6, word, addr) == 1))
				json_object_object_add(focus, "port", json_object_new_int64(port));
		}
		if (!field(focus, "host") &&
		    (inet_pton(AF_INET, word, addr) == 1 || inet_pton(AF_INET6, word, addr) == 1))
			json_object_object_add(focus, "host", json_object_new_string(word));
		snprintf(prev, sizeof(prev), "%s", word);
	}
	return focus;
}

/* Whether an event or drop is about the host and port of the focus (either end for drops). */
static bool matches_endpoint(json_object *ev, const char *host, long port, bool both_ends)
{
	const char *ends[2][2] = { { "destination_ip", "destination_port" },
				   { "source_ip", "source_port" } };

	for (int i = 0; i < (both_ends ? 2 : 1); i++) {
		const char *ip = field_string(ev, ends[i][0]), *name = field_string(ev,
										    "destination_name");
		double pt = 0;

		field_number(ev, ends[i][1], &pt);
		if (host && !(ip && !strcmp(ip, host)) && !(i == 0 && name && !strcmp(name, host)))
			continue;
		if (port > 0 && (long)pt != port)
			continue;
		return true;
	}
	return false;
}

/* Removes the entries of arr (under key of result) that fn rejects; returns how many are left. */
static size_t keep_matching(json_object *result, const char *key, const char *host, long port,
			    bool both_ends)
{
	json_object *arr = field(result, key);
	size_t n = json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;

	for (size_t i = n; i-- > 0;)
		if (!matches_endpoint(json_object_array_get_idx(arr, i), host, port, both_ends))
			json_object_array_del_idx(arr, i, 1);
	return n ? json_object_array_length(arr) : 0;
}

/* The question named a host or port and the tools have no such filter: the lists are narrowed
 * to it, and the totals counted again from them. */
static void narrow_to_endpoint(struct offline *o, json_object *focus)
{
	const char *host = field_string(focus, "host");
	double portd = 0;
	long port;
	json_object *evs, *by, *sum = o->results[STEP_SUMMARY], *drops = o->results[STEP_DROPS];
	size_t n, i;
	long failed = 0;

	field_number(focus, "port", &portd);
	port = (long)portd;
	if (!host && port <= 0)
		return;
	if (o->results[STEP_CONNECTIONS]) {
		n = keep_matching(o->results[STEP_CONNECTIONS], "events", host, port, false);
		evs = field(o->results[STEP_CONNECTIONS], "events");
		by = json_object_new_object();
		for (i = 0; i < n; i++) {
			json_object *ev = json_object_array_get_idx(evs, i), *f = field(ev, "failed");
			const char *proto = field_string(ev, "protocol");
			json_object *c;

			failed += f && json_object_get_boolean(f);
			if (!proto)
				continue;
			c = field(by, proto);
			json_object_object_add(by, proto,
					       json_object_new_int64(c ? json_object_get_int64(c) + 1
								       : 1));
		}
		if (sum) {
			json_object_object_add(sum, "total_connections", json_object_new_int64((long)n));
			json_object_object_add(sum, "failed_connections", json_object_new_int64(failed));
			json_object_object_add(sum, "by_protocol", by);
		} else {
			json_object_put(by);
		}
	}
	if (o->results[STEP_DROP_LIST]) {
		n = keep_matching(o->results[STEP_DROP_LIST], "drops", host, port, true);
		evs = field(o->results[STEP_DROP_LIST], "drops");
		if (drops) {
			by = json_object_new_object();
			for (i = 0; i < n; i++) {
				const char *r = field_string(json_object_array_get_idx(evs, i),
							     "reason");
				json_object *c = r ? field(by, r) : NULL;

				if (r)
					json_object_object_add(
					    by, r,
					    json_object_new_int64(c ? json_object_get_int64(c) + 1 : 1));
			}
			json_object_object_add(drops, "total_drops", json_object_new_int64((long)n));
			json_object_object_add(drops, "by_reason", by);
		}
	}
	/* The top destinations are the ones of the focus only. */
	evs = field(o->results[STEP_PATTERNS], "top_destinations");
	n = json_object_is_type(evs, json_type_array) ? json_object_array_length(evs) : 0;
	for (i = n; i-- > 0;) {
		const char *d = field_string(json_object_array_get_idx(evs, i), "destination");
		char want[16];
		bool keep = d != NULL;

		snprintf(want, sizeof(want), ":%ld", port);
		if (keep && host && !strstr(d, host))
			keep = false;
		if (keep && port > 0 &&
		    (strlen(d) < strlen(want) || strcmp(d + strlen(d) - strlen(want), want)))
			keep = false;
		if (!keep)
			json_object_array_del_idx(evs, i, 1);
	}
}

int ai_offline_contextual(struct tool_context *ctx, json_object *args, json_object **ret,
			  char **ret_error)
{
	struct offline o = { .tools_called = json_object_new_array(),
			     .findings = json_object_new_object() };
	json_object *result = NULL, *named = focus_from_query(ctx, args);
	char *report = NULL;
	int i, r;

	json_object *scoped = scope_from_query(named ? named : args);

	args = scoped;
	r = run_plan(ctx, args, &o, ret_error);
	if (r)
		goto out;
	narrow_to_endpoint(&o, args);
	report = write_report(args, &o);
	if (!report) {
		r = -ENOMEM;
		goto out;
	}
	result = json_object_new_object();
	json_object_object_add(result, "answer", json_object_new_string(report));
	json_object_object_add(result, "offline", json_object_new_boolean(true));
	json_object_object_add(result, "model", NULL);
	json_object_object_add(result, "tools_called", json_object_get(o.tools_called));
	json_object_object_add(result, "iterations", json_object_new_int(0));
	json_object_object_add(result, "stopped_early", json_object_new_boolean(false));
	json_object_object_add(result, "findings", json_object_get(o.findings));
	*ret = result;
out:
	for (i = 0; i < N_STEPS; i++) {
		json_object_put(o.results[i]);
		free(o.errors[i]);
	}
	json_object_put(o.tools_called);
	json_object_put(o.findings);
	json_object_put(named);
	json_object_put(scoped);
	free(report);
	return r;
}

/* ---- offline insights: comment on the numbers found in a summary text ---------------------- */

#define INSIGHT_MAX_NUMBERS 64

struct numbers {
	struct tally t; /* label -> value (integers; rates are kept in tenths of a percent) */
	struct tally reasons;
};

static bool label_has(const char *label, const char *a, const char *b)
{
	return strcasestr(label, a) && (!b || strcasestr(label, b));
}

/* Numbers of a JSON document: leaf paths such as total_connections or by_reason.NO_SOCKET. */
static void numbers_from_json(struct numbers *n, json_object *o, const char *path, int depth)
{
	char sub[160];

	if (depth > 4 || !json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach (o, key, val) {
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
		if (json_object_is_type(val, json_type_int) && n->t.n < INSIGHT_MAX_NUMBERS) {
			tally_add(&n->t, sub, json_object_get_int64(val));
			if (strcmp(path, "by_reason") == 0)
				tally_add(&n->reasons, key, json_object_get_int64(val));
		}
		numbers_from_json(n, val, sub, depth + 1);
	}
}

/* "label: 12" or "label = 12" lines, and table drop-reason names followed by a count. */
static void numbers_from_text(struct numbers *n, const char *text)
{
	char line[512], *sep, *p, *end;
	const char *nl;
	long v;

	while (*text && n->t.n < INSIGHT_MAX_NUMBERS) {
		nl = strchr(text, '\n');
		snprintf(line, sizeof(line), "%.*s", (int)(nl ? nl - text : (long)strlen(text)),
			 text);
		text = nl ? nl + 1 : text + strlen(text);
		sep = strpbrk(line, ":=");
		if (!sep)
			continue;
		*sep = '\0';
		for (p = sep + 1; *p == ' ' || *p == '\t'; p++)
			;
		v = strtol(p, &end, 10);
		if (end == p)
			continue;
		for (p = line; *p == ' ' || *p == '\t' || *p == '-' || *p == '*'; p++)
			;
		while (strlen(p) && strchr(" \t\"", p[strlen(p) - 1]))
			p[strlen(p) - 1] = '\0';
		if (*p == '"')
			p++;
		if (!*p)
			continue;
		tally_add(&n->t, p, v);
		if (ai_offline_drop_reason(p))
			tally_add(&n->reasons, p, v);
	}
}

static long find_number(const struct numbers *n, const char *a, const char *b, const char * not )
{
	size_t i;

	for (i = 0; i < n->t.n; i++)
		if (label_has(n->t.v[i].key, a, b) && !(not &&strcasestr(n->t.v[i].key, not )))
			return n->t.v[i].count;
	return -1;
}

static void insights_comment(FILE *f, struct numbers *n)
{
	long total = find_number(n, "total", "connection", NULL);
	long failed = find_number(n, "fail", NULL, "rate");
	long drops = find_number(n, "drop", NULL, "reason");
	size_t i;

	if (total >= 0 && failed >= 0) {
		double rate = total ? 100.0 * failed / total : 0;

		fprintf(f, "- %ld of %ld connection attempts failed (%.1f%%): %s\n", failed, total,
			rate,
			rate >= 10 ? "high; list the failed connections (netspyctl list) to see "
				     "which destinations refuse or do not answer"
			: rate > 0 ? "some failures; check whether they come from one destination"
				   : "no failures");
	} else if (total >= 0) {
		fprintf(f, "- %ld connection attempts.\n", total);
	}
	if (drops >= 0)
		fprintf(f, "- %ld packet drops%s\n", drops,
			drops ? "; the reasons say where they happen:" : ".");
	tally_sort(&n->reasons);
	for (i = 0; i < n->reasons.n; i++)
		fprintf(f, "  %s (%ld): %s.\n", n->reasons.v[i].key, n->reasons.v[i].count,
			drop_explanation(n->reasons.v[i].key));
	if (total < 0 && failed < 0 && drops < 0)
		fprintf(f, "- No connection or drop counts were recognised in the text; give the "
			   "output of netspyctl summary or drops (or their --json form).\n");
}

int ai_offline_insights(const char *text, json_object **ret, char **ret_error)
{
	struct numbers n = { 0 };
	json_object *doc = json_tokener_parse(text), *result, *nums;
	char *out = NULL, *clean;
	size_t len = 0, i;
	FILE *f;

	if (json_object_is_type(doc, json_type_object))
		numbers_from_json(&n, doc, "", 0);
	else
		numbers_from_text(&n, text);
	json_object_put(doc);
	f = open_memstream(&out, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "Offline insights: no model was configured, so netspy's built-in analyst "
		   "commented on the numbers it found in the text.\n");
	insights_comment(f, &n);
	fclose(f);
	clean = out ? text_clean(out, len) : NULL;
	free(out);
	nums = json_object_new_object();
	for (i = 0; i < n.t.n; i++)
		json_object_object_add(nums, n.t.v[i].key, json_object_new_int64(n.t.v[i].count));
	tally_free(&n.t);
	tally_free(&n.reasons);
	if (!clean) {
		json_object_put(nums);
		return -ENOMEM;
	}
	result = json_object_new_object();
	json_object_object_add(result, "insights", json_object_new_string(clean));
	json_object_object_add(result, "offline", json_object_new_boolean(true));
	json_object_object_add(result, "model", NULL);
	json_object_object_add(result, "numbers", nums);
	free(clean);
	*ret = result;
	return 0;
}
