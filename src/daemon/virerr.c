/* libvirt-style error messages (see virerr.h). */
#include "daemon/virerr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon/protocol.h"

/* The prefixes libvirt's virErrorMsg() puts before the detail text. */
static const char *prefix_for(int code)
{
	switch (code) {
	case VIR_ERR_INTERNAL_ERROR:	return "internal error: ";
	case VIR_ERR_NO_MEMORY:		return "out of memory: ";
	case VIR_ERR_NO_SUPPORT:
		return "this function is not supported by the connection driver: ";
	case VIR_ERR_INVALID_ARG:	return "invalid argument: ";
	case VIR_ERR_OPERATION_FAILED:	return "operation failed: ";
	case VIR_ERR_XML_ERROR:		return "XML error: ";
	case VIR_ERR_RPC:		return "RPC error: ";
	case VIR_ERR_NO_DOMAIN:		return "Domain not found: ";
	case VIR_ERR_OPERATION_INVALID:	return "Requested operation is not valid: ";
	case VIR_ERR_CONFIG_UNSUPPORTED: return "unsupported configuration: ";
	case VIR_ERR_OPERATION_TIMEOUT:	return "Timed out during operation: ";
	case VIR_ERR_OPERATION_UNSUPPORTED: return "Operation not supported: ";
	default:			return "";
	}
}

static int domain_for(int code)
{
	switch (code) {
	case VIR_ERR_XML_ERROR:
	case VIR_ERR_CONFIG_UNSUPPORTED:
		return VIR_FROM_DOMAIN;
	case VIR_ERR_RPC:
	case VIR_ERR_NO_SUPPORT:
		return VIR_FROM_RPC;
	default:
		return VIR_FROM_DOM;
	}
}

void vir_error_set(struct vir_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || err->code)
		return;
	err->code = code;
	err->domain = domain_for(code);
	n = snprintf(err->message, sizeof(err->message), "%s", prefix_for(code));
	if (n < 0 || (size_t)n >= sizeof(err->message))
		return;
	va_start(ap, fmt);
	vsnprintf(err->message + n, sizeof(err->message) - n, fmt, ap);
	va_end(ap);
}

void vir_error_clear(struct vir_error *err)
{
	memset(err, 0, sizeof(*err));
}
