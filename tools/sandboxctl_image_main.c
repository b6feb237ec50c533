/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl_image_main.c - sandboxctl-image: the image commands (pull, images, inspect, rm,
 * gc) as their own binary, run by `sandboxctl <command>` (sandboxctl_helper.c).
 */
#include <stdio.h>

#include "sandboxctl.h"

int main(int argc, char **argv)
{
	if (argc < 2)
		return ctl_usage_error(
			"sandboxctl-image: expected pull, images, inspect, rm or gc");
	return ctl_cmd_image(argc - 1, argv + 1);
}
