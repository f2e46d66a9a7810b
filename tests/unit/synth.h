/* Synthetic daemon events for the analyzer's unit tests: builds protobuf events on the stack and
 * feeds them to a store. */
#ifndef NETSPY_TEST_SYNTH_H
#define NETSPY_TEST_SYNTH_H

#include <string.h>

#include "core/store.h"

#define SEC 1000000000ull

static inline void synth_connect(struct store *s, uint64_t ts, uint32_t pid, const char *comm,
				 uint32_t proto, uint8_t last_octet, uint32_t port, uint64_t cookie,
				 uint64_t cgroup_id)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__Connect c = NETSPY__V1__CONNECT__INIT;
	uint8_t dst[4] = { 10, 0, 0, last_octet };

	c.pid = pid;
	c.comm.data = (uint8_t *)comm;
	c.comm.len = strlen(comm);
	c.ip_proto = proto;
	c.family = 2;
	c.dst_addr.data = dst;
	c.dst_addr.len = 4;
	c.dst_port = port;
	c.cookie = cookie;
	c.cgroup_id = cgroup_id;
	ev.timestamp_ns = ts;
	ev.kind_case = NETSPY__V1__EVENT__KIND_CONNECT;
	ev.connect = &c;
	store_add(s, &ev);
}

static inline void synth_outcome_add(struct store *s, uint64_t ts, Netspy__V1__TcpOutcome *o)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;

	ev.timestamp_ns = ts;
	ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_OUTCOME;
	ev.tcp_outcome = o;
	store_add(s, &ev);
}

static inline void synth_outcome(struct store *s, uint64_t ts, uint64_t cookie, int outcome,
				 uint64_t latency_ns)
{
	Netspy__V1__TcpOutcome o = NETSPY__V1__TCP_OUTCOME__INIT;

	o.cookie = cookie;
	o.outcome = outcome;
	o.latency_ns = latency_ns;
	synth_outcome_add(s, ts, &o);
}

/* An outcome with the facts the kernel adds: failed inside connect() (sync), or abandoned. */
static inline void synth_outcome_ex(struct store *s, uint64_t ts, uint64_t cookie, int outcome,
				    uint32_t ip_proto, int err, bool sync, bool abandoned)
{
	Netspy__V1__TcpOutcome o = NETSPY__V1__TCP_OUTCOME__INIT;

	o.cookie = cookie;
	o.outcome = outcome;
	o.ip_proto = ip_proto;
	o.err = err;
	o.sync = sync;
	o.abandoned = abandoned;
	synth_outcome_add(s, ts, &o);
}

static inline void synth_drop(struct store *s, uint64_t ts, const char *reason, uint32_t pid,
			      const char *comm, uint32_t proto, uint32_t dport)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__Drop d = NETSPY__V1__DROP__INIT;
	uint8_t a[4] = { 127, 0, 0, 1 };

	d.reason_name = (char *)reason;
	d.family = 2;
	d.ip_proto = proto;
	d.src_addr.data = d.dst_addr.data = a;
	d.src_addr.len = d.dst_addr.len = 4;
	d.src_port = 40000;
	d.dst_port = dport;
	d.attributed = pid != 0;
	d.pid = pid;
	if (comm) {
		d.comm.data = (uint8_t *)comm;
		d.comm.len = strlen(comm);
	}
	ev.timestamp_ns = ts;
	ev.kind_case = NETSPY__V1__EVENT__KIND_DROP;
	ev.drop = &d;
	store_add(s, &ev);
}

/* A DNS message: header, the question, then (responses) an optional CNAME from the name asked to
 * cname and an optional A record (4 bytes at a4) for the last name of that chain. Returns its
 * length. */
static inline size_t synth_dns_msg(uint8_t *buf, uint16_t id, bool response, uint16_t rcode,
				   const char *qname, uint16_t qtype, const char *cname,
				   const uint8_t *a4, uint32_t ttl)
{
	size_t n = 12, cname_at = 0;
	uint16_t ancount = (uint16_t)((cname ? 1 : 0) + (a4 ? 1 : 0));
	const char *names[2] = { qname, cname };

	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = (uint8_t)((response ? 0x80 : 0) | 0x01);
	buf[3] = (uint8_t)((response ? 0x80 : 0) | (rcode & 0xf));
	buf[5] = 1;
	buf[7] = response ? (uint8_t)ancount : 0;
	for (int k = 0; k < 2; k++) {
		const char *p = names[k];

		if (!p || (k == 1 && !response))
			continue;
		if (k == 1) { /* the CNAME record: owner = the question's name (pointer to 12) */
			buf[n++] = 0xc0;
			buf[n++] = 12;
			buf[n++] = 0;
			buf[n++] = 5;
			buf[n++] = 0;
			buf[n++] = 1;
			buf[n++] = (uint8_t)(ttl >> 24);
			buf[n++] = (uint8_t)(ttl >> 16);
			buf[n++] = (uint8_t)(ttl >> 8);
			buf[n++] = (uint8_t)ttl;
			buf[n++] = 0;
			buf[n++] = (uint8_t)(strlen(p) + 2);
			cname_at = n;
		}
		while (*p) {
			const char *dot = strchr(p, '.');
			size_t l = dot ? (size_t)(dot - p) : strlen(p);

			buf[n++] = (uint8_t)l;
			memcpy(buf + n, p, l);
			n += l;
			p += l + (dot ? 1 : 0);
		}
		buf[n++] = 0;
		if (k == 0) {
			buf[n++] = (uint8_t)(qtype >> 8);
			buf[n++] = (uint8_t)qtype;
			buf[n++] = 0;
			buf[n++] = 1;
		}
	}
	if (response && a4) {
		buf[n++] = 0xc0;
		buf[n++] = (uint8_t)(cname_at ? cname_at : 12);
		buf[n++] = 0;
		buf[n++] = 1;
		buf[n++] = 0;
		buf[n++] = 1;
		buf[n++] = (uint8_t)(ttl >> 24);
		buf[n++] = (uint8_t)(ttl >> 16);
		buf[n++] = (uint8_t)(ttl >> 8);
		buf[n++] = (uint8_t)ttl;
		buf[n++] = 0;
		buf[n++] = 4;
		memcpy(buf + n, a4, 4);
		n += 4;
	}
	return n;
}

/* A DNS message as netspyd forwards it: sent by (received false) or to (received true) pid's
 * socket at 127.0.0.1:port, from or to the server 10.0.0.53:53 over UDP. */
static inline void synth_dns(struct store *s, uint64_t ts, uint32_t pid, const char *comm,
			     bool received, uint16_t port, const uint8_t *msg, size_t len)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__Dns d = NETSPY__V1__DNS__INIT;
	uint8_t local[4] = { 127, 0, 0, 1 }, server[4] = { 10, 0, 0, 53 };

	d.pid = pid;
	d.attributed = pid != 0;
	d.comm.data = (uint8_t *)comm;
	d.comm.len = comm ? strlen(comm) : 0;
	d.family = 2;
	d.ip_proto = 17;
	d.src_addr.data = received ? server : local;
	d.src_addr.len = 4;
	d.src_port = received ? 53 : port;
	d.dst_addr.data = received ? local : server;
	d.dst_addr.len = 4;
	d.dst_port = received ? port : 53;
	d.received = received;
	d.length = (uint32_t)len;
	d.data.data = (uint8_t *)msg;
	d.data.len = len;
	ev.timestamp_ns = ts;
	ev.kind_case = NETSPY__V1__EVENT__KIND_DNS;
	ev.dns = &d;
	store_add(s, &ev);
}

/* A lookup of qname by pid from port: its query at ts and, unless rcode is negative, the response
 * latency_ns later (rcode, and for NOERROR an A record a4 behind an optional CNAME). */
static inline void synth_lookup(struct store *s, uint64_t ts, uint32_t pid, const char *comm,
				uint16_t port, uint16_t id, const char *qname, const char *cname,
				const uint8_t *a4, int rcode, uint64_t latency_ns, uint32_t ttl)
{
	uint8_t buf[512];
	size_t n = synth_dns_msg(buf, id, false, 0, qname, 1, NULL, NULL, 0);

	synth_dns(s, ts, pid, comm, false, port, buf, n);
	if (rcode < 0)
		return;
	n = synth_dns_msg(buf, id, true, (uint16_t)rcode, qname, 1, cname, a4, ttl);
	synth_dns(s, ts + latency_ns, pid, comm, true, port, buf, n);
}

/* The scenario the tests know: at T0 + 1..7 s curl (pid 100) makes 3 refused and 2 established TCP
 * connects (latencies 1 ms and 3 ms) and 2 UDP sends; at T0 + 8..11 s dig (pid 200) sends 4 UDP
 * datagrams to 10.0.0.53:53; 3 NO_SOCKET drops (2 attributed to curl) and 1 TCP_CSUM drop. */
#define T0 (1700000000ull * SEC)
static inline void synth_scenario(struct store *s)
{
	uint64_t t = T0;

	for (int i = 0; i < 3; i++) {
		synth_connect(s, t += SEC, 100, "curl", 6, 1, 1, 1000 + i, 0);
		synth_outcome(s, t + 1000, 1000 + i, 2, 50000);
	}
	for (int i = 0; i < 2; i++) {
		synth_connect(s, t += SEC, 100, "curl", 6, 2, 443, 2000 + i, 0);
		synth_outcome(s, t + 1000, 2000 + i, 1, (i ? 3 : 1) * 1000000ull);
	}
	for (int i = 0; i < 2; i++)
		synth_connect(s, t += SEC, 100, "curl", 17, 3, 9, 0, 0);
	for (int i = 0; i < 4; i++)
		synth_connect(s, t += SEC, 200, "dig", 17, 53, 53, 0, 0);
	synth_drop(s, t += SEC, "NO_SOCKET", 100, "curl", 17, 9);
	synth_drop(s, t += SEC, "NO_SOCKET", 100, "curl", 17, 9);
	synth_drop(s, t += SEC, "NO_SOCKET", 0, NULL, 6, 1);
	synth_drop(s, t += SEC, "TCP_CSUM", 0, NULL, 6, 80);
}

/* TCP lifecycle events: an accepted connection, a connection's end, a retransmit or a reset. The
 * local end is 10.0.0.1:LPORT, the peer 10.0.0.PEER:PPORT. */
static uint8_t synth_local[4] = { 10, 0, 0, 1 };
static uint8_t synth_peers[256][4];

static inline ProtobufCBinaryData synth_peer(uint8_t last)
{
	synth_peers[last][0] = 10;
	synth_peers[last][3] = last;
	return (ProtobufCBinaryData){ 4, synth_peers[last] };
}

static inline void synth_accept(struct store *s, uint64_t ts, uint32_t pid, const char *comm,
				uint64_t cookie, uint32_t lport, uint8_t peer, uint32_t pport)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__TcpAccept a = NETSPY__V1__TCP_ACCEPT__INIT;

	a.cookie = cookie;
	a.pid = pid;
	a.comm = (ProtobufCBinaryData){ strlen(comm), (uint8_t *)comm };
	a.family = 2;
	a.local_addr = (ProtobufCBinaryData){ 4, synth_local };
	a.local_port = lport;
	a.peer_addr = synth_peer(peer);
	a.peer_port = pport;
	ev.timestamp_ns = ts;
	ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_ACCEPT;
	ev.tcp_accept = &a;
	store_add(s, &ev);
}

static inline void synth_end(struct store *s, uint64_t ts, uint64_t cookie, int end,
			     uint64_t sent, uint64_t received, uint32_t retrans, uint32_t segs,
			     uint32_t srtt_us, uint32_t duration_ms)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__TcpEnd e = NETSPY__V1__TCP_END__INIT;

	e.cookie = cookie;
	e.family = 2;
	e.end = end;
	e.bytes_sent = sent;
	e.bytes_received = received;
	e.retransmits = retrans;
	e.segs_out = segs;
	e.srtt_us = srtt_us;
	e.duration_ms = duration_ms;
	ev.timestamp_ns = ts;
	ev.kind_case = NETSPY__V1__EVENT__KIND_TCP_END;
	ev.tcp_end = &e;
	store_add(s, &ev);
}

/* count: a record folded during a flood stands for that many (0: one). */
static inline void synth_signal_n(struct store *s, uint64_t ts, bool reset, bool received,
				  uint32_t pid, const char *comm, uint64_t cookie, uint8_t peer,
				  uint32_t pport, uint32_t segments, uint32_t count)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__TcpSignal g = NETSPY__V1__TCP_SIGNAL__INIT;

	g.cookie = cookie;
	g.pid = pid;
	g.comm = (ProtobufCBinaryData){ strlen(comm), (uint8_t *)comm };
	g.family = 2;
	g.local_addr = (ProtobufCBinaryData){ 4, synth_local };
	g.peer_addr = synth_peer(peer);
	g.peer_port = pport;
	g.received = received;
	g.segments = segments;
	g.count = count;
	ev.timestamp_ns = ts;
	ev.kind_case = reset ? NETSPY__V1__EVENT__KIND_TCP_RESET : NETSPY__V1__EVENT__KIND_TCP_RETRANSMIT;
	if (reset)
		ev.tcp_reset = &g;
	else
		ev.tcp_retransmit = &g;
	store_add(s, &ev);
}

static inline void synth_signal(struct store *s, uint64_t ts, bool reset, bool received,
				uint32_t pid, const char *comm, uint64_t cookie, uint8_t peer,
				uint32_t pport, uint32_t segments)
{
	synth_signal_n(s, ts, reset, received, pid, comm, cookie, peer, pport, segments, 0);
}

#endif
