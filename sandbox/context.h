/* SPDX-License-Identifier: MIT */
/*
 * context.h - what is decided once per process and shared by every job: the profile (with its
 * compiled seccomp filter), the cgroup backend and our parent cgroup, the capability and netlink
 * plans, and the staging directory new roots are built on.
 */
#ifndef SBX_CONTEXT_H
#define SBX_CONTEXT_H

#include <limits.h>

#include "caps.h"
#include "cgroup.h"
#include "hostfs.h"
#include "net.h"
#include "profile.h"

#define SBX_RUN_DIR "/run/sandboxd"

struct sbx_context {
	struct sbx_profile profile;
	struct cg_root cg;
	bool cg_open;
	struct caps_plan caps;
	struct net_plan net;
	struct hostfs host;
	char stage[PATH_MAX];
	unsigned online_cpus;
};

#endif
