/* netspyd's logging: journald's native protocol when stderr is connected to the journal
 * ($JOURNAL_STREAM names stderr), readable lines otherwise. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_MAX_FIELDS 16

static bool use_journal;
static int log_max_priority = LOG_INFO;

static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_init(enum log_target target, int max_priority)
{
	log_max_priority = max_priority;
	switch (target) {
	case LOG_TARGET_JOURNAL:
		use_journal = true;
		break;
	case LOG_TARGET_CONSOLE:
		use_journal = false;
		break;
	default:
		use_journal = stderr_is_journal();
	}
}

bool log_to_journal(void)
{
	return use_journal;
}

static const char *level_name(int priority)
{
	static const char *const names[] = { "emerg",	"alert",  "crit", "error",
					     "warning", "notice", "info", "debug" };

	return names[priority & 7];
}

static void send_journal(int priority, const char *message_id, const char *const *fields,
			 const char *text)
{
	struct iovec iov[LOG_MAX_FIELDS + 4];
	char msg[2048], prio[16], id[64];
	size_t n = 0;

	snprintf(msg, sizeof(msg), "MESSAGE=%s", text);
	snprintf(prio, sizeof(prio), "PRIORITY=%d", priority);
	iov[n++] = (struct iovec){ msg, strlen(msg) };
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=netspyd", 25 };
	if (message_id) {
		snprintf(id, sizeof(id), "MESSAGE_ID=%s", message_id);
		iov[n++] = (struct iovec){ id, strlen(id) };
	}
	for (size_t i = 0; fields && fields[i] && i < LOG_MAX_FIELDS; i++)
		iov[n++] = (struct iovec){ (char *)fields[i], strlen(fields[i]) };
	if (sd_journal_sendv(iov, (int)n) < 0)
		fprintf(stderr, "<%d>%s\n", priority, text);
}

void log_record(int priority, const char *message_id, const char *const *fields, const char *fmt,
		...)
{
	char text[1024];
	va_list ap;

	if (priority > log_max_priority)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (use_journal)
		send_journal(priority, message_id, fields, text);
	else
		fprintf(stderr, "netspyd: %s: %s\n", level_name(priority), text);
}
