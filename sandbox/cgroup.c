/* SPDX-License-Identifier: MIT */
/*
 * cgroup.c - what both cgroup backends share: choosing the backend, finding where this process
 * sits in each hierarchy, making and removing our directories, and the child's join.
 *
 * Owns: cg_root_open/close, cg_job_join, path discovery (/proc/self/cgroup, mountinfo), the
 * knob table applier and small file readers. Must not: write anything outside the parent
 * cgroup it created (the cgroup we start in belongs to whoever started us), log, or exit.
 * cg_job_join runs in the child after clone: plain syscalls only, no malloc, no stdio.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cgroup.h"
#include "util.h"

#define CG_RMDIR_TIMEOUT_NS (2ULL * 1000 * 1000 * 1000)

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

bool cg_list_has(const char *list, const char *word, char sep)
{
	size_t len = strlen(word);
	const char *p = list;

	while (p && *p) {
		const char *end = strchr(p, sep);
		size_t n = end ? (size_t)(end - p) : strcspn(p, "\n");

		if (n == len && strncmp(p, word, len) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* "4:memory:/a/b" -> "/a/b" when controller is in the second field; v2 is "0::/a/b". */
static const char *self_line_match(char *line, const char *controller)
{
	char *ctrls = strchr(line, ':');
	char *path;

	if (!ctrls)
		return NULL;
	path = strchr(++ctrls, ':');
	if (!path)
		return NULL;
	*path++ = '\0';
	path[strcspn(path, "\n")] = '\0';
	if (!*controller)
		return strncmp(line, "0:", 2) == 0 && !*ctrls ? path : NULL;
	return cg_list_has(ctrls, controller, ',') ? path : NULL;
}

/* Where does this process sit in hierarchy `controller` ("" for v2)? From /proc/self/cgroup. */
static int cg_self_path(const char *controller, char *buf, size_t size, struct sbx_error *err)
{
	_cleanup_(fclosep) FILE *f = fopen("/proc/self/cgroup", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	if (!f)
		return sbx_err(err, errno, "open /proc/self/cgroup");
	while (getline(&line, &cap, f) > 0) {
		const char *path = self_line_match(line, controller);

		if (!path)
			continue;
		if ((size_t)snprintf(buf, size, "%s", path) >= size)
			return sbx_err(err, ENAMETOOLONG, "cgroup path %s", path);
		return 0;
	}
	return sbx_err_msg(err, ENOENT, "/proc/self/cgroup: no %s hierarchy",
			   *controller ? controller : "unified");
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/*
 * One mountinfo line: "id parent maj:min root mountpoint opts [optional...] - fstype src super".
 * Matches a cgroup2 mount (controller "") or a v1 mount whose super options list controller.
 */
static bool mount_line_match(char *line, const char *controller, char **ret_root, char **ret_mnt)
{
	char *tok[64], *save = NULL;
	unsigned n = 0, dash;

	for (char *t = strtok_r(line, " \n", &save); t && n < ELEMENTSOF(tok);
	     t = strtok_r(NULL, " \n", &save))
		tok[n++] = t;
	for (dash = 6; dash < n && strcmp(tok[dash], "-") != 0; dash++)
		;
	if (dash + 3 >= n)
		return false;
	if (*controller ? strcmp(tok[dash + 1], "cgroup") != 0 ||
				  !cg_list_has(tok[dash + 3], controller, ',')
			: strcmp(tok[dash + 1], "cgroup2") != 0)
		return false;
	*ret_root = tok[3];
	*ret_mnt = tok[4];
	unescape_octal(*ret_root);
	unescape_octal(*ret_mnt);
	return true;
}

static int mount_find(const char *controller, char *mnt, size_t msize, char *root, size_t rsize,
		      struct sbx_error *err)
{
	_cleanup_(fclosep) FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	if (!f)
		return sbx_err(err, errno, "open /proc/self/mountinfo");
	while (getline(&line, &cap, f) > 0) {
		char *r, *m;

		if (!mount_line_match(line, controller, &r, &m))
			continue;
		if ((size_t)snprintf(mnt, msize, "%s", m) >= msize ||
		    (size_t)snprintf(root, rsize, "%s", r) >= rsize)
			return sbx_err(err, ENAMETOOLONG, "mount point %s", m);
		return 0;
	}
	if (!*controller)
		return sbx_err_msg(err, ENOENT, "cgroup v2: no cgroup2 hierarchy mounted");
	return sbx_err_msg(err, ENOENT, "cgroup v1: %s hierarchy not mounted", controller);
}

int cg_mount_point(const char *controller, char *buf, size_t size, struct sbx_error *err)
{
	char root[CG_PATH_MAX];

	return mount_find(controller, buf, size, root, sizeof(root), err);
}

/*
 * Mount point + our cgroup. The mount may show a subtree ("root" field != "/", e.g. a
 * container's view without a cgroup namespace): strip that prefix from our own path.
 */
int cg_hierarchy_path(const char *controller, char *buf, size_t size, struct sbx_error *err)
{
	char mnt[CG_PATH_MAX], root[CG_PATH_MAX], self[CG_PATH_MAX];
	const char *rel = self;
	size_t rlen;
	int r;

	r = mount_find(controller, mnt, sizeof(mnt), root, sizeof(root), err);
	if (r < 0)
		return r;
	r = cg_self_path(controller, self, sizeof(self), err);
	if (r < 0)
		return r;
	rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
	if (rlen) {
		if (strncmp(self, root, rlen) != 0 || (self[rlen] && self[rlen] != '/'))
			return sbx_err_msg(err, ENOENT, "our cgroup %s is not visible under %s",
					   self, mnt);
		rel = self + rlen;
	}
	if (strcmp(rel, "/") == 0)
		rel = "";
	if ((size_t)snprintf(buf, size, "%s%s", mnt, rel) >= size)
		return sbx_err(err, ENAMETOOLONG, "cgroup path %s%s", mnt, rel);
	return 0;
}

int cg_dir_index(const struct cg_root *root, const char *controller)
{
	for (unsigned i = 0; i < root->n_dirs; i++) {
		const char *c = root->dirs[i].controller;

		if (!*c || cg_list_has(c, controller, ','))
			return (int)i;
	}
	return -ENOENT;
}

int cg_dir_make(struct cg_dir *dir, struct sbx_error *err)
{
	if (mkdir(dir->path, 0755) == 0) {
		dir->created = true;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return sbx_err(err, errno, "create %s", dir->path);
}

int cg_leaf_make(struct cg_root *root, unsigned i, const char *name,
		 int (*remake)(struct cg_dir *dir, struct sbx_error *err), int *ret_fd,
		 struct sbx_error *err)
{
	char path[CG_PATH_MAX + 80];
	int r, fd;

	snprintf(path, sizeof(path), "%s/%s", root->dirs[i].path, name);
	r = mkdir(path, 0755);
	/* Another sandboxctl closing may have just removed our (then empty) parent. */
	if (r < 0 && errno == ENOENT) {
		r = remake(&root->dirs[i], err);
		if (r < 0)
			return r;
		r = mkdir(path, 0755);
	}
	if (r < 0)
		return sbx_err(err, errno, "create %s", path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = sbx_err(err, errno, "open %s", path);
		rmdir(path);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

void cg_backoff(unsigned *step)
{
	long us = 50L << (*step < 7 ? *step : 7);
	struct timespec ts = { 0, (us > 5000 ? 5000 : us) * 1000 };

	(*step)++;
	nanosleep(&ts, NULL);
}

int cg_rmdir_wait(const char *path, struct sbx_error *err)
{
	unsigned long long deadline = sbx_now_ns() + CG_RMDIR_TIMEOUT_NS;
	unsigned step = 0;

	for (;;) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		/* EBUSY while killed tasks are still exiting. */
		if (errno != EBUSY || sbx_now_ns() > deadline)
			return sbx_err(err, errno, "remove %s", path);
		cg_backoff(&step);
	}
}

int cg_format_memory(const struct sbx_limits *lim, char *buf, size_t size)
{
	if (!lim->memory_bytes)
		return 0;
	return snprintf(buf, size, "%llu", (unsigned long long)lim->memory_bytes);
}

int cg_format_pids(const struct sbx_limits *lim, char *buf, size_t size)
{
	if (!lim->pids)
		return 0;
	return snprintf(buf, size, "%llu", (unsigned long long)lim->pids);
}

int cg_knobs_apply(const struct cg_job *job, const struct cg_knob *knobs, size_t n,
		   const struct sbx_limits *lim, struct sbx_error *err)
{
	for (size_t k = 0; k < n; k++) {
		const struct cg_knob *kb = &knobs[k];
		int i = cg_dir_index(job->root, kb->controller);
		char val[64];
		int r;

		if (kb->format(lim, val, sizeof(val)) <= 0)
			continue;
		if (i < 0 || (unsigned)i >= job->n)
			return sbx_err(err, ENOENT, "set %s: no %s hierarchy", kb->file,
				       kb->controller);
		r = sbx_write_file_at(job->dir_fd[i], kb->file, val);
		if (r == -ENOENT && kb->optional)
			continue;
		if (r < 0)
			return sbx_err(err, -r, "set %s/%s/%s=%s", job->root->dirs[i].path,
				       job->name, kb->file, val);
	}
	return 0;
}

int cg_read_u64(int dir_fd, const char *file, uint64_t *ret, struct sbx_error *err)
{
	char buf[64], *end;
	int r = sbx_read_file_at(dir_fd, file, buf, sizeof(buf));

	if (r < 0)
		return sbx_err(err, -r, "read %s", file);
	errno = 0;
	*ret = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return sbx_err_msg(err, EINVAL, "read %s: not a number: %.20s", file, buf);
	return 0;
}

int cg_read_key_u64(int dir_fd, const char *file, const char *key, uint64_t *ret,
		    struct sbx_error *err)
{
	char buf[4096];
	size_t klen = strlen(key);
	int r = sbx_read_file_at(dir_fd, file, buf, sizeof(buf));

	if (r < 0)
		return sbx_err(err, -r, "read %s", file);
	for (char *p = buf; *p;) {
		char *nl = strchr(p, '\n');

		if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			*ret = strtoull(p + klen + 1, NULL, 10);
			return 0;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return sbx_err_msg(err, ENOENT, "read %s: no \"%s\" line", file, key);
}

int cg_kill_procs(int dir_fd, struct sbx_error *err)
{
	_cleanup_close_ int fd = openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	char buf[4096];
	long pid = 0;
	int killed = 0;
	ssize_t n;

	if (fd < 0)
		return sbx_err(err, errno, "open cgroup.procs");
	/* Streamed: with pids unlimited the list can outgrow any fixed buffer. */
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				pid = pid * 10 + (buf[i] - '0');
				continue;
			}
			if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
				killed++;
			pid = 0;
		}
	}
	if (n < 0)
		return sbx_err(err, errno, "read cgroup.procs");
	if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
		killed++;
	return killed;
}

bool cg_is_empty(int dir_fd)
{
	char c;
	_cleanup_close_ int fd = openat(dir_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);

	return fd >= 0 && read(fd, &c, 1) == 0;
}

void cg_job_init(struct cg_job *job)
{
	memset(job, 0, sizeof(*job));
	for (unsigned i = 0; i < CG_MAX_CONTROLLERS; i++) {
		job->dir_fd[i] = -1;
		job->procs_fd[i] = -1;
	}
}

void cg_job_close_fds(struct cg_job *job)
{
	for (unsigned i = 0; i < CG_MAX_CONTROLLERS; i++) {
		closep(&job->dir_fd[i]);
		closep(&job->procs_fd[i]);
		job->dir_fd[i] = -1;
		job->procs_fd[i] = -1;
	}
}

/* Runs in the child after clone: syscalls only. "0" means the writing process itself. */
int cg_job_clone_fd(const struct cg_job *job)
{
	return job->root && job->root->ops == &cg_v2_ops && job->n == 1 ? job->dir_fd[0] : -1;
}

int cg_job_join(const struct cg_job *job)
{
	for (unsigned i = 0; i < job->n; i++) {
		while (write(job->procs_fd[i], "0", 1) < 0) {
			if (errno != EINTR)
				return -errno;
		}
	}
	return 0;
}

static bool is_bad_component(const char *p, size_t n)
{
	return n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
}

/* The parent is a name relative to our own cgroup; never a way out of it. */
static int check_parent_name(const char *parent, struct sbx_error *err)
{
	const char *p = parent;

	if (strlen(parent) > 64)
		goto bad;
	for (;;) {
		size_t n = strcspn(p, "/");

		if (is_bad_component(p, n))
			goto bad;
		if (!p[n])
			return 0;
		p += n + 1;
	}
bad:
	return sbx_err_msg(err, EINVAL,
			   "cgroup parent \"%s\": must be a relative name without . or ..", parent);
}

static const struct cg_ops *const cg_backends[] = {
	[1] = &cg_v1_ops,
	[2] = &cg_v2_ops,
};

static int pick_backend(int version, struct sbx_error *err)
{
	char home[CG_PATH_MAX];

	if (version == 1 || version == 2)
		return version;
	if (version != 0)
		return sbx_err_msg(err, EINVAL, "cgroup version %d: must be 0 (detect), 1 or 2",
				   version);
	/* Hybrid hosts mount an empty cgroup2 next to v1: only a v2 with our controllers counts. */
	return cg_v2_usable(home, sizeof(home), NULL) == 0 ? 2 : 1;
}

/*
 * A leaf whose creator died mid-job. Its job should have died too (PDEATHSIG, the pid
 * namespace), but a creator killed between freezing the leaf and thawing it (v1 kill: freeze,
 * SIGKILL, thaw) leaves the job frozen, where no signal acts. The leaf is ours (below our
 * parent, named by a dead creator): end what is in it, thaw it, let the kill land.
 */
static void end_orphan(const char *leaf)
{
	char path[CG_PATH_MAX + 340], procs[4096];
	char *save = NULL;

	snprintf(path, sizeof(path), "%s/cgroup.kill", leaf);
	sbx_write_file_at(AT_FDCWD, path, "1"); /* v2: the kernel does it all */
	if (sbx_read_file_at(AT_FDCWD,
			     (snprintf(path, sizeof(path), "%s/cgroup.procs", leaf), path), procs,
			     sizeof(procs)) > 0)
		for (char *p = strtok_r(procs, "\n", &save); p; p = strtok_r(NULL, "\n", &save))
			kill((pid_t)atol(p), SIGKILL);
	snprintf(path, sizeof(path), "%s/freezer.state", leaf);
	sbx_write_file_at(AT_FDCWD, path, "THAWED");
}

/*
 * Leaves "job-<pid>-<seq>" whose creator is gone: a sandboxctl or sandboxd killed with SIGKILL
 * mid-job. Their jobs are ended (end_orphan) and the leaves removed; a leaf whose tasks are not
 * yet reaped stays until a later call (sbx_context_reap_stale).
 */
static void reap_stale_leaves(const struct cg_dir *dir)
{
	DIR *d = opendir(dir->path);
	struct dirent *de;
	char path[CG_PATH_MAX + 300];
	long pid;

	while (d && (de = readdir(d))) {
		if (sscanf(de->d_name, "job-%ld-", &pid) != 1 || pid <= 0 || pid == getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir->path, de->d_name);
		if (rmdir(path) < 0 && errno == EBUSY)
			end_orphan(path);
	}
	if (d)
		closedir(d);
}

int cg_root_open(struct cg_root *root, const char *parent, int version, struct sbx_error *err)
{
	int r;

	memset(root, 0, sizeof(*root));
	r = check_parent_name(parent, err);
	if (r < 0)
		return r;
	r = pick_backend(version, err);
	if (r < 0)
		return r;
	root->ops = cg_backends[r];
	r = root->ops->setup(root, parent, err);
	if (r < 0) {
		cg_root_close(root);
		return r;
	}
	cg_root_reap_stale(root);
	return r;
}

void cg_root_reap_stale(const struct cg_root *root)
{
	for (unsigned i = 0; i < root->n_dirs; i++)
		reap_stale_leaves(&root->dirs[i]);
}

void cg_root_close(struct cg_root *root)
{
	if (!root || !root->ops)
		return;
	/*
	 * Whoever created the shared parent may have exited while we still used it: the last one
	 * out removes it. EBUSY is fine (another sandboxctl or sandboxd still has jobs below it),
	 * and a process that finds it gone re-creates it (cg_leaf_make).
	 */
	for (unsigned i = root->n_dirs; i-- > 0;) {
		rmdir(root->dirs[i].path);
		root->dirs[i].created = false;
	}
	if (root->ops->close)
		root->ops->close(root);
	root->n_dirs = 0;
	root->ops = NULL;
}
