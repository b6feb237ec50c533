/* SPDX-License-Identifier: MIT */
/*
 * seccomp_cache.c - compiled seccomp programs kept on disk between processes.
 *
 * Owns: the cache file format and its validation. Must not: trust a cache file it cannot fully
 * validate (it is then recompiled and replaced), or write anywhere but cache_dir, which the
 * caller creates root-only (a forged filter would disarm every job).
 */
#include <fcntl.h>
#include <seccomp.h> /* libseccomp's, for seccomp_version() */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "seccomp.h"
#include "util.h"

#define CACHE_MAGIC   "SBXBPF01"
#define CACHE_SRC_MAX (1 << 20)

struct cache_header {
	char magic[8];
	char release[65]; /* uname -r: minKernel rules depend on it */
	unsigned lib[3];  /* libseccomp version: it decides which syscall names are known */
	uint32_t src_len; /* the profile's bytes follow, then the program */
	uint32_t n_insns;
};

static void make_header(struct cache_header *h, size_t src_len, unsigned n_insns)
{
	const struct scmp_version *v = seccomp_version();
	struct utsname u;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, CACHE_MAGIC, sizeof(h->magic));
	if (uname(&u) == 0)
		snprintf(h->release, sizeof(h->release), "%s", u.release);
	h->lib[0] = v ? v->major : 0;
	h->lib[1] = v ? v->minor : 0;
	h->lib[2] = v ? v->micro : 0;
	h->src_len = (uint32_t)src_len;
	h->n_insns = n_insns;
}

/* FNV-1a: only names the file; validity comes from comparing the whole profile. */
static unsigned long long fnv1a(const char *s, size_t len)
{
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

static int cache_load(const char *file, const char *src, size_t src_len, struct seccomp_prog *ret)
{
	_cleanup_free_ char *buf = NULL;
	struct cache_header want, have;
	size_t len, prog_bytes;

	if (sbx_read_file_all(AT_FDCWD, file, O_NOFOLLOW, CACHE_SRC_MAX * 2, &buf, &len) < 0 ||
	    len < sizeof(have))
		return -ENOENT;
	memcpy(&have, buf, sizeof(have));
	make_header(&want, src_len, have.n_insns);
	prog_bytes = (size_t)have.n_insns * sizeof(struct sock_filter);
	if (memcmp(&want, &have, sizeof(want)) || have.n_insns == 0 || have.n_insns > 0xffff ||
	    len != sizeof(have) + src_len + prog_bytes || memcmp(buf + sizeof(have), src, src_len))
		return -ESTALE;
	ret->filter = malloc(prog_bytes);
	if (!ret->filter)
		return -ENOMEM;
	memcpy(ret->filter, buf + sizeof(have) + src_len, prog_bytes);
	ret->len = (unsigned short)have.n_insns;
	return 0;
}

static void cache_store(const char *file, const char *src, size_t src_len,
			const struct seccomp_prog *p)
{
	char tmp[4200];
	struct cache_header h;
	int fd, r;

	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", file, getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return; /* a cache that cannot be written only costs time */
	make_header(&h, src_len, p->len);
	r = sbx_write_all(fd, &h, sizeof(h));
	if (r >= 0)
		r = sbx_write_all(fd, src, src_len);
	if (r >= 0)
		r = sbx_write_all(fd, p->filter, p->len * sizeof(struct sock_filter));
	close(fd);
	/* rename is atomic: a concurrent reader sees the old entry or the new one, never half. */
	if (r < 0 || rename(tmp, file) < 0)
		unlink(tmp);
}

int seccomp_compile_cached(const char *path, const char *cache_dir, struct seccomp_prog *ret,
			   struct sbx_error *err)
{
	_cleanup_free_ char *src = NULL;
	char file[4096];
	size_t len;
	int r;

	*ret = (struct seccomp_prog){ 0 };
	if (!cache_dir || sbx_read_file_all(AT_FDCWD, path, 0, CACHE_SRC_MAX, &src, &len) < 0)
		return seccomp_compile_file(path, ret, err);
	snprintf(file, sizeof(file), "%s/seccomp-%016llx.bpf", cache_dir, fnv1a(src, len));
	if (cache_load(file, src, len, ret) == 0)
		return 0;
	r = seccomp_compile_file(path, ret, err);
	if (r >= 0)
		cache_store(file, src, len, ret);
	return r;
}
