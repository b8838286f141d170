"""The official Python SDK's voices.ivc.create, voices.update with files, samples.delete and
speech_to_speech.convert / .stream against a live server."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import pytest
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError

from chorus.services.voices import premade_voice_id
from chorus.stt.audio_input import decode_any
from tests.conftest import ADMIN_KEY, LiveServer

pytestmark = pytest.mark.contract
TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank."


@pytest.fixture(scope="module")
def sdk(live_server: LiveServer) -> ElevenLabs:
    return ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)


@pytest.fixture(scope="module")
def fast_clones(live_server: LiveServer) -> Iterator[None]:
    """One base voice, no embedder: the wire contract is under test here, not clone quality."""
    service = live_server.server.config.app.state.services.voice_clone
    saved = (service.candidates, service._embedder, service._embedder_checked)
    service.candidates, service._embedder, service._embedder_checked = [("flite", "rms")], None, True
    yield
    service.candidates, service._embedder, service._embedder_checked = saved


def _wav(pcm: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(pcm)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def speech(sdk: ElevenLabs) -> bytes:
    pcm = b"".join(
        sdk.text_to_speech.convert(
            premade_voice_id("flite", "awb"), text=TEXT + " " + TEXT, output_format="pcm_16000"
        )
    )
    return _wav(pcm)


def test_ivc_create(sdk: ElevenLabs, speech: bytes, fast_clones: None) -> None:
    created = sdk.voices.ivc.create(
        name="SDK clone", files=[("awb.wav", speech, "audio/wav")], description="d", labels={"accent": "x"}
    )
    assert created.requires_verification is False
    voice = sdk.voices.get(created.voice_id)
    assert voice.category == "cloned" and voice.labels and voice.labels["accent"] == "x"
    assert voice.samples and voice.samples[0].file_name == "awb.wav"
    audio = b"".join(
        sdk.text_to_speech.convert(created.voice_id, text="Hello there.", output_format="pcm_16000")
    )
    assert len(audio) > 8000
    sdk.voices.delete(created.voice_id)
    with pytest.raises(ApiError) as error:
        sdk.voices.ivc.create(name="bad", files=[("x.mp3", b"nope", "audio/mpeg")])
    assert error.value.status_code == 400


def test_speech_to_speech_convert_and_stream(sdk: ElevenLabs, speech: bytes) -> None:
    target = premade_voice_id("flite", "slt")
    mp3 = b"".join(
        sdk.speech_to_speech.convert(
            target, audio=("in.wav", speech, "audio/wav"), model_id="eleven_multilingual_sts_v2", seed=1
        )
    )
    pcm, rate = decode_any(mp3)
    assert len(pcm) / 2 / rate > 3.0
    streamed = b"".join(
        sdk.speech_to_speech.stream(target, audio=("in.wav", speech, "audio/wav"), output_format="pcm_22050")
    )
    assert abs(len(streamed) / 2 / 22_050 - len(pcm) / 2 / rate) < 0.3


def test_update_with_files_and_delete_a_sample(sdk: ElevenLabs, speech: bytes, fast_clones: None) -> None:
    created = sdk.voices.ivc.create(name="SDK edit", files=[("first.wav", speech, "audio/wav")])
    voice_id = created.voice_id
    other = _wav(
        b"".join(
            sdk.text_to_speech.convert(
                premade_voice_id("flite", "slt"), text=TEXT + " " + TEXT, output_format="pcm_16000"
            )
        )
    )
    edited = sdk.voices.update(
        voice_id,
        name="SDK edited",
        files=[("second.wav", other, "audio/wav")],
        labels='{"accent": "y"}',  # a string: the SDK JSON-encodes it once more
        remove_background_noise=False,
    )
    assert edited.status == "ok"
    voice = sdk.voices.get(voice_id)
    assert voice.name == "SDK edited" and voice.labels and voice.labels["accent"] == "y"
    assert voice.samples and [s.file_name for s in voice.samples] == ["first.wav", "second.wav"]
    added = voice.samples[1]
    assert b"".join(sdk.voices.samples.audio.get(voice_id, added.sample_id)) == other
    # Metadata only: no labels given leaves them as they are.
    assert sdk.voices.update(voice_id, name="SDK renamed").status == "ok"
    assert sdk.voices.get(voice_id).labels["accent"] == "y"  # type: ignore[index]

    deleted = sdk.samples.delete(voice_id, added.sample_id)
    assert deleted.status == "ok"
    voice = sdk.voices.get(voice_id)
    assert voice.samples and [s.file_name for s in voice.samples] == ["first.wav"]
    with pytest.raises(ApiError) as error:
        sdk.samples.delete(voice_id, added.sample_id)
    assert error.value.status_code == 404
    assert error.value.body["detail"]["status"] == "sample_not_found"
    with pytest.raises(ApiError) as error:
        sdk.voices.update(premade_voice_id("flite", "rms"), name="not mine")
    assert error.value.status_code == 400
    assert error.value.body["detail"]["status"] == "voice_not_editable"
    sdk.voices.delete(voice_id)
