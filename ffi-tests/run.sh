#!/usr/bin/env bash
# Build and run the C tests of edgeclass's C ABI (ffi-tests/) and the C examples (examples-c/).
#
# Every step below counts in the closing line "N passed, M failed" (the test programs count one
# per test function); the script exits non-zero when anything failed.
#   1. the library: cargo build --release --lib (skipped when EDGECLASS_LIB_DIR names a built one)
#   2. include/edgeclass.h compiles on its own as C99 (and as C++ when a C++ compiler is there)
#   3. the ffi_tests program (ffi_tests.c, the topic files test_*.c, support.c, check.c; cases.h
#      names its fixtures) and stress.c, compiled against libedgeclass.so and libedgeclass.a
#   4. ffi_tests run against both libraries, then once under valgrind (0 errors, 0 bytes
#      definitely lost), the stress program once
#   5. examples-c: built shared, static and through pkg-config (after scripts/install.sh into a
#      scratch prefix); classify run on a fixture image and its output checked against MXNet's
#
# Environment:
#   CC                     C compiler (default cc); CXX for the C++ header check (default c++)
#   FFI_RUNNER             prefix for running the compiled programs, e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu"
#                          (valgrind and the C++ check are skipped then)
#   EDGECLASS_LIB_DIR      directory with libedgeclass.so and .a (default ${CARGO_TARGET_DIR:-target}/release)
#   EDGECLASS_STATIC_LIBS  native libraries for the static link (default: rustc's list for linux-gnu)
#   EDGECLASS_INCLUDE_DIR  directory of edgeclass.h (default include)
#   FFI_BUILD_DIR          where the generated header and the programs go (default ffi-tests/build)
#   FFI_VALGRIND=0         skip the valgrind run
#   FFI_VALGRIND=only      only the valgrind run (and what it needs built): scripts/test.sh runs it
#                          beside the Python tests, as it uses one core for minutes
#   FFI_ONLY=substring     run only the C tests whose name contains it
#   FFI_STATIC_RUN=0       build and link the tests against libedgeclass.a but run them only against the .so
#   FFI_STRESS=0           build the stress program but do not run it
#   FFI_TIME_SCALE=N       the programs run N times slower than native (emulated): services' timeout and
#                          wall-clock bounds x N (cross/run.sh sets 40 under qemu)
#   EDGECLASS_REQUIRE_FULL_MODELS=1  tests that use tests/fixtures/full fail instead of skipping
#   CARGO_TARGET_DIR       honoured by cargo as usual
set -euo pipefail
cd "$(dirname "$0")/.." # the repository root: all paths below are relative to it

# CC and CXX may carry flags ("zig cc -target aarch64-linux-gnu"): split them into words.
read -r -a CCV <<<"${CC:-cc}"
read -r -a CXXV <<<"${CXX:-c++}"
read -r -a RUNNER <<<"${FFI_RUNNER:-}"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
LIB_DIR=${EDGECLASS_LIB_DIR:-$TARGET_DIR/release}
BUILD=${FFI_BUILD_DIR:-ffi-tests/build}
# `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs` on linux-gnu.
read -r -a STATIC_LIBS <<<"${EDGECLASS_STATIC_LIBS:--lgcc_s -lutil -lrt -lpthread -lm -ldl -lc}"
# tract-linalg's assembly objects lack .note.GNU-stack: without this the static programs would
# get an executable stack (checked below).
NOEXECSTACK=-Wl,-z,noexecstack
# _FILE_OFFSET_BITS=64: on 32-bit ARM, readdir() without it fails (EOVERFLOW) on filesystems with
# 64-bit inode numbers, and the feedback tests list spool directories.
CFLAGS=(-std=c99 -Wall -Wextra -Werror -pthread -O2 -g -D_FILE_OFFSET_BITS=64)
FIXTURES=tests/fixtures

passed=0
failed=0
pass() {
    passed=$((passed + 1))
    echo "PASS $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL $*"
}
finish() {
    echo "$passed passed, $failed failed"
    if [ "$failed" -eq 0 ]; then
        exit 0
    fi
    exit 1
}

mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd) # absolute: the programs and make run from other directories

# 1. The library.
if [ -z "${EDGECLASS_LIB_DIR:-}" ]; then
    if cargo build --release --lib; then
        pass "library: cargo build --release --lib"
    else
        fail "library: cargo build --release --lib"
        finish
    fi
fi
for f in "$LIB_DIR/libedgeclass.so" "$LIB_DIR/libedgeclass.a"; do
    if [ ! -f "$f" ]; then
        fail "library: $f is missing"
        finish
    fi
done
LIB_DIR=$(cd "$LIB_DIR" && pwd)

# 2. The header on its own, as a C99 program and a C++ one would include it.
HDR_DIR=$(cd "${EDGECLASS_INCLUDE_DIR:-include}" && pwd)
printf '#include "edgeclass.h"\nint main(void) { return edgeclass_abi_version() == EDGECLASS_ABI_VERSION ? 0 : 1; }\n' >"$BUILD/header_only.c"
if "${CCV[@]}" "${CFLAGS[@]}" -pedantic -I"$HDR_DIR" -c "$BUILD/header_only.c" -o "$BUILD/header_only.o" 2>"$BUILD/header_c.log"; then
    pass "header: $HDR_DIR/edgeclass.h compiles as C99 (-pedantic)"
else
    fail "header: $HDR_DIR/edgeclass.h does not compile as C99:"
    sed 's/^/    /' "$BUILD/header_c.log" | head -n 8
fi
if [ ${#RUNNER[@]} -eq 0 ] && command -v "${CXXV[0]}" >/dev/null 2>&1; then
    cp "$BUILD/header_only.c" "$BUILD/header_only.cpp"
    if "${CXXV[@]}" -std=c++11 -Wall -Wextra -Werror -pedantic -I"$HDR_DIR" -c "$BUILD/header_only.cpp" -o "$BUILD/header_only_cpp.o" 2>"$BUILD/header_cpp.log"; then
        pass "header: $HDR_DIR/edgeclass.h compiles as C++11"
    else
        fail "header: $HDR_DIR/edgeclass.h does not compile as C++11:"
        sed 's/^/    /' "$BUILD/header_cpp.log" | head -n 6
    fi
fi

# 3. Expected values from the fixtures (C cannot read JSON), then the programs.
if ! command -v python3 >/dev/null 2>&1; then
    fail "python3 is needed to read the fixtures' goldens"
    finish
fi
python3 ffi-tests/gen_expected.py "$FIXTURES" "$BUILD/fixtures_gen.h"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
INC=(-I"$HDR_DIR" -Iffi-tests -I"$BUILD")
build() { # build NAME "SOURCES" shared|static [extra cflags...]
    local name=$1 kind=$3 src
    read -r -a src <<<"$2"
    shift 3
    local link
    if [ "$kind" = shared ]; then
        link=(-L"$LIB_DIR" -ledgeclass -Wl,-rpath,"$LIB_DIR")
    else
        link=("$LIB_DIR/libedgeclass.a" "${STATIC_LIBS[@]}" "$NOEXECSTACK")
    fi
    if "${CCV[@]}" "${CFLAGS[@]}" "${INC[@]}" "$@" "${src[@]}" -o "$BUILD/$name" "${link[@]}"; then
        pass "build: $name ($kind)"
        return 0
    fi
    fail "build: $name ($kind)"
    return 1
}
V=-DEXPECTED_VERSION="\"$version\""
FFI_SOURCES="ffi-tests/ffi_tests.c $(echo ffi-tests/test_*.c) ffi-tests/support.c ffi-tests/check.c"
STRESS_SOURCES="ffi-tests/stress.c ffi-tests/check.c"
VALGRIND_ONLY=0
[ "${FFI_VALGRIND:-1}" = only ] && VALGRIND_ONLY=1
build ffi_tests_shared "$FFI_SOURCES" shared "$V" && have_shared=1 || have_shared=0
have_static=0 have_stress=0
if [ "$VALGRIND_ONLY" = 0 ]; then
    build ffi_tests_static "$FFI_SOURCES" static "$V" && have_static=1
    build stress_shared "$STRESS_SOURCES" shared && have_stress=1
    build stress_static "$STRESS_SOURCES" static || true
fi

if [ "$have_static" = 1 ] && command -v "${READELF:-readelf}" >/dev/null 2>&1; then
    if "${READELF:-readelf}" -lW "$BUILD/ffi_tests_static" | grep GNU_STACK | grep -q RWE; then
        fail "static link: the program has an executable stack"
    else
        pass "static link: non-executable stack"
    fi
fi

# 4. Run. A test program prints "RESULT passed=N failed=M skipped=K"; its tests count one each.
run_tests() { # run_tests LABEL LOG [env...] -- COMMAND...
    local label=$1 log=$2
    shift 2
    local envs=()
    while [ "$1" != -- ]; do
        envs+=("$1")
        shift
    done
    shift
    local start=$SECONDS rc=0
    echo "=== $label"
    env "${envs[@]}" "$@" >"$log" 2>&1 || rc=$?
    grep -v '^RESULT ' "$log" || true
    local result p f
    result=$(grep '^RESULT ' "$log" | tail -n 1 || true)
    if [ -z "$result" ]; then
        fail "$label: no RESULT line (exit status $rc: crashed?)"
        return 1
    fi
    p=$(sed -n 's/^RESULT passed=\([0-9]*\).*/\1/p' <<<"$result")
    f=$(sed -n 's/^RESULT passed=[0-9]* failed=\([0-9]*\).*/\1/p' <<<"$result")
    passed=$((passed + p))
    failed=$((failed + f))
    echo "--- $label: $p passed, $f failed ($((SECONDS - start)) s)"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        fail "$label: exit status $rc"
        return 1
    fi
    return 0
}

[ "$have_shared" = 1 ] && [ "$VALGRIND_ONLY" = 0 ] && run_tests "ffi_tests (libedgeclass.so)" "$BUILD/ffi_tests_shared.log" \
    EDGECLASS_FIXTURES="$FIXTURES" -- "${RUNNER[@]}" "$BUILD/ffi_tests_shared" || true
if [ "${FFI_STATIC_RUN:-1}" = 0 ]; then
    echo "SKIP ffi_tests (libedgeclass.a): built and linked above, not run (FFI_STATIC_RUN=0)"
    have_static=0
fi
[ "$have_static" = 1 ] && run_tests "ffi_tests (libedgeclass.a)" "$BUILD/ffi_tests_static.log" \
    EDGECLASS_FIXTURES="$FIXTURES" -- "${RUNNER[@]}" "$BUILD/ffi_tests_static" || true

# Valgrind: every n-th case of the long loops, no full-size models, fewer requests per thread
# (a tiny-model open takes seconds under valgrind); the full set ran just above.
if [ "${FFI_VALGRIND:-1}" = 0 ] || [ ${#RUNNER[@]} -ne 0 ]; then
    echo "SKIP valgrind (FFI_VALGRIND=0 or FFI_RUNNER set)"
elif ! command -v valgrind >/dev/null 2>&1; then
    fail "valgrind is not installed"
elif [ "$have_shared" = 1 ]; then
    vlog=$BUILD/valgrind.log
    run_tests "ffi_tests under valgrind" "$BUILD/ffi_tests_valgrind.log" \
        EDGECLASS_FIXTURES="$FIXTURES" FFI_TESTS_QUICK=1 FFI_TESTS_FULL_MODELS=0 FFI_TESTS_REQUESTS=2 -- \
        valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
        --log-file="$vlog" "$BUILD/ffi_tests_shared" || true
    if grep -q 'ERROR SUMMARY: 0 errors' "$vlog" &&
        { grep -q 'definitely lost: 0 bytes' "$vlog" || grep -q 'All heap blocks were freed' "$vlog"; }; then
        pass "valgrind: 0 errors, 0 bytes definitely lost"
    else
        fail "valgrind: $(grep -h 'ERROR SUMMARY\|definitely lost:' "$vlog" | sed 's/^==[0-9]*== *//' | tr '\n' ' ')(see $vlog)"
    fi
fi

if [ "${FFI_STRESS:-1}" = 0 ]; then
    echo "stress: built, not run (FFI_STRESS=0)"
elif [ "$have_stress" = 1 ]; then
    run_tests "stress (libedgeclass.so)" "$BUILD/stress.log" \
        EDGECLASS_FIXTURES="$FIXTURES" -- "${RUNNER[@]}" "$BUILD/stress_shared" || true
fi

[ "$VALGRIND_ONLY" = 1 ] && finish

# 5. The examples. classify's output must be MXNet's answer for a PNG digit (exact decode).
image=$FIXTURES/tiny-trained/images/digit07_label3_28x28.png
check_example() { # check_example LABEL PROGRAM [env...]
    local label=$1 prog=$2
    shift 2
    local out=$BUILD/$label.out
    if env "$@" "${RUNNER[@]}" "$prog" "$FIXTURES/tiny-trained" "$image" >"$out" 2>&1 &&
        python3 ffi-tests/check_classify.py "$FIXTURES" tiny-trained/images/digit07_label3_28x28.png <"$out"; then
        pass "example: $label classifies $image as MXNet does"
    else
        fail "example: $label output:"
        sed 's/^/    /' "$out"
    fi
    # A file that is not an image: exit status 1 and the status name with the message.
    if ! env "$@" "${RUNNER[@]}" "$prog" "$FIXTURES/tiny-trained" "$FIXTURES/images/text_file.png" >"$out" 2>&1 &&
        grep -q 'EDGECLASS_UNSUPPORTED_IMAGE_FORMAT: ' "$out"; then
        pass "example: $label reports a bad image with its status and message"
    else
        fail "example: $label on a bad image:"
        sed 's/^/    /' "$out"
    fi
}
MAKEVARS=(CC="${CCV[*]}" EDGECLASS_LIB_DIR="$LIB_DIR" EDGECLASS_INCLUDE="$HDR_DIR" OUT="$BUILD"
    STATIC_LIBS="${STATIC_LIBS[*]}")
for kind in shared static; do
    if make --no-print-directory -C examples-c -B "${MAKEVARS[@]}" "$BUILD/classify-$kind"; then
        pass "example: build classify-$kind"
        check_example "classify-$kind" "$BUILD/classify-$kind"
    else
        fail "example: build classify-$kind"
    fi
done
# Installed with scripts/install.sh, found with pkg-config.
if command -v pkg-config >/dev/null 2>&1; then
    prefix=$BUILD/prefix
    rm -rf "$prefix"
    if EDGECLASS_LIB_DIR="$LIB_DIR" scripts/install.sh "$prefix" &&
        PKG_CONFIG_PATH="$prefix/lib/pkgconfig" make --no-print-directory -C examples-c -B "${MAKEVARS[@]}" \
            "$BUILD/classify-pkgconfig"; then
        pass "example: scripts/install.sh + pkg-config build"
        check_example classify-pkgconfig "$BUILD/classify-pkgconfig" LD_LIBRARY_PATH="$prefix/lib"
    else
        fail "example: scripts/install.sh + pkg-config build"
    fi
else
    echo "SKIP pkg-config example (pkg-config not installed)"
fi

finish
