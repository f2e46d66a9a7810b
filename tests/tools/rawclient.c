/* A misbehaving netspyd client for the fault tests: sends bytes no well-behaved client sends and
 * reports how the daemon answered.
 *
 *   rawclient SOCKET garbage        a frame whose payload is not a protobuf message
 *   rawclient SOCKET oversized      a length prefix far beyond the protocol's limit
 *   rawclient SOCKET no-hello       a valid StatsRequest before any Hello
 *   rawclient SOCKET hello-garbage  a proper Hello, then garbage
 *
 * Prints "error=<the daemon's Error message, or none> closed=<1 if the daemon closed the
 * connection within 5 s, else 0>". */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core/client.h"

static int dial(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("rawclient: connect");
		return -1;
	}
	return fd;
}

/* Reads frames until EOF or 5 s of silence; remembers the first Error message. */
static void await_verdict(int fd, struct frame_reader *in)
{
	char error[NETSPY_MAX_TEXT_LEN + 1] = "none";
	int closed = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		const uint8_t *data;
		size_t len;
		ssize_t n;

		while (frame_reader_next(in, &data, &len) == 1) {
			Netspy__V1__ServerMessage *m;

			if (netspy_decode_server(data, len, &m, NULL) < 0)
				continue;
			if (m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_ERROR &&
			    !strcmp(error, "none"))
				snprintf(error, sizeof(error), "%s", m->error->message);
			netspy__v1__server_message__free_unpacked(m, NULL);
		}
		if (poll(&p, 1, 5000) <= 0)
			break;
		n = frame_reader_fill(in, fd);
		if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR)) {
			closed = 1;
			break;
		}
	}
	printf("error=%s closed=%d\n", error, closed);
}

int main(int argc, char **argv)
{
	static const uint8_t garbage[] = { 0,	 0,    0,    8,	   0xff, 0xfe,
					   0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8 };
	static const uint8_t oversized[] = { 0x7f, 0xff, 0xff, 0xff, 'x', 'x', 'x', 'x' };
	static const uint8_t stats_request[] = { 0, 0, 0, 2, 0x1a, 0x00 };
	struct netspy_client c = { .fd = -1 };
	struct frame_reader in;
	const uint8_t *bytes = garbage;
	size_t len = sizeof(garbage);
	int fd;

	if (argc != 3) {
		fprintf(stderr,
			"usage: rawclient SOCKET garbage|oversized|no-hello|hello-garbage\n");
		return 2;
	}
	frame_reader_init(&in, NETSPY_MAX_SERVER_FRAME);
	if (!strcmp(argv[2], "hello-garbage")) {
		if (netspy_client_connect(&c, argv[1], "rawclient", 5000) < 0) {
			fprintf(stderr, "rawclient: %s\n", c.error);
			netspy_client_close(&c);
			return 1;
		}
		fd = c.fd;
	} else {
		fd = dial(argv[1]);
		if (fd < 0)
			return 1;
		if (!strcmp(argv[2], "oversized")) {
			bytes = oversized;
			len = sizeof(oversized);
		} else if (!strcmp(argv[2], "no-hello")) {
			bytes = stats_request;
			len = sizeof(stats_request);
		} else if (strcmp(argv[2], "garbage")) {
			fprintf(stderr, "rawclient: unknown mode '%s'\n", argv[2]);
			return 2;
		}
	}
	if (send(fd, bytes, len, MSG_NOSIGNAL) != (ssize_t)len)
		perror("rawclient: send");
	await_verdict(fd, &in);
	frame_reader_fini(&in);
	if (c.fd == fd)
		netspy_client_close(&c);
	else
		close(fd);
	return 0;
}
