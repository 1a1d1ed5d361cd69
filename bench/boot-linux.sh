#!/usr/bin/env bash
# vireo's emu engine against QEMU TCG booting Debian's kernel with the
# power-off initramfs of guest/build-guest.sh (its /init powers off at
# once): same kernel, initramfs, command line, vCPUs and memory. Wall time
# to power-off, CPU time (user + system: steadier than wall time on a
# shared machine) and peak RSS, each as a vireo/QEMU ratio (means of RUNS
# runs, the largest peak RSS).
#
#   bench/boot-linux.sh [RUNS=3] [CPUS=2] [MEM=512M] [BUILD=build]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
cpus=${CPUS:-2}
mem=${MEM:-512M}
b=${BUILD:-build}
[ -x "$b/vireo" ] || { echo "build first: meson setup build && ninja -C build" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
mapfile -t guest < <(guest/build-guest.sh --poweroff)
cmdline="console=ttyS0 nokaslr mitigations=off panic=-1"

measure() {  # measure CMD...: prints "seconds maxrss_kib cpu_seconds"
	/usr/bin/time -f "%e %M %U %S" -o /tmp/bench.$$ "$@" >/dev/null 2>&1 </dev/null || true
	read -r e m u s < /tmp/bench.$$
	echo "$e $m $(echo "$u + $s" | bc -l)"
}

vt=0; vr=0; vc=0; qt=0; qr=0; qc=0
for i in $(seq "$runs"); do
	read -r t r u < <(measure "$b/vireo" --accel emu --kernel "${guest[0]}" \
		--initrd "${guest[1]}" --cmdline "$cmdline" --memory "$mem" --cpus "$cpus" \
		--serial none)
	echo "  run $i: vireo emu $t s, $u s CPU, $r KiB" >&2
	vt=$(echo "$vt + $t" | bc -l); vc=$(echo "$vc + $u" | bc -l); vr=$((vr > r ? vr : r))
	read -r t r u < <(measure qemu-system-x86_64 -accel tcg -M q35 -m "$mem" -smp "$cpus" \
		-kernel "${guest[0]}" -initrd "${guest[1]}" -append "$cmdline" \
		-display none -serial null -monitor none -nodefaults -no-reboot)
	echo "  run $i: qemu tcg $t s, $u s CPU, $r KiB" >&2
	qt=$(echo "$qt + $t" | bc -l); qc=$(echo "$qc + $u" | bc -l); qr=$((qr > r ? qr : r))
done
rm -f /tmp/bench.$$
printf 'Debian %s to power-off, emu vs tcg, %s vCPU(s), %s, %d runs\n' \
	"$(basename "$(dirname "${guest[0]}")")" "$cpus" "$mem" "$runs"
printf '  wall time  vireo %.1f s  qemu %.1f s  ratio %.2f\n' \
	"$(echo "$vt / $runs" | bc -l)" "$(echo "$qt / $runs" | bc -l)" "$(echo "$vt / $qt" | bc -l)"
printf '  CPU time   vireo %.1f s  qemu %.1f s  ratio %.2f\n' \
	"$(echo "$vc / $runs" | bc -l)" "$(echo "$qc / $runs" | bc -l)" "$(echo "$vc / $qc" | bc -l)"
printf '  peak RSS   vireo %d KiB  qemu %d KiB  ratio %.2f\n' "$vr" "$qr" \
	"$(echo "$vr / $qr" | bc -l)"
