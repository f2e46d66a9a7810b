/* Event encoding on netspyd's hot path: the direct wire encoder (collectord/wire.c) against
 * protobuf-c's generic packer as the baseline, on the same 1000 varied events, in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "../collectord/dropnames.c"
#include "../collectord/wire.c"

#define N_EVENTS 1000
#define ROUNDS 200
#define RUNS 7

static void sample(struct netspy_event *e, int i)
{
	memset(e, 0, sizeof(*e));
	e->type = NETSPY_EV_CONNECT;
	e->family = i % 4 ? 2 : 10;
	e->ip_proto = i % 2 ? 6 : 17;
	e->sock_type = e->ip_proto == 6 ? 1 : 2;
	e->pid = e->tid = 1000 + (uint32_t)i % 50;
	e->uid = 1000;
	e->ts_ns = 1700000000000000000ull + (uint64_t)i * 1000;
	e->cookie = 4096 + (uint64_t)i;
	e->cgroup_id = 8123;
	e->dport = 443;
	memcpy(e->daddr, "\x7f\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
	snprintf(e->comm, sizeof(e->comm), "curl");
}

/* The baseline: the same Event as protobuf-c structs, packed by protobuf-c. */
static size_t pack_reference(uint8_t *out, const struct netspy_event *e, uint64_t seq)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__Connect c = NETSPY__V1__CONNECT__INIT;
	size_t al = addr_len(e);

	c.pid = e->pid;
	c.tid = e->tid;
	c.uid = e->uid;
	c.comm = (ProtobufCBinaryData){ comm_len(e->comm), (uint8_t *)e->comm };
	c.cgroup_id = e->cgroup_id;
	c.cookie = e->cookie;
	c.family = e->family;
	c.ip_proto = e->ip_proto;
	c.sock_type = e->sock_type;
	c.src_addr = (ProtobufCBinaryData){ al, (uint8_t *)e->saddr };
	c.dst_addr = (ProtobufCBinaryData){ al, (uint8_t *)e->daddr };
	c.dst_port = e->dport;
	ev.seq = seq;
	ev.timestamp_ns = e->ts_ns;
	ev.kind_case = NETSPY__V1__EVENT__KIND_CONNECT;
	ev.connect = &c;
	return protobuf_c_message_pack(&ev.base, out);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	static struct netspy_event ev[N_EVENTS];
	static uint8_t out[N_EVENTS * WIRE_EVENT_MAX];
	double t_wire[RUNS], t_ref[RUNS];
	size_t sink = 0;

	for (int i = 0; i < N_EVENTS; i++)
		sample(&ev[i], i);
	for (int r = 0; r < RUNS; r++) {
		double t0 = clock_sec(CLOCK_MONOTONIC), t1, t2;

		for (int k = 0; k < ROUNDS; k++)
			for (int i = 0; i < N_EVENTS; i++)
				sink += wire_event(out + (size_t)i * WIRE_EVENT_MAX, &ev[i], i, NULL, NULL, 0);
		t1 = clock_sec(CLOCK_MONOTONIC);
		for (int k = 0; k < ROUNDS; k++)
			for (int i = 0; i < N_EVENTS; i++)
				sink += pack_reference(out + (size_t)i * WIRE_EVENT_MAX, &ev[i], i);
		t2 = clock_sec(CLOCK_MONOTONIC);
		t_wire[r] = (t1 - t0) * 1e9 / (N_EVENTS * ROUNDS);
		t_ref[r] = (t2 - t1) * 1e9 / (N_EVENTS * ROUNDS);
	}
	qsort(t_wire, RUNS, sizeof(double), cmp);
	qsort(t_ref, RUNS, sizeof(double), cmp);
	printf("protobuf-c pack of one Event      %6.1f ns  (baseline, median of %d)\n",
	       t_ref[RUNS / 2], RUNS);
	printf("netspyd wire encoder, same Event  %6.1f ns  %.2fx baseline (%.1fx faster)\n",
	       t_wire[RUNS / 2], t_wire[RUNS / 2] / t_ref[RUNS / 2],
	       t_ref[RUNS / 2] / t_wire[RUNS / 2]);
	return sink == 0;
}
