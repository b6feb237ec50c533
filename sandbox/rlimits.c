/* SPDX-License-Identifier: MIT */
/*
 * rlimits.c - rlimits of the job process, planned in the parent, set in the child.
 */
#include "rlimits.h"
#include "util.h"

/* Never above the hard limit we were given: raising it needs CAP_SYS_RESOURCE, which a
 * service (or a container running it) may not have. */
static void plan_add(struct limits_plan *p, int resource, rlim_t soft, rlim_t hard)
{
	struct rlimit cur;

	if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY) {
		hard = hard < cur.rlim_max ? hard : cur.rlim_max;
		soft = soft < hard ? soft : hard;
	}
	p->v[p->n].resource = resource;
	p->v[p->n].value.rlim_cur = soft;
	p->v[p->n].value.rlim_max = hard;
	p->n++;
}

void limits_plan(const struct sbx_limits *lim, struct limits_plan *ret)
{
	rlim_t cpu_s = (rlim_t)((lim->cpu_ms + 999) / 1000);

	ret->n = 0;
	/* No core files: a "|" core_pattern helper would run as root in the host (T16). */
	plan_add(ret, RLIMIT_CORE, 0, 0);
	plan_add(ret, RLIMIT_NOFILE, lim->nofile, lim->nofile);
	plan_add(ret, RLIMIT_FSIZE, lim->fsize_bytes, lim->fsize_bytes);
	plan_add(ret, RLIMIT_STACK, lim->stack_bytes, lim->stack_bytes);
	/* Backstop only: the verdict comes from cgroup accounting, which sees every process. */
	plan_add(ret, RLIMIT_CPU, cpu_s + 1, cpu_s + 2);
	/* POSIX message queues are charged per uid; keep one job from filling the quota. */
	plan_add(ret, RLIMIT_MSGQUEUE, 1 << 20, 1 << 20);
}

int limits_apply(const struct limits_plan *p)
{
	for (unsigned i = 0; i < p->n; i++)
		if (setrlimit(p->v[i].resource, &p->v[i].value) < 0)
			return -errno;
	return 0;
}
