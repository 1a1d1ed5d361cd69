#include "vmm/options.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cpu/engine.h"
#include "lib/util.h"
#include "vireo-version.h"

#define MAX_MEMORY (1024 * GiB)

void options_usage(FILE *out)
{
	fputs("Usage: vireo --kernel FILE [options]\n"
	      "Run one virtual machine.\n\n"
	      "  --kernel FILE        Linux bzImage or ELF kernel with a PVH note\n"
	      "  --initrd FILE        initial ramdisk\n"
	      "  --cmdline STRING     kernel command line\n"
	      "  --memory SIZE[,hugepages=on|off][,merge=on|off]\n"
	      "                       guest RAM (default 512M); suffixes K, M, G; a bare\n"
	      "                       number is MiB. hugepages: transparent huge pages;\n"
	      "                       merge: let KSM share identical pages\n"
	      "  --cpus N             number of vCPUs (default 1, at most 64)\n"
	      "  --accel kvm|emu|auto CPU engine (default auto: kvm where the host has\n"
	      "                       VT-x/AMD-V, else vireo's own emulator)\n"
	      "  --serial stdio|pty|unix:PATH|file:PATH|none\n"
	      "                       where the first serial port goes (default stdio)\n"
	      "  --control PATH       QMP control socket (UNIX stream socket)\n"
	      "  --no-reboot          exit instead of rebooting when the guest resets\n"
	      "  -v, --verbose        log more\n"
	      "  -h, --help           this text\n"
	      "  -V, --version        version\n", out);
}

static int parse_memory(const char *arg, struct vm_options *o, char *err, size_t errlen)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(arg) >= sizeof(buf)) {
		snprintf(err, errlen, "--memory: argument too long");
		return -1;
	}
	strcpy(buf, arg);
	tok = strtok_r(buf, ",", &save);
	if (!tok || parse_size(tok, MiB, &o->mem_size) < 0) {
		snprintf(err, errlen, "--memory: '%s' is not a size (e.g. 512M, 2G)", tok ? tok : "");
		return -1;
	}
	while ((tok = strtok_r(NULL, ",", &save))) {
		bool *flag = NULL;
		char *eq = strchr(tok, '=');

		if (eq)
			*eq++ = '\0';
		if (!strcmp(tok, "hugepages"))
			flag = &o->hugepages;
		else if (!strcmp(tok, "merge"))
			flag = &o->merge;
		if (!flag || !eq || (strcmp(eq, "on") && strcmp(eq, "off"))) {
			snprintf(err, errlen, "--memory: unknown setting '%s%s%s' (hugepages=on|off, merge=on|off)",
				 tok, eq ? "=" : "", eq ? eq : "");
			return -1;
		}
		*flag = !strcmp(eq, "on");
	}
	if (o->mem_size == 0) {
		snprintf(err, errlen, "--memory: guest memory cannot be 0");
		return -1;
	}
	if (o->mem_size % (4 * KiB) || o->mem_size < 16 * MiB || o->mem_size > MAX_MEMORY) {
		snprintf(err, errlen, "--memory: %s is out of range (16M to 1T, a multiple of 4K)", arg);
		return -1;
	}
	return 0;
}

static int parse_serial(const char *arg, struct vm_options *o, char *err, size_t errlen)
{
	if (!strcmp(arg, "stdio"))
		o->serial = SERIAL_STDIO;
	else if (!strcmp(arg, "pty"))
		o->serial = SERIAL_PTY;
	else if (!strcmp(arg, "none"))
		o->serial = SERIAL_NONE;
	else if (!strncmp(arg, "unix:", 5) && arg[5]) {
		o->serial = SERIAL_UNIX;
		o->serial_path = arg + 5;
	} else if (!strncmp(arg, "file:", 5) && arg[5]) {
		o->serial = SERIAL_FILE;
		o->serial_path = arg + 5;
	} else {
		snprintf(err, errlen, "--serial: '%s' is not stdio, pty, unix:PATH, file:PATH or none", arg);
		return -1;
	}
	return 0;
}

int options_parse(int argc, char **argv, struct vm_options *o, char *err, size_t errlen)
{
	enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_CPUS, OPT_ACCEL,
	       OPT_SERIAL, OPT_CONTROL, OPT_NO_REBOOT };
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "append", required_argument, NULL, OPT_CMDLINE },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "no-reboot", no_argument, NULL, OPT_NO_REBOOT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	uint64_t n;

	memset(o, 0, sizeof(*o));
	o->mem_size = 512 * MiB;
	o->ncpus = 1;
	o->accel = ACCEL_AUTO;
	o->serial = SERIAL_STDIO;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_KERNEL: o->kernel = optarg; break;
		case OPT_INITRD: o->initrd = optarg; break;
		case OPT_CMDLINE: o->cmdline = optarg; break;
		case OPT_MEMORY:
			if (parse_memory(optarg, o, err, errlen) < 0)
				return OPTIONS_ERROR;
			break;
		case OPT_CPUS:
			if (parse_uint(optarg, 0, UINT32_MAX, &n) < 0 || n == 0 || n > MAX_VCPUS) {
				snprintf(err, errlen, "--cpus: '%s' is not a vCPU count from 1 to %d",
					 optarg, MAX_VCPUS);
				return OPTIONS_ERROR;
			}
			o->ncpus = n;
			break;
		case OPT_ACCEL:
			if (!strcmp(optarg, "kvm"))
				o->accel = ACCEL_KVM;
			else if (!strcmp(optarg, "emu") || !strcmp(optarg, "tcg"))
				o->accel = ACCEL_EMU;
			else if (!strcmp(optarg, "auto"))
				o->accel = ACCEL_AUTO;
			else {
				snprintf(err, errlen, "--accel: '%s' is not kvm, emu or auto", optarg);
				return OPTIONS_ERROR;
			}
			break;
		case OPT_SERIAL:
			if (parse_serial(optarg, o, err, errlen) < 0)
				return OPTIONS_ERROR;
			break;
		case OPT_CONTROL: o->control = optarg; break;
		case OPT_NO_REBOOT: o->no_reboot = true; break;
		case 'v': o->verbose = true; break;
		case 'h':
			options_usage(stdout);
			return OPTIONS_EXIT_OK;
		case 'V':
			printf("vireo %s\n", VIREO_VERSION);
			return OPTIONS_EXIT_OK;
		case ':':
			snprintf(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
			return OPTIONS_ERROR;
		default:
			snprintf(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
			return OPTIONS_ERROR;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
		return OPTIONS_ERROR;
	}
	if (!o->kernel) {
		snprintf(err, errlen, "no kernel given: use --kernel FILE (see --help)");
		return OPTIONS_ERROR;
	}
	return OPTIONS_RUN;
}
