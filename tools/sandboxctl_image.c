/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl_image.c - `sandboxctl pull | images | inspect | rm | gc`: the image store for
 * operators. Every subcommand takes --state-dir DIR (after the subcommand).
 *
 * Owns: option parsing for the image commands, progress display, the operators' view of the
 * store. Must not: touch the store except through librootfs (store.h).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandboxctl.h"
#include "store.h"

#define MAX_MIRRORS 16
#define CONFIG_FILE "/etc/sandboxd/config.json"

struct image_opts {
	const char *state_dir;
	const char *config;
	const char *mirrors[MAX_MIRRORS + 1];
	size_t n_mirrors;
	const char *oci_layout;
	const char *docker_archive;
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
	{ 0 },
};

static const char image_usage[] =
	"usage: sandboxctl pull [OPTIONS] IMAGE\n"
	"       sandboxctl pull --oci-layout DIR IMAGE | --docker-archive FILE [IMAGE]\n"
	"       sandboxctl images | inspect IMAGE | rm IMAGE | gc   [--state-dir DIR]\n"
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

static int do_pull(struct img_store *s, struct image_opts *o, const char *name)
{
	struct progress prog = { .tty = isatty(STDERR_FILENO) };
	struct sbx_error err = { 0 };
	struct img_info info;
	int r;

	o->pull.progress = show_progress;
	o->pull.userdata = &prog;
	if (o->oci_layout)
		r = img_store_import_layout(s, o->oci_layout, name, &o->pull, &info, &err);
	else if (o->docker_archive)
		r = img_store_import_archive(s, o->docker_archive, name, &o->pull, &info, &err);
	else
		r = img_store_pull(s, name, &o->pull, &info, &err);
	if (prog.tty && prog.last[0])
		fputc('\n', stderr);
	if (r < 0)
		return report("pull", r, &err);
	printf("%s %s\n", info.name, info.digest);
	img_info_done(&info);
	return 0;
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

static int check_args(const char *cmd, const struct image_opts *o, int n)
{
	for (size_t i = 0; i < sizeof(image_cmds) / sizeof(image_cmds[0]); i++) {
		if (strcmp(cmd, image_cmds[i].name))
			continue;
		if (!strcmp(cmd, "pull"))
			return n == 1 || (n == 0 && o->docker_archive)
				       ? 0
				       : ctl_usage_error("pull: expected one IMAGE (try --help)");
		return n == image_cmds[i].n_args
			       ? 0
			       : ctl_usage_error("%s: expected %s", cmd,
						 image_cmds[i].n_args ? "one IMAGE"
								      : "no argument");
	}
	return ctl_usage_error("unknown command '%s'", cmd);
}

static int dispatch(struct img_store *s, struct image_opts *o, const char *cmd, char **args)
{
	if (!strcmp(cmd, "pull"))
		return do_pull(s, o, args[0]);
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
	if (!r && (o.oci_layout || o.docker_archive) && strcmp(argv[0], "pull"))
		r = ctl_usage_error("--oci-layout and --docker-archive go with pull");
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
