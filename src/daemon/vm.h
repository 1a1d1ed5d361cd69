/*
 * Running domains: each is a `vireo` child process with a QMP control
 * socket at <run dir>/<name>.qmp. Start and destroy manage the process;
 * shutdown, suspend and resume go through QMP.
 */
#ifndef VIREO_DAEMON_VM_H
#define VIREO_DAEMON_VM_H

#include "daemon/daemon.h"
#include "daemon/virerr.h"

/* Start d's vireo; 0, or -1 with err set. flags: virDomainCreateFlags. */
int vm_start(struct daemon *dm, struct domain *d, unsigned flags,
	     struct vir_error *err);
/*
 * Stop d's vireo: SIGTERM, then SIGKILL after a grace period. A transient
 * domain is freed by this: do not use d after a 0 return.
 */
int vm_destroy(struct daemon *dm, struct domain *d, struct vir_error *err);
/* Ask the guest to power off (QMP system_powerdown). */
int vm_shutdown(struct daemon *dm, struct domain *d, struct vir_error *err);
int vm_suspend(struct daemon *dm, struct domain *d, struct vir_error *err);
int vm_resume(struct daemon *dm, struct domain *d, struct vir_error *err);
/* vm_live.c: QMP system_reset (the guest starts over at once). */
int vm_reset(struct daemon *dm, struct domain *d, struct vir_error *err);
/*
 * The ACPI power button, and vireo is started again under the same ID once
 * the guest powered off (flags 0 or VIR_DOMAIN_REBOOT_ACPI_POWER_BTN). A
 * VM reattached after a daemon restart is reset instead (flags 0).
 */
int vm_reboot(struct daemon *dm, struct domain *d, unsigned flags,
	      struct vir_error *err);
/* The domain has a virtio balloon. */
bool vm_has_balloon(const struct domain *d);
/* Ask the guest for kib of memory (QMP balloon); 1..max_mem_kib. */
int vm_set_balloon(struct daemon *dm, struct domain *d, uint64_t kib,
		   struct vir_error *err);
/* The balloon target while running, else the configured current memory. */
uint64_t vm_current_memory(const struct domain *d);
/* What the balloon has actually reached, and the process's RSS. */
int vm_memory_stats(struct daemon *dm, struct domain *d,
		    uint64_t *actual_kib, uint64_t *rss_kib,
		    struct vir_error *err);
/* Collect exited children (SIGCHLD) and mark their domains shut off. */
void vm_reap(struct daemon *dm);
/* At start-up: find the VMs a previous vireod left running. */
void vm_reattach_all(struct daemon *dm);
/* Start the persistent domains marked autostart. */
void vm_autostart(struct daemon *dm);
/* At daemon exit: stop every VM this daemon started. */
void vm_stop_all(struct daemon *dm);
/* CPU time the VM's process used, in nanoseconds (0 if unknown). */
uint64_t vm_cpu_time(struct domain *d);
/* Close the /proc file vm_cpu_time() keeps open. */
void vm_close_stat(struct domain *d);

#endif
