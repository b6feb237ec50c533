/* SPDX-License-Identifier: MIT */
/*
 * util.h - cleanup attributes and ownership hand-off, shared by every module.
 *
 * Owns: the _cleanup_ macros, TAKE_PTR/TAKE_FD, and the error-struct helpers
 * (sbx_err, sbx_err_prefix). Must not: log, exit, or allocate on behalf of callers.
 */
#ifndef SBX_UTIL_H
#define SBX_UTIL_H

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "sandbox.h"

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void cJSON_Deletep(cJSON **p)
{
	cJSON_Delete(*p);
}

/* A NULL-terminated vector of malloc'd strings (NULL is fine). */
static inline void sbx_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

#define _cleanup_free_	_cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership out of a _cleanup_ variable: the cleanup then sees NULL / -1. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Fill err (may be NULL) and return -errnum. errnum is a positive errno value.
 * Usage: return sbx_err(err, errno, "open %s", path);  ->  "open /x: No such file or directory"
 */
int sbx_err(struct sbx_error *err, int errnum, const char *fmt, ...) _printf_(3, 4);

/* Like sbx_err but the message is used as is, without ": strerror" appended. */
int sbx_err_msg(struct sbx_error *err, int errnum, const char *fmt, ...) _printf_(3, 4);

/* Prepend context to an error already filled in: "mount /proc: " + old message. Returns r. */
int sbx_err_prefix(struct sbx_error *err, int r, const char *fmt, ...) _printf_(3, 4);

/* Write all of buf to fd, retrying on EINTR and short writes. Returns 0 or -errno. */
int sbx_write_all(int fd, const void *buf, size_t len);

/* Write a small string to a file (cgroup knobs, /proc files). Returns 0 or -errno. */
int sbx_write_file_at(int dirfd, const char *name, const char *value);

/* Read a small file into buf (NUL-terminated, at most size-1 bytes). Returns length or -errno. */
int sbx_read_file_at(int dirfd, const char *name, char *buf, size_t size);

/*
 * Read a whole regular file (from offset 0) into a malloc'd, NUL-terminated buffer:
 * -EINVAL when it is not a regular file, -EFBIG past max bytes. ret_len may be NULL.
 */
int sbx_read_fd_all(int fd, size_t max, char **ret, size_t *ret_len);
/* The same by path relative to dirfd; oflags adds to O_RDONLY|O_CLOEXEC (e.g. O_NOFOLLOW). */
int sbx_read_file_all(int dirfd, const char *path, int oflags, size_t max, char **ret,
		      size_t *ret_len);

/* Monotonic clock in nanoseconds. */
unsigned long long sbx_now_ns(void);

#endif
