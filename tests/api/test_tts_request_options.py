"""TTS request options that change little or nothing: optimize_streaming_latency and the stitching fields."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from chorus.services.voices import premade_voice_id

RMS = premade_voice_id("flite", "rms")
# eSpeak NG reads "$5" differently from Chorus' normaliser ("five dollars"); flite expands it the same way
# itself, so only an eSpeak voice shows in the audio whether the normaliser ran.
IVY = premade_voice_id("espeak-ng", "en-us+f5")
PCM = {"output_format": "pcm_16000", "enable_logging": "false"}
CLAUSED = "Well, after all that, we finally went home. Then we slept."


def _convert(client: TestClient, voice: str, body: dict, **params: object) -> bytes:
    response = client.post(f"/v1/text-to-speech/{voice}", params={**PCM, **params}, json=body)
    assert response.status_code == 200, response.text
    return response.content


def _timestamped_lines(client: TestClient, text: str, **params: object) -> list[dict]:
    with client.stream(
        "POST",
        f"/v1/text-to-speech/{RMS}/stream/with-timestamps",
        params={**PCM, **params},
        json={"text": text},
    ) as response:
        assert response.status_code == 200
        return [json.loads(line) for line in response.iter_lines() if line]


def _stream_pieces(client: TestClient, text: str, **params: object) -> list[bytes]:
    with client.stream(
        "POST", f"/v1/text-to-speech/{RMS}/stream", params={**PCM, **params}, json={"text": text}
    ) as response:
        assert response.status_code == 200
        return [piece for piece in response.iter_raw() if piece]


def _chars(line: dict) -> str:
    return "".join(line["alignment"]["characters"]) if line["alignment"] else ""


# --- optimize_streaming_latency ------------------------------------------------------------------


def test_latency_level_4_turns_the_text_normaliser_off(client: TestClient) -> None:
    body = {"text": "It costs $5.", "seed": 7}
    default = _convert(client, IVY, body)
    assert _convert(client, IVY, body, optimize_streaming_latency=0) == default  # 0 is the default
    level_4 = _convert(client, IVY, body, optimize_streaming_latency=4)
    assert level_4 == _convert(client, IVY, {**body, "apply_text_normalization": "off"})
    assert level_4 != default

    def spoken(**params: object) -> str:
        response = client.post(
            f"/v1/text-to-speech/{IVY}/with-timestamps", params={**PCM, **params}, json=body
        )
        assert response.status_code == 200, response.text
        return "".join(response.json()["normalized_alignment"]["characters"])

    assert "five dollars" in spoken(optimize_streaming_latency=0)
    assert "$5" in spoken(optimize_streaming_latency=4)
    # Levels 1-3 keep the normaliser (only the first chunk is split off, which a one-clause text lacks).
    assert "five dollars" in spoken(optimize_streaming_latency=3)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_latency_levels_send_the_first_clause_on_its_own(client: TestClient, level: int) -> None:
    plain = _timestamped_lines(client, CLAUSED, optimize_streaming_latency=0)
    assert _chars(plain[0]) == "Well, after all that, we finally went home. "  # a whole sentence first
    fast = _timestamped_lines(client, CLAUSED, optimize_streaming_latency=level)
    # The first line's alignment ends at the first clause; the rest of the text follows, all of it.
    assert _chars(fast[0]) == "Well,"
    assert "".join(_chars(line) for line in fast) == CLAUSED
    first_audio = base64.b64decode(fast[0]["audio_base64"])
    assert 0 < len(first_audio) < len(base64.b64decode(plain[0]["audio_base64"])) / 2
    audio = b"".join(base64.b64decode(line["audio_base64"]) for line in fast)
    plain_audio = b"".join(base64.b64decode(line["audio_base64"]) for line in plain)
    seconds = len(audio) / 2 / 16000
    # Complete: at least as long as the unsplit rendering (the split adds a clause pause), timings to the end.
    assert len(audio) >= len(plain_audio)
    last_end = max(
        max(line["alignment"]["character_end_times_seconds"]) for line in fast if line["alignment"]
    )
    assert abs(last_end - seconds) < 0.2

    # /stream sends the same audio, its first piece being that first clause.
    pieces = _stream_pieces(client, CLAUSED, optimize_streaming_latency=level)
    assert b"".join(pieces) == audio
    assert pieces[0] == first_audio
    plain_pieces = _stream_pieces(client, CLAUSED)
    assert b"".join(plain_pieces) == plain_audio and len(pieces[0]) < len(plain_pieces[0]) / 2


def test_latency_level_out_of_range_is_refused(client: TestClient) -> None:
    for level in (-1, 5):
        response = client.post(
            f"/v1/text-to-speech/{RMS}/stream",
            params={"optimize_streaming_latency": level},
            json={"text": "a"},
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "optimize_streaming_latency"]


# --- previous_text, next_text, previous_request_ids, next_request_ids ---------------------------

STITCHING = {
    "previous_text": "In the heart of a lush valley lies the quaint village of Willowbrook.",
    "next_text": "The festival is held every spring.",
    "previous_request_ids": ["09bOJkdYVjKy2oOiiVtR", "0p2uKqOnZyce22SPZ9d5", "1KYvY8WZAKmcjCJ1mvVB"],
    "next_request_ids": ["3tPgBrD1UdW3snUkGw1K"],
}


@pytest.mark.parametrize("voice", [RMS, IVY])
def test_stitching_fields_are_accepted_and_do_not_change_the_audio(client: TestClient, voice: str) -> None:
    # Chorus accepts the request-stitching context for compatibility but does not use it (no engine
    # conditions on neighbouring text), so the audio is exactly what the text alone gives.
    body = {"text": "Its people gather in the square at dawn.", "seed": 3}
    alone = _convert(client, voice, body)
    assert _convert(client, voice, {**body, **STITCHING}) == alone
    for field, value in STITCHING.items():
        assert _convert(client, voice, {**body, field: value}) == alone, field
    nulls = {field: None for field in STITCHING}
    assert _convert(client, voice, {**body, **nulls, "previous_request_ids": []}) == alone

    response = client.post(
        f"/v1/text-to-speech/{voice}/with-timestamps", params=PCM, json={**body, **STITCHING}
    )
    assert response.status_code == 200
    assert base64.b64decode(response.json()["audio_base64"]) == alone
    # Only the text is spoken and charged, not the context.
    assert response.headers["character-cost"] == str(len(body["text"]))


@pytest.mark.parametrize("field", ["previous_request_ids", "next_request_ids"])
def test_more_than_three_request_ids_is_a_validation_error(client: TestClient, field: str) -> None:
    ids = ["a1", "b2", "c3", "d4"]
    for route in ("", "/stream", "/with-timestamps", "/stream/with-timestamps"):
        response = client.post(f"/v1/text-to-speech/{RMS}{route}", json={"text": "Hello.", field: ids})
        assert response.status_code == 422, route
        detail = response.json()["detail"]  # HTTPValidationError: a list of ValidationError
        assert isinstance(detail, list) and len(detail) == 1
        error = detail[0]
        assert error["loc"] == ["body", field]
        assert error["type"] == "too_long" and isinstance(error["msg"], str) and error["msg"]
    assert (
        client.post(f"/v1/text-to-speech/{RMS}", json={"text": "Hello.", field: ids[:3]}).status_code == 200
    )


def test_request_ids_must_be_a_list_of_strings(client: TestClient) -> None:
    response = client.post(f"/v1/text-to-speech/{RMS}", json={"text": "Hello.", "previous_request_ids": "a1"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "previous_request_ids"]
