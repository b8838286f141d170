"""The official ``@elevenlabs/elevenlabs-js`` SDK's voice lab methods, unmodified, against a real Chorus
server (only baseUrl changed): instant cloning, ``voices.update`` with files, ``samples.delete``,
``textToVoice.design`` / ``create`` / ``remix``, ``speechToSpeech.convert`` and ``audioIsolation.convert``
with the isolation history (``list``, ``delete``).

The checks live in ``tests/contract/js/voice_lab_contract.mjs``; this test runs it with Node against the
session's live server and reports every failing check with its details. It skips as ``test_js_sdk.py``
does (no Node, or no SDK and no way to install it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chorus.services.voices import premade_voice_id
from tests.conftest import LiveServer
from tests.contract.test_js_sdk import JS_DIR, run_js_checks

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
    run_js_checks(
        SCRIPT,
        live_server,
        EXPECTED_CHECKS,
        "SDK voice lab",
        TIMEOUT_S,
        CHORUS_AWB_VOICE_ID=premade_voice_id("flite", "awb"),
        CHORUS_SLT_VOICE_ID=premade_voice_id("flite", "slt"),
    )
