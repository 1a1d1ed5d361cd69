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
/* Collect exited children (SIGCHLD) and mark their domains shut off. */
void vm_reap(struct daemon *dm);
/* At start-up: find the VMs a previous vireod left running. */
void vm_reattach_all(struct daemon *dm);
/* Start the persistent domains marked autostart. */
void vm_autostart(struct daemon *dm);
/* At daemon exit: stop every VM this daemon started. */
void vm_stop_all(struct daemon *dm);
/* CPU time the VM's process used, in nanoseconds (0 if unknown). */
uint64_t vm_cpu_time(const struct domain *d);

#endif
