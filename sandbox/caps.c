/* SPDX-License-Identifier: MIT */
/*
 * caps.c - capabilities and identity of the job process (and of the job's PID 1).
 *
 * Owns: every capability set (bounding, permitted, effective, inheritable, ambient), uid/gid,
 * supplementary groups, no_new_privs. Must not: allocate after clone (cap_init runs in the
 * parent; the child only passes the prepared cap_t to cap_set_proc, which issues capset).
 */
#include <grp.h>
#include <sys/prctl.h>

#include "caps.h"
#include "util.h"

int caps_plan_init(struct caps_plan *ret, struct sbx_error *err)
{
	ret->empty = cap_init();
	if (!ret->empty)
		return sbx_err(err, errno, "cap_init");
	ret->last_cap = (int)cap_max_bits() - 1;
	return 0;
}

void caps_plan_done(struct caps_plan *p)
{
	if (p->empty)
		cap_free(p->empty);
	p->empty = NULL;
}

int caps_drop_bounding(const struct caps_plan *p)
{
	for (int c = 0; c <= p->last_cap; c++)
		if (cap_drop_bound((cap_value_t)c) < 0 && errno != EINVAL)
			return -errno;
	return 0;
}

int caps_set_identity(uid_t uid, gid_t gid)
{
	/* Groups first: after setuid we could no longer drop root's supplementary groups. */
	if (setgroups(0, NULL) < 0)
		return -errno;
	if (setresgid(gid, gid, gid) < 0)
		return -errno;
	if (setresuid(uid, uid, uid) < 0)
		return -errno;
	return 0;
}

int caps_clear_all(const struct caps_plan *p)
{
	/*
	 * Inheritable must be empty too (CVE-2022-24769): a non-empty inheritable set plus file
	 * capabilities on a binary in the image would hand capabilities back at execve.
	 */
	if (cap_set_proc(p->empty) < 0)
		return -errno;
	if (cap_reset_ambient() < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

int caps_no_new_privs(void)
{
	/* setuid/setgid bits and file capabilities of anything the job runs are ignored from now. */
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}
