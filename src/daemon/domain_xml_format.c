/*
 * Domain XML output, in libvirt's layout (two-space indent, single quotes,
 * memory in KiB), through libxml2's writer so every value is escaped.
 * Parsing the output gives back the same definition: dumpxml round-trips.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "daemon/domain_xml.h"

#define X(s) ((const xmlChar *)(s))

static const char *const virt_names[] = { "vireo", "kvm", "qemu" };
static const char *const action_names[] = { "destroy", "restart",
					    "preserve" };

static void start(xmlTextWriterPtr w, const char *name)
{
	xmlTextWriterStartElement(w, X(name));
}

static void end(xmlTextWriterPtr w)
{
	xmlTextWriterEndElement(w);
}

static void attr(xmlTextWriterPtr w, const char *name, const char *value)
{
	if (value)
		xmlTextWriterWriteAttribute(w, X(name), X(value));
}

static void elem_text(xmlTextWriterPtr w, const char *name, const char *value)
{
	if (value)
		xmlTextWriterWriteElement(w, X(name), X(value));
}

static void empty(xmlTextWriterPtr w, const char *name)
{
	start(w, name);
	end(w);
}

static void memory(xmlTextWriterPtr w, const char *name, uint64_t kib)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, kib);
	start(w, name);
	attr(w, "unit", "KiB");
	xmlTextWriterWriteString(w, X(buf));
	end(w);
}

static void format_os(xmlTextWriterPtr w, const struct domain_def *def)
{
	start(w, "os");
	start(w, "type");
	attr(w, "arch", def->os_arch ? def->os_arch : "x86_64");
	attr(w, "machine", def->os_machine);
	xmlTextWriterWriteString(w, X("hvm"));
	end(w);
	elem_text(w, "kernel", def->kernel);
	elem_text(w, "initrd", def->initrd);
	elem_text(w, "cmdline", def->cmdline);
	for (size_t i = 0; i < def->nboot; i++) {
		start(w, "boot");
		attr(w, "dev", def->boot[i]);
		end(w);
	}
	end(w);
	if (def->acpi || def->apic || def->pae) {
		start(w, "features");
		if (def->acpi)
			empty(w, "acpi");
		if (def->apic)
			empty(w, "apic");
		if (def->pae)
			empty(w, "pae");
		end(w);
	}
	start(w, "clock");
	attr(w, "offset", def->clock_offset ? def->clock_offset : "utc");
	end(w);
	elem_text(w, "on_poweroff", action_names[def->on_poweroff]);
	elem_text(w, "on_reboot", action_names[def->on_reboot]);
	elem_text(w, "on_crash", action_names[def->on_crash]);
}

static void format_disk(xmlTextWriterPtr w, const struct dom_disk *d)
{
	start(w, "disk");
	attr(w, "type", d->type);
	attr(w, "device", d->device);
	if (d->format || d->cache) {
		start(w, "driver");
		attr(w, "name", "vireo");
		attr(w, "type", d->format);
		attr(w, "cache", d->cache);
		end(w);
	}
	if (d->source) {
		start(w, "source");
		attr(w, !strcmp(d->type, "block") ? "dev" : "file", d->source);
		end(w);
	}
	start(w, "target");
	attr(w, "dev", d->target);
	attr(w, "bus", d->bus);
	end(w);
	if (d->readonly)
		empty(w, "readonly");
	elem_text(w, "serial", d->serial);
	end(w);
}

static void format_iface(xmlTextWriterPtr w, const struct dom_iface *f)
{
	start(w, "interface");
	attr(w, "type", f->type);
	start(w, "mac");
	attr(w, "address", f->mac);
	end(w);
	if (f->source) {
		start(w, "source");
		attr(w, !strcmp(f->type, "bridge") ? "bridge" : "network",
		     f->source);
		end(w);
	}
	start(w, "model");
	attr(w, "type", f->model);
	end(w);
	end(w);
}

static void format_chardev(xmlTextWriterPtr w, const struct dom_chardev *ch,
			   const struct domain_live *live)
{
	char port[4];

	snprintf(port, sizeof(port), "%d", ch->port);
	start(w, ch->console ? "console" : "serial");
	attr(w, "type", "pty");
	if (live && live->pty && ch->port == 0) {
		start(w, "source");
		attr(w, "path", live->pty);
		end(w);
	}
	start(w, "target");
	attr(w, "type", ch->console ? ch->target_type : NULL);
	attr(w, "port", port);
	end(w);
	end(w);
}

static void format_devices(xmlTextWriterPtr w, const struct domain_def *def,
			   const struct domain_live *live)
{
	start(w, "devices");
	elem_text(w, "emulator", def->emulator);
	for (size_t i = 0; i < def->ndisks; i++)
		format_disk(w, &def->disks[i]);
	for (size_t i = 0; i < def->nifaces; i++)
		format_iface(w, &def->ifaces[i]);
	for (size_t i = 0; i < def->nchardevs; i++)
		format_chardev(w, &def->chardevs[i], live);
	for (size_t i = 0; i < def->nrngs; i++) {
		start(w, "rng");
		attr(w, "model", def->rngs[i].model);
		start(w, "backend");
		attr(w, "model", "random");
		xmlTextWriterWriteString(w, X(def->rngs[i].backend));
		end(w);
		end(w);
	}
	if (def->memballoon) {
		start(w, "memballoon");
		attr(w, "model", def->memballoon);
		end(w);
	}
	end(w);
}

char *domain_def_format(const struct domain_def *def,
			const struct domain_live *live)
{
	xmlBufferPtr buf = xmlBufferCreate();
	xmlTextWriterPtr w;
	char uuid[37], num[16], *out = NULL;

	if (!buf)
		return NULL;
	w = xmlNewTextWriterMemory(buf, 0);
	if (!w) {
		xmlBufferFree(buf);
		return NULL;
	}
	xmlTextWriterSetIndent(w, 1);
	xmlTextWriterSetIndentString(w, X("  "));
	xmlTextWriterSetQuoteChar(w, '\'');

	start(w, "domain");
	attr(w, "type", virt_names[def->virt]);
	if (live && live->id > 0) {
		snprintf(num, sizeof(num), "%d", live->id);
		attr(w, "id", num);
	}
	elem_text(w, "name", def->name);
	uuid_format(def->uuid, uuid);
	elem_text(w, "uuid", uuid);
	elem_text(w, "title", def->title);
	elem_text(w, "description", def->description);
	memory(w, "memory", def->max_mem_kib);
	memory(w, "currentMemory", live && live->cur_mem_kib ?
	       live->cur_mem_kib : def->cur_mem_kib);
	snprintf(num, sizeof(num), "%u", def->vcpus);
	start(w, "vcpu");
	attr(w, "placement", "static");
	xmlTextWriterWriteString(w, X(num));
	end(w);
	format_os(w, def);
	format_devices(w, def, live);
	end(w);
	if (xmlTextWriterEndDocument(w) >= 0)
		out = strdup((const char *)xmlBufferContent(buf));
	xmlFreeTextWriter(w);
	xmlBufferFree(buf);
	return out;
}
