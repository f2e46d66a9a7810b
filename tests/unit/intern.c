/* Unit tests of the interning tables (analyzer/core/intern.c): dense ids, lookups across growth,
 * the one-entry cache, the size limit and clearing. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/intern.h"

struct key {
	char name[16];
	unsigned n;
};

static struct key key_of(unsigned n)
{
	struct key k;

	memset(&k, 0, sizeof(k));
	snprintf(k.name, sizeof(k.name), "proc-%u", n % 7);
	k.n = n;
	return k;
}

static void test_ids(void)
{
	struct intern t;
	struct key k = key_of(1), other = key_of(2);
	bool dense = true, stable = true, found = true;

	intern_init(&t, sizeof(struct key), 100000);
	CHECK(intern_find(&t, &k) == -1, "an empty table finds nothing");
	CHECK(intern_get(&t, &k) == 0 && intern_get(&t, &other) == 1, "ids are dense from 0");
	CHECK(intern_get(&t, &k) == 0 && intern_get(&t, &k) == 0,
	      "the same key keeps its id (also through the last-key cache)");
	CHECK(!memcmp(intern_key(&t, 1), &other, sizeof(other)), "intern_key gives the key back");
	/* Enough keys to grow the table several times (64 slots at first). */
	for (unsigned i = 3; i < 5000; i++) {
		struct key ki = key_of(i);

		dense &= intern_get(&t, &ki) == (int64_t)i - 1;
	}
	CHECK(dense && t.n == 4999, "5000 distinct keys get ids 0..4998 in order of arrival");
	for (unsigned i = 3; i < 5000; i++) {
		struct key ki = key_of(i);

		stable &= intern_get(&t, &ki) == (int64_t)i - 1;
		found &= intern_find(&t, &ki) == (int64_t)i - 1;
	}
	CHECK(stable && found, "every id survives the growth of the table");
	CHECK(t.n_slots > 2 * t.n, "the table stays under half full (%zu slots, %zu keys)",
	      t.n_slots, t.n);
	CHECK(intern_memory(&t) >= t.n * sizeof(struct key), "intern_memory counts the keys");
	k = key_of(99999);
	CHECK(intern_find(&t, &k) == -1, "a key never added is not found");
	intern_fini(&t);
}

static void test_limit_and_clear(void)
{
	struct intern t;
	struct key a = key_of(1), b = key_of(2), c = key_of(3);

	intern_init(&t, sizeof(struct key), 2);
	CHECK(intern_get(&t, &a) == 0 && intern_get(&t, &b) == 1, "two keys fit a table of two");
	CHECK(intern_get(&t, &c) == -ENOSPC, "a third key is refused with -ENOSPC");
	CHECK(intern_get(&t, &a) == 0, "known keys still resolve when the table is full");
	intern_clear(&t);
	CHECK(t.n == 0 && intern_find(&t, &a) == -1, "clear forgets every key");
	CHECK(intern_get(&t, &c) == 0 && intern_get(&t, &a) == 1,
	      "ids restart at 0 after a clear (the cached last key is not reused)");
	intern_fini(&t);
	intern_fini(&t);
	CHECK(t.keys == NULL && t.slots == NULL && t.n == 0, "fini twice is harmless");
}

int main(void)
{
	test_ids();
	test_limit_and_clear();
	return CHECK_DONE();
}
