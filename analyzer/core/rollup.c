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

/* The value under key, or under other when the key is new and the map is at its hold cap. */
static void *get_capped(struct rollup *r, struct kmap *m, struct keybuf *k,
			const struct keybuf *other)
{
	void *v = kmap_find(m, k->b, k->n);

	if (v)
		return v;
	if (m->n >= hold_cap(r))
		return kmap_get(m, other->b, other->n, NULL);
	return kmap_get(m, k->b, k->n, NULL);
}

static void latency_add(struct rollup *r, struct kmap *m, const char *process, const char *unit,
			uint32_t us)
{
	struct keybuf k, o;
	struct rollup_latency_val *l;

	lat_key(&k, process, unit);
	lat_key(&o, HISTORY_OTHER, HISTORY_OTHER);
	l = get_capped(r, m, &k, &o);
	if (l) {
		l->buckets[history_bucket_of(us)]++;
		l->sum_us += us;
	}
}

struct rollup_conn_val *rollup_add_conn(struct rollup *r, const struct rollup_conn *c)
{
	struct keybuf k, o;
	struct rollup_conn_val *v;

	conn_key(&k, c->process, c->unit, c->destination, c->protocol, c->outcome, c->direction);
	conn_key(&o, HISTORY_OTHER, HISTORY_OTHER, HISTORY_OTHER, c->protocol, c->outcome,
		 c->direction);
	v = get_capped(r, &r->conns, &k, &o);
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
	struct keybuf k, o;
	uint64_t *v;

	drop_key(&k, d->reason, d->protocol, d->attributed ? d->process : NULL, unit);
	drop_key(&o, d->reason, d->protocol, HISTORY_OTHER, HISTORY_OTHER);
	v = get_capped(r, &r->drops, &k, &o);
	if (!v)
		return -ENOMEM;
	*v += d->count ? d->count : 1; /* a folded record counts as the drops it stands for */
	r->events++;
	return 0;
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

int rollup_add_dns(struct rollup *r, const struct rollup_dns *d)
{
	struct keybuf k, o;
	uint64_t *v;

	dns_key(&k, d->process, d->unit, d->name, d->rcode);
	dns_key(&o, HISTORY_OTHER, HISTORY_OTHER, HISTORY_OTHER, d->rcode);
	v = get_capped(r, &r->dns, &k, &o);
	if (!v)
		return -ENOMEM;
	(*v)++;
	r->events++;
	if (d->rcode >= 0)
		latency_add(r, &r->dns_latency, d->process, d->unit,
			    d->latency_us);
	return 0;
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

int rollup_add_tcp(struct rollup *r, const struct rollup_tcp *x)
{
	struct keybuf k, o;
	struct rollup_tcp_val *v;

	tcp_key(&k, x->process, x->unit, x->destination, x->direction);
	tcp_key(&o, HISTORY_OTHER, HISTORY_OTHER, HISTORY_OTHER, x->direction);
	v = get_capped(r, &r->tcp, &k, &o);
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
			latency_add(r, &r->rtt, x->process, x->unit,
				    x->rtt_us);
	}
	v->retransmits += x->retransmits;
	v->resets_sent += x->resets_sent;
	v->resets_received += x->resets_received;
	return 0;
}

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

static uint64_t conn_count(const void *v)
{
	return ((const struct rollup_conn_val *)v)->count;
}

static uint64_t lat_count(const void *v)
{
	const struct rollup_latency_val *l = v;
	uint64_t n = 0;

	for (int i = 0; i < HISTORY_N_BUCKETS; i++)
		n += l->buckets[i];
	return n;
}

static uint64_t drop_count(const void *v)
{
	return *(const uint64_t *)v;
}

static bool is_other(const char *f)
{
	return f && !strcmp(f, HISTORY_OTHER);
}

static int conn_rows(struct rollup *r)
{
	struct ranked *v = rank(&r->conns, conn_count);
	struct history_conn_row *out;
	size_t n = 0, kept = 0;

	out = calloc(r->conns.n + 1, sizeof(*out));
	if (!v || !out) {
		free(v);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->conns.n; i++) {
		const struct kmap_entry *e = v[i].e;
		const struct rollup_conn_val *val = e->value;
		const char *proc = key_field(e->key, e->klen, 0);
		struct history_conn_row row = {
			.process = proc,
			.unit = key_field(e->key, e->klen, 1),
			.destination = key_field(e->key, e->klen, 2),
			.protocol = (uint8_t)atoi(key_field(e->key, e->klen, 3)),
			.outcome = (uint8_t)atoi(key_field(e->key, e->klen, 4)),
			.direction = (uint8_t)atoi(key_field(e->key, e->klen, 5)),
			.count = val->count,
			.failed = val->failed,
		};
		size_t j;

		if (kept < r->max_keys && !is_other(proc)) {
			kept++;
			out[n++] = row;
			continue;
		}
		/* past the cap: one "other" row per protocol, outcome and direction */
		for (j = 0; j < n; j++)
			if (is_other(out[j].process) && out[j].protocol == row.protocol &&
			    out[j].outcome == row.outcome && out[j].direction == row.direction)
				break;
		if (j == n) {
			struct history_conn_row *grown = realloc(out, (n + 2) * sizeof(*out));

			if (!grown) {
				free(out);
				free(v);
				return -ENOMEM;
			}
			out = grown;
			out[n++] = (struct history_conn_row){
				.process = HISTORY_OTHER,
				.unit = HISTORY_OTHER,
				.destination = HISTORY_OTHER,
				.protocol = row.protocol,
				.outcome = row.outcome,
				.direction = row.direction,
			};
		}
		out[j].count += row.count;
		out[j].failed += row.failed;
	}
	free(v);
	r->out.conns = out;
	r->out.n_conns = n;
	return 0;
}

static int latency_rows(struct rollup *r, const struct kmap *m, struct history_latency_row **ret,
			size_t *ret_n)
{
	struct ranked *v = rank(m, lat_count);
	struct history_latency_row *out = calloc(m->n + 1, sizeof(*out)), *other = NULL;
	size_t n = 0, kept = 0;

	if (!v || !out) {
		free(v);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct kmap_entry *e = v[i].e;
		const struct rollup_latency_val *val = e->value;
		const char *proc = key_field(e->key, e->klen, 0);
		struct history_latency_row *row;

		if (kept < r->max_keys && !is_other(proc)) {
			kept++;
			row = &out[n++];
			row->process = proc;
			row->unit = key_field(e->key, e->klen, 1);
		} else {
			if (!other) {
				other = &out[n++];
				other->process = other->unit = HISTORY_OTHER;
			}
			row = other;
		}
		for (int b = 0; b < HISTORY_N_BUCKETS; b++)
			row->buckets[b] += val->buckets[b];
		row->sum_us += val->sum_us;
	}
	free(v);
	*ret = out;
	*ret_n = n;
	return 0;
}

static int drop_rows(struct rollup *r)
{
	struct ranked *v = rank(&r->drops, drop_count);
	struct history_drop_row *out = calloc(r->drops.n + 1, sizeof(*out));
	size_t n = 0, kept = 0;

	if (!v || !out) {
		free(v);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->drops.n; i++) {
		const struct kmap_entry *e = v[i].e;
		const char *proc = key_field(e->key, e->klen, 2);
		struct history_drop_row row = {
			.reason = key_field(e->key, e->klen, 0),
			.protocol = (uint8_t)atoi(key_field(e->key, e->klen, 1)),
			.process = proc,
			.unit = key_field(e->key, e->klen, 3),
			.count = *(const uint64_t *)e->value,
		};
		size_t j;

		if (kept < r->max_keys && !is_other(proc)) {
			kept++;
			out[n++] = row;
			continue;
		}
		/* past the cap: the reason and protocol stay, process and unit become "other" */
		for (j = 0; j < n; j++)
			if (is_other(out[j].process) && out[j].protocol == row.protocol &&
			    !strcmp(out[j].reason, row.reason))
				break;
		if (j == n) {
			struct history_drop_row *grown = realloc(out, (n + 2) * sizeof(*out));

			if (!grown) {
				free(out);
				free(v);
				return -ENOMEM;
			}
			out = grown;
			out[n++] = (struct history_drop_row){ .reason = row.reason,
							      .protocol = row.protocol,
							      .process = HISTORY_OTHER,
							      .unit = HISTORY_OTHER };
		}
		out[j].count += row.count;
	}
	free(v);
	r->out.drops = out;
	r->out.n_drops = n;
	return 0;
}

static uint64_t tcp_count(const void *v)
{
	const struct rollup_tcp_val *x = v;
	uint64_t n = x->retransmits + x->resets_sent + x->resets_received;

	for (int i = 0; i < STORE_N_ENDS; i++)
		n += x->ended[i];
	return n;
}

static int dns_rows(struct rollup *r)
{
	struct ranked *v = rank(&r->dns, drop_count);
	struct history_dns_row *out = calloc(r->dns.n + 1, sizeof(*out));
	size_t n = 0, kept = 0;

	if (!v || !out) {
		free(v);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->dns.n; i++) {
		const struct kmap_entry *e = v[i].e;
		const char *proc = key_field(e->key, e->klen, 0);
		struct history_dns_row row = {
			.process = proc,
			.unit = key_field(e->key, e->klen, 1),
			.name = key_field(e->key, e->klen, 2),
			.rcode = atoi(key_field(e->key, e->klen, 3)),
			.count = *(const uint64_t *)e->value,
		};
		size_t j;

		if (kept < r->max_keys && !is_other(proc)) {
			kept++;
			out[n++] = row;
			continue;
		}
		/* past the cap: one "other" row per rcode */
		for (j = 0; j < n; j++)
			if (is_other(out[j].process) && out[j].rcode == row.rcode)
				break;
		if (j == n) {
			struct history_dns_row *grown = realloc(out, (n + 2) * sizeof(*out));

			if (!grown) {
				free(out);
				free(v);
				return -ENOMEM;
			}
			out = grown;
			out[n++] = (struct history_dns_row){ .process = HISTORY_OTHER,
							     .unit = HISTORY_OTHER,
							     .name = HISTORY_OTHER,
							     .rcode = row.rcode };
		}
		out[j].count += row.count;
	}
	free(v);
	r->out.dns = out;
	r->out.n_dns = n;
	return 0;
}

static void tcp_sum(struct history_tcp_row *to, const struct rollup_tcp_val *x)
{
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

static int tcp_rows(struct rollup *r)
{
	struct ranked *v = rank(&r->tcp, tcp_count);
	struct history_tcp_row *out = calloc(r->tcp.n + 2, sizeof(*out));
	size_t n = 0, kept = 0;

	if (!v || !out) {
		free(v);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->tcp.n; i++) {
		const struct kmap_entry *e = v[i].e;
		const char *proc = key_field(e->key, e->klen, 0);
		uint8_t dir = (uint8_t)atoi(key_field(e->key, e->klen, 3));
		size_t j;

		if (kept < r->max_keys && !is_other(proc)) {
			kept++;
			out[n] = (struct history_tcp_row){
				.process = proc,
				.unit = key_field(e->key, e->klen, 1),
				.destination = key_field(e->key, e->klen, 2),
				.direction = dir,
			};
			tcp_sum(&out[n++], e->value);
			continue;
		}
		/* past the cap: one "other" row per direction (at most two: room was made) */
		for (j = 0; j < n; j++)
			if (is_other(out[j].process) && out[j].direction == dir)
				break;
		if (j == n)
			out[n++] = (struct history_tcp_row){ .process = HISTORY_OTHER,
							     .unit = HISTORY_OTHER,
							     .destination = HISTORY_OTHER,
							     .direction = dir };
		tcp_sum(&out[j], e->value);
	}
	free(v);
	r->out.tcp = out;
	r->out.n_tcp = n;
	return 0;
}

int rollup_rows(struct rollup *r)
{
	int err;

	free_out(r);
	r->out.t = r->t;
	r->out.events = r->events;
	r->out.lost = r->lost;
	r->out.unaccounted = r->unaccounted;
	err = conn_rows(r);
	if (err == 0)
		err = latency_rows(r, &r->latency, &r->out.latency, &r->out.n_latency);
	if (err == 0)
		err = drop_rows(r);
	if (err == 0)
		err = dns_rows(r);
	if (err == 0)
		err = latency_rows(r, &r->dns_latency, &r->out.dns_latency, &r->out.n_dns_latency);
	if (err == 0)
		err = tcp_rows(r);
	if (err == 0)
		err = latency_rows(r, &r->rtt, &r->out.rtt, &r->out.n_rtt);
	return err;
}
