/* SPDX-License-Identifier: MIT */
/*
 * sandboxctl_common.c - what both sandboxctl binaries share: the usage-error line and the
 * size / duration / count grammar of every option.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sandboxctl.h"

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
