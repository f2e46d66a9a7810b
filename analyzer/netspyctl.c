/* netspyctl: ask netspyd what the machine is doing on the network. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "live.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: netspyctl [OPTION]... COMMAND [ARG]...\n"
		   "Query netspyd, the eBPF network telemetry daemon.\n"
		   "\n"
		   "Commands:\n"
		   "  status            daemon version, uptime, events seen and lost, clients\n"
		   "  watch             print live events as they happen (Ctrl-C stops)\n"
		   "\n"
		   "Options:\n"
		   "  -s, --socket PATH     netspyd's socket (env NETSPY_SOCKET; default %s)\n"
		   "      --json            machine-readable output (watch: one object per line)\n"
		   "      --pid N           only this process id\n"
		   "      --process NAME    only processes with this name\n"
		   "      --replay SECONDS  watch: begin with the last SECONDS of events\n"
		   "      --max-events N    watch: stop after N events\n"
		   "      --timeout SECONDS watch: stop after SECONDS\n"
		   "  -h, --help            show this help\n"
		   "  -V, --version         show the version\n"
		   "\n"
		   "Exit status: 0 ok, 1 usage error, 2 netspyd unreachable, 3 permission denied\n"
		   "(join the group netspy), 4 AI backend error.\n",
		NETSPY_DEFAULT_SOCKET);
}

static int parse_u64(const char *opt, const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (!*s || *end || s[0] == '-') {
		fprintf(stderr, "netspyctl: %s needs a whole number, not '%s'\n", opt, s);
		return -1;
	}
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_PID, OPT_PROCESS, OPT_REPLAY, OPT_MAX, OPT_TIMEOUT };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "process", required_argument, NULL, OPT_PROCESS },
		{ "replay", required_argument, NULL, OPT_REPLAY },
		{ "max-events", required_argument, NULL, OPT_MAX },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct live_opts o = { 0 };
	uint64_t v;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			o.socket = optarg;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_PID:
			if (parse_u64("--pid", optarg, &v) || !v || v > UINT32_MAX)
				return NETSPY_EXIT_USAGE;
			o.pid = (uint32_t)v;
			break;
		case OPT_PROCESS:
			o.process = optarg;
			break;
		case OPT_REPLAY:
			if (parse_u64("--replay", optarg, &o.replay_seconds))
				return NETSPY_EXIT_USAGE;
			break;
		case OPT_MAX:
			if (parse_u64("--max-events", optarg, &o.max_events))
				return NETSPY_EXIT_USAGE;
			break;
		case OPT_TIMEOUT:
			if (parse_u64("--timeout", optarg, &o.timeout_s))
				return NETSPY_EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("netspyctl %s\n", NETSPY_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'netspyctl --help' for more information.\n");
			return NETSPY_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return NETSPY_EXIT_USAGE;
	}
	if (!strcmp(argv[optind], "status"))
		return live_status(&o);
	if (!strcmp(argv[optind], "watch"))
		return live_watch(&o);
	fprintf(stderr, "netspyctl: unknown command '%s'\nTry 'netspyctl --help'.\n", argv[optind]);
	return NETSPY_EXIT_USAGE;
}
