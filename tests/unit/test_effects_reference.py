"""The effect chain's fast paths give exactly what its formulas, applied one frame at a time, give.

:class:`ReferenceChain` is the chain with the frame-rate dynamics and the limiter written plainly (each
5 ms frame's decision through every formula; the limiter's envelope computed for every block). The
chain in production computes the same values with fewer Python operations and skips work whose result
is known; whatever it does, its output must be bit-identical to this reference, for every setting,
rate, chunking and mid-stream update.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import signal

from chorus.audio import effects, effects_native
from chorus.audio.effects import CEILING, EffectChain, EffectSettings


def _compressor_db(over_db: float) -> float:
    over = over_db - effects._COMP_THRESHOLD_DB
    slope = 1 - 1 / effects._COMP_RATIO
    half = effects._COMP_KNEE_DB / 2
    if over <= -half:
        return 0.0
    if over < half:
        return -slope * (over + half) ** 2 / (2 * effects._COMP_KNEE_DB)
    return -slope * over


class ReferenceChain(EffectChain):
    """The same chain, its dynamics decided frame by frame through every formula, its limiter unskipped."""

    def __init__(self, sample_rate: int, settings: EffectSettings, seed: int = 0) -> None:
        super().__init__(sample_rate, settings, seed, native=False)  # the Python stages, overridden below

    def _frame_gains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        frame = self._frame
        detector, self._kw_zi = signal.sosfilt(self._kw_sos, y, zi=self._kw_zi)
        reference = None
        if self._breathy:
            reference, self._ref_zi = signal.sosfilt(self._kw_sos, x, zi=self._ref_zi)
        start = self._frame_pos
        total = start + len(y)
        complete = total // frame
        dyn = list(self._dyn_ramp)
        makeup = list(self._makeup_ramp)
        if complete:
            held = np.concatenate([self._det_pending, detector[: complete * frame - start]])
            squares = np.square(held).reshape(complete, frame)
            s0 = squares.sum(axis=1).tolist()
            s1 = (squares * self._ramp).sum(axis=1).tolist()
            s2 = (squares * self._ramp2).sum(axis=1).tolist()
            s_ref = [0.0] * complete
            if reference is not None:
                held_ref = np.concatenate([self._ref_pending, reference[: complete * frame - start]])
                s_ref = np.square(held_ref).reshape(complete, frame).sum(axis=1).tolist()
                self._ref_pending = reference[complete * frame - start :].copy()
            for r in range(complete):
                a, step = dyn[r], dyn[r + 1] - dyn[r]
                after = (a * a * s0[r] + 2 * a * step * s1[r] + step * step * s2[r]) / frame
                next_dyn, next_makeup = self._next_gains(s0[r] / frame, after, s_ref[r] / frame)
                dyn.append(next_dyn)
                makeup.append(next_makeup)
            self._det_pending = detector[complete * frame - start :].copy()
            self._dyn_ramp = (dyn[-2], dyn[-1])
            self._makeup_ramp = (makeup[-2], makeup[-1])
        else:
            self._det_pending = np.concatenate([self._det_pending, detector])
            if reference is not None:
                self._ref_pending = np.concatenate([self._ref_pending, reference])
        self._frame_pos = total % frame
        position = np.arange(start, total)
        which = position // frame
        ramp = self._ramp[position % frame]
        dyn_from = np.asarray(dyn)[which]
        dyn_gain = dyn_from + (np.asarray(dyn)[which + 1] - dyn_from) * ramp
        makeup_from = np.asarray(makeup)[which]
        makeup_gain = makeup_from + (np.asarray(makeup)[which + 1] - makeup_from) * ramp
        return dyn_gain * makeup_gain  # type: ignore[no-any-return]

    def _next_gains(self, power: float, power_after: float, power_ref: float) -> tuple[float, float]:
        if self._boost:
            alpha = self._a_attack if power > self._envelope else self._a_release
            self._envelope += alpha * (power - self._envelope)
        self._recent.append(power)
        if self._style > 0:
            alpha = self._a_style_attack if power > self._style_env else self._a_style_release
            self._style_env += alpha * (power - self._style_env)
        self._powers.append(power)
        self._powers_out.append(power_after)
        if self._breathy:
            self._powers_ref.append(power_ref)
        if self._level_in.level and power > self._level_in.level * effects._FRAME_RESTART:
            self._reset_levels()
            self._speech_frames = 0
            self._makeup_db = min(self._makeup_db, 0.0)
        if self._speech_frames or power > effects._START_GATE:
            self._speech_frames += 1
            if self._speech_frames % self._hop == 0:
                self._update_level()
        if not (self._level_in.level and self._level_out.level):
            return 1.0, 1.0
        level = self._level_in.level
        dynamic_db = 0.0
        if self._boost:
            dynamic_db += _compressor_db(10 * math.log10(max(self._envelope, level * 1e-10) / level))
        if self._style > 0:
            swing = 10 * math.log10(max(self._style_env, level * 1e-6) / level)
            dynamic_db += min(effects._STYLE_MAX_DB, max(effects._STYLE_MIN_DB, self._style * swing))
        target = self._target_power if self._target_power is not None else level
        if self._breathy and self._match_ref.level and self._match_voice.level:
            low, high = effects._BREATHY_MATCH_DB
            match_db = 10 * math.log10(self._match_ref.level / self._match_voice.level)
            match_db = min(high, max(low, match_db))
            dynamic_db += match_db
            if self._target_power is None:
                target = level * 10 ** (match_db / 10)
        makeup_db = 10 * math.log10(target / self._level_out.level)
        makeup_db = min(effects._AGC_MAX_DB, max(effects._AGC_MIN_DB, makeup_db))
        if makeup_db < self._makeup_db:
            self._makeup_db = makeup_db
        else:
            self._makeup_db += self._a_makeup * (makeup_db - self._makeup_db)
        applied_db = self._makeup_db
        if applied_db > 0:
            low, high = effects._PAUSE_DB
            recent_db = 10 * math.log10(max(max(self._recent), level * 1e-10) / level)
            applied_db *= min(1.0, max(0.0, (recent_db - low) / (high - low)))
        return 10 ** (dynamic_db / 20), 10 ** (applied_db / 20)

    def _limit(self, y: np.ndarray) -> np.ndarray:
        out = np.empty_like(y)
        done = 0
        while done < len(y):
            j0 = self._lim_pos
            j1 = min(effects._LIMITER_BLOCK, j0 + len(y) - done)
            piece = y[done : done + j1 - j0]
            running = np.maximum.accumulate(np.abs(piece) * self._lim_inv[j0:j1])
            running = np.maximum(running, self._lim_max)
            envelope = np.maximum(running * self._lim_pow[j0:j1], self._lim_env * self._lim_pow1[j0:j1])
            envelope = np.maximum(envelope, CEILING)
            out[done : done + j1 - j0] = piece * (CEILING / envelope)
            self._lim_max = float(running[-1])
            if j1 == effects._LIMITER_BLOCK:
                self._lim_env = float(envelope[-1])
                self._lim_max = 0.0
                self._lim_pos = 0
            else:
                self._lim_pos = j1
            done += j1 - j0
        return out


def bursts(rate: int, seconds: float, rng: np.random.Generator) -> bytes:
    """Voiced bursts at levels from whisper to clipping, fricative noise and pauses (some long)."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    voiced = sum(np.sin(2 * np.pi * k * 130 * t + k) / k for k in range(1, 12))
    hiss = rng.standard_normal(n)
    out = np.zeros(n)
    position = 0
    while position < n:
        length = int(rng.uniform(0.05, 0.4) * rate)
        level = 10 ** (rng.uniform(-60, 3) / 20)
        window = np.hanning(min(length, n - position))
        source = voiced if rng.random() < 0.7 else hiss * 0.3
        out[position : position + len(window)] = level * window * source[position : position + len(window)]
        position += length + int(rng.choice([0.01, 0.05, 0.2, 0.8]) * rate)
    return np.clip(np.round(out * 32768), -32768, 32767).astype("<i2").tobytes()


SETTINGS = (
    EffectSettings(),
    EffectSettings(use_speaker_boost=False),
    EffectSettings(style=0.6),
    EffectSettings(style=1.0, similarity_boost=0.2),
    EffectSettings(breathy=True),
    EffectSettings(breathy=True, use_speaker_boost=False),
    EffectSettings(use_speaker_boost=False, target_lufs=-23.0),
    EffectSettings(volume_db=-10.0, breathy=True, style=0.3),
    EffectSettings(similarity_boost=1.0, volume_db=6.0),
)


def run(
    chain_type: Callable[..., EffectChain],
    rate: int,
    pcm: bytes,
    plan: list[tuple[int, EffectSettings | None]],
) -> bytes:
    """Feed ``pcm`` in the planned chunk sizes, switching settings where the plan says."""
    chain = chain_type(rate, plan[0][1] or SETTINGS[0], seed=7)
    out, position = [], 0
    for size, settings in plan[1:]:
        if settings is not None:
            chain.update(settings)
        out.append(chain.process(pcm[position : position + size]))
        position += size
    out.append(chain.process(pcm[position:]))
    return b"".join(out) + chain.flush()


@pytest.mark.parametrize("case", range(24))
def test_chain_matches_the_frame_by_frame_reference(case: int) -> None:
    rng = np.random.default_rng(case)
    rate = (16_000, 22_050, 24_000, 8_000)[case % 4]
    pcm = bursts(rate, float(rng.uniform(0.5, 7.0)), rng)
    plan: list[tuple[int, EffectSettings | None]] = [(0, SETTINGS[case % len(SETTINGS)])]
    for _ in range(int(rng.integers(1, 12))):
        switch = SETTINGS[int(rng.integers(len(SETTINGS)))] if rng.random() < 0.25 else None
        plan.append((int(rng.integers(1, 20_000)), switch))  # odd sizes split samples too
    reference = run(ReferenceChain, rate, pcm, plan)
    assert run(functools.partial(EffectChain, native=False), rate, pcm, plan) == reference
    if effects_native.load() is not None:  # the C stages too (tests/unit/test_effects_native.py says more)
        assert run(functools.partial(EffectChain, native=True), rate, pcm, plan) == reference
    assert len(reference) == len(pcm) // 2 * 2


class _Recording(ReferenceChain):
    """The reference, noting which side of each shortcut's threshold every decision fell on."""

    seen: set[str]

    def _next_gains(self, power: float, power_after: float, power_ref: float) -> tuple[float, float]:
        gains = super()._next_gains(power, power_after, power_ref)
        level = self._level_in.level
        if level and self._level_out.level:
            over = 10 * math.log10(max(self._envelope, level * 1e-10) / level) - effects._COMP_THRESHOLD_DB
            self.seen.add("compressor idle" if over <= -effects._COMP_KNEE_DB / 2 else "compressor active")
            if self._makeup_db > 0:
                recent_db = 10 * math.log10(max(max(self._recent), level * 1e-10) / level)
                self.seen.add(
                    "pause gate open" if recent_db >= effects._PAUSE_DB[1] else "pause gate closing"
                )
        return gains

    def _limit(self, y: np.ndarray) -> np.ndarray:
        out = super()._limit(y)
        self.seen.add("limiting" if np.any(out != y) else "not limiting")
        return out


def test_the_comparison_reaches_both_sides_of_every_shortcut() -> None:
    """The equality above proves something only if the signals take the shortcuts and miss them."""
    seen: set[str] = set()
    for case in range(6):
        rng = np.random.default_rng(case)
        chain = _Recording(16_000, EffectSettings(), seed=7)
        chain.seen = seen
        pcm = bursts(16_000, 4.0, rng)
        for start in range(0, len(pcm), 3_200):  # 100 ms chunks: blocks with and without peaks
            chain.process(pcm[start : start + 3_200])
    assert seen == {
        "compressor idle",
        "compressor active",
        "pause gate open",
        "pause gate closing",
        "limiting",
        "not limiting",
    }
