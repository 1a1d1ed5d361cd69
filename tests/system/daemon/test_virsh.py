#!/usr/bin/env python3
"""vireod driven by the stock virsh (Debian's libvirt-clients 9.0):
define, list, dominfo, dumpxml round trip, autostart, undefine, state kept
across a daemon restart, libvirt-style errors while the daemon goes on,
and, when VIREO and TESTKERNEL are given, the lifecycle: start, suspend,
resume, shutdown, destroy, create (transient).
"""
import os
import re
import shutil
import tempfile
import time

from vireodtest import Console, Daemon, check, done, domain_xml, skip

if not shutil.which("virsh"):
    skip("virsh not installed (apt-get install libvirt-clients)")

tmp = tempfile.mkdtemp(prefix="vireod-virsh-")


def xml_file(name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def state(d, name):
    return d.virsh("domstate", name)[1].strip()


def wait_state(d, name, want, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if state(d, name) == want:
            return True
        time.sleep(0.2)
    return False


def definitions(d):
    d0 = Daemon("--no-autostart")
    rc, out, err = d0.virsh("list", "--all")
    check(rc == 0 and out.strip() == "", f"empty list ({rc}, {out!r}, {err!r})")

    t1 = xml_file("t1.xml", domain_xml("t1"))
    rc, out, err = d0.virsh("define", t1)
    check(rc == 0, f"define ({out!r} {err!r})")
    rc, out, _ = d0.virsh("list", "--all")
    check(re.search(r"-\s+t1\s+shut off", out) is not None, f"list --all shows t1 shut off ({out!r})")
    rc, out, _ = d0.virsh("list")
    check(rc == 0 and "t1" not in out, "list (active only) is empty")

    rc, out, _ = d0.virsh("dominfo", "t1")
    info = dict(re.findall(r"^([^:]+):\s+(.*)$", out, re.M))
    check(info.get("State") == "shut off", f"dominfo state ({info})")
    check(info.get("CPU(s)") == "1", "dominfo cpus")
    check(info.get("Max memory") == "65536 KiB", "dominfo max memory")
    check(info.get("Persistent") == "yes", "dominfo persistent")
    check(info.get("Autostart") == "disable", "dominfo autostart")
    uuid = info.get("UUID", "")
    check(re.fullmatch(r"[0-9a-f-]{36}", uuid) is not None, "a UUID was generated")

    rc, x1, _ = d0.virsh("dumpxml", "t1")
    check(rc == 0 and f"<uuid>{uuid}</uuid>" in x1, "dumpxml has the UUID")
    check("<memory unit='KiB'>65536</memory>" in x1, "dumpxml memory in KiB")
    rc, out, err = d0.virsh("define", xml_file("t1-dump.xml", x1))
    check(rc == 0, f"dumpxml output defines again (same name and UUID) ({err!r})")
    rc, x2, _ = d0.virsh("dumpxml", "t1")
    check(x1 == x2, "dumpxml round trip is stable")
    rc, out, _ = d0.virsh("domuuid", "t1")
    check(out.strip() == uuid, "domuuid")
    rc, out, _ = d0.virsh("domname", uuid)
    check(out.strip() == "t1", "lookup by UUID")

    rc, out, err = d0.virsh("autostart", "t1")
    check(rc == 0, f"autostart ({err!r})")
    check(os.path.islink(os.path.join(d0.state, "autostart", "t1.xml")), "autostart link")
    rc, out, _ = d0.virsh("dominfo", "t1")
    check(re.search(r"Autostart:\s+enable", out) is not None, "dominfo autostart enable")
    rc, out, _ = d0.virsh("list", "--all", "--autostart")
    check("t1" in out, "list --autostart")
    rc, out, _ = d0.virsh("list", "--all", "--no-autostart")
    check("t1" not in out, "list --no-autostart")

    # errors: libvirt's codes and messages, and the daemon goes on
    rc, out, err = d0.virsh("define", xml_file("dup.xml", domain_xml("t1")))
    check(rc != 0 and "operation failed: domain 't1' already exists with uuid" in err,
          f"duplicate name refused ({err.strip()!r})")
    rc, out, err = d0.virsh("dominfo", "nope")
    check(rc != 0 and "failed to get domain 'nope'" in err, f"unknown domain ({err.strip()!r})")
    rc, out, err = d0.virsh("define", xml_file("bad.xml", "<domain type='vireo'><name>x"))
    check(rc != 0 and "error: XML error:" in err, f"malformed XML ({err.strip()!r})")
    bad = domain_xml("g", extra_devices="<graphics type='vnc'/>")
    rc, out, err = d0.virsh("define", xml_file("gfx.xml", bad))
    check(rc != 0 and "unsupported configuration: element <graphics> in <devices>" in err,
          f"unsupported element named ({err.strip()!r})")
    rc, out, err = d0.virsh("destroy", "t1")
    check(rc != 0 and "Requested operation is not valid: domain is not running" in err,
          f"destroy of an inactive domain ({err.strip()!r})")
    rc, out, err = d0.virsh("start", "t1")
    check(rc != 0 and "error:" in err, f"start with a missing kernel fails ({err.strip()!r})")
    check(state(d0, "t1") == "shut off", "still shut off after a failed start")
    rc, out, err = d0.virsh("domstate", "t1")
    check(d0.alive(), "daemon alive after the errors")

    # the definitions survive a restart
    check(d0.stop() == 0, "daemon exits 0 on SIGTERM")
    check(not os.path.exists(d0.sock), "socket removed on exit")
    d0.start("--no-autostart")
    rc, out, _ = d0.virsh("dominfo", "t1")
    check(uuid in out and re.search(r"Autostart:\s+enable", out) is not None,
          "definition and autostart kept across a restart")
    rc, out, err = d0.virsh("autostart", "--disable", "t1")
    check(rc == 0 and not os.path.lexists(os.path.join(d0.state, "autostart", "t1.xml")),
          "autostart --disable")
    rc, out, err = d0.virsh("undefine", "t1")
    check(rc == 0, f"undefine ({err!r})")
    rc, out, _ = d0.virsh("list", "--all")
    check(out.strip() == "", "list empty after undefine")
    check(not os.path.exists(os.path.join(d0.state, "domains", "t1.xml")), "config file removed")
    rc, out, err = d0.virsh("undefine", "t1")
    check(rc != 0 and "failed to get domain 't1'" in err, "undefine again fails")
    d0.cleanup()


def lifecycle():
    kernel = os.environ.get("TESTKERNEL")
    if not (os.environ.get("VIREO") and kernel and os.path.exists(kernel)
            and os.path.exists(os.environ["VIREO"])):
        print("lifecycle: skipped (no VIREO/TESTKERNEL)")
        return
    virt = "kvm" if os.path.exists("/dev/kvm") else "vireo"
    d = Daemon("--no-autostart")
    x = domain_xml("vm1", kernel=kernel, virt=virt,
                   cmdline="console=ttyS0 testkernel.wait=powerbutton")
    rc, out, err = d.virsh("define", xml_file("vm1.xml", x))
    check(rc == 0, f"define vm1 ({err!r})")
    rc, out, err = d.virsh("start", "vm1")
    check(rc == 0, f"start ({err.strip()!r})")
    rc, out, _ = d.virsh("list")
    check(re.search(r"1\s+vm1\s+running", out) is not None, f"list shows id 1 running ({out!r})")
    rc, live, _ = d.virsh("dumpxml", "vm1")
    check("id='1'" in live, "live XML has the id")
    con = Console(d, "vm1")
    check(con.read("waiting for power button", timeout=60),
          "guest output on virsh console: waiting for the power button")
    check(con.close() == 0, "virsh console ends on Ctrl+]")
    rc, out, err = d.virsh("start", "vm1")
    check(rc != 0 and "already active" in err, f"start twice refused ({err.strip()!r})")
    rc, out, err = d.virsh("suspend", "vm1")
    check(rc == 0 and state(d, "vm1") == "paused", f"suspend ({err.strip()!r})")
    rc, out, err = d.virsh("resume", "vm1")
    check(rc == 0 and state(d, "vm1") == "running", f"resume ({err.strip()!r})")
    rc, out, err = d.virsh("shutdown", "vm1")
    check(rc == 0, f"shutdown ({err.strip()!r})")
    check(wait_state(d, "vm1", "shut off"), "guest powered off after the ACPI power button")
    rc, out, _ = d.virsh("domstate", "--reason", "vm1")
    check("shutdown" in out, f"reason: shutdown ({out.strip()!r})")

    rc, out, err = d.virsh("start", "vm1")
    check(rc == 0, "start again")
    rc, out, err = d.virsh("destroy", "vm1")
    check(rc == 0 and state(d, "vm1") == "shut off", f"destroy ({err.strip()!r})")
    rc, out, _ = d.virsh("domstate", "--reason", "vm1")
    check("destroyed" in out, "reason: destroyed")

    # transient: create from XML, gone after destroy
    tx = domain_xml("tr1", kernel=kernel, virt=virt, cmdline="testkernel.action=halt")
    rc, out, err = d.virsh("create", xml_file("tr1.xml", tx))
    check(rc == 0, f"create (transient) ({err.strip()!r})")
    rc, out, _ = d.virsh("dominfo", "tr1")
    check(re.search(r"Persistent:\s+no", out) is not None, "transient domain is not persistent")
    rc, out, err = d.virsh("destroy", "tr1")
    rc, out, _ = d.virsh("list", "--all")
    check("tr1" not in out, "transient domain gone after destroy")

    # undefine while running: becomes transient, then disappears
    d.virsh("start", "vm1")
    rc, out, err = d.virsh("undefine", "vm1")
    check(rc == 0, f"undefine a running domain ({err.strip()!r})")
    rc, out, _ = d.virsh("list", "--all")
    check("vm1" in out, "still listed while running")
    d.virsh("destroy", "vm1")
    rc, out, _ = d.virsh("list", "--all")
    check("vm1" not in out, "gone after destroy")

    # a VM left running is stopped when the daemon exits
    d.virsh("create", xml_file("tr2.xml", domain_xml("tr2", kernel=kernel, virt=virt,
                                                      cmdline="testkernel.action=halt")))
    check(d.stop() == 0, "daemon exits 0 with a VM running")
    check(not os.path.exists(os.path.join(d.run, "tr2.qmp")), "VM stopped with the daemon")
    check(d.alive() is False, "daemon stopped")
    d.cleanup()


try:
    definitions(None)
    lifecycle()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
done()
