"""Audio-event tags: synthetic training and held-out material, the fit of the tagger, and its measurement.

Run: .venv/bin/python bench/stt_events.py [--write] [--quick]      measure on held-out material
     .venv/bin/python bench/stt_events.py --fit                     refit the weights and thresholds

The generators here (music, applause, laughter, background noise, speech, and ``scene`` mixing them) are
also what tests/unit/test_stt_events.py measures the tagger on. Each has a training variant and a held-out
variant with other parameters; the fit only ever sees the training variants, seed TRAIN_SEED and the
LibriSpeech speakers in TRAIN_SPEAKERS.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

SR = 16_000
ROOT = Path(__file__).resolve().parents[1]
SPEECH = Path(os.environ.get("CHORUS_SPEECH_DATA", ROOT.parent / "shared" / "data" / "speech"))
LIBRI = SPEECH / "librispeech-train-clean-5"
# LibriSpeech speakers are split once: the first list may be used to fit, the second only to measure.
TRAIN_SPEAKERS = ("1088", "163", "19", "2416", "3526", "4640", "7312")
HELDOUT_SPEAKERS = ("1867", "2136", "3242", "3947", "5789", "669", "7859")

SENTENCES_TRAIN = (
    "The weather was warm and sunny, so we decided to walk to the park after lunch.",
    "Please remember to lock the front door before you leave the house tonight.",
    "She bought fresh bread, cheese and a bottle of milk at the corner shop.",
    "Our train to the city was delayed by almost twenty minutes this morning.",
    "He has been learning to play the piano for nearly three years now.",
    "The children painted colourful pictures of animals for the school exhibition.",
    "After the meeting, the manager thanked everyone for their patience and hard work.",
    "A gentle breeze moved the curtains while the kettle began to whistle in the kitchen.",
    "Can you tell me where the nearest post office is, please?",
    "I think we should leave early tomorrow to avoid the traffic on the bridge.",
)
SENTENCES_HELDOUT = (
    "The committee will announce the results of the competition next Friday afternoon.",
    "My grandmother kept a small garden full of tomatoes, beans and bright yellow flowers.",
    "If it rains again this weekend, the football match will probably be cancelled.",
    "We spent the whole evening talking about books, films and old friends.",
    "The museum opens at nine and closes at five, except on public holidays.",
    "Thank you all for coming tonight, it really means a lot to us.",
)


# --- building blocks ----------------------------------------------------------------------------------


def db(value: float) -> float:
    return 10 ** (value / 20)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def active_rms(x: np.ndarray) -> float:
    """RMS of the loudest half of 20 ms frames (the level of intermittent sounds such as speech)."""
    frames = x[: x.size // 320 * 320].reshape(-1, 320)
    if not frames.size:
        return rms(x)
    energy = np.sort(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return float(np.sqrt(np.mean(energy[energy.size // 2 :])))


def envelope(n: int, attack: float, release: float) -> np.ndarray:
    """Linear fade in over ``attack`` s and out over ``release`` s."""
    env = np.ones(n)
    a, r = min(n, int(attack * SR)), min(n, int(release * SR))
    if a:
        env[:a] = np.linspace(0, 1, a)
    if r:
        env[n - r :] *= np.linspace(1, 0, r)
    return env


def coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise whose power falls as 1 / f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    freqs[0] = freqs[1]
    spectrum *= freqs ** (-exponent / 2)
    spectrum[freqs < 20] = 0
    out = np.fft.irfft(spectrum, n)
    return out / (rms(out) + 1e-12)


def resonator(x: np.ndarray, freq: float, bandwidth: float) -> np.ndarray:
    """Two-pole resonance at ``freq`` Hz with ``bandwidth`` Hz (a formant)."""
    r = math.exp(-math.pi * bandwidth / SR)
    theta = 2 * math.pi * freq / SR
    a = [1.0, -2 * r * math.cos(theta), r * r]
    return signal.lfilter([1 - r], a, x)


# --- music ------------------------------------------------------------------------------------------


def _note(rng: np.random.Generator, instrument: str, freq: float, seconds: float) -> np.ndarray:
    n = max(1, int(seconds * SR))
    t = np.arange(n) / SR
    if instrument == "pluck":  # Karplus-Strong string
        period = max(2, int(round(SR / freq)))
        buffer = rng.uniform(-1, 1, period)
        out = np.empty(n)
        decay = rng.uniform(0.990, 0.998)
        for start in range(0, n, period):
            count = min(period, n - start)
            out[start : start + count] = buffer[:count]
            buffer = decay * 0.5 * (buffer + np.roll(buffer, -1))
        return out * envelope(n, 0.002, 0.02)
    if instrument == "fm":  # electric piano / bell
        ratio = rng.choice([1.0, 2.0, 3.5])
        index = rng.uniform(1.0, 4.0) * np.exp(-t * rng.uniform(2, 6))
        out = np.sin(2 * np.pi * freq * t + index * np.sin(2 * np.pi * freq * ratio * t))
        return out * np.exp(-t * rng.uniform(1.0, 3.0)) * envelope(n, 0.003, 0.03)
    if instrument == "organ":
        out = sum(
            w * np.sin(2 * np.pi * freq * h * t)
            for h, w in ((1, 1.0), (2, 0.7), (3, 0.5), (4, 0.35), (6, 0.2))
        )
        return out * envelope(n, 0.01, 0.04)
    if instrument == "strings":  # band-limited saw with vibrato and a slow attack
        vibrato = 1 + 0.006 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t)
        phase = 2 * np.pi * freq * np.cumsum(vibrato) / SR
        out = sum(np.sin(h * phase) / h for h in range(1, int(min(20, 7000 / freq)) + 1))
        return out * envelope(n, min(0.15, seconds / 3), 0.1)
    if instrument == "piano":  # decaying, slightly inharmonic partials
        stretch = rng.uniform(0.0002, 0.001)
        out = sum(
            np.sin(2 * np.pi * freq * h * math.sqrt(1 + stretch * h * h) * t)
            * np.exp(-t * (1.5 + 0.8 * h))
            / h
            for h in range(1, int(min(12, 7000 / freq)) + 1)
        )
        return out * envelope(n, 0.002, 0.03)
    if instrument == "pad":  # two detuned saw-ish tones, slow attack
        detune = rng.uniform(0.002, 0.008)
        out = sum(
            np.sin(2 * np.pi * freq * (1 + s * detune) * h * t) / h**1.3
            for h in range(1, int(min(10, 7000 / freq)) + 1)
            for s in (-1, 1)
        )
        return out * envelope(n, min(0.2, seconds / 3), 0.15)
    # "additive": harmonics with a random roll-off and an attack-decay-sustain envelope
    rolloff = rng.uniform(0.8, 2.0)
    out = sum(np.sin(2 * np.pi * freq * h * t) / h**rolloff for h in range(1, int(min(15, 7000 / freq)) + 1))
    env = np.minimum(1.0, t / 0.01) * (0.6 + 0.4 * np.exp(-t * 6))
    return out * env * envelope(n, 0, 0.03)


def _drum(rng: np.random.Generator, kind: str, style: float) -> np.ndarray:
    n = int(0.25 * SR)
    t = np.arange(n) / SR
    if kind == "kick":
        sweep = 2 * np.pi * np.cumsum(50 + 100 * np.exp(-t * 30)) / SR
        return np.sin(sweep) * np.exp(-t * (12 + 8 * style))
    noise = rng.standard_normal(n)
    if kind == "snare":
        body = signal.sosfilt(signal.butter(2, [1000, 6000], "bandpass", fs=SR, output="sos"), noise)
        return (0.8 * body + 0.5 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t * (20 + 10 * style))
    hat = signal.sosfilt(signal.butter(2, 6000, "highpass", fs=SR, output="sos"), noise)
    return 0.4 * hat * np.exp(-t * (60 + 40 * style))


def music(rng: np.random.Generator, seconds: float, heldout: bool = False) -> np.ndarray:
    """Polyphonic music: chords, a bass line and a melody on a scale, with (usually) drums on the beat.

    Training material uses additive/piano/pad instruments at 80-140 BPM; held-out material uses plucked
    strings, FM, organ and bowed-string timbres at 60-180 BPM, and sometimes no drums.
    """
    n = int(seconds * SR)
    out = np.zeros(n + SR)
    instruments = ("pluck", "fm", "organ", "strings") if heldout else ("additive", "piano", "pad")
    tempo = rng.uniform(60, 180) if heldout else rng.uniform(80, 140)
    beat = 60 / tempo
    root = 110 * 2 ** (rng.integers(0, 12) / 12)
    scale = np.array([0, 2, 4, 7, 9] if rng.random() < 0.5 else [0, 2, 3, 5, 7, 8, 10])
    chord_inst, lead_inst, bass_inst = (rng.choice(instruments) for _ in range(3))
    drums = rng.random() < (0.6 if heldout else 0.8)

    def pitch(degree: int, octave: int) -> float:
        return root * 2 ** (octave + (scale[degree % scale.size] + 12 * (degree // scale.size)) / 12)

    bar = 4 * beat
    time = 0.0
    while time < seconds:
        start = int(time * SR)
        chord_root = int(rng.integers(0, scale.size))
        for k in (0, 2, 4):  # chord of the bar
            note = _note(rng, chord_inst, pitch(chord_root + k, 1), bar * 0.95)
            out[start : start + note.size] += 0.25 * note[: out.size - start]
        bass = _note(rng, bass_inst, pitch(chord_root, 0), beat * 1.9)
        for b in (0, 2):
            s = int((time + b * beat) * SR)
            out[s : s + bass.size] += 0.35 * bass[: max(0, out.size - s)]
        melody_time = time
        while melody_time < time + bar - 1e-6:  # eighths and quarters
            length = beat * (0.5 if rng.random() < 0.6 else 1.0)
            if rng.random() < 0.85:
                note = _note(rng, lead_inst, pitch(int(rng.integers(0, 2 * scale.size)), 2), length * 0.9)
                s = int(melody_time * SR)
                out[s : s + note.size] += 0.3 * note[: max(0, out.size - s)]
            melody_time += length
        if drums:
            style = rng.random()
            for b in range(4):
                s = int((time + b * beat) * SR)
                kind = "kick" if b % 2 == 0 else "snare"
                hit = _drum(rng, kind, style)
                out[s : s + hit.size] += 0.5 * hit[: max(0, out.size - s)]
                for half in (0.0, 0.5):
                    h = int((time + (b + half) * beat) * SR)
                    hat = _drum(rng, "hat", style)
                    out[h : h + hat.size] += 0.3 * hat[: max(0, out.size - h)]
        time += bar
    out = out[:n] * envelope(n, 0.05, 0.3)
    return out / (rms(out) + 1e-12)


# --- applause ---------------------------------------------------------------------------------------


def _reverb(rng: np.random.Generator, x: np.ndarray, decay_s: float, ratio_db: float) -> np.ndarray:
    """``x`` in a room: an exponentially decaying noise tail ``ratio_db`` below the direct sound."""
    length = int(6 * decay_s * SR)
    tail = rng.standard_normal(length) * np.exp(-np.arange(length) / (decay_s * SR))
    tail *= db(-ratio_db) / (rms(tail) * math.sqrt(length) + 1e-12)
    tail[0] += 1.0
    return signal.fftconvolve(x, tail)[: x.size]


def applause(rng: np.random.Generator, seconds: float, heldout: bool = False) -> np.ndarray:
    """Many hands clapping: 5-20 ms filtered noise bursts, hundreds per second, each with its own spectrum.

    Training: either independent claps (150-600 per second) or a crowd of 20-100 clappers each clapping
    3-6 times a second, every clap through a band-pass picked from a bank centred at 600-3000 Hz, in a
    room (15-50 ms decay, direct sound 2-12 dB above the reverberation). Held-out: crowds of 15-200
    clappers, each with a fixed hand resonance (500-4000 Hz, Q 1-5) and a random tilt, in a larger room
    (30-80 ms decay, 0-8 dB) half of the time.
    """
    n = int(seconds * SR)
    out = np.zeros(n + SR // 10)
    times: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    if heldout or rng.random() < 0.5:
        people = int(rng.integers(15, 200) if heldout else rng.integers(20, 100))
        for person in range(people):
            rate = rng.uniform(3.0, 6.0)
            beats = np.cumsum(rng.uniform(0.85, 1.15, int(seconds * rate) + 2) / rate) - rng.uniform(
                0, 1 / rate
            )
            times.append(beats[(beats >= 0) & (beats < seconds)])
            owners.append(np.full(times[-1].size, person))
    else:
        people = 0
        count = rng.poisson(rng.uniform(150, 600) * seconds)
        times.append(rng.uniform(0, seconds, count))
        owners.append(rng.integers(0, 24, count))
    bank = []
    for _ in range(max(people, 24)):
        if heldout:
            centre, q = rng.uniform(500, 4000), rng.uniform(1.0, 5.0)
            band = [centre / (1 + 0.5 / q), min(7800, centre * (1 + 0.5 / q))]
            tilt = rng.uniform(-0.9, 0.9)
            bank.append((signal.butter(2, band, "bandpass", fs=SR, output="sos"), tilt))
        else:
            centre = rng.uniform(600, 3000)
            bank.append(
                (
                    signal.butter(
                        2, [centre * 0.6, min(7800, centre * 1.6)], "bandpass", fs=SR, output="sos"
                    ),
                    0.0,
                )
            )
    gains = rng.lognormal(0, 0.5, len(bank))
    for when, who in zip(np.concatenate(times), np.concatenate(owners), strict=True):
        length = int(rng.uniform(0.005, 0.02) * SR)
        sos, tilt = bank[int(who)]
        burst = signal.sosfilt(sos, rng.standard_normal(length))
        if tilt:
            burst = signal.lfilter([1.0, -tilt], [1.0], burst)
        burst *= np.exp(-np.arange(length) / (length / rng.uniform(3, 6)))
        s = int(when * SR)
        out[s : s + length] += gains[int(who)] * rng.lognormal(0, 0.4) * burst[: out.size - s]
    if heldout:
        if rng.random() < 0.5:
            out = _reverb(rng, out, rng.uniform(0.03, 0.08), rng.uniform(0, 8))
    else:
        out = _reverb(rng, out, rng.uniform(0.015, 0.05), rng.uniform(2, 12))
    out = out[:n] * envelope(n, rng.uniform(0.1, 0.5), rng.uniform(0.3, 1.2))
    return out / (rms(out) + 1e-12)


# --- laughter ---------------------------------------------------------------------------------------

# F1-F3 of the vowels laughs are made of (Hz; F4 and F5 are fixed near 3.5 and 4.5 kHz).
VOWELS_TRAIN = {"a": (800, 1250, 2600), "uh": (650, 1200, 2550)}
VOWELS_HELDOUT = {
    "a": (850, 1400, 2800),
    "e": (550, 1800, 2600),
    "o": (550, 950, 2500),
    "i": (400, 2100, 2900),
}


def formant_filter(x: np.ndarray, formants: tuple[float, ...], bandwidths: tuple[float, ...]) -> np.ndarray:
    """A cascade of unity-gain-at-DC resonators (Klatt's cascade vocal tract)."""
    for freq, bandwidth in zip(formants, bandwidths, strict=True):
        r = math.exp(-math.pi * bandwidth / SR)
        b, c = 2 * r * math.cos(2 * math.pi * freq / SR), -r * r
        x = signal.lfilter([1 - b - c], [1.0, -b, -c], x)
    return x


def _glottal(rng: np.random.Generator, f0: np.ndarray, breath: float) -> np.ndarray:
    """Glottal flow derivative (Rosenberg pulses, abrupt closure) for an F0 track, plus aspiration noise."""
    phase = np.cumsum(f0 / SR) % 1.0
    rise = rng.uniform(0.3, 0.45)
    fall = rng.uniform(0.12, 0.25)
    flow = np.where(
        phase < rise,
        0.5 * (1 - np.cos(np.pi * phase / rise)),
        np.where(phase < rise + fall, np.cos(0.5 * np.pi * (phase - rise) / fall), 0.0),
    )
    source = np.diff(flow, prepend=0.0)
    noise = rng.standard_normal(f0.size) * (0.3 + flow)
    return source / (rms(source) + 1e-12) + breath * noise


def laughter(rng: np.random.Generator, seconds: float, heldout: bool = False) -> np.ndarray:
    """Bouts of "ha" syllables: a breathy /h/ onset, then a voiced vowel, 4-6 per second.

    Formant synthesis: Rosenberg glottal pulses with aspiration noise through a cascade of five formants.
    The pitch rises within a syllable and falls over a bout; the loudness decays along the bout.
    Training: /a/ and /uh/, 4-6 syllables per second, bouts starting at 230-400 Hz. Held-out: /a/, /e/,
    /o/ and /i/ with other formant scalings, 3.5-6.5 per second, 180-450 Hz, and a breath in after bouts.
    """
    n = int(seconds * SR)
    out = np.zeros(n + SR)
    vowels = VOWELS_HELDOUT if heldout else VOWELS_TRAIN
    time = rng.uniform(0.0, 0.1)
    while time < seconds - 0.2:
        rate = rng.uniform(3.5, 6.5) if heldout else rng.uniform(4.0, 6.0)
        syllables = int(rng.integers(3, 9))
        base = rng.uniform(180, 450) if heldout else rng.uniform(230, 400)
        scale = rng.uniform(0.9, 1.25) if heldout else rng.uniform(0.95, 1.1)
        vowel = tuple(f * scale for f in vowels[str(rng.choice(list(vowels)))]) + (3500 * scale, 4500 * scale)
        widths = tuple(w * rng.uniform(0.8, 1.5) for w in (90, 110, 160, 250, 300))
        breath = rng.uniform(0.1, 0.8)
        for k in range(syllables):
            if time > seconds - 0.15:
                break
            period = 1 / rate * rng.uniform(0.9, 1.1)
            h_len = rng.uniform(0.03, 0.07)
            v_len = min(period * rng.uniform(0.45, 0.7), period - h_len)
            nh, nv = int(h_len * SR), int(v_len * SR)
            start_f0 = base * (1 - 0.25 * k / max(1, syllables - 1))
            contour = (
                start_f0
                * (1 + 0.12 * np.sin(np.pi * np.arange(nv) / nv))
                * (1 + 0.01 * rng.standard_normal(nv).cumsum() / np.sqrt(np.arange(1, nv + 1)))
            )
            voiced = _glottal(rng, contour, breath) * np.sin(np.pi * np.arange(nv) / nv) ** 0.5
            aspiration = rng.standard_normal(nh) * np.linspace(0.1, 0.6, nh)
            shaped = formant_filter(np.concatenate([aspiration, voiced]), vowel, widths)
            gain = (1 - 0.5 * k / syllables) * rng.uniform(0.8, 1.2)
            s = int(time * SR)
            out[s : s + shaped.size] += gain * shaped[: out.size - s]
            time += period
        if heldout and time < seconds - 0.4:  # breath in
            length = int(rng.uniform(0.2, 0.4) * SR)
            inhale = formant_filter(rng.standard_normal(length), (1500, 3000), (800, 1000)) * np.hanning(
                length
            )
            s = int(time * SR)
            out[s : s + length] += 0.1 * inhale[: out.size - s]
            time += length / SR
        time += rng.uniform(0.3, 1.2)
    out = out[:n]
    return out / (active_rms(out) + 1e-12)


# --- background noise --------------------------------------------------------------------------------

NOISE_TRAIN = ("pink", "brown", "white", "hum", "babble")
NOISE_HELDOUT = ("pink", "brown", "hiss", "air", "traffic", "babble")


def background(
    rng: np.random.Generator, seconds: float, heldout: bool = False, kind: str | None = None
) -> np.ndarray:
    """Sustained background noise: coloured noise, a fan or air conditioner hum, traffic, or babble."""
    n = int(seconds * SR)
    kind = kind or str(rng.choice(NOISE_HELDOUT if heldout else NOISE_TRAIN))
    t = np.arange(n) / SR
    if kind == "pink":
        out = coloured_noise(rng, n, rng.uniform(0.8, 1.2))
    elif kind == "brown":
        out = coloured_noise(rng, n, rng.uniform(1.6, 2.0))
    elif kind == "white":
        out = signal.sosfilt(signal.butter(2, rng.uniform(3000, 7000), "lowpass", fs=SR, output="sos"),
                             rng.standard_normal(n))  # fmt: skip
    elif kind == "hiss":  # rain or tape hiss: high-passed white noise
        out = signal.sosfilt(signal.butter(2, rng.uniform(800, 2500), "highpass", fs=SR, output="sos"),
                             rng.standard_normal(n))  # fmt: skip
    elif kind in ("hum", "air"):  # fan or air conditioner: mains harmonics over filtered broadband noise
        mains = 50 if rng.random() < 0.5 else 60
        hum = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 6)) / h for h in range(1, 6))
        body = coloured_noise(rng, n, 1.0 if kind == "hum" else 0.6)
        blade = 1 + 0.2 * np.sin(2 * np.pi * rng.uniform(8, 25) * t)
        out = body * blade + rng.uniform(0.3, 1.0) * hum / rms(hum)
    elif kind == "traffic":  # rumble with passing swells
        out = coloured_noise(rng, n, 1.7) * (1 + 0.6 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t) ** 2)
    else:  # babble of several voices
        out = babble(rng, seconds, heldout)
    out = out[:n]
    return out / (rms(out) + 1e-12)


def babble(rng: np.random.Generator, seconds: float, heldout: bool) -> np.ndarray:
    n = int(seconds * SR)
    out = np.zeros(n)
    talkers = int(rng.integers(6, 12))
    for _ in range(talkers):
        voice = flite_speech(rng, heldout)
        while voice.size < n:
            voice = np.concatenate([voice, flite_speech(rng, heldout)])
        offset = int(rng.integers(0, voice.size - n + 1))
        part = voice[offset : offset + n]
        out += part / (active_rms(part) + 1e-12) * rng.uniform(0.5, 1.0)
    return out


# --- speech ---------------------------------------------------------------------------------------------


@functools.cache
def _flite() -> object | None:
    from chorus.engines.flite import FliteEngine

    engine = FliteEngine()
    return engine if engine.available() else None


@functools.cache
def _flite_utterance(text: str, voice: str, pitch: float, speed: float) -> np.ndarray:
    from chorus.engines.base import SynthesisRequest

    engine = _flite()
    if engine is None:
        raise RuntimeError("flite is not available")
    request = SynthesisRequest(text=text, native_voice=voice, pitch=pitch, speed=speed)
    pcm = b"".join(chunk.pcm for chunk in engine.synthesize(request))  # type: ignore[attr-defined]
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768


def flite_speech(rng: np.random.Generator, heldout: bool) -> np.ndarray:
    """One sentence read by a flite voice at a random pitch and speed.

    A quarter of the training sentences are spoken 1.5-1.9 times higher (children, excited voices at
    200-400 Hz), so that pitch alone never passes for laughter.
    """
    sentences = SENTENCES_HELDOUT if heldout else SENTENCES_TRAIN
    voice = str(rng.choice(["rms", "slt", "awb", "kal16"]))
    pitch = float(rng.choice([0.8, 0.9, 1.0, 1.1, 1.2, 1.3]))  # a few values, so utterances are cached
    if not heldout and rng.random() < 0.25:
        pitch = float(rng.choice([1.5, 1.7, 1.9]))
    speed = float(rng.choice([0.85, 1.0, 1.15]))
    return _flite_utterance(str(rng.choice(sentences)), voice, pitch, speed)


@functools.cache
def _decode(path: Path) -> np.ndarray:
    from chorus.stt.audio_input import decode_any, to_16k

    pcm, rate = decode_any(path.read_bytes())
    if rate != SR:
        pcm = to_16k(pcm, rate)
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768


def real_clips(heldout: bool) -> list[Path]:
    """LibriSpeech clips of the training or held-out speakers (plus LJ Speech when held out)."""
    speakers = HELDOUT_SPEAKERS if heldout else TRAIN_SPEAKERS
    clips = (
        sorted(p for p in LIBRI.glob("*.flac") if p.name.split("-")[0] in speakers) if LIBRI.is_dir() else []
    )
    if heldout and (SPEECH / "ljspeech").is_dir():
        clips += sorted((SPEECH / "ljspeech").glob("*.wav"))
    return clips


def speech(rng: np.random.Generator, heldout: bool, seconds: float) -> np.ndarray:
    """About ``seconds`` of speech: sentences with pauses, real (LibriSpeech, LJ Speech) when available."""
    clips = real_clips(heldout)
    parts: list[np.ndarray] = []
    total = 0.0
    while total < seconds:
        if clips and rng.random() < (0.8 if heldout else 0.6):
            clip = _decode(clips[int(rng.integers(0, len(clips)))])
            clip = clip / (active_rms(clip) + 1e-12)
        else:
            clip = flite_speech(rng, heldout)
            clip = clip / (active_rms(clip) + 1e-12)
        parts.append(clip)
        parts.append(np.zeros(int(rng.uniform(0.3, 1.5) * SR)))
        total += (clip.size + parts[-1].size) / SR
    out = np.concatenate(parts)
    return out[: int(seconds * SR)]


# --- scenes -------------------------------------------------------------------------------------------


@dataclass
class Scene:
    """A mixture and what is in it: (start_s, end_s, label) for each audible event."""

    samples: np.ndarray  # int16
    events: list[tuple[float, float, str]]
    kind: str
    snr_db: float | None = None  # speech level above the event's (None: no speech or no event)
    detail: str = ""  # which variant of the generator (noise kind, ...)


def _to_int16(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0.99:
        x = x * (0.99 / peak)
    return np.round(x * 32767).astype(np.int16)


SCENE_KINDS = ("speech", "music", "music_bed", "applause", "laughter", "noise", "quiet_noise", "alone")


def scene(rng: np.random.Generator, kind: str, heldout: bool, seconds: float = 10.0) -> Scene:
    """One mixture of speech and (for most kinds) one event, at a random level and position.

    ``speech``: clean speech only. ``music``: music alone for a stretch, speech around it. ``music_bed``:
    music under speech throughout, speech 0-15 dB louder. ``applause``: applause at the start or end,
    overlapping the speech by up to a second. ``laughter``: laughter bouts in the pauses and over the
    ends of sentences. ``noise``: sustained noise 0-20 dB under the speech; ``quiet_noise``: 35-45 dB
    under (the ordinary noise floor: no event). ``alone``: one event with no speech at all.
    """
    n = int(seconds * SR)
    level = db(rng.uniform(-32, -20))  # speech active level
    voice = speech(rng, heldout, seconds) * level
    mix = voice.copy()
    events: list[tuple[float, float, str]] = []
    snr: float | None = None
    detail = ""

    def place(event: np.ndarray, start: float, gain: float, label: str) -> None:
        s = int(start * SR)
        e = min(n, s + event.size)
        mix[s:e] += gain * event[: e - s]
        gap = 1.0 if label == "laughter" else 0.5  # one laughing episode, however many bouts
        events.extend((s / SR + a, s / SR + b, label) for a, b in active_spans(event[: e - s], gap))

    if kind == "speech":
        pass
    elif kind == "music":
        length = rng.uniform(3, 6)
        start = rng.uniform(0, seconds - length)
        snr = float(rng.uniform(-6, 6))
        s, e = int(start * SR), int((start + length) * SR)
        mix[s:e] = voice[s:e] * rng.choice([0.0, 1.0])  # music alone, or over speech
        place(music(rng, length, heldout), start, level * db(-snr), "music")
    elif kind == "music_bed":
        snr = float(rng.uniform(0, 15))
        place(music(rng, seconds, heldout), 0.0, level * db(-snr), "music")
    elif kind == "applause":
        length = rng.uniform(2, 5)
        start = 0.0 if rng.random() < 0.5 else seconds - length
        snr = float(rng.uniform(-10, 5))
        s, e = int(start * SR), int((start + length) * SR)
        keep = int(rng.uniform(0, 1.0) * SR)  # speech overlapping the applause, up to a second of it
        faded = np.zeros(e - s)
        if start == 0.0:
            faded[-keep:] = 1.0 if keep else 0.0
        else:
            faded[:keep] = 1.0
        mix[s:e] = voice[s:e] * faded
        place(applause(rng, length, heldout), start, level * db(-snr), "applause")
    elif kind == "laughter":
        snr = float(rng.uniform(-6, 6))
        for _ in range(int(rng.integers(1, 3))):
            length = rng.uniform(0.8, 2.5)
            start = rng.uniform(0, seconds - length)
            s, e = int(start * SR), int((start + length) * SR)
            if rng.random() < 0.7:  # mostly in a pause: the speaker stops to laugh
                mix[s:e] -= voice[s:e]
            place(laughter(rng, length, heldout), start, level * db(-snr), "laughter")
    elif kind in ("noise", "quiet_noise"):
        snr = float(rng.uniform(0, 20) if kind == "noise" else rng.uniform(35, 45))
        detail = str(rng.choice(NOISE_HELDOUT if heldout else NOISE_TRAIN))
        mix += background(rng, seconds, heldout, detail) * level * db(-snr)
        if kind == "noise":
            events.append((0.0, seconds, "background noise"))
    elif kind == "alone":
        label = detail = str(rng.choice(["music", "applause", "laughter", "background noise"]))
        mix[:] = 0.0
        make: dict[str, Callable[..., np.ndarray]] = {
            "music": music, "applause": applause, "laughter": laughter, "background noise": background
        }  # fmt: skip
        length = rng.uniform(3, seconds)
        start = rng.uniform(0, seconds - length)
        place(make[label](rng, length, heldout), start, db(rng.uniform(-35, -15)), label)
    else:
        raise ValueError(kind)
    floor = coloured_noise(rng, n, 1.0) * level * db(-rng.uniform(45, 60))  # a recording's own floor
    return Scene(_to_int16(mix + floor), merge_spans(events), kind, snr, detail)


def active_spans(x: np.ndarray, gap_s: float = 0.5, range_db: float = 30.0) -> list[tuple[float, float]]:
    """Where a sound is audible: 50 ms frames within ``range_db`` of its loudest, gaps under ``gap_s`` bridged."""
    hop = SR // 20
    frames = x[: x.size // hop * hop].reshape(-1, hop)
    if not frames.size:
        return []
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    on = energy > energy.max() - range_db
    spans: list[tuple[float, float]] = []
    for i in np.flatnonzero(on):
        start, end = i / 20, (i + 1) / 20
        if spans and start - spans[-1][1] < gap_s:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def merge_spans(events: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Overlapping or touching spans of one label joined; sorted by start."""
    out: list[tuple[float, float, str]] = []
    for label in sorted({e[2] for e in events}):
        spans = sorted((a, b) for a, b, lab in events if lab == label)
        for a, b in spans:
            if out and out[-1][2] == label and a <= out[-1][1] + 1e-6:
                out[-1] = (out[-1][0], max(out[-1][1], b), label)
            else:
                out.append((a, b, label))
    return sorted(out)


# --- fitting ----------------------------------------------------------------------------------------

TRAIN_SEED = 20_240_601  # the training material; every measurement uses other seeds and held-out generators
HELDOUT_SEED = 7_000_001
THRESHOLD_GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
TARGET_PRECISION = 0.9  # on the training scenes, when choosing thresholds


def scenes(seed: int, heldout: bool, per_kind: int, seconds: float = 10.0) -> list[Scene]:
    rng = np.random.default_rng(seed)
    return [scene(rng, kind, heldout, seconds) for kind in SCENE_KINDS for _ in range(per_kind)]


Analysed = tuple[np.ndarray, np.ndarray, np.ndarray]  # window features, centres (s), levels (dBFS)


def analyse(tagger: object, clips: list[np.ndarray]) -> list[Analysed]:
    return [tagger.features(clip) for clip in clips]  # type: ignore[attr-defined]


def coverage(events: list[tuple[float, float, str]], centres: np.ndarray) -> np.ndarray:
    """Share of each window (rows) covered by each label's events (columns, in LABELS order)."""
    from chorus.stt.events import FRAME_RATE, LABELS, WIN_FRAMES

    half = WIN_FRAMES / FRAME_RATE / 2
    out = np.zeros((centres.size, len(LABELS)))
    for start, end, label in events:
        span = np.clip(np.minimum(end, centres + half) - np.maximum(start, centres - half), 0, None)
        out[:, LABELS.index(label)] += span / (2 * half)
    return np.minimum(out, 1.0)


def fit(
    rows: np.ndarray, covers: np.ndarray, penalty: float = 1.0
) -> dict[str, tuple[float, dict[str, float]]]:
    """Fit the tagger: a multinomial logistic regression over "none" and the labels.

    A window's class is the label covering at least half of it, or "none" when no label covers more than a
    tenth of it; the other windows (event edges) take no part. "none" scores 0; each label scores a bias plus
    weighted features, using only the features :data:`chorus.stt.events.LABEL_FEATURES` allows it, each
    weight held to its declared sign. Features are standardised for the fit (so one L2 penalty suits all)
    and the weights are returned in the features' own units, as :data:`chorus.stt.events.MODEL` holds them.
    """
    from scipy.optimize import minimize

    from chorus.stt.events import FEATURES, LABEL_FEATURES, LABELS

    best = covers.argmax(axis=1)
    positive = covers[np.arange(covers.shape[0]), best] >= 0.5
    none = covers.max(axis=1) <= 0.1
    keep = positive | none
    x = rows[keep]
    target = np.where(positive[keep], best[keep] + 1, 0)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    onehot = np.eye(len(LABELS) + 1)[target]
    columns = [[FEATURES.index(name) for name in LABEL_FEATURES[label]] for label in LABELS]
    offsets = np.cumsum([0, *[len(c) + 1 for c in columns]])
    penalised = np.ones(offsets[-1])
    penalised[offsets[1:] - 1] = 0.0  # biases are not penalised

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        scores = np.zeros((z.shape[0], len(LABELS) + 1))
        for j, cols in enumerate(columns):
            part = theta[offsets[j] : offsets[j + 1]]
            scores[:, j + 1] = z[:, cols] @ part[:-1] + part[-1]
        scores -= scores.max(axis=1, keepdims=True)
        log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
        residual = np.exp(log_p) - onehot
        grad = np.zeros_like(theta)
        for j, cols in enumerate(columns):
            grad[offsets[j] : offsets[j + 1] - 1] = z[:, cols].T @ residual[:, j + 1]
            grad[offsets[j + 1] - 1] = residual[:, j + 1].sum()
        value = -float(np.sum(onehot * log_p)) + penalty * float(np.sum(penalised * theta**2))
        return value, grad + 2 * penalty * penalised * theta

    bounds: list[tuple[float | None, float | None]] = []
    for label in LABELS:
        bounds += [(0, None) if sign > 0 else (None, 0) for sign in LABEL_FEATURES[label].values()]
        bounds.append((None, None))
    theta = minimize(loss, np.zeros(offsets[-1]), jac=True, method="L-BFGS-B", bounds=bounds).x
    model: dict[str, tuple[float, dict[str, float]]] = {}
    for j, (label, cols) in enumerate(zip(LABELS, columns, strict=True)):
        part = theta[offsets[j] : offsets[j + 1]]
        weights = {
            FEATURES[c]: float(w / std[c]) for c, w in zip(cols, part[:-1], strict=True) if abs(w) > 1e-6
        }
        bias = float(part[-1] - sum(w * mean[c] / std[c] for c, w in zip(cols, part[:-1], strict=True)))
        model[label] = (bias, weights)
    return model


def events_of(tagger: object, analysed: Analysed, seconds: float, thresholds: dict[str, float]) -> list:
    from chorus.stt.events import events_from_scores

    rows, centres, levels = analysed
    return events_from_scores(tagger.scores(rows), centres, levels, seconds, thresholds)  # type: ignore[attr-defined]


def choose_thresholds(
    tagger: object, material: list[Scene], analysed: list[Analysed], clean: list[tuple[float, Analysed]]
) -> dict[str, float]:
    """Per label, the lowest threshold on the grid at which the training scenes' events are at least
    TARGET_PRECISION right and the training speakers' clean speech gets no event of that label."""
    from chorus.stt.events import LABELS

    thresholds = dict.fromkeys(LABELS, THRESHOLD_GRID[0])
    for label in LABELS:
        for value in THRESHOLD_GRID:
            thresholds[label] = value
            tally = Tally()
            for item, result in zip(material, analysed, strict=True):
                score_scene(
                    item, events_of(tagger, result, item.samples.size / SR, thresholds), {label: tally}
                )
            false = sum(
                e.label == label
                for seconds, result in clean
                for e in events_of(tagger, result, seconds, thresholds)
            )
            if tally.detected and tally.precision >= TARGET_PRECISION and false == 0:
                break
    return thresholds


def write_model(model: dict[str, tuple[float, dict[str, float]]], thresholds: dict[str, float]) -> None:
    """Replace the fitted block of src/chorus/stt/events.py with ``model`` and ``thresholds``."""
    path = ROOT / "src" / "chorus" / "stt" / "events.py"
    text = path.read_text()
    begin = text.index("\n", text.index("# >>> fitted model")) + 1
    end = text.index("# <<< fitted model")
    lines = [
        f"# Fitted on {TRAIN_PER_KIND} training scenes of each kind (seed {TRAIN_SEED}).",
        "MODEL: dict[str, tuple[float, dict[str, float]]] = {",
    ]
    for label, (bias, weights) in model.items():
        lines += [f"    {json.dumps(label)}: (", f"        {bias:.4f},", "        {"]
        lines += [f"            {json.dumps(name)}: {value:.4f}," for name, value in weights.items()]
        lines += ["        },", "    ),"]
    lines += ["}", "THRESHOLDS: dict[str, float] = {"]
    lines += [f"    {json.dumps(label)}: {value}," for label, value in thresholds.items()]
    lines += ["}"]
    path.write_text(text[:begin] + "\n".join(lines) + "\n" + text[end:])


TRAIN_PER_KIND = 40


def run_fit() -> None:
    from chorus.stt.events import AudioEventTagger

    print(f"building {TRAIN_PER_KIND * len(SCENE_KINDS)} training scenes ...", flush=True)
    material = scenes(TRAIN_SEED, False, TRAIN_PER_KIND)
    tagger = AudioEventTagger()
    analysed = analyse(tagger, [item.samples for item in material])
    rows = np.vstack([a[0] for a in analysed])
    covers = np.vstack([coverage(item.events, a[1]) for item, a in zip(material, analysed, strict=True)])
    model = fit(rows, covers)
    tagger = AudioEventTagger(model=model)
    clean = [(clip.size / SR, tagger.features(to_int16(clip))) for clip in map(_decode, real_clips(False))]
    thresholds = choose_thresholds(tagger, material, analysed, [(s, a) for s, a in clean])
    write_model(model, thresholds)
    for label, (bias, weights) in model.items():
        print(
            f"{label}: bias {bias:+.3f}, threshold {thresholds[label]}, "
            + ", ".join(f"{k} {v:+.3f}" for k, v in weights.items())
        )


# --- measuring --------------------------------------------------------------------------------------


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)


def overlap(a: tuple[float, float], spans: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(a[1], e) - max(a[0], s)) for s, e in spans)


COLLAR_S = 0.5  # the tagger decides on 1 s windows, so its edges are good to about half a second


@dataclass
class Tally:
    """Event-level counts for one label: a detection is right when at least half of it lies in reference
    events of its label widened by :data:`COLLAR_S` on each side; a reference event is found when
    detections of its label cover at least half of it."""

    detected: int = 0
    right: int = 0
    references: int = 0
    found: int = 0

    @property
    def precision(self) -> float:
        return self.right / self.detected if self.detected else float("nan")

    @property
    def recall(self) -> float:
        return self.found / self.references if self.references else float("nan")


def score_scene(item: Scene, detections: list, tallies: dict[str, Tally]) -> None:
    for label, tally in tallies.items():
        refs = [(s, e) for s, e, lab in item.events if lab == label]
        widened = [(s, e) for s, e, _ in merge_spans([(s - COLLAR_S, e + COLLAR_S, label) for s, e in refs])]
        mine = [(d.start_s, d.end_s) for d in detections if d.label == label]
        tally.detected += len(mine)
        tally.right += sum(overlap(d, widened) >= 0.5 * (d[1] - d[0]) for d in mine)
        tally.references += len(refs)
        tally.found += sum(overlap(r, mine) >= 0.5 * (r[1] - r[0]) for r in refs)


def clean_speech_sets() -> dict[str, list[Path]]:
    """Clean read speech: no event should be found in any of it."""
    libri_heldout = [p for p in real_clips(True) if p.parent == LIBRI]
    sets = {
        "LibriSpeech, held-out speakers": libri_heldout,
        "LJ Speech": sorted((SPEECH / "ljspeech").glob("*.wav")),
        "multilingual (Picovoice, AISHELL)": sorted((SPEECH / "multilingual").glob("*.wav")),
        "LibriSpeech, training speakers": real_clips(False),
    }
    return {name: paths for name, paths in sets.items() if paths}


def snr_band(snr: float | None) -> str:
    if snr is None:
        return "no speech"
    if snr >= 5:
        return "speech 5+ dB louder"
    if snr > -5:
        return "within 5 dB"
    return "event 5+ dB louder"


def measure(per_kind: int) -> str:
    import time

    from common import machine, today

    from chorus.stt.events import LABELS, AudioEventTagger

    tagger = AudioEventTagger()
    material = scenes(HELDOUT_SEED, True, per_kind)
    tallies = {label: Tally() for label in LABELS}
    by_kind: dict[tuple[str, str], Tally] = {}
    by_snr: dict[tuple[str, str], Tally] = {}
    audio = compute = 0.0
    for item in material:
        start = time.perf_counter()
        found = tagger.detect(item.samples)
        compute += time.perf_counter() - start
        audio += item.samples.size / SR
        score_scene(item, found, tallies)
        for label in {lab for _, _, lab in item.events}:
            score_scene(item, found, {label: by_kind.setdefault((label, item.kind), Tally())})
            score_scene(item, found, {label: by_snr.setdefault((label, snr_band(item.snr_db)), Tally())})
    lines = [
        f"Measured {today()} on {machine()}.",
        "",
        "`bench/stt_events.py` builds mixtures in code and runs `chorus.stt.events.detect_events` on them.",
        f"Held-out material: {len(material)} ten-second scenes ({per_kind} of each of {len(SCENE_KINDS)} kinds, "
        f"seed {HELDOUT_SEED}) made with the held-out generator variants (music: plucked, FM, organ and string "
        "timbres at 60-180 BPM; applause: clapping crowds in a room; laughter: /a e o i/ at 180-450 Hz with "
        "breaths; noise: pink, brown, hiss, air conditioning, traffic, babble) over held-out speech (LibriSpeech "
        "speakers and LJ Speech never used in the fit, flite reading other sentences). The tagger was fitted on "
        f"other generator variants, seed {TRAIN_SEED} and other speakers (`--fit`).",
        "",
        "A detection is right when at least half of it lies within the reference events of its label "
        f"(widened by {COLLAR_S} s); a reference event is found when detections of its label cover half of it.",
        "",
        "| label | detections | precision | reference events | recall |",
        "|---|---|---|---|---|",
    ]
    for label, t in tallies.items():
        lines.append(f"| {label} | {t.detected} | {t.precision:.2f} | {t.references} | {t.recall:.2f} |")
    lines += ["", "Recall by scene kind and by level against the speech:", ""]
    lines += ["| label | scenes | events | recall |", "|---|---|---|---|"]
    for (label, kind), t in sorted(by_kind.items()):
        lines.append(f"| {label} | {kind} | {t.references} | {t.recall:.2f} |")
    for (label, band), t in sorted(by_snr.items()):
        lines.append(f"| {label} | {band} | {t.references} | {t.recall:.2f} |")
    lines += [
        "",
        "False events on clean read speech (no event is right there):",
        "",
        "| speech | clips | minutes | events | per minute | clips with any |",
        "|---|---|---|---|---|---|",
    ]
    for name, paths in clean_speech_sets().items():
        count = clips_with = 0
        minutes = 0.0
        labels: dict[str, int] = {}
        for path in paths:
            clip = to_int16(_decode(path))
            start = time.perf_counter()
            found = tagger.detect(clip)
            compute += time.perf_counter() - start
            audio += clip.size / SR
            minutes += clip.size / SR / 60
            count += len(found)
            clips_with += bool(found)
            for e in found:
                labels[e.label] = labels.get(e.label, 0) + 1
        which = f" ({', '.join(f'{k} {v}' for k, v in sorted(labels.items()))})" if labels else ""
        lines.append(
            f"| {name} | {len(paths)} | {minutes:.1f} | {count}{which} | {count / minutes:.2f} | {clips_with} |"
        )
    lines += ["", f"Cost: {1000 * compute / audio:.0f} ms of compute per second of audio (one process)."]
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fit", action="store_true", help="refit the weights and thresholds in events.py")
    parser.add_argument("--write", action="store_true", help="write the results into docs/BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true", help="fewer scenes")
    args = parser.parse_args()
    if args.fit:
        run_fit()
        return
    body = measure(6 if args.quick else 24)
    print(body)
    if args.write:
        from common import write_section

        write_section("Audio event tags", body)


if __name__ == "__main__":
    main()
