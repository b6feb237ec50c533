/* SPDX-License-Identifier: MIT */
/*
 * error.c - the error contract (struct sbx_error) and the few I/O helpers every module uses.
 *
 * Owns: formatting into the fixed-size message buffer (never the heap), small-file read/write.
 * Must not: log, exit, or be called after clone (vsnprintf may touch locale state).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

static void err_vformat(struct sbx_error *err, int errnum, bool with_strerror, const char *fmt,
			va_list ap)
{
	int n;

	err->code = errnum;
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (!with_strerror || n < 0 || (size_t)n >= sizeof(err->msg))
		return;
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
}

int sbx_err(struct sbx_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (errnum <= 0)
		errnum = EIO;
	if (err) {
		va_start(ap, fmt);
		err_vformat(err, errnum, true, fmt, ap);
		va_end(ap);
	}
	return -errnum;
}

int sbx_err_msg(struct sbx_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (errnum <= 0)
		errnum = EIO;
	if (err) {
		va_start(ap, fmt);
		err_vformat(err, errnum, false, fmt, ap);
		va_end(ap);
	}
	return -errnum;
}

int sbx_err_prefix(struct sbx_error *err, int r, const char *fmt, ...)
{
	char old[SBX_MSG_MAX];
	va_list ap;
	int n;

	if (!err)
		return r;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %.*s", (int)(sizeof(err->msg) - n),
			 old);
	if (!err->code)
		err->code = -r;
	return r;
}

int sbx_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sbx_write_file_at(int dirfd, const char *name, const char *value)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	return sbx_write_all(fd, value, strlen(value));
}

int sbx_read_file_at(int dirfd, const char *name, char *buf, size_t size)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (int)len;
}

int sbx_read_fd_all(int fd, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (len < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + len, (size_t)st.st_size - len, (off_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break; /* the file shrank: what was there */
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int sbx_read_file_all(int dirfd, const char *path, int oflags, size_t max, char **ret,
		      size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | oflags);

	if (fd < 0)
		return -errno;
	return sbx_read_fd_all(fd, max, ret, ret_len);
}

unsigned long long sbx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}
