/* vireo's command line. */
#ifndef VIREO_VMM_OPTIONS_H
#define VIREO_VMM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum accel_kind { ACCEL_AUTO, ACCEL_KVM, ACCEL_EMU };
enum serial_kind { SERIAL_STDIO, SERIAL_PTY, SERIAL_UNIX, SERIAL_FILE, SERIAL_NONE };
enum console_kind { CONSOLE_SERIAL, CONSOLE_VIRTIO };
enum disk_cache { DISK_CACHE_WRITEBACK, DISK_CACHE_NONE };

#define VM_MAX_DISKS 8
#define VM_MAX_NICS  4
#define DISK_PATH_MAX 1024
#define DISK_SERIAL_MAX 20   /* virtio-blk GET_ID */

/* --disk path=F[,format=raw|qcow2][,readonly=on][,serial=ID][,cache=...] */
struct disk_options {
	char path[DISK_PATH_MAX];
	char format[8];             /* "raw", "qcow2" or "" to probe */
	char serial[DISK_SERIAL_MAX + 1];
	bool read_only;
	enum disk_cache cache;
};

/* --net tap=NAME[,mac=52:54:00:..] */
struct net_options {
	char tap[16];               /* IFNAMSIZ */
	uint8_t mac[6];             /* given or 52:54:00:12:34:56+index */
};

struct vm_options {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	uint64_t mem_size;
	bool hugepages;
	bool merge;
	unsigned ncpus;
	enum accel_kind accel;
	enum serial_kind serial;
	const char *serial_path;    /* unix:PATH and file:PATH */
	const char *control;        /* QMP socket path, or NULL */
	bool no_reboot;
	bool verbose;
	/* virtio devices */
	struct disk_options disks[VM_MAX_DISKS];
	unsigned ndisks;
	struct net_options nets[VM_MAX_NICS];
	unsigned nnets;
	enum console_kind console;
	bool rng;
	bool balloon;
};

enum { OPTIONS_RUN = 0, OPTIONS_EXIT_OK = 1, OPTIONS_ERROR = -1 };

/*
 * Parse argv. OPTIONS_RUN: run the VM. OPTIONS_EXIT_OK: --help or
 * --version was printed. OPTIONS_ERROR: err holds one line naming the
 * problem. Does not touch the files named (the VMM checks them).
 */
int options_parse(int argc, char **argv, struct vm_options *o, char *err, size_t errlen);
void options_usage(FILE *out);

#endif
