"""The default guest (guest/build-guest.sh: Debian's kernel and a busybox
initramfs) booted on the emu engine and driven through a shell on its
console. Shared by the Linux system tests and the bench/ drivers."""
import os
import re
import subprocess
import sys

import vmtest
from vmtest import VM, check

CMDLINE = "console=ttyS0 nokaslr mitigations=off panic=-1"
BUILD_GUEST = os.environ.get("BUILD_GUEST", "guest/build-guest.sh")
PROMPT = "vireo-guest# "
# Kernel log lines that mean the emulation is wrong somewhere.
BAD_LOG = [r"Oops", r"\bBUG\b", r"soft lockup", r"hard LOCKUP", r"unstable",
           r"TSC calibration", r"unchecked MSR", r"self-detected stall",
           r"rcu_.*stall", r"WARNING:", r"Call Trace", r"failed to get a good estimate"]


def guest_files():
    """(kernel, initramfs) of the default guest; exit 77 (skipped) without apt."""
    try:
        out = subprocess.run([BUILD_GUEST], check=True, capture_output=True, text=True,
                             timeout=600).stdout.split()
    except (OSError, subprocess.SubprocessError) as e:
        print(f"SKIP: cannot build the default guest: {e}")
        sys.exit(77)
    return out[0], out[1]


class Shell:
    """Commands on the guest's shell, each ended by a marker that the echo
    of the typed line does not contain. vm is a vmtest.VM (or anything with
    its out/send/expect)."""

    def __init__(self, vm):
        self.vm = vm
        self.n = 0

    def run(self, cmd, timeout=120):
        """Run cmd; its output without the echoed line ("" on a time-out,
        which is a failed check)."""
        out, _ = self.status(cmd, timeout)
        return out

    def status(self, cmd, timeout=120):
        """Run cmd; (output, exit status of its last command or None)."""
        self.n += 1
        start = len(self.vm.out)
        # The typed line comes back as an echo, wrapped by the terminal:
        # output starts after what the first echo prints.
        self.vm.send(f'echo "@@B""EGIN{self.n}@@"; {cmd}; echo "@@E""ND{self.n} $?@@"\n')
        begin = f"@@BEGIN{self.n}@@".encode()
        marker = re.compile(rf"@@END{self.n} (\d+)@@".encode())
        if not self.vm.expect_re(marker, timeout=timeout):
            check(False, f"'{cmd}' finished within {timeout} s")
            return "", None
        m = marker.search(self.vm.out, start)
        b = self.vm.out.find(begin, start, m.start())
        b = start if b < 0 else b + len(begin)
        text = self.vm.out[b:m.start()].decode(errors="replace")
        return text.replace("\r", "").removeprefix("\n"), int(m.group(1))


def check_log(log, where):
    bad = [l for l in log.splitlines() if any(re.search(p, l) for p in BAD_LOG)]
    return check(not bad, f"{where}: no error in the kernel log" +
                 ("" if not bad else ": " + " | ".join(bad[:5])))


def boot(*args, ncpus=1, memory="512M", cmdline=CMDLINE, control=False, boot_timeout=300,
         timeout=900, what="", wrap=()):
    """Boot the default guest on emu with extra vireo args; return the VM at
    its shell prompt, or report the failure and finish the test."""
    kernel, initrd = guest_files()
    vm = VM("--accel", "emu", "--cpus", str(ncpus), "--memory", memory,
            "--initrd", initrd, "--cmdline", cmdline, *args, kernel=kernel,
            control=control, timeout=timeout, wrap=wrap)
    ok = check(vm.expect("vireo-guest: ready", timeout=boot_timeout),
               f"the guest boots to /init with {ncpus} vCPU(s){what}")
    ok = ok and check(vm.expect(PROMPT, timeout=60), "the shell prompt appears")
    if not ok:
        fail_dump(vm)
        vmtest.finish()
    return vm


def fail_dump(vm):
    vm.kill()
    print(vm.text[-4000:])
    print(vm.errtext[-2000:], file=sys.stderr)


def poweroff(vm, timeout=120):
    """`poweroff` in the guest; True if vireo exited 0."""
    vm.send("poweroff\n")
    status = vm.wait(timeout=timeout)
    ok = check(status == 0, f"vireo exits 0 after poweroff (got {status})")
    if not ok:
        fail_dump(vm)
    return ok
