"""The stream-input and multi-stream-input WebSockets, message by message."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY

RMS = premade_voice_id("flite", "rms")
SINGLE = f"/v1/text-to-speech/{RMS}/stream-input"
MULTI = f"/v1/text-to-speech/{RMS}/multi-stream-input"


def _drain(ws) -> tuple[list[dict], int | None]:  # type: ignore[no-untyped-def]
    """Read messages until the server closes; return them and the close code."""
    messages = []
    while True:
        try:
            messages.append(json.loads(ws.receive_text()))
        except WebSocketDisconnect as closed:
            return messages, closed.code


def test_stream_input_full_exchange(client: TestClient) -> None:
    with client.websocket_connect(
        f"{SINGLE}?output_format=pcm_16000&model_id=eleven_flash_v2_5", headers=NO_KEY
    ) as ws:
        ws.send_text(json.dumps({"text": " ", "xi_api_key": ADMIN_KEY, "voice_settings": {"speed": 1.0},
                                 "generation_config": {"chunk_length_schedule": [50]}}))  # fmt: skip
        ws.send_text(json.dumps({"text": "Hello there, this first part is long enough to start audio. "}))
        first = json.loads(ws.receive_text())  # generation starts before the end of input
        assert first["audio"] and first["alignment"]["chars"]
        ws.send_text(json.dumps({"text": "And this is the end. "}))
        ws.send_text(json.dumps({"text": ""}))
        rest, code = _drain(ws)
    messages = [first, *rest]
    assert code == 1000
    assert messages[-1]["isFinal"] is True
    audio_messages = [m for m in messages if m.get("audio")]
    pcm = b"".join(base64.b64decode(m["audio"]) for m in audio_messages)
    assert len(pcm) / 32000 > 2.0
    chars = "".join("".join(m["alignment"]["chars"]) for m in messages if m.get("alignment"))
    assert chars == "Hello there, this first part is long enough to start audio. And this is the end. "
    for m in messages:
        if m.get("alignment"):
            a = m["alignment"]
            assert len(a["chars"]) == len(a["charStartTimesMs"]) == len(a["charDurationsMs"])
            assert a["charStartTimesMs"] == sorted(a["charStartTimesMs"])
            assert all(d >= 0 for d in a["charDurationsMs"])
            assert m["normalizedAlignment"]["chars"]


def test_flush_generates_buffered_text(client: TestClient) -> None:
    with client.websocket_connect(SINGLE, headers={"xi-api-key": ADMIN_KEY}) as ws:
        ws.send_text(json.dumps({"text": " "}))
        ws.send_text(json.dumps({"text": "Short. ", "flush": True}))
        message = json.loads(ws.receive_text())
        assert message["audio"]
        ws.send_text(json.dumps({"text": " "}))  # keep-alive
        ws.send_text(json.dumps({"text": ""}))
        messages, code = _drain(ws)
    assert code == 1000 and messages[-1] == {"isFinal": True}


NO_KEY = {"xi-api-key": ""}  # the test client sends the admin key by default


def test_bad_key_is_refused_with_a_message(client: TestClient) -> None:
    with client.websocket_connect(SINGLE, headers=NO_KEY) as ws:
        ws.send_text(json.dumps({"text": " ", "xi_api_key": "sk_wrong"}))
        messages, code = _drain(ws)
    assert code == 1008
    assert messages == [{"message": "Invalid API key", "error": "invalid_api_key", "code": 1008}]


def test_unknown_voice_and_bad_messages(client: TestClient) -> None:
    with client.websocket_connect(
        "/v1/text-to-speech/nobody/stream-input", headers={"xi-api-key": ADMIN_KEY}
    ) as ws:
        ws.send_text(json.dumps({"text": " "}))
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "voice_not_found"
    with client.websocket_connect(SINGLE, headers={"xi-api-key": ADMIN_KEY}) as ws:
        ws.send_text("not json")
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "invalid_message"
    with client.websocket_connect(
        f"{SINGLE}?output_format=wav_16000", headers={"xi-api-key": ADMIN_KEY}
    ) as ws:
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "invalid_output_format"
    with client.websocket_connect(SINGLE, headers={"xi-api-key": ADMIN_KEY}) as ws:
        ws.send_text(json.dumps({"text": " ", "generation_config": {"chunk_length_schedule": [5]}}))
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "invalid_generation_config"


def test_inactivity_timeout(client: TestClient) -> None:
    with client.websocket_connect(f"{SINGLE}?inactivity_timeout=1", headers={"xi-api-key": ADMIN_KEY}) as ws:
        ws.send_text(json.dumps({"text": " "}))
        messages, code = _drain(ws)
    assert code == 1008 and messages[-1]["error"] == "input_timeout_exceeded"


def test_quota_exhaustion_mid_socket(client: TestClient) -> None:
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    secret = client.portal.call(lambda: accounts.create_key("ws", character_limit=30)).secret  # type: ignore[union-attr]
    with client.websocket_connect(SINGLE, headers={"xi-api-key": secret}) as ws:
        ws.send_text(json.dumps({"text": " "}))
        ws.send_text(json.dumps({"text": "Twenty five characters. ", "flush": True}))
        ws.send_text(json.dumps({"text": "Another twenty five chars. ", "flush": True}))
        messages, code = _drain(ws)
    assert code == 1008
    assert any(m.get("audio") for m in messages)
    assert messages[-1]["error"] == "quota_exceeded"


def test_multi_stream_contexts(client: TestClient) -> None:
    with client.websocket_connect(
        f"{MULTI}?output_format=pcm_16000", headers={"xi-api-key": ADMIN_KEY}
    ) as ws:
        ws.send_text(json.dumps({"text": " ", "context_id": "a"}))
        ws.send_text(json.dumps({"text": "Context A speaks first. ", "context_id": "a", "flush": True}))
        ws.send_text(json.dumps({"text": "Context B answers. ", "context_id": "b", "flush": True}))
        ws.send_text(json.dumps({"text": "", "context_id": "a"}))  # keep-alive, not an end
        ws.send_text(json.dumps({"text": "Never finished text ", "context_id": "c"}))
        ws.send_text(json.dumps({"context_id": "c", "close_context": True}))
        ws.send_text(json.dumps({"close_socket": True}))
        messages, code = _drain(ws)
    assert code == 1000
    by_context: dict[str, str] = {}
    finals = [m["contextId"] for m in messages if m.get("isFinal")]
    for m in messages:
        if m.get("alignment"):
            by_context[m["contextId"]] = by_context.get(m["contextId"], "") + "".join(m["alignment"]["chars"])
    assert by_context == {"a": "Context A speaks first. ", "b": "Context B answers. "}
    assert sorted(finals) == ["a", "b", "c"]


def test_multi_stream_requires_auth(client: TestClient) -> None:
    with client.websocket_connect(MULTI, headers=NO_KEY) as ws:
        ws.send_text(json.dumps({"text": " ", "context_id": "a"}))
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "needs_authorization"


@pytest.mark.parametrize("path", [SINGLE, MULTI])
def test_query_authorization(client: TestClient, path: str) -> None:
    with client.websocket_connect(f"{path}?authorization=Bearer%20{ADMIN_KEY}", headers=NO_KEY) as ws:
        ws.send_text(json.dumps({"text": "Hi there. ", "flush": True}))
        assert json.loads(ws.receive_text())["audio"]
