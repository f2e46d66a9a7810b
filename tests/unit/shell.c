/* Unit tests of the shell: tokenizing with quotes, help generated from the registry, commands,
 * errors that leave the shell running, quit. Runs against a fake registry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "frontends/shell.h"
#include "tools/tool.h"

static int runs;

static int echo_run(struct tool_context *ctx, json_object *args, json_object **ret,
		    char **ret_error)
{
	*ret = json_object_new_object();
	json_object_object_add(*ret, "got",
			       args ? json_object_get(args) : json_object_new_object());
	runs++;
	return 0;
}

static void echo_print(FILE *f, json_object *result)
{
	fprintf(f, "printed: %s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN));
}

static int down_run(struct tool_context *ctx, json_object *args, json_object **ret,
		    char **ret_error)
{
	*ret_error = strdup("netspyd is not running");
	return -ENOTCONN;
}

static const struct tool fake_echo = {
	.name = "fake_echo",
	.command = "echo",
	.alias = "say",
	.title = "Echo the arguments",
	.description = "Returns its arguments.",
	.input_schema = "{\"type\":\"object\",\"properties\":{\"pid\":{\"type\":\"integer\","
			"\"minimum\":1,\"description\":\"Only this process id\"},"
			"\"query\":{\"type\":\"string\",\"description\":\"A question\"}},"
			"\"additionalProperties\":false}",
	.output_schema = "{\"type\":\"object\"}",
	.read_only = true,
	.run = echo_run,
	.print = echo_print,
};

static const struct tool fake_down = {
	.name = "fake_down",
	.command = "down",
	.title = "Always fails",
	.description = "Fails like a missing daemon.",
	.input_schema = "{\"type\":\"object\",\"properties\":{}}",
	.output_schema = "{\"type\":\"object\"}",
	.run = down_run,
};

static const struct tool *const fake_tools[] = { &fake_echo, &fake_down, NULL };
static struct tool_context ctx = { .tools = fake_tools };

static int befores;
static void count_before(struct shell *sh)
{
	befores++;
}

struct capture {
	char *out, *err;
	size_t outlen, errlen;
	struct shell sh;
};

static void cap_open(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	c->sh.ctx = &ctx;
	c->sh.out = open_memstream(&c->out, &c->outlen);
	c->sh.err = open_memstream(&c->err, &c->errlen);
	c->sh.before_command = count_before;
}

static void cap_close(struct capture *c)
{
	fclose(c->sh.out);
	fclose(c->sh.err);
}

static void cap_free(struct capture *c)
{
	free(c->out);
	free(c->err);
}

/* Runs one line; returns shell_execute's value, with the output in c. */
static int run(struct capture *c, const char *line)
{
	int rc;

	cap_open(c);
	rc = shell_execute(&c->sh, line);
	cap_close(c);
	return rc;
}

static void test_tokenize(void)
{
	char buf[256], *argv[8];
	int n;

	n = shell_tokenize("  summary --pid 1234\t--duration 120 ", buf, argv, 8);
	CHECK(n == 5 && !strcmp(argv[0], "summary") && !strcmp(argv[2], "1234") &&
		  !strcmp(argv[4], "120") && argv[5] == NULL,
	      "words split on blanks");
	n = shell_tokenize("insights \"3 failed, 2 ok\" 'it''s' a\\ b", buf, argv, 8);
	CHECK(n == 4 && !strcmp(argv[1], "3 failed, 2 ok") && !strcmp(argv[2], "its") &&
		  !strcmp(argv[3], "a b"),
	      "double quotes, single quotes and backslashes");
	n = shell_tokenize("ask \"say \\\"hi\\\"\" ''", buf, argv, 8);
	CHECK(n == 3 && !strcmp(argv[1], "say \"hi\"") && !strcmp(argv[2], ""),
	      "escaped quotes inside quotes, an empty quoted word");
	CHECK(shell_tokenize("ask \"unterminated", buf, argv, 8) == -EINVAL,
	      "an unterminated quote is an error");
	CHECK(shell_tokenize("a b c d e f g h i", buf, argv, 8) == -E2BIG, "too many words");
	CHECK(shell_tokenize("   ", buf, argv, 8) == 0 && argv[0] == NULL, "a blank line");
}

static void test_commands(void)
{
	struct capture c;

	CHECK(run(&c, "help") == 0 && strstr(c.out, "echo") && strstr(c.out, "fake_echo") &&
		  strstr(c.out, "Echo the arguments") && strstr(c.out, "down") &&
		  strstr(c.out, "quit"),
	      "help lists every tool of the registry, and quit");
	cap_free(&c);
	run(&c, "help echo");
	CHECK(strstr(c.out, "Returns its arguments.") && strstr(c.out, "pid") &&
		  strstr(c.out, "Only this process id"),
	      "help CMD shows the description and the arguments from the schema");
	cap_free(&c);
	run(&c, "help nosuch");
	CHECK(strstr(c.err, "no command 'nosuch'"), "help for an unknown command says so");
	cap_free(&c);

	runs = befores = 0;
	run(&c, "echo --pid 42");
	CHECK(runs == 1 && strstr(c.out, "printed:") && strstr(c.out, "42"),
	      "a command runs its tool and prints it");
	CHECK(befores == 1, "new events are ingested before the command");
	cap_free(&c);
	run(&c, "say --pid 7 --json");
	CHECK(strstr(c.out, "\"got\"") && strstr(c.out, "7") && !strstr(c.out, "printed:"),
	      "the alias works, --json prints the JSON result");
	cap_free(&c);
	run(&c, "fake_echo");
	CHECK(runs == 3, "the tool name works as a command");
	cap_free(&c);

	runs = 0;
	CHECK(run(&c, "echo --pid notanumber") == 0 && runs == 0 && strstr(c.err, "error:") &&
		  strstr(c.err, "help echo"),
	      "bad arguments print an error and the shell continues");
	cap_free(&c);
	CHECK(run(&c, "down") == 0 && strstr(c.err, "netspyd is not running"),
	      "a failing tool prints its message and the shell continues");
	cap_free(&c);
	CHECK(run(&c, "frobnicate") == 0 && strstr(c.err, "unknown command 'frobnicate'"),
	      "an unknown command is an error, not the end");
	cap_free(&c);
	CHECK(run(&c, "echo \"open") == 0 && strstr(c.err, "unterminated quote"),
	      "an unterminated quote is reported");
	cap_free(&c);
	CHECK(run(&c, "status") == 0 && strstr(c.err, "not available"),
	      "status without a daemon hook says so");
	cap_free(&c);
	runs = 0;
	CHECK(run(&c, "# echo") == 0 && runs == 0 && !c.errlen, "a comment does nothing");
	cap_free(&c);
	CHECK(run(&c, "quit") == 1, "quit ends the shell");
	cap_free(&c);
	CHECK(run(&c, "  exit  ") == 1, "exit ends the shell");
	cap_free(&c);
}

static void test_long_line(void)
{
	struct capture c;
	char *line = malloc(SHELL_MAX_LINE + 10);

	memset(line, 'a', SHELL_MAX_LINE + 9);
	line[SHELL_MAX_LINE + 9] = '\0';
	CHECK(run(&c, line) == 0 && strstr(c.err, "longer than"), "an over-long line is refused");
	cap_free(&c);
	free(line);
}

int main(void)
{
	test_tokenize();
	test_commands();
	test_long_line();
	return CHECK_DONE();
}
