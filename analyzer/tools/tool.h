/* One tool = one descriptor. netspyctl's subcommands, the interactive shell, the MCP server and the
 * model's function definitions are all generated from the registry of these descriptors, so a
 * tool is written once: adding one is one file in tools/ plus one line in
 * tools/registry.c (docs/HACKING.md has the checklist). */
#ifndef NETSPY_TOOL_H
#define NETSPY_TOOL_H

#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>

struct tool_context; /* defined by the analyzer (store, daemon connection, AI configuration) */

struct tool {
	const char *name;	   /* MCP tool and model function name: get_network_summary */
	const char *command;	   /* netspyctl subcommand and shell command: summary */
	const char *alias;	   /* another command name (contextual), or NULL */
	const char *title;	   /* short human title */
	const char *description;   /* for people, MCP clients and the model */
	const char *input_schema;  /* JSON Schema of the arguments (an object), as JSON text */
	const char *output_schema; /* JSON Schema of the result (structuredContent), as JSON text */
	bool read_only;		   /* MCP annotation readOnlyHint */
	bool open_world;	   /* MCP annotation openWorldHint (talks to the outside world) */
	bool offered_to_model;	   /* offered as a function in the model's tool loop */
	/* Runs the tool on already-validated arguments. On success returns 0 with *ret set to the
	 * result object (the MCP structuredContent, the --json document). On failure returns a
	 * negative errno-style code with *ret_error set to a malloc'd message a person or a model
	 * can act on; -EINVAL means the arguments were wrong, -ENOTCONN that the daemon cannot be
	 * reached, -EACCES a permission problem, -EREMOTEIO an AI backend failure. */
	int (*run)(struct tool_context *ctx, json_object *args, json_object **ret,
		   char **ret_error);
	/* Writes the human-readable rendering of a result (netspyctl without --json, the shell). */
	void (*print)(FILE *f, json_object *result);
};

/* The registry, NULL-terminated, in the order tools are listed. */
extern const struct tool *const tool_registry[];

/* The one lookup of a tool in a list (NULL-terminated; NULL finds nothing): by its name, and with
 * by_command also by its command or alias. NULL when none matches. */
const struct tool *tool_lookup(const struct tool *const *list, const char *word, bool by_command);
/* Finds a tool of the registry by name, command or alias; NULL when none. */
const struct tool *tool_find(const char *name);
/* The tools a context offers: ctx->tools, or the registry when it names none. */
const struct tool *const *tool_context_tools(const struct tool_context *ctx);

/* Validates args against t->input_schema, then runs t. Same contract as run(); invalid arguments
 * give -EINVAL and a message naming the argument and what is expected. args may be NULL (= {}). */
int tool_invoke(const struct tool *t, struct tool_context *ctx, json_object *args,
		json_object **ret, char **ret_error);

/* Validates value against a JSON Schema given as JSON text (the subset our schemas use: type,
 * properties, required, additionalProperties, enum, minimum, maximum, minLength, maxLength,
 * items, nullable types as ["string","null"]). 0 when valid, else -EINVAL with *ret_error a
 * malloc'd message naming the value and what is expected. */
int schema_validate(const char *schema_json, json_object *value, char **ret_error);

#endif
