/*
 * Replays a fuzz corpus through LLVMFuzzerTestOneInput without libFuzzer,
 * so every build (gcc included) runs the corpus as a unit test. Arguments
 * are files or directories of files.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	uint8_t *data;
	size_t len;

	if (read_file(path, &data, &len) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		return 1;
	}
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned n = 0, bad = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		if (!d) {
			bad += run_file(argv[i]);
			n++;
			continue;
		}
		while ((e = readdir(d))) {
			char p[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
			bad += run_file(p);
			n++;
		}
		closedir(d);
	}
	printf("%u passed, %u failed\n", n - bad, bad);
	return bad ? 1 : 0;
}
