"""Speech to speech conversion: the input's words and timing in a target voice (the method of
:mod:`chorus.services.speech_to_speech` and ``bench/speech_to_speech.py``).

A target is a frame bank (:class:`~chorus.voicelab.transform_dsp.FrameBank`) and a median F0: a clone's own
(its speaker's frames), or measured on about a minute of the target voice's speech. The input is analysed
whole (speech without pauses, median F0); :func:`conversion_transform` then builds the
:class:`~chorus.voicelab.voice_model.VoiceTransform` that a
:class:`~chorus.voicelab.transform_dsp.TransformStream` applies to it:

- **pitch**: WORLD maps the input's F0 so its median becomes the target's (log domain, so intonation is
  kept);
- **envelope**: every input frame takes the shape of its nearest target frame (``frames``), matched after a
  vocal-tract warp chosen on the input (:func:`~chorus.voicelab.transform_dsp.choose_warp`, as for clones);
- **substitution strength** (``CONVERSION_MATCH.blend``): the frame-by-frame substitution is mixed with the
  long-term envelope correction. Unlike a clone's base voice, a real speaker's input has frames that a
  synthetic target's bank (diphone speech, very self-similar) matches poorly; full substitution made a
  real male reader unintelligible as flite slt (pocketsphinx WER 0.87 vs 0.10 for the input), while
  half of it kept the words and still moved the voice (see docs/BENCHMARKS.md "Speech to speech").

**Headroom**: WORLD's resynthesis and the envelope gains (up to +18 dB in a band) raise peaks well above the
input's (twice them, measured), and the transform's s16 output would clip a loud recording. :func:`convert`
therefore works at ``headroom_gain`` (input peaks at most ``HEADROOM_PEAK``); the caller puts the level back
(:mod:`chorus.services.speech_to_speech`: the speaker-boost AGC sets it anyway, or a gain followed by the
effect chain's peak limiter).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from chorus.voicelab.analysis import ANALYSIS_RATE, f0_statistics, f0_track, speech_only, to_analysis_rate
from chorus.voicelab.transform_dsp import (
    FrameBank,
    MatchParams,
    TransformStream,
    choose_warp,
    source_shape,
)
from chorus.voicelab.voice_model import VoiceTransform

__all__ = [
    "HEADROOM_PEAK",
    "headroom_gain",
    "CONVERSION_MATCH",
    "ConversionTarget",
    "SourceSpeech",
    "analyse_source",
    "conversion_transform",
    "convert",
    "target_from_speech",
]

# Frame matching for conversion: as for clones, with the substitution mixed half-and-half with the
# long-term envelope correction (chosen on the tuning sources of bench/speech_to_speech.py).
CONVERSION_MATCH = MatchParams(blend=0.5)
# Speech used to choose the warp (the rest of a long input adds cost, not information).
WARP_SPEECH_S = 30.0


@dataclass(frozen=True)
class ConversionTarget:
    """What the input is converted to: the target voice's frame bank and median F0 (Hz, None: keep)."""

    frames: str
    f0_median_hz: float | None
    # The voice's tone color for a neural converter (chorus.voicelab.tone_color), () when none is known.
    tone_color: tuple[float, ...] = ()


@dataclass(frozen=True)
class SourceSpeech:
    """The input's speech at 16 kHz without pauses, and its median F0 (None when it has no voicing)."""

    speech: np.ndarray
    f0_median_hz: float | None


def median_f0(speech: np.ndarray) -> float | None:
    """Median F0 (Hz) of 16 kHz speech, None when there is too little voicing."""
    if speech.size < ANALYSIS_RATE // 10:
        return None
    median = f0_statistics(f0_track(speech))["median_hz"]
    return float(median) if median and math.isfinite(median) else None


def analyse_source(audio: np.ndarray, rate: int, vad: Any = None) -> SourceSpeech:
    """The input (float mono at ``rate``) as :func:`conversion_transform` needs it."""
    speech = speech_only(to_analysis_rate(audio, rate), vad)
    return SourceSpeech(speech, median_f0(speech))


def target_from_speech(speech: np.ndarray) -> ConversionTarget:
    """A target measured on a voice's 16 kHz speech (pauses cut): its frame bank and median F0."""
    return ConversionTarget(FrameBank.from_speech([speech]).encode(), median_f0(speech))


def conversion_transform(
    source: SourceSpeech, target: ConversionTarget, seed: int = 0, match: MatchParams | None = None
) -> VoiceTransform:
    """The transform that turns ``source`` into the ``target`` voice (see the module docstring)."""
    match = match or CONVERSION_MATCH
    speech = source.speech[: int(WARP_SPEECH_S * ANALYSIS_RATE)]
    warp = choose_warp(target.frames, [speech], ANALYSIS_RATE, match)
    return VoiceTransform(
        f0_median_hz=target.f0_median_hz if source.f0_median_hz else None,
        frames=target.frames,
        frames_source_db=tuple(round(float(v), 3) for v in source_shape([speech], ANALYSIS_RATE, warp)),
        frames_warp=warp,
        seed=seed,
    )


# The transform's input peaks at most here (-12 dBFS): room for the peaks its resynthesis adds.
HEADROOM_PEAK = 0.25


def headroom_gain(samples: np.ndarray) -> float:
    """The gain (at most 1) that brings ``samples``' peak down to ``HEADROOM_PEAK``."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return 1.0 if peak <= HEADROOM_PEAK else HEADROOM_PEAK / peak


def convert(
    samples: np.ndarray,
    rate: int,
    transform: VoiceTransform,
    source_f0_median_hz: float | None,
    *,
    step_s: float = 1.0,
    match: MatchParams | None = None,
    gain: float = 1.0,
) -> Iterator[bytes]:
    """s16le PCM at ``rate``: float ``samples`` times ``gain`` (see :func:`headroom_gain`) converted by
    ``transform``, ``step_s`` of input at a time."""
    # WORLD in blocks of step_s: the input comes step_s at a time anyway, and longer blocks re-analyse less
    # context (0.1 s either side per block).
    stream = TransformStream(
        transform,
        rate,
        source_f0_median_hz=source_f0_median_hz,
        match=match or CONVERSION_MATCH,
        world_block_s=step_s,
    )
    step = max(1, int(step_s * rate))
    scale = gain * 32768.0
    for start in range(0, samples.size, step):
        chunk = np.clip(np.round(samples[start : start + step] * scale), -32768, 32767).astype("<i2")
        data = stream.process(chunk.tobytes())
        if data:
            yield data
    tail = stream.flush()
    if tail:
        yield tail
