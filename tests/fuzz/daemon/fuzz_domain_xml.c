/*
 * libFuzzer target: the domain XML parser. Whatever parses must format,
 * and the formatted XML must parse again and format to the same text
 * (dumpxml / define round trips); a difference aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/domain_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct domain_def *a = NULL, *b = NULL;
	struct vir_error err = { 0 };
	char *x1, *x2;

	if (size > 256 * 1024)
		return 0;
	if (domain_def_parse((const char *)data, size, &a, &err))
		return 0;
	x1 = domain_def_format(a, NULL);
	if (!x1)
		abort();
	if (domain_def_parse(x1, strlen(x1), &b, &err)) {
		fprintf(stderr, "formatted XML does not parse: %s\n%s\n",
			err.message, x1);
		abort();
	}
	x2 = domain_def_format(b, NULL);
	if (!x2 || strcmp(x1, x2)) {
		fprintf(stderr, "round trip differs:\n%s\n---\n%s\n", x1,
			x2 ? x2 : "(null)");
		abort();
	}
	free(x1);
	free(x2);
	domain_def_free(a);
	domain_def_free(b);
	return 0;
}
