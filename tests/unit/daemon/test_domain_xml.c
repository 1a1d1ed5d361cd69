/*
 * The domain XML parser and formatter: defaults, units, the round trip
 * (format(parse(format(x))) == format(x)), and each refusal path with its
 * libvirt error code.
 */
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "daemon/domain_xml.h"
#include "daemon/protocol.h"

static int parse(const char *xml, struct domain_def **def,
		 struct vir_error *err)
{
	vir_error_clear(err);
	*def = NULL;
	return domain_def_parse(xml, strlen(xml), def, err);
}

/* Expect a refusal with this code and a message containing `needle`. */
static void refused(const char *xml, int code, const char *needle)
{
	struct domain_def *def;
	struct vir_error err;

	CHECK_EQ(parse(xml, &def, &err), -1);
	CHECK(def == NULL);
	CHECK_EQ(err.code, code);
	if (!strstr(err.message, needle)) {
		fprintf(stderr, "message '%s' lacks '%s'\n", err.message,
			needle);
		CHECK(0);
	}
}

#define HEAD "<domain type='vireo'><name>t</name><memory>1024</memory>" \
	     "<os><type>hvm</type></os>"

static const char full[] =
	"<domain type='kvm'>\n"
	"  <name>full &amp; more</name>\n"
	"  <uuid>8a6f2c4e-1b2d-4e3f-9a0b-1c2d3e4f5a6b</uuid>\n"
	"  <title>A title</title>\n"
	"  <description>x &lt; y</description>\n"
	"  <memory unit='GiB'>1</memory>\n"
	"  <currentMemory unit='MiB'>512</currentMemory>\n"
	"  <vcpu placement='static'>4</vcpu>\n"
	"  <os>\n"
	"    <type arch='x86_64' machine='pc'>hvm</type>\n"
	"    <kernel>/boot/vmlinuz</kernel>\n"
	"    <initrd>/boot/initrd.img</initrd>\n"
	"    <cmdline>console=ttyS0 root=/dev/vda</cmdline>\n"
	"    <boot dev='hd'/>\n"
	"  </os>\n"
	"  <features><acpi/><apic/></features>\n"
	"  <clock offset='localtime'/>\n"
	"  <on_poweroff>destroy</on_poweroff>\n"
	"  <on_reboot>destroy</on_reboot>\n"
	"  <on_crash>preserve</on_crash>\n"
	"  <devices>\n"
	"    <emulator>/usr/bin/vireo</emulator>\n"
	"    <disk type='file' device='disk'>\n"
	"      <driver name='vireo' type='qcow2' cache='none'/>\n"
	"      <source file='/var/lib/vireo/a.qcow2'/>\n"
	"      <target dev='vda' bus='virtio'/>\n"
	"      <serial>DISK-1</serial>\n"
	"    </disk>\n"
	"    <disk type='file' device='cdrom'>\n"
	"      <target dev='vdb'/>\n"
	"      <readonly/>\n"
	"    </disk>\n"
	"    <interface type='network'>\n"
	"      <mac address='52:54:00:12:34:56'/>\n"
	"      <source network='default'/>\n"
	"      <model type='virtio'/>\n"
	"    </interface>\n"
	"    <interface type='bridge'><source bridge='br0'/></interface>\n"
	"    <serial type='pty'><target port='0'/></serial>\n"
	"    <console type='pty'><target type='virtio' port='0'/></console>\n"
	"    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>\n"
	"    <memballoon model='virtio'/>\n"
	"  </devices>\n"
	"</domain>\n";

static void test_full_round_trip(void)
{
	struct domain_def *a, *b;
	struct vir_error err;
	char *x1, *x2, uuid[37];

	CHECK_EQ(parse(full, &a, &err), 0);
	if (!a) {
		fprintf(stderr, "%s\n", err.message);
		return;
	}
	CHECK(!strcmp(a->name, "full & more"));
	CHECK_EQ(a->virt, DOM_VIRT_KVM);
	uuid_format(a->uuid, uuid);
	CHECK(!strcmp(uuid, "8a6f2c4e-1b2d-4e3f-9a0b-1c2d3e4f5a6b"));
	CHECK_EQ(a->max_mem_kib, 1048576);
	CHECK_EQ(a->cur_mem_kib, 524288);
	CHECK_EQ(a->vcpus, 4);
	CHECK(!strcmp(a->kernel, "/boot/vmlinuz"));
	CHECK(a->acpi && a->apic && !a->pae);
	CHECK_EQ(a->on_reboot, DOM_ACT_DESTROY);
	CHECK_EQ(a->on_crash, DOM_ACT_PRESERVE);
	CHECK_EQ(a->ndisks, 2);
	CHECK(!strcmp(a->disks[0].format, "qcow2"));
	CHECK(a->disks[1].readonly && !a->disks[1].source);
	CHECK(!strcmp(a->disks[0].serial, "DISK-1"));
	CHECK(!strcmp(a->disks[0].cache, "none"));
	CHECK(!a->disks[1].serial && !a->disks[1].cache);
	CHECK_EQ(a->nifaces, 2);
	CHECK(!strcmp(a->ifaces[0].mac, "52:54:00:12:34:56"));
	/* a generated MAC: locally administered QEMU prefix */
	CHECK(!strncmp(a->ifaces[1].mac, "52:54:00:", 9));
	CHECK_EQ(a->nchardevs, 2);
	CHECK(a->chardevs[1].console);
	CHECK(!strcmp(a->chardevs[1].target_type, "virtio"));
	CHECK(!strcmp(a->memballoon, "virtio"));

	x1 = domain_def_format(a, NULL);
	CHECK(x1 != NULL);
	CHECK_EQ(parse(x1, &b, &err), 0);
	x2 = b ? domain_def_format(b, NULL) : NULL;
	CHECK(x2 && !strcmp(x1, x2));
	CHECK(strstr(x1, "<memory unit='KiB'>1048576</memory>") != NULL);
	CHECK(strstr(x1, "<name>full &amp; more</name>") != NULL);
	CHECK(strstr(x1, " id=") == NULL);
	CHECK(strstr(x1, "<serial>DISK-1</serial>") != NULL);
	CHECK(strstr(x1, "cache='none'") != NULL);
	free(x1);
	free(x2);
	domain_def_free(b);

	/* the live form carries the id and the pty */
	{
		struct domain_live live = { .id = 3, .pty = "/dev/pts/7" };
		char *x = domain_def_format(a, &live);

		CHECK(strstr(x, "<domain type='kvm' id='3'>") != NULL);
		CHECK(strstr(x, "<source path='/dev/pts/7'/>") != NULL);
		free(x);
	}
	domain_def_free(a);
}

static void test_defaults_and_units(void)
{
	struct domain_def *d;
	struct vir_error err;
	static const char *const ok[][2] = {
		{ "<memory unit='b'>1</memory>", "1" },
		{ "<memory unit='bytes'>2048</memory>", "2" },
		{ "<memory unit='KB'>1000</memory>", "977" },
		{ "<memory unit='k'>5</memory>", "5" },
		{ "<memory unit='M'>3</memory>", "3072" },
		{ "<memory unit='G'>2</memory>", "2097152" },
	};

	CHECK_EQ(parse(HEAD "</domain>", &d, &err), 0);
	if (d) {
		uint8_t zero[16] = { 0 };

		CHECK_EQ(d->max_mem_kib, 1024);
		CHECK_EQ(d->cur_mem_kib, 1024);
		CHECK_EQ(d->vcpus, 1);
		CHECK(memcmp(d->uuid, zero, 16) != 0);	/* generated */
		CHECK_EQ(d->uuid[6] >> 4, 4);		/* version 4 */
		CHECK_EQ(d->on_poweroff, DOM_ACT_DESTROY);
		CHECK_EQ(d->on_reboot, DOM_ACT_RESTART);
		domain_def_free(d);
	}
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char xml[512];

		snprintf(xml, sizeof(xml),
			 "<domain type='vireo'><name>t</name>%s"
			 "<os><type>hvm</type></os></domain>", ok[i][0]);
		CHECK_EQ(parse(xml, &d, &err), 0);
		if (d) {
			CHECK_EQ(d->max_mem_kib, strtoull(ok[i][1], NULL, 10));
			domain_def_free(d);
		}
	}
	/* currentMemory above memory is clamped, as libvirt does */
	CHECK_EQ(parse(HEAD "<currentMemory>4096</currentMemory></domain>",
		       &d, &err), 0);
	if (d) {
		CHECK_EQ(d->cur_mem_kib, 1024);
		domain_def_free(d);
	}
}

static void test_refusals(void)
{
	refused("<domain type='vireo'><name>x</name>", VIR_ERR_XML_ERROR,
		"XML error");
	refused("", VIR_ERR_XML_ERROR, "XML error");
	refused("<network/>", VIR_ERR_XML_ERROR, "expecting <domain>");
	refused("<domain><name>x</name></domain>", VIR_ERR_XML_ERROR,
		"missing domain type");
	refused("<domain type='xen'/>", VIR_ERR_CONFIG_UNSUPPORTED, "'xen'");
	refused(HEAD "<graphics type='vnc'/></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "<graphics>");
	refused(HEAD "<devices><video/></devices></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "element <video> in <devices>");
	refused(HEAD "<features><hyperv/></features></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "<hyperv>");
	refused(HEAD "<clock offset='utc'><timer name='rtc'/></clock></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "<timer>");
	refused("<domain type='vireo'><name>t</name><memory>1</memory>"
		"<os><type>xen</type></os></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "OS type 'xen'");
	refused("<domain type='vireo'><name>t</name><memory>1</memory>"
		"<os><type arch='aarch64'>hvm</type></os></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "aarch64");
	refused("<domain type='vireo'><name>t</name><memory>1</memory>"
		"<os><type>hvm</type><loader>/x</loader></os></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "<loader>");
	refused("<domain type='vireo'><memory>1</memory>"
		"<os><type>hvm</type></os></domain>", VIR_ERR_XML_ERROR,
		"missing domain name");
	refused("<domain type='vireo'><name>a/b</name><memory>1</memory>"
		"<os><type>hvm</type></os></domain>", VIR_ERR_XML_ERROR,
		"invalid domain name");
	refused("<domain type='vireo'><name>.hidden</name><memory>1</memory>"
		"<os><type>hvm</type></os></domain>", VIR_ERR_XML_ERROR,
		"invalid domain name");
	refused("<domain type='vireo'><name>t</name><name>u</name>"
		"<memory>1</memory><os><type>hvm</type></os></domain>",
		VIR_ERR_XML_ERROR, "twice");
	refused("<domain type='vireo'><name>t</name>"
		"<os><type>hvm</type></os></domain>", VIR_ERR_XML_ERROR,
		"missing <memory>");
	refused("<domain type='vireo'><name>t</name><memory>1</memory>"
		"</domain>", VIR_ERR_XML_ERROR, "missing <os>");
	refused("<domain type='vireo'><name>t</name><memory unit='parsec'>1"
		"</memory><os><type>hvm</type></os></domain>",
		VIR_ERR_XML_ERROR, "unit");
	refused("<domain type='vireo'><name>t</name><memory>-1</memory>"
		"<os><type>hvm</type></os></domain>", VIR_ERR_XML_ERROR,
		"invalid value");
	refused("<domain type='vireo'><name>t</name><memory unit='TiB'>"
		"99999999999</memory><os><type>hvm</type></os></domain>",
		VIR_ERR_XML_ERROR, "invalid value");
	refused(HEAD "<vcpu>0</vcpu></domain>", VIR_ERR_XML_ERROR, "vcpu");
	refused(HEAD "<vcpu>100000</vcpu></domain>", VIR_ERR_XML_ERROR,
		"vcpu");
	refused(HEAD "<uuid>not-a-uuid</uuid></domain>", VIR_ERR_XML_ERROR,
		"uuid");
	refused(HEAD "<on_crash>coredump-restart</on_crash></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "coredump-restart");
	refused(HEAD "<devices><disk type='network'/></devices></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "type='network'");
	refused(HEAD "<devices><disk><source file='/a'/></disk></devices>"
		"</domain>", VIR_ERR_XML_ERROR, "<target");
	refused(HEAD "<devices><disk><target dev='vda'/></disk></devices>"
		"</domain>", VIR_ERR_XML_ERROR, "no <source>");
	refused(HEAD "<devices><disk><source file='/a'/><target dev='sda' "
		"bus='scsi'/></disk></devices></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "bus='scsi'");
	refused(HEAD "<devices><disk><source file='/a'/><target dev='vda'/>"
		"<iotune/></disk></devices></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "<iotune>");
	refused(HEAD "<devices><disk><source file='/a'/><target dev='vda'/>"
		"<driver cache='unsafe'/></disk></devices></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "unsafe");
	refused(HEAD "<devices><disk><source file='/a'/><target dev='vda'/>"
		"<serial>a</serial><serial>b</serial></disk></devices></domain>",
		VIR_ERR_XML_ERROR, "twice");
	refused(HEAD "<devices><console><target type='sclp'/></console>"
		"</devices></domain>", VIR_ERR_CONFIG_UNSUPPORTED, "sclp");
	refused(HEAD "<devices><interface type='network'><mac address="
		"'zz:54:00:12:34:56'/><source network='n'/></interface>"
		"</devices></domain>", VIR_ERR_XML_ERROR, "MAC");
	refused(HEAD "<devices><interface type='network'><mac address="
		"'01:00:00:00:00:01'/><source network='n'/></interface>"
		"</devices></domain>", VIR_ERR_XML_ERROR, "MAC");
	refused(HEAD "<devices><interface type='network'/></devices>"
		"</domain>", VIR_ERR_XML_ERROR, "needs a <source>");
	refused(HEAD "<devices><interface type='vhostuser'/></devices>"
		"</domain>", VIR_ERR_CONFIG_UNSUPPORTED, "vhostuser");
	refused(HEAD "<devices><serial type='tcp'/></devices></domain>",
		VIR_ERR_CONFIG_UNSUPPORTED, "type='tcp'");
	refused(HEAD "<devices><serial type='pty'><target port='9'/></serial>"
		"</devices></domain>", VIR_ERR_CONFIG_UNSUPPORTED, "port");
	refused(HEAD "<devices><rng model='virtio'><backend model='egd'/>"
		"</rng></devices></domain>", VIR_ERR_CONFIG_UNSUPPORTED, "egd");
	refused(HEAD "<devices><memballoon/></devices></domain>",
		VIR_ERR_XML_ERROR, "memballoon");
}

/* No DTD at all: no external entities, no entity expansion bombs. */
static void test_no_dtd(void)
{
	static const char xxe[] =
		"<?xml version='1.0'?>\n"
		"<!DOCTYPE domain [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>\n"
		"<domain type='vireo'><name>&e;</name><memory>1</memory>"
		"<os><type>hvm</type></os></domain>";

	static const char laughs[] =
		"<!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'>"
		"<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
		"<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>"
		"<!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>"
		"<!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'>"
		"<!ENTITY f '&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;'>"
		"<!ENTITY g '&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;'>"
		"<!ENTITY h '&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;'>]>"
		"<domain type='vireo'><name>&h;</name><memory>1</memory>"
		"<os><type>hvm</type></os></domain>";

	refused(xxe, VIR_ERR_XML_ERROR, "DOCTYPE");
	refused(laughs, VIR_ERR_XML_ERROR, "");
}

static void test_names_and_uuids(void)
{
	uint8_t u[16], v[16];
	char s[37];

	CHECK(domain_name_valid("vm-1"));
	CHECK(domain_name_valid("with space"));
	CHECK(!domain_name_valid(""));
	CHECK(!domain_name_valid("../x"));
	CHECK(!domain_name_valid("a\nb"));
	CHECK_EQ(uuid_parse("8a6f2c4e1b2d4e3f9a0b1c2d3e4f5a6b", u), 0);
	CHECK_EQ(uuid_parse("8A6F2C4E-1B2D-4E3F-9A0B-1C2D3E4F5A6B", v), 0);
	CHECK(!memcmp(u, v, 16));
	uuid_format(u, s);
	CHECK(!strcmp(s, "8a6f2c4e-1b2d-4e3f-9a0b-1c2d3e4f5a6b"));
	CHECK(uuid_parse("8a6f2c4e1b2d4e3f9a0b1c2d3e4f5a6", u) != 0);
	CHECK(uuid_parse("8a6f2c4e1b2d4e3f9a0b1c2d3e4f5a6b0", u) != 0);
	CHECK(uuid_parse("8a6f2c4e1b2d4e3f9a0b1c2d3e4f5a6g", u) != 0);
	CHECK_EQ(uuid_generate(u), 0);
	CHECK_EQ(uuid_generate(v), 0);
	CHECK(memcmp(u, v, 16) != 0);
}

int main(void)
{
	test_full_round_trip();
	test_defaults_and_units();
	test_refusals();
	test_no_dtd();
	test_names_and_uuids();
	return test_done();
}
