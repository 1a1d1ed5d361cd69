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

#endif
