#!/bin/sh
# kernel-fetch.sh OUTDIR: download Debian's arm64 kernel image and the matching
# headers, extract them under OUTDIR/kernel/<release>_<version>/ and write
# OUTDIR/kernel/kernel.env (KREL, KVER, KROOT, KDIR, KIMAGE, KMODDIR) for make
# and the QEMU harness. The ABI is resolved from the linux-image-arm64 and
# linux-headers-arm64 metapackages at fetch time, never hard-coded; a release
# that is already extracted is reused.
#
# Needs: dpkg --add-architecture arm64 and a fresh apt-get update (make deps).
# Cross-building needs host (amd64) kbuild tools: the linux-kbuild package of
# the host architecture with the same version as the headers.
set -eu

out=${1:?usage: kernel-fetch.sh OUTDIR}
mkdir -p "$out/kernel"
out=$(cd "$out" && pwd)

die() { echo "kernel-fetch: $*" >&2; exit 1; }

meta_dep() { # meta_dep PKG:ARCH PREFIX -> the first dependency named PREFIX*
	apt-cache depends "$1" 2>/dev/null | awk -v p="$2" '$1 == "Depends:" { gsub(/[<>]/, "", $2); sub(/:.*/, "", $2); if (index($2, p) == 1) { print $2; exit } }'
}

img_pkg=$(meta_dep linux-image-arm64:arm64 linux-image-)
[ -n "$img_pkg" ] || die "cannot resolve linux-image-arm64:arm64 (run 'make deps': it adds the arm64 architecture and runs apt-get update)"
hdr_pkg=$(meta_dep linux-headers-arm64:arm64 linux-headers-)
[ -n "$hdr_pkg" ] || die "cannot resolve linux-headers-arm64:arm64"
krel=${img_pkg#linux-image-}
krel=${krel%-unsigned}
[ "$hdr_pkg" = "linux-headers-$krel" ] || die "image $img_pkg and headers $hdr_pkg name different releases"

kver=$(apt-cache policy "$img_pkg:arm64" | awk '$1 == "Candidate:" { print $2 }')
if [ -z "$kver" ] || [ "$kver" = "(none)" ]; then
	die "no candidate version for $img_pkg:arm64"
fi
common_pkg=$(meta_dep "$hdr_pkg:arm64" linux-headers-)
kbuild_pkg=$(meta_dep "$hdr_pkg:arm64" linux-kbuild-)
if [ -z "$common_pkg" ] || [ -z "$kbuild_pkg" ]; then
	die "cannot resolve the dependencies of $hdr_pkg"
fi
host_arch=$(dpkg --print-architecture)

root="$out/kernel/${krel}_$kver"
if [ ! -f "$root/.complete" ]; then
	rm -rf "$root" "$root.debs"
	mkdir -p "$root.debs"
	(
		cd "$root.debs"
		apt-get download -q "$img_pkg:arm64=$kver" "$hdr_pkg:arm64=$kver" \
			"$common_pkg:all=$kver" "$kbuild_pkg:$host_arch=$kver" >/dev/null
	) || die "apt-get download of $img_pkg $kver failed"
	mkdir -p "$root/root"
	for deb in "$root.debs"/*.deb; do
		dpkg-deb -x "$deb" "$root/root"
	done
	kdir="$root/root/usr/src/$hdr_pkg"
	# The flavour Makefile includes the common tree by absolute path.
	sed -i "s|^include /usr/src/|include $root/root/usr/src/|" "$kdir/Makefile"
	rm -rf "$root.debs"
	touch "$root/.complete"
fi

kdir="$root/root/usr/src/$hdr_pkg"
kimage="$root/root/boot/vmlinuz-$krel"
kmoddir="$root/root/lib/modules/$krel"
[ -f "$kimage" ] || die "no kernel image at $kimage"
[ -d "$kmoddir/kernel" ] || die "no modules at $kmoddir"
cat >"$out/kernel/kernel.env.tmp" <<ENV
KREL=$krel
KVER=$kver
KROOT=$root/root
KDIR=$kdir
KIMAGE=$kimage
KMODDIR=$kmoddir
ENV
mv "$out/kernel/kernel.env.tmp" "$out/kernel/kernel.env"
echo "kernel-fetch: $krel ($kver) in $root"
