/* SPDX-License-Identifier: MIT */
/*
 * test_layout.c - offline imports: OCI layout directories and docker save tarballs built at test
 * time (libarchive's writer for layers and archives, JSON by hand), imported into a fresh store
 * and looked up. The hostile cases must fail with the right errno and leave no new tag.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "unit.h"
#include "util.h"

#define MEDIA_LAYER    "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"

static char base[64]; /* /tmp/sbx-layout.XXXXXX */
static struct img_store *store;
static int seq;
static bool gzip_archives; /* docker save | gzip */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

struct ent {
	const char *name;
	char type; /* f file, d dir, l symlink */
	const void *data;
	size_t len; /* 0: strlen(data) */
};

#define D(n)                                                                                       \
	{                                                                                          \
		.name = (n), .type = 'd'                                                           \
	}
#define F(n, d)                                                                                    \
	{                                                                                          \
		.name = (n), .type = 'f', .data = (d)                                              \
	}
#define B(n, p, l)                                                                                 \
	{                                                                                          \
		.name = (n), .type = 'f', .data = (p), .len = (l)                                  \
	}
#define L(n, t)                                                                                    \
	{                                                                                          \
		.name = (n), .type = 'l', .data = (t)                                              \
	}

struct image {
	char manifest[IMG_DIGEST_LEN + 1];
	size_t manifest_size;
	char config[IMG_DIGEST_LEN + 1];
	size_t config_size;
	char layer[2][IMG_DIGEST_LEN + 1];
};

static void buf_add(struct buf *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

static la_ssize_t buf_write_cb(struct archive *a, void *data, const void *p, size_t len)
{
	buf_add(data, p, len);
	return (la_ssize_t)len;
}

static void sha(const void *p, size_t len, char out[IMG_DIGEST_LEN + 1])
{
	struct img_sha256 h = { 0 };

	if (img_sha256_init(&h, NULL) < 0)
		abort();
	img_sha256_update(&h, p, len);
	img_sha256_final(&h, out);
}

/* ---- building tars ----------------------------------------------------------------------- */

static void ent_write(struct archive *a, const struct ent *x)
{
	struct archive_entry *e = archive_entry_new();
	size_t len = x->len ? x->len : (x->data ? strlen(x->data) : 0);

	archive_entry_set_pathname(e, x->name);
	archive_entry_set_mtime(e, 1234567890, 0);
	archive_entry_set_filetype(e, x->type == 'd'   ? AE_IFDIR
				      : x->type == 'l' ? AE_IFLNK
						       : AE_IFREG);
	archive_entry_set_perm(e, x->type == 'd' ? 0755 : 0644);
	if (x->type == 'l')
		archive_entry_set_symlink(e, x->data);
	if (x->type == 'f')
		archive_entry_set_size(e, (la_int64_t)len);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		abort();
	if (x->type == 'f' && len && archive_write_data(a, x->data, len) != (la_ssize_t)len)
		abort();
	archive_entry_free(e);
}

static struct buf tar_build(const struct ent *ents, size_t n, bool gzip)
{
	struct archive *a = archive_write_new();
	struct buf b = { 0 };

	archive_write_set_format_pax_restricted(a);
	if (gzip)
		archive_write_add_filter_gzip(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open(a, &b, NULL, buf_write_cb, NULL) != ARCHIVE_OK)
		abort();
	for (size_t i = 0; i < n; i++)
		ent_write(a, &ents[i]);
	archive_write_close(a);
	archive_write_free(a);
	return b;
}

/* ---- building layouts -------------------------------------------------------------------- */

static void mkdirs(const char *path)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

static void file_put(const char *dir, const char *rel, const void *p, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	*strrchr(path, '/') = '\0';
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || sbx_write_all(fd, p, len) < 0)
		abort();
	close(fd);
}

static struct buf file_get(const char *dir, const char *rel)
{
	struct buf b = { 0 };
	char path[512], chunk[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		abort();
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	return b;
}

static void blob_rel(const char *digest, char rel[96])
{
	snprintf(rel, 96, "blobs/sha256/%s", digest + 7);
}

static void blob_put(const char *dir, const void *p, size_t len, char digest[IMG_DIGEST_LEN + 1])
{
	char rel[96];

	sha(p, len, digest);
	blob_rel(digest, rel);
	file_put(dir, rel, p, len);
}

static void text_put(const char *dir, const char *rel, const char *text)
{
	file_put(dir, rel, text, strlen(text));
}

static void layout_dir(char *dir, size_t size)
{
	snprintf(dir, size, "%s/layout%d", base, ++seq);
	mkdirs(dir);
	text_put(dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
}

/* A manifest naming config and two layers (sizes from the blobs on disk). */
static void manifest_put(const char *dir, const char *config, size_t config_size,
			 char layer[2][IMG_DIGEST_LEN + 1], const size_t sizes[2],
			 const char *media2, struct image *ret)
{
	char m[2048];

	snprintf(
		m, sizeof(m),
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
		"\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
		"{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
		MEDIA_CONFIG, config, config_size, MEDIA_LAYER, layer[0], sizes[0], media2,
		layer[1], sizes[1]);
	blob_put(dir, m, strlen(m), ret->manifest);
	ret->manifest_size = strlen(m);
	memcpy(ret->config, config, sizeof(ret->config));
	ret->config_size = config_size;
	memcpy(ret->layer, layer, sizeof(ret->layer));
}

/* Two layers: etc/hello = hello (plain tar), msg = "two" (gzip): diff_ids from the plain tars. */
static void image_build(const char *dir, const char *hello, const char *arch, struct image *ret)
{
	const struct ent l1[] = { D("etc"), F("etc/hello", hello) };
	const struct ent l2[] = { F("msg", "two"), L("etc/link", "hello") };
	struct buf t1 = tar_build(l1, 2, false), t2 = tar_build(l2, 2, false);
	struct buf g2 = tar_build(l2, 2, true);
	char diff[2][IMG_DIGEST_LEN + 1], layer[2][IMG_DIGEST_LEN + 1], config[IMG_DIGEST_LEN + 1];
	char c[1024];
	size_t sizes[2] = { t1.len, g2.len };

	sha(t1.p, t1.len, diff[0]);
	sha(t2.p, t2.len, diff[1]);
	blob_put(dir, t1.p, t1.len, layer[0]);
	blob_put(dir, g2.p, g2.len, layer[1]);
	snprintf(c, sizeof(c),
		 "{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/usr/bin\","
		 "\"ARCH=%s\"],\"WorkingDir\":\"/etc\"},\"rootfs\":{\"type\":\"layers\","
		 "\"diff_ids\":[\"%s\",\"%s\"]}}",
		 arch, arch, diff[0], diff[1]);
	blob_put(dir, c, strlen(c), config);
	manifest_put(dir, config, strlen(c), layer, sizes, MEDIA_LAYER "+gzip", ret);
	free(t1.p);
	free(t2.p);
	free(g2.p);
}

/* index.json with one entry: no platform (as skopeo and Docker write it). */
static void index_put(const char *dir, const char *media, const char *digest, size_t size)
{
	char idx[1024];

	snprintf(idx, sizeof(idx),
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
		 "\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"1\"}}]}",
		 media, digest, size);
	text_put(dir, "index.json", idx);
}

static void simple_layout(char *dir, size_t size, const char *hello, struct image *img)
{
	layout_dir(dir, size);
	image_build(dir, hello, "amd64", img);
	index_put(dir, "application/vnd.oci.image.manifest.v1+json", img->manifest,
		  img->manifest_size);
}

/* ---- checks -------------------------------------------------------------------------------- */

static size_t n_images(void)
{
	struct img_info *list = NULL;
	size_t n = 0;

	if (img_store_list(store, &list, &n, NULL) < 0)
		return (size_t)-1;
	for (size_t i = 0; i < n; i++)
		img_info_done(&list[i]);
	free(list);
	return n;
}

static bool rootfs_has(const struct img_info *info, const char *rel, const char *want)
{
	char path[PATH_MAX + 64], got[256] = "";
	int fd, n;

	snprintf(path, sizeof(path), "%s/%s", info->rootfs, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = (int)read(fd, got, sizeof(got) - 1);
	close(fd);
	got[n > 0 ? n : 0] = '\0';
	return !strcmp(got, want);
}

/* Imported as name, then found by lookup with etc/hello = hello. */
static void check_image(const char *name, const char *hello)
{
	struct img_info info;

	CHECK(img_store_lookup(store, name, &info, NULL) == 0);
	CHECK(rootfs_has(&info, "etc/hello", hello));
	CHECK(rootfs_has(&info, "etc/link", hello)); /* a symlink of layer 2, followed here */
	CHECK(rootfs_has(&info, "msg", "two"));
	img_info_done(&info);
}

/* A refused import: the errno, and no tag added. */
static void check_refused(int r, int want, const struct sbx_error *err, const char *name,
			  size_t before)
{
	struct img_info info;

	if (r != -want)
		fprintf(stderr, "  got %d (%s), wanted %d\n", r, err->msg, -want);
	CHECK(r == -want);
	CHECK(err->msg[0] != '\0');
	CHECK(n_images() == before);
	CHECK(img_store_lookup(store, name, &info, NULL) == -ENOENT);
}

/* ---- OCI layout directories ------------------------------------------------------------------ */

TEST(layout_imports)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img;
	char dir[128];
	int r;

	simple_layout(dir, sizeof(dir), "hello", &img);
	r = img_store_import_layout(store, dir, "example.com/t/basic:1", NULL, &info, &err);
	if (r < 0)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(r == 0);
	CHECK_STREQ(info.name, "example.com/t/basic:1");
	CHECK_STREQ(info.digest, img.manifest);
	CHECK(rootfs_has(&info, "etc/hello", "hello"));
	CHECK_STREQ(info.working_dir, "/etc");
	img_info_done(&info);
	check_image("example.com/t/basic:1", "hello");
	/* a short name is canonicalised as Docker does */
	r = img_store_import_layout(store, dir, "basic", NULL, &info, &err);
	CHECK(r == 0);
	CHECK_STREQ(info.name, "docker.io/library/basic:latest");
	img_info_done(&info);
}

/* index.json -> an index of two platforms: amd64 unless asked otherwise. */
static void multi_layout(char *dir, size_t size, bool nested, struct image img[2])
{
	char idx[2048], digest[IMG_DIGEST_LEN + 1];

	layout_dir(dir, size);
	image_build(dir, "amd64", "amd64", &img[0]);
	image_build(dir, "arm64", "arm64", &img[1]);
	snprintf(idx, sizeof(idx),
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
		 "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":"
		 "\"arm64\",\"variant\":\"v8\"}},{\"mediaType\":\"application/vnd.oci.image."
		 "manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
		 "\"architecture\":\"amd64\"}}]}",
		 img[1].manifest, img[1].manifest_size, img[0].manifest, img[0].manifest_size);
	if (!nested) {
		text_put(dir, "index.json", idx);
		return;
	}
	blob_put(dir, idx, strlen(idx), digest);
	index_put(dir, "application/vnd.oci.image.index.v1+json", digest, strlen(idx));
}

static void multi_case(bool nested)
{
	struct img_pull_opts o = { .platform = { .os = "linux", .arch = "amd64" } };
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img[2];
	char dir[128];
	int r;

	multi_layout(dir, sizeof(dir), nested, img);
	r = img_store_import_layout(store, dir, "t/multi:amd64", &o, &info, &err);
	if (r < 0)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(r == 0);
	CHECK_STREQ(info.digest, img[0].manifest);
	img_info_done(&info);
	check_image("t/multi:amd64", "amd64");
	snprintf(o.platform.arch, sizeof(o.platform.arch), "arm64");
	r = img_store_import_layout(store, dir, "t/multi:arm64", &o, &info, &err);
	CHECK(r == 0);
	CHECK_STREQ(info.digest, img[1].manifest);
	img_info_done(&info);
	check_image("t/multi:arm64", "arm64");
	snprintf(o.platform.arch, sizeof(o.platform.arch), "s390x");
	r = img_store_import_layout(store, dir, "t/multi:s390x", &o, &info, &err);
	CHECK(r == -ENOENT);
}

TEST(layout_multi_platform_top)
{
	multi_case(false);
}

TEST(layout_multi_platform_nested)
{
	multi_case(true);
}

/* Two untagged-by-platform images in one layout: the ref name annotation decides. */
TEST(layout_pick_by_ref_name)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img[2];
	char dir[128], idx[1024];
	int r;

	layout_dir(dir, sizeof(dir));
	image_build(dir, "one", "amd64", &img[0]);
	image_build(dir, "two", "amd64", &img[1]);
	snprintf(idx, sizeof(idx),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		 "\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"1\"}},"
		 "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":"
		 "{\"org.opencontainers.image.ref.name\":\"2\"}}]}",
		 MEDIA_MANIFEST, img[0].manifest, img[0].manifest_size, MEDIA_MANIFEST,
		 img[1].manifest, img[1].manifest_size);
	text_put(dir, "index.json", idx);
	r = img_store_import_layout(store, dir, "t/two:2", NULL, &info, &err);
	CHECK(r == 0);
	CHECK_STREQ(info.digest, img[1].manifest);
	img_info_done(&info);
	check_image("t/two:2", "two");
	r = img_store_import_layout(store, dir, "t/two:3", NULL, &info, &err);
	CHECK(r == -ENOENT);
}

TEST(layout_needs_name)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img;
	char dir[128];
	size_t before = n_images();

	simple_layout(dir, sizeof(dir), "hello", &img);
	CHECK(img_store_import_layout(store, dir, NULL, NULL, &info, &err) == -EINVAL);
	CHECK(strstr(err.msg, "name needed") != NULL);
	CHECK(n_images() == before);
}

/* ---- docker save tarballs -------------------------------------------------------------------- */

static void tar_file(const char *path, const struct ent *ents, size_t n)
{
	struct buf t = tar_build(ents, n, gzip_archives);

	file_put(base, path, t.p, t.len);
	free(t.p);
}

/*
 * The legacy form: <id>/layer.tar, <config hex>.json, manifest.json; the second layer listed
 * twice, once through the symlink docker save writes for a repeated layer.
 */
#define GOOD_LINK "../ccc/layer.tar"

static void legacy_tar(const char *path, const char *layer0, const char *tag, const char *link)
{
	char dir[128], manifest[1024], cfg_name[256], rel[96];
	struct image img;
	struct buf cfg, l1, l2;

	simple_layout(dir, sizeof(dir), "legacy", &img);
	blob_rel(img.config, rel);
	cfg = file_get(dir, rel);
	blob_rel(img.layer[0], rel);
	l1 = file_get(dir, rel);
	blob_rel(img.layer[1], rel);
	l2 = file_get(dir, rel);
	snprintf(cfg_name, sizeof(cfg_name), "%s.json", img.config + 7);
	snprintf(
		manifest, sizeof(manifest),
		"[{\"Config\":\"%s\",\"RepoTags\":[\"%s\"],\"Layers\":[\"%s\",\"bbb/layer.tar\"]}]",
		cfg_name, tag, layer0);
	const struct ent ents[] = {
		D("aaa"),
		F("aaa/VERSION", "1.0"),
		B("aaa/layer.tar", l1.p, l1.len),
		B("ccc/layer.tar", l2.p, l2.len),
		D("bbb"),
		L("bbb/layer.tar", link),
		B(cfg_name, cfg.p, cfg.len),
		F("manifest.json", manifest),
		F("repositories", "{}"),
	};
	tar_file(path, ents, ELEMENTSOF(ents));
	free(cfg.p);
	free(l1.p);
	free(l2.p);
}

TEST(archive_legacy)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	char path[128];
	int r;

	legacy_tar("legacy.tar", "aaa/layer.tar", "t/legacy:2", GOOD_LINK);
	snprintf(path, sizeof(path), "%s/legacy.tar", base);
	r = img_store_import_archive(store, path, NULL, NULL, &info, &err);
	if (r < 0)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(r == 0);
	CHECK_STREQ(info.name, "docker.io/t/legacy:2"); /* its RepoTags */
	img_info_done(&info);
	check_image("t/legacy:2", "legacy");
	/* the operator's name wins */
	r = img_store_import_archive(store, path, "t/renamed", NULL, &info, &err);
	CHECK(r == 0);
	img_info_done(&info);
	check_image("t/renamed:latest", "legacy");
}

TEST(archive_gzip)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	char path[128];
	int r;

	gzip_archives = true;
	legacy_tar("legacy.tar.gz", "aaa/layer.tar", "t/legacy:gz", GOOD_LINK);
	gzip_archives = false;
	snprintf(path, sizeof(path), "%s/legacy.tar.gz", base);
	r = img_store_import_archive(store, path, NULL, NULL, &info, &err);
	if (r < 0)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(r == 0);
	img_info_done(&info);
	check_image("t/legacy:gz", "legacy");
}

/* Docker >= 25: the OCI layout inside the tarball (and a manifest.json for older loaders). */
static void oci_tar(const char *path, const char *dir, const struct image *img, bool with_index)
{
	struct buf f[6];
	const char *rels[6] = { "oci-layout", "index.json" };
	char blob[4][96], manifest[1024];
	struct ent ents[8];
	size_t n = 0;

	blob_rel(img->manifest, blob[0]);
	blob_rel(img->config, blob[1]);
	blob_rel(img->layer[0], blob[2]);
	blob_rel(img->layer[1], blob[3]);
	for (int i = 0; i < 4; i++)
		rels[2 + i] = blob[i];
	for (int i = with_index ? 0 : 2; i < 6; i++) {
		f[i] = file_get(dir, rels[i]);
		ents[n++] = (struct ent)B(rels[i], f[i].p, f[i].len);
	}
	snprintf(manifest, sizeof(manifest),
		 "[{\"Config\":\"%s\",\"RepoTags\":[\"t/oci:25\"],\"Layers\":[\"%s\",\"%s\"]}]",
		 blob[1], blob[2], blob[3]);
	ents[n++] = (struct ent)F("manifest.json", manifest);
	tar_file(path, ents, n);
	for (int i = with_index ? 0 : 2; i < 6; i++)
		free(f[i].p);
}

TEST(archive_oci_inside)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img;
	char dir[128], path[128];
	int r;

	simple_layout(dir, sizeof(dir), "oci25", &img);
	oci_tar("oci.tar", dir, &img, true);
	snprintf(path, sizeof(path), "%s/oci.tar", base);
	r = img_store_import_archive(store, path, NULL, NULL, &info, &err);
	if (r < 0)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(r == 0);
	CHECK_STREQ(info.digest, img.manifest); /* the layout's manifest, not a synthesised one */
	img_info_done(&info);
	check_image("t/oci:25", "oci25");
}

/* Docker 25's manifest.json alone (blobs/sha256 paths), as if index.json were missing. */
TEST(archive_blob_paths_legacy)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img;
	char dir[128], path[128];
	int r;

	simple_layout(dir, sizeof(dir), "noindex", &img);
	oci_tar("noindex.tar", dir, &img, false);
	snprintf(path, sizeof(path), "%s/noindex.tar", base);
	r = img_store_import_archive(store, path, "t/noindex", NULL, &info, &err);
	if (r < 0)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(r == 0);
	img_info_done(&info);
	check_image("t/noindex", "noindex");
}

/* ---- hostile sources --------------------------------------------------------------------------- */

TEST(hostile_index_digest)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img;
	char dir[128];
	size_t before = n_images();
	int r;

	simple_layout(dir, sizeof(dir), "x", &img);
	index_put(dir, "application/vnd.oci.image.manifest.v1+json", "sha256:../../x", 10);
	r = img_store_import_layout(store, dir, "t/evil:digest", NULL, &info, &err);
	check_refused(r, EINVAL, &err, "t/evil:digest", before);
}

/*
 * A blob that is a symlink to a host file whose digest the attacker knows (/etc/passwd is
 * world-readable): the digest would match, so only refusing the symlink stops the read.
 */
TEST(hostile_blob_symlink)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img, evil;
	struct buf passwd = file_get("/etc", "passwd");
	char dir[128], layer[2][IMG_DIGEST_LEN + 1], rel[96], path[256];
	size_t before = n_images(), sizes[2] = { passwd.len, passwd.len };
	int r;

	simple_layout(dir, sizeof(dir), "x", &img);
	sha(passwd.p, passwd.len, layer[0]);
	memcpy(layer[1], layer[0], sizeof(layer[1]));
	blob_rel(layer[0], rel);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	CHECK(symlink("/etc/passwd", path) == 0);
	manifest_put(dir, img.config, img.config_size, layer, sizes, MEDIA_LAYER, &evil);
	index_put(dir, "application/vnd.oci.image.manifest.v1+json", evil.manifest,
		  evil.manifest_size);
	r = img_store_import_layout(store, dir, "t/evil:symlink", NULL, &info, &err);
	check_refused(r, ELOOP, &err, "t/evil:symlink", before);
	free(passwd.p);
}

/* blobs/ itself a symlink (to a good layout elsewhere): no component is followed. */
TEST(hostile_blobs_dir_symlink)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img;
	char dir[128], dir2[128], path[256], target[256];
	size_t before = n_images();
	int r;

	simple_layout(dir, sizeof(dir), "x", &img);
	layout_dir(dir2, sizeof(dir2));
	index_put(dir2, "application/vnd.oci.image.manifest.v1+json", img.manifest,
		  img.manifest_size);
	snprintf(path, sizeof(path), "%s/blobs", dir2);
	snprintf(target, sizeof(target), "%s/blobs", dir);
	CHECK(symlink(target, path) == 0);
	r = img_store_import_layout(store, dir2, "t/evil:blobsdir", NULL, &info, &err);
	CHECK(r < 0);
	check_refused(r, -r, &err, "t/evil:blobsdir", before);
	CHECK(r == -ELOOP || r == -ENOTDIR);
}

TEST(hostile_layer_mismatch)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img;
	struct buf b;
	char dir[128], rel[96];
	size_t before = n_images();
	int r;

	simple_layout(dir, sizeof(dir), "x", &img);
	blob_rel(img.layer[0], rel);
	b = file_get(dir, rel);
	b.p[b.len - 1] ^= 1; /* same size, other content */
	file_put(dir, rel, b.p, b.len);
	free(b.p);
	r = img_store_import_layout(store, dir, "t/evil:mismatch", NULL, &info, &err);
	check_refused(r, EBADMSG, &err, "t/evil:mismatch", before);
}

/* The same inside a tarball: caught while the member streams. */
TEST(hostile_archive_mismatch)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	struct image img;
	struct buf b;
	char dir[128], rel[96], path[128];
	size_t before = n_images();
	int r;

	simple_layout(dir, sizeof(dir), "x", &img);
	blob_rel(img.layer[1], rel);
	b = file_get(dir, rel);
	b.p[b.len / 2] ^= 1;
	file_put(dir, rel, b.p, b.len);
	free(b.p);
	oci_tar("mismatch.tar", dir, &img, true);
	snprintf(path, sizeof(path), "%s/mismatch.tar", base);
	r = img_store_import_archive(store, path, "t/evil:tarmismatch", NULL, &info, &err);
	check_refused(r, EBADMSG, &err, "t/evil:tarmismatch", before);
}

TEST(hostile_archive_paths)
{
	static const char *const bad[] = { "../../etc/passwd", "/etc/passwd", "aaa/../../x",
					   "aaa//layer.tar", "./aaa/layer.tar" };
	struct sbx_error err = { 0 };
	struct img_info info;
	char path[128];
	size_t before = n_images();
	int r;

	snprintf(path, sizeof(path), "%s/evil.tar", base);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		legacy_tar("evil.tar", bad[i], "t/evil:path", GOOD_LINK);
		memset(&err, 0, sizeof(err));
		r = img_store_import_archive(store, path, NULL, NULL, &info, &err);
		check_refused(r, EINVAL, &err, "t/evil:path", before);
		CHECK(strstr(err.msg, "Layers[0]") != NULL);
	}
}

/* A symlink member leading out of the archive names nothing: it is never followed on disk. */
TEST(hostile_archive_symlink)
{
	static const char *const bad[] = { "/etc/passwd", "../../../etc/passwd", "bbb/layer.tar" };
	struct sbx_error err = { 0 };
	struct img_info info;
	char path[128];
	size_t before = n_images();
	int r;

	snprintf(path, sizeof(path), "%s/evil-link.tar", base);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		legacy_tar("evil-link.tar", "aaa/layer.tar", "t/evil:link", bad[i]);
		memset(&err, 0, sizeof(err));
		r = img_store_import_archive(store, path, NULL, NULL, &info, &err);
		CHECK(r == -ENOENT || r == -ELOOP);
		check_refused(r, -r, &err, "t/evil:link", before);
	}
}

TEST(hostile_archive_not_docker)
{
	const struct ent ents[] = { F("etc/passwd", "root:x:0:0::/:/bin/sh\n") };
	struct sbx_error err = { 0 };
	struct img_info info;
	char path[128];
	size_t before = n_images();
	int r;

	tar_file("plain.tar", ents, ELEMENTSOF(ents));
	snprintf(path, sizeof(path), "%s/plain.tar", base);
	r = img_store_import_archive(store, path, "t/evil:plain", NULL, &info, &err);
	check_refused(r, EINVAL, &err, "t/evil:plain", before);
}

/* ---- main ------------------------------------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? 0 : 0;
}

int main(void)
{
	struct sbx_error err = { 0 };
	char state[128];

	snprintf(base, sizeof(base), "/tmp/sbx-layout.XXXXXX");
	if (!mkdtemp(base))
		return 1;
	snprintf(state, sizeof(state), "%s/state", base);
	if (img_store_open(state, &store, &err) < 0) {
		fprintf(stderr, "img_store_open: %s\n", err.msg);
		return 1;
	}
	RUN(layout_imports);
	RUN(layout_multi_platform_top);
	RUN(layout_multi_platform_nested);
	RUN(layout_pick_by_ref_name);
	RUN(layout_needs_name);
	RUN(archive_legacy);
	RUN(archive_gzip);
	RUN(archive_oci_inside);
	RUN(archive_blob_paths_legacy);
	RUN(hostile_index_digest);
	RUN(hostile_blob_symlink);
	RUN(hostile_blobs_dir_symlink);
	RUN(hostile_layer_mismatch);
	RUN(hostile_archive_mismatch);
	RUN(hostile_archive_paths);
	RUN(hostile_archive_symlink);
	RUN(hostile_archive_not_docker);
	img_store_close(store);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	UNIT_END();
}
