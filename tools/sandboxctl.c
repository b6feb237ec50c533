/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl.c - the operators' tool: subcommand table, shared option parsing.
 *
 * Owns: dispatch and the size/duration grammar every subcommand accepts. Must not: hold any
 * subcommand's logic (each is in sandboxctl_<name>.c).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandboxctl.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "run", ctl_cmd_run, "run a program in the jail and report its result" },
	{ "check", ctl_cmd_check, "show which kernel features the jail needs and has" },
	{ "pull", ctl_cmd_image,
	  "pull an image from a registry (or an OCI layout, a docker save)" },
	{ "images", ctl_cmd_image, "list the pulled images" },
	{ "inspect", ctl_cmd_image, "show one pulled image as JSON" },
	{ "rm", ctl_cmd_image, "untag a pulled image" },
	{ "gc", ctl_cmd_image, "remove rootfs and blobs no image references" },
};

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sandboxctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

struct unit_scale {
	const char *suffix;
	double scale;
};

static bool parse_scaled(const char *s, const struct unit_scale *units, size_t n_units,
			 double default_scale, uint64_t *ret)
{
	char *end;
	double v, scale = default_scale;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	v = strtod(s, &end);
	if (end == s || !isfinite(v) || v <= 0)
		return false;
	if (*end) {
		size_t i;

		for (i = 0; i < n_units; i++)
			if (!strcasecmp(end, units[i].suffix))
				break;
		if (i == n_units)
			return false;
		scale = units[i].scale;
	}
	v *= scale;
	if (v < 1 || v > 1e18)
		return false;
	*ret = (uint64_t)v;
	return true;
}

bool ctl_parse_size(const char *s, uint64_t *ret)
{
	static const struct unit_scale units[] = {
		{ "b", 1 },
		{ "k", 1024.0 },
		{ "kb", 1024.0 },
		{ "kib", 1024.0 },
		{ "m", 1048576.0 },
		{ "mb", 1048576.0 },
		{ "mib", 1048576.0 },
		{ "g", 1073741824.0 },
		{ "gb", 1073741824.0 },
		{ "gib", 1073741824.0 },
	};

	return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), 1, ret);
}

bool ctl_parse_duration(const char *s, uint64_t *ret_ms)
{
	static const struct unit_scale units[] = {
		{ "ms", 1 },
		{ "s", 1000 },
		{ "m", 60000 },
		{ "min", 60000 },
	};

	return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), 1000, ret_ms);
}

bool ctl_parse_count(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0)
		return false;
	*ret = v;
	return true;
}

static int usage(FILE *f, int status)
{
	fprintf(f, "usage: sandboxctl COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'sandboxctl COMMAND --help' shows a command's options.\n");
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, EXIT_USAGE);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return usage(stdout, 0);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	return ctl_usage_error("unknown command '%s' (try: sandboxctl --help)", argv[1]);
}
