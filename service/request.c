/* SPDX-License-Identifier: MIT */
/*
 * request.c - an execute/job request body, parsed and checked once into struct req, and
 * printed back as canonical JSON.
 *
 * Owns: the request schema and every refusal of it (code, field, message), strict UTF-8,
 * base64. Must not: resolve languages, touch the filesystem, log, or let any JSON escape
 * req_parse() (the caller sees plain data only).
 *
 * Beyond what request.h lists:
 *  - The body must be valid UTF-8 without NUL bytes, and no string may hold the escape \u0000:
 *    cJSON would cut the string there without a word, so an arg "x\u0000--privileged" would
 *    reach the program as "x" while history kept the whole text. Binary content goes as base64.
 *    Refused as invalid_value with field "" (the body).
 *  - A key given twice in one object is refused: cJSON keeps the first, other parsers the last,
 *    and a proxy in front of us must not see a different request than we run.
 *  - null stands for "not given", for every key.
 *  - files[].name may be omitted only when files[] has one entry: like "code", the language's
 *    source file name applies (that is how req_to_json() prints a "code" request).
 *  - File names and callback_url may not hold control characters (they reach logs).
 *  - Out of memory returns -ENOMEM (code "internal_error"): not the client's fault.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "request.h"
#include "util.h"

#define LANGUAGE_MAX	 32
#define VERSION_MAX	 32
#define FILE_NAME_MAX	 255
#define FILE_DEPTH_MAX	 8
#define ENV_NAME_MAX	 128
#define CALLBACK_URL_MAX 2048
/* Limits are JSON numbers (doubles): past 2^53 they no longer name one integer. */
#define LIMIT_MAX (UINT64_C(1) << 53)

struct parser {
	const struct cfg *cfg;
	struct req *r;
	struct req_error *e;
};

/* Length of the longest prefix of s that is strict UTF-8. */
static size_t utf8_valid_prefix(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], need, cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07, min = 0x10000;
		else
			return i; /* continuation byte, overlong lead 0xc0/0xc1, or 0xf5.. */
		if (len - i <= need)
			return i;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += need + 1;
	}
	return i;
}

bool req_is_utf8(const char *s, size_t len)
{
	return utf8_valid_prefix((const unsigned char *)s, len) == len;
}

/* Cut s (NUL-terminated, possibly truncated by snprintf) back to whole UTF-8 characters, so
 * the error we answer with is valid JSON text even when a long key was cut. */
static void utf8_trim(char *s)
{
	size_t n = strlen(s);

	s[utf8_valid_prefix((const unsigned char *)s, n)] = '\0';
}

/*
 * Fill the refusal and return -EINVAL. The message starts with the field's name when there is
 * one: fail(e, "invalid_type", "args[2]", "must be a string") -> "args[2] must be a string".
 */
static int _printf_(4, 5)
	fail(struct req_error *e, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;
	int n;

	snprintf(e->code, sizeof(e->code), "%s", code);
	snprintf(e->field, sizeof(e->field), "%s", field);
	utf8_trim(e->field);
	/* field fits in REQ_FIELD_MAX, well inside the message */
	n = snprintf(e->message, sizeof(e->message), "%s%s", e->field, *e->field ? " " : "");
	va_start(ap, fmt);
	vsnprintf(e->message + n, sizeof(e->message) - (size_t)n, fmt, ap);
	va_end(ap);
	utf8_trim(e->message);
	return -EINVAL;
}

/* Out of memory is not the client's fault: -ENOMEM, for a 500 rather than a 400. */
static int oom(struct req_error *e, const char *field)
{
	fail(e, "internal_error", field, "could not be stored (out of memory)");
	return -ENOMEM;
}

/* "files[2]" + "name" -> "files[2].name"; "" + "language" -> "language". */
static void join_field(char *buf, size_t size, const char *prefix, const char *key)
{
	/* a long key is cut: the field names it still, as valid UTF-8 */
	if (snprintf(buf, size, "%s%s%s", prefix, *prefix ? "." : "", key) >= (int)size)
		utf8_trim(buf);
}

/* The name of table entry i, for tables whose first member is `const char *key`. */
static const char *key_at(const void *table, size_t stride, size_t i)
{
	return *(const char *const *)((const char *)table + i * stride);
}

/*
 * Sort the members of obj into found[] by the names of table (n entries of stride bytes):
 * an unknown key or a key given twice is refused, naming it under prefix.
 */
static int collect_keys(struct req_error *e, const cJSON *obj, const char *prefix,
			const void *table, size_t stride, size_t n, const cJSON **found)
{
	char field[REQ_FIELD_MAX];
	const cJSON *m;

	cJSON_ArrayForEach(m, obj)
	{
		size_t i = 0;

		while (i < n && strcmp(key_at(table, stride, i), m->string) != 0)
			i++;
		join_field(field, sizeof(field), prefix, m->string);
		if (i == n)
			return fail(e, "unknown_field", field, "is not a known field");
		if (found[i])
			return fail(e, "invalid_json", field, "is given twice");
		found[i] = m;
	}
	return 0;
}

static bool is_given(const cJSON *v)
{
	return v && !cJSON_IsNull(v);
}

/* A string member: its type, strict UTF-8, and at most max bytes (0: no bound here). */
static int get_string(struct req_error *e, const cJSON *v, const char *field, size_t max,
		      const char **ret, size_t *ret_len)
{
	size_t len;

	if (!cJSON_IsString(v) || !v->valuestring)
		return fail(e, "invalid_type", field, "must be a string");
	len = strlen(v->valuestring);
	/* The body was checked whole; this guards the decoded escapes as well. */
	if (!req_is_utf8(v->valuestring, len))
		return fail(e, "invalid_utf8", field, "is not valid UTF-8");
	if (max && len > max)
		return fail(e, "invalid_value", field, "is longer than %zu bytes", max);
	*ret = v->valuestring;
	if (ret_len)
		*ret_len = len;
	return 0;
}

static int dup_string(struct req_error *e, const cJSON *v, const char *field, size_t max,
		      char **ret, size_t *ret_len)
{
	const char *s;
	size_t len;
	int r = get_string(e, v, field, max, &s, &len);

	if (r < 0)
		return r;
	*ret = strndup(s, len);
	if (!*ret)
		return oom(e, field);
	if (ret_len)
		*ret_len = len;
	return 0;
}

static int parse_language(struct parser *p, const char *key, const cJSON *v)
{
	int r = dup_string(p->e, v, key, LANGUAGE_MAX, &p->r->language, NULL);

	if (r >= 0 && !*p->r->language)
		return fail(p->e, "invalid_value", key, "must not be empty");
	return r;
}

static int parse_version(struct parser *p, const char *key, const cJSON *v)
{
	return dup_string(p->e, v, key, VERSION_MAX, &p->r->version, NULL);
}

static int parse_code(struct parser *p, const char *key, const cJSON *v)
{
	p->r->files = calloc(1, sizeof(*p->r->files));
	if (!p->r->files)
		return oom(p->e, key);
	p->r->n_files = 1;
	return dup_string(p->e, v, key, 0, &p->r->files[0].data, &p->r->files[0].len);
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict base64 (RFC 4648 section 4): the standard alphabet, padding optional but complete when
 * present, no whitespace, and unused trailing bits zero, so one text means one content.
 * Returns the decoded length into *ret (malloc'd, NUL-terminated), or -EINVAL / -ENOMEM.
 */
static int b64_decode(const char *s, size_t n, char **ret, size_t *ret_len)
{
	size_t pad = 0, m, out = 0;
	uint32_t acc = 0;
	unsigned char *buf;

	if (n % 4 == 0 && n >= 4 && s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	m = n - pad;
	if (m % 4 == 1)
		return -EINVAL;
	buf = malloc(m / 4 * 3 + 3);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < m; i++) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0) {
			free(buf);
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		if (i % 4 == 3) {
			buf[out++] = (unsigned char)(acc >> 16);
			buf[out++] = (unsigned char)(acc >> 8);
			buf[out++] = (unsigned char)acc;
			acc = 0;
		}
	}
	/* 2 leftover characters carry 1 byte and 4 spare bits, 3 carry 2 bytes and 2 bits. */
	if ((m % 4 == 2 && (acc & 0xf)) || (m % 4 == 3 && (acc & 0x3))) {
		free(buf);
		return -EINVAL;
	}
	if (m % 4 == 2)
		buf[out++] = (unsigned char)(acc >> 4);
	if (m % 4 == 3) {
		buf[out++] = (unsigned char)(acc >> 10);
		buf[out++] = (unsigned char)(acc >> 2);
	}
	buf[out] = '\0';
	*ret = (char *)buf;
	*ret_len = out;
	return 0;
}

static char *b64_encode(const char *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = (const unsigned char *)data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*o++ = alphabet[(v >> 18) & 0x3f];
		*o++ = alphabet[(v >> 12) & 0x3f];
		*o++ = i + 1 < len ? alphabet[(v >> 6) & 0x3f] : '=';
		*o++ = i + 2 < len ? alphabet[v & 0x3f] : '=';
	}
	*o = '\0';
	return out;
}

/*
 * A file name is a relative path inside the job's directory: no leading '/', no "." or ".."
 * component (a ".." would write outside the work directory), no empty component, no control
 * character, at most FILE_NAME_MAX bytes and FILE_DEPTH_MAX levels. NULL when it is fine,
 * else why not.
 */
static const char *file_name_problem(const char *name)
{
	size_t len = strlen(name), depth = 0;

	if (len == 0)
		return "must not be empty";
	if (len > FILE_NAME_MAX)
		return "is longer than 255 bytes";
	if (name[0] == '/')
		return "must be a relative path";
	for (const char *c = name; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 0)
			return "has an empty path component";
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return "must not have \".\" or \"..\" components";
		if (++depth > FILE_DEPTH_MAX)
			return "is more than 8 directories deep";
		c += n;
		if (*c == '/' && !*++c)
			return "has an empty path component";
	}
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "must not contain control characters";
	return NULL;
}

/* a is b, or a directory b needs ("x" and "x/y"): the second file could not be written. */
static bool names_collide(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;

	return strncmp(a, b, n) == 0 && (la == lb || (la < lb ? b : a)[n] == '/');
}

static const struct {
	const char *key;
} file_keys[] = { { "name" }, { "content" }, { "encoding" } };

enum { FILE_NAME, FILE_CONTENT, FILE_ENCODING };

static int file_name(struct parser *p, const cJSON *v, const char *at, size_t i)
{
	char field[REQ_FIELD_MAX];
	struct req_file *f = &p->r->files[i];
	const char *problem;
	int r;

	join_field(field, sizeof(field), at, "name");
	if (!is_given(v))
		return p->r->n_files == 1 ? 0 : fail(p->e, "missing_field", field, "is required");
	r = dup_string(p->e, v, field, 0, &f->name, NULL);
	if (r < 0)
		return r;
	problem = file_name_problem(f->name);
	if (problem)
		return fail(p->e, "invalid_value", field, "%s", problem);
	for (size_t k = 0; k < i; k++)
		if (names_collide(p->r->files[k].name, f->name))
			return fail(p->e, "invalid_value", field, "collides with files[%zu].name",
				    k);
	return 0;
}

static int file_content(struct parser *p, const cJSON *v, const cJSON *enc, const char *at,
			struct req_file *f)
{
	char field[REQ_FIELD_MAX];
	const char *s, *encoding = "utf8";
	size_t len;
	int r;

	join_field(field, sizeof(field), at, "encoding");
	if (is_given(enc) && get_string(p->e, enc, field, 0, &encoding, NULL) < 0)
		return -EINVAL;
	if (strcmp(encoding, "utf8") != 0 && strcmp(encoding, "base64") != 0)
		return fail(p->e, "invalid_value", field, "must be \"utf8\" or \"base64\"");
	join_field(field, sizeof(field), at, "content");
	if (!is_given(v))
		return fail(p->e, "missing_field", field, "is required");
	if (strcmp(encoding, "utf8") == 0)
		return dup_string(p->e, v, field, 0, &f->data, &f->len);
	r = get_string(p->e, v, field, 0, &s, &len);
	if (r < 0)
		return r;
	r = b64_decode(s, len, &f->data, &f->len);
	if (r == -ENOMEM)
		return oom(p->e, field);
	if (r < 0)
		return fail(p->e, "invalid_value", field, "is not valid base64");
	return 0;
}

static int parse_file(struct parser *p, const cJSON *v, size_t i)
{
	const cJSON *found[ELEMENTSOF(file_keys)] = { NULL };
	char at[REQ_FIELD_MAX];
	int r;

	snprintf(at, sizeof(at), "files[%zu]", i);
	if (!cJSON_IsObject(v))
		return fail(p->e, "invalid_type", at, "must be an object");
	r = collect_keys(p->e, v, at, file_keys, sizeof(file_keys[0]), ELEMENTSOF(file_keys),
			 found);
	if (r < 0)
		return r;
	r = file_name(p, found[FILE_NAME], at, i);
	if (r < 0)
		return r;
	return file_content(p, found[FILE_CONTENT], found[FILE_ENCODING], at, &p->r->files[i]);
}

static int parse_files(struct parser *p, const char *key, const cJSON *v)
{
	size_t n, i = 0;
	const cJSON *f;

	if (!cJSON_IsArray(v))
		return fail(p->e, "invalid_type", key, "must be an array");
	n = (size_t)cJSON_GetArraySize(v);
	if (n == 0)
		return fail(p->e, "invalid_value", key, "must not be empty");
	if (n > p->cfg->max_files)
		return fail(p->e, "too_large", key, "has %zu entries, the maximum is %u", n,
			    p->cfg->max_files);
	p->r->files = calloc(n, sizeof(*p->r->files));
	if (!p->r->files)
		return oom(p->e, key);
	p->r->n_files = n;
	cJSON_ArrayForEach(f, v)
	{
		int r = parse_file(p, f, i++);

		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_stdin(struct parser *p, const char *key, const cJSON *v)
{
	return dup_string(p->e, v, key, 0, &p->r->stdin_data, &p->r->stdin_len);
}

/* A NULL-terminated vector for up to n strings; max is the configured bound. */
static int new_vector(struct parser *p, const char *key, size_t n, size_t max, char ***ret)
{
	if (n > max)
		return fail(p->e, "too_large", key, "has %zu entries, the maximum is %zu", n, max);
	*ret = calloc(n + 1, sizeof(**ret));
	if (!*ret)
		return oom(p->e, key);
	return 0;
}

static int parse_args(struct parser *p, const char *key, const cJSON *v)
{
	char field[REQ_FIELD_MAX];
	const cJSON *a;
	int r;

	if (!cJSON_IsArray(v))
		return fail(p->e, "invalid_type", key, "must be an array of strings");
	r = new_vector(p, key, (size_t)cJSON_GetArraySize(v), p->cfg->max_args, &p->r->args);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(a, v)
	{
		snprintf(field, sizeof(field), "%s[%zu]", key, p->r->n_args);
		r = dup_string(p->e, a, field, 0, &p->r->args[p->r->n_args], NULL);
		if (r < 0)
			return r;
		p->r->n_args++;
	}
	return 0;
}

/* [A-Za-z_][A-Za-z0-9_]*, and not ours: SANDBOXD_* is how the service talks to its jobs. */
static const char *env_name_problem(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > ENV_NAME_MAX)
		return "must be a name of 1 to 128 characters";
	if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
		    len ||
	    (name[0] >= '0' && name[0] <= '9'))
		return "is not a variable name ([A-Za-z_][A-Za-z0-9_]*)";
	if (strncmp(name, "SANDBOXD_", 9) == 0)
		return "is reserved (SANDBOXD_ names are set by the service)";
	return NULL;
}

static int env_entry(struct parser *p, const cJSON *m)
{
	char field[REQ_FIELD_MAX];
	size_t nlen = strlen(m->string);
	const char *problem, *value;
	int r;

	join_field(field, sizeof(field), "env", m->string);
	problem = env_name_problem(m->string);
	if (problem)
		return fail(p->e, "invalid_value", field, "%s", problem);
	for (size_t k = 0; k < p->r->n_env; k++)
		if (strncmp(p->r->env[k], m->string, nlen) == 0 && p->r->env[k][nlen] == '=')
			return fail(p->e, "invalid_json", field, "is given twice");
	r = get_string(p->e, m, field, 0, &value, NULL);
	if (r < 0)
		return r;
	if (asprintf(&p->r->env[p->r->n_env], "%s=%s", m->string, value) < 0) {
		p->r->env[p->r->n_env] = NULL;
		return oom(p->e, field);
	}
	p->r->n_env++;
	return 0;
}

static int parse_env(struct parser *p, const char *key, const cJSON *v)
{
	const cJSON *m;
	int r;

	if (!cJSON_IsObject(v))
		return fail(p->e, "invalid_type", key, "must be an object of strings");
	r = new_vector(p, key, (size_t)cJSON_GetArraySize(v), p->cfg->max_args, &p->r->env);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(m, v)
	{
		r = env_entry(p, m);
		if (r < 0)
			return r;
	}
	return 0;
}

static const struct {
	const char *key;
	size_t req_off, cap_off;
} limit_keys[] = {
	{ "cpu_ms", offsetof(struct req_limits, cpu_ms), offsetof(struct cfg_limits, cpu_ms) },
	{ "wall_ms", offsetof(struct req_limits, wall_ms), offsetof(struct cfg_limits, wall_ms) },
	{ "memory_mb", offsetof(struct req_limits, memory_mb),
	  offsetof(struct cfg_limits, memory_mb) },
	{ "pids", offsetof(struct req_limits, pids), offsetof(struct cfg_limits, pids) },
	{ "output_kb", offsetof(struct req_limits, output_kb),
	  offsetof(struct cfg_limits, output_kb) },
};

static int limit_value(struct parser *p, size_t i, const cJSON *v)
{
	const uint64_t *cap =
		(const uint64_t *)((const char *)&p->cfg->caps + limit_keys[i].cap_off);
	uint64_t *dst = (uint64_t *)((char *)&p->r->limits + limit_keys[i].req_off);
	char field[REQ_FIELD_MAX];
	double d;

	join_field(field, sizeof(field), "limits", limit_keys[i].key);
	if (!cJSON_IsNumber(v))
		return fail(p->e, "invalid_type", field, "must be a number");
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < 1 || d > (double)LIMIT_MAX)
		return fail(p->e, "invalid_value", field, "must be a positive integer");
	if ((uint64_t)d > *cap)
		return fail(p->e, "limit_exceeded", field,
			    "is %" PRIu64 ", the maximum is %" PRIu64, (uint64_t)d, *cap);
	*dst = (uint64_t)d;
	return 0;
}

static int parse_limits(struct parser *p, const char *key, const cJSON *v)
{
	const cJSON *found[ELEMENTSOF(limit_keys)] = { NULL };
	int r;

	if (!cJSON_IsObject(v))
		return fail(p->e, "invalid_type", key, "must be an object");
	r = collect_keys(p->e, v, key, limit_keys, sizeof(limit_keys[0]), ELEMENTSOF(limit_keys),
			 found);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(limit_keys); i++)
		if (is_given(found[i]))
			r = limit_value(p, i, found[i]);
	return r;
}

static int parse_callback_url(struct parser *p, const char *key, const cJSON *v)
{
	const char *url;
	size_t skip;
	int r = get_string(p->e, v, key, CALLBACK_URL_MAX, &url, NULL);

	if (r < 0)
		return r;
	skip = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
	if (!skip)
		return fail(p->e, "invalid_value", key, "must start with http:// or https://");
	if (!url[skip])
		return fail(p->e, "invalid_value", key, "has no host");
	/* Printable ASCII only: a space or CR/LF would split a log line or a request line. */
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return fail(p->e, "invalid_value", key,
				    "must not contain spaces, control or non-ASCII characters");
	p->r->callback_url = strdup(url);
	if (!p->r->callback_url)
		return oom(p->e, key);
	return 0;
}

static const struct {
	const char *key;
} test_keys[] = { { "stdin" }, { "input" }, { "expected_output" } };

enum { TEST_STDIN, TEST_INPUT, TEST_EXPECTED };

static int parse_test(struct parser *p, const cJSON *v, size_t i)
{
	const cJSON *found[ELEMENTSOF(test_keys)] = { NULL };
	struct req_test *t = &p->r->tests[i];
	char at[32], field[REQ_FIELD_MAX];
	const cJSON *in;
	int r;

	snprintf(at, sizeof(at), "tests[%zu]", i);
	if (!cJSON_IsObject(v))
		return fail(p->e, "invalid_type", at, "must be an object");
	r = collect_keys(p->e, v, at, test_keys, sizeof(test_keys[0]), ELEMENTSOF(test_keys),
			 found);
	if (r < 0)
		return r;
	if (is_given(found[TEST_STDIN]) && is_given(found[TEST_INPUT]))
		return fail(p->e, "invalid_value", at, "has both stdin and input: give one");
	in = is_given(found[TEST_STDIN]) ? found[TEST_STDIN] : found[TEST_INPUT];
	snprintf(field, sizeof(field), "%s.%s", at, in == found[TEST_INPUT] ? "input" : "stdin");
	if (is_given(in) && (r = dup_string(p->e, in, field, 0, &t->stdin_data, &t->stdin_len)) < 0)
		return r;
	snprintf(field, sizeof(field), "%s.expected_output", at);
	if (!is_given(found[TEST_EXPECTED]))
		return fail(p->e, "missing_field", field, "is required");
	return dup_string(p->e, found[TEST_EXPECTED], field, 0, &t->expected, &t->expected_len);
}

static int parse_tests(struct parser *p, const char *key, const cJSON *v)
{
	size_t n, i = 0;
	const cJSON *t;

	if (!cJSON_IsArray(v))
		return fail(p->e, "invalid_type", key, "must be an array");
	n = (size_t)cJSON_GetArraySize(v);
	if (n == 0)
		return fail(p->e, "invalid_value", key, "must not be empty");
	if (n > p->cfg->max_tests)
		return fail(p->e, "too_large", key, "has %zu entries, the maximum is %u", n,
			    p->cfg->max_tests);
	p->r->tests = calloc(n, sizeof(*p->r->tests));
	if (!p->r->tests)
		return oom(p->e, key);
	p->r->n_tests = n;
	cJSON_ArrayForEach(t, v)
	{
		int r = parse_test(p, t, i++);

		if (r < 0)
			return r;
	}
	return 0;
}

static const struct {
	const char *key;
	int (*parse)(struct parser *p, const char *key, const cJSON *v);
} top_keys[] = {
	{ "language", parse_language }, { "version", parse_version },
	{ "code", parse_code },		{ "files", parse_files },
	{ "stdin", parse_stdin },	{ "input", parse_stdin },
	{ "args", parse_args },		{ "env", parse_env },
	{ "limits", parse_limits },	{ "callback_url", parse_callback_url },
	{ "tests", parse_tests },
};

enum { TOP_LANGUAGE, TOP_VERSION, TOP_CODE, TOP_FILES, TOP_STDIN, TOP_INPUT };
#define TOP_TESTS (ELEMENTSOF(top_keys) - 1)

/* Refusals that depend on which keys are there, before any value is looked at. */
static int check_presence(struct parser *p, const cJSON **found)
{
	if (!is_given(found[TOP_LANGUAGE]))
		return fail(p->e, "missing_field", "language", "is required");
	if (is_given(found[TOP_CODE]) && is_given(found[TOP_FILES]))
		return fail(p->e, "invalid_value", "files", "cannot be given together with code");
	if (!is_given(found[TOP_CODE]) && !is_given(found[TOP_FILES]))
		return fail(p->e, "missing_field", "code", "or files is required");
	if (is_given(found[TOP_STDIN]) && is_given(found[TOP_INPUT]))
		return fail(p->e, "invalid_value", "input",
			    "is another name for stdin: give one of them");
	if (is_given(found[TOP_TESTS]) &&
	    (is_given(found[TOP_STDIN]) || is_given(found[TOP_INPUT])))
		return fail(p->e, "invalid_value", "tests",
			    "each test case has its own stdin: no top-level stdin with tests");
	return 0;
}

static int parse_top(struct parser *p, const cJSON *root)
{
	const cJSON *found[ELEMENTSOF(top_keys)] = { NULL };
	int r;

	if (!cJSON_IsObject(root))
		return fail(p->e, "invalid_type", "", "The body must be a JSON object");
	r = collect_keys(p->e, root, "", top_keys, sizeof(top_keys[0]), ELEMENTSOF(top_keys),
			 found);
	if (r >= 0)
		r = check_presence(p, found);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(top_keys); i++)
		if (is_given(found[i]))
			r = top_keys[i].parse(p, top_keys[i].key, found[i]);
	/* args and env are always vectors, empty when not given. */
	if (r >= 0 && !p->r->args)
		r = new_vector(p, "args", 0, 0, &p->r->args);
	if (r >= 0 && !p->r->env)
		r = new_vector(p, "env", 0, 0, &p->r->env);
	return r;
}

/* A \u0000 escape anywhere (see the top of this file). Backslashes only occur inside strings
 * in valid JSON, and each escape is two characters, so "\\u0000" (a backslash, then text) is
 * told apart by stepping over every escape whole. */
static bool has_nul_escape(const char *body, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (body[i] != '\\')
			continue;
		if (body[i + 1] == 'u' && len - i >= 6 && memcmp(body + i + 2, "0000", 4) == 0)
			return true;
		i++;
	}
	return false;
}

/* What can be said of the body before it is parsed. */
static int check_body(const char *body, size_t len, const struct cfg *cfg, struct req_error *e)
{
	size_t valid;

	if (cfg->max_body_bytes && len > cfg->max_body_bytes)
		return fail(e, "too_large", "", "The body is %zu bytes, the maximum is %" PRIu64,
			    len, cfg->max_body_bytes);
	if (len == 0)
		return fail(e, "invalid_json", "", "The body is empty");
	if (memchr(body, '\0', len))
		return fail(e, "invalid_json", "", "The body contains a NUL byte");
	valid = utf8_valid_prefix((const unsigned char *)body, len);
	if (valid != len)
		return fail(e, "invalid_utf8", "", "The body is not valid UTF-8 (at byte %zu)",
			    valid);
	if (has_nul_escape(body, len))
		return fail(e, "invalid_value", "",
			    "Strings must not contain \\u0000 (send binary content as base64)");
	return 0;
}

static int parse_json(const char *body, size_t len, cJSON **ret, struct req_error *e)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
	size_t at = end ? (size_t)(end - body) : 0;

	if (!root)
		return fail(e, "invalid_json", "", "The body is not valid JSON (at byte %zu)", at);
	while (at < len && strchr(" \t\r\n", body[at]))
		at++;
	if (at < len) {
		cJSON_Delete(root);
		return fail(e, "invalid_json", "",
			    "The body has text after the JSON value (at byte %zu)", at);
	}
	*ret = root;
	return 0;
}

int req_parse(const char *body, size_t len, const struct cfg *cfg, struct req *ret,
	      struct req_error *ret_err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	struct req_error scratch;
	struct req_error *e = ret_err ? ret_err : &scratch;
	struct req r = { 0 };
	struct parser p = { .cfg = cfg, .r = &r, .e = e };
	int k;

	memset(e, 0, sizeof(*e));
	memset(ret, 0, sizeof(*ret));
	k = check_body(body, len, cfg, e);
	if (k < 0)
		return k;
	k = parse_json(body, len, &root, e);
	if (k < 0)
		return k;
	k = parse_top(&p, root);
	if (k < 0) {
		req_free(&r);
		return k;
	}
	*ret = r;
	return 0;
}

void req_free(struct req *r)
{
	if (!r)
		return;
	free(r->language);
	free(r->version);
	for (size_t i = 0; r->files && i < r->n_files; i++) {
		free(r->files[i].name);
		free(r->files[i].data);
	}
	free(r->files);
	free(r->stdin_data);
	sbx_strv_free(r->args);
	sbx_strv_free(r->env);
	free(r->callback_url);
	for (size_t i = 0; r->tests && i < r->n_tests; i++) {
		free(r->tests[i].stdin_data);
		free(r->tests[i].expected);
	}
	free(r->tests);
	memset(r, 0, sizeof(*r));
}

static cJSON *file_to_json(const struct req_file *f)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *b64 = b64_encode(f->data ? f->data : "", f->data ? f->len : 0);

	if (!o || !b64)
		return NULL;
	if (f->name && !cJSON_AddStringToObject(o, "name", f->name))
		return NULL;
	if (!cJSON_AddStringToObject(o, "content", b64) ||
	    !cJSON_AddStringToObject(o, "encoding", "base64"))
		return NULL;
	return TAKE_PTR(o);
}

static bool add_files(cJSON *o, const struct req *r)
{
	cJSON *a = cJSON_AddArrayToObject(o, "files");

	for (size_t i = 0; a && i < r->n_files; i++) {
		cJSON *f = file_to_json(&r->files[i]);

		if (!f)
			return false;
		cJSON_AddItemToArray(a, f);
	}
	return a != NULL;
}

static bool add_args_env(cJSON *o, const struct req *r)
{
	cJSON *args = cJSON_AddArrayToObject(o, "args");
	cJSON *env = cJSON_AddObjectToObject(o, "env");

	if (!args || !env)
		return false;
	for (size_t i = 0; i < r->n_args; i++) {
		cJSON *s = cJSON_CreateString(r->args[i]);

		if (!s)
			return false;
		cJSON_AddItemToArray(args, s);
	}
	for (size_t i = 0; i < r->n_env; i++) {
		const char *eq = strchr(r->env[i], '=');
		_cleanup_free_ char *name = eq ? strndup(r->env[i], eq - r->env[i]) : NULL;

		if (!name || !cJSON_AddStringToObject(env, name, eq + 1))
			return false;
	}
	return true;
}

/* Printed as raw integers: cJSON prints doubles with 15 digits, which rounds 2^53. */
static bool add_limits(cJSON *o, const struct req_limits *l)
{
	cJSON *lim = cJSON_AddObjectToObject(o, "limits");

	for (size_t i = 0; lim && i < ELEMENTSOF(limit_keys); i++) {
		uint64_t v = *(const uint64_t *)((const char *)l + limit_keys[i].req_off);
		char num[24];

		if (!v)
			continue;
		snprintf(num, sizeof(num), "%" PRIu64, v);
		if (!cJSON_AddRawToObject(lim, limit_keys[i].key, num))
			return false;
	}
	return lim != NULL;
}

static bool add_optional_string(cJSON *o, const char *key, const char *value)
{
	return !value || cJSON_AddStringToObject(o, key, value);
}

static bool add_tests(cJSON *o, const struct req *r)
{
	cJSON *a = r->n_tests ? cJSON_AddArrayToObject(o, "tests") : NULL;

	for (size_t i = 0; a && i < r->n_tests; i++) {
		cJSON *t = cJSON_CreateObject();

		if (!t)
			return false;
		cJSON_AddItemToArray(a, t);
		if (!add_optional_string(t, "stdin", r->tests[i].stdin_data) ||
		    !cJSON_AddStringToObject(t, "expected_output", r->tests[i].expected))
			return false;
	}
	return !r->n_tests || a;
}

char *req_to_json(const struct req *r)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddStringToObject(o, "language", r->language ? r->language : "") ||
	    !add_optional_string(o, "version", r->version) || !add_files(o, r) ||
	    !add_optional_string(o, "stdin", r->stdin_data) || !add_args_env(o, r) ||
	    !add_limits(o, &r->limits) ||
	    !add_optional_string(o, "callback_url", r->callback_url) || !add_tests(o, r))
		return NULL;
	return cJSON_PrintUnformatted(o);
}
