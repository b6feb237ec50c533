/* SPDX-License-Identifier: MIT */
/*
 * proto.h - the messages between the HTTP process and the supervisor, over one SOCK_SEQPACKET
 * socketpair (the control socket). Every request carries its own reply channel: the HTTP
 * thread makes a socketpair, passes one end along with the message (SCM_RIGHTS) and waits on
 * the other, so replies need no routing and a dead supervisor shows up as EOF. Bodies of any
 * size travel in sealed memfds, never through the socket buffer.
 *
 *   HTTP -> supervisor   SUBMIT  (memfd: canonical request JSON; flags: PROTO_SYNC)
 *                        CANCEL  (id)     QUEUE     METRICS     DRAIN (value: grace ms)
 *   supervisor -> HTTP   READY (value: 0) or FAILED (memfd: why) once at start-up,
 *                        DONE (id) when a job with a callback_url has finished.
 * A reply: struct proto_reply + a memfd holding the body (a JSON object, or text for METRICS).
 */
#ifndef SVC_PROTO_H
#define SVC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox.h"

enum proto_type {
	PROTO_SUBMIT = 1,
	PROTO_CANCEL,
	PROTO_QUEUE,
	PROTO_METRICS,
	PROTO_DRAIN,
	PROTO_READY,
	PROTO_FAILED,
	PROTO_DONE,
};

#define PROTO_SYNC 1u

struct proto_msg {
	uint32_t type;
	uint32_t flags;
	char id[40];
	char owner[64]; /* the API key's name, "" without keys */
	int64_t value;
};

struct proto_reply {
	int32_t status;	      /* the HTTP status to answer with */
	uint32_t retry_after; /* seconds, for 429 and 503; 0 = none */
};

/* Send m with up to two fds (-1 = none). Returns 0 or -errno. */
int proto_send(int sock, const struct proto_msg *m, int fd1, int fd2);
/* Receive one message and its fds (-1 when absent). Returns 1, 0 at EOF, or -errno. */
int proto_recv(int sock, struct proto_msg *m, int *ret_fd1, int *ret_fd2);

/* A sealed memfd holding data (readable from offset 0). Returns the fd or -errno. */
int proto_memfd(const char *name, const void *data, size_t len);
/* The whole content of a memfd (NUL-terminated, malloc'd), at most max bytes. */
int proto_memfd_read(int fd, size_t max, char **ret, size_t *ret_len);

/* Supervisor: answer on a request's reply channel, then close it. Never blocks. */
int proto_reply(int reply_fd, int status, unsigned retry_after, const char *body, size_t len);

/*
 * HTTP side: send m (+ payload fd, or -1) on the control socket with a fresh reply channel and
 * wait for the answer, at most timeout_ms (-1: until it comes or the supervisor dies).
 * -EPIPE when the supervisor is gone, -ETIMEDOUT on timeout, -EAGAIN when the control socket
 * is full (the supervisor is not keeping up).
 */
int proto_call(int sock, const struct proto_msg *m, int payload_fd, int timeout_ms,
	       struct proto_reply *ret, char **ret_body, size_t *ret_len);

#endif
