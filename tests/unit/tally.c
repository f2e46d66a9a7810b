/* netspyd's per-second counters (collectord/tally.c): counts by kind, folded records as their
 * count, windows, coverage when a window reaches before the counters, the hour's bound. */
#include "check.h"
#include "../../collectord/tally.c"

#define SEC 1000000000ull

static uint64_t get(const struct tally_entry *e, size_t n, uint8_t kind, uint8_t type,
		    uint32_t key)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].kind == kind && e[i].type == type && e[i].key == key)
			return e[i].count;
	return 0;
}

static struct netspy_event drop(uint32_t reason, uint8_t proto, uint32_t count)
{
	struct netspy_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = NETSPY_EV_DROP;
	ev.ip_proto = proto;
	ev.drop.reason = reason;
	ev.drop.count = count;
	return ev;
}

int main(void)
{
	struct tally t;
	struct tally_entry *e = NULL;
	size_t n = 0;
	uint64_t since = 0, t0 = 1000000 * SEC;
	struct netspy_event d1 = drop(2, 17, 0), d2 = drop(2, 17, 12000), d3 = drop(5, 6, 0);
	struct netspy_event oc;

	CHECK(tally_init(&t, t0) == 0, "init");
	tally_event(&t, &d1, t0 + 1, 1);
	tally_event(&t, &d2, t0 + SEC + 5, 12000);
	tally_event(&t, &d3, t0 + 2 * SEC, 1);
	memset(&oc, 0, sizeof(oc));
	oc.type = NETSPY_EV_TCP_OUTCOME;
	oc.ip_proto = 6;
	oc.outcome = 2;
	tally_event(&t, &oc, t0 + 2 * SEC, 1);
	oc.type = NETSPY_EV_DNS; /* a later kind: not in the counters */
	tally_event(&t, &oc, t0 + 2 * SEC, 1);
	tally_add(&t, t0 + 2 * SEC, TALLY_LOST, 0, 0, 3);

	CHECK(tally_query(&t, t0, 0, &e, &n, &since) == 0, "query everything");
	CHECK(get(e, n, TALLY_EVENTS, NETSPY_EV_DROP, 0) == 12002, "drops: a folded record counts as its count (%llu)",
	      (unsigned long long)get(e, n, TALLY_EVENTS, NETSPY_EV_DROP, 0));
	CHECK(get(e, n, TALLY_DROP_REASON, NETSPY_EV_DROP, 2) == 12001, "by reason");
	CHECK(get(e, n, TALLY_PROTOCOL, NETSPY_EV_DROP, 17) == 12001, "by protocol");
	CHECK(get(e, n, TALLY_OUTCOME, NETSPY_EV_TCP_OUTCOME, 2) == 1, "by outcome");
	CHECK(get(e, n, TALLY_EVENTS, NETSPY_EV_DNS, 0) == 0,
	      "the later kinds (DNS, the TCP lifecycle's) are not counted: a Counters message names "
	      "only the first release's kinds");
	CHECK(get(e, n, TALLY_LOST, 0, 0) == 3, "kernel losses per second");
	CHECK(since == t0, "coverage: the window from the start");
	free(e);

	CHECK(tally_query(&t, t0 + SEC, t0 + 2 * SEC, &e, &n, &since) == 0 &&
		  get(e, n, TALLY_EVENTS, NETSPY_EV_DROP, 0) == 12000,
	      "a window of one second holds that second only");
	free(e);

	CHECK(tally_query(&t, t0 - 100 * SEC, 0, &e, &n, &since) == 0 && since == t0,
	      "a window before the counters start says where they start");
	free(e);

	/* More than an hour later: the old seconds are gone, the coverage says so. */
	tally_event(&t, &d1, t0 + (TALLY_SECONDS + 10) * SEC, 1);
	CHECK(tally_query(&t, t0, 0, &e, &n, &since) == 0 &&
		  get(e, n, TALLY_EVENTS, NETSPY_EV_DROP, 0) == 1 && since == t0 + 11 * SEC,
	      "after the kept hour only the new second counts (since %llu)",
	      (unsigned long long)((since - t0) / SEC));
	free(e);

	/* A second with more distinct keys than it keeps sums the rest under "other". */
	for (uint32_t r = 0; r < TALLY_MAX_ENTRIES + 50; r++) {
		struct netspy_event x = drop(1000 + r, 17, 0);

		tally_event(&t, &x, t0 + (TALLY_SECONDS + 20) * SEC, 1);
	}
	CHECK(tally_query(&t, t0 + (TALLY_SECONDS + 20) * SEC, 0, &e, &n, &since) == 0 &&
		  get(e, n, TALLY_EVENTS, NETSPY_EV_DROP, 0) == TALLY_MAX_ENTRIES + 50,
	      "the total stays exact when a second runs out of entries");
	CHECK(get(e, n, TALLY_DROP_REASON, NETSPY_EV_DROP, TALLY_KEY_OTHER) > 0 &&
		  get(e, n, TALLY_DROP_REASON, NETSPY_EV_DROP, 1000) == 1,
	      "reasons beyond the second's room are summed as other, the others keep their own");
	free(e);
	tally_fini(&t);
	return CHECK_DONE();
}
