#!/usr/bin/env bash
# CI for the ARM boards: on a fresh Debian machine, as root, install the cross toolchains and
# qemu-user, then build the ARM release and test it. Idempotent: what is already installed is not
# installed again.
#
#   cross/ci.sh           (.ci/run calls it; CI=true makes the full-size goldens mandatory)
#
# 1. scripts/release.sh armv7 aarch64: the glibc 2.17 release builds, tarballs and wheels in dist/,
#    and scripts/check-dist.sh on them (symbol versions, NEEDED, SONAME, auditwheel, the CLI)
# 2. cross/test-release.sh: each wheel pip-installed into Debian's armhf / arm64 Python runs the
#    seed's Lambda, the C example links through each tarball's .pc files; all under qemu
# 3. CROSS_TOOLCHAIN=zig cross/run.sh: the Rust tests and the C ffi-tests under qemu, of that same
#    build: the tests are compiled with the release's command line, so cargo reuses the
#    release's compiled dependencies and library instead of a second build with Debian's gcc,
#    and the C tests link the tarball's libraries
# 4. cross/deps-report.sh on the release's artefacts (NEEDED, glibc floor, sizes: seconds)
#
# CROSS_RELEASE_BUILT=1: step 1 was done already (.ci/run builds all three targets' release at
# once, side by side, then tests them): dist/ must hold the ARM artefacts, checked by
# scripts/check-dist.sh then.
# CROSS_RELEASE=0 skips 1 and 2 and tests a second build instead (cross/run.sh's default: Debian's
# cross gcc, profile release, default features; the report then reads its artefacts).
# Time on a 2-core machine: see .ci/run's header and cross/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu)
PACKAGES=(gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu libc6-dev-armhf-cross libc6-dev-arm64-cross
    qemu-user binutils-arm-linux-gnueabihf binutils-aarch64-linux-gnu)

# apt: only when a package is missing (then `apt-get update` once), so a warm machine skips it.
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "== cross packages already installed"
fi

# rustup: adding an installed target is a no-op.
echo "== rustup target add ${TARGETS[*]}"
rustup target add "${TARGETS[@]}"

if [ "${CROSS_RELEASE:-1}" = 1 ]; then
    start=$SECONDS
    if [ "${CROSS_RELEASE_BUILT:-0}" = 1 ]; then
        echo "== scripts/release.sh armv7 aarch64: built already (CROSS_RELEASE_BUILT=1)"
        ls dist/edgeclass-*-armv7l-linux-gnu.tar.gz dist/edgeclass-*-aarch64-linux-gnu.tar.gz
    else
        echo "== scripts/release.sh armv7 aarch64"
        scripts/release.sh "${TARGETS[@]}"
        echo "== scripts/release.sh took $((SECONDS - start)) s"
    fi
    start=$SECONDS
    echo "== cross/test-release.sh"
    cross/test-release.sh armv7 aarch64
    echo "== cross/test-release.sh took $((SECONDS - start)) s"
    toolchain=zig profile=dist
else
    toolchain=gcc profile=release
fi

echo "== cross/run.sh (CROSS_TOOLCHAIN=$toolchain)"
start=$SECONDS
CROSS_TOOLCHAIN=$toolchain cross/run.sh "${TARGETS[@]}"
echo "== cross/run.sh took $((SECONDS - start)) s"

start=$SECONDS
echo "== cross/deps-report.sh on the $profile artefacts"
DEPS_PROFILE=$profile cross/deps-report.sh --no-build "${TARGETS[@]}"
echo "== cross/deps-report.sh took $((SECONDS - start)) s"
