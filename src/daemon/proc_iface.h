/* The host interface procedures (proc_iface.c), one of dispatch.c's tables. */
#ifndef VIREO_DAEMON_PROC_IFACE_H
#define VIREO_DAEMON_PROC_IFACE_H

#include "daemon/dispatch.h"

extern const struct proc_entry proc_iface_table[];

#endif
