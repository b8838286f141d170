"""Silero VAD (v5/v6 ONNX model on onnxruntime): speech probabilities and speech segments, batch or streaming.

The model is the ``silero_vad.onnx`` file shipped inside the ``silero-vad`` wheel. The wheel's Python package
imports torch, so it is never imported: the file is found with :func:`importlib.util.find_spec`, which
locates a top-level package without running it. ``CHORUS_SILERO_VAD_MODEL`` (or the ``model_path``
argument) points at another copy.

Model protocol (that of ``silero_vad.utils_vad.OnnxWrapper`` at 16 kHz): audio is float32 in [-1, 1], cut into
windows of 512 samples (32 ms); each call gets ``input`` [1, 64 + 512] (the last 64 samples of the previous
window, zeros at first, then the window), ``state`` float32 [2, 1, 128] (zeros at first) and ``sr`` int64
scalar 16000, and returns the window's speech probability [1, 1] and the next state. The last, short window is
zero-padded.

Segmentation follows ``get_speech_timestamps``: speech starts at the first window with probability >=
``threshold``; it ends once the probability has stayed below ``neg_threshold`` for ``min_silence_ms``;
segments no longer than ``min_speech_ms`` are dropped; each segment is widened by ``speech_pad_ms`` on both
sides, but never into the previous segment. A segment longer than ``max_speech_s`` is cut at
its least speech-like window. :class:`StreamingSegmenter` makes the same decisions as :func:`segment_speech`
one window at a time, reporting each segment's end as soon as the silence after it is long enough.

One onnxruntime session is shared by all callers (``InferenceSession.run`` is thread-safe; the recurrent
state lives in each caller's :class:`VADState`), with one intra-op and one inter-op thread: a window costs
well under a millisecond, so concurrency comes from requests running side by side, not from threads inside
one call.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
WINDOW = 512  # samples per model call at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window prepended to each call
MODEL_ENV = "CHORUS_SILERO_VAD_MODEL"
INSTALL_HINT = "pip install silero-vad --no-deps (only its ONNX file is used; torch is not needed)"


class VADUnavailable(RuntimeError):
    """The Silero VAD model file or onnxruntime is missing; the message says how to get it."""


@dataclass(frozen=True)
class VADParams:
    """How speech probabilities become segments (the engine tunes these for its recogniser)."""

    threshold: float = 0.5  # a window at or above this starts (or continues) speech
    neg_threshold: float | None = None  # below this counts as silence inside speech; None: threshold - 0.15
    min_speech_ms: int = 250  # shorter segments are dropped
    min_silence_ms: int = 300  # silence that ends a segment
    speech_pad_ms: int = 200  # added on both sides of each segment
    start_pad_ms: int | None = None  # added before each segment instead (None: speech_pad_ms); Silero
    # reacts a window or two late to speech onsets, so a longer lead-in keeps first consonants
    max_speech_s: float = 30.0  # longer segments are cut at their least speech-like window

    @property
    def exit_threshold(self) -> float:
        return self.neg_threshold if self.neg_threshold is not None else max(self.threshold - 0.15, 0.01)


@dataclass(frozen=True)
class SpeechSegment:
    """Speech from ``start`` (inclusive) to ``end`` (exclusive), in samples at 16 kHz."""

    start: int
    end: int

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end / SAMPLE_RATE


@dataclass
class VADState:
    """The model's recurrent state and the context samples carried from one window to the next."""

    state: np.ndarray = field(default_factory=lambda: np.zeros((2, 1, 128), np.float32))
    context: np.ndarray = field(default_factory=lambda: np.zeros(CONTEXT, np.float32))


def default_model_path() -> Path | None:
    """``$CHORUS_SILERO_VAD_MODEL``, else ``silero_vad/data/silero_vad.onnx`` from the installed wheel."""
    override = os.environ.get(MODEL_ENV)
    if override:
        return Path(override)
    try:
        spec = importlib.util.find_spec("silero_vad")  # locates the package without importing it (or torch)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / "silero_vad.onnx"
        if candidate.is_file():
            return candidate
    return None


class SileroVAD:
    """Speech probabilities for 16 kHz audio, from one shared onnxruntime session."""

    def __init__(self, model_path: str | Path | None = None) -> None:
        self._path = Path(model_path) if model_path is not None else default_model_path()
        self._session: Any = None
        self._lock = threading.Lock()
        self._reason: str | None = None

    @property
    def model_path(self) -> Path | None:
        return self._path

    def unavailable_reason(self) -> str | None:
        """None when the model can be loaded; otherwise why not and how to fix it."""
        if self._session is not None:
            return None
        if self._reason is not None:
            return self._reason
        if self._path is None:
            return f"Silero VAD model not found; {INSTALL_HINT}, or set {MODEL_ENV} to a silero_vad.onnx file"
        if not self._path.is_file():
            return f"Silero VAD model file {self._path} does not exist; {INSTALL_HINT}"
        if importlib.util.find_spec("onnxruntime") is None:
            return "onnxruntime is not installed; pip install onnxruntime"
        return None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def _get_session(self) -> Any:
        if self._session is not None:
            return self._session
        with self._lock:
            if self._session is None:
                reason = self.unavailable_reason()
                if reason is not None:
                    raise VADUnavailable(reason)
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                try:
                    self._session = onnxruntime.InferenceSession(
                        str(self._path), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # a corrupt or foreign file
                    self._reason = f"cannot load Silero VAD model {self._path}: {exc}"
                    raise VADUnavailable(self._reason) from exc
        return self._session

    def load(self) -> None:
        """Load the model now (raises :class:`VADUnavailable`)."""
        self._get_session()

    def probabilities(self, audio: np.ndarray, state: VADState | None = None) -> np.ndarray:
        """Speech probability of each 512-sample window of float32 16 kHz ``audio`` (last one zero-padded).

        With ``state`` the model continues from (and updates) it, so consecutive calls on consecutive whole
        windows equal one call on their concatenation; without it each call starts fresh.
        """
        session = self._get_session()
        if state is None:
            state = VADState()
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        count = -(-audio.size // WINDOW)
        if count == 0:
            return np.zeros(0, np.float32)
        padded = np.zeros(count * WINDOW, np.float32)
        padded[: audio.size] = audio
        sr = np.array(SAMPLE_RATE, dtype=np.int64)
        probs = np.empty(count, np.float32)
        buffer = np.empty((1, CONTEXT + WINDOW), np.float32)
        rnn = state.state
        context = state.context
        for i in range(count):
            window = padded[i * WINDOW : (i + 1) * WINDOW]
            buffer[0, :CONTEXT] = context
            buffer[0, CONTEXT:] = window
            out, rnn = session.run(None, {"input": buffer, "state": rnn, "sr": sr})
            probs[i] = float(out.reshape(-1)[0])
            context = window[-CONTEXT:].copy()
        state.state = rnn
        state.context = context
        return probs


@functools.cache
def shared_vad() -> SileroVAD:
    """The process's Silero VAD over the default model file."""
    return SileroVAD()


class StreamingSegmenter:
    """Turns speech probabilities, one window at a time, into padded :class:`SpeechSegment`s.

    :meth:`push` takes the next window's probability and returns the segments that became final; :meth:`flush`
    ends the audio (``total_samples`` long) and returns what is left. :attr:`in_speech` and
    :attr:`open_start` describe a segment still in progress. Padding never reaches before the previous
    segment's end nor past the audio seen, so segments never overlap.
    """

    def __init__(self, params: VADParams) -> None:
        self.params = params
        self._window_index = 0
        self._triggered = False
        self._start = 0  # unpadded start of the open segment
        self._temp_end = 0  # where the current run of silence began (0: none)
        self._min_prob = 2.0  # least speech-like window inside the open segment ...
        self._min_at = 0  # ... and where it starts
        self._last_end = 0  # padded end of the last emitted segment
        rate = SAMPLE_RATE / 1000
        self._pad = int(params.speech_pad_ms * rate)
        self._start_pad = int(
            (params.speech_pad_ms if params.start_pad_ms is None else params.start_pad_ms) * rate
        )
        self._min_speech = params.min_speech_ms * rate
        self._min_silence = params.min_silence_ms * rate
        self._max_speech = params.max_speech_s * SAMPLE_RATE - WINDOW - self._pad - self._start_pad

    @property
    def in_speech(self) -> bool:
        return self._triggered

    @property
    def open_start(self) -> int | None:
        """Padded start of the segment in progress (None when in silence)."""
        return max(self._last_end, self._start - self._start_pad) if self._triggered else None

    @property
    def samples_seen(self) -> int:
        return self._window_index * WINDOW

    @property
    def settled_end(self) -> int | None:
        """How far the segment in progress surely reaches (None when in silence), audio not yet seen
        included: a pause ends it at the pause's start plus the padding, where the pause (still to come,
        or begun at ``_temp_end``) starts no earlier than the audio seen so far, and the padding is cut
        short only by the audio seen when the pause has lasted ``min_silence`` (``flush`` ends it at the
        audio's end). Audio up to here can be decoded live without decoding any the segment will not hold
        (a segment cut for its length aside)."""
        if not self._triggered:
            return None
        anchor = self._temp_end or self.samples_seen
        return anchor + min(self._pad, int(self._min_silence) + WINDOW)

    def _close(self, end: int, limit: int, pad_end: bool = True) -> SpeechSegment | None:
        """End the open segment at unpadded ``end``; pad it (never past ``limit``) if it is long enough."""
        start = self._start
        self._triggered = False
        self._temp_end = 0
        self._min_prob = 2.0
        if end - start <= self._min_speech:
            return None
        padded_end = min(limit, end + self._pad) if pad_end else end
        segment = SpeechSegment(max(self._last_end, start - self._start_pad), padded_end)
        self._last_end = segment.end
        return segment

    def push(self, prob: float) -> list[SpeechSegment]:
        params = self.params
        current = self._window_index * WINDOW
        self._window_index += 1
        seen = self._window_index * WINDOW
        out: list[SpeechSegment] = []
        if prob >= params.threshold and self._temp_end:
            self._temp_end = 0
        if prob >= params.threshold and not self._triggered:
            self._triggered = True
            self._start = current
            self._min_prob = 2.0
            return out
        if not self._triggered:
            return out
        if current - self._start > self._max_speech:
            # Too long: cut at the least speech-like window seen since the segment began (or here).
            cut = (
                self._min_at if self._min_prob < params.threshold and self._min_at > self._start else current
            )
            closed = self._close(cut, seen, pad_end=False)  # the next segment starts right there
            if closed is not None:
                out.append(closed)
            if cut < current:  # the rest of this speech continues as a new segment
                self._triggered = True
                self._start = cut
            elif prob >= params.threshold:
                self._triggered = True
                self._start = current
            return out
        if current - self._start > self._min_speech and prob < self._min_prob:
            self._min_prob = prob
            self._min_at = current
        if prob < params.exit_threshold:
            if not self._temp_end:
                self._temp_end = current
            if current - self._temp_end >= self._min_silence:
                closed = self._close(self._temp_end, seen)
                if closed is not None:
                    out.append(closed)
        return out

    def flush(self, total_samples: int) -> list[SpeechSegment]:
        """The audio ended after ``total_samples`` samples: close any open segment."""
        if not self._triggered:
            return []
        closed = self._close(total_samples, total_samples)
        if closed is None:
            return []
        return [SpeechSegment(closed.start, min(closed.end, total_samples))]


def segments_from_probabilities(
    probs: np.ndarray, total_samples: int, params: VADParams
) -> list[SpeechSegment]:
    """Padded speech segments for the window probabilities of ``total_samples`` samples of audio."""
    segmenter = StreamingSegmenter(params)
    segments: list[SpeechSegment] = []
    for prob in probs:
        segments.extend(segmenter.push(float(prob)))
    segments.extend(segmenter.flush(total_samples))
    return [SpeechSegment(s.start, min(s.end, total_samples)) for s in segments if s.end > s.start]


def segment_speech(
    audio: np.ndarray, params: VADParams | None = None, vad: SileroVAD | None = None
) -> list[SpeechSegment]:
    """Speech segments of float32 16 kHz ``audio`` (see the module docstring)."""
    vad = vad or shared_vad()
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    probs = vad.probabilities(audio)
    return segments_from_probabilities(probs, audio.size, params or VADParams())


def int16_to_float(pcm: bytes | np.ndarray) -> np.ndarray:
    """s16le bytes (or an int16 array) as float32 in [-1, 1)."""
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes | bytearray | memoryview) else pcm
    return np.asarray(samples, dtype=np.float32) / 32768.0
