/*
 * What a running VM is asked while it runs, beyond start and stop: reboot
 * and reset, the balloon target and memory figures. All of it goes through
 * the VM's QMP socket except the RSS, which /proc knows.
 */
#include "daemon/vm_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/protocol.h"
#include "daemon/qmp.h"
#include "lib/log.h"

/* Running, not paused: what a reset or a power-button press needs. */
static int require_running(struct domain *d, struct vir_error *err)
{
	if (!domain_active(d)) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "domain is not running");
		return -1;
	}
	if (d->state == VIR_DOMAIN_PAUSED) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "domain is paused; resume it first");
		return -1;
	}
	return 0;
}

static int qmp_run(struct daemon *dm, struct domain *d, const char *cmd,
		   json_t *args, json_t **ret, struct vir_error *err)
{
	char *qmp = vm_run_file(dm, d, "qmp");
	int r;

	if (!qmp) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "path");
		return -1;
	}
	r = qmp_call(qmp, cmd, args, ret, err);
	free(qmp);
	return r;
}

int vm_reset(struct daemon *dm, struct domain *d, struct vir_error *err)
{
	if (require_running(d, err) ||
	    qmp_run(dm, d, "system_reset", NULL, NULL, err))
		return -1;
	log_info("domain '%s' reset", d->def->name);
	return 0;
}

/*
 * A reboot through the guest: the power button, and when vireo exits
 * after the guest powered off, vm_reap() starts it again under the same
 * ID (libvirt's QEMU driver does the same with -no-shutdown and a reset).
 * A VM from an earlier vireod is not our child, so its exit status, which
 * tells a power-off from a crash, is not ours to see: the default mode
 * resets it instead, and an explicit ACPI reboot is refused.
 */
int vm_reboot(struct daemon *dm, struct domain *d, unsigned flags,
	      struct vir_error *err)
{
	if (require_running(d, err))
		return -1;
	/* The default is the guest's own reboot, as libvirt's QEMU driver. */
	if (!flags && d->reattached)
		return vm_reset(dm, d, err);
	if (d->reattached) {
		vir_error_set(err, VIR_ERR_OPERATION_UNSUPPORTED,
			      "an ACPI reboot of a VM started by an earlier vireod; use the default mode (reset)");
		return -1;
	}
	if (qmp_run(dm, d, "system_powerdown", NULL, NULL, err))
		return -1;
	d->reboot_pending = true;
	log_info("domain '%s': power button pressed for a reboot",
		 d->def->name);
	return 0;
}

bool vm_has_balloon(const struct domain *d)
{
	return d->def->memballoon && !strcmp(d->def->memballoon, "virtio");
}

int vm_set_balloon(struct daemon *dm, struct domain *d, uint64_t kib,
		   struct vir_error *err)
{
	json_t *args;
	int r;

	if (!domain_active(d)) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "domain is not running");
		return -1;
	}
	if (!vm_has_balloon(d)) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "Unable to change memory of active domain without the balloon device and guest OS balloon driver");
		return -1;
	}
	if (kib == 0 || kib > d->def->max_mem_kib) {
		vir_error_set(err, VIR_ERR_INVALID_ARG,
			      "memory %" PRIu64 " KiB is outside 1..%" PRIu64
			      " KiB (the maximum)", kib, d->def->max_mem_kib);
		return -1;
	}
	args = json_pack("{s:I}", "value", (json_int_t)(kib * 1024));
	if (!args) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "QMP arguments");
		return -1;
	}
	r = qmp_run(dm, d, "balloon", args, NULL, err);
	json_decref(args);
	if (r)
		return -1;
	d->balloon_kib = kib;
	log_info("domain '%s': balloon target %" PRIu64 " KiB", d->def->name,
		 kib);
	return 0;
}

uint64_t vm_current_memory(const struct domain *d)
{
	return domain_active(d) && d->balloon_kib ? d->balloon_kib :
	       d->def->cur_mem_kib;
}

/* VmRSS of the vireo process in KiB, 0 if unknown. */
static uint64_t process_rss_kib(pid_t pid)
{
	char path[64], line[256];
	uint64_t kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %" SCNu64, &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int vm_memory_stats(struct daemon *dm, struct domain *d,
		    uint64_t *actual_kib, uint64_t *rss_kib,
		    struct vir_error *err)
{
	json_t *ret = NULL, *actual;

	if (!domain_active(d)) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "domain is not running");
		return -1;
	}
	*actual_kib = vm_current_memory(d);
	*rss_kib = process_rss_kib(d->pid);
	if (!vm_has_balloon(d))
		return 0;
	/* What the guest gave back so far, not just the target. */
	if (qmp_run(dm, d, "query-balloon", NULL, &ret, err))
		return -1;
	actual = json_object_get(ret, "actual");
	if (json_is_integer(actual) && json_integer_value(actual) > 0)
		*actual_kib = (uint64_t)json_integer_value(actual) / 1024;
	json_decref(ret);
	return 0;
}
