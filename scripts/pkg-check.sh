#!/bin/sh
# pkg-check.sh CHECK OUTDIR: the packaging checks that need no Buildroot or
# OpenEmbedded tree (the Go side is ./packaging). CHECK is one of:
#  - "shellcheck": ShellCheck on every shell script of the packaging (init/,
#    br2-external/, meta-mypoll/, scripts/pkg-*.sh; found by their #! line) at
#    style severity, and on the other scripts/*.sh at warning severity (their
#    owners decide on info and style findings).
#  - "units": systemd-analyze verify of init/systemd/*, in a scratch root under
#    OUTDIR with Debian's units and stand-ins for the binaries the units run,
#    so that ExecStart= paths are checked too. Any message fails (an unknown
#    key or value only warns).
set -eu

die() { echo "pkg-check: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 shellcheck|units OUTDIR"
cd "$(dirname "$0")/.."
out=$2

shell_scripts() {
	for f in $(git ls-files -co --exclude-standard init br2-external meta-mypoll) scripts/pkg-*.sh; do
		[ -f "$f" ] || continue
		case "$(head -n 1 "$f")" in
			'#!/bin/sh'*|'#!/bin/bash'*|'#!/usr/bin/env sh'*|'#!/usr/bin/env bash'*) echo "$f";;
		esac
	done
}

check_shellcheck() {
	files=$(shell_scripts)
	[ -n "$files" ] || die "no shell scripts found"
	# shellcheck disable=SC2086 # one word per file
	shellcheck --severity=style $files
	others=
	for f in scripts/*.sh; do
		case "$f" in scripts/pkg-*) ;; *) others="$others $f";; esac
	done
	# shellcheck disable=SC2086 # one word per file
	[ -z "$others" ] || shellcheck --severity=warning $others
	# shellcheck disable=SC2086 # a list on one line
	echo "pkg-check: shellcheck clean:" $files $others | tr "\n" " "; echo
}

check_units() {
	rm -rf "$out/units-root"
	mkdir -p "$out/units-root/usr/lib/systemd/system"
	root=$(cd "$out/units-root" && pwd)
	cp -a /usr/lib/systemd/system/. "$root/usr/lib/systemd/system/"
	cp init/systemd/* "$root/usr/lib/systemd/system/"
	# Stand-ins for every absolute path an Exec*= line runs.
	sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\(\/[^ ]*\).*/\1/p' init/systemd/* |
	while read -r exe; do
		mkdir -p "$root$(dirname "$exe")"
		printf '#!/bin/sh\n' >"$root$exe"
		chmod 0755 "$root$exe"
	done
	units=$(cd init/systemd && ls)
	log="$out/units-verify.log"
	# shellcheck disable=SC2086 # one word per unit
	(cd "$root/usr/lib/systemd/system" && \
		systemd-analyze verify --root="$root" --man=no $units) >"$log" 2>&1 ||
		{ cat "$log"; die "systemd-analyze verify failed"; }
	if [ -s "$log" ]; then
		cat "$log"
		die "systemd-analyze verify printed messages"
	fi
	echo "pkg-check: systemd-analyze verify clean:" "$(echo "$units" | tr "\n" " ")"
}

mkdir -p "$out"
case "$1" in
	shellcheck) check_shellcheck;;
	units) check_units;;
	*) die "unknown check $1";;
esac
