/*
 * An error as libvirt's clients expect it: a virErrorNumber, the part of
 * the stack that raised it (virErrorDomain) and a message that already
 * carries libvirt's standard prefix for that number ("Domain not found: ",
 * "unsupported configuration: ", ...), because the remote driver shows the
 * message exactly as sent: virsh prints "error: <message>".
 */
#ifndef VIREO_DAEMON_VIRERR_H
#define VIREO_DAEMON_VIRERR_H

#include <stdbool.h>

struct vir_error {
	int code;	/* 0: no error */
	int domain;
	char message[1024];
};

/* Record an error; the first one recorded wins (it is the root cause). */
void vir_error_set(struct vir_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vir_error_clear(struct vir_error *err);
static inline bool vir_error_isset(const struct vir_error *err)
{
	return err->code != 0;
}

#endif
