/* SPDX-License-Identifier: MIT */
/*
 * http.c - the HTTP plumbing of sandboxd on libmicrohttpd (see http.h): the listen socket, one
 * thread per connection, the route table, request bodies, API keys, the rate limit and the
 * headers every answer carries. What a route does is api.c's.
 *
 * Owns: everything between the socket and an api_handler call. Must not: fork, clone or run
 * anything (the supervisor does), or read a body before its request has passed the route, the
 * API key, the drain and the rate limit: an unauthenticated client never makes us buffer
 * max_body_bytes.
 *
 * HEAD, OPTIONS and any method not in the table get 405 with Allow, like any other wrong method.
 */
#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define LISTEN_BACKLOG 512
#define CONN_LIMIT     512
/* One client address cannot hold every connection (headers are read before the key check). */
#define CONN_PER_IP    64
#define CONN_TIMEOUT_S 60u
/* The request line and headers live in MHD's per-connection pool; bodies are ours. */
#define CONN_MEMORY   (32u * 1024)
#define BODY_MIN_CAP  4096
#define ID_MAX	      64
#define RL_BUCKETS    4096
#define RL_NAME_MAX   64
#define DRAIN_RETRY_S 5
#define JSON_TYPE     "application/json; charset=utf-8"

/* Route flags. */
enum {
	R_OPEN = 1 << 0,    /* no API key: probes must work for whoever runs the host */
	R_LIMITED = 1 << 1, /* /api/v1/...: counts against the rate limit */
	R_WORK = 1 << 2,    /* new work: refused while draining */
	R_ID = 1 << 3,	    /* path is a prefix followed by an {id} */
};

struct route {
	const char *method;
	const char *path;
	unsigned flags;
	api_handler fn;
};

static const struct route routes[] = {
	{ "POST", "/api/v1/execute", R_LIMITED | R_WORK, api_execute },
	{ "POST", "/api/v1/jobs", R_LIMITED | R_WORK, api_job_submit },
	{ "GET", "/api/v1/jobs", R_LIMITED, api_job_list },
	{ "GET", "/api/v1/jobs/", R_LIMITED | R_ID, api_job_get },
	{ "DELETE", "/api/v1/jobs/", R_LIMITED | R_ID, api_job_delete },
	{ "GET", "/api/v1/languages", R_LIMITED, api_languages },
	{ "GET", "/api/v1/queue", R_LIMITED, api_queue },
	{ "GET", "/healthz", R_OPEN, api_healthz },
	{ "GET", "/readyz", R_OPEN, api_readyz },
	{ "GET", "/metrics", 0, api_metrics },
};

struct rl_bucket {
	char name[RL_NAME_MAX]; /* key name or client address; "" = free slot */
	double tokens;
	unsigned long long last_ns;
};

#define STOP_WAIT_MS 5000

struct http_server {
	struct MHD_Daemon *d;
	struct http_ctx *ctx;
	pthread_mutex_t rl_lock; /* guards rl */
	struct rl_bucket *rl;	 /* RL_BUCKETS */
	int quiesced_fd;	 /* the listen socket after http_quiesce, closed after the daemon */
	atomic_int inflight;	 /* requests begun and not yet completed (answer sent) */
};

/* One request, from its first access-handler call to MHD's completion notice. */
struct conn {
	const struct route *route;
	char id[ID_MAX + 1];
	const char *owner; /* a cfg key's name: lives as long as the configuration */
	char *body;	   /* NUL-terminated */
	size_t len, cap;
	bool too_large;
	uint64_t dropped;
	unsigned long long start_ns;
	const char *hdr_name; /* one header of our own for this answer (Allow, WWW-Authenticate) */
	char hdr_value[48];
};

/* What the checks before the body see. */
struct gate {
	struct http_server *s;
	struct MHD_Connection *mc;
	struct conn *c;
	const char *method, *url;
};

/* ---- routes ----------------------------------------------------------------------------- */

static bool is_valid_id(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

	return n >= 1 && n <= ID_MAX && s[n] == '\0';
}

/* Does path name this route's resource? For an {id} route, *ret_id is the id. */
static bool path_matches(const struct route *rt, const char *path, const char **ret_id)
{
	size_t n = strlen(rt->path);

	if (!(rt->flags & R_ID))
		return strcmp(path, rt->path) == 0;
	if (strncmp(path, rt->path, n) != 0 || !is_valid_id(path + n))
		return false;
	*ret_id = path + n;
	return true;
}

/* The route for method + path; NULL with allow listing the path's methods ("" = unknown). */
static const struct route *route_find(const char *method, const char *path, const char **ret_id,
				      char *allow, size_t size)
{
	size_t o = 0;

	allow[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
		const char *id = NULL;

		if (!path_matches(&routes[i], path, &id))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			*ret_id = id;
			return &routes[i];
		}
		o += (size_t)snprintf(allow + o, size - o, "%s%s", o ? ", " : "", routes[i].method);
		if (o >= size)
			o = size - 1;
	}
	return NULL;
}

/* ---- the checks before the body ----------------------------------------------------------- */

static bool check_route(const struct gate *g, struct api_response *r)
{
	const char *id = NULL;
	char allow[40];

	g->c->route = route_find(g->method, g->url, &id, allow, sizeof(allow));
	if (g->c->route) {
		snprintf(g->c->id, sizeof(g->c->id), "%s", id ? id : "");
		return true;
	}
	if (!allow[0]) {
		api_error(r, 404, "not_found", NULL, "no such resource");
		return false;
	}
	g->c->hdr_name = MHD_HTTP_HEADER_ALLOW;
	snprintf(g->c->hdr_value, sizeof(g->c->hdr_value), "%s", allow);
	api_error(r, 405, "method_not_allowed", NULL, "%s does not take %s (allowed: %s)", g->url,
		  g->method, allow);
	return false;
}

/* The key the client sent: X-API-Key, or Authorization: Bearer. */
static const char *presented_key(struct MHD_Connection *mc)
{
	const char *v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-API-Key");

	if (v)
		return v;
	v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!v || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	return v + 7 + strspn(v + 7, " ");
}

/*
 * Constant time in what was sent: the loop runs over the configured key whatever arrives, with
 * no early exit, so response timing does not tell how many leading bytes were right.
 */
static bool key_equal(const char *given, size_t given_len, const char *key)
{
	size_t n = strlen(key);
	unsigned char d = given_len != n;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)key[i] ^ (unsigned char)(i < given_len ? given[i] : 0);
	return d == 0;
}

static bool check_key(const struct gate *g, struct api_response *r)
{
	const struct cfg *cfg = g->s->ctx->cfg;
	const char *given;
	const struct cfg_key *hit = NULL;

	if (cfg->n_keys == 0 || (g->c->route->flags & R_OPEN))
		return true;
	given = presented_key(g->mc);
	/* every key is compared, even after a match: the time taken does not say which matched */
	for (size_t i = 0; given && i < cfg->n_keys; i++)
		if (key_equal(given, strlen(given), cfg->keys[i].key))
			hit = &cfg->keys[i];
	if (hit) {
		g->c->owner = hit->name;
		return true;
	}
	g->c->hdr_name = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
	snprintf(g->c->hdr_value, sizeof(g->c->hdr_value), "Bearer");
	if (given)
		api_error(r, 401, "unauthorized", NULL, "the API key is not valid");
	else
		api_error(r, 401, "unauthorized", NULL,
			  "an API key is required: send X-API-Key or Authorization: Bearer");
	return false;
}

static bool check_draining(const struct gate *g, struct api_response *r)
{
	if (!(g->c->route->flags & R_WORK) || !atomic_load(&g->s->ctx->draining))
		return true;
	api_error(r, 503, "shutting_down", NULL, "the service is shutting down; retry elsewhere");
	r->retry_after = DRAIN_RETRY_S;
	return false;
}

/* Who the rate limit counts: the key's name, or the client's address without keys. */
static void client_name(const struct gate *g, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(buf, size, "%s", g->c->owner ? g->c->owner : "?");
	if (g->c->owner)
		return;
	ci = MHD_get_connection_info(g->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	sa = ci ? ci->client_addr : NULL;
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, size);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, size);
}

/* The bucket of name: its own, a free one, or else the least recently used one, reset. */
static struct rl_bucket *rl_slot(struct http_server *s, const char *name, double burst,
				 unsigned long long now)
{
	struct rl_bucket *free_b = NULL, *lru = &s->rl[0], *b;

	for (size_t i = 0; i < RL_BUCKETS; i++) {
		b = &s->rl[i];
		if (strcmp(b->name, name) == 0)
			return b;
		if (!b->name[0] && !free_b)
			free_b = b;
		if (b->last_ns < lru->last_ns)
			lru = b;
	}
	b = free_b ? free_b : lru;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->tokens = burst;
	b->last_ns = now;
	return b;
}

/* Take one token. Returns 0, or the seconds until one is there (>= 1). */
static unsigned rl_take(struct http_server *s, const char *name, double rate, double burst)
{
	unsigned long long now = sbx_now_ns();
	struct rl_bucket *b;
	unsigned wait = 0;

	pthread_mutex_lock(&s->rl_lock);
	b = rl_slot(s, name, burst, now);
	b->tokens = fmin(burst, b->tokens + (double)(now - b->last_ns) / 1e9 * rate);
	b->last_ns = now;
	if (b->tokens >= 1)
		b->tokens -= 1;
	else
		wait = (unsigned)fmax(1, ceil((1 - b->tokens) / rate));
	pthread_mutex_unlock(&s->rl_lock);
	return wait;
}

static bool check_rate(const struct gate *g, struct api_response *r)
{
	const struct cfg *cfg = g->s->ctx->cfg;
	char name[RL_NAME_MAX];
	unsigned wait;

	if (cfg->rate_per_sec <= 0 || !(g->c->route->flags & R_LIMITED))
		return true;
	client_name(g, name, sizeof(name));
	/* a burst below one token would refuse everything */
	wait = rl_take(g->s, name, cfg->rate_per_sec, fmax(1, cfg->rate_burst));
	if (!wait)
		return true;
	metrics_http_rate_limited();
	api_error(r, 429, "rate_limited", NULL, "too many requests; retry in %u s", wait);
	r->retry_after = wait;
	return false;
}

static bool check_length(const struct gate *g, struct api_response *r)
{
	const char *v =
		MHD_lookup_connection_value(g->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t max = g->s->ctx->cfg->max_body_bytes;

	if (!v || strtoull(v, NULL, 10) <= max)
		return true;
	api_error(r, 413, "body_too_large", NULL, "the body is larger than %llu bytes",
		  (unsigned long long)max);
	return false;
}

/* In order; the first that refuses answers. */
static bool (*const checks[])(const struct gate *, struct api_response *) = {
	check_route, check_key, check_draining, check_rate, check_length,
};

/* ---- answers ---------------------------------------------------------------------------- */

static void log_request(const struct gate *g, int status)
{
	char m[32], p[256], o[80];
	double ms = (double)(sbx_now_ns() - g->c->start_ns) / 1e6;

	/* key names may hold spaces, '=' and '"' (config.c): quoted like the rest */
	log_info("request", "method=%s path=%s status=%d ms=%.1f owner=%s",
		 log_q(m, sizeof(m), g->method), log_q(p, sizeof(p), g->url), status, ms,
		 g->c->owner ? log_q(o, sizeof(o), g->c->owner) : "-");
}

static bool add_headers(struct MHD_Response *resp, const struct conn *c,
			const struct api_response *r)
{
	char retry[16];
	bool ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					  r->content_type ? r->content_type : JSON_TYPE) &&
		  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") &&
		  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");

	if (ok && r->retry_after) {
		snprintf(retry, sizeof(retry), "%u", r->retry_after);
		ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	}
	if (ok && c->hdr_name)
		ok = MHD_add_response_header(resp, c->hdr_name, c->hdr_value);
	return ok;
}

static enum MHD_Result answer(const struct gate *g, struct api_response *r)
{
	struct MHD_Response *resp;
	enum MHD_Result q;

	if (r->status < 100 || r->status > 599)
		api_error(r, 500, "internal_error", NULL, "no answer");
	if (r->body)
		resp = MHD_create_response_from_buffer(strlen(r->body), r->body,
						       MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(r->body);
		return MHD_NO;
	}
	r->body = NULL; /* the response owns it now */
	q = add_headers(resp, g->c, r) ? MHD_queue_response(g->mc, (unsigned)r->status, resp)
				       : MHD_NO;
	MHD_destroy_response(resp);
	metrics_http_count(r->status);
	log_request(g, r->status);
	return q;
}

/* ---- the access handler ------------------------------------------------------------------- */

/* The first call: headers are in, the body is not read yet. */
static enum MHD_Result begin(const struct gate *g, void **con_cls)
{
	struct api_response r = { 0 };

	*con_cls = g->c;
	g->c->start_ns = sbx_now_ns();
	for (size_t i = 0; i < ELEMENTSOF(checks); i++)
		if (!checks[i](g, &r))
			return answer(g, &r); /* MHD closes the connection if a body was coming */
	return MHD_YES;
}

static int body_grow(struct conn *c, size_t need, uint64_t max)
{
	size_t cap = c->cap ? c->cap : BODY_MIN_CAP;
	char *p;

	while (cap < need)
		cap *= 2;
	if (cap > max + 1)
		cap = (size_t)max + 1;
	p = realloc(c->body, cap);
	if (!p)
		return -ENOMEM;
	c->body = p;
	c->cap = cap;
	return 0;
}

/*
 * Append a piece of the body. libmicrohttpd 0.9 cannot answer before the upload has ended, so a
 * body without Content-Length that outgrows the cap is dropped as it comes, for one more cap's
 * worth at most (the client then gets its 413); past that we hang up (-EFBIG).
 */
static int body_take(struct conn *c, const char *data, size_t n, uint64_t max)
{
	int r;

	if (!c->too_large && n > max - c->len) {
		c->too_large = true;
		c->dropped = c->len;
		free(c->body);
		c->body = NULL;
		c->len = c->cap = 0;
	}
	if (c->too_large) {
		c->dropped += n;
		return c->dropped > 2 * max ? -EFBIG : 0;
	}
	if (c->len + n + 1 > c->cap) {
		r = body_grow(c, c->len + n + 1, max);
		if (r < 0)
			return r;
	}
	memcpy(c->body + c->len, data, n);
	c->len += n;
	c->body[c->len] = '\0';
	return 0;
}

/* The last call: the whole body is in. */
static enum MHD_Result finish(const struct gate *g)
{
	struct conn *c = g->c;
	struct api_response r = { 0 };
	struct api_request rq = {
		.method = g->method,
		.path = g->url,
		.id = c->id[0] ? c->id : NULL,
		.body = c->body ? c->body : "",
		.len = c->len,
		.owner = c->owner,
		.conn = g->mc,
	};

	if (c->too_large)
		api_error(&r, 413, "body_too_large", NULL, "the body is larger than %llu bytes",
			  (unsigned long long)g->s->ctx->cfg->max_body_bytes);
	else
		c->route->fn(g->s->ctx, &rq, &r);
	return answer(g, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct gate g = { .s = cls, .mc = mc, .c = *con_cls, .method = method, .url = url };
	size_t n = *upload_data_size;

	if (!g.c) {
		g.c = calloc(1, sizeof(*g.c));
		if (!g.c)
			return MHD_NO;
		atomic_fetch_add(&g.s->inflight, 1);
		return begin(&g, con_cls);
	}
	if (n) {
		*upload_data_size = 0;
		return body_take(g.c, upload_data, n, g.s->ctx->cfg->max_body_bytes) < 0 ? MHD_NO
											 : MHD_YES;
	}
	return finish(&g);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct conn *c = *con_cls;

	if (!c)
		return;
	free(c->body);
	free(c);
	*con_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char msg[512], q[600];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warn("libmicrohttpd", "msg=%s", log_q(q, sizeof(q), msg));
}

/* ---- start and stop ----------------------------------------------------------------------- */

union addr_any {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

static int parse_addr(const char *addr, unsigned port, union addr_any *ret, socklen_t *ret_len,
		      struct sbx_error *err)
{
	memset(ret, 0, sizeof(*ret));
	if (port > 65535)
		return sbx_err_msg(err, EINVAL, "listen port %u: not a TCP port", port);
	if (inet_pton(AF_INET, addr, &ret->in4.sin_addr) == 1) {
		ret->in4.sin_family = AF_INET;
		ret->in4.sin_port = htons((uint16_t)port);
		*ret_len = sizeof(ret->in4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &ret->in6.sin6_addr) == 1) {
		ret->in6.sin6_family = AF_INET6;
		ret->in6.sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(ret->in6);
		return 0;
	}
	return sbx_err_msg(err, EINVAL, "listen address %s: not an IPv4 or IPv6 address", addr);
}

/* Our own listen socket, so that a bind failure comes back with its errno and the address. */
static int listen_socket(const struct cfg *cfg, struct sbx_error *err)
{
	_cleanup_close_ int fd = -1;
	union addr_any a;
	socklen_t len = 0;
	int r = parse_addr(cfg->listen_addr, cfg->listen_port, &a, &len, err);
	const int on = 1, off = 0;
	bool v6 = a.sa.sa_family == AF_INET6;

	if (r < 0)
		return r;
	fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return sbx_err(err, errno, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0))
		return sbx_err(err, errno, "setsockopt");
	if (bind(fd, &a.sa, len) < 0)
		return sbx_err(err, errno, v6 ? "bind [%s]:%u" : "bind %s:%u", cfg->listen_addr,
			       cfg->listen_port);
	if (listen(fd, LISTEN_BACKLOG) < 0)
		return sbx_err(err, errno, "listen %s:%u", cfg->listen_addr, cfg->listen_port);
	return TAKE_FD(fd);
}

static void server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->d)
		MHD_stop_daemon(s->d);
	closep(&s->quiesced_fd);
	pthread_mutex_destroy(&s->rl_lock);
	free(s->rl);
	free(s);
}

static void server_freep(struct http_server **s)
{
	server_free(*s);
}

int http_start(struct http_ctx *ctx, struct http_server **ret, struct sbx_error *err)
{
	_cleanup_(server_freep) struct http_server *s = calloc(1, sizeof(*s));
	/* MHD_quiesce_daemon needs the inter-thread channel (MHD_USE_ITC) */
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG;
	int fd;

	if (!s)
		return sbx_err(err, ENOMEM, "http");
	s->ctx = ctx;
	s->quiesced_fd = -1;
	pthread_mutex_init(&s->rl_lock, NULL);
	s->rl = calloc(RL_BUCKETS, sizeof(*s->rl));
	if (!s->rl)
		return sbx_err(err, ENOMEM, "http");
	fd = listen_socket(ctx->cfg, err);
	if (fd < 0)
		return fd;
	if (strchr(ctx->cfg->listen_addr, ':'))
		flags |= MHD_USE_DUAL_STACK;
	/* From here fd is MHD's: a failed start may already have closed it, so we never do (a
	 * leak at a failed start is harmless, a second close could hit another thread's fd). */
	s->d = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONN_PER_IP,
		MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	if (!s->d)
		return sbx_err_msg(err, EIO, "libmicrohttpd could not start on %s:%u",
				   ctx->cfg->listen_addr, ctx->cfg->listen_port);
	*ret = TAKE_PTR(s);
	return 0;
}

/*
 * MHD's polling thread may still hold the listen fd until MHD_stop_daemon (its documentation
 * says so): closing it now could let the number be reused under that thread. shutdown() stops
 * the listening on Linux (new connections are refused) and keeps the number ours.
 */
void http_quiesce(struct http_server *s)
{
	MHD_socket fd;

	if (!s || !s->d || s->quiesced_fd >= 0)
		return;
	fd = MHD_quiesce_daemon(s->d);
	if (fd == MHD_INVALID_SOCKET)
		return;
	shutdown(fd, SHUT_RDWR);
	s->quiesced_fd = fd;
}

/* Requests whose answer is ready but not yet sent would be cut off by MHD_stop_daemon: let
 * them finish first (bounded: a client that does not read its answer is not waited for). */
void http_stop(struct http_server *s)
{
	for (int i = 0; s && i < STOP_WAIT_MS / 10 && atomic_load(&s->inflight) > 0; i++)
		usleep(10000);
	server_free(s);
}
