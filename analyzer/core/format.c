/* Presenting events safely: kernel strings (process names) may hold any bytes. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dns.h"
#include "core/format.h"
#include "core/text.h"

void fmt_addr(char *buf, size_t len, uint32_t family, const ProtobufCBinaryData *a)
{
	buf[0] = 0;
	if (family == AF_INET && a->len == 4)
		inet_ntop(AF_INET, a->data, buf, (socklen_t)len);
	else if (family == AF_INET6 && a->len == 16)
		inet_ntop(AF_INET6, a->data, buf, (socklen_t)len);
}

/* Length of a valid UTF-8 sequence at p (1-4), or 0 when invalid. Rejects overlongs and
 * surrogates. */
static size_t utf8_len(const uint8_t *p, size_t n, uint32_t *cp)
{
	size_t need;
	uint32_t c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		need = 2;
		c = p[0] & 0x1F;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		need = 3;
		c = p[0] & 0x0F;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		need = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3F);
	}
	if ((need == 3 && c < 0x800) || (need == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
	    (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return need;
}

static bool unsafe_codepoint(uint32_t c)
{
	return c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) || c == 0x061C || c == 0x200E ||
	       c == 0x200F || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

void fmt_sanitize(char *out, size_t outlen, const uint8_t *in, size_t inlen)
{
	size_t o = 0;

	if (!outlen)
		return;
	for (size_t i = 0; i < inlen && in[i];) {
		uint32_t cp = 0;
		size_t n = utf8_len(in + i, inlen - i, &cp);
		char esc[16];
		size_t elen;

		if (n && !unsafe_codepoint(cp) && cp != '\\') {
			if (o + n >= outlen)
				break;
			memcpy(out + o, in + i, n);
			o += n;
			i += n;
			continue;
		}
		if (n > 1)
			elen = (size_t)snprintf(esc, sizeof(esc), "\\u{%04" PRIX32 "}", cp);
		else if (cp == '\\' && n == 1)
			elen = (size_t)snprintf(esc, sizeof(esc), "\\\\");
		else
			elen = (size_t)snprintf(esc, sizeof(esc), "\\x%02X", in[i]);
		if (o + elen >= outlen)
			break;
		memcpy(out + o, esc, elen);
		o += elen;
		i += n ? n : 1;
	}
	out[o] = 0;
}

void fmt_rfc3339(char *buf, size_t len, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char date[32];

	gmtime_r(&s, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06uZ", date, (unsigned)(ns % 1000000000ull / 1000));
}

void fmt_clock(char *buf, size_t len, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;

	localtime_r(&s, &tm);
	strftime(buf, len, "%H:%M:%S", &tm);
}

const char *fmt_protocol(uint32_t ip_proto)
{
	switch (ip_proto) {
	case 6:
		return "TCP";
	case 17:
		return "UDP";
	case 1:
		return "ICMP";
	case 58:
		return "ICMPv6";
	case 132:
		return "SCTP";
	case 136:
		return "UDPLite";
	case 0:
		return "unknown";
	default:
		return "IP";
	}
}

const char *fmt_family(uint32_t family)
{
	return family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "unknown";
}

const char *fmt_outcome(int outcome)
{
#define NAME_(n) #n,
	static const char *const names[] = { FMT_OUTCOME_NAMES(NAME_, NAME_) };
#undef NAME_
	_Static_assert(sizeof(names) / sizeof(*names) == FMT_N_OUTCOMES, "one name per outcome");

	return outcome >= 0 && outcome < FMT_N_OUTCOMES ? names[outcome] : "error";
}

const char *fmt_errno_name(int err)
{
	return err > 0 ? strerrorname_np(err) : NULL;
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_int(json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void add_endpoint(json_object *o, const char *ip_key, const char *port_key, uint32_t family,
			 const ProtobufCBinaryData *a, uint32_t port)
{
	char ip[FMT_ADDR_LEN];

	fmt_addr(ip, sizeof(ip), family, a);
	add_str(o, ip_key, ip);
	add_int(o, port_key, port);
}

static void add_process(json_object *o, bool known, uint32_t pid, const ProtobufCBinaryData *comm)
{
	char name[FMT_COMM_LEN];

	if (!known) {
		json_object_object_add(o, "pid", NULL);
		json_object_object_add(o, "process", NULL);
		return;
	}
	fmt_sanitize(name, sizeof(name), comm->data, comm->len);
	add_int(o, "pid", pid);
	add_str(o, "process", name);
}

const char *fmt_end(int end)
{
	static const char *const names[FMT_N_ENDS] = { "open", "closed", "reset_sent",
						       "reset_received", "timeout" };

	return end >= 0 && end < FMT_N_ENDS ? names[end] : "closed";
}

static void add_tuple(json_object *o, uint32_t family, const ProtobufCBinaryData *local,
		      uint32_t lport, const ProtobufCBinaryData *peer, uint32_t pport)
{
	add_str(o, "protocol", "TCP");
	add_str(o, "family", fmt_family(family));
	add_endpoint(o, "local_ip", "local_port", family, local, lport);
	add_endpoint(o, "remote_ip", "remote_port", family, peer, pport);
}

static void lifecycle_to_json(json_object *o, const Netspy__V1__Event *ev)
{
	if (ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_ACCEPT) {
		const Netspy__V1__TcpAccept *a = ev->tcp_accept;

		add_str(o, "kind", "tcp_accept");
		add_process(o, a->pid != 0, a->pid, &a->comm);
		add_str(o, "direction", "inbound");
		add_tuple(o, a->family, &a->local_addr, a->local_port, &a->peer_addr, a->peer_port);
		add_int(o, "cookie", (int64_t)a->cookie);
		add_int(o, "cgroup_id", (int64_t)a->cgroup_id);
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_END) {
		const Netspy__V1__TcpEnd *e = ev->tcp_end;

		add_str(o, "kind", "tcp_end");
		add_process(o, e->pid != 0, e->pid, &e->comm);
		add_str(o, "direction", e->inbound ? "inbound" : "outbound");
		add_tuple(o, e->family, &e->local_addr, e->local_port, &e->peer_addr, e->peer_port);
		add_str(o, "end", fmt_end(e->end));
		add_int(o, "bytes_sent", (int64_t)e->bytes_sent);
		add_int(o, "bytes_received", (int64_t)e->bytes_received);
		add_int(o, "retransmits", e->retransmits);
		add_int(o, "segments_sent", e->segs_out);
		json_object_object_add(o, "rtt_ms", json_object_new_double(e->srtt_us / 1e3));
		if (e->start_unknown)
			json_object_object_add(o, "duration_ms", NULL);
		else
			add_int(o, "duration_ms", e->duration_ms);
		add_int(o, "cookie", (int64_t)e->cookie);
	} else {
		const Netspy__V1__TcpSignal *g = ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_RESET
							 ? ev->tcp_reset
							 : ev->tcp_retransmit;

		if (ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_RESET)
			add_str(o, "kind", g->received ? "tcp_reset_received" : "tcp_reset_sent");
		else
			add_str(o, "kind", "tcp_retransmit");
		if (ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_RETRANSMIT)
			add_int(o, "segments", g->segments ? g->segments : 1);
		/* Folded during a flood: the retransmissions or resets it stands for. */
		add_int(o, "count", g->count ? g->count : 1);
		add_process(o, g->pid != 0, g->pid, &g->comm);
		add_tuple(o, g->family, &g->local_addr, g->local_port, &g->peer_addr, g->peer_port);
		add_int(o, "cookie", (int64_t)g->cookie);
	}
}

/* A DNS event's first message, parsed (a TCP segment holds messages behind length prefixes:
 * the first that starts in it). The server is the end at port 53. NULL when the bytes are not a
 * readable message (or are no longer held by netspyd). */
struct dns_view {
	struct dns_msg msg, scratch;
	bool got;
};

static void keep_first(void *ctx, const struct dns_msg *m)
{
	struct dns_view *v = ctx;

	if (!v->got) {
		v->msg = *m;
		v->got = true;
	}
}

static struct dns_view *dns_view(const Netspy__V1__Dns *d)
{
	struct dns_view *v = calloc(1, sizeof(*v));

	if (!v || !d->data.len)
		goto none;
	if (d->ip_proto == 6) {
		if (dns_parse_stream(d->data.data, d->data.len, keep_first, v, &v->scratch) < 0)
			goto none;
	} else {
		v->got = dns_parse(d->data.data, d->data.len, &v->msg) == 0;
	}
	if (v->got)
		return v;
none:
	free(v);
	return NULL;
}

static void dns_to_json(json_object *o, const Netspy__V1__Dns *d)
{
	struct dns_view *v = dns_view(d);
	char b[16];

	add_str(o, "kind", "dns");
	add_process(o, d->attributed, d->pid, &d->comm);
	add_str(o, "protocol", fmt_protocol(d->ip_proto));
	add_str(o, "family", fmt_family(d->family));
	add_endpoint(o, "source_ip", "source_port", d->family, &d->src_addr, d->src_port);
	add_endpoint(o, "destination_ip", "destination_port", d->family, &d->dst_addr,
		     d->dst_port);
	add_str(o, "direction", d->received ? "received" : "sent");
	json_object_object_add(o, "truncated",
			       json_object_new_boolean(d->data.len < d->length));
	if (!v) {
		add_str(o, "message", NULL);
		return;
	}
	add_str(o, "message", v->msg.response ? "response" : "query");
	add_int(o, "id", v->msg.id);
	add_str(o, "name", v->msg.has_question ? v->msg.qname : NULL);
	add_str(o, "type", v->msg.has_question ? dns_type_name(v->msg.qtype, b, sizeof(b)) : NULL);
	if (v->msg.response) {
		json_object *a = json_object_new_array();

		add_str(o, "rcode", dns_rcode_name(v->msg.rcode, b, sizeof(b)));
		for (size_t i = 0; i < v->msg.n_answers; i++)
			json_object_array_add(a, json_object_new_string(v->msg.answers[i].data));
		json_object_object_add(o, "answers", a);
	}
	free(v);
}

json_object *event_to_json(const Netspy__V1__Event *ev)
{
	json_object *o = json_object_new_object();
	char ts[FMT_TIME_LEN];

	fmt_rfc3339(ts, sizeof(ts), ev->timestamp_ns);
	add_str(o, "timestamp", ts);
	add_int(o, "seq", (int64_t)ev->seq);
	if (ev->kind_case == NETSPY__V1__EVENT__KIND_CONNECT) {
		const Netspy__V1__Connect *c = ev->connect;

		add_str(o, "kind", "connect");
		add_process(o, true, c->pid, &c->comm);
		add_int(o, "tid", c->tid);
		add_int(o, "uid", c->uid);
		add_str(o, "protocol", fmt_protocol(c->ip_proto));
		add_str(o, "family", fmt_family(c->family));
		add_endpoint(o, "destination_ip", "destination_port", c->family, &c->dst_addr,
			     c->dst_port);
		add_endpoint(o, "source_ip", "source_port", c->family, &c->src_addr, c->src_port);
		add_str(o, "outcome", c->ip_proto == 6 ? "pending" : "sent");
		add_int(o, "cookie", (int64_t)c->cookie);
		add_int(o, "cgroup_id", (int64_t)c->cgroup_id);
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_OUTCOME) {
		const Netspy__V1__TcpOutcome *t = ev->tcp_outcome;

		add_str(o, "kind", "tcp_outcome");
		add_process(o, t->pid != 0, t->pid, &t->comm);
		add_str(o, "protocol", fmt_protocol(t->ip_proto ? t->ip_proto : 6));
		add_str(o, "family", fmt_family(t->family));
		add_endpoint(o, "destination_ip", "destination_port", t->family, &t->dst_addr,
			     t->dst_port);
		add_endpoint(o, "source_ip", "source_port", t->family, &t->src_addr, t->src_port);
		add_str(o, "outcome", fmt_outcome(t->outcome));
		add_int(o, "errno", t->err);
		json_object_object_add(o, "in_connect", json_object_new_boolean(t->sync));
		json_object_object_add(o, "abandoned", json_object_new_boolean(t->abandoned));
		add_int(o, "syn_retransmits", t->syn_retransmits);
		if (t->latency_ns)
			json_object_object_add(o, "latency_ms",
					       json_object_new_double(t->latency_ns / 1e6));
		add_int(o, "cookie", (int64_t)t->cookie);
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_DROP) {
		const Netspy__V1__Drop *d = ev->drop;

		add_str(o, "kind", "drop");
		add_str(o, "reason", d->reason_name);
		add_int(o, "count", d->count > 1 ? d->count : 1);
		add_str(o, "protocol", fmt_protocol(d->ip_proto));
		add_str(o, "family", fmt_family(d->family));
		add_endpoint(o, "source_ip", "source_port", d->family, &d->src_addr, d->src_port);
		add_endpoint(o, "destination_ip", "destination_port", d->family, &d->dst_addr,
			     d->dst_port);
		add_process(o, d->attributed, d->pid, &d->comm);
		json_object_object_add(o, "by_flow", json_object_new_boolean(d->by_flow));
		add_int(o, "ifindex", d->ifindex);
		add_int(o, "netns", d->netns);
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_ACCEPT ||
		   ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_END ||
		   ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_RETRANSMIT ||
		   ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_RESET) {
		lifecycle_to_json(o, ev);
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_DNS) {
		dns_to_json(o, ev->dns);
	} else {
		add_str(o, "kind", "unknown");
	}
	return o;
}

static void endpoint(char *buf, size_t len, uint32_t family, const ProtobufCBinaryData *a,
		     uint32_t port)
{
	char ip[FMT_ADDR_LEN];

	fmt_addr(ip, sizeof(ip), family, a);
	if (family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, port);
	else
		snprintf(buf, len, "%s:%u", ip, port);
}

/* "query A example.com" / "NXDOMAIN A example.com" / "NOERROR A example.com: 192.0.2.1, ...",
 * with the server (the end at port 53) and the socket's owner. */
static void dns_print_line(FILE *f, const char *t, const Netspy__V1__Dns *d)
{
	struct dns_view *v = dns_view(d);
	char name[FMT_COMM_LEN], server[FMT_ADDR_LEN + 8], rc[16], ty[16], q[4 * DNS_NAME_LEN];

	if (d->received)
		endpoint(server, sizeof(server), d->family, &d->src_addr, d->src_port);
	else
		endpoint(server, sizeof(server), d->family, &d->dst_addr, d->dst_port);
	fprintf(f, "%s | dns     | %-24s | %-4s | ", t, server, fmt_protocol(d->ip_proto));
	if (!v) {
		fprintf(f, "%s, %u bytes, not a readable DNS message", d->received ? "in" : "out",
			d->length);
	} else {
		fmt_sanitize(q, sizeof(q), (const uint8_t *)v->msg.qname, strlen(v->msg.qname));
		fprintf(f, "%s %s %s",
			v->msg.response ? dns_rcode_name(v->msg.rcode, rc, sizeof(rc)) : "query",
			v->msg.has_question ? dns_type_name(v->msg.qtype, ty, sizeof(ty)) : "-",
			v->msg.has_question ? q : "(no question)");
		for (size_t i = 0; i < v->msg.n_answers && i < 4; i++) {
			fmt_sanitize(q, sizeof(q), (const uint8_t *)v->msg.answers[i].data,
				     strlen(v->msg.answers[i].data));
			fprintf(f, "%s%s", i ? ", " : ": ", q);
		}
		if (v->msg.n_answers > 4)
			fprintf(f, ", ... (%zu answers)", v->msg.n_answers);
		free(v);
	}
	if (d->attributed) {
		fmt_sanitize(name, sizeof(name), d->comm.data, d->comm.len);
		fprintf(f, " | %s[%u]\n", name, d->pid);
	} else {
		fprintf(f, " | (process unknown)\n");
	}
}

void event_print_line(FILE *f, const Netspy__V1__Event *ev)
{
	char t[16], name[FMT_COMM_LEN], dst[FMT_ADDR_LEN + 8], src[FMT_ADDR_LEN + 8];

	fmt_clock(t, sizeof(t), ev->timestamp_ns);
	if (ev->kind_case == NETSPY__V1__EVENT__KIND_CONNECT) {
		const Netspy__V1__Connect *c = ev->connect;

		fmt_sanitize(name, sizeof(name), c->comm.data, c->comm.len);
		endpoint(dst, sizeof(dst), c->family, &c->dst_addr, c->dst_port);
		fprintf(f, "%s | connect | %-24s | %-4s | %s | %s[%u]\n", t, dst,
			fmt_protocol(c->ip_proto), fmt_family(c->family), name, c->pid);
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_OUTCOME) {
		const Netspy__V1__TcpOutcome *o = ev->tcp_outcome;

		fmt_sanitize(name, sizeof(name), o->comm.data, o->comm.len);
		endpoint(dst, sizeof(dst), o->family, &o->dst_addr, o->dst_port);
		fprintf(f, "%s | %-7s | %-24s | %-4s | %s%s | %s[%u]", t, "outcome", dst,
			fmt_protocol(o->ip_proto ? o->ip_proto : 6), fmt_outcome(o->outcome),
			o->abandoned ? " (abandoned)" : "", o->pid ? name : "?", o->pid);
		if (o->latency_ns)
			fprintf(f, " | %.3f ms", o->latency_ns / 1e6);
		if (o->err)
			fprintf(f, " | %s", strerror(o->err));
		fputc('\n', f);
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_DROP) {
		const Netspy__V1__Drop *d = ev->drop;

		fmt_sanitize(name, sizeof(name), d->comm.data, d->comm.len);
		endpoint(src, sizeof(src), d->family, &d->src_addr, d->src_port);
		endpoint(dst, sizeof(dst), d->family, &d->dst_addr, d->dst_port);
		fprintf(f, "%s | drop    | %-24s | %-4s | %s", t, dst, fmt_protocol(d->ip_proto),
			d->reason_name);
		if (d->count > 1)
			fprintf(f, " x %s", text_thousands(d->count));
		fprintf(f, " | from %s | ", src);
		if (d->attributed)
			fprintf(f, "%s[%u]\n", name, d->pid);
		else
			fprintf(f, "(process unknown)\n");
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_ACCEPT) {
		const Netspy__V1__TcpAccept *a = ev->tcp_accept;

		fmt_sanitize(name, sizeof(name), a->comm.data, a->comm.len);
		endpoint(dst, sizeof(dst), a->family, &a->local_addr, a->local_port);
		endpoint(src, sizeof(src), a->family, &a->peer_addr, a->peer_port);
		fprintf(f, "%s | accept  | %-24s | TCP  | from %s | %s[%u]\n", t, dst, src,
			a->pid ? name : "?", a->pid);
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_END) {
		const Netspy__V1__TcpEnd *e = ev->tcp_end;

		fmt_sanitize(name, sizeof(name), e->comm.data, e->comm.len);
		endpoint(dst, sizeof(dst), e->family, &e->peer_addr, e->peer_port);
		fprintf(f,
			"%s | end     | %-24s | TCP  | %s %s | %s[%u] | %" PRIu64 " B out, %" PRIu64
			" B in, %u retransmits, rtt %.3f ms",
			t, dst, e->inbound ? "inbound" : "outbound", fmt_end(e->end),
			e->pid ? name : "?", e->pid, e->bytes_sent, e->bytes_received,
			e->retransmits, e->srtt_us / 1e3);
		if (!e->start_unknown)
			fprintf(f, ", %u ms", e->duration_ms);
		fputc('\n', f);
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_DNS) {
		dns_print_line(f, t, ev->dns);
	} else if (ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_RETRANSMIT ||
		   ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_RESET) {
		bool reset = ev->kind_case == NETSPY__V1__EVENT__KIND_TCP_RESET;
		const Netspy__V1__TcpSignal *g = reset ? ev->tcp_reset : ev->tcp_retransmit;

		fmt_sanitize(name, sizeof(name), g->comm.data, g->comm.len);
		endpoint(dst, sizeof(dst), g->family, &g->peer_addr, g->peer_port);
		if (reset)
			fprintf(f, "%s | reset   | %-24s | TCP  | %s", t, dst,
				g->received ? "received" : "sent");
		else
			fprintf(f, "%s | retrans | %-24s | TCP  | %u segment%s", t, dst,
				g->segments > 1 ? g->segments : 1, g->segments > 1 ? "s" : "");
		/* Folded during a flood: the retransmissions or resets it stands for. */
		if (g->count > 1)
			fprintf(f, " x %s", text_thousands(g->count));
		fprintf(f, " | %s[%u]\n", g->pid ? name : "?", g->pid);
	}
}
