/* vireo's command line. */
#ifndef VIREO_VMM_OPTIONS_H
#define VIREO_VMM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum accel_kind { ACCEL_AUTO, ACCEL_KVM, ACCEL_EMU };
enum serial_kind { SERIAL_STDIO, SERIAL_PTY, SERIAL_UNIX, SERIAL_FILE, SERIAL_NONE };

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
