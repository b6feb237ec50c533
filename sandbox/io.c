/* SPDX-License-Identifier: MIT */
/*
 * io.c - standard streams of a job.
 *
 * Owns: the stdin memfd, the output pipes, the capped capture. Must not: let the job reach any
 * fd of ours (only 0, 1, 2 survive into the job, T45) or keep more than the cap in memory (T07).
 */
#include <fcntl.h>
#include <linux/close_range.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "io.h"
#include "util.h"

#define IO_CHUNK 65536

void io_plan_init(struct io_plan *p)
{
	p->stdin_fd = p->out_r = p->out_w = p->err_r = p->err_w = -1;
}

void io_plan_close(struct io_plan *p)
{
	closep(&p->stdin_fd);
	closep(&p->out_r);
	closep(&p->out_w);
	closep(&p->err_r);
	closep(&p->err_w);
	io_plan_init(p);
}

static int copy_file_to(int dst, const char *path, struct sbx_error *err)
{
	_cleanup_close_ int src = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	off_t off = 0;

	if (src < 0)
		return sbx_err(err, errno, "stdin %s", path);
	if (fstat(src, &st) < 0)
		return sbx_err(err, errno, "stdin %s", path);
	if (!S_ISREG(st.st_mode))
		return sbx_err_msg(err, EINVAL, "stdin %s: not a regular file", path);
	if ((unsigned long long)st.st_size > IO_STDIN_MAX)
		return sbx_err_msg(err, EINVAL, "stdin %s: larger than %llu MiB", path,
				   IO_STDIN_MAX >> 20);
	while (off < st.st_size) {
		ssize_t n = sendfile(dst, src, NULL, (size_t)(st.st_size - off));

		if (n <= 0)
			return sbx_err(err, n < 0 ? errno : EIO, "copy stdin %s", path);
		off += n;
	}
	return 0;
}

/* stdin as a sealed memfd: nothing to feed while the job runs, and no host file is exposed. */
static int prepare_stdin(struct io_plan *p, const struct sbx_spec *spec, struct sbx_error *err)
{
	int r = 0;

	p->stdin_fd = memfd_create("stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (p->stdin_fd < 0)
		return sbx_err(err, errno, "memfd_create");
	if (spec->stdin_path)
		r = copy_file_to(p->stdin_fd, spec->stdin_path, err);
	else if (spec->stdin_len > IO_STDIN_MAX)
		return sbx_err_msg(err, EINVAL, "stdin: larger than %llu MiB", IO_STDIN_MAX >> 20);
	else if (spec->stdin_len)
		r = sbx_write_all(p->stdin_fd, spec->stdin_data, spec->stdin_len) < 0
			    ? sbx_err(err, errno, "write stdin")
			    : 0;
	if (r < 0)
		return r;
	if (lseek(p->stdin_fd, 0, SEEK_SET) < 0 ||
	    fcntl(p->stdin_fd, F_ADD_SEALS,
		  F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		return sbx_err(err, errno, "seal stdin");
	return 0;
}

int io_plan_prepare(struct io_plan *p, const struct sbx_spec *spec, struct sbx_error *err)
{
	int out[2], errp[2];
	int r = prepare_stdin(p, spec, err);

	if (r < 0)
		return r;
	if (pipe2(out, O_CLOEXEC) < 0)
		return sbx_err(err, errno, "pipe");
	p->out_r = out[0];
	p->out_w = out[1];
	if (pipe2(errp, O_CLOEXEC) < 0)
		return sbx_err(err, errno, "pipe");
	p->err_r = errp[0];
	p->err_w = errp[1];
	return 0;
}

int io_plan_parent(struct io_plan *p)
{
	closep(&p->stdin_fd);
	closep(&p->out_w);
	closep(&p->err_w);
	p->stdin_fd = p->out_w = p->err_w = -1;
	if (fcntl(p->out_r, F_SETFL, O_NONBLOCK) < 0 || fcntl(p->err_r, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int io_child_setup(const struct io_plan *p, int keep)
{
	/* dup2 clears close-on-exec on the new fds; fd 3 keeps it via dup3. */
	if (dup2(p->stdin_fd, 0) < 0 || dup2(p->out_w, 1) < 0 || dup2(p->err_w, 2) < 0)
		return -errno;
	if (keep != 3 && dup3(keep, 3, O_CLOEXEC) < 0)
		return -errno;
	/* Every other fd of the parent goes: leaked fds were CVE-2024-21626 and CVE-2016-9962. */
	if (syscall(SYS_close_range, 4U, ~0U, 0) < 0)
		return -errno;
	return 0;
}

static int capture_grow(struct io_capture *c, size_t need)
{
	size_t alloc = c->alloc ? c->alloc : 4096;
	char *d;

	while (alloc < need + 1)
		alloc *= 2;
	if (alloc == c->alloc)
		return 0;
	d = realloc(c->dst->data, alloc);
	if (!d)
		return -ENOMEM;
	c->dst->data = d;
	c->alloc = alloc;
	return 0;
}

static int capture_add(struct io_capture *c, const char *buf, size_t n, sbx_output_fn fn,
		       void *userdata)
{
	size_t room = c->cap > c->dst->len ? (size_t)(c->cap - c->dst->len) : 0;
	size_t keep = n < room ? n : room;
	int r = capture_grow(c, c->dst->len + keep);

	if (r < 0)
		return r;
	memcpy(c->dst->data + c->dst->len, buf, keep);
	c->dst->len += keep;
	c->dst->data[c->dst->len] = '\0';
	if (fn && keep)
		fn(userdata, c->stream, buf, keep);
	if (keep < n) {
		c->dst->truncated = true;
		return 1;
	}
	return 0;
}

int io_drain(struct io_capture *c, int fd, sbx_output_fn on_output, void *userdata)
{
	char buf[IO_CHUNK];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0) {
			c->eof = true;
			return 0;
		}
		r = capture_add(c, buf, (size_t)n, on_output, userdata);
		if (r != 0)
			return r;
	}
}
