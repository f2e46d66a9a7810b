/* What netspyctl's frontends share: exit codes, refreshing before an answer, Ctrl-C. */
#include <errno.h>
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
