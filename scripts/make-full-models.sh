#!/usr/bin/env bash
# Regenerate the full-size reference models (resnet18-224, resnet50-224: 45 MB + 98 MB of params,
# too big to commit) with real MXNet 1.9.1, exactly as ../shared/fixtures/README.md describes.
# MXNet is only a test reference here: the product never runs it.
#
#   scripts/make-full-models.sh [OUT]      OUT defaults to tests/fixtures/full
#
# Environment: MXENV (venv folder, default ~/.cache/edgeclass/mxenv), FIXTURES (default
# ../shared/fixtures, which holds make_models.py).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-tests/fixtures/full}
MXENV=${MXENV:-$HOME/.cache/edgeclass/mxenv}
FIXTURES=${FIXTURES:-../shared/fixtures}

if ! "$MXENV/bin/python" -c "import mxnet, cv2" 2>/dev/null; then
    echo "make-full-models: creating the MXNet 1.9.1 venv in $MXENV (Python 3.8 from pyenv)"
    PY38=$(PYENV_VERSION=3.8.18 pyenv which python 2>/dev/null || true)
    [ -x "$PY38" ] || { echo "make-full-models: pyenv Python 3.8.18 is required" >&2; exit 1; }
    rm -rf "$MXENV"
    "$PY38" -m venv "$MXENV"
    "$MXENV/bin/pip" install -q mxnet==1.9.1 numpy==1.23.5 opencv-python-headless==4.10.0.84 \
        pillow==10.4.0 scikit-learn==1.3.2 scikit-image==0.21.0
fi

mkdir -p "$OUT"
for m in resnet18-224 resnet50-224; do
    if [ -f "$OUT/$m/image-classification-0000.params" ] && [ -f "$OUT/$m/goldens.json" ]; then
        echo "make-full-models: $OUT/$m exists"
    else
        # Only the model-only goldens are needed (pattern tensors); the tests use the committed
        # reference goldens for the photo tensors.
        "$MXENV/bin/python" "$FIXTURES/make_models.py" "$OUT" --model "$m" --images "$FIXTURES/photos"
    fi
    # The params are byte-identical to the reference on this machine kind; elsewhere oneDNN's
    # rounding may differ slightly, which the goldens' tolerance absorbs.
    want=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['files']['image-classification-0000.params'])" "tests/fixtures/reference/$m/manifest.json" 2>/dev/null || echo "?")
    got=$(sha256sum "$OUT/$m/image-classification-0000.params" | cut -d' ' -f1)
    if [ "$want" = "$got" ]; then
        echo "make-full-models: $m params identical to the reference manifest"
    else
        echo "make-full-models: $m params differ from the reference manifest ($got vs $want)"
    fi
done
