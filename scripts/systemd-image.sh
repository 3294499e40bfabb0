#!/bin/sh
# systemd-image.sh OUTDIR KERNEL_ENV AGENT BINDIR KMOD: a Debian bookworm arm64
# userland with systemd as PID 1 and mypoll installed from init/ as the build
# trees install it (units, socket activation, udev rule, modules-load.d,
# users), packed as a gzip cpio initramfs for `make test-image` (issue 19
# item 14). Writes OUTDIR/systemd/rootfs.cpio.gz.
#
# The userland: debootstrap --foreign, then the second stage in a chroot
# through qemu-user-static (binfmt_misc entry "mypoll-aarch64", registered
# for the run and removed after it); cached in OUTDIR/systemd/base.
set -eu

die() { echo "systemd-image: $*" >&2; exit 1; }
[ $# -eq 5 ] || die "usage: $0 OUTDIR KERNEL_ENV AGENT BINDIR KMOD"
out=$1/systemd
# shellcheck source=/dev/null
. "$2"
agent=$3
bindir=$4
kmod=$5
cd "$(dirname "$0")/.."
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=$out/base
binfmt=/proc/sys/fs/binfmt_misc

unregister() {
	if [ -e "$binfmt/mypoll-aarch64" ]; then
		echo -1 >"$binfmt/mypoll-aarch64"
	fi
}

if [ ! -e "$base/.done" ]; then
	if [ ! -e "$base/.foreign" ]; then
		rm -rf "$base"
		mkdir -p "$out"
		debootstrap --arch=arm64 --foreign --variant=minbase \
			--include=systemd,systemd-sysv,udev,kmod bookworm "$base" "$mirror"
		touch "$base/.foreign"
	fi
	[ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
	unregister
	trap unregister EXIT
	# F: the interpreter is opened now, so it works inside the chroot.
	printf '%s' ':mypoll-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' >"$binfmt/register"
	chroot "$base" /debootstrap/debootstrap --second-stage
	unregister
	trap - EXIT
	rm -rf "$base/var/cache/apt/archives"/*.deb "$base/var/lib/apt/lists"/*_Packages
	touch "$base/.done"
fi

img=$out/img
rm -rf "$img"
cp -a "$base" "$img"
rm -f "$img/.done" "$img/.foreign"
rm -rf "$img/usr/share/doc" "$img/usr/share/man" "$img/usr/share/locale" "$img/usr/share/info"

# The binaries, the module and the modules the harness's devices need.
install -D -m 0755 "$bindir/mypolld" "$img/usr/bin/mypolld"
install -D -m 0755 "$bindir/mypollctl" "$img/usr/bin/mypollctl"
install -D -m 0755 "$agent" "$img/usr/bin/mypoll-testagent"
moddir=$img/lib/modules/$KREL
install -D -m 0644 "$kmod" "$moddir/updates/mypoll.ko"
for m in virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console; do
	f=$(find "$KMODDIR" -name "$m.ko*" | head -n 1)
	[ -n "$f" ] || die "no $m in $KMODDIR"
	install -D -m 0644 "$f" "$moddir/${f#"$KMODDIR"/}"
done
cp "$KMODDIR"/modules.builtin* "$KMODDIR"/modules.order "$moddir/"
depmod -b "$img" "$KREL"

# What the build trees install, from init/ (as br2-external's packages).
install -D -m 0644 init/systemd/mypolld.service init/systemd/mypolld.socket \
	init/systemd/mypoll-testagent.service -t "$img/usr/lib/systemd/system/"
install -D -m 0644 init/udev/60-mypoll.rules init/udev/90-mypoll-testagent.rules \
	-t "$img/usr/lib/udev/rules.d/"
install -D -m 0644 init/modules-load.d/mypoll.conf "$img/usr/lib/modules-load.d/mypoll.conf"
install -D -m 0644 init/default/mypolld "$img/etc/default/mypolld"
printf 'virtio_pci\nvirtio_console\n' >"$img/usr/lib/modules-load.d/virtio.conf"
# The users and groups (Buildroot MYPOLLD_USERS, Yocto useradd).
echo "mypoll:x:990:990:mypoll daemon:/nonexistent:/bin/false" >>"$img/etc/passwd"
echo "mypoll:!:20000::::::" >>"$img/etc/shadow"
printf 'mypoll:x:990:\nmypoll-ctl:x:991:\n' >>"$img/etc/group"
printf 'mypoll:!::\nmypoll-ctl:!::\n' >>"$img/etc/gshadow"
echo mypoll >"$img/etc/hostname"
systemctl --root="$img" enable mypolld.socket mypolld.service >/dev/null 2>&1
systemctl --root="$img" set-default multi-user.target >/dev/null 2>&1
# systemd as the initramfs's /init; no initrd-release: a normal boot.
ln -sf /lib/systemd/systemd "$img/init"

(cd "$img" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/rootfs.cpio.gz.tmp"
mv "$out/rootfs.cpio.gz.tmp" "$out/rootfs.cpio.gz"
echo "systemd-image: $out/rootfs.cpio.gz ($(du -sh "$img" | cut -f1) unpacked)"
