/* What every tool runs against: the analyzer's event store and daemon connection, and the AI
 * settings from flags and environment. The CLI, the shell and the MCP server each build one. */
#ifndef NETSPY_CONTEXT_H
#define NETSPY_CONTEXT_H

#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>

struct analyzer; /* the event store and its daemon connection (analyzer/analyzer.h) */

struct ai_settings {
	const char *base_url;	  /* --base-url, else $OPENAI_BASE_URL, else the OpenAI API */
	const char *model;	  /* --model, else $NETSPY_MODEL, else gpt-4o-mini */
	const char *api_key_file; /* --api-key-file; else $OPENAI_API_KEY, else the systemd
				     credential openai_api_key in $CREDENTIALS_DIRECTORY */
	bool offline;		  /* --offline: never call a model, use the built-in analyst */
	bool stream;		  /* print the answer as it streams (terminal use) */
	long timeout_s;		  /* total time for one model request (0: default) */
};

struct tool;

struct tool_context {
	struct analyzer *an;
	/* The tools available (normally tool_registry); the AI loop offers and calls these. */
	const struct tool *const *tools;
	struct ai_settings ai;
	/* The shell keeps its contextual_analysis conversation here so that follow-up questions
	 * keep their context (owned by the AI module; NULL outside the shell). */
	void *ai_session;
	/* Where progress and streamed answers go for a person (stderr/stdout), or NULL (MCP). */
	FILE *progress;
	FILE *stream_out;
};

#endif
