#!/usr/bin/env bash
# vireod against Debian's libvirtd (QEMU driver), in one run, as ratios:
#   (a) python3-libvirt API calls per second (lookupByName + info on a
#       running domain, 4 client processes);
#   (b) define -> start -> running latency (median).
# Guests: the test kernel, waiting for the power button; vireo on its emu
# engine (<domain type='qemu'>), QEMU with -accel tcg (libvirt's 'qemu').
#
# Both daemons run as the unprivileged user nobody in libvirt's session
# mode, each with its own HOME and XDG_RUNTIME_DIR under a scratch
# directory, so neither touches /run/libvirt, /etc/libvirt or the other.
# Installs libvirt-daemon and libvirt-daemon-driver-qemu when libvirtd is
# missing (needs root, as the user switch does).
#
#   bench/daemon/vs-libvirtd.sh    BUILD=build CLIENTS=4 SECONDS_=5 ROUNDS=3 RUNS=10
set -euo pipefail
cd "$(dirname "$0")/../.."
b=$(realpath "${BUILD:-build}")
clients=${CLIENTS:-4}
seconds=${SECONDS_:-5}
runs=${RUNS:-10}
rounds=${ROUNDS:-3}
[ -x "$b/vireod" ] && [ -f "$b/guest/testkernel/testkernel.elf" ] ||
	{ echo "build first: meson setup build && ninja -C build" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (it switches to nobody)" >&2; exit 1; }
if [ ! -x /usr/sbin/libvirtd ]; then
	apt-get install -y --no-install-recommends libvirt-daemon libvirt-daemon-driver-qemu >&2
fi

scratch=$(mktemp -d /tmp/vireod-bench-XXXXXX)
chmod 755 "$scratch"
pids=()
cleanup() {
	# libvirtd's QEMUs go with their domains (bench_rpc.py destroys them);
	# the virtlogd it spawned leaves its pid file.
	local logd=$scratch/libvirtd/runtime/libvirt/virtlogd.pid
	[ -f "$logd" ] && pids+=("$(cat "$logd")")
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$scratch"
}
trap cleanup EXIT
for who in vireod libvirtd; do
	mkdir -p "$scratch/$who/home" "$scratch/$who/runtime"
	chmod 700 "$scratch/$who/runtime"
done
chown -R 65534:65534 "$scratch"
as_nobody() {   # as_nobody WHO CMD...: become CMD as nobody with WHO's home
	local who=$1
	shift
	exec setpriv --reuid 65534 --regid 65534 --clear-groups \
		env -i HOME="$scratch/$who/home" XDG_RUNTIME_DIR="$scratch/$who/runtime" \
		PATH=/usr/sbin:/usr/bin:/bin LIBVIRT_AUTOSTART=0 "$@"
}
vsock=$scratch/vireod/runtime/vireod.sock
lsock=$scratch/libvirtd/runtime/libvirt/libvirt-sock

as_nobody vireod "$b/vireod" --no-autostart --state-dir "$scratch/vireod/home/state" \
	--socket "$vsock" >"$scratch/vireod.log" 2>&1 &
pids+=($!)
as_nobody libvirtd /usr/sbin/libvirtd >"$scratch/libvirtd.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do [ -S "$vsock" ] && [ -S "$lsock" ] && break; sleep 0.05; done
[ -S "$vsock" ] && [ -S "$lsock" ] || { cat "$scratch"/*.log >&2; exit 1; }

cat >"$scratch/vireod.xml" <<XML
<domain type='qemu'>
  <name>@NAME@</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type>
    <kernel>$b/guest/testkernel/testkernel.bzImage</kernel>
    <cmdline>console=ttyS0 testkernel.wait=powerbutton</cmdline></os>
  <features><acpi/></features>
  <devices><serial type='pty'><target port='0'/></serial></devices>
</domain>
XML
cat >"$scratch/libvirtd.xml" <<XML
<domain type='qemu'>
  <name>@NAME@</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$b/guest/testkernel/testkernel.elf</kernel>
    <cmdline>console=ttyS0 testkernel.wait=powerbutton</cmdline></os>
  <features><acpi/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
XML
chmod 644 "$scratch"/*.xml
# nobody runs the clients: both sockets are 0700 and its own.
(as_nobody vireod /usr/bin/python3 bench/daemon/bench_rpc.py \
	--vireod "vireo+unix:///session?socket=$vsock" \
	--libvirtd "qemu+unix:///session?socket=$lsock" \
	--vireod-xml "$scratch/vireod.xml" --libvirtd-xml "$scratch/libvirtd.xml" \
	--clients "$clients" --seconds "$seconds" --runs "$runs" --rounds "$rounds" \
	--vireod-pid "${pids[0]}" --libvirtd-pid "${pids[1]}")
