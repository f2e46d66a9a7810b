/* The tool registry: every tool in the order they are listed, lookup, and validated invocation.
 * Adding a tool is one file with its descriptor plus one line here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "tools/context.h"
#include "tools/tool.h"

extern const struct tool tool_get_network_summary, tool_list_connections,
    tool_get_packet_drop_summary, tool_list_packet_drops, tool_analyze_patterns, tool_ai_insights,
    tool_contextual_analysis, tool_get_dns_summary, tool_list_dns_queries, tool_find_anomalies,
    tool_get_tcp_quality;

const struct tool *const tool_registry[] = {
	&tool_get_network_summary,     &tool_list_connections,
	&tool_get_packet_drop_summary, &tool_list_packet_drops,
	&tool_analyze_patterns,	       &tool_get_dns_summary,
	&tool_list_dns_queries,	       &tool_find_anomalies,
	&tool_ai_insights,	       &tool_contextual_analysis,
	&tool_get_tcp_quality,
	NULL,
};

const struct tool *tool_lookup(const struct tool *const *list, const char *word, bool by_command)
{
	for (const struct tool *const *t = list; word && t && *t; t++)
		if (!strcmp((*t)->name, word) ||
		    (by_command && (*t)->command && !strcmp((*t)->command, word)) ||
		    (by_command && (*t)->alias && !strcmp((*t)->alias, word)))
			return *t;
	return NULL;
}

const struct tool *tool_find(const char *name)
{
	return tool_lookup(tool_registry, name, true);
}

const struct tool *const *tool_context_tools(const struct tool_context *ctx)
{
	return ctx && ctx->tools ? ctx->tools : tool_registry;
}

int tool_invoke(const struct tool *t, struct tool_context *ctx, json_object *args,
		json_object **ret, char **ret_error)
{
	json_object *empty = NULL;
	char *why = NULL;
	int r;

	if (!args)
		args = empty = json_object_new_object();
	if (schema_validate(t->input_schema, args, &why) < 0) {
		*ret_error = text_printf("invalid arguments for %s: %s", t->name, why ? why : "");
		free(why);
		json_object_put(empty);
		return -EINVAL;
	}
	*ret = NULL;
	*ret_error = NULL;
	r = t->run(ctx, args, ret, ret_error);
	json_object_put(empty);
	if (r < 0 && !*ret_error)
		*ret_error = strdup(strerror(-r));
	return r;
}
