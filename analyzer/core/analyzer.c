/* Feeding the store from netspyd: replay, live ingestion, loss accounting and reconnection. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "core/analyzer.h"

#define ANALYZER_SOFTWARE "netspyctl " NETSPY_VERSION

static void ingest_batch(struct analyzer *an, const Netspy__V1__EventBatch *b)
{
	for (size_t i = 0; i < b->n_events; i++) {
		const Netspy__V1__Event *ev = b->events[i];

		if (ev->seq <= an->last_seq)
			continue; /* seen before a reconnect to the same daemon */
		an->last_seq = ev->seq;
		store_add(&an->store, ev);
	}
}

/* Handles one message. Returns events ingested, or -errno for a daemon error. */
static int handle(struct analyzer *an, const Netspy__V1__ServerMessage *m)
{
	switch (m->msg_case) {
	case NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS:
		ingest_batch(an, m->events);
		return (int)m->events->n_events;
	case NETSPY__V1__SERVER_MESSAGE__MSG_REPLAY_DONE:
		an->replay_done = true;
		an->replayed += m->replay_done->replayed;
		an->daemon_evicted = m->replay_done->evicted;
		an->daemon_complete_since_ns = m->replay_done->complete_since_ns;
		an->daemon_pending_since_ns = m->replay_done->folded_pending_since_ns;
		an->replay_done_mono_ns = clock_ns(CLOCK_MONOTONIC);
		an->backlog_oldest_ns = m->replay_done->oldest_ns;
		return 0;
	case NETSPY__V1__SERVER_MESSAGE__MSG_LOSS:
		if (m->loss->source == NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_KERNEL)
			an->lost_kernel =
			    m->loss->total > an->lost_kernel ? m->loss->total : an->lost_kernel;
		else
			an->lost_client += m->loss->count;
		return 0;
	case NETSPY__V1__SERVER_MESSAGE__MSG_ERROR:
		snprintf(an->error, sizeof(an->error), "netspyd: %s", m->error->message);
		return -EPROTO;
	default:
		return 0;
	}
}

/* What netspy_client_next() returned: a message (r > 0) is handled and its memory handed back;
 * a failure (r < 0) becomes the analyzer's error. Returns handle()'s result, or r. */
static int handle_next(struct analyzer *an, int r, Netspy__V1__ServerMessage *m)
{
	if (r < 0) {
		snprintf(an->error, sizeof(an->error), "%s", an->client.error);
		return r;
	}
	r = handle(an, m);
	arena_reset(&an->arena);
	return r;
}

/* Reads messages until ReplayDone. */
static int replay(struct analyzer *an, int timeout_ms)
{
	int64_t deadline = clock_ms(CLOCK_MONOTONIC) + timeout_ms;

	an->replay_done = false;
	while (!an->replay_done) {
		Netspy__V1__ServerMessage *m = NULL;
		int64_t left = deadline - clock_ms(CLOCK_MONOTONIC);
		int r = netspy_client_next(&an->client, left > 0 ? (int)left : 0, &m);

		if (r == -EINTR)
			continue;
		if (r == 0) {
			snprintf(an->error, sizeof(an->error),
				 "netspyd at %s did not finish replaying its backlog in time",
				 an->client.path);
			return -ETIMEDOUT;
		}
		r = handle_next(an, r, m);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Connects and subscribes; replays everything after since_seq of the same daemon. */
static int connect_and_replay(struct analyzer *an, int timeout_ms)
{
	/* Every kind: the later ones (DNS, the TCP lifecycle's) are sent only to clients that ask
	 * for them (see Subscribe.kinds). */
	static const int kinds[] = { NETSPY__V1__EVENT_KIND__EVENT_KIND_CONNECT,
				     NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_OUTCOME,
				     NETSPY__V1__EVENT_KIND__EVENT_KIND_DROP,
				     NETSPY__V1__EVENT_KIND__EVENT_KIND_DNS,
				     NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_ACCEPT,
				     NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_END,
				     NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_RETRANSMIT,
				     NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_RESET };
	struct netspy_subscription sub = {
		.replay_since_ns = an->opts.replay_since_ns ? an->opts.replay_since_ns : 1,
		.live = an->opts.live,
		.kinds = kinds,
		.n_kinds = sizeof(kinds) / sizeof(kinds[0]),
	};
	const char *comms[1] = { an->opts.process };
	uint32_t pids[1] = { an->opts.pid };
	int r = netspy_client_connect(&an->client, netspy_socket_path(an->opts.socket),
				      ANALYZER_SOFTWARE, timeout_ms);

	if (r < 0) {
		snprintf(an->error, sizeof(an->error), "%s", an->client.error);
		netspy_client_close(&an->client);
		return r;
	}
	an->connected = true;
	an->client.alloc = &an->arena.allocator;
	if (an->client.boot_id != an->boot_id)
		an->last_seq = 0; /* a new daemon numbers its events from the start */
	an->boot_id = an->client.boot_id;
	if (an->opts.pid) {
		sub.pids = pids;
		sub.n_pids = 1;
	}
	if (an->opts.process) {
		sub.comms = comms;
		sub.n_comms = 1;
	}
	r = netspy_client_subscribe(&an->client, &sub);
	if (r < 0) {
		snprintf(an->error, sizeof(an->error), "subscribing at %s: %s", an->client.path,
			 strerror(-r));
		return r;
	}
	return replay(an, timeout_ms);
}

int analyzer_init(struct analyzer *an, const struct analyzer_opts *o)
{
	int r;

	memset(an, 0, sizeof(*an));
	an->opts = *o;
	an->client.fd = -1;
	arena_init(&an->arena);
	r = store_init(&an->store, o->capacity, o->cgroup_root);
	if (r < 0)
		snprintf(an->error, sizeof(an->error), "cannot allocate the event store");
	else
		an->store.resolve_procs = true; /* events come from this machine's processes */
	return r;
}

int analyzer_connect(struct analyzer *an, int timeout_ms)
{
	int r = connect_and_replay(an, timeout_ms);

	if (r < 0 && an->connected) {
		netspy_client_close(&an->client);
		an->connected = false;
	}
	return r;
}

int analyzer_open(struct analyzer *an, const struct analyzer_opts *o, int timeout_ms)
{
	int r = analyzer_init(an, o);

	if (r == 0)
		r = analyzer_connect(an, timeout_ms);
	if (r < 0)
		analyzer_close(an);
	return r;
}

void analyzer_close(struct analyzer *an)
{
	if (an->connected)
		netspy_client_close(&an->client);
	an->connected = false;
	store_fini(&an->store);
	arena_fini(&an->arena);
}

int analyzer_fd(const struct analyzer *an)
{
	return an->connected ? an->client.fd : -1;
}

uint64_t analyzer_complete_since(const struct analyzer *an)
{
	uint64_t t = an->daemon_complete_since_ns;

	if (an->store.evicted && an->store.evicted_newest_ns + 1 > t)
		t = an->store.evicted_newest_ns + 1;
	return t;
}

uint64_t analyzer_events_evicted(const struct analyzer *an)
{
	return an->daemon_evicted + an->store.evicted;
}

int analyzer_counters(struct analyzer *an, uint64_t since_ns, uint64_t until_ns,
		      Netspy__V1__Counters **ret, Netspy__V1__ServerMessage **ret_owner)
{
	struct netspy_client c;
	int r;

	if (!an->boot_id)
		return -ENOTCONN;
	memset(&c, 0, sizeof(c));
	c.fd = -1;
	r = netspy_client_connect(&c, netspy_socket_path(an->opts.socket), ANALYZER_SOFTWARE, 2000);
	if (r == 0)
		r = netspy_client_get_counters(&c, since_ns, until_ns, 2000, ret, ret_owner);
	netspy_client_close(&c);
	return r;
}

uint64_t analyzer_folded_pending_since(struct analyzer *an)
{
	Netspy__V1__ServerMessage *owner = NULL;
	Netspy__V1__Counters *c = NULL;
	uint64_t now = clock_ns(CLOCK_REALTIME), t = 0;

	/* A one-shot answer follows its replay at once: no second question. */
	if (an->replay_done_mono_ns &&
	    clock_ns(CLOCK_MONOTONIC) - an->replay_done_mono_ns < 500000000ull)
		return an->daemon_pending_since_ns;
	if (analyzer_counters(an, now, now, &c, &owner) == 0) {
		t = c->folded_pending_since_ns;
		netspy__v1__server_message__free_unpacked(owner, NULL);
	}
	return t;
}

uint64_t analyzer_events_lost(const struct analyzer *an)
{
	return an->lost_kernel + an->lost_client;
}

static int reconnect(struct analyzer *an)
{
	uint64_t old_boot = an->boot_id;
	int r;

	if (an->connected)
		netspy_client_close(&an->client);
	an->connected = false;
	r = analyzer_connect(an, 5000);
	if (r < 0)
		return r;
	an->reconnects++;
	snprintf(an->notice, sizeof(an->notice),
		 an->boot_id != old_boot
		     ? "netspyd at %s restarted: reconnected and replayed its new backlog"
		     : "reconnected to netspyd at %s and caught up",
		 an->client.path);
	return 0;
}

/* Most time one analyzer_poll spends catching up, so that a tool call under an event storm
 * still answers (the rest is read by the next call). */
#define POLL_BUDGET_MS 250

int analyzer_poll(struct analyzer *an, int timeout_ms)
{
	int total = 0, wait = timeout_ms;
	int64_t budget_end = -1;

	if (!an->connected) {
		int r = reconnect(an);

		if (r < 0)
			return r;
	}
	for (;;) {
		Netspy__V1__ServerMessage *m = NULL;
		int r = netspy_client_next(&an->client, wait, &m);

		if (r == 0 || r == -EINTR)
			return total;
		if (r == -EPIPE || r == -ECONNRESET) {
			r = reconnect(an);
			return r < 0 ? r : total;
		}
		r = handle_next(an, r, m);
		if (r < 0)
			return r;
		total += r;
		wait = 0;
		if (budget_end < 0)
			budget_end = clock_ms(CLOCK_MONOTONIC) + POLL_BUDGET_MS;
		else if (clock_ms(CLOCK_MONOTONIC) >= budget_end)
			return total;
	}
}

int analyzer_refresh(struct analyzer *an)
{
	int r = analyzer_poll(an, 0);

	return r < 0 ? analyzer_poll(an, 0) : r;
}
