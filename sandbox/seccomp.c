/* SPDX-License-Identifier: MIT */
/*
 * seccomp.c - the syscall filter.
 *
 * Owns: reading a profile in Docker's seccomp JSON format, evaluating its conditions for this
 * sandbox (an EMPTY capability set, the native architecture, the running kernel), compiling it
 * with libseccomp to classic BPF, prepending runc's ENOSYS stub, and installing the program.
 *
 * Must not: compile anything after clone. seccomp_install() runs in the child and is the only
 * function here allowed there: one syscall, no allocation, no libseccomp.
 *
 * Differences from runc, on purpose:
 *  - Only the native ABI is compiled in, whatever "architectures"/"archMap" say. Every other
 *    ABI hits the bad-arch action KILL_PROCESS: on x86_64 that is int 0x80 (i386) and x32
 *    (nr | 0x40000000). This closes socketcall(), whose socket family libseccomp cannot see.
 *  - Unknown keys in the JSON are errors: a typo such as "arg" for "args" would otherwise
 *    silently turn a conditional rule into an unconditional ALLOW.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h> /* libseccomp's; ours is "seccomp.h" (the build uses -iquote sandbox) */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "seccomp.h"
#include "util.h"

#define PROFILE_MAX_BYTES (1 << 20)
#define ERRNO_MAX	  4095
#define ARGS_MAX	  6
#define JSON_INT_MAX	  (1ULL << 53) /* cJSON keeps numbers as doubles: exact up to 2^53 */
#define X32_SYSCALL_BIT	  0x40000000u
#define SYSCALL_SCAN_MAX  1024

struct compiler {
	const char *file; /* basename of the profile, for messages */
	struct sbx_error *err;
	scmp_filter_ctx ctx;
	uint32_t default_action;
	unsigned kernel_major, kernel_minor;
};

/* One rule object, checked and evaluated; nothing after this looks at its JSON but "names". */
struct rule {
	uint32_t action;
	unsigned n_args;
	struct scmp_arg_cmp args[ARGS_MAX];
	bool applies;
};

static const struct {
	const char *name;
	uint32_t action;
} actions[] = {
	{ "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW },
	{ "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0) },
	{ "SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD }, /* what runc maps it to */
	{ "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD },
	{ "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS },
	{ "SCMP_ACT_TRAP", SCMP_ACT_TRAP },
	{ "SCMP_ACT_LOG", SCMP_ACT_LOG },
};

static const struct {
	const char *name;
	enum scmp_compare op;
} operators[] = {
	{ "SCMP_CMP_NE", SCMP_CMP_NE },
	{ "SCMP_CMP_LT", SCMP_CMP_LT },
	{ "SCMP_CMP_LE", SCMP_CMP_LE },
	{ "SCMP_CMP_EQ", SCMP_CMP_EQ },
	{ "SCMP_CMP_GE", SCMP_CMP_GE },
	{ "SCMP_CMP_GT", SCMP_CMP_GT },
	{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

/* Names a profile may use for this architecture in "arches" (Go's GOARCH and libseccomp's). */
static const char *const native_arch_names[] = { "amd64", "x86_64" };

static const char *const top_keys[] = {
	"comment", "defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls", NULL
};
static const char *const rule_keys[] = { "names",    "name",	 "action",  "args", "includes",
					 "excludes", "errnoRet", "comment", NULL };
static const char *const arg_keys[] = { "index", "value", "valueTwo", "op", NULL };
static const char *const filter_keys[] = { "caps", "arches", "minKernel", NULL };

static void seccomp_releasep(scmp_filter_ctx *p)
{
	if (*p)
		seccomp_release(*p);
}

/* "seccomp.json: syscalls[3].args[0].op: unknown operator ..." -> -EINVAL */
_printf_(4, 5) static int field_err(const struct compiler *c, const char *where, const char *field,
				    const char *fmt, ...)
{
	char msg[SBX_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sbx_err_msg(c->err, EINVAL, "%s: %s%s%s: %s", c->file, where, *where ? "." : "",
			   field, msg);
}

static int check_keys(const struct compiler *c, const char *where, const cJSON *obj,
		      const char *const *allowed)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, obj)
	{
		const char *const *k;

		for (k = allowed; *k; k++)
			if (strcmp(item->string, *k) == 0)
				break;
		if (!*k)
			return field_err(c, where, item->string, "unknown key");
	}
	return 0;
}

static int get_u64(const struct compiler *c, const char *where, const char *field,
		   const cJSON *item, uint64_t max, uint64_t *ret)
{
	double v;

	if (!cJSON_IsNumber(item))
		return field_err(c, where, field, item ? "not a number" : "missing");
	v = cJSON_GetNumberValue(item);
	/* cJSON parses into a double: refuse what it cannot hold exactly. */
	if (v < 0 || v > (double)max || v != (double)(uint64_t)v)
		return field_err(c, where, field, "not an integer in [0, %llu]",
				 (unsigned long long)max);
	*ret = (uint64_t)v;
	return 0;
}

static int get_string(const struct compiler *c, const char *where, const char *field,
		      const cJSON *item, const char **ret)
{
	if (!cJSON_IsString(item))
		return field_err(c, where, field, item ? "not a string" : "missing");
	*ret = item->valuestring;
	return 0;
}

static int check_string_array(const struct compiler *c, const char *where, const char *field,
			      const cJSON *arr)
{
	const cJSON *item;

	if (!cJSON_IsArray(arr))
		return field_err(c, where, field, "not an array");
	cJSON_ArrayForEach(item, arr)
	{
		if (!cJSON_IsString(item))
			return field_err(c, where, field, "not an array of strings");
	}
	return 0;
}

static int parse_errno(const struct compiler *c, const char *where, const char *field,
		       const cJSON *item, uint32_t *action)
{
	uint64_t e = EPERM; /* runc's choice when errnoRet is absent */
	int r;

	if (item) {
		r = get_u64(c, where, field, item, ERRNO_MAX, &e);
		if (r < 0)
			return r;
	}
	*action = SCMP_ACT_ERRNO((uint32_t)e);
	return 0;
}

/* action + errno_key ("errnoRet" or "defaultErrnoRet") of obj -> a libseccomp action. */
static int parse_action(const struct compiler *c, const char *where, const cJSON *obj,
			const char *action_key, const char *errno_key, uint32_t *ret)
{
	const cJSON *errno_item = cJSON_GetObjectItemCaseSensitive(obj, errno_key);
	const char *name = NULL;
	size_t i;
	int r;

	r = get_string(c, where, action_key, cJSON_GetObjectItemCaseSensitive(obj, action_key),
		       &name);
	if (r < 0)
		return r;
	for (i = 0; i < ELEMENTSOF(actions); i++)
		if (strcmp(name, actions[i].name) == 0)
			break;
	if (i == ELEMENTSOF(actions))
		return field_err(c, where, action_key, "unknown action \"%s\"", name);
	if (actions[i].action == (uint32_t)SCMP_ACT_ERRNO(0))
		return parse_errno(c, where, errno_key, errno_item, ret);
	if (errno_item)
		return field_err(c, where, errno_key, "only valid with SCMP_ACT_ERRNO");
	*ret = actions[i].action;
	return 0;
}

static int parse_op(const struct compiler *c, const char *where, const cJSON *item,
		    enum scmp_compare *ret)
{
	const char *name = NULL;
	size_t i;
	int r;

	r = get_string(c, where, "op", item, &name);
	if (r < 0)
		return r;
	for (i = 0; i < ELEMENTSOF(operators); i++) {
		if (strcmp(name, operators[i].name) == 0) {
			*ret = operators[i].op;
			return 0;
		}
	}
	return field_err(c, where, "op", "unknown operator \"%s\"", name);
}

/* {"index": 0, "value": 38, "valueTwo": 0, "op": "SCMP_CMP_LT"} */
static int parse_arg(const struct compiler *c, const char *where, const cJSON *obj,
		     struct scmp_arg_cmp *ret)
{
	const cJSON *two = cJSON_GetObjectItemCaseSensitive(obj, "valueTwo");
	uint64_t index = 0, a = 0, b = 0;
	int r;

	r = get_u64(c, where, "index", cJSON_GetObjectItemCaseSensitive(obj, "index"), ARGS_MAX - 1,
		    &index);
	if (r >= 0)
		r = get_u64(c, where, "value", cJSON_GetObjectItemCaseSensitive(obj, "value"),
			    JSON_INT_MAX, &a);
	if (r >= 0 && two)
		r = get_u64(c, where, "valueTwo", two, JSON_INT_MAX, &b);
	if (r >= 0)
		r = parse_op(c, where, cJSON_GetObjectItemCaseSensitive(obj, "op"), &ret->op);
	if (r < 0)
		return r;
	/* Docker's order matches libseccomp's: MASKED_EQ is (arg & value) == valueTwo. */
	ret->arg = (unsigned)index;
	ret->datum_a = a;
	ret->datum_b = b;
	return 0;
}

static int parse_args(const struct compiler *c, const char *where, const cJSON *arr,
		      struct rule *rule)
{
	const cJSON *item;
	char here[64];
	int r;

	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return field_err(c, where, "args", "not an array");
	cJSON_ArrayForEach(item, arr)
	{
		snprintf(here, sizeof(here), "%s.args[%u]", where, rule->n_args);
		if (rule->n_args == ARGS_MAX)
			return field_err(c, where, "args", "more than %d conditions", ARGS_MAX);
		if (!cJSON_IsObject(item))
			return field_err(c, "", here, "not an object");
		r = check_keys(c, here, item, arg_keys);
		if (r >= 0)
			r = parse_arg(c, here, item, &rule->args[rule->n_args]);
		if (r < 0)
			return r;
		rule->n_args++;
	}
	return 0;
}

static bool has_string(const cJSON *arr, const char *const *names, size_t n)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, arr)
	{
		for (size_t i = 0; i < n; i++)
			if (strcmp(item->valuestring, names[i]) == 0)
				return true;
	}
	return false;
}

/* "4.8" -> true when the running kernel is at least that. */
static int kernel_at_least(const struct compiler *c, const char *where, const cJSON *item,
			   bool *ret)
{
	const char *s = NULL;
	unsigned major, minor;
	int n = 0, r;

	r = get_string(c, where, "minKernel", item, &s);
	if (r < 0)
		return r;
	if (sscanf(s, "%u.%u%n", &major, &minor, &n) != 2 || s[n] != '\0')
		return field_err(c, where, "minKernel", "\"%s\" is not MAJOR.MINOR", s);
	*ret = c->kernel_major > major || (c->kernel_major == major && c->kernel_minor >= minor);
	return 0;
}

/* What an "includes"/"excludes" object says about this sandbox. */
struct filter_facts {
	bool names_caps;   /* lists at least one cap: we hold none (jobs run with no caps) */
	bool names_arches; /* has an "arches" list ... */
	bool native_arch;  /* ... that names this architecture */
	bool names_kernel; /* has "minKernel" ... */
	bool kernel_new;   /* ... and the running kernel is at least that */
};

static int read_filter(const struct compiler *c, const char *where, const cJSON *obj,
		       struct filter_facts *f)
{
	const cJSON *caps = cJSON_GetObjectItemCaseSensitive(obj, "caps");
	const cJSON *arches = cJSON_GetObjectItemCaseSensitive(obj, "arches");
	const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(obj, "minKernel");
	int r;

	if (!cJSON_IsObject(obj))
		return field_err(c, "", where, "not an object");
	r = check_keys(c, where, obj, filter_keys);
	if (r >= 0 && caps)
		r = check_string_array(c, where, "caps", caps);
	if (r >= 0 && arches)
		r = check_string_array(c, where, "arches", arches);
	if (r >= 0 && kernel)
		r = kernel_at_least(c, where, kernel, &f->kernel_new);
	f->names_caps = cJSON_GetArraySize(caps) > 0;
	f->names_arches = arches;
	f->native_arch =
		arches && has_string(arches, native_arch_names, ELEMENTSOF(native_arch_names));
	f->names_kernel = kernel;
	return r;
}

/*
 * Docker's semantics: "includes" = every listed condition must hold; "excludes" = the rule is
 * dropped if any listed condition holds. With an empty cap set, includes.caps always drops the
 * rule (open_by_handle_at, mount, unshare, bpf, ...) and excludes.caps never does (the clone
 * namespace-flag filter, clone3 -> ENOSYS).
 */
static bool includes_hold(const struct filter_facts *f)
{
	return !f->names_caps && (!f->names_arches || f->native_arch) &&
	       (!f->names_kernel || f->kernel_new);
}

static bool excludes_hold(const struct filter_facts *f)
{
	return f->native_arch || (f->names_kernel && f->kernel_new);
}

static int eval_conditions(const struct compiler *c, const char *where, const cJSON *obj, bool *ret)
{
	const cJSON *inc = cJSON_GetObjectItemCaseSensitive(obj, "includes");
	const cJSON *exc = cJSON_GetObjectItemCaseSensitive(obj, "excludes");
	struct filter_facts fi = { 0 }, fe = { 0 };
	char here[64];
	int r = 0;

	if (inc) {
		snprintf(here, sizeof(here), "%s.includes", where);
		r = read_filter(c, here, inc, &fi);
	}
	if (r >= 0 && exc) {
		snprintf(here, sizeof(here), "%s.excludes", where);
		r = read_filter(c, here, exc, &fe);
	}
	*ret = includes_hold(&fi) && !(exc && excludes_hold(&fe));
	return r;
}

/* "names": [...] or the old single "name". */
static int get_names(const struct compiler *c, const char *where, const cJSON *obj,
		     const cJSON **ret_names, const cJSON **ret_name)
{
	*ret_names = cJSON_GetObjectItemCaseSensitive(obj, "names");
	*ret_name = cJSON_GetObjectItemCaseSensitive(obj, "name");
	if (*ret_names)
		return check_string_array(c, where, "names", *ret_names);
	if (*ret_name)
		return cJSON_IsString(*ret_name) ? 0 : field_err(c, where, "name", "not a string");
	return field_err(c, where, "names", "missing");
}

/*
 * Names this libseccomp does not know are skipped, as runc does; so are pseudo-syscalls
 * (negative numbers such as chown32 or socketcall on x86_64): they do not exist natively.
 */
static int add_one(const struct compiler *c, const char *where, const char *name,
		   const struct rule *rule)
{
	int nr = seccomp_syscall_resolve_name(name);
	int r;

	if (nr == __NR_SCMP_ERROR || nr < 0)
		return 0;
	r = seccomp_rule_add_array(c->ctx, rule->action, nr, rule->n_args, rule->args);
	if (r == -EINVAL && rule->n_args > 1)
		return field_err(
			c, where, "args",
			"libseccomp refused the rule for \"%s\" (two conditions on one argument?)",
			name);
	if (r < 0)
		return sbx_err(c->err, -r, "%s: %s: add rule for \"%s\"", c->file, where, name);
	return 0;
}

static int add_rule(const struct compiler *c, const char *where, const cJSON *names,
		    const cJSON *name, const struct rule *rule)
{
	const cJSON *item;
	int r;

	if (!names)
		return add_one(c, where, name->valuestring, rule);
	cJSON_ArrayForEach(item, names)
	{
		r = add_one(c, where, item->valuestring, rule);
		if (r < 0)
			return r;
	}
	return 0;
}

static int compile_rule(const struct compiler *c, unsigned idx, const cJSON *obj)
{
	const cJSON *names, *name;
	struct rule rule = { 0 };
	char where[32];
	int r;

	snprintf(where, sizeof(where), "syscalls[%u]", idx);
	if (!cJSON_IsObject(obj))
		return field_err(c, "", where, "not an object");
	r = check_keys(c, where, obj, rule_keys);
	if (r >= 0)
		r = get_names(c, where, obj, &names, &name);
	if (r >= 0)
		r = parse_action(c, where, obj, "action", "errnoRet", &rule.action);
	if (r >= 0)
		r = parse_args(c, where, cJSON_GetObjectItemCaseSensitive(obj, "args"), &rule);
	if (r >= 0)
		r = eval_conditions(c, where, obj, &rule.applies);
	if (r < 0)
		return r;
	/* Like runc: a rule whose action is the default adds nothing (libseccomp refuses it). */
	if (!rule.applies || rule.action == c->default_action)
		return 0;
	return add_rule(c, where, names, name, &rule);
}

static int check_arch_lists(const struct compiler *c, const cJSON *root)
{
	const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "archMap");

	/* Read for shape only: the filter is always native-only (see the top of this file). */
	if (archs && !cJSON_IsArray(archs))
		return field_err(c, "", "architectures", "not an array");
	if (map && !cJSON_IsArray(map))
		return field_err(c, "", "archMap", "not an array");
	return archs ? check_string_array(c, "", "architectures", archs) : 0;
}

static int compile_rules(const struct compiler *c, const cJSON *root)
{
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "syscalls");
	const cJSON *item;
	unsigned idx = 0;
	int r;

	if (!cJSON_IsArray(rules))
		return field_err(c, "", "syscalls", rules ? "not an array" : "missing");
	cJSON_ArrayForEach(item, rules)
	{
		r = compile_rule(c, idx++, item);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_profile(const char *path, cJSON **ret, struct sbx_error *err)
{
	_cleanup_free_ char *buf = NULL;
	const char *end = NULL;
	int line = 1, r = sbx_read_file_all(AT_FDCWD, path, 0, PROFILE_MAX_BYTES, &buf, NULL);

	if (r < 0)
		return sbx_err(err, -r, "read %s (a regular file of at most %d bytes)", path,
			       PROFILE_MAX_BYTES);
	*ret = cJSON_ParseWithOpts(buf, &end, true);
	if (*ret)
		return 0;
	for (const char *p = buf; end && p < end; p++)
		line += *p == '\n';
	return sbx_err_msg(err, EINVAL, "%s: line %d: invalid JSON", path, line);
}

static int init_filter(struct compiler *c, const cJSON *root)
{
	struct utsname u;
	int r;

	if (seccomp_arch_native() != SCMP_ARCH_X86_64)
		return sbx_err_msg(c->err, EOPNOTSUPP, "seccomp: only x86_64 is supported");
	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &c->kernel_major, &c->kernel_minor) != 2)
		return sbx_err_msg(c->err, EIO, "seccomp: cannot read the kernel version");
	r = check_keys(c, "", root, top_keys);
	if (r >= 0)
		r = check_arch_lists(c, root);
	if (r >= 0)
		r = parse_action(c, "", root, "defaultAction", "defaultErrnoRet",
				 &c->default_action);
	if (r < 0)
		return r;
	c->ctx = seccomp_init(c->default_action);
	if (!c->ctx)
		return sbx_err_msg(c->err, ENOMEM, "seccomp_init failed");
	/* i386 (int 0x80) and x32 syscalls die: it also shuts socketcall(), CVE-2026-31431. */
	r = seccomp_attr_set(c->ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* no_new_privs is set by the caller, once, before the install. */
	if (r >= 0)
		r = seccomp_attr_set(c->ctx, SCMP_FLTATR_CTL_NNP, 0);
	/*
	 * A binary tree over syscall numbers: slightly more instructions, but a short path per
	 * syscall. At install the kernel emulates the filter for every syscall number to build its
	 * allow cache, so a linear program made each job's install cost ~0.55 ms; the tree ~0.2 ms.
	 */
	if (r >= 0)
		r = seccomp_attr_set(c->ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0)
		return sbx_err(c->err, -r, "seccomp_attr_set");
	return 0;
}

/* The highest x86_64 syscall number this libseccomp can name: newer ones get ENOSYS. */
static unsigned highest_known_syscall(void)
{
	for (int nr = SYSCALL_SCAN_MAX - 1; nr > 0; nr--) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);

		if (name) {
			free(name);
			return (unsigned)nr;
		}
	}
	return 0;
}

/*
 * runc's ENOSYS stub (libcontainer/seccomp/patchbpf): a native syscall newer than every name
 * libseccomp knows returns ENOSYS instead of the default EPERM, so libc falls back (e.g.
 * fchmodat2 -> fchmodat) rather than failing. Other arches and x32 fall through to libseccomp's
 * program, which kills them. Jumps are relative, so the program after the stub is unchanged.
 */
#define STUB_LEN 6
static void write_enosys_stub(struct sock_filter *f, unsigned max_nr)
{
	const struct sock_filter stub[STUB_LEN] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 4), /* else -> 6 */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 2, 0), /* x32 -> 6 */
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, max_nr, 0, 1),	    /* known -> 6 */
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	};

	memcpy(f, stub, sizeof(stub));
}

/* A denylist profile (default allow/log) must not turn new syscalls into ENOSYS. */
static bool wants_stub(uint32_t default_action)
{
	return default_action != SCMP_ACT_ALLOW && default_action != SCMP_ACT_LOG;
}

static int export_bpf(const struct compiler *c, struct seccomp_prog *ret)
{
	_cleanup_close_ int fd = memfd_create("sbx-seccomp", MFD_CLOEXEC);
	_cleanup_free_ struct sock_filter *f = NULL;
	size_t stub = wants_stub(c->default_action) ? STUB_LEN : 0, n;
	ssize_t rd;
	off_t size;
	int r;

	if (fd < 0)
		return sbx_err(c->err, errno, "memfd_create");
	r = seccomp_export_bpf(c->ctx, fd);
	if (r < 0)
		return sbx_err(c->err, -r, "seccomp_export_bpf");
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % sizeof(*f) != 0)
		return sbx_err_msg(c->err, EIO, "seccomp_export_bpf: bad size %lld",
				   (long long)size);
	n = (size_t)size / sizeof(*f) + stub;
	if (n > BPF_MAXINSNS)
		return sbx_err_msg(c->err, E2BIG, "%s: %zu BPF instructions, the kernel takes %d",
				   c->file, n, BPF_MAXINSNS);
	f = calloc(n, sizeof(*f));
	if (!f)
		return sbx_err(c->err, ENOMEM, "seccomp program");
	rd = pread(fd, f + stub, (size_t)size, 0);
	if (rd != size)
		return sbx_err(c->err, rd < 0 ? errno : EIO, "read back the BPF program");
	if (stub)
		write_enosys_stub(f, highest_known_syscall());
	ret->filter = TAKE_PTR(f);
	ret->len = (unsigned short)n;
	return 0;
}

int seccomp_compile_file(const char *path, struct seccomp_prog *ret, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	const char *slash = strrchr(path, '/');
	struct compiler c = { .file = slash ? slash + 1 : path, .err = err };
	int r;

	*ret = (struct seccomp_prog){ 0 };
	r = read_profile(path, &root, err);
	if (r < 0)
		return r;
	if (!cJSON_IsObject(root))
		return sbx_err_msg(err, EINVAL, "%s: not a JSON object", c.file);
	r = init_filter(&c, root);
	ctx = c.ctx;
	if (r >= 0)
		r = compile_rules(&c, root);
	if (r >= 0)
		r = export_bpf(&c, ret);
	return r;
}

void seccomp_prog_done(struct seccomp_prog *p)
{
	if (!p)
		return;
	free(p->filter);
	*p = (struct seccomp_prog){ 0 };
}

int seccomp_install(const struct seccomp_prog *p)
{
	struct sock_fprog prog;

	if (!p || !p->filter || p->len == 0)
		return -EINVAL;
	prog.len = p->len;
	prog.filter = p->filter;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Kernels before 3.17 have only the prctl form. */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0)
		return 0;
	return -errno;
}
