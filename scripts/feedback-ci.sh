#!/usr/bin/env bash
# ML Feedback tests that need a real MQTT broker: installs mosquitto (Debian package; the tests
# start and stop their own broker on 127.0.0.1, on a free port) and runs, with the mqtt feature,
# the broker tests (required here, never skipped: the library's hub across a broker restart, and
# a Python Lambda publishing through `edgeclass serve --feedback-upload-command` whose messages
# reach the broker; $EDGECLASS_PYTHON, default python3, runs the Lambda), the spool/crash/CLI
# tests and the unit tests.
#   scripts/feedback-ci.sh        (from .ci/run; CARGO_TARGET_DIR is honoured)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    echo "feedback-ci: installing mosquitto"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends mosquitto mosquitto-clients >/dev/null
fi
# The package's own service is not wanted (the tests run theirs); stop it if the system started it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    systemctl stop mosquitto || true
fi

if ! command -v "${EDGECLASS_PYTHON:-python3}" >/dev/null 2>&1; then
    echo "feedback-ci: ${EDGECLASS_PYTHON:-python3} (EDGECLASS_PYTHON) is needed for the Python Lambda test" >&2
    exit 2
fi
export EDGECLASS_REQUIRE_MOSQUITTO=1
cargo test --release --locked --features mqtt --test feedback_mqtt --test feedback
cargo test --release --locked --features mqtt --lib feedback
