/* SPDX-License-Identifier: MIT */
/*
 * history.c - the job history in one SQLite file (table "jobs"), as described in history.h.
 *
 * Owns: the schema, the connections' settings (WAL for the writer so readers in other threads
 * and processes never wait for it), and the mapping between rows and struct hist_job.
 * Must not: build SQL out of values (every value is a bound parameter; only fixed fragments
 * are joined), log, exit, or decide what a status means beyond "queued"/"running"/finished.
 *
 * A handle is one connection guarded by its own mutex, so a handle shared by mistake between
 * threads cannot interleave another thread's statements into hist_recover's transaction.
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "history.h"
#include "util.h"

#define BUSY_TIMEOUT_MS 5000
#define LIST_MAX	1000

struct hist {
	sqlite3 *db;
	pthread_mutex_t lock;
};

/* IF NOT EXISTS everywhere: readers and writers of any age may race to create it. */
static const char schema_sql[] = "CREATE TABLE IF NOT EXISTS jobs ("
				 " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
				 " id TEXT UNIQUE NOT NULL,"
				 " owner TEXT, language TEXT, version TEXT,"
				 " status TEXT NOT NULL DEFAULT 'queued',"
				 " sync INTEGER NOT NULL DEFAULT 0,"
				 " request TEXT, result TEXT, error TEXT,"
				 " callback_url TEXT, callback_state TEXT,"
				 " callback_attempts INTEGER NOT NULL DEFAULT 0,"
				 " created_ms INTEGER NOT NULL DEFAULT 0,"
				 " started_ms INTEGER NOT NULL DEFAULT 0,"
				 " finished_ms INTEGER NOT NULL DEFAULT 0);"
				 "CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);"
				 "CREATE INDEX IF NOT EXISTS jobs_language ON jobs(language, seq);"
				 "CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, seq);"
				 /* the callback thread polls this; keep it off a full-table scan */
				 "CREATE INDEX IF NOT EXISTS jobs_callback ON jobs(finished_ms)"
				 " WHERE callback_state = 'pending';";

/* The row as every SELECT returns it; INSERT binds the same columns without seq, so a column's
 * number here is also its parameter number there. */
#define JOB_COLS                                                                                   \
	"id, owner, language, version, status, sync, request, result, error, callback_url, "       \
	"callback_state, created_ms, started_ms, finished_ms"
#define SELECT_JOBS "SELECT seq, " JOB_COLS " FROM jobs"

enum {
	COL_SEQ,
	COL_ID,
	COL_OWNER,
	COL_LANGUAGE,
	COL_VERSION,
	COL_STATUS,
	COL_SYNC,
	COL_REQUEST,
	COL_RESULT,
	COL_ERROR,
	COL_CALLBACK_URL,
	COL_CALLBACK_STATE,
	COL_CREATED,
	COL_STARTED,
	COL_FINISHED,
};

static const struct {
	int col;
	size_t off;
} text_cols[] = {
	{ COL_OWNER, offsetof(struct hist_job, owner) },
	{ COL_LANGUAGE, offsetof(struct hist_job, language) },
	{ COL_VERSION, offsetof(struct hist_job, version) },
	{ COL_STATUS, offsetof(struct hist_job, status) },
	{ COL_REQUEST, offsetof(struct hist_job, request) },
	{ COL_RESULT, offsetof(struct hist_job, result) },
	{ COL_ERROR, offsetof(struct hist_job, error) },
	{ COL_CALLBACK_URL, offsetof(struct hist_job, callback_url) },
	{ COL_CALLBACK_STATE, offsetof(struct hist_job, callback_state) },
};

static const struct {
	int col;
	size_t off;
} time_cols[] = {
	{ COL_CREATED, offsetof(struct hist_job, created_ms) },
	{ COL_STARTED, offsetof(struct hist_job, started_ms) },
	{ COL_FINISHED, offsetof(struct hist_job, finished_ms) },
};

static char **text_field(const struct hist_job *j, size_t off)
{
	return (char **)((char *)j + off);
}

static int64_t *time_field(const struct hist_job *j, size_t off)
{
	return (int64_t *)((char *)j + off);
}

/* ---- errors, statements, parameters --------------------------------------------------------- */

/* First match wins: extended codes before their primary code. */
static const struct {
	int sqlite;
	int errnum;
} sqlite_errnos[] = {
	{ SQLITE_BUSY, EBUSY },
	{ SQLITE_LOCKED, EBUSY },
	{ SQLITE_NOMEM, ENOMEM },
	{ SQLITE_FULL, ENOSPC },
	{ SQLITE_READONLY, EROFS },
	{ SQLITE_CONSTRAINT_UNIQUE, EEXIST }, /* a second job with one id */
	{ SQLITE_CONSTRAINT, EINVAL },	      /* a NULL where the schema wants a value */
};

static int db_err(struct hist *h, int rc, struct sbx_error *err)
{
	int ext = sqlite3_extended_errcode(h->db), errnum = EIO;

	for (size_t i = 0; i < ELEMENTSOF(sqlite_errnos); i++) {
		if (sqlite_errnos[i].sqlite == ext || sqlite_errnos[i].sqlite == (rc & 0xff)) {
			errnum = sqlite_errnos[i].errnum;
			break;
		}
	}
	return sbx_err_msg(err, errnum, "sqlite: %s", sqlite3_errmsg(h->db));
}

static void finalizep(sqlite3_stmt **st)
{
	sqlite3_finalize(*st);
}

static void unlockp(pthread_mutex_t **m)
{
	if (*m)
		pthread_mutex_unlock(*m);
}

/* Declare before any statement so the statement is finalized before the unlock. */
#define LOCKED(h)                                                                                  \
	_cleanup_(unlockp) _unused_ pthread_mutex_t *_lock =                                       \
		(pthread_mutex_lock(&(h)->lock), &(h)->lock)

struct arg {
	bool is_text;
	const char *s; /* NULL binds SQL NULL */
	int64_t i;
};

static struct arg arg_text(const char *s)
{
	return (struct arg){ .is_text = true, .s = s };
}

static struct arg arg_int(int64_t i)
{
	return (struct arg){ .i = i };
}

static int prepare(struct hist *h, const char *sql, const struct arg *a, size_t n,
		   sqlite3_stmt **ret, struct sbx_error *err)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(h->db, sql, -1, &st, NULL);

	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		int idx = (int)i + 1;

		/* SQLITE_STATIC: every value outlives the statement, which dies in its caller. */
		if (!a[i].is_text)
			rc = sqlite3_bind_int64(st, idx, a[i].i);
		else if (a[i].s)
			rc = sqlite3_bind_text(st, idx, a[i].s, -1, SQLITE_STATIC);
		else
			rc = sqlite3_bind_null(st, idx);
	}
	if (rc != SQLITE_OK)
		return db_err(h, rc, err);
	*ret = TAKE_PTR(st);
	return 0;
}

/* A statement that returns no rows. Returns how many rows it changed. */
static int run(struct hist *h, const char *sql, const struct arg *a, size_t n,
	       struct sbx_error *err)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	int r = prepare(h, sql, a, n, &st, err);
	int rc;

	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_err(h, rc, err);
	return sqlite3_changes(h->db);
}

/* IMMEDIATE: take the write lock up front; upgrading a read transaction later can fail with
 * SQLITE_BUSY without the busy timeout ever being tried. */
static int tx_begin(struct hist *h, struct sbx_error *err)
{
	int r = run(h, "BEGIN IMMEDIATE", NULL, 0, err);

	return r < 0 ? r : 0;
}

/* Commit when r >= 0, else roll back; returns r or the commit's error. */
static int tx_end(struct hist *h, int r, struct sbx_error *err)
{
	if (r >= 0) {
		int c = run(h, "COMMIT", NULL, 0, err);

		if (c >= 0)
			return r;
		r = c;
	}
	run(h, "ROLLBACK", NULL, 0, NULL);
	return r;
}

static int no_such_job(struct sbx_error *err, const char *id)
{
	return sbx_err_msg(err, ENOENT, "job %s: no such job", id);
}

/* ---- rows ------------------------------------------------------------------------------------ */

static int dup_col(sqlite3_stmt *st, int col, char **ret)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	*ret = NULL;
	if (!s)
		return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : -ENOMEM;
	*ret = strdup((const char *)s);
	return *ret ? 0 : -ENOMEM;
}

static int row_to_job(sqlite3_stmt *st, struct hist_job *j)
{
	const unsigned char *id = sqlite3_column_text(st, COL_ID);

	*j = (struct hist_job){ .seq = sqlite3_column_int64(st, COL_SEQ),
				.sync = sqlite3_column_int(st, COL_SYNC) != 0 };
	if (!id)
		return -ENOMEM; /* NOT NULL in the schema: only a failed conversion gets here */
	snprintf(j->id, sizeof(j->id), "%s", (const char *)id);
	for (size_t i = 0; i < ELEMENTSOF(time_cols); i++)
		*time_field(j, time_cols[i].off) = sqlite3_column_int64(st, time_cols[i].col);
	for (size_t i = 0; i < ELEMENTSOF(text_cols); i++) {
		int r = dup_col(st, text_cols[i].col, text_field(j, text_cols[i].off));

		if (r < 0) {
			hist_job_free(j);
			return r;
		}
	}
	return 0;
}

struct job_vec {
	struct hist_job *v;
	size_t n, cap;
};

static void job_vec_free(struct job_vec *jv)
{
	hist_jobs_free(jv->v, jv->n);
	*jv = (struct job_vec){ 0 };
}

static int job_vec_push(struct job_vec *jv, sqlite3_stmt *st)
{
	int r;

	if (jv->n == jv->cap) {
		size_t cap = jv->cap ? jv->cap * 2 : 16;
		struct hist_job *v = reallocarray(jv->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		jv->v = v;
		jv->cap = cap;
	}
	r = row_to_job(st, &jv->v[jv->n]);
	if (r < 0)
		return r;
	jv->n++;
	return 0;
}

/* Up to max rows of a SELECT_JOBS query; *ret_more (may be NULL): another row follows. */
static int query_jobs(struct hist *h, const char *sql, const struct arg *a, size_t n, size_t max,
		      struct job_vec *out, bool *ret_more, struct sbx_error *err)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	int r = prepare(h, sql, a, n, &st, err);

	if (r < 0)
		return r;
	for (;;) {
		int rc = sqlite3_step(st);

		if (rc == SQLITE_DONE || (rc == SQLITE_ROW && out->n == max)) {
			if (ret_more)
				*ret_more = rc == SQLITE_ROW;
			return 0;
		}
		if (rc != SQLITE_ROW)
			return db_err(h, rc, err);
		r = job_vec_push(out, st);
		if (r < 0)
			return sbx_err(err, -r, "read a job");
	}
}

/* ---- open / close ---------------------------------------------------------------------------- */

/*
 * Create the file ourselves: SQLite would make it 0644, and the rows hold every user's code and
 * output. SQLite gives the -wal and -shm files the main file's mode, so those follow.
 * O_NOFOLLOW: a symlink planted at the path must not point our writes elsewhere.
 */
static int make_private_file(const char *path, struct sbx_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0)
		return sbx_err(err, errno, "open %s", path);
	if (fstat(fd, &st) < 0)
		return sbx_err(err, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return sbx_err_msg(err, EINVAL, "%s: not a regular file", path);
	if ((st.st_mode & 077) && fchmod(fd, 0600) < 0)
		return sbx_err(err, errno, "chmod 0600 %s", path);
	return 0;
}

static int has_schema(struct hist *h, bool *ret, struct sbx_error *err)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	int r = prepare(h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'",
			NULL, 0, &st, err);
	int rc;

	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(h, rc, err);
	*ret = rc == SQLITE_ROW;
	return 0;
}

static int create_schema(struct hist *h, struct sbx_error *err)
{
	int r = tx_begin(h, err);

	/* sqlite3_exec for the one multi-statement text; it is constant and binds nothing */
	if (r >= 0 && sqlite3_exec(h->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		r = db_err(h, sqlite3_errcode(h->db), err);
	return tx_end(h, r, err);
}

/* journal_mode answers with the mode it got: anything but "wal" would make readers wait. */
static int set_wal(struct hist *h, struct sbx_error *err)
{
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	int r = prepare(h, "PRAGMA journal_mode=WAL", NULL, 0, &st, err);
	const unsigned char *mode;
	int rc;

	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return db_err(h, rc, err);
	mode = sqlite3_column_text(st, 0);
	if (!mode || strcmp((const char *)mode, "wal") != 0)
		return sbx_err_msg(err, EIO, "journal_mode is %s, not wal",
				   mode ? (const char *)mode : "?");
	r = run(h, "PRAGMA synchronous=NORMAL", NULL, 0, err);
	return r < 0 ? r : 0;
}

static int setup(struct hist *h, bool writer, struct sbx_error *err)
{
	bool present = false;
	int r;

	if (sqlite3_busy_timeout(h->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
		return db_err(h, sqlite3_errcode(h->db), err);
	r = writer ? set_wal(h, err) : has_schema(h, &present, err);
	/* a reader writes only to a new file, so opening one takes no write lock */
	if (r < 0 || present)
		return r;
	return create_schema(h, err);
}

int hist_open(const char *path, bool writer, struct hist **ret, struct sbx_error *err)
{
	_cleanup_free_ struct hist *h = NULL;
	int r = make_private_file(path, err);
	int rc;

	if (r < 0)
		return r;
	h = calloc(1, sizeof(*h));
	if (!h)
		return sbx_err(err, ENOMEM, "history %s", path);
	/* the mutex guards the connection, so SQLite's own per-connection mutex is not needed */
	rc = sqlite3_open_v2(path, &h->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		r = h->db ? db_err(h, rc, err) : sbx_err(err, ENOMEM, "sqlite");
		sqlite3_close(h->db);
		return sbx_err_prefix(err, r, "history %s", path);
	}
	pthread_mutex_init(&h->lock, NULL);
	r = setup(h, writer, err);
	if (r < 0) {
		hist_close(TAKE_PTR(h));
		return sbx_err_prefix(err, r, "history %s", path);
	}
	*ret = TAKE_PTR(h);
	return 0;
}

void hist_close(struct hist *h)
{
	if (!h)
		return;
	sqlite3_close(h->db);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* ---- one job --------------------------------------------------------------------------------- */

int hist_insert(struct hist *h, const struct hist_job *j, struct sbx_error *err)
{
	LOCKED(h);
	struct arg a[COL_FINISHED] = { [COL_ID - 1] = arg_text(j->id),
				       [COL_SYNC - 1] = arg_int(j->sync) };
	int r;

	/* hist_job.id is a fixed array: a longer id could not be read back */
	if (!j->id[0] || strnlen(j->id, sizeof(j->id)) == sizeof(j->id))
		return sbx_err_msg(err, EINVAL, "job id: 1 to %zu characters", sizeof(j->id) - 1);
	for (size_t i = 0; i < ELEMENTSOF(text_cols); i++)
		a[text_cols[i].col - 1] = arg_text(*text_field(j, text_cols[i].off));
	for (size_t i = 0; i < ELEMENTSOF(time_cols); i++)
		a[time_cols[i].col - 1] = arg_int(*time_field(j, time_cols[i].off));
	if (!j->status)
		a[COL_STATUS - 1] = arg_text("queued");
	if (!j->created_ms)
		a[COL_CREATED - 1] = arg_int(hist_now_ms());
	r = run(h,
		"INSERT INTO jobs (" JOB_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		a, ELEMENTSOF(a), err);
	return r < 0 ? sbx_err_prefix(err, r, "job %s", j->id) : 0;
}

/* An UPDATE or DELETE of the job with this id (the last parameter). */
static int change_job(struct hist *h, const char *sql, const struct arg *a, size_t n,
		      const char *id, struct sbx_error *err)
{
	int r = run(h, sql, a, n, err);

	if (r < 0)
		return sbx_err_prefix(err, r, "job %s", id);
	return r == 0 ? no_such_job(err, id) : 0;
}

int hist_mark_running(struct hist *h, const char *id, int64_t started_ms, struct sbx_error *err)
{
	LOCKED(h);
	const struct arg a[] = { arg_int(started_ms), arg_text(id) };

	return change_job(h, "UPDATE jobs SET status = 'running', started_ms = ? WHERE id = ?", a,
			  ELEMENTSOF(a), id, err);
}

int hist_finish(struct hist *h, const char *id, const char *status, const char *result,
		const char *error, int64_t finished_ms, struct sbx_error *err)
{
	LOCKED(h);
	const struct arg a[] = { arg_text(status), arg_text(result), arg_text(error),
				 arg_int(finished_ms), arg_text(id) };

	return change_job(h,
			  "UPDATE jobs SET status = ?, result = ?, error = ?, finished_ms = ?,"
			  " callback_state = CASE WHEN callback_url IS NULL THEN callback_state"
			  " ELSE 'pending' END WHERE id = ?",
			  a, ELEMENTSOF(a), id, err);
}

int hist_get(struct hist *h, const char *id, struct hist_job *ret, struct sbx_error *err)
{
	LOCKED(h);
	_cleanup_(job_vec_free) struct job_vec jv = { 0 };
	const struct arg a[] = { arg_text(id) };
	int r = query_jobs(h, SELECT_JOBS " WHERE id = ?", a, ELEMENTSOF(a), 1, &jv, NULL, err);

	if (r < 0)
		return sbx_err_prefix(err, r, "job %s", id);
	if (jv.n == 0)
		return no_such_job(err, id);
	*ret = jv.v[0];
	jv.n = 0; /* the strings now belong to *ret */
	return 0;
}

int hist_delete(struct hist *h, const char *id, struct sbx_error *err)
{
	LOCKED(h);
	const struct arg a[] = { arg_text(id) };

	return change_job(h, "DELETE FROM jobs WHERE id = ?", a, ELEMENTSOF(a), id, err);
}

void hist_job_free(struct hist_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < ELEMENTSOF(text_cols); i++) {
		char **s = text_field(j, text_cols[i].off);

		free(*s);
		*s = NULL;
	}
}

void hist_jobs_free(struct hist_job *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		hist_job_free(&v[i]);
	free(v);
}

/* ---- lists ----------------------------------------------------------------------------------- */

/* Only these fixed fragments are joined; the filter values stay parameters. Each filter has
 * an index led by its column with seq after it, so a filtered page is an index range. */
/* A page leaves out what can be large: the request (its files) and the result's stdout and
 * stderr (up to the output cap each), so a page of 1000 stays small whatever the jobs did. */
#define LIST_COLS                                                                                  \
	"id, owner, language, version, status, sync, NULL, "                                       \
	"CASE WHEN json_valid(result) THEN json_remove(result, '$.stdout', '$.stderr') END, "      \
	"error, callback_url, callback_state, created_ms, started_ms, finished_ms"
#define LIST_HEAD	 "SELECT seq, " LIST_COLS " FROM jobs WHERE seq < ?"
#define LIST_OWNER	 " AND owner = ?"
#define LIST_LANGUAGE	 " AND language = ?"
#define LIST_STATUS	 " AND status = ?"
#define LIST_TAIL	 " ORDER BY seq DESC LIMIT ?"
#define LIST_SQL_LONGEST LIST_HEAD LIST_OWNER LIST_LANGUAGE LIST_STATUS LIST_TAIL

static const struct {
	size_t off;
	const char *sql;
} list_filters[] = {
	{ offsetof(struct hist_filter, owner), LIST_OWNER },
	{ offsetof(struct hist_filter, language), LIST_LANGUAGE },
	{ offsetof(struct hist_filter, status), LIST_STATUS },
};

int hist_list(struct hist *h, const struct hist_filter *f, struct hist_job **ret, size_t *ret_n,
	      int64_t *ret_next_seq, struct sbx_error *err)
{
	LOCKED(h);
	_cleanup_(job_vec_free) struct job_vec jv = { 0 };
	unsigned limit = f->limit < 1 ? 1 : f->limit > LIST_MAX ? LIST_MAX : f->limit;
	char sql[sizeof(LIST_SQL_LONGEST)], *p = stpcpy(sql, LIST_HEAD);
	struct arg a[2 + ELEMENTSOF(list_filters)];
	size_t n = 0;
	bool more = false;
	int r;

	a[n++] = arg_int(f->before_seq > 0 ? f->before_seq : INT64_MAX);
	for (size_t i = 0; i < ELEMENTSOF(list_filters); i++) {
		const char *v = *(const char *const *)((const char *)f + list_filters[i].off);

		if (v) {
			p = stpcpy(p, list_filters[i].sql);
			a[n++] = arg_text(v);
		}
	}
	stpcpy(p, LIST_TAIL);
	/* one row more than asked tells whether a next page exists */
	a[n++] = arg_int((int64_t)limit + 1);
	r = query_jobs(h, sql, a, n, limit, &jv, &more, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "list jobs");
	*ret_next_seq = more ? jv.v[jv.n - 1].seq : 0;
	*ret_n = jv.n;
	*ret = TAKE_PTR(jv.v);
	jv.n = 0;
	return 0;
}

int hist_recover(struct hist *h, const char *reason, struct hist_job **ret_queued, size_t *ret_n,
		 struct sbx_error *err)
{
	LOCKED(h);
	_cleanup_(job_vec_free) struct job_vec jv = { 0 };
	const struct arg a[] = { arg_text(reason), arg_int(hist_now_ms()) };
	int r = tx_begin(h, err);

	/* a job that ended this way has ended: its callback is owed like any other's */
	if (r >= 0)
		r = run(h,
			"UPDATE jobs SET status = 'failed', error = ?, finished_ms = ?,"
			" callback_state = CASE WHEN callback_url IS NULL THEN callback_state"
			" ELSE 'pending' END WHERE status = 'running'",
			a, ELEMENTSOF(a), err);
	if (r >= 0)
		r = query_jobs(h, SELECT_JOBS " WHERE status = 'queued' ORDER BY seq", NULL, 0,
			       SIZE_MAX, &jv, NULL, err);
	r = tx_end(h, r, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "recover jobs");
	*ret_n = jv.n;
	*ret_queued = TAKE_PTR(jv.v);
	jv.n = 0;
	return 0;
}

int hist_prune(struct hist *h, int64_t cutoff_ms, struct sbx_error *err)
{
	LOCKED(h);
	const struct arg a[] = { arg_int(cutoff_ms) };
	int r = run(h,
		    "DELETE FROM jobs WHERE finished_ms > 0 AND finished_ms < ?"
		    " AND status NOT IN ('queued', 'running')",
		    a, ELEMENTSOF(a), err);

	return r < 0 ? sbx_err_prefix(err, r, "prune jobs") : r;
}

struct counts {
	char **status;
	uint64_t *count;
	size_t n;
};

static void counts_free(struct counts *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->status[i]);
	free(c->status);
	free(c->count);
}

/* Few distinct statuses: growing by one is fine. */
static int counts_push(struct counts *c, sqlite3_stmt *st)
{
	char **s = reallocarray(c->status, c->n + 1, sizeof(*s));
	uint64_t *k;

	if (!s)
		return -ENOMEM;
	c->status = s;
	k = reallocarray(c->count, c->n + 1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	c->count = k;
	if (dup_col(st, 0, &c->status[c->n]) < 0 || !c->status[c->n])
		return -ENOMEM;
	c->count[c->n++] = (uint64_t)sqlite3_column_int64(st, 1);
	return 0;
}

int hist_count_by_status(struct hist *h, char ***ret_status, uint64_t **ret_count, size_t *ret_n,
			 struct sbx_error *err)
{
	LOCKED(h);
	_cleanup_(counts_free) struct counts c = { 0 };
	_cleanup_(finalizep) sqlite3_stmt *st = NULL;
	int r = prepare(h, "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status",
			NULL, 0, &st, err);
	int rc = SQLITE_DONE;

	while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		if (counts_push(&c, st) < 0)
			r = sbx_err(err, ENOMEM, "read a row");
	if (r >= 0 && rc != SQLITE_DONE)
		r = db_err(h, rc, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "count jobs");
	*ret_status = TAKE_PTR(c.status);
	*ret_count = TAKE_PTR(c.count);
	*ret_n = c.n;
	c.n = 0;
	return 0;
}

/* ---- callbacks ------------------------------------------------------------------------------- */

int hist_callback_pending(struct hist *h, struct hist_job **ret, size_t *ret_n,
			  struct sbx_error *err)
{
	LOCKED(h);
	_cleanup_(job_vec_free) struct job_vec jv = { 0 };
	int r = query_jobs(h,
			   SELECT_JOBS " WHERE callback_state = 'pending' AND finished_ms > 0"
				       " ORDER BY finished_ms, seq",
			   NULL, 0, SIZE_MAX, &jv, NULL, err);

	if (r < 0)
		return sbx_err_prefix(err, r, "pending callbacks");
	*ret_n = jv.n;
	*ret = TAKE_PTR(jv.v);
	jv.n = 0;
	return 0;
}

static const char *const callback_end_states[] = { "delivered", "failed" };

int hist_callback_done(struct hist *h, const char *id, const char *state, unsigned attempts,
		       struct sbx_error *err)
{
	LOCKED(h);
	const struct arg a[] = { arg_text(state), arg_int(attempts), arg_text(id) };
	bool known = false;

	for (size_t i = 0; state && i < ELEMENTSOF(callback_end_states); i++)
		known = known || strcmp(state, callback_end_states[i]) == 0;
	if (!known)
		return sbx_err_msg(err, EINVAL, "callback state %s: not delivered or failed",
				   state ? state : "(null)");
	return change_job(h,
			  "UPDATE jobs SET callback_state = ?, callback_attempts = ? WHERE id = ?",
			  a, ELEMENTSOF(a), id, err);
}

/* ---- the API's view -------------------------------------------------------------------------- */

/* Keys this function sets itself, and those that must never show (owner names an API key, the
 * request may be large and is not part of the answer): a stored result's own copy is dropped. */
static const char *const owned_keys[] = { "id",		"status",     "language",    "version",
					  "created_at", "started_at", "finished_at", "error",
					  "callback",	"owner",      "request" };

static bool is_owned_key(const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(owned_keys); i++)
		if (strcmp(key, owned_keys[i]) == 0)
			return true;
	return false;
}

/* Takes v (NULL: an allocation failed). */
static bool add(cJSON *o, const char *key, cJSON *v)
{
	if (v && cJSON_AddItemToObject(o, key, v))
		return true;
	cJSON_Delete(v);
	return false;
}

static cJSON *string_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* RFC 3339 UTC with milliseconds, or null for "not yet". */
static cJSON *time_or_null(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	char buf[64];
	size_t len;
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm))
		return cJSON_CreateNull();
	len = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + len, sizeof(buf) - len, ".%03dZ", (int)(ms % 1000));
	return cJSON_CreateString(buf);
}

/* Move the stored result's keys (stdout, exit_code, ...) into o, except the ones we own. */
static bool take_result(cJSON *o, const char *result)
{
	_cleanup_(cJSON_Deletep) cJSON *res = result ? cJSON_Parse(result) : NULL;
	cJSON *it;

	if (!cJSON_IsObject(res))
		return true; /* a job without an answer yet, or one we cannot read: show the rest */
	while ((it = res->child)) {
		cJSON_DetachItemViaPointer(res, it);
		if (!it->string || is_owned_key(it->string))
			cJSON_Delete(it);
		else if (!add(o, it->string, it))
			return false;
	}
	return true;
}

static bool add_callback(cJSON *o, const struct hist_job *j)
{
	cJSON *cb;

	if (!j->callback_url)
		return true;
	cb = cJSON_CreateObject();
	if (!add(o, "callback", cb))
		return false;
	return add(cb, "url", cJSON_CreateString(j->callback_url)) &&
	       add(cb, "state", string_or_null(j->callback_state));
}

char *hist_job_to_json(const struct hist_job *j)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();

	if (!o || !add(o, "id", cJSON_CreateString(j->id)) ||
	    !add(o, "status", string_or_null(j->status)) ||
	    !add(o, "language", string_or_null(j->language)) ||
	    !add(o, "version", string_or_null(j->version)) || !take_result(o, j->result) ||
	    !add(o, "created_at", time_or_null(j->created_ms)) ||
	    !add(o, "started_at", time_or_null(j->started_ms)) ||
	    !add(o, "finished_at", time_or_null(j->finished_ms)) ||
	    !add(o, "error", string_or_null(j->error)) || !add_callback(o, j))
		return NULL;
	return cJSON_PrintUnformatted(o);
}

int64_t hist_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
