/*
 * Reading a definition that a client sent (domain or network XML): the
 * input is hostile, so no network access, no DTD (a DOCTYPE brings entities
 * whose expansion has no bound), parser messages go to the client instead
 * of stderr, and the size and the root element are checked.
 */
#ifndef VIREO_DAEMON_XML_READ_H
#define VIREO_DAEMON_XML_READ_H

#include <libxml/tree.h>
#include <stddef.h>

#include "daemon/virerr.h"

/*
 * Parse xml[0..len) as a <kind> document of at most max_len bytes. Returns
 * the document (free with xmlFreeDoc) and its root element in *root, or
 * NULL with err set (VIR_ERR_XML_ERROR naming the line, or NO_MEMORY).
 */
xmlDocPtr xml_read_hostile(const char *xml, size_t len, size_t max_len,
			   const char *kind, xmlNode **root, struct vir_error *err);

/* Reading elements of a parsed definition (domain and network XML alike). */
bool dx_is_elem(xmlNode *n);
/* Attribute value, malloc'd, or NULL when absent. */
char *dx_attr(xmlNode *n, const char *name);
/* Element text, trimmed, malloc'd. */
char *dx_text(xmlNode *n);
/* Refuse element n with CONFIG_UNSUPPORTED; returns -1. */
int dx_unsupported(struct vir_error *err, xmlNode *n);
/* -1 (CONFIG_UNSUPPORTED) if n has any child element. */
int dx_no_children(xmlNode *n, struct vir_error *err);
/* A singleton text element into *slot (error if seen twice). */
int dx_take_text(xmlNode *n, char **slot, struct vir_error *err);

#endif
