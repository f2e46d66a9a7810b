/* netspyctl: ask netspyd what the machine is doing on the network. Every tool of the registry is
 * a subcommand (and works in the original's `--tool NAME` form); status and watch talk to the
 * daemon directly; shell and mcp start the interactive frontends. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/ai.h"
#include "ai/openai.h"
#include "core/analyzer.h"
#include "core/history.h"
#include "frontends/cliargs.h"
#include "core/client.h"
#include "tools/context.h"
#include "frontends/frontend.h"
#include "frontends/live.h"
#include "frontends/mcp.h"
#include "frontends/record.h"
#include "frontends/shell.h"
#include "tools/tool.h"

#define MAX_WORDS 256

struct cli {
	const char *socket, *tool, *command, *history;
	bool json, help, version;
	struct ai_settings ai;
	int argc; /* the command's own words */
	char *argv[MAX_WORDS];
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: netspyctl [OPTION]... COMMAND [ARG]...\n"
		   "       netspyctl [OPTION]... --tool NAME [--pid N] [--process NAME] "
		   "[--duration S] [--max-events N] [--summary-text TEXT] [--query TEXT]\n"
		   "Ask netspyd, the eBPF network telemetry daemon, what this machine does on the "
		   "network.\n\nCommands:\n");
	for (const struct tool *const *t = tool_registry; *t; t++) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "%s%s", (*t)->command,
			 !strcmp((*t)->command, "insights") ? " TEXT"
			 : !strcmp((*t)->command, "ask")    ? " QUERY"
							    : "");
		fprintf(f, "  %-16s %s (%s)\n", cmd, (*t)->title, (*t)->name);
	}
	fprintf(
	    f,
	    "  %-16s daemon version, uptime, events seen and lost, clients\n"
	    "  %-16s print events as they happen (--replay S, --timeout S, --max-events N)\n"
	    "  %-16s interactive prompt accepting the same commands (default on a terminal)\n"
	    "  %-16s Model Context Protocol server on stdin/stdout\n"
	    "  %-16s the recorder service: per-minute history, Prometheus metrics, HTTP API\n"
	    "\nFilters (tool commands): --pid N, --process NAME, --duration SECONDS (default "
	    "60),\n  --max-events N (lists, default 100), --unit UNIT (systemd unit or container),\n"
	    "  --dest ADDR|NAME, --port N, --protocol tcp|udp (connections, drops),\n"
	    "  --direction in|out, --outcome O (connections), --reason R (drops),\n"
	    "  --name NAME (DNS; a name matches the names below it)\n"
	    "\nOptions:\n"
	    "  -s, --socket PATH     netspyd's socket (env NETSPY_SOCKET; default %s)\n"
	    "      --json            print the result as one JSON object\n"
	    "      --history FILE    the recorder's database, for windows older than netspyd's\n"
	    "                        backlog (env NETSPY_HISTORY; default " HISTORY_DEFAULT_PATH
	    ")\n"
	    "      --tool NAME       run the tool NAME (the original netspy's form)\n"
	    "      --api-key-file F  AI: file holding the API key (else $OPENAI_API_KEY)\n"
	    "      --base-url URL    AI: OpenAI-compatible endpoint (else $OPENAI_BASE_URL)\n"
	    "      --model NAME      AI: model (else $NETSPY_MODEL, default " OPENAI_DEFAULT_MODEL
	    ")\n"
	    "      --offline         AI: never call a model, use the built-in analyst\n"
	    "      --share-cmdline   AI: send processes' command lines to the model too (env\n"
	    "                        NETSPY_SHARE_CMDLINE=1; they may hold secrets: by default\n"
	    "                        the model sees the executable path only)\n"
	    "  -h, --help            show this help (COMMAND --help: that command's help)\n"
	    "  -V, --version         show the version\n"
	    "\nExamples:\n"
	    "  netspyctl summary                      what happened in the last 60 seconds\n"
	    "  netspyctl summary --pid 1234 --duration 120\n"
	    "  netspyctl list --process curl --max-events 20\n"
	    "  netspyctl analyze --unit nginx.service --json\n"
	    "  netspyctl drops; netspyctl list-drops --process dnsmasq\n"
	    "  netspyctl ask \"why does curl fail?\"\n"
	    "  netspyctl --tool list_connections --process curl --max-events 15\n"
	    "\nExit status: 0 ok, 1 usage error, 2 netspyd unreachable, 3 permission denied\n"
	    "(join the group netspy), 4 AI backend error.\n",
	    "status", "watch", "shell", "mcp", "record", NETSPY_DEFAULT_SOCKET);
}

/* Global options take effect wherever they appear; *i advances past a value. 1 when w was one,
 * 0 when not, -1 on a missing value. */
static int global_option(struct cli *c, int argc, char **argv, int *i)
{
	static const struct {
		const char *name;
		size_t off; /* of the const char * it sets */
	} valued[] = {
		{ "--socket", offsetof(struct cli, socket) },
		{ "-s", offsetof(struct cli, socket) },
		{ "--tool", offsetof(struct cli, tool) },
		{ "--history", offsetof(struct cli, history) },
		{ "--api-key-file", offsetof(struct cli, ai.api_key_file) },
		{ "--base-url", offsetof(struct cli, ai.base_url) },
		{ "--model", offsetof(struct cli, ai.model) },
	};
	const char *w = argv[*i];

	if (!strcmp(w, "--json") || !strcmp(w, "--offline") || !strcmp(w, "--share-cmdline") ||
	    !strcmp(w, "-h") ||
	    !strcmp(w, "--help") || !strcmp(w, "-V") || !strcmp(w, "--version")) {
		c->json |= !strcmp(w, "--json");
		c->ai.offline |= !strcmp(w, "--offline");
		c->ai.share_cmdline |= !strcmp(w, "--share-cmdline");
		c->help |= !strcmp(w, "-h") || !strcmp(w, "--help");
		c->version |= !strcmp(w, "-V") || !strcmp(w, "--version");
		return 1;
	}
	for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
		size_t n = strlen(valued[k].name);
		const char **slot = (const char **)((char *)c + valued[k].off);

		if (strncmp(w, valued[k].name, n) || (w[n] && w[n] != '='))
			continue;
		if (w[n] == '=') {
			*slot = w + n + 1;
		} else {
			if (*i + 1 >= argc) {
				fprintf(stderr, "netspyctl: %s needs a value\n", w);
				return -1;
			}
			*slot = argv[++*i];
		}
		return 1;
	}
	return 0;
}

static int add_word(struct cli *c, char *w)
{
	if (c->argc >= MAX_WORDS) {
		fprintf(stderr, "netspyctl: too many arguments\n");
		return -1;
	}
	c->argv[c->argc++] = w;
	return 0;
}

static int parse_cli(int argc, char **argv, struct cli *c)
{
	bool words_only = false;

	for (int i = 1; i < argc; i++) {
		char *w = argv[i];
		int r = words_only ? 0 : global_option(c, argc, argv, &i);

		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		if (!words_only && !strcmp(w, "--"))
			words_only = true;
		if (!words_only && w[0] == '-' && w[1]) {
			/* A command option: every one takes a value, given with = or next. */
			if (add_word(c, w) < 0 ||
			    (!strchr(w, '=') && i + 1 < argc && add_word(c, argv[++i]) < 0))
				return -1;
		} else if (!c->command && !c->tool) {
			c->command = w;
		} else if (add_word(c, w) < 0) {
			return -1;
		}
	}
	return 0;
}

static void print_result(const struct cli *c, const struct tool *t, json_object *result)
{
	if (c->json)
		printf("%s\n",
		       json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		t->print(stdout, result);
}

static int invoke(const struct cli *c, const struct tool *t, struct tool_context *ctx,
		  json_object *args)
{
	json_object *result = NULL;
	char *err = NULL;
	int r = tool_invoke(t, ctx, args, &result, &err);

	if (r < 0) {
		fprintf(stderr, "netspyctl: %s\n", err ? err : strerror(-r));
		if (r == -EINVAL)
			fprintf(stderr, "Try 'netspyctl %s --help'.\n", t->command);
		free(err);
		return frontend_exit_code(r, NETSPY_EXIT_USAGE);
	}
	print_result(c, t, result);
	json_object_put(result);
	return 0;
}

static int run_tool(struct cli *c, const struct tool *t)
{
	struct analyzer_opts o = { .socket = c->socket };
	struct tool_context ctx = {
		.tools = tool_registry,
		.analyst = &ai_analyst,
		.ai = c->ai,
		.progress = stderr,
		.history = c->history,
	};
	struct analyzer an;
	json_object *args = NULL;
	char *err = NULL, comm[16];
	int r;

	if (tool_args_from_argv(t, c->argc, c->argv, &args, &err) < 0 ||
	    schema_validate(t->input_schema, args, &err) < 0) {
		fprintf(stderr, "netspyctl %s: %s\nTry 'netspyctl %s --help'.\n", t->command, err,
			t->command);
		free(err);
		json_object_put(args);
		return NETSPY_EXIT_USAGE;
	}
	ctx.ai.stream = !c->json && isatty(STDOUT_FILENO);
	ctx.stream_out = ctx.ai.stream ? stdout : NULL;
	frontend_push_down_filter(t, args, &o, comm);
	r = analyzer_open(&an, &o, 60000);
	if (r < 0 && !t->open_world) {
		fprintf(stderr, "netspyctl: %s\n", an.error);
		json_object_put(args);
		return frontend_exit_code(r, NETSPY_EXIT_UNREACHABLE);
	}
	if (r < 0)
		fprintf(stderr, "netspyctl: %s; answering without event data\n", an.error);
	else
		ctx.an = &an;
	r = invoke(c, t, &ctx, args);
	if (ctx.an)
		analyzer_close(&an);
	json_object_put(args);
	return r;
}

static int run_frontend(struct cli *c, bool mcp)
{
	struct analyzer_opts o = { .socket = c->socket, .live = true };
	struct tool_context ctx = {
		.tools = tool_registry, .analyst = &ai_analyst, .ai = c->ai, .history = c->history
	};
	struct analyzer an;
	int r = analyzer_init(&an, &o);

	if (r < 0) {
		fprintf(stderr, "netspyctl: %s\n", an.error);
		return NETSPY_EXIT_UNREACHABLE;
	}
	r = analyzer_connect(&an, 60000);
	if (r < 0 && !mcp) {
		fprintf(stderr, "netspyctl: %s\n", an.error);
		analyzer_close(&an);
		return frontend_exit_code(r, NETSPY_EXIT_UNREACHABLE);
	}
	if (r < 0)
		fprintf(stderr, "netspyctl mcp: %s (will retry on each tool call)\n", an.error);
	ctx.an = &an;
	ctx.progress = mcp ? NULL : stderr;
	ctx.ai.stream = !mcp && isatty(STDOUT_FILENO);
	ctx.stream_out = ctx.ai.stream ? stdout : NULL;
	r = mcp ? mcp_main(&ctx) : shell_main(&ctx);
	analyzer_close(&an);
	return r;
}

static int parse_u64(const char *opt, const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || s[0] == '-' || errno) {
		fprintf(stderr, "netspyctl: %s needs a whole number, not '%s'\n", opt, s);
		return -1;
	}
	*ret = v;
	return 0;
}

/* status and watch: their own options, parsed from the command's words. */
static int run_live(struct cli *c, bool watch)
{
	enum { OPT_PID = 256, OPT_PROCESS, OPT_REPLAY, OPT_MAX, OPT_TIMEOUT };
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, OPT_PID },
		{ "process", required_argument, NULL, OPT_PROCESS },
		{ "replay", required_argument, NULL, OPT_REPLAY },
		{ "max-events", required_argument, NULL, OPT_MAX },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ 0 },
	};
	struct live_opts o = { .socket = c->socket, .json = c->json, .history = c->history };
	char *argv[MAX_WORDS + 1] = { (char *)(watch ? "netspyctl watch" : "netspyctl status") };
	uint64_t v = 0;
	int opt;

	memcpy(argv + 1, c->argv, (size_t)c->argc * sizeof(char *));
	optind = 0;
	while ((opt = getopt_long(c->argc + 1, argv, "+", watch ? opts : opts + 5, NULL)) != -1) {
		const char *name = opt == OPT_PID      ? "--pid"
				   : opt == OPT_REPLAY ? "--replay"
				   : opt == OPT_MAX    ? "--max-events"
						       : "--timeout";

		if (opt == '?')
			return NETSPY_EXIT_USAGE;
		if (opt == OPT_PROCESS) {
			o.process = optarg;
			continue;
		}
		if (parse_u64(name, optarg, &v))
			return NETSPY_EXIT_USAGE;
		if (opt == OPT_PID)
			o.pid = v <= UINT32_MAX ? (uint32_t)v : 0;
		else if (opt == OPT_REPLAY)
			o.replay_seconds = v;
		else if (opt == OPT_MAX)
			o.max_events = v;
		else
			o.timeout_s = v;
	}
	if (optind <= c->argc) {
		fprintf(stderr, "netspyctl: unexpected argument '%s'\n", argv[optind]);
		return NETSPY_EXIT_USAGE;
	}
	return watch ? live_watch(&o) : live_status(&o);
}

static int run_record(struct cli *c)
{
	struct record_opts o = { .socket = c->socket };
	char *argv[MAX_WORDS + 1] = { (char *)"netspyctl record" };
	int r;

	memcpy(argv + 1, c->argv, (size_t)c->argc * sizeof(char *));
	r = record_parse(c->argc + 1, argv, &o);
	if (r)
		return r == 2 ? NETSPY_EXIT_OK : NETSPY_EXIT_USAGE;
	return record_main(&o);
}

static int help_for(const char *command)
{
	const struct tool *t = tool_find(command);

	if (t) {
		tool_print_help(stdout, t, "netspyctl");
		return 0;
	}
	if (!strcmp(command, "record")) {
		char *argv[] = { (char *)"netspyctl record", (char *)"--help", NULL };
		struct record_opts o = { 0 };

		record_parse(2, argv, &o);
		return 0;
	}
	if (!strcmp(command, "status") || !strcmp(command, "watch") || !strcmp(command, "shell") ||
	    !strcmp(command, "mcp")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "netspyctl: unknown command '%s'\nTry 'netspyctl --help'.\n", command);
	return NETSPY_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	const struct tool *t;

	if (parse_cli(argc, argv, &c) < 0)
		return NETSPY_EXIT_USAGE;
	if (c.version) {
		printf("netspyctl %s\n", NETSPY_VERSION);
		return 0;
	}
	if (c.help && (c.command || c.tool))
		return help_for(c.command ? c.command : c.tool);
	if (c.help || (c.command && !strcmp(c.command, "help")))
		return c.argc ? help_for(c.argv[0]) : (usage(stdout), 0);
	ai_settings_resolve(&c.ai);
	if (c.tool) {
		t = tool_find(c.tool);
		if (!t) {
			fprintf(stderr, "netspyctl: unknown tool '%s'\nTry 'netspyctl --help'.\n",
				c.tool);
			return NETSPY_EXIT_USAGE;
		}
		return run_tool(&c, t);
	}
	if (!c.command) {
		if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
			return run_frontend(&c, false);
		usage(stderr);
		return NETSPY_EXIT_USAGE;
	}
	if (!strcmp(c.command, "status") || !strcmp(c.command, "watch"))
		return run_live(&c, !strcmp(c.command, "watch"));
	if (!strcmp(c.command, "record"))
		return run_record(&c);
	if (!strcmp(c.command, "shell") || !strcmp(c.command, "mcp"))
		return run_frontend(&c, !strcmp(c.command, "mcp"));
	t = tool_find(c.command);
	if (!t) {
		fprintf(stderr, "netspyctl: unknown command '%s'\nTry 'netspyctl --help'.\n",
			c.command);
		return NETSPY_EXIT_USAGE;
	}
	return run_tool(&c, t);
}
