#!/usr/bin/env bash
# Regenerate the full-size reference models (resnet18-224, resnet50-224: 45 MB + 98 MB of params,
# too big to commit) with real MXNet 1.9.1, from the recipe and files committed in
# tests/fixtures/reference (scripts/make_full_models.py). MXNet is only a test reference here:
# the product never runs it. Idempotent: a model already there is kept.
#
#   scripts/make-full-models.sh [OUT]      OUT defaults to tests/fixtures/full
#
# Environment: MXENV (venv folder, default ~/.cache/edgeclass/mxenv; made here when missing,
# from pyenv's Python 3.8.18).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-tests/fixtures/full}
MXENV=${MXENV:-$HOME/.cache/edgeclass/mxenv}

have_mxnet() { "$MXENV/bin/python" -c "import mxnet, cv2" 2>/dev/null; }

if ! have_mxnet; then
    mkdir -p "$(dirname "$MXENV")"
    # Several worktrees share the venv: one makes it, the others wait for it.
    exec 9>"$MXENV.lock"
    flock 9
    if ! have_mxnet; then
        echo "make-full-models: creating the MXNet 1.9.1 venv in $MXENV (Python 3.8 from pyenv)"
        PY38=$(PYENV_VERSION=3.8.18 pyenv which python 2>/dev/null || true)
        if [ ! -x "$PY38" ] && command -v pyenv >/dev/null; then
            pyenv install -s 3.8.18
            PY38=$(PYENV_VERSION=3.8.18 pyenv which python)
        fi
        [ -x "$PY38" ] || { echo "make-full-models: pyenv Python 3.8.18 is required" >&2; exit 1; }
        rm -rf "$MXENV"
        "$PY38" -m venv "$MXENV"
        # Pinned: opencv-python-headless without a version is 5.x, and numpy 2 breaks mxnet.
        # pillow, scikit-learn, scikit-image: benches/compare and the fixture tools use them.
        "$MXENV/bin/python" -m pip install -q mxnet==1.9.1 numpy==1.23.5 \
            opencv-python-headless==4.10.0.84 pillow==10.4.0 scikit-learn==1.3.2 scikit-image==0.21.0
    fi
    exec 9>&-
fi

mkdir -p "$OUT"
todo=()
for m in resnet18-224 resnet50-224; do
    if [ -f "$OUT/$m/image-classification-0000.params" ] && [ -f "$OUT/$m/goldens.json" ]; then
        echo "make-full-models: $OUT/$m exists"
    else
        todo+=(--model "$m")
    fi
done
if [ ${#todo[@]} -gt 0 ]; then
    # Written to a temporary folder and moved: an interrupted run leaves no half model behind
    # that the existence check above would take for a finished one.
    tmp="$OUT/.partial"
    rm -rf "$tmp"
    "$MXENV/bin/python" scripts/make_full_models.py "$tmp" "${todo[@]}"
    for m in resnet18-224 resnet50-224; do
        if [ -d "$tmp/$m" ]; then
            rm -rf "${OUT:?}/$m"
            mv "$tmp/$m" "$OUT/$m"
        fi
    done
    rmdir "$tmp"
fi
