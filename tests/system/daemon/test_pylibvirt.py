#!/usr/bin/python3
"""vireod driven by python3-libvirt (Debian's, so run with /usr/bin/python3):
the same definition calls as virsh, through the library API, checking
error codes (VIR_ERR_*) rather than texts.
"""
import os

from vireodtest import Daemon, check, done, domain_xml, skip

try:
    import libvirt
except ImportError:
    skip("python3-libvirt not installed")

# The library prints every error to stderr by default; we check them.
libvirt.registerErrorHandler(lambda ctx, err: None, None)

d = Daemon("--no-autostart")
try:
    c = libvirt.open(d.uri)
    check(c.getType() == "vireo", "getType")
    check(c.getVersion() > 0, "getVersion")
    check(c.getLibVersion() >= 9000000, "getLibVersion")
    check(c.getHostname() != "", "getHostname")
    check(c.getMaxVcpus(None) >= 1, "getMaxVcpus")
    info = c.getInfo()
    check(info[0] == "x86_64" and info[1] > 0 and info[2] > 0, f"getInfo {info}")
    caps = c.getCapabilities()
    check("<os_type>hvm</os_type>" in caps and "<domain type='vireo'/>" in caps,
          "capabilities: hvm guests of domain type vireo")
    check(c.isAlive() == 1, "isAlive")

    dom = c.defineXML(domain_xml("p1"))
    check(dom.name() == "p1", "defineXML")
    check(dom.ID() == -1 and dom.isActive() == 0 and dom.isPersistent() == 1,
          "inactive, persistent")
    check(dom.info() == [5, 65536, 65536, 1, 0], f"info {dom.info()}")
    check(dom.state() == [5, 0], f"state {dom.state()}")
    check(dom.OSType() == "hvm", "OSType")
    check(dom.maxMemory() == 65536, "maxMemory")
    check([x.name() for x in c.listAllDomains()] == ["p1"], "listAllDomains")
    check(c.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE) == [],
          "listAllDomains(ACTIVE) empty")
    check(c.listDefinedDomains() == ["p1"] and c.numOfDefinedDomains() == 1,
          "listDefinedDomains")
    check(c.listDomainsID() == [] and c.numOfDomains() == 0, "no active domains")
    check(c.lookupByUUIDString(dom.UUIDString()).name() == "p1", "lookupByUUIDString")

    def code_of(fn, *args):
        try:
            fn(*args)
        except libvirt.libvirtError as e:
            return e.get_error_code()
        return 0

    check(code_of(c.lookupByName, "nope") == libvirt.VIR_ERR_NO_DOMAIN, "VIR_ERR_NO_DOMAIN")
    check(code_of(c.lookupByID, 42) == libvirt.VIR_ERR_NO_DOMAIN, "lookupByID: NO_DOMAIN")
    check(code_of(c.defineXML, "<domain") == libvirt.VIR_ERR_XML_ERROR, "VIR_ERR_XML_ERROR")
    check(code_of(c.defineXML, domain_xml("q", extra_devices="<video/>"))
          == libvirt.VIR_ERR_CONFIG_UNSUPPORTED, "VIR_ERR_CONFIG_UNSUPPORTED")
    check(code_of(c.defineXML, domain_xml("p1")) == libvirt.VIR_ERR_OPERATION_FAILED,
          "duplicate name: VIR_ERR_OPERATION_FAILED")
    check(code_of(dom.destroy) == libvirt.VIR_ERR_OPERATION_INVALID,
          "destroy inactive: VIR_ERR_OPERATION_INVALID")
    # a procedure vireod does not implement yet
    check(code_of(dom.blockStats, "vda") == libvirt.VIR_ERR_NO_SUPPORT, "VIR_ERR_NO_SUPPORT")

    # the calls about a running VM, on a shut-off one, and the host's
    check(code_of(dom.reboot, 0) == libvirt.VIR_ERR_OPERATION_INVALID, "reboot inactive")
    check(code_of(dom.reset, 0) == libvirt.VIR_ERR_OPERATION_INVALID, "reset inactive")
    check(code_of(dom.vcpus) == libvirt.VIR_ERR_OPERATION_INVALID, "vcpus inactive")
    check(code_of(dom.memoryStats) == libvirt.VIR_ERR_OPERATION_INVALID, "memoryStats inactive")
    check(code_of(dom.setMemoryFlags, 32768, libvirt.VIR_DOMAIN_AFFECT_LIVE)
          == libvirt.VIR_ERR_OPERATION_INVALID, "setMemoryFlags(LIVE) inactive")
    check(code_of(dom.reboot, 4) == libvirt.VIR_ERR_INVALID_ARG, "reboot(INITCTL): INVALID_ARG")
    dom.setMemoryFlags(32768, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    check(dom.info()[2] == 32768, f"setMemoryFlags(CONFIG) {dom.info()}")
    check(code_of(dom.setMemoryFlags, 1 << 20, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
          == libvirt.VIR_ERR_INVALID_ARG, "memory above the maximum: INVALID_ARG")
    check(dom.vcpuPinInfo(0) == [(True,) * c.getCPUMap()[0]], f"vcpuPinInfo {dom.vcpuPinInfo(0)}")
    cpus, online_map, online = c.getCPUMap()
    check(cpus >= 1 and online == sum(online_map), f"getCPUMap {cpus} {online_map} {online}")
    dc = c.getDomainCapabilities(None, "x86_64", None, "vireo", 0)
    check("<vcpu max='64'/>" in dc and "<domain>vireo</domain>" in dc, "getDomainCapabilities")
    check(code_of(c.getDomainCapabilities, None, "ppc64", None, None, 0)
          == libvirt.VIR_ERR_INVALID_ARG, "getDomainCapabilities(ppc64): INVALID_ARG")
    check(code_of(dom.managedSave, 0) == libvirt.VIR_ERR_NO_SUPPORT, "managedSave: NO_SUPPORT")

    dom.setAutostart(1)
    check(dom.autostart() == 1, "setAutostart")
    xml = dom.XMLDesc(0)
    dom.undefine()
    check(c.listAllDomains() == [], "undefine")
    dom2 = c.defineXML(xml)
    check(dom2.XMLDesc(0) == xml, "XMLDesc round trip")
    dom2.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    check(c.listAllDomains() == [], "undefineFlags")
    c.close()
    check(d.alive(), "daemon alive")
finally:
    d.cleanup()
done()
