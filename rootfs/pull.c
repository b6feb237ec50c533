/* SPDX-License-Identifier: MIT */
/*
 * pull.c - img_store_pull: a reference -> its manifest (the platform's, when the registry
 * answers with an index) -> config and layers downloaded into the store -> img_store_commit.
 *
 * Owns: the order of a pull and the sharing of downloads: STATE/tmp/<hex>.lock makes two pulls
 * of the same blob, in any processes, download it once; the second waits, then finds it stored.
 * Must not: write outside STATE/tmp and STATE/blobs (store.c unpacks, publishes and tags), log,
 * or exit. It reaches the store's directories through the layout store.h documents: the path
 * img_store_blob_path gives is STATE/blobs/sha256/<hex>.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "store.h"
#include "util.h"

struct pull {
	struct img_store *s;
	struct img_registry *reg;
	const struct img_pull_opts *o;
	struct img_ref ref;
	char name[600]; /* canonical */
	char *body;	/* the image manifest */
	size_t len;
	char media[128];
	char digest[IMG_DIGEST_LEN + 1];
	struct img_manifest m;
};

static void pull_free(struct pull *p)
{
	if (!p)
		return;
	img_registry_close(p->reg);
	free(p->body);
	free(p);
}

static void pull_freep(struct pull **p)
{
	pull_free(*p);
}

static const char *hex_of(const char *digest)
{
	return digest + strlen("sha256:");
}

/* Download into STATE/tmp/<hex>.part, then rename into the store. Called with the lock held. */
static int download(struct pull *p, const struct img_descriptor *d, const char *blob,
		    struct sbx_error *err)
{
	char part[PATH_MAX], name[IMG_DIGEST_LEN + 8];
	_cleanup_close_ int fd = -1;
	int r;

	snprintf(name, sizeof(name), "%s.part", hex_of(d->digest));
	r = img_store_tmp_path(p->s, name, part, sizeof(part), err);
	if (r < 0)
		return r;
	fd = open(part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sbx_err(err, errno, "create %s", part);
	r = img_registry_blob(p->reg, d->digest, d->size, fd, p->o->progress, p->o->userdata, err);
	if (r >= 0 && fsync(fd) < 0)
		r = sbx_err(err, errno, "fsync %s", part);
	/* the registry client verified size and digest while the bytes streamed into this very
	 * file (fresh and truncated): a rename stores it without reading it a second time */
	if (r >= 0 && rename(part, blob) < 0)
		r = sbx_err(err, errno, "store %s", d->digest);
	if (r < 0)
		unlink(part);
	return r;
}

static int fetch_blob(struct pull *p, const struct img_descriptor *d, struct sbx_error *err)
{
	const char *hex = hex_of(d->digest);
	char blob[PATH_MAX];
	int lock, r;

	r = img_store_blob_path(p->s, d->digest, blob, sizeof(blob), err);
	if (r != -ENOENT)
		return r;
	lock = img_store_lock(p->s, hex, err);
	if (lock < 0)
		return lock;
	/* a pull we waited for may have stored it meanwhile */
	r = img_store_blob_path(p->s, d->digest, blob, sizeof(blob), err);
	if (r == -ENOENT)
		r = download(p, d, blob, err);
	img_store_unlock(p->s, hex, lock);
	return r < 0 ? sbx_err_prefix(err, r, "blob %s", d->digest) : 0;
}

/* ---- the manifest -------------------------------------------------------------------------- */

static bool is_index(const char *media)
{
	return strcmp(media, IMG_MEDIA_OCI_INDEX) == 0 || strcmp(media, IMG_MEDIA_DOCKER_LIST) == 0;
}

/* The requested platform, its empty fields taken from this host's. */
static void want_platform(const struct img_platform *req, struct img_platform *ret)
{
	struct img_platform host;

	img_platform_host(&host);
	*ret = *req;
	if (!ret->os[0])
		memcpy(ret->os, host.os, sizeof(ret->os));
	if (!ret->arch[0]) {
		memcpy(ret->arch, host.arch, sizeof(ret->arch));
		if (!ret->variant[0])
			memcpy(ret->variant, host.variant, sizeof(ret->variant));
	}
}

static int fetch_manifest(struct pull *p, const char *reference, struct sbx_error *err)
{
	free(p->body);
	p->body = NULL;
	return img_registry_manifest(p->reg, reference, &p->body, &p->len, p->media, p->digest,
				     err);
}

static int resolve_manifest(struct pull *p, struct sbx_error *err)
{
	struct img_descriptor desc;
	struct img_platform plat;
	int r;

	r = fetch_manifest(p, p->ref.digest[0] ? p->ref.digest : p->ref.tag, err);
	if (r < 0 || !is_index(p->media))
		return r;
	want_platform(&p->o->platform, &plat);
	r = img_index_pick(p->body, p->len, &plat, &desc, err);
	if (r < 0)
		return r;
	r = fetch_manifest(p, desc.digest, err);
	if (r >= 0 && is_index(p->media))
		return sbx_err_msg(err, EBADMSG, "index %s points to another index", desc.digest);
	return r;
}

/* ---- the pull ------------------------------------------------------------------------------ */

static int pull_new(struct img_store *s, const char *reference, const struct img_pull_opts *o,
		    struct pull **ret, struct sbx_error *err)
{
	_cleanup_(pull_freep) struct pull *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return sbx_err(err, ENOMEM, "pull");
	p->s = s;
	p->o = o;
	r = img_ref_parse(reference ? reference : "", &p->ref, err);
	if (r < 0)
		return r;
	if (img_ref_format(&p->ref, p->name, sizeof(p->name)) < 0)
		return sbx_err_msg(err, ENAMETOOLONG, "reference too long");
	*ret = TAKE_PTR(p);
	return 0;
}

static int download_all(struct pull *p, struct sbx_error *err)
{
	int r = img_manifest_parse(p->body, p->len, &p->m, err);

	if (r < 0)
		return sbx_err_prefix(err, r, "manifest %s", p->digest);
	r = fetch_blob(p, &p->m.config, err);
	for (unsigned i = 0; r >= 0 && i < p->m.n_layers; i++)
		r = fetch_blob(p, &p->m.layers[i], err);
	return r;
}

int img_store_pull(struct img_store *s, const char *reference, const struct img_pull_opts *o,
		   struct img_info *ret, struct sbx_error *err)
{
	static const struct img_pull_opts defaults;
	_cleanup_(pull_freep) struct pull *p = NULL;
	int r;

	if (!o)
		o = &defaults;
	r = pull_new(s, reference, o, &p, err);
	if (r < 0)
		return r;
	/* pulled once: a tag (or digest) the store already has needs no network */
	if (img_store_lookup(s, p->name, ret, NULL) == 0)
		return 0;
	r = img_registry_open(&p->ref, &o->registry, &p->reg, err);
	if (r >= 0)
		r = resolve_manifest(p, err);
	if (r >= 0)
		r = download_all(p, err);
	/* commit also stores the manifest itself, from memory, as a blob */
	if (r >= 0)
		r = img_store_commit(s, p->name, p->body, p->len, o, ret, err);
	return r < 0 ? sbx_err_prefix(err, r, "pull %s", p->name) : 0;
}
