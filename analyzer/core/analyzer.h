/* The analyzer: an event store fed by a subscription to netspyd. It replays the daemon's whole
 * backlog, then (live mode) keeps ingesting, and reconnects when the daemon restarts. Library
 * code: it does not print; notices for the user are kept in an->notice. */
#ifndef NETSPY_ANALYZER_H
#define NETSPY_ANALYZER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/client.h"
#include "core/store.h"

struct analyzer_opts {
	const char *socket;	 /* NULL: $NETSPY_SOCKET or the default */
	bool live;		 /* stay subscribed after the replay */
	size_t capacity;	 /* store records of each kind, 0: default */
	const char *cgroup_root; /* NULL: find the cgroup2 mount */
	/* Ask the daemon for these only (one-shot queries); NULL/0: everything. */
	uint32_t pid;
	const char *process;
	/* Replay only events from this time on (ns since the epoch); 0: the whole backlog. */
	uint64_t replay_since_ns;
};

struct analyzer {
	struct store store;
	struct netspy_client client;
	struct arena arena; /* messages are decoded into it */
	struct analyzer_opts opts;
	bool connected, replay_done;
	uint64_t boot_id;
	uint64_t last_seq;	    /* newest event ingested from this boot_id */
	uint64_t lost_kernel;	    /* events the kernel could not deliver (daemon's total) */
	uint64_t lost_client;	    /* events this analyzer missed by reading too slowly */
	uint64_t replayed;	    /* events received by replays */
	uint64_t backlog_oldest_ns; /* the daemon's oldest event at the last replay (0: none) */
	/* The daemon's backlog at the latest replay: events it had pushed out, and the time from
	 * which it held every event (0: not known, an older daemon). */
	uint64_t daemon_evicted, daemon_complete_since_ns;
	/* Its folded counts still pending at the latest replay (wall clock, 0: none), and when
	 * that replay ended (CLOCK_MONOTONIC). */
	uint64_t daemon_pending_since_ns, replay_done_mono_ns;
	unsigned reconnects;
	char notice[512]; /* something the user should know (reconnected, ...), "" when none */
	char error[512];  /* why the last call failed */
};

/* Connects, subscribes with a replay of the daemon's whole backlog and ingests it until
 * ReplayDone (timeout_ms for the whole replay). 0 or -errno with an->error set: -ENOENT,
 * -ECONNREFUSED (daemon not running), -EACCES (permission): see frontend_exit_code(). */
int analyzer_open(struct analyzer *an, const struct analyzer_opts *o, int timeout_ms);
void analyzer_close(struct analyzer *an);
/* analyzer_open in two steps, for frontends that start without the daemon and connect later
 * (analyzer_poll retries): init allocates the store, connect does the rest. */
int analyzer_init(struct analyzer *an, const struct analyzer_opts *o);
int analyzer_connect(struct analyzer *an, int timeout_ms);
/* Live mode: ingests what arrived, waiting up to timeout_ms for the first message. When the
 * daemon went away it reconnects (and replays what it missed, or everything when the daemon
 * restarted) and says so in an->notice. Returns events ingested, or -errno (an->error). */
int analyzer_poll(struct analyzer *an, int timeout_ms);
/* Brings the store up to date without waiting, for frontends before each answer: when the daemon
 * went away (it may say so first), a second poll reconnects. 0 or -errno (an->error says why). */
int analyzer_refresh(struct analyzer *an);
/* The fd to wait on for analyzer_poll (-1 when disconnected). */
int analyzer_fd(const struct analyzer *an);
/* The time from which the analyzer holds every event the daemon saw (its replay and its own
 * store both reach back that far); 0 when that is not known. */
uint64_t analyzer_complete_since(const struct analyzer *an);
/* The time from which the daemon's folded counts may still be in the kernel (they arrive within
 * two fold intervals), 0 when none are pending or there is no daemon: counts from then on are not
 * final. Taken from a replay that just ended, else asked of the daemon. */
uint64_t analyzer_folded_pending_since(struct analyzer *an);
/* Events neither the daemon's backlog nor the analyzer's store hold any more. */
uint64_t analyzer_events_evicted(const struct analyzer *an);
/* The daemon's exact per-second counters for [since_ns, until_ns), over a connection of its own:
 * *ret is the Counters message (free with netspy__v1__server_message__free_unpacked(*ret_owner,
 * NULL)). -ENOTCONN when there is no daemon to ask, -EPROTO from a daemon that does not keep
 * counters. */
int analyzer_counters(struct analyzer *an, uint64_t since_ns, uint64_t until_ns,
		      Netspy__V1__Counters **ret, Netspy__V1__ServerMessage **ret_owner);
/* events_lost as reported to users: kernel + this client. */
uint64_t analyzer_events_lost(const struct analyzer *an);

#endif
