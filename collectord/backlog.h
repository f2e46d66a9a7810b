/* The bounded in-memory backlog of recent events: a ring indexed by sequence number, limited in
 * count and in age. Clients read from it through cursors, so it is also every client's queue. */
#ifndef NETSPYD_BACKLOG_H
#define NETSPYD_BACKLOG_H

#include <stddef.h>
#include <stdint.h>

#include "netspy.h"

/* ts_ns is wall-clock time (ns since the Unix epoch) once stored. */
struct backlog {
	struct netspy_event *ring;
	size_t cap;    /* ring slots, a power of two */
	size_t limit;  /* events kept (<= cap), as configured */
	uint64_t head; /* sequence number the next event gets */
	uint64_t tail; /* oldest sequence number still held */
	uint64_t max_age_ns;
	/* The bytes of DNS events, which do not fit the fixed-size records: a ring of
	 * NETSPY_DNS_MAX-byte slots, fewer than the records (DNS is a small share of the events).
	 * An event's dns.ref is its slot's position + 1; a slot reused since is gone (0 bytes). */
	uint8_t *payload;
	uint64_t *payload_seq;	  /* per slot: the sequence number of the event using it */
	size_t payload_cap;	  /* slots, a power of two */
	uint64_t payload_head;	  /* positions handed out */
	uint64_t payload_evicted; /* DNS events whose bytes were reused while still held */
	/* What was pushed out (overwritten or expired), each folded record as its count, and the
	 * newest timestamp among it: the backlog holds every event after that. */
	uint64_t evicted;
	uint64_t evicted_newest_ns;
};

int backlog_init(struct backlog *b, size_t capacity, uint64_t max_age_ns);
void backlog_fini(struct backlog *b);
/* Appends a copy of ev (overwriting the oldest when full). Returns its sequence number. */
uint64_t backlog_push(struct backlog *b, const struct netspy_event *ev);
/* Appends a DNS event and its dns.cap_len bytes. Returns its sequence number. */
uint64_t backlog_push_dns(struct backlog *b, const struct netspy_event *ev, const uint8_t *data);
/* The bytes of DNS event ev (held by the backlog): NULL with *ret_len 0 when they are gone. */
const uint8_t *backlog_payload(const struct backlog *b, const struct netspy_event *ev,
			       size_t *ret_len);
/* The event with sequence number seq, or NULL when it is no longer (or not yet) held. */
const struct netspy_event *backlog_get(const struct backlog *b, uint64_t seq);
/* Drops events older than now_ns - max_age. Returns how many were dropped. */
size_t backlog_expire(struct backlog *b, uint64_t now_ns);
/* First sequence number whose event is at or after since_ns (head when none). */
uint64_t backlog_seek(const struct backlog *b, uint64_t since_ns);
static inline size_t backlog_len(const struct backlog *b)
{
	return (size_t)(b->head - b->tail);
}

#endif
