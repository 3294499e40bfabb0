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
#  - "security": systemd-analyze security --offline=true on every service
#    unit (of init/systemd, or of UNITDIR when given): prints each unit's
#    overall exposure and the lines that still count, and fails when a unit's
#    exposure is above its threshold (security_threshold below), so that a
#    lost sandboxing setting fails CI.
set -eu

die() { echo "pkg-check: $*" >&2; exit 1; }

[ $# -eq 2 ] || { [ $# -eq 3 ] && [ "$1" = security ]; } ||
	die "usage: $0 shellcheck|units OUTDIR | security OUTDIR [UNITDIR]"
unitdir=${3:+$(cd "$3" && pwd)}
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

# security_threshold UNIT: the highest overall exposure allowed for UNIT
# (systemd-analyze's 0.0 to 10.0 scale), or "none". The gates are the scores
# of the shipped units (mypolld 0.5 and the bridge 1.3 with systemd 252):
# what each remaining exposure line is for is said in the unit. The test
# agent runs only in test images, as root (it loads modules and runs
# commands as root for the harness): scored, not gated. A new unit gets 2.0.
security_threshold() {
	case "$1" in
		mypolld.service) echo 0.5;;
		mypoll-bridge.service) echo 1.3;;
		mypoll-testagent.service) echo "none: test images only, runs as root";;
		*) echo 2.0;;
	esac
}

check_security() {
	src=${unitdir:-$(pwd)/init/systemd}
	dir="$out/security"
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$src"/* "$dir/"
	units=$(cd "$dir" && ls -- *.service)
	[ -n "$units" ] || die "no service unit in $src"
	bad=
	for u in $units; do
		log="$dir/$u.log"
		# --offline reads the unit file named by its path (no --root needed).
		(cd "$dir" && systemd-analyze security --offline=true --no-pager "./$u") >"$log" 2>&1 ||
			{ cat "$log"; die "systemd-analyze security $u failed"; }
		score=$(sed -n "s/.*Overall exposure level for $u: \([0-9.]*\) .*/\1/p" "$log")
		[ -n "$score" ] || { cat "$log"; die "no exposure level for $u"; }
		limit=$(security_threshold "$u")
		echo "pkg-check: security: $u exposure $score (threshold $limit)"
		case "$limit" in
			none*) echo "    ($(grep -c '^✗' "$log") settings count, not listed)";;
			*) grep '^✗' "$log" | sed 's/  */ /g; s/^/    /'
			if awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s > l) }'; then
				echo "pkg-check: security: $u exposure $score is above $limit" >&2
				bad="$bad $u"
			fi;;
		esac
	done
	[ -z "$bad" ] || die "exposure above the threshold:$bad"
}

mkdir -p "$out"
case "$1" in
	shellcheck) check_shellcheck;;
	units) check_units;;
	security) check_security;;
	*) die "unknown check $1";;
esac
