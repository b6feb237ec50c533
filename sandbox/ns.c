/* SPDX-License-Identifier: MIT */
/*
 * ns.c - the clone of a job, and the child's namespace steps that are not mounts.
 *
 * Owns: clone3/clone (two kernel APIs, one function), the raw fork used by the job's PID 1.
 * Must not: allocate or call libc wrappers that run fork handlers: the caller may be a
 * multi-threaded process, and the child runs on a copy of its memory.
 */
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ns.h"
#include "util.h"

static int clone3_fork(unsigned long flags, int cgroup_fd, int *ret_pidfd)
{
	struct clone_args args;

	memset(&args, 0, sizeof(args));
	args.flags = flags | CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
	args.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0;
	args.pidfd = (uint64_t)(uintptr_t)ret_pidfd;
	args.exit_signal = SIGCHLD;
	return (int)syscall(SYS_clone3, &args, sizeof(args));
}

static int clone_fork(unsigned long flags, int *ret_pidfd)
{
	/* x86_64 order: flags, stack, parent_tid (receives the pidfd), child_tid, tls. */
	return (int)syscall(SYS_clone, flags | CLONE_PIDFD | SIGCHLD, NULL, ret_pidfd, NULL, 0);
}

int ns_clone(unsigned long flags, int cgroup_fd, int *ret_pidfd, bool *ret_in_cgroup)
{
	int pid = clone3_fork(flags, cgroup_fd, ret_pidfd);

	*ret_in_cgroup = pid >= 0 && cgroup_fd >= 0;
	if (pid < 0 && (errno == ENOSYS || errno == E2BIG))
		pid = clone_fork(flags, ret_pidfd);
	return pid < 0 ? -errno : pid;
}

int ns_fork(void)
{
	int pid = (int)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0);

	return pid < 0 ? -errno : pid;
}

int ns_enter_cgroup(void)
{
	return unshare(CLONE_NEWCGROUP) < 0 ? -errno : 0;
}

int ns_set_hostname(const char *name)
{
	return sethostname(name, strlen(name)) < 0 ? -errno : 0;
}
