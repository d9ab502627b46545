#!/usr/bin/env bash
# Sanitizers and checkers (issue 9). Each mode prints its own summary; the exit status is non-zero
# when a mode failed.
#
#   scripts/sanitize.sh [c] [rust] [miri]      default: all three
#
#   c     the C ffi-tests (ffi-tests/run.sh: unit tests, stress, examples), compiled with gcc's
#         AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer), against the release
#         library (valgrind covers the library's own accesses in scripts/test.sh; ASan checks the
#         C side's use of every pointer the library hands out, and LSan every allocation, the
#         library's included, since its heap is malloc's)
#   rust  the Rust test suites that handle hostile input, the service and its threads, compiled
#         with -Zsanitizer=address (nightly) so the library's own code is instrumented
#   miri  `cargo +nightly miri test` over the pure parsers on small inputs (tests/parsers_small.rs:
#         .params, symbol JSON, EXIF, resize) and the parsers' unit tests
#
# Installs the nightly toolchain when missing; `miri` adds the miri and rust-src components.
# Build directories: target-asan (rust), target/miri (miri), target/asan-ffi (c).
set -euo pipefail
cd "$(dirname "$0")/.."

modes=("$@")
# A fresh machine may lack nightly (the machine image ships one; rustup fetches it otherwise).
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
[ ${#modes[@]} -gt 0 ] || modes=(c rust miri)
host=$(rustc -vV | sed -n 's/^host: //p')
failed=()

for mode in "${modes[@]}"; do
    start=$SECONDS
    echo "== sanitize: $mode"
    case $mode in
    c)
        target_dir=${CARGO_TARGET_DIR:-target}
        cargo build --release --locked --lib
        # halt_on_error/-fno-sanitize-recover: the first finding fails the program (and the test).
        # The library's statics (registry, thread pools) are reachable, so LSan does not report
        # them; anything unreachable at exit is a leak and fails.
        if env CC="gcc -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
            ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1" \
            UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
            FFI_VALGRIND=0 FFI_BUILD_DIR="$target_dir/asan-ffi" \
            EDGECLASS_LIB_DIR="$target_dir/release" \
            ffi-tests/run.sh; then
            echo "sanitize c: ok ($((SECONDS - start)) s)"
        else
            failed+=(c)
        fi
        ;;
    rust)
        # Only the host target is instrumented (build scripts and proc-macros run uninstrumented),
        # hence the explicit --target. The suites: hostile models and images, the parsers, the
        # ops, the service (threads, deadlines, cancels, chaos) and feedback.
        if env RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
            ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1" \
            CARGO_TARGET_DIR="${ASAN_TARGET_DIR:-target-asan}" \
            cargo +nightly test --release --locked --target "$host" \
            --lib --test hostile_models --test parsers_small --test image_decode \
            --test image_resize --test mxnet_ops --test model_goldens --test service \
            --test service_chaos --test feedback; then
            echo "sanitize rust: ok ($((SECONDS - start)) s)"
        else
            failed+=(rust)
        fi
        ;;
    miri)
        rustup component list --toolchain nightly --installed | grep -q '^miri' ||
            rustup component add --toolchain nightly miri rust-src
        # The tests read fixture files: isolation off. The unit tests of the .params and symbol
        # readers run too (model::mxnet); the rest of the library needs tract, too slow here.
        # Without `serve`: it adds no library code, only the daemon's crates (tokio, hyper) for
        # the CLI, which cargo builds beside the tests.
        miri_features=(--no-default-features --features heap-accounting)
        if env MIRIFLAGS="-Zmiri-disable-isolation" \
            cargo +nightly miri test --locked "${miri_features[@]}" --test parsers_small &&
            env MIRIFLAGS="-Zmiri-disable-isolation" \
                cargo +nightly miri test --locked "${miri_features[@]}" --lib -- model::mxnet; then
            echo "sanitize miri: ok ($((SECONDS - start)) s)"
        else
            failed+=(miri)
        fi
        ;;
    *)
        echo "sanitize.sh: unknown mode $mode (c, rust, miri)" >&2
        exit 2
        ;;
    esac
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "sanitize.sh: FAILED: ${failed[*]}"
    exit 1
fi
echo "sanitize.sh: all passed (${modes[*]})"
