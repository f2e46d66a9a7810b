/* Minimal unit-test helpers: each CHECK prints one "ok - ..." or "not ok - ..." line that
 * tests/run-all counts. Unit tests #include the .c under test when they need its statics. */
#ifndef NETSPY_CHECK_H
#define NETSPY_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (cond) {                                             \
			printf("ok - ");                                \
		} else {                                                \
			printf("not ok - %s:%d: ", __FILE__, __LINE__); \
			check_failures++;                               \
		}                                                       \
		printf(__VA_ARGS__);                                    \
		printf("\n");                                           \
	} while (0)

#define CHECK_DONE() (fflush(stdout), check_failures ? 1 : 0)

#endif
