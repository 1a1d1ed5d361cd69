/* Helpers shared by the domain XML parser's files (not a public API). */
#ifndef VIREO_DAEMON_DOMAIN_XML_PRIV_H
#define VIREO_DAEMON_DOMAIN_XML_PRIV_H

#include <libxml/tree.h>

#include "daemon/domain_xml.h"
#include "daemon/xml_read.h"

#define NAME(n) ((const char *)(n)->name)

bool dx_str_in(const char *s, const char *const *set);
/* Attribute limited to set (NULL-terminated); def when absent. */
int dx_enum_attr(xmlNode *n, const char *name, const char *const *set,
		 const char *def, char **out, struct vir_error *err);

int domain_xml_parse_devices(struct domain_def *def, xmlNode *devs,
			     struct vir_error *err);

#endif
