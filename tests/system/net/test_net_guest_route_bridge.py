"""A real guest on a routed network of vireod and on a host bridge that
`virsh iface-bridge` made of the uplink: the default guest (Debian's
kernel, busybox initramfs) on the emu engine, a domain of type 'qemu'
with two virtio-net NICs.

   H   vireod; its uplink up0 (10.99.0.1/24, default route via O), which
       `virsh iface-bridge up0 vbr0` (STP on, as libvirt's default) turns
       into a port of vbr0 that carries the address and routes
   O   the outside: out0 (10.99.0.2/24), an HTTP server that answers with
       the address it sees, a DHCP server (dnsmasq, 10.99.0.50-60)
   rt  routed network 10.230.0.0/24 (bridge vbrt, forward dev vbr0):
       the guest's eth0, <interface type='network'>
   vbr0  the guest's eth1, <interface type='bridge'>

route: no NAT: without a route back the outside cannot answer; with one
it sees the guest's own address and opens connections to the guest, which
sees the outside's own address. bridge: the guest's eth1 gets its address
from the outside's DHCP server and talks to the outside and the host
directly. cleanup: after poweroff, net-destroy, iface-unbridge and daemon
stop, up0 has its address and route back and no bridge, TAP, nftables
table, dnsmasq or process is left in H. Namespaces vn-<pid>-*; nothing
leaves them. Skips (77) without root or when the guest cannot be built.

Environment: VIREOD, VIREO, BUILD_GUEST.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestnet  # noqa: E402
from guestnet import Guest, boot, check_nothing_left, dnsmasq_pids  # noqa: E402
import vmtest  # noqa: E402
from vmtest import check, finish  # noqa: E402
from nettest import Daemon, http_get, http_server, mkdtemp, wait_for  # noqa: E402

RT = """<network><name>rt</name><forward mode='route' dev='vbr0'/><bridge name='vbrt'/>
  <ip address='10.230.0.1' prefix='24'>
    <dhcp><range start='10.230.0.100' end='10.230.0.110'/></dhcp></ip></network>"""
MAC_RT, MAC_BR = "52:54:00:9a:03:01", "52:54:00:9a:03:02"


def setup_outside(ns, tmp):
    ns.veth("h", "up0", "o", "out0")
    ns.run("h", "ip", "addr", "add", "10.99.0.1/24", "dev", "up0")
    ns.run("h", "ip", "route", "add", "default", "via", "10.99.0.2")
    ns.run("o", "ip", "addr", "add", "10.99.0.2/24", "dev", "out0")
    check(http_server(ns, "o", "0.0.0.0", 8080, sys.executable) is not None,
          "an HTTP server in the outside namespace")
    dhcp = ns.popen("o", "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                    "--port=0", "--user=root", "--interface=out0", "--bind-interfaces",
                    "--dhcp-range=10.99.0.50,10.99.0.60,255.255.255.0",
                    "--dhcp-option=option:router,10.99.0.2",
                    "--dhcp-leasefile=" + os.path.join(tmp, "outside.leases"),
                    "--pid-file=" + os.path.join(tmp, "outside.pid"),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check(dhcp.poll() is None, "a DHCP server in the outside namespace")


def port_forwarding(ns, port):
    rc, out, _ = ns.run("h", "cat", f"/sys/class/net/{port}/brport/state")
    return rc == 0 and out.strip() == "3"


def test_route(ns, gc):
    lease = gc.lease("eth0", "gc")
    check(lease and lease[0].startswith("10.230.0.1") and lease[1] == "10.230.0.1",
          f"gc gets a lease on the routed network, the bridge as router ({lease})")
    if not lease:
        return
    ip = lease[0]
    seen = gc.wget("http://10.99.0.2:8080/", seconds=4)
    check(seen is None, f"without a route back the outside cannot answer: no NAT ({seen})")
    ns.run("o", "ip", "route", "add", "10.230.0.0/24", "via", "10.99.0.1")
    seen = gc.wget("http://10.99.0.2:8080/")
    check(seen == f"peer {ip}", f"with one, the outside sees gc by its own address ({seen})")
    check(gc.serve_peer(8081), "an HTTP server in gc")
    seen = http_get(ns, "o", f"http://{ip}:8081/cgi-bin/peer")
    check(seen == "10.99.0.2",
          f"the outside opens a connection to gc at {ip}, gc sees the outside's address ({seen})")


def test_bridge(ns, gc, tmp):
    lease = gc.lease("eth1", "gc")
    ip = lease[0] if lease else ""
    octet = int(ip.rsplit(".", 1)[1]) if ip.startswith("10.99.0.") else 0
    check(50 <= octet <= 60 and lease[1] == "10.99.0.2",
          f"gc's NIC on vbr0 gets its address from the outside's DHCP server ({lease})")
    if not octet:
        return
    with open(os.path.join(tmp, "outside.leases")) as f:
        check(MAC_BR in f.read(), "the outside's dnsmasq recorded that lease for its MAC")
    seen = gc.wget("http://10.99.0.2:8080/")
    check(seen == f"peer {ip}", f"the outside sees gc by its bridged address ({seen})")
    seen = http_get(ns, "o", f"http://{ip}:8081/cgi-bin/peer")
    check(seen == "10.99.0.2", f"the outside reaches gc there directly ({seen})")
    seen = http_get(ns, "h", f"http://{ip}:8081/cgi-bin/peer")
    check(seen == "10.99.0.1", f"so does the host, from its address on vbr0 ({seen})")


def main():
    ns = guestnet.setup_or_skip()
    tmp = mkdtemp()
    d = gc = None
    try:
        ns.add("o")
        setup_outside(ns, tmp)
        d = Daemon(ns, "h", tmp)
        d.uri = f"vireo+unix:///system?socket={d.sock}"
        rc, _, err = d.virsh("iface-bridge", "up0", "vbr0")
        check(rc == 0, "virsh iface-bridge up0 vbr0 " + err.strip())
        _, link, _ = ns.run("h", "ip", "-o", "link", "show", "up0")
        _, addrs, _ = ns.run("h", "ip", "-4", "-o", "addr", "show", "dev", "vbr0")
        check("master vbr0" in link and "10.99.0.1/24" in addrs,
              "up0 is a port of vbr0, which has its address")
        check(wait_for(lambda: port_forwarding(ns, "up0"), 20), "up0 reaches STP forwarding")
        path = os.path.join(tmp, "rt.xml")
        with open(path, "w") as f:
            f.write(RT)
        rc, _, err = d.virsh("net-create", path)
        check(rc == 0, "net-create a routed network forwarding through vbr0 " + err.strip())
        gc = Guest(d, tmp, "gc", [("network", "rt", MAC_RT), ("bridge", "vbr0", MAC_BR)])
        if not boot([gc]):
            return
        out, _ = gc.run("cat /sys/class/net/eth0/address /sys/class/net/eth1/address")
        check(out.split() == [MAC_RT, MAC_BR], f"gc has eth0 and eth1 with the domain's MACs "
              f"({out.split()})")
        for br in ("vbrt", "vbr0"):
            _, ports, _ = ns.run("h", "ip", "-o", "link", "show", "master", br)
            check(" vt" in ports, f"one of its TAPs is a port of {br}")
        test_route(ns, gc)
        test_bridge(ns, gc, tmp)

        gc.poweroff()
        gone = wait_for(lambda: d.virsh("domstate", "gc")[0] != 0, 120, step=0.5)
        check(gone, "gc powers off (the transient domain is gone)")
        gc.close()
        _, links, _ = ns.run("h", "ip", "-o", "link", "show")
        check(" vt" not in links, "its TAPs were deleted")
        daemons = dnsmasq_pids(d)
        check(len(daemons) == 1, f"one dnsmasq ran, the routed network's ({daemons})")
        rc, _, err = d.virsh("net-destroy", "rt")
        check(rc == 0, "net-destroy rt " + err.strip())
        rc, _, err = d.virsh("iface-unbridge", "vbr0")
        check(rc == 0, "virsh iface-unbridge vbr0 " + err.strip())
        check(d.stop() == 0, "vireod exits cleanly")
        _, addrs, _ = ns.run("h", "ip", "-4", "-o", "addr", "show", "dev", "up0")
        _, routes, _ = ns.run("h", "ip", "-4", "route", "show")
        check("10.99.0.1/24" in addrs and "default via 10.99.0.2 dev up0" in routes,
              "up0 has its address and default route back")
        seen = http_get(ns, "h", "http://10.99.0.2:8080/")
        check(seen == "10.99.0.1", f"the host reaches the outside over up0 ({seen})")
        check_nothing_left(ns, "h", daemons)
    finally:
        if gc:
            gc.close()
        if d:
            d.virsh("destroy", "gc")
            d.stop()
            if vmtest.failures:
                print(d.text()[-3000:])
                if gc:
                    print("--- gc:\n" + gc.text()[-2000:])
        ns.close()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
