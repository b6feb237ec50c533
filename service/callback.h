/* SPDX-License-Identifier: MIT */
/*
 * callback.h - delivery of finished jobs to their callback_url: one thread in the HTTP process
 * (never in the supervisor, which must not block on the network). The job's JSON
 * (hist_job_to_json) is POSTed with Content-Type: application/json and X-Sandboxd-Job: ID;
 * any 2xx answer is a delivery. Otherwise it retries with exponential backoff (0.5 s, 1 s,
 * 2 s, ... capped at 30 s) up to cfg->callback_retries more times, then records "failed".
 * The state lives in history (callback_state), so deliveries pending at a restart resume.
 */
#ifndef SVC_CALLBACK_H
#define SVC_CALLBACK_H

#include "config.h"

struct cb;

/* Starts the thread; it first delivers whatever history holds as pending. */
int cb_start(const struct cfg *cfg, const char *history_path, struct cb **ret,
	     struct sbx_error *err);
/* A job with a callback finished: look at history again now. Thread-safe, never blocks. */
void cb_notify(struct cb *c);
/* Stop the thread: an attempt in flight ends within callback_timeout_ms. */
void cb_stop(struct cb *c);

#endif
