"""Voice-setting effects, judged by measuring what they do to speech-like signals and to real engine speech."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import signal

from chorus.audio.effects import CEILING, EffectChain, EffectSettings, apply_effects

pyloudnorm = pytest.importorskip("pyloudnorm")

RATES = (16_000, 22_050)  # flite, eSpeak NG
OFF = EffectSettings(use_speaker_boost=False)
CEILING_S16 = 29_204  # -1 dBFS


# --- signals and measurements ------------------------------------------------------------------


def speechlike(rate: int, seconds: float = 6.0, level_db: float = -20.0, seed: int = 1) -> bytes:
    """Harmonic syllables (gliding F0, three formants, stressed and unstressed), fricatives, pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t) + 8 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    offsets = rng.uniform(0, 2 * np.pi, size=int(rate / 2 / 160))  # not one click per period
    harmonics = sum(np.sin(k * phase + offsets[k]) / k for k in range(1, len(offsets)))
    voiced = harmonics
    for formant, width in ((700.0, 150.0), (1800.0, 250.0), (2800.0, 350.0)):
        b, a = signal.iirpeak(formant, formant / width, fs=rate)
        voiced = voiced + 0.6 * signal.lfilter(b, a, harmonics)
    envelope = np.zeros(n)
    fricative = np.zeros(n)
    position = int(0.15 * rate)
    syllable = 0
    while position < n - int(0.3 * rate):
        length = int(rng.uniform(0.12, 0.26) * rate)
        peak = 1.0 if syllable % 3 == 0 else 10 ** (-rng.uniform(6, 10) / 20)  # stressed every third
        envelope[position : position + length] = peak * np.hanning(length) ** 0.7
        if syllable % 2:  # a fricative before every other syllable
            start = max(0, position - int(0.06 * rate))
            fricative[start:position] = 0.25 * np.hanning(position - start)
        position += length + int(rng.uniform(0.02, 0.09 if syllable % 5 else 0.35) * rate)
        syllable += 1
    hiss = signal.sosfilt(signal.butter(2, 3000, "highpass", fs=rate, output="sos"), rng.standard_normal(n))
    x = voiced * envelope + hiss * fricative + 1e-3 * rng.standard_normal(n)
    x *= 10 ** (level_db / 20) / max(1e-12, math.sqrt(np.mean(x[envelope > 0.3] ** 2)))
    return np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768


def lufs(pcm: bytes, rate: int) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples(pcm)))


def band_db(pcm: bytes, rate: int, low: float, high: float) -> float:
    x = samples(pcm)
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return 10 * math.log10(power[(freqs >= low) & (freqs < high)].sum() + 1e-30)


def presence_ratio_db(pcm: bytes, rate: int) -> float:
    """Energy in 2.5-4 kHz relative to 300-1000 Hz."""
    return band_db(pcm, rate, 2500, 4000) - band_db(pcm, rate, 300, 1000)


def centroid_hz(pcm: bytes, rate: int) -> float:
    x = samples(pcm)
    power = np.abs(np.fft.rfft(x)) ** 2
    return float((power * np.fft.rfftfreq(len(x), 1 / rate)).sum() / power.sum())


def envelope_db(pcm: bytes, rate: int) -> np.ndarray:
    """Power envelope (dB) on 30 ms frames."""
    x = samples(pcm)
    frame = int(0.03 * rate)
    count = len(x) // frame
    return 10 * np.log10((x[: count * frame].reshape(count, frame) ** 2).mean(axis=1) + 1e-12)


def envelope_spread_db(pcm: bytes, rate: int, reference: bytes) -> float:
    """Standard deviation (dB) of the envelope over the frames where ``reference`` is within 30 dB of its peak."""
    ref = envelope_db(reference, rate)
    return float(envelope_db(pcm, rate)[ref > ref.max() - 30].std())


def voicing(pcm: bytes, rate: int) -> float:
    """Mean normalised autocorrelation peak at pitch lags (80-400 Hz) over loud 40 ms frames."""
    x = samples(pcm)
    frame = int(0.04 * rate)
    frames = x[: len(x) // frame * frame].reshape(-1, frame)
    energy = (frames**2).sum(axis=1)
    peaks = []
    for values in frames[energy > energy.max() * 1e-2]:
        values = values - values.mean()
        corr = np.correlate(values, values, "full")[frame - 1 :]
        peaks.append(corr[rate // 400 : rate // 80].max() / corr[0])
    return float(np.mean(peaks))


def process_in_chunks(
    pcm: bytes, rate: int, settings: EffectSettings, sizes: list[int], seed: int = 0
) -> bytes:
    chain = EffectChain(rate, settings, seed)
    out = []
    position = 0
    index = 0
    while position < len(pcm):
        size = sizes[index % len(sizes)]
        piece = pcm[position : position + size]
        result = chain.process(piece)
        assert len(result) % 2 == 0
        out.append(result)
        position += size
        index += 1
    out.append(chain.flush())
    return b"".join(out)


# --- contract ----------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [EffectSettings(), OFF, EffectSettings(style=1, breathy=True)])
def test_empty_input(settings: EffectSettings) -> None:
    assert apply_effects(b"", 16_000, settings) == b""
    chain = EffectChain(16_000, settings)
    assert chain.process(b"") == b""
    assert chain.flush() == b""


def test_identity_settings_pass_bytes_through() -> None:
    pcm = speechlike(16_000, 1.0)
    chain = EffectChain(16_000, OFF)
    assert chain.is_identity
    assert chain.process(pcm) == pcm
    assert apply_effects(pcm, 16_000, EffectSettings(use_speaker_boost=False, similarity_boost=0.75)) == pcm


@pytest.mark.parametrize(
    "settings",
    [
        EffectSettings(),
        EffectSettings(use_speaker_boost=False, similarity_boost=0.5),
        EffectSettings(use_speaker_boost=False, style=0.2),
        EffectSettings(use_speaker_boost=False, volume_db=-10),
        EffectSettings(use_speaker_boost=False, breathy=True),
        EffectSettings(use_speaker_boost=False, target_lufs=-23),
    ],
)
def test_any_active_setting_is_not_identity(settings: EffectSettings) -> None:
    pcm = speechlike(16_000, 1.0)
    chain = EffectChain(16_000, settings)
    assert not chain.is_identity
    out = chain.process(pcm)
    assert len(out) == len(pcm)
    assert out != pcm


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(
    "settings",
    [
        EffectSettings(),
        EffectSettings(style=0.8, similarity_boost=0.1, volume_db=4),
        EffectSettings(use_speaker_boost=False, breathy=True, volume_db=-10, style=0.3),
        EffectSettings(use_speaker_boost=False, target_lufs=-20, similarity_boost=1.0),
    ],
)
def test_chunked_equals_whole(rate: int, settings: EffectSettings) -> None:
    pcm = speechlike(rate, 3.0, level_db=-12)  # loud enough that the limiter works too
    whole = apply_effects(pcm, rate, settings, seed=7)
    assert len(whole) == len(pcm)
    rng = np.random.default_rng(3)
    for sizes in ([3, 1000, 7, 8192], rng.integers(1, 9000, size=50).tolist()):
        assert process_in_chunks(pcm, rate, settings, sizes, seed=7) == whole
    # Sample by sample, and byte by byte, for the first 0.3 s (several frames, a limiter block).
    prefix = int(0.3 * rate) * 2
    expected = apply_effects(pcm[:prefix], rate, settings, seed=7)
    assert expected == whole[:prefix]
    for sizes in ([1], [2]):
        assert process_in_chunks(pcm[:prefix], rate, settings, sizes, seed=7) == expected


def test_process_returns_as_many_samples_as_it_receives() -> None:
    pcm = speechlike(22_050, 1.0)
    chain = EffectChain(22_050, EffectSettings(style=0.5, breathy=True))
    assert len(chain.process(pcm[:441])) == 440  # half a sample waits for the next call
    assert len(chain.process(pcm[441:2001])) == 1560
    assert len(chain.process(pcm[2001:])) == len(pcm) - 2000
    assert chain.flush() == b""
    with pytest.raises(RuntimeError):
        chain.process(pcm)


@pytest.mark.parametrize(
    "settings",
    [EffectSettings(), EffectSettings(style=0.6, breathy=True, similarity_boost=0.2, volume_db=-4)],
)
def test_update_to_equal_settings_changes_nothing(settings: EffectSettings) -> None:
    pcm = speechlike(16_000, 3.0)
    whole = apply_effects(pcm, 16_000, settings, seed=5)
    chain = EffectChain(16_000, settings, seed=5)
    out = chain.process(pcm[:20_001])
    chain.update(EffectSettings(**vars(settings)))
    out += chain.process(pcm[20_001:60_000])
    chain.update(settings)
    out += chain.process(pcm[60_000:]) + chain.flush()
    assert out == whole


def test_updates_mid_stream_are_chunking_independent() -> None:
    rate = 22_050
    pcm = speechlike(rate, 4.0)
    plan = [(0, EffectSettings()), (30_000, EffectSettings(breathy=True, volume_db=-10)), (90_001, OFF)]
    plan += [
        (120_000, EffectSettings(style=0.7, similarity_boost=0.3)),
        (150_000, EffectSettings(breathy=True)),
    ]

    def run(step: int) -> bytes:
        chain = EffectChain(rate, plan[0][1], seed=3)
        out = b""
        bounds = [start for start, _ in plan[1:]] + [len(pcm)]
        position = 0
        for (_, settings), end in zip(plan, bounds, strict=True):
            if position:
                chain.update(settings)
            while position < end:
                out += chain.process(pcm[position : min(end, position + step)])
                position = min(end, position + step)
        return out + chain.flush()

    whole = run(len(pcm))
    assert len(whole) == len(pcm)  # the odd byte at 90_001 waits for the next call
    assert run(4410) == whole
    assert run(777) == whole


def test_update_keeps_the_loudness_measurement() -> None:
    rate = 16_000
    pcm = speechlike(rate, 6.0, level_db=-32)  # needs about +18 dB
    half = len(pcm) // 2 - (len(pcm) // 2) % 2
    whisper = EffectSettings(breathy=True, volume_db=-10)
    chain = EffectChain(rate, EffectSettings())
    chain.process(pcm[:half])
    chain.update(whisper)
    second = chain.process(pcm[half:])
    # Straight after the switch the makeup gain is already there: the first 150 ms of the second half
    # are about as loud as the rest of it, not 18 dB quieter as in a chain that starts afresh.
    fresh = EffectChain(rate, whisper).process(pcm[half:])
    onset = int(0.15 * rate) * 2
    start = np.flatnonzero(np.abs(samples(pcm[half:])) > 0.01)[0] * 2  # where speech resumes
    kept = band_db(second[start : start + onset], rate, 80, 8000)
    restarted = band_db(fresh[start : start + onset], rate, 80, 8000)
    assert kept - restarted > 10
    assert abs(lufs(second, rate) - (-16 - 10)) < 2.0  # the AGC's target, then volume_db


def test_deterministic_for_a_seed() -> None:
    pcm = speechlike(16_000, 2.0)
    whisper = EffectSettings(breathy=True, volume_db=-10)
    assert apply_effects(pcm, 16_000, whisper, seed=42) == apply_effects(pcm, 16_000, whisper, seed=42)
    assert apply_effects(pcm, 16_000, whisper, seed=42) != apply_effects(pcm, 16_000, whisper, seed=43)
    plain = EffectSettings(style=0.5)  # no noise: the seed does not matter
    assert apply_effects(pcm, 16_000, plain, seed=1) == apply_effects(pcm, 16_000, plain, seed=2)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        EffectChain(0, EffectSettings())
    odd = EffectSettings(similarity_boost=float("nan"), style=7.0, volume_db=float("inf"))
    pcm = speechlike(16_000, 1.0)
    assert apply_effects(pcm, 16_000, odd) == apply_effects(pcm, 16_000, EffectSettings(style=1.0))


# --- what the settings do ----------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
def test_speaker_boost_adds_presence(rate: int) -> None:
    pcm = speechlike(rate)
    gain = presence_ratio_db(apply_effects(pcm, rate, EffectSettings()), rate) - presence_ratio_db(pcm, rate)
    assert 1.5 < gain < 5.0


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("level_db", [-32.0, -6.0])
def test_speaker_boost_brings_speech_to_target_loudness(rate: int, level_db: float) -> None:
    pcm = speechlike(rate, level_db=level_db)
    before = lufs(pcm, rate)
    after = lufs(apply_effects(pcm, rate, EffectSettings()), rate)
    assert abs(after + 16) < abs(before + 16)
    assert abs(after + 16) < 2.0, (before, after)


@pytest.mark.parametrize("rate", RATES)
def test_speaker_boost_does_not_pump_up_pauses(rate: int) -> None:
    pcm = speechlike(rate, level_db=-32)  # needs about +18 dB
    out = apply_effects(pcm, rate, EffectSettings())
    frame = int(0.02 * rate)
    count = len(pcm) // 2 // frame
    before = (samples(pcm)[: count * frame].reshape(count, frame) ** 2).mean(axis=1)
    after = (samples(out)[: count * frame].reshape(count, frame) ** 2).mean(axis=1)
    quiet = before < before.max() * 1e-5
    run = np.zeros(count, dtype=int)
    for i in range(count):
        run[i] = run[i - 1] + 1 if quiet[i] and i else int(quiet[i])
    deep = run >= 6  # 120 ms into a pause
    loud = before > before.max() * 0.1
    assert deep.sum() >= 10
    speech_gain = 10 * math.log10(after[loud].mean() / before[loud].mean())
    pause_gain = 10 * math.log10(after[deep].mean() / before[deep].mean())
    assert speech_gain > 12
    assert pause_gain < 4


def test_target_lufs_without_speaker_boost() -> None:
    pcm = speechlike(22_050, level_db=-30)
    after = lufs(apply_effects(pcm, 22_050, EffectSettings(use_speaker_boost=False, target_lufs=-23)), 22_050)
    assert abs(after + 23) < 2.0


@pytest.mark.parametrize("rate", RATES)
def test_output_never_exceeds_the_ceiling(rate: int) -> None:
    loud = speechlike(rate, level_db=0)  # clipped already
    square = np.where(np.sin(2 * np.pi * 150 * np.arange(rate) / rate) >= 0, 32767, -32768).astype("<i2")
    for pcm in (loud, square.tobytes()):
        for settings in (
            EffectSettings(),
            EffectSettings(use_speaker_boost=False, volume_db=24),
            EffectSettings(style=1, similarity_boost=1, volume_db=12, breathy=True),
            EffectSettings(use_speaker_boost=False, similarity_boost=1),
        ):
            out = np.frombuffer(apply_effects(pcm, rate, settings), dtype="<i2")
            assert np.abs(out.astype(np.int32)).max() <= CEILING_S16
    assert round(CEILING * 32768) <= CEILING_S16


def test_speaker_boost_off_keeps_the_engine_level() -> None:
    pcm = speechlike(16_000, level_db=-30)
    out = apply_effects(pcm, 16_000, EffectSettings(use_speaker_boost=False, similarity_boost=0.7))
    assert abs(lufs(out, 16_000) - lufs(pcm, 16_000)) < 0.5


@pytest.mark.parametrize("rate", RATES)
def test_style_expands_the_envelope(rate: int) -> None:
    pcm = speechlike(rate)
    spreads = [
        envelope_spread_db(
            apply_effects(pcm, rate, EffectSettings(use_speaker_boost=False, style=s)), rate, pcm
        )
        for s in (0.0, 0.5, 1.0)
    ]
    assert spreads[0] < spreads[1] < spreads[2]
    assert spreads[2] - spreads[0] > 3.0
    with_boost = envelope_spread_db(apply_effects(pcm, rate, EffectSettings(style=1.0)), rate, pcm)
    assert with_boost > envelope_spread_db(apply_effects(pcm, rate, EffectSettings()), rate, pcm) + 2.5
    # ...and it roughly keeps the average loudness (the makeup follows a running level).
    expanded = apply_effects(pcm, rate, EffectSettings(use_speaker_boost=False, style=1.0))
    assert abs(lufs(expanded, rate) - lufs(pcm, rate)) < 2.0


@pytest.mark.parametrize("rate", RATES)
def test_similarity_boost_moves_the_spectral_centroid(rate: int) -> None:
    pcm = speechlike(rate)
    centroids = [
        centroid_hz(
            apply_effects(pcm, rate, EffectSettings(use_speaker_boost=False, similarity_boost=s)), rate
        )
        for s in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    assert centroids == sorted(centroids)
    assert len(set(centroids)) == 5
    assert centroids[-1] / centroids[0] > 1.15


def test_volume_db_is_applied_after_normalisation() -> None:
    pcm = speechlike(16_000, level_db=-25)
    plain = lufs(apply_effects(pcm, 16_000, EffectSettings()), 16_000)
    quiet = lufs(apply_effects(pcm, 16_000, EffectSettings(volume_db=-10)), 16_000)
    assert abs((plain - quiet) - 10) < 0.5
    raw = lufs(apply_effects(pcm, 16_000, EffectSettings(use_speaker_boost=False, volume_db=-6)), 16_000)
    assert abs((lufs(pcm, 16_000) - raw) - 6) < 0.2


@pytest.mark.parametrize("rate", RATES)
def test_breathy_trades_voicing_for_noise(rate: int) -> None:
    pcm = speechlike(rate)
    whisper = apply_effects(pcm, rate, EffectSettings(use_speaker_boost=False, breathy=True))
    assert voicing(whisper, rate) < voicing(pcm, rate) - 0.1
    low_share = band_db(pcm, rate, 80, 500) - band_db(pcm, rate, 80, rate / 2)
    whisper_low_share = band_db(whisper, rate, 80, 500) - band_db(whisper, rate, 80, rate / 2)
    assert whisper_low_share < low_share - 4
    # Less voicing, not less loudness: that is volume_db's job.
    assert abs(lufs(whisper, rate) - lufs(pcm, rate)) < 2.5
    # The noise follows the speech: pauses stay quiet.
    frame = int(0.02 * rate)
    count = len(pcm) // 2 // frame
    before = (samples(pcm)[: count * frame].reshape(count, frame) ** 2).mean(axis=1)
    after = (samples(whisper)[: count * frame].reshape(count, frame) ** 2).mean(axis=1)
    pauses = before < before.max() * 1e-5
    assert pauses.sum() > 10
    assert after[pauses].mean() < after.mean() * 1e-3  # 30 dB under the average


# --- real engine speech ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flite_speech() -> tuple[list[bytes], int]:
    from chorus.engines.base import SynthesisRequest
    from chorus.engines.flite import FliteEngine

    engine = FliteEngine()
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "flite unavailable")
    text = (
        "The weather was warm and sunny, so we decided to walk to the park after lunch. "
        "Please remember to lock the front door before you leave the house tonight."
    )
    chunks = [chunk.pcm for chunk in engine.synthesize(SynthesisRequest(text, "rms"))]
    return chunks, engine.output_format().sample_rate


def test_flite_speech(flite_speech: tuple[list[bytes], int]) -> None:
    chunks, rate = flite_speech
    pcm = b"".join(chunks)
    chain = EffectChain(rate, EffectSettings())
    streamed = b"".join(chain.process(chunk) for chunk in chunks) + chain.flush()
    assert streamed == apply_effects(pcm, rate, EffectSettings())
    assert abs(lufs(streamed, rate) + 16) < 1.5
    assert presence_ratio_db(streamed, rate) - presence_ratio_db(pcm, rate) > 1.5
    assert np.abs(np.frombuffer(streamed, dtype="<i2").astype(np.int32)).max() <= CEILING_S16
    tilts = [
        centroid_hz(
            apply_effects(pcm, rate, EffectSettings(use_speaker_boost=False, similarity_boost=s)), rate
        )
        for s in (0.0, 0.75, 1.0)
    ]
    assert tilts == sorted(tilts)
    spreads = [
        envelope_spread_db(apply_effects(pcm, rate, EffectSettings(style=s)), rate, pcm) for s in (0.0, 1.0)
    ]
    assert spreads[1] > spreads[0] + 2.0


def test_cost_is_small() -> None:
    """Well under 1 ms per 100 ms of 22.05 kHz audio; the bound here is loose so a busy machine passes."""
    rate = 22_050
    pcm = speechlike(rate, 5.0)
    step = rate // 10 * 2
    settings = EffectSettings(style=0.5, similarity_boost=0.3, breathy=True, volume_db=-3)
    best = math.inf
    for _ in range(3):
        chain = EffectChain(rate, settings)
        started = time.perf_counter()
        for position in range(0, len(pcm), step):
            chain.process(pcm[position : position + step])
        best = min(best, (time.perf_counter() - started) / 50)
    assert best < 0.005
