/* SPDX-License-Identifier: MIT */
/*
 * cgroup.h - one interface over two kernel APIs: cgroup v2 (cgroup_v2.c) and v1 (cgroup_v1.c).
 *
 * The backend is chosen once at start-up (cg_root_open). Every job gets a leaf cgroup below our
 * own parent cgroup ("sandboxd" below the cgroup this process started in, or a configured one);
 * nothing outside that parent is ever written, moved or removed.
 *
 * Parent side only, except cg_job_join(), which the child calls with plain syscalls.
 */
#ifndef SBX_CGROUP_H
#define SBX_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "sandbox.h"

#define CG_MAX_CONTROLLERS 6
#define CG_PATH_MAX	   512

/* One hierarchy directory we own (v2: the unified tree; v1: one per controller mount). */
struct cg_dir {
	char controller[16];	 /* "" for v2 */
	char path[CG_PATH_MAX];	 /* absolute path of our parent cgroup */
	bool created;		 /* we made it (and remove it when empty) */
	char v2_controllers[32]; /* v2: what it hands to its children, "+memory +pids +cpu" */
};

struct cg_root {
	const struct cg_ops *ops;
	struct cg_dir dirs[CG_MAX_CONTROLLERS];
	unsigned n_dirs;
	unsigned long long seq; /* job counter for unique names */
	/* v2 only: our own cgroup, and the leaf we moved into so that it may enable controllers */
	char home[CG_PATH_MAX];
	struct cg_dir supervisor;
	bool moved_self;
	bool enabled_home; /* we wrote +controllers into home's cgroup.subtree_control */
	char v2_controllers[32];
};

/* One job's cgroup(s). Plain data: the child uses procs_fd[] after clone. */
struct cg_job {
	char name[64];
	int dir_fd[CG_MAX_CONTROLLERS];	  /* O_DIRECTORY fds of the leaf per hierarchy */
	int procs_fd[CG_MAX_CONTROLLERS]; /* cgroup.procs of each leaf, opened O_WRONLY */
	unsigned n;
	const struct cg_root *root;
};

struct cg_stats {
	uint64_t cpu_usec;  /* CPU time of every task ever in the cgroup */
	uint64_t mem_peak;  /* peak memory in bytes */
	uint64_t oom_kills; /* OOM kills inside the cgroup */
};

struct cg_ops {
	const char *name; /* "v1" / "v2" */
	/* Find the hierarchy, check the controllers, create our parent cgroup. */
	int (*setup)(struct cg_root *root, const char *parent, struct sbx_error *err);
	/* Make a leaf with these limits; open its fds. */
	int (*create)(struct cg_root *root, const struct sbx_limits *lim, struct cg_job *ret,
		      struct sbx_error *err);
	int (*cpu_usec)(const struct cg_job *job, uint64_t *ret, struct sbx_error *err);
	int (*stats)(const struct cg_job *job, struct cg_stats *ret, struct sbx_error *err);
	/* Kill every task in the leaf (v2: cgroup.kill; v1: freeze, SIGKILL each, thaw). */
	int (*kill)(const struct cg_job *job, struct sbx_error *err);
	/* Kill what is left, wait until empty, remove the leaf, close the fds. */
	int (*destroy)(struct cg_job *job, struct sbx_error *err);
	/* Undo what setup did beyond creating dirs[] (may be NULL). Best effort. */
	void (*close)(struct cg_root *root);
};

extern const struct cg_ops cg_v1_ops;
extern const struct cg_ops cg_v2_ops;

/* version: 0 = detect (v2 when a usable unified hierarchy exists, else v1). */
int cg_root_open(struct cg_root *root, const char *parent, int version, struct sbx_error *err);
/* Remove empty leaves of dead creators (also done by cg_root_open): a job killed with its
 * creator stays in its cgroup as a zombie until some reaper collects it. */
void cg_root_reap_stale(const struct cg_root *root);
/* Remove the parent cgroups we created, if empty (another user may still be in them). */
void cg_root_close(struct cg_root *root);

static inline int cg_job_create(struct cg_root *root, const struct sbx_limits *lim,
				struct cg_job *ret, struct sbx_error *err)
{
	return root->ops->create(root, lim, ret, err);
}

/* Child: move the calling process into every leaf (writes "0" to each cgroup.procs). */
int cg_job_join(const struct cg_job *job);

/* The leaf to clone a job straight into (CLONE_INTO_CGROUP), or -1 where the API has none (v1). */
int cg_job_clone_fd(const struct cg_job *job);

/* Shared helpers for the backends (cgroup.c). */
void cg_job_init(struct cg_job *job);
void cg_job_close_fds(struct cg_job *job);
/* Mount point of the v1 hierarchy that carries controller, or of cgroup2 ("" controller). */
int cg_mount_point(const char *controller, char *buf, size_t size, struct sbx_error *err);
/* rmdir a leaf, retrying briefly while the kernel finishes tearing tasks down. */
int cg_rmdir_wait(const char *path, struct sbx_error *err);
/* Where this process sits in a hierarchy, as an absolute path (mount point + own cgroup). */
int cg_hierarchy_path(const char *controller, char *buf, size_t size, struct sbx_error *err);
/* Index in root->dirs of the hierarchy carrying controller (v2: always 0), or -ENOENT. */
int cg_dir_index(const struct cg_root *root, const char *controller);
/* mkdir our parent cgroup (EEXIST is fine), remembering whether we made it. */
int cg_dir_make(struct cg_dir *dir, struct sbx_error *err);
/*
 * mkdir leaf `name` below root->dirs[i] and open it. If another process removed the (empty)
 * parent between our setup and now, remake(dir) re-creates it and we retry once.
 */
int cg_leaf_make(struct cg_root *root, unsigned i, const char *name,
		 int (*remake)(struct cg_dir *dir, struct sbx_error *err), int *ret_fd,
		 struct sbx_error *err);

/* A limit file and how to format it from the limits; format returns 0 for "leave default". */
struct cg_knob {
	const char *controller; /* v1 hierarchy; "" for v2 */
	const char *file;
	int (*format)(const struct sbx_limits *lim, char *buf, size_t size);
	bool optional; /* the file may be missing (e.g. swap accounting off): skip it */
};
int cg_knobs_apply(const struct cg_job *job, const struct cg_knob *knobs, size_t n,
		   const struct sbx_limits *lim, struct sbx_error *err);

/* Formatters shared by both backends' knob tables ("0" limits leave the default). */
int cg_format_memory(const struct sbx_limits *lim, char *buf, size_t size);
int cg_format_pids(const struct sbx_limits *lim, char *buf, size_t size);
/* Is word an element of list (separated by sep)? For cgroup.controllers and mount options. */
bool cg_list_has(const char *list, const char *word, char sep);
/* v2 detection without side effects: our cgroup2 path offers memory, pids and cpu. */
int cg_v2_usable(char *ret_home, size_t size, struct sbx_error *err);
/* sbx_cgroup_leave_home(): 1 when moved, 0 when there was nothing to do. */
int cg_v2_leave_home(const char *leaf, struct sbx_error *err);

/* Small readers: a file holding one number; the value of "key N" in a flat-keyed file. */
int cg_read_u64(int dir_fd, const char *file, uint64_t *ret, struct sbx_error *err);
int cg_read_key_u64(int dir_fd, const char *file, const char *key, uint64_t *ret,
		    struct sbx_error *err);
/* SIGKILL every pid listed in dir_fd/cgroup.procs. Returns how many were signalled. */
int cg_kill_procs(int dir_fd, struct sbx_error *err);
/* No task in this cgroup (one read of cgroup.procs). */
bool cg_is_empty(int dir_fd);
/* Sleep a little, growing from 50 us to 5 ms: short waits stay cheap, long ones don't spin. */
void cg_backoff(unsigned *step);

#endif
