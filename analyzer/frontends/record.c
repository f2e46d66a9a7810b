/* netspyctl record: the recorder service (see record.h). One thread follows netspyd and writes the
 * history database; libmicrohttpd's thread answers /metrics from counters kept under a mutex, and
 * the API's threads (frontends/api.c) answer tool calls over connections of their own to netspyd,
 * reading only the health figures from here (under the same mutex). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "clock.h"
#include "core/analyzer.h"
#include "core/dns.h"
#include "core/format.h"
#include "core/history.h"
#include "core/rollup.h"
#include "core/text.h"
#include "frontends/api.h"
#include "frontends/frontend.h"
#include "frontends/record.h"
#include "tools/context.h"
#include "tools/tool.h"

#define NS 1000000000ull
#define PID_UNITS_MAX 65536
#define ANOMALY_KEYS_MAX 4096

struct tcp_metric {
	uint64_t retransmits, bytes_sent, bytes_received, resets_sent, resets_received;
};

struct metrics {
	pthread_mutex_t lock;
	unsigned max_series;
	struct kmap conns, latency, drops; /* uint64_t, rollup_latency_val, uint64_t */
	struct kmap dns;		   /* {process, rcode}: uint64_t */
	struct kmap tcp;		   /* {process, unit}: struct tcp_metric */
	struct kmap ends;		   /* {process, unit, end}: uint64_t */
	uint64_t lost_kernel, lost_client, lost_recorder;
	uint64_t scrapes;
	/* for the API's /health */
	bool connected;
	uint64_t events, minutes_written, write_failures;
	uint64_t last_event_ms; /* CLOCK_MONOTONIC of the last event received, 0: none yet */
};

/* The last connection's key, as store ids: a storm repeats one key, and the counters it went
 * to are bumped again without formatting and hashing its strings. */
struct conn_cache {
	bool valid, failed, inbound;
	uint64_t rebuilds, minute;
	uint32_t pid, dst;
	uint16_t comm, cgroup;
	uint8_t proto, outcome;
	uint64_t *rollup_count, *rollup_failed, *metric;
};

struct recorder {
	const struct record_opts *o;
	struct conn_cache cc;
	struct analyzer an;
	struct history *h;
	struct metrics m;
	struct rollup cur;
	bool cur_valid;
	uint64_t conn_next, drop_next; /* store records not rolled up yet */
	uint64_t dns_next, end_next, signal_next;
	uint64_t watermark_ns;	       /* every event before it is rolled up */
	uint64_t resume_ns;	       /* events before it are stored already */
	uint64_t lost_at_flush;	       /* analyzer_events_lost() at the last minute written */
	uint64_t unaccounted;	       /* events never rolled up (evicted or late) */
	uint64_t events, minutes_written, write_failures;
	struct kmap pid_units; /* pid -> unit (char[128]) of its latest connect */
	const char *db_path;
	struct kmap anomalies_seen; /* a finding's key -> when it was journaled (s, monotonic) */
	uint64_t anomaly_last_us;
	uint64_t anomalies_journaled;
	bool anomaly_warned;
	struct MHD_Daemon *tcp, *unix_d;
	int unix_fd;
	struct api *api;
	uint64_t last_event_ms;
};

__attribute__((format(printf, 3, 4))) static void logmsg(int prio, const char *msgid,
							 const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "netspyctl record: %s\n", buf);
	if (msgid)
		sd_journal_send("MESSAGE=netspy-recorder: %s", buf, "MESSAGE_ID=%s", msgid,
				"PRIORITY=%i", prio, "SYSLOG_IDENTIFIER=netspy-recorder", NULL);
}

/* ---- metrics ---- */

static void metric_labels(struct keybuf *k, const char *const *v, int n)
{
	keybuf_reset(k);
	for (int i = 0; i < n; i++)
		keybuf_add(k, v[i]);
}

/* The value for these labels; past max_series a new series has process "other" (label 0 or
 * process_at). */
static void *metric_get(struct metrics *m, struct kmap *map, const char **v, int n, int process_at)
{
	struct keybuf k;
	void *val;

	metric_labels(&k, v, n);
	val = kmap_find(map, k.b, k.n);
	if (val)
		return val;
	if (m->max_series && map->n >= m->max_series) {
		v[process_at] = HISTORY_OTHER;
		metric_labels(&k, v, n);
	}
	return kmap_get(map, k.b, k.n, NULL);
}

static const char *direction_name(uint8_t d)
{
	return d == HISTORY_DIR_INBOUND ? "inbound" : "outbound";
}

/* Counts a connection; returns its counter (stable while the recorder runs), for the cache. */
static uint64_t *metrics_conn(struct metrics *m, const struct rollup_conn *c)
{
	const char *v[5] = { c->process, c->unit, fmt_protocol(c->protocol),
			     fmt_outcome(c->outcome), direction_name(c->direction) };
	uint64_t *n;

	pthread_mutex_lock(&m->lock);
	n = metric_get(m, &m->conns, v, 5, 0);
	if (n)
		(*n)++;
	if (c->latency_us && c->outcome == 1) {
		const char *lv[2] = { c->process, c->unit };
		struct rollup_latency_val *l = metric_get(m, &m->latency, lv, 2, 0);

		if (l) {
			l->buckets[history_bucket_of(c->latency_us)]++;
			l->sum_us += c->latency_us;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return n;
}

static void metrics_drop(struct metrics *m, const struct rollup_drop *d, const char *unit)
{
	const char *v[4] = { d->reason, fmt_protocol(d->protocol), d->attributed ? d->process : "",
			     unit ? unit : "" };
	uint64_t *n;

	pthread_mutex_lock(&m->lock);
	n = metric_get(m, &m->drops, v, 4, 2);
	if (n)
		*n += d->count ? d->count : 1;
	pthread_mutex_unlock(&m->lock);
}

static void metrics_dns(struct metrics *m, const struct rollup_dns *d)
{
	char rc[16];
	const char *v[2] = { d->process,
			     d->rcode < 0 ? "unanswered"
					  : dns_rcode_name((uint16_t)d->rcode, rc, sizeof(rc)) };
	uint64_t *n;

	pthread_mutex_lock(&m->lock);
	n = metric_get(m, &m->dns, v, 2, 0);
	if (n)
		(*n)++;
	pthread_mutex_unlock(&m->lock);
}

static void metrics_tcp(struct metrics *m, const struct rollup_tcp *x)
{
	const char *v[3] = { x->process, x->unit, fmt_end(x->end) };
	struct tcp_metric *t;

	pthread_mutex_lock(&m->lock);
	t = metric_get(m, &m->tcp, v, 2, 0);
	if (t) {
		t->retransmits += x->retransmits;
		t->resets_sent += x->resets_sent;
		t->resets_received += x->resets_received;
		t->bytes_sent += x->bytes_sent;
		t->bytes_received += x->bytes_received;
	}
	if (x->end) {
		uint64_t *n;

		v[0] = x->process; /* metric_get may have set it to "other" */
		n = metric_get(m, &m->ends, v, 3, 0);
		if (n)
			(*n)++;
	}
	pthread_mutex_unlock(&m->lock);
}

/* A label value as the text exposition format wants it: \\, \" and \n escaped. */
static void label(FILE *f, const char *name, const char *v, bool comma)
{
	fprintf(f, "%s%s=\"", comma ? "," : "", name);
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
	fputc('"', f);
}

static void labels(FILE *f, const struct kmap_entry *e, const char *const *names, int n)
{
	for (int i = 0; i < n; i++) {
		const char *v = key_field(e->key, e->klen, (unsigned)i);

		label(f, names[i], v, i > 0);
	}
}

static void render(struct metrics *m, FILE *f)
{
	static const char *const conn_l[] = { "process", "unit", "protocol", "outcome",
					      "direction" };
	static const char *const lat_l[] = { "process", "unit" };
	static const char *const drop_l[] = { "reason", "protocol", "process", "unit" };
	static const char *const dns_l[] = { "process", "rcode" };
	static const char *const end_l[] = { "process", "unit", "end" };
	static const struct {
		const char *name, *help;
		size_t off;
	} tcp_metrics[] = {
		{ "netspy_tcp_retransmits_total", "TCP segments retransmitted.",
		  offsetof(struct tcp_metric, retransmits) },
		{ "netspy_tcp_bytes_sent_total",
		  "Bytes the peer acknowledged, counted when the connection ends.",
		  offsetof(struct tcp_metric, bytes_sent) },
		{ "netspy_tcp_bytes_received_total", "Bytes received, counted when the connection "
		  "ends.", offsetof(struct tcp_metric, bytes_received) },
		{ "netspy_tcp_resets_sent_total", "TCP resets sent.",
		  offsetof(struct tcp_metric, resets_sent) },
		{ "netspy_tcp_resets_received_total", "TCP resets received.",
		  offsetof(struct tcp_metric, resets_received) },
	};

	pthread_mutex_lock(&m->lock);
	m->scrapes++;
	fputs("# HELP netspy_connections_total Connection attempts seen by netspyd.\n"
	      "# TYPE netspy_connections_total counter\n",
	      f);
	for (size_t i = 0; i < m->conns.cap; i++) {
		const struct kmap_entry *e = &m->conns.v[i];

		if (!e->key)
			continue;
		fputs("netspy_connections_total{", f);
		labels(f, e, conn_l, 5);
		fprintf(f, "} %llu\n", (unsigned long long)*(uint64_t *)e->value);
	}
	fputs("# HELP netspy_tcp_connect_latency_seconds TCP handshake latency (connect() to "
	      "established).\n# TYPE netspy_tcp_connect_latency_seconds histogram\n",
	      f);
	for (size_t i = 0; i < m->latency.cap; i++) {
		const struct kmap_entry *e = &m->latency.v[i];
		const struct rollup_latency_val *l = e->value;
		uint64_t cum = 0;

		if (!e->key)
			continue;
		for (int b = 0; b < HISTORY_N_BUCKETS; b++) {
			cum += l->buckets[b];
			fputs("netspy_tcp_connect_latency_seconds_bucket{", f);
			labels(f, e, lat_l, 2);
			if (b == HISTORY_N_BUCKETS - 1)
				fputs(",le=\"+Inf\"", f);
			else
				fprintf(f, ",le=\"%g\"", (double)history_bucket_us[b] / 1e6);
			fprintf(f, "} %llu\n", (unsigned long long)cum);
		}
		fputs("netspy_tcp_connect_latency_seconds_sum{", f);
		labels(f, e, lat_l, 2);
		fprintf(f, "} %.6f\n", (double)l->sum_us / 1e6);
		fputs("netspy_tcp_connect_latency_seconds_count{", f);
		labels(f, e, lat_l, 2);
		fprintf(f, "} %llu\n", (unsigned long long)cum);
	}
	fputs("# HELP netspy_packet_drops_total Packets the kernel dropped, by reason.\n"
	      "# TYPE netspy_packet_drops_total counter\n",
	      f);
	for (size_t i = 0; i < m->drops.cap; i++) {
		const struct kmap_entry *e = &m->drops.v[i];

		if (!e->key)
			continue;
		fputs("netspy_packet_drops_total{", f);
		labels(f, e, drop_l, 4);
		fprintf(f, "} %llu\n", (unsigned long long)*(uint64_t *)e->value);
	}
	fputs("# HELP netspy_dns_queries_total DNS queries processes made, by the response's rcode "
	      "(unanswered: none within 5 s).\n# TYPE netspy_dns_queries_total counter\n",
	      f);
	for (size_t i = 0; i < m->dns.cap; i++) {
		const struct kmap_entry *e = &m->dns.v[i];

		if (!e->key)
			continue;
		fputs("netspy_dns_queries_total{", f);
		labels(f, e, dns_l, 2);
		fprintf(f, "} %llu\n", (unsigned long long)*(uint64_t *)e->value);
	}
	for (size_t k = 0; k < sizeof(tcp_metrics) / sizeof(tcp_metrics[0]); k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", tcp_metrics[k].name,
			tcp_metrics[k].help, tcp_metrics[k].name);
		for (size_t i = 0; i < m->tcp.cap; i++) {
			const struct kmap_entry *e = &m->tcp.v[i];

			if (!e->key)
				continue;
			fprintf(f, "%s{", tcp_metrics[k].name);
			labels(f, e, lat_l, 2);
			fprintf(f, "} %llu\n",
				(unsigned long long)*(const uint64_t *)((const char *)e->value +
									tcp_metrics[k].off));
		}
	}
	fputs("# HELP netspy_tcp_connections_ended_total TCP connections that ended, by how "
	      "(closed, reset_sent, reset_received, timeout).\n"
	      "# TYPE netspy_tcp_connections_ended_total counter\n",
	      f);
	for (size_t i = 0; i < m->ends.cap; i++) {
		const struct kmap_entry *e = &m->ends.v[i];

		if (!e->key)
			continue;
		fputs("netspy_tcp_connections_ended_total{", f);
		labels(f, e, end_l, 3);
		fprintf(f, "} %llu\n", (unsigned long long)*(uint64_t *)e->value);
	}
	fprintf(f,
		"# HELP netspy_events_lost_total Events lost: by the kernel (ring buffer full), "
		"by this client reading too slowly, or by the recorder.\n"
		"# TYPE netspy_events_lost_total counter\n"
		"netspy_events_lost_total{source=\"kernel\"} %llu\n"
		"netspy_events_lost_total{source=\"client\"} %llu\n"
		"netspy_events_lost_total{source=\"recorder\"} %llu\n",
		(unsigned long long)m->lost_kernel, (unsigned long long)m->lost_client,
		(unsigned long long)m->lost_recorder);
	pthread_mutex_unlock(&m->lock);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct metrics *m = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		static char msg[] = "only GET\n";

		resp =
		    MHD_create_response_from_buffer(sizeof(msg) - 1, msg, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics")) {
		static char msg[] = "netspy recorder: metrics are at /metrics\n";

		resp =
		    MHD_create_response_from_buffer(sizeof(msg) - 1, msg, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	} else {
		f = open_memstream(&buf, &len);
		if (!f)
			return MHD_NO;
		render(m, f);
		if (fclose(f) != 0) {
			free(buf);
			return MHD_NO;
		}
		resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				status == MHD_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8"
						      : "text/plain; charset=utf-8");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

#define MHD_FLAGS (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG)

static struct MHD_Daemon *listen_tcp(struct metrics *m, const char *spec, char **ret_error)
{
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	unsigned flags = MHD_FLAGS;
	uint16_t port;

	if (api_parse_address("--metrics-listen", spec, &ss, ret_error) < 0)
		return NULL;
	if (ss.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	d = MHD_start_daemon(flags, port, NULL, NULL, answer, m, MHD_OPTION_SOCK_ADDR,
			     (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	if (!d)
		*ret_error = text_printf("cannot listen on %s for /metrics (in use?)", spec);
	return d;
}

/* The guarded listener: a Unix socket only the recorder's group (netspy) may open. */
static struct MHD_Daemon *listen_unix(struct recorder *rc, const char *path, char **ret_error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct MHD_Daemon *d;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		*ret_error = text_printf("--metrics-socket %s: path too long", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 16) < 0)
		goto fail;
	d = MHD_start_daemon(MHD_FLAGS, 0, NULL, NULL, answer, &rc->m, MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	if (!d) {
		close(fd);
		*ret_error = text_printf("cannot serve /metrics on %s", path);
		return NULL;
	}
	rc->unix_fd = fd;
	return d;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	*ret_error = text_printf("--metrics-socket %s: %s", path, strerror(err));
	return NULL;
}

/* ---- rolling up ---- */

static void remember_unit(struct recorder *rc, uint32_t pid, const char *unit)
{
	char *u;

	if (!unit[0])
		return;
	if (rc->pid_units.n >= PID_UNITS_MAX && !kmap_find(&rc->pid_units, &pid, sizeof(pid))) {
		kmap_fini(&rc->pid_units);
		kmap_init(&rc->pid_units, 128);
	}
	u = kmap_get(&rc->pid_units, &pid, sizeof(pid), NULL);
	if (u)
		snprintf(u, 128, "%s", unit);
}

static void write_minute(struct recorder *rc)
{
	uint64_t lost = analyzer_events_lost(&rc->an);
	char *err = NULL;
	int r;

	rc->cur.lost = lost - rc->lost_at_flush;
	rc->lost_at_flush = lost;
	r = rollup_rows(&rc->cur);
	if (r == 0)
		r = history_write_minute(rc->h, &rc->cur.out, &err);
	if (r < 0) {
		rc->write_failures++;
		rc->unaccounted += rc->cur.events;
		logmsg(LOG_ERR, RECORD_MSGID_WRITE_FAILED, "minute %llu not stored: %s",
		       (unsigned long long)rc->cur.t, err ? err : strerror(-r));
		free(err);
	} else {
		rc->minutes_written++;
	}
}

/* Writes the current minute and starts the next ones up to minute t (empty minutes written). */
static void advance_to(struct recorder *rc, uint64_t t)
{
	while (rc->cur.t < t) {
		uint64_t next = rc->cur.t + 60;

		write_minute(rc);
		rollup_fini(&rc->cur);
		rollup_init(&rc->cur, next, rc->o->max_keys);
	}
}

/* The minute an event at ts_ns goes into; false when it is too late (its minute is stored). */
static bool minute_for(struct recorder *rc, uint64_t ts_ns)
{
	uint64_t t = ts_ns / NS / 60 * 60;

	if (!rc->cur_valid) {
		rollup_init(&rc->cur, t, rc->o->max_keys);
		rc->cur_valid = true;
	}
	if (t < rc->cur.t) {
		rc->unaccounted++;
		return false;
	}
	advance_to(rc, t);
	return true;
}

static void account_conn(struct recorder *rc, uint64_t abs)
{
	struct store *s = &rc->an.store;
	const struct store_conn *r = store_conn_at(s, abs);
	struct conn_cache *cc = &rc->cc;
	struct rollup_conn_val *v;
	struct rollup_conn c;
	bool failed;
	int outcome;

	if (r->ts_ns < rc->resume_ns || !minute_for(rc, r->ts_ns))
		return;
	rc->events++;
	outcome = store_conn_verdict(s, abs, &failed);
	if (cc->valid && !r->latency_us && cc->rebuilds == s->rebuilds && cc->minute == rc->cur.t &&
	    cc->pid == r->pid && cc->dst == r->dst && cc->comm == r->comm &&
	    cc->cgroup == r->cgroup && cc->proto == r->proto && cc->outcome == outcome &&
	    cc->failed == failed && cc->inbound == !!(r->flags & STORE_CONN_INBOUND)) {
		(*cc->rollup_count)++;
		*cc->rollup_failed += failed;
		rc->cur.events++;
		pthread_mutex_lock(&rc->m.lock);
		(*cc->metric)++;
		pthread_mutex_unlock(&rc->m.lock);
		return;
	}
	rollup_describe_conn(s, abs, &c);
	remember_unit(rc, r->pid, c.unit);
	v = rollup_add_conn(&rc->cur, &c);
	if (!v)
		rc->unaccounted++;
	*cc = (struct conn_cache){
		.valid = v != NULL,
		.failed = failed,
		.inbound = !!(r->flags & STORE_CONN_INBOUND),
		.rebuilds = s->rebuilds,
		.minute = rc->cur.t,
		.pid = r->pid,
		.dst = r->dst,
		.comm = r->comm,
		.cgroup = r->cgroup,
		.proto = r->proto,
		.outcome = (uint8_t)outcome,
		.rollup_count = v ? &v->count : NULL,
		.rollup_failed = v ? &v->failed : NULL,
	};
	cc->metric = metrics_conn(&rc->m, &c);
	cc->valid = cc->valid && cc->metric;
}

/* The unit of a process, for the events that name only their process (attributed drops,
 * retransmits and resets): that of its latest connect rolled up, else that of one of its
 * connects still waiting to be rolled up (within the next 64). The store stamps a record no
 * earlier than the one before it in its ring, so a connect drained late from netspyd's connect
 * rings (after an accepted connection, which arrives at once) can sort after the events of its
 * own socket. NULL when the pid is 0 (not known) or no connect of it has a unit. */
static const char *unit_of_pid(struct recorder *rc, uint32_t pid)
{
	struct store *s = &rc->an.store;
	const char *u;

	if (!pid)
		return NULL;
	u = kmap_find(&rc->pid_units, &pid, sizeof(pid));
	for (uint64_t i = rc->conn_next, n = 0; !u && i < s->conns.head && n < 64; i++, n++) {
		struct rollup_conn c;

		if (store_conn_at(s, i)->pid != pid)
			continue;
		rollup_describe_conn(s, i, &c);
		remember_unit(rc, pid, c.unit);
		u = kmap_find(&rc->pid_units, &pid, sizeof(pid));
		break;
	}
	return u && u[0] ? u : NULL;
}

static void account_drop(struct recorder *rc, uint64_t abs)
{
	struct rollup_drop d;
	const struct store_drop *r = store_drop_at(&rc->an.store, abs);
	const char *unit;

	if (r->ts_ns < rc->resume_ns || !minute_for(rc, r->ts_ns))
		return;
	rollup_describe_drop(&rc->an.store, abs, &d);
	unit = d.attributed ? unit_of_pid(rc, r->pid) : NULL;
	if (rollup_add_drop(&rc->cur, &d, unit) < 0)
		rc->unaccounted++;
	metrics_drop(&rc->m, &d, unit);
	rc->events++;
}

static void account_dns(struct recorder *rc, uint64_t abs)
{
	const struct store_dns *q = store_dns_at(&rc->an.store, abs);
	struct rollup_dns d;

	if (q->ts_ns < rc->resume_ns || !minute_for(rc, q->ts_ns))
		return;
	rollup_describe_dns(&rc->an.store, abs, &d);
	if (rollup_add_dns(&rc->cur, &d) < 0)
		rc->unaccounted++;
	metrics_dns(&rc->m, &d);
	rc->events++;
}

/* A TCP connection's end (counted at its end) or a retransmit or reset. */
static void account_tcp(struct recorder *rc, uint64_t abs, bool end)
{
	struct store *s = &rc->an.store;
	uint64_t ts = end ? store_end_at(s, abs)->ts_ns : store_signal_at(s, abs)->ts_ns;
	struct rollup_tcp x;

	if (ts < rc->resume_ns || !minute_for(rc, ts))
		return;
	if (end) {
		if (!rollup_describe_end(s, abs, &x)) { /* its connection is gone already */
			rc->unaccounted++;
			return;
		}
	} else {
		rollup_describe_signal(s, abs, unit_of_pid(rc, store_signal_at(s, abs)->pid), &x);
	}
	if (rollup_add_tcp(&rc->cur, &x) < 0)
		rc->unaccounted++;
	metrics_tcp(&rc->m, &x);
	rc->events++;
}

/* Rolls up every stored event older than the grace time (or sooner when the store fills). */
static void process(struct recorder *rc, uint64_t now_ns)
{
	struct store *s = &rc->an.store;
	uint64_t limit = now_ns - (uint64_t)rc->o->grace_s * NS;

	/* every ring the recorder rolls up, in the order of the switch below */
	struct store_ring *rings[] = { &s->conns, &s->drops, &s->dns, &s->ends, &s->signals };
	uint64_t *next[] = { &rc->conn_next, &rc->drop_next, &rc->dns_next, &rc->end_next,
			     &rc->signal_next };

	for (;;) {
		uint64_t best = UINT64_MAX;
		bool pressure = false;
		int k = -1;

		for (int i = 0; i < (int)(sizeof(rings) / sizeof(rings[0])); i++) {
			const struct store_ring *r = rings[i];
			uint64_t lo = r->head - r->count, ts;

			if (*next[i] < lo) { /* evicted before it was rolled up */
				rc->unaccounted += lo - *next[i];
				*next[i] = lo;
			}
			if (*next[i] >= r->head)
				continue;
			ts = *(const uint64_t *)store_ring_at(r, *next[i]);
			if (ts < best) {
				best = ts;
				k = i;
			}
			if (r->head - *next[i] > r->max / 2)
				pressure = true;
		}
		if (k < 0 || (best > limit && !pressure))
			break;
		switch (k) {
		case 0:
			account_conn(rc, rc->conn_next++);
			break;
		case 1:
			account_drop(rc, rc->drop_next++);
			break;
		case 2:
			account_dns(rc, rc->dns_next++);
			break;
		case 3:
			account_tcp(rc, rc->end_next++, true);
			break;
		default:
			account_tcp(rc, rc->signal_next++, false);
			break;
		}
		if (best > rc->watermark_ns)
			rc->watermark_ns = best;
	}
	/* Time passes even without events, but only while netspyd is followed. */
	if (rc->an.connected && limit > rc->watermark_ns)
		rc->watermark_ns = limit;
	if (rc->watermark_ns && minute_for(rc, rc->watermark_ns))
		rc->an.opts.replay_since_ns = rc->cur.t * NS;
	pthread_mutex_lock(&rc->m.lock);
	rc->m.lost_kernel = rc->an.lost_kernel;
	rc->m.lost_client = rc->an.lost_client;
	rc->m.lost_recorder = rc->unaccounted;
	rc->m.connected = rc->an.connected;
	rc->m.events = rc->events;
	rc->m.minutes_written = rc->minutes_written;
	rc->m.write_failures = rc->write_failures;
	rc->m.last_event_ms = rc->last_event_ms;
	pthread_mutex_unlock(&rc->m.lock);
}

/* ---- the API's /health ---- */

#define FLOWING_S 60 /* events are flowing when one arrived this recently */

static bool health(void *data, json_object *out)
{
	struct metrics *m = data, c;
	json_object *lost = json_object_new_object();
	uint64_t now = (uint64_t)clock_ms(CLOCK_MONOTONIC), ago;

	pthread_mutex_lock(&m->lock);
	c.connected = m->connected;
	c.events = m->events;
	c.minutes_written = m->minutes_written;
	c.write_failures = m->write_failures;
	c.last_event_ms = m->last_event_ms;
	c.lost_kernel = m->lost_kernel;
	c.lost_client = m->lost_client;
	c.lost_recorder = m->lost_recorder;
	pthread_mutex_unlock(&m->lock);
	ago = c.last_event_ms && now > c.last_event_ms ? (now - c.last_event_ms) / 1000 : 0;
	json_object_object_add(out, "status",
			       json_object_new_string(c.connected ? "ok" : "unavailable"));
	json_object_object_add(out, "netspyd_reachable", json_object_new_boolean(c.connected));
	json_object_object_add(out, "events_flowing",
			       json_object_new_boolean(c.connected && c.last_event_ms &&
						       ago < FLOWING_S));
	json_object_object_add(out, "seconds_since_last_event",
			       c.last_event_ms ? json_object_new_int64((int64_t)ago) : NULL);
	json_object_object_add(out, "events_rolled_up", json_object_new_int64((int64_t)c.events));
	json_object_object_add(out, "minutes_written",
			       json_object_new_int64((int64_t)c.minutes_written));
	json_object_object_add(out, "write_failures",
			       json_object_new_int64((int64_t)c.write_failures));
	json_object_object_add(lost, "kernel", json_object_new_int64((int64_t)c.lost_kernel));
	json_object_object_add(lost, "client", json_object_new_int64((int64_t)c.lost_client));
	json_object_object_add(lost, "recorder", json_object_new_int64((int64_t)c.lost_recorder));
	json_object_object_add(out, "events_lost", lost);
	return c.connected;
}

/* The API socket systemd passed for path (netspy-recorder.socket), or -1. */
static int passed_socket(const char *path)
{
	int n = sd_listen_fds(0);

	for (int fd = SD_LISTEN_FDS_START; path && fd < SD_LISTEN_FDS_START + n; fd++)
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, path, 0) > 0)
			return fd;
	return -1;
}

/* Starts the API; 0, or a usage error (already logged). The default socket is best effort: when
 * it cannot be bound (no /run/netspy, another recorder) the API is off and the log says why. */
static int start_api(struct recorder *rc, const char *history_path)
{
	const struct record_opts *o = rc->o;
	struct api_opts ao = {
		.socket_path = o->api_socket,
		.socket_fd = passed_socket(o->api_socket),
		.listen = o->api_listen,
		.token_file = o->api_token_file,
		.daemon_socket = o->socket,
		.history = history_path,
		.ai = o->api_ai,
		.health = health,
		.health_data = &rc->m,
	};
	char *err = NULL;
	int r;

	if (!ao.socket_path && !ao.listen) {
		if (ao.token_file) {
			logmsg(LOG_ERR, NULL, "--api-token-file is for --api-listen");
			return NETSPY_EXIT_USAGE;
		}
		return 0;
	}
	r = api_start(&ao, &rc->api, &err);
	if (r < 0 && !o->api_socket_given && !ao.listen && !ao.token_file) {
		logmsg(LOG_WARNING, NULL, "the API is off: %s", err ? err : strerror(-r));
		free(err);
		return 0;
	}
	if (r < 0) {
		logmsg(LOG_ERR, NULL, "%s", err ? err : strerror(-r));
		free(err);
		return NETSPY_EXIT_USAGE;
	}
	return 0;
}

/* ---- anomalies ---- */

/* A finding's identity: the same kind about the same process, unit and subject. */
static void anomaly_key(json_object *f, struct keybuf *k)
{
	static const char *const fields[] = { "kind", "process", "unit", "destination",
					      "reason", "port", "name" };
	json_object *v;

	keybuf_reset(k);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		keybuf_add(k, json_object_object_get_ex(f, fields[i], &v) && v
				  ? json_object_get_string(v)
				  : NULL);
}

/* NETSPY_RECENT_CONNECTIONS from recent_connections. */
static char *journal_field(const char *key, const char *value)
{
	char *s = text_printf("NETSPY_%s=%s", key, value);

	for (char *c = s ? s + 7 : NULL; c && *c && *c != '='; c++)
		*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : (*c == '-' ? '_' : *c));
	return s;
}

/* One journald record for a finding: its summary as the message, everything else as fields. */
static void journal_anomaly(json_object *f, json_object *result)
{
	static const char *const strings[] = { "process", "unit", "destination", "reason",
					       "port",	  "name", "rcode",	 "first_seen" };
	json_object *v, *ev = json_object_object_get(f, "evidence");
	json_object *base = json_object_object_get(result, "baseline");
	char *fields[64];
	struct iovec iov[64];
	size_t n = 0;

	fields[n++] = text_printf("MESSAGE=netspy-recorder: anomaly: %s",
				  json_object_get_string(json_object_object_get(f, "summary")));
	fields[n++] = text_printf("MESSAGE_ID=%s", RECORD_MSGID_ANOMALY);
	fields[n++] = text_printf("PRIORITY=%d", LOG_WARNING);
	fields[n++] = text_printf("SYSLOG_IDENTIFIER=netspy-recorder");
	fields[n++] = journal_field("ANOMALY_KIND",
				    json_object_get_string(json_object_object_get(f, "kind")));
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		if (json_object_object_get_ex(f, strings[i], &v) && v)
			fields[n++] = journal_field(strings[i], json_object_get_string(v));
	if (json_object_is_type(ev, json_type_object)) {
		json_object_object_foreach (ev, key, val) {
			if (n >= 60)
				break;
			fields[n++] = journal_field(key, json_object_get_string(val));
		}
	}
	fields[n++] = journal_field("WINDOW_SECONDS",
				    json_object_get_string(json_object_object_get(
					json_object_object_get(result, "recent"), "seconds")));
	fields[n++] = journal_field("BASELINE_SECONDS",
				    json_object_get_string(json_object_object_get(base, "seconds")));
	fields[n++] = journal_field("BASELINE_SOURCE",
				    json_object_get_string(json_object_object_get(base, "source")));
	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = fields[i] ? fields[i] : (char *)"NETSPY_UNKNOWN=";
		iov[i].iov_len = strlen(iov[i].iov_base);
	}
	fprintf(stderr, "netspyctl record: anomaly: %s\n",
		json_object_get_string(json_object_object_get(f, "summary")));
	sd_journal_sendv(iov, (int)n);
	for (size_t i = 0; i < n; i++)
		free(fields[i]);
}

/* Runs find_anomalies over the last window and journals each finding not journaled in the last
 * max(interval, window) seconds. */
static void check_anomalies(struct recorder *rc)
{
	const struct tool *t = tool_find("find_anomalies");
	struct tool_context ctx = { .an = &rc->an, .history = rc->db_path, .tools = tool_registry };
	uint64_t now = clock_ns(CLOCK_MONOTONIC) / NS, expiry = rc->o->anomaly_interval_s;
	json_object *args = json_object_new_object(), *res = NULL, *list;
	char *err = NULL;
	int r;

	if (rc->o->anomaly_window_s > expiry)
		expiry = rc->o->anomaly_window_s;
	json_object_object_add(args, "duration",
			       json_object_new_int64((int64_t)rc->o->anomaly_window_s));
	r = t ? tool_invoke(t, &ctx, args, &res, &err) : -ENOSYS;
	json_object_put(args);
	if (r < 0) {
		if (!rc->anomaly_warned)
			logmsg(LOG_WARNING, NULL, "find_anomalies: %s", err ? err : strerror(-r));
		rc->anomaly_warned = true;
		free(err);
		return;
	}
	rc->anomaly_warned = false;
	if (rc->anomalies_seen.n >= ANOMALY_KEYS_MAX) {
		kmap_fini(&rc->anomalies_seen);
		kmap_init(&rc->anomalies_seen, sizeof(uint64_t));
	}
	list = json_object_object_get(res, "findings");
	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *f = json_object_array_get_idx(list, i);
		struct keybuf k;
		uint64_t *seen;
		bool created;

		anomaly_key(f, &k);
		seen = kmap_get(&rc->anomalies_seen, k.b, k.n, &created);
		if (!seen || (!created && now - *seen < expiry))
			continue;
		*seen = now;
		rc->anomalies_journaled++;
		journal_anomaly(f, res);
	}
	json_object_put(res);
}

/* ---- the service ---- */

static void status(struct recorder *rc)
{
	sd_notifyf(0,
		   "STATUS=%s netspyd; %llu events rolled up, %llu minutes written, %llu "
		   "unaccounted, %llu anomalies journaled",
		   rc->an.connected ? "following" : "waiting for", (unsigned long long)rc->events,
		   (unsigned long long)rc->minutes_written, (unsigned long long)rc->unaccounted,
		   (unsigned long long)rc->anomalies_journaled);
}

/* The recorder's own state: counters, rollup, metrics and the unit of each process. */
static void recorder_init(struct recorder *rc, const struct record_opts *o)
{
	rc->o = o;
	rc->unix_fd = -1;
	pthread_mutex_init(&rc->m.lock, NULL);
	rc->m.max_series = o->max_series;
	kmap_init(&rc->m.conns, sizeof(uint64_t));
	kmap_init(&rc->m.latency, sizeof(struct rollup_latency_val));
	kmap_init(&rc->m.drops, sizeof(uint64_t));
	kmap_init(&rc->m.dns, sizeof(uint64_t));
	kmap_init(&rc->m.tcp, sizeof(struct tcp_metric));
	kmap_init(&rc->m.ends, sizeof(uint64_t));
	kmap_init(&rc->pid_units, 128);
	kmap_init(&rc->anomalies_seen, sizeof(uint64_t));
}

static void recorder_fini(struct recorder *rc)
{
	if (rc->cur_valid)
		rollup_fini(&rc->cur);
	kmap_fini(&rc->m.conns);
	kmap_fini(&rc->m.latency);
	kmap_fini(&rc->m.drops);
	kmap_fini(&rc->m.dns);
	kmap_fini(&rc->m.tcp);
	kmap_fini(&rc->m.ends);
	kmap_fini(&rc->pid_units);
	kmap_fini(&rc->anomalies_seen);
	pthread_mutex_destroy(&rc->m.lock);
}

int record_main(const struct record_opts *o)
{
	struct recorder *rc = calloc(1, sizeof(*rc));
	struct analyzer_opts ao = { .socket = o->socket, .live = true };
	struct sigaction sa = { .sa_handler = frontend_on_interrupt };
	uint64_t watchdog_us = 0, last_ping = 0, last_status = 0;
	char *path = NULL, *moved = NULL, *err = NULL;
	struct history_rw_opts ho = { o->retention_days, o->max_size, o->max_keys };
	bool warned = false, followed = false;
	int r, ret = NETSPY_EXIT_OK;

	if (!rc)
		return NETSPY_EXIT_UNREACHABLE;
	recorder_init(rc, o);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	umask(0027); /* the database is readable by group netspy, by nobody else */
	if (mkdir(o->state_dir, 0750) < 0 && errno != EEXIST) {
		logmsg(LOG_ERR, NULL, "cannot create %s: %s", o->state_dir, strerror(errno));
		ret = NETSPY_EXIT_PERMISSION;
		goto out;
	}
	path = text_printf("%s/history.db", o->state_dir);
	r = path ? history_open_rw(path, &ho, &rc->h, &moved, &err) : -ENOMEM;
	if (moved)
		logmsg(LOG_WARNING, RECORD_MSGID_CORRUPT,
		       "%s was damaged (quick_check failed): moved aside to %s, starting a new "
		       "history",
		       path ? path : "", moved);
	if (r < 0) {
		logmsg(LOG_ERR, NULL, "%s", err ? err : strerror(-r));
		ret = frontend_exit_code(r, NETSPY_EXIT_UNREACHABLE);
		goto out;
	}
	if (strcmp(o->metrics_listen, "none")) {
		rc->tcp = listen_tcp(&rc->m, o->metrics_listen, &err);
		if (!rc->tcp) {
			logmsg(LOG_ERR, NULL, "%s", err);
			ret = NETSPY_EXIT_USAGE;
			goto out;
		}
	}
	if (o->metrics_socket) {
		rc->unix_d = listen_unix(rc, o->metrics_socket, &err);
		if (!rc->unix_d) {
			logmsg(LOG_ERR, NULL, "%s", err);
			ret = NETSPY_EXIT_USAGE;
			goto out;
		}
	}
	rc->db_path = path;
	ret = start_api(rc, path);
	if (ret)
		goto out;
	rc->resume_ns = history_resume_point(rc->h) * NS;
	ao.replay_since_ns = rc->resume_ns;
	r = analyzer_init(&rc->an, &ao);
	if (r < 0) {
		logmsg(LOG_ERR, NULL, "%s", rc->an.error);
		ret = NETSPY_EXIT_UNREACHABLE;
		goto out;
	}
	logmsg(LOG_INFO, RECORD_MSGID_STARTED,
	       "recording into %s (retention %u days, max size %llu bytes, %u keys per minute); "
	       "metrics on %s%s%s; API on %s%s%s%s",
	       path, o->retention_days, (unsigned long long)o->max_size, o->max_keys,
	       o->metrics_listen, o->metrics_socket ? " and " : "",
	       o->metrics_socket ? o->metrics_socket : "",
	       rc->api && o->api_socket ? o->api_socket : rc->api ? "" : "none",
	       rc->api && o->api_socket && o->api_listen ? " and " : "",
	       rc->api && o->api_listen ? o->api_listen : "",
	       rc->api && o->api_ai ? " (AI tools on)" : "");
	sd_notify(0, "READY=1");
	if (sd_watchdog_enabled(0, &watchdog_us) <= 0)
		watchdog_us = 0;
	while (!frontend_interrupted) {
		uint64_t now_us;

		r = analyzer_poll(&rc->an, 250);
		if (r > 0)
			rc->last_event_ms = (uint64_t)clock_ms(CLOCK_MONOTONIC);
		if (r < 0) {
			if (!warned)
				logmsg(LOG_WARNING, NULL, "%s (retrying)", rc->an.error);
			warned = true;
			poll(NULL, 0, 1000);
		} else if (warned || rc->an.notice[0]) {
			if (rc->an.reconnects <= 1 && !followed)
				logmsg(LOG_INFO, NULL, "following netspyd at %s",
				       rc->an.client.path);
			else
				logmsg(LOG_INFO, NULL, "%s",
				       rc->an.notice[0] ? rc->an.notice : "following netspyd");
			rc->an.notice[0] = 0;
			warned = false;
			followed = true;
		}
		process(rc, clock_ns(CLOCK_REALTIME));
		now_us = clock_ns(CLOCK_MONOTONIC) / 1000;
		if (watchdog_us && now_us - last_ping >= watchdog_us / 2) {
			sd_notify(0, "WATCHDOG=1");
			last_ping = now_us;
		}
		if (o->anomaly_interval_s && rc->an.connected &&
		    now_us - rc->anomaly_last_us >= o->anomaly_interval_s * 1000000ull) {
			if (rc->anomaly_last_us) /* the first interval collects a baseline */
				check_anomalies(rc);
			rc->anomaly_last_us = now_us;
		}
		if (now_us - last_status >= 10000000) {
			status(rc);
			last_status = now_us;
		}
	}
	sd_notify(0, "STOPPING=1");
	/* The current minute is left unwritten: a restart replays it from netspyd's backlog. */
	analyzer_close(&rc->an);
out:
	api_stop(rc->api); /* first: its calls may still be running */
	if (rc->tcp)
		MHD_stop_daemon(rc->tcp);
	if (rc->unix_d)
		MHD_stop_daemon(rc->unix_d);
	if (rc->unix_fd >= 0) {
		close(rc->unix_fd);
		unlink(o->metrics_socket);
	}
	history_close(rc->h);
	recorder_fini(rc);
	free(path);
	free(moved);
	free(err);
	free(rc);
	return ret;
}

/* ---- options ---- */

static void record_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: netspyctl record [OPTION]...\n"
	    "Follow netspyd and keep per-minute rollups in STATE_DIR/history.db (SQLite), and\n"
	    "serve Prometheus metrics. Runs as netspy-recorder.service.\n\n"
	    "  -s, --socket PATH          netspyd's socket (env NETSPY_SOCKET)\n"
	    "      --state-dir DIR        where history.db lives (default %s)\n"
	    "      --retention DAYS       keep this many days (default %d; 0: forever)\n"
	    "      --max-size BYTES       bound the database (default %llu; 0: unbounded)\n"
	    "      --max-keys N           distinct keys per minute and table; the rest is\n"
	    "                             summed as \"other\" (default %d)\n"
	    "      --metrics-listen ADDR:PORT  /metrics over HTTP (default %s; \"none\": off)\n"
	    "      --metrics-socket PATH  also serve /metrics on a Unix socket (mode 0660, the\n"
	    "                             recorder's group): the guarded listener\n"
	    "      --max-series N         series per metric; past it process=\"other\" "
	    "(default %d)\n"
	    "      --grace SECONDS        roll an event up once this old (default 15)\n"
	    "      --anomaly-interval SECONDS  run find_anomalies this often and journal each\n"
	    "                             finding (MESSAGE_ID=%s) at most once per interval\n"
	    "                             or window (default %d; 0: never)\n"
	    "      --anomaly-window SECONDS    the recent window it checks (default %d)\n"
	    "      --api-socket PATH      the HTTP + JSON API on a Unix socket (mode 0660, the\n"
	    "                             recorder's group; default %s;\n"
	    "                             \"none\": off); see docs/api.md\n"
	    "      --api-listen ADDR:PORT also serve the API over TCP (needs --api-token-file)\n"
	    "      --api-token-file FILE  the bearer token TCP clients must send (one line; the\n"
	    "                             file must not be readable by others)\n"
	    "      --api-ai               also offer the AI tools (ai_insights,\n"
	    "                             contextual_analysis) over the API\n",
	    RECORD_DEFAULT_STATE_DIR, RECORD_DEFAULT_RETENTION_DAYS,
	    (unsigned long long)RECORD_DEFAULT_MAX_SIZE, RECORD_DEFAULT_MAX_KEYS,
	    RECORD_DEFAULT_LISTEN, RECORD_DEFAULT_MAX_SERIES, RECORD_MSGID_ANOMALY,
	    RECORD_DEFAULT_ANOMALY_INTERVAL, RECORD_DEFAULT_ANOMALY_WINDOW, API_DEFAULT_SOCKET);
}

static int number(const char *opt, const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || s[0] == '-' || errno || v > max) {
		fprintf(stderr, "netspyctl record: %s needs a whole number up to %llu, not '%s'\n",
			opt, (unsigned long long)max, s);
		return -1;
	}
	*ret = v;
	return 0;
}

int record_parse(int argc, char **argv, struct record_opts *ret)
{
	enum {
		O_STATE = 256,
		O_RET,
		O_SIZE,
		O_KEYS,
		O_LISTEN,
		O_USOCK,
		O_SERIES,
		O_GRACE,
		O_API_SOCK,
		O_API_LISTEN,
		O_API_TOKEN,
		O_API_AI,
		O_AINTERVAL,
		O_AWINDOW,
	};
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "retention", required_argument, NULL, O_RET },
		{ "max-size", required_argument, NULL, O_SIZE },
		{ "max-keys", required_argument, NULL, O_KEYS },
		{ "metrics-listen", required_argument, NULL, O_LISTEN },
		{ "metrics-socket", required_argument, NULL, O_USOCK },
		{ "max-series", required_argument, NULL, O_SERIES },
		{ "grace", required_argument, NULL, O_GRACE },
		{ "api-socket", required_argument, NULL, O_API_SOCK },
		{ "api-listen", required_argument, NULL, O_API_LISTEN },
		{ "api-token-file", required_argument, NULL, O_API_TOKEN },
		{ "api-ai", no_argument, NULL, O_API_AI },
		{ "anomaly-interval", required_argument, NULL, O_AINTERVAL },
		{ "anomaly-window", required_argument, NULL, O_AWINDOW },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	int opt;

	*ret = (struct record_opts){
		.socket = ret->socket,
		.state_dir = RECORD_DEFAULT_STATE_DIR,
		.metrics_listen = RECORD_DEFAULT_LISTEN,
		.retention_days = RECORD_DEFAULT_RETENTION_DAYS,
		.max_size = RECORD_DEFAULT_MAX_SIZE,
		.max_keys = RECORD_DEFAULT_MAX_KEYS,
		.max_series = RECORD_DEFAULT_MAX_SERIES,
		.grace_s = 15,
		.api_socket = API_DEFAULT_SOCKET,
		.anomaly_interval_s = RECORD_DEFAULT_ANOMALY_INTERVAL,
		.anomaly_window_s = RECORD_DEFAULT_ANOMALY_WINDOW,
	};
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case O_STATE:
			ret->state_dir = optarg;
			break;
		case O_LISTEN:
			ret->metrics_listen = optarg;
			break;
		case O_USOCK:
			ret->metrics_socket = optarg;
			break;
		case O_API_SOCK:
			ret->api_socket = strcmp(optarg, "none") ? optarg : NULL;
			ret->api_socket_given = true;
			break;
		case O_API_LISTEN:
			ret->api_listen = optarg;
			break;
		case O_API_TOKEN:
			ret->api_token_file = optarg;
			break;
		case O_API_AI:
			ret->api_ai = true;
			break;
		case O_RET:
			if (number("--retention", optarg, 36500, &v))
				return 1;
			ret->retention_days = (unsigned)v;
			break;
		case O_SIZE:
			if (number("--max-size", optarg, UINT64_MAX, &v))
				return 1;
			if (v && v < (1u << 20)) {
				fprintf(stderr,
					"netspyctl record: --max-size is at least 1048576\n");
				return 1;
			}
			ret->max_size = v;
			break;
		case O_KEYS:
			if (number("--max-keys", optarg, 1000000, &v) || !v)
				return v ? 1
					 : (fprintf(stderr, "netspyctl record: --max-keys "
							    "must be at least 1\n"),
					    1);
			ret->max_keys = (unsigned)v;
			break;
		case O_SERIES:
			if (number("--max-series", optarg, 1000000, &v))
				return 1;
			ret->max_series = (unsigned)v;
			break;
		case O_GRACE:
			if (number("--grace", optarg, 600, &v))
				return 1;
			ret->grace_s = (unsigned)v;
			break;
		case O_AINTERVAL:
			if (number("--anomaly-interval", optarg, 86400, &v))
				return 1;
			ret->anomaly_interval_s = (unsigned)v;
			break;
		case O_AWINDOW:
			if (number("--anomaly-window", optarg, 86400, &v))
				return 1;
			if (!v) {
				fprintf(stderr, "netspyctl record: --anomaly-window must be at "
						"least 1\n");
				return 1;
			}
			ret->anomaly_window_s = (unsigned)v;
			break;
		case 'h':
			record_usage(stdout);
			return 2;
		default:
			fprintf(stderr, "Try 'netspyctl record --help'.\n");
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netspyctl record: unexpected argument '%s'\n", argv[optind]);
		return 1;
	}
	return 0;
}
