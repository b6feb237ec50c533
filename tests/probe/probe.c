/* SPDX-License-Identifier: MIT */
/*
 * probe.c - what a program inside the jail sees and what its attacks achieve.
 *
 * One static binary, one subcommand per observation or attack of the catalogue (T01-T20 of
 * docker-profile.md section 9, plus "view", the jail's inventory). Every subcommand prints ONE
 * JSON object on stdout (errno values by name: "ENOSPC", "OK" for success) and the Python tests
 * assert the safe outcome from it.
 *
 * Rules this file keeps:
 * - every attack is bounded by itself (an iteration cap, a deadline or alarm()), so a broken
 *   jail ends a test instead of the machine;
 * - JSON is built in a static buffer and written by the main process only, once, at the end:
 *   forked children _exit() and never print;
 * - the network attacks refuse to run unless the only interface is "lo" (an empty netns):
 *   they must never send a packet off the machine, even when run by mistake on the host.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <mqueue.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIB	      (1024UL * 1024UL)

/* ---- a tiny JSON emitter: one object, built in memory, written once ----------------------- */

static char jbuf[4 * MIB];
static size_t jlen;
static int jdepth;
static bool jfirst[64];
static bool jafter_key;

static void j_raw(const char *s, size_t n)
{
	if (n > sizeof(jbuf) - 1 - jlen)
		n = sizeof(jbuf) - 1 - jlen;
	memcpy(jbuf + jlen, s, n);
	jlen += n;
}

static void j_putc(char c)
{
	j_raw(&c, 1);
}

static void j_sep(void)
{
	if (jafter_key) {
		jafter_key = false;
		return;
	}
	if (jdepth > 0 && !jfirst[jdepth])
		j_putc(',');
	jfirst[jdepth] = false;
}

static void j_quoted(const char *s)
{
	char esc[8];

	j_putc('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			j_putc('\\');
			j_putc((char)c);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			j_raw(esc, 6);
		} else {
			j_putc((char)c);
		}
	}
	j_putc('"');
}

static void j_open(char c)
{
	j_sep();
	j_putc(c);
	jfirst[++jdepth] = true;
}

static void j_close(char c)
{
	jdepth--;
	j_putc(c);
}

static void j_key(const char *k)
{
	j_sep();
	j_quoted(k);
	j_putc(':');
	jafter_key = true;
}

static void j_str(const char *s)
{
	j_sep();
	j_quoted(s ? s : "");
}

static void j_int(long long v)
{
	char num[32];

	j_sep();
	j_raw(num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

static void j_bool(bool v)
{
	j_sep();
	j_raw(v ? "true" : "false", v ? 4 : 5);
}

static void j_kstr(const char *k, const char *v)
{
	j_key(k);
	j_str(v);
}

static void j_kint(const char *k, long long v)
{
	j_key(k);
	j_int(v);
}

static void j_kbool(const char *k, bool v)
{
	j_key(k);
	j_bool(v);
}

static const char *errname(int e)
{
	static char other[16];
	const char *n;

	if (e == 0)
		return "OK";
	n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(other, sizeof(other), "E%d", e);
	return other;
}

/* "key": "ENAME" for an errno value (0 -> "OK"). */
static void j_kerr(const char *k, int e)
{
	j_kstr(k, errname(e));
}

static int j_flush(void)
{
	size_t off = 0;

	j_putc('\n');
	while (off < jlen) {
		ssize_t n = write(1, jbuf + off, jlen - off);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return 1;
		}
		off += (size_t)n;
	}
	return 0;
}

/* ---- small helpers ---------------------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long cpu_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long arg_long(int argc, char **argv, int i, long def)
{
	return i < argc ? strtol(argv[i], NULL, 0) : def;
}

static const char *arg_str(int argc, char **argv, int i, const char *def)
{
	return i < argc ? argv[i] : def;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Reads a small file into buf (NUL-terminated); returns bytes or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((size_t)total < size - 1 && (n = read(fd, buf + total, size - 1 - total)) > 0)
		total += n;
	close(fd);
	buf[total] = 0;
	return total;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A child that dies by the end of the bound even if nobody kills it. */
static _Noreturn void child_linger(long seconds)
{
	alarm((unsigned)seconds);
	for (;;)
		pause();
}

/* ---- view: the jail's inventory ------------------------------------------------------------ */

static void view_ids(void)
{
	gid_t groups[256];
	int n = getgroups(ARRAY_SIZE(groups), groups);

	j_kint("uid", getuid());
	j_kint("gid", getgid());
	j_kint("euid", geteuid());
	j_kint("egid", getegid());
	j_key("groups");
	j_open('[');
	for (int i = 0; i < n; i++)
		j_int(groups[i]);
	j_close(']');
	j_kint("pid", getpid());
	j_kint("ppid", getppid());
	j_kint("sid", getsid(0));
	j_kint("umask", umask(022));
}

/* Cap*, NoNewPrivs and Seccomp lines of /proc/self/status. */
static void view_status(void)
{
	static const char *const caps[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
	static char buf[16384];
	char *line, *save = NULL;
	char val[64];

	if (read_small("/proc/self/status", buf, sizeof(buf)) < 0)
		return;
	j_key("caps");
	j_open('{');
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
			size_t len = strlen(caps[i]);

			if (!strncmp(line, caps[i], len) && line[len] == ':' &&
			    sscanf(line + len + 1, "%63s", val) == 1)
				j_kstr(caps[i], val);
		}
	}
	j_close('}');
}

static void view_status_flags(void)
{
	static char buf[16384];
	char *p;

	if (read_small("/proc/self/status", buf, sizeof(buf)) < 0)
		return;
	p = strstr(buf, "\nNoNewPrivs:");
	j_kint("no_new_privs", p ? atoi(p + 12) : -1);
	p = strstr(buf, "\nSeccomp:");
	j_kint("seccomp", p ? atoi(p + 9) : -1);
	p = strstr(buf, "\nSeccomp_filters:");
	j_kint("seccomp_filters", p ? atoi(p + 17) : -1);
	j_kint("dumpable", prctl(PR_GET_DUMPABLE));
	j_kint("securebits", prctl(PR_GET_SECUREBITS));
}

static void view_hostname(void)
{
	struct utsname u;

	uname(&u);
	j_kstr("hostname", u.nodename);
	j_kstr("domainname", u.domainname);
}

/* One mountinfo line: id parent maj:min root target options [optional...] - fstype src super */
static void view_mount_line(char *line)
{
	char *f[16], *save = NULL, *tok;
	int n = 0, dash = -1;

	for (tok = strtok_r(line, " ", &save); tok && n < 16; tok = strtok_r(NULL, " ", &save)) {
		if (!strcmp(tok, "-") && dash < 0)
			dash = n;
		f[n++] = tok;
	}
	if (dash < 6 || n < dash + 4)
		return;
	j_open('{');
	j_kstr("target", f[4]);
	j_kstr("fstype", f[dash + 1]);
	j_kstr("source", f[dash + 2]);
	j_kstr("options", f[5]);
	j_kstr("super", f[dash + 3]);
	j_kstr("root", f[3]);
	j_close('}');
}

static void view_mounts(void)
{
	static char buf[256 * 1024];
	char *line, *save = NULL;

	j_key("mounts");
	j_open('[');
	if (read_small("/proc/self/mountinfo", buf, sizeof(buf)) >= 0)
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			view_mount_line(line);
	j_close(']');
}

static const char *file_type(mode_t m)
{
	if (S_ISREG(m))
		return "reg";
	if (S_ISDIR(m))
		return "dir";
	if (S_ISLNK(m))
		return "lnk";
	if (S_ISCHR(m))
		return "chr";
	if (S_ISBLK(m))
		return "blk";
	if (S_ISFIFO(m))
		return "fifo";
	return "sock";
}

static void view_dev_entry(const char *name)
{
	char path[PATH_MAX], link[PATH_MAX], rdev[32];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "/dev/%s", name);
	if (lstat(path, &st) < 0)
		return;
	j_open('{');
	j_kstr("name", name);
	j_kstr("type", file_type(st.st_mode));
	j_kint("mode", st.st_mode & 07777);
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		snprintf(rdev, sizeof(rdev), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
		j_kstr("rdev", rdev);
	}
	if (S_ISLNK(st.st_mode) && (n = readlink(path, link, sizeof(link) - 1)) >= 0) {
		link[n] = 0;
		j_kstr("link", link);
	}
	j_close('}');
}

/* Sorted names of a directory (without . and ..); returns the count, -errno on failure. */
static int list_dir(const char *path, char **names, int max)
{
	static char store[64 * 1024];
	size_t used = 0;
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(path);

	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < max) {
		size_t len = strlen(de->d_name) + 1;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    used + len > sizeof(store))
			continue;
		names[n++] = memcpy(store + used, de->d_name, len);
		used += len;
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), cmp_str);
	return n;
}

static void view_dev(void)
{
	char *names[512];
	int n = list_dir("/dev", names, ARRAY_SIZE(names));

	j_key("dev");
	j_open('[');
	for (int i = 0; i < n; i++)
		j_str(names[i]);
	j_close(']');
	j_key("dev_detail");
	j_open('[');
	for (int i = 0; i < n; i++)
		view_dev_entry(names[i]);
	j_close(']');
	n = list_dir("/dev/pts", names, ARRAY_SIZE(names));
	j_key("dev_pts");
	j_open('[');
	for (int i = 0; i < n; i++)
		j_str(names[i]);
	j_close(']');
}

/* Interface names from /proc/net/dev (this netns), flags by SIOCGIFFLAGS. */
static int read_ifnames(char names[][IFNAMSIZ], int max)
{
	static char buf[16384];
	char *line, *save = NULL, *colon;
	int n = 0, skip = 2;

	if (read_small("/proc/net/dev", buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line && n < max;
	     line = strtok_r(NULL, "\n", &save)) {
		if (skip > 0) {
			skip--;
			continue;
		}
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = 0;
		while (*line == ' ')
			line++;
		snprintf(names[n++], IFNAMSIZ, "%s", line);
	}
	return n;
}

static void view_interfaces(void)
{
	char names[64][IFNAMSIZ];
	int n = read_ifnames(names, 64);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	j_key("interfaces");
	j_open('[');
	for (int i = 0; i < n; i++) {
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, names[i], IFNAMSIZ);
		j_open('{');
		j_kstr("name", names[i]);
		if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
			j_kbool("up", ifr.ifr_flags & IFF_UP);
			j_kbool("running", ifr.ifr_flags & IFF_RUNNING);
		}
		j_close('}');
	}
	j_close(']');
	if (s >= 0)
		close(s);
}

static void view_fds(void)
{
	char path[320], target[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	ssize_t n;

	j_key("fds");
	j_open('[');
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = 0;
		j_open('{');
		j_kint("fd", atoi(de->d_name));
		j_kstr("target", target);
		j_close('}');
	}
	j_close(']');
	if (d)
		closedir(d);
}

static void view_env(void)
{
	char cwd[PATH_MAX];

	j_key("env");
	j_open('[');
	for (char **e = environ; *e; e++)
		j_str(*e);
	j_close(']');
	j_kstr("cwd", getcwd(cwd, sizeof(cwd)) ? cwd : "");
}

static void j_rlimit(const char *name, int resource)
{
	struct rlimit rl;

	getrlimit(resource, &rl);
	j_key(name);
	j_open('{');
	j_kint("soft", rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
	j_kint("hard", rl.rlim_max == RLIM_INFINITY ? -1 : (long long)rl.rlim_max);
	j_close('}');
}

static void view_rlimits(void)
{
	j_key("rlimits");
	j_open('{');
	j_rlimit("core", RLIMIT_CORE);
	j_rlimit("nofile", RLIMIT_NOFILE);
	j_rlimit("fsize", RLIMIT_FSIZE);
	j_rlimit("stack", RLIMIT_STACK);
	j_rlimit("nproc", RLIMIT_NPROC);
	j_rlimit("cpu", RLIMIT_CPU);
	j_rlimit("as", RLIMIT_AS);
	j_rlimit("memlock", RLIMIT_MEMLOCK);
	j_rlimit("msgqueue", RLIMIT_MSGQUEUE);
	j_close('}');
}

/* Tries to create a file in dir; returns 0 or errno. Removes what it made. */
static int try_create(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/.probe-w-%d", dir, getpid());
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	close(fd);
	unlink(path);
	return 0;
}

static void view_writable(void)
{
	int root = try_create(""), tmp = try_create("/tmp"), shm = try_create("/dev/shm");

	j_kbool("root_writable", root == 0);
	j_kerr("root_errno", root);
	j_kbool("tmp_writable", tmp == 0);
	j_kerr("tmp_errno", tmp);
	j_kbool("shm_writable", shm == 0);
	j_kerr("shm_errno", shm);
	j_kbool("sys_exists", access("/sys", F_OK) == 0);
}

static void view_namespaces(void)
{
	static const char *const ns[] = { "cgroup", "ipc",  "mnt",  "net",
					  "pid",    "time", "user", "uts" };
	char path[64], link[128];
	ssize_t n;

	j_key("ns");
	j_open('{');
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
		n = readlink(path, link, sizeof(link) - 1);
		link[n < 0 ? 0 : n] = 0;
		j_kstr(ns[i], link);
	}
	j_close('}');
}

/* Docker's masked paths: "devnull" (a bind of 1:3), "empty" (dir), "absent" or "exposed". */
static const char *mask_state(const char *path)
{
	char *names[4];
	struct stat st;

	if (stat(path, &st) < 0)
		return "absent";
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))
		return "devnull";
	if (S_ISDIR(st.st_mode) && list_dir(path, names, 4) == 0)
		return "empty";
	return "exposed";
}

static void view_proc(void)
{
	static const char *const masked[] = {
		"/proc/acpi",	    "/proc/asound",	   "/proc/interrupts",	"/proc/kcore",
		"/proc/keys",	    "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
		"/proc/timer_list", "/proc/timer_stats",
	};
	static const char *const ro[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
					  "/proc/sysrq-trigger" };
	struct statvfs sv;

	j_key("proc_masked");
	j_open('{');
	for (size_t i = 0; i < ARRAY_SIZE(masked); i++)
		j_kstr(masked[i], mask_state(masked[i]));
	j_close('}');
	j_key("proc_readonly");
	j_open('{');
	for (size_t i = 0; i < ARRAY_SIZE(ro); i++) {
		if (statvfs(ro[i], &sv) < 0)
			j_kstr(ro[i], "absent");
		else
			j_kstr(ro[i], (sv.f_flag & ST_RDONLY) ? "ro" : "rw");
	}
	j_close('}');
}

static int cmd_view(int argc __attribute__((unused)), char **argv __attribute__((unused)))
{
	j_open('{');
	view_ids();
	view_status();
	view_status_flags();
	view_hostname();
	view_namespaces();
	view_mounts();
	view_dev();
	view_interfaces();
	view_fds();
	view_env();
	view_rlimits();
	view_writable();
	view_proc();
	j_close('}');
	return j_flush();
}

/* ---- small helpers for the basic tests ----------------------------------------------------- */

static int cmd_noop(int argc __attribute__((unused)), char **argv __attribute__((unused)))
{
	return 200;
}

static int cmd_exit(int argc, char **argv)
{
	return (int)arg_long(argc, argv, 2, 0);
}

static int cmd_kill(int argc, char **argv)
{
	int sig = (int)arg_long(argc, argv, 2, SIGKILL);

	signal(sig, SIG_DFL);
	raise(sig);
	return 99;
}

/* Copies stdin to stdout verbatim. */
static int cmd_cat(int argc __attribute__((unused)), char **argv __attribute__((unused)))
{
	char buf[65536];
	ssize_t n;

	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (write(1, buf, (size_t)n) != n)
			return 1;
	return n < 0;
}

/* print OUT ERR: OUT on stdout and ERR on stderr, no newline added. */
static int cmd_print(int argc, char **argv)
{
	const char *out = arg_str(argc, argv, 2, ""), *err = arg_str(argc, argv, 3, "");

	if (write(1, out, strlen(out)) < 0 || write(2, err, strlen(err)) < 0)
		return 1;
	return (int)arg_long(argc, argv, 4, 0);
}

/* lines N MS: N lines "line I\n" on stdout, MS milliseconds apart (streaming). */
static int cmd_lines(int argc, char **argv)
{
	long n = arg_long(argc, argv, 2, 3), ms = arg_long(argc, argv, 3, 300);
	char line[32];

	for (long i = 0; i < n; i++) {
		int len = snprintf(line, sizeof(line), "line %ld\n", i);

		if (write(1, line, (size_t)len) != len)
			return 1;
		if (i + 1 < n)
			sleep_ms(ms);
	}
	return 0;
}

static void stat_one(const char *path)
{
	char *names[256], buf[4096];
	struct stat st;
	int n;

	j_key(path);
	j_open('{');
	if (lstat(path, &st) < 0) {
		j_kerr("errno", errno);
		j_close('}');
		return;
	}
	j_kstr("type", file_type(st.st_mode));
	j_kint("mode", st.st_mode & 07777);
	j_kint("uid", st.st_uid);
	j_kint("size", st.st_size);
	if (S_ISREG(st.st_mode)) {
		ssize_t r = read_small(path, buf, sizeof(buf));

		j_kerr("read", r < 0 ? (int)-r : 0);
		j_kstr("content", r < 0 ? "" : buf);
	}
	if (S_ISDIR(st.st_mode) && (n = list_dir(path, names, ARRAY_SIZE(names))) >= 0) {
		j_key("entries");
		j_open('[');
		for (int i = 0; i < n; i++)
			j_str(names[i]);
		j_close(']');
	}
	j_kerr("write", access(path, W_OK) < 0 ? errno : 0);
	j_close('}');
}

/* stat PATH...: type, mode, content of small files, entries of directories. */
static int cmd_stat(int argc, char **argv)
{
	j_open('{');
	for (int i = 2; i < argc; i++)
		stat_one(argv[i]);
	j_close('}');
	return j_flush();
}

/* ---- T01 fork bomb, T13 zombies ------------------------------------------------------------ */

/* forkbomb count SECONDS: fork lingering children until fork fails, then retry for a while. */
static int forkbomb_count(long seconds)
{
	long forked = 0, retries_failed = 0;
	int first_err = 0, last_err = 0;
	pid_t pid;

	for (long i = 0; i < 100000 && !first_err; i++) {
		pid = fork();
		if (pid == 0)
			child_linger(seconds);
		if (pid < 0)
			first_err = errno;
		else
			forked++;
	}
	for (int i = 0; i < 20; i++) {
		pid = fork();
		if (pid == 0)
			child_linger(seconds);
		if (pid < 0) {
			last_err = errno;
			retries_failed++;
		}
		sleep_ms(10);
	}
	j_open('{');
	j_kint("forked", forked);
	j_kerr("errno", first_err);
	j_kint("retries_failed", retries_failed);
	j_kerr("retry_errno", last_err);
	j_close('}');
	return j_flush();
}

/* forkbomb storm SECONDS: every process forks until the deadline (the classic bomb). */
static int forkbomb_storm(long seconds)
{
	long long deadline = now_ms() + seconds * 1000;

	alarm((unsigned)seconds + 1);
	while (now_ms() < deadline)
		fork();
	return 0;
}

static int cmd_forkbomb(int argc, char **argv)
{
	const char *mode = arg_str(argc, argv, 2, "count");
	long seconds = arg_long(argc, argv, 3, 30);

	if (!strcmp(mode, "storm"))
		return forkbomb_storm(seconds);
	return forkbomb_count(seconds);
}

/* zombies N: N children exit at once and are never waited for. */
static int zombies_unreaped(long count)
{
	long forked = 0;
	int err = 0;
	pid_t pid;

	for (long i = 0; i < count; i++) {
		pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid < 0) {
			err = errno;
			break;
		}
		forked++;
	}
	j_open('{');
	j_kint("forked", forked);
	j_kerr("errno", err);
	j_close('}');
	return j_flush();
}

/*
 * orphans N: N rounds of child -> grandchild; the child exits at once so the grandchild is
 * reparented to PID 1 and becomes its zombie. Only a reaping init keeps pids.max from filling.
 */
static int zombies_orphans(long rounds)
{
	long done = 0;
	int err = 0, status;
	pid_t pid;

	for (long i = 0; i < rounds; i++) {
		pid = fork();
		if (pid == 0) {
			if (fork() < 0)
				_exit(1);
			_exit(0);
		}
		if (pid < 0) {
			err = errno;
			break;
		}
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			err = EAGAIN;
			break;
		}
		done++;
		sleep_ms(2);
	}
	j_open('{');
	j_kint("rounds", done);
	j_kerr("errno", err);
	j_close('}');
	return j_flush();
}

static int cmd_zombies(int argc, char **argv)
{
	const char *mode = arg_str(argc, argv, 2, "unreaped");
	long n = arg_long(argc, argv, 3, 1000);

	if (!strcmp(mode, "orphans"))
		return zombies_orphans(n);
	return zombies_unreaped(n);
}

/* ---- T02 thread bomb ------------------------------------------------------------------------ */

static long thread_touch_kb;
static long thread_seconds;

static void *thread_linger(void *arg __attribute__((unused)))
{
	size_t len = (size_t)thread_touch_kb * 1024 + 1;
	volatile char *stack = alloca(len);

	for (size_t i = 0; i < len; i += 4096)
		stack[i] = 1;
	sleep((unsigned)thread_seconds);
	return NULL;
}

/* threadbomb STACK_KB TOUCH_KB SECONDS */
static int cmd_threadbomb(int argc, char **argv)
{
	long stack_kb = arg_long(argc, argv, 2, 64), created = 0;
	pthread_attr_t attr;
	pthread_t t;
	int err = 0;

	thread_touch_kb = arg_long(argc, argv, 3, 0);
	thread_seconds = arg_long(argc, argv, 4, 30);
	alarm((unsigned)thread_seconds);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, (size_t)stack_kb * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (long i = 0; i < 100000; i++) {
		err = pthread_create(&t, &attr, thread_linger, NULL);
		if (err)
			break;
		created++;
	}
	if (thread_touch_kb)
		sleep_ms(1000); /* let every thread touch its stack before we report */
	j_open('{');
	j_kint("threads", created);
	j_kerr("errno", err);
	j_close('}');
	return j_flush();
}

/* ---- T03 memory bomb --------------------------------------------------------------------- */

/* Kept reachable so that the compiler cannot elide malloc + memset of unused memory. */
static void *volatile mem_kept[1 << 16];
static unsigned mem_n;

/* One MiB more of anonymous memory, touched; returns 0 or errno. */
static int mem_grow(const char *mode)
{
	void *p;

	if (!strcmp(mode, "populate")) {
		p = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		return p == MAP_FAILED ? errno : 0;
	}
	p = malloc(MIB);
	if (!p)
		return ENOMEM;
	memset(p, 0x5a, MIB);
	mem_kept[mem_n++ % ARRAY_SIZE(mem_kept)] = p;
	return 0;
}

/* membomb touch|populate|mlock MAX_MB */
static int cmd_membomb(int argc, char **argv)
{
	const char *mode = arg_str(argc, argv, 2, "touch");
	long max_mb = arg_long(argc, argv, 3, 4096), mb = 0;
	int err = 0, mlock_err = 0;

	alarm(60);
	if (!strcmp(mode, "mlock"))
		mlock_err = mlockall(MCL_CURRENT | MCL_FUTURE) < 0 ? errno : 0;
	while (mb < max_mb && !(err = mem_grow(mode)))
		mb++;
	j_open('{');
	j_kint("allocated_mb", mb);
	j_kerr("errno", err);
	j_kerr("mlockall", mlock_err);
	j_close('}');
	return j_flush();
}

/* ---- T04/T05 tmpfs fill, SysV shm, POSIX mqueues ------------------------------------------ */

static char chunk[MIB];

/* Writes CHUNK-sized blocks to fd until an error or max bytes; returns errno (0: max reached). */
static int fill_fd(int fd, long long max, long long *written)
{
	while (*written < max) {
		size_t want = max - *written < (long long)sizeof(chunk) ? (size_t)(max - *written)
									: sizeof(chunk);
		ssize_t n = write(fd, chunk, want);

		if (n < 0)
			return errno;
		*written += n;
	}
	return 0;
}

/*
 * tmpfill PATH MAX_MB: write PATH.0, PATH.1, ... until the filesystem refuses; a file that
 * reaches RLIMIT_FSIZE (EFBIG) is continued in the next one, so the size cap is reached.
 */
static int cmd_tmpfill(int argc, char **argv)
{
	const char *base = arg_str(argc, argv, 2, "/tmp/fill");
	long long max = arg_long(argc, argv, 3, 4096) * (long long)MIB, total = 0, file = 0;
	char path[PATH_MAX], dir[PATH_MAX], *slash;
	int err = 0, fd, files = 0;
	bool efbig = false;
	struct statvfs sv;

	signal(SIGXFSZ, SIG_IGN);
	memset(chunk, 'x', sizeof(chunk));
	alarm(60);
	for (;;) {
		snprintf(path, sizeof(path), "%s.%d", base, files);
		fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0) {
			err = errno;
			break;
		}
		files++;
		file = 0;
		err = fill_fd(fd, max - total, &file);
		total += file;
		close(fd);
		if (err != EFBIG || file == 0)
			break;
		efbig = true;
	}
	snprintf(dir, sizeof(dir), "%s", base);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = 0;
	j_open('{');
	j_kint("written", total);
	j_kint("files", files);
	j_kerr("errno", err);
	j_kbool("efbig_seen", efbig);
	if (statvfs(dir, &sv) == 0) {
		j_kint("fs_bytes", (long long)sv.f_blocks * (long long)sv.f_frsize);
		j_kint("fs_inodes", (long long)sv.f_files);
	}
	j_close('}');
	return j_flush();
}

/* inodefill DIR MAX: empty files until the filesystem refuses (nr_inodes=). */
static int cmd_inodefill(int argc, char **argv)
{
	const char *dir = arg_str(argc, argv, 2, "/tmp");
	long max = arg_long(argc, argv, 3, 2000000), n = 0;
	long long deadline = now_ms() + 20000;
	char path[PATH_MAX];
	struct statvfs sv;
	int err = 0, fd;

	while (n < max && now_ms() < deadline) {
		snprintf(path, sizeof(path), "%s/i%ld", dir, n);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0) {
			err = errno;
			break;
		}
		close(fd);
		n++;
	}
	j_open('{');
	j_kint("files", n);
	j_kerr("errno", err);
	if (statvfs(dir, &sv) == 0)
		j_kint("fs_inodes", (long long)sv.f_files);
	j_close('}');
	return j_flush();
}

/* shmbomb MAX_MB: SysV segments, touched, detached and never removed. */
static int cmd_shmbomb(int argc, char **argv)
{
	long max_mb = arg_long(argc, argv, 2, 1024), mb = 0;
	const size_t seg = 4 * MIB;
	int err = 0, id;
	void *p;

	alarm(60);
	while (mb < max_mb) {
		id = shmget(IPC_PRIVATE, seg, IPC_CREAT | 0600);
		if (id < 0) {
			err = errno;
			break;
		}
		p = shmat(id, NULL, 0);
		if (p == (void *)-1) {
			err = errno;
			break;
		}
		memset(p, 0x5a, seg);
		shmdt(p);
		mb += 4;
	}
	j_open('{');
	j_kint("segments_mb", mb);
	j_kerr("errno", err);
	j_close('}');
	return j_flush();
}

/* mqbomb MAX: POSIX queues until RLIMIT_MSGQUEUE (or the queue count) refuses. */
static int cmd_mqbomb(int argc, char **argv)
{
	long max = arg_long(argc, argv, 2, 10000), n = 0;
	struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 8192 };
	char name[64];
	int err = 0;
	mqd_t q;

	while (n < max) {
		snprintf(name, sizeof(name), "/probe-q%ld", n);
		q = mq_open(name, O_CREAT | O_RDWR | O_CLOEXEC, 0600, &attr);
		if (q == (mqd_t)-1) {
			err = errno;
			break;
		}
		n++;
	}
	j_open('{');
	j_kint("queues", n);
	j_kerr("errno", err);
	j_close('}');
	return j_flush();
}

/* ---- T06 writes to the rootfs ------------------------------------------------------------- */

struct fs_try {
	const char *op;
	const char *path;
};

static int fs_do(const struct fs_try *t)
{
	int fd, r = -1;

	if (!strcmp(t->op, "create")) {
		fd = open(t->path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		r = fd < 0 ? -1 : 0;
	} else if (!strcmp(t->op, "open_w")) {
		fd = open(t->path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
		r = fd < 0 ? -1 : 0;
	} else if (!strcmp(t->op, "mkdir")) {
		r = mkdir(t->path, 0755);
	} else if (!strcmp(t->op, "unlink")) {
		r = unlink(t->path);
	} else if (!strcmp(t->op, "chmod")) {
		r = chmod(t->path, 0777);
	} else if (!strcmp(t->op, "symlink")) {
		r = symlink("/tmp", t->path);
	} else if (!strcmp(t->op, "truncate")) {
		r = truncate(t->path, 0);
	}
	return r < 0 ? errno : 0;
}

static int cmd_rootfs(int argc __attribute__((unused)), char **argv __attribute__((unused)))
{
	static const struct fs_try tries[] = {
		{ "create", "/x" },	      { "create", "/etc/x" },
		{ "create", "/usr/bin/x" },   { "create", "/usr/lib/x" },
		{ "create", "/bin/x" },	      { "create", "/lib/x" },
		{ "create", "/root/.x" },     { "create", "/probe/x" },
		{ "create", "/proc/x" },      { "create", "/dev/x" },
		{ "create", "/var/x" },	      { "open_w", "/etc/passwd" },
		{ "open_w", "/etc/hosts" },   { "open_w", "/etc/resolv.conf" },
		{ "open_w", "/usr/bin/env" }, { "truncate", "/etc/passwd" },
		{ "mkdir", "/newdir" },	      { "mkdir", "/usr/newdir" },
		{ "unlink", "/etc/passwd" },  { "chmod", "/etc/passwd" },
		{ "symlink", "/etc/evil" },
	};
	char key[PATH_MAX + 16];

	j_open('{');
	for (size_t i = 0; i < ARRAY_SIZE(tries); i++) {
		snprintf(key, sizeof(key), "%s %s", tries[i].op, tries[i].path);
		j_kerr(key, fs_do(&tries[i]));
	}
	j_close('}');
	return j_flush();
}

/* ---- T07/T08 output flood and blocked pipes ------------------------------------------------ */

/* outflood BYTES FD NEWLINES: write BYTES (or until an error) to FD 1 or 2. */
static int cmd_outflood(int argc, char **argv)
{
	long long bytes = strtoll(arg_str(argc, argv, 2, "10000000000"), NULL, 0), done = 0;
	int fd = (int)arg_long(argc, argv, 3, 1), err = 0;
	bool newlines = arg_long(argc, argv, 4, 1);
	ssize_t n;

	signal(SIGPIPE, SIG_IGN);
	alarm(60);
	memset(chunk, 'y', sizeof(chunk));
	for (size_t i = 1; newlines && i < sizeof(chunk); i += 2)
		chunk[i] = '\n';
	while (done < bytes) {
		size_t want = bytes - done < (long long)sizeof(chunk) ? (size_t)(bytes - done)
								      : sizeof(chunk);

		n = write(fd, chunk, want);
		if (n < 0) {
			err = errno;
			break;
		}
		done += n;
	}
	dprintf(fd == 1 ? 2 : 1, "{\"written\":%lld,\"errno\":\"%s\"}\n", done, errname(err));
	return 0;
}

/* blockpipe PREFILL SECONDS: PREFILL bytes to stdout, then block writing a pipe nobody reads. */
static int cmd_blockpipe(int argc, char **argv)
{
	long long prefill = arg_long(argc, argv, 2, 0), done = 0;
	long seconds = arg_long(argc, argv, 3, 30);
	int p[2];

	alarm((unsigned)seconds);
	memset(chunk, 'b', sizeof(chunk));
	if (prefill && fill_fd(1, prefill, &done))
		return 1;
	if (pipe(p) < 0)
		return 1;
	for (;;)
		if (write(p[1], chunk, sizeof(chunk)) < 0)
			return 1;
}

/* ---- T09/T10 CPU, T11 sleep ---------------------------------------------------------------- */

static volatile long long spin_deadline;

static void spin_until(long long deadline)
{
	volatile unsigned long x = 0;

	while (now_ms() < deadline)
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
}

/* cpuloop SECONDS */
static int cmd_cpuloop(int argc, char **argv)
{
	long seconds = arg_long(argc, argv, 2, 30);

	spin_until(now_ms() + seconds * 1000);
	j_open('{');
	j_kint("cpu_ms", cpu_ms(CLOCK_PROCESS_CPUTIME_ID));
	j_close('}');
	return j_flush();
}

static void *spin_thread(void *arg __attribute__((unused)))
{
	spin_until(spin_deadline);
	return NULL;
}

/*
 * A spinning child that hands over to a fresh child after ~100 ms of its own CPU: no single
 * process ever accumulates much CPU time, so only the cgroup total (not RLIMIT_CPU) stops it.
 */
static _Noreturn void spin_chain(long long deadline)
{
	for (;;) {
		long long start = cpu_ms(CLOCK_PROCESS_CPUTIME_ID);

		while (cpu_ms(CLOCK_PROCESS_CPUTIME_ID) - start < 100 && now_ms() < deadline)
			spin_until(now_ms() + 5);
		if (now_ms() >= deadline)
			_exit(0);
		if (fork() != 0)
			_exit(0); /* parent (or a failed fork) leaves; the new child goes on */
	}
}

/* cpuburn THREADS CHILDREN SECONDS */
static int cmd_cpuburn(int argc, char **argv)
{
	long threads = arg_long(argc, argv, 2, 2), children = arg_long(argc, argv, 3, 2);
	long seconds = arg_long(argc, argv, 4, 30);
	pthread_t t;

	spin_deadline = now_ms() + seconds * 1000;
	for (long i = 0; i < children; i++)
		if (fork() == 0)
			spin_chain(spin_deadline);
	for (long i = 0; i < threads; i++)
		pthread_create(&t, NULL, spin_thread, NULL);
	while (now_ms() < spin_deadline)
		sleep_ms(50);
	j_open('{');
	j_kint("main_cpu_ms", cpu_ms(CLOCK_PROCESS_CPUTIME_ID));
	j_close('}');
	return j_flush();
}

/* sleep sleep|pause|read SECONDS: block without using CPU (alarm bounds it). */
static int cmd_sleep(int argc, char **argv)
{
	const char *mode = arg_str(argc, argv, 2, "sleep");
	long seconds = arg_long(argc, argv, 3, 60);
	char buf[256];
	int p[2];

	alarm((unsigned)seconds);
	if (!strcmp(mode, "pause"))
		pause();
	if (!strcmp(mode, "read")) {
		while (read(0, buf, sizeof(buf)) > 0)
			;
		/* stdin is at EOF (a memfd or empty): block on a pipe with a writer that never writes */
		if (pipe(p) == 0)
			(void)read(p[0], buf, sizeof(buf));
	}
	sleep_ms(seconds * 1000);
	return 0;
}

/* ---- T12 double-fork daemon ------------------------------------------------------------------ */

static void daemon_body(const char *mode, long seconds, int ready_fd)
{
	static const int ignored[] = {
		SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE
	};
	long long deadline = now_ms() + seconds * 1000;

	for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
		signal(ignored[i], SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	prctl(PR_SET_NAME, "sbx-daemon");
	if (strcmp(mode, "hold") != 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	(void)write(ready_fd, "r", 1);
	close(ready_fd);
	while (now_ms() < deadline) {
		/* "respawn": a moving target for a kill loop that is not atomic (v1 without freezer) */
		if (!strcmp(mode, "respawn") && fork() > 0)
			_exit(0);
		sleep_ms(!strcmp(mode, "respawn") ? 5 : 100);
	}
	_exit(0);
}

/* daemon close|hold|respawn SECONDS: fork, setsid, fork, ignore signals, outlive main. */
static int cmd_daemon(int argc, char **argv)
{
	const char *mode = arg_str(argc, argv, 2, "close");
	long seconds = arg_long(argc, argv, 3, 60);
	struct pollfd pfd;
	int p[2], status;
	char c = 0;
	pid_t pid;

	if (pipe(p) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		setsid();
		if (fork() == 0)
			daemon_body(mode, seconds, p[1]);
		_exit(0);
	}
	close(p[1]);
	waitpid(pid, &status, 0);
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	if (poll(&pfd, 1, 5000) == 1)
		(void)read(p[0], &c, 1);
	j_open('{');
	j_kbool("daemon_ready", c == 'r');
	j_kstr("mode", mode);
	j_close('}');
	return j_flush();
}

/* ---- T14 fd exhaustion ----------------------------------------------------------------- */

static int open_kind(const char *kind)
{
	int p[2], fd;

	if (!strcmp(kind, "pipe")) {
		if (pipe(p) < 0)
			return -errno;
		return 0;
	}
	if (!strcmp(kind, "eventfd"))
		fd = eventfd(0, 0);
	else if (!strcmp(kind, "socket"))
		fd = socketpair(AF_UNIX, SOCK_STREAM, 0, p);
	else if (!strcmp(kind, "epoll"))
		fd = epoll_create1(0);
	else
		fd = open("/dev/null", O_RDONLY);
	return fd < 0 ? -errno : 0;
}

/* fds file|pipe|eventfd|socket|epoll: raise soft to hard, then open until refused. */
static int cmd_fds(int argc, char **argv)
{
	const char *kind = arg_str(argc, argv, 2, "file");
	struct rlimit rl, big = { 1 << 20, 1 << 20 };
	long opened = 0;
	int err = 0, raise_err;

	raise_err = setrlimit(RLIMIT_NOFILE, &big) < 0 ? errno : 0;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	while (opened < 2000000) {
		err = -open_kind(kind);
		if (err)
			break;
		opened++;
	}
	j_open('{');
	j_kint("opened", opened);
	j_kerr("errno", err);
	j_kerr("raise_hard", raise_err);
	j_kint("nofile_hard", rl.rlim_max == RLIM_INFINITY ? -1 : (long long)rl.rlim_max);
	j_close('}');
	return j_flush();
}

/* ---- T15 huge argv/env ------------------------------------------------------------------ */

/* Forks and execs /proc/self/exe noop with argv/envp; returns the errno name or "exec_ok". */
static const char *exec_try(char *const *av, char *const *ev)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execve("/proc/self/exe", av, ev);
		_exit(errno);
	}
	if (pid < 0)
		return errname(errno);
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		return "signaled";
	return WEXITSTATUS(status) == 200 ? "exec_ok" : errname(WEXITSTATUS(status));
}

/* bigexec: one 1 MiB argument, 100 MiB of argv, 100 MiB of env, and a sane exec. */
static int cmd_bigexec(int argc __attribute__((unused)), char **argv __attribute__((unused)))
{
	enum { STR = 128 * 1024 - 2, MANY = 800 };
	static char *av[MANY + 4], *ev[MANY + 2];
	char *big = malloc(MIB + 1), *str = malloc(STR + 1);

	if (!big || !str)
		return 1;
	memset(big, 'a', MIB);
	big[MIB] = 0;
	memset(str, 'b', STR);
	str[STR] = 0;
	j_open('{');
	av[0] = "probe";
	av[1] = "noop";
	av[2] = big;
	j_kstr("arg_1m", exec_try(av, ev));
	/* one buffer, 800 pointers: 100 MiB of argv/env without allocating it */
	for (int i = 0; i < MANY; i++)
		av[2 + i] = ev[i] = str;
	j_kstr("argv_100m", exec_try(av, (char *[]){ NULL }));
	av[2] = NULL;
	j_kstr("env_100m", exec_try(av, ev));
	j_kstr("sane", exec_try(av, (char *[]){ "A=1", NULL }));
	j_close('}');
	return j_flush();
}

/* ---- T16 core dumps ----------------------------------------------------------------------- */

static void core_crash(void)
{
	struct rlimit inf = { RLIM_INFINITY, RLIM_INFINITY }, rl;

	setrlimit(RLIMIT_CORE, &inf);
	getrlimit(RLIMIT_CORE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 1);
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
	_exit(1);
}

static void core_files(void)
{
	char *names[256];
	int n = list_dir(".", names, ARRAY_SIZE(names));

	j_key("core_files");
	j_open('[');
	for (int i = 0; i < n; i++)
		if (!strncmp(names[i], "core", 4))
			j_str(names[i]);
	j_close(']');
}

/* core HEAP_MB N: with a big heap, N children raise SIGSEGV after trying to allow cores. */
static int cmd_core(int argc, char **argv)
{
	long heap_mb = arg_long(argc, argv, 2, 16), n = arg_long(argc, argv, 3, 3);
	struct rlimit inf = { RLIM_INFINITY, RLIM_INFINITY }, rl;
	char *heap = malloc((size_t)heap_mb * MIB);
	int status;
	pid_t pid;

	if (heap)
		memset(heap, 0x11, (size_t)heap_mb * MIB);
	j_open('{');
	j_kerr("raise_core_limit", setrlimit(RLIMIT_CORE, &inf) < 0 ? errno : 0);
	getrlimit(RLIMIT_CORE, &rl);
	j_kint("core_soft", rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
	j_kint("core_hard", rl.rlim_max == RLIM_INFINITY ? -1 : (long long)rl.rlim_max);
	j_key("crashes");
	j_open('[');
	for (long i = 0; i < n; i++) {
		pid = fork();
		if (pid == 0)
			core_crash();
		if (pid < 0 || waitpid(pid, &status, 0) < 0)
			break;
		j_open('{');
		j_kint("signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		j_kbool("core_dumped", WIFSIGNALED(status) && WCOREDUMP(status));
		j_close('}');
	}
	j_close(']');
	core_files();
	j_close('}');
	return j_flush();
}

/* ---- T17-T20 network (only inside an empty network namespace) ------------------------------ */

/* True only when the sole interface is "lo": nothing can leave the machine from here. */
static bool in_empty_netns(void)
{
	char names[64][IFNAMSIZ];
	int n = read_ifnames(names, 64);

	return n == 1 && !strcmp(names[0], "lo");
}

/* Non-blocking connect; waits up to ms for the outcome; returns 0 or errno. */
static int connect_errno(int fd, const struct sockaddr *sa, socklen_t len, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t elen = sizeof(int);
	int err = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	if (poll(&pfd, 1, ms) != 1)
		return ETIMEDOUT;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	return err;
}

static void j_result(const char *key, int err, long long t0)
{
	j_key(key);
	j_open('{');
	j_kerr("errno", err);
	j_kint("ms", now_ms() - t0);
	j_close('}');
}

static void net_tcp(const char *key, int family, const char *addr, int port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	long long t0 = now_ms();
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0) {
		j_result(key, errno, t0);
		return;
	}
	if (family == AF_INET) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &in4->sin_addr);
	} else {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &in6->sin6_addr);
	}
	err = connect_errno(fd, (struct sockaddr *)&ss, sizeof(ss), 1000);
	close(fd);
	j_result(key, err, t0);
}

static void net_udp_dns(void)
{
	static const char query[] = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
				    "\x07example\x03com\x00\x00\x01\x00\x01";
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
	long long t0 = now_ms();
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	inet_pton(AF_INET, "8.8.8.8", &sa.sin_addr);
	if (fd < 0 ||
	    sendto(fd, query, sizeof(query) - 1, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	j_result("udp_8.8.8.8:53", err, t0);
}

static const char *gai_name(int rc)
{
	static const struct {
		int rc;
		const char *name;
	} names[] = {
		{ 0, "OK" },
		{ EAI_AGAIN, "EAI_AGAIN" },
		{ EAI_NONAME, "EAI_NONAME" },
		{ EAI_FAIL, "EAI_FAIL" },
		{ EAI_SYSTEM, "EAI_SYSTEM" },
		{ EAI_NODATA, "EAI_NODATA" },
		{ EAI_FAMILY, "EAI_FAMILY" },
		{ EAI_SERVICE, "EAI_SERVICE" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].rc == rc)
			return names[i].name;
	return "EAI_OTHER";
}

static void net_lookup(const char *key, const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char addr[INET6_ADDRSTRLEN] = "";
	long long t0 = now_ms();
	int rc = getaddrinfo(host, "443", &hints, &res);

	if (rc == 0 && res->ai_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr,
			  sizeof(addr));
	if (rc == 0)
		freeaddrinfo(res);
	j_key(key);
	j_open('{');
	j_kstr("rc", gai_name(rc));
	j_kstr("addr", addr);
	j_kint("ms", now_ms() - t0);
	j_close('}');
}

static void net_egress(void)
{
	static char resolv[4096];

	net_tcp("tcp_1.1.1.1:443", AF_INET, "1.1.1.1", 443);
	net_tcp("tcp_[2606:4700:4700::1111]:443", AF_INET6, "2606:4700:4700::1111", 443);
	net_udp_dns();
	net_lookup("dns_example.com", "example.com");
	net_lookup("dns_localhost", "localhost");
	j_kstr("resolv_conf",
	       read_small("/etc/resolv.conf", resolv, sizeof(resolv)) < 0 ? "" : resolv);
}

/* Abstract unix socket NAME (without the leading NUL); returns 0 or errno. */
static int unix_abstract_connect(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return errno;
	if (len > sizeof(sa.sun_path) - 1)
		len = sizeof(sa.sun_path) - 1;
	memcpy(sa.sun_path + 1, name, len);
	err = connect(fd, (struct sockaddr *)&sa,
		      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) < 0
		      ? errno
		      : 0;
	close(fd);
	return err;
}

/* Our own loopback must work: listen on 127.0.0.1, connect, exchange a byte. */
static int net_self(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, a = -1, err = 0;
	char b = 0;

	if (l < 0 || bind(l, (struct sockaddr *)&sa, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0)
		err = errno;
	if (!err && (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		err = errno;
	if (!err && connect(c, (struct sockaddr *)&sa, len) < 0)
		err = errno;
	if (!err &&
	    ((a = accept(l, NULL, NULL)) < 0 || write(c, "k", 1) != 1 || read(a, &b, 1) != 1))
		err = errno ? errno : EIO;
	if (!err && b != 'k')
		err = EIO;
	for (int *fd = (int[]){ l, c, a }, i = 0; i < 3; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return err;
}

/* loopback [PORT|@ABSTRACT]...: host services must be out of reach, our own loopback works. */
static void net_loopback(int argc, char **argv)
{
	static const int ports[] = { 22, 80, 2375, 5432, 6379, 8080 };
	char key[128];
	long long t0;

	for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
		snprintf(key, sizeof(key), "tcp_127.0.0.1:%d", ports[i]);
		net_tcp(key, AF_INET, "127.0.0.1", ports[i]);
	}
	net_tcp("tcp_[::1]:22", AF_INET6, "::1", 22);
	net_tcp("tcp_169.254.169.254:80", AF_INET, "169.254.169.254", 80);
	for (int i = 3; i < argc; i++) {
		t0 = now_ms();
		if (argv[i][0] == '@') {
			snprintf(key, sizeof(key), "unix_%s", argv[i]);
			j_result(key, unix_abstract_connect(argv[i] + 1), t0);
		} else {
			snprintf(key, sizeof(key), "tcp_127.0.0.1:%s", argv[i]);
			net_tcp(key, AF_INET, "127.0.0.1", atoi(argv[i]));
		}
	}
	t0 = now_ms();
	j_result("unix_@/containerd-shim/x.sock", unix_abstract_connect("/containerd-shim/x.sock"),
		 t0);
	t0 = now_ms();
	j_result("self_loopback", net_self(), t0);
}

static int socket_errno(int family, int type, int proto)
{
	int fd = socket(family, type | SOCK_CLOEXEC, proto);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static void net_raw(void)
{
	j_kerr("inet_raw_icmp", socket_errno(AF_INET, SOCK_RAW, IPPROTO_ICMP));
	j_kerr("inet_raw_raw", socket_errno(AF_INET, SOCK_RAW, IPPROTO_RAW));
	j_kerr("inet6_raw_icmpv6", socket_errno(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
	j_kerr("packet_raw", socket_errno(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
	j_kerr("packet_dgram", socket_errno(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL)));
	j_kerr("inet_packet_legacy", socket_errno(AF_INET, SOCK_PACKET, htons(ETH_P_ALL)));
	/* informational: ICMP datagram sockets are allowed by ping_group_range, harmless here */
	j_kerr("inet_dgram_icmp", socket_errno(AF_INET, SOCK_DGRAM, IPPROTO_ICMP));
}

/* Every family x common type: "OK" if any type made a socket, else the errnos seen. */
static void net_family(int family)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET };
	char key[16], errs[128] = "";
	bool ok = false;

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		int e = socket_errno(family, types[i], 0);
		const char *n = errname(e);

		ok |= e == 0;
		if (!strstr(errs, n) && strlen(errs) + strlen(n) + 2 < sizeof(errs)) {
			if (errs[0])
				strcat(errs, ",");
			strcat(errs, n);
		}
	}
	snprintf(key, sizeof(key), "%d", family);
	j_kstr(key, ok ? "OK" : errs);
}

static void net_families(void)
{
	static const int nl_protos[] = { NETLINK_ROUTE,	  NETLINK_SOCK_DIAG, NETLINK_XFRM,
					 NETLINK_AUDIT,	  NETLINK_NETFILTER, NETLINK_KOBJECT_UEVENT,
					 NETLINK_GENERIC, NETLINK_CRYPTO };
	char key[16];

	j_key("families");
	j_open('{');
	for (int f = 0; f < 64; f++)
		net_family(f);
	j_close('}');
	j_key("netlink");
	j_open('{');
	for (size_t i = 0; i < ARRAY_SIZE(nl_protos); i++) {
		snprintf(key, sizeof(key), "%d", nl_protos[i]);
		j_kerr(key, socket_errno(AF_NETLINK, SOCK_RAW, nl_protos[i]));
	}
	j_close('}');
	j_kerr("dccp", socket_errno(AF_INET, 6 /* SOCK_DCCP */, 33 /* IPPROTO_DCCP */));
	j_kerr("sctp", socket_errno(AF_INET, SOCK_STREAM, IPPROTO_SCTP));
	j_kerr("alg_seqpacket", socket_errno(38 /* AF_ALG */, SOCK_SEQPACKET, 0));
	j_kerr("vsock_stream", socket_errno(40 /* AF_VSOCK */, SOCK_STREAM, 0));
}

/* Runs fn in a child and reports how the child ended: {"signal":N} or {"ret":"ENAME"}. */
static void abi_try(const char *key, long (*fn)(void))
{
	int status;
	long r;
	pid_t pid = fork();

	if (pid == 0) {
		r = fn();
		_exit(r < 0 ? (int)-r : 0);
	}
	waitpid(pid, &status, 0);
	j_key(key);
	j_open('{');
	j_kint("signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	j_kerr("ret", WIFEXITED(status) ? WEXITSTATUS(status) : 0);
	j_close('}');
}

/* i386 socketcall(SYS_SOCKET, {AF_ALG, SOCK_SEQPACKET, 0}) through int 0x80. */
static long abi_socketcall(void)
{
	static unsigned int args[3] = { 38, SOCK_SEQPACKET, 0 }; /* below 4 GiB: static, non-PIE */
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(102L), "b"(1L), "c"((long)(uintptr_t)args)
			 : "memory");
	return ret;
}

/* i386 socket(AF_ALG, SOCK_SEQPACKET, 0) (nr 359) through int 0x80. */
static long abi_socket32(void)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(359L), "b"(38L), "c"(5L), "d"(0L)
			 : "memory");
	return ret;
}

/* x32 socket(AF_ALG, ...): the native syscall number with __X32_SYSCALL_BIT. */
static long abi_x32(void)
{
	return syscall(0x40000000L | 41, 38, SOCK_SEQPACKET, 0) < 0 ? -errno : 0;
}

static int cmd_net(int argc, char **argv)
{
	const char *what = arg_str(argc, argv, 2, "egress");

	if (!in_empty_netns()) {
		fprintf(stderr, "probe net: refusing: not inside an empty network namespace\n");
		return 3;
	}
	j_open('{');
	if (!strcmp(what, "egress"))
		net_egress();
	else if (!strcmp(what, "loopback"))
		net_loopback(argc, argv);
	else if (!strcmp(what, "raw"))
		net_raw();
	else if (!strcmp(what, "families"))
		net_families();
	if (!strcmp(what, "families") || !strcmp(what, "abi")) {
		abi_try("socketcall_int80", abi_socketcall);
		abi_try("socket_int80", abi_socket32);
		abi_try("socket_x32", abi_x32);
	}
	j_close('}');
	return j_flush();
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} cmds[] = {
	{ "view", cmd_view, "the jail's inventory (ids, caps, mounts, /dev, fds, env, rlimits)" },
	{ "noop", cmd_noop, "exit 200 (exec target of bigexec)" },
	{ "exit", cmd_exit, "CODE" },
	{ "kill", cmd_kill, "SIGNAL: raise it" },
	{ "cat", cmd_cat, "copy stdin to stdout" },
	{ "print", cmd_print, "OUT ERR [CODE]" },
	{ "lines", cmd_lines, "N MS: N lines, MS apart" },
	{ "stat", cmd_stat, "PATH...: type, mode, content, entries" },
	{ "forkbomb", cmd_forkbomb, "count|storm SECONDS (T01)" },
	{ "threadbomb", cmd_threadbomb, "STACK_KB TOUCH_KB SECONDS (T02)" },
	{ "membomb", cmd_membomb, "touch|populate|mlock MAX_MB (T03)" },
	{ "tmpfill", cmd_tmpfill, "PATH MAX_MB (T04/T05)" },
	{ "inodefill", cmd_inodefill, "DIR MAX (T05)" },
	{ "shmbomb", cmd_shmbomb, "MAX_MB: SysV shm never removed (T04)" },
	{ "mqbomb", cmd_mqbomb, "MAX: POSIX message queues (T04)" },
	{ "rootfs", cmd_rootfs, "writes to the read-only root (T06)" },
	{ "outflood", cmd_outflood, "BYTES FD NEWLINES (T07)" },
	{ "blockpipe", cmd_blockpipe, "PREFILL SECONDS (T08)" },
	{ "cpuloop", cmd_cpuloop, "SECONDS (T09)" },
	{ "cpuburn", cmd_cpuburn, "THREADS CHILDREN SECONDS (T10)" },
	{ "sleep", cmd_sleep, "sleep|pause|read SECONDS (T11)" },
	{ "daemon", cmd_daemon, "close|hold|respawn SECONDS (T12)" },
	{ "zombies", cmd_zombies, "unreaped|orphans N (T13)" },
	{ "fds", cmd_fds, "file|pipe|eventfd|socket|epoll (T14)" },
	{ "bigexec", cmd_bigexec, "huge argv/env (T15)" },
	{ "core", cmd_core, "HEAP_MB N (T16)" },
	{ "net", cmd_net, "egress|loopback [PORT|@NAME...]|raw|families|abi (T17-T20, jail only)" },
};

int main(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
			if (!strcmp(argv[1], cmds[i].name))
				return cmds[i].fn(argc, argv);
	fprintf(stderr, "usage: probe COMMAND [ARG...]\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(stderr, "  %-10s %s\n", cmds[i].name, cmds[i].usage);
	return 2;
}
