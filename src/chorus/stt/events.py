"""Audio-event tags for speech to text: music, laughter, applause and background noise, by DSP.

PLACEHOLDER DOCSTRING (rewritten once the detectors are fitted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import fft, ndimage, signal

if TYPE_CHECKING:
    from chorus.stt.vad import SileroVAD

SAMPLE_RATE = 16_000
N_FFT = 1024  # 64 ms analysis frames: enough resolution to resolve harmonics of a 100 Hz voice
HOP = 256  # 16 ms between frames
FRAME_RATE = SAMPLE_RATE / HOP  # 62.5 frames per second
WIN_FRAMES = 64  # a classification window is 1.024 s ...
STEP_FRAMES = 16  # ... and windows start every 0.256 s
RHYTHM_FRAMES = 96  # 1.5 s of context for syllable rhythm and repetition
BEAT_FRAMES = 192  # 3 s of context for a musical beat
N_MELS = 40
VAD_WINDOW = 512

LABELS = ("music", "laughter", "applause", "background noise")

FEATURES = (
    "speech_prob",  # mean Silero VAD speech probability
    "level",  # window power relative to the file's loud level (dB)
    "floor",  # 10th percentile frame energy relative to the file's loud level (dB)
    "dynamics",  # 90th minus 10th percentile frame energy in the window (dB)
    "flatness",  # mean log10 spectral flatness, 300 Hz - 6 kHz
    "high_band",  # log10 of the share of power above 2 kHz
    "voicing",  # mean normalised autocorrelation peak (periodicity), energy-weighted
    "pitch",  # log2 of the median F0 of voiced frames (Hz); 7 (128 Hz) when none
    "pitch_rise",  # that minus log2 of the whole recording's median F0 (octaves above the voice's usual)
    "tonal_long",  # share of power in spectral peaks that persist over 240 ms
    "tonal_short",  # the same over 48 ms
    "rhythm",  # log10(0.05 + periodicity of the voicing track at 3.3-7 Hz): voiced-unvoiced alternation
    "repetition",  # log10(0.05 + likeness of spectral shapes 140-330 ms apart): the same syllable again
    "beat",  # periodicity of onsets at 68-187 beats per minute, over 3 s
    "flux",  # mean positive log-mel change between frames (dB)
    "roughness",  # fluctuation of 4 ms high-band energies (dB): impulsive sounds such as claps
    "slope",  # spectral tilt: dB per mel band
    "floor_long",  # 5th percentile frame energy over 4 s, relative to the file's loud level (dB)
    "floor_flatness",  # mean log10 flatness of the quietest fifth of frames over 4 s (gated, see below)
    "sustain",  # share of power in spectral peaks held for 256 ms (notes, drones)
    "floor_tonal",  # sustain of the quietest fifth of frames over 4 s (gated)
    "dyn_long",  # median minus 5th percentile frame energy over 4 s (dB)
)
FLOOR_FRAMES = 156  # 2.5 s of context for the background level
PAUSE_FRAMES = 16  # 0.25 s of non-speech in the context tell what the background sounds like
UNKNOWN_FLOOR_DB = -45.0  # the background level assumed when speech leaves no pause to measure it
QUIET_FLATNESS = -0.5  # log10 flatness typical of a recording's noise floor


@dataclass(frozen=True)
class AudioEvent:
    """A non-speech sound heard from ``start_s`` to ``end_s`` (seconds); ``confidence`` is in (0, 1]."""

    start_s: float
    end_s: float
    label: str
    confidence: float

    @property
    def text(self) -> str:
        """How the event reads in a transcript: ``(laughter)``."""
        return f"({self.label})"


def _mel_filters(n_mels: int = N_MELS, fmin: float = 50.0, fmax: float = 7900.0) -> np.ndarray:
    """Triangular mel filters, [n_mels, N_FFT // 2 + 1]."""

    def mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    bank = np.zeros((n_mels, freqs.size))
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        rising = (freqs - lo) / (mid - lo)
        falling = (hi - freqs) / (hi - mid)
        bank[i] = np.clip(np.minimum(rising, falling), 0.0, None)
    return bank


_MEL = _mel_filters()
_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
_WINDOW = np.hanning(N_FFT + 2)[1:-1]
_WINDOW_POWER = float(np.sum(_WINDOW**2))
_WINDOW_AC = np.fft.irfft(np.abs(np.fft.rfft(_WINDOW, 2 * N_FFT)) ** 2)[:N_FFT]
_WINDOW_AC = _WINDOW_AC / _WINDOW_AC[0]
_MIN_LAG, _MAX_LAG = 32, 320  # 500 Hz down to 50 Hz
_HIGH_PASS = signal.butter(4, 1000, "highpass", fs=SAMPLE_RATE, output="sos")


@dataclass
class FrameFeatures:
    """Per-frame measurements (16 ms hop) of one recording."""

    energy_db: np.ndarray  # frame power, dBFS
    logmel: np.ndarray  # [frames, N_MELS] dB
    flatness: np.ndarray  # log10 spectral flatness
    high: np.ndarray  # power above 2 kHz
    power: np.ndarray  # total power
    voicing: np.ndarray  # normalised autocorrelation peak
    f0: np.ndarray  # Hz (Praat's autocorrelation pitch), 0 where unvoiced
    tonal_long: np.ndarray
    tonal_short: np.ndarray
    sustain: np.ndarray
    flux: np.ndarray
    roughness: np.ndarray
    speech_prob: np.ndarray


def _tonal_share(power: np.ndarray, frames: int, band: np.ndarray) -> np.ndarray:
    """Share of power in bins standing 8 dB above their neighbourhood after averaging over ``frames``."""
    smooth = ndimage.uniform_filter1d(power[:, band], frames, axis=0, mode="nearest")
    level = 10 * np.log10(smooth + 1e-12)
    # The neighbourhood is the mean log power over 11 bins (172 Hz): a geometric mean, which a few
    # peaks raise far less than they raise the arithmetic mean.
    base = ndimage.uniform_filter1d(level, 11, axis=1, mode="nearest")
    peaks = level - base > 8.0
    return np.sum(smooth * peaks, axis=1) / (np.sum(smooth, axis=1) + 1e-12)


def _sustained_peaks(power: np.ndarray, band: np.ndarray, span: int = 8) -> np.ndarray:
    """Share of each frame's power in spectral peaks also present ``span`` frames before and after.

    A peak is a bin 8 dB above the mean log power of its 11-bin neighbourhood (after 48 ms smoothing);
    a peak counts as present in another frame when that frame has one within a bin of it. Held notes
    and drones keep their peaks for 256 ms; a speaking voice's harmonics glide away, and noise has
    none that last.
    """
    smooth = ndimage.uniform_filter1d(power[:, band], 3, axis=0, mode="nearest")
    level = 10 * np.log10(smooth + 1e-12)
    peaks = level - ndimage.uniform_filter1d(level, 11, axis=1, mode="nearest") > 8.0
    near = ndimage.maximum_filter1d(peaks, 3, axis=1)
    held = peaks.copy()
    held[span:] &= near[:-span]
    held[:span] = False
    held[:-span] &= near[span:]
    held[-span:] = False
    return np.sum(smooth * held, axis=1) / (np.sum(smooth, axis=1) + 1e-12)


def _pitch(x: np.ndarray, count: int) -> np.ndarray:
    """F0 (Hz, 0 when unvoiced) at each frame centre, by Praat's autocorrelation method (75-600 Hz).

    Praat's path search with octave and voicing costs makes far fewer octave errors than picking
    autocorrelation peaks frame by frame, and laughter is told from speech largely by its pitch.
    """
    import parselmouth

    out = np.zeros(count)
    if x.size < 3 * SAMPLE_RATE * 3 // 75:  # Praat needs three periods of the lowest pitch
        return out
    pitch = parselmouth.Sound(x.astype(np.float64), SAMPLE_RATE).to_pitch_ac(
        time_step=HOP / SAMPLE_RATE, pitch_floor=75.0, pitch_ceiling=600.0
    )
    values = pitch.selected_array["frequency"]
    index = np.clip(np.round((np.arange(count) * HOP / SAMPLE_RATE - pitch.x1) / pitch.dx).astype(int), 0, None)
    valid = index < values.size
    out[valid] = values[index[valid]]
    return out


def frame_features(x: np.ndarray, speech_prob: np.ndarray | None) -> FrameFeatures:
    """Measure float32 16 kHz audio ``x`` frame by frame (``speech_prob``: Silero per 512 samples)."""
    count = 1 + x.size // HOP
    padded = np.pad(x, (N_FFT // 2, N_FFT // 2 + HOP))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:count]
    spectrum = fft.rfft((frames * _WINDOW).astype(np.float32), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float64)
    total = power.sum(axis=1)
    mean_square = total / (N_FFT * _WINDOW_POWER)
    energy_db = 10 * np.log10(mean_square + 1e-10)
    logmel = 10 * np.log10(power @ _MEL.T / (N_FFT * _WINDOW_POWER) + 1e-10)

    band = (_FREQS >= 300) & (_FREQS <= 6000)
    sub = power[:, band] + 1e-12
    flatness = (np.mean(np.log(sub), axis=1) - np.log(np.mean(sub, axis=1))) / math.log(10)
    high = power[:, _FREQS >= 2000].sum(axis=1)

    # Periodicity: autocorrelation of the band below 4 kHz, corrected for the window's own taper.
    low = power * (_FREQS < 4000)
    ac = fft.irfft(low.astype(np.float32), N_FFT, axis=1)[:, : _MAX_LAG + 1].astype(np.float64)
    ac = ac / (ac[:, :1] + 1e-12) / _WINDOW_AC[: _MAX_LAG + 1]
    voicing = np.clip(ac[:, _MIN_LAG:].max(axis=1), 0.0, 1.0)
    f0 = _pitch(x, count)

    tone_band = (_FREQS >= 100) & (_FREQS <= 5000)
    tonal_long = _tonal_share(power, 15, tone_band)
    tonal_short = _tonal_share(power, 3, tone_band)
    sustain = _sustained_peaks(power, tone_band)

    diff = np.diff(logmel, axis=0, prepend=logmel[:1])
    flux = np.mean(np.clip(diff, 0.0, None), axis=1)

    # Impulsiveness: 4 ms energies of the signal above 1 kHz, against their 60 ms moving average.
    hp = signal.sosfilt(_HIGH_PASS, x)
    blocks = hp[: hp.size // 64 * 64].reshape(-1, 64)
    block_db = 10 * np.log10(np.mean(blocks**2, axis=1) + 1e-10)
    deviation = np.abs(block_db - ndimage.uniform_filter1d(block_db, 15, mode="nearest"))
    per_frame = HOP // 64
    usable = deviation[: deviation.size // per_frame * per_frame].reshape(-1, per_frame).mean(axis=1)
    roughness = np.zeros(count)
    roughness[: min(count, usable.size)] = usable[:count]

    if speech_prob is None or speech_prob.size == 0:
        prob = np.zeros(count)
    else:
        index = np.minimum(np.arange(count) * HOP // VAD_WINDOW, speech_prob.size - 1)
        prob = speech_prob[index].astype(np.float64)
    return FrameFeatures(
        energy_db=energy_db,
        logmel=logmel,
        flatness=flatness,
        high=high,
        power=total,
        voicing=voicing,
        f0=f0,
        tonal_long=tonal_long,
        tonal_short=tonal_short,
        sustain=sustain,
        flux=flux,
        roughness=roughness,
        speech_prob=prob,
    )


def _periodicity(track: np.ndarray, lo: int, hi: int) -> float:
    """Largest normalised autocorrelation of ``track`` (mean removed) at lags ``lo``..``hi`` frames."""
    centred = track - track.mean()
    denom = float(np.dot(centred, centred))
    if denom <= 1e-9 or centred.size <= hi + 4:
        return 0.0
    best = 0.0
    for lag in range(lo, hi + 1):
        a, b = centred[:-lag], centred[lag:]
        value = float(np.dot(a, b)) / math.sqrt(float(np.dot(a, a) * np.dot(b, b)) + 1e-12)
        best = max(best, value)
    return best


def _repetition(logmel: np.ndarray, energy_db: np.ndarray, lo: int, hi: int) -> float:
    """How alike the spectral shapes of active frames are ``lo``..``hi`` frames apart (repeated syllables).

    Each frame's loudness is removed (only the shape counts) and so is the context's mean shape; frames
    more than 25 dB below the loudest take no part. 0 when nothing repeats.
    """
    active = energy_db > energy_db.max() - 25.0
    if active.sum() < 10 or logmel.shape[0] <= hi + 4:
        return 0.0
    shape = logmel - logmel.mean(axis=1, keepdims=True)
    shape = shape - shape[active].mean(axis=0)
    best = 0.0
    for lag in range(lo, hi + 1):
        both = active[:-lag] & active[lag:]
        if both.sum() < 10:
            continue
        a, b = shape[:-lag][both], shape[lag:][both]
        best = max(best, float(np.sum(a * b)) / math.sqrt(float(np.sum(a * a) * np.sum(b * b)) + 1e-12))
    return best


def window_features(ff: FrameFeatures) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features [windows, len(FEATURES)], centre times (s), window power dBFS) of one recording."""
    count = ff.energy_db.size
    reference = float(np.percentile(ff.energy_db, 95)) if count else 0.0
    centres = np.arange(STEP_FRAMES // 2, max(count, 1), STEP_FRAMES)
    rows = np.zeros((centres.size, len(FEATURES)))
    levels = np.zeros(centres.size)
    bands = np.arange(N_MELS)
    voiced_all = ff.f0 > 0
    file_pitch = float(np.log2(np.median(ff.f0[voiced_all]))) if voiced_all.sum() >= 3 else 7.0

    def span(centre: int, width: int) -> slice:
        return slice(max(0, centre - width // 2), min(count, centre + width // 2))

    for row, centre in enumerate(centres):
        w, r, b, f = (span(centre, n) for n in (WIN_FRAMES, RHYTHM_FRAMES, BEAT_FRAMES, FLOOR_FRAMES))
        energy, power = ff.energy_db[w], ff.power[w]
        level = 10 * math.log10(float(np.mean(power)) / (N_FFT * _WINDOW_POWER) + 1e-10)
        levels[row] = level
        weights = power / (power.sum() + 1e-12)
        voiced = ff.f0[w] > 0
        pitched = voiced.sum() >= 8  # 128 ms of voicing before a pitch is believed
        context = ff.energy_db[f]
        # The background is what is heard when nobody speaks: the frames Silero calls non-speech. With
        # fewer than 0.25 s of them (speech throughout) nothing is known about it, and it is taken to be
        # an ordinary recording floor (the quietest frames of continuous speech are still speech).
        pause = ff.speech_prob[f] < 0.5
        if pause.sum() >= PAUSE_FRAMES:
            floor_long = float(np.percentile(context[pause], 10)) - reference
            quiet = pause & (context <= np.percentile(context[pause], 50))
            gate = min(1.0, max(0.0, (floor_long + 40.0) / 10.0))
        else:
            floor_long = UNKNOWN_FLOOR_DB
            quiet = context <= np.percentile(context, 20)
            gate = 0.0
        # What the quiet frames sound like matters only when they are loud enough to be a background
        # (within ~30 dB of the loud level); below that they are the recording's own floor.
        p10, p50, p90 = np.percentile(energy, (10, 50, 90))
        values = {
            "speech_prob": float(ff.speech_prob[w].mean()),
            "level": level - reference,
            "floor": float(p10) - reference,
            "dynamics": float(p90 - p10),
            "flatness": float(np.mean(ff.flatness[w])),
            "high_band": math.log10(float(ff.high[w].sum()) / (float(power.sum()) + 1e-12) + 1e-6),
            "voicing": float(np.sum(weights * ff.voicing[w])),
            "pitch": float(np.log2(np.median(ff.f0[w][voiced]))) if pitched else 7.0,
            "pitch_rise": float(np.log2(np.median(ff.f0[w][voiced]))) - file_pitch if pitched else 0.0,
            "tonal_long": float(np.sum(weights * ff.tonal_long[w])),
            "tonal_short": float(np.sum(weights * ff.tonal_short[w])),
            "rhythm": math.log10(_periodicity(ff.voicing[r], 9, 19) + 0.05),
            # Rhythm and repetition are on log scales, so that their sum acts like a product: laughter needs
            # both, and either missing counts heavily against it.
            "repetition": math.log10(_repetition(ff.logmel[r], ff.energy_db[r], 9, 21) + 0.05),
            "beat": _periodicity(ff.flux[b], 20, 55),
            "flux": float(np.mean(ff.flux[w])),
            "roughness": float(np.mean(ff.roughness[w])),
            "slope": float(np.polyfit(bands, ff.logmel[w].mean(axis=0), 1)[0]),
            "floor_long": floor_long,
            "floor_flatness": gate * float(np.mean(ff.flatness[f][quiet])) + (1 - gate) * QUIET_FLATNESS,
            "sustain": float(np.sum(weights * ff.sustain[w])),
            "floor_tonal": gate * float(np.mean(ff.sustain[f][quiet])),
            "dyn_long": float(np.percentile(context, 50) - np.percentile(context, 10)),
        }
        rows[row] = [values[name] for name in FEATURES]
    return rows, centres / FRAME_RATE, levels


# --- the classifier ---------------------------------------------------------------------------------

# Which features each label's score may use, and in which direction (+1: more of it is evidence for the
# label, -1: against). The fit (bench/stt_events.py --fit) may only choose weights of these signs, which
# keeps each detector a readable sum of reasons and stops it from leaning on quirks of the synthetic
# training material.
LABEL_FEATURES: dict[str, dict[str, int]] = {
    "music": {
        "sustain": +1, "floor_tonal": +1, "beat": +1, "floor_long": +1,
        "floor_flatness": -1, "roughness": -1, "dyn_long": -1,
    },
    "laughter": {"pitch": +1, "pitch_rise": +1, "repetition": +1, "rhythm": +1, "voicing": +1, "dynamics": +1},
    "applause": {
        "flatness": +1, "roughness": +1, "high_band": +1, "flux": +1,
        "voicing": -1, "tonal_short": -1, "tonal_long": -1, "speech_prob": -1,
    },
    "background noise": {
        "floor_long": +1, "floor": +1,
        "dyn_long": -1, "floor_tonal": -1, "beat": -1, "repetition": -1, "sustain": -1,
    },
}  # fmt: skip

# >>> fitted model: written by `bench/stt_events.py --fit`; do not edit by hand
MODEL: dict[str, tuple[float, dict[str, float]]] = {}
# <<< fitted model

THRESHOLDS = {"music": 0.5, "laughter": 0.5, "applause": 0.5, "background noise": 0.5}
MIN_DURATION_S = {"music": 2.0, "laughter": 0.5, "applause": 1.5, "background noise": 2.0}
SILENCE_DBFS = -60.0  # windows quieter than this hold no event
SMOOTH_WINDOWS = 3  # median filter over windows before deciding
BRIDGE_WINDOWS = 1  # a gap this short between two runs of one label joins them


class AudioEventTagger:
    """Finds :data:`LABELS` events in 16 kHz mono audio; holds the Silero VAD it uses as a feature."""

    def __init__(self, vad: SileroVAD | None = None, model: dict[str, tuple[float, dict[str, float]]] | None = None) -> None:
        self._vad = vad
        self.model = MODEL if model is None else model

    @property
    def vad(self) -> SileroVAD:
        if self._vad is None:
            from chorus.stt.vad import shared_vad

            self._vad = shared_vad()
        return self._vad

    def unavailable_reason(self) -> str | None:
        return self.vad.unavailable_reason()

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def features(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(features [windows, features], window centres in s, window levels in dBFS) of int16 ``samples``."""
        x = _as_float(samples)
        prob = self.vad.probabilities(x) if x.size else np.zeros(0, np.float32)
        return window_features(frame_features(x, prob))

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Probability of each label (columns in :data:`LABELS` order) for each window's feature row.

        A softmax over "none" (score 0) and each label's score, ``bias + sum(weight * feature)``.
        """
        logits = np.zeros((rows.shape[0], len(LABELS) + 1))
        for j, label in enumerate(LABELS):
            bias, weights = self.model.get(label, (-50.0, {}))
            logits[:, j + 1] = bias
            for name, weight in weights.items():
                logits[:, j + 1] += weight * rows[:, FEATURES.index(name)]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return probs[:, 1:] / probs.sum(axis=1, keepdims=True)

    def detect(self, samples: np.ndarray, speech: list[tuple[float, float]] | None = None) -> list[AudioEvent]:
        """The events in int16 mono 16 kHz ``samples``, sorted by start (see the module docstring)."""
        samples = np.asarray(samples).reshape(-1)
        duration = samples.size / SAMPLE_RATE
        if samples.size < SAMPLE_RATE // 2:
            return []
        rows, centres, levels = self.features(samples)
        return events_from_scores(self.scores(rows), centres, levels, duration)


def events_from_scores(
    probs: np.ndarray, centres: np.ndarray, levels: np.ndarray, duration: float
) -> list[AudioEvent]:
    """Turn per-window label probabilities into events: smooth, pick, join, time and filter."""
    if probs.shape[0] == 0:
        return []
    if probs.shape[0] >= SMOOTH_WINDOWS:
        probs = ndimage.median_filter(probs, size=(SMOOTH_WINDOWS, 1), mode="nearest")
    best = np.argmax(probs, axis=1)
    top = probs[np.arange(probs.shape[0]), best]
    thresholds = np.array([THRESHOLDS[label] for label in LABELS])
    chosen = np.where((top >= thresholds[best]) & (levels >= SILENCE_DBFS), best, -1)
    half_step = STEP_FRAMES / FRAME_RATE / 2
    events: list[AudioEvent] = []
    for j, label in enumerate(LABELS):
        on = chosen == j
        runs: list[list[int]] = []
        for i in np.flatnonzero(on):
            if runs and i - runs[-1][1] <= BRIDGE_WINDOWS + 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
        for first, last in runs:
            start = max(0.0, float(centres[first]) - half_step)
            end = min(duration, float(centres[last]) + half_step)
            if end - start < MIN_DURATION_S[label]:
                continue
            confidence = float(np.mean(probs[first : last + 1, j]))
            events.append(AudioEvent(round(start, 3), round(end, 3), label, round(confidence, 3)))
    return sorted(events, key=lambda e: (e.start_s, e.label))


def _as_float(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples).reshape(-1)
    if samples.dtype.kind == "f":
        return samples.astype(np.float32)
    return samples.astype(np.float32) / 32768.0


def detect_events(
    samples: np.ndarray, speech: list[tuple[float, float]] | None = None, tagger: AudioEventTagger | None = None
) -> list[AudioEvent]:
    """The audio events in int16 mono 16 kHz ``samples`` (see :class:`AudioEventTagger`)."""
    return (tagger or AudioEventTagger()).detect(samples, speech)
