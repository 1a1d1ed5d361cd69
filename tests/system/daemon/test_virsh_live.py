#!/usr/bin/env python3
"""vireod through the stock virsh, the calls about a defined or running
domain beyond start and stop: domcapabilities/maxvcpus, domblklist,
domiflist, lookups by ID, vcpuinfo/vcpucount, dommemstat, setmem (live
balloon and config), setmaxmem, reset and reboot (the guest boots again,
same ID), and libvirt's "not supported" error for an API vireod lacks.
Needs VIREO and TESTKERNEL.
"""
import os
import re
import shutil
import tempfile
import time

import vmtest
from vireodtest import Console, Daemon, check, done, domain_xml, skip

if not shutil.which("virsh"):
    skip("virsh not installed (apt-get install libvirt-clients)")
kernel = os.environ.get("TESTKERNEL")
if not (os.environ.get("VIREO") and kernel and os.path.exists(kernel)):
    skip("no VIREO/TESTKERNEL")

tmp = tempfile.mkdtemp(prefix="vireod-live-")
virt = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "vireo"


def xml_file(name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def info(d, dom):
    return dict(re.findall(r"^([^:]+):\s+(.*)$", d.virsh("dominfo", dom)[1], re.M))


def vm_pid(d, name):
    """The VM's pid from vireod's run file, or None while there is none (a
    reboot removes the old one before the new VM writes its own)."""
    try:
        with open(os.path.join(d.run, f"{name}.pid")) as f:
            return int(f.read().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def wait_for(pred, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


d = Daemon("--no-autostart")
try:
    # host questions
    rc, out, err = d.virsh("domcapabilities")
    check(rc == 0 and "<vcpu max='64'/>" in out and "<arch>x86_64</arch>" in out,
          f"domcapabilities ({err.strip()!r})")
    rc, out, err = d.virsh("domcapabilities", "--arch", "aarch64")
    check(rc != 0 and "invalid argument: architecture 'aarch64'" in err,
          f"domcapabilities for another arch refused ({err.strip()!r})")
    rc, out, err = d.virsh("maxvcpus")
    check(rc == 0 and out.strip() == "64", f"maxvcpus ({out.strip()!r} {err.strip()!r})")

    img = os.path.join(tmp, "d1.raw")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    devices = (f"\n    <disk type='file' device='disk'><driver name='vireo' type='raw'/>"
               f"<source file='{img}'/><target dev='vda' bus='virtio'/></disk>")
    nic = ("\n    <interface type='bridge'><mac address='52:54:00:12:34:56'/>"
           "<source bridge='vireotestbr0'/><model type='virtio'/></interface>")
    x = domain_xml("live1", kernel=kernel, virt=virt, memory_mib=64,
                   cmdline="console=ttyS0 testkernel.wait=powerbutton", extra_devices=devices)
    x = x.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
    rc, out, err = d.virsh("define", xml_file("live1.xml", x))
    check(rc == 0, f"define ({err.strip()!r})")
    rc, out, err = d.virsh("define", xml_file("if1.xml", domain_xml("if1", extra_devices=nic)))
    check(rc == 0, f"define a domain with an interface ({err.strip()!r})")

    # per-device queries read the XML
    rc, out, err = d.virsh("domblklist", "live1")
    check(rc == 0 and re.search(rf"vda\s+{re.escape(img)}", out) is not None,
          f"domblklist ({out!r} {err.strip()!r})")
    rc, out, err = d.virsh("domiflist", "if1")
    check(rc == 0 and re.search(r"bridge\s+vireotestbr0\s+virtio\s+52:54:00:12:34:56", out)
          is not None, f"domiflist ({out!r} {err.strip()!r})")
    rc, out, err = d.virsh("vcpuinfo", "live1")
    check(rc == 0 and out.count("State:          N/A") == 2 and "CPU Affinity:" in out,
          f"vcpuinfo of a shut-off domain: the configured affinity ({out!r} {err.strip()!r})")
    rc, out, err = d.virsh("dommemstat", "live1")
    check(rc != 0 and "domain is not running" in err, f"dommemstat of a shut-off domain ({err.strip()!r})")

    rc, out, err = d.virsh("start", "live1")
    check(rc == 0, f"start ({err.strip()!r})")
    con = Console(d, "live1")
    check(con.read("waiting for power button", timeout=60), "guest up: waiting for the power button")

    # lookups by ID
    rc, out, _ = d.virsh("domid", "live1")
    dom_id = out.strip()
    rc, out, err = d.virsh("domname", dom_id)
    check(rc == 0 and out.strip() == "live1", f"domname {dom_id} (LOOKUP_BY_ID) ({err.strip()!r})")
    check(info(d, dom_id).get("Name") == "live1", "dominfo by ID")
    rc, out, err = d.virsh("domname", "999")
    check(rc != 0 and "failed to get domain '999'" in err, f"unknown ID ({err.strip()!r})")

    # vCPUs
    rc, out, err = d.virsh("vcpuinfo", "live1")
    check(rc == 0 and out.count("State:          running") == 2 and "VCPU:           1" in out,
          f"vcpuinfo: two running vCPUs ({out!r} {err.strip()!r})")
    rc, out, err = d.virsh("vcpucount", "live1")
    check(rc == 0 and re.search(r"current\s+live\s+2", out) is not None, f"vcpucount ({out!r})")

    # memory: the balloon while running, the config for the next start
    rc, out, err = d.virsh("dommemstat", "live1")
    stats = dict(re.findall(r"^(\S+) (\d+)$", out, re.M))
    check(rc == 0 and stats.get("actual") == "65536" and int(stats.get("rss", "0")) > 0,
          f"dommemstat: actual and rss ({out!r} {err.strip()!r})")
    rc, out, err = d.virsh("setmem", "live1", "32M")
    check(rc == 0, f"setmem 32M (live balloon) ({err.strip()!r})")
    check(info(d, "live1").get("Used memory") == "32768 KiB", "dominfo shows the balloon target")
    rc, out, _ = d.virsh("dumpxml", "live1")
    check("<currentMemory unit='KiB'>32768</currentMemory>" in out, "live XML has the balloon target")
    rc, out, _ = d.virsh("dumpxml", "--inactive", "live1")
    check("<currentMemory unit='KiB'>65536</currentMemory>" in out, "config unchanged by a live setmem")
    rc, out, err = d.virsh("setmem", "live1", "128M")
    check(rc != 0 and "error:" in err, f"setmem above the maximum refused ({err.strip()!r})")
    rc, out, err = d.virsh("setmem", "live1", "48M", "--config")
    rc2, out, _ = d.virsh("dumpxml", "--inactive", "live1")
    check(rc == 0 and "<currentMemory unit='KiB'>49152</currentMemory>" in out,
          f"setmem --config changes the next start's memory ({err.strip()!r})")
    rc, out, err = d.virsh("setmaxmem", "live1", "128M")
    check(rc != 0 and "cannot resize the maximum memory on an active domain" in err,
          f"setmaxmem of a running domain refused ({err.strip()!r})")
    rc, out, err = d.virsh("setmaxmem", "live1", "96M", "--config")
    rc2, out, _ = d.virsh("dumpxml", "--inactive", "live1")
    check(rc == 0 and "<memory unit='KiB'>98304</memory>" in out, f"setmaxmem --config ({err.strip()!r})")

    # reset: the same process starts the guest over
    pid = vm_pid(d, "live1")
    check(pid is not None, "the running domain's VM has its pid file")
    rc, out, err = d.virsh("reset", "live1")
    check(rc == 0, f"reset ({err.strip()!r})")
    check(wait_for(lambda: (con.read(timeout=0.2) or True) and
                   con.text.count(b"waiting for power button") >= 2),
          "after reset the guest boots again (console)")
    check(vm_pid(d, "live1") == pid, "reset keeps the vireo process")

    # paused: no reset
    d.virsh("suspend", "live1")
    rc, out, err = d.virsh("reset", "live1")
    check(rc != 0 and "domain is paused" in err, f"reset of a paused domain refused ({err.strip()!r})")
    d.virsh("resume", "live1")
    con.close()

    # reboot: the power button, the guest powers off, vireod starts it again
    rc, out, err = d.virsh("reboot", "live1")
    check(rc == 0, f"reboot ({err.strip()!r})")
    check(wait_for(lambda: vm_pid(d, "live1") not in (None, pid)),
          "reboot: a new vireo process")
    rc, out, _ = d.virsh("domid", "live1")
    check(out.strip() == dom_id, f"reboot keeps the domain ID ({out.strip()!r})")
    check(d.virsh("domstate", "live1")[1].strip() == "running", "running after the reboot")
    con = Console(d, "live1")
    check(con.read("waiting for power button", timeout=60), "the rebooted guest is up")
    con.close()
    rc, out, err = d.virsh("reboot", "--mode", "agent", "live1")
    check(rc != 0 and "unsupported flags" in err, f"reboot --mode agent refused ({err.strip()!r})")

    # an API vireod lacks: libvirt's "not supported" with its name
    rc, out, err = d.virsh("save", "live1", os.path.join(tmp, "save.img"))
    check(rc != 0 and "this function is not supported by the connection driver: virDomainSave"
          in err, f"save: not supported, named ({err.strip()!r})")
    rc, out, err = d.virsh("setvcpus", "live1", "1")
    check(rc != 0 and "not supported by the connection driver: virDomainSetVcpus" in err,
          f"setvcpus: not supported, named ({err.strip()!r})")
    check(d.virsh("domstate", "live1")[1].strip() == "running", "still running after them")

    # the next start takes the config changed above
    rc, out, err = d.virsh("destroy", "live1")
    check(rc == 0, "destroy")
    i = info(d, "live1")
    check(i.get("Max memory") == "98304 KiB" and i.get("Used memory") == "49152 KiB",
          f"config memory in effect once shut off ({i})")
    check(d.stop() == 0, "clean exit")
finally:
    if vmtest.failures:
        print("vireod's log:\n" + d.text()[-4000:])
    d.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
done()
