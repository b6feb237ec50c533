/* SPDX-License-Identifier: MIT */
/*
 * supervisor.c - the one process that owns every job (see supervisor.h).
 *
 * Event loop: one epoll over the control socket and the running jobs' fds; each job's limits
 * are enforced by libsandbox when run_poll() is called, at the latest when it asked to be.
 * A job's life: SUBMIT -> history row "queued" (the 202 is sent only after that row exists) ->
 * queue -> a free slot -> "running" -> stages (runner.c) -> history row with the answer ->
 * reply (sync) / DONE event (callback) -> slot free.
 *
 * Owns: the queue, the slots, the history's writes, the job metrics. Must not: block on
 * anything but epoll, or parse HTTP.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/random.h>
#include <unistd.h>

#include "history.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "runner.h"
#include "supervisor.h"
#include "util.h"

#define CANCEL_WAITERS	8
#define PULLS_MAX	8
#define PULL_TIMEOUT_NS (15ULL * 60 * 1000000000ULL)
#define PRUNE_EVERY_MS	(3600 * 1000LL)
#define REAP_EVERY_MS	(2 * 1000LL)

struct sjob {
	char id[40];
	char owner[64];
	struct req req;
	const struct lang *lang;
	bool sync;
	int reply_fd;		     /* sync: the waiting /execute request */
	int waiters[CANCEL_WAITERS]; /* DELETE requests waiting for the job to end */
	size_t n_waiters;
	bool has_callback;
	const char *stop_reason; /* set when sandboxd itself stopped the job */
	unsigned long long accepted_ns, deadline_ns;
	struct run *run;
	unsigned slot;
	struct sjob *next;
};

/* A `sandboxctl-image pull` child fetching a language's image for its first jobs. */
struct pull {
	struct lang *lang; /* NULL: free */
	int pidfd;
	int out; /* memfd: its stdout and stderr */
	unsigned long long deadline_ns;
};

struct sup {
	const struct cfg *cfg;
	struct cfg canon;	/* cfg for canonical requests: the body cap was the HTTP side's */
	struct lang_set *langs; /* our copy: a pulled image changes where a language runs */
	struct sbx_context *ctx;
	struct hist *hist;
	struct metrics metrics;
	int epfd, ctl;
	struct sjob *qhead, *qtail;
	unsigned queued;
	struct sjob **slots;
	unsigned n_slots, running;
	bool draining, stop;
	unsigned long long drain_deadline_ns;
	int drain_reply;
	int64_t next_prune_ms, next_reap_ms;
	struct pull pulls[PULLS_MAX];
	char exe_dir[PATH_MAX]; /* where sandboxd is: sandboxctl-image is beside it */
};

static const char *ctl_tag = "ctl";

/* ---- replies ----------------------------------------------------------------------------- */

static void reply_error(int fd, int status, unsigned retry, const char *code, const char *msg)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	_cleanup_free_ char *s = NULL;

	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddNullToObject(e, "field");
	s = cJSON_PrintUnformatted(o);
	proto_reply(fd, status, retry, s, s ? strlen(s) : 0);
}

static void reply_json(int fd, int status, const char *json)
{
	proto_reply(fd, status, 0, json, strlen(json));
}

/* The job as history shows it: the answer to DELETE and to a cancelled /execute. */
static void reply_from_history(struct sup *s, int fd, const char *id)
{
	struct hist_job hj = { 0 };
	_cleanup_free_ char *json = NULL;

	if (hist_get(s->hist, id, &hj, NULL) < 0 || !(json = hist_job_to_json(&hj))) {
		reply_error(fd, 500, 0, "history_unavailable",
			    "the job's record could not be read");
	} else {
		reply_json(fd, 200, json);
	}
	hist_job_free(&hj);
}

/* ---- jobs -------------------------------------------------------------------------------- */

static void sjob_free(struct sjob *j)
{
	if (!j)
		return;
	closep(&j->reply_fd);
	for (size_t i = 0; i < j->n_waiters; i++)
		closep(&j->waiters[i]);
	req_free(&j->req);
	free(j);
}

static void sjob_freep(struct sjob **j)
{
	sjob_free(*j);
}

static void new_id(char *buf)
{
	unsigned char raw[16];

	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		abort(); /* no entropy: never hand out guessable job ids */
	for (size_t i = 0; i < sizeof(raw); i++)
		sprintf(buf + 2 * i, "%02x", raw[i]);
}

static void enqueue(struct sup *s, struct sjob *j)
{
	j->next = NULL;
	if (s->qtail)
		s->qtail->next = j;
	else
		s->qhead = j;
	s->qtail = j;
	s->queued++;
}

static struct sjob *dequeue(struct sup *s, struct sjob *prev, struct sjob *j)
{
	if (prev)
		prev->next = j->next;
	else
		s->qhead = j->next;
	if (s->qtail == j)
		s->qtail = prev;
	s->queued--;
	j->next = NULL;
	return j;
}

static void record_unrun(struct sup *s, struct sjob *j, const char *status, const char *why)
{
	char q[300];

	hist_finish(s->hist, j->id, status, NULL, why, hist_now_ms(), NULL);
	metrics_job_done(&s->metrics, j->lang ? j->lang->name : "unknown", status, -1, 0);
	log_info("job_end", "id=%s status=%s reason=%s", j->id, status, log_q(q, sizeof(q), why));
}

static void reply_waiters(struct sup *s, struct sjob *j)
{
	for (size_t i = 0; i < j->n_waiters; i++)
		reply_from_history(s, TAKE_FD(j->waiters[i]), j->id);
	j->n_waiters = 0;
}

/* A job that ends without a run (cancelled while queued, refused, shut down). */
static void end_unrun(struct sup *s, struct sjob *j, const char *status, const char *why)
{
	record_unrun(s, j, status, why);
	if (j->reply_fd >= 0) {
		if (!strcmp(status, "cancelled"))
			reply_from_history(s, TAKE_FD(j->reply_fd), j->id);
		else if (s->draining || s->stop)
			reply_error(TAKE_FD(j->reply_fd), 503, 1, "shutting_down", why);
		else /* a job that could not be started is our fault, and no reason to retry */
			reply_error(TAKE_FD(j->reply_fd), 500, 0, "internal_error", why);
	}
	reply_waiters(s, j);
}

static void notify_callback(struct sup *s, const struct sjob *j)
{
	struct proto_msg m = { .type = PROTO_DONE };

	snprintf(m.id, sizeof(m.id), "%s", j->id);
	proto_send(s->ctl, &m, -1, -1); /* lost only if the HTTP side is gone: it rescans */
}

static void complete(struct sup *s, struct sjob *j)
{
	struct run_outcome out = { 0 };
	struct sbx_error e = { 0 };
	const char *status;

	s->slots[j->slot] = NULL;
	s->running--;
	/*
	 * Closing the run's fd is not enough: a job child cloned meanwhile holds a copy until its
	 * close_range(), and while any copy lives the entry stays in our set with data.ptr = j,
	 * freed below (epoll(7), Q&A 6). It stays quiet only while libsandbox happens to unwatch
	 * every fd before a job ends; do not depend on that.
	 */
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, run_fd(j->run), NULL);
	if (run_finish(TAKE_PTR(j->run), &out, &e) < 0) {
		end_unrun(s, j, "failed", e.msg);
		sjob_free(j);
		return;
	}
	status = j->stop_reason ? "failed" : out.status;
	hist_finish(s->hist, j->id, status, out.json, j->stop_reason, hist_now_ms(), NULL);
	metrics_job_done(&s->metrics, j->lang->name, status, out.program_s,
			 out.total_s > out.program_s ? out.total_s - out.program_s : 0);
	log_info("job_end", "id=%s language=%s status=%s run_ms=%.1f total_ms=%.1f", j->id,
		 j->lang->name, status, out.program_s * 1e3, out.total_s * 1e3);
	if (j->reply_fd >= 0)
		reply_json(TAKE_FD(j->reply_fd), 200, out.json);
	for (size_t i = 0; i < j->n_waiters; i++)
		reply_from_history(s, TAKE_FD(j->waiters[i]), j->id);
	j->n_waiters = 0;
	if (j->has_callback)
		notify_callback(s, j);
	free(out.json);
	sjob_free(j);
}

static int free_slot(const struct sup *s)
{
	for (unsigned i = 0; i < s->n_slots; i++)
		if (!s->slots[i])
			return (int)i;
	return -1;
}

static void start_job(struct sup *s, struct sjob *j, unsigned slot)
{
	struct run_input in = { .id = j->id, .req = &j->req, .lang = j->lang, .slot = slot };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = j };
	struct sbx_error e = { 0 };
	char q[SBX_MSG_MAX + 8];

	metrics_job_started(&s->metrics, (double)(sbx_now_ns() - j->accepted_ns) / 1e9);
	hist_mark_running(s->hist, j->id, hist_now_ms(), NULL);
	if (run_start(s->ctx, &in, &j->run, &e) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, run_fd(j->run), &ev) < 0) {
		/* e.msg can hold a request's file name: quoted by log_q, it cannot forge fields */
		log_error("job_start", "id=%s error=%s", j->id, log_q(q, sizeof(q), e.msg));
		if (j->run) {
			struct run_outcome out;

			run_finish(TAKE_PTR(j->run), &out, NULL);
			free(out.json);
		}
		end_unrun(s, j, "failed", e.msg[0] ? e.msg : "the job could not be started");
		sjob_free(j);
		return;
	}
	j->slot = slot;
	j->deadline_ns = 0; /* poll once right away */
	s->slots[slot] = j;
	s->running++;
}

/* ---- images pulled on first use ------------------------------------------------------------ */

static struct pull *pull_of(struct sup *s, const struct lang *l)
{
	for (size_t i = 0; i < PULLS_MAX; i++)
		if (s->pulls[i].lang == l)
			return &s->pulls[i];
	return NULL;
}

/* The child: sandboxctl-image pull, output into the memfd, dead with us. */
static _Noreturn void pull_exec(const struct sup *s, const struct lang *l, int out)
{
	char helper[PATH_MAX + 32];
	const char *argv[10];
	size_t n = 0;
	sigset_t none;
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	snprintf(helper, sizeof(helper), "%s/sandboxctl-image", s->exe_dir);
	argv[n++] = helper;
	argv[n++] = "pull";
	argv[n++] = "--state-dir";
	argv[n++] = s->cfg->state_dir;
	if (s->cfg->config_path) {
		argv[n++] = "--config";
		argv[n++] = s->cfg->config_path;
	}
	argv[n++] = l->image;
	argv[n] = NULL;
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	execv(helper, (char *const *)argv);
	_exit(127);
}

static void start_pull(struct sup *s, struct lang *l)
{
	struct pull *p = pull_of(s, NULL);
	struct epoll_event ev = { .events = EPOLLIN };
	_cleanup_close_ int out = -1;
	pid_t pid;

	if (!p || pull_of(s, l))
		return; /* all pullers busy (retried at the next schedule), or already pulling */
	out = memfd_create("pull", MFD_CLOEXEC);
	if (out < 0)
		return;
	pid = fork();
	if (pid == 0)
		pull_exec(s, l, out);
	p->pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	ev.data.ptr = p;
	if (p->pidfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, p->pidfd, &ev) < 0) {
		closep(&p->pidfd);
		return;
	}
	p->lang = l;
	p->out = TAKE_FD(out);
	p->deadline_ns = sbx_now_ns() + PULL_TIMEOUT_NS;
	log_info("pull_start", "language=%s image=%s", l->name, l->image);
}

/* The last line the puller printed: its reason when it failed. */
static void pull_reason(int out, char *buf, size_t size)
{
	char tail[512];
	off_t end = lseek(out, 0, SEEK_END);
	ssize_t n = pread(out, tail, sizeof(tail) - 1, end > 511 ? end - 511 : 0);
	char *line;

	tail[n > 0 ? n : 0] = '\0';
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
		tail[--n] = '\0';
	line = strrchr(tail, '\n');
	snprintf(buf, size, "%.*s", (int)size - 1, line ? line + 1 : tail[0] ? tail : "no output");
}

/* Every queued job of l fails: its image cannot be had. A later job tries the pull again. */
static void fail_pulling(struct sup *s, const struct lang *l, const char *why)
{
	struct sjob *prev = NULL, *j = s->qhead;

	while (j) {
		struct sjob *next = j->next;

		if (j->lang != l) {
			prev = j;
		} else {
			dequeue(s, prev, j);
			record_unrun(s, j, "failed", why);
			if (j->reply_fd >= 0)
				reply_error(TAKE_FD(j->reply_fd), 503, 0, "image_unavailable", why);
			reply_waiters(s, j);
			sjob_free(j);
		}
		j = next;
	}
}

static void finish_pull(struct sup *s, struct pull *p)
{
	siginfo_t si = { 0 };
	struct sbx_error e = { 0 };
	char why[400], reason[300];
	bool ok;

	waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED);
	ok = si.si_code == CLD_EXITED && si.si_status == 0 &&
	     lang_use_image(p->lang, s->cfg->state_dir, &e) >= 0;
	if (ok) {
		log_info("pull_end", "language=%s image=%s rootfs=%s", p->lang->name,
			 p->lang->image, log_q(reason, sizeof(reason), p->lang->rootfs));
	} else {
		pull_reason(p->out, reason, sizeof(reason));
		snprintf(why, sizeof(why), "image %s could not be pulled: %s", p->lang->image,
			 e.msg[0] ? e.msg : reason);
		log_warn("pull_end", "language=%s msg=%s", p->lang->name,
			 log_q(reason, sizeof(reason), why));
		fail_pulling(s, p->lang, why);
	}
	closep(&p->pidfd);
	closep(&p->out);
	p->lang = NULL;
}

static void kill_pulls(struct sup *s, bool overdue_only)
{
	unsigned long long now = sbx_now_ns();

	for (size_t i = 0; i < PULLS_MAX; i++)
		if (s->pulls[i].lang && (!overdue_only || now >= s->pulls[i].deadline_ns))
			syscall(SYS_pidfd_send_signal, s->pulls[i].pidfd, SIGKILL, NULL, 0);
}

/* In order: a job whose language runs now takes a free slot; one whose image is still to be
 * pulled waits for it (and starts the pull) without holding up the jobs behind it. */
static void schedule(struct sup *s)
{
	struct sjob *prev = NULL, *j = s->qhead;

	while (j && !s->draining) {
		struct sjob *next = j->next;
		int slot;

		if (j->lang->where == LANG_ROOTFS_PULL) {
			start_pull(s, (struct lang *)j->lang); /* our copy of the set */
			prev = j;
		} else if ((slot = free_slot(s)) >= 0) {
			start_job(s, dequeue(s, prev, j), (unsigned)slot);
		} else {
			prev = j;
		}
		j = next;
	}
}

static void poll_job(struct sup *s, struct sjob *j)
{
	int timeout = 0;

	if (run_poll(j->run, &timeout)) {
		complete(s, j);
		return;
	}
	j->deadline_ns = sbx_now_ns() + (unsigned long long)timeout * 1000000ULL;
}

/* ---- messages from the HTTP side --------------------------------------------------------- */

static unsigned retry_after(const struct sup *s)
{
	return 1 + s->queued / (s->n_slots ? s->n_slots : 1);
}

/* The request was checked by the HTTP side; check it again: the supervisor trusts nobody. */
static int accept_request(struct sup *s, int body_fd, struct sjob *j, char **ret_json,
			  const char **ret_why)
{
	struct req_error re = { 0 };
	size_t len;
	int r;

	r = proto_memfd_read(body_fd, 8 * s->cfg->max_body_bytes + 65536, ret_json, &len);
	if (r < 0 || req_parse(*ret_json, len, &s->canon, &j->req, &re) < 0) {
		*ret_why = "the request could not be read";
		return -EINVAL;
	}
	j->lang = lang_find(s->langs, j->req.language);
	if (!j->lang || !lang_is_servable(j->lang)) {
		*ret_why = "the language is not available";
		return -EINVAL;
	}
	return 0;
}

static int record(struct sup *s, struct sjob *j, const char *request)
{
	struct hist_job hj = {
		.owner = j->owner[0] ? j->owner : NULL,
		.language = j->lang->name,
		.version = j->lang->version,
		.status = "queued",
		.sync = j->sync,
		.request = (char *)request,
		.callback_url = j->req.callback_url,
		.created_ms = hist_now_ms(),
	};
	struct sbx_error e = { 0 };
	char q[SBX_MSG_MAX + 8];
	int r;

	snprintf(hj.id, sizeof(hj.id), "%s", j->id);
	r = hist_insert(s->hist, &hj, &e);
	if (r < 0)
		log_error("history", "op=insert id=%s error=%s", j->id, log_q(q, sizeof(q), e.msg));
	return r;
}

static void on_submit(struct sup *s, const struct proto_msg *m, int reply_fd, int body_fd)
{
	_cleanup_(sjob_freep) struct sjob *j = calloc(1, sizeof(*j));
	_cleanup_free_ char *request = NULL, *ack = NULL;
	const char *why = NULL;

	if (!j)
		return reply_error(reply_fd, 503, 1, "overloaded", "out of memory");
	j->reply_fd = -1;
	if (accept_request(s, body_fd, j, &request, &why) < 0)
		return reply_error(reply_fd, 400, 0, "invalid_request", why);
	if (s->draining)
		return reply_error(reply_fd, 503, 5, "shutting_down", "sandboxd is shutting down");
	if (free_slot(s) < 0 && s->queued >= s->cfg->queue_max)
		return reply_error(reply_fd, 429, retry_after(s), "queue_full",
				   "the queue is full: try again later");
	new_id(j->id);
	snprintf(j->owner, sizeof(j->owner), "%s", m->owner);
	j->sync = m->flags & PROTO_SYNC;
	j->has_callback = j->req.callback_url != NULL;
	j->accepted_ns = sbx_now_ns();
	if (record(s, j, request) < 0)
		return reply_error(reply_fd, 503, 1, "history_unavailable",
				   "the job could not be recorded");
	if (j->sync) {
		j->reply_fd = reply_fd;
	} else if (asprintf(&ack, "{\"id\":\"%s\",\"status\":\"queued\"}", j->id) >= 0) {
		reply_json(reply_fd, 202, ack);
	}
	log_info("job_queued", "id=%s language=%s sync=%d", j->id, j->lang->name, j->sync);
	enqueue(s, TAKE_PTR(j));
	schedule(s);
}

static struct sjob *find_queued(struct sup *s, const char *id, struct sjob **ret_prev)
{
	struct sjob *prev = NULL;

	for (struct sjob *j = s->qhead; j; prev = j, j = j->next)
		if (!strcmp(j->id, id)) {
			*ret_prev = prev;
			return j;
		}
	return NULL;
}

static struct sjob *find_running(struct sup *s, const char *id)
{
	for (unsigned i = 0; i < s->n_slots; i++)
		if (s->slots[i] && !strcmp(s->slots[i]->id, id))
			return s->slots[i];
	return NULL;
}

/* A key sees only its own jobs: someone else's job is "not found", not "forbidden". */
static bool owner_matches(const char *owner, const char *want)
{
	return !*want || (owner && !strcmp(owner, want));
}

static void delete_finished(struct sup *s, const struct proto_msg *m, int reply_fd)
{
	struct hist_job hj = { 0 };
	char body[96];

	if (hist_get(s->hist, m->id, &hj, NULL) < 0 || !owner_matches(hj.owner, m->owner)) {
		hist_job_free(&hj);
		return reply_error(reply_fd, 404, 0, "not_found", "no such job");
	}
	hist_job_free(&hj);
	if (hist_delete(s->hist, m->id, NULL) < 0)
		return reply_error(reply_fd, 500, 0, "history_unavailable",
				   "the job could not be deleted");
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"deleted\":true}", m->id);
	reply_json(reply_fd, 200, body);
}

static void on_cancel(struct sup *s, const struct proto_msg *m, int reply_fd)
{
	struct sjob *prev = NULL, *j = find_queued(s, m->id, &prev);

	if (j && owner_matches(j->owner, m->owner)) {
		dequeue(s, prev, j);
		end_unrun(s, j, "cancelled", "cancelled by DELETE /api/v1/jobs/{id}");
		reply_from_history(s, reply_fd, j->id);
		sjob_free(j);
		return;
	}
	j = find_running(s, m->id);
	if (j && owner_matches(j->owner, m->owner)) {
		if (j->n_waiters == CANCEL_WAITERS)
			return reply_error(reply_fd, 409, 1, "busy", "the job is being cancelled");
		j->waiters[j->n_waiters++] = reply_fd;
		run_cancel(j->run);
		j->deadline_ns = 0;
		return;
	}
	delete_finished(s, m, reply_fd);
}

static void on_queue(struct sup *s, int reply_fd)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *json = NULL;

	/* totals come from history, counted by the HTTP side (a scan must not stall this loop) */
	cJSON_AddNumberToObject(o, "queued", s->queued);
	cJSON_AddNumberToObject(o, "running", s->running);
	cJSON_AddNumberToObject(o, "slots", s->n_slots);
	cJSON_AddNumberToObject(o, "queue_max", s->cfg->queue_max);
	cJSON_AddBoolToObject(o, "draining", s->draining);
	json = cJSON_PrintUnformatted(o);
	if (!json)
		return reply_error(reply_fd, 500, 0, "internal", "out of memory");
	reply_json(reply_fd, 200, json);
}

static void on_metrics(struct sup *s, int reply_fd)
{
	_cleanup_free_ char *text = metrics_render(&s->metrics, s->queued, s->running, s->n_slots);

	if (!text)
		return reply_error(reply_fd, 500, 0, "internal", "out of memory");
	proto_reply(reply_fd, 200, 0, text, strlen(text));
}

/* Queued /execute requests end now (their clients wait); queued jobs stay queued in history
 * and run at the next start. Running jobs get the grace period. */
static void start_drain(struct sup *s, int64_t grace_ms, int reply_fd)
{
	struct sjob *prev = NULL, *j = s->qhead;

	s->draining = true;
	s->drain_reply = reply_fd;
	s->drain_deadline_ns = sbx_now_ns() + (unsigned long long)grace_ms * 1000000ULL;
	while (j) {
		struct sjob *next = j->next;

		if (j->sync) {
			dequeue(s, prev, j);
			end_unrun(s, j, "failed", "sandboxd stopped before the job started");
			sjob_free(j);
		} else {
			prev = j;
		}
		j = next;
	}
	log_info("draining", "running=%u queued=%u grace_ms=%lld", s->running, s->queued,
		 (long long)grace_ms);
}

static void on_message(struct sup *s)
{
	struct proto_msg m;
	_cleanup_close_ int fd1 = -1, fd2 = -1;
	int r = proto_recv(s->ctl, &m, &fd1, &fd2);

	if (r <= 0) {
		if (r == 0 || (r != -EAGAIN && r != -EINTR)) {
			log_warn("control", "msg=\"the HTTP process is gone\"");
			s->stop = true;
		}
		return;
	}
	if (fd1 < 0 && m.type != PROTO_DRAIN)
		return; /* every request brings its reply channel */
	switch (m.type) {
	case PROTO_SUBMIT:
		return on_submit(s, &m, TAKE_FD(fd1), fd2);
	case PROTO_CANCEL:
		return on_cancel(s, &m, TAKE_FD(fd1));
	case PROTO_QUEUE:
		return on_queue(s, TAKE_FD(fd1));
	case PROTO_METRICS:
		return on_metrics(s, TAKE_FD(fd1));
	case PROTO_DRAIN:
		return start_drain(s, m.value, TAKE_FD(fd1));
	default:
		return reply_error(TAKE_FD(fd1), 400, 0, "bad_message", "unknown message");
	}
}

/* ---- the loop ---------------------------------------------------------------------------- */

static int next_timeout_ms(const struct sup *s, unsigned long long now)
{
	unsigned long long next = now + 1000ULL * 1000000ULL; /* prune checks and the like */

	for (unsigned i = 0; i < s->n_slots; i++)
		if (s->slots[i] && s->slots[i]->deadline_ns < next)
			next = s->slots[i]->deadline_ns;
	if (s->draining && s->drain_deadline_ns < next)
		next = s->drain_deadline_ns;
	for (size_t i = 0; i < PULLS_MAX; i++)
		if (s->pulls[i].lang && s->pulls[i].deadline_ns < next)
			next = s->pulls[i].deadline_ns;
	return next <= now ? 0 : (int)((next - now + 999999ULL) / 1000000ULL);
}

/* Stop every running job now; each is recorded as failed with the reason. */
static void stop_running(struct sup *s, const char *why)
{
	for (unsigned i = 0; i < s->n_slots; i++) {
		struct sjob *j = s->slots[i];

		if (!j || j->stop_reason)
			continue;
		j->stop_reason = why;
		run_cancel(j->run);
		j->deadline_ns = 0;
	}
}

static void poll_due(struct sup *s)
{
	unsigned long long now = sbx_now_ns();

	for (unsigned i = 0; i < s->n_slots; i++)
		if (s->slots[i] && s->slots[i]->deadline_ns <= now)
			poll_job(s, s->slots[i]);
	if (s->draining && now >= s->drain_deadline_ns)
		stop_running(s, "sandboxd stopped: the job ran past the shutdown grace period");
	kill_pulls(s, true);
}

/* History retention, and cgroups a killed earlier run left behind. */
static void housekeeping(struct sup *s)
{
	int64_t now = hist_now_ms();
	int n;

	if (now >= s->next_reap_ms) {
		sbx_context_reap_stale(s->ctx);
		s->next_reap_ms = now + REAP_EVERY_MS;
	}
	if (now < s->next_prune_ms)
		return;
	s->next_prune_ms = now + PRUNE_EVERY_MS;
	if (!s->cfg->history_retention_days)
		return;
	n = hist_prune(s->hist, now - (int64_t)s->cfg->history_retention_days * 86400000LL, NULL);
	if (n > 0)
		log_info("history_pruned", "jobs=%d", n);
}

static void loop(struct sup *s)
{
	while (!s->stop && !(s->draining && !s->running)) {
		struct epoll_event ev[16];
		int n = epoll_wait(s->epfd, ev, ELEMENTSOF(ev), next_timeout_ms(s, sbx_now_ns()));

		for (int i = 0; i < n; i++) {
			void *ptr = ev[i].data.ptr;

			if (ptr == ctl_tag)
				on_message(s);
			else if (ptr >= (void *)s->pulls && ptr < (void *)(s->pulls + PULLS_MAX))
				finish_pull(s, ptr);
			else
				((struct sjob *)ptr)->deadline_ns = 0;
		}
		poll_due(s);
		schedule(s); /* slots freed by the jobs that just ended */
		housekeeping(s);
	}
}

/* The HTTP side is gone: nobody can be answered. End everything, keep the queue for later. */
static void shutdown_all(struct sup *s, const char *why)
{
	stop_running(s, why);
	for (unsigned i = 0; i < s->n_slots; i++)
		if (s->slots[i])
			complete(s, s->slots[i]); /* kills and reaps what is still running */
	while (s->qhead) {
		struct sjob *j = dequeue(s, NULL, s->qhead);

		if (j->sync)
			end_unrun(s, j, "failed", why);
		sjob_free(j); /* async: still "queued" in history, it runs at the next start */
	}
}

/* ---- start-up ---------------------------------------------------------------------------- */

static void requeue(struct sup *s, const struct hist_job *hj)
{
	_cleanup_(sjob_freep) struct sjob *j = calloc(1, sizeof(*j));
	struct req_error re;

	if (!j)
		return;
	j->reply_fd = -1;
	snprintf(j->id, sizeof(j->id), "%s", hj->id);
	snprintf(j->owner, sizeof(j->owner), "%s", hj->owner ? hj->owner : "");
	if (hj->sync)
		return end_unrun(s, j, "failed", "sandboxd restarted before the job ran");
	if (!hj->request ||
	    req_parse(hj->request, strlen(hj->request), &s->canon, &j->req, &re) < 0)
		return end_unrun(s, j, "failed", "the stored request is no longer valid");
	j->lang = lang_find(s->langs, j->req.language);
	if (!j->lang || !lang_is_servable(j->lang))
		return end_unrun(s, j, "failed", "the language is no longer available");
	j->has_callback = j->req.callback_url != NULL;
	j->accepted_ns = sbx_now_ns();
	enqueue(s, TAKE_PTR(j));
}

static int recover(struct sup *s, struct sbx_error *err)
{
	struct hist_job *queued = NULL;
	size_t n = 0;
	int r;

	r = hist_recover(s->hist, "interrupted: sandboxd stopped while the job ran", &queued, &n,
			 err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		requeue(s, &queued[i]);
	if (n)
		log_info("recovered", "queued=%zu", n);
	hist_jobs_free(queued, n);
	return 0;
}

static int sup_init(struct sup *s, const char *history_path, struct sbx_error *err)
{
	struct sbx_config sc = { .profile_dir = s->cfg->profile_dir,
				 .cgroup_parent = s->cfg->cgroup_parent };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = (void *)ctl_tag };
	int r;

	/* The canonical form carries files in base64, a third larger than the body was: the body
	 * cap was enforced on the original by the HTTP side. */
	s->canon = *s->cfg;
	s->canon.max_body_bytes = 0;
	r = sbx_context_new(&sc, &s->ctx, err);
	if (r >= 0)
		r = run_setup_workspace(err);
	if (r >= 0)
		r = hist_open(history_path, true, &s->hist, err);
	if (r < 0)
		return r;
	s->n_slots = s->cfg->slots < sbx_context_slots(s->ctx) ? s->cfg->slots
							       : sbx_context_slots(s->ctx);
	s->slots = calloc(s->n_slots, sizeof(*s->slots));
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!s->slots || s->epfd < 0)
		return sbx_err(err, errno ? errno : ENOMEM, "supervisor");
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->ctl, &ev) < 0)
		return sbx_err(err, errno, "epoll_ctl");
	metrics_init(&s->metrics);
	r = (int)readlink("/proc/self/exe", s->exe_dir, sizeof(s->exe_dir) - 1);
	if (r <= 0 || !strrchr(s->exe_dir, '/'))
		return sbx_err(err, errno ? errno : EINVAL, "readlink /proc/self/exe");
	*strrchr(s->exe_dir, '/') = '\0';
	return recover(s, err);
}

static void send_status(int ctl, enum proto_type type, const char *msg)
{
	struct proto_msg m = { .type = type };
	_cleanup_close_ int fd = proto_memfd("status", msg, strlen(msg));

	proto_send(ctl, &m, fd, -1);
}

static void sup_done(struct sup *s)
{
	free(s->slots);
	closep(&s->epfd);
	hist_close(s->hist);
	sbx_context_free(s->ctx);
	metrics_free(&s->metrics);
}

int sup_main(const struct cfg *cfg, struct lang_set *langs, const char *history_path, int ctl_sock)
{
	_cleanup_(sup_done) struct sup s = {
		.cfg = cfg,
		.langs = langs,
		.ctl = ctl_sock,
		.epfd = -1,
		.drain_reply = -1,
	};
	struct sbx_error err = { 0 };
	sigset_t mask;

	log_set_proc("supervisor");
	/* Ctrl-C and SIGTERM reach the HTTP process, which drains us over the control socket. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (sup_init(&s, history_path, &err) < 0) {
		send_status(ctl_sock, PROTO_FAILED, err.msg);
		return 1;
	}
	send_status(ctl_sock, PROTO_READY, "ready");
	log_info("ready", "slots=%u queued=%u", s.n_slots, s.queued);
	schedule(&s);
	loop(&s);
	kill_pulls(&s, false);
	if (s.stop)
		shutdown_all(&s, "sandboxd's HTTP process ended");
	if (s.drain_reply >= 0)
		reply_json(TAKE_FD(s.drain_reply), 200, "{\"drained\":true}");
	log_info("stopped", "queued_kept=%u", s.queued);
	return 0;
}
