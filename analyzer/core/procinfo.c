/* Process identity from /proc, cached per pid (see procinfo.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/format.h"
#include "core/procinfo.h"

void procinfo_init(struct procinfo_cache *c, const char *proc_root)
{
	memset(c, 0, sizeof(*c));
	c->proc = proc_root ? proc_root : "/proc";
}

static void clear_slots(struct procinfo_cache *c)
{
	for (size_t i = 0; i < c->n_slots; i++) {
		free(c->slots[i].exe);
		free(c->slots[i].cmdline);
	}
	if (c->slots)
		memset(c->slots, 0, c->n_slots * sizeof(*c->slots));
	c->n = 0;
}

void procinfo_fini(struct procinfo_cache *c)
{
	clear_slots(c);
	free(c->slots);
	c->slots = NULL;
	c->n_slots = 0;
}

static size_t slot_of(const struct procinfo_cache *c, uint32_t pid)
{
	size_t i = (size_t)(pid * 2654435761u) & (c->n_slots - 1);

	while (c->slots[i].pid && c->slots[i].pid != pid)
		i = (i + 1) & (c->n_slots - 1);
	return i;
}

const struct procinfo *procinfo_get(const struct procinfo_cache *c, uint32_t pid)
{
	size_t i;

	if (!pid || !c->n_slots)
		return NULL;
	i = slot_of(c, pid);
	return c->slots[i].pid ? &c->slots[i] : NULL;
}

char *procinfo_format_cmdline(const char *raw, size_t len)
{
	char joined[PROCINFO_CMDLINE_MAX + 4];
	char *out;
	size_t n = len < PROCINFO_CMDLINE_MAX ? len : PROCINFO_CMDLINE_MAX, cap;

	while (n && raw[n - 1] == 0)
		n--; /* the last argument's terminator */
	if (!n)
		return NULL;
	memcpy(joined, raw, n);
	for (size_t i = 0; i < n; i++)
		if (joined[i] == 0)
			joined[i] = ' ';
	if (len > PROCINFO_CMDLINE_MAX) {
		memcpy(joined + n, "...", 3);
		n += 3;
	}
	cap = n * 4 + 1; /* every byte escaped at worst */
	out = malloc(cap);
	if (out)
		fmt_sanitize(out, cap, (const uint8_t *)joined, n);
	return out;
}

static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

/* ppid from /proc/PID/stat. The name is in parentheses and may itself hold ") ": the last one
 * ends it. (The name is not compared with the event's: a thread may have named itself otherwise.) */
static bool read_stat(const struct procinfo_cache *c, uint32_t pid, uint32_t *ret_ppid)
{
	char path[64], buf[512], *open_p, *close_p;
	ssize_t n;
	unsigned ppid;

	snprintf(path, sizeof(path), "%s/%u/stat", c->proc, pid);
	n = read_file(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = 0;
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (!open_p || !close_p || close_p < open_p)
		return false;
	if (sscanf(close_p + 1, " %*c %u", &ppid) != 1)
		return false;
	*ret_ppid = ppid;
	return true;
}

static void resolve(struct procinfo_cache *c, struct procinfo *p)
{
	char path[64], buf[PROCINFO_CMDLINE_MAX + 1], exe[PATH_MAX];
	ssize_t n;

	c->lookups++;
	if (!read_stat(c, p->pid, &p->ppid))
		return; /* gone: nothing known */
	snprintf(path, sizeof(path), "%s/%u/exe", c->proc, p->pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		char *safe = malloc((size_t)n * 4 + 1);

		if (safe)
			fmt_sanitize(safe, (size_t)n * 4 + 1, (const uint8_t *)exe, (size_t)n);
		p->exe = safe;
	}
	snprintf(path, sizeof(path), "%s/%u/cmdline", c->proc, p->pid);
	n = read_file(path, buf, sizeof(buf));
	if (n > 0)
		p->cmdline = procinfo_format_cmdline(buf, (size_t)n);
}

void procinfo_note(struct procinfo_cache *c, uint32_t pid, const uint8_t comm[16])
{
	struct procinfo *p;
	size_t i;

	if (!pid)
		return;
	if (!c->n_slots) {
		c->slots = calloc(2 * PROCINFO_MAX, sizeof(*c->slots));
		if (!c->slots)
			return;
		c->n_slots = 2 * PROCINFO_MAX;
	}
	i = slot_of(c, pid);
	p = &c->slots[i];
	if (p->pid && !memcmp(p->comm, comm, sizeof(p->comm)))
		return;
	if (p->pid) { /* the pid was reused (or the process renamed itself): read it again */
		free(p->exe);
		free(p->cmdline);
	} else if (c->n >= PROCINFO_MAX) {
		clear_slots(c);
		i = slot_of(c, pid);
		p = &c->slots[i];
		c->n++;
	} else {
		c->n++;
	}
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	memcpy(p->comm, comm, sizeof(p->comm));
	resolve(c, p);
}
