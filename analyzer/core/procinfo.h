/* Who a process is beyond its 16-byte name: executable path, command line and parent pid, read
 * from /proc once per process and cached, so that events of a process that has exited keep what
 * was known. The analyzer is unprivileged: the command line and parent are world-readable, the
 * executable only for the user's own processes (every process when run as root). Library code:
 * it does not print. */
#ifndef NETSPY_PROCINFO_H
#define NETSPY_PROCINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCINFO_CMDLINE_MAX 256 /* bytes of the command line kept (before sanitizing) */
#define PROCINFO_MAX 8192	 /* processes remembered; past it the cache starts over */

struct procinfo {
	uint32_t pid;  /* 0: empty slot */
	uint32_t ppid; /* 0: not known */
	char *exe;     /* NULL: not readable (another user's process) or gone */
	char *cmdline; /* sanitized, bounded; NULL when not known */
	uint8_t comm[16];
};

struct procinfo_cache {
	struct procinfo *slots;
	size_t n_slots, n;
	const char *proc; /* "/proc" */
	uint64_t lookups; /* /proc reads done, for tests and benchmarks */
};

void procinfo_init(struct procinfo_cache *c, const char *proc_root);
void procinfo_fini(struct procinfo_cache *c);
/* Reads the process's identity unless it is cached already (for the same pid and name: a pid
 * reused by another program is read again). Cheap when cached: one hash probe. */
void procinfo_note(struct procinfo_cache *c, uint32_t pid, const uint8_t comm[16]);
/* What is known of pid, NULL when nothing. */
const struct procinfo *procinfo_get(const struct procinfo_cache *c, uint32_t pid);
/* Formats a raw command line (NUL-separated arguments, len bytes) as one line: arguments joined
 * by spaces, bounded to PROCINFO_CMDLINE_MAX input bytes ("..." marks a cut), made terminal-safe.
 * Returns a malloc'd string or NULL. */
char *procinfo_format_cmdline(const char *raw, size_t len);

#endif
