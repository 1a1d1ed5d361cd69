#!/usr/bin/env bash
# vireo against qemu-system-x86_64 booting the same test kernel (its PVH ELF
# form, which both load) with the same memory and vCPUs, in one run: wall
# time to power-off and peak RSS, each as a vireo/QEMU ratio.
#
#   bench/boot-testkernel.sh [ACCEL=kvm] [RUNS=5] [CPUS=1] [MEM=512M]
set -euo pipefail
cd "$(dirname "$0")/.."
accel=${ACCEL:-kvm}
runs=${RUNS:-5}
cpus=${CPUS:-1}
mem=${MEM:-512M}
b=${BUILD:-build}
tk=$b/guest/testkernel/testkernel.elf
[ -x $b/vireo ] && [ -f "$tk" ] || { echo "build first: meson setup build && ninja -C build" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

qemu_accel=$accel
[ "$accel" = emu ] && qemu_accel=tcg

measure() {  # measure CMD...: prints "seconds maxrss_kib"
	/usr/bin/time -f "%e %M" -o /tmp/bench.$$ "$@" >/dev/null 2>&1 </dev/null || true
	cat /tmp/bench.$$
}

vt=0; vr=0; qt=0; qr=0
for i in $(seq "$runs"); do
	read -r t r < <(measure $b/vireo --accel "$accel" --kernel "$tk" --memory "$mem" \
		--cpus "$cpus" --serial none)
	vt=$(echo "$vt + $t" | bc -l); vr=$((vr > r ? vr : r))
	read -r t r < <(measure qemu-system-x86_64 -accel "$qemu_accel" -M q35 -m "$mem" \
		-smp "$cpus" -kernel "$tk" -display none -serial null -monitor none \
		-nodefaults -no-reboot)
	qt=$(echo "$qt + $t" | bc -l); qr=$((qr > r ? qr : r))
done
printf 'test kernel, %s, %s vCPU(s), %s, %d runs\n' "$accel" "$cpus" "$mem" "$runs"
printf '  wall time  vireo %.3f s  qemu %.3f s  ratio %.2f\n' \
	"$(echo "$vt / $runs" | bc -l)" "$(echo "$qt / $runs" | bc -l)" "$(echo "$vt / $qt" | bc -l)"
printf '  peak RSS   vireo %d KiB  qemu %d KiB  ratio %.2f\n' "$vr" "$qr" \
	"$(echo "$vr / $qr" | bc -l)"
