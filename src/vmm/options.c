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
	      "  --disk path=FILE[,format=raw|qcow2][,readonly=on][,serial=ID]\n"
	      "         [,cache=none|writeback]\n"
	      "                       a virtio-blk disk (repeatable, up to 8); format is\n"
	      "                       probed when not given; cache=none opens with O_DIRECT\n"
	      "  --net tap=NAME[,mac=52:54:00:XX:XX:XX]\n"
	      "                       a virtio-net NIC on TAP device NAME (attached, or\n"
	      "                       created when permitted; repeatable, up to 4)\n"
	      "  --console virtio|serial\n"
	      "                       where --serial's input goes: virtio-console (hvc0;\n"
	      "                       COM1's output still shows) or COM1 (default serial)\n"
	      "  --rng                a virtio-rng device fed from getrandom()\n"
	      "  --balloon            a virtio-balloon device\n"
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

/* Copy val into a fixed field; false if it does not fit. */
static bool set_str(char *dst, size_t size, const char *val)
{
	if (strlen(val) >= size)
		return false;
	strcpy(dst, val);
	return true;
}

static int parse_disk(const char *arg, struct vm_options *o, char *err, size_t errlen)
{
	struct disk_options *d;
	char buf[DISK_PATH_MAX + 256], *save = NULL, *tok;

	if (o->ndisks >= VM_MAX_DISKS) {
		snprintf(err, errlen, "--disk: at most %d disks", VM_MAX_DISKS);
		return -1;
	}
	if (strlen(arg) >= sizeof(buf)) {
		snprintf(err, errlen, "--disk: argument too long");
		return -1;
	}
	d = &o->disks[o->ndisks];
	memset(d, 0, sizeof(*d));
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');
		bool ok;

		if (!val) {
			snprintf(err, errlen, "--disk: '%s' is not KEY=VALUE", tok);
			return -1;
		}
		*val++ = '\0';
		if (!strcmp(tok, "path") || !strcmp(tok, "file")) {
			ok = *val && set_str(d->path, sizeof(d->path), val);
		} else if (!strcmp(tok, "format")) {
			ok = (!strcmp(val, "raw") || !strcmp(val, "qcow2")) &&
			     set_str(d->format, sizeof(d->format), val);
		} else if (!strcmp(tok, "readonly")) {
			ok = !strcmp(val, "on") || !strcmp(val, "off");
			d->read_only = !strcmp(val, "on");
		} else if (!strcmp(tok, "serial")) {
			ok = set_str(d->serial, sizeof(d->serial), val);
		} else if (!strcmp(tok, "cache")) {
			ok = !strcmp(val, "none") || !strcmp(val, "writeback");
			d->cache = !strcmp(val, "none") ? DISK_CACHE_NONE : DISK_CACHE_WRITEBACK;
		} else {
			snprintf(err, errlen, "--disk: unknown setting '%s' (path, format, readonly, serial, cache)",
				 tok);
			return -1;
		}
		if (!ok) {
			snprintf(err, errlen, "--disk: bad value '%s' for %s", val, tok);
			return -1;
		}
	}
	if (!d->path[0]) {
		snprintf(err, errlen, "--disk: no path=FILE given");
		return -1;
	}
	o->ndisks++;
	return 0;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &end) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = v[i];
	/* A NIC address: unicast (bit 0 of the first byte clear). */
	return !(mac[0] & 1);
}

static int parse_net(const char *arg, struct vm_options *o, char *err, size_t errlen)
{
	static const uint8_t base_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct net_options *n;
	char buf[256], *save = NULL, *tok;

	if (o->nnets >= VM_MAX_NICS) {
		snprintf(err, errlen, "--net: at most %d NICs", VM_MAX_NICS);
		return -1;
	}
	if (strlen(arg) >= sizeof(buf)) {
		snprintf(err, errlen, "--net: argument too long");
		return -1;
	}
	n = &o->nets[o->nnets];
	memset(n, 0, sizeof(*n));
	memcpy(n->mac, base_mac, 6);
	n->mac[5] += o->nnets;
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');
		bool ok;

		if (!val) {
			snprintf(err, errlen, "--net: '%s' is not KEY=VALUE", tok);
			return -1;
		}
		*val++ = '\0';
		if (!strcmp(tok, "tap"))
			ok = *val && set_str(n->tap, sizeof(n->tap), val);
		else if (!strcmp(tok, "mac"))
			ok = parse_mac(val, n->mac);
		else {
			snprintf(err, errlen, "--net: unknown setting '%s' (tap, mac)", tok);
			return -1;
		}
		if (!ok) {
			snprintf(err, errlen, "--net: bad value '%s' for %s", val, tok);
			return -1;
		}
	}
	if (!n->tap[0]) {
		snprintf(err, errlen, "--net: no tap=NAME given");
		return -1;
	}
	o->nnets++;
	return 0;
}

int options_parse(int argc, char **argv, struct vm_options *o, char *err, size_t errlen)
{
	enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_CPUS, OPT_ACCEL,
	       OPT_SERIAL, OPT_CONTROL, OPT_NO_REBOOT, OPT_DISK, OPT_NET, OPT_CONSOLE,
	       OPT_RNG, OPT_BALLOON };
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
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "net", required_argument, NULL, OPT_NET },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "rng", no_argument, NULL, OPT_RNG },
		{ "balloon", no_argument, NULL, OPT_BALLOON },
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
		case OPT_DISK:
			if (parse_disk(optarg, o, err, errlen) < 0)
				return OPTIONS_ERROR;
			break;
		case OPT_NET:
			if (parse_net(optarg, o, err, errlen) < 0)
				return OPTIONS_ERROR;
			break;
		case OPT_CONSOLE:
			if (!strcmp(optarg, "virtio"))
				o->console = CONSOLE_VIRTIO;
			else if (!strcmp(optarg, "serial"))
				o->console = CONSOLE_SERIAL;
			else {
				snprintf(err, errlen, "--console: '%s' is not virtio or serial", optarg);
				return OPTIONS_ERROR;
			}
			break;
		case OPT_RNG: o->rng = true; break;
		case OPT_BALLOON: o->balloon = true; break;
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
