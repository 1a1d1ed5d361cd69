#!/usr/bin/env python3
"""Debian's kernel on the emu engine with vireo's PC interrupt models: the
default guest (guest/build-guest.sh) driven through its serial console.

   test_linux.py NCPUS boot        nproc, MemTotal against the e820 map,
                                   /proc/cpuinfo flags against the CPUID the
                                   engine advertises, CPU-heavy commands (two
                                   at once with 2+ vCPUs), a clean kernel log,
                                   `poweroff` and exit status 0
   test_linux.py NCPUS powerdown   QMP system_powerdown -> ACPI power button
                                   -> acpid -> clean power-off, exit status 0

Exit status 77 (skipped) if the guest cannot be built (no apt).
"""
import hashlib
import re
import sys

import linuxguest
import vmtest
from linuxguest import Shell, check_log
from vmtest import check

ncpus, mode = int(sys.argv[1]), sys.argv[2]
# The machine has 2 cores and tests run 2 at a time: a 4-vCPU guest boots
# in minutes. The meson timeout is above these.
BOOT_TIMEOUT = 240 + 90 * ncpus

# CPU features the engine advertises (src/cpu/emu/cpuid.c), by Linux name:
# leaf 1 EDX/ECX, leaf 6 EAX, leaf 7 EBX, 0x80000001 ECX/EDX.
CPUID_FLAGS = {
    "fpu", "pse", "tsc", "msr", "pae", "cx8", "apic", "pge", "cmov", "pat",
    "clflush", "mmx", "fxsr", "sse", "sse2",
    "cx16", "tsc_deadline_timer", "hypervisor",
    "arat",
    "erms", "tsc_adjust",
    "lahf_lm", "syscall", "nx", "lm",
}
# Flags the kernel derives itself (synthetic, or from the invariant TSC of
# 0x80000007 and the topology leaf 0xB).
SYNTHETIC_FLAGS = {
    "constant_tsc", "nonstop_tsc", "nopl", "xtopology", "tsc_reliable", "cpuid",
    "tsc_known_freq", "rep_good", "up", "arch_perfmon",
}
ZERO_8M = hashlib.sha256(bytes(8 << 20)).hexdigest()
YES_4M = hashlib.sha256((b"vireo\n" * 700000)[:4000000]).hexdigest()


def e820_usable_kib(log):
    total = 0
    for m in re.finditer(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable", log):
        total += int(m.group(2), 16) + 1 - int(m.group(1), 16)
    return total // 1024


def boot():
    return linuxguest.boot(ncpus=ncpus, control=(mode == "powerdown"),
                           boot_timeout=BOOT_TIMEOUT, timeout=BOOT_TIMEOUT + 300)


def test_boot():
    vm = boot()
    sh = Shell(vm)
    check(sh.run("nproc").strip() == str(ncpus), f"nproc is {ncpus}")

    dmesg = sh.run("dmesg", timeout=60)
    usable = e820_usable_kib(dmesg)
    meminfo = sh.run("grep MemTotal /proc/meminfo")
    m = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    memtotal = int(m.group(1)) if m else 0
    mline = re.search(r"Memory: (\d+)K/(\d+)K available \((\d+)K kernel code, "
                      r"(\d+)K rwdata, (\d+)K rodata, (\d+)K init, (\d+)K bss", dmesg)
    print(f"e820 usable {usable} KiB, MemTotal {memtotal} KiB, "
          f"{mline.group(0) if mline else 'no Memory: line'}")
    check(512 * 1024 - 1024 <= usable <= 512 * 1024,
          f"the e820 map has ~512 MiB usable ({usable} KiB)")
    check(mline and abs(int(mline.group(2)) - usable) < 64,
          "the kernel's memory total is the e820 usable total")
    if mline:
        # What the kernel keeps for good: its image (less init, freed) and
        # the struct page array (64 bytes per 4 KiB page); the rest (page
        # tables, per-CPU areas, ACPI) is a few MiB.
        image = sum(int(mline.group(i)) for i in (3, 4, 5, 7))
        expect = usable - image - usable // 64
        check(expect - 8 * 1024 <= memtotal <= expect,
              f"MemTotal {memtotal} KiB is the e820 total less the kernel's "
              f"reservations ({expect} KiB) within 8 MiB")

    cpuinfo = sh.run("cat /proc/cpuinfo")
    flag_lines = [l for l in cpuinfo.splitlines() if l.startswith("flags")]
    check(len(flag_lines) == ncpus, f"/proc/cpuinfo lists {ncpus} CPU(s)")
    allowed = CPUID_FLAGS | SYNTHETIC_FLAGS
    for i, l in enumerate(flag_lines):
        flags = set(l.split(":", 1)[1].split())
        extra = sorted(flags - allowed)
        check(not extra, f"CPU {i}: no flag the engine does not emulate" +
              (f" (has {' '.join(extra)})" if extra else ""))
        check({"fpu", "tsc", "apic", "sse2", "lm", "nx", "tsc_deadline_timer"} <= flags,
              f"CPU {i}: the advertised basics are seen")

    out = sh.run("dd if=/dev/zero bs=1M count=8 2>/dev/null | sha256sum", timeout=300)
    check(ZERO_8M in out, "sha256 of 8 MiB of zeros is right")
    if ncpus >= 2:
        out = sh.run("(dd if=/dev/zero bs=1M count=8 2>/dev/null | sha256sum > /tmp/a) & "
                     "(yes vireo | head -c 4000000 | sha256sum > /tmp/b) & wait; "
                     "cat /tmp/a /tmp/b", timeout=400)
        check(ZERO_8M in out and YES_4M in out, "two CPU-heavy commands at once, both right")

    check_log(sh.run("dmesg", timeout=60), "dmesg")
    vm.send("poweroff\n")
    status = vm.wait(timeout=120)
    check(status == 0, f"vireo exits 0 after poweroff (got {status})")
    check_log(vm.text, "console")
    if status != 0:
        vm.kill()
        print(vm.text[-3000:])
        print(vm.errtext[-2000:], file=sys.stderr)


def test_powerdown():
    vm = boot()
    q = vm.qmp()
    check(q.cmd("qmp_capabilities") == {"return": {}}, "qmp_capabilities")
    check("return" in q.cmd("system_powerdown"), "system_powerdown is accepted")
    ev = q.event("SHUTDOWN", timeout=120)
    check(ev is not None and ev["data"]["guest"] is True,
          f"SHUTDOWN event from the guest ({ev})")
    status = vm.wait(timeout=60)
    check(status == 0, f"the guest powers off through ACPI; vireo exits 0 (got {status})")
    check("reboot: Power down" in vm.text, "the kernel powered down")
    check_log(vm.text, "console")
    if status != 0:
        vm.kill()
        print(vm.text[-3000:])
        print(vm.errtext[-2000:], file=sys.stderr)


{"boot": test_boot, "powerdown": test_powerdown}[mode]()
vmtest.finish()
