/* What netspyctl's frontends (cli, shell, mcp, watch) share: the exit codes of the contract,
 * bringing the store up to date before an answer, and Ctrl-C.
 *
 * The interactive frontends, shell_main (frontends/shell.h) and mcp_main (frontends/mcp.h), get a
 * tool context whose analyzer is live (subscribed, backlog replayed; analyzer_poll brings it up
 * to date and reconnects). For mcp the daemon may not have been reachable at start: tools then
 * report that until a later analyzer_poll connects. Each returns netspyctl's exit code. */
#ifndef NETSPY_FRONTEND_H
#define NETSPY_FRONTEND_H

#include <signal.h>
#include <stdio.h>

#include <json-c/json.h>

#include "core/analyzer.h"
#include "tools/tool.h"

/* Exit codes of the user-facing contract (DESIGN.md). */
enum netspy_exit {
	NETSPY_EXIT_OK = 0,
	NETSPY_EXIT_USAGE = 1,
	NETSPY_EXIT_UNREACHABLE = 2,
	NETSPY_EXIT_PERMISSION = 3,
	NETSPY_EXIT_AI = 4,
};

/* The one mapping of a -errno to the contract: permission (-EACCES, -EPERM) 3, daemon not
 * reachable (-ENOTCONN, -ENOENT, -ECONNREFUSED, -EPIPE, -ETIMEDOUT) 2, AI backend (-EREMOTEIO)
 * 4, anything else otherwise (NETSPY_EXIT_USAGE after a tool, NETSPY_EXIT_UNREACHABLE after
 * connecting to the daemon). */
int frontend_exit_code(int err, enum netspy_exit otherwise);

/* Brings an's store up to date before an answer (reconnecting when the daemon restarted). A
 * notice from the analyzer goes to err after notice_prefix; a failure goes there as one line,
 * the reason between failure_prefix and failure_suffix. NULL an does nothing. */
void frontend_refresh(struct analyzer *an, FILE *err, const char *notice_prefix,
		      const char *failure_prefix, const char *failure_suffix);
/* Writes an's pending notice (what a tool's poll noticed) to err after notice_prefix, once. */
void frontend_report_notice(struct analyzer *an, FILE *err, const char *notice_prefix);

/* One-shot queries (netspyctl TOOL, the recorder's API) ask the daemon only for the process the
 * arguments name (pid, process_name: the kernel's comm, at most 15 bytes, kept in comm). The AI
 * tools may look at anything and are not narrowed. */
void frontend_push_down_filter(const struct tool *t, json_object *args, struct analyzer_opts *o,
			       char comm[16]);

/* Set by frontend_on_interrupt, the SIGINT (and SIGTERM) handler of the frontends. */
extern volatile sig_atomic_t frontend_interrupted;
void frontend_on_interrupt(int sig);

#endif
