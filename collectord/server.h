/* The Unix socket server: accepts clients, checks their credentials, answers their requests and
 * streams the backlog to subscribers through per-client cursors and bounded output buffers. */
#ifndef NETSPYD_SERVER_H
#define NETSPYD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backlog.h"
#include "frame.h"

struct dropnames;
struct client;

/* What sits behind an epoll registration: the first member of every watched object. */
enum watch_type {
	WATCH_LISTEN = 1,
	WATCH_CLIENT,
	WATCH_RING,
	WATCH_SIGNAL,
	WATCH_TIMER,
};

struct watch {
	enum watch_type type;
};

struct server_opts {
	const char *path;
	gid_t gid;   /* group allowed to connect */
	mode_t mode; /* socket file mode */
	unsigned max_clients;
	size_t out_limit; /* bytes buffered per client before its cursor waits */
	unsigned hello_timeout_s;
	unsigned stall_timeout_s; /* a client that reads nothing for this long is cut off */
	bool check_peers;	  /* refuse peers that are neither root nor in gid */
};

struct server_counters {
	uint64_t refused;
	uint64_t accepted;
	uint64_t client_lost_events; /* events skipped by slow clients, all clients together */
};

typedef void (*server_stats_fn)(void *ctx, Netspy__V1__Stats *st);
/* Answers a CountersRequest: fills *out (its arrays owned by the callee until the next call). */
typedef void (*server_counters_fn)(void *ctx, const Netspy__V1__CountersRequest *req,
				   Netspy__V1__Counters *out);

struct server {
	struct watch w;
	int fd;
	int epfd;
	struct server_opts o;
	struct client *clients;
	unsigned n_clients;
	struct backlog *bl;
	const struct dropnames *names;
	struct server_counters cnt;
	server_stats_fn stats;
	server_counters_fn counters; /* set after server_init(); NULL: answered empty */
	/* Wall clock from which folded counts may still be in the kernel, 0: none (ctx: stats_ctx;
	 * set after server_init(), NULL: never) */
	uint64_t (*folded_pending)(void *ctx);
	uint64_t started_real_ns;    /* the daemon's start, wall clock (set after server_init()) */
	void *stats_ctx;
	uint64_t kernel_lost_total;
	time_t last_refusal_log;
	unsigned refusals_unlogged;
};

/* Binds and listens (replacing a stale socket, refusing to replace a live one) and registers with
 * epfd. Returns 0 or -errno; *ret_error (malloc'd, to free) says what failed. */
int server_init(struct server *s, const struct server_opts *o, int epfd, struct backlog *bl,
		const struct dropnames *names, server_stats_fn stats, void *stats_ctx,
		char **ret_error);
/* Says goodbye to every client, closes and unlinks the socket. */
void server_fini(struct server *s);
/* Handles readiness of the listening socket or of a client. */
void server_handle(struct server *s, struct watch *w, uint32_t events);
/* Moves new backlog events towards every subscriber. */
void server_pump(struct server *s);
/* Timeouts: hello not sent, client stalled. now is CLOCK_MONOTONIC seconds. */
void server_tick(struct server *s, uint64_t now);
/* Tells every subscriber that the kernel lost count events (total so far: total). */
void server_kernel_loss(struct server *s, uint64_t count, uint64_t total);

#endif
