/* SPDX-License-Identifier: MIT */
/*
 * cgroup_v2.c - the unified-hierarchy backend: <home>/<parent>/job-<pid>-<seq>, where home is
 * the cgroup this process started in (systemd: the service's delegated cgroup).
 *
 * Where our parent cgroup goes, first fit (the "no internal processes" rule: a cgroup may hand
 * controllers to its children only while it has no member processes of its own):
 *   1. below home, when home already hands memory and pids to its children;
 *   2. below home, when this process is alone in it (a systemd Delegate=yes service): we move
 *      into the leaf <home>/<parent>-supervisor, enable the controllers, move back on close;
 *   3. beside home, when others share it (a shell's session scope): home's parent already hands
 *      the controllers down (home has them), so a new sibling needs nothing changed.
 * cpu is used when offered (cpu.max); without it CPU time is still accounted (cpu.stat).
 *
 * Owns: the v2 file names, controller delegation below home. Must not: write anything above
 * home, or touch a cgroup below home that we did not create (except home's subtree_control).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

#define V2_CPU_PERIOD_US     100000
#define V2_EMPTY_TIMEOUT_NS  (2ULL * 1000 * 1000 * 1000)
#define V2_FREEZE_TIMEOUT_NS (1000ULL * 1000 * 1000)

static const char *const v2_needed[] = { "memory", "pids" };

static bool v2_has_all(const char *list)
{
	for (size_t i = 0; i < ELEMENTSOF(v2_needed); i++) {
		if (!cg_list_has(list, v2_needed[i], ' '))
			return false;
	}
	return true;
}

/* Read a small file below a directory path into buf, newline stripped. */
static int v2_read_at_path(const char *dir, const char *file, char *buf, size_t size)
{
	char path[CG_PATH_MAX + 64];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	r = sbx_read_file_at(AT_FDCWD, path, buf, size);
	if (r >= 0)
		buf[strcspn(buf, "\n")] = '\0';
	return r;
}

static int v2_write_at_path(const char *dir, const char *file, const char *value)
{
	char path[CG_PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return sbx_write_file_at(AT_FDCWD, path, value);
}

int cg_v2_usable(char *ret_home, size_t size, struct sbx_error *err)
{
	char list[512];
	int r;

	r = cg_hierarchy_path("", ret_home, size, err);
	if (r < 0)
		return r;
	r = v2_read_at_path(ret_home, "cgroup.controllers", list, sizeof(list));
	if (r < 0)
		return sbx_err(err, -r, "cgroup v2: read %s/cgroup.controllers", ret_home);
	if (!v2_has_all(list))
		return sbx_err_msg(err, EOPNOTSUPP,
				   "cgroup v2: %s offers controllers \"%s\"; need memory and pids "
				   "(delegate them, e.g. systemd Delegate=yes)",
				   ret_home, list);
	return 0;
}

/* Move this whole process (all threads) into <home>/<parent>-supervisor. */
static int v2_move_self(struct cg_root *root, const char *parent, struct sbx_error *err)
{
	const char *base = strrchr(parent, '/') ? strrchr(parent, '/') + 1 : parent;
	char pid[32];
	int r;

	if ((size_t)snprintf(root->supervisor.path, sizeof(root->supervisor.path),
			     "%s/%s-supervisor", root->home, base) >= sizeof(root->supervisor.path))
		return sbx_err(err, ENAMETOOLONG, "%s/%s-supervisor", root->home, base);
	r = cg_dir_make(&root->supervisor, err);
	if (r < 0)
		return r;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	r = v2_write_at_path(root->supervisor.path, "cgroup.procs", pid);
	if (r < 0)
		return sbx_err(err, -r, "move pid %s into %s", pid, root->supervisor.path);
	root->moved_self = true;
	return 0;
}

/* "+memory +pids [+cpu]": what our cgroups hand to their children (cpu when offered). */
static void v2_pick_controllers(struct cg_root *root, const char *offered)
{
	snprintf(root->v2_controllers, sizeof(root->v2_controllers), "+memory +pids%s",
		 cg_list_has(offered, "cpu", ' ') ? " +cpu" : "");
}

/* Is this process the only member of dir? */
static bool v2_alone_in(const char *dir)
{
	char procs[64], self[32];

	if (v2_read_at_path(dir, "cgroup.procs", procs, sizeof(procs)) < 0)
		return false;
	snprintf(self, sizeof(self), "%d", (int)getpid());
	return !strcmp(procs, self);
}

/* Case 2: hand the controllers to home's children; we leave home first. */
static int v2_enable_home(struct cg_root *root, const char *parent, struct sbx_error *err)
{
	int r = v2_move_self(root, parent, err);

	if (r < 0)
		return r;
	r = v2_write_at_path(root->home, "cgroup.subtree_control", root->v2_controllers);
	if (r < 0)
		return sbx_err(err, -r, "write %s/cgroup.subtree_control", root->home);
	root->enabled_home = true;
	return 0;
}

/*
 * A service of several processes (sandboxd: HTTP + supervisor) started alone in a delegated
 * cgroup: before it forks, move it into <home>/<leaf> and let home hand its controllers down.
 * Every process forked later starts in that leaf, and their job cgroups go beside it (case 3),
 * still inside the delegated subtree. Nothing to do on v1, at the root, or when not alone.
 */
int cg_v2_leave_home(const char *leaf, struct sbx_error *err)
{
	struct cg_root tmp = { 0 };
	char mount[CG_PATH_MAX], list[512];
	int r;

	if (cg_v2_usable(tmp.home, sizeof(tmp.home), NULL) < 0 ||
	    cg_mount_point("", mount, sizeof(mount), NULL) < 0 || !strcmp(mount, tmp.home) ||
	    !v2_alone_in(tmp.home))
		return 0;
	if (v2_read_at_path(tmp.home, "cgroup.controllers", list, sizeof(list)) < 0)
		return 0;
	v2_pick_controllers(&tmp, list);
	r = v2_move_self(&tmp, leaf, err);
	if (r < 0)
		return r;
	r = v2_write_at_path(tmp.home, "cgroup.subtree_control", tmp.v2_controllers);
	if (r < 0)
		return sbx_err(err, -r, "write %s/cgroup.subtree_control", tmp.home);
	return 1;
}

/* Pick the directory our parent cgroup is created in (cases 1-3 above). */
static int v2_pick_base(struct cg_root *root, const char *parent, char *base, size_t size,
			struct sbx_error *err)
{
	char list[512] = "", mount[CG_PATH_MAX];
	int r;

	r = cg_mount_point("", mount, sizeof(mount), err);
	if (r < 0)
		return r;
	snprintf(base, size, "%s", root->home);
	if (v2_read_at_path(root->home, "cgroup.subtree_control", list, sizeof(list)) >= 0 &&
	    v2_has_all(list))
		return 0;
	/* The root cgroup is exempt from the no-internal-processes rule. */
	if (!strcmp(mount, root->home)) {
		r = v2_write_at_path(root->home, "cgroup.subtree_control", root->v2_controllers);
		return r < 0 ? sbx_err(err, -r, "write %s/cgroup.subtree_control", root->home) : 0;
	}
	if (v2_alone_in(root->home))
		return v2_enable_home(root, parent, err);
	*strrchr(base, '/') = '\0';
	return 0;
}

/* Also the remake hook of cg_leaf_make: a re-created parent needs its controllers again. */
static int v2_make_parent(struct cg_dir *dir, struct sbx_error *err)
{
	int r = cg_dir_make(dir, err);

	if (r < 0)
		return r;
	r = v2_write_at_path(dir->path, "cgroup.subtree_control", dir->v2_controllers);
	if (r < 0)
		return sbx_err(err, -r, "write %s/cgroup.subtree_control", dir->path);
	return 0;
}

static int v2_setup(struct cg_root *root, const char *parent, struct sbx_error *err)
{
	struct cg_dir *d = &root->dirs[0];
	char base[CG_PATH_MAX], offered[512] = "";
	int r;

	r = cg_v2_usable(root->home, sizeof(root->home), err);
	if (r < 0)
		return r;
	v2_read_at_path(root->home, "cgroup.controllers", offered, sizeof(offered));
	v2_pick_controllers(root, offered);
	r = v2_pick_base(root, parent, base, sizeof(base), err);
	if (r < 0)
		return sbx_err_prefix(err, r, "cgroup v2");
	if ((size_t)snprintf(d->path, sizeof(d->path), "%s/%s", base, parent) >= sizeof(d->path))
		return sbx_err(err, ENAMETOOLONG, "cgroup v2: %s/%s", base, parent);
	snprintf(d->v2_controllers, sizeof(d->v2_controllers), "%s", root->v2_controllers);
	root->n_dirs = 1;
	r = v2_make_parent(d, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "cgroup v2");
	return 0;
}

/*
 * Best effort, after cg_root_close removed our parent: give home back its controllers and move
 * back. Disabling fails with EBUSY while another instance's parent still uses them: then we
 * stay in the supervisor leaf, which is harmless.
 */
static void v2_close(struct cg_root *root)
{
	char pid[32];

	if (!root->moved_self)
		return;
	if (root->enabled_home && access(root->dirs[0].path, F_OK) < 0 &&
	    v2_write_at_path(root->home, "cgroup.subtree_control", "-memory -pids -cpu") == 0)
		root->enabled_home = false;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (v2_write_at_path(root->home, "cgroup.procs", pid) < 0)
		return;
	root->moved_self = false;
	if (root->supervisor.created)
		rmdir(root->supervisor.path);
	root->supervisor.created = false;
}

static int v2_format_zero(const struct sbx_limits *lim, char *buf, size_t size)
{
	return snprintf(buf, size, "0");
}

static int v2_format_one(const struct sbx_limits *lim, char *buf, size_t size)
{
	return snprintf(buf, size, "1");
}

static int v2_format_cpu_max(const struct sbx_limits *lim, char *buf, size_t size)
{
	if (!lim->cpus_milli)
		return 0;
	return snprintf(buf, size, "%llu %d",
			(unsigned long long)lim->cpus_milli * (V2_CPU_PERIOD_US / 1000),
			V2_CPU_PERIOD_US);
}

/*
 * swap.max before max, as runc does; swap is never allowed (the file is missing without swap
 * accounting). oom.group: an OOM kill takes the whole job, not one random member (>= 4.19).
 */
static const struct cg_knob v2_knobs[] = {
	{ "", "memory.swap.max", v2_format_zero, true },
	{ "", "memory.max", cg_format_memory, false },
	{ "", "memory.oom.group", v2_format_one, true },
	{ "", "pids.max", cg_format_pids, false },
	{ "", "cpu.max", v2_format_cpu_max, true }, /* absent where cpu is not delegated */
};

static int v2_destroy(struct cg_job *job, struct sbx_error *err);

static int v2_create(struct cg_root *root, const struct sbx_limits *lim, struct cg_job *ret,
		     struct sbx_error *err)
{
	int r;

	cg_job_init(ret);
	ret->root = root;
	snprintf(ret->name, sizeof(ret->name), "job-%d-%llu", (int)getpid(), ++root->seq);
	r = cg_leaf_make(root, 0, ret->name, v2_make_parent, &ret->dir_fd[0], err);
	if (r < 0)
		return sbx_err_prefix(err, r, "cgroup v2");
	ret->n = 1;
	r = cg_knobs_apply(ret, v2_knobs, ELEMENTSOF(v2_knobs), lim, err);
	if (r >= 0) {
		ret->procs_fd[0] = openat(ret->dir_fd[0], "cgroup.procs", O_WRONLY | O_CLOEXEC);
		if (ret->procs_fd[0] < 0)
			r = sbx_err(err, errno, "open %s/%s/cgroup.procs", root->dirs[0].path,
				    ret->name);
	}
	if (r < 0) {
		v2_destroy(ret, NULL);
		return sbx_err_prefix(err, r, "cgroup v2");
	}
	return 0;
}

static int v2_cpu_usec(const struct cg_job *job, uint64_t *ret, struct sbx_error *err)
{
	int r = cg_read_key_u64(job->dir_fd[0], "cpu.stat", "usage_usec", ret, err);

	return r < 0 ? sbx_err_prefix(err, r, "cgroup v2: %s", job->name) : 0;
}

static int v2_stats(const struct cg_job *job, struct cg_stats *ret, struct sbx_error *err)
{
	int fd = job->dir_fd[0];
	int r;

	memset(ret, 0, sizeof(*ret));
	r = cg_read_u64(fd, "memory.peak", &ret->mem_peak, NULL);
	/* memory.peak needs >= 5.19; before that the best we have is usage sampled now. */
	if (r == -ENOENT)
		r = cg_read_u64(fd, "memory.current", &ret->mem_peak, err);
	else if (r < 0)
		r = sbx_err(err, -r, "read memory.peak");
	if (r >= 0)
		r = cg_read_key_u64(fd, "memory.events", "oom_kill", &ret->oom_kills, err);
	if (r >= 0)
		r = cg_read_key_u64(fd, "cpu.stat", "usage_usec", &ret->cpu_usec, err);
	return r < 0 ? sbx_err_prefix(err, r, "cgroup v2: %s", job->name) : 0;
}

/* Poll "key N" in a flat-keyed file until N == want or the deadline passes. */
static int v2_wait_key(int fd, const char *file, const char *key, uint64_t want,
		       unsigned long long timeout_ns)
{
	unsigned long long deadline = sbx_now_ns() + timeout_ns;
	unsigned step = 0;
	uint64_t v;
	int r;

	for (;;) {
		r = cg_read_key_u64(fd, file, key, &v, NULL);
		if (r < 0 || v == want)
			return r;
		if (sbx_now_ns() > deadline)
			return -ETIMEDOUT;
		cg_backoff(&step);
	}
}

/* Before 5.14 there is no cgroup.kill: freeze so nothing forks away, kill each, thaw. */
static int v2_kill_frozen(int fd, struct sbx_error *err)
{
	int r, k;

	r = sbx_write_file_at(fd, "cgroup.freeze", "1");
	if (r < 0)
		return sbx_err(err, -r, "write cgroup.freeze");
	v2_wait_key(fd, "cgroup.events", "frozen", 1, V2_FREEZE_TIMEOUT_NS);
	r = cg_kill_procs(fd, err);
	k = sbx_write_file_at(fd, "cgroup.freeze", "0");
	if (k < 0 && r >= 0)
		r = sbx_err(err, -k, "write cgroup.freeze");
	return r < 0 ? r : 0;
}

static int v2_kill(const struct cg_job *job, struct sbx_error *err)
{
	int r = sbx_write_file_at(job->dir_fd[0], "cgroup.kill", "1");

	if (r == -ENOENT)
		r = v2_kill_frozen(job->dir_fd[0], err);
	else if (r < 0)
		r = sbx_err(err, -r, "write cgroup.kill");
	return r < 0 ? sbx_err_prefix(err, r, "cgroup v2: kill %s", job->name) : 0;
}

static int v2_destroy(struct cg_job *job, struct sbx_error *err)
{
	char path[CG_PATH_MAX + 80];
	int r = 0, k;

	if (!job->n)
		goto close;
	if (job->procs_fd[0] >= 0) {
		r = v2_kill(job, err);
		/* rmdir would fail while killed tasks are still exiting: wait for "populated 0". */
		k = v2_wait_key(job->dir_fd[0], "cgroup.events", "populated", 0,
				V2_EMPTY_TIMEOUT_NS);
		if (k < 0 && r == 0)
			r = sbx_err(err, -k, "cgroup v2: wait for %s to empty", job->name);
	}
	snprintf(path, sizeof(path), "%s/%s", job->root->dirs[0].path, job->name);
	k = cg_rmdir_wait(path, r < 0 ? NULL : err);
	if (k < 0 && r == 0)
		r = sbx_err_prefix(err, k, "cgroup v2");
close:
	cg_job_close_fds(job);
	job->n = 0;
	return r;
}

const struct cg_ops cg_v2_ops = {
	.name = "v2",
	.setup = v2_setup,
	.create = v2_create,
	.cpu_usec = v2_cpu_usec,
	.stats = v2_stats,
	.kill = v2_kill,
	.destroy = v2_destroy,
	.close = v2_close,
};
