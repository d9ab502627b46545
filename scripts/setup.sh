#!/usr/bin/env bash
# Everything a fresh machine (Debian, rustup, pyenv) needs to build edgeclass and run all its
# tests. scripts/test.sh runs it first; it is idempotent: what is there already is kept, so a
# second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# cmake and nasm build libjpeg-turbo for the optional jpeg-turbo feature (bit-exact JPEG);
# valgrind and pkg-config serve the C tests (ffi-tests/run.sh); strace and systemd-analyze
# (package systemd) the packaging test's checks of the systemd unit (tests/packaging).
missing=()
for pair in cmake:cmake nasm:nasm valgrind:valgrind pkg-config:pkg-config strace:strace \
    systemd-analyze:systemd; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: apt-get install ${missing[*]}"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
cargo build --release --locked
# MXNet 1.9.1 in a venv, used only as a test reference: regenerates the full-size models from
# the recipe committed in tests/fixtures/reference (scripts/make_full_models.py).
scripts/make-full-models.sh
