/* SPDX-License-Identifier: MIT */
/*
 * rlimits.h - per-process resource limits (rlimits). Whole-job limits (memory, pids, CPU) live in
 * the cgroup; rlimits cover what cgroups do not: core dumps, open files, file size, stack, and a
 * CPU-time backstop should the supervisor's CPU check ever be late.
 */
#ifndef SBX_RLIMITS_H
#define SBX_RLIMITS_H

#include <sys/resource.h>

#include "sandbox.h"

#define LIMITS_MAX 8

struct limits_plan {
	unsigned n;
	struct {
		int resource;
		struct rlimit value;
	} v[LIMITS_MAX];
};

void limits_plan(const struct sbx_limits *lim, struct limits_plan *ret);
/* Child: setrlimit each; plain syscalls. */
int limits_apply(const struct limits_plan *p);

#endif
