/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - the image store. Offline: a tiny two-layer image (plain tar layers written with
 * libarchive, the second with a whiteout) is put blob by blob, committed, looked up, listed,
 * untagged and collected; a wrong digest and a wrong diff_id are refused with the store as it
 * was; leftovers of a dead pull are cleared at open; three processes committing one image at
 * once make one rootfs. Online: Debian's docker-registry on loopback (as test_registry.c starts
 * it), the image pushed, then pulled through img_store_pull: by tag, by digest, through an
 * OCI index, once only (the registry stopped, pulls still succeed); an unknown tag changes
 * nothing. Skips, saying why, when docker-registry is not installed or does not start.
 */
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "registry_fixture.h"
#include "store.h"
#include "unit.h"
#include "util.h"

#define REPO "test/img"
#define NAME "test.local/x:1"

struct doc {
	char *data;
	size_t len;
	char digest[IMG_DIGEST_LEN + 1];
};

static struct {
	char dir[64], state[96];
	struct doc layer[2], config, bad_config, config_y, manifest, bad_manifest, manifest_y;
} t;

static void doc_set(struct doc *d, char *data, size_t len)
{
	d->data = data;
	d->len = len;
	fixture_sha256(data, len, d->digest);
}

/* ---- building the image -------------------------------------------------------------------- */

struct ent {
	const char *path;
	const char *data; /* NULL: a directory */
};

static int tar_layer(const struct ent *ents, size_t n, struct doc *out)
{
	size_t cap = 64 * 1024, used = 0;
	char *buf = calloc(1, cap);
	struct archive *a = archive_write_new();
	int r = -1;

	if (!buf || !a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		size_t len = ents[i].data ? strlen(ents[i].data) : 0;

		archive_entry_set_pathname(e, ents[i].path);
		archive_entry_set_filetype(e, ents[i].data ? AE_IFREG : AE_IFDIR);
		archive_entry_set_perm(e, ents[i].data ? 0644 : 0755);
		archive_entry_set_size(e, (la_int64_t)len);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    (len && archive_write_data(a, ents[i].data, len) != (la_ssize_t)len)) {
			archive_entry_free(e);
			goto out;
		}
		archive_entry_free(e);
	}
	if (archive_write_close(a) == ARCHIVE_OK) {
		doc_set(out, buf, used);
		buf = NULL;
		r = 0;
	}
out:
	archive_write_free(a);
	free(buf);
	return r;
}

static char *config_json(const char *env, const char *d1, const char *d2)
{
	char *s = NULL;

	if (asprintf(&s,
		     "{\"architecture\": \"amd64\", \"os\": \"linux\", \"config\": {\"Env\":"
		     " [\"PATH=/usr/bin\", \"%s\"], \"WorkingDir\": \"/work\"}, \"rootfs\":"
		     " {\"type\": \"layers\", \"diff_ids\": [\"%s\", \"%s\"]}}",
		     env, d1, d2) < 0)
		return NULL;
	return s;
}

static char *manifest_json(const struct doc *config)
{
	char *s = NULL;

	if (asprintf(
		    &s,
		    "{\"schemaVersion\": 2, \"mediaType\": \"%s\", \"config\": {\"mediaType\":"
		    " \"application/vnd.oci.image.config.v1+json\", \"digest\": \"%s\", \"size\":"
		    " %zu}, \"layers\": [{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar\","
		    " \"digest\": \"%s\", \"size\": %zu}, {\"mediaType\":"
		    " \"application/vnd.oci.image.layer.v1.tar\", \"digest\": \"%s\", \"size\": %zu}]}",
		    IMG_MEDIA_OCI_MANIFEST, config->digest, config->len, t.layer[0].digest,
		    t.layer[0].len, t.layer[1].digest, t.layer[1].len) < 0)
		return NULL;
	return s;
}

static void make_doc(struct doc *d, char *s)
{
	if (s)
		doc_set(d, s, strlen(s));
}

static int build_image(void)
{
	static const struct ent l1[] = { { "etc/", NULL },
					 { "etc/hello", "hello\n" },
					 { "etc/gone", "x\n" },
					 { "bin/", NULL },
					 { "bin/tool", "#!/bin/sh\n" } };
	static const struct ent l2[] = { { "etc/.wh.gone", "" },
					 { "etc/hello", "hello again\n" },
					 { "etc/new", "new\n" } };

	if (tar_layer(l1, ELEMENTSOF(l1), &t.layer[0]) < 0 ||
	    tar_layer(l2, ELEMENTSOF(l2), &t.layer[1]) < 0)
		return -1;
	/* plain tar: the diff_id is the blob's own digest */
	make_doc(&t.config, config_json("A=1", t.layer[0].digest, t.layer[1].digest));
	make_doc(&t.bad_config, config_json("A=2", t.layer[0].digest, t.layer[0].digest));
	make_doc(&t.config_y, config_json("A=3", t.layer[0].digest, t.layer[1].digest));
	make_doc(&t.manifest, manifest_json(&t.config));
	make_doc(&t.bad_manifest, manifest_json(&t.bad_config));
	make_doc(&t.manifest_y, manifest_json(&t.config_y));
	return t.manifest_y.data ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static int put_mem(struct img_store *s, const char *digest, const void *buf, size_t len,
		   struct sbx_error *err)
{
	_cleanup_close_ int fd = memfd_create("test-blob", MFD_CLOEXEC);

	if (fd < 0 || sbx_write_all(fd, buf, len) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return -EIO;
	return img_store_put_blob(s, digest, fd, err);
}

static int put_doc(struct img_store *s, const struct doc *d, struct sbx_error *err)
{
	return put_mem(s, d->digest, d->data, d->len, err);
}

static bool file_is(const char *dir, const char *rel, const char *want)
{
	char path[PATH_MAX + 64], buf[256] = { 0 };
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, want) == 0;
}

static bool exists(const char *dir, const char *rel)
{
	char path[PATH_MAX + 200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return lstat(path, &st) == 0;
}

/* Entries of STATE/sub, "." and ".." and the store handles' own locks ("h*.lock") left out. */
static int count_entries(const char *sub)
{
	char path[256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", t.state, sub);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !(de->d_name[0] == 'h' && strstr(de->d_name, ".lock")))
			n++;
	closedir(d);
	return n;
}

static char *read_refs(void)
{
	char path[256], *buf = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/refs.json", t.state);
	f = fopen(path, "re");
	if (!f)
		return strdup("");
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* ---- offline ------------------------------------------------------------------------------- */

TEST(setup)
{
	snprintf(t.dir, sizeof(t.dir), "/tmp/sbx-unit-store-XXXXXX");
	CHECK(mkdtemp(t.dir) != NULL);
	snprintf(t.state, sizeof(t.state), "%s/state", t.dir);
	CHECK(build_image() == 0);
}

TEST(open_layout)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	struct stat st;

	CHECK(img_store_open(t.state, &s, &err) == 0);
	CHECK(stat(t.state, &st) == 0 && (st.st_mode & 07777) == 0700);
	CHECK(exists(t.state, "blobs/sha256") && exists(t.state, "images"));
	CHECK(exists(t.state, "tmp"));
	img_store_close(s);
}

TEST(put_blob)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	char path[PATH_MAX], wrong[IMG_DIGEST_LEN + 1];

	CHECK(img_store_open(t.state, &s, &err) == 0);
	if (!s)
		return;
	fixture_sha256("other", 5, wrong);
	/* bytes that are not what the digest says: refused, nothing stored, nothing left over */
	CHECK(put_mem(s, wrong, t.config.data, t.config.len, &err) == -EBADMSG);
	CHECK(strstr(err.msg, "digest mismatch: expected sha256:") && strstr(err.msg, ", got "));
	CHECK(img_store_blob_path(s, wrong, path, sizeof(path), &err) == -ENOENT);
	CHECK(count_entries("tmp") == 0);
	CHECK(put_mem(s, "sha256:../../etc/passwd", "x", 1, &err) == -EINVAL);
	CHECK(put_doc(s, &t.layer[0], &err) == 0);
	CHECK(put_doc(s, &t.layer[1], &err) == 0);
	CHECK(put_doc(s, &t.config, &err) == 0);
	CHECK(put_doc(s, &t.config, &err) == 0); /* already there: fine */
	CHECK(img_store_blob_path(s, t.config.digest, path, sizeof(path), &err) == 0);
	CHECK(file_is(path, "", t.config.data) || strstr(path, t.config.digest + 7));
	CHECK(count_entries("blobs/sha256") == 3 && count_entries("tmp") == 0);
	img_store_close(s);
}

static void check_info(const struct img_info *info)
{
	CHECK_STREQ(info->name, "test.local/x:1");
	CHECK_STREQ(info->digest, t.manifest.digest);
	CHECK(strstr(info->rootfs, t.manifest.digest + 7) && strstr(info->rootfs, "/rootfs"));
	CHECK(info->env && info->env[0] && info->env[1] && !info->env[2]);
	if (info->env && info->env[0] && info->env[1]) {
		CHECK_STREQ(info->env[0], "PATH=/usr/bin");
		CHECK_STREQ(info->env[1], "A=1");
	}
	CHECK_STREQ(info->working_dir, "/work");
	CHECK_STREQ(info->platform, "linux/amd64");
	CHECK(info->size > 0 && info->pulled > 0);
}

TEST(commit_and_lookup)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	struct img_info info = { 0 }, *list = NULL;
	char pinned[200];
	size_t n = 0;

	CHECK(img_store_open(t.state, &s, &err) == 0);
	if (!s)
		return;
	CHECK(img_store_commit(s, NAME, t.manifest.data, t.manifest.len, NULL, &info, &err) == 0);
	check_info(&info);
	/* flattened: layer 2 replaced hello, whited out gone, added new */
	CHECK(file_is(info.rootfs, "etc/hello", "hello again\n"));
	CHECK(file_is(info.rootfs, "etc/new", "new\n"));
	CHECK(file_is(info.rootfs, "bin/tool", "#!/bin/sh\n"));
	CHECK(!exists(info.rootfs, "etc/gone") && !exists(info.rootfs, "etc/.wh.gone"));
	img_info_done(&info);
	/* by name, by digest, by name@digest; the manifest itself is a blob now */
	CHECK(img_store_lookup(s, NAME, &info, &err) == 0);
	check_info(&info);
	img_info_done(&info);
	CHECK(img_store_lookup(s, t.manifest.digest, &info, &err) == 0);
	check_info(&info);
	img_info_done(&info);
	snprintf(pinned, sizeof(pinned), "test.local/x@%s", t.manifest.digest);
	CHECK(img_store_lookup(s, pinned, &info, &err) == 0);
	img_info_done(&info);
	CHECK(img_store_lookup(s, "test.local/x", &info, &err) == -ENOENT); /* :latest */
	CHECK(count_entries("blobs/sha256") == 4 && count_entries("tmp") == 0);
	CHECK(img_store_list(s, &list, &n, &err) == 0);
	CHECK(n == 1);
	if (n == 1)
		check_info(&list[0]);
	for (size_t i = 0; i < n; i++)
		img_info_done(&list[i]);
	free(list);
	img_store_close(s);
}

TEST(diff_id_mismatch)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	struct img_info info = { 0 };
	_cleanup_free_ char *before = read_refs(), *after = NULL;

	CHECK(img_store_open(t.state, &s, &err) == 0);
	if (!s)
		return;
	CHECK(put_doc(s, &t.bad_config, &err) == 0);
	CHECK(img_store_commit(s, "test.local/bad:1", t.bad_manifest.data, t.bad_manifest.len, NULL,
			       &info, &err) == -EBADMSG);
	CHECK(strstr(err.msg, "layer 2") && strstr(err.msg, "diff_id mismatch"));
	after = read_refs();
	CHECK_STREQ(after, before);
	CHECK(count_entries("images") == 1 && count_entries("tmp") == 0);
	CHECK(img_store_lookup(s, "test.local/bad:1", &info, &err) == -ENOENT);
	img_store_close(s);
}

/* Three processes commit one new image at once: all succeed, one rootfs. */
TEST(concurrent_commit)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	struct img_info info = { 0 };
	pid_t pids[3];
	int gate[2], ok = 0;

	CHECK(img_store_open(t.state, &s, &err) == 0 && pipe2(gate, O_CLOEXEC) == 0);
	if (!s)
		return;
	CHECK(put_doc(s, &t.config_y, &err) == 0);
	for (int i = 0; i < 3; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct img_store *c = NULL;
			char x;

			close(gate[1]);
			(void)!read(gate[0], &x, 1); /* all start together */
			if (img_store_open(t.state, &c, &err) < 0 ||
			    img_store_commit(c, "test.local/y:1", t.manifest_y.data,
					     t.manifest_y.len, NULL, &info, &err) < 0) {
				fprintf(stderr, "  child: %s\n", err.msg);
				_exit(1);
			}
			_exit(0);
		}
	}
	close(gate[0]);
	close(gate[1]);
	for (int i = 0; i < 3; i++) {
		int st;

		if (pids[i] > 0 && waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) &&
		    WEXITSTATUS(st) == 0)
			ok++;
	}
	CHECK(ok == 3);
	CHECK(count_entries("images") == 2 && count_entries("tmp") == 0);
	CHECK(img_store_lookup(s, "test.local/y:1", &info, &err) == 0);
	CHECK(info.env && info.env[1] && strcmp(info.env[1], "A=3") == 0);
	CHECK(file_is(info.rootfs, "etc/new", "new\n"));
	img_info_done(&info);
	img_store_close(s);
}

TEST(remove_and_gc)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	struct img_info info = { 0 };
	char path[PATH_MAX];
	uint64_t freed = 0;

	CHECK(img_store_open(t.state, &s, &err) == 0);
	if (!s)
		return;
	CHECK(img_store_remove(s, NAME, &err) == 0);
	CHECK(img_store_lookup(s, NAME, &info, &err) == -ENOENT);
	CHECK(img_store_remove(s, NAME, &err) == -ENOENT);
	/* untagged only: the rootfs stays until gc */
	CHECK(count_entries("images") == 2);
	CHECK(img_store_gc(s, &freed, &err) == 0);
	CHECK(freed > t.config.len + t.manifest.len);
	CHECK(count_entries("images") == 1);
	/* x's manifest and configs went; the layers y shares stayed */
	CHECK(img_store_blob_path(s, t.manifest.digest, path, sizeof(path), &err) == -ENOENT);
	CHECK(img_store_blob_path(s, t.config.digest, path, sizeof(path), &err) == -ENOENT);
	CHECK(img_store_blob_path(s, t.bad_config.digest, path, sizeof(path), &err) == -ENOENT);
	CHECK(img_store_blob_path(s, t.layer[1].digest, path, sizeof(path), &err) == 0);
	CHECK(img_store_lookup(s, "test.local/y:1", &info, &err) == 0);
	img_info_done(&info);
	/* by digest: every tag of it */
	CHECK(img_store_remove(s, t.manifest_y.digest, &err) == 0);
	CHECK(img_store_gc(s, &freed, &err) == 0 && freed > 0);
	CHECK(count_entries("images") == 0 && count_entries("blobs/sha256") == 0);
	CHECK(img_store_gc(s, &freed, &err) == 0 && freed == 0);
	img_store_close(s);
}

static void touch(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/tmp/%s", t.state, name);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

/* What a killed pull leaves is cleared at open; what a live one holds is not. */
TEST(dead_pull_cleaned)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	char path[256];
	int held;

	touch("junk");
	touch("aaaa.part");
	touch("aaaa.lock");
	snprintf(path, sizeof(path), "%s/tmp/bbbb.rootfs.1", t.state);
	CHECK(mkdir(path, 0755) == 0);
	touch("bbbb.rootfs.1/file");
	touch("cccc.part");
	snprintf(path, sizeof(path), "%s/tmp/cccc.lock", t.state);
	held = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	CHECK(held >= 0 && flock(held, LOCK_EX) == 0);
	CHECK(count_entries("tmp") == 6);
	CHECK(img_store_open(t.state, &s, &err) == 0);
	CHECK(count_entries("tmp") == 2); /* cccc's */
	CHECK(exists(t.state, "tmp/cccc.part"));
	img_store_close(s);
	close(held);
	CHECK(img_store_open(t.state, &s, &err) == 0);
	CHECK(count_entries("tmp") == 0);
	img_store_close(s);
}

/* ---- the registry (as test_registry.c runs it) ----------------------------------------------- */

static struct {
	struct fixture_registry r;
	char index_digest[IMG_DIGEST_LEN + 1];
} reg = { .r = FIXTURE_REGISTRY_INIT };

static int push_blob(const struct doc *d)
{
	return fixture_push_blob(&reg.r, REPO, d->data, d->len, NULL);
}

static int push_manifest(const char *tag, const char *media, const char *body)
{
	return fixture_push_manifest(&reg.r, REPO, tag, media, body);
}

/* v1, v2: the image manifest; multi: an OCI index offering it for this host's platform. */
static int push_image(void)
{
	struct img_platform host;
	_cleanup_free_ char *index = NULL;

	img_platform_host(&host);
	if (push_blob(&t.layer[0]) < 0 || push_blob(&t.layer[1]) < 0 || push_blob(&t.config) < 0 ||
	    push_manifest("v1", IMG_MEDIA_OCI_MANIFEST, t.manifest.data) < 0 ||
	    push_manifest("v2", IMG_MEDIA_OCI_MANIFEST, t.manifest.data) < 0)
		return -1;
	if (asprintf(&index,
		     "{\"schemaVersion\": 2, \"mediaType\": \"%s\", \"manifests\": [{\"mediaType\":"
		     " \"%s\", \"digest\": \"%s\", \"size\": %zu, \"platform\": {\"os\": \"linux\","
		     " \"architecture\": \"%s\"}}]}",
		     IMG_MEDIA_OCI_INDEX, IMG_MEDIA_OCI_MANIFEST, t.manifest.digest, t.manifest.len,
		     host.arch) < 0)
		return -1;
	fixture_sha256(index, strlen(index), reg.index_digest);
	return push_manifest("multi", IMG_MEDIA_OCI_INDEX, index);
}

TEST(registry_start)
{
	int r;

	if (access(FIXTURE_REGISTRY_BIN, X_OK) < 0) {
		reg.r.skip = FIXTURE_SKIP_NOT_INSTALLED;
		SKIP(reg.r.skip);
	}
	reg.r.port = fixture_free_port();
	snprintf(reg.r.dir, sizeof(reg.r.dir), "%s/registry", t.dir);
	CHECK(reg.r.port > 0 && mkdir(reg.r.dir, 0700) == 0);
	r = fixture_registry_start(&reg.r);
	CHECK(r != -EIO);    /* config.yml written */
	CHECK(r != -ECHILD); /* forked */
	if (r < 0) {
		reg.r.skip = "docker-registry did not start (see registry.log in its temp dir)";
		SKIP(reg.r.skip);
	}
	if (push_image() < 0) {
		reg.r.skip = "could not push the test image";
		CHECK(!"push to the loopback registry");
	}
}

#define NEED_REGISTRY()                                                                            \
	do {                                                                                       \
		if (reg.r.skip || reg.r.pid < 0)                                                   \
			SKIP(reg.r.skip ? reg.r.skip : "no registry");                             \
	} while (0)

static void on_progress(void *userdata, const char *digest, uint64_t done, uint64_t total)
{
	uint64_t *bytes = userdata;

	*bytes += done == total ? done : 0;
}

static int pull(struct img_store *s, const char *what, uint64_t *bytes, struct img_info *info,
		struct sbx_error *err)
{
	struct img_pull_opts o = { .progress = on_progress, .userdata = bytes };
	char ref[256];

	snprintf(ref, sizeof(ref), "127.0.0.1:%d/%s%s", reg.r.port, REPO, what);
	*bytes = 0;
	return img_store_pull(s, ref, &o, info, err);
}

TEST(pull_from_registry)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	struct img_info info = { 0 };
	_cleanup_free_ char *before = NULL, *after = NULL;
	uint64_t bytes = 0;

	NEED_REGISTRY();
	CHECK(img_store_open(t.state, &s, &err) == 0);
	if (!s)
		return;
	CHECK(pull(s, ":v1", &bytes, &info, &err) == 0);
	CHECK(bytes >= t.layer[0].len + t.layer[1].len); /* downloaded */
	CHECK(strstr(info.name, REPO ":v1") && strcmp(info.digest, t.manifest.digest) == 0);
	CHECK(file_is(info.rootfs, "etc/hello", "hello again\n"));
	img_info_done(&info);
	CHECK(pull(s, ":v1", &bytes, &info, &err) == 0 && bytes == 0); /* pulled once */
	img_info_done(&info);
	/* an unknown tag: ENOENT, and the store as it was */
	before = read_refs();
	CHECK(pull(s, ":nosuchtag", &bytes, &info, &err) == -ENOENT);
	after = read_refs();
	CHECK_STREQ(after, before);
	CHECK(count_entries("images") == 1 && count_entries("tmp") == 0);
	img_store_close(s);
}

/* Untag and collect everything: the next pull downloads again. */
static int forget_all(void)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	uint64_t freed;
	int r = img_store_open(t.state, &s, &err);

	if (r >= 0)
		r = img_store_remove(s, t.manifest.digest, &err);
	if (r >= 0)
		r = img_store_gc(s, &freed, &err);
	img_store_close(s);
	return r >= 0 && count_entries("blobs/sha256") == 0 ? 0 : -1;
}

/* Two processes pull the same image at once: one download between them, both succeed. */
TEST(pull_concurrent)
{
	uint64_t *total = mmap(NULL, sizeof(*total), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t once = t.layer[0].len + t.layer[1].len + t.config.len;
	int ok = 0;

	NEED_REGISTRY();
	CHECK(total != MAP_FAILED && forget_all() == 0);
	if (total == MAP_FAILED)
		return;
	for (int i = 0; i < 2; i++)
		if (fork() == 0) {
			struct sbx_error err = { 0 };
			struct img_store *c = NULL;
			struct img_info info;
			uint64_t bytes = 0;

			if (img_store_open(t.state, &c, &err) < 0 ||
			    pull(c, ":v2", &bytes, &info, &err) < 0) {
				fprintf(stderr, "  child: %s\n", err.msg);
				_exit(1);
			}
			__atomic_fetch_add(total, bytes, __ATOMIC_SEQ_CST);
			_exit(0);
		}
	for (int i = 0; i < 2; i++) {
		int st;

		if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
	}
	CHECK(ok == 2);
	CHECK(*total >= once && *total < 2 * once);
	munmap(total, sizeof(*total));
}

TEST(pull_by_digest_and_index)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	struct img_info info = { 0 };
	char name[100];
	uint64_t bytes = 0;

	NEED_REGISTRY();
	CHECK(img_store_open(t.state, &s, &err) == 0);
	if (!s)
		return;
	/* untag and collect, then by digest: downloaded again */
	CHECK(forget_all() == 0);
	snprintf(name, sizeof(name), "@%s", t.manifest.digest);
	CHECK(pull(s, name, &bytes, &info, &err) == 0 && bytes > 0);
	CHECK_STREQ(info.digest, t.manifest.digest);
	img_info_done(&info);
	/* through the index: this host's platform picked, its blobs already here */
	CHECK(pull(s, ":multi", &bytes, &info, &err) == 0 && bytes == 0);
	CHECK_STREQ(info.digest, t.manifest.digest);
	img_info_done(&info);
	CHECK(pull(s, ":v1", &bytes, &info, &err) == 0);
	img_info_done(&info);
	img_store_close(s);
}

/* No registry any more: what the store has still pulls. */
TEST(pull_offline)
{
	struct sbx_error err = { 0 };
	struct img_store *s = NULL;
	struct img_info info = { 0 };
	char name[100];
	uint64_t bytes = 0;

	NEED_REGISTRY();
	fixture_registry_stop(&reg.r);
	CHECK(img_store_open(t.state, &s, &err) == 0);
	if (!s)
		return;
	CHECK(pull(s, ":v1", &bytes, &info, &err) == 0 && bytes == 0);
	img_info_done(&info);
	snprintf(name, sizeof(name), "@%s", t.manifest.digest);
	CHECK(pull(s, name, &bytes, &info, &err) == 0);
	CHECK(file_is(info.rootfs, "etc/new", "new\n"));
	img_info_done(&info);
	CHECK(pull(s, ":multi", &bytes, &info, &err) == 0);
	img_info_done(&info);
	CHECK(count_entries("images") == 1 && count_entries("tmp") == 0);
	img_store_close(s);
}

TEST(teardown)
{
	fixture_registry_stop(&reg.r);
	if (t.dir[0])
		nftw(t.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t.layer[0].data);
	free(t.layer[1].data);
	free(t.config.data);
	free(t.bad_config.data);
	free(t.config_y.data);
	free(t.manifest.data);
	free(t.bad_manifest.data);
	free(t.manifest_y.data);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	RUN(setup);
	RUN(open_layout);
	RUN(put_blob);
	RUN(commit_and_lookup);
	RUN(diff_id_mismatch);
	RUN(concurrent_commit);
	RUN(remove_and_gc);
	RUN(dead_pull_cleaned);
	RUN(registry_start);
	RUN(pull_from_registry);
	RUN(pull_concurrent);
	RUN(pull_by_digest_and_index);
	RUN(pull_offline);
	RUN(teardown);
	curl_global_cleanup();
	UNIT_END();
}
