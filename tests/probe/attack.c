/* SPDX-License-Identifier: MIT */
/*
 * attack.c - the attack catalogue T21-T52 (docker-profile.md §9 C, D, E), run from inside the jail.
 *
 *   attack tNN [ARG...]   try the attacks of catalogue entry NN and print ONE JSON object with
 *                         what was observed: {"mount":"EPERM", ...}. "OK" means the call
 *                         succeeded; a forked attempt that died reads "killed:SIGSYS".
 *   attack abi            (safe anywhere) whether this kernel runs int 0x80 / x32 syscalls.
 *   attack swap DIR A B MS  (host side of T46) swap two names in DIR for MS ms, racing setup.
 *
 * It only observes: the test scripts decide what is acceptable. Where possible an attempt is
 * harmless even if the kernel lets it through (bad magic for reboot, bad fds for kexec and
 * finit_module, the current hostname for sethostname, open-for-write without writing for /proc
 * and /sys files); others (unmounting /proc, kill(-1), mknod) only make sense inside the jail.
 * So every subcommand that could change anything when run as root on a host refuses to run
 * unless this process is pid 2 (the job inside the sandbox's pid namespace) or
 * SANDBOXD_ATTACK_ANYWHERE=1 is set, e.g. inside a throwaway VM.
 * Static, no dependencies: the jail's rootfs may not have our libc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Every subcommand has the dispatch table's signature; most ignore their arguments. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

/* ---- one JSON object on stdout ------------------------------------------------------------ */

static char out[1 << 18];
static size_t out_len;
static int depth;
static bool need_comma[32];

static void put(const char *s, size_t n)
{
	if (out_len + n >= sizeof(out) - 64)
		return; /* bounded: a truncated value still leaves valid JSON (closers are short) */
	memcpy(out + out_len, s, n);
	out_len += n;
}

static void puts_raw(const char *s)
{
	put(s, strlen(s));
}

/* Bytes >= 0x80 become \u00XX so the output is valid UTF-8 whatever we read. */
static void put_str_n(const char *s, size_t n)
{
	char esc[8];

	puts_raw("\"");
	for (size_t i = 0; i < n && i < 2048; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c;
			put(esc, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(esc, 6);
		} else {
			put((const char *)&c, 1);
		}
	}
	puts_raw("\"");
}

static void put_str(const char *s)
{
	put_str_n(s, strlen(s));
}

static void sep(void)
{
	if (need_comma[depth])
		puts_raw(",");
	need_comma[depth] = true;
}

static void key(const char *k)
{
	sep();
	if (k) {
		put_str(k);
		puts_raw(":");
	}
}

static void obj_open(const char *k)
{
	key(k);
	puts_raw("{");
	need_comma[++depth] = false;
}

static void arr_open(const char *k)
{
	key(k);
	puts_raw("[");
	need_comma[++depth] = false;
}

static void obj_close(void)
{
	puts_raw("}");
	depth--;
}

static void arr_close(void)
{
	puts_raw("]");
	depth--;
}

static void v_str(const char *k, const char *v)
{
	key(k);
	put_str(v);
}

static void v_strn(const char *k, const char *v, size_t n)
{
	key(k);
	put_str_n(v, n);
}

static void v_int(const char *k, long long v)
{
	char buf[32];

	key(k);
	snprintf(buf, sizeof(buf), "%lld", v);
	puts_raw(buf);
}

static void v_bool(const char *k, bool v)
{
	key(k);
	puts_raw(v ? "true" : "false");
}

static const char *errname(int e)
{
	static char buf[16];
	const char *n = strerrorname_np(e);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* rc < 0: the errno's name; else "OK". Call right after the syscall. */
static void v_res(const char *k, long rc)
{
	v_str(k, rc < 0 ? errname(errno) : "OK");
}

/* Like v_res for calls returning an fd, which is closed. */
static void v_fd(const char *k, long fd)
{
	v_res(k, fd);
	if (fd >= 0)
		close((int)fd);
}

static void flush_out(void)
{
	puts_raw("\n");
	fwrite(out, 1, out_len, stdout);
	fflush(stdout);
}

/* ---- small helpers ----------------------------------------------------------------------- */

/*
 * Run fn in a forked child so a success cannot change this process (a new namespace, a chroot).
 * fn returns 0 or -1 with errno. Outcome: "OK", the errno name, or "killed:SIGxxx".
 */
static void v_child(const char *k, int (*fn)(long), long arg)
{
	char buf[32];
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		v_str(k, "fork failed");
		return;
	}
	if (pid == 0)
		_exit(fn(arg) < 0 ? errno & 0xff : 0);
	if (waitpid(pid, &status, 0) < 0) {
		v_str(k, "waitpid failed");
		return;
	}
	if (WIFSIGNALED(status)) {
		snprintf(buf, sizeof(buf), "killed:SIG%s", sigabbrev_np(WTERMSIG(status)));
		v_str(k, buf);
	} else {
		v_str(k, WEXITSTATUS(status) ? errname(WEXITSTATUS(status)) : "OK");
	}
}

static void v_open(const char *k, const char *path, int flags)
{
	v_fd(k, open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFCHR:
		return "chr";
	case S_IFBLK:
		return "blk";
	case S_IFIFO:
		return "fifo";
	default:
		return "sock";
	}
}

/* {"type":..., "rdev":"1:3", "mode":"0644", "uid":0} or the errno of lstat. */
static void v_stat(const char *k, const char *path)
{
	struct stat st;
	char buf[32];

	if (lstat(path, &st) < 0) {
		v_res(k, -1);
		return;
	}
	obj_open(k);
	v_str("type", type_name(st.st_mode));
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		snprintf(buf, sizeof(buf), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
		v_str("rdev", buf);
	}
	snprintf(buf, sizeof(buf), "%04o", (unsigned)(st.st_mode & 07777));
	v_str("mode", buf);
	v_int("uid", st.st_uid);
	obj_close();
}

/* Read up to max bytes of a file: {"bytes":N, "head":"..."} or the errno of open/read. */
static void v_read(const char *k, const char *path, size_t head)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		v_res(k, -1);
		return;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		v_res(k, -1);
		close(fd);
		return;
	}
	close(fd);
	obj_open(k);
	v_int("bytes", n);
	v_strn("head", buf, (size_t)n < head ? (size_t)n : head);
	obj_close();
}

/* Entries of a directory (without . and ..) as an array, or the errno of opendir. */
static void v_listdir(const char *k, const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d) {
		v_res(k, -1);
		return;
	}
	arr_open(k);
	while ((e = readdir(d)) && n++ < 512)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			v_str(NULL, e->d_name);
	arr_close();
	closedir(d);
}

/* statvfs flags of the mount holding path: {"ro":..,"nosuid":..,"nodev":..,"noexec":..}. */
static void v_mntflags(const char *k, const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) < 0) {
		v_res(k, -1);
		return;
	}
	obj_open(k);
	v_bool("ro", sv.f_flag & ST_RDONLY);
	v_bool("nosuid", sv.f_flag & ST_NOSUID);
	v_bool("nodev", sv.f_flag & ST_NODEV);
	v_bool("noexec", sv.f_flag & ST_NOEXEC);
	obj_close();
}

static void v_fsmagic(const char *k, const char *path)
{
	struct statfs sf;
	char buf[24];

	if (statfs(path, &sf) < 0) {
		v_res(k, -1);
		return;
	}
	snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)sf.f_type);
	v_str(k, buf);
}

static void v_readlink(const char *k, const char *path)
{
	char buf[4096];
	ssize_t n = readlink(path, buf, sizeof(buf));

	if (n < 0)
		v_res(k, -1);
	else
		v_strn(k, buf, (size_t)n);
}

static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		for (int i = 0; i < 600; i++)
			sleep(1);
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* A scratch directory in /tmp for attempts that need a target (mount points, links). */
static const char *scratch_dir(void)
{
	static char dir[] = "/tmp/sbx-attack-XXXXXX";
	static bool made;

	if (!made && mkdtemp(dir))
		made = true;
	return dir;
}

/* ---- C: kernel attack surface via syscalls ----------------------------------------------- */

struct sbx_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static void t21(int argc, char **argv)
{
	const char *dir = scratch_dir();
	struct sbx_mount_attr ma = { .attr_clr = 0x1 /* MOUNT_ATTR_RDONLY */ };
	long r;

	r = mount("none", dir, "tmpfs", 0, NULL);
	v_res("mount", r);
	if (r == 0)
		umount2(dir, MNT_DETACH);
	v_res("mount_remount_rw", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
	v_res("mount_bind_proc", mount("/proc", dir, NULL, MS_BIND, NULL));
	/* An unmount would uncover what the masks hide (/proc/timer_list under its /dev/null). */
	v_res("umount2", umount2("/proc/timer_list", MNT_DETACH));
	v_res("umount2_proc", umount2("/proc", MNT_DETACH));
	v_res("umount", umount(dir));
	v_fd("fsopen", syscall(SYS_fsopen, "proc", 0));
	v_fd("fsopen_tmpfs", syscall(SYS_fsopen, "tmpfs", 0));
	v_fd("fspick", syscall(SYS_fspick, AT_FDCWD, "/", 0));
	v_res("fsconfig", syscall(SYS_fsconfig, -1, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0));
	v_fd("fsmount", syscall(SYS_fsmount, -1, 0, 0));
	v_fd("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */));
	v_res("move_mount", syscall(SYS_move_mount, -1, "", AT_FDCWD, dir, 4 /* F_EMPTY_PATH */));
	v_res("mount_setattr", syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, &ma, sizeof(ma)));
	v_res("pivot_root", syscall(SYS_pivot_root, ".", "."));
	rmdir(dir);
}

static int try_unshare(long flags)
{
	return unshare((int)flags);
}

/* Raw clone without CLONE_VM behaves like fork: the child leaves at once. */
static int try_clone(long flags)
{
	long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);

	if (r == 0)
		syscall(SYS_exit_group, 0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	return r < 0 ? -1 : 0;
}

static int try_clone3(long flags)
{
	uint64_t args[11] = { (uint64_t)flags, 0, 0, 0, SIGCHLD };
	long r = syscall(SYS_clone3, args, sizeof(args));

	if (r == 0)
		syscall(SYS_exit_group, 0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	return r < 0 ? -1 : 0;
}

static void t22(int argc, char **argv)
{
	static const struct {
		const char *name;
		long flags;
	} ns[] = {
		{ "user_mnt", CLONE_NEWUSER | CLONE_NEWNS },
		{ "user", CLONE_NEWUSER },
		{ "mnt", CLONE_NEWNS },
		{ "net", CLONE_NEWNET },
		{ "pid", CLONE_NEWPID },
		{ "ipc", CLONE_NEWIPC },
		{ "uts", CLONE_NEWUTS },
		{ "cgroup", CLONE_NEWCGROUP },
		{ "time", CLONE_NEWTIME },
		{ "files", CLONE_FILES },
	};
	char k[32];

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		snprintf(k, sizeof(k), "unshare_%s", ns[i].name);
		v_child(k, try_unshare, ns[i].flags);
	}
	v_child("clone_user", try_clone, CLONE_NEWUSER);
	v_child("clone_net", try_clone, CLONE_NEWNET);
	v_child("clone_plain", try_clone, 0);
	v_child("clone3_user", try_clone3, CLONE_NEWUSER);
	v_child("clone3_plain", try_clone3, 0);
}

static int try_setns(long fd)
{
	return setns((int)fd, 0);
}

static void t23(int argc, char **argv)
{
	static const char *const nss[] = { "net", "mnt", "pid",	   "user",
					   "uts", "ipc", "cgroup", "time" };
	char path[64], k[48];
	int fd;

	for (size_t i = 0; i < sizeof(nss) / sizeof(nss[0]); i++) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", nss[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		snprintf(k, sizeof(k), "setns_%s", nss[i]);
		if (fd < 0) {
			v_res(k, -1);
			continue;
		}
		v_child(k, try_setns, fd);
		close(fd);
	}
	v_open("open_pid1_ns_mnt", "/proc/1/ns/mnt", O_RDONLY);
	v_open("open_pid1_ns_net", "/proc/1/ns/net", O_RDONLY);
	fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	v_res("pidfd_open_self", fd);
	if (fd >= 0) {
		v_child("setns_pidfd", try_setns, fd);
		close(fd);
	}
}

static void ptrace_sibling(void)
{
	static volatile long secret = 0x5bd;
	long buf = 0;
	struct iovec l = { &buf, sizeof(buf) }, r = { (void *)&secret, sizeof(secret) };
	pid_t pid = spawn_sleeper();
	long rc;

	rc = ptrace(PTRACE_ATTACH, pid, 0, 0);
	v_res("attach_sibling", rc);
	if (rc == 0) {
		waitpid(pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, pid, 0, 0);
	}
	v_res("vm_readv_sibling", process_vm_readv(pid, &l, 1, &r, 1, 0));
	reap(pid);
}

static void t24(int argc, char **argv)
{
	long buf = 0;
	struct iovec l = { &buf, sizeof(buf) }, r = { (void *)0x400000, sizeof(buf) };
	pid_t host = argc > 2 ? atoi(argv[2]) : 0;

	ptrace_sibling();
	v_res("attach_pid1", ptrace(PTRACE_ATTACH, 1, 0, 0));
	v_res("seize_pid1", ptrace(PTRACE_SEIZE, 1, 0, 0));
	v_res("vm_readv_pid1", process_vm_readv(1, &l, 1, &r, 1, 0));
	v_res("kcmp_pid1", syscall(SYS_kcmp, getpid(), 1, 0 /* KCMP_FILE */, 0, 0));
	v_open("mem_pid1", "/proc/1/mem", O_RDONLY);
	if (host > 0) {
		v_res("attach_host", ptrace(PTRACE_ATTACH, host, 0, 0));
		v_res("vm_readv_host", process_vm_readv(host, &l, 1, &r, 1, 0));
	}
}

static void t25(int argc, char **argv)
{
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 1;
	v_fd("map_create", syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a)));
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insns = (uint64_t)(uintptr_t)prog;
	a.insn_cnt = 2;
	a.license = (uint64_t)(uintptr_t) "GPL";
	v_fd("prog_load", syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a)));
}

static void t26(int argc, char **argv)
{
	v_res("add_key", syscall(SYS_add_key, "user", "sbx-t26", "x", 1, -2 /* process */));
	v_res("keyctl_join", syscall(SYS_keyctl, 1 /* JOIN_SESSION_KEYRING */, NULL));
	v_res("keyctl_get_id", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
	v_res("request_key", syscall(SYS_request_key, "user", "sbx-t26", NULL, 0));
}

static void perf_try(const char *k, uint32_t type, uint64_t config)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = type;
	a.config = config;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	v_fd(k, syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
}

static void t27(int argc, char **argv)
{
	perf_try("hw_cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES);
	perf_try("sw_cpu_clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK);
	perf_try("tracepoint", PERF_TYPE_TRACEPOINT, 1);
}

/* Arguments are invalid past the privilege check: harmless even where allowed. */
static void t28(int argc, char **argv)
{
	v_res("kexec_load", syscall(SYS_kexec_load, 0, 1000, NULL, 0));
	v_res("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
	v_res("reboot",
	      syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, 0, LINUX_REBOOT_CMD_RESTART, NULL));
	v_res("swapon", syscall(SYS_swapon, "/sbx-no-such-swap", 0));
	v_res("swapoff", syscall(SYS_swapoff, "/sbx-no-such-swap"));
	v_res("acct", syscall(SYS_acct, NULL));
	v_res("iopl", syscall(SYS_iopl, 0));
	v_res("ioperm", syscall(SYS_ioperm, 0x80, 1, 0));
	v_res("vhangup", syscall(SYS_vhangup));
	v_res("quotactl", syscall(SYS_quotactl, 0, "/", 0, NULL));
}

static void t29(int argc, char **argv)
{
	v_read("modules_before", "/proc/modules", 0);
	v_res("init_module", syscall(SYS_init_module, NULL, 0, ""));
	v_res("finit_module", syscall(SYS_finit_module, -1, "", 0));
	v_res("delete_module", syscall(SYS_delete_module, "sbx_no_such_module", O_NONBLOCK));
	v_read("modules_after", "/proc/modules", 0);
}

static void t30(int argc, char **argv)
{
	v_fd("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
	v_open("dev_userfaultfd", "/dev/userfaultfd", O_RDWR);
}

static void t31(int argc, char **argv)
{
	char params[256] = { 0 };

	v_fd("io_uring_setup", syscall(SYS_io_uring_setup, 8, params));
	v_res("io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
	v_res("io_uring_register", syscall(SYS_io_uring_register, -1, 0, NULL, 0));
}

struct sbx_file_handle {
	unsigned int handle_bytes;
	int handle_type;
	unsigned char f_handle[128];
};

static void t32(int argc, char **argv)
{
	struct sbx_file_handle fh = { .handle_bytes = 128 };
	/* "Shocker": ext4's root directory is inode 2, generation 0. */
	struct sbx_file_handle guess = { .handle_bytes = 8, .handle_type = 1, .f_handle = { 2 } };
	int mount_id, root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long r;

	r = syscall(SYS_name_to_handle_at, AT_FDCWD, "/etc", &fh, &mount_id, 0);
	v_res("name_to_handle_at", r);
	if (r == 0)
		v_fd("open_by_handle_at", syscall(SYS_open_by_handle_at, root, &fh, O_RDONLY));
	v_fd("open_by_handle_at_guess", syscall(SYS_open_by_handle_at, root, &guess, O_RDONLY));
	close(root);
}

static void t33(int argc, char **argv)
{
	struct timespec bad = { 0, -1 }, before, after;
	struct timex tx;
	int fd;

	clock_gettime(CLOCK_REALTIME, &before);
	v_res("settimeofday", syscall(SYS_settimeofday, NULL, NULL));
	v_res("clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, &bad));
	memset(&tx, 0, sizeof(tx));
	v_res("adjtimex_read", adjtimex(&tx));
	memset(&tx, 0, sizeof(tx));
	tx.modes = ADJ_SETOFFSET | ADJ_NANO; /* a zero offset: harmless where allowed */
	v_res("adjtimex_setoffset", adjtimex(&tx));
	memset(&tx, 0, sizeof(tx));
	tx.modes = ADJ_SETOFFSET | ADJ_NANO;
	v_res("clock_adjtime", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	v_res("timens_offsets_open", fd);
	if (fd >= 0) {
		v_res("timens_offsets_write", write(fd, "monotonic 0 0\n", 14));
		close(fd);
	}
	clock_gettime(CLOCK_REALTIME, &after);
	v_int("realtime_s", after.tv_sec);
	v_int("elapsed_ms",
	      (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000);
}

static void t34(int argc, char **argv)
{
	struct utsname u;

	uname(&u);
	v_str("nodename", u.nodename);
	/* The current names: no change even where allowed. */
	v_res("sethostname", sethostname(u.nodename, strlen(u.nodename)));
	v_res("setdomainname", setdomainname(u.domainname, strlen(u.domainname)));
	v_open("etc_hostname", "/etc/hostname", O_WRONLY);
	v_open("proc_hostname", "/proc/sys/kernel/hostname", O_WRONLY);
	uname(&u);
	v_str("nodename_after", u.nodename);
}

static int try_personality(long p)
{
	return personality((unsigned long)p) == -1 ? -1 : 0;
}

static int try_int80(long unused)
{
	long ret;

	/* i386 getpid (20) through the 32-bit entry. */
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return 0;
}

static int try_x32(long unused)
{
	return syscall(0x40000000L | SYS_getpid) < 0 ? -1 : 0;
}

static void t35(int argc, char **argv)
{
	v_child("addr_no_randomize", try_personality, ADDR_NO_RANDOMIZE);
	v_child("read_implies_exec", try_personality, READ_IMPLIES_EXEC);
	v_child("per_linux", try_personality, PER_LINUX);
	v_child("per_linux32", try_personality, PER_LINUX32);
	v_child("query", try_personality, 0xffffffffL);
	v_child("int80", try_int80, 0);
	v_child("x32", try_x32, 0);
}

static void abi(int argc, char **argv)
{
	v_child("int80", try_int80, 0);
	v_child("x32", try_x32, 0);
}

static void t36(int argc, char **argv)
{
	static const char *const files[] = { "kcore",	    "keys",	  "timer_list",
					     "sched_debug", "interrupts", "latency_stats",
					     "timer_stats" };
	static const char *const dirs[] = { "acpi", "asound", "scsi" };
	char path[64];

	obj_open("masked");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "/proc/%s", files[i]);
		obj_open(files[i]);
		v_stat("stat", path);
		v_read("read", path, 64);
		obj_close();
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "/proc/%s", dirs[i]);
		v_listdir(dirs[i], path);
	}
	obj_close();
	v_read("kallsyms", "/proc/kallsyms", 512);
	v_res("syslog_size", klogctl(10 /* SIZE_BUFFER */, NULL, 0));
	v_res("syslog_read_all", klogctl(3 /* READ_ALL */, (char[64]){ 0 }, 64));
	v_open("dev_kmsg", "/dev/kmsg", O_RDONLY);
	v_stat("sys", "/sys");
	v_stat("sys_firmware", "/sys/firmware");
	v_stat("powercap", "/sys/devices/virtual/powercap");
}

/* ---- D: filesystem, devices and proc/sys ------------------------------------------------- */

static void first_irq_affinity(char *path, size_t len)
{
	DIR *d = opendir("/proc/irq");
	struct dirent *e;

	snprintf(path, len, "/proc/irq/0/smp_affinity");
	while (d && (e = readdir(d)))
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9') {
			snprintf(path, len, "/proc/irq/%.16s/smp_affinity", e->d_name);
			break;
		}
	if (d)
		closedir(d);
}

/* Open for writing only: never write, so nothing changes even where the open succeeds. */
static void t37(int argc, char **argv)
{
	static const char *const ro[] = { "/proc/sys", "/proc/sysrq-trigger", "/proc/irq",
					  "/proc/bus", "/proc/fs" };
	char irq[64];

	v_read("core_pattern", "/proc/sys/kernel/core_pattern", 256);
	obj_open("open_write");
	v_open("core_pattern", "/proc/sys/kernel/core_pattern", O_WRONLY);
	v_open("drop_caches", "/proc/sys/vm/drop_caches", O_WRONLY);
	v_open("shmmax", "/proc/sys/kernel/shmmax", O_WRONLY);
	v_open("sysrq_trigger", "/proc/sysrq-trigger", O_WRONLY);
	first_irq_affinity(irq, sizeof(irq));
	v_open("irq_affinity", irq, O_WRONLY);
	v_open("irq_default_affinity", "/proc/irq/default_smp_affinity", O_WRONLY);
	v_open("bus_input_devices", "/proc/bus/input/devices", O_WRONLY);
	v_open("bus_pci_devices", "/proc/bus/pci/devices", O_WRONLY);
	obj_close();
	obj_open("mount");
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		v_mntflags(ro[i], ro[i]);
	obj_close();
}

static void t38(int argc, char **argv)
{
	const char *dir = scratch_dir();
	long r;

	v_stat("sys", "/sys");
	v_open("uevent_helper", "/sys/kernel/uevent_helper", O_WRONLY);
	v_open("release_agent", "/sys/fs/cgroup/memory/release_agent", O_WRONLY);
	v_open("cgroup_procs", "/sys/fs/cgroup/pids/cgroup.procs", O_WRONLY);
	v_read("proc_self_cgroup", "/proc/self/cgroup", 4096);
	r = mount("cgroup", dir, "cgroup", 0, "memory");
	v_res("mount_cgroup", r);
	if (r == 0)
		umount2(dir, MNT_DETACH);
	r = mount("sysfs", dir, "sysfs", 0, NULL);
	v_res("mount_sysfs", r);
	if (r == 0)
		umount2(dir, MNT_DETACH);
	rmdir(dir);
}

static void mknod_try(const char *k, const char *path, mode_t mode, dev_t dev)
{
	long r = mknod(path, mode, dev);

	obj_open(k);
	v_res("mknod", r);
	if (r == 0) {
		v_open("open", path, O_RDONLY);
		unlink(path);
	}
	obj_close();
}

static void t39(int argc, char **argv)
{
	mknod_try("dev_sda", "/dev/sda", S_IFBLK | 0600, makedev(8, 0));
	mknod_try("tmp_mem", "/tmp/sbx-mem", S_IFCHR | 0600, makedev(1, 1));
	mknod_try("tmp_null", "/tmp/sbx-null", S_IFCHR | 0666, makedev(1, 3));
	mknod_try("shm_kmsg", "/dev/shm/sbx-kmsg", S_IFCHR | 0600, makedev(1, 11));
	mknod_try("tmp_blk", "/tmp/sbx-vda", S_IFBLK | 0600, makedev(253, 0));
	mknod_try("tmp_fifo", "/tmp/sbx-fifo", S_IFIFO | 0600, 0);
}

static void dev_entries(const char *k, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];
	int n = 0;

	if (!d) {
		v_res(k, -1);
		return;
	}
	obj_open(k);
	while ((e = readdir(d)) && n++ < 256) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		v_stat(e->d_name, path);
	}
	obj_close();
	closedir(d);
}

static void t40(int argc, char **argv)
{
	static const char *const bad[] = {
		"/dev/fuse", "/dev/net/tun", "/dev/kvm",	  "/dev/mem",	"/dev/kmem",
		"/dev/port", "/dev/kmsg",    "/dev/sda",	  "/dev/vda",	"/dev/console",
		"/dev/tty0", "/dev/loop0",   "/dev/loop-control", "/dev/vsock", "/dev/userfaultfd"
	};

	dev_entries("dev", "/dev");
	dev_entries("pts", "/dev/pts");
	v_readlink("ptmx_link", "/dev/ptmx");
	v_readlink("fd_link", "/dev/fd");
	obj_open("open");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		v_open(bad[i], bad[i], O_RDWR);
	v_open("/dev/ptmx", "/dev/ptmx", O_RDWR);
	v_open("/dev/null", "/dev/null", O_RDWR);
	obj_close();
	v_open("create_in_dev", "/dev/sbx-new", O_WRONLY | O_CREAT | O_EXCL);
	v_mntflags("dev_mount", "/dev");
	v_mntflags("shm_mount", "/dev/shm");
	v_mntflags("pts_mount", "/dev/pts");
}

static int try_chroot(long path)
{
	return chroot((const char *)path);
}

static int try_chroot_escape(long unused)
{
	if (mkdir("/tmp/sbx-chroot", 0700) < 0 && errno != EEXIST)
		return -1;
	if (chroot("/tmp/sbx-chroot") < 0)
		return -1;
	for (int i = 0; i < 64; i++)
		if (chdir("..") < 0)
			return -1;
	return chroot(".");
}

/* Mount points of this mount namespace (field 5 of mountinfo). */
static void v_mountpoints(const char *k)
{
	char line[4096], mp[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f) {
		v_res(k, -1);
		return;
	}
	arr_open(k);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1)
			v_str(NULL, mp);
	arr_close();
	fclose(f);
}

static void t41(int argc, char **argv)
{
	struct stat a, b;

	v_child("chroot", try_chroot, (long)"/tmp");
	v_child("chroot_escape", try_chroot_escape, 0);
	rmdir("/tmp/sbx-chroot");
	stat("/", &a);
	stat("/../../..", &b);
	v_bool("dotdot_is_root", a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	v_listdir("root", "/");
	v_mountpoints("mountpoints");
}

/* The credential lines of a /proc/PID/status text as {"Uid":"60000\t60000...", ...}. */
static void v_status_fields(const char *k, char *text)
{
	static const char *const keep[] = { "Name",   "Uid",	    "Gid",     "Groups",
					    "CapInh", "CapPrm",	    "CapEff",  "CapBnd",
					    "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters" };
	char *save = NULL;

	obj_open(k);
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(l, ':');
		if (!colon)
			continue;
		*colon = 0;
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
			if (!strcmp(l, keep[i]))
				v_str(l, colon + 1 + strspn(colon + 1, " \t"));
	}
	obj_close();
}

/* Start a setuid-root program with /dev/null as stdio; its pid or -errno. */
static pid_t spawn_setuid(const char *path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 3; i++)
		posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
	r = posix_spawn(&pid, path, &fa, NULL, (char *[]){ (char *)path, NULL },
			(char *[]){ NULL });
	posix_spawn_file_actions_destroy(&fa);
	return r ? -r : pid;
}

/* The credentials a started program runs with, read from /proc/PID/status, then reap it. */
static void v_creds_of(const char *k, pid_t pid)
{
	char path[64], buf[4096];
	ssize_t n = -1;
	int fd;

	if (pid < 0) {
		errno = -pid;
		v_res(k, -1);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	reap(pid);
	if (n < 0) {
		v_res(k, -1);
		return;
	}
	buf[n] = 0;
	v_status_fields(k, buf);
}

static void suid_copy(void)
{
	char buf[65536];
	ssize_t n;
	struct stat st;
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int o = open("/tmp/sbx-suid", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);

	while (in >= 0 && o >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(o, buf, (size_t)n) != n)
			break;
	if (in >= 0)
		close(in);
	if (o >= 0)
		close(o);
	v_res("chmod_suid_copy", chmod("/tmp/sbx-suid", 06755));
	v_bool("suid_copy_has_bit", stat("/tmp/sbx-suid", &st) == 0 && (st.st_mode & S_ISUID));
	v_bool("suid_copy_owned_by_us", stat("/tmp/sbx-suid", &st) == 0 && st.st_uid == getuid());
	unlink("/tmp/sbx-suid");
}

static void t42(int argc, char **argv)
{
	static const char *const progs[] = { "/usr/bin/su",   "/usr/bin/passwd", "/usr/bin/newgrp",
					     "/usr/bin/chsh", "/usr/bin/mount",	 "/bin/su" };
	enum { N_PROGS = sizeof(progs) / sizeof(progs[0]) };
	pid_t pids[N_PROGS];
	struct stat st;

	v_int("nnp", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	v_int("uid", getuid());
	v_int("euid", geteuid());
	obj_open("mounts");
	v_mntflags("/", "/");
	v_mntflags("/usr/bin", "/usr/bin");
	v_mntflags("/tmp", "/tmp");
	v_mntflags("/dev/shm", "/dev/shm");
	obj_close();
	for (size_t i = 0; i < N_PROGS; i++)
		pids[i] = stat(progs[i], &st) == 0 && (st.st_mode & S_ISUID) && st.st_uid == 0
				  ? spawn_setuid(progs[i])
				  : 0;
	/*
	 * posix_spawn returns once the exec is under way, a little before it commits the new
	 * credentials; a short pause covers that. A program that already exited is a zombie and
	 * still shows its credentials until reaped.
	 */
	usleep(100 * 1000);
	obj_open("setuid_exec");
	for (size_t i = 0; i < N_PROGS; i++)
		if (pids[i])
			v_creds_of(progs[i], pids[i]);
	obj_close();
	suid_copy();
}

static void t43(int argc, char **argv)
{
	int bnd = 0;
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	v_status_fields("status", buf);
	for (int c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			bnd++;
	v_int("bounding_caps", bnd);
	v_int("securebits", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
	v_int("dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	v_res("setuid0", setuid(0));
	v_res("setgroups0", setgroups(1, (gid_t[]){ 0 }));
	v_res("capset_raise",
	      prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 21 /* SYS_ADMIN */, 0, 0));
}

static void t44(int argc, char **argv)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[64];

	obj_open("exe");
	while (d && (e = readdir(d)))
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9') {
			snprintf(path, sizeof(path), "/proc/%.16s/exe", e->d_name);
			v_readlink(e->d_name, path);
		}
	obj_close();
	if (d)
		closedir(d);
	v_int("self", getpid());
	v_open("self_exe_write", "/proc/self/exe", O_WRONLY);
	v_open("pid1_exe_read", "/proc/1/exe", O_RDONLY);
	v_open("pid1_exe_path", "/proc/1/exe", O_PATH);
	v_open("pid1_root", "/proc/1/root/", O_RDONLY | O_DIRECTORY);
	v_open("pid1_cwd", "/proc/1/cwd/", O_RDONLY | O_DIRECTORY);
	v_listdir("pid1_fd", "/proc/1/fd");
	v_open("pid1_map_files", "/proc/1/map_files", O_RDONLY | O_DIRECTORY);
}

/* Scan with fcntl before this process opens anything itself. */
static void t45(int argc, char **argv)
{
	struct rlimit rl;
	int fds[64], n = 0;
	char path[64], cwd[4096];
	long max = 4096;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max)
		max = (long)rl.rlim_cur;
	for (int fd = 0; fd < max && n < 64; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			fds[n++] = fd;
	arr_open("fds");
	for (int i = 0; i < n; i++)
		v_int(NULL, fds[i]);
	arr_close();
	obj_open("links");
	for (int i = 0; i < n; i++) {
		char k[16];
		snprintf(k, sizeof(k), "%d", fds[i]);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		v_readlink(k, path);
	}
	obj_close();
	v_str("cwd", getcwd(cwd, sizeof(cwd)) ? cwd : errname(errno));
	v_readlink("cwd_link", "/proc/self/cwd");
	v_readlink("root_link", "/proc/self/root");
	v_listdir("proc_self_fd", "/proc/self/fd");
}

/* What a job sees when the rootfs tried to redirect the sandbox's mounts (the test checks the host). */
static void t46(int argc, char **argv)
{
	char cwd[4096];
	int fd;

	v_fsmagic("root_fs", "/");
	v_fsmagic("tmp_fs", "/tmp");
	v_fsmagic("proc_fs", "/proc");
	v_fsmagic("dev_fs", "/dev");
	v_stat("tmp", "/tmp");
	v_stat("dev_null", "/dev/null");
	v_stat("proc_timer_list", "/proc/timer_list");
	v_readlink("proc_self", "/proc/self");
	fd = open("/tmp/sbx-t46-marker", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	v_res("write_tmp", fd);
	if (fd >= 0)
		close(fd);
	fd = open("/dev/shm/sbx-t46-marker", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	v_res("write_shm", fd);
	if (fd >= 0)
		close(fd);
	v_str("cwd", getcwd(cwd, sizeof(cwd)) ? cwd : errname(errno));
	v_listdir("root", "/");
	obj_open("list");
	for (int i = 2; i < argc; i++)
		v_listdir(argv[i], argv[i]);
	obj_close();
}

/*
 * attack swap DIR A B MS - for T46, run on the host by the test: exchange the names A and B in
 * DIR (RENAME_EXCHANGE, atomic) as fast as possible for MS milliseconds, racing a sandbox that
 * is setting up mounts from DIR (CVE-2021-30465 style). Touches nothing but those two names.
 */
static void swap(int argc, char **argv)
{
	struct timespec t0, t;
	long n = 0, ms = argc > 5 ? atol(argv[5]) : 0;
	int dfd = argc > 5 ? open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;

	if (dfd < 0) {
		if (argc <= 5)
			errno = EINVAL;
		v_res("open", -1);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (syscall(SYS_renameat2, dfd, argv[3], dfd, argv[4], 2 /* RENAME_EXCHANGE */) ==
		    0)
			n++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	v_int("swaps", n);
	close(dfd);
}

static void t47(int argc, char **argv)
{
	static const char *const made[] = {
		"/tmp/sbx-shadow", "/tmp/sbx-passwd", "/tmp/sbx-su",
		"/tmp/sbx-exe",	   "/tmp/sbx-exe2",   "/tmp/sbx-own",
		"/tmp/sbx-own2",   "/tmp/sbx-own3",   "/dev/shm/sbx-own"
	};
	int fd = open("/tmp/sbx-own", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	v_res("shadow", link("/etc/shadow", "/tmp/sbx-shadow"));
	v_res("passwd", link("/etc/passwd", "/tmp/sbx-passwd"));
	v_res("su", link("/usr/bin/su", "/tmp/sbx-su"));
	v_res("probe", link("/proc/self/exe", "/tmp/sbx-exe"));
	v_res("probe_follow",
	      linkat(AT_FDCWD, "/proc/self/exe", AT_FDCWD, "/tmp/sbx-exe2", AT_SYMLINK_FOLLOW));
	v_res("in_rootfs", link("/etc/passwd", "/etc/sbx-passwd"));
	v_res("tmp_to_shm", link("/tmp/sbx-own", "/dev/shm/sbx-own"));
	/* flink of an own fd: CAP_DAC_READ_SEARCH before 6.10, since then allowed for own opens. */
	v_res("empty_path", linkat(fd, "", AT_FDCWD, "/tmp/sbx-own2", AT_EMPTY_PATH));
	v_res("own_in_tmp", link("/tmp/sbx-own", "/tmp/sbx-own3"));
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++)
		unlink(made[i]);
}

/* ---- E: isolation of other processes and the service ------------------------------------- */

static void t48(int argc, char **argv)
{
	pid_t host = argc > 2 ? atoi(argv[2]) : 0;
	pid_t sib = spawn_sleeper();
	int status = 0;

	if (host > 0) {
		v_res("kill_host", kill(host, SIGTERM));
		v_fd("pidfd_open_host", syscall(SYS_pidfd_open, host, 0));
	}
	v_res("kill_pid1_probe", kill(1, 0));
	v_res("kill_pid1", kill(1, SIGKILL));
	v_res("kill_all", kill(-1, SIGKILL));
	waitpid(sib, &status, 0);
	v_bool("sibling_killed", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	v_res("pid1_after", kill(1, 0)); /* EPERM: still there; ESRCH: gone */
	v_int("self", getpid());
}

static void v_proc_files(const char *k, const char *name)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[64], buf[2048];

	obj_open(k);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.16s/%s", e->d_name, name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
		if (n < 0)
			v_res(e->d_name, -1);
		else
			v_strn(e->d_name, buf, (size_t)n);
		if (fd >= 0)
			close(fd);
	}
	obj_close();
	if (d)
		closedir(d);
}

static void t49(int argc, char **argv)
{
	arr_open("environ");
	for (char **e = environ; *e; e++)
		v_str(NULL, *e);
	arr_close();
	v_open("pid1_environ", "/proc/1/environ", O_RDONLY);
	v_proc_files("environs", "environ");
	v_proc_files("cmdlines", "cmdline");
	v_stat("run_secrets", "/run/secrets");
	v_stat("docker_sock", "/var/run/docker.sock");
	v_read("mountinfo", "/proc/self/mountinfo", 4096);
}

#define T50_KEY 0x5bd0050

static void t50_create(void)
{
	struct mq_attr ma = { .mq_maxmsg = 1, .mq_msgsize = 16 };
	mqd_t q;
	int fd;

	v_res("shmget", shmget(T50_KEY, 4096, IPC_CREAT | 0600));
	v_res("shmget_private", shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	v_res("semget", semget(T50_KEY, 1, IPC_CREAT | 0600));
	v_res("msgget", msgget(T50_KEY, IPC_CREAT | 0600));
	q = mq_open("/sbx-t50", O_RDWR | O_CREAT, 0600, &ma);
	v_res("mq_open", q == (mqd_t)-1 ? -1 : 0);
	if (q != (mqd_t)-1)
		mq_close(q);
	fd = open("/dev/shm/sbx-t50", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	v_res("shm_file", fd);
	if (fd >= 0)
		close(fd);
}

static void t50_look(void)
{
	mqd_t q;

	v_res("shmget", shmget(T50_KEY, 0, 0));
	v_res("semget", semget(T50_KEY, 0, 0));
	v_res("msgget", msgget(T50_KEY, 0));
	q = mq_open("/sbx-t50", O_RDONLY);
	v_res("mq_open", q == (mqd_t)-1 ? -1 : 0);
	if (q != (mqd_t)-1)
		mq_close(q);
	v_open("shm_file", "/dev/shm/sbx-t50", O_RDONLY);
}

static void t50(int argc, char **argv)
{
	bool create = argc > 2 && !strcmp(argv[2], "create");

	obj_open(create ? "create" : "look");
	if (create)
		t50_create();
	else
		t50_look();
	obj_close();
	v_read("sysvipc_shm", "/proc/sysvipc/shm", 4096);
	v_read("sysvipc_sem", "/proc/sysvipc/sem", 4096);
	v_read("sysvipc_msg", "/proc/sysvipc/msg", 4096);
	v_listdir("dev_shm", "/dev/shm");
}

static void t51(int argc, char **argv)
{
	char c = 'x';
	int fd;

	v_res("tiocsti_0", ioctl(0, TIOCSTI, &c));
	v_res("tiocsti_1", ioctl(1, TIOCSTI, &c));
	v_res("tiocsti_2", ioctl(2, TIOCSTI, &c));
	v_res("tioclinux_0", ioctl(0, TIOCLINUX, (char[]){ 2 /* TIOCL_SETSEL */, 0 }));
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	v_res("open_dev_tty", fd);
	if (fd >= 0) {
		/* A controlling terminal reachable from the job: try to inject into it. */
		v_res("tiocsti_dev_tty", ioctl(fd, TIOCSTI, &c));
		close(fd);
	}
	v_bool("session_leader", getsid(0) == getpid());
	v_int("sid", getsid(0));
	v_int("pgid", getpgid(0));
}

static void t52(int argc, char **argv)
{
	static const char *const files[] = { "/tmp/sbx-t52", "/dev/shm/sbx-t52", "/var/tmp/sbx-t52",
					     "/home/sbx-t52", "/dev/sbx-t52" };
	bool write = argc > 2 && !strcmp(argv[2], "write");

	obj_open(write ? "write" : "look");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (write)
			v_open(files[i], files[i], O_WRONLY | O_CREAT | O_TRUNC);
		else
			v_open(files[i], files[i], O_RDONLY);
	}
	obj_close();
	v_listdir("tmp", "/tmp");
	v_listdir("dev_shm", "/dev/shm");
}

/* ---- dispatch ---------------------------------------------------------------------------- */

struct cmd {
	const char *name;
	void (*fn)(int argc, char **argv);
	bool guarded; /* could change something if run as root outside a sandbox */
};

static const struct cmd cmds[] = {
	{ "t21", t21, true },  { "t22", t22, true },	{ "t23", t23, true }, { "t24", t24, true },
	{ "t25", t25, true },  { "t26", t26, true },	{ "t27", t27, true }, { "t28", t28, true },
	{ "t29", t29, true },  { "t30", t30, true },	{ "t31", t31, true }, { "t32", t32, true },
	{ "t33", t33, true },  { "t34", t34, true },	{ "t35", t35, true }, { "t36", t36, false },
	{ "t37", t37, true },  { "t38", t38, true },	{ "t39", t39, true }, { "t40", t40, true },
	{ "t41", t41, true },  { "t42", t42, true },	{ "t43", t43, true }, { "t44", t44, false },
	{ "t45", t45, false }, { "t46", t46, true },	{ "t47", t47, true }, { "t48", t48, true },
	{ "t49", t49, false }, { "t50", t50, true },	{ "t51", t51, true }, { "t52", t52, true },
	{ "abi", abi, false }, { "swap", swap, false },
};

static bool in_jail(void)
{
	const char *force = getenv("SANDBOXD_ATTACK_ANYWHERE");

	return getpid() == 2 || (force && !strcmp(force, "1"));
}

int main(int argc, char **argv)
{
	for (size_t i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		if (cmds[i].guarded && !in_jail()) {
			fprintf(stderr,
				"attack: %s refuses to run outside the sandbox (pid %d != 2); "
				"set SANDBOXD_ATTACK_ANYWHERE=1 in a throwaway VM\n",
				argv[1], getpid());
			return 3;
		}
		need_comma[0] = false;
		puts_raw("{");
		need_comma[depth = 1] = false;
		cmds[i].fn(argc, argv);
		puts_raw("}");
		flush_out();
		return 0;
	}
	fprintf(stderr, "usage: attack t21..t52|abi|swap [ARG...]\n");
	return 2;
}
