/* SPDX-License-Identifier: MIT */
/*
 * unit.h - the smallest test harness that does the job: CHECK() records a failure with its
 * location and goes on; each TEST() prints "ok NAME" or "FAIL NAME"; UNIT_MAIN prints the
 * closing line "N passed, N failed, N skipped" that tests/run-all adds up.
 */
#ifndef SBX_UNIT_H
#define SBX_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed_checks, unit_pass, unit_fail, unit_skip;
static const char *unit_skip_reason;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			unit_failed_checks++;                                                      \
		}                                                                                  \
	} while (0)

#define CHECK_STREQ(a, b)                                                                          \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                           \
			fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,         \
				_a ? _a : "(null)", _b ? _b : "(null)");                           \
			unit_failed_checks++;                                                      \
		}                                                                                  \
	} while (0)

/* Inside a test: skip it, with the reason printed. */
#define SKIP(reason)                                                                               \
	do {                                                                                       \
		unit_skip_reason = (reason);                                                       \
		return;                                                                            \
	} while (0)

#define TEST(name) static void name(void)

#define RUN(name)                                                                                  \
	do {                                                                                       \
		int _before = unit_failed_checks;                                                  \
		unit_skip_reason = NULL;                                                           \
		name();                                                                            \
		if (unit_failed_checks != _before) {                                               \
			printf("FAIL %s\n", #name);                                                \
			unit_fail++;                                                               \
		} else if (unit_skip_reason) {                                                     \
			printf("skip %s: %s\n", #name, unit_skip_reason);                          \
			unit_skip++;                                                               \
		} else {                                                                           \
			printf("ok %s\n", #name);                                                  \
			unit_pass++;                                                               \
		}                                                                                  \
		fflush(stdout);                                                                    \
	} while (0)

#define UNIT_END()                                                                                 \
	do {                                                                                       \
		printf("%d passed, %d failed, %d skipped\n", unit_pass, unit_fail, unit_skip);     \
		return unit_fail ? 1 : 0;                                                          \
	} while (0)

#endif
