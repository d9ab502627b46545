#!/usr/bin/env bash
# The C ABI only grows: no exported function, type or status value is removed or changed.
#
#   ffi-tests/abi-check.sh
#
# Builds libedgeclass.so with DWARF for edgeclass itself (`cargo rustc` passes -C flags to the
# final crate only, so the release dependencies are reused; the next plain release build compiles
# edgeclass again, about 3 minutes here) and compares it with abidiff (Debian's abigail-tools)
# against ffi-tests/abi/baseline-fb23133.abi: abidw of the .so of commit fb23133, the last one
# before the C layer was reshaped, built the same way. Fails when abidiff reports a removed or
# changed function or variable; added ones are fine. The handles are opaque in C, so changes
# inside them (Rust's own layout of a service, a request, ...) are suppressed (abi/opaque.supp).
# tests/header.rs checks the other half: every enum value and #define of the baseline header.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v abidiff >/dev/null; then
    apt-get update -q && apt-get install -y -q abigail-tools
fi
TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo rustc --release --locked --lib --crate-type cdylib -- -C debuginfo=2 -C strip=none
so="$TARGET_DIR/release/libedgeclass.so"
report=$(mktemp)
set +e
abidiff --no-show-locs --suppressions ffi-tests/abi/opaque.supp \
    ffi-tests/abi/baseline-fb23133.abi "$so" >"$report"
rc=$?
set -e
cat "$report"
# Exit status bits: 1 error, 2 usage, 4 ABI change, 8 incompatible change.
if [ $((rc & 3)) -ne 0 ]; then
    echo "abi-check: abidiff failed (exit $rc)" >&2
    exit 1
fi
bad=$(grep -E '^(Functions|Variables) changes summary:' "$report" |
    grep -vE 'summary: 0 Removed, 0 Changed' || true)
# A function abidiff lists as changed only because Rust moved a type to another module (the C
# name, size and members unchanged: every line of its entry is one of these) is no change for C.
# abidiff reports such a renamed struct once a suppressed opaque handle in the same signature has
# changed inside. Any other line (a size, a member, a parameter's type) keeps the failure.
if [ -n "$bad" ] && ! grep -qE 'summary: [1-9][0-9]* Removed|^Variables changes summary: 0 Removed, [1-9]' "$report"; then
    others=$(sed -n '/^[0-9]* functions\? with some indirect sub-type change:/,$p' "$report" |
        sed 's/^ *//' | grep -vE "^$|^[0-9]+ functions? with some indirect sub-type change:|^\[C\] 'function |^'function .* now becomes 'function |^parameter [0-9]+ of type '[^']*' changed:$|^in pointed to type 'struct [^']*':$|^type name changed from 'edgeclass::ffi::([a-z_]+::)?(edgeclass_[a-z_]+)' to 'edgeclass::ffi::([a-z_]+::)?\2'$|^type size hasn't changed$|^no data member changes \([0-9]+ filtered\);$|^enum type '[^']*' changed, as reported earlier$" || true)
    if [ -z "$others" ]; then
        echo "abi-check: the function changes above are Rust module renames of unchanged C types"
        bad=""
    fi
fi
if [ $((rc & 8)) -ne 0 ] || [ -n "$bad" ]; then
    echo "abi-check: the C ABI lost or changed something (above); it may only grow" >&2
    exit 1
fi
echo "abi-check: no function, variable or type of the baseline removed or changed (abidiff exit $rc)"
