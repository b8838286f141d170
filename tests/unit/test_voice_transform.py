"""VoiceTransform applied to PCM (chorus.voicelab.transform_dsp): each field does what it says, measurably,
streaming equals whole-clip processing, and an identity transform changes nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from chorus.voicelab.analysis import f0_statistics, f0_track, formants, hnr, speech_band_levels
from chorus.voicelab.transform_dsp import (
    WORLD_BLOCK_S,
    FrameBank,
    MatchParams,
    TransformStream,
    apply_transform,
    choose_warp,
    match_distance,
    source_shape,
    split_for_engine,
)
from chorus.voicelab.voice_model import VoiceTransform

RATE = 16_000


def vowel(
    f0: float = 120.0,
    formant_hz: tuple[float, float, float] = (700.0, 1200.0, 2600.0),
    seconds: float = 1.5,
    rate: int = RATE,
    seed: int = 0,
    glide: float = 0.06,
    whispered: bool = False,
) -> np.ndarray:
    """A synthetic sustained vowel: a glottal pulse train (F0 gliding +-``glide``), or noise when
    ``whispered``, through three resonators."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    contour = f0 * (1 + glide * np.sin(2 * np.pi * 1.5 * t))
    phase = np.cumsum(contour) / rate
    pulses = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(np.float64)
    if whispered:
        pulses = np.random.default_rng(seed + 100).standard_normal(n)
    y = signal.lfilter([1.0], [1.0, -0.97], pulses)
    for centre, bandwidth in zip(formant_hz, (90.0, 110.0, 150.0), strict=True):
        r = math.exp(-math.pi * bandwidth / rate)
        y = signal.lfilter([1 - r], [1.0, -2 * r * math.cos(2 * math.pi * centre / rate), r * r], y)
    y += 1e-4 * np.random.default_rng(seed).standard_normal(n)
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.03 * rate))
    return 0.3 * y * fade / np.max(np.abs(y))


def to_pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes()


def from_pcm(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, "<i2").astype(np.float64) / 32768


def median_f0(x: np.ndarray, rate: int = RATE) -> float:
    value = f0_statistics(f0_track(x[int(0.1 * rate) : -int(0.1 * rate)], rate))["median_hz"]
    assert value is not None
    return value


def chunked(transform: VoiceTransform, pcm: bytes, rate: int, seed: int, **kwargs) -> tuple[bytes, list[int]]:
    """The stream fed in random chunk sizes (odd byte counts included); returns output and boundaries."""
    stream = TransformStream(transform, rate, **kwargs)
    rng = np.random.default_rng(seed)
    out, position = [], 0
    while position < len(pcm):
        size = int(rng.integers(1, 12_000))
        out.append(stream.process(pcm[position : position + size]))
        position += size
    out.append(stream.flush())
    lengths = np.cumsum([len(b) // 2 for b in out if b])
    return b"".join(out), [int(v) for v in lengths[:-1]]


@pytest.fixture(scope="module")
def bank_a() -> FrameBank:
    """A 'speaker' whose vowels have high formants."""
    return FrameBank.from_speech([vowel(200.0, (850.0, 1900.0, 3000.0), 2.0, seed=s) for s in (1, 2)])


def bank_transform(bank: FrameBank, source: np.ndarray, rate: int = RATE) -> VoiceTransform:
    return VoiceTransform(
        frames=bank.encode(), frames_source_db=tuple(FrameBank.from_speech([source], rate).mean_shape())
    )


# --- identity, determinism, stream mechanics ----------------------------------------------------


def test_identity_transform_returns_the_input_bytes() -> None:
    pcm = to_pcm(vowel())
    assert VoiceTransform().is_identity()
    assert apply_transform(pcm, RATE, VoiceTransform()) == pcm
    stream = TransformStream(VoiceTransform(), RATE)
    assert stream.is_identity and stream.latency_samples == 0
    # Split inside a sample: the dangling byte waits, nothing is altered.
    assert stream.process(pcm[:1001]) + stream.process(pcm[1001:]) + stream.flush() == pcm
    # A transform whose fields are all neutral (explicit values) is the identity too.
    assert VoiceTransform(f0_range=1.0, formant_shift=1.0, rate=1.0, envelope_db=(0.0, 0.0)).is_identity()


def test_output_is_deterministic_and_seeded() -> None:
    pcm = to_pcm(vowel())
    transform = VoiceTransform(
        formant_shift=1.1, tilt_db_per_octave=-2.0, envelope_db=(0, 3, 0, -3), breathiness=0.5, roughness=0.4
    )
    first = apply_transform(pcm, RATE, transform.replace(seed=3))
    assert first == apply_transform(pcm, RATE, transform.replace(seed=3))
    assert first != apply_transform(pcm, RATE, transform.replace(seed=4))
    assert len(first) == len(pcm)


def test_stream_holds_back_its_latency_and_flush_returns_the_rest() -> None:
    pcm = to_pcm(vowel())
    stream = TransformStream(VoiceTransform(formant_shift=1.2), RATE)
    assert stream.latency_samples > 0
    head = stream.process(pcm)
    assert len(pcm) // 2 - len(head) // 2 <= stream.latency_samples
    tail = stream.flush()
    assert len(head) + len(tail) == len(pcm)
    assert stream.flush() == b""
    with pytest.raises(RuntimeError):
        stream.process(pcm)
    with pytest.raises(ValueError):
        TransformStream(VoiceTransform(formant_shift=1.2), 0)


@pytest.mark.parametrize(
    "kind",
    ["envelope", "world", "bank"],
)
def test_chunked_streaming_matches_one_shot_without_clicks(kind: str, bank_a: FrameBank) -> None:
    source = vowel(seconds=2.0)
    pcm = to_pcm(source)
    options: dict = {}
    if kind == "envelope":
        transform = VoiceTransform(formant_shift=0.9, tilt_db_per_octave=-1.5, breathiness=0.3, roughness=0.2)
    elif kind == "world":
        transform = VoiceTransform(f0_median_hz=150.0, f0_range=1.3, rate=1.1)
        options = {"source_f0_median_hz": 120.0}
    else:
        transform = bank_transform(bank_a, source)
    whole = from_pcm(apply_transform(pcm, RATE, transform, **options)) * 32768
    streamed_pcm, boundaries = chunked(transform, pcm, RATE, seed=7, **options)
    streamed = from_pcm(streamed_pcm) * 32768
    assert streamed.size == whole.size
    assert np.max(np.abs(streamed - whole)) <= 2  # LSBs: float rounding only
    # No clicks where the chunks met: the sample-to-sample step there stays within the signal's own.
    steps = np.abs(np.diff(streamed))
    ordinary = np.percentile(steps, 99.9)
    for b in boundaries:
        if 2 <= b < streamed.size - 2:
            assert steps[b - 2 : b + 2].max() <= ordinary * 1.5 + 2


def test_world_blocks_join_without_discontinuities() -> None:
    source = vowel(seconds=2.0)
    out = from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(f0_median_hz=160.0))) * 32768
    steps = np.abs(np.diff(out))
    ordinary = np.percentile(steps, 99.9)
    block = round(WORLD_BLOCK_S * RATE)
    for b in range(block, out.size - 4, block):
        assert steps[b - 4 : b + 4].max() <= ordinary * 1.5 + 2


# --- each field does what it says ----------------------------------------------------------------


@pytest.mark.parametrize("known_source", [True, False])
def test_f0_shift_of_four_semitones_is_measured(known_source: bool) -> None:
    source = vowel(f0=120.0)
    before = median_f0(source)
    target = before * 2 ** (4 / 12)
    options = {"source_f0_median_hz": before} if known_source else {}
    out = from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(f0_median_hz=target), **options))
    ratio = median_f0(out) / before
    assert abs(12 * math.log2(ratio) - 4.0) < 0.35  # semitones


def test_pitch_shift_keeps_the_voicing_of_a_recording_with_rumble() -> None:
    """Low-frequency rumble 6 dB under the voice: WORLD's own DIO found voicing in about a tenth of the
    vowels' frames, and what it missed came out as noise; the stage's tracker keeps them voiced."""
    from .test_voice_analysis import syllables

    clean, _, _ = syllables(120.0, 90.0)
    rumbly, _, _ = syllables(120.0, 90.0, rumble_db=-6.0)
    transform = VoiceTransform(f0_median_hz=180.0)
    out = from_pcm(apply_transform(to_pcm(rumbly), RATE, transform, source_f0_median_hz=median_f0(clean)))
    before, after = f0_statistics(f0_track(clean)), f0_statistics(f0_track(out))
    assert after["voiced_fraction"] > 0.85 * before["voiced_fraction"]
    assert after["median_hz"] == pytest.approx(180.0, rel=0.05)


def test_pitch_shift_keeps_unvoiced_sound_as_it_was() -> None:
    """WORLD would rebuild a fricative as shaped noise; the stage hands unvoiced stretches through."""
    rng = np.random.default_rng(5)
    hiss = signal.lfilter(*signal.butter(4, 3000 / (RATE / 2), "high"), rng.normal(0, 0.1, RATE // 2))
    source = np.concatenate([vowel(f0=120.0)[: RATE // 2], hiss, vowel(f0=120.0)[: RATE // 2]])
    out = from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(f0_median_hz=180.0)))
    inside = slice(RATE // 2 + RATE // 10, RATE - RATE // 10)  # the hiss, away from the voicing changes
    pcm_in = from_pcm(to_pcm(source))
    assert np.max(np.abs(out[inside] - pcm_in[inside])) <= 2 / 32768  # the input, up to rounding
    assert median_f0(out[: RATE // 2]) == pytest.approx(180.0, rel=0.05)  # the vowel is still shifted


@pytest.mark.parametrize("known_source", [True, False])
def test_f0_range_scales_pitch_excursions(known_source: bool) -> None:
    source = vowel(f0=140.0, glide=0.25)
    spread_before = f0_statistics(f0_track(source))["log_std"]
    options = {"source_f0_median_hz": median_f0(source)} if known_source else {}
    out = from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(f0_range=0.4), **options))
    spread_after = f0_statistics(f0_track(out))["log_std"]
    assert spread_before is not None and spread_after is not None
    assert spread_after < 0.6 * spread_before
    # Unknown source median: it is estimated from what was heard so far, so the centre may wander a bit.
    assert abs(median_f0(out) / median_f0(source) - 1) < (0.02 if known_source else 0.08)


def smooth_peaks(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    """Frequencies (Hz) of the first two peaks of the cepstrally smoothed long-term spectrum."""
    frames = np.lib.stride_tricks.sliding_window_view(x, 512)[::128] * np.hanning(512)
    log_power = 10 * np.log10((np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0) + 1e-12)
    cepstrum = np.fft.irfft(log_power)
    cepstrum[29:-28] = 0
    envelope = np.fft.rfft(cepstrum).real
    peaks, _ = signal.find_peaks(envelope)
    return peaks[:2] * rate / 512


@pytest.mark.parametrize("shift", [1.18, 0.85])
def test_formant_shift_moves_measured_formants_the_right_way(shift: float) -> None:
    source = vowel(f0=110.0, formant_hz=(650.0, 1300.0, 2500.0), seconds=1.2)
    out = from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(formant_shift=shift)))
    # Praat's formant tracker (ceiling 4.5 kHz suits these low formants) sees F1 and F2 move that way ...
    before, after = formants(source, max_hz=4500.0), formants(out, max_hz=4500.0)
    assert before is not None and after is not None
    for b, a in zip(before[:2], after[:2], strict=True):
        assert (a / b > 1.05) if shift > 1 else (a / b < 0.96), (before, after)
    # ... and the smoothed spectrum's first two peaks move by most of the ratio asked for.
    ratios = smooth_peaks(out) / smooth_peaks(source)
    assert np.all(np.abs(np.log(ratios) / math.log(shift)) > 0.6), ratios
    assert abs(median_f0(out) / median_f0(source) - 1) < 0.03  # pitch untouched


def test_rate_changes_duration_not_pitch() -> None:
    source = vowel(f0=130.0, seconds=2.0)
    faster = from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(rate=1.25)))
    slower = from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(rate=0.8)))
    assert faster.size == round(source.size / 1.25)
    assert slower.size == round(source.size / 0.8)
    assert abs(median_f0(faster) / median_f0(source) - 1) < 0.03
    assert abs(median_f0(slower) / median_f0(source) - 1) < 0.03


@pytest.mark.parametrize("block_s", [WORLD_BLOCK_S, 1.0])
def test_pitch_or_rate_with_a_spectral_stage_keeps_the_exact_length(block_s: float) -> None:
    pcm = to_pcm(vowel(f0=110.0, seconds=2.4))
    for transform, expected in (
        (VoiceTransform(f0_median_hz=200.0, tilt_db_per_octave=-1.0, breathiness=0.2), 38_400),
        (VoiceTransform(rate=1.25, formant_shift=1.1), 30_720),
    ):
        stream = TransformStream(transform, RATE, source_f0_median_hz=110.0, world_block_s=block_s)
        out = b"".join(stream.process(pcm[i : i + 7001]) for i in range(0, len(pcm), 7001)) + stream.flush()
        assert len(out) // 2 == expected


def test_breathiness_lowers_the_harmonics_to_noise_ratio() -> None:
    source = vowel(f0=150.0)
    before = hnr(source)
    light = hnr(from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(breathiness=0.3))))
    heavy = hnr(from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(breathiness=0.9))))
    assert before is not None and light is not None and heavy is not None
    assert light < before - 2.0
    assert heavy < light - 2.0


def _flite(text: str, voice: str) -> bytes:
    from chorus.engines.base import SynthesisRequest
    from chorus.engines.flite import FliteEngine

    engine = FliteEngine()
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "flite unavailable")
    return b"".join(c.pcm for c in engine.synthesize(SynthesisRequest(text=text, native_voice=voice)))


@pytest.mark.parametrize("voice", ["rms", "slt"])
def test_breathiness_on_speech_lowers_hnr_step_by_step_and_keeps_the_words(voice: str) -> None:
    from chorus.testing.asr import transcribe, word_error_rate

    text = "Please remember to lock the front door before you leave the house tonight."
    pcm = _flite(text, voice)
    values = []
    for amount in (0.0, 0.3, 0.6, 0.9):
        out = apply_transform(pcm, RATE, VoiceTransform(breathiness=amount, seed=1)) if amount else pcm
        values.append(hnr(from_pcm(out)))
        if amount == 0.6:
            assert word_error_rate(text, transcribe(np.frombuffer(out, "<i2"), RATE)) <= 0.25
    assert all(v is not None for v in values)
    steps = np.diff(np.asarray(values, dtype=float))
    assert np.all(steps < -1.0), values  # every 0.3 of breathiness costs over a dB of HNR
    assert values[0] - values[-1] > 5.0, values


def test_breathiness_leaves_unvoiced_sound_alone() -> None:
    # Breath goes with voicing: white noise (a long fricative) comes back at its level and spectrum.
    noise = 0.05 * np.random.default_rng(4).standard_normal(RATE)
    out = from_pcm(apply_transform(to_pcm(noise), RATE, VoiceTransform(breathiness=1.0)))
    change = speech_band_levels(out, RATE).mean(axis=0) - speech_band_levels(noise, RATE).mean(axis=0)
    assert np.abs(change[5:]).max() < 1.5


def test_tilt_and_envelope_change_the_long_term_spectrum() -> None:
    source = vowel()
    darker = from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(tilt_db_per_octave=-4.0)))
    levels_before = speech_band_levels(source, RATE).mean(axis=0)
    levels_after = speech_band_levels(darker, RATE).mean(axis=0)
    change = levels_after - levels_before
    assert change[-10:].mean() < change[:10].mean() - 8.0  # 4 octaves above 500 Hz: about -16 dB
    boosted = apply_transform(to_pcm(source), RATE, VoiceTransform(envelope_db=(6.0,) * 8))
    gain = 20 * np.log10(np.std(from_pcm(boosted)) / np.std(source))
    assert 4.5 < gain < 7.5


def test_roughness_perturbs_the_amplitude() -> None:
    source = vowel(f0=120.0)
    rough = from_pcm(apply_transform(to_pcm(source), RATE, VoiceTransform(roughness=1.0)))
    period = RATE // 120

    def envelope_variation(x: np.ndarray) -> float:
        peaks = np.abs(x[: x.size // period * period]).reshape(-1, period).max(axis=1)[5:-5]
        return float(np.std(np.diff(np.log(peaks))))

    assert envelope_variation(rough) > 2 * envelope_variation(source)


# --- frame bank ------------------------------------------------------------------------------------


def test_frame_bank_round_trips_through_its_text_form(bank_a: FrameBank) -> None:
    text = bank_a.encode()
    again = FrameBank.decode(text)
    assert np.array_equal(again.shapes, bank_a.shapes)
    assert np.array_equal(again.selectable, bank_a.selectable)
    assert again.segments == bank_a.segments
    with pytest.raises(ValueError):
        FrameBank.decode("bm90IGEgYmFuaw==")
    with pytest.raises(ValueError):
        FrameBank.from_speech([np.zeros(10)])


def test_frame_bank_moves_the_spectrum_toward_the_target_speaker(bank_a: FrameBank) -> None:
    target = vowel(200.0, (850.0, 1900.0, 3000.0), 2.0, seed=5)  # the bank's speaker, unseen clip
    source = vowel(200.0, (600.0, 1000.0, 2300.0), 2.0, seed=6)
    out = from_pcm(apply_transform(to_pcm(source), RATE, bank_transform(bank_a, source)))

    def shape(x: np.ndarray) -> np.ndarray:
        levels = speech_band_levels(x, RATE)
        loud = levels.mean(axis=1) > np.quantile(levels.mean(axis=1), 0.3)
        centred = levels[loud] - levels[loud].mean(axis=1, keepdims=True)
        return centred.mean(axis=0)

    before = np.abs(shape(source) - shape(target)).mean()
    after = np.abs(shape(out) - shape(target)).mean()
    assert after < 0.5 * before
    f1_out = formants(out)
    assert f1_out is not None and f1_out[0] > 700.0  # F1 moved up toward the target's 850 Hz


def test_a_base_voice_far_too_heavy_at_low_frequencies_gets_the_full_correction_there(
    bank_a: FrameBank,
) -> None:
    """A pitched-up male base voice keeps 12-24 dB too much under 400 Hz for a female speaker: frame gains
    are limited around that long-term correction there (not around 0 dB), so the clone reaches the speaker's
    balance; above 500 Hz the +-18 dB limit around 0 dB still holds."""
    target = vowel(200.0, (850.0, 1900.0, 3000.0), 2.0, seed=5)  # the bank's speaker
    sos = signal.butter(2, 300.0, "low", fs=RATE, output="sos")
    heavy = vowel(200.0, (850.0, 1900.0, 3000.0), 2.0, seed=6)
    heavy = heavy + 60.0 * signal.sosfilt(sos, heavy)  # about +30 dB under 300 Hz
    heavy = 0.3 * heavy / np.abs(heavy).max()
    out = from_pcm(apply_transform(to_pcm(heavy), RATE, bank_transform(bank_a, heavy)))

    def shape(x: np.ndarray) -> np.ndarray:
        levels = speech_band_levels(x, RATE)
        loud = levels.mean(axis=1) > np.quantile(levels.mean(axis=1), 0.3)
        return (levels[loud] - levels[loud].mean(axis=1, keepdims=True)).mean(axis=0)

    low = slice(2, 8)  # mel bands centred about 150-400 Hz
    excess_before = float((shape(heavy) - shape(target))[low].mean())
    excess_after = float((shape(out) - shape(target))[low].mean())
    assert excess_before > 25.0, excess_before
    assert excess_after < 3.0, excess_after  # limited around 0 dB it kept about 8 dB of the excess
    before, after = speech_band_levels(heavy, RATE), speech_band_levels(out, RATE)
    loud = before.mean(axis=1) > np.quantile(before.mean(axis=1), 0.3)
    gains = (after - before)[loud][:, 20:70]  # about 600 Hz and up: still within +-18 dB (and some leakage)
    assert np.abs(np.median(gains, axis=0)).max() < 19.0


def test_matching_warp_is_found_where_the_vocal_tracts_line_up() -> None:
    """A 'speaker' whose formants are 1.2 times the base voice's: the warp near 1.2 matches best (VTLN).

    Whispered vowels, so that the band levels are envelopes only (harmonics would dominate the distance).
    """
    vowels = (
        (300.0, 900.0, 2200.0),
        (650.0, 1100.0, 2400.0),
        (450.0, 1800.0, 2500.0),
        (350.0, 2000.0, 2800.0),
    )

    def phrase(scale: float, seed: int) -> np.ndarray:
        return np.concatenate(
            [
                vowel(170.0, tuple(scale * f for f in v), 0.5, seed=seed + i, whispered=True)
                for i, v in enumerate(vowels)
            ]
        )

    bank = FrameBank.from_speech([phrase(1.2, 10), phrase(1.2, 20)])
    source = [phrase(1.0, 30)]
    distances = {w: match_distance(bank.encode(), source, RATE, w) for w in (0.9, 1.0, 1.1, 1.2, 1.3)}
    assert min(distances, key=distances.get) in (1.1, 1.2, 1.3), distances
    assert distances[1.2] < distances[1.0] < distances[0.9]
    # The base voice's mean shape is measured under the same warp the stream applies.
    assert not np.allclose(source_shape(source, RATE, 1.2), source_shape(source, RATE, 1.0))


def test_choose_warp_prefers_the_vocal_tract_ratio_and_no_warp_when_they_match() -> None:
    vowels = (
        (300.0, 900.0, 2200.0),
        (650.0, 1100.0, 2400.0),
        (450.0, 1800.0, 2500.0),
        (350.0, 2000.0, 2800.0),
    )

    def phrase(scale: float, seed: int) -> np.ndarray:
        parts = [vowel(170.0, tuple(scale * f for f in v), 0.5, seed=seed + i) for i, v in enumerate(vowels)]
        return np.concatenate(parts)

    source = [phrase(1.0, 30)]
    longer = FrameBank.from_speech([phrase(1.2, 10), phrase(1.2, 20)]).encode()
    same = FrameBank.from_speech([phrase(1.0, 10), phrase(1.0, 20)]).encode()
    assert choose_warp(longer, source, RATE) in (1.15, 1.2, 1.25)
    assert choose_warp(same, source, RATE) == 1.0


def test_frames_are_matched_by_their_envelope_not_their_harmonics() -> None:
    """The bank has vowel A at 120 Hz and vowel B at 220 Hz; the input has B at 120 Hz. Compared on raw
    band levels, B's frames would find A (the same harmonic ripple); on smoothed levels they find B."""
    low, high = (300.0, 2300.0, 3000.0), (750.0, 1200.0, 2500.0)
    bank = FrameBank.from_speech([vowel(120.0, low, 1.5, seed=1), vowel(220.0, high, 1.5, seed=2)])
    first, second = vowel(220.0, low, 1.0, seed=3), vowel(120.0, high, 1.0, seed=4)
    source = np.concatenate([first, second])
    out = from_pcm(apply_transform(to_pcm(source), RATE, bank_transform(bank, source)))
    found = formants(out[first.size + 3000 : -3000])
    assert found is not None and found[0] > 600.0 and found[1] < 1600.0, found  # still B: F1 750, F2 1200


def test_blend_mixes_frame_substitution_with_a_static_correction(bank_a: FrameBank) -> None:
    source = np.concatenate([vowel(150.0, (600.0, 1000.0, 2300.0), 1.0, seed=6), vowel(150.0, seed=7)])
    pcm = to_pcm(source)
    transform = bank_transform(bank_a, source)

    def gain_spread(blend: float) -> float:
        """How much the output/input band-level ratio changes from frame to frame (dB)."""
        out = from_pcm(apply_transform(pcm, RATE, transform, match=MatchParams(blend=blend)))
        before, after = speech_band_levels(source, RATE), speech_band_levels(out, RATE)
        loud = before.mean(axis=1) > np.quantile(before.mean(axis=1), 0.3)
        gain = (after - before)[loud][:, 30:70]  # over ~1 kHz, where bands hold several harmonics
        return float(gain.std(axis=0).mean())

    full, half, static = gain_spread(1.0), gain_spread(0.5), gain_spread(0.0)
    assert static < half < full
    assert static < 0.25 * full, (static, half, full)  # one correction for every frame
    streamed, _ = chunked(transform, pcm, RATE, seed=3, match=MatchParams(blend=0.5))
    whole = apply_transform(pcm, RATE, transform, match=MatchParams(blend=0.5))
    assert np.max(np.abs(from_pcm(streamed) - from_pcm(whole))) * 32768 <= 2


@pytest.mark.parametrize("rate", [8_000, 22_050, 24_000])
def test_frame_bank_works_at_other_engine_rates(rate: int, bank_a: FrameBank) -> None:
    source = vowel(seconds=1.0, rate=rate)
    pcm = to_pcm(source)
    transform = bank_transform(bank_a, source, rate)
    out = apply_transform(pcm, rate, transform)
    assert len(out) == len(pcm)
    assert out != pcm
    streamed, _ = chunked(transform, pcm, rate, seed=1)
    assert np.max(np.abs(from_pcm(streamed) - from_pcm(out))) * 32768 <= 2


def test_voice_transform_json_round_trip_keeps_the_bank(bank_a: FrameBank) -> None:
    transform = bank_transform(bank_a, vowel()).replace(
        f0_median_hz=180.0, frames_warp=1.1, reference={"k": 1}
    )
    data = transform.to_json()
    again = VoiceTransform.from_json(data)
    assert again == transform and not again.is_identity()
    assert again.frames_source_db == transform.frames_source_db and again.frames_warp == 1.1
    assert VoiceTransform.from_json(None).is_identity()
    assert VoiceTransform.from_json({"frames": None, "unknown_field": 3}).is_identity()


# --- splitting with the engine --------------------------------------------------------------------


def test_split_for_engine_gives_the_engine_pitch_and_rate() -> None:
    prosody, residual, source = split_for_engine(VoiceTransform(f0_median_hz=200.0, rate=1.2), 100.0)
    assert prosody.pitch == pytest.approx(2.0) and prosody.speed == pytest.approx(1.2)
    assert residual.is_identity() and source == pytest.approx(200.0)
    # Beyond the engine's range: it does what it can, the DSP the rest from where the engine left off.
    prosody, residual, source = split_for_engine(VoiceTransform(f0_median_hz=300.0), 100.0)
    assert prosody.pitch == pytest.approx(2.0)
    assert residual.f0_median_hz == pytest.approx(300.0) and source == pytest.approx(200.0)
    # Engines without controls: everything stays in the transform.
    transform = VoiceTransform(f0_median_hz=150.0, f0_range=1.4, rate=0.9, formant_shift=1.1)
    prosody, residual, _ = split_for_engine(transform, 100.0, pitch=False, rate=False)
    assert (prosody.pitch, prosody.pitch_range, prosody.speed) == (1.0, 1.0, 1.0)
    assert residual == transform
    # Unknown base pitch: the median cannot be handed over, only the range.
    prosody, residual, _ = split_for_engine(VoiceTransform(f0_median_hz=150.0, f0_range=0.5), None)
    assert prosody.pitch == 1.0 and residual.f0_median_hz == 150.0


def test_frame_bank_of_a_noisy_recording_subtracts_its_noise_and_leaves_a_clean_one_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Steady noise (pink, 10 dB under the speech) lifts the bank's quiet bands; the bank subtracts it, so
    its long-term shape comes closer to the clean recording's, while the clean recording's bands (noise
    at the spectrum's edges only) are left exactly as they were."""
    from chorus.voicelab import transform_dsp

    x = from_pcm(_flite("Please remember to lock the front door before you leave the house tonight.", "rms"))
    white = np.random.default_rng(3).standard_normal(x.size)
    spectrum = np.fft.rfft(white)
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))  # pink: -3 dB per octave
    noise = np.fft.irfft(spectrum, x.size)
    noisy = x + noise * np.sqrt(np.mean(x**2) / np.mean(noise**2)) * 10 ** (-10 / 20)

    levels = speech_band_levels(x, RATE)
    assert transform_dsp._less_noise(levels) is levels
    clean = FrameBank.from_speech([x]).mean_shape()
    cleaned = FrameBank.from_speech([noisy]).mean_shape()
    monkeypatch.setattr(transform_dsp, "NOISE_BROADBAND", 2.0)  # no recording qualifies: subtraction off
    as_is = FrameBank.from_speech([noisy]).mean_shape()

    def distance(shape: np.ndarray) -> float:
        return float(np.sqrt(np.mean((shape - clean) ** 2)))

    assert distance(cleaned) < 0.85 * distance(as_is)
