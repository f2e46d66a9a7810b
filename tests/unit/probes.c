/* Unit tests for netspyd's side of the per-CPU rings and the jiffies clock
 * (collectord/probes.c): the consumer against rings filled here the way bpf/netspy.bpf.c fills
 * them, without a kernel. */
#include "check.h"
#include "../../collectord/kernel.c"
#include "../../collectord/probes.c"

#define ORDER 3 /* 8 slots per CPU */
#define NCPUS 2

static struct netspy_event got[256];
static size_t n_got;

static void collect(void *ctx, const struct netspy_event *ev)
{
	(void)ctx;
	if (n_got < sizeof(got) / sizeof(got[0]))
		got[n_got++] = *ev;
}

/* What the BPF program does: claim head, fill the slot, publish the commit word. */
static void produce(struct probes *p, int cpu, uint8_t type, uint32_t pid, uint64_t ts,
		    uint8_t flags, bool commit)
{
	struct netspy_ring_ctl *ctl = &p->conn_ctl[cpu];
	uint64_t h = ctl->head++;
	struct netspy_event *e = &p->conn_ring[((size_t)cpu << ORDER) + (h & ((1u << ORDER) - 1))];

	memset(e, 0, sizeof(*e));
	e->type = type;
	e->pid = pid;
	e->ts_ns = ts;
	e->flags = flags;
	if (commit)
		e->commit = (uint32_t)h + 1;
}

static void setup(struct probes *p)
{
	memset(p, 0, sizeof(*p));
	p->ncpus = NCPUS;
	p->conn_order = ORDER;
	p->conn_ring = calloc((size_t)NCPUS << ORDER, sizeof(struct netspy_event));
	p->conn_ctl = calloc(NCPUS, sizeof(struct netspy_ring_ctl));
	p->on_event = collect;
	/* A kernel at HZ=250 since boot: jiffies j was at 4 ms * j. */
	p->clk0 = (struct netspy_clock_sample){ .jiffies = 1000, .boot_ns = 4000000000ull };
	p->clk = (struct netspy_clock_sample){ .jiffies = 2000, .boot_ns = 8000000000ull };
	n_got = 0;
}

static void teardown(struct probes *p)
{
	free(p->conn_ring);
	free(p->conn_ctl);
}

int main(void)
{
	struct probes p;
	struct netspy_event outcome = { .type = NETSPY_EV_TCP_OUTCOME, .pid = 99 };
	struct netspy_kick kick = { .type = NETSPY_EV_KICK };
	struct netspy_clock_sample a = { .jiffies = 100, .boot_ns = 1000000000ull };
	struct netspy_clock_sample b = { .jiffies = 1100, .boot_ns = 5000000000ull };
	int n;

	/* Sizing: half of the budget over the CPUs, a power of two, never below 8 slots. */
	CHECK(probes_conn_slots(16u << 20, 2) == 32768, "16 MiB on 2 CPUs: 32768 slots per CPU");
	CHECK(probes_conn_slots(16u << 20, 64) == 1024, "16 MiB on 64 CPUs: 1024 slots per CPU");
	CHECK(probes_conn_slots(4096, 2) == 8, "a 4 KiB budget still gets 8 slots per CPU");
	CHECK(probes_shared_ring_bytes(16u << 20) == 8u << 20,
	      "the shared ring gets half the budget");
	CHECK(probes_shared_ring_bytes(4096) == 4096, "the shared ring is at least a page");

	/* Jiffies to boot time: 1000 jiffies in 4 s is 4 ms a tick. */
	CHECK(probes_jiffies_to_boot_ns(&a, &b, 1100) == 5000000000ull,
	      "the latest jiffy is the sample's time");
	CHECK(probes_jiffies_to_boot_ns(&a, &b, 1000) == 4600000000ull,
	      "100 ticks earlier is 400 ms earlier");
	CHECK(probes_jiffies_to_boot_ns(&a, &b, 1200) == 5000000000ull,
	      "a jiffy after the sample (read after it) is not put in the future");
	CHECK(probes_jiffies_to_boot_ns(&a, &a, 50) == 1000000000ull,
	      "without a baseline yet, the sample's own time");
	CHECK(probes_jiffies_to_boot_ns(&a, &b, 0) == 600000000ull,
	      "jiffy 0 maps before the first sample");

	/* Draining: every CPU, each in claim order and all merged in time order, stopping at a slot
	 * that is claimed but not complete. */
	setup(&p);
	produce(&p, 0, NETSPY_EV_CONNECT, 1, 10, 0, true);
	produce(&p, 1, NETSPY_EV_CONNECT, 2, 20, 0, true);
	produce(&p, 0, NETSPY_EV_CONNECT, 3, 30, 0, true);
	produce(&p, 0, NETSPY_EV_CONNECT, 4, 40, 0, false); /* still being written */
	produce(&p, 0, NETSPY_EV_CONNECT, 5, 50, 0, true);
	n = probes_drain(&p);
	CHECK(n == 3 && n_got == 3, "three complete records drained (%d)", n);
	CHECK(got[0].pid == 1 && got[1].pid == 2 && got[2].pid == 3,
	      "CPU 0's and CPU 1's records in time order (%u %u %u)", got[0].pid, got[1].pid,
	      got[2].pid);
	CHECK(p.conn_ctl[0].tail == 2 && p.conn_ctl[1].tail == 1,
	      "tails stop at the incomplete slot and are published");
	p.conn_ring[2].commit = 3; /* the writer finishes position 2 */
	n_got = 0;
	n = probes_drain(&p);
	CHECK(n == 2 && got[0].pid == 4 && got[1].pid == 5, "the rest follows once it is complete");
	n_got = 0;
	CHECK(probes_drain(&p) == 0 && n_got == 0, "nothing is delivered twice");

	/* A stale commit word from the previous lap is not mistaken for a new record. */
	for (int i = 0; i < 8; i++)
		produce(&p, 1, NETSPY_EV_CONNECT, 100 + (uint32_t)i, 0, 0, true);
	n_got = 0;
	n = probes_drain(&p);
	CHECK(n == 8 && got[0].pid == 100 && got[7].pid == 107,
	      "a full lap of CPU 1 drained in order");
	produce(&p, 1, NETSPY_EV_CONNECT, 200, 0, 0, false);
	n_got = 0;
	CHECK(probes_drain(&p) == 0, "a slot holding last lap's record is not read again");
	teardown(&p);

	/* A process that moved between CPUs: its records interleave across the rings. */
	setup(&p);
	produce(&p, 0, NETSPY_EV_CONNECT, 1, 100, 0, true);
	produce(&p, 1, NETSPY_EV_CONNECT, 2, 200, 0, true);
	produce(&p, 1, NETSPY_EV_CONNECT, 3, 300, 0, true);
	produce(&p, 0, NETSPY_EV_CONNECT, 4, 400, 0, true);
	produce(&p, 1, NETSPY_EV_CONNECT, 5, 500, 0, true);
	produce(&p, 0, NETSPY_EV_CONNECT, 6, 600, 0, true);
	n = probes_drain(&p);
	CHECK(n == 6 && got[0].pid == 1 && got[1].pid == 2 && got[2].pid == 3 && got[3].pid == 4 &&
		  got[4].pid == 5 && got[5].pid == 6,
	      "interleaved records of two CPUs come out in time order");
	CHECK(p.conn_ctl[0].tail == 3 && p.conn_ctl[1].tail == 3, "both tails published");
	teardown(&p);

	/* Jiffies-dated records get boot time and lose the flag. */
	setup(&p);
	produce(&p, 0, NETSPY_EV_CONNECT, 1, 1900, NETSPY_F_JIFFIES_TS | NETSPY_F_SRC_BOUND, true);
	produce(&p, 0, NETSPY_EV_CONNECT, 2, 123456789, 0, true);
	probes_drain(&p);
	CHECK(got[0].ts_ns == 7600000000ull, "jiffy 1900 is 7.6 s after boot (%llu)",
	      (unsigned long long)got[0].ts_ns);
	CHECK(got[0].flags == NETSPY_F_SRC_BOUND, "the jiffies flag is cleared, others kept");
	CHECK(got[1].ts_ns == 123456789, "nanosecond timestamps are left alone");
	teardown(&p);

	/* An outcome and a drop on another CPU than their connect come out after it; a kick and a
	 * DNS record without its bytes from the ring buffer are no events. */
	setup(&p);
	CHECK(on_sample(&p, &kick, sizeof(kick)) == 0 && n_got == 0, "a kick is not an event");
	CHECK(on_sample(&p, &outcome, sizeof(outcome)) == 0 && n_got == 1 && got[0].pid == 99,
	      "a whole record from the ring buffer is delivered at once");
	outcome.type = NETSPY_EV_DNS;
	CHECK(on_sample(&p, &outcome, sizeof(outcome)) == 0 && n_got == 1,
	      "a DNS record cut short is not delivered");
	n_got = 0;
	produce(&p, 1, NETSPY_EV_TCP_OUTCOME, 98, 200, 0, true);
	produce(&p, 1, NETSPY_EV_DROP, 98, 300, 0, true);
	produce(&p, 0, NETSPY_EV_CONNECT, 98, 100, 0, true);
	produce(&p, 0, NETSPY_EV_TCP_END, 98, 400, 0, true);
	probes_drain(&p);
	CHECK(n_got == 4 && got[0].type == NETSPY_EV_CONNECT &&
		  got[1].type == NETSPY_EV_TCP_OUTCOME && got[2].type == NETSPY_EV_DROP &&
		  got[3].type == NETSPY_EV_TCP_END,
	      "connect, outcome, drop, end: in time order across the CPUs");
	teardown(&p);
	return CHECK_DONE();
}
