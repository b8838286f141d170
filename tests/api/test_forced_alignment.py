"""Forced alignment through the HTTP API (audio made by Chorus' own TTS, so no data set is needed)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from chorus.engines.base import EngineBusy
from chorus.services.voices import premade_voice_id

SLT = premade_voice_id("flite", "slt")
TEXT = "Hello, world! Dr. Zorbnik paid $5.50 at 10:30 am -- that's 50% off."


@pytest.fixture
def speech(client: TestClient) -> bytes:
    response = client.post(
        f"/v1/text-to-speech/{SLT}",
        params={"output_format": "mp3_44100_128", "enable_logging": "false"},
        json={"text": TEXT},
    )
    assert response.status_code == 200
    return response.content


def _align(client: TestClient, audio: bytes, text: str, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/forced-alignment",
        data={"text": text},
        files={"file": ("speech.mp3", audio, "audio/mpeg")},
        headers=headers or None,
    )


def test_aligns_every_word_and_character(client: TestClient, speech: bytes) -> None:
    response = _align(client, speech, TEXT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"characters", "words", "loss"}
    words = body["words"]
    assert [w["text"] for w in words] == TEXT.split()
    assert all(set(w) == {"text", "start", "end", "loss"} for w in words)
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and all(w["start"] <= w["end"] for w in words)
    assert all(a["end"] <= b["start"] for a, b in zip(words, words[1:], strict=False))
    assert words[0]["start"] > 0.05 and words[-1]["end"] < 8.0  # flite's lead-in; ~6 s of speech
    spoken = {w["text"]: w for w in words}
    assert spoken["$5.50"]["end"] - spoken["$5.50"]["start"] > 0.8  # "five dollars and fifty cents"
    assert spoken["--"]["start"] == spoken["--"]["end"]  # nothing to say
    assert spoken["10:30"]["end"] <= spoken["am"]["start"]  # one reading, shared in order
    assert all(w["loss"] >= 0 for w in words) and 0 < body["loss"] < 5
    characters = body["characters"]
    assert "".join(c["text"] for c in characters) == TEXT
    assert all(set(c) == {"text", "start", "end"} and c["start"] <= c["end"] for c in characters)
    char_starts = [c["start"] for c in characters]
    assert char_starts == sorted(char_starts)
    # Each word's letters lie within the word.
    hello = characters[: len("Hello,")]
    assert hello[0]["start"] == spoken["Hello,"]["start"] and hello[-1]["end"] == spoken["Hello,"]["end"]


def test_words_not_in_the_audio_have_a_higher_loss(client: TestClient, speech: bytes) -> None:
    right = _align(client, speech, TEXT).json()
    wrong = _align(client, speech, TEXT.replace("world", "strawberry")).json()
    loss = {w["text"]: w["loss"] for w in wrong["words"]}
    assert loss["strawberry!"] > 2 * np.median([w["loss"] for w in right["words"]])
    assert wrong["loss"] > right["loss"]


def test_bad_input_gets_clear_errors(client: TestClient, speech: bytes) -> None:
    empty = _align(client, speech, "   ")
    assert empty.status_code == 400 and empty.json()["detail"]["status"] == "invalid_text"
    unspeakable = _align(client, speech, "... -- !!")
    assert unspeakable.status_code == 400
    assert unspeakable.json()["detail"]["status"] == "invalid_alignment_input"
    too_long = _align(client, speech, "this text is much longer than the audio " * 60)
    assert too_long.status_code == 400 and "far too long" in too_long.json()["detail"]["message"]
    garbage = _align(client, b"not audio at all" * 100, TEXT)
    assert garbage.status_code == 400 and garbage.json()["detail"]["status"] == "invalid_audio"
    short = client.post(
        "/v1/forced-alignment",
        data={"text": "hi"},
        files={"file": ("s.wav", _wav(np.zeros(800, "<i2")), "audio/wav")},
    )
    assert short.status_code == 400 and short.json()["detail"]["status"] == "audio_too_short"
    assert client.post("/v1/forced-alignment", data={"text": TEXT}).status_code == 422
    assert client.post("/v1/forced-alignment", files={"file": ("a.mp3", speech)}).status_code == 422


def test_charged_by_duration_and_refunded_on_refusal(client: TestClient, speech: bytes) -> None:
    def used() -> int:
        return int(client.get("/v1/user/subscription").json()["character_count"])

    from chorus.stt.audio_input import decode_any

    pcm, rate = decode_any(speech)
    before = used()
    assert _align(client, speech, TEXT).status_code == 200
    assert used() - before == int(np.ceil(len(pcm) / 2 / rate))  # one unit per started second, like STT
    before = used()
    assert _align(client, speech, "far too many words for this audio " * 60).status_code == 400
    assert used() == before


def test_permission_missing_and_busy_engine(client: TestClient, speech: bytes) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    reader = client.portal.call(  # type: ignore[union-attr]
        lambda: services.accounts.create_key("reader", permissions=["speech_to_text"])
    ).secret
    denied = _align(client, speech, TEXT, **{"xi-api-key": reader})
    assert denied.status_code == 403 and "forced_alignment" in denied.json()["detail"]["message"]

    class Missing:
        def unavailable_reason(self) -> str:
            return "pocketsphinx is not installed"

    real = services.forced_alignment._aligner
    services.forced_alignment._aligner = Missing()
    try:
        missing = _align(client, speech, TEXT)
    finally:
        services.forced_alignment._aligner = real
    assert missing.status_code == 503
    assert missing.json()["detail"]["status"] == "engine_unavailable"
    assert "pocketsphinx" in missing.json()["detail"]["message"]

    class Busy:
        def unavailable_reason(self) -> None:
            return None

        def align(self, pcm: bytes, rate: int, text: str) -> None:
            raise EngineBusy("all 4 decoders stayed busy")

    before = client.get("/v1/user/subscription").json()["character_count"]
    services.forced_alignment._aligner = Busy()
    try:
        busy = _align(client, speech, TEXT)
    finally:
        services.forced_alignment._aligner = real
    assert busy.status_code == 503 and busy.json()["detail"]["status"] == "engine_busy"
    assert client.get("/v1/user/subscription").json()["character_count"] == before  # refunded


def _wav(samples: np.ndarray, rate: int = 16_000) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()
