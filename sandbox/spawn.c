/* SPDX-License-Identifier: MIT */
/*
 * spawn.c - sbx_run(): plan (parent) -> clone -> child steps -> exec -> supervise -> reap.
 *
 * Owns: the only clone of a job, and the security-relevant order of the child's steps, which
 * reads top to bottom in child_init() and job_exec(). Must not: allocate, format or call any
 * library that may allocate after clone; every string and buffer the child uses is prepared in
 * job_plan(). A child step that fails sends a fixed-size report and exits.
 *
 * Process tree of a job:  caller --clone(new ns)--> PID 1 "init" (ours: sets up the view, forks,
 * reaps) --fork--> PID 2 "job" (drops everything, execs the program). When the program exits,
 * init exits, and the kernel kills whatever is left in the pid namespace.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "context.h"
#include "io.h"
#include "rlimits.h"
#include "mount.h"
#include "ns.h"
#include "util.h"

enum report_kind { REPORT_FAIL = 1, REPORT_EXIT = 2 };

/* Child -> parent over a SOCK_SEQPACKET pair: one fixed-size datagram each. */
struct report {
	int kind;
	int step;
	int err;     /* positive errno (REPORT_FAIL) */
	int wstatus; /* the program's wait status (REPORT_EXIT) */
	char what[200];
};

enum kill_reason { KILL_NONE, KILL_CPU, KILL_WALL, KILL_OUTPUT, KILL_CANCEL };

struct job {
	struct sbx_context *ctx;
	const struct sbx_spec *spec;
	struct sbx_limits lim;
	struct mount_plan *mounts;
	struct limits_plan rlimits;
	struct io_plan io;
	struct cg_job cg;
	bool cg_made;
	int report[2]; /* [0] parent end, [1] child end */
	int report_fd; /* the child's end, as the child currently numbers it */
	uid_t uid;
	gid_t gid;
	const char *const *envp;
	const char *cwd;
	const char *path_env; /* PATH= of envp, for the program lookup */
	uint64_t *steps;      /* shared page: step timestamps written by the children */
	int pidfd;
	bool in_cgroup; /* cloned straight into the leaf (v2): no join needed */
	/* supervision */
	struct io_capture out, err;
	enum kill_reason killed;
	struct report fail, exit;
	int init_status;
	bool init_done;
	unsigned long long start_ns, end_ns;
	unsigned long long cpu_check_ns; /* when the CPU limit could next be reached */
	int epfd;			 /* every fd above that may wake the caller */
	struct sbx_result res;		 /* filled while the job runs, handed out at the end */
};

static void close_reset(int *fd)
{
	closep(fd);
	*fd = -1;
}

/* ---- child side: syscalls on prepared data only ------------------------------------------ */

static void mark(struct job *j, enum sbx_step s)
{
	j->steps[s] = sbx_now_ns();
}

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < size; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

static _Noreturn void child_fail(struct job *j, enum sbx_step step, const char *what, int r)
{
	struct report rep = { .kind = REPORT_FAIL, .step = step, .err = -r };

	copy_str(rep.what, sizeof(rep.what), what);
	send(j->report_fd, &rep, sizeof(rep), MSG_NOSIGNAL);
	_exit(step == SBX_STEP_EXEC ? 127 : 125);
}

#define CHILD_STEP(j, step, what, call)                                                            \
	do {                                                                                       \
		int _r = (call);                                                                   \
		if (_r < 0)                                                                        \
			child_fail((j), (step), (what), _r);                                       \
	} while (0)

static int sys_result(int r)
{
	return r < 0 ? -errno : r;
}

/* execvpe without the allocation or the environ dependency: search the job's own PATH. */
static int exec_program(struct job *j)
{
	const char *const *argv = j->spec->argv;
	const char *p = j->path_env;
	char buf[4096];
	int r = -ENOENT;

	if (strchr(argv[0], '/') || !p) {
		execve(argv[0], (char *const *)argv, (char *const *)j->envp);
		return -errno;
	}
	while (*p) {
		const char *e = strchrnul(p, ':');
		size_t dl = (size_t)(e - p), al = strlen(argv[0]);

		if (dl && dl + al + 2 <= sizeof(buf)) {
			memcpy(buf, p, dl);
			buf[dl] = '/';
			memcpy(buf + dl + 1, argv[0], al + 1);
			execve(buf, (char *const *)argv, (char *const *)j->envp);
			if (errno != ENOENT && errno != ENOTDIR)
				r = -errno; /* e.g. EACCES: remember it, keep looking */
		}
		p = *e ? e + 1 : e;
	}
	return r;
}

/* PID 2: the program. Order matters: each step needs privileges the next one removes. */
static _Noreturn void job_exec(struct job *j)
{
	const struct sbx_context *ctx = j->ctx;

	umask(022);
	CHILD_STEP(j, SBX_STEP_CREDS, "rlimits", limits_apply(&j->rlimits));
	CHILD_STEP(j, SBX_STEP_CREDS, "drop bounding set", caps_drop_bounding(&ctx->caps));
	CHILD_STEP(j, SBX_STEP_CREDS, "set uid/gid", caps_set_identity(j->uid, j->gid));
	CHILD_STEP(j, SBX_STEP_CREDS, "clear capabilities", caps_clear_all(&ctx->caps));
	CHILD_STEP(j, SBX_STEP_CREDS, "no_new_privs", caps_no_new_privs());
	/* A new session without a controlling terminal: no TIOCSTI into anyone's tty (T51). */
	CHILD_STEP(j, SBX_STEP_CREDS, "setsid", sys_result(setsid()));
	CHILD_STEP(j, SBX_STEP_EXEC, j->cwd, sys_result(chdir(j->cwd)));
	mark(j, SBX_STEP_CREDS);
	/* Last, so every step above could still use the syscalls the filter denies. */
	CHILD_STEP(j, SBX_STEP_EXEC, "seccomp", seccomp_install(&ctx->profile.seccomp));
	mark(j, SBX_STEP_EXEC);
	child_fail(j, SBX_STEP_EXEC, j->spec->argv[0], exec_program(j));
}

static int write_self(const char *file, const char *value)
{
	return sbx_write_file_at(AT_FDCWD, file, value);
}

/* PID 1 after the fork: keep nothing the job could abuse, then only reap. */
static _Noreturn void init_reap(struct job *j, pid_t main_pid)
{
	const struct sbx_context *ctx = j->ctx;
	struct report rep = { .kind = REPORT_EXIT };
	int st;

	/* Spared by the OOM killer's group kill, so it can always report the program's end. */
	write_self("/proc/self/oom_score_adj", "-1000");
	caps_drop_bounding(&ctx->caps);
	caps_clear_all(&ctx->caps);
	caps_no_new_privs();
	for (;;) {
		pid_t pid = waitpid(-1, &st, __WALL);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			_exit(125);
		if (pid == main_pid)
			break;
	}
	rep.wstatus = st;
	send(j->report_fd, &rep, sizeof(rep), MSG_NOSIGNAL);
	/* Our exit tears the pid namespace down: every process left in it is killed (T12). */
	_exit(0);
}

/*
 * A caller's blocked signals and ignored ones (a server ignores SIGPIPE) survive execve: the
 * job starts with every signal at its default and none blocked.
 */
static int reset_signals(void)
{
	/* The kernel's struct: glibc's sigaction() refuses its reserved signals (32, 33). */
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} dfl = { .handler = SIG_DFL };
	uint64_t none = 0;

	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP &&
		    syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask)) < 0)
			return -errno;
	return syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none)) < 0 ? -errno : 0;
}

static bool supervisor_gone(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = 0 };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR));
}

/* PID 1 of the job's namespaces: the whole ordered setup of the view. */
static _Noreturn void child_init(struct job *j)
{
	const char *what = NULL;
	int pid;

	j->report_fd = j->report[1];
	close(j->report[0]); /* the parent's end: its hang-up must reach us */
	CHILD_STEP(j, SBX_STEP_CGROUP, "reset signals", reset_signals());
	/* If the supervisor dies, so does the job. Non-dumpable: no ptrace, no /proc/1/mem. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_DUMPABLE, 0);
	/* Died before PDEATHSIG was armed? Then nobody would enforce the limits: stop here. */
	if (supervisor_gone(j->report[1]))
		_exit(125);
	if (!j->in_cgroup)
		CHILD_STEP(j, SBX_STEP_CGROUP, "join cgroup", cg_job_join(&j->cg));
	CHILD_STEP(j, SBX_STEP_CGROUP, "cgroup namespace", ns_enter_cgroup());
	mark(j, SBX_STEP_CGROUP);
	umask(0);
	/* Binds come from fds the parent opened and checked: keep them until the mounts are done. */
	CHILD_STEP(j, SBX_STEP_MOUNTS, what, mount_plan_apply(j->mounts, &what));
	mark(j, SBX_STEP_MOUNTS);
	CHILD_STEP(j, SBX_STEP_NET, "hostname", ns_set_hostname(j->ctx->profile.hostname));
	CHILD_STEP(j, SBX_STEP_NET, "loopback up", net_lo_up(&j->ctx->net));
	CHILD_STEP(j, SBX_STEP_NET, "stdio", io_child_setup(&j->io, j->report[1]));
	j->report_fd = 3;
	mark(j, SBX_STEP_NET);
	pid = ns_fork();
	if (pid == 0)
		job_exec(j);
	CHILD_STEP(j, SBX_STEP_FORK, "fork", pid);
	mark(j, SBX_STEP_FORK);
	init_reap(j, pid);
}

/* ---- parent: plan ------------------------------------------------------------------------ */

static int check_spec(const struct sbx_spec *spec, const struct sbx_profile *prof,
		      struct sbx_error *err)
{
	if (!spec->rootfs || !*spec->rootfs)
		return sbx_err_msg(err, EINVAL, "rootfs: missing");
	if (!spec->argv || !spec->argv[0] || !*spec->argv[0])
		return sbx_err_msg(err, EINVAL, "argv: no program given");
	if (spec->slot >= prof->slots)
		return sbx_err_msg(err, EINVAL, "slot %u: the profile has %u slots", spec->slot,
				   prof->slots);
	/* "/" is a fine working directory (images say so), though never a bind target. */
	if (spec->cwd && strcmp(spec->cwd, "/") &&
	    (!mount_path_is_clean(spec->cwd) || mount_path_is_reserved(spec->cwd)))
		return sbx_err_msg(err, EINVAL,
				   "cwd %s: must be a clean absolute path outside /proc and /dev",
				   spec->cwd);
	for (const char *const *e = spec->envp; e && *e; e++)
		if (!strchr(*e, '='))
			return sbx_err_msg(err, EINVAL, "env \"%s\": not NAME=VALUE", *e);
	return 0;
}

static const char *find_path(const char *const *envp)
{
	for (; envp && *envp; envp++)
		if (!strncmp(*envp, "PATH=", 5))
			return *envp + 5;
	return NULL;
}

static int plan_mounts(struct job *j, struct sbx_error *err)
{
	const struct sbx_profile *prof = &j->ctx->profile;
	struct mount_identity id = {
		.uid = j->uid, .gid = j->gid, .hostname = prof->hostname, .host = &j->ctx->host
	};
	int r;

	r = mount_plan_new(j->ctx->stage, &j->mounts, err);
	if (r >= 0)
		r = mount_plan_root(j->mounts, j->spec->rootfs, &id, err);
	if (r >= 0)
		r = mount_plan_tmp(j->mounts, &j->lim, err);
	if (r >= 0)
		r = mount_plan_dev(j->mounts, &j->lim, err);
	if (r >= 0)
		r = mount_plan_proc(j->mounts, err);
	if (r >= 0)
		r = mount_plan_binds(j->mounts, j->spec->binds, j->spec->n_binds, err);
	if (r >= 0)
		r = mount_plan_pivot(j->mounts, err);
	if (r >= 0)
		r = mount_plan_proc_paths(j->mounts, prof->masked_paths, prof->readonly_paths, err);
	if (r >= 0)
		r = mount_plan_seal(j->mounts, err);
	return r;
}

static int job_plan(struct job *j, struct sbx_error *err)
{
	const struct sbx_profile *prof = &j->ctx->profile;
	int r;

	r = check_spec(j->spec, prof, err);
	if (r >= 0)
		r = profile_resolve_limits(prof, &j->spec->limits, &j->lim, err);
	if (r < 0)
		return r;
	j->uid = prof->uid_base + j->spec->slot;
	j->gid = (gid_t)j->uid;
	j->envp = j->spec->envp ? j->spec->envp : (const char *const *)prof->env;
	j->path_env = find_path(j->envp);
	j->cwd = j->spec->cwd ? j->spec->cwd : "/tmp";
	limits_plan(&j->lim, &j->rlimits);
	r = plan_mounts(j, err);
	if (r >= 0)
		r = io_plan_prepare(&j->io, j->spec, err);
	if (r < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, j->report) < 0)
		return sbx_err(err, errno, "socketpair");
	j->steps = mmap(NULL, sizeof(uint64_t) * _SBX_STEP_MAX, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (j->steps == MAP_FAILED) {
		j->steps = NULL;
		return sbx_err(err, errno, "mmap");
	}
	r = cg_job_create(&j->ctx->cg, &j->lim, &j->cg, err);
	j->cg_made = r >= 0;
	return r;
}

/* ---- parent: supervise ------------------------------------------------------------------- */

static void job_kill(struct job *j, enum kill_reason why)
{
	if (j->killed == KILL_NONE)
		j->killed = why;
	syscall(SYS_pidfd_send_signal, j->pidfd, SIGKILL, NULL, 0);
	j->ctx->cg.ops->kill(&j->cg, NULL);
}

static void read_reports(struct job *j)
{
	struct report rep;
	ssize_t n;

	while ((n = recv(j->report[0], &rep, sizeof(rep), MSG_DONTWAIT)) == sizeof(rep)) {
		rep.what[sizeof(rep.what) - 1] = '\0';
		if (rep.kind == REPORT_FAIL && !j->fail.kind)
			j->fail = rep;
		else if (rep.kind == REPORT_EXIT) {
			j->exit = rep;
			j->end_ns = sbx_now_ns();
		}
	}
}

static void reap_init(struct job *j)
{
	siginfo_t si = { 0 };

	if (waitid(P_PIDFD, (id_t)j->pidfd, &si, WEXITED) < 0)
		return;
	j->init_done = true;
	j->init_status = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
	if (!j->end_ns)
		j->end_ns = sbx_now_ns();
	j->steps[SBX_STEP_EXITED] = j->end_ns;
}

static void drain(struct job *j, struct io_capture *c, int fd)
{
	if (io_drain(c, fd, j->spec->on_output, j->spec->userdata) != 0)
		job_kill(j, KILL_OUTPUT); /* over the cap (T07), or an error reading */
}

/*
 * Read the cgroup's CPU time only when the limit could have been reached: it cannot grow faster
 * than the CPUs the job may use. Output wake-ups in between cost no file read. Returns the next
 * check time (ns).
 */
static unsigned long long check_cpu(struct job *j, unsigned long long now)
{
	uint64_t used = 0, cpus = (j->lim.cpus_milli + 999) / 1000, left_ms;

	j->ctx->cg.ops->cpu_usec(&j->cg, &used, NULL);
	if (used / 1000 >= j->lim.cpu_ms) {
		job_kill(j, KILL_CPU);
		return now;
	}
	if (cpus > j->ctx->online_cpus)
		cpus = j->ctx->online_cpus;
	left_ms = (j->lim.cpu_ms - used / 1000) / (cpus ? cpus : 1);
	return now + (left_ms < 5 ? 5 : left_ms) * 1000000ULL;
}

/* How long poll may sleep before the next limit check, in ms. */
static int next_check_ms(struct job *j, unsigned long long now)
{
	unsigned long long wall_end = j->start_ns + j->lim.wall_ms * 1000000ULL, next;

	if (j->killed)
		return 100;
	if (now >= wall_end) {
		job_kill(j, KILL_WALL);
		return 100;
	}
	if (now >= j->cpu_check_ns)
		j->cpu_check_ns = check_cpu(j, now);
	if (j->killed)
		return 100;
	next = j->cpu_check_ns < wall_end ? j->cpu_check_ns : wall_end;
	return (int)((next - now) / 1000000ULL > 1000 ? 1000 : (next - now) / 1000000ULL + 1);
}

/* Why an event set entry woke us up: the tag stored in its epoll data. */
enum job_event { EV_PIDFD, EV_REPORT, EV_OUT, EV_ERR, EV_CANCEL };

static void watch(struct job *j, int fd, enum job_event tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	if (fd >= 0)
		epoll_ctl(j->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void unwatch(struct job *j, int fd)
{
	if (fd >= 0)
		epoll_ctl(j->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void handle_event(struct job *j, const struct epoll_event *ev)
{
	switch (ev->data.u32) {
	case EV_REPORT:
		read_reports(j);
		if (ev->events & (EPOLLHUP | EPOLLERR)) {
			unwatch(j, j->report[0]);
			close_reset(&j->report[0]);
		}
		break;
	case EV_OUT:
		drain(j, &j->out, j->io.out_r);
		if (j->out.eof)
			unwatch(j, j->io.out_r);
		break;
	case EV_ERR:
		drain(j, &j->err, j->io.err_r);
		if (j->err.eof)
			unwatch(j, j->io.err_r);
		break;
	case EV_PIDFD:
		reap_init(j);
		if (j->init_done)
			unwatch(j, j->pidfd);
		break;
	case EV_CANCEL:
		job_kill(j, KILL_CANCEL);
		unwatch(j, j->spec->cancel_fd);
		break;
	}
}

static bool job_ended(const struct job *j)
{
	return j->init_done && j->out.eof && j->err.eof;
}

/* ---- parent: verdict --------------------------------------------------------------------- */

static const char *const step_names[_SBX_STEP_MAX] = {
	[SBX_STEP_PLAN] = "plan",	  [SBX_STEP_CLONE] = "clone", [SBX_STEP_CGROUP] = "cgroup",
	[SBX_STEP_MOUNTS] = "mount",	  [SBX_STEP_NET] = "network", [SBX_STEP_FORK] = "fork",
	[SBX_STEP_CREDS] = "credentials", [SBX_STEP_EXEC] = "exec",   [SBX_STEP_EXITED] = "exit",
	[SBX_STEP_TEARDOWN] = "teardown",
};

static void set_status(struct sbx_result *res, enum sbx_status s, enum sbx_limit l)
{
	res->status = s;
	res->limit = l;
}

static void verdict_program(struct job *j, struct sbx_result *res)
{
	int st = j->exit.wstatus;

	if (WIFEXITED(st)) {
		res->exit_code = WEXITSTATUS(st);
		set_status(res, res->exit_code ? SBX_STATUS_RUNTIME_ERROR : SBX_STATUS_OK,
			   SBX_LIMIT_NONE);
	} else if (WIFSIGNALED(st)) {
		res->signal = WTERMSIG(st);
		/* RLIMIT_CPU is only the backstop of the CPU limit: its signal is a timeout. */
		if (res->signal == SIGXCPU)
			set_status(res, SBX_STATUS_TIMEOUT, SBX_LIMIT_CPU);
		else
			set_status(res, SBX_STATUS_SIGNALED, SBX_LIMIT_NONE);
	}
}

static void verdict(struct job *j, const struct cg_stats *st, struct sbx_result *res)
{
	static const enum sbx_limit kill_limits[] = {
		[KILL_CPU] = SBX_LIMIT_CPU,
		[KILL_WALL] = SBX_LIMIT_WALL,
		[KILL_OUTPUT] = SBX_LIMIT_OUTPUT,
	};

	if (j->exit.kind)
		verdict_program(j, res);
	else if (j->killed || st->oom_kills)
		res->signal = SIGKILL; /* the whole namespace went down with init */
	if (j->fail.kind && j->fail.step == SBX_STEP_EXEC &&
	    (!strcmp(j->fail.what, j->spec->argv[0]) || !strcmp(j->fail.what, j->cwd))) {
		/* No such program or cwd: the request's fault (exit 127), as a shell reports it. */
		snprintf(res->message, sizeof(res->message), "%s %s: %s",
			 strcmp(j->fail.what, j->cwd) ? "execve" : "cwd", j->fail.what,
			 strerror(j->fail.err));
	} else if (j->fail.kind) {
		set_status(res, SBX_STATUS_INTERNAL_ERROR, SBX_LIMIT_NONE);
		snprintf(res->message, sizeof(res->message), "sandbox setup failed at %s: %s: %s",
			 step_names[j->fail.step], j->fail.what, strerror(j->fail.err));
	} else if (j->killed == KILL_CANCEL) {
		/* Neither the program's fault nor a limit: the caller gave up on the job. */
		set_status(res, SBX_STATUS_INTERNAL_ERROR, SBX_LIMIT_NONE);
		snprintf(res->message, sizeof(res->message), "cancelled by the caller");
	} else if (st->oom_kills) {
		set_status(res, SBX_STATUS_MEMORY_LIMIT, SBX_LIMIT_MEMORY);
	} else if (j->killed) {
		set_status(res,
			   j->killed == KILL_OUTPUT ? SBX_STATUS_OUTPUT_LIMIT : SBX_STATUS_TIMEOUT,
			   kill_limits[j->killed]);
	} else if (!j->exit.kind) {
		set_status(res, SBX_STATUS_INTERNAL_ERROR, SBX_LIMIT_NONE);
		snprintf(res->message, sizeof(res->message),
			 "the job's init ended without a report (status %d)", j->init_status);
	}
}

static void collect(struct job *j, struct sbx_result *res)
{
	struct cg_stats st = { 0 };
	struct sbx_error e = { 0 };

	if (j->ctx->cg.ops->stats(&j->cg, &st, &e) < 0 && !j->fail.kind) {
		set_status(res, SBX_STATUS_INTERNAL_ERROR, SBX_LIMIT_NONE);
		snprintf(res->message, sizeof(res->message), "cgroup stats: %.230s", e.msg);
		return;
	}
	res->time_ms = st.cpu_usec / 1000;
	res->memory_kb = st.mem_peak / 1024;
	res->wall_ms = (j->end_ns - j->start_ns) / 1000000ULL;
	verdict(j, &st, res);
}

/* ---- sbx_run ----------------------------------------------------------------------------- */

/* Idempotent: sbx_run calls it before returning, and the cleanup attribute calls it again. */
static void job_done(struct job *j)
{
	struct sbx_error e;

	if (j->cg_made)
		j->ctx->cg.ops->destroy(&j->cg, &e);
	j->cg_made = false;
	mount_plan_free(j->mounts);
	j->mounts = NULL;
	io_plan_close(&j->io);
	close_reset(&j->report[0]);
	close_reset(&j->report[1]);
	close_reset(&j->pidfd);
	if (j->steps)
		munmap(j->steps, sizeof(uint64_t) * _SBX_STEP_MAX);
	j->steps = NULL;
}

static int job_start(struct job *j, struct sbx_result *res, struct sbx_error *err)
{
	int pid;

	j->start_ns = sbx_now_ns();
	pid = ns_clone(NS_CLONE_FLAGS, cg_job_clone_fd(&j->cg), &j->pidfd, &j->in_cgroup);
	if (pid == 0)
		child_init(j);
	if (pid < 0)
		return sbx_err(err, -pid, "clone");
	mark(j, SBX_STEP_CLONE);
	close_reset(&j->report[1]);
	if (io_plan_parent(&j->io) < 0) {
		job_kill(j, KILL_NONE);
		return sbx_err(err, errno, "pipes");
	}
	j->out = (struct io_capture){ .dst = &res->out,
				      .stream = SBX_STDOUT,
				      .cap = j->lim.output_bytes };
	j->err = (struct io_capture){ .dst = &res->err,
				      .stream = SBX_STDERR,
				      .cap = j->lim.output_bytes };
	return 0;
}

/* ---- the job API: start, poll, finish; sbx_run is the three in a loop ---------------------- */

static void job_free(struct job *j)
{
	if (!j)
		return;
	job_done(j);
	close_reset(&j->epfd);
	sbx_result_free(&j->res);
	free(j);
}

static void job_freep(struct job **j)
{
	job_free(*j);
}

static int job_watch_all(struct job *j, struct sbx_error *err)
{
	j->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (j->epfd < 0)
		return sbx_err(err, errno, "epoll_create1");
	watch(j, j->pidfd, EV_PIDFD);
	watch(j, j->report[0], EV_REPORT);
	watch(j, j->io.out_r, EV_OUT);
	watch(j, j->io.err_r, EV_ERR);
	if (j->spec->cancel_fd > 0)
		watch(j, j->spec->cancel_fd, EV_CANCEL);
	return 0;
}

int sbx_job_start(struct sbx_context *ctx, const struct sbx_spec *spec, struct sbx_job **ret,
		  struct sbx_error *err)
{
	_cleanup_(job_freep) struct job *j = calloc(1, sizeof(*j));
	unsigned long long t0 = sbx_now_ns();
	int r;

	if (!j)
		return sbx_err(err, ENOMEM, "job");
	*j = (struct job){
		.ctx = ctx, .spec = spec, .report = { -1, -1 }, .pidfd = -1, .epfd = -1
	};
	j->res.exit_code = -1;
	io_plan_init(&j->io);
	r = job_plan(j, err);
	if (r < 0)
		return r;
	j->steps[SBX_STEP_PLAN] = t0;
	r = job_start(j, &j->res, err);
	if (r >= 0)
		r = job_watch_all(j, err);
	if (r < 0)
		return r;
	*ret = (struct sbx_job *)TAKE_PTR(j);
	return 0;
}

int sbx_job_fd(const struct sbx_job *job)
{
	return ((const struct job *)job)->epfd;
}

bool sbx_job_poll(struct sbx_job *job, int *ret_timeout_ms)
{
	struct job *j = (struct job *)job;
	struct epoll_event ev[8];
	int n;

	do {
		n = epoll_wait(j->epfd, ev, ELEMENTSOF(ev), 0);
		for (int i = 0; i < n; i++)
			handle_event(j, &ev[i]);
	} while (n == ELEMENTSOF(ev));
	if (job_ended(j))
		return true;
	*ret_timeout_ms = next_check_ms(j, sbx_now_ns());
	return false;
}

void sbx_job_cancel(struct sbx_job *job)
{
	job_kill((struct job *)job, KILL_CANCEL);
}

void sbx_job_finish(struct sbx_job *job, struct sbx_result *ret)
{
	struct job *j = (struct job *)job;

	if (!job_ended(j)) {
		/* Given up early: kill, then wait for init so nothing of the job outlives this. */
		job_kill(j, KILL_CANCEL);
		reap_init(j); /* blocks: init dies with the SIGKILL just sent */
	}
	if (j->report[0] >= 0)
		read_reports(j);
	collect(j, &j->res);
	memcpy(j->res.step_ns, j->steps, sizeof(j->res.step_ns));
	job_done(j);
	j->res.step_ns[SBX_STEP_TEARDOWN] = sbx_now_ns();
	*ret = j->res;
	j->res = (struct sbx_result){ 0 };
	job_free(j);
}

int sbx_run(struct sbx_context *ctx, const struct sbx_spec *spec, struct sbx_result *res,
	    struct sbx_error *err)
{
	struct sbx_job *job;
	int timeout, r;

	memset(res, 0, sizeof(*res));
	r = sbx_job_start(ctx, spec, &job, err);
	if (r < 0)
		return r;
	while (!sbx_job_poll(job, &timeout)) {
		struct pollfd pfd = { .fd = sbx_job_fd(job), .events = POLLIN };

		poll(&pfd, 1, timeout);
	}
	sbx_job_finish(job, res);
	return 0;
}
