/* SPDX-License-Identifier: MIT */
/*
 * layout.c - images from offline sources: an OCI image layout directory, and a `docker save`
 * tarball (the legacy manifest.json form, or the OCI layout Docker >= 25 writes inside it).
 *
 * Owns: reading those sources as hostile input and feeding store.c's building blocks with
 * them (img_store_put_blob for every blob, img_store_commit for the manifest). Every name
 * taken from index.json or manifest.json is checked before it becomes a path: digests with
 * img_digest_valid (CVE-2014-9358), docker save paths relative and without "..". The files of
 * a layout directory are opened one component at a time with O_NOFOLLOW, so a symlink planted
 * in a layout cannot turn a host file into an image layer. A tarball is never extracted: its
 * members are streamed with libarchive into memfds, one at a time, and a symlink member is
 * only ever resolved as a name inside the archive.
 * Must not: write anywhere but through store.c, trust a size or digest it did not check, log.
 */
#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "store.h"
#include "util.h"

#define MAX_DOC	       (4U << 20)    /* oci-layout, index.json, manifests, configs */
#define MAX_MEMBER     (16ULL << 30) /* one layer of a tarball */
#define MAX_NAME       256	     /* the member names we look for are short by construction */
#define MAX_LINKS      4096	     /* symlink members remembered from a tarball */
#define MAX_HOPS       8
#define MAX_DEPTH      4 /* index -> index -> manifest nesting */
#define COPY_CHUNK     (64 * 1024)
#define LAYOUT_VERSION "1.0.0"

#define MEDIA_CONFIG	 "application/vnd.oci.image.config.v1+json"
#define MEDIA_LAYER	 "application/vnd.oci.image.layer.v1.tar"
#define ANNOT_CONTAINERD "io.containerd.image.name"
#define ANNOT_REF_NAME	 "org.opencontainers.image.ref.name"

static const struct img_pull_opts no_opts;

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

/* ---- a source: the directory or the tarball behind one interface ------------------------------ */

struct source;

struct source_ops {
	/* A small file of the layout by its path ("index.json", "blobs/sha256/<hex>"). */
	int (*read_doc)(struct source *src, const char *path, char **ret, size_t *ret_len,
			struct sbx_error *err);
	/* Every blob named into the store, each checked against its descriptor. */
	int (*put_blobs)(struct source *src, struct img_store *s, const struct img_descriptor *d,
			 size_t n, struct sbx_error *err);
};

struct source {
	const struct source_ops *ops;
};

/* ---- small helpers ------------------------------------------------------------------------- */

/* The digest becomes a file name: "sha256:../../etc/passwd" must not (CVE-2014-9358). */
static int blob_path(const char *digest, char buf[MAX_NAME], struct sbx_error *err)
{
	if (!img_digest_valid(digest))
		return sbx_err_msg(err, EINVAL, "invalid digest \"%.80s\"", digest);
	snprintf(buf, MAX_NAME, "blobs/sha256/%s", digest + strlen("sha256:"));
	return 0;
}

static int mem_digest(const void *p, size_t len, char out[IMG_DIGEST_LEN + 1],
		      struct sbx_error *err)
{
	struct img_sha256 h = { 0 };
	int r = img_sha256_init(&h, err);

	if (r < 0)
		return r;
	img_sha256_update(&h, p, len);
	img_sha256_final(&h, out);
	return 0;
}

/* A whole regular file or memfd into a NUL-terminated buffer; EFBIG past max. */
static int read_fd_max(int fd, uint64_t max, char **ret, size_t *ret_len, struct sbx_error *err)
{
	int r = sbx_read_fd_all(fd, (size_t)max, ret, ret_len);

	if (r == -EFBIG)
		return sbx_err_msg(err, EFBIG, "larger than %llu bytes", (unsigned long long)max);
	return r < 0 ? sbx_err(err, -r, "read") : 0;
}

static int name_canonical(const char *name, char *buf, size_t size, struct sbx_error *err)
{
	struct img_ref ref;
	int r;

	if (!name || !name[0])
		return sbx_err_msg(err, EINVAL, "name needed: the source does not tag the image");
	r = img_ref_parse(name, &ref, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "name");
	r = img_ref_format(&ref, buf, size);
	return r < 0 ? sbx_err_msg(err, -r, "name \"%.80s\" too long", name) : 0;
}

/* "" fields of the options are this host's; a variant goes with the architecture it refines. */
static void want_platform(const struct img_pull_opts *o, struct img_platform *ret)
{
	img_platform_host(ret);
	if (o->platform.os[0])
		memcpy(ret->os, o->platform.os, sizeof(ret->os));
	if (o->platform.arch[0]) {
		memcpy(ret->arch, o->platform.arch, sizeof(ret->arch));
		memcpy(ret->variant, o->platform.variant, sizeof(ret->variant));
	}
}

static bool media_is_index(const char *media)
{
	return !strcmp(media, IMG_MEDIA_OCI_INDEX) || !strcmp(media, IMG_MEDIA_DOCKER_LIST);
}

static bool media_is_manifest(const char *media)
{
	return !strcmp(media, IMG_MEDIA_OCI_MANIFEST) || !strcmp(media, IMG_MEDIA_DOCKER_MANIFEST);
}

/* ---- index.json ---------------------------------------------------------------------------- */

/* An index entry we follow ourselves: an index or a manifest, small enough to read. */
static int entry_parse(const cJSON *e, struct img_descriptor *ret, struct sbx_error *err)
{
	const cJSON *media = cJSON_GetObjectItemCaseSensitive(e, "mediaType");
	const cJSON *digest = cJSON_GetObjectItemCaseSensitive(e, "digest");
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(e, "size");

	if (!cJSON_IsString(media) || strlen(media->valuestring) >= sizeof(ret->media_type) ||
	    (!media_is_index(media->valuestring) && !media_is_manifest(media->valuestring)))
		return sbx_err_msg(err, EPROTONOSUPPORT, "entry: not an index or image manifest");
	if (!cJSON_IsString(digest) || !img_digest_valid(digest->valuestring))
		return sbx_err_msg(err, EINVAL, "entry: invalid digest \"%.80s\"",
				   cJSON_IsString(digest) ? digest->valuestring : "");
	if (!cJSON_IsNumber(size) || !(size->valuedouble >= 0) ||
	    floor(size->valuedouble) != size->valuedouble)
		return sbx_err_msg(err, EINVAL, "entry %s: bad size", digest->valuestring);
	if (size->valuedouble > MAX_DOC)
		return sbx_err_msg(err, EFBIG, "entry %s: larger than %u bytes",
				   digest->valuestring, MAX_DOC);
	snprintf(ret->media_type, sizeof(ret->media_type), "%s", media->valuestring);
	memcpy(ret->digest, digest->valuestring, sizeof(ret->digest));
	ret->size = (uint64_t)size->valuedouble;
	return 0;
}

/* Does an entry's name annotation (containerd's full name, or the OCI ref name) name canon? */
static bool entry_named(const cJSON *e, const char *canon)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "annotations");
	static const char *const keys[] = { ANNOT_CONTAINERD, ANNOT_REF_NAME };
	const char *tag = strrchr(canon, ':');
	char buf[600];

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, keys[i]);

		if (!cJSON_IsString(v))
			continue;
		if (name_canonical(v->valuestring, buf, sizeof(buf), NULL) >= 0 &&
		    !strcmp(buf, canon))
			return true;
		if (tag && !strchr(tag, '/') && !strcmp(v->valuestring, tag + 1))
			return true;
	}
	return false;
}

/*
 * index.json without platforms (one image, as skopeo and Docker write it): its only entry, or
 * the one named like the tag we record. 1 (err untouched) when no entry lacks a platform.
 */
static int unplatformed_pick(const char *body, size_t len, const char *canon,
			     struct img_descriptor *ret, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *e, *first = NULL, *named = NULL;
	unsigned n = 0;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "manifests"))
	{
		if (cJSON_GetObjectItemCaseSensitive(e, "platform"))
			continue;
		n++;
		first = first ? first : e;
		if (!named && canon && entry_named(e, canon))
			named = e;
	}
	if (n == 1)
		return entry_parse(first, ret, err);
	if (named)
		return entry_parse(named, ret, err);
	if (n > 1)
		return sbx_err_msg(err, ENOENT, "%u images, none annotated as %s", n,
				   canon ? canon : "?");
	return 1;
}

static int top_pick(const char *body, size_t len, const struct img_platform *p, const char *canon,
		    struct img_descriptor *ret, struct sbx_error *err)
{
	struct sbx_error mine = { 0 };
	int r;

	r = img_index_pick(body, len, p, ret, &mine);
	if (r == -ENOENT)
		r = unplatformed_pick(body, len, canon, ret, err);
	else if (r < 0)
		return sbx_err_msg(err, -r, "%s", mine.msg);
	if (r == 1)
		return sbx_err_msg(err, ENOENT, "%s", mine.msg);
	return r;
}

/* ---- OCI layout, whatever holds it ------------------------------------------------------------ */

static int layout_check(struct source *src, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	_cleanup_free_ char *body = NULL;
	const cJSON *v;
	size_t len;
	int r;

	r = src->ops->read_doc(src, "oci-layout", &body, &len, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "oci-layout");
	root = cJSON_ParseWithLength(body, len);
	v = cJSON_GetObjectItemCaseSensitive(root, "imageLayoutVersion");
	if (!cJSON_IsString(v))
		return sbx_err_msg(err, EINVAL, "oci-layout: no imageLayoutVersion");
	if (strcmp(v->valuestring, LAYOUT_VERSION) != 0)
		return sbx_err_msg(err, EPROTONOSUPPORT, "oci-layout: version \"%.32s\" (%s is)",
				   v->valuestring, LAYOUT_VERSION);
	return 0;
}

/* A blob read whole and checked against its descriptor before anything parses it. */
static int doc_read_verified(struct source *src, const struct img_descriptor *d, char **ret,
			     size_t *ret_len, struct sbx_error *err)
{
	_cleanup_free_ char *body = NULL;
	char path[MAX_NAME], got[IMG_DIGEST_LEN + 1];
	size_t len;
	int r;

	r = blob_path(d->digest, path, err);
	if (r >= 0)
		r = src->ops->read_doc(src, path, &body, &len, err);
	if (r >= 0)
		r = mem_digest(body, len, got, err);
	if (r < 0)
		return r;
	if (len != d->size)
		return sbx_err_msg(err, EBADMSG, "%s: %zu bytes, its descriptor says %llu",
				   d->digest, len, (unsigned long long)d->size);
	if (strcmp(got, d->digest) != 0)
		return sbx_err_msg(err, EBADMSG, "%s: content does not match its digest",
				   d->digest);
	*ret = TAKE_PTR(body);
	*ret_len = len;
	return 0;
}

/* Down the indexes to this platform's image manifest; d is the descriptor followed. */
static int manifest_resolve(struct source *src, struct img_descriptor *d,
			    const struct img_platform *p, char **ret, size_t *ret_len,
			    struct sbx_error *err)
{
	char index[IMG_DIGEST_LEN + 1];
	int r;

	for (unsigned depth = 0; depth < MAX_DEPTH; depth++) {
		_cleanup_free_ char *body = NULL;
		size_t len = 0;

		r = doc_read_verified(src, d, &body, &len, err);
		if (r < 0)
			return r;
		if (!media_is_index(d->media_type)) {
			*ret = TAKE_PTR(body);
			*ret_len = len;
			return 0;
		}
		memcpy(index, d->digest, sizeof(index));
		r = img_index_pick(body, len, p, d, err);
		if (r < 0)
			return sbx_err_prefix(err, r, "index %s", index);
	}
	return sbx_err_msg(err, ELOOP, "indexes nested deeper than %d", MAX_DEPTH);
}

/* Config and layers put by the source; commit stores the manifest itself and tags it. */
static int manifest_store(struct source *src, struct img_store *s, const char *canon,
			  const char *digest, const char *body, size_t len,
			  const struct img_pull_opts *o, struct img_info *ret,
			  struct sbx_error *err)
{
	_cleanup_free_ struct img_manifest *m = malloc(sizeof(*m));
	_cleanup_free_ struct img_descriptor *d = NULL;
	int r;

	if (!m)
		return sbx_err(err, ENOMEM, "manifest");
	r = img_manifest_parse(body, len, m, err);
	if (r < 0)
		return r;
	d = calloc(m->n_layers + 1, sizeof(*d));
	if (!d)
		return sbx_err(err, ENOMEM, "manifest");
	d[0] = m->config;
	memcpy(d + 1, m->layers, m->n_layers * sizeof(*d));
	r = src->ops->put_blobs(src, s, d, m->n_layers + 1, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "manifest %s", digest);
	return img_store_commit(s, canon, body, len, o, ret, err);
}

static int oci_import(struct source *src, struct img_store *s, const char *canon,
		      const struct img_pull_opts *o, struct img_info *ret, struct sbx_error *err)
{
	_cleanup_free_ char *index = NULL, *body = NULL;
	struct img_descriptor d;
	struct img_platform p;
	size_t len;
	int r;

	r = layout_check(src, err);
	if (r < 0)
		return r;
	r = src->ops->read_doc(src, "index.json", &index, &len, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "index.json");
	want_platform(o, &p);
	r = top_pick(index, len, &p, canon, &d, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "index.json");
	r = manifest_resolve(src, &d, &p, &body, &len, err);
	if (r < 0)
		return r;
	return manifest_store(src, s, canon, d.digest, body, len, o, ret, err);
}

/* ---- a layout directory -------------------------------------------------------------------- */

struct dir_source {
	struct source src; /* first: the ops see a struct source * */
	int dir_fd;
};

/*
 * path under dir_fd, one component at a time, never through a symlink: a layout is hostile,
 * and "blobs/sha256/<hex> -> /etc/shadow" must not become an image. Only regular files.
 */
static int open_nofollow(int dir_fd, const char *path, struct sbx_error *err)
{
	char buf[MAX_NAME], *p, *slash;
	_cleanup_close_ int cur = -1, fd = -1;
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf; (slash = strchr(p, '/')); p = slash + 1) {
		*slash = '\0';
		fd = openat(cur >= 0 ? cur : dir_fd, p,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return sbx_err(err, errno, "%s: %s", path, p);
		closep(&cur);
		cur = TAKE_FD(fd);
	}
	/* O_NONBLOCK: a FIFO planted as a blob fails below instead of hanging the import */
	fd = openat(cur >= 0 ? cur : dir_fd, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		return sbx_err_msg(err, ELOOP, "%s: a symlink, refused", path);
	if (fd < 0)
		return sbx_err(err, errno, "%s", path);
	if (fstat(fd, &st) < 0)
		return sbx_err(err, errno, "%s", path);
	if (!S_ISREG(st.st_mode))
		return sbx_err_msg(err, EINVAL, "%s: not a regular file", path);
	return TAKE_FD(fd);
}

static int dir_read_doc(struct source *src, const char *path, char **ret, size_t *ret_len,
			struct sbx_error *err)
{
	struct dir_source *d = (struct dir_source *)src;
	_cleanup_close_ int fd = open_nofollow(d->dir_fd, path, err);
	int r;

	if (fd < 0)
		return fd;
	r = read_fd_max(fd, MAX_DOC, ret, ret_len, err);
	return r < 0 ? sbx_err_prefix(err, r, "%s", path) : 0;
}

static int dir_put_one(struct dir_source *d, struct img_store *s, const struct img_descriptor *b,
		       struct sbx_error *err)
{
	_cleanup_close_ int fd = -1;
	char path[MAX_NAME];
	struct stat st;
	int r;

	r = blob_path(b->digest, path, err);
	if (r < 0)
		return r;
	fd = open_nofollow(d->dir_fd, path, err);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return sbx_err(err, errno, "%s", path);
	if ((uint64_t)st.st_size != b->size)
		return sbx_err_msg(err, EBADMSG, "%s: %llu bytes, its descriptor says %llu",
				   b->digest, (unsigned long long)st.st_size,
				   (unsigned long long)b->size);
	return img_store_put_blob(s, b->digest, fd, err);
}

static int dir_put_blobs(struct source *src, struct img_store *s, const struct img_descriptor *b,
			 size_t n, struct sbx_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int r = dir_put_one((struct dir_source *)src, s, &b[i], err);

		if (r < 0)
			return r;
	}
	return 0;
}

static const struct source_ops dir_ops = {
	.read_doc = dir_read_doc,
	.put_blobs = dir_put_blobs,
};

int img_store_import_layout(struct img_store *s, const char *dir, const char *name,
			    const struct img_pull_opts *o, struct img_info *ret,
			    struct sbx_error *err)
{
	struct dir_source d = { .src.ops = &dir_ops, .dir_fd = -1 };
	_cleanup_close_ int fd = -1;
	char canon[600];
	int r;

	r = name_canonical(name, canon, sizeof(canon), err);
	if (r < 0)
		return r;
	/* the directory itself is the operator's path: it may be reached through symlinks */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sbx_err(err, errno, "%s", dir);
	d.dir_fd = fd;
	r = oci_import(&d.src, s, canon, o ? o : &no_opts, ret, err);
	return r < 0 ? sbx_err_prefix(err, r, "import %s", dir) : r;
}

/* ---- a docker save tarball: members ------------------------------------------------------------ */

enum compression { COMP_NONE, COMP_GZIP, COMP_ZSTD };

struct link {
	char name[MAX_NAME];
	char target[MAX_NAME]; /* resolved against the link's directory, inside the archive */
};

/* A member we want from the archive, and what reading it found. */
struct want {
	char name[MAX_NAME];
	uint64_t max;
	const struct img_descriptor *expect; /* NULL: digest unknown (legacy docker save) */
	bool put;			     /* into the store as read; else kept in fd */
	bool found;
	int fd;
	uint64_t size;
	char digest[IMG_DIGEST_LEN + 1];
	enum compression comp;
};

struct tar_source {
	struct source src; /* first: the ops see a struct source * */
	const char *path;
	struct link *links;
	size_t n_links;
	bool links_known;   /* after the first pass */
	struct want top[3]; /* oci-layout, index.json, manifest.json: read by the first pass */
};

static void wants_close(struct want *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		closep(&w[i].fd);
}

/* Fold "." and ".." of a relative name; -EINVAL when it is empty or leaves the root. */
static int path_fold(char *in, char out[MAX_NAME])
{
	size_t len = 0, n;
	char *save = NULL, *c, *slash;

	out[0] = '\0';
	for (c = strtok_r(in, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (!len)
				return -EINVAL;
			slash = strrchr(out, '/');
			len = slash ? (size_t)(slash - out) : 0;
			out[len] = '\0';
			continue;
		}
		n = strlen(c);
		if (len + 1 + n >= MAX_NAME)
			return -ENAMETOOLONG;
		len += (size_t)sprintf(out + len, "%s%s", len ? "/" : "", c);
	}
	return len ? 0 : -EINVAL;
}

/*
 * Legacy docker save writes a repeated layer as a symlink "<id>/layer.tar ->
 * ../<other>/layer.tar". Only its name is resolved, inside the archive: nothing is extracted,
 * so no symlink here ever reaches the host. Absolute or escaping targets are ignored.
 */
static int link_add(struct tar_source *t, const char *name, const char *target,
		    struct sbx_error *err)
{
	const char *slash = strrchr(name, '/');
	char joined[2 * MAX_NAME];
	struct link *l;
	int n;

	if (!target || target[0] == '/' || strlen(name) >= MAX_NAME)
		return 0;
	n = snprintf(joined, sizeof(joined), "%.*s%s", slash ? (int)(slash - name + 1) : 0, name,
		     target);
	if (n < 0 || (size_t)n >= sizeof(joined))
		return 0;
	if (t->n_links >= MAX_LINKS)
		return sbx_err_msg(err, E2BIG, "more than %d symlinks", MAX_LINKS);
	if (!t->links) {
		t->links = calloc(MAX_LINKS, sizeof(*t->links));
		if (!t->links)
			return sbx_err(err, ENOMEM, "symlinks");
	}
	l = &t->links[t->n_links];
	if (path_fold(joined, l->target) < 0)
		return 0;
	snprintf(l->name, sizeof(l->name), "%s", name);
	t->n_links++;
	return 0;
}

static int link_resolve(const struct tar_source *t, const char *name, char out[MAX_NAME],
			struct sbx_error *err)
{
	snprintf(out, MAX_NAME, "%s", name);
	for (unsigned hops = 0; hops <= MAX_HOPS; hops++) {
		size_t i;

		for (i = t->n_links; i > 0; i--) /* the last of duplicates wins, as in extraction */
			if (!strcmp(t->links[i - 1].name, out))
				break;
		if (i == 0)
			return 0;
		snprintf(out, MAX_NAME, "%s", t->links[i - 1].target);
	}
	return sbx_err_msg(err, ELOOP, "%s: symlinks nested deeper than %d", name, MAX_HOPS);
}

static enum compression sniff(const unsigned char *p, size_t n)
{
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return COMP_GZIP;
	if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return COMP_ZSTD;
	return COMP_NONE;
}

static int tar_err(struct archive *a, struct sbx_error *err, const char *what)
{
	const char *msg = archive_error_string(a);

	return sbx_err_msg(err, EBADMSG, "%s: %s", what, msg ? msg : "unreadable archive");
}

/* The current member into fd, hashed, capped, its compression noted. */
static int member_copy(struct archive *a, int fd, struct want *w, struct sbx_error *err)
{
	_cleanup_(img_sha256_done) struct img_sha256 h = { 0 };
	_cleanup_free_ unsigned char *buf = malloc(COPY_CHUNK); /* HTTP threads: small stacks */
	la_ssize_t n;
	int r;

	if (!buf)
		return sbx_err(err, ENOMEM, "read buffer");
	r = img_sha256_init(&h, err);
	if (r < 0)
		return r;
	while ((n = archive_read_data(a, buf, COPY_CHUNK)) > 0) {
		if ((uint64_t)n > w->max - w->size)
			return sbx_err_msg(err, EFBIG, "larger than %llu bytes",
					   (unsigned long long)w->max);
		if (w->size == 0)
			w->comp = sniff(buf, (size_t)n);
		img_sha256_update(&h, buf, (size_t)n);
		r = sbx_write_all(fd, buf, (size_t)n);
		if (r < 0)
			return sbx_err(err, -r, "memfd");
		w->size += (uint64_t)n;
	}
	if (n < 0)
		return tar_err(a, err, "data");
	img_sha256_final(&h, w->digest);
	return 0;
}

static int want_check(const struct want *w, struct sbx_error *err)
{
	if (!w->expect)
		return 0;
	if (w->size != w->expect->size)
		return sbx_err_msg(err, EBADMSG, "%llu bytes, its descriptor says %llu",
				   (unsigned long long)w->size,
				   (unsigned long long)w->expect->size);
	if (strcmp(w->digest, w->expect->digest) != 0)
		return sbx_err_msg(err, EBADMSG, "content does not match %s", w->expect->digest);
	return 0;
}

static int want_read(struct archive *a, struct want *w, struct img_store *s, struct sbx_error *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	/* two members of one name: which one "is" the file depends on the reader; refuse */
	if (w->found)
		return sbx_err_msg(err, EINVAL, "member appears twice");
	w->found = true;
	fd = memfd_create("sbx-member", MFD_CLOEXEC);
	if (fd < 0)
		return sbx_err(err, errno, "memfd");
	r = member_copy(a, fd, w, err);
	if (r >= 0)
		r = want_check(w, err);
	if (r < 0)
		return r;
	if (!w->put) {
		w->fd = TAKE_FD(fd);
		return 0;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		return sbx_err(err, errno, "memfd");
	return img_store_put_blob(s, w->digest, fd, err);
}

static const char *member_name(struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);

	while (name && name[0] == '.' && name[1] == '/')
		name += 2;
	return name && name[0] ? name : NULL;
}

static int tar_entry(struct tar_source *t, struct archive *a, struct archive_entry *e,
		     struct want *w, size_t n, struct img_store *s, struct sbx_error *err)
{
	const char *name = member_name(e);
	int r;

	if (!name)
		return 0;
	if (archive_entry_filetype(e) == AE_IFLNK)
		return t->links_known ? 0 : link_add(t, name, archive_entry_symlink(e), err);
	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(w[i].name, name) != 0)
			continue;
		r = want_read(a, &w[i], s, err);
		return r < 0 ? sbx_err_prefix(err, r, "%s", name) : 0;
	}
	return 0;
}

static int tar_open(const char *path, struct archive **ret, struct sbx_error *err)
{
	_cleanup_(archive_freep) struct archive *a = archive_read_new();

	if (!a)
		return sbx_err(err, ENOMEM, "libarchive");
	/* ARCHIVE_WARN would mean "through an external program": refused, CVE-2014-9357 */
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK)
		return sbx_err_msg(err, ENOTSUP, "libarchive without in-process gzip and zstd");
	if (archive_read_open_filename(a, path, COPY_CHUNK) != ARCHIVE_OK)
		return tar_err(a, err, path);
	*ret = TAKE_PTR(a);
	return 0;
}

/*
 * One pass over the archive: the wanted members read (and put, if so marked), symlinks
 * remembered on the first pass (names are resolved before any member is read). Passes skip what they do not want: on an uncompressed
 * tarball that is a seek, not a read.
 */
static int tar_scan(struct tar_source *t, struct want *w, size_t n, struct img_store *s,
		    struct sbx_error *err)
{
	_cleanup_(archive_freep) struct archive *a = NULL;
	struct archive_entry *e;
	int r;

	r = tar_open(t->path, &a, err);
	if (r < 0)
		return r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		/* one compression at most: gzip inside gzip only multiplies a bomb */
		if (archive_filter_count(a) > 2)
			return sbx_err_msg(err, EBADMSG, "nested compression");
		r = tar_entry(t, a, e, w, n, s, err);
		if (r < 0)
			return r;
	}
	return r == ARCHIVE_EOF ? 0 : tar_err(a, err, "read");
}

static int wants_found(const struct want *w, size_t n, struct sbx_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (!w[i].found)
			return sbx_err_msg(err, ENOENT, "%s: not in the archive", w[i].name);
	return 0;
}

/* ---- a docker save tarball: its OCI layout ------------------------------------------------------ */

static int tar_read_doc(struct source *src, const char *path, char **ret, size_t *ret_len,
			struct sbx_error *err)
{
	struct tar_source *t = (struct tar_source *)src;
	struct want w = { .max = MAX_DOC, .fd = -1 };
	int r;

	/* the first pass looked for these already */
	for (size_t i = 0; i < ELEMENTSOF(t->top); i++) {
		if (strcmp(t->top[i].name, path) != 0)
			continue;
		if (!t->top[i].found)
			return sbx_err_msg(err, ENOENT, "%s: not in the archive", path);
		return read_fd_max(t->top[i].fd, MAX_DOC, ret, ret_len, err);
	}
	r = link_resolve(t, path, w.name, err);
	if (r >= 0)
		r = tar_scan(t, &w, 1, NULL, err);
	if (r >= 0)
		r = wants_found(&w, 1, err);
	if (r >= 0)
		r = read_fd_max(w.fd, MAX_DOC, ret, ret_len, err);
	closep(&w.fd);
	return r < 0 ? sbx_err_prefix(err, r, "%s", path) : 0;
}

static bool wants_have(const struct want *w, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(w[i].name, name))
			return true;
	return false;
}

/* Blobs of the OCI layout inside: one pass for all of them, each put as soon as read. */
static int tar_put_blobs(struct source *src, struct img_store *s, const struct img_descriptor *d,
			 size_t n, struct sbx_error *err)
{
	struct tar_source *t = (struct tar_source *)src;
	_cleanup_free_ struct want *w = calloc(n, sizeof(*w));
	char path[MAX_NAME];
	size_t k = 0;
	int r;

	if (!w)
		return sbx_err(err, ENOMEM, "blobs");
	for (size_t i = 0; i < n; i++) {
		r = blob_path(d[i].digest, path, err);
		if (r >= 0)
			r = link_resolve(t, path, w[k].name, err);
		if (r < 0)
			return r;
		if (wants_have(w, k, w[k].name))
			continue; /* the same blob twice (identical layers): one read */
		w[k].max = d[i].size < MAX_MEMBER ? d[i].size : MAX_MEMBER;
		w[k].expect = &d[i];
		w[k].put = true;
		w[k++].fd = -1;
	}
	r = tar_scan(t, w, k, s, err);
	return r < 0 ? r : wants_found(w, k, err);
}

static const struct source_ops tar_ops = {
	.read_doc = tar_read_doc,
	.put_blobs = tar_put_blobs,
};

/* ---- a docker save tarball: manifest.json ------------------------------------------------------ */

#define PATH_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-/"

struct legacy {
	char config[MAX_NAME];
	char layers[IMG_MAX_LAYERS][MAX_NAME];
	unsigned n_layers;
	char tag[600]; /* the entry's first RepoTags, "" for none */
};

/*
 * A path in manifest.json names a member, but is held to what a file name would need: relative,
 * no "..", "." or empty components, plain characters. A reader that extracted would follow
 * "../../etc/passwd" out of its directory (CVE-2014-9358's kind); we refuse it outright.
 */
static bool member_path_valid(const char *p)
{
	size_t len = strlen(p), n;

	if (!len || len >= MAX_NAME || strspn(p, PATH_CHARS) != len)
		return false;
	for (;;) {
		n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!p[n])
			return true;
		p += n + 1;
	}
}

static int legacy_path(const cJSON *v, const char *what, unsigned i, char out[MAX_NAME],
		       struct sbx_error *err)
{
	if (!cJSON_IsString(v))
		return sbx_err_msg(err, EINVAL, "%s[%u]: not a string", what, i);
	if (!member_path_valid(v->valuestring))
		return sbx_err_msg(err, EINVAL, "%s[%u]: unsafe path \"%.80s\"", what, i,
				   v->valuestring);
	memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

/* The image tagged canon when the archive holds several, else the first. */
static const cJSON *legacy_entry(const cJSON *root, const char *canon)
{
	const cJSON *e, *tag;
	char buf[600];

	if (!canon)
		return cJSON_GetArrayItem(root, 0);
	cJSON_ArrayForEach(e, root)
	{
		cJSON_ArrayForEach(tag, cJSON_GetObjectItemCaseSensitive(e, "RepoTags"))
		{
			if (cJSON_IsString(tag) &&
			    name_canonical(tag->valuestring, buf, sizeof(buf), NULL) >= 0 &&
			    !strcmp(buf, canon))
				return e;
		}
	}
	return cJSON_GetArrayItem(root, 0);
}

static int legacy_layers(const cJSON *layers, struct legacy *ret, struct sbx_error *err)
{
	const cJSON *v;
	int r;

	if (!cJSON_IsArray(layers))
		return sbx_err_msg(err, EINVAL, "\"Layers\" missing");
	if (cJSON_GetArraySize(layers) > IMG_MAX_LAYERS)
		return sbx_err_msg(err, E2BIG, "%d layers, at most %d are supported",
				   cJSON_GetArraySize(layers), IMG_MAX_LAYERS);
	cJSON_ArrayForEach(v, layers)
	{
		r = legacy_path(v, "Layers", ret->n_layers, ret->layers[ret->n_layers], err);
		if (r < 0)
			return r;
		ret->n_layers++;
	}
	return 0;
}

static int legacy_parse(const char *body, size_t len, const char *canon, struct legacy *ret,
			struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *e, *tag;
	int r;

	if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) < 1)
		return sbx_err_msg(err, EINVAL, "manifest.json: not a list of images");
	e = legacy_entry(root, canon);
	r = legacy_path(cJSON_GetObjectItemCaseSensitive(e, "Config"), "Config", 0, ret->config,
			err);
	if (r >= 0)
		r = legacy_layers(cJSON_GetObjectItemCaseSensitive(e, "Layers"), ret, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "manifest.json");
	tag = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "RepoTags"), 0);
	if (cJSON_IsString(tag))
		snprintf(ret->tag, sizeof(ret->tag), "%s", tag->valuestring);
	return 0;
}

/* ---- a docker save tarball: the legacy form -------------------------------------------------- */

static const char *const layer_media[] = {
	[COMP_NONE] = MEDIA_LAYER,
	[COMP_GZIP] = MEDIA_LAYER "+gzip",
	[COMP_ZSTD] = MEDIA_LAYER "+zstd",
};

/* want 0 is the config; slot[i] is the want of layer i - 1 (identical layers share one). */
static int legacy_wants(const struct tar_source *t, const struct legacy *l, struct want *w,
			unsigned *slot, size_t *ret_n, struct sbx_error *err)
{
	char name[MAX_NAME];
	size_t n = 0, j;
	int r;

	for (unsigned i = 0; i <= l->n_layers; i++) {
		r = link_resolve(t, i ? l->layers[i - 1] : l->config, name, err);
		if (r < 0)
			return r;
		for (j = 0; j < n && strcmp(w[j].name, name) != 0; j++)
			;
		slot[i] = (unsigned)j;
		if (j < n)
			continue;
		memcpy(w[n].name, name, sizeof(name));
		w[n].max = i ? MAX_MEMBER : MAX_DOC;
		w[n].put = true;
		w[n++].fd = -1;
	}
	*ret_n = n;
	return 0;
}

static cJSON *descriptor_json(const char *media, const struct want *w)
{
	cJSON *d = cJSON_CreateObject();

	if (!d || !cJSON_AddStringToObject(d, "mediaType", media) ||
	    !cJSON_AddStringToObject(d, "digest", w->digest) ||
	    !cJSON_AddNumberToObject(d, "size", (double)w->size)) {
		cJSON_Delete(d);
		return NULL;
	}
	return d;
}

/* The OCI manifest docker save did not write: blobs by the sha256 of what the archive holds. */
static int legacy_manifest(const struct want *w, const unsigned *slot, unsigned n_layers,
			   char **ret, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *m = cJSON_CreateObject();
	cJSON *layers, *d;

	if (!m || !cJSON_AddNumberToObject(m, "schemaVersion", 2) ||
	    !cJSON_AddStringToObject(m, "mediaType", IMG_MEDIA_OCI_MANIFEST))
		return sbx_err(err, ENOMEM, "manifest");
	d = descriptor_json(MEDIA_CONFIG, &w[slot[0]]);
	if (!cJSON_AddItemToObject(m, "config", d)) {
		cJSON_Delete(d);
		return sbx_err(err, ENOMEM, "manifest");
	}
	layers = cJSON_AddArrayToObject(m, "layers");
	for (unsigned i = 1; layers && i <= n_layers; i++) {
		d = descriptor_json(layer_media[w[slot[i]].comp], &w[slot[i]]);
		if (!cJSON_AddItemToArray(layers, d)) {
			cJSON_Delete(d);
			layers = NULL;
		}
	}
	*ret = layers ? cJSON_PrintUnformatted(m) : NULL;
	return *ret ? 0 : sbx_err(err, ENOMEM, "manifest");
}

static int legacy_import(struct tar_source *t, struct img_store *s, const struct legacy *l,
			 const char *canon, const struct img_pull_opts *o, struct img_info *ret,
			 struct sbx_error *err)
{
	_cleanup_free_ struct want *w = calloc(l->n_layers + 1, sizeof(*w));
	_cleanup_free_ unsigned *slot = calloc(l->n_layers + 1, sizeof(*slot));
	_cleanup_free_ char *body = NULL;
	size_t n;
	int r;

	if (!w || !slot)
		return sbx_err(err, ENOMEM, "manifest.json");
	r = legacy_wants(t, l, w, slot, &n, err);
	if (r >= 0)
		r = tar_scan(t, w, n, s, err);
	if (r >= 0)
		r = wants_found(w, n, err);
	if (r >= 0)
		r = legacy_manifest(w, slot, l->n_layers, &body, err);
	if (r < 0)
		return r;
	return img_store_commit(s, canon, body, strlen(body), o, ret, err);
}

/* ---- a docker save tarball ------------------------------------------------------------------ */

static void tar_source_done(struct tar_source *t)
{
	wants_close(t->top, ELEMENTSOF(t->top));
	free(t->links);
}

/* The first pass: the top-level documents, and every symlink member's name. */
static int tar_first_pass(struct tar_source *t, struct sbx_error *err)
{
	static const char *const names[] = { "oci-layout", "index.json", "manifest.json" };
	int r;

	for (size_t i = 0; i < ELEMENTSOF(t->top); i++) {
		snprintf(t->top[i].name, sizeof(t->top[i].name), "%s", names[i]);
		t->top[i].max = MAX_DOC;
		t->top[i].fd = -1;
	}
	r = tar_scan(t, t->top, ELEMENTSOF(t->top), NULL, err);
	t->links_known = true;
	return r;
}

/* docker save's own tag when the operator gave none, canonical either way. */
static int archive_name(struct tar_source *t, const char *name, struct legacy *l, char *canon,
			size_t size, struct sbx_error *err)
{
	_cleanup_free_ char *body = NULL;
	struct sbx_error mine = { 0 };
	size_t len;
	int r;

	if (name) {
		r = name_canonical(name, canon, size, err);
		if (r < 0)
			return r;
	}
	if (t->top[2].found) {
		r = read_fd_max(t->top[2].fd, MAX_DOC, &body, &len, err);
		if (r < 0)
			return sbx_err_prefix(err, r, "manifest.json");
		/* its errors matter only when it is what we import from (no index.json) */
		r = legacy_parse(body, len, name ? canon : NULL, l, &mine);
		if (r < 0 && !t->top[1].found)
			return sbx_err_msg(err, -r, "%s", mine.msg);
	}
	return name ? 0 : name_canonical(l->tag, canon, size, err);
}

int img_store_import_archive(struct img_store *s, const char *tarball, const char *name,
			     const struct img_pull_opts *o, struct img_info *ret,
			     struct sbx_error *err)
{
	struct tar_source t = { .src.ops = &tar_ops, .path = tarball };
	_cleanup_free_ struct legacy *l = calloc(1, sizeof(*l));
	char canon[600];
	int r;

	o = o ? o : &no_opts;
	r = l ? tar_first_pass(&t, err) : sbx_err(err, ENOMEM, "import");
	if (r >= 0)
		r = archive_name(&t, name, l, canon, sizeof(canon), err);
	if (r >= 0 && t.top[1].found) /* Docker >= 25: an OCI layout inside; prefer it */
		r = oci_import(&t.src, s, canon, o, ret, err);
	else if (r >= 0 && t.top[2].found)
		r = legacy_import(&t, s, l, canon, o, ret, err);
	else if (r >= 0)
		r = sbx_err_msg(err, EINVAL,
				"neither index.json nor manifest.json: not docker save");
	tar_source_done(&t);
	return r < 0 ? sbx_err_prefix(err, r, "import %s", tarball) : r;
}
