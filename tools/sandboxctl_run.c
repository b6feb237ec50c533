/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl_run.c - `sandboxctl run`: one job through libsandbox, output streamed (or the
 * result as JSON), a one-line verdict on stderr, and the program's exit status as ours.
 *
 * Owns: the run options table and the mapping result -> exit status. Must not: second-guess the
 * library's checks (limits above the caps, bad rootfs): it reports them as usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "sandboxctl.h"
#include <cjson/cJSON.h>

#define MAX_BINDS 64
#define MAX_ENV	  256

struct run_opts {
	struct sbx_spec spec;
	struct sbx_config cfg;
	struct sbx_bind binds[MAX_BINDS];
	const char *env[MAX_ENV + 1];
	size_t n_env;
	bool json;
	bool timings;
	const char *image;
	const char *state_dir;
};

enum {
	OPT_ROOTFS = 0x100,
	OPT_MEMORY,
	OPT_CPU_TIME,
	OPT_WALL_TIME,
	OPT_PIDS,
	OPT_OUTPUT,
	OPT_STDIN,
	OPT_BIND,
	OPT_ENV,
	OPT_CWD,
	OPT_JSON,
	OPT_TMPFS,
	OPT_NOFILE,
	OPT_FSIZE,
	OPT_CPUS,
	OPT_SLOT,
	OPT_PROFILES,
	OPT_CGROUP_PARENT,
	OPT_CGROUP_VERSION,
	OPT_HELP,
	OPT_TIMINGS,
	OPT_BIND_RW,
	OPT_IMAGE,
	OPT_STATE_DIR,
};

static const struct option long_opts[] = {
	{ "rootfs", required_argument, NULL, OPT_ROOTFS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "cpu-time", required_argument, NULL, OPT_CPU_TIME },
	{ "wall-time", required_argument, NULL, OPT_WALL_TIME },
	{ "pids", required_argument, NULL, OPT_PIDS },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "stdin", required_argument, NULL, OPT_STDIN },
	{ "bind", required_argument, NULL, OPT_BIND },
	{ "env", required_argument, NULL, OPT_ENV },
	{ "cwd", required_argument, NULL, OPT_CWD },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "tmpfs-size", required_argument, NULL, OPT_TMPFS },
	{ "nofile", required_argument, NULL, OPT_NOFILE },
	{ "fsize", required_argument, NULL, OPT_FSIZE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "slot", required_argument, NULL, OPT_SLOT },
	{ "profile-dir", required_argument, NULL, OPT_PROFILES },
	{ "cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT },
	{ "cgroup-version", required_argument, NULL, OPT_CGROUP_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "timings", no_argument, NULL, OPT_TIMINGS },
	{ "bind-rw", required_argument, NULL, OPT_BIND_RW },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ 0 },
};

static const char usage_text[] =
	"usage: sandboxctl run [OPTIONS] -- PROG [ARG...]\n"
	"  --rootfs DIR|host     root filesystem (default: host: /usr /bin /lib* read-only)\n"
	"  --image IMAGE         run on a pulled image (its Env and WorkingDir apply)\n"
	"  --state-dir DIR       the image store for --image (default /var/lib/sandboxd)\n"
	"  --memory SIZE         memory limit, no swap (e.g. 128M)\n"
	"  --cpu-time DUR        CPU time of all processes (e.g. 2s, 500ms)\n"
	"  --wall-time DUR       wall-clock time\n"
	"  --pids N              processes + threads\n"
	"  --output SIZE         bytes kept per stream (stdout, stderr)\n"
	"  --stdin FILE          the program's stdin (default: empty)\n"
	"  --bind SRC:DST        show host path SRC read-only at DST (repeatable)\n"
	"  --bind-rw SRC:DST     the same, writable (by the job's uid, if SRC's modes allow)\n"
	"  --env NAME=VALUE      add to the default environment (repeatable)\n"
	"  --cwd DIR             working directory in the jail (default /tmp)\n"
	"  --tmpfs-size SIZE     size of /tmp;  --nofile N  open files;  --fsize SIZE  file size\n"
	"  --cpus N              CPU bandwidth (e.g. 0.5, 2)\n"
	"  --json                print the whole result as JSON instead of streaming\n"
	"  --timings             print the time each setup step took, on stderr\n"
	"Limits left out take the security profile's defaults; values above its caps are refused.\n"
	"Exit status: the program's; 128+signal when killed; 125 sandbox failure; 2 usage error.\n";

/* Limit options: which field, parsed how. A table, not a chain of ifs. */
static const struct {
	int opt;
	size_t offset;
	bool (*parse)(const char *, uint64_t *);
	const char *what;
} limit_opts[] = {
	{ OPT_MEMORY, offsetof(struct sbx_limits, memory_bytes), ctl_parse_size, "a size" },
	{ OPT_CPU_TIME, offsetof(struct sbx_limits, cpu_ms), ctl_parse_duration, "a duration" },
	{ OPT_WALL_TIME, offsetof(struct sbx_limits, wall_ms), ctl_parse_duration, "a duration" },
	{ OPT_PIDS, offsetof(struct sbx_limits, pids), ctl_parse_count, "a positive number" },
	{ OPT_OUTPUT, offsetof(struct sbx_limits, output_bytes), ctl_parse_size, "a size" },
	{ OPT_TMPFS, offsetof(struct sbx_limits, tmpfs_bytes), ctl_parse_size, "a size" },
	{ OPT_NOFILE, offsetof(struct sbx_limits, nofile), ctl_parse_count, "a positive number" },
	{ OPT_FSIZE, offsetof(struct sbx_limits, fsize_bytes), ctl_parse_size, "a size" },
};

static int parse_limit(struct run_opts *o, int opt, const char *arg, bool *handled)
{
	for (size_t i = 0; i < sizeof(limit_opts) / sizeof(limit_opts[0]); i++) {
		if (limit_opts[i].opt != opt)
			continue;
		*handled = true;
		if (!limit_opts[i].parse(
			    arg, (uint64_t *)((char *)&o->spec.limits + limit_opts[i].offset)))
			return ctl_usage_error("--%s '%s': expected %s",
					       long_opts[opt - OPT_ROOTFS].name, arg,
					       limit_opts[i].what);
		return 0;
	}
	*handled = false;
	return 0;
}

static int parse_bind(struct run_opts *o, char *arg, bool writable)
{
	const char *flag = writable ? "--bind-rw" : "--bind";
	char *colon = strchr(arg, ':');

	if (!colon || colon == arg || !colon[1])
		return ctl_usage_error("%s '%s': expected SRC:DST", flag, arg);
	if (o->spec.n_binds == MAX_BINDS)
		return ctl_usage_error("%s: at most %d binds", flag, MAX_BINDS);
	*colon = '\0';
	o->binds[o->spec.n_binds].src = arg;
	o->binds[o->spec.n_binds].writable = writable;
	o->binds[o->spec.n_binds++].dst = colon + 1;
	return 0;
}

static int parse_env(struct run_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return ctl_usage_error("--env '%s': expected NAME=VALUE", arg);
	if (o->n_env == MAX_ENV)
		return ctl_usage_error("--env: at most %d", MAX_ENV);
	o->env[o->n_env++] = arg;
	return 0;
}

static int parse_cpus(struct run_opts *o, const char *arg)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end || !(v > 0) || v > 1024)
		return ctl_usage_error("--cpus '%s': expected a number of CPUs, e.g. 0.5 or 2",
				       arg);
	o->spec.limits.cpus_milli = (uint64_t)(v * 1000 + 0.5);
	return 0;
}

static int parse_other(struct run_opts *o, int opt, char *arg)
{
	uint64_t n;

	switch (opt) {
	case OPT_ROOTFS:
		o->spec.rootfs = arg;
		return 0;
	case OPT_STDIN:
		o->spec.stdin_path = arg;
		return 0;
	case OPT_BIND:
		return parse_bind(o, arg, false);
	case OPT_BIND_RW:
		return parse_bind(o, arg, true);
	case OPT_IMAGE:
		o->image = arg;
		return 0;
	case OPT_STATE_DIR:
		o->state_dir = arg;
		return 0;
	case OPT_ENV:
		return parse_env(o, arg);
	case OPT_CWD:
		o->spec.cwd = arg;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_CPUS:
		return parse_cpus(o, arg);
	case OPT_PROFILES:
		o->cfg.profile_dir = arg;
		return 0;
	case OPT_CGROUP_PARENT:
		o->cfg.cgroup_parent = arg;
		return 0;
	case OPT_SLOT:
		if (!strcmp(arg, "0")) {
			o->spec.slot = 0;
			return 0;
		}
		if (!ctl_parse_count(arg, &n) || n > 100000)
			return ctl_usage_error("--slot '%s': expected a number", arg);
		o->spec.slot = (unsigned)n;
		return 0;
	case OPT_CGROUP_VERSION:
		if (strcmp(arg, "1") && strcmp(arg, "2"))
			return ctl_usage_error("--cgroup-version '%s': expected 1 or 2", arg);
		o->cfg.cgroup_version = atoi(arg);
		return 0;
	case OPT_TIMINGS:
		o->timings = true;
		return 0;
	case OPT_HELP:
		fputs(usage_text, stdout);
		exit(0);
	}
	return ctl_usage_error("run: unknown option (try: sandboxctl run --help)");
}

static int parse_args(struct run_opts *o, int argc, char **argv)
{
	int opt;

	o->spec.rootfs = "host";
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+", long_opts, NULL)) != -1) {
		bool handled;
		int r;

		if (opt == '?')
			return ctl_usage_error(
				"run: unknown or incomplete option '%s' (try: sandboxctl run --help)",
				argv[optind - 1]);
		r = parse_limit(o, opt, optarg, &handled);
		if (r == 0 && !handled)
			r = parse_other(o, opt, optarg);
		if (r)
			return r;
	}
	if (optind >= argc)
		return ctl_usage_error(
			"run: no program given (sandboxctl run [OPTIONS] -- PROG [ARG...])");
	o->spec.argv = (const char *const *)argv + optind;
	return 0;
}

static size_t strv_len(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* Add `add` to env (n entries), replacing an entry of the same NAME. */
static size_t env_put(const char **env, size_t n, const char *add)
{
	size_t k = strcspn(add, "=") + 1;

	for (size_t i = 0; i < n; i++)
		if (!strncmp(env[i], add, k)) {
			env[i] = add;
			return n;
		}
	env[n] = add;
	return n + 1;
}

/* The job's environment, as Docker layers it: the profile's defaults, the image's Env, --env. */
static const char **build_env(const struct run_opts *o, const char *const *defaults,
			      const char *const *image_env)
{
	size_t n = 0, cap = strv_len(defaults) + strv_len(image_env) + o->n_env + 1;
	const char **env = calloc(cap, sizeof(*env));

	if (!env)
		return NULL;
	for (size_t i = 0; defaults && defaults[i]; i++)
		n = env_put(env, n, defaults[i]);
	for (size_t i = 0; image_env && image_env[i]; i++)
		if (strchr(image_env[i], '='))
			n = env_put(env, n, image_env[i]);
	for (size_t i = 0; i < o->n_env; i++)
		n = env_put(env, n, o->env[i]);
	return env;
}

/* A pulled image as `sandboxctl inspect` shows it: what a job needs of it. */
struct run_image {
	cJSON *json;
	const char **env; /* points into json */
};

static void run_image_done(struct run_image *img)
{
	free(img->env);
	cJSON_Delete(img->json);
}

static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int image_env(struct run_image *img)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(img->json, "env"), *it;
	size_t n = 0;

	img->env = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
	if (!img->env)
		return -ENOMEM;
	cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it)) img->env[n++] = it->valuestring;
	return 0;
}

/* --image: ask sandboxctl-image for the image's rootfs, Env and WorkingDir. */
static int use_image(struct run_opts *o, struct run_image *img)
{
	char *args[] = {
		"sandboxctl-image", "inspect",
		"--state-dir",	    (char *)(o->state_dir ? o->state_dir : "/var/lib/sandboxd"),
		(char *)o->image,   NULL
	};
	const char *rootfs, *cwd;
	char *out = NULL;
	int rc;

	if (strcmp(o->spec.rootfs, "host"))
		return ctl_usage_error("run: --image and --rootfs exclude each other");
	rc = ctl_image_capture(args, &out); /* its own error line went to our stderr */
	img->json = rc == 0 && out ? cJSON_Parse(out) : NULL;
	free(out);
	if (rc == EXIT_USAGE)
		return ctl_usage_error("run: image %s is not pulled (sandboxctl pull %s)", o->image,
				       o->image);
	rootfs = json_str(img->json, "rootfs");
	if (!rootfs || image_env(img) < 0) {
		fprintf(stderr, "sandboxctl: cannot read image %s from the store\n", o->image);
		return EXIT_SANDBOX;
	}
	o->spec.rootfs = rootfs;
	cwd = json_str(img->json, "working_dir");
	if (!o->spec.cwd && cwd && *cwd)
		o->spec.cwd = cwd;
	return 0;
}

static void stream_output(void *userdata, enum sbx_stream stream, const char *buf, size_t len)
{
	(void)userdata;
	fwrite(buf, 1, len, stream == SBX_STDOUT ? stdout : stderr);
	fflush(stream == SBX_STDOUT ? stdout : stderr);
}

static int exit_status(const struct sbx_result *r)
{
	switch (r->status) {
	case SBX_STATUS_OK:
	case SBX_STATUS_RUNTIME_ERROR:
		return r->exit_code;
	case SBX_STATUS_INTERNAL_ERROR:
		return EXIT_SANDBOX;
	default:
		/* Killed: by its own signal, or by us (SIGKILL) at a limit. */
		return 128 + (r->signal ? r->signal : 9);
	}
}

static void print_verdict(const struct sbx_result *r)
{
	const char *limit = sbx_limit_name(r->limit);

	fprintf(stderr, "sandboxctl: status=%s", sbx_status_name(r->status));
	if (limit)
		fprintf(stderr, " limit=%s", limit);
	if (r->exit_code >= 0)
		fprintf(stderr, " exit_code=%d", r->exit_code);
	if (r->signal)
		fprintf(stderr, " signal=%d", r->signal);
	fprintf(stderr, " time_ms=%llu wall_ms=%llu memory_kb=%llu", (unsigned long long)r->time_ms,
		(unsigned long long)r->wall_ms, (unsigned long long)r->memory_kb);
	if (r->out.truncated || r->err.truncated)
		fprintf(stderr, " truncated=%s%s", r->out.truncated ? "stdout" : "",
			r->err.truncated ? (r->out.truncated ? ",stderr" : "stderr") : "");
	if (*r->message)
		fprintf(stderr, " message=\"%s\"", r->message);
	fputc('\n', stderr);
}

static const char *const step_labels[_SBX_STEP_MAX] = {
	[SBX_STEP_PLAN] = "plan",	    [SBX_STEP_CLONE] = "clone",
	[SBX_STEP_CGROUP] = "cgroup+stdio", [SBX_STEP_MOUNTS] = "mounts+pivot",
	[SBX_STEP_NET] = "hostname+lo",	    [SBX_STEP_FORK] = "fork",
	[SBX_STEP_CREDS] = "credentials",   [SBX_STEP_EXEC] = "seccomp",
	[SBX_STEP_EXITED] = "program",	    [SBX_STEP_TEARDOWN] = "teardown",
};

/* Each step's cost: from the previous step reached to this one. */
static void print_timings(const struct sbx_result *r)
{
	unsigned long long prev = r->step_ns[SBX_STEP_PLAN];

	fprintf(stderr, "sandboxctl: timings_us");
	for (int s = SBX_STEP_PLAN + 1; s < _SBX_STEP_MAX; s++) {
		if (!r->step_ns[s])
			continue;
		/* A child's clock can run ahead of the parent's mark for clone: count that as 0. */
		fprintf(stderr, " %s=%llu", step_labels[s],
			r->step_ns[s] > prev ? (r->step_ns[s] - prev) / 1000 : 0);
		if (r->step_ns[s] > prev)
			prev = r->step_ns[s];
	}
	fprintf(stderr, " total=%llu\n", (prev - r->step_ns[SBX_STEP_PLAN]) / 1000);
}

static int print_result(const struct run_opts *o, const struct sbx_result *res)
{
	char *json = NULL;
	struct sbx_error err = { 0 };

	if (o->timings)
		print_timings(res);
	if (!o->json) {
		print_verdict(res);
		return exit_status(res);
	}
	if (sbx_result_to_json(res, &json, &err) < 0) {
		fprintf(stderr, "sandboxctl: %s\n", err.msg);
		return EXIT_SANDBOX;
	}
	puts(json);
	free(json);
	return exit_status(res);
}

/*
 * Ctrl-C, SIGTERM, SIGHUP, SIGQUIT: block them and hand the library a signalfd, so the job is
 * killed and its cgroup removed before we exit (dying at once would leave the cgroup behind).
 * The job itself starts with every signal unblocked (spawn.c resets them).
 */
static int cancel_on_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* The signal that cancelled the job, or 0. */
static int cancelled_by(int sfd)
{
	struct signalfd_siginfo si;

	return sfd >= 0 && read(sfd, &si, sizeof(si)) == sizeof(si) ? (int)si.ssi_signo : 0;
}

/* Errors that mean "the request is wrong" (exit 2) rather than "the sandbox failed" (125). */
static bool is_request_error(int r)
{
	return r == -EINVAL || r == -ENOENT || r == -ENOTDIR || r == -ELOOP || r == -EFBIG;
}

/* Everything after the options: the context, the job, the verdict. */
static int run_job(struct run_opts *o, const struct run_image *img)
{
	struct sbx_context *ctx = NULL;
	struct sbx_result res;
	struct sbx_error err = { 0 };
	const char **env;
	int r, sfd, sig;

	sfd = cancel_on_signals();
	o->spec.cancel_fd = sfd;
	o->spec.binds = o->binds;
	r = sbx_context_new(&o->cfg, &ctx, &err);
	if (r < 0) {
		fprintf(stderr, "sandboxctl: %s\n", err.msg);
		return EXIT_SANDBOX;
	}
	env = build_env(o, sbx_context_env(ctx), img->env);
	o->spec.envp = env;
	if (!o->json)
		o->spec.on_output = stream_output;
	r = env ? sbx_run(ctx, &o->spec, &res, &err) : -ENOMEM;
	free(env);
	sbx_context_free(ctx);
	if (r < 0) {
		fprintf(stderr, "sandboxctl: %s\n", err.msg[0] ? err.msg : strerror(-r));
		return is_request_error(r) ? EXIT_USAGE : EXIT_SANDBOX;
	}
	sig = cancelled_by(sfd);
	if (sig) {
		fprintf(stderr,
			"sandboxctl: cancelled by signal %d; the job was killed and removed\n",
			sig);
		sbx_result_free(&res);
		return 128 + sig;
	}
	r = print_result(o, &res);
	sbx_result_free(&res);
	return r;
}

int ctl_cmd_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	struct run_image img = { 0 };
	int r;

	r = parse_args(&o, argc, argv);
	if (!r && o.image)
		r = use_image(&o, &img);
	if (!r)
		r = run_job(&o, &img);
	run_image_done(&img);
	return r;
}
