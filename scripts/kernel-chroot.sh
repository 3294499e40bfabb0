#!/bin/sh
# kernel-chroot.sh OUTDIR [SUITE]: a minimal Debian SUITE (default trixie)
# chroot in OUTDIR/chroot/SUITE with the arm64 cross compiler and what kbuild
# needs, and apt lists for SUITE and SUITE-backports with the arm64
# architecture. Kernels newer than the host's (trixie's 6.12, the backports'
# 7.x) need gcc 14 and their headers' host kbuild tools are trixie binaries:
# both run inside this chroot. Created once, then reused (a .complete marker);
# the apt lists are refreshed at most once a day.
#
# The Debian mirror is the host's (apt-get indextargets), or $DEBIAN_MIRROR.
# Needs root and debootstrap (make deps).
set -eu

out=${1:?usage: kernel-chroot.sh OUTDIR [SUITE]}
suite=${2:-trixie}
mkdir -p "$out/chroot"
out=$(cd "$out" && pwd)
dir="$out/chroot/$suite"

die() { echo "kernel-chroot: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "no debootstrap (run 'make deps')"

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
	# the host's mirror for its own Debian release, e.g. http://deb.debian.org/debian/
	# shellcheck disable=SC2016 # apt's own $(FIELD) syntax, not the shell's
	mirror=$(apt-get indextargets --format '$(REPO_URI) $(CODENAME) $(SUITE)' 2>/dev/null |
		awk '$2 !~ /-/ && $3 !~ /-/ && $1 !~ /security/ { print $1; exit }')
fi
[ -n "$mirror" ] || die "no Debian mirror in the host's apt configuration; set DEBIAN_MIRROR"

pkgs="gcc-14-aarch64-linux-gnu binutils-aarch64-linux-gnu make bc bison flex libssl-dev libelf-dev dwarves perl python3 kmod xz-utils zstd ca-certificates"

in_chroot() { chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

if [ ! -f "$dir/.complete" ]; then
	rm -rf "$dir"
	echo "kernel-chroot: debootstrap $suite from $mirror into $dir" >&2
	debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$out/chroot/$suite.log" 2>&1 ||
		die "debootstrap failed (see $out/chroot/$suite.log)"
	cat >"$dir/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $mirror $suite-backports main
EOF
	in_chroot dpkg --add-architecture arm64
	in_chroot apt-get update -qq
	# shellcheck disable=SC2086 # a list of package names
	in_chroot apt-get install -y -qq --no-install-recommends $pkgs >/dev/null ||
		die "apt-get install in the chroot failed"
	in_chroot ln -sf aarch64-linux-gnu-gcc-14 /usr/bin/aarch64-linux-gnu-gcc
	date +%s >"$dir/.apt-updated"
	touch "$dir/.complete"
elif [ $(( $(date +%s) - $(cat "$dir/.apt-updated" 2>/dev/null || echo 0) )) -gt 86400 ]; then
	in_chroot apt-get update -qq
	date +%s >"$dir/.apt-updated"
fi
echo "$dir"
