/* Loads the original design's connect tracepoint (bench/orig_connect.bpf.c) and consumes its ring
 * buffer one wakeup at a time, as the original daemon did. Prints "ready" once attached and
 * "events=N" when stopped with SIGTERM or SIGINT. A benchmark baseline, not part of netspy. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "orig_connect.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	++*(uint64_t *)ctx;
	return 0;
}

int main(void)
{
	struct orig_connect_bpf *skel = orig_connect_bpf__open_and_load();
	struct ring_buffer *rb = NULL;
	uint64_t events = 0;
	int r = 1;

	if (!skel) {
		fprintf(stderr, "orig_consumer: loading: %s\n", strerror(errno));
		return 1;
	}
	if (orig_connect_bpf__attach(skel)) {
		fprintf(stderr, "orig_consumer: attaching (is tracefs mounted?): %s\n",
			strerror(errno));
		goto cleanup;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.orig_events), on_sample, &events, NULL);
	if (!rb) {
		fprintf(stderr, "orig_consumer: ring buffer: %s\n", strerror(errno));
		goto cleanup;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (!stop) {
		int n = ring_buffer__poll(rb, 100);

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "orig_consumer: poll: %s\n", strerror(-n));
			goto cleanup;
		}
	}
	ring_buffer__consume(rb);
	printf("events=%" PRIu64 "\n", events);
	r = 0;
cleanup:
	ring_buffer__free(rb);
	orig_connect_bpf__destroy(skel);
	return r;
}
