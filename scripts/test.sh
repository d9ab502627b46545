#!/usr/bin/env bash
# The whole test suite (what CI runs after scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# In CI the full-size goldens must run, not be skipped.
if [ "${CI:-}" = "true" ]; then export EDGECLASS_REQUIRE_FULL_MODELS=1; fi
cargo test --release --locked
