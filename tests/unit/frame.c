/* Unit tests for the frame codec and message validation (proto/frame.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "frame.h"

static void pipe_write(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		abort();
}

static void test_roundtrip(void)
{
	Netspy__V1__ClientMessage m = NETSPY__V1__CLIENT_MESSAGE__INIT, *got = NULL;
	Netspy__V1__Subscribe s = NETSPY__V1__SUBSCRIBE__INIT;
	char *comms[] = { "curl" };
	uint32_t pids[] = { 42 };
	struct nbuf b = { 0 };
	struct frame_reader r;
	const uint8_t *p;
	size_t len;
	int fds[2];

	s.replay_since_ns = 123;
	s.n_comms = 1;
	s.comms = comms;
	s.n_pids = 1;
	s.pids = pids;
	s.live = 1;
	m.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_SUBSCRIBE;
	m.subscribe = &s;
	CHECK(frame_append(&b, &m.base, NETSPY_MAX_CLIENT_FRAME) == 0,
	      "frame_append packs a subscribe");
	CHECK(b.len > 4 && b.data[0] == 0 && b.data[1] == 0, "length prefix is big-endian");

	/* Deliver it one byte at a time: the reader must reassemble. */
	frame_reader_init(&r, NETSPY_MAX_CLIENT_FRAME);
	CHECK(pipe(fds) == 0, "pipe");
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	int frames = 0;
	for (size_t i = 0; i < b.len; i++) {
		pipe_write(fds[1], b.data + i, 1);
		frame_reader_fill(&r, fds[0]);
		if (frame_reader_next(&r, &p, &len) == 1)
			frames++;
	}
	CHECK(frames == 1, "a frame split into single bytes is reassembled once");
	CHECK(netspy_decode_client(p, len, &got, NULL) == 0, "decodes and validates");
	CHECK(got && got->subscribe->replay_since_ns == 123 && got->subscribe->n_comms == 1 &&
		  !strcmp(got->subscribe->comms[0], "curl") && got->subscribe->pids[0] == 42,
	      "fields survive the round trip");
	netspy__v1__client_message__free_unpacked(got, NULL);
	frame_reader_fini(&r);
	nbuf_free(&b);
	close(fds[0]);
	close(fds[1]);
}

static void test_oversized(void)
{
	static const uint8_t big[] = { 0x00, 0x10, 0x00, 0x01 }; /* 1 MiB + 1 announced */
	static const uint8_t empty[] = { 0, 0, 0, 0 };
	struct frame_reader r;
	const uint8_t *p;
	size_t len;
	int fds[2];

	CHECK(pipe(fds) == 0, "pipe");
	frame_reader_init(&r, NETSPY_MAX_CLIENT_FRAME);
	pipe_write(fds[1], big, sizeof(big));
	frame_reader_fill(&r, fds[0]);
	CHECK(frame_reader_next(&r, &p, &len) == -EMSGSIZE,
	      "an announced frame over the limit is rejected from its header alone");
	CHECK(r.in.cap <= 128 * 1024, "nothing was allocated for the announced size (cap %zu)",
	      r.in.cap);
	frame_reader_fini(&r);

	frame_reader_init(&r, NETSPY_MAX_CLIENT_FRAME);
	pipe_write(fds[1], empty, sizeof(empty));
	frame_reader_fill(&r, fds[0]);
	CHECK(frame_reader_next(&r, &p, &len) == -EBADMSG, "an empty frame is a violation");
	frame_reader_fini(&r);
	close(fds[0]);
	close(fds[1]);
}

/* Packs one event and decodes it; *why names the rule it broke (valid until the next call). */
static int decode_event(Netspy__V1__Event *ev, const char **why)
{
	static char last[160];
	char *error = NULL;
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT, *got = NULL;
	Netspy__V1__EventBatch batch = NETSPY__V1__EVENT_BATCH__INIT;
	Netspy__V1__Event *evs[1] = { ev };
	struct nbuf b = { 0 };
	int r;

	batch.n_events = 1;
	batch.events = evs;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS;
	m.events = &batch;
	frame_append(&b, &m.base, NETSPY_MAX_SERVER_FRAME);
	r = netspy_decode_server(b.data + 4, b.len - 4, &got, &error);
	snprintf(last, sizeof(last), "%s", error ? error : "");
	free(error);
	*why = last;
	if (got)
		netspy__v1__server_message__free_unpacked(got, NULL);
	nbuf_free(&b);
	return r;
}

static void test_validation(void)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__Connect c = NETSPY__V1__CONNECT__INIT;
	uint8_t a4[4] = { 127, 0, 0, 1 }, a16[16] = { 0 };
	const char *why = NULL;

	ev.kind_case = NETSPY__V1__EVENT__KIND_CONNECT;
	ev.connect = &c;
	c.family = 2;
	c.ip_proto = 6;
	c.dst_addr = (ProtobufCBinaryData){ 4, a4 };
	c.src_addr = (ProtobufCBinaryData){ 4, a4 };
	c.dst_port = 80;
	CHECK(decode_event(&ev, &why) == 0, "a valid connect event passes");
	c.dst_addr = (ProtobufCBinaryData){ 16, a16 };
	CHECK(decode_event(&ev, &why) == -EBADMSG && strstr(why, "address"),
	      "an IPv4 event with a 16-byte address is rejected (%s)", why);
	c.dst_addr = (ProtobufCBinaryData){ 4, a4 };
	c.dst_port = 70000;
	CHECK(decode_event(&ev, &why) == -EBADMSG && strstr(why, "port"),
	      "a port over 65535 is rejected");
	c.dst_port = 80;
	c.family = 1;
	CHECK(decode_event(&ev, &why) == -EBADMSG, "AF_UNIX is not a network connection");
	c.family = 2;
	c.comm = (ProtobufCBinaryData){ 17, (uint8_t *)"0123456789abcdefg" };
	CHECK(decode_event(&ev, &why) == -EBADMSG && strstr(why, "comm"),
	      "a comm longer than the kernel's 16 bytes is rejected");
}

/* An outcome's new fields: TCP or UDP only, retransmissions a byte; a drop attributed by flow
 * must be attributed. */
static void test_outcome_validation(void)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__TcpOutcome o = NETSPY__V1__TCP_OUTCOME__INIT;
	Netspy__V1__Drop d = NETSPY__V1__DROP__INIT;
	uint8_t a4[4] = { 192, 0, 2, 10 };
	const char *why = NULL;

	ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_OUTCOME;
	ev.tcp_outcome = &o;
	o.outcome = NETSPY__V1__OUTCOME__OUTCOME_UNREACHABLE;
	o.family = 2;
	o.dst_addr = (ProtobufCBinaryData){ 4, a4 };
	o.src_addr = (ProtobufCBinaryData){ 4, a4 };
	o.ip_proto = 17;
	o.err = 101;
	o.sync = 1;
	CHECK(decode_event(&ev, &why) == 0, "a UDP connect's synchronous failure passes");
	o.ip_proto = 1;
	CHECK(decode_event(&ev, &why) == -EBADMSG && strstr(why, "ip_proto"),
	      "an outcome of neither TCP nor UDP is rejected (%s)", why);
	o.ip_proto = 6;
	o.abandoned = 1;
	o.syn_retransmits = 256;
	CHECK(decode_event(&ev, &why) == -EBADMSG && strstr(why, "syn_retransmits"),
	      "more SYN retransmissions than a byte holds are rejected");
	ev.kind_case = NETSPY__V1__EVENT__KIND_DROP;
	ev.drop = &d;
	d.reason_name = (char *)"NETFILTER_DROP";
	d.by_flow = 1;
	CHECK(decode_event(&ev, &why) == -EBADMSG && strstr(why, "attributed"),
	      "a drop attributed by flow but not attributed is rejected");
	d.attributed = 1;
	CHECK(decode_event(&ev, &why) == 0, "a drop attributed by flow passes");
}

/* Like decode_event, for a whole message: *ret is the decoded message when valid. */
static int decode_server_msg(Netspy__V1__ServerMessage *m, const char **why,
			     Netspy__V1__ServerMessage **ret)
{
	static char last[160];
	char *error = NULL;
	struct nbuf b = { 0 };
	int r;

	frame_append(&b, &m->base, NETSPY_MAX_SERVER_FRAME);
	r = netspy_decode_server(b.data + 4, b.len - 4, ret, &error);
	snprintf(last, sizeof(last), "%s", error ? error : "");
	free(error);
	*why = last;
	nbuf_free(&b);
	return r;
}

static int decode_client_msg(const struct nbuf *b, Netspy__V1__ClientMessage **ret)
{
	char *error = NULL;
	int r = netspy_decode_client(b->data + 4, b->len - 4, ret, &error);

	free(error);
	return r;
}

/* The flood issue's wire additions: Drop.count, CountersRequest and Counters. */
static void test_counters(void)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT, *got = NULL;
	Netspy__V1__Counters c = NETSPY__V1__COUNTERS__INIT;
	Netspy__V1__Counter e = NETSPY__V1__COUNTER__INIT, *ep[1] = { &e };
	Netspy__V1__ClientMessage q = NETSPY__V1__CLIENT_MESSAGE__INIT, *gq = NULL;
	Netspy__V1__CountersRequest req = NETSPY__V1__COUNTERS_REQUEST__INIT;
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__Drop d = NETSPY__V1__DROP__INIT;
	struct nbuf b = { 0 };
	const char *why = NULL;

	e.kind = NETSPY__V1__COUNTER_KIND__COUNTER_KIND_DROP_REASON;
	e.event_kind = NETSPY__V1__EVENT_KIND__EVENT_KIND_DROP;
	e.key = 2;
	e.name = "NO_SOCKET";
	e.count = 366000;
	c.n_counters = 1;
	c.counters = ep;
	c.since_ns = 5;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_COUNTERS;
	m.counters = &c;
	CHECK(decode_server_msg(&m, &why, &got) == 0 && got->counters->n_counters == 1 &&
		  got->counters->counters[0]->count == 366000 && got->counters->since_ns == 5,
	      "a Counters answer round-trips (%s)", why ? why : "");
	if (got)
		netspy__v1__server_message__free_unpacked(got, NULL);
	got = NULL;
	e.kind = 99;
	CHECK(decode_server_msg(&m, &why, &got) == -EBADMSG && strstr(why, "kind"),
	      "a counter of unknown kind is rejected");
	e.kind = NETSPY__V1__COUNTER_KIND__COUNTER_KIND_EVENTS;
	e.event_kind = 0;
	CHECK(decode_server_msg(&m, &why, &got) == -EBADMSG && strstr(why, "event kind"),
	      "a counter without an event kind is rejected");

	req.since_ns = 10;
	req.until_ns = 5;
	q.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_COUNTERS_REQUEST;
	q.counters_request = &req;
	frame_append(&b, &q.base, NETSPY_MAX_CLIENT_FRAME);
	CHECK(decode_client_msg(&b, &gq) == -EBADMSG,
	      "a CountersRequest whose window ends before it starts is rejected");
	nbuf_free(&b);
	req.until_ns = 0;
	frame_append(&b, &q.base, NETSPY_MAX_CLIENT_FRAME);
	CHECK(decode_client_msg(&b, &gq) == 0 &&
		  gq->counters_request->since_ns == 10,
	      "a CountersRequest up to now passes");
	if (gq)
		netspy__v1__client_message__free_unpacked(gq, NULL);
	nbuf_free(&b);

	d.reason = 2;
	d.reason_name = "NO_SOCKET";
	d.count = 12000;
	ev.kind_case = NETSPY__V1__EVENT__KIND_DROP;
	ev.drop = &d;
	CHECK(decode_event(&ev, &why) == 0, "a folded drop (count 12000) passes");
}

/* Folded TCP signals: TcpSignal.count survives the round trip; segments keep their bound. */
static void test_folded_signal(void)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__TcpSignal g = NETSPY__V1__TCP_SIGNAL__INIT;
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT, *got = NULL;
	Netspy__V1__EventBatch batch = NETSPY__V1__EVENT_BATCH__INIT;
	Netspy__V1__Event *evs[1] = { &ev };
	uint8_t a4[4] = { 10, 0, 0, 1 };
	const char *why = NULL;

	g.family = 2;
	g.local_addr = (ProtobufCBinaryData){ 4, a4 };
	g.peer_addr = (ProtobufCBinaryData){ 4, a4 };
	g.local_port = 40000;
	g.peer_port = 80;
	g.segments = 2;
	g.count = 4000000000u;
	ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_RETRANSMIT;
	ev.tcp_retransmit = &g;
	batch.n_events = 1;
	batch.events = evs;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS;
	m.events = &batch;
	CHECK(decode_server_msg(&m, &why, &got) == 0 &&
		  got->events->events[0]->tcp_retransmit->count == 4000000000u &&
		  got->events->events[0]->tcp_retransmit->segments == 2,
	      "a folded retransmit keeps its count and segments (%s)", why);
	if (got)
		netspy__v1__server_message__free_unpacked(got, NULL);
	g.segments = 65536;
	CHECK(decode_event(&ev, &why) == -EBADMSG && strstr(why, "segments"),
	      "a folded retransmit's segments stay within their bound");
}

static void test_garbage(void)
{
	static const uint8_t junk[] = { 0xff, 0xfe, 0x01, 0x99, 0x42 };
	Netspy__V1__ClientMessage *m = NULL;
	char *why = NULL;

	CHECK(netspy_decode_client(junk, sizeof(junk), &m, &why) == -EBADMSG && m == NULL && why,
	      "garbage does not decode, and says why (%s)", why ? why : "no reason");
	free(why);
}

int main(void)
{
	test_roundtrip();
	test_oversized();
	test_validation();
	test_outcome_validation();
	test_counters();
	test_folded_signal();
	test_garbage();
	return CHECK_DONE();
}
