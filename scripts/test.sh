#!/usr/bin/env bash
# The whole test suite on real parts: the project's own Mosquitto (started by the tests),
# PostgreSQL when reachable, and the real MicroPython binary. With CI=true a missing part fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing mosquitto from Debian packages..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
  else
    echo "warning: mosquitto is not installed; broker tests will be skipped (CI fails instead)" >&2
  fi
fi

# The broker-cluster tests start their own 3-node NATS cluster (MQTT on JetStream).
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing nats-server from Debian packages..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  else
    echo "warning: nats-server is not installed; cluster tests will be skipped (CI fails instead)" >&2
  fi
fi

# Browser tests drive Debian's Chromium through Playwright (never a downloaded browser build).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing chromium from Debian packages..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium is missing; browser tests will be skipped (CI fails instead)" >&2
  fi
fi

$BIN/ruff check .
# Package direction (docs/architecture.md); the firmware's `terminal` package sits in firmware/.
PYTHONPATH=firmware $BIN/lint-imports
# Exit code 5 means pytest collected nothing: that is a failure here, never a pass.
set +e
$BIN/python -m pytest --durations=15 "$@"  # the slowest tests, to keep the run short
rc=$?
set -e
if [ "$rc" = "5" ]; then
  echo "error: no tests ran" >&2
  exit 1
fi
exit $rc
