"""Audio-event tags for speech to text: music, laughter, applause and background noise, found by DSP.

ElevenLabs' speech to text (``tag_audio_events``, default true) puts non-speech sounds into ``words`` as
``{"type": "audio_event", "text": "(laughter)", ...}``. No neural audio tagger can be downloaded here, so
these detectors are hand-built signal measurements combined by a small fitted linear model.

Pipeline. 16 kHz audio is cut into 64 ms frames every 16 ms (``frame_features``); 1 s windows every 0.256 s
summarise them into the named :data:`FEATURES` (``window_features``, some over 1.5-3 s of context); each
label scores ``bias + sum(weight * feature)`` and a softmax over "none" (score 0) and the four labels turns
the scores into probabilities (:meth:`AudioEventTagger.scores`); ``events_from_scores`` median-smooths them
over three windows, gives each window its most probable label when that clears the label's threshold
and the window is not silence, joins runs of one label (across one-window gaps) and drops events shorter
than the label's minimum duration. An event starts and ends half a step beyond its first and last window
centres (a window counts as the label's when the label covers at least half of it, so its centre marks
the edge); edges are good to about half a second.

The detectors (what each label's score may use, and in which direction, is :data:`LABEL_FEATURES`):

- music: spectral peaks held for 256 ms or more (notes, chords: a speaking voice's harmonics glide), the
  same in the pauses between words, onsets recurring at 68-187 beats per minute, and a background that
  is neither flat noise nor impulsive.
- laughter: short voiced syllables at steady 144-336 ms intervals ("ha-ha-ha": Praat's voicing), a
  voicing track periodic at 3.3-7 Hz and a spectral shape recurring 140-330 ms later (both on log
  scales, so that either one missing counts heavily against), at a high pitch (laughs sit at 200-500 Hz).
- applause: flat, bright noise (spectral flatness, power above 2 kHz), impulsive at the 4 ms scale (claps),
  unvoiced, not tonal, not speech to Silero VAD.
- background noise: a sustained background heard in the pauses (the frames Silero calls non-speech, over
  2.5 s) and between words, within about 25 dB of the recording's loud level, steady, without held
  tones, beats, repeated syllables or claps. "Background noise" means sustained non-speech energy well
  above a recording's own floor: the hiss of a clean studio recording (35+ dB under the speech) is not
  an event, and neither is a pause.

Overlap with speech. Events are reported whether or not someone speaks over them: laughter inside or
between sentences (as ElevenLabs does), applause overlapping the end of a talk, music under speech as one
background event spanning the music. Backgrounds are judged mostly from the pauses: where speech runs on
without 0.25 s of pause for 2.5 s, the pause-based features are unknown (an ordinary quiet floor is
assumed) and only the quietest frames between words still tell of a noise, so a bed under wall-to-wall
speech is found mainly from the pauses around it. ``speech`` (the spans the recogniser heard words in),
when given, counts as speech on top of Silero's view when looking for pauses.

The model. The weights (:data:`MODEL`) and thresholds (:data:`THRESHOLDS`) are fitted by
``bench/stt_events.py --fit`` on synthetic mixtures built in code with a fixed seed (synthesised music,
applause, laughter and noise over flite speech and some LibriSpeech speakers), each weight held to the
sign :data:`LABEL_FEATURES` declares, so each detector stays a readable sum of reasons. The measurement
(``bench/stt_events.py``, docs/BENCHMARKS.md "Audio event tags") uses other seeds, other generator
variants (other instruments, vowels, clapping crowds, noise kinds) and other, real speakers.

Limits (measured, see the benchmark): laughter is found mostly when it stands on its own; laughing over
one's own speech is usually missed (precision is the priority: clean read speech gets no events). Music
beds 10+ dB under the speech and babble are often missed. Everything was fitted on synthetic sounds, so
real recordings (music with vocals, real crowds) may score differently.

Cost: about 30 ms of one CPU core per second of audio (Silero VAD, FFTs, Praat's pitch tracker); long
inputs are analysed in blocks, so memory stays bounded.
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
SYLLABLE_FRAMES = 125  # 2 s of context for a chain of laugh syllables
FLOOR_FRAMES = 156  # 2.5 s of context for the background
PAUSE_FRAMES = 16  # 0.25 s of non-speech in that context tell what the background sounds like
UNKNOWN_FLOOR_DB = -45.0  # the background level assumed when speech leaves no pause to measure it
QUIET_FLATNESS = -0.5  # log10 flatness typical of a recording's own noise floor
N_MELS = 40
VAD_WINDOW = 512  # samples per Silero probability
BLOCK_FRAMES = 4096  # spectra are computed this many frames (65 s) at a time

LABELS = ("music", "laughter", "applause", "background noise")

FEATURES = (
    "speech_prob",  # mean Silero VAD speech probability
    "floor",  # 10th percentile frame energy in the window, relative to the file's loud level (dB)
    "dynamics",  # 90th minus 10th percentile frame energy in the window (dB)
    "flatness",  # mean log10 spectral flatness, 300 Hz - 6 kHz
    "high_band",  # log10 of the share of power above 2 kHz
    "voicing",  # normalised autocorrelation peak (periodicity) below 4 kHz, power-weighted
    "pitch",  # log2 of the median F0 (Hz) of voiced frames; 7 (128 Hz) with under 128 ms of voicing
    "tonal_long",  # share of power in spectral peaks after averaging over 240 ms
    "tonal_short",  # the same over 48 ms
    "rhythm",  # log10(0.05 + periodicity of the voicing track at 3.3-7 Hz): voiced-unvoiced alternation
    "repetition",  # log10(0.05 + likeness of spectral shapes 140-330 ms apart): the same syllable again
    "syllables",  # the longest chain of short, evenly spaced voiced syllables within 2 s (at most 8)
    "beat",  # periodicity of onsets at 68-187 beats per minute, over 3 s
    "flux",  # mean positive log-mel change between frames (dB)
    "roughness",  # fluctuation of 4 ms high-band energies (dB): impulsive sounds such as claps
    "floor_long",  # 10th percentile energy of the pauses over 2.5 s, relative to the loud level (dB)
    "floor_flatness",  # log10 flatness of the quieter half of the pauses (gated, see window_features)
    "sustain",  # share of power in spectral peaks held for 256 ms (notes, drones)
    "floor_tonal",  # sustain of the quieter half of the pauses (gated)
    "dyn_long",  # median minus 10th percentile frame energy over 2.5 s (dB)
)


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

    @property
    def logprob(self) -> float:
        """``ln(confidence)``, for the response's ``logprob`` field."""
        return math.log(max(self.confidence, 1e-6))


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
        bank[i] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)
    return bank


_MEL = _mel_filters()
_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
_WINDOW = np.hanning(N_FFT + 2)[1:-1]
_WINDOW_POWER = float(np.sum(_WINDOW**2))
_WINDOW_AC = np.fft.irfft(np.abs(np.fft.rfft(_WINDOW, 2 * N_FFT)) ** 2)[:N_FFT]
_WINDOW_AC = _WINDOW_AC / _WINDOW_AC[0]
_MIN_LAG, _MAX_LAG = 32, 320  # 500 Hz down to 50 Hz
_HIGH_PASS = signal.butter(4, 1000, "highpass", fs=SAMPLE_RATE, output="sos")
_FLAT_BAND = (_FREQS >= 300) & (_FREQS <= 6000)
_TONE_BAND = (_FREQS >= 100) & (_FREQS <= 5000)


@dataclass
class FrameFeatures:
    """Per-frame measurements (16 ms hop; frame ``i`` is centred on sample ``i * HOP``) of one recording."""

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
    speech_prob: np.ndarray  # Silero VAD, per frame
    speaking: np.ndarray  # bool: inside a span the caller says holds speech


def _tonal_share(power: np.ndarray, frames: int) -> np.ndarray:
    """Share of power in bins standing 8 dB above their neighbourhood after averaging over ``frames``."""
    smooth = ndimage.uniform_filter1d(power[:, _TONE_BAND], frames, axis=0, mode="nearest")
    level = 10 * np.log10(smooth + 1e-12)
    # The neighbourhood is the mean log power over 11 bins (172 Hz): a geometric mean, which a few
    # peaks raise far less than they raise the arithmetic mean.
    peaks = level - ndimage.uniform_filter1d(level, 11, axis=1, mode="nearest") > 8.0
    return np.sum(smooth * peaks, axis=1) / (np.sum(smooth, axis=1) + 1e-12)


def _sustained_peaks(power: np.ndarray, span: int = 8) -> np.ndarray:
    """Share of each frame's power in spectral peaks also present ``span`` frames before and after.

    A peak is a bin 8 dB above the mean log power of its 11-bin neighbourhood (after 48 ms smoothing);
    a peak counts as present in another frame when that frame has one within a bin of it. Held notes
    and drones keep their peaks for 256 ms; a speaking voice's harmonics glide away, and noise has
    none that last.
    """
    smooth = ndimage.uniform_filter1d(power[:, _TONE_BAND], 3, axis=0, mode="nearest")
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
    if x.size < 3 * SAMPLE_RATE * 3 // 75:  # Praat wants three periods of the lowest pitch
        return out
    pitch = parselmouth.Sound(x.astype(np.float64), SAMPLE_RATE).to_pitch_ac(
        time_step=HOP / SAMPLE_RATE, pitch_floor=75.0, pitch_ceiling=600.0
    )
    values = pitch.selected_array["frequency"]
    index = np.round((np.arange(count) * HOP / SAMPLE_RATE - pitch.x1) / pitch.dx).astype(int)
    index = np.clip(index, 0, None)
    valid = index < values.size
    out[valid] = values[index[valid]]
    return out


def _spectral(x: np.ndarray, first: int, count: int, total: int, margin: int = 16) -> dict[str, np.ndarray]:
    """The spectrum-based measurements of frames ``first`` .. ``first + count`` (of ``total``).

    ``margin`` frames either side are analysed too, so that the smoothing across frames sees the same
    neighbours whichever block a frame falls in.
    """
    lo, hi = max(0, first - margin), min(total, first + count + margin)
    start, stop = lo * HOP - N_FFT // 2, (hi - 1) * HOP + N_FFT // 2
    segment = np.zeros(stop - start, dtype=np.float32)
    segment[max(0, start) - start : min(x.size, stop) - start] = x[max(0, start) : min(x.size, stop)]
    frames = np.lib.stride_tricks.sliding_window_view(segment, N_FFT)[::HOP]
    spectrum = fft.rfft((frames * _WINDOW).astype(np.float32), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float64)
    scale = N_FFT * _WINDOW_POWER  # Parseval: mean square of the frame = total power / scale
    sub = power[:, _FLAT_BAND] + 1e-12
    # Periodicity: autocorrelation of the band below 4 kHz, corrected for the window's own taper.
    ac = fft.irfft((power * (_FREQS < 4000)).astype(np.float32), N_FFT, axis=1)[:, : _MAX_LAG + 1]
    ac = ac.astype(np.float64) / (ac[:, :1] + 1e-12) / _WINDOW_AC[: _MAX_LAG + 1]
    out = {
        "power": power.sum(axis=1),
        "logmel": 10 * np.log10(power @ _MEL.T / scale + 1e-10),
        "flatness": (np.mean(np.log(sub), axis=1) - np.log(np.mean(sub, axis=1))) / math.log(10),
        "high": power[:, _FREQS >= 2000].sum(axis=1),
        "voicing": np.clip(ac[:, _MIN_LAG:].max(axis=1), 0.0, 1.0),
        "tonal_long": _tonal_share(power, 15),
        "tonal_short": _tonal_share(power, 3),
        "sustain": _sustained_peaks(power),
    }
    keep = slice(first - lo, first - lo + count)
    return {name: value[keep] for name, value in out.items()}


def frame_features(
    x: np.ndarray, speech_prob: np.ndarray | None, speech: list[tuple[float, float]] | None = None
) -> FrameFeatures:
    """Measure float32 16 kHz audio ``x`` frame by frame.

    ``speech_prob`` is Silero's probability per 512 samples (None: no speech anywhere); ``speech`` are
    spans (seconds) known to hold speech.
    """
    count = 1 + x.size // HOP
    blocks = [
        _spectral(x, first, min(BLOCK_FRAMES, count - first), count)
        for first in range(0, count, BLOCK_FRAMES)
    ]
    spectral = {name: np.concatenate([block[name] for block in blocks]) for name in blocks[0]}
    energy_db = 10 * np.log10(spectral["power"] / (N_FFT * _WINDOW_POWER) + 1e-10)
    logmel = spectral["logmel"]
    diff = np.diff(logmel, axis=0, prepend=logmel[:1])

    # Impulsiveness: 4 ms energies of the signal above 1 kHz, against their 60 ms moving average.
    hp = signal.sosfilt(_HIGH_PASS, x)
    block_db = 10 * np.log10(np.mean(hp[: hp.size // 64 * 64].reshape(-1, 64) ** 2, axis=1) + 1e-10)
    deviation = (
        np.abs(block_db - ndimage.uniform_filter1d(block_db, 15, mode="nearest"))
        if block_db.size
        else block_db
    )
    per_frame = HOP // 64
    usable = deviation[: deviation.size // per_frame * per_frame].reshape(-1, per_frame).mean(axis=1)
    roughness = np.zeros(count)
    roughness[: min(count, usable.size)] = usable[:count]

    times = np.arange(count) * HOP / SAMPLE_RATE
    if speech_prob is None or speech_prob.size == 0:
        prob = np.zeros(count)
    else:
        prob = speech_prob[np.minimum(np.arange(count) * HOP // VAD_WINDOW, speech_prob.size - 1)].astype(
            np.float64
        )
    speaking = np.zeros(count, dtype=bool)
    for start, end in speech or ():
        speaking |= (times >= start) & (times < end)
    return FrameFeatures(
        energy_db=energy_db,
        logmel=logmel,
        flatness=spectral["flatness"],
        high=spectral["high"],
        power=spectral["power"],
        voicing=spectral["voicing"],
        f0=_pitch(x, count),
        tonal_long=spectral["tonal_long"],
        tonal_short=spectral["tonal_short"],
        sustain=spectral["sustain"],
        flux=np.mean(np.clip(diff, 0.0, None), axis=1),
        roughness=roughness,
        speech_prob=prob,
        speaking=speaking,
    )


def _periodicity(track: np.ndarray, lo: int, hi: int) -> float:
    """Largest normalised autocorrelation of ``track`` (mean removed) at lags ``lo``..``hi`` frames."""
    centred = track - track.mean()
    if float(np.dot(centred, centred)) <= 1e-9 or centred.size <= hi + 4:
        return 0.0
    best = 0.0
    for lag in range(lo, hi + 1):
        a, b = centred[:-lag], centred[lag:]
        best = max(best, float(np.dot(a, b)) / math.sqrt(float(np.dot(a, a) * np.dot(b, b)) + 1e-12))
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


def _syllable_chain(f0: np.ndarray) -> int:
    """The longest run of laugh-like syllables in an F0 track: voiced stretches of 48-256 ms whose
    onsets follow each other every 144-336 ms, each interval within 35% of the one before ("ha-ha-ha").

    Speech chains its syllables through voiced consonants into longer stretches, at irregular intervals;
    measured on read speech, 4% of windows hold a chain of 4 or more, against 56% of laughter windows.
    """
    voiced = np.concatenate([[False], f0 > 0, [False]])
    edges = np.flatnonzero(np.diff(voiced.astype(np.int8)))
    starts, ends = edges[::2], edges[1::2]
    best = current = 0
    previous_start = previous_gap = -1
    for start, end in zip(starts, ends, strict=True):
        if not 3 <= end - start <= 16:
            current, previous_start, previous_gap = 0, -1, -1
            continue
        gap = start - previous_start if current else -1
        if (
            current
            and 9 <= gap <= 21
            and (previous_gap < 0 or abs(gap - previous_gap) <= 0.35 * previous_gap)
        ):
            current += 1
            previous_gap = gap
        else:
            current, previous_gap = 1, -1
        previous_start = start
        best = max(best, current)
    return best


def window_features(ff: FrameFeatures) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features [windows, len(FEATURES)], window centre times (s), window power (dBFS)) of a recording."""
    count = ff.energy_db.size
    # The loud level: what the speech (or whatever fills the recording) peaks at.
    reference = float(np.percentile(ff.energy_db, 95)) if count else 0.0
    centres = np.arange(STEP_FRAMES // 2, max(count, 1), STEP_FRAMES)
    rows = np.zeros((centres.size, len(FEATURES)))
    levels = np.zeros(centres.size)

    def span(centre: int, width: int) -> slice:
        return slice(max(0, centre - width // 2), min(count, centre + width // 2))

    for row, centre in enumerate(centres):
        w, r, b, f, y = (
            span(centre, n) for n in (WIN_FRAMES, RHYTHM_FRAMES, BEAT_FRAMES, FLOOR_FRAMES, SYLLABLE_FRAMES)
        )
        energy, power = ff.energy_db[w], ff.power[w]
        levels[row] = 10 * math.log10(float(np.mean(power)) / (N_FFT * _WINDOW_POWER) + 1e-10)
        weights = power / (power.sum() + 1e-12)
        voiced = ff.f0[w] > 0
        context = ff.energy_db[f]
        # The background is what is heard when nobody speaks: the frames Silero calls non-speech (and
        # the caller does not). With under 0.25 s of them (speech throughout) nothing is known about
        # it, and it is taken to be an ordinary floor: the quietest frames of running speech are speech.
        pause = (ff.speech_prob[f] < 0.5) & ~ff.speaking[f]
        if pause.sum() >= PAUSE_FRAMES:
            floor_long = float(np.percentile(context[pause], 10)) - reference
            quiet = pause & (context <= np.percentile(context[pause], 50))
            # What the pauses sound like matters only when they are loud enough to be a background
            # (within ~30 dB of the loud level); below that they are the recording's own floor.
            gate = min(1.0, max(0.0, (floor_long + 40.0) / 10.0))
        else:
            floor_long, quiet, gate = UNKNOWN_FLOOR_DB, np.ones(context.size, dtype=bool), 0.0
        p10, p90 = np.percentile(energy, (10, 90))
        values = {
            "speech_prob": float(ff.speech_prob[w].mean()),
            "floor": float(p10) - reference,
            "dynamics": float(p90 - p10),
            "flatness": float(np.mean(ff.flatness[w])),
            "high_band": math.log10(float(ff.high[w].sum()) / (float(power.sum()) + 1e-12) + 1e-6),
            "voicing": float(np.sum(weights * ff.voicing[w])),
            # 128 ms of voicing before a pitch is believed.
            "pitch": float(np.log2(np.median(ff.f0[w][voiced]))) if voiced.sum() >= 8 else 7.0,
            "tonal_long": float(np.sum(weights * ff.tonal_long[w])),
            "tonal_short": float(np.sum(weights * ff.tonal_short[w])),
            # Rhythm and repetition are on log scales, so that their sum acts like a product: laughter
            # needs both, and either one missing counts heavily against it.
            "rhythm": math.log10(_periodicity(ff.voicing[r], 9, 19) + 0.05),
            "repetition": math.log10(_repetition(ff.logmel[r], ff.energy_db[r], 9, 21) + 0.05),
            "syllables": float(min(8, _syllable_chain(ff.f0[y]))),
            "beat": _periodicity(ff.flux[b], 20, 55),
            "flux": float(np.mean(ff.flux[w])),
            "roughness": float(np.mean(ff.roughness[w])),
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
    "laughter": {"pitch": +1, "syllables": +1, "repetition": +1, "rhythm": +1, "voicing": +1, "dynamics": +1},
    "applause": {
        "flatness": +1, "roughness": +1, "high_band": +1, "flux": +1,
        "voicing": -1, "tonal_short": -1, "tonal_long": -1, "speech_prob": -1,
    },
    "background noise": {
        "floor_long": +1, "floor": +1,
        "dyn_long": -1, "floor_tonal": -1, "beat": -1, "repetition": -1, "sustain": -1, "roughness": -1,
    },
}  # fmt: skip

# >>> fitted model: written by `bench/stt_events.py --fit`; do not edit by hand
# Fitted on 40 training scenes of each kind (seed 20240601).
MODEL: dict[str, tuple[float, dict[str, float]]] = {
    "music": (
        -2.3437,
        {
            "sustain": 7.3955,
            "floor_tonal": 8.4059,
            "beat": 5.0358,
            "floor_flatness": -1.3160,
            "roughness": -1.1127,
            "dyn_long": -0.0945,
        },
    ),
    "laughter": (
        -22.4654,
        {
            "pitch": 2.5941,
            "syllables": 0.5593,
            "repetition": 3.3623,
            "rhythm": 0.8520,
            "voicing": 0.8711,
            "dynamics": 0.0357,
        },
    ),
    "applause": (
        0.3528,
        {
            "flatness": 2.5828,
            "roughness": 3.4257,
            "high_band": 4.5426,
            "voicing": -11.2760,
            "tonal_long": -2.8747,
            "speech_prob": -2.8154,
        },
    ),
    "background noise": (
        7.7045,
        {
            "floor_long": 0.0538,
            "floor": 0.1797,
            "dyn_long": -0.0190,
            "floor_tonal": -1.3695,
            "beat": -0.5558,
            "repetition": -0.9240,
            "sustain": -4.2088,
            "roughness": -1.4601,
        },
    ),
}
THRESHOLDS: dict[str, float] = {
    "music": 0.5,
    "laughter": 0.7,
    "applause": 0.5,
    "background noise": 0.5,
}
# <<< fitted model

MIN_DURATION_S = {"music": 2.0, "laughter": 0.5, "applause": 1.5, "background noise": 2.0}
SILENCE_DBFS = -60.0  # windows quieter than this hold no event
SMOOTH_WINDOWS = 3  # median filter over windows before deciding
BRIDGE_WINDOWS = 1  # a gap this short between two runs of one label joins them
MIN_SAMPLES = SAMPLE_RATE // 2  # shorter input holds no event (none is that short)


class AudioEventTagger:
    """Finds :data:`LABELS` events in 16 kHz mono audio (see the module docstring).

    Holds the Silero VAD whose speech probability is one of the features (the process's shared one
    unless given). Thread-safe: nothing is kept between calls.
    """

    def __init__(
        self,
        vad: SileroVAD | None = None,
        model: dict[str, tuple[float, dict[str, float]]] | None = None,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self._vad = vad
        self.model = MODEL if model is None else model
        self.thresholds = THRESHOLDS if thresholds is None else thresholds

    @property
    def vad(self) -> SileroVAD:
        if self._vad is None:
            from chorus.stt.vad import shared_vad

            self._vad = shared_vad()
        return self._vad

    def unavailable_reason(self) -> str | None:
        """None when the tagger can run; otherwise why not (the Silero VAD model is missing)."""
        return self.vad.unavailable_reason()

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def features(
        self, samples: np.ndarray, speech: list[tuple[float, float]] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(features [windows, len(FEATURES)], window centres (s), window levels (dBFS)) of ``samples``."""
        x = _as_float(samples)
        prob = self.vad.probabilities(x) if x.size else np.zeros(0, np.float32)
        return window_features(frame_features(x, prob, speech))

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

    def detect(
        self, samples: np.ndarray, speech: list[tuple[float, float]] | None = None
    ) -> list[AudioEvent]:
        """The events in mono 16 kHz ``samples`` (int16, or float in [-1, 1]), sorted by start time.

        ``speech``: spans (seconds) the recogniser heard words in, if known; they count as speech when
        the background is measured in the pauses. Raises :class:`chorus.stt.vad.VADUnavailable` when the
        Silero model is missing (check :meth:`available` first) and ``ValueError`` for input that is not
        one channel of samples.
        """
        x = _as_float(samples)
        if x.size < MIN_SAMPLES:
            return []
        rows, centres, levels = self.features(x, speech)
        return events_from_scores(self.scores(rows), centres, levels, x.size / SAMPLE_RATE, self.thresholds)


def events_from_scores(
    probs: np.ndarray,
    centres: np.ndarray,
    levels: np.ndarray,
    duration: float,
    thresholds: dict[str, float] | None = None,
) -> list[AudioEvent]:
    """Turn per-window label probabilities into events: smooth, pick, join, time and filter."""
    if probs.shape[0] == 0:
        return []
    thresholds = THRESHOLDS if thresholds is None else thresholds
    if probs.shape[0] >= SMOOTH_WINDOWS:
        probs = ndimage.median_filter(probs, size=(SMOOTH_WINDOWS, 1), mode="nearest")
    best = np.argmax(probs, axis=1)
    top = probs[np.arange(probs.shape[0]), best]
    needed = np.array([thresholds[label] for label in LABELS])
    chosen = np.where((top >= needed[best]) & (levels >= SILENCE_DBFS), best, -1)
    half_step = STEP_FRAMES / FRAME_RATE / 2
    events: list[AudioEvent] = []
    for j, label in enumerate(LABELS):
        runs: list[list[int]] = []
        for i in np.flatnonzero(chosen == j):
            if runs and i - runs[-1][1] <= BRIDGE_WINDOWS + 1:
                runs[-1][1] = int(i)
            else:
                runs.append([int(i), int(i)])
        for first, last in runs:
            start = max(0.0, float(centres[first]) - half_step)
            end = min(duration, float(centres[last]) + half_step)
            if end - start < MIN_DURATION_S[label]:
                continue
            confidence = float(np.mean(probs[first : last + 1, j]))
            events.append(AudioEvent(round(start, 3), round(end, 3), label, round(confidence, 3)))
    return sorted(events, key=lambda e: (e.start_s, e.label))


def _as_float(samples: np.ndarray) -> np.ndarray:
    """One channel of int16 (or float in [-1, 1]) samples as float32 in [-1, 1]."""
    array = np.asarray(samples)
    if array.ndim > 1:
        if sum(size > 1 for size in array.shape) > 1:
            raise ValueError(f"expected one channel of samples, got an array of shape {array.shape}")
        array = array.reshape(-1)
    if array.dtype == np.int16:
        return array.astype(np.float32) / 32768.0
    if array.dtype.kind == "f":
        return np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    raise ValueError(f"expected int16 or float samples, got {array.dtype}")


def detect_events(
    samples: np.ndarray,
    speech: list[tuple[float, float]] | None = None,
    tagger: AudioEventTagger | None = None,
) -> list[AudioEvent]:
    """The audio events in mono 16 kHz ``samples`` (see :meth:`AudioEventTagger.detect`)."""
    return (tagger or AudioEventTagger()).detect(samples, speech)
