#include "daemon/xml_read.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- reading elements of a parsed definition ---- */

bool dx_is_elem(xmlNode *n)
{
	return n->type == XML_ELEMENT_NODE;
}

/* Attribute value as a malloc'd string, or NULL when absent. */
char *dx_attr(xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	char *s;

	if (!v)
		return NULL;
	s = strdup((const char *)v);
	xmlFree(v);
	return s;
}

/* Element text with surrounding whitespace removed, malloc'd. */
char *dx_text(xmlNode *n)
{
	xmlChar *v = xmlNodeGetContent(n);
	const char *b, *e;
	char *s;

	if (!v)
		return strdup("");
	b = (const char *)v;
	while (*b && isspace((unsigned char)*b))
		b++;
	e = b + strlen(b);
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	s = strndup(b, e - b);
	xmlFree(v);
	return s;
}

int dx_unsupported(struct vir_error *err, xmlNode *n)
{
	vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
		      "element <%s> in <%s> is not supported by vireo", (const char *)n->name,
		      n->parent ? (const char *)n->parent->name : "?");
	return -1;
}

/* Containers that hold only elements: any child element is refused. */
int dx_no_children(xmlNode *n, struct vir_error *err)
{
	for (xmlNode *c = n->children; c; c = c->next)
		if (dx_is_elem(c))
			return dx_unsupported(err, c);
	return 0;
}

/* Store a singleton string element; a second copy is an error. */
int dx_take_text(xmlNode *n, char **slot, struct vir_error *err)
{
	if (*slot) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "element <%s> appears twice",
			      (const char *)n->name);
		return -1;
	}
	if (dx_no_children(n, err))
		return -1;
	*slot = dx_text(n);
	return *slot ? 0 : -1;
}
