/* SPDX-License-Identifier: MIT */
/*
 * registry.c - a registry API v2 client for one repository (libcurl easy API, one handle kept
 * alive across requests): manifests into memory, blobs streamed into an fd while hashed.
 *
 * Owns: the order of endpoints (Docker Hub mirrors, then the origin), the auth handshake
 * (401 -> WWW-Authenticate -> Bearer token from the realm, or Basic), redirects, retries with
 * backoff, and the checks that make a byte stream trustworthy (digest, size, media type).
 * Must not: log, exit, keep JSON, or let a credential reach a host the user did not name.
 *
 * Credentials policy: the Authorization header is only ever sent to the scheme+host+port of the
 * endpoint it belongs to (or, for the token request, to the realm that endpoint named).
 * Redirects are followed here, not by curl, so a blob redirect to object storage goes without
 * the header (curl would also strip it, but the rule should not depend on curl's version:
 * CVE-2018-1000007, CVE-2022-27776 were leaks of exactly this kind).
 *
 * TLS: the system CA bundle, or opts->ca_file instead of it (CURLOPT_CAINFO replaces the
 * bundle). Debian's libcurl also searches the hashed CA directory /etc/ssl/certs (CURLOPT_CAPATH
 * left at its default), so the system CAs stay trusted there; elsewhere give a bundle holding
 * both.
 */
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "registry.h"
#include "util.h"

#define MANIFEST_MAX	  (4U << 20)
#define TOKEN_MAX	  (1U << 20)
#define AUTH_FILE_MAX	  (1U << 20)
#define DROPPED_MAX	  (1U << 20) /* body of an error or redirect response */
#define MAX_REDIRECTS	  5
#define MAX_BASES	  9 /* 8 mirrors + the origin */
#define BACKOFF_FIRST_MS  200
#define BACKOFF_MAX_MS	  5000
#define RETRY_AFTER_MAX_S 10 /* a longer Retry-After is a rate limit: fail, don't hang */

/* An endpoint: a Docker Hub mirror or the origin registry. */
struct reg_base {
	char url[512]; /* "https://host[:port]" (no trailing '/') */
	bool http_ok;  /* plain HTTP allowed here (loopback, allow_http, an http:// mirror) */
	char *basic;   /* base64 "user:pass" for this host from the auth file, or NULL */
	char *authz;   /* "Authorization: ..." won from this endpoint's challenge, or NULL */
	bool twin;     /* the plain-HTTP twin of the HTTPS origin before it: tried only when
			  HTTPS failed to connect (a loopback or allowed-insecure registry) */
	bool has_twin; /* this HTTPS origin has such a twin: a failed connect is not retried */
};

struct img_registry {
	CURL *curl;
	char domain[256];
	char repo[256];
	char *ca_file;
	unsigned retries, timeout_s;
	struct reg_base bases[MAX_BASES];
	unsigned n_bases;
	char curl_msg[CURL_ERROR_SIZE];
};

/* One request's response: a few headers, and the body of a 2xx into memory or an fd. */
struct reg_xfer {
	long status;
	char www_auth[1024], content_type[128], retry_after[32];
	bool retryable; /* the last failure was a transport error worth another attempt */
	int sink_r;	/* a write-side failure (size cap, digest, EIO): final, err is filled */
	struct sbx_error *err;
	struct img_sha256 hash;
	uint64_t written, dropped;
	/* memory sink (fd < 0) */
	char *mem;
	size_t cap, max;
	/* fd sink */
	int fd;
	off_t fd_start; /* where this blob began, to rewind a retry; -1: not seekable */
	uint64_t expected;
	const char *digest;
	img_progress_fn progress;
	void *userdata;
};

static void curl_slist_free_allp(struct curl_slist **l)
{
	curl_slist_free_all(*l);
}

static void curl_freep(char **p)
{
	curl_free(*p);
}

/* curl_global_init is not safe to race; the first client in the process does it. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- URLs ---------------------------------------------------------------------------------- */

struct url_parts {
	char scheme[8], host[256], port[8]; /* port "" when the URL names none */
};

static int url_split(const char *url, struct url_parts *ret)
{
	static const CURLUPart parts[] = { CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT };
	char *bufs[] = { ret->scheme, ret->host, ret->port };
	size_t sizes[] = { sizeof(ret->scheme), sizeof(ret->host), sizeof(ret->port) };
	CURLU *u = curl_url();
	int r = 0;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		r = -EINVAL;
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(parts); i++) {
		char *s = NULL;
		CURLUcode rc = curl_url_get(u, parts[i], &s, 0);

		bufs[i][0] = '\0';
		if (rc == CURLUE_OK && strlen(s) < sizes[i])
			memcpy(bufs[i], s, strlen(s) + 1);
		else if (rc == CURLUE_OK || parts[i] != CURLUPART_PORT)
			r = -EINVAL;
		curl_free(s);
	}
	curl_url_cleanup(u);
	return r;
}

static const char *url_port(const struct url_parts *p)
{
	if (p->port[0])
		return p->port;
	return strcmp(p->scheme, "https") == 0 ? "443" : "80";
}

/* Same scheme, host and port: the only place an Authorization header may follow us to. */
static bool url_same_origin(const char *a, const char *b)
{
	struct url_parts pa, pb;

	if (url_split(a, &pa) < 0 || url_split(b, &pb) < 0)
		return false;
	return strcasecmp(pa.scheme, pb.scheme) == 0 && strcasecmp(pa.host, pb.host) == 0 &&
	       strcmp(url_port(&pa), url_port(&pb)) == 0;
}

/* "host[:port]" as auth files key registries. */
static int url_hostport(const char *url, char *buf, size_t size)
{
	struct url_parts p;
	int n;

	if (url_split(url, &p) < 0)
		return -EINVAL;
	n = snprintf(buf, size, "%s%s%s", p.host, p.port[0] ? ":" : "", p.port);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* A URL without its query, for messages: signed storage URLs carry credentials there. */
static void url_for_msg(const char *url, char *buf, size_t size)
{
	snprintf(buf, size, "%.*s", (int)strcspn(url, "?#"), url);
}

/* ---- credentials (Docker config.json) ------------------------------------------------------ */

static int auth_file_read(const char *path, cJSON **ret, struct sbx_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = sbx_read_file_all(AT_FDCWD, path, 0, AUTH_FILE_MAX, &buf, &len);

	if (r < 0)
		return sbx_err(err, -r, "auth file %s (a regular file under 1 MiB)", path);
	*ret = cJSON_ParseWithLength(buf, len);
	if (!*ret)
		return sbx_err_msg(err, EINVAL, "auth file %s: not valid JSON", path);
	return 0;
}

/* Keys are "host", "host:port" or URLs ("https://index.docker.io/v1/"): the host part. */
static void auth_key_host(const char *key, char *buf, size_t size)
{
	const char *p = strstr(key, "://");

	p = p ? p + 3 : key;
	snprintf(buf, size, "%.*s", (int)strcspn(p, "/"), p);
}

static bool auth_key_matches(const char *key, const char *host, bool docker_hub)
{
	static const char *const hub_names[] = { "docker.io", "index.docker.io",
						 "registry-1.docker.io", NULL };
	char h[256];

	auth_key_host(key, h, sizeof(h));
	if (strcasecmp(h, host) == 0)
		return true;
	for (const char *const *n = hub_names; docker_hub && *n; n++)
		if (strcasecmp(h, *n) == 0)
			return true;
	return false;
}

/* Base64 only: the value goes into a header line, so CR/LF must not get through. */
static bool is_base64(const char *s)
{
	return s[0] &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
		       strlen(s);
}

/* {"auth": base64} or {"username", "password"} -> malloc'd base64 "user:pass". */
static int auth_entry_basic(const cJSON *e, char **ret)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "auth");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "username");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "password");
	_cleanup_free_ char *plain = NULL;
	char *out;

	if (cJSON_IsString(a) && a->valuestring[0]) {
		if (!is_base64(a->valuestring))
			return -EINVAL;
		*ret = strdup(a->valuestring);
		return *ret ? 0 : -ENOMEM;
	}
	if (!cJSON_IsString(u) || !cJSON_IsString(p))
		return 0; /* an entry for credential helpers: nothing for us */
	if (asprintf(&plain, "%s:%s", u->valuestring, p->valuestring) < 0)
		return -ENOMEM;
	out = malloc(4 * (strlen(plain) / 3 + 1) + 1);
	if (!out)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)out, (unsigned char *)plain, (int)strlen(plain));
	*ret = out;
	return 0;
}

static int auth_lookup(const cJSON *cfg, const char *host, bool docker_hub, char **ret,
		       struct sbx_error *err)
{
	const cJSON *auths = cJSON_GetObjectItemCaseSensitive(cfg, "auths");
	const cJSON *e;
	int r;

	cJSON_ArrayForEach(e, auths)
	{
		if (!e->string || !auth_key_matches(e->string, host, docker_hub))
			continue;
		r = auth_entry_basic(e, ret);
		if (r < 0)
			return sbx_err_msg(err, -r, "auth file: bad credentials for %s", e->string);
		if (*ret)
			return 0;
	}
	return 0;
}

/* ---- endpoints ----------------------------------------------------------------------------- */

static int base_add(struct img_registry *r, const char *url, bool http_ok, bool mirror,
		    const cJSON *auth, struct sbx_error *err)
{
	struct reg_base *b = &r->bases[r->n_bases];
	char host[300];
	size_t n = strlen(url);

	while (n > 0 && url[n - 1] == '/')
		n--;
	if (r->n_bases >= MAX_BASES)
		return sbx_err_msg(err, E2BIG, "more than %d registry mirrors", MAX_BASES - 1);
	if (n >= sizeof(b->url) || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)))
		return sbx_err_msg(err, EINVAL, "registry URL \"%s\" is not http(s)://host", url);
	snprintf(b->url, sizeof(b->url), "%.*s", (int)n, url);
	if (url_hostport(b->url, host, sizeof(host)) < 0)
		return sbx_err_msg(err, EINVAL, "registry URL \"%s\" is not a valid URL", url);
	b->http_ok = http_ok;
	r->n_bases++;
	if (!auth)
		return 0;
	/* The origin is keyed by its name as the user wrote it; a mirror by its host. */
	return auth_lookup(auth, mirror ? host : r->domain,
			   !mirror && strcmp(r->domain, "docker.io") == 0, &b->basic, err);
}

static int bases_setup(struct img_registry *r, const struct img_ref *ref,
		       const struct img_registry_opts *opts, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *auth = NULL;
	bool http_ok = img_ref_is_loopback(ref) || opts->allow_http;
	char origin[300];
	int res;

	if (opts->auth_file) {
		res = auth_file_read(opts->auth_file, &auth, err);
		if (res < 0)
			return res;
	}
	/* Mirrors are Docker's registry-mirrors: a pull-through cache of Docker Hub only. */
	for (const char *const *m = opts->mirrors; m && *m && strcmp(ref->domain, "docker.io") == 0;
	     m++) {
		res = base_add(r, *m, strncmp(*m, "http://", 7) == 0, true, auth, err);
		if (res < 0)
			return res;
	}
	/* HTTPS first, as Docker does for insecure registries; plain HTTP only where allowed. */
	snprintf(origin, sizeof(origin), "https://%s", img_ref_api_host(ref));
	res = base_add(r, origin, http_ok, false, auth, err);
	if (res < 0 || !http_ok)
		return res;
	snprintf(origin, sizeof(origin), "http://%s", img_ref_api_host(ref));
	res = base_add(r, origin, true, false, auth, err);
	r->bases[r->n_bases - 1].twin = true;
	r->bases[r->n_bases - 2].has_twin = true;
	return res;
}

/* ---- transfers ----------------------------------------------------------------------------- */

static void xfer_init(struct reg_xfer *x, int fd, size_t max, struct sbx_error *err)
{
	memset(x, 0, sizeof(*x));
	x->fd = fd;
	x->max = max;
	x->err = err;
	x->fd_start = -1;
}

static void xfer_done(struct reg_xfer *x)
{
	img_sha256_done(&x->hash);
	free(x->mem);
	x->mem = NULL;
}

/* Before each attempt: forget the last response and rewind what it wrote. */
static int xfer_reset(struct reg_xfer *x, struct sbx_error *err)
{
	x->status = 0;
	x->www_auth[0] = x->content_type[0] = x->retry_after[0] = '\0';
	x->retryable = false;
	x->sink_r = 0;
	if (x->fd >= 0 && x->written > 0) {
		if (x->fd_start < 0)
			return sbx_err_msg(err, ESPIPE, "cannot restart a download into a pipe");
		if (ftruncate(x->fd, x->fd_start) < 0 || lseek(x->fd, x->fd_start, SEEK_SET) < 0)
			return sbx_err(err, errno, "rewind the download");
	}
	x->written = x->dropped = 0;
	img_sha256_done(&x->hash);
	return img_sha256_init(&x->hash, err);
}

static const struct {
	const char *name;
	size_t off, size;
} captured_headers[] = {
#define CAPTURE(name, field)                                                                       \
	{                                                                                          \
		name, offsetof(struct reg_xfer, field), sizeof(((struct reg_xfer *)0)->field)      \
	}
	CAPTURE("www-authenticate", www_auth),
	CAPTURE("content-type", content_type),
	CAPTURE("retry-after", retry_after),
#undef CAPTURE
};

static void header_capture(struct reg_xfer *x, const char *line, size_t len)
{
	for (size_t i = 0; i < ELEMENTSOF(captured_headers); i++) {
		size_t nl = strlen(captured_headers[i].name);
		char *dst = (char *)x + captured_headers[i].off;

		if (len <= nl || line[nl] != ':' || strncasecmp(line, captured_headers[i].name, nl))
			continue;
		if (dst[0]) /* the first challenge / value wins */
			return;
		line += nl + 1;
		len -= nl + 1;
		while (len > 0 && (*line == ' ' || *line == '\t'))
			line++, len--;
		while (len > 0 &&
		       (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
			len--;
		snprintf(dst, captured_headers[i].size, "%.*s", (int)len, line);
		return;
	}
}

static size_t on_header(char *buf, size_t size, size_t n, void *data)
{
	struct reg_xfer *x = data;
	size_t len = size * n;

	/* A status line starts a response (there may be a 100 Continue before the real one). */
	if (len > 9 && strncmp(buf, "HTTP/", 5) == 0) {
		const char *sp = memchr(buf, ' ', len);

		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		x->www_auth[0] = x->content_type[0] = x->retry_after[0] = '\0';
		return len;
	}
	header_capture(x, buf, len);
	return len;
}

static int sink_mem(struct reg_xfer *x, const char *buf, size_t len)
{
	size_t cap;
	char *p;

	if (x->written + len > x->max)
		return sbx_err_msg(x->err, EFBIG, "response larger than %zu bytes", x->max);
	if (x->written + len + 1 > x->cap) {
		cap = x->cap ? x->cap : 16384;
		while (cap < x->written + len + 1)
			cap *= 2;
		p = realloc(x->mem, cap);
		if (!p)
			return sbx_err(x->err, ENOMEM, "response body");
		x->mem = p;
		x->cap = cap;
	}
	memcpy(x->mem + x->written, buf, len);
	x->mem[x->written + len] = '\0';
	return 0;
}

static int sink_fd(struct reg_xfer *x, const char *buf, size_t len)
{
	int r;

	/* The descriptor said how big the blob is: more is an attack on our disk. */
	if (x->expected > 0 && x->written + len > x->expected)
		return sbx_err_msg(x->err, EBADMSG, "blob %s: more than the %llu bytes announced",
				   x->digest, (unsigned long long)x->expected);
	r = sbx_write_all(x->fd, buf, len);
	if (r < 0)
		return sbx_err(x->err, -r, "write blob %s", x->digest);
	return 0;
}

static size_t on_body(char *buf, size_t size, size_t n, void *data)
{
	struct reg_xfer *x = data;
	size_t len = size * n;

	/* An error page or a redirect's body: not ours to keep, nor to read forever. */
	if (x->status < 200 || x->status >= 300) {
		x->dropped += len;
		if (x->dropped <= DROPPED_MAX)
			return len;
		x->sink_r =
			sbx_err_msg(x->err, EPROTO, "HTTP %ld with a body over 1 MiB", x->status);
		return CURL_WRITEFUNC_ERROR;
	}
	x->sink_r = x->fd >= 0 ? sink_fd(x, buf, len) : sink_mem(x, buf, len);
	if (x->sink_r < 0)
		return CURL_WRITEFUNC_ERROR;
	img_sha256_update(&x->hash, buf, len);
	x->written += len;
	if (x->progress)
		x->progress(x->userdata, x->digest, x->written, x->expected);
	return len;
}

/* ---- one HTTP exchange, and retries -------------------------------------------------------- */

static const struct {
	CURLcode code;
	int errnum;
	bool retry;
} curl_errors[] = {
	{ CURLE_COULDNT_RESOLVE_HOST, EHOSTUNREACH, true },
	{ CURLE_COULDNT_RESOLVE_PROXY, EHOSTUNREACH, true },
	{ CURLE_COULDNT_CONNECT, ECONNREFUSED, true },
	{ CURLE_OPERATION_TIMEDOUT, ETIMEDOUT, true },
	{ CURLE_SEND_ERROR, ECONNRESET, true },
	{ CURLE_RECV_ERROR, ECONNRESET, true },
	{ CURLE_GOT_NOTHING, ECONNRESET, true },
	{ CURLE_PARTIAL_FILE, ECONNRESET, true },
	{ CURLE_SSL_CONNECT_ERROR, EPROTO, true },
	{ CURLE_PEER_FAILED_VERIFICATION, EPROTO, false },
	{ CURLE_SSL_CACERT_BADFILE, ENOENT, false },
	{ CURLE_UNSUPPORTED_PROTOCOL, EPROTONOSUPPORT, false },
	{ CURLE_URL_MALFORMAT, EINVAL, false },
	{ CURLE_OUT_OF_MEMORY, ENOMEM, false },
};

static int transport_err(struct img_registry *r, CURLcode rc, const char *url, struct reg_xfer *x,
			 struct sbx_error *err)
{
	char where[256];
	int errnum = EIO;

	x->retryable = true;
	for (size_t i = 0; i < ELEMENTSOF(curl_errors); i++)
		if (curl_errors[i].code == rc) {
			errnum = curl_errors[i].errnum;
			x->retryable = curl_errors[i].retry;
		}
	url_for_msg(url, where, sizeof(where));
	if (rc == CURLE_UNSUPPORTED_PROTOCOL)
		return sbx_err_msg(err, errnum,
				   "%s: plain HTTP refused (not loopback, not allowed)", where);
	return sbx_err_msg(err, errnum, "%s: %s", where,
			   r->curl_msg[0] ? r->curl_msg : curl_easy_strerror(rc));
}

static void reg_setopts(struct img_registry *r, const struct reg_base *b, struct reg_xfer *x)
{
	curl_easy_reset(r->curl); /* options only: the connection cache stays (keep-alive) */
	r->curl_msg[0] = '\0';
	curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->curl_msg);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, b->http_ok ? "http,https" : "https");
	curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "sandboxd");
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT,
			 (long)(r->timeout_s < 30 ? r->timeout_s : 30));
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, (long)r->timeout_s);
	if (r->ca_file)
		curl_easy_setopt(r->curl, CURLOPT_CAINFO, r->ca_file);
	curl_easy_setopt(r->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->curl, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, x);
}

/* One GET, no redirects followed. Returns the HTTP status or -errno (err filled). */
static int reg_perform(struct img_registry *r, const struct reg_base *b, const char *url,
		       const char *authz, const char *accept, struct reg_xfer *x,
		       struct sbx_error *err)
{
	_cleanup_(curl_slist_free_allp) struct curl_slist *hdrs = NULL;
	const char *lines[] = { accept, authz };
	struct curl_slist *l;
	CURLcode rc;

	reg_setopts(r, b, x);
	for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
		if (!lines[i])
			continue;
		l = curl_slist_append(hdrs, lines[i]);
		if (!l)
			return sbx_err(err, ENOMEM, "request headers");
		hdrs = l;
	}
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(r->curl);
	if (rc == CURLE_WRITE_ERROR && x->sink_r < 0)
		return x->sink_r;
	if (rc != CURLE_OK)
		return transport_err(r, rc, url, x, err);
	return (int)x->status;
}

static bool status_retryable(int s)
{
	return s == 429 || (s >= 500 && s <= 599 && s != 501 && s != 505);
}

static void backoff(unsigned attempt, const char *retry_after)
{
	unsigned long ms = BACKOFF_FIRST_MS << (attempt < 8 ? attempt : 8);
	char *end;
	long s = strtol(retry_after, &end, 10);
	struct timespec ts;

	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	if (retry_after[0] && !*end && s >= 0 && s <= RETRY_AFTER_MAX_S)
		ms = (unsigned long)s * 1000;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* reg_perform, again on 429/5xx and transport errors, up to r->retries more times. */
static int reg_perform_retry(struct img_registry *r, const struct reg_base *b, const char *url,
			     const char *authz, const char *accept, struct reg_xfer *x,
			     struct sbx_error *err)
{
	for (unsigned attempt = 0;; attempt++) {
		int s = xfer_reset(x, err);

		if (s < 0)
			return s;
		s = reg_perform(r, b, url, authz, accept, x, err);
		/* A plain-HTTP server refuses our TLS at once: go to the twin, don't back off. */
		if (s < 0 && b->has_twin)
			return s;
		if (!(s < 0 ? x->retryable : status_retryable(s)) || attempt >= r->retries)
			return s;
		backoff(attempt, x->retry_after);
	}
}

/* ---- authentication ------------------------------------------------------------------------ */

struct challenge {
	char scheme[16], realm[1024], service[256];
};

/* Next auth-param of a challenge: key=value or key="quoted \"value\"". */
static const char *challenge_param(const char *p, char *key, size_t ksize, char *val, size_t vsize)
{
	size_t k = 0, v = 0;
	bool quoted;

	p += strspn(p, " \t,");
	while (*p && *p != '=' && *p != ',' && k + 1 < ksize)
		key[k++] = *p++;
	key[k] = '\0';
	if (*p++ != '=')
		return NULL;
	quoted = *p == '"';
	p += quoted;
	while (*p && (quoted ? *p != '"' : *p != ',')) {
		if (quoted && *p == '\\' && p[1])
			p++;
		if (v + 1 < vsize)
			val[v++] = *p;
		p++;
	}
	val[v] = '\0';
	return *p ? p + 1 : p;
}

static void challenge_parse(const char *s, struct challenge *c)
{
	char key[32], val[1024];
	size_t n = strcspn(s, " ");

	memset(c, 0, sizeof(*c));
	snprintf(c->scheme, sizeof(c->scheme), "%.*s", (int)n, s);
	for (s += n; s && *s;) {
		s = challenge_param(s, key, sizeof(key), val, sizeof(val));
		if (!s)
			break;
		if (strcasecmp(key, "realm") == 0)
			snprintf(c->realm, sizeof(c->realm), "%s", val);
		else if (strcasecmp(key, "service") == 0)
			snprintf(c->service, sizeof(c->service), "%.255s", val);
	}
}

/* The token endpoint's URL: realm?service=...&scope=repository:<repo>:pull */
static int token_url(struct img_registry *r, const struct challenge *c, char **ret)
{
	char scope[300];
	_cleanup_(curl_freep) char *svc = NULL, *scp = NULL;

	snprintf(scope, sizeof(scope), "repository:%s:pull", r->repo);
	svc = curl_easy_escape(r->curl, c->service, 0);
	scp = curl_easy_escape(r->curl, scope, 0);
	if (!svc || !scp)
		return -ENOMEM;
	if (asprintf(ret, "%s%c%s%s%sscope=%s", c->realm, strchr(c->realm, '?') ? '&' : '?',
		     c->service[0] ? "service=" : "", svc, c->service[0] ? "&" : "", scp) < 0)
		return -ENOMEM;
	return 0;
}

/* A bearer token goes into a header line: visible ASCII only (JWTs and opaque tokens are). */
static bool token_valid(const char *t)
{
	if (!t[0] || strlen(t) > 64 * 1024)
		return false;
	for (; *t; t++)
		if (*t < 0x21 || *t > 0x7e)
			return false;
	return true;
}

static int token_take(struct img_registry *r, struct reg_base *b, const struct reg_xfer *x,
		      struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *doc =
		cJSON_ParseWithLength(x->mem ? x->mem : "", x->written);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "token");
	char *authz;

	if (!cJSON_IsString(t) || !t->valuestring[0])
		t = cJSON_GetObjectItemCaseSensitive(doc, "access_token");
	if (!cJSON_IsString(t) || !token_valid(t->valuestring))
		return sbx_err_msg(err, EPROTO, "%s/%s: the token server sent no usable token",
				   r->domain, r->repo);
	if (asprintf(&authz, "Authorization: Bearer %s", t->valuestring) < 0)
		return sbx_err(err, ENOMEM, "token");
	free(b->authz);
	b->authz = authz;
	return 0;
}

static int status_err(struct img_registry *r, int s, const char *kind, const char *name,
		      struct sbx_error *err);

/* GET realm?service&scope, with our credentials for this endpoint when we have them. */
static int token_fetch(struct img_registry *r, struct reg_base *b, const struct challenge *c,
		       struct sbx_error *err)
{
	_cleanup_(xfer_done) struct reg_xfer x = { .fd = -1 };
	_cleanup_free_ char *url = NULL, *basic = NULL;
	int s;

	if (strncmp(c->realm, "https://", 8) && strncmp(c->realm, "http://", 7))
		return sbx_err_msg(err, EPROTO, "%s/%s: token realm \"%.64s\" is not http(s)",
				   r->domain, r->repo, c->realm);
	if (token_url(r, c, &url) < 0 ||
	    (b->basic && asprintf(&basic, "Authorization: Basic %s", b->basic) < 0))
		return sbx_err(err, ENOMEM, "token request");
	xfer_init(&x, -1, TOKEN_MAX, err);
	s = reg_perform_retry(r, b, url, basic, NULL, &x, err);
	if (s < 0)
		return sbx_err_prefix(err, s, "token");
	if (s != 200)
		return status_err(r, s, "token", "", err);
	return token_take(r, b, &x, err);
}

/* After a 401: win an Authorization header for this endpoint. 401 when there is no way. */
static int reg_authenticate(struct img_registry *r, struct reg_base *b, const char *www,
			    struct sbx_error *err)
{
	struct challenge c;
	char *authz;

	challenge_parse(www, &c);
	if (strcasecmp(c.scheme, "Bearer") == 0 && c.realm[0])
		return token_fetch(r, b, &c, err);
	if (strcasecmp(c.scheme, "Basic") != 0 || !b->basic)
		return 401;
	if (asprintf(&authz, "Authorization: Basic %s", b->basic) < 0)
		return sbx_err(err, ENOMEM, "basic auth");
	free(b->authz);
	b->authz = authz;
	return 0;
}

/* ---- one resource from one endpoint: auth and redirects ------------------------------------ */

static int redirect_next(struct img_registry *r, char *url, size_t size, unsigned hops,
			 struct sbx_error *err)
{
	char *loc = NULL;

	if (hops > MAX_REDIRECTS)
		return sbx_err_msg(err, ELOOP, "%s/%s: more than %d redirects", r->domain, r->repo,
				   MAX_REDIRECTS);
	if (curl_easy_getinfo(r->curl, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK || !loc)
		return sbx_err_msg(err, EPROTO, "%s/%s: redirect without a Location", r->domain,
				   r->repo);
	if (strlen(loc) >= size)
		return sbx_err_msg(err, ENAMETOOLONG, "%s/%s: redirect URL too long", r->domain,
				   r->repo);
	memmove(url, loc, strlen(loc) + 1);
	return 0;
}

/* Returns the final HTTP status (not 3xx, and 401 only when auth failed) or -errno. */
static int reg_exchange(struct img_registry *r, struct reg_base *b, const char *path,
			const char *accept, struct reg_xfer *x, struct sbx_error *err)
{
	char url[4096];
	bool authed = false;
	unsigned hops = 0;
	int s, res;

	if (snprintf(url, sizeof(url), "%s%s", b->url, path) >= (int)sizeof(url))
		return sbx_err_msg(err, ENAMETOOLONG, "%s: URL too long", b->url);
	for (;;) {
		/* Credentials stay with their endpoint: never sent where a redirect leads. */
		bool home = url_same_origin(url, b->url);

		s = reg_perform_retry(r, b, url, home ? b->authz : NULL, accept, x, err);
		if (s == 401 && home && !authed) {
			authed = true;
			res = reg_authenticate(r, b, x->www_auth, err);
			if (res != 0)
				return res < 0 ? res : s;
			continue;
		}
		if (s < 300 || s >= 400 || s == 304)
			return s;
		res = redirect_next(r, url, sizeof(url), ++hops, err);
		if (res < 0)
			return res;
	}
}

static int status_err(struct img_registry *r, int s, const char *kind, const char *name,
		      struct sbx_error *err)
{
	const char *sep = !name[0] ? "" : strncmp(name, "sha256:", 7) == 0 ? "@" : ":";

	switch (s) {
	case 401:
		return sbx_err_msg(err, EACCES, "%s/%s: unauthorized: authentication required",
				   r->domain, r->repo);
	case 403:
		return sbx_err_msg(err, EACCES, "%s/%s: denied: access to the repository refused",
				   r->domain, r->repo);
	case 404:
		return sbx_err_msg(err, ENOENT, "%s unknown: %s/%s%s%s", kind, r->domain, r->repo,
				   sep, name);
	case 429:
		return sbx_err_msg(err, EAGAIN, "%s/%s: too many requests (HTTP 429)", r->domain,
				   r->repo);
	}
	if (s >= 500)
		return sbx_err_msg(err, EIO, "%s/%s: registry error (HTTP %d)", r->domain, r->repo,
				   s);
	return sbx_err_msg(err, EPROTO, "%s/%s: unexpected HTTP status %d for %s %s", r->domain,
			   r->repo, s, kind, name);
}

/* What the bytes must be: the digest they were asked by, and the size announced. */
static int xfer_verify(struct reg_xfer *x, const char *want, char got[IMG_DIGEST_LEN + 1],
		       struct sbx_error *err)
{
	img_sha256_final(&x->hash, got);
	if (x->fd >= 0 && x->expected > 0 && x->written != x->expected)
		return sbx_err_msg(err, EBADMSG, "%s: size mismatch: %llu bytes, expected %llu",
				   want, (unsigned long long)x->written,
				   (unsigned long long)x->expected);
	if (want && strcmp(got, want) != 0)
		return sbx_err_msg(err, EBADMSG, "digest mismatch: got %s, expected %s", got, want);
	return 0;
}

/* The mirrors in order, then the origin: the first good answer wins. */
static int reg_get(struct img_registry *r, const char *path, const char *accept, const char *kind,
		   const char *name, const char *want, struct reg_xfer *x,
		   char got[IMG_DIGEST_LEN + 1], struct sbx_error *err)
{
	struct sbx_error tls_err = { 0 };
	bool transport_failed = false;
	int s = -EIO, code;

	for (unsigned i = 0; i < r->n_bases; i++) {
		if (r->bases[i].twin && !transport_failed)
			break; /* HTTPS answered: its verdict stands */
		code = s = reg_exchange(r, &r->bases[i], path, accept, x, err);
		transport_failed = s < 0;
		if (transport_failed && err && i + 1 < r->n_bases && r->bases[i + 1].twin)
			tls_err = *err;
		if (s >= 200 && s < 300)
			s = xfer_verify(x, want, got, err);
		else if (s >= 0)
			s = status_err(r, s, kind, name, err);
		/* A TLS server's 400 to plain HTTP hides the real cause: the HTTPS error. */
		if (r->bases[i].twin && code == 400 && tls_err.code && err)
			*err = tls_err;
		/* A mirror that fails or lacks the content is skipped, as Docker does. */
		if (s >= 0 || i + 1 == r->n_bases)
			return s;
	}
	return s;
}

/* ---- the API ------------------------------------------------------------------------------- */

/* The repository goes into URL paths: Docker's grammar only, no "..", no "//". */
static bool repo_valid(const char *s)
{
	return s[0] && s[0] != '/' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-/") == strlen(s) &&
	       !strstr(s, "..") && !strstr(s, "//") && s[strlen(s) - 1] != '/';
}

static bool tag_valid(const char *s)
{
	static const char tag_chars[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
	size_t n = strlen(s);

	return n > 0 && n <= 128 && s[0] != '.' && s[0] != '-' && strspn(s, tag_chars) == n;
}

static void img_registry_closep(struct img_registry **r)
{
	img_registry_close(*r);
}

int img_registry_open(const struct img_ref *ref, const struct img_registry_opts *opts,
		      struct img_registry **ret, struct sbx_error *err)
{
	static const struct img_registry_opts defaults = { 0 };
	_cleanup_(img_registry_closep) struct img_registry *r = NULL;
	int res;

	if (!opts)
		opts = &defaults;
	if (!repo_valid(ref->repository))
		return sbx_err_msg(err, EINVAL, "invalid repository \"%s\"", ref->repository);
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return sbx_err_msg(err, EIO, "curl: %s", curl_easy_strerror(curl_init_rc));
	r = calloc(1, sizeof(*r));
	if (!r || !(r->curl = curl_easy_init()))
		return sbx_err(err, ENOMEM, "registry client");
	snprintf(r->domain, sizeof(r->domain), "%s", ref->domain);
	snprintf(r->repo, sizeof(r->repo), "%s", ref->repository);
	r->retries = opts->retries ? opts->retries : 3;
	r->timeout_s = opts->timeout_s ? opts->timeout_s : 300;
	if (opts->ca_file && !(r->ca_file = strdup(opts->ca_file)))
		return sbx_err(err, ENOMEM, "registry client");
	res = bases_setup(r, ref, opts, err);
	if (res < 0)
		return sbx_err_prefix(err, res, "%s", ref->domain);
	*ret = TAKE_PTR(r);
	return 0;
}

void img_registry_close(struct img_registry *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->n_bases; i++) {
		free(r->bases[i].basic);
		free(r->bases[i].authz);
	}
	if (r->curl)
		curl_easy_cleanup(r->curl);
	free(r->ca_file);
	free(r);
}

/* Content-Type without parameters, if it is one of the four manifest types. */
static int manifest_media_type(const char *content_type, char ret[128], struct sbx_error *err)
{
	static const char *const types[] = { IMG_MEDIA_OCI_INDEX, IMG_MEDIA_OCI_MANIFEST,
					     IMG_MEDIA_DOCKER_LIST, IMG_MEDIA_DOCKER_MANIFEST };
	size_t n = strcspn(content_type, "; \t");

	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		if (strlen(types[i]) == n && strncasecmp(content_type, types[i], n) == 0) {
			snprintf(ret, 128, "%s", types[i]);
			return 0;
		}
	return sbx_err_msg(err, EPROTONOSUPPORT, "unsupported manifest media type \"%.100s\"",
			   content_type);
}

int img_registry_manifest(struct img_registry *r, const char *reference, char **ret_body,
			  size_t *ret_len, char ret_media_type[128],
			  char ret_digest[IMG_DIGEST_LEN + 1], struct sbx_error *err)
{
	static const char accept[] = "Accept: " IMG_MEDIA_OCI_INDEX ", " IMG_MEDIA_OCI_MANIFEST
				     ", " IMG_MEDIA_DOCKER_LIST ", " IMG_MEDIA_DOCKER_MANIFEST;
	_cleanup_(xfer_done) struct reg_xfer x = { .fd = -1 };
	bool by_digest = strncmp(reference, "sha256:", 7) == 0;
	char path[600];
	int res;

	if (by_digest ? !img_digest_valid(reference) : !tag_valid(reference))
		return sbx_err_msg(err, EINVAL, "invalid manifest reference \"%.80s\"", reference);
	snprintf(path, sizeof(path), "/v2/%s/manifests/%s", r->repo, reference);
	xfer_init(&x, -1, MANIFEST_MAX, err);
	res = reg_get(r, path, accept, "manifest", reference, by_digest ? reference : NULL, &x,
		      ret_digest, err);
	if (res == -EFBIG)
		return sbx_err_prefix(err, res, "%s/%s: manifest %s", r->domain, r->repo,
				      reference);
	if (res < 0)
		return res;
	res = manifest_media_type(x.content_type, ret_media_type, err);
	if (res < 0)
		return sbx_err_prefix(err, res, "%s/%s", r->domain, r->repo);
	if (!x.mem)
		return sbx_err_msg(err, EBADMSG, "%s/%s: empty manifest", r->domain, r->repo);
	*ret_len = x.written;
	*ret_body = TAKE_PTR(x.mem);
	return 0;
}

int img_registry_blob(struct img_registry *r, const char *digest, uint64_t expected_size,
		      int out_fd, img_progress_fn progress, void *userdata, struct sbx_error *err)
{
	_cleanup_(xfer_done) struct reg_xfer x = { .fd = -1 };
	char path[600], got[IMG_DIGEST_LEN + 1];
	int res;

	if (!img_digest_valid(digest))
		return sbx_err_msg(err, EINVAL, "invalid blob digest \"%.80s\"", digest);
	snprintf(path, sizeof(path), "/v2/%s/blobs/%s", r->repo, digest);
	xfer_init(&x, out_fd, 0, err);
	/* Appending: a retry truncates back to here (-1 on a pipe: no retry after data). */
	x.fd_start = lseek(out_fd, 0, SEEK_END);
	x.expected = expected_size;
	x.digest = digest;
	x.progress = progress;
	x.userdata = userdata;
	res = reg_get(r, path, NULL, "blob", digest, digest, &x, got, err);
	return res < 0 ? res : 0;
}
