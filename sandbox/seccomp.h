/* SPDX-License-Identifier: MIT */
/*
 * seccomp.h - the syscall filter: compiled once in the parent with libseccomp from a profile
 * (Docker's seccomp JSON format, evaluated for an empty capability set and this architecture),
 * installed in the child with one syscall.
 */
#ifndef SBX_SECCOMP_H
#define SBX_SECCOMP_H

#include <linux/filter.h>

#include "sandbox.h"

struct seccomp_prog {
	struct sock_filter *filter; /* malloc'd BPF program */
	unsigned short len;	    /* number of instructions */
};

/* Parent: parse the JSON profile at path and compile it to BPF. */
int seccomp_compile_file(const char *path, struct seccomp_prog *ret, struct sbx_error *err);
void seccomp_prog_done(struct seccomp_prog *p);

/*
 * The same, through a cache of compiled programs in cache_dir (root-only): a hit costs a file
 * read instead of a compile (~2-4 ms), which a short-lived process such as sandboxctl pays on
 * every run. A cache entry holds the profile's exact bytes, the kernel release and the
 * libseccomp version it was compiled for, and is used only when all three match.
 */
int seccomp_compile_cached(const char *path, const char *cache_dir, struct seccomp_prog *ret,
			   struct sbx_error *err);

/* Child, after no_new_privs: install the filter. Plain syscalls only. Returns 0 or -errno. */
int seccomp_install(const struct seccomp_prog *p);

#endif
