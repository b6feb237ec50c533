/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl.h - what the subcommands of sandboxctl share: option parsing helpers and the exit
 * statuses. Each subcommand lives in its own sandboxctl_<name>.c.
 */
#ifndef SANDBOXCTL_H
#define SANDBOXCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "sandbox.h"

#define EXIT_USAGE   2
#define EXIT_SANDBOX 125

/* "128M", "1G", "4096" (bytes), "64k": bytes. Returns false on a malformed or zero size. */
bool ctl_parse_size(const char *s, uint64_t *ret);
/* "2s", "500ms", "1.5s", "1m", "3" (seconds): milliseconds. False when malformed or zero. */
bool ctl_parse_duration(const char *s, uint64_t *ret_ms);
/* A positive integer. */
bool ctl_parse_count(const char *s, uint64_t *ret);

/* One line on stderr, "sandboxctl: ...", and the usage exit status. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int ctl_cmd_run(int argc, char **argv);
int ctl_cmd_check(int argc, char **argv);
/* pull, images, inspect, rm, gc: argv[0] names which (in sandboxctl-image). */
int ctl_cmd_image(int argc, char **argv);
/* jobs, status, languages: a running sandboxd over HTTP; argv[0] names which (in
 * sandboxctl-image). */
int ctl_cmd_service(int argc, char **argv);

/* In the lean sandboxctl: exec sandboxctl-image with this subcommand, or run it and return
 * its exit status with its stdout in *ret_out (malloc'd). args[0] is ignored. */
int ctl_exec_image(int argc, char **argv);
int ctl_image_capture(char *const args[], char **ret_out);

#endif
