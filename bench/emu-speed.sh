#!/usr/bin/env bash
# The emu engine's speed against QEMU TCG, in one run, on the test kernel's
# guest-side benchmarks (guest/testkernel/bench.c):
#   (a) a tight integer loop: million guest instructions per second, taken
#       from two runs of different length so boot time cancels out;
#   (b) copy and checksum MIB MiB through the page tables: wall time.
#
#   bench/emu-speed.sh            BUILD=build INT_M=200 MEM_MIB=64 RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."
b=${BUILD:-build}
int_m=${INT_M:-200}
mem_mib=${MEM_MIB:-64}
runs=${RUNS:-3}
tk=$b/guest/testkernel/testkernel.elf
[ -x "$b/vireo" ] && [ -f "$tk" ] || { echo "build first: meson setup build && ninja -C build" >&2; exit 1; }

vireo() { "$b/vireo" --accel emu --kernel "$tk" --memory 512M --serial none --cmdline "$1"; }
qemu() {
	qemu-system-x86_64 -accel tcg -M q35 -m 512M -kernel "$tk" -append "$1" \
		-display none -serial null -monitor none -nodefaults -no-reboot
}
best() {   # best RUNS CMD ARG: the fastest of RUNS wall times, in seconds
	local n=$1 best=
	shift
	for _ in $(seq "$n"); do
		local t0 t1 t
		t0=$(date +%s.%N); "$@" >/dev/null 2>&1 </dev/null || true; t1=$(date +%s.%N)
		t=$(echo "$t1 - $t0" | bc -l)
		if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
	done
	echo "$best"
}
mips() {   # mips RUNNER: guest MIPS from two loop lengths
	local t1 t2
	t1=$(best "$runs" "$1" "testkernel.bench=int testkernel.n=$int_m")
	t2=$(best "$runs" "$1" "testkernel.bench=int testkernel.n=$((2 * int_m))")
	echo "$(echo "4 * $int_m / ($t2 - $t1)" | bc -l)"
}

vm=$(mips vireo); qm=$(mips qemu)
vt=$(best "$runs" vireo "testkernel.bench=mem testkernel.n=$mem_mib")
qt=$(best "$runs" qemu "testkernel.bench=mem testkernel.n=$mem_mib")
printf '(a) integer loop   vireo emu %8.1f MIPS   qemu tcg %8.1f MIPS   ratio %.2f\n' "$vm" "$qm" "$(echo "$vm / $qm" | bc -l)"
printf '(b) copy+checksum %d MiB, boot included   vireo emu %.2f s   qemu tcg %.2f s   time ratio %.2f\n' \
	"$mem_mib" "$vt" "$qt" "$(echo "$vt / $qt" | bc -l)"
