/* A deliberately odd netspyd client for the collector tests.
 *
 *   collector_peer SOCK garbage           valid length, junk payload: expect an error + close
 *   collector_peer SOCK oversized         announces a 16 MiB frame: expect a close
 *   collector_peer SOCK badversion        hello with protocol version 999
 *   collector_peer SOCK noread SECONDS    subscribes live with replay, then never reads
 *   collector_peer SOCK count COMM SECS   subscribes to COMM live, counts what arrives:
 *                                         prints "connect=N outcome=N drop=N kernel_lost=N
 *                                         client_lost=N"
 *   collector_peer SOCK dump SECS [comm NAME]... [drops]
 *                                         subscribes live (server-side filters: these process
 *                                         names, or drop events only) and prints each event as
 *                                         one JSON line, for SECS seconds or until SIGTERM
 * Output of the first three: "error=<code> closed=<0|1>".
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core/arena.h"
#include "core/client.h"
#include "core/format.h"

static int raw_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("collector_peer: connect");
		exit(2);
	}
	return fd;
}

/* Reads until EOF (or 5 s); reports the first Error code seen and whether the daemon closed. */
static int await_verdict(int fd)
{
	struct frame_reader r;
	int code = 0, closed = 0;
	time_t end = time(NULL) + 5;

	frame_reader_init(&r, NETSPY_MAX_SERVER_FRAME);
	while (time(NULL) < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		const uint8_t *f;
		size_t len;
		ssize_t n;

		if (poll(&p, 1, 500) <= 0)
			continue;
		n = frame_reader_fill(&r, fd);
		if (n == 0 || (n < 0 && n != -EAGAIN)) {
			closed = 1;
			break;
		}
		while (frame_reader_next(&r, &f, &len) == 1) {
			Netspy__V1__ServerMessage *m;

			if (netspy_decode_server(f, len, &m, NULL) < 0)
				continue;
			if (m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_ERROR && !code)
				code = m->error->code;
			netspy__v1__server_message__free_unpacked(m, NULL);
		}
	}
	printf("error=%d closed=%d\n", code, closed);
	frame_reader_fini(&r);
	return 0;
}

static void send_hello(int fd, uint32_t version)
{
	Netspy__V1__ClientMessage m = NETSPY__V1__CLIENT_MESSAGE__INIT;
	Netspy__V1__Hello h = NETSPY__V1__HELLO__INIT;
	struct nbuf b = { 0 };

	h.protocol_version = version;
	h.software = (char *)"collector_peer";
	m.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_HELLO;
	m.hello = &h;
	frame_append(&b, &m.base, NETSPY_MAX_CLIENT_FRAME);
	(void)!write(fd, b.data, b.len);
	nbuf_free(&b);
}

/* Connects and arranges for messages to be decoded into ar. 0, or 2 (the exit code) on failure. */
static int open_client(struct netspy_client *c, struct arena *ar, const char *path)
{
	if (netspy_client_connect(c, path, "collector_peer", 5000) < 0) {
		fprintf(stderr, "collector_peer: %s\n", c->error);
		return 2;
	}
	arena_init(ar);
	c->alloc = &ar->allocator;
	return 0;
}

static int count(const char *path, const char *comm, int seconds)
{
	struct netspy_client c;
	const char *comms[1] = { comm };
	struct netspy_subscription sub = { .live = true, .comms = comms, .n_comms = 1 };
	unsigned long n[4] = { 0 }, kernel_lost = 0, client_lost = 0;
	time_t end = time(NULL) + seconds;
	struct arena ar;

	if (open_client(&c, &ar, path))
		return 2;
	netspy_client_subscribe(&c, &sub);
	while (time(NULL) < end) {
		Netspy__V1__ServerMessage *m;
		int r;

		arena_reset(&ar);
		r = netspy_client_next(&c, 200, &m);

		if (r < 0)
			break;
		if (r == 0)
			continue;
		if (m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS) {
			for (size_t i = 0; i < m->events->n_events; i++)
				n[m->events->events[i]->kind_case - 2]++;
		} else if (m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_LOSS) {
			if (m->loss->source == NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_KERNEL)
				kernel_lost += m->loss->count;
			else
				client_lost += m->loss->count;
		}
	}
	printf("connect=%lu outcome=%lu drop=%lu kernel_lost=%lu client_lost=%lu\n", n[1], n[2],
	       n[3], kernel_lost, client_lost);
	netspy_client_close(&c);
	arena_fini(&ar);
	return 0;
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int dump(const char *path, int seconds, int argc, char **argv)
{
	struct netspy_client c;
	const char *comms[NETSPY_MAX_FILTER_COMMS];
	int kinds[1] = { NETSPY__V1__EVENT_KIND__EVENT_KIND_DROP };
	struct netspy_subscription sub = { .live = true, .comms = comms };
	time_t end = time(NULL) + seconds;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "comm") && i + 1 < argc &&
		    sub.n_comms < NETSPY_MAX_FILTER_COMMS)
			comms[sub.n_comms++] = argv[++i];
		else if (!strcmp(argv[i], "drops"))
			sub.kinds = kinds, sub.n_kinds = 1;
	}
	struct arena ar;

	if (open_client(&c, &ar, path))
		return 2;
	signal(SIGTERM, on_term);
	netspy_client_subscribe(&c, &sub);
	printf("{\"kind\":\"subscribed\"}\n");
	while (!stop && time(NULL) < end) {
		Netspy__V1__ServerMessage *m;
		int r;

		arena_reset(&ar);
		r = netspy_client_next(&c, 200, &m);

		if (r < 0 && r != -EINTR)
			break;
		if (r <= 0)
			continue;
		if (m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_EVENTS) {
			for (size_t i = 0; i < m->events->n_events; i++) {
				json_object *j = event_to_json(m->events->events[i]);

				printf("%s\n",
				       json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
				json_object_put(j);
			}
		}
	}
	netspy_client_close(&c);
	arena_fini(&ar);
	return 0;
}

int main(int argc, char **argv)
{
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of collector_peer.c\n");
		return 2;
	}
	if (!strcmp(argv[2], "dump") && argc >= 4)
		return dump(argv[1], atoi(argv[3]), argc - 4, argv + 4);
	if (!strcmp(argv[2], "count") && argc == 5)
		return count(argv[1], argv[3], atoi(argv[4]));
	fd = raw_connect(argv[1]);
	if (!strcmp(argv[2], "garbage")) {
		static const uint8_t junk[] = { 0,    0,    0,	  8,	0xff, 0xfe,
						0x01, 0x99, 0x42, 0x13, 0x37, 0x00 };

		(void)!write(fd, junk, sizeof(junk));
		return await_verdict(fd);
	}
	if (!strcmp(argv[2], "oversized")) {
		static const uint8_t big[] = { 1, 0, 0, 0, 0x0a, 0x00 };

		(void)!write(fd, big, sizeof(big));
		return await_verdict(fd);
	}
	if (!strcmp(argv[2], "badversion")) {
		send_hello(fd, 999);
		return await_verdict(fd);
	}
	if (!strcmp(argv[2], "noread") && argc == 4) {
		Netspy__V1__ClientMessage m = NETSPY__V1__CLIENT_MESSAGE__INIT;
		Netspy__V1__Subscribe s = NETSPY__V1__SUBSCRIBE__INIT;
		struct nbuf b = { 0 };
		int rcvbuf = 4096;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		send_hello(fd, NETSPY_PROTOCOL_VERSION);
		s.replay_since_ns = 1;
		s.live = 1;
		m.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_SUBSCRIBE;
		m.subscribe = &s;
		frame_append(&b, &m.base, NETSPY_MAX_CLIENT_FRAME);
		(void)!write(fd, b.data, b.len);
		nbuf_free(&b);
		sleep((unsigned)atoi(argv[3]));
		return 0;
	}
	fprintf(stderr, "collector_peer: unknown mode %s\n", argv[2]);
	return 2;
}
