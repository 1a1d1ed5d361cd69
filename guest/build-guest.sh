#!/usr/bin/env bash
# Build vireo's default guest: Debian bookworm's cloud kernel and an
# initramfs made of busybox-static plus the kernel's virtio modules.
#
# Everything is fetched with `apt-get download` into a cache; a second run
# with the same package versions does nothing. Prints the two output paths.
#
#   guest/build-guest.sh [--poweroff]      (--poweroff: /init powers off at once; for benchmarks)
#
# Environment: VIREO_CACHE (default: ${XDG_CACHE_HOME:-~/.cache}/vireo).
set -euo pipefail

mode=shell
[ "${1:-}" = "--poweroff" ] && mode=poweroff

self_hash=$(sha256sum "$0" | cut -c1-16)
cache=${VIREO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vireo}
mkdir -p "$cache/debs"
cd "$cache"

# Tests build the guest from several processes at once: one builds, the
# others wait for it and then take the fast path. Outputs are renamed into
# place, so a reader never sees a half-written file.
exec 9>"$cache/.lock"
flock 9

# Fast path: the last build is current unless apt's package lists or this
# script changed since (apt-cache alone takes seconds here).
last="$cache/last-$mode"
if [ -f "$last" ] && [ "$(sed -n 3p "$last")" = "$self_hash" ] &&
   [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -newer "$last" 2>/dev/null)" ] &&
   [ -f "$(sed -n 1p "$last")" ] && [ -f "$(sed -n 2p "$last")" ]; then
	head -n 2 "$last"
	exit 0
fi

# Resolve the metapackage to the versioned kernel package.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kpkg" ]; then
	apt-get update -qq
	kpkg=$(apt-cache depends linux-image-cloud-amd64 |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
[ -n "$kpkg" ] || { echo "build-guest: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
kver=${kpkg#linux-image-}

fetch() {   # fetch PACKAGE: download its .deb into debs/ unless present
	local pkg=$1 ver
	ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')
	ver=${ver#*:}   # drop the epoch, as file names do
	# The epoch's ':' is written as %3a in the file name.
	if ! ls debs/"${pkg}"_*"${ver}"_*.deb >/dev/null 2>&1; then
		(cd debs && apt-get download -qq -o APT::Sandbox::User=root "$pkg")
	fi
	ls debs/"${pkg}"_*"${ver}"_*.deb | head -n1
}

kdeb=$(fetch "$kpkg")
bdeb=$(fetch busybox-static)
out="$cache/guest-$kver-$mode"
stamp="$(basename "$kdeb") $(basename "$bdeb") $self_hash"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ]; then
	printf '%s\n%s\n%s\n' "$out/vmlinuz" "$out/initramfs.cpio.gz" "$self_hash" > "$last"
	head -n 2 "$last"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$kdeb" "$work/kernel"
dpkg-deb -x "$bdeb" "$work/busybox"

root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,root,etc,lib/modules}
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
for app in $("$root/bin/busybox" --list); do
	[ "$app" = busybox ] || ln -sf busybox "$root/bin/$app"
done

# The virtio modules and what they need, in load order.
moddir=$(ls -d "$work"/kernel/lib/modules/*)
mods="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
      virtio_blk virtio_console virtio-rng virtio_balloon failover net_failover virtio_net
      evdev button"
for m in $mods; do
	f=$(find "$moddir" -name "$m.ko*" | head -n1)
	if [ -n "$f" ]; then
		case "$f" in
		*.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
		*.zst) zstd -qdc "$f" > "$root/lib/modules/$m.ko" ;;
		*) cp "$f" "$root/lib/modules/$m.ko" ;;
		esac
	fi
done
echo "$mods" | tr -s ' \n' '\n' | sed '/^$/d' > "$root/lib/modules/order"

# The ACPI power button (button.ko, evdev.ko) reaches busybox acpid, whose
# default map runs /etc/acpi/PWRF/00000080 on a press: `poweroff`, which
# signals PID 1 (SIGUSR2) like every busybox poweroff; /init traps it.
mkdir -p "$root/etc/acpi/PWRF"
printf '#!/bin/sh\nexec poweroff\n' > "$root/etc/acpi/PWRF/00000080"
chmod +x "$root/etc/acpi/PWRF/00000080"

cat > "$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
for m in \$(cat /lib/modules/order); do
	[ -f /lib/modules/\$m.ko ] && insmod /lib/modules/\$m.ko 2>/dev/null
done
acpid -c /etc/acpi -l /dev/null
echo "vireo-guest: ready"
if [ "$mode" = poweroff ]; then
	poweroff -f
fi
export PS1='vireo-guest# ' HOME=/root PATH=/bin:/sbin
# busybox poweroff/reboot signal PID 1 (USR2/TERM), which is this script:
# do it. A trap runs during 'wait', not during a foreground command.
trap 'poweroff -f' USR2
trap 'reboot -f' TERM
while true; do
	setsid cttyhack sh </dev/console >/dev/console 2>&1 &
	wait \$!
	echo "vireo-guest: shell exited; 'poweroff' ends the VM"
done
INIT
chmod +x "$root/init"

mkdir -p "$out"
rm -f "$out/stamp"
cp "$work"/kernel/boot/vmlinuz-* "$out/vmlinuz.tmp"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out/initramfs.cpio.gz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
echo "$stamp" > "$out/stamp"
printf '%s\n%s\n%s\n' "$out/vmlinuz" "$out/initramfs.cpio.gz" "$self_hash" > "$last.tmp"
mv "$last.tmp" "$last"
head -n 2 "$last"
