/* SPDX-License-Identifier: MIT */
/*
 * rootfs.h - librootfs: an image reference -> a verified, unpacked, read-only rootfs directory.
 *
 * Modules (one concern each): reference.c (names as Docker parses them), digest.c (SHA-256 while
 * streaming), registry.c (registry API v2 over libcurl: auth, TLS, retries, mirrors),
 * manifest.c (index / manifest / config JSON -> plain structs), unpack.c (layers applied into a
 * directory, hostile entries refused), store.c (content-addressed blobs, rootfs per digest, tags).
 *
 * The error contract is libsandbox's: >= 0 or -errno, and a struct sbx_error filled, passed last.
 * Library code never logs and never exits.
 */
#ifndef IMG_ROOTFS_H
#define IMG_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox.h" /* struct sbx_error */

#define IMG_DIGEST_LEN 71 /* "sha256:" + 64 hex */

/* ---- reference.c ------------------------------------------------------------------------- */

struct img_ref {
	char domain[256];     /* "docker.io", "ghcr.io", "registry.local:5000", "127.0.0.1:5000" */
	char repository[256]; /* "library/python", "org/img" */
	char tag[129];	      /* "3.12-slim", "latest" by default; "" when only a digest is given */
	char digest[IMG_DIGEST_LEN + 1]; /* "sha256:..." or "" */
};

/*
 * Parse as Docker does: no domain -> docker.io; docker.io without a namespace -> library/;
 * a first component with '.' or ':' or equal to "localhost" is a domain; no tag and no digest ->
 * "latest"; NAME:TAG@DIGEST keeps both (the digest wins when pulling). Lowercase repository
 * components [a-z0-9] with separators "." "_" "__" "-"; tags [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
 * EINVAL with the offending part named.
 */
int img_ref_parse(const char *s, struct img_ref *ret, struct sbx_error *err);
/* "docker.io/library/python:3.12-slim", "...@sha256:...", or both: the canonical name. */
int img_ref_format(const struct img_ref *ref, char *buf, size_t size);
/* The host to talk to: docker.io -> "registry-1.docker.io"; others as given. */
const char *img_ref_api_host(const struct img_ref *ref);
/* localhost, 127.0.0.0/8, [::1]: where plain HTTP is allowed by default (as Docker does). */
bool img_ref_is_loopback(const struct img_ref *ref);

/* ---- digest.c ---------------------------------------------------------------------------- */

/* "sha256:" followed by exactly 64 lowercase hex digits: safe to use as a file name. */
bool img_digest_valid(const char *digest);

struct img_sha256 {
	void *md; /* EVP_MD_CTX */
};

int img_sha256_init(struct img_sha256 *h, struct sbx_error *err);
void img_sha256_update(struct img_sha256 *h, const void *buf, size_t len);
/* Writes "sha256:<hex>" (IMG_DIGEST_LEN + 1 bytes) and frees the state. */
void img_sha256_final(struct img_sha256 *h, char out[IMG_DIGEST_LEN + 1]);
void img_sha256_done(struct img_sha256 *h); /* free without a result; NULL-safe, idempotent */
/* The digest of a whole file (by fd, read from offset 0). */
int img_sha256_fd(int fd, char out[IMG_DIGEST_LEN + 1], struct sbx_error *err);

/* ---- unpack.c ---------------------------------------------------------------------------- */

struct img_unpack_limits {
	uint64_t max_bytes;   /* total uncompressed file bytes of the layer */
	uint64_t max_entries; /* tar entries */
	uint64_t max_file;    /* one file */
	unsigned max_depth;   /* path components */
};

struct img_unpack_stats {
	uint64_t bytes;
	uint64_t entries;
	char diff_id[IMG_DIGEST_LEN + 1]; /* sha256 of the uncompressed tar stream */
};

/*
 * Apply one layer (gzip, zstd or uncompressed tar; detected) read from layer_fd onto the
 * directory root_fd, as the OCI image spec's changeset rules say: whiteouts ".wh.NAME" delete
 * NAME of lower layers, ".wh..wh..opq" empties a directory of lower content, existing
 * non-directories are replaced, directories merged. Every path is resolved inside root_fd
 * (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, O_NOFOLLOW leaves): entries with "..",
 * absolute names, writes through symlinks, hardlinks to outside, device nodes, sockets, and
 * anything past the limits are refused (EPERM / EFBIG with the entry named); nothing is ever
 * written outside root_fd. The setuid/setgid policy is documented in unpack.c.
 */
int img_unpack_layer(int layer_fd, int root_fd, const struct img_unpack_limits *lim,
		     struct img_unpack_stats *ret, struct sbx_error *err);

#endif
