#!/bin/sh
# kernel-fetch.sh OUTDIR [NAME]: download a Debian kernel image (arm64 by
# default), its modules and the matching headers, extract them and write a
# kernel.env (KNAME, KARCH unless arm64, KREL, KVER, KROOT, KDIR, KIMAGE,
# KMODDIR, and for a chroot kernel KCHROOT and KDIR_IN) for make and the QEMU
# harness. The ABI is
# resolved from the linux-image-<flavour> and linux-headers-<flavour>
# metapackages at fetch time, never hard-coded; a release that is already
# extracted is reused.
#
# Without NAME: the host's apt, OUTDIR/kernel/<release>_<version>/ and
# OUTDIR/kernel/kernel.env (the default kernel of make run and make test).
# With NAME: OUTDIR/kernel/NAME/kernel.env, and two knobs:
#   KFETCH_CHROOT  a Debian chroot (scripts/kernel-chroot.sh) whose apt is
#                  used and under whose /kernels the tree is extracted: the
#                  headers' host kbuild tools are that release's binaries
#   KFETCH_TARGET  an apt target release (-t), e.g. trixie-backports
# Any kernel (named or not) takes the Debian architecture and flavour:
#   KFETCH_ARCH    the packages' architecture (default arm64; armhf)
#   KFETCH_FLAVOUR the kernel flavour, the metapackages' suffix (default
#                  the architecture's name; armhf: armmp-lpae or armmp)
#
# Two package layouts are handled: up to 6.x linux-image-<rel> holds
# /boot/vmlinuz-<rel> and the modules; from 7.x linux-image-<rel> is empty and
# depends on linux-binary-<rel> (vmlinuz under /usr/lib/modules/<rel>/) and
# linux-modules-<rel>.
#
# Needs: dpkg --add-architecture <arch> and a fresh apt-get update (make deps,
# or kernel-chroot.sh for a chroot). Cross-building needs host-architecture
# kbuild tools: the linux-kbuild package with the same version as the headers.
set -eu

out=${1:?usage: kernel-fetch.sh OUTDIR [NAME]}
name=${2:-}
mkdir -p "$out/kernel"
out=$(cd "$out" && pwd)
# kernel.env names files by the real path: out/kernel may be a symlink shared
# by several checkouts, and the env must stay valid when the one that wrote
# it is gone.
kernels=$(cd "$out/kernel" && pwd -P)
chroot_dir=${KFETCH_CHROOT:-}
if [ -n "$chroot_dir" ]; then chroot_dir=$(cd "$chroot_dir" && pwd -P); fi
target=${KFETCH_TARGET:-}
arch=${KFETCH_ARCH:-arm64}
flavour=${KFETCH_FLAVOUR:-$arch}

die() { echo "kernel-fetch${name:+ [$name]}: $*" >&2; exit 1; }

# in_root CMD...: run CMD with the apt of the chroot, or of the host
in_root() {
	if [ -n "$chroot_dir" ]; then
		chroot "$chroot_dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
	else
		"$@"
	fi
}
# The host's apt may keep no package cache (a container's docker-clean sets
# Dir::Cache::pkgcache ""): each apt-cache call then parses every list again,
# 2-3 s with three architectures' lists. This run keeps one of its own.
apt_opts=
if [ -z "$chroot_dir" ]; then
	apt_tmp=$(mktemp -d)
	trap 'rm -rf "$apt_tmp"' EXIT
	apt_opts="-o Dir::Cache::pkgcache=$apt_tmp/pkgcache.bin"
fi
apt_cache() {
	# shellcheck disable=SC2086 # apt_opts is an option and its value
	if [ -n "$target" ]; then
		in_root apt-cache $apt_opts -t "$target" "$@"
	else
		in_root apt-cache $apt_opts "$@"
	fi
}

meta_dep() { # meta_dep PKG:ARCH PREFIX -> the first dependency named PREFIX*
	apt_cache depends "$1" 2>/dev/null | awk -v p="$2" '$1 == "Depends:" { gsub(/[<>]/, "", $2); sub(/:.*/, "", $2); if (index($2, p) == 1) { print $2; exit } }'
}

img_pkg=$(meta_dep "linux-image-$flavour:$arch" linux-image-)
[ -n "$img_pkg" ] || die "cannot resolve linux-image-$flavour:$arch (run 'make deps': it adds the $arch architecture and runs apt-get update)"
hdr_pkg=$(meta_dep "linux-headers-$flavour:$arch" linux-headers-)
[ -n "$hdr_pkg" ] || die "cannot resolve linux-headers-$flavour:$arch"
krel=${img_pkg#linux-image-}
krel=${krel%-unsigned}
[ "$hdr_pkg" = "linux-headers-$krel" ] || die "image $img_pkg and headers $hdr_pkg name different releases"

kver=$(apt_cache policy "$img_pkg:$arch" | awk '$1 == "Candidate:" { print $2 }')
if [ -z "$kver" ] || [ "$kver" = "(none)" ]; then
	die "no candidate version for $img_pkg:$arch"
fi
common_pkg=$(meta_dep "$hdr_pkg:$arch" linux-headers-)
kbuild_pkg=$(meta_dep "$hdr_pkg:$arch" linux-kbuild-)
if [ -z "$common_pkg" ] || [ -z "$kbuild_pkg" ]; then
	die "cannot resolve the dependencies of $hdr_pkg"
fi
host_arch=$(in_root dpkg --print-architecture)
# 7.x: the image package is only a name for linux-binary + linux-modules
# (+ linux-base, which has System.map and the config)
img_pkgs="$img_pkg:$arch=$kver"
bin_pkg=$(meta_dep "$img_pkg:$arch" linux-binary-)
if [ -n "$bin_pkg" ]; then
	img_pkgs="$bin_pkg:$arch=$kver"
	for p in $(meta_dep "$img_pkg:$arch" linux-modules-) $(meta_dep "$img_pkg:$arch" linux-base-); do
		img_pkgs="$img_pkgs $p:$arch=$kver"
	done
fi

# where the tree lives, as seen from the host and from the build root
if [ -n "$chroot_dir" ]; then
	inner="/kernels/${krel}_$kver"
	root="$chroot_dir$inner"
else
	root="$kernels/${krel}_$kver"
	inner=$root
fi
if [ ! -f "$root/.complete" ]; then
	rm -rf "$root" "$root.debs"
	mkdir -p "$root.debs" "$root/root"
	# shellcheck disable=SC2086,SC2016 # img_pkgs is a list of package=version; $1 is the inner shell's
	in_root sh -c 'cd "$1" && shift && apt-get download -q "$@" >/dev/null' sh "$inner.debs" \
		$img_pkgs "$hdr_pkg:$arch=$kver" "$common_pkg:all=$kver" "$kbuild_pkg:$host_arch=$kver" ||
		die "apt-get download of $img_pkg $kver failed"
	for deb in "$root.debs"/*.deb; do
		in_root dpkg-deb -x "$inner.debs/${deb##*/}" "$inner/root"
	done
	kdir="$root/root/usr/src/$hdr_pkg"
	# The flavour Makefile names the common tree (and from 7.x its own
	# directory, KBUILD_OUTPUT) by absolute path.
	sed -i -e "s|^include /usr/src/|include $inner/root/usr/src/|" \
		-e "s|^KBUILD_OUTPUT=/usr/src/|KBUILD_OUTPUT=$inner/root/usr/src/|" "$kdir/Makefile"
	rm -rf "$root.debs"
	touch "$root/.complete"
fi

kdir="$root/root/usr/src/$hdr_pkg"
kmoddir=
for d in "$root/root/lib/modules/$krel" "$root/root/usr/lib/modules/$krel"; do
	[ -d "$d/kernel" ] && kmoddir=$d
done
[ -n "$kmoddir" ] || die "no modules under $root/root (lib/modules/$krel or usr/lib/modules/$krel)"
kimage=
for f in "$root/root/boot/vmlinuz-$krel" "$kmoddir/vmlinuz"; do
	[ -f "$f" ] && kimage=$f
done
[ -n "$kimage" ] || die "no kernel image (boot/vmlinuz-$krel or $kmoddir/vmlinuz)"

if [ -n "$name" ]; then
	envdir="$out/kernel/$name"
else
	envdir="$out/kernel"
fi
mkdir -p "$envdir"
{
	echo "KNAME=${name:-default}"
	# only for another architecture: an arm64 kernel.env stays as it was
	[ "$arch" = arm64 ] || echo "KARCH=$arch"
	echo "KREL=$krel"
	echo "KVER=$kver"
	echo "KROOT=$root/root"
	echo "KDIR=$kdir"
	echo "KIMAGE=$kimage"
	echo "KMODDIR=$kmoddir"
	if [ -n "$chroot_dir" ]; then
		echo "KCHROOT=$chroot_dir"
		echo "KDIR_IN=$inner/root/usr/src/$hdr_pkg"
	fi
} >"$envdir/kernel.env.tmp"
# rewritten only when it changes: make rebuilds the module and images from it
if cmp -s "$envdir/kernel.env.tmp" "$envdir/kernel.env"; then
	rm -f "$envdir/kernel.env.tmp"
else
	mv "$envdir/kernel.env.tmp" "$envdir/kernel.env"
fi
echo "kernel-fetch${name:+ [$name]}: $krel ($kver) in $root"
