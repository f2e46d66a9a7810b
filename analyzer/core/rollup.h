/* Rolling stored events up into per-minute rows for the history database: connections by
 * process, unit, destination, protocol, outcome and direction; TCP handshake latency histograms by
 * process and unit; drops by reason, protocol, process and unit; DNS queries by process, unit,
 * name and rcode with their latency; TCP quality (connection ends, bytes, retransmits, resets)
 * by process, unit, remote end and direction with the RTT at the end. Distinct keys are capped per
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
	char b[1280];
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

struct rollup_tcp_val {
	uint64_t ended[STORE_N_ENDS]; /* by enum store_end (0 unused) */
	uint64_t bytes_sent, bytes_received, segs_out, end_retransmits;
	uint64_t retransmits, resets_sent, resets_received; /* signals */
};

struct rollup {
	uint64_t t; /* minute start (s) */
	unsigned max_keys;
	uint64_t events, lost, unaccounted;
	struct kmap conns, latency, drops; /* values: conn_val, latency_val, uint64_t */
	struct kmap dns, dns_latency;	   /* uint64_t, latency_val */
	struct kmap tcp, rtt;		   /* tcp_val, latency_val */
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
/* A DNS query, as of its rollup: rcode -1 when it went unanswered. */
struct rollup_dns {
	char process[64], unit[128], name[STORE_NAME_LEN * 2];
	int rcode;
	uint32_t latency_us; /* answered ones */
};
/* A TCP connection's end (end > 0, with its totals) or a signal (end 0: a retransmitted
 * segment or a reset). destination: the remote end of an outbound connection, the local end
 * (the listening port) of an accepted one, a signal's peer. */
struct rollup_tcp {
	char process[64], unit[128], destination[80];
	uint8_t direction, end;
	uint64_t bytes_sent, bytes_received;
	uint32_t segs_out, end_retransmits, rtt_us;
	uint32_t retransmits, resets_sent, resets_received;
};
void rollup_describe_conn(struct store *s, uint64_t abs, struct rollup_conn *ret);
void rollup_describe_dns(struct store *s, uint64_t abs, struct rollup_dns *ret);
/* An end (index into s->ends): false when its connection is no longer stored. */
bool rollup_describe_end(struct store *s, uint64_t abs, struct rollup_tcp *ret);
/* A signal; its unit is the caller's (that of a connect of its owner). */
void rollup_describe_signal(struct store *s, uint64_t abs, const char *unit,
			    struct rollup_tcp *ret);
void rollup_describe_drop(struct store *s, uint64_t abs, struct rollup_drop *ret);

void rollup_init(struct rollup *r, uint64_t minute_start, unsigned max_keys);
void rollup_fini(struct rollup *r);
/* Counts one connection; returns the counters it went to (they stay put until rollup_fini), or
 * NULL when out of memory. */
struct rollup_conn_val *rollup_add_conn(struct rollup *r, const struct rollup_conn *c);
/* unit: the unit the drop's owner was seen connecting from, or NULL. */
int rollup_add_drop(struct rollup *r, const struct rollup_drop *d, const char *unit);
int rollup_add_dns(struct rollup *r, const struct rollup_dns *d);
int rollup_add_tcp(struct rollup *r, const struct rollup_tcp *x);
/* Fills r->out with at most max_keys rows per table plus the "other" rows. 0 or -ENOMEM. */
int rollup_rows(struct rollup *r);

#endif
