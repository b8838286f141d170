"""Speech isolation: mains hum removal, then VAD-guided spectral noise suppression, block by block.

Every stage is streaming; a whole clip is one stream fed in pieces (:func:`isolate`), so ``/stream`` and the
whole-file route run the same code. Parameters were chosen by SI-SDR on LibriSpeech clips of seven speakers
mixed at 0 dB SNR with white noise, pink noise and hum; other speakers are held out for the tests and the
benchmark (bench/isolation.py, docs/BENCHMARKS.md "Audio isolation").

1. **Hum** (:class:`HumRemover`). Mains hum is a set of stationary sinusoids at multiples of a fundamental
   near 50 or 60 Hz. :func:`detect_hum` finds it in a high-resolution spectrum of up to ``hum_window_s`` of
   audio (a stationary sinusoid piles its energy into one bin while speech spreads): a harmonic-sum search
   over f0 in 50 or 60 Hz +-0.5 Hz, 0.01 then 0.001 Hz steps, accepted when three harmonics stand
   ``hum_detect_db`` above the median spectrum around them (or one twice that); it is re-run every
   ``hum_update_s`` on the audio around the current block. The hum is then *subtracted*, not notched: each
   Hann block of ``hum_block_s`` is projected on every harmonic of f0 up to ``hum_max_hz``, giving one phasor
   per harmonic referenced to absolute time, so a stationary hum gives the same phasor in every block. A
   block's hum is the mean of its neighbours' phasors (turned back by each harmonic's measured rotation per
   block, which absorbs an f0 slightly off), weighted by how well they agree: speech at a harmonic's
   frequency changes from block to block and averages out, hum does not. Measured: projecting each block
   on its own took speech out with the hum (speech SI-SDR 13.5-18 dB after the hum stage); averaging over
   11 blocks with the agreement weight left 19-26 dB, and a stationary hum is removed to -128 dB.
2. **Noise** (:class:`NoiseSuppressor`). STFT with square-root Hann windows of about ``frame_ms`` (a power of
   two: 512 samples at 16 kHz), 50 % overlap. The noise spectrum is the mean of the frames Silero VAD calls
   non-speech (probability below ``vad_noise_threshold`` for ``vad_hangover_ms`` either side), at first
   over the whole priming audio, then a recursive mean (``noise_smoothing``). Until ``noise_min_s`` of such
   frames has been heard, without a VAD, or after ``noise_stale_s`` without a pause, it is quantile tracking
   instead: the ``noise_quantile`` of each bin's power over the last ``quantile_window_s``, divided by that
   quantile of a unit exponential variable (a noise bin's power). On the tuning clips the VAD profile was as
   good as the true noise spectrum; quantile tracking loses about 0.7 dB on white noise and 3 dB on pink.
   The gain is the two-step noise reduction of Plapous et al. (2006): the decision-directed a-priori SNR
   (Ephraim-Malah, ``dd_alpha``) gives a Wiener gain, which re-estimates the a-priori SNR for a second Wiener
   gain. It beat the plain decision-directed Wiener gain by 0.5-0.6 dB and log-spectral amplitude (MMSE-LSA)
   by about 1 dB; the smoothing in the decision-directed estimate is what keeps musical noise down. The gain
   is floored at ``gain_floor_db``; frames the VAD calls non-speech get ``nonspeech_gain_db`` more, which
   makes pauses quiet rather than just less noisy.

Priming: nothing leaves until ``prime_s`` of audio (or the whole input, if shorter) has arrived, so the first
hum and noise estimates see some audio. A stream then runs about 1 s behind its input (hum: one block plus
``hum_future_blocks`` hops; noise: one frame and the VAD look-ahead); its first output needs about 2 s of
input. :func:`isolate` primes on up to ``BATCH_PRIME_S`` seconds.

Input and output are float32 mono in [-1, 1] at the caller's rate (4-48 kHz; the VAD and the hum detector
see a 16 kHz copy). Music is not specifically removed: in pauses it is learnt as noise and attenuated, which
gains about 3.5 dB on synthetic chords at 0 dB.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

__all__ = [
    "BATCH_PRIME_S",
    "STREAM_PRIME_S",
    "HumProfile",
    "HumRemover",
    "IsolationParams",
    "IsolationStream",
    "NoiseSuppressor",
    "SpeechDetector",
    "detect_hum",
    "isolate",
    "si_sdr",
]

VAD_RATE = 16_000
VAD_WINDOW = 512  # Silero's window at 16 kHz (32 ms)
BATCH_PRIME_S = 30.0
STREAM_PRIME_S = 1.0
FEED_S = 10.0


class SpeechDetector(Protocol):
    """What the suppressor needs from a VAD (``chorus.stt.vad.SileroVAD`` fits)."""

    def probabilities(self, audio: np.ndarray, state: Any = None) -> np.ndarray: ...


@dataclass(frozen=True)
class IsolationParams:
    """The knobs, with the values chosen by measurement (see docs/BENCHMARKS.md, "Audio isolation")."""

    # Hum.
    hum: bool = True
    hum_block_s: float = 0.5
    hum_max_hz: float = 4000.0  # highest harmonic subtracted
    hum_detect_max_hz: float = 1000.0  # harmonics used to find the fundamental
    hum_detect_db: float = 12.0  # the hum exists if 3 harmonics (or one at 2x this) stand this far out
    hum_harmonic_db: float = 8.0  # harmonics listed in the detected HumProfile (a report only)
    hum_past_blocks: int = 8  # phasor averaging window (see HumRemover); 4-16 measured within 0.3 dB
    hum_future_blocks: int = 2
    hum_min_blocks: int = 6  # at the very start, wait for this many blocks to average
    hum_coherence: float = 0.6  # agreement (|mean phasor| / mean |phasor|) below which nothing is taken ...
    hum_chance: float = 4.0  # ... nor below sqrt(hum_chance / blocks) (n random phasors: 1/sqrt(n))
    hum_ramp: float = 2.0  # the weight rises from 0 to 1 over the first 1/hum_ramp of the rest
    hum_window_s: float = 8.0  # audio analysed per detection
    hum_update_s: float = 2.0
    # Noise.
    frame_ms: float = 32.0  # 16 ms did as well on white noise, worse on pink; 64 ms was worse on both
    vad_noise_threshold: float = 0.5  # 0.2: the worst pink clip 1.4 dB worse (its profile came out 2 dB low)
    vad_hangover_ms: float = 100.0
    noise_smoothing: float = 0.96  # per hop: the recursive mean's memory
    noise_stale_s: float = 10.0  # after this long without a pause the quantile estimate takes over
    noise_quantile: float = 0.3
    noise_min_s: float = 0.15  # non-speech frames needed before the VAD's noise estimate is used
    quantile_window_s: float = 3.0
    dd_alpha: float = 0.96  # 0.92-0.98 within 0.7 dB; lower is a little better on white, worse on pink
    xi_min_db: float = -25.0
    gain_rule: Literal["tsnr", "wiener", "lsa"] = "tsnr"  # alternatives kept for measurement
    gain_floor_db: float = -25.0
    nonspeech_gain_db: float = -10.0
    # Priming (see the module docstring).
    prime_s: float = STREAM_PRIME_S


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019), zero-mean signals."""
    est = np.asarray(estimate, np.float64) - np.mean(estimate)
    ref = np.asarray(reference, np.float64) - np.mean(reference)

    def dot(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.einsum("n,n->", a, b))  # not BLAS (see HumRemover.set_fundamental)

    target = dot(est, ref) / max(dot(ref, ref), 1e-20) * ref
    error = est - target
    return 10 * math.log10(max(dot(target, target), 1e-20) / max(dot(error, error), 1e-20))


# --- hum ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HumProfile:
    """A mains hum: fundamental ``f0`` (Hz) and the harmonic numbers present."""

    f0: float
    harmonics: tuple[int, ...]


def detect_hum(audio: np.ndarray, rate: int, params: IsolationParams | None = None) -> HumProfile | None:
    """The mains hum in float ``audio`` at ``rate``, or None when there is none (see the module docstring)."""
    params = params or IsolationParams()
    x = np.asarray(audio, np.float64).reshape(-1)
    if x.size < rate // 4 or not np.any(x):
        return None
    # At least 0.1 Hz per bin so the f0 grid and high harmonics are resolved even for short windows.
    nfft = 1 << max(math.ceil(math.log2(x.size)), math.ceil(math.log2(rate / 0.1)))
    power = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(x.size), nfft)) ** 2
    bin_hz = rate / nfft
    nyquist = rate / 2 - 50.0
    best: tuple[float, float, np.ndarray, np.ndarray] | None = None
    for nominal in (50.0, 60.0):
        count = int(min(params.hum_max_hz, nyquist) // (nominal + 0.5))
        if count < 1:
            continue
        ks = np.arange(1, count + 1)
        floors = _local_floor(power, ks * nominal, bin_hz)
        detect = ks[ks * nominal <= params.hum_detect_max_hz]
        grid = nominal + np.arange(-0.5, 0.5001, 0.01)
        bins = np.arange(power.size)
        peaks = np.interp(grid[:, None] * detect[None, :] / bin_hz, bins, power)
        prominence = 10 * np.log10(np.maximum(peaks, 1e-30) / floors[: detect.size])
        score = np.sum(np.clip(prominence, 0.0, 40.0), axis=1)
        index = int(np.argmax(score))
        f0 = float(grid[index])
        # Refine around the best grid point with a finer step.
        fine = f0 + np.arange(-0.01, 0.01001, 0.001)
        fine_peaks = np.interp(fine[:, None] * detect[None, :] / bin_hz, bins, power)
        fine_prom = 10 * np.log10(np.maximum(fine_peaks, 1e-30) / floors[: detect.size])
        f0 = float(fine[int(np.argmax(np.sum(np.clip(fine_prom, 0.0, 40.0), axis=1)))])
        all_peaks = _peak_power(power, ks * f0, bin_hz)
        all_prom = 10 * np.log10(np.maximum(all_peaks, 1e-30) / floors)
        if best is None or float(np.sum(np.clip(all_prom, 0, 40))) > best[1]:
            best = (f0, float(np.sum(np.clip(all_prom, 0, 40))), ks, all_prom)
    if best is None:
        return None
    f0, _, ks, prominence = best
    strong = int(np.sum(prominence >= params.hum_detect_db))
    if strong < 3 and not np.any(prominence >= 2 * params.hum_detect_db):
        return None
    present = tuple(int(k) for k, p in zip(ks, prominence, strict=True) if p >= params.hum_harmonic_db)
    return HumProfile(f0, present) if present else None


def _peak_power(power: np.ndarray, freqs: np.ndarray, bin_hz: float) -> np.ndarray:
    """The largest power within +-1 bin of each frequency (the Hann main lobe's top)."""
    centre = np.rint(freqs / bin_hz).astype(int)
    around = np.clip(centre[:, None] + np.arange(-1, 2)[None, :], 0, power.size - 1)
    return np.max(power[around], axis=1)


def _local_floor(power: np.ndarray, freqs: np.ndarray, bin_hz: float) -> np.ndarray:
    """Median power 3-20 Hz either side of each frequency: the background a harmonic must stand above."""
    near, far = max(1, int(3 / bin_hz)), max(2, int(20 / bin_hz))
    offsets = np.concatenate([np.arange(-far, -near), np.arange(near + 1, far + 1)])
    centre = np.rint(freqs / bin_hz).astype(int)
    around = np.clip(centre[:, None] + offsets[None, :], 0, power.size - 1)
    return np.maximum(np.median(power[around], axis=1), 1e-30)


class HumRemover:
    """Streaming hum subtraction in Hann blocks (see the module docstring).

    Each block's phasor for every harmonic of ``f0`` up to ``hum_max_hz`` is measured (referenced to absolute
    time, so a stationary hum gives the same phasor in every block). A block's hum is the mean of the
    phasors of the blocks around it (``hum_past_blocks`` before, ``hum_future_blocks`` after), each turned
    back by the harmonic's measured rotation per block (which absorbs an f0 a little off), and only as far
    as those phasors agree: speech at a harmonic's frequency changes from block to block and averages out,
    hum does not. Delay: one block plus ``hum_future_blocks`` hops.
    """

    def __init__(self, rate: int, params: IsolationParams) -> None:
        self.rate = rate
        self.params = params
        half = max(64, int(round(params.hum_block_s * rate / 2)))
        self.block = 2 * half
        self.hop = half
        self.window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.block) / self.block)  # periodic Hann
        self._norm = 2.0 / float(np.sum(self.window))
        self.f0: float | None = None
        self._basis: np.ndarray | None = None  # [cos, sin] x harmonics x block, float32
        self._omegas = np.zeros(0)  # rad/sample of each harmonic
        self._in = np.zeros(0)
        self._origin = 0  # absolute index of self._in[0]; block 0 starts half a block before the input
        # block -> (f0, phasors, whether the block lies wholly inside the input)
        self._measured: dict[int, tuple[float | None, np.ndarray, bool]] = {}
        self._next_measure = 0
        self._next_output = 0
        self._acc = np.zeros(self.block)  # overlap-add of the hum estimate, from the next output block on
        self._final_blocks: int | None = None
        self._end: int | None = None

    def block_start(self, index: int) -> int:
        """Absolute input index where block ``index`` starts."""
        return index * self.hop - self.hop

    @property
    def next_measure_start(self) -> int:
        return self.block_start(self._next_measure)

    def set_fundamental(self, f0: float | None) -> None:
        """The hum's fundamental for blocks measured from now on (None: no hum)."""
        if f0 is None and self.f0 is None:
            return
        if f0 is not None and self.f0 is not None and abs(f0 - self.f0) <= 0.05:
            return  # the per-harmonic rotation follows a drift this small
        self.f0 = f0
        if f0 is None:
            self._basis, self._omegas = None, np.zeros(0)
            return
        top = min(self.params.hum_max_hz, self.rate / 2 - 50)
        harmonics = np.arange(1, int(top // f0) + 1, dtype=np.float64)
        self._omegas = 2 * np.pi * f0 * harmonics / self.rate
        # Phases reduced in float64, then float32 (single precision is plenty for a hum estimate and twice
        # as fast). einsum rather than BLAS throughout: OpenBLAS threads contend badly with the server's
        # other work (a 24000-sample np.dot took 20 ms on a loaded 2-core machine).
        phases = np.mod(self._omegas[:, None] * np.arange(self.block)[None, :], 2 * np.pi).astype(np.float32)
        self._basis = np.empty((2, *phases.shape), np.float32)
        np.cos(phases, out=self._basis[0])
        np.sin(phases, out=self._basis[1])

    def process(self, samples: np.ndarray, final: bool = False) -> np.ndarray:
        """Feed input; returns the hum-free samples that became final (``final``: the input has ended)."""
        if samples.size:
            self._in = np.concatenate([self._in, samples.astype(np.float64)])
        if final and self._end is None:
            self._end = end = self._origin + self._in.size
            # The blocks that start before the end give the output up to it; pad the last one with zeros.
            self._final_blocks = (end + self.hop - 1) // self.hop + 1 if end > 0 else 0
            need = self.block_start(self._final_blocks - 1) + self.block - end
            if need > 0:
                self._in = np.concatenate([self._in, np.zeros(need)])
        while self._final_blocks is None or self._next_measure < self._final_blocks:
            start = self.block_start(self._next_measure)
            if start + self.block > self._origin + self._in.size:
                break
            lo = max(0, -start)
            hi = self.block if self._end is None else min(self.block, self._end - start)
            phasors = self._measure(self._slice(start), lo, hi)
            self._measured[self._next_measure] = (self.f0, phasors, lo == 0 and hi == self.block)
            self._next_measure += 1
        out: list[np.ndarray] = []
        while self._next_output < self._next_measure and self._can_output(self._next_output):
            index = self._next_output
            start = self.block_start(index)
            self._acc += self.window * self._reconstruct(index)
            done = self._slice(start)[: self.hop] - self._acc[: self.hop]
            lo = max(0, -start)
            hi = self.hop if self._end is None else max(lo, min(self.hop, self._end - start))
            out.append(done[lo:hi])
            self._acc = np.concatenate([self._acc[self.hop :], np.zeros(self.hop)])
            self._next_output += 1
            self._measured.pop(index - self.params.hum_past_blocks - 1, None)
        # Drop input no block needs any more.
        keep_from = min(self.block_start(self._next_output), self.block_start(self._next_measure))
        if keep_from > self._origin:
            self._in = self._in[keep_from - self._origin :]
            self._origin = keep_from
        return np.concatenate(out) if out else np.zeros(0)

    def _slice(self, start: int) -> np.ndarray:
        """One block of input from absolute index ``start`` (zeros before the first sample)."""
        lo = start - self._origin
        if lo >= 0:
            return self._in[lo : lo + self.block]
        return np.concatenate([np.zeros(min(-lo, self.block)), self._in[: max(0, self.block + lo)]])

    def _can_output(self, index: int) -> bool:
        if self._final_blocks is not None and self._next_measure >= self._final_blocks:
            return True
        wanted = max(index + self.params.hum_future_blocks, self.params.hum_min_blocks - 1)
        return self._next_measure > wanted

    def _measure(self, block: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Each harmonic's phasor in ``block`` (real input in ``[lo, hi)``), referenced to absolute time."""
        if self._basis is None or hi <= lo:
            return np.zeros(self._omegas.size, np.complex128)
        weighted = (block * self.window).astype(np.float32)
        # Normalised by the window over the real input, so a block cut by either end is not biased low.
        norm = self._norm if hi - lo == self.block else 2.0 / max(float(np.sum(self.window[lo:hi])), 1e-9)
        cos_sin = np.einsum("ckn,n->ck", self._basis, weighted).astype(np.float64) * norm
        start = self.block_start(self._next_measure)
        return (cos_sin[0] - 1j * cos_sin[1]) * np.exp(-1j * np.mod(self._omegas * start, 2 * np.pi))

    def _reconstruct(self, index: int) -> np.ndarray:
        f0 = self._measured[index][0]
        if f0 is None or self._basis is None or f0 != self.f0:
            # A fundamental replaced since this block was measured: its basis is gone; rare and brief.
            return np.zeros(self.block)
        params = self.params
        offsets = [
            m
            for m in range(index - params.hum_past_blocks, self._next_measure)
            if m in self._measured and self._measured[m][0] == f0
        ]
        future = max(params.hum_future_blocks, params.hum_min_blocks - 1 - (index - offsets[0]))
        offsets = [m for m in offsets if m <= index + future]
        whole = [m for m in offsets if self._measured[m][2]]
        offsets = whole or offsets  # blocks cut by the input's ends measure less reliably
        phasors = np.stack([self._measured[m][1] for m in offsets])
        steps = np.asarray(offsets, np.float64) - index
        consecutive = [i for i in range(len(offsets) - 1) if offsets[i + 1] == offsets[i] + 1]
        if consecutive:
            turn = np.sum(phasors[[i + 1 for i in consecutive]] * np.conj(phasors[consecutive]), axis=0)
            rotation = np.angle(turn)
        else:
            rotation = np.zeros(phasors.shape[1])
        aligned = phasors * np.exp(-1j * rotation[None, :] * steps[:, None])
        mean = np.mean(aligned, axis=0)
        coherence = np.abs(mean) / np.maximum(np.mean(np.abs(aligned), axis=0), 1e-30)
        # n random phasors have a coherence of about 1/sqrt(n); demand clearly more before subtracting.
        low = max(params.hum_coherence, math.sqrt(params.hum_chance / len(offsets)))
        weight = np.clip((coherence - low) / max(1e-6, 1.0 - low) * params.hum_ramp, 0.0, 1.0)
        phasor = mean * weight * np.exp(1j * np.mod(self._omegas * self.block_start(index), 2 * np.pi))
        coefficients = np.stack([phasor.real, -phasor.imag]).astype(np.float32)
        return np.einsum("ck,ckn->n", coefficients, self._basis).astype(np.float64)


# --- noise -------------------------------------------------------------------------------------------


class NoiseSuppressor:
    """Streaming STFT noise suppression (see the module docstring); delay: one frame."""

    def __init__(self, rate: int, params: IsolationParams) -> None:
        self.rate = rate
        self.params = params
        self.n_fft = 1 << max(6, round(math.log2(params.frame_ms / 1000 * rate)))
        self.hop = self.n_fft // 2
        self.window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n_fft) / self.n_fft))
        bins = self.n_fft // 2 + 1
        self._in = np.zeros(self.n_fft - self.hop)  # pre-roll: the first samples get two frames too
        self._ola = np.zeros(self.n_fft)
        self._noise: np.ndarray | None = None  # VAD-driven estimate
        self._quantile_noise: np.ndarray | None = None
        self._history = np.zeros((max(4, round(params.quantile_window_s * rate / self.hop)), bins))
        self._history_count = 0
        self._quantile_at = -1  # history count when the quantile estimate was last computed
        self._since_quiet = 0  # frames since the VAD last called one non-speech
        self._quiet_sum: np.ndarray | None = None
        self._quiet_count = 0
        self._min_quiet = max(1, round(params.noise_min_s * rate / self.hop))
        self._stale = params.noise_stale_s * rate / self.hop
        self._gain_prev = np.ones(bins)
        self._gamma_prev = np.ones(bins)
        self._alpha = params.dd_alpha
        self._beta = params.noise_smoothing
        self._xi_min = 10 ** (params.xi_min_db / 10)
        self._floor = 10 ** (params.gain_floor_db / 20)
        self._nonspeech = 10 ** (params.nonspeech_gain_db / 20)
        # -ln(1 - q): the q-quantile of an exponential variable with unit mean (a noise bin's power).
        self._quantile_bias = -math.log(1 - params.noise_quantile)

    @property
    def has_vad_profile(self) -> bool:
        """Whether enough non-speech frames were heard for the VAD-driven noise estimate."""
        return self._noise is not None

    def frame_centre(self, index: int) -> int:
        """Absolute sample index at the centre of frame ``index``."""
        return index * self.hop - (self.n_fft - self.hop) + self.n_fft // 2

    def spectra(self, samples: np.ndarray, final: bool = False) -> list[np.ndarray]:
        """Feed hum-free samples; returns the spectra of the frames that became complete."""
        if samples.size:
            self._in = np.concatenate([self._in, samples.astype(np.float64)])
        if final:
            pad = (-(self._in.size - (self.n_fft - self.hop))) % self.hop + (self.n_fft - self.hop)
            self._in = np.concatenate([self._in, np.zeros(pad)])
        out = []
        while self._in.size >= self.n_fft:
            out.append(np.fft.rfft(self._in[: self.n_fft] * self.window))
            self._in = self._in[self.hop :]
        return out

    def prime(self, spectra: list[np.ndarray], speech: list[float | None], whole: list[bool]) -> None:
        """Start from the mean of the non-speech frames in the priming audio (these frames are then
        processed as usual, so the recursive estimate moves on from there)."""
        threshold = self.params.vad_noise_threshold
        quiet = [
            np.abs(spectrum) ** 2
            for spectrum, p, inside in zip(spectra, speech, whole, strict=True)
            if inside and p is not None and p < threshold
        ]
        if len(quiet) >= self._min_quiet:
            self._noise = np.mean(quiet, axis=0)
            self._quiet_count = self._min_quiet
        # The quantile tracker starts from the first quantile window of the audio ahead rather than
        # from a handful of frames (those frames come round again as they are processed).
        for spectrum, inside in zip(spectra[: self._history.shape[0]], whole, strict=False):
            if inside:
                self._remember(np.abs(spectrum) ** 2)

    def _learn(self, power: np.ndarray, speech: float | None, whole: bool) -> bool:
        """Update the estimates with one frame's power; returns whether the VAD called it non-speech."""
        quiet = speech is not None and speech < self.params.vad_noise_threshold
        if not whole:  # a frame reaching into the zeros before or after the input says nothing of the noise
            return quiet
        self._remember(power)
        if not quiet:
            self._since_quiet += 1
            return False
        self._since_quiet = 0
        if self._quiet_count < self._min_quiet:
            # A plain mean of the first non-speech frames: one periodogram is far too noisy to start from.
            self._quiet_sum = power if self._quiet_sum is None else self._quiet_sum + power
            self._quiet_count += 1
            if self._quiet_count == self._min_quiet:
                self._noise = self._quiet_sum / self._quiet_count
        else:
            assert self._noise is not None
            self._noise = self._beta * self._noise + (1 - self._beta) * power
        return True

    def _remember(self, power: np.ndarray) -> None:
        self._history[self._history_count % self._history.shape[0]] = power
        self._history_count += 1

    def _quantile_estimate(self) -> np.ndarray | None:
        """The quantile-tracking noise estimate, recomputed at most every 4 frames (it is slow to move)."""
        if self._quantile_noise is not None and self._history_count - self._quantile_at < 4:
            return self._quantile_noise
        self._quantile_at = self._history_count
        filled = self._history[: min(self._history_count, self._history.shape[0])]
        if filled.size:
            self._quantile_noise = (
                np.quantile(filled, self.params.noise_quantile, axis=0) / self._quantile_bias
            )
        return self._quantile_noise

    def suppress(self, spectrum: np.ndarray, speech: float | None, whole: bool = True) -> np.ndarray:
        """The next frame, suppressed; returns the output samples that became final (one hop).

        ``speech`` is the VAD's probability around the frame (None: no VAD); ``whole`` says the frame lies
        entirely inside the input (only such frames teach the noise estimates).
        """
        power = np.abs(spectrum) ** 2
        quiet = self._learn(power, speech, whole)
        if self._noise is None or self._since_quiet > self._stale:
            noise = self._quantile_estimate()
        else:
            noise = self._noise
        if noise is None:  # nothing heard yet but padding (an input shorter than a frame): no estimate
            return self._overlap_add(spectrum)
        noise = np.maximum(noise, 1e-12)
        gamma = power / noise
        xi = self._alpha * self._gain_prev**2 * self._gamma_prev + (1 - self._alpha) * np.maximum(
            gamma - 1, 0.0
        )
        xi = np.maximum(xi, self._xi_min)
        gain = xi / (1 + xi)
        rule = self.params.gain_rule
        if rule == "lsa":
            from scipy.special import exp1

            v = np.minimum(xi * gamma / (1 + xi), 500.0)
            gain = np.minimum(gain * np.exp(0.5 * exp1(np.maximum(v, 1e-8))), 1.0)
        gain = np.maximum(gain, self._floor)
        self._gain_prev, self._gamma_prev = gain, gamma
        if rule == "tsnr":
            xi2 = np.maximum(gain**2 * gamma, self._xi_min)
            gain = np.maximum(xi2 / (1 + xi2), self._floor)
        if quiet:
            gain = gain * self._nonspeech
        return self._overlap_add(spectrum * gain)

    def _overlap_add(self, spectrum: np.ndarray) -> np.ndarray:
        frame = np.fft.irfft(spectrum, self.n_fft) * self.window
        self._ola += frame
        done = self._ola[: self.hop].copy()
        self._ola = np.concatenate([self._ola[self.hop :], np.zeros(self.hop)])
        return done


# --- the pipeline ------------------------------------------------------------------------------------


class IsolationStream:
    """Feed float32 mono at ``rate`` with :meth:`feed`, end with :meth:`flush`; each returns output samples.

    The concatenated outputs have exactly the input's length and alignment. ``vad`` is optional: without
    it the noise estimate comes from quantile tracking alone and pauses get no extra attenuation.
    """

    def __init__(
        self, rate: int, vad: SpeechDetector | None = None, params: IsolationParams | None = None
    ) -> None:
        import soxr

        if rate < 4000:
            raise ValueError(f"sample rate {rate} is too low for speech isolation")
        self.rate = rate
        self.params = params or IsolationParams()
        self._vad = vad
        self._vad_state: Any = None
        if vad is not None:
            from chorus.stt.vad import VADState

            self._vad_state = VADState()
        # A 16 kHz copy of the input feeds the VAD and the hum detector (soxr's stream stays aligned).
        self._resampler = (
            soxr.ResampleStream(rate, VAD_RATE, 1, dtype="float32", quality="HQ")
            if rate != VAD_RATE
            else None
        )
        self._at16k = np.zeros(0, np.float32)  # from absolute 16 kHz index self._at16k_start on
        self._at16k_start = 0
        self._vad_done = 0  # 16 kHz samples the VAD has seen
        self._probs: list[float] = []
        self._held: list[np.ndarray] = []  # input held back until primed
        self._received = 0
        self._emitted = 0
        self._primed = False
        self._final = False
        self.hum = HumRemover(rate, self.params)
        self.profile: HumProfile | None = None
        self.noise = NoiseSuppressor(rate, self.params)
        self._next_hum_update = 0
        self._pending: deque[np.ndarray] = deque()  # complete frames waiting for their VAD probability
        self._frame_index = 0
        self._noise_primed = False
        self._skip = self.noise.n_fft - self.noise.hop  # output of the noise stage's pre-roll

    @property
    def detected_hum(self) -> HumProfile | None:
        """The hum found by the last detection (None: none)."""
        return self.profile

    @property
    def speech_probabilities(self) -> list[float]:
        """The VAD's probability per 32 ms window so far (empty without a VAD)."""
        return list(self._probs)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """More input; returns the output samples that became final (possibly none)."""
        return self._push(np.asarray(samples, np.float32).reshape(-1), final=False)

    def flush(self) -> np.ndarray:
        """End of input; returns the rest of the output."""
        return self._push(np.zeros(0, np.float32), final=True)

    # -- internals --

    def _push(self, samples: np.ndarray, final: bool) -> np.ndarray:
        if self._final:
            raise RuntimeError("feed() after flush()")
        self._final = final
        self._received += samples.size
        self._analyse(samples, final)
        self._held.append(samples)
        if not self._primed:
            if self._received < self.params.prime_s * self.rate and not final:
                return np.zeros(0, np.float32)
            self._primed = True
        raw = np.concatenate(self._held)
        self._held = []
        out = self._suppress(self._remove_hum(raw, final), final)
        out = out[: max(0, self._received - self._emitted)]
        self._emitted += out.size
        return out.astype(np.float32)

    def _analyse(self, samples: np.ndarray, final: bool) -> None:
        """Extend the 16 kHz copy and run the VAD on its whole windows (all of it at the end)."""
        if self._resampler is not None:
            at16k = np.asarray(self._resampler.resample_chunk(samples, last=final), np.float32)
        else:
            at16k = samples
        self._at16k = np.concatenate([self._at16k, at16k])
        if self._vad is None:
            return
        end = self._at16k_start + self._at16k.size
        todo = end - self._vad_done
        whole = todo if final else todo // VAD_WINDOW * VAD_WINDOW
        if whole > 0:
            lo = self._vad_done - self._at16k_start
            probs = self._vad.probabilities(self._at16k[lo : lo + whole], self._vad_state)
            self._probs.extend(float(p) for p in probs)
            self._vad_done += whole

    def _hum_audio(self, centre: int) -> np.ndarray:
        """Up to ``hum_window_s`` of the 16 kHz copy around input sample ``centre``."""
        span = int(self.params.hum_window_s * VAD_RATE)
        end16k = self._at16k_start + self._at16k.size
        lo = max(self._at16k_start, min(int(centre / self.rate * VAD_RATE) - span // 2, end16k - span))
        return self._at16k[lo - self._at16k_start : lo - self._at16k_start + span]

    def _remove_hum(self, raw: np.ndarray, final: bool) -> np.ndarray:
        """Feed the hum remover one hop at a time, re-detecting the hum every ``hum_update_s``."""
        hop = self.hum.hop
        parts: list[np.ndarray] = []
        starts = range(0, max(raw.size, 1), hop)
        for start in starts:
            block_start = self.hum.next_measure_start
            if self.params.hum and block_start >= self._next_hum_update:
                audio = self._hum_audio(block_start + self.hum.block // 2)
                self.profile = detect_hum(audio, VAD_RATE, self.params)
                self.hum.set_fundamental(self.profile.f0 if self.profile else None)
                self._next_hum_update = block_start + int(self.params.hum_update_s * self.rate)
            last = final and start + hop >= raw.size
            parts.append(self.hum.process(raw[start : start + hop], final=last))
        # Keep the 16 kHz copy from half a detection window before the hum remover's position on.
        keep_from = int((self.hum.next_measure_start / self.rate - self.params.hum_window_s) * VAD_RATE)
        keep_from = min(keep_from, self._vad_done)
        if keep_from > self._at16k_start:
            self._at16k = self._at16k[keep_from - self._at16k_start :]
            self._at16k_start = keep_from
        return np.concatenate(parts)

    def _speech_probability(self, index: int) -> float | None:
        """VAD probability of frame ``index`` (max over the hangover); None when not known yet."""
        if self._vad is None:
            return None
        centre = self.noise.frame_centre(index) / self.rate
        window = int(centre * VAD_RATE / VAD_WINDOW)
        spread = int(round(self.params.vad_hangover_ms / 1000 * VAD_RATE / VAD_WINDOW))
        lo, hi = max(0, window - spread), window + spread + 1
        if hi > len(self._probs) and not self._final:
            return None
        values = self._probs[lo:hi]
        return max(values) if values else 0.0

    def _whole(self, index: int) -> bool:
        """Whether frame ``index`` lies entirely inside the input received."""
        start = self.noise.frame_centre(index) - self.noise.n_fft // 2
        return start >= 0 and start + self.noise.n_fft <= self._received

    def _ready(self, index: int) -> bool:
        return self._vad is None or self._speech_probability(index) is not None

    def _suppress(self, clean: np.ndarray, final: bool) -> np.ndarray:
        self._pending.extend(self.noise.spectra(clean, final=final))
        if not self._noise_primed:
            covered = self.noise.frame_centre(self._frame_index + len(self._pending))
            if covered < self.params.prime_s * self.rate and not final:
                return np.zeros(0)
            count = 0
            while count < len(self._pending) and self._ready(self._frame_index + count):
                count += 1
            if count:
                indices = range(self._frame_index, self._frame_index + count)
                self.noise.prime(
                    list(itertools.islice(self._pending, count)),
                    [self._speech_probability(i) for i in indices],
                    [self._whole(i) for i in indices],
                )
                self._noise_primed = True
        out: list[np.ndarray] = []
        while self._noise_primed and self._pending and self._ready(self._frame_index):
            probability = self._speech_probability(self._frame_index)
            whole = self._whole(self._frame_index)
            out.append(self.noise.suppress(self._pending.popleft(), probability, whole))
            self._frame_index += 1
        samples = np.concatenate(out) if out else np.zeros(0)
        if self._skip:
            cut = min(self._skip, samples.size)
            samples = samples[cut:]
            self._skip -= cut
        return samples


def isolate(
    samples: np.ndarray,
    rate: int,
    vad: SpeechDetector | None = None,
    params: IsolationParams | None = None,
) -> np.ndarray:
    """Isolate the speech in float32 mono ``samples`` at ``rate``; same length, float32.

    The estimates prime on the first ``BATCH_PRIME_S`` seconds (unless ``params`` say otherwise); the
    clip is fed in ``FEED_S`` pieces so that memory stays bounded for long inputs.
    """
    params = params or IsolationParams(prime_s=BATCH_PRIME_S)
    stream = IsolationStream(rate, vad, params)
    samples = np.asarray(samples, np.float32).reshape(-1)
    step = int(FEED_S * rate)
    out = [stream.feed(samples[start : start + step]) for start in range(0, samples.size, step)]
    out.append(stream.flush())
    return np.concatenate(out).astype(np.float32)
