/* Shared between vm.c (start/stop) and vm_reattach.c (run state files). */
#ifndef VIREO_DAEMON_VM_INTERNAL_H
#define VIREO_DAEMON_VM_INTERNAL_H

#include <stdbool.h>

#include "daemon/vm.h"

/*
 * vm_start() flag for the restart of an ACPI reboot: d keeps its ID and
 * no lifecycle event is sent (libvirt sends none for a reboot either).
 */
#define VM_START_REBOOT		(1u << 31)

/* RUN_DIR/NAME.suffix, malloc'd (NULL when out of memory). */
char *vm_run_file(struct daemon *dm, const struct domain *d,
		  const char *suffix);
/* d's VM is gone: state, events, files; a transient d is freed. */
void vm_mark_stopped(struct daemon *dm, struct domain *d, int reason);
/* Write RUN_DIR/NAME.pid and NAME.xml after a start; 0 or -errno. */
int vm_save_run_state(struct daemon *dm, struct domain *d);
/* Remove NAME.pid, .xml, .qmp, .serial. */
void vm_remove_run_state(struct daemon *dm, struct domain *d);
/* Stop watching a reattached VM's pidfd. */
void vm_unwatch_pid(struct daemon *dm, struct domain *d);
/* Wait up to timeout_ms for a reattached (non-child) VM to exit. */
bool vm_wait_exit(struct domain *d, unsigned timeout_ms);

#endif
