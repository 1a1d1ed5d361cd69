/*
 * Benchmark (not a test): what the kernel charges, on the host at hand,
 * for the ways vireo-img convert could move the data of a raw source
 * into a fresh target file with qemu-img's sparseness (every all-zero
 * 4 KiB block left out). It answers "would mapping the source, or
 * copy_file_range, beat pread + pwrite here?" before anyone rewrites the
 * convert loop for it. Single-threaded on purpose: the per-byte cost of
 * each path, not the overlap of a pipeline.
 *
 *   cc -O2 -Wall -Wextra -o /tmp/copy_paths bench/img/copy_paths.c
 *   /tmp/copy_paths [-w WINDOW_KiB] [-r RUNS] [-k] SRC DST [MODE...]
 *
 * Modes (default all): pread (read into a buffer, judge, pwrite the
 * non-zero runs: two copies, what convert does), mmap (map a window with
 * MAP_POPULATE, judge on the mapping, pwrite from it, unmap: one copy),
 * madvise (the same, populated with MADV_POPULATE_READ), cfr (pread to
 * judge, copy_file_range for the non-zero runs), readonly and writeonly
 * (each copy of the pread path alone, the write from one hot buffer).
 * Every run is a child process (its own rusage and peak RSS); modes
 * rotate, DST is removed before each run (-k keeps the last one, to
 * compare it with SRC); medians are printed.
 *
 * Only the source's data extents (SEEK_DATA/SEEK_HOLE) are read or
 * mapped: on tmpfs a read fault on a hole allocates a page, so mapping
 * holes would make the source itself grow.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22	/* Linux 5.14; older headers lack it */
#endif

#define BLOCK 4096
#define MAX_RUNS 64

enum mode { PREAD, MMAP, MADVISE, CFR, READONLY, WRITEONLY, NMODES };
static const char *names[NMODES] = {
	"pread", "mmap", "madvise", "cfr", "readonly", "writeonly",
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* p[0..n) all zero; data fails on its first words. */
static bool block_zero(const uint8_t *p, size_t n)
{
	uint64_t acc = 0, v;
	size_t i = 0;

	for (; i + 8 <= n && !acc; i += 8) {
		memcpy(&v, p + i, 8);
		acc |= v;
	}
	for (; i < n && !acc; i++)
		acc |= p[i];
	return !acc;
}

/* Write the non-zero runs of p[0..n) (file offset off) to out. */
static void write_runs(enum mode m, int in, int out, const uint8_t *p,
		       size_t n, off_t off)
{
	for (size_t o = 0; o < n;) {
		size_t e = o;

		/* the last block of an odd-sized file may be short */
		while (e < n && !block_zero(p + e, BLOCK < n - e ? BLOCK : n - e))
			e += BLOCK < n - e ? BLOCK : n - e;
		if (e > o) {
			loff_t si = off + (off_t)o, di = si;

			if (m == CFR) {
				if (copy_file_range(in, &si, out, &di, e - o, 0) !=
				    (ssize_t)(e - o))
					die("copy_file_range");
			} else if (pwrite(out, p + o, e - o, si) != (ssize_t)(e - o)) {
				die("pwrite");
			}
		}
		o = e + (BLOCK < n - e ? BLOCK : n - e);	/* past the zero block */
	}
}

/* One window [off, off+n) of a data extent, by mode m. */
static void copy_window(enum mode m, int in, int out, uint8_t *buf,
			size_t n, off_t off)
{
	uint8_t *p = buf;

	if (m == MMAP || m == MADVISE) {
		p = mmap(NULL, n, PROT_READ,
			 MAP_SHARED | (m == MMAP ? MAP_POPULATE : 0), in, off);
		if (p == MAP_FAILED)
			die("mmap");
		if (m == MADVISE && madvise(p, n, MADV_POPULATE_READ) < 0)
			die("madvise(MADV_POPULATE_READ)");
	} else if (m != WRITEONLY && pread(in, buf, n, off) != (ssize_t)n) {
		die("pread");
	}
	if (m == WRITEONLY) {
		if (pwrite(out, buf, n, off) != (ssize_t)n)
			die("pwrite");
	} else if (m != READONLY) {
		write_runs(m, in, out, p, n, off);
	}
	if (p != buf)
		munmap(p, n);
}

static void copy(enum mode m, const char *src, const char *dst, size_t win)
{
	int in = open(src, O_RDONLY), out;
	struct stat st;
	uint8_t *buf;
	off_t d = 0, h;

	if (in < 0 || fstat(in, &st) < 0)
		die(src);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (out < 0)
		die(dst);
	/* The buffer on huge pages where offered, as convert's chunks. */
	buf = aligned_alloc(2 << 20, (win + (2 << 20) - 1) & ~(size_t)((2 << 20) - 1));
	if (!buf)
		die("aligned_alloc");
	madvise(buf, win, MADV_HUGEPAGE);
	memset(buf, 0x5a, win);	/* writeonly writes this */
	while ((d = lseek(in, d, SEEK_DATA)) >= 0 && d < st.st_size) {
		h = lseek(in, d, SEEK_HOLE);
		if (h < 0)
			die("SEEK_HOLE");
		for (off_t off = d; off < h; off += (off_t)win) {
			size_t n = (size_t)(h - off) < win ? (size_t)(h - off) : win;

			copy_window(m, in, out, buf, n, off);
		}
		d = h;
	}
	if (d < 0 && errno != ENXIO)
		die("SEEK_DATA");
	if (ftruncate(out, st.st_size) < 0)
		die("ftruncate");
	close(out);
	close(in);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double tv(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	enum mode modes[NMODES];
	int nmodes = 0, runs = 5, ch;
	bool keep = false;
	size_t win = 8 << 20;

	while ((ch = getopt(argc, argv, "w:r:k")) != -1) {
		if (ch == 'k')
			keep = true;
		else if (ch == 'w')
			win = (size_t)strtoul(optarg, NULL, 0) << 10;
		else if (ch == 'r')
			runs = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind < 2 || runs < 1 || runs > 99 || win < BLOCK ||
	    win % BLOCK) {
		fprintf(stderr, "usage: %s [-w WINDOW_KiB] [-r RUNS] [-k] SRC DST [MODE...]\n",
			argv[0]);
		return 2;
	}
	for (int i = optind + 2; i < argc; i++) {
		int k = 0;

		while (k < NMODES && strcmp(argv[i], names[k]))
			k++;
		if (k == NMODES) {
			fprintf(stderr, "unknown mode %s\n", argv[i]);
			return 2;
		}
		modes[nmodes++] = (enum mode)k;
	}
	if (nmodes == 0)
		for (int k = 0; k < NMODES; k++)
			modes[nmodes++] = (enum mode)k;

	double wall[NMODES][99], user[NMODES][99], sys[NMODES][99];
	long rss[NMODES] = { 0 }, flt[NMODES] = { 0 };

	for (int r = 0; r < runs; r++) {
		for (int j = 0; j < nmodes; j++) {
			/* rotate, so no mode always runs first after a delete */
			enum mode m = modes[(j + r) % nmodes];
			struct timespec t0, t1;
			struct rusage ru;
			int status;
			pid_t pid;

			unlink(argv[optind + 1]);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			pid = fork();
			if (pid < 0)
				die("fork");
			if (pid == 0) {
				copy(m, argv[optind], argv[optind + 1], win);
				_exit(0);
			}
			if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) ||
			    WEXITSTATUS(status))
				return 1;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			wall[m][r] = (double)(t1.tv_sec - t0.tv_sec) +
				     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
			user[m][r] = tv(ru.ru_utime);
			sys[m][r] = tv(ru.ru_stime);
			rss[m] = ru.ru_maxrss > rss[m] ? ru.ru_maxrss : rss[m];
			flt[m] = ru.ru_minflt;
		}
	}
	if (!keep)
		unlink(argv[optind + 1]);
	printf("%-10s %9s %9s %9s %12s %10s   (window %zu KiB, median of %d)\n",
	       "mode", "wall s", "user s", "sys s", "minor flt", "peak RSS",
	       win >> 10, runs);
	for (int j = 0; j < nmodes; j++) {
		enum mode m = modes[j];

		printf("%-10s %9.3f %9.3f %9.3f %12ld %6.1f MiB\n", names[m],
		       median(wall[m], runs), median(user[m], runs),
		       median(sys[m], runs), flt[m], rss[m] / 1024.0);
	}
	return 0;
}
