/* The network procedures (proc_network.c), one of dispatch.c's tables. */
#ifndef VIREO_DAEMON_PROC_NETWORK_H
#define VIREO_DAEMON_PROC_NETWORK_H

#include "daemon/dispatch.h"

extern const struct proc_entry proc_network_table[];

#endif
