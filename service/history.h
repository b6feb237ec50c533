/* SPDX-License-Identifier: MIT */
/*
 * history.h - every job, its request, result and timings, in SQLite (WAL) at
 * STATE/history.db. The supervisor is the only writer of job rows (hist_open(..., true));
 * the HTTP threads read with their own connections (hist_open(..., false)), and the callback
 * thread records deliveries with hist_callback_*.
 *
 * A job's status: "queued", "running", "cancelled", "failed" (the service could not run it:
 * error says why), or the result's status ("ok", "runtime_error", "timeout", ...).
 */
#ifndef SVC_HISTORY_H
#define SVC_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox.h"

struct hist;

struct hist_job {
	char id[40];
	char *owner; /* API key name, or NULL */
	char *language;
	char *version;
	char *status;
	bool sync;	      /* came through /execute */
	char *request;	      /* canonical request JSON (request.h) */
	char *result;	      /* the answer's JSON object, or NULL while queued/running */
	char *error;	      /* why a job failed or was cancelled, or NULL */
	char *callback_url;   /* or NULL */
	char *callback_state; /* NULL, "pending", "delivered", "failed" */
	int64_t created_ms, started_ms, finished_ms; /* unix ms; 0 = not yet */
	int64_t seq;				     /* insertion order; newest = highest */
};

struct hist_filter {
	const char *owner;    /* NULL: any */
	const char *language; /* NULL: any */
	const char *status;   /* NULL: any */
	int64_t before_seq;   /* cursor: only seq < before_seq; 0 = from the newest */
	unsigned limit;	      /* 1..1000 */
};

/* Open (creating the schema when needed). writer: WAL, synchronous=NORMAL, busy timeout. */
int hist_open(const char *path, bool writer, struct hist **ret, struct sbx_error *err);
void hist_close(struct hist *h);

/* A new job (status "queued" unless given). Copies every string. */
int hist_insert(struct hist *h, const struct hist_job *j, struct sbx_error *err);
int hist_mark_running(struct hist *h, const char *id, int64_t started_ms, struct sbx_error *err);
/* The end of a job: status, result JSON (or NULL), error (or NULL), finished_ms; sets
 * callback_state "pending" when the job has a callback_url. */
int hist_finish(struct hist *h, const char *id, const char *status, const char *result,
		const char *error, int64_t finished_ms, struct sbx_error *err);
/* -ENOENT when no such job. */
int hist_get(struct hist *h, const char *id, struct hist_job *ret, struct sbx_error *err);
int hist_delete(struct hist *h, const char *id, struct sbx_error *err);
/* Newest first, without request and without the result's stdout and stderr (a page stays small
 * whatever the jobs printed). *ret_next_seq: the cursor for the next page, 0 when this was the last page. */
int hist_list(struct hist *h, const struct hist_filter *f, struct hist_job **ret, size_t *ret_n,
	      int64_t *ret_next_seq, struct sbx_error *err);
void hist_job_free(struct hist_job *j);		   /* the strings inside, not j itself */
void hist_jobs_free(struct hist_job *v, size_t n); /* each, then the array */

/* Start-up recovery: every "running" job becomes "failed" with reason; the "queued" ones are
 * returned oldest first (the caller runs them again). */
int hist_recover(struct hist *h, const char *reason, struct hist_job **ret_queued, size_t *ret_n,
		 struct sbx_error *err);
/* Delete finished jobs older than cutoff_ms. Returns how many. */
int hist_prune(struct hist *h, int64_t cutoff_ms, struct sbx_error *err);
/* Totals by status of the jobs history holds (for /api/v1/queue totals). */
int hist_count_by_status(struct hist *h, char ***ret_status, uint64_t **ret_count, size_t *ret_n,
			 struct sbx_error *err);

/* Callbacks: jobs finished with callback_state "pending", oldest first. */
int hist_callback_pending(struct hist *h, struct hist_job **ret, size_t *ret_n,
			  struct sbx_error *err);
/* state: "delivered" or "failed"; attempts: how many POSTs were made. */
int hist_callback_done(struct hist *h, const char *id, const char *state, unsigned attempts,
		       struct sbx_error *err);

/*
 * A job as the API shows it (GET /api/v1/jobs/{id}, the list, callbacks): the stored result
 * object when finished (the execute answer: id, language, version, status, stdout, ...) with
 * created_at, started_at, finished_at (RFC 3339 UTC, or null) and error added; for a queued or
 * running job {id, status, language, version, created_at, started_at, finished_at, error: null}.
 * malloc'd string, NULL on allocation failure.
 */
char *hist_job_to_json(const struct hist_job *j);

int64_t hist_now_ms(void);

#endif
