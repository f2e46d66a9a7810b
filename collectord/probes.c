/* Loading and attaching netspy's eBPF programs (one table, probe_table, says which and how):
 * cgroup sock_addr, sock_release and sockops hooks on the cgroup2 root, tp_btf/inet_sock_set_state,
 * the route lookup tracepoints, the tcp retransmit and reset tracepoints and tp_btf/kfree_skb;
 * per-CPU rings and one ring buffer (DNS messages), drained in batches. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "mountinfo.h"
#include "probes.h"
#include "netspy.skel.h"

int probes_find_cgroup2(char *buf, size_t len)
{
	/* Only a mount of the whole hierarchy: the hooks attach at its root. */
	return mountinfo_cgroup2("/proc/self/mountinfo", true, buf, len);
}

uint32_t probes_conn_slots(size_t ringbuf_bytes, int ncpus)
{
	size_t per_cpu =
	    ringbuf_bytes / 2 / sizeof(struct netspy_event) / (size_t)(ncpus > 0 ? ncpus : 1);
	uint32_t slots = 8;

	while ((size_t)slots * 2 <= per_cpu && slots < (1u << 24))
		slots *= 2;
	return slots;
}

size_t probes_shared_ring_bytes(size_t ringbuf_bytes)
{
	return ringbuf_bytes / 2 >= 4096 ? ringbuf_bytes / 2 : 4096;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct probes *p = ctx;
	const struct netspy_event *e = data;

	if (size < sizeof(struct netspy_event)) /* a kick, or nothing we know */
		return 0;
	if (e->type == NETSPY_EV_DNS && size < sizeof(struct netspy_dns_record))
		return 0;
	p->on_event(p->ctx, e);
	return 0;
}

static int sample_clock(struct probes *p, struct netspy_clock_sample *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	int err;

	if (!p->skel)
		return -ENODEV;
	err = bpf_prog_test_run_opts(bpf_program__fd(p->skel->progs.sample_clock), &opts);
	if (err)
		return err;
	*out = *(volatile struct netspy_clock_sample *)&p->skel->bss->clock_sample;
	return 0;
}

/* Jiffies advance at the kernel's HZ (100 to 1000 a second, a build option): the latest sample
 * anchors the conversion and the rate comes from the longest baseline there is, the first sample
 * to the latest. */
uint64_t probes_jiffies_to_boot_ns(const struct netspy_clock_sample *first,
				   const struct netspy_clock_sample *latest, uint64_t jiffies)
{
	double tick_ns;
	uint64_t back;

	if (jiffies >= latest->jiffies || latest->jiffies - first->jiffies < 2 ||
	    latest->boot_ns <= first->boot_ns)
		return latest->boot_ns;
	tick_ns =
	    (double)(latest->boot_ns - first->boot_ns) / (double)(latest->jiffies - first->jiffies);
	back = (uint64_t)((double)(latest->jiffies - jiffies) * tick_ns);
	return back < latest->boot_ns ? latest->boot_ns - back : 0;
}

static uint64_t jiffies_to_boot(struct probes *p, uint64_t jiffies)
{
	if (!p->clk_fresh) {
		/* Once per drain, and only when a drain has UDP connects to date. */
		if (sample_clock(p, &p->clk) == 0)
			p->clk_fresh = true;
	}
	return probes_jiffies_to_boot_ns(&p->clk0, &p->clk, jiffies);
}

/* One CPU's ring as drain_conn_rings() reads it: the next slot and the end of what it may
 * read this drain, the records taken since the tail was last published, and the next record (when
 * committed), dated. */
struct ring_cursor {
	uint64_t t, end;
	unsigned taken;
	bool ready;
	struct netspy_event ev;
};

/* Loads the cursor's next record if the kernel has committed it. UDP connects are dated in
 * jiffies by the program: converted here, so that records of every CPU compare by time. */
static bool cursor_peek(struct probes *p, int cpu, struct ring_cursor *c)
{
	struct netspy_event *ring = p->conn_ring + ((size_t)cpu << p->conn_order);
	struct netspy_event *slot = &ring[c->t & ((1ull << p->conn_order) - 1)];

	c->ready = c->t != c->end &&
		   __atomic_load_n(&slot->commit, __ATOMIC_ACQUIRE) == (uint32_t)(c->t + 1);
	if (!c->ready)
		return false;
	c->ev = *slot;
	if (c->ev.flags & NETSPY_F_JIFFIES_TS) {
		c->ev.ts_ns = jiffies_to_boot(p, c->ev.ts_ns);
		c->ev.flags &= (uint8_t)~NETSPY_F_JIFFIES_TS;
	}
	return true;
}

/* Hands the cursor's record on and moves past it. The tail is published every 1024 slots so that
 * the kernel can refill a long ring while it is being read. */
static void cursor_take(struct probes *p, int cpu, struct ring_cursor *c)
{
	p->on_event(p->ctx, &c->ev);
	c->t++;
	if (++c->taken == 1024) {
		__atomic_store_n(&p->conn_ctl[cpu].tail, c->t, __ATOMIC_RELEASE);
		c->taken = 0;
	}
	cursor_peek(p, cpu, c);
}

/* Drains the CPUs' rings, in time order across them: each ring is in its CPU's time order,
 * and the records of a process that moved between CPUs during one drain must not come out CPU by
 * CPU (a connection listed before one made earlier, and dated by the store no earlier than it).
 * While one ring alone has records, they are taken without comparing. */
static int drain_conn_rings(struct probes *p)
{
	struct ring_cursor cur[p->ncpus];
	int n = 0, ready = 0;

	for (int cpu = 0; cpu < p->ncpus; cpu++) {
		cur[cpu].t = p->conn_ctl[cpu].tail;
		cur[cpu].end = cur[cpu].t + (1ull << p->conn_order);
		cur[cpu].taken = 0;
		ready += cursor_peek(p, cpu, &cur[cpu]);
	}
	while (ready) {
		int best = -1;

		for (int cpu = 0; cpu < p->ncpus; cpu++)
			if (cur[cpu].ready && (best < 0 || cur[cpu].ev.ts_ns < cur[best].ev.ts_ns))
				best = cpu;
		do {
			cursor_take(p, best, &cur[best]);
			n++;
		} while (ready == 1 && cur[best].ready);
		ready -= !cur[best].ready;
	}
	for (int cpu = 0; cpu < p->ncpus; cpu++)
		__atomic_store_n(&p->conn_ctl[cpu].tail, cur[cpu].t, __ATOMIC_RELEASE);
	return n;
}

/* Keeps what failed (malloc'd; NULL when out of memory) until probes_init hands it to its caller,
 * and returns err, the errno read before anything could change it. */
static int __attribute__((format(printf, 3, 4))) failf(struct probes *p, int err, const char *fmt, ...)
{
	va_list ap;

	free(p->error);
	va_start(ap, fmt);
	if (vasprintf(&p->error, fmt, ap) < 0)
		p->error = NULL;
	va_end(ap);
	return err;
}

static int fail(struct probes *p, int err, const char *what)
{
	return failf(p, err, "%s: %s", what, strerror(-err));
}

/* How a program is attached. */
enum probe_attach {
	PROBE_CGROUP, /* to the cgroup2 root */
	PROBE_TRACE,  /* where its section says (tp_btf/...) */
	PROBE_RUN,    /* not attached: netspyd runs it (BPF_PROG_TEST_RUN) */
};

/* Every program of bpf/netspy.bpf.c, and when it is loaded. A program with `feature` set is loaded
 * only when the kernel has that feature, or, with `fallback`, only when it lacks it: a fast path
 * and its fallback are two entries. A new hook is one line here. */
struct probe_def {
	const char *prog;
	enum probe_attach attach;
	bool drops;		     /* only when drops are traced */
	bool dns;		     /* only when DNS messages are traced */
	bool fallback;		     /* loaded when `feature` is missing rather than present */
	enum kernel_feature feature; /* KERNEL_F_MAX: none */
};

static const struct probe_def probe_table[] = {
	{ "cgroup_connect4", PROBE_CGROUP, .feature = KERNEL_F_KERN_CTX },
	{ "cgroup_connect6", PROBE_CGROUP, .feature = KERNEL_F_KERN_CTX },
	{ "cgroup_connect4_compat", PROBE_CGROUP, .fallback = true, .feature = KERNEL_F_KERN_CTX },
	{ "cgroup_connect6_compat", PROBE_CGROUP, .fallback = true, .feature = KERNEL_F_KERN_CTX },
	{ "cgroup_post_bind4", PROBE_CGROUP, .feature = KERNEL_F_MAX },
	{ "cgroup_post_bind6", PROBE_CGROUP, .feature = KERNEL_F_MAX },
	{ "tp_inet_sock_set_state", PROBE_TRACE, .feature = KERNEL_F_MAX },
	{ "tp_fib_table_lookup", PROBE_TRACE, .feature = KERNEL_F_MAX },
	{ "tp_fib6_table_lookup", PROBE_TRACE, .feature = KERNEL_F_MAX },
	{ "cgroup_sock_release", PROBE_CGROUP, .feature = KERNEL_F_KERN_CTX },
	{ "cgroup_sock_release_compat", PROBE_CGROUP, .fallback = true,
	  .feature = KERNEL_F_KERN_CTX },
	{ "sockops_tcp_connect", PROBE_CGROUP, .feature = KERNEL_F_MAX },
	{ "tp_tcp_retransmit_skb", PROBE_TRACE, .feature = KERNEL_F_MAX },
	{ "tp_tcp_send_reset", PROBE_TRACE, .feature = KERNEL_F_MAX },
	{ "tp_tcp_receive_reset", PROBE_TRACE, .feature = KERNEL_F_MAX },
	{ "tp_kfree_skb", PROBE_TRACE, .drops = true, .feature = KERNEL_F_DROP_REASON },
	{ "cgroup_skb_dns_egress", PROBE_CGROUP, .dns = true, .feature = KERNEL_F_MAX },
	{ "cgroup_skb_dns_ingress", PROBE_CGROUP, .dns = true, .feature = KERNEL_F_MAX },
	{ "sample_clock", PROBE_RUN, .feature = KERNEL_F_MAX },
};

#define PROBE_TABLE_LEN (sizeof(probe_table) / sizeof(probe_table[0]))

static const struct probe_def *probe_def_of(const struct bpf_program *prog)
{
	const char *name = bpf_program__name(prog);

	for (size_t i = 0; i < PROBE_TABLE_LEN; i++)
		if (!strcmp(probe_table[i].prog, name))
			return &probe_table[i];
	return NULL;
}

static bool probe_wanted(const struct probes *p, const struct probe_def *def)
{
	if (def->drops && !p->drops)
		return false;
	if (def->dns && !p->dns)
		return false;
	if (def->feature == KERNEL_F_MAX)
		return true;
	return p->features.has[def->feature] != def->fallback;
}

/* Switches off the programs this kernel or configuration does not want. Every program of the
 * object must have an entry in probe_table. */
static int select_programs(struct probes *p)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, p->skel->obj)
	{
		const struct probe_def *def = probe_def_of(prog);
		char what[128];

		if (!def) {
			snprintf(what, sizeof(what), "program %s has no entry in the attach table",
				 bpf_program__name(prog));
			return fail(p, -ENOENT, what);
		}
		bpf_program__set_autoload(prog, probe_wanted(p, def));
	}
	return 0;
}

static int attach_programs(struct probes *p)
{
	p->links = calloc(PROBE_TABLE_LEN, sizeof(*p->links));
	if (!p->links)
		return fail(p, -ENOMEM, "allocating the link table");
	for (size_t i = 0; i < PROBE_TABLE_LEN; i++) {
		const struct probe_def *def = &probe_table[i];
		struct bpf_program *prog;
		struct bpf_link *l;
		char what[128];

		if (def->attach == PROBE_RUN || !probe_wanted(p, def))
			continue;
		prog = bpf_object__find_program_by_name(p->skel->obj, def->prog);
		if (!prog) {
			snprintf(what, sizeof(what), "the attach table names %s, not in the object",
				 def->prog);
			return fail(p, -ENOENT, what);
		}
		l = def->attach == PROBE_CGROUP ? bpf_program__attach_cgroup(prog, p->cgroup_fd)
						: bpf_program__attach(prog);
		if (!l) {
			int err = -errno;

			snprintf(what, sizeof(what), "attaching %s", def->prog);
			return fail(p, err, what);
		}
		p->links[p->n_links++] = l;
	}
	return 0;
}

/* The kernel's BTF, then its features: a kernel without BTF or below the minimum is named as such,
 * with the feature it lacks and the release that has it. */
static int check_kernel(struct probes *p, const struct probes_opts *o)
{
	enum kernel_feature missing;

	p->btf = btf__load_vmlinux_btf();
	if (!p->btf) {
		return failf(p, -errno,
			     "this kernel provides no BTF type information (/sys/kernel/btf/vmlinux "
			     "is missing or unreadable): netspyd needs a kernel built with "
			     "CONFIG_DEBUG_INFO_BTF=y, which provides it since Linux 5.4, and Linux "
			     "%s or newer",
			     KERNEL_MIN_VERSION);
	}
	kernel_probe(p->btf, o->hide_features, &p->features);
	missing = kernel_missing_required(&p->features);
	if (missing != KERNEL_F_MAX) {
		const struct kernel_feature_info *fi = kernel_feature_info(missing);

		return failf(p, -EOPNOTSUPP,
			     "this kernel lacks %s, which arrived in Linux %s: netspyd needs Linux "
			     "%s or newer",
			     fi->what, fi->since, KERNEL_MIN_VERSION);
	}
	p->drops = o->drops && p->features.has[KERNEL_F_DROP_REASON];
	p->dns = o->dns;
	return 0;
}

static int load(struct probes *p, const struct probes_opts *o)
{
	int err;

	p->skel = netspy_bpf__open();
	if (!p->skel)
		return fail(p, -errno, "opening the BPF object");
	p->skel->rodata->wakeup_bytes = o->wakeup_bytes;
	p->skel->rodata->kfree_skb_has_rx_sk = p->features.has[KERNEL_F_RX_SK];
	p->skel->rodata->retransmit_has_err = p->features.has[KERNEL_F_RETRANS_ERR];
	/* Hooks on a cgroup of its own (--cgroup): the TCP tracepoints, which see the whole
	 * machine, report only the sockets that cgroup's processes connected or listen on
	 * (outcomes, the lifecycle); drops stay machine-wide. */
	p->skel->rodata->known_sockets_only = o->cgroup_root != NULL;
	p->skel->rodata->ignore_tgid = (uint32_t)getpid();
	p->conn_order = (uint32_t)__builtin_ctz(probes_conn_slots(o->ringbuf_bytes, p->ncpus));
	p->skel->rodata->conn_ring_order = p->conn_order;
	err = bpf_map__set_max_entries(p->skel->maps.events,
				       (uint32_t)probes_shared_ring_bytes(o->ringbuf_bytes));
	if (!err)
		err = bpf_map__set_max_entries(p->skel->maps.conn_ring,
					       (uint32_t)p->ncpus << p->conn_order);
	if (!err)
		err = bpf_map__set_max_entries(p->skel->maps.conn_ctl, (uint32_t)p->ncpus);
	if (err)
		return fail(p, err, "sizing the ring buffers");
	err = select_programs(p);
	if (err)
		return err;
	err = netspy_bpf__load(p->skel);
	if (err)
		return fail(p, err,
			    "loading the BPF programs (the kernel's reasons are logged above)");
	return 0;
}

/* Maps a BPF_F_MMAPABLE array of len bytes (rounded up to pages, in *ret_len). */
static void *map_array(int fd, size_t len, int prot, size_t *ret_len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	*ret_len = (len + page - 1) & ~(page - 1);
	return mmap(NULL, *ret_len, prot, MAP_SHARED, fd, 0);
}

/* Maps the per-CPU rings (read-only) and their positions (netspyd writes the tails). */
static int map_conn_rings(struct probes *p)
{
	void *m;

	m = map_array(bpf_map__fd(p->skel->maps.conn_ring),
		      ((size_t)p->ncpus << p->conn_order) * sizeof(struct netspy_event), PROT_READ,
		      &p->conn_ring_len);
	if (m == MAP_FAILED)
		return fail(p, -errno, "mapping the per-CPU rings");
	p->conn_ring = m;
	m = map_array(bpf_map__fd(p->skel->maps.conn_ctl),
		      (size_t)p->ncpus * sizeof(struct netspy_ring_ctl), PROT_READ | PROT_WRITE,
		      &p->conn_ctl_len);
	if (m == MAP_FAILED)
		return fail(p, -errno, "mapping the per-CPU ring positions");
	p->conn_ctl = m;
	return 0;
}

/* The kernel's HZ, from two clock samples 50 ms apart, rounded to the nearest usual value. */
static unsigned measure_hz(struct probes *p)
{
	static const unsigned usual[] = { 100, 250, 300, 1000 };
	struct netspy_clock_sample a, b;
	unsigned best = 250;
	double hz, d = 1e9;

	if (sample_clock(p, &a) < 0)
		return best;
	usleep(50000);
	if (sample_clock(p, &b) < 0 || b.boot_ns <= a.boot_ns)
		return best;
	hz = (double)(b.jiffies - a.jiffies) * 1e9 / (double)(b.boot_ns - a.boot_ns);
	for (size_t i = 0; i < sizeof(usual) / sizeof(usual[0]); i++) {
		double e = hz > usual[i] ? hz - usual[i] : usual[i] - hz;

		if (e < d) {
			d = e;
			best = usual[i];
		}
	}
	return best;
}

static void fold_epoch_began(struct probes *p, uint32_t epoch)
{
	p->fold_epochs[epoch & 3].epoch = epoch;
	p->fold_epochs[epoch & 3].start_ns = clock_ns(CLOCK_BOOTTIME);
}

/* Rate windows of a tenth of a second; the threshold per window follows. */
static int setup_folding(struct probes *p, unsigned threshold)
{
	uint64_t window;

	p->fold_seen = calloc((size_t)p->ncpus * NETSPY_FOLD_KINDS, sizeof(*p->fold_seen));
	if (!p->fold_seen)
		return fail(p, -ENOMEM, "allocating the flood state");
	fold_epoch_began(p, 0);
	/* Drops, TCP retransmits and resets fold (the latter two are always traced). */
	if (!threshold)
		return 0;
	p->hz = measure_hz(p);
	window = p->hz / 10 ? p->hz / 10 : 1;
	p->skel->bss->flood_window_jiffies = window;
	p->skel->bss->flood_window_events =
	    (uint32_t)((uint64_t)threshold * window / p->hz ? (uint64_t)threshold * window / p->hz
							    : 1);
	return 0;
}

static void fold_record(struct netspy_event *e, const struct netspy_fold_key *k,
			const struct netspy_fold_val *v, uint64_t n)
{
	memset(e, 0, sizeof(*e));
	netspy_fold_fill(e, k, v, n);
}

/* Emits n events of one key, as records of at most UINT32_MAX each. */
static int fold_deliver(struct probes *p, const struct netspy_fold_key *k,
			const struct netspy_fold_val *v, uint64_t n)
{
	struct netspy_event e;
	int made = 0;

	while (n) {
		uint64_t part = n > UINT32_MAX ? UINT32_MAX : n;

		fold_record(&e, k, v, part);
		p->on_event(p->ctx, &e);
		n -= part;
		made++;
	}
	p->folded_records += (uint64_t)made;
	return made;
}

static bool epoch_old(uint32_t key_epoch, uint32_t now)
{
	return (int32_t)(now - key_epoch) >= 2;
}

/* The hash: every key at least two epochs old, summed over the CPUs, then deleted. The program
 * only adds to keys of the epoch it read, so nothing is added to a key once it is taken. */
static int flush_hash(struct probes *p, uint32_t epoch)
{
	int fd = bpf_map__fd(p->skel->maps.fold_hash);
	struct netspy_fold_key *keys = NULL, cur, next;
	struct netspy_fold_val vals[p->ncpus];
	size_t n = 0, cap = 0;
	bool first = true;
	int made = 0;

	/* Before Linux 6.5 the kernel may refuse every bpf() call to a process without CAP_BPF
	 * (kernel.unprivileged_bpf_disabled), and netspyd drops its capabilities: then the program
	 * stops using the hash, and spills go to the ring buffer as records at once. */
	if (bpf_map_get_next_key(fd, NULL, &next) && errno == EPERM) {
		p->skel->bss->fold_no_hash = 1;
		return 0;
	}
	while (!bpf_map_get_next_key(fd, first ? NULL : &cur, &next)) {
		first = false;
		cur = next;
		if (!epoch_old(cur.epoch, epoch))
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			struct netspy_fold_key *m = realloc(keys, c * sizeof(*m));

			if (!m)
				break;
			keys = m;
			cap = c;
		}
		keys[n++] = cur;
	}
	for (size_t i = 0; i < n; i++) {
		const struct netspy_fold_val *owner = NULL;
		uint64_t total = 0;

		if (bpf_map_lookup_elem(fd, &keys[i], vals))
			continue;
		for (int c = 0; c < p->ncpus; c++) {
			total += vals[c].count;
			if (vals[c].count && (!owner || vals[c].first_ns < owner->first_ns))
				owner = &vals[c];
		}
		bpf_map_delete_elem(fd, &keys[i]);
		if (total && owner)
			made += fold_deliver(p, &keys[i], owner, total);
	}
	free(keys);
	return made;
}

/* The per-CPU caches: an idle CPU's count is taken with a compare-and-swap of its word; a
 * program replacing the key meanwhile changes the generation, and the swap fails (the program
 * then spills the count itself). */
static int flush_caches(struct probes *p, uint32_t epoch)
{
	int ncpus = p->ncpus < NETSPY_FOLD_CPUS ? p->ncpus : NETSPY_FOLD_CPUS, made = 0;

	for (int i = 0; i < NETSPY_FOLD_KINDS * ncpus; i++) {
		struct netspy_fold_cpu *fc = &p->skel->bss->fold_cpu[i / ncpus][i % ncpus];
		uint64_t w = __atomic_load_n(&fc->word, __ATOMIC_ACQUIRE);
		struct netspy_fold_key k;
		struct netspy_fold_val v;

		if (!(w & NETSPY_FOLD_COUNT_MASK))
			continue;
		memcpy(&k, (const void *)&fc->key, sizeof(k));
		memcpy(&v, (const void *)&fc->val, sizeof(v));
		if (!epoch_old(k.epoch, epoch))
			continue;
		if (!__atomic_compare_exchange_n(&fc->word, &w, w & ~NETSPY_FOLD_COUNT_MASK, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		made += fold_deliver(p, &k, &v, w & NETSPY_FOLD_COUNT_MASK);
	}
	return made;
}

int probes_fold_flush(struct probes *p)
{
	uint32_t epoch;

	if (!p->skel || !p->skel->bss)
		return 0;
	epoch = __atomic_add_fetch(&p->skel->bss->fold_epoch, 1, __ATOMIC_SEQ_CST);
	fold_epoch_began(p, epoch);
	return flush_hash(p, epoch) + flush_caches(p, epoch);
}

/* When epoch began; for an epoch older than those remembered, the oldest start remembered (an
 * earlier time: the answer errs towards "not final"). */
static uint64_t fold_epoch_start(const struct probes *p, uint32_t epoch)
{
	uint64_t oldest = 0;

	for (int i = 0; i < 4; i++) {
		if (!p->fold_epochs[i].start_ns)
			continue;
		if (p->fold_epochs[i].epoch == epoch)
			return p->fold_epochs[i].start_ns;
		if (!oldest || p->fold_epochs[i].start_ns < oldest)
			oldest = p->fold_epochs[i].start_ns;
	}
	return oldest;
}

uint64_t probes_fold_pending_since(const struct probes *p)
{
	int ncpus = p->ncpus < NETSPY_FOLD_CPUS ? p->ncpus : NETSPY_FOLD_CPUS;
	struct netspy_fold_key next;
	uint32_t now, oldest = 0;
	bool any = false;

	if (!p->skel || !p->skel->bss)
		return 0;
	now = __atomic_load_n(&p->skel->bss->fold_epoch, __ATOMIC_ACQUIRE);
	/* A CPU's cache: a count not taken yet, of its key's epoch. */
	for (int i = 0; i < NETSPY_FOLD_KINDS * ncpus; i++) {
		const struct netspy_fold_cpu *fc = &p->skel->bss->fold_cpu[i / ncpus][i % ncpus];
		uint32_t e;

		if (!(__atomic_load_n(&fc->word, __ATOMIC_ACQUIRE) & NETSPY_FOLD_COUNT_MASK))
			continue;
		e = fc->key.epoch;
		if (!any || (int32_t)(e - oldest) < 0)
			oldest = e;
		any = true;
	}
	/* The hash: each flush takes every key two epochs old, so what it holds is at most one
	 * epoch older than the current one (one bpf() call: whether it holds anything). */
	if (!p->skel->bss->fold_no_hash &&
	    !bpf_map_get_next_key(bpf_map__fd(p->skel->maps.fold_hash), NULL, &next)) {
		uint32_t e = (int32_t)(next.epoch - (now - 1)) < 0 ? next.epoch : now - 1;

		if (!any || (int32_t)(e - oldest) < 0)
			oldest = e;
		any = true;
	}
	return any ? fold_epoch_start(p, oldest) : 0;
}

void probes_flood_state(struct probes *p, unsigned *ret_cpus, unsigned *ret_kinds,
			uint64_t ret_rate[NETSPY_FOLD_KINDS])
{
	unsigned cpus = 0, kinds = 0;

	for (int kind = 0; kind < NETSPY_FOLD_KINDS; kind++)
		ret_rate[kind] = 0;
	for (int c = 0; p->skel && p->fold_seen && c < p->ncpus && c < NETSPY_FOLD_CPUS; c++) {
		bool folding = false;

		for (int kind = 0; kind < NETSPY_FOLD_KINDS; kind++) {
			struct netspy_fold_cpu *fc = &p->skel->bss->fold_cpu[kind][c];
			uint64_t *last = &p->fold_seen[kind * p->ncpus + c];
			/* The window's start and count change with every event the CPU sees. */
			uint64_t seen = __atomic_load_n(&fc->win_start, __ATOMIC_RELAXED) *
					    0x9e3779b97f4a7c15ull ^
					__atomic_load_n(&fc->win_n, __ATOMIC_RELAXED);
			bool active = seen != *last;

			*last = seen;
			if (active && __atomic_load_n(&fc->flood, __ATOMIC_RELAXED)) {
				folding = true;
				kinds |= 1u << kind;
				ret_rate[kind] +=
				    (uint64_t)__atomic_load_n(&fc->last_n, __ATOMIC_RELAXED) * 10;
			}
		}
		cpus += folding;
	}
	*ret_cpus = cpus;
	*ret_kinds = kinds;
}

static int init_steps(struct probes *p, const struct probes_opts *o)
{
	int err;

	memset(p, 0, sizeof(*p));
	p->cgroup_fd = -1;
	p->on_event = o->on_event;
	p->ctx = o->ctx;
	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0)
		return fail(p, p->ncpus ? p->ncpus : -EINVAL, "counting CPUs");
	err = check_kernel(p, o);
	if (err)
		return err;
	if (o->cgroup_root)
		snprintf(p->cgroup_path, sizeof(p->cgroup_path), "%s", o->cgroup_root);
	else if ((err = probes_find_cgroup2(p->cgroup_path, sizeof(p->cgroup_path))) < 0)
		return fail(p, err, "finding the cgroup2 mount");
	p->cgroup_fd = open(p->cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->cgroup_fd < 0)
		return fail(p, -errno, "opening the cgroup2 root");

	err = load(p, o);
	if (!err)
		err = attach_programs(p);
	if (err)
		return err;

	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), on_sample, p, NULL);
	if (!p->rb)
		return fail(p, -errno, "mapping the ring buffer");
	err = sample_clock(p, &p->clk0);
	if (err)
		return fail(p, err, "sampling the kernel's clock");
	p->clk = p->clk0;
	err = map_conn_rings(p);
	if (!err)
		err = setup_folding(p, o->flood_threshold);
	return err;
}

int probes_init(struct probes *p, const struct probes_opts *o, char **ret_error)
{
	int err = init_steps(p, o);

	if (err < 0) {
		*ret_error = p->error;
		p->error = NULL;
	}
	return err;
}

void probes_fini(struct probes *p)
{
	free(p->error);
	p->error = NULL;
	ring_buffer__free(p->rb);
	p->rb = NULL;
	if (p->conn_ring)
		munmap(p->conn_ring, p->conn_ring_len);
	if (p->conn_ctl)
		munmap(p->conn_ctl, p->conn_ctl_len);
	p->conn_ring = NULL;
	p->conn_ctl = NULL;
	free(p->fold_seen);
	p->fold_seen = NULL;
	while (p->n_links)
		bpf_link__destroy(p->links[--p->n_links]);
	free(p->links);
	p->links = NULL;
	netspy_bpf__destroy(p->skel);
	p->skel = NULL;
	if (p->cgroup_fd > 0) /* 0 in a zeroed struct: never ours */
		close(p->cgroup_fd);
	p->cgroup_fd = -1;
	btf__free(p->btf);
	p->btf = NULL;
}

int probes_fd(const struct probes *p)
{
	return ring_buffer__epoll_fd(p->rb);
}

int probes_drain(struct probes *p)
{
	int n = p->rb ? ring_buffer__consume(p->rb) : 0;

	if (n < 0)
		return n;
	if (p->conn_ring) {
		p->clk_fresh = false;
		n += drain_conn_rings(p);
	}
	return n;
}

int probes_counters(const struct probes *p, uint64_t out[NETSPY_CNT_MAX])
{
	uint64_t vals[p->ncpus];
	int fd = bpf_map__fd(p->skel->maps.counters);

	for (uint32_t k = 0; k < NETSPY_CNT_MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, vals))
			return -errno;
		for (int c = 0; c < p->ncpus; c++)
			out[k] += vals[c];
	}
	return 0;
}

void probes_release_btf(struct probes *p)
{
	btf__free(p->btf);
	p->btf = NULL;
}

const struct btf *probes_btf(const struct probes *p)
{
	return p->btf;
}
