#!/usr/bin/env python3
"""Interop between vireo-img/the block layer and qemu-img/qemu-io, both ways."""
import os
import random
import subprocess
import tempfile

from imgtest import VIMG, BLKIO, run, ok, qcheck, vcheck, clean, same_files, done, tmpdir

tmp = tmpdir('vireo-img-')
P = lambda name: os.path.join(tmp, name)
SIZE = 64 << 20

# 1. What vireo writes, qemu reads (and finds clean).
configs = ['compat=1.1', 'compat=0.10', 'cluster_size=4096',
           'cluster_size=512,refcount_bits=1', 'cluster_size=2M,refcount_bits=64',
           'cluster_size=16k,refcount_bits=8', 'lazy_refcounts=on',
           'compression_type=zstd']
for i, opts in enumerate(configs):
    img, mirror = P('v%d.qcow2' % i), P('v%d.raw' % i)
    run(VIMG, 'create', '-q', '-f', 'qcow2', '-o', opts, img, SIZE)
    ok(clean(img), 'fresh image (%s) passes qemu-img check' % opts)
    run(BLKIO, img, 'random', 100 + i, 250, mirror)
    ok(clean(img), 'after random writes (%s) qemu-img check is clean' % opts)
    p = run('qemu-img', 'compare', '-q', '-f', 'qcow2', '-F', 'raw', img, mirror,
            check=False)
    ok(p.returncode == 0, 'qemu-img reads back what vireo wrote (%s)' % opts)
    q = run('qemu-io', '-r', '-c', 'read -v 0 512', img)
    ok('wrote' not in q.stderr, 'qemu-io opens it (%s)' % opts)

# convert raw -> qcow2 (plain, zlib, zstd) -> qemu check + compare
src = P('src.raw')
rnd = random.Random(1)
data = bytearray(24 << 20)
for _ in range(80):
    off = rnd.randrange(0, len(data) - 400000)
    n = rnd.randrange(1, 400000)
    data[off:off + n] = rnd.randbytes(n) if rnd.random() < 0.5 else bytes([rnd.randrange(256)]) * n
open(src, 'wb').write(data)
for name, extra in [('plain', []), ('zlib', ['-c']),
                    ('zstd', ['-c', '-o', 'compression_type=zstd']),
                    ('v2', ['-o', 'compat=0.10']), ('4k', ['-o', 'cluster_size=4k'])]:
    out = P('conv-%s.qcow2' % name)
    run(VIMG, 'convert', '-f', 'raw', '-O', 'qcow2', *extra, src, out)
    ok(clean(out), 'convert %s: qemu-img check clean' % name)
    p = run('qemu-img', 'compare', '-q', src, out, check=False)
    ok(p.returncode == 0, 'convert %s: qemu-img compare identical' % name)
    back = P('back-%s.raw' % name)
    run(VIMG, 'convert', '-O', 'raw', out, back)
    ok(same_files(src, back), 'convert %s: vireo-img reads it back' % name)

# 2. What qemu writes, vireo reads byte-identical, and checks agree.
qconfigs = ['compat=1.1', 'compat=0.10', 'cluster_size=4k', 'cluster_size=2M',
            'compression_type=zstd', 'extended_l2=on', 'refcount_bits=1',
            'lazy_refcounts=on', 'cluster_size=512']
for i, opts in enumerate(qconfigs):
    img = P('q%d.qcow2' % i)
    run('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', opts, img, SIZE)
    r = random.Random(1000 + i)
    cmds = []
    for _ in range(60):
        n = r.randrange(1, 1 << 20)
        off = r.randrange(0, SIZE - n)
        k = r.random()
        if k < 0.6:
            cmds += ['-c', 'write -P %d %d %d' % (r.randrange(256), off, n)]
        elif k < 0.75:
            off &= ~511
            cmds += ['-c', 'write -z %d %d' % (off, max(512, n & ~511))]
        elif k < 0.85:
            off &= ~511
            cmds += ['-c', 'discard %d %d' % (off, max(512, n & ~511))]
        elif 'extended_l2' not in opts:
            cs = {'cluster_size=4k': 4096, 'cluster_size=2M': 2 << 20,
                  'cluster_size=512': 512}.get(opts, 65536)
            off -= off % cs
            cmds += ['-c', 'write -c -P %d %d %d' % (r.randrange(256), off, cs)]
    run('qemu-io', *cmds, img, check=False)  # -c on allocated clusters fails
    a, b = P('q%d-q.raw' % i), P('q%d-v.raw' % i)
    run('qemu-img', 'convert', '-O', 'raw', img, a)
    p = run(VIMG, 'convert', '-O', 'raw', img, b, check=False)
    ok(p.returncode == 0 and same_files(a, b),
       'vireo reads qemu image (%s) byte-identical' % opts)
    qrc, qj = qcheck(img)
    vrc, vj = vcheck(img)
    keys = ['leaks', 'corruptions', 'check-errors', 'allocated-clusters',
            'total-clusters', 'compressed-clusters', 'image-end-offset']
    ok(qrc == vrc and all(qj.get(k) == vj.get(k) for k in keys),
       'check agrees with qemu-img (%s): %s vs %s' % (
           opts, {k: qj.get(k) for k in keys}, {k: vj.get(k) for k in keys}))
    qi = run('qemu-img', 'info', '--output=json', img).stdout
    vi = run(VIMG, 'info', '--output=json', img).stdout
    import json
    qi, vi = json.loads(qi), json.loads(vi)
    common = ['virtual-size', 'cluster-size', 'format', 'format-specific',
              'dirty-flag', 'actual-size']
    ok(all(qi.get(k) == vi.get(k) for k in common),
       'info --output=json agrees (%s)' % opts)
    if 'extended_l2' not in opts:
        qm = run('qemu-img', 'map', '--output=json', img).stdout
        vm = run(VIMG, 'map', '--output=json', img).stdout
        ok(json.loads(qm) == json.loads(vm), 'map --output=json agrees (%s)' % opts)

# Backing chains of depth 3, relative names resolved against the overlay.
os.makedirs(P('d1/d2'), exist_ok=True)
run('qemu-img', 'create', '-q', '-f', 'raw', P('base.raw'), SIZE)
run('qemu-io', '-f', 'raw', '-c', 'write -P 1 0 8M', P('base.raw'))
run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', '../base.raw', '-F', 'raw',
    P('d1/mid.qcow2'))
run('qemu-io', '-c', 'write -P 2 4M 8M', P('d1/mid.qcow2'))
run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', '../mid.qcow2', '-F', 'qcow2',
    P('d1/d2/top.qcow2'))
run('qemu-io', '-c', 'write -P 3 10M 1M', '-c', 'write -z 5M 64k',
    P('d1/d2/top.qcow2'))
run('qemu-img', 'convert', '-O', 'raw', P('d1/d2/top.qcow2'), P('chain-q.raw'))
run(VIMG, 'convert', '-O', 'raw', P('d1/d2/top.qcow2'), P('chain-v.raw'))
ok(same_files(P('chain-q.raw'), P('chain-v.raw')), 'backing chain of depth 3 reads identical')
qm = run('qemu-img', 'map', '--output=json', P('d1/d2/top.qcow2')).stdout
vm = run(VIMG, 'map', '--output=json', P('d1/d2/top.qcow2')).stdout
import json
ok([{k: v for k, v in e.items() if k != 'offset'} for e in json.loads(qm)] ==
   [{k: v for k, v in e.items() if k != 'offset'} for e in json.loads(vm)],
   'map of a chain agrees with qemu-img')
# vireo writes into an overlay whose backing qemu wrote
run(VIMG, 'create', '-q', '-f', 'qcow2', '-b', 'd2/top.qcow2', '-F', 'qcow2', P('d1/v-top.qcow2'))
run('qemu-img', 'convert', '-O', 'raw', P('d1/v-top.qcow2'), P('vt.raw'))
run(BLKIO, P('d1/v-top.qcow2'), 'random', 5, 200, P('vt.raw'))
ok(clean(P('d1/v-top.qcow2')), 'vireo overlay on a qemu chain is clean')
p = run('qemu-img', 'compare', '-q', P('d1/v-top.qcow2'), P('vt.raw'), check=False)
ok(p.returncode == 0, 'qemu reads the vireo overlay identical (COW from backing)')

# 3. Locks: qemu and vireo refuse each other's writers.
img = P('lock.qcow2')
run(VIMG, 'create', '-q', '-f', 'qcow2', img, '16M')
q = subprocess.Popen(['qemu-io', img], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
import time
time.sleep(0.5)
ok(run(BLKIO, img, 'flush', check=False).returncode != 0, 'vireo writer refused while qemu-io writes')
ok(run(VIMG, 'info', img, check=False).returncode != 0, 'vireo-img info refused while qemu-io writes')
ok(run(VIMG, 'info', '-U', img, check=False).returncode == 0, 'vireo-img info -U works')
q.communicate(b'quit\n')
v = subprocess.Popen([BLKIO, img, 'crash', '1', P('lock.journal')])
time.sleep(0.3)
ok(run('qemu-io', '-c', 'read 0 512', img, check=False).returncode != 0,
   'qemu-io refused while vireo writes')
ok(run('qemu-img', 'info', img, check=False).returncode != 0,
   'qemu-img info refused while vireo writes')
v.kill()
v.wait()

# 4. check: leaks and corruption are found, exit codes match qemu-img.
img = P('leak.qcow2')
run(VIMG, 'create', '-q', '-f', 'qcow2', img, '16M')
run('qemu-io', '-c', 'write -P 7 0 128k', img)
with open(img, 'r+b') as f:     # count a cluster past the data: a leak
    f.truncate(8 * 65536)
    f.seek(0x20000 + 2 * 7)
    f.write(b'\x00\x01')
ok(run(VIMG, 'check', img, check=False).returncode == 3, 'leak: exit code 3')
ok(qcheck(img)[0] == 3, 'qemu-img agrees: exit code 3')
ok(vcheck(img)[1].get('leaks') == 1, 'leak counted in JSON')
ok(run(VIMG, 'check', '-r', 'leaks', img, check=False).returncode == 0, 'check -r leaks repairs')
ok(clean(img), 'qemu-img check clean after repair')
with open(img, 'r+b') as f:     # drop the refcount of a data cluster
    f.seek(0x20000 + 2 * 5)
    f.write(b'\x00\x00')
ok(run(VIMG, 'check', img, check=False).returncode == 2, 'corruption: exit code 2')
ok(run(VIMG, 'check', '-r', 'all', img, check=False).returncode == 0, 'check -r all repairs')
ok(clean(img), 'qemu-img check clean after -r all')
ok(run(VIMG, 'check', '-f', 'raw', src, check=False).returncode == 63, 'raw: exit code 63')

# 5. resize grow (L1 grows) and shrink.
img = P('resize.qcow2')
run(VIMG, 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', img, '1M')
run('qemu-io', '-c', 'write -P 9 0 1M', img)
run(VIMG, 'resize', img, '+3G')
ok(clean(img) and json.loads(run('qemu-img', 'info', '--output=json', img).stdout)
   ['virtual-size'] == (1 << 20) + (3 << 30), 'resize +3G: clean and right size')
run('qemu-io', '-c', 'write -P 8 3G 64k', img)
ok(run(VIMG, 'resize', img, '512k', check=False).returncode == 1, 'shrink needs --shrink')
run(VIMG, 'resize', '--shrink', img, '512k')
ok(clean(img), 'shrink: clean')
run('qemu-io', '-c', 'read -P 9 0 512k', img)
ok(True, 'shrink: data kept')


# 6. Internal snapshots, both ways.
img = P('snap.qcow2')
run(VIMG, 'create', '-q', '-f', 'qcow2', img, '16M')
run('qemu-io', '-c', 'write -P 1 0 1M', img)
run(VIMG, 'snapshot', '-c', 'one', img)
run('qemu-io', '-c', 'write -P 2 512k 1M', img)
run('qemu-img', 'snapshot', '-c', 'two', img)
run('qemu-io', '-c', 'write -P 3 0 64k', img)
ok(clean(img), 'snapshots: clean after vireo and qemu snapshots')
vl = run(VIMG, 'snapshot', '-l', img).stdout.splitlines()
ql = run('qemu-img', 'snapshot', '-l', img).stdout.splitlines()
ok(vl == ql, 'snapshot -l output matches qemu-img')
run(VIMG, 'snapshot', '-a', 'one', img)
ok(clean(img), 'snapshot -a: clean')
p = run('qemu-io', '-c', 'read -P 1 0 1M', '-c', 'read -P 0 1M 1M', img)
ok('failed' not in p.stdout + p.stderr, 'snapshot -a: content of snapshot one')
run(VIMG, 'snapshot', '-a', 'two', img)
p = run('qemu-io', '-c', 'read -P 1 0 512k', '-c', 'read -P 2 512k 1M', img)
ok('failed' not in p.stdout + p.stderr, 'snapshot -a: content of snapshot two')
run(VIMG, 'snapshot', '-d', 'one', img)
ok(clean(img), 'snapshot -d: clean')
run('qemu-img', 'snapshot', '-d', 'two', img)
ok(clean(img) and vcheck(img)[0] == 0, 'qemu deletes a snapshot next to vireo: clean')

# 7. compare, rebase (safe and unsafe), commit.
a, b = P('cmp-a.qcow2'), P('cmp-b.qcow2')
run(VIMG, 'create', '-q', '-f', 'qcow2', a, '8M')
run(VIMG, 'create', '-q', '-f', 'qcow2', b, '8M')
run('qemu-io', '-c', 'write -P 5 1M 4k', a)
run('qemu-io', '-c', 'write -P 5 1M 4k', b)
ok(run(VIMG, 'compare', a, b, check=False).returncode == 0, 'compare: identical')
run('qemu-io', '-c', 'write -P 6 3M 512', b)
p = run(VIMG, 'compare', a, b, check=False)
q = run('qemu-img', 'compare', a, b, check=False)
ok(p.returncode == 1 and p.stdout == q.stdout, 'compare: mismatch reported as qemu-img does')
base1, base2, top = P('rb1.qcow2'), P('rb2.qcow2'), P('rbtop.qcow2')
run('qemu-img', 'create', '-q', '-f', 'qcow2', base1, '8M')
run('qemu-io', '-c', 'write -P 7 0 2M', base1)
run('qemu-img', 'create', '-q', '-f', 'qcow2', base2, '8M')
run('qemu-io', '-c', 'write -P 8 1M 2M', base2)
run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'rb1.qcow2', '-F', 'qcow2', top)
run('qemu-io', '-c', 'write -P 9 512k 64k', top)
run('qemu-img', 'convert', '-O', 'raw', top, P('rb-before.raw'))
run(VIMG, 'rebase', '-b', 'rb2.qcow2', '-F', 'qcow2', top)
run('qemu-img', 'convert', '-O', 'raw', top, P('rb-after.raw'))
ok(clean(top) and same_files(P('rb-before.raw'), P('rb-after.raw')),
   'rebase: content kept, clean')
ok(json.loads(run('qemu-img', 'info', '--output=json', top).stdout).get('backing-filename')
   == 'rb2.qcow2', 'rebase: qemu-img sees the new backing file')
run(VIMG, 'rebase', '-u', '-b', 'rb1.qcow2', '-F', 'qcow2', top)
ok(clean(top), 'rebase -u: clean')
run(VIMG, 'rebase', '-b', '', top)
run('qemu-img', 'convert', '-O', 'raw', top, P('rb-flat.raw'))
ok(clean(top) and same_files(P('rb-before.raw'), P('rb-flat.raw')) and
   'backing-filename' not in json.loads(run('qemu-img', 'info', '--output=json', top).stdout),
   'rebase -b "": flattens, content kept')
base, top = P('cm-base.qcow2'), P('cm-top.qcow2')
run('qemu-img', 'create', '-q', '-f', 'qcow2', base, '8M')
run('qemu-io', '-c', 'write -P 1 0 4M', base)
run(VIMG, 'create', '-q', '-f', 'qcow2', '-b', 'cm-base.qcow2', '-F', 'qcow2', top)
run('qemu-io', '-c', 'write -P 2 1M 1M', '-c', 'write -z 3M 64k', top)
run('qemu-img', 'convert', '-O', 'raw', top, P('cm-want.raw'))
p = run(VIMG, 'commit', top)
run('qemu-img', 'convert', '-O', 'raw', base, P('cm-got.raw'))
ok(p.stdout == 'Image committed.\n' and clean(base) and clean(top) and
   same_files(P('cm-want.raw'), P('cm-got.raw')), 'commit: base holds the overlay data')

done()
