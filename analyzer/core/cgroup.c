/* cgroup id -> path -> unit/container. Library code: no printing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "clock.h"
#include "mountinfo.h"
#include "core/cgroup.h"

#define CGROUP_MAX_ENTRIES 65536
#define CGROUP_MAX_DEPTH 32
#define CGROUP_RESCAN_MS 1000

struct cgroup_entry {
	uint64_t id;
	char *path;
};

int cgroup_find_mount(const char *mountinfo, char *buf, size_t len)
{
	return mountinfo_cgroup2(mountinfo, false, buf, len);
}

void cgroup_names_init(struct cgroup_names *c, const char *root)
{
	memset(c, 0, sizeof(*c));
	if (root)
		snprintf(c->root, sizeof(c->root), "%s", root);
	else if (cgroup_find_mount("/proc/self/mountinfo", c->root, sizeof(c->root)) < 0)
		c->root[0] = 0;
}

static void free_entries(struct cgroup_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

void cgroup_names_fini(struct cgroup_names *c)
{
	free_entries(c->v, c->n);
	c->v = NULL;
	c->n = 0;
}

struct scan {
	struct cgroup_entry *v;
	size_t n, cap;
};

static int scan_add(struct scan *s, uint64_t id, const char *path)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct cgroup_entry *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n].id = id;
	s->v[s->n].path = strdup(path);
	if (!s->v[s->n].path)
		return -ENOMEM;
	s->n++;
	return 0;
}

/* Adds dir (open as fd, relative path rel) and its subdirectories. Takes ownership of fd. */
static int scan_dir(struct scan *s, int fd, const char *rel, int depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(fd);
		return 0;
	}
	while (r == 0 && s->n < CGROUP_MAX_ENTRIES && (de = readdir(d))) {
		char child[1024];
		struct stat st;
		int cfd;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cfd < 0)
			continue;
		if (snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", de->d_name) >=
			(int)sizeof(child) ||
		    fstat(cfd, &st) < 0) {
			close(cfd);
			continue;
		}
		r = scan_add(s, (uint64_t)st.st_ino, child);
		if (r == 0 && depth < CGROUP_MAX_DEPTH)
			r = scan_dir(s, cfd, child, depth + 1);
		else
			close(cfd);
	}
	closedir(d);
	return r;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct cgroup_entry *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void rescan(struct cgroup_names *c)
{
	struct scan s = { 0 };
	struct stat st;
	int fd;

	c->last_scan_ms = clock_ms(CLOCK_MONOTONIC);
	c->scans++;
	fd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || scan_add(&s, (uint64_t)st.st_ino, "") < 0 ||
	    scan_dir(&s, fd, "", 0) < 0) {
		free_entries(s.v, s.n);
		return;
	}
	qsort(s.v, s.n, sizeof(*s.v), cmp_entry);
	free_entries(c->v, c->n);
	c->v = s.v;
	c->n = s.n;
}

static const char *lookup(const struct cgroup_names *c, uint64_t id)
{
	struct cgroup_entry key = { .id = id };
	const struct cgroup_entry *e;

	if (!c->n)
		return NULL;
	e = bsearch(&key, c->v, c->n, sizeof(*c->v), cmp_entry);
	return e ? e->path : NULL;
}

const char *cgroup_path(struct cgroup_names *c, uint64_t id)
{
	const char *p = lookup(c, id);

	if (p || !c->root[0])
		return p;
	if (c->last_scan_ms && clock_ms(CLOCK_MONOTONIC) - c->last_scan_ms < CGROUP_RESCAN_MS)
		return NULL;
	rescan(c);
	return lookup(c, id);
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !memcmp(s + n - k, suffix, k);
}

/* A container id in component s (n bytes): docker-ID.scope, cri-containerd-ID.scope,
 * crio-ID.scope, libpod-ID.scope, or a bare 64-hex-digit name (cgroupfs driver). */
static int container_of(const char *s, size_t n, char *out, size_t len)
{
	static const char *const prefixes[] = { "docker-", "cri-containerd-", "crio-", "libpod-",
						"" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t p = strlen(prefixes[i]), hex = 0;

		if (n < p || memcmp(s, prefixes[i], p))
			continue;
		while (p + hex < n && strchr("0123456789abcdef", s[p + hex]) && s[p + hex])
			hex++;
		if (hex == 64 && (p + hex == n || !strncmp(s + p + hex, ".scope", n - p - hex))) {
			snprintf(out, len, "%.12s", s + p);
			return 1;
		}
	}
	return 0;
}

void cgroup_classify(const char *path, char *unit, size_t unit_len, char *container,
		     size_t container_len)
{
	static const char *const unit_types[] = { ".service", ".scope", ".socket",
						  ".mount",   ".timer", ".swap" };
	const char *slice = NULL;
	size_t slice_n = 0;

	unit[0] = container[0] = 0;
	for (const char *s = path; *s;) {
		size_t n = strcspn(s, "/");

		for (size_t i = 0; i < sizeof(unit_types) / sizeof(unit_types[0]); i++)
			if (ends_with(s, n, unit_types[i]))
				snprintf(unit, unit_len, "%.*s", (int)n, s);
		if (ends_with(s, n, ".slice")) {
			slice = s;
			slice_n = n;
		}
		container_of(s, n, container, container_len);
		s += n;
		s += *s == '/';
	}
	if (!unit[0] && slice)
		snprintf(unit, unit_len, "%.*s", (int)slice_n, slice);
}
