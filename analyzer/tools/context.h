/* What every tool runs against: the analyzer's event store and daemon connection, and the AI
 * settings from flags and environment. The CLI, the shell and the MCP server each build one. */
#ifndef NETSPY_CONTEXT_H
#define NETSPY_CONTEXT_H

#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>

struct analyzer; /* the event store and its daemon connection (core/analyzer.h) */

struct ai_settings {
	const char *base_url;	  /* --base-url, else $OPENAI_BASE_URL, else the OpenAI API */
	const char *model;	  /* --model, else $NETSPY_MODEL, else the backend's default */
	const char *api_key_file; /* --api-key-file; else $OPENAI_API_KEY, else the systemd
				     credential openai_api_key in $CREDENTIALS_DIRECTORY */
	bool offline;		  /* --offline: never call a model, use the built-in analyst */
	bool stream;		  /* print the answer as it streams (terminal use) */
	long timeout_s;		  /* total time for one model request (0: default) */
	/* --share-cmdline, or $NETSPY_SHARE_CMDLINE=1: tool results sent to a remote model keep
	 * processes' command lines (which may hold secrets). Otherwise the model sees the
	 * executable path only; local output always shows them. */
	bool share_cmdline;
};

struct tool;
struct tool_context;

/* The analyst behind ai_insights and contextual_analysis. The tools layer only declares it; the
 * AI layer implements it (ai_analyst in ai/ai.h) and the frontend that builds the context plugs
 * it in, so that tools never call upward. Same contract as struct tool's run(). */
struct tool_analyst {
	int (*insights)(struct tool_context *ctx, json_object *args, json_object **ret,
			char **ret_error);
	int (*contextual)(struct tool_context *ctx, json_object *args, json_object **ret,
			  char **ret_error);
};

struct tool_context {
	struct analyzer *an;
	/* The recorder's database for windows older than netspyd's backlog: --history, else
	 * $NETSPY_HISTORY, else the default (core/history.h); opened read-only when needed. */
	const char *history;
	/* The tools available (normally tool_registry); the AI loop offers and calls these. */
	const struct tool *const *tools;
	struct ai_settings ai;
	/* Answers ai_insights and contextual_analysis; NULL: those tools report that no analyst is
	 * available. */
	const struct tool_analyst *analyst;
	/* The shell keeps its contextual_analysis conversation here so that follow-up questions
	 * keep their context (owned by the AI module; NULL outside the shell). */
	void *ai_session;
	/* Where progress and streamed answers go for a person (stderr/stdout), or NULL (MCP). */
	FILE *progress;
	FILE *stream_out;
	/* Long calls (the analyst asking a model, running tools) report each step here; the MCP
	 * server turns them into notifications/progress. NULL: nobody listens. */
	void (*on_progress)(struct tool_context *ctx, const char *message);
	/* True once whoever asked gave up on the call (MCP notifications/cancelled): long calls
	 * stop at their next step with -ECANCELED. NULL: calls are never cancelled. */
	bool (*cancelled)(struct tool_context *ctx);
	void *frontend_data; /* for the frontend's on_progress and cancelled */
};

/* The hooks above, safe to call when unset. */
static inline void tool_context_progress(struct tool_context *ctx, const char *message)
{
	if (ctx && ctx->on_progress)
		ctx->on_progress(ctx, message);
}
static inline bool tool_context_cancelled(struct tool_context *ctx)
{
	return ctx && ctx->cancelled && ctx->cancelled(ctx);
}

#endif
