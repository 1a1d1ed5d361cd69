#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t unit;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0': unit = default_unit ? default_unit : 1; break;
	case 'B': unit = 1; break;
	case 'K': unit = KiB; break;
	case 'M': unit = MiB; break;
	case 'G': unit = GiB; break;
	case 'T': unit = 1024 * GiB; break;
	default: return -EINVAL;
	}
	if (*end) {
		end++;
		/* Accept "M", "MB", "MiB" alike. */
		if (*end == 'i' || *end == 'I')
			end++;
		if ((*end == 'B' || *end == 'b') && unit != 1)
			end++;
		if (*end)
			return -EINVAL;
	}
	if (v > UINT64_MAX / unit)
		return -EINVAL;
	*out = v * unit;
	return 0;
}

int read_fd(int fd, uint8_t **data, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf)
		return -ENOMEM;
	while (done < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + done, st.st_size - done, done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;
			free(buf);
			return err;
		}
		done += n;
	}
	*data = buf;
	*len = done;
	return 0;
}

int read_file(const char *path, uint8_t **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = read_fd(fd, data, len);
	close(fd);
	return r;
}

int write_file_replace(const char *path, const void *buf, size_t len)
{
	char *tmp;
	int fd, r;

	if (asprintf(&tmp, "%s.new", path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		free(tmp);
		return r;
	}
	r = write_all(fd, buf, len);
	if (!r && fsync(fd))
		r = -errno;
	close(fd);
	if (!r && rename(tmp, path))
		r = -errno;
	if (r)
		unlink(tmp);
	free(tmp);
	return r;
}

int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}
