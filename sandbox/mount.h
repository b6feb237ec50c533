/* SPDX-License-Identifier: MIT */
/*
 * mount.h - the job's filesystem view, as a plan: the parent turns the request into an ordered
 * list of operations (mkdir, mount, mknod, symlink, file, pivot, mask), checking every path
 * first; the child walks the list with plain syscalls.
 *
 * The new root is always a small tmpfs of ours: each top-level entry of the rootfs is bound into
 * it read-only (or re-created as a symlink), and /tmp, /proc, /dev are our own mounts. So an
 * image whose /tmp, /proc or /dev is a symlink to a host path (T46, CVE-2019-16884,
 * CVE-2025-31133) cannot redirect any mount: those names are never looked up in the image.
 */
#ifndef SBX_MOUNT_H
#define SBX_MOUNT_H

#include <stdbool.h>
#include <sys/types.h>

#include "sandbox.h"

struct mount_plan;

struct hostfs;

struct mount_identity {
	uid_t uid;
	gid_t gid;
	const char *hostname;
	const struct hostfs *host; /* for the "host" rootfs's generated /etc (may be NULL) */
};

/* stage: an empty host directory the child mounts the new root on (in its own namespace). */
int mount_plan_new(const char *stage, struct mount_plan **ret, struct sbx_error *err);
void mount_plan_free(struct mount_plan *p);

/* The steps, in the order the child runs them. */
int mount_plan_root(struct mount_plan *p, const char *rootfs, const struct mount_identity *id,
		    struct sbx_error *err);
int mount_plan_tmp(struct mount_plan *p, const struct sbx_limits *lim, struct sbx_error *err);
int mount_plan_dev(struct mount_plan *p, const struct sbx_limits *lim, struct sbx_error *err);
int mount_plan_proc(struct mount_plan *p, struct sbx_error *err);
int mount_plan_binds(struct mount_plan *p, const struct sbx_bind *binds, size_t n,
		     struct sbx_error *err);
int mount_plan_pivot(struct mount_plan *p, struct sbx_error *err);
int mount_plan_proc_paths(struct mount_plan *p, char *const *masked, char *const *readonly,
			  struct sbx_error *err);
int mount_plan_seal(struct mount_plan *p, struct sbx_error *err);

/* Child: private propagation, then every operation. On failure *ret_what names the path. */
int mount_plan_apply(const struct mount_plan *p, const char **ret_what);

/* Is this a clean absolute path (no "." / ".." / "//", not "/")? For cwd and bind targets. */
bool mount_path_is_clean(const char *path);

/*
 * Is path the jail's /proc or /dev, or below them? A bind there would shadow what the jail
 * provides; a cwd there ("/proc/self/fd/N", "/dev/fd/N") could lead out (CVE-2024-21626).
 */
bool mount_path_is_reserved(const char *path);

#endif
