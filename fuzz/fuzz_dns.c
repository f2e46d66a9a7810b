/* Fuzzes the DNS parser with what a packet on port 53 can carry: the input is parsed as one UDP
 * message and as a TCP segment (length-prefixed messages), then fed to a store as a query sent
 * and a response received on the same flow, so that matching, the address -> name map and the
 * DNS queries' aggregation all see it. Nothing may crash, loop or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dns.h"
#include "core/store.h"

#define FUZZ_MAX_INPUT 4096

static void on_msg(void *ctx, const struct dns_msg *m)
{
	size_t *n = ctx;

	*n += strlen(m->qname) + m->n_answers;
}

static void feed(struct store *s, uint64_t ts, bool received, bool tcp, const uint8_t *data,
		 size_t len)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__Dns d = NETSPY__V1__DNS__INIT;
	uint8_t local[4] = { 127, 0, 0, 1 }, server[4] = { 127, 0, 0, 53 };

	d.pid = 42;
	d.attributed = true;
	d.comm.data = (uint8_t *)"fuzz";
	d.comm.len = 4;
	d.family = 2;
	d.ip_proto = tcp ? 6 : 17;
	d.src_addr.data = received ? server : local;
	d.src_addr.len = 4;
	d.src_port = received ? 53 : 40000;
	d.dst_addr.data = received ? local : server;
	d.dst_addr.len = 4;
	d.dst_port = received ? 40000 : 53;
	d.received = received;
	d.length = (uint32_t)len + (len == 512);
	d.data.data = (uint8_t *)data;
	d.data.len = len > 512 ? 512 : len;
	ev.timestamp_ns = ts;
	ev.kind_case = NETSPY__V1__EVENT__KIND_DNS;
	ev.dns = &d;
	store_add(s, &ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_msg m;
	static struct store s;
	static bool ready;
	struct store_filter all = { 0 }, named = { .name = "test", .dest = "a.test" };
	static struct store_dns_stats st;
	uint64_t idx[8], total, ts = 1700000000000000000ull;
	size_t n = 0, sink = 0;
	uint8_t *copy;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	/* An exact-size copy: reads past the end are caught by ASan. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (dns_parse(copy, size, &m) == 0)
		for (size_t i = 0; i < m.n_answers; i++)
			sink += strlen(m.answers[i].owner) + strlen(m.answers[i].data);
	dns_parse_stream(copy, size, on_msg, &sink, &m);

	if (!ready) {
		store_init(&s, 1024, "/nonexistent");
		ready = true;
	}
	/* The input as a query, then as its own response (its id and name match), both ways. */
	feed(&s, ts, false, false, copy, size);
	feed(&s, ts + 1000, true, false, copy, size);
	feed(&s, ts + 2000, false, true, copy, size);
	feed(&s, ts + 3000, true, true, copy, size);
	store_dns_stats(&s, &all, ts + 10000000000ull, &st);
	store_list_dns(&s, &named, idx, 8, &n, &total);
	for (size_t i = 0; i < n; i++) {
		const struct store_dns *q = store_dns_at(&s, idx[i]);

		sink += strlen(store_name(&s, q->name));
		for (int k = 0; k < q->n_answers; k++)
			sink += strlen(store_name(&s, q->answers[k]));
	}
	free(copy);
	return sink == (size_t)-1;
}
