/* Ring-buffer records to protocol messages, without copying: the message points at the record. */
#include <string.h>

#include "encode.h"
#include "dropnames.h"

static ProtobufCBinaryData addr(const struct netspy_event *e, const uint8_t *a)
{
	ProtobufCBinaryData b = { 0, (uint8_t *)a };

	if (e->family == 2)
		b.len = 4;
	else if (e->family == 10)
		b.len = 16;
	return b;
}

static ProtobufCBinaryData comm(const char *c)
{
	return (ProtobufCBinaryData){ strnlen(c, NETSPY_COMM_LEN_BPF), (uint8_t *)c };
}

static void encode_connect(struct event_scratch *s, const struct netspy_event *e)
{
	Netspy__V1__Connect *c = &s->connect;

	netspy__v1__connect__init(c);
	c->pid = e->pid;
	c->tid = e->tid;
	c->uid = e->uid;
	c->comm = comm(e->comm);
	c->cgroup_id = e->cgroup_id;
	c->cookie = e->cookie;
	c->family = e->family;
	c->ip_proto = e->ip_proto;
	c->sock_type = e->sock_type;
	c->src_addr = addr(e, e->saddr);
	c->src_port = e->sport;
	c->dst_addr = addr(e, e->daddr);
	c->dst_port = e->dport;
	c->netns = e->netns;
	s->ev.kind_case = NETSPY__V1__EVENT__KIND_CONNECT;
	s->ev.connect = c;
}

static void encode_outcome(struct event_scratch *s, const struct netspy_event *e)
{
	Netspy__V1__TcpOutcome *o = &s->outcome;

	netspy__v1__tcp_outcome__init(o);
	o->cookie = e->cookie;
	o->pid = e->pid;
	o->tid = e->tid;
	o->comm = comm(e->comm);
	o->outcome = (Netspy__V1__Outcome)e->outcome;
	o->err = e->tcp.err;
	o->latency_ns = e->tcp.latency_ns;
	o->family = e->family;
	o->src_addr = addr(e, e->saddr);
	o->src_port = e->sport;
	o->dst_addr = addr(e, e->daddr);
	o->dst_port = e->dport;
	s->ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_OUTCOME;
	s->ev.tcp_outcome = o;
}

static void encode_drop(struct event_scratch *s, const struct netspy_event *e,
			const struct dropnames *names)
{
	Netspy__V1__Drop *d = &s->drop;
	bool attributed = e->flags & NETSPY_F_ATTRIBUTED;

	netspy__v1__drop__init(d);
	d->reason = e->drop.reason;
	d->reason_name =
		(char *)dropnames_get(names, e->drop.reason, s->reason_buf, sizeof(s->reason_buf));
	d->family = e->family;
	d->ip_proto = e->ip_proto;
	d->src_addr = addr(e, e->saddr);
	d->src_port = e->sport;
	d->dst_addr = addr(e, e->daddr);
	d->dst_port = e->dport;
	d->ifindex = e->drop.ifindex;
	d->netns = e->netns;
	d->cookie = e->cookie;
	d->attributed = attributed;
	d->pid = attributed ? e->pid : 0;
	d->comm = attributed ? comm(e->comm) : (ProtobufCBinaryData){ 0, NULL };
	d->location = e->drop.location;
	s->ev.kind_case = NETSPY__V1__EVENT__KIND_DROP;
	s->ev.drop = d;
}

Netspy__V1__Event *encode_event(struct event_scratch *s, const struct netspy_event *src,
				uint64_t seq, const struct dropnames *names)
{
	netspy__v1__event__init(&s->ev);
	s->ev.seq = seq;
	s->ev.timestamp_ns = src->ts_ns;
	switch (src->type) {
	case NETSPY_EV_CONNECT:
		encode_connect(s, src);
		break;
	case NETSPY_EV_TCP_OUTCOME:
		encode_outcome(s, src);
		break;
	default:
		encode_drop(s, src, names);
		break;
	}
	return &s->ev;
}
