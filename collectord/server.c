/* The Unix socket server. Every client byte is hostile: frames are bounded before allocation,
 * messages validated after unpacking, and any violation ends the connection. No client can stall
 * the loop: sockets are non-blocking, output is bounded per client, and a subscriber reads the
 * shared backlog through its own cursor, so a slow one only falls behind (and is told how far). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "clock.h"
#include "server.h"
#include "wire.h"
#include "log.h"

#define BATCH_MAX_EVENTS 512
#define OUT_HARD_FACTOR 4 /* replies beyond out_limit * this mean the client is abusive */

enum client_state {
	CLIENT_AWAIT_HELLO,
	CLIENT_READY,
	CLIENT_CLOSING, /* flush what is queued, then close */
};

struct client {
	struct watch w;
	struct server *srv;
	struct client *next;
	int fd;
	enum client_state state;
	uid_t uid;
	pid_t pid;
	uint64_t id;
	uint64_t connected_at;	/* CLOCK_MONOTONIC seconds */
	uint64_t last_progress; /* last time output drained (or nothing was pending) */
	struct frame_reader in;
	struct nbuf out;
	size_t out_sent;
	bool want_out;
	/* subscription */
	bool subscribed, live, replaying;
	uint64_t cursor, replay_end, replayed;
	uint64_t lost_total;
	uint64_t lost_unlogged; /* lost since the last journal record about it */
	uint64_t last_loss_log; /* CLOCK_MONOTONIC seconds, 0: never */
	uint32_t pids[NETSPY_MAX_FILTER_PIDS];
	size_t n_pids;
	char comms[NETSPY_MAX_FILTER_COMMS][NETSPY_COMM_LEN];
	size_t n_comms;
	uint32_t kinds_mask; /* bit per enum netspy_event_type; 0 = all */
};

/* Where one batch's events are encoded before they are framed. */
static uint8_t batch_buf[BATCH_MAX_EVENTS * WIRE_EVENT_MAX];

/* An existing socket file is replaced only when nothing answers on it. */
static int check_stale(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Sets what failed (malloc'd; NULL when out of memory) and returns r, an errno read by the caller
 * before anything could change it. */
static int fail(char **ret_error, const char *what, int r)
{
	*ret_error = strdup(what);
	return r;
}

static int listen_on(struct server *s, char **ret_error)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	mode_t old;
	int r;

	if (strlen(s->o.path) >= sizeof(a.sun_path))
		return fail(ret_error, "socket path too long", -ENAMETOOLONG);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->o.path);
	r = check_stale(s->o.path);
	if (r == -EADDRINUSE)
		return fail(ret_error, "another netspyd is already listening on the socket", r);
	if (r < 0)
		return fail(ret_error, "the socket path exists and is not a stale socket", r);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return fail(ret_error, "creating the socket", -errno);
	/* Create the file with no access for others from the start: no window where it is open. */
	old = umask(0177);
	r = bind(s->fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (r < 0)
		return fail(ret_error, "binding the socket (does its directory exist?)", -errno);
	if (chown(s->o.path, 0, s->o.gid) < 0 && errno != EPERM)
		return fail(ret_error, "setting the socket's group", -errno);
	if (chmod(s->o.path, s->o.mode) < 0)
		return fail(ret_error, "setting the socket's mode", -errno);
	if (listen(s->fd, 128) < 0)
		return fail(ret_error, "listening on the socket", -errno);
	return 0;
}

int server_init(struct server *s, const struct server_opts *o, int epfd, struct backlog *bl,
		const struct dropnames *names, server_stats_fn stats, void *stats_ctx,
		char **ret_error)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	memset(s, 0, sizeof(*s));
	s->w.type = WATCH_LISTEN;
	s->fd = -1;
	s->epfd = epfd;
	s->o = *o;
	s->bl = bl;
	s->names = names;
	s->stats = stats;
	s->stats_ctx = stats_ctx;
	r = listen_on(s, ret_error);
	if (r < 0)
		return r;
	ev.data.ptr = &s->w;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return fail(ret_error, "watching the socket", -errno);
	return 0;
}

/* Structured journal fields naming a client; buf holds the strings. */
struct client_fields {
	char uid[32], pid[32], extra[64];
	const char *v[4];
};

static const char *const *client_fields(struct client_fields *f, const struct client *c,
					const char *extra)
{
	snprintf(f->uid, sizeof(f->uid), "CLIENT_UID=%u", (unsigned)c->uid);
	snprintf(f->pid, sizeof(f->pid), "CLIENT_PID=%d", (int)c->pid);
	snprintf(f->extra, sizeof(f->extra), "%s", extra ? extra : "");
	f->v[0] = f->uid;
	f->v[1] = f->pid;
	f->v[2] = extra ? f->extra : NULL;
	f->v[3] = NULL;
	return f->v;
}

/* ---- output -------------------------------------------------------------------------------- */

static size_t out_pending(const struct client *c)
{
	return c->out.len - c->out_sent;
}

static void queue_msg(struct client *c, Netspy__V1__ServerMessage *m)
{
	int r = frame_append(&c->out, &m->base, NETSPY_MAX_SERVER_FRAME);

	if (r < 0) {
		log_warn("client %" PRIu64 ": cannot queue a reply: %s", c->id, strerror(-r));
		c->state = CLIENT_CLOSING;
	}
}

static void queue_error(struct client *c, Netspy__V1__ErrorCode code, const char *msg)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__Error e = NETSPY__V1__ERROR__INIT;

	e.code = code;
	e.message = (char *)msg;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_ERROR;
	m.error = &e;
	queue_msg(c, &m);
}

static void queue_loss(struct client *c, Netspy__V1__LossSource src, uint64_t count, uint64_t total)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__Loss l = NETSPY__V1__LOSS__INIT;

	l.source = src;
	l.count = count;
	l.total = total;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_LOSS;
	m.loss = &l;
	queue_msg(c, &m);
}

static void set_want_out(struct client *c, bool want)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0) };

	if (c->want_out == want)
		return;
	ev.data.ptr = &c->w;
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = want;
}

/* Writes what it can. Returns 0, or -errno when the client is gone. */
static int flush_out(struct client *c)
{
	while (out_pending(c)) {
		ssize_t n = send(c->fd, c->out.data + c->out_sent, out_pending(c), MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c->out_sent += (size_t)n;
		c->last_progress = clock_ns(CLOCK_MONOTONIC) / 1000000000ull;
	}
	if (!out_pending(c)) {
		c->out.len = c->out_sent = 0;
		c->last_progress = clock_ns(CLOCK_MONOTONIC) / 1000000000ull;
	} else if (c->out_sent > c->out.len / 2) {
		nbuf_consume(&c->out, c->out_sent);
		c->out_sent = 0;
	}
	set_want_out(c, out_pending(c) > 0);
	return 0;
}

/* ---- subscription delivery ------------------------------------------------------------------ */

/* The kinds of protocol version 1's first release, sent to a client that names none. */
#define ORIGINAL_KINDS                                                                         \
	((1u << NETSPY_EV_CONNECT) | (1u << NETSPY_EV_TCP_OUTCOME) | (1u << NETSPY_EV_DROP))

/* EventKind (validated by proto/frame.c) -> enum netspy_event_type. The first three are equal;
 * NETSPY_EV_KICK, never an event, sits between them and the later ones. */
static unsigned kind_type(uint32_t kind)
{
	switch (kind) {
	case NETSPY__V1__EVENT_KIND__EVENT_KIND_DNS:
		return NETSPY_EV_DNS;
	case NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_ACCEPT:
		return NETSPY_EV_TCP_ACCEPT;
	case NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_END:
		return NETSPY_EV_TCP_END;
	case NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_RETRANSMIT:
		return NETSPY_EV_TCP_RETRANSMIT;
	case NETSPY__V1__EVENT_KIND__EVENT_KIND_TCP_RESET:
		return NETSPY_EV_TCP_RESET;
	default:
		return kind;
	}
}

static bool matches(const struct client *c, const struct netspy_event *e)
{
	size_t i;

	if (!(c->kinds_mask & (1u << e->type)))
		return false;
	if (c->n_pids) {
		for (i = 0; i < c->n_pids; i++)
			if (c->pids[i] == e->pid)
				break;
		if (i == c->n_pids)
			return false;
	}
	if (c->n_comms) {
		for (i = 0; i < c->n_comms; i++)
			if (!strncmp(c->comms[i], e->comm, NETSPY_COMM_LEN))
				break;
		if (i == c->n_comms)
			return false;
	}
	return true;
}

static void queue_replay_done(struct client *c)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__ReplayDone d = NETSPY__V1__REPLAY_DONE__INIT;
	const struct netspy_event *oldest = backlog_get(c->srv->bl, c->srv->bl->tail);

	d.replayed = c->replayed;
	d.oldest_ns = oldest ? oldest->ts_ns : 0;
	d.evicted = c->srv->bl->evicted;
	d.complete_since_ns =
	    c->srv->bl->evicted ? c->srv->bl->evicted_newest_ns + 1 : c->srv->started_real_ns;
	d.folded_pending_since_ns = c->srv->folded_pending ? c->srv->folded_pending(c->srv->stats_ctx) : 0;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_REPLAY_DONE;
	m.replay_done = &d;
	queue_msg(c, &m);
	c->replaying = false;
	if (!c->live)
		c->state = CLIENT_CLOSING;
}

/* A slow client's losses go to the journal at most once a minute per client. */
static void log_client_loss(struct client *c, uint64_t lost)
{
	struct client_fields f;
	char extra[48];
	uint64_t now = clock_ns(CLOCK_MONOTONIC) / 1000000000ull;

	c->lost_unlogged += lost;
	if (c->last_loss_log && now - c->last_loss_log < 60)
		return;
	snprintf(extra, sizeof(extra), "EVENTS_LOST=%" PRIu64, c->lost_unlogged);
	log_record(LOG_WARNING, MSGID_CLIENT_LOST_EVENTS, client_fields(&f, c, extra),
		   "client %" PRIu64 " (uid %u, pid %d) reads too slowly: %" PRIu64
		   " events skipped (%" PRIu64 " in total)",
		   c->id, (unsigned)c->uid, (int)c->pid, c->lost_unlogged, c->lost_total);
	c->lost_unlogged = 0;
	c->last_loss_log = now;
}

/* Encodes the next batch for c. Returns false when there is nothing more to send now. */
static bool queue_batch(struct client *c)
{
	struct server *s = c->srv;
	uint64_t end = s->bl->head;
	size_t n = 0, len = 0;

	if (c->cursor < s->bl->tail) {
		uint64_t lost = s->bl->tail - c->cursor;

		c->lost_total += lost;
		s->cnt.client_lost_events += lost;
		c->cursor = s->bl->tail;
		queue_loss(c, NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_CLIENT, lost, c->lost_total);
		log_client_loss(c, lost);
	}
	if (!c->live && end > c->replay_end)
		end = c->replay_end;
	for (; c->cursor < end && n < BATCH_MAX_EVENTS; c->cursor++) {
		const struct netspy_event *e = backlog_get(s->bl, c->cursor);

		if (e && matches(c, e)) {
			size_t dlen;
			const uint8_t *data = backlog_payload(s->bl, e, &dlen);

			len += wire_batch_entry(batch_buf + len, e, c->cursor, s->names, data, dlen);
			n++;
		}
	}
	if (n) {
		int r = wire_batch_frame(&c->out, batch_buf, len);

		if (r < 0) {
			log_warn("client %" PRIu64 ": cannot queue events: %s", c->id,
				 strerror(-r));
			c->state = CLIENT_CLOSING;
		}
		if (c->replaying)
			c->replayed += n;
	}
	if (c->replaying && c->cursor >= c->replay_end)
		queue_replay_done(c);
	return c->cursor < end && c->state != CLIENT_CLOSING;
}

static void client_close(struct client *c, const char *why);

/* Queues up to out_limit bytes, writes, and goes on while the socket takes everything and the
 * backlog has more: otherwise a client with a small buffer would get one buffer per timer tick
 * (no EPOLLOUT is armed once its output is empty) and fall behind a storm it could follow. Bounded:
 * the cursor only moves towards the backlog's head, which does not move meanwhile. */
static void pump_client(struct client *c)
{
	bool more;

	do {
		more = false;
		if (c->subscribed && c->state == CLIENT_READY) {
			while (out_pending(c) < c->srv->o.out_limit && (more = queue_batch(c)))
				;
		}
		if (flush_out(c) < 0) {
			client_close(c, "write failed");
			return;
		}
	} while (more && !out_pending(c));
	if (c->state == CLIENT_CLOSING && !out_pending(c))
		client_close(c, NULL);
}

void server_pump(struct server *s)
{
	struct client *c, *next;

	for (c = s->clients; c; c = next) {
		next = c->next;
		if (c->subscribed || out_pending(c) || c->state == CLIENT_CLOSING)
			pump_client(c);
	}
}

/* ---- requests -------------------------------------------------------------------------------- */

static void handle_hello(struct client *c, const Netspy__V1__Hello *h)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__ServerHello sh = NETSPY__V1__SERVER_HELLO__INIT;
	Netspy__V1__Stats st = NETSPY__V1__STATS__INIT;
	char msg[160];

	if (h->protocol_version != NETSPY_PROTOCOL_VERSION) {
		snprintf(msg, sizeof(msg),
			 "protocol version mismatch: netspyd speaks %u, the client %u; "
			 "install matching netspyd and netspyctl versions",
			 NETSPY_PROTOCOL_VERSION, h->protocol_version);
		queue_error(c, NETSPY__V1__ERROR_CODE__ERROR_CODE_VERSION_MISMATCH, msg);
		c->state = CLIENT_CLOSING;
		return;
	}
	c->srv->stats(c->srv->stats_ctx, &st);
	sh.protocol_version = NETSPY_PROTOCOL_VERSION;
	sh.software = (char *)"netspyd " NETSPY_VERSION;
	sh.boot_id = st.boot_id;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_HELLO;
	m.hello = &sh;
	queue_msg(c, &m);
	c->state = CLIENT_READY;
}

static void handle_subscribe(struct client *c, const Netspy__V1__Subscribe *sub)
{
	struct backlog *bl = c->srv->bl;

	c->n_pids = sub->n_pids;
	if (sub->n_pids) /* pids is NULL when empty: memcpy from NULL is undefined even for 0 */
		memcpy(c->pids, sub->pids, sub->n_pids * sizeof(uint32_t));
	c->n_comms = sub->n_comms;
	for (size_t i = 0; i < sub->n_comms; i++) {
		memset(c->comms[i], 0, NETSPY_COMM_LEN);
		memcpy(c->comms[i], sub->comms[i], strlen(sub->comms[i]));
	}
	/* No kinds: those of the protocol's first release. A kind added since (DNS, the TCP lifecycle's) goes only to
	 * clients that name it, so that an older client never meets an event it cannot read. */
	c->kinds_mask = sub->n_kinds ? 0 : ORIGINAL_KINDS;
	for (size_t i = 0; i < sub->n_kinds; i++)
		c->kinds_mask |= 1u << kind_type(sub->kinds[i]);
	c->live = sub->live;
	c->subscribed = true;
	c->replayed = 0;
	if (sub->replay_since_ns) {
		c->cursor = backlog_seek(bl, sub->replay_since_ns);
		c->replay_end = bl->head;
		c->replaying = true;
	} else {
		c->cursor = c->replay_end = bl->head;
		c->replaying = !sub->live; /* a non-live subscription without replay ends at once */
	}
}

static void handle_stats(struct client *c)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__Stats st = NETSPY__V1__STATS__INIT;

	c->srv->stats(c->srv->stats_ctx, &st);
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_STATS;
	m.stats = &st;
	queue_msg(c, &m);
}

static void handle_counters(struct client *c, const Netspy__V1__CountersRequest *req)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__Counters ct = NETSPY__V1__COUNTERS__INIT;

	if (c->srv->counters)
		c->srv->counters(c->srv->stats_ctx, req, &ct);
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_COUNTERS;
	m.counters = &ct;
	queue_msg(c, &m);
}

static void handle_message(struct client *c, const Netspy__V1__ClientMessage *m)
{
	bool hello = m->msg_case == NETSPY__V1__CLIENT_MESSAGE__MSG_HELLO;

	if (c->state == CLIENT_AWAIT_HELLO && !hello) {
		queue_error(c, NETSPY__V1__ERROR_CODE__ERROR_CODE_BAD_REQUEST,
			    "the first message must be Hello");
		c->state = CLIENT_CLOSING;
		return;
	}
	switch (m->msg_case) {
	case NETSPY__V1__CLIENT_MESSAGE__MSG_HELLO:
		if (c->state != CLIENT_AWAIT_HELLO) {
			queue_error(c, NETSPY__V1__ERROR_CODE__ERROR_CODE_BAD_REQUEST,
				    "Hello sent twice");
			c->state = CLIENT_CLOSING;
			return;
		}
		handle_hello(c, m->hello);
		break;
	case NETSPY__V1__CLIENT_MESSAGE__MSG_SUBSCRIBE:
		handle_subscribe(c, m->subscribe);
		break;
	case NETSPY__V1__CLIENT_MESSAGE__MSG_STATS_REQUEST:
		handle_stats(c);
		break;
	case NETSPY__V1__CLIENT_MESSAGE__MSG_COUNTERS_REQUEST:
		handle_counters(c, m->counters_request);
		break;
	default:
		break; /* unreachable: validation rejects unknown messages */
	}
}

static void read_client(struct client *c)
{
	const uint8_t *p;
	size_t len;
	ssize_t n;
	int r;

	n = frame_reader_fill(&c->in, c->fd);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n <= 0) {
		client_close(c, n == 0 ? NULL : "read failed");
		return;
	}
	while (c->state != CLIENT_CLOSING && (r = frame_reader_next(&c->in, &p, &len)) != 0) {
		Netspy__V1__ClientMessage *m;
		char *error = NULL;

		if (r < 0 || netspy_decode_client(p, len, &m, &error) < 0) {
			struct client_fields f;
			const char *why = error ? error : "invalid message";
			char msg[160];

			if (r < 0)
				why = r == -EBADMSG ? "empty frame"
						    : "frame larger than the protocol allows";
			snprintf(msg, sizeof(msg), "malformed request: %s", why);
			free(error);
			log_record(LOG_WARNING, MSGID_CLIENT_DISCONNECTED, client_fields(&f, c, NULL),
				   "client %" PRIu64 " (uid %u, pid %d) disconnected: %s", c->id,
				   (unsigned)c->uid, (int)c->pid, msg);
			queue_error(c, NETSPY__V1__ERROR_CODE__ERROR_CODE_BAD_REQUEST, msg);
			c->state = CLIENT_CLOSING;
			break;
		}
		handle_message(c, m);
		netspy__v1__client_message__free_unpacked(m, NULL);
		if (out_pending(c) > c->srv->o.out_limit * OUT_HARD_FACTOR) {
			client_close(c, "requests faster than it reads replies");
			return;
		}
	}
	if (c->state == CLIENT_CLOSING) {
		/* Stop listening to it: whatever else it sends is ignored. */
		shutdown(c->fd, SHUT_RD);
	}
	pump_client(c);
}

/* ---- connections -------------------------------------------------------------------------- */

static void client_close(struct client *c, const char *why)
{
	struct server *s = c->srv;
	struct client **pp;
	struct client_fields f;

	if (why)
		log_record(LOG_INFO, MSGID_CLIENT_DISCONNECTED, client_fields(&f, c, NULL),
			   "client %" PRIu64 " (uid %u, pid %d) disconnected: %s", c->id,
			   (unsigned)c->uid, (int)c->pid, why);
	else
		log_debug("client %" PRIu64 " disconnected", c->id);
	for (pp = &s->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	s->n_clients--;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	frame_reader_fini(&c->in);
	nbuf_free(&c->out);
	free(c);
}

static bool in_group(int fd, gid_t gid, gid_t primary)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (primary == gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* Refusals are logged, but a flood of them is summarised rather than flooding the journal. */
static void log_refusal(struct server *s, const struct ucred *cr, const char *why)
{
	char uid[32], pid[32], gid[32];
	const char *fields[] = { uid, pid, gid, NULL };
	time_t now = time(NULL);

	if (now == s->last_refusal_log && s->refusals_unlogged++ > 10)
		return;
	snprintf(uid, sizeof(uid), "CLIENT_UID=%u", (unsigned)cr->uid);
	snprintf(pid, sizeof(pid), "CLIENT_PID=%d", (int)cr->pid);
	snprintf(gid, sizeof(gid), "CLIENT_GID=%u", (unsigned)cr->gid);
	log_record(LOG_WARNING, MSGID_CLIENT_REFUSED, fields, "refused client uid %u pid %d: %s",
		   (unsigned)cr->uid, (int)cr->pid, why);
	if (now != s->last_refusal_log)
		s->refusals_unlogged = 0;
	s->last_refusal_log = now;
}

/* Sends one error frame on a socket we are about to close (best effort, never blocks). */
static void refuse(int fd, Netspy__V1__ErrorCode code, const char *msg)
{
	Netspy__V1__ServerMessage m = NETSPY__V1__SERVER_MESSAGE__INIT;
	Netspy__V1__Error e = NETSPY__V1__ERROR__INIT;
	struct nbuf b = { 0 };

	e.code = code;
	e.message = (char *)msg;
	m.msg_case = NETSPY__V1__SERVER_MESSAGE__MSG_ERROR;
	m.error = &e;
	if (frame_append(&b, &m.base, NETSPY_MAX_SERVER_FRAME) == 0)
		(void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	nbuf_free(&b);
	close(fd);
}

static void accept_one(struct server *s, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct client *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		close(fd);
		return;
	}
	if (s->o.check_peers && cr.uid != 0 && !in_group(fd, s->o.gid, cr.gid)) {
		s->cnt.refused++;
		log_refusal(s, &cr, "not root and not in the socket's group");
		refuse(fd, NETSPY__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
		       "permission denied: add yourself to the group netspy (then log in again)");
		return;
	}
	if (s->n_clients >= s->o.max_clients) {
		s->cnt.refused++;
		log_refusal(s, &cr, "too many clients");
		refuse(fd, NETSPY__V1__ERROR_CODE__ERROR_CODE_TOO_MANY_CLIENTS,
		       "too many clients connected to netspyd; try again later");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->w.type = WATCH_CLIENT;
	c->srv = s;
	c->fd = fd;
	c->uid = cr.uid;
	c->pid = cr.pid;
	c->id = ++s->cnt.accepted;
	c->connected_at = c->last_progress = clock_ns(CLOCK_MONOTONIC) / 1000000000ull;
	frame_reader_init(&c->in, NETSPY_MAX_CLIENT_FRAME);
	ev.data.ptr = &c->w;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		frame_reader_fini(&c->in);
		free(c);
		close(fd);
		return;
	}
	c->next = s->clients;
	s->clients = c;
	s->n_clients++;
	log_debug("client %" PRIu64 " connected (uid %u, pid %d)", c->id, (unsigned)cr.uid,
		  (int)cr.pid);
}

static void accept_all(struct server *s)
{
	/* Bounded so that a connect storm cannot starve the ring buffer. */
	for (int i = 0; i < 64; i++) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		accept_one(s, fd);
	}
}

void server_handle(struct server *s, struct watch *w, uint32_t events)
{
	struct client *c;

	if (w->type == WATCH_LISTEN) {
		accept_all(s);
		return;
	}
	c = (struct client *)w;
	if (events & EPOLLIN) {
		read_client(c);
		return; /* c may be gone */
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		client_close(c, NULL);
		return;
	}
	if (events & EPOLLOUT)
		pump_client(c);
}

void server_tick(struct server *s, uint64_t now)
{
	struct client *c, *next;

	for (c = s->clients; c; c = next) {
		next = c->next;
		if (c->state == CLIENT_AWAIT_HELLO && now - c->connected_at >= s->o.hello_timeout_s)
			client_close(c, "sent no Hello in time");
		else if (out_pending(c) && now - c->last_progress >= s->o.stall_timeout_s)
			client_close(c, "stopped reading");
	}
}

void server_kernel_loss(struct server *s, uint64_t count, uint64_t total)
{
	for (struct client *c = s->clients; c; c = c->next)
		if (c->subscribed && c->state == CLIENT_READY)
			queue_loss(c, NETSPY__V1__LOSS_SOURCE__LOSS_SOURCE_KERNEL, count, total);
	s->kernel_lost_total = total;
}

void server_fini(struct server *s)
{
	while (s->clients) {
		struct client *c = s->clients;

		queue_error(c, NETSPY__V1__ERROR_CODE__ERROR_CODE_SHUTTING_DOWN,
			    "netspyd is shutting down");
		(void)flush_out(c);
		client_close(c, NULL);
	}
	if (s->fd >= 0) {
		close(s->fd);
		unlink(s->o.path);
	}
	s->fd = -1;
}
