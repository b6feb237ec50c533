/* SPDX-License-Identifier: MIT */
/* test_profile.c - the security profile: the shipped one loads, broken ones are refused with
 * the field named, limits resolve against defaults and caps. Run from the repository root. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "profile.h"
#include "unit.h"
#include "util.h"

static struct sbx_profile prof;
static int prof_rc;

TEST(shipped_profile_loads)
{
	CHECK(prof_rc == 0);
	CHECK(prof.uid_base == 60000);
	CHECK(prof.slots >= 1);
	CHECK_STREQ(prof.hostname, "sandbox");
	CHECK(prof.defaults.memory_bytes == 256ULL << 20);
	CHECK(prof.caps.memory_bytes >= prof.defaults.memory_bytes);
	CHECK(prof.env && prof.env[0] && !strncmp(prof.env[0], "PATH=", 5));
	CHECK(prof.masked_paths && prof.masked_paths[0]);
	CHECK(prof.readonly_paths && prof.readonly_paths[0]);
	CHECK(prof.seccomp.filter && prof.seccomp.len > 100);
}

TEST(limits_default_and_cap)
{
	struct sbx_limits req = { 0 }, out;
	struct sbx_error err = { 0 };

	CHECK(profile_resolve_limits(&prof, &req, &out, &err) == 0);
	CHECK(out.cpu_ms == prof.defaults.cpu_ms && out.pids == prof.defaults.pids);
	req.memory_bytes = 64ULL << 20;
	CHECK(profile_resolve_limits(&prof, &req, &out, &err) == 0);
	CHECK(out.memory_bytes == 64ULL << 20);
	req.memory_bytes = prof.caps.memory_bytes + 1;
	CHECK(profile_resolve_limits(&prof, &req, &out, &err) == -EINVAL);
	CHECK(strstr(err.msg, "memory_mb") && strstr(err.msg, "cap"));
	req.memory_bytes = 100 << 10; /* too small for any program to start */
	CHECK(profile_resolve_limits(&prof, &req, &out, &err) == -EINVAL);
	req.memory_bytes = 0;
	req.pids = 1; /* no room for the program beside the jail's init */
	CHECK(profile_resolve_limits(&prof, &req, &out, &err) == -EINVAL);
	CHECK(strstr(err.msg, "pids") != NULL);
}

/* Write dir/security/default.json with `body` and a copy of the real seccomp.json. */
static int write_profile(const char *dir, const char *body)
{
	char path[512], cmd[1200];
	int fd;

	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/security && cp profiles/security/seccomp.json %s/security/", dir,
		 dir);
	if (system(cmd) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/security/default.json", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	sbx_write_all(fd, body, strlen(body));
	close(fd);
	return 0;
}

static const char good_limits[] =
	"\"limits\":{\"defaults\":{\"cpu_ms\":1,\"wall_ms\":1,\"memory_mb\":1,\"pids\":1,\"output_kb\":1,"
	"\"fsize_mb\":1,\"nofile\":1,\"tmpfs_mb\":1,\"tmpfs_inodes\":1,\"shm_mb\":1,\"stack_mb\":1,"
	"\"cpus_milli\":1},\"max\":{\"cpu_ms\":1,\"wall_ms\":1,\"memory_mb\":1,\"pids\":1,"
	"\"output_kb\":1,\"fsize_mb\":1,\"nofile\":1,\"tmpfs_mb\":1,\"tmpfs_inodes\":1,\"shm_mb\":1,"
	"\"stack_mb\":1,\"cpus_milli\":1}}";

static void expect_refused(const char *dir, const char *body, const char *needle)
{
	struct sbx_profile p;
	struct sbx_error err = { 0 };

	CHECK(write_profile(dir, body) == 0);
	CHECK(profile_load(dir, NULL, &p, &err) == -EINVAL);
	if (!strstr(err.msg, needle)) {
		fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err.msg, needle);
		CHECK(!"message names the field");
	}
}

TEST(broken_profiles_refused)
{
	char dir[] = "/tmp/sbx-unit-profile-XXXXXX", body[2048], cmd[128];

	CHECK(mkdtemp(dir) != NULL);
	expect_refused(dir, "{ not json", "not valid JSON");
	snprintf(body, sizeof(body),
		 "{\"seccomp\":\"seccomp.json\",\"uid_base\":0,\"slots\":1,\"hostname\":\"h\","
		 "\"env\":[],\"masked_paths\":[],\"readonly_paths\":[],%s}",
		 good_limits);
	expect_refused(dir, body, "uid_base");
	snprintf(body, sizeof(body),
		 "{\"seccomp\":\"seccomp.json\",\"uid_base\":60000,\"slots\":1,\"hostname\":\"h\","
		 "\"env\":[],\"masked_paths\":[\"/etc/passwd\"],\"readonly_paths\":[],%s}",
		 good_limits);
	expect_refused(dir, body, "masked_paths[0]");
	snprintf(body, sizeof(body),
		 "{\"seccomp\":\"../x.json\",\"uid_base\":60000,\"slots\":1,\"hostname\":\"h\","
		 "\"env\":[],\"masked_paths\":[],\"readonly_paths\":[],%s}",
		 good_limits);
	expect_refused(dir, body, "seccomp");
	expect_refused(
		dir,
		"{\"seccomp\":\"seccomp.json\",\"uid_base\":60000,\"slots\":1,\"hostname\":\"h\","
		"\"env\":[],\"masked_paths\":[],\"readonly_paths\":[],\"limits\":{\"defaults\":{}}}",
		"limits.defaults.cpu_ms");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	struct sbx_error err = { 0 };

	prof_rc = profile_load("profiles", NULL, &prof, &err);
	if (prof_rc < 0)
		fprintf(stderr, "  profile_load: %s\n", err.msg);
	RUN(shipped_profile_loads);
	RUN(limits_default_and_cap);
	RUN(broken_profiles_refused);
	profile_done(&prof);
	UNIT_END();
}
