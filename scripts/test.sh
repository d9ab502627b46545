#!/usr/bin/env bash
# The whole test suite (what CI runs after scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# In CI the full-size goldens must run, not be skipped.
if [ "${CI:-}" = "true" ]; then export EDGECLASS_REQUIRE_FULL_MODELS=1; fi
cargo test --release --locked
# The bit-exact libjpeg-turbo decoder: every JPEG tensor must equal MXNet's.
cargo test --release --locked --features jpeg-turbo --test end_to_end --test image_decode --test image_resize
