#!/usr/bin/env bash
# CI for the ARM cross builds: on a fresh Debian machine, as root, install the cross toolchains
# and qemu-user, then run the cross tests (cross/run.sh) and the dependency report
# (cross/deps-report.sh). Idempotent: what is already installed is not installed again.
#
#   cross/ci.sh           (.ci/run calls it; CI=true makes the full-size goldens mandatory)
#   CROSS_DIST=1 cross/ci.sh   also the dist builds of three targets and their size table
#
# Time on a 2-core machine (see cross/README.md): run.sh about 10-15 minutes (builds, then both
# targets' emulated tests side by side). The dependency check then reads run.sh's release
# artefacts (NEEDED and the glibc floor do not depend on the profile): seconds. With
# CROSS_DIST=1, deps-report.sh builds the dist profile for 3 targets: about 10 more minutes.
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

echo "== cross/run.sh"
start=$SECONDS
cross/run.sh "${TARGETS[@]}"
echo "== cross/run.sh took $((SECONDS - start)) s"

start=$SECONDS
if [ "${CROSS_DIST:-0}" = 1 ]; then
    echo "== cross/deps-report.sh (dist builds)"
    cross/deps-report.sh
else
    echo "== cross/deps-report.sh on the release artefacts of cross/run.sh"
    DEPS_PROFILE=release cross/deps-report.sh --no-build "${TARGETS[@]}"
fi
echo "== cross/deps-report.sh took $((SECONDS - start)) s"
