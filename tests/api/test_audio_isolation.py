"""Audio isolation through the HTTP API (speech made by Chorus' own TTS, so no data set is needed)."""

from __future__ import annotations

import io
import math
import wave

import numpy as np
import pytest
import soxr
from fastapi.testclient import TestClient

from chorus.services.audio_isolation import isolation_credits
from chorus.services.voices import premade_voice_id
from chorus.stt.audio_input import decode_any
from chorus.voicelab.isolation import si_sdr

RMS = premade_voice_id("flite", "rms")
TEXT = "Please remember to lock the front door before you leave the house tonight. The weather was warm."
RATE = 16_000
LEAD_IN = int(0.8 * RATE)  # noise alone before the speech starts


def _wav(samples: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(_pcm(samples))
    return buffer.getvalue()


def _pcm(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2").tobytes()


@pytest.fixture
def speech(client: TestClient) -> np.ndarray:
    """Clean TTS speech with a silent lead-in and tail, float32 at 16 kHz."""
    response = client.post(
        f"/v1/text-to-speech/{RMS}",
        params={"output_format": "pcm_16000", "enable_logging": "false"},
        json={"text": TEXT},
    )
    assert response.status_code == 200
    voice = np.frombuffer(response.content, "<i2").astype(np.float32) / 32768
    return np.concatenate([np.zeros(LEAD_IN, np.float32), voice, np.zeros(RATE // 2, np.float32)])


@pytest.fixture
def noisy(speech: np.ndarray) -> np.ndarray:
    """``speech`` with white noise and 60 Hz hum at 0 dB SNR."""
    t = np.arange(speech.size) / RATE
    noise = np.random.default_rng(0).standard_normal(speech.size)
    noise += 3 * sum(np.cos(2 * np.pi * k * 60.0 * t + k) / k for k in range(1, 12))
    return (speech + noise * np.sqrt(np.mean(speech**2) / np.mean(noise**2))).astype(np.float32)


def _decode_mp3(body: bytes, reference: np.ndarray) -> np.ndarray:
    """The MP3 answer as float32 at 16 kHz, aligned on ``reference`` (the encoder delays it a little)."""
    pcm, rate = decode_any(body)
    out = np.asarray(soxr.resample(np.frombuffer(pcm, "<i2").astype(np.float32) / 32768, rate, RATE))
    length = reference.size
    assert abs(out.size - length) < 0.1 * RATE  # same duration, give or take the codec's padding
    out = np.pad(out, (0, max(0, length + 2000 - out.size)))
    lag = max(range(0, 2000, 4), key=lambda d: float(np.dot(out[d : d + length : 8], reference[::8])))
    return out[lag : lag + length]


def _check_isolated(body: bytes, speech: np.ndarray, noisy: np.ndarray) -> None:
    assert body[:3] == b"ID3" or (body[0] == 0xFF and body[1] & 0xE0 == 0xE0)
    out = _decode_mp3(body, speech)
    # Better than 6 dB of SI-SDR improvement even through a 128 kb/s MP3 (measured about 12 dB) ...
    assert si_sdr(out, speech) - si_sdr(noisy, speech) > 6.0
    # ... and the noise before the speech is gone (measured about 23 dB quieter).
    lead = slice(0, LEAD_IN - RATE // 10)
    assert np.mean(out[lead] ** 2) < np.mean(noisy[lead] ** 2) / 10 ** (15 / 10)


def _character_count(client: TestClient) -> int:
    return int(client.get("/v1/user/subscription").json()["character_count"])


def test_convert_isolates_speech_and_charges_by_duration(
    client: TestClient, speech: np.ndarray, noisy: np.ndarray
) -> None:
    before = _character_count(client)
    response = client.post("/v1/audio-isolation", files={"audio": ("noisy.wav", _wav(noisy), "audio/wav")})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    credits = isolation_credits(noisy.size / RATE)
    assert credits == math.ceil(noisy.size / RATE * 1000 / 60)  # 1000 per minute, pro rata, rounded up
    assert response.headers["character-cost"] == str(credits)
    assert _character_count(client) - before == credits
    _check_isolated(response.content, speech, noisy)


def test_stream_sends_the_same_isolation(client: TestClient, speech: np.ndarray, noisy: np.ndarray) -> None:
    with client.stream(
        "POST", "/v1/audio-isolation/stream", files={"audio": ("noisy.mp3", _wav(noisy), "audio/mpeg")}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/mpeg"
        chunks = [chunk for chunk in response.iter_raw() if chunk]
    assert len(chunks) > 1  # sent step by step, not in one piece
    _check_isolated(b"".join(chunks), speech, noisy)


def test_raw_pcm_input_and_other_containers(
    client: TestClient, speech: np.ndarray, noisy: np.ndarray
) -> None:
    response = client.post(
        "/v1/audio-isolation",
        files={"audio": ("noisy.pcm", _pcm(noisy), "application/octet-stream")},
        data={"file_format": "pcm_s16le_16"},
    )
    assert response.status_code == 200, response.text
    _check_isolated(response.content, speech, noisy)
    # A 44.1 kHz WAV is processed at its own rate.
    wide = np.asarray(soxr.resample(noisy, RATE, 44_100), np.float32)
    response = client.post(
        "/v1/audio-isolation", files={"audio": ("noisy.wav", _wav(wide, 44_100), "audio/wav")}
    )
    assert response.status_code == 200
    _check_isolated(response.content, speech, noisy)


@pytest.mark.parametrize(
    ("body", "fields", "status"),
    [
        (b"", {}, "invalid_audio"),
        (b"this is not audio, just text" * 20, {}, "invalid_audio"),
        (b"\x00\x01\x02", {"file_format": "pcm_s16le_16"}, "invalid_audio"),  # half a sample
        (b"\x00\x00" * 800, {"file_format": "pcm_s16le_16"}, "audio_too_short"),  # 50 ms
    ],
)
def test_bad_audio_is_a_clear_400_and_costs_nothing(
    client: TestClient, body: bytes, fields: dict[str, str], status: str
) -> None:
    before = _character_count(client)
    for path in ("/v1/audio-isolation", "/v1/audio-isolation/stream"):
        response = client.post(
            path, files={"audio": ("bad.bin", body, "application/octet-stream")}, data=fields
        )
        assert response.status_code == 400, response.text
        assert response.json()["detail"]["status"] == status
    assert _character_count(client) == before


def test_missing_file_and_unknown_file_format_are_422(client: TestClient, noisy: np.ndarray) -> None:
    missing = client.post("/v1/audio-isolation", data={"file_format": "other"})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "audio"]
    wrong = client.post(
        "/v1/audio-isolation",
        files={"audio": ("a.wav", _wav(noisy[:RATE]), "audio/wav")},
        data={"file_format": "mp3"},
    )
    assert wrong.status_code == 422


def test_upload_size_limit(client: TestClient) -> None:
    limit = client.app.state.services.settings.max_upload_bytes  # type: ignore[attr-defined]
    response = client.post(
        "/v1/audio-isolation", files={"audio": ("big.pcm", b"\x00" * (limit + 2), "application/octet-stream")}
    )
    assert response.status_code == 400
    assert response.json()["detail"]["status"] == "file_too_large"


def test_needs_the_audio_isolation_permission(client: TestClient, noisy: np.ndarray) -> None:
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    reader = client.portal.call(lambda: accounts.create_key("tts", permissions=["text_to_speech"]))  # type: ignore[union-attr]
    files = {"audio": ("a.wav", _wav(noisy[: 2 * RATE]), "audio/wav")}
    denied = client.post("/v1/audio-isolation", files=files, headers={"xi-api-key": reader.secret})
    assert denied.status_code == 403
    assert "audio_isolation" in denied.json()["detail"]["message"]
    allowed = client.portal.call(lambda: accounts.create_key("iso", permissions=["audio_isolation"]))  # type: ignore[union-attr]
    ok = client.post("/v1/audio-isolation", files=files, headers={"xi-api-key": allowed.secret})
    assert ok.status_code == 200
    assert (
        client.post("/v1/audio-isolation", files=files, headers={"xi-api-key": "sk_wrong"}).status_code == 401
    )


def test_a_failure_refunds_the_credits(
    client: TestClient, noisy: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chorus.voicelab import isolation

    def broken(self: object, samples: np.ndarray) -> np.ndarray:
        raise RuntimeError("DSP failure")

    monkeypatch.setattr(isolation.IsolationStream, "feed", broken)
    before = _character_count(client)
    with pytest.raises(RuntimeError, match="DSP failure"):
        client.post("/v1/audio-isolation", files={"audio": ("a.wav", _wav(noisy), "audio/wav")})
    assert _character_count(client) == before
