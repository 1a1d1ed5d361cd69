/*
 * Domain procedures about a VM while it runs: reboot and reset
 * (`virsh reboot`, `virsh reset`), vCPU information (`virsh vcpuinfo`),
 * memory (`virsh setmem`, `setmaxmem`, `dommemstat`) and the messages
 * `virsh dominfo` asks for. vm_live.c talks to the VM.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/dispatch.h"
#include "daemon/domain_xml.h"
#include "daemon/protocol.h"
#include "daemon/vm.h"
#include "lib/log.h"
#include "lib/util.h"

static int proc_reboot(struct call *call)
{
	struct domain *d;
	uint32_t flags;

	/* Guest agent, initctl, signal and paravirt reboots do not exist here. */
	if (call_get_domain_flags(call, &d, VIR_DOMAIN_REBOOT_ACPI_POWER_BTN,
				  &flags))
		return -1;
	return vm_reboot(call->d, d, flags, &call->err);
}

static int proc_reset(struct call *call)
{
	struct domain *d;
	uint32_t flags;

	if (call_get_domain_flags(call, &d, 0, &flags))
		return -1;
	return vm_reset(call->d, d, &call->err);
}

static int host_cpus_configured(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	return n > 0 ? (int)n : 1;
}

/*
 * The CPU the VM's process last ran on (field 39 of /proc/PID/stat), -1
 * if unknown: vireo does not name its vCPU threads, so every vCPU gets
 * the process's figure.
 */
static int process_last_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	int cpu = -1;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* After "(comm)": state is field 3, processor field 39. */
	p++;	/* the space before field 3 */
	for (int field = 3; p && field < 39; field++)
		p = strchr(p + 1, ' ');
	if (p && sscanf(p, " %d", &cpu) != 1)
		cpu = -1;
	return cpu;
}

static int put_cpumaps(struct call *call, uint32_t n, int32_t maplen);
static int check_maps(struct call *call, int32_t nmaps, int32_t maplen);

static int proc_get_vcpus(struct call *call)
{
	struct domain *d;
	int32_t maxinfo, maplen;
	uint32_t n;
	int cpu;

	if (call_get_domain(call, &d))
		return -1;
	if (xdr_get_i32(call->args, &maxinfo) ||
	    xdr_get_i32(call->args, &maplen) || call_args_end(call))
		return call_bad_args(call);
	if (check_maps(call, maxinfo, maplen))
		return -1;
	if (!domain_active(d)) {
		vir_error_set(&call->err, VIR_ERR_OPERATION_INVALID,
			      "cannot retrieve vcpu information for inactive domain");
		return -1;
	}
	n = MIN((uint32_t)maxinfo, d->def->vcpus);
	cpu = process_last_cpu(d->pid);
	xdr_put_u32(call->ret, n);
	for (uint32_t i = 0; i < n; i++) {
		xdr_put_u32(call->ret, i);		/* number */
		xdr_put_i32(call->ret, VIR_VCPU_RUNNING);
		xdr_put_u64(call->ret, 0);		/* cpu_time: unknown */
		xdr_put_i32(call->ret, cpu);
	}
	return put_cpumaps(call, n, maplen);
}

/* Bitmaps of n vCPUs, maplen bytes each: every host CPU (no pinning). */
static int put_cpumaps(struct call *call, uint32_t n, int32_t maplen)
{
	uint32_t host_cpus = host_cpus_configured();
	uint8_t *map = calloc(1, (size_t)n * maplen + 1);

	if (!map) {
		vir_error_set(&call->err, VIR_ERR_NO_MEMORY, "cpumaps");
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t c = 0; c < host_cpus && c / 8 < (uint32_t)maplen;
		     c++)
			map[i * maplen + c / 8] |= 1u << (c % 8);
	xdr_put_opaque(call->ret, map, (size_t)n * maplen);
	free(map);
	return 0;
}

/* How many vCPU maps of maplen bytes a client may ask for (libvirtd's checks). */
static int check_maps(struct call *call, int32_t nmaps, int32_t maplen)
{
	if (nmaps < 0 || nmaps > REMOTE_VCPUINFO_MAX) {
		vir_error_set(&call->err, VIR_ERR_RPC,
			      "maxinfo > REMOTE_VCPUINFO_MAX");
		return -1;
	}
	if (maplen < 0 || (int64_t)nmaps * maplen > REMOTE_CPUMAPS_MAX) {
		vir_error_set(&call->err, VIR_ERR_RPC,
			      "maxinfo * maplen > REMOTE_CPUMAPS_MAX");
		return -1;
	}
	return 0;
}

/* `virsh vcpuinfo` of a shut-off domain: the configured affinity. */
static int proc_get_vcpu_pin_info(struct call *call)
{
	struct domain *d;
	int32_t nmaps, maplen;
	uint32_t flags, n;

	if (call_get_domain(call, &d))
		return -1;
	if (xdr_get_i32(call->args, &nmaps) ||
	    xdr_get_i32(call->args, &maplen) ||
	    xdr_get_u32(call->args, &flags) || call_args_end(call))
		return call_bad_args(call);
	if (check_maps(call, nmaps, maplen))
		return -1;
	if (flags & ~(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG)) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		return -1;
	}
	n = MIN((uint32_t)nmaps, d->def->vcpus);
	if (put_cpumaps(call, n, maplen))
		return -1;
	xdr_put_i32(call->ret, (int32_t)n);
	return 0;
}

static int proc_memory_stats(struct call *call)
{
	struct domain *d;
	uint32_t max, flags;
	uint64_t actual, rss;
	struct { int tag; uint64_t val; } stats[2];
	uint32_t n = 0;

	if (call_get_domain(call, &d))
		return -1;
	if (xdr_get_u32(call->args, &max) || xdr_get_u32(call->args, &flags) ||
	    call_args_end(call))
		return call_bad_args(call);
	if (max > REMOTE_DOMAIN_MEMORY_STATS_MAX) {
		vir_error_set(&call->err, VIR_ERR_RPC,
			      "maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX");
		return -1;
	}
	if (flags) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		return -1;
	}
	if (vm_memory_stats(call->d, d, &actual, &rss, &call->err))
		return -1;
	stats[n].tag = VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON;
	stats[n++].val = actual;
	if (rss) {
		stats[n].tag = VIR_DOMAIN_MEMORY_STAT_RSS;
		stats[n++].val = rss;
	}
	n = MIN(n, max);
	xdr_put_u32(call->ret, n);
	for (uint32_t i = 0; i < n; i++) {
		xdr_put_i32(call->ret, stats[i].tag);
		xdr_put_u64(call->ret, stats[i].val);
	}
	return 0;
}

/*
 * The persistent config with new memory sizes, redefined like a
 * `virsh define` of the changed XML (a running domain gets it as the
 * config for its next start). Copying through the XML keeps one parser
 * as the judge of what is valid.
 */
static int set_config_memory(struct call *call, struct domain *d,
			     uint64_t kib, bool maximum)
{
	const struct domain_def *cur = d->newdef ? d->newdef : d->def;
	char *xml = domain_def_format(cur, NULL);
	struct domain_def *def;
	struct domain *out;

	if (!xml) {
		vir_error_set(&call->err, VIR_ERR_NO_MEMORY, "domain XML");
		return -1;
	}
	if (domain_def_parse(xml, strlen(xml), &def, &call->err)) {
		free(xml);
		return -1;
	}
	free(xml);
	if (maximum) {
		def->max_mem_kib = kib;
		def->cur_mem_kib = MIN(def->cur_mem_kib, kib);
	} else if (kib > def->max_mem_kib) {
		domain_def_free(def);
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "cannot set memory higher than max memory");
		return -1;
	} else {
		def->cur_mem_kib = kib;
	}
	return store_define(&call->d->store, def, &out, &call->err);
}

static int set_memory(struct call *call, struct domain *d, uint64_t kib,
		      uint32_t flags)
{
	bool maximum = flags & VIR_DOMAIN_MEM_MAXIMUM;

	if (!(flags & (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG)))
		flags |= domain_active(d) ? VIR_DOMAIN_AFFECT_LIVE :
			 VIR_DOMAIN_AFFECT_CONFIG;
	if (kib == 0) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "memory size must be greater than zero");
		return -1;
	}
	if ((flags & VIR_DOMAIN_AFFECT_LIVE) && !domain_active(d)) {
		vir_error_set(&call->err, VIR_ERR_OPERATION_INVALID,
			      "domain is not running");
		return -1;
	}
	if ((flags & VIR_DOMAIN_AFFECT_CONFIG) && !d->persistent) {
		vir_error_set(&call->err, VIR_ERR_OPERATION_INVALID,
			      "cannot change persistent config of a transient domain");
		return -1;
	}
	if (maximum && (flags & VIR_DOMAIN_AFFECT_LIVE)) {
		vir_error_set(&call->err, VIR_ERR_OPERATION_INVALID,
			      "cannot resize the maximum memory on an active domain");
		return -1;
	}
	if ((flags & VIR_DOMAIN_AFFECT_LIVE) &&
	    vm_set_balloon(call->d, d, kib, &call->err))
		return -1;
	if ((flags & VIR_DOMAIN_AFFECT_CONFIG) &&
	    set_config_memory(call, d, kib, maximum))
		return -1;
	return 0;
}

/* {dom; unsigned hyper memory;} plus flags when with_flags. */
static int memory_args(struct call *call, bool with_flags, struct domain **d,
		       uint64_t *kib, uint32_t *flags)
{
	*flags = 0;
	if (call_get_domain(call, d))
		return -1;
	if (xdr_get_u64(call->args, kib) ||
	    (with_flags && xdr_get_u32(call->args, flags)) ||
	    call_args_end(call))
		return call_bad_args(call);
	if (*flags & ~(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
		       VIR_DOMAIN_MEM_MAXIMUM)) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", *flags);
		return -1;
	}
	return 0;
}

static int proc_set_memory_flags(struct call *call)
{
	struct domain *d;
	uint64_t kib;
	uint32_t flags;

	return memory_args(call, true, &d, &kib, &flags) ? -1 :
	       set_memory(call, d, kib, flags);
}

/* virDomainSetMemory: the live balloon (libvirt's AFFECT_LIVE). */
static int proc_set_memory(struct call *call)
{
	struct domain *d;
	uint64_t kib;
	uint32_t flags;

	return memory_args(call, false, &d, &kib, &flags) ? -1 :
	       set_memory(call, d, kib, VIR_DOMAIN_AFFECT_LIVE);
}

/* virDomainSetMaxMemory: the current (for vireo: the config) maximum. */
static int proc_set_max_memory(struct call *call)
{
	struct domain *d;
	uint64_t kib;
	uint32_t flags;

	return memory_args(call, false, &d, &kib, &flags) ? -1 :
	       set_memory(call, d, kib, VIR_DOMAIN_MEM_MAXIMUM);
}

/* Tainting and deprecation messages: vireo has none to give. */
static int proc_get_messages(struct call *call)
{
	struct domain *d;
	uint32_t flags;

	if (call_get_domain_flags(call, &d, 0x3, &flags))
		return -1;
	xdr_put_u32(call->ret, 0);
	return 0;
}

const struct proc_entry proc_domain_live_table[] = {
	{ REMOTE_PROC_DOMAIN_GET_VCPUS, "DOMAIN_GET_VCPUS", proc_get_vcpus },
	{ REMOTE_PROC_DOMAIN_REBOOT, "DOMAIN_REBOOT", proc_reboot },
	{ REMOTE_PROC_DOMAIN_SET_MAX_MEMORY, "DOMAIN_SET_MAX_MEMORY",
	  proc_set_max_memory },
	{ REMOTE_PROC_DOMAIN_SET_MEMORY, "DOMAIN_SET_MEMORY", proc_set_memory },
	{ REMOTE_PROC_DOMAIN_MEMORY_STATS, "DOMAIN_MEMORY_STATS",
	  proc_memory_stats },
	{ REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS, "DOMAIN_SET_MEMORY_FLAGS",
	  proc_set_memory_flags },
	{ REMOTE_PROC_DOMAIN_GET_VCPU_PIN_INFO, "DOMAIN_GET_VCPU_PIN_INFO",
	  proc_get_vcpu_pin_info },
	{ REMOTE_PROC_DOMAIN_RESET, "DOMAIN_RESET", proc_reset },
	{ REMOTE_PROC_DOMAIN_GET_MESSAGES, "DOMAIN_GET_MESSAGES",
	  proc_get_messages },
	{ 0, NULL, NULL },
};
