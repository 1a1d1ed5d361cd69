#include "tap.h"

unsigned test_passed, test_failed;

void test_fail(const char *file, int line, const char *what)
{
	test_failed++;
	fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
}

int test_done(void)
{
	printf("%u passed, %u failed\n", test_passed, test_failed);
	return test_failed ? 1 : 0;
}
