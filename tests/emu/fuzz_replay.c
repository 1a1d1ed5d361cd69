/*
 * Replays a libFuzzer corpus through LLVMFuzzerTestOneInput with the
 * ordinary compiler (and sanitizers), so every saved input, crashes found
 * earlier included, stays a regression test.
 *
 *   fuzz-replay DIR|FILE...
 *
 * A missing directory counts as an empty corpus.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f) {
		fprintf(stderr, "fuzz-replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return -1;
	}
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned files = 0, bad = 0;

	for (int a = 1; a < argc; a++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[a], &st)) {
			printf("fuzz-replay: %s: no corpus\n", argv[a]);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad += replay_file(argv[a]) != 0;
			files++;
			continue;
		}
		d = opendir(argv[a]);
		if (!d) {
			bad++;
			continue;
		}
		while ((e = readdir(d))) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[a], e->d_name);
			bad += replay_file(path) != 0;
			files++;
		}
		closedir(d);
	}
	printf("fuzz-replay: %u inputs replayed, %u unreadable\n", files, bad);
	return bad ? 1 : 0;
}
