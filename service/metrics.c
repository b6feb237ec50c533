/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - the Prometheus text served at GET /metrics (text format 0.0.4).
 *
 * Owns: the job counters and histograms kept by the supervisor (struct metrics: one thread, no
 * locks), the HTTP counters kept by the request threads (a fixed table of C11 atomics indexed by
 * status code, so counting never allocates or locks), and their rendering.
 * Must not: log, block, or take locks: metrics_http_count runs on every request.
 *
 * Histograms store per-bucket counts; the cumulative "le" buckets Prometheus wants are summed
 * at render time, so an observation is one increment.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

#define HTTP_CODE_MIN 100
#define HTTP_CODE_MAX 599

/* The JSON names of results and of jobs; the index is the slot in metrics_lang.by_status. */
static const char *const status_names[] = {
	"ok",		"runtime_error", "signaled",	 "timeout",	   "memory_limit",
	"output_limit", "compile_error", "wrong_answer", "internal_error", "cancelled",
	"failed",
};

_Static_assert(ELEMENTSOF(status_names) <= ELEMENTSOF(((struct metrics_lang *)0)->by_status),
	       "metrics_lang.by_status has a slot per status");

/* Upper bounds in seconds, and the same as printed in le="..." (no float formatting drift). */
static const double bucket_bounds[METRICS_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};
static const char *const bucket_labels[METRICS_BUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
	"0.25",	 "0.5",	   "1",	    "2.5",  "5",     "10",   "30",
};

static _Atomic uint64_t http_by_code[HTTP_CODE_MAX - HTTP_CODE_MIN + 1];
static _Atomic uint64_t http_rate_limited;

int metrics_status_index(const char *status)
{
	if (!status)
		return -1;
	for (size_t i = 0; i < ELEMENTSOF(status_names); i++)
		if (strcmp(status, status_names[i]) == 0)
			return (int)i;
	return -1;
}

void metrics_init(struct metrics *m)
{
	*m = (struct metrics){ 0 };
}

void metrics_free(struct metrics *m)
{
	free(m->langs);
	*m = (struct metrics){ 0 };
}

static void hist_observe(struct metrics_hist *h, double v)
{
	/* A clock step can make a difference of two readings slightly negative. */
	if (isnan(v))
		return;
	if (v < 0)
		v = 0;
	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		if (v <= bucket_bounds[i]) {
			h->bucket[i]++;
			break;
		}
	}
	h->count++; /* beyond the last bound: only +Inf, which is count */
	h->sum += v;
}

/* The language's entry, added on first sight; NULL only when out of memory. */
static struct metrics_lang *lang_get(struct metrics *m, const char *language)
{
	char name[sizeof(m->langs[0].name)];
	struct metrics_lang *v;

	snprintf(name, sizeof(name), "%s", language ? language : "unknown");
	for (size_t i = 0; i < m->n_langs; i++)
		if (strcmp(m->langs[i].name, name) == 0)
			return &m->langs[i];
	v = realloc(m->langs, (m->n_langs + 1) * sizeof(*v));
	if (!v)
		return NULL;
	m->langs = v;
	v = &m->langs[m->n_langs++];
	*v = (struct metrics_lang){ 0 };
	memcpy(v->name, name, sizeof(name));
	return v;
}

void metrics_job_done(struct metrics *m, const char *language, const char *status, double run_s,
		      double overhead_s)
{
	struct metrics_lang *l = lang_get(m, language);
	int idx = metrics_status_index(status);

	/* Out of memory: losing one observation beats failing the job. */
	if (!l)
		return;
	if (idx >= 0)
		l->by_status[idx]++;
	if (run_s >= 0)
		hist_observe(&l->run, run_s);
	hist_observe(&l->overhead, overhead_s);
}

void metrics_job_started(struct metrics *m, double queued_s)
{
	hist_observe(&m->queue, queued_s);
}

/* A label value per the text format: backslash, double quote and newline escaped. */
static void put_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\':
			fputs("\\\\", f);
			break;
		case '"':
			fputs("\\\"", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static void put_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* {language="...",le="..."}, either part optional. */
static void put_labels(FILE *f, const char *lang, const char *le)
{
	if (!lang && !le)
		return;
	fputc('{', f);
	if (lang) {
		fputs("language=\"", f);
		put_label_value(f, lang);
		fputc('"', f);
	}
	if (lang && le)
		fputc(',', f);
	if (le)
		fprintf(f, "le=\"%s\"", le);
	fputc('}', f);
}

/* One histogram's series; lang NULL: no language label. */
static void put_hist(FILE *f, const char *name, const char *lang, const struct metrics_hist *h)
{
	uint64_t cum = 0;

	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		cum += h->bucket[i];
		fprintf(f, "%s_bucket", name);
		put_labels(f, lang, bucket_labels[i]);
		fprintf(f, " %llu\n", (unsigned long long)cum);
	}
	fprintf(f, "%s_bucket", name);
	put_labels(f, lang, "+Inf");
	fprintf(f, " %llu\n%s_sum", (unsigned long long)h->count, name);
	put_labels(f, lang, NULL);
	fprintf(f, " %.9g\n%s_count", h->sum, name);
	put_labels(f, lang, NULL);
	fprintf(f, " %llu\n", (unsigned long long)h->count);
}

static void put_jobs_total(FILE *f, const struct metrics *m)
{
	put_family(f, "sandboxd_jobs_total", "counter", "Finished jobs by language and status.");
	for (size_t i = 0; i < m->n_langs; i++) {
		for (size_t s = 0; s < ELEMENTSOF(status_names); s++) {
			if (!m->langs[i].by_status[s])
				continue;
			fputs("sandboxd_jobs_total{language=\"", f);
			put_label_value(f, m->langs[i].name);
			fprintf(f, "\",status=\"%s\"} %llu\n", status_names[s],
				(unsigned long long)m->langs[i].by_status[s]);
		}
	}
}

static void put_gauges(FILE *f, unsigned queued, unsigned running, unsigned slots)
{
	put_family(f, "sandboxd_queue_depth", "gauge", "Jobs waiting for a slot.");
	fprintf(f, "sandboxd_queue_depth %u\n", queued);
	put_family(f, "sandboxd_jobs_running", "gauge", "Jobs running now.");
	fprintf(f, "sandboxd_jobs_running %u\n", running);
	put_family(f, "sandboxd_slots", "gauge", "Jobs that may run at once.");
	fprintf(f, "sandboxd_slots %u\n", slots);
}

/* The text written to a memstream, or NULL when any write failed. */
static char *finish(FILE *f, char **buf)
{
	bool bad = ferror(f);

	if (fclose(f) != 0 || bad) {
		free(*buf);
		return NULL;
	}
	return *buf;
}

char *metrics_render(const struct metrics *m, unsigned queued, unsigned running, unsigned slots)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	put_jobs_total(f, m);
	put_gauges(f, queued, running, slots);
	put_family(f, "sandboxd_job_run_seconds", "histogram", "Wall time of the program run.");
	for (size_t i = 0; i < m->n_langs; i++)
		put_hist(f, "sandboxd_job_run_seconds", m->langs[i].name, &m->langs[i].run);
	put_family(f, "sandboxd_job_overhead_seconds", "histogram",
		   "Time a job spent in sandboxd beyond its program, queue excluded.");
	for (size_t i = 0; i < m->n_langs; i++)
		put_hist(f, "sandboxd_job_overhead_seconds", m->langs[i].name,
			 &m->langs[i].overhead);
	put_family(f, "sandboxd_job_queue_seconds", "histogram", "Time from accepted to started.");
	put_hist(f, "sandboxd_job_queue_seconds", NULL, &m->queue);
	return finish(f, &buf);
}

void metrics_http_count(int status_code)
{
	/* Codes outside 100..599 are not HTTP statuses; they have no series. */
	if (status_code < HTTP_CODE_MIN || status_code > HTTP_CODE_MAX)
		return;
	atomic_fetch_add_explicit(&http_by_code[status_code - HTTP_CODE_MIN], 1,
				  memory_order_relaxed);
}

void metrics_http_rate_limited(void)
{
	atomic_fetch_add_explicit(&http_rate_limited, 1, memory_order_relaxed);
}

char *metrics_http_render(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	uint64_t v;

	if (!f)
		return NULL;
	put_family(f, "sandboxd_http_requests_total", "counter", "HTTP answers by status code.");
	for (int c = HTTP_CODE_MIN; c <= HTTP_CODE_MAX; c++) {
		v = atomic_load_explicit(&http_by_code[c - HTTP_CODE_MIN], memory_order_relaxed);
		if (v)
			fprintf(f, "sandboxd_http_requests_total{code=\"%d\"} %llu\n", c,
				(unsigned long long)v);
	}
	put_family(f, "sandboxd_http_rate_limited_total", "counter",
		   "Requests refused by the rate limiter.");
	v = atomic_load_explicit(&http_rate_limited, memory_order_relaxed);
	fprintf(f, "sandboxd_http_rate_limited_total %llu\n", (unsigned long long)v);
	return finish(f, &buf);
}
