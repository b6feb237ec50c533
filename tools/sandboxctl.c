/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl.c - the operators' tool: subcommand table, shared option parsing.
 *
 * Owns: dispatch. Must not: hold any subcommand's logic (each is in sandboxctl_<name>.c).
 *
 * The image commands run in a sibling binary, sandboxctl-image (sandboxctl_image.c): the
 * registry client and the unpacker bring libcurl and libarchive, whose ~45 shared libraries
 * cost ~7 ms to load, which every `sandboxctl run` would otherwise pay. The commands that talk
 * to a running sandboxd over HTTP (jobs, status, languages; sandboxctl_jobs.c) live there too,
 * for libcurl.
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
	{ "pull", ctl_exec_image,
	  "pull an image (registry, OCI layout, docker save); --all: every language's" },
	{ "images", ctl_exec_image, "list the pulled images" },
	{ "inspect", ctl_exec_image, "show one pulled image as JSON" },
	{ "rm", ctl_exec_image, "untag a pulled image" },
	{ "gc", ctl_exec_image, "remove rootfs and blobs no image references" },
	{ "jobs", ctl_exec_image, "list a running sandboxd's jobs; jobs show ID, jobs cancel ID" },
	{ "status", ctl_exec_image, "show whether sandboxd is up and ready, and its queue" },
	{ "languages", ctl_exec_image, "list a running sandboxd's languages and where each runs" },
};

static int usage(FILE *f, int status)
{
	fprintf(f, "usage: sandboxctl COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
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
