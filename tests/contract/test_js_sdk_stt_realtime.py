"""The official ``@elevenlabs/elevenlabs-js`` SDK's realtime speech to text and single-use tokens, unmodified,
against a real Chorus server (only baseUrl changed).

The checks live in ``tests/contract/js/stt_realtime_contract.mjs``; this test runs it with Node against the
session's live server and reports every failing check with its details.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, LiveServer
from tests.contract.test_js_sdk import JS_DIR, _ensure_sdk

pytestmark = pytest.mark.contract

SCRIPT = JS_DIR / "stt_realtime_contract.mjs"
TIMEOUT_S = 300
EXPECTED_CHECKS = {
    "speechToText.realtime.manual",
    "speechToText.realtime.vad",
    "speechToText.realtime.previousText",
    "tokens.singleUse.create+speechToText.realtime.token",
    "speechToText.realtime.invalidRequest",
}


def test_official_js_sdk_realtime_speech_to_text(live_server: LiveServer) -> None:
    node = _ensure_sdk()
    engine = live_server.server.config.app.state.services.realtime_stt.engine  # type: ignore[attr-defined]
    if engine is None or not engine.available():
        pytest.skip(f"no speech-to-text engine: {engine and engine.unavailable_reason()}")
    env = {
        **os.environ,
        "CHORUS_BASE_URL": live_server.url,
        "CHORUS_API_KEY": ADMIN_KEY,
        "CHORUS_VOICE_ID": premade_voice_id("flite", "rms"),
    }
    env.pop("ELEVENLABS_API_KEY", None)
    try:
        proc = subprocess.run(
            [node, str(SCRIPT)],
            cwd=JS_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the JavaScript realtime script ran past {TIMEOUT_S}s; output so far:\n{exc.stdout}")

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
    problems += [f"{name}: did not run" for name in sorted(EXPECTED_CHECKS - checks.keys())]
    if not problems and proc.returncode != 0:
        problems.append(f"the script exited {proc.returncode}")
    assert not problems, (
        f"{len(problems)} JavaScript SDK realtime check(s) failed against {live_server.url}:\n"
        + "\n".join(problems)
        + (f"\nstderr:\n{proc.stderr.strip()}" if proc.stderr.strip() else "")
    )
