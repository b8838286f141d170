"""Speaker analysis of voice samples: what a clone is built from and what tests and benchmarks measure.

Everything is measured on 16 kHz mono speech with the pauses removed (Silero VAD segments, see
:func:`speech_only`):

- **F0** by Praat's autocorrelation tracker (5 ms frames, 60-500 Hz, high-passed, two passes: see
  :func:`f0_track`): median, spread of log F0 (the standard deviation in natural-log units; 0.2 is about
  3.5 semitones), 5th/95th percentiles, voiced fraction.
- **Formants** F1-F3 by Praat's Burg LPC (parselmouth; 5 formants under 5.5 kHz, the usual adult setting),
  medians over voiced frames.
- **HNR** by Praat's cross-correlation harmonicity (mean over voiced frames, dB).
- **Spectral shape**: the mean of the 80 mel band levels (0-8 kHz, 32 ms frames) of the louder 70 % of the
  frames, each relative to its frame's mean level (see :mod:`chorus.voicelab.transform_dsp`); and the
  long-term average spectrum (the same bands, not normalised).
- **Speaking rate**: syllable nuclei per second of speech (peaks of the 300-3000 Hz band level, 20 ms
  smoothing, at least 4 dB over the valleys either side and 100 ms apart, in voiced frames).
- **Speaker embedding**: resemblyzer's GE2E encoder (:class:`chorus.stt.speaker_embedding.SpeakerEmbedder`)
  over 1.6 s windows every 0.8 s, averaged and renormalised, as resemblyzer's ``embed_utterance`` does.

parselmouth, scipy's signal module and the VAD model are imported on use, never at import.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from chorus.voicelab.transform_dsp import FrameBank, speech_band_levels

__all__ = [
    "ANALYSIS_RATE",
    "SpeakerAnalysis",
    "analyse",
    "cosine",
    "fair_share",
    "f0_at",
    "f0_statistics",
    "f0_track",
    "formants",
    "hnr",
    "mean_shape",
    "pcm_to_float",
    "speaking_rate",
    "speech_only",
    "to_analysis_rate",
    "utterance_embedding",
]

ANALYSIS_RATE = 16_000
F0_FLOOR_HZ = 60.0
F0_CEIL_HZ = 500.0
F0_FRAME_MS = 5.0
F0_HIGHPASS_HZ = 150.0
EMBED_WINDOW = 160  # mel frames (1.6 s), as resemblyzer's partial utterances
EMBED_STEP = 80
VAD_LEVEL = 0.03  # about -30 dBFS: Silero finds nearly all the speech of a recording this loud
VAD_LEVEL_PERCENTILE = 99.9
VAD_MAX_GAIN = 1000.0  # +60 dB
# Instant cloning gains little from more than a minute or two of speech, while every measurement here
# grows with the length: a 5-minute upload took 25 s of analysis, 10 minutes of uploads would take about
# a minute. So at most MAX_AUDIO_S of the uploads' audio reach the VAD and at most MAX_SPEECH_S of their
# speech the measurements, each shared fairly between the samples (fair_share); Praat's formants and HNR,
# kept for information only, see at most DETAIL_SPEECH_S.
MAX_AUDIO_S = 240.0
MAX_SPEECH_S = 120.0
DETAIL_SPEECH_S = 30.0


def pcm_to_float(pcm: bytes | np.ndarray) -> np.ndarray:
    """s16le bytes (or int16 samples) as float32 in [-1, 1)."""
    if isinstance(pcm, bytes | bytearray | memoryview):
        data = bytes(pcm)
        samples = np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2")
    else:
        samples = np.asarray(pcm)
        if samples.dtype != np.int16:
            return samples.astype(np.float32).reshape(-1)
    return samples.astype(np.float32) / 32768.0


def to_analysis_rate(audio: np.ndarray, rate: int) -> np.ndarray:
    """Float ``audio`` at ``rate`` resampled to 16 kHz (soxr, high quality)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if rate == ANALYSIS_RATE or audio.size == 0:
        return audio
    import soxr

    return soxr.resample(audio, rate, ANALYSIS_RATE, quality="HQ").astype(np.float32)


def speech_only(audio: np.ndarray, vad: Any = None, pad_ms: int = 30) -> np.ndarray:
    """16 kHz float ``audio`` with the pauses cut out (Silero VAD segments, ``pad_ms`` around each).

    ``vad``: a :class:`chorus.stt.vad.SileroVAD` (default: the shared one). If no VAD can run the audio
    comes back unchanged, since analysis on audio with pauses is still meaningful.
    """
    from chorus.stt.vad import VADParams, VADUnavailable, segment_speech

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0:
        return audio
    params = VADParams(speech_pad_ms=pad_ms, min_silence_ms=150, min_speech_ms=120)
    # Silero misses speech recorded far too quietly (LibriSpeech at -50 dB found 3/4 of it, at -60 dB
    # none): the VAD hears a copy brought up to VAD_LEVEL when the recording's loud end (its
    # VAD_LEVEL_PERCENTILE magnitude) sits under it, by at most VAD_MAX_GAIN. Louder recordings are heard as
    # they are; the speech returned keeps its own level.
    loud = float(np.percentile(np.abs(audio), VAD_LEVEL_PERCENTILE))
    gain = min(VAD_MAX_GAIN, VAD_LEVEL / loud) if loud > 0 else 1.0
    heard = audio * np.float32(gain) if gain > 1.0 else audio
    try:
        segments = segment_speech(heard, params, vad)
    except VADUnavailable:
        return audio
    if not segments:
        return np.zeros(0, np.float32)
    return np.concatenate([audio[s.start : s.end] for s in segments])


def f0_track(audio: np.ndarray, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """F0 in Hz every 5 ms (0 = unvoiced): Praat's autocorrelation tracker after a high-pass, in two passes.

    1. The audio is high-passed at ``F0_HIGHPASS_HZ`` (8th-order Butterworth, zero phase). Low-frequency
       rumble (traffic, handling noise, mains hum) otherwise wins the autocorrelation: WORLD's DIO halved a
       LibriSpeech speaker (63 instead of 200 Hz) and Praat alone halved a 240 Hz voice under rumble. The
       tracker needs the harmonics, not the fundamental itself (it reads the period of the waveform), so the
       pitch of a 70 Hz voice survives the filter.
    2. Praat's path finder (octave and voicing costs) over 60-500 Hz, then again over the speaker's own range
       (0.75 x the first quartile to 2 x the third, as in Hirst's two-pass method), which removes most octave
       jumps (creak read as half the pitch) without clipping intonation.

    See tests/unit/test_voice_analysis.py (speech of known pitch under rumble and without its fundamental).
    """
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if x.size < rate // 20:
        return np.zeros(0)
    from scipy import signal

    x = signal.sosfiltfilt(_highpass(rate), x)
    f0 = _praat_f0(x, rate, F0_FLOOR_HZ, F0_CEIL_HZ)
    voiced = f0[f0 > 0]
    if voiced.size >= 20:
        low, high = np.percentile(voiced, [25, 75])
        floor, ceiling = max(F0_FLOOR_HZ, 0.75 * low), min(F0_CEIL_HZ, 2.0 * high)
        if ceiling > 1.5 * floor:
            f0 = _praat_f0(x, rate, floor, ceiling)
    return f0


def f0_at(audio: np.ndarray, rate: int, times: np.ndarray) -> np.ndarray:
    """F0 (Hz, 0 = unvoiced) of ``audio`` at ``times`` (seconds): :func:`f0_track`'s first pass (high-pass,
    Praat over 60-500 Hz), each time given its nearest frame. For short blocks (no range adaptation), e.g.
    WORLD's analysis in :mod:`chorus.voicelab.transform_dsp`.
    """
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    times = np.asarray(times, dtype=np.float64)
    if x.size < rate // 20:
        return np.zeros(times.size)
    from scipy import signal

    step = F0_FRAME_MS / 1000
    pitch = _sound(signal.sosfiltfilt(_highpass(rate), x), rate).to_pitch_ac(
        time_step=step, pitch_floor=F0_FLOOR_HZ, pitch_ceiling=F0_CEIL_HZ
    )
    values = np.nan_to_num(np.asarray(pitch.selected_array["frequency"], dtype=np.float64))
    index = np.round((times - pitch.xs()[0]) / step).astype(int)
    inside = (index >= 0) & (index < values.size)
    return np.where(inside, values[np.clip(index, 0, values.size - 1)], 0.0)


@functools.lru_cache(maxsize=8)
def _highpass(rate: int) -> np.ndarray:
    from scipy import signal

    return signal.butter(8, F0_HIGHPASS_HZ, "high", fs=rate, output="sos")


def _praat_f0(x: np.ndarray, rate: int, floor: float, ceiling: float) -> np.ndarray:
    step = F0_FRAME_MS / 1000
    pitch = _sound(x, rate).to_pitch_ac(time_step=step, pitch_floor=floor, pitch_ceiling=ceiling)
    return np.nan_to_num(np.asarray(pitch.selected_array["frequency"], dtype=np.float64))


def f0_statistics(f0: np.ndarray) -> dict[str, float | None]:
    """Median, log spread, 5th and 95th percentile and voiced fraction of an F0 track."""
    f0 = np.asarray(f0, dtype=np.float64)
    voiced = f0[f0 > 0]
    if voiced.size < 10:
        return {"median_hz": None, "log_std": None, "p5_hz": None, "p95_hz": None, "voiced_fraction": 0.0}
    log_f0 = np.log(voiced)
    return {
        "median_hz": float(np.exp(np.median(log_f0))),
        "log_std": float(log_f0.std()),
        "p5_hz": float(np.exp(np.percentile(log_f0, 5))),
        "p95_hz": float(np.exp(np.percentile(log_f0, 95))),
        "voiced_fraction": float(voiced.size / max(1, f0.size)),
    }


def _sound(audio: np.ndarray, rate: int) -> Any:
    import parselmouth

    return parselmouth.Sound(np.asarray(audio, dtype=np.float64).reshape(-1), sampling_frequency=rate)


def formants(
    audio: np.ndarray, rate: int = ANALYSIS_RATE, max_hz: float = 5500.0
) -> tuple[float, ...] | None:
    """Median F1, F2, F3 (Hz) over voiced frames (Praat Burg LPC, 25 ms windows); None without voicing."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if audio.size < rate // 10:
        return None
    sound = _sound(audio, rate)
    track = sound.to_formant_burg(time_step=0.01, max_number_of_formants=5, maximum_formant=max_hz)
    pitch = sound.to_pitch(time_step=0.01, pitch_floor=F0_FLOOR_HZ, pitch_ceiling=F0_CEIL_HZ)
    values: list[list[float]] = [[], [], []]
    for t in track.ts():
        if not pitch.get_value_at_time(t) > 0:  # NaN when unvoiced
            continue
        for i in range(3):
            value = track.get_value_at_time(i + 1, t)
            if value == value:
                values[i].append(value)
    if min(len(v) for v in values) < 5:
        return None
    return tuple(float(np.median(v)) for v in values)


def hnr(audio: np.ndarray, rate: int = ANALYSIS_RATE) -> float | None:
    """Mean harmonics-to-noise ratio (dB) over voiced frames (Praat cross-correlation method)."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if audio.size < rate // 10:
        return None
    harmonicity = _sound(audio, rate).to_harmonicity_cc(time_step=0.01, minimum_pitch=75.0)
    values = harmonicity.values.reshape(-1)
    values = values[values > -199]  # Praat marks unvoiced frames -200
    return float(values.mean()) if values.size else None


def speaking_rate(audio: np.ndarray, rate: int = ANALYSIS_RATE, f0: np.ndarray | None = None) -> float | None:
    """Syllable nuclei per second of (pause-free) speech; see the module docstring.

    ``f0``: the audio's :func:`f0_track`, when the caller has it already.
    """
    from scipy import signal

    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if audio.size < rate // 2:
        return None
    sos = signal.butter(4, [300.0, 3000.0], "bandpass", fs=rate, output="sos")
    band = signal.sosfiltfilt(sos, audio)
    hop = rate // 100
    frames = band[: band.size // hop * hop].reshape(-1, hop)
    level = 10 * np.log10((frames**2).mean(axis=1) + 1e-10)
    level = np.convolve(level, np.ones(2) / 2, mode="same")
    peaks, _ = signal.find_peaks(level, prominence=4.0, distance=10, height=level.max() - 30.0)
    f0 = f0_track(audio, rate) if f0 is None else f0
    if f0.size:
        voiced = np.interp(peaks * 2, np.arange(f0.size), (f0 > 0).astype(float)) > 0.5
        peaks = peaks[voiced]
    return float(peaks.size / (audio.size / rate))


def mean_shape(clips: Sequence[np.ndarray], rate: int = ANALYSIS_RATE) -> np.ndarray:
    """Mean spectral shape (dB per band, frame means removed) of the louder 70 % of frames, as a bank's."""
    return FrameBank.from_speech(clips, rate).mean_shape().astype(np.float64)


def utterance_embedding(embedder: Any, audio: np.ndarray, step: int = EMBED_STEP) -> np.ndarray:
    """Speaker embedding (256,) of 16 kHz speech: mean of 1.6 s windows every 0.8 s, renormalised.

    ``embedder`` is a :class:`chorus.stt.speaker_embedding.SpeakerEmbedder`; the level is raised as in the
    encoder's training. Pauses should already be cut (:func:`speech_only`). ``step``: mel frames (10 ms)
    between windows; 160 halves the cost.
    """
    from chorus.stt.speaker_embedding import mel_spectrogram, normalise_level

    audio = normalise_level(np.asarray(audio, dtype=np.float32).reshape(-1))
    frames = 1 + audio.size // 160
    if frames <= EMBED_WINDOW:
        starts = np.array([0])
    else:
        starts = np.arange(0, frames - EMBED_WINDOW + 1, step)
        if frames - (starts[-1] + EMBED_WINDOW) > EMBED_WINDOW // 4:
            starts = np.append(starts, frames - EMBED_WINDOW)
    mel = mel_spectrogram(audio)
    if mel.shape[0] < starts.max() + EMBED_WINDOW:
        mel = np.pad(mel, ((0, starts.max() + EMBED_WINDOW - mel.shape[0]), (0, 0)))
    windows = mel[starts[:, None] + np.arange(EMBED_WINDOW)[None, :]]
    vectors = embedder.embed_mels(windows)
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / denominator) if denominator > 0 else 0.0


def _mean_rate(clips: Sequence[np.ndarray], tracks: Sequence[np.ndarray]) -> float | None:
    rates = [(speaking_rate(c, ANALYSIS_RATE, t), c.size) for c, t in zip(clips, tracks, strict=True)]
    rates = [(r, n) for r, n in rates if r is not None]
    if not rates:
        return None
    return float(sum(r * n for r, n in rates) / sum(n for _, n in rates))


@dataclass(frozen=True)
class SpeakerAnalysis:
    """What :func:`analyse` measured (see the module docstring for how)."""

    speech_s: float
    f0_median_hz: float | None
    f0_log_std: float | None
    f0_p5_hz: float | None
    f0_p95_hz: float | None
    voiced_fraction: float
    formants_hz: tuple[float, ...] | None
    hnr_db: float | None
    speaking_rate: float | None
    shape_db: tuple[float, ...]
    ltas_db: tuple[float, ...]
    embedding: tuple[float, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (rounded: this is a description, not a signal)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 4)
            elif isinstance(value, tuple | list):
                data[key] = [round(float(v), 4) for v in value]
        return data


def fair_share(clips: Sequence[np.ndarray], seconds: float, rate: int = ANALYSIS_RATE) -> list[np.ndarray]:
    """The clips cut to at most ``seconds`` in all, each to its first part: the budget is shared evenly,
    and what a short clip leaves over goes to the longer ones (every sample contributes, however many a
    long one precedes). Clips that fit are returned whole, in order; none is dropped (some may come back
    empty when the budget is smaller than a sample per clip)."""
    cap = _fair_cap([int(c.size) for c in clips], int(seconds * rate))
    return list(clips) if cap is None else [c[:cap] for c in clips]


def _fair_cap(sizes: Sequence[int], budget: int) -> int | None:
    """The largest length that, with every size cut to it, keeps the total within ``budget`` (water-filling:
    sizes under it are kept whole); None when everything fits."""
    if sum(sizes) <= budget:
        return None
    left, waiting = budget, sorted(sizes)
    for i, size in enumerate(waiting):
        share = left // (len(waiting) - i)
        if size > share:
            return share
        left -= size
    return None  # not reached: the sizes exceed the budget


def _fair_audio(samples: Sequence[tuple[bytes | np.ndarray, int]]) -> list[np.ndarray]:
    """The samples at the analysis rate, fair-shared to ``MAX_AUDIO_S``: cut before resampling, so a long
    upload is never held whole at the analysis rate (25 files of 10 minutes would be about 1 GB)."""
    for _, rate in samples:
        if rate <= 0:
            raise ValueError(f"invalid sample rate {rate}")
    counts = [
        len(pcm) // 2 if isinstance(pcm, bytes | bytearray | memoryview) else int(np.asarray(pcm).size)
        for pcm, _ in samples
    ]
    at_rate = [n * ANALYSIS_RATE // int(rate) for n, (_, rate) in zip(counts, samples, strict=True)]
    cap = _fair_cap(at_rate, int(MAX_AUDIO_S * ANALYSIS_RATE))
    out = []
    for pcm, rate in samples:
        if cap is not None:
            keep = -(-cap * int(rate) // ANALYSIS_RATE)  # the cap in the sample's own samples, rounded up
            pcm = (
                pcm[: 2 * keep]
                if isinstance(pcm, bytes | bytearray | memoryview)
                else np.asarray(pcm).reshape(-1)[:keep]
            )
        out.append(to_analysis_rate(pcm_to_float(pcm), int(rate))[:cap])
    return out


def analyse(
    samples: Sequence[tuple[bytes | np.ndarray, int]],
    *,
    embedder: Any = None,
    vad: Any = None,
    detailed: bool = True,
) -> tuple[SpeakerAnalysis, list[np.ndarray]]:
    """Analyse voice samples (s16le PCM or float arrays, each with its sample rate).

    Returns the analysis and the samples' speech (16 kHz float, pauses cut) that it was measured on: at
    most ``MAX_SPEECH_S`` seconds of it, found in at most ``MAX_AUDIO_S`` seconds of audio, each shared
    fairly between the samples (:func:`fair_share`).
    ``embedder``: a :class:`~chorus.stt.speaker_embedding.SpeakerEmbedder` for the embedding (None: no
    embedding). ``detailed=False`` skips formants, HNR and speaking rate (the slow Praat parts).
    Raises ValueError when the samples hold less than a second of speech.
    """
    clips: list[np.ndarray] = []
    for clip in _fair_audio(samples):
        speech = speech_only(clip, vad)
        if speech.size >= ANALYSIS_RATE // 4:
            clips.append(speech)
    clips = [c for c in fair_share(clips, MAX_SPEECH_S) if c.size]
    total = sum(c.size for c in clips) / ANALYSIS_RATE
    if total < 1.0:
        raise ValueError(f"the samples hold {total:.1f} s of speech; at least 1 s is needed")
    tracks = [f0_track(c) for c in clips]
    stats = f0_statistics(np.concatenate(tracks))
    joined = np.concatenate(clips)
    levels = np.concatenate([speech_band_levels(c, ANALYSIS_RATE) for c in clips])
    loud = levels.mean(axis=1) > np.quantile(levels.mean(axis=1), FrameBank.KEEP_QUANTILE)
    ltas = 10 * np.log10(np.mean(10 ** (levels[loud] / 10), axis=0))
    embedding = None
    if embedder is not None:
        embedding = tuple(float(v) for v in utterance_embedding(embedder, joined))
    detail = np.concatenate(fair_share(clips, DETAIL_SPEECH_S))
    formant_values = formants(detail) if detailed else None
    analysis = SpeakerAnalysis(
        speech_s=total,
        f0_median_hz=stats["median_hz"],
        f0_log_std=stats["log_std"],
        f0_p5_hz=stats["p5_hz"],
        f0_p95_hz=stats["p95_hz"],
        voiced_fraction=float(stats["voiced_fraction"] or 0.0),
        formants_hz=formant_values,
        hnr_db=hnr(detail) if detailed else None,
        speaking_rate=_mean_rate(clips, tracks) if detailed else None,
        shape_db=tuple(float(v) for v in mean_shape(clips)),
        ltas_db=tuple(float(v) for v in ltas),
        embedding=embedding,
    )
    if analysis.f0_median_hz is not None and not math.isfinite(analysis.f0_median_hz):
        raise ValueError("could not measure the speaker's pitch")
    return analysis, clips
