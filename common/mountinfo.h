/* Reading /proc/self/mountinfo: where the cgroup2 hierarchy is mounted. Used by netspyd (to attach
 * its cgroup hooks at the root) and by the analyzer (to name cgroups). */
#ifndef NETSPY_MOUNTINFO_H
#define NETSPY_MOUNTINFO_H

#include <stdbool.h>
#include <stddef.h>

/* The cgroup2 mount point listed in mountinfo (a file in the format of /proc/self/mountinfo).
 * Mounts of the whole hierarchy (root "/") come first, and among them /sys/fs/cgroup and
 * /sys/fs/cgroup/unified (hybrid systems); with whole_only, other mounts are not taken at all.
 * mountinfo's octal escapes (\040 for a space) are undone. 0, -ENOENT when there is none,
 * -ENAMETOOLONG when it does not fit len, or -errno when the file cannot be read. */
int mountinfo_cgroup2(const char *mountinfo, bool whole_only, char *buf, size_t len);

#endif
