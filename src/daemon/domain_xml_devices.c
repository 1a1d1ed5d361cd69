/*
 * The <devices> part of the domain XML: emulator, disk, interface,
 * serial/console (pty), rng and memballoon. Each device kind lists the
 * child elements it understands; the rest is refused by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "daemon/domain_xml_priv.h"
#include "daemon/protocol.h"

static int too_many(struct vir_error *err, xmlNode *n)
{
	vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
		      "too many <%s> devices (at most %d)", NAME(n),
		      DOMAIN_DEVICES_MAX);
	return -1;
}

static int parse_disk(struct dom_disk *d, xmlNode *n, struct vir_error *err)
{
	static const char *const types[] = { "file", "block", NULL };
	static const char *const devices[] = { "disk", "cdrom", NULL };
	static const char *const formats[] = { "raw", "qcow2", NULL };
	static const char *const buses[] = { "virtio", NULL };
	static const char *const caches[] = { "none", "writeback", NULL };

	if (dx_enum_attr(n, "type", types, "file", &d->type, err) ||
	    dx_enum_attr(n, "device", devices, "disk", &d->device, err))
		return -1;
	for (xmlNode *c = n->children; c; c = c->next) {
		if (!dx_is_elem(c))
			continue;
		if (dx_no_children(c, err))
			return -1;
		if (!strcmp(NAME(c), "driver")) {
			free(d->format);
			d->format = NULL;
			free(d->cache);
			d->cache = NULL;
			if (dx_enum_attr(c, "type", formats, NULL, &d->format,
					 err) ||
			    dx_enum_attr(c, "cache", caches, NULL, &d->cache,
					 err))
				return -1;
		} else if (!strcmp(NAME(c), "source")) {
			free(d->source);
			d->source = dx_attr(c, !strcmp(d->type, "block") ?
					    "dev" : "file");
		} else if (!strcmp(NAME(c), "target")) {
			free(d->target);
			free(d->bus);
			d->bus = NULL;
			d->target = dx_attr(c, "dev");
			if (dx_enum_attr(c, "bus", buses, "virtio", &d->bus,
					 err))
				return -1;
		} else if (!strcmp(NAME(c), "readonly")) {
			d->readonly = true;
		} else if (!strcmp(NAME(c), "serial")) {
			if (dx_take_text(c, &d->serial, err))
				return -1;
		} else {
			return dx_unsupported(err, c);
		}
	}
	if (!d->target || !*d->target) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "missing <target dev=...> in <disk>");
		return -1;
	}
	if (!d->bus)
		d->bus = strdup("virtio");
	if (!d->source && strcmp(d->device, "cdrom")) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "disk '%s' has no <source>", d->target);
		return -1;
	}
	return 0;
}

static bool mac_valid(const char *s)
{
	unsigned b[6];
	char tail;

	return sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
		      &b[3], &b[4], &b[5], &tail) == 6 && strlen(s) == 17 &&
	       !(b[0] & 1);
}

static char *random_mac(void)
{
	uint8_t r[3] = { 0 };
	char *s = malloc(18);

	if (!s)
		return NULL;
	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		free(s);
		return NULL;
	}
	/* The prefix QEMU/libvirt use for generated addresses. */
	snprintf(s, 18, "52:54:00:%02x:%02x:%02x", r[0], r[1], r[2]);
	return s;
}

static int parse_iface(struct dom_iface *f, xmlNode *n, struct vir_error *err)
{
	static const char *const types[] = { "network", "bridge", "user",
					     NULL };
	static const char *const models[] = { "virtio", NULL };

	if (dx_enum_attr(n, "type", types, NULL, &f->type, err))
		return -1;
	if (!f->type) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "missing type attribute of <interface>");
		return -1;
	}
	for (xmlNode *c = n->children; c; c = c->next) {
		if (!dx_is_elem(c))
			continue;
		if (dx_no_children(c, err))
			return -1;
		if (!strcmp(NAME(c), "mac")) {
			free(f->mac);
			f->mac = dx_attr(c, "address");
			if (!f->mac || !mac_valid(f->mac)) {
				vir_error_set(err, VIR_ERR_XML_ERROR,
					      "invalid MAC address '%s'",
					      f->mac ? f->mac : "");
				return -1;
			}
		} else if (!strcmp(NAME(c), "source")) {
			free(f->source);
			f->source = dx_attr(c, !strcmp(f->type, "bridge") ?
					    "bridge" : "network");
		} else if (!strcmp(NAME(c), "model")) {
			free(f->model);
			f->model = NULL;
			if (dx_enum_attr(c, "type", models, NULL, &f->model,
					 err))
				return -1;
		} else {
			return dx_unsupported(err, c);
		}
	}
	if (strcmp(f->type, "user") && (!f->source || !*f->source)) {
		vir_error_set(err, VIR_ERR_XML_ERROR,
			      "<interface type='%s'> needs a <source>",
			      f->type);
		return -1;
	}
	if (!f->model)
		f->model = strdup("virtio");
	if (!f->mac)
		f->mac = random_mac();
	return f->mac ? 0 : -1;
}

/* <serial type='pty'> and <console type='pty'>: the only backend so far. */
static int parse_chardev(struct dom_chardev *ch, xmlNode *n,
			 struct vir_error *err)
{
	static const char *const types[] = { "pty", NULL };
	static const char *const ttypes[] = { "serial", "virtio", NULL };
	char *type;

	ch->console = !strcmp(NAME(n), "console");
	if (dx_enum_attr(n, "type", types, "pty", &type, err))
		return -1;
	free(type);
	for (xmlNode *c = n->children; c; c = c->next) {
		if (!dx_is_elem(c))
			continue;
		if (dx_no_children(c, err))
			return -1;
		if (!strcmp(NAME(c), "target")) {
			char *port = dx_attr(c, "port");

			ch->port = 0;
			if (port && (strlen(port) != 1 || port[0] < '0' ||
				     port[0] > '3')) {
				vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
					      "serial port '%s' is not supported (0..3)",
					      port);
				free(port);
				return -1;
			}
			if (port)
				ch->port = port[0] - '0';
			free(port);
			if (ch->console) {
				free(ch->target_type);
				ch->target_type = NULL;
				if (dx_enum_attr(c, "type", ttypes, "serial",
						 &ch->target_type, err))
					return -1;
			}
		} else if (!strcmp(NAME(c), "source") ||
			   !strcmp(NAME(c), "alias")) {
			/* Live-only data (the pty path): ignored on input. */
		} else {
			return dx_unsupported(err, c);
		}
	}
	if (ch->console && !ch->target_type)
		ch->target_type = strdup("serial");
	return 0;
}

static int parse_rng(struct dom_rng *r, xmlNode *n, struct vir_error *err)
{
	static const char *const models[] = { "virtio", NULL };
	static const char *const backends[] = { "random", NULL };

	if (dx_enum_attr(n, "model", models, "virtio", &r->model, err))
		return -1;
	for (xmlNode *c = n->children; c; c = c->next) {
		char *bm;

		if (!dx_is_elem(c))
			continue;
		if (strcmp(NAME(c), "backend"))
			return dx_unsupported(err, c);
		if (dx_no_children(c, err) ||
		    dx_enum_attr(c, "model", backends, "random", &bm, err))
			return -1;
		free(bm);
		free(r->backend);
		r->backend = dx_text(c);
		if (r->backend && strcmp(r->backend, "/dev/urandom") &&
		    strcmp(r->backend, "/dev/random") &&
		    strcmp(r->backend, "/dev/hwrng")) {
			vir_error_set(err, VIR_ERR_CONFIG_UNSUPPORTED,
				      "rng backend '%s' is not supported",
				      r->backend);
			return -1;
		}
	}
	if (!r->backend || !*r->backend) {
		free(r->backend);
		r->backend = strdup("/dev/urandom");
	}
	return 0;
}

int domain_xml_parse_devices(struct domain_def *def, xmlNode *devs,
			     struct vir_error *err)
{
	for (xmlNode *c = devs->children; c; c = c->next) {
		const char *n;

		if (!dx_is_elem(c))
			continue;
		n = NAME(c);
		if (!strcmp(n, "emulator")) {
			if (dx_take_text(c, &def->emulator, err))
				return -1;
		} else if (!strcmp(n, "disk")) {
			if (def->ndisks == DOMAIN_DEVICES_MAX)
				return too_many(err, c);
			if (parse_disk(&def->disks[def->ndisks++], c, err))
				return -1;
		} else if (!strcmp(n, "interface")) {
			if (def->nifaces == DOMAIN_DEVICES_MAX)
				return too_many(err, c);
			if (parse_iface(&def->ifaces[def->nifaces++], c, err))
				return -1;
		} else if (!strcmp(n, "serial") || !strcmp(n, "console")) {
			if (def->nchardevs == DOMAIN_DEVICES_MAX)
				return too_many(err, c);
			if (parse_chardev(&def->chardevs[def->nchardevs++], c,
					  err))
				return -1;
		} else if (!strcmp(n, "rng")) {
			if (def->nrngs == DOMAIN_DEVICES_MAX)
				return too_many(err, c);
			if (parse_rng(&def->rngs[def->nrngs++], c, err))
				return -1;
		} else if (!strcmp(n, "memballoon")) {
			static const char *const models[] = { "virtio",
							      "none", NULL };

			free(def->memballoon);
			def->memballoon = NULL;
			if (dx_no_children(c, err) ||
			    dx_enum_attr(c, "model", models, NULL,
					 &def->memballoon, err))
				return -1;
			if (!def->memballoon) {
				vir_error_set(err, VIR_ERR_XML_ERROR,
					      "missing model attribute of <memballoon>");
				return -1;
			}
		} else {
			return dx_unsupported(err, c);
		}
	}
	return 0;
}
