/*
 * Image locking that interoperates with QEMU. QEMU takes shared OFD locks
 * on single bytes of the image file: byte 100+i while it holds permission
 * bit i, byte 200+i while it refuses to share permission i with others.
 * Permission bits: 0 consistent read, 1 write, 2 write-unchanged, 3 resize.
 * A conflict is another open file description holding a byte we would
 * contradict, which F_OFD_GETLK with a write-lock probe reveals. We follow
 * the same scheme, so qemu and vireo refuse each other exactly as two
 * qemus would: two writers never open one image.
 */
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#define LOCK_PERM_BASE		100
#define LOCK_SHARED_BASE	200
#define PERM_CONSISTENT_READ	0x1
#define PERM_WRITE		0x2
#define PERM_RESIZE		0x8
#define PERM_BITS		4

static const char *const perm_name[PERM_BITS] = {
	"consistent read", "write", "write unchanged", "resize",
};

static int ofd(int fd, int cmd, short type, off_t start, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = start;
	fl->l_len = 1;
	return fcntl(fd, cmd, fl) < 0 ? -errno : 0;
}

/* Is byte `at` held by someone else (any shared lock)? */
static int held_by_other(int fd, off_t at)
{
	struct flock fl;
	int ret = ofd(fd, F_OFD_GETLK, F_WRLCK, at, &fl);

	if (ret < 0)
		return ret;
	return fl.l_type != F_UNLCK;
}

int blk_lock_image(int fd, bool write, char *err, size_t errlen)
{
	unsigned perm = PERM_CONSISTENT_READ;
	unsigned unshared = PERM_WRITE;
	struct flock fl;
	int ret;

	if (write) {
		perm |= PERM_WRITE | PERM_RESIZE;
		unshared |= PERM_RESIZE;
	}
	/* Take our bytes first so a racing opener sees them. */
	for (int i = 0; i < PERM_BITS; i++) {
		if ((perm & (1u << i)) &&
		    (ret = ofd(fd, F_OFD_SETLK, F_RDLCK, LOCK_PERM_BASE + i, &fl)))
			goto fail_set;
		if ((unshared & (1u << i)) &&
		    (ret = ofd(fd, F_OFD_SETLK, F_RDLCK, LOCK_SHARED_BASE + i, &fl)))
			goto fail_set;
	}
	for (int i = 0; i < PERM_BITS; i++) {
		if (perm & (1u << i)) {
			ret = held_by_other(fd, LOCK_SHARED_BASE + i);
			if (ret < 0)
				goto fail_set;
			if (ret) {
				snprintf(err, errlen, "Failed to get \"%s\" lock. "
					 "Is another process using the image?",
					 perm_name[i]);
				return -EAGAIN;
			}
		}
		if (unshared & (1u << i)) {
			ret = held_by_other(fd, LOCK_PERM_BASE + i);
			if (ret < 0)
				goto fail_set;
			if (ret) {
				snprintf(err, errlen, "Failed to get shared \"%s\" "
					 "lock. Is another process using the "
					 "image?", perm_name[i]);
				return -EAGAIN;
			}
		}
	}
	return 0;
fail_set:
	if (ret == -EAGAIN || ret == -EACCES) {
		snprintf(err, errlen, "Failed to lock the image: "
			 "another process holds a conflicting lock");
		return -EAGAIN;
	}
	if (ret == -EINVAL || ret == -ENOLCK || ret == -EOPNOTSUPP)
		return 0;	/* file system without OFD locks: no locking */
	snprintf(err, errlen, "Failed to lock the image: %s", strerror(-ret));
	return ret;
}
