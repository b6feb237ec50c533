/* SPDX-License-Identifier: MIT */
/*
 * main.c - sandboxd: the orchestrator of the service's start, life and stop.
 *
 *   config -> language profiles -> fork the supervisor (before any thread exists) -> wait for
 *   it to be ready -> read-only view of the host, no capabilities -> callbacks thread -> HTTP threads -> READY=1 -> wait for a signal or the
 *   supervisor's end -> drain -> exit.
 *
 * Owns: the process layout and the shutdown sequence. Must not: run jobs (the supervisor
 * does) or answer HTTP (http.c does).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "callback.h"
#include "http.h"
#include "log.h"
#include "proto.h"
#include "supervisor.h"
#include "util.h"

#define READY_TIMEOUT_MS 60000

struct service {
	struct cfg cfg;
	struct lang_set langs;
	char profile_dir[4096];
	char history_path[4096];
	pid_t sup_pid;
	int ctl;
	int wake; /* eventfd: the bridge thread saw the supervisor end */
	struct http_ctx http;
	struct http_server *server;
	pthread_t bridge;
	bool bridge_started;
};

/* systemd's readiness protocol, without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	socklen_t len;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
}

static int load(struct service *sv, int argc, char **argv, struct sbx_error *err)
{
	int r = cfg_load(argc, argv, &sv->cfg, err);

	if (r != 0)
		return r;
	r = sbx_find_profile_dir(sv->cfg.profile_dir, sv->profile_dir, sizeof(sv->profile_dir),
				 err);
	if (r >= 0)
		r = lang_load(sv->profile_dir, &sv->langs, err);
	if (r >= 0)
		r = lang_resolve_rootfs(&sv->langs, sv->cfg.state_dir, sv->cfg.host_fallback,
					sv->cfg.pull_on_demand, err);
	if (r < 0)
		return r;
	if (mkdir(sv->cfg.state_dir, 0700) < 0 && errno != EEXIST)
		return sbx_err(err, errno, "state directory %s", sv->cfg.state_dir);
	snprintf(sv->history_path, sizeof(sv->history_path), "%s/history.db", sv->cfg.state_dir);
	return 0;
}

/* The supervisor is forked while this process is still single-threaded. */
static int spawn_supervisor(struct service *sv, struct sbx_error *err)
{
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return sbx_err(err, errno, "socketpair");
	/* Delegate=yes: make room for the job cgroups inside our own subtree, before forking. */
	if (sbx_cgroup_leave_home("sandboxd", err) < 0)
		return sbx_err_prefix(err, -err->code, "cgroup");
	sv->sup_pid = fork();
	if (sv->sup_pid < 0)
		return sbx_err(err, errno, "fork");
	if (sv->sup_pid == 0) {
		close(pair[0]);
		prctl(PR_SET_NAME, "sandboxd-sup");
		_exit(sup_main(&sv->cfg, &sv->langs, sv->history_path, pair[1]));
	}
	close(pair[1]);
	sv->ctl = pair[0];
	return 0;
}

static int wait_ready(struct service *sv, struct sbx_error *err)
{
	struct pollfd p = { .fd = sv->ctl, .events = POLLIN };
	_cleanup_close_ int fd1 = -1, fd2 = -1;
	_cleanup_free_ char *why = NULL;
	struct proto_msg m;

	if (poll(&p, 1, READY_TIMEOUT_MS) <= 0)
		return sbx_err_msg(err, ETIMEDOUT, "the supervisor did not start");
	if (proto_recv(sv->ctl, &m, &fd1, &fd2) <= 0)
		return sbx_err_msg(err, EPIPE, "the supervisor ended during start-up");
	if (m.type == PROTO_READY)
		return 0;
	if (fd1 >= 0)
		proto_memfd_read(fd1, 4096, &why, NULL);
	return sbx_err_msg(err, EIO, "supervisor: %s", why ? why : "failed to start");
}

/* Events from the supervisor: callbacks to deliver, and its end. */
static void *bridge_main(void *arg)
{
	struct service *sv = arg;
	uint64_t one = 1;

	for (;;) {
		struct proto_msg m;
		int fd1 = -1, fd2 = -1, r = proto_recv(sv->ctl, &m, &fd1, &fd2);

		closep(&fd1);
		closep(&fd2);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			break;
		if (m.type == PROTO_DONE && sv->http.callbacks)
			cb_notify(sv->http.callbacks);
	}
	atomic_store(&sv->http.supervisor_alive, false);
	if (write(sv->wake, &one, sizeof(one)) < 0)
		abort();
	return NULL;
}

/* Keep a mount's own nosuid/nodev/noexec/atime flags when making it read-only. */
static void remount_ro(const char *path)
{
	static const struct {
		unsigned long st, ms;
	} keep[] = {
		{ ST_NOSUID, MS_NOSUID },	  { ST_NODEV, MS_NODEV },
		{ ST_NOEXEC, MS_NOEXEC },	  { ST_NOATIME, MS_NOATIME },
		{ ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
	};
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
	struct statvfs sv;

	if (statvfs(path, &sv) < 0)
		return;
	for (size_t i = 0; i < ELEMENTSOF(keep); i++)
		if (sv.f_flag & keep[i].st)
			flags |= keep[i].ms;
	mount(NULL, path, NULL, flags, NULL); /* best effort: a stale mount point stays as it is */
}

/* Every mount point of this namespace, in mountinfo order (parents first), but skip. */
static int remount_all_ro(const char *skip, struct sbx_error *err)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192], mp[4096];

	if (!f)
		return sbx_err(err, errno, "open /proc/self/mountinfo");
	/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...". A mount point with octal escapes (\040) is
	 * not found under its escaped name and keeps its flags. */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, skip))
			remount_ro(mp);
	fclose(f);
	return 0;
}

/*
 * The HTTP process keeps uid 0, and uid 0 owns most of the host's files even without
 * capabilities. In a mount namespace of its own everything is read-only but the state
 * directory (history; the callback thread records deliveries there): a compromised HTTP
 * thread finds nothing on the host it could write.
 */
static int confine_fs(const char *state_dir, struct sbx_error *err)
{
	char dir[PATH_MAX];

	if (!realpath(state_dir, dir))
		return sbx_err(err, errno, "state directory %s", state_dir);
	if (unshare(CLONE_NEWNS) < 0)
		return sbx_err(err, errno, "unshare mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sbx_err(err, errno, "make / private");
	if (mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
		return sbx_err(err, errno, "bind %s", dir);
	if (remount_all_ro(dir, err) < 0)
		return -err->code;
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		return sbx_err(err, errno, "read-only /");
	return 0;
}

/*
 * The HTTP process parses untrusted input: it keeps no capability but the one to bind a low
 * port, and can never gain one (no_new_privs, empty bounding set). Its files (history, state)
 * are owned by root, so uid 0 still reaches them without CAP_DAC_OVERRIDE. Done before any
 * thread exists: capabilities are per thread.
 */
static int drop_privileges(struct sbx_error *err)
{
	const cap_value_t keep[] = { CAP_NET_BIND_SERVICE };
	cap_t caps = cap_init();
	int r = 0;

	if (!caps)
		return sbx_err(err, errno, "cap_init");
	for (cap_value_t c = 0; c <= CAP_LAST_CAP && r >= 0; c++)
		if (c != CAP_NET_BIND_SERVICE && CAP_IS_SUPPORTED(c) && cap_drop_bound(c) < 0)
			r = sbx_err(err, errno, "drop capability %d from the bounding set", c);
	if (r >= 0 &&
	    (cap_set_flag(caps, CAP_PERMITTED, 1, keep, CAP_SET) < 0 ||
	     cap_set_flag(caps, CAP_EFFECTIVE, 1, keep, CAP_SET) < 0 || cap_set_proc(caps) < 0))
		r = sbx_err(err, errno, "drop capabilities");
	cap_free(caps);
	if (r >= 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		r = sbx_err(err, errno, "no_new_privs");
	return r;
}

static int serve(struct service *sv, struct sbx_error *err)
{
	int r;

	sv->http = (struct http_ctx){ .cfg = &sv->cfg,
				      .langs = &sv->langs,
				      .history_path = sv->history_path,
				      .ctl_sock = sv->ctl };
	atomic_store(&sv->http.supervisor_alive, true);
	r = confine_fs(sv->cfg.state_dir, err);
	if (r >= 0)
		r = drop_privileges(err);
	if (r < 0)
		return r;
	r = cb_start(&sv->cfg, sv->history_path, &sv->http.callbacks, err);
	if (r < 0)
		return sbx_err_prefix(err, r, "callbacks");
	r = pthread_create(&sv->bridge, NULL, bridge_main, sv);
	if (r)
		return sbx_err(err, r, "thread");
	sv->bridge_started = true;
	return http_start(&sv->http, &sv->server, err);
}

/* Block until SIGTERM/SIGINT (returns 0) or the supervisor's end (returns -EPIPE). */
static int wait_for_end(struct service *sv, int sigfd)
{
	struct pollfd p[] = { { .fd = sigfd, .events = POLLIN },
			      { .fd = sv->wake, .events = POLLIN } };
	struct signalfd_siginfo si;

	while (poll(p, ELEMENTSOF(p), -1) < 0)
		if (errno != EINTR)
			return -errno;
	if (p[1].revents)
		return -EPIPE;
	if (read(sigfd, &si, sizeof(si)) == sizeof(si))
		log_info("signal", "signo=%u msg=\"draining\"", si.ssi_signo);
	return 0;
}

static void drain(struct service *sv)
{
	struct proto_msg m = { .type = PROTO_DRAIN, .value = sv->cfg.shutdown_grace_ms };
	struct proto_reply rep;
	char *body = NULL;
	size_t len;

	sd_notify_msg("STOPPING=1");
	atomic_store(&sv->http.draining, true);
	http_quiesce(sv->server);
	/* The supervisor ends the running jobs within the grace period, then answers. */
	proto_call(sv->ctl, &m, -1, (int)sv->cfg.shutdown_grace_ms + 15000, &rep, &body, &len);
	free(body);
}

static int stop(struct service *sv, int rc)
{
	int status = 0;

	if (sv->server)
		http_stop(sv->server);
	if (sv->http.callbacks)
		cb_stop(sv->http.callbacks);
	if (sv->ctl >= 0)
		shutdown(sv->ctl, SHUT_RDWR); /* ends the bridge thread, and tells the supervisor */
	if (sv->bridge_started)
		pthread_join(sv->bridge, NULL);
	if (sv->sup_pid > 0 && waitpid(sv->sup_pid, &status, 0) > 0 && status && !rc)
		rc = 1;
	closep(&sv->ctl);
	lang_set_free(&sv->langs);
	cfg_free(&sv->cfg);
	return rc;
}

static int block_signals(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &mask, SFD_CLOEXEC);
}

int main(int argc, char **argv)
{
	struct service sv = { .ctl = -1 };
	struct sbx_error err = { 0 };
	_cleanup_close_ int sigfd = block_signals();
	char q[SBX_MSG_MAX + 8];
	int r;

	log_set_proc("http");
	r = load(&sv, argc, argv, &err);
	if (r == 1) {
		fputs(cfg_usage, stdout);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "sandboxd: %s\n", err.msg);
		return 2;
	}
	sv.wake = eventfd(0, EFD_CLOEXEC);
	r = sv.wake < 0 ? sbx_err(&err, errno, "eventfd") : spawn_supervisor(&sv, &err);
	if (r >= 0)
		r = wait_ready(&sv, &err);
	if (r >= 0)
		r = serve(&sv, &err);
	if (r < 0) {
		log_error("start", "msg=%s", log_q(q, sizeof(q), err.msg));
		fprintf(stderr, "sandboxd: %s\n", err.msg);
		return stop(&sv, 1);
	}
	log_info("listening", "addr=%s port=%u slots=%u languages=%zu", sv.cfg.listen_addr,
		 sv.cfg.listen_port, sv.cfg.slots, sv.langs.n);
	sd_notify_msg("READY=1");
	r = wait_for_end(&sv, sigfd);
	if (r == -EPIPE) {
		log_error("supervisor", "msg=\"the supervisor ended: stopping\"");
		return stop(&sv, 1);
	}
	drain(&sv);
	log_info("stopped", "msg=\"bye\"");
	return stop(&sv, 0);
}
