/* SPDX-License-Identifier: MIT */
/*
 * runner.h - one job of the service, from request to answer: a private work directory with the
 * request's files, then the language's stages (compile, if any, then run) as libsandbox jobs,
 * then the answer object. Driven by the supervisor's event loop; never blocks.
 */
#ifndef SVC_RUNNER_H
#define SVC_RUNNER_H

#include <stdbool.h>

#include "languages.h"
#include "request.h"
#include "sandbox.h"

/* Where work directories are mounted (in the supervisor's own mount namespace). */
#define RUN_WORK_DIR "/run/sandboxd/work"
/* What the job sees: its files, and its working directory. */
#define RUN_BOX "/box"

struct run_input {
	const char *id;
	const struct req *req; /* must outlive the run */
	const struct lang *lang;
	unsigned slot;
};

struct run;

/* Prepare the work directory and start the first stage. -errno when nothing was started. */
int run_start(struct sbx_context *ctx, const struct run_input *in, struct run **ret,
	      struct sbx_error *err);
/* Readable when run_poll() has work; the same fd for every stage. */
int run_fd(const struct run *r);
/* Handle what is ready: true when every stage has ended, else the latest time to call again. */
bool run_poll(struct run *r, int *ret_timeout_ms);
void run_cancel(struct run *r);

struct run_outcome {
	char *json;	  /* the answer object: the run stage's result + id, language, version,
			      compile (the compile stage's result or null) */
	char status[32];  /* the answer's status */
	double program_s; /* wall time of the programs (compile + run) */
	double total_s;	  /* from run_start to the end of the last stage */
};

/* Collect the outcome, remove the work directory, free r. */
int run_finish(struct run *r, struct run_outcome *ret, struct sbx_error *err);

/* Once per supervisor: a private mount namespace with a tmpfs on RUN_WORK_DIR. */
int run_setup_workspace(struct sbx_error *err);

#endif
