#!/bin/sh
# mkimage.sh BASE_CPIO AGENT BUSYBOX OUTDIR: the LAVA artifacts from the test
# initramfs (make image-kmod) and the static arm64 agent and BusyBox:
#   OUTDIR/mypoll-lava-overlay.tar.gz  a shell on the console (BusyBox init,
#       lava/overlay/, the project's init/sysv/S50mypolld and
#       init/default/mypolld, the agent as /usr/bin/mypoll-testagent, where
#       the Buildroot and Yocto packages install it), to put
#       over a test image's root (a LAVA "overlays" entry or by hand)
#   OUTDIR/initrd.cpio.gz  BASE_CPIO with that overlay, one newc archive
#       (LAVA unpacks a ramdisk to add its test overlay: a concatenation of
#       archives would lose the second)
# Run from the repository's top directory, as root (the base image holds
# device nodes).
set -eu

[ $# -eq 4 ] || { echo "usage: $0 BASE_CPIO AGENT BUSYBOX OUTDIR" >&2; exit 2; }
base=$1 agent=$2 busybox=$3 out=$4

for f in "$base" "$agent" "$busybox" init/sysv/S50mypolld init/default/mypolld; do
	[ -f "$f" ] || { echo "mkimage.sh: missing $f" >&2; exit 1; }
done

mkdir -p "$out"
stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# The overlay.
ov=$stage/overlay
mkdir -p "$ov"
cp -R lava/overlay/. "$ov/"
install -D -m 0755 "$busybox" "$ov/bin/busybox"
install -D -m 0755 "$agent" "$ov/usr/bin/mypoll-testagent"
install -D -m 0755 init/sysv/S50mypolld "$ov/etc/init.d/S50mypolld"
install -D -m 0644 init/default/mypolld "$ov/etc/default/mypolld"
chmod 0755 "$ov/init" "$ov/etc/init.d/rcS" "$ov/bin/mypoll-lava-tests"
# A root file system switched to by an initramfs (the SD image) may start
# /sbin/init rather than /init.
mkdir -p "$ov/sbin"
ln -sf ../init "$ov/sbin/init"
tar -C "$ov" --owner=0 --group=0 --numeric-owner --sort=name --mtime=@0 \
	-czf "$out/mypoll-lava-overlay.tar.gz.tmp" .
mv "$out/mypoll-lava-overlay.tar.gz.tmp" "$out/mypoll-lava-overlay.tar.gz"

# The initramfs: base, then the overlay over it (replaces /init).
root=$stage/root
mkdir -p "$root"
(cd "$root" && cpio -id --quiet --no-absolute-filenames) <"$base"
tar -C "$root" -xzf "$out/mypoll-lava-overlay.tar.gz"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc --quiet --owner=0:0 --reproducible) | gzip -9n >"$out/initrd.cpio.gz.tmp"
mv "$out/initrd.cpio.gz.tmp" "$out/initrd.cpio.gz"
echo "mkimage.sh: $out/initrd.cpio.gz $out/mypoll-lava-overlay.tar.gz"
