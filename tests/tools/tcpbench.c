/* Loopback TCP workloads for bench/lifecycle.sh: short-lived connections (connect, accept, close
 * in a loop; the server closes first, so that TIME_WAIT stays on its side and the client's
 * ephemeral ports never run out) and one bulk transfer. Prints "ops=N rate=R cpu_rate=C": ops per
 * wall-clock second and per second of this process's CPU time (both threads).
 * Usage: tcpbench short|bulk SECONDS */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int lfd;
static int bulk;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *server(void *arg)
{
	static char buf[1 << 16];

	(void)arg;
	for (;;) {
		int c = accept(lfd, NULL, NULL);

		if (c < 0)
			return NULL;
		if (bulk)
			while (read(c, buf, sizeof(buf)) > 0)
				;
		close(c);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	static char buf[1 << 16];
	double secs, t0, c0, end;
	uint64_t ops = 0;
	pthread_t th;
	int one = 1;

	if (argc != 3 || (strcmp(argv[1], "short") && strcmp(argv[1], "bulk"))) {
		fprintf(stderr, "usage: tcpbench short|bulk SECONDS\n");
		return 1;
	}
	bulk = !strcmp(argv[1], "bulk");
	secs = atof(argv[2]);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len)) {
		perror("tcpbench: listen");
		return 1;
	}
	pthread_create(&th, NULL, server, NULL);
	t0 = now_s();
	c0 = cpu_s();
	end = t0 + secs;
	if (bulk) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			perror("tcpbench: connect");
			return 1;
		}
		while (now_s() < end) {
			ssize_t n = write(fd, buf, sizeof(buf));

			if (n <= 0)
				break;
			ops += (uint64_t)n;
		}
		close(fd);
	} else {
		while (now_s() < end) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);

			if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
				perror("tcpbench: connect");
				return 1;
			}
			while (read(fd, buf, sizeof(buf)) > 0) /* the server's FIN */
				;
			close(fd);
			ops++;
		}
	}
	t0 = now_s() - t0;
	c0 = cpu_s() - c0;
	printf("ops=%llu rate=%.0f cpu_rate=%.0f\n", (unsigned long long)ops, (double)ops / t0,
	       (double)ops / (c0 > 0 ? c0 : 1e-9));
	return 0;
}
