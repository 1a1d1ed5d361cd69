#!/usr/bin/env python3
"""Guest-to-outside TCP throughput through a vireod NAT network: vireo's
emu engine against QEMU TCG, in one run, alternating, as ratios.

Network namespaces of the benchmark's own (vn-<pid>-*): H runs vireod
with a NAT network (bridge vbbn, 10.233.0.0/24, dnsmasq, nftables
masquerade) and uplink up0 (10.99.0.1/24) to O, the outside, which runs a
TCP sink. Two persistent TAPs (IFF_VNET_HDR) on vbbn carry the two guests:
`build/vireo --accel emu` and `qemu-system-x86_64 -accel tcg` (q35,
virtio-net-pci, vhost off, as libvirt gives a TCG domain), both with the
same Debian kernel and busybox initramfs (guest/build-guest.sh), 1 vCPU,
256 MiB. Each guest takes a lease from the network's dnsmasq, then every
run pipes `dd if=/dev/zero bs=64k` into busybox nc to the sink, first
vireo then QEMU, the order flipped every run. The sink measures from the
first byte to EOF and checks that it sees the host's address (NAT). Also
the VMM's CPU time (user + system, all threads) per transferred GiB,
steadier than wall time on a shared machine.

  bench/net/nat_throughput.py [--runs 5] [--mib 64] [--build build]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for sub in ("", "net", "linux"):
    sys.path.insert(0, os.path.join(ROOT, "tests", "system", sub))
os.environ.setdefault("BUILD_GUEST", os.path.join(ROOT, "guest", "build-guest.sh"))
import linuxguest  # noqa: E402
from nettest import Daemon, Namespaces, mkdtemp  # noqa: E402

CMDLINE = "console=ttyS0 nokaslr mitigations=off panic=-1 quiet"
MACS = {"vireo": "52:54:00:9b:00:01", "qemu": "52:54:00:9b:00:02"}
TAPS = {"vireo": "tbvireo", "qemu": "tbqemu"}
NET = """<network><name>bn</name><forward mode='nat'/><bridge name='vbbn'/>
  <ip address='10.233.0.1' prefix='24'>
    <dhcp><range start='10.233.0.100' end='10.233.0.110'/></dhcp></ip></network>"""
SINK = r"""
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(4)
print("listening", flush=True)
while True:
    c, a = s.accept()
    n, t0 = 0, None
    while True:
        b = c.recv(1 << 18)
        if not b:
            break
        if t0 is None:
            t0 = time.monotonic()
        n += len(b)
    t1 = time.monotonic()
    c.close()
    print(a[0], n, t1 - (t0 or t1), flush=True)
"""
LEASE_SCRIPT = """#!/bin/sh
case "$1" in
bound|renew)
    ip addr add "$ip/${mask:-24}" dev "$interface"
    ip route replace default via "${router%% *}" dev "$interface"
    echo "lease $ip"
    ;;
esac
exit 0
"""


class Console:
    """A VMM whose serial console is its stdin/stdout (what linuxguest.Shell
    drives: out, send, expect_re)."""

    def __init__(self, ns, args):
        self.proc = ns.popen("h", *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        self.out = b""
        self.cv = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, 65536)
            with self.cv:
                if not data:
                    self.cv.notify_all()
                    return
                self.out += data
                self.cv.notify_all()

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def expect_re(self, regex, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while not regex.search(self.out):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return bool(regex.search(self.out))
                self.cv.wait(min(left, 0.5))
        return True

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fail(msg, *consoles):
    for c in consoles:
        if c:
            print(c.out.decode(errors="replace")[-2000:], file=sys.stderr)
    sys.exit(msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mib", type=int, default=64, help="MiB per transfer")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--probe", action="append", default=[],
                    help="a guest command to run in both guests first (diagnostics)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ.setdefault("VIREOD", os.path.join(build, "vireod"))
    kernel, initrd = linuxguest.guest_files()
    ns = Namespaces("h", "o")
    tmp = mkdtemp()
    d = None
    vms = {}
    try:
        ns.veth("h", "up0", "o", "out0")
        ns.run("h", "ip", "addr", "add", "10.99.0.1/24", "dev", "up0")
        ns.run("h", "ip", "route", "add", "default", "via", "10.99.0.2")
        ns.run("o", "ip", "addr", "add", "10.99.0.2/24", "dev", "out0")
        sink = ns.popen("o", sys.executable, "-c", SINK, "5001", stdout=subprocess.PIPE,
                        text=True)
        if sink.stdout.readline().strip() != "listening":
            fail("the sink did not start")
        d = Daemon(ns, "h", tmp)
        with open(os.path.join(tmp, "bn.xml"), "w") as f:
            f.write(NET)
        rc, _, err = d.virsh("net-create", os.path.join(tmp, "bn.xml"))
        if rc:
            fail("net-create: " + err)
        for who, tap in TAPS.items():
            ns.run("h", "ip", "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
            ns.run("h", "ip", "link", "set", tap, "master", "vbbn", "up")
        vms["vireo"] = Console(ns, [
            os.path.join(build, "vireo"), "--accel", "emu", "--cpus", "1", "--memory", "256M",
            "--kernel", kernel, "--initrd", initrd, "--cmdline", CMDLINE, "--serial", "stdio",
            "--net", f"tap={TAPS['vireo']},mac={MACS['vireo']}"])
        vms["qemu"] = Console(ns, [
            "qemu-system-x86_64", "-accel", "tcg", "-M", "q35", "-smp", "1", "-m", "256M",
            "-kernel", kernel, "-initrd", initrd, "-append", CMDLINE, "-display", "none",
            "-monitor", "none", "-nodefaults", "-no-reboot", "-serial", "stdio",
            "-netdev", f"tap,id=n0,ifname={TAPS['qemu']},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=n0,mac={MACS['qemu']}"])
        shells = {}
        for who, vm in vms.items():
            if not (vm.expect_re(re.compile(b"vireo-guest: ready"), 300) and
                    vm.expect_re(re.compile(re.escape(linuxguest.PROMPT.encode())), 60)):
                fail(f"{who}: the guest did not boot", vm)
            sh = shells[who] = linuxguest.Shell(vm)
            b64 = __import__("base64").b64encode(LEASE_SCRIPT.encode()).decode()
            sh.run(f"echo {b64} | base64 -d > /tmp/l.sh && chmod 755 /tmp/l.sh")
            out = sh.run("ip link set eth0 up && udhcpc -i eth0 -f -q -n -t 10 -T 2 "
                         "-s /tmp/l.sh", timeout=60)
            m = re.search(r"lease (10\.233\.0\.\d+)", out)
            if not m:
                fail(f"{who}: no lease: {out}", vm)
            print(f"{who}: booted, lease {m.group(1)}", file=sys.stderr)

        for cmd in a.probe:
            for who in vms:
                t0 = time.monotonic()
                out = shells[who].run(cmd, timeout=600)
                print(f"{who} {time.monotonic() - t0:.2f} s: {cmd}\n{out}", file=sys.stderr)
        count = a.mib * 16
        results = {who: [] for who in vms}
        for run in range(a.runs):
            order = ["vireo", "qemu"] if run % 2 == 0 else ["qemu", "vireo"]
            for who in order:
                cpu0 = vms[who].cpu_seconds()
                out, status = shells[who].status(
                    f"dd if=/dev/zero bs=64k count={count} 2>/dev/null | nc 10.99.0.2 5001",
                    timeout=600)
                cpu = vms[who].cpu_seconds() - cpu0
                line = sink.stdout.readline().split()
                peer, n, secs = line[0], int(line[1]), float(line[2])
                if status != 0 or n != count * 65536 or peer != "10.99.0.1":
                    fail(f"{who}: transfer failed (status {status}, {n} bytes from {peer}): "
                         f"{out}", vms[who])
                mbs = n / secs / 1e6
                results[who].append((mbs, cpu / (n / 2**30)))
                print(f"  run {run + 1} {who:5}: {mbs:7.1f} MB/s  {cpu:5.2f} s CPU "
                      f"({cpu / (n / 2**30):5.2f} s/GiB)", file=sys.stderr)
        v = [r[0] for r in results["vireo"]]
        q = [r[0] for r in results["qemu"]]
        vc = [r[1] for r in results["vireo"]]
        qc = [r[1] for r in results["qemu"]]
        print(f"guest -> outside TCP through vireod's NAT network, {a.mib} MiB x {a.runs} runs "
              f"each, 1 vCPU, busybox dd | nc")
        print(f"  throughput (median)   vireo emu {statistics.median(v):7.1f} MB/s   "
              f"qemu tcg {statistics.median(q):7.1f} MB/s   ratio vireo/qemu "
              f"{statistics.median(v) / statistics.median(q):.2f}")
        print(f"  per-run ratios        " + " ".join(f"{x / y:.2f}" for x, y in zip(v, q)))
        print(f"  VMM CPU per GiB       vireo emu {statistics.median(vc):7.2f} s      "
              f"qemu tcg {statistics.median(qc):7.2f} s      ratio vireo/qemu "
              f"{statistics.median(vc) / statistics.median(qc):.2f}")
    finally:
        for vm in vms.values():
            if vm.proc.poll() is None:
                vm.proc.kill()
                vm.proc.wait()
        if d:
            d.virsh("net-destroy", "bn")
            d.stop()
        for tap in TAPS.values():
            ns.run("h", "ip", "link", "del", tap)
        ns.close()
        __import__("shutil").rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
