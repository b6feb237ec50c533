/* SPDX-License-Identifier: MIT */
/*
 * log.c - one "key=value" line per event on stderr (see log.h). A line is formatted whole and
 * written with one write(2), so lines of concurrent threads and processes never interleave.
 *
 * Owns: the line format. Must not: allocate, or block on anything but stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *proc_name = "sandboxd";
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_proc(const char *name)
{
	proc_name = name;
}

static size_t format_ts(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	return n + (size_t)snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
	char line[2048], ts[40];
	va_list ap;
	int n;

	format_ts(ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "ts=%s level=%s proc=%s event=%s ", ts, level_names[lvl],
		     proc_name, event);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return; /* nowhere left to complain */
}

static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' || *s == '\\' ||
		    (unsigned char)*s == 0x7f)
			return true;
	return false;
}

const char *log_q(char *buf, size_t size, const char *s)
{
	size_t o = 0;

	if (!s)
		s = "";
	if (!needs_quotes(s) || size < 4) {
		snprintf(buf, size, "%s", s);
		return buf;
	}
	buf[o++] = '"';
	for (; *s && o + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
		else if (c < ' ' || c == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
