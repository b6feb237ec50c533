/* SPDX-License-Identifier: MIT */
/*
 * profile.c - parse profiles/security/default.json into struct sbx_profile.
 *
 * Owns: the profile schema (limits table, identity, env, /proc path lists) and where the profile
 * directory is found. Must not: be consulted after planning (the child sees only plain data).
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "profile.h"
#include "util.h"

#define PROFILE_FILE	  "security/default.json"
#define PROFILE_MAX_BYTES (1 << 20)

/* Limits in the profile, their JSON names and units. */
static const struct {
	const char *key;
	size_t offset;
	uint64_t scale;
} limit_keys[] = {
	{ "cpu_ms", offsetof(struct sbx_limits, cpu_ms), 1 },
	{ "wall_ms", offsetof(struct sbx_limits, wall_ms), 1 },
	{ "memory_mb", offsetof(struct sbx_limits, memory_bytes), 1 << 20 },
	{ "pids", offsetof(struct sbx_limits, pids), 1 },
	{ "output_kb", offsetof(struct sbx_limits, output_bytes), 1 << 10 },
	{ "fsize_mb", offsetof(struct sbx_limits, fsize_bytes), 1 << 20 },
	{ "nofile", offsetof(struct sbx_limits, nofile), 1 },
	{ "tmpfs_mb", offsetof(struct sbx_limits, tmpfs_bytes), 1 << 20 },
	{ "tmpfs_inodes", offsetof(struct sbx_limits, tmpfs_inodes), 1 },
	{ "shm_mb", offsetof(struct sbx_limits, shm_bytes), 1 << 20 },
	{ "stack_mb", offsetof(struct sbx_limits, stack_bytes), 1 << 20 },
	{ "cpus_milli", offsetof(struct sbx_limits, cpus_milli), 1 },
};

static uint64_t *limit_field(struct sbx_limits *l, size_t i)
{
	return (uint64_t *)((char *)l + limit_keys[i].offset);
}

static const uint64_t *limit_field_const(const struct sbx_limits *l, size_t i)
{
	return (const uint64_t *)((const char *)l + limit_keys[i].offset);
}

/* Candidates relative to the binary: an in-tree build (build/x -> profiles/) and an install
 * anywhere (bin/x -> share/sandboxd/profiles/), so a relocated install still finds its own. */
static const char *const exe_relative[] = { "../profiles", "../share/sandboxd/profiles" };

int profile_find_dir(const char *explicit_dir, char *buf, size_t size, struct sbx_error *err)
{
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	const char *env = getenv("SANDBOXD_PROFILE_DIR");
	ssize_t n;

	if (explicit_dir || env) {
		snprintf(buf, size, "%s", explicit_dir ? explicit_dir : env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		for (size_t i = 0; i < ELEMENTSOF(exe_relative); i++) {
			snprintf(cand, sizeof(cand), "%s/%s/" PROFILE_FILE, exe, exe_relative[i]);
			if (access(cand, R_OK) == 0) {
				snprintf(buf, size, "%s/%s", exe, exe_relative[i]);
				return 0;
			}
		}
	}
	snprintf(buf, size, "%s/profiles", SBX_DATADIR);
	if (access(SBX_DATADIR "/profiles/" PROFILE_FILE, R_OK) == 0)
		return 0;
	return sbx_err_msg(
		err, ENOENT,
		"no security profile found (looked next to the binary and in %s/profiles; "
		"set SANDBOXD_PROFILE_DIR)",
		SBX_DATADIR);
}

static int read_json(const char *path, cJSON **ret, struct sbx_error *err)
{
	_cleanup_free_ char *buf = NULL;
	int r = sbx_read_file_all(AT_FDCWD, path, 0, PROFILE_MAX_BYTES, &buf, NULL);

	if (r < 0)
		return sbx_err(err, -r, "read %s (a regular file of at most %d bytes)", path,
			       PROFILE_MAX_BYTES);
	*ret = cJSON_Parse(buf);
	if (!*ret)
		return sbx_err_msg(err, EINVAL, "%s: not valid JSON", path);
	return 0;
}

static int parse_limits(const cJSON *obj, const char *what, struct sbx_limits *ret,
			struct sbx_error *err)
{
	for (size_t i = 0; i < ELEMENTSOF(limit_keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, limit_keys[i].key);

		if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e15)
			return sbx_err_msg(err, EINVAL,
					   "limits.%s.%s: missing or not a positive number", what,
					   limit_keys[i].key);
		*limit_field(ret, i) = (uint64_t)v->valuedouble * limit_keys[i].scale;
	}
	return 0;
}

static int parse_strings(const cJSON *arr, const char *what, bool proc_paths, char ***ret,
			 struct sbx_error *err)
{
	int n = cJSON_GetArraySize(arr), i = 0;
	const cJSON *it;
	char **v;

	if (!cJSON_IsArray(arr))
		return sbx_err_msg(err, EINVAL, "%s: missing or not an array", what);
	v = calloc((size_t)n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	*ret = v;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || (proc_paths && (strncmp(it->valuestring, "/proc/", 6) ||
							   strstr(it->valuestring, ".."))))
			return sbx_err_msg(err, EINVAL, "%s[%d]: not a %s", what, i,
					   proc_paths ? "path below /proc" : "string");
		v[i] = strdup(it->valuestring);
		if (!v[i++])
			return -ENOMEM;
	}
	return 0;
}

static int parse_identity(const cJSON *root, struct sbx_profile *p, struct sbx_error *err)
{
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(root, "uid_base");
	const cJSON *slots = cJSON_GetObjectItemCaseSensitive(root, "slots");
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(root, "hostname");

	/* uid 0 would hand the job root's DAC rights over everything root owns (§2). */
	if (!cJSON_IsNumber(uid) || uid->valuedouble < 1000 || uid->valuedouble > 2e9)
		return sbx_err_msg(err, EINVAL,
				   "uid_base: must be a number from 1000 to 2000000000");
	if (!cJSON_IsNumber(slots) || slots->valuedouble < 1 || slots->valuedouble > 100000)
		return sbx_err_msg(err, EINVAL, "slots: must be a number from 1 to 100000");
	if (!cJSON_IsString(host) || !*host->valuestring ||
	    strlen(host->valuestring) >= sizeof(p->hostname))
		return sbx_err_msg(err, EINVAL, "hostname: must be a string of 1 to 63 characters");
	p->uid_base = (uid_t)uid->valuedouble;
	p->slots = (unsigned)slots->valuedouble;
	snprintf(p->hostname, sizeof(p->hostname), "%s", host->valuestring);
	return 0;
}

static int parse_profile(const cJSON *root, const char *dir, const char *cache_dir,
			 struct sbx_profile *p, struct sbx_error *err)
{
	const cJSON *limits = cJSON_GetObjectItemCaseSensitive(root, "limits");
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, "seccomp");
	char path[PATH_MAX];
	int r;

	r = parse_identity(root, p, err);
	if (r >= 0)
		r = parse_limits(cJSON_GetObjectItemCaseSensitive(limits, "defaults"), "defaults",
				 &p->defaults, err);
	if (r >= 0)
		r = parse_limits(cJSON_GetObjectItemCaseSensitive(limits, "max"), "max", &p->caps,
				 err);
	if (r >= 0)
		r = parse_strings(cJSON_GetObjectItemCaseSensitive(root, "env"), "env", false,
				  &p->env, err);
	if (r >= 0)
		r = parse_strings(cJSON_GetObjectItemCaseSensitive(root, "masked_paths"),
				  "masked_paths", true, &p->masked_paths, err);
	if (r >= 0)
		r = parse_strings(cJSON_GetObjectItemCaseSensitive(root, "readonly_paths"),
				  "readonly_paths", true, &p->readonly_paths, err);
	if (r < 0)
		return r;
	if (!cJSON_IsString(sec) || strchr(sec->valuestring, '/'))
		return sbx_err_msg(err, EINVAL, "seccomp: must name a file beside the profile");
	snprintf(path, sizeof(path), "%s/security/%s", dir, sec->valuestring);
	return seccomp_compile_cached(path, cache_dir, &p->seccomp, err);
}

int profile_load(const char *dir, const char *cache_dir, struct sbx_profile *ret,
		 struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	char path[PATH_MAX];
	int r;

	memset(ret, 0, sizeof(*ret));
	snprintf(path, sizeof(path), "%s/" PROFILE_FILE, dir);
	r = read_json(path, &root, err);
	if (r < 0)
		return r;
	r = parse_profile(root, dir, cache_dir, ret, err);
	if (r < 0) {
		profile_done(ret);
		return sbx_err_prefix(err, r, "%s", path);
	}
	for (size_t i = 0; i < ELEMENTSOF(limit_keys); i++)
		if (*limit_field(&ret->defaults, i) > *limit_field(&ret->caps, i)) {
			profile_done(ret);
			return sbx_err_msg(err, EINVAL,
					   "%s: limits.defaults.%s is above limits.max", path,
					   limit_keys[i].key);
		}
	return 0;
}

void profile_done(struct sbx_profile *p)
{
	sbx_strv_free(p->env);
	sbx_strv_free(p->masked_paths);
	sbx_strv_free(p->readonly_paths);
	seccomp_prog_done(&p->seccomp);
	memset(p, 0, sizeof(*p));
}

/*
 * Below these a job cannot even start, and the failure would look like the program's: 6 MiB is
 * Docker's floor for memory; pids must hold the jail's init and the program.
 */
#define MIN_MEMORY_BYTES (6ULL << 20)
#define MIN_PIDS	 2

int profile_resolve_limits(const struct sbx_profile *p, const struct sbx_limits *req,
			   struct sbx_limits *ret, struct sbx_error *err)
{
	if (req->memory_bytes && req->memory_bytes < MIN_MEMORY_BYTES)
		return sbx_err_msg(err, EINVAL, "limit memory: at least %llu MiB",
				   MIN_MEMORY_BYTES >> 20);
	if (req->pids && req->pids < MIN_PIDS)
		return sbx_err_msg(err, EINVAL,
				   "limit pids: at least %d (the jail's init and the program)",
				   MIN_PIDS);
	for (size_t i = 0; i < ELEMENTSOF(limit_keys); i++) {
		uint64_t want = *limit_field_const(req, i), cap = *limit_field_const(&p->caps, i);

		if (want > cap)
			return sbx_err_msg(err, EINVAL, "limit %s: %llu is above the cap %llu",
					   limit_keys[i].key,
					   (unsigned long long)(want / limit_keys[i].scale),
					   (unsigned long long)(cap / limit_keys[i].scale));
		*limit_field(ret, i) = want ? want : *limit_field_const(&p->defaults, i);
	}
	return 0;
}
