#include "daemon/xml_read.h"

#include <libxml/parser.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "daemon/protocol.h"

static void swallow_xml_errors(void *ctx, const char *msg, ...)
{
}

xmlDocPtr xml_read_hostile(const char *xml, size_t len, size_t max_len,
			   const char *kind, xmlNode **root, struct vir_error *err)
{
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;
	char url[32];

	if (len > max_len || len > INT32_MAX) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "document too large");
		return NULL;
	}
	xmlSetGenericErrorFunc(NULL, swallow_xml_errors);
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "XML parser");
		return NULL;
	}
	snprintf(url, sizeof(url), "%s.xml", kind);
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, url, NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "malformed document\n");
		msg[strcspn(msg, "\n")] = 0;
		vir_error_set(err, VIR_ERR_XML_ERROR, "(%s_definition):%d: %s", kind,
			      e ? e->line : 0, msg);
		xmlFreeParserCtxt(ctxt);
		return NULL;
	}
	xmlFreeParserCtxt(ctxt);
	*root = xmlDocGetRootElement(doc);
	if (doc->intSubset || doc->extSubset) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "a DOCTYPE is not allowed in %s XML", kind);
	} else if (!*root || strcmp((const char *)(*root)->name, kind)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "unexpected root element <%s>, expecting <%s>",
			      *root ? (const char *)(*root)->name : "", kind);
	} else {
		return doc;
	}
	xmlFreeDoc(doc);
	return NULL;
}
