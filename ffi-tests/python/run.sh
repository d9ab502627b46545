#!/usr/bin/env bash
# Tests of the Python packages (python/) under each supported Python.
#
#   ffi-tests/python/run.sh                # 2.7.18, 3.7.16 and the newest 3.11 of pyenv
#   ffi-tests/python/run.sh 3.11           # only some versions (pyenv prefixes)
#
# For each version: a virtual environment under $EDGECLASS_PY_VENVS (default target-py/venvs,
# created once, reused) with the pinned numpy the tests need (the packages themselves never
# need it); `pip install ./python` into it, bundling the library (proves installability); then
# runtests.py against the installed packages, from ffi-tests/python (not the source tree).
#
# The library: $EDGECLASS_LIBRARY, else ${CARGO_TARGET_DIR:-target}/release/libedgeclass.so,
# built with `cargo build --release --lib` when missing; the CLI (the daemon's tests):
# $EDGECLASS_CLI, else .../release/edgeclass, built when missing.
# The last line is exactly "N passed, M failed" (all versions together); the exit status is
# non-zero when a test failed or a version could not be set up.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

target=${CARGO_TARGET_DIR:-target}
lib=${EDGECLASS_LIBRARY:-$target/release/libedgeclass.so}
if [ ! -f "$lib" ]; then
    if [ -n "${EDGECLASS_LIBRARY:-}" ]; then
        echo "run.sh: EDGECLASS_LIBRARY=$lib: no such file" >&2
        exit 2
    fi
    echo "run.sh: $lib missing; building it" >&2
    cargo build --release --lib || exit 2
fi
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
# The CLI, for the tests of the `edgeclass serve` daemon (test_daemon.py).
cli=${EDGECLASS_CLI:-$target/release/edgeclass}
if [ ! -x "$cli" ]; then
    echo "run.sh: $cli missing; building it" >&2
    cargo build --release --bin edgeclass || exit 2
fi
cli=$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli")

venvs=${EDGECLASS_PY_VENVS:-$repo/target-py/venvs}
if [ $# -gt 0 ]; then versions=("$@"); else versions=(2.7.18 3.7.16 3.11); fi

# numpy for the tests, per Python (the oldest wheels that still install on each).
numpy_for() {
    case "$1" in
        2.7*) echo "numpy==1.16.6" ;;
        3.7*) echo "numpy==1.21.6" ;;
        3.11*) echo "numpy==2.2.6" ;;
        *) echo "numpy" ;;
    esac
}

# The full pyenv version for a prefix ("3.11" -> "3.11.7").
resolve() {
    local v
    v=$(pyenv versions --bare 2>/dev/null | grep -E "^$(printf '%s' "$1" | sed 's/\./\\./g')(\.|$)" \
        | sort -t. -k1,1n -k2,2n -k3,3n | tail -1)
    echo "${v:-$1}"
}

make_venv() {        # $1 python, $2 dir
    if "$1" -c 'import venv, ensurepip' 2>/dev/null; then
        "$1" -m venv "$2"
    else            # Python 2.7: virtualenv
        "$1" -m virtualenv --version >/dev/null 2>&1 || "$1" -m pip install -q virtualenv || return 1
        "$1" -m virtualenv -q "$2"
    fi
}

total_pass=0
total_fail=0
summary=()
status=0
setup_failed() {     # a version that could not be set up counts as one failure
    summary+=("python $1: $2")
    total_fail=$((total_fail + 1))
    status=1
}
for want in "${versions[@]}"; do
    version=$(resolve "$want")
    python=$(PYENV_VERSION=$version pyenv which python 2>/dev/null) || python=""
    if [ -z "$python" ]; then
        setup_failed "$want" "not installed in pyenv"
        continue
    fi
    venv=$venvs/py$version
    echo "=== Python $version ($python), venv $venv"
    if [ ! -x "$venv/bin/python" ]; then
        make_venv "$python" "$venv" || { setup_failed "$version" "venv failed"; continue; }
    fi
    numpy=$(numpy_for "$version")
    if ! "$venv/bin/python" -c "import numpy, wheel" 2>/dev/null; then
        "$venv/bin/python" -m pip install -q "$numpy" wheel \
            || { setup_failed "$version" "pip install $numpy failed"; continue; }
    fi
    # Install the package from ./python (a fresh build each time), with the library inside.
    out=$(mktemp)
    rm -rf "$repo/python/build" "$repo/python/"*.egg-info
    EDGECLASS_BUNDLE_LIBRARY=$lib "$venv/bin/python" -m pip install \
        --no-build-isolation --no-deps --force-reinstall "$repo/python" >"$out" 2>&1
    rc=$?
    rm -rf "$repo/python/build" "$repo/python/"*.egg-info
    if [ $rc != 0 ]; then
        cat "$out"; rm -f "$out"
        setup_failed "$version" "pip install ./python failed"
        continue
    fi
    grep -E '^Successfully installed' "$out"
    rm -f "$out"
    log=$(mktemp)
    (cd "$here" && EDGECLASS_LIBRARY=$lib EDGECLASS_CLI=$cli EDGECLASS_TEST_INSTALLED=$venv EDGECLASS_TEST_BUNDLED=1 \
        PYTHONPATH= PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" runtests.py) 2>&1 | tee "$log"
    last=$(tail -1 "$log")
    rm -f "$log"
    if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        total_pass=$((total_pass + BASH_REMATCH[1]))
        total_fail=$((total_fail + BASH_REMATCH[2]))
        summary+=("python $version: $last")
        [ "${BASH_REMATCH[2]}" = 0 ] || status=1
    else
        setup_failed "$version" "the test run did not finish"
    fi
done

echo
for line in "${summary[@]}"; do echo "$line"; done
echo "$total_pass passed, $total_fail failed"
exit $status
