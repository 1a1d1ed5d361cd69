"""Helpers for vireod's network tests: network namespaces of the test's own
(names start with vn-), vireod running inside one of them, the stock virsh
pointed at it, veth pairs, busybox udhcpc clients and a small HTTP server
that answers with the address it sees the client at. Nothing leaves the
namespaces; Namespaces.close() deletes them and what ran in them.
"""
import os
import signal
import subprocess
import tempfile
import time


def run(*args, timeout=30, input=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, input=input)
    return p.returncode, p.stdout, p.stderr


class Namespaces:
    """Named namespaces vn-<pid>-<role>; processes started in them are kept
    so close() can stop them by pid."""

    def __init__(self, *roles):
        self.tag = f"vn-{os.getpid()}-"
        self.procs = []
        self.made = []
        for role in roles:
            self.add(role)

    def name(self, role):
        return self.tag + role

    def add(self, role):
        if run("ip", "netns", "add", self.name(role))[0] != 0:
            return False
        self.made.append(role)
        self.run(role, "ip", "link", "set", "lo", "up")
        return True

    def run(self, role, *args, timeout=30, input=None):
        return run("ip", "netns", "exec", self.name(role), *args, timeout=timeout,
                   input=input)

    def popen(self, role, *args, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.name(role)] + [str(a) for a in args],
                             **kw)
        self.procs.append(p)
        return p

    def veth(self, role_a, end_a, role_b, end_b, mac_b=None):
        """A veth pair end_a (in role_a) -- end_b (in role_b), both up."""
        run("ip", "link", "add", end_a, "netns", self.name(role_a), "type", "veth", "peer",
            "name", end_b, "netns", self.name(role_b))
        if mac_b:
            self.run(role_b, "ip", "link", "set", end_b, "address", mac_b)
        self.run(role_a, "ip", "link", "set", end_a, "up")
        self.run(role_b, "ip", "link", "set", end_b, "up")

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for role in self.made:
            run("ip", "netns", "del", self.name(role))


class Daemon:
    """vireod inside namespace `role`, on a private state directory."""

    def __init__(self, ns, role, tmp):
        self.ns, self.role, self.tmp = ns, role, tmp
        self.state = os.path.join(tmp, "state")
        self.sock = os.path.join(tmp, "sock")
        self.log_path = os.path.join(tmp, "vireod.log")
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.log = open(self.log_path, "a")
        args = [os.environ["VIREOD"], "--state-dir", self.state, "--socket", self.sock, "-v"]
        if os.environ.get("VIREO"):
            args += ["--vireo", os.environ["VIREO"]]
        if os.environ.get("VIREOD_ACCEL"):
            args += ["--accel", os.environ["VIREOD_ACCEL"]]
        self.proc = ns.popen(role, *args, stdout=self.log, stderr=self.log)
        for _ in range(200):
            if os.path.exists(self.sock):
                return
            time.sleep(0.05)
        raise RuntimeError("vireod did not start:\n" + self.text())

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def virsh(self, *args, timeout=60):
        env = dict(os.environ, LIBVIRT_DEFAULT_URI="", VIRSH_DEFAULT_CONNECT_URI="")
        p = subprocess.run(["virsh", "-q", "-c", f"vireo+unix:///system?socket={self.sock}"]
                           + [str(a) for a in args], capture_output=True, text=True,
                           timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr

    def stop(self):
        if self.log.closed:
            return self.proc.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


# udhcpc's event script: configure what the lease says (busybox passes
# ip, mask (a prefix length) and router in the environment).
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
        ip route replace default via "${router%% *}" dev "$interface"
    fi
    echo "configured $ip/${mask:-24} router ${router:-none}"
    ;;
esac
exit 0
"""


def udhcpc_script(tmp):
    path = os.path.join(tmp, "udhcpc.sh")
    with open(path, "w") as f:
        f.write(UDHCPC_SCRIPT)
    os.chmod(path, 0o755)
    return path


def udhcpc(ns, role, ifname, script, hostname="guest", tries=10):
    """A DHCP lease for ifname in role, configured by script; (rc, output)."""
    rc, out, err = ns.run(role, "busybox", "udhcpc", "-i", ifname, "-n", "-q", "-f",
                          "-t", str(tries), "-T", "1", "-s", script,
                          "-x", "hostname:" + hostname, timeout=60)
    return rc, out + err


def leased_addr(text):
    for line in text.splitlines():
        if line.startswith("configured "):
            return line.split()[1].split("/")[0]
    return None


# An HTTP server that answers every GET with the client's address as the
# server sees it: the test reads NAT (or its absence) from the reply.
HTTP_SERVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("peer " + self.client_address[0] + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H)
print("listening", flush=True)
s.serve_forever()
"""


def http_server(ns, role, addr, port, python):
    p = ns.popen(role, python, "-c", HTTP_SERVER, addr, port, stdout=subprocess.PIPE,
                 text=True)
    ready = p.stdout.readline().strip() == "listening"
    return p if ready else None


def http_get(ns, role, url, timeout=8):
    """What the server said (its view of our address), or None."""
    rc, out, err = ns.run(role, "busybox", "timeout", str(timeout), "busybox", "wget", "-q",
                          "-O", "-", url, timeout=timeout + 5)
    out = out.strip()
    return out[5:] if rc == 0 and out.startswith("peer ") else None


def wait_for(cond, seconds, step=0.2):
    """Poll cond until true or seconds pass; its last value."""
    end = time.monotonic() + seconds
    while True:
        v = cond()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def mkdtemp():
    return tempfile.mkdtemp(prefix="vireo-net-test-")


# A raw libvirt RPC client, for hostile input to the network and interface
# procedures (see tests/system/daemon/test_hostile.py for the protocol).
REMOTE_PROGRAM = 0x20008086


def rpc_frame(proc, payload=b"", serial=1):
    import struct
    body = struct.pack(">IIiIII", REMOTE_PROGRAM, 1, proc, 0, serial, 0) + payload
    return struct.pack(">I", len(body) + 4) + body


def xdr_string(s):
    import struct
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)


class RawClient:
    def __init__(self, sock_path):
        import socket
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(sock_path)
        self.serial = 0
        import struct
        assert self.call(1, struct.pack(">II", 0, 0))[0] == 0     # CONNECT_OPEN

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def call(self, proc, payload=b""):
        """(status, payload) of the reply, or None if the daemon hung up."""
        import struct
        self.serial += 1
        try:
            self.s.sendall(rpc_frame(proc, payload, self.serial))
            word = self._recv(4)
            if word is None:
                return None
            body = self._recv(struct.unpack(">I", word)[0] - 4)
        except OSError:
            return None
        if body is None:
            return None
        return struct.unpack(">IIiIII", body[:24])[5], body[24:]

    def close(self):
        self.s.close()
