/* SPDX-License-Identifier: MIT */
/* test_reference.c - image references parsed and normalised as Docker does, refused with the
 * offending part named, printed canonically; the API host; which registries count as loopback
 * (where plain HTTP is allowed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rootfs.h"
#include "unit.h"
#include "util.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DGST  "sha256:" HEX64

struct good_case {
	const char *in;
	const char *domain, *repository, *tag, *digest;
};

static const struct good_case good[] = {
	{ "python", "docker.io", "library/python", "latest", "" },
	{ "python:3.12-slim", "docker.io", "library/python", "3.12-slim", "" },
	{ "library/python:3", "docker.io", "library/python", "3", "" },
	{ "docker.io/python", "docker.io", "library/python", "latest", "" },
	{ "docker.io/library/python", "docker.io", "library/python", "latest", "" },
	{ "index.docker.io/library/python", "docker.io", "library/python", "latest", "" },
	{ "index.docker.io/python:3", "docker.io", "library/python", "3", "" },
	{ "org/img", "docker.io", "org/img", "latest", "" },
	{ "docker.io/org/img:1", "docker.io", "org/img", "1", "" },
	{ "ghcr.io/org/img:tag", "ghcr.io", "org/img", "tag", "" },
	{ "ghcr.io/img", "ghcr.io", "img", "latest", "" }, /* library/ is Docker Hub's only */
	{ "quay.io/a/b/c/d/e:v1.2.3", "quay.io", "a/b/c/d/e", "v1.2.3", "" },
	{ "registry.local:5000/x@" DGST, "registry.local:5000", "x", "", DGST },
	{ "python@" DGST, "docker.io", "library/python", "", DGST },
	{ "python:3@" DGST, "docker.io", "library/python", "3", DGST },
	{ "ghcr.io/o/i:t@" DGST, "ghcr.io", "o/i", "t", DGST },
	{ "localhost/x", "localhost", "x", "latest", "" },
	{ "localhost:5000/a/b/c:t", "localhost:5000", "a/b/c", "t", "" },
	{ "127.0.0.1:5000/test/python:3-slim", "127.0.0.1:5000", "test/python", "3-slim", "" },
	{ "[::1]:5000/x:y", "[::1]:5000", "x", "y", "" },
	{ "[::1]/x", "[::1]", "x", "latest", "" },
	{ "[2001:db8::1]:443/team/app", "[2001:db8::1]:443", "team/app", "latest", "" },
	{ "my-registry.example.com:443/team/app:v1", "my-registry.example.com:443", "team/app",
	  "v1", "" },
	{ "Registry.Example.COM/x", "Registry.Example.COM", "x", "latest", "" },
	{ "org/a-b_c__d.e---f", "docker.io", "org/a-b_c__d.e---f", "latest", "" },
	{ "a-b_c__d---e/x", "docker.io", "a-b_c__d---e/x", "latest", "" },
	{ "a.b/c", "a.b", "c", "latest", "" }, /* a '.' makes the first part a domain */
	{ "python:LATEST", "docker.io", "library/python", "LATEST", "" },
	{ "python:_", "docker.io", "library/python", "_", "" },
	{ "python:1.0-rc_1.x", "docker.io", "library/python", "1.0-rc_1.x", "" },
	{ "0/1", "docker.io", "0/1", "latest", "" },
	/* Docker's quirks, kept: without a '/' there is no domain, so this is a tag */
	{ "localhost:5000", "docker.io", "library/localhost", "5000", "" },
	{ "ghcr.io", "docker.io", "library/ghcr.io", "latest", "" },
	{ "localhost", "docker.io", "library/localhost", "latest", "" },
};

struct bad_case {
	const char *in;
	const char *needle; /* must appear in err.msg: the part that was wrong */
};

static const struct bad_case bad[] = {
	{ "", "empty" },
	{ "Python", "lowercase" },
	{ "library/Python:3", "lowercase" },
	{ "Org/img", "lowercase" },
	{ "ghcr.io/Org/img", "lowercase" },
	{ "python:", "tag is empty" },
	{ "python:3.12!", "tag" },
	{ "python:-x", "tag" },
	{ "python:.x", "tag" },
	{ "python:a b", "tag" },
	{ "python:3 ", "tag" },
	{ "python:t\n", "tag" },
	{ "python:%2e", "tag" },
	{ "python@", "digest" },
	{ "python@sha256:abc", "digest" },
	{ "python@sha256:" HEX64 "0", "digest" },
	{ "python@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
	  "digest" },
	{ "python@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	  "digest" },
	{ "python@md5:0123456789abcdef0123456789abcdef", "algorithm" },
	{ "python@sha512:" HEX64 HEX64, "algorithm" },
	{ "python@" HEX64, "digest" },
	{ "python@" DGST "\n", "digest" },
	{ "python@" DGST "@" DGST, "digest" },
	{ "python@sha256:../../../etc/passwd", "digest" },
	{ "a/../b", "component \"..\"" },
	{ "a/./b", "component \".\"" },
	{ "../x", "domain" },
	{ "/python", "empty path component" },
	{ "python/", "empty path component" },
	{ "a//b", "empty path component" },
	{ "ghcr.io/", "repository name is empty" },
	{ "ghcr.io//x", "empty path component" },
	{ "-python", "component" },
	{ "python-", "component" },
	{ "_python", "component" },
	{ "py..thon", "component" },
	{ "a___b", "component" },
	{ "a_.b", "component" },
	{ "a b", "component" },
	{ "python?x=1", "component" },
	{ "python#frag", "component" },
	{ "pyth%6fn", "component" },
	{ "my_reg.io/x", "domain" },
	{ "a-b_c.d/x", "domain" }, /* a '.' makes it a domain, and '_' is no DNS character */
	{ "reg..io/x", "domain" },
	{ "-reg.io/x", "domain" },
	{ "reg-.io/x", "domain" },
	{ "reg.io:/x", "domain" },
	{ "reg.io:99999/x", "domain" },
	{ "reg.io:0/x", "domain" },
	{ "reg.io:50a/x", "domain" },
	{ "reg.io:5000:1/x", "domain" },
	{ "[::1/x", "domain" },
	{ "[zz::1]:5000/x", "domain" },
	{ "[]:5000/x", "domain" },
	{ "[::1]x/y", "domain" },
	{ "user@reg.io/x", "digest" },
	{ ":tag", "repository name is empty" },
	{ "@" DGST, "repository name is empty" },
	{ "localhost:5000/a/b/c:t:u", "component" },
	{ HEX64, "image ID" },
};

/* Field by field; a mismatch names the input so a table failure is found at once. */
static void check_good(const struct good_case *c)
{
	struct img_ref ref;
	struct sbx_error err = { 0 };
	int r = img_ref_parse(c->in, &ref, &err);

	if (r != 0) {
		fprintf(stderr, "  \"%s\": refused: %s\n", c->in, err.msg);
		CHECK(r == 0);
		return;
	}
	if (strcmp(ref.domain, c->domain) || strcmp(ref.repository, c->repository) ||
	    strcmp(ref.tag, c->tag) || strcmp(ref.digest, c->digest))
		fprintf(stderr, "  \"%s\":\n", c->in);
	CHECK_STREQ(ref.domain, c->domain);
	CHECK_STREQ(ref.repository, c->repository);
	CHECK_STREQ(ref.tag, c->tag);
	CHECK_STREQ(ref.digest, c->digest);
}

TEST(good_references)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(good); i++)
		check_good(&good[i]);
}

/* -EINVAL, err filled with the part named, and ret untouched: half a reference never leaks. */
static void check_bad(const char *in, const char *needle)
{
	struct img_ref ref, before;
	struct sbx_error err = { 0 };
	int r;

	memset(&ref, 0x5a, sizeof(ref));
	before = ref;
	r = img_ref_parse(in, &ref, &err);
	if (r != -EINVAL || !strstr(err.msg, needle))
		fprintf(stderr, "  \"%s\": r=%d msg=\"%s\", want \"%s\"\n", in, r, err.msg, needle);
	CHECK(r == -EINVAL);
	CHECK(err.code == EINVAL);
	CHECK(strstr(err.msg, needle) != NULL);
	CHECK(memcmp(&ref, &before, sizeof(ref)) == 0);
}

TEST(bad_references)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(bad); i++)
		check_bad(bad[i].in, bad[i].needle);
}

TEST(null_input_and_null_err)
{
	struct img_ref ref;

	CHECK(img_ref_parse(NULL, &ref, NULL) == -EINVAL);
	CHECK(img_ref_parse("Python", &ref, NULL) == -EINVAL); /* err is optional */
	CHECK(img_ref_parse("python", &ref, NULL) == 0);
}

/* s = prefix + n copies of c + suffix (malloc'd). */
static char *build(const char *prefix, size_t n, char c, const char *suffix)
{
	size_t lp = strlen(prefix), ls = strlen(suffix);
	char *s = malloc(lp + n + ls + 1);

	if (!s)
		return NULL;
	memcpy(s, prefix, lp);
	memset(s + lp, c, n);
	memcpy(s + lp + n, suffix, ls + 1);
	return s;
}

TEST(tag_length_limit)
{
	_cleanup_free_ char *ok = build("python:", 128, 'a', "");
	_cleanup_free_ char *long_tag = build("python:", 129, 'a', "");
	struct sbx_error err = { 0 };
	struct img_ref ref;

	CHECK(ok && long_tag);
	if (!ok || !long_tag)
		return;
	CHECK(img_ref_parse(ok, &ref, &err) == 0);
	CHECK(strlen(ref.tag) == 128);
	check_bad(long_tag, "longer than 128");
}

/* 255 bytes for the normalised name, as Docker counts it (domain and "library/" included). */
TEST(name_length_limit)
{
	/* "ghcr.io/" is 8: 247 more make 255 */
	_cleanup_free_ char *ok = build("ghcr.io/", 247, 'a', ":t");
	_cleanup_free_ char *over = build("ghcr.io/", 248, 'a', ":t");
	/* "docker.io/library/" is 18: a 237-byte Hub name fits, 238 do not */
	_cleanup_free_ char *hub_ok = build("", 237, 'a', "");
	_cleanup_free_ char *hub_over = build("", 238, 'a', "");
	_cleanup_free_ char *huge = build("", 100000, 'a', "");
	char canon[600];
	struct sbx_error err = { 0 };
	struct img_ref ref;

	CHECK(ok && over && hub_ok && hub_over && huge);
	if (!ok || !over || !hub_ok || !hub_over || !huge)
		return;
	CHECK(img_ref_parse(ok, &ref, &err) == 0);
	CHECK(strlen(ref.domain) + 1 + strlen(ref.repository) == 255);
	CHECK(img_ref_format(&ref, canon, sizeof(canon)) == 255 + 2);
	check_bad(over, "255");
	CHECK(img_ref_parse(hub_ok, &ref, &err) == 0);
	CHECK(strlen(ref.domain) + 1 + strlen(ref.repository) == 255);
	check_bad(hub_over, "255");
	check_bad(huge, "longer than");
}

TEST(format_canonical)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "python", "docker.io/library/python:latest" },
		{ "python:3.12-slim", "docker.io/library/python:3.12-slim" },
		{ "index.docker.io/org/img", "docker.io/org/img:latest" },
		{ "ghcr.io/org/img:tag", "ghcr.io/org/img:tag" },
		{ "registry.local:5000/x@" DGST, "registry.local:5000/x@" DGST },
		{ "python:3@" DGST, "docker.io/library/python:3@" DGST },
		{ "[::1]:5000/x:y", "[::1]:5000/x:y" },
	};
	struct sbx_error err = { 0 };
	struct img_ref ref, again;
	char buf[600];
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		CHECK(img_ref_parse(cases[i].in, &ref, &err) == 0);
		CHECK(img_ref_format(&ref, buf, sizeof(buf)) == (int)strlen(cases[i].want));
		CHECK_STREQ(buf, cases[i].want);
		/* the canonical form parses back to the same reference */
		CHECK(img_ref_parse(buf, &again, &err) == 0);
		CHECK_STREQ(again.domain, ref.domain);
		CHECK_STREQ(again.repository, ref.repository);
		CHECK_STREQ(again.tag, ref.tag);
		CHECK_STREQ(again.digest, ref.digest);
	}
}

TEST(format_small_buffer)
{
	struct sbx_error err = { 0 };
	struct img_ref ref;
	const char *want = "docker.io/library/python:latest";
	char buf[64];
	size_t n = strlen(want);

	CHECK(img_ref_parse("python", &ref, &err) == 0);
	CHECK(img_ref_format(&ref, buf, n + 1) == (int)n);
	CHECK_STREQ(buf, want);
	CHECK(img_ref_format(&ref, buf, n) == -ENOBUFS);
	CHECK(img_ref_format(&ref, buf, 1) == -ENOBUFS);
	CHECK(img_ref_format(&ref, NULL, 0) == -ENOBUFS);
}

TEST(api_host)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "python", "registry-1.docker.io" },
		{ "docker.io/org/img", "registry-1.docker.io" },
		{ "index.docker.io/org/img", "registry-1.docker.io" },
		{ "ghcr.io/org/img", "ghcr.io" },
		{ "localhost:5000/x", "localhost:5000" },
		{ "[::1]:5000/x", "[::1]:5000" },
		{ "registry-1.docker.io/x", "registry-1.docker.io" },
	};
	struct sbx_error err = { 0 };
	struct img_ref ref;
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		CHECK(img_ref_parse(cases[i].in, &ref, &err) == 0);
		CHECK_STREQ(img_ref_api_host(&ref), cases[i].want);
	}
}

TEST(loopback_domains)
{
	static const struct {
		const char *domain;
		bool loopback;
	} cases[] = {
		{ "localhost", true },
		{ "localhost:5000", true },
		{ "LocalHost:5000", true },
		{ "127.0.0.1", true },
		{ "127.0.0.1:5000", true },
		{ "127.1.2.3:80", true },
		{ "127.255.255.254", true },
		{ "[::1]", true },
		{ "[::1]:5000", true },
		{ "[0:0:0:0:0:0:0:1]:5000", true },
		{ "localhost.evil.com", false },
		{ "localhost.evil.com:5000", false },
		{ "evil.localhost", false },
		{ "127.0.0.1.nip.io", false },
		{ "127.0.0.1.nip.io:5000", false },
		{ "127.0.0.1x", false },
		{ "127.1", false },
		{ "0177.0.0.1", false },
		{ "0x7f.0.0.1", false },
		{ "127.0.0.256", false },
		{ "128.0.0.1", false },
		{ "10.0.0.1:5000", false },
		{ "0.0.0.0", false },
		{ "[::2]", false },
		{ "[::]:5000", false },
		{ "[::1", false },
		{ "[::1]x", false },
		{ "[::1]:", false },
		{ "localhost:", false },
		{ "localhost:abc", false },
		{ "localhost:5000:1", false },
		{ "127.0.0.1:99999", false },
		{ "docker.io", false },
		{ "ghcr.io", false },
		{ "", false },
	};
	struct img_ref ref = { 0 };
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		bool got;

		snprintf(ref.domain, sizeof(ref.domain), "%s", cases[i].domain);
		got = img_ref_is_loopback(&ref);
		if (got != cases[i].loopback)
			fprintf(stderr, "  \"%s\": got %d\n", cases[i].domain, got);
		CHECK(got == cases[i].loopback);
	}
}

TEST(loopback_from_parse)
{
	static const struct {
		const char *in;
		bool loopback;
	} cases[] = {
		{ "localhost/x", true },
		{ "localhost:5000/a/b/c:t", true },
		{ "127.0.0.1:5000/test/python:3-slim", true },
		{ "[::1]:5000/x:y", true },
		{ "localhost.evil.com/x", false },
		{ "127.0.0.1.nip.io/x", false },
		{ "localhost:5000", false }, /* that is docker.io/library/localhost:5000 */
		{ "python", false },
	};
	struct sbx_error err = { 0 };
	struct img_ref ref;
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		CHECK(img_ref_parse(cases[i].in, &ref, &err) == 0);
		CHECK(img_ref_is_loopback(&ref) == cases[i].loopback);
	}
}

int main(void)
{
	RUN(good_references);
	RUN(bad_references);
	RUN(null_input_and_null_err);
	RUN(tag_length_limit);
	RUN(name_length_limit);
	RUN(format_canonical);
	RUN(format_small_buffer);
	RUN(api_host);
	RUN(loopback_domains);
	RUN(loopback_from_parse);
	printf("# %zu good and %zu bad reference cases\n", ELEMENTSOF(good), ELEMENTSOF(bad));
	UNIT_END();
}
