/* Domain definitions in memory and on disk (see domain_store.h). */
#include "daemon/domain_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/protocol.h"
#include "lib/log.h"
#include "lib/util.h"

static int mkdir_p(const char *path)
{
	char *copy = strdup(path);
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (char *p = copy + 1; ; p++) {
		if (*p == '/' || *p == 0) {
			char saved = *p;

			*p = 0;
			if (mkdir(copy, 0755) && errno != EEXIST) {
				ret = -errno;
				break;
			}
			*p = saved;
			if (!saved)
				break;
		}
	}
	free(copy);
	return ret;
}

int store_init(struct domain_store *s, const char *state_dir)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->next_id = 1;
	if (asprintf(&s->conf_dir, "%s/domains", state_dir) < 0 ||
	    asprintf(&s->autostart_dir, "%s/autostart", state_dir) < 0)
		return -ENOMEM;
	r = mkdir_p(s->conf_dir);
	if (!r)
		r = mkdir_p(s->autostart_dir);
	return r;
}

static void domain_free(struct domain *d)
{
	if (d->stat_fd >= 0)
		close(d->stat_fd);
	domain_def_free(d->def);
	domain_def_free(d->newdef);
	free(d->pty);
	free(d);
}

void store_free(struct domain_store *s)
{
	struct domain *d = s->head, *next;

	for (; d; d = next) {
		next = d->next;
		domain_free(d);
	}
	free(s->conf_dir);
	free(s->autostart_dir);
	memset(s, 0, sizeof(*s));
}

struct domain *store_find_name(struct domain_store *s, const char *name)
{
	for (struct domain *d = s->head; d; d = d->next)
		if (!strcmp(d->def->name, name))
			return d;
	return NULL;
}

struct domain *store_find_uuid(struct domain_store *s, const uint8_t uuid[16])
{
	for (struct domain *d = s->head; d; d = d->next)
		if (!memcmp(d->def->uuid, uuid, 16))
			return d;
	return NULL;
}

struct domain *store_find_id(struct domain_store *s, int id)
{
	if (id <= 0)
		return NULL;
	for (struct domain *d = s->head; d; d = d->next)
		if (d->id == id)
			return d;
	return NULL;
}

static char *conf_path(struct domain_store *s, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s.xml", s->conf_dir, name) < 0 ? NULL : p;
}

static char *autostart_path(struct domain_store *s, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s.xml", s->autostart_dir, name) < 0 ? NULL : p;
}

/* Write the inactive XML to <name>.xml via a temporary file and rename. */
static int save_def(struct domain_store *s, const struct domain_def *def,
		    struct vir_error *err)
{
	char *xml = domain_def_format(def, NULL), *text = NULL;
	char *path = conf_path(s, def->name);
	int r = -ENOMEM;

	if (xml && path && asprintf(&text, "%s\n", xml) >= 0)
		r = write_file_replace(path, text, strlen(text));
	else
		text = NULL;
	if (r)
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "cannot save the definition of '%s': %s",
			      def->name, strerror(-r));
	free(xml);
	free(text);
	free(path);
	return r ? -1 : 0;
}

static struct domain *domain_new(struct domain_store *s, struct domain_def *def)
{
	struct domain *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->def = def;
	d->id = -1;
	d->stat_fd = -1;
	d->state = VIR_DOMAIN_SHUTOFF;
	d->reason = VIR_DOMAIN_SHUTOFF_UNKNOWN;
	d->next = s->head;
	s->head = d;
	s->count++;
	return d;
}

static void domain_unlink(struct domain_store *s, struct domain *d)
{
	for (struct domain **pp = &s->head; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			s->count--;
			break;
		}
	}
	domain_free(d);
}

/* libvirt refuses a name or UUID clash between two different domains. */
static int check_clash(struct domain_store *s, const struct domain_def *def,
		       struct domain **same, struct vir_error *err)
{
	struct domain *by_uuid = store_find_uuid(s, def->uuid);
	struct domain *by_name = store_find_name(s, def->name);
	char uuid[37];

	*same = NULL;
	if (by_uuid && strcmp(by_uuid->def->name, def->name)) {
		uuid_format(def->uuid, uuid);
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "domain '%s' already exists with uuid %s",
			      by_uuid->def->name, uuid);
		return -1;
	}
	if (by_name && !by_uuid) {
		uuid_format(by_name->def->uuid, uuid);
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "domain '%s' already exists with uuid %s",
			      def->name, uuid);
		return -1;
	}
	*same = by_uuid;
	return 0;
}

int store_define(struct domain_store *s, struct domain_def *def,
		 struct domain **out, struct vir_error *err)
{
	struct domain *d;

	if (check_clash(s, def, &d, err) || save_def(s, def, err)) {
		domain_def_free(def);
		return -1;
	}
	if (d) {
		if (domain_active(d)) {
			domain_def_free(d->newdef);
			d->newdef = def;
		} else {
			domain_def_free(d->def);
			d->def = def;
		}
	} else {
		d = domain_new(s, def);
		if (!d) {
			domain_def_free(def);
			vir_error_set(err, VIR_ERR_NO_MEMORY, "domain");
			return -1;
		}
	}
	d->persistent = true;
	*out = d;
	return 0;
}

int store_add_transient(struct domain_store *s, struct domain_def *def,
			struct domain **out, struct vir_error *err)
{
	struct domain *d;

	if (check_clash(s, def, &d, err)) {
		domain_def_free(def);
		return -1;
	}
	if (d) {
		/* Starting a defined domain from new XML: not supported yet. */
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "domain '%s' is already defined; use start",
			      def->name);
		domain_def_free(def);
		return -1;
	}
	d = domain_new(s, def);
	if (!d) {
		domain_def_free(def);
		vir_error_set(err, VIR_ERR_NO_MEMORY, "domain");
		return -1;
	}
	*out = d;
	return 0;
}

int store_undefine(struct domain_store *s, struct domain *d,
		   struct vir_error *err)
{
	char *path, *apath;

	if (!d->persistent) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "cannot undefine transient domain");
		return -1;
	}
	path = conf_path(s, d->def->name);
	apath = autostart_path(s, d->def->name);
	if (!path || !apath) {
		free(path);
		free(apath);
		vir_error_set(err, VIR_ERR_NO_MEMORY, "path");
		return -1;
	}
	if (unlink(path) && errno != ENOENT) {
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "cannot remove config %s: %s", path,
			      strerror(errno));
		free(path);
		free(apath);
		return -1;
	}
	unlink(apath);
	free(path);
	free(apath);
	d->autostart = false;
	d->persistent = false;
	domain_def_free(d->newdef);
	d->newdef = NULL;
	if (!domain_active(d))
		domain_unlink(s, d);
	return 0;
}

int store_set_autostart(struct domain_store *s, struct domain *d, bool on,
			struct vir_error *err)
{
	char *apath, *target = NULL;
	int r = 0;

	if (!d->persistent) {
		vir_error_set(err, VIR_ERR_OPERATION_INVALID,
			      "cannot set autostart for transient domain");
		return -1;
	}
	if (d->autostart == on)
		return 0;
	apath = autostart_path(s, d->def->name);
	if (!apath || asprintf(&target, "../domains/%s.xml",
			       d->def->name) < 0) {
		free(apath);
		vir_error_set(err, VIR_ERR_NO_MEMORY, "path");
		return -1;
	}
	if (on && symlink(target, apath) && errno != EEXIST)
		r = -errno;
	if (!on && unlink(apath) && errno != ENOENT)
		r = -errno;
	if (r)
		vir_error_set(err, VIR_ERR_OPERATION_FAILED,
			      "cannot %s autostart link %s: %s",
			      on ? "create" : "remove", apath, strerror(-r));
	else
		d->autostart = on;
	free(apath);
	free(target);
	return r ? -1 : 0;
}

bool store_domain_stopped(struct domain_store *s, struct domain *d)
{
	d->id = -1;
	d->pid = 0;
	free(d->pty);
	d->pty = NULL;
	if (!d->persistent) {
		domain_unlink(s, d);
		return false;
	}
	if (d->newdef) {
		domain_def_free(d->def);
		d->def = d->newdef;
		d->newdef = NULL;
	}
	return true;
}

/* Load one <name>.xml; the file name must match the domain's name. */
static void load_one(struct domain_store *s, const char *file)
{
	char *path = NULL, *apath = NULL;
	uint8_t *data = NULL;
	size_t len;
	struct domain_def *def = NULL;
	struct domain *d;
	struct vir_error err = { 0 };
	size_t n = strlen(file);

	if (asprintf(&path, "%s/%s", s->conf_dir, file) < 0)
		return;
	if (read_file(path, &data, &len)) {
		log_warn("cannot read %s", path);
		goto out;
	}
	if (domain_def_parse((const char *)data, len, &def, &err)) {
		log_warn("ignoring %s: %s", path, err.message);
		goto out;
	}
	if (strncmp(file, def->name, n - 4) || strlen(def->name) != n - 4) {
		log_warn("ignoring %s: it defines domain '%s'", path,
			 def->name);
		goto out;
	}
	if (check_clash(s, def, &d, &err) || d) {
		log_warn("ignoring %s: %s", path, err.code ? err.message :
			 "duplicate UUID");
		goto out;
	}
	d = domain_new(s, def);
	if (!d)
		goto out;
	def = NULL;
	d->persistent = true;
	apath = autostart_path(s, d->def->name);
	d->autostart = apath && access(apath, F_OK) == 0;
	log_debug("loaded domain '%s'%s", d->def->name,
		  d->autostart ? " (autostart)" : "");
out:
	domain_def_free(def);
	free(data);
	free(path);
	free(apath);
}

int store_load(struct domain_store *s)
{
	DIR *dir = opendir(s->conf_dir);
	struct dirent *e;

	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.' || n < 5 ||
		    strcmp(e->d_name + n - 4, ".xml"))
			continue;
		load_one(s, e->d_name);
	}
	closedir(dir);
	return 0;
}
