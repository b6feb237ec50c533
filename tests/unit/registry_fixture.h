/* SPDX-License-Identifier: MIT */
/*
 * registry_fixture.h - a loopback docker registry for the unit tests: Debian's docker-registry
 * (distribution 2.8) started on 127.0.0.1 with its config, storage and log in a directory the
 * test made, a ready check, plain-HTTP pushes of blobs and manifests through the distribution
 * API (the push side, so the clients under test only ever pull), and a stop. Included by
 * test_registry.c and test_store.c; every function is static and unused-tolerant, so a test
 * takes only what it needs. The caller runs curl_global_init() first.
 */
#ifndef SBX_REGISTRY_FIXTURE_H
#define SBX_REGISTRY_FIXTURE_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rootfs.h"
#include "util.h"

#define FIXTURE_REGISTRY_BIN	   "/usr/bin/docker-registry"
#define FIXTURE_SKIP_NOT_INSTALLED "docker-registry not installed (apt-get install docker-registry)"

struct fixture_registry {
	pid_t pid; /* -1: not running */
	int port;
	char dir[160];	  /* config.yml, registry.log and data/ go here; made by the caller */
	char base[64];	  /* "http://127.0.0.1:PORT" */
	const char *skip; /* why the tests that need it skip, or NULL */
};

#define FIXTURE_REGISTRY_INIT                                                                      \
	{                                                                                          \
		.pid = -1                                                                          \
	}

__attribute__((unused)) static void fixture_sha256(const void *buf, size_t len,
						   char out[IMG_DIGEST_LEN + 1])
{
	struct img_sha256 h;

	out[0] = '\0';
	if (img_sha256_init(&h, NULL) < 0)
		return;
	img_sha256_update(&h, buf, len);
	img_sha256_final(&h, out);
}

/* A port nobody listens on right now: bind :0, read it back, close. */
__attribute__((unused)) static int fixture_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	return ntohs(a.sin_port);
}

/* ---- plain HTTP (push side) ---------------------------------------------------------------- */

struct fixture_http_resp {
	long status;
	char location[1024];
};

static size_t fixture_on_header(char *buf, size_t size, size_t n, void *data)
{
	struct fixture_http_resp *resp = data;
	size_t len = size * n;

	if (len > 9 && strncasecmp(buf, "Location:", 9) == 0)
		snprintf(resp->location, sizeof(resp->location), "%.*s",
			 (int)strcspn(buf + 10, "\r\n"), buf + 10);
	return len;
}

static size_t fixture_on_discard(char *buf, size_t size, size_t n, void *data)
{
	return size * n;
}

/* One request; body may be NULL. Returns the HTTP status, or -1. */
__attribute__((unused)) static long fixture_http(const char *method, const char *url,
						 const char *content_type, const char *body,
						 size_t len, struct fixture_http_resp *resp)
{
	struct curl_slist *hdrs = NULL;
	char ct[160];
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(resp, 0, sizeof(*resp));
	if (!c)
		return -1;
	snprintf(ct, sizeof(ct), "Content-Type: %s",
		 content_type ? content_type : "application/octet-stream");
	hdrs = curl_slist_append(hdrs, ct);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, fixture_on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fixture_on_discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? len : 0));
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? resp->status : -1;
}

/*
 * The monolithic upload of the distribution spec: POST for a session, PUT ?digest= with it.
 * The digest is computed here; ret_digest (may be NULL) receives it. Returns 0 or -1.
 */
__attribute__((unused)) static int fixture_push_blob(const struct fixture_registry *f,
						     const char *repo, const void *data, size_t len,
						     char ret_digest[IMG_DIGEST_LEN + 1])
{
	struct fixture_http_resp resp;
	char url[1400], digest[IMG_DIGEST_LEN + 1];

	fixture_sha256(data, len, digest);
	if (ret_digest)
		memcpy(ret_digest, digest, sizeof(digest));
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", f->base, repo);
	if (fixture_http("POST", url, NULL, NULL, 0, &resp) != 202 || !resp.location[0])
		return -1;
	snprintf(url, sizeof(url), "%s%s%cdigest=%s", resp.location[0] == '/' ? f->base : "",
		 resp.location, strchr(resp.location, '?') ? '&' : '?', digest);
	return fixture_http("PUT", url, NULL, data, len, &resp) == 201 ? 0 : -1;
}

/* PUT a manifest (or index) under a tag. Returns 0 or -1. */
__attribute__((unused)) static int fixture_push_manifest(const struct fixture_registry *f,
							 const char *repo, const char *tag,
							 const char *media_type, const char *body)
{
	struct fixture_http_resp resp;
	char url[256];

	snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", f->base, repo, tag);
	return fixture_http("PUT", url, media_type, body, strlen(body), &resp) == 201 ? 0 : -1;
}

/* ---- the registry process ------------------------------------------------------------------ */

static int fixture_write_config(const struct fixture_registry *f, const char *path)
{
	FILE *file = fopen(path, "we");

	if (!file)
		return -1;
	fprintf(file,
		"version: 0.1\n"
		"log:\n  level: error\n  accesslog:\n    disabled: true\n"
		"storage:\n  filesystem:\n    rootdirectory: %s/data\n"
		"http:\n  addr: 127.0.0.1:%d\n",
		f->dir, f->port);
	return fclose(file) == 0 ? 0 : -1;
}

static void fixture_exec_registry(const struct fixture_registry *f, const char *cfg)
{
	char log[256];
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
	snprintf(log, sizeof(log), "%s/registry.log", f->dir);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execl(FIXTURE_REGISTRY_BIN, FIXTURE_REGISTRY_BIN, "serve", cfg, (char *)NULL);
	_exit(127);
}

/* Poll GET /v2/ until it answers 200, for at most 10 s. */
static bool fixture_wait_ready(struct fixture_registry *f)
{
	struct fixture_http_resp resp;
	char url[96];

	snprintf(url, sizeof(url), "%s/v2/", f->base);
	for (int i = 0; i < 200; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (fixture_http("GET", url, NULL, NULL, 0, &resp) == 200)
			return true;
		if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
			f->pid = -1;
			return false;
		}
		nanosleep(&ts, NULL);
	}
	return false;
}

/*
 * Start the registry on f->port with its files in f->dir (both set by the caller, the directory
 * made); fills f->base. Returns 0 once it answers; -EIO when config.yml could not be written,
 * -ECHILD when fork failed, -ETIMEDOUT when it died or did not answer within 10 s (its log is
 * f->dir/registry.log). f->skip is left to the caller.
 */
__attribute__((unused)) static int fixture_registry_start(struct fixture_registry *f)
{
	char cfg[256];

	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
	snprintf(cfg, sizeof(cfg), "%s/config.yml", f->dir);
	if (fixture_write_config(f, cfg) < 0)
		return -EIO;
	f->pid = fork();
	if (f->pid == 0)
		fixture_exec_registry(f, cfg);
	if (f->pid < 0)
		return -ECHILD;
	return fixture_wait_ready(f) ? 0 : -ETIMEDOUT;
}

/* SIGTERM and reap; idempotent. The directory stays for the caller to remove. */
__attribute__((unused)) static void fixture_registry_stop(struct fixture_registry *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
		f->pid = -1;
	}
}

#endif
