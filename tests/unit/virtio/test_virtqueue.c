/*
 * The split virtqueue against a fake guest memory: good chains (direct,
 * indirect, split reply), the used ring, notification suppression, and
 * every rejection the chain walker promises.
 */
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"
#include "tap.h"

#define RAM_SIZE   (1u << 20)
#define QSIZE      8
#define DESC_GPA   0x1000
#define AVAIL_GPA  0x2000
#define USED_GPA   0x3000
#define DATA_GPA   0x10000

static struct guest_mem mem;
static uint8_t *ram;
static struct virtqueue vq;
static struct vq_chain chain;

static struct vring_desc *desc(unsigned i)
{
	return (struct vring_desc *)(ram + DESC_GPA) + i;
}

static uint16_t *avail(void)
{
	return (uint16_t *)(ram + AVAIL_GPA);
}

static uint16_t *used(void)
{
	return (uint16_t *)(ram + USED_GPA);
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	*desc(i) = (struct vring_desc){ addr, len, flags, next };
}

/* Publish head as the next available entry. */
static void post(uint16_t head)
{
	uint16_t idx = avail()[1];

	avail()[2 + idx % QSIZE] = head;
	avail()[1] = idx + 1;
}

static void setup(bool indirect, bool event_idx)
{
	memset(ram, 0, RAM_SIZE);
	vq_init(&vq, &mem);
	vq.size = QSIZE;
	vq.desc_gpa = DESC_GPA;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	vq.indirect = indirect;
	vq.event_idx = event_idx;
	CHECK_EQ(vq_enable(&vq), 0);
}

/* One bad chain: rejected with a reason, nothing consumed. */
static void expect_bad(const char *what)
{
	int r = vq_pop(&vq, &chain);

	CHECK_EQ(r, -22);
	CHECK(vq.error != NULL);
	if (r != -22 || !vq.error || !strstr(vq.error, what))
		fprintf(stderr, "expected '%s', got %d '%s'\n", what, r,
			vq.error ? vq.error : "(none)");
	CHECK(vq.error && strstr(vq.error, what));
	CHECK_EQ(vq.last_avail, 0);
}

static void test_enable(void)
{
	vq_init(&vq, &mem);
	vq.size = 6;
	CHECK_EQ(vq_enable(&vq), -22);
	vq.size = 512;
	CHECK_EQ(vq_enable(&vq), -22);
	vq.size = QSIZE;
	vq.desc_gpa = DESC_GPA + 8;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	CHECK_EQ(vq_enable(&vq), -22);
	vq.desc_gpa = DESC_GPA;
	vq.used_gpa = RAM_SIZE - 8;	/* ring runs off the end of RAM */
	CHECK_EQ(vq_enable(&vq), -22);
	CHECK(strstr(vq.error, "used ring") != NULL);
	vq.used_gpa = 0xF0000000;
	CHECK_EQ(vq_enable(&vq), -22);
	vq.used_gpa = USED_GPA;
	vq.avail_gpa = RAM_SIZE - 4;
	CHECK_EQ(vq_enable(&vq), -22);
	CHECK(strstr(vq.error, "available ring") != NULL);
	vq.avail_gpa = AVAIL_GPA;
	CHECK_EQ(vq_enable(&vq), 0);
	CHECK(vq.ready);
}

/* What the engine was told a device will write (guest_mem.on_dma_write). */
static uint64_t noticed_gpa[8], noticed_len[8];
static unsigned noticed;

static void record_dma(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (noticed < 8) {
		noticed_gpa[noticed] = gpa;
		noticed_len[noticed] = len;
	}
	noticed++;
}

static void test_good_chains(void)
{
	struct vring_desc *table = (struct vring_desc *)(ram + 0x4000);
	uint8_t buf[16];

	setup(true, false);
	CHECK_EQ(vq_pop(&vq, &chain), 0);	/* empty */

	/* Request (2 readable), reply (1 writable). */
	memcpy(ram + DATA_GPA, "hello, ", 7);
	memcpy(ram + DATA_GPA + 0x100, "world", 5);
	set_desc(0, DATA_GPA, 7, VRING_DESC_F_NEXT, 3);
	set_desc(3, DATA_GPA + 0x100, 5, VRING_DESC_F_NEXT, 5);
	set_desc(5, DATA_GPA + 0x200, 64, VRING_DESC_F_WRITE, 0);
	post(0);
	mem.on_dma_write = record_dma;
	CHECK_EQ(vq_pop(&vq, &chain), 1);
	mem.on_dma_write = NULL;
	/* Only the device-writable buffer is announced, whole. */
	CHECK_EQ(noticed, 1);
	CHECK_EQ(noticed_gpa[0], DATA_GPA + 0x200);
	CHECK_EQ(noticed_len[0], 64);
	CHECK_EQ(chain.head, 0);
	CHECK_EQ(chain.n_out, 2);
	CHECK_EQ(chain.n_in, 1);
	CHECK_EQ(chain.out_len, 12);
	CHECK_EQ(chain.in_len, 64);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(vq_chain_read(&chain, 0, buf, sizeof(buf)), 12);
	CHECK(!memcmp(buf, "hello, world", 12));
	CHECK_EQ(vq_chain_read(&chain, 5, buf, 4), 4);
	CHECK(!memcmp(buf, ", wo", 4));
	CHECK_EQ(vq_chain_write(&chain, 60, "abcdef", 6), 4);
	CHECK(!memcmp(ram + DATA_GPA + 0x200 + 60, "abcd", 4));
	CHECK_EQ(vq_pop(&vq, &chain), 0);

	vq_push(&vq, chain.head, 4);
	CHECK_EQ(used()[1], 1);
	CHECK_EQ(((struct vring_used_elem *)(used() + 2))[0].id, 0);
	CHECK_EQ(((struct vring_used_elem *)(used() + 2))[0].len, 4);
	CHECK(vq_should_notify(&vq));
	avail()[0] = VRING_AVAIL_F_NO_INTERRUPT;
	CHECK(!vq_should_notify(&vq));

	/* Indirect: one readable and two writable buffers in a table. */
	table[0] = (struct vring_desc){ DATA_GPA, 16, VRING_DESC_F_NEXT, 2 };
	table[2] = (struct vring_desc){ DATA_GPA + 0x300, 8,
					VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1 };
	table[1] = (struct vring_desc){ DATA_GPA + 0x400, 1, VRING_DESC_F_WRITE, 0 };
	set_desc(1, 0x4000, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	post(1);
	CHECK_EQ(vq_pop(&vq, &chain), 1);
	CHECK_EQ(chain.head, 1);
	CHECK_EQ(chain.n_out, 1);
	CHECK_EQ(chain.n_in, 2);
	CHECK_EQ(chain.in_len, 9);

	/* A chain of exactly the queue size is fine. */
	for (unsigned i = 0; i < QSIZE; i++)
		set_desc(i, DATA_GPA, 1, i + 1 < QSIZE ? VRING_DESC_F_NEXT : 0, i + 1);
	post(0);
	CHECK_EQ(vq_pop(&vq, &chain), 1);
	CHECK_EQ(chain.n_out, QSIZE);
	/* Zero-length buffers at the very end of RAM are inside it. */
	set_desc(2, RAM_SIZE, 0, 0, 0);
	post(2);
	CHECK_EQ(vq_pop(&vq, &chain), 1);
}

static void test_event_idx(void)
{
	uint16_t *avail_event = (uint16_t *)(used() + 2 + 4 * QSIZE);
	uint16_t *used_event = &avail()[2 + QSIZE];

	setup(false, true);
	CHECK_EQ(vq_pop(&vq, &chain), 0);
	CHECK_EQ(*avail_event, 0);
	set_desc(0, DATA_GPA, 4, VRING_DESC_F_WRITE, 0);
	post(0);
	post(0);
	CHECK_EQ(vq_pop(&vq, &chain), 1);
	CHECK_EQ(*avail_event, 1);
	CHECK_EQ(vq_pop(&vq, &chain), 1);
	CHECK_EQ(*avail_event, 2);
	vq_push(&vq, 0, 4);
	CHECK(vq_should_notify(&vq));		/* first time */
	*used_event = 5;			/* driver: wake me after entry 5 */
	vq_push(&vq, 0, 4);
	CHECK(!vq_should_notify(&vq));
	for (unsigned i = 0; i < 4; i++)
		vq_push(&vq, 0, 4);
	CHECK(vq_should_notify(&vq));		/* used idx went 2 -> 6, past 5 */
	vq_push(&vq, 0, 4);
	CHECK(!vq_should_notify(&vq));
}

static void test_bad_chains(void)
{
	struct vring_desc *table = (struct vring_desc *)(ram + 0x4000);

	setup(false, false);
	avail()[2] = QSIZE;			/* head out of range */
	avail()[1] = 1;
	expect_bad("head index");

	setup(false, false);
	set_desc(0, DATA_GPA, 4, VRING_DESC_F_NEXT, 1);
	set_desc(1, DATA_GPA, 4, VRING_DESC_F_NEXT, 0);	/* loop */
	post(0);
	expect_bad("loop");

	setup(false, false);
	set_desc(0, DATA_GPA, 4, VRING_DESC_F_NEXT, 0);	/* self loop */
	post(0);
	expect_bad("loop");

	setup(false, false);
	set_desc(0, DATA_GPA, 4, VRING_DESC_F_NEXT, QSIZE + 3);
	post(0);
	expect_bad("next index");

	setup(false, false);
	set_desc(0, 0xFFFFFFFFFFFFF000ULL, 0x2000, 0, 0);	/* wraps */
	post(0);
	expect_bad("guest RAM");

	setup(false, false);
	set_desc(0, RAM_SIZE - 16, 17, 0, 0);	/* one byte past the end */
	post(0);
	expect_bad("guest RAM");

	setup(false, false);
	set_desc(0, DATA_GPA, 0xFFFFFFFF, 0, 0);	/* huge length */
	post(0);
	expect_bad("guest RAM");

	setup(false, false);
	set_desc(0, DATA_GPA, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(1, DATA_GPA, 4, 0, 0);		/* readable after writable */
	post(0);
	expect_bad("device-readable");

	setup(false, false);
	avail()[1] = QSIZE + 1;			/* more than the ring holds */
	expect_bad("ahead");

	/* Indirect rules. */
	setup(false, false);
	set_desc(0, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_bad("without VIRTIO_F_RING_INDIRECT_DESC");

	setup(true, false);
	set_desc(0, 0x4000, 24, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_bad("multiple of 16");

	setup(true, false);
	set_desc(0, 0x4000, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	post(0);
	expect_bad("NEXT");

	setup(true, false);
	set_desc(0, RAM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_bad("indirect table not wholly");

	setup(true, false);
	table[0] = (struct vring_desc){ DATA_GPA, 4, VRING_DESC_F_NEXT, 1 };
	table[1] = (struct vring_desc){ DATA_GPA, 4, VRING_DESC_F_NEXT, 0 };
	set_desc(0, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_bad("loop");

	setup(true, false);
	table[0] = (struct vring_desc){ DATA_GPA, 4, VRING_DESC_F_NEXT, 2 };
	set_desc(0, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_bad("outside its table");

	setup(true, false);
	table[0] = (struct vring_desc){ 0x4000, 16, VRING_DESC_F_INDIRECT, 0 };
	set_desc(0, 0x4000, 16, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_bad("nested");

	setup(true, false);
	set_desc(0, DATA_GPA, 4, VRING_DESC_F_NEXT, 1);
	set_desc(1, 0x4000, 16, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_bad("inside a chain");

	setup(true, false);
	set_desc(0, 0x4000, 300 * 16, VRING_DESC_F_INDIRECT, 0);
	post(0);
	expect_bad("larger");
}

int main(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	if (!ram)
		return 1;
	mem.region[0] = (struct guest_region){ .gpa = 0, .size = RAM_SIZE, .host = ram };
	mem.nr_regions = 1;
	mem.ram_size = RAM_SIZE;

	test_enable();
	test_good_chains();
	test_event_idx();
	test_bad_chains();
	free(ram);
	return test_done();
}
