/* SPDX-License-Identifier: MIT */
/*
 * hostfs.c - the built-in host rootfs's host side: the entries, and /etc generated from it.
 *
 * Owns: what of the host a host-rootfs job may see. Must not: expose any file of the host's
 * /etc (credentials, resolvers, keys): only copies of symlinks are made, under our run dir.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hostfs.h"
#include "util.h"

const char *const hostfs_entries[] = { "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
const unsigned hostfs_n_entries = ELEMENTSOF(hostfs_entries);

#define ZONEINFO "/usr/share/zoneinfo/"

/* /etc/localtime -> an absolute path below /usr/share/zoneinfo, or nothing (UTC). */
static void find_localtime(struct hostfs *h)
{
	char target[sizeof(h->localtime)];
	ssize_t n = readlink("/etc/localtime", target, sizeof(target) - 1);
	const char *t = target;

	h->localtime[0] = '\0';
	if (n <= 0)
		return;
	target[n] = '\0';
	while (!strncmp(t, "../", 3)) /* relative links, "../usr/share/zoneinfo/..." */
		t += 2;
	if (!strncmp(t, ZONEINFO, strlen(ZONEINFO)) && !strstr(t, "/.."))
		snprintf(h->localtime, sizeof(h->localtime), "%s", t);
}

/* Copy every symlink of /etc/alternatives into dir (a new, empty directory). */
static int copy_links(const char *dir)
{
	_cleanup_close_ int dst = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	DIR *d = opendir("/etc/alternatives");
	struct dirent *de;
	char target[PATH_MAX];
	int r = 0;

	if (dst < 0 || !d) {
		r = -errno;
		goto out;
	}
	while (r >= 0 && (de = readdir(d))) {
		ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);

		if (n <= 0 || de->d_name[0] == '.')
			continue; /* not a symlink: nothing a job needs */
		target[n] = '\0';
		if (symlinkat(target, dst, de->d_name) < 0)
			r = -errno;
	}
out:
	if (d)
		closedir(d);
	return r;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	rmdir(dir);
}

/* Build the copy in a private temporary directory, then rename it into place (atomic). */
static int build_alternatives(const char *path)
{
	char tmp[PATH_MAX + 32];
	int r;

	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, getpid());
	if (mkdir(tmp, 0755) < 0)
		return -errno;
	r = copy_links(tmp);
	if (r >= 0 && rename(tmp, path) < 0)
		r = errno == EEXIST || errno == ENOTEMPTY ? 0 : -errno; /* another process won */
	if (access(tmp, F_OK) == 0)
		remove_tree(tmp);
	return r;
}

int hostfs_prepare(const char *run_dir, struct hostfs *ret, struct sbx_error *err)
{
	struct stat st;
	int r;

	memset(ret, 0, sizeof(*ret));
	find_localtime(ret);
	if (stat("/etc/alternatives", &st) < 0)
		return 0; /* not a Debian-like host: nothing to copy */
	/* One copy per state of the host's directory: updates make a new name, never a rewrite. */
	snprintf(ret->alternatives, sizeof(ret->alternatives), "%s/alternatives-%llx-%lld.%09ld",
		 run_dir, (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec);
	if (access(ret->alternatives, F_OK) == 0)
		return 0;
	r = build_alternatives(ret->alternatives);
	if (r < 0) {
		ret->alternatives[0] = '\0';
		return sbx_err(err, -r, "copy /etc/alternatives into %s", run_dir);
	}
	return 0;
}
