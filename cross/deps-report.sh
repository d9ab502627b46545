#!/usr/bin/env bash
# What the shipped artefacts need from the system, per target: a Markdown table for the README
# (the connector needed MXNet, numpy, OpenCV and per-platform BLAS/Fortran libraries; edgeclass
# should need only the C runtime).
#
#   cross/deps-report.sh [--no-build] [TARGET...]
#       default targets: x86_64-unknown-linux-gnu armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu
#       --no-build: measure what $CARGO_TARGET_DIR/TARGET/$DEPS_PROFILE already holds
#   DEPS_PROFILE=release  measure another profile's artefacts (CI checks NEEDED and the glibc
#                         floor on cross/run.sh's release builds with --no-build, sparing the
#                         dist builds; the sizes in the README come from the dist profile)
#
# Builds with `cargo build --profile dist` (Cargo.toml: one codegen unit, stripped, no LTO,
# unwinding kept) and reports, per artefact:
#   * the stripped size (libedgeclass.a: after strip --strip-debug; an archive keeps its symbols)
#   * NEEDED: the shared libraries the dynamic loader must find
#   * the highest GLIBC_ and GCC_ (libgcc_s) symbol versions required, i.e. the oldest glibc the
#     artefact runs on, with the symbols that require that version
# An archive records neither NEEDED nor symbol versions: those come at link time. So the
# libedgeclass.a row measures a C program linked with the whole archive (-Wl,--whole-archive,
# the native libraries rustc lists for a linux-gnu staticlib, --as-needed): what a C user's
# program built against it will need.
#
# The table goes to stdout and to $CARGO_TARGET_DIR/cross-deps-report.md; build output to stderr.
# Exits non-zero when an artefact NEEDs a library beyond libc, libm, libpthread, libdl, libgcc_s
# and the dynamic loader.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")
export CARGO_TARGET_DIR=$TARGET_DIR
cd "$ROOT"

build=1
PROFILE=${DEPS_PROFILE:-dist}
if [ "${1:-}" = --no-build ]; then
    build=0
    shift
fi
if [ $# -gt 0 ]; then
    TARGETS=("$@")
else
    TARGETS=(x86_64-unknown-linux-gnu armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu)
fi

tool_prefix() {
    case $1 in
    x86_64-unknown-linux-gnu) echo "" ;; # the host's binutils and gcc
    armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf- ;;
    aarch64-unknown-linux-gnu) echo aarch64-linux-gnu- ;;
    *) echo "deps-report: unknown target $1" >&2 && return 1 ;;
    esac
}
# rustc --print native-static-libs for a linux-gnu staticlib (the same list ffi-tests/run.sh uses).
STATIC_LIBS=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
ALLOWED='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|libgcc_s\.so\.1|ld-linux[-a-z0-9_]*\.so\.[0-9]+)$'

if [ "$build" = 1 ]; then
    flags=()
    for t in "${TARGETS[@]}"; do flags+=(--target "$t"); done
    # x86_64 too with an explicit --target, so its artefacts sit beside the others' in
    # TARGET/dist and do not mix with the host build's.
    echo "deps-report: cargo build --profile $PROFILE --locked ${flags[*]}" >&2
    start=$SECONDS
    cargo build --profile "$PROFILE" --locked "${flags[@]}" >&2
    echo "deps-report: built in $((SECONDS - start)) s" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

needed() { # needed ELF: NEEDED entries, comma-separated
    "${READELF}" -dW "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd, | sed 's/,/, /g'
}
max_version() { # max_version ELF PREFIX: the highest PREFIX_x.y required, e.g. GLIBC_2.34 (or nothing)
    # None is an answer: the release's zig-linked artefacts need no GCC_ version (no libgcc_s).
    "${READELF}" -VW "$1" | { grep -o "Name: $2_[0-9.]*" || true; } | sed 's/^Name: //' | sort -uV | tail -n 1
}
symbols_of() { # symbols_of ELF VERSION: up to 3 undefined symbols bound to VERSION
    "${OBJDUMP}" -T "$1" | awk -v v="$2" '$0 ~ /\*UND\*/ && ($(NF - 1) == v || $(NF - 1) == "(" v ")") { print $NF }' |
        sort -u | head -n 3 | paste -sd, | sed 's/,/, /g'
}
size_of() { # human size of a file: MiB with one decimal
    awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MiB", b / 1048576 }'
}

bad=()
rows=()
for t in "${TARGETS[@]}"; do
    p=$(tool_prefix "$t")
    READELF=${p}readelf OBJDUMP=${p}objdump STRIP=${p}strip CC=${p}gcc
    [ -n "$p" ] || CC=cc
    dir=$TARGET_DIR/$t/$PROFILE
    for artefact in libedgeclass.so libedgeclass.a edgeclass; do
        f=$dir/$artefact
        [ -f "$f" ] || { echo "deps-report: $f is missing (run without --no-build)" >&2 && exit 1; }
        copy=$work/$t-$artefact
        cp "$f" "$copy"
        if [ "$artefact" = libedgeclass.a ]; then
            "$STRIP" --strip-debug "$copy"
            size=$(size_of "$copy")
            # The program a C user would build: every object of the archive linked in.
            elf=$work/$t-static-user
            printf 'int main(void) { return 0; }\n' >"$work/main.c"
            "$CC" -o "$elf" "$work/main.c" -Wl,--as-needed \
                -Wl,--whole-archive "$copy" -Wl,--no-whole-archive "${STATIC_LIBS[@]}" \
                -Wl,-z,noexecstack
            label="\`$artefact\` (C program linked with it)"
        else
            # dist already strips; strip --strip-all again so the number holds for any build.
            "$STRIP" --strip-all "$copy"
            size=$(size_of "$copy")
            elf=$copy
            label="\`$artefact\`"
        fi
        libs=$(needed "$elf")
        for lib in ${libs//,/ }; do
            [[ $lib =~ $ALLOWED ]] || bad+=("$t $artefact: NEEDED $lib")
        done
        glibc=$(max_version "$elf" GLIBC)
        gcc=$(max_version "$elf" GCC)
        gsyms=$([ -n "$glibc" ] && symbols_of "$elf" "$glibc" || true)
        gcsyms=$([ -n "$gcc" ] && symbols_of "$elf" "$gcc" || true)
        rows+=("| \`$t\` | $label | $size | $libs | ${glibc:-none}${gsyms:+ ($gsyms)} | ${gcc:-none}${gcsyms:+ ($gcsyms)} |")
        # The assembly kernels carry no .note.GNU-stack: the link must still give a
        # non-executable stack.
        if "$READELF" -lW "$elf" | grep GNU_STACK | grep -q RWE; then
            bad+=("$t $artefact: executable stack")
        fi
    done
done

report=$TARGET_DIR/cross-deps-report.md
{
    echo "| target | artefact | size (stripped) | NEEDED | highest GLIBC_ (symbols needing it) | highest GCC_ (symbols needing it) |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Built with \`cargo build --profile $PROFILE\` ($(rustc --version | cut -d' ' -f1-2)) against $(ldd --version | head -n 1 | sed 's/^ldd //')."
    echo "The GLIBC_ floor is the build machine's: linking against glibc 2.34+ binds pthread_* to libc"
    echo "(GLIBC_2.34) and 2.35+ binds hypot/hypotf to GLIBC_2.35. Older systems need a build against"
    echo "an older glibc (an older Debian, or a sysroot), not a code change."
} | tee "$report"
if [ ${#bad[@]} -gt 0 ]; then
    echo "deps-report: FAILED:" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
fi
