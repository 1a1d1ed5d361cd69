#!/usr/bin/env python3
"""Where the guest's time goes on the emu engine, by guest kernel function.

Run vireo with VIREO_EMU_PROFILE=PREFIX (the emu engine then samples each
vCPU thread's guest RIP every 100 us of its CPU time and writes
PREFIX.vcpuN when the VM ends), then:

  bench/guest-profile.py PREFIX [--map System.map] [--top 40]

or let it boot the default guest and profile one shell command in it
(sampling is switched on and off around the command with kill -PROF):

  bench/guest-profile.py --run 'dd if=/dev/zero of=/dev/null bs=1k count=65536' PREFIX

Without --map, the symbols are the default guest kernel's /proc/kallsyms
(Debian's System.map is a stub): the first use boots the guest once with
a scratch disk, copies them onto it and keeps them in ~/.cache/vireo.
Columns: share of all samples, the share taken in translated code and in
everything else (handlers, interpreter, MMU slow paths), the symbol.
User-mode RIPs are summed as [user]. The kernel must run with nokaslr.
"""
import argparse
import bisect
import collections
import glob
import os
import signal
import subprocess
import sys
import tempfile


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_map():
    sys.path[:0] = [os.path.join(ROOT, "tests/system"), os.path.join(ROOT, "tests/system/linux")]
    os.chdir(ROOT)
    import linuxguest
    kernel, _ = linuxguest.guest_files()
    cache = os.path.join(os.path.dirname(kernel), "kallsyms")
    if os.path.exists(cache):
        return cache
    with tempfile.NamedTemporaryFile(suffix=".raw") as disk:
        disk.truncate(32 << 20)
        disk.flush()
        vm = linuxguest.boot("--disk", f"path={disk.name},format=raw")
        out, st = linuxguest.Shell(vm).status("cat /proc/kallsyms > /dev/vda && sync", timeout=300)
        if st != 0 or not linuxguest.poweroff(vm):
            sys.exit(f"could not copy the guest's /proc/kallsyms: {out}")
        data = open(disk.name, "rb").read().split(b"\0", 1)[0]
    with open(cache + ".tmp", "wb") as f:
        f.write(data)
    os.rename(cache + ".tmp", cache)
    return cache


def run_profiled(prefix, cmd, cpus):
    sys.path[:0] = [os.path.join(ROOT, "tests/system"), os.path.join(ROOT, "tests/system/linux")]
    os.chdir(ROOT)
    import linuxguest
    for old in glob.glob(prefix + ".vcpu*"):
        os.unlink(old)
    os.environ["VIREO_EMU_PROFILE"] = prefix
    os.environ["VIREO_EMU_PROFILE_WAIT"] = "1"
    vm = linuxguest.boot(ncpus=cpus)
    shell = linuxguest.Shell(vm)
    os.kill(vm.proc.pid, signal.SIGPROF)
    out, st = shell.status(cmd, timeout=1200)
    os.kill(vm.proc.pid, signal.SIGPROF)
    print(out.strip()[-2000:])
    if st is None or not linuxguest.poweroff(vm):
        sys.exit("the profiled command or the power-off failed")
    # Not for the boot that may follow to copy /proc/kallsyms: it would
    # write empty profiles over these.
    del os.environ["VIREO_EMU_PROFILE"], os.environ["VIREO_EMU_PROFILE_WAIT"]


def load_map(path):
    syms = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] in "tTwW" and int(parts[0], 16):
                syms.append((int(parts[0], 16), parts[2]))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("--map")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--run", help="boot the default guest and profile this shell command")
    ap.add_argument("--cpus", type=int, default=1)
    args = ap.parse_args()
    args.prefix = os.path.abspath(args.prefix)
    if args.run:
        run_profiled(args.prefix, args.run, args.cpus)

    files = sorted(glob.glob(args.prefix + ".vcpu*"))
    if not files:
        sys.exit(f"no {args.prefix}.vcpu* files")
    addrs, names = load_map(args.map or default_map())
    jit = collections.Counter()
    other = collections.Counter()
    lost = 0
    for fn in files:
        with open(fn) as f:
            for line in f:
                parts = line.split()
                if parts[0] == "lost":
                    lost += int(parts[1])
                    continue
                rip = int(parts[0], 16)
                if rip < 1 << 47:
                    sym = "[user]"
                else:
                    i = bisect.bisect_right(addrs, rip) - 1
                    sym = names[i] if i >= 0 else "[unknown]"
                jit[sym] += int(parts[1])
                other[sym] += int(parts[2])
    total = sum(jit.values()) + sum(other.values())
    if not total:
        sys.exit("no samples")
    tj = sum(jit.values())
    print(f"{total} samples (one per host tick of vCPU time), {100 * tj / total:.1f}% in "
          f"translated code{f', {lost} lost' if lost else ''}")
    print(f"{'all':>6} {'jit':>6} {'other':>6}  symbol")
    both = jit + other
    for sym, n in both.most_common(args.top):
        print(f"{100 * n / total:5.1f}% {100 * jit[sym] / total:5.1f}% "
              f"{100 * other[sym] / total:5.1f}%  {sym}")


if __name__ == "__main__":
    main()
