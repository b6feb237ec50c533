/* SPDX-License-Identifier: MIT */
/*
 * languages.h - language profiles (profiles/languages/NAME.json), parsed and checked once at
 * start-up into plain data. A broken profile stops start-up with an error naming the file and
 * the key. Nothing after lang_load() looks at JSON.
 *
 * Profile schema (data only):
 *   name       string, [a-z0-9+#._-]{1,32}, unique
 *   aliases    [string], unique across every profile
 *   version    string
 *   image      string, an image reference ("python:3.12-slim")
 *   source     string, the entry file's name when the request sends "code" ("main.py")
 *   compile    null, or [string]: argv of the compile stage
 *   run        [string]: argv of the run stage
 *   host       [string]: programs that must exist on the host for the host fallback
 *   version_command  [string]: prints the version (on the host fallback, the version reported
 *              is the host's, the first "N.N..." of its output, not the image's)
 *   env        {NAME: value}: added to the security profile's environment
 *   limits     {cpu_ms, wall_ms, memory_mb, pids, output_kb}: this language's defaults
 *   compile_limits  the same, for the compile stage
 *   self_test  {code, stdin, args, expected_output}: a program using stdin and args that prints
 *              OK; the tests run it on every language that has a rootfs
 * In argv strings: "{source}" is the entry file's name and "{stem}" that name without its
 * directory and extension (Java's class name); whole elements "{args}" expand to the request's
 * args and "{sources}" to every request file with the entry's extension, the entry first.
 * Nothing else is substituted.
 */
#ifndef SVC_LANGUAGES_H
#define SVC_LANGUAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "request.h"

enum lang_rootfs {
	LANG_ROOTFS_NONE,  /* unavailable: no image, no host fallback */
	LANG_ROOTFS_IMAGE, /* the image is in the store */
	LANG_ROOTFS_HOST,  /* host fallback */
	LANG_ROOTFS_PULL,  /* the image is absent: the first job pulls it */
};

struct lang {
	char *file; /* the profile's file name, for messages */
	char *name;
	char **aliases; /* NULL-terminated */
	char *version;
	char *image;
	char *source;
	char **compile;		/* NULL-terminated, or NULL */
	char **run;		/* NULL-terminated */
	char **host;		/* NULL-terminated */
	char **version_command; /* NULL-terminated, or NULL */
	char **env;		/* NULL-terminated "NAME=value" */
	struct req_limits limits;
	struct req_limits compile_limits;
	/* decided by lang_resolve_rootfs() */
	enum lang_rootfs where;
	char *rootfs;	  /* "host" or the image's rootfs directory; NULL when unavailable */
	char **image_env; /* the image config's Env (PATH, JAVA_HOME...), or NULL */
};

struct lang_set {
	struct lang *v;
	size_t n;
};

/* Load every *.json of dir/languages, sorted by name. */
int lang_load(const char *profile_dir, struct lang_set *ret, struct sbx_error *err);
void lang_set_free(struct lang_set *s);
/* By name or alias; NULL when unknown. */
const struct lang *lang_find(const struct lang_set *s, const char *name);
/*
 * Decide where each language runs: its image's rootfs when the store (state_dir) has it, else
 * the host when host_fallback is on and every "host" program is found in the host's PATH,
 * else "pull" when pull_on_demand, else unavailable.
 */
int lang_resolve_rootfs(struct lang_set *s, const char *state_dir, bool host_fallback,
			bool pull_on_demand, struct sbx_error *err);
/* want names l's version, whole or a leading part of it: "3" and "3.11" match "3.11.2". */
bool lang_version_matches(const struct lang *l, const char *want);
/* "image", "host", "pull", "unavailable" */
const char *lang_rootfs_name(enum lang_rootfs w);
/* Runs now (image or host); or at all (pull on first use counts). */
bool lang_is_ready(const struct lang *l);
bool lang_is_servable(const struct lang *l);
/* Does the store (state_dir) have l's image now? */
bool lang_image_present(const struct lang *l, const char *state_dir);
/* The image was pulled: run on its rootfs from now on. */
int lang_use_image(struct lang *l, const char *state_dir, struct sbx_error *err);

#endif
