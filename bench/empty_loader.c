/* Loads bench/empty_hooks.bpf.c's empty programs: kfree_skb everywhere, connect4 on the cgroup2
 * directory given (the cgroup2 root for the benchmarks); with "fib" after it, the empty
 * fib_table_lookup program alone instead. Prints "ready" once attached and exits on SIGTERM or
 * SIGINT. A benchmark baseline, not part of netspy. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "empty_hooks.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct empty_hooks_bpf *skel;
	struct bpf_link *l1 = NULL, *l2 = NULL;
	int cg, r = 1;

	bool fib = argc == 3 && !strcmp(argv[2], "fib");

	if (argc != 2 && !fib) {
		fprintf(stderr, "usage: empty_loader CGROUP2_DIR [fib]\n");
		return 2;
	}
	cg = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		fprintf(stderr, "empty_loader: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	skel = empty_hooks_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "empty_loader: loading: %s\n", strerror(errno));
		return 1;
	}
	if (fib) {
		l1 = bpf_program__attach(skel->progs.empty_fib_table_lookup);
		l2 = l1;
	} else {
		l1 = bpf_program__attach(skel->progs.empty_kfree_skb);
		l2 = bpf_program__attach_cgroup(skel->progs.empty_connect4, cg);
	}
	if (!l1 || !l2) {
		fprintf(stderr, "empty_loader: attaching: %s\n", strerror(errno));
		goto out;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	r = 0;
out:
	if (l2 != l1)
		bpf_link__destroy(l2);
	bpf_link__destroy(l1);
	empty_hooks_bpf__destroy(skel);
	close(cg);
	return r;
}
