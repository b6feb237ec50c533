/* SPDX-License-Identifier: MIT */
/*
 * registry.h - the registry API v2 client (libcurl) and the JSON documents it fetches.
 *
 * registry.c: anonymous bearer tokens from the WWW-Authenticate challenge (Docker Hub's flow),
 * basic and token auth with credentials from a Docker config.json ("auths": base64 user:pass
 * per registry), HTTPS with the system CAs or a given CA file, plain HTTP only for loopback
 * registries (or when allowed), blob redirects, retries with backoff on 429/5xx and transport
 * errors, registry mirrors (tried in order, then the origin), clear errors for 401/403/404.
 * manifest.c: content negotiation results -> plain structs; platform choice from an index.
 */
#ifndef IMG_REGISTRY_H
#define IMG_REGISTRY_H

#include "rootfs.h"

#define IMG_MEDIA_OCI_INDEX	  "application/vnd.oci.image.index.v1+json"
#define IMG_MEDIA_OCI_MANIFEST	  "application/vnd.oci.image.manifest.v1+json"
#define IMG_MEDIA_DOCKER_LIST	  "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

struct img_registry_opts {
	const char *auth_file;	    /* Docker config.json with "auths"; NULL = none */
	const char *ca_file;	    /* extra CA bundle (PEM); NULL = system CAs only */
	bool allow_http;	    /* plain HTTP for any registry (loopback always may) */
	const char *const *mirrors; /* NULL-terminated base URLs, e.g. "http://127.0.0.1:5001" */
	unsigned retries;	    /* attempts after the first on 429/5xx/transport (0 = 3) */
	unsigned timeout_s;	    /* per request, connect + transfer (0 = 300) */
};

struct img_platform {
	char os[32];	  /* "linux" */
	char arch[32];	  /* GOARCH names: "amd64", "arm64" */
	char variant[32]; /* "" or "v8" ... */
};

/* This host's platform in OCI terms. */
void img_platform_host(struct img_platform *ret);

struct img_registry; /* a client for one repository of one registry: token cache, curl handle */

int img_registry_open(const struct img_ref *ref, const struct img_registry_opts *opts,
		      struct img_registry **ret, struct sbx_error *err);
void img_registry_close(struct img_registry *r);

/*
 * GET the manifest named by reference (a tag or a digest) with all four media types accepted.
 * Returns the body (malloc'd), its media type and its digest (verified against a digest
 * reference; computed otherwise). Bodies over 4 MiB are refused.
 */
int img_registry_manifest(struct img_registry *r, const char *reference, char **ret_body,
			  size_t *ret_len, char ret_media_type[128],
			  char ret_digest[IMG_DIGEST_LEN + 1], struct sbx_error *err);

typedef void (*img_progress_fn)(void *userdata, const char *digest, uint64_t done, uint64_t total);

/*
 * GET a blob into out_fd (appending), following redirects, verifying its digest while it
 * streams; a mismatch is EBADMSG and the caller discards what was written. expected_size > 0
 * caps the transfer (a registry may not send more than the descriptor said).
 */
int img_registry_blob(struct img_registry *r, const char *digest, uint64_t expected_size,
		      int out_fd, img_progress_fn progress, void *userdata, struct sbx_error *err);

/* ---- manifest.c -------------------------------------------------------------------------- */

#define IMG_MAX_LAYERS 128

struct img_descriptor {
	char media_type[128];
	char digest[IMG_DIGEST_LEN + 1];
	uint64_t size;
};

struct img_manifest {
	struct img_descriptor config;
	struct img_descriptor layers[IMG_MAX_LAYERS];
	unsigned n_layers;
};

struct img_config {
	char diff_ids[IMG_MAX_LAYERS][IMG_DIGEST_LEN + 1];
	unsigned n_diff_ids;
	char **env; /* NULL-terminated, malloc'd */
	char working_dir[1024];
	char os[32], arch[32];
};

/* From an OCI index or Docker manifest list: the manifest digest for this platform. ENOENT
 * naming the platforms offered when none fits. */
int img_index_pick(const char *body, size_t len, const struct img_platform *want,
		   struct img_descriptor *ret, struct sbx_error *err);
/* An OCI or Docker v2s2 image manifest. Digests validated, sizes sane, media types checked. */
int img_manifest_parse(const char *body, size_t len, struct img_manifest *ret,
		       struct sbx_error *err);
int img_config_parse(const char *body, size_t len, struct img_config *ret, struct sbx_error *err);
void img_config_done(struct img_config *c);

#endif
