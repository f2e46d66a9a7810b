/* Per-minute rollups of stored events, with the key cap and its "other" rows (see rollup.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/format.h"
#include "core/rollup.h"

#define MISSING "\x01"

/* ---- kmap ---- */

static uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

void kmap_init(struct kmap *m, size_t vsize)
{
	memset(m, 0, sizeof(*m));
	m->vsize = vsize;
}

void kmap_fini(struct kmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->v[i].key) {
			free(m->v[i].key);
			free(m->v[i].value);
		}
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
}

static struct kmap_entry *slot(const struct kmap *m, const void *key, size_t klen, uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);

	while (m->v[i].key &&
	       !(m->v[i].hash == h && m->v[i].klen == klen && !memcmp(m->v[i].key, key, klen)))
		i = (i + 1) & (m->cap - 1);
	return &m->v[i];
}

void *kmap_find(const struct kmap *m, const void *key, size_t klen)
{
	struct kmap_entry *e;

	if (!m->cap)
		return NULL;
	e = slot(m, key, klen, hash_bytes(key, klen));
	return e->key ? e->value : NULL;
}

static int grow(struct kmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct kmap_entry *old = m->v, *v = calloc(cap, sizeof(*v));
	size_t ocap = m->cap;

	if (!v)
		return -ENOMEM;
	m->v = v;
	m->cap = cap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].key)
			*slot(m, old[i].key, old[i].klen, old[i].hash) = old[i];
	free(old);
	return 0;
}

void *kmap_get(struct kmap *m, const void *key, size_t klen, bool *ret_created)
{
	uint64_t h = hash_bytes(key, klen);
	struct kmap_entry *e;

	if (ret_created)
		*ret_created = false;
	if ((m->n + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return NULL;
	e = slot(m, key, klen, h);
	if (e->key)
		return e->value;
	e->key = malloc(klen);
	e->value = calloc(1, m->vsize ? m->vsize : 1);
	if (!e->key || !e->value) {
		free(e->key);
		free(e->value);
		e->key = NULL;
		return NULL;
	}
	memcpy(e->key, key, klen);
	e->klen = klen;
	e->hash = h;
	m->n++;
	if (ret_created)
		*ret_created = true;
	return e->value;
}

void keybuf_reset(struct keybuf *k)
{
	k->n = 0;
}

void keybuf_add(struct keybuf *k, const char *field)
{
	size_t n = strlen(field ? field : MISSING);

	if (n > sizeof(k->b) - k->n - 1)
		n = sizeof(k->b) - k->n - 1;
	memcpy(k->b + k->n, field ? field : MISSING, n);
	k->n += n;
	k->b[k->n++] = 0;
}

const char *key_field(const char *key, size_t klen, unsigned i)
{
	size_t off = 0;

	for (; i && off < klen; i--)
		off += strlen(key + off) + 1;
	if (off >= klen || !strcmp(key + off, MISSING))
		return NULL;
	return key + off;
}

/* ---- describing events ---- */

static void comm_of(const struct store *s, uint16_t id, char *buf, size_t len)
{
	size_t n;
	const uint8_t *c = store_comm(s, id, &n);

	fmt_sanitize(buf, len, c, n);
}

void rollup_describe_conn(struct store *s, uint64_t abs, struct rollup_conn *ret)
{
	const struct store_conn *c = store_conn_at(s, abs);
	const struct store_endpoint *e = store_endpoint(s, c->dst);
	const struct store_cgroup_info *cg = store_cgroup(s, c->cgroup);
	const char *unit = cg ? (cg->unit ? cg->unit : cg->container) : NULL;
	char ip[FMT_ADDR_LEN] = "";

	comm_of(s, c->comm, ret->process, sizeof(ret->process));
	snprintf(ret->unit, sizeof(ret->unit), "%s", unit ? unit : "");
	if (e->family == AF_INET || e->family == AF_INET6)
		inet_ntop(e->family, e->addr, ip, sizeof(ip));
	snprintf(ret->destination, sizeof(ret->destination),
		 e->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, e->port);
	ret->protocol = c->proto;
	ret->outcome = (uint8_t)store_conn_verdict(s, abs, &ret->failed);
	ret->direction =
	    (c->flags & STORE_CONN_INBOUND) ? HISTORY_DIR_INBOUND : HISTORY_DIR_OUTBOUND;
	ret->latency_us = c->latency_us;
}

void rollup_describe_drop(struct store *s, uint64_t abs, struct rollup_drop *ret)
{
	const struct store_drop *d = store_drop_at(s, abs);
	const char *rs = store_reason(s, d->reason);

	fmt_sanitize(ret->reason, sizeof(ret->reason), (const uint8_t *)rs, strlen(rs));
	ret->protocol = d->proto;
	ret->attributed = d->attributed;
	ret->count = d->count ? d->count : 1;
	ret->process[0] = 0;
	if (d->attributed)
		comm_of(s, d->comm, ret->process, sizeof(ret->process));
}

void rollup_describe_dns(struct store *s, uint64_t abs, struct rollup_dns *ret)
{
	const struct store_dns *q = store_dns_at(s, abs);
	const struct store_cgroup_info *cg = store_cgroup(s, q->cgroup);
	const char *unit = cg ? (cg->unit ? cg->unit : cg->container) : NULL;
	const char *name = store_name(s, q->name);

	comm_of(s, q->comm, ret->process, sizeof(ret->process));
	snprintf(ret->unit, sizeof(ret->unit), "%s", unit ? unit : "");
	fmt_sanitize(ret->name, sizeof(ret->name), (const uint8_t *)name,
		     strnlen(name, STORE_NAME_LEN));
	if (q->flags & STORE_DNS_ANSWERED) {
		ret->rcode = q->rcode & 0xfff;
		ret->latency_us = q->latency_us;
	} else {
		ret->rcode = -1;
		ret->latency_us = 0;
	}
}

static void endpoint_text(struct store *s, uint32_t id, char *buf, size_t len)
{
	const struct store_endpoint *e = store_endpoint(s, id);
	char ip[FMT_ADDR_LEN] = "";

	if (e->family == AF_INET || e->family == AF_INET6)
		inet_ntop(e->family, e->addr, ip, sizeof(ip));
	snprintf(buf, len, e->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, e->port);
}

bool rollup_describe_end(struct store *s, uint64_t abs, struct rollup_tcp *ret)
{
	const struct store_end_ref *ref = store_end_at(s, abs);
	const struct store_conn *c;
	const struct store_cgroup_info *cg;
	const struct store_life *l;
	const char *unit;

	memset(ret, 0, sizeof(*ret));
	if (ref->conn + s->conns.count < s->conns.head || ref->conn >= s->conns.head)
		return false;
	c = store_conn_at(s, ref->conn);
	l = store_conn_life(s, ref->conn);
	if (!l || !l->ended)
		return false;
	cg = store_cgroup(s, c->cgroup);
	unit = cg ? (cg->unit ? cg->unit : cg->container) : NULL;
	comm_of(s, c->comm, ret->process, sizeof(ret->process));
	snprintf(ret->unit, sizeof(ret->unit), "%s", unit ? unit : "");
	/* an accepted connection's dst is the local end: the port it was accepted on */
	endpoint_text(s, c->dst, ret->destination, sizeof(ret->destination));
	ret->direction =
	    (c->flags & STORE_CONN_INBOUND) ? HISTORY_DIR_INBOUND : HISTORY_DIR_OUTBOUND;
	ret->end = l->end >= STORE_END_CLOSED && l->end < STORE_N_ENDS ? l->end : STORE_END_CLOSED;
	ret->bytes_sent = l->bytes_sent;
	ret->bytes_received = l->bytes_received;
	ret->segs_out = l->segs_out;
	ret->end_retransmits = l->retrans;
	ret->rtt_us = l->rtt_us;
	return true;
}

void rollup_describe_signal(struct store *s, uint64_t abs, const char *unit,
			    struct rollup_tcp *ret)
{
	const struct store_signal *g = store_signal_at(s, abs);
	/* A record folded during a flood counts as the retransmissions or resets it stands for. */
	uint64_t n = g->kind == STORE_SIG_RETRANSMIT ? store_signal_segments(g) : store_signal_count(g);

	memset(ret, 0, sizeof(*ret));
	if (g->pid)
		comm_of(s, g->comm, ret->process, sizeof(ret->process));
	snprintf(ret->unit, sizeof(ret->unit), "%s", unit ? unit : "");
	endpoint_text(s, g->peer, ret->destination, sizeof(ret->destination));
	ret->direction = g->inbound ? HISTORY_DIR_INBOUND : HISTORY_DIR_OUTBOUND;
	if (n > UINT32_MAX) /* more than the rollup's fields hold for one record: never in practice */
		n = UINT32_MAX;
	if (g->kind == STORE_SIG_RETRANSMIT)
		ret->retransmits = (uint32_t)n;
	else if (g->kind == STORE_SIG_RESET_SENT)
		ret->resets_sent = (uint32_t)n;
	else
		ret->resets_received = (uint32_t)n;
}

/* ---- the minute ---- */

/* Keys held in memory before the cap: new keys past it go to "other" at once. */
static size_t hold_cap(const struct rollup *r)
{
	return r->max_keys * 4 > 4096 ? r->max_keys * 4 : 4096;
}

void rollup_init(struct rollup *r, uint64_t minute_start, unsigned max_keys)
{
	memset(r, 0, sizeof(*r));
	r->t = minute_start;
	r->max_keys = max_keys ? max_keys : 1000;
	kmap_init(&r->conns, sizeof(struct rollup_conn_val));
	kmap_init(&r->latency, sizeof(struct rollup_latency_val));
	kmap_init(&r->drops, sizeof(uint64_t));
	kmap_init(&r->dns, sizeof(uint64_t));
	kmap_init(&r->dns_latency, sizeof(struct rollup_latency_val));
	kmap_init(&r->tcp, sizeof(struct rollup_tcp_val));
	kmap_init(&r->rtt, sizeof(struct rollup_latency_val));
}

static void free_out(struct rollup *r)
{
	free(r->out.conns);
	free(r->out.latency);
	free(r->out.drops);
	free(r->out.dns);
	free(r->out.dns_latency);
	free(r->out.tcp);
	free(r->out.rtt);
	memset(&r->out, 0, sizeof(r->out));
}

void rollup_fini(struct rollup *r)
{
	kmap_fini(&r->conns);
	kmap_fini(&r->latency);
	kmap_fini(&r->drops);
	kmap_fini(&r->dns);
	kmap_fini(&r->dns_latency);
	kmap_fini(&r->tcp);
	kmap_fini(&r->rtt);
	free_out(r);
}

static void small_fields(struct keybuf *k, uint8_t a, uint8_t b, uint8_t c, int n)
{
	char buf[8];
	uint8_t v[3] = { a, b, c };

	for (int i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%u", v[i]);
		keybuf_add(k, buf);
	}
}

static void conn_key(struct keybuf *k, const char *process, const char *unit, const char *dst,
		     uint8_t proto, uint8_t outcome, uint8_t dir)
{
	keybuf_reset(k);
	keybuf_add(k, process);
	keybuf_add(k, unit && unit[0] ? unit : NULL);
	keybuf_add(k, dst);
	small_fields(k, proto, outcome, dir, 3);
}

static void lat_key(struct keybuf *k, const char *process, const char *unit)
{
	keybuf_reset(k);
	keybuf_add(k, process);
	keybuf_add(k, unit && unit[0] ? unit : NULL);
}

static void drop_key(struct keybuf *k, const char *reason, uint8_t proto, const char *process,
		     const char *unit)
{
	keybuf_reset(k);
	keybuf_add(k, reason);
	small_fields(k, proto, 0, 0, 1);
	keybuf_add(k, process && process[0] ? process : NULL);
	keybuf_add(k, unit && unit[0] ? unit : NULL);
}

static void dns_key(struct keybuf *k, const char *process, const char *unit, const char *name,
		    int rcode)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", rcode);
	keybuf_reset(k);
	keybuf_add(k, process && process[0] ? process : NULL);
	keybuf_add(k, unit && unit[0] ? unit : NULL);
	keybuf_add(k, name);
	keybuf_add(k, buf);
}

static void tcp_key(struct keybuf *k, const char *process, const char *unit, const char *dst,
		    uint8_t dir)
{
	keybuf_reset(k);
	keybuf_add(k, process && process[0] ? process : NULL);
	keybuf_add(k, unit && unit[0] ? unit : NULL);
	keybuf_add(k, dst);
	small_fields(k, dir, 0, 0, 1);
}

/* ---- the key cap ---- */

/* A key as a row shows it: its own fields, or "other" for the fields an "other" row sums over. */
struct row_key {
	const char *key;
	size_t klen;
	unsigned folded; /* bit i: field i reads HISTORY_OTHER */
};

static const char *row_field(const struct row_key *k, unsigned i)
{
	return k->folded & 1u << i ? HISTORY_OTHER : key_field(k->key, k->klen, i);
}

static uint8_t row_small(const struct row_key *k, unsigned i)
{
	return (uint8_t)atoi(row_field(k, i));
}

/* What folding needs to know of a table. Past the cap a key goes to the "other" row of the
 * fields that are not folded: one per protocol, outcome and direction for connections, per
 * reason and protocol for drops, per rcode for DNS, per direction for TCP, one for latency. */
struct table {
	/* the key fields an "other" row sums over (bit i: field i); the first is the process */
	unsigned folded;
	size_t row_size; /* of its rows in struct history_minute */
	/* what ranks its keys; a new row's key fields; a key's counters added to a row */
	uint64_t (*count)(const void *value);
	void (*row)(void *row, const struct row_key *k);
	void (*add)(void *row, const void *value);
};

static uint64_t conn_count(const void *v)
{
	return ((const struct rollup_conn_val *)v)->count;
}

static void conn_row(void *row, const struct row_key *k)
{
	*(struct history_conn_row *)row = (struct history_conn_row){
		.process = row_field(k, 0),
		.unit = row_field(k, 1),
		.destination = row_field(k, 2),
		.protocol = row_small(k, 3),
		.outcome = row_small(k, 4),
		.direction = row_small(k, 5),
	};
}

static void conn_add(void *row, const void *value)
{
	struct history_conn_row *to = row;
	const struct rollup_conn_val *v = value;

	to->count += v->count;
	to->failed += v->failed;
}

static const struct table conn_table = { 0x7, sizeof(struct history_conn_row), conn_count, conn_row,
					 conn_add };

static uint64_t lat_count(const void *v)
{
	const struct rollup_latency_val *l = v;
	uint64_t n = 0;

	for (int i = 0; i < HISTORY_N_BUCKETS; i++)
		n += l->buckets[i];
	return n;
}

static void lat_row(void *row, const struct row_key *k)
{
	*(struct history_latency_row *)row = (struct history_latency_row){
		.process = row_field(k, 0),
		.unit = row_field(k, 1),
	};
}

static void lat_add(void *row, const void *value)
{
	struct history_latency_row *to = row;
	const struct rollup_latency_val *v = value;

	for (int b = 0; b < HISTORY_N_BUCKETS; b++)
		to->buckets[b] += v->buckets[b];
	to->sum_us += v->sum_us;
}

static const struct table latency_table = { 0x3, sizeof(struct history_latency_row), lat_count,
					    lat_row, lat_add };

static uint64_t plain_count(const void *v)
{
	return *(const uint64_t *)v;
}

static void drop_row(void *row, const struct row_key *k)
{
	*(struct history_drop_row *)row = (struct history_drop_row){
		.reason = row_field(k, 0),
		.protocol = row_small(k, 1),
		.process = row_field(k, 2),
		.unit = row_field(k, 3),
	};
}

static void drop_add(void *row, const void *value)
{
	((struct history_drop_row *)row)->count += *(const uint64_t *)value;
}

static const struct table drop_table = { 0xc, sizeof(struct history_drop_row), plain_count,
					 drop_row, drop_add };

static void dns_row(void *row, const struct row_key *k)
{
	*(struct history_dns_row *)row = (struct history_dns_row){
		.process = row_field(k, 0),
		.unit = row_field(k, 1),
		.name = row_field(k, 2),
		.rcode = atoi(row_field(k, 3)),
	};
}

static void dns_add(void *row, const void *value)
{
	((struct history_dns_row *)row)->count += *(const uint64_t *)value;
}

static const struct table dns_table = { 0x7, sizeof(struct history_dns_row), plain_count, dns_row,
					dns_add };

static uint64_t tcp_count(const void *v)
{
	const struct rollup_tcp_val *x = v;
	uint64_t n = x->retransmits + x->resets_sent + x->resets_received;

	for (int i = 0; i < STORE_N_ENDS; i++)
		n += x->ended[i];
	return n;
}

static void tcp_row(void *row, const struct row_key *k)
{
	*(struct history_tcp_row *)row = (struct history_tcp_row){
		.process = row_field(k, 0),
		.unit = row_field(k, 1),
		.destination = row_field(k, 2),
		.direction = row_small(k, 3),
	};
}

static void tcp_add(void *row, const void *value)
{
	struct history_tcp_row *to = row;
	const struct rollup_tcp_val *x = value;

	for (int i = 0; i < STORE_N_ENDS; i++)
		to->ended[i] += x->ended[i];
	to->bytes_sent += x->bytes_sent;
	to->bytes_received += x->bytes_received;
	to->segs_out += x->segs_out;
	to->end_retransmits += x->end_retransmits;
	to->retransmits += x->retransmits;
	to->resets_sent += x->resets_sent;
	to->resets_received += x->resets_received;
}

static const struct table tcp_table = { 0x7, sizeof(struct history_tcp_row), tcp_count, tcp_row,
					tcp_add };

/* The key of the "other" row that key is summed under: its folded fields read "other". */
static void other_key(struct keybuf *o, const char *key, size_t klen, unsigned folded)
{
	keybuf_reset(o);
	for (size_t i = 0, off = 0; off < klen; i++, off += strlen(key + off) + 1)
		keybuf_add(o, folded & 1u << i ? HISTORY_OTHER : key + off);
}

/* The value under key, or under its "other" key when the key is new and the map is at its hold
 * cap. */
static void *get_capped(struct rollup *r, struct kmap *m, const struct keybuf *k,
			const struct table *t)
{
	void *v = kmap_find(m, k->b, k->n);
	struct keybuf o;

	if (v)
		return v;
	if (m->n < hold_cap(r))
		return kmap_get(m, k->b, k->n, NULL);
	other_key(&o, k->b, k->n, t->folded);
	return kmap_get(m, o.b, o.n, NULL);
}

/* ---- adding events ---- */

static void latency_add(struct rollup *r, struct kmap *m, const char *process, const char *unit,
			uint32_t us)
{
	struct keybuf k;
	struct rollup_latency_val *l;

	lat_key(&k, process, unit);
	l = get_capped(r, m, &k, &latency_table);
	if (l) {
		l->buckets[history_bucket_of(us)]++;
		l->sum_us += us;
	}
}

struct rollup_conn_val *rollup_add_conn(struct rollup *r, const struct rollup_conn *c)
{
	struct keybuf k;
	struct rollup_conn_val *v;

	conn_key(&k, c->process, c->unit, c->destination, c->protocol, c->outcome, c->direction);
	v = get_capped(r, &r->conns, &k, &conn_table);
	if (!v)
		return NULL;
	v->count++;
	v->failed += c->failed;
	r->events++;
	if (c->latency_us && c->outcome == 1)
		latency_add(r, &r->latency, c->process, c->unit, c->latency_us);
	return v;
}

int rollup_add_drop(struct rollup *r, const struct rollup_drop *d, const char *unit)
{
	struct keybuf k;
	uint64_t *v;

	drop_key(&k, d->reason, d->protocol, d->attributed ? d->process : NULL, unit);
	v = get_capped(r, &r->drops, &k, &drop_table);
	if (!v)
		return -ENOMEM;
	*v += d->count ? d->count : 1; /* a folded record counts as the drops it stands for */
	r->events++;
	return 0;
}

int rollup_add_dns(struct rollup *r, const struct rollup_dns *d)
{
	struct keybuf k;
	uint64_t *v;

	dns_key(&k, d->process, d->unit, d->name, d->rcode);
	v = get_capped(r, &r->dns, &k, &dns_table);
	if (!v)
		return -ENOMEM;
	(*v)++;
	r->events++;
	if (d->rcode >= 0)
		latency_add(r, &r->dns_latency, d->process, d->unit, d->latency_us);
	return 0;
}

int rollup_add_tcp(struct rollup *r, const struct rollup_tcp *x)
{
	struct keybuf k;
	struct rollup_tcp_val *v;

	tcp_key(&k, x->process, x->unit, x->destination, x->direction);
	v = get_capped(r, &r->tcp, &k, &tcp_table);
	if (!v)
		return -ENOMEM;
	r->events++;
	if (x->end && x->end < STORE_N_ENDS) {
		v->ended[x->end]++;
		v->bytes_sent += x->bytes_sent;
		v->bytes_received += x->bytes_received;
		v->segs_out += x->segs_out;
		v->end_retransmits += x->end_retransmits;
		if (x->rtt_us)
			latency_add(r, &r->rtt, x->process, x->unit, x->rtt_us);
	}
	v->retransmits += x->retransmits;
	v->resets_sent += x->resets_sent;
	v->resets_received += x->resets_received;
	return 0;
}

/* ---- the rows ---- */

/* Entries sorted by a count, descending (ties by key, so that the cut is deterministic). */
struct ranked {
	const struct kmap_entry *e;
	uint64_t count;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	size_t n = x->e->klen < y->e->klen ? x->e->klen : y->e->klen;
	int c;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	c = memcmp(x->e->key, y->e->key, n);
	return c ? c : (x->e->klen > y->e->klen) - (x->e->klen < y->e->klen);
}

static struct ranked *rank(const struct kmap *m, uint64_t (*count)(const void *))
{
	struct ranked *v = malloc((m->n ? m->n : 1) * sizeof(*v));
	size_t n = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < m->cap; i++)
		if (m->v[i].key)
			v[n++] = (struct ranked){ &m->v[i], count(m->v[i].value) };
	qsort(v, n, sizeof(*v), ranked_cmp);
	return v;
}

static bool is_other(const char *f)
{
	return f && !strcmp(f, HISTORY_OTHER);
}

/* A table's rows: its keys by count, the first max_keys of them (not "other") as they are, the
 * rest summed under their "other" rows (which the keys made "other" at the hold cap join), in
 * the order of each row's first key. NULL when out of memory. The rows point into m's keys. */
static void *table_rows(const struct rollup *r, const struct kmap *m, const struct table *t,
			size_t *ret_n)
{
	unsigned process = (unsigned)__builtin_ctz(t->folded);
	struct ranked *v = rank(m, t->count);
	char *out = calloc(m->n + 1, t->row_size); /* at most one row per key */
	struct kmap others;			   /* an "other" row's key -> its index */
	size_t n = 0, kept = 0;
	bool ok = v && out;

	kmap_init(&others, sizeof(size_t));
	for (size_t i = 0; ok && i < m->n; i++) {
		const struct kmap_entry *e = v[i].e;
		struct row_key k = { e->key, e->klen, 0 };
		size_t at = n;

		if (kept < r->max_keys && !is_other(key_field(e->key, e->klen, process))) {
			kept++;
		} else {
			struct keybuf o;
			bool created;
			size_t *slot;

			other_key(&o, e->key, e->klen, t->folded);
			slot = kmap_get(&others, o.b, o.n, &created);
			if (!slot) {
				ok = false;
				break;
			}
			if (created)
				*slot = n;
			at = *slot;
			k.folded = t->folded;
		}
		if (at == n)
			t->row(out + n++ * t->row_size, &k);
		t->add(out + at * t->row_size, e->value);
	}
	kmap_fini(&others);
	free(v);
	if (!ok) {
		free(out);
		return NULL;
	}
	*ret_n = n;
	return out;
}

int rollup_rows(struct rollup *r)
{
	struct history_minute *o = &r->out;

	free_out(r);
	o->t = r->t;
	o->events = r->events;
	o->lost = r->lost;
	o->unaccounted = r->unaccounted;
	o->conns = table_rows(r, &r->conns, &conn_table, &o->n_conns);
	o->latency = table_rows(r, &r->latency, &latency_table, &o->n_latency);
	o->drops = table_rows(r, &r->drops, &drop_table, &o->n_drops);
	o->dns = table_rows(r, &r->dns, &dns_table, &o->n_dns);
	o->dns_latency = table_rows(r, &r->dns_latency, &latency_table, &o->n_dns_latency);
	o->tcp = table_rows(r, &r->tcp, &tcp_table, &o->n_tcp);
	o->rtt = table_rows(r, &r->rtt, &latency_table, &o->n_rtt);
	if (!o->conns || !o->latency || !o->drops || !o->dns || !o->dns_latency || !o->tcp ||
	    !o->rtt)
		return -ENOMEM;
	return 0;
}
