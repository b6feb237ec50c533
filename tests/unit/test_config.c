/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - configuration as an operator meets it: the defaults, a file with every key,
 * flags over the file, an error that names the key or flag at fault, and the refusal to listen
 * in public without API keys. $SANDBOXD_CONFIG stands in for /etc/sandboxd/config.json.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"
#include "util.h"

static char dir[] = "/tmp/test_config.XXXXXX";
static char path[128];	 /* the file tests write */
static char absent[128]; /* a path that never exists */

#define ARGV(...)	  ((char *[]){ "sandboxd", ##__VA_ARGS__, NULL })
#define ARGC(...)	  ((int)(sizeof(ARGV(__VA_ARGS__)) / sizeof(char *)) - 1)
#define LOAD(c, err, ...) cfg_load(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), c, err)

static void write_config(const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

TEST(setup)
{
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	snprintf(absent, sizeof(absent), "%s/absent.json", dir);
	/* never read the host's /etc/sandboxd/config.json */
	CHECK(setenv("SANDBOXD_CONFIG", absent, 1) == 0);
}

TEST(defaults)
{
	struct cfg c;
	struct sbx_error err = { 0 };

	CHECK(LOAD(&c, &err) == 0);
	CHECK_STREQ(c.listen_addr, "127.0.0.1");
	CHECK(c.listen_port == 8080);
	CHECK_STREQ(c.state_dir, "/var/lib/sandboxd");
	CHECK(c.profile_dir == NULL && c.cgroup_parent == NULL);
	CHECK(c.slots == (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	CHECK(c.queue_max == 256);
	CHECK(c.max_body_bytes == 4 << 20);
	CHECK(c.max_files == 64 && c.max_args == 256);
	CHECK(c.caps.cpu_ms == 60000 && c.caps.wall_ms == 120000 && c.caps.memory_mb == 2048 &&
	      c.caps.pids == 512 && c.caps.output_kb == 16384);
	CHECK(c.n_keys == 0);
	CHECK(c.rate_per_sec == 50 && c.rate_burst == 100);
	CHECK(c.history_retention_days == 30 && c.shutdown_grace_ms == 15000);
	CHECK(c.callback_retries == 5 && c.callback_timeout_ms == 10000);
	CHECK(c.host_fallback && !c.from_file && !c.allow_public);
	CHECK(cfg_listen_is_loopback(&c));
	cfg_free(&c);
	CHECK(c.listen_addr == NULL); /* cfg_free leaves a clean struct; a second call is safe */
	cfg_free(&c);
}

static const char every_key[] =
	"{\n"
	"  \"comment\": \"every key\",\n"
	"  \"listen\": \"[::1]:9090\",\n"
	"  \"state_dir\": \"/srv/sandboxd\",\n"
	"  \"profile_dir\": \"/opt/profiles\",\n"
	"  \"cgroup_parent\": \"sandboxd.slice\",\n"
	"  \"slots\": 3,\n"
	"  \"queue_max\": 0,\n"
	"  \"max_body_kb\": 512,\n"
	"  \"max_files\": 10,\n"
	"  \"max_args\": 20,\n"
	"  \"limits_max\": {\"cpu_ms\": 1000, \"wall_ms\": 2000, \"memory_mb\": 64,\n"
	"                 \"pids\": 8, \"output_kb\": 128},\n"
	"  \"api_keys\": [\"0123456789abcdef\", {\"name\": \"ci\", \"key\": \"ci-secret-0123456789\"},\n"
	"               {\"key\": \"third-secret-0123456\"}],\n"
	"  \"rate_limit\": {\"per_second\": 2.5, \"burst\": 10},\n"
	"  \"history_retention_days\": 0,\n"
	"  \"shutdown_grace_ms\": 500,\n"
	"  \"callback\": {\"retries\": 1, \"timeout_ms\": 2000},\n"
	"  \"host_fallback\": true,\n"
	"  \"allow_public\": false,\n"
	"  \"registry_mirrors\": {\"docker.io\": [\"https://mirror\"]},\n"
	"  \"auth_file\": \"/etc/sandboxd/auth.json\",\n"
	"  \"ca_file\": \"/etc/ssl/ca.pem\"\n"
	"}\n";

TEST(file_with_every_key)
{
	struct cfg c;
	struct sbx_error err = { 0 };

	write_config(every_key);
	CHECK(LOAD(&c, &err, "--config", path) == 0);
	if (err.msg[0])
		fprintf(stderr, "  %s\n", err.msg);
	CHECK_STREQ(c.listen_addr, "::1");
	CHECK(c.listen_port == 9090);
	CHECK_STREQ(c.state_dir, "/srv/sandboxd");
	CHECK_STREQ(c.profile_dir, "/opt/profiles");
	CHECK_STREQ(c.cgroup_parent, "sandboxd.slice");
	CHECK(c.slots == 3 && c.queue_max == 0);
	CHECK(c.max_body_bytes == 512 * 1024);
	CHECK(c.max_files == 10 && c.max_args == 20);
	CHECK(c.caps.cpu_ms == 1000 && c.caps.wall_ms == 2000 && c.caps.memory_mb == 64 &&
	      c.caps.pids == 8 && c.caps.output_kb == 128);
	CHECK(c.n_keys == 3);
	if (c.n_keys == 3) {
		/* bare strings are named by position, counting every entry */
		CHECK_STREQ(c.keys[0].name, "key1");
		CHECK_STREQ(c.keys[0].key, "0123456789abcdef");
		CHECK_STREQ(c.keys[1].name, "ci");
		CHECK_STREQ(c.keys[1].key, "ci-secret-0123456789");
		CHECK_STREQ(c.keys[2].name, "key3");
	}
	CHECK(c.rate_per_sec == 2.5 && c.rate_burst == 10);
	CHECK(c.history_retention_days == 0 && c.shutdown_grace_ms == 500);
	CHECK(c.callback_retries == 1 && c.callback_timeout_ms == 2000);
	CHECK(c.host_fallback && !c.allow_public && c.from_file);
	CHECK(cfg_listen_is_loopback(&c));
	cfg_free(&c);
}

TEST(host_fallback_follows_the_file)
{
	struct cfg c;
	struct sbx_error err = { 0 };

	/* an operator's file turns the host fallback off unless it says otherwise */
	write_config("{\"slots\": 2}");
	CHECK(LOAD(&c, &err, "--config", path) == 0);
	CHECK(!c.host_fallback && c.from_file);
	cfg_free(&c);
	write_config("{}");
	CHECK(LOAD(&c, &err, "--config", path) == 0);
	CHECK(!c.host_fallback);
	cfg_free(&c);
}

TEST(flags_override_the_file)
{
	struct cfg c;
	struct sbx_error err = { 0 };

	write_config("{\"slots\": 2, \"queue_max\": 9, \"listen\": \"127.0.0.2:9000\","
		     "\"state_dir\": \"/from/file\", \"profile_dir\": \"/p/file\"}");
	/* --config comes last, yet the file is read before the other flags apply */
	CHECK(LOAD(&c, &err, "--slots", "5", "--listen=[::1]:7000", "--state-dir", "/from/flag",
		   "--queue=11", "--cgroup-parent", "x.slice", "--config", path) == 0);
	if (err.msg[0])
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(c.slots == 5 && c.queue_max == 11);
	CHECK_STREQ(c.listen_addr, "::1");
	CHECK(c.listen_port == 7000);
	CHECK_STREQ(c.state_dir, "/from/flag");
	CHECK_STREQ(c.profile_dir, "/p/file"); /* not given as a flag: the file's */
	CHECK_STREQ(c.cgroup_parent, "x.slice");
	cfg_free(&c);
	CHECK(LOAD(&c, &err, "--profile-dir=/p/flag", "--slots=0") == 0);
	CHECK_STREQ(c.profile_dir, "/p/flag");
	CHECK(c.slots >= 1); /* 0: the online CPUs */
	cfg_free(&c);
}

static void check_file_error(const char *text, const char *needle, int line)
{
	struct cfg c;
	struct sbx_error err = { 0 };
	int r;

	write_config(text);
	r = LOAD(&c, &err, "--config", path);
	if (r != -EINVAL || err.code != EINVAL || !strstr(err.msg, needle) ||
	    !strstr(err.msg, path)) {
		fprintf(stderr, "  line %d: %s\n    -> %d: %s (wanted \"%s\")\n", line, text, r,
			err.msg, needle);
		unit_failed_checks++;
	}
	if (r == 0)
		cfg_free(&c);
}

#define FILE_ERROR(text, needle) check_file_error(text, needle, __LINE__)

TEST(file_errors_name_the_key)
{
	FILE_ERROR("{\"slotz\": 1}", "slotz");
	FILE_ERROR("{\"slots\": \"4\"}", "slots");
	FILE_ERROR("{\"slots\": 2000}", "slots");
	FILE_ERROR("{\"slots\": 1.5}", "slots");
	FILE_ERROR("{\"slots\": 1, \"slots\": 2}", "slots");
	FILE_ERROR("{\"queue_max\": -1}", "queue_max");
	FILE_ERROR("{\"queue_max\": 100001}", "queue_max");
	FILE_ERROR("{\"max_body_kb\": 0}", "max_body_kb");
	FILE_ERROR("{\"max_files\": 0}", "max_files");
	FILE_ERROR("{\"state_dir\": \"\"}", "state_dir");
	FILE_ERROR("{\"state_dir\": 5}", "state_dir");
	FILE_ERROR("{\"listen\": 8080}", "listen");
	FILE_ERROR("{\"listen\": \"127.0.0.1\"}", "listen");
	FILE_ERROR("{\"listen\": \"127.0.0.1:0\"}", "listen");
	FILE_ERROR("{\"listen\": \"127.0.0.1:65536\"}", "listen");
	FILE_ERROR("{\"listen\": \"127.0.0.1:80x\"}", "listen");
	FILE_ERROR("{\"listen\": \"::1:8080\"}", "listen");
	FILE_ERROR("{\"listen\": \"[::1]8080\"}", "listen");
	FILE_ERROR("{\"listen\": \"[127.0.0.1]:8080\"}", "listen");
	FILE_ERROR("{\"listen\": \"example.com:80\"}", "listen");
	FILE_ERROR("{\"limits_max\": {\"cpu_ms\": 0}}", "limits_max.cpu_ms");
	FILE_ERROR("{\"limits_max\": {\"disk_mb\": 1}}", "limits_max.disk_mb");
	FILE_ERROR("{\"limits_max\": 5}", "limits_max");
	FILE_ERROR("{\"rate_limit\": {\"per_second\": -1}}", "rate_limit.per_second");
	FILE_ERROR("{\"rate_limit\": {\"burst\": 0}}", "rate_limit.burst");
	FILE_ERROR("{\"callback\": {\"retries\": true}}", "callback.retries");
	FILE_ERROR("{\"callback\": {\"timeout_ms\": 1}}", "callback.timeout_ms");
	FILE_ERROR("{\"host_fallback\": \"yes\"}", "host_fallback");
	FILE_ERROR("{\"allow_public\": 1}", "allow_public");
	FILE_ERROR("{\"api_keys\": \"0123456789abcdef\"}", "api_keys");
	FILE_ERROR("{\"api_keys\": [5]}", "api_keys[0]");
	FILE_ERROR("{\"api_keys\": [{\"name\": \"a\"}]}", "api_keys[0].key");
	FILE_ERROR("{\"api_keys\": [{\"nam\": \"a\", \"key\": \"0123456789abcdef\"}]}",
		   "api_keys[0].nam");
	FILE_ERROR("{\"api_keys\": [\"0123456789abcdef\", \"0123456789abcdef\"]}", "api_keys[1]");
	FILE_ERROR("{\"api_keys\": [{\"name\": \"a\", \"key\": \"0123456789abcdef\"},"
		   "{\"name\": \"a\", \"key\": \"fedcba9876543210\"}]}",
		   "api_keys[1]");
	FILE_ERROR("{\"api_keys\": [\"has space 0123456789\"]}", "api_keys[0]");
	FILE_ERROR("[1]", "top level");
	FILE_ERROR("{\n\"slots\": 1,\n", "line 3");
	FILE_ERROR("{} {}", "JSON");
	FILE_ERROR("", "JSON");
}

TEST(short_key_is_not_printed)
{
	struct cfg c;
	struct sbx_error err = { 0 };

	write_config("{\"api_keys\": [\"hunter2secret\"]}");
	CHECK(LOAD(&c, &err, "--config", path) == -EINVAL);
	CHECK(strstr(err.msg, "api_keys[0]") != NULL);
	CHECK(strstr(err.msg, "hunter2") == NULL);
}

static void check_flag_error(char **argv, int argc, const char *needle, int line)
{
	struct cfg c;
	struct sbx_error err = { 0 };
	int r = cfg_load(argc, argv, &c, &err);

	if (r != -EINVAL || !strstr(err.msg, needle)) {
		fprintf(stderr, "  line %d: -> %d: %s (wanted \"%s\")\n", line, r, err.msg, needle);
		unit_failed_checks++;
	}
	if (r == 0)
		cfg_free(&c);
}

#define FLAG_ERROR(needle, ...)                                                                    \
	check_flag_error(ARGV(__VA_ARGS__), ARGC(__VA_ARGS__), needle, __LINE__)

TEST(flag_errors_name_the_flag)
{
	FLAG_ERROR("--bogus", "--bogus");
	FLAG_ERROR("-x", "-x");
	FLAG_ERROR("--slots", "--slots", "abc");
	FLAG_ERROR("--slots", "--slots", "2000");
	FLAG_ERROR("--slots", "--slots=-1");
	FLAG_ERROR("--slots", "--slots", "");
	FLAG_ERROR("--queue", "--queue", "1e3");
	FLAG_ERROR("--listen", "--listen");
	FLAG_ERROR("--listen", "--listen", "localhost");
	FLAG_ERROR("--allow-public", "--allow-public=yes");
	FLAG_ERROR("--state-dir", "--state-dir=");
	FLAG_ERROR("stray", "stray");
	FLAG_ERROR("stray", "--slots", "2", "stray");
}

TEST(public_listen_needs_keys)
{
	struct cfg c;
	struct sbx_error err = { 0 };

	CHECK(LOAD(&c, &err, "--listen", "0.0.0.0:8080") == -EINVAL);
	CHECK(err.code == EINVAL);
	CHECK(strstr(err.msg, "api_keys") && strstr(err.msg, "--allow-public"));
	CHECK(LOAD(&c, &err, "--listen", "[::]:8080") == -EINVAL);
	CHECK(LOAD(&c, &err, "--listen", "192.168.1.5:80") == -EINVAL);

	CHECK(LOAD(&c, &err, "--listen", "0.0.0.0:8080", "--allow-public") == 0);
	CHECK(c.allow_public && !cfg_listen_is_loopback(&c));
	cfg_free(&c);

	write_config("{\"listen\": \"0.0.0.0:80\", \"api_keys\": [\"0123456789abcdef\"]}");
	CHECK(LOAD(&c, &err, "--config", path) == 0);
	CHECK(c.n_keys == 1 && c.listen_port == 80);
	cfg_free(&c);

	write_config("{\"allow_public\": true}");
	CHECK(LOAD(&c, &err, "--config", path, "--listen", "10.0.0.1:8080") == 0);
	cfg_free(&c);

	/* all of 127.0.0.0/8 is loopback; localhost means 127.0.0.1 */
	CHECK(LOAD(&c, &err, "--listen", "127.1.2.3:8080") == 0);
	cfg_free(&c);
	CHECK(LOAD(&c, &err, "--listen", "localhost:8081") == 0);
	CHECK_STREQ(c.listen_addr, "127.0.0.1");
	CHECK(c.listen_port == 8081);
	cfg_free(&c);
}

TEST(ipv6_listen)
{
	struct cfg c;
	struct sbx_error err = { 0 };

	CHECK(LOAD(&c, &err, "--listen", "[::1]:8443") == 0);
	CHECK_STREQ(c.listen_addr, "::1");
	CHECK(c.listen_port == 8443);
	CHECK(cfg_listen_is_loopback(&c));
	cfg_free(&c);
	CHECK(LOAD(&c, &err, "--listen", "[2001:db8::1]:443", "--allow-public") == 0);
	CHECK_STREQ(c.listen_addr, "2001:db8::1");
	CHECK(c.listen_port == 443);
	CHECK(!cfg_listen_is_loopback(&c));
	cfg_free(&c);
}

TEST(loopback_check)
{
	static const struct {
		const char *addr;
		bool loopback;
	} cases[] = {
		{ "127.0.0.1", true },	      { "127.255.255.254", true },
		{ "localhost", true },	      { "::1", true },
		{ "::ffff:127.0.0.1", true }, { "128.0.0.1", false },
		{ "0.0.0.0", false },	      { "::", false },
		{ "10.0.0.1", false },	      { "::ffff:10.0.0.1", false },
		{ "not-an-address", false },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct cfg c = { .listen_addr = (char *)cases[i].addr };

		if (cfg_listen_is_loopback(&c) != cases[i].loopback) {
			fprintf(stderr, "  %s: wrong answer\n", cases[i].addr);
			unit_failed_checks++;
		}
	}
	{
		struct cfg none = { 0 };

		CHECK(!cfg_listen_is_loopback(&none));
	}
}

TEST(config_paths)
{
	struct cfg c;
	struct sbx_error err = { 0 };

	/* an explicit file must exist */
	CHECK(LOAD(&c, &err, "--config", absent) == -ENOENT);
	CHECK(strstr(err.msg, absent) != NULL);
	/* the default path may be missing: defaults apply */
	CHECK(setenv("SANDBOXD_CONFIG", absent, 1) == 0);
	CHECK(LOAD(&c, &err) == 0);
	CHECK(!c.from_file && c.host_fallback);
	cfg_free(&c);
	/* ... and is read when it is there */
	write_config("{\"queue_max\": 17}");
	CHECK(setenv("SANDBOXD_CONFIG", path, 1) == 0);
	CHECK(LOAD(&c, &err) == 0);
	CHECK(c.from_file && c.queue_max == 17);
	cfg_free(&c);
	/* a broken default file is an error like any other */
	write_config("{\"queue_max\": \"x\"}");
	CHECK(LOAD(&c, &err) == -EINVAL);
	CHECK(strstr(err.msg, "queue_max") != NULL);
	CHECK(setenv("SANDBOXD_CONFIG", absent, 1) == 0);
	/* a directory is not a config file */
	CHECK(LOAD(&c, &err, "--config", dir) == -EINVAL);
	CHECK(strstr(err.msg, dir) != NULL);
}

TEST(help_and_usage)
{
	static const char *const flags[] = { "--listen",	"--config",	  "--state-dir",
					     "--slots",		"--queue",	  "--profile-dir",
					     "--cgroup-parent", "--allow-public", "--help" };
	struct cfg c;
	struct sbx_error err = { 0 };

	CHECK(LOAD(&c, &err, "--slots", "4", "--help") == 1);
	CHECK(c.listen_addr == NULL && c.state_dir == NULL); /* fills nothing */
	for (size_t i = 0; i < ELEMENTSOF(flags); i++)
		CHECK(strstr(cfg_usage, flags[i]) != NULL);
}

TEST(repeated_loads_start_over)
{
	struct cfg a, b;
	struct sbx_error err = { 0 };

	/* getopt keeps global state: the second call must see its own arguments from the start */
	CHECK(LOAD(&a, &err, "--slots", "7", "--queue", "3") == 0);
	CHECK(LOAD(&b, &err, "--queue", "4") == 0);
	CHECK(a.slots == 7 && a.queue_max == 3);
	CHECK(b.queue_max == 4);
	CHECK(b.slots == (unsigned)sysconf(_SC_NPROCESSORS_ONLN)); /* not the 7 from before */
	cfg_free(&a);
	cfg_free(&b);
}

TEST(cleanup)
{
	unlink(path);
	CHECK(rmdir(dir) == 0);
}

int main(void)
{
	RUN(setup);
	RUN(defaults);
	RUN(file_with_every_key);
	RUN(host_fallback_follows_the_file);
	RUN(flags_override_the_file);
	RUN(file_errors_name_the_key);
	RUN(short_key_is_not_printed);
	RUN(flag_errors_name_the_flag);
	RUN(public_listen_needs_keys);
	RUN(ipv6_listen);
	RUN(loopback_check);
	RUN(config_paths);
	RUN(help_and_usage);
	RUN(repeated_loads_start_over);
	RUN(cleanup);
	UNIT_END();
}
