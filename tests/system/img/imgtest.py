"""Helpers shared by the vireo-img interop tests (qemu-img is the peer)."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

VIMG = os.environ.get('VIREO_IMG', 'vireo-img')
BLKIO = os.environ.get('BLKIO', 'blkio')
passed = 0
failed = 0


def run(*args, check=True, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError('%s failed (%d): %s%s' % (' '.join(map(str, args)),
                           p.returncode, p.stdout, p.stderr))
    return p


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print('ok - %s' % what)
    else:
        failed += 1
        print('not ok - %s' % what)
    sys.stdout.flush()


def qcheck(path):
    """qemu-img check as JSON plus exit code."""
    p = run('qemu-img', 'check', '--output=json', path, check=False)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        return p.returncode, {}


def vcheck(path):
    p = run(VIMG, 'check', '--output=json', path, check=False)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        return p.returncode, {}


def clean(path):
    rc, j = qcheck(path)
    return rc == 0 and not j.get('leaks') and not j.get('corruptions')


def same_files(a, b):
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        while True:
            x = fa.read(1 << 20)
            y = fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def tmpdir(prefix):
    """Scratch space on tmpfs when there is one: fdatasync is free there."""
    base = '/dev/shm' if os.path.isdir('/dev/shm') else None
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    atexit.register(shutil.rmtree, d, True)
    return d


def done():
    print('%d passed, %d failed' % (passed, failed))
    sys.exit(1 if failed else 0)
