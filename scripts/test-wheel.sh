#!/usr/bin/env bash
# Install the x86_64 wheel from dist/ with pip into a fresh virtualenv per Python (pyenv) and run
# the seed's Lambda on it (python/wheel_check.py): from a folder outside the source tree, with
# no PYTHONPATH and no EDGECLASS_LIBRARY, so the library must come from the wheel. Then the
# per-call overhead of the Python layers on the newest Python (python/bench_overhead.py).
#
#   scripts/test-wheel.sh [PYTHON_VERSION...]    default: 2.7.18 3.6.15 3.7.16 3.11
#
# 2.7.18 is the connector v1's Python (pip 20.3.4 in its virtualenv), 3.6.15 Ubuntu 18.04's
# (Jetson), 3.7.16 the connector v2's. numpy is installed only because the Lambda imports it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DIST=${DIST:-dist}
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
wheel=$(ls "$REPO/$DIST"/edgeclass-"$VERSION"-py2.py3-none-manylinux_2_17_x86_64.*.whl)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.7.18 3.6.15 3.7.16 3.11)
# The oldest numpy wheels that install on each Python (as ffi-tests/python/run.sh).
numpy_for() {
    case "$1" in
    2.7*) echo "numpy==1.16.6" ;;
    3.6*) echo "numpy==1.19.5" ;;
    3.7*) echo "numpy==1.21.6" ;;
    *) echo "numpy==2.2.6" ;;
    esac
}
# JPEG decoded by the bundled libjpeg-turbo: MXNet's input tensor bit for bit.
DECODER=${EDGECLASS_WHEEL_DECODER:-libjpeg-turbo}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/run"
cp python/wheel_check.py python/bench_overhead.py "$work/run/"
failed=0
passed=0
for want in "${versions[@]}"; do
    version=$(pyenv versions --bare | grep -E "^${want//./\\.}(\.|$)" | sort -V | tail -1)
    python=$(PYENV_VERSION=$version pyenv which python 2>/dev/null) || {
        echo "FAIL python $want: not installed in pyenv"
        failed=$((failed + 1))
        continue
    }
    venv=$work/py$version
    echo "== Python $version: fresh virtualenv, pip install $(basename "$wheel")"
    if "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        "$python" -m venv "$venv"
    else # 2.7: virtualenv, which brings pip 20.3.4
        "$python" -m virtualenv --version >/dev/null 2>&1 || "$python" -m pip install -q virtualenv
        "$python" -m virtualenv -q "$venv"
    fi
    # manylinux2014 tags need pip 19.3 (manylinux_2_17: 20.3). Python 3.6.15's venv brings
    # 18.1 and Ubuntu 18.04's python3-pip is 9.0.1: they refuse the wheel, so upgrade first,
    # as the README tells users to (21.3.1 is the last pip for 3.6).
    if ! "$venv/bin/python" -c 'import sys, pip; v = tuple(int(x) for x in pip.__version__.split(".")[:2]); sys.exit(v < (19, 3))'; then
        echo "pip $("$venv/bin/python" -c 'import pip; print(pip.__version__)') is older than 19.3: upgrading"
        "$venv/bin/python" -m pip install -q "pip>=19.3,<22"
    fi
    "$venv/bin/python" -m pip --version
    if ! "$venv/bin/python" -m pip install -q "$(numpy_for "$version")" "$wheel"; then
        echo "FAIL python $version: pip install"
        failed=$((failed + 1))
        continue
    fi
    # From a folder of its own (a script's folder is on sys.path): not the source tree.
    if (cd "$work/run" && env -u EDGECLASS_LIBRARY -u PYTHONPATH "$venv/bin/python" -E -s \
        wheel_check.py --lambda "$REPO/python/examples/seed_lambda.py" \
        --model "$REPO/tests/fixtures/tiny-trained" \
        --image "$REPO/tests/fixtures/tiny-trained/images/digit09_label4_300x300.jpg" \
        --golden-image tiny-trained/images/digit09_label4_300x300.jpg \
        --goldens "$REPO/tests/fixtures/tiny-trained/goldens.json" --decoder "$DECODER"); then
        passed=$((passed + 1))
    else
        echo "FAIL python $version"
        failed=$((failed + 1))
    fi
    last_venv=$venv
done
if [ -n "${last_venv:-}" ] && [ "${EDGECLASS_WHEEL_BENCH:-1}" = 1 ]; then
    echo "== per-call overhead of the Python layers (installed wheel, $(basename "$last_venv"))"
    (cd "$work/run" && env -u EDGECLASS_LIBRARY -u PYTHONPATH "$last_venv/bin/python" -E -s \
        bench_overhead.py "$REPO/tests/fixtures/tiny-trained" \
        "$REPO/tests/fixtures/tiny-trained/images/digit07_label3_28x28.png" --rounds 300)
fi
echo "wheel: $passed passed, $failed failed"
[ "$failed" = 0 ]
