/* The hot-path encoder (collectord/wire.c) must produce exactly what protobuf-c packs for the same
 * event: this test builds each event both ways and compares the bytes, then decodes the frame. */
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "../../collectord/dropnames.c"
#include "../../collectord/wire.c"

/* The reference: the event as protobuf-c structs, packed by protobuf-c. */
struct ref {
	Netspy__V1__Event ev;
	Netspy__V1__Connect c;
	Netspy__V1__TcpOutcome o;
	Netspy__V1__Drop d;
	Netspy__V1__TcpAccept a;
	Netspy__V1__TcpEnd end;
	Netspy__V1__TcpSignal g;
	Netspy__V1__Dns n;
	char name[32];
};

static ProtobufCBinaryData bin(const void *p, size_t n)
{
	return (ProtobufCBinaryData){ n, (uint8_t *)p };
}

static void ref_build(struct ref *r, const struct netspy_event *e, uint64_t seq,
		      const struct dropnames *names, const uint8_t *data, size_t dlen)
{
	size_t al = addr_len(e), cl = comm_len(e->comm);
	bool attributed = e->flags & NETSPY_F_ATTRIBUTED;

	netspy__v1__event__init(&r->ev);
	r->ev.seq = seq;
	r->ev.timestamp_ns = e->ts_ns;
	if (e->type == NETSPY_EV_CONNECT) {
		netspy__v1__connect__init(&r->c);
		r->c = (Netspy__V1__Connect){ r->c.base,
					      e->pid,
					      e->tid,
					      e->uid,
					      bin(e->comm, cl),
					      e->cgroup_id,
					      e->cookie,
					      e->family,
					      e->ip_proto,
					      e->sock_type,
					      bin(e->saddr, al),
					      e->sport,
					      bin(e->daddr, al),
					      e->dport,
					      e->netns };
		r->ev.kind_case = NETSPY__V1__EVENT__KIND_CONNECT;
		r->ev.connect = &r->c;
	} else if (e->type == NETSPY_EV_TCP_OUTCOME) {
		netspy__v1__tcp_outcome__init(&r->o);
		r->o.cookie = e->cookie;
		r->o.pid = e->pid;
		r->o.tid = e->tid;
		r->o.comm = bin(e->comm, cl);
		r->o.outcome = (Netspy__V1__Outcome)e->outcome;
		r->o.err = e->tcp.err;
		r->o.latency_ns = e->tcp.latency_ns;
		r->o.family = e->family;
		r->o.src_addr = bin(e->saddr, al);
		r->o.src_port = e->sport;
		r->o.dst_addr = bin(e->daddr, al);
		r->o.dst_port = e->dport;
		r->o.ip_proto = e->ip_proto;
		r->o.sync = !!(e->flags & NETSPY_F_SYNC);
		r->o.abandoned = !!(e->flags & NETSPY_F_ABANDONED);
		r->o.syn_retransmits = e->tcp.syn_retrans;
		r->ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_OUTCOME;
		r->ev.tcp_outcome = &r->o;
	} else if (e->type == NETSPY_EV_TCP_ACCEPT) {
		netspy__v1__tcp_accept__init(&r->a);
		r->a.cookie = e->cookie;
		r->a.pid = e->pid;
		r->a.tid = e->tid;
		r->a.comm = bin(e->comm, cl);
		r->a.cgroup_id = e->cgroup_id;
		r->a.family = e->family;
		r->a.local_addr = bin(e->saddr, al);
		r->a.local_port = e->sport;
		r->a.peer_addr = bin(e->daddr, al);
		r->a.peer_port = e->dport;
		r->ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_ACCEPT;
		r->ev.tcp_accept = &r->a;
	} else if (e->type == NETSPY_EV_TCP_END) {
		netspy__v1__tcp_end__init(&r->end);
		r->end.cookie = e->cookie;
		r->end.pid = e->pid;
		r->end.tid = e->tid;
		r->end.comm = bin(e->comm, cl);
		r->end.inbound = !!(e->flags & NETSPY_F_INBOUND);
		r->end.family = e->family;
		r->end.local_addr = bin(e->saddr, al);
		r->end.local_port = e->sport;
		r->end.peer_addr = bin(e->daddr, al);
		r->end.peer_port = e->dport;
		r->end.end = (Netspy__V1__TcpEndKind)e->outcome;
		r->end.bytes_sent = e->life.bytes_sent;
		r->end.bytes_received = e->life.bytes_received;
		r->end.retransmits = e->life.retrans;
		r->end.srtt_us = e->life.srtt_us;
		r->end.segs_out = e->life_segs_out;
		r->end.duration_ms = e->life_duration_ms;
		r->end.start_unknown = !!(e->flags & NETSPY_F_NO_START);
		r->ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_END;
		r->ev.tcp_end = &r->end;
	} else if (e->type == NETSPY_EV_TCP_RETRANSMIT || e->type == NETSPY_EV_TCP_RESET) {
		netspy__v1__tcp_signal__init(&r->g);
		r->g.cookie = e->cookie;
		r->g.pid = e->pid;
		r->g.tid = e->tid;
		r->g.comm = bin(e->comm, cl);
		r->g.family = e->family;
		r->g.local_addr = bin(e->saddr, al);
		r->g.local_port = e->sport;
		r->g.peer_addr = bin(e->daddr, al);
		r->g.peer_port = e->dport;
		r->g.count = e->sig.count;
		if (e->type == NETSPY_EV_TCP_RESET) {
			r->g.received = !!(e->flags & NETSPY_F_INBOUND);
			r->ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_RESET;
			r->ev.tcp_reset = &r->g;
		} else {
			r->g.segments = e->sig.segs;
			r->ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_RETRANSMIT;
			r->ev.tcp_retransmit = &r->g;
		}
	} else if (e->type == NETSPY_EV_DNS) {
		netspy__v1__dns__init(&r->n);
		r->n.pid = attributed ? e->pid : 0;
		r->n.tid = attributed ? e->tid : 0;
		r->n.comm = attributed ? bin(e->comm, cl) : bin(NULL, 0);
		r->n.cgroup_id = e->cgroup_id;
		r->n.cookie = e->cookie;
		r->n.family = e->family;
		r->n.ip_proto = e->ip_proto;
		r->n.src_addr = bin(e->saddr, al);
		r->n.src_port = e->sport;
		r->n.dst_addr = bin(e->daddr, al);
		r->n.dst_port = e->dport;
		r->n.received = !!(e->flags & NETSPY_F_INGRESS);
		r->n.attributed = attributed;
		r->n.length = e->dns.len;
		r->n.data = bin(data, dlen);
		r->ev.kind_case = NETSPY__V1__EVENT__KIND_DNS;
		r->ev.dns = &r->n;
	} else {
		netspy__v1__drop__init(&r->d);
		r->d.reason = e->drop.reason;
		r->d.reason_name =
		    (char *)dropnames_get(names, e->drop.reason, r->name, sizeof(r->name));
		r->d.family = e->family;
		r->d.ip_proto = e->ip_proto;
		r->d.src_addr = bin(e->saddr, al);
		r->d.src_port = e->sport;
		r->d.dst_addr = bin(e->daddr, al);
		r->d.dst_port = e->dport;
		r->d.ifindex = e->drop.ifindex;
		r->d.netns = e->netns;
		r->d.cookie = e->cookie;
		r->d.attributed = attributed;
		r->d.pid = attributed ? e->pid : 0;
		r->d.comm = attributed ? bin(e->comm, cl) : bin(NULL, 0);
		r->d.location = e->drop.location;
		r->d.by_flow = attributed && (e->flags & NETSPY_F_BY_FLOW);
		r->d.count = e->drop.count;
		r->ev.kind_case = NETSPY__V1__EVENT__KIND_DROP;
		r->ev.drop = &r->d;
	}
}

static struct netspy_event sample(int i)
{
	struct netspy_event e;

	memset(&e, 0, sizeof(e));
	static const uint8_t types[] = { NETSPY_EV_CONNECT,	    NETSPY_EV_TCP_OUTCOME,
					 NETSPY_EV_DROP,	    NETSPY_EV_DNS,
					 NETSPY_EV_TCP_ACCEPT,	    NETSPY_EV_TCP_END,
					 NETSPY_EV_TCP_RETRANSMIT, NETSPY_EV_TCP_RESET };

	e.type = types[i % 8];
	e.family = i % 4 == 0 ? 10 : (i % 7 == 0 && e.type == NETSPY_EV_DROP) ? 0 : 2;
	e.ip_proto = i % 2 ? 6 : 17;
	e.sock_type = e.ip_proto == 6 ? 1 : 2;
	e.sport = (uint16_t)(i * 7919);
	e.dport = (uint16_t)(i % 5 ? 443 : 0);
	e.pid = (uint32_t)(i * 104729);
	e.tid = e.pid + (uint32_t)(i % 3);
	e.uid = (uint32_t)(i % 11 ? 1000 : 0);
	e.ts_ns = 1700000000000000000ull + (uint64_t)i * 977;
	e.cookie = (uint64_t)i << (i % 60);
	e.cgroup_id = (uint64_t)i * 31;
	for (int k = 0; k < 16; k++) {
		e.saddr[k] = (uint8_t)(i + k);
		e.daddr[k] = (uint8_t)(i * k);
	}
	snprintf(e.comm, sizeof(e.comm), "%.*s", i % 16, "proc-with-a-long-name");
	if (e.type == NETSPY_EV_TCP_OUTCOME) {
		e.outcome = (uint8_t)(1 + i % 7);
		e.tcp.err = i % 7 ? 111 : 0;
		e.tcp.latency_ns = (uint64_t)i * 12345;
		e.flags = i % 5 == 0 ? NETSPY_F_SYNC : i % 5 == 1 ? NETSPY_F_ABANDONED : 0;
		e.tcp.syn_retrans = (uint8_t)(i % 5 == 1 ? i % 4 : 0);
	} else if (e.type == NETSPY_EV_TCP_END) {
		e.outcome = (uint8_t)(1 + i % 4);
		e.flags = (i % 2 ? NETSPY_F_INBOUND : 0) | (i % 3 == 0 ? NETSPY_F_NO_START : 0);
		e.life.bytes_sent = (uint64_t)i << (i % 40);
		e.life.bytes_received = (uint64_t)i * 65537;
		e.life.retrans = (uint32_t)(i % 9);
		e.life.srtt_us = (uint32_t)i * 13;
		e.life_segs_out = (uint32_t)i * 3;
		e.life_duration_ms = (uint32_t)(i % 3 ? i * 101 : 0);
	} else if (e.type == NETSPY_EV_TCP_RETRANSMIT) {
		e.sig.segs = (uint32_t)(1 + i % 44);
		e.sig.count = i % 3 == 0 ? (uint32_t)i * 1000003u : i % 3 == 1 ? 1 : 0;
	} else if (e.type == NETSPY_EV_TCP_RESET) {
		e.flags = i % 2 ? NETSPY_F_INBOUND : 0;
		e.sig.count = i % 5 == 0 ? (uint32_t)i * 7u : 0;
	} else if (e.type == NETSPY_EV_DROP) {
		e.flags = i % 2 ? NETSPY_F_ATTRIBUTED : 0;
		e.flags |= i % 3 == 2 ? NETSPY_F_BY_FLOW : 0;
		e.drop.reason = (uint32_t)(i % 90);
		e.drop.ifindex = (uint32_t)(i % 4);
		e.drop.location = 0xffffffff81000000ull + (uint64_t)i;
		e.drop.count = i % 4 == 0 ? (uint32_t)i * 1000003u : i % 4 == 1 ? 1 : 0;
		e.netns = 4026531840u + (uint32_t)(i % 2);
	} else if (e.type == NETSPY_EV_DNS) {
		e.flags = (i % 2 ? NETSPY_F_ATTRIBUTED : 0) | (i % 3 ? NETSPY_F_INGRESS : 0);
		e.ip_proto = i % 5 ? 17 : 6;
		e.dns.len = (uint16_t)(i % 11 ? i % 600 : 0);
		e.dns.cap_len = e.dns.len < NETSPY_DNS_MAX ? e.dns.len : NETSPY_DNS_MAX;
	}
	return e;
}

int main(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	struct dropnames *names = NULL;
	int mismatches = 0, undecodable = 0, total = 3000;
	uint8_t batch[64 * WIRE_EVENT_MAX];
	size_t blen = 0, nbatch = 0;

	if (btf)
		dropnames_load(btf, &names);
	for (int i = 0; i < total; i++) {
		struct netspy_event e = sample(i);
		uint64_t seq = (uint64_t)i * 1000003ull;
		uint8_t fast[WIRE_EVENT_MAX], slow[1024], data[NETSPY_DNS_MAX];
		size_t dlen = e.type == NETSPY_EV_DNS ? e.dns.cap_len : 0;
		struct ref r;
		size_t nf, ns;

		for (size_t k = 0; k < dlen; k++)
			data[k] = (uint8_t)(k * 7 + (size_t)i);
		ref_build(&r, &e, seq, names, data, dlen);
		ns = protobuf_c_message_pack(&r.ev.base, slow);
		nf = wire_event(fast, &e, seq, names, dlen ? data : NULL, dlen);
		if (nf != ns || memcmp(fast, slow, nf))
			mismatches++;
		if (nbatch < 64) {
			blen += wire_batch_entry(batch + blen, &e, seq, names, dlen ? data : NULL,
						 dlen);
			nbatch++;
		}
	}
	CHECK(mismatches == 0, "%d events encoded, byte-identical to protobuf-c (%d differ)", total,
	      mismatches);

	struct nbuf frame = { 0 };
	Netspy__V1__ServerMessage *m = NULL;
	char *why = NULL;

	CHECK(wire_batch_frame(&frame, batch, blen) == 0, "a batch of 64 becomes one frame");
	if (netspy_decode_server(frame.data + 4, frame.len - 4, &m, &why) < 0)
		undecodable = 1;
	CHECK(!undecodable && m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS &&
		  m->events->n_events == 64,
	      "protobuf-c decodes the batch frame (%s)", undecodable && why ? why : "ok");
	free(why);
	if (m) {
		CHECK(m->events->events[5]->seq == 5 * 1000003ull, "fields survive (seq)");
		netspy__v1__server_message__free_unpacked(m, NULL);
	}
	CHECK(wire_batch_frame(&frame, batch, NETSPY_MAX_SERVER_FRAME) == -EMSGSIZE,
	      "a batch larger than a frame is refused");
	nbuf_free(&frame);
	dropnames_free(names);
	btf__free(btf);
	return CHECK_DONE();
}
