#!/usr/bin/env python3
"""vireod with the test kernel, through the stock virsh: disks (with a
serial), virtio-rng, virtio-balloon and a virtio console on vireo's command
line; `virsh console` showing the guest's output and typing into it; one
console session at a time (--force takes over); lifecycle events seen by
`virsh event --all --loop`. Needs VIREO and TESTKERNEL.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from vireodtest import Console, Daemon, check, done, domain_xml, skip

if not shutil.which("virsh"):
    skip("virsh not installed (apt-get install libvirt-clients)")
kernel = os.environ.get("TESTKERNEL")
if not (os.environ.get("VIREO") and kernel and os.path.exists(kernel)):
    skip("no VIREO/TESTKERNEL")

tmp = tempfile.mkdtemp(prefix="vireod-console-")
virt = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "vireo"


def xml_file(name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def disk(path, target, extra=""):
    return (f"\n    <disk type='file' device='disk'><driver name='vireo' type='raw'/>"
            f"<source file='{path}'/><target dev='{target}' bus='virtio'/>{extra}</disk>")


def wait_state(d, name, want, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if d.virsh("domstate", name)[1].strip() == want:
            return True
        time.sleep(0.1)
    return False


d = Daemon("--no-autostart")
events = subprocess.Popen(["virsh", "-c", d.uri, "event", "--all", "--loop"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    time.sleep(0.5)     # let virsh register its callbacks
    img = os.path.join(tmp, "d1.raw")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    x = domain_xml("dev1", kernel=kernel, virt=virt, console_target="virtio",
                   cmdline="console=ttyS0 testkernel.virtio=basic testkernel.action=halt",
                   extra_devices=disk(img, "vda", "<serial>VIREO-D1</serial>"))
    rc, out, err = d.virsh("define", xml_file("dev1.xml", x))
    check(rc == 0, f"define a domain with a disk ({err.strip()!r})")
    rc, out, err = d.virsh("start", "dev1")
    check(rc == 0, f"start it ({err.strip()!r})")
    con = Console(d, "dev1")
    check(con.read("virtio-console: waiting for input", timeout=30),
          "virsh console shows the guest's output")
    con.send("hello\r")
    check(con.read("virtio-console: got 6 'hello'", timeout=15),
          "typed input reaches the guest (virtio console)")
    con.read("virtio-balloon: stats", timeout=10)
    text = con.text.decode(errors="replace")
    check("virtio-blk: get-id: status 0 id 'VIREO-D1'" in text, "disk serial seen by the guest")
    check("virtio-blk: read back sector 1: status 0 match" in text, "disk written and read back")
    check(re.search(r"virtio-rng: read \d+ bytes", text) is not None, "virtio-rng present")
    check("virtio-balloon: inflate 1 page" in text, "virtio-balloon present")

    second = Console(d, "dev1", force=False)
    second.read("Active console session", timeout=10)
    check(second.close() != 0 and b"Active console session" in second.text,
          "a second console without --force is refused")
    third = Console(d, "dev1", force=True)
    third.read("Escape character", timeout=10)
    check(con.read(timeout=5) is False and con.close(timeout=5) == 0,
          "--force takes the console over: the first virsh console ends")
    third.send("x")
    check(third.close() == 0, "virsh console exits on Ctrl+]")

    rc, out, err = d.virsh("destroy", "dev1")
    check(rc == 0, "destroy")
    rc, out, err = d.virsh("console", "dev1")
    check(rc != 0 and "not running" in err, f"console of a stopped domain refused ({err.strip()!r})")

    # devices vireo cannot take are refused at start, not dropped
    cd = domain_xml("cd1", kernel=kernel, virt=virt, extra_devices=(
        "\n    <disk type='file' device='cdrom'><target dev='vdb' bus='virtio'/><readonly/></disk>"))
    d.virsh("define", xml_file("cd1.xml", cd))
    rc, out, err = d.virsh("start", "cd1")
    check(rc != 0 and "unsupported configuration" in err and "cdrom" in err,
          f"cdrom refused at start ({err.strip()!r})")
    d.virsh("undefine", "cd1")

    # a guest that powers off: shutdown, then stopped
    pb = domain_xml("pb1", kernel=kernel, virt=virt,
                    cmdline="console=ttyS0 testkernel.wait=powerbutton")
    d.virsh("define", xml_file("pb1.xml", pb))
    d.virsh("start", "pb1")
    d.virsh("suspend", "pb1")
    d.virsh("resume", "pb1")
    c2 = Console(d, "pb1")
    c2.read("waiting for power button", timeout=30)
    c2.close()
    d.virsh("shutdown", "pb1")
    check(wait_state(d, "pb1", "shut off"), "pb1 powered off")
    d.virsh("undefine", "pb1")
    time.sleep(0.5)
    d.virsh("start", "dev1")    # left running: stopped with the daemon
    check(d.stop() == 0, "clean exit with a VM running and an event client")
finally:
    events.send_signal(signal.SIGINT)
    try:
        ev_out = events.communicate(timeout=10)[0]
    except subprocess.TimeoutExpired:
        events.kill()
        ev_out = events.communicate()[0]
    d.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)

seen = re.findall(r"event 'lifecycle' for domain '?(\w+)'?: (\w+) (\w+)", ev_out)
print("     events:", seen)
for dom, ev, detail in [("dev1", "Defined", "Added"), ("dev1", "Started", "Booted"),
                        ("dev1", "Stopped", "Destroyed"), ("pb1", "Suspended", "Paused"),
                        ("pb1", "Resumed", "Unpaused"), ("pb1", "Shutdown", "Finished"),
                        ("pb1", "Stopped", "Shutdown"), ("pb1", "Undefined", "Removed")]:
    check((dom, ev, detail) in seen, f"virsh event: {dom} {ev} {detail}")
done()
