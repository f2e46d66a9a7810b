/* netspyd's per-second counters: events by type, protocol, outcome and drop reason for the last
 * TALLY_SECONDS seconds, each folded record counted as its count. They make totals exact for any
 * window they cover, however few events the backlog still holds. Bounded: a second holds at most
 * TALLY_MAX_ENTRIES distinct counters (the rest are summed under key TALLY_KEY_OTHER). */
#ifndef NETSPYD_TALLY_H
#define NETSPYD_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "netspy.h"

#define TALLY_SECONDS 4096 /* a little over an hour */
#define TALLY_MAX_ENTRIES 512
#define TALLY_KEY_OTHER 0xffffffffu
#define TALLY_OTHER_ROOM 64 /* entries kept for the "other" entries of a full second */

/* Mirrors netspy.v1.CounterKind; TALLY_LOST counts kernel losses (key 0, type 0). */
enum tally_kind {
	TALLY_EVENTS = 1,
	TALLY_PROTOCOL = 2,
	TALLY_OUTCOME = 3,
	TALLY_DROP_REASON = 4,
	TALLY_LOST = 5,
};

struct tally_entry {
	uint8_t kind; /* enum tally_kind */
	uint8_t type; /* enum netspy_event_type */
	uint16_t pad;
	uint32_t key;
	uint64_t count;
};

struct tally_slot {
	uint64_t sec; /* wall-clock second it counts, 0: empty */
	struct tally_entry *e;
	uint32_t n, cap;
};

struct tally {
	struct tally_slot *slots; /* TALLY_SECONDS */
	uint64_t start_sec;	  /* first second counted (the daemon's start) */
	uint64_t newest_sec;
};

int tally_init(struct tally *t, uint64_t now_ns);
void tally_fini(struct tally *t);
void tally_add(struct tally *t, uint64_t ts_ns, enum tally_kind kind, uint8_t type, uint32_t key,
	       uint64_t count);
/* Counts one record (wall-clock ts_ns) as weight events. */
void tally_event(struct tally *t, const struct netspy_event *ev, uint64_t ts_ns, uint64_t weight);
/* Sums the seconds of [since_ns, until_ns) still held into *ret (malloc'd, *ret_n entries, one per
 * kind/type/key). *ret_since_ns: the start of what is covered (later than since_ns when the
 * counters do not reach back that far). 0 or -ENOMEM. */
int tally_query(const struct tally *t, uint64_t since_ns, uint64_t until_ns,
		struct tally_entry **ret, size_t *ret_n, uint64_t *ret_since_ns);

#endif
