/* A test and benchmark client: subscribes to netspyd's live events (optionally only those of
 * some process names), counts what it receives and the loss notices, and prints the counts.
 *
 *   subscriber SOCKET [--comm NAME]... [--never-read] [--quiet-ms N] [--max-seconds N]
 *
 * Prints "ready" once the daemon has processed the subscription. SIGTERM, SIGINT or SIGUSR1 start
 * the drain: it keeps reading until nothing arrived for --quiet-ms (default 1500: loss notices
 * come once a second), then prints
 *   events=N kernel_loss=N client_loss=N lost_stats=N daemon_gone=0|1
 * where kernel_loss sums the kernel Loss notices received, lost_stats is the growth of the
 * daemon's events_lost between "ready" and the end, and daemon_gone says the daemon went away.
 * --never-read subscribes, prints "ready" and then never reads again (a stuck client). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "core/client.h"

#define MAX_COMMS 8

struct counts {
	uint64_t events, kernel_loss, client_loss;
	bool gone;
};

static volatile sig_atomic_t draining;

static void on_signal(int sig)
{
	(void)sig;
	draining = 1;
}

static void count(struct counts *n, const Netspy__V1__ServerMessage *m)
{
	if (m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS)
		n->events += m->events->n_events;
	else if (m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_LOSS &&
		 m->loss->source == NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_KERNEL)
		n->kernel_loss += m->loss->count;
	else if (m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_LOSS)
		n->client_loss += m->loss->count;
}

/* Reads and counts until a Stats message arrives; its events_lost goes to *ret_lost. */
static int stats_round_trip(struct netspy_client *c, struct counts *n, uint64_t *ret_lost)
{
	int r = netspy_client_request_stats(c);

	while (r >= 0) {
		Netspy__V1__ServerMessage *m = NULL;

		r = netspy_client_next(c, 10000, &m);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			break;
		if (m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_STATS) {
			*ret_lost = m->stats->events_lost;
			netspy__v1__server_message__free_unpacked(m, NULL);
			return 0;
		}
		count(n, m);
		netspy__v1__server_message__free_unpacked(m, NULL);
	}
	return r;
}

static void read_until_quiet(struct netspy_client *c, struct counts *n, int quiet_ms,
			     int64_t deadline)
{
	int64_t last = clock_ms(CLOCK_MONOTONIC);

	for (;;) {
		Netspy__V1__ServerMessage *m = NULL;
		int r = netspy_client_next(c, 100, &m);

		if (r < 0 && r != -EINTR) {
			n->gone = true;
			return;
		}
		if (r == 1) {
			count(n, m);
			netspy__v1__server_message__free_unpacked(m, NULL);
			last = clock_ms(CLOCK_MONOTONIC);
		}
		if (clock_ms(CLOCK_MONOTONIC) >= deadline ||
		    (draining && clock_ms(CLOCK_MONOTONIC) - last >= quiet_ms))
			return;
	}
}

int main(int argc, char **argv)
{
	const char *comms[MAX_COMMS];
	struct netspy_subscription sub = { .live = true, .comms = comms };
	struct netspy_client c;
	struct counts n = { 0 };
	uint64_t lost0 = 0, lost1 = 0;
	int quiet_ms = 1500, max_s = 600, never_read = 0, r;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--comm") && i + 1 < argc && sub.n_comms < MAX_COMMS)
			comms[sub.n_comms++] = argv[++i];
		else if (!strcmp(argv[i], "--quiet-ms") && i + 1 < argc)
			quiet_ms = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--max-seconds") && i + 1 < argc)
			max_s = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--never-read"))
			never_read = 1;
		else
			argc = 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: subscriber SOCKET [--comm NAME]... [--never-read] "
				"[--quiet-ms N] [--max-seconds N]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = netspy_client_connect(&c, argv[1], "subscriber", 5000);
	if (r == 0)
		r = netspy_client_subscribe(&c, &sub);
	if (r == 0)
		r = stats_round_trip(&c, &n, &lost0);
	if (r < 0) {
		fprintf(stderr, "subscriber: %s\n", c.error[0] ? c.error : strerror(-r));
		netspy_client_close(&c);
		return 1;
	}
	printf("ready\n");
	if (never_read) {
		while (!draining)
			pause();
		netspy_client_close(&c);
		return 0;
	}
	read_until_quiet(&c, &n, quiet_ms, clock_ms(CLOCK_MONOTONIC) + (int64_t)max_s * 1000);
	if (!n.gone && stats_round_trip(&c, &n, &lost1) < 0)
		n.gone = true;
	printf("events=%" PRIu64 " kernel_loss=%" PRIu64 " client_loss=%" PRIu64
	       " lost_stats=%" PRIu64 " daemon_gone=%d\n",
	       n.events, n.kernel_loss, n.client_loss, n.gone ? 0 : lost1 - lost0, n.gone);
	netspy_client_close(&c);
	return 0;
}
