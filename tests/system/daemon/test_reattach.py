#!/usr/bin/env python3
"""vireod restarts without losing its VMs: two VMs running (one persistent,
one transient), vireod killed with SIGKILL, started again on the same
directories: both are listed running with their old IDs, destroy works on
a reattached VM, a reattached VM that dies is noticed (pidfd), the console
reconnects, new domains get new IDs, and stale run files are cleaned up.
Needs VIREO and TESTKERNEL.
"""
import os
import re
import shutil
import signal
import tempfile
import time

from vireodtest import Console, Daemon, check, done, domain_xml, skip

if not shutil.which("virsh"):
    skip("virsh not installed (apt-get install libvirt-clients)")
kernel = os.environ.get("TESTKERNEL")
if not (os.environ.get("VIREO") and kernel and os.path.exists(kernel)):
    skip("no VIREO/TESTKERNEL")

tmp = tempfile.mkdtemp(prefix="vireod-reattach-")
virt = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "vireo"


def xml_file(name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def listing(d):
    out = d.virsh("list", "--all")[1]
    return {m.group(2): (m.group(1), m.group(3))
            for m in re.finditer(r"^\s*(\S+)\s+(\S+)\s+(\S.*?)\s*$", out, re.M)}


def wait_state(d, name, want, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if d.virsh("domstate", name)[1].strip() == want:
            return True
        time.sleep(0.1)
    return False


def vm_pid(d, name):
    with open(os.path.join(d.run, name + ".pid")) as f:
        return int(f.read().split()[0])


def restart_hard(d):
    d.proc.kill()       # SIGKILL: no clean-up at all
    d.proc.wait()
    d.log.close()
    d.start("--no-autostart")


d = Daemon("--no-autostart")
try:
    halt = "console=ttyS0 testkernel.action=halt"
    d.virsh("define", xml_file("r1.xml", domain_xml("r1", kernel=kernel, virt=virt, cmdline=halt)))
    check(d.virsh("start", "r1")[0] == 0, "start persistent r1")
    check(d.virsh("create", xml_file("r2.xml", domain_xml("r2", kernel=kernel, virt=virt,
                                                          cmdline=halt)))[0] == 0,
          "create transient r2")
    d.virsh("suspend", "r2")
    before = listing(d)
    pids = {n: vm_pid(d, n) for n in ("r1", "r2")}

    restart_hard(d)
    after = listing(d)
    check(after.get("r1") == before.get("r1") and after["r1"][1] == "running",
          f"r1 running with its id after the restart ({after.get('r1')})")
    check(after.get("r2") == before.get("r2") and after["r2"][1] == "paused",
          f"r2 (transient) paused with its id after the restart ({after.get('r2')})")
    rc, out, _ = d.virsh("dominfo", "r2")
    check(re.search(r"Persistent:\s+no", out) is not None, "r2 still transient")
    check(all(os.path.exists(f"/proc/{p}") for p in pids.values()), "the VMs were not restarted")
    text = d.text()
    check("reattached to pid" in text, "the log says so")

    con = Console(d, "r1")
    seen = con.read("Escape character", timeout=10)
    status = con.close()
    check(seen and status == 0, f"virsh console on a reattached VM ({status}, {con.text[-300:]!r})")
    rc, out, err = d.virsh("resume", "r2")
    check(rc == 0 and wait_state(d, "r2", "running"), f"resume a reattached VM ({err.strip()!r})")

    # a second restart keeps them too
    restart_hard(d)
    check(listing(d).get("r1") == before.get("r1"), "r1 survives a second restart")

    # reboot of a VM that is not vireod's child: the default mode resets
    # it in place, an ACPI reboot (which needs its exit status) is refused
    rc, out, err = d.virsh("reboot", "--mode", "acpi", "r1")
    check(rc != 0 and "Operation not supported" in err, f"ACPI reboot of a reattached VM refused ({err.strip()!r})")
    rc, out, err = d.virsh("reboot", "r1")
    check(rc == 0 and vm_pid(d, "r1") == pids["r1"] and wait_state(d, "r1", "running"),
          f"default reboot of a reattached VM: reset, same process ({err.strip()!r})")

    rc, out, err = d.virsh("destroy", "r2")
    check(rc == 0, f"destroy a reattached VM ({err.strip()!r})")
    check("r2" not in listing(d), "transient r2 gone after destroy")
    check(not os.path.exists(f"/proc/{pids['r2']}") or
          open(f"/proc/{pids['r2']}/stat").read().split()[2] == "Z", "its vireo exited")

    # a reattached VM killed from outside is noticed
    os.kill(pids["r1"], signal.SIGKILL)
    check(wait_state(d, "r1", "shut off"), "a reattached VM that dies is seen shut off")
    check(not os.path.exists(os.path.join(d.run, "r1.pid")), "its run files are removed")

    # new ids continue after the reattached ones
    d.virsh("start", "r1")
    rid = listing(d).get("r1", ("?",))[0]
    check(rid.isdigit() and int(rid) > int(before["r2"][0]), f"new id {rid} above the old ones")

    # stale run files (a VM that is gone) are cleaned up at start-up
    d.virsh("destroy", "r1")
    with open(os.path.join(d.run, "ghost.pid"), "w") as f:
        f.write("999999 7\n")
    restart_hard(d)
    check(not os.path.exists(os.path.join(d.run, "ghost.pid")), "stale pid file removed")
    check("ghost" not in listing(d), "no ghost domain")
    check(d.alive(), "daemon alive")
    check(d.stop() == 0, "clean exit")
finally:
    d.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
done()
