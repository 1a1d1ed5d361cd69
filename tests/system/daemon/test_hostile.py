#!/usr/bin/env python3
"""A hostile client against vireod's RPC socket: truncated frames, lying
lengths, unknown programs and procedures, bad arguments, calls before
CONNECT_OPEN, keepalive, a half-sent 16 MiB frame, 10,000 connections opened
and dropped while a well-behaved client calls throughout (no descriptor
leaked, RSS bounded). After each, the daemon must still answer a normal
client.
"""
import os
import socket
import struct
import threading
import time

from vireodtest import Daemon, check, done

REMOTE = 0x20008086
KEEPALIVE = 0x6B656570
CALL, REPLY, MESSAGE = 0, 1, 2
OK, ERROR = 0, 1
PROC_OPEN, PROC_LIST_ALL, PROC_LOOKUP_BY_NAME, PROC_AUTH_LIST = 1, 273, 23, 66
VIR_ERR_NO_SUPPORT, VIR_ERR_RPC, VIR_ERR_INTERNAL_ERROR = 3, 39, 1


def frame(prog, proc, mtype=CALL, serial=1, status=OK, payload=b"", vers=1):
    body = struct.pack(">IIiIII", prog, vers, proc, mtype, serial, status) + payload
    return struct.pack(">I", len(body) + 4) + body


def xdr_string(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)


def connect(d):
    deadline = time.time() + 5
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(d.sock)
            return s
        except BlockingIOError:     # listen backlog full: the daemon is behind
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.01)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(s):
    """(header tuple, payload) or None if the daemon closed the connection."""
    try:
        word = recv_exact(s, 4)
        if word is None:
            return None
        (n,) = struct.unpack(">I", word)
        body = recv_exact(s, n - 4)
    except (ConnectionResetError, socket.timeout):
        return None
    if body is None:
        return None
    return struct.unpack(">IIiIII", body[:24]), body[24:]


def error_code(payload):
    return struct.unpack(">i", payload[:4])[0]


def closed_by_daemon(s):
    try:
        s.settimeout(5)
        return s.recv(1) == b""
    except ConnectionResetError:
        return True     # closed with our unread bytes pending: RST
    except socket.timeout:
        return False


def open_conn(d):
    s = connect(d)
    s.sendall(frame(REMOTE, PROC_OPEN, payload=struct.pack(">II", 0, 0)))
    hdr, _ = recv_frame(s)
    assert hdr[5] == OK
    return s


def healthy(d, what):
    """A normal client still gets an answer (retried briefly: right after a
    burst of connections the daemon may still be at its client limit)."""
    ok = False
    for _ in range(20):
        try:
            s = open_conn(d)
            s.sendall(frame(REMOTE, PROC_LIST_ALL, serial=2, payload=struct.pack(">iI", 1, 0)))
            r = recv_frame(s)
            s.close()
            ok = r is not None and r[0][3] == REPLY and r[0][5] == OK and r[0][4] == 2
        except (OSError, TypeError, AssertionError):
            ok = False
        if ok or not d.alive():
            break
        time.sleep(0.1)
    check(ok and d.alive(), f"daemon still serves after: {what}")


def fd_count(d):
    return len(os.listdir(f"/proc/{d.proc.pid}/fd"))


def wait_fds(d, want, timeout=5):
    """The daemon closes dropped clients as it reads their EOF: give it a
    moment to catch up before comparing."""
    deadline = time.time() + timeout
    n = fd_count(d)
    while n != want and time.time() < deadline:
        time.sleep(0.05)
        n = fd_count(d)
    return n


def settled_fds(d):
    """The descriptor count once the daemon has seen Daemon()'s readiness
    probe hang up: the same for 0.3 s."""
    n, since = fd_count(d), time.time()
    while time.time() - since < 0.3:
        time.sleep(0.05)
        m = fd_count(d)
        if m != n:
            n, since = m, time.time()
    return n


def rss_kib(d):
    with open(f"/proc/{d.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class GoodClient(threading.Thread):
    """One open connection listing domains in a loop until stopped."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.sock = open_conn(d)
        self.calls = self.failures = 0
        self.running = True
        self.start()

    def run(self):
        serial = 1000
        while self.running:
            serial += 1
            try:
                self.sock.sendall(frame(REMOTE, PROC_LIST_ALL, serial=serial,
                                        payload=struct.pack(">iI", 1, 0)))
                r = recv_frame(self.sock)
                ok = r is not None and r[0][5] == OK and r[0][4] == serial
            except OSError:
                ok = False
            self.calls += 1
            self.failures += not ok
            if not ok:
                break
            time.sleep(0.001)

    def stop(self):
        self.running = False
        self.join(10)
        self.sock.close()


d = Daemon("--no-autostart", "--max-clients", "64")
try:
    # a well-behaved client calls from the first hostile byte to the last
    fds_start = settled_fds(d)
    good = GoodClient(d)
    # 1. a truncated frame, then the client goes away
    s = connect(d)
    s.sendall(frame(REMOTE, PROC_AUTH_LIST)[:10])
    s.close()
    healthy(d, "truncated frame")

    # 2. lying lengths: below the header size, above 16 MiB + 4
    for n, what in ((0, "length 0"), (27, "length 27"), (0x1000005, "length 16 MiB + 5"),
                    (0xFFFFFFFF, "length 4 GiB")):
        s = connect(d)
        s.sendall(struct.pack(">I", n) + b"\0" * 24)
        check(closed_by_daemon(s), f"{what}: connection dropped")
        s.close()
        healthy(d, what)

    # 3. the length says more than is sent: the daemon waits, nothing breaks
    s = connect(d)
    s.sendall(struct.pack(">I", 0x1000004) + b"\0" * 4096)  # 16 MiB frame, 4 KiB sent
    healthy(d, "half-sent 16 MiB frame (pending)")
    s.close()
    healthy(d, "half-sent 16 MiB frame (dropped)")

    # 4. unknown program, wrong version, unknown procedure, calls before open
    s = connect(d)
    s.sendall(frame(0x12345678, 1, serial=5))
    r = recv_frame(s)
    check(r and r[0][5] == ERROR and r[0][4] == 5 and error_code(r[1]) == VIR_ERR_RPC,
          "unknown program: VIR_ERR_RPC error reply")
    s.sendall(frame(REMOTE, PROC_AUTH_LIST, vers=9, serial=6))
    r = recv_frame(s)
    check(r and r[0][5] == ERROR and error_code(r[1]) == VIR_ERR_RPC,
          "wrong program version: VIR_ERR_RPC error reply")
    s.sendall(frame(REMOTE, PROC_LIST_ALL, serial=7, payload=struct.pack(">iI", 1, 0)))
    r = recv_frame(s)
    check(r and r[0][5] == ERROR and error_code(r[1]) == VIR_ERR_INTERNAL_ERROR,
          "call before CONNECT_OPEN refused")
    s.sendall(frame(REMOTE, PROC_OPEN, serial=8, payload=struct.pack(">II", 0, 0)))
    r = recv_frame(s)
    check(r and r[0][5] == OK, "CONNECT_OPEN with a NULL name")
    for proc in (99999, -1, 0, 8):
        s.sendall(frame(REMOTE, proc, serial=9))
        r = recv_frame(s)
        check(r and r[0][5] == ERROR and error_code(r[1]) == VIR_ERR_NO_SUPPORT,
              f"unknown procedure {proc}: VIR_ERR_NO_SUPPORT")
    # 5. bad arguments: short, lying string length, trailing bytes
    for payload, what in ((b"\0\0", "short arguments"),
                          (struct.pack(">I", 0x7FFFFFFF) + b"abcd", "string length beyond the message"),
                          (struct.pack(">I", 0x500000) + b"a" * 8, "string over REMOTE_STRING_MAX"),
                          (xdr_string("x") + b"\0\0\0\0", "trailing bytes")):
        s.sendall(frame(REMOTE, PROC_LOOKUP_BY_NAME, serial=10, payload=payload))
        r = recv_frame(s)
        check(r and r[0][5] == ERROR and error_code(r[1]) == VIR_ERR_RPC,
              f"{what}: VIR_ERR_RPC")
    # 6. replies, streams and bad statuses from a client are not calls
    s.sendall(frame(REMOTE, PROC_AUTH_LIST, mtype=REPLY, serial=11))
    s.sendall(frame(REMOTE, PROC_AUTH_LIST, mtype=3, serial=12))
    s.sendall(frame(REMOTE, PROC_AUTH_LIST, mtype=77, serial=13))
    s.sendall(frame(REMOTE, PROC_AUTH_LIST, status=ERROR, serial=14))
    r = recv_frame(s)
    check(r and r[0][4] == 14 and r[0][5] == ERROR, "call with an error status refused; "
          "reply/stream/unknown types ignored")
    # 7. keepalive: PING gets PONG
    s.sendall(frame(KEEPALIVE, 1, mtype=MESSAGE, serial=0))
    r = recv_frame(s)
    check(r and r[0][0] == KEEPALIVE and r[0][2] == 2 and r[0][3] == MESSAGE, "PING -> PONG")
    # pipelined calls are answered in order
    s.sendall(b"".join(frame(REMOTE, PROC_AUTH_LIST, serial=100 + i) for i in range(20)))
    serials = [recv_frame(s)[0][4] for _ in range(20)]
    check(serials == list(range(100, 120)), "20 pipelined calls answered in order")
    s.close()
    healthy(d, "protocol errors")

    # 8. 10,000 connections opened and dropped, some mid-frame, some with
    # a lying length, while a well-behaved client calls throughout; no
    # descriptor or memory is left behind
    # (settled: the connections of the checks above may still be closing)
    fds_before, rss_before = settled_fds(d), rss_kib(d)
    refused = 0
    for i in range(10000):
        s = connect(d)
        try:
            if i % 4 == 1:
                s.sendall(frame(REMOTE, PROC_AUTH_LIST)[: 1 + i % 27])
            elif i % 4 == 2:
                s.sendall(frame(REMOTE, PROC_AUTH_LIST))
            elif i % 4 == 3:
                s.sendall(struct.pack(">I", 0x1000000) + b"\0" * (i % 512))
        except (BrokenPipeError, ConnectionResetError):
            refused += 1    # over --max-clients while earlier closes are pending
        s.close()
    print(f"     ({refused} of 10000 refused at the client limit)")
    healthy(d, "10000 connections opened and dropped")
    fds_after = wait_fds(d, fds_before)
    check(fds_after == fds_before, f"no descriptor leaked ({fds_before} -> {fds_after} open)")
    rss_after = rss_kib(d)
    check(rss_after - rss_before < 8 * 1024,
          f"RSS after 10000 connections within 8 MiB ({rss_before} -> {rss_after} KiB)")

    # 9. more clients than --max-clients: extra ones are refused, not queued forever
    held = [connect(d) for _ in range(64)]
    time.sleep(0.2)
    extra = connect(d)
    check(closed_by_daemon(extra), "client over --max-clients is dropped")
    extra.close()
    for s in held:
        s.close()
    time.sleep(0.2)
    healthy(d, "max clients")

    # 10. a client that never reads its replies does not grow the daemon
    s = connect(d)
    s.sendall(frame(REMOTE, PROC_OPEN, payload=struct.pack(">II", 0, 0)))
    s.setblocking(False)
    call = frame(REMOTE, PROC_AUTH_LIST)
    sent = 0
    deadline = time.time() + 5
    while time.time() < deadline and sent < 20 * 1024 * 1024:
        try:
            sent += s.send(call * 64)
        except BlockingIOError:
            time.sleep(0.01)
    rss_kib = 0
    with open(f"/proc/{d.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    check(rss_kib < 64 * 1024, f"daemon RSS bounded with a non-reading client ({rss_kib} KiB)")
    healthy(d, "non-reading client (pending)")
    s.close()
    healthy(d, "non-reading client (dropped)")

    # 11. legacy event registration (REGISTER 105, REGISTER_ANY 167): plain
    # DOMAIN_EVENT_LIFECYCLE (107) messages; callbacks are bounded
    s = connect(d)
    s.sendall(frame(REMOTE, PROC_OPEN, payload=struct.pack(">II", 0, 0)))
    recv_frame(s)
    s.sendall(frame(REMOTE, 105, serial=2))
    r = recv_frame(s)
    check(r and r[0][5] == OK and struct.unpack(">i", r[1][:4])[0] == 1, "EVENT_REGISTER")
    s.sendall(frame(REMOTE, 167, serial=3, payload=struct.pack(">i", 0)))
    r = recv_frame(s)
    check(r and r[0][5] == ERROR, "REGISTER_ANY of an already registered event refused")
    s.sendall(frame(REMOTE, 167, serial=4, payload=struct.pack(">i", 999)))
    r = recv_frame(s)
    check(r and r[0][5] == ERROR, "unknown event ID refused")
    xml = ("<domain type='vireo'><name>ev1</name><memory>65536</memory>"
           "<os><type>hvm</type></os></domain>")
    s.sendall(frame(REMOTE, 11, serial=5, payload=xdr_string(xml)))
    got = [recv_frame(s), recv_frame(s)]
    ev = [g for g in got if g and g[0][3] == MESSAGE]
    check(len(ev) == 1 and ev[0][0][2] == 107 and ev[0][0][4] == 0 and
          ev[0][1].endswith(struct.pack(">ii", 0, 0)) and b"ev1" in ev[0][1],
          "define sends DOMAIN_EVENT_LIFECYCLE (defined, added)")
    s.sendall(frame(REMOTE, 106, serial=6))
    r = recv_frame(s)
    check(r and r[0][5] == OK, "EVENT_DEREGISTER")
    ok = 0
    for i in range(300):
        s.sendall(frame(REMOTE, 316, serial=100 + i, payload=struct.pack(">iI", 0, 0)))
        r = recv_frame(s)
        ok += bool(r and r[0][5] == OK)
    check(ok == 256, f"at most 256 callbacks per connection ({ok})")
    s.close()
    healthy(d, "event registrations")

    good.stop()
    check(good.calls > 0 and good.failures == 0,
          f"a client calling throughout got every answer ({good.calls} calls, "
          f"{good.failures} failures)")
    fds_end = wait_fds(d, fds_start)
    check(fds_end == fds_start, f"no descriptor leaked over the whole run ({fds_start} -> {fds_end})")
    check(d.stop() == 0, "clean exit")
finally:
    d.cleanup()
done()
