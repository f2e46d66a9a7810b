/* netspyd: loads netspy's eBPF programs, keeps a bounded backlog of what they see and streams it
 * to clients over a Unix socket. Modules are set up in a fixed order and undone in reverse; every
 * capability is dropped at one visible point before the first client byte is read. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "backlog.h"
#include "caps.h"
#include "dropnames.h"
#include "log.h"
#include "probes.h"
#include "server.h"
#include "tally.h"

struct config {
	const char *socket_path;
	const char *group;
	mode_t socket_mode;
	size_t backlog_events;
	unsigned backlog_age_s;
	size_t ringbuf_bytes;
	unsigned flush_ms;
	unsigned flood_threshold;
	unsigned flood_interval_s;
	unsigned max_clients;
	size_t client_buffer;
	unsigned stall_timeout_s;
	const char *cgroup_root;
	bool drops;
	bool dns;
	bool check_peers;
	enum log_target log_target;
	int log_level;
};

struct daemon {
	struct config cfg;
	struct backlog bl;
	struct probes probes;
	struct dropnames *names;
	struct server srv;
	int epfd;
	struct watch ring_w, signal_w, timer_w;
	int sfd, tfd;
	bool stop;
	uint64_t started_mono_ns;
	int64_t boot_to_real_ns;
	uint64_t boot_id;
	uint64_t events_total;
	uint64_t by_type[NETSPY_EV_MAX];
	uint64_t retrans_segments; /* segments the retransmit events carried */
	uint64_t kernel_lost;
	uint64_t last_loss_log_mono;
	uint64_t loss_unlogged;
	uint64_t watchdog_usec;
	uint64_t last_watchdog_ns;
	uint64_t last_second_ns;
	struct tally tally;
	uint64_t events_folded;
	/* Flood mode (folding on some CPU), for status and the journal. */
	bool flood;
	uint64_t flood_since_ns, flood_rate, flood_peak, flood_episodes, flood_folded_at_start;
	unsigned flood_cpus;
	unsigned flood_kinds; /* kinds (1 << enum netspy_fold_kind) that folded in this flood */
	unsigned seconds_to_flush;
	/* Storage for the latest Counters answer. */
	Netspy__V1__Counter *ct;
	Netspy__V1__Counter **ct_ptrs;
	char (*ct_names)[64];
	size_t ct_cap;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: netspyd [OPTION]...\n"
	    "Trace connection attempts, TCP connect outcomes and packet drops with eBPF and\n"
	    "stream them to netspyctl and other clients over a Unix socket. Runs as root\n"
	    "(normally as the systemd service netspyd.service).\n"
	    "\n"
	    "Socket:\n"
	    "  -s, --socket PATH        listen here (env NETSPY_SOCKET; default %s)\n"
	    "  -g, --group NAME         group allowed to connect (default netspy)\n"
	    "      --socket-mode MODE   socket file mode, octal (default 0660)\n"
	    "      --max-clients N      clients served at once (default 64)\n"
	    "      --client-buffer BYTES  output buffered per client (default 4194304)\n"
	    "      --stall-timeout SECS cut off a client that reads nothing this long (default "
	    "30)\n"
	    "      --no-peer-check      do not check client credentials (testing only)\n"
	    "\n"
	    "Collection:\n"
	    "      --backlog-events N   events kept for replay (default 131072)\n"
	    "      --backlog-age SECS   drop backlog events older than this (default 3600)\n"
	    "      --ringbuf-size BYTES kernel event buffers, power of two (default 16777216): "
	    "half\n"
	    "                           for the per-CPU rings of connects, outcomes, the TCP\n"
	    "                           lifecycle and drops, half for the ring buffer of DNS\n"
	    "                           messages\n"
	    "      --flush-interval MS  drain the kernel buffers at least this often (default 20)\n"
	    "      --cgroup PATH        cgroup2 directory to attach to (default: the cgroup2 "
	    "root)\n"
	    "      --no-drops           do not trace packet drops\n"
	    "      --no-dns             do not trace DNS messages (queries and responses)\n"
	    "      --flood-threshold N  events of one kind per second on one CPU (drops, TCP\n"
	    "                           retransmits, TCP resets) above which identical ones\n"
	    "                           are folded into one record with a count (default\n"
	    "                           10000; 0: never fold)\n"
	    "      --flood-interval SECS  seconds one folded record spans at most (default 1)\n"
	    "\n"
	    "Logging:\n"
	    "      --log-target T       auto, journal or console (default auto: the journal when\n"
	    "                           stderr is connected to it)\n"
	    "  -v, --verbose            log client connections and other details\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n"
	    "\n"
	    "Clients need read-write access to the socket: root, or membership in its group.\n"
	    "Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 on a usage error, 2 when\n"
	    "setup fails (the message says which step).\n",
	    NETSPY_DEFAULT_SOCKET);
}

static int parse_size(const char *s, size_t min, size_t max, size_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max || s[0] == '-')
		return -EINVAL;
	*ret = (size_t)v;
	return 0;
}

enum {
	OPT_SOCKET_MODE = 256,
	OPT_MAX_CLIENTS,
	OPT_CLIENT_BUFFER,
	OPT_STALL,
	OPT_NO_PEER_CHECK,
	OPT_BACKLOG_EVENTS,
	OPT_BACKLOG_AGE,
	OPT_RINGBUF,
	OPT_FLUSH,
	OPT_CGROUP,
	OPT_NO_DROPS,
	OPT_NO_DNS,
	OPT_LOG_TARGET,
	OPT_FLOOD_THRESHOLD,
	OPT_FLOOD_INTERVAL,
};

static int bad_value(const char *opt, const char *val, const char *expect)
{
	fprintf(stderr, "netspyd: invalid value '%s' for %s: expected %s\n", val, opt, expect);
	return -EINVAL;
}

static int parse_numeric(int opt, const char *arg, struct config *c)
{
	size_t v;

	switch (opt) {
	case OPT_SOCKET_MODE:
		if (parse_size(arg, 0, 0777, &v) < 0 || arg[0] != '0')
			return bad_value("--socket-mode", arg, "an octal mode such as 0660");
		c->socket_mode = (mode_t)v;
		return 0;
	case OPT_MAX_CLIENTS:
		if (parse_size(arg, 1, 4096, &v) < 0)
			return bad_value("--max-clients", arg, "1 to 4096");
		c->max_clients = (unsigned)v;
		return 0;
	case OPT_CLIENT_BUFFER:
		if (parse_size(arg, 65536, 1ull << 30, &v) < 0)
			return bad_value("--client-buffer", arg, "65536 to 1073741824 bytes");
		c->client_buffer = v;
		return 0;
	case OPT_STALL:
		if (parse_size(arg, 1, 86400, &v) < 0)
			return bad_value("--stall-timeout", arg, "1 to 86400 seconds");
		c->stall_timeout_s = (unsigned)v;
		return 0;
	case OPT_BACKLOG_EVENTS:
		if (parse_size(arg, 1, 1u << 26, &v) < 0)
			return bad_value("--backlog-events", arg, "1 to 67108864");
		c->backlog_events = v;
		return 0;
	case OPT_BACKLOG_AGE:
		if (parse_size(arg, 1, 30 * 86400, &v) < 0)
			return bad_value("--backlog-age", arg, "1 to 2592000 seconds");
		c->backlog_age_s = (unsigned)v;
		return 0;
	case OPT_RINGBUF:
		if (parse_size(arg, 4096, 1u << 30, &v) < 0 || (v & (v - 1)))
			return bad_value("--ringbuf-size", arg, "a power of two from 4096 to 2^30");
		c->ringbuf_bytes = v;
		return 0;
	case OPT_FLUSH:
		if (parse_size(arg, 1, 10000, &v) < 0)
			return bad_value("--flush-interval", arg, "1 to 10000 milliseconds");
		c->flush_ms = (unsigned)v;
		return 0;
	case OPT_FLOOD_THRESHOLD:
		if (parse_size(arg, 0, 100000000, &v) < 0)
			return bad_value("--flood-threshold", arg,
					 "0 to 100000000 events per second");
		c->flood_threshold = (unsigned)v;
		return 0;
	case OPT_FLOOD_INTERVAL:
		if (parse_size(arg, 1, 60, &v) < 0)
			return bad_value("--flood-interval", arg, "1 to 60 seconds");
		c->flood_interval_s = (unsigned)v;
		return 0;
	}
	return -EINVAL;
}

/* Returns 0 to run, 1 when done (help/version), -EINVAL on a usage error. */
static int parse_args(int argc, char **argv, struct config *c)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "group", required_argument, NULL, 'g' },
		{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
		{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
		{ "client-buffer", required_argument, NULL, OPT_CLIENT_BUFFER },
		{ "stall-timeout", required_argument, NULL, OPT_STALL },
		{ "no-peer-check", no_argument, NULL, OPT_NO_PEER_CHECK },
		{ "backlog-events", required_argument, NULL, OPT_BACKLOG_EVENTS },
		{ "backlog-age", required_argument, NULL, OPT_BACKLOG_AGE },
		{ "ringbuf-size", required_argument, NULL, OPT_RINGBUF },
		{ "flush-interval", required_argument, NULL, OPT_FLUSH },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "no-drops", no_argument, NULL, OPT_NO_DROPS },
		{ "no-dns", no_argument, NULL, OPT_NO_DNS },
		{ "log-target", required_argument, NULL, OPT_LOG_TARGET },
		{ "flood-threshold", required_argument, NULL, OPT_FLOOD_THRESHOLD },
		{ "flood-interval", required_argument, NULL, OPT_FLOOD_INTERVAL },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "s:g:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			c->socket_path = optarg;
			break;
		case 'g':
			c->group = optarg;
			break;
		case OPT_NO_PEER_CHECK:
			c->check_peers = false;
			break;
		case OPT_CGROUP:
			c->cgroup_root = optarg;
			break;
		case OPT_NO_DROPS:
			c->drops = false;
			break;
		case OPT_NO_DNS:
			c->dns = false;
			break;
		case OPT_LOG_TARGET:
			if (!strcmp(optarg, "auto"))
				c->log_target = LOG_TARGET_AUTO;
			else if (!strcmp(optarg, "journal"))
				c->log_target = LOG_TARGET_JOURNAL;
			else if (!strcmp(optarg, "console"))
				c->log_target = LOG_TARGET_CONSOLE;
			else
				return bad_value("--log-target", optarg,
						 "auto, journal or console");
			break;
		case 'v':
			c->log_level = LOG_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("netspyd %s (protocol %d)\n", NETSPY_VERSION,
			       NETSPY_PROTOCOL_VERSION);
			return 1;
		case '?':
			fprintf(stderr, "Try 'netspyd --help' for more information.\n");
			return -EINVAL;
		default:
			if (parse_numeric(opt, optarg, c) < 0)
				return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netspyd: unexpected argument '%s'\n", argv[optind]);
		fprintf(stderr, "Try 'netspyd --help' for more information.\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- event flow ---------------------------------------------------------------------------- */

static void on_event(void *ctx, const struct netspy_event *ev)
{
	struct daemon *d = ctx;
	uint64_t seq = ev->type == NETSPY_EV_DNS
			   ? backlog_push_dns(&d->bl, ev, ((const struct netspy_dns_record *)ev)->data)
			   : backlog_push(&d->bl, ev);
	struct netspy_event *stored = &d->bl.ring[seq & (d->bl.cap - 1)];

	/* A folded record stands for count events: every total counts it so. */
	uint64_t weight = netspy_event_count(ev);

	stored->ts_ns = (uint64_t)((int64_t)ev->ts_ns + d->boot_to_real_ns);
	d->events_total += weight;
	if (netspy_event_fold_count(ev))
		d->events_folded += weight;
	if (ev->type < NETSPY_EV_MAX)
		d->by_type[ev->type] += weight;
	if (ev->type == NETSPY_EV_TCP_RETRANSMIT)
		d->retrans_segments += weight * (ev->sig.segs ? ev->sig.segs : 1);
	tally_event(&d->tally, ev, stored->ts_ns, weight);
}

/* Wall clock from which folded counts may still be in the kernel (0: none pending). */
static uint64_t folded_pending_since(void *ctx)
{
	struct daemon *d = ctx;
	uint64_t t = probes_fold_pending_since(&d->probes);

	return t ? (uint64_t)((int64_t)t + d->boot_to_real_ns) : 0;
}

static void fill_counters(void *ctx, const Netspy__V1__CountersRequest *req,
			  Netspy__V1__Counters *out)
{
	struct daemon *d = ctx;
	struct tally_entry *e = NULL;
	size_t n = 0, k = 0;
	uint64_t since = 0;

	out->until_ns = req->until_ns ? req->until_ns : clock_ns(CLOCK_REALTIME);
	if (tally_query(&d->tally, req->since_ns, req->until_ns, &e, &n, &since) < 0)
		n = 0;
	out->since_ns = since;
	out->folded_pending_since_ns = folded_pending_since(d);
	if (n > d->ct_cap) {
		free(d->ct);
		free(d->ct_ptrs);
		free(d->ct_names);
		d->ct = calloc(n, sizeof(*d->ct));
		d->ct_ptrs = calloc(n, sizeof(*d->ct_ptrs));
		d->ct_names = calloc(n, sizeof(*d->ct_names));
		d->ct_cap = d->ct && d->ct_ptrs && d->ct_names ? n : 0;
	}
	for (size_t i = 0; i < n && k < d->ct_cap && k < NETSPY_MAX_COUNTERS; i++) {
		Netspy__V1__Counter *c = &d->ct[k];

		if (e[i].kind == TALLY_LOST) {
			out->events_lost += e[i].count;
			continue;
		}
		netspy__v1__counter__init(c);
		c->kind = (Netspy__V1__CounterKind)e[i].kind;
		c->event_kind = (Netspy__V1__EventKind)e[i].type;
		c->key = e[i].key;
		c->count = e[i].count;
		if (e[i].kind == TALLY_DROP_REASON && e[i].key == TALLY_KEY_OTHER)
			c->name = (char *)"other"; /* reasons beyond a second's room */
		else if (e[i].kind == TALLY_DROP_REASON)
			c->name = (char *)dropnames_get(d->names, e[i].key, d->ct_names[k],
							sizeof(d->ct_names[k]));
		d->ct_ptrs[k++] = c;
	}
	out->counters = d->ct_ptrs;
	out->n_counters = k;
	free(e);
}

static void update_clock_offset(struct daemon *d)
{
	d->boot_to_real_ns = (int64_t)clock_ns(CLOCK_REALTIME) - (int64_t)clock_ns(CLOCK_BOOTTIME);
}

static void fill_stats(void *ctx, Netspy__V1__Stats *st)
{
	struct daemon *d = ctx;
	const struct netspy_event *oldest = backlog_get(&d->bl, d->bl.tail);
	uint64_t cnt[NETSPY_CNT_MAX];

	st->version = (char *)NETSPY_VERSION;
	st->uptime_seconds = (clock_ns(CLOCK_MONOTONIC) - d->started_mono_ns) / 1000000000ull;
	st->events_total = d->events_total;
	st->events_lost = d->kernel_lost;
	st->clients = d->srv.n_clients;
	st->backlog_events = backlog_len(&d->bl);
	st->backlog_capacity = d->bl.limit;
	st->backlog_oldest_ns = oldest ? oldest->ts_ns : 0;
	st->connects_total = d->by_type[NETSPY_EV_CONNECT];
	st->tcp_outcomes_total = d->by_type[NETSPY_EV_TCP_OUTCOME];
	st->drops_total = d->by_type[NETSPY_EV_DROP];
	st->tcp_accepts_total = d->by_type[NETSPY_EV_TCP_ACCEPT];
	st->tcp_ends_total = d->by_type[NETSPY_EV_TCP_END];
	st->tcp_retransmits_total = d->retrans_segments;
	st->tcp_resets_total = d->by_type[NETSPY_EV_TCP_RESET];
	st->clients_refused = d->srv.cnt.refused;
	st->clients_dropped_events = d->srv.cnt.client_lost_events;
	st->boot_id = d->boot_id;
	st->dns_messages_total = d->by_type[NETSPY_EV_DNS];
	if (probes_counters(&d->probes, cnt) == 0)
		st->dns_truncated_total = cnt[NETSPY_CNT_DNS_TRUNC];
	st->dns_payloads_evicted = d->bl.payload_evicted;
	st->flood_active = d->flood;
	st->flood_rate = d->flood ? d->flood_rate : 0;
	st->flood_since_ns = d->flood ? d->flood_since_ns : 0;
	st->events_folded = d->events_folded;
	st->flood_threshold = d->probes.hz ? d->cfg.flood_threshold : 0;
	st->flood_episodes = d->flood_episodes;
	st->folded_pending_since_ns = folded_pending_since(d);
}

/* Flood mode starts when a CPU begins folding and ends when none has for a second: one journal
 * record each, with the rate; a kind that begins folding during a flood gets a start record of
 * its own. */
static void check_flood(struct daemon *d)
{
	static const char *const kinds[NETSPY_FOLD_KINDS] = { "drops", "retransmits", "resets" };
	char f1[48], f2[48], f3[48], f4[64], rates[160], names[40] = "";
	const char *fields[] = { f1, f2, f3, f4, NULL };
	uint64_t rate = 0, by_kind[NETSPY_FOLD_KINDS];
	unsigned cpus, folding;
	size_t off = 0;

	probes_flood_state(&d->probes, &cpus, &folding, by_kind);
	for (int k = 0; k < NETSPY_FOLD_KINDS; k++)
		rate += by_kind[k];
	d->flood_cpus = cpus;
	if (cpus) {
		d->flood_rate = rate;
		if (rate > d->flood_peak)
			d->flood_peak = rate;
	}
	if (cpus && (!d->flood || (folding & ~d->flood_kinds))) {
		if (!d->flood) {
			d->flood = true;
			d->flood_since_ns = clock_ns(CLOCK_REALTIME);
			d->flood_episodes++;
			d->flood_peak = rate;
			d->flood_folded_at_start = d->events_folded;
			d->flood_kinds = 0;
		}
		folding &= ~d->flood_kinds; /* the kinds this record announces */
		d->flood_kinds |= folding;
		snprintf(f1, sizeof(f1), "FLOOD_RATE=%" PRIu64, rate);
		snprintf(f2, sizeof(f2), "FLOOD_CPUS=%u", cpus);
		snprintf(f3, sizeof(f3), "FLOOD_THRESHOLD=%u", d->cfg.flood_threshold);
		/* The kinds folding, and each one's rate: "12000 drops/s, 3000 retransmits/s". */
		rates[0] = 0;
		for (int k = 0; k < NETSPY_FOLD_KINDS; k++) {
			size_t n = strlen(names);

			if (!(folding & (1u << k)))
				continue;
			snprintf(names + n, sizeof(names) - n, "%s%s", n ? "," : "", kinds[k]);
			if (off < sizeof(rates))
				off += (size_t)snprintf(rates + off, sizeof(rates) - off,
							"%s%" PRIu64 " %s/s", off ? ", " : "",
							by_kind[k], kinds[k]);
		}
		snprintf(f4, sizeof(f4), "FLOOD_KINDS=%s", names);
		log_record(LOG_WARNING, MSGID_FLOOD_STARTED, fields,
			   "flood mode: %s on %u CPU%s (threshold %u per CPU and kind): identical "
			   "events are folded into records with a count",
			   rates, cpus, cpus == 1 ? "" : "s", d->cfg.flood_threshold);
	} else if (!cpus && d->flood) {
		uint64_t secs = (clock_ns(CLOCK_REALTIME) - d->flood_since_ns) / 1000000000ull;

		d->flood = false;
		snprintf(f1, sizeof(f1), "FLOOD_PEAK_RATE=%" PRIu64, d->flood_peak);
		snprintf(f2, sizeof(f2), "FLOOD_SECONDS=%" PRIu64, secs);
		snprintf(f3, sizeof(f3), "FLOOD_FOLDED=%" PRIu64,
			 d->events_folded - d->flood_folded_at_start);
		snprintf(f4, sizeof(f4), "FLOOD_RECORDS=%" PRIu64, d->probes.folded_records);
		log_record(LOG_NOTICE, MSGID_FLOOD_ENDED, fields,
			   "flood mode ended after %" PRIu64 " s: peak %" PRIu64
			   " events/s, %" PRIu64 " events folded so far, every event delivered one by "
			   "one again",
			   secs, d->flood_peak, d->events_folded - d->flood_folded_at_start);
	}
}

/* Kernel-side losses: every subscriber is told, and the journal gets at most one record a minute.
 */
static void check_kernel_loss(struct daemon *d, uint64_t now_s)
{
	uint64_t cnt[NETSPY_CNT_MAX], delta;
	char f1[48], f2[48];
	const char *fields[] = { f1, f2, NULL };

	if (probes_counters(&d->probes, cnt) < 0 || cnt[NETSPY_CNT_LOST] <= d->kernel_lost)
		return;
	/* Drain first: the lost counter is read after the events around it are in the backlog. */
	delta = cnt[NETSPY_CNT_LOST] - d->kernel_lost;
	d->kernel_lost = cnt[NETSPY_CNT_LOST];
	tally_add(&d->tally, clock_ns(CLOCK_REALTIME), TALLY_LOST, 0, 0, delta);
	server_kernel_loss(&d->srv, delta, d->kernel_lost);
	d->loss_unlogged += delta;
	if (d->last_loss_log_mono && now_s - d->last_loss_log_mono < 60)
		return;
	snprintf(f1, sizeof(f1), "EVENTS_LOST=%" PRIu64, d->loss_unlogged);
	snprintf(f2, sizeof(f2), "EVENTS_LOST_TOTAL=%" PRIu64, d->kernel_lost);
	log_record(LOG_WARNING, MSGID_EVENTS_LOST, fields,
		   "kernel buffer full: %" PRIu64 " events lost (%" PRIu64
		   " in total); consider a larger --ringbuf-size",
		   d->loss_unlogged, d->kernel_lost);
	d->loss_unlogged = 0;
	d->last_loss_log_mono = now_s;
}

static void every_second(struct daemon *d, uint64_t now_ns)
{
	uint64_t now_s = now_ns / 1000000000ull;

	update_clock_offset(d);
	if (d->seconds_to_flush <= 1) {
		/* Folded counts two epochs old become records (before the loss check, like every
		 * other drained record). */
		probes_fold_flush(&d->probes);
		d->seconds_to_flush = d->cfg.flood_interval_s;
	} else {
		d->seconds_to_flush--;
	}
	check_flood(d);
	check_kernel_loss(d, now_s);
	backlog_expire(&d->bl, clock_ns(CLOCK_REALTIME));
	server_tick(&d->srv, now_s);
	sd_notifyf(0, "STATUS=%" PRIu64 " events, %" PRIu64 " lost, %u clients, backlog %zu/%zu",
		   d->events_total, d->kernel_lost, d->srv.n_clients, backlog_len(&d->bl),
		   d->bl.limit);
}

static void on_timer(struct daemon *d)
{
	uint64_t expirations, now = clock_ns(CLOCK_MONOTONIC);

	if (read(d->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_warn("timer: %m");
	probes_drain(&d->probes);
	if (now - d->last_second_ns >= 1000000000ull) {
		d->last_second_ns = now;
		every_second(d, now);
	}
	if (d->watchdog_usec && now - d->last_watchdog_ns >= d->watchdog_usec * 1000 / 2) {
		sd_notify(0, "WATCHDOG=1");
		d->last_watchdog_ns = now;
	}
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			d->stop = true;
	}
}

static int run(struct daemon *d)
{
	struct epoll_event evs[64];

	while (!d->stop) {
		int n = epoll_wait(d->epfd, evs, 64, -1);

		if (n < 0) {
			int err = -errno;

			if (err == -EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(-err));
			return err;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			switch (w->type) {
			case WATCH_RING:
				probes_drain(&d->probes);
				break;
			case WATCH_SIGNAL:
				on_signal(d);
				break;
			case WATCH_TIMER:
				on_timer(d);
				break;
			default:
				server_handle(&d->srv, w, evs[i].events);
				break;
			}
		}
		server_pump(&d->srv);
	}
	return 0;
}

/* ---- setup and teardown ------------------------------------------------------------------- */

static int libbpf_log_level = LOG_INFO;

/* libbpf's messages, the verifier's log among them, go through netspyd's logger one line per
 * record: to the journal under systemd, to stderr otherwise. Its debug output only with -v. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static char buf[1 << 16];
	int prio = level == LIBBPF_WARN ? LOG_WARNING : LOG_DEBUG;
	char *save = NULL;

	if (prio > libbpf_log_level)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_record(prio, NULL, NULL, "%s", line);
	return 0;
}

/* What this kernel offers, and what each missing optional feature costs. */
static void log_kernel(const struct daemon *d)
{
	const struct kernel_features *f = &d->probes.features;
	struct utsname u;
	char have[256];

	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	kernel_features_list(f, true, have, sizeof(have));
	log_info("kernel %s, BPF features: %s", u.release, have);
	for (int i = 0; i < KERNEL_F_MAX; i++) {
		const struct kernel_feature_info *fi = kernel_feature_info((enum kernel_feature)i);
		bool matters = i != KERNEL_F_DROP_REASON || d->cfg.drops;

		if (f->has[i] || fi->required || !matters)
			continue;
		log_record(i == KERNEL_F_DROP_REASON ? LOG_WARNING : LOG_INFO, NULL, NULL,
			   "this kernel lacks %s (Linux %s or newer): %s", fi->what, fi->since,
			   fi->without);
	}
}

static int watch_fd(struct daemon *d, int fd, struct watch *w, enum watch_type type)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	w->type = type;
	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int setup_loop(struct daemon *d)
{
	struct itimerspec its = { 0 };
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	/* Each call's errno is taken at once: a later call may change it. */
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	d->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sfd < 0)
		return -errno;
	d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->tfd < 0)
		return -errno;
	its.it_interval.tv_sec = d->cfg.flush_ms / 1000;
	its.it_interval.tv_nsec = (long)(d->cfg.flush_ms % 1000) * 1000000L;
	its.it_value = its.it_interval;
	if (timerfd_settime(d->tfd, 0, &its, NULL) < 0)
		return -errno;
	r = watch_fd(d, d->sfd, &d->signal_w, WATCH_SIGNAL);
	if (!r)
		r = watch_fd(d, d->tfd, &d->timer_w, WATCH_TIMER);
	if (!r)
		r = watch_fd(d, probes_fd(&d->probes), &d->ring_w, WATCH_RING);
	return r;
}

static int resolve_group(const char *name, gid_t *ret)
{
	struct group gr, *res = NULL;
	char buf[4096];
	int r = getgrnam_r(name, &gr, buf, sizeof(buf), &res);

	if (r || !res)
		return r ? -r : -ENOENT;
	*ret = res->gr_gid;
	return 0;
}

/* Without CAP_CHOWN (a hardened unit) the socket can only get the group when it is netspyd's own
 * group (Group=netspy); say so rather than leave every group member locked out silently. */
static void check_socket_group(const char *path, gid_t gid, const char *group)
{
	struct stat st;

	if (stat(path, &st) == 0 && st.st_gid != gid)
		log_warn("socket %s is not in group %s (no CAP_CHOWN?): only root can connect; run "
			 "netspyd with group %s as its primary group (Group=%s in the unit)",
			 path, group, group, group);
}

static int setup(struct daemon *d)
{
	struct probes_opts po = {
		.ringbuf_bytes = d->cfg.ringbuf_bytes,
		.wakeup_bytes = d->cfg.ringbuf_bytes / 4,
		.cgroup_root = d->cfg.cgroup_root,
		.drops = d->cfg.drops,
		.dns = d->cfg.dns,
		/* Test and benchmark knob: features to treat as missing (kernel.h's keys). */
		.hide_features = getenv("NETSPYD_TEST_HIDE_FEATURES"),
		.flood_threshold = d->cfg.flood_threshold,
		.on_event = on_event,
		.ctx = d,
	};
	struct server_opts so = {
		.path = d->cfg.socket_path,
		.mode = d->cfg.socket_mode,
		.max_clients = d->cfg.max_clients,
		.out_limit = d->cfg.client_buffer,
		.hello_timeout_s = 10,
		.stall_timeout_s = d->cfg.stall_timeout_s,
		.check_peers = d->cfg.check_peers,
	};
	char *why = NULL;
	int r;

	r = resolve_group(d->cfg.group, &so.gid);
	if (r < 0) {
		log_err(
		    "group '%s' does not exist: create it (systemd-sysusers, or groupadd --system "
		    "%s) or choose another with --group",
		    d->cfg.group, d->cfg.group);
		return r;
	}
	r = backlog_init(&d->bl, d->cfg.backlog_events, d->cfg.backlog_age_s * 1000000000ull);
	if (r < 0) {
		log_err("allocating the backlog: %s", strerror(-r));
		return r;
	}
	r = tally_init(&d->tally, clock_ns(CLOCK_REALTIME));
	if (r < 0) {
		log_err("allocating the counters: %s", strerror(-r));
		return r;
	}
	update_clock_offset(d);
	r = probes_init(&d->probes, &po, &why);
	if (r < 0) {
		log_err("%s%s", why ? why : strerror(-r),
			r == -EPERM ? " (netspyd needs root, or at least CAP_BPF, CAP_PERFMON and "
				      "CAP_NET_ADMIN)" : "");
		free(why);
		why = NULL;
		return r;
	}
	log_kernel(d);
	log_info(
	    "kernel buffers: rings of %u slots on each of %d CPUs, a %zu KiB ring buffer for DNS "
	    "messages (--ringbuf-size %zu)",
	    1u << d->probes.conn_order, d->probes.ncpus,
	    probes_shared_ring_bytes(d->cfg.ringbuf_bytes) / 1024, d->cfg.ringbuf_bytes);
	r = dropnames_load(probes_btf(&d->probes), &d->names);
	if (r < 0)
		log_warn(
		    "no drop-reason names in the kernel's BTF (%s): reasons are shown as numbers",
		    strerror(-r));
	/* Loading parsed the kernel's BTF more than once: hand that memory back to the system. */
	probes_release_btf(&d->probes);
	malloc_trim(0);
	r = setup_loop(d);
	if (r < 0) {
		log_err("setting up the event loop: %s", strerror(-r));
		return r;
	}
	r = server_init(&d->srv, &so, d->epfd, &d->bl, d->names, fill_stats, d, &why);
	if (r < 0) {
		log_err("socket %s: %s: %s", d->cfg.socket_path, why ? why : "setting up",
			strerror(-r));
		free(why);
		return r;
	}
	d->srv.counters = fill_counters;
	d->srv.folded_pending = folded_pending_since;
	d->srv.started_real_ns = d->tally.start_sec * 1000000000ull;
	check_socket_group(d->cfg.socket_path, so.gid, d->cfg.group);
	return 0;
}

static void teardown(struct daemon *d)
{
	server_fini(&d->srv);
	probes_fini(&d->probes);
	dropnames_free(d->names);
	backlog_fini(&d->bl);
	tally_fini(&d->tally);
	free(d->ct);
	free(d->ct_ptrs);
	free(d->ct_names);
	if (d->tfd >= 0)
		close(d->tfd);
	if (d->sfd >= 0)
		close(d->sfd);
	if (d->epfd >= 0)
		close(d->epfd);
}

static void announce_ready(struct daemon *d)
{
	char f1[300], f2[64];
	const char *fields[] = { f1, f2, NULL };

	snprintf(f1, sizeof(f1), "NETSPY_SOCKET=%s", d->cfg.socket_path);
	snprintf(f2, sizeof(f2), "NETSPY_BACKLOG=%zu", d->bl.limit);
	log_record(LOG_INFO, MSGID_READY, fields,
		   "ready: programs attached to %s, listening on %s (group %s), %zu drop reasons",
		   d->probes.cgroup_path, d->cfg.socket_path, d->cfg.group,
		   dropnames_count(d->names));
	sd_notifyf(0, "READY=1\nSTATUS=listening on %s", d->cfg.socket_path);
}

static void log_started(void)
{
	const char *fields[] = { "NETSPY_VERSION=" NETSPY_VERSION, NULL };

	log_record(LOG_INFO, MSGID_STARTED, fields, "netspyd %s starting", NETSPY_VERSION);
}

static void log_stopping(const struct daemon *d, int r)
{
	char f1[48], f2[48], f3[48];
	const char *fields[] = { f1, f2, f3, NULL };

	snprintf(f1, sizeof(f1), "EVENTS_TOTAL=%" PRIu64, d->events_total);
	snprintf(f2, sizeof(f2), "EVENTS_LOST_TOTAL=%" PRIu64, d->kernel_lost);
	snprintf(f3, sizeof(f3), "CLIENTS_REFUSED=%" PRIu64, d->srv.cnt.refused);
	log_record(r < 0 ? LOG_ERR : LOG_INFO, MSGID_STOPPING, fields,
		   "stopping%s: %" PRIu64 " events seen, %" PRIu64 " lost in the kernel",
		   r < 0 ? " after an error" : "", d->events_total, d->kernel_lost);
}

int main(int argc, char **argv)
{
	static struct daemon d = {
		.cfg = {
			.group = "netspy",
			.socket_mode = 0660,
			.backlog_events = 131072,
			.backlog_age_s = 3600,
			.ringbuf_bytes = 16u << 20,
			.flush_ms = 20,
			.flood_threshold = 10000,
			.flood_interval_s = 1,
			.max_clients = 64,
			.client_buffer = 4u << 20,
			.stall_timeout_s = 30,
			.drops = true,
			.dns = true,
			.check_peers = true,
			.log_level = LOG_INFO,
		},
		.epfd = -1, .sfd = -1, .tfd = -1,
		.srv = { .fd = -1 }, /* server_fini() before server_init(): nothing to close */
	};
	const char *env = getenv("NETSPY_SOCKET");
	int r;

	d.cfg.socket_path = env && *env ? env : NETSPY_DEFAULT_SOCKET;
	r = parse_args(argc, argv, &d.cfg);
	if (r)
		return r > 0 ? 0 : 1;
	log_init(d.cfg.log_target, d.cfg.log_level);
	libbpf_log_level = d.cfg.log_level;
	libbpf_set_print(libbpf_print);
	d.started_mono_ns = clock_ns(CLOCK_MONOTONIC);
	if (getrandom(&d.boot_id, sizeof(d.boot_id), 0) != sizeof(d.boot_id))
		d.boot_id = d.started_mono_ns ^ (uint64_t)getpid();
	log_started();

	if (setup(&d) < 0) {
		teardown(&d);
		return 2;
	}
	/* Everything privileged is done: drop every capability before reading any client byte. */
	r = caps_drop_all();
	if (r < 0) {
		log_err("dropping capabilities: %s", strerror(-r));
		teardown(&d);
		return 2;
	}
	if (sd_watchdog_enabled(0, &d.watchdog_usec) <= 0)
		d.watchdog_usec = 0;
	announce_ready(&d);

	r = run(&d);

	sd_notify(0, "STOPPING=1");
	log_stopping(&d, r);
	teardown(&d);
	return r < 0 ? 2 : 0;
}
