/* A bump allocator for decoding daemon messages: protobuf-c allocates every event, submessage
 * and bytes field separately, and a replay decodes hundreds of thousands of them; with an arena
 * that is reset after each message, allocation is a pointer bump and freeing is nothing. */
#ifndef NETSPY_ARENA_H
#define NETSPY_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

struct arena_chunk;

struct arena {
	ProtobufCAllocator allocator; /* hand &arena.allocator to protobuf-c */
	struct arena_chunk *chunks;   /* the current chunk first */
	struct arena_chunk *spare;    /* emptied chunks kept for reuse */
};

void arena_init(struct arena *a);
/* Forgets every allocation (the memory is kept for the next message). */
void arena_reset(struct arena *a);
void arena_fini(struct arena *a);

#endif
