/* A benchmark and test workload: one system call in a tight loop for a set time, under a chosen
 * process name (its comm), so that its events can be told from everyone else's.
 *
 *   storm connect SECONDS [COMM]   connect() a single UDP socket to 127.0.0.1:9 again and again
 *   storm connect6 SECONDS [COMM]  the same on IPv6 (::1)
 *   storm getppid SECONDS [COMM]   getppid(), a syscall netspy does not trace (the tax on others)
 *   storm flood SECONDS [COMM [PORT]]  unconnected UDP sendto() of one byte to 127.0.0.1:PORT
 *                                  (default 9; a closed port: every datagram is a NO_SOCKET drop)
 *
 * Prints "ops=N ns=T rate=R cpu_ns=C cpu_rate=CR" once done: R per second of wall-clock time, CR
 * per second of this process's own CPU time (user + system), which time slices lost to other
 * processes on a busy machine do not dilute. Connects to loopback only. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "clock.h"

static int open_target(int v6, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (v6) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(9);
		a6->sin6_addr = in6addr_loopback;
		*len = sizeof(*a6);
	} else {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(9);
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*a4);
	}
	return socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

/* The clock is read once per 1024 calls so that it costs nothing measurable. */
static uint64_t loop(int mode, int fd, const struct sockaddr_storage *ss, socklen_t len,
		     uint64_t end_ns)
{
	uint64_t n = 0;

	do {
		for (int i = 0; i < 1024; i++) {
			if (mode == 2)
				(void)sendto(fd, "x", 1, 0, (const struct sockaddr *)ss, len);
			else if (mode)
				(void)connect(fd, (const struct sockaddr *)ss, len);
			else
				(void)syscall(SYS_getppid); /* not the cached libc wrapper */
		}
		n += 1024;
	} while (clock_ns(CLOCK_MONOTONIC) < end_ns);
	return n;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int mode, fd = -1;
	double secs;
	uint64_t start, cpu0, n;

	if (argc < 3 || argc > 5 || (secs = atof(argv[2])) <= 0) {
		fprintf(stderr,
			"usage: storm connect|connect6|getppid|flood SECONDS [COMM [PORT]]\n");
		return 2;
	}
	if (!strcmp(argv[1], "connect") || !strcmp(argv[1], "connect6")) {
		mode = 1;
		fd = open_target(argv[1][7] == '6', &ss, &len);
		if (fd < 0) {
			perror("storm: socket");
			return 1;
		}
	} else if (!strcmp(argv[1], "flood")) {
		mode = 2;
		fd = open_target(0, &ss, &len);
		if (fd < 0) {
			perror("storm: socket");
			return 1;
		}
		if (argc == 5)
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)atoi(argv[4]));
	} else if (!strcmp(argv[1], "getppid")) {
		mode = 0;
	} else {
		fprintf(stderr, "storm: unknown workload '%s'\n", argv[1]);
		return 2;
	}
	if (argc >= 4 && prctl(PR_SET_NAME, argv[3], 0, 0, 0) < 0) {
		perror("storm: naming the process");
		return 1;
	}
	cpu0 = cpu_ns();
	start = clock_ns(CLOCK_MONOTONIC);
	n = loop(mode, fd, &ss, len, start + (uint64_t)(secs * 1e9));
	start = clock_ns(CLOCK_MONOTONIC) - start;
	cpu0 = cpu_ns() - cpu0;
	printf("ops=%" PRIu64 " ns=%" PRIu64 " rate=%.0f cpu_ns=%" PRIu64 " cpu_rate=%.0f\n", n,
	       start, n * 1e9 / (double)start, cpu0, n * 1e9 / (double)(cpu0 ? cpu0 : 1));
	return 0;
}
