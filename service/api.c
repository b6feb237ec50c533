/* SPDX-License-Identifier: MIT */
/*
 * api.c - what each route of the HTTP API does (see http.h): check a request, hand it to the
 * supervisor (proto.h) or read history, and shape the answer. Runs on libmicrohttpd's threads,
 * many at once: nothing here keeps state between requests.
 *
 * Owns: the JSON of the answers it builds and of every error. Must not: fork or run anything
 * (the supervisor does), write history (the supervisor is its only writer), or look at a
 * request's JSON other than through req_parse().
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "history.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "request.h"
#include "util.h"

#define ASYNC_TIMEOUT_MS 10000 /* anything but a sync job: the supervisor answers at once */
#define LIST_DEFAULT	 50
#define LIST_MAX	 1000
#define METRICS_TYPE	 "text/plain; version=0.0.4; charset=utf-8"

static void hist_closep(struct hist **h)
{
	hist_close(*h);
}

void api_error(struct api_response *r, int status, const char *code, const char *field,
	       const char *fmt, ...)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(r->body);
	r->status = status;
	r->content_type = NULL;
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddItemToObject(e, "field", field ? cJSON_CreateString(field) : cJSON_CreateNull());
	/* NULL on allocation failure: http.c then answers {} with the status */
	r->body = cJSON_PrintUnformatted(o);
}

const char *api_query(const struct api_request *rq, const char *key)
{
	if (!rq->conn)
		return NULL;
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Answer with o (taken). */
static void answer_json(struct api_response *r, int status, cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	if (!s)
		return api_error(r, 500, "internal_error", NULL, "out of memory");
	free(r->body);
	r->status = status;
	r->content_type = NULL;
	r->body = s;
}

/* ---- the supervisor --------------------------------------------------------------------- */

/* Send m and pass the supervisor's answer through. */
static void call_supervisor(struct http_ctx *ctx, const struct proto_msg *m, int payload_fd,
			    int timeout_ms, struct api_response *r)
{
	struct proto_reply rep = { 0 };
	char *body = NULL;
	size_t len = 0;
	int k = proto_call(ctx->ctl_sock, m, payload_fd, timeout_ms, &rep, &body, &len);

	if (k == -EPIPE)
		return api_error(r, 503, "supervisor_unavailable", NULL,
				 "the supervisor is not running");
	if (k == -ETIMEDOUT || k == -EAGAIN) {
		api_error(r, 503, "supervisor_busy", NULL, "the supervisor did not answer in time");
		r->retry_after = 1;
		return;
	}
	if (k < 0 || rep.status < 200 || rep.status > 599) {
		free(body);
		return api_error(r, 500, "internal_error", NULL, "the supervisor's answer: %s",
				 k < 0 ? strerror(-k) : "no HTTP status");
	}
	free(r->body);
	r->status = rep.status;
	r->retry_after = rep.retry_after;
	r->body = body;
}

static void call_simple(struct http_ctx *ctx, enum proto_type type, const char *id,
			const char *owner, struct api_response *r)
{
	struct proto_msg m = { .type = type };

	snprintf(m.id, sizeof(m.id), "%s", id ? id : "");
	snprintf(m.owner, sizeof(m.owner), "%s", owner ? owner : "");
	call_supervisor(ctx, &m, -1, ASYNC_TIMEOUT_MS, r);
}

/* ---- execute and submit ----------------------------------------------------------------- */

/* "a, b, c": every language's name, for the unknown_language message. */
static void lang_names(const struct lang_set *s, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", s->v[i].name);
}

/* The language the request names, usable now; NULL with r filled. */
static const struct lang *check_language(struct http_ctx *ctx, const struct req *req,
					 struct api_response *r)
{
	const struct lang *l = lang_find(ctx->langs, req->language);
	char names[400];

	if (!l) {
		lang_names(ctx->langs, names, sizeof(names));
		api_error(r, 400, "unknown_language", "language", "unknown language; available: %s",
			  names[0] ? names : "none");
		return NULL;
	}
	if (!lang_is_servable(l)) {
		api_error(r, 503, "language_unavailable", "language",
			  "%s is configured but has no image and no host fallback", l->name);
		return NULL;
	}
	if (req->version && !lang_version_matches(l, req->version)) {
		api_error(r, 400, "unknown_version", "version",
			  "%s is available as version %s only", l->name,
			  l->version ? l->version : "(none)");
		return NULL;
	}
	return l;
}

/* The request's language by its own name, not an alias: what history and metrics group by. */
static int canonical_language(struct req *req, const struct lang *l)
{
	char *name = strdup(l->name);

	if (!name)
		return -ENOMEM;
	free(req->language);
	req->language = name;
	return 0;
}

/* Hand a checked request to the supervisor in a sealed memfd. */
static void submit_req(struct http_ctx *ctx, const struct api_request *rq, const struct req *req,
		       bool sync, struct api_response *r)
{
	_cleanup_free_ char *json = req_to_json(req);
	_cleanup_close_ int fd = -1;
	struct proto_msg m = { .type = PROTO_SUBMIT, .flags = sync ? PROTO_SYNC : 0 };

	if (!json)
		return api_error(r, 500, "internal_error", NULL, "out of memory");
	fd = proto_memfd("request", json, strlen(json));
	if (fd < 0)
		return api_error(r, 500, "internal_error", NULL, "request memfd: %s",
				 strerror(-fd));
	snprintf(m.owner, sizeof(m.owner), "%s", rq->owner ? rq->owner : "");
	/* a sync job: the supervisor always answers, within the job's own limits */
	call_supervisor(ctx, &m, fd, sync ? -1 : ASYNC_TIMEOUT_MS, r);
}

static void submit(struct http_ctx *ctx, const struct api_request *rq, bool sync,
		   struct api_response *r)
{
	_cleanup_(req_free) struct req req = { 0 };
	struct req_error rerr = { 0 };
	const struct lang *l;
	int k = req_parse(rq->body, rq->len, ctx->cfg, &req, &rerr);

	if (k == -ENOMEM)
		return api_error(r, 500, "internal_error", NULL, "out of memory");
	if (k < 0)
		return api_error(r, 400, rerr.code[0] ? rerr.code : "invalid_request",
				 rerr.field[0] ? rerr.field : NULL, "%s", rerr.message);
	if (sync && req.callback_url)
		return api_error(r, 400, "invalid_value", "callback_url",
				 "only jobs (POST /api/v1/jobs) take a callback_url");
	l = check_language(ctx, &req, r);
	if (!l)
		return;
	if (canonical_language(&req, l) < 0)
		return api_error(r, 500, "internal_error", NULL, "out of memory");
	submit_req(ctx, rq, &req, sync, r);
}

void api_execute(struct http_ctx *ctx, const struct api_request *rq, struct api_response *r)
{
	submit(ctx, rq, true, r);
}

void api_job_submit(struct http_ctx *ctx, const struct api_request *rq, struct api_response *r)
{
	submit(ctx, rq, false, r);
}

/* ---- jobs from history ------------------------------------------------------------------ */

/* A decimal integer 1..max, digits only. */
static bool parse_count(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 19 || s[strspn(s, "0123456789")])
		return false;
	for (; *s; s++)
		v = v * 10 + (uint64_t)(*s - '0');
	if (v < 1 || v > max)
		return false;
	*ret = v;
	return true;
}

/* The list's query arguments; false with r filled. */
static bool list_filter(struct http_ctx *ctx, const struct api_request *rq, struct hist_filter *f,
			struct api_response *r)
{
	const char *limit = api_query(rq, "limit"), *cursor = api_query(rq, "cursor");
	const struct lang *l;
	uint64_t v = LIST_DEFAULT;

	if (limit && !parse_count(limit, LIST_MAX, &v)) {
		api_error(r, 400, "invalid_value", "limit", "limit: an integer from 1 to %d",
			  LIST_MAX);
		return false;
	}
	f->limit = (unsigned)v;
	v = 0;
	if (cursor && !parse_count(cursor, INT64_MAX, &v)) {
		api_error(r, 400, "invalid_value", "cursor",
			  "cursor: pass back the next_cursor of the previous page");
		return false;
	}
	f->before_seq = (int64_t)v;
	f->owner = rq->owner;
	f->status = api_query(rq, "status");
	f->language = api_query(rq, "language");
	l = f->language ? lang_find(ctx->langs, f->language) : NULL;
	if (l)
		f->language = l->name; /* an alias finds the jobs stored under the name */
	return true;
}

/* History, opened per request: a read-only SQLite connection is cheap; NULL with r filled. */
static struct hist *open_history(struct http_ctx *ctx, struct api_response *r)
{
	struct sbx_error err = { 0 };
	struct hist *h = NULL;
	char q[SBX_MSG_MAX + 8];

	if (hist_open(ctx->history_path, false, &h, &err) >= 0)
		return h;
	log_warn("history", "error=%s", log_q(q, sizeof(q), err.msg));
	api_error(r, 500, "internal_error", NULL, "the job history cannot be read");
	return NULL;
}

/* A job for the list: without its output, to keep pages small. */
static cJSON *list_item(const struct hist_job *j)
{
	_cleanup_free_ char *s = hist_job_to_json(j);
	/* hist_list already left out the request and the output */
	return s ? cJSON_Parse(s) : NULL;
}

static cJSON *list_json(const struct hist_job *v, size_t n, int64_t next)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	cJSON *jobs = cJSON_AddArrayToObject(o, "jobs"), *it;
	char cursor[24];

	if (!jobs)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		it = list_item(&v[i]);
		if (!it)
			return NULL;
		cJSON_AddItemToArray(jobs, it);
	}
	snprintf(cursor, sizeof(cursor), "%" PRId64, next);
	if (!cJSON_AddItemToObject(o, "next_cursor",
				   next > 0 ? cJSON_CreateString(cursor) : cJSON_CreateNull()))
		return NULL;
	return TAKE_PTR(o);
}

void api_job_list(struct http_ctx *ctx, const struct api_request *rq, struct api_response *r)
{
	_cleanup_(hist_closep) struct hist *h = NULL;
	struct hist_filter f = { 0 };
	struct hist_job *v = NULL;
	struct sbx_error err = { 0 };
	char q[SBX_MSG_MAX + 8];
	size_t n = 0;
	int64_t next = 0;

	if (!list_filter(ctx, rq, &f, r))
		return;
	h = open_history(ctx, r);
	if (!h)
		return;
	if (hist_list(h, &f, &v, &n, &next, &err) < 0) {
		log_warn("history", "error=%s", log_q(q, sizeof(q), err.msg));
		return api_error(r, 500, "internal_error", NULL, "the job history cannot be read");
	}
	answer_json(r, 200, list_json(v, n, next));
	hist_jobs_free(v, n);
}

void api_job_get(struct http_ctx *ctx, const struct api_request *rq, struct api_response *r)
{
	_cleanup_(hist_closep) struct hist *h = open_history(ctx, r);
	_cleanup_(hist_job_free) struct hist_job job = { 0 };
	struct sbx_error err = { 0 };
	char q[SBX_MSG_MAX + 8];
	int k;

	if (!h)
		return;
	k = hist_get(h, rq->id, &job, &err);
	/* another key's job is as absent as one that never was: ids are not secrets to probe */
	if (k == -ENOENT || (k >= 0 && rq->owner && (!job.owner || strcmp(job.owner, rq->owner))))
		return api_error(r, 404, "not_found", "id", "no job %s", rq->id);
	if (k < 0) {
		log_warn("history", "error=%s", log_q(q, sizeof(q), err.msg));
		return api_error(r, 500, "internal_error", NULL, "the job history cannot be read");
	}
	free(r->body);
	r->body = hist_job_to_json(&job);
	r->status = 200;
	if (!r->body)
		api_error(r, 500, "internal_error", NULL, "out of memory");
}

void api_job_delete(struct http_ctx *ctx, const struct api_request *rq, struct api_response *r)
{
	/* a job id always fits struct proto_msg; a longer one names no job */
	if (strlen(rq->id) >= sizeof(((struct proto_msg *)0)->id))
		return api_error(r, 404, "not_found", "id", "no job %s", rq->id);
	call_simple(ctx, PROTO_CANCEL, rq->id, rq->owner, r);
}

/* ---- the rest --------------------------------------------------------------------------- */

static cJSON *strings_json(char *const *v)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && v && v[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

/* The supervisor pulls images on first use; this process's copy of the set does not learn of
 * it, so a language still waiting for its pull is looked up in the store. */
static cJSON *lang_json(const struct lang *l, const char *state_dir)
{
	bool pulled = l->where == LANG_ROOTFS_PULL && lang_image_present(l, state_dir);
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", l->name);
	cJSON_AddStringToObject(o, "version", l->version ? l->version : "");
	cJSON_AddItemToObject(o, "aliases", strings_json(l->aliases));
	cJSON_AddStringToObject(o, "image", l->image ? l->image : "");
	cJSON_AddStringToObject(o, "rootfs",
				lang_rootfs_name(pulled ? LANG_ROOTFS_IMAGE : l->where));
	cJSON_AddBoolToObject(o, "ready", pulled || lang_is_ready(l));
	return o;
}

void api_languages(struct http_ctx *ctx, const struct api_request *rq, struct api_response *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "languages");

	for (size_t i = 0; a && i < ctx->langs->n; i++)
		cJSON_AddItemToArray(a, lang_json(&ctx->langs->v[i], ctx->cfg->state_dir));
	answer_json(r, 200, o);
}

/* Totals by status over the whole history: counted here, on a reader connection, so a scan of
 * a large history never holds up the supervisor's loop. */
static cJSON *totals(struct http_ctx *ctx)
{
	_cleanup_(hist_closep) struct hist *h = NULL;
	cJSON *o = cJSON_CreateObject();
	char **names = NULL;
	uint64_t *counts = NULL;
	size_t n = 0;

	if (o && hist_open(ctx->history_path, false, &h, NULL) >= 0 &&
	    hist_count_by_status(h, &names, &counts, &n, NULL) >= 0)
		for (size_t i = 0; i < n; i++)
			cJSON_AddNumberToObject(o, names[i], (double)counts[i]);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(counts);
	return o;
}

void api_queue(struct http_ctx *ctx, const struct api_request *rq, struct api_response *r)
{
	_cleanup_(cJSON_Deletep) cJSON *o = NULL;
	cJSON *t;

	call_simple(ctx, PROTO_QUEUE, NULL, rq->owner, r);
	if (r->status != 200 || !(o = cJSON_Parse(r->body)) || !(t = totals(ctx)))
		return;
	cJSON_AddItemToObject(o, "totals", t);
	free(r->body);
	r->body = cJSON_PrintUnformatted(o);
	if (!r->body)
		api_error(r, 500, "internal_error", NULL, "out of memory");
}

void api_metrics(struct http_ctx *ctx, const struct api_request *rq, struct api_response *r)
{
	_cleanup_free_ char *jobs = NULL, *http = NULL;
	char *all = NULL;

	call_simple(ctx, PROTO_METRICS, NULL, NULL, r);
	if (r->status != 200)
		return;
	jobs = TAKE_PTR(r->body);
	http = metrics_http_render();
	if (!http || asprintf(&all, "%s%s", jobs ? jobs : "", http) < 0)
		return api_error(r, 500, "internal_error", NULL, "out of memory");
	r->body = all;
	r->content_type = METRICS_TYPE;
}

void api_healthz(struct http_ctx *ctx, const struct api_request *rq, struct api_response *r)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", "ok");
	answer_json(r, 200, o);
}

void api_readyz(struct http_ctx *ctx, const struct api_request *rq, struct api_response *r)
{
	cJSON *o = cJSON_CreateObject();
	const char *reason = NULL;
	size_t ready = 0;

	for (size_t i = 0; i < ctx->langs->n; i++)
		ready += lang_is_servable(&ctx->langs->v[i]);
	if (!atomic_load(&ctx->supervisor_alive))
		reason = "the supervisor is not running";
	else if (atomic_load(&ctx->draining))
		reason = "shutting down";
	else if (!ready)
		reason = "no language has a rootfs";
	cJSON_AddBoolToObject(o, "ready", !reason);
	cJSON_AddStringToObject(o, "supervisor",
				atomic_load(&ctx->supervisor_alive) ? "alive" : "dead");
	cJSON_AddNumberToObject(o, "languages_ready", (double)ready);
	if (reason)
		cJSON_AddStringToObject(o, "reason", reason);
	answer_json(r, reason ? 503 : 200, o);
}
