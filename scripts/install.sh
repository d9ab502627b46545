#!/usr/bin/env bash
# Install edgeclass for C programs: PREFIX/include/edgeclass.h, PREFIX/lib/libedgeclass.{so,a}
# and PREFIX/lib/pkgconfig/edgeclass.pc (from include/edgeclass.pc.in), so that
#   PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cc prog.c $(pkg-config --cflags --libs edgeclass)
# works. Usage: scripts/install.sh PREFIX
# The libraries come from EDGECLASS_LIB_DIR if set (e.g. a cross build's directory), else from
# ${CARGO_TARGET_DIR:-target}/release, built with `cargo build --release --lib` when missing.
# EDGECLASS_STATIC_LIBS overrides the native libraries listed for static linking.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: scripts/install.sh PREFIX" >&2
    exit 2
fi
prefix=$1
# An absolute prefix (relative to the caller's directory): the .pc file must not depend on the
# directory it is read from.
case "$prefix" in
/*) ;;
*) prefix="$(pwd)/$prefix" ;;
esac
cd "$(dirname "$0")/.." # the repository root: the paths below are relative to it
# The .pc file is written with sed and '|' as its delimiter (prefixes contain '/').
case "$prefix" in
*'|'* | *'&'* | *'\'*)
    echo "install.sh: PREFIX must not contain '|', '&' or '\\'" >&2
    exit 1
    ;;
esac

if [ -n "${EDGECLASS_LIB_DIR:-}" ]; then
    lib_dir=$EDGECLASS_LIB_DIR
else
    lib_dir="${CARGO_TARGET_DIR:-target}/release"
    if [ ! -f "$lib_dir/libedgeclass.so" ] || [ ! -f "$lib_dir/libedgeclass.a" ]; then
        cargo build --release --lib
    fi
fi
for f in "$lib_dir/libedgeclass.so" "$lib_dir/libedgeclass.a" include/edgeclass.h include/edgeclass.pc.in; do
    if [ ! -f "$f" ]; then
        echo "install.sh: $f is missing" >&2
        exit 1
    fi
done

# The package version is Cargo.toml's; the ABI version is the header's.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
abi=$(sed -n 's/^#define EDGECLASS_ABI_VERSION \([0-9]*\)$/\1/p' include/edgeclass.h)
# `rustc --print native-static-libs` for linux-gnu targets (see examples-c/Makefile).
static_libs=${EDGECLASS_STATIC_LIBS:--lgcc_s -lutil -lrt -lpthread -lm -ldl -lc}
if [ -z "$version" ] || [ -z "$abi" ]; then
    echo "install.sh: cannot read the version from Cargo.toml or include/edgeclass.h" >&2
    exit 1
fi

install -d "$prefix/include" "$prefix/lib/pkgconfig"
install -m 0644 include/edgeclass.h "$prefix/include/edgeclass.h"
# A release library (scripts/release.sh) has a SONAME, libedgeclass.so.1: programs linked against
# it ask the loader for that name, so it is installed under it, with libedgeclass.so linking to it.
soname=$(readelf -d "$lib_dir/libedgeclass.so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ -n "$soname" ] && [ "$soname" != libedgeclass.so ]; then
    install -m 0755 "$lib_dir/libedgeclass.so" "$prefix/lib/$soname"
    ln -sfn "$soname" "$prefix/lib/libedgeclass.so"
else
    install -m 0755 "$lib_dir/libedgeclass.so" "$prefix/lib/libedgeclass.so"
fi
install -m 0644 "$lib_dir/libedgeclass.a" "$prefix/lib/libedgeclass.a"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@ABI_VERSION@|$abi|g" \
    -e "s|@STATIC_LIBS@|$static_libs|g" include/edgeclass.pc.in >"$prefix/lib/pkgconfig/edgeclass.pc"
echo "installed edgeclass $version (C ABI $abi) into $prefix"
