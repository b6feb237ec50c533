/* SPDX-License-Identifier: MIT */
/*
 * profile.h - the security profile (profiles/security/default.json) parsed once into plain data:
 * default limits and their caps, the job identity, the default environment, the masked and
 * read-only /proc paths, and the compiled seccomp filter. Nothing after this looks at JSON.
 */
#ifndef SBX_PROFILE_H
#define SBX_PROFILE_H

#include "sandbox.h"
#include "seccomp.h"

struct sbx_profile {
	struct sbx_limits defaults;
	struct sbx_limits caps;
	uid_t uid_base;
	unsigned slots;
	char hostname[64];
	char **env;	       /* NULL-terminated */
	char **masked_paths;   /* NULL-terminated, absolute, below /proc */
	char **readonly_paths; /* NULL-terminated, absolute, below /proc */
	struct seccomp_prog seccomp;
};

/* Find the profile directory: explicit, $SANDBOXD_PROFILE_DIR, next to the binary, installed. */
int profile_find_dir(const char *explicit_dir, char *buf, size_t size, struct sbx_error *err);
/* cache_dir: where compiled seccomp programs are kept (NULL: compile every time). */
int profile_load(const char *dir, const char *cache_dir, struct sbx_profile *ret,
		 struct sbx_error *err);
void profile_done(struct sbx_profile *p);

/* Requested limits (0 = default) -> effective limits; EINVAL naming the limit above its cap. */
int profile_resolve_limits(const struct sbx_profile *p, const struct sbx_limits *req,
			   struct sbx_limits *ret, struct sbx_error *err);

#endif
