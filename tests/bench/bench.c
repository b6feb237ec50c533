/* SPDX-License-Identifier: MIT */
/*
 * bench.c - `make bench`: what one job costs through sandboxd against the same program run
 * natively, as paired runs (A, B, A, B ...) in one process so that drift (frequency scaling,
 * page cache, a noisy neighbour) hits both sides of a ratio equally.
 *
 *   1. /bin/true:            posix_spawn natively  vs  posix_spawn of `sandboxctl run --`
 *   2. python3 -c print(1):  the same pair
 *   3. /bin/true via sbx_run() on one long-lived context (what the service pays per job) vs
 *      native, the sequential throughput, and the cost of each setup step (median, mean)
 *   4. sbx_context_new + sbx_context_free (the one-time cost the CLI pays on every run)
 *
 * Owns: measuring and printing. Must not: assert. A target missed is printed "NOT MET" and the
 * exit status stays 0; only a job that fails to run (or fails inside) makes it 1.
 *
 * Usage: bench [SANDBOXCTL]   (default build/sandboxctl; run from the repository root)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#define WARMUP	     5
#define TRUE_PAIRS   200
#define PY_PAIRS     40
#define LIB_PAIRS    200
#define CTX_RUNS     20
#define THROUGHPUT_S 2
#define MAX_SAMPLES  (WARMUP + TRUE_PAIRS)
#define PYTHON	     "/usr/bin/python3"
#define NOT_REACHED  INT64_MIN
/*
 * Our own parent cgroup: a service or test run sharing "sandboxd" on this host must neither
 * slow us down nor keep our parent alive, and our leftovers (if any) are recognisable.
 */
#define CG_PARENT "sandboxd-bench"

struct target {
	const char *what;
	double max_ratio; /* 0: a throughput target instead */
	double min_per_s;
};

static const struct target target_true = { "/bin/true <= 2.5x", 2.5, 0 };
static const struct target target_py = { "python <= 1.10x", 1.10, 0 };
static const struct target target_rate = { ">= 500 jobs/s", 0, 500 };

/* One side of a pair: runs the job once and returns its latency in ns, or -1 on a failure. */
struct contender {
	const char *label;
	int64_t (*run)(struct contender *c);
	const char *const *argv;
	const char *const *envp;
	struct sbx_context *ctx;
	struct sbx_spec spec;
	size_t n;
	int64_t ns[MAX_SAMPLES];
	int64_t step_ns[_SBX_STEP_MAX][MAX_SAMPLES]; /* sbx_run only: each step's own cost */
};

static int devnull = -1;
static volatile sig_atomic_t interrupted;

/* Ctrl-C ends the bench between two jobs, never inside sbx_run: no job cgroup is left behind. */
static void on_signal(int sig)
{
	interrupted = sig;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * stdin, stdout, stderr -> /dev/null: the terminal's speed must not be part of a job. Its own
 * process group: Ctrl-C reaches only us, and we stop between jobs (a sandboxctl killed mid-job
 * would leave its cgroups behind).
 */
static int spawn_and_wait(const char *const *argv, const char *const *envp, int err_fd,
			  int *ret_status)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	pid_t pid;
	int r;

	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, devnull, 1);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	r = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, (char *const *)envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r)
		return -r;
	while (waitpid(pid, ret_status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static void print_argv(const char *const *argv)
{
	for (; *argv; argv++)
		fprintf(stderr, " %s", *argv);
}

/* A failed job ran with stderr on /dev/null: run it again with ours so the reason shows. */
static void explain_failure(struct contender *c, int r, int status)
{
	fprintf(stderr, "bench: %s failed (", c->label);
	if (r < 0)
		fprintf(stderr, "spawn: %s", strerror(-r));
	else
		fprintf(stderr, "wait status 0x%x", status);
	fprintf(stderr, "):");
	print_argv(c->argv);
	fprintf(stderr, "\nbench: once more with stderr shown:\n");
	spawn_and_wait(c->argv, c->envp, STDERR_FILENO, &status);
}

static int64_t run_process(struct contender *c)
{
	int64_t t0 = now_ns(), t1;
	int status = 0, r;

	r = spawn_and_wait(c->argv, c->envp, devnull, &status);
	t1 = now_ns();
	if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		explain_failure(c, r, status);
		return -1;
	}
	return t1 - t0;
}

/* From the start of sbx_run, each step's cost is the time since the previous step reached. */
static void record_steps(struct contender *c, const struct sbx_result *res)
{
	uint64_t prev = res->step_ns[SBX_STEP_PLAN];

	for (int s = SBX_STEP_PLAN + 1; s < _SBX_STEP_MAX; s++) {
		c->step_ns[s][c->n] = NOT_REACHED;
		if (!res->step_ns[s])
			continue;
		/* Signed: pid 1 marks "fork" while the job races ahead to "credentials". */
		c->step_ns[s][c->n] = (int64_t)(res->step_ns[s] - prev);
		prev = res->step_ns[s];
	}
	c->step_ns[SBX_STEP_PLAN][c->n] = (int64_t)(prev - res->step_ns[SBX_STEP_PLAN]);
}

static int64_t run_library(struct contender *c)
{
	struct sbx_result res;
	struct sbx_error err = { 0 };
	int64_t t0 = now_ns(), t1;
	int r;

	r = sbx_run(c->ctx, &c->spec, &res, &err);
	t1 = now_ns();
	if (r < 0) {
		fprintf(stderr, "bench: sbx_run: %s\n", err.msg[0] ? err.msg : strerror(-r));
		return -1;
	}
	if (res.status != SBX_STATUS_OK) {
		fprintf(stderr, "bench: sbx_run /bin/true: status %s exit_code %d %s\n",
			sbx_status_name(res.status), res.exit_code, res.message);
		sbx_result_free(&res);
		return -1;
	}
	record_steps(c, &res);
	sbx_result_free(&res);
	return t1 - t0;
}

static int run_once(struct contender *c)
{
	int64_t ns;

	if (interrupted) {
		fprintf(stderr, "bench: interrupted by signal %d\n", (int)interrupted);
		return -1;
	}
	ns = c->run(c);
	if (ns < 0)
		return -1;
	c->ns[c->n++] = ns;
	return 0;
}

/* A, B, A, B ...: the first WARMUP pairs fill the page cache and are not counted. */
static int run_pairs(struct contender *a, struct contender *b, size_t pairs)
{
	a->n = b->n = 0;
	for (size_t i = 0; i < WARMUP + pairs; i++)
		if (run_once(a) < 0 || run_once(b) < 0)
			return -1;
	return 0;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return (a > b) - (a < b);
}

/* The q-quantile (nearest rank) of the samples after the warm-up; skips steps not reached. */
static double quantile_us(const int64_t *ns, size_t n, double q)
{
	int64_t sorted[MAX_SAMPLES];
	size_t m = 0;

	for (size_t i = WARMUP; i < n; i++)
		if (ns[i] != NOT_REACHED)
			sorted[m++] = ns[i];
	if (!m)
		return 0;
	qsort(sorted, m, sizeof(sorted[0]), cmp_i64);
	return sorted[(size_t)(q * (m - 1) + 0.5)] / 1000.0;
}

/* The mean adds up across steps (the medians need not): mean total = sum of step means. */
static double mean_us(const int64_t *ns, size_t n)
{
	double sum = 0;
	size_t m = 0;

	for (size_t i = WARMUP; i < n; i++) {
		if (ns[i] == NOT_REACHED)
			continue;
		sum += ns[i];
		m++;
	}
	return m ? sum / m / 1000.0 : 0;
}

static double median_us(const struct contender *c)
{
	return quantile_us(c->ns, c->n, 0.5);
}

static const char *verdict(bool met)
{
	return met ? "met" : "NOT MET";
}

static void print_row(const struct contender *c)
{
	printf("  %-34s %10.1f %10.1f\n", c->label, median_us(c), quantile_us(c->ns, c->n, 0.9));
}

static void print_pair(const struct contender *native, const struct contender *jailed,
		       const struct target *t)
{
	double ratio = median_us(jailed) / median_us(native);

	print_row(native);
	print_row(jailed);
	printf("  %-34s %10.2fx %-18s %s\n", "ratio of medians", ratio, t->what,
	       verdict(ratio <= t->max_ratio));
}

static void print_header(const char *title, size_t pairs)
{
	printf("\n%s (%zu pairs after %d warm-up)\n", title, pairs, WARMUP);
	printf("  %-34s %10s %10s\n", "", "median us", "p90 us");
}

static int bench_pair(const char *title, struct contender *native, struct contender *jailed,
		      size_t pairs, const struct target *t)
{
	if (run_pairs(native, jailed, pairs) < 0)
		return -1;
	print_header(title, pairs);
	print_pair(native, jailed, t);
	fflush(stdout);
	return 0;
}

/* What each step costs; the labels are sandboxctl --timings' (end of the step: enum sbx_step). */
static const struct {
	const char *label;
	const char *what;
} steps[_SBX_STEP_MAX] = {
	[SBX_STEP_PLAN] = { "total", "start of sbx_run to result complete" },
	[SBX_STEP_CLONE] = { "plan+clone", "validate, mount plan, job cgroup, pipes, clone" },
	[SBX_STEP_CGROUP] = { "cgroup+stdio", "child: join job cgroup, cgroupns, stdio" },
	[SBX_STEP_MOUNTS] = { "mounts+pivot", "root, /tmp, /dev, /proc, binds, pivot, masks" },
	[SBX_STEP_NET] = { "hostname+lo", "child: hostname, loopback up" },
	[SBX_STEP_FORK] = { "fork", "pid 1 forks the job process" },
	[SBX_STEP_CREDS] = { "credentials", "rlimits, uid/gid, caps, no_new_privs, setsid" },
	[SBX_STEP_EXEC] = { "seccomp", "install the filter" },
	[SBX_STEP_EXITED] = { "program", "execve, the program, its exit seen by the parent" },
	[SBX_STEP_TEARDOWN] = { "teardown", "cgroup stats and removal, result" },
};

static void print_step(const struct contender *c, int s)
{
	printf("  %-14s %10.1f %10.1f  %s\n", steps[s].label, quantile_us(c->step_ns[s], c->n, 0.5),
	       mean_us(c->step_ns[s], c->n), steps[s].what);
}

static void print_steps(const struct contender *c)
{
	printf("\n  per-step cost of sbx_run(/bin/true) over %zu runs:\n", c->n - WARMUP);
	printf("  %-14s %10s %10s  %s\n", "step", "median us", "mean us", "covers");
	for (int s = SBX_STEP_PLAN + 1; s < _SBX_STEP_MAX; s++)
		print_step(c, s);
	print_step(c, SBX_STEP_PLAN);
}

/* Back to back for THROUGHPUT_S seconds, as a single-threaded supervisor would run them. */
static int bench_throughput(struct contender *lib)
{
	int64_t start = now_ns(), end = start + THROUGHPUT_S * 1000000000LL, t;
	size_t jobs = 0;
	double per_s;

	do {
		lib->n = WARMUP; /* overwrite one sample slot: only the count matters here */
		if (run_once(lib) < 0)
			return -1;
		jobs++;
		t = now_ns();
	} while (t < end);
	per_s = jobs / ((t - start) / 1e9);
	printf("  %-34s %10.0f %-18s %s\n", "sequential throughput, jobs/s", per_s,
	       target_rate.what, verdict(per_s >= target_rate.min_per_s));
	return 0;
}

static int bench_library(struct contender *native, struct contender *lib)
{
	if (run_pairs(native, lib, LIB_PAIRS) < 0)
		return -1;
	print_header("3. /bin/true via sbx_run() on one context (the service's per-job cost)",
		     LIB_PAIRS);
	print_pair(native, lib, &target_true);
	print_steps(lib);
	/* The step table needs the paired samples: measure throughput after printing it. */
	printf("\n");
	return bench_throughput(lib);
}

static int context_new(struct sbx_context **ret)
{
	const struct sbx_config cfg = { .cgroup_parent = CG_PARENT };
	struct sbx_error err = { 0 };
	int r;

	r = sbx_context_new(&cfg, ret, &err);
	if (r < 0)
		fprintf(stderr, "bench: sbx_context_new: %s\n",
			err.msg[0] ? err.msg : strerror(-r));
	return r;
}

/* Runs while no other context holds our parent cgroup: it is created and removed each time. */
static int bench_context(void)
{
	int64_t ns[WARMUP + CTX_RUNS], t0;
	struct sbx_context *ctx;

	for (size_t i = 0; i < WARMUP + CTX_RUNS; i++) {
		t0 = now_ns();
		if (context_new(&ctx) < 0)
			return -1;
		sbx_context_free(ctx);
		ns[i] = now_ns() - t0;
	}
	printf("\n4. one-time cost (%d runs after %d warm-up)\n", CTX_RUNS, WARMUP);
	printf("  %-34s %10.1f us median, %.1f us p90\n", "sbx_context_new + sbx_context_free",
	       quantile_us(ns, WARMUP + CTX_RUNS, 0.5), quantile_us(ns, WARMUP + CTX_RUNS, 0.9));
	return 0;
}

/*
 * The contenders. The native runs get the profile's environment, the one the jailed program
 * sees, so that both sides start the same program the same way.
 */
static const char *const env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp",
	"LANG=C.UTF-8", NULL
};
static const char *const true_argv[] = { "/bin/true", NULL };
static const char *const py_argv[] = { PYTHON, "-c", "print(1)", NULL };
static const char *cli_true_argv[] = { NULL,	    "run", "--cgroup-parent", CG_PARENT, "--",
				       "/bin/true", NULL };
static const char *cli_py_argv[] = { NULL,   "run", "--cgroup-parent", CG_PARENT, "--",
				     PYTHON, "-c",  "print(1)",	       NULL };

#define PROCESS(l, a)                                                                              \
	{                                                                                          \
		.label = (l), .run = run_process, .argv = (a), .envp = env                         \
	}

static struct contender native_true = PROCESS("native /bin/true", true_argv);
static struct contender cli_true = PROCESS("sandboxctl run -- /bin/true", cli_true_argv);
static struct contender native_py = PROCESS("native python3 -c print(1)", py_argv);
static struct contender cli_py = PROCESS("sandboxctl run -- python3 ...", cli_py_argv);
static struct contender lib_true = {
	.label = "sbx_run /bin/true",
	.run = run_library,
	.argv = true_argv,
	.spec = { .rootfs = "host", .argv = true_argv },
};

/* Other work on the host shows in every number: say how busy it was when we started. */
static void print_host(void)
{
	char load[64] = "?";
	FILE *f = fopen("/proc/loadavg", "re");

	if (f) {
		if (!fgets(load, sizeof(load), f))
			snprintf(load, sizeof(load), "?\n");
		fclose(f);
	}
	printf("host: %ld CPUs, load average %s", sysconf(_SC_NPROCESSORS_ONLN), load);
}

static int run_all(const char *sandboxctl)
{
	struct sbx_context *ctx;
	int r;

	cli_true_argv[0] = cli_py_argv[0] = sandboxctl;
	printf("sandboxd bench: jailed (all namespaces, cgroup limits, seccomp) vs native, "
	       "paired runs\n");
	print_host();
	if (bench_pair("1. /bin/true through the CLI", &native_true, &cli_true, TRUE_PAIRS,
		       &target_true) < 0)
		return -1;
	if (bench_pair("2. " PYTHON " -c 'print(1)' through the CLI", &native_py, &cli_py, PY_PAIRS,
		       &target_py) < 0)
		return -1;
	if (context_new(&ctx) < 0)
		return -1;
	lib_true.ctx = ctx;
	r = bench_library(&native_true, &lib_true);
	sbx_context_free(ctx);
	if (r < 0)
		return -1;
	if (bench_context() < 0)
		return -1;
	printf("\nreference, python hello on this machine: bwrap 1.77x, isolate 1.79x, "
	       "nsjail 2.7x, crun 3.8x, runc 5x, docker 23x\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *sandboxctl = argc > 1 ? argv[1] : "build/sandboxctl";

	if (access(sandboxctl, X_OK) < 0 || access(PYTHON, X_OK) < 0) {
		fprintf(stderr, "bench: need %s and %s: %m\n", sandboxctl, PYTHON);
		return 1;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		fprintf(stderr, "bench: /dev/null: %m\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	catch_signals();
	return run_all(sandboxctl) < 0 ? 1 : 0;
}
