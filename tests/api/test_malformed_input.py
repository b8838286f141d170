"""Input that is not quite JSON or not quite text gets a clear error or is made safe, never a 500."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from chorus.api.json_input import json_safe, loads
from chorus.audio.encode import wav_header
from chorus.services.voices import premade_voice_id

RMS = premade_voice_id("flite", "rms")
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            b'{"text": "Hi.", "voice_settings": {"speed": NaN, "stability": Infinity}}',
            "NaN is not valid JSON",
        ),
        (b'{"text": "Hi.", "seed": 1e400}', "the number 1e400 is too large"),
        (b'{"text": "Hi.", "voice_settings": {"stability": -Infinity}}', "-Infinity is not valid JSON"),
        (b'{"text": "caf\xe9"}', "utf-8"),  # Latin-1 bytes, not UTF-8
    ],
)
@pytest.mark.parametrize("route", ["", "/stream", "/with-timestamps", "/stream/with-timestamps"])
def test_non_standard_json_is_a_json_decode_error(
    client: TestClient, route: str, body: bytes, error: str
) -> None:
    headers = {**JSON, "origin": "https://app.example"}
    response = client.post(f"/v1/text-to-speech/{RMS}{route}", content=body, headers=headers)
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["type"] == "json_invalid"
    assert detail["loc"][0] == "body"
    assert error in detail["ctx"]["error"]
    assert response.headers["request-id"]
    assert response.headers["access-control-allow-origin"] == "*"


def test_other_json_routes_refuse_nan_too(client: TestClient) -> None:
    for path in ("/v1/text-to-voice/design", "/v1/workspace/webhooks", "/v1/history/download"):
        response = client.post(path, content=b'{"loudness": NaN}', headers=JSON)
        assert response.status_code == 422, path
        assert response.json()["detail"][0]["type"] == "json_invalid"


def _timestamped_characters(client: TestClient, body: bytes) -> str:
    response = client.post(
        f"/v1/text-to-speech/{RMS}/with-timestamps",
        params={"output_format": "pcm_16000"},
        content=body,
        headers=JSON,
    )
    assert response.status_code == 200, response.text
    return "".join(response.json()["alignment"]["characters"])


def test_lone_surrogates_are_replaced_and_alignment_keeps_the_characters(client: TestClient) -> None:
    text = "Hello \ud800there."
    body = json.dumps({"text": text}).encode()  # ensure_ascii: the surrogate travels as \ud800
    assert b"\\ud800" in body
    assert _timestamped_characters(client, body) == "Hello \ufffdthere."


def test_lone_surrogates_stream_with_timestamps_to_the_end(client: TestClient) -> None:
    body = json.dumps({"text": "One \udfff. Two \ud83d."}).encode()
    with client.stream(
        "POST",
        f"/v1/text-to-speech/{RMS}/stream/with-timestamps",
        params={"output_format": "pcm_16000"},
        content=body,
        headers=JSON,
    ) as response:
        assert response.status_code == 200
        lines = [json.loads(line) for line in response.iter_lines() if line]
    chars = "".join("".join(line["alignment"]["characters"]) for line in lines if line.get("alignment"))
    assert chars == "One \ufffd. Two \ufffd."


def test_a_valid_surrogate_pair_is_one_character_and_untouched(client: TestClient) -> None:
    body = json.dumps({"text": "Smile \ud83d\ude00 now."}).encode()  # an escaped pair: one emoji
    assert _timestamped_characters(client, body) == "Smile \U0001f600 now."


def test_json_strings_with_surrogates_can_be_stored(client: TestClient) -> None:
    response = client.post(
        "/v1/workspace/webhooks",
        content=json.dumps(
            {
                "settings": {
                    "auth_type": "hmac",
                    "name": "hook \udc00",
                    "webhook_url": "https://example.com/hook",
                }
            }
        ).encode(),
        headers=JSON,
    )
    assert response.status_code == 200, response.text
    listed = client.get("/v1/workspace/webhooks").json()["webhooks"]
    assert [hook["name"] for hook in listed] == ["hook \ufffd"]


def test_validation_errors_echo_odd_input_safely() -> None:
    assert json_safe([float("nan"), float("-inf"), b"\x00", "a\ud800", {"k": (1, 2.5)}]) == [
        "nan",
        "-inf",
        None,
        "a\ufffd",
        {"k": [1, 2.5]},
    ]
    assert loads('{"a": ["x\\udfffy"]}') == {"a": ["x\ufffdy"]}
    with pytest.raises(json.JSONDecodeError):
        loads("[NaN]")


@pytest.mark.parametrize(
    "voice_settings", ['{"stability": "x"}', '{"speed": true}', '{"style": [1]}', '{"stability": NaN}']
)
def test_speech_to_speech_voice_settings_of_the_wrong_type(client: TestClient, voice_settings: str) -> None:
    response = client.post(
        f"/v1/speech-to-speech/{RMS}",
        data={"voice_settings": voice_settings},
        files={"audio": ("in.wav", wav_header(16_000, 32_000) + b"\x00\x00" * 16_000, "audio/wav")},
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"]["status"] == "invalid_voice_settings"


def test_stream_input_binary_frame_and_nan_are_refused_with_a_reason(client: TestClient) -> None:
    path = f"/v1/text-to-speech/{RMS}/stream-input?model_id=eleven_flash_v2_5"
    with client.websocket_connect(path) as ws:
        ws.send_bytes(b"\x00\x01")
        message = json.loads(ws.receive_text())
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert message["error"] == "invalid_message" and "text frames" in message["message"]
    assert closed.value.code == 1008
    with client.websocket_connect(path) as ws:
        ws.send_text('{"text": " ", "voice_settings": {"speed": NaN}}')
        message = json.loads(ws.receive_text())
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()
    assert message["error"] == "invalid_message" and "NaN" in message["message"]


@pytest.mark.parametrize("query", ["enable_ssml_parsing=maybe", "sync_alignment=2", "auto_mode=yess"])
def test_stream_input_boolean_query_parameters_must_be_booleans(client: TestClient, query: str) -> None:
    with client.websocket_connect(f"/v1/text-to-speech/{RMS}/stream-input?{query}") as ws:
        message = json.loads(ws.receive_text())
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert message["error"] == "invalid_request"
    assert query.split("=")[0] in message["message"] and "true or false" in message["message"]
    assert closed.value.code == 1008


def test_stream_input_boolean_query_parameters_take_the_usual_words(client: TestClient) -> None:
    path = f"/v1/text-to-speech/{RMS}/stream-input?output_format=pcm_16000&sync_alignment=on&auto_mode=False"
    with client.websocket_connect(path) as ws:
        ws.send_text(json.dumps({"text": " "}))
        ws.send_text(json.dumps({"text": "Hello there. "}))
        ws.send_text(json.dumps({"text": ""}))
        messages = []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                messages.append(json.loads(ws.receive_text()))
    assert closed.value.code == 1000
    assert any(m.get("audio") for m in messages) and messages[-1]["isFinal"] is True
