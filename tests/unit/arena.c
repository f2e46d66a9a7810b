/* Unit tests of the decoding arena (analyzer/core/arena.c, included for its chunk list): aligned,
 * non-overlapping allocations, large ones, reuse of the memory after a reset, and protobuf-c
 * decoding into it. */
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../../analyzer/core/arena.c"
#include "check.h"
#include "netspy.pb-c.h"

static void *alloc(struct arena *a, size_t n)
{
	return a->allocator.alloc(a->allocator.allocator_data, n);
}

static void test_allocations(void)
{
	struct arena a;
	unsigned char *p[1000];
	bool aligned = true, apart = true;
	void *big, *first, *again;

	arena_init(&a);
	for (size_t i = 0; i < 1000; i++) {
		p[i] = alloc(&a, 1 + i % 97);
		aligned &= p[i] && (uintptr_t)p[i] % alignof(max_align_t) == 0;
		memset(p[i], (int)(i & 0xff), 1 + i % 97);
	}
	for (size_t i = 0; i < 1000; i++)
		for (size_t j = 0; j < 1 + i % 97; j++)
			apart &= p[i][j] == (unsigned char)(i & 0xff);
	CHECK(aligned, "every allocation is aligned for any type");
	CHECK(apart, "allocations do not overlap (each keeps what was written into it)");
	big = alloc(&a, 1u << 20);
	CHECK(big != NULL, "an allocation larger than a chunk gets a chunk of its own");
	memset(big, 0xab, 1u << 20);
	a.allocator.free(a.allocator.allocator_data, big); /* a no-op, as protobuf-c may call it */
	arena_reset(&a);
	CHECK(a.chunks == NULL && a.spare != NULL && a.spare->next != NULL,
	      "reset keeps the chunks for reuse");
	first = alloc(&a, 64);
	arena_reset(&a);
	again = alloc(&a, 64);
	CHECK(first && first == again, "after a reset the same memory is handed out again");
	arena_fini(&a);
	CHECK(a.chunks == NULL && a.spare == NULL, "fini frees every chunk");
	arena_fini(&a);
}

static void test_protobuf(void)
{
	Netspy__V1__Hello h = NETSPY__V1__HELLO__INIT, *out;
	uint8_t buf[256];
	size_t len;
	struct arena a;
	bool ok = true;

	h.protocol_version = 7;
	h.software = "netspy-test";
	len = netspy__v1__hello__pack(&h, buf);
	arena_init(&a);
	for (int i = 0; i < 10000 && ok; i++) {
		out = netspy__v1__hello__unpack(&a.allocator, len, buf);
		ok = out && out->protocol_version == 7 && !strcmp(out->software, "netspy-test");
		arena_reset(&a);
	}
	CHECK(ok, "10000 messages decode into the arena, reset after each");
	CHECK(a.chunks == NULL && a.spare && !a.spare->next,
	      "decoding and resetting 10000 times uses one chunk, over and over");
	arena_fini(&a);
}

int main(void)
{
	test_allocations();
	test_protobuf();
	return CHECK_DONE();
}
