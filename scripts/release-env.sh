# shellcheck shell=bash
# Sourced by scripts/release.sh and by cross/run.sh (CROSS_TOOLCHAIN=zig): the release toolchain's
# pins, the glibc floor, the features per target and the one cargo command line, kept in one
# place so that the ARM test leg compiles exactly what the release compiled and cargo reuses it
# (the same profile, target, features, linker, C compilers and environment give the same units).
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1
AUDITWHEEL_VERSION=6.8.2
WHEEL_VERSION=0.48.0
GLIBC=2.17
TOOLS=${EDGECLASS_RELEASE_TOOLS:-$HOME/.cache/edgeclass/release-tools}

# The release features of a target triple: multithread, mqtt (ML Feedback's messages to a broker,
# from the library and from `edgeclass serve`: plain TCP, no TLS crate) and jpeg-turbo
# (libjpeg-turbo built by cmake with zig cc) on x86_64 and aarch64; multithread and mqtt on armv7,
# where libjpeg-turbo does not build with zig (see scripts/release.sh). `serve` is a default
# feature. EDGECLASS_RELEASE_FEATURES overrides both.
release_features() { # TRIPLE
    if [ -n "${EDGECLASS_RELEASE_FEATURES:-}" ]; then
        echo "$EDGECLASS_RELEASE_FEATURES"
    elif [ "${1%%-*}" = armv7 ]; then
        echo multithread,mqtt
    else
        echo multithread,mqtt,jpeg-turbo
    fi
}

# The pinned tools in a venv of their own, installed once; puts them first on PATH.
release_tools() {
    local stamp="ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION auditwheel==$AUDITWHEEL_VERSION wheel==$WHEEL_VERSION"
    if [ "$(cat "$TOOLS/.edgeclass-stamp" 2>/dev/null)" != "$stamp" ]; then
        echo "== release: installing $stamp into $TOOLS"
        rm -rf "$TOOLS"
        python3 -m venv "$TOOLS"
        # shellcheck disable=SC2086
        "$TOOLS/bin/python" -m pip install -q $stamp
        echo "$stamp" >"$TOOLS/.edgeclass-stamp"
    fi
    export PATH="$TOOLS/bin:$PATH"
}

# cargo-zigbuild SUBCOMMAND (zigbuild, test, run) for TRIPLE as the release builds it: profile
# dist, glibc $GLIBC (zig's triple carries the version), the release features. EDGECLASS_SONAME=1:
# build.rs gives the .so its SONAME (libedgeclass.so.1); it is part of what cargo compares, so
# the test builds set it too. RELEASE_NICE: the nice level (default 0; it changes nothing cargo
# compares).
release_cargo() { # SUBCOMMAND TRIPLE [CARGO ARGS...]
    local sub=$1 triple=$2
    shift 2
    EDGECLASS_SONAME=1 nice -n "${RELEASE_NICE:-0}" cargo-zigbuild "$sub" --locked --profile dist --target "$triple.$GLIBC" \
        --features "$(release_features "$triple")" "$@"
}
