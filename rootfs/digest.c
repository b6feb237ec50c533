/* SPDX-License-Identifier: MIT */
/*
 * digest.c - SHA-256 while streaming (OpenSSL EVP), and the one check that decides whether a
 * string from a registry or a manifest may become a file name in the store.
 *
 * Owns: "sha256:<64 lowercase hex>" validation, the incremental hash, the hash of a whole file.
 * Must not: log, exit, or accept any other digest spelling (the store trusts what passes here).
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "rootfs.h"
#include "util.h"

#define SHA256_PREFIX	  "sha256:"
#define SHA256_PREFIX_LEN (sizeof(SHA256_PREFIX) - 1)
#define SHA256_HEX_LEN	  64
#define FD_CHUNK	  (64 * 1024)

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/*
 * Digests name blobs and rootfs directories in the store. Anything looser than exactly
 * "sha256:" + 64 lowercase hex lets a hostile manifest pick the path ("sha256:../../x"):
 * CVE-2014-9358. Uppercase is refused too, so one blob never has two names.
 */
bool img_digest_valid(const char *digest)
{
	size_t i;

	if (!digest || strncmp(digest, SHA256_PREFIX, SHA256_PREFIX_LEN) != 0)
		return false;
	digest += SHA256_PREFIX_LEN;
	for (i = 0; i < SHA256_HEX_LEN; i++)
		if (!is_lower_hex(digest[i]))
			return false;
	return digest[SHA256_HEX_LEN] == '\0';
}

/* OpenSSL keeps a per-thread error queue: take its first reason, and leave it empty so a later
 * libcurl/OpenSSL call on this thread does not report our failure as its own. */
static int openssl_err(struct sbx_error *err, int errnum, const char *what)
{
	char reason[128] = "unknown OpenSSL error";
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	return sbx_err_msg(err, errnum, "sha256: %s: %s", what, reason);
}

int img_sha256_init(struct img_sha256 *h, struct sbx_error *err)
{
	EVP_MD_CTX *ctx;

	h->md = NULL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return openssl_err(err, ENOMEM, "allocate a digest context");
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return openssl_err(err, EIO, "initialise");
	}
	h->md = ctx;
	return 0;
}

/* A state whose init failed (md == NULL) ignores input; final then yields "" (never valid). */
void img_sha256_update(struct img_sha256 *h, const void *buf, size_t len)
{
	if (h->md && len > 0)
		EVP_DigestUpdate(h->md, buf, len);
}

/* On failure out is "": it fails every comparison and img_digest_valid(), so callers that
 * verify a download against an expected digest fail closed. */
void img_sha256_final(struct img_sha256 *h, char out[IMG_DIGEST_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;
	char *p = out + SHA256_PREFIX_LEN;

	out[0] = '\0';
	if (!h->md || EVP_DigestFinal_ex(h->md, md, &len) != 1 || len * 2 != SHA256_HEX_LEN) {
		img_sha256_done(h);
		return;
	}
	memcpy(out, SHA256_PREFIX, SHA256_PREFIX_LEN);
	for (i = 0; i < len; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 0xf];
	}
	*p = '\0';
	img_sha256_done(h);
}

void img_sha256_done(struct img_sha256 *h)
{
	if (!h || !h->md)
		return;
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
}

/* pread, not read: the caller's file offset is left alone and the whole file is hashed even
 * when the fd was just written to (its offset at the end). */
static int hash_fd_chunks(int fd, struct img_sha256 *h, void *buf, struct sbx_error *err)
{
	off_t off = 0;
	ssize_t n;

	for (;;) {
		n = pread(fd, buf, FD_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sbx_err(err, errno, "sha256: read at offset %lld", (long long)off);
		if (n == 0)
			return 0;
		img_sha256_update(h, buf, (size_t)n);
		off += n;
	}
}

int img_sha256_fd(int fd, char out[IMG_DIGEST_LEN + 1], struct sbx_error *err)
{
	_cleanup_(img_sha256_done) struct img_sha256 h = { 0 };
	_cleanup_free_ void *buf = NULL;
	int r;

	out[0] = '\0';
	buf = malloc(FD_CHUNK); /* not the stack: HTTP worker threads have small ones */
	if (!buf)
		return sbx_err(err, ENOMEM, "sha256: read buffer");
	r = img_sha256_init(&h, err);
	if (r < 0)
		return r;
	r = hash_fd_chunks(fd, &h, buf, err);
	if (r < 0)
		return r;
	img_sha256_final(&h, out);
	return 0;
}
