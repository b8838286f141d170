"""The official Python SDK's voices.ivc.create and speech_to_speech.convert / .stream against a live server."""

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
