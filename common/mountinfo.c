/* Reading /proc/self/mountinfo. A line is
 *   id parent major:minor root mountpoint options [optional fields] - fstype source superoptions
 * with spaces and other special characters in paths written as octal escapes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "mountinfo.h"

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

/* How well a cgroup2 mount suits: 0 not at all, then higher is better. */
static int rank(const char *root, const char *mnt, bool whole_only)
{
	bool whole = !strcmp(root, "/");

	if (!whole)
		return whole_only ? 0 : 1;
	if (!strcmp(mnt, "/sys/fs/cgroup") || !strcmp(mnt, "/sys/fs/cgroup/unified"))
		return 3;
	return 2;
}

int mountinfo_cgroup2(const char *mountinfo, bool whole_only, char *buf, size_t len)
{
	char line[4096], best[PATH_MAX] = "";
	FILE *f = fopen(mountinfo, "re");
	int best_rank = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mnt[PATH_MAX], fstype[64], *dash = strstr(line, " - ");
		int r;

		if (!dash || sscanf(dash + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*u %*u %*s %4095s %4095s", root, mnt) != 2)
			continue;
		unescape(root);
		unescape(mnt);
		r = rank(root, mnt, whole_only);
		if (r > best_rank) {
			best_rank = r;
			snprintf(best, sizeof(best), "%s", mnt);
		}
	}
	fclose(f);
	if (!best[0])
		return -ENOENT;
	if ((size_t)snprintf(buf, len, "%s", best) >= len)
		return -ENAMETOOLONG;
	return 0;
}
