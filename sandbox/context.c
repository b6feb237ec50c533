/* SPDX-License-Identifier: MIT */
/*
 * context.c - sbx_context_new/free: everything a job needs that does not depend on the job.
 *
 * Owns: the order of start-up (profile -> seccomp -> cgroup -> plans -> staging dir).
 * Must not: start processes; that is spawn.c's alone.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "context.h"
#include "util.h"

static int make_stage(struct sbx_context *ctx, struct sbx_error *err)
{
	/* 0700: host users must not reach into a job's view (CVE-2021-41091 was this for Docker). */
	if (mkdir(SBX_RUN_DIR, 0700) < 0 && errno != EEXIST)
		return sbx_err(err, errno, "mkdir %s", SBX_RUN_DIR);
	snprintf(ctx->stage, sizeof(ctx->stage), "%s/root", SBX_RUN_DIR);
	if (mkdir(ctx->stage, 0700) < 0 && errno != EEXIST)
		return sbx_err(err, errno, "mkdir %s", ctx->stage);
	return 0;
}

int sbx_context_new(const struct sbx_config *cfg, struct sbx_context **ret, struct sbx_error *err)
{
	static const struct sbx_config defaults;
	struct sbx_context *ctx = calloc(1, sizeof(*ctx));
	char dir[PATH_MAX];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	if (!ctx)
		return sbx_err(err, ENOMEM, "context");
	if (!cfg)
		cfg = &defaults;
	ctx->online_cpus = cpus > 0 ? (unsigned)cpus : 1;
	r = make_stage(ctx, err);
	if (r >= 0)
		r = hostfs_prepare(SBX_RUN_DIR, &ctx->host, err);
	if (r >= 0)
		r = profile_find_dir(cfg->profile_dir, dir, sizeof(dir), err);
	if (r >= 0)
		r = profile_load(dir, SBX_RUN_DIR, &ctx->profile, err);
	if (r >= 0) {
		r = cg_root_open(&ctx->cg, cfg->cgroup_parent ? cfg->cgroup_parent : "sandboxd",
				 cfg->cgroup_version, err);
		ctx->cg_open = r >= 0;
	}
	if (r >= 0)
		r = caps_plan_init(&ctx->caps, err);
	if (r >= 0)
		r = net_plan_init(&ctx->net, err);
	if (r < 0) {
		sbx_context_free(ctx);
		return r;
	}
	*ret = ctx;
	return 0;
}

void sbx_context_free(struct sbx_context *ctx)
{
	if (!ctx)
		return;
	if (ctx->cg_open)
		cg_root_close(&ctx->cg);
	caps_plan_done(&ctx->caps);
	profile_done(&ctx->profile);
	free(ctx);
}

static const char *cgroup_backend(const struct sbx_context *ctx)
{
	return ctx->cg.ops ? ctx->cg.ops->name : "none";
}

void sbx_context_describe_cgroup(const struct sbx_context *ctx, char *buf, size_t size)
{
	const struct cg_root *cg = &ctx->cg;
	size_t n = (size_t)snprintf(buf, size, "%s (", cgroup_backend(ctx));

	if (cg->ops == &cg_v2_ops)
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s", cg->v2_controllers);
	for (unsigned i = 0; cg->ops == &cg_v1_ops && i < cg->n_dirs; i++)
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", i ? " " : "",
				      cg->dirs[i].controller);
	if (n < size)
		snprintf(buf + n, size - n, "), parent %s", cg->n_dirs ? cg->dirs[0].path : "-");
}

const char *const *sbx_context_env(const struct sbx_context *ctx)
{
	return (const char *const *)ctx->profile.env;
}

uid_t sbx_context_uid(const struct sbx_context *ctx, unsigned slot)
{
	return ctx->profile.uid_base + slot;
}

unsigned sbx_context_slots(const struct sbx_context *ctx)
{
	return ctx->profile.slots;
}

int sbx_find_profile_dir(const char *explicit_dir, char *buf, size_t size, struct sbx_error *err)
{
	return profile_find_dir(explicit_dir, buf, size, err);
}

void sbx_context_reap_stale(struct sbx_context *ctx)
{
	cg_root_reap_stale(&ctx->cg);
}

int sbx_cgroup_leave_home(const char *leaf, struct sbx_error *err)
{
	return cg_v2_leave_home(leaf, err);
}
