#!/usr/bin/env python3
"""The virtio devices as Debian's kernel sees and uses them: the default
guest (guest/build-guest.sh) on the emu engine, driven through its shell.

   test_virtio_linux.py disk      raw, qcow2 and read-only disks: serial=,
                                  an ext2 file system written by the guest,
                                  `sync` reaching the image while it runs,
                                  the host reading it after power-off and
                                  a second boot reading it back
   test_virtio_linux.py net       a TAP in a network namespace with a peer:
                                  ping both ways, 64 MiB over TCP each way,
                                  sha256 the same on both ends
   test_virtio_linux.py console   --console virtio: the shell on hvc0; and
                                  virtio-rng behind /dev/hwrng
   test_virtio_linux.py balloon   QMP balloon: the guest's touched memory
                                  goes back to the host (vireo's RSS falls),
                                  query-balloon follows, deflating returns it

Exit status 77 (skipped) if the guest cannot be built (no apt).
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import linuxguest
import vmtest
from linuxguest import Shell, check_log, poweroff
from vmtest import check

mode = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="vireo-vlinux-")
VIREO_IMG = os.environ.get("VIREO_IMG", "build/vireo-img")
MIB = 1 << 20


def cleanup():
    shutil.rmtree(tmp, ignore_errors=True)


# --- disk ---------------------------------------------------------------

# Written by the guest as /pattern on each file system: unique lines, so a
# misplaced or lost sector shows.
PATTERN_LINES = 200000
PATTERN = "".join(f"{i}\n" for i in range(1, PATTERN_LINES + 1)).encode()
PATTERN_SHA = hashlib.sha256(PATTERN).hexdigest()
RO_SECTOR0 = b"vireo read-only disk, sector 0\n".ljust(512, b".")


def debugfs_cat(image, path):
    p = subprocess.run(["debugfs", "-R", f"cat {path}", image], capture_output=True,
                       timeout=60)
    return p.stdout


def qcow2_as_raw(image, name):
    raw = os.path.join(tmp, name)
    p = subprocess.run([VIREO_IMG, "convert", "-U", "-f", "qcow2", "-O", "raw", image, raw],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"vireo-img converts the qcow2 image to raw {p.stderr.strip()}")
    return raw


def fsck_clean(image, what):
    p = subprocess.run(["e2fsck", "-fn", image], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"{what}: e2fsck finds the file system clean"
          + ("" if p.returncode == 0 else ": " + p.stdout[-300:]))


def devices_by_serial(sh):
    out = sh.run("for d in /sys/block/vd*; do echo \"$d $(cat $d/serial) $(cat $d/ro)\"; done")
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith("/sys/block/"):
            found[parts[1]] = (parts[0].rsplit("/", 1)[1], parts[2])
    return found


def test_disk():
    raw = os.path.join(tmp, "raw.img")
    with open(raw, "wb") as f:
        f.truncate(64 * MIB)
    qcow = os.path.join(tmp, "disk.qcow2")
    subprocess.run([VIREO_IMG, "create", "-q", "-f", "qcow2", qcow, "64M"], check=True,
                   timeout=60)
    ro = os.path.join(tmp, "ro.img")
    with open(ro, "wb") as f:
        f.write(RO_SECTOR0)
        f.truncate(MIB)
    disks = ["--disk", f"path={raw},format=raw,serial=VV-RAW",
             "--disk", f"path={qcow},format=qcow2,serial=VV-QCOW2",
             "--disk", f"path={ro},readonly=on,serial=VV-RO"]

    vm = linuxguest.boot(*disks, what=", three disks")
    sh = Shell(vm)
    devs = devices_by_serial(sh)
    check(set(devs) == {"VV-RAW", "VV-QCOW2", "VV-RO"},
          f"serial= shows in /sys/block/vd*/serial ({devs})")
    check(devs.get("VV-RO", ("", ""))[1] == "1" and devs.get("VV-RAW", ("", ""))[1] == "0",
          "the read-only disk, and only it, is read-only in the guest")
    for serial, name in (("VV-RAW", "raw"), ("VV-QCOW2", "qcow2")):
        dev = devs.get(serial, ("missing",))[0]
        out, st = sh.status(f"mke2fs -q /dev/{dev} && mkdir -p /mnt/{name} && "
                            f"mount /dev/{dev} /mnt/{name} && "
                            f"seq 1 {PATTERN_LINES} > /mnt/{name}/pattern && sync", timeout=300)
        check(st == 0, f"{name}: mke2fs, mount, write /pattern, sync in the guest ({out[-200:]})")
    # `sync` is a flush on each disk: what it covers is in the image files
    # while the guest still runs.
    check(debugfs_cat(raw, "/pattern") == PATTERN,
          "raw: after the guest's sync the host reads /pattern from the image")
    check(debugfs_cat(qcow2_as_raw(qcow, "running.raw"), "/pattern") == PATTERN,
          "qcow2: after the guest's sync the host reads /pattern from the image")

    rodev = devs.get("VV-RO", ("missing",))[0]
    out, st = sh.status(f"dd if=/dev/zero of=/dev/{rodev} bs=512 count=1 oflag=direct")
    check(st not in (0, None), f"a write to the read-only disk fails ({out.strip()[-120:]})")
    out = sh.run(f"dd if=/dev/{rodev} bs=512 count=1 2>/dev/null | sha256sum")
    check(hashlib.sha256(RO_SECTOR0).hexdigest() in out, "the read-only disk reads what it holds")
    out, st = sh.status("umount /mnt/raw && umount /mnt/qcow2")
    check(st == 0, "both file systems unmount")
    check_log(sh.run("dmesg"), "dmesg")
    if not poweroff(vm):
        return

    check(debugfs_cat(raw, "/pattern") == PATTERN, "raw: the host reads the guest's /pattern")
    fsck_clean(raw, "raw")
    qraw = qcow2_as_raw(qcow, "after.raw")
    check(debugfs_cat(qraw, "/pattern") == PATTERN, "qcow2: the host reads the guest's /pattern")
    fsck_clean(qraw, "qcow2")
    p = subprocess.run([VIREO_IMG, "check", qcow], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"vireo-img check: the qcow2 image is clean {p.stdout.strip()[-200:]}")
    with open(ro, "rb") as f:
        check(f.read(512) == RO_SECTOR0, "the read-only image is unchanged")

    # A second run on the same images: the guest reads its data back.
    vm = linuxguest.boot(*disks, what=", second run on the same images")
    sh = Shell(vm)
    devs = devices_by_serial(sh)
    for serial, name in (("VV-RAW", "raw"), ("VV-QCOW2", "qcow2")):
        dev = devs.get(serial, ("missing",))[0]
        out = sh.run(f"mkdir -p /mnt/{name} && mount -o ro /dev/{dev} /mnt/{name} && "
                     f"sha256sum /mnt/{name}/pattern", timeout=300)
        check(PATTERN_SHA in out, f"{name}: after a new boot the guest reads /pattern back")
    poweroff(vm)


# --- net ----------------------------------------------------------------

PEER_IP, GUEST_IP = "10.77.0.1", "10.77.0.2"
GUEST_MAC = "52:54:00:76:76:01"
BLOB = 64 * MIB
# The peer side of a TCP transfer, run inside the namespace:
#   send HOST PORT FILE   connect (retrying while the guest starts listening), send FILE
#   recv HOST PORT        accept one connection; print "got BYTES SHA256"
#   ping HOST COUNT       ICMP echo (a raw socket: no ping binary needed); print "replies N"
PEER = r"""
import hashlib, socket, struct, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "ping":
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(10)
    replies = 0
    for seq in range(port):
        body = struct.pack("!BBHHH", 8, 0, 0, 0x7676, seq) + b"vireo ping"
        csum = sum(struct.unpack("!%dH" % (len(body) // 2), body))
        csum = (csum & 0xFFFF) + (csum >> 16)
        body = body[:2] + struct.pack("!H", ~(csum + (csum >> 16)) & 0xFFFF) + body[4:]
        s.sendto(body, (host, 0))
        try:
            while True:
                pkt, addr = s.recvfrom(2048)
                icmp = pkt[(pkt[0] & 15) * 4:]
                if addr[0] == host and icmp[0] == 0 and icmp[4:8] == struct.pack("!HH", 0x7676, seq):
                    replies += 1
                    break
        except socket.timeout:
            pass
    print("replies", replies, flush=True)
elif mode == "send":
    end = time.monotonic() + 120
    while True:
        try:
            s = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)
    s.settimeout(300)
    with open(sys.argv[4], "rb") as f:
        s.sendfile(f)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    print("sent", flush=True)
else:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1)
    ls.settimeout(300)
    print("listening", flush=True)
    c, _ = ls.accept()
    c.settimeout(300)
    h, n = hashlib.sha256(), 0
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        h.update(d)
        n += len(d)
    print("got", n, h.hexdigest(), flush=True)
"""


def netns(ns, *cmd, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=kw.get("timeout", 60))


def test_net():
    ns, tap = f"vv-vlinux-{os.getpid()}", "vvtap0"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        print("cannot create a network namespace here (needs CAP_SYS_ADMIN): skipped")
        sys.exit(77)
    try:
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "tuntap", "add", "dev", tap, "mode", "tap"],
                    ["sysctl", "-qw", f"net.ipv6.conf.{tap}.disable_ipv6=1"],
                    ["ip", "addr", "add", f"{PEER_IP}/24", "dev", tap],
                    ["ip", "link", "set", tap, "up"]):
            p = netns(ns, *cmd)
            check(p.returncode == 0, f"in {ns}: {' '.join(cmd)} {p.stderr.strip()}")
        net_guest(ns, tap)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def net_guest(ns, tap):
    blob = os.path.join(tmp, "blob")
    with open(blob, "wb") as f:
        f.write(os.urandom(BLOB))
    with open(blob, "rb") as f:
        blob_sha = hashlib.sha256(f.read()).hexdigest()

    vm = linuxguest.boot("--net", f"tap={tap},mac={GUEST_MAC}", wrap=["ip", "netns", "exec", ns],
                         what=", one NIC")
    sh = Shell(vm)
    check(sh.run("cat /sys/class/net/eth0/address").strip() == GUEST_MAC,
          "the guest's eth0 has the MAC given to --net")
    out, st = sh.status(f"ip addr add {GUEST_IP}/24 dev eth0 && ip link set eth0 up && "
                        f"ping -c 3 -W 10 {PEER_IP}", timeout=120)
    check(st == 0 and "3 packets received" in out, f"the guest pings the peer ({out[-160:]!r})")
    p = netns(ns, sys.executable, "-c", PEER, "ping", GUEST_IP, "3")
    check(p.stdout.strip() == "replies 3", f"the peer pings the guest ({p.stdout.strip()})")

    # Peer -> guest: the guest hashes what it receives and keeps a copy.
    sender = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", PEER, "send",
                               GUEST_IP, "5000", blob], stdout=subprocess.PIPE, text=True)
    out, st = sh.status("nc -l -p 5000 < /dev/null | tee /tmp/blob | sha256sum", timeout=400)
    sender.wait(timeout=60)
    check(blob_sha in out, "64 MiB from the peer over TCP: the guest's sha256 matches")
    # Guest -> peer: the copy goes back.
    receiver = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", PEER, "recv",
                                 PEER_IP, "5001"], stdout=subprocess.PIPE, text=True)
    check(receiver.stdout.readline().strip() == "listening", "the peer listens")
    out, st = sh.status(f"nc {PEER_IP} 5001 < /tmp/blob", timeout=400)
    check(st == 0, "the guest's nc sends its copy")
    try:
        got = receiver.communicate(timeout=60)[0].strip()
    except subprocess.TimeoutExpired:
        receiver.kill()
        got = ""
    check(got == f"got {BLOB} {blob_sha}",
          f"64 MiB from the guest over TCP: the peer's sha256 matches ({got})")
    check_log(sh.run("dmesg"), "dmesg")
    poweroff(vm)


# --- console and rng -----------------------------------------------------

def hwrng_read(sh):
    out = sh.run("dd if=/dev/hwrng bs=512 count=2 2>/dev/null | od -An -v -tx1")
    return bytes.fromhex("".join(out.split()))


def test_console():
    vm = linuxguest.boot("--console", "virtio", "--rng",
                         cmdline=linuxguest.CMDLINE + " console=hvc0", what=", console on hvc0")
    sh = Shell(vm)
    check(sh.run("tty").strip() == "/dev/hvc0", "the shell's terminal is hvc0")
    check("hvc0" in sh.run("cat /sys/class/tty/console/active"), "hvc0 is a kernel console")
    check(sh.run("echo $((6 * 7)) over hvc0").strip() == "42 over hvc0",
          "a command typed on the console ran and answered on hvc0")
    cur = sh.run("cat /sys/class/misc/hw_random/rng_current").strip()
    check(cur.startswith("virtio_rng"), f"/dev/hwrng is virtio-rng ({cur})")
    a, b = hwrng_read(sh), hwrng_read(sh)
    check(len(a) == 1024 and len(b) == 1024, f"/dev/hwrng returns 1024 bytes ({len(a)}, {len(b)})")
    check(a != bytes(len(a)) and a != b, "the bytes are not all zeros and change between reads")
    check(len(set(a)) > 128, f"and look random ({len(set(a))} distinct byte values)")
    check_log(sh.run("dmesg"), "dmesg")
    poweroff(vm)


# --- balloon -------------------------------------------------------------

def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    return int(m.group(1)) if m else 0


def wait_actual(q, target, timeout=180):
    """Poll query-balloon until 'actual' reaches target (bytes); the last answer."""
    end = time.monotonic() + timeout
    r = {}
    while time.monotonic() < end:
        r = q.cmd("query-balloon").get("return", {})
        if r.get("actual") == target:
            break
        time.sleep(1)
    return r


def test_balloon():
    scratch = os.path.join(tmp, "scratch.img")
    with open(scratch, "wb") as f:
        f.truncate(320 * MIB)
    vm = linuxguest.boot("--balloon", "--disk", f"path={scratch},format=raw", control=True,
                         what=", balloon and a scratch disk")
    sh = Shell(vm)
    q = vm.qmp()
    q.cmd("qmp_capabilities")
    r = q.cmd("query-balloon")
    check(r.get("return", {}).get("actual") == 512 * MIB,
          f"query-balloon: actual is the guest's 512 MiB before inflating ({r})")
    # Touch memory the guest keeps but can give up: the page cache of the
    # disk, held by an open descriptor (the last close would drop it).
    out, st = sh.status("exec 3</dev/vda; dd if=/dev/vda of=/dev/null bs=1M 2>&1; "
                        "grep -E 'MemTotal|^Cached' /proc/meminfo", timeout=300)
    check(st == 0, f"the guest reads 320 MiB into its page cache ({out.strip()[-200:]})")
    rss_full = vm_rss_kib(vm.proc.pid)
    check(rss_full > 300 * 1024, f"vireo's RSS holds the touched memory ({rss_full} KiB)")
    memtotal_full = int(re.search(r"MemTotal:\s+(\d+)", sh.run("grep MemTotal /proc/meminfo"))
                        .group(1))

    target = 96 * MIB
    check(q.cmd("balloon", value=target) == {"return": {}}, "balloon 96 MiB is accepted")
    r = wait_actual(q, target)
    check(r.get("actual") == target, f"query-balloon reaches 96 MiB ({r})")
    rss_small = vm_rss_kib(vm.proc.pid)
    check(rss_full - rss_small > 250 * 1024,
          f"inflating gave the guest's touched memory back: RSS {rss_full} -> {rss_small} KiB")
    memtotal = int(re.search(r"MemTotal:\s+(\d+)", sh.run("grep MemTotal /proc/meminfo"))
                   .group(1))
    check(memtotal_full - memtotal > 350 * 1024,
          f"the guest's MemTotal shrank by the balloon ({memtotal_full} -> {memtotal} KiB)")

    check(q.cmd("balloon", value=512 * MIB) == {"return": {}}, "balloon 512 MiB is accepted")
    r = wait_actual(q, 512 * MIB)
    check(r.get("actual") == 512 * MIB, f"deflated: query-balloon is back at 512 MiB ({r})")
    # tmpfs takes at most half the RAM: 200 MiB fit only with the balloon out.
    out, st = sh.status("dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>&1 && rm /tmp/fill",
                        timeout=300)
    check(st == 0, f"after deflating the guest fills 200 MiB of tmpfs ({out.strip()[-120:]})")
    q.close()
    check_log(sh.run("dmesg"), "dmesg")
    poweroff(vm)


try:
    {"disk": test_disk, "net": test_net, "console": test_console, "balloon": test_balloon}[mode]()
finally:
    cleanup()
vmtest.finish()
