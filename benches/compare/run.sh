#!/usr/bin/env bash
# The comparison harness (issue 7): edgeclass vs MXNet 1.9.1 + OpenCV vs ONNX Runtime, end to end,
# interleaved in one run. Needs the full-size models (scripts/make-full-models.sh) and their
# MXNet venv; installs onnx/onnxruntime into that venv and exports the ONNX models.
#   benches/compare/run.sh [IMAGE]   (default tests/fixtures/photos/china.jpg)
# Also compares the decode of every JPEG in $PHOTOS (default tests/fixtures/photos, or a bigger
# folder of your own) with OpenCV's libjpeg-turbo.
set -euo pipefail
cd "$(dirname "$0")/../.."
MXENV=${MXENV:-$HOME/.cache/edgeclass/mxenv}
OUT=${CARGO_TARGET_DIR:-target}/compare
IMAGE=${1:-tests/fixtures/photos/china.jpg}
scripts/make-full-models.sh >/dev/null
# onnx 1.12 is the release MXNet 1.9.1's exporter works with (it brings protobuf 3.20).
"$MXENV/bin/python" -c "import onnx, onnxruntime" 2>/dev/null ||
    "$MXENV/bin/pip" install -q onnx==1.12.0 onnxruntime==1.19.2
mkdir -p "$OUT"
for m in resnet18-224 resnet50-224; do
    [ -f "$OUT/$m.onnx" ] || "$MXENV/bin/python" benches/compare/export_onnx.py "tests/fixtures/full/$m" "$OUT/$m.onnx"
done
PHOTOS=${PHOTOS:-tests/fixtures/photos}
cargo build --release --locked
python3 benches/compare/compare.py --edgeclass "${CARGO_TARGET_DIR:-target}/release/edgeclass" \
    --python "$MXENV/bin/python" --models tests/fixtures/full --onnx "$OUT" --image "$IMAGE" \
    --rounds "${ROUNDS:-3}" --runs "${RUNS:-30}" --out "$OUT/results.md" \
    --photos "$PHOTOS" --decode-model tests/fixtures/tiny-trained
