/* Unit tests for netspyd's backlog ring (collectord/backlog.c). */
#include "check.h"
#include "../../collectord/backlog.c"

static struct netspy_event at(uint64_t ts)
{
	struct netspy_event e = { .type = NETSPY_EV_CONNECT, .ts_ns = ts };

	return e;
}

int main(void)
{
	struct backlog b;
	struct netspy_event e;

	CHECK(backlog_init(&b, 5, 100) == 0 && b.cap == 8, "capacity rounds up to a power of two");
	for (uint64_t i = 1; i <= 5; i++) {
		e = at(i * 10);
		backlog_push(&b, &e);
	}
	CHECK(backlog_len(&b) == 5 && b.tail == 1 && b.head == 6, "sequence numbers start at 1");
	CHECK(backlog_get(&b, 3) && backlog_get(&b, 3)->ts_ns == 30, "get by sequence number");
	CHECK(backlog_get(&b, 6) == NULL && backlog_get(&b, 0) == NULL,
	      "no event outside the window");
	CHECK(backlog_seek(&b, 25) == 3, "seek finds the first event at or after a time");
	CHECK(backlog_seek(&b, 1000) == b.head, "seek past the end gives head");
	for (uint64_t i = 6; i <= 12; i++) {
		e = at(i * 10);
		backlog_push(&b, &e);
	}
	CHECK(backlog_len(&b) == 5 && b.tail == 8,
	      "a full backlog keeps exactly the configured count");
	CHECK(backlog_get(&b, 7) == NULL && backlog_get(&b, 8)->ts_ns == 80,
	      "an evicted event is gone, the next is there");
	CHECK(backlog_expire(&b, 195) == 2 && b.tail == 10,
	      "events older than the age limit expire (95 ns and older)");
	CHECK(backlog_expire(&b, 50) == 0, "expiry with a clock before the limit does nothing");
	backlog_fini(&b);
	CHECK(backlog_init(&b, 0, 0) == -EINVAL, "a zero capacity is refused");
	return CHECK_DONE();
}
