/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl_helper.c - the lean sandboxctl's way to the image commands: they live in the
 * sibling binary sandboxctl-image (next to this one, in the build dir or the install's bin).
 *
 * Owns: finding the sibling, handing it a subcommand (exec), and asking it a question (run
 * it, read its stdout). Must not: link librootfs (that is the point of the split).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandboxctl.h"

#define HELPER	    "sandboxctl-image"
#define CAPTURE_MAX (4 << 20)

static int helper_path(char *buf, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return -errno;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	if ((size_t)snprintf(buf, size, "%s/" HELPER, exe) >= size)
		return -ENAMETOOLONG;
	return access(buf, X_OK) < 0 ? -errno : 0;
}

int ctl_exec_image(int argc, char **argv)
{
	char path[PATH_MAX];
	char **args = calloc((size_t)argc + 2, sizeof(char *));

	if (!args || helper_path(path, sizeof(path)) < 0) {
		fprintf(stderr, "sandboxctl: %s not found next to sandboxctl\n", HELPER);
		return EXIT_SANDBOX;
	}
	args[0] = path;
	memcpy(args + 1, argv, (size_t)argc * sizeof(char *));
	execv(path, args);
	fprintf(stderr, "sandboxctl: exec %s: %s\n", path, strerror(errno));
	free(args);
	return EXIT_SANDBOX;
}

static char *read_all(int fd)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);
	ssize_t n;

	while (buf && (n = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap && cap < CAPTURE_MAX) {
			char *b = realloc(buf, cap * 2 + 1);

			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

int ctl_image_capture(char *const args[], char **ret_out)
{
	char path[PATH_MAX];
	int pfd[2], st;
	pid_t pid;

	*ret_out = NULL;
	if (helper_path(path, sizeof(path)) < 0 || pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execv(path, args);
		_exit(127);
	}
	close(pfd[1]);
	*ret_out = pid > 0 ? read_all(pfd[0]) : NULL;
	close(pfd[0]);
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
