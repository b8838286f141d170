"""The official Python SDK's audio_isolation.convert / .stream / .list / .delete against a live server."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from elevenlabs.client import AsyncElevenLabs, ElevenLabs
from elevenlabs.core.api_error import ApiError

from chorus.services.voices import premade_voice_id
from chorus.stt.audio_input import decode_any
from tests.conftest import ADMIN_KEY, LiveServer

pytestmark = pytest.mark.contract
RATE = 16_000
LEAD_IN = int(0.8 * RATE)


@pytest.fixture(scope="module")
def sdk(live_server: LiveServer) -> ElevenLabs:
    return ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)


@pytest.fixture(scope="module")
def noisy(sdk: ElevenLabs) -> bytes:
    """s16le 16 kHz: TTS speech after 0.8 s of lead-in, with white noise and 50 Hz hum at 0 dB SNR."""
    pcm = b"".join(
        sdk.text_to_speech.convert(
            premade_voice_id("flite", "rms"),
            text="Cleaning up a noisy recording with the official client.",
            output_format="pcm_16000",
        )
    )
    speech = np.concatenate([np.zeros(LEAD_IN), np.frombuffer(pcm, "<i2") / 32768, np.zeros(RATE // 2)])
    t = np.arange(speech.size) / RATE
    noise = np.random.default_rng(1).standard_normal(speech.size)
    noise += 3 * sum(np.cos(2 * np.pi * k * 50.0 * t + k) / k for k in range(1, 12))
    mixed = speech + noise * np.sqrt(np.mean(speech**2) / np.mean(noise**2))
    return np.clip(np.round(mixed * 32768), -32768, 32767).astype("<i2").tobytes()


def _lead_in_drop_db(mp3: bytes, noisy: bytes) -> float:
    """How much quieter the noise-only lead-in is in the (44.1 kHz MP3) answer than in the input."""
    pcm, rate = decode_any(mp3)
    out = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768
    before = np.frombuffer(noisy, "<i2").astype(np.float64)[: LEAD_IN - RATE // 5] / 32768
    assert abs(out.size / rate - len(noisy) / 2 / RATE) < 0.1  # the same duration comes back
    after = out[: int((LEAD_IN - RATE // 5) / RATE * rate)]
    return float(10 * np.log10(np.mean(before**2) / max(np.mean(after**2), 1e-12)))


def test_convert_and_stream(sdk: ElevenLabs, noisy: bytes) -> None:
    converted = b"".join(sdk.audio_isolation.convert(audio=("noisy.pcm", noisy), file_format="pcm_s16le_16"))
    assert _lead_in_drop_db(converted, noisy) > 15  # measured about 23 dB
    chunks = list(sdk.audio_isolation.stream(audio=("noisy.pcm", noisy), file_format="pcm_s16le_16"))
    assert len(chunks) >= 2
    assert _lead_in_drop_db(b"".join(chunks), noisy) > 15


def test_convert_a_wav_file_with_the_async_client(live_server: LiveServer, noisy: bytes) -> None:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(noisy)

    async def run() -> bytes:
        client = AsyncElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)
        return b"".join([chunk async for chunk in client.audio_isolation.convert(audio=buffer.getvalue())])

    assert _lead_in_drop_db(asyncio.run(run()), noisy) > 15


def test_undecodable_audio_is_an_api_error(sdk: ElevenLabs) -> None:
    with pytest.raises(ApiError) as info:
        b"".join(sdk.audio_isolation.convert(audio=("junk.mp3", b"definitely not audio" * 10)))
    assert info.value.status_code == 400
    assert info.value.body["detail"]["status"] == "invalid_audio"


def test_history_list_download_and_delete(sdk: ElevenLabs, noisy: bytes, live_server: LiveServer) -> None:
    title = "sdk-history-check.pcm"
    converted = b"".join(sdk.audio_isolation.convert(audio=(title, noisy), file_format="pcm_s16le_16"))
    listing = sdk.audio_isolation.list(search="sdk-history-check", page_size=10)
    assert listing.has_more is False
    (item,) = listing.items
    assert item.title == title and item.processing is False and item.format == "mp3_44100_128"
    assert item.duration_seconds == pytest.approx(len(noisy) / 2 / RATE, abs=0.01)
    assert item.download_url and item.download_url.startswith(live_server.url)
    download = httpx.get(item.download_url, headers={"xi-api-key": ADMIN_KEY}, timeout=30)
    assert download.status_code == 200 and download.content == converted
    assert sdk.audio_isolation.delete(item.id) is None
    assert sdk.audio_isolation.list(search="sdk-history-check").items == []
    with pytest.raises(ApiError) as info:
        sdk.audio_isolation.delete(item.id)
    assert info.value.status_code == 404
