/* Reading the clocks: one helper for netspyd, the analyzer, tests and benchmarks. */
#ifndef NETSPY_CLOCK_H
#define NETSPY_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on clock id (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for wall time). */
uint64_t clock_ns(clockid_t id);
/* Milliseconds on clock id, signed for deadline arithmetic. */
int64_t clock_ms(clockid_t id);
/* Seconds on clock id with their fraction, for rates and durations in tests and benchmarks. */
double clock_sec(clockid_t id);

#endif
