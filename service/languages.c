/* SPDX-License-Identifier: MIT */
/*
 * languages.c - language profiles (profiles/languages/<name>.json) parsed and checked once at
 * start-up (schema in languages.h), and where each one runs: its image's rootfs, the host, or
 * nowhere.
 *
 * Owns: the profile schema and its validation. Must not: run anything, or pull images.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "languages.h"
#include "store.h"
#include "util.h"

#define LANG_FILE_MAX (64 * 1024)
#define LANG_MAX      256

static void lang_done(struct lang *l)
{
	free(l->file);
	free(l->name);
	sbx_strv_free(l->aliases);
	free(l->version);
	free(l->image);
	free(l->source);
	sbx_strv_free(l->compile);
	sbx_strv_free(l->run);
	sbx_strv_free(l->host);
	sbx_strv_free(l->version_command);
	sbx_strv_free(l->image_env);
	sbx_strv_free(l->env);
	free(l->rootfs);
	memset(l, 0, sizeof(*l));
}

void lang_set_free(struct lang_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		lang_done(&s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static bool is_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+#._-") == n;
}

static int get_string(const cJSON *root, const char *key, bool required, char **ret,
		      struct sbx_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	*ret = NULL;
	if (!v && !required)
		return 0;
	if (!cJSON_IsString(v) || !*v->valuestring)
		return sbx_err_msg(err, EINVAL, "\"%s\" must be a non-empty string", key);
	*ret = strdup(v->valuestring);
	return *ret ? 0 : sbx_err(err, ENOMEM, "%s", key);
}

/* An array of strings (null allowed when !required) into a NULL-terminated vector. */
static int get_strv(const cJSON *root, const char *key, bool required, char ***ret,
		    struct sbx_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key), *it;
	size_t i = 0;

	*ret = NULL;
	if ((!v || cJSON_IsNull(v)) && !required)
		return 0;
	if (!cJSON_IsArray(v) || (required && cJSON_GetArraySize(v) == 0))
		return sbx_err_msg(err, EINVAL, "\"%s\" must be a%s array of strings", key,
				   required ? " non-empty" : "n");
	*ret = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(char *));
	if (!*ret)
		return sbx_err(err, ENOMEM, "%s", key);
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it) || !*it->valuestring)
			return sbx_err_msg(err, EINVAL, "\"%s\"[%zu] must be a non-empty string",
					   key, i);
		if (!((*ret)[i++] = strdup(it->valuestring)))
			return sbx_err(err, ENOMEM, "%s", key);
	}
	return 0;
}

static int get_env(const cJSON *root, char ***ret, struct sbx_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "env"), *it;
	size_t i = 0;

	*ret = calloc((size_t)(v ? cJSON_GetArraySize(v) : 0) + 1, sizeof(char *));
	if (!*ret)
		return sbx_err(err, ENOMEM, "env");
	if (!v)
		return 0;
	if (!cJSON_IsObject(v))
		return sbx_err_msg(err, EINVAL, "\"env\" must be an object of strings");
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it) || !*it->string || strchr(it->string, '='))
			return sbx_err_msg(err, EINVAL, "\"env.%s\" must be a string", it->string);
		if (asprintf(&(*ret)[i++], "%s=%s", it->string, it->valuestring) < 0)
			return sbx_err(err, ENOMEM, "env");
	}
	return 0;
}

static const struct {
	const char *key;
	size_t off;
} limit_keys[] = {
	{ "cpu_ms", offsetof(struct req_limits, cpu_ms) },
	{ "wall_ms", offsetof(struct req_limits, wall_ms) },
	{ "memory_mb", offsetof(struct req_limits, memory_mb) },
	{ "pids", offsetof(struct req_limits, pids) },
	{ "output_kb", offsetof(struct req_limits, output_kb) },
};

static int get_limits(const cJSON *root, const char *key, struct req_limits *ret,
		      struct sbx_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key), *it;

	if (!v)
		return 0;
	if (!cJSON_IsObject(v))
		return sbx_err_msg(err, EINVAL, "\"%s\" must be an object", key);
	cJSON_ArrayForEach(it, v)
	{
		size_t i = 0;

		while (i < ELEMENTSOF(limit_keys) && strcmp(limit_keys[i].key, it->string))
			i++;
		if (i == ELEMENTSOF(limit_keys))
			return sbx_err_msg(err, EINVAL, "\"%s.%s\": unknown limit", key,
					   it->string);
		if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 1e12 ||
		    it->valuedouble != (double)(uint64_t)it->valuedouble)
			return sbx_err_msg(err, EINVAL, "\"%s.%s\" must be a positive integer", key,
					   it->string);
		*(uint64_t *)((char *)ret + limit_keys[i].off) = (uint64_t)it->valuedouble;
	}
	return 0;
}

static const char *const known_keys[] = {
	"name", "aliases",	   "version", "image",	"source",	  "compile",   "run",
	"host", "version_command", "env",     "limits", "compile_limits", "self_test", "comment",
};

static int check_keys(const cJSON *root, struct sbx_error *err)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, root)
	{
		size_t i = 0;

		while (i < ELEMENTSOF(known_keys) && strcmp(known_keys[i], it->string))
			i++;
		if (i == ELEMENTSOF(known_keys))
			return sbx_err_msg(err, EINVAL, "unknown key \"%s\"", it->string);
	}
	return 0;
}

static bool source_is_clean(const char *s)
{
	return !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") && strlen(s) < 128;
}

/* Aliases follow the name's pattern, and none repeats the name or another alias. */
static int check_aliases(const struct lang *l, struct sbx_error *err)
{
	for (char **a = l->aliases; a && *a; a++) {
		if (!is_name(*a))
			return sbx_err_msg(err, EINVAL,
					   "\"aliases\": \"%s\" must match [a-z0-9+#._-]{1,32}",
					   *a);
		if (!strcmp(*a, l->name))
			return sbx_err_msg(err, EINVAL, "\"aliases\": \"%s\" is the name", *a);
		for (char **b = l->aliases; b < a; b++)
			if (!strcmp(*a, *b))
				return sbx_err_msg(err, EINVAL, "\"aliases\": \"%s\" twice", *a);
	}
	return 0;
}

/*
 * "self_test": {"code", "stdin", "args", "expected_output"}: a program that uses stdin and args
 * and prints OK, run by the tests against every language that has a rootfs. The service only
 * checks its shape.
 */
static int check_self_test(const cJSON *root, struct sbx_error *err)
{
	static const char *const strings[] = { "code", "stdin", "expected_output" };
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "self_test"), *args;

	if (!t)
		return 0;
	if (!cJSON_IsObject(t))
		return sbx_err_msg(err, EINVAL, "\"self_test\" must be an object");
	for (size_t i = 0; i < ELEMENTSOF(strings); i++)
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, strings[i])))
			return sbx_err_msg(err, EINVAL, "\"self_test.%s\" must be a string",
					   strings[i]);
	args = cJSON_GetObjectItemCaseSensitive(t, "args");
	if (!cJSON_IsArray(args))
		return sbx_err_msg(err, EINVAL, "\"self_test.args\" must be an array");
	return 0;
}

static int parse_lang(const cJSON *root, struct lang *l, struct sbx_error *err)
{
	int r = cJSON_IsObject(root) ? check_keys(root, err)
				     : sbx_err_msg(err, EINVAL, "not a JSON object");

	if (r >= 0)
		r = get_string(root, "name", true, &l->name, err);
	if (r >= 0 && !is_name(l->name))
		r = sbx_err_msg(err, EINVAL, "\"name\" must match [a-z0-9+#._-]{1,32}");
	if (r >= 0)
		r = get_strv(root, "aliases", false, &l->aliases, err);
	if (r >= 0)
		r = check_aliases(l, err);
	if (r >= 0)
		r = get_string(root, "version", true, &l->version, err);
	if (r >= 0)
		r = get_string(root, "image", true, &l->image, err);
	if (r >= 0)
		r = get_string(root, "source", true, &l->source, err);
	if (r >= 0 && !source_is_clean(l->source))
		r = sbx_err_msg(err, EINVAL, "\"source\" must be a plain file name");
	if (r >= 0)
		r = get_strv(root, "compile", false, &l->compile, err);
	if (r >= 0)
		r = get_strv(root, "run", true, &l->run, err);
	if (r >= 0)
		r = get_strv(root, "host", false, &l->host, err);
	if (r >= 0)
		r = get_strv(root, "version_command", false, &l->version_command, err);
	if (r >= 0)
		r = get_env(root, &l->env, err);
	if (r >= 0)
		r = get_limits(root, "limits", &l->limits, err);
	if (r >= 0)
		r = get_limits(root, "compile_limits", &l->compile_limits, err);
	if (r >= 0)
		r = check_self_test(root, err);
	return r;
}

static int load_file(int dirfd, const char *file, struct lang *l, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	_cleanup_free_ char *buf = NULL;
	int r;

	r = sbx_read_file_all(dirfd, file, O_NOFOLLOW, LANG_FILE_MAX, &buf, NULL);
	if (r < 0)
		return sbx_err(err, -r, "read");
	l->file = strdup(file);
	if (!l->file)
		return sbx_err(err, ENOMEM, "%s", file);
	root = cJSON_Parse(buf);
	if (!root)
		return sbx_err_msg(err, EINVAL, "malformed JSON near \"%.20s\"",
				   cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
	return parse_lang(root, l, err);
}

static bool lang_is_named(const struct lang *l, const char *name)
{
	if (!strcmp(l->name, name))
		return true;
	for (char **a = l->aliases; a && *a; a++)
		if (!strcmp(*a, name))
			return true;
	return false;
}

/* Every name and alias once across the whole set: a request's language must be unambiguous. */
static int check_unique(const struct lang_set *s, struct sbx_error *err)
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = i + 1; j < s->n; j++) {
			const struct lang *a = &s->v[i], *b = &s->v[j];
			const char *clash = lang_is_named(a, b->name) ? b->name : NULL;

			for (char **al = b->aliases; !clash && al && *al; al++)
				if (lang_is_named(a, *al))
					clash = *al;
			if (clash)
				return sbx_err_msg(err, EINVAL,
						   "languages/%s: \"%s\" (name or alias) is taken "
						   "by languages/%s",
						   b->file, clash, a->file);
		}
	return 0;
}

static int cmp_lang(const void *a, const void *b)
{
	return strcmp(((const struct lang *)a)->name, ((const struct lang *)b)->name);
}

static int load_dir(int dirfd, struct lang_set *s, struct sbx_error *err)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;
	int r = 0;

	if (!d)
		return sbx_err(err, errno, "languages");
	while (r >= 0 && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") || de->d_name[0] == '.')
			continue;
		if (s->n == LANG_MAX)
			r = sbx_err_msg(err, E2BIG, "more than %d language profiles", LANG_MAX);
		else if (r = load_file(dirfd, de->d_name, &s->v[s->n++], err), r < 0)
			sbx_err_prefix(err, r, "languages/%s", de->d_name);
	}
	closedir(d);
	return r;
}

int lang_load(const char *profile_dir, struct lang_set *ret, struct sbx_error *err)
{
	_cleanup_free_ char *path = NULL;
	struct lang_set s = { 0 };
	int fd, r;

	if (asprintf(&path, "%s/languages", profile_dir) < 0)
		return sbx_err(err, ENOMEM, "languages");
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sbx_err(err, errno, "%s", path);
	s.v = calloc(LANG_MAX, sizeof(*s.v));
	if (!s.v) {
		close(fd);
		return sbx_err(err, ENOMEM, "languages");
	}
	r = load_dir(fd, &s, err);
	if (r >= 0) {
		qsort(s.v, s.n, sizeof(*s.v), cmp_lang);
		r = check_unique(&s, err);
	}
	if (r < 0) {
		lang_set_free(&s);
		return r;
	}
	*ret = s;
	return 0;
}

const struct lang *lang_find(const struct lang_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (lang_is_named(&s->v[i], name))
			return &s->v[i];
	return NULL;
}

/* The host fallback's PATH: the one jobs get from the security profile's default env. */
static bool host_find(const char *prog, char *path, size_t size)
{
	static const char *const dirs[] = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
					    "/usr/bin",	       "/sbin",		 "/bin" };

	for (size_t i = 0; i < ELEMENTSOF(dirs) && !strchr(prog, '/'); i++) {
		snprintf(path, size, "%s/%s", dirs[i], prog);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

static bool host_has(const char *prog)
{
	char path[512];

	return host_find(prog, path, sizeof(path));
}

static bool host_has_all(const struct lang *l)
{
	if (!l->host || !l->host[0])
		return false; /* a profile that names no host programs has no host fallback */
	for (char **p = l->host; *p; p++)
		if (!host_has(*p))
			return false;
	return true;
}

/* What version_command prints, read with a deadline: a host tool that hangs stalls nothing. */
static int read_output(int fd, pid_t pid, char *buf, size_t size)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	ssize_t k = 1;

	while (n + 1 < size && k > 0 && poll(&p, 1, 2000) > 0)
		if ((k = read(fd, buf + n, size - 1 - n)) > 0)
			n += (size_t)k;
	buf[n] = '\0';
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return (int)n;
}

/* The host's toolchain is whatever the host has: ask it ("Python 3.11.2" -> "3.11.2"). */
static void host_version(struct lang *l)
{
	extern char **environ;
	char out[512], *v;
	posix_spawn_file_actions_t fa;
	int pipefd[2];
	pid_t pid;
	size_t len;

	char path[512];

	if (!l->version_command || !host_find(l->version_command[0], path, sizeof(path)) ||
	    pipe2(pipefd, O_CLOEXEC) < 0)
		return;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	if (posix_spawn(&pid, path, &fa, NULL, l->version_command, environ))
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (pid > 0 && read_output(pipefd[0], pid, out, sizeof(out)) > 0 &&
	    (v = strpbrk(out, "0123456789"))) {
		len = strspn(v, "0123456789.");
		while (len && v[len - 1] == '.')
			len--;
		if (len && len < 32 && (v = strndup(v, len))) {
			free(l->version);
			l->version = v;
		}
	}
	close(pipefd[0]);
}

/* The image's rootfs and its config's Env: jobs run with that PATH, JAVA_HOME, ... */
static int take_image(struct lang *l, struct img_info *info)
{
	char *rootfs = strdup(info->rootfs);

	if (!rootfs)
		return -ENOMEM;
	free(l->rootfs);
	l->rootfs = rootfs;
	sbx_strv_free(l->image_env);
	l->image_env = info->env; /* ownership moves here */
	info->env = NULL;
	l->where = LANG_ROOTFS_IMAGE;
	return 0;
}

static void place(struct lang *l, struct img_store *store, bool host_fallback, bool pull)
{
	struct img_info info = { 0 };

	free(l->rootfs);
	l->rootfs = NULL;
	sbx_strv_free(l->image_env);
	l->image_env = NULL;
	l->where = LANG_ROOTFS_NONE;
	if (store && img_store_lookup(store, l->image, &info, NULL) >= 0) {
		take_image(l, &info);
		img_info_done(&info);
	} else if (host_fallback && host_has_all(l)) {
		l->rootfs = strdup("host");
		l->where = l->rootfs ? LANG_ROOTFS_HOST : LANG_ROOTFS_NONE;
		host_version(l);
	} else if (pull) {
		l->where = LANG_ROOTFS_PULL;
	}
}

int lang_resolve_rootfs(struct lang_set *s, const char *state_dir, bool host_fallback,
			bool pull_on_demand, struct sbx_error *err)
{
	struct img_store *store = NULL;

	/* No store yet (a first start) is not an error: every image is simply absent. */
	if (access(state_dir, F_OK) == 0 && img_store_open(state_dir, &store, err) < 0)
		return sbx_err_prefix(err, -err->code, "image store");
	for (size_t i = 0; i < s->n; i++)
		place(&s->v[i], store, host_fallback, pull_on_demand);
	img_store_close(store);
	return 0;
}

const char *lang_rootfs_name(enum lang_rootfs w)
{
	static const char *const names[] = {
		[LANG_ROOTFS_NONE] = "unavailable",
		[LANG_ROOTFS_IMAGE] = "image",
		[LANG_ROOTFS_HOST] = "host",
		[LANG_ROOTFS_PULL] = "pull",
	};

	return names[w];
}

bool lang_is_ready(const struct lang *l)
{
	return l->where == LANG_ROOTFS_IMAGE || l->where == LANG_ROOTFS_HOST;
}

bool lang_is_servable(const struct lang *l)
{
	return lang_is_ready(l) || l->where == LANG_ROOTFS_PULL;
}

int lang_use_image(struct lang *l, const char *state_dir, struct sbx_error *err)
{
	struct img_store *store = NULL;
	struct img_info info = { 0 };
	int r = img_store_open(state_dir, &store, err);

	if (r >= 0)
		r = img_store_lookup(store, l->image, &info, err);
	img_store_close(store);
	if (r >= 0 && take_image(l, &info) < 0)
		r = sbx_err(err, ENOMEM, "rootfs");
	img_info_done(&info);
	return r < 0 ? r : 0;
}

bool lang_version_matches(const struct lang *l, const char *want)
{
	size_t n = strlen(want);

	return l->version && !strncmp(l->version, want, n) &&
	       (l->version[n] == '\0' || l->version[n] == '.');
}

bool lang_image_present(const struct lang *l, const char *state_dir)
{
	struct img_store *store = NULL;
	struct img_info info = { 0 };
	bool found = img_store_open(state_dir, &store, NULL) >= 0 &&
		     img_store_lookup(store, l->image, &info, NULL) >= 0;

	img_info_done(&info);
	img_store_close(store);
	return found;
}
