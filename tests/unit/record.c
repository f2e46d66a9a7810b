/* The recorder's rolling up (frontends/record.c): the events that name only their process (an
 * attributed drop, a retransmit, a reset) take the systemd unit of that process's connect even
 * when the connect sorts after them (drained late from netspyd's per-CPU rings), and what is
 * rolled up is counted once. */
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"
#include "../../analyzer/frontends/record.c"
#include "synth.h"

static char root[] = "/tmp/netspy-unit-record.XXXXXX";

/* A directory standing for a unit's cgroup under root; its inode number is the cgroup id. */
static uint64_t unit_cgroup(const char *unit)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/system.slice", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/system.slice/%s", root, unit);
	if (mkdir(path, 0755) < 0 || stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_ino;
}

/* The unit of process comm's row in rows (NULL: no unit; "?" when there is no such row). */
#define ROW_UNIT(rows, n, comm)                                                      \
	({                                                                           \
		const char *u_ = "?";                                                \
		for (size_t i_ = 0; i_ < (n); i_++)                                  \
			if ((rows)[i_].process && !strcmp((rows)[i_].process, comm)) \
				u_ = (rows)[i_].unit;                                \
		u_;                                                                  \
	})
#define UNIT_IS(u, want) ((u) && !strcmp((u), (want)))

static void test_late_connect(void)
{
	struct record_opts o = { .max_keys = 100, .max_series = 100 };
	uint64_t cg[3] = { unit_cgroup("rtx.service"), unit_cgroup("rst.service"),
			   unit_cgroup("drop.service") };
	struct recorder rc = { 0 };
	struct store *s = &rc.an.store;
	const char *u;

	CHECK(cg[0] && cg[1] && cg[2], "test cgroups under %s", root);
	recorder_init(&rc, &o);
	store_init(s, 1024, root);
	/* each event 1 ms before its own process's connect */
	synth_signal(s, T0 + 1000000, false, false, 201, "rtx", 1, 9, 443, 3);
	synth_signal(s, T0 + 2000000, true, true, 202, "rst", 2, 9, 443, 0);
	synth_drop(s, T0 + 3000000, "NO_SOCKET", 203, "drop", 17, 53);
	synth_connect(s, T0 + 2000000, 201, "rtx", 6, 9, 443, 1, cg[0]);
	synth_connect(s, T0 + 3000000, 202, "rst", 6, 9, 443, 2, cg[1]);
	synth_connect(s, T0 + 4000000, 203, "drop", 17, 9, 53, 3, cg[2]);
	process(&rc, T0 + 10 * SEC);
	CHECK(rc.events == 6 && rc.conn_next == 3 && rc.signal_next == 2 && rc.drop_next == 1,
	      "every event rolled up once (%llu)", (unsigned long long)rc.events);
	CHECK(rollup_rows(&rc.cur) == 0, "rollup_rows");
	u = ROW_UNIT(rc.cur.out.tcp, rc.cur.out.n_tcp, "rtx");
	CHECK(UNIT_IS(u, "rtx.service"), "a retransmit before its connect: the connect's unit (%s)",
	      u ? u : "none");
	u = ROW_UNIT(rc.cur.out.tcp, rc.cur.out.n_tcp, "rst");
	CHECK(UNIT_IS(u, "rst.service"), "a reset before its connect: the connect's unit (%s)",
	      u ? u : "none");
	u = ROW_UNIT(rc.cur.out.drops, rc.cur.out.n_drops, "drop");
	CHECK(UNIT_IS(u, "drop.service"), "a drop before its connect: the connect's unit (%s)",
	      u ? u : "none");
	store_fini(s);
	recorder_fini(&rc);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_late_connect();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
	return CHECK_DONE();
}
