/* The client side of the netspyd protocol: connect and greet, ask for stats, subscribe, and read
 * validated server messages. Used by netspyctl, the MCP server, tests and benchmarks. */
#ifndef NETSPY_CLIENT_H
#define NETSPY_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

struct netspy_client {
	int fd;
	char path[108];
	struct frame_reader in;
	struct nbuf out;
	uint64_t boot_id;
	char server_software[NETSPY_MAX_SOFTWARE_LEN + 1];
	char error[512]; /* the last error, ready for the user */
	/* Allocator for messages netspy_client_next returns (NULL: malloc); set it after
	 * connecting and free those messages with it. */
	ProtobufCAllocator *alloc;
};

struct netspy_subscription {
	uint64_t replay_since_ns; /* 0: no replay */
	bool live;		  /* keep streaming after the replay */
	const uint32_t *pids;
	size_t n_pids;
	const char *const *comms;
	size_t n_comms;
	const int *kinds; /* Netspy__V1__EventKind values */
	size_t n_kinds;
};

/* Every event kind this build reads, for a subscription that wants them all (a subscription
 * naming none gets only the first three, which every client knows). */
extern const int netspy_known_kinds[];
extern const size_t netspy_n_known_kinds;

/* The socket path: flag if given, else $NETSPY_SOCKET, else the default. */
const char *netspy_socket_path(const char *flag);

/* Connects, says hello and waits for the daemon's hello (timeout_ms, -1 forever). Returns 0 or
 * -errno with c->error explaining what to do: -ENOENT/-ECONNREFUSED (not running), -EACCES
 * (permission), -EPROTO (version mismatch or protocol violation), -ETIMEDOUT. */
int netspy_client_connect(struct netspy_client *c, const char *path, const char *software,
			  int timeout_ms);
void netspy_client_close(struct netspy_client *c);

int netspy_client_request_stats(struct netspy_client *c);
int netspy_client_subscribe(struct netspy_client *c, const struct netspy_subscription *s);
/* Sends what is queued (blocking). 0 or -errno. */
int netspy_client_flush(struct netspy_client *c);

/* Waits up to timeout_ms (-1 forever, 0 poll) for the next message. Returns 1 with *ret (free with
 * netspy__v1__server_message__free_unpacked), 0 on timeout, -EPIPE when the daemon closed the
 * connection, -EPROTO on a malformed frame (c->error says why), or another -errno. An Error
 * message from the daemon is returned like any other. */
int netspy_client_next(struct netspy_client *c, int timeout_ms, Netspy__V1__ServerMessage **ret);

/* One Counters round trip (CountersRequest for [since_ns, until_ns)); -EPROTO when the daemon
 * answers with an Error (an older daemon that does not keep counters). */
int netspy_client_get_counters(struct netspy_client *c, uint64_t since_ns, uint64_t until_ns,
			       int timeout_ms, Netspy__V1__Counters **ret,
			       Netspy__V1__ServerMessage **ret_owner);
/* Convenience: one Stats round trip. */
int netspy_client_get_stats(struct netspy_client *c, int timeout_ms, Netspy__V1__Stats **ret,
			    Netspy__V1__ServerMessage **ret_owner);

#endif
