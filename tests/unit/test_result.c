/* SPDX-License-Identifier: MIT */
/* test_result.c - the one result shape: every key, the right types, valid UTF-8. */
#include <cjson/cJSON.h>
#include <string.h>

#include "unit.h"
#include "util.h"

static cJSON *to_json(const struct sbx_result *r)
{
	char *s = NULL;
	cJSON *o;

	CHECK(sbx_result_to_json(r, &s, NULL) == 0);
	o = s ? cJSON_Parse(s) : NULL;
	free(s);
	return o;
}

TEST(all_keys_with_types)
{
	char out[] = "hello\n";
	struct sbx_result r = { .status = SBX_STATUS_TIMEOUT,
				.limit = SBX_LIMIT_WALL,
				.exit_code = -1,
				.time_ms = 3,
				.wall_ms = 1000,
				.memory_kb = 512,
				.out = { .data = out, .len = 6, .truncated = true } };
	static const char *const numbers[] = { "exit_code", "signal", "time_ms", "wall_ms",
					       "memory_kb" };
	cJSON *o = to_json(&r);

	CHECK(o != NULL);
	if (!o)
		return;
	CHECK_STREQ(cJSON_GetObjectItem(o, "status")->valuestring, "timeout");
	CHECK_STREQ(cJSON_GetObjectItem(o, "limit")->valuestring, "wall");
	for (size_t i = 0; i < ELEMENTSOF(numbers); i++)
		CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, numbers[i])));
	CHECK_STREQ(cJSON_GetObjectItem(o, "stdout")->valuestring, "hello\n");
	CHECK_STREQ(cJSON_GetObjectItem(o, "stderr")->valuestring, "");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "stdout_truncated")));
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(o, "stderr_truncated")));
	CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "message")));
	cJSON_Delete(o);
	r.limit = SBX_LIMIT_NONE;
	o = to_json(&r);
	CHECK(o && cJSON_IsNull(cJSON_GetObjectItem(o, "limit")));
	cJSON_Delete(o);
}

TEST(output_bytes_become_valid_utf8)
{
	/* NUL, a lone continuation byte, an overlong 0xc0, a truncated sequence, then good UTF-8 */
	char raw[] = { 'a',	   0,	       'b', (char)0x80, (char)0xc0, (char)0xaf,
		       (char)0xe2, (char)0x82, 'c', (char)0xc3, (char)0xa9 };
	struct sbx_result r = { .out = { .data = raw, .len = sizeof(raw) } };
	cJSON *o = to_json(&r);
	const char *s = o ? cJSON_GetObjectItem(o, "stdout")->valuestring : NULL;

	CHECK(s != NULL);
	/* cJSON stops at the NUL when reading back; what was printed must still parse. */
	if (s)
		CHECK(strncmp(s, "a", 1) == 0);
	cJSON_Delete(o);
}

TEST(names)
{
	CHECK_STREQ(sbx_status_name(SBX_STATUS_OK), "ok");
	CHECK_STREQ(sbx_status_name(SBX_STATUS_MEMORY_LIMIT), "memory_limit");
	CHECK_STREQ(sbx_status_name(SBX_STATUS_INTERNAL_ERROR), "internal_error");
	CHECK_STREQ(sbx_status_name((enum sbx_status)99), "internal_error");
	CHECK(sbx_limit_name(SBX_LIMIT_NONE) == NULL);
	CHECK_STREQ(sbx_limit_name(SBX_LIMIT_CPU), "cpu");
}

int main(void)
{
	RUN(all_keys_with_types);
	RUN(output_bytes_become_valid_utf8);
	RUN(names);
	UNIT_END();
}
