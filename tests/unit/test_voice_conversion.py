"""Speech to speech conversion (chorus.voicelab.conversion) on synthetic voices whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from chorus.voicelab.analysis import f0_statistics, f0_track, formants, pcm_to_float
from chorus.voicelab.conversion import (
    ConversionTarget,
    SourceSpeech,
    conversion_transform,
    convert,
    median_f0,
    target_from_speech,
)
from chorus.voicelab.transform_dsp import FrameBank

from .test_voice_transform import RATE, vowel

VOWELS = ((300.0, 900.0, 2200.0), (650.0, 1100.0, 2400.0), (450.0, 1800.0, 2500.0), (350.0, 2000.0, 2800.0))


def voice(f0: float, tract: float, seed: int) -> np.ndarray:
    """Four vowels of a 'speaker' with formants ``tract`` times the reference ones, at ``f0``."""
    return np.concatenate(
        [vowel(f0, tuple(tract * f for f in v), 0.6, seed=seed + i) for i, v in enumerate(VOWELS)]
    )


def test_conversion_moves_pitch_and_vocal_tract_to_the_target() -> None:
    target = target_from_speech(np.concatenate([voice(210.0, 1.2, 10), voice(210.0, 1.2, 20)]))
    assert target.f0_median_hz == pytest.approx(210.0, rel=0.05)
    source = voice(110.0, 1.0, 30)
    speech = SourceSpeech(source.astype(np.float32), median_f0(source))
    transform = conversion_transform(speech, target, seed=2)
    assert transform.frames_warp in (1.15, 1.2, 1.25)  # the vocal-tract ratio, found on the input
    assert transform.f0_median_hz == target.f0_median_hz and transform.seed == 2
    out = pcm_to_float(b"".join(convert(source, RATE, transform, speech.f0_median_hz, step_s=0.5)))
    assert out.size == source.size  # timing kept
    assert f0_statistics(f0_track(out))["median_hz"] == pytest.approx(210.0, rel=0.08)
    before, after = formants(source), formants(out)
    assert before is not None and after is not None
    assert after[1] > before[1] * 1.08  # F2 moved up toward the target's (shorter tract: 1.2 times)


def test_unvoiced_input_keeps_its_pitch_and_output_length() -> None:
    hiss = np.random.default_rng(3).standard_normal(2 * RATE)  # a long fricative: nothing periodic
    whisper = 0.1 * signal.sosfilt(signal.butter(4, 2500, "high", fs=RATE, output="sos"), hiss)
    speech = SourceSpeech(whisper.astype(np.float32), median_f0(whisper))
    assert speech.f0_median_hz is None
    bank = FrameBank.from_speech([voice(200.0, 1.0, 5)]).encode()
    transform = conversion_transform(speech, ConversionTarget(bank, 200.0))
    assert transform.f0_median_hz is None  # nothing to map: WORLD is not run on breath
    out = b"".join(convert(whisper, RATE, transform, None))
    assert len(out) // 2 == whisper.size
