/* SPDX-License-Identifier: MIT */
/*
 * test_callback.c - callback delivery end to end: a history database in a temporary directory,
 * a finished job whose callback_url points at a small HTTP receiver run by this test on
 * 127.0.0.1, and the delivery thread. Checked: the POST (JSON body with the job, the
 * X-Sandboxd-Job, Content-Type and User-Agent headers), callback_state "delivered" after 200,
 * after two 500s and a 200 (three requests), "failed" once the retries are spent, "failed"
 * without hanging for a closed port and for URLs curl must refuse (file://, garbage), a job
 * finished after start picked up on cb_notify, and cb_stop cutting short a transfer to a
 * receiver that never answers, leaving the job pending.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "callback.h"
#include "history.h"
#include "unit.h"
#include "util.h"

#define WAIT_MS	     10000
#define REQ_MAX	     (64 * 1024)
#define HANG_FOREVER -1
#define REDIRECT     -2

struct receiver {
	int lfd;
	int port;
	pthread_t thread;
	atomic_bool stop;
	/* answer 500 to this many requests first; HANG_FOREVER: never answer; REDIRECT: 302 to
	 * /landed, then 200 */
	int fail_first;
	bool always_fail;
	pthread_mutex_t lock;
	int n_conns; /* connections accepted, requests or not */
	int n_requests;
	char head[8192]; /* the last request's line and headers */
	char body[REQ_MAX];
};

struct fixture {
	char dir[64];
	char db[96];
	struct hist *h;
	struct receiver rx;
};

static double now_s(void)
{
	return sbx_now_ns() / 1e9;
}

/* Reads until the end of the headers; returns the header length, or -1. */
static ssize_t read_head(int fd, char *buf, size_t size, size_t *ret_len)
{
	size_t len = 0;
	char *end;

	for (;;) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end) {
			*ret_len = len;
			return end + 4 - buf;
		}
		if (len == size - 1)
			return -1;
	}
}

/* One request: header and body (by Content-Length) recorded; returns the request count. */
static int rx_read_request(struct receiver *rx, int fd)
{
	static char buf[REQ_MAX];
	size_t len = 0, want;
	ssize_t head = read_head(fd, buf, sizeof(buf), &len), n;
	const char *cl;

	if (head < 0)
		return -1;
	cl = strcasestr(buf, "\r\ncontent-length:");
	want = (size_t)head + (cl ? strtoul(cl + 17, NULL, 10) : 0);
	while (len < want && len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
	}
	buf[len] = '\0';
	pthread_mutex_lock(&rx->lock);
	snprintf(rx->head, sizeof(rx->head), "%.*s", (int)head, buf);
	snprintf(rx->body, sizeof(rx->body), "%s", buf + head);
	n = ++rx->n_requests;
	pthread_mutex_unlock(&rx->lock);
	return (int)n;
}

static void rx_answer(struct receiver *rx, int fd, int nth)
{
	static const char ok[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	static const char bad[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
				  "Connection: close\r\n\r\n";

	if (rx->fail_first == HANG_FOREVER) {
		while (!atomic_load(&rx->stop))
			poll(NULL, 0, 20);
		return;
	}
	if (rx->fail_first == REDIRECT && nth == 1)
		dprintf(fd,
			"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/landed\r\n"
			"Content-Length: 0\r\nConnection: close\r\n\r\n",
			rx->port);
	else if (rx->always_fail || nth <= rx->fail_first)
		(void)!write(fd, bad, sizeof(bad) - 1);
	else
		(void)!write(fd, ok, sizeof(ok) - 1);
}

static void *rx_main(void *arg)
{
	struct receiver *rx = arg;
	struct timeval tv = { .tv_sec = 2 };

	while (!atomic_load(&rx->stop)) {
		struct pollfd p = { .fd = rx->lfd, .events = POLLIN };
		int fd, nth;
		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept4(rx->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		pthread_mutex_lock(&rx->lock);
		rx->n_conns++;
		pthread_mutex_unlock(&rx->lock);
		nth = rx_read_request(rx, fd);
		if (nth > 0)
			rx_answer(rx, fd, nth);
		close(fd);
	}
	return NULL;
}

/* A listening socket on 127.0.0.1, port chosen by the kernel. */
static int listen_loopback(int *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		close(fd);
		return -1;
	}
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static bool rx_start(struct receiver *rx, int fail_first, bool always_fail)
{
	*rx = (struct receiver){ .fail_first = fail_first, .always_fail = always_fail };
	pthread_mutex_init(&rx->lock, NULL);
	rx->lfd = listen_loopback(&rx->port);
	if (rx->lfd < 0)
		return false;
	if (pthread_create(&rx->thread, NULL, rx_main, rx) != 0) {
		close(rx->lfd);
		rx->lfd = -1;
		return false;
	}
	return true;
}

static void rx_stop(struct receiver *rx)
{
	if (rx->lfd < 0)
		return;
	atomic_store(&rx->stop, true);
	pthread_join(rx->thread, NULL);
	close(rx->lfd);
	rx->lfd = -1;
	pthread_mutex_destroy(&rx->lock);
}

static int rx_count(struct receiver *rx)
{
	int n;

	pthread_mutex_lock(&rx->lock);
	n = rx->n_requests;
	pthread_mutex_unlock(&rx->lock);
	return n;
}

static int rx_conns(struct receiver *rx)
{
	int n;

	pthread_mutex_lock(&rx->lock);
	n = rx->n_conns;
	pthread_mutex_unlock(&rx->lock);
	return n;
}

static bool fixture_setup(struct fixture *f, int fail_first, bool always_fail)
{
	struct sbx_error err = { 0 };

	*f = (struct fixture){ .rx.lfd = -1 };
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_callback.XXXXXX");
	if (!mkdtemp(f->dir))
		return false;
	snprintf(f->db, sizeof(f->db), "%s/history.db", f->dir);
	if (hist_open(f->db, true, &f->h, &err) < 0) {
		fprintf(stderr, "  hist_open: %s\n", err.msg);
		return false;
	}
	return rx_start(&f->rx, fail_first, always_fail);
}

static void fixture_teardown(struct fixture *f)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char p[128];

	rx_stop(&f->rx);
	hist_close(f->h);
	for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", f->db, suffixes[i]);
		unlink(p);
	}
	rmdir(f->dir);
}

/* A job as the supervisor leaves it: inserted, then finished with a callback pending. */
static bool add_finished_job(struct fixture *f, const char *id, const char *url)
{
	char result[256];
	struct sbx_error err = { 0 };
	struct hist_job j = { .language = "python",
			      .version = "3.11",
			      .request = "{\"language\":\"python\",\"code\":\"print(1)\"}",
			      .callback_url = (char *)url,
			      .created_ms = hist_now_ms() };

	snprintf(j.id, sizeof(j.id), "%s", id);
	snprintf(result, sizeof(result),
		 "{\"id\":\"%s\",\"language\":\"python\",\"version\":\"3.11\",\"status\":\"ok\","
		 "\"stdout\":\"1\\n\",\"stderr\":\"\",\"exit_code\":0}",
		 id);
	if (hist_insert(f->h, &j, &err) < 0 ||
	    hist_mark_running(f->h, id, j.created_ms, &err) < 0 ||
	    hist_finish(f->h, id, "ok", result, NULL, hist_now_ms(), &err) < 0) {
		fprintf(stderr, "  history: %s\n", err.msg);
		return false;
	}
	return true;
}

/* callback_state of a job, into buf ("(null)" when unset). */
static void state_of(struct fixture *f, const char *id, char *buf, size_t size)
{
	struct hist_job j = { 0 };

	if (hist_get(f->h, id, &j, NULL) < 0) {
		snprintf(buf, size, "(no job)");
		return;
	}
	snprintf(buf, size, "%s", j.callback_state ? j.callback_state : "(null)");
	hist_job_free(&j);
}

/* Polls until the job's callback_state is want or ms pass; true when it is. */
static bool wait_state(struct fixture *f, const char *id, const char *want, int ms)
{
	char got[32];
	double end = now_s() + ms / 1000.0;

	for (;;) {
		state_of(f, id, got, sizeof(got));
		if (strcmp(got, want) == 0)
			return true;
		if (now_s() > end) {
			fprintf(stderr, "  %s: callback_state %s, wanted %s\n", id, got, want);
			return false;
		}
		poll(NULL, 0, 20);
	}
}

static struct cb *start(struct fixture *f, unsigned retries, unsigned timeout_ms)
{
	struct cfg cfg = { .callback_retries = retries, .callback_timeout_ms = timeout_ms };
	struct sbx_error err = { 0 };
	struct cb *c = NULL;

	if (cb_start(&cfg, f->db, &c, &err) < 0) {
		fprintf(stderr, "  cb_start: %s\n", err.msg);
		return NULL;
	}
	cb_notify(c);
	return c;
}

static void url_of(const struct fixture *f, char *buf, size_t size)
{
	snprintf(buf, size, "http://127.0.0.1:%d/hook", f->rx.port);
}

static void check_request(struct receiver *rx, const char *id)
{
	char hdr[96];
	cJSON *o;

	pthread_mutex_lock(&rx->lock);
	CHECK(strncmp(rx->head, "POST /hook HTTP/1.1\r\n", 21) == 0);
	snprintf(hdr, sizeof(hdr), "\r\nX-Sandboxd-Job: %s\r\n", id);
	CHECK(strcasestr(rx->head, hdr) != NULL);
	CHECK(strcasestr(rx->head, "\r\nContent-Type: application/json\r\n") != NULL);
	CHECK(strcasestr(rx->head, "\r\nUser-Agent: sandboxd\r\n") != NULL);
	o = cJSON_Parse(rx->body);
	CHECK(o != NULL);
	CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "id")));
	if (cJSON_IsString(cJSON_GetObjectItem(o, "id")))
		CHECK_STREQ(cJSON_GetObjectItem(o, "id")->valuestring, id);
	CHECK_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "ok");
	cJSON_Delete(o);
	pthread_mutex_unlock(&rx->lock);
}

TEST(delivered_on_200)
{
	struct fixture f;
	char url[64];
	struct cb *c = NULL;
	double t0;

	if (!fixture_setup(&f, 0, false)) {
		CHECK(!"fixture");
		goto out;
	}
	url_of(&f, url, sizeof(url));
	/* pending before the thread starts: delivered by its first look at history */
	CHECK(add_finished_job(&f, "job-first", url));
	c = start(&f, 3, 2000);
	CHECK(c != NULL);
	if (!c)
		goto out;
	CHECK(wait_state(&f, "job-first", "delivered", WAIT_MS));
	CHECK(rx_count(&f.rx) == 1);
	check_request(&f.rx, "job-first");
	/* finished while the thread sleeps: cb_notify wakes it well before its 5 s poll */
	CHECK(add_finished_job(&f, "job-second", url));
	t0 = now_s();
	cb_notify(c);
	CHECK(wait_state(&f, "job-second", "delivered", WAIT_MS));
	CHECK(now_s() - t0 < 3.0);
	CHECK(rx_count(&f.rx) == 2);
	check_request(&f.rx, "job-second");
out:
	cb_stop(c);
	fixture_teardown(&f);
}

TEST(retried_after_500)
{
	struct fixture f;
	char url[64];
	struct cb *c = NULL;

	if (!fixture_setup(&f, 2, false)) {
		CHECK(!"fixture");
		goto out;
	}
	url_of(&f, url, sizeof(url));
	CHECK(add_finished_job(&f, "job-retry", url));
	c = start(&f, 3, 2000);
	CHECK(c != NULL);
	if (!c)
		goto out;
	/* 500, wait 0.5 s, 500, wait 1 s, 200 */
	CHECK(wait_state(&f, "job-retry", "delivered", WAIT_MS));
	CHECK(rx_count(&f.rx) == 3);
	check_request(&f.rx, "job-retry");
out:
	cb_stop(c);
	fixture_teardown(&f);
}

TEST(failed_when_retries_spent)
{
	struct fixture f;
	char url[64];
	struct cb *c = NULL;

	if (!fixture_setup(&f, 0, true)) {
		CHECK(!"fixture");
		goto out;
	}
	url_of(&f, url, sizeof(url));
	CHECK(add_finished_job(&f, "job-fail", url));
	c = start(&f, 1, 2000);
	CHECK(c != NULL);
	if (!c)
		goto out;
	CHECK(wait_state(&f, "job-fail", "failed", WAIT_MS));
	/* the first attempt and one retry, then nothing more */
	CHECK(rx_count(&f.rx) == 2);
	poll(NULL, 0, 800);
	CHECK(rx_count(&f.rx) == 2);
out:
	cb_stop(c);
	fixture_teardown(&f);
}

TEST(bad_urls_fail_without_hanging)
{
	struct fixture f;
	char closed[64], gopher[64], dict[64];
	struct cb *c = NULL;
	int port = 0, fd;
	double t0 = now_s();

	if (!fixture_setup(&f, 0, false)) {
		CHECK(!"fixture");
		goto out;
	}
	/* a port that was just free: nothing listens there */
	fd = listen_loopback(&port);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	snprintf(closed, sizeof(closed), "http://127.0.0.1:%d/hook", port);
	CHECK(add_finished_job(&f, "job-closed", closed));
	/* only http and https: a file:// callback must not read local files */
	CHECK(add_finished_job(&f, "job-file", "file:///etc/passwd"));
	CHECK(add_finished_job(&f, "job-garbage", "::not a url::"));
	/* nor other protocols that would talk to an internal service: no connection at all */
	snprintf(gopher, sizeof(gopher), "gopher://127.0.0.1:%d/x", f.rx.port);
	snprintf(dict, sizeof(dict), "dict://127.0.0.1:%d/d:x", f.rx.port);
	CHECK(add_finished_job(&f, "job-gopher", gopher));
	CHECK(add_finished_job(&f, "job-dict", dict));
	c = start(&f, 1, 2000);
	CHECK(c != NULL);
	if (!c)
		goto out;
	CHECK(wait_state(&f, "job-closed", "failed", WAIT_MS));
	CHECK(wait_state(&f, "job-file", "failed", WAIT_MS));
	CHECK(wait_state(&f, "job-garbage", "failed", WAIT_MS));
	CHECK(wait_state(&f, "job-gopher", "failed", WAIT_MS));
	CHECK(wait_state(&f, "job-dict", "failed", WAIT_MS));
	CHECK(now_s() - t0 < WAIT_MS / 1000.0);
	CHECK(rx_conns(&f.rx) == 0);
out:
	cb_stop(c);
	fixture_teardown(&f);
}

TEST(redirect_not_followed)
{
	struct fixture f;
	char url[64];
	struct cb *c = NULL;

	if (!fixture_setup(&f, REDIRECT, false)) {
		CHECK(!"fixture");
		goto out;
	}
	url_of(&f, url, sizeof(url));
	CHECK(add_finished_job(&f, "job-redirect", url));
	/* a 3xx is no delivery: following it would let a receiver point us anywhere */
	c = start(&f, 0, 2000);
	CHECK(c != NULL);
	if (!c)
		goto out;
	CHECK(wait_state(&f, "job-redirect", "failed", WAIT_MS));
	CHECK(rx_count(&f.rx) == 1);
	pthread_mutex_lock(&f.rx.lock);
	CHECK(strncmp(f.rx.head, "POST /hook ", 11) == 0);
	pthread_mutex_unlock(&f.rx.lock);
out:
	cb_stop(c);
	fixture_teardown(&f);
}

TEST(stop_cuts_transfer_short)
{
	struct fixture f;
	char url[64], got[32];
	struct cb *c = NULL;
	double t0;

	if (!fixture_setup(&f, HANG_FOREVER, false)) {
		CHECK(!"fixture");
		goto out;
	}
	url_of(&f, url, sizeof(url));
	CHECK(add_finished_job(&f, "job-hang", url));
	/* a 30 s timeout: only the stop flag can end this transfer quickly */
	c = start(&f, 0, 30000);
	CHECK(c != NULL);
	if (!c)
		goto out;
	t0 = now_s();
	while (rx_count(&f.rx) == 0 && now_s() - t0 < WAIT_MS / 1000.0)
		poll(NULL, 0, 20);
	CHECK(rx_count(&f.rx) == 1);
	t0 = now_s();
	cb_stop(c);
	c = NULL;
	CHECK(now_s() - t0 < 3.0);
	/* a shutdown is not the receiver's fault: the delivery resumes at the next start */
	state_of(&f, "job-hang", got, sizeof(got));
	CHECK_STREQ(got, "pending");
out:
	cb_stop(c);
	fixture_teardown(&f);
}

int main(void)
{
	RUN(delivered_on_200);
	RUN(retried_after_500);
	RUN(failed_when_retries_spent);
	RUN(bad_urls_fail_without_hanging);
	RUN(redirect_not_followed);
	RUN(stop_cuts_transfer_short);
	UNIT_END();
}
