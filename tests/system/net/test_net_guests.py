"""Two real guests on a NAT and an isolated network of vireod: the default
guest (Debian's kernel, busybox initramfs) on the emu engine, as domains
of type 'qemu' with two virtio-net NICs each, booted at once.

   H   vireod; its uplink up0 (10.99.0.1/24, default route via O)
   O   the outside: out0 (10.99.0.2/24), an HTTP server that answers with
       the address it sees
   nt  NAT network 10.231.0.0/24 (bridge vbnt): eth0 of both guests
   is  isolated network 10.232.0.0/24 (bridge vbis): eth1 of both guests

nat: each guest gets a lease from the network's dnsmasq (`virsh
net-dhcp-leases` shows both, with their host names), resolves the other
guest's host name and the network's <dns><host> names through it, reaches the outside server, which sees the
host's address (masquerade), and the outside cannot open a connection in.
isolated: the guests get leases without a default route, reach each
other (ping, HTTP) and resolve each other's names, but not the outside,
not even with a route through the network's gateway, and the outside
cannot reach them. cleanup: after poweroff, net-destroy and daemon stop
no bridge, TAP, nftables table, dnsmasq or any process is left in H.
Namespaces vn-<pid>-*; nothing leaves them. Skips (77) without root or
when the guest cannot be built (no apt).

Environment: VIREOD, VIREO, BUILD_GUEST.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestnet  # noqa: E402
from guestnet import Guest, boot, check_nothing_left, dnsmasq_pids  # noqa: E402
import vmtest  # noqa: E402
from vmtest import check, finish  # noqa: E402
from nettest import Daemon, http_get, http_server, mkdtemp, wait_for  # noqa: E402

NETS = {
    "nt": """<network><name>nt</name><forward mode='nat'/><bridge name='vbnt'/>
  <dns><host ip='10.99.0.2'><hostname>outside</hostname><hostname>www.outside.test</hostname>
  </host></dns>
  <ip address='10.231.0.1' prefix='24'>
    <dhcp><range start='10.231.0.100' end='10.231.0.110'/></dhcp></ip></network>""",
    "is": """<network><name>is</name><bridge name='vbis'/>
  <ip address='10.232.0.1' prefix='24'>
    <dhcp><range start='10.232.0.100' end='10.232.0.110'/></dhcp></ip></network>""",
}
MACS = {"ga": ("52:54:00:9a:01:01", "52:54:00:9a:01:02"),
        "gb": ("52:54:00:9a:02:01", "52:54:00:9a:02:02")}


def test_nat(ns, d, ga, gb):
    la, lb = ga.lease("eth0", "ga"), gb.lease("eth0", "gb")
    for g, lease in ((ga, la), (gb, lb)):
        check(lease and lease[0].startswith("10.231.0.1") and lease[1] == "10.231.0.1" and
              lease[2] == "10.231.0.1",
              f"{g.name} gets a NAT lease with the bridge as router and DNS server ({lease})")
    if not (la and lb):
        return None
    _, leases, _ = d.virsh("net-dhcp-leases", "nt")
    rows = [line.split() for line in leases.splitlines()]
    for name, lease in (("ga", la), ("gb", lb)):
        check(any(MACS[name][0] in r and lease[0] + "/24" in r and name in r for r in rows),
              f"virsh net-dhcp-leases nt shows {name}: {MACS[name][0]}, {lease[0]}/24")
    seen = ga.resolve("gb", "10.231.0.1")
    check(seen == lb[0], f"ga resolves gb's host name through dnsmasq ({seen})")
    seen = gb.resolve("ga", "10.231.0.1")
    check(seen == la[0], f"gb resolves ga's host name through dnsmasq ({seen})")
    _, xml, _ = d.virsh("net-dumpxml", "nt")
    check("<hostname>www.outside.test</hostname>" in xml,
          "net-dumpxml nt shows the network's <dns><host>")
    seen = ga.resolve("www.outside.test", "10.231.0.1")
    check(seen == "10.99.0.2", f"ga resolves a <dns><host> name of the network ({seen})")
    seen = gb.resolve("outside", "10.231.0.1")
    check(seen == "10.99.0.2", f"gb resolves its other name ({seen})")
    check(gb.ping(la[0]), "gb reaches ga on the NAT network")
    seen = ga.wget("http://10.99.0.2:8080/")
    check(seen == "peer 10.99.0.1",
          f"ga reaches the outside server, which sees the host's address ({seen})")
    seen = gb.wget("http://10.99.0.2:8080/")
    check(seen == "peer 10.99.0.1", f"so does gb ({seen})")
    # Inward: even with a route to the network, the outside gets nowhere.
    check(ga.serve_peer(8081), "an HTTP server in ga")
    ns.run("o", "ip", "route", "add", "10.231.0.0/24", "via", "10.99.0.1")
    seen = http_get(ns, "o", f"http://{la[0]}:8081/cgi-bin/peer", timeout=4)
    check(seen is None, f"the outside cannot open a connection to ga in the NAT network ({seen})")
    seen = gb.wget(f"http://{la[0]}:8081/cgi-bin/peer")
    check(seen == f"peer {lb[0]}", f"gb can, and ga sees gb's address ({seen})")
    return la, lb


def test_isolated(ns, d, ga, gb):
    ia, ib = ga.lease("eth1", "ga"), gb.lease("eth1", "gb")
    for g, lease in ((ga, ia), (gb, ib)):
        check(lease and lease[0].startswith("10.232.0.1") and lease[1] == "none" and
              lease[2] == "10.232.0.1",
              f"{g.name} gets an isolated lease, no router offered, the bridge for DNS ({lease})")
    if not (ia and ib):
        return
    _, leases, _ = d.virsh("net-dhcp-leases", "is")
    check(MACS["ga"][1] in leases and MACS["gb"][1] in leases and ia[0] in leases and
          ib[0] in leases, "virsh net-dhcp-leases is shows both")
    check(ga.ping(ib[0]), f"ga reaches gb on the isolated network ({ib[0]})")
    seen = gb.wget(f"http://{ia[0]}:8081/cgi-bin/peer")
    check(seen == f"peer {ib[0]}", f"gb opens a connection to ga there ({seen})")
    seen = ga.resolve("gb", "10.232.0.1")
    check(seen == ib[0], f"ga resolves gb through the isolated network's dnsmasq ({seen})" +
          ("" if seen else ": " + ga.last.strip().replace("\n", " | ")))
    # Only the isolated network left, and the outside routed through its
    # gateway (the host, which forwards): still nothing gets out.
    ga.run("ip link set eth0 down && ip route replace default via 10.232.0.1 dev eth1")
    _, routes = ga.run("ip route show default | grep -q 'via 10.232.0.1 dev eth1'")
    check(routes == 0, "ga routes everything through the isolated network's gateway")
    # The host itself stays reachable (its input is the host's policy, as
    # with libvirt); forwarding is what an isolated network refuses.
    check(ga.ping("10.232.0.1"), "ga reaches the host's address on the network")
    seen = ga.wget("http://10.99.0.2:8080/", seconds=4)
    check(seen is None, f"ga does not reach the outside server ({seen})")
    check(not ga.ping("10.99.0.2"), "nor the outside's address by ping")
    ns.run("o", "ip", "route", "add", "10.232.0.0/24", "via", "10.99.0.1")
    seen = http_get(ns, "o", f"http://{ia[0]}:8081/cgi-bin/peer", timeout=4)
    check(seen is None, f"the outside does not reach ga's server with a route ({seen})")
    rc, _, _ = ns.run("o", "ping", "-c", "2", "-W", "2", ib[0])
    check(rc != 0, "nor gb by ping")


def main():
    ns = guestnet.setup_or_skip()
    tmp = mkdtemp()
    d = None
    guests = []
    try:
        ns.add("o")
        ns.veth("h", "up0", "o", "out0")
        ns.run("h", "ip", "addr", "add", "10.99.0.1/24", "dev", "up0")
        ns.run("h", "ip", "route", "add", "default", "via", "10.99.0.2")
        ns.run("o", "ip", "addr", "add", "10.99.0.2/24", "dev", "out0")
        check(http_server(ns, "o", "0.0.0.0", 8080, sys.executable) is not None,
              "an HTTP server in the outside namespace")
        d = Daemon(ns, "h", tmp)
        d.uri = f"vireo+unix:///system?socket={d.sock}"
        for name, xml in NETS.items():
            path = os.path.join(tmp, name + ".xml")
            with open(path, "w") as f:
                f.write(xml)
            rc, _, err = d.virsh("net-create", path)
            check(rc == 0, f"net-create {name} " + err.strip())
        guests = [Guest(d, tmp, name, [("network", "nt", MACS[name][0]),
                                       ("network", "is", MACS[name][1])])
                  for name in ("ga", "gb")]
        if not boot(guests):
            return
        ga, gb = guests
        for g in guests:
            out, _ = g.run("cat /sys/class/net/eth0/address /sys/class/net/eth1/address")
            check(out.split() == list(MACS[g.name]),
                  f"{g.name} has eth0 and eth1 with the domain's MACs ({out.split()})")
        test_nat(ns, d, ga, gb)
        test_isolated(ns, d, ga, gb)

        for g in guests:
            g.poweroff()
        for g in guests:
            gone = wait_for(lambda: d.virsh("domstate", g.name)[0] != 0, 120, step=0.5)
            check(gone, f"{g.name} powers off (the transient domain is gone)")
            g.close()
        _, links, _ = ns.run("h", "ip", "-o", "link", "show")
        check(" vt" not in links, "their TAPs were deleted")
        daemons = dnsmasq_pids(d)
        check(len(daemons) == 2, f"two dnsmasqs ran, one a network ({daemons})")
        for name in NETS:
            rc, _, err = d.virsh("net-destroy", name)
            check(rc == 0, f"net-destroy {name} " + err.strip())
        check(d.stop() == 0, "vireod exits cleanly")
        check_nothing_left(ns, "h", daemons)
    finally:
        for g in guests:
            g.close()
        if d:
            for g in guests:
                d.virsh("destroy", g.name)
            d.stop()
            if vmtest.failures:
                print(d.text()[-3000:])
                for g in guests:
                    print(f"--- {g.name}:\n" + g.text()[-2000:])
        ns.close()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
