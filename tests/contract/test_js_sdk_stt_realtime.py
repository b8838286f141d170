"""The official ``@elevenlabs/elevenlabs-js`` SDK's realtime speech to text and single-use tokens, unmodified,
against a real Chorus server (only baseUrl changed).

The checks live in ``tests/contract/js/stt_realtime_contract.mjs``; this test runs it with Node against the
session's live server and reports every failing check with its details.
"""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer
from tests.contract.test_js_sdk import JS_DIR, run_js_checks

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
    engine = live_server.server.config.app.state.services.realtime_stt.engine  # type: ignore[attr-defined]
    if engine is None or not engine.available():
        pytest.skip(f"no speech-to-text engine: {engine and engine.unavailable_reason()}")
    run_js_checks(SCRIPT, live_server, EXPECTED_CHECKS, "SDK realtime", TIMEOUT_S)
