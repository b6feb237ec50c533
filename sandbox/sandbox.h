/* SPDX-License-Identifier: MIT */
/*
 * sandbox.h - libsandbox, the public API: one job -> one jailed process tree -> one result.
 *
 *   sbx_context_new()  once per process: loads the security profile, compiles the seccomp
 *                      filter, picks the cgroup backend and creates the parent cgroup.
 *   sbx_run()          runs one job to completion and fills a struct sbx_result.
 *   sbx_result_to_json() the one JSON shape used everywhere (CLI, HTTP, history).
 *
 * Error contract: fallible functions return >= 0 on success or -errno on failure, and fill the
 * struct sbx_error passed last (may be NULL). The library never logs and never exits.
 */
#ifndef SBX_SANDBOX_H
#define SBX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SBX_MSG_MAX 256

struct sbx_error {
	int code; /* positive errno */
	char msg[SBX_MSG_MAX];
};

/* How a job ended. Names (result.c) are the stable JSON contract. */
enum sbx_status {
	SBX_STATUS_OK,
	SBX_STATUS_RUNTIME_ERROR,
	SBX_STATUS_SIGNALED,
	SBX_STATUS_TIMEOUT,
	SBX_STATUS_MEMORY_LIMIT,
	SBX_STATUS_OUTPUT_LIMIT,
	SBX_STATUS_INTERNAL_ERROR,
	_SBX_STATUS_MAX,
};

/* Which limit ended the job, if any. */
enum sbx_limit {
	SBX_LIMIT_NONE,
	SBX_LIMIT_CPU,
	SBX_LIMIT_WALL,
	SBX_LIMIT_MEMORY,
	SBX_LIMIT_OUTPUT,
	_SBX_LIMIT_MAX,
};

/* Every limit a caller controls. 0 means "the profile's default" in a spec. */
struct sbx_limits {
	uint64_t cpu_ms;       /* CPU time of the whole cgroup (all threads, all children) */
	uint64_t wall_ms;      /* wall-clock time from clone to the end of the main program */
	uint64_t memory_bytes; /* memory.max / memory.limit_in_bytes; swap is always 0 */
	uint64_t pids;	       /* pids.max: processes + threads */
	uint64_t output_bytes; /* captured bytes per stream (stdout, stderr) */
	uint64_t fsize_bytes;  /* RLIMIT_FSIZE */
	uint64_t nofile;       /* RLIMIT_NOFILE */
	uint64_t tmpfs_bytes;  /* size= of /tmp */
	uint64_t tmpfs_inodes; /* nr_inodes= of /tmp */
	uint64_t shm_bytes;    /* size= of /dev/shm */
	uint64_t stack_bytes;  /* RLIMIT_STACK */
	uint64_t cpus_milli;   /* CPU bandwidth: 1000 = one CPU (cpu.max / CFS quota) */
};

/* A host path shown inside the job. Read-only unless writable. */
struct sbx_bind {
	const char *src;
	const char *dst;
	bool writable;
};

enum sbx_stream { SBX_STDOUT = 1, SBX_STDERR = 2 };

typedef void (*sbx_output_fn)(void *userdata, enum sbx_stream stream, const char *buf, size_t len);

struct sbx_spec {
	const char *rootfs;	 /* a directory (an unpacked image), or "host" */
	const char *const *argv; /* argv[0] is the program: absolute, or looked up in PATH */
	const char *const *envp; /* the whole environment; NULL = the profile's default env */
	const char *cwd;	 /* absolute path inside the jail; NULL = "/tmp" */
	const struct sbx_bind *binds;
	size_t n_binds;
	const char *stdin_path; /* host file copied to the job's stdin, or NULL */
	const char *stdin_data; /* bytes for stdin (used when stdin_path is NULL) */
	size_t stdin_len;
	struct sbx_limits limits; /* 0 fields take the profile's defaults; above caps -> EINVAL */
	unsigned slot;		  /* the job runs as uid/gid = profile uid_base + slot */
	sbx_output_fn on_output;  /* optional: called with output as it arrives (streaming) */
	void *userdata;
	/* Optional (> 0): once readable (a signalfd, an eventfd) the job is killed; the result is
	 * internal_error "cancelled by the caller". 0 = none. */
	int cancel_fd;
};

struct sbx_output {
	char *data; /* NUL-terminated, len bytes (may contain NULs) */
	size_t len;
	bool truncated;
};

/* Steps whose cost is measured (bench). Indices into sbx_result.step_ns. */
enum sbx_step {
	SBX_STEP_PLAN,	   /* parent: validate, mount plan, cgroup, pipes */
	SBX_STEP_CLONE,	   /* parent: clone() returned */
	SBX_STEP_CGROUP,   /* child: joined the job cgroup */
	SBX_STEP_MOUNTS,   /* child: rootfs, /tmp, /dev, /proc, binds, pivot_root, masks */
	SBX_STEP_NET,	   /* child: hostname, lo up */
	SBX_STEP_FORK,	   /* pid 1: forked the job process */
	SBX_STEP_CREDS,	   /* job: rlimits, uid/gid, caps, no_new_privs */
	SBX_STEP_EXEC,	   /* job: seccomp installed, about to execve */
	SBX_STEP_EXITED,   /* parent: main program ended */
	SBX_STEP_TEARDOWN, /* parent: cgroup removed, result complete */
	_SBX_STEP_MAX,
};

struct sbx_result {
	enum sbx_status status;
	enum sbx_limit limit;
	int exit_code; /* -1 when the program did not exit normally */
	int signal;    /* 0 when not killed by a signal */
	uint64_t time_ms;
	uint64_t wall_ms;
	uint64_t memory_kb;
	struct sbx_output out;
	struct sbx_output err;
	char message[SBX_MSG_MAX];
	uint64_t step_ns[_SBX_STEP_MAX]; /* monotonic timestamps; 0 = step not reached */
};

struct sbx_config {
	const char *
		profile_dir; /* NULL: $SANDBOXD_PROFILE_DIR, built-in path, or next to the binary */
	const char *cgroup_parent; /* NULL: "sandboxd" below the cgroup this process runs in */
	int cgroup_version;	   /* 0 = detect, 1 or 2 to insist */
};

struct sbx_context;

int sbx_context_new(const struct sbx_config *cfg, struct sbx_context **ret, struct sbx_error *err);
void sbx_context_free(struct sbx_context *ctx);

/* The profile's default environment (NULL-terminated). */
const char *const *sbx_context_env(const struct sbx_context *ctx);
/*
 * For a service of several processes: call once, alone and before forking. On cgroup v2, when
 * this process is the only member of a non-root cgroup (systemd: Delegate=yes), it moves into
 * the leaf <its cgroup>/<leaf>-supervisor and the cgroup hands memory, pids (and cpu) down, so
 * the jobs' cgroups created later by any of the service's processes stay inside that subtree.
 * Returns 1 when it moved, 0 when there was nothing to do, or -errno.
 */
int sbx_cgroup_leave_home(const char *leaf, struct sbx_error *err);
/* Where the profiles are: explicit, $SANDBOXD_PROFILE_DIR, next to the binary, installed. */
int sbx_find_profile_dir(const char *explicit_dir, char *buf, size_t size, struct sbx_error *err);
/* The uid (and gid) a job in this slot runs as, and how many slots the profile allows. */
uid_t sbx_context_uid(const struct sbx_context *ctx, unsigned slot);
unsigned sbx_context_slots(const struct sbx_context *ctx);
/* Remove what jobs of a killed earlier run left (their cgroups): sbx_context_new does it once;
 * a long-lived caller repeats it now and then, as those jobs' zombies are reaped late. */
void sbx_context_reap_stale(struct sbx_context *ctx);
/* One line for operators: the backend, its controllers and where our parent cgroup is. */
void sbx_context_describe_cgroup(const struct sbx_context *ctx, char *buf, size_t size);

/*
 * Run one job. Returns -errno (EINVAL for a bad spec or limits above the caps) when nothing was
 * started; otherwise 0 and a result. A failure of the sandbox after the start is a result with
 * status internal_error and its reason in message; nothing of the job remains either way.
 */
int sbx_run(struct sbx_context *ctx, const struct sbx_spec *spec, struct sbx_result *ret,
	    struct sbx_error *err);
void sbx_result_free(struct sbx_result *r);

/*
 * The same job, driven by the caller's event loop (sandboxd's supervisor runs many at once):
 *   sbx_job_start()   plan and clone; -errno when nothing was started. spec, and everything
 *                     it points to, must stay valid until sbx_job_finish().
 *   sbx_job_fd()      becomes readable when the job has something to handle.
 *   sbx_job_poll()    handles it without blocking and enforces the limits: true when the job
 *                     has ended, else *ret_timeout_ms is when to call again at the latest.
 *   sbx_job_cancel()  kill it now (the result says "cancelled by the caller").
 *   sbx_job_finish()  fill the result, remove every trace of the job, free it. Called on a job
 *                     that has not ended, it kills it first.
 */
struct sbx_job;

int sbx_job_start(struct sbx_context *ctx, const struct sbx_spec *spec, struct sbx_job **ret,
		  struct sbx_error *err);
int sbx_job_fd(const struct sbx_job *job);
bool sbx_job_poll(struct sbx_job *job, int *ret_timeout_ms);
void sbx_job_cancel(struct sbx_job *job);
void sbx_job_finish(struct sbx_job *job, struct sbx_result *ret);

const char *sbx_status_name(enum sbx_status s);
const char *sbx_limit_name(enum sbx_limit l); /* NULL for SBX_LIMIT_NONE */

/* The result as a JSON object (a malloc'd NUL-terminated string). */
int sbx_result_to_json(const struct sbx_result *r, char **ret_json, struct sbx_error *err);

#endif
