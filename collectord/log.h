/* netspyd's logging: native journald records with MESSAGE_ID and structured fields when stderr is
 * the journal, readable lines on a terminal. */
#ifndef NETSPYD_LOG_H
#define NETSPYD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* MESSAGE_IDs of the notable records; `journalctl MESSAGE_ID=...` finds each. Keep in sync with
 * docs/netspyd.8 and README.md. */
#define MSGID_STARTED "1a8d1eafe18a43f18a3d7158fbd3ec7d"
#define MSGID_READY "26554b27536e4623b53fc15b15975e8e"
#define MSGID_CLIENT_REFUSED "86832c3a5f8f44e18aa61cddc16f196e"
#define MSGID_EVENTS_LOST "b3871f4761514d59bcea258d9ff0d758"
#define MSGID_STOPPING "a5dfabecbaee4483a3af504a4a33cf29"
#define MSGID_CLIENT_LOST_EVENTS "6cdf76d6daf14794b0bd677263564b2a"
#define MSGID_CLIENT_DISCONNECTED "fc2474db68de46c9b097e6b72ce9d0e2"
#define MSGID_FLOOD_STARTED "3140e65fcbf4457484db9fb70c5a8d2e"
#define MSGID_FLOOD_ENDED "b166343398b946a586bca14380ef4bce"

enum log_target {
	LOG_TARGET_AUTO,
	LOG_TARGET_JOURNAL,
	LOG_TARGET_CONSOLE,
};

void log_init(enum log_target target, int max_priority);
bool log_to_journal(void);

/* Logs one record. fields is NULL or a NULL-terminated list of "KEY=value" strings that go to the
 * journal as structured fields (and are left out of console lines). */
void log_record(int priority, const char *message_id, const char *const *fields, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

#define log_err(...) log_record(LOG_ERR, NULL, NULL, __VA_ARGS__)
#define log_warn(...) log_record(LOG_WARNING, NULL, NULL, __VA_ARGS__)
#define log_info(...) log_record(LOG_INFO, NULL, NULL, __VA_ARGS__)
#define log_debug(...) log_record(LOG_DEBUG, NULL, NULL, __VA_ARGS__)

#endif
