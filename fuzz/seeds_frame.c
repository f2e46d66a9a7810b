/* Writes the seed corpus of fuzz_frame: one file per case, each the bytes a peer could send.
 * Usage: seeds_frame DIR   (make fuzz-seeds runs it with fuzz/corpus/frame) */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"

static const char *dir;

static int save(const char *name, const uint8_t *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f)) {
		fprintf(stderr, "seeds_frame: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Saves the frames of msgs[] one after the other; cut > 0 drops that many trailing bytes. */
static int save_frames(const char *name, ProtobufCMessage **msgs, size_t n, size_t cut)
{
	struct nbuf b = { 0 };
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++)
		r = frame_append(&b, msgs[i], NETSPY_MAX_SERVER_FRAME);
	if (r == 0)
		r = save(name, b.data, b.len - (cut < b.len ? cut : 0));
	nbuf_free(&b);
	return r;
}

static int client_seeds(void)
{
	Netspy__V1__ClientMessage hm = NETSPY__V1__CLIENT_MESSAGE__INIT;
	Netspy__V1__ClientMessage sm = NETSPY__V1__CLIENT_MESSAGE__INIT;
	Netspy__V1__ClientMessage qm = NETSPY__V1__CLIENT_MESSAGE__INIT;
	Netspy__V1__Hello h = NETSPY__V1__HELLO__INIT;
	Netspy__V1__Subscribe s = NETSPY__V1__SUBSCRIBE__INIT;
	Netspy__V1__StatsRequest q = NETSPY__V1__STATS_REQUEST__INIT;
	uint32_t pids[] = { 1, 4242 };
	char *comms[] = { "curl", "nginx" };
	Netspy__V1__EventKind kinds[] = { NETSPY__V1__EVENT_KIND__EVENT_KIND_CONNECT,
					  NETSPY__V1__EVENT_KIND__EVENT_KIND_DROP };
	ProtobufCMessage *all[] = { &hm.base, &sm.base, &qm.base };

	h.protocol_version = NETSPY_PROTOCOL_VERSION;
	h.software = "netspyctl 0.1.0";
	hm.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_HELLO;
	hm.hello = &h;
	s.replay_since_ns = 1700000000000000000ull;
	s.n_pids = 2;
	s.pids = pids;
	s.n_comms = 2;
	s.comms = comms;
	s.n_kinds = 2;
	s.kinds = kinds;
	s.live = 1;
	sm.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_SUBSCRIBE;
	sm.subscribe = &s;
	qm.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_STATS_REQUEST;
	qm.stats_request = &q;
	if (save_frames("client_hello", all, 1, 0) ||
	    save_frames("client_subscribe", all + 1, 1, 0) ||
	    save_frames("client_stats_request", all + 2, 1, 0) ||
	    save_frames("client_conversation", all, 3, 0) ||
	    save_frames("client_truncated", all, 2, 5))
		return -1;
	h.protocol_version = 99;
	return save_frames("client_hello_wrong_version", all, 1, 0);
}

static int event_batch_seed(void)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__EventBatch batch = NETSPY__V1__EVENT_BATCH__INIT;
	Netspy__V1__Event e[3] = { NETSPY__V1__EVENT__INIT, NETSPY__V1__EVENT__INIT,
				   NETSPY__V1__EVENT__INIT };
	Netspy__V1__Event *ep[] = { &e[0], &e[1], &e[2] };
	Netspy__V1__Connect c = NETSPY__V1__CONNECT__INIT;
	Netspy__V1__TcpOutcome o = NETSPY__V1__TCP_OUTCOME__INIT;
	Netspy__V1__Drop d = NETSPY__V1__DROP__INIT;
	uint8_t v4[4] = { 127, 0, 0, 1 }, v6[16] = { [15] = 1 };
	ProtobufCMessage *all[] = { &m.base };

	c.pid = 4242;
	c.comm = (ProtobufCBinaryData){ 4, (uint8_t *)"curl" };
	c.family = 2;
	c.ip_proto = 6;
	c.sock_type = 1;
	c.dst_addr = (ProtobufCBinaryData){ 4, v4 };
	c.src_addr = (ProtobufCBinaryData){ 4, v4 };
	c.dst_port = 443;
	e[0].seq = 1;
	e[0].timestamp_ns = 1700000000000000000ull;
	e[0].kind_case = NETSPY__V1__EVENT__KIND_CONNECT;
	e[0].connect = &c;
	o.pid = 4242;
	o.outcome = NETSPY__V1__OUTCOME__OUTCOME_REFUSED;
	o.err = 111;
	o.family = 10;
	o.src_addr = (ProtobufCBinaryData){ 16, v6 };
	o.dst_addr = (ProtobufCBinaryData){ 16, v6 };
	o.dst_port = 9;
	e[1].seq = 2;
	e[1].kind_case = NETSPY__V1__EVENT__KIND_TCP_OUTCOME;
	e[1].tcp_outcome = &o;
	d.reason = 2;
	d.reason_name = "NO_SOCKET";
	d.family = 2;
	d.ip_proto = 17;
	d.src_addr = (ProtobufCBinaryData){ 4, v4 };
	d.dst_addr = (ProtobufCBinaryData){ 4, v4 };
	d.dst_port = 9;
	e[2].seq = 3;
	e[2].kind_case = NETSPY__V1__EVENT__KIND_DROP;
	e[2].drop = &d;
	batch.n_events = 3;
	batch.events = ep;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS;
	m.events = &batch;
	if (save_frames("server_event_batch", all, 1, 0))
		return -1;
	c.family = 3; /* invalid: the decoder must refuse the whole batch */
	if (save_frames("server_event_batch_bad_family", all, 1, 0))
		return -1;
	c.family = 2;
	/* A UDP connect that failed inside the syscall, and a drop attributed by flow tuple. */
	o.outcome = NETSPY__V1__OUTCOME__OUTCOME_UNREACHABLE;
	o.err = 101;
	o.ip_proto = 17;
	o.sync = 1;
	d.attributed = 1;
	d.pid = 4242;
	d.comm = (ProtobufCBinaryData){ 4, (uint8_t *)"curl" };
	d.by_flow = 1;
	if (save_frames("server_event_batch_failures", all, 1, 0))
		return -1;
	o.ip_proto = 6;
	o.sync = 0;
	o.outcome = NETSPY__V1__OUTCOME__OUTCOME_TIMEOUT;
	o.err = 0;
	o.abandoned = 1;
	o.syn_retransmits = 2;
	return save_frames("server_event_batch_abandoned", all, 1, 0);
}

static int server_seeds(void)
{
	Netspy__V1__ServerMessage m[5] = { NETSPY__V1__SERVER_MESSAGE__INIT,
					   NETSPY__V1__SERVER_MESSAGE__INIT,
					   NETSPY__V1__SERVER_MESSAGE__INIT,
					   NETSPY__V1__SERVER_MESSAGE__INIT,
					   NETSPY__V1__SERVER_MESSAGE__INIT };
	Netspy__V1__ServerHello h = NETSPY__V1__SERVER_HELLO__INIT;
	Netspy__V1__ReplayDone rd = NETSPY__V1__REPLAY_DONE__INIT;
	Netspy__V1__Loss l = NETSPY__V1__LOSS__INIT;
	Netspy__V1__Stats st = NETSPY__V1__STATS__INIT;
	Netspy__V1__Error e = NETSPY__V1__ERROR__INIT;
	ProtobufCMessage *all[] = { &m[0].base, &m[1].base, &m[2].base, &m[3].base, &m[4].base };

	h.protocol_version = NETSPY_PROTOCOL_VERSION;
	h.software = "netspyd 0.1.0";
	h.boot_id = 0x1234567890abcdefull;
	m[0].msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_HELLO;
	m[0].hello = &h;
	rd.replayed = 12;
	rd.oldest_ns = 1700000000000000000ull;
	m[1].msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_REPLAY_DONE;
	m[1].replay_done = &rd;
	l.source = NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_KERNEL;
	l.count = 7;
	l.total = 70;
	m[2].msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_LOSS;
	m[2].loss = &l;
	st.version = "0.1.0";
	st.events_total = 1000;
	st.events_lost = 3;
	st.clients = 2;
	st.backlog_capacity = 131072;
	m[3].msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_STATS;
	m[3].stats = &st;
	e.code = NETSPY__V1__ERROR_CODE__ERROR_CODE_BAD_REQUEST;
	e.message = "malformed request: the first message must be Hello";
	m[4].msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_ERROR;
	m[4].error = &e;
	if (save_frames("server_hello", all, 1, 0) ||
	    save_frames("server_replay_done", all + 1, 1, 0) ||
	    save_frames("server_loss", all + 2, 1, 0) ||
	    save_frames("server_stats", all + 3, 1, 0) ||
	    save_frames("server_error", all + 4, 1, 0) ||
	    save_frames("server_conversation", all, 5, 0))
		return -1;
	return event_batch_seed();
}

/* The flood issue's messages: a CountersRequest, a Counters answer, a folded drop record. */
static int counters_seeds(void)
{
	Netspy__V1__ClientMessage qm = NETSPY__V1__CLIENT_MESSAGE__INIT;
	Netspy__V1__CountersRequest q = NETSPY__V1__COUNTERS_REQUEST__INIT;
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__Counters c = NETSPY__V1__COUNTERS__INIT;
	Netspy__V1__Counter e[3] = { NETSPY__V1__COUNTER__INIT, NETSPY__V1__COUNTER__INIT,
				     NETSPY__V1__COUNTER__INIT };
	Netspy__V1__Counter *ep[3] = { &e[0], &e[1], &e[2] };
	Netspy__V1__ServerMessage bm = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__EventBatch b = NETSPY__V1__EVENT_BATCH__INIT;
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__Event *evp[1] = { &ev };
	Netspy__V1__Drop d = NETSPY__V1__DROP__INIT;
	uint8_t a4[4] = { 127, 0, 0, 1 };
	ProtobufCMessage *all[] = { &qm.base, &m.base, &bm.base };

	q.since_ns = 1700000000000000000ull;
	q.until_ns = 1700000060000000000ull;
	qm.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_COUNTERS_REQUEST;
	qm.counters_request = &q;
	e[0].kind = NETSPY__V1__COUNTER_KIND__COUNTER_KIND_EVENTS;
	e[0].event_kind = NETSPY__V1__EVENT_KIND__EVENT_KIND_DROP;
	e[0].count = 366000;
	e[1].kind = NETSPY__V1__COUNTER_KIND__COUNTER_KIND_DROP_REASON;
	e[1].event_kind = NETSPY__V1__EVENT_KIND__EVENT_KIND_DROP;
	e[1].key = 2;
	e[1].name = "NO_SOCKET";
	e[1].count = 366000;
	e[2].kind = NETSPY__V1__COUNTER_KIND__COUNTER_KIND_OUTCOME;
	e[2].event_kind = NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_OUTCOME;
	e[2].key = 2;
	e[2].count = 12;
	c.since_ns = q.since_ns;
	c.until_ns = q.until_ns;
	c.n_counters = 3;
	c.counters = ep;
	c.events_lost = 1;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_COUNTERS;
	m.counters = &c;
	d.reason = 2;
	d.reason_name = "NO_SOCKET";
	d.family = 2;
	d.ip_proto = 17;
	d.src_addr = (ProtobufCBinaryData){ 4, a4 };
	d.dst_addr = (ProtobufCBinaryData){ 4, a4 };
	d.src_port = 40000;
	d.dst_port = 9;
	d.count = 12000;
	ev.seq = 7;
	ev.timestamp_ns = q.since_ns;
	ev.kind_case = NETSPY__V1__EVENT__KIND_DROP;
	ev.drop = &d;
	b.n_events = 1;
	b.events = evp;
	bm.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS;
	bm.events = &b;
	return save_frames("client_counters_request", all, 1, 0) ||
	       save_frames("server_counters", all + 1, 1, 0) ||
	       save_frames("server_event_batch_folded_drop", all + 2, 1, 0);
}

/* Folded TCP signals: a retransmit record standing for 4,000 retransmissions of 2 segments, and
 * a received reset standing for 300. */
static int folded_signal_seeds(void)
{
	Netspy__V1__ServerMessage bm = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__EventBatch b = NETSPY__V1__EVENT_BATCH__INIT;
	Netspy__V1__Event ev[2] = { NETSPY__V1__EVENT__INIT, NETSPY__V1__EVENT__INIT };
	Netspy__V1__Event *evp[2] = { &ev[0], &ev[1] };
	Netspy__V1__TcpSignal g[2] = { NETSPY__V1__TCP_SIGNAL__INIT, NETSPY__V1__TCP_SIGNAL__INIT };
	uint8_t a4[4] = { 10, 0, 0, 1 }, p4[4] = { 10, 0, 0, 2 };
	ProtobufCMessage *all[] = { &bm.base };

	for (int i = 0; i < 2; i++) {
		g[i].cookie = 4096 + (uint64_t)i;
		g[i].pid = 4242;
		g[i].comm = (ProtobufCBinaryData){ 4, (uint8_t *)"curl" };
		g[i].family = 2;
		g[i].local_addr = (ProtobufCBinaryData){ 4, a4 };
		g[i].local_port = 40000;
		g[i].peer_addr = (ProtobufCBinaryData){ 4, p4 };
		g[i].peer_port = 443;
		ev[i].seq = 9 + (uint64_t)i;
		ev[i].timestamp_ns = 1700000000000000000ull;
	}
	g[0].segments = 2;
	g[0].count = 4000;
	ev[0].kind_case = NETSPY__V1__EVENT__KIND_TCP_RETRANSMIT;
	ev[0].tcp_retransmit = &g[0];
	g[1].received = 1;
	g[1].count = 300;
	ev[1].kind_case = NETSPY__V1__EVENT__KIND_TCP_RESET;
	ev[1].tcp_reset = &g[1];
	b.n_events = 2;
	b.events = evp;
	bm.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS;
	bm.events = &b;
	return save_frames("server_event_batch_folded_signals", all, 1, 0);
}

static int raw_seeds(void)
{
	static const uint8_t oversized[] = { 0x7f, 0xff, 0xff, 0xff, 0x0a, 0x00 };
	static const uint8_t just_over[] = { 0x00, 0x10, 0x00, 0x01, 0x0a };
	static const uint8_t empty[] = { 0, 0, 0, 0 };
	static const uint8_t garbage[] = { 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t short_header[] = { 0, 0 };

	return save("oversized_length", oversized, sizeof(oversized)) ||
	       save("just_over_server_limit", just_over, sizeof(just_over)) ||
	       save("empty_frame", empty, sizeof(empty)) ||
	       save("garbage_payload", garbage, sizeof(garbage)) ||
	       save("short_header", short_header, sizeof(short_header));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: seeds_frame DIR\n");
		return 2;
	}
	dir = argv[1];
	return client_seeds() || server_seeds() || counters_seeds() || folded_signal_seeds() ||
		       raw_seeds()
		   ? 1
		   : 0;
}
