/* Loading and attaching netspy's eBPF programs: cgroup sock_addr hooks on the cgroup2 root,
 * tp_btf/inet_sock_set_state and tp_btf/kfree_skb; one ring buffer drained in batches. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "probes.h"
#include "netspy.skel.h"

int probes_find_cgroup2(char *buf, size_t len)
{
	char line[4096], best[PATH_MAX] = "";
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	/* mountinfo: id parent major:minor root mountpoint opts... - fstype source superopts */
	while (fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mnt[PATH_MAX], *dash;
		char fstype[64];

		dash = strstr(line, " - ");
		if (!dash || sscanf(dash + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*u %*u %*s %4095s %4095s", root, mnt) != 2)
			continue;
		if (strcmp(root, "/"))
			continue;
		/* Prefer the conventional places; otherwise the first one found. */
		if (!best[0] || !strcmp(mnt, "/sys/fs/cgroup") || !strcmp(mnt, "/sys/fs/cgroup/unified"))
			snprintf(best, sizeof(best), "%s", mnt);
	}
	fclose(f);
	if (!best[0])
		return -ENOENT;
	if ((size_t)snprintf(buf, len, "%s", best) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct probes *p = ctx;

	if (size < sizeof(struct netspy_event))
		return 0;
	p->on_event(p->ctx, data);
	return 0;
}

/* The kfree_skb tracepoint gained the receiving socket as a fourth argument in Linux 6.12. */
static bool kfree_skb_has_rx_sk(const struct btf *btf)
{
	int id = btf__find_by_name_kind(btf, "btf_trace_kfree_skb", BTF_KIND_TYPEDEF);
	const struct btf_type *t;

	if (id < 0)
		return false;
	t = btf__type_by_id(btf, id);
	t = btf__type_by_id(btf, t->type); /* pointer */
	if (!t || !btf_is_ptr(t))
		return false;
	t = btf__type_by_id(btf, t->type); /* func proto: (void *, skb, location, reason[, rx_sk]) */
	return t && btf_is_func_proto(t) && btf_vlen(t) >= 5;
}

static int fail(struct probes *p, int err, const char *what)
{
	snprintf(p->error, sizeof(p->error), "%s: %s", what, strerror(-err));
	return err;
}

static int attach(struct probes *p, struct bpf_program *prog, bool cgroup)
{
	struct bpf_link *l;
	int err;

	if (p->n_links == PROBES_MAX_LINKS)
		return fail(p, -E2BIG, "too many links");
	l = cgroup ? bpf_program__attach_cgroup(prog, p->cgroup_fd) : bpf_program__attach(prog);
	err = libbpf_get_error(l);
	if (err) {
		char what[128];

		snprintf(what, sizeof(what), "attaching %s", bpf_program__name(prog));
		return fail(p, err, what);
	}
	p->links[p->n_links++] = l;
	return 0;
}

static int load(struct probes *p, const struct probes_opts *o)
{
	int err;

	p->skel = netspy_bpf__open();
	if (!p->skel)
		return fail(p, -errno, "opening the BPF object");
	p->skel->rodata->wakeup_bytes = o->wakeup_bytes;
	p->skel->rodata->kfree_skb_has_rx_sk = kfree_skb_has_rx_sk(p->btf);
	p->skel->rodata->ignore_tgid = (uint32_t)getpid();
	err = bpf_map__set_max_entries(p->skel->maps.events, (uint32_t)o->ringbuf_bytes);
	if (err)
		return fail(p, err, "sizing the ring buffer");
	if (!o->drops)
		bpf_program__set_autoload(p->skel->progs.tp_kfree_skb, false);
	err = netspy_bpf__load(p->skel);
	if (err)
		return fail(p, err, "loading the BPF programs (is this kernel built with BTF?)");
	return 0;
}

int probes_init(struct probes *p, const struct probes_opts *o)
{
	int err;

	memset(p, 0, sizeof(*p));
	p->cgroup_fd = -1;
	p->on_event = o->on_event;
	p->ctx = o->ctx;
	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0)
		return fail(p, p->ncpus ? p->ncpus : -EINVAL, "counting CPUs");
	p->btf = btf__load_vmlinux_btf();
	err = libbpf_get_error(p->btf);
	if (err) {
		p->btf = NULL;
		return fail(p, err, "reading the kernel's BTF (/sys/kernel/btf/vmlinux)");
	}
	if (o->cgroup_root)
		snprintf(p->cgroup_path, sizeof(p->cgroup_path), "%s", o->cgroup_root);
	else if ((err = probes_find_cgroup2(p->cgroup_path, sizeof(p->cgroup_path))) < 0)
		return fail(p, err, "finding the cgroup2 mount");
	p->cgroup_fd = open(p->cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->cgroup_fd < 0)
		return fail(p, -errno, "opening the cgroup2 root");

	err = load(p, o);
	if (err)
		return err;
	if ((err = attach(p, p->skel->progs.cgroup_connect4, true)) ||
	    (err = attach(p, p->skel->progs.cgroup_connect6, true)) ||
	    (err = attach(p, p->skel->progs.cgroup_post_bind4, true)) ||
	    (err = attach(p, p->skel->progs.cgroup_post_bind6, true)) ||
	    (err = attach(p, p->skel->progs.tp_inet_sock_set_state, false)))
		return err;
	if (o->drops && (err = attach(p, p->skel->progs.tp_kfree_skb, false)))
		return err;

	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), on_sample, p, NULL);
	if (!p->rb)
		return fail(p, -errno, "mapping the ring buffer");
	return 0;
}

void probes_fini(struct probes *p)
{
	ring_buffer__free(p->rb);
	p->rb = NULL;
	while (p->n_links)
		bpf_link__destroy(p->links[--p->n_links]);
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
	return ring_buffer__consume(p->rb);
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
