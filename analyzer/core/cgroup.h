/* Which systemd unit or container a cgroup id belongs to. A cgroup2 directory's inode number is
 * the id the kernel reports (bpf_get_current_cgroup_id), so ids are resolved by scanning the
 * cgroup2 mount, with a cache and a rate limit on rescans. */
#ifndef NETSPY_CGROUP_H
#define NETSPY_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define CGROUP_NAME_LEN 128

struct cgroup_entry;

struct cgroup_names {
	char root[512];		/* the cgroup2 mount point, "" when there is none */
	struct cgroup_entry *v; /* sorted by id */
	size_t n;
	int64_t last_scan_ms; /* CLOCK_MONOTONIC, 0 = never */
	unsigned scans;
};

/* root NULL: find the cgroup2 mount in /proc/self/mountinfo. Never fails: without a cgroup2
 * mount every lookup answers "unknown". */
void cgroup_names_init(struct cgroup_names *c, const char *root);
void cgroup_names_fini(struct cgroup_names *c);
/* The path of cgroup id relative to the mount ("system.slice/nginx.service", "" for the root),
 * or NULL when unknown. Rescans when id is not cached and the last scan is older than a second. */
const char *cgroup_path(struct cgroup_names *c, uint64_t id);
/* The cgroup2 mount point from a mountinfo file; 0 or -ENOENT. */
int cgroup_find_mount(const char *mountinfo, char *buf, size_t len);
/* From a cgroup path: the systemd unit (deepest .service/.scope/... component, else the deepest
 * .slice) and the container id (docker, containerd, CRI-O, podman; 12 hex digits). Either is ""
 * when the path names none. */
void cgroup_classify(const char *path, char *unit, size_t unit_len, char *container,
		     size_t container_len);

#endif
