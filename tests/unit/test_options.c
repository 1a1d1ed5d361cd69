/* vireo's command-line parsing: good options and every rejection path. */
#include <string.h>

#include "lib/util.h"
#include "vmm/options.h"
#include "tap.h"

static int parse(struct vm_options *o, char *err, const char *a, const char *b,
		 const char *c, const char *d)
{
	char *argv[8] = { "vireo" };
	int argc = 1;

	if (a) argv[argc++] = (char *)a;
	if (b) argv[argc++] = (char *)b;
	if (c) argv[argc++] = (char *)c;
	if (d) argv[argc++] = (char *)d;
	err[0] = '\0';
	return options_parse(argc, argv, o, err, 256);
}

int main(void)
{
	struct vm_options o;
	char err[256];

	CHECK_EQ(parse(&o, err, "--kernel", "k", NULL, NULL), OPTIONS_RUN);
	CHECK_EQ(o.mem_size, 512 * MiB);
	CHECK_EQ(o.ncpus, 1);
	CHECK_EQ(o.accel, ACCEL_AUTO);
	CHECK_EQ(o.serial, SERIAL_STDIO);
	CHECK(!strcmp(o.kernel, "k"));

	CHECK_EQ(parse(&o, err, "--kernel=k", "--memory=2G,hugepages=on,merge=on", "--cpus=4",
		       "--accel=emu"), OPTIONS_RUN);
	CHECK_EQ(o.mem_size, 2 * GiB);
	CHECK(o.hugepages && o.merge);
	CHECK_EQ(o.ncpus, 4);
	CHECK_EQ(o.accel, ACCEL_EMU);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--memory=256", NULL, NULL), OPTIONS_RUN);
	CHECK_EQ(o.mem_size, 256 * MiB);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--serial=unix:/tmp/s", "--control=/tmp/c",
		       "--no-reboot"), OPTIONS_RUN);
	CHECK_EQ(o.serial, SERIAL_UNIX);
	CHECK(!strcmp(o.serial_path, "/tmp/s"));
	CHECK(!strcmp(o.control, "/tmp/c"));
	CHECK(o.no_reboot);

	/* Rejections: each with a message naming the problem. */
	CHECK_EQ(parse(&o, err, NULL, NULL, NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "--kernel") != NULL);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--memory=0", NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "cannot be 0") != NULL);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--memory=12Q", NULL, NULL), OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--memory=1M", NULL, NULL), OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--memory=512M,huge=on", NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "huge") != NULL);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--memory=512M,merge=maybe", NULL, NULL), OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--cpus=0", NULL, NULL), OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--cpus=65", NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "--cpus") != NULL);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--cpus=two", NULL, NULL), OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--accel=xen", NULL, NULL), OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--serial=tcp:1", NULL, NULL), OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--frobnicate", NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "--frobnicate") != NULL);
	CHECK_EQ(parse(&o, err, "--kernel", NULL, NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "argument") != NULL);
	CHECK_EQ(parse(&o, err, "--kernel=k", "stray", NULL, NULL), OPTIONS_ERROR);
	/* virtio devices. */
	CHECK_EQ(parse(&o, err, "--kernel=k", NULL, NULL, NULL), OPTIONS_RUN);
	CHECK_EQ(o.ndisks, 0);
	CHECK_EQ(o.nnets, 0);
	CHECK_EQ(o.console, CONSOLE_SERIAL);
	CHECK(!o.rng && !o.balloon);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--disk=path=/a.img",
		       "--disk", "path=/b.qcow2,format=qcow2,readonly=on,serial=SN1,cache=none"),
		 OPTIONS_RUN);
	CHECK_EQ(o.ndisks, 2);
	CHECK(!strcmp(o.disks[0].path, "/a.img"));
	CHECK(!o.disks[0].format[0] && !o.disks[0].read_only);
	CHECK_EQ(o.disks[0].cache, DISK_CACHE_WRITEBACK);
	CHECK(!strcmp(o.disks[1].path, "/b.qcow2"));
	CHECK(!strcmp(o.disks[1].format, "qcow2"));
	CHECK(o.disks[1].read_only);
	CHECK(!strcmp(o.disks[1].serial, "SN1"));
	CHECK_EQ(o.disks[1].cache, DISK_CACHE_NONE);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--net=tap=tap0", "--net=tap=tap1,mac=52:54:00:ab:cd:ef",
		       "--rng"), OPTIONS_RUN);
	CHECK_EQ(o.nnets, 2);
	CHECK(!strcmp(o.nets[0].tap, "tap0"));
	CHECK_EQ(o.nets[0].mac[0], 0x52);
	CHECK_EQ(o.nets[0].mac[5], 0x56);
	CHECK_EQ(o.nets[1].mac[3], 0xab);
	CHECK_EQ(o.nets[1].mac[5], 0xef);
	CHECK(o.rng);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--console=virtio", "--balloon", NULL), OPTIONS_RUN);
	CHECK_EQ(o.console, CONSOLE_VIRTIO);
	CHECK(o.balloon);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--disk=format=raw", NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "path") != NULL);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--disk=path=x,format=vmdk", NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "vmdk") != NULL);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--disk=path=x,readonly=yes", NULL, NULL), OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--disk=path=x,cache=unsafe", NULL, NULL), OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--disk=path=x,serial=123456789012345678901", NULL, NULL),
		 OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--disk=path=x,bogus=1", NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "bogus") != NULL);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--disk=x.img", NULL, NULL), OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--net=mac=52:54:00:00:00:01", NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "tap") != NULL);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--net=tap=t,mac=53:54:00:00:00:01", NULL, NULL),
		 OPTIONS_ERROR);	/* multicast */
	CHECK_EQ(parse(&o, err, "--kernel=k", "--net=tap=t,mac=52:54:00:00:00", NULL, NULL),
		 OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--net=tap=averyveryverylongname", NULL, NULL),
		 OPTIONS_ERROR);
	CHECK_EQ(parse(&o, err, "--kernel=k", "--console=hvc", NULL, NULL), OPTIONS_ERROR);
	CHECK(strstr(err, "--console") != NULL);
	return test_done();
}
