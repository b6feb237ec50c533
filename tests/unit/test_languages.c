/* SPDX-License-Identifier: MIT */
/*
 * test_languages.c - language profiles as an operator meets them: the shipped profiles load and
 * answer to their names and aliases; every kind of broken profile stops lang_load with an error
 * naming the file and the key; where each language runs (unavailable, host) and the version the
 * host fallback reports; which version requests match.
 *
 * Every profile directory is built here under /tmp and removed at the end; the shipped ones are
 * read from the source tree (found from __FILE__), never written.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "languages.h"
#include "unit.h"
#include "util.h"

/* Pieces of a valid profile, so each broken one differs from it in one key only. */
#define NAME_		  "\"name\": \"alpha\""
#define VERSION_	  "\"version\": \"1.2\""
#define IMAGE_		  "\"image\": \"alpha:1.2\""
#define SOURCE_		  "\"source\": \"main.a\""
#define RUN_		  "\"run\": [\"alpha\", \"{source}\"]"
#define REST_		  VERSION_ ", " IMAGE_ ", " SOURCE_ ", " RUN_
#define VALID(name, more) "{\"name\": \"" name "\", " REST_ more "}"

#define NO_PROGRAM "sbx-no-such-program-4f2a"

static char root[] = "/tmp/test_languages.XXXXXX";
static int n_dirs;

/* A new profile dir under root: languages/ holding files, given as name, text, ..., NULL. */
static const char *make_profiles(char *buf, size_t size, const char *const *files)
{
	char path[512];
	FILE *f;

	snprintf(buf, size, "%s/p%d", root, n_dirs++);
	snprintf(path, sizeof(path), "%s/languages", buf);
	CHECK(mkdir(buf, 0700) == 0 && mkdir(path, 0700) == 0);
	for (; files && files[0]; files += 2) {
		snprintf(path, sizeof(path), "%s/languages/%s", buf, files[0]);
		f = fopen(path, "w");
		CHECK(f != NULL);
		if (!f)
			continue;
		fputs(files[1], f);
		fclose(f);
	}
	return buf;
}

#define PROFILES(buf, ...)                                                                         \
	make_profiles(buf, sizeof(buf), (const char *const[]){ __VA_ARGS__, NULL })

/* The shipped profiles: __FILE__ is relative to the repo root (make's cwd) or absolute. */
static void shipped_dir(char *buf, size_t size)
{
	const char *tail = strstr(__FILE__, "tests/unit/test_languages.c");

	snprintf(buf, size, "%.*sprofiles", tail ? (int)(tail - __FILE__) : 0, __FILE__);
}

static bool strv_has(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

TEST(setup)
{
	CHECK(mkdtemp(root) != NULL);
}

TEST(shipped_profiles_load)
{
	char dir[512];
	struct lang_set s = { 0 };
	struct sbx_error err = { 0 };
	const struct lang *py, *sh;

	shipped_dir(dir, sizeof(dir));
	CHECK(lang_load(dir, &s, &err) == 0);
	if (err.code)
		fprintf(stderr, "  lang_load %s: %s\n", dir, err.msg);
	py = lang_find(&s, "python");
	sh = lang_find(&s, "bash");
	CHECK(py && sh && sh < py); /* sorted by name: bash before python */
	for (size_t i = 1; i < s.n; i++)
		CHECK(strcmp(s.v[i - 1].name, s.v[i].name) < 0);
	CHECK(py && lang_find(&s, "py") == py && lang_find(&s, "python3") == py);
	CHECK(sh && lang_find(&s, "sh") == sh);
	for (size_t i = 0; i < s.n; i++) {
		CHECK(lang_find(&s, s.v[i].name) == &s.v[i]);
		for (char **a = s.v[i].aliases; a && *a; a++)
			CHECK(lang_find(&s, *a) == &s.v[i]);
	}
	CHECK(py && strv_has(py->env, "PYTHONUNBUFFERED=1"));
	CHECK(py && py->limits.memory_mb == 256 && py->run && py->run[0]);
	CHECK(lang_find(&s, "cobol") == NULL);
	CHECK(lang_find(&s, "") == NULL);
	CHECK(lang_find(&s, "Python") == NULL);
	lang_set_free(&s);
	CHECK(s.v == NULL && s.n == 0);
	lang_set_free(&s); /* a second call is harmless */
}

TEST(every_key_is_parsed)
{
	char dir[256];
	struct lang_set s = { 0 };
	struct sbx_error err = { 0 };
	const struct lang *l;

	PROFILES(dir, "full.json",
		 "{\"comment\": \"every key\", " NAME_ ", \"aliases\": [\"al\", \"a+\"], " REST_
		 ", \"compile\": [\"cc\", \"{source}\"], \"host\": [\"sh\"],"
		 " \"version_command\": [\"sh\", \"-c\", \"echo 1\"],"
		 " \"env\": {\"LANG\": \"C.UTF-8\", \"EMPTY\": \"\"},"
		 " \"limits\": {\"cpu_ms\": 1500, \"wall_ms\": 3000, \"memory_mb\": 64,"
		 " \"pids\": 8, \"output_kb\": 32},"
		 " \"compile_limits\": {\"cpu_ms\": 20000}}");
	CHECK(lang_load(dir, &s, &err) == 0);
	l = s.n == 1 ? &s.v[0] : NULL;
	CHECK(l != NULL);
	if (!l) {
		lang_set_free(&s);
		return;
	}
	CHECK_STREQ(l->name, "alpha");
	CHECK(strv_has(l->aliases, "al") && strv_has(l->aliases, "a+"));
	CHECK_STREQ(l->version, "1.2");
	CHECK_STREQ(l->image, "alpha:1.2");
	CHECK_STREQ(l->source, "main.a");
	CHECK(l->compile && !strcmp(l->compile[0], "cc") && l->compile[2] == NULL);
	CHECK(l->run && !strcmp(l->run[1], "{source}") && l->run[2] == NULL);
	CHECK(l->version_command && l->version_command[3] == NULL);
	CHECK(strv_has(l->env, "LANG=C.UTF-8") && strv_has(l->env, "EMPTY="));
	CHECK(l->limits.cpu_ms == 1500 && l->limits.wall_ms == 3000 && l->limits.memory_mb == 64 &&
	      l->limits.pids == 8 && l->limits.output_kb == 32);
	CHECK(l->compile_limits.cpu_ms == 20000 && l->compile_limits.wall_ms == 0);
	CHECK(l->where == LANG_ROOTFS_NONE && l->rootfs == NULL); /* not resolved yet */
	lang_set_free(&s);
}

TEST(optional_keys_may_be_absent)
{
	char dir[256];
	struct lang_set s = { 0 };
	struct sbx_error err = { 0 };

	PROFILES(dir, "alpha.json", VALID("alpha", ", \"compile\": null"));
	CHECK(lang_load(dir, &s, &err) == 0);
	CHECK(s.n == 1);
	if (s.n == 1) {
		CHECK(s.v[0].compile == NULL && s.v[0].version_command == NULL);
		CHECK(s.v[0].env && s.v[0].env[0] == NULL);
		CHECK(s.v[0].limits.cpu_ms == 0 && s.v[0].limits.memory_mb == 0);
		CHECK(lang_find(&s, "alpha") == &s.v[0]);
	}
	lang_set_free(&s);
}

/* One broken profile dir: its files, and what the error message must name. */
struct broken {
	const char *files[7];
	const char *want[3];
};

static const struct broken broken[] = {
	{ { "bad.json", "{\"name\": \"alpha\", " }, { "languages/bad.json", "JSON" } },
	{ { "list.json", "[\"alpha\"]" }, { "languages/list.json", "object" } },
	{ { "str.json", "\"alpha\"" }, { "languages/str.json", "object" } },
	{ { "extra.json", VALID("alpha", ", \"imgae\": \"x\"") },
	  { "languages/extra.json", "imgae" } },
	{ { "noname.json", "{" REST_ "}" }, { "languages/noname.json", "\"name\"" } },
	{ { "norun.json", "{" NAME_ ", " VERSION_ ", " IMAGE_ ", " SOURCE_ "}" },
	  { "languages/norun.json", "\"run\"" } },
	{ { "nosrc.json", "{" NAME_ ", " VERSION_ ", " IMAGE_ ", " RUN_ "}" },
	  { "languages/nosrc.json", "\"source\"" } },
	{ { "noimg.json", "{" NAME_ ", " VERSION_ ", " SOURCE_ ", " RUN_ "}" },
	  { "languages/noimg.json", "\"image\"" } },
	{ { "nover.json", "{" NAME_ ", " IMAGE_ ", " SOURCE_ ", " RUN_ "}" },
	  { "languages/nover.json", "\"version\"" } },
	{ { "upper.json", VALID("Alpha", "") }, { "languages/upper.json", "\"name\"" } },
	{ { "slash.json", VALID("al/pha", "") }, { "languages/slash.json", "\"name\"" } },
	{ { "space.json", VALID("al pha", "") }, { "languages/space.json", "\"name\"" } },
	{ { "long.json", VALID("abcdefghijklmnopqrstuvwxyz0123456", "") },
	  { "languages/long.json", "\"name\"" } },
	{ { "empty.json", "{" NAME_ ", " VERSION_ ", " IMAGE_ ", " SOURCE_ ", \"run\": []}" },
	  { "languages/empty.json", "\"run\"" } },
	{ { "runnum.json",
	    "{" NAME_ ", " VERSION_ ", " IMAGE_ ", " SOURCE_ ", \"run\": [\"a\", 1]}" },
	  { "languages/runnum.json", "\"run\"" } },
	{ { "runstr.json", "{" NAME_ ", " VERSION_ ", " IMAGE_ ", " SOURCE_ ", \"run\": \"a\"}" },
	  { "languages/runstr.json", "\"run\"" } },
	{ { "src.json",
	    "{" NAME_ ", " VERSION_ ", " IMAGE_ ", \"source\": \"../main.a\", " RUN_ "}" },
	  { "languages/src.json", "\"source\"" } },
	{ { "src2.json", "{" NAME_ ", " VERSION_ ", " IMAGE_ ", \"source\": \"a/b\", " RUN_ "}" },
	  { "languages/src2.json", "\"source\"" } },
	{ { "al1.json", VALID("alpha", ", \"aliases\": [\"Al Pha\"]") },
	  { "languages/al1.json", "\"aliases\"" } },
	{ { "al2.json", VALID("alpha", ", \"aliases\": [\"alpha\"]") },
	  { "languages/al2.json", "\"aliases\"" } },
	{ { "al3.json", VALID("alpha", ", \"aliases\": [\"x\", \"x\"]") },
	  { "languages/al3.json", "\"aliases\"" } },
	{ { "env.json", VALID("alpha", ", \"env\": {\"LANG\": \"C\", \"DEBUG\": 1}") },
	  { "languages/env.json", "env.DEBUG" } },
	{ { "lkey.json", VALID("alpha", ", \"limits\": {\"cpu_ms\": 1, \"disk_mb\": 1}") },
	  { "languages/lkey.json", "limits.disk_mb" } },
	{ { "lfrac.json", VALID("alpha", ", \"limits\": {\"wall_ms\": 1.5}") },
	  { "languages/lfrac.json", "limits.wall_ms" } },
	{ { "lstr.json", VALID("alpha", ", \"limits\": {\"pids\": \"8\"}") },
	  { "languages/lstr.json", "limits.pids" } },
	{ { "lzero.json", VALID("alpha", ", \"limits\": {\"memory_mb\": 0}") },
	  { "languages/lzero.json", "limits.memory_mb" } },
	{ { "czero.json", VALID("alpha", ", \"compile_limits\": {\"output_kb\": 0}") },
	  { "languages/czero.json", "compile_limits.output_kb" } },
	{ { "one.json", VALID("dup", ""), "two.json", VALID("dup", "") }, { ".json", "\"dup\"" } },
	{ { "alpha.json", VALID("alpha", ""), "beta.json",
	    VALID("beta", ", \"aliases\": [\"alpha\"]") },
	  { "beta.json", "\"alpha\"" } },
	{ { "alpha.json", VALID("alpha", ", \"aliases\": [\"x\"]"), "beta.json",
	    VALID("beta", ", \"aliases\": [\"x\"]") },
	  { ".json", "\"x\"" } },
};

static void check_broken(const struct broken *b)
{
	char dir[256];
	struct lang_set s = { 0 };
	struct sbx_error err = { 0 };
	int r;

	make_profiles(dir, sizeof(dir), b->files);
	r = lang_load(dir, &s, &err);
	CHECK(r == -EINVAL && err.code == EINVAL);
	CHECK(s.v == NULL && s.n == 0); /* nothing handed out on failure */
	for (size_t i = 0; i < ELEMENTSOF(b->want) && b->want[i]; i++)
		if (!strstr(err.msg, b->want[i])) {
			fprintf(stderr, "  %s: message \"%s\" does not name %s\n", b->files[0],
				err.msg, b->want[i]);
			CHECK(strstr(err.msg, b->want[i]) != NULL);
		}
	lang_set_free(&s);
}

TEST(broken_profiles_name_file_and_key)
{
	for (size_t i = 0; i < ELEMENTSOF(broken); i++)
		check_broken(&broken[i]);
}

TEST(only_json_files_are_read)
{
	char dir[256];
	struct lang_set s = { 0 };
	struct sbx_error err = { 0 };

	PROFILES(dir, "alpha.json", VALID("alpha", ""), "README", "not json at all",
		 "beta.json.orig", "{broken", "beta.txt", "{broken", ".json", "{broken");
	CHECK(lang_load(dir, &s, &err) == 0);
	CHECK(s.n == 1 && lang_find(&s, "alpha") == &s.v[0]);
	lang_set_free(&s);
}

TEST(empty_and_missing_dirs)
{
	char dir[256], missing[300];
	struct lang_set s = { 0 };
	struct sbx_error err = { 0 };

	make_profiles(dir, sizeof(dir), NULL);
	CHECK(lang_load(dir, &s, &err) == 0);
	CHECK(s.n == 0 && lang_find(&s, "alpha") == NULL);
	lang_set_free(&s);

	snprintf(missing, sizeof(missing), "%s/absent", root);
	CHECK(lang_load(missing, &s, &err) == -ENOENT && err.code == ENOENT);
	CHECK(strstr(err.msg, "absent/languages") != NULL);
	CHECK(s.n == 0);
	lang_set_free(&s);
}

/* Host fallback candidates: "sh" exists everywhere; NO_PROGRAM nowhere. */
static const char *const host_files[] = {
	"hosty.json",
	VALID("hosty", ", \"host\": [\"sh\"]"),
	"ghost.json",
	VALID("ghost", ", \"host\": [\"sh\", \"" NO_PROGRAM "\"]"),
	"ver.json",
	VALID("ver", ", \"host\": [\"sh\"],"
		     " \"version_command\": [\"sh\", \"-c\", \"echo tool 9.8.7-beta\"]"),
	"nodigit.json",
	VALID("nodigit",
	      ", \"host\": [\"sh\"], \"version_command\": [\"sh\", \"-c\", \"echo none\"]"),
	"nocmd.json",
	VALID("nocmd", ", \"host\": [\"sh\"], \"version_command\": [\"" NO_PROGRAM "\", \"-v\"]"),
	NULL,
};

static void load_host_set(struct lang_set *s)
{
	char dir[256];
	struct sbx_error err = { 0 };

	make_profiles(dir, sizeof(dir), host_files);
	CHECK(lang_load(dir, s, &err) == 0);
	CHECK(s->n == 5);
}

static const char *where(const struct lang_set *s, const char *name)
{
	const struct lang *l = lang_find(s, name);

	return l ? lang_rootfs_name(l->where) : "(unknown language)";
}

static const char *version(const struct lang_set *s, const char *name)
{
	const struct lang *l = lang_find(s, name);

	return l ? l->version : NULL;
}

TEST(no_image_no_fallback_is_unavailable)
{
	char state[300], shipped[512];
	struct lang_set s = { 0 }, real = { 0 };
	struct sbx_error err = { 0 };

	snprintf(state, sizeof(state), "%s/state-empty", root);
	CHECK(mkdir(state, 0700) == 0);
	load_host_set(&s);
	CHECK(lang_resolve_rootfs(&s, state, false, false, &err) == 0);
	for (size_t i = 0; i < s.n; i++) {
		CHECK_STREQ(lang_rootfs_name(s.v[i].where), "unavailable");
		CHECK(s.v[i].rootfs == NULL);
	}
	CHECK_STREQ(version(&s, "ver"), "1.2"); /* nothing on the host was asked */

	shipped_dir(shipped, sizeof(shipped));
	CHECK(lang_load(shipped, &real, &err) == 0);
	CHECK(real.n >= 2);
	CHECK(lang_resolve_rootfs(&real, state, false, false, &err) == 0);
	for (size_t i = 0; i < real.n; i++)
		CHECK_STREQ(lang_rootfs_name(real.v[i].where), "unavailable");
	lang_set_free(&real);
	lang_set_free(&s);
}

TEST(host_fallback)
{
	char state[300];
	struct lang_set s = { 0 };
	struct sbx_error err = { 0 };
	const struct lang *l;

	snprintf(state, sizeof(state), "%s/state-host", root);
	CHECK(mkdir(state, 0700) == 0);
	load_host_set(&s);
	CHECK(lang_resolve_rootfs(&s, state, true, false, &err) == 0);
	if (err.code)
		fprintf(stderr, "  lang_resolve_rootfs: %s\n", err.msg);
	CHECK_STREQ(where(&s, "hosty"), "host");
	l = lang_find(&s, "hosty");
	CHECK(l && l->rootfs && !strcmp(l->rootfs, "host"));
	CHECK_STREQ(version(&s, "hosty"), "1.2"); /* no version_command: the profile's */
	CHECK_STREQ(where(&s, "ghost"), "unavailable");
	l = lang_find(&s, "ghost");
	CHECK(l && l->rootfs == NULL);
	CHECK_STREQ(where(&s, "ver"), "host");
	CHECK_STREQ(version(&s, "ver"), "9.8.7");
	CHECK_STREQ(where(&s, "nodigit"), "host");
	CHECK_STREQ(version(&s, "nodigit"), "1.2");
	CHECK_STREQ(where(&s, "nocmd"), "host");
	CHECK_STREQ(version(&s, "nocmd"), "1.2");

	/* resolving again starts over: off now, so nothing runs on the host any more */
	CHECK(lang_resolve_rootfs(&s, state, false, false, &err) == 0);
	CHECK_STREQ(where(&s, "hosty"), "unavailable");
	l = lang_find(&s, "hosty");
	CHECK(l && l->rootfs == NULL);
	lang_set_free(&s);
}

TEST(absent_state_dir_is_a_first_start)
{
	char state[300];
	struct lang_set s = { 0 };
	struct sbx_error err = { 0 };

	snprintf(state, sizeof(state), "%s/state-never-made", root);
	load_host_set(&s);
	CHECK(lang_resolve_rootfs(&s, state, true, false, &err) == 0);
	CHECK_STREQ(where(&s, "hosty"), "host");
	CHECK_STREQ(where(&s, "ghost"), "unavailable");
	lang_set_free(&s);
}

TEST(rootfs_names)
{
	CHECK_STREQ(lang_rootfs_name(LANG_ROOTFS_NONE), "unavailable");
	CHECK_STREQ(lang_rootfs_name(LANG_ROOTFS_IMAGE), "image");
	CHECK_STREQ(lang_rootfs_name(LANG_ROOTFS_HOST), "host");
}

TEST(version_matches)
{
	char v[] = "3.11.2";
	struct lang l = { .version = v };
	static const char *const yes[] = { "3", "3.11", "3.11.2" };
	static const char *const no[] = { "3.1", "3.11.20", "4", "", "3.11.2.0", "3.", "11" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++)
		if (!lang_version_matches(&l, yes[i])) {
			fprintf(stderr, "  \"%s\" should match %s\n", yes[i], v);
			CHECK(lang_version_matches(&l, yes[i]));
		}
	for (size_t i = 0; i < ELEMENTSOF(no); i++)
		if (lang_version_matches(&l, no[i])) {
			fprintf(stderr, "  \"%s\" should not match %s\n", no[i], v);
			CHECK(!lang_version_matches(&l, no[i]));
		}
}

TEST(cleanup)
{
	CHECK(nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

int main(void)
{
	RUN(setup);
	RUN(shipped_profiles_load);
	RUN(every_key_is_parsed);
	RUN(optional_keys_may_be_absent);
	RUN(broken_profiles_name_file_and_key);
	RUN(only_json_files_are_read);
	RUN(empty_and_missing_dirs);
	RUN(no_image_no_fallback_is_unavailable);
	RUN(host_fallback);
	RUN(absent_state_dir_is_a_first_start);
	RUN(rootfs_names);
	RUN(version_matches);
	RUN(cleanup);
	UNIT_END();
}
