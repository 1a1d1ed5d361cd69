#!/usr/bin/env python3
"""vireo-img amend against qemu-img: what one amends, the other reads."""
import json
import os
import random
import shutil
import signal
import subprocess
import time

from imgtest import VIMG, run, ok, clean, same_files, done, tmpdir

tmp = tmpdir('vireo-amend-')
P = lambda name: os.path.join(tmp, name)
SIZE = 32 << 20


def qio(img, *cmds):
    args = []
    for c in cmds:
        args += ['-c', c]
    run('qemu-io', *args, img)


def spec(img):
    """The settings qemu-img info reports, as a dict."""
    j = json.loads(run('qemu-img', 'info', '--output=json', img).stdout)
    d = j.get('format-specific', {}).get('data', {})
    return {'compat': d.get('compat'), 'refcount_bits': d.get('refcount-bits'),
            'lazy_refcounts': d.get('lazy-refcounts', False),
            'size': j['virtual-size'], 'backing': j.get('backing-filename')}


def vspec(img):
    j = json.loads(run(VIMG, 'info', '--output=json', img).stdout)
    d = j.get('format-specific', {}).get('data', {})
    return {'compat': d.get('compat'), 'refcount_bits': d.get('refcount-bits'),
            'lazy_refcounts': d.get('lazy-refcounts', False),
            'size': j['virtual-size'], 'backing': j.get('backing-filename')}


def contents(tool, img, name, size):
    """Guest-visible bytes of img (through tool convert), cut to size."""
    out = P(name)
    run(tool, 'convert', '-O', 'raw', img, out)
    with open(out, 'r+b') as f:
        f.truncate(size)
    return out


def make(name, opts, size=SIZE, backing=None):
    img = P(name)
    args = ['qemu-img', 'create', '-q', '-f', 'qcow2', '-o', opts, img]
    if backing:
        args[5:5] = ['-b', backing, '-F', 'qcow2']
        args += [str(size)]
    else:
        args += [str(size)]
    run(*args)
    return img


def fill(img, seed, zero=True, compressed=False):
    r = random.Random(seed)
    cmds = []
    if compressed:  # qemu compresses only into unallocated clusters: first
        for c in r.sample(range(SIZE // 65536), 40):
            cmds.append('write -c -P %d %d 65536' % (r.randrange(256), c * 65536))
    for _ in range(40):
        off = r.randrange(0, SIZE // 4096 - 64) * 4096
        n = r.randrange(1, 64) * 4096
        if zero and r.random() < 0.2:
            cmds.append('write -z %d %d' % (off, n))
        else:
            cmds.append('write -P %d %d %d' % (r.randrange(256), off, n))
    qio(img, *cmds)


def expect(img, want):
    s = spec(img)
    return all(s[k] == v for k, v in want.items())


# 1. vireo amends, qemu checks and reads.
base = make('base.qcow2', 'compat=1.1')
fill(base, 1)
cases = [
    ('v3 64k', 'compat=1.1', {}, [
        ('compat=0.10', {'compat': '0.10'}),
        ('compat=1.1', {'compat': '1.1', 'lazy_refcounts': False}),
        ('refcount_bits=1', {'refcount_bits': 1}),
        ('refcount_bits=64', {'refcount_bits': 64}),
        ('refcount_bits=8,lazy_refcounts=on', {'refcount_bits': 8, 'lazy_refcounts': True}),
        ('lazy_refcounts=off,refcount_bits=16', {'refcount_bits': 16, 'lazy_refcounts': False}),
        ('size=48M', {'size': 48 << 20}),
        ('compat=0.10', {'compat': '0.10'})]),
    ('v2 4k', 'compat=0.10,cluster_size=4k', {'zero': False}, [
        ('compat=1.1,refcount_bits=2', {'compat': '1.1', 'refcount_bits': 2}),
        ('refcount_bits=16,compat=0.10', {'compat': '0.10', 'refcount_bits': 16})]),
    ('512-byte clusters', 'cluster_size=512', {}, [
        ('refcount_bits=4', {'refcount_bits': 4}),
        ('refcount_bits=32', {'refcount_bits': 32})]),
    ('zlib compressed', 'compat=1.1', {'compressed': True}, [
        ('compat=0.10', {'compat': '0.10'}),
        ('compat=1.1,lazy_refcounts=on', {'compat': '1.1', 'lazy_refcounts': True})]),
    ('overlay', 'compat=1.1', {'backing': base}, [
        ('compat=0.10', {'compat': '0.10', 'backing': base}),
        ('compat=1.1,refcount_bits=1', {'compat': '1.1', 'refcount_bits': 1}),
        ('backing_file=%s,backing_fmt=qcow2' % base, {'backing': base})]),
]
for i, (what, opts, kw, steps) in enumerate(cases):
    img = make('a%d.qcow2' % i, opts, backing=kw.get('backing'))
    fill(img, 10 + i, zero=kw.get('zero', True), compressed=kw.get('compressed', False))
    ref = contents('qemu-img', img, 'a%d.ref' % i, SIZE)
    for o, want in steps:
        p = run(VIMG, 'amend', '-o', o, img, check=False)
        ok(p.returncode == 0, '%s: vireo-img amend -o %s succeeds %s' % (what, o, p.stderr.strip()))
        ok(clean(img), '%s: qemu-img check clean after amend -o %s' % (what, o))
        ok(expect(img, want), '%s: qemu-img info shows %s' % (what, o))
        out = contents('qemu-img', img, 'a%d.out' % i, SIZE)
        ok(same_files(ref, out), '%s: data reads back identical through qemu-img after %s'
           % (what, o))

# Snapshots survive compat changes both ways.
img = make('snap.qcow2', 'compat=0.10')
fill(img, 30, zero=False)
run('qemu-img', 'snapshot', '-c', 's1', img)
fill(img, 31, zero=False)
ref = contents('qemu-img', img, 'snap.ref', SIZE)
for o in ['compat=1.1', 'refcount_bits=8', 'refcount_bits=16', 'compat=0.10']:
    p = run(VIMG, 'amend', '-o', o, img, check=False)
    ok(p.returncode == 0 and clean(img), 'snapshots: amend -o %s, qemu-img check clean' % o)
    ok(same_files(ref, contents('qemu-img', img, 'snap.out', SIZE)),
       'snapshots: data identical after %s' % o)
    snaps = run('qemu-img', 'snapshot', '-l', img).stdout
    ok('s1' in snaps, 'snapshots: s1 still listed after %s' % o)
run('qemu-img', 'snapshot', '-a', 's1', img)
ok(clean(img), 'snapshots: qemu-img applies s1 after the round trip')

# 2. Refusals: same exit code and message as qemu-img, image unchanged.
refusals = [
    ('compat=1.1', 'cluster_size=4k'), ('compat=1.1', 'preallocation=full'),
    ('compat=1.1', 'compression_type=zstd'), ('compat=1.1', 'compat=2'),
    ('compat=1.1', 'refcount_bits=3'), ('compat=1.1', 'foo=1'),
    ('compat=1.1', 'lazy_refcounts=maybe'), ('compat=1.1', 'backing_file=other'),
    ('compat=0.10', 'lazy_refcounts=on'), ('compat=0.10', 'refcount_bits=8'),
    ('compat=1.1,refcount_bits=8', 'compat=0.10'),
    ('compat=1.1,extended_l2=on', 'compat=0.10'),
    ('compat=1.1,compression_type=zstd', 'compat=0.10'),
]
for i, (copts, aopts) in enumerate(refusals):
    a = make('r%d.qcow2' % i, copts)
    qio(a, 'write -c -P 5 0 64k', 'write -P 6 1M 64k')
    b = P('r%d-copy.qcow2' % i)
    shutil.copy(a, b)
    before = open(b, 'rb').read()
    q = run('qemu-img', 'amend', '-o', aopts, a, check=False)
    v = run(VIMG, 'amend', '-o', aopts, b, check=False)
    qmsg = q.stderr.replace('qemu-img', 'X').splitlines()
    vmsg = v.stderr.replace('vireo-img', 'X').splitlines()
    ok(q.returncode == v.returncode == 1 and qmsg[:2] == vmsg[:2],
       'amend -o %s on (%s) refused as qemu-img does' % (aopts, copts))
    if qmsg[:2] != vmsg[:2]:
        print('#  qemu-img: %r\n#  vireo-img: %r' % (qmsg, vmsg))
    ok(open(b, 'rb').read() == before, 'refused amend -o %s left the image as it was' % aopts)
raw = P('r.raw')
open(raw, 'wb').truncate(1 << 20)
q = run('qemu-img', 'amend', '-f', 'raw', '-o', 'size=2M', raw, check=False)
v = run(VIMG, 'amend', '-f', 'raw', '-o', 'size=2M', raw, check=False)
ok(q.returncode == v.returncode == 1 and
   q.stderr.replace('qemu-img', 'X') == v.stderr.replace('vireo-img', 'X'),
   'amend of a raw image refused as qemu-img does')
v = run(VIMG, 'amend', base, check=False)
ok(v.returncode == 1 and 'Must specify options (-o)' in v.stderr, 'amend without -o refused')

# 3. qemu amends, vireo reads.
for i, (opts, steps) in enumerate([
        ('compat=1.1', ['compat=0.10', 'compat=1.1', 'refcount_bits=1', 'refcount_bits=64',
                        'lazy_refcounts=on', 'size=40M']),
        ('compat=0.10,cluster_size=4k', ['compat=1.1,refcount_bits=4'])]):
    img = make('q%d.qcow2' % i, opts)
    fill(img, 50 + i)
    ref = contents('qemu-img', img, 'q%d.ref' % i, SIZE)
    for o in steps:
        run('qemu-img', 'amend', '-o', o, img)
        rc = run(VIMG, 'check', img, check=False).returncode
        ok(rc == 0, 'qemu-img amend -o %s: vireo-img check clean' % o)
        ok(vspec(img) == spec(img), 'qemu-img amend -o %s: vireo-img info agrees' % o)
        ok(same_files(ref, contents(VIMG, img, 'q%d.out' % i, SIZE)),
           'qemu-img amend -o %s: vireo-img reads the data back identical' % o)

# 4. Killed in the middle of rewriting the refcount structures or of a
# downgrade: never corrupt (leaks allowed), data intact.
img0 = make('crash0.qcow2', 'cluster_size=512')
fill(img0, 70, zero=True)
qio(img0, 'write -P 3 0 16M', 'write -z 20M 4M')
ref = contents('qemu-img', img0, 'crash.ref', SIZE)
rnd = random.Random(7)
corrupt = bad_data = killed = 0
ops = ['refcount_bits=1', 'refcount_bits=64', 'compat=0.10']
took = {}
for o in ops:  # how long each takes whole, to kill inside that window
    img = P('crash.qcow2')
    shutil.copy(img0, img)
    t = time.monotonic()
    run(VIMG, 'amend', '-o', o, img)
    took[o] = time.monotonic() - t
for rnd_i in range(24):
    img = P('crash.qcow2')
    shutil.copy(img0, img)
    o = ops[rnd_i % 3]
    proc = subprocess.Popen([VIMG, 'amend', '-o', o, img],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rnd.uniform(0, took[o]))
    proc.send_signal(signal.SIGKILL)
    killed += proc.wait() == -signal.SIGKILL
    p = run('qemu-img', 'check', '--output=json', img, check=False)
    try:
        corrupt += json.loads(p.stdout).get('corruptions', 0) > 0 or p.returncode not in (0, 3)
    except ValueError:
        corrupt += 1
    if not same_files(ref, contents('qemu-img', img, 'crash.out', SIZE)):
        bad_data += 1
print('# %d of 24 amends were killed before they finished' % killed)
ok(corrupt == 0, 'SIGKILL during amend never corrupts (%d corrupt)' % corrupt)
ok(bad_data == 0, 'SIGKILL during amend never loses data (%d differ)' % bad_data)
done()
