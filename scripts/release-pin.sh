#!/bin/sh
# release-pin.sh [-v VERSION] [-n] [COMMIT]: pin the Yocto layer's sources to
# COMMIT (default HEAD): set SRCREV (the full hash) and PV (VERSION+git;
# VERSION defaults to the current PV's part before "+") in
# meta-mypoll/recipes-mypoll/include/mypoll-src.inc, check that the commit
# has and builds what the recipes build (the TestYocto_Srcrev tests of
# ./packaging), and commit that one file. -n: change the file, do not commit.
#
# Run it at a release, and whenever `make test-pkg` says the pinned commit
# no longer builds. COMMIT must stay in main's history (pin a commit of main
# or of a branch that is merged, not rebased), or the recipes cannot fetch it.
set -eu

die() { echo "release-pin: $*" >&2; exit 1; }

version=''
commit=yes
while getopts v:n opt; do
	case $opt in
	v) version=$OPTARG ;;
	n) commit= ;;
	*) die "usage: $0 [-v VERSION] [-n] [COMMIT]" ;;
	esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || die "usage: $0 [-v VERSION] [-n] [COMMIT]"

cd "$(dirname "$0")/.."
inc=meta-mypoll/recipes-mypoll/include/mypoll-src.inc
rev=$(git rev-parse --verify --quiet "${1:-HEAD}^{commit}") ||
	die "${1:-HEAD} is not a commit of this repository"
old_pv=$(sed -n 's/^PV = "\(.*\)"$/\1/p' "$inc")
[ -n "$old_pv" ] || die "$inc has no PV = \"...\" line"
[ -n "$version" ] || version=${old_pv%%+*}
case $version in
*[!0-9A-Za-z._-]* | '') die "bad VERSION '$version'" ;;
esac
grep -q '^SRCREV = "[0-9a-f]*"$' "$inc" || die "$inc has no SRCREV = \"<hash>\" line"

if [ -n "$commit" ] && ! git diff --quiet HEAD -- "$inc"; then
	die "$inc has uncommitted changes"
fi
saved=$(mktemp)
trap 'rm -f "$saved"' EXIT
cp "$inc" "$saved"
sed -i -e "s/^SRCREV = \".*\"$/SRCREV = \"$rev\"/" -e "s/^PV = \".*\"$/PV = \"$version+git\"/" "$inc"

echo "release-pin: checking that $rev builds what the recipes build"
if ! ${GO:-go} test -count=1 -run '^TestYocto_Srcrev' ./packaging/; then
	cp "$saved" "$inc"
	die "$rev does not build as the recipes build it; $inc left unchanged"
fi

if [ -z "$commit" ]; then
	echo "release-pin: $inc now pins $rev (PV $version+git); not committed (-n)"
	exit 0
fi
if git diff --quiet -- "$inc"; then
	echo "release-pin: $inc already pins $rev (PV $version+git)"
	exit 0
fi
git commit -q -m "meta-mypoll: pin SRCREV to $(git rev-parse --short=12 "$rev") (PV $version+git)" \
	-m "The Yocto recipes build $(git log -1 --format='%h ("%s")' "$rev")." -- "$inc"
echo "release-pin: committed $(git log -1 --format='%h %s')"
