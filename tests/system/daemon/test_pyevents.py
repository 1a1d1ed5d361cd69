#!/usr/bin/python3
"""python3-libvirt lifecycle events from vireod: the default event loop,
domainEventRegisterAny for all domains and for one domain (server-side
filtering by callback ID), the legacy domainEventRegister, and
deregistration. Needs VIREO and TESTKERNEL for start/stop events.
"""
import os
import threading
import time

from vireodtest import Daemon, check, done, domain_xml, skip

try:
    import libvirt
except ImportError:
    skip("python3-libvirt not installed")
kernel = os.environ.get("TESTKERNEL")
if not (os.environ.get("VIREO") and kernel and os.path.exists(kernel)):
    skip("no VIREO/TESTKERNEL")

libvirt.registerErrorHandler(lambda ctx, err: None, None)
libvirt.virEventRegisterDefaultImpl()
stop_loop = False


def loop():
    while not stop_loop:
        libvirt.virEventRunDefaultImpl()


threading.Thread(target=loop, daemon=True).start()
virt = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "vireo"
E = libvirt

all_events, one_events, legacy_events = [], [], []
lock = threading.Lock()


def recorder(store):
    def cb(conn, dom, event, detail, opaque):
        with lock:
            store.append((dom.name(), event, detail))
    return cb


def wait_for(store, item, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with lock:
            if item in store:
                return True
        time.sleep(0.05)
    return False


d = Daemon("--no-autostart")
try:
    c = libvirt.open(d.uri)
    c.setKeepAlive(5, 3)
    cb_all = c.domainEventRegisterAny(None, E.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                      recorder(all_events), None)
    check(cb_all >= 0, "domainEventRegisterAny(all domains)")
    legacy_cb = recorder(legacy_events)
    c.domainEventRegister(legacy_cb, None)

    x1 = domain_xml("e1", kernel=kernel, virt=virt,
                    cmdline="console=ttyS0 testkernel.wait=powerbutton")
    x2 = domain_xml("e2", kernel=kernel, virt=virt, cmdline="testkernel.action=halt")
    dom1 = c.defineXML(x1)
    dom2 = c.defineXML(x2)
    cb_one = c.domainEventRegisterAny(dom2, E.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                      recorder(one_events), None)
    check(cb_one >= 0, "domainEventRegisterAny(one domain)")
    check(wait_for(all_events, ("e1", E.VIR_DOMAIN_EVENT_DEFINED,
                                E.VIR_DOMAIN_EVENT_DEFINED_ADDED)), "defined")

    dom1.create()
    check(wait_for(all_events, ("e1", E.VIR_DOMAIN_EVENT_STARTED,
                                E.VIR_DOMAIN_EVENT_STARTED_BOOTED)), "started")
    check(wait_for(legacy_events, ("e1", E.VIR_DOMAIN_EVENT_STARTED,
                                   E.VIR_DOMAIN_EVENT_STARTED_BOOTED)),
          "legacy domainEventRegister: started")
    time.sleep(1)       # the guest's ACPI driver arms the power button
    dom1.shutdown()
    check(wait_for(all_events, ("e1", E.VIR_DOMAIN_EVENT_SHUTDOWN,
                                E.VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED)), "shutdown")
    check(wait_for(all_events, ("e1", E.VIR_DOMAIN_EVENT_STOPPED,
                                E.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)), "stopped (shutdown)")

    dom2.create()
    dom2.suspend()
    dom2.resume()
    dom2.destroy()
    for ev, det, what in ((E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED, "started"),
                          (E.VIR_DOMAIN_EVENT_SUSPENDED, E.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED, "suspended"),
                          (E.VIR_DOMAIN_EVENT_RESUMED, E.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED, "resumed"),
                          (E.VIR_DOMAIN_EVENT_STOPPED, E.VIR_DOMAIN_EVENT_STOPPED_DESTROYED, "destroyed")):
        check(wait_for(one_events, ("e2", ev, det)), f"per-domain callback: e2 {what}")
    with lock:
        check(all(n == "e2" for n, _, _ in one_events),
              f"per-domain callback sees only e2 ({one_events})")

    c.domainEventDeregisterAny(cb_all)
    c.domainEventDeregisterAny(cb_one)
    c.domainEventDeregister(legacy_cb)
    with lock:
        before = len(all_events)
    dom1.undefine()
    time.sleep(0.5)
    with lock:
        check(len(all_events) == before, "no events after deregistering")
    try:
        c.domainEventDeregisterAny(cb_all)
        check(False, "deregistering twice fails")
    except libvirt.libvirtError:
        check(True, "deregistering twice fails")
    dom2.undefine()
    c.close()
    check(d.alive(), "daemon alive")
finally:
    stop_loop = True
    d.cleanup()
done()
