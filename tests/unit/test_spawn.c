/* SPDX-License-Identifier: MIT */
/*
 * test_spawn.c - sbx_run() as a caller sees it: the verdicts, and that nothing of a job stays in
 * the calling process (fds) whatever the outcome. Needs root (namespaces, cgroups, mounts).
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

#include "context.h"
#include "unit.h"
#include "util.h"

static struct sbx_context *ctx;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static int run(const char *const *argv, const struct sbx_limits *lim, struct sbx_result *res,
	       struct sbx_error *err)
{
	struct sbx_spec spec = { .rootfs = "host", .argv = argv };

	if (lim)
		spec.limits = *lim;
	return sbx_run(ctx, &spec, res, err);
}

TEST(ok_and_output)
{
	static const char *const argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3",
					    NULL };
	struct sbx_result res;
	int before = count_fds();

	CHECK(run(argv, NULL, &res, NULL) == 0);
	CHECK(res.status == SBX_STATUS_RUNTIME_ERROR && res.exit_code == 3);
	CHECK(res.out.len == 4 && !strcmp(res.out.data, "out\n"));
	CHECK(res.err.len == 4 && !strcmp(res.err.data, "err\n"));
	CHECK(res.step_ns[SBX_STEP_EXEC] > res.step_ns[SBX_STEP_CLONE]);
	sbx_result_free(&res);
	CHECK(count_fds() == before);
}

TEST(limits_end_the_job_and_leave_nothing)
{
	static const char *const spin[] = { "/bin/sh", "-c", "while :; do :; done", NULL };
	static const char *const sleeper[] = { "/bin/sleep", "60", NULL };
	static const char *const flood[] = { "/usr/bin/yes", NULL };
	struct sbx_limits cpu = { .cpu_ms = 300 }, wall = { .wall_ms = 300 },
			  out = { .output_bytes = 4096 };
	struct sbx_result res;
	int before = count_fds();

	CHECK(run(spin, &cpu, &res, NULL) == 0);
	CHECK(res.status == SBX_STATUS_TIMEOUT && res.limit == SBX_LIMIT_CPU);
	CHECK(res.signal == SIGKILL && res.time_ms >= 300);
	sbx_result_free(&res);
	CHECK(run(sleeper, &wall, &res, NULL) == 0);
	CHECK(res.status == SBX_STATUS_TIMEOUT && res.limit == SBX_LIMIT_WALL);
	CHECK(res.wall_ms >= 300 && res.time_ms < 100);
	sbx_result_free(&res);
	CHECK(run(flood, &out, &res, NULL) == 0);
	CHECK(res.status == SBX_STATUS_OUTPUT_LIMIT && res.limit == SBX_LIMIT_OUTPUT);
	CHECK(res.out.len == 4096 && res.out.truncated);
	sbx_result_free(&res);
	CHECK(count_fds() == before);
}

TEST(bad_requests_start_nothing)
{
	static const char *const argv[] = { "/bin/true", NULL };
	static const char *const none[] = { NULL };
	struct sbx_limits big = { .memory_bytes = 1ULL << 50 };
	struct sbx_spec spec = { .rootfs = "/nonexistent", .argv = argv };
	struct sbx_error err = { 0 };
	struct sbx_result res;
	int before = count_fds();

	CHECK(run(argv, &big, &res, &err) == -EINVAL);
	CHECK(strstr(err.msg, "memory") != NULL);
	CHECK(run(none, NULL, &res, &err) == -EINVAL);
	CHECK(sbx_run(ctx, &spec, &res, &err) == -ENOENT);
	spec.rootfs = "host";
	spec.cwd = "/proc/self/fd/3";
	CHECK(sbx_run(ctx, &spec, &res, &err) == -EINVAL);
	spec.cwd = "/dev/fd/3";
	CHECK(sbx_run(ctx, &spec, &res, &err) == -EINVAL);
	CHECK(count_fds() == before);
}

/* A fault of the sandbox itself is internal_error with its reason, never the program's. */
TEST(sandbox_failure_is_internal_error)
{
	static const char *const argv[] = { "/bin/true", NULL };
	char saved[sizeof(ctx->stage)];
	struct sbx_result res;
	int before = count_fds();

	/* The new root cannot be mounted on a regular file: the child's mount step fails. */
	memcpy(saved, ctx->stage, sizeof(saved));
	snprintf(ctx->stage, sizeof(ctx->stage), "/etc/hostname");
	CHECK(run(argv, NULL, &res, NULL) == 0);
	memcpy(ctx->stage, saved, sizeof(saved));
	CHECK(res.status == SBX_STATUS_INTERNAL_ERROR && res.limit == SBX_LIMIT_NONE);
	CHECK(res.exit_code == -1 && res.signal == 0);
	CHECK(strstr(res.message, "mount") != NULL);
	sbx_result_free(&res);
	CHECK(count_fds() == before);
}

/* A caller that gives up (cancel_fd readable) gets the job killed and nothing left behind. */
TEST(cancel_kills_the_job)
{
	static const char *const argv[] = { "/bin/sleep", "60", NULL };
	struct sbx_spec spec = { .rootfs = "host", .argv = argv };
	struct sbx_result res;
	int before = count_fds(), efd = eventfd(1, EFD_CLOEXEC); /* already signalled */

	spec.cancel_fd = efd;
	CHECK(sbx_run(ctx, &spec, &res, NULL) == 0);
	CHECK(res.status == SBX_STATUS_INTERNAL_ERROR &&
	      !strcmp(res.message, "cancelled by the caller"));
	CHECK(res.wall_ms < 5000);
	sbx_result_free(&res);
	close(efd);
	CHECK(count_fds() == before);
}

int main(void)
{
	struct sbx_config cfg = { .profile_dir = "profiles",
				  .cgroup_parent = "sandboxd-unit-spawn" };
	struct sbx_error err = { 0 };

	if (geteuid() != 0) {
		printf("skip spawn: needs root\n0 passed, 0 failed, 1 skipped\n");
		return 0;
	}
	if (sbx_context_new(&cfg, &ctx, &err) < 0) {
		printf("FAIL context: %s\n0 passed, 1 failed, 0 skipped\n", err.msg);
		return 1;
	}
	RUN(ok_and_output);
	RUN(limits_end_the_job_and_leave_nothing);
	RUN(bad_requests_start_nothing);
	RUN(sandbox_failure_is_internal_error);
	RUN(cancel_kills_the_job);
	sbx_context_free(ctx);
	UNIT_END();
}
