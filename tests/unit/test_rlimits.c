/* SPDX-License-Identifier: MIT */
/* test_rlimits.c - the rlimit plan: no core files, the requested caps, never above our own. */
#include "rlimits.h"
#include "unit.h"

static const struct rlimit *find(const struct limits_plan *p, int resource)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->v[i].resource == resource)
			return &p->v[i].value;
	return NULL;
}

TEST(plan_values)
{
	struct sbx_limits lim = {
		.cpu_ms = 2500, .nofile = 64, .fsize_bytes = 1 << 20, .stack_bytes = 8 << 20
	};
	struct limits_plan p;
	const struct rlimit *r;

	limits_plan(&lim, &p);
	r = find(&p, RLIMIT_CORE);
	CHECK(r && r->rlim_cur == 0 && r->rlim_max == 0);
	r = find(&p, RLIMIT_NOFILE);
	CHECK(r && r->rlim_cur == 64 && r->rlim_max == 64);
	r = find(&p, RLIMIT_FSIZE);
	CHECK(r && r->rlim_cur == 1 << 20);
	/* The CPU rlimit is a backstop behind the cgroup check: above the limit, never below. */
	r = find(&p, RLIMIT_CPU);
	CHECK(r && r->rlim_cur >= 3 && r->rlim_max > r->rlim_cur);
}

TEST(never_above_our_hard_limit)
{
	struct sbx_limits lim = {
		.cpu_ms = 1000, .nofile = 1 << 20, .fsize_bytes = 1, .stack_bytes = 1
	};
	struct rlimit ours;
	struct limits_plan p;
	const struct rlimit *r;

	CHECK(getrlimit(RLIMIT_NOFILE, &ours) == 0);
	limits_plan(&lim, &p);
	r = find(&p, RLIMIT_NOFILE);
	CHECK(r && (ours.rlim_max == RLIM_INFINITY || r->rlim_max <= ours.rlim_max));
	CHECK(r && r->rlim_cur <= r->rlim_max);
}

int main(void)
{
	RUN(plan_values);
	RUN(never_above_our_hard_limit);
	UNIT_END();
}
