#!/usr/bin/env python3
"""vireo-img measure prints what qemu-img measure prints, byte for byte."""
import os

from imgtest import VIMG, run, ok, done, tmpdir

tmp = tmpdir('vireo-measure-')
P = lambda name: os.path.join(tmp, name)


def both(*args):
    """(stdout, stderr, rc) of qemu-img and vireo-img, tool names blanked."""
    q = run('qemu-img', 'measure', *args, check=False)
    v = run(VIMG, 'measure', *args, check=False)
    return ((q.stdout, q.stderr.replace('qemu-img:', 'X:'), q.returncode),
            (v.stdout, v.stderr.replace('vireo-img:', 'X:'), v.returncode))


def qio(img, *cmds):
    args = []
    for c in cmds:
        args += ['-c', c]
    run('qemu-io', *args, img)


# Inputs: qcow2 images of several layouts written by qemu, a sparse and a
# full raw file, an overlay over a backing chain, one written by vireo.
inputs = []
img = P('plain.qcow2')
run('qemu-img', 'create', '-q', '-f', 'qcow2', img, '100M')
qio(img, 'write -P 1 0 1M', 'write -P 2 5M 4k', 'write -z 10M 1M',
    'write -P 3 33k 100k')
inputs.append(img)
img = P('v2-4k.qcow2')
run('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k,compat=0.10',
    img, '50M')
qio(img, 'write -P 1 3k 10k', 'write -P 7 40M 2M')
inputs.append(img)
img = P('meta.qcow2')  # metadata preallocation: clusters mapped, file sparse
run('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'preallocation=metadata',
    img, '64M')
qio(img, 'write -P 3 1M 64k')
inputs.append(img)
img = P('full.qcow2')
run('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'preallocation=full', img, '16M')
inputs.append(img)
img = P('extl2.qcow2')
run('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=128k',
    img, '10M')
qio(img, 'write -P 1 4k 4k', 'write -P 2 1M 300k')
inputs.append(img)
sparse = P('sparse.raw')
with open(sparse, 'wb') as f:
    f.truncate(200 << 20)
    for off, n in [(4 << 20, 12 << 10), (150 << 20, 400 << 10), (199 << 20, 4096)]:
        f.seek(off)
        f.write(os.urandom(n))
inputs.append(sparse)
full = P('full.raw')
with open(full, 'wb') as f:
    f.write(os.urandom(30 << 20))
inputs.append(full)
odd = P('odd.raw')  # not a whole number of sectors
with open(odd, 'wb') as f:
    f.write(os.urandom(1000))
inputs.append(odd)
comp = P('comp.qcow2')
run('qemu-img', 'convert', '-c', '-O', 'qcow2', full, comp)
inputs.append(comp)
overlay = P('overlay.qcow2')
run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', P('plain.qcow2'), '-F', 'qcow2',
    overlay, '120M')
qio(overlay, 'write -P 9 50M 64k', 'write -z 0 64k')
inputs.append(overlay)
vimg = P('vireo.qcow2')
run(VIMG, 'convert', '-O', 'qcow2', '-o', 'cluster_size=16k', sparse, vimg)
inputs.append(vimg)

targets = [['-O', 'raw'], ['-O', 'qcow2'], ['-O', 'qcow2', '-o', 'cluster_size=4k'],
           ['-O', 'qcow2', '-o', 'cluster_size=2M,refcount_bits=1'],
           ['-O', 'qcow2', '-o', 'compat=0.10'],
           ['-O', 'qcow2', '-o', 'extended_l2=on'],
           ['-O', 'qcow2', '-o', 'cluster_size=512,refcount_bits=64'],
           ['-O', 'qcow2', '-o', 'preallocation=full'],
           ['-O', 'qcow2', '-o', 'preallocation=metadata,lazy_refcounts=on'],
           ['-O', 'qcow2', '-o', 'backing_file=elsewhere.qcow2']]
for img in inputs:
    for t in targets:
        for out in ['human', 'json']:
            q, v = both('--output=' + out, *t, img)
            ok(q == v and q[2] == 0, 'measure %s %s (%s) matches qemu-img'
               % (os.path.basename(img), ' '.join(t), out))
            if q != v:
                print('#  qemu-img: %r\n#  vireo-img: %r' % (q, v))
q, v = both('-f', 'raw', '-O', 'qcow2', P('plain.qcow2'))
ok(q == v, 'measure -f raw of a qcow2 file matches qemu-img')

# --size: several sizes and layouts, and the L1 limit.
for size in ['0', '1', '512', '1000', '1M', '1G', '100G', '1T', '16T']:
    for t in targets[:-1] + [['-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=32k']]:
        for out in ['human', 'json']:
            q, v = both('--output=' + out, *t, '--size', size)
            ok(q == v, 'measure --size %s %s (%s) matches qemu-img'
               % (size, ' '.join(t), out))
            if q != v:
                print('#  qemu-img: %r\n#  vireo-img: %r' % (q, v))

# Refusals: same exit code and message.
for args in [[], ['--size', '1G', P('plain.qcow2')], ['--size', '1x'],
             ['-O', 'vmdk', '--size', '1G'],
             ['-O', 'qcow2', '-o', 'cluster_size=3k', '--size', '1G'],
             ['-O', 'qcow2', '-o', 'compat=0.10,refcount_bits=8', '--size', '1G'],
             ['-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=4k', '--size', '1G'],
             ['-O', 'qcow2', '-o', 'cluster_size=512', '--size', '64T'],
             ['--output=xml', '--size', '1G']]:
    q, v = both(*args)
    ok(q[2] == v[2] != 0 and q[1].splitlines()[:1] == v[1].splitlines()[:1],
       'measure %s refused as qemu-img refuses it' % ' '.join(args))
    if q != v:
        print('#  qemu-img: %r\n#  vireo-img: %r' % (q, v))
done()
