/* The bounded backlog: a power-of-two ring of fixed-size records addressed by sequence number. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"

int backlog_init(struct backlog *b, size_t capacity, uint64_t max_age_ns)
{
	size_t cap = 1;

	memset(b, 0, sizeof(*b));
	if (capacity == 0 || capacity > ((size_t)1 << 30))
		return -EINVAL;
	while (cap < capacity)
		cap <<= 1;
	b->ring = calloc(cap, sizeof(*b->ring));
	if (!b->ring)
		return -ENOMEM;
	/* One payload slot per 16 records, between 64 and 16384 slots (32 KiB to 8 MiB). */
	b->payload_cap = 64;
	while (b->payload_cap < cap / 16 && b->payload_cap < 16384)
		b->payload_cap <<= 1;
	b->payload = malloc(b->payload_cap * NETSPY_DNS_MAX);
	b->payload_seq = calloc(b->payload_cap, sizeof(*b->payload_seq));
	if (!b->payload || !b->payload_seq) {
		backlog_fini(b);
		return -ENOMEM;
	}
	b->cap = cap;
	b->limit = capacity;
	b->max_age_ns = max_age_ns;
	/* Sequence numbers start at 1 so that 0 can mean "none". */
	b->head = b->tail = 1;
	return 0;
}

void backlog_fini(struct backlog *b)
{
	free(b->ring);
	free(b->payload);
	free(b->payload_seq);
	memset(b, 0, sizeof(*b));
}

static void evict(struct backlog *b, const struct netspy_event *ev)
{
	b->evicted += netspy_event_count(ev);
	if (ev->ts_ns > b->evicted_newest_ns)
		b->evicted_newest_ns = ev->ts_ns;
}

uint64_t backlog_push(struct backlog *b, const struct netspy_event *ev)
{
	uint64_t seq;

	if (b->head - b->tail >= b->limit)
		evict(b, &b->ring[b->tail & (b->cap - 1)]);
	seq = b->head++;

	memcpy(&b->ring[seq & (b->cap - 1)], ev, sizeof(*ev));
	if (b->head - b->tail > b->limit)
		b->tail = b->head - b->limit;
	return seq;
}

uint64_t backlog_push_dns(struct backlog *b, const struct netspy_event *ev, const uint8_t *data)
{
	uint64_t seq = backlog_push(b, ev), pos = b->payload_head++;
	struct netspy_event *stored = &b->ring[seq & (b->cap - 1)];
	size_t len = stored->dns.cap_len <= NETSPY_DNS_MAX ? stored->dns.cap_len : NETSPY_DNS_MAX;

	/* The slot's previous event, if the backlog still holds it, loses its bytes. */
	if (pos >= b->payload_cap && b->payload_seq[pos & (b->payload_cap - 1)] >= b->tail)
		b->payload_evicted++;
	b->payload_seq[pos & (b->payload_cap - 1)] = seq;
	memcpy(b->payload + (pos & (b->payload_cap - 1)) * NETSPY_DNS_MAX, data, len);
	stored->dns.cap_len = (uint16_t)len;
	stored->dns.ref = pos + 1;
	return seq;
}

const uint8_t *backlog_payload(const struct backlog *b, const struct netspy_event *ev,
			       size_t *ret_len)
{
	uint64_t pos;

	*ret_len = 0;
	if (ev->type != NETSPY_EV_DNS || !ev->dns.ref || ev->dns.ref > b->payload_head)
		return NULL;
	pos = ev->dns.ref - 1;
	if (b->payload_head - pos > b->payload_cap)
		return NULL;
	*ret_len = ev->dns.cap_len;
	return b->payload + (pos & (b->payload_cap - 1)) * NETSPY_DNS_MAX;
}

const struct netspy_event *backlog_get(const struct backlog *b, uint64_t seq)
{
	if (seq < b->tail || seq >= b->head)
		return NULL;
	return &b->ring[seq & (b->cap - 1)];
}

size_t backlog_expire(struct backlog *b, uint64_t now_ns)
{
	size_t n = 0;

	if (!b->max_age_ns || now_ns < b->max_age_ns)
		return 0;
	while (b->tail < b->head &&
	       b->ring[b->tail & (b->cap - 1)].ts_ns < now_ns - b->max_age_ns) {
		evict(b, &b->ring[b->tail & (b->cap - 1)]);
		b->tail++;
		n++;
	}
	return n;
}

uint64_t backlog_seek(const struct backlog *b, uint64_t since_ns)
{
	/* Timestamps from different CPUs can be a little out of order: a linear scan keeps the
	 * answer exact (no event at or after since_ns is skipped). */
	for (uint64_t s = b->tail; s < b->head; s++)
		if (b->ring[s & (b->cap - 1)].ts_ns >= since_ns)
			return s;
	return b->head;
}
