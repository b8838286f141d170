#!/usr/bin/env bash
# Installs everything Chorus needs on Debian/Ubuntu and creates or reuses the virtualenv .venv.
# Usage: scripts/setup.sh [runtime|test]   (default: runtime)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-runtime}"

# libmp3lame0: MP3 three times as fast as PyAV's own LAME, same bytes (src/chorus/audio/lame.py); optional.
APT_PACKAGES=(flite libflite1 libespeak-ng1 espeak-ng-data libmp3lame0)

missing_apt() {
  local pkg missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  echo "${missing[@]:-}"
}

if command -v dpkg-query >/dev/null 2>&1; then
  missing="$(missing_apt)"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = "0" ]; then
      echo "setup: installing system packages: $missing"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      # shellcheck disable=SC2086
      apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      echo "setup: not root, skipping system packages; install them with: sudo apt-get install $missing" >&2
      echo "setup: without them the flite / espeak-ng engines report themselves unavailable" >&2
    fi
  fi
else
  echo "setup: no dpkg (not Debian/Ubuntu); install flite and espeak-ng libraries yourself" >&2
fi

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "setup: Python 3.11+ is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv || { echo "setup: python3-venv is missing (apt-get install python3-venv)" >&2; exit 1; }
fi

extras="."
[ "$profile" = "test" ] && extras=".[test]"
# Re-install only when the project's requirements changed since the last successful install.
stamp=".venv/.chorus-$profile.stamp"
digest="$(cat pyproject.toml setup.py src/chorus/audio/_effects_native.c | sha256sum | cut -c1-16)"
installed="$(cat "$stamp" 2>/dev/null || true)"
# Installed without a C compiler last time (stamp "<digest>-no-c"): install again once there is one, so
# the effects' C part gets built.
if [ "$installed" = "$digest-no-c" ] && command -v cc >/dev/null 2>&1; then
  installed=""
fi
if [ "$installed" != "$digest" ] && [ "$installed" != "$digest-no-c" ]; then
  echo "setup: installing Python packages ($profile)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip "setuptools<81" wheel
  # Torch first, as the CPU build: resemblyzer (speaker embeddings) needs it, and installing it later as a
  # dependency would pull the newest CUDA build (GBs). It drags setuptools past 80, which breaks pyworld.
  if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0" "setuptools<81" \
      --extra-index-url https://download.pytorch.org/whl/cpu --retries 1 --timeout 15 \
      || .venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0" "setuptools<81"
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$extras" "setuptools<81"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "resemblyzer==0.1.4"
  # Silero VAD's wheel carries the ONNX model Chorus runs on onnxruntime; its declared dependency on
  # torch is only for its own Python API, which Chorus never imports, so it is installed without deps.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "silero-vad==6.2.3"
  # The effects' C part is an optional extension: say so when it could not be built (no C compiler).
  if .venv/bin/python -c "from chorus.audio import effects_native as e; assert e.load()" >/dev/null 2>&1; then
    echo "$digest" > "$stamp"
  else
    echo "setup: the C effects were not built (no C compiler?); the Python fallback runs, same output, slower." >&2
    echo "setup: install gcc and run this again to build them." >&2
    echo "$digest-no-c" > "$stamp"
  fi
fi

# The JavaScript SDK contract tests (tests/contract/js) need the official SDK from npm; they skip without it.
if [ "$profile" = "test" ]; then
  js_dir="tests/contract/js"
  if command -v npm >/dev/null 2>&1; then
    js_stamp="$js_dir/node_modules/.chorus-setup.stamp"
    js_digest="$(sha256sum "$js_dir/package-lock.json" | cut -c1-16)"
    if [ ! -d "$js_dir/node_modules" ] || [ ! -f "$js_stamp" ] || [ "$(cat "$js_stamp")" != "$js_digest" ]; then
      echo "setup: installing JavaScript packages ($js_dir)"
      if npm ci --no-audit --no-fund --loglevel=error --prefix "$js_dir" >/dev/null; then
        echo "$js_digest" > "$js_stamp"
      else
        echo "setup: warning: npm ci failed in $js_dir; the JavaScript SDK contract tests will be skipped" >&2
      fi
    fi
  else
    echo "setup: npm not found; the JavaScript SDK contract tests will be skipped (install Node.js 18+ and npm)"
  fi
fi
