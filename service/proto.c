/* SPDX-License-Identifier: MIT */
/*
 * proto.c - the HTTP <-> supervisor messages (see proto.h): fixed-size datagrams with fds
 * attached, bodies in sealed memfds.
 *
 * Owns: the wire format and the per-request reply channel. Must not: interpret a message; the
 * supervisor and the API handlers do.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "proto.h"
#include "util.h"

struct reply_wire {
	struct proto_reply r;
	uint64_t len;
};

static int send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t n_fds)
{
	char ctl[CMSG_SPACE(2 * sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n_fds) {
		struct cmsghdr *c;

		mh.msg_control = ctl;
		mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
	}
	/* Never blocks: a supervisor too busy to drain its socket gets EAGAIN, not a thread. */
	while (sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* Receive one datagram of exactly len bytes; fds beyond two are closed. 0 at EOF. */
static int recv_with_fds(int sock, void *buf, size_t len, int *fd1, int *fd2)
{
	char ctl[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};
	int got[4], n_got = 0;
	ssize_t n;

	*fd1 = *fd2 = -1;
	while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0)
		if (errno != EINTR)
			return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
				if (n_got < 4)
					memcpy(&got[n_got++], CMSG_DATA(c) + i * sizeof(int),
					       sizeof(int));
	for (int i = 2; i < n_got; i++)
		close(got[i]);
	if (n_got > 0)
		*fd1 = got[0];
	if (n_got > 1)
		*fd2 = got[1];
	if (n == 0 && !n_got)
		return 0;
	if ((size_t)n != len || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		closep(fd1), closep(fd2);
		*fd1 = *fd2 = -1;
		return -EBADMSG;
	}
	return 1;
}

int proto_send(int sock, const struct proto_msg *m, int fd1, int fd2)
{
	int fds[2], n = 0;

	if (fd1 >= 0)
		fds[n++] = fd1;
	if (fd2 >= 0)
		fds[n++] = fd2;
	return send_with_fds(sock, m, sizeof(*m), fds, (size_t)n);
}

int proto_recv(int sock, struct proto_msg *m, int *ret_fd1, int *ret_fd2)
{
	int r = recv_with_fds(sock, m, sizeof(*m), ret_fd1, ret_fd2);

	if (r > 0) {
		m->id[sizeof(m->id) - 1] = '\0';
		m->owner[sizeof(m->owner) - 1] = '\0';
	}
	return r;
}

int proto_memfd(const char *name, const void *data, size_t len)
{
	_cleanup_close_ int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int r;

	if (fd < 0)
		return -errno;
	r = sbx_write_all(fd, data, len);
	if (r < 0)
		return r;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int proto_memfd_read(int fd, size_t max, char **ret, size_t *ret_len)
{
	return sbx_read_fd_all(fd, max, ret, ret_len);
}

int proto_reply(int reply_fd, int status, unsigned retry_after, const char *body, size_t len)
{
	struct reply_wire w = { .r = { .status = status, .retry_after = retry_after }, .len = len };
	_cleanup_close_ int fd = proto_memfd("reply", body ? body : "", body ? len : 0);
	int r;

	if (fd < 0) {
		close(reply_fd);
		return fd;
	}
	/* The peer waits on a socket of its own: one small datagram never blocks. */
	r = send_with_fds(reply_fd, &w, sizeof(w), &fd, 1);
	close(reply_fd);
	return r;
}

static int wait_reply(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	while ((n = poll(&p, 1, timeout_ms)) < 0)
		if (errno != EINTR)
			return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

int proto_call(int sock, const struct proto_msg *m, int payload_fd, int timeout_ms,
	       struct proto_reply *ret, char **ret_body, size_t *ret_len)
{
	_cleanup_close_ int mine = -1, body_fd = -1, extra = -1;
	struct reply_wire w;
	int pair[2], r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -errno;
	mine = pair[0];
	r = proto_send(sock, m, pair[1], payload_fd);
	close(pair[1]);
	if (r < 0)
		return r == -ECONNREFUSED || r == -ENOTCONN ? -EPIPE : r;
	r = wait_reply(mine, timeout_ms);
	if (r < 0)
		return r;
	r = recv_with_fds(mine, &w, sizeof(w), &body_fd, &extra);
	if (r <= 0 || body_fd < 0)
		return r < 0 && r != -EBADMSG ? r : -EPIPE;
	*ret = w.r;
	return proto_memfd_read(body_fd, (size_t)w.len + 1, ret_body, ret_len);
}
