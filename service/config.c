/* SPDX-License-Identifier: MIT */
/*
 * config.c - sandboxd's configuration: built-in defaults, then the JSON file, then the flags.
 *
 * Owns: the config file's schema, the command-line flags, and the refusal to listen beyond
 * loopback without API keys. Must not: log, exit, or read anything but the one config file.
 *
 * The file is --config FILE (which must exist), else $SANDBOXD_CONFIG when set, else
 * CFG_DEFAULT_PATH; those two are optional (absent: the defaults). Every key is optional:
 *   listen                  "ADDR:PORT": "127.0.0.1:8080", "[::1]:8080", "localhost:8080"
 *   state_dir               "/var/lib/sandboxd": history.db, images/, work/
 *   profile_dir             profiles directory (default: libsandbox's search)
 *   cgroup_parent           the cgroup jobs run under (default: libsandbox's)
 *   slots                   concurrent jobs, 0..1024; 0 (the default) = online CPUs
 *   queue_max               queued jobs beyond the running ones, 0..100000 (256)
 *   max_body_kb             request body cap in KiB, 1..1048576 (4096)
 *   max_files               files[] entries per request, 1..10000 (64)
 *   max_args                args[] and env{} entries per request, 0..100000 (256)
 *   max_tests               tests[] cases per request, 0..1000 (64)
 *   limits_max              caps on what a request may ask for: {cpu_ms (60000),
 *                           wall_ms (120000), memory_mb (2048), pids (512), output_kb (16384)}
 *   api_keys                ["secret", {"name": "ci", "key": "secret"}]: a bare string is named
 *                           "key1", "key2", ... by position; a key is 16..256 printable ASCII
 *                           characters; none (the default) = no authentication
 *   rate_limit              {per_second (50; 0 = off), burst (100)}
 *   history_retention_days  0..36500, 0 = keep forever (30)
 *   shutdown_grace_ms       0..3600000 (15000)
 *   callback                {retries 0..100 (5), timeout_ms 100..600000 (10000)}
 *   host_fallback           bool: true without a config file, false with one unless set here
 *   pull_on_demand          bool (true): a language whose image is absent (and that has no
 *                           host fallback) gets its image pulled by its first job
 *   allow_public            bool (false): listen beyond loopback without api_keys
 *   registry_mirrors, auth_file, ca_file   the image puller's; ignored here
 *   comment                 ignored
 * Unknown keys, a key given twice, wrong types and numbers out of range are refused, naming
 * the key. Flags (cfg_usage) override the file.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "util.h"

#define CFG_FILE_MAX	(1 << 20)
#define API_KEYS_MAX	1000
#define API_KEY_MIN_LEN 16
#define API_KEY_MAX_LEN 256
#define KEY_NAME_MAX	64

const char cfg_usage[] =
	"Usage: sandboxd [OPTION]...\n"
	"Run untrusted code in jails, behind an HTTP API.\n"
	"\n"
	"  --config FILE         configuration file (default " CFG_DEFAULT_PATH ",\n"
	"                        or $SANDBOXD_CONFIG; optional unless given here)\n"
	"  --listen ADDR:PORT    where to listen (127.0.0.1:8080; IPv6 as [::1]:8080)\n"
	"  --state-dir DIR       history, images and work directories (/var/lib/sandboxd)\n"
	"  --slots N             jobs running at once (0: the number of online CPUs)\n"
	"  --queue N             jobs waiting beyond the running ones (256)\n"
	"  --profile-dir DIR     security and language profiles\n"
	"  --cgroup-parent PATH  the cgroup jobs run under\n"
	"  --allow-public        listen beyond loopback even without api_keys\n"
	"  --help                show this text\n"
	"\n"
	"Flags override the configuration file.\n";

/* Numbers: where they go and what is sane. Offsets are into struct cfg. */
enum num_kind { NUM_UNSIGNED, NUM_U64, NUM_DOUBLE };

struct num_key {
	const char *key;
	size_t off;
	enum num_kind kind;
	double min, max;
	uint64_t scale; /* stored = given * scale (max_body_kb -> bytes); 0 means 1 */
};

#define CFG_OFF(m) offsetof(struct cfg, m)

static const struct num_key top_nums[] = {
	{ "slots", CFG_OFF(slots), NUM_UNSIGNED, 0, 1024, 0 },
	{ "queue_max", CFG_OFF(queue_max), NUM_UNSIGNED, 0, 100000, 0 },
	{ "max_body_kb", CFG_OFF(max_body_bytes), NUM_U64, 1, 1 << 20, 1024 },
	{ "max_files", CFG_OFF(max_files), NUM_UNSIGNED, 1, 10000, 0 },
	{ "max_args", CFG_OFF(max_args), NUM_UNSIGNED, 0, 100000, 0 },
	{ "max_tests", CFG_OFF(max_tests), NUM_UNSIGNED, 0, 1000, 0 },
	{ "history_retention_days", CFG_OFF(history_retention_days), NUM_UNSIGNED, 0, 36500, 0 },
	{ "shutdown_grace_ms", CFG_OFF(shutdown_grace_ms), NUM_UNSIGNED, 0, 3600000, 0 },
};

static const struct num_key caps_nums[] = {
	{ "cpu_ms", CFG_OFF(caps.cpu_ms), NUM_U64, 1, 86400000, 0 },
	{ "wall_ms", CFG_OFF(caps.wall_ms), NUM_U64, 1, 86400000, 0 },
	{ "memory_mb", CFG_OFF(caps.memory_mb), NUM_U64, 1, 1 << 20, 0 },
	{ "pids", CFG_OFF(caps.pids), NUM_U64, 1, 1 << 22, 0 },
	{ "output_kb", CFG_OFF(caps.output_kb), NUM_U64, 1, 1 << 22, 0 },
};

static const struct num_key rate_nums[] = {
	{ "per_second", CFG_OFF(rate_per_sec), NUM_DOUBLE, 0, 1e6, 0 },
	{ "burst", CFG_OFF(rate_burst), NUM_DOUBLE, 1, 1e6, 0 },
};

static const struct num_key callback_nums[] = {
	{ "retries", CFG_OFF(callback_retries), NUM_UNSIGNED, 0, 100, 0 },
	{ "timeout_ms", CFG_OFF(callback_timeout_ms), NUM_UNSIGNED, 100, 600000, 0 },
};

static const struct num_key *find_num(const struct num_key *t, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].key, key) == 0)
			return &t[i];
	return NULL;
}

/* name is what the user wrote: "slots", "limits_max.pids", "--queue". */
static int set_number(struct cfg *c, const struct num_key *k, const char *name, double d,
		      struct sbx_error *err)
{
	void *dst = (char *)c + k->off;
	uint64_t scale = k->scale ? k->scale : 1;

	if (!isfinite(d) || d < k->min || d > k->max || (k->kind != NUM_DOUBLE && d != floor(d)))
		return sbx_err_msg(err, EINVAL, "%s must be %s from %.15g to %.15g", name,
				   k->kind == NUM_DOUBLE ? "a number" : "an integer", k->min,
				   k->max);
	if (k->kind == NUM_UNSIGNED)
		*(unsigned *)dst = (unsigned)d;
	else if (k->kind == NUM_U64)
		*(uint64_t *)dst = (uint64_t)d * scale;
	else
		*(double *)dst = d;
	return 0;
}

static int json_number(struct cfg *c, const struct num_key *k, const char *name, const cJSON *v,
		       struct sbx_error *err)
{
	if (!cJSON_IsNumber(v))
		return sbx_err_msg(err, EINVAL, "%s must be a number", name);
	return set_number(c, k, name, v->valuedouble, err);
}

/* cJSON keeps every copy of a repeated key and finds the first: refuse rather than guess. */
static const char *first_duplicate(const cJSON *obj)
{
	for (const cJSON *a = obj->child; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			if (strcmp(a->string, b->string) == 0)
				return a->string;
	return NULL;
}

static int check_object(const cJSON *v, const char *name, struct sbx_error *err)
{
	const char *dup;

	if (!cJSON_IsObject(v))
		return sbx_err_msg(err, EINVAL, "%s must be an object", name);
	dup = first_duplicate(v);
	if (dup)
		return sbx_err_msg(err, EINVAL, "%s%s%s is given twice", name, *name ? "." : "",
				   dup);
	return 0;
}

/* An object of numbers only: limits_max, rate_limit, callback. */
static int json_number_object(struct cfg *c, const char *name, const cJSON *v,
			      const struct num_key *t, size_t n, struct sbx_error *err)
{
	char field[128];
	const cJSON *m;
	int r = check_object(v, name, err);

	if (r < 0)
		return r;
	cJSON_ArrayForEach(m, v)
	{
		const struct num_key *k = find_num(t, n, m->string);

		snprintf(field, sizeof(field), "%s.%s", name, m->string);
		if (!k)
			return sbx_err_msg(err, EINVAL, "%s is not a known key", field);
		r = json_number(c, k, field, m, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int set_string(char **dst, const char *s, const char *name, struct sbx_error *err)
{
	char *copy;

	if (!*s)
		return sbx_err_msg(err, EINVAL, "%s must not be empty", name);
	copy = strdup(s);
	if (!copy)
		return sbx_err(err, ENOMEM, "%s", name);
	free(*dst);
	*dst = copy;
	return 0;
}

/*
 * "ADDR:PORT" -> c->listen_addr (an IPv4 or IPv6 literal, IPv6 given in brackets) and
 * c->listen_port. "localhost" is stored as 127.0.0.1: the server binds a numeric address.
 */
static int set_listen(struct cfg *c, const char *s, const char *name, struct sbx_error *err)
{
	char host[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *h = s, *port;
	int family = AF_INET;
	size_t hlen;
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return sbx_err_msg(err, EINVAL, "%s \"%s\": IPv6 goes as [ADDR]:PORT", name,
					   s);
		h = s + 1, hlen = (size_t)(close - h), port = close + 2, family = AF_INET6;
	} else {
		port = strrchr(s, ':');
		if (!port)
			return sbx_err_msg(err, EINVAL, "%s \"%s\" must be ADDR:PORT", name, s);
		hlen = (size_t)(port++ - s);
		if (memchr(s, ':', hlen))
			return sbx_err_msg(err, EINVAL,
					   "%s \"%s\": IPv6 goes in brackets, [::1]:8080", name, s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return sbx_err_msg(err, EINVAL, "%s \"%s\" has no valid address", name, s);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (family == AF_INET && strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(family, host, bin) != 1)
		return sbx_err_msg(err, EINVAL, "%s \"%s\": %s is not an IP address", name, s,
				   host);
	errno = 0;
	p = strtoul(port, &end, 10);
	if (*port < '0' || *port > '9' || *end || errno || p < 1 || p > 65535)
		return sbx_err_msg(err, EINVAL, "%s \"%s\": the port must be from 1 to 65535", name,
				   s);
	c->listen_port = (unsigned)p;
	return set_string(&c->listen_addr, host, name, err);
}

bool cfg_listen_is_loopback(const struct cfg *c)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!c->listen_addr)
		return false;
	if (strcmp(c->listen_addr, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, c->listen_addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, c->listen_addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

/* Printable ASCII between min and max bytes: keys travel in HTTP headers, names in logs. */
static bool is_token(const char *s, size_t min, size_t max, char lowest)
{
	size_t len = strlen(s);

	if (len < min || len > max)
		return false;
	for (; *s; s++)
		if (*s < lowest || *s > 0x7e)
			return false;
	return true;
}

/* One api_keys[] entry: "secret" or {"name": ..., "key": ...}. Never prints the secret. */
static int api_key_parts(const cJSON *v, const char *at, const char **ret_name,
			 const char **ret_key, struct sbx_error *err)
{
	const cJSON *m;
	int r;

	if (cJSON_IsString(v)) {
		*ret_key = v->valuestring;
		return 0;
	}
	if (!cJSON_IsObject(v))
		return sbx_err_msg(err, EINVAL, "%s must be a string or an object {name, key}", at);
	r = check_object(v, at, err);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(m, v)
	{
		const char **dst = strcmp(m->string, "name") == 0  ? ret_name
				   : strcmp(m->string, "key") == 0 ? ret_key
								   : NULL;

		if (!dst)
			return sbx_err_msg(err, EINVAL, "%s.%s is not a known key", at, m->string);
		if (!cJSON_IsString(m))
			return sbx_err_msg(err, EINVAL, "%s.%s must be a string", at, m->string);
		*dst = m->valuestring;
	}
	if (!*ret_key)
		return sbx_err_msg(err, EINVAL, "%s.key is required", at);
	return 0;
}

static int api_key(struct cfg *c, const cJSON *v, size_t i, struct sbx_error *err)
{
	const char *name = NULL, *key = NULL;
	struct cfg_key *k = &c->keys[i];
	char at[32];
	int r;

	snprintf(at, sizeof(at), "api_keys[%zu]", i);
	r = api_key_parts(v, at, &name, &key, err);
	if (r < 0)
		return r;
	if (!is_token(key, API_KEY_MIN_LEN, API_KEY_MAX_LEN, 0x21))
		return sbx_err_msg(err, EINVAL, "%s: a key must be 16 to 256 printable characters",
				   at);
	if (name && !is_token(name, 1, KEY_NAME_MAX, 0x20))
		return sbx_err_msg(err, EINVAL, "%s.name must be 1 to 64 printable characters", at);
	k->key = strdup(key);
	k->name = name ? strdup(name) : NULL;
	if (!name && asprintf(&k->name, "key%zu", i + 1) < 0)
		k->name = NULL;
	c->n_keys++;
	if (!k->key || !k->name)
		return sbx_err(err, ENOMEM, "%s", at);
	for (size_t j = 0; j < i; j++)
		if (strcmp(c->keys[j].key, k->key) == 0 || strcmp(c->keys[j].name, k->name) == 0)
			return sbx_err_msg(err, EINVAL,
					   "%s has the same key or name as api_keys[%zu]", at, j);
	return 0;
}

struct file_key;
typedef int (*file_key_fn)(struct cfg *c, const struct file_key *k, const cJSON *v,
			   struct sbx_error *err);

/* The keys that are not plain numbers. */
struct file_key {
	const char *key;
	file_key_fn parse;
	size_t off; /* key_string, key_bool: the member */
};

static int key_string(struct cfg *c, const struct file_key *k, const cJSON *v,
		      struct sbx_error *err)
{
	if (!cJSON_IsString(v))
		return sbx_err_msg(err, EINVAL, "%s must be a string", k->key);
	return set_string((char **)((char *)c + k->off), v->valuestring, k->key, err);
}

static int key_bool(struct cfg *c, const struct file_key *k, const cJSON *v, struct sbx_error *err)
{
	if (!cJSON_IsBool(v))
		return sbx_err_msg(err, EINVAL, "%s must be true or false", k->key);
	*(bool *)((char *)c + k->off) = cJSON_IsTrue(v);
	return 0;
}

static int key_listen(struct cfg *c, const struct file_key *k, const cJSON *v,
		      struct sbx_error *err)
{
	if (!cJSON_IsString(v))
		return sbx_err_msg(err, EINVAL, "%s must be a string \"ADDR:PORT\"", k->key);
	return set_listen(c, v->valuestring, k->key, err);
}

static int key_api_keys(struct cfg *c, const struct file_key *k, const cJSON *v,
			struct sbx_error *err)
{
	size_t n, i = 0;
	const cJSON *e;

	if (!cJSON_IsArray(v))
		return sbx_err_msg(err, EINVAL, "%s must be an array", k->key);
	n = (size_t)cJSON_GetArraySize(v);
	if (n > API_KEYS_MAX)
		return sbx_err_msg(err, EINVAL, "%s has more than %d entries", k->key,
				   API_KEYS_MAX);
	c->keys = calloc(n ? n : 1, sizeof(*c->keys));
	if (!c->keys)
		return sbx_err(err, ENOMEM, "%s", k->key);
	cJSON_ArrayForEach(e, v)
	{
		int r = api_key(c, e, i++, err);

		if (r < 0)
			return r;
	}
	return 0;
}

static int key_caps(struct cfg *c, const struct file_key *k, const cJSON *v, struct sbx_error *err)
{
	return json_number_object(c, k->key, v, caps_nums, ELEMENTSOF(caps_nums), err);
}

static int key_rate(struct cfg *c, const struct file_key *k, const cJSON *v, struct sbx_error *err)
{
	return json_number_object(c, k->key, v, rate_nums, ELEMENTSOF(rate_nums), err);
}

static int key_callback(struct cfg *c, const struct file_key *k, const cJSON *v,
			struct sbx_error *err)
{
	return json_number_object(c, k->key, v, callback_nums, ELEMENTSOF(callback_nums), err);
}

static int key_ignore(_unused_ struct cfg *c, _unused_ const struct file_key *k,
		      _unused_ const cJSON *v, _unused_ struct sbx_error *err)
{
	return 0;
}

static const struct file_key file_keys[] = {
	{ "listen", key_listen, 0 },
	{ "state_dir", key_string, CFG_OFF(state_dir) },
	{ "profile_dir", key_string, CFG_OFF(profile_dir) },
	{ "cgroup_parent", key_string, CFG_OFF(cgroup_parent) },
	{ "limits_max", key_caps, 0 },
	{ "api_keys", key_api_keys, 0 },
	{ "rate_limit", key_rate, 0 },
	{ "callback", key_callback, 0 },
	{ "host_fallback", key_bool, CFG_OFF(host_fallback) },
	{ "pull_on_demand", key_bool, CFG_OFF(pull_on_demand) },
	{ "allow_public", key_bool, CFG_OFF(allow_public) },
	/* the image puller reads these from the same file */
	{ "registry_mirrors", key_ignore, 0 },
	{ "auth_file", key_ignore, 0 },
	{ "ca_file", key_ignore, 0 },
	{ "comment", key_ignore, 0 },
};

static int file_member(struct cfg *c, const cJSON *m, struct sbx_error *err)
{
	const struct num_key *n = find_num(top_nums, ELEMENTSOF(top_nums), m->string);

	if (n)
		return json_number(c, n, m->string, m, err);
	for (size_t i = 0; i < ELEMENTSOF(file_keys); i++)
		if (strcmp(file_keys[i].key, m->string) == 0)
			return file_keys[i].parse(c, &file_keys[i], m, err);
	return sbx_err_msg(err, EINVAL, "%s is not a known key", m->string);
}

static unsigned line_of(const char *buf, const char *at)
{
	unsigned line = 1;

	for (const char *p = buf; p < at; p++)
		line += *p == '\n';
	return line;
}

static int parse_file(struct cfg *c, const char *buf, size_t len, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	const char *end = NULL;
	const cJSON *m;
	int r;

	root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (end)
		end += strspn(end, " \t\r\n");
	if (!root || !end || end != buf + len)
		return sbx_err_msg(err, EINVAL, "line %u: not valid JSON",
				   line_of(buf, end ? end : buf));
	if (!cJSON_IsObject(root))
		return sbx_err_msg(err, EINVAL, "the top level must be an object");
	r = check_object(root, "", err);
	if (r < 0)
		return r;
	/* An operator who writes a file states what the host may run; see struct cfg. */
	c->host_fallback = false;
	cJSON_ArrayForEach(m, root)
	{
		r = file_member(c, m, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* explicit: the path came from --config, so it must exist. */
static int load_file(struct cfg *c, const char *path, bool explicit, struct sbx_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	r = sbx_read_file_all(AT_FDCWD, path, 0, CFG_FILE_MAX, &buf, &len);
	if (r == -ENOENT && !explicit)
		return 0;
	if (r == -EINVAL)
		return sbx_err_msg(err, EINVAL, "config %s: not a regular file", path);
	if (r == -EFBIG)
		return sbx_err_msg(err, EFBIG, "config %s: larger than %d bytes", path,
				   CFG_FILE_MAX);
	if (r < 0)
		return sbx_err(err, -r, "config %s", path);
	if (memchr(buf, '\0', len))
		return sbx_err_msg(err, EINVAL, "config %s: contains a NUL byte", path);
	r = parse_file(c, buf, len, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "config %s", path);
	c->from_file = true;
	free(c->config_path);
	c->config_path = realpath(path, NULL);
	return c->config_path ? 0 : sbx_err(err, errno, "config %s", path);
}

struct flag;
typedef int (*flag_fn)(struct cfg *c, const struct flag *f, const char *arg, struct sbx_error *err);

struct flag {
	const char *name;
	int has_arg;
	flag_fn apply;	 /* NULL: handled by the first pass (--config, --help) */
	size_t off;	 /* flag_string: the member */
	const char *key; /* flag_number: the file key whose range applies */
};

static int flag_string(struct cfg *c, const struct flag *f, const char *arg, struct sbx_error *err)
{
	char name[32];

	snprintf(name, sizeof(name), "--%s", f->name);
	return set_string((char **)((char *)c + f->off), arg, name, err);
}

static int flag_listen(struct cfg *c, _unused_ const struct flag *f, const char *arg,
		       struct sbx_error *err)
{
	return set_listen(c, arg, "--listen", err);
}

/* --slots and --queue share the checks of their file keys. */
static int flag_number(struct cfg *c, const struct flag *f, const char *arg, struct sbx_error *err)
{
	const struct num_key *k = find_num(top_nums, ELEMENTSOF(top_nums), f->key);
	char name[32], *end;
	unsigned long long v;

	snprintf(name, sizeof(name), "--%s", f->name);
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || errno)
		return sbx_err_msg(err, EINVAL, "%s \"%s\" is not a number", name, arg);
	return set_number(c, k, name, (double)v, err);
}

static int flag_allow_public(struct cfg *c, _unused_ const struct flag *f, _unused_ const char *arg,
			     _unused_ struct sbx_error *err)
{
	c->allow_public = true;
	return 0;
}

static const struct flag flags[] = {
	{ "config", required_argument, NULL, 0, NULL },
	{ "help", no_argument, NULL, 0, NULL },
	{ "listen", required_argument, flag_listen, 0, NULL },
	{ "state-dir", required_argument, flag_string, CFG_OFF(state_dir), NULL },
	{ "slots", required_argument, flag_number, 0, "slots" },
	{ "queue", required_argument, flag_number, 0, "queue_max" },
	{ "profile-dir", required_argument, flag_string, CFG_OFF(profile_dir), NULL },
	{ "cgroup-parent", required_argument, flag_string, CFG_OFF(cgroup_parent), NULL },
	{ "allow-public", no_argument, flag_allow_public, 0, NULL },
};

enum { FLAG_CONFIG, FLAG_HELP };

/* What the first pass finds. */
struct flag_scan {
	const char *config;
	bool help;
};

static int flag_error(char **args, int o, struct sbx_error *err)
{
	const char *what = optind > 0 ? args[optind - 1] : "?";

	if (o == ':')
		return sbx_err_msg(err, EINVAL, "option %s needs a value", what);
	if (optopt)
		return sbx_err_msg(err, EINVAL, "unknown option -%c (see --help)", optopt);
	return sbx_err_msg(err, EINVAL, "unknown or malformed option %s (see --help)", what);
}

/*
 * One getopt pass. The first (c NULL) only finds --config and --help, so the file loads before
 * the second pass applies the other flags over it. getopt permutes the vector it is given and
 * keeps global state: it gets a copy, and optind = 0 makes glibc start over completely (1
 * would keep its internal state from an earlier call).
 */
static int scan_flags(int argc, char **argv, struct cfg *c, struct flag_scan *found,
		      struct sbx_error *err)
{
	struct option opts[ELEMENTSOF(flags) + 1] = { { 0 } };
	_cleanup_free_ char **args = calloc((size_t)argc + 1, sizeof(*args));
	int o, idx = 0, r;

	if (!args)
		return sbx_err(err, ENOMEM, "flags");
	if (argc < 1)
		return 0;
	memcpy(args, argv, (size_t)argc * sizeof(*args));
	for (size_t i = 0; i < ELEMENTSOF(flags); i++)
		opts[i] = (struct option){ flags[i].name, flags[i].has_arg, NULL, 0 };
	optind = 0;
	opterr = 0; /* a library does not print: the error goes back to main() */
	while ((o = getopt_long(argc, args, "+:", opts, &idx)) != -1) {
		if (o != 0)
			return flag_error(args, o, err);
		if (!c && idx == FLAG_CONFIG)
			found->config = optarg;
		else if (!c && idx == FLAG_HELP)
			found->help = true;
		r = c && flags[idx].apply ? flags[idx].apply(c, &flags[idx], optarg, err) : 0;
		if (r < 0)
			return r;
	}
	if (optind < argc)
		return sbx_err_msg(err, EINVAL, "unexpected argument %s", args[optind]);
	return 0;
}

static int set_defaults(struct cfg *c, struct sbx_error *err)
{
	static const struct cfg defaults = {
		.listen_port = 8080,
		.queue_max = 256,
		.max_body_bytes = 4 << 20,
		.max_files = 64,
		.max_args = 256,
		.max_tests = 64,
		.caps = { .cpu_ms = 60000,
			  .wall_ms = 120000,
			  .memory_mb = 2048,
			  .pids = 512,
			  .output_kb = 16384 },
		.rate_per_sec = 50,
		.rate_burst = 100,
		.history_retention_days = 30,
		.shutdown_grace_ms = 15000,
		.callback_retries = 5,
		.callback_timeout_ms = 10000,
		.host_fallback = true, /* no file: a developer's machine, run what is installed */
		.pull_on_demand = true,
	};

	*c = defaults;
	c->listen_addr = strdup("127.0.0.1");
	c->state_dir = strdup("/var/lib/sandboxd");
	if (!c->listen_addr || !c->state_dir)
		return sbx_err(err, ENOMEM, "config defaults");
	return 0;
}

/* Settings that depend on one another, once file and flags are in. */
static int finish(struct cfg *c, struct sbx_error *err)
{
	if (c->slots == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		c->slots = n < 1 ? 1 : n > 1024 ? 1024 : (unsigned)n;
	}
	/* Anyone who can reach the port could run code as a service user: not by accident. */
	if (!c->n_keys && !c->allow_public && !cfg_listen_is_loopback(c))
		return sbx_err_msg(err, EINVAL,
				   "listen %s is not loopback and no api_keys are configured: "
				   "configure api_keys in the config file or pass --allow-public",
				   c->listen_addr);
	return 0;
}

static const char *default_path(void)
{
	const char *env = getenv("SANDBOXD_CONFIG");

	return env && *env ? env : CFG_DEFAULT_PATH;
}

int cfg_load(int argc, char **argv, struct cfg *ret, struct sbx_error *err)
{
	_cleanup_(cfg_free) struct cfg c = { 0 };
	struct flag_scan pre = { 0 };
	int r;

	memset(ret, 0, sizeof(*ret));
	r = scan_flags(argc, argv, NULL, &pre, err);
	if (r < 0)
		return r;
	if (pre.help)
		return 1;
	r = set_defaults(&c, err);
	if (r >= 0)
		r = load_file(&c, pre.config ? pre.config : default_path(), pre.config != NULL,
			      err);
	if (r >= 0)
		r = scan_flags(argc, argv, &c, NULL, err);
	if (r >= 0)
		r = finish(&c, err);
	if (r < 0)
		return r;
	*ret = c;
	memset(&c, 0, sizeof(c));
	return 0;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	free(c->listen_addr);
	free(c->state_dir);
	free(c->profile_dir);
	free(c->cgroup_parent);
	free(c->config_path);
	for (size_t i = 0; c->keys && i < c->n_keys; i++) {
		free(c->keys[i].name);
		/* secrets do not linger in freed memory */
		if (c->keys[i].key)
			explicit_bzero(c->keys[i].key, strlen(c->keys[i].key));
		free(c->keys[i].key);
	}
	free(c->keys);
	memset(c, 0, sizeof(*c));
}
