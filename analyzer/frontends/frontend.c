/* What netspyctl's frontends share: exit codes, refreshing before an answer, Ctrl-C. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "frontends/frontend.h"

volatile sig_atomic_t frontend_interrupted;

void frontend_on_interrupt(int sig)
{
	(void)sig;
	frontend_interrupted = 1;
}

int frontend_exit_code(int err, enum netspy_exit otherwise)
{
	switch (err) {
	case -ENOTCONN:
	case -ENOENT:
	case -ECONNREFUSED:
	case -EPIPE:
	case -ETIMEDOUT:
		return NETSPY_EXIT_UNREACHABLE;
	case -EACCES:
	case -EPERM:
		return NETSPY_EXIT_PERMISSION;
	case -EREMOTEIO:
		return NETSPY_EXIT_AI;
	default:
		return otherwise;
	}
}

void frontend_report_notice(struct analyzer *an, FILE *err, const char *notice_prefix)
{
	if (an && an->notice[0]) {
		fprintf(err, "%s%s\n", notice_prefix, an->notice);
		an->notice[0] = '\0';
	}
}

void frontend_refresh(struct analyzer *an, FILE *err, const char *notice_prefix,
		      const char *failure_prefix, const char *failure_suffix)
{
	int r;

	if (!an)
		return;
	r = analyzer_refresh(an);
	frontend_report_notice(an, err, notice_prefix);
	if (r < 0)
		fprintf(err, "%s%s%s\n", failure_prefix, an->error[0] ? an->error : strerror(-r),
			failure_suffix);
}

void frontend_push_down_filter(const struct tool *t, json_object *args, struct analyzer_opts *o,
			       char comm[16])
{
	json_object *v;

	if (t->open_world)
		return;
	if (json_object_object_get_ex(args, "pid", &v))
		o->pid = (uint32_t)json_object_get_int64(v);
	if (json_object_object_get_ex(args, "process_name", &v)) {
		snprintf(comm, 16, "%s", json_object_get_string(v));
		o->process = comm;
	}
}
