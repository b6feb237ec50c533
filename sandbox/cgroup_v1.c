/* SPDX-License-Identifier: MIT */
/*
 * cgroup_v1.c - the legacy backend: one hierarchy per controller (memory, cpu, cpuacct, pids,
 * freezer), some possibly co-mounted ("cpu,cpuacct"). A job is one leaf of the same name in
 * each hierarchy; the child joins all of them.
 *
 * Owns: the v1 file names and their quirks (memsw >= limit, freezer-based kill).
 * Must not: touch any cgroup but our parent and the leaves below it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

#define V1_FREEZE_TIMEOUT_NS (1000ULL * 1000 * 1000)
#define V1_CPU_PERIOD_US     100000

static const char *const v1_controllers[] = { "memory", "cpu", "cpuacct", "pids", "freezer" };

/* Co-mounted controllers share one directory: record them as "cpu,cpuacct". */
static int v1_add_controller(struct cg_root *root, const char *controller, const char *parent,
			     struct sbx_error *err)
{
	char base[CG_PATH_MAX], path[CG_PATH_MAX];
	struct cg_dir *d;
	int r;

	r = cg_hierarchy_path(controller, base, sizeof(base), err);
	if (r < 0)
		return r;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", base, parent) >= sizeof(path))
		return sbx_err(err, ENAMETOOLONG, "cgroup path %s/%s", base, parent);
	for (unsigned i = 0; i < root->n_dirs; i++) {
		d = &root->dirs[i];
		if (strcmp(d->path, path) == 0) {
			size_t len = strlen(d->controller);

			snprintf(d->controller + len, sizeof(d->controller) - len, ",%s",
				 controller);
			return 0;
		}
	}
	d = &root->dirs[root->n_dirs++];
	snprintf(d->controller, sizeof(d->controller), "%s", controller);
	memcpy(d->path, path, sizeof(d->path));
	return 0;
}

static int v1_setup(struct cg_root *root, const char *parent, struct sbx_error *err)
{
	int r;

	for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
		r = v1_add_controller(root, v1_controllers[i], parent, err);
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < root->n_dirs; i++) {
		r = cg_dir_make(&root->dirs[i], err);
		if (r < 0)
			return sbx_err_prefix(err, r, "cgroup v1");
	}
	return 0;
}

static int v1_format_cpu_period(const struct sbx_limits *lim, char *buf, size_t size)
{
	if (!lim->cpus_milli)
		return 0;
	return snprintf(buf, size, "%d", V1_CPU_PERIOD_US);
}

/* 1000 milli-CPUs = one full period of runtime per period. */
static int v1_format_cpu_quota(const struct sbx_limits *lim, char *buf, size_t size)
{
	if (!lim->cpus_milli)
		return 0;
	return snprintf(buf, size, "%llu",
			(unsigned long long)lim->cpus_milli * (V1_CPU_PERIOD_US / 1000));
}

/*
 * memsw (memory + swap) equal to the limit means no swap at all. It must come after
 * limit_in_bytes (the kernel requires memsw >= limit) and is missing when swap accounting is off.
 */
static const struct cg_knob v1_knobs[] = {
	{ "memory", "memory.limit_in_bytes", cg_format_memory, false },
	{ "memory", "memory.memsw.limit_in_bytes", cg_format_memory, true },
	{ "pids", "pids.max", cg_format_pids, false },
	{ "cpu", "cpu.cfs_period_us", v1_format_cpu_period, false },
	{ "cpu", "cpu.cfs_quota_us", v1_format_cpu_quota, false },
};

static int v1_open_procs(struct cg_job *job, struct sbx_error *err)
{
	for (unsigned i = 0; i < job->n; i++) {
		job->procs_fd[i] = openat(job->dir_fd[i], "cgroup.procs", O_WRONLY | O_CLOEXEC);
		if (job->procs_fd[i] < 0)
			return sbx_err(err, errno, "open %s/%s/cgroup.procs",
				       job->root->dirs[i].path, job->name);
	}
	return 0;
}

static int v1_destroy(struct cg_job *job, struct sbx_error *err);

static int v1_create(struct cg_root *root, const struct sbx_limits *lim, struct cg_job *ret,
		     struct sbx_error *err)
{
	int r = 0;

	cg_job_init(ret);
	ret->root = root;
	snprintf(ret->name, sizeof(ret->name), "job-%d-%llu", (int)getpid(), ++root->seq);
	for (unsigned i = 0; i < root->n_dirs && r >= 0; i++) {
		r = cg_leaf_make(root, i, ret->name, cg_dir_make, &ret->dir_fd[i], err);
		if (r >= 0)
			ret->n = i + 1;
	}
	if (r >= 0)
		r = cg_knobs_apply(ret, v1_knobs, ELEMENTSOF(v1_knobs), lim, err);
	if (r >= 0)
		r = v1_open_procs(ret, err);
	if (r < 0) {
		/* Half-built: remove every leaf made so far; keep the first error. */
		v1_destroy(ret, NULL);
		return sbx_err_prefix(err, r, "cgroup v1");
	}
	return 0;
}

static int v1_fd(const struct cg_job *job, const char *controller, struct sbx_error *err)
{
	int i = cg_dir_index(job->root, controller);

	if (i < 0 || (unsigned)i >= job->n)
		return sbx_err_msg(err, ENOENT, "cgroup v1: job %s has no %s cgroup", job->name,
				   controller);
	return job->dir_fd[i];
}

static int v1_cpu_usec(const struct cg_job *job, uint64_t *ret, struct sbx_error *err)
{
	int fd = v1_fd(job, "cpuacct", err);
	uint64_t ns;
	int r;

	if (fd < 0)
		return fd;
	r = cg_read_u64(fd, "cpuacct.usage", &ns, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "cgroup v1: %s", job->name);
	*ret = ns / 1000;
	return 0;
}

static int v1_stats(const struct cg_job *job, struct cg_stats *ret, struct sbx_error *err)
{
	int fd = v1_fd(job, "memory", err);
	int r;

	if (fd < 0)
		return fd;
	memset(ret, 0, sizeof(*ret));
	r = cg_read_u64(fd, "memory.max_usage_in_bytes", &ret->mem_peak, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "cgroup v1: %s", job->name);
	/* The oom_kill counter exists since 4.13; older kernels just report 0. */
	r = cg_read_key_u64(fd, "memory.oom_control", "oom_kill", &ret->oom_kills, NULL);
	if (r < 0 && r != -ENOENT)
		return sbx_err(err, -r, "cgroup v1: %s: read memory.oom_control", job->name);
	return v1_cpu_usec(job, &ret->cpu_usec, err);
}

static bool v1_is_frozen(int fd)
{
	char state[32];

	return sbx_read_file_at(fd, "freezer.state", state, sizeof(state)) > 0 &&
	       strncmp(state, "FROZEN", 6) == 0;
}

/*
 * v1 has no "kill the group": a forking task could outrun a pid-by-pid kill. Freezing first
 * stops every member (and anything it forks), so one pass over cgroup.procs gets them all;
 * the SIGKILLs are delivered when we thaw (runc's signalAllProcesses does the same).
 */
static bool v1_is_empty(const struct cg_job *job)
{
	for (unsigned i = 0; i < job->n; i++)
		if (!cg_is_empty(job->dir_fd[i]))
			return false;
	return true;
}

static int v1_kill(const struct cg_job *job, struct sbx_error *err)
{
	unsigned long long deadline = sbx_now_ns() + V1_FREEZE_TIMEOUT_NS;
	int fd = v1_fd(job, "freezer", err);
	unsigned step = 0;
	int r, k;

	if (fd < 0)
		return fd;
	r = sbx_write_file_at(fd, "freezer.state", "FROZEN");
	if (r < 0)
		return sbx_err(err, -r, "cgroup v1: freeze %s", job->name);
	/* Bounded: a task in uninterruptible sleep can hold FREEZING; kill what we can anyway. */
	while (!v1_is_frozen(fd) && sbx_now_ns() < deadline)
		cg_backoff(&step);
	r = cg_kill_procs(fd, err);
	if (r < 0)
		sbx_err_prefix(err, r, "cgroup v1: kill %s", job->name);
	k = sbx_write_file_at(fd, "freezer.state", "THAWED");
	if (k < 0 && r >= 0)
		r = sbx_err(err, -k, "cgroup v1: thaw %s", job->name);
	return r < 0 ? r : 0;
}

static int v1_remove_leaves(struct cg_job *job, struct sbx_error *err)
{
	char path[CG_PATH_MAX + 80];
	int r, first = 0;

	for (unsigned i = job->n; i-- > 0;) {
		snprintf(path, sizeof(path), "%s/%s", job->root->dirs[i].path, job->name);
		r = cg_rmdir_wait(path, first < 0 ? NULL : err);
		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}

static int v1_destroy(struct cg_job *job, struct sbx_error *err)
{
	int r = 0, k;

	/*
	 * Tasks can only be inside once every cgroup.procs was opened. After a normal end the
	 * pid namespace is gone and the leaf is empty: skip the freeze/kill/thaw round.
	 */
	if (job->n && job->procs_fd[job->n - 1] >= 0 && !v1_is_empty(job))
		r = v1_kill(job, err);
	k = v1_remove_leaves(job, r < 0 ? NULL : err);
	if (r == 0)
		r = k;
	cg_job_close_fds(job);
	job->n = 0;
	return r;
}

const struct cg_ops cg_v1_ops = {
	.name = "v1",
	.setup = v1_setup,
	.create = v1_create,
	.cpu_usec = v1_cpu_usec,
	.stats = v1_stats,
	.kill = v1_kill,
	.destroy = v1_destroy,
	.close = NULL,
};
