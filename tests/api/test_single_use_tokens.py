"""Single-use tokens where they are accepted besides the realtime socket: ``batch_scribe`` as ``?token=`` on
``POST /v1/speech-to-text`` and ``tts_websocket`` as ``?single_use_token=`` on the TTS WebSockets.

Each token works once, for its own kind of connection, as the key that issued it; anything else is a 401 in
ElevenLabs' error shape (HTTP) or an ``invalid_token`` error message (WebSocket). Issuing and redeeming on
the realtime socket are covered in ``test_stt_realtime.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from chorus.services.voices import premade_voice_id
from chorus.testing.asr import word_error_rate
from tests.conftest import speech_wav

RMS = premade_voice_id("flite", "rms")
SENTENCE = "Please remember to lock the front door before you leave the house tonight."
SINGLE = f"/v1/text-to-speech/{RMS}/stream-input"
MULTI = f"/v1/text-to-speech/{RMS}/multi-stream-input"
NO_KEY = {"xi-api-key": ""}  # the test client sends the admin key by default


def _token(client: TestClient, token_type: str, key: str | None = None) -> str:
    headers = {"xi-api-key": key} if key else {}
    response = client.post(f"/v1/single-use-token/{token_type}", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def _new_key(client: TestClient, **kwargs: Any) -> Any:
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    return client.portal.call(lambda: accounts.create_key("token test", **kwargs))  # type: ignore[union-attr]


@pytest.fixture
def speech(client: TestClient) -> bytes:
    return speech_wav(client, RMS, SENTENCE)


def _stt(client: TestClient, audio: bytes, token: str | None, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/v1/speech-to-text",
        params={"token": token} if token is not None else None,
        headers=NO_KEY if headers is None else headers,
        data={"model_id": "scribe_v1"},
        files={"file": ("speech.wav", audio, "application/octet-stream")},
    )


def _refused(response: Any, fragment: str) -> None:
    """A 401 ``invalid_token`` in ElevenLabs' error shape, whose message contains ``fragment``."""
    assert response.status_code == 401, response.text
    detail = response.json()["detail"]
    assert detail["status"] == "invalid_token" and detail["code"] == "invalid_token"
    assert detail["type"] == "authentication_error"
    assert fragment in detail["message"]


# --- POST /v1/speech-to-text?token= -----------------------------------------------------------------------


def test_batch_token_transcribes_once_as_its_key(client: TestClient, speech: bytes) -> None:
    created = _new_key(client, user_name="browser-owner", permissions=["speech_to_text"])
    token = _token(client, "batch_scribe", key=created.secret)
    response = _stt(client, speech, token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert word_error_rate(SENTENCE, body["text"]) <= 0.25
    # The transcript belongs to the key's user: that key reads it back, the administrator's user does not.
    stored = client.get(
        f"/v1/speech-to-text/transcripts/{body['transcription_id']}", headers={"xi-api-key": created.secret}
    )
    assert stored.status_code == 200 and stored.json()["text"] == body["text"]
    assert client.get(f"/v1/speech-to-text/transcripts/{body['transcription_id']}").status_code == 404

    _refused(_stt(client, speech, token), "already been used")


def test_batch_token_refusals(client: TestClient, speech: bytes) -> None:
    _refused(_stt(client, speech, "sutkn_made_up"), "Invalid single-use token")
    realtime = _token(client, "realtime_scribe")
    _refused(_stt(client, speech, realtime), "is for realtime_scribe, not batch_scribe")
    tts = _token(client, "tts_websocket")
    _refused(_stt(client, speech, tts), "is for tts_websocket, not batch_scribe")
    # A token of the wrong type is not consumed: it still opens its own kind of connection.
    with client.websocket_connect(f"{SINGLE}?single_use_token={tts}", headers=NO_KEY) as ws:
        ws.send_text(json.dumps({"text": "Hi there. ", "flush": True}))
        assert json.loads(ws.receive_text())["audio"]

    expired = _token(client, "batch_scribe")
    tokens = client.app.state.services.tokens  # type: ignore[attr-defined]
    clock = tokens.clock
    tokens.clock = lambda: clock() + 15 * 60 + 1
    try:
        _refused(_stt(client, speech, expired), "expired")
    finally:
        tokens.clock = clock


def test_batch_token_takes_precedence_over_a_key(client: TestClient, speech: bytes) -> None:
    token = _token(client, "batch_scribe")
    assert _stt(client, speech, token).status_code == 200
    # A used token is refused even next to a valid key, rather than silently falling back to the key.
    _refused(_stt(client, speech, token, headers={}), "already been used")
    # Without a token (or with an empty one) the key is what counts, as before.
    assert _stt(client, speech, None, headers={}).status_code == 200
    assert _stt(client, speech, "", headers={}).status_code == 200
    missing = _stt(client, speech, None)
    assert missing.status_code == 401 and missing.json()["detail"]["status"] == "needs_authorization"


def test_a_batch_token_survives_a_request_refused_as_malformed(client: TestClient, speech: bytes) -> None:
    token = _token(client, "batch_scribe")
    files = {"file": ("speech.wav", speech, "application/octet-stream")}
    # A missing required field (422) and a bad option (400): neither spends the token.
    missing = client.post("/v1/speech-to-text", params={"token": token}, headers=NO_KEY, files=files)
    assert missing.status_code == 422, missing.text
    bad = client.post(
        "/v1/speech-to-text",
        params={"token": token},
        headers=NO_KEY,
        data={"model_id": "scribe_v1", "entity_detection": "not_an_entity_type"},
        files=files,
    )
    assert bad.status_code == 400, bad.text
    assert _stt(client, speech, token).status_code == 200
    _refused(_stt(client, speech, token), "already been used")


def test_batch_token_of_a_disabled_key_is_refused(client: TestClient, speech: bytes) -> None:
    created = _new_key(client, user_name="soon-revoked")
    token = _token(client, "batch_scribe", key=created.secret)
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    client.portal.call(accounts.revoke_key, created.key_id)  # type: ignore[union-attr]
    _refused(_stt(client, speech, token), "no longer exists or is disabled")


# --- TTS WebSockets ?single_use_token= --------------------------------------------------------------------


def _drain(ws: Any) -> tuple[list[dict[str, Any]], int | None]:
    messages = []
    while True:
        try:
            messages.append(json.loads(ws.receive_text()))
        except WebSocketDisconnect as closed:
            return messages, closed.code


@pytest.mark.parametrize("path", [SINGLE, MULTI])
def test_tts_socket_token_works_once(client: TestClient, path: str) -> None:
    token = _token(client, "tts_websocket")
    with client.websocket_connect(f"{path}?single_use_token={token}", headers=NO_KEY) as ws:
        ws.send_text(json.dumps({"text": "Hi there. ", "flush": True}))
        assert json.loads(ws.receive_text())["audio"]
    with client.websocket_connect(f"{path}?single_use_token={token}", headers=NO_KEY) as ws:
        ws.send_text(json.dumps({"text": "Hi there. ", "flush": True}))
        messages, code = _drain(ws)
    assert code == 1008
    assert messages == [
        {"message": "This single-use token has already been used.", "error": "invalid_token", "code": 1008}
    ]


def test_tts_socket_refuses_other_tokens(client: TestClient) -> None:
    for token, message in [
        (_token(client, "batch_scribe"), "This single-use token is for batch_scribe, not tts_websocket."),
        (
            _token(client, "realtime_scribe"),
            "This single-use token is for realtime_scribe, not tts_websocket.",
        ),
        ("sutkn_made_up", "Invalid single-use token."),
    ]:
        # The admin key in the header does not rescue a bad token: the token is what was offered.
        with client.websocket_connect(f"{SINGLE}?single_use_token={token}") as ws:
            ws.send_text(json.dumps({"text": "Hi there. ", "flush": True}))
            messages, code = _drain(ws)
        assert code == 1008 and messages == [{"message": message, "error": "invalid_token", "code": 1008}]


def test_tts_socket_token_needs_text_to_speech(client: TestClient) -> None:
    """A token acts as its key: if the key lost text_to_speech since, the socket is refused."""
    created = _new_key(client, user_name="tts-user", permissions=["text_to_speech", "speech_to_text"])
    token = _token(client, "tts_websocket", key=created.secret)
    services = client.app.state.services  # type: ignore[attr-defined]

    async def narrow() -> None:
        from sqlalchemy import update

        from chorus.storage.models import ApiKey

        async with services.db.sessions() as session, session.begin():
            await session.execute(
                update(ApiKey).where(ApiKey.id == created.key_id).values(permissions=["speech_to_text"])
            )

    client.portal.call(narrow)  # type: ignore[union-attr]
    with client.websocket_connect(f"{SINGLE}?single_use_token={token}", headers=NO_KEY) as ws:
        ws.send_text(json.dumps({"text": "Hi there. ", "flush": True}))
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "missing_permissions"
