"""The effect chain's C stages give the bytes its Python stages give, and fall back cleanly when absent.

tests/unit/test_effects_reference.py holds both to the plain per-frame formulas; this file adds what is
particular to C: rates whose frames take NumPy's pairwise summation past one block (44.1 and 48 kHz),
odd rates, mid-stream switches in and out of the breathy voice (Python noise, C dynamics), the flush of
subnormal numbers (the signals here drive the filters' states through them), and the loader.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from chorus.audio import effects, effects_native
from chorus.audio.effects import EffectChain, EffectSettings
from tests.unit.test_effects_reference import SETTINGS, bursts, run

native_built = pytest.mark.skipif(
    effects_native.load() is None, reason="the C effects are not built (scripts/setup.sh builds them)"
)

RATES = (16_000, 22_050, 24_000, 8_000, 44_100, 48_000, 11_025, 32_000, 96_000, 1_000, 12_345)


@native_built
@pytest.mark.parametrize("case", range(33))
def test_c_stages_give_the_python_bytes(case: int) -> None:
    rng = np.random.default_rng(1000 + case)
    rate = RATES[case % len(RATES)]
    pcm = bursts(rate, float(rng.uniform(0.5, 6.0)), rng)
    plan: list[tuple[int, EffectSettings | None]] = [(0, SETTINGS[case % len(SETTINGS)])]
    for _ in range(int(rng.integers(1, 12))):
        switch = SETTINGS[int(rng.integers(len(SETTINGS)))] if rng.random() < 0.3 else None
        plan.append((int(rng.integers(1, 30_000)), switch))
    python = run(functools.partial(EffectChain, native=False), rate, pcm, plan)
    assert run(functools.partial(EffectChain, native=True), rate, pcm, plan) == python


@native_built
def test_the_signals_take_the_filters_through_subnormal_numbers() -> None:
    """What makes the flush-to-zero inside C worth testing: in Python the states do become subnormal."""
    rng = np.random.default_rng(3)
    # Speech, 3 s of digital silence, speech again (which meets states that C flushed to zero).
    pcm = bursts(16_000, 2.0, rng) + bytes(2 * 3 * 16_000) + bursts(16_000, 1.0, rng)
    chain = EffectChain(16_000, EffectSettings(), native=False)
    smallest_normal = np.finfo(np.float64).smallest_normal
    seen_subnormal = False
    for start in range(0, len(pcm), 200):  # 100 samples at a time: the states pass through quickly
        chain.process(pcm[start : start + 200])
        states = np.abs(np.concatenate([chain._zi.ravel(), chain._kw_zi.ravel()]))
        seen_subnormal |= bool(np.any((states > 0) & (states < smallest_normal)))
    assert seen_subnormal
    python = run(functools.partial(EffectChain, native=False), 16_000, pcm, [(0, EffectSettings())])
    assert run(functools.partial(EffectChain, native=True), 16_000, pcm, [(0, EffectSettings())]) == python


@native_built
def test_the_compressor_knee_squares_with_libm_pow() -> None:
    """The knee's ``(over + half) ** 2`` is libm's pow(x, 2.0) in Python, which C compilers rewrite as x * x.

    glibc's pow is not correctly rounded and differs from x * x for about one x in a thousand; here the
    chains are set, frame after frame, to an envelope and level that put such an x in the knee.
    """
    python = EffectChain(16_000, EffectSettings(), native=False)
    native = EffectChain(16_000, EffectSettings(), native=True)
    assert native._native is not None
    silence = bytes(2 * python._frame)
    level = 1e-3
    rng = np.random.default_rng(0)
    tried = 0
    for _ in range(200_000):
        envelope = level * 10 ** float(rng.uniform(1.0, 7.0) / 10)  # 1..7 dB over the level
        released = envelope + python._a_release * (0.0 - envelope)  # after the silent frame
        x = 10 * math.log10(released / level) - effects._COMP_THRESHOLD_DB + effects._COMP_KNEE_DB / 2
        if x**2 == x * x:
            continue
        python._level_in.level = python._level_out.level = level
        python._envelope = envelope
        dyn = native._native.dyn
        dyn.level_in.level = dyn.level_out.level = level
        dyn.envelope = envelope
        assert native.process(silence) == python.process(silence)
        assert dyn.dyn_b == python._dyn_ramp[1], f"envelope {envelope!r}"
        tried += 1
        if tried == 20:
            break
    if not tried:
        pytest.skip("this libm's pow(x, 2.0) is x * x")


@native_built
def test_the_callers_floating_point_mode_is_restored() -> None:
    """C flushes subnormals only while it runs; NumPy in the same thread still produces them afterwards."""
    tiny = np.float64(np.finfo(np.float64).smallest_subnormal)
    assert tiny * 3.0 > 0.0
    EffectChain(16_000, EffectSettings(), native=True).process(bytes(4000) + b"\x10\x00" * 2000)
    assert tiny * 3.0 > 0.0
    assert np.finfo(np.float64).smallest_normal / 4 > 0.0


@native_built
def test_an_extreme_rate_uses_the_python_stages() -> None:
    """Frames longer than the C buffers (5 ms at over 200 kHz) fall back, with the same result."""
    rate = 400_000
    pcm = bursts(rate, 0.3, np.random.default_rng(5))
    chain = EffectChain(rate, EffectSettings(style=0.5), native=True)
    assert chain._native is None
    assert chain.process(pcm) == EffectChain(rate, EffectSettings(style=0.5), native=False).process(pcm)


def test_without_the_library_the_python_stages_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(effects_native, "load", lambda: None)
    pcm = bursts(16_000, 1.0, np.random.default_rng(6))
    chain = EffectChain(16_000, EffectSettings())
    assert chain._native is None
    assert len(chain.process(pcm)) == len(pcm)
    with pytest.raises(RuntimeError, match="not built"):
        EffectChain(16_000, EffectSettings(), native=True)


def test_a_stale_build_is_refused(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A library whose ABI number or struct sizes differ from this source is not used."""
    path = effects_native._library_path()
    if path is None:
        pytest.skip("the C effects are not built (scripts/setup.sh builds them)")
    monkeypatch.setattr(effects_native, "ABI", effects_native.ABI + 1)
    effects_native.load.cache_clear()
    try:
        assert effects_native.load() is None
        assert "stale" in caplog.text
    finally:
        monkeypatch.setattr(effects_native, "ABI", effects_native.ABI - 1)
        effects_native.load.cache_clear()
    assert effects_native.load() is not None


def test_a_build_from_another_version_of_the_source_is_refused(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The library records the digest of the C file it was built from; an edited source means a rebuild."""
    if effects_native._library_path() is None:
        pytest.skip("the C effects are not built (scripts/setup.sh builds them)")
    assert effects_native.source_digest() is not None
    effects_native.load.cache_clear()
    try:
        assert effects_native.load() is not None  # built from this very source
        monkeypatch.setattr(effects_native, "source_digest", lambda: "0" * 16)
        effects_native.load.cache_clear()
        assert effects_native.load() is None
        assert "built from source" in caplog.text and "rebuild" in caplog.text
    finally:
        monkeypatch.undo()
        effects_native.load.cache_clear()
    assert effects_native.load() is not None


def test_a_missing_library_file_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(effects_native, "_library_path", lambda: None)
    effects_native.load.cache_clear()
    try:
        assert effects_native.load() is None
    finally:
        effects_native.load.cache_clear()
