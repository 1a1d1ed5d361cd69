"""vireod's forward modes and host interfaces against an outside world, in
network namespaces of the test's own (vn-<pid>-*):

   H   vireod; its uplink up0 (10.99.0.1/24, default route via O)
   O   the outside: out0 (10.99.0.2/24), an HTTP server that answers with
       the address it sees, a DHCP server (dnsmasq) for 10.99.0.50-60
   R, N, I, B   clients (busybox udhcpc) on a routed, a NAT, an isolated
       network, and on the bridge `virsh iface-bridge up0 vbr0` makes

route: the outside reaches the client by its own address given a route,
and sees its own address; nat: the outside sees the host's address and
cannot open a connection in; isolated: no outside reach at all; bridge:
the client on the bridge gets its lease from O's DHCP server, the host
keeps its address and default route on the bridge, `iface-unbridge` puts
them back. Bad input gives libvirt-style errors and changes nothing. With
VIREO and TESTKERNEL a guest on a <forward mode='bridge'> network sends a
frame that reaches O through vbr0. Finally nothing is left behind.
Skips (77) only when namespaces cannot be created (not root).
"""
import os
import select
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import vmtest  # noqa: E402
from vmtest import check, finish  # noqa: E402
from nettest import (Daemon, Namespaces, RawClient, http_get, http_server,  # noqa: E402
                     leased_addr, mkdtemp, udhcpc, udhcpc_script, wait_for, xdr_string)

PY = sys.executable


def net_xml(name, bridge, third, mode=None, dev=None):
    fwd = ""
    if mode:
        fwd = f"<forward mode='{mode}'" + (f" dev='{dev}'" if dev else "") + "/>"
    return f"""<network><name>{name}</name>{fwd}<bridge name='{bridge}'/>
  <ip address='10.{third}.0.1' prefix='24'>
    <dhcp><range start='10.{third}.0.100' end='10.{third}.0.110'/></dhcp></ip>
</network>"""


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def setup_outside(ns, tmp):
    ns.veth("h", "up0", "o", "out0")
    ns.run("h", "ip", "addr", "add", "10.99.0.1/24", "dev", "up0")
    ns.run("h", "ip", "route", "add", "default", "via", "10.99.0.2")
    # A second address and a static route: iface-bridge moves them too.
    ns.run("h", "ip", "addr", "add", "10.98.0.1/24", "dev", "up0")
    ns.run("h", "ip", "route", "add", "10.55.0.0/16", "via", "10.99.0.2")
    ns.run("o", "ip", "addr", "add", "10.99.0.2/24", "dev", "out0")
    server = http_server(ns, "o", "0.0.0.0", 8080, PY)
    check(server is not None, "an HTTP server in the outside namespace")
    dhcp = ns.popen("o", "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                    "--port=0", "--user=root", "--interface=out0", "--bind-interfaces",
                    "--dhcp-range=10.99.0.50,10.99.0.60,255.255.255.0",
                    "--dhcp-option=option:router,10.99.0.2",
                    "--dhcp-leasefile=" + os.path.join(tmp, "outside.leases"),
                    "--pid-file=" + os.path.join(tmp, "outside.pid"),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check(dhcp.poll() is None, "a DHCP server in the outside namespace")


def client_on(ns, d, role, bridge, mac, script):
    """Namespace `role` with eth0 on `bridge` in H; its address by DHCP."""
    ns.add(role)
    ns.veth("h", "vh" + role, role, "eth0", mac)
    ns.run("h", "ip", "link", "set", "vh" + role, "master", bridge)
    rc, out = udhcpc(ns, role, "eth0", script, hostname="client-" + role)
    return leased_addr(out) if rc == 0 else None


def test_route(ns, d, tmp, script):
    rc, _, err = d.virsh("net-create", write(tmp, "rt.xml",
                                             net_xml("rt", "vbrt", 230, "route", "up0")))
    check(rc == 0, "net-create a routed network (forward dev up0) " + err.strip())
    _, rules, _ = ns.run("h", "nft", "list", "table", "ip", "vireo_vbrt")
    check("masquerade" not in rules and 'oifname "up0"' in rules,
          "its table forwards through up0 without masquerading")
    ip = client_on(ns, d, "r", "vbrt", "52:54:00:00:02:30", script)
    check(ip and ip.startswith("10.230.0.1"), f"the routed client has a lease ({ip})")
    # No NAT: the outside needs a route to the network to answer at all.
    seen = http_get(ns, "r", "http://10.99.0.2:8080/", timeout=3)
    check(seen is None, "without a route back the outside cannot answer (no NAT)")
    ns.run("o", "ip", "route", "add", "10.230.0.0/24", "via", "10.99.0.1")
    seen = http_get(ns, "r", "http://10.99.0.2:8080/")
    check(seen == ip, f"the outside sees the routed client by its own address ({seen})")
    server = http_server(ns, "r", "0.0.0.0", 8081, PY)
    seen = http_get(ns, "o", f"http://{ip}:8081/")
    check(server is not None and seen == "10.99.0.2",
          f"the outside opens a connection to the client at {ip} ({seen})")
    return ip


def test_nat(ns, d, tmp, script):
    rc, _, err = d.virsh("net-create", write(tmp, "nt.xml", net_xml("nt", "vbnt", 231, "nat")))
    check(rc == 0, "net-create a NAT network " + err.strip())
    ip = client_on(ns, d, "n", "vbnt", "52:54:00:00:02:31", script)
    check(ip and ip.startswith("10.231.0.1"), f"the NAT client has a lease ({ip})")
    seen = http_get(ns, "n", "http://10.99.0.2:8080/")
    check(seen == "10.99.0.1", f"the outside sees the host's address ({seen})")
    ns.run("o", "ip", "route", "add", "10.231.0.0/24", "via", "10.99.0.1")
    http_server(ns, "n", "0.0.0.0", 8081, PY)
    seen = http_get(ns, "o", f"http://{ip}:8081/", timeout=4)
    check(seen is None, "the outside cannot open a connection into the NAT network")


def test_isolated(ns, d, tmp, script):
    rc, _, err = d.virsh("net-create", write(tmp, "is.xml", net_xml("is", "vbis", 232)))
    check(rc == 0, "net-create an isolated network " + err.strip())
    ip = client_on(ns, d, "i", "vbis", "52:54:00:00:02:32", script)
    check(ip and ip.startswith("10.232.0.1"), f"the isolated client has a lease ({ip})")
    seen = http_get(ns, "i", "http://10.99.0.2:8080/", timeout=4)
    check(seen is None, "the isolated client does not reach the outside")


def addrs(ns, dev):
    return ns.run("h", "ip", "-4", "-o", "addr", "show", "dev", dev)[1]


def routes(ns):
    return ns.run("h", "ip", "-4", "route", "show")[1]


def port_forwarding(ns, port):
    """The bridge port's STP state is forwarding (3)."""
    rc, out, _ = ns.run("h", "cat", f"/sys/class/net/{port}/brport/state")
    return rc == 0 and out.strip() == "3"


def test_bad_iface_input(ns, d, tmp):
    before_addrs, before_routes = addrs(ns, "up0"), routes(ns)
    rc, _, err = d.virsh("iface-bridge", "nosuch0", "vbr0")
    check(rc != 0 and "failed to get interface 'nosuch0'" in err,
          "iface-bridge of a NIC that does not exist: " + err.strip().replace("\n", " | "))
    rc, _, err = d.virsh("iface-bridge", "up0", "vbrt")
    check(rc != 0 and "already exists" in err,
          "iface-bridge onto a bridge name in use: " + err.strip().replace("\n", " | "))
    d.virsh("net-define", write(tmp, "held.xml", net_xml("held", "vbheld", 233)))
    rc, _, err = d.virsh("iface-bridge", "up0", "vbheld")
    check(rc != 0 and "already in use by network 'held'" in err,
          "iface-bridge onto a network's bridge name: " + err.strip().replace("\n", " | "))
    d.virsh("net-undefine", "held")
    ov = "<network><name>ov</name><bridge name='vbov'/><ip address='10.99.128.1' prefix='16'/>" \
         "</network>"
    rc, _, err = d.virsh("net-define", write(tmp, "ov.xml", ov))
    check(rc == 0, "a network overlapping the uplink's subnet can be defined (not started)")
    rc, _, err = d.virsh("iface-bridge", "up0", "vbr0")
    check(rc != 0 and "overlaps network 'ov'" in err,
          "iface-bridge whose address overlaps a network: " + err.strip().replace("\n", " | "))
    d.virsh("net-undefine", "ov")
    rc, _, err = d.virsh("iface-define", write(tmp, "bad.xml", "<interface type='bridge'"))
    check(rc != 0 and "XML error" in err, "malformed interface XML: " +
          err.strip().replace("\n", " | "))
    rc, _, err = d.virsh("iface-define", write(tmp, "bond.xml",
                                               "<interface type='bond' name='bond0'/>"))
    check(rc != 0 and "unsupported configuration" in err, "a bond is unsupported")
    rc, _, err = d.virsh("iface-define", write(tmp, "gw.xml",
                                               "<interface type='ethernet' name='up0'><protocol "
                                               "family='ipv4'><ip address='10.99.0.1' prefix='24'/>"
                                               "<route gateway='10.1.2.3'/></protocol></interface>"))
    check(rc != 0 and "gateway 10.1.2.3" in err, "an unreachable gateway is refused")
    # A bridge whose port is missing: defined, but it does not start.
    rc, _, err = d.virsh("iface-define", write(tmp, "np.xml", "<interface type='bridge' "
                                               "name='vbnp'><bridge><interface type='ethernet' "
                                               "name='nosuch0'/></bridge></interface>"))
    rc2, _, err2 = d.virsh("iface-start", "vbnp")
    check(rc == 0 and rc2 != 0 and "'nosuch0' does not exist" in err2,
          "a bridge with a missing port fails to start: " + err2.strip().replace("\n", " | "))
    rc, out, _ = d.virsh("iface-list", "--all")
    check("vbnp" in out and "inactive" in out, "it is listed as inactive")
    d.virsh("iface-undefine", "vbnp")
    rc, _, err = d.virsh("iface-start", "lo")
    check(rc != 0 and "not defined through vireod" in err,
          "vireod does not start interfaces it did not define")
    check(ns.run("h", "ip", "link", "show", "vbr0")[0] != 0 and
          ns.run("h", "ip", "link", "show", "vbnp")[0] != 0 and
          addrs(ns, "up0") == before_addrs and routes(ns) == before_routes,
          "after all of these: no bridge made, up0's addresses and routes untouched")
    check(sorted(os.listdir(os.path.join(d.state, "interfaces"))) == [],
          "and no interface definition kept")


def test_bridge(ns, d, tmp, script):
    rc, out, _ = d.virsh("iface-list")
    check(rc == 0 and "up0" in out and "active" in out, "iface-list shows the uplink")
    rc, xml, _ = d.virsh("iface-dumpxml", "up0")
    check("<ip address='10.99.0.1' prefix='24'/>" in xml and
          "<route gateway='10.99.0.2'/>" in xml, "iface-dumpxml shows its address and gateway")
    rc, mac, _ = d.virsh("iface-mac", "up0")
    rc2, name, _ = d.virsh("iface-name", mac.strip())
    check(rc == 0 and rc2 == 0 and name.strip() == "up0",
          f"iface-mac / iface-name ({mac.strip()} is {name.strip()})")
    rc, _, err = d.virsh("iface-name", "02:00:00:00:00:99")
    check(rc != 0 and "Interface not found" in err, "iface-name of an unknown MAC")
    test_bad_iface_input(ns, d, tmp)

    # Without STP first: ports forward at once (the test kernel's guest
    # sends its one frame right after boot).
    rc, out, err = d.virsh("iface-bridge", "up0", "vbr0", "--no-stp")
    check(rc == 0, "virsh iface-bridge up0 vbr0 --no-stp " + err.strip())
    _, link, _ = ns.run("h", "ip", "-o", "link", "show", "up0")
    check("master vbr0" in link, "up0 is a port of vbr0")
    check("10.99.0.1/24" in addrs(ns, "vbr0") and "10.99.0.1" not in addrs(ns, "up0"),
          "the address moved from up0 to vbr0")
    check("10.98.0.1/24" in addrs(ns, "vbr0"), "so did its second address")
    check("default via 10.99.0.2 dev vbr0" in routes(ns) and
          "10.55.0.0/16 via 10.99.0.2 dev vbr0" in routes(ns),
          "the default and the static route moved to vbr0")
    rc, xml, _ = d.virsh("iface-dumpxml", "vbr0")
    check("type='bridge'" in xml and "name='up0'" in xml and "stp='off'" in xml,
          "iface-dumpxml vbr0: a bridge without STP and up0 as its port")
    check(wait_for(lambda: port_forwarding(ns, "up0"), 20), "up0 reaches STP forwarding")
    seen = http_get(ns, "h", "http://10.99.0.2:8080/")
    check(seen == "10.99.0.1", f"the host reaches the outside through the bridge ({seen})")
    rc, _, err = d.virsh("net-define", write(tmp, "clash.xml", net_xml("clash", "vbr0", 234)))
    check(rc != 0 and "already in use by host interface 'vbr0'" in err,
          "a network of its own bridge named vbr0 is refused: " + err.strip())

    ns.add("b")
    ns.veth("h", "vhb", "b", "eth0", "52:54:00:00:0b:01")
    ns.run("h", "ip", "link", "set", "vhb", "master", "vbr0")
    check(wait_for(lambda: port_forwarding(ns, "vhb"), 20), "the client's port forwards")
    rc, out = udhcpc(ns, "b", "eth0", script, hostname="client-b")
    ip = leased_addr(out) if rc == 0 else None
    check(bool(ip) and (ip.startswith("10.99.0.5") or ip == "10.99.0.60"),
          f"the client on vbr0 gets its lease from the outside's DHCP server ({ip})")
    with open(os.path.join(tmp, "outside.leases")) as f:
        check("52:54:00:00:0b:01" in f.read(), "the outside's dnsmasq recorded that lease")
    seen = http_get(ns, "b", "http://10.99.0.2:8080/")
    check(seen == ip, f"the outside sees the bridged client by its own address ({seen})")

    if os.environ.get("VIREO") and os.environ.get("TESTKERNEL"):
        test_guest_on_bridge(ns, d, tmp)

    rc, _, err = d.virsh("iface-unbridge", "vbr0")
    check(rc == 0, "virsh iface-unbridge vbr0 " + err.strip())
    check(ns.run("h", "ip", "link", "show", "vbr0")[0] != 0, "vbr0 is gone")
    check("10.99.0.1/24" in addrs(ns, "up0") and "10.98.0.1/24" in addrs(ns, "up0") and
          "default via 10.99.0.2 dev up0" in routes(ns) and
          "10.55.0.0/16 via 10.99.0.2 dev up0" in routes(ns),
          "up0 has its addresses, default and static route back")
    seen = http_get(ns, "h", "http://10.99.0.2:8080/")
    check(seen == "10.99.0.1", f"the host reaches the outside over up0 again ({seen})")
    rc, out, _ = d.virsh("iface-list", "--all")
    check("vbr0" not in out, "iface-list no longer shows vbr0")

    # libvirt's default: STP on, delay 0 (which the kernel raises to 2 s).
    rc, out, err = d.virsh("iface-bridge", "up0", "vbr1")
    check(rc == 0, "virsh iface-bridge up0 vbr1 (STP on) " + err.strip())
    _, stp, _ = ns.run("h", "cat", "/sys/class/net/vbr1/bridge/stp_state",
                       "/sys/class/net/vbr1/bridge/forward_delay")
    check(stp.split() == ["1", "200"], f"vbr1 runs STP with a 2 s forward delay ({stp.split()})")
    rc, xml, _ = d.virsh("iface-dumpxml", "vbr1", "--inactive")
    check("stp='on'" in xml and "delay='0'" in xml, "its definition keeps stp='on' delay='0'")
    check(wait_for(lambda: port_forwarding(ns, "up0"), 20), "up0 reaches STP forwarding")
    seen = http_get(ns, "h", "http://10.99.0.2:8080/")
    check(seen == "10.99.0.1", f"the host reaches the outside through vbr1 ({seen})")
    rc, _, err = d.virsh("iface-unbridge", "vbr1")
    check(rc == 0 and ns.run("h", "ip", "link", "show", "vbr1")[0] != 0 and
          "10.99.0.1/24" in addrs(ns, "up0") and "default via 10.99.0.2 dev up0" in routes(ns),
          "iface-unbridge vbr1: gone, up0 configured again " + err.strip())


LISTENER = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
s.bind((sys.argv[1], 0))
s.settimeout(40)
print("ready", flush=True)
frame = s.recv(2048)
print(frame[6:12].hex(), flush=True)
sys.stdin.readline()    # the test looks at the running guest first
reply = frame[6:12] + bytes.fromhex("020000000001") + b"\x88\xb5" + b"hello guest\0"
s.send(reply + bytes(60 - len(reply)))
"""


def test_guest_on_bridge(ns, d, tmp):
    """A test-kernel guest on a <forward mode='bridge'> network over vbr0."""
    rc, _, err = d.virsh("net-create", write(tmp, "hb.xml", "<network><name>hostbr</name>"
                                             "<forward mode='bridge'/><bridge name='vbr0'/>"
                                             "</network>"))
    check(rc == 0, "net-create a bridged network on vbr0 " + err.strip())
    listener = ns.popen("o", PY, "-c", LISTENER, "out0", stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, text=True)
    check(listener.stdout.readline().strip() == "ready", "a frame listener in the outside")
    dom = f"""<domain type='vireo'><name>bg</name><memory unit='MiB'>128</memory>
  <os><type>hvm</type><kernel>{os.environ["TESTKERNEL"]}</kernel>
    <cmdline>testkernel.virtio=basic</cmdline></os>
  <devices><interface type='network'><source network='hostbr'/>
    <mac address='52:54:00:aa:0b:02'/><model type='virtio'/></interface></devices>
</domain>"""
    rc, _, err = d.virsh("create", write(tmp, "bg.xml", dom), timeout=60)
    check(rc == 0, "a guest starts on the bridged network " + err.strip())
    ready, _, _ = select.select([listener.stdout], [], [], 45)
    src = listener.stdout.readline().strip() if ready else ""
    check(src == "525400aa0b02", f"the guest's frame crossed vbr0 and up0 to the outside ({src})")
    _, ports, _ = ns.run("h", "ip", "-o", "link", "show", "master", "vbr0")
    check(any(" vt" in line for line in ports.splitlines()), "its TAP is a port of vbr0")
    try:
        listener.communicate("go\n", timeout=10)
    except subprocess.TimeoutExpired:
        listener.kill()
    wait_for(lambda: d.virsh("domstate", "bg")[0] != 0, 30)
    check(d.virsh("domstate", "bg")[0] != 0, "the guest exited (a transient domain: gone)")
    _, ports, _ = ns.run("h", "ip", "-o", "link", "show", "master", "vbr0")
    check(not any(" vt" in line for line in ports.splitlines()), "its TAP was deleted")
    d.virsh("net-destroy", "hostbr")


IFACE_PROCS = (126, 127, 128, 129, 130, 131, 132, 133, 134, 137, 138, 156, 284)


def test_hostile_rpc(ns, d):
    """Junk arguments to every interface procedure: errors, no crash, and
    nothing defined or changed on the host."""
    import random
    import struct
    rnd = random.Random(9)
    before = ns.run("h", "ip", "-o", "link", "show")[1]
    names = ["", "../../etc/passwd", "a" * 300, "up0\0x", "lo", "vbr0", "%s%n", "up0 ",
             "..", "eth0/"]
    xmls = ["<interface type='bridge' name='" + "x" * 40 + "'/>",
            "<interface type='bridge' name='vbz'><bridge>" +
            "".join(f"<interface type='ethernet' name='p{i}'/>" for i in range(40)) +
            "</bridge></interface>",
            "<interface>" * 5000, "<interface type='ethernet' name='lo'>" +
            "<protocol family='ipv4'>" + "<ip address='10.0.0.1'/>" * 40 +
            "</protocol></interface>",
            "<!DOCTYPE i [<!ENTITY a 'aaaa'>]><interface type='ethernet' name='&a;'/>",
            "\xff\xfe<interface/>", "<interface type='ethernet' name='x'><mtu size='99999999999'/>"
            "</interface>", "<interface type='bridge' name='vbd'><bridge delay='1e9'/></interface>"]
    c = RawClient(d.sock)
    answered = hung_up = 0
    for i in range(400):
        proc = rnd.choice(IFACE_PROCS)
        kind = i % 4
        if kind == 0:
            payload = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 64)))
        elif kind == 1:
            payload = struct.pack(">I", rnd.choice([0xFFFFFFFF, 0x7FFFFFFF, 1 << 24]))
        elif kind == 2:
            payload = xdr_string(rnd.choice(names)) + xdr_string(rnd.choice(names)) + \
                struct.pack(">I", rnd.getrandbits(32))
        else:
            payload = xdr_string(rnd.choice(xmls)) + struct.pack(">I", rnd.choice([0, 1, 2]))
            proc = 131
        r = c.call(proc, payload)
        if r is None:
            hung_up += 1
            c.close()
            c = RawClient(d.sock)
        else:
            answered += r[0] == 1
    c.close()
    check(answered + hung_up == 400 and d.proc.poll() is None,
          f"400 junk interface calls: all refused ({answered} errors, {hung_up} hang-ups), "
          "the daemon lives")
    rc, out, _ = d.virsh("iface-list", "--all")
    check(rc == 0 and "up0" in out, "iface-list still works")
    check(os.listdir(os.path.join(d.state, "interfaces")) == ["up0.xml"],
          "no definition came from the junk (only up0's, from iface-unbridge)")
    check(ns.run("h", "ip", "-o", "link", "show")[1] == before, "the host's links are unchanged")


def test_cleanup(ns, d):
    for net in ("rt", "nt", "is"):
        rc, _, err = d.virsh("net-destroy", net)
        check(rc == 0, f"net-destroy {net} " + err.strip())
    check(d.stop() == 0, "vireod exits cleanly")
    d2 = Daemon(ns, "h", d.tmp)
    rc, xml, _ = d2.virsh("iface-dumpxml", "up0", "--inactive")
    check(rc == 0 and "<ip address='10.99.0.1' prefix='24'/>" in xml,
          "a restarted vireod has up0's definition (from iface-unbridge) on disk")
    check(d2.stop() == 0, "and exits cleanly")
    _, links, _ = ns.run("h", "ip", "-o", "link", "show")
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
    check(not any(n.startswith(("vb", "vt", "virbr")) for n in names),
          f"no bridge or TAP left in the daemon's namespace ({names})")
    _, tables, _ = ns.run("h", "nft", "list", "tables")
    check("vireo_" not in tables, "no nftables table left")
    left = [f for f in os.listdir(os.path.join(d.state, "dnsmasq")) if f.endswith(".pid")]
    check(not left, f"no dnsmasq left running ({left})")


def main():
    if os.geteuid() != 0:
        print("SKIP: network namespaces need root")
        sys.exit(77)
    if not shutil.which("virsh") or not os.environ.get("VIREOD"):
        print("FAIL: virsh and VIREOD are required")
        sys.exit(1)
    ns = Namespaces()
    if not ns.add("h"):
        print("SKIP: cannot create network namespaces")
        sys.exit(77)
    tmp = mkdtemp()
    d = None
    try:
        ns.add("o")
        setup_outside(ns, tmp)
        d = Daemon(ns, "h", tmp)
        script = udhcpc_script(tmp)
        test_route(ns, d, tmp, script)
        test_nat(ns, d, tmp, script)
        test_isolated(ns, d, tmp, script)
        test_bridge(ns, d, tmp, script)
        test_hostile_rpc(ns, d)
        test_cleanup(ns, d)
    finally:
        if d:
            d.stop()
            if vmtest.failures:
                print(d.text()[-4000:])
        ns.close()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
