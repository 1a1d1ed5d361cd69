/*
 * Minimal test helpers for vireo's C unit tests. A test program calls
 * CHECK()/CHECK_EQ() any number of times and ends with `return test_done();`
 * which prints "N passed, N failed" and returns non-zero on any failure.
 */
#ifndef VIREO_TESTS_TAP_H
#define VIREO_TESTS_TAP_H

#include <inttypes.h>
#include <stdio.h>

extern unsigned test_passed, test_failed;

void test_fail(const char *file, int line, const char *what);
int test_done(void);

#define CHECK(cond) do { \
	if (cond) test_passed++; \
	else test_fail(__FILE__, __LINE__, #cond); \
} while (0)

#define CHECK_EQ(a, b) do { \
	uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b); \
	if (a_ == b_) test_passed++; \
	else { \
		char msg_[256]; \
		snprintf(msg_, sizeof(msg_), "%s == %s (0x%" PRIx64 " != 0x%" PRIx64 ")", \
			 #a, #b, a_, b_); \
		test_fail(__FILE__, __LINE__, msg_); \
	} \
} while (0)

#endif
