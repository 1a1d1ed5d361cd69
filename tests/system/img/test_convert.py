#!/usr/bin/env python3
"""vireo-img convert's read and sparse paths against qemu-img convert.

Each case converts the same source(s) with both tools; the vireo output
must compare identical to the source (qemu-img compare), pass qemu-img
check when it is qcow2, and take no more host space than qemu-img's.
Covered: holes and written zeroes in a raw source, zero extents that
share a target cluster or -S granule with data, qcow2 sources read by
host offset (contiguous and scattered clusters), compressed clusters and
zero clusters among them, a backing chain with a shorter backing file,
concatenated sources of unaligned sizes, zero stretches longer than
the ring of chunks in flight, -S 0/512/64k, -n into a
target full of old data (zeroes must then really be written), and -c
with an L2 table every 2 MiB among compressed and plain clusters.
"""
import os
import random

from imgtest import VIMG, run, ok, clean, done, tmpdir

tmp = tmpdir('vireo-conv-')
P = lambda name: os.path.join(tmp, name)
MiB = 1 << 20
rnd = random.Random(77)


def allocated(path):
    return os.stat(path).st_blocks * 512


def raw_source(path, size):
    """Data, written zeroes and holes at awkward offsets: a hole next to
    data inside one 64 KiB cluster, data of a few bytes in a 4 KiB page,
    zero runs of 1 KiB inside data."""
    with open(path, 'wb') as f:
        f.truncate(size)
        pos = 0
        while pos < size:
            n = rnd.choice([512, 1024, 4096, 12288, 65536, 200000, MiB])
            n = min(n, size - pos)
            k = rnd.randrange(4)
            f.seek(pos)
            if k == 0:
                f.write(rnd.randbytes(n))
            elif k == 1:
                f.write(bytes(n))               # written zeroes
            elif k == 2 and n > 16:
                f.write(b'\x00' * (n // 2) + b'x' * 7)  # mostly zero
            pos += n                            # k == 3: a hole


def qemu_io(img, *cmds):
    args = []
    for c in cmds:
        args += ['-c', c]
    run('qemu-io', '-f', 'qcow2', *args, img, check=False)  # -c on allocated clusters fails


def convert_case(name, args, srcs, ofmt, compare_with=None, pre=None):
    """Run both tools with args on srcs; check the vireo output."""
    outs = {}
    for tool in ('qemu-img', VIMG):
        out = P('%s-%s.%s' % (name, 'q' if tool == 'qemu-img' else 'v', ofmt))
        if pre:
            pre(out)
        run(tool, 'convert', *args, '-O', ofmt, *srcs, out)
        outs[tool] = out
    v, q = outs[VIMG], outs['qemu-img']
    ref = compare_with or srcs[0]
    p = run('qemu-img', 'compare', '-q', '-F', ofmt, ref, v, check=False)
    ok(p.returncode == 0, '%s: output compares identical' % name)
    if ofmt == 'qcow2':
        ok(clean(v), '%s: qemu-img check clean' % name)
    ok(allocated(v) <= allocated(q),
       '%s: %d bytes allocated, qemu-img %d' % (name, allocated(v), allocated(q)))


# 1. raw source -> raw and qcow2, several -S
src = P('src.raw')
raw_source(src, 24 * MiB + 4096)
for s in ['4k', '512', '64k', '0']:
    convert_case('raw-raw-S%s' % s, ['-f', 'raw', '-S', s], [src], 'raw')
    convert_case('raw-qcow2-S%s' % s, ['-f', 'raw', '-S', s], [src], 'qcow2')
convert_case('raw-qcow2-4kcl', ['-f', 'raw', '-o', 'cluster_size=4096'], [src], 'qcow2')
# compressed, with 4 KiB clusters: an L2 table every 2 MiB of guest, and
# incompressible clusters (written plain) among compressed ones
for ct in ['zlib', 'zstd']:
    convert_case('raw-qcow2-c-%s' % ct, ['-f', 'raw', '-c', '-o',
                 'cluster_size=4096,compression_type=%s' % ct], [src], 'qcow2')

# 2. qcow2 source with 4 KiB clusters: scattered host offsets, zero and
# unallocated clusters inside the target's 64 KiB clusters, compressed
# clusters read through the format
q4 = P('src4k.qcow2')
run('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', q4, str(16 * MiB))
cmds = []
for i in range(300):
    off = rnd.randrange(0, 16 * MiB // 4096) * 4096
    n = rnd.choice([4096, 8192, 65536, 3 * 4096])
    n = min(n, 16 * MiB - off)
    k = rnd.random()
    if k < 0.6:
        cmds.append('write -P %d %d %d' % (rnd.randrange(1, 256), off, n))
    elif k < 0.75:
        cmds.append('write -z %d %d' % (off, n))
    elif k < 0.85:
        cmds.append('write -P 0 %d %d' % (off, n))   # zero data, allocated
    else:
        cmds.append('write -c -P %d %d 4096' % (rnd.randrange(1, 256), off))
qemu_io(q4, *cmds)
convert_case('qcow2-4k-raw', ['-f', 'qcow2'], [q4], 'raw')
convert_case('qcow2-4k-qcow2', ['-f', 'qcow2'], [q4], 'qcow2')
convert_case('qcow2-4k-raw-S0', ['-f', 'qcow2', '-S', '0'], [q4], 'raw')

# 3. backing chain: a 6 MiB backing under a 12 MiB overlay that covers
# part of it; beyond the backing's end the overlay reads zeroes
base = P('base.qcow2')
run('qemu-img', 'create', '-q', '-f', 'qcow2', base, str(6 * MiB))
qemu_io(base, 'write -P 0x11 0 6M', 'write -z 1M 64k')
top = P('top.qcow2')
run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top, str(12 * MiB))
qemu_io(top, 'write -P 0x22 512k 1M', 'write -z 3M 128k', 'write -P 0x33 8M 64k')
convert_case('chain-raw', ['-f', 'qcow2'], [top], 'raw')
convert_case('chain-qcow2', ['-f', 'qcow2'], [top], 'qcow2')

# 4. concatenated sources of unaligned sizes
parts = []
for i, size in enumerate([MiB + 512, 100 * 1024 + 512, 3 * MiB + 4096]):
    p = P('part%d.raw' % i)
    raw_source(p, size)
    parts.append(p)
cat = P('cat.raw')
with open(cat, 'wb') as f:
    for p in parts:
        f.write(open(p, 'rb').read())
convert_case('concat-raw', ['-f', 'raw'], parts, 'raw', compare_with=cat)
convert_case('concat-qcow2', ['-f', 'raw'], parts, 'qcow2', compare_with=cat)

# 4b. zero stretches longer than the ring of chunks in flight (2 MiB
# chunks, 4 slots): holes and written zeroes of 5-11 MiB that start and
# end off the chunk edges, so the writer runs through many empty chunks
# while the reader refills the ring, and data runs cross chunk edges;
# -m 1 and -m 4 (more readers than the plain ring has spare slots)
longz = P('longzero.raw')
with open(longz, 'wb') as f:
    f.truncate(64 * MiB + 512)
    pos = 3 * MiB + 12345 // 512 * 512
    for kind, n in [('d', 700 * 1024), ('h', 11 * MiB + 4096), ('d', 3 * MiB),
                    ('z', 9 * MiB + 512), ('d', 5000 // 512 * 512), ('h', 5 * MiB),
                    ('z', 7 * MiB), ('d', 2 * MiB)]:
        f.seek(pos)
        if kind == 'd':
            f.write(rnd.randbytes(n))
        elif kind == 'z':
            f.write(bytes(n))
        pos += n
    f.seek(64 * MiB)
    f.write(b'end!' * 128)
lzq = P('longzero.qcow2')
run('qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', longz, lzq)
for m in ['1', '4']:
    convert_case('longzero-raw-qcow2-m%s' % m, ['-f', 'raw', '-m', m], [longz], 'qcow2')
    convert_case('longzero-raw-raw-m%s' % m, ['-f', 'raw', '-m', m], [longz], 'raw')
    convert_case('longzero-qcow2-raw-m%s' % m, ['-f', 'qcow2', '-m', m], [lzq], 'raw',
                 compare_with=longz)


# 5. -n into targets full of old data: zero extents must be written
def prefill_raw(out):
    with open(out, 'wb') as f:
        f.write(b'\xee' * (24 * MiB + 4096))


def prefill_qcow2(out):
    if os.path.exists(out):
        os.unlink(out)
    run('qemu-img', 'create', '-q', '-f', 'qcow2', out, str(24 * MiB + 4096))
    qemu_io(out, 'write -P 0xee 0 %d' % (24 * MiB + 4096))


convert_case('existing-raw', ['-f', 'raw', '-n'], [src], 'raw', pre=prefill_raw)
convert_case('existing-qcow2', ['-f', 'raw', '-n'], [src], 'qcow2', pre=prefill_qcow2)

done()
