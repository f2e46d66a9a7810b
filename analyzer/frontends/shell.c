/* The interactive shell: tokenizes command lines, runs registry tools through the CLI argument
 * parser, and reads lines with libedit (prompt, editing, bounded history) on a terminal or plainly
 * from a pipe. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <editline/readline.h>

#include "ai/ai.h"
#include "core/analyzer.h"
#include "frontends/cliargs.h"
#include "frontends/frontend.h"
#include "frontends/live.h"
#include "frontends/shell.h"
#include "tools/tool.h"

int shell_tokenize(const char *line, char *buf, char **argv, int max)
{
	const char *p = line;
	char *o = buf;
	int argc = 0;

	for (;;) {
		char quote = 0;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		if (argc >= max - 1)
			return -E2BIG;
		argv[argc++] = o;
		for (; *p; p++) {
			if (quote == '\'' && *p == '\'') {
				quote = 0;
			} else if (quote == '\'') {
				*o++ = *p;
			} else if (*p == '\\' && p[1]) {
				*o++ = *++p;
			} else if (quote == '"' && *p == '"') {
				quote = 0;
			} else if (!quote && (*p == '"' || *p == '\'')) {
				quote = *p;
			} else if (!quote &&
				   (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
				break;
			} else {
				*o++ = *p;
			}
		}
		if (quote)
			return -EINVAL;
		*o++ = '\0';
	}
	argv[argc] = NULL;
	return argc;
}

static const struct tool *const *registry(const struct shell *sh)
{
	return tool_context_tools(sh->ctx);
}

static const struct tool *find_command(const struct shell *sh, const char *word)
{
	return tool_lookup(registry(sh), word, true);
}

/* The arguments of a tool, from its input schema: name, type and description of each. */
static void print_arguments(FILE *f, const struct tool *t)
{
	json_object *schema = json_tokener_parse(t->input_schema), *props, *req;

	if (!schema || !json_object_object_get_ex(schema, "properties", &props) ||
	    !json_object_object_length(props)) {
		fprintf(f, "  (no arguments)\n");
		json_object_put(schema);
		return;
	}
	json_object_object_get_ex(schema, "required", &req);
	json_object_object_foreach (props, name, prop) {
		json_object *type = NULL, *desc = NULL;
		bool required = false;
		char option[64];

		for (size_t i = 0; req && i < json_object_array_length(req); i++)
			required |= !strcmp(
			    json_object_get_string(json_object_array_get_idx(req, i)), name);
		json_object_object_get_ex(prop, "type", &type);
		json_object_object_get_ex(prop, "description", &desc);
		cliargs_option_name(name, option, sizeof(option));
		fprintf(f, "  %-14s %-9s %s%s\n", option, type ? json_object_get_string(type) : "",
			desc ? json_object_get_string(desc) : "", required ? " (required)" : "");
	}
	json_object_put(schema);
}

static void print_help(struct shell *sh, const char *topic)
{
	const struct tool *t = topic ? find_command(sh, topic) : NULL;
	FILE *f = sh->out;

	if (topic && !t) {
		fprintf(sh->err, "error: no command '%s'; type 'help' for the list\n", topic);
		return;
	}
	if (t) {
		fprintf(f, "%s%s%s (tool %s): %s\n%s\n\nArguments:\n", t->command,
			t->alias ? ", " : "", t->alias ? t->alias : "", t->name, t->title,
			t->description);
		print_arguments(f, t);
		fprintf(f, "For example --pid 1234 --duration 120; quote text with spaces. Add "
			   "--json for the JSON result.\n");
		return;
	}
	fprintf(f, "Commands:\n");
	for (const struct tool *const *p = registry(sh); *p; p++)
		fprintf(f, "  %-12s %s (%s)\n", (*p)->command, (*p)->title, (*p)->name);
	fprintf(f, "  %-12s %s\n", "status", "daemon version, uptime, events seen and lost");
	fprintf(f, "  %-12s %s\n", "help [CMD]", "this list, or the arguments of one command");
	fprintf(f, "  %-12s %s\n", "quit, exit", "leave the shell (Ctrl-D too)");
	fprintf(f, "Examples: summary --pid 1234 --duration 120   list --process curl "
		   "--max-events 20\n          analyze --process nginx   insights \"...\"   "
		   "contextual \"what is curl doing?\"\n");
}

/* Removes every "--json" from argv; true when there was one. */
static bool take_json_flag(int *argc, char **argv)
{
	bool found = false;
	int j = 0;

	for (int i = 0; i < *argc; i++) {
		if (i > 0 && !strcmp(argv[i], "--json"))
			found = true;
		else
			argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argc = j;
	return found;
}

static void run_tool(struct shell *sh, const struct tool *t, int argc, char **argv)
{
	bool json = take_json_flag(&argc, argv);
	json_object *args = NULL, *res = NULL;
	char *err = NULL;
	int rc;

	rc = tool_args_from_argv(t, argc - 1, argv + 1, &args, &err);
	if (rc) {
		fprintf(sh->err, "error: %s: %s\nType 'help %s' for its arguments.\n", argv[0],
			err ? err : strerror(-rc), argv[0]);
		goto out;
	}
	rc = tool_invoke(t, sh->ctx, args, &res, &err);
	if (rc) {
		fprintf(sh->err, "error: %s: %s\n", argv[0], err ? err : strerror(-rc));
		goto out;
	}
	if (json || !t->print)
		fprintf(sh->out, "%s\n",
			json_object_to_json_string_ext(res, JSON_C_TO_STRING_PRETTY |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		t->print(sh->out, res);
out:
	fflush(sh->out);
	json_object_put(args);
	json_object_put(res);
	free(err);
}

int shell_execute(struct shell *sh, const char *line)
{
	size_t len = strlen(line);
	char *argv[SHELL_MAX_ARGS], *buf;
	const struct tool *t;
	int argc;

	if (len > SHELL_MAX_LINE) {
		fprintf(sh->err, "error: line longer than %d bytes\n", SHELL_MAX_LINE);
		return 0;
	}
	buf = malloc(len + 1);
	if (!buf)
		return 0;
	argc = shell_tokenize(line, buf, argv, SHELL_MAX_ARGS);
	if (argc == -EINVAL)
		fprintf(sh->err, "error: unterminated quote\n");
	else if (argc < 0)
		fprintf(sh->err, "error: more than %d words\n", SHELL_MAX_ARGS - 1);
	if (argc <= 0 || argv[0][0] == '#')
		goto out;
	if (!strcmp(argv[0], "quit") || !strcmp(argv[0], "exit")) {
		free(buf);
		return 1;
	}
	if (sh->before_command)
		sh->before_command(sh);
	if (!strcmp(argv[0], "help") || !strcmp(argv[0], "?")) {
		print_help(sh, argc > 1 ? argv[1] : NULL);
	} else if (!strcmp(argv[0], "status")) {
		bool json = take_json_flag(&argc, argv);

		if (!sh->status)
			fprintf(sh->err, "error: status is not available here\n");
		else
			sh->status(sh, json);
	} else if ((t = find_command(sh, argv[0]))) {
		run_tool(sh, t, argc, argv);
		if (sh->after_command)
			sh->after_command(sh);
	} else {
		fprintf(sh->err, "error: unknown command '%s'; type 'help' for the list\n",
			argv[0]);
	}
out:
	fflush(sh->out);
	fflush(sh->err);
	free(buf);
	return 0;
}

/* ---- reading lines ---------------------------------------------------------------------- */

/* $XDG_STATE_HOME/netspy/history, else ~/.local/state/netspy/history, creating the directory;
 * false when there is no place for it. */
static bool history_path(char *path, size_t len)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char dir[PATH_MAX];
	int n;

	if (state && state[0] == '/')
		n = snprintf(dir, sizeof(dir), "%s/netspy", state);
	else if (home && home[0] == '/')
		n = snprintf(dir, sizeof(dir), "%s/.local/state/netspy", home);
	else
		return false;
	if (n < 0 || (size_t)n >= sizeof(dir))
		return false;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0700);
		*p = '/';
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return false;
	n = snprintf(path, len, "%s/history", dir);
	return n > 0 && (size_t)n < len;
}

static void remember(const char *line, const char *hist_file)
{
	HIST_ENTRY *last;

	if (!line[strspn(line, " \t")])
		return;
	last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
	if (last && last->line && !strcmp(last->line, line))
		return;
	add_history(line);
	if (hist_file)
		write_history(hist_file);
}

/* Reads one line at the prompt. Ctrl-C there abandons the line being typed rather than the
 * shell (during a command it still stops the program, as people expect of a stuck command). */
static char *prompt_line(void)
{
	struct sigaction sa = { .sa_handler = frontend_on_interrupt }, old;
	char *line;

	for (;;) {
		frontend_interrupted = 0;
		sigaction(SIGINT, &sa, &old);
		line = readline(SHELL_PROMPT);
		sigaction(SIGINT, &old, NULL);
		if (line || !frontend_interrupted)
			return line;
		fputc('\n', stdout);
	}
}

static int interactive(struct shell *sh)
{
	char hist[PATH_MAX];
	const char *hist_file = history_path(hist, sizeof(hist)) ? hist : NULL;
	char *line;

	using_history();
	stifle_history(SHELL_HISTORY_MAX);
	if (hist_file)
		read_history(hist_file);
	fprintf(sh->out, "netspy %s shell: type 'help' for commands, 'quit' or Ctrl-D to leave.\n",
		NETSPY_VERSION);
	while ((line = prompt_line())) {
		int done;

		remember(line, hist_file);
		done = shell_execute(sh, line);
		free(line);
		if (done)
			return 0;
	}
	fputc('\n', sh->out);
	return 0;
}

/* From a pipe or file: no prompt and no editing, one command per line. */
static int scripted(struct shell *sh, FILE *in)
{
	char *buf = malloc(SHELL_MAX_LINE + 2);

	if (!buf)
		return 1;
	while (fgets(buf, SHELL_MAX_LINE + 2, in)) {
		size_t len = strlen(buf);

		if (len == SHELL_MAX_LINE + 1 && buf[len - 1] != '\n') {
			int c;

			while ((c = fgetc(in)) != EOF && c != '\n')
				;
			fprintf(sh->err, "error: line longer than %d bytes\n", SHELL_MAX_LINE);
			continue;
		}
		if (shell_execute(sh, buf))
			break;
	}
	free(buf);
	return 0;
}

/* Brings the store up to date before a command (reconnecting when the daemon restarted), so
 * that answers include everything that happened since the shell started. */
static void refresh(struct shell *sh)
{
	frontend_refresh(sh->ctx->an, sh->err,
			 "netspy: ", "warning: ", "; answers cover the events received so far");
}

/* Tools may poll too: report what they noticed. */
static void after_command(struct shell *sh)
{
	frontend_report_notice(sh->ctx->an, sh->err, "netspy: ");
}

/* The daemon's status, then this shell's own subscription. */
static int status(struct shell *sh, bool json)
{
	struct analyzer *an = sh->ctx->an;
	int rc;

	fflush(sh->out);
	rc =
	    live_status(&(struct live_opts){ .socket = an ? an->opts.socket : NULL, .json = json });
	if (an && !json)
		fprintf(sh->out, "This shell: %s, reconnected %u time%s, %llu events lost\n",
			an->connected ? "subscribed" : "not connected", an->reconnects,
			an->reconnects == 1 ? "" : "s",
			(unsigned long long)analyzer_events_lost(an));
	return rc ? -ENOTCONN : 0;
}

int shell_main(struct tool_context *ctx)
{
	struct shell sh = {
		.ctx = ctx,
		.out = stdout,
		.err = stderr,
		.before_command = refresh,
		.after_command = after_command,
		.status = status,
	};
	int rc;

	if (isatty(STDIN_FILENO))
		rc = interactive(&sh);
	else
		rc = scripted(&sh, stdin);
	ai_session_free(ctx);
	return rc;
}
