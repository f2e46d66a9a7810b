/* The decoding arena (see arena.h). Allocation failure returns NULL, which protobuf-c reports as
 * a message that does not unpack. */
#include <stdint.h>
#include <stdlib.h>

#include "core/arena.h"

#define ARENA_CHUNK (256u * 1024u)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

static struct arena_chunk *chunk_new(size_t want)
{
	size_t size = want > ARENA_CHUNK ? want : ARENA_CHUNK;
	struct arena_chunk *c = malloc(sizeof(*c) + size);

	if (c) {
		c->next = NULL;
		c->used = 0;
		c->size = size;
	}
	return c;
}

static void *arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	struct arena_chunk *c = a->chunks;
	size_t need = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);

	if (!c || c->size - c->used < need) {
		if (a->spare && a->spare->size >= need) {
			c = a->spare;
			a->spare = c->next;
		} else {
			c = chunk_new(need);
			if (!c)
				return NULL;
		}
		c->used = 0;
		c->next = a->chunks;
		a->chunks = c;
	}
	c->used += need;
	return (char *)c->data + c->used - need;
}

static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

void arena_init(struct arena *a)
{
	a->allocator = (ProtobufCAllocator){ arena_alloc, arena_free, a };
	a->chunks = a->spare = NULL;
}

void arena_reset(struct arena *a)
{
	while (a->chunks) {
		struct arena_chunk *c = a->chunks;

		a->chunks = c->next;
		c->next = a->spare;
		a->spare = c;
	}
}

static void free_list(struct arena_chunk *c)
{
	while (c) {
		struct arena_chunk *next = c->next;

		free(c);
		c = next;
	}
}

void arena_fini(struct arena *a)
{
	free_list(a->chunks);
	free_list(a->spare);
	a->chunks = a->spare = NULL;
}
