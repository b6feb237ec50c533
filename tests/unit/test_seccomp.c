/* SPDX-License-Identifier: MIT */
/*
 * test_seccomp.c - the profile compiler's errors, and what the shipped profile does to a real
 * process: each probe runs in a forked child that sets no_new_privs, installs the filter, makes
 * one syscall and reports the result (0 or -errno) through a pipe; the parent also checks how
 * the child ended (SIGSYS for the killed ABIs).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h> /* PATH_MAX: <limits.h> is shadowed by sandbox/limits.h under -Isandbox */
#include <linux/netlink.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seccomp.h"
#include "unit.h"
#include "util.h"

#define KILLED	       INT32_MIN /* expectation: the child dies of SIGSYS */
#define INSTALL_FAILED INT32_MAX /* the child could not install the filter */
#define NO_RESULT      (INT32_MAX - 1)

static struct seccomp_prog shipped;
static int shipped_rc;
static char profile_path[PATH_MAX];

struct probe {
	const char *name;
	int (*fn)(void);
	int expect; /* 0 = success, -errno, or KILLED */
};

/* build/unit/test_seccomp -> <repo>/profiles/security/seccomp.json */
static int find_profile(void)
{
	ssize_t n = readlink("/proc/self/exe", profile_path, sizeof(profile_path) - 1);

	if (n < 0)
		return -errno;
	profile_path[n] = '\0';
	for (int up = 0; up < 3; up++) {
		char *slash = strrchr(profile_path, '/');
		if (!slash)
			return -ENOENT;
		*slash = '\0';
	}
	strncat(profile_path, "/profiles/security/seccomp.json",
		sizeof(profile_path) - strlen(profile_path) - 1);
	return 0;
}

static int rc(long r)
{
	return r < 0 ? -errno : 0;
}

/* Fork, filter, run fn; returns fn's result, KILLED on SIGSYS, or a sentinel. */
static int run_probe(const struct seccomp_prog *prog, int (*fn)(void))
{
	int fds[2], status, res = NO_RESULT;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return NO_RESULT;
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_install(prog) < 0)
			res = INSTALL_FAILED;
		else
			res = fn();
		(void)!write(fds[1], &res, sizeof(res));
		_exit(0);
	}
	close(fds[1]);
	if (pid < 0 || read(fds[0], &res, sizeof(res)) != sizeof(res))
		res = NO_RESULT;
	close(fds[0]);
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
	    WTERMSIG(status) == SIGSYS)
		res = KILLED;
	return res;
}

static void check_probes(const struct seccomp_prog *prog, const struct probe *probes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int got = run_probe(prog, probes[i].fn);

		if (got != probes[i].expect)
			fprintf(stderr, "  probe %s: got %d, want %d\n", probes[i].name, got,
				probes[i].expect);
		CHECK(got == probes[i].expect);
	}
}

/* ---- probes ---- */

static int p_getpid(void)
{
	return rc(getpid());
}

static int p_socket(int family, int type, int proto)
{
	return rc(socket(family, type | SOCK_CLOEXEC, proto));
}

static int p_af_unix(void)
{
	return p_socket(AF_UNIX, SOCK_STREAM, 0);
}

static int p_af_inet(void)
{
	return p_socket(AF_INET, SOCK_STREAM, 0);
}

static int p_af_inet6(void)
{
	return p_socket(AF_INET6, SOCK_DGRAM, 0);
}

static int p_af_alg(void)
{
	return p_socket(AF_ALG, SOCK_SEQPACKET, 0);
}

/* The kernel truncates family to int: a filter must not be fooled by the upper 32 bits. */
static int p_af_alg_highbits(void)
{
	return rc(syscall(SYS_socket, (1UL << 32) | AF_ALG, SOCK_SEQPACKET, 0));
}

/* Same trick on an allowed family: the EQ rule sees 64 bits, so this is refused too. */
static int p_af_unix_highbits(void)
{
	return rc(syscall(SYS_socket, (1UL << 32) | AF_UNIX, SOCK_STREAM, 0));
}

static int p_af_packet(void)
{
	return p_socket(AF_PACKET, SOCK_RAW, 0);
}

static int p_af_vsock(void)
{
	return p_socket(AF_VSOCK, SOCK_STREAM, 0);
}

static int p_netlink_route(void)
{
	return p_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
}

static int p_netlink_audit(void)
{
	return p_socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
}

static int p_unshare_user(void)
{
	return rc(unshare(CLONE_NEWUSER));
}

static int p_clone_newuser(void)
{
	long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);

	if (r == 0)
		_exit(0);
	return rc(r);
}

static int p_clone3(void)
{
	return rc(syscall(SYS_clone3, NULL, 0));
}

static int p_io_uring(void)
{
	return rc(syscall(SYS_io_uring_setup, 1, NULL));
}

static int p_keyctl(void)
{
	return rc(syscall(SYS_keyctl, 0, 0, 0, 0, 0));
}

static int p_mount(void)
{
	return rc(mount("none", "/tmp", "tmpfs", 0, NULL));
}

static int p_personality_aslr(void)
{
	return rc(personality(ADDR_NO_RANDOMIZE));
}

static int p_personality_query(void)
{
	return rc(personality(0xffffffff));
}

static int p_process_vm_readv(void)
{
	char src[8] = "ptrace", dst[8];
	struct iovec l = { dst, sizeof(dst) }, r = { src, sizeof(src) };

	return rc(process_vm_readv(getpid(), &l, 1, &r, 1, 0));
}

/* Newer than any syscall this libseccomp knows: the stub's ENOSYS, not the default EPERM. */
static int p_syscall_1000(void)
{
	return rc(syscall(1000));
}

/* i386 getpid (20) through the 32-bit entry of a 64-bit process. */
static int p_int80(void)
{
	long ret = 20;

	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory", "r8", "r9", "r10", "r11");
	return ret < 0 ? (int)ret : 0;
}

/* x32 getpid: 39 | __X32_SYSCALL_BIT. */
static int p_x32(void)
{
	return rc(syscall(39 | 0x40000000));
}

static int p_getppid_30(void)
{
	return rc(syscall(SYS_getppid, 0x30));
}

static int p_getppid_20(void)
{
	return rc(syscall(SYS_getppid, 0x20));
}

/* ---- helpers for broken profiles ---- */

static int compile_text(const char *json, struct seccomp_prog *prog, struct sbx_error *err)
{
	char path[] = "/tmp/test_seccomp_XXXXXX";
	int fd = mkstemp(path), r;

	if (fd < 0)
		return -errno;
	r = sbx_write_all(fd, json, strlen(json));
	close(fd);
	if (r >= 0)
		r = seccomp_compile_file(path, prog, err);
	unlink(path);
	return r;
}

static void check_rejected(const char *json, const char *want)
{
	struct seccomp_prog prog;
	struct sbx_error err = { 0 };
	int r = compile_text(json, &prog, &err);

	CHECK(r == -EINVAL);
	CHECK(err.code == EINVAL);
	CHECK(prog.filter == NULL && prog.len == 0);
	if (!strstr(err.msg, want))
		fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err.msg, want);
	CHECK(strstr(err.msg, want) != NULL);
}

#define RULE_HEAD "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"getpid\"],"

/* ---- tests ---- */

TEST(shipped_profile_compiles)
{
	CHECK(shipped_rc == 0);
	CHECK(shipped.filter != NULL);
	CHECK(shipped.len > 6 && shipped.len <= 4096);
}

TEST(broken_profiles_are_rejected)
{
	check_rejected("{\"defaultAction\": ", "invalid JSON");
	check_rejected("[]", "not a JSON object");
	check_rejected("{\"syscalls\":[]}", "defaultAction: missing");
	check_rejected("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"action\":"
		       "\"SCMP_ACT_ALLOW\"}]}",
		       "syscalls[0].names: missing");
	check_rejected(RULE_HEAD "\"action\":\"SCMP_ACT_FOO\"}]}",
		       "syscalls[0].action: unknown action \"SCMP_ACT_FOO\"");
	check_rejected(RULE_HEAD "\"action\":\"SCMP_ACT_ALLOW\","
				 "\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_FOO\"}]}]}",
		       "syscalls[0].args[0].op: unknown operator \"SCMP_CMP_FOO\"");
	check_rejected(RULE_HEAD "\"action\":\"SCMP_ACT_ALLOW\","
				 "\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
		       "syscalls[0].args[0].index: not an integer in [0, 5]");
	/* A typo must not turn a conditional rule into an unconditional ALLOW. */
	check_rejected(RULE_HEAD "\"action\":\"SCMP_ACT_ALLOW\",\"arg\":[]}]}",
		       "syscalls[0].arg: unknown key");
	check_rejected(RULE_HEAD "\"action\":\"SCMP_ACT_ALLOW\",\"errnoRet\":1}]}",
		       "syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO");
	check_rejected(RULE_HEAD
		       "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"4\"}}]}",
		       "syscalls[0].includes.minKernel: \"4\" is not MAJOR.MINOR");
	check_rejected("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":5000,"
		       "\"syscalls\":[]}",
		       "defaultErrnoRet: not an integer in [0, 4095]");
}

TEST(missing_file)
{
	struct seccomp_prog prog;
	struct sbx_error err = { 0 };

	CHECK(seccomp_compile_file("/nonexistent/seccomp.json", &prog, &err) == -ENOENT);
	CHECK(strstr(err.msg, "/nonexistent/seccomp.json") != NULL);
	CHECK(seccomp_install(NULL) == -EINVAL);
	seccomp_prog_done(&prog);
	seccomp_prog_done(NULL);
}

TEST(shipped_profile_behaviour)
{
	static const struct probe probes[] = {
		{ "getpid", p_getpid, 0 },
		{ "socket(AF_UNIX)", p_af_unix, 0 },
		{ "socket(AF_INET)", p_af_inet, 0 },
		{ "socket(AF_INET6)", p_af_inet6, 0 },
		{ "socket(AF_NETLINK, NETLINK_ROUTE)", p_netlink_route, 0 },
		{ "socket(AF_NETLINK, NETLINK_AUDIT)", p_netlink_audit, -EPERM },
		{ "socket(AF_ALG)", p_af_alg, -EPERM },
		{ "socket(AF_ALG | 1<<32)", p_af_alg_highbits, -EPERM },
		{ "socket(AF_UNIX | 1<<32)", p_af_unix_highbits, -EPERM },
		{ "socket(AF_PACKET)", p_af_packet, -EPERM },
		{ "socket(AF_VSOCK)", p_af_vsock, -EPERM },
		{ "unshare(CLONE_NEWUSER)", p_unshare_user, -EPERM },
		{ "clone(CLONE_NEWUSER)", p_clone_newuser, -EPERM },
		{ "clone3", p_clone3, -ENOSYS },
		{ "io_uring_setup", p_io_uring, -EPERM },
		{ "keyctl", p_keyctl, -EPERM },
		{ "mount", p_mount, -EPERM },
		{ "personality(ADDR_NO_RANDOMIZE)", p_personality_aslr, -EPERM },
		{ "personality(0xffffffff)", p_personality_query, 0 },
		{ "process_vm_readv(self)", p_process_vm_readv, 0 },
		{ "syscall(1000)", p_syscall_1000, -ENOSYS },
		{ "int $0x80 getpid", p_int80, KILLED },
		{ "x32 getpid", p_x32, KILLED },
	};

	if (shipped_rc < 0)
		SKIP("the shipped profile did not compile");
	check_probes(&shipped, probes, ELEMENTSOF(probes));
}

/* errnoRet, MASKED_EQ with valueTwo, KILL_PROCESS, and a default-allow profile. */
TEST(actions_and_masked_eq)
{
	static const char json[] =
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		"{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":22,"
		"\"args\":[{\"index\":0,\"value\":240,\"valueTwo\":48,\"op\":\"SCMP_CMP_MASKED_EQ\"}]},"
		"{\"names\":[\"getpid\",\"no_such_syscall\",\"chown32\"],"
		"\"action\":\"SCMP_ACT_KILL_PROCESS\"},"
		"{\"names\":[\"gettid\"],\"action\":\"SCMP_ACT_ERRNO\","
		"\"includes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}}]}";
	static const struct probe probes[] = {
		{ "getppid(0x30)", p_getppid_30, -EINVAL },
		{ "getppid(0x20)", p_getppid_20, 0 },
		{ "getpid", p_getpid, KILLED },
		{ "socket(AF_UNIX)", p_af_unix, 0 },
	};
	struct seccomp_prog prog;
	struct sbx_error err = { 0 };

	CHECK(compile_text(json, &prog, &err) == 0);
	if (prog.filter)
		check_probes(&prog, probes, ELEMENTSOF(probes));
	seccomp_prog_done(&prog);
	CHECK(prog.filter == NULL);
}

int main(void)
{
	struct sbx_error err = { 0 };
	struct timespec a, b;

	if (find_profile() < 0) {
		fprintf(stderr, "cannot locate profiles/security/seccomp.json\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	shipped_rc = seccomp_compile_file(profile_path, &shipped, &err);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (shipped_rc < 0)
		fprintf(stderr, "  %s\n", err.msg);
	else
		printf("# %s: %u BPF instructions, compiled in %.2f ms\n", profile_path,
		       shipped.len, (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);

	RUN(shipped_profile_compiles);
	RUN(broken_profiles_are_rejected);
	RUN(missing_file);
	RUN(shipped_profile_behaviour);
	RUN(actions_and_masked_eq);
	seccomp_prog_done(&shipped);
	UNIT_END();
}
