#!/usr/bin/env python3
"""Boot the test kernel on QEMU (the reference machine) and check its report.

usage: qemu_check.py KERNEL.elf MACHINE CPUS [plain|powerbutton|reset|halt|exception]

Every console line must match the documented format (README.md), the CPU
count must match -smp, and the run must end the way the mode asks: QEMU
exits by itself after ACPI power-off (plain, powerbutton: pressed through
QMP system_powerdown) or reset (-no-reboot), or the kernel halts.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

LINE_FORMATS = [
    r'testkernel: start \(boot=(bzimage|pvh)\)',
    r'e820: \d+ entries',
    r'e820: \[0x[0-9a-f]+-0x[0-9a-f]+\) (ram|reserved|acpi|nvs|\d+)',
    r'memory: \d+ KiB \(\d+ MiB\)',
    r'acpi: rsdp 0x[0-9a-f]+ madt cpus \d+ ioapic 0x[0-9a-f]+',
    r'cpu \d+ online \(apic \d+\)',
    r'cpus: \d+ online',
    r'pci [0-9a-f]{2}:[0-9a-f]{2}\.[0-7] [0-9a-f]{4}:[0-9a-f]{4} class [0-9a-f]{4}',
    r'pci: \d+ devices',
    r'testkernel: (done|power off|waiting for power button|power button|'
    r'reset|halt|triple fault)',
    r'testkernel: exception \d+ at rip 0x[0-9a-f]+',
]

failures = 0


def check(cond, what):
    global failures
    print(('ok     ' if cond else 'FAILED ') + what)
    if not cond:
        failures += 1


def qmp(path, commands):
    for _ in range(100):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            break
        except OSError:
            time.sleep(0.05)
    f = s.makefile('rw')
    f.readline()
    for cmd in ['qmp_capabilities'] + commands:
        f.write(json.dumps({'execute': cmd}) + '\n')
        f.flush()
        f.readline()
    s.close()


def press_until_exit(sock, p, tries=10):
    for _ in range(tries):
        try:
            qmp(sock, ['system_powerdown'])
        except OSError:
            return
        for _ in range(20):
            if p.poll() is not None:
                return
            time.sleep(0.05)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    kernel, machine, cpus = sys.argv[1], sys.argv[2], int(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else 'plain'
    append = {'plain': '', 'powerbutton': 'testkernel.wait=powerbutton',
              'reset': 'testkernel.action=reset',
              'halt': 'testkernel.action=halt',
              'exception': 'testkernel.action=exception'}[mode]
    tmp = tempfile.mkdtemp()
    sock = os.path.join(tmp, 'qmp.sock')
    cmd = ['qemu-system-x86_64', '-accel', 'tcg', '-M', machine, '-m', '512M',
           '-smp', str(cpus), '-kernel', kernel, '-append', append,
           '-serial', 'stdio', '-display', 'none', '-no-reboot',
           '-qmp', f'unix:{sock},server,nowait']
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    lines, last = [], {'plain': 'testkernel: power off',
                       'powerbutton': 'testkernel: power off',
                       'reset': 'testkernel: reset',
                       'halt': 'testkernel: halt',
                       'exception': 'testkernel: exception'}[mode]
    deadline = time.time() + 60
    for line in p.stdout:
        line = line.rstrip('\n')
        print('| ' + line)
        lines.append(line)
        if line == 'testkernel: waiting for power button':
            # QEMU's q35 may still be entering ACPI mode (an SMI through
            # SeaBIOS) when the first press lands; press again, as a user
            # would, until the guest reacts.
            threading.Thread(target=press_until_exit, args=(sock, p), daemon=True).start()
        if mode in ('halt', 'exception') and line.startswith(last):
            time.sleep(0.2)
            p.kill()
            break
        if time.time() > deadline:
            p.kill()
            break
    status = p.wait()
    text = '\n'.join(lines)

    bad = [l for l in lines if not any(re.fullmatch(r, l) for r in LINE_FORMATS)]
    check(not bad, 'every line matches the documented format' +
          (f' (not: {bad!r})' if bad else ''))
    check(bool(lines) and lines[0].startswith('testkernel: start (boot=pvh)'),
          'first line: start, PVH entry')
    check(f'madt cpus {cpus} ' in text, f'MADT lists {cpus} CPUs')
    for i in range(cpus):
        check(f'cpu {i} online' in text, f'cpu {i} online')
    check(f'cpus: {cpus} online' in text, f'cpus: {cpus} online')
    check(re.search(r'^pci 00:00\.0 ', text, re.M) is not None,
          'host bridge at 00:00.0')
    check('testkernel: done' in text, 'testkernel: done')
    check(bool(lines) and lines[-1].startswith(last), f'ends with "{last}"')
    if mode in ('plain', 'powerbutton', 'reset'):
        check(status == 0, f'QEMU exited by itself (status {status})')
    if mode == 'powerbutton':
        check('testkernel: power button' in lines, 'power button seen')
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
