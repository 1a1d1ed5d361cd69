"""Real guests on vireod's networks: the default guest of
guest/build-guest.sh (Debian's kernel, busybox initramfs) as vireod
domains of type 'qemu' (the emu engine), each with up to four virtio-net
NICs on TAPs that vireod plugs into bridges, driven through `virsh console`
with linuxguest.Shell. Several guests boot at once: their consoles are read
in turn, so none of them stalls on a full pseudo-terminal.
"""
import base64
import os
import re
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
sys.path.insert(0, os.path.join(HERE, "..", "linux"))
import linuxguest  # noqa: E402
from vmtest import check  # noqa: E402
from vireodtest import Console  # noqa: E402
from nettest import Namespaces, run  # noqa: E402

# quiet: the boot log is not what these tests look at, and every byte of
# it crosses the emulated UART.
CMDLINE = "console=ttyS0 nokaslr mitigations=off panic=-1 quiet"
BOOT_TIMEOUT = 300      # Linux on emu, on a loaded 2-core machine

# The guest's udhcpc event script: configure what the lease says and print
# it on one line the test parses (busybox passes ip, mask as a prefix
# length, router and dns in the environment).
LEASE_SCRIPT = """#!/bin/sh
case "$1" in
bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
        ip route replace default via "${router%% *}" dev "$interface"
    fi
    echo "lease $interface $ip router=${router:-none} dns=${dns:-none}"
    ;;
esac
exit 0
"""

# A CGI for busybox httpd that answers with the client's address as the
# guest sees it, in the outside server's format (nettest.HTTP_SERVER).
PEER_CGI = """#!/bin/sh
a=${REMOTE_ADDR#\\[}
a=${a%\\]}
printf 'Content-Type: text/plain\\r\\n\\r\\npeer %s\\n' "${a#::ffff:}"
"""


def setup_or_skip():
    """What every real-guest network test needs first: root, virsh, vireod
    and vireo, the default guest (exit 77 when it cannot be built) and the
    host namespace "h" (returned)."""
    if os.geteuid() != 0:
        print("SKIP: network namespaces need root")
        sys.exit(77)
    if not shutil.which("virsh") or not os.environ.get("VIREOD") or not os.environ.get("VIREO"):
        print("FAIL: virsh, VIREOD and VIREO are required")
        sys.exit(1)
    linuxguest.guest_files()
    ns = Namespaces()
    if not ns.add("h"):
        print("SKIP: cannot create network namespaces")
        sys.exit(77)
    return ns


def domain_xml(name, kernel, initrd, nics, memory_mib=256):
    """nics: (type, source, mac) with type 'network' or 'bridge'."""
    ifaces = ""
    for kind, source, mac in nics:
        attr = "network" if kind == "network" else "bridge"
        ifaces += (f"<interface type='{kind}'><source {attr}='{source}'/>"
                   f"<mac address='{mac}'/><model type='virtio'/></interface>\n")
    return f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>{CMDLINE}</cmdline></os>
  <devices>
    {ifaces}
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices></domain>"""


class ConsoleVM:
    """What linuxguest.Shell drives (out, send, expect_re) over a virsh
    console."""

    def __init__(self, con):
        self.con = con

    @property
    def out(self):
        return self.con.text

    def send(self, text):
        self.con.send(text.replace("\n", "\r"))

    def expect_re(self, regex, timeout):
        deadline = time.monotonic() + timeout
        while not regex.search(self.con.text):
            if time.monotonic() > deadline:
                return False
            self.con.read(timeout=0.1)
        return True


class Guest:
    def __init__(self, d, tmp, name, nics):
        self.d, self.name, self.nics = d, name, nics
        self.con = self.sh = None
        self.saved = b""
        kernel, initrd = linuxguest.guest_files()
        self.xml = os.path.join(tmp, name + ".xml")
        with open(self.xml, "w") as f:
            f.write(domain_xml(name, kernel, initrd, nics))

    def start(self):
        rc, _, err = self.d.virsh("create", self.xml, timeout=60)
        if check(rc == 0, f"guest {self.name} starts on emu " + err.strip()):
            self.con = Console(self.d, self.name)
        return rc == 0

    def text(self):
        return (self.con.text if self.con else self.saved).decode(errors="replace")

    def run(self, cmd, timeout=60):
        return self.sh.status(cmd, timeout)

    def put(self, path, text, mode="644"):
        """Write a file in the guest (base64 over the console: no quoting)."""
        b64 = base64.b64encode(text.encode()).decode()
        self.run(f"echo {b64} | base64 -d > {path} && chmod {mode} {path}")

    def lease(self, dev, hostname, tries=10):
        """DHCP on dev (udhcpc, sending hostname): (ip, router, dns) or None."""
        out, _ = self.run(f"ip link set {dev} up && udhcpc -i {dev} -f -q -n -t {tries} -T 2 "
                          f"-x hostname:{hostname} -s /tmp/lease.sh", timeout=30 + 3 * tries)
        m = re.search(rf"lease {dev} (\S+) router=(\S+) dns=(\S+)", out)
        return m.groups() if m else None

    def wget(self, url, seconds=6):
        """What an HTTP server said, or None."""
        out, status = self.run(f"timeout {seconds} wget -q -O - {url}", timeout=seconds + 30)
        lines = [line for line in out.splitlines() if line.strip()]
        return lines[-1].strip() if status == 0 and lines else None

    def ping(self, addr, count=2):
        _, status = self.run(f"ping -c {count} -W 2 {addr} >/dev/null", timeout=30)
        return status == 0

    def resolve(self, name, server):
        """The address nslookup finds for name at server, or None."""
        out, _ = self.run(f"nslookup {name} {server}", timeout=40)
        self.last = out
        # busybox prints the server first, then "Name: ... Address: ...".
        # It asks for A and AAAA and fails if either does: an isolated
        # network's dnsmasq, with nothing upstream, refuses the AAAA of a
        # name it knows only by DHCP. The A answer is what counts.
        after = out.split("Name:", 1)
        m = re.search(r"Address(?: \d+)?:\s*(\d+\.\d+\.\d+\.\d+)", after[1]) \
            if len(after) == 2 else None
        return m.group(1) if m else None

    def serve_peer(self, port):
        """busybox httpd on port with the peer CGI at /cgi-bin/peer."""
        self.run("mkdir -p /tmp/www/cgi-bin")
        self.put("/tmp/www/cgi-bin/peer", PEER_CGI, "755")
        _, status = self.run(f"httpd -p {port} -h /tmp/www")
        return status == 0

    def poweroff(self):
        if self.con:
            self.con.send("poweroff\r")

    def close(self):
        if self.con:
            self.con.close()
            self.saved = self.con.text
            self.con = None


def boot(guests):
    """Start every guest, then read all their consoles until each is at
    its shell prompt; True if all are."""
    started = [g for g in guests if g.start()]
    if len(started) != len(guests):
        return False
    waiting = {g.name: g for g in guests}
    deadline = time.monotonic() + BOOT_TIMEOUT
    while waiting and time.monotonic() < deadline:
        for g in list(waiting.values()):
            g.con.read(timeout=0.1)
            if b"vireo-guest: ready" in g.con.text and not g.sh:
                g.con.send("\r")
                g.sh = linuxguest.Shell(ConsoleVM(g.con))
            if g.sh and linuxguest.PROMPT.encode() in g.con.text:
                del waiting[g.name]
    for g in guests:
        if not check(g.name not in waiting, f"guest {g.name} boots to its shell"):
            print(g.text()[-3000:])
    if waiting:
        return False
    for g in guests:
        g.put("/tmp/lease.sh", LEASE_SCRIPT, "755")
    return True


def dnsmasq_pids(d):
    """The pids of the daemon's running dnsmasqs (from their pid files)."""
    pids = []
    base = os.path.join(d.state, "dnsmasq")
    for f in os.listdir(base) if os.path.isdir(base) else []:
        if f.endswith(".pid"):
            try:
                with open(os.path.join(base, f)) as fh:
                    pids.append(int(fh.read().strip()))
            except (OSError, ValueError):
                pass
    return pids


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def check_nothing_left(ns, role, dnsmasq_seen):
    """After the daemon stopped: no bridge, TAP, nftables table, dnsmasq or
    any process at all in the daemon's namespace."""
    _, links, _ = ns.run(role, "ip", "-o", "link", "show")
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
    check(not any(n.startswith(("vb", "vt", "virbr")) for n in names),
          f"no bridge or TAP left in the daemon's namespace ({names})")
    _, tables, _ = ns.run(role, "nft", "list", "tables")
    check("vireo_" not in tables, f"no nftables table left ({tables.strip()})")
    left = [p for p in dnsmasq_seen if alive(p)]
    check(dnsmasq_seen and not left,
          f"none of the networks' dnsmasqs ({dnsmasq_seen}) is still running ({left})")
    # The test's own `busybox timeout` (nettest.http_get) leaves a watcher
    # that sleeps out its time; vireod never runs busybox.
    _, pids, _ = run("ip", "netns", "pids", ns.name(role))
    left = [f"{p} {comm(p)}" for p in pids.split() if alive(int(p)) and comm(p) != "busybox"]
    check(not left, f"no process left in the daemon's namespace ({left})")


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"
