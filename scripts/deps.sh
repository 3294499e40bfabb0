#!/bin/sh
# deps.sh PKG...: make sure the Debian packages the build needs are installed,
# with the arm64 and armhf architectures enabled (for the kernel packages).
# Installs only what is missing; needs root for that and says what to run
# otherwise.
set -eu

die() { echo "deps: $*" >&2; exit 1; }

missing=
for p in "$@"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
# Foreign architectures of the kernel packages, each with a metapackage that
# must have a candidate (else apt's lists predate the architecture):
# arm64 (the default kernels), armhf (bookworm-armhf, mk/kernel.mk).
foreign="arm64:linux-image-arm64 armhf:linux-image-armmp-lpae"
add_arches=
lists=yes
for fa in $foreign; do
	a=${fa%%:*}
	if dpkg --print-foreign-architectures | grep -qx "$a"; then
		apt-cache policy "${fa#*:}:$a" 2>/dev/null | grep -q 'Candidate: [0-9]' || lists=no
	else
		add_arches="$add_arches $a"
	fi
done
[ -z "$missing" ] && [ -z "$add_arches" ] && [ "$lists" = yes ] && exit 0

if [ "$(id -u)" != 0 ]; then
	add_cmd=
	for a in $add_arches; do add_cmd="${add_cmd}dpkg --add-architecture $a && "; done
	die "missing:${missing:- (none)}; architectures to add:${add_arches:- (none)}. As root run:
  ${add_cmd}apt-get update && apt-get install --no-install-recommends$missing"
fi
for a in $add_arches; do dpkg --add-architecture "$a"; done
echo "deps: apt-get update" >&2
apt-get update -qq
if [ -n "$missing" ]; then
	echo "deps: installing$missing" >&2
	# $missing is a list of package names: split it on purpose.
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
