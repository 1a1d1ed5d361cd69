/* Helpers shared by the domain XML parser's files (not a public API). */
#ifndef VIREO_DAEMON_DOMAIN_XML_PRIV_H
#define VIREO_DAEMON_DOMAIN_XML_PRIV_H

#include <libxml/tree.h>

#include "daemon/domain_xml.h"

#define NAME(n) ((const char *)(n)->name)

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
bool dx_str_in(const char *s, const char *const *set);
/* Attribute limited to set (NULL-terminated); def when absent. */
int dx_enum_attr(xmlNode *n, const char *name, const char *const *set,
		 const char *def, char **out, struct vir_error *err);

int domain_xml_parse_devices(struct domain_def *def, xmlNode *devs,
			     struct vir_error *err);

#endif
