/* The analyzer's message handling: events are ingested once (a reconnect to the same daemon may
 * resend some), loss notices add up to events_lost, ReplayDone ends the replay, and a daemon
 * error is reported. Includes analyzer.c to reach its static handler. */
#include "../../analyzer/core/analyzer.c"
#include "check.h"

static void batch(struct analyzer *an, uint64_t first_seq, size_t n)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__EventBatch b = NETSPY__V1__EVENT_BATCH__INIT;
	Netspy__V1__Event ev[8], *evp[8];
	Netspy__V1__Connect c = NETSPY__V1__CONNECT__INIT;
	uint8_t dst[4] = { 127, 0, 0, 1 };

	c.comm.data = (uint8_t *)"x";
	c.comm.len = 1;
	c.ip_proto = 17;
	c.family = 2;
	c.dst_addr.data = dst;
	c.dst_addr.len = 4;
	for (size_t i = 0; i < n; i++) {
		netspy__v1__event__init(&ev[i]);
		ev[i].seq = first_seq + i;
		ev[i].timestamp_ns = 1000 + first_seq + i;
		ev[i].kind_case = NETSPY__V1__EVENT__KIND_CONNECT;
		ev[i].connect = &c;
		evp[i] = &ev[i];
	}
	b.n_events = n;
	b.events = evp;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS;
	m.events = &b;
	handle(an, &m);
}

static void loss(struct analyzer *an, int source, uint64_t count, uint64_t total)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__Loss l = NETSPY__V1__LOSS__INIT;

	l.source = source;
	l.count = count;
	l.total = total;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_LOSS;
	m.loss = &l;
	handle(an, &m);
}

int main(void)
{
	struct analyzer_opts o = { .capacity = 64,
				   .cgroup_root = "/nonexistent",
				   .socket = "/nonexistent/netspyd.sock" };
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__ReplayDone d = NETSPY__V1__REPLAY_DONE__INIT;
	Netspy__V1__Error e = NETSPY__V1__ERROR__INIT;
	struct analyzer an;

	CHECK(analyzer_init(&an, &o) == 0, "analyzer_init");
	batch(&an, 1, 5);
	batch(&an, 4, 4); /* 4 and 5 again after a reconnect, then 6 and 7 */
	CHECK(store_count(&an.store) == 7 && an.last_seq == 7,
	      "events already seen are not stored twice (%zu stored)", store_count(&an.store));
	loss(&an, NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_KERNEL, 10, 10);
	loss(&an, NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_KERNEL, 5, 15);
	loss(&an, NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_CLIENT, 3, 3);
	CHECK(analyzer_events_lost(&an) == 18, "events_lost = kernel total 15 + 3 missed by us");
	d.replayed = 7;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_REPLAY_DONE;
	m.replay_done = &d;
	handle(&an, &m);
	CHECK(an.replay_done && an.replayed == 7, "ReplayDone ends the replay");
	e.message = "too many clients";
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_ERROR;
	m.error = &e;
	CHECK(handle(&an, &m) == -EPROTO && strstr(an.error, "too many clients"),
	      "a daemon error is reported: %s", an.error);
	CHECK(analyzer_connect(&an, 1000) < 0 && analyzer_fd(&an) == -1,
	      "connecting to a missing socket fails cleanly");
	analyzer_close(&an);
	CHECK(analyzer_open(&an, &o, 1000) == -ENOENT && strstr(an.error, "/nonexistent"),
	      "analyzer_open names the socket: %s", an.error);
	return CHECK_DONE();
}
