#!/usr/bin/env bash
# CI for the ARM cross builds: on a fresh Debian machine, as root, install the cross toolchains
# and qemu-user, then run the cross tests (cross/run.sh) and the dependency report
# (cross/deps-report.sh). Idempotent: what is already installed is not installed again.
#
#   cross/ci.sh           (.ci/run calls it; CI=true makes the full-size goldens mandatory)
#
# Time on a 2-core machine (see cross/README.md): run.sh about 10-15 minutes (builds, then both
# targets' emulated tests side by side), deps-report.sh about 10 minutes (dist builds of 3 targets).
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

echo "== cross/deps-report.sh"
start=$SECONDS
cross/deps-report.sh
echo "== cross/deps-report.sh took $((SECONDS - start)) s"
