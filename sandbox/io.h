/* SPDX-License-Identifier: MIT */
/*
 * io.h - the job's standard streams: stdin from a sealed memfd (bytes or a copy of a host file),
 * stdout and stderr through pipes the parent drains into capped buffers.
 */
#ifndef SBX_IO_H
#define SBX_IO_H

#include "sandbox.h"

#define IO_STDIN_MAX (64ULL << 20)

struct io_plan {
	int stdin_fd; /* memfd, sealed */
	int out_r, out_w;
	int err_r, err_w;
};

struct io_capture {
	struct sbx_output *dst;
	enum sbx_stream stream;
	uint64_t cap;
	size_t alloc;
	bool eof;
};

void io_plan_init(struct io_plan *p);
int io_plan_prepare(struct io_plan *p, const struct sbx_spec *spec, struct sbx_error *err);
/* Parent after clone: the child's ends are closed, the read ends set non-blocking. */
int io_plan_parent(struct io_plan *p);
void io_plan_close(struct io_plan *p);

/* Child: stdio on fds 0-2, `keep` moved to fd 3 (close-on-exec), every other fd closed. */
int io_child_setup(const struct io_plan *p, int keep);

/*
 * Parent: drain what fd has now into c (up to c->cap), calling on_output for new bytes.
 * Returns 1 when the stream went over its cap, 0 otherwise, -errno on failure.
 */
int io_drain(struct io_capture *c, int fd, sbx_output_fn on_output, void *userdata);

#endif
