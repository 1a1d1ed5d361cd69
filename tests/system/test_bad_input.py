#!/usr/bin/env python3
"""vireo refuses bad input with one clear line and exit status 1, never a crash."""
import os
import subprocess
import tempfile

import vmtest
from vmtest import check

tmp = tempfile.mkdtemp(prefix="vireo-bad-")


def write(name, data):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def run(args, expect_words, what):
    p = subprocess.run([vmtest.VIREO] + args, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    err = p.stderr.decode(errors="replace").strip()
    lines = err.splitlines()
    ok = p.returncode == 1 and len(lines) == 1 and all(w in err for w in expect_words)
    check(ok, f"{what}: exit {p.returncode}, stderr: {err!r}")


tk = vmtest.TESTKERNEL
with open(tk, "rb") as f:
    good = f.read()

run(["--kernel", os.path.join(tmp, "missing")], ["kernel", "No such file"], "missing kernel")
run(["--kernel", write("trunc", good[:700])], ["truncated"], "truncated bzImage")
run(["--kernel", write("text", b"hello world\n" * 100)], ["not a bzImage"], "not a kernel")
run(["--kernel", tmp], ["kernel"], "a directory as kernel")
run(["--kernel", tk, "--initrd", write("big", b"\0" * (40 << 20)), "--memory", "32M"],
    ["initrd", "does not fit"], "initrd that does not fit")
run(["--kernel", tk, "--initrd", os.path.join(tmp, "nope")], ["initrd"], "missing initrd")
run(["--kernel", tk, "--memory", "0"], ["memory"], "--memory 0")
run(["--kernel", tk, "--memory", "lots"], ["memory"], "--memory junk")
run(["--kernel", tk, "--cpus", "65"], ["cpus"], "too many vCPUs")
run(["--kernel", tk, "--cpus", "0"], ["cpus"], "zero vCPUs")
run(["--kernel", tk, "--bogus"], ["--bogus"], "unknown option")
run([], ["--kernel"], "no kernel")
run(["--kernel", tk, "--accel", "quantum"], ["accel"], "unknown engine")
run(["--kernel", tk, "--control", "/nonexistent/dir/sock"], ["control"], "bad control path")
run(["--kernel", tk, "--cmdline", "x" * 5000], ["command line"], "command line too long")

p = subprocess.run([vmtest.VIREO, "--help"], capture_output=True)
check(p.returncode == 0 and b"--kernel" in p.stdout, "--help")
p = subprocess.run([vmtest.VIREO, "--version"], capture_output=True)
check(p.returncode == 0 and p.stdout.startswith(b"vireo "), "--version")
vmtest.finish()
