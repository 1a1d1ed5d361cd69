"""Helpers for vireo's system tests: run vireo, read its serial console,
talk QMP on its control socket. Standard library only."""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

VIREO = os.environ.get("VIREO", "build/vireo")
TESTKERNEL = os.environ.get("TESTKERNEL", "build/guest/testkernel/testkernel.bzImage")
TESTKERNEL_ELF = os.environ.get("TESTKERNEL_ELF", "build/guest/testkernel/testkernel.elf")

failures = 0
checks = 0


def check(cond, what):
    """Record one check; print it; never raise, so a test reports all it finds."""
    global failures, checks
    checks += 1
    if cond:
        print(f"ok   {what}")
    else:
        failures += 1
        print(f"FAIL {what}")
    sys.stdout.flush()
    return cond


def require_accel(accel):
    """Exit 77 (meson's SKIP) when this host cannot run the engine at all:
    the kvm engine needs /dev/kvm, which some hosts (a nested kvm-pvm guest,
    a container) do not have. Nothing else may skip."""
    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is absent or not accessible on this host: "
              "the kvm engine cannot run here")
        sys.exit(77)


def finish():
    print(f"{checks - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


class VM:
    """A running vireo with its serial console on a pipe."""

    def __init__(self, *args, kernel=None, control=False, timeout=60, argv=None, wrap=()):
        """vireo with args (or, given argv, that command: a peer VMM with its
        console on stdio), run under wrap (e.g. ip netns exec NS)."""
        self.tmp = tempfile.mkdtemp(prefix="vireo-test-")
        self.control = os.path.join(self.tmp, "qmp.sock") if control else None
        cmd = [VIREO, "--kernel", kernel or TESTKERNEL, "--serial", "stdio"]
        if self.control:
            cmd += ["--control", self.control]
        cmd += list(args)
        if argv:
            cmd = list(argv)
        cmd = list(wrap) + cmd
        self.cmd = cmd
        self.deadline = time.monotonic() + timeout
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = b""
        self.err = b""

    def _pump(self, wait):
        fds = [f for f in (self.proc.stdout, self.proc.stderr) if f and not f.closed]
        if not fds:
            time.sleep(wait)
            return False
        r, _, _ = select.select(fds, [], [], wait)
        got = False
        for f in r:
            data = os.read(f.fileno(), 65536)
            if not data:
                f.close()
                continue
            got = True
            if f is self.proc.stdout:
                self.out += data
            else:
                self.err += data
        return got

    def expect(self, text, timeout=None):
        """Wait until text appears on the serial console; True if it did."""
        end = time.monotonic() + timeout if timeout else self.deadline
        needle = text.encode()
        while needle not in self.out:
            if time.monotonic() > end:
                return False
            if not self._pump(0.1) and self.proc.poll() is not None:
                self._pump(0)
                return needle in self.out
        return True

    def expect_re(self, pattern, timeout=None):
        """Like expect, for a compiled bytes regular expression."""
        end = time.monotonic() + timeout if timeout else self.deadline
        while not pattern.search(self.out):
            if time.monotonic() > end:
                return False
            if not self._pump(0.1) and self.proc.poll() is not None:
                self._pump(0)
                return bool(pattern.search(self.out))
        return True

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def wait(self, timeout=None):
        """Wait for exit, collecting output; returns the exit status (None on timeout)."""
        end = time.monotonic() + timeout if timeout else self.deadline
        while self.proc.poll() is None and time.monotonic() < end:
            self._pump(0.1)
        while self._pump(0):
            pass
        return self.proc.poll()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def text(self):
        return self.out.decode(errors="replace")

    @property
    def errtext(self):
        return self.err.decode(errors="replace")

    def qmp(self):
        return QMP(self.control)


class QMP:
    def __init__(self, path, timeout=10):
        end = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self.buf = b""
        self.events = []
        self.greeting = self.recv()

    def recv(self, timeout=10):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no QMP message")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("QMP socket closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.recv()
            if "event" in r:
                self.events.append(r)
                continue
            return r

    def event(self, name, timeout=10):
        for e in self.events:
            if e["event"] == name:
                return e
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                r = self.recv(timeout=end - time.monotonic())
            except (TimeoutError, EOFError, OSError):
                return None
            if "event" in r:
                self.events.append(r)
                if r["event"] == name:
                    return r
        return None

    def close(self):
        self.sock.close()
