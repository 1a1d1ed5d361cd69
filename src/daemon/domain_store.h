/*
 * The daemon's domains: definitions in memory, persisted as XML files
 * (<state dir>/domains/<name>.xml) with autostart marked by a symlink in
 * <state dir>/autostart/, as libvirt does. Running state (pid, id) lives
 * here too; vm.c changes it.
 */
#ifndef VIREO_DAEMON_DOMAIN_STORE_H
#define VIREO_DAEMON_DOMAIN_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/domain_xml.h"
#include "daemon/virerr.h"

struct console;
struct pid_watch;

struct domain {
	struct domain *next;
	struct domain_def *def;		/* what runs, or the config if off */
	struct domain_def *newdef;	/* config redefined while running */
	bool persistent;
	bool autostart;
	int id;				/* > 0 while active, else -1 */
	int state;			/* enum vir_domain_state */
	int reason;
	pid_t pid;			/* the vireo process, 0 if none */
	char *pty;			/* serial pty reported by vireo */
	uint64_t started_ns;
	struct console *console;	/* our serial connection (console.c) */
	bool reattached;		/* found after a restart: not our child */
	struct pid_watch *pid_watch;	/* reattached: its pidfd */
	uint64_t balloon_kib;		/* live balloon target, 0: as defined */
	bool reboot_pending;		/* ACPI reboot: restart when vireo exits */
	int stat_fd;			/* /proc/<stat_pid>/stat, -1 if closed */
	pid_t stat_pid;
};

struct domain_store {
	struct domain *head;
	char *conf_dir;
	char *autostart_dir;
	int next_id;
	size_t count;
};

/* Create the directories under state_dir; 0 or -errno. */
int store_init(struct domain_store *s, const char *state_dir);
/* Load every saved definition; bad files are logged and skipped. */
int store_load(struct domain_store *s);
void store_free(struct domain_store *s);

struct domain *store_find_name(struct domain_store *s, const char *name);
struct domain *store_find_uuid(struct domain_store *s, const uint8_t uuid[16]);
struct domain *store_find_id(struct domain_store *s, int id);

static inline bool domain_active(const struct domain *d)
{
	return d->id > 0;
}

/*
 * Define (or redefine, same name and UUID) a persistent domain; takes
 * ownership of def in every case. 0 and *out, or -1 with err set.
 */
int store_define(struct domain_store *s, struct domain_def *def,
		 struct domain **out, struct vir_error *err);
/* Add a transient domain (CREATE_XML); takes def. */
int store_add_transient(struct domain_store *s, struct domain_def *def,
			struct domain **out, struct vir_error *err);
/* Forget the persistent config; a running domain becomes transient. */
int store_undefine(struct domain_store *s, struct domain *d,
		   struct vir_error *err);
int store_set_autostart(struct domain_store *s, struct domain *d, bool on,
			struct vir_error *err);
/*
 * Called when a domain stopped: applies a pending newdef, drops a
 * transient domain (d is freed then). Returns true if d still exists.
 */
bool store_domain_stopped(struct domain_store *s, struct domain *d);

#endif
