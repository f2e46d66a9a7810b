/* The client side of the netspyd protocol. Library code: it does not print, it fills c->error. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "clock.h"
#include "core/client.h"

const char *netspy_socket_path(const char *flag)
{
	const char *env = getenv("NETSPY_SOCKET");

	if (flag && *flag)
		return flag;
	if (env && *env)
		return env;
	return NETSPY_DEFAULT_SOCKET;
}

__attribute__((format(printf, 3, 0))) static int set_error(struct netspy_client *c, int err,
							   const char *fmt, const char *detail)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(c->error, sizeof(c->error), fmt, c->path, detail);
#pragma GCC diagnostic pop
	return err;
}

static int explain_connect_error(struct netspy_client *c, int err)
{
	switch (err) {
	case -ENOENT:
	case -ECONNREFUSED:
	case -ENOTDIR:
		return set_error(c, err,
				 "cannot reach netspyd at %s (%s): is it running? Start it with "
				 "'sudo systemctl start netspyd' (or run 'sudo netspyd'), or point "
				 "--socket / NETSPY_SOCKET at its socket",
				 strerror(-err));
	case -EACCES:
	case -EPERM:
		return set_error(
		    c, -EACCES,
		    "permission denied on %s (%s): add yourself to the group netspy "
		    "('sudo usermod -aG netspy $USER', then log in again) or run as root",
		    strerror(-err));
	default:
		return set_error(c, err, "cannot connect to netspyd at %s: %s", strerror(-err));
	}
}

static int queue(struct netspy_client *c, Netspy__V1__ClientMessage *m)
{
	return frame_append(&c->out, &m->base, NETSPY_MAX_CLIENT_FRAME);
}

int netspy_client_flush(struct netspy_client *c)
{
	size_t off = 0;

	while (off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = c->fd, .events = POLLOUT };

				poll(&p, 1, 1000);
				continue;
			}
			c->out.len = 0;
			return -errno;
		}
		off += (size_t)n;
	}
	c->out.len = 0;
	return 0;
}

int netspy_client_next(struct netspy_client *c, int timeout_ms, Netspy__V1__ServerMessage **ret)
{
	int64_t deadline = timeout_ms < 0 ? -1 : clock_ms(CLOCK_MONOTONIC) + timeout_ms;

	for (;;) {
		const uint8_t *p;
		size_t len;
		int r = frame_reader_next(&c->in, &p, &len);
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int wait;
		ssize_t n;

		if (r < 0) {
			snprintf(c->error, sizeof(c->error), "netspyd sent a malformed frame (%s)",
				 r == -EMSGSIZE ? "too large" : "empty");
			return -EPROTO;
		}
		if (r == 1) {
			char *why = NULL;

			if (netspy_decode_server_alloc(p, len, c->alloc, ret, &why) < 0) {
				snprintf(c->error, sizeof(c->error),
					 "netspyd sent an invalid message: %s",
					 why ? why : "not valid");
				free(why);
				return -EPROTO;
			}
			return 1;
		}
		wait = deadline < 0 ? -1 : (int)(deadline - clock_ms(CLOCK_MONOTONIC));
		if (deadline >= 0 && wait < 0)
			wait = 0;
		r = poll(&pfd, 1, wait);
		if (r < 0) {
			if (errno == EINTR)
				return -EINTR;
			return -errno;
		}
		if (r == 0)
			return 0;
		n = frame_reader_fill(&c->in, c->fd);
		if (n == 0) {
			snprintf(c->error, sizeof(c->error), "netspyd at %s closed the connection",
				 c->path);
			return -EPIPE;
		}
		if (n < 0 && n != -EAGAIN && n != -EINTR) {
			snprintf(c->error, sizeof(c->error), "reading from netspyd at %s: %s",
				 c->path, strerror((int)-n));
			return (int)n;
		}
	}
}

static int error_to_errno(const Netspy__V1__Error *e)
{
	switch (e->code) {
	case NETSPY__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED:
		return -EACCES;
	case NETSPY__V1__ERROR_CODE__ERROR_CODE_TOO_MANY_CLIENTS:
		return -EUSERS;
	case NETSPY__V1__ERROR_CODE__ERROR_CODE_SHUTTING_DOWN:
		return -ESHUTDOWN;
	default:
		return -EPROTO;
	}
}

static int await_hello(struct netspy_client *c, int timeout_ms)
{
	Netspy__V1__ServerMessage *m = NULL;
	int r = netspy_client_next(c, timeout_ms, &m);

	if (r == 0) {
		snprintf(c->error, sizeof(c->error), "netspyd at %s did not answer in time",
			 c->path);
		return -ETIMEDOUT;
	}
	if (r < 0)
		return r;
	if (m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_ERROR) {
		r = error_to_errno(m->error);
		if (r == -EACCES)
			explain_connect_error(c, r);
		else
			snprintf(c->error, sizeof(c->error), "netspyd at %s refused: %s", c->path,
				 m->error->message);
	} else if (m->msg_case != NETSPY__V1__SERVER_MESSAGE__MSG_HELLO ||
		   m->hello->protocol_version != NETSPY_PROTOCOL_VERSION) {
		snprintf(c->error, sizeof(c->error), "netspyd at %s does not speak protocol %d",
			 c->path, NETSPY_PROTOCOL_VERSION);
		r = -EPROTO;
	} else {
		c->boot_id = m->hello->boot_id;
		snprintf(c->server_software, sizeof(c->server_software), "%s", m->hello->software);
		r = 0;
	}
	netspy__v1__server_message__free_unpacked(m, NULL);
	return r;
}

int netspy_client_connect(struct netspy_client *c, const char *path, const char *software,
			  int timeout_ms)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	Netspy__V1__ClientMessage m = NETSPY__V1__CLIENT_MESSAGE__INIT;
	Netspy__V1__Hello h = NETSPY__V1__HELLO__INIT;
	int r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	frame_reader_init(&c->in, NETSPY_MAX_SERVER_FRAME);
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (strlen(path) >= sizeof(a.sun_path))
		return set_error(c, -ENAMETOOLONG, "socket path %s is too long%s", "");
	memcpy(a.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return set_error(c, -errno, "cannot create a socket for %s: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return explain_connect_error(c, -errno);
	h.protocol_version = NETSPY_PROTOCOL_VERSION;
	h.software = (char *)software;
	m.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_HELLO;
	m.hello = &h;
	r = queue(c, &m);
	if (r == 0)
		r = netspy_client_flush(c);
	if (r < 0) {
		/* A refused peer may be closed before it can write: read the refusal if any. */
		if (await_hello(c, 200) == -EACCES)
			return -EACCES;
		return set_error(c, r, "cannot talk to netspyd at %s: %s", strerror(-r));
	}
	return await_hello(c, timeout_ms);
}

void netspy_client_close(struct netspy_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	frame_reader_fini(&c->in);
	nbuf_free(&c->out);
}

int netspy_client_request_stats(struct netspy_client *c)
{
	Netspy__V1__ClientMessage m = NETSPY__V1__CLIENT_MESSAGE__INIT;
	Netspy__V1__StatsRequest s = NETSPY__V1__STATS_REQUEST__INIT;
	int r;

	m.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_STATS_REQUEST;
	m.stats_request = &s;
	r = queue(c, &m);
	return r < 0 ? r : netspy_client_flush(c);
}

const int netspy_known_kinds[] = {
	NETSPY__V1__EVENT_KIND__EVENT_KIND_CONNECT,	   NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_OUTCOME,
	NETSPY__V1__EVENT_KIND__EVENT_KIND_DROP,	   NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_ACCEPT,
	NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_END,	   NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_RETRANSMIT,
	NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_RESET,
};
const size_t netspy_n_known_kinds = sizeof(netspy_known_kinds) / sizeof(netspy_known_kinds[0]);

int netspy_client_subscribe(struct netspy_client *c, const struct netspy_subscription *s)
{
	Netspy__V1__ClientMessage m = NETSPY__V1__CLIENT_MESSAGE__INIT;
	Netspy__V1__Subscribe sub = NETSPY__V1__SUBSCRIBE__INIT;
	int r;

	if (s->n_pids > NETSPY_MAX_FILTER_PIDS || s->n_comms > NETSPY_MAX_FILTER_COMMS ||
	    s->n_kinds > NETSPY_MAX_FILTER_KINDS)
		return -E2BIG;
	sub.replay_since_ns = s->replay_since_ns;
	sub.live = s->live;
	sub.n_pids = s->n_pids;
	sub.pids = (uint32_t *)s->pids;
	sub.n_comms = s->n_comms;
	sub.comms = (char **)s->comms;
	sub.n_kinds = s->n_kinds;
	sub.kinds = (Netspy__V1__EventKind *)s->kinds;
	m.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_SUBSCRIBE;
	m.subscribe = &sub;
	r = queue(c, &m);
	return r < 0 ? r : netspy_client_flush(c);
}

/* Reads until the reply of kind want arrives (other messages are skipped) and hands it over:
 * 0 with *ret_msg to free, -ETIMEDOUT, -EPROTO when netspyd answers with an error, or the
 * client's error. */
static int await_reply(struct netspy_client *c, int timeout_ms,
		       Netspy__V1__ServerMessage__MsgCase want, Netspy__V1__ServerMessage **ret_msg)
{
	for (;;) {
		Netspy__V1__ServerMessage *m = NULL;
		int r = netspy_client_next(c, timeout_ms, &m);

		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			return r;
		if (m->msg_case == want) {
			*ret_msg = m;
			return 0;
		}
		r = m->msg_case == NETSPY__V1__SERVER_MESSAGE__MSG_ERROR;
		netspy__v1__server_message__free_unpacked(m, NULL);
		if (r)
			return -EPROTO;
	}
}

int netspy_client_get_counters(struct netspy_client *c, uint64_t since_ns, uint64_t until_ns,
			       int timeout_ms, Netspy__V1__Counters **ret,
			       Netspy__V1__ServerMessage **ret_owner)
{
	Netspy__V1__ClientMessage q = NETSPY__V1__CLIENT_MESSAGE__INIT;
	Netspy__V1__CountersRequest req = NETSPY__V1__COUNTERS_REQUEST__INIT;
	int r;

	req.since_ns = since_ns;
	req.until_ns = until_ns;
	q.msg_case = NETSPY__V1__CLIENT_MESSAGE__MSG_COUNTERS_REQUEST;
	q.counters_request = &req;
	r = queue(c, &q);
	if (r < 0 || (r = netspy_client_flush(c)) < 0)
		return r;
	r = await_reply(c, timeout_ms, NETSPY__V1__SERVER_MESSAGE__MSG_COUNTERS, ret_owner);
	if (r == 0)
		*ret = (*ret_owner)->counters;
	return r;
}

int netspy_client_get_stats(struct netspy_client *c, int timeout_ms, Netspy__V1__Stats **ret,
			    Netspy__V1__ServerMessage **ret_owner)
{
	int r = netspy_client_request_stats(c);

	if (r >= 0)
		r = await_reply(c, timeout_ms, NETSPY__V1__SERVER_MESSAGE__MSG_STATS, ret_owner);
	if (r == 0)
		*ret = (*ret_owner)->stats;
	return r;
}
