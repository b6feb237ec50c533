/* SPDX-License-Identifier: MIT */
/*
 * net.h - the job's network: a fresh network namespace holding only lo, brought up so a program
 * may bind 127.0.0.1. The rtnetlink request is built with libmnl in the parent; the child only
 * sends it and checks the kernel's answer.
 */
#ifndef SBX_NET_H
#define SBX_NET_H

#include <stddef.h>

#include "sandbox.h"

struct net_plan {
	char req[128]; /* RTM_NEWLINK lo IFF_UP, NLM_F_ACK */
	size_t len;
	unsigned seq;
};

int net_plan_init(struct net_plan *ret, struct sbx_error *err);
/* Child: bring lo up. Plain syscalls; libmnl only parses the ack in a stack buffer. */
int net_lo_up(const struct net_plan *p);

#endif
