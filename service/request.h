/* SPDX-License-Identifier: MIT */
/*
 * request.h - an execute/job request, parsed from its JSON body and checked once into plain data.
 * Nothing after req_parse() looks at the request's JSON. Every refusal names the field at
 * fault ("files[1].content", "limits.cpu_ms"), so the HTTP layer can answer
 * 400 {"error": {"code", "message", "field"}}.
 *
 * The body (POST /api/v1/execute and /api/v1/jobs):
 *   language   string, required (a name or an alias; resolved by the caller, see languages.h)
 *   version    string, optional
 *   code       string: the entry file's content          } exactly one of the two
 *   files      [{name, content, encoding: utf8|base64}]   } the first file is the entry
 *   stdin      string (also accepted as "input")
 *   args       [string]
 *   env        {NAME: string}
 *   limits     {cpu_ms, wall_ms, memory_mb, pids, output_kb}: positive integers, each <= its cap
 *   callback_url  string, http:// or https:// (jobs only)
 *   tests      [{stdin (or input), expected_output}]: compile once, run once per case, compare
 *              stdout (trailing whitespace at line ends and at the end ignored); at most
 *              cfg->max_tests; not together with a top-level stdin
 */
#ifndef SVC_REQUEST_H
#define SVC_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define REQ_FIELD_MAX 64

/* A refusal: which field, a machine code, and a sentence for people. */
struct req_error {
	char code[32];		   /* "invalid_json", "missing_field", "invalid_type", ... */
	char field[REQ_FIELD_MAX]; /* "" when the whole body is at fault */
	char message[256];
};

struct req_file {
	char *name; /* relative path: no "..", no leading '/', no empty components */
	char *data; /* decoded bytes (NUL-terminated for convenience) */
	size_t len;
};

struct req_test {
	char *stdin_data; /* NULL: none */
	size_t stdin_len;
	char *expected;
	size_t expected_len;
};

struct req_limits {
	uint64_t cpu_ms, wall_ms, memory_mb, pids, output_kb; /* 0 = the language's default */
};

struct req {
	char *language;
	char *version; /* NULL when not given */
	struct req_file *files;
	size_t n_files; /* >= 1; files[0] is the entry. "code" becomes files[0] with name NULL:
			   the language's source file name applies. */
	char *stdin_data;
	size_t stdin_len;
	char **args; /* NULL-terminated */
	size_t n_args;
	char **env; /* NULL-terminated "NAME=value" */
	size_t n_env;
	struct req_limits limits;
	char *callback_url; /* NULL when not given */
	struct req_test *tests;
	size_t n_tests; /* 0: no test cases, one run with stdin */
};

/*
 * Parse and check a body of len bytes against the caps of cfg. Returns 0, or -EINVAL with
 * *ret_err filled (nothing allocated in *ret then). Refuses: malformed JSON, a non-object, wrong
 * types, unknown fields (field named), no code/files, both code and files, invalid UTF-8 in a
 * utf8 field, invalid base64, bad file names, duplicate file names, NUL in args/env, env names
 * that are not [A-Za-z_][A-Za-z0-9_]*, limits that are not positive integers or are above the
 * caps, too many files/args/env entries, a callback_url that is not http(s).
 */
int req_parse(const char *body, size_t len, const struct cfg *cfg, struct req *ret,
	      struct req_error *ret_err);
void req_free(struct req *r);

/* The request back as canonical JSON (files always as base64, "code" never used): what the
 * HTTP side hands the supervisor and what history keeps. malloc'd, NUL-terminated. */
char *req_to_json(const struct req *r);

/* Strict UTF-8 (no overlongs, no surrogates, no code points above U+10FFFF). */
bool req_is_utf8(const char *s, size_t len);

#endif
