/* SPDX-License-Identifier: MIT */
/*
 * supervisor.h - the single-threaded process that owns every job of sandboxd: the queue, the
 * slots (a uid and a cgroup each), every clone, timer and child, and the history's job rows.
 * It talks to the HTTP process only through the control socket (proto.h).
 */
#ifndef SVC_SUPERVISOR_H
#define SVC_SUPERVISOR_H

#include "config.h"
#include "languages.h"

/*
 * Run the supervisor until the HTTP process asks it to drain (or goes away). Sends PROTO_READY
 * once it serves, or PROTO_FAILED with the reason. Returns the process exit status.
 */
int sup_main(const struct cfg *cfg, struct lang_set *langs, const char *history_path, int ctl_sock);

#endif
