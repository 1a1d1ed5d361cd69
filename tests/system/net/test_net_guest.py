"""A real guest on a vireod NAT network: Debian's kernel with the busybox
initramfs of guest/build-guest.sh on the emu engine (a domain of type
'qemu'), its virtio-net NIC on a TAP in the network's bridge, driven over
`virsh console`. The guest gets a DHCP lease (busybox udhcpc) that
`virsh net-dhcp-leases` shows, and reaches an HTTP server in an outside
namespace, which sees the host's address (NAT). Namespaces vn-<pid>-*;
nothing leaves them. Skips (77) without root or when the guest cannot be
built (no apt).

Environment: VIREOD, VIREO, BUILD_GUEST.
"""
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
import vmtest  # noqa: E402
from vmtest import check, finish  # noqa: E402
from nettest import Daemon, Namespaces, http_server, mkdtemp, wait_for  # noqa: E402
from vireodtest import Console  # noqa: E402

PROMPT = "vireo-guest# "
MAC = "52:54:00:aa:ee:01"
BOOT_TIMEOUT = 420      # Linux on emu, on a loaded 2-core machine


def guest_files():
    try:
        out = subprocess.run([os.environ.get("BUILD_GUEST", "guest/build-guest.sh")],
                             check=True, capture_output=True, text=True,
                             timeout=600).stdout.split()
    except (OSError, subprocess.SubprocessError) as e:
        print(f"SKIP: cannot build the default guest: {e}")
        sys.exit(77)
    return out[0], out[1]


class Shell:
    """Commands on the guest's console, each ended by a marker that the
    echo of the typed line does not contain."""

    def __init__(self, con):
        self.con, self.n = con, 0

    def run(self, cmd, timeout=60):
        self.n += 1
        start = len(self.con.text)
        self.con.send(f'{cmd}; echo "@@E""ND{self.n}@@"\r')
        marker = f"@@END{self.n}@@"
        if not self.con.read(marker, timeout=timeout):
            check(False, f"'{cmd}' finished within {timeout} s")
            return ""
        text = self.con.text[start:].decode(errors="replace")
        text = text[:text.index(marker)].replace("\r", "")
        return "\n".join(text.split("\n")[1:])     # without the echoed line


def main():
    if os.geteuid() != 0:
        print("SKIP: network namespaces need root")
        sys.exit(77)
    if not shutil.which("virsh") or not os.environ.get("VIREOD") or not os.environ.get("VIREO"):
        print("FAIL: virsh, VIREOD and VIREO are required")
        sys.exit(1)
    kernel, initrd = guest_files()
    ns = Namespaces()
    if not ns.add("h"):
        print("SKIP: cannot create network namespaces")
        sys.exit(77)
    tmp = mkdtemp()
    d = con = None
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
        net = """<network><name>gn</name><forward mode='nat'/><bridge name='vbgn'/>
  <ip address='10.240.0.1' prefix='24'>
    <dhcp><range start='10.240.0.100' end='10.240.0.110'/></dhcp></ip></network>"""
        with open(os.path.join(tmp, "gn.xml"), "w") as f:
            f.write(net)
        rc, _, err = d.virsh("net-create", os.path.join(tmp, "gn.xml"))
        check(rc == 0, "net-create a NAT network " + err.strip())
        dom = f"""<domain type='qemu'><name>deb</name><memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 nokaslr mitigations=off panic=-1</cmdline></os>
  <devices>
    <interface type='network'><source network='gn'/><mac address='{MAC}'/>
      <model type='virtio'/></interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices></domain>"""
        with open(os.path.join(tmp, "deb.xml"), "w") as f:
            f.write(dom)
        rc, _, err = d.virsh("create", os.path.join(tmp, "deb.xml"), timeout=60)
        check(rc == 0, "the Debian guest starts on emu (type 'qemu') " + err.strip())
        con = Console(d, "deb")
        booted = con.read("vireo-guest: ready", timeout=BOOT_TIMEOUT)
        check(booted, "the guest boots to its /init")
        con.send("\r")
        if not (booted and check(con.read(PROMPT, timeout=60), "the shell prompt appears")):
            print(con.text.decode(errors="replace")[-3000:])
            return
        sh = Shell(con)
        out = sh.run("cat /sys/class/net/eth0/address")
        check(MAC in out, f"the guest has eth0 with the domain's MAC ({out.strip()[-17:]})")
        out = sh.run("ip link set eth0 up && udhcpc -i eth0 -n -q -t 10 -T 2 -s /bin/true",
                     timeout=120)
        m = re.search(r"lease of (10\.240\.0\.\d+) obtained", out)
        ip = m.group(1) if m else None
        check(ip is not None, f"udhcpc in the guest gets a lease ({ip}) " +
              ("" if ip else out.strip().replace("\n", " | ")[-200:]))
        _, leases, _ = d.virsh("net-dhcp-leases", "gn")
        check(ip and MAC in leases and ip in leases, "virsh net-dhcp-leases shows it")
        if ip:
            sh.run(f"ip addr add {ip}/24 dev eth0 && ip route add default via 10.240.0.1")
            out = sh.run("wget -q -O - http://10.99.0.2:8080/", timeout=60)
            check("peer 10.99.0.1" in out,
                  f"the guest reaches the outside server, which sees the host's address "
                  f"({out.strip()[-40:]})")
        con.send("poweroff\r")
        gone = wait_for(lambda: d.virsh("domstate", "deb")[0] != 0, 120, step=1)
        check(gone, "the guest powers off (the transient domain is gone)")
        _, links, _ = ns.run("h", "ip", "-o", "link", "show")
        check(" vt" not in links, "its TAP was deleted")
        rc, _, _ = d.virsh("net-destroy", "gn")
        check(rc == 0, "net-destroy")
    finally:
        if con:
            con.close()
        if d:
            d.virsh("destroy", "deb")
            d.stop()
            if vmtest.failures:
                print(d.text()[-3000:])
        ns.close()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
