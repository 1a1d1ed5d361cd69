/*
 * Creating qcow2 images. The file starts as a header, a one-cluster
 * refcount table and one refcount block describing the first clusters, with
 * an empty L1 table; the image is then opened through the driver and grown
 * to its size, so the L1 table is allocated by the same code that grows
 * images later. Layout and header extensions follow what qemu-img writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "lib/util.h"

static const struct { uint8_t type, bit; const char *name; } feature_names[] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};

size_t qcow2_put_ext(uint8_t *p, uint32_t type, const void *data,
		     uint32_t len)
{
	be32_put(p, type);
	be32_put(p + 4, len);
	memcpy(p + 8, data, len);
	memset(p + 8 + len, 0, ALIGN_UP(len, 8) - len);
	return 8 + ALIGN_UP(len, 8);
}

size_t qcow2_put_feature_table(uint8_t *p)
{
	uint8_t ft[ARRAY_SIZE(feature_names) * 48] = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(feature_names); i++) {
		ft[i * 48] = feature_names[i].type;
		ft[i * 48 + 1] = feature_names[i].bit;
		memcpy(ft + i * 48 + 2, feature_names[i].name,
		       strlen(feature_names[i].name));
	}
	return qcow2_put_ext(p, QCOW2_EXT_FEATURES, ft, sizeof(ft));
}

static int check_opts(const struct blk_create_opts *o, unsigned *cbits,
		      unsigned *rorder, char *err, size_t errlen)
{
	uint64_t cs = o->cluster_size ? o->cluster_size : 65536;
	unsigned rb = o->refcount_bits ? o->refcount_bits : 16;
	unsigned compat = o->compat ? o->compat : 3;

	if (cs < 512 || cs > 2 * MiB || (cs & (cs - 1))) {
		snprintf(err, errlen, "Cluster size must be a power of two "
			 "between 512 and 2048k");
		return -EINVAL;
	}
	if (rb > 64 || (rb & (rb - 1))) {
		snprintf(err, errlen, "Refcount width must be a power of two "
			 "and may not exceed 64 bits");
		return -EINVAL;
	}
	if (compat == 2 && (o->lazy_refcounts || rb != 16 || o->extended_l2 ||
			    o->compression_type)) {
		snprintf(err, errlen, "Lazy refcounts, refcount widths other "
			 "than 16, extended L2 and zstd need compat=1.1");
		return -EINVAL;
	}
	if (o->extended_l2) {
		snprintf(err, errlen, "creating images with extended L2 "
			 "entries is not supported yet");
		return -ENOTSUP;
	}
	if (o->size % 512) {
		snprintf(err, errlen, "Image size must be a multiple of 512 "
			 "bytes");
		return -EINVAL;
	}
	if (o->backing_file && strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME) {
		snprintf(err, errlen, "Backing file name too long");
		return -EINVAL;
	}
	*cbits = (unsigned)__builtin_ctzll(cs);
	*rorder = (unsigned)__builtin_ctz(rb);
	return 0;
}

int qcow2_create(const char *filename, const struct blk_create_opts *o,
		 char *err, size_t errlen)
{
	unsigned cbits, rorder, version = o->compat ? o->compat : 3;
	struct blk_open_opts oo = { .format = "qcow2", .no_backing = true };
	uint64_t cs;
	uint8_t *buf;
	size_t pos;
	struct blk *b;
	int fd, ret = check_opts(o, &cbits, &rorder, err, errlen);

	if (ret < 0)
		return ret;
	cs = 1ULL << cbits;
	buf = calloc(3, cs);
	if (!buf)
		return -ENOMEM;
	/* Header: size 0 and no L1 table for now. */
	be32_put(buf, QCOW2_MAGIC);
	be32_put(buf + 4, version);
	be32_put(buf + 20, cbits);
	be64_put(buf + 48, cs);			/* refcount table */
	be32_put(buf + 56, 1);
	if (version == 3) {
		uint64_t incompat = o->compression_type ?
				    QCOW2_INCOMPAT_COMPRESSION : 0;

		be64_put(buf + 72, incompat);
		be64_put(buf + 80, o->lazy_refcounts ?
			 QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
		be32_put(buf + 96, rorder);
		be32_put(buf + 100, 112);
		buf[104] = (uint8_t)o->compression_type;
		pos = 112;
		if (o->backing_file && o->backing_fmt)
			pos += qcow2_put_ext(buf + pos, QCOW2_EXT_BACKING_FMT,
				       o->backing_fmt,
				       (uint32_t)strlen(o->backing_fmt));
		pos += qcow2_put_feature_table(buf + pos);
		pos += 8;	/* end of extensions */
	} else {
		pos = QCOW2_V2_HDR_LEN;
	}
	if (o->backing_file) {
		size_t len = strlen(o->backing_file);

		if (pos + len > cs) {
			snprintf(err, errlen, "Backing file name does not fit "
				 "in the header cluster");
			free(buf);
			return -EINVAL;
		}
		be64_put(buf + 8, pos);
		be32_put(buf + 16, (uint32_t)len);
		memcpy(buf + pos, o->backing_file, len);
	}
	/* Refcount table -> block at cluster 2; clusters 0..2 in use. */
	be64_put(buf + cs, 2 * cs);
	{
		struct qcow2 tmp = { .refcount_order = rorder,
				     .refcount_bits = 1u << rorder };

		for (int i = 0; i < 3; i++)
			qcow2_rb_set(&tmp, buf + 2 * cs, (uint64_t)i, 1);
	}
	fd = open(filename, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "Could not create '%s': %s", filename,
			 strerror(errno));
		free(buf);
		return ret;
	}
	ret = blk_file_pwrite(fd, buf, 3 * cs, 0);
	free(buf);
	close(fd);
	if (ret < 0) {
		snprintf(err, errlen, "Could not write '%s': %s", filename,
			 strerror(-ret));
		return ret;
	}
	ret = blk_open(&b, filename, &oo, err, errlen);
	if (ret < 0)
		return ret;
	ret = blk_truncate(b, o->size, false);
	if (ret == 0 && o->preallocation && strcmp(o->preallocation, "off")) {
		/* metadata/falloc/full: allocate every cluster now. */
		ret = qcow2_preallocate(qcow2_of(b), o->preallocation);
	}
	if (ret == 0)
		ret = blk_flush(b);
	if (ret < 0)
		snprintf(err, errlen, "Could not create '%s': %s", filename,
			 blk_errmsg(b));
	blk_close(b);
	return ret;
}
