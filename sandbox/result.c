/* SPDX-License-Identifier: MIT */
/*
 * result.c - the one result shape: status and limit names, and the JSON object every caller
 * (sandboxctl --json, the HTTP API, history) prints.
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "util.h"

static const char *const status_names[_SBX_STATUS_MAX] = {
	[SBX_STATUS_OK] = "ok",
	[SBX_STATUS_RUNTIME_ERROR] = "runtime_error",
	[SBX_STATUS_SIGNALED] = "signaled",
	[SBX_STATUS_TIMEOUT] = "timeout",
	[SBX_STATUS_MEMORY_LIMIT] = "memory_limit",
	[SBX_STATUS_OUTPUT_LIMIT] = "output_limit",
	[SBX_STATUS_INTERNAL_ERROR] = "internal_error",
};

static const char *const limit_names[_SBX_LIMIT_MAX] = {
	[SBX_LIMIT_NONE] = NULL,       [SBX_LIMIT_CPU] = "cpu",	      [SBX_LIMIT_WALL] = "wall",
	[SBX_LIMIT_MEMORY] = "memory", [SBX_LIMIT_OUTPUT] = "output",
};

const char *sbx_status_name(enum sbx_status s)
{
	return (unsigned)s < _SBX_STATUS_MAX ? status_names[s] : "internal_error";
}

const char *sbx_limit_name(enum sbx_limit l)
{
	return (unsigned)l < _SBX_LIMIT_MAX ? limit_names[l] : NULL;
}

void sbx_result_free(struct sbx_result *r)
{
	if (!r)
		return;
	free(r->out.data);
	free(r->err.data);
	r->out.data = r->err.data = NULL;
	r->out.len = r->err.len = 0;
}

/* Program output is bytes; JSON strings are UTF-8: invalid sequences become U+FFFD. */
static char *utf8_sanitize(const char *s, size_t len)
{
	char *out = malloc(len * 3 + 1), *o = out;
	size_t i = 0;

	if (!out)
		return NULL;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80	    ? 1
			   : (c >> 5) == 6  ? 2
			   : (c >> 4) == 14 ? 3
			   : (c >> 3) == 30 ? 4
					    : 0;
		bool ok = n > 0 && i + n <= len;

		for (size_t k = 1; ok && k < n; k++)
			ok = ((unsigned char)s[i + k] >> 6) == 2;
		if (ok && n > 1)
			ok = !(n == 2 && c < 0xc2) && !(n == 4 && c > 0xf4);
		if (!ok) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(o, s + i, n);
		o += n;
		i += n;
	}
	*o = '\0';
	return out;
}

static bool add_output(cJSON *obj, const char *key, const char *trunc_key,
		       const struct sbx_output *o)
{
	_cleanup_free_ char *text = utf8_sanitize(o->data ? o->data : "", o->len);

	return text && cJSON_AddStringToObject(obj, key, text) &&
	       cJSON_AddBoolToObject(obj, trunc_key, o->truncated);
}

int sbx_result_to_json(const struct sbx_result *r, char **ret_json, struct sbx_error *err)
{
	cJSON *o = cJSON_CreateObject();
	const char *limit = sbx_limit_name(r->limit);
	bool ok = o != NULL;

	ok = ok && cJSON_AddStringToObject(o, "status", sbx_status_name(r->status));
	ok = ok && (limit ? cJSON_AddStringToObject(o, "limit", limit) != NULL
			  : cJSON_AddNullToObject(o, "limit") != NULL);
	ok = ok && cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
	ok = ok && cJSON_AddNumberToObject(o, "signal", r->signal);
	ok = ok && cJSON_AddNumberToObject(o, "time_ms", (double)r->time_ms);
	ok = ok && cJSON_AddNumberToObject(o, "wall_ms", (double)r->wall_ms);
	ok = ok && cJSON_AddNumberToObject(o, "memory_kb", (double)r->memory_kb);
	ok = ok && add_output(o, "stdout", "stdout_truncated", &r->out);
	ok = ok && add_output(o, "stderr", "stderr_truncated", &r->err);
	ok = ok && cJSON_AddStringToObject(o, "message", r->message);
	*ret_json = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!*ret_json)
		return sbx_err(err, ENOMEM, "result to JSON");
	return 0;
}
