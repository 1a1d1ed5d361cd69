#!/usr/bin/env python3
"""virtio devices driven by the test kernel (testkernel.virtio=..., see
guest/testkernel/README.md) on one engine, and the device options' errors.

   test_virtio.py ACCEL basic|qcow2|readonly|hostile|console|net|balloon|qemu|options
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import vmtest
from vmtest import VM, check

accel, mode = sys.argv[1], sys.argv[2]
vmtest.require_accel(accel)
tmp = tempfile.mkdtemp(prefix="vireo-virtio-")
SECTOR0 = b"VIREODSK" + bytes(range(8))
PATTERN = bytes((i * 7 + 3) & 0xFF for i in range(512))


def raw_disk(name="disk.img", size=1 << 20):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(SECTOR0)
        f.truncate(size)
    return path


def boot(*args, cmdline):
    vm = VM("--accel", accel, "--memory", "256M", "--cmdline", cmdline, *args, timeout=120)
    status = vm.wait()
    print(vm.text)
    print(vm.errtext, file=sys.stderr)
    check(status == 0, f"vireo exits 0 after the guest powers off (got {status})")
    check("testkernel: power off" in vm.text and "exception" not in vm.text,
          "the guest finished without an exception")
    return vm.text, vm.errtext


def has(out, line, what=None):
    return check(line in out, what or f"guest printed '{line}'")


def basic(disk, sectors, fmt=None, readonly=False):
    spec = f"path={disk},serial=VT-SERIAL-1" + (f",format={fmt}" if fmt else "")
    spec += ",readonly=on" if readonly else ""
    out, _ = boot("--disk", spec, "--rng", cmdline="testkernel.virtio=basic")
    has(out, "virtio: 2 devices")
    has(out, "virtio 00:01.0 blk", "the disk is in slot 1")
    has(out, "virtio 00:02.0 rng", "the rng is in slot 2")
    has(out, f"virtio-blk: capacity {sectors} sectors")
    has(out, "virtio-blk: read sector 0: status 0 data " + SECTOR0[:8].hex(),
        "sector 0 reads what the image holds")
    if readonly:
        has(out, "virtio-blk: write sector 1: status 1", "a write to a read-only disk fails (IOERR)")
        has(out, "virtio-blk: read back sector 1: status 0 MISMATCH", "and changes nothing")
    else:
        has(out, "virtio-blk: write sector 1: status 0")
        has(out, "virtio-blk: read back sector 1: status 0 match")
    has(out, "virtio-blk: flush: status 0")
    has(out, "virtio-blk: get-id: status 0 id 'VT-SERIAL-1'")
    has(out, "virtio-blk: read past the end: status 1", "a read past the capacity fails (IOERR)")
    has(out, "virtio-blk: read across the end: status 1", "a read across the end fails (IOERR)")
    has(out, "virtio-blk: unknown request: status 2", "an unknown request is UNSUPP")
    has(out, "virtio-blk: isr 0x1", "completions raise INTx with ISR bit 0 (MSI-X off)")
    has(out, "virtio-rng: read 64 bytes: got 64 random")
    has(out, "virtio: done")
    return out


if mode == "basic":
    disk = raw_disk()
    basic(disk, 2048)
    with open(disk, "rb") as f:
        data = f.read(1024)
    check(data[512:1024] == PATTERN, "the pattern written by the guest is in the image file")
elif mode == "readonly":
    disk = raw_disk()
    basic(disk, 2048, fmt="raw", readonly=True)
    with open(disk, "rb") as f:
        data = f.read(1024)
    check(data[512:1024] == bytes(512), "the read-only image is unchanged")
elif mode == "qcow2":
    img = os.environ.get("VIREO_IMG") or shutil.which("qemu-img")
    if not img:
        print("no vireo-img or qemu-img: skipped")
        sys.exit(77)
    disk = os.path.join(tmp, "disk.qcow2")
    raw = raw_disk("src.img", 4 << 20)
    subprocess.run([img, "convert", "-f", "raw", "-O", "qcow2", raw, disk], check=True)
    basic(disk, 8192, fmt="qcow2")
    back = os.path.join(tmp, "back.img")
    subprocess.run([img, "convert", "-f", "qcow2", "-O", "raw", disk, back], check=True)
    with open(back, "rb") as f:
        data = f.read(1024)
    check(data[512:1024] == PATTERN, "the guest's write reached the qcow2 image")
elif mode == "hostile":
    out, err = boot("--disk", f"path={raw_disk()}", "--rng", cmdline="testkernel.virtio=hostile")
    cases = ["looping chain", "self loop", "next index out of range", "head index out of range",
             "address outside RAM", "address above RAM", "huge length", "wrong direction",
             "readable after writable", "avail index too far ahead", "used ring outside RAM",
             "blk read with wrong direction"]
    for c in cases:
        m = re.search(rf"virtio-hostile: {c}: (.*)", out)
        line = m.group(1) if m else ""
        check(line.startswith("needs-reset"), f"{c}: the device reports NEEDS_RESET")
        check("used ring untouched" in line, f"{c}: nothing was returned to the driver")
        check(line.endswith("other device ok"), f"{c}: the other device keeps working")
        if c != "used ring outside RAM":   # found before DRIVER_OK: no interrupt yet
            check("config-irq" in line, f"{c}: a config interrupt (ISR bit 1) was raised")
    has(out, "virtio-hostile: recovered: rng ok, blk ok", "both devices work after a reset")
    warnings = [l for l in err.splitlines() if "needs reset" in l]
    check(len(warnings) == len(cases), f"one log line per bad chain ({len(warnings)})")
elif mode == "console":
    vm = VM("--accel", accel, "--memory", "256M", "--console", "virtio", "--cmdline",
            "testkernel.virtio=basic", timeout=120)
    check(vm.expect("virtio-console: waiting for input", timeout=60), "hvc0 is up")
    vm.send("ping over hvc0\n")
    status = vm.wait()
    out = vm.text
    print(out)
    print(vm.errtext, file=sys.stderr)
    check(status == 0, f"vireo exits 0 (got {status})")
    has(out, "virtio 00:01.0 console", "the console is in slot 1")
    has(out, "hvc0: hello from the test kernel\n", "what the guest wrote to hvc0 is on the chardev")
    has(out, "virtio-console: sent 33")
    has(out, "virtio-console: got 15 'ping over hvc0'", "typed input reached the guest over hvc0")
elif mode == "qemu":
    # The test kernel's driver against QEMU's devices, the reference: a
    # driver bug must not pass as a vireo bug (or hide one).
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("no qemu-system-x86_64: skipped")
        sys.exit(77)
    disk = raw_disk()
    p = subprocess.run([qemu, "-accel", "tcg", "-M", "pc", "-m", "256M",
                        "-kernel", vmtest.TESTKERNEL_ELF, "-append", "testkernel.virtio=basic",
                        "-drive", f"file={disk},format=raw,if=none,id=d0",
                        "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,serial=VT-SERIAL-1",
                        "-device", "virtio-rng-pci,disable-legacy=on",
                        "-device", "virtio-balloon-pci,disable-legacy=on,free-page-reporting=on",
                        "-serial", "stdio", "-display", "none", "-no-reboot"],
                       capture_output=True, timeout=90, stdin=subprocess.DEVNULL)
    out = p.stdout.decode(errors="replace")
    print(out)
    check("virtio: 3 devices" in out, "the driver finds QEMU's three modern virtio devices")
    for line in ["virtio-blk: capacity 2048 sectors",
                 "virtio-blk: read sector 0: status 0 data " + SECTOR0[:8].hex(),
                 "virtio-blk: read back sector 1: status 0 match",
                 "virtio-blk: flush: status 0",
                 "virtio-blk: get-id: status 0 id 'VT-SERIAL-1'",
                 "virtio-blk: read past the end: status 1",
                 "virtio-blk: unknown request: status 2",
                 "virtio-rng: read 64 bytes: got 64 random",
                 "virtio-balloon: inflate 1 page: zeroed",
                 "virtio-balloon: report 60 KiB: zeroed",
                 "virtio: done"]:
        has(out, line, f"QEMU: '{line}'")
elif mode == "balloon":
    out, _ = boot("--balloon", "--rng", cmdline="testkernel.virtio=basic")
    has(out, "virtio 00:01.0 rng")
    has(out, "virtio 00:02.0 balloon", "the balloon follows the rng")
    has(out, "virtio-balloon: inflate 1 page: zeroed", "an inflated page's memory went back to the host")
    has(out, "virtio-balloon: deflate 1 page: ok")
    has(out, "virtio-balloon: inflate a page outside RAM: ignored")
    has(out, "virtio-balloon: actual 1", "the driver's 'actual' is writable")
    has(out, "virtio-balloon: stats buffer held", "the statistics buffer is kept for the next request")
    has(out, "virtio-balloon: report 60 KiB: zeroed", "reported free pages went back to the host")
    has(out, "virtio-rng: read 64 bytes: got 64 random")
elif mode == "net":
    import socket
    tap = f"vtvio{os.getpid() % 100000}"
    if subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"],
                      capture_output=True).returncode != 0:
        print("cannot create a TAP device here (needs CAP_NET_ADMIN): skipped")
        sys.exit(77)
    try:
        try:   # no IPv6 chatter from the host on this link
            with open(f"/proc/sys/net/ipv6/conf/{tap}/disable_ipv6", "w") as f:
                f.write("1")
        except OSError:
            pass
        subprocess.run(["ip", "link", "set", tap, "up"], check=True)
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
        sock.bind((tap, 0))
        sock.settimeout(10)
        mac = "52:54:00:aa:bb:cc"
        vm = VM("--accel", accel, "--memory", "256M", "--net", f"tap={tap},mac={mac}",
                "--cmdline", "testkernel.virtio=basic", timeout=120)
        check(vm.expect("virtio-net: waiting for a frame", timeout=60), "the NIC is up")
        try:
            frame = sock.recv(2048)
        except OSError:
            frame = b""
        check(frame[:6] == b"\xff" * 6 and frame[6:12] == bytes.fromhex(mac.replace(":", "")),
              "the guest's broadcast frame reached the TAP with its MAC as source")
        check(b"vireo virtio-net test frame" in frame, "with its payload")
        reply = bytes.fromhex(mac.replace(":", "")) + bytes.fromhex("020000000001") + \
            b"\x88\xb5" + b"hello guest\0"
        sock.send(reply + bytes(60 - len(reply)))
        status = vm.wait()
        out = vm.text
        print(out)
        print(vm.errtext, file=sys.stderr)
        check(status == 0, f"vireo exits 0 (got {status})")
        has(out, f"virtio-net: mac {mac} link up", "the MAC option and link status reach the guest")
        has(out, "virtio-net: sent frame")
        check(re.search(r"virtio-net: received 7\d bytes num_buffers 1 'hello guest'", out),
              "a frame sent into the TAP reached the guest")
        holder = VM("--accel", accel, "--net", f"tap={tap}", "--cmdline", "testkernel.action=halt",
                    timeout=60)
        check(holder.expect("testkernel: halt", timeout=30), "a vireo holds the TAP")
        p = subprocess.run([vmtest.VIREO, "--kernel", vmtest.TESTKERNEL, "--accel", accel,
                            "--net", f"tap={tap}"], capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        err = p.stderr.decode(errors="replace").strip()
        check(p.returncode == 1 and len(err.splitlines()) == 1 and tap in err and p.stdout == b"",
              f"a TAP in use is one error before the guest starts: {err!r}")
        holder.kill()
    finally:
        subprocess.run(["ip", "tuntap", "del", "dev", tap, "mode", "tap"], capture_output=True)
elif mode == "options":
    def refuse(args, words, what):
        p = subprocess.run([vmtest.VIREO, "--kernel", vmtest.TESTKERNEL, "--accel", accel] + args,
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        err = p.stderr.decode(errors="replace").strip()
        ok = p.returncode == 1 and len(err.splitlines()) == 1 and all(w in err for w in words)
        check(ok, f"{what}: exit {p.returncode}, stderr: {err!r}")
        check(p.stdout == b"", f"{what}: the guest never started")

    refuse(["--disk", f"path={tmp}/missing.img"], ["--disk", "missing.img"], "missing disk image")
    refuse(["--disk", "path=" + raw_disk("bad.qcow2") + ",format=qcow2"], ["--disk", "bad.qcow2"],
           "raw file opened as qcow2")
    refuse(["--disk", "path=x,format=vmdk"], ["--disk", "vmdk"], "unknown format")
    refuse(["--console", "hvc"], ["--console"], "unknown console")
    # An image another vireo has open for writing is locked.
    shared = raw_disk("shared.img")
    holder = VM("--accel", accel, "--disk", f"path={shared}", "--cmdline",
                "testkernel.action=halt", timeout=60)
    check(holder.expect("testkernel: halt", timeout=30), "the first vireo runs with the disk")
    refuse(["--disk", f"path={shared}"], ["--disk", "shared.img"], "image locked by another vireo")
    holder.kill()
else:
    sys.exit(f"unknown mode {mode}")

vmtest.finish()
