/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl_check.c - `sandboxctl check`: every kernel feature the jail uses, probed on this
 * host, with what to do when one is missing; exit 0 only when a job can actually run.
 *
 * Owns: the feature table. Must not: change anything on the host except creating and removing
 * our own parent cgroup (through libsandbox) and one test job.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandboxctl.h"

struct check_row {
	const char *feature;
	bool ok;
	bool required;
	char detail[160];
};

/* Can a child of ours create this namespace? (fork + unshare: nothing changes for us.) */
static bool try_unshare(int flag)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(unshare(flag) == 0 ? 0 : 1);
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static const struct {
	const char *name;
	int flag;
} namespaces[] = {
	{ "mount namespace", CLONE_NEWNS },    { "pid namespace", CLONE_NEWPID },
	{ "network namespace", CLONE_NEWNET }, { "ipc namespace", CLONE_NEWIPC },
	{ "uts namespace", CLONE_NEWUTS },     { "cgroup namespace", CLONE_NEWCGROUP },
};

static void row(struct check_row *r, const char *feature, bool ok, bool required, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));
static void row(struct check_row *r, const char *feature, bool ok, bool required, const char *fmt,
		...)
{
	va_list ap;

	r->feature = feature;
	r->ok = ok;
	r->required = required;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

static bool seccomp_filter_available(void)
{
	char buf[256] = "";
	int fd = open("/proc/sys/kernel/seccomp/actions_avail", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n > 0)
		buf[n] = '\0';
	return prctl(PR_GET_SECCOMP) >= 0 && strstr(buf, "kill_process") && strstr(buf, "errno");
}

static bool user_namespaces(void)
{
	char buf[32] = "";
	int fd = open("/proc/sys/user/max_user_namespaces", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	return n > 0 && atoi(buf) > 0;
}

static int check_kernel(struct check_row *rows)
{
	int n = 0;
	int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);

	for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++) {
		bool ok = try_unshare(namespaces[i].flag);

		row(&rows[n++], namespaces[i].name, ok, true, "%s",
		    ok ? ""
		       : "kernel built without it, or blocked: run as root on a kernel with namespaces");
	}
	row(&rows[n++], "pidfd", pidfd >= 0, true, "%s",
	    pidfd >= 0 ? "" : "needs Linux >= 5.3 (pidfd_open)");
	if (pidfd >= 0)
		close(pidfd);
	row(&rows[n++], "seccomp filter", seccomp_filter_available(), true, "%s",
	    seccomp_filter_available() ? "" : "kernel needs CONFIG_SECCOMP_FILTER");
	row(&rows[n++], "user namespaces", user_namespaces(), false, "%s",
	    user_namespaces() ? "available (not used: jobs run as a non-root uid without one)"
			      : "not available (optional)");
	return n;
}

static int check_jail(struct check_row *rows, int n)
{
	static const char *const argv[] = { "/bin/true", NULL };
	struct sbx_spec spec = { .rootfs = "host", .argv = argv };
	struct sbx_context *ctx = NULL;
	struct sbx_error err = { 0 };
	struct sbx_result res;
	char desc[sizeof(rows->detail)];

	if (sbx_context_new(NULL, &ctx, &err) < 0) {
		row(&rows[n++], "cgroup + profile", false, true, "%s", err.msg);
		return n;
	}
	sbx_context_describe_cgroup(ctx, desc, sizeof(desc));
	row(&rows[n++], "cgroup", true, true, "%s", desc);
	if (sbx_run(ctx, &spec, &res, &err) < 0) {
		row(&rows[n++], "pivot_root + job", false, true, "%s", err.msg);
	} else {
		bool ok = res.status == SBX_STATUS_OK;

		row(&rows[n++], "pivot_root + job", ok, true, "%s",
		    ok ? "/bin/true ran in the full jail" : res.message);
		sbx_result_free(&res);
	}
	sbx_context_free(ctx);
	return n;
}

/* The image store (asked of sandboxctl-image): not needed for host-rootfs jobs, never required. */
static int check_store(struct check_row *rows, int n, const char *dir)
{
	char *args[] = { "sandboxctl-image", "images", "--state-dir", (char *)dir, NULL };
	char *out = NULL;
	int lines = 0, rc = ctl_image_capture(args, &out);

	for (const char *p = out; p && (p = strchr(p, '\n')); p++)
		lines++;
	free(out);
	if (rc != 0)
		row(&rows[n++], "image store", false, false,
		    "%s: not usable (sandboxctl images --state-dir %s)", dir, dir);
	else
		row(&rows[n++], "image store", true, false, "%s (%d image%s)", dir, lines - 1,
		    lines == 2 ? "" : "s");
	return n;
}

int ctl_cmd_check(int argc, char **argv)
{
	struct check_row rows[16];
	bool runnable = true;
	int n;

	const char *state_dir = "/var/lib/sandboxd";

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		puts("usage: sandboxctl check [--state-dir DIR]\n"
		     "Probe the kernel features the jail uses; exit 0 when a job can run.");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--state-dir"))
		state_dir = argv[2];
	else if (argc > 1)
		return ctl_usage_error("check: unexpected argument '%s'", argv[1]);
	if (geteuid() != 0)
		return ctl_usage_error("check: must run as root (namespaces, cgroups, mounts)");
	n = check_kernel(rows);
	n = check_jail(rows, n);
	n = check_store(rows, n, state_dir);
	printf("%-20s %-8s %s\n", "FEATURE", "STATUS", "DETAIL");
	for (int i = 0; i < n; i++) {
		printf("%-20s %-8s %s\n", rows[i].feature,
		       rows[i].ok ? "ok" : (rows[i].required ? "missing" : "absent"),
		       rows[i].detail);
		if (rows[i].required && !rows[i].ok)
			runnable = false;
	}
	printf("\n%s\n",
	       runnable ? "A job can run on this host." : "A job cannot run on this host.");
	return runnable ? 0 : 1;
}
