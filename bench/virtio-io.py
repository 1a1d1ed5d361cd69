#!/usr/bin/env python3
"""Benchmark (not a test): virtio-blk and virtio-net throughput of the
default guest (guest/build-guest.sh) on vireo's emu engine against QEMU
TCG, in one run, the two VMMs alternating.

Both boot the same kernel, initramfs and command line with the same memory
and vCPUs, one 256 MiB raw disk opened with O_DIRECT (vireo
`--disk ...,cache=none`, QEMU `-drive ...,if=virtio,cache=none`) and one
virtio-net NIC on the same TAP, which lives in a network namespace this
script creates (traffic never leaves it). In the guest:

  disk read    dd if=/dev/vda of=/dev/null bs=1M count=256 iflag=direct
  disk write   dd if=/dev/zero of=/dev/vda bs=1M count=256 oflag=direct
               (dd's own byte count and seconds)
  net in       the peer in the namespace sends NET_MIB MiB to busybox
               `nc -l` in the guest: from connect until the guest closes
  net out      the guest's nc sends NET_MIB MiB from tmpfs to the peer:
               from accept until end of stream
  1k syscalls  reference without a device: dd bs=1k from /dev/zero to
               /dev/null (64 MiB), the guest CPU's speed at small system
               calls, which is what the TCP transfers spend most time on

Each figure is MiB/s; the summary gives the median of the runs and the
ratio vireo/QEMU (higher is better for vireo).

usage: bench/virtio-io.py [--runs 3] [--cpus 1] [--memory 512M]
                          [--net-mib 64] [--vireo build/vireo]
Needs root (network namespace, TAP) and qemu-system-x86_64.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests/system"), os.path.join(ROOT, "tests/system/linux")]
os.chdir(ROOT)

import linuxguest  # noqa: E402
from linuxguest import PROMPT, Shell  # noqa: E402
from vmtest import VM  # noqa: E402

MIB = 1 << 20
DISK_MIB = 256
PEER_IP, GUEST_IP = "10.78.0.1", "10.78.0.2"
GUEST_MAC = "52:54:00:78:78:01"
TAP = "vbtap0"

# The namespace's side of a transfer; prints "MIB/S" of what it measured.
#   send HOST PORT MIB   connect (retrying until the guest listens), send,
#                        half-close, wait for the guest to close
#   recv HOST PORT       accept one connection, read to end of stream
PEER = r"""
import socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "send":
    mib = int(sys.argv[4])
    chunk = bytes(1 << 20)
    end = time.monotonic() + 60
    while True:
        try:
            s = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)
    s.settimeout(600)
    t0 = time.monotonic()
    for _ in range(mib):
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    t = time.monotonic() - t0
    print("%.3f" % (mib / t), flush=True)
else:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1)
    ls.settimeout(600)
    print("listening", flush=True)
    c, _ = ls.accept()
    c.settimeout(600)
    t0 = time.monotonic()
    n = 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        n += len(d)
    t = time.monotonic() - t0
    print("%.3f %d" % (n / (1 << 20) / t, n), flush=True)
"""

# busybox dd prints records, not a rate: the figure is its records out (1 MiB
# each) over the "real" time of busybox `time dd ...`, both from the guest.
DD_RE = re.compile(r"(\d+)\+(\d+) records out")
TIME_RE = re.compile(r"real\s+(\d+)m\s*([\d.]+)s")


def die(msg, vm=None):
    if vm:
        vm.kill()
        print(vm.text[-3000:], file=sys.stderr)
        print(vm.errtext[-2000:], file=sys.stderr)
    sys.exit(f"virtio-io: {msg}")


def sh(*cmd, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        die(f"{' '.join(cmd)}: {p.stderr.strip()}")
    return p


def make_netns(ns):
    sh("ip", "netns", "add", ns)
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "tuntap", "add", "dev", TAP, "mode", "tap"],
                ["sysctl", "-qw", f"net.ipv6.conf.{TAP}.disable_ipv6=1"],
                ["ip", "addr", "add", f"{PEER_IP}/24", "dev", TAP],
                ["ip", "link", "set", TAP, "up"]):
        sh("ip", "netns", "exec", ns, *cmd)


def vmm_argv(which, args, kernel, initrd, disk):
    if which == "vireo":
        return [args.vireo, "--accel", "emu", "--kernel", kernel, "--initrd", initrd,
                "--cmdline", linuxguest.CMDLINE, "--memory", args.memory,
                "--cpus", str(args.cpus), "--serial", "stdio",
                "--disk", f"path={disk},format=raw,cache=none",
                "--net", f"tap={TAP},mac={GUEST_MAC}"]
    return ["qemu-system-x86_64", "-accel", "tcg", "-M", "q35", "-m", args.memory,
            "-smp", str(args.cpus), "-kernel", kernel, "-initrd", initrd,
            "-append", linuxguest.CMDLINE, "-display", "none", "-serial", "stdio",
            "-monitor", "none", "-nodefaults", "-no-reboot",
            "-drive", f"file={disk},format=raw,if=virtio,cache=none",
            "-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=n0,mac={GUEST_MAC}"]


def dd_mibs(shell, cmd, vm, bs=MIB):
    t0 = time.monotonic()
    out, st = shell.status(f"time {cmd} 2>&1", timeout=600)
    host_s = time.monotonic() - t0
    m, t = DD_RE.search(out), TIME_RE.search(out)
    if st != 0 or not m or not t or m.group(2) != "0":
        die(f"'{cmd}' in the guest: {out.strip()[-300:]}", vm)
    guest_s = int(t.group(1)) * 60 + float(t.group(2))
    # The guest's clock is the VMM's to keep: a large gap to the host's
    # view (which adds a console round trip) means it is off.
    if abs(host_s - guest_s) > 0.5 + 0.1 * host_s:
        print(f"  warning: '{cmd}': guest says {guest_s:.2f} s, host saw {host_s:.2f} s",
              flush=True)
    return int(m.group(1)) * bs / MIB / guest_s


def peer(ns, *argv):
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", PEER, *argv],
                            stdout=subprocess.PIPE, text=True)


class Phase:
    """Profiling (--perf PREFIX): perf record -g of the VMM (ip netns exec
    execs it: same pid) during one measurement, into PREFIX.NAME; and the
    VMM's CPU time over it, printed, to tell a busy VMM from a waiting one."""

    def __init__(self, args, vm, name):
        self.args, self.pid, self.name = args, vm.proc.pid, name

    def cpu(self):
        with open(f"/proc/{self.pid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
        return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")

    def profiled(self):
        return self.args.guest_profile and self.name == self.args.guest_profile_phase

    def __enter__(self):
        self.perf = None
        if self.profiled():
            os.kill(self.pid, signal.SIGPROF)   # guest profile sampling on
        if self.args.perf:
            out = f"{self.args.perf}.{self.name.replace(' ', '-')}"
            # PERF_STAT=events: count them (perf stat) instead of sampling.
            # PERF_EVENT=event: record that event (e.g. a uprobe) instead.
            what = (["stat", "-e", os.environ["PERF_STAT"]] if os.environ.get("PERF_STAT")
                    else ["record", "-q", "-e", os.environ["PERF_EVENT"]]
                    if os.environ.get("PERF_EVENT") else ["record", "-q", "-g"])
            self.perf = subprocess.Popen(["perf", *what, "-p", str(self.pid), "-o", out],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        self.t0, self.c0 = time.monotonic(), self.cpu()

    def __exit__(self, *exc):
        if self.profiled():
            os.kill(self.pid, signal.SIGPROF)   # and off
        if self.perf:
            self.perf.send_signal(2)
            self.perf.wait(timeout=60)
            print(f"  {self.name}: {time.monotonic() - self.t0:.2f} s wall, "
                  f"{self.cpu() - self.c0:.2f} s CPU", flush=True)


def one_run(which, args, ns, kernel, initrd, disk):
    """Boot under `which`, measure; {figure: MiB/s}."""
    argv = ["ip", "netns", "exec", ns] + vmm_argv(which, args, kernel, initrd, disk)
    vm = VM(argv=argv, timeout=1800)
    if not (vm.expect("vireo-guest: ready", timeout=600) and vm.expect(PROMPT, timeout=60)):
        die(f"{which}: the guest did not reach its shell", vm)
    shell = Shell(vm)
    out, st = shell.status(f"ip addr add {GUEST_IP}/24 dev eth0 && ip link set eth0 up && "
                           f"ping -c 1 -W 10 {PEER_IP} >/dev/null && "
                           f"dd if=/dev/zero of=/tmp/blob bs=1M count={args.net_mib} 2>&1",
                           timeout=300)
    if st != 0:
        die(f"{which}: network set-up in the guest: {out.strip()[-300:]}", vm)
    r = {}
    with Phase(args, vm, "disk read"):
        r["disk read"] = dd_mibs(shell, f"dd if=/dev/vda of=/dev/null bs=1M count={DISK_MIB} "
                                 "iflag=direct", vm)
    with Phase(args, vm, "disk write"):
        r["disk write"] = dd_mibs(shell, f"dd if=/dev/zero of=/dev/vda bs=1M count={DISK_MIB} "
                                  "oflag=direct", vm)

    # Reference, no device: 1 KiB read+write system calls from /dev/zero to
    # /dev/null, the guest CPU's speed at the work a TCP transfer through
    # busybox nc is made of (small reads and writes, poll).
    with Phase(args, vm, "syscalls"):
        r["1k syscalls"] = dd_mibs(shell, "dd if=/dev/zero of=/dev/null bs=1k count=65536", vm,
                                   bs=1024)

    if args.disk_only:
        vm.kill()
        return r
    sender = peer(ns, "send", GUEST_IP, "5000", str(args.net_mib))
    with Phase(args, vm, "net in"):
        out, st = shell.status("nc -l -p 5000 < /dev/null > /dev/null", timeout=600)
    try:
        got = sender.communicate(timeout=120)[0].split()
    except subprocess.TimeoutExpired:
        sender.kill()
        got = []
    if st != 0 or len(got) != 1:
        die(f"{which}: peer -> guest transfer failed ({out.strip()[-200:]}, {got})", vm)
    r["net in"] = float(got[0])

    receiver = peer(ns, "recv", PEER_IP, "5001")
    if receiver.stdout.readline().strip() != "listening":
        die("the peer does not listen", vm)
    with Phase(args, vm, "net out"):
        out, st = shell.status(f"nc {PEER_IP} 5001 < /tmp/blob", timeout=600)
    try:
        got = receiver.communicate(timeout=120)[0].split()
    except subprocess.TimeoutExpired:
        receiver.kill()
        got = []
    if st != 0 or len(got) != 2 or int(got[1]) != args.net_mib * MIB:
        die(f"{which}: guest -> peer transfer failed ({out.strip()[-200:]}, {got})", vm)
    r["net out"] = float(got[0])
    if args.stats:
        print(shell.run("cat /proc/interrupts | grep -E 'virtio|LOC|CPU'; "
                        "grep -E '^(Tcp|Ip):' /proc/net/snmp; cat /proc/net/dev; "
                        "grep -E 'TCPTimeouts|Retrans|TCPLoss|TCPSack' /proc/net/netstat "
                        "| head -2"), flush=True)

    vm.send("poweroff\n")
    if vm.wait(timeout=120) is None:
        vm.kill()
    if args.stats and "emu stats" in vm.errtext:     # VIREO_EMU_STATS=1
        print(vm.errtext[vm.errtext.find("emu stats"):].strip(), flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--memory", default="512M")
    ap.add_argument("--net-mib", type=int, default=64)
    ap.add_argument("--vireo", default="build/vireo")
    ap.add_argument("--only", choices=("vireo", "qemu"), help="profiling: one VMM only")
    ap.add_argument("--perf", help="profiling: perf record -g of the VMM into PREFIX.<figure>")
    ap.add_argument("--guest-profile", metavar="PREFIX",
                    help="profiling: VIREO_EMU_PROFILE=PREFIX, sampling only during "
                         "--guest-profile-phase (see bench/guest-profile.py)")
    ap.add_argument("--guest-profile-phase", default="net out")
    ap.add_argument("--disk-only", action="store_true", help="skip the network figures")
    ap.add_argument("--stats", action="store_true",
                    help="diagnosis: print the guest's interrupt and TCP counters")
    ap.add_argument("--dir", default="/var/tmp", help="where the disk image goes (not tmpfs)")
    args = ap.parse_args()
    if args.guest_profile:
        os.environ["VIREO_EMU_PROFILE"] = os.path.abspath(args.guest_profile)
        os.environ["VIREO_EMU_PROFILE_WAIT"] = "1"
    if not os.access(args.vireo, os.X_OK):
        sys.exit("build first: meson setup build && ninja -C build")
    if not shutil.which("qemu-system-x86_64"):
        sh("apt-get", "install", "-y", "-qq", "qemu-system-x86")
    kernel, initrd = linuxguest.guest_files()

    tmp = tempfile.mkdtemp(prefix="vireo-bench-virtio-", dir=args.dir)
    disk = os.path.join(tmp, "disk.raw")
    # Allocated, non-zero data: the read goes to the host disk, not a hole.
    with open(disk, "wb") as f:
        block = os.urandom(MIB)
        for _ in range(DISK_MIB):
            f.write(block)
        os.fsync(f.fileno())
    ns = f"vb-virtio-{os.getpid()}"
    make_netns(ns)
    results = {"vireo": [], "qemu": []}
    try:
        for i in range(args.runs):
            order = ("vireo", "qemu") if i % 2 == 0 else ("qemu", "vireo")
            for which in order:
                if args.only and which != args.only:
                    continue
                r = one_run(which, args, ns, kernel, initrd, disk)
                results[which].append(r)
                print(f"run {i + 1} {which:5}: " +
                      "  ".join(f"{k} {v:7.2f}" for k, v in r.items()) + "  MiB/s", flush=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nvirtio on the default guest, vireo --accel emu vs qemu -accel tcg, "
          f"{args.cpus} vCPU(s), {args.memory}, {args.runs} runs, median MiB/s")
    print(f"  {'':11} {'vireo':>9} {'qemu':>9} {'ratio':>7}")
    if args.only:
        return
    for k in results["vireo"][0]:
        v = statistics.median(r[k] for r in results["vireo"])
        q = statistics.median(r[k] for r in results["qemu"])
        print(f"  {k:11} {v:9.2f} {q:9.2f} {v / q:7.2f}")


main()
