/* SPDX-License-Identifier: MIT */
/*
 * test_cgroup.c - both cgroup backends against the real kernel: limits land in the right files,
 * members are accounted, limits bite (OOM, pids), kill and destroy leave nothing behind.
 *
 * Every test opens its own parent "sandboxd-unit-<pid>" so it never meets a real sandboxd.
 * Needs root; a backend the host cannot offer is skipped with the reason cg_root_open gives.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "unit.h"
#include "util.h"

static char parent_name[64];
static char skip_reason[SBX_MSG_MAX + 32];

static const struct sbx_limits test_limits = {
	.memory_bytes = 64 << 20,
	.pids = 16,
	.cpus_milli = 500,
};

/* Open the backend or say why not (a NULL return means: SKIP with skip_reason). */
static bool open_root(struct cg_root *root, int version)
{
	struct sbx_error err = { 0 };

	if (geteuid() != 0) {
		snprintf(skip_reason, sizeof(skip_reason), "needs root");
		return false;
	}
	if (cg_root_open(root, parent_name, version, &err) < 0) {
		snprintf(skip_reason, sizeof(skip_reason), "%s", err.msg);
		return false;
	}
	return true;
}

static bool path_exists(const char *dir, const char *name)
{
	char path[CG_PATH_MAX + 80];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s%s", dir, name ? "/" : "", name ? name : "");
	return stat(path, &st) == 0;
}

static int job_fd(const struct cg_job *job, const char *controller)
{
	int i = cg_dir_index(job->root, controller);

	return i < 0 ? -1 : job->dir_fd[i];
}

static void check_file(const struct cg_job *job, const char *controller, const char *file,
		       const char *want)
{
	char buf[128] = "";

	CHECK(sbx_read_file_at(job_fd(job, controller), file, buf, sizeof(buf)) > 0);
	buf[strcspn(buf, "\n")] = '\0';
	CHECK_STREQ(buf, want);
}

/* Child: join the job, tell the parent, then run body. Returns the child's pid. */
static pid_t spawn_member(const struct cg_job *job, int (*body)(void))
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (cg_job_join(job) < 0)
			_exit(120);
		if (write(p[1], "x", 1) != 1)
			_exit(121);
		_exit(body());
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &c, 1) != 1) {
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(p[0]);
	return pid;
}

static int wait_status(pid_t pid)
{
	int st = -1;

	if (pid <= 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

/* Reap what members forked (we are their subreaper) so no zombie outlives a test. */
static void reap_strays(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static int body_spin(void)
{
	struct timespec ts;

	do
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	while (ts.tv_sec == 0 && ts.tv_nsec < 200 * 1000 * 1000);
	return 0;
}

/* mmap, not malloc: ASan's allocator would blur what the memcg sees. */
static int body_hog(void)
{
	size_t len = 256 << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 2;
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	return 0;
}

/* Zombies keep their pids charged, so forking children that exit at once still fills pids.max. */
static int body_forkbomb(void)
{
	int saw_eagain = 0;

	for (int i = 0; i < 64; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid < 0) {
			saw_eagain = errno == EAGAIN;
			break;
		}
	}
	while (wait(NULL) > 0)
		;
	return saw_eagain ? 0 : 3;
}

static int body_sleep(void)
{
	if (fork() == 0)
		pause();
	pause();
	return 0;
}

static void limits_files(int version)
{
	struct sbx_error err = { 0 };
	struct cg_root root;
	struct cg_job job;

	if (!open_root(&root, version))
		SKIP(skip_reason);
	CHECK(cg_job_create(&root, &test_limits, &job, &err) == 0);
	if (version == 1) {
		check_file(&job, "memory", "memory.limit_in_bytes", "67108864");
		if (faccessat(job_fd(&job, "memory"), "memory.memsw.limit_in_bytes", F_OK, 0) == 0)
			check_file(&job, "memory", "memory.memsw.limit_in_bytes", "67108864");
		check_file(&job, "pids", "pids.max", "16");
		check_file(&job, "cpu", "cpu.cfs_period_us", "100000");
		check_file(&job, "cpu", "cpu.cfs_quota_us", "50000");
	} else {
		check_file(&job, "memory", "memory.max", "67108864");
		check_file(&job, "memory", "memory.swap.max", "0");
		check_file(&job, "memory", "memory.oom.group", "1");
		check_file(&job, "pids", "pids.max", "16");
		check_file(&job, "cpu", "cpu.max", "50000 100000");
	}
	CHECK(root.ops->destroy(&job, &err) == 0);
	cg_root_close(&root);
}

static void cpu_and_peak(int version)
{
	struct sbx_error err = { 0 };
	struct cg_stats st = { 0 };
	struct cg_root root;
	struct cg_job job;
	uint64_t usec = 0;
	int status;

	if (!open_root(&root, version))
		SKIP(skip_reason);
	CHECK(cg_job_create(&root, &test_limits, &job, &err) == 0);
	status = wait_status(spawn_member(&job, body_spin));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(root.ops->cpu_usec(&job, &usec, &err) == 0);
	CHECK(usec >= 150000);
	CHECK(root.ops->stats(&job, &st, &err) == 0);
	CHECK(st.cpu_usec >= usec);
	CHECK(st.mem_peak > 0);
	CHECK(st.oom_kills == 0);
	CHECK(root.ops->destroy(&job, &err) == 0);
	cg_root_close(&root);
}

static void oom_kill(int version)
{
	struct sbx_error err = { 0 };
	struct cg_stats st = { 0 };
	struct cg_root root;
	struct cg_job job;
	int status;

	if (!open_root(&root, version))
		SKIP(skip_reason);
	CHECK(cg_job_create(&root, &test_limits, &job, &err) == 0);
	status = wait_status(spawn_member(&job, body_hog));
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK(root.ops->stats(&job, &st, &err) == 0);
	CHECK(st.oom_kills >= 1);
	CHECK(st.mem_peak <= test_limits.memory_bytes);
	CHECK(root.ops->destroy(&job, &err) == 0);
	cg_root_close(&root);
}

static void pids_limit(int version)
{
	struct sbx_error err = { 0 };
	struct cg_root root;
	struct cg_job job;
	int status;

	if (!open_root(&root, version))
		SKIP(skip_reason);
	CHECK(cg_job_create(&root, &test_limits, &job, &err) == 0);
	status = wait_status(spawn_member(&job, body_forkbomb));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(root.ops->destroy(&job, &err) == 0);
	reap_strays();
	cg_root_close(&root);
}

static bool procs_empty(const struct cg_job *job)
{
	char buf[64] = "x";

	for (int i = 0; i < 200 && buf[0]; i++) {
		reap_strays();
		if (sbx_read_file_at(job->dir_fd[0], "cgroup.procs", buf, sizeof(buf)) < 0)
			return false;
		if (buf[0])
			usleep(5000);
	}
	return !buf[0];
}

/* kill() takes the member and what it forked; the leaf stays, empty, until destroy. */
static void kill_members(int version)
{
	struct sbx_error err = { 0 };
	struct cg_root root;
	struct cg_job job;
	pid_t pid;
	int status;

	if (!open_root(&root, version))
		SKIP(skip_reason);
	CHECK(cg_job_create(&root, &test_limits, &job, &err) == 0);
	pid = spawn_member(&job, body_sleep);
	CHECK(pid > 0);
	usleep(20000); /* let the grandchild exist */
	CHECK(root.ops->kill(&job, &err) == 0);
	status = wait_status(pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK(procs_empty(&job));
	CHECK(root.ops->destroy(&job, &err) == 0);
	cg_root_close(&root);
}

/* destroy() on a job with live members: kill, wait, rmdir; both dirs gone after close. */
static void destroy_removes(int version)
{
	struct sbx_error err = { 0 };
	struct cg_root root;
	struct cg_job job;
	char dirs[CG_MAX_CONTROLLERS][CG_PATH_MAX];
	unsigned n;
	pid_t pid;
	int status;

	if (!open_root(&root, version))
		SKIP(skip_reason);
	CHECK(cg_job_create(&root, &test_limits, &job, &err) == 0);
	pid = spawn_member(&job, body_sleep);
	CHECK(pid > 0);
	n = root.n_dirs;
	for (unsigned i = 0; i < n; i++) {
		memcpy(dirs[i], root.dirs[i].path, CG_PATH_MAX);
		CHECK(path_exists(dirs[i], job.name));
	}
	CHECK(root.ops->destroy(&job, &err) == 0);
	status = wait_status(pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	reap_strays();
	for (unsigned i = 0; i < n; i++)
		CHECK(!path_exists(dirs[i], job.name));
	cg_root_close(&root);
	for (unsigned i = 0; i < n; i++)
		CHECK(!path_exists(dirs[i], NULL));
}

/* A limit the kernel rejects fails create() and leaves no half-built leaf behind. */
static void create_error_cleans_up(int version)
{
	struct sbx_limits bad = test_limits;
	struct sbx_error err = { 0 };
	struct cg_root root;
	struct cg_job job;
	char name[64];

	if (!open_root(&root, version))
		SKIP(skip_reason);
	bad.cpus_milli = 1; /* 100 us quota: below the kernel's 1 ms minimum */
	CHECK(cg_job_create(&root, &bad, &job, &err) == -EINVAL);
	CHECK(strstr(err.msg, "cpu") != NULL);
	printf("  expected error: %s\n", err.msg);
	snprintf(name, sizeof(name), "job-%d-%llu", (int)getpid(), root.seq);
	for (unsigned i = 0; i < root.n_dirs; i++)
		CHECK(!path_exists(root.dirs[i].path, name));
	CHECK(job.n == 0 && job.dir_fd[0] == -1);
	cg_root_close(&root);
}

/* Another sandboxctl's close removed the shared (empty) parent: create() makes it again. */
static void parent_vanished(int version)
{
	struct sbx_error err = { 0 };
	struct cg_root root;
	struct cg_job job;

	if (!open_root(&root, version))
		SKIP(skip_reason);
	for (unsigned i = 0; i < root.n_dirs; i++)
		CHECK(rmdir(root.dirs[i].path) == 0);
	CHECK(cg_job_create(&root, &test_limits, &job, &err) == 0);
	for (unsigned i = 0; i < root.n_dirs; i++)
		CHECK(path_exists(root.dirs[i].path, job.name));
	CHECK(root.ops->destroy(&job, &err) == 0);
	cg_root_close(&root);
	for (unsigned i = 0; i < root.n_dirs; i++)
		CHECK(!path_exists(root.dirs[i].path, NULL));
}

static void create_destroy_timing(int version)
{
	struct sbx_error err = { 0 };
	struct cg_root root;
	struct cg_job job;
	unsigned long long t0;
	const int rounds = 50;

	if (!open_root(&root, version))
		SKIP(skip_reason);
	t0 = sbx_now_ns();
	for (int i = 0; i < rounds; i++) {
		CHECK(cg_job_create(&root, &test_limits, &job, &err) == 0);
		CHECK(root.ops->destroy(&job, &err) == 0);
	}
	printf("  %s: create+destroy %llu us per leaf\n", root.ops->name,
	       (sbx_now_ns() - t0) / 1000 / rounds);
	cg_root_close(&root);
}

#define BOTH(fn)                                                                                   \
	TEST(fn##_v1)                                                                              \
	{                                                                                          \
		fn(1);                                                                             \
	}                                                                                          \
	TEST(fn##_v2)                                                                              \
	{                                                                                          \
		fn(2);                                                                             \
	}

/*
 * v1 kill is freeze, SIGKILL, thaw: a creator killed in between leaves its job frozen, where
 * no signal (not its PDEATHSIG) acts. The next reap of stale leaves ends it and the leaf goes.
 */
TEST(orphan_frozen_job_is_ended)
{
	struct sbx_error err = { 0 };
	struct cg_root root;
	struct {
		pid_t member;
		char name[sizeof(((struct cg_job *)0)->name)];
	} got = { 0 };
	int p[2];
	pid_t creator;
	bool gone = false;

	if (!open_root(&root, 1))
		SKIP(skip_reason);
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	creator = fork();
	if (creator == 0) {
		struct cg_job job;
		char path[CG_PATH_MAX + 128];

		if (cg_job_create(&root, &test_limits, &job, &err) < 0)
			_exit(1);
		got.member = spawn_member(&job, body_sleep);
		snprintf(got.name, sizeof(got.name), "%s", job.name);
		for (unsigned i = 0; i < root.n_dirs; i++) {
			snprintf(path, sizeof(path), "%s/%s/freezer.state", root.dirs[i].path,
				 job.name);
			sbx_write_file_at(AT_FDCWD, path, "FROZEN");
		}
		_exit(write(p[1], &got, sizeof(got)) == sizeof(got) ? 0 : 1); /* no destroy */
	}
	close(p[1]);
	CHECK(read(p[0], &got, sizeof(got)) == sizeof(got) && got.member > 0);
	close(p[0]);
	CHECK(wait_status(creator) == 0);
	for (int i = 0; i < 150 && !gone; i++) {
		cg_root_reap_stale(&root);
		reap_strays();
		gone = true;
		for (unsigned d = 0; d < root.n_dirs; d++)
			gone = gone && !path_exists(root.dirs[d].path, got.name);
		if (!gone)
			usleep(20000);
	}
	CHECK(gone);
	CHECK(got.member <= 0 || (kill(got.member, 0) < 0 && errno == ESRCH));
	cg_root_close(&root);
}

BOTH(limits_files)
BOTH(cpu_and_peak)
BOTH(oom_kill)
BOTH(pids_limit)
BOTH(kill_members)
BOTH(destroy_removes)
BOTH(create_error_cleans_up)
BOTH(parent_vanished)
BOTH(create_destroy_timing)

/* Detection picks a backend that works; its name is one of ours. */
TEST(detect)
{
	struct cg_root root;

	if (!open_root(&root, 0))
		SKIP(skip_reason);
	printf("  detected %s\n", root.ops->name);
	CHECK(strcmp(root.ops->name, "v1") == 0 || strcmp(root.ops->name, "v2") == 0);
	cg_root_close(&root);
	CHECK(root.ops == NULL);
	cg_root_close(&root); /* twice is harmless */
}

TEST(bad_parent_names)
{
	static const char *const bad[] = {
		"", "/abs", "..", "../x", "a/../b", "a/..", "./a", "a/"
	};
	struct sbx_error err = { 0 };
	struct cg_root root;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		CHECK(cg_root_open(&root, bad[i], 0, &err) == -EINVAL);
	CHECK(cg_root_open(&root, parent_name, 7, &err) == -EINVAL);
}

/* Insisting on v2 where it cannot work must say why, and leave nothing behind. */
TEST(v2_refusal_is_clear)
{
	struct sbx_error err = { 0 };
	struct cg_root root;
	char home[CG_PATH_MAX];

	if (cg_v2_usable(home, sizeof(home), NULL) == 0)
		SKIP("cgroup v2 is usable here");
	CHECK(cg_root_open(&root, parent_name, 2, &err) < 0);
	printf("  expected error: %s\n", err.msg);
	CHECK(strstr(err.msg, "cgroup v2") != NULL);
}

TEST(helpers)
{
	CHECK(cg_list_has("cpu,cpuacct", "cpuacct", ','));
	CHECK(!cg_list_has("cpu,cpuacct", "cpuac", ','));
	CHECK(cg_list_has("cpuset cpu io memory pids\n", "pids", ' '));
	CHECK(!cg_list_has("hugetlb\n", "memory", ' '));
	CHECK(!cg_list_has("", "cpu", ' '));
}

/* Nothing named after our parent (nor v2's supervisor leaf) may survive in any hierarchy. */
static bool leftover(const char *dir)
{
	char supervisor[96];

	snprintf(supervisor, sizeof(supervisor), "%s-supervisor", parent_name);
	return path_exists(dir, parent_name) || path_exists(dir, supervisor);
}

TEST(nothing_left)
{
	static const char *const ctrls[] = { "memory", "cpu", "cpuacct", "pids", "freezer", "" };
	char path[CG_PATH_MAX];

	for (size_t i = 0; i < ELEMENTSOF(ctrls); i++) {
		if (cg_hierarchy_path(ctrls[i], path, sizeof(path), NULL) == 0)
			CHECK(!leftover(path));
	}
}

int main(void)
{
	snprintf(parent_name, sizeof(parent_name), "sandboxd-unit-%d", (int)getpid());
	/* Members fork; orphaned grandchildren come back to us to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	RUN(helpers);
	RUN(bad_parent_names);
	RUN(detect);
	RUN(v2_refusal_is_clear);
	RUN(limits_files_v1);
	RUN(cpu_and_peak_v1);
	RUN(oom_kill_v1);
	RUN(pids_limit_v1);
	RUN(kill_members_v1);
	RUN(destroy_removes_v1);
	RUN(create_error_cleans_up_v1);
	RUN(parent_vanished_v1);
	RUN(create_destroy_timing_v1);
	RUN(orphan_frozen_job_is_ended);
	RUN(limits_files_v2);
	RUN(cpu_and_peak_v2);
	RUN(oom_kill_v2);
	RUN(pids_limit_v2);
	RUN(kill_members_v2);
	RUN(destroy_removes_v2);
	RUN(create_error_cleans_up_v2);
	RUN(parent_vanished_v2);
	RUN(create_destroy_timing_v2);
	RUN(nothing_left);
	UNIT_END();
}
