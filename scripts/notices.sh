#!/usr/bin/env bash
# THIRD-PARTY-NOTICES.md: the licences of everything the release builds link in, generated from
# Cargo.lock by cargo-about (pinned; installed with `cargo install --locked` when missing), plus
# libjpeg-turbo's own licences (a C library the jpeg-turbo feature builds in from the source
# vendored by turbojpeg-sys, which cargo-about knows only under the crate's licence).
#
#   scripts/notices.sh            rewrite THIRD-PARTY-NOTICES.md
#   scripts/notices.sh --check    fail when it is not what Cargo.lock gives (CI, release.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_ABOUT_VERSION=0.9.3
FEATURES="multithread jpeg-turbo"
OUT=THIRD-PARTY-NOTICES.md

if [ "$(cargo about --version 2>/dev/null)" != "cargo-about $CARGO_ABOUT_VERSION" ]; then
    echo "== notices: cargo install --locked cargo-about $CARGO_ABOUT_VERSION"
    nice -n "${RELEASE_NICE:-10}" cargo install --locked --features cli --version "$CARGO_ABOUT_VERSION" cargo-about
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cargo about generate --frozen --fail --features "$FEATURES" -c scripts/notices/about.toml \
    scripts/notices/notices.hbs >"$tmp"
# The vendored libjpeg-turbo of the locked turbojpeg-sys.
sys_version=$(awk '/^name = "turbojpeg-sys"$/ {getline; print}' Cargo.lock | sed 's/version = "\(.*\)"/\1/')
src=$(cargo metadata --locked --format-version 1 --features "$FEATURES" 2>/dev/null |
    python3 -c "import json,sys; print([p['manifest_path'] for p in json.load(sys.stdin)['packages'] if p['name']=='turbojpeg-sys' and p['version']=='$sys_version'][0])")
jt=$(dirname "$src")/libjpeg-turbo
{
    echo
    echo "## libjpeg-turbo (built into the jpeg-turbo feature by turbojpeg-sys $sys_version)"
    echo
    echo '```'
    cat "$jt/LICENSE.md"
    echo '```'
    echo
    echo "The IJG licence (README.ijg, LEGAL ISSUES):"
    echo
    echo '```'
    sed -n '/^LEGAL ISSUES$/,/^REFERENCES$/p' "$jt/README.ijg" | sed '$d'
    echo '```'
} >>"$tmp"

if [ "${1:-}" = --check ]; then
    if ! cmp -s "$tmp" "$OUT"; then
        diff -u "$OUT" "$tmp" | head -40 || true
        echo "notices: $OUT is stale: run scripts/notices.sh and commit it" >&2
        exit 1
    fi
    echo "notices: $OUT matches Cargo.lock"
else
    cp "$tmp" "$OUT"
    echo "notices: wrote $OUT"
fi
