"""The official ``@elevenlabs/elevenlabs-js`` SDK's voice lab methods, unmodified, against a real Chorus
server (only baseUrl changed): instant cloning, ``voices.update`` with files, ``samples.delete``,
``textToVoice.design`` / ``create`` / ``remix``, ``speechToSpeech.convert`` and ``audioIsolation.convert``
with the isolation history (``list``, ``delete``).

The checks live in ``tests/contract/js/voice_lab_contract.mjs``; this test runs it with Node against the
session's live server and reports every failing check with its details. It skips as ``test_js_sdk.py``
does (no Node, or no SDK and no way to install it).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, LiveServer
from tests.contract.test_js_sdk import JS_DIR, _ensure_sdk

pytestmark = pytest.mark.contract

SCRIPT = JS_DIR / "voice_lab_contract.mjs"
TIMEOUT_S = 600
EXPECTED_CHECKS = {
    "voices.ivc.create",
    "voices.update.files",
    "samples.delete",
    "textToVoice.design",
    "textToVoice.create",
    "textToVoice.remix",
    "speechToSpeech.convert",
    "audioIsolation.convert",
    "audioIsolation.list",
    "audioIsolation.delete",
    "voices.delete",
}


@pytest.fixture
def fast_clones(live_server: LiveServer) -> Iterator[None]:
    """One base voice, no embedder: the wire contract is under test here, not clone quality."""
    service = live_server.server.config.app.state.services.voice_clone  # type: ignore[attr-defined]
    saved = (service.candidates, service._embedder, service._embedder_checked)
    service.candidates, service._embedder, service._embedder_checked = [("flite", "rms")], None, True
    yield
    service.candidates, service._embedder, service._embedder_checked = saved


def test_official_js_sdk_voice_lab(live_server: LiveServer, fast_clones: None) -> None:
    node = _ensure_sdk()
    env = {
        **os.environ,
        "CHORUS_BASE_URL": live_server.url,
        "CHORUS_API_KEY": ADMIN_KEY,
        "CHORUS_VOICE_ID": premade_voice_id("flite", "rms"),
        "CHORUS_AWB_VOICE_ID": premade_voice_id("flite", "awb"),
        "CHORUS_SLT_VOICE_ID": premade_voice_id("flite", "slt"),
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
        pytest.fail(f"the JavaScript voice lab script ran past {TIMEOUT_S}s; output so far:\n{exc.stdout}")

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
        f"{len(problems)} JavaScript SDK voice lab check(s) failed against {live_server.url}:\n"
        + "\n".join(problems)
        + (f"\nstderr:\n{proc.stderr.strip()}" if proc.stderr.strip() else "")
    )
