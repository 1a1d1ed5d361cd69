#!/usr/bin/env python3
"""Benchmark (not a test): vireo-img convert against qemu-img convert on the
same 1 GiB mixed image in the same run. Prints throughput (the median of
--runs runs, tools alternating), the ratio, peak RSS and the output's size
(allocated on the host / apparent) for raw->qcow2, qcow2->raw and
qcow2->qcow2 -c (zlib, zstd); each vireo output is checked against the
source with qemu-img compare once.

The images live in --dir, by default /dev/shm when it has room, so that
neither tool's time is mostly the host disk's. Both tools run on the same
files in the same place, warm in the page cache alike (there is no
drop_caches here). The tools alternate and rotate their order every run, so
neither always runs first after another's output was deleted. --dir
/tmp measures the disk-bound case; there
mind that qemu-img by default does not flush its output at the end (by
strace; -t writeback makes it) while vireo-img always does (~630 MiB of
fdatasync, 0.2 to 2 s on this shared VM disk): --cache writeback passes
-t writeback to both, so both flush. The CPU columns are the median
user+system seconds of the tool (all its threads): on a loaded host they
are steadier than wall time; "CPU ratio" is qemu-img's over vireo-img's.
The wall columns give the median and, in brackets, the spread (min-max)
of the runs; "ratio" is of the medians, "pairs" the median of each run's
ratio (the tools ran back to back, under the same load); the load
average is printed before each case. --baseline runs a second vireo-img
(an older build) in the same rotation, so before and after meet the same
load.

usage: bench_convert.py VIREO_IMG [--size MiB] [--dir DIR] [--runs N]
                        [--cache MODE] [--only CASE] [--baseline VIREO_IMG]
"""
import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def make_mixed(path, size):
    """1 MiB runs, each one of: random data, text (compressible), one 4 KiB
    random block repeated, written zeroes, a hole."""
    r = random.Random(7)
    text = b''.join(b'line %08d: the quick brown fox jumps over the lazy dog\n' % i
                    for i in range(20000))[:1 << 20]
    zeroes = bytes(1 << 20)
    with open(path, 'wb') as f:
        f.truncate(size)
        for mb in range(size >> 20):
            k = r.randrange(5)
            f.seek(mb << 20)
            if k == 0:
                f.write(os.urandom(1 << 20))
            elif k == 1:
                f.write(text)
            elif k == 2:
                f.write(os.urandom(4096) * 256)
            elif k == 3:
                f.write(zeroes)


def run_one(cmd):
    wrapper = ['python3', '-c',
               'import resource,subprocess,sys,time;t=time.monotonic();'
               'subprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL);'
               'r=resource.getrusage(resource.RUSAGE_CHILDREN);'
               'print(time.monotonic()-t, r.ru_maxrss, r.ru_utime+r.ru_stime)']
    out = subprocess.run(wrapper + cmd, check=True, capture_output=True, text=True).stdout
    dt, rss, cpu = out.split()
    return float(dt), int(rss) / 1024.0, float(cpu)


def default_dir(size_mib):
    """/dev/shm when it can hold source, qcow2 source and output (with room
    to spare), else the system's temporary directory."""
    try:
        st = os.statvfs('/dev/shm')
        if st.f_bavail * st.f_frsize > 4 * (size_mib << 20):
            return '/dev/shm'
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('vireo_img')
    ap.add_argument('--size', type=int, default=1024, help='MiB')
    ap.add_argument('--dir', default=None)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--cache', default=None,
                    help='pass -t CACHE to both tools (qemu-img by default '
                    'does not flush its output at the end, vireo-img always '
                    'does: -t writeback makes both flush)')
    ap.add_argument('--baseline', default=None,
                    help='another vireo-img (e.g. a build of the previous '
                    'commit) run in the same rotation, reported on its own line')
    ap.add_argument('--only', action='append', default=[],
                    help='run only the cases whose name contains this')
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix='vireo-bench-',
                         dir=a.dir if a.dir else default_dir(a.size))
    print('%s: images in %s, %d runs each, tools alternating%s' % (
        time.strftime('%Y-%m-%d %H:%M:%S %Z'), d, a.runs,
        ', -t %s for both' % a.cache if a.cache else ''))
    try:
        src = os.path.join(d, 'src.raw')
        make_mixed(src, a.size << 20)
        qsrc = os.path.join(d, 'src.qcow2')
        subprocess.run(['qemu-img', 'convert', '-O', 'qcow2', src, qsrc], check=True)
        cases = [
            ('raw->qcow2', ['-f', 'raw', '-O', 'qcow2'], src),
            ('qcow2->raw', ['-f', 'qcow2', '-O', 'raw'], qsrc),
            ('qcow2->qcow2 -c zlib', ['-f', 'qcow2', '-O', 'qcow2', '-c'], qsrc),
            ('qcow2->qcow2 -c zstd', ['-f', 'qcow2', '-O', 'qcow2', '-c', '-o',
                                      'compression_type=zstd'], qsrc),
        ]
        print('%-22s %22s %22s %7s %6s %15s %9s %9s %9s %19s %19s' % (
            'case', 'qemu MiB/s [min-max]', 'vireo MiB/s [min-max]', 'ratio',
            'pairs', 'CPU s qemu/vir', 'CPU ratio', 'qemu RSS', 'vireo RSS',
            'qemu size MiB', 'vireo size MiB'))
        tools = ['qemu-img', a.vireo_img] + ([a.baseline] if a.baseline else [])
        for name, args, s in cases:
            if a.only and not any(o in name for o in a.only):
                continue
            times = {tool: [] for tool in tools}
            cpus = {tool: [] for tool in tools}
            rss, size = {}, {}
            load = os.getloadavg()[0]
            for i in range(a.runs):
                # rotate the order, so no tool always goes first
                for tool in tools[i % len(tools):] + tools[:i % len(tools)]:
                    out = os.path.join(d, 'out')
                    if os.path.exists(out):
                        os.unlink(out)
                    subprocess.run(['sync'])
                    t = ['-t', a.cache] if a.cache else []
                    dt, peak, cpu = run_one([tool, 'convert'] + t + args + [s, out])
                    times[tool].append(dt)
                    cpus[tool].append(cpu)
                    rss[tool] = max(rss.get(tool, 0), peak)
                    st = os.stat(out)
                    size[tool] = (st.st_blocks * 512 / 2**20, st.st_size / 2**20)
                    if tool != 'qemu-img' and len(times[tool]) == 1:
                        same = subprocess.run(['qemu-img', 'compare', '-q', s, out]).returncode
                        if same:
                            print('%s: %s output differs from its source!' % (name, tool))

            def rate(tool):
                t = times[tool]
                return '%7.1f [%6.0f-%6.0f]' % (a.size / statistics.median(t),
                                                a.size / max(t), a.size / min(t))
            q = statistics.median(times['qemu-img'])
            qc = statistics.median(cpus['qemu-img'])
            for tool in tools[1:]:
                v = statistics.median(times[tool])
                vc = statistics.median(cpus[tool])
                # the median of each run's qemu/vireo ratio: the two ran
                # back to back, under the same load
                pairs = statistics.median(x / y for x, y in zip(times['qemu-img'],
                                                                times[tool]))
                print('%-22s %22s %22s %6.2fx %5.2fx %6.2f / %6.2f %8.2fx %5.1f MiB %5.1f MiB %8.1f / %8.1f %8.1f / %8.1f  (load %.1f)' % (
                    name if tool == a.vireo_img else '  baseline',
                    rate('qemu-img'), rate(tool), q / v, pairs, qc, vc,
                    qc / vc, rss['qemu-img'], rss[tool],
                    *size['qemu-img'], *size[tool], load))
            sys.stdout.flush()
    finally:
        shutil.rmtree(d, True)


if __name__ == '__main__':
    main()
