/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl_image.c - `sandboxctl pull | images | inspect | rm | gc`: the image store for
 * operators. Every subcommand takes --state-dir DIR (after the subcommand). `pull --all` pulls
 * the image of every language profile, so that a fresh host is ready before sandboxd starts.
 *
 * Owns: option parsing for the image commands, progress display, the operators' view of the
 * store. Must not: touch the store except through librootfs (store.h), or read more of a
 * language profile than its "name" and "image" (the schema and its checks are languages.c's).
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandboxctl.h"
#include "store.h"
#include "util.h"

#define MAX_MIRRORS 16
#define CONFIG_FILE "/etc/sandboxd/config.json"
/* As sandboxd's loader (languages.c) bounds them: --all pulls for the profiles it would load. */
#define LANG_MAX      256
#define LANG_FILE_MAX (64 * 1024)

struct image_opts {
	const char *state_dir;
	const char *config;
	const char *mirrors[MAX_MIRRORS + 1];
	size_t n_mirrors;
	const char *oci_layout;
	const char *docker_archive;
	const char *profile_dir; /* NULL: as sandboxd finds it */
	bool all;		 /* pull every language profile's image */
	struct img_pull_opts pull;
	cJSON *config_json; /* keeps the config's strings alive */
};

enum {
	OPT_STATE_DIR = 0x200,
	OPT_MIRROR,
	OPT_AUTH_FILE,
	OPT_CA_FILE,
	OPT_INSECURE,
	OPT_PLATFORM,
	OPT_CONFIG,
	OPT_OCI_LAYOUT,
	OPT_DOCKER_ARCHIVE,
	OPT_IHELP,
	OPT_MAX_SIZE,
	OPT_ALL,
	OPT_PROFILE_DIR,
};

static const struct option image_long_opts[] = {
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "registry-mirror", required_argument, NULL, OPT_MIRROR },
	{ "auth-file", required_argument, NULL, OPT_AUTH_FILE },
	{ "ca-file", required_argument, NULL, OPT_CA_FILE },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "oci-layout", required_argument, NULL, OPT_OCI_LAYOUT },
	{ "docker-archive", required_argument, NULL, OPT_DOCKER_ARCHIVE },
	{ "help", no_argument, NULL, OPT_IHELP },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "profile-dir", required_argument, NULL, OPT_PROFILE_DIR },
	{ 0 },
};

static const char image_usage[] =
	"usage: sandboxctl pull [OPTIONS] IMAGE\n"
	"       sandboxctl pull --oci-layout DIR IMAGE | --docker-archive FILE [IMAGE]\n"
	"       sandboxctl pull --all [--profile-dir DIR] [OPTIONS]\n"
	"       sandboxctl images | inspect IMAGE | rm IMAGE | gc   [--state-dir DIR]\n"
	"  --all                   pull the image of every language profile, each image once, in\n"
	"                          name order; one line each: pulled REF (DIGEST), present REF or\n"
	"                          failed REF: REASON; exit status 1 when any failed\n"
	"  --profile-dir DIR       the profiles for --all (default: $SANDBOXD_PROFILE_DIR, next\n"
	"                          to the binary, or the installed ones, as sandboxd finds them)\n"
	"  --state-dir DIR         the image store (default " IMG_STATE_DIR ")\n"
	"  --registry-mirror URL   try this mirror first for docker.io images (repeatable)\n"
	"  --auth-file FILE        Docker config.json with registry credentials\n"
	"  --ca-file FILE          trust this CA bundle for HTTPS registries\n"
	"  --insecure              allow plain HTTP to any registry (loopback always may)\n"
	"  --platform OS/ARCH[/VARIANT]  pick this platform from a multi-platform image\n"
	"  --max-size SIZE         refuse a layer that unpacks to more (default 8G)\n"
	"  --config FILE           sandboxd config (registry_mirrors, auth_file, ca_file);\n"
	"                          default " CONFIG_FILE " when it exists\n";

static int parse_platform(struct img_platform *p, const char *arg)
{
	char os[32] = "", arch[32] = "", variant[32] = "";
	int n = sscanf(arg, "%31[a-z0-9]/%31[a-z0-9]/%31[a-z0-9]", os, arch, variant);

	if (n < 2)
		return ctl_usage_error("--platform '%s': expected OS/ARCH[/VARIANT]", arg);
	snprintf(p->os, sizeof(p->os), "%s", os);
	snprintf(p->arch, sizeof(p->arch), "%s", arch);
	snprintf(p->variant, sizeof(p->variant), "%s", variant);
	return 0;
}

static int add_mirror(struct image_opts *o, const char *url)
{
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return ctl_usage_error(
			"--registry-mirror '%s': expected an http:// or https:// URL", url);
	if (o->n_mirrors == MAX_MIRRORS)
		return ctl_usage_error("--registry-mirror: at most %d", MAX_MIRRORS);
	o->mirrors[o->n_mirrors++] = url;
	return 0;
}

static int parse_one(struct image_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case OPT_STATE_DIR:
		o->state_dir = arg;
		return 0;
	case OPT_MIRROR:
		return add_mirror(o, arg);
	case OPT_AUTH_FILE:
		o->pull.registry.auth_file = arg;
		return 0;
	case OPT_CA_FILE:
		o->pull.registry.ca_file = arg;
		return 0;
	case OPT_INSECURE:
		o->pull.registry.allow_http = true;
		return 0;
	case OPT_PLATFORM:
		return parse_platform(&o->pull.platform, arg);
	case OPT_CONFIG:
		o->config = arg;
		return 0;
	case OPT_OCI_LAYOUT:
		o->oci_layout = arg;
		return 0;
	case OPT_DOCKER_ARCHIVE:
		o->docker_archive = arg;
		return 0;
	case OPT_ALL:
		o->all = true;
		return 0;
	case OPT_PROFILE_DIR:
		o->profile_dir = arg;
		return 0;
	case OPT_MAX_SIZE:
		return ctl_parse_size(arg, &o->pull.limits.max_bytes)
			       ? 0
			       : ctl_usage_error("--max-size '%s': expected a size, e.g. 2G", arg);
	case OPT_IHELP:
		fputs(image_usage, stdout);
		exit(0);
	}
	return ctl_usage_error("unknown option (try: sandboxctl pull --help)");
}

/* The config file's registry settings; flags given on the command line win. */
static int read_config(struct image_opts *o)
{
	const char *path = o->config ? o->config : CONFIG_FILE;
	const cJSON *m, *it;
	FILE *f = fopen(path, "re");
	char buf[65536];
	size_t n;

	if (!f)
		return o->config ? ctl_usage_error("--config %s: %m", path) : 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	o->config_json = cJSON_Parse(buf);
	if (!o->config_json)
		return ctl_usage_error("%s: not valid JSON", path);
	m = cJSON_GetObjectItemCaseSensitive(o->config_json, "registry_mirrors");
	cJSON_ArrayForEach(it, m)
	{
		if (!cJSON_IsString(it))
			return ctl_usage_error("%s: registry_mirrors: expected strings", path);
		if (!o->n_mirrors && add_mirror(o, it->valuestring))
			return EXIT_USAGE;
	}
	it = cJSON_GetObjectItemCaseSensitive(o->config_json, "auth_file");
	if (cJSON_IsString(it) && !o->pull.registry.auth_file)
		o->pull.registry.auth_file = it->valuestring;
	it = cJSON_GetObjectItemCaseSensitive(o->config_json, "ca_file");
	if (cJSON_IsString(it) && !o->pull.registry.ca_file)
		o->pull.registry.ca_file = it->valuestring;
	return 0;
}

/* Options, then positional arguments in argv[*ret_first ...]. */
static int parse_image_args(struct image_opts *o, int argc, char **argv, int *ret_first)
{
	int opt, r;

	o->state_dir = IMG_STATE_DIR;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+", image_long_opts, NULL)) != -1) {
		if (opt == '?')
			return ctl_usage_error("%s: unknown or incomplete option '%s' (try --help)",
					       argv[0], argv[optind - 1]);
		r = parse_one(o, opt, optarg);
		if (r)
			return r;
	}
	r = read_config(o);
	if (r)
		return r;
	o->mirrors[o->n_mirrors] = NULL;
	o->pull.registry.mirrors = o->n_mirrors ? o->mirrors : NULL;
	*ret_first = optind;
	return 0;
}

/* ---- progress ---------------------------------------------------------------------------- */

struct progress {
	bool tty;
	char last[IMG_DIGEST_LEN + 1];
};

static void show_progress(void *userdata, const char *digest, uint64_t done, uint64_t total)
{
	struct progress *p = userdata;
	const char *hex = strchr(digest, ':') ? strchr(digest, ':') + 1 : digest;
	int width = 30, filled = total ? (int)(done * width / total) : 0;

	if (!p->tty) {
		/* Plain lines for logs: one when a blob is complete. */
		if (total && done >= total)
			fprintf(stderr, "pull: %.12s done (%.1f MiB)\n", hex, done / 1048576.0);
		return;
	}
	if (strcmp(p->last, digest) && p->last[0])
		fputc('\n', stderr);
	snprintf(p->last, sizeof(p->last), "%s", digest);
	fprintf(stderr, "\r%.12s [%.*s%*s] %6.1f / %.1f MiB", hex, filled,
		"##############################", width - filled, "", done / 1048576.0,
		total / 1048576.0);
	fflush(stderr);
}

/* ---- subcommands ------------------------------------------------------------------------- */

static void print_info_line(const struct img_info *i)
{
	char when[32];
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", gmtime_r(&i->pulled, &tm));
	printf("%-48s %-19.19s %9.1f MiB  %s\n", i->name, i->digest, i->size / 1048576.0, when);
}

static int report(const char *what, int r, const struct sbx_error *err)
{
	fprintf(stderr, "sandboxctl %s: %s\n", what, err->msg[0] ? err->msg : strerror(-r));
	return r == -EINVAL || r == -ENOENT ? EXIT_USAGE : 1;
}

/* From the source the options name, with progress on stderr. */
static int pull_image(struct img_store *s, struct image_opts *o, const char *name,
		      struct img_info *ret, struct sbx_error *err)
{
	struct progress prog = { .tty = isatty(STDERR_FILENO) };
	int r;

	o->pull.progress = show_progress;
	o->pull.userdata = &prog;
	if (o->oci_layout)
		r = img_store_import_layout(s, o->oci_layout, name, &o->pull, ret, err);
	else if (o->docker_archive)
		r = img_store_import_archive(s, o->docker_archive, name, &o->pull, ret, err);
	else
		r = img_store_pull(s, name, &o->pull, ret, err);
	if (prog.tty && prog.last[0])
		fputc('\n', stderr);
	o->pull.userdata = NULL; /* prog ends here */
	return r;
}

static int do_pull(struct img_store *s, struct image_opts *o, const char *name)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	int r = pull_image(s, o, name, &info, &err);

	if (r < 0)
		return report("pull", r, &err);
	printf("%s %s\n", info.name, info.digest);
	img_info_done(&info);
	return 0;
}

/* ---- pull --all -------------------------------------------------------------------------- */

struct lang_image {
	char *name, *image;
};

struct lang_images {
	struct lang_image v[LANG_MAX];
	size_t n;
};

static void lang_images_done(struct lang_images *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].image);
	}
	l->n = 0;
}

static const char *json_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

static int read_profile(int dirfd, const char *file, struct lang_image *ret, struct sbx_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	_cleanup_free_ char *buf = NULL;
	const char *name, *image;
	/* O_NOFOLLOW, as sandboxd reads them: a profile it would refuse is not pulled for. */
	int r = sbx_read_file_all(dirfd, file, O_NOFOLLOW, LANG_FILE_MAX, &buf, NULL);

	if (r < 0)
		return sbx_err(err, -r, "read");
	root = cJSON_Parse(buf);
	if (!cJSON_IsObject(root))
		return sbx_err_msg(err, EINVAL, "not a JSON object");
	name = json_string(root, "name");
	image = json_string(root, "image");
	if (!name || !image)
		return sbx_err_msg(err, EINVAL, "\"name\" and \"image\" must be non-empty strings");
	ret->name = strdup(name);
	ret->image = strdup(image);
	return ret->name && ret->image ? 0 : sbx_err(err, ENOMEM, "profile");
}

static int scan_profiles(DIR *d, struct lang_images *ret, struct sbx_error *err)
{
	struct dirent *de;
	int r = 0;

	while (r >= 0 && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") || de->d_name[0] == '.')
			continue;
		if (ret->n == LANG_MAX)
			return sbx_err_msg(err, E2BIG, "more than %d language profiles", LANG_MAX);
		r = read_profile(dirfd(d), de->d_name, &ret->v[ret->n++], err);
		if (r < 0)
			sbx_err_prefix(err, r, "%s", de->d_name);
	}
	return r;
}

static int cmp_lang_image(const void *a, const void *b)
{
	return strcmp(((const struct lang_image *)a)->name, ((const struct lang_image *)b)->name);
}

/* Every DIR/languages/NAME.json, sorted by name. */
static int load_lang_images(const char *dir, struct lang_images *ret, struct sbx_error *err)
{
	char path[PATH_MAX];
	DIR *d;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/languages", dir) >= sizeof(path))
		return sbx_err_msg(err, ENAMETOOLONG, "%s/languages: path too long", dir);
	d = opendir(path);
	if (!d)
		return sbx_err(err, errno, "%s", path);
	r = scan_profiles(d, ret, err);
	closedir(d);
	if (r < 0)
		return sbx_err_prefix(err, r, "%s", path);
	if (!ret->n)
		return sbx_err_msg(err, ENOENT, "%s: no language profiles (*.json)", path);
	qsort(ret->v, ret->n, sizeof(ret->v[0]), cmp_lang_image);
	return 0;
}

/* One image of --all and its line on stdout. True when the store has it now. */
static bool pull_one(struct img_store *s, struct image_opts *o, const char *ref)
{
	struct sbx_error err = { 0 };
	struct img_info info;
	int r = img_store_lookup(s, ref, &info, &err);

	if (r >= 0) {
		printf("present %s\n", ref);
	} else if (r == -ENOENT) {
		err = (struct sbx_error){ 0 };
		r = pull_image(s, o, ref, &info, &err);
		if (r >= 0)
			printf("pulled %s (%s)\n", ref, info.digest);
	}
	if (r < 0)
		printf("failed %s: %s\n", ref, err.msg[0] ? err.msg : strerror(-r));
	else
		img_info_done(&info);
	/* Before the next image's progress lines on stderr. */
	fflush(stdout);
	return r >= 0;
}

static bool is_repeated(const struct lang_images *l, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (!strcmp(l->v[j].image, l->v[i].image))
			return true;
	return false;
}

/* Every image is tried, whatever failed before it: one unreachable registry must not leave the
 * other languages without their images. */
static int do_pull_all(struct img_store *s, struct image_opts *o)
{
	_cleanup_(lang_images_done) struct lang_images langs = { 0 };
	struct sbx_error err = { 0 };
	char dir[PATH_MAX];
	bool ok = true;
	int r = sbx_find_profile_dir(o->profile_dir, dir, sizeof(dir), &err);

	if (r >= 0)
		r = load_lang_images(dir, &langs, &err);
	if (r < 0) {
		fprintf(stderr, "sandboxctl pull --all: %s\n", err.msg[0] ? err.msg : strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < langs.n; i++)
		if (!is_repeated(&langs, i))
			ok = pull_one(s, o, langs.v[i].image) && ok;
	return ok ? 0 : 1;
}

static int do_images(struct img_store *s)
{
	struct sbx_error err = { 0 };
	struct img_info *list = NULL;
	size_t n = 0;
	int r = img_store_list(s, &list, &n, &err);

	if (r < 0)
		return report("images", r, &err);
	printf("%-48s %-19s %13s  %s\n", "NAME", "DIGEST", "SIZE", "PULLED (UTC)");
	for (size_t i = 0; i < n; i++) {
		print_info_line(&list[i]);
		img_info_done(&list[i]);
	}
	free(list);
	return 0;
}

static int do_inspect(struct img_store *s, const char *name)
{
	struct sbx_error err = { 0 };
	struct img_info i;
	cJSON *o, *env;
	char *json;
	int r = img_store_lookup(s, name, &i, &err);

	if (r < 0)
		return report("inspect", r, &err);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", i.name);
	cJSON_AddStringToObject(o, "digest", i.digest);
	cJSON_AddStringToObject(o, "rootfs", i.rootfs);
	cJSON_AddNumberToObject(o, "size", (double)i.size);
	cJSON_AddNumberToObject(o, "pulled", (double)i.pulled);
	cJSON_AddStringToObject(o, "platform", i.platform);
	env = cJSON_AddArrayToObject(o, "env");
	for (char **e = i.env; e && *e; e++)
		cJSON_AddItemToArray(env, cJSON_CreateString(*e));
	cJSON_AddStringToObject(o, "working_dir", i.working_dir);
	json = cJSON_Print(o);
	puts(json ? json : "{}");
	free(json);
	cJSON_Delete(o);
	img_info_done(&i);
	return 0;
}

static int do_rm(struct img_store *s, const char *name)
{
	struct sbx_error err = { 0 };
	int r = img_store_remove(s, name, &err);

	if (r < 0)
		return report("rm", r, &err);
	printf("untagged %s (sandboxctl gc frees the space)\n", name);
	return 0;
}

static int do_gc(struct img_store *s)
{
	struct sbx_error err = { 0 };
	uint64_t freed = 0;
	int r = img_store_gc(s, &freed, &err);

	if (r < 0)
		return report("gc", r, &err);
	printf("freed %.1f MiB\n", freed / 1048576.0);
	return 0;
}

static const struct {
	const char *name;
	int n_args; /* positional arguments: exactly this many (-1: 0 or 1) */
} image_cmds[] = {
	{ "pull", -1 }, { "images", 0 }, { "inspect", 1 }, { "rm", 1 }, { "gc", 0 },
};

static int check_pull_args(const struct image_opts *o, int n)
{
	if (o->all && n)
		return ctl_usage_error("pull --all: takes no IMAGE (try --help)");
	if (o->all && (o->oci_layout || o->docker_archive))
		return ctl_usage_error("pull --all: pulls from registries, not --oci-layout or "
				       "--docker-archive");
	if (o->all || n == 1 || (n == 0 && o->docker_archive))
		return 0;
	return ctl_usage_error("pull: expected one IMAGE (try --help)");
}

static int check_args(const char *cmd, const struct image_opts *o, int n)
{
	for (size_t i = 0; i < sizeof(image_cmds) / sizeof(image_cmds[0]); i++) {
		if (strcmp(cmd, image_cmds[i].name))
			continue;
		if (!strcmp(cmd, "pull"))
			return check_pull_args(o, n);
		return n == image_cmds[i].n_args
			       ? 0
			       : ctl_usage_error("%s: expected %s", cmd,
						 image_cmds[i].n_args ? "one IMAGE"
								      : "no argument");
	}
	return ctl_usage_error("unknown command '%s'", cmd);
}

/* The options that only pull takes. */
static int check_flags(const char *cmd, const struct image_opts *o)
{
	if ((o->oci_layout || o->docker_archive || o->all) && strcmp(cmd, "pull"))
		return ctl_usage_error("--oci-layout, --docker-archive and --all go with pull");
	if (o->profile_dir && !o->all)
		return ctl_usage_error("--profile-dir goes with pull --all");
	return 0;
}

static int dispatch(struct img_store *s, struct image_opts *o, const char *cmd, char **args)
{
	if (!strcmp(cmd, "pull"))
		return o->all ? do_pull_all(s, o) : do_pull(s, o, args[0]);
	if (!strcmp(cmd, "images"))
		return do_images(s);
	if (!strcmp(cmd, "inspect"))
		return do_inspect(s, args[0]);
	if (!strcmp(cmd, "rm"))
		return do_rm(s, args[0]);
	return do_gc(s);
}

int ctl_cmd_image(int argc, char **argv)
{
	struct image_opts o = { 0 };
	struct img_store *s = NULL;
	struct sbx_error err = { 0 };
	int first = 0, r;

	r = parse_image_args(&o, argc, argv, &first);
	if (!r)
		r = check_args(argv[0], &o, argc - first);
	if (!r)
		r = check_flags(argv[0], &o);
	if (!r && img_store_open(o.state_dir, &s, &err) < 0) {
		fprintf(stderr, "sandboxctl: %s\n", err.msg);
		r = 1;
	}
	if (!r)
		r = dispatch(s, &o, argv[0], argv + first);
	img_store_close(s);
	cJSON_Delete(o.config_json);
	return r;
}
