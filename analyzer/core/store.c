/* The event store: rings of compact records, interning, and the merge of TCP outcomes into their
 * connect record by socket cookie. Queries live in store_query.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/dns.h"
#include "core/format.h"
#include "core/store.h"

#define MAX_SMALL_IDS 65535 /* ids stored in 16 bits */
#define MAX_PENDING (1u << 16)
#define MAX_NAMES (1u << 16)
#define IPNAME_SLOTS (1u << 16)
#define IPNAME_WAYS 4

struct cookie_slot {
	uint64_t cookie; /* 0 = empty (the kernel never hands out cookie 0) */
	uint64_t abs;
};

/* Rings start small and double up to their capacity: until the first wrap an absolute index is
 * also the physical one, so growing is a plain realloc. */
static int ring_init(struct store_ring *r, size_t elem, size_t capacity)
{
	size_t cap = 1;

	while (cap < capacity)
		cap <<= 1;
	memset(r, 0, sizeof(*r));
	r->elem = elem;
	r->max = cap;
	r->mask = (cap < 1024 ? cap : 1024) - 1;
	r->v = malloc((r->mask + 1) * elem);
	return r->v ? 0 : -ENOMEM;
}

static int ring_grow(struct store_ring *r)
{
	size_t cap = (r->mask + 1) * 2;
	uint8_t *v = realloc(r->v, cap * r->elem);

	if (!v)
		return -ENOMEM;
	r->v = v;
	r->mask = cap - 1;
	return 0;
}

/* A slot for a new record, stamped no earlier than the newest one so that the ring stays sorted
 * by time (wall clock can step back). ts NULL: a record without a time of its own (a connection's
 * life record, whose first field is its connect's index): neither stamped nor counted as an
 * evicted event when it is overwritten. */
static void *ring_push(struct store_ring *r, uint64_t *ts, struct store *s)
{
	void *p;

	if (r->count == r->mask + 1 && r->mask + 1 < r->max && r->head == r->count)
		ring_grow(r); /* on failure the ring simply wraps earlier */
	if (ts && r->count && *ts < *(const uint64_t *)store_ring_at(r, r->head - 1))
		*ts = *(const uint64_t *)store_ring_at(r, r->head - 1);
	p = r->v + (r->head & r->mask) * r->elem;
	if (r->count == r->mask + 1) {
		uint64_t old = *(const uint64_t *)p;

		if (ts) { /* an event's record (a life record belongs to its connect's) */
			s->evicted++;
			if (old > s->evicted_newest_ns)
				s->evicted_newest_ns = old;
		}
	} else
		r->count++;
	r->head++;
	return p;
}

/* The map starts small and doubles (keeping at most half its slots used) up to 2 * max slots. */
static int cookie_map_init(struct cookie_map *m, size_t max)
{
	m->max = max;
	m->n = 0;
	m->n_slots = 64;
	m->slots = calloc(m->n_slots, sizeof(*m->slots));
	return m->slots ? 0 : -ENOMEM;
}

static size_t cookie_slot(const struct cookie_map *m, uint64_t cookie)
{
	size_t i = (size_t)((cookie * 0x9E3779B97F4A7C15ull) >> 20) & (m->n_slots - 1);

	while (m->slots[i].cookie && m->slots[i].cookie != cookie)
		i = (i + 1) & (m->n_slots - 1);
	return i;
}

/* Doubles the map. Never needed beyond 2 * max slots: the map is cleared at max entries. */
static void cookie_map_grow(struct cookie_map *m)
{
	struct cookie_map bigger = { .n_slots = m->n_slots * 2, .max = m->max, .n = m->n };

	bigger.slots = calloc(bigger.n_slots, sizeof(*bigger.slots));
	if (!bigger.slots) {
		if (m->n + 1 >= m->n_slots) { /* probing needs a free slot: forget the pending */
			memset(m->slots, 0, m->n_slots * sizeof(*m->slots));
			m->n = 0;
		}
		return;
	}
	for (size_t i = 0; i < m->n_slots; i++)
		if (m->slots[i].cookie)
			bigger.slots[cookie_slot(&bigger, m->slots[i].cookie)] = m->slots[i];
	free(m->slots);
	*m = bigger;
}

/* Removes slot i, shifting back the entries of its probe run (no tombstones). */
static void cookie_remove_at(struct cookie_map *m, size_t i)
{
	size_t mask = m->n_slots - 1, j = i;

	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!m->slots[j].cookie)
			break;
		home = (size_t)((m->slots[j].cookie * 0x9E3779B97F4A7C15ull) >> 20) & mask;
		/* Move j into the hole at i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].cookie = 0;
	m->n--;
}

static void cookie_put(struct cookie_map *m, uint64_t cookie, uint64_t abs)
{
	size_t i;

	if (!cookie)
		return;
	if (m->n >= m->max) {
		/* Connects that never resolved (or whose outcome we missed) stay "pending". */
		memset(m->slots, 0, m->n_slots * sizeof(*m->slots));
		m->n = 0;
	}
	if (2 * (m->n + 1) > m->n_slots)
		cookie_map_grow(m);
	i = cookie_slot(m, cookie);
	if (!m->slots[i].cookie)
		m->n++;
	m->slots[i].cookie = cookie;
	m->slots[i].abs = abs;
}

/* The live connect record of cookie (removed from the map), or NULL. */
static struct store_conn *cookie_take(struct store *s, struct cookie_map *m, uint64_t cookie,
				      uint64_t *ret_abs)
{
	size_t i;
	uint64_t abs;

	if (!cookie)
		return NULL;
	i = cookie_slot(m, cookie);
	if (!m->slots[i].cookie)
		return NULL;
	abs = m->slots[i].abs;
	cookie_remove_at(m, i);
	if (abs + s->conns.count < s->conns.head)
		return NULL; /* evicted since */
	*ret_abs = abs;
	return (struct store_conn *)store_ring_at(&s->conns, abs);
}

static int add_zero_keys(struct intern *comms, struct intern *endpoints, struct intern *reasons,
			 struct intern *names)
{
	static const uint8_t zero[STORE_NAME_LEN];

	if (intern_get(comms, zero) < 0 || intern_get(endpoints, zero) < 0 ||
	    intern_get(reasons, zero) < 0 || intern_get(names, zero) < 0)
		return -ENOMEM;
	return 0;
}

int store_init(struct store *s, size_t capacity, const char *cgroup_root)
{
	size_t max_pending;
	int r;

	memset(s, 0, sizeof(*s));
	if (!capacity)
		capacity = STORE_DEFAULT_CAPACITY;
	max_pending = capacity < MAX_PENDING ? capacity : MAX_PENDING;
	intern_init(&s->comms, 16, MAX_SMALL_IDS);
	intern_init(&s->cgroups, sizeof(uint64_t), MAX_SMALL_IDS);
	intern_init(&s->reasons, STORE_REASON_LEN, MAX_SMALL_IDS);
	/* A connect names one endpoint and a drop two: 3 x capacity can be live at once. */
	intern_init(&s->endpoints, sizeof(struct store_endpoint), 4 * capacity + 1);
	intern_init(&s->names, STORE_NAME_LEN, MAX_NAMES);
	cgroup_names_init(&s->cgnames, cgroup_root);
	procinfo_init(&s->procs, NULL);
	r = ring_init(&s->conns, sizeof(struct store_conn), capacity);
	if (r == 0)
		r = ring_init(&s->drops, sizeof(struct store_drop), capacity);
	if (r == 0)
		r = ring_init(&s->lives, sizeof(struct store_life), capacity);
	if (r == 0)
		r = ring_init(&s->signals, sizeof(struct store_signal), capacity);
	if (r == 0)
		r = ring_init(&s->ends, sizeof(struct store_end_ref), capacity);
	if (r == 0)
		r = cookie_map_init(&s->open, max_pending ? max_pending : 1);
	if (r == 0)
		r = cookie_map_init(&s->ended, 4096);
	if (r == 0)
		r = ring_init(&s->dns, sizeof(struct store_dns), capacity / 4 > 1024 ? capacity / 4 : 1024);
	if (r == 0)
		r = cookie_map_init(&s->dns_pending, max_pending ? max_pending : 1);
	/* The address -> name map is allocated with the first answer: no DNS, no memory. */
	if (r == 0)
		r = cookie_map_init(&s->pending, max_pending ? max_pending : 1);
	if (!r)
		r = cookie_map_init(&s->udp_last, max_pending ? max_pending : 1);
	/* Id 0 of every table is the all-zero key: the fallback when a table overflows. */
	if (r == 0 && add_zero_keys(&s->comms, &s->endpoints, &s->reasons, &s->names) < 0)
		r = -ENOMEM;
	if (r < 0)
		store_fini(s);
	return r;
}

static void free_cgroup_info(struct store *s)
{
	for (size_t i = 0; i < s->cgroups.n && s->cg; i++) {
		free(s->cg[i].unit);
		free(s->cg[i].container);
	}
	free(s->cg);
	s->cg = NULL;
	s->cg_cap = 0;
}

void store_fini(struct store *s)
{
	free_cgroup_info(s);
	free(s->conns.v);
	free(s->drops.v);
	free(s->lives.v);
	free(s->signals.v);
	free(s->ends.v);
	free(s->open.slots);
	free(s->ended.slots);
	free(s->dns.v);
	free(s->dns_pending.slots);
	free(s->ipnames.slots);
	intern_fini(&s->names);
	free(s->pending.slots);
	free(s->udp_last.slots);
	intern_fini(&s->comms);
	intern_fini(&s->cgroups);
	intern_fini(&s->reasons);
	intern_fini(&s->endpoints);
	cgroup_names_fini(&s->cgnames);
	procinfo_fini(&s->procs);
	memset(s, 0, sizeof(*s));
}

static char *sanitized(const char *s)
{
	char out[CGROUP_NAME_LEN * 4];

	fmt_sanitize(out, sizeof(out), (const uint8_t *)s, strlen(s));
	return strdup(out);
}

/* Resolves a cgroup's unit and container now: short-lived scopes may be gone by query time. */
static void cgroup_resolve(struct store *s, struct store_cgroup_info *ci)
{
	char unit[CGROUP_NAME_LEN], container[CGROUP_NAME_LEN];
	const char *path = cgroup_path(&s->cgnames, ci->id);

	if (!path)
		return;
	ci->resolved = true;
	cgroup_classify(path, unit, sizeof(unit), container, sizeof(container));
	/* Directory names are chosen by whoever may create cgroups: make them safe to show. */
	ci->unit = unit[0] ? sanitized(unit) : NULL;
	ci->container = container[0] ? sanitized(container) : NULL;
}

static int64_t intern_in(struct store *s, struct intern *t, const void *key);

static int cgroup_index(struct store *s, uint64_t id)
{
	int64_t idx = intern_in(s, &s->cgroups, &id);

	if (idx < 0)
		return 0; /* table full: attribute to the first cgroup seen, rare and harmless */
	if ((size_t)idx >= s->cg_cap) {
		size_t cap = s->cg_cap ? s->cg_cap * 2 : 64;
		struct store_cgroup_info *v = realloc(s->cg, cap * sizeof(*v));

		if (!v)
			return 0;
		memset(v + s->cg_cap, 0, (cap - s->cg_cap) * sizeof(*v));
		s->cg = v;
		s->cg_cap = cap;
	}
	if (!s->cg[idx].id && !s->cg[idx].resolved) {
		s->cg[idx].id = id;
		cgroup_resolve(s, &s->cg[idx]);
	}
	return (int)idx;
}

const struct store_cgroup_info *store_cgroup(struct store *s, uint16_t idx)
{
	if (idx >= s->cgroups.n || !s->cg)
		return NULL;
	if (!s->cg[idx].resolved)
		cgroup_resolve(s, &s->cg[idx]);
	return &s->cg[idx];
}

static uint64_t records_stored(const struct store *s)
{
	return s->conns.head + s->drops.head + s->lives.head + s->signals.head + s->dns.head;
}

/* ---- compaction ------------------------------------------------------------------------------
 * Keys are never removed one by one: when a table is full, every table is rebuilt from the records
 * still stored, so that the keys only evicted records used are forgotten and a long-running
 * analyzer keeps naming new processes and destinations. Rebuilding costs a pass over the store: it
 * is done at most once per max / 4 records stored, so that a table still full afterwards (more
 * live keys than it may hold) costs nothing more than the fallback to id 0. */
static uint32_t remap(struct intern *to, const struct intern *from, uint32_t id)
{
	int64_t n = intern_get(to, intern_key(from, id < from->n ? id : 0));

	return n < 0 ? 0 : (uint32_t)n; /* 0 is the fallback key of every table */
}

static uint32_t remap_cgroup(struct intern *to, const struct intern *from, uint32_t idx)
{
	int64_t n;

	if (idx >= from->n)
		return 0;
	n = intern_get(to, intern_key(from, idx));
	return n < 0 ? 0 : (uint32_t)n;
}

/* Moves each kept cgroup's resolved names to its new index (in cg, as large as s->cg) and frees
 * the others'. */
static void rebuild_cgroup_info(struct store *s, const struct intern *cgroups,
				struct store_cgroup_info *cg)
{
	for (uint32_t j = 0; j < cgroups->n && j < s->cg_cap; j++) {
		int64_t old = intern_find(&s->cgroups, intern_key(cgroups, j));

		if (old >= 0 && (size_t)old < s->cg_cap) {
			cg[j] = s->cg[old];
			memset(&s->cg[old], 0, sizeof(s->cg[old]));
		}
	}
	for (size_t i = 0; i < s->cg_cap; i++) {
		free(s->cg[i].unit);
		free(s->cg[i].container);
	}
	free(s->cg);
	s->cg = cg;
}

int store_compact(struct store *s)
{
	struct intern comms, endpoints, reasons, cgroups, names;
	struct store_cgroup_info *cg = calloc(s->cg_cap ? s->cg_cap : 1, sizeof(*cg));

	if (!cg)
		return -ENOMEM;
	intern_init(&comms, s->comms.key_len, s->comms.max);
	intern_init(&endpoints, s->endpoints.key_len, s->endpoints.max);
	intern_init(&reasons, s->reasons.key_len, s->reasons.max);
	intern_init(&cgroups, s->cgroups.key_len, s->cgroups.max);
	intern_init(&names, s->names.key_len, s->names.max);
	if (add_zero_keys(&comms, &endpoints, &reasons, &names) < 0) {
		intern_fini(&comms);
		intern_fini(&endpoints);
		intern_fini(&reasons);
		intern_fini(&names);
		free(cg);
		return -ENOMEM;
	}
	/* From here on every record gets an id in the new tables (0 when a key does not fit), so
	 * the store stays consistent whatever happens. */
	for (uint64_t i = s->conns.head - s->conns.count; i < s->conns.head; i++) {
		struct store_conn *r = (struct store_conn *)store_ring_at(&s->conns, i);

		r->comm = (uint16_t)remap(&comms, &s->comms, r->comm);
		r->dst = remap(&endpoints, &s->endpoints, r->dst);
		r->cgroup = (uint16_t)remap_cgroup(&cgroups, &s->cgroups, r->cgroup);
		r->name = remap(&names, &s->names, r->name);
	}
	for (uint64_t i = s->dns.head - s->dns.count; i < s->dns.head; i++) {
		struct store_dns *r = (struct store_dns *)store_ring_at(&s->dns, i);

		r->comm = (uint16_t)remap(&comms, &s->comms, r->comm);
		r->server = remap(&endpoints, &s->endpoints, r->server);
		r->cgroup = (uint16_t)remap_cgroup(&cgroups, &s->cgroups, r->cgroup);
		r->name = remap(&names, &s->names, r->name);
		for (int k = 0; k < r->n_answers; k++)
			r->answers[k] = remap(&names, &s->names, r->answers[k]);
	}
	for (size_t i = 0; i < s->ipnames.n_slots; i++)
		if (s->ipnames.slots[i].family)
			s->ipnames.slots[i].name =
			    remap(&names, &s->names, s->ipnames.slots[i].name);
	for (uint64_t i = s->drops.head - s->drops.count; i < s->drops.head; i++) {
		struct store_drop *r = (struct store_drop *)store_ring_at(&s->drops, i);

		r->comm = (uint16_t)remap(&comms, &s->comms, r->comm);
		r->src = remap(&endpoints, &s->endpoints, r->src);
		r->dst = remap(&endpoints, &s->endpoints, r->dst);
		r->reason = (uint16_t)remap(&reasons, &s->reasons, r->reason);
		r->name = remap(&names, &s->names, r->name);
	}
	for (uint64_t i = s->lives.head - s->lives.count; i < s->lives.head; i++) {
		struct store_life *l = (struct store_life *)store_ring_at(&s->lives, i);

		l->peer = remap(&endpoints, &s->endpoints, l->peer);
	}
	for (uint64_t i = s->signals.head - s->signals.count; i < s->signals.head; i++) {
		struct store_signal *g = (struct store_signal *)store_ring_at(&s->signals, i);

		g->comm = (uint16_t)remap(&comms, &s->comms, g->comm);
		g->peer = remap(&endpoints, &s->endpoints, g->peer);
	}
	rebuild_cgroup_info(s, &cgroups, cg);
	intern_fini(&s->comms);
	intern_fini(&s->endpoints);
	intern_fini(&s->reasons);
	intern_fini(&s->cgroups);
	intern_fini(&s->names);
	s->names = names;
	s->comms = comms;
	s->endpoints = endpoints;
	s->reasons = reasons;
	s->cgroups = cgroups;
	s->rebuilds++;
	s->rebuilt_at = records_stored(s);
	return 0;
}

/* The id of key in t (one of the store's tables), rebuilding the tables when t is full. t stays
 * valid: the tables are replaced in place. */
static int64_t intern_in(struct store *s, struct intern *t, const void *key)
{
	int64_t id = intern_get(t, key);

	if (id == -ENOSPC && records_stored(s) - s->rebuilt_at >= t->max / 4 &&
	    store_compact(s) == 0)
		id = intern_get(t, key);
	return id;
}

static uint32_t intern_or_zero(struct store *s, struct intern *t, const void *key)
{
	int64_t id = intern_in(s, t, key);

	return id < 0 ? 0 : (uint32_t)id;
}

/* A process name as the 16-byte key of the comms table. An event without one (an unattributed
 * drop) has no bytes at all: protobuf-c leaves its data NULL. */
static void comm_key(uint8_t key[16], const ProtobufCBinaryData *c)
{
	memset(key, 0, 16);
	if (c->len && c->data)
		memcpy(key, c->data, c->len < 16 ? c->len : 16);
}

static uint16_t comm_id(struct store *s, const ProtobufCBinaryData *c)
{
	uint8_t key[16];

	comm_key(key, c);
	return (uint16_t)intern_or_zero(s, &s->comms, key);
}

/* The process's name id, and its identity read now if it is new (it may be gone by query time). */
static uint16_t proc_id(struct store *s, uint32_t pid, const ProtobufCBinaryData *c)
{
	uint8_t key[16];

	comm_key(key, c);
	if (s->resolve_procs)
		procinfo_note(&s->procs, pid, key);
	return (uint16_t)intern_or_zero(s, &s->comms, key);
}

static uint32_t endpoint_id(struct store *s, uint32_t family, const ProtobufCBinaryData *a,
			    uint32_t port)
{
	struct store_endpoint e = { .port = (uint16_t)port };

	if ((family == AF_INET && a->len == 4) || (family == AF_INET6 && a->len == 16)) {
		e.family = (uint8_t)family;
		memcpy(e.addr, a->data, a->len);
	}
	return intern_or_zero(s, &s->endpoints, &e);
}

static void add_connect(struct store *s, uint64_t ts, const Netspy__V1__Connect *c)
{
	struct store_conn *r = ring_push(&s->conns, &ts, s);

	memset(r, 0, sizeof(*r));
	r->ts_ns = ts;
	r->pid = c->pid;
	r->comm = proc_id(s, c->pid, &c->comm);
	r->cgroup = (uint16_t)cgroup_index(s, c->cgroup_id);
	r->dst = endpoint_id(s, c->family, &c->dst_addr, c->dst_port);
	r->proto = (uint8_t)c->ip_proto;
	if (c->dst_addr.len == 4 || c->dst_addr.len == 16)
		r->name = store_ipname(s, (uint8_t)c->family, c->dst_addr.data, c->pid, ts);
	r->outcome = c->ip_proto == 6 ? STORE_OUTCOME_PENDING : STORE_OUTCOME_SENT;
	/* A UDP connect has an outcome only when it failed, right after it: its socket's latest
	 * connect is the one. */
	cookie_put(c->ip_proto == 6 ? &s->pending : &s->udp_last, c->cookie, s->conns.head - 1);
}

static void add_outcome(struct store *s, const Netspy__V1__TcpOutcome *o)
{
	bool udp = o->ip_proto == 17;
	uint64_t abs = 0;
	struct store_conn *r = cookie_take(s, udp ? &s->udp_last : &s->pending, o->cookie, &abs);
	uint64_t us = (o->latency_ns + 999) / 1000;

	if (!r) {
		s->orphan_outcomes++;
		return;
	}
	r->outcome = o->outcome <= 7 ? (uint8_t)o->outcome : 6;
	r->err = o->err > 0 && o->err < 256 ? (uint8_t)o->err : 0;
	r->flags =
	    (uint8_t)((o->sync ? STORE_CONN_SYNC : 0) | (o->abandoned ? STORE_CONN_ABANDONED : 0));
	if (!udp)
		r->latency_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	if (!udp && r->outcome == 1)
		cookie_put(&s->open, o->cookie, abs);
}

static void add_drop(struct store *s, uint64_t ts, const Netspy__V1__Drop *d)
{
	struct store_drop *r = ring_push(&s->drops, &ts, s);
	uint8_t reason[STORE_REASON_LEN] = { 0 };

	memset(r, 0, sizeof(*r));
	strncpy((char *)reason, d->reason_name ? d->reason_name : "", sizeof(reason) - 1);
	if (!reason[0])
		snprintf((char *)reason, sizeof(reason), "%u", d->reason);
	r->ts_ns = ts;
	r->reason = (uint16_t)intern_or_zero(s, &s->reasons, reason);
	r->src = endpoint_id(s, d->family, &d->src_addr, d->src_port);
	r->dst = endpoint_id(s, d->family, &d->dst_addr, d->dst_port);
	r->proto = (uint8_t)d->ip_proto;
	r->attributed = d->attributed;
	r->count = d->count ? d->count : 1;
	if (d->attributed) {
		r->pid = d->pid;
		r->comm = comm_id(s, &d->comm);
	}
	if (d->dst_addr.len == 4 || d->dst_addr.len == 16)
		r->name = store_ipname(s, (uint8_t)d->family, d->dst_addr.data, r->pid, ts);
	if (!r->name && (d->src_addr.len == 4 || d->src_addr.len == 16))
		r->name = store_ipname(s, (uint8_t)d->family, d->src_addr.data, r->pid, ts);
}


/* ---- DNS ---------------------------------------------------------------------------------------
 * A query (sent to port 53) becomes a record; its response (received from port 53) is matched by
 * the client's port, the message id, the server's address and the protocol, and checked against
 * the name asked. A response's address records, reached from the name asked through its CNAME
 * chain, feed the address -> name map, under the asking process and under "any process". */

static uint32_t name_id(struct store *s, const char *name)
{
	uint8_t key[STORE_NAME_LEN] = { 0 };

	if (!name || !name[0])
		return 0;
	memcpy(key, name, strnlen(name, STORE_NAME_LEN - 1));
	return intern_or_zero(s, &s->names, key);
}

const char *store_name(const struct store *s, uint32_t id)
{
	return intern_key(&s->names, id < s->names.n ? id : 0);
}

static uint64_t dns_key(uint32_t family, const uint8_t *server, uint16_t lport, uint16_t id,
			uint8_t proto)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t alen = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < alen; i++)
		h = (h ^ server[i]) * 0x100000001b3ull;
	h = (h ^ ((uint64_t)lport << 24 | (uint64_t)id << 8 | proto)) * 0x100000001b3ull;
	return h | 1; /* never 0, the map's empty key */
}

static size_t ipname_bucket(const struct ipname_map *m, uint8_t family, const uint8_t *addr,
			    uint32_t pid)
{
	uint64_t h = 0xcbf29ce484222325ull ^ family;

	for (size_t i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 0x100000001b3ull;
	h = (h ^ pid) * 0x100000001b3ull;
	return (size_t)(h >> 17) & (m->n_slots - 1) & ~(size_t)(IPNAME_WAYS - 1);
}

static bool ipname_is(const struct ipname_slot *e, uint8_t family, const uint8_t *addr,
		      uint32_t pid)
{
	return e->family == family && e->pid == pid && !memcmp(e->addr, addr, 16);
}

/* A set of IPNAME_WAYS slots per key: a new entry takes the same key's slot, else an empty one,
 * else the one that expires first. */
static void ipname_put(struct ipname_map *m, uint8_t family, const uint8_t *addr16, uint32_t pid,
		       uint32_t name, uint64_t expires_ns)
{
	size_t b, pick;

	if (!m->slots) {
		m->slots = calloc(IPNAME_SLOTS, sizeof(*m->slots));
		if (!m->slots)
			return; /* without memory, connects simply go unnamed */
		m->n_slots = IPNAME_SLOTS;
	}
	b = pick = ipname_bucket(m, family, addr16, pid);
	for (size_t i = b; i < b + IPNAME_WAYS; i++) {
		if (ipname_is(&m->slots[i], family, addr16, pid)) {
			pick = i;
			break;
		}
		if (!m->slots[i].family ||
		    (m->slots[pick].family && m->slots[i].expires_ns < m->slots[pick].expires_ns))
			pick = i;
	}
	m->slots[pick] = (struct ipname_slot){ .family = family, .pid = pid, .name = name,
					       .expires_ns = expires_ns };
	memcpy(m->slots[pick].addr, addr16, 16);
}

static uint32_t ipname_get(const struct ipname_map *m, uint8_t family, const uint8_t *addr16,
			   uint32_t pid, uint64_t ts_ns)
{
	size_t b;

	if (!m->slots)
		return 0;
	b = ipname_bucket(m, family, addr16, pid);
	for (size_t i = b; i < b + IPNAME_WAYS; i++)
		if (ipname_is(&m->slots[i], family, addr16, pid) && ts_ns <= m->slots[i].expires_ns)
			return m->slots[i].name;
	return 0;
}

uint32_t store_ipname(const struct store *s, uint8_t family, const uint8_t *addr, uint32_t pid,
		      uint64_t ts_ns)
{
	uint8_t a[16] = { 0 };
	uint32_t n = 0;

	if (family != AF_INET && family != AF_INET6)
		return 0;
	memcpy(a, addr, family == AF_INET ? 4 : 16);
	if (pid)
		n = ipname_get(&s->ipnames, family, a, pid, ts_ns);
	return n ? n : ipname_get(&s->ipnames, family, a, 0, ts_ns);
}

/* Whether owner is the name asked or reached from it through the CNAMEs seen so far. */
static bool in_chain(const char *owner, const char chain[][DNS_NAME_LEN], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(owner, chain[i]))
			return true;
	return false;
}

static void learn_addresses(struct store *s, const struct dns_msg *m, uint32_t qname, uint32_t pid,
			    uint64_t ts)
{
	char chain[DNS_MAX_ANSWERS + 1][DNS_NAME_LEN];
	size_t n = 1;
	bool grew = true;

	snprintf(chain[0], sizeof(chain[0]), "%s", m->qname);
	/* CNAMEs may come in any order: add targets until the chain stops growing. */
	while (grew && n <= DNS_MAX_ANSWERS) {
		grew = false;
		for (size_t i = 0; i < m->n_answers && n <= DNS_MAX_ANSWERS; i++) {
			const struct dns_answer *a = &m->answers[i];

			if (a->type == DNS_TYPE_CNAME && in_chain(a->owner, chain, n) &&
			    !in_chain(a->data, chain, n)) {
				snprintf(chain[n++], sizeof(chain[0]), "%s", a->data);
				grew = true;
			}
		}
	}
	for (size_t i = 0; i < m->n_answers; i++) {
		const struct dns_answer *a = &m->answers[i];
		uint64_t ttl_ns = (uint64_t)a->ttl * 1000000000ull;
		uint8_t addr[16] = { 0 };

		if (!a->family || !in_chain(a->owner, chain, n))
			continue;
		if (ttl_ns < STORE_DNS_MIN_TTL_NS)
			ttl_ns = STORE_DNS_MIN_TTL_NS;
		memcpy(addr, a->addr, a->family == AF_INET ? 4 : 16);
		if (pid)
			ipname_put(&s->ipnames, a->family, addr, pid, qname, ts + ttl_ns);
		ipname_put(&s->ipnames, a->family, addr, 0, qname, ts + ttl_ns);
	}
}

struct dns_ctx {
	struct store *s;
	uint64_t ts;
	const Netspy__V1__Dns *d;
	bool cut; /* the daemon's copy was shorter than the message */
};

static void add_query(struct dns_ctx *x, const struct dns_msg *m)
{
	struct store *s = x->s;
	const Netspy__V1__Dns *d = x->d;
	uint64_t ts = x->ts;
	struct store_dns *r;

	if (!m->has_question)
		return;
	r = ring_push(&s->dns, &ts, s);
	memset(r, 0, sizeof(*r));
	r->ts_ns = ts;
	if (d->attributed) {
		r->pid = d->pid;
		r->comm = comm_id(s, &d->comm);
	}
	r->cgroup = (uint16_t)cgroup_index(s, d->cgroup_id);
	r->server = endpoint_id(s, d->family, &d->dst_addr, d->dst_port);
	r->name = name_id(s, m->qname);
	r->qtype = m->qtype;
	r->id = m->id;
	r->lport = (uint16_t)d->src_port;
	r->proto = (uint8_t)d->ip_proto;
	cookie_put(&s->dns_pending,
		   dns_key(d->family, d->dst_addr.data, r->lport, r->id, r->proto), s->dns.head - 1);
}

static void add_response(struct dns_ctx *x, const struct dns_msg *m)
{
	struct store *s = x->s;
	const Netspy__V1__Dns *d = x->d;
	uint64_t key = dns_key(d->family, d->src_addr.data, (uint16_t)d->dst_port, m->id,
			       (uint8_t)d->ip_proto);
	size_t i = cookie_slot(&s->dns_pending, key);
	struct store_dns *r;
	uint64_t abs, us;

	if (!s->dns_pending.slots[i].cookie) {
		s->dns_orphan_responses++;
		return;
	}
	abs = s->dns_pending.slots[i].abs;
	if (abs + s->dns.count < s->dns.head) { /* evicted since */
		cookie_remove_at(&s->dns_pending, i);
		s->dns_orphan_responses++;
		return;
	}
	r = (struct store_dns *)store_ring_at(&s->dns, abs);
	/* The same port, id and server, but another name: not its answer (a spoofing attempt,
	 * or a reused id). The query stays open. */
	if (m->has_question && strcasecmp(store_name(s, r->name), m->qname)) {
		s->dns_orphan_responses++;
		return;
	}
	cookie_remove_at(&s->dns_pending, i);
	r->flags |= STORE_DNS_ANSWERED;
	r->rcode = m->rcode;
	us = x->ts > r->ts_ns ? (x->ts - r->ts_ns + 999) / 1000 : 0;
	r->latency_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	if (m->cut || x->cut)
		r->flags |= STORE_DNS_CUT;
	for (size_t k = 0; k < m->n_answers; k++) {
		if (r->n_answers == STORE_DNS_ANSWERS) {
			r->flags |= STORE_DNS_MORE;
			break;
		}
		r->answers[r->n_answers++] = name_id(s, m->answers[k].data);
	}
	if (m->ancount > m->n_answers)
		r->flags |= STORE_DNS_MORE;
	if (m->rcode == 0)
		learn_addresses(s, m, r->name, r->pid, x->ts);
}

static void on_dns_msg(void *ctx, const struct dns_msg *m)
{
	struct dns_ctx *x = ctx;

	if (!x->d->received && !m->response)
		add_query(x, m);
	else if (x->d->received && m->response)
		add_response(x, m);
}

static int add_dns(struct store *s, uint64_t ts, const Netspy__V1__Dns *d)
{
	/* 10 KiB: not on the stack; one per thread (the recorder's API runs tools beside it). */
	static _Thread_local struct dns_msg m;
	struct dns_ctx x = { s, ts, d, d->data.len < d->length };

	if (d->data.len == 0) {
		s->dns_unparsed++;
		return 0;
	}
	if (d->ip_proto == 6) {
		if (dns_parse_stream(d->data.data, d->data.len, on_dns_msg, &x, &m) < 0)
			s->dns_unparsed++;
		return 0;
	}
	if (dns_parse(d->data.data, d->data.len, &m) < 0) {
		s->dns_unparsed++;
		return 0;
	}
	on_dns_msg(&x, &m);
	return 0;
}

/* A lifecycle record for connect record abs, linked from it. */
static struct store_life *life_new(struct store *s, struct store_conn *r, uint64_t abs)
{
	struct store_life *l = ring_push(&s->lives, NULL, s);

	memset(l, 0, sizeof(*l));
	l->conn = abs;
	l->duration_ms = UINT32_MAX;
	r->life = (uint32_t)((s->lives.head - 1) & 0xffffff); /* its index mod 2^24 */
	r->flags |= STORE_CONN_LIFE;
	return l;
}

static struct store_life *life_of(struct store *s, uint64_t abs)
{
	return (struct store_life *)store_conn_life(s, abs);
}

/* An accepted connection: a connect record with the local end as its destination (the port the
 * server listens on), and its life record with the peer. */
static void add_accept(struct store *s, uint64_t ts, const Netspy__V1__TcpAccept *a)
{
	struct store_conn *r = ring_push(&s->conns, &ts, s);
	uint64_t abs = s->conns.head - 1;
	struct store_life *l;

	memset(r, 0, sizeof(*r));
	r->ts_ns = ts;
	r->pid = a->pid;
	r->comm = proc_id(s, a->pid, &a->comm);
	r->cgroup = (uint16_t)cgroup_index(s, a->cgroup_id);
	r->dst = endpoint_id(s, a->family, &a->local_addr, a->local_port);
	r->proto = 6;
	r->outcome = 1;
	r->flags = STORE_CONN_INBOUND;
	l = life_new(s, r, abs);
	l->peer = endpoint_id(s, a->family, &a->peer_addr, a->peer_port);
	cookie_put(&s->open, a->cookie, abs);
}

static void end_totals(struct store_life *l, const Netspy__V1__TcpEnd *e)
{
	l->bytes_sent = e->bytes_sent;
	l->bytes_received = e->bytes_received;
	l->retrans = e->retransmits;
	l->segs_out = e->segs_out;
	l->rtt_us = e->srtt_us;
	l->duration_ms = e->start_unknown ? UINT32_MAX : e->duration_ms;
	l->end = (unsigned)e->end < STORE_N_ENDS ? (uint8_t)e->end : STORE_END_CLOSED;
	l->ended = 1;
}

/* Notes where an end is, in arrival order; an index, not an event: a wrap is not an eviction. */
static void end_push(struct store *s, uint64_t ts, uint64_t conn)
{
	struct store_ring *r = &s->ends;
	struct store_end_ref *e;

	if (r->count == r->mask + 1 && r->mask + 1 < r->max && r->head == r->count)
		ring_grow(r);
	if (r->count && ts < store_end_at(s, r->head - 1)->ts_ns)
		ts = store_end_at(s, r->head - 1)->ts_ns;
	e = (struct store_end_ref *)(r->v + (r->head & r->mask) * r->elem);
	if (r->count < r->mask + 1)
		r->count++;
	r->head++;
	e->ts_ns = ts;
	e->conn = conn;
}

static void add_end(struct store *s, uint64_t ts, const Netspy__V1__TcpEnd *e)
{
	uint64_t abs = 0;
	struct store_conn *r = cookie_take(s, &s->open, e->cookie, &abs);
	struct store_life *l;

	if (!r) {
		/* Its start is not stored (before this analyzer's window, or before netspyd):
		 * the connection is recorded at its end. */
		r = ring_push(&s->conns, &ts, s);
		abs = s->conns.head - 1;
		memset(r, 0, sizeof(*r));
		r->ts_ns = ts;
		r->pid = e->pid;
		r->comm = comm_id(s, &e->comm);
		r->proto = 6;
		r->outcome = 1;
		r->flags = e->inbound ? STORE_CONN_INBOUND : 0;
		r->dst = e->inbound ? endpoint_id(s, e->family, &e->local_addr, e->local_port)
				    : endpoint_id(s, e->family, &e->peer_addr, e->peer_port);
	}
	l = life_of(s, abs);
	if (!l) {
		l = life_new(s, r, abs);
		l->peer = endpoint_id(s, e->family, &e->peer_addr, e->peer_port);
	}
	end_totals(l, e);
	cookie_put(&s->ended, e->cookie, abs);
	end_push(s, ts, abs);
}

static void add_signal(struct store *s, uint64_t ts, const Netspy__V1__TcpSignal *g, uint8_t kind)
{
	struct store_signal *r = ring_push(&s->signals, &ts, s);

	memset(r, 0, sizeof(*r));
	r->ts_ns = ts;
	r->pid = g->pid;
	r->comm = comm_id(s, &g->comm);
	r->peer = endpoint_id(s, g->family, &g->peer_addr, g->peer_port);
	r->local_port = (uint16_t)g->local_port;
	r->kind = kind;
	r->segs = (uint16_t)(g->segments ? g->segments : 1);
	r->count = g->count ? g->count : 1; /* folded during a flood: the events it stands for */
	if (kind == STORE_SIG_RESET_SENT) {
		/* Sent as its socket closed: the connection that just ended ended with it. */
		uint64_t abs = 0;
		struct store_conn *c = cookie_take(s, &s->ended, g->cookie, &abs);
		struct store_life *l = c ? life_of(s, abs) : NULL;

		if (l && l->end == STORE_END_CLOSED)
			l->end = STORE_END_RESET_SENT;
		if (c)
			r->inbound = !!(c->flags & STORE_CONN_INBOUND);
	}
}

const struct store_life *store_conn_life(const struct store *s, uint64_t abs)
{
	const struct store_conn *r = store_conn_at(s, abs);
	const struct store_life *l;
	uint64_t idx;

	if (!(r->flags & STORE_CONN_LIFE) || !s->lives.count)
		return NULL;
	/* The newest record whose index has these low 24 bits (a store keeps fewer than 2^24 life
	 * records; an older one than that reads as none). */
	idx = (s->lives.head - 1) - (((s->lives.head - 1) - r->life) & 0xffffff);
	if (idx + s->lives.count < s->lives.head)
		return NULL;
	l = store_ring_at(&s->lives, idx);
	return l->conn == abs ? l : NULL;
}

uint32_t store_conn_remote(const struct store *s, uint64_t abs)
{
	const struct store_conn *r = store_conn_at(s, abs);
	const struct store_life *l;

	if (!(r->flags & STORE_CONN_INBOUND))
		return r->dst;
	l = store_conn_life(s, abs);
	return l ? l->peer : 0;
}

int store_add(struct store *s, const Netspy__V1__Event *ev)
{
	switch (ev->kind_case) {
	case NETSPY__V1__EVENT__KIND_CONNECT:
		add_connect(s, ev->timestamp_ns, ev->connect);
		return 0;
	case NETSPY__V1__EVENT__KIND_TCP_OUTCOME:
		add_outcome(s, ev->tcp_outcome);
		return 0;
	case NETSPY__V1__EVENT__KIND_DROP:
		add_drop(s, ev->timestamp_ns, ev->drop);
		return 0;
	case NETSPY__V1__EVENT__KIND_TCP_ACCEPT:
		add_accept(s, ev->timestamp_ns, ev->tcp_accept);
		return 0;
	case NETSPY__V1__EVENT__KIND_TCP_END:
		add_end(s, ev->timestamp_ns, ev->tcp_end);
		return 0;
	case NETSPY__V1__EVENT__KIND_TCP_RETRANSMIT:
		add_signal(s, ev->timestamp_ns, ev->tcp_retransmit, STORE_SIG_RETRANSMIT);
		return 0;
	case NETSPY__V1__EVENT__KIND_TCP_RESET:
		add_signal(s, ev->timestamp_ns, ev->tcp_reset,
			   ev->tcp_reset->received ? STORE_SIG_RESET_RECEIVED
						   : STORE_SIG_RESET_SENT);
		return 0;
	case NETSPY__V1__EVENT__KIND_DNS:
		return add_dns(s, ev->timestamp_ns, ev->dns);
	default:
		return -EINVAL;
	}
}

const uint8_t *store_comm(const struct store *s, uint16_t id, size_t *ret_len)
{
	const uint8_t *p = intern_key(&s->comms, id < s->comms.n ? id : 0);

	*ret_len = strnlen((const char *)p, 16);
	return p;
}

const struct store_endpoint *store_endpoint(const struct store *s, uint32_t id)
{
	return intern_key(&s->endpoints, id < s->endpoints.n ? id : 0);
}

const char *store_reason(const struct store *s, uint16_t id)
{
	return intern_key(&s->reasons, id < s->reasons.n ? id : 0);
}

/* Whether a connect of the same process to the same port, started within the Happy Eyeballs
 * window of record abs, was established. Records are in time order: the scan stops at the
 * window's edges (and after a bounded number of records, on a very busy machine). */
static bool sibling_established(const struct store *s, uint64_t abs)
{
	const struct store_conn *r = store_conn_at(s, abs), *o;
	uint16_t port = store_endpoint(s, r->dst)->port;
	uint64_t first = s->conns.head - s->conns.count, i;
	int budget = 4096;

	for (int dir = -1; dir <= 1; dir += 2) {
		for (i = abs + (uint64_t)dir; i >= first && i < s->conns.head && budget-- > 0;
		     i += (uint64_t)dir) {
			o = store_conn_at(s, i);
			if (o->ts_ns + STORE_HAPPY_EYEBALLS_NS < r->ts_ns ||
			    o->ts_ns > r->ts_ns + STORE_HAPPY_EYEBALLS_NS)
				break;
			if (o->pid == r->pid && o->outcome == 1 &&
			    (!port || store_endpoint(s, o->dst)->port == port))
				return true;
		}
	}
	return false;
}

int store_conn_verdict(const struct store *s, uint64_t abs, bool *ret_failed)
{
	const struct store_conn *r = store_conn_at(s, abs);
	int outcome = r->outcome < STORE_N_OUTCOMES ? r->outcome : 6;

	*ret_failed = outcome >= 2 && outcome <= 6;
	if (*ret_failed && (r->flags & STORE_CONN_ABANDONED) && sibling_established(s, abs)) {
		*ret_failed = false;
		return 7; /* aborted: the slower of two attempts, by design */
	}
	/* A UDP connect that fails inside the syscall while the process connects elsewhere at once
	 * is how getaddrinfo() sorts its answers (RFC 6724: it connects a UDP socket to each
	 * address, IPv6 ones on a host without an IPv6 route too): a probe, not a failure. */
	if (*ret_failed && r->proto == 17 && (r->flags & STORE_CONN_SYNC) &&
	    sibling_established(s, abs))
		*ret_failed = false;
	return outcome;
}

size_t store_memory(const struct store *s)
{
	return (s->conns.mask + 1) * s->conns.elem + (s->drops.mask + 1) * s->drops.elem +
	       (s->lives.mask + 1) * s->lives.elem + (s->signals.mask + 1) * s->signals.elem +
	       (s->ends.mask + 1) * s->ends.elem +
	       (s->dns.mask + 1) * s->dns.elem + intern_memory(&s->names) +
	       s->dns_pending.n_slots * sizeof(struct cookie_slot) +
	       s->ipnames.n_slots * sizeof(*s->ipnames.slots) +
	       (s->pending.n_slots + s->udp_last.n_slots + s->open.n_slots + s->ended.n_slots) *
		   sizeof(struct cookie_slot) +
	       intern_memory(&s->comms) + intern_memory(&s->cgroups) + intern_memory(&s->reasons) +
	       intern_memory(&s->endpoints) + s->cg_cap * sizeof(*s->cg);
}

size_t store_count(const struct store *s)
{
	return (size_t)(s->conns.count + s->drops.count + s->signals.count + s->dns.count);
}
