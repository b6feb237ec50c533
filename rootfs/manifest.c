/* SPDX-License-Identifier: MIT */
/*
 * manifest.c - the registry's JSON documents (OCI index / Docker manifest list, OCI and Docker
 * v2s2 image manifests, image configs) turned into plain structs, and the platform choice.
 *
 * Owns: every check on what a registry says about an image before any byte of a layer is
 * fetched: digests are validated here because they become file names in the store (a digest of
 * "sha256:../../etc" would be a path traversal), sizes are bounded because they size downloads,
 * media types are whitelisted because anything else is not a Linux container image.
 * Must not: do I/O, log, or keep JSON around: callers get plain structs.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "registry.h"
#include "util.h"

/* A descriptor's size sizes a download: nothing an image needs comes near this. */
#define MAX_BLOB_SIZE (64ULL << 30)
/* Configs and manifests are small; a document past this is hostile or broken. */
#define MAX_DOC_SIZE (16U << 20)
#define MAX_ENV	     4096

/* ---- platform ------------------------------------------------------------------------------ */

/* uname machine -> GOARCH (+ variant), the names images use. */
static const struct {
	const char *machine, *arch, *variant;
} arch_table[] = {
	{ "x86_64", "amd64", "" },    { "aarch64", "arm64", "v8" },
	{ "arm64", "arm64", "v8" },   { "armv7l", "arm", "v7" },
	{ "armv6l", "arm", "v6" },    { "i686", "386", "" },
	{ "i386", "386", "" },	      { "ppc64le", "ppc64le", "" },
	{ "s390x", "s390x", "" },     { "riscv64", "riscv64", "" },
	{ "mips64", "mips64le", "" }, { "loongarch64", "loong64", "" },
};

void img_platform_host(struct img_platform *ret)
{
	struct utsname u;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->os, sizeof(ret->os), "linux");
	if (uname(&u) < 0)
		return;
	for (size_t i = 0; i < ELEMENTSOF(arch_table); i++)
		if (strcmp(u.machine, arch_table[i].machine) == 0) {
			snprintf(ret->arch, sizeof(ret->arch), "%s", arch_table[i].arch);
			snprintf(ret->variant, sizeof(ret->variant), "%s", arch_table[i].variant);
			return;
		}
	snprintf(ret->arch, sizeof(ret->arch), "%.31s", u.machine);
}

/* ---- JSON helpers -------------------------------------------------------------------------- */

static int doc_parse(const char *body, size_t len, const char *what, cJSON **ret,
		     struct sbx_error *err)
{
	cJSON *root;

	if (!body || len > MAX_DOC_SIZE)
		return sbx_err_msg(err, EFBIG, "%s: document larger than %u bytes", what,
				   MAX_DOC_SIZE);
	root = cJSON_ParseWithLength(body, len);
	if (!root)
		return sbx_err_msg(err, EINVAL, "%s: not valid JSON", what);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return sbx_err_msg(err, EINVAL, "%s: not a JSON object", what);
	}
	*ret = root;
	return 0;
}

/* A string member copied into buf: absent is "" when optional, EINVAL when required. */
static int get_str(const cJSON *obj, const char *key, bool required, char *buf, size_t size,
		   struct sbx_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	buf[0] = '\0';
	if (!v || cJSON_IsNull(v)) {
		if (required)
			return sbx_err_msg(err, EINVAL, "\"%s\" missing", key);
		return 0;
	}
	if (!cJSON_IsString(v))
		return sbx_err_msg(err, EINVAL, "\"%s\" is not a string", key);
	if (strlen(v->valuestring) >= size)
		return sbx_err_msg(err, EINVAL, "\"%s\" longer than %zu bytes", key, size - 1);
	memcpy(buf, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

static int check_schema_version(const cJSON *root, struct sbx_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "schemaVersion");

	if (!cJSON_IsNumber(v))
		return sbx_err_msg(err, EINVAL, "\"schemaVersion\" missing");
	if (v->valuedouble != 2)
		return sbx_err_msg(err, EPROTONOSUPPORT, "schemaVersion %g is not supported (2 is)",
				   v->valuedouble);
	return 0;
}

static bool is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/*
 * Fill a descriptor from {"mediaType", "digest", "size"}; media_types is the whitelist.
 * JSON numbers are doubles: a size must be a whole number in [0, 64 GiB).
 */
static int descriptor_parse(const cJSON *obj, const char *const *media_types,
			    struct img_descriptor *ret, struct sbx_error *err)
{
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(obj, "size");
	char digest[128];
	int r;

	if (!cJSON_IsObject(obj))
		return sbx_err_msg(err, EINVAL, "descriptor is not an object");
	r = get_str(obj, "mediaType", true, ret->media_type, sizeof(ret->media_type), err);
	if (r >= 0)
		r = get_str(obj, "digest", true, digest, sizeof(digest), err);
	if (r < 0)
		return r;
	if (!is_one_of(ret->media_type, media_types))
		return sbx_err_msg(err, EPROTONOSUPPORT, "unsupported media type \"%s\"",
				   ret->media_type);
	if (!img_digest_valid(digest))
		return sbx_err_msg(err, EINVAL, "invalid digest \"%.80s\"", digest);
	memcpy(ret->digest, digest, sizeof(ret->digest));
	if (!cJSON_IsNumber(size))
		return sbx_err_msg(err, EINVAL, "%s: \"size\" missing", ret->digest);
	if (!(size->valuedouble >= 0) || size->valuedouble >= (double)MAX_BLOB_SIZE ||
	    floor(size->valuedouble) != size->valuedouble)
		return sbx_err_msg(err, EINVAL, "%s: size %g out of range [0, 64 GiB)", ret->digest,
				   size->valuedouble);
	ret->size = (uint64_t)size->valuedouble;
	return 0;
}

/* ---- index --------------------------------------------------------------------------------- */

static const char *const index_types[] = { IMG_MEDIA_OCI_INDEX, IMG_MEDIA_DOCKER_LIST, NULL };
static const char *const manifest_types[] = { IMG_MEDIA_OCI_MANIFEST, IMG_MEDIA_DOCKER_MANIFEST,
					      NULL };

/* arm64 without a variant means v8 (the image spec says so); compare with that in mind. */
static const char *variant_norm(const char *arch, const char *variant)
{
	if (!variant[0] && strcmp(arch, "arm64") == 0)
		return "v8";
	return variant;
}

static int platform_get(const cJSON *entry, struct img_platform *ret, struct sbx_error *err)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(entry, "platform");
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!cJSON_IsObject(p))
		return 0; /* no platform: matches nothing, offered as "?" */
	r = get_str(p, "os", false, ret->os, sizeof(ret->os), err);
	if (r >= 0)
		r = get_str(p, "architecture", false, ret->arch, sizeof(ret->arch), err);
	if (r >= 0)
		r = get_str(p, "variant", false, ret->variant, sizeof(ret->variant), err);
	return r;
}

/* exact: os, architecture and (normalized) variant; loose: the entry or want has no variant. */
static bool platform_fits(const struct img_platform *have, const struct img_platform *want,
			  bool exact)
{
	if (strcmp(have->os, want->os) != 0 || strcmp(have->arch, want->arch) != 0)
		return false;
	if (exact)
		return strcmp(variant_norm(have->arch, have->variant),
			      variant_norm(want->arch, want->variant)) == 0;
	return !have->variant[0] || !want->variant[0];
}

static void offered_append(char *buf, size_t size, const struct img_platform *p)
{
	size_t n = strlen(buf);

	if (n + 1 >= size)
		return;
	snprintf(buf + n, size - n, "%s%s/%s%s%s", n ? ", " : "", p->os[0] ? p->os : "?",
		 p->arch[0] ? p->arch : "?", p->variant[0] ? "/" : "", p->variant);
}

/* The first manifest entry that fits want; -ENOENT with the offered platforms otherwise. */
static int index_search(const cJSON *list, const struct img_platform *want, bool exact,
			struct img_descriptor *ret, char *offered, size_t size,
			struct sbx_error *err)
{
	const cJSON *e;
	struct img_platform have;
	int r;

	cJSON_ArrayForEach(e, list)
	{
		r = platform_get(e, &have, err);
		if (r < 0)
			return r;
		if (exact)
			offered_append(offered, size, &have);
		if (!platform_fits(&have, want, exact))
			continue;
		r = descriptor_parse(e, manifest_types, ret, err);
		return r < 0 ? sbx_err_prefix(err, r, "index entry %s/%s", have.os, have.arch) : 0;
	}
	return -ENOENT;
}

/* Parse an index or a manifest: JSON, schemaVersion 2, and its mediaType ("" when absent). */
static int doc_open(const char *body, size_t len, const char *what, cJSON **root, char media[128],
		    struct sbx_error *err)
{
	int r = doc_parse(body, len, what, root, err);

	if (r < 0)
		return r;
	r = check_schema_version(*root, err);
	if (r >= 0)
		r = get_str(*root, "mediaType", false, media, 128, err);
	return r < 0 ? sbx_err_prefix(err, r, "%s", what) : 0;
}

int img_index_pick(const char *body, size_t len, const struct img_platform *want,
		   struct img_descriptor *ret, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	char media[128], offered[160] = "";
	const cJSON *list;
	int r;

	r = doc_open(body, len, "index", &root, media, err);
	if (r < 0)
		return r;
	if (media[0] && !is_one_of(media, index_types))
		return sbx_err_msg(err, EINVAL, "index: media type \"%s\" is not an index", media);
	list = cJSON_GetObjectItemCaseSensitive(root, "manifests");
	if (!cJSON_IsArray(list))
		return sbx_err_msg(err, EINVAL, "index: \"manifests\" missing");
	r = index_search(list, want, true, ret, offered, sizeof(offered), err);
	if (r == -ENOENT)
		r = index_search(list, want, false, ret, NULL, 0, err);
	if (r == -ENOENT)
		return sbx_err_msg(err, ENOENT, "no image for %s/%s%s%s; offered: %s", want->os,
				   want->arch, want->variant[0] ? "/" : "", want->variant,
				   offered[0] ? offered : "nothing");
	return r;
}

/* ---- image manifest ------------------------------------------------------------------------ */

static const char *const config_types[] = {
	"application/vnd.oci.image.config.v1+json",
	"application/vnd.docker.container.image.v1+json",
	NULL,
};

/*
 * Layers we can unpack. Foreign / non-distributable layers are refused: they name URLs of
 * other hosts to fetch from, which is a way to make us talk to anyone.
 */
static const char *const layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.diff.tar",
	NULL,
};

static int layers_parse(const cJSON *layers, struct img_manifest *ret, struct sbx_error *err)
{
	const cJSON *e;
	int n, r;

	if (!cJSON_IsArray(layers))
		return sbx_err_msg(err, EINVAL, "\"layers\" missing");
	n = cJSON_GetArraySize(layers);
	if (n > IMG_MAX_LAYERS)
		return sbx_err_msg(err, E2BIG, "%d layers, at most %d are supported", n,
				   IMG_MAX_LAYERS);
	cJSON_ArrayForEach(e, layers)
	{
		r = descriptor_parse(e, layer_types, &ret->layers[ret->n_layers], err);
		if (r < 0)
			return sbx_err_prefix(err, r, "layer %u", ret->n_layers);
		ret->n_layers++;
	}
	return 0;
}

int img_manifest_parse(const char *body, size_t len, struct img_manifest *ret,
		       struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	char media[128];
	int r;

	memset(ret, 0, sizeof(*ret));
	r = doc_open(body, len, "manifest", &root, media, err);
	if (r < 0)
		return r;
	/* The OCI manifest may omit mediaType; Docker v2s2 always has it. */
	if (media[0] && !is_one_of(media, manifest_types))
		return sbx_err_msg(err, EPROTONOSUPPORT,
				   "manifest: media type \"%s\" is not an image manifest", media);
	r = descriptor_parse(cJSON_GetObjectItemCaseSensitive(root, "config"), config_types,
			     &ret->config, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "manifest config");
	r = layers_parse(cJSON_GetObjectItemCaseSensitive(root, "layers"), ret, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "manifest");
	return 0;
}

/* ---- image config -------------------------------------------------------------------------- */

static int diff_ids_parse(const cJSON *root, struct img_config *ret, struct sbx_error *err)
{
	const cJSON *rootfs = cJSON_GetObjectItemCaseSensitive(root, "rootfs");
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(rootfs, "diff_ids");
	const cJSON *e;

	if (!cJSON_IsArray(ids))
		return sbx_err_msg(err, EINVAL, "\"rootfs.diff_ids\" missing");
	if (cJSON_GetArraySize(ids) > IMG_MAX_LAYERS)
		return sbx_err_msg(err, E2BIG, "%d diff_ids, at most %d are supported",
				   cJSON_GetArraySize(ids), IMG_MAX_LAYERS);
	cJSON_ArrayForEach(e, ids)
	{
		if (!cJSON_IsString(e) || !img_digest_valid(e->valuestring))
			return sbx_err_msg(err, EINVAL, "diff_id %u: invalid digest",
					   ret->n_diff_ids);
		memcpy(ret->diff_ids[ret->n_diff_ids++], e->valuestring, IMG_DIGEST_LEN + 1);
	}
	return 0;
}

/* config.Env -> a NULL-terminated malloc'd array; an absent Env is an empty one. */
static int env_parse(const cJSON *env, char ***ret, struct sbx_error *err)
{
	int n = cJSON_IsArray(env) ? cJSON_GetArraySize(env) : 0;
	const cJSON *e;
	char **v;
	int i = 0;

	if (env && !cJSON_IsNull(env) && !cJSON_IsArray(env))
		return sbx_err_msg(err, EINVAL, "\"config.Env\" is not an array");
	if (n > MAX_ENV)
		return sbx_err_msg(err, E2BIG, "%d Env entries, at most %d", n, MAX_ENV);
	v = calloc((size_t)n + 1, sizeof(*v));
	if (!v)
		return sbx_err(err, ENOMEM, "config.Env");
	*ret = v; /* owned by the config from here: img_config_done frees what was filled */
	cJSON_ArrayForEach(e, env)
	{
		if (!cJSON_IsString(e) || !strchr(e->valuestring, '='))
			return sbx_err_msg(err, EINVAL, "config.Env[%d] is not NAME=value", i);
		v[i] = strdup(e->valuestring);
		if (!v[i++])
			return sbx_err(err, ENOMEM, "config.Env");
	}
	return 0;
}

static int exec_config_parse(const cJSON *root, struct img_config *ret, struct sbx_error *err)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config");
	int r;

	if (c && !cJSON_IsNull(c) && !cJSON_IsObject(c))
		return sbx_err_msg(err, EINVAL, "\"config\" is not an object");
	r = env_parse(cJSON_GetObjectItemCaseSensitive(c, "Env"), &ret->env, err);
	if (r < 0)
		return r;
	r = get_str(c, "WorkingDir", false, ret->working_dir, sizeof(ret->working_dir), err);
	if (r < 0)
		return r;
	if (ret->working_dir[0] && ret->working_dir[0] != '/')
		return sbx_err_msg(err, EINVAL, "WorkingDir \"%s\" is not absolute",
				   ret->working_dir);
	return 0;
}

int img_config_parse(const char *body, size_t len, struct img_config *ret, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = doc_parse(body, len, "image config", &root, err);
	if (r < 0)
		return r;
	r = get_str(root, "os", true, ret->os, sizeof(ret->os), err);
	if (r >= 0)
		r = get_str(root, "architecture", true, ret->arch, sizeof(ret->arch), err);
	if (r >= 0)
		r = diff_ids_parse(root, ret, err);
	if (r >= 0)
		r = exec_config_parse(root, ret, err);
	if (r < 0) {
		img_config_done(ret);
		return sbx_err_prefix(err, r, "image config");
	}
	return 0;
}

void img_config_done(struct img_config *c)
{
	if (!c || !c->env)
		return;
	for (char **e = c->env; *e; e++)
		free(*e);
	free(c->env);
	c->env = NULL;
}
