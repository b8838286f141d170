"""Applying a :class:`~chorus.voicelab.voice_model.VoiceTransform` to engine PCM, chunk by chunk.

The TTS pipeline hands over each sentence's s16le PCM as the engine produces it; a :class:`TransformStream`
turns it into the transformed voice and a final :meth:`TransformStream.flush` returns what it held back. One
stream per synthesis; feeding a clip in any chunk sizes gives the same output as feeding it whole (up to
float rounding: at most an LSB or two here and there), so a streamed and a whole-file response sound alike.

Stages, each skipped when its fields are neutral (an identity transform returns the input bytes unchanged):

1. **Pitch and rate by WORLD** (``f0_median_hz``, ``f0_range``, ``rate``), only for what the engine did not
   do itself: flite and eSpeak NG move their own F0 and duration far more cleanly than any vocoder, so the
   renderer asks them (:func:`split_for_engine`) and this stage then has nothing to do. Otherwise the audio
   is analysed with WORLD (CheapTrick envelope, D4C aperiodicity, 5 ms frames; F0 by
   :func:`chorus.voicelab.analysis.f0_at`, which survives low-frequency rumble where DIO does not) in blocks
   of ``WORLD_BLOCK_S`` at fixed positions of the stream, each with ``WORLD_CONTEXT_S`` of context either
   side; F0 is mapped in the log domain (median to ``f0_median_hz``, excursions times ``f0_range``), the
   frame sequence is resampled for ``rate``, and the blocks' syntheses are cross-faded over 10 ms. At
   ``rate`` 1 the unvoiced stretches keep the input waveform (cross-faded over 10 ms at the F0 track's
   voicing changes): WORLD's shaped noise smeared bursts and fricatives and cost words. The
   source median is ``source_f0_median_hz`` when known, else the median of what was heard so far (frozen
   after one second of voicing).
2. **Spectral envelope** (``frames``, ``formant_shift``, ``envelope_db``, ``tilt_db_per_octave``,
   ``breathiness``): an STFT filter (32 ms square-root Hann frames, 8 ms hop, at the engine's rate). Each
   frame's envelope is measured as 80 mel band levels from 0 to 8 kHz and gets a band gain curve,
   interpolated to the FFT bins:

   - *frame bank* (a clone): the target speaker's own frames (:class:`FrameBank`, measured on the cloning
     samples) supply the envelope. Each frame of the base voice is compared with the bank in a
     speaker-normalised space: its band levels read at ``f / frames_warp`` (a vocal-tract length
     normalisation chosen when the clone was built, so that a male base voice's formants line up with a
     female speaker's), relative to the frame's mean level, minus the base voice's mean shape; the bank's
     frames minus the speaker's mean shape; both smoothed over +-200 Hz (``MatchParams.match_smooth_hz``)
     so that harmonics do not count as spectral shape. The ``MatchParams.candidates`` nearest by the frame
     and its immediate neighbours (searched in the bank's 64 principal dimensions) are re-ranked by a wider
     context (+-``context`` frames ``step`` apart, weights decaying by ``decay`` per step), which picks
     frames whose surroundings move like the base voice's, and the winner's shape (unsmoothed) replaces the
     frame's (its own level kept); with ``MatchParams.blend`` < 1 only that share of the change is frame by
     frame and the rest is the long-term correction (speech to speech). Gains are limited to +-18 dB (under
     500 Hz: around the long-term correction, which a pitched-up base voice needs in full there) and fade
     out in frames 25-35 dB under the running speech peak, so pauses and noise are not boosted. The
     harmonics and the phase stay the base voice's: this is a spectral differential, not a vocoder, so it
     costs no vocoder buzz. Frame matching needs ``context * step`` frames of look-ahead (80 ms).
   - *formant shift*: the frame's smooth envelope (cepstrally smoothed, after the bank) is read at
     ``f / formant_shift`` (a vocal-tract length warp of the envelope; the harmonics stay in place).
   - *envelope_db*, *tilt*: static per-bin gains.
   - *breathiness*: aspiration noise (complex Gaussian, seeded) with the output envelope's band power,
     amplitude ``2 * breathiness`` of it, is added to each frame while the harmonics lose
     ``0.5 * breathiness`` of theirs; both are weighted by frequency (half in the F1 region, full from
     2 kHz) and by the frame's voicing (its normalised autocorrelation peak), so breath goes with voiced
     sound and fricatives and pauses get none. Praat's HNR of flite speech falls 6-8 dB at 0.6.

3. **Roughness**: amplitude modulation by smoothed noise at about 70 Hz (shimmer, up to +-50 %).
4. **Loudness** (``loudness_lufs``): :class:`chorus.audio.effects.EffectChain`'s AGC with that target
   (speaker boost off, so no EQ).

Latency (input held back until more arrives or :meth:`TransformStream.flush`): stage 2 up to 32 ms plus the
match look-ahead (80 ms with the default matching), stage 1 up to one block plus its context (0.35 s). The
output of input sample n is output sample n (times ``1 / rate`` in stage 1): nothing moves in time, it is only
handed over later. Cost: stage 2 with a frame bank about 0.01-0.05 s of CPU per second of audio (see
docs/BENCHMARKS.md "Voice cloning"); stage 1 (WORLD) about 0.1.

Nothing is loaded at import; pyworld is imported only when stage 1 runs.
"""

from __future__ import annotations

import base64
import functools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from chorus.voicelab.voice_model import VoiceTransform

__all__ = [
    "BANK_BANDS",
    "BANK_MAX_HZ",
    "EngineProsody",
    "FrameBank",
    "MatchParams",
    "TransformStream",
    "apply_transform",
    "band_levels",
    "choose_warp",
    "match_distance",
    "source_shape",
    "split_for_engine",
]

_FULL_SCALE = 32768.0
BANK_BANDS = 80  # mel bands of the envelope (0..BANK_MAX_HZ)
BANK_MAX_HZ = 8000.0  # cloning samples are analysed at 16 kHz
FRAME_S = 0.032
HOP_FRACTION = 4  # hop = frame / 4 (8 ms)
_MAX_GAIN_DB = 18.0
# Under this frequency a frame's gain is limited around the long-term correction (the bank's mean shape less
# the base voice's) instead of around 0 dB: a male base voice raised an octave keeps 12-24 dB too much there
# for a female speaker, a correction the +-18 dB limit clipped frame after frame. Chosen on the tuning
# speakers of bench/voice_clone.py with their base voices fixed (similarity 0.793 -> 0.805, WER 0.117 ->
# 0.112; 1000 Hz: 0.810 but WER max 0.21; everywhere: 0.810, WER max 0.20); the full benchmark: tuning
# 0.805 / WER 0.115, held out 0.783 -> 0.791, WER 0.138 -> 0.139.
_CORRECTION_BELOW_HZ = 500.0
_MAX_TOTAL_GAIN_DB = 48.0
_GATE_BELOW_PEAK_DB = 35.0  # frames this far under the running peak get no envelope gain ...
_GATE_SPAN_DB = 10.0  # ... full gain from 25 dB under it
_PEAK_DECAY_DB_S = 1.0
_EPS = 1e-10
# Breathiness 1, where fully weighted: aspiration noise of twice the band envelope's amplitude, harmonics at
# half theirs. Measured on flite speech: Praat HNR 14.6 / 12.1 / 8.7 / 5.9 dB (rms) and 20.6 / 17.1 / 12.8 /
# 9.4 dB (slt) at breathiness 0 / 0.3 / 0.6 / 0.9 (CPPS 10.9 / 9.0 / 5.3 / 0.9 and 7.8 / 5.9 / 3.4 / 1.5),
# pocketsphinx WER unchanged.
_BREATH_NOISE = 2.0
_BREATH_DUCK = 0.5
# The noise's weight by frequency: none under 100 Hz, _BREATH_LOW_WEIGHT from 200 Hz (the F1 region, where
# the harmonics stay strong), rising to full at 2 kHz (aspiration noise dominates the upper formants).
_BREATH_LOW_WEIGHT = 0.6
_VOICING_FLOOR, _VOICING_SPAN = 0.3, 0.4  # voicing 0 at an autocorrelation peak <= 0.3, 1 from 0.7
_ROUGH_DEPTH = 0.5
_ROUGH_HZ = 70.0

WORLD_BLOCK_S = 0.25
WORLD_CONTEXT_S = 0.1
WORLD_FADE_S = 0.01
WORLD_FRAME_MS = 5.0


# --- mel bands ---------------------------------------------------------------------------------


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def frame_sizes(sample_rate: int) -> tuple[int, int]:
    """(FFT/frame length, hop) in samples at ``sample_rate``: 32 ms and 8 ms (512/128 at 16 kHz)."""
    n_fft = 2 * max(16, round(FRAME_S * sample_rate / 2))
    return n_fft, n_fft // HOP_FRACTION


@functools.lru_cache(maxsize=16)
def _mel_bank(sample_rate: int, n_fft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights [bands, bins], band centres in Hz, mask of bands that fit under Nyquist)."""
    edges = _mel_to_hz(np.linspace(0.0, float(_hz_to_mel(BANK_MAX_HZ)), BANK_BANDS + 2))
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    weights = np.zeros((BANK_BANDS, freqs.size))
    for i in range(BANK_BANDS):
        low, centre, high = edges[i], edges[i + 1], edges[i + 2]
        rising = (freqs - low) / (centre - low)
        falling = (high - freqs) / (high - centre)
        weights[i] = np.maximum(0.0, np.minimum(rising, falling))
    # A band narrower than a bin could miss every bin: give it its nearest bin.
    for i in np.flatnonzero(weights.sum(axis=1) == 0):
        nearest = int(np.argmin(np.abs(freqs - edges[i + 1])))
        weights[i, nearest] = 1.0
    usable = edges[2:] <= sample_rate / 2 + 1e-6
    return weights, edges[1:-1], usable


@functools.lru_cache(maxsize=16)
def _window(n_fft: int) -> np.ndarray:
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft))  # periodic sqrt-Hann


def _frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    count = 1 + (x.size - n_fft) // hop if x.size >= n_fft else 0
    if count <= 0:
        return np.zeros((0, n_fft))
    return np.lib.stride_tricks.as_strided(
        x, shape=(count, n_fft), strides=(x.strides[0] * hop, x.strides[0])
    )


_ROWS = 128


def _rows_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` computed in blocks of exactly ``_ROWS`` rows (the last one zero-padded).

    BLAS may round a row differently depending on how many rows it gets at once; with every call the
    same shape, a frame's result does not depend on how the stream was chunked, so nearest-frame choices
    (argmin over distances) are the same streamed and whole.
    """
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    block = np.zeros((_ROWS, a.shape[1]), dtype=a.dtype)
    for first in range(0, a.shape[0], _ROWS):
        rows = min(_ROWS, a.shape[0] - first)
        block[:rows] = a[first : first + rows]
        block[rows:] = 0
        out[first : first + rows] = (block @ b)[:rows]
    return out


def band_levels(power: np.ndarray, sample_rate: int, n_fft: int) -> np.ndarray:
    """Mel band levels in dB [frames, BANK_BANDS] of power spectra [frames, n_fft // 2 + 1]."""
    weights, _, _ = _mel_bank(sample_rate, n_fft)
    return 10.0 * np.log10(_rows_matmul(power, weights.T) + _EPS)


def speech_band_levels(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Band levels (dB) of every 32 ms frame (8 ms hop) of float ``audio``."""
    n_fft, hop = frame_sizes(sample_rate)
    x = np.asarray(audio, dtype=np.float64)
    frames = _frames(np.pad(x, (n_fft - hop, n_fft - hop)), n_fft, hop)
    spectrum = np.fft.rfft(frames * _window(n_fft), axis=1)
    return band_levels(spectrum.real**2 + spectrum.imag**2, sample_rate, n_fft)


def _shapes(levels: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shape, level): band levels relative to the frame's mean over the usable bands, and that mean."""
    level = levels[:, usable].mean(axis=1)
    return levels - level[:, None], level


# --- the target speaker's frames ---------------------------------------------------------------

# A sample's steady background noise, as it sits in the bank, fills the bands where the speech is quiet:
# copied onto a clone's frames it lifts them toward a flat hiss (pink noise at 10 dB SNR took a tuning
# clone's WER from 0.09 to 0.46). The noise of each band is estimated as the level it keeps in the
# sample's quietest frames (minimum statistics: the NOISE_PERCENTILE of its levels) and subtracted in
# power, over-subtracted by NOISE_OVERSUBTRACT (the percentile sits under the noise's mean) and floored
# NOISE_FLOOR_DB under the frame's own level. In a clean band the quietest frames are quiet speech, not
# noise: its median stands 13-38 dB over that percentile (LibriSpeech, LJ Speech), against 2-6 dB where
# noise fills the band. So the subtraction is weighed by that distance, in full under NOISE_FULL_DB and
# not at all over NOISE_NONE_DB; and only for noise over most of the spectrum (at least NOISE_BROADBAND
# of the bands). Clean recordings have such bands too, at the spectrum's edges (under 150 Hz, and over
# the 7 kHz low-pass of LibriSpeech's MP3 sources), but their floor there is part of how they sound:
# subtracting it muffled a tuning clone (WER 0.09 -> 0.13) and moved another (similarity 0.81 -> 0.77).
NOISE_PERCENTILE = 10.0
NOISE_OVERSUBTRACT = 1.5
NOISE_FLOOR_DB = -20.0
NOISE_FULL_DB = 6.0
NOISE_NONE_DB = 12.0
NOISE_BROADBAND = 0.5
_NOISE_MIN_FRAMES = 60  # about half a second: too few frames to tell noise from speech


def _less_noise(levels: np.ndarray) -> np.ndarray:
    """Band levels (dB, [frames, bands]) of one recording with its steady noise subtracted."""
    if levels.shape[0] < _NOISE_MIN_FRAMES:
        return levels
    quiet = np.percentile(levels, NOISE_PERCENTILE, axis=0)
    spread = np.median(levels, axis=0) - quiet
    weight = np.clip((NOISE_NONE_DB - spread) / (NOISE_NONE_DB - NOISE_FULL_DB), 0.0, 1.0)
    if np.mean(weight > 0) < NOISE_BROADBAND:
        return levels
    noise = NOISE_OVERSUBTRACT * weight * 10.0 ** (quiet / 10.0)
    power = 10.0 ** (levels / 10.0)
    return 10.0 * np.log10(np.maximum(power - noise, power * 10.0 ** (NOISE_FLOOR_DB / 10.0)))


_BANK_MAGIC = b"CFB1"
_BANK_STEP_DB = 0.5  # quantisation of stored shapes (int8: +-63.5 dB around the frame mean)


@dataclass(frozen=True)
class FrameBank:
    """A speaker's spectral frames: the envelope shapes a clone is made of.

    ``shapes`` [n, BANK_BANDS] are mel band levels (dB, 32 ms frames every 8 ms of 16 kHz speech) minus
    each frame's mean; ``selectable`` marks the frames that may be copied (the quieter 30 % of the speech,
    transitions and pauses, only serve as context); ``segments`` are the lengths of the runs of consecutive
    frames (context never reaches across a run's end). A recording's steady broadband noise is subtracted
    from its frames first (:func:`_less_noise`).
    """

    shapes: np.ndarray
    selectable: np.ndarray
    segments: tuple[int, ...]

    KEEP_QUANTILE = 0.30

    @classmethod
    def from_speech(cls, audios: Sequence[np.ndarray], sample_rate: int = 16_000) -> FrameBank:
        """The bank of float speech clips (silence already trimmed, e.g. by VAD) at ``sample_rate``."""
        _, _, usable = _mel_bank(sample_rate, frame_sizes(sample_rate)[0])
        shapes, levels, segments = [], [], []
        for audio in audios:
            if np.asarray(audio).size < frame_sizes(sample_rate)[0]:
                continue
            shape, level = _shapes(_less_noise(speech_band_levels(audio, sample_rate)), usable)
            shapes.append(shape)
            levels.append(level)
            segments.append(len(shape))
        if not shapes:
            raise ValueError("no speech to build a frame bank from")
        all_levels = np.concatenate(levels)
        threshold = np.quantile(all_levels, cls.KEEP_QUANTILE)
        stacked = np.concatenate(shapes).astype(np.float32)
        # Round-trip through the stored precision so a bank behaves the same before and after saving.
        stacked = np.clip(np.round(stacked / _BANK_STEP_DB), -127, 127).astype(np.float32) * _BANK_STEP_DB
        return cls(stacked, all_levels > threshold, tuple(segments))

    def __len__(self) -> int:
        return int(self.shapes.shape[0])

    def mean_shape(self) -> np.ndarray:
        return self.shapes[self.selectable].mean(axis=0)

    def encode(self) -> str:
        """Compact text form (zlib-compressed int8 at 0.5 dB, base64) for :attr:`VoiceTransform.frames`."""
        quantised = np.clip(np.round(self.shapes / _BANK_STEP_DB), -127, 127).astype(np.int8)
        header = _BANK_MAGIC + struct.pack("<HII", self.shapes.shape[1], len(self), len(self.segments))
        body = (
            np.asarray(self.segments, dtype="<u4").tobytes()
            + np.packbits(self.selectable.astype(np.uint8)).tobytes()
            + quantised.tobytes()
        )
        return base64.b64encode(header + zlib.compress(body, 9)).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> FrameBank:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        if raw[:4] != _BANK_MAGIC:
            raise ValueError("not a Chorus frame bank")
        bands, count, n_segments = struct.unpack("<HII", raw[4:14])
        body = zlib.decompress(raw[14:])
        offset = 4 * n_segments
        segments = tuple(int(v) for v in np.frombuffer(body[:offset], dtype="<u4"))
        packed = (count + 7) // 8
        selectable = np.unpackbits(np.frombuffer(body[offset : offset + packed], np.uint8))[:count].astype(
            bool
        )
        shapes = np.frombuffer(body[offset + packed :], np.int8).reshape(count, bands).astype(np.float32)
        if sum(segments) != count or bands != BANK_BANDS:
            raise ValueError("corrupt frame bank")
        return cls(shapes * _BANK_STEP_DB, selectable, segments)


@dataclass(frozen=True)
class MatchParams:
    """How base-voice frames find bank frames (chosen by measurement, see bench/voice_clone.py)."""

    candidates: int = 8  # nearest by the frame and its neighbours (+-near frames) ...
    near: int = 1
    context: int = 5  # ... re-ranked over +-context frames, step apart (80 ms each side)
    step: int = 2
    decay: float = 0.7
    pca_dims: int = 64
    average: int = 1  # the best this many (after re-ranking) are averaged
    # Frames are compared on band levels smoothed over +-match_smooth_hz (triangular): below ~1.5 kHz the
    # bands resolve harmonics, and without smoothing their ripple (a matter of F0, not of the phone) steered
    # the choice (WER 0.47 -> 0.38 on the tuning clones' harder sentences at equal similarity).
    match_smooth_hz: float = 200.0
    # Share of the frame-by-frame substitution; the rest is the long-term correction (the mean bank shape
    # less the incoming voice's mean shape). 1 for clones; speech to speech uses less (conversion module).
    blend: float = 1.0

    @property
    def lookahead(self) -> int:
        return max(self.near, self.context * self.step if self.reranks else 0)

    @property
    def reranks(self) -> bool:
        return self.candidates > 1 and self.context > 0


def _stack(values: np.ndarray, reach: int, step: int) -> np.ndarray:
    """Rows of ``values`` beside their neighbours -reach..reach (times ``step``), edges repeated."""
    if reach == 0:
        return values
    pad = reach * step
    padded = np.pad(values, ((pad, pad), (0, 0)), mode="edge")
    n = values.shape[0]
    return np.concatenate([padded[k * step : k * step + n] for k in range(2 * reach + 1)], axis=1)


def _band_smoother(usable: np.ndarray, hz: float) -> np.ndarray | None:
    """[bands, bands] triangular smoothing over +-``hz`` of the usable bands (rows sum to 1)."""
    if hz <= 0:
        return None
    _, centres, _ = _mel_bank(16_000, frame_sizes(16_000)[0])
    c = centres[usable]
    k = np.maximum(0.0, 1.0 - np.abs(c[:, None] - c[None, :]) / hz) + np.eye(c.size) * 1e-6
    return k / k.sum(axis=1, keepdims=True)


class _Matcher:
    """The bank prepared for one output rate: stacked, normalised features for the two-stage search."""

    def __init__(self, bank: FrameBank, usable: np.ndarray, params: MatchParams) -> None:
        self.params = params
        self.usable = usable
        self.smoother = _band_smoother(usable, params.match_smooth_hz)
        shapes = bank.shapes[:, usable]
        if self.smoother is not None:
            shapes = shapes @ self.smoother.T
        shapes = shapes - shapes.mean(axis=1, keepdims=True)
        self.mean = shapes[bank.selectable].mean(axis=0)
        centred = shapes - self.mean
        near_parts, ctx_parts, start = [], [], 0
        for length in bank.segments:
            part = centred[start : start + length]
            near_parts.append(_stack(part, params.near, 1))
            if params.reranks:
                ctx_parts.append(_stack(part, params.context, params.step))
            start += length
        keep = bank.selectable
        near = np.concatenate(near_parts)[keep].astype(np.float64)
        # The first search runs in the bank's principal subspace: pca_dims of the 240 dimensions keep nearly
        # all of the variance (frames are smooth across bands and time) at a quarter of the cost.
        dims = min(params.pca_dims, near.shape[1], near.shape[0])
        centred_near = near - near.mean(axis=0)
        _, vectors = np.linalg.eigh(centred_near.T @ centred_near)  # ascending eigenvalues
        self.basis = np.ascontiguousarray(vectors[:, ::-1][:, :dims], dtype=np.float32)  # [features, dims]
        self.near = np.ascontiguousarray(near.astype(np.float32) @ self.basis)
        self.near_t = np.ascontiguousarray(self.near.T)
        self.near_sq = (self.near.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
        self.ctx_weights = np.repeat(
            np.sqrt(params.decay ** np.abs(np.arange(-params.context, params.context + 1))), shapes.shape[1]
        ).astype(np.float32)
        self.ctx = (
            np.ascontiguousarray(np.concatenate(ctx_parts)[keep] * self.ctx_weights, dtype=np.float32)
            if ctx_parts
            else None
        )
        full = bank.shapes[keep]
        self.targets = full - full[:, usable].mean(axis=1, keepdims=True)  # all bands, centred on usable

    def select(self, near_q: np.ndarray, ctx_q: np.ndarray | None) -> np.ndarray:
        """Target shapes [m, BANK_BANDS] for queries (already centred and stacked like the bank)."""
        out = np.empty((near_q.shape[0], self.targets.shape[1]), np.float32)
        k = self.params.candidates
        for first in range(0, near_q.shape[0], 256):
            q = _rows_matmul(near_q[first : first + 256].astype(np.float32), self.basis)
            distance = self.near_sq[None, :] - 2.0 * _rows_matmul(q, self.near_t)
            if k <= 1 or self.near.shape[0] <= k or (self.ctx is None and self.params.average <= 1):
                chosen = distance.argmin(axis=1)
            elif self.ctx is None:  # no re-ranking: the mean of the nearest few
                nearest = np.argsort(distance, axis=1, kind="stable")[:, : self.params.average]
                out[first : first + 256] = self.targets[nearest].mean(axis=1)
                continue
            else:
                cand = np.argpartition(distance, k, axis=1)[:, :k]
                cq = (ctx_q[first : first + 256] * self.ctx_weights)[:, None, :]  # type: ignore[index]
                ctx_distance = ((self.ctx[cand] - cq) ** 2).sum(axis=2)
                if self.params.average > 1:
                    best = np.argsort(ctx_distance, axis=1, kind="stable")[:, : self.params.average]
                    picked = np.take_along_axis(cand, best, axis=1)
                    out[first : first + 256] = self.targets[picked].mean(axis=1)
                    continue
                chosen = np.take_along_axis(cand, ctx_distance.argmin(axis=1)[:, None], axis=1)[:, 0]
            out[first : first + 256] = self.targets[chosen]
        return out


@functools.lru_cache(maxsize=8)
def _matcher(frames: str, sample_rate: int, params: MatchParams) -> _Matcher:
    # Decoding and stacking a bank takes a few ms; voices are rendered many times, so keep a few.
    n_fft, _ = frame_sizes(sample_rate)
    return _Matcher(FrameBank.decode(frames), _mel_bank(sample_rate, n_fft)[2], params)


def _warp_matrix(centres: np.ndarray, warp: float) -> np.ndarray | None:
    """[bands, bands] linear interpolation that reads a band level curve at ``centre / warp``."""
    if math.isclose(warp, 1.0):
        return None
    eye = np.eye(centres.size)
    return np.stack([np.interp(centres / warp, centres, row) for row in eye], axis=1)


def source_shape(audios: Sequence[np.ndarray], sample_rate: int, warp: float = 1.0) -> np.ndarray:
    """A base voice's mean shape (dB per band) for ``VoiceTransform.frames_source_db``.

    Measured like a bank's (:meth:`FrameBank.mean_shape`: the louder 70 % of frames, each relative to its
    mean level), on the base voice's speech without pauses, after the ``frames_warp`` the stream will apply.
    """
    n_fft, _ = frame_sizes(sample_rate)
    _, centres, usable = _mel_bank(sample_rate, n_fft)
    matrix = _warp_matrix(centres, warp)
    levels = np.concatenate([speech_band_levels(a, sample_rate) for a in audios])
    if matrix is not None:
        levels = levels @ matrix.T
    shapes, level = _shapes(levels, usable)
    loud = level > np.quantile(level, FrameBank.KEEP_QUANTILE)
    return shapes[loud].mean(axis=0)


def match_distance(
    frames: str, audios: Sequence[np.ndarray], sample_rate: int, warp: float, match: MatchParams | None = None
) -> float:
    """Mean distance from a base voice's frames to their nearest bank frames (lower: the phones line up).

    Used to choose ``frames_warp`` (:func:`choose_warp`): the warp that brings the base voice's frames
    closest to the speaker's is the vocal-tract length ratio, as in VTLN.
    """
    levels = [speech_band_levels(a, sample_rate) for a in audios]
    return _warp_distance(frames, levels, sample_rate, warp, match or MatchParams())


def _warp_distance(
    frames: str,
    levels: Sequence[np.ndarray],
    sample_rate: int,
    warp: float,
    match: MatchParams,
    stride: int = 1,
) -> float:
    """:func:`match_distance` of audio already analysed (band levels per clip), every ``stride``-th frame."""
    n_fft, _ = frame_sizes(sample_rate)
    _, centres, usable = _mel_bank(sample_rate, n_fft)
    matcher = _matcher(frames, sample_rate, match)
    matrix = _warp_matrix(centres, warp)
    warped = [lv @ matrix.T if matrix is not None else lv for lv in levels]
    shapes, level = _shapes(np.concatenate(warped), usable)  # the mean shape, as source_shape measures it
    mean = shapes[level > np.quantile(level, FrameBank.KEEP_QUANTILE)].mean(axis=0)[usable]
    total, count = 0.0, 0
    for lv in warped:
        used = lv[:, usable]
        loud = used.mean(axis=1) > np.quantile(used.mean(axis=1), FrameBank.KEEP_QUANTILE)
        loud[np.arange(loud.size) % stride != 0] = False
        q = used - used.mean(axis=1, keepdims=True) - (mean - mean.mean())
        if matcher.smoother is not None:
            q = q @ matcher.smoother.T
        queries = _stack(q, match.near, 1)[loud]
        projected = _rows_matmul(queries.astype(np.float32), matcher.basis)
        distance = matcher.near_sq[None, :] - 2.0 * _rows_matmul(projected, matcher.near_t)
        nearest = distance.min(axis=1) + (projected.astype(np.float64) ** 2).sum(axis=1)
        total += float(np.sqrt(np.maximum(nearest, 0.0)).sum())
        count += int(loud.sum())
    return total / max(1, count)


# Vocal-tract warps tried when choosing ``frames_warp`` (the incoming voice's frequencies times this), and
# the prior against large ones: a warp's mean match distance counts (1 + WARP_PRIOR * |ln warp|) times. With
# smoothed matching the distance keeps falling a little past the right warp for a male voice matched to a
# female speaker (1.25-1.3 instead of 1.15-1.2), and the overshoot cost words (pocketsphinx WER 0.21 at 1.3
# vs 0.10 at 1.2 on a tuning speaker); the prior removes the overshoot on the tuning speakers.
WARP_GRID = (0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3)
WARP_PRIOR = 0.1


def choose_warp(
    frames: str,
    audios: Sequence[np.ndarray],
    sample_rate: int,
    match: MatchParams | None = None,
    grid: Sequence[float] = WARP_GRID,
) -> float:
    """The ``frames_warp`` (from ``grid``) under which ``audios`` find the closest bank frames (VTLN).

    Judged on every other loud frame (the mean distance hardly changes; the search costs half).
    """
    match = match or MatchParams()
    levels = [speech_band_levels(a, sample_rate) for a in audios]

    def cost(warp: float) -> float:
        distance = _warp_distance(frames, levels, sample_rate, warp, match, stride=2)
        return distance * (1 + WARP_PRIOR * abs(math.log(warp)))

    return min(grid, key=cost)


# --- splitting the work with the engine --------------------------------------------------------


@dataclass(frozen=True)
class EngineProsody:
    """Multipliers for the engine request (:class:`chorus.engines.base.SynthesisRequest` fields)."""

    pitch: float = 1.0
    pitch_range: float = 1.0
    speed: float = 1.0


def split_for_engine(
    transform: VoiceTransform,
    base_f0_median_hz: float | None,
    *,
    pitch: bool = True,
    rate: bool = True,
    max_pitch: float = 2.0,
    min_pitch: float = 0.5,
) -> tuple[EngineProsody, VoiceTransform, float | None]:
    """Hand the engine the pitch and rate it can do itself; the rest stays for :class:`TransformStream`.

    ``base_f0_median_hz`` is the median F0 of the engine voice as it speaks unmodified (a clone stores it in
    ``transform.reference["base_f0_median_hz"]``). Returns the engine's multipliers, the transform left
    for the DSP, and the F0 median the DSP will see (for its ``source_f0_median_hz``). A pitch ratio the
    engine cannot reach (outside ``min_pitch..max_pitch``) is done as far as it can and the rest in DSP.
    """
    prosody = EngineProsody()
    residual = transform
    source_median = base_f0_median_hz
    if pitch and transform.f0_median_hz is not None and base_f0_median_hz:
        ratio = transform.f0_median_hz / base_f0_median_hz
        engine_ratio = min(max_pitch, max(min_pitch, ratio))
        source_median = base_f0_median_hz * engine_ratio
        prosody = replace(prosody, pitch=engine_ratio, pitch_range=min(3.0, max(0.0, transform.f0_range)))
        residual = residual.replace(f0_range=1.0)
        if math.isclose(engine_ratio, ratio, rel_tol=1e-3):
            residual = residual.replace(f0_median_hz=None)
    elif pitch and transform.f0_median_hz is None and not math.isclose(transform.f0_range, 1.0):
        prosody = replace(prosody, pitch_range=min(3.0, max(0.0, transform.f0_range)))
        residual = residual.replace(f0_range=1.0)
    if rate and not math.isclose(transform.rate, 1.0):
        prosody = replace(prosody, speed=min(2.0, max(0.5, transform.rate)))
        residual = residual.replace(rate=1.0)
    return prosody, residual, source_median


# --- stage 1: WORLD pitch and rate ---------------------------------------------------------------


class _WorldStage:
    """F0 mapping and time scaling by WORLD analysis/synthesis in fixed blocks (see the module docstring)."""

    def __init__(
        self,
        transform: VoiceTransform,
        sample_rate: int,
        source_f0_median_hz: float | None,
        block_s: float = WORLD_BLOCK_S,
    ) -> None:
        import pyworld

        self._pw = pyworld
        self.sr = sample_rate
        self.target = transform.f0_median_hz
        self.spread = max(0.0, float(transform.f0_range))
        self.rate = min(4.0, max(0.25, float(transform.rate)))
        self.source_median = source_f0_median_hz
        self._voiced: list[np.ndarray] = []
        self._voiced_count = 0
        self.block = max(1, round(block_s * sample_rate))
        self.context = round(WORLD_CONTEXT_S * sample_rate)
        self.fade = max(1, round(WORLD_FADE_S * sample_rate / self.rate))
        self._input = np.zeros(0)  # samples from _input_start on
        self._input_start = -self.context  # absolute position of _input[0] (left zero context)
        self._input = np.zeros(self.context)
        self._received = 0
        self._next_block = 0
        self._tail = np.zeros(0)  # previous block's synthesis past its end, for the cross-fade
        self.latency = self.block + self.context - 1  # input held back at most

    def _log_median(self) -> float | None:
        if self.source_median:
            return math.log(self.source_median)
        if not self._voiced:
            return None
        return float(np.median(np.concatenate(self._voiced)))

    def _map_f0(self, f0: np.ndarray, body: slice) -> np.ndarray:
        """``f0`` mapped to the target; ``body``: the frames of the block itself (not its context), the
        only ones that count toward the running source median (context frames would count twice)."""
        voiced = f0 > 0
        if not voiced.any() or (self.target is None and math.isclose(self.spread, 1.0)):
            return f0
        log_f0 = np.log(f0[voiced])
        if self.source_median is None and self._voiced_count < 1000 / WORLD_FRAME_MS:
            heard = f0[body]
            self._voiced.append(np.log(heard[heard > 0]))
            self._voiced_count += int((heard > 0).sum())
        centre = self._log_median()
        assert centre is not None
        goal = math.log(self.target) if self.target is not None else centre
        out = f0.copy()
        out[voiced] = np.exp(goal + (log_f0 - centre) * self.spread)
        return out

    def _run_block(self, index: int, final: bool) -> np.ndarray:
        pw = self._pw
        start = index * self.block
        lo = start - self.context
        hi = start + self.block + self.context
        segment = self._input[lo - self._input_start : hi - self._input_start]
        if segment.size < hi - lo:
            segment = np.pad(segment, (0, hi - lo - segment.size))
        x = np.ascontiguousarray(segment, dtype=np.float64)
        # F0 by the analysis module's tracker (high-pass + Praat), not WORLD's DIO: under low-frequency
        # rumble DIO marks most voiced frames unvoiced (voiced recall 0.03-0.13 on synthetic speech with
        # rumble 6 dB under it), which WORLD then resynthesises as noise.
        from chorus.voicelab.analysis import f0_at

        times = np.arange(1 + x.size * 1000 // (WORLD_FRAME_MS * self.sr)) * (WORLD_FRAME_MS / 1000)
        f0 = f0_at(x, self.sr, times)
        sp = pw.cheaptrick(x, f0, times, self.sr)
        ap = pw.d4c(x, f0, times, self.sr)
        frame_s = WORLD_FRAME_MS / 1000
        body = slice(
            round(self.context / self.sr / frame_s), round((self.context + self.block) / self.sr / frame_s)
        )
        f0 = self._map_f0(f0, body)
        if not math.isclose(self.rate, 1.0):
            count = max(2, round(f0.size / self.rate))
            where = np.linspace(0, f0.size - 1, count)
            nearest = np.clip(np.round(where).astype(int), 0, f0.size - 1)
            f0, sp, ap = f0[nearest], sp[nearest], ap[nearest]
        y = pw.synthesize(
            np.ascontiguousarray(f0),
            np.ascontiguousarray(sp),
            np.ascontiguousarray(ap),
            self.sr,
            WORLD_FRAME_MS,
        )
        if math.isclose(self.rate, 1.0):
            # Unvoiced stretches keep the input itself, cross-faded over WORLD_FADE_S: WORLD resynthesises
            # them as shaped noise, smearing bursts and fricatives, and F0 means nothing there. Measured
            # (pocketsphinx, 27 clips of the tuning speakers, WORLD with F0 unchanged): WER 0.295 -> 0.262,
            # unconverted 0.264; speech to speech 0.315 -> 0.277 (tuning), 0.301 -> 0.269 (held out).
            n = min(y.size, x.size)
            voiced = np.interp(np.arange(n) / self.sr, times, (f0 > 0).astype(np.float64))
            k = max(1, round(WORLD_FADE_S * self.sr))
            padded = np.pad(voiced, (k // 2, k - 1 - k // 2), mode="edge")
            voiced = np.convolve(padded, np.ones(k) / k, "valid")
            y = y[:n] * voiced + x[:n] * (1.0 - voiced)
        # Output positions are fixed by absolute input positions, so any chunking gives the same blocks.
        out_start = round(start / self.rate)
        out_end = round(min(start + self.block, self._received if final else start + self.block) / self.rate)
        offset = round(self.context / self.rate)
        body = y[offset : offset + (out_end - out_start) + self.fade]
        if body.size < out_end - out_start + self.fade:
            body = np.pad(body, (0, out_end - out_start + self.fade - body.size))
        result = body[: out_end - out_start].copy()
        if self._tail.size:
            n = min(self.fade, self._tail.size, result.size)
            ramp = (np.arange(n) + 0.5) / n
            result[:n] = self._tail[:n] * (1 - ramp) + result[:n] * ramp
        self._tail = body[out_end - out_start :]
        return result

    def process(self, x: np.ndarray) -> np.ndarray:
        self._input = np.concatenate([self._input, x])
        self._received += x.size
        out = []
        while (self._next_block + 1) * self.block + self.context <= self._received:
            out.append(self._run_block(self._next_block, False))
            self._next_block += 1
            self._trim()
        return np.concatenate(out) if out else np.zeros(0)

    def flush(self) -> np.ndarray:
        out = []
        while self._next_block * self.block < self._received:
            out.append(self._run_block(self._next_block, True))
            self._next_block += 1
        return np.concatenate(out) if out else np.zeros(0)

    def _trim(self) -> None:
        keep_from = self._next_block * self.block - self.context
        drop = keep_from - self._input_start
        if drop > 0:
            self._input = self._input[drop:]
            self._input_start = keep_from


# --- stage 2: the spectral envelope ------------------------------------------------------------


def _static_gains_db(transform: VoiceTransform, freqs: np.ndarray, nyquist: float) -> np.ndarray | None:
    gains = np.zeros(freqs.size)
    used = False
    if transform.tilt_db_per_octave:
        gains += transform.tilt_db_per_octave * np.log2(np.maximum(freqs, 500.0) / 500.0)
        used = True
    if any(transform.envelope_db):
        # envelope_db: mel-spaced bands from 0 Hz to Nyquist, read at their centres.
        values = np.asarray(transform.envelope_db, dtype=np.float64)
        edges = _mel_to_hz(np.linspace(0.0, float(_hz_to_mel(nyquist)), values.size + 1))
        centres = (edges[:-1] + edges[1:]) / 2
        gains += np.interp(freqs, centres, values)
        used = True
    return gains if used else None


class _SpectralStage:
    """STFT filter with per-frame band gains; exact streaming with a fixed latency (module docstring)."""

    def __init__(self, transform: VoiceTransform, sample_rate: int, params: MatchParams) -> None:
        self.sr = sample_rate
        self.n_fft, self.hop = frame_sizes(sample_rate)
        self.window = _window(self.n_fft)
        self.weights, self.centres, self.usable = _mel_bank(sample_rate, self.n_fft)
        self.freqs = np.linspace(0.0, sample_rate / 2, self.n_fft // 2 + 1)
        # Linear interpolation of band gains (at band centres) onto bins, as one matrix.
        eye = np.eye(BANK_BANDS)
        self.to_bins = np.stack([np.interp(self.freqs, self.centres, row) for row in eye], axis=1)
        self.norm = float((self.window**2).sum() / self.hop)
        self.warp = float(transform.formant_shift)
        self.static = _static_gains_db(transform, self.freqs, sample_rate / 2)
        self.breath = min(1.0, max(0.0, float(transform.breathiness)))
        self.breath_weight = np.clip((self.freqs - 100.0) / 100.0, 0.0, 1.0) * (
            _BREATH_LOW_WEIGHT + (1 - _BREATH_LOW_WEIGHT) * np.clip((self.freqs - 200.0) / 1800.0, 0.0, 1.0)
        )
        # Autocorrelation lags of 60-500 Hz periods, and the analysis window's own autocorrelation there
        # (dividing by it undoes the window's taper, so a periodic frame's peak is near 1 at any lag).
        self.lags = (
            max(1, int(sample_rate / 500.0)),
            min(self.n_fft // 2, int(math.ceil(sample_rate / 60.0))),
        )
        window_ac = np.fft.irfft(np.abs(np.fft.rfft(self.window, n=2 * self.n_fft)) ** 2)[: self.lags[1] + 1]
        self.window_ac = np.maximum(window_ac / window_ac[0], 0.25)
        self.lifter = max(2, round(0.0018 * sample_rate))
        self.band_power_norm = np.maximum(self.weights.sum(axis=1), 1e-9)
        self.rng = np.random.default_rng([int(transform.seed) & 0xFFFFFFFF, 1])
        self.matcher: _Matcher | None = None
        self.source_mean: np.ndarray | None = None
        self.query_warp = _warp_matrix(self.centres, transform.frames_warp)
        source_full = None
        if transform.frames:
            self.matcher = _matcher(transform.frames, sample_rate, params)
            source = np.asarray(transform.frames_source_db, dtype=np.float64)
            if source.size == BANK_BANDS:
                src = source[self.usable]
                self.source_mean = src - src.mean()
                source_full = source - src.mean()
            else:  # unknown base voice: compare raw shapes (as if it already had the target's mean shape)
                self.source_mean = self.matcher.mean.astype(np.float64)
        self.params = params
        self.mean_gain = np.zeros(BANK_BANDS)
        if self.matcher is not None and source_full is not None:
            # frames_source_db was measured after frames_warp; the static part applies to unwarped frames.
            unwarp = _warp_matrix(self.centres, 1.0 / transform.frames_warp)
            self.mean_gain = self.matcher.targets.mean(axis=0) - (
                source_full if unwarp is None else unwarp @ source_full
            )
        # Where a frame's gain is limited around (see _CORRECTION_BELOW_HZ): the long-term correction at low
        # frequencies, 0 dB above.
        self.gain_centre = np.where(self.centres < _CORRECTION_BELOW_HZ, self.mean_gain, 0.0)
        self.lookahead = params.lookahead if self.matcher is not None else 0
        self.dynamic = self.matcher is not None or not math.isclose(self.warp, 1.0)
        self.latency = self.n_fft - 1 + self.lookahead * self.hop  # input held back at most
        # Streaming state.
        self._buffer = np.zeros(self.n_fft - self.hop)  # input not yet consumed by complete frames
        self._spectra = np.zeros((0, self.freqs.size), np.complex128)  # analysed, not yet output
        self._levels = np.zeros((0, BANK_BANDS))
        self._history = np.zeros((0, int(self.usable.sum())))  # normalised queries, for context
        self._history_first = 0  # frame index of _history[0]
        self._next = 0  # index of the next frame to output
        self._analysed = 0
        self._peak: float | None = None
        self._peak_time = 0.0
        self._ola = np.zeros(self.n_fft)
        self._preroll = self.n_fft - self.hop  # output samples that belong to the zero padding
        self._finished = False

    # -- analysis --

    def _analyse(self, frames: np.ndarray) -> None:
        spectrum = np.fft.rfft(frames * self.window, axis=1)
        levels = band_levels(spectrum.real**2 + spectrum.imag**2, self.sr, self.n_fft)
        self._spectra = np.concatenate([self._spectra, spectrum])
        self._levels = np.concatenate([self._levels, levels])
        if self.matcher is not None:
            self._history = np.concatenate([self._history, self._queries(levels)])
        self._analysed += frames.shape[0]

    def _queries(self, levels: np.ndarray) -> np.ndarray:
        """Frames as the bank sees them: warped toward the target's vocal tract (``frames_warp``), band
        levels relative to the frame's mean, less the base voice's mean shape (the bank is centred on its
        own mean in :class:`_Matcher`), so that phones, not voices, are compared."""
        if self.query_warp is not None:
            levels = levels @ self.query_warp.T
        used = levels[:, self.usable]
        q = used - used.mean(axis=1, keepdims=True) - self.source_mean
        assert self.matcher is not None
        return q if self.matcher.smoother is None else q @ self.matcher.smoother.T

    def _context(self, first: int, count: int, reach: int, step: int) -> np.ndarray:
        """Stacked queries for frames first..first+count-1, edges repeated (at the stream's start and end)."""
        index = np.arange(first, first + count)[:, None] + step * np.arange(-reach, reach + 1)[None, :]
        index = np.clip(index, 0, self._analysed - 1) - self._history_first
        return self._history[index].reshape(count, -1)

    # -- gains --

    def _gate(self, level: np.ndarray) -> np.ndarray:
        """0..1 per frame: how much envelope gain a frame gets, from its level under the running peak."""
        times = (self._next + np.arange(level.size)) * self.hop / self.sr
        decay = _PEAK_DECAY_DB_S
        lifted = level + decay * times
        running = np.maximum.accumulate(lifted)
        if self._peak is not None:
            running = np.maximum(running, self._peak + decay * self._peak_time)
        peak = running - decay * times
        self._peak = float(peak[-1])
        self._peak_time = float(times[-1])
        return np.clip((level - (peak - _GATE_BELOW_PEAK_DB)) / _GATE_SPAN_DB, 0.0, 1.0)

    def _bank_gains(self, first: int, count: int, mean_level: np.ndarray) -> np.ndarray:
        """Band gains (dB) that give each frame the shape of its chosen bank frame, its own level kept."""
        assert self.matcher is not None
        p = self.params
        levels = self._levels[:count]
        near = self._context(first, count, p.near, 1)
        ctx = self._context(first, count, p.context, p.step) if p.reranks else None
        target = self.matcher.select(near, ctx)
        gains = target + mean_level[:, None] - levels
        if p.blend < 1.0:
            gains = p.blend * gains + (1.0 - p.blend) * self.mean_gain[None, :]
        centre = self.gain_centre[None, :]
        return np.clip(
            centre + np.clip(gains - centre, -_MAX_GAIN_DB, _MAX_GAIN_DB),
            -_MAX_TOTAL_GAIN_DB,
            _MAX_TOTAL_GAIN_DB,
        )

    def _warp_gains(self, spectra: np.ndarray) -> np.ndarray:
        """Bin gains (dB) that move each frame's smooth envelope to ``f * formant_shift``.

        The envelope is the cepstrally smoothed log spectrum (quefrencies under 1.8 ms), so harmonics, which
        stay where they are, do not count as formants for F0 up to about 550 Hz.
        """
        log_power = 10.0 * np.log10(spectra.real**2 + spectra.imag**2 + _EPS)
        cepstrum = np.fft.irfft(log_power, n=self.n_fft, axis=1)
        cepstrum[:, self.lifter : self.n_fft - self.lifter + 1] = 0.0
        envelope = np.fft.rfft(cepstrum, axis=1).real
        warped = np.stack([np.interp(self.freqs / self.warp, self.freqs, row) for row in envelope])
        return np.clip(warped - envelope, -_MAX_GAIN_DB, _MAX_GAIN_DB)

    def _voicing(self, spectra: np.ndarray) -> np.ndarray:
        """0..1 per frame: how periodic it is (the peak of its normalised autocorrelation at 2-16.7 ms)."""
        frames = np.fft.irfft(spectra, n=self.n_fft, axis=1)  # the windowed frames
        padded = np.fft.rfft(frames, n=2 * self.n_fft, axis=1)
        ac = np.fft.irfft(padded.real**2 + padded.imag**2, axis=1)[:, : self.lags[1] + 1]
        ac = ac / np.maximum(ac[:, :1], _EPS) / self.window_ac[None, :]
        peak = ac[:, self.lags[0] :].max(axis=1)
        return np.clip((peak - _VOICING_FLOOR) / _VOICING_SPAN, 0.0, 1.0)

    def _breathe(self, spectra: np.ndarray) -> np.ndarray:
        """Breathy phonation: aspiration noise with the frame's envelope takes over part of the harmonics.

        The noise (complex Gaussian, seeded) has each frame's mel band power; its amplitude is
        ``_BREATH_NOISE * breathiness`` of that envelope and the harmonics lose ``_BREATH_DUCK * breathiness``
        of theirs, both weighted by frequency (nothing under 200 Hz, fully from 1.2 kHz, where aspiration
        noise lives) and by the frame's voicing (:meth:`_voicing`): breath is a property of voiced sound, so
        fricatives and pauses get none. Praat's HNR of flite speech falls 6-8 dB at breathiness 0.6
        (tests/unit/test_voice_transform.py).
        """
        power = spectra.real**2 + spectra.imag**2
        band_power = (power @ self.weights.T) / self.band_power_norm
        bin_power = np.maximum(band_power, 0.0) @ self.to_bins.T
        noise = self.rng.standard_normal((spectra.shape[0], self.freqs.size, 2))
        noise = (noise[..., 0] + 1j * noise[..., 1]) * np.sqrt(0.5 * bin_power)
        weight = self.breath * self._voicing(spectra)[:, None] * self.breath_weight[None, :]
        return spectra * (1.0 - _BREATH_DUCK * weight) + _BREATH_NOISE * weight * noise

    # -- output --

    def _emit(self, count: int) -> np.ndarray:
        spectra = self._spectra[:count]
        if self.dynamic:
            levels = self._levels[:count]
            mean_level = levels[:, self.usable].mean(axis=1)
            gate = self._gate(mean_level)[:, None]
            if self.matcher is not None:
                bank_db = (self._bank_gains(self._next, count, mean_level) * gate) @ self.to_bins.T
                spectra = spectra * 10.0 ** (bank_db / 20.0)
            if not math.isclose(self.warp, 1.0):
                spectra = spectra * 10.0 ** (self._warp_gains(spectra) * gate / 20.0)
        if self.static is not None:
            spectra = spectra * 10.0 ** (self.static[None, :] / 20.0)
        if self.breath > 0:
            spectra = self._breathe(spectra)
        frames = np.fft.irfft(spectra, n=self.n_fft, axis=1) * self.window
        hop = self.hop
        buffer = np.zeros((count - 1) * hop + self.n_fft)
        buffer[: self.n_fft] = self._ola
        for i in range(count):  # frame i covers buffer[i * hop : i * hop + n_fft]
            buffer[i * hop : i * hop + self.n_fft] += frames[i]
        out = buffer[: count * hop].copy()
        self._ola = np.concatenate([buffer[count * hop :], np.zeros(hop)])
        self._spectra = self._spectra[count:]
        self._levels = self._levels[count:]
        self._next += count
        if self.matcher is not None:
            p = self.params
            keep_from = max(0, self._next - max(p.near, p.context * p.step) - 1)
            drop = keep_from - self._history_first
            if drop > 0:
                self._history = self._history[drop:]
                self._history_first = keep_from
        out /= self.norm
        if self._preroll:
            cut = min(self._preroll, out.size)
            out = out[cut:]
            self._preroll -= cut
        return out

    def process(self, x: np.ndarray) -> np.ndarray:
        self._buffer = np.concatenate([self._buffer, x])
        frames = _frames(self._buffer, self.n_fft, self.hop)
        if frames.shape[0]:
            self._analyse(frames)
            self._buffer = self._buffer[frames.shape[0] * self.hop :]
        ready = self._analysed - self.lookahead - self._next
        return self._emit(ready) if ready > 0 else np.zeros(0)

    def flush(self, total_out: int) -> np.ndarray:
        """Everything left; ``total_out`` is how many samples the stream must have produced in all."""
        tail = np.concatenate([self._buffer, np.zeros(self.n_fft)])
        frames = _frames(tail, self.n_fft, self.hop)
        if frames.shape[0]:
            self._analyse(frames)
        self._buffer = np.zeros(0)
        out = self._emit(self._analysed - self._next)
        return out[: max(0, total_out)]


# --- the stream --------------------------------------------------------------------------------


class TransformStream:
    """Apply ``transform`` to s16le mono PCM at ``sample_rate``, chunk by chunk (see the module docstring).

    :meth:`process` returns the transformed samples that are ready (possibly fewer than it was given: the
    stream looks ahead :attr:`latency_samples`); :meth:`flush` returns the rest. With ``rate`` done here the
    output is ``1 / rate`` times as long. ``source_f0_median_hz``: median F0 of the incoming voice, when the
    caller knows it (see :func:`split_for_engine`). ``world_block_s``: the pitch/rate stage's block (longer
    blocks cost less per second, a block of latency). A dangling byte waits for the next call. Not
    thread-safe.
    """

    def __init__(
        self,
        transform: VoiceTransform,
        sample_rate: int,
        *,
        source_f0_median_hz: float | None = None,
        match: MatchParams | None = None,
        world_block_s: float = WORLD_BLOCK_S,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"invalid sample rate {sample_rate}")
        self.transform = transform
        self.sample_rate = int(sample_rate)
        self._identity = transform.is_identity()
        self._pending = b""
        self._in = 0
        self._out = 0
        self._closed = False
        self._world: _WorldStage | None = None
        self._spectral: _SpectralStage | None = None
        self._loudness: Any = None
        if self._identity:
            return
        if (
            transform.f0_median_hz is not None
            or not math.isclose(transform.f0_range, 1.0)
            or not math.isclose(transform.rate, 1.0)
        ):
            self._world = _WorldStage(transform, self.sample_rate, source_f0_median_hz, world_block_s)
        if (
            transform.frames
            or not math.isclose(transform.formant_shift, 1.0)
            or transform.tilt_db_per_octave
            or any(transform.envelope_db)
            or transform.breathiness > 0
        ):
            self._spectral = _SpectralStage(transform, self.sample_rate, match or MatchParams())
        self._rough = min(1.0, max(0.0, float(transform.roughness))) * _ROUGH_DEPTH
        self._rough_rng = np.random.default_rng([int(transform.seed) & 0xFFFFFFFF, 2])
        self._rough_step = max(1, round(self.sample_rate / _ROUGH_HZ))
        self._rough_last = 0.0
        self._rough_pos = 0  # samples modulated so far
        self._rough_points: np.ndarray = np.zeros(0)
        if transform.loudness_lufs is not None:
            from chorus.audio.effects import EffectChain, EffectSettings

            self._loudness = EffectChain(
                self.sample_rate,
                EffectSettings(use_speaker_boost=False, target_lufs=float(transform.loudness_lufs)),
                int(transform.seed),
            )

    @property
    def is_identity(self) -> bool:
        return self._identity

    @property
    def latency_samples(self) -> int:
        """Samples held back at most (at the input rate) before :meth:`flush`."""
        total = 0
        if self._world is not None:
            total += self._world.latency
        if self._spectral is not None:
            total += self._spectral.latency
        return total

    def process(self, pcm: bytes) -> bytes:
        if self._closed:
            raise RuntimeError("process() after flush()")
        data = self._pending + bytes(pcm) if self._pending else bytes(pcm)
        usable = len(data) - (len(data) % 2)
        self._pending = data[usable:]
        if self._identity or usable == 0:
            return data[:usable]
        x = np.frombuffer(data, dtype="<i2", count=usable // 2).astype(np.float64) / _FULL_SCALE
        self._in += x.size
        return self._finish(self._run(x, final=False))

    def flush(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        self._pending = b""
        if self._identity:
            return b""
        out = self._finish(self._run(np.zeros(0), final=True))
        if self._loudness is not None:
            out += self._loudness.flush()
        return out

    def _run(self, x: np.ndarray, final: bool) -> np.ndarray:
        y = x
        expected = self._in
        if self._world is not None:
            y = self._world.process(y) if not final else self._world.flush()
            expected = round(self._in / self._world.rate)
        if self._spectral is not None:
            if final:
                # What process() returns now is not in self._out yet: the flush makes up the rest exactly.
                head = self._spectral.process(y)
                y = np.concatenate([head, self._spectral.flush(expected - self._out - head.size)])
            else:
                y = self._spectral.process(y)
        return y

    def _modulate(self, y: np.ndarray) -> np.ndarray:
        """Roughness: gain 1 + depth * (noise points every ~14 ms, linearly interpolated), sample-exact."""
        end = self._rough_pos + y.size
        needed = end // self._rough_step + 2
        have = self._rough_points.size
        if needed > have:
            fresh = self._rough_rng.uniform(-1.0, 1.0, needed - have)
            self._rough_points = np.concatenate([self._rough_points, fresh])
        where = np.arange(self._rough_pos, end) / self._rough_step
        gain = 1.0 + self._rough * np.interp(where, np.arange(self._rough_points.size), self._rough_points)
        self._rough_pos = end
        return y * gain

    def _finish(self, y: np.ndarray) -> bytes:
        if y.size == 0:
            return b""
        if self._rough > 0:
            y = self._modulate(y)
        self._out += y.size
        pcm = np.clip(np.rint(y * _FULL_SCALE), -32768, 32767).astype("<i2").tobytes()
        if self._loudness is not None:
            pcm = self._loudness.process(pcm)
        return pcm


def apply_transform(
    pcm: bytes,
    sample_rate: int,
    transform: VoiceTransform,
    *,
    source_f0_median_hz: float | None = None,
    match: MatchParams | None = None,
) -> bytes:
    """Transform a whole clip of s16le mono ``pcm`` (the same as a :class:`TransformStream` fed in chunks)."""
    stream = TransformStream(transform, sample_rate, source_f0_median_hz=source_f0_median_hz, match=match)
    return stream.process(pcm) + stream.flush()
