/* SPDX-License-Identifier: MIT */
/*
 * log.h - sandboxd's log: one "key=value" line per event on stderr (journald keeps them):
 *   ts=2026-11-22T10:00:00.123Z level=info proc=http event=listening addr=127.0.0.1:8080
 * fmt carries the event's own key=value pairs; log_q() quotes a value that needs it.
 */
#ifndef SVC_LOG_H
#define SVC_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG_, LOG_INFO_, LOG_WARN_, LOG_ERROR_ };

/* "http" or "supervisor": which process speaks. */
void log_set_proc(const char *name);
void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* s as a log value: as is when it has no space, quote or control character, else quoted with
 * backslash escapes. Writes into buf and returns it. */
const char *log_q(char *buf, size_t size, const char *s);

#define log_info(ev, ...)  log_msg(LOG_INFO_, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_msg(LOG_WARN_, ev, __VA_ARGS__)
#define log_error(ev, ...) log_msg(LOG_ERROR_, ev, __VA_ARGS__)

#endif
