/* SPDX-License-Identifier: MIT */
/*
 * mount.c - plan and apply the job's mounts.
 *
 * Owns: every mount, mkdir, mknod and symlink of the job's view; pivot_root; masked and
 * read-only /proc paths. Must not: resolve a path inside a rootfs by string concatenation and
 * follow symlinks (openat2 RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS does the checks), nor do anything
 * in the child but walk the prepared list with syscalls.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "hostfs.h"
#include "mount.h"
#include "util.h"

enum mop_kind {
	MOP_MKDIR,    /* mkdir path mode (EEXIST is fine) */
	MOP_MOUNT,    /* mount src path fstype flags data */
	MOP_MKNOD,    /* mknod path mode dev */
	MOP_SYMLINK,  /* symlink src -> path */
	MOP_FILE,     /* create path with data (a file of ours, in our tmpfs) */
	MOP_PIVOT,    /* pivot_root into path, detach the old root */
	MOP_MASK,     /* hide path: /dev/null over a file, an empty read-only tmpfs over a dir */
	MOP_READONLY, /* bind path onto itself read-only */
	MOP_ATTACH,   /* move_mount a detached tree (fd) onto path */
};

struct mount_op {
	enum mop_kind kind;
	const char *path;
	const char *src;
	const char *fstype;
	const char *data;
	unsigned long flags;
	mode_t mode;
	dev_t dev;
	int fd;
};

/* What a top-level name of the new root is: bound from the rootfs, a symlink, or ours. */
enum top_kind { TOP_BOUND, TOP_SYMLINK, TOP_OURS };

struct top_entry {
	char name[256];
	enum top_kind kind;
};

struct mount_plan {
	char *stage;
	int rootfs_fd; /* O_PATH of the rootfs, for checking bind targets inside it */
	struct mount_op *ops;
	size_t n_ops, cap_ops;
	char **strs; /* every string the ops point to */
	size_t n_strs, cap_strs;
	struct top_entry *tops;
	size_t n_tops;
	int *fds; /* detached mount trees of every bind source, attached by the child */
	size_t n_fds;
};

/* Read-only, no setuid, no device nodes: every bind from a rootfs or the host. */
#define RO_BIND_FLAGS (MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)

/* ---- plan building (parent) -------------------------------------------------------------- */

static char *plan_keep(struct mount_plan *p, char *s)
{
	if (!s)
		return NULL;
	if (p->n_strs == p->cap_strs) {
		size_t cap = p->cap_strs ? p->cap_strs * 2 : 64;
		char **v = realloc(p->strs, cap * sizeof(*v));

		if (!v) {
			free(s);
			return NULL;
		}
		p->strs = v;
		p->cap_strs = cap;
	}
	p->strs[p->n_strs++] = s;
	return s;
}

static char *plan_fmt(struct mount_plan *p, const char *fmt, ...) _printf_(2, 3);
static char *plan_fmt(struct mount_plan *p, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : plan_keep(p, s);
}

static int plan_add(struct mount_plan *p, const struct mount_op *op)
{
	if (!op->path)
		return -ENOMEM;
	if (p->n_ops == p->cap_ops) {
		size_t cap = p->cap_ops ? p->cap_ops * 2 : 64;
		struct mount_op *v = realloc(p->ops, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->ops = v;
		p->cap_ops = cap;
	}
	p->ops[p->n_ops++] = *op;
	return 0;
}

static int add_mkdir(struct mount_plan *p, const char *path, mode_t mode)
{
	return plan_add(p, &(struct mount_op){ .kind = MOP_MKDIR, .path = path, .mode = mode });
}

static int add_mount(struct mount_plan *p, const char *src, const char *path, const char *fstype,
		     unsigned long flags, const char *data)
{
	return plan_add(p, &(struct mount_op){ .kind = MOP_MOUNT,
					       .src = src,
					       .path = path,
					       .fstype = fstype,
					       .flags = flags,
					       .data = data });
}

static int add_file(struct mount_plan *p, const char *path, const char *content, mode_t mode)
{
	return plan_add(p, &(struct mount_op){
				   .kind = MOP_FILE, .path = path, .data = content, .mode = mode });
}

int mount_plan_new(const char *stage, struct mount_plan **ret, struct sbx_error *err)
{
	struct mount_plan *p = calloc(1, sizeof(*p));

	if (!p || !(p->stage = strdup(stage))) {
		free(p);
		return sbx_err(err, ENOMEM, "mount plan");
	}
	p->rootfs_fd = -1;
	*ret = p;
	return 0;
}

void mount_plan_free(struct mount_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_strs; i++)
		free(p->strs[i]);
	free(p->strs);
	free(p->ops);
	free(p->tops);
	for (size_t i = 0; i < p->n_fds; i++)
		close(p->fds[i]);
	free(p->fds);
	free(p->stage);
	closep(&p->rootfs_fd);
	free(p);
}

/*
 * A bind source, pinned: `fd` was opened and checked here; open_tree() makes a detached copy of
 * exactly that inode's mount tree, which the child attaches with move_mount(). Binding by path
 * in the child would follow a symlink swapped in after the check (T46, CVE-2021-30465), and an
 * O_PATH fd alone cannot be bound from another mount namespace. Takes fd; returns the tree fd.
 */
static int plan_pin(struct mount_plan *p, int fd)
{
	int tree = (int)syscall(SYS_open_tree, fd, "",
				OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	int r = tree < 0 ? -errno : 0, *v;

	close(fd);
	if (r < 0)
		return r;
	v = realloc(p->fds, (p->n_fds + 1) * sizeof(*v));
	if (!v) {
		close(tree);
		return -ENOMEM;
	}
	p->fds = v;
	p->fds[p->n_fds++] = tree;
	return tree;
}

/*
 * Attach a pinned tree at path, then make it read-only (unless writable), nosuid, nodev: the
 * kernel ignores MS_RDONLY on a bind, so that takes a second call.
 */
static int add_attach(struct mount_plan *p, int tree, const char *path, bool writable)
{
	int r;

	if (tree < 0)
		return tree;
	r = plan_add(p, &(struct mount_op){ .kind = MOP_ATTACH, .path = path, .fd = tree });
	if (r >= 0)
		r = add_mount(p, NULL, path, NULL,
			      writable ? (MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
				       : RO_BIND_FLAGS,
			      NULL);
	return r;
}

static int top_add(struct mount_plan *p, const char *name, enum top_kind kind)
{
	struct top_entry *v = realloc(p->tops, (p->n_tops + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	p->tops = v;
	snprintf(v[p->n_tops].name, sizeof(v->name), "%s", name);
	v[p->n_tops++].kind = kind;
	return 0;
}

static const struct top_entry *top_find(const struct mount_plan *p, const char *name, size_t len)
{
	for (size_t i = 0; i < p->n_tops; i++)
		if (strlen(p->tops[i].name) == len && !strncmp(p->tops[i].name, name, len))
			return &p->tops[i];
	return NULL;
}

/* Names the jail provides itself; the rootfs's own entries of these names are never used. */
static bool is_reserved_top(const char *name)
{
	static const char *const reserved[] = { "tmp", "proc", "dev", "sys", ".", ".." };

	for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
		if (!strcmp(name, reserved[i]))
			return true;
	return false;
}

/* One top-level entry of the rootfs: a directory or file is bound, a symlink re-created. */
static int plan_top_entry(struct mount_plan *p, int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	char *dst = plan_fmt(p, "%s/%s", p->stage, name);
	struct stat st;
	char target[4096];
	ssize_t n;
	int r, tree;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(fd, "", target, sizeof(target) - 1);
		close(fd);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		r = plan_add(p, &(struct mount_op){ .kind = MOP_SYMLINK,
						    .path = dst,
						    .src = plan_fmt(p, "%s", target) });
		return r < 0 ? r : top_add(p, name, TOP_SYMLINK);
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		close(fd);
		return 0; /* sockets, fifos, devices at the top level: not needed, not shown */
	}
	tree = plan_pin(p, fd);
	r = S_ISDIR(st.st_mode) ? add_mkdir(p, dst, 0755) : add_file(p, dst, "", 0644);
	if (r >= 0)
		r = add_attach(p, tree, dst, false);
	return r < 0 ? r : top_add(p, name, TOP_BOUND);
}

static int plan_image_entries(struct mount_plan *p)
{
	_cleanup_close_ int fd = openat(p->rootfs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d)
		return -errno;
	TAKE_FD(fd);
	while (r >= 0 && (de = readdir(d)))
		if (!is_reserved_top(de->d_name))
			r = plan_top_entry(p, dirfd(d), de->d_name);
	closedir(d);
	return r;
}

static int plan_host_etc(struct mount_plan *p, const struct mount_identity *id)
{
	const char *dir = plan_fmt(p, "%s/etc", p->stage);
	int r = add_mkdir(p, dir, 0755);

	if (r >= 0)
		r = top_add(p, "etc", TOP_OURS);
	/* A minimal /etc: the job user, localhost, no resolver (lookups fail fast, T17). */
	if (r >= 0)
		r = add_file(
			p, plan_fmt(p, "%s/passwd", dir),
			plan_fmt(p,
				 "root:x:0:0:root:/root:/usr/sbin/nologin\n"
				 "sandbox:x:%u:%u:sandbox:/tmp:/bin/sh\n"
				 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
				 id->uid, id->gid),
			0644);
	if (r >= 0)
		r = add_file(p, plan_fmt(p, "%s/group", dir),
			     plan_fmt(p, "root:x:0:\nsandbox:x:%u:\nnogroup:x:65534:\n", id->gid),
			     0644);
	if (r >= 0)
		r = add_file(p, plan_fmt(p, "%s/hosts", dir),
			     plan_fmt(p,
				      "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost "
				      "ip6-loopback\n",
				      id->hostname),
			     0644);
	if (r >= 0)
		r = add_file(p, plan_fmt(p, "%s/resolv.conf", dir), "", 0644);
	if (r >= 0)
		r = add_file(p, plan_fmt(p, "%s/hostname", dir), plan_fmt(p, "%s\n", id->hostname),
			     0644);
	if (r >= 0)
		r = add_file(p, plan_fmt(p, "%s/nsswitch.conf", dir),
			     "passwd: files\ngroup: files\nshadow: files\nhosts: files\n", 0644);
	/* Generated copies only (hostfs.c): the host's /etc itself is never shown. */
	if (r >= 0 && id->host && id->host->localtime[0])
		r = plan_add(p, &(struct mount_op){ .kind = MOP_SYMLINK,
						    .src = id->host->localtime,
						    .path = plan_fmt(p, "%s/localtime", dir) });
	if (r >= 0 && id->host && id->host->alternatives[0]) {
		int fd =
			open(id->host->alternatives, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		char *dst = plan_fmt(p, "%s/alternatives", dir);

		r = fd < 0 ? -errno : add_mkdir(p, dst, 0755);
		if (r >= 0)
			r = add_attach(p, plan_pin(p, fd), dst, false);
	}
	return r;
}

static int plan_host_entries(struct mount_plan *p, const struct mount_identity *id)
{
	int r = 0;

	for (unsigned i = 0; r >= 0 && i < hostfs_n_entries; i++)
		r = plan_top_entry(p, p->rootfs_fd, hostfs_entries[i]);
	return r < 0 ? r : plan_host_etc(p, id);
}

int mount_plan_root(struct mount_plan *p, const char *rootfs, const struct mount_identity *id,
		    struct sbx_error *err)
{
	bool host = !strcmp(rootfs, "host");
	struct stat st;
	int r;

	p->rootfs_fd = open(host ? "/" : rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p->rootfs_fd < 0)
		return sbx_err(err, errno == ELOOP ? ENOTDIR : errno, "rootfs %s", rootfs);
	if (!host && (fstat(p->rootfs_fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 0022)))
		return sbx_err_msg(err, EINVAL,
				   "rootfs %s: must be owned by root and not group/world-writable",
				   rootfs);
	/* The new root: our own small tmpfs, read-only once populated (mount_plan_seal). */
	r = add_mount(p, "sandboxd-root", p->stage, "tmpfs", MS_NOSUID | MS_NODEV,
		      "mode=0755,size=1m,nr_inodes=1024");
	if (r >= 0)
		r = host ? plan_host_entries(p, id) : plan_image_entries(p);
	if (r < 0)
		return sbx_err(err, -r, "rootfs %s", rootfs);
	return 0;
}

int mount_plan_tmp(struct mount_plan *p, const struct sbx_limits *lim, struct sbx_error *err)
{
	const char *tmp = plan_fmt(p, "%s/tmp", p->stage);
	int r = add_mkdir(p, tmp, 0755);

	/* Explicit size and inode caps: Docker's --tmpfs defaults to half the host's RAM (T05). */
	if (r >= 0)
		r = add_mount(p, "sandboxd-tmp", tmp, "tmpfs", MS_NOSUID | MS_NODEV,
			      plan_fmt(p, "mode=1777,size=%llu,nr_inodes=%llu",
				       (unsigned long long)lim->tmpfs_bytes,
				       (unsigned long long)lim->tmpfs_inodes));
	if (r >= 0)
		r = top_add(p, "tmp", TOP_OURS);
	return r < 0 ? sbx_err(err, -r, "plan /tmp") : 0;
}

static const struct {
	const char *name;
	unsigned major, minor;
} dev_nodes[] = {
	{ "null", 1, 3 },   { "zero", 1, 5 },	 { "full", 1, 7 },
	{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

static const struct {
	const char *name, *target;
} dev_links[] = {
	{ "ptmx", "pts/ptmx" },		 { "fd", "/proc/self/fd" },
	{ "stdin", "/proc/self/fd/0" },	 { "stdout", "/proc/self/fd/1" },
	{ "stderr", "/proc/self/fd/2" },
};

int mount_plan_dev(struct mount_plan *p, const struct sbx_limits *lim, struct sbx_error *err)
{
	const char *dev = plan_fmt(p, "%s/dev", p->stage);
	int r = add_mkdir(p, dev, 0755);

	/* No nodev here (the nodes must open) but noexec, and read-only once populated. */
	if (r >= 0)
		r = add_mount(p, "sandboxd-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC,
			      "mode=0755,size=64k,nr_inodes=64");
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(dev_nodes); i++)
		r = plan_add(p, &(struct mount_op){
					.kind = MOP_MKNOD,
					.path = plan_fmt(p, "%s/%s", dev, dev_nodes[i].name),
					.mode = S_IFCHR | 0666,
					.dev = makedev(dev_nodes[i].major, dev_nodes[i].minor) });
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(dev_links); i++)
		r = plan_add(p, &(struct mount_op){
					.kind = MOP_SYMLINK,
					.src = dev_links[i].target,
					.path = plan_fmt(p, "%s/%s", dev, dev_links[i].name) });
	if (r >= 0)
		r = add_mkdir(p, plan_fmt(p, "%s/pts", dev), 0755);
	if (r >= 0)
		r = add_mkdir(p, plan_fmt(p, "%s/shm", dev), 0755);
	/* A private devpts instance: the job never sees the service's terminals (T51). */
	if (r >= 0)
		r = add_mount(p, "devpts", plan_fmt(p, "%s/pts", dev), "devpts",
			      MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
	if (r >= 0)
		r = add_mount(p, "shm", plan_fmt(p, "%s/shm", dev), "tmpfs",
			      MS_NOSUID | MS_NODEV | MS_NOEXEC,
			      plan_fmt(p, "mode=1777,size=%llu,nr_inodes=%llu",
				       (unsigned long long)lim->shm_bytes,
				       (unsigned long long)lim->tmpfs_inodes));
	if (r >= 0)
		r = add_mount(p, NULL, dev, NULL,
			      MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL);
	if (r >= 0)
		r = top_add(p, "dev", TOP_OURS);
	return r < 0 ? sbx_err(err, -r, "plan /dev") : 0;
}

int mount_plan_proc(struct mount_plan *p, struct sbx_error *err)
{
	const char *proc = plan_fmt(p, "%s/proc", p->stage);
	int r = add_mkdir(p, proc, 0555);

	/* A fresh procfs of the job's own pid namespace: no host process is visible. */
	if (r >= 0)
		r = add_mount(p, "proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (r >= 0)
		r = top_add(p, "proc", TOP_OURS);
	return r < 0 ? sbx_err(err, -r, "plan /proc") : 0;
}

static bool path_is_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

bool mount_path_is_reserved(const char *path)
{
	return path_is_below(path, "/proc") || path_is_below(path, "/dev");
}

bool mount_path_is_clean(const char *path)
{
	const char *s = path;

	if (!path || path[0] != '/' || !path[1] || strlen(path) >= 1024)
		return false;
	while (*s) {
		const char *c = s + 1, *e = strchrnul(c, '/');
		size_t len = (size_t)(e - c);

		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && !strncmp(c, "..", 2)))
			return false;
		s = e;
	}
	return true;
}

/*
 * Where a bind target lands. Below a name of ours (tmp, a generated etc, a new top-level name)
 * we create the missing directories. Below a name bound from the rootfs, the target must
 * already exist there, reached without any symlink: the rootfs is never written (T06).
 */
static int check_bind_target(struct mount_plan *p, const char *dst, bool dir)
{
	const char *rest = dst + 1, *slash = strchrnul(rest, '/');
	const struct top_entry *top = top_find(p, rest, (size_t)(slash - rest));
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
					   RESOLVE_NO_MAGICLINKS };
	struct stat st;
	int fd;

	if (!top || top->kind == TOP_OURS)
		return 1; /* create as needed */
	if (top->kind == TOP_SYMLINK || mount_path_is_reserved(dst))
		return -ELOOP;
	fd = (int)syscall(SYS_openat2, p->rootfs_fd, rest, &how, sizeof(how));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode) != dir) {
		close(fd);
		return -ENOTDIR;
	}
	close(fd);
	return 0;
}

/* mkdir -p of dst's parents (and dst itself for a directory) inside our own tmpfs names. */
static int plan_mkdirs(struct mount_plan *p, const char *dst, bool dir)
{
	const char *s = dst;
	int r = 0;

	while (r >= 0 && (s = strchr(s + 1, '/')))
		r = add_mkdir(p, plan_fmt(p, "%s%.*s", p->stage, (int)(s - dst), dst), 0755);
	if (r < 0)
		return r;
	if (dir)
		return add_mkdir(p, plan_fmt(p, "%s%s", p->stage, dst), 0755);
	return add_file(p, plan_fmt(p, "%s%s", p->stage, dst), "", 0644);
}

static int plan_bind(struct mount_plan *p, const struct sbx_bind *b, struct sbx_error *err)
{
	int fd = b->src && b->src[0] == '/' ? open(b->src, O_PATH | O_CLOEXEC) : -1, tree;
	struct stat st;
	bool dir;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0) {
		r = b->src && b->src[0] == '/' ? errno : EINVAL;
		closep(&fd);
		return sbx_err(err, r, "bind source %s", b->src ? b->src : "(null)");
	}
	tree = plan_pin(p, fd);
	if (tree < 0)
		return sbx_err(err, -tree, "bind source %s", b->src);
	if (!mount_path_is_clean(b->dst) || mount_path_is_reserved(b->dst))
		return sbx_err_msg(err, EINVAL,
				   "bind destination %s: must be a clean absolute path outside "
				   "/proc and /dev",
				   b->dst ? b->dst : "(null)");
	dir = S_ISDIR(st.st_mode);
	if (!dir && !S_ISREG(st.st_mode))
		return sbx_err_msg(err, EINVAL, "bind source %s: not a file or directory", b->src);
	r = check_bind_target(p, b->dst, dir);
	if (r < 0)
		return sbx_err(err, -r, "bind destination %s (inside the read-only rootfs)",
			       b->dst);
	if (r > 0)
		r = plan_mkdirs(p, b->dst, dir);
	if (r >= 0)
		r = add_attach(p, tree, plan_fmt(p, "%s%s", p->stage, b->dst), b->writable);
	return r < 0 ? sbx_err(err, -r, "plan bind %s", b->dst) : 0;
}

int mount_plan_binds(struct mount_plan *p, const struct sbx_bind *binds, size_t n,
		     struct sbx_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int r = plan_bind(p, &binds[i], err);

		if (r < 0)
			return r;
	}
	return 0;
}

int mount_plan_pivot(struct mount_plan *p, struct sbx_error *err)
{
	int r = plan_add(p, &(struct mount_op){ .kind = MOP_PIVOT, .path = p->stage });

	return r < 0 ? sbx_err(err, -r, "plan pivot_root") : 0;
}

int mount_plan_proc_paths(struct mount_plan *p, char *const *masked, char *const *readonly,
			  struct sbx_error *err)
{
	int r = 0;

	/* Docker's lists (§4): kernel memory, keys, timers and hardware info hidden (T36)... */
	for (; r >= 0 && masked && *masked; masked++)
		r = plan_add(p, &(struct mount_op){ .kind = MOP_MASK, .path = *masked });
	/* ...and /proc/sys, sysrq-trigger & co. read-only (T37, CVE-2025-52881). */
	for (; r >= 0 && readonly && *readonly; readonly++)
		r = plan_add(p, &(struct mount_op){ .kind = MOP_READONLY, .path = *readonly });
	return r < 0 ? sbx_err(err, -r, "plan /proc paths") : 0;
}

int mount_plan_seal(struct mount_plan *p, struct sbx_error *err)
{
	/* The root tmpfs read-only: nothing outside /tmp and /dev/shm is writable (T06). */
	int r = add_mount(p, NULL, "/", NULL, RO_BIND_FLAGS, NULL);

	return r < 0 ? sbx_err(err, -r, "plan read-only root") : 0;
}

/* ---- apply (child: syscalls only) -------------------------------------------------------- */

static int apply_pivot(const char *root)
{
	/* pivot_root(".", "."): the old root stacks under the new one and is detached at once. */
	if (chdir(root) < 0)
		return -errno;
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return -errno;
	if (umount2(".", MNT_DETACH) < 0)
		return -errno;
	return chdir("/") < 0 ? -errno : 0;
}

static int apply_mask(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode))
		return mount("sandboxd-mask", path, "tmpfs",
			     MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			     "size=4k,nr_inodes=1,mode=0555") < 0
			       ? -errno
			       : 0;
	return mount("/dev/null", path, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
}

static int apply_readonly(const char *path)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return errno == ENOENT ? 0 : -errno;
	return mount(NULL, path, NULL, RO_BIND_FLAGS | MS_NOEXEC, NULL) < 0 ? -errno : 0;
}

static int apply_file(const struct mount_op *op)
{
	int fd = open(op->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, op->mode);
	int r;

	if (fd < 0)
		return -errno;
	r = sbx_write_all(fd, op->data, strlen(op->data));
	close(fd);
	return r;
}

static int apply_op(const struct mount_op *op)
{
	switch (op->kind) {
	case MOP_MKDIR:
		return mkdir(op->path, op->mode) < 0 && errno != EEXIST ? -errno : 0;
	case MOP_MOUNT:
		return mount(op->src, op->path, op->fstype, op->flags, op->data) < 0 ? -errno : 0;
	case MOP_MKNOD:
		return mknod(op->path, op->mode, op->dev) < 0 ? -errno : 0;
	case MOP_SYMLINK:
		return symlink(op->src, op->path) < 0 ? -errno : 0;
	case MOP_FILE:
		return apply_file(op);
	case MOP_PIVOT:
		return apply_pivot(op->path);
	case MOP_MASK:
		return apply_mask(op->path);
	case MOP_READONLY:
		return apply_readonly(op->path);
	case MOP_ATTACH:
		return syscall(SYS_move_mount, op->fd, "", AT_FDCWD, op->path,
			       MOVE_MOUNT_F_EMPTY_PATH) < 0
			       ? -errno
			       : 0;
	}
	return -EINVAL;
}

int mount_plan_apply(const struct mount_plan *p, const char **ret_what)
{
	/* Nothing we mount may propagate back to the host's mount namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		*ret_what = "make / private";
		return -errno;
	}
	for (size_t i = 0; i < p->n_ops; i++) {
		int r = apply_op(&p->ops[i]);

		if (r < 0) {
			*ret_what = p->ops[i].path;
			return r;
		}
	}
	return 0;
}
