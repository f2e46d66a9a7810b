/* The DNS parser (analyzer/core/dns.c) against real and hostile messages, and the store's DNS
 * side: query/response matching, rcode and latency, unanswered queries, the address -> name map
 * (CNAME chains, TTL, per-process preference), destination_name on connects and the filters. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "core/dns.h"
#include "core/store.h"
#include "synth.h"

/* dig @127.0.0.153 www.chain.test, as tests/tools/dns_responder.py answers it (with EDNS). */
static const uint8_t chain_response[] = {
	0x9b, 0x2c, 0x85, 0x80, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x03, 'w',  'w',
	'w',  0x05, 'c',  'h',	'a',  'i',  'n',  0x04, 't',  'e',  's',  't',	0x00, 0x00, 0x01,
	0x00, 0x01,
	/* www.chain.test CNAME edge.chain.test */
	0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x07, 0x04, 'e',  'd',
	'g',  'e',  0xc0, 0x10,
	/* edge.chain.test CNAME cdn.chain.test */
	0xc0, 0x2c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x06, 0x03, 'c',  'd',
	'n',  0xc0, 0x10,
	/* cdn.chain.test A 127.0.0.11 */
	0xc0, 0x3f, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 127,  0,    0,
	11,
	/* OPT: UDP 1232, extended rcode 0 */
	0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
};

static void test_parse_real(void)
{
	static struct dns_msg m;
	char buf[16];

	CHECK(dns_parse(chain_response, sizeof(chain_response), &m) == 0 && !m.cut,
	      "a CNAME chain response parses whole");
	CHECK(m.response && m.id == 0x9b2c && m.rcode == 0 && !strcmp(m.qname, "www.chain.test") &&
		  m.qtype == DNS_TYPE_A,
	      "header and question: id, QR, rcode, name (%s), type", m.qname);
	CHECK(m.n_answers == 3 && !strcmp(m.answers[0].data, "edge.chain.test") &&
		  !strcmp(m.answers[1].owner, "edge.chain.test") &&
		  !strcmp(m.answers[1].data, "cdn.chain.test") &&
		  !strcmp(m.answers[2].data, "127.0.0.11") && m.answers[2].ttl == 60,
	      "compressed names: %s, %s -> %s, %s", m.answers[0].data, m.answers[1].owner,
	      m.answers[1].data, m.answers[2].data);
	CHECK(m.edns && m.edns_udp_size == 1232, "EDNS: OPT record, UDP size 1232");
	CHECK(!strcmp(dns_rcode_name(3, buf, sizeof(buf)), "NXDOMAIN") &&
		  !strcmp(dns_rcode_name(2, buf, sizeof(buf)), "SERVFAIL") &&
		  !strcmp(dns_type_name(28, buf, sizeof(buf)), "AAAA") &&
		  !strcmp(dns_type_name(65, buf, sizeof(buf)), "HTTPS") &&
		  !strcmp(dns_type_name(999, buf, sizeof(buf)), "TYPE999"),
	      "rcode and type names");
	CHECK(dns_name_under("api.github.com", "github.com") &&
		  dns_name_under("GitHub.com.", "github.com") &&
		  !dns_name_under("notgithub.com", "github.com") &&
		  !dns_name_under("github.com", "api.github.com"),
	      "a name matches itself and the names below it, nothing else");
}

static void test_parse_types(void)
{
	/* AAAA, PTR, SRV, HTTPS and MX answers for "x." */
	static const uint8_t msg[] = {
		0, 1, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0, 1, 'x', 0, 0, 28, 0, 1,
		0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 5, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 1,
		0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 5, 0, 2, 0xc0, 12,
		0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 5, 0, 8, 0, 10, 0, 20, 0x01, 0xbb, 0xc0, 12,
		0xc0, 12, 0, 65, 0, 1, 0, 0, 0, 5, 0, 4, 0, 1, 0xc0, 12,
		0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 5, 0, 4, 0, 7, 0xc0, 12,
	};
	static struct dns_msg m;

	CHECK(dns_parse(msg, sizeof(msg), &m) == 0 && !m.cut && m.n_answers == 5,
	      "five answers of five types");
	CHECK(!strcmp(m.answers[0].data, "2001:db8::1") && m.answers[0].family == AF_INET6,
	      "AAAA: %s", m.answers[0].data);
	CHECK(!strcmp(m.answers[1].data, "x"), "PTR: %s", m.answers[1].data);
	CHECK(!strcmp(m.answers[2].data, "10 20 443 x"), "SRV: %s", m.answers[2].data);
	CHECK(!strcmp(m.answers[3].data, "1 x"), "HTTPS: %s", m.answers[3].data);
	CHECK(!strcmp(m.answers[4].data, "7 x"), "MX: %s", m.answers[4].data);
}

static void test_parse_hostile(void)
{
	static struct dns_msg m;
	uint8_t buf[600];
	size_t n;

	/* A query's question name that points at itself. */
	static const uint8_t self_loop[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1 };
	CHECK(dns_parse(self_loop, sizeof(self_loop), &m) == -EBADMSG,
	      "a name pointing at itself is refused");
	/* Two names pointing at each other (the second points forward). */
	static const uint8_t mutual[] = { 0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0,
					  0, 1, 0, 1, 0xc0, 21, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4,
					  1, 2, 3, 4 };
	CHECK(dns_parse(mutual, sizeof(mutual), &m) == 0 && m.cut && m.n_answers == 0,
	      "a forward pointer ends the parse, marked cut");
	static const uint8_t out_of_range[] = { 0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0,
						0, 1, 0, 1, 0xff, 0xff, 0, 1, 0, 1, 0, 0, 0, 1,
						0, 4, 1, 2, 3, 4 };
	CHECK(dns_parse(out_of_range, sizeof(out_of_range), &m) == 0 && m.cut && m.n_answers == 0,
	      "a pointer past the message is refused");
	/* 65535 answers claimed, none there. */
	static const uint8_t counts[] = { 0, 1, 0x80, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					  1, 'a', 0, 0, 1, 0, 1 };
	CHECK(dns_parse(counts, sizeof(counts), &m) == 0 && m.cut && m.n_answers == 0 &&
		  m.ancount == 65535,
	      "absurd counts are believed only as far as the bytes go");
	/* A label longer than the message. */
	static const uint8_t label[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 'a', 'b' };
	CHECK(dns_parse(label, sizeof(label), &m) == -EBADMSG, "a label past the end is refused");
	CHECK(dns_parse(label, 11, &m) == -EBADMSG, "11 bytes are not a header");
	/* A 300-octet name (over RFC 1035's 255). */
	n = 12;
	memset(buf, 0, sizeof(buf));
	buf[5] = 1;
	for (int i = 0; i < 5; i++) {
		buf[n++] = 60;
		memset(buf + n, 'a', 60);
		n += 60;
	}
	buf[n++] = 0;
	n += 4;
	CHECK(dns_parse(buf, n, &m) == -EBADMSG, "a name of more than 255 octets is refused");
	/* Bytes that are not letters are escaped: nothing reaches a terminal raw. */
	static const uint8_t weird[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x1b, '[', '2',
					 0, 0, 1, 0, 1 };
	CHECK(dns_parse(weird, sizeof(weird), &m) == 0 && !strcmp(m.qname, "\\027\\0912") &&
		  !strchr(m.qname, 0x1b),
	      "control bytes in a label are escaped: %s", m.qname);
	/* The daemon's copy cut the response inside its answers. */
	CHECK(dns_parse(chain_response, 70, &m) == 0 && m.cut && m.n_answers == 2,
	      "a response cut after 70 bytes yields its first two answers, marked cut");
}

static const uint8_t ip_a[4] = { 140, 82, 112, 3 }, ip_b[4] = { 10, 0, 0, 9 };
static int stream_seen;
static char stream_names[4][DNS_NAME_LEN];

static void on_stream(void *ctx, const struct dns_msg *m)
{
	(void)ctx;
	if (stream_seen < 4)
		snprintf(stream_names[stream_seen], DNS_NAME_LEN, "%s", m->qname);
	stream_seen++;
}

static void test_stream(void)
{
	static struct dns_msg m;
	uint8_t seg[1024];
	size_t n = 0, l;

	/* Two length-prefixed messages in one TCP segment, then a third cut short. */
	for (int k = 0; k < 3; k++) {
		l = synth_dns_msg(seg + n + 2, (uint16_t)k, true, 0, k ? "b.test" : "a.test", 1,
				  NULL, ip_a, 60);
		seg[n] = (uint8_t)(l >> 8);
		seg[n + 1] = (uint8_t)l;
		n += 2 + l;
	}
	n -= 3;
	CHECK(dns_parse_stream(seg, n, on_stream, NULL, &m) == 3 && stream_seen == 3 &&
		  !strcmp(stream_names[0], "a.test") && !strcmp(stream_names[1], "b.test"),
	      "a TCP segment with three length-prefixed messages (the last one cut)");
	seg[0] = 0;
	seg[1] = 5;
	CHECK(dns_parse_stream(seg, n, on_stream, NULL, &m) == -EBADMSG &&
		  dns_parse_stream(seg, 1, on_stream, NULL, &m) == -EBADMSG,
	      "a length shorter than a header, or no length at all, is refused");
}

static void test_store(void)
{
	struct store s;
	struct store_filter all = { 0 }, f;
	struct store_dns_stats *st = calloc(1, sizeof(*st));
	uint64_t idx[16], total, t = T0;
	size_t n;
	const struct store_conn *c;
	const struct store_dns *q;

	store_init(&s, 1024, "/nonexistent");
	/* curl looks up github.com (CNAME to lb.github.com, A 140.82.112.3, TTL 60) in 2 ms,
	 * then connects to it. */
	synth_lookup(&s, t, 100, "curl", 40000, 7, "github.com", "lb.github.com", ip_a, 0,
		     2000000, 60);
	synth_connect(&s, t + 3000000, 100, "curl", 6, 0, 443, 1, 0);
	/* The connect above goes to 10.0.0.0 (synth_connect's network): one to 140.82.112.3 by
	 * hand, through the store's own map. */
	c = store_conn_at(&s, s.conns.head - 1);
	CHECK(c->name == 0, "a connect to an address no lookup returned has no name");
	CHECK(!strcmp(store_name(&s, store_ipname(&s, AF_INET, ip_a, 100, t + SEC)), "github.com"),
	      "140.82.112.3 is github.com for curl (through the CNAME chain, to the name asked)");
	CHECK(!strcmp(store_name(&s, store_ipname(&s, AF_INET, ip_a, 555, t + SEC)), "github.com"),
	      "and for any other process");
	CHECK(store_ipname(&s, AF_INET, ip_a, 100, t + 62 * SEC) == 0,
	      "not after its TTL (60 s)");
	/* wget looks up another name that resolves to the same address: per process, each keeps
	 * its own; others get the latest. */
	synth_lookup(&s, t + SEC, 200, "wget", 40001, 8, "mirror.example", NULL, ip_a, 0, 1000000,
		     300);
	CHECK(!strcmp(store_name(&s, store_ipname(&s, AF_INET, ip_a, 100, t + 2 * SEC)),
		      "github.com") &&
		  !strcmp(store_name(&s, store_ipname(&s, AF_INET, ip_a, 200, t + 2 * SEC)),
			  "mirror.example"),
	      "per process: curl's github.com, wget's mirror.example");
	/* NXDOMAIN, SERVFAIL, one unanswered, one still pending. */
	synth_lookup(&s, t + 2 * SEC, 100, "curl", 40002, 9, "nope.example", NULL, NULL, 3,
		     500000, 0);
	synth_lookup(&s, t + 3 * SEC, 100, "curl", 40003, 10, "broken.example", NULL, NULL, 2,
		     500000, 0);
	synth_lookup(&s, t + 4 * SEC, 100, "curl", 40004, 11, "silent.example", NULL, NULL, -1, 0,
		     0);
	/* A response whose name is not the query's (same port, id and server) answers nothing. */
	{
		uint8_t buf[512];
		size_t l = synth_dns_msg(buf, 12, false, 0, "real.example", 1, NULL, NULL, 0);

		synth_dns(&s, t + 5 * SEC, 100, "curl", false, 40005, buf, l);
		l = synth_dns_msg(buf, 12, true, 0, "spoof.example", 1, NULL, ip_b, 300);
		synth_dns(&s, t + 5 * SEC + 1000, 100, "curl", true, 40005, buf, l);
		CHECK(store_ipname(&s, AF_INET, ip_b, 100, t + 6 * SEC) == 0 &&
			  s.dns_orphan_responses == 1,
		      "a response for another name is not matched, and teaches nothing");
	}
	/* At t + 9.5 s: silent.example (t + 4 s) is past the 5 s timeout, real.example (t + 5 s)
	 * is not yet. */
	CHECK(store_dns_stats(&s, &all, t + 9 * SEC + SEC / 2, st) == 0, "dns stats");
	CHECK(st->total == 6 && st->failed == 2 && st->by_rcode[3] == 1 && st->by_rcode[2] == 1 &&
		  st->by_rcode[0] == 2 && st->unanswered == 1 && st->pending == 1,
	      "6 queries: 2 NOERROR, NXDOMAIN, SERVFAIL, 1 unanswered (5 s), 1 pending "
	      "(got %llu total, %llu failed, %llu unanswered, %llu pending)",
	      (unsigned long long)st->total, (unsigned long long)st->failed,
	      (unsigned long long)st->unanswered, (unsigned long long)st->pending);
	CHECK(st->latency_count == 4 && st->latency_p50_ms == 0.5 && st->latency_p99_ms == 2.0,
	      "latency of the 4 answered (2, 1, 0.5, 0.5 ms): p50 0.5 ms, p99 2 ms (got %.3f, %.3f)", st->latency_p50_ms,
	      st->latency_p99_ms);
	CHECK(st->n_failing == 3, "three failing names (NXDOMAIN, SERVFAIL, unanswered)");
	CHECK(store_list_dns(&s, &all, idx, 16, &n, &total) == 0 && total == 6, "6 listed");
	q = store_dns_at(&s, idx[n - 1]);
	CHECK((q->flags & STORE_DNS_ANSWERED) && q->rcode == 0 && q->latency_us == 2000 &&
		  q->n_answers == 2 && !strcmp(store_name(&s, q->answers[0]), "lb.github.com") &&
		  !strcmp(store_name(&s, q->answers[1]), "140.82.112.3") && q->pid == 100,
	      "the oldest: github.com, answered in 2 ms: lb.github.com, 140.82.112.3, pid 100");
	f = (struct store_filter){ .name = "example" };
	CHECK(store_list_dns(&s, &f, idx, 16, &n, &total) == 0 && total == 5,
	      "--name example: the 5 queries below it (got %llu)", (unsigned long long)total);
	f = (struct store_filter){ .process = "wget" };
	CHECK(store_list_dns(&s, &f, idx, 16, &n, &total) == 0 && total == 1, "--process wget: 1");
	store_fini(&s);
	free(st);
}

/* A connect to an address a lookup returned carries the name; the remote filters. */
static void test_connect_names(void)
{
	struct store s;
	struct store_filter f;
	uint8_t a4[4] = { 10, 0, 0, 7 };
	uint64_t idx[16], total, t = T0;
	size_t n;

	store_init(&s, 1024, "/nonexistent");
	synth_lookup(&s, t, 100, "curl", 40000, 1, "api.github.com", NULL, a4, 0, 1000000, 30);
	synth_connect(&s, t + 2000000, 100, "curl", 6, 7, 443, 1, 0);
	synth_connect(&s, t + 3000000, 100, "curl", 17, 8, 53, 0, 0);
	synth_connect(&s, t + 40 * SEC, 100, "curl", 6, 7, 443, 2, 0);
	CHECK(!strcmp(store_name(&s, store_conn_at(&s, 0)->name), "api.github.com") &&
		  store_conn_at(&s, 1)->name == 0 && store_conn_at(&s, 2)->name == 0,
	      "the connect after the lookup is api.github.com; other addresses and the connect "
	      "after the TTL have no name");
	f = (struct store_filter){ .dest = "github.com" };
	CHECK(store_list_conns(&s, &f, idx, 16, &n, &total) == 0 && total == 1,
	      "--dest github.com matches api.github.com's connect");
	f = (struct store_filter){ .dest = "10.0.0.7" };
	CHECK(store_list_conns(&s, &f, idx, 16, &n, &total) == 0 && total == 2,
	      "--dest 10.0.0.7: both connects to it");
	f = (struct store_filter){ .port = 53, .proto = 17 };
	CHECK(store_list_conns(&s, &f, idx, 16, &n, &total) == 0 && total == 1,
	      "--port 53 --protocol udp: 1");
	f = (struct store_filter){ .proto = 6 };
	CHECK(store_list_conns(&s, &f, idx, 16, &n, &total) == 0 && total == 2,
	      "--protocol tcp: 2");
	f = (struct store_filter){ .dest = "gitlab.com" };
	CHECK(store_list_conns(&s, &f, idx, 16, &n, &total) == 0 && total == 0,
	      "--dest gitlab.com: none");
	/* Names survive a rebuild of the tables. */
	CHECK(store_compact(&s) == 0 &&
		  !strcmp(store_name(&s, store_conn_at(&s, 0)->name), "api.github.com"),
	      "names survive store_compact()");
	store_fini(&s);
}

int main(void)
{
	test_parse_real();
	test_parse_types();
	test_parse_hostile();
	test_stream();
	test_store();
	test_connect_names();
	return CHECK_DONE();
}
