/* SPDX-License-Identifier: MIT */
/*
 * test_request.c - request bodies: what is accepted becomes the right plain data, every refusal
 * names its field and code, canonical JSON parses back to the same request, and no byte of
 * garbage makes the parser crash or read out of bounds (ASan watches every call).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "unit.h"
#include "util.h"

static struct cfg test_cfg(void)
{
	struct cfg c = {
		.max_body_bytes = 1 << 20,
		.max_files = 4,
		.max_args = 3,
		.caps = { .cpu_ms = 60000,
			  .wall_ms = 120000,
			  .memory_mb = 2048,
			  .pids = 512,
			  .output_kb = 16384 },
	};
	return c;
}

/* The body is copied into a buffer of exactly len bytes, without a NUL after it: an
 * out-of-bounds read past the body shows up as an ASan error. */
static int parse_len(const char *body, size_t len, const struct cfg *cfg, struct req *r,
		     struct req_error *e)
{
	char *copy = malloc(len ? len : 1);
	int ret;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, body, len);
	ret = req_parse(copy, len, cfg, r, e);
	free(copy);
	return ret;
}

static int parse(const char *body, struct req *r, struct req_error *e)
{
	struct cfg c = test_cfg();

	return parse_len(body, strlen(body), &c, r, e);
}

/* body is refused with this code, naming this field, in a message that starts with it. */
static void check_refused_at(const char *body, const char *code, const char *field, int line)
{
	struct req r;
	struct req_error e;
	int ret = parse(body, &r, &e);

	if (ret != -EINVAL || strcmp(e.code, code) != 0 || strcmp(e.field, field) != 0 ||
	    strncmp(e.message, field, strlen(field)) != 0 || !*e.message) {
		fprintf(stderr, "  line %d: %s\n    -> %d code=%s field=%s message=%s\n", line,
			body, ret, e.code, e.field, e.message);
		unit_failed_checks++;
	}
	if (ret == 0)
		req_free(&r);
}

#define REFUSED(body, code, field) check_refused_at(body, code, field, __LINE__)

static void check_accepted_at(const char *body, int line)
{
	struct req r;
	struct req_error e;
	int ret = parse(body, &r, &e);

	if (ret != 0) {
		fprintf(stderr, "  line %d: %s\n    -> %d %s %s: %s\n", line, body, ret, e.code,
			e.field, e.message);
		unit_failed_checks++;
	}
	if (ret == 0)
		req_free(&r);
}

#define ACCEPTED(body) check_accepted_at(body, __LINE__)

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool vec_eq(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb || !a || !b || a[na] || b[nb])
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return true;
}

static bool req_eq(const struct req *a, const struct req *b)
{
	if (!str_eq(a->language, b->language) || !str_eq(a->version, b->version) ||
	    a->n_files != b->n_files || a->stdin_len != b->stdin_len ||
	    !str_eq(a->stdin_data, b->stdin_data) ||
	    !vec_eq(a->args, a->n_args, b->args, b->n_args) ||
	    !vec_eq(a->env, a->n_env, b->env, b->n_env) ||
	    memcmp(&a->limits, &b->limits, sizeof(a->limits)) != 0 ||
	    !str_eq(a->callback_url, b->callback_url))
		return false;
	for (size_t i = 0; i < a->n_files; i++)
		if (!str_eq(a->files[i].name, b->files[i].name) ||
		    a->files[i].len != b->files[i].len ||
		    memcmp(a->files[i].data, b->files[i].data, a->files[i].len) != 0)
			return false;
	return true;
}

/* req_to_json, then req_parse again: the same request (under cfg's caps). */
static bool round_trips(const struct req *r, const struct cfg *cfg)
{
	_cleanup_free_ char *json = req_to_json(r);
	struct req back;
	struct req_error e;
	bool same;

	if (!json)
		return false;
	if (parse_len(json, strlen(json), cfg, &back, &e) != 0) {
		fprintf(stderr, "  round trip refused: %s: %s\n  %s\n", e.field, e.message, json);
		return false;
	}
	same = req_eq(r, &back);
	req_free(&back);
	return same;
}

static const char full_body[] =
	"{\"language\":\"python\",\"version\":\"3.12\","
	"\"files\":[{\"name\":\"main.py\",\"content\":\"import lib\\nprint(\\\"h\\u00e9\\\")\"},"
	"{\"name\":\"lib/data.bin\",\"content\":\"AAH/\",\"encoding\":\"base64\"},"
	"{\"name\":\"lib/x.txt\",\"content\":\"\\ud83d\\ude00\",\"encoding\":\"utf8\"}],"
	"\"stdin\":\"line 1\\nline 2\\n\",\"args\":[\"-v\",\"a b\"],"
	"\"env\":{\"DEBUG\":\"1\",\"_X\":\"a=b\"},"
	"\"limits\":{\"cpu_ms\":1000,\"wall_ms\":2000,\"memory_mb\":128,\"pids\":16,"
	"\"output_kb\":64},\"callback_url\":\"https://example.com/hook?x=1\"}";

TEST(minimal_code_request)
{
	struct req r;
	struct req_error e;

	CHECK(parse("{\"language\":\"python\",\"code\":\"print(1)\"}", &r, &e) == 0);
	CHECK_STREQ(r.language, "python");
	CHECK(r.version == NULL);
	CHECK(r.n_files == 1 && r.files && r.files[0].name == NULL);
	CHECK(r.files && r.files[0].len == 8 && strcmp(r.files[0].data, "print(1)") == 0);
	CHECK(r.stdin_data == NULL && r.stdin_len == 0);
	/* args and env are always vectors, so callers can walk them without a NULL check */
	CHECK(r.args && r.args[0] == NULL && r.n_args == 0);
	CHECK(r.env && r.env[0] == NULL && r.n_env == 0);
	CHECK(r.limits.cpu_ms == 0 && r.limits.memory_mb == 0);
	CHECK(r.callback_url == NULL);
	CHECK(e.code[0] == '\0');
	req_free(&r);
}

TEST(full_request)
{
	struct req r;
	struct req_error e;
	static const char bin[] = { 0x00, 0x01, (char)0xff };

	CHECK(parse(full_body, &r, &e) == 0);
	if (e.code[0])
		fprintf(stderr, "  %s %s\n", e.field, e.message);
	CHECK_STREQ(r.version, "3.12");
	CHECK(r.n_files == 3);
	if (r.n_files != 3)
		goto out;
	CHECK_STREQ(r.files[0].name, "main.py");
	CHECK_STREQ(r.files[0].data, "import lib\nprint(\"h\xc3\xa9\")");
	CHECK_STREQ(r.files[1].name, "lib/data.bin");
	CHECK(r.files[1].len == 3 && memcmp(r.files[1].data, bin, 3) == 0);
	CHECK_STREQ(r.files[2].data, "\xf0\x9f\x98\x80");
	CHECK(r.stdin_len == 14);
	CHECK_STREQ(r.stdin_data, "line 1\nline 2\n");
	CHECK(r.n_args == 2 && r.args[2] == NULL);
	CHECK_STREQ(r.args[1], "a b");
	CHECK(r.n_env == 2 && r.env[2] == NULL);
	CHECK_STREQ(r.env[0], "DEBUG=1");
	CHECK_STREQ(r.env[1], "_X=a=b");
	CHECK(r.limits.cpu_ms == 1000 && r.limits.wall_ms == 2000 && r.limits.memory_mb == 128 &&
	      r.limits.pids == 16 && r.limits.output_kb == 64);
	CHECK_STREQ(r.callback_url, "https://example.com/hook?x=1");
out:
	req_free(&r);
}

TEST(stdin_and_input)
{
	struct req r;
	struct req_error e;

	CHECK(parse("{\"language\":\"c\",\"code\":\"\",\"input\":\"42\"}", &r, &e) == 0);
	CHECK_STREQ(r.stdin_data, "42");
	req_free(&r);
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"stdin\":\"1\",\"input\":\"2\"}",
		"invalid_value", "input");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"stdin\":5}", "invalid_type", "stdin");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"input\":[]}", "invalid_type", "input");
}

TEST(null_means_not_given)
{
	struct req r;
	struct req_error e;

	CHECK(parse("{\"language\":\"c\",\"code\":\"x\",\"version\":null,\"stdin\":null,"
		    "\"args\":null,\"env\":null,\"limits\":null,\"callback_url\":null}",
		    &r, &e) == 0);
	CHECK(r.version == NULL && r.stdin_data == NULL && r.callback_url == NULL);
	CHECK(r.args && r.n_args == 0);
	req_free(&r);
	REFUSED("{\"language\":null,\"code\":\"x\"}", "missing_field", "language");
	ACCEPTED(
		"{\"language\":\"c\",\"code\":null,\"files\":[{\"name\":\"a\",\"content\":\"\"}]}");
}

TEST(body_level_refusals)
{
	struct cfg small = test_cfg();
	struct req r;
	struct req_error e;
	static const char with_nul[] = "{\"language\":\"c\",\0\"code\":\"\"}";
	static const char bad_utf8[] = "{\"language\":\"c\",\"code\":\"\xc3\x28\"}";
	static const char surrogate_bytes[] = "{\"language\":\"c\",\"code\":\"\xed\xa0\x80\"}";

	REFUSED("", "invalid_json", "");
	REFUSED("   ", "invalid_json", "");
	REFUSED("{", "invalid_json", "");
	REFUSED("{\"language\":\"c\",\"code\":\"\"} x", "invalid_json", "");
	REFUSED("{\"language\":\"c\",\"code\":\"\"}{}", "invalid_json", "");
	REFUSED("[]", "invalid_type", "");
	REFUSED("\"str\"", "invalid_type", "");
	REFUSED(bad_utf8, "invalid_utf8", "");
	REFUSED(surrogate_bytes, "invalid_utf8", "");
	CHECK(parse_len(with_nul, sizeof(with_nul) - 1, &small, &r, &e) == -EINVAL);
	CHECK_STREQ(e.code, "invalid_json");
	CHECK(strstr(e.message, "NUL") != NULL);
	/* trailing whitespace is fine */
	ACCEPTED("{\"language\":\"c\",\"code\":\"\"} \n\t");
	small.max_body_bytes = 10;
	CHECK(parse_len(full_body, strlen(full_body), &small, &r, &e) == -EINVAL);
	CHECK_STREQ(e.code, "too_large");
}

TEST(nul_escapes_and_surrogates)
{
	struct req r;
	struct req_error e;

	/* cJSON would cut "a\u0000b" to "a": refused rather than silently shortened */
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"args\":[\"a\\u0000b\"]}", "invalid_value", "");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"env\":{\"A\":\"\\u0000\"}}", "invalid_value",
		"");
	/* an escaped backslash followed by the text u0000 is an ordinary string */
	CHECK(parse("{\"language\":\"c\",\"code\":\"\",\"args\":[\"\\\\u0000\"]}", &r, &e) == 0);
	CHECK(r.n_args == 1 && r.args && strcmp(r.args[0], "\\u0000") == 0);
	req_free(&r);
	/* lone surrogates cannot be UTF-8: refused, whoever notices first */
	for (int i = 0; i < 3; i++) {
		static const char *const bodies[] = {
			"{\"language\":\"c\",\"code\":\"\\ud800\"}",
			"{\"language\":\"c\",\"code\":\"\\udc00x\"}",
			"{\"language\":\"c\",\"code\":\"\\ud800\\u0041\"}",
		};
		CHECK(parse(bodies[i], &r, &e) == -EINVAL);
		CHECK(strcmp(e.code, "invalid_utf8") == 0 || strcmp(e.code, "invalid_json") == 0);
	}
	ACCEPTED("{\"language\":\"c\",\"code\":\"\\ud83d\\ude00\"}");
}

TEST(top_level_fields)
{
	char long_lang[80];

	REFUSED("{\"language\":\"c\",\"code\":\"\",\"foo\":1}", "unknown_field", "foo");
	REFUSED("{\"language\":\"c\",\"language\":\"d\",\"code\":\"\"}", "invalid_json",
		"language");
	REFUSED("{\"code\":\"\"}", "missing_field", "language");
	REFUSED("{\"language\":\"\",\"code\":\"\"}", "invalid_value", "language");
	REFUSED("{\"language\":5,\"code\":\"\"}", "invalid_type", "language");
	snprintf(long_lang, sizeof(long_lang), "{\"language\":\"%033d\",\"code\":\"\"}", 0);
	REFUSED(long_lang, "invalid_value", "language");
	snprintf(long_lang, sizeof(long_lang), "{\"language\":\"%032d\",\"code\":\"\"}", 0);
	ACCEPTED(long_lang);
	REFUSED("{\"language\":\"c\",\"version\":1,\"code\":\"\"}", "invalid_type", "version");
	snprintf(long_lang, sizeof(long_lang),
		 "{\"language\":\"c\",\"version\":\"%033d\",\"code\":\"\"}", 0);
	REFUSED(long_lang, "invalid_value", "version");
	REFUSED("{\"language\":\"c\"}", "missing_field", "code");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"files\":[{\"name\":\"a\",\"content\":\"\"}]}",
		"invalid_value", "files");
	REFUSED("{\"language\":\"c\",\"code\":1}", "invalid_type", "code");
}

TEST(files_shape)
{
	REFUSED("{\"language\":\"c\",\"files\":{}}", "invalid_type", "files");
	REFUSED("{\"language\":\"c\",\"files\":[]}", "invalid_value", "files");
	REFUSED("{\"language\":\"c\",\"files\":[1]}", "invalid_type", "files[0]");
	REFUSED("{\"language\":\"c\",\"files\":[{\"name\":\"a\",\"content\":\"\",\"mode\":1}]}",
		"unknown_field", "files[0].mode");
	REFUSED("{\"language\":\"c\",\"files\":[{\"name\":\"a\"}]}", "missing_field",
		"files[0].content");
	REFUSED("{\"language\":\"c\",\"files\":[{\"name\":\"a\",\"content\":\"\"},"
		"{\"content\":\"\"}]}",
		"missing_field", "files[1].name");
	REFUSED("{\"language\":\"c\",\"files\":[{\"name\":7,\"content\":\"\"}]}", "invalid_type",
		"files[0].name");
	REFUSED("{\"language\":\"c\",\"files\":[{\"name\":\"a\",\"content\":5}]}", "invalid_type",
		"files[0].content");
	REFUSED("{\"language\":\"c\",\"files\":[{\"name\":\"a\",\"content\":\"\",\"encoding\":"
		"\"hex\"}]}",
		"invalid_value", "files[0].encoding");
	/* max_files is 4 here */
	REFUSED("{\"language\":\"c\",\"files\":[{\"name\":\"a\",\"content\":\"\"},"
		"{\"name\":\"b\",\"content\":\"\"},{\"name\":\"c\",\"content\":\"\"},"
		"{\"name\":\"d\",\"content\":\"\"},{\"name\":\"e\",\"content\":\"\"}]}",
		"too_large", "files");
	/* one file without a name is what "code" is */
	ACCEPTED("{\"language\":\"c\",\"files\":[{\"content\":\"x\"}]}");
}

static void check_name(const char *name, bool ok, int line)
{
	char body[600];
	struct req r;
	struct req_error e;
	int ret;

	snprintf(body, sizeof(body),
		 "{\"language\":\"c\",\"files\":[{\"name\":\"%s\",\"content\":\"\"}]}", name);
	ret = parse(body, &r, &e);
	if ((ret == 0) != ok || (!ok && strcmp(e.field, "files[0].name") != 0)) {
		fprintf(stderr, "  line %d: name %s -> %d %s %s\n", line, name, ret, e.field,
			e.message);
		unit_failed_checks++;
	}
	if (ret == 0)
		req_free(&r);
}

TEST(file_names)
{
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{ "main.c", true },
		{ "a/b/c.txt", true },
		{ "..a", true },
		{ "a..", true },
		{ "a\\\\b", true },
		{ ".hidden", true },
		{ "1/2/3/4/5/6/7/8", true },
		{ "1/2/3/4/5/6/7/8/9", false },
		{ "", false },
		{ "/etc/passwd", false },
		{ "../x", false },
		{ "a/../../x", false },
		{ "a/./b", false },
		{ ".", false },
		{ "..", false },
		{ "a//b", false },
		{ "a/", false },
		{ "a\\nb", false },
		{ "a\\u007fb", false },
	};
	char long_name[300];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		check_name(cases[i].name, cases[i].ok, __LINE__);
	memset(long_name, 'x', 255);
	long_name[255] = '\0';
	check_name(long_name, true, __LINE__);
	long_name[255] = 'x';
	long_name[256] = '\0';
	check_name(long_name, false, __LINE__);
}

TEST(duplicate_and_colliding_names)
{
	REFUSED("{\"language\":\"c\",\"files\":[{\"name\":\"a\",\"content\":\"\"},"
		"{\"name\":\"a\",\"content\":\"\"}]}",
		"invalid_value", "files[1].name");
	/* "a" as a file and as the directory of "a/b" cannot both be written */
	REFUSED("{\"language\":\"c\",\"files\":[{\"name\":\"a\",\"content\":\"\"},"
		"{\"name\":\"a/b\",\"content\":\"\"}]}",
		"invalid_value", "files[1].name");
	REFUSED("{\"language\":\"c\",\"files\":[{\"name\":\"d/x\",\"content\":\"\"},"
		"{\"name\":\"d\",\"content\":\"\"}]}",
		"invalid_value", "files[1].name");
	ACCEPTED("{\"language\":\"c\",\"files\":[{\"name\":\"a\",\"content\":\"\"},"
		 "{\"name\":\"ab\",\"content\":\"\"},{\"name\":\"b/a\",\"content\":\"\"}]}");
}

static void check_b64(const char *text, const char *want, size_t want_len, int line)
{
	char body[200];
	struct req r;
	struct req_error e;
	int ret;

	snprintf(body, sizeof(body),
		 "{\"language\":\"c\",\"files\":[{\"name\":\"f\",\"content\":\"%s\","
		 "\"encoding\":\"base64\"}]}",
		 text);
	ret = parse(body, &r, &e);
	if (want ? (ret != 0 || r.files[0].len != want_len ||
		    memcmp(r.files[0].data, want, want_len) != 0 || r.files[0].data[want_len])
		 : (ret != -EINVAL || strcmp(e.field, "files[0].content") != 0 ||
		    strcmp(e.code, "invalid_value") != 0)) {
		fprintf(stderr, "  line %d: base64 \"%s\" -> %d %s %s\n", line, text, ret, e.field,
			e.message);
		unit_failed_checks++;
	}
	if (ret == 0)
		req_free(&r);
}

TEST(base64)
{
	check_b64("", "", 0, __LINE__);
	check_b64("QQ==", "A", 1, __LINE__);
	check_b64("QQ", "A", 1, __LINE__); /* padding may be left out */
	check_b64("QUI=", "AB", 2, __LINE__);
	check_b64("QUI", "AB", 2, __LINE__);
	check_b64("QUJD", "ABC", 3, __LINE__);
	check_b64("AAE=", "\0\1", 2, __LINE__);
	check_b64("+/+/", "\xfb\xff\xbf", 3, __LINE__);
	check_b64("Q", NULL, 0, __LINE__);
	check_b64("QQ=", NULL, 0, __LINE__);
	check_b64("QQ=A", NULL, 0, __LINE__);
	check_b64("QQ==QQ==", NULL, 0, __LINE__);
	check_b64("QR==", NULL, 0, __LINE__); /* spare bits set: not the canonical text */
	check_b64("QUJ=", NULL, 0, __LINE__);
	check_b64("Q Q=", NULL, 0, __LINE__);
	check_b64("QUJD\\n", NULL, 0, __LINE__);
	check_b64("-_-_", NULL, 0, __LINE__); /* the URL alphabet is not the standard one */
	check_b64("====", NULL, 0, __LINE__);
}

TEST(args)
{
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"args\":\"-v\"}", "invalid_type", "args");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"args\":[\"a\",2]}", "invalid_type", "args[1]");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"args\":[\"1\",\"2\",\"3\",\"4\"]}",
		"too_large", "args");
	ACCEPTED("{\"language\":\"c\",\"code\":\"\",\"args\":[\"1\",\"2\",\"3\"]}");
	ACCEPTED("{\"language\":\"c\",\"code\":\"\",\"args\":[]}");
}

TEST(env)
{
	char body[400];

	REFUSED("{\"language\":\"c\",\"code\":\"\",\"env\":[]}", "invalid_type", "env");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"env\":{\"A\":1}}", "invalid_type", "env.A");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"env\":{\"1A\":\"x\"}}", "invalid_value",
		"env.1A");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"env\":{\"A-B\":\"x\"}}", "invalid_value",
		"env.A-B");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"env\":{\"A=B\":\"x\"}}", "invalid_value",
		"env.A=B");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"env\":{\"\":\"x\"}}", "invalid_value", "env.");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"env\":{\"SANDBOXD_TOKEN\":\"x\"}}",
		"invalid_value", "env.SANDBOXD_TOKEN");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"env\":{\"A\":\"1\",\"A\":\"2\"}}",
		"invalid_json", "env.A");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"env\":{\"A\":\"\",\"B\":\"\",\"C\":\"\","
		"\"D\":\"\"}}",
		"too_large", "env");
	ACCEPTED(
		"{\"language\":\"c\",\"code\":\"\",\"env\":{\"SANDBOXD\":\"\",\"AB\":\"\",\"A\":\"\"}}");
	/* 129 characters: refused; the field is cut to fit but still starts right */
	snprintf(body, sizeof(body), "{\"language\":\"c\",\"code\":\"\",\"env\":{\"%0129d\":\"\"}}",
		 0);
	{
		struct req r;
		struct req_error e;

		CHECK(parse(body, &r, &e) == -EINVAL);
		CHECK_STREQ(e.code, "invalid_value");
		CHECK(strncmp(e.field, "env.000", 7) == 0 && strlen(e.field) == REQ_FIELD_MAX - 1);
	}
	snprintf(body, sizeof(body), "{\"language\":\"c\",\"code\":\"\",\"env\":{\"%0128d\":\"\"}}",
		 0);
	body[strlen("{\"language\":\"c\",\"code\":\"\",\"env\":{\"")] = 'X';
	ACCEPTED(body);
}

TEST(limits)
{
	struct req r;
	struct req_error e;

	CHECK(parse("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"cpu_ms\":99999}}", &r, &e) ==
	      -EINVAL);
	CHECK_STREQ(e.code, "limit_exceeded");
	CHECK_STREQ(e.field, "limits.cpu_ms");
	CHECK_STREQ(e.message, "limits.cpu_ms is 99999, the maximum is 60000");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"memory_mb\":2049}}",
		"limit_exceeded", "limits.memory_mb");
	ACCEPTED("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"memory_mb\":2048,\"pids\":1,"
		 "\"wall_ms\":1.0e3}}");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"pids\":0}}", "invalid_value",
		"limits.pids");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"pids\":-3}}", "invalid_value",
		"limits.pids");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"pids\":1.5}}", "invalid_value",
		"limits.pids");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"pids\":1e400}}", "invalid_value",
		"limits.pids");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"pids\":\"5\"}}", "invalid_type",
		"limits.pids");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"disk_mb\":5}}", "unknown_field",
		"limits.disk_mb");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"limits\":[]}", "invalid_type", "limits");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"pids\":2,\"pids\":3}}",
		"invalid_json", "limits.pids");
}

static void url_body(char *body, size_t size, size_t host_len)
{
	char host[2100];

	memset(host, 'h', host_len);
	host[host_len] = '\0';
	snprintf(body, size, "{\"language\":\"c\",\"code\":\"\",\"callback_url\":\"http://%s\"}",
		 host);
}

TEST(callback_url)
{
	char body[2200];

	ACCEPTED("{\"language\":\"c\",\"code\":\"\",\"callback_url\":\"http://10.0.0.1:9/x\"}");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"callback_url\":5}", "invalid_type",
		"callback_url");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"callback_url\":\"ftp://h/\"}", "invalid_value",
		"callback_url");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"callback_url\":\"file:///etc/passwd\"}",
		"invalid_value", "callback_url");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"callback_url\":\"https://\"}", "invalid_value",
		"callback_url");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"callback_url\":\"http://a b/\"}",
		"invalid_value", "callback_url");
	REFUSED("{\"language\":\"c\",\"code\":\"\",\"callback_url\":\"http://a/\\r\\nX: y\"}",
		"invalid_value", "callback_url");
	/* 2048 bytes is the most: "http://" and 2041 more */
	url_body(body, sizeof(body), 2041);
	ACCEPTED(body);
	url_body(body, sizeof(body), 2042);
	REFUSED(body, "invalid_value", "callback_url");
}

TEST(utf8)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "", true },
		{ "abc", true },
		{ "\xc3\xa9", true },
		{ "\xe2\x82\xac", true },
		{ "\xef\xbf\xbf", true },
		{ "\xf4\x8f\xbf\xbf", true },
		{ "\xf0\x9f\x98\x80", true },
		{ "\xc0\xaf", false },	       /* overlong '/' */
		{ "\xc1\xbf", false },	       /* overlong */
		{ "\xe0\x80\xaf", false },     /* overlong, 3 bytes */
		{ "\xf0\x80\x80\xaf", false }, /* overlong, 4 bytes */
		{ "\xed\xa0\x80", false },     /* surrogate U+D800 */
		{ "\xed\xbf\xbf", false },     /* surrogate U+DFFF */
		{ "\xf4\x90\x80\x80", false }, /* U+110000 */
		{ "\xf5\x80\x80\x80", false },
		{ "\x80", false },
		{ "a\xc3", false }, /* cut short */
		{ "\xe2\x82", false },
		{ "\xe2\x28\xa1", false },
		{ "\xff", false },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		bool got = req_is_utf8(cases[i].s, strlen(cases[i].s));

		if (got != cases[i].ok) {
			fprintf(stderr, "  utf8 case %zu: got %d\n", i, got);
			unit_failed_checks++;
		}
	}
	/* NUL is a character like any other for this check; length decides, not strlen */
	CHECK(req_is_utf8("a\0b", 3));
}

TEST(canonical_json_round_trips)
{
	struct cfg cfg = test_cfg();
	struct req r;
	struct req_error e;
	_cleanup_free_ char *json = NULL;
	cJSON *o, *f;

	CHECK(parse(full_body, &r, &e) == 0);
	CHECK(round_trips(&r, &cfg));
	json = req_to_json(&r);
	o = json ? cJSON_Parse(json) : NULL;
	CHECK(o != NULL);
	if (o) {
		CHECK(cJSON_GetObjectItem(o, "code") == NULL);
		CHECK(cJSON_GetObjectItem(o, "input") == NULL);
		f = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "files"), 1);
		CHECK(f && strcmp(cJSON_GetObjectItem(f, "encoding")->valuestring, "base64") == 0);
		CHECK(f && strcmp(cJSON_GetObjectItem(f, "content")->valuestring, "AAH/") == 0);
		CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "env"), "_X") != NULL);
		CHECK_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "env"), "_X")->valuestring,
			    "a=b");
	}
	cJSON_Delete(o);
	req_free(&r);

	/* a "code" request prints as one file without a name, which parses back the same */
	CHECK(parse("{\"language\":\"c\",\"code\":\"int main(){}\",\"limits\":{\"pids\":3}}", &r,
		    &e) == 0);
	CHECK(round_trips(&r, &cfg));
	free(json);
	json = req_to_json(&r);
	CHECK(json && !strstr(json, "\"name\"") && !strstr(json, "cpu_ms") &&
	      strstr(json, "\"pids\":3"));
	req_free(&r);

	/* limits up to 2^53 come back exactly (not rounded to 15 digits) */
	cfg.caps.memory_mb = UINT64_C(1) << 60;
	CHECK(parse_len("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"memory_mb\":"
			"9007199254740991}}",
			strlen("{\"language\":\"c\",\"code\":\"\",\"limits\":{\"memory_mb\":"
			       "9007199254740991}}"),
			&cfg, &r, &e) == 0);
	CHECK(r.limits.memory_mb == 9007199254740991ULL);
	CHECK(round_trips(&r, &cfg));
	req_free(&r);
}

/* Any body: 0 or -EINVAL with a code, never a crash; and whatever is accepted round-trips. */
static void check_any(const char *body, size_t len)
{
	struct cfg cfg = test_cfg();
	struct req r;
	struct req_error e;
	int ret = parse_len(body, len, &cfg, &r, &e);

	if (ret == 0) {
		if (!round_trips(&r, &cfg)) {
			fprintf(stderr, "  accepted but does not round-trip: %.*s\n", (int)len,
				body);
			unit_failed_checks++;
		}
		req_free(&r);
	} else if (ret != -EINVAL || !e.code[0] || !e.message[0] ||
		   !req_is_utf8(e.message, strlen(e.message))) {
		fprintf(stderr, "  -> %d code=%s on %.*s\n", ret, e.code, (int)len, body);
		unit_failed_checks++;
	}
}

TEST(fuzz_truncations_and_mutations)
{
	static const unsigned char bytes[] = { 0,    '"',  '\\', '{',  '}',  '[', ']', ',',
					       ':',  'x',  '0',	 ' ',  'u',  '-', '.', 'e',
					       0x7f, 0x80, 0xc3, 0xed, 0xf4, 0xff };
	size_t len = strlen(full_body);
	char *buf = malloc(len + 1);
	unsigned seed = 12345;
	int before = unit_failed_checks;

	if (!buf)
		return;
	/* every strict prefix of an object is not an object */
	for (size_t n = 0; n < len; n++) {
		struct cfg cfg = test_cfg();
		struct req r;
		struct req_error e;

		CHECK(parse_len(full_body, n, &cfg, &r, &e) == -EINVAL);
	}
	for (size_t i = 0; i < len && unit_failed_checks - before < 20; i++) {
		for (size_t b = 0; b < ELEMENTSOF(bytes); b++) {
			memcpy(buf, full_body, len);
			buf[i] = (char)bytes[b];
			check_any(buf, len);
		}
		/* drop byte i */
		memcpy(buf, full_body, i);
		memcpy(buf + i, full_body + i + 1, len - i - 1);
		check_any(buf, len - 1);
	}
	/* random multi-byte damage, reproducible */
	for (int round = 0; round < 3000 && unit_failed_checks - before < 20; round++) {
		memcpy(buf, full_body, len);
		for (int k = 0; k < 1 + round % 4; k++) {
			seed = seed * 1103515245 + 12345;
			buf[(seed >> 8) % len] = (char)(seed >> 20);
		}
		check_any(buf, len);
	}
	free(buf);
}

int main(void)
{
	RUN(minimal_code_request);
	RUN(full_request);
	RUN(stdin_and_input);
	RUN(null_means_not_given);
	RUN(body_level_refusals);
	RUN(nul_escapes_and_surrogates);
	RUN(top_level_fields);
	RUN(files_shape);
	RUN(file_names);
	RUN(duplicate_and_colliding_names);
	RUN(base64);
	RUN(args);
	RUN(env);
	RUN(limits);
	RUN(callback_url);
	RUN(utf8);
	RUN(canonical_json_round_trips);
	RUN(fuzz_truncations_and_mutations);
	UNIT_END();
}
