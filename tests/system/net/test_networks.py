"""vireod's virtual networks with the stock virsh, inside network namespaces
this test creates: the daemon runs in namespace H, DHCP clients (busybox
udhcpc) in namespace C, joined by veth pairs to the networks' bridges. No
traffic leaves the namespaces. Skips (77) only when namespaces cannot be
created (not root); the namespaces are deleted even on failure.

Environment: VIREOD (the daemon); with VIREO and TESTKERNEL also domains
with <interface type='network'> and <interface type='bridge'>.
"""
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")
    sys.stdout.flush()
    return cond


def run(*args, timeout=30):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


TAG = f"vn-{os.getpid()}-"
NS_H, NS_C = TAG + "h", TAG + "c"


def in_h(*args, timeout=30):
    return run("ip", "netns", "exec", NS_H, *args, timeout=timeout)


def in_c(*args, timeout=30):
    return run("ip", "netns", "exec", NS_C, *args, timeout=timeout)


ISO = """<network>
  <name>iso</name>
  <bridge name='vbiso'/>
  <ip address='10.210.0.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.210.0.10' end='10.210.0.20'/>
      <host mac='52:54:00:aa:bb:cc' name='fixed' ip='10.210.0.5'/>
    </dhcp>
  </ip>
</network>"""

NAT = """<network>
  <name>natnet</name>
  <forward mode='nat'/>
  <bridge name='vbnat'/>
  <ip address='10.211.0.1' prefix='24'>
    <dhcp><range start='10.211.0.100' end='10.211.0.110'/></dhcp>
  </ip>
</network>"""


DAEMONS = []   # every daemon started, for the cleanup


class Daemon:
    def __init__(self, tmp):
        DAEMONS.append(self)
        self.tmp = tmp
        if os.path.exists(os.path.join(tmp, "sock")):
            os.unlink(os.path.join(tmp, "sock"))
        self.state = os.path.join(tmp, "state")
        self.sock = os.path.join(tmp, "sock")
        self.log_path = os.path.join(tmp, "vireod.log")
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS_H, os.environ["VIREOD"], "--state-dir", self.state,
             "--socket", self.sock, "-v"] +
            (["--vireo", os.environ["VIREO"]] if os.environ.get("VIREO") else []),
            stdout=self.log, stderr=self.log)
        for _ in range(100):
            if os.path.exists(self.sock):
                return
            time.sleep(0.05)
        raise RuntimeError("vireod did not start:\n" + self.text())

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def virsh(self, *args, timeout=30):
        env = dict(os.environ, LIBVIRT_DEFAULT_URI="", VIRSH_DEFAULT_CONNECT_URI="")
        p = subprocess.run(["virsh", "-q", "-c", f"vireo+unix:///system?socket={self.sock}"]
                           + list(args), capture_output=True, text=True, timeout=timeout,
                           env=env)
        return p.returncode, p.stdout, p.stderr

    def stop(self):
        if self.log.closed:
            return self.proc.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def link_exists(name):
    return in_h("ip", "link", "show", name)[0] == 0


def nft_tables():
    return in_h("nft", "list", "tables")[1]


def dnsmasq_pid(d, net):
    try:
        with open(os.path.join(d.state, "dnsmasq", net + ".pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def dnsmasq_alive(d, net, pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return "dnsmasq" in cmd and os.path.join(d.state, "dnsmasq", net + ".conf") in cmd


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def veth_to(bridge, host_end, client_end, mac):
    """A veth pair: host_end in H on bridge, client_end in C with mac."""
    run("ip", "link", "add", host_end, "netns", NS_H, "type", "veth", "peer", "name",
        client_end, "netns", NS_C)
    in_h("ip", "link", "set", host_end, "master", bridge, "up")
    in_c("ip", "link", "set", client_end, "address", mac, "up")


def udhcpc(ifname, hostname):
    return in_c("busybox", "udhcpc", "-i", ifname, "-n", "-q", "-t", "6", "-T", "1",
                "-s", "/bin/true", "-x", "hostname:" + hostname, timeout=30)


def test_networks(d, tmp):
    rc, out, err = d.virsh("net-list", "--all")
    check(rc == 0 and "default" in out and "inactive" in out,
          "a default network is defined on first start (inactive)")
    rc, out, _ = d.virsh("net-dumpxml", "default")
    check("<forward mode='nat'/>" in out and "192.168.122.1" in out and "virbr0" in out,
          "default: NAT on virbr0 with 192.168.122.0/24")

    rc, out, err = d.virsh("net-define", write(tmp, "iso.xml", ISO))
    check(rc == 0, "net-define isolated network " + err.strip())
    rc, out, err = d.virsh("net-define", write(tmp, "nat.xml", NAT))
    check(rc == 0, "net-define NAT network " + err.strip())
    for net in ("iso", "natnet"):
        rc, out, err = d.virsh("net-start", net)
        check(rc == 0, f"net-start {net} " + err.strip())

    check(link_exists("vbiso") and link_exists("vbnat"), "both bridges exist")
    _, out, _ = in_h("ip", "-4", "addr", "show", "vbiso")
    check("10.210.0.1/24" in out, "the isolated bridge has 10.210.0.1/24")
    tables = nft_tables()
    check("vireo_vbiso" in tables and "vireo_vbnat" in tables, "both nft tables exist")
    _, nat_rules, _ = in_h("nft", "list", "table", "ip", "vireo_vbnat")
    _, iso_rules, _ = in_h("nft", "list", "table", "ip", "vireo_vbiso")
    check("masquerade" in nat_rules, "the NAT network masquerades")
    check("masquerade" not in iso_rules and 'iifname "vbiso" reject' in iso_rules,
          "the isolated network forwards nothing out")
    _, fwd, _ = in_h("cat", "/proc/sys/net/ipv4/ip_forward")
    check(fwd.strip() == "1", "IPv4 forwarding is on in the daemon's namespace")
    pids = {net: dnsmasq_pid(d, net) for net in ("iso", "natnet")}
    check(all(p and dnsmasq_alive(d, n, p) for n, p in pids.items()),
          f"a dnsmasq runs for each network {pids}")

    rc, out, _ = d.virsh("net-list")
    check(rc == 0 and "iso" in out and "natnet" in out and "default" not in out,
          "net-list shows the active networks")
    rc, out, _ = d.virsh("net-info", "iso")
    check(rc == 0 and "vbiso" in out and "Active:         yes" in out, "net-info iso")
    rc, out, _ = d.virsh("net-dumpxml", "iso")
    check("<range start='10.210.0.10' end='10.210.0.20'/>" in out and
          "<host mac='52:54:00:aa:bb:cc' name='fixed' ip='10.210.0.5'/>" in out,
          "net-dumpxml keeps the DHCP range and static host")
    rc, out, _ = d.virsh("net-name", d.virsh("net-uuid", "iso")[1].strip())
    check(out.strip() == "iso", "lookup by UUID")
    rc, _, _ = d.virsh("net-autostart", "iso")
    rc2, out, _ = d.virsh("net-info", "iso")
    check(rc == 0 and "Autostart:      yes" in out, "net-autostart")
    d.virsh("net-autostart", "iso", "--disable")

    # DHCP from another namespace over veths to the bridges.
    veth_to("vbiso", "vh0", "eth0", "52:54:00:aa:bb:cc")
    veth_to("vbnat", "vh1", "eth1", "52:54:00:11:22:33")
    rc, out, err = udhcpc("eth0", "guest0")
    check(rc == 0 and "10.210.0.5" in out + err, "the static host gets 10.210.0.5 " +
          (out + err).strip().replace("\n", " | ")[-160:])
    rc, out, err = udhcpc("eth1", "guest1")
    check(rc == 0 and "lease of 10.211.0.1" in out + err,
          "a dynamic client gets an address from the NAT network's range")
    rc, out, _ = d.virsh("net-dhcp-leases", "iso")
    check(rc == 0 and "52:54:00:aa:bb:cc" in out and "10.210.0.5/24" in out,
          "net-dhcp-leases iso shows the lease")
    rc, out, _ = d.virsh("net-dhcp-leases", "natnet")
    check(rc == 0 and "52:54:00:11:22:33" in out and "guest1" in out and "10.211.0.1" in out,
          "net-dhcp-leases natnet shows the lease with its hostname")
    rc, out, _ = d.virsh("net-dhcp-leases", "natnet", "--mac", "52:54:00:99:99:99")
    check(rc == 0 and "52:54:00:11:22:33" not in out, "net-dhcp-leases --mac filters")

    # Bad input: a libvirt-style error and nothing half-made.
    rc, _, err = d.virsh("net-define", write(tmp, "ov.xml", ISO.replace("iso", "ov").replace(
        "vbiso", "vbov").replace("255.255.255.0", "255.255.0.0")))
    check(rc != 0 and "overlaps network 'iso'" in err, "overlapping subnet refused: " +
          err.strip())
    rc, _, err = d.virsh("net-define", write(tmp, "dup.xml", NAT.replace("natnet", "dup")
                                             .replace("10.211", "10.212")))
    check(rc != 0 and "bridge name 'vbnat' already in use" in err,
          "a bridge name another network uses is refused")
    rc, _, err = d.virsh("net-define", write(tmp, "bad.xml", "<network><name>bad</name>"))
    check(rc != 0 and "XML error" in err, "malformed XML refused: " + err.strip())
    rc, _, err = d.virsh("net-define", write(tmp, "v6.xml", "<network><name>v6</name><ip "
                                             "family='ipv6' address='fd00::1' prefix='64'/>"
                                             "</network>"))
    check(rc != 0 and "unsupported configuration" in err, "IPv6 refused as unsupported")
    # A DNS host name that would add a line to dnsmasq's configuration.
    rc, _, err = d.virsh("net-define", write(tmp, "dnsinj.xml", NAT.replace("natnet", "dnsinj")
                                             .replace("vbnat", "vbinj")
                                             .replace("10.211", "10.214")
                                             .replace("<ip ", "<dns><host ip='10.214.0.9'>"
                                                      "<hostname>a&#10;dhcp-script=/bin/sh"
                                                      "</hostname></host></dns><ip ", 1)))
    check(rc != 0 and "invalid DNS host name" in err,
          "a DNS host name carrying a newline is refused: " + err.strip())
    # A bridge name the host already has (the veth end): start fails cleanly.
    rc, _, err = d.virsh("net-define", write(tmp, "taken.xml", NAT.replace("natnet", "taken")
                                             .replace("vbnat", "vh0")
                                             .replace("10.211", "10.213")))
    check(rc == 0, "a network naming a host interface as bridge can be defined")
    rc, _, err = d.virsh("net-start", "taken")
    check(rc != 0 and "bridge name 'vh0' already in use" in err,
          "starting it fails: " + err.strip())
    check("vireo_vh0" not in nft_tables() and
          not os.path.exists(os.path.join(d.state, "dnsmasq", "taken.conf")) and
          link_exists("vh0"), "nothing half-made, the host's link untouched")
    rc, out, _ = d.virsh("net-info", "taken")
    check("Active:         no" in out, "the failed network stays inactive")
    d.virsh("net-undefine", "taken")
    rc, _, err = d.virsh("net-start", "iso")
    check(rc != 0 and "already active" in err, "starting an active network is refused")
    rc, _, err = d.virsh("net-info", "nosuch")
    check(rc != 0 and "Network not found" in err, "unknown network: Network not found")

    # Redefining a running network changes its next start, not the live one.
    _, cur, _ = d.virsh("net-dumpxml", "iso")
    rc, _, err = d.virsh("net-define", write(tmp, "iso2.xml", cur.replace("10.210.0.20",
                                                                          "10.210.0.30")))
    _, live, _ = d.virsh("net-dumpxml", "iso")
    _, inactive, _ = d.virsh("net-dumpxml", "iso", "--inactive")
    check(rc == 0 and "10.210.0.20" in live and "10.210.0.30" in inactive,
          "net-define of an active network: live XML unchanged, --inactive shows the new one")

    # Stopping removes the bridge, dnsmasq and the table.
    for net in ("iso", "natnet"):
        rc, _, err = d.virsh("net-destroy", net)
        check(rc == 0, f"net-destroy {net} " + err.strip())
    time.sleep(0.2)
    check(not link_exists("vbiso") and not link_exists("vbnat"), "bridges removed")
    tables = nft_tables()
    check("vireo_vbiso" not in tables and "vireo_vbnat" not in tables, "nft tables removed")
    check(not any(dnsmasq_alive(d, n, p) for n, p in pids.items() if p), "dnsmasq stopped")
    rc, _, err = d.virsh("net-destroy", "iso")
    check(rc != 0 and "not active" in err, "destroying an inactive network is refused")
    _, xml, _ = d.virsh("net-dumpxml", "iso")
    check("10.210.0.30" in xml, "once stopped, the new definition applies")

    # A transient network: net-create, then it vanishes on destroy.
    rc, _, err = d.virsh("net-create", write(tmp, "tr.xml", NAT.replace("natnet", "tr")
                                             .replace("vbnat", "vbtr")
                                             .replace("10.211", "10.214")))
    check(rc == 0 and link_exists("vbtr"), "net-create starts a transient network")
    rc, out, _ = d.virsh("net-info", "tr")
    check("Persistent:     no" in out, "it is transient")
    d.virsh("net-destroy", "tr")
    rc, _, _ = d.virsh("net-info", "tr")
    check(rc != 0 and not link_exists("vbtr"), "destroyed, it is gone")

    for net in ("iso", "natnet"):
        rc, _, err = d.virsh("net-undefine", net)
        check(rc == 0, f"net-undefine {net}")
    rc, out, _ = d.virsh("net-list", "--all", "--name")
    check(out.split() == ["default"], "only the default network is left")

    # A daemon killed outright leaves a network behind; the next one clears it.
    d.virsh("net-start", "default")
    pid = dnsmasq_pid(d, "default")
    check(link_exists("virbr0") and pid and dnsmasq_alive(d, "default", pid),
          "default network started")
    d.proc.kill()
    d.proc.wait()
    d.log.close()
    d = Daemon(tmp)
    d.virsh("net-list")     # answered once start-up (and the clearing) is done
    check(not link_exists("virbr0") and "vireo_virbr0" not in nft_tables() and
          not dnsmasq_alive(d, "default", pid), "a restarted vireod clears what a killed one left")
    rc, _, err = d.virsh("net-start", "default")
    check(rc == 0 and link_exists("virbr0"), "and the network starts again " + err.strip())

    # The daemon stops its running networks when it exits.
    check(d.stop() == 0, "vireod exits cleanly")
    check(not link_exists("virbr0") and "vireo_virbr0" not in nft_tables(),
          "its networks are stopped at daemon exit")


LISTENER = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
s.bind((sys.argv[1], 0))
s.settimeout(30)
print("ready", flush=True)
frame = s.recv(2048)
print(frame[6:12].hex(), flush=True)
sys.stdin.readline()    # the test looks at the running guest first
reply = frame[6:12] + bytes.fromhex("020000000001") + b"\x88\xb5" + b"hello guest\0"
s.send(reply + bytes(60 - len(reply)))
"""


def domain_xml(name, iface, cmdline):
    return f"""<domain type='vireo'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>{os.environ["TESTKERNEL"]}</kernel>
    <cmdline>{cmdline}</cmdline></os>
  <devices>{iface}</devices>
</domain>"""


def taps_on(bridge):
    _, out, _ = in_h("ip", "-o", "link", "show", "master", bridge)
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def test_guests(d, tmp):
    """Domains with <interface type='network'|'bridge'>: TAPs on the bridge."""
    gnet = NAT.replace("natnet", "gnet").replace("vbnat", "vbg").replace("10.211", "10.220")
    rc, _, err = d.virsh("net-create", write(tmp, "gnet.xml", gnet))
    check(rc == 0, "guest network started " + err.strip())
    veth_to("vbg", "vh2", "eth2", "52:54:00:00:00:c2")
    in_c("sysctl", "-qw", "net.ipv6.conf.eth2.disable_ipv6=1")
    listener = subprocess.Popen(["ip", "netns", "exec", NS_C, sys.executable, "-c", LISTENER,
                                 "eth2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
    try:
        # The guest sends its frame at once: listen before it starts.
        check(listener.stdout.readline().strip() == "ready", "a listener on the far side")
        net_if = ("<interface type='network'><source network='gnet'/>"
                  "<mac address='52:54:00:aa:bb:01'/><model type='virtio'/></interface>")
        rc, _, err = d.virsh("define", write(tmp, "g1.xml", domain_xml(
            "g1", net_if, "testkernel.virtio=basic")))
        check(rc == 0, "define a domain on the network " + err.strip())
        rc, _, err = d.virsh("start", "g1", timeout=60)
        check(rc == 0, "start it " + err.strip())
        ready, _, _ = select.select([listener.stdout], [], [], 40)
        src = listener.stdout.readline().strip() if ready else ""
        check(src == "525400aabb01",
              f"the guest's frame crossed the bridge to the other namespace ({src})")
        taps = taps_on("vbg")
        check(any(t.startswith("vt") for t in taps), f"its TAP is a port of the bridge {taps}")
        try:
            listener.communicate("go\n", timeout=10)
        except subprocess.TimeoutExpired:
            listener.kill()
        for _ in range(100):
            if "shut off" in d.virsh("domstate", "g1")[1]:
                break
            time.sleep(0.2)
        check("shut off" in d.virsh("domstate", "g1")[1], "the guest got the reply and exited")
        check(not any(t.startswith("vt") for t in taps_on("vbg")), "its TAP was deleted")
    finally:
        if listener.poll() is None:
            listener.kill()

    br_if = "<interface type='bridge'><source bridge='vbg'/></interface>"
    rc, _, err = d.virsh("define", write(tmp, "g2.xml", domain_xml(
        "g2", br_if, "testkernel.action=halt")))
    check(rc == 0, "define a domain on the bridge (no MAC given) " + err.strip())
    _, xml, _ = d.virsh("dumpxml", "g2")
    mac = xml.split("<mac address='")[1][:17] if "<mac address='" in xml else ""
    check(mac.startswith("52:54:00:"), f"a MAC under 52:54:00 is generated and kept ({mac})")
    rc, _, err = d.virsh("start", "g2", timeout=60)
    check(rc == 0 and len(taps_on("vbg")) == 2, "it starts with a TAP on the bridge " + err.strip())
    _, xml2, _ = d.virsh("dumpxml", "g2")
    check(mac and mac in xml2, "the MAC stays the same once running")
    rc, _, err = d.virsh("define", write(tmp, "g3.xml", domain_xml(
        "g3", br_if.replace("</interface>", f"<mac address='{mac}'/></interface>"),
        "testkernel.action=halt")))
    rc, _, err = d.virsh("start", "g3", timeout=60)
    check(rc != 0 and "already in use by domain 'g2'" in err,
          "a MAC a running domain uses is refused: " + err.strip())
    check(len(taps_on("vbg")) == 2, "and leaves no TAP behind")
    rc, _, err = d.virsh("destroy", "g2")
    check(rc == 0 and taps_on("vbg") == ["vh2"], "destroy deletes the TAP")
    for name, src, why in (("g4", "nosuch", "Network not found"), ("g5", "default", "not active")):
        d.virsh("define", write(tmp, name + ".xml", domain_xml(
            name, f"<interface type='network'><source network='{src}'/></interface>",
            "testkernel.action=halt")))
        rc, _, err = d.virsh("start", name)
        check(rc != 0 and why in err, f"a domain on network '{src}': {err.strip()}")
    rc, _, err = d.virsh("net-destroy", "gnet")
    check(rc == 0 and not link_exists("vbg"), "guest network destroyed")


def main():
    if os.geteuid() != 0:
        print("SKIP: network namespaces need root")
        sys.exit(77)
    if not shutil.which("virsh") or not os.environ.get("VIREOD"):
        print("FAIL: virsh and VIREOD are required")
        sys.exit(1)
    if run("ip", "netns", "add", NS_H)[0] != 0:
        print("SKIP: cannot create network namespaces")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="vireo-net-test-")
    d = None
    try:
        run("ip", "netns", "add", NS_C)
        in_h("ip", "link", "set", "lo", "up")
        d = Daemon(tmp)
        if os.environ.get("VIREO") and os.environ.get("TESTKERNEL"):
            test_guests(d, tmp)
        else:
            print("(no VIREO/TESTKERNEL: guest interfaces not tested)")
        test_networks(d, tmp)
    finally:
        for dd in DAEMONS:
            dd.stop()
        if d and failed:
            print(d.text()[-3000:])
        # dnsmasq daemons of a failed run: stop them by their pid files.
        for f in os.listdir(os.path.join(tmp, "state", "dnsmasq")) if d else []:
            if f.endswith(".pid"):
                try:
                    pid = int(open(os.path.join(tmp, "state", "dnsmasq", f)).read())
                    if dnsmasq_alive(d, f[:-4], pid):
                        os.kill(pid, signal.SIGTERM)
                except (OSError, ValueError):
                    pass
        run("ip", "netns", "del", NS_C)
        run("ip", "netns", "del", NS_H)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
