/* SPDX-License-Identifier: MIT */
/* test_mount.c - the mount planner refuses what must never be mounted, before any clone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mount.h"
#include "unit.h"
#include "util.h"

static const struct mount_identity id = { .uid = 60000, .gid = 60000, .hostname = "sandbox" };

TEST(clean_paths)
{
	static const struct {
		const char *path;
		bool clean;
	} cases[] = {
		{ "/tmp", true },   { "/a/b/c", true }, { "/", false },	     { "", false },
		{ "tmp", false },   { "/a//b", false }, { "/a/./b", false }, { "/a/../b", false },
		{ "/a/..", false }, { "/a/", false },	{ "/..", false },    { "/a/.b", true },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		if (mount_path_is_clean(cases[i].path) != cases[i].clean) {
			fprintf(stderr, "  \"%s\": expected %s\n", cases[i].path,
				cases[i].clean ? "clean" : "refused");
			CHECK(!"mount_path_is_clean");
		}
}

/* Plan the host root plus one bind; return what mount_plan_binds says. */
static int plan_bind(const char *src, const char *dst, struct sbx_error *err)
{
	struct sbx_bind b = { .src = src, .dst = dst };
	struct mount_plan *p = NULL;
	int r = mount_plan_new("/run/sandboxd/root", &p, err);

	if (r >= 0)
		r = mount_plan_root(p, "host", &id, err);
	if (r >= 0)
		r = mount_plan_binds(p, &b, 1, err);
	mount_plan_free(p);
	return r;
}

TEST(bind_targets)
{
	struct sbx_error err = { 0 };

	CHECK(plan_bind("/etc/hostname", "/data/x", &err) == 0);     /* new top-level name: ours */
	CHECK(plan_bind("/usr/share", "/tmp/share", &err) == 0);     /* below our /tmp */
	CHECK(plan_bind("/usr/share", "/usr/share/doc", &err) == 0); /* exists in the host /usr */
	CHECK(plan_bind("/usr/share", "/proc/x", &err) == -EINVAL);
	CHECK(plan_bind("/usr/share", "/dev/x", &err) == -EINVAL);
	CHECK(plan_bind("/usr/share", "/a/../etc", &err) == -EINVAL);
	CHECK(plan_bind("relative", "/x", &err) == -EINVAL);
	CHECK(plan_bind("/nonexistent-src", "/x", &err) == -ENOENT);
	/* The read-only rootfs is never written: a missing target inside it is refused. */
	CHECK(plan_bind("/usr/share", "/usr/no-such-dir", &err) == -ENOENT);
	/* /bin is a symlink on merged-/usr hosts: nothing is resolved through it. */
	struct stat st;
	if (lstat("/bin", &st) == 0 && S_ISLNK(st.st_mode))
		CHECK(plan_bind("/usr/share", "/bin/x", &err) == -ELOOP);
	/* a file onto a directory of the rootfs is refused */
	CHECK(plan_bind("/etc/hostname", "/usr/share", &err) == -ENOTDIR);
}

static int plan_root(const char *rootfs, struct sbx_error *err)
{
	struct mount_plan *p = NULL;
	int r = mount_plan_new("/run/sandboxd/root", &p, err);

	if (r >= 0)
		r = mount_plan_root(p, rootfs, &id, err);
	mount_plan_free(p);
	return r;
}

TEST(rootfs_checks)
{
	char dir[] = "/tmp/sbx-unit-rootfs-XXXXXX", link[64];
	struct sbx_error err = { 0 };

	CHECK(plan_root("host", &err) == 0);
	CHECK(plan_root("/nonexistent", &err) == -ENOENT);
	CHECK(plan_root("/etc/hostname", &err) == -ENOTDIR);
	CHECK(mkdtemp(dir) != NULL);
	CHECK(chmod(dir, 0755) == 0);
	CHECK(plan_root(dir, &err) == 0);
	/* A rootfs anyone may write to could be changed under a running job. */
	CHECK(chmod(dir, 0777) == 0);
	CHECK(plan_root(dir, &err) == -EINVAL);
	CHECK(strstr(err.msg, "owned by root") != NULL);
	/* The rootfs itself must not be a symlink. */
	snprintf(link, sizeof(link), "%s-link", dir);
	CHECK(symlink(dir, link) == 0);
	CHECK(plan_root(link, &err) < 0);
	unlink(link);
	rmdir(dir);
}

TEST(reserved_paths)
{
	CHECK(mount_path_is_reserved("/proc"));
	CHECK(mount_path_is_reserved("/proc/self/fd/3"));
	CHECK(mount_path_is_reserved("/dev"));
	CHECK(mount_path_is_reserved("/dev/fd/3"));
	/* Only those trees: names that merely start the same are ordinary paths. */
	CHECK(!mount_path_is_reserved("/processing"));
	CHECK(!mount_path_is_reserved("/devel/src"));
	CHECK(!mount_path_is_reserved("/tmp/proc"));
}

int main(void)
{
	RUN(clean_paths);
	RUN(reserved_paths);
	RUN(bind_targets);
	RUN(rootfs_checks);
	UNIT_END();
}
