/* SPDX-License-Identifier: MIT */
/*
 * unpack.c - one OCI layer (a tar changeset: gzip, zstd or plain) applied onto a directory.
 *
 * Owns: in-process decompression (libarchive), the diff_id (sha256 of the uncompressed stream,
 * hashed from the very bytes the tar reader parses), entry-name cleaning, resolution of every
 * path inside root_fd, whiteouts and opaque directories, the per-layer limits.
 * Must not: exec anything (a decompressor run from PATH or from the image, as root, on crafted
 * input: CVE-2014-9357), resolve a layer path against the host ("/" is root_fd), follow a
 * symlink at the leaf, log, or exit. On failure the directory holds a partial layer: callers
 * unpack into a fresh directory and discard it.
 *
 * Policy, decided here:
 * - setuid/setgid/sticky bits and the security.capability xattr are KEPT: images need them
 *   (su, passwd, ping). They are neutralised at run time (no_new_privs, nosuid mounts, a
 *   non-root uid), and unpacked rootfs directories live under a 0700 store, so no host user can
 *   reach and run a setuid binary of an image (moby CVE-2021-41091, containerd CVE-2021-41103).
 * - Character/block devices and sockets are REFUSED (EPERM naming the entry, the layer fails):
 *   a code-execution image never needs them and a job's /dev is built by mount.c. FIFOs are made.
 * - xattrs: only security.capability and user.* are applied. trusted.* (overlayfs metadata that
 *   forges whiteouts and redirects) and security.* labels are dropped; so is an xattr the
 *   filesystem or our privileges cannot hold (EPERM, ENOTSUP).
 * - Owners come from the tar when we run as root; unprivileged, every inode is ours.
 * - Absolute names are re-rooted ("/etc/x" is root/etc/x, as Docker does), ".." components are
 *   refused, the root itself ("." or "./") is skipped, never replaced.
 * - Symlinks in parents are followed INSIDE the root only (openat2 RESOLVE_IN_ROOT):
 *   "lib -> /usr/lib" then "lib/x" lands in root/usr/lib/x. A missing parent is created as a
 *   real directory (0755), never through a dangling symlink (ENOTDIR).
 * - Whiteouts hide lower layers only: what this layer itself made (tracked by path) survives a
 *   whiteout or opaque marker of the same layer, whatever the entry order (image-spec layer.md).
 * - A zero limit takes the default below; the uncompressed stream is capped as well
 *   (max_bytes + 8 KiB per entry + 1 MiB) so padding and skipped data cannot be a bomb either.
 * - Integrity is the diff_id's job: libarchive (3.6) checks neither the gzip CRC32 nor ISIZE,
 *   so corruption that still inflates is only seen as a different diff_id. Callers compare it
 *   with the image config's rootfs.diff_ids (and the blob digest before unpacking).
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "rootfs.h"
#include "util.h"

#define FEED_CHUNK	 (64 * 1024)
#define STREAM_PER_ENTRY 8192ULL /* headers, pax records, padding */
#define STREAM_SLACK	 (1ULL << 20)
#define RM_MAX_DEPTH	 512 /* recursion (one open DIR each) when removing lower trees */
#define WH_PREFIX	 ".wh."
#define WH_META		 ".wh..wh."
#define WH_OPAQUE	 ".wh..wh..opq"

static const struct img_unpack_limits default_limits = {
	.max_bytes = 8ULL << 30,
	.max_entries = 1000000,
	.max_file = 4ULL << 30,
	.max_depth = 128,
};

struct pathset {
	char **slot; /* open addressing; cap is a power of two */
	size_t cap, n;
};

struct dir_time {
	char *path;
	struct timespec ts[2];
};

struct unpack {
	int root_fd;
	bool chown;
	struct img_unpack_limits lim;
	struct archive *raw; /* gzip | zstd | none, RAW format: the plain tar bytes */
	struct archive *tar; /* tar formats, no filter, fed from raw through feed() */
	struct img_sha256 sha;
	uint64_t stream, stream_max;
	int feed_r; /* -errno of a failed feed(), its message already in err */
	struct sbx_error *err;
	uint64_t bytes, file, entries;
	struct pathset made;	  /* paths this layer created: whiteouts leave them alone */
	struct pathset whiteouts; /* whiteout entries applied: a repeat has nothing left to hide */
	struct dir_time *dirs;
	size_t ndirs, capdirs;
	char path[PATH_MAX]; /* the cleaned entry name */
	char dir[PATH_MAX];  /* its parent */
	char aux[PATH_MAX];  /* a hardlink target, prefixes */
	char walk[PATH_MAX + NAME_MAX + 2];
	unsigned char buf[FEED_CHUNK];
};

typedef int (*make_fn)(struct unpack *u, int parent, const char *leaf, struct archive_entry *e,
		       struct sbx_error *err);

/* ---- the set of paths this layer made -------------------------------------------------------- */

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

static char **pathset_slot(const struct pathset *s, const char *p)
{
	size_t i = str_hash(p) & (s->cap - 1);

	while (s->slot[i] && strcmp(s->slot[i], p) != 0)
		i = (i + 1) & (s->cap - 1);
	return &s->slot[i];
}

static bool pathset_has(const struct pathset *s, const char *p)
{
	return s->cap && *pathset_slot(s, p);
}

static int pathset_grow(struct pathset *s)
{
	struct pathset n = { .cap = s->cap ? s->cap * 2 : 1024, .n = s->n };
	size_t i;

	n.slot = calloc(n.cap, sizeof(*n.slot));
	if (!n.slot)
		return -ENOMEM;
	for (i = 0; i < s->cap; i++)
		if (s->slot[i])
			*pathset_slot(&n, s->slot[i]) = s->slot[i];
	free(s->slot);
	*s = n;
	return 0;
}

/* 1: added, 0: already there. */
static int pathset_add(struct pathset *s, const char *p)
{
	char **slot;

	if (2 * (s->n + 1) > s->cap && pathset_grow(s) < 0)
		return -ENOMEM;
	slot = pathset_slot(s, p);
	if (*slot)
		return 0;
	*slot = strdup(p);
	if (!*slot)
		return -ENOMEM;
	s->n++;
	return 1;
}

static void pathset_free(struct pathset *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
}

/* The path and its parents: a parent that an entry implies belongs to this layer too. */
static int made_add(struct unpack *u, const char *path, struct sbx_error *err)
{
	char *slash;
	int r;

	snprintf(u->aux, sizeof(u->aux), "%s", path);
	for (;;) {
		r = pathset_add(&u->made, u->aux);
		if (r < 0)
			return sbx_err(err, -r, "remember %s", path);
		slash = strrchr(u->aux, '/');
		if (r == 0 || !slash)
			return 0; /* the parents of a known path are known */
		*slash = '\0';
	}
}

/* ---- names and resolution -------------------------------------------------------------------- */

/*
 * The final name (after pax/GNU long names) made safe: leading "/" and "./" dropped (re-rooted,
 * as Docker does), "//" and "/./" collapsed, a trailing "/" dropped. Returns the depth (0: the
 * root itself), -EPERM for any ".." component (CVE-2014-6407, CVE-2014-9356, umoci
 * CVE-2021-29136), -ENAMETOOLONG.
 */
static int clean_name(const char *in, char *out, size_t size)
{
	size_t len = 0;
	int depth = 0;

	while (*in) {
		const char *end = strchrnul(in, '/');
		size_t n = (size_t)(end - in);

		if (n == 2 && in[0] == '.' && in[1] == '.')
			return -EPERM;
		if (n > 0 && !(n == 1 && in[0] == '.')) {
			if (len + n + 2 > size)
				return -ENAMETOOLONG;
			if (len)
				out[len++] = '/';
			memcpy(out + len, in, n);
			len += n;
			depth++;
		}
		in = *end ? end + 1 : end;
	}
	out[len] = '\0';
	return depth;
}

/*
 * Open path inside the root: symlinks, absolute or with "..", resolve as if root_fd were "/";
 * magic links and mount crossings are refused. A parent that is a symlink to the host can never
 * redirect a write (CVE-2014-9356, containerd CVE-2021-32760).
 */
static int in_root(int root_fd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV | resolve,
	};
	int fd, tries = 0;

	do /* EAGAIN: a concurrent rename somewhere in the tree; retry a little */
		fd = (int)syscall(SYS_openat2, root_fd, *path ? path : ".", &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN && ++tries < 8);
	return fd < 0 ? -errno : fd;
}

/* A real fd on the inode at parent/name, never a symlink planted there (O_NOFOLLOW). */
static int open_leaf(int parent, const char *name, mode_t type)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, fd;

	if (type == S_IFDIR)
		flags |= O_DIRECTORY;
	if (type == S_IFIFO)
		flags |= O_NONBLOCK; /* the read end opens at once, without a writer */
	fd = openat(parent, name, flags);
	return fd < 0 ? -errno : fd;
}

/* mkdir of one missing parent, 0755 whatever the umask. */
static int mkdir_one(struct unpack *u, int parent, const char *name, const char *path,
		     struct sbx_error *err)
{
	int fd, r;

	/* EEXIST: a dangling symlink or a non-directory is in the way; never create through it */
	if (mkdirat(parent, name, 0755) < 0)
		return sbx_err(err, errno == EEXIST ? ENOTDIR : errno, "parent %s", path);
	fd = open_leaf(parent, name, S_IFDIR);
	if (fd < 0)
		return sbx_err(err, -fd, "parent %s", path);
	r = fchmod(fd, 0755) < 0 ? sbx_err(err, errno, "parent %s", path) : made_add(u, path, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* mkdir -p of dir inside the root, each level resolved in the root. Returns its fd. */
static int mkdir_parents(struct unpack *u, char *dir, struct sbx_error *err)
{
	_cleanup_close_ int fd = fcntl(u->root_fd, F_DUPFD_CLOEXEC, 3);
	char *p = dir;

	if (fd < 0)
		return sbx_err(err, errno, "dup root");
	for (;;) {
		char *slash = strchrnul(p, '/'), save = *slash;
		int next;

		*slash = '\0';
		next = in_root(u->root_fd, dir, O_PATH | O_DIRECTORY, 0);
		if (next == -ENOENT)
			next = mkdir_one(u, fd, p, dir, err);
		else if (next < 0)
			next = sbx_err(err, -next, "parent %s", dir);
		*slash = save;
		if (next < 0)
			return next;
		closep(&fd);
		fd = next;
		if (!save)
			return TAKE_FD(fd);
		p = slash + 1;
	}
}

static int open_parent(struct unpack *u, struct sbx_error *err)
{
	int fd = in_root(u->root_fd, u->dir, O_PATH | O_DIRECTORY, 0);

	if (fd == -ENOENT)
		return mkdir_parents(u, u->dir, err);
	if (fd < 0)
		return sbx_err(err, -fd, "parent %s", *u->dir ? u->dir : "/");
	return fd;
}

/* ---- removal --------------------------------------------------------------------------------- */

/* rm -rf parent/name, never following a symlink: one inside is unlinked, not entered. */
static int rm_rf_at(int parent, const char *name, unsigned depth)
{
	struct dirent *de;
	int fd, r = 0;
	DIR *d;

	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -errno;
	if (depth >= RM_MAX_DEPTH)
		return -ELOOP;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while (r >= 0 && (errno = 0, de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			r = rm_rf_at(dirfd(d), de->d_name, depth + 1);
	if (r >= 0 && errno)
		r = -errno;
	closedir(d);
	if (r < 0)
		return r;
	return unlinkat(parent, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/*
 * Make room at parent/leaf without following what is there: a non-directory is unlinked; a
 * directory is kept for a directory (merge) and removed with its content otherwise, as Docker
 * does (umoci CVE-2021-29136). Returns 1 when a directory was kept.
 */
static int clear_leaf(int parent, const char *leaf, bool want_dir, struct sbx_error *err)
{
	struct stat st;
	int r;

	if (fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : sbx_err(err, errno, "stat");
	if (S_ISDIR(st.st_mode) && want_dir)
		return 1;
	r = S_ISDIR(st.st_mode)		? rm_rf_at(parent, leaf, 0)
	    : unlinkat(parent, leaf, 0) ? -errno
					: 0;
	return r < 0 ? sbx_err(err, -r, "replace the existing entry") : 0;
}

static int hide_lower_in(struct unpack *u, int fd, size_t len, unsigned depth);

/* parent/name (at u->walk) goes unless this layer made it; a directory it made is cleaned. */
static int hide_lower(struct unpack *u, int parent, const char *name, size_t len, unsigned depth)
{
	struct stat st;
	int fd;

	if (!pathset_has(&u->made, u->walk))
		return rm_rf_at(parent, name, depth);
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (depth >= RM_MAX_DEPTH)
		return -ELOOP;
	fd = open_leaf(parent, name, S_IFDIR);
	return fd < 0 ? fd : hide_lower_in(u, fd, len, depth + 1);
}

/* Every entry of the directory fd (its path in u->walk[0..len)) that lower layers put there
 * goes. Takes fd. */
static int hide_lower_in(struct unpack *u, int fd, size_t len, unsigned depth)
{
	struct dirent *de;
	int r = 0, n;
	DIR *d = fdopendir(fd);

	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while (r >= 0 && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n = snprintf(u->walk + len, sizeof(u->walk) - len, "%s%s", len ? "/" : "",
			     de->d_name);
		if (n < 0 || (size_t)n >= sizeof(u->walk) - len)
			r = -ENAMETOOLONG;
		else
			r = hide_lower(u, dirfd(d), de->d_name, len + (size_t)n, depth);
		u->walk[len] = '\0';
	}
	if (r >= 0 && errno)
		r = -errno;
	closedir(d);
	return r;
}

/* ---- attributes ------------------------------------------------------------------------------ */

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	ts[0] = ts[1];
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	}
	for (int i = 0; i < 2; i++)
		if (ts[i].tv_nsec < 0 || ts[i].tv_nsec >= 1000000000L)
			ts[i].tv_nsec = 0;
}

static int entry_owner(struct archive_entry *e, uid_t *uid, gid_t *gid, struct sbx_error *err)
{
	la_int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);

	/* (uid_t)-1 would mean "leave unchanged" to chown */
	if (u < 0 || u >= UINT32_MAX || g < 0 || g >= UINT32_MAX)
		return sbx_err_msg(err, EINVAL, "owner %lld:%lld out of range", (long long)u,
				   (long long)g);
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

static bool xattr_allowed(const char *name)
{
	return !strncmp(name, "user.", 5) || !strcmp(name, "security.capability");
}

static int set_xattrs(int fd, struct archive_entry *e, struct sbx_error *err)
{
	const char *name;
	const void *value;
	size_t size;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (!name || !xattr_allowed(name))
			continue; /* trusted.overlay.* would forge whiteouts; labels are the host's */
		if (fsetxattr(fd, name, value, size, 0) < 0 && errno != EPERM && errno != ENOTSUP)
			return sbx_err(err, errno, "xattr %s", name);
	}
	return 0;
}

/*
 * Owner, mode, xattrs and times on the fd of the inode we made, never through a path
 * (containerd CVE-2021-32760: chmod through a symlink changed a host file). Order matters:
 * chown clears setuid/setgid and security.capability, so mode and xattrs come after it.
 */
static int finish_fd(struct unpack *u, int fd, struct archive_entry *e, bool times,
		     struct sbx_error *err)
{
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int r = entry_owner(e, &uid, &gid, err);

	if (r < 0)
		return r;
	if (u->chown && fchown(fd, uid, gid) < 0)
		return sbx_err(err, errno, "chown");
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return sbx_err(err, errno, "chmod");
	r = set_xattrs(fd, e, err);
	if (r < 0 || !times)
		return r;
	entry_times(e, ts);
	return futimens(fd, ts) < 0 ? sbx_err(err, errno, "utimes") : 0;
}

/* Directory times are set last: every later entry made inside would change them again. */
static int defer_dir_time(struct unpack *u, struct archive_entry *e, struct sbx_error *err)
{
	struct dir_time *d;

	if (u->ndirs == u->capdirs) {
		size_t cap = u->capdirs ? u->capdirs * 2 : 64;

		d = reallocarray(u->dirs, cap, sizeof(*d));
		if (!d)
			return sbx_err(err, ENOMEM, "directory times");
		u->dirs = d;
		u->capdirs = cap;
	}
	d = &u->dirs[u->ndirs];
	d->path = strdup(u->path);
	if (!d->path)
		return sbx_err(err, ENOMEM, "directory times");
	entry_times(e, d->ts);
	u->ndirs++;
	return 0;
}

static int apply_dir_times(struct unpack *u, struct sbx_error *err)
{
	for (size_t i = 0; i < u->ndirs; i++) {
		_cleanup_close_ int fd = in_root(u->root_fd, u->dirs[i].path,
						 O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);

		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
			continue; /* replaced or whited out later in the layer */
		if (fd < 0)
			return sbx_err(err, -fd, "open %s", u->dirs[i].path);
		if (futimens(fd, u->dirs[i].ts) < 0)
			return sbx_err(err, errno, "utimes %s", u->dirs[i].path);
	}
	return 0;
}

/* ---- entries, one maker per type ------------------------------------------------------------- */

/* Decompression bombs (CVE-2017-14992): a file, and the layer, stop at their limits. */
static int check_bytes(struct unpack *u, uint64_t n, struct sbx_error *err)
{
	if (n > u->lim.max_file - u->file)
		return sbx_err_msg(err, EFBIG, "file larger than max_file (%llu bytes)",
				   (unsigned long long)u->lim.max_file);
	if (n > u->lim.max_bytes - u->bytes)
		return sbx_err_msg(err, EFBIG, "layer larger than max_bytes (%llu bytes)",
				   (unsigned long long)u->lim.max_bytes);
	return 0;
}

static int count_bytes(struct unpack *u, uint64_t n, struct sbx_error *err)
{
	int r = check_bytes(u, n, err);

	if (r < 0)
		return r;
	u->file += n;
	u->bytes += n;
	return 0;
}

static int tar_err(struct unpack *u, struct sbx_error *err)
{
	const char *msg = archive_error_string(u->tar);

	if (u->feed_r < 0)
		return u->feed_r;
	return sbx_err_msg(err, EBADMSG, "tar: %s", msg ? msg : "unreadable");
}

/* The data, holes of sparse files included: they count as what they expand to. */
static int copy_data(struct unpack *u, int fd, struct archive_entry *e, struct sbx_error *err)
{
	const void *buf;
	size_t size;
	la_int64_t off;
	uint64_t end = 0;
	int r;

	while ((r = archive_read_data_block(u->tar, &buf, &size, &off)) == ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off < end)
			return sbx_err_msg(err, EBADMSG, "data blocks out of order");
		r = count_bytes(u, (uint64_t)off - end + size, err);
		if (r < 0)
			return r;
		if (lseek(fd, off, SEEK_SET) < 0 || (r = sbx_write_all(fd, buf, size)) < 0)
			return sbx_err(err, r < 0 ? -r : errno, "write");
		end = (uint64_t)off + size;
	}
	if (r != ARCHIVE_EOF)
		return tar_err(u, err);
	if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > end) {
		r = count_bytes(u, (uint64_t)archive_entry_size(e) - end, err);
		if (r < 0 || ftruncate(fd, archive_entry_size(e)) < 0)
			return r < 0 ? r : sbx_err(err, errno, "truncate");
	}
	return 0;
}

static int make_file(struct unpack *u, int parent, const char *leaf, struct archive_entry *e,
		     struct sbx_error *err)
{
	_cleanup_close_ int fd = -1;
	int r = 0;

	/* a declared size past the limits is refused before anything is inflated */
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
		r = check_bytes(u, (uint64_t)archive_entry_size(e), err);
	if (r >= 0)
		r = clear_leaf(parent, leaf, false, err);
	if (r < 0)
		return r;
	/* O_EXCL | O_NOFOLLOW: a symlink planted at the leaf is never opened (CVE-2014-9356) */
	fd = openat(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sbx_err(err, errno, "create");
	r = copy_data(u, fd, e, err);
	return r < 0 ? r : finish_fd(u, fd, e, true, err);
}

static int make_dir(struct unpack *u, int parent, const char *leaf, struct archive_entry *e,
		    struct sbx_error *err)
{
	_cleanup_close_ int fd = -1;
	int r = clear_leaf(parent, leaf, true, err);

	if (r < 0)
		return r;
	if (r == 0 && mkdirat(parent, leaf, 0700) < 0)
		return sbx_err(err, errno, "mkdir");
	fd = open_leaf(parent, leaf, S_IFDIR);
	if (fd < 0)
		return sbx_err(err, -fd, "open directory");
	r = finish_fd(u, fd, e, false, err);
	return r < 0 ? r : defer_dir_time(u, e, err);
}

static int make_fifo(struct unpack *u, int parent, const char *leaf, struct archive_entry *e,
		     struct sbx_error *err)
{
	_cleanup_close_ int fd = -1;
	int r = clear_leaf(parent, leaf, false, err);

	if (r < 0)
		return r;
	if (mknodat(parent, leaf, S_IFIFO | 0600, 0) < 0)
		return sbx_err(err, errno, "mkfifo");
	fd = open_leaf(parent, leaf, S_IFIFO);
	if (fd < 0)
		return sbx_err(err, -fd, "open fifo");
	return finish_fd(u, fd, e, true, err);
}

static int make_symlink(struct unpack *u, int parent, const char *leaf, struct archive_entry *e,
			struct sbx_error *err)
{
	const char *target = archive_entry_symlink(e);
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int r;

	if (!target)
		target = archive_entry_symlink_utf8(e);
	if (!target || !*target)
		return sbx_err_msg(err, EINVAL, "symlink without a target");
	r = entry_owner(e, &uid, &gid, err);
	if (r >= 0)
		r = clear_leaf(parent, leaf, false, err);
	if (r < 0)
		return r;
	/* stored verbatim: it is only ever followed inside the jail, or here by RESOLVE_IN_ROOT */
	if (symlinkat(target, parent, leaf) < 0)
		return sbx_err(err, errno, "symlink");
	if (u->chown && fchownat(parent, leaf, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return sbx_err(err, errno, "chown");
	entry_times(e, ts);
	if (utimensat(parent, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sbx_err(err, errno, "utimes");
	return 0;
}

/* linkat by fd: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, the /proc magic link does not. */
static int link_fd(int fd, int parent, const char *leaf)
{
	char proc[64];

	if (linkat(fd, "", parent, leaf, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, parent, leaf, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

/*
 * The target must already be a non-directory inside the root, reached without any symlink; an
 * absolute target is re-rooted. A link to a host file would hand its inode to the image
 * (CVE-2014-6407).
 */
static int make_hardlink(struct unpack *u, int parent, const char *leaf, struct archive_entry *e,
			 struct sbx_error *err)
{
	const char *name = archive_entry_hardlink(e);
	_cleanup_close_ int fd = -1;
	struct stat st, old;
	int r;

	if (!name)
		name = archive_entry_hardlink_utf8(e);
	r = name ? clean_name(name, u->aux, sizeof(u->aux)) : -EINVAL;
	if (r == 0)
		r = -EISDIR; /* the root itself */
	if (r > 0) {
		fd = in_root(u->root_fd, u->aux, O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
		r = fd < 0 ? fd : fstat(fd, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : 0;
	}
	if (r < 0)
		return sbx_err_msg(err, EPERM, "hardlink to \"%.80s\" refused: %s",
				   name ? name : "",
				   r == -EPERM ? "\"..\" in the target" : strerror(-r));
	if (fstatat(parent, leaf, &old, AT_SYMLINK_NOFOLLOW) == 0 && old.st_dev == st.st_dev &&
	    old.st_ino == st.st_ino)
		return 0; /* already that inode */
	r = clear_leaf(parent, leaf, false, err);
	if (r < 0)
		return r;
	r = link_fd(fd, parent, leaf);
	return r < 0 ? sbx_err(err, -r, "link") : 0;
}

static const struct {
	mode_t type;
	make_fn make; /* NULL: refused */
	const char *what;
} makers[] = {
	{ AE_IFREG, make_file, "file" },	{ AE_IFDIR, make_dir, "directory" },
	{ AE_IFLNK, make_symlink, "symlink" },	{ AE_IFIFO, make_fifo, "fifo" },
	{ AE_IFCHR, NULL, "character device" }, { AE_IFBLK, NULL, "block device" },
	{ AE_IFSOCK, NULL, "socket" },
};

static int find_maker(struct archive_entry *e, make_fn *ret, struct sbx_error *err)
{
	mode_t type = archive_entry_filetype(e);

	if (archive_entry_hardlink(e) || archive_entry_hardlink_utf8(e)) {
		*ret = make_hardlink;
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(makers); i++) {
		if (makers[i].type != type)
			continue;
		*ret = makers[i].make;
		/* a code-exec image never needs device nodes; the jail's /dev is mount.c's */
		return *ret ? 0 : sbx_err_msg(err, EPERM, "%s refused", makers[i].what);
	}
	return sbx_err_msg(err, EINVAL, "unsupported entry type 0%o", (unsigned)type);
}

/* ---- whiteouts ------------------------------------------------------------------------------- */

/* ".wh..wh..opq": the directory loses what lower layers put in it, keeps what this one made. */
static int apply_opaque(struct unpack *u, struct sbx_error *err)
{
	int fd = in_root(u->root_fd, u->dir, O_RDONLY | O_DIRECTORY, 0), r;

	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0; /* nothing below to hide */
	if (fd < 0)
		return sbx_err(err, -fd, "opaque directory");
	snprintf(u->walk, sizeof(u->walk), "%s", u->dir);
	r = hide_lower_in(u, fd, strlen(u->walk), 0);
	if (r < 0)
		return sbx_err(err, -r, "opaque directory");
	return *u->dir ? made_add(u, u->dir, err) : 0;
}

/*
 * ".wh.NAME" deletes NAME of lower layers, resolved in the root like any entry: under a
 * symlinked parent it can only reach inside the root, never rm -rf a host directory. Names
 * that designate the directory itself or its parent are refused.
 */
static int apply_whiteout(struct unpack *u, const char *leaf, struct sbx_error *err)
{
	const char *victim = leaf + strlen(WH_PREFIX);
	_cleanup_close_ int fd = -1;
	int n, r = pathset_add(&u->whiteouts, u->path);

	/* Everything made after a whiteout is this layer's: applying it again would find nothing
	 * to hide, only rescan (a layer repeating one marker a million times). */
	if (r <= 0)
		return r < 0 ? sbx_err(err, -r, "whiteout") : 0;
	if (!strcmp(leaf, WH_OPAQUE))
		return apply_opaque(u, err);
	if (!*victim || !strcmp(victim, ".") || !strcmp(victim, "..") || !strcmp(leaf, WH_META) ||
	    !strcmp(leaf, WH_META "."))
		return sbx_err_msg(err, EPERM, "malformed whiteout");
	if (!strncmp(leaf, WH_META, strlen(WH_META)))
		return 0; /* other aufs metadata (.wh..wh.plnk, ...): ignored */
	fd = in_root(u->root_fd, u->dir, O_PATH | O_DIRECTORY, 0);
	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0;
	if (fd < 0)
		return sbx_err(err, -fd, "whiteout parent");
	n = snprintf(u->walk, sizeof(u->walk), "%s%s%s", u->dir, *u->dir ? "/" : "", victim);
	if (n < 0 || (size_t)n >= sizeof(u->walk))
		return sbx_err(err, ENAMETOOLONG, "whiteout");
	r = hide_lower(u, fd, victim, (size_t)n, 0);
	return r < 0 ? sbx_err(err, -r, "whiteout") : 0;
}

/* ---- one entry ------------------------------------------------------------------------------- */

static const char *entry_name(struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);

	return name ? name : archive_entry_pathname_utf8(e);
}

/* u->path is the cleaned name; split into u->dir and the returned leaf. */
static const char *split_path(struct unpack *u)
{
	const char *slash = strrchr(u->path, '/');
	size_t dirlen = slash ? (size_t)(slash - u->path) : 0;

	memcpy(u->dir, u->path, dirlen);
	u->dir[dirlen] = '\0';
	return slash ? slash + 1 : u->path;
}

static int apply_node(struct unpack *u, const char *leaf, struct archive_entry *e,
		      struct sbx_error *err)
{
	_cleanup_close_ int parent = -1;
	make_fn make;
	int r = find_maker(e, &make, err); /* refusals come before anything is touched */

	if (r < 0)
		return r;
	parent = open_parent(u, err);
	if (parent < 0)
		return parent;
	r = make(u, parent, leaf, e, err);
	return r < 0 ? r : made_add(u, u->path, err);
}

static int apply_entry(struct unpack *u, struct archive_entry *e, struct sbx_error *err)
{
	const char *name = entry_name(e), *leaf;
	int depth;

	if (++u->entries > u->lim.max_entries)
		return sbx_err_msg(err, E2BIG, "more than max_entries (%llu) entries",
				   (unsigned long long)u->lim.max_entries);
	if (!name)
		return sbx_err_msg(err, EINVAL, "entry without a name");
	depth = clean_name(name, u->path, sizeof(u->path));
	if (depth == -EPERM)
		return sbx_err_msg(err, EPERM, "\"..\" in the name refused");
	if (depth < 0)
		return sbx_err(err, -depth, "name");
	if (depth == 0)
		return 0; /* the root itself is never replaced (umoci CVE-2021-29136) */
	if ((unsigned)depth > u->lim.max_depth)
		return sbx_err_msg(err, E2BIG, "deeper than max_depth (%u)", u->lim.max_depth);
	u->file = 0;
	leaf = split_path(u);
	if (!strncmp(leaf, WH_PREFIX, strlen(WH_PREFIX)))
		return apply_whiteout(u, leaf, err); /* never materialised */
	return apply_node(u, leaf, e, err);
}

/* ---- the stream ------------------------------------------------------------------------------ */

/* The tar reader's only input: plain bytes from the decompressor, hashed as they pass. */
static la_ssize_t feed(struct archive *tar, void *data, const void **ret)
{
	struct unpack *u = data;
	la_ssize_t n = archive_read_data(u->raw, u->buf, sizeof(u->buf));

	if (n < 0) {
		const char *msg = archive_error_string(u->raw);

		u->feed_r = sbx_err_msg(u->err, EBADMSG, "decompress: %s", msg ? msg : "corrupt");
		return -1;
	}
	if ((uint64_t)n > u->stream_max - u->stream) {
		u->feed_r = sbx_err_msg(u->err, EFBIG, "uncompressed layer larger than %llu bytes",
					(unsigned long long)u->stream_max);
		return -1;
	}
	u->stream += (uint64_t)n;
	img_sha256_update(&u->sha, u->buf, (size_t)n);
	*ret = u->buf;
	return n;
}

static int open_raw(struct unpack *u, int layer_fd, struct sbx_error *err)
{
	struct archive_entry *e;
	const char *msg;

	u->raw = archive_read_new();
	if (!u->raw)
		return sbx_err(err, ENOMEM, "libarchive");
	/* ARCHIVE_WARN would mean "through an external program": refused, CVE-2014-9357 */
	if (archive_read_support_filter_gzip(u->raw) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(u->raw) != ARCHIVE_OK ||
	    archive_read_support_format_raw(u->raw) != ARCHIVE_OK)
		return sbx_err_msg(err, ENOTSUP, "libarchive without in-process gzip and zstd");
	/* from the start, as img_sha256_fd reads it (the blob was usually just written); a pipe
	 * is read from where it is */
	if (lseek(layer_fd, 0, SEEK_SET) < 0 && errno != ESPIPE)
		return sbx_err(err, errno, "layer");
	if (archive_read_open_fd(u->raw, layer_fd, FEED_CHUNK) != ARCHIVE_OK ||
	    archive_read_next_header(u->raw, &e) != ARCHIVE_OK) {
		msg = archive_error_string(u->raw);
		return sbx_err_msg(err, EBADMSG, "layer: %s", msg ? msg : "unreadable");
	}
	/* one compression at most: gzip inside gzip only multiplies a bomb */
	if (archive_filter_count(u->raw) > 2)
		return sbx_err_msg(err, EBADMSG, "layer: nested compression");
	return 0;
}

static int open_tar(struct unpack *u, struct sbx_error *err)
{
	u->tar = archive_read_new();
	if (!u->tar)
		return sbx_err(err, ENOMEM, "libarchive");
	/* ustar, pax and GNU; no filter: the bytes are already plain */
	if (archive_read_support_format_tar(u->tar) != ARCHIVE_OK ||
	    archive_read_open(u->tar, u, NULL, feed, NULL) != ARCHIVE_OK)
		return tar_err(u, err);
	return 0;
}

static int apply_all(struct unpack *u, struct sbx_error *err)
{
	struct archive_entry *e;
	const void *rest;
	la_ssize_t n;
	int r;

	while ((r = archive_read_next_header(u->tar, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		r = apply_entry(u, e, err);
		if (r < 0)
			return sbx_err_prefix(err, r, "entry \"%.96s\"",
					      entry_name(e) ? entry_name(e) : "?");
	}
	if (r != ARCHIVE_EOF)
		return tar_err(u, err);
	/* the diff_id covers the whole stream, padding after the end-of-archive blocks too */
	while ((n = feed(u->tar, u, &rest)) > 0)
		;
	return n < 0 ? u->feed_r : 0;
}

/* ---- the layer ------------------------------------------------------------------------------- */

static uint64_t limit_or(uint64_t v, uint64_t dflt)
{
	return v ? v : dflt;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void unpack_free(struct unpack *u)
{
	if (!u)
		return;
	archive_read_free(u->tar);
	archive_read_free(u->raw);
	img_sha256_done(&u->sha);
	pathset_free(&u->made);
	pathset_free(&u->whiteouts);
	for (size_t i = 0; i < u->ndirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
	free(u);
}

static void unpack_freep(struct unpack **u)
{
	unpack_free(*u);
}

static int unpack_new(int root_fd, const struct img_unpack_limits *lim, struct unpack **ret,
		      struct sbx_error *err)
{
	const struct img_unpack_limits *l = lim ? lim : &default_limits;
	struct unpack *u = calloc(1, sizeof(*u));
	struct stat st;
	uint64_t per_entry;

	if (!u)
		return sbx_err(err, ENOMEM, "unpack state");
	*ret = u;
	u->root_fd = root_fd;
	u->err = err;
	u->chown = geteuid() == 0;
	u->lim.max_bytes = limit_or(l->max_bytes, default_limits.max_bytes);
	u->lim.max_entries = limit_or(l->max_entries, default_limits.max_entries);
	u->lim.max_file = limit_or(l->max_file, default_limits.max_file);
	u->lim.max_depth = l->max_depth ? l->max_depth : default_limits.max_depth;
	per_entry = u->lim.max_entries > UINT64_MAX / STREAM_PER_ENTRY
			    ? UINT64_MAX
			    : u->lim.max_entries * STREAM_PER_ENTRY;
	u->stream_max = sat_add(sat_add(u->lim.max_bytes, per_entry), STREAM_SLACK);
	if (fstat(root_fd, &st) < 0)
		return sbx_err(err, errno, "root");
	if (!S_ISDIR(st.st_mode))
		return sbx_err(err, ENOTDIR, "root");
	return img_sha256_init(&u->sha, err);
}

int img_unpack_layer(int layer_fd, int root_fd, const struct img_unpack_limits *lim,
		     struct img_unpack_stats *ret, struct sbx_error *err)
{
	_cleanup_(unpack_freep) struct unpack *u = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = unpack_new(root_fd, lim, &u, err);
	if (r >= 0)
		r = open_raw(u, layer_fd, err);
	if (r >= 0)
		r = open_tar(u, err);
	if (r >= 0)
		r = apply_all(u, err);
	if (r >= 0)
		r = apply_dir_times(u, err);
	if (r < 0)
		return r;
	ret->bytes = u->bytes;
	ret->entries = u->entries;
	img_sha256_final(&u->sha, ret->diff_id);
	return 0;
}
