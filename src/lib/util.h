/* Small helpers shared by every program. */
#ifndef VIREO_LIB_UTIL_H
#define VIREO_LIB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* True when [off, off+len) lies inside [0, size), without overflow. */
static inline bool range_within(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* The value of one hexadecimal digit, or -1. */
static inline int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parse a size such as "512M", "2G", "4096", "1.5G" is not accepted.
 * Suffixes K, M, G, T (binary); a bare number is in bytes unless
 * default_unit is non-zero. Returns 0, or -EINVAL on junk or overflow.
 */
int parse_size(const char *s, uint64_t default_unit, uint64_t *out);

/* Parse an unsigned decimal integer with bounds; -EINVAL on junk/range. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Read a whole file into a malloc'd buffer; -errno (-EINVAL: not a regular file). */
int read_file(const char *path, uint8_t **data, size_t *len);
/* The same for an open file, read from offset 0. */
int read_fd(int fd, uint8_t **data, size_t *len);

/* Write all of buf to fd, retrying on EINTR/short writes; -errno. */
int write_all(int fd, const void *buf, size_t len);
/* Replace path with len bytes of buf, crash-safely: written to path.new,
 * fsynced, renamed over path. 0 or -errno (path.new is removed). */
int write_file_replace(const char *path, const void *buf, size_t len);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

#endif
