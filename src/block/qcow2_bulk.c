/*
 * qcow2 bulk writes, for convert -c: runs of precompressed clusters, in
 * the crash-safe order of every allocating write: refcounts, then data,
 * then the L2 entries that point at it.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"

/* pwritev all of iov to fd at off, however short the kernel's writes. */
static int pwritev_all(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n) {
		ssize_t w = pwritev(fd, iov, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (uint64_t)w;
		while (n && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/*
 * Store n clusters of compressed data as guest clusters off, off + one
 * cluster, ...: space for all of them is taken first (packed, so usually
 * one host run), the data goes out in as few pwritev calls as the runs
 * allow, and only then do the L2 entries point at it (a crash before
 * leaves leaked space, never an entry to unwritten data).
 */
int qcow2_write_precompressed_run(struct qcow2 *q, uint64_t off,
				  const struct iovec *cl, unsigned n)
{
	uint64_t host[QCOW2_PRECOMPRESSED_MAX];
	struct iovec iov[QCOW2_PRECOMPRESSED_MAX];
	unsigned i, j;
	int ret;

	if (qcow2_offset_in_cluster(q, off) || n > QCOW2_PRECOMPRESSED_MAX) {
		blk_set_err(q->b, "bad compressed cluster write");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		uint64_t g = off + i * q->cluster_size, idx;
		uint8_t *tbl;
		int64_t h;

		if (!cl[i].iov_len || cl[i].iov_len >= q->cluster_size) {
			blk_set_err(q->b, "bad compressed cluster write");
			return -EINVAL;
		}
		if (i == 0 || !(g & ((q->cluster_size << q->l2_bits) - 1))) {
			/*
			 * The L2 table first (as qemu): allocated after the
			 * data, it would cut the packed run in two and leave
			 * the rest of a host cluster unused.
			 */
			ret = qcow2_get_l2(q, g, true, &tbl, &idx);
			if (ret < 0)
				return ret;
		}
		h = qcow2_alloc_bytes(q, cl[i].iov_len);
		if (h < 0)
			return (int)h;
		host[i] = (uint64_t)h;
		iov[i] = cl[i];
	}
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && host[j] == host[j - 1] +
		     iov[j - 1].iov_len; j++)
			;
		ret = pwritev_all(q->fd, iov + i, (int)(j - i), host[i]);
		if (ret < 0) {
			blk_set_err(q->b, "write: %s", strerror(-ret));
			return ret;
		}
	}
	for (i = 0; i < n; i++) {
		uint64_t g = off + i * q->cluster_size, idx, old, extra;
		size_t clen = cl[i].iov_len;
		uint8_t *tbl;

		ret = qcow2_get_l2(q, g, true, &tbl, &idx);
		if (ret < 0)
			return ret;
		extra = ((host[i] + clen - 1) >> 9) - (host[i] >> 9);
		old = qcow2_l2_entry_at(q, tbl, idx, NULL);
		qcow2_set_l2_entry(q, tbl, idx, host[i] | (extra << q->csize_shift) |
			  QCOW2_OFLAG_COMPRESSED);
		ret = qcow2_free_entry_clusters(q, old);
		if (ret < 0)
			return ret;
	}
	return 0;
}
