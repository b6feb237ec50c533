/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - the /metrics text as a scraper reads it: every line of the rendering is
 * parsed back (name, labels with escapes undone, value), then the counters, the cumulative
 * buckets (never decreasing, +Inf equal to _count), label escaping, truncated language names,
 * and one # HELP and # TYPE per family are checked.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "unit.h"
#include "util.h"

#define MAX_SAMPLES 512
#define MAX_LABELS  3

struct label {
	char key[32];
	char value[128];
};

struct sample {
	char name[96];
	struct label labels[MAX_LABELS];
	int n_labels;
	double value;
};

struct family {
	char name[96];
	char type[128];
	int n_help, n_type;
};

struct scrape {
	struct sample s[MAX_SAMPLES];
	int n;
	struct family fam[32];
	int n_fam;
	int bad_lines;
};

static const char *const le_values[] = { "0.001", "0.0025", "0.005", "0.01", "0.025",
					 "0.05",  "0.1",    "0.25",  "0.5",  "1",
					 "2.5",	  "5",	    "10",    "30",   "+Inf" };

static struct family *family_of(struct scrape *sc, const char *name)
{
	for (int i = 0; i < sc->n_fam; i++)
		if (strcmp(sc->fam[i].name, name) == 0)
			return &sc->fam[i];
	if (sc->n_fam == (int)ELEMENTSOF(sc->fam))
		return NULL;
	snprintf(sc->fam[sc->n_fam].name, sizeof(sc->fam[0].name), "%s", name);
	return &sc->fam[sc->n_fam++];
}

static int parse_comment(struct scrape *sc, const char *line)
{
	char kind[8], name[96], rest[128];
	struct family *f;

	if (sscanf(line, "# %7s %95s %127[^\n]", kind, name, rest) != 3)
		return -1;
	f = family_of(sc, name);
	if (!f)
		return -1;
	if (strcmp(kind, "HELP") == 0) {
		f->n_help++;
	} else if (strcmp(kind, "TYPE") == 0) {
		f->n_type++;
		snprintf(f->type, sizeof(f->type), "%s", rest);
	} else {
		return -1;
	}
	return 0;
}

/* A quoted label value; returns the position after the closing quote, NULL when malformed. */
static const char *parse_quoted(const char *p, char *out, size_t size)
{
	static const char esc_from[] = "\\\"n", esc_to[] = "\\\"\n";
	size_t n = 0;

	if (*p++ != '"')
		return NULL;
	for (; *p && *p != '"'; p++) {
		char c = *p;
		if (c == '\\') {
			const char *e = strchr(esc_from, p[1]);
			if (!p[1] || !e)
				return NULL;
			c = esc_to[e - esc_from];
			p++;
		}
		if (n + 1 >= size)
			return NULL;
		out[n++] = c;
	}
	out[n] = '\0';
	return *p == '"' ? p + 1 : NULL;
}

static const char *parse_labels(struct sample *s, const char *p)
{
	while (*p != '}') {
		struct label *l = &s->labels[s->n_labels];
		size_t k = strcspn(p, "=");
		if (s->n_labels == MAX_LABELS || k == 0 || k >= sizeof(l->key) || !p[k])
			return NULL;
		memcpy(l->key, p, k);
		l->key[k] = '\0';
		p = parse_quoted(p + k + 1, l->value, sizeof(l->value));
		if (!p)
			return NULL;
		s->n_labels++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return NULL;
	}
	return p + 1;
}

static int parse_sample(struct scrape *sc, const char *line)
{
	struct sample *s = &sc->s[sc->n];
	size_t k = strcspn(line, "{ ");
	const char *p = line + k;
	char *end;

	if (sc->n == MAX_SAMPLES || k == 0 || k >= sizeof(s->name))
		return -1;
	*s = (struct sample){ 0 };
	memcpy(s->name, line, k);
	if (*p == '{')
		p = parse_labels(s, p + 1);
	if (!p || *p != ' ')
		return -1;
	s->value = strtod(p + 1, &end);
	if (end == p + 1 || *end != '\0')
		return -1;
	sc->n++;
	return 0;
}

static void parse(struct scrape *sc, char *text)
{
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int r = line[0] == '#' ? parse_comment(sc, line) : parse_sample(sc, line);
		if (r < 0) {
			fprintf(stderr, "  unparsable line: %s\n", line);
			sc->bad_lines++;
		}
	}
}

static const char *label_of(const struct sample *s, const char *key)
{
	for (int i = 0; i < s->n_labels; i++)
		if (strcmp(s->labels[i].key, key) == 0)
			return s->labels[i].value;
	return NULL;
}

static bool label_is(const struct sample *s, const char *key, const char *want)
{
	const char *v = label_of(s, key);

	return want ? v && strcmp(v, want) == 0 : v == NULL;
}

/* The value of name{k1=v1,k2=v2} (NULL key: unused; NULL value: label absent), NAN if none. */
static double value(const struct scrape *sc, const char *name, const char *k1, const char *v1,
		    const char *k2, const char *v2)
{
	for (int i = 0; i < sc->n; i++) {
		const struct sample *s = &sc->s[i];
		if (strcmp(s->name, name) != 0)
			continue;
		if ((k1 && !label_is(s, k1, v1)) || (k2 && !label_is(s, k2, v2)))
			continue;
		return s->value;
	}
	return NAN;
}

static int count_named(const struct scrape *sc, const char *name)
{
	int n = 0;

	for (int i = 0; i < sc->n; i++)
		n += strcmp(sc->s[i].name, name) == 0;
	return n;
}

/* Every le bucket present, never decreasing, +Inf == _count; returns _count. */
static double check_histogram(const struct scrape *sc, const char *fam, const char *lang)
{
	char bucket[128], count[128];
	double prev = 0, v = NAN;

	snprintf(bucket, sizeof(bucket), "%s_bucket", fam);
	snprintf(count, sizeof(count), "%s_count", fam);
	for (size_t i = 0; i < ELEMENTSOF(le_values); i++) {
		v = value(sc, bucket, "language", lang, "le", le_values[i]);
		CHECK(!isnan(v));
		CHECK(v >= prev);
		prev = v;
	}
	CHECK(v == value(sc, count, "language", lang, NULL, NULL));
	return value(sc, count, "language", lang, NULL, NULL);
}

static struct scrape *render_and_parse(const struct metrics *m)
{
	struct scrape *sc = calloc(1, sizeof(*sc));
	char *text = metrics_render(m, 3, 2, 4);
	char *http = metrics_http_render();

	CHECK(sc && text && http);
	if (sc && text)
		parse(sc, text);
	if (sc && http)
		parse(sc, http);
	free(text);
	free(http);
	return sc;
}

TEST(status_index_order)
{
	static const char *const order[] = {
		"ok",		"runtime_error", "signaled",	 "timeout",	   "memory_limit",
		"output_limit", "compile_error", "wrong_answer", "internal_error", "cancelled",
		"failed"
	};

	for (size_t i = 0; i < ELEMENTSOF(order); i++)
		CHECK(metrics_status_index(order[i]) == (int)i);
	CHECK(metrics_status_index("queued") == -1);
	CHECK(metrics_status_index("") == -1);
	CHECK(metrics_status_index(NULL) == -1);
}

TEST(counters_and_gauges)
{
	struct metrics m;
	struct scrape *sc;

	metrics_init(&m);
	metrics_job_done(&m, "python", "ok", 0.02, 0.003);
	metrics_job_done(&m, "python", "ok", 0.5, 0.004);
	metrics_job_done(&m, "python", "timeout", 2.0, 0.01);
	metrics_job_done(&m, "c", "compile_error", 0.3, 0.02);
	metrics_job_done(&m, "c", "cancelled", -1, 0.001);
	sc = render_and_parse(&m);
	if (!sc)
		goto out;
	CHECK(sc->bad_lines == 0);
	CHECK(value(sc, "sandboxd_jobs_total", "language", "python", "status", "ok") == 2);
	CHECK(value(sc, "sandboxd_jobs_total", "language", "python", "status", "timeout") == 1);
	CHECK(value(sc, "sandboxd_jobs_total", "language", "c", "status", "compile_error") == 1);
	CHECK(value(sc, "sandboxd_jobs_total", "language", "c", "status", "cancelled") == 1);
	/* only non-zero series */
	CHECK(count_named(sc, "sandboxd_jobs_total") == 4);
	CHECK(isnan(value(sc, "sandboxd_jobs_total", "language", "c", "status", "ok")));
	CHECK(value(sc, "sandboxd_queue_depth", NULL, NULL, NULL, NULL) == 3);
	CHECK(value(sc, "sandboxd_jobs_running", NULL, NULL, NULL, NULL) == 2);
	CHECK(value(sc, "sandboxd_slots", NULL, NULL, NULL, NULL) == 4);
out:
	free(sc);
	metrics_free(&m);
}

TEST(histograms_cumulative)
{
	struct metrics m;
	struct scrape *sc;

	metrics_init(&m);
	metrics_job_done(&m, "python", "ok", 0.003, 0.001);
	metrics_job_done(&m, "python", "ok", 0.003, 0.0005);
	metrics_job_done(&m, "python", "ok", 0.7, 0.2);
	metrics_job_done(&m, "python", "ok", 100, 0.2); /* beyond 30 s: +Inf only */
	metrics_job_done(&m, "python", "failed", -1, 0.05);
	metrics_job_started(&m, 0.0001);
	metrics_job_started(&m, 12);
	sc = render_and_parse(&m);
	if (!sc)
		goto out;
	CHECK(sc->bad_lines == 0);
	/* run_s < 0 is no observation: 4 runs, 5 overheads */
	CHECK(check_histogram(sc, "sandboxd_job_run_seconds", "python") == 4);
	CHECK(check_histogram(sc, "sandboxd_job_overhead_seconds", "python") == 5);
	CHECK(check_histogram(sc, "sandboxd_job_queue_seconds", NULL) == 2);
	CHECK(value(sc, "sandboxd_job_run_seconds_bucket", "language", "python", "le", "0.0025") ==
	      0);
	CHECK(value(sc, "sandboxd_job_run_seconds_bucket", "language", "python", "le", "0.005") ==
	      2);
	CHECK(value(sc, "sandboxd_job_run_seconds_bucket", "language", "python", "le", "1") == 3);
	CHECK(value(sc, "sandboxd_job_run_seconds_bucket", "language", "python", "le", "30") == 3);
	CHECK(value(sc, "sandboxd_job_run_seconds_bucket", "language", "python", "le", "+Inf") ==
	      4);
	CHECK(fabs(value(sc, "sandboxd_job_run_seconds_sum", "language", "python", NULL, NULL) -
		   100.706) < 1e-6);
	/* a bound is inclusive: le="0.001" holds 0.001 */
	CHECK(value(sc, "sandboxd_job_overhead_seconds_bucket", "language", "python", "le",
		    "0.001") == 2);
	CHECK(value(sc, "sandboxd_job_queue_seconds_bucket", "le", "0.001", NULL, NULL) == 1);
	CHECK(value(sc, "sandboxd_job_queue_seconds_bucket", "le", "10", NULL, NULL) == 1);
	CHECK(value(sc, "sandboxd_job_queue_seconds_bucket", "le", "30", NULL, NULL) == 2);
out:
	free(sc);
	metrics_free(&m);
}

TEST(label_escaping_and_truncation)
{
	static const char weird[] = "we\"ird\\lang\nx";
	char longname[64], truncated[40];
	struct metrics m;
	struct scrape *sc;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memcpy(truncated, longname, 39);
	truncated[39] = '\0';
	metrics_init(&m);
	metrics_job_done(&m, weird, "ok", 0.1, 0.01);
	metrics_job_done(&m, longname, "ok", 0.1, 0.01);
	/* the same 39 first characters: the same language */
	longname[50] = 'b';
	metrics_job_done(&m, longname, "wrong_answer", 0.1, 0.01);
	CHECK(m.n_langs == 2);
	sc = render_and_parse(&m);
	if (!sc)
		goto out;
	/* escaped on the wire, the original after unescaping: no line broken by the newline */
	CHECK(sc->bad_lines == 0);
	CHECK(value(sc, "sandboxd_jobs_total", "language", weird, "status", "ok") == 1);
	CHECK(check_histogram(sc, "sandboxd_job_run_seconds", weird) == 1);
	CHECK(value(sc, "sandboxd_jobs_total", "language", truncated, "status", "ok") == 1);
	CHECK(value(sc, "sandboxd_jobs_total", "language", truncated, "status", "wrong_answer") ==
	      1);
out:
	free(sc);
	metrics_free(&m);
}

TEST(help_and_type_once_per_family)
{
	static const struct {
		const char *name, *type;
	} families[] = {
		{ "sandboxd_jobs_total", "counter" },
		{ "sandboxd_queue_depth", "gauge" },
		{ "sandboxd_jobs_running", "gauge" },
		{ "sandboxd_slots", "gauge" },
		{ "sandboxd_job_run_seconds", "histogram" },
		{ "sandboxd_job_overhead_seconds", "histogram" },
		{ "sandboxd_job_queue_seconds", "histogram" },
		{ "sandboxd_http_requests_total", "counter" },
		{ "sandboxd_http_rate_limited_total", "counter" },
	};
	struct metrics m;
	struct scrape *sc;

	metrics_init(&m);
	metrics_job_done(&m, "python", "ok", 0.1, 0.01);
	metrics_job_done(&m, "go", "ok", 0.1, 0.01);
	sc = render_and_parse(&m);
	if (!sc)
		goto out;
	CHECK(sc->n_fam == (int)ELEMENTSOF(families));
	for (size_t i = 0; i < ELEMENTSOF(families); i++) {
		struct family *f = family_of(sc, families[i].name);
		CHECK(f && f->n_help == 1 && f->n_type == 1);
		CHECK_STREQ(f ? f->type : NULL, families[i].type);
	}
out:
	free(sc);
	metrics_free(&m);
}

TEST(http_counters)
{
	struct scrape *sc = calloc(1, sizeof(*sc));
	char *text;

	for (int i = 0; i < 3; i++)
		metrics_http_count(200);
	metrics_http_count(404);
	metrics_http_count(429);
	metrics_http_count(99);	 /* not a status code: ignored */
	metrics_http_count(600); /* idem */
	metrics_http_rate_limited();
	metrics_http_rate_limited();
	text = metrics_http_render();
	CHECK(sc && text);
	if (!sc || !text)
		goto out;
	parse(sc, text);
	CHECK(sc->bad_lines == 0);
	CHECK(value(sc, "sandboxd_http_requests_total", "code", "200", NULL, NULL) == 3);
	CHECK(value(sc, "sandboxd_http_requests_total", "code", "404", NULL, NULL) == 1);
	CHECK(value(sc, "sandboxd_http_requests_total", "code", "429", NULL, NULL) == 1);
	CHECK(count_named(sc, "sandboxd_http_requests_total") == 3); /* only non-zero codes */
	CHECK(value(sc, "sandboxd_http_rate_limited_total", NULL, NULL, NULL, NULL) == 2);
out:
	free(text);
	free(sc);
}

int main(void)
{
	/* first, while the process-wide HTTP counters are still untouched by other tests */
	RUN(http_counters);
	RUN(status_index_order);
	RUN(counters_and_gauges);
	RUN(histograms_cumulative);
	RUN(label_escaping_and_truncation);
	RUN(help_and_type_once_per_family);
	UNIT_END();
}
