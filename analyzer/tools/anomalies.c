/* find_anomalies: what changed in the recent window against the baseline before it: a process
 * talking to a destination it never used, a process's failure rate jumping, a drop reason
 * spiking; each finding with its evidence numbers. Each kind of finding is one entry of kinds[]
 * (a function over the baseline and the recent window), so that kinds needing data netspy does
 * not collect yet (DNS failure bursts, retransmit spikes, new listening ports) plug in when that
 * data lands; until then they are listed as unavailable, with what they need. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/format.h"
#include "core/text.h"
#include "tools/data.h"
#include "tools/tool.h"

/* Default baseline before the recent window, and its bound. */
#define BASELINE_DEFAULT 3600
#define MAX_FINDINGS 50
/* A spike: at least this many in the window, and this many times the baseline's rate. */
#define SPIKE_MIN_COUNT 5
#define SPIKE_FACTOR 3.0
/* A failure-rate jump: at least this many failures, a rate this high, and this much over the
 * baseline's rate. */
#define FAIL_MIN_COUNT 3
#define FAIL_MIN_RATE 0.2
#define FAIL_MIN_DELTA 0.2

/* One connect, reduced to what the kinds compare. */
struct conn_row {
	uint16_t comm;
	uint32_t dst;
	uint64_t ts;
	bool recent, failed;
};

struct drop_row {
	uint16_t reason;
	bool recent;
};

/* What every kind reads: the rows of the baseline and the recent window (from the live store
 * today; from the recorder's history when it is there: the baseline is the one place that
 * changes), and where the findings go. */
struct anomaly_ctx {
	struct store *s;
	const char *source; /* "live" */
	uint64_t base_start, base_end, now;
	double base_seconds, recent_seconds;
	struct conn_row *conns;
	size_t n_conns;
	struct drop_row *drops;
	size_t n_drops;
	json_object *findings;
};

struct anomaly_kind {
	const char *kind;
	/* NULL when it works today; else the data it needs (listed as unavailable). */
	const char *needs;
	void (*find)(struct anomaly_ctx *c);
};

static json_object *finding(struct anomaly_ctx *c, const char *kind, const char *process,
			    char *summary)
{
	json_object *f;

	if (json_object_array_length(c->findings) >= MAX_FINDINGS) {
		free(summary);
		return NULL;
	}
	f = json_object_new_object();
	json_object_object_add(f, "kind", json_object_new_string(kind));
	json_object_object_add(f, "process", process ? json_object_new_string(process) : NULL);
	json_object_object_add(f, "summary", json_object_new_string(summary ? summary : kind));
	json_object_object_add(f, "evidence", json_object_new_object());
	json_object_array_add(c->findings, f);
	free(summary);
	return f;
}

static void evidence(json_object *f, const char *key, double v, int decimals)
{
	json_object *e;

	if (f && json_object_object_get_ex(f, "evidence", &e))
		json_object_object_add(e, key, json_number(v, decimals));
}

static int by_comm_dst(const void *a, const void *b)
{
	const struct conn_row *x = a, *y = b;

	if (x->comm != y->comm)
		return x->comm < y->comm ? -1 : 1;
	if (x->dst != y->dst)
		return x->dst < y->dst ? -1 : 1;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

/* A process (known in the baseline) connecting to a destination it did not use there. */
static void find_new_destinations(struct anomaly_ctx *c)
{
	size_t i = 0;

	qsort(c->conns, c->n_conns, sizeof(c->conns[0]), by_comm_dst);
	while (i < c->n_conns) {
		size_t p_end = i, p_base = 0, p_dsts = 0;

		while (p_end < c->n_conns && c->conns[p_end].comm == c->conns[i].comm)
			p_end++;
		for (size_t k = i; k < p_end; k++) {
			p_base += !c->conns[k].recent;
			p_dsts += !c->conns[k].recent &&
				  (k == i || c->conns[k - 1].dst != c->conns[k].dst ||
				   c->conns[k - 1].recent);
		}
		for (size_t d = i; p_base && d < p_end;) {
			size_t e = d, recent = 0, base = 0;
			uint64_t first = 0;

			while (e < p_end && c->conns[e].dst == c->conns[d].dst) {
				if (c->conns[e].recent) {
					recent++;
					if (!first)
						first = c->conns[e].ts;
				} else {
					base++;
				}
				e++;
			}
			if (recent && !base) {
				char name[FMT_COMM_LEN], dst[FMT_ADDR_LEN + 8], when[FMT_TIME_LEN];
				json_object *f;

				data_comm(c->s, c->conns[d].comm, name, sizeof(name));
				endpoint_format(store_endpoint(c->s, c->conns[d].dst), dst,
						sizeof(dst));
				fmt_rfc3339(when, sizeof(when), first);
				f = finding(c, "new_destination", name,
					    text_printf("%s connects to %s, which it did not use in "
							"the baseline (%zu connects there to %zu other "
							"destinations): %zu connects since %s",
							name, dst, p_base, p_dsts, recent, when));
				if (f) {
					json_object_object_add(f, "destination",
							       json_object_new_string(dst));
					json_object_object_add(f, "first_seen",
							       json_object_new_string(when));
				}
				evidence(f, "recent_connections", (double)recent, 0);
				evidence(f, "baseline_connections", 0, 0);
				evidence(f, "process_baseline_connections", (double)p_base, 0);
				evidence(f, "process_baseline_destinations", (double)p_dsts, 0);
			}
			d = e;
		}
		i = p_end;
	}
}

/* A process whose connects fail much more often than in the baseline. */
static void find_failure_spikes(struct anomaly_ctx *c)
{
	size_t i = 0;

	/* Sorted by process by find_new_destinations (kinds run in order). */
	while (i < c->n_conns) {
		size_t e = i, rt = 0, rf = 0, bt = 0, bf = 0;
		double rrate, brate;

		while (e < c->n_conns && c->conns[e].comm == c->conns[i].comm) {
			if (c->conns[e].recent) {
				rt++;
				rf += c->conns[e].failed;
			} else {
				bt++;
				bf += c->conns[e].failed;
			}
			e++;
		}
		rrate = rt ? (double)rf / (double)rt : 0;
		brate = bt ? (double)bf / (double)bt : 0;
		if (bt && rf >= FAIL_MIN_COUNT && rrate >= FAIL_MIN_RATE &&
		    rrate >= brate + FAIL_MIN_DELTA) {
			char name[FMT_COMM_LEN];
			json_object *f;

			data_comm(c->s, c->conns[i].comm, name, sizeof(name));
			f = finding(c, "failure_spike", name,
				    text_printf("%s: %zu of %zu connects failed (%.0f%%), against "
						"%zu of %zu (%.0f%%) in the baseline",
						name, rf, rt, 100 * rrate, bf, bt, 100 * brate));
			evidence(f, "recent_failed", (double)rf, 0);
			evidence(f, "recent_connections", (double)rt, 0);
			evidence(f, "recent_failure_rate", rrate, 4);
			evidence(f, "baseline_failed", (double)bf, 0);
			evidence(f, "baseline_connections", (double)bt, 0);
			evidence(f, "baseline_failure_rate", brate, 4);
		}
		i = e;
	}
}

static int by_reason(const void *a, const void *b)
{
	const struct drop_row *x = a, *y = b;

	return (x->reason > y->reason) - (x->reason < y->reason);
}

/* A drop reason counted much more often per minute than in the baseline. */
static void find_drop_spikes(struct anomaly_ctx *c)
{
	size_t i = 0;

	if (c->base_seconds < 1)
		return; /* no baseline to compare with */
	qsort(c->drops, c->n_drops, sizeof(c->drops[0]), by_reason);
	while (i < c->n_drops) {
		size_t e = i, recent = 0, base = 0;
		double rrate, brate;

		while (e < c->n_drops && c->drops[e].reason == c->drops[i].reason) {
			recent += c->drops[e].recent;
			base += !c->drops[e].recent;
			e++;
		}
		rrate = 60.0 * (double)recent / c->recent_seconds;
		brate = 60.0 * (double)base / c->base_seconds;
		if (recent >= SPIKE_MIN_COUNT && rrate >= SPIKE_FACTOR * brate) {
			const char *reason = store_reason(c->s, c->drops[i].reason);
			char safe[STORE_REASON_LEN * 4];
			json_object *f;

			fmt_sanitize(safe, sizeof(safe), (const uint8_t *)(reason ? reason : "?"),
				     strlen(reason ? reason : "?"));
			f = finding(c, "drop_spike", NULL,
				    text_printf("%zu %s drops in the window (%.1f a minute), against "
						"%.1f a minute in the baseline (%zu drops)",
						recent, safe, rrate, brate, base));
			if (f)
				json_object_object_add(f, "reason", json_object_new_string(safe));
			evidence(f, "recent_drops", (double)recent, 0);
			evidence(f, "recent_per_minute", rrate, 2);
			evidence(f, "baseline_drops", (double)base, 0);
			evidence(f, "baseline_per_minute", brate, 2);
		}
		i = e;
	}
}

static const struct anomaly_kind kinds[] = {
	{ "new_destination", NULL, find_new_destinations },
	{ "failure_spike", NULL, find_failure_spikes },
	{ "drop_spike", NULL, find_drop_spikes },
	{ "new_listening_port", "inbound connection and listening-socket events", NULL },
	{ "retransmit_spike", "TCP connection quality data (retransmitted segments)", NULL },
	{ "dns_failure_burst", "DNS query and response events", NULL },
};

/* The rows of [base_start, now) matching f (its since_ns is base_start). */
static int collect(struct anomaly_ctx *c, const struct store_filter *f, uint64_t recent_start)
{
	size_t max = (size_t)c->s->conns.count, n = 0;
	uint64_t *idx, total;
	int r;

	idx = calloc(max ? max : 1, sizeof(*idx));
	c->conns = calloc(max ? max : 1, sizeof(*c->conns));
	if (!idx || !c->conns) {
		free(idx);
		return -ENOMEM;
	}
	r = store_list_conns(c->s, f, idx, max, &n, &total);
	for (size_t i = 0; !r && i < n; i++) {
		const struct store_conn *rec = store_conn_at(c->s, idx[i]);
		bool failed = false;

		store_conn_verdict(c->s, idx[i], &failed);
		c->conns[c->n_conns++] = (struct conn_row){
			.comm = rec->comm,
			.dst = rec->dst,
			.ts = rec->ts_ns,
			.recent = rec->ts_ns >= recent_start,
			.failed = failed,
		};
	}
	free(idx);
	if (r)
		return r;
	max = (size_t)c->s->drops.count;
	idx = calloc(max ? max : 1, sizeof(*idx));
	c->drops = calloc(max ? max : 1, sizeof(*c->drops));
	if (!idx || !c->drops) {
		free(idx);
		return -ENOMEM;
	}
	r = store_list_drops(c->s, f, idx, max, &n, &total);
	for (size_t i = 0; !r && i < n; i++) {
		const struct store_drop *d = store_drop_at(c->s, idx[i]);

		c->drops[c->n_drops++] =
		    (struct drop_row){ .reason = d->reason, .recent = d->ts_ns >= recent_start };
	}
	free(idx);
	return r;
}

static json_object *window_json(uint64_t start, uint64_t end)
{
	json_object *o = json_object_new_object();
	char buf[FMT_TIME_LEN];

	fmt_rfc3339(buf, sizeof(buf), start);
	json_object_object_add(o, "start", json_object_new_string(buf));
	fmt_rfc3339(buf, sizeof(buf), end);
	json_object_object_add(o, "end", json_object_new_string(buf));
	json_object_object_add(o, "seconds", json_object_new_int64((int64_t)((end - start) / 1000000000ull)));
	return o;
}

static int anomalies_run(struct tool_context *ctx, json_object *args, json_object **ret,
			 char **ret_error)
{
	struct anomaly_ctx c = { .source = "live" };
	struct data_query q;
	struct store_filter f;
	json_object *o, *v, *list;
	int64_t baseline = BASELINE_DEFAULT;
	uint64_t oldest = 0;
	int r = data_begin(ctx, args, 0, &q, ret_error);

	if (r < 0)
		return r;
	if (json_object_object_get_ex(args, "baseline", &v))
		baseline = json_object_get_int64(v);
	c.s = q.s;
	c.now = q.a.now_ns;
	c.base_end = q.a.since_ns;
	c.base_start = c.base_end - (uint64_t)baseline * 1000000000ull;
	/* The baseline is what the store still holds of it. */
	if (c.s->conns.count)
		oldest = store_conn_at(c.s, c.s->conns.head - c.s->conns.count)->ts_ns;
	if (c.s->drops.count) {
		uint64_t t = store_drop_at(c.s, c.s->drops.head - c.s->drops.count)->ts_ns;

		if (!oldest || t < oldest)
			oldest = t;
	}
	if (oldest > c.base_start)
		c.base_start = oldest < c.base_end ? oldest : c.base_end;
	c.base_seconds = (double)(c.base_end - c.base_start) / 1e9;
	c.recent_seconds = (double)q.a.duration;
	f = q.f;
	f.since_ns = c.base_start;
	c.findings = json_object_new_array();
	r = collect(&c, &f, c.base_end);
	if (r < 0) {
		free(c.conns);
		free(c.drops);
		json_object_put(c.findings);
		data_query_free(&q);
		return data_error(r, ret_error);
	}
	list = json_object_new_array();
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		json_object *k = json_object_new_object();

		if (kinds[i].find)
			kinds[i].find(&c);
		json_object_object_add(k, "kind", json_object_new_string(kinds[i].kind));
		json_object_object_add(k, "available", json_object_new_boolean(kinds[i].find != NULL));
		json_object_object_add(k, "needs",
				       kinds[i].needs ? json_object_new_string(kinds[i].needs) : NULL);
		json_object_array_add(list, k);
	}
	o = data_result_new(ctx, &q.a);
	json_object_object_add(o, "source", json_object_new_string(c.source));
	json_object_object_add(o, "baseline", window_json(c.base_start, c.base_end));
	json_object_object_add(o, "recent", window_json(c.base_end, c.now));
	json_object_object_add(o, "findings", c.findings);
	json_object_object_add(o, "kinds", list);
	free(c.conns);
	free(c.drops);
	data_query_free(&q);
	*ret = o;
	return 0;
}

static void anomalies_print(FILE *f, json_object *r)
{
	json_object *findings = json_object_object_get(r, "findings");
	json_object *base = json_object_object_get(r, "baseline");
	json_object *kinds_o = json_object_object_get(r, "kinds");
	size_t n = findings ? json_object_array_length(findings) : 0;
	char subject[256];

	fprintf(f, "%s: %zu anomal%s in the last %lld seconds, against a baseline of %lld seconds "
		   "before it\n",
		text_subject(r, subject, sizeof(subject)), n, n == 1 ? "y" : "ies",
		(long long)json_int(r, "duration"), (long long)json_int(base, "seconds"));
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(findings, i);

		fprintf(f, "  [%s] ", json_str(e, "kind", "?"));
		text_safe(f, json_str(e, "summary", ""));
		fputc('\n', f);
	}
	if (!n && json_int(base, "seconds") == 0)
		fprintf(f, "  (no baseline yet: netspy holds no events from before the window)\n");
	for (size_t i = 0; kinds_o && i < json_object_array_length(kinds_o); i++) {
		json_object *k = json_object_array_get_idx(kinds_o, i);

		if (!json_flag(k, "available"))
			fprintf(f, "  not checked: %s (needs %s)\n", json_str(k, "kind", "?"),
				json_str(k, "needs", "?"));
	}
	text_events_lost(f, r);
}

#define S_WINDOW                                                                     \
	"{\"type\":\"object\",\"properties\":{\"start\":" S_STRING ",\"end\":" S_STRING \
	",\"seconds\":" S_COUNT "},\"required\":[\"start\",\"end\",\"seconds\"]}"
#define S_FINDING                                                                           \
	"{\"type\":\"object\",\"properties\":{\"kind\":" S_STRING ",\"process\":"            \
	S_STRING_OR_NULL ",\"summary\":" S_STRING ",\"evidence\":{\"type\":\"object\","      \
	"\"additionalProperties\":{\"type\":\"number\"}},\"destination\":" S_STRING            \
	",\"first_seen\":" S_STRING ",\"reason\":" S_STRING "},"                             \
	"\"required\":[\"kind\",\"process\",\"summary\",\"evidence\"]}"
#define S_KIND                                                                                \
	"{\"type\":\"object\",\"properties\":{\"kind\":" S_STRING ",\"available\":{\"type\":" \
	"\"boolean\"},\"needs\":" S_STRING_OR_NULL "},\"required\":[\"kind\",\"available\","   \
	"\"needs\"]}"

const struct tool tool_find_anomalies = {
	.name = "find_anomalies",
	.command = "anomalies",
	.title = "Find anomalies",
	.description =
	    "Compare the last DURATION seconds with the BASELINE seconds before them (default "
	    "3600, as far back as netspy holds events) and report what changed, each finding "
	    "with its evidence numbers: a process connecting to a destination it did not use in "
	    "the baseline (new_destination), a process whose connects fail much more often "
	    "(failure_spike), a drop reason counted much more often per minute (drop_spike). "
	    "Optionally for one process id, process name or systemd unit. Steady traffic gives "
	    "no findings.",
	.input_schema = ARGS_SCHEMA(ARG_PID "," ARG_PROCESS "," ARG_DURATION "," ARG_UNIT
				    ",\"baseline\":{\"type\":\"integer\",\"minimum\":1,"
				    "\"maximum\":604800,\"description\":\"Seconds before the "
				    "window to compare with (default 3600)\"}"),
	.output_schema =
	    "{\"type\":\"object\",\"properties\":{" OUT_COMMON ",\"baseline\":" S_WINDOW
	    ",\"recent\":" S_WINDOW ",\"findings\":{\"type\":\"array\",\"items\":" S_FINDING
	    "},\"kinds\":{\"type\":\"array\",\"items\":" S_KIND "}},\"required\":["
	    OUT_COMMON_REQUIRED ",\"baseline\",\"recent\",\"findings\",\"kinds\"]}",
	.read_only = true,
	.open_world = false,
	.offered_to_model = true,
	.run = anomalies_run,
	.print = anomalies_print,
};
