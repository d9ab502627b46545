#!/usr/bin/env bash
# Check the release artefacts in dist/ (scripts/release.sh makes them; CI runs this on them).
#
#   scripts/check-dist.sh [DIST]
#
# For every tarball and wheel: each ELF file inside (the .so, the CLI; the .a is an archive of
# relocatable objects, whose symbols get their versions when a program links it)
#   * needs no GLIBC_ symbol version above 2.17. A version needed only by weak references is
#     allowed when the loader treats it as optional: readelf -V must show its entry flagged WEAK
#     (glibc's loader then only warns when the version is missing; e.g. Rust std's
#     __cxa_thread_atexit_impl@GLIBC_2.18, which it looks for and does without);
#   * NEEDs only libc, libm, libpthread, libdl, librt, libgcc_s and the loader;
#   * the library's SONAME is libedgeclass.so.<C ABI version>.
# The tarball's .pc files and the wheel's metadata carry Cargo.toml's version; `auditwheel show`
# (PyPI's) must print the wheel's own manylinux tag; SHA256SUMS must match. Prints, per file, its
# size and highest GLIBC version. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${1:-dist}
FLOOR=2.17
TOOLS=${EDGECLASS_RELEASE_TOOLS:-$HOME/.cache/edgeclass/release-tools}
[ -x "$TOOLS/bin/auditwheel" ] && export PATH="$TOOLS/bin:$PATH"
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
ABI=$(sed -n 's/^#define EDGECLASS_ABI_VERSION \([0-9]*\)$/\1/p' include/edgeclass.h)
ALLOWED_NEEDED='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libgcc_s\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-armhf\.so\.3|ld-linux-aarch64\.so\.1)$'

failures=0
fail() {
    echo "FAIL $*"
    failures=$((failures + 1))
}

# version_gt A B: A > B as dotted numbers
version_gt() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]; }

check_elf() { # FILE LABEL
    local f=$1 label=$2 needed max=0 bad=() name flags v
    needed=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    for n in $needed; do
        [[ "$n" =~ $ALLOWED_NEEDED ]] || fail "$label: NEEDED $n"
    done
    # Version needs: "Name: GLIBC_2.18  Flags: WEAK  Version: 7" lines of readelf -V.
    while read -r name flags; do
        v=${name#GLIBC_}
        version_gt "$v" "$max" && max=$v
        if version_gt "$v" "$FLOOR"; then
            if [ "$flags" = WEAK ]; then
                echo "     $label: needs $name weakly (optional to the loader): $(
                    objdump -T "$f" | awk -v n="$name" '$0 ~ n {print $NF}' | tr '\n' ' ')"
            else
                bad+=("$name")
            fi
        fi
    done < <(readelf -V "$f" | sed -n 's/.*Name: \(GLIBC_[0-9.]*\) *Flags: \([A-Za-z]*\).*/\1 \2/p')
    if [ ${#bad[@]} -gt 0 ]; then
        fail "$label: needs ${bad[*]} (floor $FLOOR): $(objdump -T "$f" |
            grep -E "$(printf '%s|' "${bad[@]}" | sed 's/|$//')" | awk '{print $NF}' | tr '\n' ' ')"
    fi
    printf '  %-58s %9s bytes  max GLIBC_%s  NEEDED %s\n' "$label" "$(stat -c %s "$f")" "$max" \
        "$(echo $needed | tr ' ' ',')"
}

# The CLI classifies a digit (class 3): natively, or under qemu-user (cross/ci.sh installs it)
# with the same runners as .cargo/config.toml.
smoke_cli() { # CLI NAME
    local run=() q= sysroot=
    case "$2" in
    *-x86_64-*) [ "$(uname -m)" = x86_64 ] || return 0 ;;
    *-armv7l-*)
        q=qemu-arm sysroot=/usr/arm-linux-gnueabihf
        run=(env TRACT_CPU_ARM32_NEON=true qemu-arm -L "$sysroot")
        ;;
    *-aarch64-*)
        q=qemu-aarch64 sysroot=/usr/aarch64-linux-gnu
        run=(qemu-aarch64 -cpu cortex-a72 -L "$sysroot")
        ;;
    esac
    if [ -n "$q" ] && { ! command -v "$q" >/dev/null || [ ! -d "$sysroot/lib" ]; }; then
        echo "  (no $q or $sysroot here: the CLI was not run)"
        return 0
    fi
    local out
    if out=$("${run[@]}" "$1" classify --model tests/fixtures/tiny-trained --top 1 \
        tests/fixtures/tiny-trained/images/digit07_label3_28x28.png 2>&1) && [[ "$out" == *'class 3 "3"'* ]]; then
        echo "  bin/edgeclass classify: $out"
    else
        fail "$2: bin/edgeclass classify: $out"
    fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shopt -s nullglob
tarballs=("$DIST"/edgeclass-*.tar.gz)
wheels=("$DIST"/edgeclass-*.whl)
[ ${#tarballs[@]} -gt 0 ] || [ ${#wheels[@]} -gt 0 ] || { echo "check-dist: nothing in $DIST" >&2; exit 1; }

echo "== SHA256SUMS"
(cd "$DIST" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS"

for tgz in "${tarballs[@]}"; do
    name=$(basename "$tgz" .tar.gz)
    echo "== $name.tar.gz ($(stat -c %s "$tgz") bytes)"
    tar -C "$work" -xzf "$tgz"
    tree=$work/$name
    for f in bin/edgeclass lib/libedgeclass.so.$ABI lib/libedgeclass.a include/edgeclass.h \
        lib/pkgconfig/edgeclass.pc lib/pkgconfig/edgeclass-static.pc README.md CHANGELOG.md \
        LICENSE-MIT LICENSE-APACHE THIRD-PARTY-NOTICES.md; do
        [ -f "$tree/$f" ] || fail "$name: $f missing"
    done
    [ "$(readlink "$tree/lib/libedgeclass.so")" = "libedgeclass.so.$ABI" ] ||
        fail "$name: lib/libedgeclass.so is not a link to libedgeclass.so.$ABI"
    soname=$(readelf -d "$tree/lib/libedgeclass.so.$ABI" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = "libedgeclass.so.$ABI" ] || fail "$name: SONAME '$soname'"
    cmp -s include/edgeclass.h "$tree/include/edgeclass.h" || fail "$name: edgeclass.h differs from include/"
    for pc in edgeclass edgeclass-static; do
        v=$(PKG_CONFIG_PATH=$tree/lib/pkgconfig pkg-config --modversion "$pc")
        [ "$v" = "$VERSION" ] || fail "$name: $pc.pc version '$v', Cargo.toml $VERSION"
    done
    check_elf "$tree/lib/libedgeclass.so.$ABI" "$name/lib/libedgeclass.so.$ABI"
    check_elf "$tree/bin/edgeclass" "$name/bin/edgeclass"
    smoke_cli "$tree/bin/edgeclass" "$name"
    printf '  %-58s %9s bytes\n' "$name/lib/libedgeclass.a" "$(stat -c %s "$tree/lib/libedgeclass.a")"
done

for whl in "${wheels[@]}"; do
    base=$(basename "$whl" .whl)
    echo "== $base.whl ($(stat -c %s "$whl") bytes)"
    # edgeclass-VERSION-py2.py3-none-manylinux_2_17_ARCH.manylinux2014_ARCH
    IFS=- read -r _ wv py abi plat <<<"$base"
    [ "$wv" = "$VERSION" ] || fail "$base: version $wv, Cargo.toml $VERSION"
    [ "$py-$abi" = "py2.py3-none" ] || fail "$base: tags $py-$abi"
    unpacked=$work/$base
    mkdir -p "$unpacked"
    python3 -m zipfile -e "$whl" "$unpacked"
    for f in edgeclass/__init__.py edgeclass/libedgeclass.so greengrass_machine_learning_sdk/__init__.py \
        "edgeclass-$VERSION.dist-info/LICENSE-MIT" "edgeclass-$VERSION.dist-info/LICENSE-APACHE" \
        "edgeclass-$VERSION.dist-info/THIRD-PARTY-NOTICES.md"; do
        [ -f "$unpacked/$f" ] || fail "$base: $f missing"
    done
    pv=$(sed -n "s/^__version__ = '\(.*\)'$/\1/p" "$unpacked/edgeclass/__init__.py")
    [ "$pv" = "$VERSION" ] || fail "$base: edgeclass.__version__ '$pv', Cargo.toml $VERSION"
    check_elf "$unpacked/edgeclass/libedgeclass.so" "$base/edgeclass/libedgeclass.so"
    first_plat=${plat%%.*}
    shown=$(auditwheel show "$whl" 2>&1) || { echo "$shown"; fail "$base: auditwheel show"; continue; }
    # auditwheel prints: is consistent with the following platform tag: "manylinux_2_17_x86_64".
    tag=$(echo "$shown" | tr -d '\n' | sed -n 's/.*following platform tag: *"\([^"]*\)".*/\1/p')
    echo "  auditwheel show: $tag"
    [ "$tag" = "$first_plat" ] || { echo "$shown"; fail "$base: auditwheel says '$tag', the wheel is $first_plat"; }
done

if [ "$failures" -gt 0 ]; then
    echo "check-dist: $failures failure(s)"
    exit 1
fi
echo "check-dist: every file in $DIST passed"
