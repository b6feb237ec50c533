/* SPDX-License-Identifier: MIT */
/*
 * ns.h - namespaces: the one clone of a job (clone3, falling back to clone) and what the child
 * does inside its new namespaces that is not mounting (cgroup namespace, hostname).
 */
#ifndef SBX_NS_H
#define SBX_NS_H

#include <stdbool.h>

/* The namespaces every job gets at clone time (the cgroup one comes after joining its cgroup). */
#define NS_CLONE_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

/*
 * fork()-like clone into new namespaces: returns the child's pid in the parent (with a pidfd in
 * *ret_pidfd), 0 in the child, -errno on failure. Tries clone3 first, then clone. With
 * cgroup_fd >= 0, clone3 starts the child inside that cgroup (CLONE_INTO_CGROUP, cgroup v2):
 * no migration, which in cgroup v1 waits for an RCU grace period. *ret_in_cgroup tells both
 * parent and child whether that happened (the clone() fallback cannot).
 */
int ns_clone(unsigned long flags, int cgroup_fd, int *ret_pidfd, bool *ret_in_cgroup);

/* Plain fork for the child side (no atfork handlers, no locks): pid, 0, or -errno. */
int ns_fork(void);

/* Child: a cgroup namespace rooted at the job's own cgroup (call after joining it). */
int ns_enter_cgroup(void);
int ns_set_hostname(const char *name);

#endif
