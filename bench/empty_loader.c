/* Loads bench/empty_hooks.bpf.c's empty programs: kfree_skb everywhere, connect4 on the cgroup2
 * directory given (the cgroup2 root for the benchmarks); with "fib" after it, the empty
 * fib_table_lookup program alone instead; with "all", an empty program on every hook netspyd
 * attaches (the cgroup ones on that directory). Prints "ready" once attached and exits on SIGTERM
 * or SIGINT. A benchmark baseline, not part of netspy. */
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
	struct bpf_link *links[16] = { NULL };
	struct bpf_program *prog;
	int cg, r = 1, n = 0, i;
	bool fib = argc == 3 && !strcmp(argv[2], "fib");
	bool all = argc == 3 && !strcmp(argv[2], "all");

	if (argc != 2 && !fib && !all) {
		fprintf(stderr, "usage: empty_loader CGROUP2_DIR [fib|all]\n");
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
	bpf_object__for_each_program(prog, skel->obj) {
		bool tracing = bpf_program__type(prog) == BPF_PROG_TYPE_TRACING;
		bool wanted = all || (fib ? prog == skel->progs.empty_fib_table_lookup
					  : prog == skel->progs.empty_kfree_skb ||
						    prog == skel->progs.empty_connect4);

		if (!wanted)
			continue;
		links[n] = tracing ? bpf_program__attach(prog) : bpf_program__attach_cgroup(prog, cg);
		if (!links[n]) {
			fprintf(stderr, "empty_loader: attaching %s: %s\n", bpf_program__name(prog),
				strerror(errno));
			goto out;
		}
		n++;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	r = 0;
out:
	for (i = 0; i < n; i++)
		bpf_link__destroy(links[i]);
	empty_hooks_bpf__destroy(skel);
	close(cg);
	return r;
}
