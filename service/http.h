/* SPDX-License-Identifier: MIT */
/*
 * http.h - the HTTP side of sandboxd: libmicrohttpd threads that parse, validate, authenticate,
 * rate-limit and hand work to the supervisor (proto.h). They never fork or clone.
 *
 * Routes (api.c): POST /api/v1/execute, POST|GET /api/v1/jobs, GET|DELETE /api/v1/jobs/{id},
 * GET /api/v1/languages, GET /api/v1/queue, GET /healthz, GET /readyz, GET /metrics.
 * Every error is {"error": {"code", "message", "field"}} with a 4xx/5xx status.
 */
#ifndef SVC_HTTP_H
#define SVC_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "languages.h"

/* What the HTTP threads share; owned by main(). */
struct http_ctx {
	const struct cfg *cfg;
	const struct lang_set *langs;
	const char *history_path;
	int ctl_sock;		      /* the control socket to the supervisor */
	atomic_bool supervisor_alive; /* false once the control socket hit EOF */
	atomic_bool draining;	      /* SIGTERM: new work gets 503 */
	struct cb *callbacks;	      /* may be NULL */
};

struct http_server;

/* Bind cfg->listen_addr:listen_port and start serving. */
int http_start(struct http_ctx *ctx, struct http_server **ret, struct sbx_error *err);
/* Stop accepting connections (the listen socket is closed); requests in flight go on. */
void http_quiesce(struct http_server *s);
/* Stop every thread; waits for requests in flight. */
void http_stop(struct http_server *s);

/* ---- between http.c and api.c ---------------------------------------------------------- */

struct api_request {
	const char *method;
	const char *path;
	const char *id;	  /* the {id} of /api/v1/jobs/{id}, else NULL */
	const char *body; /* NUL-terminated; len bytes */
	size_t len;
	const char *owner; /* the API key's name, NULL without keys */
	void *conn;	   /* struct MHD_Connection *, for query arguments */
};

struct api_response {
	int status;
	char *body;		  /* malloc'd */
	const char *content_type; /* NULL: application/json */
	unsigned retry_after;	  /* seconds; 0 = no Retry-After header */
};

/* Fill r with {"error": {"code", "message", "field"}} (field may be NULL -> null). */
void api_error(struct api_response *r, int status, const char *code, const char *field,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A query argument of the request, or NULL. */
const char *api_query(const struct api_request *rq, const char *key);

typedef void (*api_handler)(struct http_ctx *ctx, const struct api_request *rq,
			    struct api_response *ret);

void api_execute(struct http_ctx *, const struct api_request *, struct api_response *);
void api_job_submit(struct http_ctx *, const struct api_request *, struct api_response *);
void api_job_list(struct http_ctx *, const struct api_request *, struct api_response *);
void api_job_get(struct http_ctx *, const struct api_request *, struct api_response *);
void api_job_delete(struct http_ctx *, const struct api_request *, struct api_response *);
void api_languages(struct http_ctx *, const struct api_request *, struct api_response *);
void api_queue(struct http_ctx *, const struct api_request *, struct api_response *);
void api_healthz(struct http_ctx *, const struct api_request *, struct api_response *);
void api_readyz(struct http_ctx *, const struct api_request *, struct api_response *);
void api_metrics(struct http_ctx *, const struct api_request *, struct api_response *);

#endif
