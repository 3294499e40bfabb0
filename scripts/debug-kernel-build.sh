#!/bin/sh
# debug-kernel-build.sh OUTDIR VARIANT: build an arm64 debug kernel from
# Debian's linux-source-6.1 package (bookworm) for the debug-kernel tier and
# write OUTDIR/kernel/debug-VARIANT/kernel.env (the same keys as
# kernel-fetch.sh), so the module and image rules of mk/kmod.mk and
# mk/qemu.mk work for it unchanged.
#
# The config is alldefconfig plus qemu/debug-kernel/virt.config plus
# qemu/debug-kernel/VARIANT.config (scripts/kconfig/merge_config.sh); every
# option the fragments ask for must end up in the final .config. Only
# `Image modules_prepare` and `modules` (for Module.symvers: there are no
# modules) are built: everything the image needs is built in, and
# modules.builtin (written with vmlinux) tells the image resolver so.
#
# Cached under OUTDIR/debug-kernel/: the source tree by package version, each
# build by variant, version and a hash of the fragments, the recipe and the
# compiler (an interrupted build resumes). kernel.env is rewritten only when
# it changes.
#
# Needs: apt (the host's sources have bookworm), gcc-aarch64-linux-gnu, make,
# bc, bison, flex, libssl-dev, libelf-dev, xz-utils (DEPS_APT of
# mk/debugkernel.mk). DEBUGK_JOBS sets make's -j (default: the CPU count).
set -eu

out=${1:?usage: debug-kernel-build.sh OUTDIR VARIANT}
variant=${2:?usage: debug-kernel-build.sh OUTDIR VARIANT}
pkg=${DEBUGK_PKG:-linux-source-6.1}
jobs=${DEBUGK_JOBS:-$(nproc)}
repo=$(pwd)
frags="$repo/qemu/debug-kernel/virt.config $repo/qemu/debug-kernel/$variant.config"
export ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-

die() { echo "debug-kernel [$variant]: $*" >&2; exit 1; }
log() { echo "debug-kernel [$variant]: $*"; }

for f in $frags; do
	[ -f "$f" ] || die "no config fragment $f"
done
mkdir -p "$out/debug-kernel"
out=$(cd "$out" && pwd)
top=$out/debug-kernel

ver=$(apt-cache policy "$pkg" | awk '$1 == "Candidate:" { print $2 }')
if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
	die "no candidate version for $pkg (apt-get update?)"
fi

# The source tree: 139 MB .deb, 1.5 GB extracted.
src=$top/src/${pkg}_$ver
if [ ! -f "$src/.complete" ]; then
	t0=$(date +%s)
	rm -rf "$src" "$src.dl"
	mkdir -p "$src.dl" "$src"
	(cd "$src.dl" && apt-get download -q "$pkg=$ver" >/dev/null) || die "apt-get download $pkg=$ver failed"
	dpkg-deb --fsys-tarfile "$src.dl/${pkg}_"*.deb |
		tar -xO -f - "./usr/src/$pkg.tar.xz" |
		tar -xJ -f - -C "$src" --strip-components=1
	rm -rf "$src.dl"
	touch "$src/.complete"
	log "$pkg $ver downloaded and extracted in $(($(date +%s) - t0)) s"
fi

# What the build depends on besides the source: a new recipe (targets,
# config base) needs a new value here.
recipe="alldefconfig+fragments Image modules_prepare"
# shellcheck disable=SC2086 # a list of paths
hash=$( { cat $frags; echo "$recipe"; "${CROSS_COMPILE}gcc" --version | head -n 1; } | sha256sum | cut -c1-12)
build=$top/$variant-${ver}-$hash
if [ ! -f "$build/.complete" ]; then
	# An interrupted build is resumed (make is incremental), not restarted.
	t0=$(date +%s)
	mkdir -p "$build"
	# merge_config.sh runs `make alldefconfig` with the fragments as
	# KCONFIG_ALLCONFIG and prints a line for each value it did not get.
	# shellcheck disable=SC2086 # a list of paths
	(cd "$src" && scripts/kconfig/merge_config.sh -O "$build" $frags) >"$build/config.log" 2>&1 ||
		{ cat "$build/config.log"; die "merge_config.sh failed"; }
	if grep -A3 '^Value requested for' "$build/config.log"; then
		die "the config lacks options the fragments ask for (above; $build/config.log)"
	fi
	log "building $pkg $ver ($variant, config $hash) with -j$jobs in $build"
	make -C "$src" O="$build" -j"$jobs" Image modules_prepare >>"$build/build.log" 2>&1 ||
		{ tail -n 40 "$build/build.log"; die "the kernel build failed (see $build/build.log)"; }
	mkdir -p "$build/moddir"
	cp "$build/modules.builtin" "$build/moddir/modules.builtin"
	touch "$build/.complete"
	log "built in $(($(date +%s) - t0)) s"
fi

# Module.symvers (modpost of vmlinux.o) for the module build: without it
# modpost warns and skips the unresolved-symbol check. `make modules` with
# every driver built in writes only that.
if [ ! -f "$build/Module.symvers" ]; then
	make -C "$src" O="$build" -j"$jobs" modules >>"$build/build.log" 2>&1 ||
		{ tail -n 40 "$build/build.log"; die "make modules failed (see $build/build.log)"; }
fi

krel=$(cat "$build/include/config/kernel.release")
envdir=$out/kernel/debug-$variant
mkdir -p "$envdir"
{
	echo "KNAME=debug-$variant"
	echo "KREL=$krel"
	echo "KVER=$ver"
	echo "KROOT=$build"
	echo "KDIR=$build"
	echo "KIMAGE=$build/arch/arm64/boot/Image"
	echo "KMODDIR=$build/moddir"
} >"$envdir/kernel.env.tmp"
if cmp -s "$envdir/kernel.env.tmp" "$envdir/kernel.env"; then
	rm -f "$envdir/kernel.env.tmp"
else
	mv "$envdir/kernel.env.tmp" "$envdir/kernel.env"
fi
log "$krel ($pkg $ver) in $build"
