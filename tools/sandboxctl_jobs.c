/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl_jobs.c - `sandboxctl status`, `sandboxctl jobs [show ID | cancel ID]` and
 * `sandboxctl languages`: the operators' view of a running sandboxd, over its HTTP API (libcurl
 * easy interface, one handle kept for the command's few requests so they share one connection).
 *
 * Owns: the client side of /healthz, /readyz, /api/v1/queue, /api/v1/jobs and
 * /api/v1/languages, and how their answers are shown. Must not: read the state directory or
 * history.db behind the service's back (the API is the contract, the schema is sandboxd's own),
 * follow redirects (the API key goes only to the URL the operator named), or hold more of an
 * answer than ANSWER_MAX.
 *
 * Exit statuses: 0 done (status: ready), 1 the server said no (an HTTP error, no such job, not
 * ready), 2 usage, 125 the server could not be reached.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandboxctl.h"
#include "util.h"

#define DEFAULT_SERVER	   "http://127.0.0.1:8080"
#define ANSWER_MAX	   ((size_t)64 << 20)
#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS   60000L
#define EXIT_NO		   1
#define PATH_LEN	   4096

struct client {
	CURL *curl;
	char server[512];    /* "http://host:port", no trailing '/' */
	const char *api_key; /* NULL: none */
	char curl_msg[CURL_ERROR_SIZE];
};

struct answer {
	long code; /* HTTP status */
	char *body;
	size_t len, cap;
	bool too_big;
};

struct svc_opts {
	const char *server, *api_key;
	const char *language, *status, *cursor, *limit; /* jobs list filters */
	bool json;
	bool server_given; /* by --server, not $SANDBOXD_URL: the next-page line must repeat it */
};

static void answer_done(struct answer *a)
{
	free(a->body);
	*a = (struct answer){ 0 };
}

static void curl_slist_freep(struct curl_slist **l)
{
	curl_slist_free_all(*l);
}

static void curl_freep(char **p)
{
	curl_free(*p);
}

/* ---- HTTP -------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct answer *a = userdata;
	size_t len = size * n;

	/* Whatever listens on that port decides how much it sends: bound what we hold. */
	if (len > ANSWER_MAX - a->len) {
		a->too_big = true;
		return 0;
	}
	if (a->len + len + 1 > a->cap) {
		size_t cap = a->cap ? a->cap : 16384;
		char *b;

		while (cap < a->len + len + 1)
			cap *= 2;
		b = realloc(a->body, cap);
		if (!b)
			return 0;
		a->body = b;
		a->cap = cap;
	}
	memcpy(a->body + a->len, data, len);
	a->len += len;
	a->body[a->len] = '\0';
	return len;
}

static int make_headers(const struct client *c, struct curl_slist **ret)
{
	char key[1024];

	*ret = curl_slist_append(NULL, "Accept: application/json");
	if (!*ret)
		return -ENOMEM;
	if (!c->api_key)
		return 0;
	snprintf(key, sizeof(key), "X-API-Key: %s", c->api_key);
	return curl_slist_append(*ret, key) ? 0 : -ENOMEM;
}

static void setup_request(struct client *c, const char *method, const char *url,
			  struct curl_slist *hdrs, struct answer *a)
{
	/* Reset, not a new handle: the connection to the server stays open across requests. */
	curl_easy_reset(c->curl);
	c->curl_msg[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_msg);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "sandboxctl");
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
	curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ANSWER_MAX);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, a);
}

/* One request; any HTTP status is a success here. -EFBIG: the answer passed ANSWER_MAX;
 * -EHOSTUNREACH: no answer (err holds curl's reason). */
static int http_call(struct client *c, const char *method, const char *path, struct answer *ret,
		     struct sbx_error *err)
{
	_cleanup_(curl_slist_freep) struct curl_slist *hdrs = NULL;
	char url[PATH_LEN + 512];
	CURLcode rc;

	*ret = (struct answer){ 0 };
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->server, path) >= sizeof(url))
		return sbx_err_msg(err, ENAMETOOLONG, "URL too long");
	if (make_headers(c, &hdrs) < 0)
		return sbx_err(err, ENOMEM, "request headers");
	setup_request(c, method, url, hdrs, ret);
	rc = curl_easy_perform(c->curl);
	if (ret->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		answer_done(ret);
		return sbx_err_msg(err, EFBIG, "%s %s: the answer is larger than %zu MiB", method,
				   path, ANSWER_MAX >> 20);
	}
	if (rc != CURLE_OK) {
		answer_done(ret);
		return sbx_err_msg(err, EHOSTUNREACH, "%s",
				   c->curl_msg[0] ? c->curl_msg : curl_easy_strerror(rc));
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &ret->code);
	return 0;
}

/* http_call, reported: returns 0 or the exit status. */
static int request(struct client *c, const char *method, const char *path, struct answer *ret)
{
	struct sbx_error err = { 0 };
	int r = http_call(c, method, path, ret, &err);

	if (r == -EHOSTUNREACH) {
		fprintf(stderr, "sandboxctl: cannot reach sandboxd at %s: %s\n", c->server,
			err.msg);
		return EXIT_SANDBOX;
	}
	if (r < 0) {
		fprintf(stderr, "sandboxctl: %s: %s\n", c->server, err.msg);
		return EXIT_NO;
	}
	return 0;
}

static bool is_2xx(const struct answer *a)
{
	return a->code >= 200 && a->code < 300;
}

static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The server's {"error": {"code", "message", "field"}}, or the bare HTTP status. */
static int report_http(const struct client *c, const struct answer *a)
{
	_cleanup_(cJSON_Deletep) cJSON *root =
		cJSON_ParseWithLength(a->body ? a->body : "", a->len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	const char *msg = json_str(e, "message"), *code = json_str(e, "code");

	if (msg)
		fprintf(stderr, "sandboxctl: %s (%s)\n", msg, code ? code : "error");
	else
		fprintf(stderr, "sandboxctl: %s answered HTTP %ld\n", c->server, a->code);
	if (a->code == 401 && !c->api_key)
		fprintf(stderr, "sandboxctl: give a key with --api-key or SANDBOXD_API_KEY\n");
	return EXIT_NO;
}

/* A 2xx answer's JSON object; anything else is reported. Returns 0 or the exit status. */
static int parse_answer(const struct client *c, const struct answer *a, cJSON **ret)
{
	if (!is_2xx(a))
		return report_http(c, a);
	*ret = cJSON_ParseWithLength(a->body ? a->body : "", a->len);
	if (!cJSON_IsObject(*ret)) {
		cJSON_Delete(*ret);
		*ret = NULL;
		fprintf(stderr, "sandboxctl: %s: the answer is not a JSON object\n", c->server);
		return EXIT_NO;
	}
	return 0;
}

/* The answer as the server sent it (--json), ending with a newline. */
static int print_raw(const struct answer *a)
{
	fwrite(a->body ? a->body : "", 1, a->len, stdout);
	if (!a->len || a->body[a->len - 1] != '\n')
		putchar('\n');
	return 0;
}

/* ---- options ----------------------------------------------------------------------------- */

enum {
	OPT_SERVER = 0x300,
	OPT_API_KEY,
	OPT_JSON,
	OPT_LANGUAGE,
	OPT_STATUS,
	OPT_LIMIT,
	OPT_CURSOR,
	OPT_HELP,
};

static const struct option svc_long_opts[] = {
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "api-key", required_argument, NULL, OPT_API_KEY },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "language", required_argument, NULL, OPT_LANGUAGE },
	{ "status", required_argument, NULL, OPT_STATUS },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "cursor", required_argument, NULL, OPT_CURSOR },
	{ "help", no_argument, NULL, OPT_HELP },
	{ 0 },
};

static const char svc_usage[] =
	"usage: sandboxctl status [OPTIONS]\n"
	"       sandboxctl jobs [OPTIONS] [--language L] [--status S] [--limit N] [--cursor C]\n"
	"       sandboxctl jobs show ID [OPTIONS]\n"
	"       sandboxctl jobs cancel ID [OPTIONS]   (a finished job: deleted from the history)\n"
	"       sandboxctl languages [OPTIONS]   (where each runs: image, host or unavailable)\n"
	"  --server URL     sandboxd's address (default $SANDBOXD_URL, else " DEFAULT_SERVER ")\n"
	"  --api-key KEY    sent as X-API-Key (default $SANDBOXD_API_KEY)\n"
	"  --json           print the server's JSON as is\n"
	"  --language L     only jobs in this language\n"
	"  --status S       only jobs with this status (queued, running, ok, timeout, ...)\n"
	"  --limit N        at most N jobs on this page\n"
	"  --cursor C       the next page, as the previous page printed it\n"
	"exit status: 0 done (status: ready), 1 the server refused or is not ready,\n"
	"             2 usage, 125 sandboxd could not be reached\n";

static int parse_one(struct svc_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case OPT_SERVER:
		o->server = arg;
		o->server_given = true;
		return 0;
	case OPT_API_KEY:
		o->api_key = arg;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_LANGUAGE:
		o->language = arg;
		return 0;
	case OPT_STATUS:
		o->status = arg;
		return 0;
	case OPT_LIMIT: {
		uint64_t n;

		o->limit = arg;
		return ctl_parse_count(arg, &n)
			       ? 0
			       : ctl_usage_error("--limit '%s': expected a count", arg);
	}
	case OPT_CURSOR:
		o->cursor = arg;
		return 0;
	case OPT_HELP:
		fputs(svc_usage, stdout);
		exit(0);
	}
	return ctl_usage_error("unknown option (try: sandboxctl jobs --help)");
}

/* Options anywhere (`jobs show ID --json`), positional arguments in argv[*ret_first ...]. */
static int parse_svc_args(struct svc_opts *o, int argc, char **argv, int *ret_first)
{
	int opt, r;

	o->server = getenv("SANDBOXD_URL");
	o->api_key = getenv("SANDBOXD_API_KEY");
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", svc_long_opts, NULL)) != -1) {
		if (opt == '?')
			return ctl_usage_error("%s: unknown or incomplete option '%s' (try --help)",
					       argv[0], argv[optind - 1]);
		r = parse_one(o, opt, optarg);
		if (r)
			return r;
	}
	if (!o->server || !*o->server)
		o->server = DEFAULT_SERVER;
	if (o->api_key && !*o->api_key)
		o->api_key = NULL;
	*ret_first = optind;
	return 0;
}

static bool has_ctl_char(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int client_open(struct client *c, const struct svc_opts *o)
{
	size_t n = strlen(o->server);

	if (strncmp(o->server, "http://", 7) && strncmp(o->server, "https://", 8))
		return ctl_usage_error("--server '%s': expected an http:// or https:// URL",
				       o->server);
	while (n > 0 && o->server[n - 1] == '/')
		n--;
	if (n >= sizeof(c->server) || has_ctl_char(o->server))
		return ctl_usage_error("--server: not a usable URL");
	/* A CR or LF in the key would smuggle headers into every request. */
	if (o->api_key && has_ctl_char(o->api_key))
		return ctl_usage_error("--api-key: control characters are not allowed");
	memcpy(c->server, o->server, n);
	c->server[n] = '\0';
	c->api_key = o->api_key;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(c->curl = curl_easy_init())) {
		fprintf(stderr, "sandboxctl: cannot initialise libcurl\n");
		return EXIT_SANDBOX;
	}
	return 0;
}

static void client_close(struct client *c)
{
	if (!c->curl)
		return;
	curl_easy_cleanup(c->curl);
	curl_global_cleanup();
}

/* ---- status ------------------------------------------------------------------------------ */

static void append(char *buf, size_t size, const char *a, const char *b)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s%s%s%s", n ? "; " : "", a, b ? ": " : "", b ? b : "");
}

/* One readiness check, keyed by name or carrying "name": true, false, "ok" / a reason, or
 * {"ok": bool, "message"|"error"}. */
static void check_reason(const cJSON *chk, char *buf, size_t size)
{
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(chk, "ok");
	const char *name = chk->string ? chk->string : json_str(chk, "name");
	const char *why =
		json_str(chk, "message") ? json_str(chk, "message") : json_str(chk, "error");

	if (!name)
		return;
	if (cJSON_IsFalse(chk))
		append(buf, size, name, "failed");
	else if (cJSON_IsString(chk) && strcmp(chk->valuestring, "ok"))
		append(buf, size, name, chk->valuestring);
	else if (cJSON_IsFalse(ok))
		append(buf, size, name, why ? why : "failed");
}

/* Why /readyz says no, from "reason", "reasons" [..], "checks" {..} or "error" {message}. */
static void ready_reasons(const cJSON *root, char *buf, size_t size)
{
	const cJSON *it, *e = cJSON_GetObjectItemCaseSensitive(root, "error");

	if (json_str(root, "reason"))
		append(buf, size, json_str(root, "reason"), NULL);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "reasons"))
	{
		if (cJSON_IsString(it))
			append(buf, size, it->valuestring, NULL);
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "checks"))
	{
		check_reason(it, buf, size);
	}
	if (json_str(e, "message"))
		append(buf, size, json_str(e, "message"), NULL);
}

/* Ready when /healthz and /readyz answer 2xx, unless the JSON says "ready": false. */
static bool is_ready(const struct answer *health, const struct answer *ready, char *why,
		     size_t size)
{
	_cleanup_(cJSON_Deletep) cJSON *root =
		cJSON_ParseWithLength(ready->body ? ready->body : "", ready->len);
	const cJSON *flag = cJSON_GetObjectItemCaseSensitive(root, "ready");
	bool ok = cJSON_IsBool(flag) ? cJSON_IsTrue(flag) : is_2xx(ready);
	char code[64];

	why[0] = '\0';
	if (!is_2xx(health)) {
		snprintf(code, sizeof(code), "HTTP %ld", health->code);
		append(why, size, "/healthz", code);
		ok = false;
	}
	if (ok)
		return true;
	ready_reasons(root, why, size);
	if (!why[0])
		snprintf(why, size, "/readyz answered HTTP %ld", ready->code);
	return false;
}

static void print_count(const char *label, const cJSON *q, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(q, key);

	if (cJSON_IsNumber(v))
		printf("%-9s %.0f", label, v->valuedouble);
	else
		printf("%-9s -", label);
}

static void print_totals(const cJSON *q)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(q, "totals"), *it;
	const char *sep = "";

	if (!t)
		t = cJSON_GetObjectItemCaseSensitive(q, "by_status");
	printf("%-9s ", "totals");
	cJSON_ArrayForEach(it, t)
	{
		if (it->string && cJSON_IsNumber(it)) {
			printf("%s%s %.0f", sep, it->string, it->valuedouble);
			sep = ", ";
		}
	}
	printf("%s\n", *sep ? "" : "-");
}

static void print_queue(const cJSON *q)
{
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(q, "queue_max");

	print_count("slots", q, "slots");
	putchar('\n');
	print_count("running", q, "running");
	putchar('\n');
	print_count("queued", q, "queued");
	if (cJSON_IsNumber(max))
		printf(" (at most %.0f)", max->valuedouble);
	putchar('\n');
	print_totals(q);
}

static void add_raw(cJSON *o, const char *key, const struct answer *a)
{
	cJSON *v = cJSON_ParseWithLength(a->body ? a->body : "", a->len);

	if (!v)
		v = a->body ? cJSON_CreateString(a->body) : cJSON_CreateNull();
	cJSON_AddItemToObject(o, key, v);
}

/* --json: the three answers as they came, in one object. */
static void print_status_json(const struct client *c, const struct answer *health,
			      const struct answer *ready, const struct answer *queue)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *text = NULL;

	cJSON_AddStringToObject(o, "server", c->server);
	add_raw(o, "healthz", health);
	add_raw(o, "readyz", ready);
	add_raw(o, "queue", queue);
	text = cJSON_Print(o);
	puts(text ? text : "{}");
}

/* The queue's answer, or its error on stderr: a wrong key must not hide readiness, nor pass for
 * success (a script checking the exit status would never learn that its key is refused).
 * Returns 0 or the exit status. */
static int show_queue(const struct client *c, const struct answer *queue, bool json)
{
	_cleanup_(cJSON_Deletep) cJSON *q = NULL;
	int r;

	fflush(stdout);
	if (json)
		return is_2xx(queue) ? 0 : report_http(c, queue);
	r = parse_answer(c, queue, &q);
	if (!r)
		print_queue(q);
	return r;
}

static int do_status(struct client *c, const struct svc_opts *o, char **args)
{
	_cleanup_(answer_done) struct answer health = { 0 }, ready = { 0 }, queue = { 0 };
	char why[1024];
	bool ok;
	int r;

	r = request(c, "GET", "/healthz", &health);
	if (!r)
		r = request(c, "GET", "/readyz", &ready);
	if (!r)
		r = request(c, "GET", "/api/v1/queue", &queue);
	if (r)
		return r;
	ok = is_ready(&health, &ready, why, sizeof(why));
	if (o->json) {
		print_status_json(c, &health, &ready, &queue);
	} else {
		printf("%-9s %s\n", "server", c->server);
		printf("%-9s %s%s%s\n", "ready", ok ? "yes" : "no", ok ? "" : ": ", ok ? "" : why);
	}
	r = show_queue(c, &queue, o->json);
	return ok && !r ? 0 : EXIT_NO;
}

/* ---- jobs -------------------------------------------------------------------------------- */

/* "?language=..&status=..": every value URL-encoded. Returns 0 or the exit status. */
static int build_list_path(struct client *c, const struct svc_opts *o, char *buf, size_t size)
{
	const struct {
		const char *name, *value;
	} params[] = {
		{ "language", o->language },
		{ "status", o->status },
		{ "limit", o->limit },
		{ "cursor", o->cursor },
	};
	size_t n = (size_t)snprintf(buf, size, "/api/v1/jobs");

	for (size_t i = 0; i < ELEMENTSOF(params); i++) {
		_cleanup_(curl_freep) char *v = NULL;

		if (!params[i].value)
			continue;
		v = curl_easy_escape(c->curl, params[i].value, 0);
		if (!v)
			return ctl_usage_error("--%s: cannot encode", params[i].name);
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%c%s=%s",
				      strchr(buf, '?') ? '&' : '?', params[i].name, v);
	}
	return n < size ? 0 : ctl_usage_error("jobs: the filters are too long");
}

/* A word the operator can paste back into a shell. */
static void print_shell_word(const char *s)
{
	static const char plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				    "0123456789_.,:=+-/";

	if (*s && strspn(s, plain) == strlen(s)) {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

static void print_next(const struct svc_opts *o, const char *cursor)
{
	const struct {
		const char *flag, *value;
	} keep[] = {
		{ " --language ", o->language },
		{ " --status ", o->status },
		{ " --limit ", o->limit },
		{ " --server ", o->server_given ? o->server : NULL },
	};

	printf("next: sandboxctl jobs --cursor ");
	print_shell_word(cursor);
	/* The cursor means "after this job, under these filters, on this server": keep them
	 * (not the API key: it is a secret, and the page would print it). */
	for (size_t i = 0; i < ELEMENTSOF(keep); i++) {
		if (!keep[i].value)
			continue;
		fputs(keep[i].flag, stdout);
		print_shell_word(keep[i].value);
	}
	putchar('\n');
}

static void print_job_line(const cJSON *j)
{
	const cJSON *wall = cJSON_GetObjectItemCaseSensitive(j, "wall_ms");
	const char *id = json_str(j, "id"), *st = json_str(j, "status");
	const char *lang = json_str(j, "language"), *created = json_str(j, "created_at");
	char w[32] = "-";

	if (cJSON_IsNumber(wall))
		snprintf(w, sizeof(w), "%.0f", wall->valuedouble);
	printf("%-36s %-14s %-12s %-24s %9s\n", id ? id : "-", st ? st : "-", lang ? lang : "-",
	       created ? created : "-", w);
}

static int do_list(struct client *c, const struct svc_opts *o, char **args)
{
	_cleanup_(answer_done) struct answer a = { 0 };
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	const cJSON *jobs, *j, *next;
	char path[PATH_LEN];
	int r;

	r = build_list_path(c, o, path, sizeof(path));
	if (!r)
		r = request(c, "GET", path, &a);
	if (!r && o->json)
		return is_2xx(&a) ? print_raw(&a) : report_http(c, &a);
	if (!r)
		r = parse_answer(c, &a, &root);
	if (r)
		return r;
	jobs = cJSON_GetObjectItemCaseSensitive(root, "jobs");
	if (!cJSON_IsArray(jobs)) {
		fprintf(stderr, "sandboxctl: %s: the answer has no \"jobs\" list\n", c->server);
		return EXIT_NO;
	}
	printf("%-36s %-14s %-12s %-24s %9s\n", "ID", "STATUS", "LANGUAGE", "CREATED", "WALL(ms)");
	cJSON_ArrayForEach(j, jobs)
	{
		print_job_line(j);
	}
	next = cJSON_GetObjectItemCaseSensitive(root, "next_cursor");
	if (cJSON_IsString(next) && *next->valuestring)
		print_next(o, next->valuestring);
	return 0;
}

/* A job's output may hold escape sequences that retitle or rewrite the operator's terminal:
 * on a terminal, control characters other than newline and tab are shown as '?'. */
static void print_text(const char *s)
{
	bool tty = isatty(STDOUT_FILENO);

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool ctl = (ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f;

		putchar(tty && ctl ? '?' : ch);
	}
}

static void print_field(const char *key, const cJSON *v)
{
	_cleanup_free_ char *other = NULL;

	printf("%-12s ", key);
	if (cJSON_IsString(v))
		print_text(v->valuestring);
	else if (cJSON_IsNumber(v))
		printf("%.0f", v->valuedouble);
	else if (cJSON_IsNull(v))
		putchar('-');
	else if (cJSON_IsBool(v))
		fputs(cJSON_IsTrue(v) ? "true" : "false", stdout);
	else if ((other = cJSON_PrintUnformatted(v)))
		print_text(other);
	putchar('\n');
}

/* Under a heading, when the job wrote anything there. */
static void print_output(const cJSON *o, const char *key, const char *heading)
{
	const char *text = json_str(o, key);
	char flag[48];

	if (!text || !*text)
		return;
	snprintf(flag, sizeof(flag), "%s_truncated", key);
	printf("--- %s%s ---\n", heading,
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, flag)) ? " (truncated)" : "");
	print_text(text);
	if (text[strlen(text) - 1] != '\n')
		putchar('\n');
}

static void print_job(const cJSON *j)
{
	static const char *const fields[] = {
		"id",	      "status",	     "language",  "version", "created_at",
		"started_at", "finished_at", "exit_code", "signal",  "limit",
		"time_ms",    "wall_ms",     "memory_kb", "message", "error",
	};
	const cJSON *compile = cJSON_GetObjectItemCaseSensitive(j, "compile");

	for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, fields[i]);

		/* An empty message says nothing; a null one (not finished yet) says so. */
		if (v && !(cJSON_IsString(v) && !*v->valuestring))
			print_field(fields[i], v);
	}
	print_output(compile, "stdout", "compile stdout");
	print_output(compile, "stderr", "compile stderr");
	print_output(j, "stdout", "stdout");
	print_output(j, "stderr", "stderr");
}

/* GET or DELETE /api/v1/jobs/ID (ID encoded: "../queue" stays a job name). 404 -> no job. */
static int job_call(struct client *c, const char *method, const char *id, struct answer *a)
{
	_cleanup_(curl_freep) char *v = curl_easy_escape(c->curl, id, 0);
	char path[PATH_LEN];
	int r;

	if (!v || (size_t)snprintf(path, sizeof(path), "/api/v1/jobs/%s", v) >= sizeof(path))
		return ctl_usage_error("job ID too long");
	r = request(c, method, path, a);
	if (!r && a->code == 404) {
		fprintf(stderr, "sandboxctl: no job %s\n", id);
		return EXIT_NO;
	}
	return r;
}

static int do_show(struct client *c, const struct svc_opts *o, char **args)
{
	_cleanup_(answer_done) struct answer a = { 0 };
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	int r = job_call(c, "GET", args[0], &a);

	if (!r && o->json)
		return is_2xx(&a) ? print_raw(&a) : report_http(c, &a);
	if (!r)
		r = parse_answer(c, &a, &root);
	if (!r)
		print_job(root);
	return r;
}

static int do_cancel(struct client *c, const struct svc_opts *o, char **args)
{
	_cleanup_(answer_done) struct answer a = { 0 };
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	const char *st;
	int r = job_call(c, "DELETE", args[0], &a);

	if (!r && o->json)
		return is_2xx(&a) ? print_raw(&a) : report_http(c, &a);
	if (!r)
		r = parse_answer(c, &a, &root);
	if (r)
		return r;
	/* A queued or running job answers with its new status; a finished one is deleted. */
	st = json_str(root, "status");
	if (!st && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "deleted")))
		st = "deleted";
	printf("%s %s\n", args[0], st ? st : "-");
	return 0;
}

/* ---- languages --------------------------------------------------------------------------- */

/* The aliases, comma-separated ("-" for none): one word, so the table's columns stay apart. */
static void join_aliases(const cJSON *aliases, char *buf, size_t size)
{
	const cJSON *it;
	size_t n = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(it, aliases)
	{
		if (cJSON_IsString(it) && n < size)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "," : "",
					      it->valuestring);
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static void print_language_line(const cJSON *l)
{
	char aliases[256];

	join_aliases(cJSON_GetObjectItemCaseSensitive(l, "aliases"), aliases, sizeof(aliases));
	printf("%-12s %-10s %-20s %-11s %s\n", or_dash(json_str(l, "name")),
	       or_dash(json_str(l, "version")), aliases, or_dash(json_str(l, "rootfs")),
	       or_dash(json_str(l, "image")));
}

static int do_languages(struct client *c, const struct svc_opts *o, char **args)
{
	_cleanup_(answer_done) struct answer a = { 0 };
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	const cJSON *langs, *l;
	int r = request(c, "GET", "/api/v1/languages", &a);

	if (!r && o->json)
		return is_2xx(&a) ? print_raw(&a) : report_http(c, &a);
	if (!r)
		r = parse_answer(c, &a, &root);
	if (r)
		return r;
	langs = cJSON_GetObjectItemCaseSensitive(root, "languages");
	if (!cJSON_IsArray(langs)) {
		fprintf(stderr, "sandboxctl: %s: the answer has no \"languages\" list\n",
			c->server);
		return EXIT_NO;
	}
	printf("%-12s %-10s %-20s %-11s %s\n", "NAME", "VERSION", "ALIASES", "ROOTFS", "IMAGE");
	cJSON_ArrayForEach(l, langs)
	{
		print_language_line(l);
	}
	return 0;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static const struct {
	const char *cmd;
	const char *verb; /* NULL: the command alone */
	int n_args;	  /* after the verb */
	bool filters;	  /* takes --language, --status, --limit, --cursor */
	int (*fn)(struct client *c, const struct svc_opts *o, char **args);
} actions[] = {
	{ "status", NULL, 0, false, do_status },       { "jobs", NULL, 0, true, do_list },
	{ "jobs", "show", 1, false, do_show },	       { "jobs", "cancel", 1, false, do_cancel },
	{ "languages", NULL, 0, false, do_languages },
};

static bool same(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

/* Whether cmd has actions named by a verb (jobs show, jobs cancel). */
static bool has_verbs(const char *cmd)
{
	for (size_t i = 0; i < ELEMENTSOF(actions); i++)
		if (!strcmp(cmd, actions[i].cmd) && actions[i].verb)
			return true;
	return false;
}

/* Which action argv's positional words ask for, in *ret. Returns 0 or the usage status. */
static int find_action(const char *cmd, char **pos, int n_pos, const struct svc_opts *o,
		       size_t *ret)
{
	const char *verb = n_pos > 0 && has_verbs(cmd) ? pos[0] : NULL;
	int n_args = verb ? n_pos - 1 : n_pos;
	size_t i;

	for (i = 0; i < ELEMENTSOF(actions); i++)
		if (!strcmp(cmd, actions[i].cmd) && same(verb, actions[i].verb))
			break;
	if (i == ELEMENTSOF(actions))
		return ctl_usage_error("%s: unknown action '%s' (expected show or cancel)", cmd,
				       verb ? verb : "");
	if (n_args != actions[i].n_args)
		return ctl_usage_error("%s%s%s: expected %s (try --help)", cmd, verb ? " " : "",
				       verb ? verb : "",
				       actions[i].n_args ? "one job ID" : "no argument");
	if (!actions[i].filters && (o->language || o->status || o->limit || o->cursor))
		return ctl_usage_error(
			"--language, --status, --limit and --cursor go with 'sandboxctl jobs'");
	*ret = i;
	return 0;
}

int ctl_cmd_service(int argc, char **argv)
{
	struct svc_opts o = { 0 };
	struct client c = { 0 };
	size_t i = 0;
	int first = 0, r;

	r = parse_svc_args(&o, argc, argv, &first);
	if (!r)
		r = find_action(argv[0], argv + first, argc - first, &o, &i);
	if (r)
		return r;
	r = client_open(&c, &o);
	if (!r)
		r = actions[i].fn(&c, &o, argv + first + (actions[i].verb ? 1 : 0));
	client_close(&c);
	return r;
}
