"""F0 tracking (chorus.voicelab.analysis.f0_track) on synthetic speech of known pitch.

The speech alternates 200 ms vowels (a glottal pulse train with a falling, wobbling F0 contour through three
formant resonators, a different vowel each syllable) with 50 ms fricatives (high-passed noise), so the truth
is known frame by frame. The conditions are those that broke trackers on real recordings: low-frequency
rumble louder than the voice (WORLD's DIO, and Praat's tracker without the high-pass, then report half or
a third of the pitch) and a recording without its fundamental (telephone-like high-pass).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from chorus.voicelab.analysis import F0_FRAME_MS, f0_statistics, f0_track

RATE = 16_000
SYLLABLE_S = 0.25
VOWEL_S = 0.2
VOWELS = ((700, 1200, 2600), (300, 2300, 3000), (500, 900, 2500), (400, 1900, 2600), (600, 1000, 2400))


def syllables(
    f0_start: float,
    f0_end: float,
    seconds: float = 3.0,
    rumble_db: float | None = None,
    highpass: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(audio, true F0 per sample, voiced mask per sample)."""
    rng = np.random.default_rng(7)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    contour = f0_start * (f0_end / f0_start) ** (t / seconds) * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    voiced = (t % SYLLABLE_S) < VOWEL_S
    pulses = (np.diff(np.floor(np.cumsum(contour) / RATE), prepend=0.0) > 0).astype(np.float64)
    source = signal.lfilter([1.0], [1.0, -0.97], pulses)
    vowels = np.zeros(n)
    index = (t / SYLLABLE_S).astype(int)
    for k in np.unique(index):
        part = source
        for centre, bandwidth in zip(VOWELS[k % len(VOWELS)], (90.0, 110.0, 150.0), strict=True):
            r = math.exp(-math.pi * bandwidth / RATE)
            part = signal.lfilter([1 - r], [1.0, -2 * r * math.cos(2 * math.pi * centre / RATE), r * r], part)
        vowels[index == k] = part[index == k]
    fricative = signal.sosfilt(signal.butter(4, 3000, "high", fs=RATE, output="sos"), rng.standard_normal(n))
    audio = np.where(voiced, vowels / np.abs(vowels).max(), 0.02 * fricative)
    if highpass:
        audio = signal.sosfilt(signal.butter(6, highpass, "high", fs=RATE, output="sos"), audio)
    if rumble_db is not None:
        rumble = signal.sosfilt(signal.butter(4, 50, "low", fs=RATE, output="sos"), rng.standard_normal(n))
        audio = audio + rumble * np.std(audio) / np.std(rumble) * 10 ** (rumble_db / 20)
    return 0.3 * audio / np.abs(audio).max(), contour, voiced


def frame_truth(f0: np.ndarray, contour: np.ndarray, voiced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(true F0 at each frame of ``f0``, mask of frames well inside a vowel or a fricative: 0 / 1 / -1)."""
    step = F0_FRAME_MS / 1000
    duration = contour.size / RATE
    times = (duration - (f0.size - 1) * step) / 2 + np.arange(f0.size) * step  # Praat centres its frames
    samples = np.clip(np.round(times * RATE).astype(int), 0, contour.size - 1)
    within = times % SYLLABLE_S
    inside_vowel = (within > 0.04) & (within < VOWEL_S - 0.04)
    inside_fricative = (within > VOWEL_S + 0.015) & (within < SYLLABLE_S - 0.015)
    kind = np.where(inside_vowel, 1, np.where(inside_fricative, -1, 0))
    assert np.all(voiced[samples[kind == 1]])
    return contour[samples], kind


@pytest.mark.parametrize(
    ("f0_start", "f0_end"), [(110.0, 70.0), (130.0, 95.0), (240.0, 180.0), (320.0, 240.0)]
)
@pytest.mark.parametrize(
    "condition", [{}, {"rumble_db": 6.0}, {"highpass": 300.0}], ids=["clean", "rumble", "no-fundamental"]
)
def test_f0_track_follows_known_pitch(f0_start: float, f0_end: float, condition: dict) -> None:
    audio, contour, voiced = syllables(f0_start, f0_end, **condition)
    f0 = f0_track(audio)
    truth, kind = frame_truth(f0, contour, voiced)
    vowel = kind == 1
    found = vowel & (f0 > 0)
    assert found.sum() >= 0.9 * vowel.sum()  # voicing found inside the vowels
    ratio = f0[found] / truth[found]
    assert np.mean(np.abs(ratio - 1) > 0.2) <= 0.05  # no octave (or third) errors to speak of
    assert np.median(np.abs(ratio - 1)) < 0.02
    assert np.mean(f0[kind == -1] > 0) <= 0.2  # fricatives are unvoiced
    median = f0_statistics(f0)["median_hz"]
    true_median = math.exp(np.median(np.log(truth[vowel])))
    assert median == pytest.approx(true_median, rel=0.03)


def test_f0_track_of_silence_and_short_input() -> None:
    assert f0_track(np.zeros(100)).size == 0  # under 50 ms: nothing to track
    silent = f0_track(np.zeros(RATE))
    assert silent.size > 0 and not np.any(silent > 0)
    assert f0_statistics(silent)["median_hz"] is None


def test_fair_share_keeps_short_clips_whole_and_shares_the_rest_evenly() -> None:
    from chorus.voicelab.analysis import fair_share

    clips = [np.arange(n, dtype=np.float32) for n in (10, 100, 40, 1000)]
    assert [c.size for c in fair_share(clips, 2000, rate=1)] == [10, 100, 40, 1000]  # all fit
    kept = fair_share(clips, 200, rate=1)
    # 10 and 40 fit whole; the 150 left is shared by the two longer clips, 75 each, from their starts.
    assert [c.size for c in kept] == [10, 75, 40, 75]
    assert np.array_equal(kept[3], clips[3][:75])
    assert [c.size for c in fair_share(clips, 3, rate=1)] == [0, 0, 0, 0]  # under one sample each


def test_analysis_of_a_long_upload_measures_a_bounded_share_of_every_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long first sample cannot crowd out the others, and the measured speech is capped: the analysis
    time no longer grows with the upload. (The caps scaled down tenfold, to keep the test quick.)"""
    from chorus.voicelab import analysis

    monkeypatch.setattr(analysis, "MAX_AUDIO_S", 24.0)
    monkeypatch.setattr(analysis, "MAX_SPEECH_S", 12.0)
    long_clip, _, _ = syllables(120.0, 120.0, seconds=30.0)
    short_clip, _, _ = syllables(220.0, 220.0, seconds=2.0)
    long_pcm = (np.clip(long_clip, -1, 1) * 32767).astype("<i2").tobytes()  # s16 bytes, as uploads come
    result, clips = analysis.analyse([(long_pcm, RATE), (short_clip, RATE)], vad=_NoVAD(), detailed=False)
    assert result.speech_s <= 12.01
    # Audio: 2 s + 22 s reach the VAD; speech: 2 s + 10 s are measured.
    assert [round(c.size / RATE) for c in clips] == [10, 2]
    # Both voices are measured: the median sits between them, with the short sample's pitch in the top.
    assert 110 < result.f0_median_hz < 140
    assert result.f0_p95_hz > 200


class _NoVAD:
    """Stands in for Silero: every sample is one speech segment (the VAD is not under test)."""

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        return np.ones(max(1, audio.size // 512), np.float32)


def test_speech_only_finds_the_speech_of_a_very_quiet_recording_and_keeps_its_level(flite) -> None:  # type: ignore[no-untyped-def]
    """A recording 60 dB too quiet (its samples a few units of s16) still has its speech found: the VAD hears
    a copy brought up to a normal level; what comes back is the recording's own quiet samples."""
    from chorus.engines.base import SynthesisRequest
    from chorus.voicelab.analysis import speech_only

    text = "The quick brown fox jumps over the lazy dog. Then it runs into the quiet forest and sleeps."
    pcm = b"".join(c.pcm for c in flite.synthesize(SynthesisRequest(text=text, native_voice="kal16")))
    normal = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    normal = np.concatenate([np.zeros(8000, np.float32), normal, np.zeros(8000, np.float32)])
    quiet = np.round(normal * 0.001 * 32768).astype(np.float32) / 32768  # peaks of a few s16 units
    found, found_quiet = speech_only(normal), speech_only(quiet)
    assert found.size > 16_000
    assert abs(found_quiet.size - found.size) < 0.1 * found.size
    assert np.abs(found_quiet).max() < 0.002  # not amplified
