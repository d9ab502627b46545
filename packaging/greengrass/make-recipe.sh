#!/usr/bin/env bash
# Write the Greengrass v2 recipe of com.edgeclass.Serve for this checkout's version (Cargo.toml's),
# from packaging/greengrass/recipe.json, in the layout that both `aws greengrassv2
# create-component-version` and a local deployment (`greengrass-cli deployment create
# --recipeDir OUT/recipes --artifactDir OUT/artifacts`) read:
#
#   packaging/greengrass/make-recipe.sh [--artifacts URI] [--tarballs DIR] [OUT]
#
#   OUT/recipes/com.edgeclass.Serve-VERSION.json
#   OUT/artifacts/com.edgeclass.Serve/VERSION/edgeclass-VERSION-ARCH-linux-gnu.tar.gz  (--tarballs)
#
# --artifacts URI: where the tarballs are uploaded, without the file name (default
#   s3://BUCKET/edgeclass/VERSION: a placeholder to replace). A local deployment ignores it
#   but for the file name.
# --tarballs DIR: copy the release tarballs of this version found in DIR (scripts/release.sh
#   writes them to dist/) into OUT/artifacts.
# OUT defaults to dist/greengrass.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
component=com.edgeclass.Serve

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || { echo "make-recipe: no version in $root/Cargo.toml" >&2; exit 1; }

artifacts="s3://BUCKET/edgeclass/$version"
tarballs=
out=
while [ $# -gt 0 ]; do
    case "$1" in
    --artifacts) artifacts=${2:?--artifacts needs a URI}; shift 2 ;;
    --tarballs) tarballs=${2:?--tarballs needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "make-recipe: unknown option $1" >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "make-recipe: one OUT directory only" >&2; exit 2; }; out=$1; shift ;;
    esac
done
out=${out:-$root/dist/greengrass}
artifacts=${artifacts%/}
# The URI goes into a JSON string through sed: refuse what would need escaping in either.
case "$artifacts" in
*'"'* | *'\'* | *'|'* | *'&'* | *[[:space:]]*)
    echo "make-recipe: --artifacts must not contain quotes, backslashes, '|', '&' or spaces" >&2
    exit 1
    ;;
esac

mkdir -p "$out/recipes"
recipe="$out/recipes/$component-$version.json"
sed -e "s|@VERSION@|$version|g" -e "s|@ARTIFACTS@|$artifacts|g" "$here/recipe.json" >"$recipe.tmp"
mv "$recipe.tmp" "$recipe"
echo "$recipe"

if [ -n "$tarballs" ]; then
    dest="$out/artifacts/$component/$version"
    mkdir -p "$dest"
    found=0
    for arch in x86_64 armv7l aarch64; do
        f="$tarballs/edgeclass-$version-$arch-linux-gnu.tar.gz"
        if [ -f "$f" ]; then
            cp "$f" "$dest/"
            echo "$dest/$(basename "$f")"
            found=1
        fi
    done
    [ "$found" = 1 ] || { echo "make-recipe: no edgeclass-$version-*-linux-gnu.tar.gz in $tarballs" >&2; exit 1; }
fi
