/* Fixed-size key interning with linear probing; keys are never removed one by one (the store
 * rebuilds its tables instead), so no tombstones are needed. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/intern.h"

/* Mixes 8 bytes at a time: keys are short (8 to 48 bytes) and hashed once per stored event. */
static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

int intern_init(struct intern *t, size_t key_len, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->key_len = key_len;
	t->max = max;
	return 0;
}

void intern_fini(struct intern *t)
{
	free(t->keys);
	free(t->slots);
	t->keys = NULL;
	t->slots = NULL;
	t->n = t->n_slots = 0;
}

void intern_clear(struct intern *t)
{
	t->n = 0;
	if (t->slots)
		memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
}

/* The slot holding key, or the empty slot where it would go. */
static size_t slot_of(const struct intern *t, const void *key, bool *found)
{
	size_t mask = t->n_slots - 1, i = hash_bytes(key, t->key_len) & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t v = t->slots[i];

		if (!v) {
			*found = false;
			return i;
		}
		if (!memcmp(intern_key(t, v - 1), key, t->key_len)) {
			*found = true;
			return i;
		}
	}
}

int64_t intern_find(const struct intern *t, const void *key)
{
	bool found;
	size_t i;

	if (!t->n_slots)
		return -1;
	i = slot_of(t, key, &found);
	return found ? (int64_t)t->slots[i] - 1 : -1;
}

static int grow(struct intern *t)
{
	size_t cap = t->n_slots ? t->n_slots * 2 : 64;
	uint32_t *slots = calloc(cap, sizeof(*slots));
	uint8_t *keys = realloc(t->keys, cap / 2 * t->key_len);

	if (!slots || !keys) {
		free(slots);
		if (keys)
			t->keys = keys;
		return -ENOMEM;
	}
	free(t->slots);
	t->keys = keys;
	t->slots = slots;
	t->n_slots = cap;
	for (size_t id = 0; id < t->n; id++) {
		bool found;

		t->slots[slot_of(t, intern_key(t, (uint32_t)id), &found)] = (uint32_t)id + 1;
	}
	return 0;
}

int64_t intern_get(struct intern *t, const void *key)
{
	bool found;
	size_t i;

	/* Consecutive events mostly repeat a process and destination: check the last one first. */
	if (t->last < t->n && !memcmp(intern_key(t, t->last), key, t->key_len))
		return (int64_t)t->last;
	if (t->n_slots) {
		i = slot_of(t, key, &found);
		if (found) {
			t->last = t->slots[i] - 1;
			return (int64_t)t->last;
		}
	}
	if (t->n >= t->max)
		return -ENOSPC;
	/* Keys live in an array of n_slots / 2 entries: grow before it is full. */
	if (t->n + 1 > t->n_slots / 2) {
		int r = grow(t);

		if (r < 0)
			return r;
	}
	i = slot_of(t, key, &found);
	memcpy(t->keys + t->n * t->key_len, key, t->key_len);
	t->slots[i] = (uint32_t)++t->n;
	t->last = (uint32_t)t->n - 1;
	return (int64_t)t->n - 1;
}

size_t intern_memory(const struct intern *t)
{
	return t->n_slots * sizeof(*t->slots) + t->n_slots / 2 * t->key_len;
}
