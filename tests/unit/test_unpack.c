/* SPDX-License-Identifier: MIT */
/*
 * test_unpack.c - layers built at test time (libarchive's writer, or hand-made ustar headers for
 * what a writer would not produce), applied into a temporary root. A sibling "outside" and a
 * "victim" tree next to the root must never change, whatever the layer says.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "rootfs.h"
#include "unit.h"
#include "util.h"

#define MTIME 1234567890
#define MIB   (1024 * 1024)

static char base[64]; /* /tmp/sbx-unpack.XXXXXX */
static char root[96], outside[96], victim[96], layers[96];
static int root_fd = -1;
static int layer_seq;
static const unsigned char zero_mib[MIB];

struct ent {
	const char *name;
	char type;	  /* f file, d dir, l symlink, h hardlink, p fifo, c/b device */
	const char *data; /* file content, or the link target */
	unsigned mode;	  /* 0: 0644 / 0755 / 0777 */
	unsigned uid, gid;
	uint64_t zeros; /* a file of that many zero bytes instead of data */
	const char *xattr, *xvalue;
};

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = (b->len + len) * 2;
		unsigned char *n = realloc(b->p, cap);

		if (!n)
			return -1;
		b->p = n;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

static la_ssize_t buf_write_cb(struct archive *a, void *data, const void *p, size_t len)
{
	return buf_add(data, p, len) < 0 ? -1 : (la_ssize_t)len;
}

/* ---- building layers ------------------------------------------------------------------------- */

static void ent_type(struct archive_entry *e, const struct ent *x)
{
	static const struct {
		char c;
		mode_t type;
		unsigned mode;
	} types[] = {
		{ 'f', AE_IFREG, 0644 }, { 'h', AE_IFREG, 0644 }, { 'd', AE_IFDIR, 0755 },
		{ 'l', AE_IFLNK, 0777 }, { 'p', AE_IFIFO, 0644 }, { 'c', AE_IFCHR, 0666 },
		{ 'b', AE_IFBLK, 0660 },
	};

	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		if (types[i].c == x->type) {
			archive_entry_set_filetype(e, types[i].type);
			archive_entry_set_perm(e, x->mode ? x->mode : types[i].mode);
		}
	if (x->type == 'f')
		archive_entry_set_size(e, x->zeros ? (la_int64_t)x->zeros
						   : (la_int64_t)strlen(x->data ? x->data : ""));
	if (x->type == 'l')
		archive_entry_set_symlink(e, x->data);
	if (x->type == 'h')
		archive_entry_set_hardlink(e, x->data);
	if (x->type == 'c' || x->type == 'b')
		archive_entry_set_rdev(e, makedev(1, 3));
}

static int write_data(struct archive *a, const struct ent *x)
{
	uint64_t left = x->zeros;

	if (x->type != 'f')
		return 0;
	if (!x->zeros)
		return archive_write_data(a, x->data ? x->data : "",
					  strlen(x->data ? x->data : "")) < 0;
	while (left > 0) {
		size_t n = left < MIB ? (size_t)left : MIB;

		if (archive_write_data(a, zero_mib, n) < 0)
			return -1;
		left -= n;
	}
	return 0;
}

static int write_ents(struct archive *a, const struct ent *ents, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		int r;

		archive_entry_set_pathname(e, ents[i].name);
		archive_entry_set_mtime(e, MTIME, 0);
		archive_entry_set_uid(e, ents[i].uid);
		archive_entry_set_gid(e, ents[i].gid);
		ent_type(e, &ents[i]);
		if (ents[i].xattr)
			archive_entry_xattr_add_entry(e, ents[i].xattr, ents[i].xvalue,
						      strlen(ents[i].xvalue));
		r = archive_write_header(a, e) != ARCHIVE_OK || write_data(a, &ents[i]);
		archive_entry_free(e);
		if (r)
			return -1;
	}
	return 0;
}

/* A pax tar of ents, compressed by filter, in memory. */
static int tar_mem(const struct ent *ents, size_t n, int filter, struct buf *out)
{
	struct archive *a = archive_write_new();
	int r = -1;

	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter(a, filter) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open2(a, out, NULL, buf_write_cb, NULL, NULL) != ARCHIVE_OK)
		goto out;
	r = write_ents(a, ents, n);
	if (archive_write_close(a) != ARCHIVE_OK)
		r = -1;
out:
	archive_write_free(a);
	return r;
}

/* data compressed by filter (one gzip member, one zstd frame) appended to out. */
static int compress_mem(const void *data, size_t len, int filter, struct buf *out)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	int r = -1;

	archive_entry_set_pathname(e, "raw");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)len);
	if (archive_write_set_format_raw(a) == ARCHIVE_OK &&
	    archive_write_add_filter(a, filter) == ARCHIVE_OK &&
	    archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK &&
	    archive_write_open2(a, out, NULL, buf_write_cb, NULL, NULL) == ARCHIVE_OK &&
	    archive_write_header(a, e) == ARCHIVE_OK &&
	    archive_write_data(a, data, len) == (la_ssize_t)len &&
	    archive_write_close(a) == ARCHIVE_OK)
		r = 0;
	archive_entry_free(e);
	archive_write_free(a);
	return r;
}

/* A ustar header by hand: names and sizes no well-behaved writer would emit. */
static void ustar_header(unsigned char h[512], const char *name, char type, uint64_t size)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", MTIME);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

static int write_file(const char *path, const struct buf *b)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	return fd < 0 ? -1 : sbx_write_all(fd, b->p, b->len);
}

static void sha256_hex(const void *p, size_t len, char out[IMG_DIGEST_LEN + 1])
{
	unsigned char md[32];
	unsigned mdlen = 0;

	EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL);
	strcpy(out, "sha256:");
	for (unsigned i = 0; i < mdlen; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* ---- the sandbox around each layer ----------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p) < 0 ? -1 : 0;
}

static void fresh_root(void)
{
	closep(&root_fd);
	nftw(root, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
	mkdir(root, 0755);
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int apply_buf(const struct buf *b, const struct img_unpack_limits *lim,
		     struct img_unpack_stats *st, struct sbx_error *err)
{
	char path[160];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%d", layers, layer_seq++);
	if (write_file(path, b) < 0)
		return -999;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return img_unpack_layer(fd, root_fd, lim, st, err);
}

/* Build ents as a gzip layer and apply it; print the error when verbose. */
static int apply_ents(const struct ent *ents, size_t n, const struct img_unpack_limits *lim,
		      struct sbx_error *err)
{
	struct buf b = { 0 };
	struct img_unpack_stats st;
	int r = tar_mem(ents, n, ARCHIVE_FILTER_GZIP, &b) < 0 ? -999 : apply_buf(&b, lim, &st, err);

	free(b.p);
	if (r < 0 && getenv("V"))
		fprintf(stderr, "    -> %d %s\n", r, err->msg);
	return r;
}

#define APPLY(ents, lim, err) apply_ents(ents, ELEMENTSOF(ents), lim, err)

static bool exists_in_root(const char *path)
{
	struct stat st;

	return fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* Nothing outside the root changed: outside empty, victim as made, nothing new beside. */
static bool outside_untouched(void)
{
	char p[160];
	struct stat st;

	snprintf(p, sizeof(p), "%s/f", victim);
	if (stat(p, &st) < 0 || st.st_nlink != 1 || st.st_size != 6)
		return false;
	snprintf(p, sizeof(p), "%s/etc/keep", victim);
	return count_dir(outside) == 0 && count_dir(victim) == 2 && count_dir(base) == 4 &&
	       stat(p, &st) == 0 && stat("/etc/sbx-unpack-probe", &st) < 0;
}

static void setup(void)
{
	char p[160];
	int fd;

	snprintf(base, sizeof(base), "/tmp/sbx-unpack.XXXXXX");
	if (!mkdtemp(base))
		abort();
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	snprintf(victim, sizeof(victim), "%s/victim", base);
	snprintf(layers, sizeof(layers), "%s/layers", base);
	mkdir(outside, 0755);
	mkdir(victim, 0755);
	mkdir(layers, 0755);
	snprintf(p, sizeof(p), "%s/etc", victim);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc/keep", victim);
	close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	snprintf(p, sizeof(p), "%s/f", victim);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "victim", 6) != 6)
		abort();
	close(fd);
	fresh_root();
}

static void teardown(void)
{
	closep(&root_fd);
	nftw(base, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static bool file_is(const char *path, const char *content)
{
	char buf[256];
	int n = sbx_read_file_at(root_fd, path, buf, sizeof(buf));

	return n >= 0 && strcmp(buf, content) == 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	return fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 ? 0 : st.st_mode;
}

static const struct ent normal[] = {
	{ .name = "./", .type = 'd' },
	{ .name = "usr/", .type = 'd' },
	{ .name = "usr/bin/", .type = 'd' },
	{ .name = "usr/bin/su", .type = 'f', .data = "su-binary", .mode = 04755 },
	{ .name = "usr/bin/wall", .type = 'f', .data = "wall", .mode = 02755, .gid = 5 },
	{ .name = "usr/bin/passwd", .type = 'h', .data = "usr/bin/su" },
	{ .name = "bin", .type = 'l', .data = "usr/bin" },
	{ .name = "etc/passwd",
	  .type = 'f',
	  .data = "root:x:0:0::/root:/bin/sh\n" }, /* no "etc/" entry: implied */
	{ .name = "home/u/", .type = 'd', .mode = 0700, .uid = 1000, .gid = 1000 },
	{ .name = "home/u/notes",
	  .type = 'f',
	  .data = "hi",
	  .mode = 0600,
	  .uid = 1000,
	  .gid = 1000 },
	{ .name = "tmp/", .type = 'd', .mode = 01777 },
	{ .name = "run/fifo", .type = 'p', .mode = 0620 },
	{ .name = "usr/bin/ping",
	  .type = 'f',
	  .data = "ping",
	  .mode = 0755,
	  .xattr = "user.sbx",
	  .xvalue = "kept" },
	{ .name = "usr/bin/ovl",
	  .type = 'f',
	  .data = "ovl",
	  .mode = 0755,
	  .xattr = "trusted.overlay.opaque",
	  .xvalue = "y" },
	{ .name = "usr/bin/", .type = 'd', .mode = 0751 }, /* again: merged, mode updated */
};

TEST(normal_layer)
{
	struct sbx_error err = { 0 };
	struct img_unpack_stats st;
	struct stat a, b;
	struct buf buf = { 0 };
	char link[64] = "";
	char x[16] = "";

	fresh_root();
	CHECK(tar_mem(normal, ELEMENTSOF(normal), ARCHIVE_FILTER_GZIP, &buf) == 0);
	CHECK(apply_buf(&buf, NULL, &st, &err) == 0);
	free(buf.p);
	CHECK(st.entries == ELEMENTSOF(normal));
	CHECK(st.bytes == 9 + 4 + 26 + 2 + 4 + 3);
	CHECK(img_digest_valid(st.diff_id));
	CHECK(file_is("usr/bin/su", "su-binary"));
	CHECK(mode_of("usr/bin/su") == (S_IFREG | 04755)); /* setuid kept: policy in unpack.c */
	CHECK(mode_of("usr/bin/wall") == (S_IFREG | 02755));
	CHECK(mode_of("tmp") == (S_IFDIR | 01777));
	CHECK(mode_of("usr/bin") == (S_IFDIR | 0751));
	CHECK(mode_of("etc") == (S_IFDIR | 0755));
	CHECK(S_ISFIFO(mode_of("run/fifo")) && (mode_of("run/fifo") & 07777) == 0620);
	CHECK(readlinkat(root_fd, "bin", link, sizeof(link) - 1) == 7 && !strcmp(link, "usr/bin"));
	CHECK(fstatat(root_fd, "usr/bin/su", &a, 0) == 0 &&
	      fstatat(root_fd, "usr/bin/passwd", &b, 0) == 0);
	CHECK(a.st_ino == b.st_ino && a.st_nlink == 2);
	CHECK(a.st_mtim.tv_sec == MTIME);
	CHECK(fstatat(root_fd, "usr", &a, 0) == 0 &&
	      a.st_mtim.tv_sec == MTIME); /* after children */
	CHECK(fstatat(root_fd, "usr/bin", &a, 0) == 0 && a.st_mtim.tv_sec == MTIME);
	if (geteuid() == 0) {
		CHECK(fstatat(root_fd, "home/u/notes", &a, 0) == 0 && a.st_uid == 1000 &&
		      a.st_gid == 1000);
		CHECK(fstatat(root_fd, "usr/bin/wall", &a, 0) == 0 && a.st_gid == 5);
	}
	if (getxattr(root, "user.sbx", x, 1) != -1 || errno != ENOTSUP) { /* fs holds user.* */
		char p[160];

		snprintf(p, sizeof(p), "%s/usr/bin/ping", root);
		CHECK(getxattr(p, "user.sbx", x, sizeof(x)) == 4 && !memcmp(x, "kept", 4));
		snprintf(p, sizeof(p), "%s/usr/bin/ovl", root);
		CHECK(getxattr(p, "trusted.overlay.opaque", x, sizeof(x)) < 0);
	}
	CHECK(outside_untouched());
}

TEST(compressions_same_diff_id)
{
	static const int filters[] = { ARCHIVE_FILTER_NONE, ARCHIVE_FILTER_GZIP,
				       ARCHIVE_FILTER_ZSTD };
	struct buf plain = { 0 };
	char want[IMG_DIGEST_LEN + 1];

	CHECK(tar_mem(normal, ELEMENTSOF(normal), ARCHIVE_FILTER_NONE, &plain) == 0);
	sha256_hex(plain.p, plain.len, want);
	for (size_t i = 0; i < ELEMENTSOF(filters); i++) {
		struct buf b = { 0 };
		struct img_unpack_stats st = { 0 };
		struct sbx_error err = { 0 };

		fresh_root();
		CHECK(compress_mem(plain.p, plain.len, filters[i], &b) == 0);
		CHECK(filters[i] == ARCHIVE_FILTER_NONE || b.len < plain.len);
		CHECK(apply_buf(&b, NULL, &st, &err) == 0);
		CHECK_STREQ(st.diff_id, want);
		CHECK(file_is("usr/bin/su", "su-binary"));
		free(b.p);
	}
	free(plain.p);
}

static const struct ent wh_lower[] = {
	{ .name = "a/keep", .type = 'f', .data = "k" },
	{ .name = "a/gone", .type = 'f', .data = "g" },
	{ .name = "a/dir/sub/x", .type = 'f', .data = "x" },
	{ .name = "b/old", .type = 'f', .data = "o" },
	{ .name = "b/sub/deep", .type = 'f', .data = "d" },
	{ .name = "c", .type = 'f', .data = "c" },
	{ .name = "d/old", .type = 'f', .data = "o" },
	{ .name = "lnk", .type = 'l', .data = "a" },
	{ .name = "e/old", .type = 'f', .data = "o" },
};
static const struct ent wh_upper[] = {
	{ .name = "b/.wh..wh..opq",
	  .type = 'f',
	  .data = "" }, /* marker first, as the spec suggests */
	{ .name = "b/new", .type = 'f', .data = "n" },
	{ .name = "a/.wh.gone", .type = 'f', .data = "" },
	{ .name = "a/.wh.dir", .type = 'f', .data = "" },
	{ .name = ".wh.c", .type = 'f', .data = "" },
	{ .name = "a/.wh..wh.plnk", .type = 'f', .data = "" }, /* aufs metadata: ignored */
	{ .name = ".wh.lnk",
	  .type = 'f',
	  .data = "" },				     /* the symlink goes, not what it points to */
	{ .name = "d/n", .type = 'f', .data = "n" }, /* d implied by this layer... */
	{ .name = "d/.wh..wh..opq",
	  .type = 'f',
	  .data = "" }, /* ...marker after its entries: they stay */
	{ .name = "e/mine", .type = 'f', .data = "m" },
	{ .name = "e/.wh.mine",
	  .type = 'f',
	  .data = "" }, /* same layer: hides nothing (lower layers only) */
	{ .name = "e/.wh.old", .type = 'f', .data = "" },
};

TEST(whiteouts_and_opaque)
{
	struct sbx_error err = { 0 };

	fresh_root();
	CHECK(APPLY(wh_lower, NULL, &err) == 0);
	CHECK(APPLY(wh_upper, NULL, &err) == 0);
	CHECK(file_is("a/keep", "k"));
	CHECK(!exists_in_root("a/gone") && !exists_in_root("a/dir") && !exists_in_root("c"));
	CHECK(file_is("b/new", "n"));
	CHECK(!exists_in_root("b/old") && !exists_in_root("b/sub"));
	CHECK(!exists_in_root("lnk") && file_is("a/keep", "k"));
	CHECK(file_is("d/n", "n") && !exists_in_root("d/old"));
	CHECK(file_is("e/mine", "m") && !exists_in_root("e/old"));
	/* whiteout files are never materialised */
	CHECK(!exists_in_root("b/.wh..wh..opq") && !exists_in_root(".wh.c") &&
	      !exists_in_root("a/.wh.gone") && !exists_in_root("a/.wh..wh.plnk"));
	CHECK(outside_untouched());
}

TEST(opaque_keeps_this_layer)
{
	static const struct ent l1[] = {
		{ .name = "o/x/old", .type = 'f', .data = "o" },
		{ .name = "o/y", .type = 'f', .data = "y" },
		{ .name = "o/z/", .type = 'd' },
	};
	static const struct ent l2[] = {
		{ .name = "o/x/new",
		  .type = 'f',
		  .data = "n" },		 /* o/x is lower; new is this layer's */
		{ .name = "o/z/", .type = 'd' }, /* a lower directory named again: merged, kept */
		{ .name = "o/.wh..wh..opq",
		  .type = 'f',
		  .data = "" }, /* after the entries: whiteouts apply regardless */
	};
	struct sbx_error err = { 0 };

	fresh_root();
	CHECK(APPLY(l1, NULL, &err) == 0);
	CHECK(APPLY(l2, NULL, &err) == 0);
	CHECK(file_is("o/x/new", "n"));
	CHECK(!exists_in_root("o/x/old") && !exists_in_root("o/y"));
	CHECK(S_ISDIR(mode_of("o/z")));
}

TEST(type_changes)
{
	static const struct ent l1[] = {
		{ .name = "x", .type = 'f', .data = "x" },
		{ .name = "y/f", .type = 'f', .data = "f" },
		{ .name = "t", .type = 'f', .data = "T" },
		{ .name = "s", .type = 'l', .data = "t" },
		{ .name = "w", .type = 'l', .data = "t" },
	};
	static const struct ent l2[] = {
		{ .name = "x/", .type = 'd' }, /* dir over file */
		{ .name = "x/in", .type = 'f', .data = "in" },
		{ .name = "y", .type = 'f', .data = "y" }, /* file over dir: removed recursively */
		{ .name = "s",
		  .type = 'f',
		  .data = "S" }, /* file over symlink: the symlink goes, t untouched */
		{ .name = "w/", .type = 'd' }, /* dir over symlink */
	};
	static const struct ent implied[] = { { .name = "t/in", .type = 'f', .data = "in" } };
	struct sbx_error err = { 0 };

	fresh_root();
	CHECK(APPLY(l1, NULL, &err) == 0);
	CHECK(APPLY(l2, NULL, &err) == 0);
	CHECK(file_is("x/in", "in") && S_ISDIR(mode_of("x")));
	CHECK(file_is("y", "y") && S_ISREG(mode_of("y")));
	CHECK(file_is("s", "S") && S_ISREG(mode_of("s")) && file_is("t", "T"));
	CHECK(S_ISDIR(mode_of("w")));
	/* a file is never turned into a directory implicitly, as a parent (Docker neither) */
	CHECK(APPLY(implied, NULL, &err) == -ENOTDIR && file_is("t", "T"));
}

TEST(hostile_names)
{
	static const struct ent dotdot[] = { { .name = "../x", .type = 'f', .data = "x" } };
	static const struct ent inner[] = { { .name = "a/../../x", .type = 'f', .data = "x" } };
	static const struct ent deep[] = { { .name = "a/b/../../../../x", .type = 'd' } };
	static const struct ent abs[] = { { .name = "/abs", .type = 'f', .data = "abs" },
					  { .name = "./", .type = 'd', .mode = 0700 } };
	static const struct ent dotlink[] = { { .name = ".", .type = 'l', .data = "/" },
					      { .name = "ok", .type = 'f', .data = "ok" } };
	struct sbx_error err = { 0 };
	char name[160];

	fresh_root();
	CHECK(APPLY(dotdot, NULL, &err) == -EPERM && strstr(err.msg, "../x"));
	CHECK(APPLY(inner, NULL, &err) == -EPERM);
	CHECK(APPLY(deep, NULL, &err) == -EPERM);
	CHECK(count_dir(root) == 0);
	CHECK(APPLY(abs, NULL, &err) == 0 && file_is("abs", "abs")); /* re-rooted */
	CHECK(mode_of(".") == (S_IFDIR | 0755));		     /* the root is never changed */
	CHECK(APPLY(dotlink, NULL, &err) == 0 && file_is("ok", "ok")); /* umoci CVE-2021-29136 */
	snprintf(name, sizeof(name), "%s/x", base);
	CHECK(access(name, F_OK) < 0);
	CHECK(outside_untouched());
}

TEST(symlink_parents)
{
	char abs_out[160], probe[96];
	struct ent via_abs[] = { { .name = "evil", .type = 'l', .data = abs_out },
				 { .name = "evil/file", .type = 'f', .data = "pwned" } };
	static const struct ent via_rel[] = { { .name = "rel", .type = 'l', .data = "../outside" },
					      { .name = "rel/file", .type = 'f', .data = "p" } };
	static const struct ent leaf[] = { { .name = "ln", .type = 'l', .data = "../outside/pw" },
					   { .name = "ln", .type = 'f', .data = "mine" } };
	static const struct ent chain[] = {
		{ .name = "c1", .type = 'l', .data = ".." },
		{ .name = "c2", .type = 'l', .data = "c1/../.." },
		{ .name = "c3", .type = 'l', .data = "c2/c1/../c2" },
		{ .name = "c3/outside/f", .type = 'f', .data = "in" },
	};
	struct ent to_root[] = { { .name = "up", .type = 'l', .data = "/" },
				 { .name = probe, .type = 'f', .data = "in" } };
	struct sbx_error err = { 0 };

	snprintf(abs_out, sizeof(abs_out), "%s", outside);
	snprintf(probe, sizeof(probe), "up/etc/sbx-unpack-probe");
	fresh_root();
	/* the parent resolves to root/<host path>, absent: never created through the symlink */
	CHECK(APPLY(via_abs, NULL, &err) == -ENOTDIR);
	CHECK(APPLY(via_rel, NULL, &err) == -ENOTDIR);
	CHECK(outside_untouched());
	/* a symlink at the leaf is replaced, never written through */
	CHECK(APPLY(leaf, NULL, &err) == 0 && file_is("ln", "mine") && S_ISREG(mode_of("ln")));
	/* neutralised: "/" and ".." chains stop at the root */
	CHECK(APPLY(chain, NULL, &err) == 0 && file_is("outside/f", "in"));
	CHECK(APPLY(to_root, NULL, &err) == 0 && file_is("etc/sbx-unpack-probe", "in"));
	CHECK(outside_untouched());
}

TEST(hostile_hardlinks)
{
	char abs_victim[160];
	struct stat before, after;
	static const struct ent etc_passwd[] = {
		{ .name = "pw", .type = 'h', .data = "/etc/passwd" }
	};
	static const struct ent up[] = { { .name = "f", .type = 'h', .data = "../victim/f" } };
	struct ent via_link[] = { { .name = "s", .type = 'l', .data = abs_victim },
				  { .name = "h", .type = 'h', .data = "s/f" } };
	static const struct ent via_rel[] = { { .name = "r", .type = 'l', .data = "../../victim" },
					      { .name = "h", .type = 'h', .data = "r/f" } };
	static const struct ent dir[] = { { .name = "d/", .type = 'd' },
					  { .name = "h", .type = 'h', .data = "d" } };
	static const struct ent root_link[] = { { .name = "h", .type = 'h', .data = "./" } };
	static const struct ent ok[] = { { .name = "etc/passwd", .type = 'f', .data = "x" },
					 { .name = "pw", .type = 'h', .data = "/etc/passwd" } };
	struct sbx_error err = { 0 };

	snprintf(abs_victim, sizeof(abs_victim), "%s", victim);
	CHECK(stat("/etc/passwd", &before) == 0);
	fresh_root();
	CHECK(APPLY(etc_passwd, NULL, &err) == -EPERM); /* re-rooted, and absent in the root */
	CHECK(APPLY(up, NULL, &err) == -EPERM);
	CHECK(APPLY(via_link, NULL, &err) == -EPERM);
	CHECK(APPLY(via_rel, NULL, &err) == -EPERM);
	CHECK(APPLY(dir, NULL, &err) == -EPERM);
	CHECK(APPLY(root_link, NULL, &err) == -EPERM);
	CHECK(!exists_in_root("pw") && !exists_in_root("f") && !exists_in_root("h"));
	CHECK(stat("/etc/passwd", &after) == 0 && after.st_nlink == before.st_nlink);
	fresh_root();
	CHECK(APPLY(ok, NULL, &err) == 0 && file_is("pw", "x")); /* the image's own /etc/passwd */
	CHECK(outside_untouched());
}

TEST(devices_refused)
{
	static const struct ent chr[] = { { .name = "dev/null", .type = 'c' } };
	static const struct ent blk[] = { { .name = "dev/sda", .type = 'b' } };
	struct sbx_error err = { 0 };

	fresh_root();
	CHECK(APPLY(chr, NULL, &err) == -EPERM && strstr(err.msg, "dev/null") &&
	      strstr(err.msg, "character device"));
	CHECK(APPLY(blk, NULL, &err) == -EPERM && strstr(err.msg, "block device"));
	CHECK(count_dir(root) == 0); /* refused before anything, parents included */
	CHECK(outside_untouched());
}

TEST(whiteout_symlinked_parent)
{
	char abs_victim[160];
	struct ent l1[] = { { .name = "l1", .type = 'l', .data = abs_victim },
			    { .name = "l2", .type = 'l', .data = "../victim" },
			    { .name = "l3", .type = 'l', .data = "../../../../../victim" } };
	static const struct ent l2[] = {
		{ .name = "l1/.wh.etc", .type = 'f', .data = "" },
		{ .name = "l2/.wh.etc", .type = 'f', .data = "" },
		{ .name = "l3/.wh.f", .type = 'f', .data = "" },
		{ .name = "l1/.wh..wh..opq", .type = 'f', .data = "" },
		{ .name = ".wh.l2", .type = 'f', .data = "" },
	};
	static const struct ent bad1[] = { { .name = ".wh..", .type = 'f', .data = "" } };
	static const struct ent bad2[] = { { .name = "a/.wh...", .type = 'f', .data = "" } };
	static const struct ent bad3[] = { { .name = ".wh.", .type = 'f', .data = "" } };
	struct sbx_error err = { 0 };

	snprintf(abs_victim, sizeof(abs_victim), "%s", victim);
	fresh_root();
	CHECK(APPLY(l1, NULL, &err) == 0);
	CHECK(APPLY(l2, NULL, &err) == 0);
	CHECK(exists_in_root("l1") && !exists_in_root("l2"));
	CHECK(APPLY(bad1, NULL, &err) == -EPERM);
	CHECK(APPLY(bad2, NULL, &err) == -EPERM);
	CHECK(APPLY(bad3, NULL, &err) == -EPERM);
	CHECK(exists_in_root("l1"));
	CHECK(outside_untouched());
}

/* gzip(header) + N x gzip(1 MiB of zeros) + gzip(end blocks): a 200 MiB file in ~200 KB. */
static int bomb(struct buf *out, int files, uint64_t file_size, int trailing_mib)
{
	struct buf mib = { 0 };
	unsigned char h[512];
	int r = compress_mem(zero_mib, MIB, ARCHIVE_FILTER_GZIP, &mib);

	for (int i = 0; r == 0 && i < files; i++) {
		char name[32];

		snprintf(name, sizeof(name), "bomb%d", i);
		ustar_header(h, name, '0', file_size);
		r = compress_mem(h, sizeof(h), ARCHIVE_FILTER_GZIP, out);
		for (uint64_t n = 0; r == 0 && n < file_size / MIB; n++)
			r = buf_add(out, mib.p, mib.len);
	}
	if (r == 0)
		r = compress_mem(zero_mib, 1024, ARCHIVE_FILTER_GZIP, out);
	for (int i = 0; r == 0 && i < trailing_mib; i++)
		r = buf_add(out, mib.p, mib.len);
	free(mib.p);
	return r;
}

static int apply_bomb(int files, uint64_t size, int trailing, const struct img_unpack_limits *lim,
		      struct sbx_error *err)
{
	struct buf b = { 0 };
	struct img_unpack_stats st;
	int r = bomb(&b, files, size, trailing) < 0 ? -999 : apply_buf(&b, lim, &st, err);

	free(b.p);
	return r;
}

TEST(decompression_bombs)
{
	const struct img_unpack_limits lim = { .max_bytes = 16 * MIB, .max_entries = 100 };
	const struct img_unpack_limits small = { .max_bytes = 4 * MIB, .max_file = 2 * MIB };
	struct sbx_error err = { 0 };
	unsigned long long t0 = sbx_now_ns();
	struct stat st;

	fresh_root();
	/* one 200 MiB file: its declared size is refused before inflating */
	CHECK(apply_bomb(1, 200ULL * MIB, 0, &lim, &err) == -EFBIG && strstr(err.msg, "max_bytes"));
	CHECK(!exists_in_root("bomb0"));
	/* 1 MiB files: stopped while streaming */
	CHECK(apply_bomb(200, MIB, 0, &small, &err) == -EFBIG && strstr(err.msg, "max_bytes"));
	CHECK(fstatat(root_fd, "bomb3", &st, 0) == 0 && !exists_in_root("bomb4"));
	fresh_root();
	CHECK(apply_bomb(1, 3 * MIB, 0, &small, &err) == -EFBIG && strstr(err.msg, "max_file"));
	/* 200 MiB of zeros after the end of the archive: the stream itself is capped */
	CHECK(apply_bomb(1, MIB, 200, &lim, &err) == -EFBIG && strstr(err.msg, "uncompressed"));
	CHECK((sbx_now_ns() - t0) / 1000000 < 1500);
	CHECK(outside_untouched());
}

TEST(entry_and_depth_limits)
{
	const struct img_unpack_limits lim = { .max_entries = 100, .max_depth = 8 };
	static struct ent flood[150];
	static char names[150][16];
	static const struct ent deep9[] = {
		{ .name = "1/2/3/4/5/6/7/8/9", .type = 'f', .data = "" }
	};
	static const struct ent deep8[] = { { .name = "1/2/3/4/5/6/7/./8/", .type = 'd' } };
	struct sbx_error err = { 0 };

	for (int i = 0; i < 150; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		flood[i] = (struct ent){ .name = names[i], .type = 'f', .data = "" };
	}
	fresh_root();
	CHECK(apply_ents(flood, 100, &lim, &err) == 0);
	fresh_root();
	CHECK(APPLY(flood, &lim, &err) == -E2BIG && strstr(err.msg, "max_entries"));
	CHECK(APPLY(deep9, &lim, &err) == -E2BIG && strstr(err.msg, "max_depth"));
	CHECK(APPLY(deep8, &lim, &err) == 0 && S_ISDIR(mode_of("1/2/3/4/5/6/7/8")));
}

/* Letters from xorshift: text that deflate cannot shrink to nothing. */
static void fill_text(char *p, size_t len)
{
	unsigned x = 2463534242u;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (char)('a' + x % 26);
	}
}

TEST(corrupt_streams)
{
	static char text[3 * 65536 + 17];
	const struct ent big[] = { { .name = "big", .type = 'f', .data = text } };
	struct buf good = { 0 }, b = { 0 };
	struct img_unpack_stats st;
	struct sbx_error err = { 0 };
	const char *junk = text;
	char good_id[IMG_DIGEST_LEN + 1];

	fill_text(text, sizeof(text) - 1);
	CHECK(tar_mem(big, 1, ARCHIVE_FILTER_GZIP, &good) == 0);
	fresh_root();
	CHECK(apply_buf(&good, NULL, &st, &err) == 0);
	strcpy(good_id, st.diff_id);
	/* a broken deflate block header: the decompressor fails */
	CHECK(buf_add(&b, good.p, good.len) == 0);
	b.p[10] ^= 0x06; /* BTYPE 3: reserved */
	CHECK(apply_buf(&b, NULL, &st, &err) == -EBADMSG && strstr(err.msg, "decompress"));
	/*
	 * Bytes flipped inside the compressed data: libarchive (3.6) checks neither the gzip CRC32
	 * nor ISIZE, so corruption that still inflates is caught by the diff_id, which the caller
	 * compares with the image config's rootfs.diff_ids.
	 */
	memcpy(b.p, good.p, good.len);
	for (size_t i = good.len / 2; i < good.len / 2 + 8; i++)
		b.p[i] ^= 0x5a;
	st.diff_id[0] = '\0';
	CHECK(apply_buf(&b, NULL, &st, &err) < 0 || strcmp(st.diff_id, good_id) != 0);
	/* truncated */
	b.len = 0;
	CHECK(buf_add(&b, good.p, good.len / 2) == 0);
	CHECK(apply_buf(&b, NULL, &st, &err) < 0);
	/* not a tar at all, plain or compressed; gzip inside gzip */
	b.len = 0;
	CHECK(buf_add(&b, junk, 4096) == 0);
	CHECK(apply_buf(&b, NULL, &st, &err) == -EBADMSG);
	b.len = 0;
	CHECK(compress_mem(junk, 4096, ARCHIVE_FILTER_ZSTD, &b) == 0);
	CHECK(apply_buf(&b, NULL, &st, &err) == -EBADMSG);
	b.len = 0;
	CHECK(compress_mem(good.p, good.len, ARCHIVE_FILTER_GZIP, &b) == 0);
	CHECK(apply_buf(&b, NULL, &st, &err) == -EBADMSG && strstr(err.msg, "nested"));
	b.len = 0;
	CHECK(apply_buf(&b, NULL, &st, &err) < 0); /* empty */
	free(good.p);
	free(b.p);
	CHECK(outside_untouched());
}

int main(void)
{
	setup();
	RUN(normal_layer);
	RUN(compressions_same_diff_id);
	RUN(whiteouts_and_opaque);
	RUN(opaque_keeps_this_layer);
	RUN(type_changes);
	RUN(hostile_names);
	RUN(symlink_parents);
	RUN(hostile_hardlinks);
	RUN(devices_refused);
	RUN(whiteout_symlinked_parent);
	RUN(decompression_bombs);
	RUN(entry_and_depth_limits);
	RUN(corrupt_streams);
	teardown();
	UNIT_END();
}
