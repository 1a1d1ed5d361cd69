/*
 * Domain XML parsing (libxml2). The walk is strict: each container lists
 * the child elements it knows, and anything else is refused with
 * VIR_ERR_CONFIG_UNSUPPORTED naming the element and its parent, so a user
 * learns at define time what vireo cannot do yet. Values are checked
 * (numbers, units, enumerations) with VIR_ERR_XML_ERROR.
 */
#include "daemon/domain_xml.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "daemon/domain_xml_priv.h"
#include "daemon/protocol.h"
#include "daemon/xml_read.h"
#include "lib/util.h"

bool dx_str_in(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

/* An optional attribute restricted to a set of values; default if absent. */
int dx_enum_attr(xmlNode *n, const char *name, const char *const *set,
		     const char *def, char **out, struct vir_error *err)
{
	char *v = dx_attr(n, name);

	if (!v) {
		*out = def ? strdup(def) : NULL;
		return 0;
	}
	if (!dx_str_in(v, set)) {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "%s='%s' of <%s> is not supported by vireo", name,
			      v, NAME(n));
		free(v);
		return -1;
	}
	*out = v;
	return 0;
}

/* libvirt's memory units, scaled to bytes. */
static int unit_scale(const char *unit, uint64_t *scale)
{
	static const struct { const char *name; uint64_t scale; } units[] = {
		{ "b", 1 }, { "bytes", 1 },
		{ "KB", 1000ULL }, { "k", KiB }, { "K", KiB }, { "KiB", KiB },
		{ "MB", 1000000ULL }, { "M", MiB }, { "MiB", MiB },
		{ "GB", 1000000000ULL }, { "G", GiB }, { "GiB", GiB },
		{ "TB", 1000000000000ULL }, { "T", 1024 * GiB },
		{ "TiB", 1024 * GiB },
	};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (!strcmp(unit, units[i].name)) {
			*scale = units[i].scale;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_memory(xmlNode *n, uint64_t *kib, struct vir_error *err)
{
	char *unit = dx_attr(n, "unit"), *val = dx_text(n);
	uint64_t scale = KiB, num, bytes;
	int ret = -1;

	if (dx_no_children(n, err))
		goto out;
	if (unit && unit_scale(unit, &scale)) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "unknown memory unit '%s'",
			      unit);
		goto out;
	}
	if (!val || parse_uint(val, 1, UINT64_MAX, &num) ||
	    __builtin_mul_overflow(num, scale, &bytes) ||
	    bytes > 16 * 1024 * GiB) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "invalid value '%s' in <%s>", val ? val : "",
			      NAME(n));
		goto out;
	}
	*kib = (bytes + KiB - 1) / KiB;
	ret = 0;
out:
	free(unit);
	free(val);
	return ret;
}

static int parse_action(xmlNode *n, int *out, struct vir_error *err)
{
	char *v;
	int ret = 0;

	if (dx_no_children(n, err))
		return -1;
	v = dx_text(n);
	if (v && !strcmp(v, "destroy"))
		*out = DOM_ACT_DESTROY;
	else if (v && !strcmp(v, "restart"))
		*out = DOM_ACT_RESTART;
	else if (v && !strcmp(v, "preserve"))
		*out = DOM_ACT_PRESERVE;
	else {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "<%s>%s</%s> is not supported by vireo", NAME(n),
			      v ? v : "", NAME(n));
		ret = -1;
	}
	free(v);
	return ret;
}

static int parse_os(struct domain_def *def, xmlNode *os, struct vir_error *err)
{
	bool have_type = false;

	for (xmlNode *c = os->children; c; c = c->next) {
		if (!dx_is_elem(c))
			continue;
		if (!strcmp(NAME(c), "type")) {
			char *t = dx_text(c), *arch = dx_attr(c, "arch");
			int bad = !t || strcmp(t, "hvm");

			if (bad)
				vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
					      "OS type '%s' is not supported; vireo runs 'hvm'",
					      t ? t : "");
			else if (arch && strcmp(arch, "x86_64")) {
				vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
					      "architecture '%s' is not supported; vireo runs 'x86_64'",
					      arch);
				bad = 1;
			}
			free(t);
			if (bad || have_type) {
				if (!bad)
					vir_error_set(err, VIR_ERR_XML_ERROR,
						      "element <type> appears twice");
				free(arch);
				return -1;
			}
			have_type = true;
			def->os_arch = arch;
			def->os_machine = dx_attr(c, "machine");
		} else if (!strcmp(NAME(c), "kernel")) {
			if (dx_take_text(c, &def->kernel, err))
				return -1;
		} else if (!strcmp(NAME(c), "initrd")) {
			if (dx_take_text(c, &def->initrd, err))
				return -1;
		} else if (!strcmp(NAME(c), "cmdline")) {
			if (dx_take_text(c, &def->cmdline, err))
				return -1;
		} else if (!strcmp(NAME(c), "boot")) {
			static const char *const devs[] = { "hd", "cdrom",
				"network", "fd", NULL };
			char *dev;

			if (def->nboot == DOMAIN_BOOT_MAX) {
				vir_error_set(err, VIR_ERR_XML_ERROR,
					      "too many <boot> elements");
				return -1;
			}
			if (dx_enum_attr(c, "dev", devs, "hd", &dev, err))
				return -1;
			def->boot[def->nboot++] = dev;
		} else {
			return dx_unsupported(err, c);
		}
	}
	if (!have_type) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "missing <os><type>hvm</type>");
		return -1;
	}
	return 0;
}

static int parse_features(struct domain_def *def, xmlNode *f,
			  struct vir_error *err)
{
	for (xmlNode *c = f->children; c; c = c->next) {
		if (!dx_is_elem(c))
			continue;
		if (dx_no_children(c, err))
			return -1;
		if (!strcmp(NAME(c), "acpi"))
			def->acpi = true;
		else if (!strcmp(NAME(c), "apic"))
			def->apic = true;
		else if (!strcmp(NAME(c), "pae"))
			def->pae = true;
		else
			return dx_unsupported(err, c);
	}
	return 0;
}

static int parse_root(struct domain_def *def, xmlNode *root,
		      struct vir_error *err)
{
	char *type = dx_attr(root, "type"), *uuid = NULL, *vcpu = NULL;
	bool have_mem = false, have_cur = false, have_os = false;
	int ret = -1;

	if (!type) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "missing domain type attribute");
		goto out;
	}
	if (!strcmp(type, "vireo"))
		def->virt = DOM_VIRT_VIREO;
	else if (!strcmp(type, "kvm"))
		def->virt = DOM_VIRT_KVM;
	else if (!strcmp(type, "qemu"))
		def->virt = DOM_VIRT_QEMU;
	else {
		vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
			      "domain type '%s' is not supported; use 'vireo', 'kvm' or 'qemu'",
			      type);
		goto out;
	}
	def->on_poweroff = DOM_ACT_DESTROY;
	def->on_reboot = DOM_ACT_RESTART;
	def->on_crash = DOM_ACT_DESTROY;

	for (xmlNode *c = root->children; c; c = c->next) {
		const char *n;
		int r = 0;

		if (!dx_is_elem(c))
			continue;
		n = NAME(c);
		if (!strcmp(n, "name"))
			r = dx_take_text(c, &def->name, err);
		else if (!strcmp(n, "uuid"))
			r = dx_take_text(c, &uuid, err);
		else if (!strcmp(n, "title"))
			r = dx_take_text(c, &def->title, err);
		else if (!strcmp(n, "description"))
			r = dx_take_text(c, &def->description, err);
		else if (!strcmp(n, "vcpu"))
			r = dx_take_text(c, &vcpu, err);
		else if (!strcmp(n, "memory") && !have_mem) {
			r = parse_memory(c, &def->max_mem_kib, err);
			have_mem = true;
		} else if (!strcmp(n, "currentMemory") && !have_cur) {
			r = parse_memory(c, &def->cur_mem_kib, err);
			have_cur = true;
		} else if (!strcmp(n, "os") && !have_os) {
			r = parse_os(def, c, err);
			have_os = true;
		} else if (!strcmp(n, "features"))
			r = parse_features(def, c, err);
		else if (!strcmp(n, "clock")) {
			static const char *const offs[] = { "utc", "localtime",
							    NULL };

			free(def->clock_offset);
			r = dx_no_children(c, err) ||
			    dx_enum_attr(c, "offset", offs, "utc",
				      &def->clock_offset, err);
		} else if (!strcmp(n, "on_poweroff"))
			r = parse_action(c, &def->on_poweroff, err);
		else if (!strcmp(n, "on_reboot"))
			r = parse_action(c, &def->on_reboot, err);
		else if (!strcmp(n, "on_crash"))
			r = parse_action(c, &def->on_crash, err);
		else if (!strcmp(n, "devices"))
			r = domain_xml_parse_devices(def, c, err);
		else if (!strcmp(n, "memory") || !strcmp(n, "currentMemory") ||
			 !strcmp(n, "os")) {
			vir_error_set(err, VIR_ERR_XML_ERROR,
				      "element <%s> appears twice", n);
			r = -1;
		} else
			r = dx_unsupported(err, c);
		if (r)
			goto out;
	}

	if (!def->name || !*def->name) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "missing domain name");
		goto out;
	}
	if (!domain_name_valid(def->name)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "invalid domain name '%s': use printable characters, no '/', no leading '.', at most %d bytes",
			      def->name, DOMAIN_NAME_MAX);
		goto out;
	}
	if (uuid) {
		if (uuid_parse(uuid, def->uuid)) {
			vir_error_set(err, VIR_ERR_XML_ERROR,
				      "malformed uuid element '%s'", uuid);
			goto out;
		}
	} else if (uuid_generate(def->uuid)) {
		vir_error_set(err, VIR_ERR_INTERNAL_ERROR,
			      "cannot generate a UUID");
		goto out;
	}
	if (!have_mem) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "missing <memory> element");
		goto out;
	}
	/* libvirt clamps the balloon target to the maximum, silently. */
	if (!have_cur || def->cur_mem_kib > def->max_mem_kib)
		def->cur_mem_kib = def->max_mem_kib;
	def->vcpus = 1;
	if (vcpu) {
		uint64_t v;

		if (parse_uint(vcpu, 1, DOMAIN_VCPUS_MAX, &v)) {
			vir_error_set(err, VIR_ERR_XML_ERROR,
				      "invalid vcpu count '%s' (1..%d)", vcpu,
				      DOMAIN_VCPUS_MAX);
			goto out;
		}
		def->vcpus = v;
	}
	if (!have_os) {
		vir_error_set(err, VIR_ERR_XML_ERROR, "missing <os> element");
		goto out;
	}
	ret = 0;
out:
	free(type);
	free(uuid);
	free(vcpu);
	return ret;
}

int domain_def_parse(const char *xml, size_t len, struct domain_def **out,
		     struct vir_error *err)
{
	xmlDocPtr doc;
	xmlNode *root;
	struct domain_def *def = NULL;
	int ret = -1;

	doc = xml_read_hostile(xml, len, INT32_MAX, "domain", &root, err);
	if (!doc)
		return -1;
	def = calloc(1, sizeof(*def));
	if (!def) {
		vir_error_set(err, VIR_ERR_NO_MEMORY, "domain definition");
		goto out;
	}
	if (parse_root(def, root, err))
		goto out;
	*out = def;
	def = NULL;
	ret = 0;
out:
	domain_def_free(def);
	xmlFreeDoc(doc);
	return ret;
}

void domain_def_free(struct domain_def *def)
{
	if (!def)
		return;
	free(def->name);
	free(def->title);
	free(def->description);
	free(def->os_arch);
	free(def->os_machine);
	free(def->kernel);
	free(def->initrd);
	free(def->cmdline);
	for (size_t i = 0; i < def->nboot; i++)
		free(def->boot[i]);
	free(def->clock_offset);
	free(def->emulator);
	for (size_t i = 0; i < def->ndisks; i++) {
		struct dom_disk *d = &def->disks[i];

		free(d->type);
		free(d->device);
		free(d->format);
		free(d->source);
		free(d->target);
		free(d->bus);
		free(d->serial);
		free(d->cache);
	}
	for (size_t i = 0; i < def->nifaces; i++) {
		free(def->ifaces[i].type);
		free(def->ifaces[i].mac);
		free(def->ifaces[i].source);
		free(def->ifaces[i].model);
	}
	for (size_t i = 0; i < def->nchardevs; i++)
		free(def->chardevs[i].target_type);
	for (size_t i = 0; i < def->nrngs; i++) {
		free(def->rngs[i].model);
		free(def->rngs[i].backend);
	}
	free(def->memballoon);
	free(def);
}

bool domain_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > DOMAIN_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = name[i];

		if (ch == '/' || ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

void uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
}

int uuid_parse(const char *s, uint8_t uuid[16])
{
	size_t nib = 0;

	for (; *s; s++) {
		int v;

		if (*s == '-')
			continue;
		v = hex_value(*s);
		if (v < 0 || nib >= 32)
			return -EINVAL;
		if (nib % 2 == 0)
			uuid[nib / 2] = v << 4;
		else
			uuid[nib / 2] |= v;
		nib++;
	}
	return nib == 32 ? 0 : -EINVAL;
}

int uuid_generate(uint8_t uuid[16])
{
	if (getrandom(uuid, 16, 0) != 16)
		return -EIO;
	uuid[6] = (uuid[6] & 0x0f) | 0x40;
	uuid[8] = (uuid[8] & 0x3f) | 0x80;
	return 0;
}
