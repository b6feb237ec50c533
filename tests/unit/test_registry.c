/* SPDX-License-Identifier: MIT */
/*
 * test_registry.c - the registry client against a real registry on loopback: Debian's
 * docker-registry (distribution 2.8) started from here with its storage in a temp dir, a tiny
 * image pushed with plain HTTP requests, then pulled back through img_registry_*: manifests by
 * tag and by digest, blobs verified while they stream, a blob corrupted on the registry's disk
 * refused, unknown names reported as such, Docker Hub mirrors tried in order.
 * Skips, saying why, when docker-registry is not installed or does not start.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <ftw.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "registry.h"
#include "registry_fixture.h"
#include "unit.h"
#include "util.h"

#define REPO "test/img"

static struct {
	struct fixture_registry r;
	int dead_port;
	bool made_dir;
	char layer_digest[IMG_DIGEST_LEN + 1], bad_digest[IMG_DIGEST_LEN + 1];
	char manifest_digest[IMG_DIGEST_LEN + 1];
	char *manifest;
} reg = { .r = FIXTURE_REGISTRY_INIT };

static const char layer[] = "a layer: not a real tar, the registry does not look inside\n";
static const char bad_blob[] = "this blob gets corrupted on the registry's disk\n";
static const char config[] = "{\"architecture\": \"amd64\", \"os\": \"linux\", \"rootfs\":"
			     " {\"type\": \"layers\", \"diff_ids\": []}}";

static int push_image(void)
{
	char cfg_digest[IMG_DIGEST_LEN + 1];

	if (fixture_push_blob(&reg.r, REPO, layer, strlen(layer), reg.layer_digest) < 0 ||
	    fixture_push_blob(&reg.r, REPO, bad_blob, strlen(bad_blob), reg.bad_digest) < 0 ||
	    fixture_push_blob(&reg.r, REPO, config, strlen(config), cfg_digest) < 0)
		return -1;
	if (asprintf(
		    &reg.manifest,
		    "{\"schemaVersion\": 2, \"mediaType\": \"%s\", \"config\": {\"mediaType\":"
		    " \"application/vnd.oci.image.config.v1+json\", \"digest\": \"%s\", \"size\": %zu},"
		    " \"layers\": [{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar\","
		    " \"digest\": \"%s\", \"size\": %zu}]}",
		    IMG_MEDIA_OCI_MANIFEST, cfg_digest, strlen(config), reg.layer_digest,
		    strlen(layer)) < 0)
		return -1;
	fixture_sha256(reg.manifest, strlen(reg.manifest), reg.manifest_digest);
	return fixture_push_manifest(&reg.r, REPO, "v1", IMG_MEDIA_OCI_MANIFEST, reg.manifest);
}

TEST(registry_start)
{
	int r;

	if (access(FIXTURE_REGISTRY_BIN, X_OK) < 0) {
		reg.r.skip = FIXTURE_SKIP_NOT_INSTALLED;
		SKIP(reg.r.skip);
	}
	reg.r.port = fixture_free_port();
	reg.dead_port = fixture_free_port();
	snprintf(reg.r.dir, sizeof(reg.r.dir), "/tmp/sbx-unit-registry-XXXXXX");
	reg.made_dir = mkdtemp(reg.r.dir) != NULL;
	CHECK(reg.r.port > 0 && reg.made_dir);
	r = fixture_registry_start(&reg.r);
	CHECK(r != -EIO);    /* config.yml written */
	CHECK(r != -ECHILD); /* forked */
	if (r < 0) {
		reg.r.skip =
			"docker-registry did not start (see its log in /tmp/sbx-unit-registry-*)";
		SKIP(reg.r.skip);
	}
	if (push_image() < 0) {
		reg.r.skip = "could not push the test image";
		CHECK(!"push to the loopback registry");
	}
}

#define NEED_REGISTRY()                                                                            \
	do {                                                                                       \
		if (reg.r.skip || reg.r.pid < 0)                                                   \
			SKIP(reg.r.skip ? reg.r.skip : "no registry");                             \
	} while (0)

static int open_client(const struct img_registry_opts *opts, struct img_registry **ret,
		       struct sbx_error *err, const char *fmt, ...) _printf_(4, 5);
static int open_client(const struct img_registry_opts *opts, struct img_registry **ret,
		       struct sbx_error *err, const char *fmt, ...)
{
	struct img_ref ref = { 0 };
	char s[256];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	r = img_ref_parse(s, &ref, err);
	return r < 0 ? r : img_registry_open(&ref, opts, ret, err);
}

TEST(manifest_by_tag_and_digest)
{
	struct sbx_error err = { 0 };
	struct img_registry *r = NULL;
	char media[128], digest[IMG_DIGEST_LEN + 1];
	char *body = NULL;
	size_t len = 0;

	NEED_REGISTRY();
	CHECK(open_client(NULL, &r, &err, "127.0.0.1:%d/" REPO ":v1", reg.r.port) == 0);
	if (!r)
		return;
	CHECK(img_registry_manifest(r, "v1", &body, &len, media, digest, &err) == 0);
	CHECK(body && len == strlen(reg.manifest) && memcmp(body, reg.manifest, len) == 0);
	CHECK_STREQ(media, IMG_MEDIA_OCI_MANIFEST);
	CHECK_STREQ(digest, reg.manifest_digest);
	free(body);
	body = NULL;
	/* the same client again (keep-alive), now by digest: verified against the reference */
	CHECK(img_registry_manifest(r, reg.manifest_digest, &body, &len, media, digest, &err) == 0);
	CHECK(body && len == strlen(reg.manifest));
	CHECK_STREQ(digest, reg.manifest_digest);
	free(body);
	img_registry_close(r);
}

TEST(manifest_unknown)
{
	struct sbx_error err = { 0 };
	struct img_registry *r = NULL;
	char media[128], digest[IMG_DIGEST_LEN + 1];
	char *body = NULL;
	size_t len;

	NEED_REGISTRY();
	CHECK(open_client(NULL, &r, &err, "127.0.0.1:%d/" REPO, reg.r.port) == 0);
	if (!r)
		return;
	CHECK(img_registry_manifest(r, "nosuchtag", &body, &len, media, digest, &err) == -ENOENT);
	CHECK(strstr(err.msg, "manifest unknown") && strstr(err.msg, "nosuchtag"));
	CHECK(img_registry_manifest(
		      r,
		      "sha256:"
		      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		      &body, &len, media, digest, &err) == -ENOENT);
	/* names that would change the URL path are refused before any request */
	CHECK(img_registry_manifest(r, "../../v2/_catalog", &body, &len, media, digest, &err) ==
	      -EINVAL);
	CHECK(body == NULL);
	img_registry_close(r);
}

static int tmpfile_in_dir(void)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/blob-XXXXXX", reg.r.dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static void on_progress(void *userdata, const char *digest, uint64_t done, uint64_t total)
{
	uint64_t *last = userdata;

	*last = done;
}

TEST(blob_download)
{
	struct sbx_error err = { 0 };
	struct img_registry *r = NULL;
	_cleanup_close_ int fd = tmpfile_in_dir();
	char buf[256];
	uint64_t progress = 0;
	ssize_t n;

	NEED_REGISTRY();
	CHECK(fd >= 0 && open_client(NULL, &r, &err, "127.0.0.1:%d/" REPO, reg.r.port) == 0);
	if (!r || fd < 0)
		return;
	CHECK(img_registry_blob(r, reg.layer_digest, strlen(layer), fd, on_progress, &progress,
				&err) == 0);
	n = pread(fd, buf, sizeof(buf), 0);
	CHECK(n == (ssize_t)strlen(layer) && memcmp(buf, layer, strlen(layer)) == 0);
	CHECK(progress == strlen(layer));
	/* size unknown (0): still verified by digest; appended after what the fd holds */
	CHECK(img_registry_blob(r, reg.layer_digest, 0, fd, NULL, NULL, &err) == 0);
	CHECK(lseek(fd, 0, SEEK_END) == 2 * (off_t)strlen(layer));
	img_registry_close(r);
}

TEST(blob_refused)
{
	struct sbx_error err = { 0 };
	struct img_registry *r = NULL;
	_cleanup_close_ int fd = tmpfile_in_dir();
	const char *unknown = "sha256:"
			      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

	NEED_REGISTRY();
	CHECK(fd >= 0 && open_client(NULL, &r, &err, "127.0.0.1:%d/" REPO, reg.r.port) == 0);
	if (!r || fd < 0)
		return;
	/* more bytes than the descriptor announced: cut off */
	CHECK(img_registry_blob(r, reg.layer_digest, 10, fd, NULL, NULL, &err) == -EBADMSG);
	CHECK(strstr(err.msg, "more than") != NULL);
	/* fewer */
	CHECK(img_registry_blob(r, reg.layer_digest, strlen(layer) + 1, fd, NULL, NULL, &err) ==
	      -EBADMSG);
	CHECK(strstr(err.msg, "size mismatch") != NULL);
	CHECK(img_registry_blob(r, unknown, 0, fd, NULL, NULL, &err) == -ENOENT);
	CHECK(strstr(err.msg, "blob unknown") != NULL);
	CHECK(img_registry_blob(r, "sha256:../../etc/passwd", 0, fd, NULL, NULL, &err) == -EINVAL);
	img_registry_close(r);
}

/* The registry serves whatever its disk holds: flip bytes there, the digest check must see it. */
TEST(blob_corrupted_on_registry)
{
	struct sbx_error err = { 0 };
	struct img_registry *r = NULL;
	_cleanup_close_ int fd = tmpfile_in_dir();
	char path[512];
	FILE *f;

	NEED_REGISTRY();
	snprintf(path, sizeof(path), "%s/data/docker/registry/v2/blobs/sha256/%.2s/%s/data",
		 reg.r.dir, reg.bad_digest + 7, reg.bad_digest + 7);
	f = fopen(path, "r+e");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("THIS", f);
	fclose(f);
	CHECK(fd >= 0 && open_client(NULL, &r, &err, "127.0.0.1:%d/" REPO, reg.r.port) == 0);
	if (!r || fd < 0)
		return;
	CHECK(img_registry_blob(r, reg.bad_digest, strlen(bad_blob), fd, NULL, NULL, &err) ==
	      -EBADMSG);
	CHECK(strstr(err.msg, "digest mismatch") != NULL);
	img_registry_close(r);
}

TEST(connection_refused)
{
	struct img_registry_opts opts = { .retries = 1, .timeout_s = 5 };
	struct sbx_error err = { 0 };
	struct img_registry *r = NULL;
	char media[128], digest[IMG_DIGEST_LEN + 1], *body = NULL, s[128];
	struct img_ref ref = { 0 };
	size_t len;

	NEED_REGISTRY();
	CHECK(open_client(&opts, &r, &err, "127.0.0.1:%d/" REPO, reg.r.port) == 0);
	img_registry_close(r);
	r = NULL;
	/* the port nobody listens on */
	snprintf(s, sizeof(s), "127.0.0.1:%d/%s", reg.dead_port, REPO);
	CHECK(img_ref_parse(s, &ref, &err) == 0);
	CHECK(img_registry_open(&ref, &opts, &r, &err) == 0);
	if (!r)
		return;
	CHECK(img_registry_manifest(r, "v1", &body, &len, media, digest, &err) == -ECONNREFUSED);
	CHECK(strstr(err.msg, "127.0.0.1") != NULL);
	img_registry_close(r);
}

/* docker.io with mirrors: a dead one is skipped, the next answers; the origin is never asked. */
TEST(docker_hub_mirrors)
{
	char dead[64], live[80];
	const char *mirrors[] = { dead, live, NULL };
	struct img_registry_opts opts = { .mirrors = mirrors, .retries = 1, .timeout_s = 5 };
	struct sbx_error err = { 0 };
	struct img_registry *r = NULL;
	char media[128], digest[IMG_DIGEST_LEN + 1], *body = NULL;
	size_t len;

	NEED_REGISTRY();
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", reg.dead_port);
	snprintf(live, sizeof(live), "%s/", reg.r.base);
	CHECK(open_client(&opts, &r, &err, "%s", REPO ":v1") == 0);
	if (!r)
		return;
	CHECK(img_registry_manifest(r, "v1", &body, &len, media, digest, &err) == 0);
	CHECK_STREQ(digest, reg.manifest_digest);
	free(body);
	img_registry_close(r);
}

/* Credentials for the registry come from a Docker config.json; a bad entry is an error. */
TEST(auth_file)
{
	char path[256];
	struct sbx_error err = { 0 };
	struct img_registry *r = NULL;
	FILE *f;

	NEED_REGISTRY();
	snprintf(path, sizeof(path), "%s/config.json", reg.r.dir);
	f = fopen(path, "we");
	CHECK(f != NULL);
	if (!f)
		return;
	fprintf(f, "{\"auths\": {\"127.0.0.1:%d\": {\"auth\": \"dXNlcjpw\\r\\nX-Evil: 1\"}}}",
		reg.r.port);
	fclose(f);
	struct img_registry_opts opts = { .auth_file = path };
	CHECK(open_client(&opts, &r, &err, "127.0.0.1:%d/" REPO, reg.r.port) == -EINVAL);
	CHECK(strstr(err.msg, "bad credentials") != NULL);
	opts.auth_file = "/nonexistent/config.json";
	CHECK(open_client(&opts, &r, &err, "127.0.0.1:%d/" REPO, reg.r.port) == -ENOENT);
	CHECK(r == NULL);
}

/* ---- a scripted registry: the auth handshake, redirects and retries, observed ------------- */

/*
 * distribution cannot show what a client sends, so for the auth flows a small scripted server
 * answers instead: 127.0.0.1 plays the registry and its token realm, 127.0.0.2 (also loopback
 * on Linux) plays the object storage a blob redirect leads to. Each connection carries one
 * request (Connection: close); what arrived is recorded for the checks.
 */
static struct {
	int lfd[2], port[2], stop[2];
	pthread_t thread;
	bool running;
	int flaky_hits, token_hits, storage_hits;
	char token_authz[256], storage_authz[256];
} fake = { .lfd = { -1, -1 }, .stop = { -1, -1 } };

#define FAKE_TOKEN     "tok.en-123"
#define FAKE_TOKEN_DOC "{\"token\": \"" FAKE_TOKEN "\"}"
#define FAKE_BASIC     "dXNlcjpwYXNz" /* user:pass */
#define FAKE_BLOB      "blob bytes from storage\n"

static const char fake_manifest[] =
	"{\"schemaVersion\": 2, \"mediaType\": \"" IMG_MEDIA_OCI_MANIFEST "\", \"layers\": []}";

/* send, not write: a client that gives up mid-body must not kill the test with SIGPIPE. */
static void fake_send(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void fake_reply(int fd, int status, const char *headers, const char *body, size_t len)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
			 status, len, headers);

	fake_send(fd, head, (size_t)n);
	fake_send(fd, body, len);
}

static void fake_manifest_ok(int fd)
{
	fake_reply(fd, 200, "Content-Type: " IMG_MEDIA_OCI_MANIFEST "\r\n", fake_manifest,
		   strlen(fake_manifest));
}

/* The header's value, or "" when absent. */
static void fake_header(const char *req, const char *name, char *buf, size_t size)
{
	const char *p = req;
	size_t n = strlen(name);

	buf[0] = '\0';
	while ((p = strstr(p, "\r\n")) && p[2] != '\r') {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			snprintf(buf, size, "%.*s", (int)strcspn(p + n + 2, "\r\n"), p + n + 2);
	}
}

/* 5 MiB of manifest: past the 4 MiB any real one needs. */
static void fake_huge(int fd)
{
	size_t len = 5U << 20;
	char *body = malloc(len);

	if (!body)
		return fake_reply(fd, 500, "", "", 0);
	memset(body, ' ', len);
	fake_reply(fd, 200, "Content-Type: " IMG_MEDIA_OCI_MANIFEST "\r\n", body, len);
	free(body);
}

static void fake_registry(int fd, const char *path, const char *authz)
{
	char hdr[256];

	if (strcmp(path, "/v2/auth/img/manifests/v1") == 0 ||
	    strncmp(path, "/v2/auth/img/blobs/", 19) == 0) {
		if (strcmp(authz, "Bearer " FAKE_TOKEN) != 0) {
			snprintf(hdr, sizeof(hdr),
				 "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
				 "service=\"fake registry\",scope=\"repository:auth/img:pull\"\r\n",
				 fake.port[0]);
			return fake_reply(fd, 401, hdr, "", 0);
		}
		if (strstr(path, "/manifests/"))
			return fake_manifest_ok(fd);
		snprintf(hdr, sizeof(hdr), "Location: http://127.0.0.2:%d/storage?sig=1\r\n",
			 fake.port[1]);
		return fake_reply(fd, 307, hdr, "", 0);
	}
	if (strncmp(path, "/token?", 7) == 0) {
		fake.token_hits++;
		snprintf(fake.token_authz, sizeof(fake.token_authz), "%s", authz);
		if (!strstr(path, "scope=repository%3Aauth%2Fimg%3Apull") ||
		    !strstr(path, "service=fake%20registry"))
			return fake_reply(fd, 400, "", "", 0);
		return fake_reply(fd, 200, "", FAKE_TOKEN_DOC, strlen(FAKE_TOKEN_DOC));
	}
	if (strcmp(path, "/v2/basic/img/manifests/v1") == 0) {
		if (strcmp(authz, "Basic " FAKE_BASIC) != 0)
			return fake_reply(fd, 401, "WWW-Authenticate: Basic realm=\"fake\"\r\n", "",
					  0);
		return fake_manifest_ok(fd);
	}
	if (strcmp(path, "/v2/flaky/img/manifests/v1") == 0 && fake.flaky_hits++ < 2)
		return fake_reply(fd, 503, "Retry-After: 0\r\n", "", 0);
	if (strcmp(path, "/v2/flaky/img/manifests/v1") == 0)
		return fake_manifest_ok(fd);
	if (strcmp(path, "/v2/html/img/manifests/v1") == 0)
		return fake_reply(fd, 200, "Content-Type: text/html\r\n", "<html>", 6);
	if (strcmp(path, "/v2/huge/img/manifests/v1") == 0)
		return fake_huge(fd);
	if (strcmp(path, "/v2/denied/img/manifests/v1") == 0)
		return fake_reply(fd, 403, "", "", 0);
	fake_reply(fd, 404, "", "", 0);
}

static void fake_serve(int fd, bool storage)
{
	char req[8192], method[8], path[2048], authz[256];
	size_t len = 0;
	ssize_t n;

	while (len + 1 < sizeof(req) && (n = read(fd, req + len, sizeof(req) - 1 - len)) > 0) {
		len += (size_t)n;
		req[len] = '\0';
		/* A TLS ClientHello (the client tries HTTPS first): drop it, as a plain server does. */
		if ((unsigned char)req[0] == 0x16)
			return;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[len] = '\0';
	if (sscanf(req, "%7s %2047s", method, path) != 2)
		return;
	fake_header(req, "Authorization", authz, sizeof(authz));
	if (!storage)
		return fake_registry(fd, path, authz);
	fake.storage_hits++;
	snprintf(fake.storage_authz, sizeof(fake.storage_authz), "%s", authz);
	fake_reply(fd, 200, "Content-Type: application/octet-stream\r\n", FAKE_BLOB,
		   strlen(FAKE_BLOB));
}

static void *fake_main(void *arg)
{
	struct pollfd p[3] = { { .fd = fake.lfd[0], .events = POLLIN },
			       { .fd = fake.lfd[1], .events = POLLIN },
			       { .fd = fake.stop[0], .events = POLLIN } };

	while (poll(p, 3, -1) >= 0 && !p[2].revents) {
		for (int i = 0; i < 2; i++) {
			int fd = p[i].revents ? accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC) : -1;

			if (fd >= 0) {
				fake_serve(fd, i == 1);
				close(fd);
			}
		}
	}
	return NULL;
}

static int fake_listen(const char *ip, int *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, ip, &a.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*ret_port = ntohs(a.sin_port);
	return fd;
}

TEST(fake_start)
{
	fake.lfd[0] = fake_listen("127.0.0.1", &fake.port[0]);
	fake.lfd[1] = fake_listen("127.0.0.2", &fake.port[1]);
	if (fake.lfd[0] < 0 || fake.lfd[1] < 0)
		SKIP("cannot listen on 127.0.0.1 and 127.0.0.2");
	CHECK(pipe2(fake.stop, O_CLOEXEC) == 0);
	fake.running = pthread_create(&fake.thread, NULL, fake_main, NULL) == 0;
	CHECK(fake.running);
}

/* An auth file giving user:pass to the scripted registry (by host:port, as docker login does). */
static int fake_auth_file(char *path, size_t size)
{
	int fd;
	char doc[256];

	snprintf(path, size, "/tmp/sbx-unit-auth-XXXXXX");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -1;
	snprintf(doc, sizeof(doc), "{\"auths\": {\"http://127.0.0.1:%d/v1/\": {\"auth\": \"%s\"}}}",
		 fake.port[0], FAKE_BASIC);
	sbx_write_all(fd, doc, strlen(doc));
	close(fd);
	return 0;
}

static int fake_manifest_get(const char *repo, const struct img_registry_opts *opts,
			     struct sbx_error *err)
{
	struct img_registry *r = NULL;
	char media[128], digest[IMG_DIGEST_LEN + 1], *body = NULL;
	size_t len;
	int res = open_client(opts, &r, err, "127.0.0.1:%d/%s", fake.port[0], repo);

	if (res >= 0)
		res = img_registry_manifest(r, "v1", &body, &len, media, digest, err);
	if (res >= 0 && (len != strlen(fake_manifest) || memcmp(body, fake_manifest, len)))
		res = -EBADMSG;
	free(body);
	img_registry_close(r);
	return res;
}

/* Bearer flow with credentials; the blob redirect to storage goes without them. */
TEST(auth_bearer_and_redirect)
{
	struct img_registry_opts opts = { 0 };
	struct sbx_error err = { 0 };
	struct img_registry *r = NULL;
	char auth[64], want[IMG_DIGEST_LEN + 1], got[IMG_DIGEST_LEN + 1];
	_cleanup_close_ int fd = -1;

	if (!fake.running)
		SKIP("no scripted registry");
	CHECK(fake_auth_file(auth, sizeof(auth)) == 0);
	opts.auth_file = auth;
	CHECK(fake_manifest_get("auth/img", &opts, &err) == 0);
	CHECK(fake.token_hits == 1);
	CHECK_STREQ(fake.token_authz, "Basic " FAKE_BASIC);
	/* anonymous: the token request carries nothing */
	CHECK(fake_manifest_get("auth/img", NULL, &err) == 0);
	CHECK(fake.token_hits == 2 && fake.token_authz[0] == '\0');

	fixture_sha256(FAKE_BLOB, strlen(FAKE_BLOB), want);
	CHECK(open_client(&opts, &r, &err, "127.0.0.1:%d/auth/img", fake.port[0]) == 0);
	fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	CHECK(r && fd >= 0);
	if (r && fd >= 0) {
		CHECK(img_registry_blob(r, want, strlen(FAKE_BLOB), fd, NULL, NULL, &err) == 0);
		CHECK(img_sha256_fd(fd, got, &err) == 0);
		CHECK_STREQ(got, want);
	}
	/* the storage host saw the request, and no Authorization header */
	CHECK(fake.storage_hits == 1);
	CHECK(fake.storage_authz[0] == '\0');
	img_registry_close(r);
	unlink(auth);
}

TEST(auth_basic_and_errors)
{
	struct img_registry_opts opts = { .retries = 2 };
	struct sbx_error err = { 0 };
	char auth[64];

	if (!fake.running)
		SKIP("no scripted registry");
	CHECK(fake_auth_file(auth, sizeof(auth)) == 0);
	CHECK(fake_manifest_get("basic/img", NULL, &err) == -EACCES);
	CHECK(strstr(err.msg, "unauthorized: authentication required") != NULL);
	opts.auth_file = auth;
	CHECK(fake_manifest_get("basic/img", &opts, &err) == 0);
	CHECK(fake_manifest_get("denied/img", &opts, &err) == -EACCES);
	CHECK(fake_manifest_get("html/img", &opts, &err) == -EPROTONOSUPPORT);
	CHECK(fake_manifest_get("huge/img", &opts, &err) == -EFBIG);
	CHECK(strstr(err.msg, "manifest v1") != NULL);
	/* two 503s, then the manifest: retried (Retry-After: 0 keeps this fast) */
	CHECK(fake_manifest_get("flaky/img", &opts, &err) == 0);
	CHECK(fake.flaky_hits == 3);
	unlink(auth);
}

TEST(fake_stop)
{
	if (fake.running) {
		CHECK(write(fake.stop[1], "x", 1) == 1);
		pthread_join(fake.thread, NULL);
	}
	for (int i = 0; i < 2; i++) {
		if (fake.lfd[i] >= 0)
			close(fake.lfd[i]);
		if (fake.stop[i] >= 0)
			close(fake.stop[i]);
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

TEST(registry_stop)
{
	fixture_registry_stop(&reg.r);
	if (reg.made_dir)
		nftw(reg.r.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(reg.manifest);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	RUN(registry_start);
	RUN(manifest_by_tag_and_digest);
	RUN(manifest_unknown);
	RUN(blob_download);
	RUN(blob_refused);
	RUN(blob_corrupted_on_registry);
	RUN(connection_refused);
	RUN(docker_hub_mirrors);
	RUN(auth_file);
	RUN(registry_stop);
	RUN(fake_start);
	RUN(auth_bearer_and_redirect);
	RUN(auth_basic_and_errors);
	RUN(fake_stop);
	curl_global_cleanup();
	UNIT_END();
}
