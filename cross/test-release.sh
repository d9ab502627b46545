#!/usr/bin/env bash
# The ARM release artefacts in dist/ (scripts/release.sh armv7 aarch64), used as a board would,
# under qemu-user:
#   * the wheel, installed with pip into Debian 12's own armhf / arm64 Python 3.11 (its packages
#     unpacked into a sysroot: python3, python3-numpy, python3-pip), runs the seed's Lambda
#     (python/wheel_check.py) against MXNet's goldens: no source tree, no EDGECLASS_LIBRARY;
#   * the tarball, unpacked: examples-c/classify.c built with the cross compiler through its
#     edgeclass.pc (rpath, no LD_LIBRARY_PATH) and edgeclass-static.pc, and run.
#
#   cross/test-release.sh [armv7|aarch64...]      default: both
#
# Needs qemu-user and Debian's cross gcc (cross/ci.sh installs them). The sysroots are made once
# under $EDGECLASS_SYSROOTS (default ~/.cache/edgeclass/sysroots) with apt-get in a private
# state folder: the machine's own dpkg is not told about foreign architectures.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DIST=${DIST:-dist}
ROOTS=${EDGECLASS_SYSROOTS:-$HOME/.cache/edgeclass/sysroots}
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(armv7 aarch64)

sysroot() { # DEBIAN_ARCH TRIPLET -> prints the sysroot, made when missing
    local deb=$1 triplet=$2 root=$ROOTS/debian12-$1 state=$ROOTS/apt-$1
    if [ ! -x "$root/usr/bin/python3" ]; then
        echo "== sysroot: Debian 12 $deb python3, python3-numpy, python3-pip into $root" >&2
        rm -rf "$root" "$state"
        mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
        : >"$state/status" # nothing installed: apt fetches every dependency
        local apt=(-o "APT::Architecture=$deb" -o "APT::Architectures=$deb"
            -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
            -o "Dir::State::status=$state/status")
        apt-get "${apt[@]}" update -q >&2
        apt-get "${apt[@]}" install --download-only -y -q --no-install-recommends \
            python3 python3-numpy python3-pip >&2
        mkdir -p "$root.tmp"
        for d in "$state"/cache/archives/*.deb; do dpkg -x "$d" "$root.tmp"; done
        # What the packages' maintainer scripts would do: the BLAS/LAPACK alternatives.
        ln -sf blas/libblas.so.3 "$root.tmp/usr/lib/$triplet/libblas.so.3"
        ln -sf lapack/liblapack.so.3 "$root.tmp/usr/lib/$triplet/liblapack.so.3"
        mv "$root.tmp" "$root"
        rm -rf "$state"
    fi
    echo "$root"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/run"
cp python/wheel_check.py "$work/run/"
failed=0
passed=0
check() { # LABEL COMMAND...
    local label=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        echo "FAIL $label"
        failed=$((failed + 1))
    fi
}

for a in "${arches[@]}"; do
    case "$a" in
    armv7 | armv7l)
        # No libjpeg-turbo in the armv7 build (scripts/release.sh): zune-jpeg's tolerance.
        arch=armv7l deb=armhf triplet=arm-linux-gnueabihf decoder=zune
        qemu=(env TRACT_CPU_ARM32_NEON=true qemu-arm)
        ;;
    aarch64 | arm64)
        arch=aarch64 deb=arm64 triplet=aarch64-linux-gnu decoder=libjpeg-turbo
        qemu=(qemu-aarch64 -cpu cortex-a72)
        ;;
    *) echo "cross/test-release.sh: unknown target $a" >&2 && exit 2 ;;
    esac
    root=$(sysroot "$deb" "$triplet")
    run=("${qemu[@]}" -L "$root")
    python=("${run[@]}" "$root/usr/bin/python3")

    wheel=$(ls "$DIST"/edgeclass-"$VERSION"-py2.py3-none-manylinux_2_17_$arch.*.whl)
    echo "== $arch: Debian's $("${python[@]}" -c 'import sys; print(sys.version.split()[0])') under qemu, pip install $(basename "$wheel")"
    site=$work/site-$arch
    # pip decides by itself whether the wheel fits this interpreter and platform.
    check "$arch: pip install" "${python[@]}" -m pip install -q --no-deps --target "$site" "$wheel"
    check "$arch: seed Lambda" env -u EDGECLASS_LIBRARY PYTHONPATH="$site" "${python[@]}" -s \
        "$work/run/wheel_check.py" --lambda "$REPO/python/examples/seed_lambda.py" \
        --model "$REPO/tests/fixtures/tiny-trained" \
        --image "$REPO/tests/fixtures/tiny-trained/images/digit09_label4_300x300.jpg" \
        --golden-image tiny-trained/images/digit09_label4_300x300.jpg \
        --goldens "$REPO/tests/fixtures/tiny-trained/goldens.json" --decoder "$decoder"

    name=edgeclass-$VERSION-$arch-linux-gnu
    echo "== $arch: examples-c/classify.c against $name.tar.gz (${triplet}-gcc, pkg-config)"
    tar -C "$work" -xzf "$DIST/$name.tar.gz"
    pc=$work/$name/lib/pkgconfig
    for kind in edgeclass edgeclass-static; do
        exe=$work/classify-$arch-$kind
        # shellcheck disable=SC2046
        if "$triplet-gcc" -std=c99 -O2 examples-c/classify.c -o "$exe" \
            $(PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR= pkg-config --cflags --libs "$kind"); then
            out=$(env -u LD_LIBRARY_PATH "${run[@]}" "$exe" tests/fixtures/tiny-trained \
                tests/fixtures/tiny-trained/images/digit07_label3_28x28.png 2>&1) || true
            if grep -q 'top1: class 3 ' <<<"$out"; then
                echo "  $kind: $(grep 'top1:' <<<"$out")"
                passed=$((passed + 1))
            else
                echo "$out" | tail -5
                echo "FAIL $arch: $kind: the C example did not classify the digit"
                failed=$((failed + 1))
            fi
        else
            echo "FAIL $arch: $kind: the C example did not build"
            failed=$((failed + 1))
        fi
    done
done
echo "ARM release artefacts: $passed passed, $failed failed"
[ "$failed" = 0 ]
