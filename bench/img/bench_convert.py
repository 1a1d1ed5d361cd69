#!/usr/bin/env python3
"""Benchmark (not a test): vireo-img convert against qemu-img convert on the
same 1 GiB mixed image in the same run. Prints throughput ratios and peak
RSS for raw->qcow2, qcow2->raw, qcow2->qcow2 -c (zlib, zstd).

usage: bench_convert.py VIREO_IMG [--size MiB] [--dir DIR] [--runs N]
"""
import argparse
import os
import random
import resource
import shutil
import subprocess
import tempfile
import time


def make_mixed(path, size):
    """Thirds of random data, compressible text and holes, in 1 MiB runs."""
    r = random.Random(7)
    text = b''.join(b'line %08d: the quick brown fox jumps over the lazy dog\n' % i
                    for i in range(20000))[:1 << 20]
    with open(path, 'wb') as f:
        f.truncate(size)
        for mb in range(size >> 20):
            k = r.randrange(3)
            if k == 0:
                f.seek(mb << 20)
                f.write(os.urandom(1 << 20))
            elif k == 1:
                f.seek(mb << 20)
                f.write(text)


def run_one(cmd):
    wrapper = ['python3', '-c',
               'import resource,subprocess,sys,time;t=time.monotonic();'
               'subprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL);'
               'print(time.monotonic()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)']
    out = subprocess.run(wrapper + cmd, check=True, capture_output=True, text=True).stdout
    dt, rss = out.split()
    return float(dt), int(rss) / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('vireo_img')
    ap.add_argument('--size', type=int, default=1024, help='MiB')
    ap.add_argument('--dir', default=None)
    ap.add_argument('--runs', type=int, default=1)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix='vireo-bench-', dir=a.dir)
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
        print('%-22s %10s %10s %7s %10s %10s' % ('case', 'qemu MiB/s', 'vireo MiB/s',
                                               'ratio', 'qemu RSS', 'vireo RSS'))
        for name, args, s in cases:
            res = {}
            for tool in ('qemu-img', a.vireo_img):
                best = None
                for _ in range(a.runs):
                    out = os.path.join(d, 'out')
                    if os.path.exists(out):
                        os.unlink(out)
                    subprocess.run(['sync'])
                    dt, rss = run_one([tool, 'convert'] + args + [s, out])
                    if best is None or dt < best[0]:
                        best = (dt, rss)
                res[tool] = best
            q, v = res['qemu-img'], res[a.vireo_img]
            print('%-22s %10.1f %10.1f %6.2fx %8.1f MiB %7.1f MiB' % (
                name, a.size / q[0], a.size / v[0], q[0] / v[0], q[1], v[1]))
    finally:
        shutil.rmtree(d, True)


if __name__ == '__main__':
    main()
