/* SPDX-License-Identifier: MIT */
/*
 * runner.c - one service job: work directory -> [compile stage] -> run stage -> answer.
 *
 * The work directory is a tmpfs of its own (size and inode caps), mounted in the supervisor's
 * private mount namespace, owned by the slot's uid and bound read-write at /box in every stage,
 * so a compile stage's output is there for the run stage and nothing else is. Files are written
 * before any stage starts, through O_NOFOLLOW|O_EXCL opens below the directory's fd.
 *
 * Owns: the stage sequence and the answer's shape. Must not: block, or touch the history (the
 * supervisor records what run_finish() returns).
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner.h"
#include "util.h"

#define WORK_TMPFS_BYTES  (128ULL << 20)
#define WORK_TMPFS_INODES 4096
#define ARGV_MAX	  512
#define ENV_MAX		  1024

enum stage { STAGE_COMPILE, STAGE_RUN, STAGE_DONE };

struct run {
	struct sbx_context *ctx;
	struct run_input in;
	char work[256]; /* host path of the work directory */
	bool mounted;
	int epfd; /* holds the current stage's job fd */
	enum stage stage;
	struct sbx_job *job;
	struct sbx_bind bind;
	struct sbx_spec spec;
	const char *argv[ARGV_MAX + 1];
	char *argv_buf[ARGV_MAX]; /* the substituted strings argv points to */
	size_t n_buf;
	const char *envp[ENV_MAX + 1];
	bool cancelled;
	bool have_compile;
	struct sbx_result compile, result;
	struct sbx_result *cases; /* tests: one result per case run so far */
	size_t n_cases;
	unsigned long long start_ns, end_ns;
};

/* ---- the work directory ------------------------------------------------------------------ */

int run_setup_workspace(struct sbx_error *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return sbx_err(err, errno, "unshare mount namespace");
	/* Our work mounts must never reach the host's namespace, nor its mounts ours. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sbx_err(err, errno, "make / private");
	if (mkdir("/run/sandboxd", 0700) < 0 && errno != EEXIST)
		return sbx_err(err, errno, "mkdir /run/sandboxd");
	if (mkdir(RUN_WORK_DIR, 0700) < 0 && errno != EEXIST)
		return sbx_err(err, errno, "mkdir %s", RUN_WORK_DIR);
	if (mount("sandboxd-work", RUN_WORK_DIR, "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0700,size=16m,nr_inodes=65536") < 0)
		return sbx_err(err, errno, "mount tmpfs on %s", RUN_WORK_DIR);
	return 0;
}

static int work_mount(struct run *r, struct sbx_error *err)
{
	uid_t uid = sbx_context_uid(r->ctx, r->in.slot);
	char opts[160];

	snprintf(r->work, sizeof(r->work), "%s/%s", RUN_WORK_DIR, r->in.id);
	if (mkdir(r->work, 0700) < 0)
		return sbx_err(err, errno, "mkdir %s", r->work);
	snprintf(opts, sizeof(opts), "mode=0700,uid=%u,gid=%u,size=%llu,nr_inodes=%u",
		 (unsigned)uid, (unsigned)uid, WORK_TMPFS_BYTES, WORK_TMPFS_INODES);
	if (mount("sandboxd-job", r->work, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return sbx_err(err, errno, "mount work directory");
	r->mounted = true;
	return 0;
}

static void work_remove(struct run *r)
{
	if (r->mounted)
		umount2(r->work, MNT_DETACH);
	r->mounted = false;
	if (r->work[0])
		rmdir(r->work);
	r->work[0] = '\0';
}

/* mkdir -p of name's parent below dirfd, every directory owned by the job's uid. */
static int make_parents(int dirfd, const char *name, uid_t uid)
{
	char path[512];

	snprintf(path, sizeof(path), "%s", name);
	for (char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdirat(dirfd, path, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (fchownat(dirfd, path, uid, uid, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int write_file(int dirfd, const char *name, const struct req_file *f, uid_t uid)
{
	_cleanup_close_ int fd = -1;
	int r = make_parents(dirfd, name, uid);

	if (r < 0)
		return r;
	/* The directory is fresh and no job has run in it yet; O_NOFOLLOW|O_EXCL all the same. */
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = sbx_write_all(fd, f->data, f->len);
	if (r >= 0 && fchown(fd, uid, uid) < 0)
		r = -errno;
	return r;
}

static const char *entry_name(const struct run *r)
{
	return r->in.req->files[0].name ? r->in.req->files[0].name : r->in.lang->source;
}

static int work_fill(struct run *r, struct sbx_error *err)
{
	_cleanup_close_ int dirfd = open(r->work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uid_t uid = sbx_context_uid(r->ctx, r->in.slot);

	if (dirfd < 0)
		return sbx_err(err, errno, "open %s", r->work);
	for (size_t i = 0; i < r->in.req->n_files; i++) {
		const struct req_file *f = &r->in.req->files[i];
		const char *name = f->name ? f->name : r->in.lang->source;
		int k = write_file(dirfd, name, f, uid);

		if (k < 0)
			return sbx_err(err, -k, "write %s", name);
	}
	return 0;
}

/* ---- a stage's spec ---------------------------------------------------------------------- */

/* The entry file's name without its directory and extension: Java's class name. */
static size_t stem_of(const char *name, const char **ret)
{
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	const char *dot = strrchr(base, '.');

	*ret = base;
	return dot && dot != base ? (size_t)(dot - base) : strlen(base);
}

/* Keep s for argv; freed with the stage. */
static const char *keep(struct run *r, char *s)
{
	r->argv_buf[r->n_buf++] = s;
	return s;
}

/* "{source}" (the entry file's name) and "{stem}" (its name without extension) anywhere in an
 * argument; nothing else is substituted. */
static int substitute(struct run *r, const char *tmpl, const char **ret)
{
	const char *src = entry_name(r), *stem, *p;
	size_t stem_len = stem_of(src, &stem);
	FILE *f;
	char *s = NULL;
	size_t len;

	if (!strstr(tmpl, "{source}") && !strstr(tmpl, "{stem}")) {
		*ret = tmpl;
		return 0;
	}
	f = open_memstream(&s, &len);
	if (!f)
		return -ENOMEM;
	for (p = tmpl; *p;) {
		if (!strncmp(p, "{source}", 8)) {
			fputs(src, f);
			p += 8;
		} else if (!strncmp(p, "{stem}", 6)) {
			fwrite(stem, 1, stem_len, f);
			p += 6;
		} else {
			fputc(*p++, f);
		}
	}
	if (fclose(f) != 0 || !s)
		return -ENOMEM;
	*ret = keep(r, s);
	return 0;
}

/* "{sources}": every file of the request with the entry's extension, the entry first. */
static int add_sources(struct run *r, size_t *n, struct sbx_error *err)
{
	const char *entry = entry_name(r), *ext = strrchr(entry, '.');
	const struct req *q = r->in.req;

	for (size_t i = 0; i < q->n_files; i++) {
		const char *name = q->files[i].name ? q->files[i].name : entry;
		size_t len = strlen(name);

		if (i > 0 && (!ext || len <= strlen(ext) || strcmp(name + len - strlen(ext), ext)))
			continue;
		if (*n == ARGV_MAX)
			return sbx_err_msg(err, E2BIG, "more than %d arguments", ARGV_MAX);
		r->argv[(*n)++] = name;
	}
	return 0;
}

static void argv_clear(struct run *r)
{
	for (size_t i = 0; i < r->n_buf; i++)
		free(r->argv_buf[i]);
	r->n_buf = 0;
}

static int build_argv(struct run *r, char **tmpl, struct sbx_error *err)
{
	size_t n = 0;

	argv_clear(r);
	for (; *tmpl; tmpl++) {
		if (!strcmp(*tmpl, "{args}")) {
			/* refused, not cut: never run the program with part of its arguments */
			if (r->in.req->n_args > ARGV_MAX - n)
				return sbx_err_msg(err, E2BIG, "more than %d arguments", ARGV_MAX);
			for (char **a = r->in.req->args; a && *a; a++)
				r->argv[n++] = *a;
			continue;
		}
		if (!strcmp(*tmpl, "{sources}")) {
			if (add_sources(r, &n, err) < 0)
				return -err->code;
			continue;
		}
		if (n == ARGV_MAX)
			return sbx_err_msg(err, E2BIG, "more than %d arguments", ARGV_MAX);
		if (substitute(r, *tmpl, &r->argv[n++]) < 0)
			return sbx_err(err, ENOMEM, "argv");
	}
	r->argv[n] = NULL;
	return 0;
}

static size_t env_name_len(const char *e)
{
	const char *eq = strchr(e, '=');

	return eq ? (size_t)(eq - e) : strlen(e);
}

/* Later lists override earlier ones: the security profile's, the image's (its PATH finds the
 * toolchain), the language profile's, then the request's. */
static void env_add(struct run *r, size_t *n, char *const *list)
{
	for (; list && *list; list++) {
		size_t i = 0, len = env_name_len(*list);

		while (i < *n &&
		       !(env_name_len(r->envp[i]) == len && !strncmp(r->envp[i], *list, len)))
			i++;
		if (i < *n)
			r->envp[i] = *list;
		else if (*n < ENV_MAX)
			r->envp[(*n)++] = *list;
	}
}

static void build_env(struct run *r)
{
	size_t n = 0;

	env_add(r, &n, (char *const *)sbx_context_env(r->ctx));
	if (r->in.lang->where == LANG_ROOTFS_IMAGE)
		env_add(r, &n, r->in.lang->image_env);
	env_add(r, &n, r->in.lang->env);
	env_add(r, &n, r->in.req->env);
	r->envp[n] = NULL;
}

static uint64_t pick(uint64_t req, uint64_t lang)
{
	return req ? req : lang;
}

static void build_limits(const struct req_limits *req, const struct req_limits *lang,
			 struct sbx_limits *ret)
{
	*ret = (struct sbx_limits){
		.cpu_ms = pick(req->cpu_ms, lang->cpu_ms),
		.wall_ms = pick(req->wall_ms, lang->wall_ms),
		.memory_bytes = pick(req->memory_mb, lang->memory_mb) << 20,
		.pids = pick(req->pids, lang->pids),
		.output_bytes = pick(req->output_kb, lang->output_kb) << 10,
	};
}

static int stage_start(struct run *r, enum stage st, struct sbx_error *err)
{
	const struct lang *l = r->in.lang;
	struct epoll_event ev = { .events = EPOLLIN };
	int k;

	r->stage = st;
	k = build_argv(r, st == STAGE_COMPILE ? l->compile : l->run, err);
	if (k < 0)
		return k;
	r->spec = (struct sbx_spec){
		.rootfs = l->rootfs,
		.argv = r->argv,
		.envp = r->envp,
		.cwd = RUN_BOX,
		.binds = &r->bind,
		.n_binds = 1,
		.slot = r->in.slot,
	};
	if (st == STAGE_RUN && r->in.req->n_tests) {
		r->spec.stdin_data = r->in.req->tests[r->n_cases].stdin_data;
		r->spec.stdin_len = r->in.req->tests[r->n_cases].stdin_len;
		build_limits(&r->in.req->limits, &l->limits, &r->spec.limits);
	} else if (st == STAGE_RUN) {
		r->spec.stdin_data = r->in.req->stdin_data;
		r->spec.stdin_len = r->in.req->stdin_len;
		build_limits(&r->in.req->limits, &l->limits, &r->spec.limits);
	} else {
		build_limits(&(struct req_limits){ 0 }, &l->compile_limits, &r->spec.limits);
	}
	k = sbx_job_start(r->ctx, &r->spec, &r->job, err);
	if (k < 0)
		return sbx_err_prefix(err, k, "%s stage", st == STAGE_COMPILE ? "compile" : "run");
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, sbx_job_fd(r->job), &ev) < 0)
		return sbx_err(err, errno, "epoll_ctl");
	return 0;
}

/* ---- the run ----------------------------------------------------------------------------- */

static void run_free(struct run *r)
{
	if (!r)
		return;
	if (r->job) {
		struct sbx_result tmp;

		sbx_job_finish(r->job, &tmp); /* kills it: nothing of the job outlives the run */
		sbx_result_free(&tmp);
	}
	work_remove(r);
	closep(&r->epfd);
	argv_clear(r);
	sbx_result_free(&r->compile);
	sbx_result_free(&r->result);
	for (size_t i = 0; i < r->n_cases; i++)
		sbx_result_free(&r->cases[i]);
	free(r->cases);
	free(r);
}

static void run_freep(struct run **r)
{
	run_free(*r);
}

int run_start(struct sbx_context *ctx, const struct run_input *in, struct run **ret,
	      struct sbx_error *err)
{
	_cleanup_(run_freep) struct run *r = calloc(1, sizeof(*r));
	int k;

	if (!r)
		return sbx_err(err, ENOMEM, "run");
	r->ctx = ctx;
	r->in = *in;
	r->start_ns = sbx_now_ns();
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		return sbx_err(err, errno, "epoll_create1");
	k = work_mount(r, err);
	if (k >= 0)
		k = work_fill(r, err);
	if (k < 0)
		return k;
	r->bind = (struct sbx_bind){ .src = r->work, .dst = RUN_BOX, .writable = true };
	if (in->req->n_tests && !(r->cases = calloc(in->req->n_tests, sizeof(*r->cases))))
		return sbx_err(err, ENOMEM, "test cases");
	build_env(r);
	k = stage_start(r, in->lang->compile ? STAGE_COMPILE : STAGE_RUN, err);
	if (k < 0)
		return k;
	*ret = TAKE_PTR(r);
	return 0;
}

int run_fd(const struct run *r)
{
	return r->epfd;
}

/* A test case's run ended: keep its result; the next case runs unless the sandbox failed. */
static bool case_done(struct run *r)
{
	r->cases[r->n_cases++] = r->result;
	r->result = (struct sbx_result){ 0 };
	return r->n_cases < r->in.req->n_tests &&
	       r->cases[r->n_cases - 1].status != SBX_STATUS_INTERNAL_ERROR;
}

/* A stage ended: after a successful compile the run; after a test case's run the next case. */
static bool next_stage(struct run *r)
{
	struct sbx_error e = { 0 };

	if (r->cancelled)
		return false;
	if (r->stage == STAGE_RUN && (!r->in.req->n_tests || !case_done(r)))
		return false;
	if (r->stage == STAGE_COMPILE && r->compile.status != SBX_STATUS_OK)
		return false;
	if (stage_start(r, STAGE_RUN, &e) >= 0)
		return true;
	r->result.status = SBX_STATUS_INTERNAL_ERROR;
	r->result.exit_code = -1;
	snprintf(r->result.message, sizeof(r->result.message), "%s", e.msg);
	return false;
}

bool run_poll(struct run *r, int *ret_timeout_ms)
{
	if (r->stage == STAGE_DONE)
		return true;
	if (!sbx_job_poll(r->job, ret_timeout_ms))
		return false;
	/* A copy of the job's fd in a child being set up would keep it in our set, ready for good:
	 * the next stage's epoll would spin on it. */
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, sbx_job_fd(r->job), NULL);
	sbx_job_finish(r->job, r->stage == STAGE_COMPILE ? &r->compile : &r->result);
	r->job = NULL;
	r->have_compile |= r->stage == STAGE_COMPILE;
	if (next_stage(r))
		return run_poll(r, ret_timeout_ms);
	r->stage = STAGE_DONE;
	r->end_ns = sbx_now_ns();
	return true;
}

void run_cancel(struct run *r)
{
	r->cancelled = true;
	if (r->job)
		sbx_job_cancel(r->job);
}

/* ---- the answer -------------------------------------------------------------------------- */

static cJSON *result_object(const struct sbx_result *res)
{
	_cleanup_free_ char *s = NULL;

	if (sbx_result_to_json(res, &s, NULL) < 0)
		return NULL;
	return cJSON_Parse(s);
}

/* Judges' comparison: trailing whitespace at line ends and at the end does not count. */
static char *normalize(const char *s, size_t len, size_t *ret_len)
{
	char *out = malloc(len + 1);
	size_t o = 0, line = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '\n') {
			out[o++] = s[i];
			continue;
		}
		while (o > line && strchr(" \t\r\v\f", out[o - 1]))
			o--;
		if (i < len)
			out[o++] = '\n';
		line = o;
	}
	while (o > 0 && out[o - 1] == '\n')
		o--;
	*ret_len = o;
	return out;
}

static bool output_matches(const struct sbx_output *got, const struct req_test *t)
{
	size_t a_len = 0, b_len = 0;
	_cleanup_free_ char *a = normalize(got->data ? got->data : "", got->len, &a_len);
	_cleanup_free_ char *b = normalize(t->expected, t->expected_len, &b_len);

	return a && b && !got->truncated && a_len == b_len && !memcmp(a, b, a_len);
}

/* A test case: wrong_answer when the program ended well but printed something else. */
static const char *case_status(const struct run *r, size_t i)
{
	const struct sbx_result *c = &r->cases[i];

	if (c->status != SBX_STATUS_OK)
		return sbx_status_name(c->status);
	return output_matches(&c->out, &r->in.req->tests[i]) ? "ok" : "wrong_answer";
}

/* With test cases: the first case that did not pass speaks for the job, else the last one. */
static const char *tests_status(const struct run *r, const struct sbx_result **ret_top)
{
	for (size_t i = 0; i < r->n_cases; i++)
		if (strcmp(case_status(r, i), "ok")) {
			*ret_top = &r->cases[i];
			return case_status(r, i);
		}
	if (r->n_cases < r->in.req->n_tests || !r->n_cases) {
		*ret_top = &r->result; /* the next case could not start */
		return sbx_status_name(r->result.status);
	}
	*ret_top = &r->cases[r->n_cases - 1];
	return "ok";
}

/* The answer's status: the run's, unless the compile stage failed or the caller cancelled. */
static const char *answer_status(const struct run *r, const struct sbx_result **ret_top)
{
	bool compile_failed = r->have_compile && r->compile.status != SBX_STATUS_OK;

	*ret_top = compile_failed ? &r->compile : &r->result;
	if (r->cancelled)
		return "cancelled";
	if (compile_failed && r->compile.status != SBX_STATUS_INTERNAL_ERROR)
		return "compile_error";
	if (!compile_failed && r->in.req->n_tests)
		return tests_status(r, ret_top);
	return sbx_status_name((*ret_top)->status);
}

/* "tests": each case's result with its verdict, and "summary": how many passed. */
static bool add_tests(const struct run *r, cJSON *o)
{
	cJSON *a, *sum;
	size_t passed = 0;

	if (!r->in.req->n_tests)
		return true;
	a = cJSON_AddArrayToObject(o, "tests");
	for (size_t i = 0; a && i < r->n_cases; i++) {
		cJSON *c = result_object(&r->cases[i]);
		const char *st = case_status(r, i);

		if (!c)
			return false;
		cJSON_AddItemToArray(a, c);
		cJSON_ReplaceItemInObjectCaseSensitive(c, "status", cJSON_CreateString(st));
		passed += !strcmp(st, "ok");
	}
	sum = a ? cJSON_AddObjectToObject(o, "summary") : NULL;
	return sum && cJSON_AddNumberToObject(sum, "total", (double)r->in.req->n_tests) &&
	       cJSON_AddNumberToObject(sum, "run", (double)r->n_cases) &&
	       cJSON_AddNumberToObject(sum, "passed", (double)passed) &&
	       cJSON_AddNumberToObject(sum, "failed", (double)(r->in.req->n_tests - passed));
}

static cJSON *answer(const struct run *r, struct run_outcome *out)
{
	const struct sbx_result *top;
	const char *status = answer_status(r, &top);
	_cleanup_(cJSON_Deletep) cJSON *o = result_object(top);
	cJSON *compile = r->have_compile ? result_object(&r->compile) : cJSON_CreateNull();
	bool ok = o && compile;

	snprintf(out->status, sizeof(out->status), "%s", status);
	if (ok && r->cancelled)
		cJSON_ReplaceItemInObjectCaseSensitive(o, "message",
						       cJSON_CreateString("cancelled"));
	ok = ok && cJSON_ReplaceItemInObjectCaseSensitive(o, "status", cJSON_CreateString(status));
	ok = ok && cJSON_AddStringToObject(o, "id", r->in.id);
	ok = ok && cJSON_AddStringToObject(o, "language", r->in.lang->name);
	ok = ok && cJSON_AddStringToObject(o, "version", r->in.lang->version);
	ok = ok && cJSON_AddItemToObject(o, "compile", compile);
	if (!ok) {
		if (!o || !cJSON_GetObjectItemCaseSensitive(o, "compile"))
			cJSON_Delete(compile);
		return NULL;
	}
	if (!add_tests(r, o))
		return NULL;
	return TAKE_PTR(o);
}

static double wall_s(const struct sbx_result *res)
{
	return (double)res->wall_ms / 1000.0;
}

int run_finish(struct run *r, struct run_outcome *ret, struct sbx_error *err)
{
	_cleanup_(run_freep) struct run *owned = r;
	_cleanup_(cJSON_Deletep) cJSON *o = NULL;

	*ret = (struct run_outcome){ 0 };
	if (r->stage != STAGE_DONE && r->job) {
		run_cancel(r);
		sbx_job_finish(r->job, &r->result);
		r->job = NULL;
		r->end_ns = sbx_now_ns();
	}
	o = answer(r, ret);
	if (!o || !(ret->json = cJSON_PrintUnformatted(o)))
		return sbx_err(err, ENOMEM, "answer");
	ret->program_s = (r->have_compile ? wall_s(&r->compile) : 0) + wall_s(&r->result);
	for (size_t i = 0; i < r->n_cases; i++)
		ret->program_s += wall_s(&r->cases[i]);
	ret->total_s = (double)(r->end_ns - r->start_ns) / 1e9;
	return 0;
}
