/* Direct protobuf encoding of events. Field numbers and order follow proto/netspy.proto; as in
 * protobuf-c, proto3 fields holding their default (0, empty) are left out and fields are written
 * in field-number order, so the bytes equal protobuf-c's. */
#include <errno.h>
#include <string.h>

#include "wire.h"
#include "dropnames.h"

enum { WT_VARINT = 0, WT_LEN = 2 };

/* For the pieces several messages share: inlined where they are used, as if written out there
 * (this is netspyd's hot path). */
#define ALWAYS_INLINE __attribute__((always_inline))

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint8_t *put_uint(uint8_t *p, unsigned field, uint64_t v)
{
	if (!v)
		return p;
	p = put_varint(p, (uint64_t)field << 3 | WT_VARINT); /* two bytes from field 16 on */
	return put_varint(p, v);
}

static inline uint8_t *put_bytes(uint8_t *p, unsigned field, const void *data, size_t len)
{
	if (!len)
		return p;
	p = put_varint(p, (uint64_t)field << 3 | WT_LEN);
	p = put_varint(p, len);
	memcpy(p, data, len);
	return p + len;
}

static size_t addr_len(const struct netspy_event *e)
{
	return e->family == 2 ? 4 : e->family == 10 ? 16 : 0;
}

static size_t comm_len(const char *c)
{
	return strnlen(c, NETSPY_COMM_LEN_BPF);
}

/* The addresses and ports, at fields first to first + 3: source address and port, destination
 * address and port (a socket's local and remote end). */
static inline ALWAYS_INLINE uint8_t *addrs_body(uint8_t *p, unsigned first,
						const struct netspy_event *e)
{
	p = put_bytes(p, first, e->saddr, addr_len(e));
	p = put_uint(p, first + 1, e->sport);
	p = put_bytes(p, first + 2, e->daddr, addr_len(e));
	return put_uint(p, first + 3, e->dport);
}

/* The task, at fields first to first + 2: pid, tid and comm. */
static inline ALWAYS_INLINE uint8_t *task_body(uint8_t *p, unsigned first,
					       const struct netspy_event *e)
{
	p = put_uint(p, first, e->pid);
	p = put_uint(p, first + 1, e->tid);
	return put_bytes(p, first + 2, e->comm, comm_len(e->comm));
}

/* The socket, at fields first to first + 3: its cgroup, cookie, family and IP protocol. */
static inline ALWAYS_INLINE uint8_t *socket_body(uint8_t *p, unsigned first,
						 const struct netspy_event *e)
{
	p = put_uint(p, first, e->cgroup_id);
	p = put_uint(p, first + 1, e->cookie);
	p = put_uint(p, first + 2, e->family);
	return put_uint(p, first + 3, e->ip_proto);
}

static uint8_t *connect_body(uint8_t *p, const struct netspy_event *e)
{
	p = put_uint(p, 1, e->pid);
	p = put_uint(p, 2, e->tid);
	p = put_uint(p, 3, e->uid);
	p = put_bytes(p, 4, e->comm, comm_len(e->comm));
	p = socket_body(p, 5, e);
	p = put_uint(p, 9, e->sock_type);
	p = addrs_body(p, 10, e);
	return put_uint(p, 14, e->netns);
}

static uint8_t *outcome_body(uint8_t *p, const struct netspy_event *e)
{
	p = put_uint(p, 1, e->cookie);
	p = task_body(p, 2, e);
	p = put_uint(p, 5, e->outcome);
	/* int32: a negative value is sign-extended to 64 bits, as protobuf-c does. */
	p = put_uint(p, 6, (uint64_t)(int64_t)e->tcp.err);
	p = put_uint(p, 7, e->tcp.latency_ns);
	p = put_uint(p, 8, e->family);
	p = addrs_body(p, 9, e);
	p = put_uint(p, 13, e->ip_proto);
	p = put_uint(p, 14, !!(e->flags & NETSPY_F_SYNC));
	p = put_uint(p, 15, !!(e->flags & NETSPY_F_ABANDONED));
	return put_uint(p, 16, e->tcp.syn_retrans);
}

static uint8_t *drop_body(uint8_t *p, const struct netspy_event *e, const struct dropnames *names)
{
	bool attributed = e->flags & NETSPY_F_ATTRIBUTED;
	char buf[32];
	const char *name = dropnames_get(names, e->drop.reason, buf, sizeof(buf));

	p = put_uint(p, 1, e->drop.reason);
	p = put_bytes(p, 2, name, strnlen(name, 64));
	p = put_uint(p, 3, e->family);
	p = put_uint(p, 4, e->ip_proto);
	p = addrs_body(p, 5, e);
	p = put_uint(p, 9, e->drop.ifindex);
	p = put_uint(p, 10, e->netns);
	p = put_uint(p, 11, e->cookie);
	p = put_uint(p, 12, attributed);
	if (attributed) {
		p = put_uint(p, 13, e->pid);
		p = put_bytes(p, 14, e->comm, comm_len(e->comm));
	}
	p = put_uint(p, 15, e->drop.location);
	p = put_uint(p, 16, attributed && (e->flags & NETSPY_F_BY_FLOW));
	return put_uint(p, 17, e->drop.count);
}

static uint8_t *dns_body(uint8_t *p, const struct netspy_event *e, const uint8_t *data,
			 size_t data_len)
{
	bool attributed = e->flags & NETSPY_F_ATTRIBUTED;

	if (!data || data_len > NETSPY_DNS_MAX || data_len > e->dns.len)
		data_len = 0;
	if (attributed)
		p = task_body(p, 1, e);
	p = socket_body(p, 4, e);
	p = addrs_body(p, 8, e);
	p = put_uint(p, 12, !!(e->flags & NETSPY_F_INGRESS));
	p = put_uint(p, 13, attributed);
	p = put_uint(p, 14, e->dns.len);
	return put_bytes(p, 15, data, data_len);
}

/* Local and peer of a socket's tuple (saddr/sport are the local side): the family, then the
 * addresses and ports. */
static uint8_t *tuple_body(uint8_t *p, unsigned first, const struct netspy_event *e)
{
	p = put_uint(p, first, e->family);
	return addrs_body(p, first + 1, e);
}

static uint8_t *accept_body(uint8_t *p, const struct netspy_event *e)
{
	p = put_uint(p, 1, e->cookie);
	p = task_body(p, 2, e);
	p = put_uint(p, 5, e->cgroup_id);
	return tuple_body(p, 6, e);
}

static uint8_t *end_body(uint8_t *p, const struct netspy_event *e)
{
	p = put_uint(p, 1, e->cookie);
	p = task_body(p, 2, e);
	p = put_uint(p, 5, !!(e->flags & NETSPY_F_INBOUND));
	p = tuple_body(p, 6, e);
	p = put_uint(p, 11, e->outcome);
	p = put_uint(p, 12, e->life.bytes_sent);
	p = put_uint(p, 13, e->life.bytes_received);
	p = put_uint(p, 14, e->life.retrans);
	p = put_uint(p, 15, e->life.srtt_us);
	p = put_uint(p, 16, e->life_segs_out);
	p = put_uint(p, 17, e->life_duration_ms);
	return put_uint(p, 18, !!(e->flags & NETSPY_F_NO_START));
}

static uint8_t *signal_body(uint8_t *p, const struct netspy_event *e)
{
	p = put_uint(p, 1, e->cookie);
	p = task_body(p, 2, e);
	p = tuple_body(p, 5, e);
	p = put_uint(p, 10, e->type == NETSPY_EV_TCP_RESET && (e->flags & NETSPY_F_INBOUND));
	p = put_uint(p, 11, e->type == NETSPY_EV_TCP_RETRANSMIT ? e->sig.segs : 0);
	return put_uint(p, 70, e->sig.count);
}

size_t wire_event(uint8_t *out, const struct netspy_event *e, uint64_t seq,
		  const struct dropnames *names, const uint8_t *data, size_t data_len)
{
	uint8_t body[WIRE_EVENT_MAX], *b = body, *p = out;
	unsigned field;

	switch (e->type) {
	case NETSPY_EV_CONNECT:
		field = 3;
		b = connect_body(b, e);
		break;
	case NETSPY_EV_TCP_OUTCOME:
		field = 4;
		b = outcome_body(b, e);
		break;
	case NETSPY_EV_TCP_ACCEPT:
		field = 7;
		b = accept_body(b, e);
		break;
	case NETSPY_EV_TCP_END:
		field = 8;
		b = end_body(b, e);
		break;
	case NETSPY_EV_TCP_RETRANSMIT:
		field = 9;
		b = signal_body(b, e);
		break;
	case NETSPY_EV_TCP_RESET:
		field = 10;
		b = signal_body(b, e);
		break;
	case NETSPY_EV_DNS:
		field = 6;
		b = dns_body(b, e, data, data_len);
		break;
	default:
		field = 5;
		b = drop_body(b, e, names);
		break;
	}
	p = put_uint(p, 1, seq);
	p = put_uint(p, 2, e->ts_ns);
	/* A oneof member is written even when empty. */
	*p++ = (uint8_t)(field << 3 | WT_LEN);
	p = put_varint(p, (uint64_t)(b - body));
	memcpy(p, body, (size_t)(b - body));
	return (size_t)(p - out) + (size_t)(b - body);
}

size_t wire_batch_entry(uint8_t *out, const struct netspy_event *e, uint64_t seq,
			const struct dropnames *names, const uint8_t *data, size_t data_len)
{
	uint8_t ev[WIRE_EVENT_MAX];
	size_t n = wire_event(ev, e, seq, names, data, data_len);
	uint8_t *p = out;

	*p++ = 1 << 3 | WT_LEN;
	p = put_varint(p, n);
	memcpy(p, ev, n);
	return (size_t)(p - out) + n;
}

int wire_batch_frame(struct nbuf *out, const uint8_t *events, size_t len)
{
	uint8_t head[16], *h = head;
	size_t total;
	int r;

	/* ServerMessage field 2 (events) = EventBatch, whose body is the entries. */
	*h++ = 2 << 3 | WT_LEN;
	h = put_varint(h, len);
	total = (size_t)(h - head) + len;
	if (total > NETSPY_MAX_SERVER_FRAME)
		return -EMSGSIZE;
	r = nbuf_reserve(out, NETSPY_FRAME_HEADER_SIZE + total);
	if (r < 0)
		return r;
	h = out->data + out->len;
	frame_put_header(h, total);
	memcpy(h + 4, head, total - len);
	memcpy(h + 4 + (total - len), events, len);
	out->len += NETSPY_FRAME_HEADER_SIZE + total;
	return 0;
}
