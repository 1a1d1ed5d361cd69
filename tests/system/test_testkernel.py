#!/usr/bin/env python3
"""Boot the test kernel and check what it reports about the machine.

   test_testkernel.py ACCEL CPUS [bzimage|pvh]
"""
import re
import sys

import vmtest
from vmtest import VM, check

accel, cpus = sys.argv[1], int(sys.argv[2])
vmtest.require_accel(accel)
fmt = sys.argv[3] if len(sys.argv) > 3 else "bzimage"
kernel = vmtest.TESTKERNEL_ELF if fmt == "pvh" else vmtest.TESTKERNEL

vm = VM("--accel", accel, "--cpus", str(cpus), "--memory", "512M", kernel=kernel, timeout=120)
status = vm.wait()
out = vm.text
print(out)
print(vm.errtext, file=sys.stderr)

check(status == 0, f"vireo exits 0 after the guest powers off (got {status})")
check(f"testkernel: start (boot={fmt})" in out, f"entered through the {fmt} path")
m = re.search(r"memory: (\d+) KiB \((\d+) MiB\)", out)
check(m and m.group(2) == "512", "the guest sees 512 MiB of RAM")
check(f"madt cpus {cpus}" in out, f"the MADT lists {cpus} CPUs")
for i in range(cpus):
    check(f"cpu {i} online" in out, f"cpu {i} reported in")
check(f"cpus: {cpus} online" in out, f"{cpus} CPUs online")
check(re.search(r"pci 00:00\.0 8086:29c0 class 0600", out), "PCI host bridge found at 00:00.0")
check("testkernel: power off" in out, "the guest asked for power-off")
check("power off failed" not in out and "exception" not in out, "no exception, no failed power-off")
vmtest.finish()
