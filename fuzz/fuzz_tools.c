/* Fuzzes what a model, an MCP client or a shell user controls: a data tool's arguments, as JSON
 * (MCP tools/call) or as command-line words (netspyctl, the shell). The first byte picks the tool
 * and the form; valid arguments run the tool over a small store, and its result must validate
 * against its own output schema and print without trouble. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ai/ai.h"
#include "core/analyzer.h"
#include "frontends/cliargs.h"
#include "tools/context.h"
#include "tools/tool.h"

#define FUZZ_MAX_INPUT 4096
#define MAX_WORDS 32

static void add_connect(struct store *s, uint64_t ts, const char *comm, uint32_t proto,
			uint64_t cookie)
{
	Netspy__V1__Event ev = NETSPY__V1__EVENT__INIT;
	Netspy__V1__Connect c = NETSPY__V1__CONNECT__INIT;
	uint8_t dst[4] = { 127, 0, 0, 1 };

	c.pid = 42;
	c.comm.data = (uint8_t *)comm;
	c.comm.len = strlen(comm);
	c.ip_proto = proto;
	c.family = 2;
	c.dst_addr.data = dst;
	c.dst_addr.len = 4;
	c.dst_port = 80;
	c.cookie = cookie;
	ev.timestamp_ns = ts;
	ev.kind_case = NETSPY__V1__EVENT__KIND_CONNECT;
	ev.connect = &c;
	store_add(s, &ev);
}

static struct tool_context *context(void)
{
	static struct analyzer an;
	static struct tool_context ctx;
	struct analyzer_opts o = { .capacity = 64, .cgroup_root = "/nonexistent" };
	struct timespec ts;

	if (ctx.an)
		return &ctx;
	analyzer_init(&an, &o);
	clock_gettime(CLOCK_REALTIME, &ts);
	add_connect(&an.store, (uint64_t)ts.tv_sec * 1000000000ull - 1, "curl", 6, 7);
	add_connect(&an.store, (uint64_t)ts.tv_sec * 1000000000ull, "\x1b[31mred", 17, 0);
	ctx.an = &an;
	ctx.tools = tool_registry;
	ctx.analyst = &ai_analyst;
	return &ctx;
}

/* Words separated by newlines, as a shell line splits into. */
static json_object *args_from_words(const struct tool *t, const uint8_t *data, size_t size)
{
	char buf[FUZZ_MAX_INPUT + 1], *words[MAX_WORDS], *save = NULL, *err = NULL;
	json_object *args = NULL;
	int n = 0;

	memcpy(buf, data, size);
	buf[size] = 0;
	for (char *w = strtok_r(buf, "\n", &save); w && n < MAX_WORDS;
	     w = strtok_r(NULL, "\n", &save))
		words[n++] = w;
	if (tool_args_from_argv(t, n, words, &args, &err) < 0)
		args = NULL;
	free(err);
	return args;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tool_context *ctx = context();
	const struct tool *t;
	json_object *args, *res = NULL;
	char *err = NULL, *why;
	FILE *devnull;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	t = tool_registry[(data[0] & 0x7f) % 5];
	if (data[0] & 0x80)
		args = args_from_words(t, data + 1, size - 1);
	else
		args = json_tokener_parse(strndupa((const char *)data + 1, size - 1));
	if (!args)
		return 0;
	if (tool_invoke(t, ctx, args, &res, &err) == 0) {
		if (schema_validate(t->output_schema, res, &why) < 0) {
			fprintf(stderr, "%s: result does not validate: %s\n", t->name, why);
			abort();
		}
		devnull = fopen("/dev/null", "w");
		if (devnull) {
			t->print(devnull, res);
			fclose(devnull);
		}
	}
	free(err);
	json_object_put(res);
	json_object_put(args);
	return 0;
}
