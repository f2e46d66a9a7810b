/* A benchmark and test workload: one system call in a tight loop for a set time, under a chosen
 * process name (its comm), so that its events can be told from everyone else's.
 *
 *   storm connect SECONDS [COMM]   connect() a single UDP socket to 127.0.0.1:9 again and again
 *   storm connect6 SECONDS [COMM]  the same on IPv6 (::1)
 *   storm getppid SECONDS [COMM]   getppid(), a syscall netspy does not trace (the tax on others)
 *   storm flood SECONDS [COMM [PORT]]  sendto() a 16-byte datagram from an unconnected UDP
 *                                  socket to 127.0.0.1:PORT (default 9), where nothing listens
 *                                  (a NO_SOCKET drop each)
 *   storm spray SECONDS [COMM]     the same to every port from 1024 to 65535 in turn, for a
 *                                  network namespace where nothing listens: drops that all
 *                                  differ (a NO_SOCKET drop each; no two alike within 64,512)
 *   storm tcpshort SECONDS [COMM]  short TCP connections on loopback: connect to a listener of
 *                                  its own, accept, close both
 *   storm bulk SECONDS [COMM [PORT]]  a loopback TCP bulk transfer: one connection (to a
 *                                  listener of its own on PORT, default any free port), 64 KiB
 *                                  writes, a second thread reads; ops are bytes
 *   storm rstflood SECONDS [COMM [PORT]]  one TCP socket, bound to a local port of its own,
 *                                  connects to 127.0.0.1:PORT (default 9), where nothing listens,
 *                                  again and again: each connect receives a reset (refused);
 *                                  ops are refused connects
 *   storm dns SECONDS [COMM]       DNS queries over UDP to a responder thread of its own on
 *                                  127.0.0.153:53 (root), one at a time, each answered (A
 *                                  record); ops are answered queries; "sent=" queries sent
 *
 * Prints "ops=N ns=T rate=R cpu_ns=C cpu_rate=CR" once done: R per second of wall-clock time, CR
 * per second of this process's own CPU time (user + system), which time slices lost to other
 * processes on a busy machine do not dilute. Connects to loopback only. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
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

enum { M_GETPPID, M_CONNECT, M_FLOOD, M_TCPSHORT, M_BULK, M_DNS, M_RSTFLOOD, M_SPRAY };

static volatile int stop;
static int listen_fd = -1, bulk_rd = -1, dns_srv = -1;
static uint16_t listen_port; /* bulk: the listener's port, 0: any */
static uint64_t dns_sent;

static struct sockaddr_in lo4(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static void *bulk_reader(void *arg)
{
	static char buf[1 << 16];

	(void)arg;
	while (read(bulk_rd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

/* The DNS responder: every query is answered with its question and one A record. */
static void *dns_responder(void *arg)
{
	uint8_t buf[512];

	(void)arg;
	for (;;) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		ssize_t n = recvfrom(dns_srv, buf, sizeof(buf) - 16, 0, (struct sockaddr *)&peer, &pl);
		static const uint8_t a[16] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 11 };

		if (n < 12)
			continue;
		buf[2] |= 0x80;
		buf[3] = 0x80;
		buf[7] = 1;
		memcpy(buf + n, a, sizeof(a));
		sendto(dns_srv, buf, (size_t)n + sizeof(a), 0, (struct sockaddr *)&peer, pl);
	}
	return NULL;
}

/* One DNS query for "qN.bench.test" and its answer (1 s timeout). Returns whether answered. */
static int dns_query(int fd, uint16_t id)
{
	uint8_t q[64], r[512];
	int n = 12;

	memset(q, 0, 12);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[2] = 1;
	q[5] = 1;
	n += snprintf((char *)q + n + 1, 16, "q%u", id) + 1;
	q[12] = (uint8_t)(n - 13);
	memcpy(q + n, "\5bench\4test\0\0\1\0\1", 16);
	n += 16;
	dns_sent++;
	if (send(fd, q, (size_t)n, 0) != n)
		return 0;
	return recv(fd, r, sizeof(r), 0) > 12 && r[0] == q[0] && r[1] == q[1];
}

static int setup(int mode, int *fd)
{
	struct sockaddr_in a = lo4("127.0.0.1", 0);
	socklen_t al = sizeof(a);
	struct timeval tv = { 1, 0 };
	pthread_t th;
	int one = 1, p[2];

	switch (mode) {
	case M_FLOOD:
		*fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		return *fd < 0 ? -1 : 0;
	case M_TCPSHORT:
	case M_BULK:
		a.sin_port = htons(listen_port);
		listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(listen_fd, 128) < 0 || getsockname(listen_fd, (struct sockaddr *)&a, &al))
			return -1;
		*fd = -1;
		if (mode == M_TCPSHORT)
			return 0;
		p[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (p[0] < 0 || connect(p[0], (struct sockaddr *)&a, sizeof(a)) < 0)
			return -1;
		bulk_rd = accept(listen_fd, NULL, NULL);
		*fd = p[0];
		return bulk_rd < 0 || pthread_create(&th, NULL, bulk_reader, NULL) ? -1 : 0;
	case M_RSTFLOOD:
		/* A port of its own, bound by number: a failed connect then keeps it (and the
		 * socket its tuple), so every reset it receives is the same socket's. */
		*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(*fd, (struct sockaddr *)&a, &al) < 0)
			return -1;
		close(*fd);
		*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (*fd < 0)
			return -1;
		setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		return bind(*fd, (struct sockaddr *)&a, sizeof(a));
	case M_DNS:
		a = lo4("127.0.0.153", 53);
		dns_srv = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (dns_srv < 0 || bind(dns_srv, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    pthread_create(&th, NULL, dns_responder, NULL))
			return -1;
		*fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (*fd < 0 || connect(*fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return -1;
		return setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	default:
		return 0;
	}
}

static uint64_t one_op(int mode, int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	static char buf[1 << 16];
	static uint16_t id;
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int c, s;

	switch (mode) {
	case M_FLOOD:
		(void)sendto(fd, buf, 16, 0, (const struct sockaddr *)ss, len);
		return 1;
	case M_SPRAY: {
		static uint32_t next;
		struct sockaddr_in to = *(const struct sockaddr_in *)ss;

		to.sin_port = htons((uint16_t)(1024 + next++ % (65536 - 1024)));
		(void)sendto(fd, buf, 16, 0, (const struct sockaddr *)&to, sizeof(to));
		return 1;
	}
	case M_TCPSHORT:
		getsockname(listen_fd, (struct sockaddr *)&a, &al);
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0)
			return 0;
		if (connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		    (s = accept(listen_fd, NULL, NULL)) >= 0)
			close(s);
		close(c);
		return 1;
	case M_BULK: {
		ssize_t n = write(fd, buf, sizeof(buf));

		return n > 0 ? (uint64_t)n : 0;
	}
	case M_DNS:
		return (uint64_t)dns_query(fd, ++id);
	case M_RSTFLOOD:
		return connect(fd, (const struct sockaddr *)ss, len) < 0 && errno == ECONNREFUSED;
	default:
		return 0;
	}
}

/* The clock is read once per 1024 calls so that it costs nothing measurable. */
static uint64_t loop(int mode, int fd, const struct sockaddr_storage *ss, socklen_t len,
		     uint64_t end_ns)
{
	uint64_t n = 0;

	if (mode > M_CONNECT) {
		/* Slower operations: the clock every 16. */
		do {
			for (int i = 0; i < 16; i++)
				n += one_op(mode, fd, ss, len);
		} while (clock_ns(CLOCK_MONOTONIC) < end_ns);
		return n;
	}
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
		fprintf(stderr, "usage: storm connect|connect6|getppid|flood|spray|rstflood|tcpshort|bulk|dns "
				"SECONDS [COMM [PORT]]\n");
		return 2;
	}
	/* Named first: the workloads' sockets are owned under this name. */
	if (argc >= 4 && prctl(PR_SET_NAME, argv[3], 0, 0, 0) < 0) {
		perror("storm: naming the process");
		return 1;
	}
	if (!strcmp(argv[1], "connect") || !strcmp(argv[1], "connect6")) {
		mode = M_CONNECT;
		fd = open_target(argv[1][7] == '6', &ss, &len);
		if (fd < 0) {
			perror("storm: socket");
			return 1;
		}
	} else if (!strcmp(argv[1], "flood") || !strcmp(argv[1], "spray")) {
		mode = !strcmp(argv[1], "flood") ? M_FLOOD : M_SPRAY;
		fd = open_target(0, &ss, &len);
		if (fd < 0) {
			perror("storm: socket");
			return 1;
		}
		if (argc == 5)
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)atoi(argv[4]));
	} else if (!strcmp(argv[1], "rstflood")) {
		mode = M_RSTFLOOD;
		close(open_target(0, &ss, &len)); /* the address only */
		if (argc == 5)
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)atoi(argv[4]));
		if (setup(mode, &fd) < 0) {
			perror("storm: setting up the workload");
			return 1;
		}
	} else if (!strcmp(argv[1], "getppid")) {
		mode = M_GETPPID;
	} else if (!strcmp(argv[1], "tcpshort") || !strcmp(argv[1], "bulk") ||
		   !strcmp(argv[1], "dns")) {
		mode = !strcmp(argv[1], "tcpshort") ? M_TCPSHORT : !strcmp(argv[1], "bulk") ? M_BULK : M_DNS;
		if (mode == M_BULK && argc == 5)
			listen_port = (uint16_t)atoi(argv[4]);
		close(open_target(0, &ss, &len)); /* the address only */
		if (setup(mode, &fd) < 0) {
			perror("storm: setting up the workload");
			return 1;
		}
	} else {
		fprintf(stderr, "storm: unknown workload '%s'\n", argv[1]);
		return 2;
	}
	cpu0 = cpu_ns();
	start = clock_ns(CLOCK_MONOTONIC);
	n = loop(mode, fd, &ss, len, start + (uint64_t)(secs * 1e9));
	start = clock_ns(CLOCK_MONOTONIC) - start;
	cpu0 = cpu_ns() - cpu0;
	printf("ops=%" PRIu64 " ns=%" PRIu64 " rate=%.0f cpu_ns=%" PRIu64 " cpu_rate=%.0f", n,
	       start, n * 1e9 / (double)start, cpu0, n * 1e9 / (double)(cpu0 ? cpu0 : 1));
	if (mode == M_DNS)
		printf(" sent=%" PRIu64, dns_sent);
	printf("\n");
	return 0;
}
