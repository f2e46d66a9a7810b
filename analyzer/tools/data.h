/* What the tools share: the five data tools' argument and result schema pieces, argument
 * parsing, access to the store, and the JSON and text renderings of records and aggregates; the
 * AI tools' printing. */
#ifndef NETSPY_TOOL_DATA_H
#define NETSPY_TOOL_DATA_H

#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>

#include "tools/context.h"
#include "core/store.h"
#include "core/text.h"

/* ---- schema pieces (JSON text) ---- */
#define ARG_PID                                                            \
	"\"pid\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":4194304," \
	"\"description\":\"Only this process id\"}"
#define ARG_PROCESS                                                                         \
	"\"process_name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":255,"          \
	"\"description\":\"Only processes with this name (the kernel's comm: its first 15 " \
	"bytes)\"}"
#define ARG_DURATION                                                            \
	"\"duration\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":2678400," \
	"\"description\":\"Look back this many seconds (default 60)\"}"
#define ARG_SINCE                                                                    \
	"\"since\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64,"           \
	"\"description\":\"Start of the window: RFC 3339 (2026-11-29T18:00:00Z) or " \
	"'YYYY-MM-DD HH:MM' local time (instead of duration)\"}"
#define ARG_UNTIL                                                          \
	"\"until\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64," \
	"\"description\":\"End of the window, as since (default now)\"}"
/* duration, since and until: the window of every data tool. */
#define ARG_WINDOW ARG_DURATION "," ARG_SINCE "," ARG_UNTIL
#define ARG_UNIT                                                           \
	"\"unit\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":127," \
	"\"description\":\"Only this systemd unit (nginx.service, or nginx) or container id\"}"
/* Whose traffic over which window: the arguments the summary tools start with. */
#define ARGS_SUBJECT ARG_PID "," ARG_PROCESS "," ARG_WINDOW "," ARG_UNIT
#define ARG_MAX_EVENTS                                                          \
	"\"max_events\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10000," \
	"\"description\":\"Return at most this many events, newest first (default 100)\"}"
/* The remote-side filters, shared by the connection and drop tools (data_filter() maps them). */
#define ARG_DEST                                                                                \
	"\"dest\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":253,"                       \
	"\"description\":\"Only this remote address (140.82.112.3, ::1) or name: a name matches "  \
	"the addresses looked up by it or by a name below it (github.com: api.github.com too)\"}"
#define ARG_PORT                                                         \
	"\"port\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":65535," \
	"\"description\":\"Only this remote port (inbound connections: the local port connected " \
	"to; drops: either port)\"}"
#define ARG_PROTOCOL                                                                  \
	"\"protocol\":{\"type\":\"string\",\"enum\":[\"tcp\",\"udp\",\"TCP\",\"UDP\"],"        \
	"\"description\":\"Only this transport protocol\"}"
#define ARGS_REMOTE ARG_DEST "," ARG_PORT "," ARG_PROTOCOL
#define ARG_NAME                                                                            \
	"\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":253,"                    \
	"\"description\":\"Only queries for this name or a name below it (example.com: "       \
	"www.example.com too)\"}"
#define ARG_DIRECTION                                                                          \
	"\"direction\":{\"type\":\"string\",\"enum\":[\"in\",\"out\",\"inbound\",\"outbound\"]," \
	"\"description\":\"Only inbound (accepted) or outbound (connected) connections\"}"
#define ARG_OUTCOME                                                          \
	"\"outcome\":{\"type\":\"string\",\"enum\":" FMT_OUTCOME_ENUM_JSON "," \
	"\"description\":\"Only connections with this outcome\"}"
#define ARG_REASON                                                                       \
	"\"reason\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":63,"              \
	"\"description\":\"Only drops with this reason, as the kernel spells it (NO_SOCKET)\"}"
/* The filters every connection tool takes: the remote side's, direction and outcome. */
#define ARGS_CONN_FILTERS ARGS_REMOTE "," ARG_DIRECTION "," ARG_OUTCOME
#define ARGS_SCHEMA(props) \
	"{\"type\":\"object\",\"properties\":{" props "},\"additionalProperties\":false}"

#define S_COUNT "{\"type\":\"integer\",\"minimum\":0}"
#define S_STRING "{\"type\":\"string\"}"
#define S_NUMBER "{\"type\":\"number\",\"minimum\":0}"
#define S_NULLABLE(t) "{\"anyOf\":[{\"type\":\"" t "\"},{\"type\":\"null\"}]}"
#define S_STRING_OR_NULL S_NULLABLE("string")
#define S_INT_OR_NULL S_NULLABLE("integer")
#define S_NUMBER_OR_NULL S_NULLABLE("number")
#define S_COUNTS "{\"type\":\"object\",\"additionalProperties\":" S_COUNT "}"
#define S_FILTER                                                                 \
	"{\"type\":\"object\",\"properties\":{\"pid\":" S_INT_OR_NULL            \
	",\"process_name\":" S_STRING_OR_NULL ",\"unit\":" S_STRING_OR_NULL      \
	",\"dest\":" S_STRING ",\"port\":" S_COUNT ",\"protocol\":" S_STRING     \
	",\"name\":" S_STRING ",\"direction\":" S_STRING ",\"outcome\":" S_STRING   \
	",\"reason\":" S_STRING "},"                                             \
	"\"required\":[\"pid\",\"process_name\",\"unit\"]}"
/* Fields every data tool's result has: the window asked for, where the answer came from
 * ("live": netspyd's backlog, "history": the recorder's rollups, or both), the part of the
 * window the sources covered and their granularity (0: single events, 60 or 3600 seconds); and what the kept events cover:
 * coverage_start is when they begin (later than window_start when the window reaches before the
 * oldest event still held), coverage_end (only when some are pending) from when events folded in
 * the kernel during a flood are still to arrive, complete whether they cover the whole window
 * with final counts, events_evicted how many the daemon's backlog and the analyzer's store no
 * longer hold. */
#define OUT_COMMON                                                                        \
	"\"duration\":" S_COUNT ",\"window_start\":" S_STRING ",\"window_end\":" S_STRING \
	",\"filter\":" S_FILTER ",\"events_lost\":" S_COUNT                               \
	",\"source\":{\"enum\":[\"live\",\"history\",\"live+history\"]}"                  \
	",\"covered_start\":" S_STRING_OR_NULL ",\"covered_end\":" S_STRING_OR_NULL       \
	",\"granularity_seconds\":" S_COUNT ",\"history_note\":" S_STRING_OR_NULL        \
	",\"coverage_start\":" S_STRING ",\"coverage_end\":" S_STRING                      \
	",\"complete\":{\"type\":\"boolean\"}"                                           \
	",\"events_evicted\":" S_COUNT
#define OUT_COMMON_REQUIRED                                                                   \
	"\"duration\",\"window_start\",\"window_end\",\"filter\",\"events_lost\",\"source\"," \
	"\"covered_start\",\"covered_end\",\"granularity_seconds\","                           \
	"\"coverage_start\",\"complete\",\"events_evicted\""
#define S_TOP(key)                                                                                 \
	"{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"" key "\":" S_STRING \
	",\"count\":" S_COUNT ",\"failed\":" S_COUNT "},"                                          \
	"\"required\":[\"" key "\",\"count\"]}}"
/* Destinations: S_TOP("destination") with the name it was looked up by. */
#define S_TOP_DEST                                                                           \
	"{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"destination\":" \
	S_STRING ",\"destination_name\":" S_STRING_OR_NULL ",\"count\":" S_COUNT              \
	",\"failed\":" S_COUNT "},\"required\":[\"destination\",\"destination_name\","        \
	"\"count\"]}}"
#define S_LATENCY                                                                              \
	"{\"type\":\"object\",\"properties\":{\"count\":" S_COUNT ",\"p50\":" S_NUMBER_OR_NULL \
	",\"p90\":" S_NUMBER_OR_NULL ",\"p99\":" S_NUMBER_OR_NULL "},"                         \
	"\"required\":[\"count\",\"p50\",\"p90\",\"p99\"]}"

/* ---- arguments ---- */
struct data_args {
	uint32_t pid;	     /* 0: any */
	const char *process; /* NULL: any (points into the args object) */
	const char *unit;    /* NULL: any */
	const char *dest;    /* NULL: any (ARG_DEST) */
	int64_t port;	     /* 0: any */
	const char *protocol; /* "tcp", "udp" (any case); NULL: any */
	const char *name;    /* DNS tools: NULL: any */
	int64_t duration;    /* seconds */
	int64_t max_events;
	uint64_t now_ns, since_ns; /* now_ns: the window's end (until, or now) */
	bool until_given;
	uint8_t direction;   /* STORE_DIR_* */
	int outcome;	     /* -1: any */
	const char *reason;  /* NULL: any */
};

/* Reads validated arguments (defaults: duration 60, max_events default_max). -EINVAL with
 * *ret_error for a time since/until cannot be read as, or a window that ends before it starts. */
int data_args_get(json_object *args, int64_t default_max, struct data_args *ret, char **ret_error);
/* RFC 3339 (with Z or an offset, optional fraction) or "YYYY-MM-DD HH:MM[:SS]" local time, to
 * ns since the epoch. 0 or -EINVAL. */
int data_parse_time(const char *s, uint64_t *ret_ns);
void data_filter(const struct data_args *a, struct store_filter *ret);
/* The store, brought up to date in live mode; -ENOTCONN with a message when there is none. */
int data_store(struct tool_context *ctx, struct store **ret, char **ret_error);
struct history;
struct history_conn_stats;
struct history_drop_stats;
struct history_dns_stats;
struct history_tcp_stats;
struct history_tops;
/* Everything a data tool's run() starts from. When the window starts before netspyd's backlog,
 * the store answers from live_from_ns on and the history database (if any) before it. */
struct data_query {
	struct data_args a;
	struct store_filter f;
	struct store *s;
	const char *source;			     /* "live", "history", "live+history" */
	uint64_t covered_since_ns, covered_until_ns; /* 0, 0: nothing covered */
	unsigned granularity;			     /* seconds; 0: single events */
	const char *note;			     /* history_note, or NULL */
	char *note_buf;				     /* what note points to when malloc'd */
	const struct store_conn_stats *live_stats;   /* for merging latency histograms */
	bool detail;				     /* destinations wanted (analyze) */
	struct history *h;			     /* open while the history answers */
	uint64_t live_from_ns;			     /* the store answers [live_from_ns, end) */
	struct history_conn_stats *hc;
	struct history_drop_stats *hd;
	struct history_dns_stats *hdns;
	struct history_tcp_stats *htcp;
};
/* Adds what the history holds to live connection / drop statistics (a no-op when it is not
 * used); data_finish merges the rest into the result object and frees the query's history. */
int data_history_conns(struct data_query *q, struct store_conn_stats *st, char **ret_error);
int data_history_drops(struct data_query *q, struct store_drop_stats *st, char **ret_error);
/* The history's DNS queries and TCP quality for the window's older part, in q->hdns / q->htcp
 * (left NULL when the history is not used or cannot answer: then history_note says why). The
 * tool merges them into its answer. */
int data_history_dns(struct data_query *q, char **ret_error);
int data_history_tcp(struct data_query *q, char **ret_error);
/* Adds what the history's part of an answer cannot give to history_note. */
void data_note_add(struct data_query *q, const char *text);
/* Merges a history top list into the result's top list field ({key, count, failed}). */
void data_merge_top(json_object *o, const char *field, const char *key,
		    const struct history_tops *h, bool with_failed);
/* A latency object ({count, p50, p90, p99}) from histogram buckets (bucket bounds
 * interpolated: what a history answer can give). */
json_object *data_latency_buckets(const uint64_t b[STORE_LATENCY_BUCKETS]);
/* Top lists, latency and by_reason merged with the history's; the source fields set. */
void data_finish(struct data_query *q, json_object *result);
void data_query_free(struct data_query *q);
int data_begin(struct tool_context *ctx, json_object *args, int64_t default_max,
	       struct data_query *ret, char **ret_error);
/* Maps a store error to the tool contract. */
int data_error(int err, char **ret_error);
/* What get_network_summary and analyze_patterns start from: the query, the connection statistics
 * (STORE_STATS_* flags) and a result object holding the common fields and the totals, in *ret.
 * 0 or a negative errno with *ret_error set. */
int data_conn_stats(struct tool_context *ctx, json_object *args, unsigned flags,
		    struct data_query *q, struct store_conn_stats *st, json_object **ret,
		    char **ret_error);

/* ---- exact totals (netspyd's per-second counters) ---- */
struct data_totals {
	bool have;  /* the daemon answered (no process or unit filter: counters are host-wide) */
	bool exact; /* they cover the whole window and nothing was lost in it */
	bool use;   /* report them as the totals (see data_totals()) */
	uint64_t since_ns, lost;
	uint64_t events[4];	   /* by netspy.v1.EventKind: connects, TCP outcomes, drops */
	uint64_t by_proto[4][256]; /* by EventKind and ip_proto */
	uint64_t by_outcome[STORE_N_OUTCOMES];
	json_object *drop_reasons; /* {"NO_SOCKET": n, ...} */
};
/* Asks netspyd for its counters over the query's window and adds to o "totals" (the object
 * below, or null) and "totals_exact". Tools then report those numbers as their totals. */
void data_totals(struct tool_context *ctx, const struct data_query *q, json_object *o,
		 struct data_totals *ret);
/* data_totals() for the connection tools (summary, analyze): total_connections from netspyd's
 * counters (connects) plus INBOUND accepted connections counted from the store, when the counters
 * answer; the drop reasons are not kept. */
void data_conn_totals(struct tool_context *ctx, const struct data_query *q, json_object *o,
		      uint64_t inbound, struct data_totals *ret);
/* Nullable as anyOf branches of a single type each (portable to single-type schema dialects). */
#define S_TOTALS                                                                                   \
	"{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"source\":" S_STRING                    \
	",\"coverage_start\":" S_STRING ",\"connections\":" S_COUNT ",\"tcp_outcomes\":" S_COUNT   \
	",\"drops\":" S_COUNT ",\"connections_by_protocol\":" S_COUNTS ",\"by_outcome\":" S_COUNTS \
	",\"drops_by_protocol\":" S_COUNTS ",\"drops_by_reason\":" S_COUNTS                        \
	",\"events_lost\":" S_COUNT "}},{\"type\":\"null\"}]}"
#define OUT_TOTALS ",\"totals\":" S_TOTALS ",\"totals_exact\":{\"type\":\"boolean\"}"

/* ---- results ---- */
/* A result object with the common fields. */
json_object *data_result_new(struct tool_context *ctx, const struct data_args *a);
/* "from history (per-minute rollups)" and the covered window, for the text renderings. */
void text_source(FILE *f, json_object *result);
json_object *json_proto_counts(const uint64_t by_proto[256]);
json_object *json_outcome_counts(const uint64_t by_outcome[STORE_N_OUTCOMES]);
json_object *json_latency(const struct store_conn_stats *st);
json_object *json_top_processes(const struct store *s, const struct store_top *top, size_t n);
json_object *json_top_endpoints(const struct store *s, const struct store_top *top, size_t n,
				const char *key);
double data_failure_rate(uint64_t failed, uint64_t total);
/* A number printed with this many decimals (0.028, not 0.028000000000000001). */
json_object *json_number(double v, int decimals);
/* A process name id as printable text (FMT_COMM_LEN bytes are enough). */
void data_comm(const struct store *s, uint16_t id, char *buf, size_t len);
/* The time of the oldest event the store holds (RFC 3339), or JSON null when it holds none:
 * how far back an answer can reach. */
json_object *data_oldest(const struct store *s);
json_object *conn_to_json(struct store *s, uint64_t abs);
/* exe, cmdline and ppid of pid (null when not known). */
void proc_to_json(const struct store *s, uint32_t pid, json_object *o);
json_object *drop_to_json(struct store *s, uint64_t abs);
/* A names table entry as JSON: the string, or null for id 0. */
json_object *json_name(const struct store *s, uint32_t id);
void endpoint_format(const struct store_endpoint *e, char *buf, size_t len);
void endpoint_ip(const struct store_endpoint *e, char *buf, size_t len);

typedef int (*data_list_fn)(struct store *s, const struct store_filter *f, uint64_t *ret,
			    size_t max, size_t *ret_n, uint64_t *ret_total);
typedef json_object *(*data_record_fn)(struct store *s, uint64_t abs);
/* The body of list_connections and list_packet_drops: the newest max_events matching records
 * as an array under key, with total_matching and returned. */
int data_list_run(struct tool_context *ctx, json_object *args, data_list_fn list,
		  data_record_fn to_json, const char *key, json_object **ret, char **ret_error);
#define S_LIST_COMMON ",\"total_matching\":" S_COUNT ",\"returned\":" S_COUNT
#define S_LIST_REQUIRED ",\"total_matching\",\"returned\""

/* ---- text ---- */
int64_t json_int(json_object *o, const char *key);
const char *json_str(json_object *o, const char *key, const char *dflt);
bool json_flag(json_object *o, const char *key); /* false when absent */
/* "Process 'curl'", "PID 1234", "All processes", ... (buf) for headlines. */
const char *text_subject(json_object *result, char *buf, size_t len);
/* "TCP 3, UDP 2" from an object of counts. */
void text_counts(FILE *f, json_object *counts);
/* hh:mm:ss local time of an RFC 3339 timestamp. */
void text_clock(const char *rfc3339, char *buf, size_t len);
/* Prints rows of cells separated by " | ", each column padded to its widest cell. */
void text_table(FILE *f, const char *indent, char ***rows, size_t n_rows, size_t n_cols);
/* The coverage line ("partial: ...") when the answer does not cover its whole window; then the
 * events-lost warning. */
void text_coverage(FILE *f, json_object *result);
void text_events_lost(FILE *f, json_object *result);
struct text_rows {
	char ***rows;
	size_t n, cols;
};
struct text_rows *text_rows_new(size_t n, size_t cols);
__attribute__((format(printf, 4, 5))) void text_rows_set(struct text_rows *t, size_t r, size_t c,
							 const char *fmt, ...);
/* Prints the rows aligned (cells never set print as ""). */
void text_rows_print(FILE *f, const char *indent, struct text_rows *t);
void text_rows_free(struct text_rows *t);
/* Sets row i's cells from one entry of an array (arg: what the caller passed along). */
typedef void (*text_row_fn)(struct text_rows *t, size_t i, json_object *entry, const void *arg);
/* "  LABEL:" then one aligned line of cols cells per entry of arr (nothing when it is empty). */
void text_section(FILE *f, const char *label, json_object *arr, size_t cols, text_row_fn row,
		  const void *arg);
/* How a list tool's result prints: the array under key, one row of cols cells per entry. */
struct text_list {
	const char *key;  /* "events", "drops" */
	const char *noun; /* "connection events", "packet drops" */
	size_t cols;
	void (*row)(struct text_rows *t, size_t i, json_object *entry);
	bool more_hint; /* say how many more --max-events would show */
};
/* "Recent NOUN (N total, newest first):" and the rows, or "No NOUN (subject, last S seconds)". */
void text_list_print(FILE *f, json_object *result, const struct text_list *l);
/* "  TCP handshake latency: p50 …" when the result has latencies. */
void text_latency(FILE *f, json_object *result);
/* Sets a cell to an endpoint ("1.2.3.4:443", "[::1]:53") shown with the name it was looked up
 * by: "github.com (140.82.112.3):443"; the endpoint alone when name is NULL. */
void text_destination(struct text_rows *t, size_t row, size_t col, const char *endpoint,
		      const char *name);
/* "  LABEL:" then one aligned line per entry of a top list ({KEY, count, failed}). */
void text_top(FILE *f, const char *label, json_object *top, const char *key, const char *unit);

/* ---- the AI tools (ai_insights, contextual_analysis) ---- */
/* What the tools answer when the context has no analyst: -ENOTSUP with a message. */
int data_no_analyst(char **ret_error);
/* Writes s made terminal-safe (core/text.h). */
void text_safe(FILE *f, const char *s);
/* The answer text under key, terminal-safe, unless it was already streamed to the terminal. */
void text_answer(FILE *f, json_object *result, const char *key);
/* "(Answered by model M.)" or the offline analyst's label. */
void text_origin(FILE *f, json_object *result);

#endif
