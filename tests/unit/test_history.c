/* SPDX-License-Identifier: MIT */
/*
 * test_history.c - the job history (service/history.c) on real SQLite files in a temp dir:
 * the database is created 0600 even under umask 0; insert and get round-trip every field; ids
 * are unique; lists filter, page newest first with a cursor and clamp their limit; values
 * never become SQL; finish, recover (running -> failed, queued returned oldest first), prune,
 * delete, callbacks pending/done, totals by status; the API's JSON view; a reader connection
 * sees rows written by a writer in this and in another process, and is not held up by another
 * process's open write transaction.
 */
#include <cjson/cJSON.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "history.h"
#include "unit.h"
#include "util.h"

/* 2026-11-22T10:00:00.123Z */
#define T0 (1795341600LL * 1000 + 123)

static char dir[] = "/tmp/test_history.XXXXXX";

static struct hist *open_db(const char *name, bool writer)
{
	char path[128];
	struct sbx_error err = { 0 };
	struct hist *h = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK(hist_open(path, writer, &h, &err) == 0);
	if (!h)
		fprintf(stderr, "  hist_open %s: %s\n", path, err.msg);
	return h;
}

static void insert(struct hist *h, const char *id, const char *language, const char *owner,
		   const char *status)
{
	struct hist_job j = { .owner = (char *)owner,
			      .language = (char *)language,
			      .version = "1",
			      .status = (char *)status,
			      .request = "{}",
			      .created_ms = T0 };
	struct sbx_error err = { 0 };

	snprintf(j.id, sizeof(j.id), "%s", id);
	CHECK(hist_insert(h, &j, &err) == 0);
}

/* The job's status, or "" when hist_get fails. */
static const char *status_of(struct hist *h, const char *id, struct hist_job *j)
{
	struct sbx_error err = { 0 };

	hist_job_free(j);
	*j = (struct hist_job){ 0 };
	return hist_get(h, id, j, &err) == 0 ? j->status : "";
}

TEST(setup)
{
	CHECK(mkdtemp(dir) != NULL);
}

TEST(file_is_private)
{
	char path[128];
	mode_t old = umask(0); /* SQLite alone would make it 0644 & ~umask */
	struct hist *h = open_db("private.db", true);
	struct stat st;

	umask(old);
	if (!h)
		return;
	insert(h, "a", "python", NULL, NULL); /* makes the -wal file */
	snprintf(path, sizeof(path), "%s/private.db", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	snprintf(path, sizeof(path), "%s/private.db-wal", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	hist_close(h);
}

TEST(insert_and_get)
{
	struct hist *h = open_db("get.db", true);
	struct hist_job in = { .id = "job-1",
			       .owner = "alice",
			       .language = "python",
			       .version = "3.11",
			       .sync = true,
			       .request = "{\"code\":\"print(1)\"}",
			       .callback_url = "http://127.0.0.1:9/cb",
			       .created_ms = T0 },
			out = { 0 };
	struct sbx_error err = { 0 };

	if (!h)
		return;
	CHECK(hist_insert(h, &in, &err) == 0);
	CHECK(hist_get(h, "job-1", &out, &err) == 0);
	CHECK_STREQ(out.id, "job-1");
	CHECK_STREQ(out.owner, "alice");
	CHECK_STREQ(out.language, "python");
	CHECK_STREQ(out.version, "3.11");
	CHECK_STREQ(out.status, "queued"); /* the default */
	CHECK(out.sync);
	CHECK_STREQ(out.request, in.request);
	CHECK(out.result == NULL && out.error == NULL && out.callback_state == NULL);
	CHECK_STREQ(out.callback_url, in.callback_url);
	CHECK(out.created_ms == T0 && out.started_ms == 0 && out.finished_ms == 0);
	CHECK(out.seq > 0);
	hist_job_free(&out);
	CHECK(out.owner == NULL);

	CHECK(hist_insert(h, &in, &err) == -EEXIST);
	CHECK(err.code == EEXIST && strstr(err.msg, "job-1") && strstr(err.msg, "UNIQUE"));
	CHECK(hist_get(h, "nope", &out, &err) == -ENOENT);
	CHECK(err.code == ENOENT && strstr(err.msg, "nope") != NULL);
	in.id[0] = '\0';
	CHECK(hist_insert(h, &in, &err) == -EINVAL);

	CHECK(hist_mark_running(h, "job-1", T0 + 5, &err) == 0);
	CHECK(hist_get(h, "job-1", &out, &err) == 0);
	CHECK_STREQ(out.status, "running");
	CHECK(out.started_ms == T0 + 5);
	hist_job_free(&out);
	CHECK(hist_mark_running(h, "nope", T0, &err) == -ENOENT);
	hist_close(h);
}

/* All pages of a list with this filter: checks newest first, no repeats; returns the count. */
static size_t walk_pages(struct hist *h, struct hist_filter f, size_t *ret_pages)
{
	int64_t last = INT64_MAX;
	size_t total = 0, pages = 0;

	do {
		struct hist_job *v = NULL;
		size_t n = 0;
		int64_t next = -1;
		struct sbx_error err = { 0 };

		CHECK(hist_list(h, &f, &v, &n, &next, &err) == 0);
		for (size_t i = 0; i < n; i++) {
			CHECK(v[i].seq < last); /* strictly newest first, across pages too */
			last = v[i].seq;
		}
		CHECK(n <= (f.limit ? f.limit : 1));
		CHECK(next == 0 || (n > 0 && next == v[n - 1].seq));
		total += n;
		pages++;
		f.before_seq = next;
		hist_jobs_free(v, n);
	} while (f.before_seq > 0 && pages < 100);
	*ret_pages = pages;
	return total;
}

TEST(list_filters_and_pages)
{
	struct hist *h = open_db("list.db", true);
	struct hist_filter all = { .limit = 10 };
	struct hist_job *v = NULL;
	size_t n = 0, pages = 0;
	int64_t next = -1;
	struct sbx_error err = { 0 };

	if (!h)
		return;
	/* job-i: python when i is even, alice when i % 3 == 0, running when i % 5 == 0 */
	for (int i = 0; i < 25; i++) {
		char id[16];

		snprintf(id, sizeof(id), "job-%02d", i);
		insert(h, id, i % 2 ? "c" : "python", i % 3 ? "bob" : "alice",
		       i % 5 ? NULL : "running");
	}
	CHECK(walk_pages(h, all, &pages) == 25);
	CHECK(pages == 3);

	CHECK(hist_list(h, &all, &v, &n, &next, &err) == 0);
	CHECK(n == 10 && next == v[9].seq);
	CHECK_STREQ(v[0].id, "job-24");
	CHECK_STREQ(v[9].id, "job-15");
	hist_jobs_free(v, n);

	CHECK(walk_pages(h, (struct hist_filter){ .language = "python", .limit = 4 }, &pages) ==
	      13);
	CHECK(pages == 4);
	CHECK(walk_pages(h,
			 (struct hist_filter){ .owner = "alice", .language = "python", .limit = 2 },
			 &pages) == 5); /* 0 6 12 18 24 */
	CHECK(walk_pages(h,
			 (struct hist_filter){ .status = "running", .owner = "bob", .limit = 10 },
			 &pages) == 3); /* 5 10 20 */
	CHECK(walk_pages(h, (struct hist_filter){ .language = "rust", .limit = 10 }, &pages) == 0);

	/* limit 0 means 1; past 1000 means 1000: one page holds everything */
	CHECK(hist_list(h, &(struct hist_filter){ .limit = 0 }, &v, &n, &next, &err) == 0);
	CHECK(n == 1 && next == v[0].seq);
	hist_jobs_free(v, n);
	CHECK(hist_list(h, &(struct hist_filter){ .limit = 5000 }, &v, &n, &next, &err) == 0);
	CHECK(n == 25 && next == 0);
	hist_jobs_free(v, n);
	/* exactly a full last page: no cursor after it */
	CHECK(hist_list(h, &(struct hist_filter){ .limit = 25 }, &v, &n, &next, &err) == 0);
	CHECK(n == 25 && next == 0);
	hist_jobs_free(v, n);
	hist_close(h);
}

TEST(values_are_not_sql)
{
	struct hist *h = open_db("quote.db", true);
	struct hist_filter f = { .owner = "x' OR '1'='1", .limit = 10 };
	struct hist_job j = { 0 }, *v = NULL;
	size_t n = 0;
	int64_t next = 0;
	struct sbx_error err = { 0 };

	if (!h)
		return;
	insert(h, "plain", "c", "bob", NULL);
	insert(h, "quoted", "c", f.owner, NULL);
	CHECK(hist_list(h, &f, &v, &n, &next, &err) == 0);
	CHECK(n == 1 && strcmp(v[0].id, "quoted") == 0);
	hist_jobs_free(v, n);
	CHECK(hist_delete(h, "x' OR '1'='1", &err) == -ENOENT);
	CHECK_STREQ(status_of(h, "plain", &j), "queued"); /* the quote deleted nothing */
	hist_job_free(&j);
	hist_close(h);
}

TEST(finish_and_callbacks)
{
	struct hist *h = open_db("finish.db", true);
	struct hist_job cb = { .id = "cb-late", .language = "c", .callback_url = "http://x/1" },
			j = { 0 }, *v = NULL;
	size_t n = 0;
	int64_t next = 0;
	struct sbx_error err = { 0 };

	if (!h)
		return;
	CHECK(hist_insert(h, &cb, &err) == 0);
	snprintf(cb.id, sizeof(cb.id), "cb-early");
	CHECK(hist_insert(h, &cb, &err) == 0);
	snprintf(cb.id, sizeof(cb.id), "cb-unfinished");
	CHECK(hist_insert(h, &cb, &err) == 0);
	insert(h, "plain", "c", NULL, NULL);

	CHECK(hist_finish(h, "cb-late", "ok", "{\"stdout\":\"1\"}", NULL, T0 + 20, &err) == 0);
	CHECK(hist_finish(h, "cb-early", "failed", NULL, "no rootfs", T0 + 10, &err) == 0);
	CHECK(hist_finish(h, "plain", "timeout", "{}", NULL, T0 + 30, &err) == 0);
	CHECK(hist_finish(h, "nope", "ok", NULL, NULL, T0, &err) == -ENOENT);
	CHECK(hist_finish(h, "plain", NULL, NULL, NULL, T0, &err) == -EINVAL); /* status NOT NULL */

	CHECK_STREQ(status_of(h, "cb-late", &j), "ok");
	CHECK_STREQ(j.result, "{\"stdout\":\"1\"}");
	CHECK(j.error == NULL && j.finished_ms == T0 + 20);
	CHECK_STREQ(j.callback_state, "pending");
	CHECK_STREQ(status_of(h, "cb-early", &j), "failed");
	CHECK_STREQ(j.error, "no rootfs");
	CHECK(j.result == NULL);
	CHECK_STREQ(status_of(h, "plain", &j), "timeout");
	CHECK(j.callback_state == NULL); /* no URL, nothing to deliver */

	/* finished ones only, the earliest finished first */
	CHECK(hist_callback_pending(h, &v, &n, &err) == 0);
	CHECK(n == 2);
	if (n == 2) {
		CHECK_STREQ(v[0].id, "cb-early");
		CHECK_STREQ(v[1].id, "cb-late");
	}
	hist_jobs_free(v, n);

	CHECK(hist_callback_done(h, "cb-early", "delivered", 3, &err) == 0);
	CHECK(hist_callback_done(h, "cb-late", "lost", 1, &err) == -EINVAL);
	CHECK(hist_callback_done(h, "nope", "failed", 1, &err) == -ENOENT);
	CHECK_STREQ(status_of(h, "cb-early", &j), "failed");
	CHECK_STREQ(j.callback_state, "delivered");
	CHECK(hist_callback_pending(h, &v, &n, &err) == 0);
	CHECK(n == 1 && strcmp(v[0].id, "cb-late") == 0);
	hist_jobs_free(v, n);

	/* a page leaves out the request and the output: it stays small whatever jobs printed */
	CHECK(hist_finish(h, "cb-unfinished", "ok",
			  "{\"stdout\":\"big\",\"stderr\":\"err\",\"exit_code\":0}", NULL, T0 + 40,
			  &err) == 0);
	CHECK(hist_list(h, &(struct hist_filter){ .limit = 10 }, &v, &n, &next, &err) == 0);
	CHECK(n == 4);
	for (size_t i = 0; i < n; i++) {
		CHECK(v[i].request == NULL);
		CHECK(!v[i].result || !strstr(v[i].result, "stdout"));
		if (!strcmp(v[i].id, "cb-unfinished"))
			CHECK(v[i].result && strstr(v[i].result, "\"exit_code\":0"));
	}
	hist_jobs_free(v, n);
	hist_job_free(&j);
	hist_close(h);
}

TEST(recover_after_crash)
{
	struct hist *h = open_db("recover.db", true);
	struct hist_job j = { 0 }, *v = NULL;
	size_t n = 0;
	int64_t before = hist_now_ms();
	struct sbx_error err = { 0 };

	if (!h)
		return;
	insert(h, "q1", "c", NULL, NULL);
	insert(h, "run", "c", NULL, "running");
	insert(h, "q2", "python", "bob", NULL);
	insert(h, "done", "c", NULL, "ok");
	CHECK(hist_recover(h, "service restarted", &v, &n, &err) == 0);
	CHECK(n == 2);
	if (n == 2) {
		CHECK_STREQ(v[0].id, "q1");
		CHECK_STREQ(v[1].id, "q2");
		CHECK_STREQ(v[1].owner, "bob"); /* full rows: the caller runs them again */
		CHECK_STREQ(v[1].request, "{}");
	}
	hist_jobs_free(v, n);
	CHECK_STREQ(status_of(h, "run", &j), "failed");
	CHECK_STREQ(j.error, "service restarted");
	CHECK(j.finished_ms >= before);
	CHECK_STREQ(status_of(h, "done", &j), "ok");
	CHECK(j.error == NULL);
	CHECK_STREQ(status_of(h, "q1", &j), "queued");

	/* nothing running any more: a second recovery fails nobody */
	CHECK(hist_recover(h, "again", &v, &n, &err) == 0);
	CHECK(n == 2);
	hist_jobs_free(v, n);
	CHECK_STREQ(status_of(h, "run", &j), "failed");
	CHECK_STREQ(j.error, "service restarted");
	hist_job_free(&j);
	hist_close(h);
}

TEST(prune_delete_count)
{
	struct hist *h = open_db("prune.db", true);
	struct hist_job j = { 0 };
	char **status = NULL;
	uint64_t *count = NULL;
	size_t n = 0;
	struct sbx_error err = { 0 };

	if (!h)
		return;
	insert(h, "old", "c", NULL, NULL);
	insert(h, "new", "c", NULL, NULL);
	insert(h, "queued", "c", NULL, NULL);
	insert(h, "running", "c", NULL, "running");
	insert(h, "gone", "c", NULL, NULL);
	CHECK(hist_finish(h, "old", "ok", "{}", NULL, T0 - 1000, &err) == 0);
	CHECK(hist_finish(h, "new", "runtime_error", "{}", NULL, T0 + 1000, &err) == 0);

	CHECK(hist_delete(h, "gone", &err) == 0);
	CHECK(hist_delete(h, "gone", &err) == -ENOENT);
	CHECK(hist_get(h, "gone", &j, &err) == -ENOENT);

	/* a job run again keeps its old finished_ms until it ends: still not finished */
	j = (struct hist_job){ .id = "rerun", .status = "running", .finished_ms = T0 - 1000 };
	CHECK(hist_insert(h, &j, &err) == 0);
	j = (struct hist_job){ 0 };

	CHECK(hist_prune(h, T0, &err) == 1);
	CHECK_STREQ(status_of(h, "rerun", &j), "running");
	CHECK(hist_delete(h, "rerun", &err) == 0);
	CHECK(hist_get(h, "old", &j, &err) == -ENOENT);
	CHECK_STREQ(status_of(h, "new", &j), "runtime_error");
	CHECK_STREQ(status_of(h, "queued", &j), "queued");
	CHECK_STREQ(status_of(h, "running", &j), "running");
	hist_job_free(&j);
	CHECK(hist_prune(h, T0, &err) == 0);

	CHECK(hist_count_by_status(h, &status, &count, &n, &err) == 0);
	CHECK(n == 3);
	for (size_t i = 0; i < n; i++) {
		CHECK(count[i] == 1);
		CHECK(strcmp(status[i], "queued") == 0 || strcmp(status[i], "running") == 0 ||
		      strcmp(status[i], "runtime_error") == 0);
		free(status[i]);
	}
	free(status);
	free(count);
	hist_close(h);
}

static cJSON *job_json(const struct hist_job *j)
{
	char *s = hist_job_to_json(j);
	cJSON *o = s ? cJSON_Parse(s) : NULL;

	CHECK(o != NULL);
	free(s);
	return o;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_null(const cJSON *o, const char *key)
{
	return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

TEST(json_finished)
{
	struct hist_job j = {
		.id = "job-7",
		.owner = "alice",
		.language = "python",
		.version = "3.11",
		.status = "ok",
		.request = "{\"code\":\"secret\"}",
		.result = "{\"id\":\"stale\",\"status\":\"running\",\"stdout\":\"hi\\n\","
			  "\"exit_code\":0,\"owner\":\"mallory\"}",
		.callback_url = "http://127.0.0.1:9/cb",
		.callback_state = "pending",
		.created_ms = T0,
		.started_ms = T0 + 1000,
		.finished_ms = T0 + 2877
	};
	cJSON *o = job_json(&j);
	const cJSON *cb = cJSON_GetObjectItemCaseSensitive(o, "callback");

	CHECK_STREQ(str(o, "id"), "job-7");
	CHECK_STREQ(str(o, "status"), "ok");
	CHECK_STREQ(str(o, "language"), "python");
	CHECK_STREQ(str(o, "version"), "3.11");
	CHECK_STREQ(str(o, "stdout"), "hi\n");
	CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "exit_code")));
	CHECK_STREQ(str(o, "created_at"), "2026-11-22T10:00:00.123Z");
	CHECK_STREQ(str(o, "started_at"), "2026-11-22T10:00:01.123Z");
	CHECK_STREQ(str(o, "finished_at"), "2026-11-22T10:00:03.000Z");
	CHECK(is_null(o, "error"));
	CHECK_STREQ(str(cb, "url"), "http://127.0.0.1:9/cb");
	CHECK_STREQ(str(cb, "state"), "pending");
	CHECK(!cJSON_HasObjectItem(o, "request") && !cJSON_HasObjectItem(o, "owner"));
	CHECK(cJSON_GetArraySize(o) == 11); /* no key twice */
	cJSON_Delete(o);
}

TEST(json_queued)
{
	struct hist_job j = { .id = "job-8",
			      .language = "c",
			      .status = "queued",
			      .result = "not json",
			      .created_ms = T0 };
	cJSON *o = job_json(&j);

	CHECK_STREQ(str(o, "id"), "job-8");
	CHECK_STREQ(str(o, "status"), "queued");
	CHECK(is_null(o, "version"));
	CHECK_STREQ(str(o, "created_at"), "2026-11-22T10:00:00.123Z");
	CHECK(is_null(o, "started_at") && is_null(o, "finished_at") && is_null(o, "error"));
	CHECK(!cJSON_HasObjectItem(o, "callback"));
	CHECK(cJSON_GetArraySize(o) == 8);
	cJSON_Delete(o);

	j.status = "cancelled";
	j.error = "cancelled by the owner";
	j.result = "[1, 2]"; /* not an object: ignored like a missing result */
	o = job_json(&j);
	CHECK_STREQ(str(o, "error"), "cancelled by the owner");
	CHECK(cJSON_GetArraySize(o) == 8);
	cJSON_Delete(o);
}

TEST(reader_sees_writers)
{
	struct hist *w = open_db("shared.db", true), *r = w ? open_db("shared.db", false) : NULL,
		    *fresh = open_db("fresh.db", false);
	struct hist_job j = { 0 }, *v = NULL;
	size_t n = 0;
	int64_t next = 0;
	int status = -1;
	struct sbx_error err = { 0 };
	pid_t pid;

	if (fresh) /* a reader may come first: it makes the schema itself */
		CHECK(hist_list(fresh, &(struct hist_filter){ .limit = 5 }, &v, &n, &next, &err) ==
			      0 &&
		      n == 0);
	hist_close(fresh);
	if (!r) {
		hist_close(w);
		return;
	}
	insert(w, "from-writer", "c", NULL, NULL);
	CHECK_STREQ(status_of(r, "from-writer", &j), "queued");

	/* another process writes while both connections here stay open */
	pid = fork();
	if (pid == 0) {
		struct hist *child = NULL;
		struct hist_job cj = { .id = "from-child", .language = "c" };
		char path[128];

		snprintf(path, sizeof(path), "%s/shared.db", dir);
		_exit(hist_open(path, true, &child, NULL) == 0 &&
				      hist_insert(child, &cj, NULL) == 0 &&
				      hist_finish(child, "from-writer", "ok", "{}", NULL, T0,
						  NULL) == 0
			      ? 0
			      : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	CHECK_STREQ(status_of(r, "from-child", &j), "queued");
	CHECK_STREQ(status_of(r, "from-writer", &j), "ok");
	CHECK_STREQ(status_of(w, "from-writer", &j), "ok");
	CHECK(hist_list(r, &(struct hist_filter){ .limit = 5 }, &v, &n, &next, &err) == 0 &&
	      n == 2);
	hist_jobs_free(v, n);
	hist_job_free(&j);
	hist_close(r);
	hist_close(w);
}

/* Child: hold a write transaction with an uncommitted row until the parent closes the pipe. */
static void hold_write_lock(const char *path, int ready_fd, int wait_fd)
{
	sqlite3 *db = NULL;
	char c;
	int ok = sqlite3_open(path, &db) == SQLITE_OK &&
		 sqlite3_exec(db, "BEGIN EXCLUSIVE; INSERT INTO jobs (id) VALUES ('uncommitted')",
			      NULL, NULL, NULL) == SQLITE_OK;

	if (ok && write(ready_fd, "x", 1) == 1)
		(void)!read(wait_fd, &c, 1);
	_exit(ok ? 0 : 1);
}

TEST(reader_not_blocked_by_writer)
{
	struct hist *w = open_db("busy.db", true), *r = w ? open_db("busy.db", false) : NULL;
	struct hist_job j = { 0 }, *v = NULL;
	size_t n = 0;
	int64_t next = 0, t;
	int ready[2], hold[2], status = -1;
	char path[128], c = 0;
	struct sbx_error err = { 0 };
	pid_t pid;

	if (!r || pipe(ready) < 0 || pipe(hold) < 0) {
		hist_close(w);
		CHECK(r != NULL);
		return;
	}
	insert(w, "committed", "c", NULL, NULL);
	snprintf(path, sizeof(path), "%s/busy.db", dir);
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		hold_write_lock(path, ready[1], hold[0]);
	}
	close(ready[1]);
	close(hold[0]);
	CHECK(read(ready[0], &c, 1) == 1);
	/* EXCLUSIVE would shut readers out of a rollback journal for the 5 s busy timeout; with
	 * WAL the reader answers at once, without the uncommitted row */
	t = hist_now_ms();
	CHECK(hist_list(r, &(struct hist_filter){ .limit = 5 }, &v, &n, &next, &err) == 0);
	CHECK(n == 1 && strcmp(v[0].id, "committed") == 0);
	CHECK(hist_get(r, "uncommitted", &j, &err) == -ENOENT);
	CHECK(hist_now_ms() - t < 1000);
	hist_jobs_free(v, n);
	close(hold[1]);
	close(ready[0]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(hist_get(r, "uncommitted", &j, &err) == -ENOENT); /* the child rolled back */
	hist_close(r);
	hist_close(w);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

TEST(teardown)
{
	CHECK(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

int main(void)
{
	RUN(setup);
	RUN(file_is_private);
	RUN(insert_and_get);
	RUN(list_filters_and_pages);
	RUN(values_are_not_sql);
	RUN(finish_and_callbacks);
	RUN(recover_after_crash);
	RUN(prune_delete_count);
	RUN(json_finished);
	RUN(json_queued);
	RUN(reader_sees_writers);
	RUN(reader_not_blocked_by_writer);
	RUN(teardown);
	UNIT_END();
}
