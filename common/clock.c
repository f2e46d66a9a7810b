/* Reading the clocks. clock_gettime cannot fail for these clock ids on Linux. */
#include "clock.h"

uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t clock_ms(clockid_t id)
{
	return (int64_t)(clock_ns(id) / 1000000ull);
}

double clock_sec(clockid_t id)
{
	return (double)clock_ns(id) / 1e9;
}
