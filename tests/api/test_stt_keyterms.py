"""Keyterms through ``POST /v1/speech-to-text``: in-dictionary rare words are boosted, other requests untouched.

The audio is made by Chorus' own TTS (flite), so no data set is needed.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from chorus.services.voices import premade_voice_id
from tests.conftest import speech_wav

RMS = premade_voice_id("flite", "rms")
# "oscilloscope" and "capacitor" are in pocketsphinx's dictionary but not in its language model.
SENTENCE = "The technician replaced the capacitor and checked the oscilloscope."


@pytest.fixture
def speech(client: TestClient) -> bytes:
    return speech_wav(client, RMS, SENTENCE)


def _stt(client: TestClient, audio: bytes, keyterms: list[str] | str | None = None) -> dict:  # type: ignore[type-arg]
    """Transcribe ``audio``; ``keyterms``: a list (sent as the JSON form field) or the raw field value."""
    data = {"model_id": "scribe_v1", "enable_logging": "false"}
    if keyterms is not None:
        data["keyterms"] = keyterms if isinstance(keyterms, str) else json.dumps(keyterms)
    response = client.post("/v1/speech-to-text", data=data, files={"file": ("speech.wav", audio)})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _words(body: dict) -> list[tuple[str, float, float, float]]:  # type: ignore[type-arg]
    return [(w["text"], w["start"], w["end"], w["logprob"]) for w in body["words"] if w["type"] == "word"]


def test_keyterms_boost_words_already_in_the_dictionary(client: TestClient, speech: bytes) -> None:
    plain = _stt(client, speech)
    assert "oscilloscope" not in plain["text"].lower().split(), plain["text"]
    boosted = _stt(client, speech, ["oscilloscope", "capacitor", "Professor Kowalski"])
    words = _words(boosted)
    texts = [w[0].lower() for w in words]
    assert "oscilloscope" in texts and "capacitor" in texts, boosted["text"]
    assert "kowalski" not in texts  # a keyterm that is not spoken is not heard
    starts = [w[1] for w in words]
    assert starts == sorted(starts) and all(start < end for _, start, end, _ in words)
    assert all(logprob <= 0 for *_, logprob in words)
    assert words[-1][2] <= boosted["audio_duration_secs"] + 0.05


def test_requests_without_keyterms_are_unchanged(client: TestClient, speech: bytes) -> None:
    before = _stt(client, speech)
    _stt(client, speech, ["oscilloscope", "capacitor"])
    after = _stt(client, speech)
    assert _words(after) == _words(before) and after["text"] == before["text"]
    # "keyterms": null (what the SDK sends when unset) is a request without keyterms too.
    assert _words(_stt(client, speech, "null")) == _words(before)


def test_recognised_keyterms_come_back_spelled_as_the_client_wrote_them(
    client: TestClient, speech: bytes
) -> None:
    body = _stt(client, speech, ["Oscilloscope", "CAPACITOR", "The Technician"])
    texts = [w[0] for w in _words(body)]
    assert "Oscilloscope" in texts and "CAPACITOR" in texts, body["text"]
    assert "Technician" in texts, body["text"]
    # "the" is a function word of a phrase: it keeps the recogniser's spelling everywhere.
    assert "The" not in texts and "the" in texts, body["text"]
    assert "Oscilloscope" in body["text"].split() and "oscilloscope" not in body["text"].split()
