"""The official ``@elevenlabs/elevenlabs-js`` SDK, unmodified, against a real Chorus server (only baseUrl changed).

The checks live in ``tests/contract/js/sdk_contract.mjs``; this test runs it with Node against the
session's live server and reports every failing check with its details.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, LiveServer

pytestmark = pytest.mark.contract

JS_DIR = Path(__file__).resolve().parent / "js"
SCRIPT = JS_DIR / "sdk_contract.mjs"
SDK_DIR = JS_DIR / "node_modules" / "@elevenlabs" / "elevenlabs-js"
TIMEOUT_S = 300
EXPECTED_CHECKS = {
    "models.list",
    "voices.getAll",
    "voices.search",
    "voices.get",
    "user.get",
    "user.subscription.get",
    "textToSpeech.convert",
    "textToSpeech.convert.pcm",
    "textToSpeech.stream",
    "textToSpeech.convertWithTimestamps",
    "textToSpeech.streamWithTimestamps",
    "history.list",
    "history.get",
    "history.getAudio",
    "history.delete",
    "speechToText.convert",
    "speechToText.transcripts",
    "forcedAlignment.create",
    "error.bad_api_key",
    "error.unknown_voice",
}
_install_attempted = False


def _ensure_sdk() -> str:
    """The path of ``node``, after installing the SDK once if needed; skips when that is impossible."""
    global _install_attempted
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JavaScript SDK contract test needs Node.js 18+")
    if not SDK_DIR.is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed and tests/contract/js/node_modules is missing")
        if not _install_attempted:
            _install_attempted = True
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund"],
                    cwd=JS_DIR,
                    capture_output=True,
                    timeout=TIMEOUT_S,
                    check=False,
                )
        if not SDK_DIR.is_dir():
            pytest.skip(
                "tests/contract/js/node_modules is missing and `npm ci` failed there "
                "(run scripts/setup.sh test, or npm ci --prefix tests/contract/js)"
            )
    return node


def run_js_checks(
    script: Path, live_server: LiveServer, expected: set[str], label: str, timeout_s: int, **env_extra: str
) -> None:
    """Run ``script`` with Node against ``live_server`` and fail with every check (one JSON line each,
    ``{"check", "ok", "detail"}``) that did not pass or did not run, or with its exit status."""
    node = _ensure_sdk()
    env = {
        **os.environ,
        "CHORUS_BASE_URL": live_server.url,
        "CHORUS_API_KEY": ADMIN_KEY,
        "CHORUS_VOICE_ID": premade_voice_id("flite", "rms"),
        **env_extra,
    }
    env.pop("ELEVENLABS_API_KEY", None)
    try:
        proc = subprocess.run(
            [node, str(script)],
            cwd=JS_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the JavaScript {label} script ran past {timeout_s}s; output so far:\n{exc.stdout}")

    checks: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            record = json.loads(line)
            if "check" in record:
                checks[record["check"]] = record
    problems = [
        f"{name}: {json.dumps(record.get('detail'), indent=2)}"
        for name, record in checks.items()
        if record.get("ok") is not True
    ]
    problems += [f"{name}: did not run" for name in sorted(expected - checks.keys())]
    if not problems and proc.returncode != 0:
        problems.append(f"the script exited {proc.returncode}")
    assert not problems, (
        f"{len(problems)} JavaScript {label} check(s) failed against {live_server.url}:\n"
        + "\n".join(problems)
        + (f"\nstderr:\n{proc.stderr.strip()}" if proc.stderr.strip() else "")
    )


def test_official_js_sdk(live_server: LiveServer) -> None:
    run_js_checks(SCRIPT, live_server, EXPECTED_CHECKS, "SDK contract", TIMEOUT_S)
