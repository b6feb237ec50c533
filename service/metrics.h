/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - Prometheus text for GET /metrics. The supervisor owns the job metrics (single
 * thread, no locks); the HTTP side counts requests by status code with atomics. Both render to
 * text and /metrics concatenates the two.
 *
 *   sandboxd_jobs_total{language,status}            counter
 *   sandboxd_queue_depth, sandboxd_jobs_running, sandboxd_slots   gauges
 *   sandboxd_job_run_seconds{language}              histogram: the program's wall time
 *   sandboxd_job_overhead_seconds{language}         histogram: time a job spent in sandboxd
 *                                                   beyond its program (queue excluded)
 *   sandboxd_job_queue_seconds                      histogram: time from accepted to started
 *   sandboxd_http_requests_total{code}              counter (HTTP side)
 *   sandboxd_http_rate_limited_total                counter (HTTP side)
 */
#ifndef SVC_METRICS_H
#define SVC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_BUCKETS 14

struct metrics_hist {
	uint64_t bucket[METRICS_BUCKETS]; /* cumulative at render time, not here */
	uint64_t count;
	double sum;
};

struct metrics_lang {
	char name[40];
	uint64_t by_status[16]; /* index: metrics_status_index() */
	struct metrics_hist run, overhead;
};

struct metrics {
	struct metrics_lang *langs;
	size_t n_langs;
	struct metrics_hist queue;
};

/* The statuses counted, in a fixed order (the JSON names of results and of jobs). */
int metrics_status_index(const char *status); /* -1 when unknown */

void metrics_init(struct metrics *m);
void metrics_free(struct metrics *m);
/* One finished job. run_s < 0: no program ran (failed, cancelled before starting). */
void metrics_job_done(struct metrics *m, const char *language, const char *status, double run_s,
		      double overhead_s);
void metrics_job_started(struct metrics *m, double queued_s);
/* Job metrics plus the gauges, as Prometheus text (malloc'd). */
char *metrics_render(const struct metrics *m, unsigned queued, unsigned running, unsigned slots);

/* HTTP side: lock-free counters. */
void metrics_http_count(int status_code);
void metrics_http_rate_limited(void);
char *metrics_http_render(void);

#endif
