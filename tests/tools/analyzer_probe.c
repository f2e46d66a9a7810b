/* Keeps a live analyzer subscribed for a while, as the shell and the MCP server do, and reports
 * what it saw: every notice (reconnects), then the connects of one process in its store.
 *
 *   analyzer_probe SOCKET PROCESS SECONDS
 * prints "ready" once the first replay is done, "notice: ..." lines, then "connects=N". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/analyzer.h"

int main(int argc, char **argv)
{
	struct analyzer_opts o = { .live = true };
	struct store_filter f = { 0 };
	struct store_conn_stats st;
	struct analyzer an;
	time_t end;

	if (argc != 4) {
		fprintf(stderr, "usage: analyzer_probe SOCKET PROCESS SECONDS\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	o.socket = argv[1];
	if (analyzer_open(&an, &o, 10000) < 0) {
		fprintf(stderr, "analyzer_probe: %s\n", an.error);
		return 2;
	}
	printf("ready\n");
	end = time(NULL) + atoi(argv[3]);
	while (time(NULL) < end) {
		if (analyzer_poll(&an, 100) < 0)
			usleep(100000); /* daemon away: analyzer_poll retries next time */
		if (an.notice[0]) {
			printf("notice: %s\n", an.notice);
			an.notice[0] = 0;
		}
	}
	f.process = argv[2];
	store_conn_stats(&an.store, &f, 0, &st);
	printf("connects=%llu reconnects=%u\n", (unsigned long long)st.total, an.reconnects);
	analyzer_close(&an);
	return 0;
}
