/* SPDX-License-Identifier: MIT */
/*
 * store.c - the image store: content-addressed blobs, one unpacked rootfs per manifest digest,
 * the tag index (refs.json), garbage collection.
 *
 * Owns: the on-disk layout described in store.h and its locks. Every write is a temporary file
 * or directory in STATE/tmp (or refs.json.new under STATE/lock) renamed into place, so a crash
 * or a failed pull leaves refs.json and images/ as they were.
 * Must not: talk to a registry (pull.c), log, exit, or join a name it did not make itself into a
 * path: only validated hex digests and fixed file names become paths here.
 *
 * Names in STATE/tmp start with a key, up to the first '.': "<hex>" (a blob download or an image
 * unpack, guarded by STATE/tmp/<hex>.lock) or "h<pid>-<n>" (one open store handle, guarded by its
 * own lock held while the handle is open). An entry whose key's lock nobody holds was left by a
 * process that died: img_store_open removes it. Whoever releases a tmp lock unlinks it first; a
 * waiter that then wins the flock on the unlinked inode notices and retries on a fresh file.
 *
 * Lock order: STATE/tmp/<hex>.lock before STATE/lock; gc, which holds STATE/lock, only ever
 * tries a tmp lock without waiting.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"
#include "util.h"

#define HEX_LEN	     64
#define MAX_DOC	     (16U << 20) /* refs.json, image.json, configs, manifests */
#define RM_MAX_DEPTH 512	 /* recursion (one open DIR each) when removing a rootfs */
#define COPY_CHUNK   (64 * 1024)

struct img_store {
	int dir_fd; /* STATE */
	int own_fd; /* STATE/tmp/<own>.lock, held while the handle is open */
	char own[48];
	pid_t owner;		   /* the process that made own_fd */
	unsigned seq;		   /* makes this handle's temporary names unique */
	char path[PATH_MAX - 128]; /* room for "/images/<hex>/rootfs" in PATH_MAX */
};

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static const char *hex_of(const char *digest)
{
	return digest + strlen("sha256:");
}

/* ---- small file helpers -------------------------------------------------------------------- */

/* A whole small file (NUL-terminated) read from dirfd/name. */
static int read_doc_at(int dirfd, const char *name, char **ret, size_t *ret_len,
		       struct sbx_error *err)
{
	int r = sbx_read_file_all(dirfd, name, O_NOFOLLOW, MAX_DOC, ret, ret_len);

	return r < 0 ? sbx_err(err, -r, "%s (a regular file under %u bytes)", name, MAX_DOC) : 0;
}

/* Write a JSON document to dirfd/name (created 0600, truncated), flushed to disk. */
static int write_json_at(int dirfd, const char *name, const cJSON *doc, struct sbx_error *err)
{
	_cleanup_free_ char *text = cJSON_PrintUnformatted(doc);
	_cleanup_close_ int fd = -1;

	if (!text)
		return sbx_err(err, ENOMEM, "%s", name);
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sbx_err(err, errno, "create %s", name);
	if (sbx_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0)
		return sbx_err(err, errno, "write %s", name);
	return 0;
}

/*
 * Remove parent/name recursively, adding the sizes of the regular files removed to *bytes (may
 * be NULL). Only trees the store made reach here; directories are made writable first so that
 * a rootfs with 0555 directories can go when we are not root.
 */
static int rm_rf_at(int parent, const char *name, unsigned depth, uint64_t *bytes)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	int fd, r = 0;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
			return -errno;
		if (bytes && S_ISREG(st.st_mode))
			*bytes += (uint64_t)st.st_size;
		return 0;
	}
	if (depth >= RM_MAX_DEPTH)
		return -ELOOP;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	(void)fchmod(fd, 0700);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			int q = rm_rf_at(fd, de->d_name, depth + 1, bytes);

			r = r < 0 ? r : q;
		}
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r >= 0)
		r = -errno;
	return r;
}

/* ---- locks --------------------------------------------------------------------------------- */

/* STATE/lock, exclusively: refs.json and gc. Released by closing the fd. */
static int store_lock(struct img_store *s, struct sbx_error *err)
{
	int fd = openat(s->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return sbx_err(err, errno, "open %s/lock", s->path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			int e = errno;

			close(fd);
			return sbx_err(err, e, "lock %s/lock", s->path);
		}
	return fd;
}

static bool same_inode(int fd, int dirfd, const char *name)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* STATE/tmp/<key>.lock: -EWOULDBLOCK (err untouched) when !wait and another process holds it. */
static int tmp_lock(struct img_store *s, const char *key, bool wait, struct sbx_error *err)
{
	char name[128];

	snprintf(name, sizeof(name), "tmp/%s.lock", key);
	for (;;) {
		_cleanup_close_ int fd =
			openat(s->dir_fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0)
			return sbx_err(err, errno, "open %s", name);
		if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EWOULDBLOCK)
				return -EWOULDBLOCK;
			return sbx_err(err, errno, "lock %s", name);
		}
		/* the previous holder unlinked it as it let go: lock the fresh file instead */
		if (same_inode(fd, s->dir_fd, name))
			return TAKE_FD(fd);
	}
}

static void tmp_unlock(struct img_store *s, const char *key, int fd)
{
	char name[128];

	if (fd < 0)
		return;
	snprintf(name, sizeof(name), "tmp/%s.lock", key);
	unlinkat(s->dir_fd, name, 0);
	close(fd);
}

int img_store_tmp_path(struct img_store *s, const char *name, char *buf, size_t size,
		       struct sbx_error *err)
{
	if ((size_t)snprintf(buf, size, "%s/tmp/%s", s->path, name) >= size)
		return sbx_err(err, ENAMETOOLONG, "%s/tmp/%s", s->path, name);
	return 0;
}

int img_store_lock(struct img_store *s, const char *key, struct sbx_error *err)
{
	return tmp_lock(s, key, true, err);
}

void img_store_unlock(struct img_store *s, const char *key, int fd)
{
	tmp_unlock(s, key, fd);
}

/* ---- open / close -------------------------------------------------------------------------- */

/* One STATE/tmp entry: kept while the lock of its key is held, removed otherwise. */
static void clean_entry(int tmp_fd, const char *name)
{
	char key[NAME_MAX + 1], lock[NAME_MAX + 8];
	int fd;

	snprintf(key, sizeof(key), "%.*s", (int)strcspn(name, "."), name);
	snprintf(lock, sizeof(lock), "%s.lock", key);
	fd = openat(tmp_fd, lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd); /* a pull in progress */
		return;
	}
	if (strcmp(name, lock) == 0)
		unlinkat(tmp_fd, lock, 0);
	else
		rm_rf_at(tmp_fd, name, 0, NULL);
	if (fd >= 0)
		close(fd);
}

static int clean_tmp(struct img_store *s, struct sbx_error *err)
{
	_cleanup_close_ int lock = store_lock(s, err);
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int fd;

	if (lock < 0)
		return lock;
	fd = openat(s->dir_fd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return sbx_err(err, e, "open %s/tmp", s->path);
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			clean_entry(fd, de->d_name);
	return 0;
}

static int open_dirs(struct img_store *s, const char *state_dir, struct sbx_error *err)
{
	static const char *const subdirs[] = { "blobs", "blobs/sha256", "images", "tmp" };
	char real[PATH_MAX];

	/* 0700: host users must not reach setuid binaries inside images (CVE-2021-41091) */
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return sbx_err(err, errno, "mkdir %s", state_dir);
	if (!realpath(state_dir, real))
		return sbx_err(err, errno, "%s", state_dir);
	if ((size_t)snprintf(s->path, sizeof(s->path), "%s", real) >= sizeof(s->path))
		return sbx_err_msg(err, ENAMETOOLONG, "state dir %.80s...: path too long", real);
	s->dir_fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0)
		return sbx_err(err, errno, "open %s", s->path);
	for (size_t i = 0; i < ELEMENTSOF(subdirs); i++)
		if (mkdirat(s->dir_fd, subdirs[i], 0700) < 0 && errno != EEXIST)
			return sbx_err(err, errno, "mkdir %s/%s", s->path, subdirs[i]);
	return 0;
}

void img_store_close(struct img_store *s)
{
	if (!s)
		return;
	/* a forked child closing its copy must not unlink the lock its parent still holds */
	if (s->owner == getpid())
		tmp_unlock(s, s->own, s->own_fd);
	else if (s->own_fd >= 0)
		close(s->own_fd);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s);
}

static void img_store_closep(struct img_store **s)
{
	img_store_close(*s);
}

int img_store_open(const char *state_dir, struct img_store **ret, struct sbx_error *err)
{
	_cleanup_(img_store_closep) struct img_store *s = calloc(1, sizeof(*s));
	int r;

	*ret = NULL;
	if (!s)
		return sbx_err(err, ENOMEM, "store");
	s->dir_fd = s->own_fd = -1;
	r = open_dirs(s, state_dir, err);
	if (r >= 0)
		r = clean_tmp(s, err);
	if (r < 0)
		return r;
	/* after the cleaning, or it would see our own lock as held and keep it forever */
	snprintf(s->own, sizeof(s->own), "h%d-%llx", (int)getpid(), sbx_now_ns());
	s->owner = getpid();
	s->own_fd = tmp_lock(s, s->own, true, err);
	if (s->own_fd < 0)
		return s->own_fd;
	*ret = TAKE_PTR(s);
	return 0;
}

/* ---- blobs --------------------------------------------------------------------------------- */

static int check_digest(const char *digest, struct sbx_error *err)
{
	if (!digest || !img_digest_valid(digest))
		return sbx_err_msg(err, EINVAL, "invalid digest \"%.80s\"", digest ? digest : "");
	return 0;
}

static void blob_name(const char *digest, char *buf, size_t size)
{
	snprintf(buf, size, "blobs/sha256/%s", hex_of(digest));
}

static bool has_entry(struct img_store *s, const char *name)
{
	struct stat st;

	return fstatat(s->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The path is filled even for ENOENT: pull.c finds the store's directories from it. */
int img_store_blob_path(struct img_store *s, const char *digest, char *buf, size_t size,
			struct sbx_error *err)
{
	char name[96];
	int r = check_digest(digest, err);

	if (r < 0)
		return r;
	blob_name(digest, name, sizeof(name));
	if ((size_t)snprintf(buf, size, "%s/%s", s->path, name) >= size)
		return sbx_err_msg(err, ENAMETOOLONG, "blob path");
	if (!has_entry(s, name))
		return sbx_err_msg(err, ENOENT, "blob %s not in store", digest);
	return 0;
}

/* A new, unique temporary file of this handle in STATE/tmp; its name relative to STATE. */
static int tmp_file(struct img_store *s, const char *what, char *name, size_t size,
		    struct sbx_error *err)
{
	int fd;

	do {
		snprintf(name, size, "tmp/%s.%s.%d.%u", s->own, what, (int)getpid(), s->seq++);
		fd = openat(s->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0600);
	} while (fd < 0 && errno == EEXIST);
	if (fd < 0)
		return sbx_err(err, errno, "create %s/%s", s->path, name);
	return fd;
}

/* in -> out to EOF, hashed on the way; EBADMSG unless the bytes have the expected digest. */
static int copy_hashed(int in, int out, const char *want, struct sbx_error *err)
{
	_cleanup_free_ char *buf = malloc(COPY_CHUNK);
	char got[IMG_DIGEST_LEN + 1];
	struct img_sha256 h = { 0 };
	ssize_t n;
	int r;

	if (!buf)
		return sbx_err(err, ENOMEM, "copy buffer");
	r = img_sha256_init(&h, err);
	while (r >= 0 && (n = read(in, buf, COPY_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = sbx_err(err, errno, "read blob");
		else if ((r = sbx_write_all(out, buf, (size_t)n)) < 0)
			r = sbx_err(err, -r, "write blob");
		else
			img_sha256_update(&h, buf, (size_t)n);
	}
	if (r < 0) {
		img_sha256_done(&h);
		return r;
	}
	img_sha256_final(&h, got);
	if (strcmp(got, want) != 0)
		return sbx_err_msg(err, EBADMSG, "digest mismatch: expected %s, got %s", want, got);
	return 0;
}

/* The writer of a pipe must not block or die of SIGPIPE because we already have its blob. */
static void drain(int fd)
{
	char buf[4096];
	struct stat st;

	if (fstat(fd, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EINTR))
			return;
	}
}

int img_store_put_blob(struct img_store *s, const char *digest, int fd, struct sbx_error *err)
{
	char tmp[128], blob[96];
	_cleanup_close_ int out = -1;
	int r = check_digest(digest, err);

	if (r < 0)
		return r;
	blob_name(digest, blob, sizeof(blob));
	if (has_entry(s, blob)) {
		drain(fd);
		return 0;
	}
	out = tmp_file(s, "blob", tmp, sizeof(tmp), err);
	if (out < 0)
		return out;
	r = copy_hashed(fd, out, digest, err);
	if (r >= 0 && fsync(out) < 0)
		r = sbx_err(err, errno, "fsync blob %s", digest);
	/* a concurrent put of the same blob renames the same bytes over: harmless */
	if (r >= 0 && renameat(s->dir_fd, tmp, s->dir_fd, blob) < 0)
		r = sbx_err(err, errno, "store blob %s", digest);
	if (r < 0)
		unlinkat(s->dir_fd, tmp, 0);
	return r;
}

static int put_blob_mem(struct img_store *s, const char *digest, const void *buf, size_t len,
			struct sbx_error *err)
{
	_cleanup_close_ int fd = memfd_create("sandboxd-blob", MFD_CLOEXEC);

	if (fd < 0)
		return sbx_err(err, errno, "memfd");
	if (sbx_write_all(fd, buf, len) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return sbx_err(err, errno, "memfd");
	return img_store_put_blob(s, digest, fd, err);
}

static int read_blob(struct img_store *s, const char *digest, char **ret, size_t *ret_len,
		     struct sbx_error *err)
{
	char name[96];

	blob_name(digest, name, sizeof(name));
	if (!has_entry(s, name))
		return sbx_err_msg(err, ENOENT, "blob %s not in store", digest);
	return read_doc_at(s->dir_fd, name, ret, ret_len, err);
}

/* ---- refs.json ----------------------------------------------------------------------------- */

static int refs_load(struct img_store *s, cJSON **ret, struct sbx_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	*ret = NULL;
	if (!has_entry(s, "refs.json"))
		*ret = cJSON_CreateObject();
	else if ((r = read_doc_at(s->dir_fd, "refs.json", &text, &len, err)) < 0)
		return r;
	else
		*ret = cJSON_ParseWithLength(text, len);
	if (*ret && cJSON_IsObject(*ret))
		return 0;
	cJSON_Delete(*ret);
	*ret = NULL;
	return sbx_err_msg(err, EBADMSG, "%s/refs.json: not a JSON object", s->path);
}

/* refs.json.new (under STATE/lock): renamed over refs.json by refs_commit. */
static int refs_prepare(struct img_store *s, const cJSON *refs, struct sbx_error *err)
{
	return write_json_at(s->dir_fd, "refs.json.new", refs, err);
}

static int refs_commit(struct img_store *s, struct sbx_error *err)
{
	if (renameat(s->dir_fd, "refs.json.new", s->dir_fd, "refs.json") < 0)
		return sbx_err(err, errno, "rename %s/refs.json", s->path);
	return 0;
}

static int refs_set(cJSON *refs, const char *name, const char *digest, struct sbx_error *err)
{
	cJSON *v = cJSON_CreateString(digest);

	if (!v)
		return sbx_err(err, ENOMEM, "refs");
	cJSON_DeleteItemFromObjectCaseSensitive(refs, name);
	if (!cJSON_AddItemToObject(refs, name, v)) {
		cJSON_Delete(v);
		return sbx_err(err, ENOMEM, "refs");
	}
	return 0;
}

/* The digest a name is tagged with, or NULL. */
static const char *refs_get(const cJSON *refs, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(refs, name);

	return cJSON_IsString(v) && img_digest_valid(v->valuestring) ? v->valuestring : NULL;
}

/* Docker's canonical form, so that "python" and "docker.io/library/python:latest" meet. */
static int canonical_name(const char *reference, struct img_ref *ref, char *buf, size_t size,
			  struct sbx_error *err)
{
	int r = img_ref_parse(reference, ref, err);

	if (r < 0)
		return r;
	if (img_ref_format(ref, buf, size) < 0)
		return sbx_err_msg(err, ENAMETOOLONG, "reference \"%.80s\" too long", reference);
	return 0;
}

/* ---- image.json and img_info --------------------------------------------------------------- */

void img_info_done(struct img_info *info)
{
	if (!info || !info->env)
		return;
	for (char **e = info->env; *e; e++)
		free(*e);
	free(info->env);
	info->env = NULL;
}

static cJSON *image_doc(const struct img_config *cfg, uint64_t size)
{
	cJSON *doc = cJSON_CreateObject(), *env = cJSON_AddArrayToObject(doc, "Env");
	char platform[100];
	bool ok = env != NULL;

	snprintf(platform, sizeof(platform), "%s/%s", cfg->os, cfg->arch);
	for (char **e = cfg->env; ok && e && *e; e++)
		ok = cJSON_AddItemToArray(env, cJSON_CreateString(*e));
	ok = ok && cJSON_AddStringToObject(doc, "WorkingDir", cfg->working_dir) &&
	     cJSON_AddNumberToObject(doc, "size", (double)size) &&
	     cJSON_AddNumberToObject(doc, "pulled", (double)time(NULL)) &&
	     cJSON_AddStringToObject(doc, "platform", platform);
	if (ok)
		return doc;
	cJSON_Delete(doc);
	return NULL;
}

static int info_env(struct img_info *info, const cJSON *env, struct sbx_error *err)
{
	int n = cJSON_GetArraySize(env), i = 0;
	const cJSON *e;

	info->env = calloc((size_t)n + 1, sizeof(char *));
	if (!info->env)
		return sbx_err(err, ENOMEM, "image env");
	cJSON_ArrayForEach(e, env)
	{
		if (i >= n || !cJSON_IsString(e))
			continue;
		info->env[i] = strdup(e->valuestring);
		if (!info->env[i++])
			return sbx_err(err, ENOMEM, "image env");
	}
	return 0;
}

static void info_fill(struct img_info *info, const cJSON *doc)
{
	const cJSON *wd = cJSON_GetObjectItemCaseSensitive(doc, "WorkingDir");
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(doc, "size");
	const cJSON *pulled = cJSON_GetObjectItemCaseSensitive(doc, "pulled");
	const cJSON *platform = cJSON_GetObjectItemCaseSensitive(doc, "platform");

	if (cJSON_IsString(wd))
		snprintf(info->working_dir, sizeof(info->working_dir), "%s", wd->valuestring);
	if (cJSON_IsNumber(size) && size->valuedouble >= 0)
		info->size = (uint64_t)size->valuedouble;
	if (cJSON_IsNumber(pulled))
		info->pulled = (time_t)pulled->valuedouble;
	if (cJSON_IsString(platform))
		snprintf(info->platform, sizeof(info->platform), "%s", platform->valuestring);
}

/* Fill ret from STATE/images/<hex>/image.json: ENOENT when the image is not unpacked. */
static int image_load(struct img_store *s, const char *digest, const char *name,
		      struct img_info *ret, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *doc = NULL;
	_cleanup_free_ char *text = NULL;
	char path[128];
	size_t len;
	int r;

	memset(ret, 0, sizeof(*ret));
	snprintf(path, sizeof(path), "images/%s/image.json", hex_of(digest));
	if (!has_entry(s, path))
		return sbx_err_msg(err, ENOENT, "image %s not in store", name[0] ? name : digest);
	r = read_doc_at(s->dir_fd, path, &text, &len, err);
	if (r < 0)
		return r;
	doc = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(doc))
		return sbx_err_msg(err, EBADMSG, "%s/%s: not a JSON object", s->path, path);
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	snprintf(ret->digest, sizeof(ret->digest), "%s", digest);
	snprintf(ret->rootfs, sizeof(ret->rootfs), "%s/images/%s/rootfs", s->path, hex_of(digest));
	info_fill(ret, doc);
	r = info_env(ret, cJSON_GetObjectItemCaseSensitive(doc, "Env"), err);
	if (r < 0)
		img_info_done(ret);
	return r;
}

/* ---- commit -------------------------------------------------------------------------------- */

struct commit {
	struct img_manifest m;
	struct img_config cfg;
	char digest[IMG_DIGEST_LEN + 1]; /* the manifest's */
	char name[600];			 /* canonical; "" tags nothing */
	char tmpdir[128];		 /* tmp/<hex>.rootfs.<pid>, relative to STATE */
	uint64_t size;
	const struct img_unpack_limits *limits;
};

static void commit_free(struct commit *c)
{
	if (!c)
		return;
	img_config_done(&c->cfg);
	free(c);
}

static void commit_freep(struct commit **c)
{
	commit_free(*c);
}

static int load_config(struct img_store *s, struct commit *c, struct sbx_error *err)
{
	_cleanup_free_ char *body = NULL;
	size_t len;
	int r = read_blob(s, c->m.config.digest, &body, &len, err);

	if (r >= 0)
		r = img_config_parse(body, len, &c->cfg, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "config %s", c->m.config.digest);
	if (c->cfg.n_diff_ids != c->m.n_layers)
		return sbx_err_msg(err, EBADMSG, "config lists %u diff_ids for %u layers",
				   c->cfg.n_diff_ids, c->m.n_layers);
	return 0;
}

static int unpack_one(struct img_store *s, struct commit *c, unsigned i, int root_fd,
		      struct sbx_error *err)
{
	const char *digest = c->m.layers[i].digest;
	struct img_unpack_stats st;
	_cleanup_close_ int fd = -1;
	char name[96];
	int r;

	blob_name(digest, name, sizeof(name));
	fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return sbx_err(err, errno, "layer %u (%s)", i + 1, digest);
	r = img_unpack_layer(fd, root_fd, c->limits, &st, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "layer %u (%s)", i + 1, digest);
	/* the diff_id is what the config (so the manifest digest) vouches for, byte by byte */
	if (strcmp(st.diff_id, c->cfg.diff_ids[i]) != 0)
		return sbx_err_msg(err, EBADMSG,
				   "layer %u (%s): diff_id mismatch: config says %s, layer is %s",
				   i + 1, digest, c->cfg.diff_ids[i], st.diff_id);
	c->size += st.bytes;
	return 0;
}

static int unpack_image(struct img_store *s, struct commit *c, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *doc = NULL;
	_cleanup_close_ int dir_fd = -1, root_fd = -1;
	int r = 0;

	snprintf(c->tmpdir, sizeof(c->tmpdir), "tmp/%s.rootfs.%d", hex_of(c->digest),
		 (int)getpid());
	rm_rf_at(s->dir_fd, c->tmpdir, 0, NULL); /* a dead process's, that had our pid */
	if (mkdirat(s->dir_fd, c->tmpdir, 0700) < 0)
		return sbx_err(err, errno, "mkdir %s/%s", s->path, c->tmpdir);
	dir_fd = openat(s->dir_fd, c->tmpdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0 || mkdirat(dir_fd, "rootfs", 0755) < 0)
		return sbx_err(err, errno, "mkdir %s/%s/rootfs", s->path, c->tmpdir);
	root_fd = openat(dir_fd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root_fd < 0 || fchmod(root_fd, 0755) < 0)
		return sbx_err(err, errno, "open %s/%s/rootfs", s->path, c->tmpdir);
	for (unsigned i = 0; r >= 0 && i < c->m.n_layers; i++)
		r = unpack_one(s, c, i, root_fd, err);
	if (r < 0)
		return r;
	doc = image_doc(&c->cfg, c->size);
	if (!doc)
		return sbx_err(err, ENOMEM, "image.json");
	return write_json_at(dir_fd, "image.json", doc, err);
}

/*
 * Under STATE/lock: refs.json.new written, the rootfs renamed into images/ (or ours dropped when
 * another pull won), refs.json.new renamed over refs.json. gc holds the same lock, so it never
 * sees an image between its rename and its tag.
 */
static int publish(struct img_store *s, struct commit *c, struct sbx_error *err)
{
	_cleanup_close_ int lock = store_lock(s, err);
	_cleanup_(cJSON_Deletep) cJSON *refs = NULL;
	char image[96];
	bool moved = false;
	int r;

	if (lock < 0)
		return lock;
	r = refs_load(s, &refs, err);
	if (r >= 0 && c->name[0])
		r = refs_set(refs, c->name, c->digest, err);
	if (r >= 0)
		r = refs_prepare(s, refs, err);
	if (r < 0)
		return r;
	snprintf(image, sizeof(image), "images/%s", hex_of(c->digest));
	if (c->tmpdir[0] && renameat(s->dir_fd, c->tmpdir, s->dir_fd, image) == 0)
		moved = true;
	else if (c->tmpdir[0] && errno != EEXIST && errno != ENOTEMPTY)
		return sbx_err(err, errno, "rename %s into %s/images", c->tmpdir, s->path);
	if (!has_entry(s, image))
		return sbx_err_msg(err, ENOENT, "image %s vanished while being tagged", c->digest);
	r = refs_commit(s, err);
	if (r < 0 && moved) /* untagged, it must not appear either */
		renameat(s->dir_fd, image, s->dir_fd, c->tmpdir);
	if (r >= 0 && moved)
		c->tmpdir[0] = '\0';
	return r;
}

/* One unpack per image at a time: a waiter finds the winner's rootfs and only tags it. */
static int build_image(struct img_store *s, struct commit *c, struct sbx_error *err)
{
	const char *hex = hex_of(c->digest);
	char image[96];
	int lock, r = 0;

	lock = tmp_lock(s, hex, true, err);
	if (lock < 0)
		return lock;
	snprintf(image, sizeof(image), "images/%s", hex);
	if (!has_entry(s, image))
		r = unpack_image(s, c, err);
	if (r >= 0)
		r = publish(s, c, err);
	if (c->tmpdir[0])
		rm_rf_at(s->dir_fd, c->tmpdir, 0, NULL);
	tmp_unlock(s, hex, lock);
	return r;
}

static int commit_new(const char *name, const char *manifest, size_t len,
		      const struct img_pull_opts *o, struct commit **ret, struct sbx_error *err)
{
	_cleanup_(commit_freep) struct commit *c = calloc(1, sizeof(*c));
	struct img_sha256 h;
	struct img_ref ref;
	int r;

	if (!c)
		return sbx_err(err, ENOMEM, "commit");
	r = name && name[0] ? canonical_name(name, &ref, c->name, sizeof(c->name), err) : 0;
	if (r < 0)
		return sbx_err_prefix(err, r, "name");
	r = img_manifest_parse(manifest, len, &c->m, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "manifest");
	r = img_sha256_init(&h, err);
	if (r < 0)
		return r;
	img_sha256_update(&h, manifest, len);
	img_sha256_final(&h, c->digest);
	c->limits = o ? &o->limits : NULL;
	*ret = TAKE_PTR(c);
	return 0;
}

int img_store_commit(struct img_store *s, const char *name, const char *manifest, size_t len,
		     const struct img_pull_opts *o, struct img_info *ret, struct sbx_error *err)
{
	_cleanup_(commit_freep) struct commit *c = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = commit_new(name, manifest, len, o, &c, err);
	/* gc reads the manifest blob to know which blobs the image keeps */
	if (r >= 0)
		r = put_blob_mem(s, c->digest, manifest, len, err);
	if (r >= 0)
		r = load_config(s, c, err);
	if (r >= 0)
		r = build_image(s, c, err);
	if (r >= 0)
		r = image_load(s, c->digest, c->name, ret, err);
	return r;
}

/* ---- lookup, list, remove ------------------------------------------------------------------ */

/* The first name tagging digest, or "". */
static const char *name_of(const cJSON *refs, const char *digest)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, refs)
	{
		if (cJSON_IsString(e) && strcmp(e->valuestring, digest) == 0)
			return e->string;
	}
	return "";
}

int img_store_lookup(struct img_store *s, const char *reference, struct img_info *ret,
		     struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *refs = NULL;
	struct img_ref ref;
	char name[600];
	const char *digest;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = refs_load(s, &refs, err);
	if (r < 0)
		return r;
	if (reference && img_digest_valid(reference))
		return image_load(s, reference, name_of(refs, reference), ret, err);
	r = canonical_name(reference ? reference : "", &ref, name, sizeof(name), err);
	if (r < 0)
		return r;
	/* pinned by digest: the content is the identity, no tag needed (but a pull of an index's
	 * digest tagged the platform's manifest under this name) */
	digest = refs_get(refs, name);
	if (!digest && ref.digest[0])
		digest = ref.digest;
	if (!digest)
		return sbx_err_msg(err, ENOENT, "image %s not in store", name);
	return image_load(s, digest, name, ret, err);
}

int img_store_list(struct img_store *s, struct img_info **ret, size_t *ret_n, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *refs = NULL;
	struct img_info *v;
	const cJSON *e;
	size_t n = 0;
	int r;

	*ret = NULL;
	*ret_n = 0;
	r = refs_load(s, &refs, err);
	if (r < 0)
		return r;
	v = calloc((size_t)cJSON_GetArraySize(refs) + 1, sizeof(*v));
	if (!v)
		return sbx_err(err, ENOMEM, "image list");
	cJSON_ArrayForEach(e, refs)
	{
		if (!cJSON_IsString(e) || !img_digest_valid(e->valuestring))
			continue;
		/* a tag whose image is gone (a broken store) is left out, not fatal */
		if (image_load(s, e->valuestring, e->string, &v[n], NULL) >= 0)
			n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Delete every tag that reference names: one name, or every name of a digest. */
static int untag(cJSON *refs, const char *reference, struct sbx_error *err)
{
	struct img_ref ref;
	char name[600];
	cJSON *e, *next;
	int n = 0, r;

	if (!img_digest_valid(reference)) {
		r = canonical_name(reference, &ref, name, sizeof(name), err);
		if (r < 0)
			return r;
		if (!cJSON_GetObjectItemCaseSensitive(refs, name))
			return sbx_err_msg(err, ENOENT, "image %s not in store", name);
		cJSON_DeleteItemFromObjectCaseSensitive(refs, name);
		return 0;
	}
	for (e = refs->child; e; e = next) {
		next = e->next;
		if (cJSON_IsString(e) && strcmp(e->valuestring, reference) == 0) {
			cJSON_Delete(cJSON_DetachItemViaPointer(refs, e));
			n++;
		}
	}
	return n ? 0 : sbx_err_msg(err, ENOENT, "no tag names image %s", reference);
}

int img_store_remove(struct img_store *s, const char *reference, struct sbx_error *err)
{
	_cleanup_close_ int lock = store_lock(s, err);
	_cleanup_(cJSON_Deletep) cJSON *refs = NULL;
	int r;

	if (lock < 0)
		return lock;
	r = refs_load(s, &refs, err);
	if (r >= 0)
		r = untag(refs, reference ? reference : "", err);
	if (r >= 0)
		r = refs_prepare(s, refs, err);
	if (r >= 0)
		r = refs_commit(s, err);
	return r;
}

/* ---- gc ------------------------------------------------------------------------------------ */

struct hexset {
	char (*v)[HEX_LEN + 1];
	size_t n, cap;
	bool unknown; /* a kept manifest could not be read: keep every blob */
};

static int hexset_add(struct hexset *h, const char *digest)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		void *v = realloc(h->v, cap * sizeof(*h->v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	snprintf(h->v[h->n++], HEX_LEN + 1, "%s", hex_of(digest));
	return 0;
}

static bool hexset_has(const struct hexset *h, const char *hex)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->v[i], hex) == 0)
			return true;
	return false;
}

/* The blobs one kept manifest needs: itself, its config, its layers. */
static int keep_manifest(struct img_store *s, const char *digest, struct hexset *blobs)
{
	_cleanup_free_ struct img_manifest *m = calloc(1, sizeof(*m));
	_cleanup_free_ char *body = NULL;
	size_t len;
	int r = m ? hexset_add(blobs, digest) : -ENOMEM;

	if (r < 0)
		return r;
	if (read_blob(s, digest, &body, &len, NULL) < 0 ||
	    img_manifest_parse(body, len, m, NULL) < 0) {
		blobs->unknown = true;
		return 0;
	}
	r = hexset_add(blobs, m->config.digest);
	for (unsigned i = 0; r >= 0 && i < m->n_layers; i++)
		r = hexset_add(blobs, m->layers[i].digest);
	return r;
}

static int gc_keep(struct img_store *s, struct hexset *images, struct hexset *blobs,
		   struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *refs = NULL;
	const cJSON *e;
	int r = refs_load(s, &refs, err);

	cJSON_ArrayForEach(e, refs)
	{
		if (r < 0 || !cJSON_IsString(e) || !img_digest_valid(e->valuestring))
			continue;
		r = hexset_add(images, e->valuestring);
		if (r >= 0)
			r = keep_manifest(s, e->valuestring, blobs);
		if (r < 0)
			sbx_err(err, -r, "gc");
	}
	return r;
}

static DIR *open_dir_at(struct img_store *s, const char *name)
{
	int fd = openat(s->dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d && fd >= 0)
		close(fd);
	return d;
}

/* An untagged image goes, unless a commit holds its lock (about to tag it). */
static void gc_image(struct img_store *s, const char *hex, uint64_t *freed)
{
	char from[96], to[192];
	int lock = tmp_lock(s, hex, false, NULL);

	if (lock < 0)
		return;
	snprintf(from, sizeof(from), "images/%.64s", hex);
	/* out of images/ first: a gc cut short leaves a tmp leftover, not half an image */
	snprintf(to, sizeof(to), "tmp/%s.gc.%.64s", s->own, hex);
	if (renameat(s->dir_fd, from, s->dir_fd, to) == 0)
		rm_rf_at(s->dir_fd, to, 0, freed);
	tmp_unlock(s, hex, lock);
}

static int gc_sweep(struct img_store *s, const char *dir, const struct hexset *keep,
		    uint64_t *freed, struct sbx_error *err)
{
	_cleanup_(closedirp) DIR *d = open_dir_at(s, dir);
	struct dirent *de;
	char name[HEX_LEN + 8];

	if (!d)
		return sbx_err(err, errno, "open %s/%s", s->path, dir);
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != HEX_LEN || hexset_has(keep, de->d_name))
			continue;
		snprintf(name, sizeof(name), "sha256:%.64s", de->d_name);
		if (!img_digest_valid(name))
			continue; /* not ours */
		if (strcmp(dir, "images") == 0)
			gc_image(s, de->d_name, freed);
		else
			rm_rf_at(dirfd(d), de->d_name, 0, freed);
	}
	return 0;
}

/*
 * A blob a pull in another process has stored but not yet committed is not referenced yet and
 * goes: that pull then fails with ENOENT (the store stays consistent) and a retry downloads it.
 */
int img_store_gc(struct img_store *s, uint64_t *ret_freed_bytes, struct sbx_error *err)
{
	_cleanup_close_ int lock = store_lock(s, err);
	struct hexset images = { 0 }, blobs = { 0 };
	uint64_t freed = 0;
	int r = lock;

	if (r >= 0)
		r = gc_keep(s, &images, &blobs, err);
	if (r >= 0)
		r = gc_sweep(s, "images", &images, &freed, err);
	if (r >= 0 && !blobs.unknown)
		r = gc_sweep(s, "blobs/sha256", &blobs, &freed, err);
	free(images.v);
	free(blobs.v);
	if (ret_freed_bytes)
		*ret_freed_bytes = freed;
	return r;
}
