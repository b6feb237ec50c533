/* SPDX-License-Identifier: MIT */
/*
 * hostfs.h - the built-in "host" rootfs: which host directories a job sees (read-only) and the
 * /etc it gets instead of the host's: generated files, plus generated copies of the two things
 * programs need from /etc that hold no secrets (the alternatives symlinks, the time zone link).
 */
#ifndef SBX_HOSTFS_H
#define SBX_HOSTFS_H

#include <limits.h>

#include "sandbox.h"

struct hostfs {
	char alternatives[PATH_MAX]; /* our generated copy of /etc/alternatives, or "" */
	char localtime[256];	     /* target of the /etc/localtime link, or "" */
};

/* The host directories bound into a host-rootfs job (absent ones are skipped). */
extern const char *const hostfs_entries[];
extern const unsigned hostfs_n_entries;

/*
 * Once per context: find the time zone, and build (or reuse) the alternatives copy under
 * run_dir. A copy is made once per state of the host's /etc/alternatives (its inode and mtime),
 * so the per-job cost is one bind.
 */
int hostfs_prepare(const char *run_dir, struct hostfs *ret, struct sbx_error *err);

#endif
