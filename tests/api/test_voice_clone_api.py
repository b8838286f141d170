"""Instant voice cloning through the HTTP API: POST /v1/voices/add, samples, errors.

The similarity test clones a LibriSpeech speaker (clips 0000-0001 of speaker 1088 as samples, clip 0002
held out as the reference) and skips when the data set or the speaker encoder's weights are absent. To keep
the test fast the clone starts from flite rms and picks its base by F0 (no embedder in the service); the
test's own resemblyzer encoder judges the result.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from chorus.services.voices import premade_voice_id

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech" / "librispeech-train-clean-5"
SAMPLES = [DATA / "1088-134315-0000.flac", DATA / "1088-134315-0001.flac"]
HELD_OUT = DATA / "1088-134315-0002.flac"
TEXT = "The old lighthouse keeper walked slowly along the rocky shore every morning."


def _wav(samples: np.ndarray, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def _fast(client: TestClient) -> None:
    """One base voice, chosen without the embedder: the HTTP layer is under test, not clone quality."""
    service = client.app.state.services.voice_clone  # type: ignore[attr-defined]
    service.candidates = [("flite", "rms"), ("flite", "slt")]
    service._embedder, service._embedder_checked = None, True


def _tts(client: TestClient, voice_id: str, text: str = TEXT) -> np.ndarray:
    response = client.post(
        f"/v1/text-to-speech/{voice_id}", params={"output_format": "pcm_16000"}, json={"text": text}
    )
    assert response.status_code == 200, response.text
    return np.frombuffer(response.content, "<i2").astype(np.float32) / 32768


def _error(response, status: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert response.json()["detail"]["status"] == status


def test_errors(client: TestClient) -> None:
    good = ("files", ("a.wav", _wav(np.zeros(1600, np.float32)), "audio/wav"))
    assert client.post("/v1/voices/add", data={"name": "x"}).status_code == 422  # files are required
    _error(client.post("/v1/voices/add", data={"name": " "}, files=[good]), "invalid_name")
    _error(client.post("/v1/voices/add", data={"name": "x" * 201}, files=[good]), "invalid_name")
    _error(
        client.post(
            "/v1/voices/add", data={"name": "x"}, files=[("files", ("a.mp3", b"not audio", "audio/mpeg"))]
        ),
        "invalid_audio",
    )
    _error(
        client.post("/v1/voices/add", data={"name": "x", "labels": "{oops"}, files=[good]), "invalid_labels"
    )
    _error(client.post("/v1/voices/add", data={"name": "x", "labels": "[1]"}, files=[good]), "invalid_labels")
    silence = ("files", ("quiet.wav", _wav(np.zeros(16_000 * 3, np.float32)), "audio/wav"))
    response = client.post("/v1/voices/add", data={"name": "x"}, files=[silence])
    _error(response, "voice_sample_too_short")
    assert "speech" in response.json()["detail"]["message"]
    # Nothing was created by the failed attempts.
    voices = client.get("/v2/voices", params={"category": "cloned"}).json()
    assert voices["total_count"] == 0


def test_clone_from_tts_samples_stores_and_serves_them(client: TestClient) -> None:
    _fast(client)
    speech = _tts(client, premade_voice_id("flite", "awb"), TEXT + " " + TEXT)
    sample = _wav(speech)
    response = client.post(
        "/v1/voices/add",
        data={"name": "Awb clone", "description": "test", "labels": '{"accent": "scottish"}'},
        files=[("files", ("awb.wav", sample, "audio/wav"))],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["requires_verification"] is False
    voice_id = body["voice_id"]
    voice = client.get(f"/v1/voices/{voice_id}").json()
    assert voice["category"] == "cloned" and voice["name"] == "Awb clone"
    assert voice["labels"]["accent"] == "scottish"
    assert voice["voice_verification"]["requires_verification"] is False
    (listed,) = voice["samples"]
    assert listed["file_name"] == "awb.wav" and listed["size_bytes"] == len(sample)
    audio = client.get(f"/v1/voices/{voice_id}/samples/{listed['sample_id']}/audio")
    assert audio.status_code == 200 and audio.content == sample
    assert audio.headers["content-type"].startswith("audio/wav")
    assert client.get(f"/v1/voices/{voice_id}/samples/nope/audio").status_code == 404
    # The clone speaks in every TTS route.
    assert _tts(client, voice_id).size > 16_000
    blobs = client.app.state.services.blobs  # type: ignore[attr-defined]
    key = f"voice_samples/{voice_id}/{listed['sample_id']}"
    assert client.delete(f"/v1/voices/{voice_id}").status_code == 200
    assert client.get(f"/v1/voices/{voice_id}/samples/{listed['sample_id']}/audio").status_code == 404
    with pytest.raises(Exception):  # noqa: B017, PT011 - the blob store's not-found error
        asyncio.run(blobs.get(key))


def test_clone_is_closer_to_the_speaker_than_its_base(client: TestClient) -> None:
    if not all(p.is_file() for p in [*SAMPLES, HELD_OUT]):
        pytest.skip(f"LibriSpeech clips not found under {DATA}")
    from chorus.stt.audio_input import decode_any
    from chorus.stt.speaker_embedding import SpeakerEmbedder
    from chorus.voicelab.analysis import (
        cosine,
        pcm_to_float,
        speech_only,
        to_analysis_rate,
        utterance_embedding,
    )

    embedder = SpeakerEmbedder()
    if embedder.unavailable_reason():
        pytest.skip(embedder.unavailable_reason() or "")
    _fast(client)
    response = client.post(
        "/v1/voices/add",
        data={"name": "1088"},
        files=[("files", (p.name, p.read_bytes(), "audio/flac")) for p in SAMPLES],
    )
    assert response.status_code == 200, response.text
    voice_id = response.json()["voice_id"]
    voice = client.get(f"/v1/voices/{voice_id}").json()
    assert len(voice["samples"]) == 2
    db_voice = asyncio.run(_row(client.app.state.services, voice_id))  # type: ignore[attr-defined]
    base_id = premade_voice_id(db_voice.engine, db_voice.native_voice)
    pcm, rate = decode_any(HELD_OUT.read_bytes())
    reference = utterance_embedding(embedder, speech_only(to_analysis_rate(pcm_to_float(pcm), rate)))
    text = TEXT + " She said that the weather would change before the evening."
    clone = utterance_embedding(embedder, speech_only(_tts(client, voice_id, text)))
    base = utterance_embedding(embedder, speech_only(_tts(client, base_id, text)))
    clone_sim, base_sim = cosine(clone, reference), cosine(base, reference)
    print(f"clone {clone_sim:.3f} base {base_sim:.3f} ({db_voice.engine}:{db_voice.native_voice})")
    assert clone_sim > base_sim + 0.02


async def _row(services, voice_id: str):  # type: ignore[no-untyped-def]
    from chorus.storage.models import Voice

    async with services.db.sessions() as session:
        return await session.get(Voice, voice_id)


def test_clone_uses_the_neural_converter_when_it_is_installed(tmp_path: Path) -> None:
    """With OpenVoice's tone color models in the models folder, /v1/voices/add stores the speaker's tone
    color and TTS re-voices the base voice with it; removing the models falls back to the DSP clone."""
    from chorus.api.app import create_app
    from tests.conftest import ADMIN_KEY, make_settings
    from tests.unit.tiny_openvoice import install_openvoice

    settings = make_settings(tmp_path / "data")
    folder = install_openvoice(settings.resolved_models_dir / "openvoice")
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as client:
        assert client.get("/health").json()["engines"]["openvoice"] is None  # installed
        _fast(client)
        speech = _tts(client, premade_voice_id("flite", "awb"), TEXT + " " + TEXT)
        response = client.post(
            "/v1/voices/add", data={"name": "Neural"}, files=[("files", ("a.wav", _wav(speech), "audio/wav"))]
        )
        assert response.status_code == 200, response.text
        voice_id = response.json()["voice_id"]
        services = client.app.state.services  # type: ignore[attr-defined]
        voice = asyncio.run(_voice_row(services, voice_id))
        assert len(voice.transform["tone_color"]) == 256 and voice.transform["frames"]
        neural = _tts(client, voice_id)
        assert np.array_equal(neural, _tts(client, voice_id))  # deterministic
    shutil.rmtree(folder)  # the models are gone: after a restart the frame-bank clone speaks
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as client:
        assert "chorus models pull openvoice-v2" in client.get("/health").json()["engines"]["openvoice"]
        fallback = _tts(client, voice_id)
    assert fallback.size == neural.size and not np.allclose(fallback, neural, atol=1e-3)


async def _voice_row(services, voice_id: str):  # type: ignore[no-untyped-def]
    from chorus.storage.models import Voice

    async with services.db.sessions() as session:
        return await session.get(Voice, voice_id)
