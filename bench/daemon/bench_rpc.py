#!/usr/bin/python3
"""vireod against libvirtd, through python3-libvirt, in one run:

  (a) API calls per second: CLIENTS processes, each with its own
      connection, call lookupByName() + info() on a running domain in a
      loop for SECONDS (two calls per iteration), ROUNDS times alternating
      between the daemons (median), and the daemon's CPU time per call;
  (b) define -> start -> running latency: defineXML(), create(), until
      state() is RUNNING; the median of RUNS (each domain destroyed and
      undefined afterwards).

Run by bench/daemon/vs-libvirtd.sh, which starts both daemons; this script
only needs their URIs and a domain XML template for each.
"""
import argparse
import multiprocessing
import os
import statistics
import sys
import time

import libvirt


def quiet(_ctx, _err):
    pass


def call_loop(uri, name, seconds, out):
    libvirt.registerErrorHandler(quiet, None)
    conn = libvirt.open(uri)
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(50):
            conn.lookupByName(name).info()
        n += 100
    conn.close()
    out.put(n)


def calls_per_second(uri, name, clients, seconds):
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=call_loop, args=(uri, name, seconds, out))
             for _ in range(clients)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    total = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    return total / (time.monotonic() - t0)


def cpu_seconds(pid):
    """utime + stime of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_latency(conn, xml, name):
    t0 = time.monotonic()
    dom = conn.defineXML(xml.replace("@NAME@", name))
    dom.create()
    while dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING:
        time.sleep(0.001)
    t = time.monotonic() - t0
    dom.destroy()
    dom.undefine()
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vireod", required=True, help="URI")
    ap.add_argument("--libvirtd", required=True, help="URI")
    ap.add_argument("--vireod-xml", required=True)
    ap.add_argument("--libvirtd-xml", required=True)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--vireod-pid", type=int, required=True)
    ap.add_argument("--libvirtd-pid", type=int, required=True)
    a = ap.parse_args()
    libvirt.registerErrorHandler(quiet, None)
    peers = {"vireod": (a.vireod, open(a.vireod_xml).read()),
             "libvirtd": (a.libvirtd, open(a.libvirtd_xml).read())}
    conns = {k: libvirt.open(uri) for k, (uri, _) in peers.items()}

    pids = {"vireod": a.vireod_pid, "libvirtd": a.libvirtd_pid}

    # (a) against one running domain on each, rounds alternating so both
    # see the same machine load; the daemon's own CPU time per call too
    doms = {}
    for k, (uri, xml) in peers.items():
        doms[k] = conns[k].defineXML(xml.replace("@NAME@", "bench-calls"))
        doms[k].create()
        calls_per_second(uri, "bench-calls", a.clients, 1)     # warm-up
    rates = {k: [] for k in peers}
    cpu_per_call = {k: [] for k in peers}
    for _ in range(a.rounds):
        for k, (uri, _) in peers.items():
            c0 = cpu_seconds(pids[k])
            t0 = time.monotonic()
            r = calls_per_second(uri, "bench-calls", a.clients, a.seconds)
            cpu = cpu_seconds(pids[k]) - c0
            rates[k].append(r)
            cpu_per_call[k].append(cpu / (r * (time.monotonic() - t0)))
    for dom in doms.values():
        dom.destroy()
        dom.undefine()
    cps = {k: statistics.median(v) for k, v in rates.items()}
    cost = {k: statistics.median(v) for k, v in cpu_per_call.items()}

    # (b) alternating, so both see the same machine load
    lat = {k: [] for k in peers}
    for i in range(a.runs + 1):
        for k, (_, xml) in peers.items():
            t = start_latency(conns[k], xml, f"bench-start-{i}")
            if i:       # the first run of each warms caches
                lat[k].append(t)
    med = {k: statistics.median(v) for k, v in lat.items()}

    print(f"(a) lookupByName+info, {a.clients} clients, median of {a.rounds} x {a.seconds:g} s: "
          f"vireod {cps['vireod']:.0f} calls/s, libvirtd {cps['libvirtd']:.0f} calls/s, "
          f"ratio {cps['vireod'] / cps['libvirtd']:.2f}x")
    for k in peers:
        print(f"    {k} rounds (calls/s): " + " ".join(f"{r:.0f}" for r in rates[k]))
    print(f"    daemon CPU per call: vireod {cost['vireod'] * 1e6:.1f} us, "
          f"libvirtd {cost['libvirtd'] * 1e6:.1f} us, ratio {cost['vireod'] / cost['libvirtd']:.2f}x")
    print(f"(b) define -> start -> running, median of {a.runs}: "
          f"vireod {med['vireod'] * 1000:.1f} ms, libvirtd {med['libvirtd'] * 1000:.1f} ms, "
          f"ratio {med['vireod'] / med['libvirtd']:.2f}x")
    for k in peers:
        print(f"    {k} start latencies (ms): "
              + " ".join(f"{t * 1000:.0f}" for t in sorted(lat[k])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
