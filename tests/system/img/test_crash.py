#!/usr/bin/env python3
"""Crash consistency: SIGKILL a writer at random moments; after each kill
qemu-img check finds no corruption (leaks are allowed) and every write a
completed flush covered reads back."""
import os
import random
import signal
import subprocess
import tempfile
import time

from imgtest import VIMG, BLKIO, run, ok, qcheck, done, tmpdir

ROUNDS = int(os.environ.get('CRASH_ROUNDS', '100'))
tmp = tmpdir('vireo-crash-')
r = random.Random(4242)
configs = ['cluster_size=64k', 'cluster_size=4k', 'compat=0.10',
           'cluster_size=512,refcount_bits=4']
bad = 0
for i in range(ROUNDS):
    opts = configs[i % len(configs)]
    img = os.path.join(tmp, 'c.qcow2')
    journal = os.path.join(tmp, 'journal')
    if os.path.exists(journal):     # a kill before the writer starts
        os.unlink(journal)          # must not leave last round's journal
    open(journal, 'w').close()
    run(VIMG, 'create', '-q', '-f', 'qcow2', '-o', opts, img, '32M')
    p = subprocess.Popen([BLKIO, img, 'crash', str(i + 1), journal])
    time.sleep(r.uniform(0.01, 0.25))
    p.send_signal(signal.SIGKILL)
    p.wait()
    rc, j = qcheck(img)
    good = rc in (0, 3) and not j.get('corruptions') and not j.get('check-errors')
    c = run(BLKIO, '-r', img, 'crashcheck', journal, check=False)
    good = good and c.returncode == 0
    if not good:
        bad += 1
        print('# round %d (%s): qemu-img check rc=%d %s; crashcheck: %s' %
              (i, opts, rc, j, c.stderr.strip()))
    ok(good, 'crash round %d (%s)' % (i, opts))
done()
