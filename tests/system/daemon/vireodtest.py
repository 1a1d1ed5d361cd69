"""Helpers for vireod system tests: a daemon on a private socket and state
directory, the stock virsh pointed at it, and check() bookkeeping.

Environment: VIREOD (the daemon), optionally VIREO and TESTKERNEL for
lifecycle tests.
"""
import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

# One bookkeeping for all system tests (tests/system/vmtest.py).
from vmtest import check, finish as done  # noqa: E402,F401


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


class Daemon:
    """vireod on a temporary state directory; stopped with SIGTERM."""

    def __init__(self, *extra, state_dir=None):
        self.tmp = tempfile.mkdtemp(prefix="vireod-test-")
        self.state = state_dir or os.path.join(self.tmp, "state")
        self.run = os.path.join(self.tmp, "run")
        self.sock = os.path.join(self.run, "sock")
        self.log_path = os.path.join(self.tmp, "vireod.log")
        self.start(*extra)

    def start(self, *extra):
        args = [os.environ["VIREOD"], "--state-dir", self.state, "--run-dir", self.run,
                "--socket", self.sock, "-v"]
        if os.environ.get("VIREO"):
            args += ["--vireo", os.environ["VIREO"]]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args + list(extra), stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            if os.path.exists(self.sock):
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(self.sock)
                    s.close()
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("vireod did not start:\n" + self.text())

    @property
    def uri(self):
        return f"vireo+unix:///system?socket={self.sock}"

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def virsh(self, *args, timeout=30):
        """Run virsh; returns (exit status, stdout, stderr)."""
        env = dict(os.environ, LIBVIRT_DEFAULT_URI="", VIRSH_DEFAULT_CONNECT_URI="")
        p = subprocess.run(["virsh", "-q", "-c", self.uri] + list(args), capture_output=True,
                           text=True, timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr


class Console:
    """`virsh console NAME` on a pseudo-terminal (it refuses to run without
    one): read() collects the guest's output, send() types."""

    def __init__(self, daemon, name, force=True):
        args = ["virsh", "-c", daemon.uri, "console"] + (["--force"] if force else []) + [name]
        env = dict(os.environ, LIBVIRT_DEFAULT_URI="", VIRSH_DEFAULT_CONNECT_URI="")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execvpe("virsh", args, env)
            finally:
                os._exit(127)
        self.text = b""
        self.status = None

    def read(self, needle=None, timeout=10.0):
        """Read until needle (bytes or str) shows up or timeout; True if seen."""
        if isinstance(needle, str):
            needle = needle.encode()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle is not None and needle in self.text:
                return True
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    break
                self.text += data
        return needle is not None and needle in self.text

    def send(self, data):
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def close(self, timeout=10.0):
        """Ctrl+] (virsh's escape), then wait; returns virsh's exit status."""
        if self.status is None:
            # virsh prints its banner before it puts the terminal in raw
            # mode; an escape typed before that is just echoed.
            self.read(timeout=0.5)
            try:
                self.send(b"\x1d")
            except OSError:
                pass
            deadline = time.time() + timeout
            while time.time() < deadline:
                pid, st = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.status = os.waitstatus_to_exitcode(st)
                    break
                self.read(timeout=0.1)
            else:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
                self.status = -9
            os.close(self.fd)
        return self.status


def domain_xml(name, kernel="/nonexistent/kernel", cmdline="console=ttyS0", memory_mib=64, virt="vireo",
               extra_devices="", uuid=None, console_target="serial"):
    u = f"<uuid>{uuid}</uuid>" if uuid else ""
    return f"""<domain type='{virt}'>
  <name>{name}</name>{u}
  <memory unit='MiB'>{memory_mib}</memory>
  <currentMemory unit='MiB'>{memory_mib}</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel}</kernel>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='{console_target}' port='0'/></console>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='virtio'/>{extra_devices}
  </devices>
</domain>
"""
