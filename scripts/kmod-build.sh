#!/bin/sh
# kmod-build.sh KERNEL_ENV OUTDIR: cross-build kmod/ with W=1 for the kernel
# that KERNEL_ENV (written by kernel-fetch.sh) describes, into
# OUTDIR/mypoll.ko; OUTDIR/build.log keeps the output. Any warning or error
# fails the build. A kernel with KCHROOT is built inside that chroot (its
# headers' host tools and gcc 14 live there), the others on the host.
set -eu

env=${1:?usage: kmod-build.sh KERNEL_ENV OUTDIR}
out=${2:?usage: kmod-build.sh KERNEL_ENV OUTDIR}
arch=${KMOD_ARCH:-arm64}
cross=${KMOD_CROSS:-aarch64-linux-gnu-}
srcs="kmod/mypoll.c kmod/mypoll_compat.h kmod/Kbuild kmod/Makefile kmod/include"

# shellcheck disable=SC1090 # written by kernel-fetch.sh
. "$env"
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -n "${KCHROOT:-}" ]; then
	inner="/build/${KNAME:-default}"
	build="$KCHROOT$inner"
else
	build="$out/build"
	inner=$build
fi
rm -rf "$build" && mkdir -p "$build"
# shellcheck disable=SC2086 # a list of paths
cp -r $srcs "$build/"
set -- -C "${KDIR_IN:-$KDIR}" M="$inner" ARCH="$arch" CROSS_COMPILE="$cross" W=1 modules
rc=0
if [ -n "${KCHROOT:-}" ]; then
	chroot "$KCHROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 make "$@" >"$out/build.log" 2>&1 || rc=$?
else
	make "$@" >"$out/build.log" 2>&1 || rc=$?
fi
cat "$out/build.log"
if [ "$rc" != 0 ]; then
	echo "kmod [${KNAME:-default} $KREL]: the build failed (see $out/build.log)" >&2
	exit 1
fi
if grep -E -i 'warning:|error:' "$out/build.log"; then
	echo "kmod [${KNAME:-default} $KREL]: the build printed warnings (see $out/build.log)" >&2
	exit 1
fi
cp "$build/mypoll.ko" "$out/mypoll.ko"
echo "kmod [${KNAME:-default} $KREL]: $out/mypoll.ko"
