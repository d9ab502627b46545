#!/usr/bin/env bash
# The whole test suite (the README's test command; CI runs it): first scripts/setup.sh (installs
# what is missing, builds, regenerates the full-size models; seconds when all is there), then the
# Rust tests with both JPEG decoders, the API docs, the own-allocator example, the C ffi-tests
# (stress, examples; valgrind beside the Python packages) and the Python packages on 2.7, 3.7
# and 3.11. Each part prints its own summary; the script stops at the
# first failing part. EDGECLASS_SKIP_SETUP=1 skips the set-up step.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${EDGECLASS_SKIP_SETUP:-0}" != 1 ]; then
    echo "== set-up (scripts/setup.sh)"
    scripts/setup.sh
fi
# In CI the full-size goldens must run, not be skipped.
if [ "${CI:-}" = "true" ]; then export EDGECLASS_REQUIRE_FULL_MODELS=1; fi
echo "== Rust tests (default features: zune-jpeg, heap accounting)"
# The .so and .a first (cargo test builds only the rlib): tests/serve.rs reads them, and
# refuses artefacts older than src/ (a no-op after setup.sh's build).
cargo build --release --locked
cargo test --release --locked
echo "== packaging: the systemd unit and the Greengrass v2 component against edgeclass serve"
python3 tests/packaging/test_packaging.py
echo "== Rust API docs: every public item documented, every intra-doc link resolves"
RUSTDOCFLAGS="-D warnings -D missing-docs -D rustdoc::broken-intra-doc-links" cargo doc --no-deps --locked
echo "== the Rust example with its own #[global_allocator] (edgeclass without default features)"
# multithread kept: another tract feature set would rebuild all of tract (minutes).
out=$(cargo run --release --locked --no-default-features --features multithread --example own_allocator)
echo "$out"
# The label in the image's name is the reference; the program's allocator must be the one used.
grep -q 'digit07_label3_28x28.png: class 3 ' <<<"$out" && grep -q "allocator: this program's" <<<"$out" ||
    { echo "own_allocator: unexpected output" >&2; exit 1; }
echo "== C ffi-tests against libedgeclass.so and .a, stress, examples"
FFI_VALGRIND=0 ffi-tests/run.sh
# The valgrind run keeps one core busy for about 3 minutes: it goes beside the Python tests
# (its own build folder and log, printed after them; it fails the run like any part).
echo "== C ffi-tests under valgrind: started in the background (log target/ffi-valgrind.log)"
mkdir -p target
FFI_VALGRIND=only FFI_BUILD_DIR=target/ffi-valgrind ffi-tests/run.sh >target/ffi-valgrind.log 2>&1 &
valgrind_pid=$!
echo "== Python packages (2.7.18, 3.7.16, 3.11)"
python_rc=0
ffi-tests/python/run.sh || python_rc=$?
echo "== C ffi-tests under valgrind: its log"
valgrind_rc=0
wait "$valgrind_pid" || valgrind_rc=$?
cat target/ffi-valgrind.log
[ "$valgrind_rc" = 0 ] || { echo "ffi-tests under valgrind failed (exit status $valgrind_rc)" >&2; exit 1; }
[ "$python_rc" = 0 ] || { echo "Python packages failed (exit status $python_rc)" >&2; exit 1; }
echo "== Rust tests with the bit-exact libjpeg-turbo decoder: every JPEG tensor must equal MXNet's"
cargo test --release --locked --features jpeg-turbo --test end_to_end --test image_decode --test image_resize --test decode_layouts
