/* SPDX-License-Identifier: MIT */
/*
 * test_http.c - the HTTP side (http.c, api.c) over real sockets with libcurl, against a fake
 * supervisor: a thread that owns the other end of the control socket and answers like the real
 * one. Routes, bodies, API keys, the rate limit, the supervisor's answers passed through,
 * history reads, and what clients see when the supervisor is gone.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>

#include "history.h"
#include "http.h"
#include "log.h"
#include "proto.h"
#include "unit.h"
#include "util.h"

#define MAX_BODY 4096

/* ---- the fake supervisor ------------------------------------------------------------------ */

struct fake {
	int fd; /* the supervisor's end of the control socket */
	pthread_t th;
	pthread_mutex_t lock;
	char last_request[MAX_BODY * 2];
	char last_owner[64];
	char last_id[40];
	uint32_t last_type, last_flags;
};

static void answer(int reply, int status, unsigned retry_after, const char *body)
{
	proto_reply(reply, status, retry_after, body, strlen(body));
}

static void fake_submit(struct fake *f, const struct proto_msg *m, int reply, int payload)
{
	_cleanup_free_ char *req = NULL;
	size_t len = 0;
	bool full;

	if (payload < 0 || proto_memfd_read(payload, 1 << 20, &req, &len) < 0) {
		answer(reply, 500, 0, "{}");
		return;
	}
	pthread_mutex_lock(&f->lock);
	snprintf(f->last_request, sizeof(f->last_request), "%s", req);
	pthread_mutex_unlock(&f->lock);
	full = strstr(req, "queue-full") != NULL;
	if (full)
		answer(reply, 429, 7, "{\"error\":{\"code\":\"queue_full\"}}");
	else if (m->flags & PROTO_SYNC)
		answer(reply, 200, 0, "{\"status\":\"ok\",\"stdout\":\"hi\\n\"}");
	else
		answer(reply, 202, 0, "{\"id\":\"j9\",\"status\":\"queued\"}");
}

static void fake_answer(struct fake *f, const struct proto_msg *m, int reply, int payload)
{
	static const char metrics[] = "sandboxd_slots 4\n";

	pthread_mutex_lock(&f->lock);
	f->last_type = m->type;
	f->last_flags = m->flags;
	snprintf(f->last_owner, sizeof(f->last_owner), "%s", m->owner);
	snprintf(f->last_id, sizeof(f->last_id), "%s", m->id);
	pthread_mutex_unlock(&f->lock);
	if (m->type == PROTO_SUBMIT)
		fake_submit(f, m, reply, payload);
	else if (m->type == PROTO_QUEUE)
		answer(reply, 200, 0, "{\"queued\":3}");
	else if (m->type == PROTO_METRICS)
		answer(reply, 200, 0, metrics);
	else if (m->type == PROTO_CANCEL && strcmp(m->id, "gone") == 0)
		answer(reply, 404, 0, "{\"error\":{\"code\":\"not_found\"}}");
	else if (m->type == PROTO_CANCEL)
		answer(reply, 200, 0, "{\"status\":\"cancelled\"}");
	else
		answer(reply, 400, 0, "{}");
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct proto_msg m;
	int reply, payload;

	while (proto_recv(f->fd, &m, &reply, &payload) > 0) {
		/* DRAIN from the test: the supervisor dies (its end of the socket closes) */
		if (m.type == PROTO_DRAIN) {
			closep(&reply), closep(&payload);
			break;
		}
		if (reply >= 0)
			fake_answer(f, &m, reply, payload);
		closep(&payload);
	}
	close(f->fd);
	return NULL;
}

/* ---- a server under test ------------------------------------------------------------------ */

static char *py_aliases[] = { "py", NULL };
static char *no_aliases[] = { NULL };
static struct lang test_langs[] = {
	{ .name = "python",
	  .aliases = py_aliases,
	  .version = "3.12",
	  .image = "python:3.12-slim",
	  .where = LANG_ROOTFS_HOST },
	{ .name = "ruby", .aliases = no_aliases, .version = "3.3", .where = LANG_ROOTFS_NONE },
};
static const struct lang_set test_langset = { .v = test_langs, .n = ELEMENTSOF(test_langs) };
static char history_path[] = "/tmp/test_http_XXXXXX";

struct server {
	struct cfg cfg;
	struct http_ctx ctx;
	struct http_server *s;
	struct fake fake;
	bool fake_running;
};

static unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

static void cfg_init(struct cfg *c, struct cfg_key *keys, size_t n_keys, double rate, double burst)
{
	*c = (struct cfg){ .listen_addr = "127.0.0.1",
			   .listen_port = free_port(),
			   .max_body_bytes = MAX_BODY,
			   .max_files = 8,
			   .max_args = 8,
			   .caps = { 10000, 10000, 512, 64, 1024 },
			   .keys = keys,
			   .n_keys = n_keys,
			   .rate_per_sec = rate,
			   .rate_burst = burst };
}

static void start(struct server *sv, struct cfg_key *keys, size_t n_keys, double rate, double burst)
{
	struct sbx_error err = { 0 };
	int pair[2];

	cfg_init(&sv->cfg, keys, n_keys, rate, burst);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		abort();
	sv->fake.fd = pair[1];
	pthread_mutex_init(&sv->fake.lock, NULL);
	if (pthread_create(&sv->fake.th, NULL, fake_main, &sv->fake))
		abort();
	sv->fake_running = true;
	sv->ctx = (struct http_ctx){ .cfg = &sv->cfg,
				     .langs = &test_langset,
				     .history_path = history_path,
				     .ctl_sock = pair[0] };
	atomic_store(&sv->ctx.supervisor_alive, true);
	if (http_start(&sv->ctx, &sv->s, &err) < 0) {
		fprintf(stderr, "http_start: %s\n", err.msg);
		abort();
	}
}

/* The supervisor dies: the fake closes its end of the control socket. */
static void kill_fake(struct server *sv)
{
	struct proto_msg m = { .type = PROTO_DRAIN };

	if (!sv->fake_running)
		return;
	proto_send(sv->ctx.ctl_sock, &m, -1, -1);
	pthread_join(sv->fake.th, NULL);
	sv->fake_running = false;
}

static void stop(struct server *sv)
{
	http_stop(sv->s);
	kill_fake(sv);
	close(sv->ctx.ctl_sock);
	pthread_mutex_destroy(&sv->fake.lock);
}

/* ---- the client --------------------------------------------------------------------------- */

struct resp {
	long status;
	char body[16384];
	size_t len;
	char hdrs[4096];
	size_t hlen;
	cJSON *json;
	int curl_rc;
};

static size_t append(char *dst, size_t cap, size_t *len, const char *p, size_t n)
{
	size_t k = n < cap - 1 - *len ? n : cap - 1 - *len;

	memcpy(dst + *len, p, k);
	*len += k;
	dst[*len] = '\0';
	return n;
}

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
	struct resp *r = u;

	return append(r->body, sizeof(r->body), &r->len, p, sz * n);
}

static size_t on_header(char *p, size_t sz, size_t n, void *u)
{
	struct resp *r = u;

	return append(r->hdrs, sizeof(r->hdrs), &r->hlen, p, sz * n);
}

/* A chunked upload of n bytes: a body without Content-Length. */
struct upload {
	const char *data; /* NULL: 'x' bytes */
	size_t n, off;
};

static size_t on_read(char *buf, size_t sz, size_t nitems, void *u)
{
	struct upload *up = u;
	size_t k = sz * nitems, left = up->n - up->off;

	if (k > left)
		k = left;
	if (k > 1000)
		k = 1000; /* several chunks */
	if (up->data)
		memcpy(buf, up->data + up->off, k);
	else
		memset(buf, 'x', k);
	up->off += k;
	return k;
}

static void resp_reset(struct resp *r)
{
	cJSON_Delete(r->json);
	memset(r, 0, sizeof(*r));
}

/* Send one request; headers: NULL-terminated, may be NULL. up: chunked body instead of body. */
static void http_do(const struct server *sv, const char *method, const char *path, const char *body,
		    const char *const *headers, struct upload *up, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[512];

	resp_reset(r);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", sv->cfg.listen_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (up) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, up);
		h = curl_slist_append(h, "Transfer-Encoding: chunked");
	}
	for (size_t i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	r->curl_rc = (int)curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	r->json = cJSON_Parse(r->body);
}

static void get(const struct server *sv, const char *path, const char *const *hdrs, struct resp *r)
{
	http_do(sv, "GET", path, NULL, hdrs, NULL, r);
}

static void post(const struct server *sv, const char *path, const char *body,
		 const char *const *hdrs, struct resp *r)
{
	http_do(sv, "POST", path, body, hdrs, NULL, r);
}

/* A response header's value (the last one of that name), or NULL. */
static const char *header(const struct resp *r, const char *name)
{
	static char val[256];
	size_t n = strlen(name);

	for (const char *p = r->hdrs; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncasecmp(p, name, n) != 0 || p[n] != ':')
			continue;
		p += n + 1 + strspn(p + n + 1, " ");
		snprintf(val, sizeof(val), "%.*s", (int)strcspn(p, "\r\n"), p);
		return val;
	}
	return NULL;
}

static const char *json_str(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *err_code(const struct resp *r)
{
	return json_str(r->json, "error", "code");
}

/* The error's field: its name, "null" for JSON null, NULL when absent. */
static const char *err_field(const struct resp *r)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(r->json, "error"), "field");

	if (cJSON_IsNull(f))
		return "null";
	return cJSON_IsString(f) ? f->valuestring : NULL;
}

static struct server plain;   /* no keys, no rate limit */
static struct server keyed;   /* two keys, no rate limit */
static struct server limited; /* two keys, 0.5 request/s, burst 2 */
static struct server by_ip;   /* no keys, 0.5 request/s, burst 1 */
static struct cfg_key keys[] = { { "alice", "alice-secret-key" }, { "bob", "bob-secret-key" } };

static const char ok_body[] = "{\"language\":\"py\",\"code\":\"print(1)\"}";

/* ---- tests -------------------------------------------------------------------------------- */

TEST(unknown_path_is_404)
{
	struct resp r = { 0 };
	const char *paths[] = {
		"/nope", "/api/v1/jobs/bad!id", "/api/v1/jobs/", "/api/v1/execute/x",
		"/api/v1/jobs/"
		"a123456789012345678901234567890123456789012345678901234567890123"
	};

	for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
		get(&plain, paths[i], NULL, &r);
		CHECK(r.status == 404);
		CHECK_STREQ(err_code(&r), "not_found");
	}
	/* 64 characters is still an id: it reaches history, which has no such job */
	get(&plain, "/api/v1/jobs/a12345678901234567890123456789012345678901234567890123456789012",
	    NULL, &r);
	CHECK(r.status == 404);
	CHECK_STREQ(err_field(&r), "id");
	resp_reset(&r);
}

TEST(wrong_method_is_405_with_allow)
{
	struct resp r = { 0 };

	get(&plain, "/api/v1/execute", NULL, &r);
	CHECK(r.status == 405);
	CHECK_STREQ(err_code(&r), "method_not_allowed");
	CHECK_STREQ(header(&r, "Allow"), "POST");
	http_do(&plain, "PUT", "/api/v1/jobs", NULL, NULL, NULL, &r);
	CHECK(r.status == 405);
	CHECK_STREQ(header(&r, "Allow"), "POST, GET");
	http_do(&plain, "PATCH", "/api/v1/jobs/abc", NULL, NULL, NULL, &r);
	CHECK(r.status == 405);
	CHECK_STREQ(header(&r, "Allow"), "GET, DELETE");
	post(&plain, "/healthz", "{}", NULL, &r);
	CHECK(r.status == 405);
	CHECK_STREQ(header(&r, "Allow"), "GET");
	resp_reset(&r);
}

TEST(every_answer_carries_the_headers)
{
	struct resp r = { 0 };

	get(&plain, "/nope", NULL, &r);
	CHECK_STREQ(header(&r, "Content-Type"), "application/json; charset=utf-8");
	CHECK_STREQ(header(&r, "Cache-Control"), "no-store");
	CHECK_STREQ(header(&r, "X-Content-Type-Options"), "nosniff");
	get(&plain, "/healthz", NULL, &r);
	CHECK(r.status == 200);
	CHECK_STREQ(json_str(r.json, "status", NULL), "ok");
	CHECK_STREQ(header(&r, "Cache-Control"), "no-store");
	CHECK_STREQ(header(&r, "X-Content-Type-Options"), "nosniff");
	resp_reset(&r);
}

/* A valid request padded with spaces to exactly n bytes. */
static char *padded_body(size_t n)
{
	char *b = malloc(n + 1);

	memset(b, ' ', n);
	memcpy(b, ok_body, strlen(ok_body));
	b[n] = '\0';
	return b;
}

TEST(body_over_the_cap_is_413)
{
	_cleanup_free_ char *big = padded_body(MAX_BODY + 1), *exact = padded_body(MAX_BODY),
			    *huge = padded_body(1 << 20);
	const char *expect[] = { "Expect: 100-continue", NULL };
	struct upload up = { .n = MAX_BODY + 1000 };
	struct resp r = { 0 };

	post(&plain, "/api/v1/execute", big, NULL, &r);
	CHECK(r.status == 413);
	CHECK_STREQ(err_code(&r), "body_too_large");
	/* by Content-Length: refused before the body is sent at all */
	post(&plain, "/api/v1/execute", huge, expect, &r);
	CHECK(r.status == 413);
	/* without Content-Length (chunked): counted as it comes */
	http_do(&plain, "POST", "/api/v1/execute", NULL, NULL, &up, &r);
	CHECK(r.status == 413);
	CHECK_STREQ(err_code(&r), "body_too_large");
	/* the cap itself is allowed, in one piece or in chunks */
	post(&plain, "/api/v1/execute", exact, NULL, &r);
	CHECK(r.status == 200);
	up = (struct upload){ .data = exact, .n = MAX_BODY };
	http_do(&plain, "POST", "/api/v1/execute", NULL, NULL, &up, &r);
	CHECK(r.status == 200);
	/* a client streaming far past the cap is cut off, and the server goes on */
	up = (struct upload){ .n = 50 * MAX_BODY };
	http_do(&plain, "POST", "/api/v1/execute", NULL, NULL, &up, &r);
	CHECK(r.status != 200);
	get(&plain, "/healthz", NULL, &r);
	CHECK(r.status == 200);
	resp_reset(&r);
}

TEST(bad_requests_are_400_naming_the_field)
{
	struct resp r = { 0 };

	post(&plain, "/api/v1/execute", "{nope", NULL, &r);
	CHECK(r.status == 400);
	CHECK_STREQ(err_code(&r), "invalid_json");
	CHECK_STREQ(err_field(&r), "null");
	post(&plain, "/api/v1/execute", "{\"code\":\"print(1)\"}", NULL, &r);
	CHECK(r.status == 400);
	CHECK_STREQ(err_field(&r), "language");
	post(&plain, "/api/v1/jobs", "{\"language\":\"cobol\",\"code\":\"x\"}", NULL, &r);
	CHECK(r.status == 400);
	CHECK_STREQ(err_code(&r), "unknown_language");
	CHECK_STREQ(err_field(&r), "language");
	CHECK(strstr(json_str(r.json, "error", "message") ?: "", "python") != NULL);
	post(&plain, "/api/v1/execute",
	     "{\"language\":\"python\",\"version\":\"2.7\",\"code\":\"x\"}", NULL, &r);
	CHECK(r.status == 400);
	CHECK_STREQ(err_code(&r), "unknown_version");
	CHECK_STREQ(err_field(&r), "version");
	CHECK(strstr(json_str(r.json, "error", "message") ?: "", "3.12") != NULL);
	post(&plain, "/api/v1/execute",
	     "{\"language\":\"python\",\"code\":\"x\",\"callback_url\":\"http://127.0.0.1:1/\"}",
	     NULL, &r);
	CHECK(r.status == 400);
	CHECK_STREQ(err_field(&r), "callback_url");
	resp_reset(&r);
}

TEST(unavailable_language_is_503)
{
	struct resp r = { 0 };

	post(&plain, "/api/v1/execute", "{\"language\":\"ruby\",\"code\":\"puts 1\"}", NULL, &r);
	CHECK(r.status == 503);
	CHECK_STREQ(err_code(&r), "language_unavailable");
	CHECK_STREQ(err_field(&r), "language");
	resp_reset(&r);
}

TEST(execute_and_submit_reach_the_supervisor)
{
	struct resp r = { 0 };
	cJSON *req;

	post(&plain, "/api/v1/execute", ok_body, NULL, &r);
	CHECK(r.status == 200);
	CHECK_STREQ(json_str(r.json, "stdout", NULL), "hi\n");
	pthread_mutex_lock(&plain.fake.lock);
	CHECK(plain.fake.last_type == PROTO_SUBMIT);
	CHECK(plain.fake.last_flags == PROTO_SYNC);
	CHECK_STREQ(plain.fake.last_owner, "");
	/* the supervisor gets the canonical request: the language by its name, not the alias */
	req = cJSON_Parse(plain.fake.last_request);
	pthread_mutex_unlock(&plain.fake.lock);
	CHECK_STREQ(json_str(req, "language", NULL), "python");
	cJSON_Delete(req);
	post(&plain, "/api/v1/jobs", ok_body, NULL, &r);
	CHECK(r.status == 202);
	CHECK_STREQ(json_str(r.json, "id", NULL), "j9");
	CHECK(plain.fake.last_flags == 0);
	/* the supervisor's refusal passes through with its Retry-After */
	post(&plain, "/api/v1/jobs",
	     "{\"language\":\"py\",\"code\":\"x\",\"stdin\":\"queue-full\"}", NULL, &r);
	CHECK(r.status == 429);
	CHECK_STREQ(header(&r, "Retry-After"), "7");
	CHECK_STREQ(err_code(&r), "queue_full");
	resp_reset(&r);
}

TEST(queue_cancel_and_metrics_pass_through)
{
	struct resp r = { 0 };

	get(&plain, "/api/v1/queue", NULL, &r);
	CHECK(r.status == 200);
	CHECK(cJSON_GetObjectItem(r.json, "queued") &&
	      cJSON_GetObjectItem(r.json, "queued")->valueint == 3);
	http_do(&plain, "DELETE", "/api/v1/jobs/gone", NULL, NULL, NULL, &r);
	CHECK(r.status == 404);
	http_do(&plain, "DELETE", "/api/v1/jobs/j1", NULL, NULL, NULL, &r);
	CHECK(r.status == 200);
	CHECK(plain.fake.last_type == PROTO_CANCEL);
	CHECK_STREQ(plain.fake.last_id, "j1");
	get(&plain, "/metrics", NULL, &r);
	CHECK(r.status == 200);
	CHECK_STREQ(header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
	CHECK(strstr(r.body, "sandboxd_slots 4\n") != NULL);
	CHECK(strstr(r.body, "sandboxd_http_requests_total{code=\"200\"}") != NULL);
	resp_reset(&r);
}

TEST(languages_list)
{
	struct resp r = { 0 };
	const cJSON *a, *py, *rb;

	get(&plain, "/api/v1/languages", NULL, &r);
	CHECK(r.status == 200);
	a = cJSON_GetObjectItem(r.json, "languages");
	CHECK(cJSON_GetArraySize(a) == 2);
	py = cJSON_GetArrayItem(a, 0);
	rb = cJSON_GetArrayItem(a, 1);
	CHECK_STREQ(json_str(py, "name", NULL), "python");
	CHECK_STREQ(json_str(py, "version", NULL), "3.12");
	CHECK_STREQ(json_str(py, "image", NULL), "python:3.12-slim");
	CHECK_STREQ(json_str(py, "rootfs", NULL), "host");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(py, "ready")));
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(py, "aliases")) == 1);
	CHECK_STREQ(json_str(rb, "rootfs", NULL), "unavailable");
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(rb, "ready")));
	resp_reset(&r);
}

TEST(readyz_and_draining)
{
	struct resp r = { 0 };

	get(&plain, "/readyz", NULL, &r);
	CHECK(r.status == 200);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "ready")));
	CHECK(cJSON_GetObjectItem(r.json, "languages_ready") &&
	      cJSON_GetObjectItem(r.json, "languages_ready")->valueint == 1);
	atomic_store(&plain.ctx.draining, true);
	get(&plain, "/readyz", NULL, &r);
	CHECK(r.status == 503);
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "ready")));
	CHECK(json_str(r.json, "reason", NULL) != NULL);
	post(&plain, "/api/v1/execute", ok_body, NULL, &r);
	CHECK(r.status == 503);
	CHECK_STREQ(err_code(&r), "shutting_down");
	CHECK_STREQ(header(&r, "Retry-After"), "5");
	get(&plain, "/api/v1/queue", NULL, &r);
	CHECK(r.status == 200); /* reads go on while draining */
	atomic_store(&plain.ctx.draining, false);
	atomic_store(&plain.ctx.supervisor_alive, false);
	get(&plain, "/readyz", NULL, &r);
	CHECK(r.status == 503);
	CHECK_STREQ(json_str(r.json, "supervisor", NULL), "dead");
	atomic_store(&plain.ctx.supervisor_alive, true);
	resp_reset(&r);
}

static void insert_job(struct hist *h, const char *id, const char *owner, const char *lang)
{
	struct hist_job j = { .owner = (char *)owner,
			      .language = (char *)lang,
			      .version = "1",
			      .status = "ok",
			      .request = "{}",
			      .result = "{\"status\":\"ok\",\"stdout\":\"out\",\"stderr\":\"\"}",
			      .finished_ms = hist_now_ms() };
	struct sbx_error err = { 0 };

	snprintf(j.id, sizeof(j.id), "%s", id);
	if (hist_insert(h, &j, &err) < 0) {
		fprintf(stderr, "hist_insert: %s\n", err.msg);
		abort();
	}
}

static void make_history(void)
{
	struct sbx_error err = { 0 };
	struct hist *h;
	int fd = mkstemp(history_path);

	if (fd < 0)
		abort();
	close(fd);
	unlink(history_path); /* history.c creates it, private */
	if (hist_open(history_path, true, &h, &err) < 0) {
		fprintf(stderr, "hist_open: %s\n", err.msg);
		abort();
	}
	insert_job(h, "j1", "alice", "python");
	insert_job(h, "j2", "bob", "python");
	insert_job(h, "j3", NULL, "ruby");
	hist_close(h);
}

static const char *job_id(const struct resp *r, int i)
{
	return json_str(cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "jobs"), i), "id", NULL);
}

static int n_jobs(const struct resp *r)
{
	return cJSON_GetArraySize(cJSON_GetObjectItem(r->json, "jobs"));
}

TEST(job_list_pages)
{
	struct resp r = { 0 };
	char path[128];

	get(&plain, "/api/v1/jobs", NULL, &r);
	CHECK(r.status == 200);
	CHECK(n_jobs(&r) == 3);
	CHECK_STREQ(job_id(&r, 0), "j3"); /* newest first */
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(r.json, "next_cursor")));
	CHECK(!cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "jobs"), 0),
				   "stdout"));
	get(&plain, "/api/v1/jobs?limit=2", NULL, &r);
	CHECK(n_jobs(&r) == 2);
	CHECK(json_str(r.json, "next_cursor", NULL) != NULL);
	snprintf(path, sizeof(path), "/api/v1/jobs?limit=2&cursor=%s",
		 json_str(r.json, "next_cursor", NULL) ?: "x");
	get(&plain, path, NULL, &r);
	CHECK(n_jobs(&r) == 1);
	CHECK_STREQ(job_id(&r, 0), "j1");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(r.json, "next_cursor")));
	get(&plain, "/api/v1/jobs?language=ruby", NULL, &r);
	CHECK(n_jobs(&r) == 1);
	get(&plain, "/api/v1/jobs?language=py", NULL, &r); /* an alias */
	CHECK(n_jobs(&r) == 2);
	resp_reset(&r);
}

TEST(job_list_bad_arguments)
{
	static const char *const bad[][2] = {
		{ "/api/v1/jobs?limit=0", "limit" },	 { "/api/v1/jobs?limit=1001", "limit" },
		{ "/api/v1/jobs?limit=abc", "limit" },	 { "/api/v1/jobs?limit=", "limit" },
		{ "/api/v1/jobs?cursor=-1", "cursor" },	 { "/api/v1/jobs?cursor=0", "cursor" },
		{ "/api/v1/jobs?cursor=12x", "cursor" },
	};
	struct resp r = { 0 };

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		get(&plain, bad[i][0], NULL, &r);
		CHECK(r.status == 400);
		CHECK_STREQ(err_field(&r), bad[i][1]);
	}
	resp_reset(&r);
}

TEST(job_get)
{
	struct resp r = { 0 };

	get(&plain, "/api/v1/jobs/j1", NULL, &r);
	CHECK(r.status == 200);
	CHECK_STREQ(json_str(r.json, "id", NULL), "j1");
	CHECK_STREQ(json_str(r.json, "stdout", NULL), "out");
	get(&plain, "/api/v1/jobs/zzz", NULL, &r);
	CHECK(r.status == 404);
	CHECK_STREQ(err_code(&r), "not_found");
	CHECK_STREQ(err_field(&r), "id");
	resp_reset(&r);
}

static const char *const alice[] = { "X-API-Key: alice-secret-key", NULL };
static const char *const bob_bearer[] = { "Authorization: Bearer bob-secret-key", NULL };

TEST(api_keys)
{
	static const char *const wrong[] = { "X-API-Key: alice-secret-kez", NULL };
	static const char *const prefix[] = { "X-API-Key: alice-secret", NULL };
	static const char *const longer[] = { "X-API-Key: alice-secret-key2", NULL };
	const char *const *bad[] = { wrong, prefix, longer };
	struct resp r = { 0 };
	char missing_msg[256];

	get(&keyed, "/api/v1/languages", NULL, &r);
	CHECK(r.status == 401);
	CHECK_STREQ(err_code(&r), "unauthorized");
	CHECK_STREQ(header(&r, "WWW-Authenticate"), "Bearer");
	snprintf(missing_msg, sizeof(missing_msg), "%s",
		 json_str(r.json, "error", "message") ?: "");
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		get(&keyed, "/api/v1/languages", bad[i], &r);
		CHECK(r.status == 401);
		CHECK_STREQ(err_code(&r), "unauthorized");
		CHECK(strcmp(json_str(r.json, "error", "message") ?: "", missing_msg) != 0);
	}
	get(&keyed, "/api/v1/languages", alice, &r);
	CHECK(r.status == 200);
	get(&keyed, "/api/v1/languages", bob_bearer, &r);
	CHECK(r.status == 200);
	get(&keyed, "/metrics", NULL, &r);
	CHECK(r.status == 401);
	get(&keyed, "/healthz", NULL, &r);
	CHECK(r.status == 200);
	get(&keyed, "/readyz", NULL, &r);
	CHECK(r.status == 200);
	post(&keyed, "/api/v1/execute", ok_body, NULL, &r);
	CHECK(r.status == 401);
	resp_reset(&r);
}

TEST(a_key_sees_its_own_jobs)
{
	struct resp r = { 0 };

	post(&keyed, "/api/v1/execute", ok_body, alice, &r);
	CHECK(r.status == 200);
	CHECK_STREQ(keyed.fake.last_owner, "alice");
	get(&keyed, "/api/v1/jobs", alice, &r);
	CHECK(r.status == 200);
	CHECK(n_jobs(&r) == 1);
	CHECK_STREQ(job_id(&r, 0), "j1");
	get(&keyed, "/api/v1/jobs/j1", alice, &r);
	CHECK(r.status == 200);
	get(&keyed, "/api/v1/jobs/j2", alice, &r);
	CHECK(r.status == 404);
	get(&keyed, "/api/v1/jobs/j3", alice, &r); /* a job from before keys */
	CHECK(r.status == 404);
	http_do(&keyed, "DELETE", "/api/v1/jobs/j2", NULL, alice, NULL, &r);
	CHECK_STREQ(keyed.fake.last_owner, "alice"); /* the supervisor checks the owner */
	resp_reset(&r);
}

TEST(rate_limit_per_key)
{
	static const char *const bob[] = { "X-API-Key: bob-secret-key", NULL };
	struct resp r = { 0 };
	long retry;

	get(&limited, "/api/v1/languages", alice, &r);
	CHECK(r.status == 200);
	get(&limited, "/api/v1/queue", alice, &r);
	CHECK(r.status == 200);
	get(&limited, "/api/v1/languages", alice, &r);
	CHECK(r.status == 429);
	CHECK_STREQ(err_code(&r), "rate_limited");
	retry = header(&r, "Retry-After") ? atol(header(&r, "Retry-After")) : 0;
	CHECK(retry >= 1 && retry <= 2);	     /* 0.5 token/s: at most 2 s to the next */
	get(&limited, "/api/v1/languages", bob, &r); /* another key, another bucket */
	CHECK(r.status == 200);
	get(&limited, "/healthz", NULL, &r); /* only /api/v1 is limited */
	CHECK(r.status == 200);
	get(&limited, "/metrics", alice, &r);
	CHECK(r.status == 200);
	CHECK(strstr(r.body, "sandboxd_http_rate_limited_total 1") != NULL);
	resp_reset(&r);
}

TEST(rate_limit_per_address)
{
	struct resp r = { 0 };

	get(&by_ip, "/api/v1/languages", NULL, &r);
	CHECK(r.status == 200);
	get(&by_ip, "/api/v1/languages", NULL, &r);
	CHECK(r.status == 429);
	CHECK(header(&r, "Retry-After") != NULL);
	resp_reset(&r);
}

TEST(bind_errors)
{
	struct cfg c;
	struct http_ctx ctx = { .cfg = &c, .langs = &test_langset, .ctl_sock = -1 };
	struct http_server *s = NULL;
	struct sbx_error err = { 0 };
	char want[64];

	cfg_init(&c, NULL, 0, 0, 0);
	c.listen_port = plain.cfg.listen_port;
	CHECK(http_start(&ctx, &s, &err) == -EADDRINUSE);
	snprintf(want, sizeof(want), "127.0.0.1:%u", c.listen_port);
	CHECK(strstr(err.msg, want) != NULL);
	c.listen_addr = "localhost";
	CHECK(http_start(&ctx, &s, &err) == -EINVAL);
	CHECK(strstr(err.msg, "localhost") != NULL);
	c.listen_addr = "::1";
	c.listen_port = free_port();
	if (http_start(&ctx, &s, &err) < 0)
		SKIP("no IPv6 loopback here");
	http_stop(s);
}

TEST(dead_supervisor_is_503)
{
	struct resp r = { 0 };

	kill_fake(&plain);
	post(&plain, "/api/v1/execute", ok_body, NULL, &r);
	CHECK(r.status == 503);
	CHECK_STREQ(err_code(&r), "supervisor_unavailable");
	post(&plain, "/api/v1/jobs", ok_body, NULL, &r);
	CHECK(r.status == 503);
	get(&plain, "/api/v1/queue", NULL, &r);
	CHECK(r.status == 503);
	get(&plain, "/metrics", NULL, &r);
	CHECK(r.status == 503);
	get(&plain, "/healthz", NULL, &r); /* the HTTP process itself is alive */
	CHECK(r.status == 200);
	resp_reset(&r);
}

TEST(quiesce_closes_the_listen_socket)
{
	struct resp r = { 0 };

	http_quiesce(by_ip.s);
	get(&by_ip, "/healthz", NULL, &r);
	CHECK(r.status == 0);
	CHECK(r.curl_rc == CURLE_COULDNT_CONNECT);
	resp_reset(&r);
}

int main(void)
{
	log_set_proc("test");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	make_history();
	start(&plain, NULL, 0, 0, 0);
	start(&keyed, keys, ELEMENTSOF(keys), 0, 0);
	start(&limited, keys, ELEMENTSOF(keys), 0.5, 2);
	start(&by_ip, NULL, 0, 0.5, 1);
	RUN(unknown_path_is_404);
	RUN(wrong_method_is_405_with_allow);
	RUN(every_answer_carries_the_headers);
	RUN(body_over_the_cap_is_413);
	RUN(bad_requests_are_400_naming_the_field);
	RUN(unavailable_language_is_503);
	RUN(execute_and_submit_reach_the_supervisor);
	RUN(queue_cancel_and_metrics_pass_through);
	RUN(languages_list);
	RUN(readyz_and_draining);
	RUN(job_list_pages);
	RUN(job_list_bad_arguments);
	RUN(job_get);
	RUN(api_keys);
	RUN(a_key_sees_its_own_jobs);
	RUN(rate_limit_per_key);
	RUN(rate_limit_per_address);
	RUN(bind_errors);
	RUN(dead_supervisor_is_503);
	RUN(quiesce_closes_the_listen_socket);
	stop(&plain);
	stop(&keyed);
	stop(&limited);
	stop(&by_ip);
	unlink(history_path);
	curl_global_cleanup();
	UNIT_END();
}
