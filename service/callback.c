/* SPDX-License-Identifier: MIT */
/*
 * callback.c - the delivery thread: POSTs finished jobs to their callback_url and records the
 * outcome in history.
 *
 * Owns: one thread, its own history connection, and an in-memory table (job id -> attempts
 * made, when the next one is due). The durable state is history's callback_state; the table
 * only paces retries, so a restart resumes every pending delivery from attempt one.
 * Must not: block its callers (cb_notify only signals), follow redirects or speak anything but
 * http/https (a callback URL is user input: file://, gopher://, ... would read local files or
 * talk to internal services), log, or die on a bad URL (a curl error is a failed attempt).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "callback.h"
#include "history.h"
#include "util.h"

#define BACKOFF_FIRST_MS   500
#define BACKOFF_MAX_MS	   30000
#define CONNECT_MAX_MS	   5000
#define DEFAULT_TIMEOUT_MS 10000
/* Pending rows may be written by another process (the supervisor) without a cb_notify here. */
#define POLL_MAX_MS 5000

struct cb_entry {
	char id[sizeof(((struct hist_job *)0)->id)];
	unsigned attempts;
	int64_t due_ms;	   /* monotonic; 0: now */
	const char *final; /* "delivered"/"failed" not yet written to history, or NULL */
	bool seen;	   /* still pending in this round */
};

struct cb {
	struct hist *hist;
	unsigned retries;
	long timeout_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool wake;	  /* under lock */
	atomic_bool stop; /* also read by curl's progress callback without the lock */
	struct cb_entry *tab;
	size_t n_tab;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t mono_ms(void)
{
	return (int64_t)(sbx_now_ns() / 1000000ULL);
}

static int64_t backoff_ms(unsigned attempts)
{
	/* 500 ms * 2^(attempts-1); from the 7th attempt on the cap applies (500 << 6 > 30 s). */
	if (attempts == 0)
		return 0;
	if (attempts - 1 >= 6)
		return BACKOFF_MAX_MS;
	return (int64_t)BACKOFF_FIRST_MS << (attempts - 1);
}

static struct cb_entry *entry_get(struct cb *c, const char *id)
{
	struct cb_entry *v;

	for (size_t i = 0; i < c->n_tab; i++)
		if (strcmp(c->tab[i].id, id) == 0)
			return &c->tab[i];
	v = realloc(c->tab, (c->n_tab + 1) * sizeof(*v));
	if (!v)
		return NULL;
	c->tab = v;
	v = &c->tab[c->n_tab++];
	*v = (struct cb_entry){ 0 };
	snprintf(v->id, sizeof(v->id), "%s", id);
	return v;
}

/* Forget jobs no longer pending (delivered, or deleted from history meanwhile). */
static void entries_prune(struct cb *c)
{
	size_t k = 0;

	for (size_t i = 0; i < c->n_tab; i++)
		if (c->tab[i].seen)
			c->tab[k++] = c->tab[i];
	c->n_tab = k;
	for (size_t i = 0; i < c->n_tab; i++)
		c->tab[i].seen = false;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *data)
{
	return size * nmemb;
}

/* Called by curl about once a second during a transfer: non-zero aborts it. */
static int xfer_abort_on_stop(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			      curl_off_t ulnow)
{
	struct cb *c = data;

	return atomic_load(&c->stop) ? 1 : 0;
}

#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0: CURLOPT_PROTOCOLS_STR */
static void set_protocols(CURL *h)
{
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
}
#else
static void set_protocols(CURL *h)
{
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
}
#endif

static void set_options(struct cb *c, CURL *h, const char *url, const char *body,
			struct curl_slist *headers)
{
	set_protocols(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "sandboxd");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	/* Several threads in this process: no SIGALRM-based DNS timeouts. */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 c->timeout_ms < CONNECT_MAX_MS ? c->timeout_ms : (long)CONNECT_MAX_MS);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_abort_on_stop);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
}

static void curl_slist_free_allp(struct curl_slist **l)
{
	curl_slist_free_all(*l);
}

static void curl_easy_cleanupp(CURL **h)
{
	if (*h)
		curl_easy_cleanup(*h);
}

static struct curl_slist *make_headers(const char *id)
{
	char job[sizeof("X-Sandboxd-Job: ") + sizeof(((struct hist_job *)0)->id)];
	struct curl_slist *l = NULL, *t;
	/* "Expect:" off: no 100-continue round trip (and no wait for receivers that ignore it). */
	const char *const fixed[] = { "Content-Type: application/json", "Expect:", job };

	snprintf(job, sizeof(job), "X-Sandboxd-Job: %s", id);
	for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
		t = curl_slist_append(l, fixed[i]);
		if (!t) {
			curl_slist_free_all(l);
			return NULL;
		}
		l = t;
	}
	return l;
}

/*
 * libcurl (and the TLS library under it) is initialised on the first delivery, in this thread
 * (the only one using curl), not at start: most deployments never use callbacks, and an idle
 * sandboxd should not carry an initialised TLS stack.
 */
static bool curl_ready(void)
{
	pthread_once(&curl_once, curl_init_once);
	return curl_init_rc == CURLE_OK;
}

/* One POST; true on a 2xx answer. Any failure before or during the transfer is a false. */
static bool post_one(struct cb *c, const struct hist_job *j)
{
	_cleanup_free_ char *body = hist_job_to_json(j);
	_cleanup_(curl_slist_free_allp) struct curl_slist *headers = make_headers(j->id);
	_cleanup_(curl_easy_cleanupp) CURL *h = curl_easy_init();
	long code = 0;

	if (!body || !headers || !h || !j->callback_url)
		return false;
	set_options(c, h, j->callback_url, body, headers);
	if (curl_easy_perform(h) != CURLE_OK)
		return false;
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		return false;
	return code >= 200 && code <= 299;
}

static bool post_job(struct cb *c, const struct hist_job *j)
{
	return curl_ready() && post_one(c, j);
}

/* One pending job: skip it when not yet due, else try once. Returns when it wants a look. */
static int64_t handle_job(struct cb *c, const struct hist_job *j)
{
	struct cb_entry *e = entry_get(c, j->id);

	if (!e) /* out of memory: the row stays pending, look again later */
		return mono_ms() + POLL_MAX_MS;
	e->seen = true;
	if (!e->final) {
		if (e->due_ms > mono_ms())
			return e->due_ms;
		if (post_job(c, j)) {
			e->attempts++;
			e->final = "delivered";
		} else if (atomic_load(&c->stop)) {
			/* cut short by cb_stop: not the receiver's fault; stays pending */
			return INT64_MAX;
		} else if (++e->attempts > c->retries) {
			e->final = "failed";
		} else {
			e->due_ms = mono_ms() + backoff_ms(e->attempts);
			return e->due_ms;
		}
	}
	/* Written apart from the POST, so a busy database never causes a second delivery. */
	if (hist_callback_done(c->hist, e->id, e->final, e->attempts, NULL) < 0)
		return mono_ms() + BACKOFF_FIRST_MS;
	e->seen = false;
	return INT64_MAX;
}

/* One look at history: every due delivery tried. Returns when the next one is due. */
static int64_t run_round(struct cb *c)
{
	struct hist_job *jobs = NULL;
	size_t n = 0;
	int64_t next = mono_ms() + POLL_MAX_MS, t;

	if (hist_callback_pending(c->hist, &jobs, &n, NULL) < 0)
		return next;
	for (size_t i = 0; i < n && !atomic_load(&c->stop); i++) {
		t = handle_job(c, &jobs[i]);
		if (t < next)
			next = t;
	}
	hist_jobs_free(jobs, n);
	entries_prune(c);
	return next;
}

static void wait_until(struct cb *c, int64_t due_ms)
{
	struct timespec ts = { .tv_sec = due_ms / 1000, .tv_nsec = (due_ms % 1000) * 1000000 };

	pthread_mutex_lock(&c->lock);
	while (!c->wake && !atomic_load(&c->stop) && mono_ms() < due_ms)
		if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) != 0)
			break;
	c->wake = false;
	pthread_mutex_unlock(&c->lock);
}

static void *cb_thread(void *arg)
{
	struct cb *c = arg;
	sigset_t set;

	/* Process signals (SIGTERM, SIGINT, ...) belong to the main thread; a SIGPIPE from a
	 * peer that closed early stays pending here instead of killing the process. */
	sigfillset(&set);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGILL);
	sigdelset(&set, SIGABRT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (!atomic_load(&c->stop))
		wait_until(c, run_round(c));
	return NULL;
}

static int cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int r;

	r = pthread_condattr_init(&attr);
	if (r != 0)
		return -r;
	r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return -r;
}

static void cb_free(struct cb *c)
{
	if (!c)
		return;
	hist_close(c->hist);
	free(c->tab);
	free(c);
}

static void cb_freep(struct cb **c)
{
	cb_free(*c);
}

int cb_start(const struct cfg *cfg, const char *history_path, struct cb **ret,
	     struct sbx_error *err)
{
	_cleanup_(cb_freep) struct cb *c = NULL;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return sbx_err(err, ENOMEM, "callbacks");
	c->retries = cfg->callback_retries;
	/* 0 would mean "no timeout" to curl, and cb_stop must stay bounded. */
	c->timeout_ms =
		cfg->callback_timeout_ms ? (long)cfg->callback_timeout_ms : DEFAULT_TIMEOUT_MS;
	r = hist_open(history_path, false, &c->hist, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "callbacks");
	r = cond_init_monotonic(&c->cond);
	if (r < 0)
		return sbx_err(err, -r, "callbacks: condition variable");
	pthread_mutex_init(&c->lock, NULL);
	r = pthread_create(&c->thread, NULL, cb_thread, c);
	if (r != 0) {
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
		return sbx_err(err, r, "callbacks: pthread_create");
	}
	*ret = TAKE_PTR(c);
	return 0;
}

void cb_notify(struct cb *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->wake = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void cb_stop(struct cb *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	atomic_store(&c->stop, true);
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	cb_free(c);
}
