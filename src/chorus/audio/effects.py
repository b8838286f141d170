"""Voice-setting post-processing: what the ElevenLabs voice settings do to engine PCM.

The engines handle ``speed`` (and in part ``stability``) themselves. Everything else in the voice
settings is applied here, to the mono s16le PCM an engine produces, by a streaming
:class:`EffectChain` (or :func:`apply_effects` for a whole clip). What each setting means:

``use_speaker_boost``
    Presence and loudness. A 2nd-order high-pass at 80 Hz removes rumble and a +3 dB peaking EQ at
    3 kHz (Q 1; lower on low-rate audio, always below Nyquist) adds presence. An automatic gain control
    then brings speech to a consistent level, -16 LUFS unless ``target_lufs`` says otherwise: it
    measures the level the way a loudness meter does (K-weighted power in 400 ms blocks every 100 ms,
    gated at -50 LUFS and at 10 dB under the running mean, averaged over about 3 s, i.e. short-term
    loudness) and applies a makeup gain of -24..+24 dB that falls at once and rises with a 30 ms time
    constant. The first 100 ms of speech pass at unity while the level is first measured. Pauses are
    not boosted (none while the last 60 ms stayed 40 dB under the speech level, full from 30 dB under
    it), so no noise is pumped up between words. A
    gentle compressor (3:1 above +4 dB over the speech level, 6 dB soft knee, 5 ms attack, 80 ms
    release) evens out loud syllables. Off: the engine's own level, untouched apart from the safety
    limiter.
``similarity_boost`` (0..1)
    Clarity, the closest thing engine voices have to "how strongly the voice's character is kept": a
    high shelf at 2 kHz whose gain is -6 dB at 0, 0 dB at 0.75 (the API default, so the default leaves
    the timbre alone) and +4 dB at 1, linear in between on each side. Higher is crisper and brighter,
    lower softer; the spectral centroid rises monotonically with it.
``style`` (0..1)
    Exaggeration: a dynamic-range expansion of the syllable envelope (8 ms attack, 40 ms release)
    around the running speech level, ratio ``1 + style``: a syllable 6 dB under the level ends up
    ``6 * (1 + style)`` dB under it, a stressed one 3 dB over ends up ``3 * (1 + style)`` dB over
    (expansion gain limited to -20..+8 dB). The makeup gain keeps the loudness where it would have been
    (the AGC target with speaker boost, the engine's level without). 0 leaves the envelope alone.
``volume_db``
    Extra gain from prosody (v3 ``[whispers]`` = -10 dB), applied after loudness normalisation so the
    AGC does not undo it. Clamped to -60..+24 dB.
``breathy``
    v3 ``[whispers]``: voicing is traded for noise. The voiced path loses most of the low harmonics
    that carry pitch (-12 dB low shelf at 800 Hz) and drops to 0.6, and a three-band noise vocoder
    (0.8-1.6, 1.6-3.2 and 3.2-6 kHz, capped below Nyquist) adds noise whose level in each band follows
    the speech's own envelope in that band (8 ms), at 0.7 of it, so the whisper keeps the formant
    shape and pauses stay silent. The result is matched in loudness to the input over about a second
    (K-weighted, within -6..+20 dB), so how loud a whisper is depends on the AGC and ``volume_db``,
    not on how much voicing the voice had. The noise comes from a PCG64 generator seeded with
    ``seed``: output is deterministic.
``target_lufs``
    Loudness target of the AGC. ``None`` means -16 LUFS with speaker boost and the engine's own level
    without it; a number turns the AGC on (without the presence EQ and compressor if speaker boost is
    off).

Out-of-range values are clamped, never refused (the API layer validates the documented ranges); a
non-finite value counts as its default.

Safety limiter: whenever anything is active, the last stage is a peak limiter with instant attack and
60 ms release, ceiling -1 dBFS (29204 in s16). No output sample ever exceeds it. When nothing is active
(:attr:`EffectChain.is_identity`) the chain is skipped entirely and the input comes back unchanged.

Streaming: every filter is stateful (``sosfilt``/``lfilter`` with carried ``zi``) and every
level-dependent decision is made on 5 ms frames aligned to the absolute sample position and applied
one frame later (gains ramp linearly across a frame), so :meth:`EffectChain.process` returns exactly as
many samples as it receives, without lookahead, and feeding a clip in any chunk sizes gives the same
bytes as processing it whole. The limiter is sample-accurate and works in blocks aligned to the
absolute sample position for the same reason. The noise generator is consumed sample by sample in
order. Equal input, settings and seed give equal bytes.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy import signal

from chorus.audio import effects_native

__all__ = [
    "CEILING",
    "DEFAULT_TARGET_LUFS",
    "EffectChain",
    "EffectSettings",
    "apply_effects",
    "similarity_tilt_db",
]

# --- constants ---------------------------------------------------------------------------------

_FULL_SCALE = 32768.0
# -1 dBFS is 29204.5 in s16. Half an LSB of margin keeps the rounded output at or below 29204.
CEILING = (math.floor(10 ** (-1 / 20) * _FULL_SCALE) - 0.5) / _FULL_SCALE
DEFAULT_TARGET_LUFS = -16.0
NEUTRAL_SIMILARITY = 0.75

_FRAME_S = 0.005  # level decisions are made per 5 ms frame
_LIMITER_BLOCK = 4096  # samples; the limiter's blocks are aligned to absolute positions
_LIMITER_RELEASE_S = 0.060
# Margin on the limiter's shortcut test, far more than the rounding of its envelope arithmetic.
_UNDER_CEILING = 1 + 1e-9
# What EffectChain.update carries over when both settings use the frame-rate dynamics.
_DYNAMIC_STATE = (
    "_kw_zi",
    "_det_pending",
    "_frame_pos",
    "_powers",
    "_powers_out",
    "_speech_frames",
    "_level_in",
    "_level_out",
    "_makeup_db",
    "_envelope",
    "_style_env",
    "_recent",
    "_dyn_ramp",
    "_makeup_ramp",
)
_BREATHY_STATE = ("_ref_zi", "_ref_pending", "_powers_ref", "_match_ref", "_match_voice")

# Speaker boost
_HIGHPASS_HZ = 80.0
_PRESENCE_HZ = 3000.0
_PRESENCE_DB = 3.0
_PRESENCE_Q = 1.0
_COMP_THRESHOLD_DB = 4.0  # above the running speech level
_COMP_RATIO = 3.0
_COMP_KNEE_DB = 6.0
_COMP_ATTACK_S = 0.005
_COMP_RELEASE_S = 0.080
_COMP_SLOPE = 1 - 1 / _COMP_RATIO
_COMP_HALF_KNEE_DB = _COMP_KNEE_DB / 2

# Loudness (AGC): the speech level is measured as BS.1770 does (gated 400 ms blocks every 100 ms, of
# K-weighted power), averaged over about 3 s of speech like short-term loudness.
_BLOCK_S = 0.400
_HOP_S = 0.100
_LEVEL_WINDOW_S = 3.0
_ABS_GATE = 10 ** ((-50 - -0.691) / 10)  # blocks under -50 LUFS are not speech (BS.1770 says -70)
_REL_GATE = 0.1  # blocks 10 dB under the running level do not count...
_RESTART = 10.0  # ...and one 10 dB over it starts the average afresh (speech after noise, a shout)
_FRAME_RESTART = 100.0  # so does, at once, a 5 ms frame 20 dB over the gated level
_START_GATE = 10 ** ((-50 - -0.691) / 10)  # speech starts at the first frame over -50 LUFS
# Pause gate: no makeup boost while the loudest frame of the last 60 ms is 40 dB under the speech level,
# full boost from 30 dB under it.
_PAUSE_HOLD_S = 0.060
_PAUSE_DB = (-40.0, -30.0)
# Shortcuts of the frame loop, with a margin of 1e-6 around each threshold (far more than rounding moves):
# the compressor adds nothing while the envelope is under the knee's start (over <= -half knee)...
_QUIET_RATIO = 10 ** ((_COMP_THRESHOLD_DB - _COMP_HALF_KNEE_DB) / 10) * (1 - 1e-6)
# ...and the pause gate passes the makeup gain whole while the last 60 ms reach its top.
_OPEN_RATIO = 10 ** (_PAUSE_DB[1] / 10) * (1 + 1e-6)
_MAKEUP_RISE_S = 0.030  # the makeup gain rises smoothly and falls at once (a frame's ramp)
_AGC_MIN_DB = -24.0
_AGC_MAX_DB = 24.0
_LUFS_OFFSET = -0.691  # BS.1770: loudness = -0.691 + 10 log10(mean square of the K-weighted signal)

# Similarity (clarity tilt)
_TILT_HZ = 2000.0
_TILT_MIN_DB = -6.0  # at similarity 0
_TILT_MAX_DB = 4.0  # at similarity 1

# Style (expansion)
_STYLE_ATTACK_S = 0.008  # syllable envelope: quick to rise so onsets are not swallowed
_STYLE_RELEASE_S = 0.040
_STYLE_MIN_DB = -20.0
_STYLE_MAX_DB = 8.0

# Breathy
_BREATHY_SHELF_HZ = 800.0
_BREATHY_SHELF_DB = -12.0
_BREATHY_DRY = 0.6
_BREATHY_BANDS_HZ = (800.0, 1600.0, 3200.0, 6000.0)  # edges of the noise vocoder's bands
_BREATHY_ENV_S = 0.008
_BREATHY_NOISE_GAIN = 0.7  # noise level in a band relative to the speech's level there
_BREATHY_MATCH_S = 1.0  # window of the loudness match
_BREATHY_MATCH_DB = (-6.0, 20.0)


@dataclass(frozen=True)
class EffectSettings:
    """Post-processing derived from a request's voice settings and prosody; see the module docstring."""

    use_speaker_boost: bool = True
    similarity_boost: float = NEUTRAL_SIMILARITY  # 0..1
    style: float = 0.0  # 0..1
    volume_db: float = 0.0  # extra gain from prosody (e.g. v3 [whispers] = -10)
    breathy: bool = False  # v3 [whispers]: reduced voicing plus envelope-shaped noise
    target_lufs: float | None = None  # loudness target; None = -16 with speaker boost, else engine level


def apply_effects(pcm: bytes, sample_rate: int, settings: EffectSettings, seed: int = 0) -> bytes:
    """Process a whole clip of s16le mono ``pcm``; the same bytes as :class:`EffectChain` fed in chunks."""
    chain = EffectChain(sample_rate, settings, seed)
    return chain.process(pcm) + chain.flush()


class EffectChain:
    """Stateful streaming processor: feed chunks in order, get processed chunks of equal length back.

    :meth:`process` takes s16le mono PCM and returns as many samples as it was given, processed, with
    no lookahead; a chunk may split a sample, and the dangling byte waits for the next call (the
    output then holds the complete samples only). :meth:`flush` ends the stream; it returns ``b""``
    since nothing is ever held back. Splitting the input differently never changes the output bytes.
    :meth:`update` switches settings mid-stream. One chain per stream; not thread-safe.

    ``native`` picks the implementation of the per-sample and per-frame work: the C library
    (:mod:`chorus.audio.effects_native`) when it was built and ``native`` is not ``False``, else the
    Python code below; ``True`` insists on C. Both give the same bytes; C costs a fraction (see
    docs/BENCHMARKS.md).
    """

    def __init__(
        self, sample_rate: int, settings: EffectSettings, seed: int = 0, *, native: bool | None = None
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"invalid sample rate {sample_rate}")
        self.sample_rate = int(sample_rate)
        self._seed = int(seed)
        self._lib = effects_native.load() if native is not False else None
        if native and self._lib is None:
            raise RuntimeError("the C effects library is not built (run scripts/setup.sh)")
        self._pending = b""
        self._closed = False
        self._position = 0  # samples processed so far
        self._configure(settings)

    def update(self, settings: EffectSettings) -> None:
        """Switch to other settings mid-stream (a prosody change), keeping what has been measured.

        The loudness measurement, makeup gain, limiter, noise generator and any filter whose design is
        unchanged carry on, so the level does not start afresh; filters that change start from rest.
        Updating to equal settings changes nothing in the output. Passing through identity settings
        (see :attr:`is_identity`) does start afresh. Prefer this to a new chain on a prosody change.
        """
        if self._closed:
            raise RuntimeError("update() after flush()")
        previous = dict(self.__dict__)
        self._configure(settings)
        if previous["_identity"] or self._identity:
            return
        for name in ("_lim_pos", "_lim_env", "_lim_max"):
            setattr(self, name, previous[name])
        native = self._native is not None and previous["_native"] is not None
        if native:
            self._native.lim = previous["_native"].lim
        old_sos = previous["_sos"]
        if self._sos is not None and old_sos is not None and np.array_equal(self._sos, old_sos):
            self._zi = previous["_zi"]
        if self._breathy and previous["_breathy"]:
            for name in ("_band_zi", "_env_zi", "_rng"):
                setattr(self, name, previous[name])
        if self._dynamics and previous["_dynamics"]:
            for name in _DYNAMIC_STATE:
                setattr(self, name, previous[name])
            if native:
                self._native.dyn = previous["_native"].dyn
            if self._breathy and previous["_breathy"]:
                for name in _BREATHY_STATE:
                    setattr(self, name, previous[name])
                if native:
                    self._native.br = previous["_native"].br

    def _configure(self, settings: EffectSettings) -> None:
        """Design the stages for ``settings``, all at rest (aligned to the current position)."""
        self.settings = settings
        boost = bool(settings.use_speaker_boost)
        similarity = _finite(settings.similarity_boost, NEUTRAL_SIMILARITY, 0.0, 1.0)
        style = _finite(settings.style, 0.0, 0.0, 1.0)
        volume_db = _finite(settings.volume_db, 0.0, -60.0, 24.0)
        breathy = bool(settings.breathy)
        target = settings.target_lufs
        if target is not None and not math.isfinite(target):
            target = None
        if target is None and boost:
            target = DEFAULT_TARGET_LUFS
        tilt_db = similarity_tilt_db(similarity)

        self._boost = boost
        self._style = style
        self._breathy = breathy
        self._target_power = None
        if target is not None:
            self._target_power = 10 ** ((min(0.0, target) - _LUFS_OFFSET) / 10)
        self._volume = 10 ** (volume_db / 20)
        active = boost or breathy or style > 0 or volume_db != 0 or tilt_db != 0
        self._identity = not active and self._target_power is None
        self._native: effects_native.State | None = None
        if self._identity:
            return
        fs = self.sample_rate

        # Linear filters on the voice path, one cascade.
        sections: list[np.ndarray] = []
        if boost:
            sections.append(_butter(min(_HIGHPASS_HZ, 0.2 * fs), "highpass", fs))
            sections.append(_peaking(fs, min(_PRESENCE_HZ, 0.375 * fs), _PRESENCE_DB, _PRESENCE_Q))
        if tilt_db != 0:
            sections.append(_shelf(fs, min(_TILT_HZ, 0.25 * fs), tilt_db, high=True))
        if breathy:
            sections.append(_shelf(fs, min(_BREATHY_SHELF_HZ, 0.1 * fs), _BREATHY_SHELF_DB, high=False))
        self._sos = np.vstack(sections) if sections else None
        self._zi = np.zeros((len(self._sos), 2)) if self._sos is not None else None

        # Breathy: a noise vocoder. Each band of the input sets the envelope of the same band of noise.
        if breathy:
            edges = [min(edge, 0.45 * fs) for edge in _BREATHY_BANDS_HZ]
            bands = [(low, high) for low, high in zip(edges, edges[1:], strict=False) if high > 1.2 * low]
            self._band_sos = [_butter(band, "bandpass", fs) for band in bands]
            # Speech and noise go through each band's filter together, as the two rows of one array.
            self._band_zi = [np.zeros((len(sos), 2, 2)) for sos in self._band_sos]
            pole = math.exp(-1.0 / (_BREATHY_ENV_S * fs))
            self._env_b = np.array([1.0 - pole])
            self._env_a = np.array([1.0, -pole])
            self._env_zi = np.zeros((len(bands), 1))
            # Uniform noise on [-1, 1) has RMS 1/sqrt(3); a band keeps (its width / Nyquist) of the power.
            # The envelope is a mean |x|, which for speech-like bands is about 0.75 of the RMS.
            self._noise_gains = np.array(
                [[_BREATHY_NOISE_GAIN / 0.75 * math.sqrt(3.0 * fs / 2 / (high - low))] for low, high in bands]
            )
            self._rng = np.random.Generator(np.random.PCG64(self._seed % 2**64))

        # Frame-rate dynamics: AGC, compressor, style expansion, breathy loudness match.
        self._dynamics = self._target_power is not None or style > 0 or breathy
        self._frame = max(8, round(fs * _FRAME_S))
        if self._dynamics:
            self._kw_sos = np.vstack(
                [
                    # K-weighting, as pyloudnorm designs it for any rate (BS.1770 gives 48 kHz only).
                    _shelf(fs, min(1500.0, 0.25 * fs), 4.0, high=True),
                    _highpass(fs, 38.0, 0.5),
                ]
            )
            self._kw_zi = np.zeros((len(self._kw_sos), 2))
            self._det_pending = np.zeros(self._position % self._frame)  # as if silence came before
            self._ramp = np.arange(1, self._frame + 1, dtype=np.float64) / self._frame
            self._ramp2 = self._ramp * self._ramp
            frames_per_s = fs / self._frame
            self._hop = max(1, round(_HOP_S * frames_per_s))
            self._powers: deque[float] = deque(maxlen=max(1, round(_BLOCK_S * frames_per_s)))
            self._powers_out: deque[float] = deque(maxlen=self._powers.maxlen)
            self._a_slow = 1 - math.exp(-_HOP_S / _LEVEL_WINDOW_S)
            self._a_attack = 1 - math.exp(-1 / (_COMP_ATTACK_S * frames_per_s))
            self._a_release = 1 - math.exp(-1 / (_COMP_RELEASE_S * frames_per_s))
            self._a_style_attack = 1 - math.exp(-1 / (_STYLE_ATTACK_S * frames_per_s))
            self._a_style_release = 1 - math.exp(-1 / (_STYLE_RELEASE_S * frames_per_s))
            self._a_makeup = 1 - math.exp(-1 / (_MAKEUP_RISE_S * frames_per_s))
            self._speech_frames = 0  # frames since speech started
            self._level_in = _GatedLevel(self._a_slow)  # speech before the dynamics
            self._level_out = _GatedLevel(self._a_slow)  # and after compressor and expansion
            self._makeup_db = 0.0
            self._envelope = 0.0  # fast frame envelope (compressor)
            self._recent: deque[float] = deque(maxlen=max(1, round(_PAUSE_HOLD_S * frames_per_s)))
            self._style_env = 0.0
            # The current frame's gain is the product of two ramps, each from one frame's decision to
            # the next: the dynamics (compressor, expansion) and the makeup (AGC) gain.
            self._dyn_ramp = (1.0, 1.0)
            self._makeup_ramp = (1.0, 1.0)
            if breathy:
                # The whisper is matched in loudness to the input over about a second, so it is the
                # AGC or volume_db, not the lost voicing, that decides how loud it is.
                self._ref_zi = np.zeros((len(self._kw_sos), 2))
                self._ref_pending = np.zeros(self._position % self._frame)
                self._powers_ref: deque[float] = deque(maxlen=self._powers.maxlen)
                a_match = 1 - math.exp(-_HOP_S / _BREATHY_MATCH_S)
                self._match_ref = _GatedLevel(a_match)  # the input
                self._match_voice = _GatedLevel(a_match)  # the breathy voice, before the dynamics
        self._frame_pos = self._position % self._frame  # position within the current frame

        # Safety limiter: env[n] = max(ceiling, |y[n]|, env[n-1] * r), gain = ceiling / env.
        pole = math.exp(-1.0 / (_LIMITER_RELEASE_S * fs))
        self._lim_pow, self._lim_pow1, self._lim_inv = _limiter_powers(pole)  # r^j, r^(j+1), r^-j
        self._lim_pos = self._position % _LIMITER_BLOCK
        self._lim_env = CEILING  # envelope at the end of the previous block
        self._lim_max = 0.0  # running max of |y| r^-j within the current block
        if self._lib is not None:
            self._configure_native()

    def _configure_native(self) -> None:
        """The C library's parameters and state, at rest like the Python state :meth:`_configure` made."""
        lib = self._lib
        assert lib is not None
        powers_cap = self._powers.maxlen if self._dynamics else 1
        recent_cap = self._recent.maxlen if self._dynamics else 1
        if self._frame > lib.frame_max or max(powers_cap or 1, recent_cap or 1) > lib.ring_max:
            return  # an extreme sample rate: the Python code has no fixed sizes
        params = effects_native.Params(
            frame=self._frame,
            hop=getattr(self, "_hop", 1),
            powers_cap=powers_cap,
            recent_cap=recent_cap,
            limiter_block=_LIMITER_BLOCK,
            dynamics=self._dynamics,
            boost=self._boost,
            breathy=self._breathy,
            has_target=self._target_power is not None,
            style=self._style,
            target_power=self._target_power or 0.0,
            volume=self._volume,
            slope=_COMP_SLOPE,
            half=_COMP_HALF_KNEE_DB,
            knee=_COMP_KNEE_DB,
            threshold_db=_COMP_THRESHOLD_DB,
            quiet_ratio=_QUIET_RATIO,
            open_ratio=_OPEN_RATIO,
            style_min_db=_STYLE_MIN_DB,
            style_max_db=_STYLE_MAX_DB,
            match_low_db=_BREATHY_MATCH_DB[0],
            match_high_db=_BREATHY_MATCH_DB[1],
            agc_min_db=_AGC_MIN_DB,
            agc_max_db=_AGC_MAX_DB,
            pause_low_db=_PAUSE_DB[0],
            pause_high_db=_PAUSE_DB[1],
            frame_restart=_FRAME_RESTART,
            start_gate=_START_GATE,
            restart=_RESTART,
            abs_gate=_ABS_GATE,
            rel_gate=_REL_GATE,
            ceiling=CEILING,
            lim_pow=self._lim_pow.ctypes.data_as(effects_native.DOUBLE_P),
            lim_pow1=self._lim_pow1.ctypes.data_as(effects_native.DOUBLE_P),
            lim_inv=self._lim_inv.ctypes.data_as(effects_native.DOUBLE_P),
        )
        state = effects_native.State()
        state.lim.pos, state.lim.env, state.lim.max = self._lim_pos, self._lim_env, self._lim_max
        if self._dynamics:
            for name in ("a_attack", "a_release", "a_style_attack", "a_style_release", "a_makeup"):
                setattr(params, name, getattr(self, f"_{name}"))
            for row, section in enumerate(self._kw_sos):
                params.kw_sos[row][:] = section.tolist()
            state.dyn.frame_pos = self._frame_pos
            state.dyn.level_in.alpha = state.dyn.level_out.alpha = self._a_slow
            state.dyn.dyn_a = state.dyn.dyn_b = state.dyn.makeup_a = state.dyn.makeup_b = 1.0
            if self._breathy:
                state.br.match_ref.alpha = self._match_ref.alpha
                state.br.match_voice.alpha = self._match_voice.alpha
        self._params = params
        self._native = state

    @property
    def is_identity(self) -> bool:
        """True when the settings change nothing: :meth:`process` then returns its input unchanged."""
        return self._identity

    def process(self, pcm: bytes) -> bytes:
        """Process the next chunk of s16le mono PCM; returns the same number of (complete) samples."""
        if self._closed:
            raise RuntimeError("process() after flush()")
        data = self._pending + bytes(pcm) if self._pending else bytes(pcm)
        usable = len(data) - (len(data) % 2)
        self._pending = data[usable:]
        self._position += usable // 2
        if self._identity or usable == 0:
            return data[:usable]
        samples = np.frombuffer(data, dtype="<i2", count=usable // 2)
        if self._native is not None and not self._breathy:
            return self._run_native(samples)
        # One pass: scaling by 2**-15 is exact, so this equals ``astype(float64) / _FULL_SCALE``.
        x = np.multiply(samples, 1.0 / _FULL_SCALE, dtype=np.float64)
        if self._native is not None:
            return self._process_native(x)
        y = self._voice(x)
        if self._dynamics:
            y = y * self._frame_gains(x, y)
        if self._volume != 1.0:
            y = y * self._volume
        y = self._limit(y)
        return np.clip(np.rint(y * _FULL_SCALE), -32768, 32767).astype("<i2").tobytes()

    def flush(self) -> bytes:
        """End the stream. Nothing is held back, so this returns ``b""`` (a dangling byte is dropped)."""
        self._closed = True
        self._pending = b""
        return b""

    def _run_native(self, samples: np.ndarray) -> bytes:
        """:meth:`process` for a voice without breath, in one C pass from the s16 samples (the same
        values as the conversion, the voice filters and the tail one after the other)."""
        lib = self._lib
        assert lib is not None and self._native is not None
        pointer = effects_native.DOUBLE_P
        int16_p = ctypes.POINTER(ctypes.c_int16)
        sections = 0 if self._sos is None else len(self._sos)
        if sections and not self._zi.flags.c_contiguous:
            self._zi = np.ascontiguousarray(self._zi)
        out = np.empty(len(samples), dtype="<i2")
        ramps = (self._ramp, self._ramp2) if self._dynamics else (None, None)
        done = lib.run(
            ctypes.byref(self._params),
            ctypes.byref(self._native),
            self._sos.ctypes.data_as(pointer) if sections else None,
            sections,
            self._zi.ctypes.data_as(pointer) if sections else None,
            samples.ctypes.data_as(int16_p),
            *(None if r is None else r.ctypes.data_as(pointer) for r in ramps),
            out.ctypes.data_as(int16_p),
            len(samples),
        )
        if done != 0:  # only a breathy voice or over four sections, which never come here
            raise RuntimeError(f"chorus_fx_run refused {sections} voice filters")
        return out.tobytes()

    def _process_native(self, x: np.ndarray) -> bytes:
        """:meth:`process` after the conversion to float, in C (the breathy noise stays in NumPy)."""
        lib = self._lib
        assert lib is not None and self._native is not None
        pointer = effects_native.DOUBLE_P
        if self._breathy:
            y = self._voice(x)
        else:
            y = x  # filtered in place: without breath, the tail never reads the unfiltered input
            if self._sos is not None:
                if not self._zi.flags.c_contiguous:
                    self._zi = np.ascontiguousarray(self._zi)
                lib.sosfilt(
                    self._sos.ctypes.data_as(pointer),
                    len(self._sos),
                    self._zi.ctypes.data_as(pointer),
                    y.ctypes.data_as(pointer),
                    len(y),
                )
        out = np.empty(len(y), dtype="<i2")
        ramps = (self._ramp, self._ramp2) if self._dynamics else (None, None)
        lib.tail(
            ctypes.byref(self._params),
            ctypes.byref(self._native),
            y.ctypes.data_as(pointer),
            x.ctypes.data_as(pointer) if self._breathy else None,  # read only for a breathy voice
            *(None if r is None else r.ctypes.data_as(pointer) for r in ramps),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)),
            len(y),
        )
        return out.tobytes()

    # --- stages ---------------------------------------------------------------------------------

    def _voice(self, x: np.ndarray) -> np.ndarray:
        """Static filters, then the breathy noise."""
        y = x
        if self._sos is not None:
            y, self._zi = signal.sosfilt(self._sos, x, zi=self._zi)
        if self._breathy and self._band_sos:
            noise = self._rng.random(len(x)) * 2.0 - 1.0
            pair = np.stack([x, noise])
            speech_bands = np.empty((len(self._band_sos), len(x)))
            noise_bands = np.empty_like(speech_bands)
            for i, sos in enumerate(self._band_sos):
                filtered, self._band_zi[i] = signal.sosfilt(sos, pair, axis=-1, zi=self._band_zi[i])
                speech_bands[i], noise_bands[i] = filtered
            envelopes, self._env_zi = signal.lfilter(
                self._env_b, self._env_a, np.abs(speech_bands), axis=-1, zi=self._env_zi
            )
            whisper = (noise_bands * envelopes * self._noise_gains).sum(axis=0)
            y = y * _BREATHY_DRY + whisper
        elif self._breathy:
            y = y * _BREATHY_DRY
        return y

    def _frame_gains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-sample gain from the frame-rate dynamics; decisions on frame k apply from frame k+1.

        ``y`` is the voice so far, ``x`` the input (measured only to match a breathy voice's loudness).
        """
        frame = self._frame
        detector, self._kw_zi = signal.sosfilt(self._kw_sos, y, zi=self._kw_zi)
        reference = None
        if self._breathy:
            reference, self._ref_zi = signal.sosfilt(self._kw_sos, x, zi=self._ref_zi)
        start = self._frame_pos
        total = start + len(y)
        complete = total // frame
        # Frame r of this call ramps from dyn[r] to dyn[r + 1] and from makeup[r] to makeup[r + 1].
        dyn = list(self._dyn_ramp)
        makeup = list(self._makeup_ramp)
        if complete:
            held = np.concatenate([self._det_pending, detector[: complete * frame - start]])
            squares = np.square(held).reshape(complete, frame)
            # Power of each frame before the dynamics, and the moments that give it after them.
            s0 = squares.sum(axis=1)
            s1 = (squares * self._ramp).sum(axis=1)
            s2 = (squares * self._ramp2).sum(axis=1)
            s_ref = None
            if reference is not None:
                held_ref = np.concatenate([self._ref_pending, reference[: complete * frame - start]])
                s_ref = np.square(held_ref).reshape(complete, frame).sum(axis=1)
                self._ref_pending = reference[complete * frame - start :].copy()
            self._decide(s0, s1, s2, s_ref, dyn, makeup)
            self._det_pending = detector[complete * frame - start :].copy()
            self._dyn_ramp = (dyn[-2], dyn[-1])
            self._makeup_ramp = (makeup[-2], makeup[-1])
        else:
            self._det_pending = np.concatenate([self._det_pending, detector])
            if reference is not None:
                self._ref_pending = np.concatenate([self._ref_pending, reference])
        self._frame_pos = total % frame
        # Every frame this call touches, whole, as rows: row k ramps from gain[k] to gain[k + 1].
        ramp = self._ramp[np.newaxis, :]
        dyn_at = np.asarray(dyn)
        makeup_at = np.asarray(makeup)
        dyn_gain = (dyn_at[:-1, np.newaxis] + (dyn_at[1:] - dyn_at[:-1])[:, np.newaxis] * ramp).reshape(-1)
        makeup_gain = (
            makeup_at[:-1, np.newaxis] + (makeup_at[1:] - makeup_at[:-1])[:, np.newaxis] * ramp
        ).reshape(-1)
        return dyn_gain[start:total] * makeup_gain[start:total]

    def _decide(
        self,
        s0: np.ndarray,
        s1: np.ndarray,
        s2: np.ndarray,
        s_ref: np.ndarray | None,
        dyn: list[float],
        makeup: list[float],
    ) -> None:
        """Run the trackers over complete frames; append each frame's decision to ``dyn`` and ``makeup``.

        ``s0`` is each frame's K-weighted energy, ``s1`` and ``s2`` its energy weighted by the frame's
        ramp and squared ramp (which give the power after the dynamics from the ramp's two ends),
        ``s_ref`` the input's energy (breathy only). On entry ``dyn`` and ``makeup`` hold the gains the
        first frame ramps between. For frame r, with its power ``p`` before and ``q`` after the
        dynamics, the trackers are updated (compressor and style envelopes; the last 60 ms; the 400 ms
        blocks and, every 100 ms of speech, the gated levels) and the next frame's dynamics gain
        (compressor, expansion, breathy match) and makeup gain (AGC, rising smoothly, falling at once,
        none in pauses) decided.

        One frame at a time by nature, so this is the hot loop of the chain. It computes exactly what
        the plain per-frame formulas give, only cheaper: state lives in locals, what depends on the
        input alone (the pause gate's 60 ms maximum) is computed for all frames beforehand, what only
        changes with the levels (the AGC's wanted gain) once per level update, and a logarithm whose
        result cannot matter (the compressor well under its knee, the pause gate fully open) is not
        taken: those tests leave a margin of 1e-6 around the thresholds, far more than rounding moves.
        """
        frame = self._frame
        count = len(s0)
        powers = (s0 / frame).tolist()
        s0_list, s1_list, s2_list = s0.tolist(), s1.tolist(), s2.tolist()
        refs = (s_ref / frame).tolist() if s_ref is not None else None
        # The loudest of the last 60 ms of frames (this one included), for the pause gate.
        recent = self._recent
        window = recent.maxlen or 1
        history = list(recent)[len(recent) - min(len(recent), window - 1) :]
        padded = np.concatenate([np.full(window - 1 - len(history), -np.inf), history, s0 / frame])
        loudest = np.lib.stride_tricks.sliding_window_view(padded, window).max(axis=1).tolist()
        recent.extend(powers)

        boost, style, breathy = self._boost, self._style, self._breathy
        envelope, style_env = self._envelope, self._style_env
        a_attack, a_release = self._a_attack, self._a_release
        a_style_attack, a_style_release = self._a_style_attack, self._a_style_release
        a_makeup = self._a_makeup
        target_power = self._target_power
        level_in, level_out = self._level_in, self._level_out
        speech_frames, makeup_db, hop = self._speech_frames, self._makeup_db, self._hop
        keep_power, keep_after = self._powers.append, self._powers_out.append
        keep_ref = self._powers_ref.append if breathy else None
        log10 = math.log10
        slope, half = _COMP_SLOPE, _COMP_HALF_KNEE_DB
        pause_low, pause_high = _PAUSE_DB
        quiet_ratio, open_ratio = _QUIET_RATIO, _OPEN_RATIO
        wanted_target = wanted_level = -1.0  # the target and level the AGC's wanted gain was computed for
        wanted_db = 0.0
        last_dynamic_db, last_dyn = 0.0, 1.0  # 10 ** (0 / 20)
        last_applied_db, last_makeup = 0.0, 1.0
        a, b = dyn[-2], dyn[-1]
        for r in range(count):
            power = powers[r]
            keep_power(power)
            if a == 1.0 and b == 1.0:
                keep_after(power)  # the formula below, with no gain change: exactly s0 / frame
            else:
                step = b - a
                keep_after(
                    (a * a * s0_list[r] + 2 * a * step * s1_list[r] + step * step * s2_list[r]) / frame
                )
            if boost:
                if power > envelope:
                    envelope += a_attack * (power - envelope)
                else:
                    envelope += a_release * (power - envelope)
            if style > 0:
                if power > style_env:
                    style_env += a_style_attack * (power - style_env)
                else:
                    style_env += a_style_release * (power - style_env)
            if keep_ref is not None and refs is not None:
                keep_ref(refs[r])
            level = level_in.level
            if level and power > level * _FRAME_RESTART:
                # Speech after a noisy lead-in, or a sudden shout: measure afresh, from unity gain.
                self._reset_levels()
                speech_frames = 0
                if makeup_db > 0.0:
                    makeup_db = 0.0
            if speech_frames or power > _START_GATE:
                speech_frames += 1
                if speech_frames % hop == 0:
                    self._speech_frames = speech_frames
                    self._update_level()
            level = level_in.level
            level_after = level_out.level
            if not (level and level_after):
                a, b = b, 1.0
                dyn.append(1.0)
                makeup.append(1.0)
                continue
            dynamic_db = 0.0
            if boost:
                floor = level * 1e-10
                ratio = (floor if floor > envelope else envelope) / level
                if ratio <= quiet_ratio:
                    dynamic_db += 0.0
                else:
                    over = 10 * log10(ratio) - _COMP_THRESHOLD_DB
                    if over <= -half:
                        dynamic_db += 0.0
                    elif over < half:
                        dynamic_db += -slope * (over + half) ** 2 / (2 * _COMP_KNEE_DB)
                    else:
                        dynamic_db += -slope * over
            if style > 0:
                floor = level * 1e-6
                swing = 10 * log10((floor if floor > style_env else style_env) / level)
                dynamic_db += min(_STYLE_MAX_DB, max(_STYLE_MIN_DB, style * swing))
            target = target_power if target_power is not None else level
            if breathy and self._match_ref.level and self._match_voice.level:
                low, high = _BREATHY_MATCH_DB
                match_db = 10 * log10(self._match_ref.level / self._match_voice.level)
                match_db = min(high, max(low, match_db))
                dynamic_db += match_db
                if target_power is None:
                    target = level * 10 ** (match_db / 10)
            if target != wanted_target or level_after != wanted_level:
                wanted_target, wanted_level = target, level_after
                wanted_db = min(_AGC_MAX_DB, max(_AGC_MIN_DB, 10 * log10(target / level_after)))
            if wanted_db < makeup_db:
                makeup_db = wanted_db
            else:
                makeup_db += a_makeup * (wanted_db - makeup_db)
            applied_db = makeup_db
            if applied_db > 0:  # pauses are not boosted: no noise pumped up between words
                floor = level * 1e-10
                loud = loudest[r]
                ratio = (floor if floor > loud else loud) / level
                if ratio < open_ratio:
                    recent_db = 10 * log10(ratio)
                    applied_db *= min(1.0, max(0.0, (recent_db - pause_low) / (pause_high - pause_low)))
            if dynamic_db != last_dynamic_db:
                last_dynamic_db, last_dyn = dynamic_db, 10 ** (dynamic_db / 20)
            if applied_db != last_applied_db:
                last_applied_db, last_makeup = applied_db, 10 ** (applied_db / 20)
            a, b = b, last_dyn
            dyn.append(last_dyn)
            makeup.append(last_makeup)
        self._envelope, self._style_env = envelope, style_env
        self._speech_frames, self._makeup_db = speech_frames, makeup_db

    def _update_level(self) -> None:
        """Fold the latest block (400 ms, or the speech so far if shorter) into the running levels."""
        count = min(len(self._powers), self._speech_frames)
        block = math.fsum(itertools.islice(reversed(self._powers), count)) / count
        block_out = math.fsum(itertools.islice(reversed(self._powers_out), count)) / count
        if self._level_in.blocks and block > self._level_in.ungated * _RESTART:
            self._reset_levels()
        self._level_in.add(block)
        self._level_out.add(block_out)
        if self._breathy:
            # The same frames of the input and of the breathy voice (a whisper can begin mid-block).
            count = min(count, len(self._powers_ref))
            self._match_ref.add(math.fsum(itertools.islice(reversed(self._powers_ref), count)) / count)
            self._match_voice.add(math.fsum(itertools.islice(reversed(self._powers), count)) / count)

    def _reset_levels(self) -> None:
        for level in (self._level_in, self._level_out):
            level.reset()
        if self._breathy:
            self._match_ref.reset()
            self._match_voice.reset()

    def _limit(self, y: np.ndarray) -> np.ndarray:
        """Instant-attack peak limiter at :data:`CEILING`, in blocks aligned to absolute positions."""
        out = np.empty_like(y)
        done = 0
        while done < len(y):
            j0 = self._lim_pos
            j1 = min(_LIMITER_BLOCK, j0 + len(y) - done)
            piece = y[done : done + j1 - j0]
            magnitude = np.abs(piece)
            if (
                self._lim_env == CEILING
                and float(magnitude.max()) * _UNDER_CEILING < CEILING
                and self._lim_max * self._lim_pow[j0] * _UNDER_CEILING < CEILING
            ):
                # Nothing here reaches the ceiling and nothing before it still holds the gain down: the
                # envelope below is CEILING throughout, so the gain is exactly 1. Only the state moves on.
                out[done : done + j1 - j0] = piece
                self._lim_max = max(self._lim_max, float((magnitude * self._lim_inv[j0:j1]).max()))
                if j1 == _LIMITER_BLOCK:
                    self._lim_max = 0.0
                    self._lim_pos = 0
                else:
                    self._lim_pos = j1
                done += j1 - j0
                continue
            running = np.maximum.accumulate(magnitude * self._lim_inv[j0:j1])
            running = np.maximum(running, self._lim_max)
            envelope = np.maximum(running * self._lim_pow[j0:j1], self._lim_env * self._lim_pow1[j0:j1])
            envelope = np.maximum(envelope, CEILING)
            out[done : done + j1 - j0] = piece * (CEILING / envelope)
            self._lim_max = float(running[-1])
            if j1 == _LIMITER_BLOCK:
                self._lim_env = float(envelope[-1])
                self._lim_max = 0.0
                self._lim_pos = 0
            else:
                self._lim_pos = j1
            done += j1 - j0
        return out


# --- helpers -----------------------------------------------------------------------------------


# A chain is built per request (and per prosody change): the designs it uses are computed once per rate.
def _butter(cutoff: float | tuple[float, float], btype: str, fs: int) -> np.ndarray:
    """A 2nd-order Butterworth design as second-order sections (a copy: sosfilt wants it writable)."""
    return _butter_design(cutoff, btype, fs).copy()


@functools.lru_cache(maxsize=64)
def _butter_design(cutoff: float | tuple[float, float], btype: str, fs: int) -> np.ndarray:
    return signal.butter(2, cutoff, btype, fs=fs, output="sos")  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=16)
def _limiter_powers(pole: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``r^j``, ``r^(j+1)`` and ``r^-j`` over one limiter block (read-only, shared)."""
    index = np.arange(_LIMITER_BLOCK, dtype=np.float64)
    powers = (pole**index, pole ** (index + 1), pole**-index)
    for array in powers:
        array.flags.writeable = False
    return powers


class _GatedLevel:
    """A running BS.1770-style level: the mean power of 400 ms blocks, gated, over about 3 s.

    Blocks under -70 LUFS are ignored and the relative gate (-10 dB) is taken from the running mean of
    all the blocks over the absolute gate. The first blocks are averaged equally, later ones
    exponentially.
    """

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.reset()

    def reset(self) -> None:
        self.blocks = 0  # blocks over the absolute gate
        self.ungated = 0.0  # their running mean power
        self.gated_blocks = 0  # blocks over both gates
        self.level = 0.0  # their running mean power: the level; 0 until known

    def add(self, block: float) -> None:
        if block <= _ABS_GATE:
            return
        self.blocks += 1
        self.ungated += max(self.alpha, 1.0 / self.blocks) * (block - self.ungated)
        if block <= self.ungated * _REL_GATE:
            return
        self.gated_blocks += 1
        self.level += max(self.alpha, 1.0 / self.gated_blocks) * (block - self.level)


def similarity_tilt_db(similarity: float) -> float:
    """The clarity shelf's gain (dB above ~2 kHz) for a ``similarity_boost`` value."""
    s = min(1.0, max(0.0, similarity))
    if s < NEUTRAL_SIMILARITY:
        return _TILT_MIN_DB * (NEUTRAL_SIMILARITY - s) / NEUTRAL_SIMILARITY
    return _TILT_MAX_DB * (s - NEUTRAL_SIMILARITY) / (1 - NEUTRAL_SIMILARITY)


def _finite(value: float, default: float, low: float, high: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        return default
    return min(high, max(low, value))


def _peaking(fs: int, f0: float, gain_db: float, q: float) -> np.ndarray:
    """RBJ peaking EQ as one second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / fs
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    b = [1 + alpha * a, -2 * cos, 1 - alpha * a]
    den = [1 + alpha / a, -2 * cos, 1 - alpha / a]
    return np.array([[*(v / den[0] for v in b), 1.0, den[1] / den[0], den[2] / den[0]]])


def _highpass(fs: int, f0: float, q: float) -> np.ndarray:
    """RBJ second-order high-pass as one section."""
    w0 = 2 * math.pi * f0 / fs
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
    den = [1 + alpha, -2 * cos, 1 - alpha]
    return np.array([[*(v / den[0] for v in b), 1.0, den[1] / den[0], den[2] / den[0]]])


def _shelf(fs: int, f0: float, gain_db: float, *, high: bool, slope: float = 1.0) -> np.ndarray:
    """RBJ low or high shelf as one second-order section (``slope`` 1 = steepest without overshoot)."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / fs
    cos = math.cos(w0)
    alpha = math.sin(w0) / 2 * math.sqrt((a + 1 / a) * (1 / slope - 1) + 2)
    root = 2 * math.sqrt(a) * alpha
    sign = 1 if high else -1
    b = [
        a * ((a + 1) + sign * (a - 1) * cos + root),
        -2 * sign * a * ((a - 1) + sign * (a + 1) * cos),
        a * ((a + 1) + sign * (a - 1) * cos - root),
    ]
    den = [
        (a + 1) - sign * (a - 1) * cos + root,
        2 * sign * ((a - 1) - sign * (a + 1) * cos),
        (a + 1) - sign * (a - 1) * cos - root,
    ]
    return np.array([[*(v / den[0] for v in b), 1.0, den[1] / den[0], den[2] / den[0]]])
