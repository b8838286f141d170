#!/usr/bin/env bash
# Sets up (first run) and starts Chorus on embedded defaults: SQLite and local files under ./data.
# Extra arguments go to `chorus serve` (e.g. --host 0.0.0.0 --port 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh runtime
exec .venv/bin/chorus serve "$@"
