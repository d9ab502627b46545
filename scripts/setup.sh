#!/usr/bin/env bash
# Everything a fresh machine (Debian, rustup, pyenv) needs to build edgeclass and run all its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# cmake and nasm build libjpeg-turbo for the optional jpeg-turbo feature (bit-exact JPEG).
if ! command -v cmake >/dev/null || ! command -v nasm >/dev/null; then
    apt-get update -q && apt-get install -y -q cmake nasm
fi
cargo build --release --locked
# MXNet 1.9.1 in a venv, used only as a test reference: regenerates the full-size models.
scripts/make-full-models.sh
