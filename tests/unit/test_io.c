/* SPDX-License-Identifier: MIT */
/* test_io.c - stdin is a sealed memfd; output is kept up to its cap and flagged truncated. */
#include <fcntl.h>
#include <string.h>

#include "io.h"
#include "unit.h"
#include "util.h"

TEST(stdin_memfd_is_sealed)
{
	struct sbx_spec spec = { .stdin_data = "abc", .stdin_len = 3 };
	struct io_plan p;
	char buf[8] = { 0 };

	io_plan_init(&p);
	CHECK(io_plan_prepare(&p, &spec, NULL) == 0);
	CHECK(read(p.stdin_fd, buf, sizeof(buf)) == 3 && !strcmp(buf, "abc"));
	/* The job gets this fd as its stdin: it must not be able to change it. */
	CHECK(write(p.stdin_fd, "x", 1) < 0 && errno == EPERM);
	CHECK(fcntl(p.stdin_fd, F_GET_SEALS) & F_SEAL_WRITE);
	io_plan_close(&p);
}

TEST(stdin_file_must_be_regular)
{
	struct sbx_spec spec = { .stdin_path = "/dev/zero" };
	struct sbx_error err = { 0 };
	struct io_plan p;

	io_plan_init(&p);
	CHECK(io_plan_prepare(&p, &spec, &err) == -EINVAL);
	io_plan_close(&p);
	spec.stdin_path = "/nonexistent";
	CHECK(io_plan_prepare(&p, &spec, &err) == -ENOENT);
	io_plan_close(&p);
}

TEST(capture_caps_and_flags)
{
	struct sbx_output out = { 0 };
	struct io_capture c = { .dst = &out, .stream = SBX_STDOUT, .cap = 10 };
	int fds[2];

	CHECK(pipe2(fds, O_NONBLOCK) == 0);
	CHECK(write(fds[1], "0123456", 7) == 7);
	CHECK(io_drain(&c, fds[0], NULL, NULL) == 0);
	CHECK(out.len == 7 && !out.truncated && !c.eof);
	CHECK(write(fds[1], "789abcdef", 9) == 9);
	CHECK(io_drain(&c, fds[0], NULL, NULL) == 1); /* over the cap */
	CHECK(out.len == 10 && out.truncated && !memcmp(out.data, "0123456789", 10));
	CHECK(out.data[10] == '\0');
	close(fds[1]);
	close(fds[0]);
	free(out.data);
}

TEST(capture_sees_eof)
{
	struct sbx_output out = { 0 };
	struct io_capture c = { .dst = &out, .stream = SBX_STDERR, .cap = 100 };
	int fds[2];

	CHECK(pipe2(fds, O_NONBLOCK) == 0);
	CHECK(write(fds[1], "x", 1) == 1);
	close(fds[1]);
	CHECK(io_drain(&c, fds[0], NULL, NULL) == 0);
	CHECK(c.eof && out.len == 1);
	close(fds[0]);
	free(out.data);
}

int main(void)
{
	RUN(stdin_memfd_is_sealed);
	RUN(stdin_file_must_be_regular);
	RUN(capture_caps_and_flags);
	RUN(capture_sees_eof);
	UNIT_END();
}
