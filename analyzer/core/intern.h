/* Interning of fixed-size keys (process names, endpoints, cgroup ids, drop reasons) to small
 * dense ids, so that stored events hold an id instead of the bytes and aggregations can count
 * into plain arrays indexed by id. */
#ifndef NETSPY_INTERN_H
#define NETSPY_INTERN_H

#include <stddef.h>
#include <stdint.h>

struct intern {
	size_t key_len;	 /* bytes per key */
	size_t max;	 /* most keys it will hold */
	size_t n;	 /* keys held; ids are 0..n-1 */
	uint8_t *keys;	 /* n * key_len bytes, in id order */
	uint32_t *slots; /* open addressing: id + 1, 0 = empty */
	size_t n_slots;	 /* power of two, > 2 * n */
	uint32_t last;	 /* id returned last (a one-entry cache) */
};

int intern_init(struct intern *t, size_t key_len, size_t max);
void intern_fini(struct intern *t);
/* Forgets every key (ids restart at 0). */
void intern_clear(struct intern *t);
/* The id of key, adding it when new. -ENOSPC when full, -ENOMEM. */
int64_t intern_get(struct intern *t, const void *key);
/* The id of key, or -1 when it was never added. */
int64_t intern_find(const struct intern *t, const void *key);
static inline const void *intern_key(const struct intern *t, uint32_t id)
{
	return t->keys + (size_t)id * t->key_len;
}
/* Bytes held. */
size_t intern_memory(const struct intern *t);

#endif
