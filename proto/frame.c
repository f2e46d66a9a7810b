/* Length-prefixed framing for netspy messages, and validation of every decoded field. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "frame.h"

void nbuf_free(struct nbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int nbuf_reserve(struct nbuf *b, size_t extra)
{
	size_t want, cap;
	uint8_t *p;

	if (extra > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	want = b->len + extra;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < want)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

void nbuf_consume(struct nbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void frame_put_header(uint8_t *p, size_t n)
{
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
}

int frame_append(struct nbuf *out, const ProtobufCMessage *msg, size_t max_frame)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *p;
	int r;

	if (n == 0)
		return -EINVAL; /* an empty frame is a protocol violation */
	if (n > max_frame)
		return -EMSGSIZE;
	r = nbuf_reserve(out, NETSPY_FRAME_HEADER_SIZE + n);
	if (r < 0)
		return r;
	p = out->data + out->len;
	frame_put_header(p, n);
	protobuf_c_message_pack(msg, p + NETSPY_FRAME_HEADER_SIZE);
	out->len += NETSPY_FRAME_HEADER_SIZE + n;
	return 0;
}

void frame_reader_init(struct frame_reader *r, size_t max_frame)
{
	memset(r, 0, sizeof(*r));
	r->max_frame = max_frame;
}

void frame_reader_fini(struct frame_reader *r)
{
	nbuf_free(&r->in);
	r->pos = 0;
}

size_t frame_reader_pending(const struct frame_reader *r)
{
	return r->in.len - r->pos;
}

ssize_t frame_reader_fill(struct frame_reader *r, int fd)
{
	ssize_t n;
	size_t room;
	int err;

	/* Compact first so the buffer never grows past one maximal frame plus a read's worth. */
	if (r->pos) {
		nbuf_consume(&r->in, r->pos);
		r->pos = 0;
	}
	room = 64 * 1024;
	err = nbuf_reserve(&r->in, room);
	if (err < 0)
		return err;
	n = read(fd, r->in.data + r->in.len, r->in.cap - r->in.len);
	if (n < 0)
		return -errno;
	r->in.len += (size_t)n;
	return n;
}

int frame_reader_next(struct frame_reader *r, const uint8_t **ret_payload, size_t *ret_len)
{
	const uint8_t *p = r->in.data + r->pos;
	size_t avail = r->in.len - r->pos;
	uint32_t n;

	if (avail < NETSPY_FRAME_HEADER_SIZE)
		return 0;
	n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (n > r->max_frame)
		return -EMSGSIZE;
	if (n == 0)
		return -EBADMSG;
	if (avail - NETSPY_FRAME_HEADER_SIZE < n)
		return 0;
	*ret_payload = p + NETSPY_FRAME_HEADER_SIZE;
	*ret_len = n;
	r->pos += NETSPY_FRAME_HEADER_SIZE + n;
	return 1;
}

/* ---- validation ------------------------------------------------------------------------- */

static bool text_ok(const char *s, size_t max)
{
	/* protobuf-c guarantees NUL termination; we bound the length. */
	return s && strnlen(s, max + 1) <= max;
}

static bool addr_ok(uint32_t family, const ProtobufCBinaryData *a)
{
	if (family == 2)
		return a->len == 4;
	if (family == 10)
		return a->len == 16;
	return a->len == 0 || a->len == 4 || a->len == 16;
}

static bool port_ok(uint32_t port)
{
	return port <= 65535;
}

static bool family_ok(uint32_t family)
{
	return family == 2 || family == 10;
}

static const char *connect_invalid(const Netspy__V1__Connect *c)
{
	if (c->comm.len > NETSPY_COMM_LEN)
		return "connect: comm too long";
	if (!family_ok(c->family))
		return "connect: family is not AF_INET or AF_INET6";
	if (c->ip_proto > 255)
		return "connect: ip_proto out of range";
	if (!addr_ok(c->family, &c->src_addr) || !addr_ok(c->family, &c->dst_addr))
		return "connect: address length does not match the family";
	if (!port_ok(c->src_port) || !port_ok(c->dst_port))
		return "connect: port out of range";
	return NULL;
}

static const char *outcome_invalid(const Netspy__V1__TcpOutcome *o)
{
	if (o->comm.len > NETSPY_COMM_LEN)
		return "tcp_outcome: comm too long";
	if (o->outcome <= NETSPY__V1__OUTCOME__OUTCOME_UNSPECIFIED ||
	    o->outcome > NETSPY__V1__OUTCOME__OUTCOME_ABORTED)
		return "tcp_outcome: unknown outcome";
	if (o->err < 0 || o->err > 4095)
		return "tcp_outcome: errno out of range";
	if (!family_ok(o->family))
		return "tcp_outcome: family is not AF_INET or AF_INET6";
	if (!addr_ok(o->family, &o->src_addr) || !addr_ok(o->family, &o->dst_addr))
		return "tcp_outcome: address length does not match the family";
	if (!port_ok(o->src_port) || !port_ok(o->dst_port))
		return "tcp_outcome: port out of range";
	if (o->ip_proto != 0 && o->ip_proto != 6 && o->ip_proto != 17)
		return "tcp_outcome: ip_proto is not TCP or UDP";
	if (o->syn_retransmits > 255)
		return "tcp_outcome: syn_retransmits out of range";
	return NULL;
}

static const char *drop_invalid(const Netspy__V1__Drop *d)
{
	if (!text_ok(d->reason_name, 64) || !d->reason_name[0])
		return "drop: reason_name missing or too long";
	if (d->comm.len > NETSPY_COMM_LEN)
		return "drop: comm too long";
	if (d->family != 0 && !family_ok(d->family))
		return "drop: unknown family";
	if (d->ip_proto > 255)
		return "drop: ip_proto out of range";
	if (!addr_ok(d->family, &d->src_addr) || !addr_ok(d->family, &d->dst_addr))
		return "drop: address length does not match the family";
	if (!port_ok(d->src_port) || !port_ok(d->dst_port))
		return "drop: port out of range";
	if (!d->attributed && (d->pid || d->comm.len || d->by_flow))
		return "drop: owner given but not attributed";
	return NULL;
}

static bool tuple_ok(uint32_t family, const ProtobufCBinaryData *local, uint32_t lport,
		     const ProtobufCBinaryData *peer, uint32_t pport)
{
	return family_ok(family) && addr_ok(family, local) && addr_ok(family, peer) &&
	       port_ok(lport) && port_ok(pport);
}

static const char *accept_invalid(const Netspy__V1__TcpAccept *a)
{
	if (a->comm.len > NETSPY_COMM_LEN)
		return "tcp_accept: comm too long";
	if (!tuple_ok(a->family, &a->local_addr, a->local_port, &a->peer_addr, a->peer_port))
		return "tcp_accept: bad family, address or port";
	return NULL;
}

static const char *end_invalid(const Netspy__V1__TcpEnd *e)
{
	if (e->comm.len > NETSPY_COMM_LEN)
		return "tcp_end: comm too long";
	if (!tuple_ok(e->family, &e->local_addr, e->local_port, &e->peer_addr, e->peer_port))
		return "tcp_end: bad family, address or port";
	if (e->end <= NETSPY__V1__TCP_END_KIND__TCP_END_UNSPECIFIED ||
	    e->end > NETSPY__V1__TCP_END_KIND__TCP_END_TIMEOUT)
		return "tcp_end: unknown end";
	return NULL;
}

static const char *signal_invalid(const Netspy__V1__TcpSignal *g)
{
	if (g->comm.len > NETSPY_COMM_LEN)
		return "tcp signal: comm too long";
	if (!tuple_ok(g->family, &g->local_addr, g->local_port, &g->peer_addr, g->peer_port))
		return "tcp signal: bad family, address or port";
	if (g->segments > 65535)
		return "tcp signal: segments out of range";
	return NULL;
}

static const char *dns_invalid(const Netspy__V1__Dns *d)
{
	if (d->comm.len > NETSPY_COMM_LEN)
		return "dns: comm too long";
	if (!family_ok(d->family))
		return "dns: family is not AF_INET or AF_INET6";
	if (d->ip_proto != 6 && d->ip_proto != 17)
		return "dns: ip_proto is not TCP or UDP";
	if (!addr_ok(d->family, &d->src_addr) || !addr_ok(d->family, &d->dst_addr))
		return "dns: address length does not match the family";
	if (!port_ok(d->src_port) || !port_ok(d->dst_port))
		return "dns: port out of range";
	if (d->data.len > NETSPY_MAX_DNS_BYTES || d->data.len > d->length || d->length > 65535)
		return "dns: data longer than 512 bytes or than its length";
	if (!d->attributed && (d->pid || d->tid || d->comm.len))
		return "dns: owner given but not attributed";
	return NULL;
}

const char *netspy_event_invalid(const Netspy__V1__Event *ev)
{
	if (!ev)
		return "event missing";
	switch (ev->kind_case) {
	case NETSPY__V1__EVENT__KIND_CONNECT:
		return connect_invalid(ev->connect);
	case NETSPY__V1__EVENT__KIND_TCP_OUTCOME:
		return outcome_invalid(ev->tcp_outcome);
	case NETSPY__V1__EVENT__KIND_DROP:
		return drop_invalid(ev->drop);
	case NETSPY__V1__EVENT__KIND_DNS:
		return dns_invalid(ev->dns);
	case NETSPY__V1__EVENT__KIND_TCP_ACCEPT:
		return accept_invalid(ev->tcp_accept);
	case NETSPY__V1__EVENT__KIND_TCP_END:
		return end_invalid(ev->tcp_end);
	case NETSPY__V1__EVENT__KIND_TCP_RETRANSMIT:
		return signal_invalid(ev->tcp_retransmit);
	case NETSPY__V1__EVENT__KIND_TCP_RESET:
		return signal_invalid(ev->tcp_reset);
	case NETSPY__V1__EVENT__KIND__NOT_SET:
		/* A kind this build does not know (a newer daemon's): the reader skips it. */
		return NULL;
	default:
		return "event of unknown kind";
	}
}

static const char *subscribe_invalid(const Netspy__V1__Subscribe *s)
{
	size_t i;

	if (s->n_pids > NETSPY_MAX_FILTER_PIDS)
		return "subscribe: too many pids";
	if (s->n_comms > NETSPY_MAX_FILTER_COMMS)
		return "subscribe: too many process names";
	if (s->n_kinds > NETSPY_MAX_FILTER_KINDS)
		return "subscribe: too many kinds";
	for (i = 0; i < s->n_comms; i++)
		if (!text_ok(s->comms[i], NETSPY_COMM_LEN - 1) || !s->comms[i][0])
			return "subscribe: process name empty or longer than 15 bytes";
	for (i = 0; i < s->n_kinds; i++)
		if (s->kinds[i] <= NETSPY__V1__EVENT_KIND__EVENT_KIND_UNSPECIFIED ||
		    s->kinds[i] > NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_RESET)
			return "subscribe: unknown event kind";
	return NULL;
}

static const char *client_invalid(const Netspy__V1__ClientMessage *m)
{
	switch (m->msg_case) {
	case NETSPY__V1__CLIENT_MESSAGE__MSG_HELLO:
		if (!text_ok(m->hello->software, NETSPY_MAX_SOFTWARE_LEN))
			return "hello: software string too long";
		return NULL;
	case NETSPY__V1__CLIENT_MESSAGE__MSG_SUBSCRIBE:
		return subscribe_invalid(m->subscribe);
	case NETSPY__V1__CLIENT_MESSAGE__MSG_STATS_REQUEST:
		return NULL;
	case NETSPY__V1__CLIENT_MESSAGE__MSG_COUNTERS_REQUEST:
		if (m->counters_request->until_ns &&
		    m->counters_request->until_ns < m->counters_request->since_ns)
			return "counters_request: window ends before it starts";
		return NULL;
	default:
		return "message of unknown type";
	}
}

static const char *server_invalid(const Netspy__V1__ServerMessage *m)
{
	size_t i;
	const char *why;

	switch (m->msg_case) {
	case NETSPY__V1__SERVER_MESSAGE__MSG_HELLO:
		if (!text_ok(m->hello->software, NETSPY_MAX_SOFTWARE_LEN))
			return "hello: software string too long";
		return NULL;
	case NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS:
		if (m->events->n_events > NETSPY_MAX_BATCH_EVENTS)
			return "batch: too many events";
		for (i = 0; i < m->events->n_events; i++) {
			why = netspy_event_invalid(m->events->events[i]);
			if (why)
				return why;
		}
		return NULL;
	case NETSPY__V1__SERVER_MESSAGE__MSG_REPLAY_DONE:
		return NULL;
	case NETSPY__V1__SERVER_MESSAGE__MSG_LOSS:
		if (m->loss->source <= NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_UNSPECIFIED ||
		    m->loss->source > NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_CLIENT)
			return "loss: unknown source";
		return NULL;
	case NETSPY__V1__SERVER_MESSAGE__MSG_COUNTERS:
		if (m->counters->n_counters > NETSPY_MAX_COUNTERS)
			return "counters: too many";
		for (i = 0; i < m->counters->n_counters; i++) {
			const Netspy__V1__Counter *c = m->counters->counters[i];

			if (c->kind <= NETSPY__V1__COUNTER_KIND__COUNTER_KIND_UNSPECIFIED ||
			    c->kind > NETSPY__V1__COUNTER_KIND__COUNTER_KIND_DROP_REASON)
				return "counters: unknown kind";
			if (c->event_kind <= NETSPY__V1__EVENT_KIND__EVENT_KIND_UNSPECIFIED ||
			    c->event_kind > NETSPY__V1__EVENT_KIND__EVENT_KIND_DROP)
				return "counters: unknown event kind";
			if (!text_ok(c->name, 64))
				return "counters: name too long";
		}
		return NULL;
	case NETSPY__V1__SERVER_MESSAGE__MSG_STATS:
		if (!text_ok(m->stats->version, NETSPY_MAX_SOFTWARE_LEN))
			return "stats: version string too long";
		return NULL;
	case NETSPY__V1__SERVER_MESSAGE__MSG_ERROR:
		if (!text_ok(m->error->message, NETSPY_MAX_TEXT_LEN))
			return "error: message too long";
		return NULL;
	default:
		return "message of unknown type";
	}
}

/* The reason a frame was refused, for the caller to free; NULL when out of memory ("no detail"). */
static void set_error(char **ret_error, const char *why)
{
	if (ret_error)
		*ret_error = strdup(why);
}

int netspy_decode_client(const uint8_t *data, size_t len, Netspy__V1__ClientMessage **ret_msg,
			 char **ret_error)
{
	Netspy__V1__ClientMessage *m;
	const char *why;

	if (len > NETSPY_MAX_CLIENT_FRAME) {
		set_error(ret_error, "frame too large");
		return -EBADMSG;
	}
	m = netspy__v1__client_message__unpack(NULL, len, data);
	if (!m) {
		set_error(ret_error, "not a valid protobuf ClientMessage");
		return -EBADMSG;
	}
	why = client_invalid(m);
	if (why) {
		netspy__v1__client_message__free_unpacked(m, NULL);
		set_error(ret_error, why);
		return -EBADMSG;
	}
	*ret_msg = m;
	return 0;
}

int netspy_decode_server(const uint8_t *data, size_t len, Netspy__V1__ServerMessage **ret_msg,
			 char **ret_error)
{
	return netspy_decode_server_alloc(data, len, NULL, ret_msg, ret_error);
}

int netspy_decode_server_alloc(const uint8_t *data, size_t len, ProtobufCAllocator *alloc,
			       Netspy__V1__ServerMessage **ret_msg, char **ret_error)
{
	Netspy__V1__ServerMessage *m;
	const char *why;

	if (len > NETSPY_MAX_SERVER_FRAME) {
		set_error(ret_error, "frame too large");
		return -EBADMSG;
	}
	m = netspy__v1__server_message__unpack(alloc, len, data);
	if (!m) {
		set_error(ret_error, "not a valid protobuf ServerMessage");
		return -EBADMSG;
	}
	why = server_invalid(m);
	if (why) {
		netspy__v1__server_message__free_unpacked(m, alloc);
		set_error(ret_error, why);
		return -EBADMSG;
	}
	*ret_msg = m;
	return 0;
}
