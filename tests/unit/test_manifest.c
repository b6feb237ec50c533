/* SPDX-License-Identifier: MIT */
/*
 * test_manifest.c - registry documents (index, manifest list, manifests, config) shaped as real
 * registries send them are read right; hostile ones (traversal digests, absurd sizes, unknown
 * media types, layer floods) are refused before anything is fetched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "unit.h"
#include "util.h"

#define H64(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define DA     "sha256:" H64("a1")
#define DB     "sha256:" H64("b2")
#define DC     "sha256:" H64("c3")
#define DD     "sha256:" H64("d4")
#define DE     "sha256:" H64("e5")

/* docker.io/library/python:3.12-slim style: two platforms and a BuildKit attestation. */
static const char oci_index[] =
	"{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.oci.image.index.v1+json\","
	" \"manifests\": ["
	"  {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" DA "\","
	"   \"size\": 1234, \"platform\": {\"architecture\": \"amd64\", \"os\": \"linux\"}},"
	"  {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" DB "\","
	"   \"size\": 1235, \"platform\": {\"architecture\": \"arm64\", \"os\": \"linux\","
	"   \"variant\": \"v8\"}},"
	"  {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" DC "\","
	"   \"size\": 566, \"annotations\": {\"vnd.docker.reference.type\": \"attestation-manifest\"},"
	"   \"platform\": {\"architecture\": \"unknown\", \"os\": \"unknown\"}}]}";

static const char docker_list[] =
	"{\"schemaVersion\": 2,"
	" \"mediaType\": \"application/vnd.docker.distribution.manifest.list.v2+json\","
	" \"manifests\": ["
	"  {\"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\", \"size\": 528,"
	"   \"digest\": \"" DA "\", \"platform\": {\"architecture\": \"arm\", \"os\": \"linux\","
	"   \"variant\": \"v6\"}},"
	"  {\"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\", \"size\": 528,"
	"   \"digest\": \"" DB "\", \"platform\": {\"architecture\": \"arm\", \"os\": \"linux\","
	"   \"variant\": \"v7\"}},"
	"  {\"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\", \"size\": 528,"
	"   \"digest\": \"" DC
	"\", \"platform\": {\"architecture\": \"arm64\", \"os\": \"linux\"}},"
	"  {\"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\", \"size\": 528,"
	"   \"digest\": \"" DD
	"\", \"platform\": {\"architecture\": \"s390x\", \"os\": \"linux\"}}]}";

static const char oci_manifest[] =
	"{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\","
	" \"config\": {\"mediaType\": \"application/vnd.oci.image.config.v1+json\","
	"   \"digest\": \"" DA "\", \"size\": 7023},"
	" \"layers\": ["
	"  {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\", \"digest\": \"" DB "\","
	"   \"size\": 32654},"
	"  {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\", \"digest\": \"" DC "\","
	"   \"size\": 16724},"
	"  {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar\", \"digest\": \"" DD "\","
	"   \"size\": 0}],"
	" \"annotations\": {\"org.opencontainers.image.created\": \"2024-01-01T00:00:00Z\"}}";

static const char docker_manifest[] =
	"{\"schemaVersion\": 2,"
	" \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\","
	" \"config\": {\"mediaType\": \"application/vnd.docker.container.image.v1+json\","
	"   \"size\": 1469, \"digest\": \"" DE "\"},"
	" \"layers\": [{\"mediaType\": \"application/vnd.docker.image.rootfs.diff.tar.gzip\","
	"   \"size\": 3370706, \"digest\": \"" DA "\"}]}";

static const char image_config[] =
	"{\"architecture\": \"amd64\", \"os\": \"linux\","
	" \"config\": {\"Env\": [\"PATH=/usr/local/bin:/usr/bin:/bin\", \"LANG=C.UTF-8\","
	"   \"PYTHON_VERSION=3.12.1\"], \"Cmd\": [\"python3\"], \"WorkingDir\": \"/app\"},"
	" \"created\": \"2024-01-01T00:00:00Z\","
	" \"history\": [{\"created_by\": \"/bin/sh -c #(nop) ADD file:abc in / \"}],"
	" \"rootfs\": {\"type\": \"layers\", \"diff_ids\": [\"" DB "\", \"" DC "\"]}}";

static int pick(const char *doc, const char *arch, const char *variant, struct img_descriptor *d,
		struct sbx_error *err)
{
	struct img_platform want = { .os = "linux" };

	snprintf(want.arch, sizeof(want.arch), "%s", arch);
	snprintf(want.variant, sizeof(want.variant), "%s", variant);
	return img_index_pick(doc, strlen(doc), &want, d, err);
}

TEST(platform_host)
{
	struct img_platform p;

	img_platform_host(&p);
	CHECK_STREQ(p.os, "linux");
	CHECK(p.arch[0] != '\0');
#if defined(__x86_64__)
	CHECK_STREQ(p.arch, "amd64");
#elif defined(__aarch64__)
	CHECK_STREQ(p.arch, "arm64");
#endif
}

TEST(oci_index_pick)
{
	struct sbx_error err = { 0 };
	struct img_descriptor d;

	CHECK(pick(oci_index, "amd64", "", &d, &err) == 0);
	CHECK_STREQ(d.digest, DA);
	CHECK_STREQ(d.media_type, IMG_MEDIA_OCI_MANIFEST);
	CHECK(d.size == 1234);
	CHECK(pick(oci_index, "arm64", "v8", &d, &err) == 0);
	CHECK_STREQ(d.digest, DB);
	/* arm64 without a variant is v8 */
	CHECK(pick(oci_index, "arm64", "", &d, &err) == 0);
	CHECK_STREQ(d.digest, DB);
	CHECK(pick(oci_index, "s390x", "", &d, &err) == -ENOENT);
	CHECK(strstr(err.msg, "linux/s390x") != NULL);
	CHECK(strstr(err.msg, "linux/amd64") != NULL);
	CHECK(strstr(err.msg, "linux/arm64/v8") != NULL);
}

TEST(docker_list_pick)
{
	struct sbx_error err = { 0 };
	struct img_descriptor d;

	CHECK(pick(docker_list, "arm", "v7", &d, &err) == 0);
	CHECK_STREQ(d.digest, DB);
	CHECK_STREQ(d.media_type, IMG_MEDIA_DOCKER_MANIFEST);
	CHECK(pick(docker_list, "arm", "v6", &d, &err) == 0);
	CHECK_STREQ(d.digest, DA);
	/* the list's arm64 has no variant: v8 matches it exactly */
	CHECK(pick(docker_list, "arm64", "v8", &d, &err) == 0);
	CHECK_STREQ(d.digest, DC);
	/* variant-less fallback: we ask for s390x/foo, the list offers plain s390x */
	CHECK(pick(docker_list, "s390x", "foo", &d, &err) == 0);
	CHECK_STREQ(d.digest, DD);
	/* arm/v5 is not arm/v6 or v7: both variants differ, no fallback */
	CHECK(pick(docker_list, "arm", "v5", &d, &err) == -ENOENT);
	CHECK(strstr(err.msg, "linux/arm/v7") != NULL);
}

TEST(index_bad)
{
	static const char *const docs[] = {
		"",
		"[]",
		"{\"schemaVersion\": 2}",
		"{\"schemaVersion\": 1, \"manifests\": []}",
		/* a manifest is not an index */
		"{\"schemaVersion\": 2, \"mediaType\": \"" IMG_MEDIA_OCI_MANIFEST "\","
		" \"manifests\": []}",
		/* the matching entry has a traversal digest */
		"{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"" IMG_MEDIA_OCI_MANIFEST
		"\", \"digest\": \"sha256:../../etc\", \"size\": 1,"
		" \"platform\": {\"os\": \"linux\", \"architecture\": \"amd64\"}}]}",
	};
	struct sbx_error err = { 0 };
	struct img_descriptor d;

	for (size_t i = 0; i < ELEMENTSOF(docs); i++)
		if (pick(docs[i], "amd64", "", &d, &err) >= 0) {
			fprintf(stderr, "  index %zu accepted\n", i);
			CHECK(!"bad index accepted");
		}
	CHECK(strstr(err.msg, "invalid digest") != NULL);
	CHECK(pick("{\"schemaVersion\": 2, \"manifests\": []}", "amd64", "", &d, &err) == -ENOENT);
	CHECK(strstr(err.msg, "offered: nothing") != NULL);
}

TEST(oci_manifest_parse)
{
	struct sbx_error err = { 0 };
	struct img_manifest m;

	CHECK(img_manifest_parse(oci_manifest, strlen(oci_manifest), &m, &err) == 0);
	CHECK_STREQ(m.config.digest, DA);
	CHECK(m.config.size == 7023);
	CHECK(m.n_layers == 3);
	CHECK_STREQ(m.layers[0].digest, DB);
	CHECK_STREQ(m.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
	CHECK(m.layers[1].size == 16724);
	CHECK(m.layers[2].size == 0);
}

TEST(docker_manifest_parse)
{
	struct sbx_error err = { 0 };
	struct img_manifest m;

	CHECK(img_manifest_parse(docker_manifest, strlen(docker_manifest), &m, &err) == 0);
	CHECK_STREQ(m.config.media_type, "application/vnd.docker.container.image.v1+json");
	CHECK_STREQ(m.config.digest, DE);
	CHECK(m.n_layers == 1);
	CHECK_STREQ(m.layers[0].media_type, "application/vnd.docker.image.rootfs.diff.tar.gzip");
	CHECK(m.layers[0].size == 3370706);
}

/* The OCI manifest with one layer descriptor replaced. */
static int parse_with_layer(const char *layer, struct sbx_error *err)
{
	char doc[2048];
	struct img_manifest m;

	snprintf(doc, sizeof(doc),
		 "{\"schemaVersion\": 2, \"config\": {\"mediaType\":"
		 " \"application/vnd.oci.image.config.v1+json\", \"digest\": \"" DA "\","
		 " \"size\": 10}, \"layers\": [%s]}",
		 layer);
	return img_manifest_parse(doc, strlen(doc), &m, err);
}

#define LAYER(media, digest, size)                                                                 \
	"{\"mediaType\": \"application/vnd." media "\", \"digest\": \"" digest                     \
	"\", \"size\": " size "}"

TEST(manifest_hostile)
{
	static const struct {
		const char *layer;
		int r;
		const char *msg;
	} cases[] = {
		{ LAYER("oci.image.layer.v1.tar+gzip", DB, "5"), 0, NULL },
		{ LAYER("oci.image.layer.v1.tar+gzip", "sha256:../../etc", "5"), -EINVAL,
		  "invalid digest" },
		/* one hex digit short, uppercase, other algorithms: not names we store under */
		{ LAYER("oci.image.layer.v1.tar+gzip", "sha256:" H64("ab") "0", "5"), -EINVAL,
		  "invalid digest" },
		{ LAYER("oci.image.layer.v1.tar+gzip", "sha256:" H64("AB"), "5"), -EINVAL,
		  "invalid digest" },
		{ LAYER("oci.image.layer.v1.tar+gzip", "sha512:" H64("ab") H64("ab"), "5"), -EINVAL,
		  "" },
		{ LAYER("oci.image.layer.v1.tar+gzip", DB, "-1"), -EINVAL, "out of range" },
		{ LAYER("oci.image.layer.v1.tar+gzip", DB, "68719476736"), -EINVAL,
		  "out of range" },
		{ LAYER("oci.image.layer.v1.tar+gzip", DB, "1e300"), -EINVAL, "out of range" },
		{ LAYER("oci.image.layer.v1.tar+gzip", DB, "1.5"), -EINVAL, "out of range" },
		{ LAYER("oci.image.layer.v1.tar+gzip", DB, "\"5\""), -EINVAL, "size" },
		{ LAYER("example.unknown+tar", DB, "5"), -EPROTONOSUPPORT, "unsupported media" },
		/* foreign layers would send us to URLs of the manifest author's choosing */
		{ LAYER("docker.image.rootfs.foreign.diff.tar.gzip", DB, "5"), -EPROTONOSUPPORT,
		  "foreign" },
		{ "{\"digest\": \"" DB "\", \"size\": 5}", -EINVAL, "mediaType" },
		{ "{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar\", \"size\": 5}",
		  -EINVAL, "digest" },
		{ "{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar\", \"digest\": \"" DB
		  "\"}",
		  -EINVAL, "size" },
		{ "\"x\"", -EINVAL, "not an object" },
	};
	struct sbx_error err;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		int r;

		memset(&err, 0, sizeof(err));
		r = parse_with_layer(cases[i].layer, &err);
		if (r != cases[i].r || (cases[i].msg && !strstr(err.msg, cases[i].msg))) {
			fprintf(stderr, "  case %zu: %d \"%s\"\n", i, r, err.msg);
			CHECK(!"manifest case");
		}
	}
}

TEST(manifest_bad_documents)
{
	static const char *const docs[] = {
		"not json",
		"{\"schemaVersion\": 1, \"config\": {}, \"layers\": []}",
		"{\"config\": {}, \"layers\": []}",
		/* an index where a manifest belongs */
		"{\"schemaVersion\": 2, \"mediaType\": \"" IMG_MEDIA_OCI_INDEX
		"\", \"manifests\": []}",
		/* no config; a config that is not an image config (an OCI artifact) */
		"{\"schemaVersion\": 2, \"layers\": []}",
		"{\"schemaVersion\": 2, \"config\": {\"mediaType\": \"application/vnd.oci.empty.v1+json\","
		" \"digest\": \"" DA "\", \"size\": 2}, \"layers\": []}",
		/* no layers array */
		"{\"schemaVersion\": 2, \"config\": {\"mediaType\":"
		" \"application/vnd.oci.image.config.v1+json\", \"digest\": \"" DA
		"\", \"size\": 2}}",
	};
	struct sbx_error err = { 0 };
	struct img_manifest m;

	for (size_t i = 0; i < ELEMENTSOF(docs); i++)
		if (img_manifest_parse(docs[i], strlen(docs[i]), &m, &err) >= 0) {
			fprintf(stderr, "  document %zu accepted\n", i);
			CHECK(!"bad manifest accepted");
		}
}

TEST(manifest_too_many_layers)
{
	static const char layer[] = LAYER("oci.image.layer.v1.tar", DB, "1") ",";
	size_t size = (IMG_MAX_LAYERS + 1) * sizeof(layer) + 512, n = 0;
	_cleanup_free_ char *doc = malloc(size);
	struct sbx_error err = { 0 };
	struct img_manifest *m = malloc(sizeof(*m));

	CHECK(doc && m);
	if (!doc || !m) {
		free(m);
		return;
	}
	n += snprintf(doc, size,
		      "{\"schemaVersion\": 2, \"config\": {\"mediaType\":"
		      " \"application/vnd.oci.image.config.v1+json\", \"digest\": \"" DA "\","
		      " \"size\": 10}, \"layers\": [");
	for (int i = 0; i < IMG_MAX_LAYERS; i++)
		n += snprintf(doc + n, size - n, "%s", layer);
	doc[n - 1] = ']';
	snprintf(doc + n, size - n, "}");
	CHECK(img_manifest_parse(doc, strlen(doc), m, &err) == 0);
	CHECK(m->n_layers == IMG_MAX_LAYERS);
	doc[n - 1] = ',';
	snprintf(doc + n, size - n, "%.*s]}", (int)strlen(layer) - 1, layer);
	CHECK(img_manifest_parse(doc, strlen(doc), m, &err) == -E2BIG);
	free(m);
}

TEST(config_parse)
{
	struct sbx_error err = { 0 };
	struct img_config c;

	CHECK(img_config_parse(image_config, strlen(image_config), &c, &err) == 0);
	CHECK_STREQ(c.os, "linux");
	CHECK_STREQ(c.arch, "amd64");
	CHECK_STREQ(c.working_dir, "/app");
	CHECK(c.n_diff_ids == 2);
	CHECK_STREQ(c.diff_ids[1], DC);
	CHECK(c.env && c.env[0] && c.env[3] == NULL);
	if (c.env && c.env[0] && c.env[1])
		CHECK_STREQ(c.env[1], "LANG=C.UTF-8");
	img_config_done(&c);
	CHECK(c.env == NULL);
	img_config_done(&c); /* twice is fine */

	/* scratch-like: no config section at all, no layers */
	static const char bare[] = "{\"architecture\": \"arm64\", \"os\": \"linux\","
				   " \"rootfs\": {\"type\": \"layers\", \"diff_ids\": []}}";
	CHECK(img_config_parse(bare, strlen(bare), &c, &err) == 0);
	CHECK(c.env && !c.env[0]);
	CHECK(c.working_dir[0] == '\0');
	img_config_done(&c);
}

TEST(config_bad)
{
	static const char *const docs[] = {
		"{\"os\": \"linux\", \"rootfs\": {\"diff_ids\": []}}",
		"{\"architecture\": \"amd64\", \"os\": \"linux\"}",
		"{\"architecture\": \"amd64\", \"os\": \"linux\", \"rootfs\": {\"diff_ids\":"
		" [\"sha256:../../etc/passwd\"]}}",
		"{\"architecture\": \"amd64\", \"os\": \"linux\", \"rootfs\": {\"diff_ids\": []},"
		" \"config\": {\"Env\": [\"NOEQUALS\"]}}",
		"{\"architecture\": \"amd64\", \"os\": \"linux\", \"rootfs\": {\"diff_ids\": []},"
		" \"config\": {\"Env\": [\"A=1\", 5]}}",
		"{\"architecture\": \"amd64\", \"os\": \"linux\", \"rootfs\": {\"diff_ids\": []},"
		" \"config\": {\"WorkingDir\": \"relative\"}}",
		"{\"architecture\": \"amd64\", \"os\": \"linux\", \"rootfs\": {\"diff_ids\": []},"
		" \"config\": \"x\"}",
	};
	struct sbx_error err = { 0 };
	struct img_config c;

	for (size_t i = 0; i < ELEMENTSOF(docs); i++) {
		if (img_config_parse(docs[i], strlen(docs[i]), &c, &err) >= 0) {
			fprintf(stderr, "  config %zu accepted\n", i);
			CHECK(!"bad config accepted");
		}
		CHECK(c.env == NULL); /* nothing left to free after a failure */
	}
}

int main(void)
{
	RUN(platform_host);
	RUN(oci_index_pick);
	RUN(docker_list_pick);
	RUN(index_bad);
	RUN(oci_manifest_parse);
	RUN(docker_manifest_parse);
	RUN(manifest_hostile);
	RUN(manifest_bad_documents);
	RUN(manifest_too_many_layers);
	RUN(config_parse);
	RUN(config_bad);
	UNIT_END();
}
