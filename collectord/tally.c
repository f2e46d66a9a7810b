/* netspyd's per-second counters (see tally.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

int tally_init(struct tally *t, uint64_t now_ns)
{
	t->slots = calloc(TALLY_SECONDS, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->start_sec = now_ns / 1000000000ull;
	t->newest_sec = t->start_sec;
	return 0;
}

void tally_fini(struct tally *t)
{
	for (size_t i = 0; t->slots && i < TALLY_SECONDS; i++)
		free(t->slots[i].e);
	free(t->slots);
	t->slots = NULL;
}

static struct tally_entry *find(struct tally_entry *e, uint32_t n, uint8_t kind, uint8_t type,
				uint32_t key)
{
	for (uint32_t i = 0; i < n; i++)
		if (e[i].kind == kind && e[i].type == type && e[i].key == key)
			return &e[i];
	return NULL;
}

void tally_add(struct tally *t, uint64_t ts_ns, enum tally_kind kind, uint8_t type, uint32_t key,
	       uint64_t count)
{
	uint64_t sec = ts_ns / 1000000000ull;
	struct tally_slot *s;
	struct tally_entry *e;

	if (!t->slots || !count)
		return;
	/* A record dated before the daemon started or beyond the kept hour (a folded count of an
	 * earlier second, a clock step) counts in the oldest second still held. */
	if (sec < t->start_sec)
		sec = t->start_sec;
	if (sec > t->newest_sec)
		t->newest_sec = sec;
	if (sec + TALLY_SECONDS <= t->newest_sec)
		sec = t->newest_sec - TALLY_SECONDS + 1;
	s = &t->slots[sec % TALLY_SECONDS];
	if (s->sec != sec) {
		s->sec = sec;
		s->n = 0;
	}
	e = find(s->e, s->n, (uint8_t)kind, type, key);
	if (!e && s->n >= TALLY_MAX_ENTRIES) {
		/* Full: the count goes to its kind's "other" entry (room is kept for those). */
		key = TALLY_KEY_OTHER;
		e = find(s->e, s->n, (uint8_t)kind, type, key);
	}
	if (!e && s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		struct tally_entry *m;

		if (cap > TALLY_MAX_ENTRIES)
			cap = TALLY_MAX_ENTRIES + TALLY_OTHER_ROOM;
		m = cap > s->cap ? realloc(s->e, cap * sizeof(*m)) : NULL;
		if (!m)
			return; /* no memory, or no room left at all for this second */
		s->e = m;
		s->cap = cap;
	}
	if (!e) {
		e = &s->e[s->n++];
		*e = (struct tally_entry){ .kind = (uint8_t)kind, .type = type, .key = key };
	}
	e->count += count;
}

void tally_event(struct tally *t, const struct netspy_event *ev, uint64_t ts_ns, uint64_t weight)
{
	/* The counters cover the kinds of the protocol's first release, whose record types equal
	 * their EventKind: a client's validator refuses a Counters message naming another kind. */
	if (ev->type != NETSPY_EV_CONNECT && ev->type != NETSPY_EV_TCP_OUTCOME &&
	    ev->type != NETSPY_EV_DROP)
		return;
	tally_add(t, ts_ns, TALLY_EVENTS, ev->type, 0, weight);
	tally_add(t, ts_ns, TALLY_PROTOCOL, ev->type, ev->ip_proto, weight);
	if (ev->type == NETSPY_EV_TCP_OUTCOME)
		tally_add(t, ts_ns, TALLY_OUTCOME, ev->type, ev->outcome, weight);
	else if (ev->type == NETSPY_EV_DROP)
		tally_add(t, ts_ns, TALLY_DROP_REASON, ev->type, ev->drop.reason, weight);
}

int tally_query(const struct tally *t, uint64_t since_ns, uint64_t until_ns,
		struct tally_entry **ret, size_t *ret_n, uint64_t *ret_since_ns)
{
	uint64_t first = since_ns / 1000000000ull, last, oldest;
	struct tally_entry *out = NULL;
	size_t n = 0, cap = 0;

	last = until_ns ? (until_ns - 1) / 1000000000ull : t->newest_sec;
	oldest = t->newest_sec >= TALLY_SECONDS ? t->newest_sec - TALLY_SECONDS + 1 : 0;
	if (oldest < t->start_sec)
		oldest = t->start_sec;
	if (first < oldest)
		first = oldest;
	*ret_since_ns = since_ns > first * 1000000000ull ? since_ns : first * 1000000000ull;
	for (uint64_t sec = first; sec <= last && sec <= t->newest_sec; sec++) {
		const struct tally_slot *s = &t->slots[sec % TALLY_SECONDS];

		if (s->sec != sec)
			continue;
		for (uint32_t i = 0; i < s->n; i++) {
			struct tally_entry *e =
			    find(out, (uint32_t)n, s->e[i].kind, s->e[i].type, s->e[i].key);

			if (!e) {
				if (n == cap) {
					size_t c = cap ? cap * 2 : 64;
					struct tally_entry *m = realloc(out, c * sizeof(*m));

					if (!m) {
						free(out);
						return -ENOMEM;
					}
					out = m;
					cap = c;
				}
				e = &out[n++];
				*e = s->e[i];
				e->count = 0;
			}
			e->count += s->e[i].count;
		}
	}
	*ret = out;
	*ret_n = n;
	return 0;
}
