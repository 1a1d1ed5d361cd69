#!/usr/bin/env python3
"""vireod's default sockets, where the stock virsh 9.0 looks for them.

System mode (root): vireod takes /run/libvirt/libvirt-sock, which
`virsh -c vireo:///system` uses with no ?socket=; if a live daemon holds it,
vireod says so and exits without touching it; with
--socket /run/libvirt/virtvireod-sock (libvirt's "direct" socket for the
vireo driver, tried first) it lives next to that daemon. A stale socket
file is replaced.

Session mode (an unprivileged user, here nobody through setpriv): vireod
takes $XDG_RUNTIME_DIR/libvirt/libvirt-sock and keeps its state in
~/.config/vireo; `virsh -c vireo:///session` run as that user reaches it.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from vireodtest import check, done, skip

if not shutil.which("virsh"):
    skip("virsh not installed (apt-get install libvirt-clients)")
if os.geteuid() != 0:
    skip("system mode needs root")

VIREOD = os.environ["VIREOD"]
RUN = "/run/libvirt"
LEGACY = f"{RUN}/libvirt-sock"
DIRECT = f"{RUN}/virtvireod-sock"
NOBODY = 65534
tmp = tempfile.mkdtemp(prefix="vireod-modes-")
os.chmod(tmp, 0o755)
XML = ("<domain type='vireo'><name>{}</name><memory>65536</memory>"
       "<os><type>hvm</type></os></domain>")


def alive(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_socket(path, proc, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if alive(path):
            return True
        time.sleep(0.02)
    return False


def vireod(*args, env=None, user=False):
    pre = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"] if user else []
    return subprocess.Popen(pre + [VIREOD, "--no-autostart"] + list(args), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(p):
    p.terminate()
    try:
        out, _ = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return p.returncode, out


def virsh(uri, *args, env=None, user=False):
    pre = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"] if user else []
    env = dict(env or os.environ, LIBVIRT_DEFAULT_URI="", LIBVIRT_AUTOSTART="0")
    p = subprocess.run(pre + ["virsh", "-q", "-c", uri] + list(args), capture_output=True,
                       text=True, timeout=30, env=env)
    return p.returncode, p.stdout, p.stderr


def xml_file(name):
    path = os.path.join(tmp, f"{name}.xml")
    with open(path, "w") as f:
        f.write(XML.format(name))
    os.chmod(path, 0o644)
    return path


def system_mode():
    state = ["--state-dir", os.path.join(tmp, "sys-state"), "--run-dir", os.path.join(tmp, "sys-run")]
    os.makedirs(RUN, exist_ok=True)
    other = alive(LEGACY)
    holder = None
    if not other:
        # Stand in for a running libvirtd.
        if os.path.lexists(LEGACY):
            os.unlink(LEGACY)
        holder = socket.socket(socket.AF_UNIX)
        holder.bind(LEGACY)
        holder.listen(4)
    try:
        p = vireod(*state)
        try:
            rc = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        rc, out = stop(p) if rc is None else (rc, p.stdout.read())
        check(rc == 1 and f"{LEGACY} is in use" in out and f"--socket {DIRECT}" in out,
              f"a held {LEGACY}: vireod says so and exits ({rc}, {out.strip()!r})")
        check(alive(LEGACY), "the other daemon's socket is left alone")

        p = vireod(*state, "--socket", DIRECT)
        check(wait_socket(DIRECT, p), f"vireod listens on {DIRECT}")
        rc, out, err = virsh("vireo:///system", "define", xml_file("sys1"))
        check(rc == 0, f"virsh -c vireo:///system reaches it next to the other daemon ({err.strip()!r})")
        rc, out, err = virsh("vireo:///system", "list", "--all", "--name")
        check(rc == 0 and out.split() == ["sys1"], f"list --all ({out!r} {err.strip()!r})")
        rc, out = stop(p)
        check(rc == 0 and not os.path.exists(DIRECT), f"{DIRECT} removed at exit")
    finally:
        if holder:
            holder.close()
            os.unlink(LEGACY)

    if other:
        print(f"note: a daemon holds {LEGACY}; the default-socket checks need it free")
        check(False, f"{LEGACY} free for the default-socket checks")
        return
    # A stale socket file (its daemon died) is replaced.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(LEGACY)
    stale.close()
    p = vireod(*state)
    check(wait_socket(LEGACY, p), f"default socket {LEGACY} (stale file replaced)")
    rc, out, err = virsh("vireo:///system", "list", "--all", "--name")
    check(rc == 0 and out.split() == ["sys1"], f"virsh -c vireo:///system, no ?socket= ({out!r} {err.strip()!r})")
    rc, out, err = virsh("vireo:///system", "uri")
    check(rc == 0 and out.strip() == "vireo:///system", f"uri ({out!r})")
    rc, out = stop(p)
    check(rc == 0 and not os.path.exists(LEGACY), f"{LEGACY} removed at exit")


def session_mode():
    home = os.path.join(tmp, "home")
    runtime = os.path.join(tmp, "runtime")
    os.makedirs(home)
    os.makedirs(runtime, mode=0o700)
    for path in (home, runtime):
        os.chown(path, NOBODY, NOBODY)
    env = {"HOME": home, "XDG_RUNTIME_DIR": runtime, "PATH": "/usr/sbin:/usr/bin:/bin"}
    sock = os.path.join(runtime, "libvirt", "libvirt-sock")
    p = vireod(env=env, user=True)
    check(wait_socket(sock, p), f"session mode: vireod as nobody listens on $XDG_RUNTIME_DIR/libvirt/libvirt-sock")
    st = os.stat(sock) if os.path.exists(sock) else None
    check(st is not None and st.st_uid == NOBODY and (st.st_mode & 0o777) == 0o700,
          "the socket is the user's, mode 0700")
    rc, out, err = virsh("vireo:///session", "define", xml_file("sess1"), env=env, user=True)
    check(rc == 0, f"virsh -c vireo:///session as the same user ({err.strip()!r})")
    rc, out, err = virsh("vireo:///session", "list", "--all", "--name", env=env, user=True)
    check(rc == 0 and out.split() == ["sess1"], f"list --all ({out!r} {err.strip()!r})")
    rc, out, err = virsh("vireo:///session", "uri", env=env, user=True)
    check(rc == 0 and out.strip() == "vireo:///session", f"uri ({out!r})")
    check(os.path.exists(os.path.join(home, ".config", "vireo", "domains", "sess1.xml")),
          "state under ~/.config/vireo")
    rc, out = stop(p)
    check(rc == 0 and not os.path.exists(sock), f"clean exit, socket removed ({out.strip()!r})")


try:
    system_mode()
    session_mode()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
done()
