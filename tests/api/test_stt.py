"""Speech to text through the HTTP API (audio made by Chorus' own TTS, so no data set is needed)."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from chorus.services.voices import premade_voice_id
from chorus.testing.asr import word_error_rate
from tests.conftest import speech_wav

RMS = premade_voice_id("flite", "rms")
SENTENCE = "Please remember to lock the front door before you leave the house tonight."


@pytest.fixture
def speech(client: TestClient) -> bytes:
    return speech_wav(client, RMS, SENTENCE)


def _stt(client: TestClient, audio: bytes, name: str = "speech.wav", **fields: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/speech-to-text",
        data={"model_id": "scribe_v1", **fields},
        files={"file": (name, audio, "application/octet-stream")},
    )


def test_transcribes_words_with_spacing_and_times(client: TestClient, speech: bytes) -> None:
    response = _stt(client, speech)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language_code"] == "eng" and body["language_probability"] > 0
    assert word_error_rate(SENTENCE, body["text"]) <= 0.25
    kinds = [w["type"] for w in body["words"]]
    assert kinds[0] == "word" and all(
        a != b for a, b in zip(kinds, kinds[1:], strict=False)
    )  # spacing between words
    words = [w for w in body["words"] if w["type"] == "word"]
    assert all(w["logprob"] <= 0 for w in words)
    ends = [w["end"] for w in words]
    assert ends == sorted(ends) and ends[-1] <= body["audio_duration_secs"] + 0.05
    assert 3.0 < body["audio_duration_secs"] < 8.0
    stored = client.get(f"/v1/speech-to-text/transcripts/{body['transcription_id']}").json()
    assert stored["text"] == body["text"]
    assert client.delete(f"/v1/speech-to-text/transcripts/{body['transcription_id']}").json() == {
        "status": "ok"
    }
    assert client.get(f"/v1/speech-to-text/transcripts/{body['transcription_id']}").status_code == 404


def test_granularity_raw_pcm_mp3_and_logging(client: TestClient, speech: bytes) -> None:
    characters = _stt(client, speech, timestamps_granularity="character").json()
    word = next(w for w in characters["words"] if w["type"] == "word")
    assert "".join(c["text"] for c in word["characters"]) == word["text"]
    untimed = _stt(client, speech, timestamps_granularity="none").json()
    assert all(w["start"] is None for w in untimed["words"])
    with av.open(io.BytesIO(speech)) as container:
        pcm = b"".join(f.to_ndarray().astype("<i2").tobytes() for f in container.decode(audio=0))
    raw = _stt(client, pcm, name="speech.pcm", file_format="pcm_s16le_16").json()
    assert word_error_rate(SENTENCE, raw["text"]) <= 0.25
    mp3 = client.post(
        f"/v1/text-to-speech/{RMS}", params={"enable_logging": "false"}, json={"text": SENTENCE}
    ).content
    assert word_error_rate(SENTENCE, _stt(client, mp3, name="s.mp3").json()["text"]) <= 0.3
    unlogged = client.post(
        "/v1/speech-to-text",
        params={"enable_logging": "false"},
        data={"model_id": "scribe_v1"},
        files={"file": ("s.wav", speech)},
    ).json()
    assert client.get(f"/v1/speech-to-text/transcripts/{unlogged['transcription_id']}").status_code == 404


def test_keyterms_wire_forms(client: TestClient, speech: bytes) -> None:
    assert _stt(client, speech, keyterms="null").status_code == 200
    assert _stt(client, speech, keyterms='["front door", "Chorus"]').status_code == 200
    bad = _stt(client, speech, keyterms='["<bad>"]')
    assert bad.status_code == 400 and bad.json()["detail"]["status"] == "invalid_keyterms"


def test_errors(client: TestClient, speech: bytes) -> None:
    assert client.post("/v1/speech-to-text", files={"file": ("s.wav", speech)}).status_code == 422
    assert _stt(client, speech, model_id="whisper").json()["detail"]["status"] == "invalid_model_id"
    none = client.post("/v1/speech-to-text", data={"model_id": "scribe_v1"})
    assert none.status_code == 400
    both = client.post(
        "/v1/speech-to-text",
        data={"model_id": "scribe_v1", "source_url": "https://example.invalid/a.wav"},
        files={"file": ("s.wav", speech)},
    )
    assert both.status_code == 400
    insecure = client.post(
        "/v1/speech-to-text", data={"model_id": "scribe_v1", "source_url": "http://x/a.wav"}
    )
    assert insecure.status_code == 400 and insecure.json()["detail"]["status"] == "invalid_source_url"
    garbage = _stt(client, b"not audio at all" * 100, name="x.bin")
    assert garbage.status_code == 400 and garbage.json()["detail"]["status"] == "invalid_audio"
    short = _stt(client, np.zeros(400, "<i2").tobytes(), name="s.pcm", file_format="pcm_s16le_16")
    assert short.status_code == 400 and short.json()["detail"]["status"] == "audio_too_short"
    german = _stt(client, speech, language_code="de")
    assert german.status_code == 400 and german.json()["detail"]["status"] == "unsupported_language"
    assert _stt(client, speech, language_code="en").status_code == 200
    # Diarization without its model: a 503 naming what is missing, and nothing charged.
    from chorus.stt.diarize import Diarizer
    from chorus.stt.speaker_embedding import SpeakerEmbedder

    service = client.app.state.services.stt  # type: ignore[attr-defined]
    working, service._diarizer = service._diarizer, Diarizer(SpeakerEmbedder("/nonexistent/pretrained.pt"))
    try:
        before = client.get("/v1/user/subscription").json()["character_count"]
        diarize = _stt(client, speech, diarize="true")
        assert diarize.status_code == 503 and "weights not found" in diarize.json()["detail"]["message"]
        assert client.get("/v1/user/subscription").json()["character_count"] == before
    finally:
        service._diarizer = working
    assert client.get("/v1/speech-to-text/transcripts/nope").status_code == 404


def test_speech_to_text_is_charged_by_duration(client: TestClient, speech: bytes) -> None:
    before = client.get("/v1/user/subscription").json()["character_count"]
    seconds = _stt(client, speech).json()["audio_duration_secs"]
    after = client.get("/v1/user/subscription").json()["character_count"]
    assert after - before == int(np.ceil(seconds))
