/* The interactive shell of `netspyctl shell` (prompt "netspy-mcp> "): the registry's commands in
 * the original's forms (`summary --pid 1234 --duration 120`, `insights "..."`), plus help, status
 * and quit, with line editing and history on a terminal and plain line-by-line input otherwise. */
#ifndef NETSPY_SHELL_H
#define NETSPY_SHELL_H

#include <stdbool.h>
#include <stdio.h>

#include "tools/context.h"

#define SHELL_PROMPT "netspy-mcp> "
#define SHELL_MAX_LINE 65536 /* longer lines are refused */
#define SHELL_MAX_ARGS 64
#define SHELL_HISTORY_MAX 1000 /* entries kept in the history file */

struct shell {
	struct tool_context *ctx;
	FILE *out; /* results */
	FILE *err; /* errors and notices */
	/* Called before each command so that answers include the newest events; may be NULL. */
	void (*before_command)(struct shell *sh);
	void (*after_command)(struct shell *sh); /* after each tool; may be NULL */
	/* Prints the daemon's status for `status` (as JSON with --json); 0 or -errno. NULL:
	 * `status` is unavailable. */
	int (*status)(struct shell *sh, bool json);
	void *hook_data;
};

/* Splits line into words in buf (at least strlen(line) + 1 bytes): blanks separate words,
 * "..." and '...' quote, a backslash escapes the next character (inside "..." too). Returns
 * the number of words (argv[n] = NULL), -EINVAL for an unterminated quote, or -E2BIG when
 * there are more than max - 1 words. */
int shell_tokenize(const char *line, char *buf, char **argv, int max);

/* Runs one command line. Returns 1 when the shell should end (quit, exit), else 0; errors are
 * printed to sh->err and the shell goes on. */
int shell_execute(struct shell *sh, const char *line);

/* `netspyctl shell`: reads commands from stdin until quit or end of input; the exit code. */
int shell_main(struct tool_context *ctx);

#endif
