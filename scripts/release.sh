#!/usr/bin/env bash
# Build the release artefacts into dist/: for each target, a tarball for C users and a wheel for
# Python users, all linked against glibc 2.17 (the floor of Rust itself on these targets), then
# dist/SHA256SUMS. Then scripts/check-dist.sh checks every ELF file and wheel in dist/.
#
#   scripts/release.sh [--no-build] [TARGET...]   TARGET: x86_64, armv7, aarch64 (default: all)
#
# --no-build packages what target/TRIPLE/dist already holds (after an earlier run).
#
# Per target (VERSION from Cargo.toml, ARCH x86_64 | armv7l | aarch64):
#   edgeclass-VERSION-ARCH-linux-gnu.tar.gz
#       bin/edgeclass, include/edgeclass.h,
#       lib/libedgeclass.so.1 (SONAME; .so -> .so.1), lib/libedgeclass.a,
#       lib/pkgconfig/edgeclass.pc and edgeclass-static.pc (relocatable: ${pcfiledir}),
#       README.md, CHANGELOG.md, LICENSE-MIT, LICENSE-APACHE, THIRD-PARTY-NOTICES.md
#   edgeclass-VERSION-py2.py3-none-manylinux_2_17_ARCH.manylinux2014_ARCH.whl
#       edgeclass/ (with libedgeclass.so), greengrass_machine_learning_sdk/, the licences
#
# How: cargo-zigbuild links with zig's glibc 2.17 stubs (`--target TRIPLE.2.17`), so the build
# machine's glibc does not leak in (Debian 12's gave GLIBC_2.35: hypot). Both tools are pinned
# and installed into a cache venv ($EDGECLASS_RELEASE_TOOLS, default
# ~/.cache/edgeclass/release-tools), with auditwheel and wheel; the pins, the features and the
# cargo command line are in scripts/release-env.sh, which the ARM test leg shares
# (CROSS_TOOLCHAIN=zig cross/run.sh tests this build). Profile `dist` (Cargo.toml):
# one codegen unit, stripped. Features: multithread, mqtt and jpeg-turbo (libjpeg-turbo built by
# cmake with zig cc) on x86_64 and aarch64; multithread and mqtt on armv7, where libjpeg-turbo does
# not build with zig: turbojpeg-sys requires its SIMD code, whose NEON test program cargo-zigbuild's
# compiler refuses (rustc's armv7 baseline has no NEON and the wrapper's -mcpu=...-neon overrides
# libjpeg-turbo's -mfpu=neon). EDGECLASS_RELEASE_FEATURES overrides both.
# Builds run under `nice` (RELEASE_NICE, default 10): the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# shellcheck source=scripts/release-env.sh
source scripts/release-env.sh # pins, GLIBC, TOOLS, release_features, release_tools, release_cargo
SONAME_MAJOR=1 # = EDGECLASS_ABI_VERSION (build.rs, tests/version.rs)
DIST=${DIST:-dist}
NICE=${RELEASE_NICE:-10}

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$VERSION" ] || { echo "release: no version in Cargo.toml" >&2; exit 1; }

triple_of() {
    case "$1" in
    x86_64 | x86_64-unknown-linux-gnu) echo x86_64-unknown-linux-gnu ;;
    armv7 | armv7l | armv7-unknown-linux-gnueabihf) echo armv7-unknown-linux-gnueabihf ;;
    aarch64 | arm64 | aarch64-unknown-linux-gnu) echo aarch64-unknown-linux-gnu ;;
    *) echo "release: unknown target $1 (x86_64, armv7, aarch64)" >&2; return 1 ;;
    esac
}
# The machine name `uname -m` prints on the boards, used by wheels and tarballs alike.
arch_of() {
    case "$1" in
    x86_64-*) echo x86_64 ;;
    armv7-*) echo armv7l ;;
    aarch64-*) echo aarch64 ;;
    esac
}

build=1
if [ "${1:-}" = --no-build ]; then
    build=0
    shift
fi
targets=()
for t in "${@:-x86_64 armv7 aarch64}"; do
    for w in $t; do
        triple=$(triple_of "$w") || exit 2
        targets+=("$triple")
    done
done

SECONDS=0
# --- tools: pinned, in a venv of their own, installed once -------------------------------------
release_tools
for t in "${targets[@]}"; do
    [ "$t" = x86_64-unknown-linux-gnu ] || rustup target add "$t" >/dev/null
done

# --- third-party notices (checked against Cargo.lock by scripts/notices.sh --check) ----------
[ "$build" = 0 ] || scripts/notices.sh --check

# --- build: one cargo call per target (zig's target triple carries the glibc version) ---------
# The targets build side by side (RELEASE_PARALLEL=0: one after the other). Profile dist compiles
# each crate as one codegen unit, so a lone build leaves a core idle for minutes at a time (tract
# and edgeclass themselves); two or three builds fill both. Each build's output goes to its log,
# printed when it ends.
build_target() { # TRIPLE
    local start=$SECONDS
    echo "== release: cargo zigbuild --profile dist --target $1.$GLIBC --features $(release_features "$1")"
    # nice does not change what cargo compares: the test build (cross/run.sh) reuses this one.
    RELEASE_NICE=$NICE release_cargo zigbuild "$1" --lib --bin edgeclass
    echo "== release: $1 built in $((SECONDS - start)) s"
}
if [ "$build" = 1 ]; then
    logs=$(mktemp -d)
    pids=()
    for t in "${targets[@]}"; do
        if [ "${RELEASE_PARALLEL:-1}" = 1 ]; then
            build_target "$t" >"$logs/$t.log" 2>&1 &
            pids+=($!)
        else
            build_target "$t"
        fi
    done
    failed=()
    for i in "${!pids[@]}"; do
        t=${targets[$i]}
        rc=0
        wait "${pids[$i]}" || rc=$?
        # The compiler's progress lines are noise here; errors and the timing lines stay.
        grep -v -E '^ +(Compiling|Downloaded|Downloading) ' "$logs/$t.log" || true
        [ "$rc" = 0 ] || failed+=("$t (exit $rc)")
    done
    rm -rf "$logs"
    [ ${#failed[@]} = 0 ] || { echo "release: the build failed for ${failed[*]}" >&2; exit 1; }
fi

# --- package ----------------------------------------------------------------------------------
# Reproducible archives: fixed owner, order and time (the last commit's).
mtime=$(git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH=$mtime
pack_tar() { # DIR NAME -> $DIST/NAME.tar.gz
    tar -C "$1" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
        -cf - "$2" | gzip -9n >"$DIST/$2.tar.gz"
}

# What `rustc --print native-static-libs` prints for linux-gnu staticlibs (examples-c/Makefile).
STATIC_LIBS="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

write_pc() { # PKGCONFIG_DIR: edgeclass.pc and edgeclass-static.pc, valid wherever unpacked
    local abi
    abi=$(sed -n 's/^#define EDGECLASS_ABI_VERSION \([0-9]*\)$/\1/p' include/edgeclass.h)
    sed -e 's|@PREFIX@|${pcfiledir}/../..|g' -e "s|@VERSION@|$VERSION|g" -e "s|@ABI_VERSION@|$abi|g" \
        -e "s|@STATIC_LIBS@|$STATIC_LIBS|g" include/edgeclass.pc.in >"$1/edgeclass.pc"
    # pkg-config --static cannot take the .so out of edgeclass.pc's Libs, and the linker prefers
    # libedgeclass.so to libedgeclass.a in the same folder: static linking gets its own file.
    cat >"$1/edgeclass-static.pc" <<PC
prefix=\${pcfiledir}/../..
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: edgeclass-static
Description: edgeclass linked statically (libedgeclass.a; C ABI $abi)
Version: $VERSION
Cflags: -I\${includedir}
Libs: \${libdir}/libedgeclass.a $STATIC_LIBS -Wl,-z,noexecstack
PC
}

make_wheel() { # TRIPLE ARCH LIBRARY -> $DIST/edgeclass-VERSION-py2.py3-none-manylinux...whl
    local arch=$2 stage=$work/wheel-$2 tag tags=()
    rm -rf "$stage"
    mkdir -p "$stage"
    for pkg in edgeclass greengrass_machine_learning_sdk; do
        mkdir -p "$stage/$pkg"
        install -m 0644 python/$pkg/*.py "$stage/$pkg/"
    done
    install -m 0755 "$3" "$stage/edgeclass/libedgeclass.so"
    local info=$stage/edgeclass-$VERSION.dist-info
    mkdir -p "$info"
    install -m 0644 LICENSE-MIT LICENSE-APACHE THIRD-PARTY-NOTICES.md "$info/"
    {
        echo "Metadata-Version: 2.1"
        echo "Name: edgeclass"
        echo "Version: $VERSION"
        echo "Summary: Image classification with SageMaker image-classification models, without MXNet: a drop-in greengrass_machine_learning_sdk over libedgeclass"
        echo "License: MIT OR Apache-2.0"
        echo "Requires-Python: >=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*"
        echo "Classifier: Programming Language :: Python :: 2.7"
        echo "Classifier: Programming Language :: Python :: 3"
        echo "Classifier: Operating System :: POSIX :: Linux"
        echo "Description-Content-Type: text/markdown"
        echo
        cat python/README.md
    } >"$info/METADATA"
    printf 'edgeclass\ngreengrass_machine_learning_sdk\n' >"$info/top_level.txt"
    # One tag per Python and platform spelling: pip 20.3.4 (Python 2.7) knows manylinux2014,
    # newer pips the PEP 600 name. Not pure: the wheel holds a native library.
    for py in py2 py3; do
        for plat in "manylinux_2_17_$arch" "manylinux2014_$arch"; do
            tags+=("Tag: $py-none-$plat")
        done
    done
    {
        echo "Wheel-Version: 1.0"
        echo "Generator: edgeclass scripts/release.sh"
        echo "Root-Is-Purelib: false"
        printf '%s\n' "${tags[@]}"
    } >"$info/WHEEL"
    wheel pack --dest-dir "$work" "$stage"
    # wheel sorts the platform tags; name the PEP 600 one first, as auditwheel prints it.
    mv "$work"/edgeclass-"$VERSION"-*.whl \
        "$DIST/edgeclass-$VERSION-py2.py3-none-manylinux_2_17_$arch.manylinux2014_$arch.whl"
}

mkdir -p "$DIST"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for t in "${targets[@]}"; do
    arch=$(arch_of "$t")
    out=${CARGO_TARGET_DIR:-target}/$t/dist
    name=edgeclass-$VERSION-$arch-linux-gnu
    tree=$work/$name
    echo "== release: $name"
    install -d "$tree/bin" "$tree/include" "$tree/lib/pkgconfig"
    install -m 0755 "$out/edgeclass" "$tree/bin/edgeclass"
    install -m 0755 "$out/libedgeclass.so" "$tree/lib/libedgeclass.so.$SONAME_MAJOR"
    ln -s "libedgeclass.so.$SONAME_MAJOR" "$tree/lib/libedgeclass.so"
    # The archive keeps the standard library's debug sections otherwise (about 2/3 of it).
    llvm-strip --strip-debug -o "$tree/lib/libedgeclass.a" "$out/libedgeclass.a"
    chmod 0644 "$tree/lib/libedgeclass.a"
    install -m 0644 include/edgeclass.h "$tree/include/edgeclass.h"
    write_pc "$tree/lib/pkgconfig"
    for f in README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE THIRD-PARTY-NOTICES.md; do
        install -m 0644 "$f" "$tree/$f"
    done
    pack_tar "$work" "$name"
    make_wheel "$t" "$arch" "$tree/lib/libedgeclass.so.$SONAME_MAJOR"
done

(cd "$DIST" && rm -f SHA256SUMS && sha256sum -- *.tar.gz *.whl >SHA256SUMS)
echo "== release: dist/ in $((SECONDS / 60)) min $((SECONDS % 60)) s"
ls -l "$DIST"
scripts/check-dist.sh "$DIST"
