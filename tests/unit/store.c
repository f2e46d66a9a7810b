/* The event store: aggregations, filters, the cookie merge of TCP outcomes, bounds, memory per
 * event, and cgroup -> unit attribution. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"
#include "core/store.h"
#include "synth.h"

static void test_aggregations(void)
{
	struct store s;
	struct store_filter all = { 0 };
	struct store_conn_stats st;

	store_init(&s, 1024, "/nonexistent");
	synth_scenario(&s);
	CHECK(store_conn_stats(&s, &all, STORE_STATS_DETAIL, &st) == 0, "conn stats");
	CHECK(st.total == 11 && st.failed == 3, "11 connects, 3 failed (got %llu, %llu)",
	      (unsigned long long)st.total, (unsigned long long)st.failed);
	CHECK(st.by_proto[6] == 5 && st.by_proto[17] == 6, "by protocol: 5 TCP, 6 UDP");
	CHECK(st.by_outcome[2] == 3 && st.by_outcome[1] == 2 &&
		  st.by_outcome[STORE_OUTCOME_SENT] == 6,
	      "outcomes: 3 refused, 2 established, 6 sent");
	CHECK(st.latency_count == 2 && st.latency_p50_ms == 1.0 && st.latency_p99_ms == 3.0,
	      "latency percentiles of established connects (p50 %.3f, p99 %.3f)", st.latency_p50_ms,
	      st.latency_p99_ms);
	CHECK(st.n_destinations == 4 && st.destinations[0].count == 4 &&
		  store_endpoint(&s, st.destinations[0].key)->port == 53,
	      "top destination is 10.0.0.53:53 with 4");
	CHECK(st.n_refused == 1 && st.refused[0].count == 3 &&
		  store_endpoint(&s, st.refused[0].key)->port == 1,
	      "refused destination 10.0.0.1:1 x3");
	CHECK(st.n_processes == 2 && st.processes[0].count == 7 && st.processes[0].failed == 3,
	      "per process: curl 7 (3 failed) first");
	store_fini(&s);
}

static void test_filters(void)
{
	struct store s;
	struct store_conn_stats st;
	struct store_drop_stats ds;
	struct store_filter f = { .pid = 200 };
	uint64_t idx[4], total;
	size_t n;

	store_init(&s, 1024, "/nonexistent");
	synth_scenario(&s);
	store_conn_stats(&s, &f, 0, &st);
	CHECK(st.total == 4, "pid filter: dig's 4");
	f = (struct store_filter){ .process = "curl" };
	store_conn_stats(&s, &f, 0, &st);
	CHECK(st.total == 7, "process filter: curl's 7");
	f = (struct store_filter){ .process = "nosuch" };
	store_conn_stats(&s, &f, 0, &st);
	CHECK(st.total == 0, "unknown process matches nothing");
	f = (struct store_filter){ .since_ns = T0 + 4 * SEC, .until_ns = T0 + 7 * SEC };
	store_conn_stats(&s, &f, 0, &st);
	CHECK(st.total == 4, "time window [T0+4s, T0+7s] holds 4 (got %llu)",
	      (unsigned long long)st.total);
	f = (struct store_filter){ .process = "curl" };
	store_list_conns(&s, &f, idx, 4, &n, &total);
	CHECK(n == 4 && total == 7 && store_conn_at(&s, idx[0])->ts_ns == T0 + 7 * SEC,
	      "list: newest first, bounded by max, total counted");
	store_drop_stats(&s, &f, &ds);
	CHECK(ds.total == 2 && ds.attributed == 2, "drops of curl: 2");
	free(ds.by_reason);
	f = (struct store_filter){ 0 };
	store_drop_stats(&s, &f, &ds);
	CHECK(ds.total == 4 && ds.n_reasons >= 3, "all drops: 4");
	for (size_t i = 0; i < ds.n_reasons; i++)
		if (!strcmp(store_reason(&s, (uint16_t)i), "NO_SOCKET"))
			CHECK(ds.by_reason[i] == 3, "NO_SOCKET x3");
	free(ds.by_reason);
	f = (struct store_filter){ .unit = "x.service" };
	CHECK(store_drop_stats(&s, &f, &ds) == 0 && ds.total == 0, "no drops in an unknown unit");
	free(ds.by_reason);
	store_fini(&s);
}

static void test_cookie_merge(void)
{
	struct store s;
	struct store_filter all = { 0 };
	struct store_conn_stats st;

	store_init(&s, 4, "/nonexistent");
	synth_connect(&s, T0, 1, "a", 6, 1, 80, 77, 0);
	store_conn_stats(&s, &all, 0, &st);
	CHECK(st.by_outcome[STORE_OUTCOME_PENDING] == 1, "TCP connect is pending until resolved");
	synth_outcome(&s, T0 + 1, 77, 1, 2500000);
	CHECK(store_conn_at(&s, 0)->outcome == 1 && store_conn_at(&s, 0)->latency_us == 2500,
	      "outcome and latency merged into the connect record by cookie");
	synth_outcome(&s, T0 + 2, 77, 2, 0);
	CHECK(s.orphan_outcomes == 1 && store_conn_at(&s, 0)->outcome == 1,
	      "a second outcome for the same cookie does not rewrite it");
	synth_connect(&s, T0 + 3, 1, "a", 6, 1, 80, 88, 0);
	for (int i = 0; i < 4; i++)
		synth_connect(&s, T0 + 4 + i, 1, "a", 17, 1, 53, 0, 0);
	synth_outcome(&s, T0 + 9, 88, 2, 0);
	CHECK(s.orphan_outcomes == 2, "outcome of an evicted connect is not applied elsewhere");
	store_conn_stats(&s, &all, 0, &st);
	CHECK(st.by_outcome[2] == 0 && st.by_outcome[STORE_OUTCOME_SENT] == 4, "UDP is 'sent'");
	store_fini(&s);
}

/* Outcomes arriving in any order land on their own connect (exercises the cookie map's probing
 * and deletion with many entries). */
static void test_cookie_shuffle(void)
{
	enum { N = 5000 };
	static uint64_t cookies[N], orig[N];
	struct store s;
	int bad = 0;

	store_init(&s, 8192, "/nonexistent");
	srand(7);
	for (int i = 0; i < N; i++) {
		cookies[i] = ((uint64_t)rand() << 32 | (uint64_t)rand()) | 1;
		orig[i] = cookies[i];
		synth_connect(&s, T0 + (uint64_t)i, 1, "a", 6, 1, 80, cookies[i], 0);
	}
	for (int i = N - 1; i > 0; i--) {
		int j = rand() % (i + 1);
		uint64_t t = cookies[i];

		cookies[i] = cookies[j];
		cookies[j] = t;
	}
	for (int i = 0; i < N; i++)
		synth_outcome(&s, T0 + N, cookies[i], 1, (cookies[i] % 1000 + 1) * 1000);
	for (uint64_t a = 0; a < N; a++) {
		const struct store_conn *r = store_conn_at(&s, a);

		bad += r->outcome != 1 || r->latency_us != orig[a] % 1000 + 1;
	}
	CHECK(bad == 0 && s.orphan_outcomes == 0 && s.pending.n == 0,
	      "5000 outcomes in shuffled order all merged (%d wrong, %llu orphans, %zu left)", bad,
	      (unsigned long long)s.orphan_outcomes, s.pending.n);
	store_fini(&s);
}

static void test_bounds_and_memory(void)
{
	struct store s;
	size_t n = 1000000;

	store_init(&s, 1000, "/nonexistent");
	for (int i = 0; i < 5000; i++)
		synth_connect(&s, T0 + (uint64_t)i, 1, "a", 17, 1, 53, 0, 0);
	CHECK(s.conns.count == 1024 && s.evicted == 5000 - 1024,
	      "capacity 1000 keeps the newest 1024 (power of two), evicts the rest");
	CHECK(store_conn_at(&s, s.conns.head - s.conns.count)->ts_ns == T0 + 5000 - 1024,
	      "the oldest kept is the right one");
	synth_connect(&s, T0, 1, "a", 17, 1, 53, 0, 0);
	CHECK(store_conn_at(&s, s.conns.head - 1)->ts_ns == T0 + 4999,
	      "a timestamp that steps back is clamped: the ring stays sorted");
	store_fini(&s);

	store_init(&s, n, "/nonexistent");
	for (size_t i = 0; i < n; i++) {
		char comm[16];

		snprintf(comm, sizeof(comm), "proc%zu", i % 50);
		synth_connect(&s, T0 + i * 1000, (uint32_t)(i % 500 + 1), comm, i % 3 ? 17 : 6,
			      (uint8_t)(i % 250), (uint32_t)(i % 1000), i + 1, 0);
	}
	CHECK(store_count(&s) == n, "1,000,000 events stored");
	CHECK(store_memory(&s) / n <= 64, "memory per event: %zu bytes (<= 64)",
	      store_memory(&s) / n);
	store_fini(&s);

	/* Worst case: every event to a destination of its own. */
	store_init(&s, n, "/nonexistent");
	for (size_t i = 0; i < n; i++)
		synth_connect(&s, T0 + i, 1, "a", 17, (uint8_t)i, (uint32_t)(i >> 8) + 1, 0, 0);
	CHECK(s.endpoints.n == n + 1 && store_memory(&s) / n <= 64,
	      "memory per event with 1,000,000 distinct destinations: %zu bytes (<= 64)",
	      store_memory(&s) / n);
	store_fini(&s);
}

/* A long-running analyzer sees more names than its tables hold: the tables are rebuilt from the
 * records still stored, so the newest records keep their names. */
static void test_compaction(void)
{
	struct store s;
	uint64_t first;
	int good = 0, good_drops = 0;

	/* Capacity 8: the endpoints table holds 4 x 8 + 1 keys; shrink the others to match. */
	store_init(&s, 8, "/nonexistent");
	s.comms.max = 40;
	s.cgroups.max = 20;
	s.reasons.max = 12;
	for (uint32_t i = 0; i < 1000; i++) {
		char comm[16], reason[16];

		snprintf(comm, sizeof(comm), "p%u", i);
		snprintf(reason, sizeof(reason), "R%u", i);
		synth_connect(&s, T0 + i, i + 1, comm, 17, (uint8_t)(i % 250), 1000 + i, 0,
			      5000 + i);
		synth_drop(&s, T0 + i, reason, i + 1, comm, 17, 2000 + i);
	}
	/* The reasons table (12 keys, a new reason per drop) is the one that fills most often. */
	CHECK(s.rebuilds > 0 && s.rebuilds <= 2000 / (12 / 4),
	      "the tables were rebuilt, at most once per 3 records (12 / 4) of 2000 (%llu times)",
	      (unsigned long long)s.rebuilds);
	CHECK(s.endpoints.n <= s.endpoints.max && s.comms.n <= 40 && s.cgroups.n <= 20,
	      "no table grew past its limit (%zu endpoints, %zu names, %zu cgroups)", s.endpoints.n,
	      s.comms.n, s.cgroups.n);
	first = s.conns.head - s.conns.count;
	for (uint64_t a = first; a < s.conns.head; a++) {
		const struct store_conn *r = store_conn_at(&s, a);
		uint32_t i = r->pid - 1;
		char want[16];
		size_t len;
		const uint8_t *name = store_comm(&s, r->comm, &len);
		const struct store_cgroup_info *cg = store_cgroup(&s, r->cgroup);

		snprintf(want, sizeof(want), "p%u", i);
		good += store_endpoint(&s, r->dst)->port == 1000 + i && len == strlen(want) &&
			!memcmp(name, want, len) && cg && cg->id == 5000 + i;
	}
	CHECK(s.conns.count == 8 && good == 8,
	      "the 8 connects still stored keep destination, name and cgroup (%d of 8)", good);
	for (uint64_t a = s.drops.head - s.drops.count; a < s.drops.head; a++) {
		const struct store_drop *r = store_drop_at(&s, a);
		char want[16];

		snprintf(want, sizeof(want), "R%u", r->pid - 1);
		good_drops += store_endpoint(&s, r->dst)->port == 2000 + r->pid - 1 &&
			      store_endpoint(&s, r->src)->port == 40000 &&
			      !strcmp(store_reason(&s, r->reason), want);
	}
	CHECK(s.drops.count == 8 && good_drops == 8,
	      "the 8 drops still stored keep their addresses and reason (%d of 8)", good_drops);
	store_fini(&s);
}

static void test_units(void)
{
	char unit[128], ctr[128], tmpl[] = "/tmp/netspy-cg.XXXXXX", path[256], mi[300];
	const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct store s;
	struct stat st;
	FILE *f;

	cgroup_classify("system.slice/nginx.service", unit, sizeof(unit), ctr, sizeof(ctr));
	CHECK(!strcmp(unit, "nginx.service") && !ctr[0], "system.slice/nginx.service");
	snprintf(path, sizeof(path), "system.slice/docker-%s.scope", hex);
	cgroup_classify(path, unit, sizeof(unit), ctr, sizeof(ctr));
	CHECK(!strcmp(ctr, "0123456789ab") && !strncmp(unit, "docker-", 7), "docker scope: %s",
	      ctr);
	snprintf(path, sizeof(path), "kubepods.slice/kubepods-pod1.slice/cri-containerd-%s.scope",
		 hex);
	cgroup_classify(path, unit, sizeof(unit), ctr, sizeof(ctr));
	CHECK(!strcmp(ctr, "0123456789ab"), "containerd scope");
	snprintf(path, sizeof(path), "machine.slice/libpod-%s.scope/container", hex);
	cgroup_classify(path, unit, sizeof(unit), ctr, sizeof(ctr));
	CHECK(!strcmp(ctr, "0123456789ab") && !strncmp(unit, "libpod-", 7), "podman scope");
	cgroup_classify("user.slice/user-1000.slice/session-2.scope", unit, sizeof(unit), ctr,
			sizeof(ctr));
	CHECK(!strcmp(unit, "session-2.scope"), "session scope");
	cgroup_classify("", unit, sizeof(unit), ctr, sizeof(ctr));
	CHECK(!unit[0] && !ctr[0], "root cgroup: no unit");

	CHECK(mkdtemp(tmpl) != NULL, "temporary cgroup tree");
	snprintf(path, sizeof(path), "%s/system.slice", tmpl);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/system.slice/web.service", tmpl);
	mkdir(path, 0755);
	stat(path, &st);
	store_init(&s, 16, tmpl);
	synth_connect(&s, T0, 5, "web", 6, 1, 80, 1, (uint64_t)st.st_ino);
	CHECK(store_cgroup(&s, 0) && store_cgroup(&s, 0)->unit &&
		  !strcmp(store_cgroup(&s, 0)->unit, "web.service"),
	      "cgroup id (directory inode) resolves to its unit");
	{
		struct store_filter fu = { .unit = "web" };
		struct store_conn_stats cs;

		store_conn_stats(&s, &fu, 0, &cs);
		CHECK(cs.total == 1, "--unit web matches web.service");
		fu.unit = "other.service";
		store_conn_stats(&s, &fu, 0, &cs);
		CHECK(cs.total == 0, "--unit other.service matches nothing");
	}
	{
		struct store_filter fu = { .unit = "web.service" };
		struct store_drop_stats ds;

		synth_drop(&s, T0 + 1, "NO_SOCKET", 5, "web", 17, 9);
		synth_drop(&s, T0 + 2, "NO_SOCKET", 6, "other", 17, 9);
		synth_drop(&s, T0 + 3, "NO_SOCKET", 0, NULL, 17, 9);
		store_drop_stats(&s, &fu, &ds);
		CHECK(ds.total == 1, "drops of a unit: those whose owner connected from it");
		free(ds.by_reason);
	}
	store_fini(&s);
	snprintf(mi, sizeof(mi), "%s/mountinfo", tmpl);
	f = fopen(mi, "w");
	fprintf(f, "25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
		   "41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime - cgroup2 cgroup2 rw\n");
	fclose(f);
	CHECK(cgroup_find_mount(mi, path, sizeof(path)) == 0 &&
		  !strcmp(path, "/sys/fs/cgroup/uni fied"),
	      "cgroup2 mount found in mountinfo (%s)", path);
	snprintf(path, sizeof(path), "rm -rf %s", tmpl);
	CHECK(system(path) == 0, "cleanup");
}

/* What counts as failed: synchronous failures (TCP and UDP), an abandoned attempt without an
 * answer, and the Happy Eyeballs exception. */
static void test_verdicts(void)
{
	struct store s;
	struct store_filter all = { 0 };
	struct store_conn_stats st;
	bool failed;

	store_init(&s, 1024, "/nonexistent");
	/* No route: 3 TCP and 1 UDP connect fail inside the syscall. */
	for (int i = 0; i < 3; i++) {
		synth_connect(&s, T0 + (uint64_t)i, 10, "nsnoroute", 6, 10, 5432, 100 + i, 1);
		synth_outcome_ex(&s, T0 + (uint64_t)i, 100 + i, 4, 6, 101, true, false);
	}
	synth_connect(&s, T0 + 5, 10, "nsnoroute", 17, 10, 53, 200, 1);
	synth_outcome_ex(&s, T0 + 5, 200, 4, 17, 101, true, false);
	synth_connect(&s, T0 + 6, 10, "nsnoroute", 17, 11, 53, 201, 1); /* this one took: sent */
	CHECK(store_conn_stats(&s, &all, 0, &st) == 0 && st.total == 5 && st.failed == 4 &&
		  st.by_outcome[4] == 4 && st.by_outcome[STORE_OUTCOME_SENT] == 1 &&
		  st.by_outcome[STORE_OUTCOME_PENDING] == 0,
	      "no route: 4 of 5 failed, unreachable, none pending (got %llu of %llu)",
	      (unsigned long long)st.failed, (unsigned long long)st.total);
	CHECK(store_conn_at(&s, 3)->err == 101 && (store_conn_at(&s, 3)->flags & STORE_CONN_SYNC),
	      "the UDP connect keeps its errno and that it failed inside connect()");
	/* An application gives up after 1.5 s: timeout, abandoned, failed. */
	synth_connect(&s, T0 + 10 * SEC, 20, "nsdbapp", 6, 20, 5432, 300, 1);
	synth_outcome_ex(&s, T0 + 11 * SEC, 300, 3, 6, 0, false, true);
	CHECK(store_conn_verdict(&s, 5, &failed) == 3 && failed, "an unanswered abandon: failed");
	/* Happy Eyeballs: IPv6 (abandoned, unanswered) and, 250 ms later, IPv4 established. */
	synth_connect(&s, T0 + 20 * SEC, 30, "nsg-he", 6, 30, 443, 400, 1);
	synth_connect(&s, T0 + 20 * SEC + 250000000, 30, "nsg-he", 6, 31, 443, 401, 1);
	synth_outcome_ex(&s, T0 + 20 * SEC + 250100000, 401, 1, 6, 0, false, false);
	synth_outcome_ex(&s, T0 + 21 * SEC, 400, 3, 6, 0, false, true);
	CHECK(store_conn_verdict(&s, 6, &failed) == 7 && !failed,
	      "abandoned while its sibling succeeded: aborted, not failed");
	/* The same abandon with the success 5 s later is not Happy Eyeballs. */
	synth_connect(&s, T0 + 30 * SEC, 40, "nslate", 6, 40, 443, 500, 1);
	synth_outcome_ex(&s, T0 + 31 * SEC, 500, 3, 6, 0, false, true);
	synth_connect(&s, T0 + 35 * SEC, 40, "nslate", 6, 41, 443, 501, 1);
	synth_outcome_ex(&s, T0 + 35 * SEC, 501, 1, 6, 0, false, false);
	CHECK(store_conn_verdict(&s, 8, &failed) == 3 && failed,
	      "a success outside the window does not excuse it");
	/* getaddrinfo()'s sorting: a UDP probe to an IPv6 address fails (no route), then the TCP
	 * connect to the IPv4 address succeeds. */
	synth_connect(&s, T0 + 40 * SEC, 50, "nscurl", 17, 50, 443, 600, 1);
	synth_outcome_ex(&s, T0 + 40 * SEC, 600, 4, 17, 101, true, false);
	synth_connect(&s, T0 + 40 * SEC + 1000000, 50, "nscurl", 6, 51, 443, 601, 1);
	synth_outcome_ex(&s, T0 + 40 * SEC + 2000000, 601, 1, 6, 0, false, false);
	CHECK(store_conn_verdict(&s, 10, &failed) == 4 && !failed,
	      "a UDP probe that failed while the real connect succeeded: unreachable, not failed");
	store_fini(&s);
}

int main(void)
{
	test_aggregations();
	test_filters();
	test_cookie_merge();
	test_cookie_shuffle();
	test_bounds_and_memory();
	test_compaction();
	test_units();
	test_verdicts();
	return CHECK_DONE();
}
