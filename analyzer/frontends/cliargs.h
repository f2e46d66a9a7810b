/* Command-line words -> a tool's JSON arguments, driven by the tool's input schema, so that
 * netspyctl, its --tool form and the interactive shell accept the same options for every tool:
 * --pid 1234 --duration 120 --process curl --max-events 20 --unit nginx, and the positional
 * TEXT of insights / QUERY of ask. */
#ifndef NETSPY_CLIARGS_H
#define NETSPY_CLIARGS_H

#include <stdio.h>
#include <json-c/json.h>

#include "tools/tool.h"

/* argv holds only the tool's words (no command name). Returns 0 with *ret set, or -EINVAL with
 * *ret_error a malloc'd message naming the option and what it needs. Values are not range
 * checked here: tool_invoke() validates them against the schema. */
int tool_args_from_argv(const struct tool *t, int argc, char **argv, json_object **ret,
			char **ret_error);
/* Query parameters (GET /api/list-connections?pid=1&process_name=curl: names as the schema's
 * properties, values as text) -> the tool's JSON arguments, typed by the schema like options.
 * n pairs; a NULL value is an empty one. 0 with *ret set, or -EINVAL with *ret_error naming the
 * parameter (unknown, given twice, or not of its type). Not range checked: tool_invoke() is. */
int tool_args_from_pairs(const struct tool *t, size_t n, const char *const *keys,
			 const char *const *values, json_object **ret, char **ret_error);
/* The option spelling of an argument: process_name -> "--process", max_events -> "--max-events". */
void cliargs_option_name(const char *property, char *buf, size_t len);
/* Usage of one tool, generated from its descriptor (netspyctl COMMAND --help, the shell's help). */
void tool_print_help(FILE *f, const struct tool *t, const char *program);

#endif
