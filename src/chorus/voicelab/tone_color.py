"""A neural cloning engine that takes the reference audio directly: OpenVoice v2's tone color converter.

OpenVoice (MyShell, MIT licence) splits cloning in two: any base TTS voice says the words, and a converter
(a VITS posterior encoder, flow and HiFi-GAN decoder conditioned on 256-dimensional speaker embeddings,
"tone colors") re-voices that speech from the base voice's tone color to the reference speaker's. That is
Chorus' own voice model (a base engine voice plus a transform) with a learnt transform, so a clone made
while the converter is installed keeps everything the DSP clone has (base voice, pitch, frame bank: the
fallback when the converter is gone) and adds ``tone_color`` (the speaker's, extracted from the uploaded
samples) and ``tone_source`` (the base voice's at the clone's pitch). Rendering then converts each
sentence with the converter instead of the frame-bank DSP (:class:`ToneStream`), and speech to speech
re-voices the input piece by piece (:func:`convert_pieces`) after the DSP has moved its pitch. Without
real weights here, its quality is not benchmarked; the tests run tiny random models of the same
signatures.

Files, as the ONNX export ``seasonstudio/openvoice_tone_clone_onnx`` publishes them (`chorus models pull
openvoice-v2` puts them in ``<models_dir>/openvoice/``):

- ``configuration.json``: OpenVoice's converter config; ``data.sampling_rate`` (22050),
  ``data.filter_length`` (1024), ``data.hop_length`` (256), ``data.win_length`` (1024) are read.
- ``tone_color_extract_model.onnx``: input ``input`` float32 [1, frames, filter_length / 2 + 1], the
  magnitude spectrogram; output [1, 256] (any shape with 256 values), the tone color.
- ``tone_clone_model.onnx``: inputs ``audio`` float32 [1, bins, frames] (the same spectrogram, transposed),
  ``audio_length`` int64 [1] (frames), ``src_tone`` and ``dest_tone`` float32 [1, 256, 1], ``tau`` float32
  [1] (the posterior's noise scale, 0.3 in OpenVoice); output [1, 1, frames * hop_length] samples.

The spectrogram is OpenVoice's ``spectrogram_torch``: reflect padding of (n_fft - hop) / 2 on both sides,
a periodic Hann window, no centring, ``sqrt(re^2 + im^2 + 1e-6)``. The converter draws noise in the graph
(``RandomNormalLike``); :func:`chorus.engines.neural.load_model` rewrites it to read a seed, so equal
requests give equal audio. Nothing here imports onnxruntime until a model is loaded.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chorus.engines.neural import ONNXRUNTIME_HINT, OnnxModel, load_model, models_dir, onnxruntime_missing
from chorus.voicelab.analysis import pcm_to_float

log = logging.getLogger(__name__)

__all__ = [
    "FOLDER",
    "MODEL_NAME",
    "TONE_DIMS",
    "ToneColorConverter",
    "ToneColorProvider",
    "ToneStream",
    "convert_pieces",
    "spectrogram",
]

MODEL_NAME = "openvoice-v2"
FOLDER = "openvoice"
CONFIG_FILE = "configuration.json"
EXTRACT_FILE = "tone_color_extract_model.onnx"
CONVERT_FILE = "tone_clone_model.onnx"
TONE_DIMS = 256
DEFAULT_TAU = 0.3  # OpenVoice's default noise scale of the posterior
# Reference speech fed to the extractor per call: the tone color of a long upload is the mean over pieces
# of this length (OpenVoice splits references the same way, at about 10 s).
EXTRACT_PIECE_S = 10.0
MIN_EXTRACT_S = 0.5


def spectrogram(audio: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """OpenVoice's magnitude spectrogram of float ``audio``: [frames, n_fft // 2 + 1] float32."""
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    pad = (n_fft - hop) // 2
    if y.size <= pad:  # reflect padding needs more samples than it pads
        y = np.pad(y, (0, pad + 1 - y.size))
    y = np.pad(y, pad, mode="reflect")
    window = np.zeros(n_fft, dtype=np.float64)
    offset = (n_fft - win) // 2  # torch centres a shorter window in the frame
    window[offset : offset + win] = np.hanning(win + 1)[:-1]
    if y.size < n_fft:
        return np.zeros((0, n_fft // 2 + 1), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]
    spectrum = np.fft.rfft(frames * window, axis=1)
    magnitude = np.sqrt(spectrum.real**2 + spectrum.imag**2 + 1e-6)
    return magnitude.astype(np.float32)


@dataclass(frozen=True)
class _Config:
    sample_rate: int = 22050
    n_fft: int = 1024
    hop: int = 256
    win: int = 1024

    @classmethod
    def read(cls, path: Path) -> _Config:
        data = json.loads(path.read_text(encoding="utf-8")).get("data") or {}
        config = cls(
            sample_rate=int(data.get("sampling_rate", cls.sample_rate)),
            n_fft=int(data.get("filter_length", cls.n_fft)),
            hop=int(data.get("hop_length", cls.hop)),
            win=int(data.get("win_length", cls.win)),
        )
        if min(config.sample_rate, config.n_fft, config.hop, config.win) <= 0 or config.win > config.n_fft:
            raise ValueError(f"{path.name}: invalid spectrogram settings {config}")
        return config


class ToneColorConverter:
    """The loaded extractor and converter. Thread-safe (onnxruntime sessions serve concurrent runs)."""

    def __init__(self, folder: Path, config: _Config, extractor: OnnxModel, converter: OnnxModel) -> None:
        self.folder = folder
        self.config = config
        self._extractor = extractor
        self._converter = converter

    @classmethod
    def load(cls, folder: Path, *, threads: int | None = None) -> ToneColorConverter:
        """Load the three files from ``folder``; raises FileNotFoundError, ValueError or onnxruntime's own."""
        folder = Path(folder)
        for name in (CONFIG_FILE, EXTRACT_FILE, CONVERT_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name} is missing")
        config = _Config.read(folder / CONFIG_FILE)
        extractor = load_model(folder / EXTRACT_FILE, threads=threads)
        converter = load_model(folder / CONVERT_FILE, threads=threads)
        missing = [
            n for n in ("audio", "audio_length", "src_tone", "dest_tone", "tau") if not converter.has_input(n)
        ]
        if missing or not extractor.has_input("input"):
            raise ValueError(
                f"{folder} does not hold OpenVoice's tone color models (inputs missing: {missing})"
            )
        return cls(folder, config, extractor, converter)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def _at_model_rate(self, audio: np.ndarray, rate: int) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if rate == self.config.sample_rate or audio.size == 0:
            return audio
        import soxr

        return soxr.resample(audio, rate, self.config.sample_rate, quality="HQ").astype(np.float32)

    def _spectrogram(self, audio: np.ndarray) -> np.ndarray:
        c = self.config
        return spectrogram(audio, c.n_fft, c.hop, c.win)

    def extract(self, clips: Sequence[np.ndarray], rate: int) -> np.ndarray:
        """The tone color of the speaker in ``clips`` (float speech at ``rate``): [256] float32, the mean
        over pieces of at most ``EXTRACT_PIECE_S`` seconds. Raises ValueError when there is too little."""
        pieces: list[np.ndarray] = []
        for clip in clips:
            audio = self._at_model_rate(clip, rate)
            step = int(EXTRACT_PIECE_S * self.config.sample_rate)
            for start in range(0, audio.size, step):
                piece = audio[start : start + step]
                if piece.size >= MIN_EXTRACT_S * self.config.sample_rate:
                    pieces.append(piece)
        if not pieces:
            raise ValueError("too little speech to extract a tone color from")
        colors = []
        for piece in pieces:
            spec = self._spectrogram(piece)[np.newaxis]  # [1, frames, bins]
            out = self._extractor.run({"input": spec}, seed=0)[0]
            colors.append(np.asarray(out, dtype=np.float32).reshape(-1)[:TONE_DIMS])
        color = np.mean(colors, axis=0).astype(np.float32)
        if color.size != TONE_DIMS or not np.all(np.isfinite(color)):
            raise ValueError("the tone color extractor gave no usable embedding")
        return color

    def convert(
        self,
        audio: np.ndarray,
        rate: int,
        source: Sequence[float],
        target: Sequence[float],
        *,
        tau: float = DEFAULT_TAU,
        seed: int = 0,
    ) -> np.ndarray:
        """``audio`` (float at ``rate``) re-voiced from tone color ``source`` to ``target``, back at ``rate``
        with exactly as many samples as it came with (the converter's output is a whole number of hops)."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            return audio
        spec = self._spectrogram(self._at_model_rate(audio, rate))  # [frames, bins]
        if spec.shape[0] == 0:
            return audio
        feeds = {
            "audio": np.ascontiguousarray(spec.T[np.newaxis]),
            "audio_length": np.array([spec.shape[0]], dtype=np.int64),
            "src_tone": _tone(source),
            "dest_tone": _tone(target),
            "tau": np.array([tau], dtype=np.float32),
        }
        out = np.asarray(self._converter.run(feeds, seed=seed)[0], dtype=np.float32).reshape(-1)
        if rate != self.config.sample_rate and out.size:
            import soxr

            out = soxr.resample(out, self.config.sample_rate, rate, quality="HQ").astype(np.float32)
        if out.size < audio.size:
            out = np.pad(out, (0, audio.size - out.size))
        out = out[: audio.size]
        return np.where(np.isfinite(out), out, 0.0).astype(np.float32)


def _tone(values: Sequence[float]) -> np.ndarray:
    tone = np.asarray(values, dtype=np.float32).reshape(-1)
    if tone.size != TONE_DIMS:
        raise ValueError(f"a tone color has {TONE_DIMS} values, not {tone.size}")
    return tone.reshape(1, TONE_DIMS, 1)


class ToneColorProvider:
    """The converter in the models folder, loaded on first use (and looked for again while it is missing,
    so a `chorus models pull openvoice-v2` takes effect without a restart). ``enabled=False``: never."""

    def __init__(self, folder: Path, *, enabled: bool = True, threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.enabled = enabled
        self._threads = threads
        self._lock = threading.Lock()
        self._converter: ToneColorConverter | None = None
        self._failed_stamp: tuple[Any, ...] | None = None
        self._reason: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> ToneColorProvider:
        enabled = bool(getattr(settings, "neural_cloning", True))
        return cls(models_dir(settings) / FOLDER, enabled=enabled)

    def get(self) -> ToneColorConverter | None:
        """The loaded converter, or None (see :meth:`unavailable_reason`). Never raises."""
        if self._converter is not None or not self.enabled:
            return self._converter
        with self._lock:
            if self._converter is not None:
                return self._converter
            stamp = self._stamp()
            if stamp is None:
                self._reason = (
                    f"the neural cloning model is not installed (run `chorus models pull {MODEL_NAME}`, "
                    f"or copy OpenVoice's ONNX tone color models into {self.folder})"
                )
                return None
            if stamp == self._failed_stamp:  # the same broken files: do not try again on every request
                return None
            missing = onnxruntime_missing()
            if missing is not None:
                self._reason = f"neural cloning needs onnxruntime: {ONNXRUNTIME_HINT}"
                self._failed_stamp = stamp
                return None
            try:
                self._converter = ToneColorConverter.load(self.folder, threads=self._threads)
                self._reason = None
            except Exception as exc:  # a corrupt or foreign file must not take the server down
                self._failed_stamp = stamp
                self._reason = f"the neural cloning model in {self.folder} could not be loaded: {exc}"
                log.warning("%s", self._reason)
            return self._converter

    def status(self) -> str | None:
        """Like :meth:`unavailable_reason` without loading anything (for /health): None when loaded, or
        installed and not known to fail."""
        if not self.enabled or self._converter is not None:
            return self.unavailable_reason() if not self.enabled else None
        stamp = self._stamp()
        if stamp is None:
            return f"not installed: run `chorus models pull {MODEL_NAME}` (neural voice cloning)"
        if stamp == self._failed_stamp:
            return self._reason
        return None

    def unavailable_reason(self) -> str | None:
        if not self.enabled:
            return "neural cloning is turned off (CHORUS_NEURAL_CLONING=false)"
        return None if self.get() is not None else self._reason

    def _stamp(self) -> tuple[Any, ...] | None:
        """Sizes and times of the three files, or None when one is missing."""
        stamp = []
        for name in (CONFIG_FILE, EXTRACT_FILE, CONVERT_FILE):
            try:
                info = (self.folder / name).stat()
            except OSError:
                return None
            stamp.append((info.st_size, info.st_mtime_ns))
        return tuple(stamp)


class ToneStream:
    """One engine call's PCM re-voiced by the converter: :meth:`process` holds the s16le chunks (after the
    ``inner`` DSP stream, if any), :meth:`flush` converts them whole and returns as many samples as came in.

    The converter sees a whole sentence (the render path flushes per sentence), as OpenVoice converts
    whole utterances: cutting a sentence into pieces would put seams in its voice.
    """

    def __init__(
        self,
        converter: ToneColorConverter,
        source: Sequence[float],
        target: Sequence[float],
        rate: int,
        *,
        seed: int = 0,
        inner: Any = None,
    ) -> None:
        self._converter = converter
        self._source = source
        self._target = target
        self._rate = rate
        self._seed = seed
        self._inner = inner
        self._held: list[bytes] = []

    def process(self, pcm: bytes) -> bytes:
        if self._inner is not None:
            pcm = self._inner.process(pcm)
        self._held.append(pcm)
        return b""

    def flush(self) -> bytes:
        if self._inner is not None:
            self._held.append(self._inner.flush())
        data = b"".join(self._held)
        self._held = []
        data = data[: len(data) // 2 * 2]
        if not data:
            return b""
        try:
            out = self._converter.convert(
                pcm_to_float(data), self._rate, self._source, self._target, seed=self._seed
            )
        except Exception as exc:  # a request must not fail on the converter: the base voice speaks instead
            log.warning("tone color conversion failed, sentence left unconverted: %s", exc)
            return data
        return _to_pcm(out)


# Speech to speech converts the input in pieces of about this length, each cut at its quietest 10 ms in
# the last PIECE_CUT of it (a pause, where a seam is not heard); OpenVoice converts ~10 s segments.
PIECE_S = 8.0
PIECE_CUT = 0.4


def convert_pieces(
    steps: Iterator[bytes],
    rate: int,
    converter: ToneColorConverter,
    target: Sequence[float],
    fallback_source: Sequence[float],
    *,
    seed: int = 0,
    piece_s: float = PIECE_S,
) -> Iterator[bytes]:
    """Re-voice a stream of s16le PCM ``steps`` to tone color ``target``, piece by piece (same total length).

    Each piece's own tone color is what it is converted from (as OpenVoice does); a piece too short to
    measure uses ``fallback_source`` (the whole input's).
    """
    held = np.zeros(0, dtype=np.float32)
    pending = b""
    index = 0
    for step in steps:
        data = pending + step
        pending = data[len(data) // 2 * 2 :]
        data = data[: len(data) // 2 * 2]
        held = np.concatenate([held, pcm_to_float(data)])
        while held.size >= piece_s * rate:
            cut = _quiet_cut(held[: int(piece_s * rate)], rate)
            yield _convert_piece(held[:cut], rate, converter, target, fallback_source, seed + index)
            held = held[cut:]
            index += 1
    if held.size:
        yield _convert_piece(held, rate, converter, target, fallback_source, seed + index)


def _quiet_cut(audio: np.ndarray, rate: int) -> int:
    """Where to end a piece: the start of its quietest 10 ms frame in the last ``PIECE_CUT`` of it."""
    hop = max(1, rate // 100)
    first = int(audio.size * (1 - PIECE_CUT)) // hop
    count = audio.size // hop
    if count - first < 2:
        return audio.size
    frames = audio[first * hop : count * hop].reshape(-1, hop)
    return (first + int(np.argmin((frames * frames).sum(axis=1)))) * hop or audio.size


def _convert_piece(
    audio: np.ndarray,
    rate: int,
    converter: ToneColorConverter,
    target: Sequence[float],
    fallback_source: Sequence[float],
    seed: int,
) -> bytes:
    try:
        source: Sequence[float] = converter.extract([audio], rate)
    except ValueError:
        source = fallback_source
    try:
        out = converter.convert(audio, rate, source, target, seed=seed)
    except Exception as exc:  # as in ToneStream: the piece goes out as the DSP left it, not as an error
        log.warning("tone color conversion failed, piece left unconverted: %s", exc)
        out = audio
    return _to_pcm(out)


def _to_pcm(audio: np.ndarray) -> bytes:
    """Float samples back to s16le, the inverse of :func:`pcm_to_float` (clipped to its range)."""
    return (np.clip(audio, -1.0, 32767 / 32768) * 32768.0).astype("<i2").tobytes()
