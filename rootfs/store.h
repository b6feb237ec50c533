/* SPDX-License-Identifier: MIT */
/*
 * store.h - the image store under a state dir (default /var/lib/sandboxd, mode 0700: host users
 * must not reach into images, CVE-2021-41091):
 *
 *   STATE/blobs/sha256/<hex>     content-addressed blobs: manifests, configs, layers (0600)
 *   STATE/images/<hex>/rootfs/   one unpacked rootfs per manifest digest (read-only for jobs)
 *   STATE/images/<hex>/image.json  what a job needs from the config: Env, WorkingDir; and size,
 *                                the platform, when it was pulled
 *   STATE/refs.json              canonical name -> manifest digest (the tag index)
 *   STATE/tmp/                   downloads and unpacks in progress (cleared when the store opens
 *                                with no pull running: an interrupted pull leaves nothing)
 *   STATE/lock                   flock: refs.json and gc; STATE/tmp/<hex>.lock: one download of
 *                                a blob / one unpack of an image at a time, shared by waiters
 *
 * Every write is a temporary file or directory renamed into place.
 */
#ifndef IMG_STORE_H
#define IMG_STORE_H

#include <limits.h>
#include <time.h>

#include "registry.h"

#define IMG_STATE_DIR "/var/lib/sandboxd"

struct img_store;

struct img_info {
	char name[600]; /* canonical reference, e.g. docker.io/library/python:3.12 */
	char digest[IMG_DIGEST_LEN + 1]; /* manifest digest: the image's identity */
	char rootfs[PATH_MAX];		 /* the unpacked rootfs directory */
	uint64_t size;			 /* unpacked bytes */
	time_t pulled;
	char platform[100];	/* "linux/amd64" */
	char **env;		/* the config's Env, NULL-terminated (may be empty) */
	char working_dir[1024]; /* the config's WorkingDir, "" for none */
};

void img_info_done(struct img_info *info);

struct img_pull_opts {
	struct img_registry_opts registry;
	struct img_platform platform;	 /* "" fields: this host's */
	struct img_unpack_limits limits; /* 0 fields: defaults */
	img_progress_fn progress;	 /* per blob: bytes done of total (may be NULL) */
	void *userdata;
};

int img_store_open(const char *state_dir, struct img_store **ret, struct sbx_error *err);
void img_store_close(struct img_store *s);

/*
 * Pull reference (a name as users type it) unless the store already has it: the manifest for
 * this platform, the config, every layer (digest verified while streaming, diff_id checked
 * against the config), unpacked in order into a new rootfs, renamed into place, tagged.
 */
int img_store_pull(struct img_store *s, const char *reference, const struct img_pull_opts *o,
		   struct img_info *ret, struct sbx_error *err);

/* The same from offline sources, tagged as `name`: an OCI image layout directory, or a
 * `docker save` tarball (layout.c). */
int img_store_import_layout(struct img_store *s, const char *dir, const char *name,
			    const struct img_pull_opts *o, struct img_info *ret,
			    struct sbx_error *err);
int img_store_import_archive(struct img_store *s, const char *tarball, const char *name,
			     const struct img_pull_opts *o, struct img_info *ret,
			     struct sbx_error *err);

/* A pulled image by reference (or by digest "sha256:..."): ENOENT when absent. */
int img_store_lookup(struct img_store *s, const char *reference, struct img_info *ret,
		     struct sbx_error *err);
/* Every tagged image (ret: malloc'd array of n, each to img_info_done, then free). */
int img_store_list(struct img_store *s, struct img_info **ret, size_t *ret_n,
		   struct sbx_error *err);
/* Untag; the image's rootfs and blobs stay until gc. ENOENT when absent. */
int img_store_remove(struct img_store *s, const char *reference, struct sbx_error *err);
/* Remove every rootfs no tag names and every blob no kept manifest references. */
int img_store_gc(struct img_store *s, uint64_t *ret_freed_bytes, struct sbx_error *err);

/* ---- for the sources (pull.c, layout.c): store.c's building blocks ----------------------- */

/* Copy a blob from fd (read to EOF) into the store, verifying its digest. */
int img_store_put_blob(struct img_store *s, const char *digest, int fd, struct sbx_error *err);
/*
 * A source's own temporaries: STATE/tmp/<name>, removed by the next open unless the lock of
 * its key (the name up to the first '.') is held. img_store_lock waits for that lock.
 */
int img_store_tmp_path(struct img_store *s, const char *name, char *buf, size_t size,
		       struct sbx_error *err);
int img_store_lock(struct img_store *s, const char *key, struct sbx_error *err);
void img_store_unlock(struct img_store *s, const char *key, int fd);

/* Path of a blob in the store: 0 when stored; -ENOENT (buf still filled: where it goes) when not. */
int img_store_blob_path(struct img_store *s, const char *digest, char *buf, size_t size,
			struct sbx_error *err);
/*
 * Given the manifest (bytes) whose config and layers are all stored: unpack the layers into a
 * new rootfs (diff_ids checked), write image.json, rename into place, tag `name`.
 */
int img_store_commit(struct img_store *s, const char *name, const char *manifest, size_t len,
		     const struct img_pull_opts *o, struct img_info *ret, struct sbx_error *err);

#endif
