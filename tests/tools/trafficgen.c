/* Makes known network traffic for the tests, on loopback or in test namespaces only. Copied under
 * a unique name per test so that its comm identifies the events it causes.
 *
 *   trafficgen tcp ADDR PORT COUNT         blocking TCP connects; prints "refused=N ok=N ..."
 *   trafficgen tcp-nb ADDR PORT COUNT      the same with non-blocking connects + poll
 *   trafficgen tcp-local ADDR COUNT        listens on ADDR (port chosen by the kernel), connects
 *                                          COUNT times and accepts; prints "port=P ok=N"
 *   trafficgen udp ADDR PORT COUNT [send]  UDP connects (each on a new socket), optionally
 *                                          sending one datagram after each
 *   trafficgen udp-storm ADDR PORT SECONDS connect() in a tight loop on one UDP socket; prints
 *                                          "connects=N"
 *   trafficgen hold ADDR PORT SECONDS      connect once and keep the socket open
 *   trafficgen listen ADDR PORT SECONDS    a TCP listener that never accepts, for SECONDS
 *   trafficgen tcp-giveup ADDR PORT COUNT MS
 *                                          non-blocking TCP connects, each abandoned (closed) after
 *                                          MS without an answer, as an application's own timeout;
 *                                          prints "ok=N gaveup=N other=N"
 *   trafficgen happy-eyeballs ADDR6 ADDR4 HOLD_MS
 *                                          a server on ADDR6 that cannot take connections (its
 *                                          accept queue held full by a forked "nsg-filler") and
 *                                          one on ADDR4, same port; then a client as RFC 8305
 *                                          says: IPv6 first, IPv4 250 ms later; once IPv4 is
 *                                          established the IPv6 attempt is closed HOLD_MS later;
 *                                          prints "port=P winner=IPv4"
 *   trafficgen serve-filtered ADDR COUNT   a server: listens on ADDR (port chosen by the kernel),
 *                                          and a forked client (comm "nsg-client") connects and
 *                                          writes COUNT times; the accepted socket carries a
 *                                          filter that drops every packet (drop reason
 *                                          SOCKET_FILTER on the server's socket); prints "port=P"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <linux/filter.h>

#include "clock.h"

static socklen_t make_addr(const char *host, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		return sizeof(*a4);
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		return sizeof(*a6);
	}
	fprintf(stderr, "trafficgen: not an address: %s\n", host);
	exit(2);
}

static int tcp_connects(const char *host, int port, int count, int nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(host, port, &ss);
	int ok = 0, refused = 0, other = 0;

	for (int i = 0; i < count; i++) {
		int fd = socket(ss.ss_family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
		int r = connect(fd, (struct sockaddr *)&ss, len), err = r < 0 ? errno : 0;

		if (nonblock && err == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			socklen_t el = sizeof(err);

			poll(&p, 1, 5000);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		}
		if (!err)
			ok++;
		else if (err == ECONNREFUSED)
			refused++;
		else
			other++;
		close(fd);
	}
	printf("ok=%d refused=%d other=%d\n", ok, refused, other);
	return 0;
}

/* A TCP listener on HOST, port chosen by the kernel; its address goes to ss and len, its port
 * to port. */
static int listen_local(const char *host, int backlog, struct sockaddr_storage *ss, socklen_t *len,
			int *port)
{
	int l;

	*len = make_addr(host, 0, ss);
	l = socket(ss->ss_family, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)ss, *len) < 0 || listen(l, backlog) < 0 ||
	    getsockname(l, (struct sockaddr *)ss, len) < 0) {
		perror("trafficgen: listen");
		return -1;
	}
	*port = ntohs(ss->ss_family == AF_INET ? ((struct sockaddr_in *)ss)->sin_port
					       : ((struct sockaddr_in6 *)ss)->sin6_port);
	return l;
}

static int tcp_local(const char *host, int count)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int port, ok = 0, l = listen_local(host, count + 8, &ss, &len, &port);

	if (l < 0)
		return 1;
	for (int i = 0; i < count; i++) {
		int fd = socket(ss.ss_family, SOCK_STREAM, 0), a;

		if (connect(fd, (struct sockaddr *)&ss, len) == 0)
			ok++;
		a = accept(l, NULL, NULL);
		if (a >= 0)
			close(a);
		close(fd);
	}
	close(l);
	printf("port=%d ok=%d\n", port, ok);
	return 0;
}

static int udp_connects(const char *host, int port, int count, int send_one)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(host, port, &ss);
	int ok = 0;

	for (int i = 0; i < count; i++) {
		int fd = socket(ss.ss_family, SOCK_DGRAM, 0);

		if (connect(fd, (struct sockaddr *)&ss, len) == 0)
			ok++;
		if (send_one)
			(void)!send(fd, "x", 1, 0);
		close(fd);
	}
	printf("ok=%d\n", ok);
	return 0;
}

static int udp_storm(const char *host, int port, double seconds)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(host, port, &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	unsigned long n = 0;
	double end = clock_sec(CLOCK_MONOTONIC) + seconds;

	while (clock_sec(CLOCK_MONOTONIC) < end) {
		for (int i = 0; i < 1000; i++)
			connect(fd, (struct sockaddr *)&ss, len);
		n += 1000;
	}
	printf("connects=%lu\n", n);
	return 0;
}

static int hold(const char *host, int port, int seconds)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(host, port, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);

	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		perror("trafficgen: connect");
	sleep((unsigned)seconds);
	close(fd);
	return 0;
}

static int serve_filtered(const char *host, int count)
{
	struct sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { .len = 1, .filter = &drop_all };
	struct sockaddr_storage ss;
	socklen_t len;
	int a, port, status, l = listen_local(host, 8, &ss, &len, &port);
	pid_t client;

	if (l < 0)
		return 1;
	client = fork();
	if (client == 0) {
		int fd = socket(ss.ss_family, SOCK_STREAM, 0);

		prctl(PR_SET_NAME, "nsg-client");
		if (connect(fd, (struct sockaddr *)&ss, len) < 0)
			_exit(1);
		usleep(200000); /* the server attaches its filter */
		for (int i = 0; i < count; i++) {
			if (write(fd, "x", 1) != 1)
				_exit(1);
			usleep(20000);
		}
		usleep(300000); /* a retransmission or two */
		_exit(0);
	}
	a = accept(l, NULL, NULL);
	if (a < 0 || setsockopt(a, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
		perror("trafficgen: accept/filter");
		return 1;
	}
	waitpid(client, &status, 0);
	close(a);
	close(l);
	printf("port=%d\n", port);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int listen_for(const char *host, int port, int seconds)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(host, port, &ss);
	int one = 1, l = socket(ss.ss_family, SOCK_STREAM, 0);

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&ss, len) < 0 || listen(l, 8) < 0) {
		perror("trafficgen: listen");
		return 1;
	}
	sleep((unsigned)seconds);
	close(l);
	return 0;
}

/* A non-blocking connect: 0 once established, else an errno (EINPROGRESS while under way). */
static int connect_nb(const struct sockaddr_storage *ss, socklen_t len, int *ret_fd)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);

	*ret_fd = fd;
	return connect(fd, (const struct sockaddr *)ss, len) < 0 ? errno : 0;
}

/* Waits up to ms for fd's connect: 0 established, ETIMEDOUT without an answer, or its error. */
static int wait_connect(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t el = sizeof(int);
	int err = 0;

	if (poll(&p, 1, ms) == 0)
		return ETIMEDOUT;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	return err;
}

static int tcp_giveup(const char *host, int port, int count, int ms)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(host, port, &ss);
	int ok = 0, gaveup = 0, other = 0;

	for (int i = 0; i < count; i++) {
		int fd, err = connect_nb(&ss, len, &fd);

		if (err == EINPROGRESS)
			err = wait_connect(fd, ms);
		if (!err)
			ok++;
		else if (err == ETIMEDOUT)
			gaveup++;
		else
			other++;
		close(fd);
	}
	printf("ok=%d gaveup=%d other=%d\n", ok, gaveup, other);
	return 0;
}

static int happy_eyeballs(const char *host6, const char *host4, int hold_ms)
{
	struct sockaddr_storage s6, s4;
	socklen_t l6, l4 = make_addr(host4, 0, &s4);
	int port, one = 1, l, fd6, fd4, err, status;
	pid_t filler;

	/* The IPv6 server: backlog 0 holds one connection, the filler's; later SYNs are dropped. */
	l = listen_local(host6, 0, &s6, &l6, &port);
	if (l < 0)
		return 1;
	filler = fork();
	if (filler == 0) {
		prctl(PR_SET_NAME, "nsg-filler");
		if (connect(socket(AF_INET6, SOCK_STREAM, 0), (struct sockaddr *)&s6, l6) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	usleep(100000);
	((struct sockaddr_in *)&s4)->sin_port = htons((uint16_t)port);
	int l4fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l4fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l4fd, (struct sockaddr *)&s4, l4) < 0 || listen(l4fd, 8) < 0) {
		perror("trafficgen: listen IPv4");
		kill(filler, SIGKILL);
		return 1;
	}
	err = connect_nb(&s6, l6, &fd6);
	if (err == EINPROGRESS)
		err = wait_connect(fd6, 250);
	if (err != ETIMEDOUT) {
		fprintf(stderr, "trafficgen: the IPv6 attempt did not wait (%s)\n", strerror(err));
		kill(filler, SIGKILL);
		return 1;
	}
	err = connect_nb(&s4, l4, &fd4);
	if (err == EINPROGRESS)
		err = wait_connect(fd4, 2000);
	usleep((useconds_t)hold_ms * 1000);
	close(fd6);
	close(fd4);
	close(l4fd);
	close(l);
	kill(filler, SIGKILL);
	waitpid(filler, &status, 0);
	printf("port=%d winner=%s\n", port, err ? "none" : "IPv4");
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "tcp"))
		return tcp_connects(argv[2], atoi(argv[3]), atoi(argv[4]), 0);
	if (argc == 5 && !strcmp(argv[1], "tcp-nb"))
		return tcp_connects(argv[2], atoi(argv[3]), atoi(argv[4]), 1);
	if (argc == 4 && !strcmp(argv[1], "tcp-local"))
		return tcp_local(argv[2], atoi(argv[3]));
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "udp"))
		return udp_connects(argv[2], atoi(argv[3]), atoi(argv[4]),
				    argc == 6 && !strcmp(argv[5], "send"));
	if (argc == 5 && !strcmp(argv[1], "udp-storm"))
		return udp_storm(argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "serve-filtered"))
		return serve_filtered(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "listen"))
		return listen_for(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "tcp-giveup"))
		return tcp_giveup(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	if (argc == 5 && !strcmp(argv[1], "happy-eyeballs"))
		return happy_eyeballs(argv[2], argv[3], atoi(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "hold"))
		return hold(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: see the comment at the top of tests/tools/trafficgen.c\n");
	return 2;
}
