#!/bin/sh
# deps.sh PKG...: make sure the Debian packages the build needs are installed,
# with the arm64 architecture enabled (for the kernel packages). Installs only
# what is missing; needs root for that and says what to run otherwise.
set -eu

die() { echo "deps: $*" >&2; exit 1; }

missing=
for p in "$@"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
have_arm64=yes
dpkg --print-foreign-architectures | grep -qx arm64 || have_arm64=no
lists=yes
if [ "$have_arm64" = yes ]; then
	apt-cache policy linux-image-arm64:arm64 2>/dev/null | grep -q 'Candidate: [0-9]' || lists=no
fi
[ -z "$missing" ] && [ "$have_arm64" = yes ] && [ "$lists" = yes ] && exit 0

if [ "$(id -u)" != 0 ]; then
	die "missing:${missing:- (none)}; arm64 architecture: $have_arm64. As root run:
  dpkg --add-architecture arm64 && apt-get update && apt-get install --no-install-recommends$missing"
fi
[ "$have_arm64" = yes ] || dpkg --add-architecture arm64
echo "deps: apt-get update" >&2
apt-get update -qq
if [ -n "$missing" ]; then
	echo "deps: installing$missing" >&2
	# $missing is a list of package names: split it on purpose.
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
