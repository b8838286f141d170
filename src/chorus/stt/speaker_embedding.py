"""Speaker embeddings: resemblyzer's GE2E voice encoder (weights from its wheel) on CPU torch.

The encoder is a 3-layer LSTM over 40-band mel power spectrograms (25 ms Hann windows, 10 ms hop, 16 kHz)
that maps a stretch of speech to an L2-normalised 256-dimensional vector; voices are compared by cosine
similarity. It was trained on partial utterances of 1.6 s whose level had been raised to -30 dBFS.

What is used of resemblyzer and what is not:

- ``VoiceEncoder`` and its ``pretrained.pt`` are used as they are.
- The mel spectrogram is computed here in NumPy, equal to resemblyzer's ``wav_to_mel_spectrogram`` (librosa's
  ``melspectrogram`` with a centred, zero-padded STFT and a Slaney-normalised filter bank) to float32
  rounding: librosa's first call in a fresh process JIT-compiles for many seconds, too slow for a request.
- ``preprocess_wav`` is not used: its webrtcvad silence trimming is replaced by Silero VAD segments (the
  caller's), and its level normalisation by :func:`normalise_level`, applied to the speech only. Measured
  on the diarization bench's tuning conversations: DER 9.5% with Silero's speech, 10.2% with the speech
  mask of resemblyzer's ``trim_long_silences`` (more missed speech and false alarm, equal confusion).

Nothing is loaded at import: a :class:`SpeakerEmbedder` imports torch and loads the encoder on first use.
It is safe to share between threads (one lock around the forward pass: the LSTM itself is cheap, about
5 ms of CPU per second of speech, so requests queueing there wait little).
"""

from __future__ import annotations

import importlib.util
import os
import threading
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
HOP = 160  # samples per mel frame (10 ms)
N_FFT = 400  # 25 ms
N_MELS = 40
EMBEDDING_SIZE = 256
LEVEL_DBFS = -30.0  # resemblyzer's audio_norm_target_dBFS
WEIGHTS_ENV = "CHORUS_RESEMBLYZER_WEIGHTS"
INSTALL_HINT = "pip install resemblyzer torch (CPU torch is enough; the encoder weights ship in the wheel)"
_BATCH = 64  # windows per forward pass: bounds memory on long inputs


class EmbedderUnavailable(RuntimeError):
    """torch, resemblyzer or the encoder weights are missing; the message says what to install."""


def _package_dir(name: str) -> Path | None:
    """The directory of top-level package ``name``, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_weights_path() -> Path | None:
    """``$CHORUS_RESEMBLYZER_WEIGHTS``, else ``resemblyzer/pretrained.pt`` of the installed wheel."""
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        return Path(override)
    package = _package_dir("resemblyzer")
    return package / "pretrained.pt" if package is not None else None


@cache
def _mel_basis() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): Slaney mel scale and area normalisation."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        hz = np.asarray(hz, dtype=np.float64)
        linear = hz / (200.0 / 3)
        logstep = np.log(6.4) / 27.0
        return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / logstep, linear)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        logstep = np.log(6.4) / 27.0
        return np.where(mel >= 15.0, 1000.0 * np.exp(logstep * (mel - 15.0)), mel * (200.0 / 3))

    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_freqs = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.astype(np.float32)


@cache
def _window() -> np.ndarray:
    n = np.arange(N_FFT)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)).astype(np.float32)  # periodic Hann, as librosa


def mel_spectrogram(audio: np.ndarray, first: int = 0, count: int | None = None) -> np.ndarray:
    """[frames, 40] mel power spectrogram of float32 16 kHz ``audio``; frame i is centred on sample 160 i.

    ``first``/``count`` compute only frames first..first+count-1 (frames past the audio's
    ``1 + len // 160`` see zeros), so a long input never needs its whole STFT in memory.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if count is None:
        count = 1 + audio.size // HOP - first
    if count <= 0:
        return np.zeros((0, N_MELS), np.float32)
    low = first * HOP - N_FFT // 2
    high = (first + count - 1) * HOP + N_FFT // 2 + 1
    padded = np.zeros(high - low, np.float32)
    a, b = max(low, 0), min(high, audio.size)
    if b > a:
        padded[a - low : b - low] = audio[a:b]
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(count, N_FFT), strides=(padded.strides[0] * HOP, padded.strides[0])
    )
    spectrum = np.fft.rfft(frames * _window(), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    return power @ _mel_basis().T


def normalise_level(audio: np.ndarray, target_dbfs: float = LEVEL_DBFS) -> np.ndarray:
    """Raise float ``audio`` (never lower it) to ``target_dbfs`` RMS, as resemblyzer's training data was."""
    audio = np.asarray(audio, dtype=np.float32)
    power = float(np.mean(np.square(audio, dtype=np.float64))) if audio.size else 0.0
    if power <= 1e-12:
        return audio
    change_db = target_dbfs - 10 * np.log10(power)
    return audio * np.float32(10 ** (change_db / 20)) if change_db > 0 else audio


class SpeakerEmbedder:
    """The resemblyzer voice encoder, loaded on first use; one per object, shareable between threads.

    ``threads`` caps torch's intra-op threads when the encoder loads (torch's setting is process-wide, so it
    is only ever lowered, never raised). Default 1: the LSTM's batches are small, and on a busy machine
    more threads only contend (measured on 2 shared cores: 38 s of speech took 2.1 s with one thread and
    26 s with two).
    """

    def __init__(self, weights_path: str | Path | None = None, threads: int | None = None) -> None:
        self._path = Path(weights_path) if weights_path is not None else default_weights_path()
        self._threads = max(1, threads if threads is not None else 1)
        self._encoder: Any = None
        self._torch: Any = None
        self._reason: str | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def unavailable_reason(self) -> str | None:
        """None when the encoder can be loaded; otherwise what is missing and how to install it."""
        if self._encoder is not None:
            return None
        if self._reason is not None:
            return self._reason
        if _package_dir("torch") is None:
            return f"speaker diarization needs torch, which is not installed; {INSTALL_HINT}"
        if _package_dir("resemblyzer") is None and os.environ.get(WEIGHTS_ENV) is None:
            return f"speaker diarization needs resemblyzer, which is not installed; {INSTALL_HINT}"
        if self._path is None or not self._path.is_file():
            return f"resemblyzer encoder weights not found at {self._path}; {INSTALL_HINT}"
        return None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def load(self) -> None:
        """Load the encoder now (raises :class:`EmbedderUnavailable`)."""
        self._get_encoder()

    def _get_encoder(self) -> Any:
        if self._encoder is not None:
            return self._encoder
        with self._load_lock:
            if self._encoder is None:
                reason = self.unavailable_reason()
                if reason is not None:
                    raise EmbedderUnavailable(reason)
                try:
                    import torch

                    with warnings.catch_warnings():  # resemblyzer imports a deprecated scipy namespace
                        warnings.simplefilter("ignore", DeprecationWarning)
                        from resemblyzer.voice_encoder import VoiceEncoder

                    if torch.get_num_threads() > self._threads:
                        torch.set_num_threads(self._threads)
                    encoder = VoiceEncoder(device="cpu", verbose=False, weights_fpath=self._path)
                    encoder.eval()
                except Exception as exc:  # a broken install or a foreign weights file
                    self._reason = f"cannot load the resemblyzer voice encoder: {exc}; {INSTALL_HINT}"
                    raise EmbedderUnavailable(self._reason) from exc
                self._torch = torch
                self._encoder = encoder
        return self._encoder

    def embed_mels(self, mels: np.ndarray) -> np.ndarray:
        """Embeddings [n, 256] (float32, unit length) of a batch of mel spectrograms [n, frames, 40]."""
        encoder = self._get_encoder()
        mels = np.ascontiguousarray(mels, dtype=np.float32)
        if mels.ndim != 3 or mels.shape[2] != N_MELS or mels.shape[1] == 0:
            raise ValueError(f"mel batch must be [n, frames>0, {N_MELS}], got {mels.shape}")
        out = np.empty((mels.shape[0], EMBEDDING_SIZE), np.float32)
        torch = self._torch
        for first in range(0, mels.shape[0], _BATCH):
            batch = torch.from_numpy(mels[first : first + _BATCH])
            with self._run_lock, torch.inference_mode():
                out[first : first + _BATCH] = encoder(batch).numpy()
        # The encoder divides by the norm itself; a window of pure silence can give a zero vector (0/0).
        return np.nan_to_num(out, nan=0.0)

    def embed_windows(self, audio: np.ndarray, starts: np.ndarray, frames: int) -> np.ndarray:
        """Embeddings [len(starts), 256] of windows of ``frames`` mel frames of float32 16 kHz ``audio``.

        ``starts`` are the windows' first mel frames (frame i is centred on sample 160 i); windows reaching
        past the audio see zeros. The spectrogram is computed batch by batch, never for the whole input.
        """
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        out = np.zeros((starts.size, EMBEDDING_SIZE), np.float32)
        for first in range(0, starts.size, _BATCH):
            batch = starts[first : first + _BATCH]
            low = int(batch.min())
            mel = mel_spectrogram(audio, low, int(batch.max()) - low + frames)
            index = (batch - low)[:, None] + np.arange(frames)[None, :]
            out[first : first + _BATCH] = self.embed_mels(mel[index])
        return out

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """One embedding (256,) of float32 16 kHz ``audio`` (its level raised as in training)."""
        audio = normalise_level(np.asarray(audio, dtype=np.float32).reshape(-1))
        return self.embed_mels(mel_spectrogram(audio)[None])[0]
