#!/usr/bin/env bash
# Regenerate the decode references that are not made by MXNet: every PNG layout
# (tests/fixtures/png-layouts) and the JPEG layouts converted in place (tests/fixtures/in-place),
# each with OpenCV 4.10's pixels. The outputs are committed; the tests do not run this.
# Rerunning gives the same bytes (git shows no change).
#
# Environment: REFENV (venv folder, default ~/.cache/edgeclass/imgref), made from pyenv's
# Python 3.11 with opencv-python-headless 4.10 (the connector's decoder), pypng and Pillow.
set -euo pipefail
cd "$(dirname "$0")/.."
REFENV=${REFENV:-$HOME/.cache/edgeclass/imgref}
if ! "$REFENV/bin/python" -c "import cv2, png, PIL, numpy" 2>/dev/null; then
    PY=$(PYENV_VERSION=3.11 pyenv which python 2>/dev/null || command -v python3)
    rm -rf "$REFENV"
    "$PY" -m venv "$REFENV"
    "$REFENV/bin/pip" install -q opencv-python-headless==4.10.0.84 numpy==1.26.4 \
        pypng==0.20220715.0 pillow==10.4.0
fi
"$REFENV/bin/python" tests/fixtures/png-layouts/make.py
"$REFENV/bin/python" tests/fixtures/in-place/make.py
