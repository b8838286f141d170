"""Silero VAD on onnxruntime: speech is found in speech and not in silence or noise, streaming equals batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chorus.stt.vad import (
    SAMPLE_RATE,
    WINDOW,
    SileroVAD,
    StreamingSegmenter,
    VADParams,
    VADState,
    VADUnavailable,
    default_model_path,
    segment_speech,
    segments_from_probabilities,
)

SPEECH = Path(
    os.environ.get("CHORUS_SPEECH_DATA", Path(__file__).resolve().parents[3] / "shared/data/speech")
)
CLIP = SPEECH / "librispeech-train-clean-5" / "163-122947-0000.flac"  # 4.0 s, one sentence

needs_model = pytest.mark.skipif(
    default_model_path() is None, reason="Silero VAD model not installed (pip install silero-vad --no-deps)"
)


def speech_clip() -> np.ndarray:
    if not CLIP.is_file():
        pytest.skip(f"speech data not found at {SPEECH} (set CHORUS_SPEECH_DATA)")
    from chorus.stt.audio_input import decode_any, to_16k

    pcm, rate = decode_any(CLIP.read_bytes())
    return np.frombuffer(to_16k(pcm, rate), dtype="<i2").astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    model = SileroVAD()
    if not model.available():
        pytest.skip(model.unavailable_reason() or "no VAD")
    return model


@needs_model
def test_finds_the_speech_in_speech(vad: SileroVAD) -> None:
    audio = speech_clip()
    silence = np.zeros(SAMPLE_RATE, np.float32)
    padded = np.concatenate([silence, audio, silence])
    segments = segment_speech(padded, VADParams(), vad)
    assert segments, "no speech found in a LibriSpeech sentence"
    covered = sum(s.end - s.start for s in segments)
    assert covered > 0.6 * audio.size
    assert segments[0].start >= 0.6 * SAMPLE_RATE  # the leading second of silence is not speech
    assert segments[-1].end <= padded.size - 0.6 * SAMPLE_RATE
    for earlier, later in zip(segments, segments[1:], strict=False):
        assert earlier.end <= later.start


@needs_model
def test_no_speech_in_silence_or_noise(vad: SileroVAD) -> None:
    rng = np.random.default_rng(7)
    assert segment_speech(np.zeros(3 * SAMPLE_RATE, np.float32), vad=vad) == []
    assert segment_speech(np.full(3 * SAMPLE_RATE, 1e-4, np.float32), vad=vad) == []
    white = (0.1 * rng.standard_normal(3 * SAMPLE_RATE)).astype(np.float32)
    assert segment_speech(white, vad=vad) == []
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    hum = (0.2 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    assert segment_speech(hum, vad=vad) == []
    probs = vad.probabilities(white)
    assert probs.shape == (-(-white.size // WINDOW),)
    assert float(probs.max()) < 0.5


@needs_model
def test_state_carries_across_calls(vad: SileroVAD) -> None:
    audio = speech_clip()[: 40 * WINDOW]
    whole = vad.probabilities(audio)
    state = VADState()
    parts = [vad.probabilities(audio[i : i + 8 * WINDOW], state) for i in range(0, audio.size, 8 * WINDOW)]
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-5)
    assert float(whole.max()) > 0.9  # and it does hear the speech


def test_streaming_segmenter_matches_batch_for_any_chunking() -> None:
    rng = np.random.default_rng(3)
    # A synthetic probability track: speech bursts of random length separated by random pauses.
    probs: list[float] = []
    for _ in range(30):
        probs += list(rng.uniform(0.0, 0.3, rng.integers(1, 40)))
        probs += list(rng.uniform(0.6, 1.0, rng.integers(1, 120)))
    params = VADParams(min_silence_ms=200, speech_pad_ms=100, max_speech_s=2.0)
    total = len(probs) * WINDOW - 100
    batch = segments_from_probabilities(np.array(probs), total, params)
    assert len(batch) > 5
    segmenter = StreamingSegmenter(params)
    streamed = []
    for prob in probs:
        streamed += segmenter.push(prob)
    streamed += segmenter.flush(total)
    assert streamed == batch
    for segment in batch:
        assert 0 <= segment.start < segment.end <= total
        assert segment.end - segment.start <= 2.0 * SAMPLE_RATE + 2 * WINDOW
    for earlier, later in zip(batch, batch[1:], strict=False):
        assert earlier.end <= later.start


def test_short_blips_are_dropped_and_padding_applies() -> None:
    params = VADParams(min_speech_ms=250, min_silence_ms=100, speech_pad_ms=64)
    blip = [0.0] * 20 + [0.9] * 3 + [0.0] * 20  # 96 ms of "speech"
    assert segments_from_probabilities(np.array(blip), len(blip) * WINDOW, params) == []
    long = [0.0] * 20 + [0.9] * 20 + [0.0] * 20
    (segment,) = segments_from_probabilities(np.array(long), len(long) * WINDOW, params)
    assert segment.start == 20 * WINDOW - 1024 and segment.end == 40 * WINDOW + 1024


def test_missing_model_reports_why(tmp_path: Path) -> None:
    vad = SileroVAD(tmp_path / "nope.onnx")
    assert not vad.available()
    assert "nope.onnx" in (vad.unavailable_reason() or "")
    with pytest.raises(VADUnavailable, match="silero-vad"):
        vad.probabilities(np.zeros(WINDOW, np.float32))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    vad = SileroVAD(broken)
    with pytest.raises(VADUnavailable, match="cannot load"):
        vad.load()
    assert not vad.available()


@needs_model
def test_never_imports_torch() -> None:
    code = (
        "import sys, numpy as np, chorus, chorus.stt.pocketsphinx_engine\n"
        "from chorus.stt.vad import shared_vad\n"
        "shared_vad().probabilities(np.zeros(1024, np.float32))\n"
        "assert 'torch' not in sys.modules and 'silero_vad' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
