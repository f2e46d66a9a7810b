/* netspyctl status and watch: one stats round trip, or a live subscription printed as it arrives.
 */
#include <errno.h>
#include <stdlib.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "core/client.h"
#include "core/format.h"
#include "frontends/frontend.h"
#include "core/history.h"
#include "frontends/live.h"

static int connect_or_explain(struct netspy_client *c, const struct live_opts *o)
{
	int r = netspy_client_connect(c, netspy_socket_path(o->socket), "netspyctl " NETSPY_VERSION,
				      5000);

	if (r < 0) {
		fprintf(stderr, "netspyctl: %s\n", c->error);
		netspy_client_close(c);
		return frontend_exit_code(r, NETSPY_EXIT_UNREACHABLE);
	}
	return 0;
}

/* key: the time ns (wall clock) as RFC 3339, or null when 0. */
static void add_time(json_object *o, const char *key, uint64_t ns)
{
	char buf[FMT_TIME_LEN];

	if (!ns) {
		json_object_object_add(o, key, NULL);
		return;
	}
	fmt_rfc3339(buf, sizeof(buf), ns);
	json_object_object_add(o, key, json_object_new_string(buf));
}

json_object *live_stats_json(const Netspy__V1__Stats *st)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_string(st->version));
	json_object_object_add(o, "uptime_seconds",
			       json_object_new_int64((int64_t)st->uptime_seconds));
	json_object_object_add(o, "events_total", json_object_new_int64((int64_t)st->events_total));
	json_object_object_add(o, "events_lost", json_object_new_int64((int64_t)st->events_lost));
	json_object_object_add(o, "clients", json_object_new_int64(st->clients));
	json_object_object_add(o, "connects_total",
			       json_object_new_int64((int64_t)st->connects_total));
	json_object_object_add(o, "tcp_outcomes_total",
			       json_object_new_int64((int64_t)st->tcp_outcomes_total));
	json_object_object_add(o, "drops_total", json_object_new_int64((int64_t)st->drops_total));
	json_object_object_add(o, "backlog_events",
			       json_object_new_int64((int64_t)st->backlog_events));
	json_object_object_add(o, "backlog_capacity",
			       json_object_new_int64((int64_t)st->backlog_capacity));
	json_object_object_add(o, "clients_refused",
			       json_object_new_int64((int64_t)st->clients_refused));
	json_object_object_add(o, "clients_lost_events",
			       json_object_new_int64((int64_t)st->clients_dropped_events));
	json_object_object_add(o, "dns_messages_total",
			       json_object_new_int64((int64_t)st->dns_messages_total));
	json_object_object_add(o, "dns_truncated_total",
			       json_object_new_int64((int64_t)st->dns_truncated_total));
	json_object_object_add(o, "dns_payloads_evicted",
			       json_object_new_int64((int64_t)st->dns_payloads_evicted));
	json_object_object_add(o, "flood_active", json_object_new_boolean(st->flood_active));
	json_object_object_add(o, "flood_rate", json_object_new_int64((int64_t)st->flood_rate));
	add_time(o, "flood_since", st->flood_since_ns);
	json_object_object_add(o, "flood_threshold",
			       json_object_new_int64((int64_t)st->flood_threshold));
	json_object_object_add(o, "flood_episodes",
			       json_object_new_int64((int64_t)st->flood_episodes));
	json_object_object_add(o, "events_folded",
			       json_object_new_int64((int64_t)st->events_folded));
	add_time(o, "folded_pending_since", st->folded_pending_since_ns);
	return o;
}

/* The recorder's state as its database shows it: "recorder" in status --json. */
static json_object *recorder_json(const char *path, char **ret_error)
{
	struct history *h;
	struct history_info in;
	json_object *o;
	char buf[FMT_TIME_LEN];

	if (history_open_ro(path, &h, ret_error) < 0)
		return NULL;
	history_info(h, &in);
	history_close(h);
	o = json_object_new_object();
	json_object_object_add(o, "history", json_object_new_string(path));
	fmt_rfc3339(buf, sizeof(buf), in.oldest * 1000000000ull);
	json_object_object_add(o, "oldest_minute", in.oldest ? json_object_new_string(buf) : NULL);
	fmt_rfc3339(buf, sizeof(buf), in.newest * 1000000000ull);
	json_object_object_add(o, "newest_minute", in.newest ? json_object_new_string(buf) : NULL);
	json_object_object_add(o, "minutes", json_object_new_int64((int64_t)in.minutes));
	json_object_object_add(o, "hours", json_object_new_int64((int64_t)in.hours));
	json_object_object_add(o, "size_bytes", json_object_new_int64((int64_t)in.size));
	fmt_rfc3339(buf, sizeof(buf), in.updated * 1000000000ull);
	json_object_object_add(o, "last_write", in.updated ? json_object_new_string(buf) : NULL);
	return o;
}

static void recorder_print(json_object *rec, const char *err)
{
	const char *oldest, *newest;

	if (!rec) {
		printf("recorder: %s\n", err ? err : "no history");
		return;
	}
	printf("recorder history %s\n",
	       json_object_get_string(json_object_object_get(rec, "history")));
	oldest = json_object_get_string(json_object_object_get(rec, "oldest_minute"));
	newest = json_object_get_string(json_object_object_get(rec, "newest_minute"));
	/* A recorder that has just started has written no minute yet (null in --json). */
	printf("  oldest minute: %s\n", oldest ? oldest : "none yet");
	printf("  newest minute: %s\n", newest ? newest : "none yet");
	printf("  minutes kept:  %s (%s hourly aggregates)\n",
	       json_object_get_string(json_object_object_get(rec, "minutes")),
	       json_object_get_string(json_object_object_get(rec, "hours")));
	printf("  size on disk:  %s bytes\n",
	       json_object_get_string(json_object_object_get(rec, "size_bytes")));
}

int live_status(const struct live_opts *o)
{
	char *rec_err = NULL;
	json_object *rec = recorder_json(history_path(o->history), &rec_err);
	struct netspy_client c;
	Netspy__V1__ServerMessage *owner = NULL;
	Netspy__V1__Stats *st = NULL;
	int r = connect_or_explain(&c, o);

	if (r) {
		json_object_put(rec);
		free(rec_err);
		return r;
	}
	r = netspy_client_get_stats(&c, 5000, &st, &owner);
	if (r < 0) {
		json_object_put(rec);
		free(rec_err);
		fprintf(stderr, "netspyctl: no stats from netspyd at %s: %s\n", c.path,
			c.error[0] ? c.error : strerror(-r));
		netspy_client_close(&c);
		return NETSPY_EXIT_UNREACHABLE;
	}
	if (o->json) {
		json_object *j = live_stats_json(st);

		json_object_object_add(j, "recorder", rec);
		rec = NULL;
		printf("%s\n", json_object_to_json_string_ext(
				   j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else {
		printf("netspyd %s on %s\n", st->version, c.path);
		printf("  uptime:        %" PRIu64 " s\n", st->uptime_seconds);
		printf("  events:        %" PRIu64 " (%" PRIu64 " connects, %" PRIu64
		       " TCP outcomes, %" PRIu64 " drops, %" PRIu64 " DNS messages)\n",
		       st->events_total, st->connects_total, st->tcp_outcomes_total,
		       st->drops_total, st->dns_messages_total);
		printf("  lost (kernel): %" PRIu64 "\n", st->events_lost);
		printf("  lost (slow clients): %" PRIu64 "\n", st->clients_dropped_events);
		printf("  clients:       %u (%" PRIu64 " refused)\n", st->clients,
		       st->clients_refused);
		printf("  backlog:       %" PRIu64 " of %" PRIu64 " events\n", st->backlog_events,
		       st->backlog_capacity);
		if (st->flood_active)
			printf("  flood mode:    on, %" PRIu64 " events/s (threshold %" PRIu64
			       " per CPU and kind): identical drops, retransmits or resets are "
			       "folded into records with a count\n",
			       st->flood_rate, st->flood_threshold);
		else
			printf("  flood mode:    off (threshold %" PRIu64
			       " events/s per CPU and kind%s)\n",
			       st->flood_threshold, st->flood_threshold ? "" : ": never folds");
		if (st->events_folded)
			printf("  folded:        %" PRIu64 " events in %" PRIu64 " flood%s\n",
			       st->events_folded, st->flood_episodes,
			       st->flood_episodes == 1 ? "" : "s");
		if (st->folded_pending_since_ns) {
			char buf[FMT_TIME_LEN];

			fmt_rfc3339(buf, sizeof(buf), st->folded_pending_since_ns);
			printf("  pending:       events folded since %s are still in the kernel (they "
			       "arrive within two fold intervals)\n",
			       buf);
		}
		recorder_print(rec, rec_err);
	}
	json_object_put(rec);
	free(rec_err);
	netspy__v1__server_message__free_unpacked(owner, NULL);
	netspy_client_close(&c);
	return 0;
}

static void print_loss(const Netspy__V1__Loss *l, bool json)
{
	const char *src =
	    l->source == NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_KERNEL ? "kernel" : "client";

	if (json)
		printf("{\"kind\":\"loss\",\"source\":\"%s\",\"count\":%" PRIu64
		       ",\"total\":%" PRIu64 "}\n",
		       src, l->count, l->total);
	else
		fprintf(stderr,
			"netspyctl: %" PRIu64 " events lost (%s side, %" PRIu64 " in total)\n",
			l->count, src, l->total);
}

/* Returns 1 to stop, 0 to go on. */
static int print_message(const Netspy__V1__ServerMessage *m, const struct live_opts *o,
			 uint64_t *printed)
{
	switch (m->msg_case) {
	case NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS:
		for (size_t i = 0; i < m->events->n_events; i++) {
			if (o->json) {
				json_object *j = event_to_json(m->events->events[i]);

				printf("%s\n", json_object_to_json_string_ext(
						   j, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
				json_object_put(j);
			} else {
				event_print_line(stdout, m->events->events[i]);
			}
			if (o->max_events && ++*printed >= o->max_events)
				return 1;
		}
		fflush(stdout);
		return 0;
	case NETSPY__V1__SERVER_MESSAGE__MSG_LOSS:
		print_loss(m->loss, o->json);
		return 0;
	case NETSPY__V1__SERVER_MESSAGE__MSG_ERROR:
		fprintf(stderr, "netspyctl: netspyd: %s\n", m->error->message);
		return 1;
	default:
		return 0;
	}
}

int live_watch(const struct live_opts *o)
{
	struct netspy_client c;
	struct netspy_subscription sub = { .live = true };
	const char *comms[1] = { o->process };
	uint32_t pids[1] = { o->pid };
	uint64_t printed = 0, deadline;
	int r = connect_or_explain(&c, o);

	if (r)
		return r;
	if (o->pid) {
		sub.pids = pids;
		sub.n_pids = 1;
	}
	if (o->process) {
		sub.comms = comms;
		sub.n_comms = 1;
	}
	if (o->replay_seconds)
		sub.replay_since_ns = clock_ns(CLOCK_REALTIME) - o->replay_seconds * 1000000000ull;
	/* Every kind this client knows, DNS messages included (parsed here, per line). */
	int kinds[16];
	size_t n_kinds = 0;

	for (size_t i = 0; i < netspy_n_known_kinds && n_kinds < 15; i++)
		kinds[n_kinds++] = netspy_known_kinds[i];
	kinds[n_kinds++] = NETSPY__V1__EVENT_KIND__EVENT_KIND_DNS;
	sub.kinds = kinds;
	sub.n_kinds = n_kinds;
	r = netspy_client_subscribe(&c, &sub);
	if (r < 0) {
		fprintf(stderr, "netspyctl: subscribing: %s\n", strerror(-r));
		netspy_client_close(&c);
		return NETSPY_EXIT_UNREACHABLE;
	}
	signal(SIGINT, frontend_on_interrupt);
	signal(SIGTERM, frontend_on_interrupt);
	signal(SIGPIPE, SIG_IGN);
	deadline = o->timeout_s ? clock_ns(CLOCK_REALTIME) + o->timeout_s * 1000000000ull : 0;
	r = 0;
	while (!frontend_interrupted) {
		Netspy__V1__ServerMessage *m = NULL;
		int wait = 500;
		int n;

		if (deadline && clock_ns(CLOCK_REALTIME) >= deadline)
			break;
		n = netspy_client_next(&c, wait, &m);
		if (n == 0 || n == -EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "netspyctl: %s\n", c.error);
			r = NETSPY_EXIT_UNREACHABLE;
			break;
		}
		n = print_message(m, o, &printed);
		netspy__v1__server_message__free_unpacked(m, NULL);
		if (n)
			break;
	}
	netspy_client_close(&c);
	return r;
}
