/* Rolling stored events up into per-minute rows for the history database: connections by
 * process, unit, destination, protocol, outcome and direction; TCP handshake latency histograms by
 * process and unit; drops by reason, protocol, process and unit. Distinct keys are capped per
 * minute: the rest is summed under "other" so that totals stay exact. Also the small hash map of
 * byte-string keys this (and the recorder's metrics) count in. Library code: it does not print. */
#ifndef NETSPY_ROLLUP_H
#define NETSPY_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/history.h"
#include "core/store.h"

/* ---- kmap: byte-string key -> fixed-size value (zeroed when created) ---- */
struct kmap_entry {
	char *key; /* NUL-separated fields, klen bytes */
	size_t klen;
	uint64_t hash;
	void *value;
};
struct kmap {
	struct kmap_entry *v;
	size_t n, cap, vsize;
};
void kmap_init(struct kmap *m, size_t vsize);
void kmap_fini(struct kmap *m);
/* The value of key, created when missing (NULL when out of memory). *ret_created when new. */
void *kmap_get(struct kmap *m, const void *key, size_t klen, bool *ret_created);
void *kmap_find(const struct kmap *m, const void *key, size_t klen);

/* Key fields joined with NUL bytes (a missing field is "\x01"): the kmap key format. */
struct keybuf {
	char b[512];
	size_t n;
};
void keybuf_reset(struct keybuf *k);
void keybuf_add(struct keybuf *k, const char *field); /* NULL: missing */
/* Field i of a key (NULL when missing). */
const char *key_field(const char *key, size_t klen, unsigned i);

struct rollup_conn_val {
	uint64_t count, failed;
};
struct rollup_latency_val {
	uint64_t buckets[HISTORY_N_BUCKETS];
	uint64_t sum_us;
};

struct rollup {
	uint64_t t; /* minute start (s) */
	unsigned max_keys;
	uint64_t events, lost, unaccounted;
	struct kmap conns, latency, drops; /* values: conn_val, latency_val, uint64_t */
	/* the rows handed to history_write_minute (rollup_rows) */
	struct history_minute out;
};

/* What one event amounts to, as strings: the recorder's metrics count the same keys. */
struct rollup_conn {
	char process[64], unit[128], destination[80];
	uint8_t protocol, outcome, direction;
	bool failed;
	uint32_t latency_us; /* 0: none */
};
struct rollup_drop {
	char reason[STORE_REASON_LEN * 4], process[64];
	uint8_t protocol;
	bool attributed;
	uint32_t count; /* drops the record stands for (folded during a flood), at least 1 */
};
void rollup_describe_conn(struct store *s, uint64_t abs, struct rollup_conn *ret);
void rollup_describe_drop(struct store *s, uint64_t abs, struct rollup_drop *ret);

void rollup_init(struct rollup *r, uint64_t minute_start, unsigned max_keys);
void rollup_fini(struct rollup *r);
/* Counts one connection; returns the counters it went to (they stay put until rollup_fini), or
 * NULL when out of memory. */
struct rollup_conn_val *rollup_add_conn(struct rollup *r, const struct rollup_conn *c);
/* unit: the unit the drop's owner was seen connecting from, or NULL. */
int rollup_add_drop(struct rollup *r, const struct rollup_drop *d, const char *unit);
/* Fills r->out with at most max_keys rows per table plus the "other" rows. 0 or -ENOMEM. */
int rollup_rows(struct rollup *r);

#endif
