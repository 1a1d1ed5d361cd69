/*
 * The libvirt domain XML subset vireo understands: parsed with libxml2 into
 * struct domain_def, and formatted back. Anything the parser does not know
 * is refused with VIR_ERR_CONFIG_UNSUPPORTED naming the element, so a
 * definition is never silently half-applied.
 */
#ifndef VIREO_DAEMON_DOMAIN_XML_H
#define VIREO_DAEMON_DOMAIN_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/virerr.h"

#define DOMAIN_NAME_MAX		200
#define DOMAIN_VCPUS_MAX	64	/* vireo --cpus limit */
#define DOMAIN_DEVICES_MAX	64
#define DOMAIN_BOOT_MAX		4

enum dom_virt { DOM_VIRT_VIREO, DOM_VIRT_KVM, DOM_VIRT_QEMU };
enum dom_action { DOM_ACT_DESTROY, DOM_ACT_RESTART, DOM_ACT_PRESERVE };

struct dom_disk {
	char *type;		/* file | block */
	char *device;		/* disk | cdrom */
	char *format;		/* <driver type=>: raw | qcow2, or NULL */
	char *source;		/* file or device path, or NULL (empty cdrom) */
	char *target;		/* vda, ... */
	char *bus;		/* virtio */
	char *serial;		/* <serial>: the guest-visible ID, or NULL */
	char *cache;		/* <driver cache=>: none | writeback, or NULL */
	bool readonly;
};

struct dom_iface {
	char *type;		/* network | bridge | user */
	char *mac;		/* always set after parsing */
	char *source;		/* network or bridge name */
	char *model;		/* virtio */
};

struct dom_chardev {
	bool console;		/* <console> rather than <serial> */
	int port;
	char *target_type;	/* console: serial | virtio */
};

struct dom_rng {
	char *model;		/* virtio */
	char *backend;		/* /dev/urandom */
};

struct domain_def {
	int virt;
	char *name;
	uint8_t uuid[16];
	char *title;
	char *description;
	uint64_t max_mem_kib;
	uint64_t cur_mem_kib;
	unsigned vcpus;
	char *os_arch;
	char *os_machine;
	char *kernel;
	char *initrd;
	char *cmdline;
	char *boot[DOMAIN_BOOT_MAX];
	size_t nboot;
	bool acpi, apic, pae;
	char *clock_offset;
	int on_poweroff, on_reboot, on_crash;
	char *emulator;
	struct dom_disk disks[DOMAIN_DEVICES_MAX];
	size_t ndisks;
	struct dom_iface ifaces[DOMAIN_DEVICES_MAX];
	size_t nifaces;
	struct dom_chardev chardevs[DOMAIN_DEVICES_MAX];
	size_t nchardevs;
	struct dom_rng rngs[DOMAIN_DEVICES_MAX];
	size_t nrngs;
	char *memballoon;	/* model, or NULL when absent */
};

/* What only a running domain has, for the live XML. */
struct domain_live {
	int id;
	const char *pty;	/* serial pty path, or NULL */
	uint64_t cur_mem_kib;	/* the balloon target, 0: the definition's */
};

/*
 * Parse a domain XML document of len bytes. Returns 0 and *out, or -1 with
 * err set (XML_ERROR for malformed or invalid values, CONFIG_UNSUPPORTED
 * for elements or values vireo does not implement). A missing <uuid> is
 * generated; a missing <mac> too.
 */
int domain_def_parse(const char *xml, size_t len, struct domain_def **out,
		     struct vir_error *err);
/* Format as XML (malloc'd, NUL-terminated); live may be NULL. */
char *domain_def_format(const struct domain_def *def,
			const struct domain_live *live);
void domain_def_free(struct domain_def *def);

/* Domain names end up in file names: no '/', no leading '.', printable. */
bool domain_name_valid(const char *name);
/* "xxxxxxxx-xxxx-..." form; out needs 37 bytes. */
void uuid_format(const uint8_t uuid[16], char out[37]);
/* Accepts 32 hex digits, '-' between them ignored. 0 or -EINVAL. */
int uuid_parse(const char *s, uint8_t uuid[16]);
/* A random (version 4) UUID; 0 or -errno. */
int uuid_generate(uint8_t uuid[16]);

#endif
