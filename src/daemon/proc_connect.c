/*
 * Connection-level procedures: what a libvirt client calls while it
 * connects (AUTH_LIST, CONNECT_SUPPORTS_FEATURE, CONNECT_OPEN) and the
 * questions about the host (type, versions, hostname, URI, capabilities,
 * node info).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/dispatch.h"
#include "daemon/domain_xml.h"
#include "daemon/protocol.h"
#include "lib/log.h"
#include "lib/util.h"
#include "vireo-version.h"

/*
 * Reported as the daemon's libvirt version: clients gate protocol
 * features on it, and vireod implements the protocol as of libvirt 9.0.
 */
#define LIBVIRT_COMPAT_VERSION	9000000ULL
#define MAX_VCPUS		DOMAIN_VCPUS_MAX

static int no_args(struct call *call)
{
	return call_args_end(call);
}

static int proc_auth_list(struct call *call)
{
	if (no_args(call))
		return -1;
	/* Local UNIX socket, permissions 0700: no authentication step. */
	xdr_put_u32(call->ret, 1);
	xdr_put_u32(call->ret, REMOTE_AUTH_NONE);
	return 0;
}

static int proc_open(struct call *call)
{
	char *name = NULL;
	uint32_t flags;

	if (xdr_get_string_opt(call->args, REMOTE_STRING_MAX, &name) ||
	    xdr_get_u32(call->args, &flags) || call_args_end(call)) {
		free(name);
		return call_bad_args(call);
	}
	log_debug("client %lu: open '%s' flags %#x", (unsigned long)call->c->id,
		  name ? name : "(null)", flags);
	free(name);
	call->c->opened = true;
	return 0;
}

static int proc_close(struct call *call)
{
	if (no_args(call))
		return -1;
	call->c->opened = false;
	return 0;
}

static int proc_supports_feature(struct call *call)
{
	int32_t feature;

	if (xdr_get_i32(call->args, &feature) || call_args_end(call))
		return call_bad_args(call);
	xdr_put_i32(call->ret, feature == VIR_DRV_FEATURE_PROGRAM_KEEPALIVE ||
			       feature == VIR_DRV_FEATURE_TYPED_PARAM_STRING ||
			       feature == VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK);
	return 0;
}

static int proc_get_type(struct call *call)
{
	if (no_args(call))
		return -1;
	xdr_put_string(call->ret, "vireo");
	return 0;
}

/* "major.minor.micro" -> major * 1000000 + minor * 1000 + micro */
static uint64_t version_number(const char *s)
{
	unsigned a = 0, b = 0, c = 0;

	sscanf(s, "%u.%u.%u", &a, &b, &c);
	return (uint64_t)a * 1000000 + b * 1000 + c;
}

static int proc_get_version(struct call *call)
{
	if (no_args(call))
		return -1;
	xdr_put_u64(call->ret, version_number(VIREO_VERSION));
	return 0;
}

static int proc_get_lib_version(struct call *call)
{
	if (no_args(call))
		return -1;
	xdr_put_u64(call->ret, LIBVIRT_COMPAT_VERSION);
	return 0;
}

static int proc_get_hostname(struct call *call)
{
	char host[256];

	if (no_args(call))
		return -1;
	if (gethostname(host, sizeof(host)))
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = 0;
	xdr_put_string(call->ret, host);
	return 0;
}

static int proc_get_uri(struct call *call)
{
	if (no_args(call))
		return -1;
	xdr_put_string(call->ret, call->d->session ? "vireo:///session" :
			       "vireo:///system");
	return 0;
}

static int proc_is_secure(struct call *call)
{
	if (no_args(call))
		return -1;
	xdr_put_i32(call->ret, 1);	/* a local socket is not sniffable */
	return 0;
}

static int proc_get_max_vcpus(struct call *call)
{
	char *type = NULL;

	if (xdr_get_string_opt(call->args, REMOTE_STRING_MAX, &type) ||
	    call_args_end(call)) {
		free(type);
		return call_bad_args(call);
	}
	free(type);
	xdr_put_i32(call->ret, MAX_VCPUS);
	return 0;
}

static uint64_t host_memory_kib(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	uint64_t kib = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %" SCNu64, &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int host_mhz(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[256];
	double mhz = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
			break;
	fclose(f);
	return (int)mhz;
}

static int host_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

static int proc_node_get_info(struct call *call)
{
	char model[32] = "x86_64";
	int cpus = host_cpus();

	if (no_args(call))
		return -1;
	/* char model[32]: an XDR vector of chars, four bytes each. */
	for (size_t i = 0; i < sizeof(model); i++)
		xdr_put_i32(call->ret, model[i]);
	xdr_put_u64(call->ret, host_memory_kib());
	xdr_put_i32(call->ret, cpus);
	xdr_put_i32(call->ret, host_mhz());
	xdr_put_i32(call->ret, 1);	/* NUMA nodes */
	xdr_put_i32(call->ret, 1);	/* sockets per node */
	xdr_put_i32(call->ret, cpus);	/* cores per socket */
	xdr_put_i32(call->ret, 1);	/* threads per core */
	return 0;
}

static int proc_node_get_security_model(struct call *call)
{
	if (no_args(call))
		return -1;
	xdr_put_u32(call->ret, 0);	/* model: empty, no security driver */
	xdr_put_u32(call->ret, 0);	/* doi: empty */
	return 0;
}

/* /etc/machine-id as a UUID, so the host UUID is stable across runs. */
static void host_uuid(char out[37])
{
	uint8_t u[16] = { 0 };
	char id[64] = "";
	FILE *f = fopen("/etc/machine-id", "re");

	if (f) {
		if (!fgets(id, sizeof(id), f))
			id[0] = 0;
		fclose(f);
	}
	id[strcspn(id, "\n")] = 0;
	if (uuid_parse(id, u))
		memset(u, 0, sizeof(u));
	uuid_format(u, out);
}

char *host_capabilities_xml(struct daemon *d)
{
	char uuid[37], *xml;
	int cpus = host_cpus();

	host_uuid(uuid);
	if (asprintf(&xml,
		"<capabilities>\n"
		"  <host>\n"
		"    <uuid>%s</uuid>\n"
		"    <cpu>\n"
		"      <arch>x86_64</arch>\n"
		"      <topology sockets='1' dies='1' cores='%d' threads='1'/>\n"
		"    </cpu>\n"
		"    <power_management/>\n"
		"    <iommu support='no'/>\n"
		"    <topology>\n"
		"      <cells num='1'>\n"
		"        <cell id='0'>\n"
		"          <memory unit='KiB'>%" PRIu64 "</memory>\n"
		"        </cell>\n"
		"      </cells>\n"
		"    </topology>\n"
		"    <secmodel>\n"
		"      <model>none</model>\n"
		"      <doi>0</doi>\n"
		"    </secmodel>\n"
		"  </host>\n"
		"  <guest>\n"
		"    <os_type>hvm</os_type>\n"
		"    <arch name='x86_64'>\n"
		"      <wordsize>64</wordsize>\n"
		"      <emulator>%s</emulator>\n"
		"      <machine maxCpus='%d'>vireo</machine>\n"
		"      <domain type='vireo'/>\n"
		"      <domain type='kvm'/>\n"
		"      <domain type='qemu'/>\n"
		"    </arch>\n"
		"    <features>\n"
		"      <acpi default='on' toggle='yes'/>\n"
		"      <apic default='on' toggle='no'/>\n"
		"      <pae/>\n"
		"    </features>\n"
		"  </guest>\n"
		"</capabilities>\n",
		uuid, cpus, host_memory_kib(), d->vireo_path, MAX_VCPUS) < 0)
		return NULL;
	return xml;
}

static int proc_get_capabilities(struct call *call)
{
	char *xml;

	if (no_args(call))
		return -1;
	xml = host_capabilities_xml(call->d);
	if (!xml) {
		vir_error_set(&call->err, VIR_ERR_NO_MEMORY, "capabilities");
		return -1;
	}
	xdr_put_string(call->ret, xml);
	free(xml);
	return 0;
}

/* virttype names vireo accepts in <domain type=...> */
static bool virt_type_known(const char *t)
{
	return !strcmp(t, "vireo") || !strcmp(t, "kvm") || !strcmp(t, "qemu");
}

/*
 * `virsh domcapabilities`, and `virsh maxvcpus`, which reads
 * /domainCapabilities/vcpu/@max first. What the XML parser accepts, in
 * libvirt's domain-capabilities vocabulary.
 */
static int proc_get_domain_capabilities(struct call *call)
{
	char *emulator = NULL, *arch = NULL, *machine = NULL, *virt = NULL;
	char *xml = NULL;
	uint32_t flags;
	int r = -1;

	if (xdr_get_string_opt(call->args, REMOTE_STRING_MAX, &emulator) ||
	    xdr_get_string_opt(call->args, REMOTE_STRING_MAX, &arch) ||
	    xdr_get_string_opt(call->args, REMOTE_STRING_MAX, &machine) ||
	    xdr_get_string_opt(call->args, REMOTE_STRING_MAX, &virt) ||
	    xdr_get_u32(call->args, &flags) || call_args_end(call)) {
		call_bad_args(call);
		goto out;
	}
	if (flags) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		goto out;
	}
	if (arch && strcmp(arch, "x86_64")) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "architecture '%s' is not supported by vireo (only x86_64)",
			      arch);
		goto out;
	}
	if (virt && !virt_type_known(virt)) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unknown virttype: %s", virt);
		goto out;
	}
	if (machine && strcmp(machine, "vireo")) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "machine type '%s' is not supported by vireo (only 'vireo')",
			      machine);
		goto out;
	}
	if (asprintf(&xml,
		"<domainCapabilities>\n"
		"  <path>%s</path>\n"
		"  <domain>%s</domain>\n"
		"  <machine>vireo</machine>\n"
		"  <arch>x86_64</arch>\n"
		"  <vcpu max='%d'/>\n"
		"  <iothreads supported='no'/>\n"
		"  <os supported='yes'>\n"
		"    <loader supported='no'/>\n"
		"  </os>\n"
		"  <cpu>\n"
		"    <mode name='host-passthrough' supported='no'/>\n"
		"    <mode name='maximum' supported='no'/>\n"
		"    <mode name='host-model' supported='no'/>\n"
		"    <mode name='custom' supported='no'/>\n"
		"  </cpu>\n"
		"  <memoryBacking supported='no'/>\n"
		"  <devices>\n"
		"    <disk supported='yes'>\n"
		"      <enum name='diskDevice'>\n"
		"        <value>disk</value>\n"
		"      </enum>\n"
		"      <enum name='bus'>\n"
		"        <value>virtio</value>\n"
		"      </enum>\n"
		"      <enum name='model'>\n"
		"        <value>virtio</value>\n"
		"      </enum>\n"
		"    </disk>\n"
		"    <graphics supported='no'/>\n"
		"    <video supported='no'/>\n"
		"    <hostdev supported='no'/>\n"
		"    <rng supported='yes'>\n"
		"      <enum name='model'>\n"
		"        <value>virtio</value>\n"
		"      </enum>\n"
		"      <enum name='backendModel'>\n"
		"        <value>random</value>\n"
		"      </enum>\n"
		"    </rng>\n"
		"    <filesystem supported='no'/>\n"
		"    <tpm supported='no'/>\n"
		"    <redirdev supported='no'/>\n"
		"    <channel supported='no'/>\n"
		"    <crypto supported='no'/>\n"
		"  </devices>\n"
		"  <features>\n"
		"    <gic supported='no'/>\n"
		"    <vmcoreinfo supported='no'/>\n"
		"    <genid supported='no'/>\n"
		"    <backingStoreInput supported='no'/>\n"
		"    <backup supported='no'/>\n"
		"    <sev supported='no'/>\n"
		"  </features>\n"
		"</domainCapabilities>\n",
		emulator ? emulator : call->d->vireo_path, virt ? virt : "vireo",
		MAX_VCPUS) < 0) {
		xml = NULL;
		vir_error_set(&call->err, VIR_ERR_NO_MEMORY, "capabilities");
		goto out;
	}
	xdr_put_string(call->ret, xml);
	r = 0;
out:
	free(emulator);
	free(arch);
	free(machine);
	free(virt);
	free(xml);
	return r;
}

/* virNodeGetCPUMap (`virsh vcpuinfo` asks it): CPUs 0..N-1 are online. */
static int proc_node_get_cpu_map(struct call *call)
{
	int32_t need_map, need_online;
	uint32_t flags;
	long conf = sysconf(_SC_NPROCESSORS_CONF);
	int cpus = conf > 0 ? (int)conf : 1, online = host_cpus();
	uint8_t map[REMOTE_CPUMAP_MAX] = { 0 };

	if (xdr_get_i32(call->args, &need_map) ||
	    xdr_get_i32(call->args, &need_online) ||
	    xdr_get_u32(call->args, &flags) || call_args_end(call))
		return call_bad_args(call);
	if (flags) {
		vir_error_set(&call->err, VIR_ERR_INVALID_ARG,
			      "unsupported flags (0x%x)", flags);
		return -1;
	}
	cpus = MIN(cpus, REMOTE_CPUMAP_MAX * 8);
	online = MIN(online, cpus);
	for (int c = 0; c < online; c++)
		map[c / 8] |= 1u << (c % 8);
	xdr_put_opaque(call->ret, map, need_map ? (size_t)(cpus + 7) / 8 : 0);
	xdr_put_u32(call->ret, need_online ? (uint32_t)online : 0);
	xdr_put_i32(call->ret, cpus);
	return 0;
}

const struct proc_entry proc_connect_table[] = {
	{ REMOTE_PROC_CONNECT_OPEN, "CONNECT_OPEN", proc_open },
	{ REMOTE_PROC_CONNECT_CLOSE, "CONNECT_CLOSE", proc_close },
	{ REMOTE_PROC_CONNECT_GET_TYPE, "CONNECT_GET_TYPE", proc_get_type },
	{ REMOTE_PROC_CONNECT_GET_VERSION, "CONNECT_GET_VERSION",
	  proc_get_version },
	{ REMOTE_PROC_CONNECT_GET_MAX_VCPUS, "CONNECT_GET_MAX_VCPUS",
	  proc_get_max_vcpus },
	{ REMOTE_PROC_NODE_GET_INFO, "NODE_GET_INFO", proc_node_get_info },
	{ REMOTE_PROC_CONNECT_GET_CAPABILITIES, "CONNECT_GET_CAPABILITIES",
	  proc_get_capabilities },
	{ REMOTE_PROC_CONNECT_GET_HOSTNAME, "CONNECT_GET_HOSTNAME",
	  proc_get_hostname },
	{ REMOTE_PROC_CONNECT_SUPPORTS_FEATURE, "CONNECT_SUPPORTS_FEATURE",
	  proc_supports_feature },
	{ REMOTE_PROC_AUTH_LIST, "AUTH_LIST", proc_auth_list },
	{ REMOTE_PROC_CONNECT_GET_URI, "CONNECT_GET_URI", proc_get_uri },
	{ REMOTE_PROC_NODE_GET_SECURITY_MODEL, "NODE_GET_SECURITY_MODEL",
	  proc_node_get_security_model },
	{ REMOTE_PROC_CONNECT_IS_SECURE, "CONNECT_IS_SECURE", proc_is_secure },
	{ REMOTE_PROC_CONNECT_GET_LIB_VERSION, "CONNECT_GET_LIB_VERSION",
	  proc_get_lib_version },
	{ REMOTE_PROC_NODE_GET_CPU_MAP, "NODE_GET_CPU_MAP",
	  proc_node_get_cpu_map },
	{ REMOTE_PROC_CONNECT_GET_DOMAIN_CAPABILITIES,
	  "CONNECT_GET_DOMAIN_CAPABILITIES", proc_get_domain_capabilities },
	{ 0, NULL, NULL },
};
