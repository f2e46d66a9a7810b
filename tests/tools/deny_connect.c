/* Test helper: runs a command in a cgroup whose connect4/connect6 BPF programs refuse every
 * connect (connect() fails with EPERM), as a firewall or sandbox built on cgroup programs does.
 *
 *   deny_connect CGROUP_DIR COMMAND [ARG...]
 *
 * CGROUP_DIR (a new directory under the cgroup2 mount) is created, the refusing programs are
 * attached to it (BPF_F_ALLOW_MULTI, so programs of the ancestors still run after them), COMMAND
 * runs inside it, and everything is removed when it exits. Exit status: COMMAND's, or 125 when the
 * cgroup or the programs could not be set up. Root only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* r0 = 0; exit: the verdict "refuse". */
static int load_refusal(enum bpf_attach_type type)
{
	static const struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
	a.expected_attach_type = type;
	a.insns = (__u64)(unsigned long)prog;
	a.insn_cnt = sizeof(prog) / sizeof(prog[0]);
	a.license = (__u64)(unsigned long)"GPL";
	return sys_bpf(BPF_PROG_LOAD, &a);
}

static int attach(int prog, int cg, enum bpf_attach_type type, int cmd)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.target_fd = (__u32)cg;
	a.attach_bpf_fd = (__u32)prog;
	a.attach_type = type;
	if (cmd == BPF_PROG_ATTACH)
		a.attach_flags = BPF_F_ALLOW_MULTI;
	return sys_bpf(cmd, &a);
}

int main(int argc, char **argv)
{
	static const enum bpf_attach_type types[2] = { BPF_CGROUP_INET4_CONNECT,
						       BPF_CGROUP_INET6_CONNECT };
	int progs[2] = { -1, -1 }, cg, status = 0, ret = 125;
	char procs[4096];
	pid_t pid;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: deny_connect CGROUP_DIR COMMAND [ARG...]\n");
		return 125;
	}
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "deny_connect: mkdir %s: %s\n", argv[1], strerror(errno));
		return 125;
	}
	cg = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		fprintf(stderr, "deny_connect: open %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		progs[i] = load_refusal(types[i]);
		if (progs[i] < 0 || attach(progs[i], cg, types[i], BPF_PROG_ATTACH) < 0) {
			fprintf(stderr, "deny_connect: loading or attaching the refusal: %s\n",
				strerror(errno));
			goto out;
		}
	}
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", argv[1]);
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0) {
		f = fopen(procs, "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
			fprintf(stderr, "deny_connect: joining %s: %s\n", argv[1], strerror(errno));
			_exit(125);
		}
		execvp(argv[2], argv + 2);
		fprintf(stderr, "deny_connect: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
	for (int i = 0; i < 2; i++)
		if (progs[i] >= 0) {
			attach(progs[i], cg, types[i], BPF_PROG_DETACH);
			close(progs[i]);
		}
	if (cg >= 0)
		close(cg);
	rmdir(argv[1]);
	return ret;
}
