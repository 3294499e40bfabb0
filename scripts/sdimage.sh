#!/bin/sh
# sdimage.sh: the SD card image of a board (BOARD=rpi3) from Debian parts:
# U-Boot (u-boot-rpi), the arm64 kernel and its DTB (Bluetooth node removed),
# an initramfs with busybox-static:arm64 (apt-get download) that loads the SD and ext4 modules and switches
# root, and an ext4 root holding the test image (agent as /init, mypolld,
# mypoll.ko, test tools). genimage lays it out; the result is padded to a
# power of two (QEMU's SD model wants one; genimage does not pad).
#
# Environment: BOARD (rpi3), OUTDIR (out/board/$BOARD), KENV (kernel.env),
# AGENT, DAEMON, KMOD, BINS (as make image), APPEND (added to the kernel
# command line), GO (go).
set -eu
BOARD=${BOARD:-rpi3}
OUTDIR=${OUTDIR:-out/board/$BOARD}
GO=${GO:-go}
src=board/$BOARD
[ -d "$src" ] || { echo "sdimage: no board/$BOARD" >&2; exit 2; }
[ "$BOARD" = rpi3 ] || { echo "sdimage: only BOARD=rpi3 is known" >&2; exit 2; }
# shellcheck source=/dev/null
. "./$KENV"
dtbname=bcm2837-rpi-3-b.dtb
dtb=$KROOT/usr/lib/linux-image-$KREL/broadcom/$dtbname
uboot=/usr/lib/u-boot/rpi_arm64/u-boot.bin
# busybox-static for arm64 (the host's is amd64), downloaded once.
debs=$(dirname "$OUTDIR")/debs
busybox=$debs/busybox/bin/busybox
if [ ! -x "$busybox" ]; then
	rm -rf "$debs/busybox" && mkdir -p "$debs/busybox"
	(cd "$debs" && apt-get download -q busybox-static:arm64 >/dev/null)
	dpkg-deb -x "$debs"/busybox-static_*_arm64.deb "$debs/busybox"
fi
for f in "$dtb" "$uboot" "$busybox" "$KIMAGE" "$AGENT"; do
	[ -f "$f" ] || { echo "sdimage: missing $f" >&2; exit 1; }
done
t0=$(date +%s.%N)
rm -rf "$OUTDIR/work"
work=$OUTDIR/work
mkdir -p "$work/in" "$work/tmp" "$work/initramfs" "$work/root"

# The root file system: the test image (the agent loads bcm2835_wdt, whose
# power-off ends QEMU, and nothing virtio).
$GO run ./qemu/image/cmd/mkimage -kernel-env "$KENV" -agent "$AGENT" -o "$work/rootimg" \
	-modules bcm2835_wdt,bcm2835-rng \
	${DAEMON:+-daemon "$DAEMON"} ${KMOD:+-kmod "$KMOD"} ${BINS:+-bins "$BINS"} >"$work/mkimage.log" 2>&1 ||
	{ cat "$work/mkimage.log" >&2; exit 1; }
(cd "$work/root" && cpio -idm --quiet <"../rootimg/$(cat ../rootimg/current)")

# The initramfs: busybox, /init, the SD controllers (sdhost and the Arasan
# SDHCI: QEMU wires the card to either), ext4 and the crc32c it asks the
# crypto API for, and the watchdog whose power-off ends QEMU, in dependency
# order.
$GO run ./qemu/image/cmd/mkimage -kernel-env "$KENV" -agent "$AGENT" -o "$work/modimg" \
	-modules bcm2835,sdhci-iproc,ext4,crc32c_generic,bcm2835_wdt >>"$work/mkimage.log" 2>&1 ||
	{ cat "$work/mkimage.log" >&2; exit 1; }
(cd "$work/initramfs" && cpio -idm --quiet <"../modimg/$(cat ../modimg/current)" 'lib/modules/*' 'etc/mypoll/modules.order')
mv "$work/initramfs/etc/mypoll/modules.order" "$work/initramfs/etc/modules.order"
rmdir "$work/initramfs/etc/mypoll"
mkdir -p "$work/initramfs/bin" "$work/initramfs/proc" "$work/initramfs/sys" "$work/initramfs/dev" "$work/initramfs/newroot"
cp "$busybox" "$work/initramfs/bin/busybox"
install -m 0755 "$src/init" "$work/initramfs/init"
(cd "$work/initramfs" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -n >"$OUTDIR/initramfs"

# The boot partition's files, kept in OUTDIR (LAVA jobs deploy them).
cp "$uboot" "$OUTDIR/u-boot.bin"
cp "$KIMAGE" "$OUTDIR/Image"
# U-Boot reads the card by PIO: under TCG about 1 MB/s, so the card holds
# the kernel compressed (12 of 33 MB), which booti unpacks to 2 MiB, the
# kernel's own alignment (no "Moving Image"). uboot.env (U-Boot replaces its
# whole environment with it: the defaults plus these) sets that up, boots
# at once and skips the USB scan.
gzip -n -c "$KIMAGE" >"$OUTDIR/Image.gz"
$GO run ./qemu/cmd/ubootenv -uboot "$uboot" -size 0x4000 -o "$OUTDIR/uboot.env" \
	bootdelay=0 preboot= boot_targets=mmc0 kernel_addr_r=0x00200000 \
	kernel_comp_addr_r=0x0a000000 kernel_comp_size=0x04000000
cp "$dtb" "$OUTDIR/$dtbname"
chmod u+w "$OUTDIR/$dtbname"
fdtput -r "$OUTDIR/$dtbname" /soc/serial@7e201000/bluetooth
sed "s|@APPEND@|${APPEND:-}|" "$src/extlinux.conf" >"$OUTDIR/extlinux.conf"
cp "$src/config.txt" "$OUTDIR/config.txt"
for f in u-boot.bin uboot.env Image.gz "$dtbname" initramfs extlinux.conf config.txt; do
	cp "$OUTDIR/$f" "$work/in/$f"
done

genimage --config "$src/genimage.cfg" --rootpath "$work/root" --inputpath "$work/in" \
	--outputpath "$work/images" --tmppath "$work/tmp" >"$work/genimage.log" 2>&1 ||
	{ cat "$work/genimage.log" >&2; exit 1; }
img=$work/images/sdcard.img
size=$(stat -c %s "$img")
p=1
while [ "$p" -lt "$size" ]; do p=$((p * 2)); done
truncate -s "$p" "$img"
mv "$img" "$OUTDIR/sdcard.img"
rm -rf "$work"
t1=$(date +%s.%N)
echo "sdimage: $OUTDIR/sdcard.img ($((p >> 20)) MiB) in $(echo "$t1 - $t0" | bc 2>/dev/null || echo "?") s"
