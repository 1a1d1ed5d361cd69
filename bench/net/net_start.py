#!/usr/bin/python3
"""Network start time: vireod against Debian's libvirtd (its network
driver), in one run, alternating, as ratios.

Each daemon runs as root in a network namespace of its own (vn-<pid>-v,
vn-<pid>-l), so bridges, firewall rules and dnsmasqs stay there. libvirtd
runs in a private mount namespace whose /run, /var/lib, /var/cache,
/var/log and /etc/libvirt are empty tmpfs mounts, with a configuration of
the benchmark's own (its socket in the scratch directory) and passwd/group
files that add the libvirt-qemu user libvirt-daemon-system would create:
it neither sees nor changes the host's libvirt state or users. Both get the same NAT network (bridge,
address, DHCP range); each run starts it and stops it again, first on one
daemon then on the other, the order flipped every run. Timed: the
NETWORK_CREATE call through python3-libvirt (the daemon's work: bridge,
firewall rules, dnsmasq up), and `virsh net-start` as a user runs it
(virsh's own start-up included, the same for both).

Installs libvirt-daemon, libvirt-daemon-driver-qemu and iptables (libvirt
9's firewall backend) when libvirtd is missing.

  bench/net/net_start.py [--runs 10] [--build build]   (Debian's python3: python3-libvirt)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "system", "net"))
from nettest import Daemon, Namespaces, mkdtemp  # noqa: E402

NET = """<network><name>bs</name><forward mode='nat'/><bridge name='vbbs'/>
  <ip address='10.234.0.1' netmask='255.255.255.0'>
    <dhcp><range start='10.234.0.100' end='10.234.0.200'/></dhcp></ip></network>"""
LIBVIRTD_CONF = """unix_sock_dir = "{sockdir}"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:stderr"
"""
PRIVATE = ("/run", "/var/lib", "/var/cache", "/var/log", "/etc/libvirt")


def start_libvirtd(ns, role, tmp):
    sockdir = os.path.join(tmp, "libvirtd")
    os.makedirs(sockdir)
    conf = os.path.join(tmp, "libvirtd.conf")
    with open(conf, "w") as f:
        f.write(LIBVIRTD_CONF.format(sockdir=sockdir))
    # libvirt's QEMU driver looks its user up before it reads qemu.conf:
    # the private namespace sees passwd and group files that have it.
    for name, line in (("passwd", "libvirt-qemu:x:64055:64055::/var/lib/libvirt:/bin/false"),
                       ("group", "libvirt-qemu:x:64055:\nlibvirt:x:64056:")):
        with open(f"/etc/{name}") as src, open(os.path.join(tmp, name), "w") as dst:
            dst.write(src.read() + line + "\n")
    mounts = " && ".join([f"mount -t tmpfs vireo-bench {m}" for m in PRIVATE] +
                         [f"mount --bind {tmp}/{n} /etc/{n}" for n in ("passwd", "group")])
    log = open(os.path.join(tmp, "libvirtd.log"), "w")
    p = ns.popen(role, "unshare", "-m", "--propagation", "private", "sh", "-c",
                 f"{mounts} && exec /usr/sbin/libvirtd -f {conf}",
                 stdout=log, stderr=log)
    sock = os.path.join(sockdir, "libvirt-sock")
    for _ in range(600):
        if os.path.exists(sock) or p.poll() is not None:
            break
        time.sleep(0.05)
    if not os.path.exists(sock):
        sys.exit("libvirtd did not start:\n" + open(log.name).read())
    return p, f"qemu+unix:///system?socket={sock}"


def virsh_net_start(uri):
    env = dict(os.environ, LIBVIRT_DEFAULT_URI="", VIRSH_DEFAULT_CONNECT_URI="")
    t0 = time.monotonic()
    p = subprocess.run(["virsh", "-q", "-c", uri, "net-start", "bs"], capture_output=True,
                       text=True, env=env)
    t = time.monotonic() - t0
    if p.returncode:
        sys.exit(f"virsh net-start on {uri}: {p.stderr}")
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    import libvirt
    if not os.path.exists("/usr/sbin/libvirtd"):
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "libvirt-daemon",
                        "libvirt-daemon-driver-qemu", "iptables"], check=True,
                       stdout=sys.stderr)
    os.environ.setdefault("VIREOD", os.path.join(os.path.abspath(a.build), "vireod"))
    libvirt.registerErrorHandler(lambda *_: None, None)
    ns = Namespaces("v", "l")
    tmp = mkdtemp()
    d = lproc = None
    conns = {}
    try:
        d = Daemon(ns, "v", tmp)
        lproc, luri = start_libvirtd(ns, "l", tmp)
        uris = {"vireod": f"vireo+unix:///system?socket={d.sock}", "libvirtd": luri}
        nets = {}
        for who, uri in uris.items():
            try:
                conns[who] = libvirt.open(uri)
            except libvirt.libvirtError as e:
                log = os.path.join(tmp, "libvirtd.log" if who == "libvirtd" else "vireod.log")
                sys.exit(f"{who}: {e}\n" + open(log).read()[-3000:])
            nets[who] = conns[who].networkDefineXML(NET)
        api = {who: [] for who in uris}
        cli = {who: [] for who in uris}
        for run in range(a.runs):
            order = list(uris) if run % 2 == 0 else list(uris)[::-1]
            for who in order:
                t0 = time.monotonic()
                nets[who].create()
                api[who].append(time.monotonic() - t0)
                nets[who].destroy()
                cli[who].append(virsh_net_start(uris[who]))
                nets[who].destroy()
            print(f"  run {run + 1}: " + "  ".join(
                f"{w} {api[w][-1] * 1000:.1f} ms (virsh {cli[w][-1] * 1000:.0f} ms)"
                for w in uris), file=sys.stderr)
        for who in uris:
            nets[who].undefine()
        ver = subprocess.run(["/usr/sbin/libvirtd", "--version"], capture_output=True,
                             text=True).stdout.strip()
        print(f"NAT network start (bridge, firewall, dnsmasq), {a.runs} runs each, "
              f"vireod against {ver}")
        va, la = statistics.median(api["vireod"]), statistics.median(api["libvirtd"])
        vc, lc = statistics.median(cli["vireod"]), statistics.median(cli["libvirtd"])
        print(f"  NETWORK_CREATE (median)   vireod {va * 1000:6.1f} ms   libvirtd "
              f"{la * 1000:6.1f} ms   ratio vireod/libvirtd {va / la:.2f}")
        print(f"  virsh net-start (median)  vireod {vc * 1000:6.1f} ms   libvirtd "
              f"{lc * 1000:6.1f} ms   ratio vireod/libvirtd {vc / lc:.2f}")
    finally:
        for c in conns.values():
            try:
                c.close()
            except libvirt.libvirtError:
                pass
        if d:
            d.stop()
        if lproc and lproc.poll() is None:
            lproc.terminate()
            try:
                lproc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                lproc.kill()
                lproc.wait()
        ns.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
