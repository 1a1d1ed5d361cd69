#!/usr/bin/env python3
"""Seed corpora for the vireod fuzzers (tests/fuzz/corpus/daemon/):
xdr/ holds one message per implemented procedure with valid arguments in
the fuzz_daemon_rpc.c input format (kind byte, procedure, arguments);
xml/ holds domain definitions using every element the parser knows.
"""
import os
import struct
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "daemon")
UUID = bytes(range(16))


def u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def string(s):
    b = s.encode()
    return u32(len(b)) + b + b"\0" * (-len(b) % 4)


def opt_string(s):
    return u32(0) if s is None else u32(1) + string(s)


def dom(name="f1"):
    return string(name) + UUID + u32(0xFFFFFFFF)


XML = """<domain type='kvm'>
  <name>f1</name>
  <uuid>00010203-0405-0607-0809-0a0b0c0d0e0f</uuid>
  <title>t</title><description>d</description>
  <memory unit='MiB'>64</memory>
  <currentMemory unit='KiB'>32768</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>/k</kernel><initrd>/i</initrd>
    <cmdline>console=ttyS0</cmdline><boot dev='hd'/></os>
  <features><acpi/><apic/><pae/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>preserve</on_crash>
  <devices>
    <emulator>/usr/bin/vireo</emulator>
    <disk type='file' device='disk'><driver name='vireo' type='qcow2' cache='none'/>
      <source file='/a.qcow2'/><target dev='vda' bus='virtio'/><readonly/><serial>S1</serial></disk>
    <disk type='block' device='cdrom'><target dev='vdb' bus='virtio'/></disk>
    <interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/>
      <model type='virtio'/></interface>
    <interface type='user'/>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='virtio' port='0'/></console>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='virtio'/>
  </devices>
</domain>
"""

calls = {
    "open": (1, opt_string("vireo:///system") + u32(0)),
    "close": (2, b""),
    "get_type": (3, b""),
    "capabilities": (7, b""),
    "node_info": (6, b""),
    "max_vcpus": (5, opt_string(None)),
    "define": (11, string(XML)),
    "define_flags": (350, string(XML) + u32(1)),
    "undefine": (35, dom()),
    "undefine_flags": (231, dom() + u32(0)),
    "destroy": (12, dom()),
    "xml_desc": (14, dom() + u32(2)),
    "autostart": (15, dom()),
    "set_autostart": (29, dom() + u32(1)),
    "info": (16, dom()),
    "state": (212, dom() + u32(0)),
    "lookup_name": (23, string("f1")),
    "lookup_uuid": (24, UUID),
    "lookup_id": (22, u32(1)),
    "list_all": (273, u32(1) + u32(0)),
    "list_ids": (37, u32(16)),
    "list_defined": (21, u32(16)),
    "num_domains": (51, b""),
    "shutdown_flags": (258, dom() + u32(1)),
    "suspend": (34, dom()),
    "resume": (28, dom()),
    "vcpus_flags": (200, dom() + u32(1)),
    "snapshots": (274, dom() + u32(1) + u32(0)),
    "supports_feature": (60, u32(14)),
    "open_console": (201, dom() + opt_string("serial0") + u32(1)),
    "event_register": (105, b""),
    "event_deregister": (106, b""),
    "event_register_any": (167, u32(0)),
    "event_deregister_any": (168, u32(0)),
    "callback_register_any": (316, u32(0) + u32(1) + dom()),
    "callback_register_all": (316, u32(0) + u32(0)),
    "callback_deregister_any": (317, u32(1)),
    "reboot": (27, dom() + u32(1)),
    "reset": (245, dom() + u32(0)),
    "get_vcpus": (20, dom() + u32(2) + u32(1)),
    "vcpu_pin_info": (230, dom() + u32(2) + u32(1) + u32(0)),
    "memory_stats": (159, dom() + u32(13) + u32(0)),
    "set_memory_flags": (204, dom() + u32(0) + u32(32768) + u32(2)),
    "set_memory": (31, dom() + u32(0) + u32(32768)),
    "set_max_memory": (30, dom() + u32(0) + u32(65536)),
    "get_messages": (426, dom() + u32(0)),
    "node_cpu_map": (293, u32(1) + u32(1) + u32(0)),
    "domain_capabilities": (342, opt_string(None) + opt_string("x86_64") + opt_string(None)
                            + opt_string("kvm") + u32(0)),
}


def main():
    os.makedirs(os.path.join(root, "xdr"), exist_ok=True)
    os.makedirs(os.path.join(root, "xml"), exist_ok=True)
    for name, (proc, args) in calls.items():
        with open(os.path.join(root, "xdr", name), "wb") as f:
            f.write(b"\0" + u32(proc) + args)
    for status, name in ((2, "stream_data"), (0, "stream_finish"), (1, "stream_abort")):
        with open(os.path.join(root, "xdr", name), "wb") as f:
            f.write(bytes([1 | status << 1]) + u32(201) + b"hello\r")
    with open(os.path.join(root, "xml", "full"), "w") as f:
        f.write(XML)
    with open(os.path.join(root, "xml", "minimal"), "w") as f:
        f.write("<domain type='vireo'><name>m</name><memory>65536</memory></domain>")
    return 0


sys.exit(main())
