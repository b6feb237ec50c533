/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl_image_main.c - sandboxctl-image: the commands that need libcurl or libarchive
 * (pull, images, inspect, rm, gc; jobs, status, languages) as their own binary, run by
 * `sandboxctl <command>` (sandboxctl_helper.c).
 */
#include <stdio.h>
#include <string.h>

#include "sandboxctl.h"

/* The service's commands; every other one is an image command (ctl_cmd_image checks it). */
static const char *const service_cmds[] = { "jobs", "status", "languages" };

int main(int argc, char **argv)
{
	if (argc < 2)
		return ctl_usage_error(
			"sandboxctl-image: expected pull, images, inspect, rm, gc, jobs, status "
			"or languages");
	for (size_t i = 0; i < sizeof(service_cmds) / sizeof(service_cmds[0]); i++)
		if (!strcmp(argv[1], service_cmds[i]))
			return ctl_cmd_service(argc - 1, argv + 1);
	return ctl_cmd_image(argc - 1, argv + 1);
}
