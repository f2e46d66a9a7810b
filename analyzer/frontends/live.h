/* netspyctl's daemon-facing commands: status and watch. */
#ifndef NETSPY_LIVE_H
#define NETSPY_LIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

#include "netspy.pb-c.h"

struct live_opts {
	const char *socket; /* NULL: $NETSPY_SOCKET or the default */
	bool json;
	uint32_t pid;		 /* 0: all */
	const char *process;	 /* NULL: all */
	uint64_t replay_seconds; /* watch: start with the last N seconds of the backlog */
	uint64_t max_events;	 /* watch: stop after this many (0: never) */
	uint64_t timeout_s;	 /* watch: stop after this long (0: never) */
	const char *history;	 /* status: the recorder's database (NULL: default) */
};

/* Each returns an exit code of the contract (0, 2, 3). */
int live_status(const struct live_opts *o);
int live_watch(const struct live_opts *o);
/* The `status --json` object of a Stats message (also the MCP resource netspy://status). */
json_object *live_stats_json(const Netspy__V1__Stats *st);

#endif
