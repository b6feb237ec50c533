/* SPDX-License-Identifier: MIT */
/*
 * caps.h - the job's credentials: capabilities (libcap) and uid/gid. Planned in the parent,
 * applied in the child in this order: drop the bounding set (needs CAP_SETPCAP, so before the
 * uid change), set uid/gid with no supplementary groups, clear every remaining set.
 */
#ifndef SBX_CAPS_H
#define SBX_CAPS_H

#include <sys/capability.h>
#include <sys/types.h>

#include "sandbox.h"

struct caps_plan {
	cap_t empty;  /* an all-clear capability state, allocated by the parent */
	int last_cap; /* highest capability the kernel knows */
};

int caps_plan_init(struct caps_plan *ret, struct sbx_error *err);
void caps_plan_done(struct caps_plan *p);

/* Child steps: plain syscalls and non-allocating libcap calls only. */
int caps_drop_bounding(const struct caps_plan *p);
int caps_set_identity(uid_t uid, gid_t gid);
int caps_clear_all(const struct caps_plan *p);
int caps_no_new_privs(void);

#endif
