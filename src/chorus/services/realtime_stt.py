"""Realtime speech to text: the use case behind the ``/v1/speech-to-text/realtime`` WebSocket.

A :class:`RealtimeSession` takes mono s16le audio at the session's rate (the edge has already decoded
base64 and u-law) and reports, through the ``send`` callback it was opened with, the messages of
ElevenLabs' Scribe protocol:

- ``partial_transcript {text}``: everything heard since the last commit, the speech still in progress
  included; sent whenever it changes. It may change again.
- ``final_transcript {text}``: one settled utterance (the engine's :class:`~chorus.stt.base.Final`, after a
  short pause), before it is committed.
- ``committed_transcript {text}``: everything since the previous commit, when the client commits
  (``commit: true``) or, with ``commit_strategy=vad``, when silence after speech has lasted
  ``vad_silence_threshold_secs``. A VAD commit with nothing recognised is not reported; a manual commit
  always is (possibly with ``""``).
- ``committed_transcript_with_timestamps {text, language_code, words}`` after it when
  ``include_timestamps``: words as in the batch response (``word`` and ``spacing`` items), times in seconds
  from the start of the session's audio.
- ``final_transcript_with_timestamps {text, language_code, words}`` after each commit when
  ``include_language_detection`` (``words`` only with ``include_timestamps``).

Decoding runs in a worker thread per session (a dedicated pool sized by :attr:`RealtimeLimits.max_sessions`,
so a session never waits for a thread and never takes one from TTS or batch STT); the event loop only
queues audio. When the decoder falls behind, queued audio is decoded in larger steps (at most
:attr:`RealtimeLimits.max_batch_s` at once), which costs less per second of audio.

Limits (:class:`RealtimeLimits`, from the ``CHORUS_REALTIME_STT_*`` settings, defaults in parentheses;
errors are ``{message_type, error}``):

- ``chunk_size_exceeded``: one chunk holds more than ``max_chunk_s`` (10 s) of audio. The chunk is refused;
  the session goes on.
- ``queue_overflow``: more than ``max_backlog_s`` (60 s) of received audio waits to be decoded, i.e. the
  client sends much faster than real time for long. The session ends.
- ``session_time_limit_exceeded``: the session has been open ``max_session_s`` (1 hour). The session ends.
- ``resource_exhausted``: ``max_sessions`` (16) sessions are already open in this server process.
- ``quota_exceeded``: the credits ran out. Audio is charged as it arrives, 1 credit per started second of
  the session's audio (the model's credit multiplier applies), taken ahead in blocks of ``charge_block_s``
  and settled to the exact amount when the session ends.
- ``input_error``: a malformed chunk, or ``previous_text`` on any chunk but the first (``null`` counts as
  absent). The chunk is refused; the session goes on.
- ``transcriber_error``: the engine failed. The session ends and its credits are refunded.

``previous_text`` is accepted on the first chunk and has no effect with the embedded engine (it has no use
for text context).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from chorus.config import Settings
from chorus.errors import QuotaExceeded
from chorus.services.accounts import Principal
from chorus.services.credits import Charge, CreditService
from chorus.services.stt import shape_response
from chorus.stt.base import Final, Partial, StreamEvent, TranscribeOptions, Transcript, Word, iso639_3

log = logging.getLogger(__name__)

REALTIME_MODELS = ("scribe_v2_realtime", "scribe_v3_live")
# audio_format -> (codec, sample rate): raw little-endian 16-bit PCM, or G.711 mu-law.
AUDIO_FORMATS: dict[str, tuple[str, int]] = {
    "pcm_8000": ("pcm", 8000),
    "pcm_16000": ("pcm", 16000),
    "pcm_22050": ("pcm", 22050),
    "pcm_24000": ("pcm", 24000),
    "pcm_44100": ("pcm", 44100),
    "pcm_48000": ("pcm", 48000),
    "ulaw_8000": ("ulaw", 8000),
}
CommitStrategy = Literal["manual", "vad"]
ERROR_TYPES = (
    "error", "auth_error", "quota_exceeded", "commit_throttled", "transcriber_error", "unaccepted_terms",
    "rate_limited", "input_error", "invalid_request", "queue_overflow", "resource_exhausted",
    "session_time_limit_exceeded", "chunk_size_exceeded", "insufficient_audio_activity",
)  # fmt: skip

# WebSocket close codes.
NORMAL = 1000
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013


@dataclass
class RealtimeLimits:
    """Per-server-process limits (see the module docstring); set by ``CHORUS_REALTIME_STT_*``."""

    max_sessions: int = 16
    max_chunk_s: float = 10.0
    max_backlog_s: float = 60.0
    max_session_s: float = 3600.0
    charge_block_s: int = 10
    max_batch_s: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RealtimeLimits:
        return cls(
            max_sessions=settings.realtime_stt_max_sessions,
            max_chunk_s=settings.realtime_stt_max_chunk_s,
            max_backlog_s=settings.realtime_stt_max_backlog_s,
            max_session_s=settings.realtime_stt_max_session_s,
            charge_block_s=settings.realtime_stt_charge_block_s,
            max_batch_s=settings.realtime_stt_max_batch_s,
        )


class RealtimeError(Exception):
    """A protocol error, sent as ``{message_type, error}``; a ``fatal`` one ends the session."""

    def __init__(
        self, message_type: str, error: str, *, fatal: bool = True, close_code: int = POLICY_VIOLATION
    ) -> None:
        super().__init__(error)
        assert message_type in ERROR_TYPES, message_type
        self.message_type = message_type
        self.error = error
        self.fatal = fatal
        self.close_code = close_code

    def payload(self) -> dict[str, str]:
        return {"message_type": self.message_type, "error": self.error}


@dataclass(frozen=True)
class RealtimeConfig:
    """The session's parameters (from the WebSocket's query), already validated for range and type."""

    model_id: str
    audio_format: str = "pcm_16000"
    commit_strategy: CommitStrategy = "manual"
    vad_silence_threshold_secs: float = 1.5
    vad_threshold: float = 0.4
    min_speech_duration_ms: int = 100
    min_silence_duration_ms: int = 100
    language_code: str | None = None
    secondary_languages: tuple[str, ...] = ()
    include_timestamps: bool = False
    include_language_detection: bool = False
    keyterms: tuple[str, ...] = ()
    no_verbatim: bool = False
    entity_detection: tuple[str, ...] = ()
    filter_background_audio: bool = False
    enable_logging: bool = True

    @property
    def codec(self) -> str:
        return AUDIO_FORMATS[self.audio_format][0]

    @property
    def sample_rate(self) -> int:
        return AUDIO_FORMATS[self.audio_format][1]

    def session_config(self) -> dict[str, Any]:
        """``session_started.config``: both spellings of the commit strategy, as clients read either."""
        return {
            "sample_rate": self.sample_rate,
            "audio_format": self.audio_format,
            "language_code": self.language_code,
            "secondary_languages": list(self.secondary_languages),
            "timestamps_granularity": "word" if self.include_timestamps else "none",
            "commit_strategy": self.commit_strategy,
            "vad_commit_strategy": self.commit_strategy,
            "vad_silence_threshold_secs": self.vad_silence_threshold_secs,
            "vad_threshold": self.vad_threshold,
            "min_speech_duration_ms": self.min_speech_duration_ms,
            "min_silence_duration_ms": self.min_silence_duration_ms,
            "model_id": self.model_id,
            "enable_logging": self.enable_logging,
            "include_timestamps": self.include_timestamps,
            "include_language_detection": self.include_language_detection,
            "keyterms": list(self.keyterms),
            "no_verbatim": self.no_verbatim,
            "entity_detection": list(self.entity_detection),
            "filter_background_audio": self.filter_background_audio,
        }


# --- the decoding side (worker thread) ---------------------------------------------------------------


class SilenceCommitter:
    """Finds where a VAD commit belongs: speech, then ``silence_s`` of silence after it.

    Runs its own Silero VAD with the client's ``vad_threshold``, ``min_speech_duration_ms`` (shorter bursts
    are not speech) and ``min_silence_duration_ms`` (shorter pauses do not end speech), independent of the
    engine's segmentation (which is tuned for recognition, not for turn taking).
    """

    def __init__(self, vad: Any, config: RealtimeConfig) -> None:
        from chorus.stt.audio_input import Resampler16k
        from chorus.stt.vad import StreamingSegmenter, VADParams, VADState

        self._vad = vad
        self._state = VADState()
        self._resampler = Resampler16k(config.sample_rate)
        self._segmenter = StreamingSegmenter(
            VADParams(
                threshold=config.vad_threshold,
                min_speech_ms=config.min_speech_duration_ms,
                min_silence_ms=config.min_silence_duration_ms,
                speech_pad_ms=0,
            )
        )
        self._pending = np.zeros(0, np.float32)
        self._silence = int(config.vad_silence_threshold_secs * 16000)
        self._speech_end: int | None = None  # end of the last speech since the last commit (16 kHz samples)

    def feed(self, pcm: bytes) -> list[float]:
        """Take the next audio; the times (seconds of session audio) at which to commit."""
        from chorus.stt.vad import WINDOW, int16_to_float

        pending = np.concatenate([self._pending, int16_to_float(self._resampler.feed(pcm))])
        count = pending.size // WINDOW
        self._pending = pending[count * WINDOW :]
        commits: list[float] = []
        if not count:
            return commits
        for prob in self._vad.probabilities(pending[: count * WINDOW], self._state):
            for segment in self._segmenter.push(float(prob)):
                self._speech_end = segment.end
            seen = self._segmenter.samples_seen
            if (
                self._speech_end is not None
                and not self._segmenter.in_speech
                and seen - self._speech_end >= self._silence
            ):
                commits.append(seen / 16000)
                self._speech_end = None
        return commits

    def reset(self) -> None:
        """A commit happened: the speech heard so far is dealt with."""
        self._speech_end = None


class SegmentTranscriber:
    """The decoding side of a session: the engine stream, and the messages.

    A commit ends the utterance in progress. When the engine's stream can do that and go on (a ``cut()``
    method, as :class:`~chorus.stt.pocketsphinx_engine.PocketsphinxStream` has), one stream serves the whole
    session, so what it learnt about the channel (loudness, cepstral mean) carries over from one commit to
    the next; otherwise each committed segment gets a stream of its own, finished at the commit.

    Not thread-safe: the session calls it from one worker thread at a time. Times are on the session's
    clock (seconds of audio received since it opened); a stream's clock starts at zero, so its word times
    are shifted by where it began.
    """

    def __init__(self, engine: Any, config: RealtimeConfig, vad: Any) -> None:
        self._engine = engine
        self._config = config
        self._rate = config.sample_rate
        self._options = TranscribeOptions(language=config.language_code, keyterms=config.keyterms)
        self._stream: Any = None
        self._stream_start = 0  # session sample at which the current stream began
        self._position = 0  # samples received so far
        self._finals: list[Final] = []  # settled utterances since the last commit (session clock)
        self._partial = ""  # the utterance in progress
        self._shown = ""  # the text of the last partial_transcript
        self._committer = SilenceCommitter(vad, config) if config.commit_strategy == "vad" else None
        languages = engine.capabilities().languages
        self._language = (
            iso639_3(config.language_code)
            if config.language_code
            else (languages[0] if len(languages) == 1 else None)
        )

    @property
    def position_s(self) -> float:
        return self._position / self._rate

    def process(self, pcm: bytes, commit: bool) -> list[dict[str, Any]]:
        """Decode the next audio (whole samples) and commit when asked; the messages to send, in order."""
        messages: list[dict[str, Any]] = []
        total = len(pcm) // 2
        done = 0
        if self._committer is not None and total:
            chunk_start = self._position
            for at in self._committer.feed(pcm):
                cut = min(total, max(done, round(at * self._rate) - chunk_start))
                if cut > done:
                    messages += self._feed(pcm[2 * done : 2 * cut])
                    done = cut
                messages += self._commit(automatic=True)
        if total > done:
            messages += self._feed(pcm[2 * done : 2 * total])
        if commit:
            messages += self._commit(automatic=False)
        return messages

    def close(self) -> None:
        """Abandon the segment in progress (the session is over)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            close = getattr(stream, "close", None)
            close() if close is not None else stream.finish()

    # -- internals ----------------------------------------------------------------------------------

    def _feed(self, pcm: bytes) -> list[dict[str, Any]]:
        if self._stream is None:
            self._stream = self._engine.stream(self._rate, self._options)
            self._stream_start = self._position
        events = self._stream.feed(pcm)
        self._position += len(pcm) // 2
        messages = self._take(events)
        text = self._text()
        if text != self._shown:
            self._shown = text
            messages.append({"message_type": "partial_transcript", "text": text})
        return messages

    def _take(self, events: list[StreamEvent]) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        offset = self._stream_start / self._rate
        for event in events:
            if isinstance(event, Partial):
                self._partial = event.text
            elif isinstance(event, Final):
                self._partial = ""
                final = Final(
                    text=event.text,
                    words=tuple(
                        Word(w.text, round(w.start_s + offset, 3), round(w.end_s + offset, 3), w.logprob)
                        for w in event.words
                    ),
                    start_s=round(event.start_s + offset, 3),
                    end_s=round(event.end_s + offset, 3),
                    language=event.language,
                    language_probability=event.language_probability,
                )
                self._finals.append(final)
                if final.text:
                    messages.append({"message_type": "final_transcript", "text": final.text})
        return messages

    def _text(self) -> str:
        return " ".join(t for t in [*(f.text for f in self._finals), self._partial] if t)

    def _commit(self, *, automatic: bool) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        stream = self._stream
        if stream is not None:
            cut = getattr(stream, "cut", None)
            if cut is not None:
                messages += self._take(cut())
            else:
                self._stream = None
                messages += self._take(stream.finish())
        self._partial = ""
        text = self._text()
        finals, self._finals = self._finals, []
        self._shown = ""
        if self._committer is not None:
            self._committer.reset()
        if automatic and not text:
            return messages
        messages.append({"message_type": "committed_transcript", "text": text})
        config = self._config
        if config.include_timestamps or config.include_language_detection:
            timed = self._timed(finals, text)
            if config.include_timestamps:
                messages.append({"message_type": "committed_transcript_with_timestamps", **timed})
            if config.include_language_detection:
                words = timed["words"] if config.include_timestamps else None
                messages.append({"message_type": "final_transcript_with_timestamps", **timed, "words": words})
        return messages

    def _timed(self, finals: list[Final], text: str) -> dict[str, Any]:
        """``{text, language_code, words}`` with words shaped as in the batch response."""
        words = tuple(w for f in finals for w in f.words)
        language = finals[-1].language if finals else self._language
        transcript = Transcript(
            text=text,
            words=words,
            language=language or "",
            language_probability=finals[-1].language_probability if finals else 0.0,
            duration_s=self.position_s,
        )
        body = shape_response(transcript, "word", self.position_s, "")
        return {"text": text, "language_code": body["language_code"] or None, "words": body["words"]}


# --- the session (event loop side) -------------------------------------------------------------------

Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class _Item:
    pcm: bytes
    commit: bool


@dataclass
class _Credits:
    received_s: float = 0.0
    charged: int = 0
    charges: list[Charge] = field(default_factory=list)


class RealtimeSession:
    """One realtime transcription (see the module docstring). Create with :meth:`RealtimeSTTService.open`;
    always :meth:`aclose` it."""

    def __init__(
        self,
        service: RealtimeSTTService,
        principal: Principal,
        config: RealtimeConfig,
        send: Send,
        transcriber: SegmentTranscriber,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.session_id = uuid.uuid4().hex
        self.config = config
        self.principal = principal
        self.failure: RealtimeError | None = None
        self.failed = asyncio.Event()
        self._service = service
        self.limits = service.limits
        self._send = send
        self._transcriber = transcriber
        self._executor = executor
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._backlog = 0  # bytes received but not yet handed to the decoder
        self._chunks = 0
        self._carry = b""
        self._credits = _Credits()
        self._closing = False
        self._closed = False
        self._job: Future[list[dict[str, Any]]] | None = None
        self._worker = asyncio.create_task(self._work())

    def started_message(self) -> dict[str, Any]:
        return {
            "message_type": "session_started",
            "session_id": self.session_id,
            "config": self.config.session_config(),
        }

    async def push(self, pcm: bytes, *, commit: bool = False, previous_text: str | None = None) -> None:
        """Queue the next chunk of s16le audio (and a commit after it).

        Raises :class:`RealtimeError`: ``input_error`` and ``chunk_size_exceeded`` (the chunk is refused;
        the session goes on), ``queue_overflow`` and ``quota_exceeded`` (the session must end).
        """
        if self.failure is not None:
            raise self.failure
        if previous_text is not None and self._chunks:
            raise RealtimeError(
                "input_error", "previous_text can only be sent with the first audio chunk.", fatal=False
            )
        bytes_per_s = 2 * self.config.sample_rate
        if len(pcm) > self.limits.max_chunk_s * bytes_per_s:
            raise RealtimeError(
                "chunk_size_exceeded",
                f"An audio chunk may hold at most {self.limits.max_chunk_s:g} seconds of audio; this one "
                f"holds {len(pcm) / bytes_per_s:.1f}. Send smaller chunks.",
                fatal=False,
            )
        if self._backlog + len(pcm) > self.limits.max_backlog_s * bytes_per_s:
            raise RealtimeError(
                "queue_overflow",
                f"More than {self.limits.max_backlog_s:g} seconds of audio are waiting to be transcribed: "
                "send audio at about real-time speed.",
            )
        self._chunks += 1
        data = self._carry + pcm
        whole = len(data) // 2 * 2  # a chunk may split a sample; its other byte comes next
        self._carry = data[whole:]
        data = data[:whole]
        if data:
            await self._charge(len(data) / bytes_per_s)
        self._backlog += len(data)
        self._queue.put_nowait(_Item(data, commit))

    async def aclose(self) -> None:
        """End the session: stop decoding (what is queued is dropped), release the engine, settle credits."""
        if self._closed:
            return
        self._closed = True
        self._closing = True
        self._queue.put_nowait(None)
        try:
            # The worker finishes the step it is in (a thread cannot be interrupted), then stops.
            await asyncio.wait_for(asyncio.shield(self._worker), timeout=30)
        except (TimeoutError, asyncio.CancelledError):
            self._worker.cancel()
        except Exception:
            log.exception("realtime session worker failed while closing")
        try:
            if self._job is not None and not self._job.done():
                await asyncio.wait_for(asyncio.wrap_future(self._job), timeout=30)
            await asyncio.get_running_loop().run_in_executor(self._executor, self._transcriber.close)
        except Exception:
            log.exception("could not release a realtime session's engine stream")
        finally:
            await asyncio.shield(self._settle())
            self._service._session_closed()

    # -- internals ----------------------------------------------------------------------------------

    def _fail(self, error: RealtimeError) -> None:
        if self.failure is None:
            self.failure = error
            self.failed.set()

    async def _work(self) -> None:
        rate = self.config.sample_rate
        batch_bytes = int(self.limits.max_batch_s * rate) * 2
        try:
            while not self._closing:
                item = await self._queue.get()
                if item is None or self._closing:
                    return
                parts, commit = [item.pcm], item.commit
                size = len(item.pcm)
                # Behind: decode what has queued up in one step (cheaper per second), up to a commit.
                while not commit and size < batch_bytes and not self._queue.empty():
                    following = self._queue.get_nowait()
                    if following is None:
                        return
                    parts.append(following.pcm)
                    size += len(following.pcm)
                    commit = following.commit
                pcm = b"".join(parts)
                self._backlog -= len(pcm)
                self._job = self._executor.submit(self._transcriber.process, pcm, commit)
                messages = await asyncio.wrap_future(self._job)
                for message in messages:
                    await self._send(message)
        except RealtimeError as exc:
            self._fail(exc)
        except Exception as exc:
            log.exception("realtime transcription failed")
            self._fail(
                RealtimeError("transcriber_error", f"Transcription failed: {exc}", close_code=INTERNAL_ERROR)
            )

    async def _charge(self, seconds: float) -> None:
        """Take credits for the audio received so far (whole seconds, ahead in blocks)."""
        credits = self._service.credits
        ledger = self._credits
        ledger.received_s += seconds
        needed = math.ceil(ledger.received_s - 1e-9) - ledger.charged
        if needed <= 0:
            return
        block = max(needed, self.limits.charge_block_s)
        model = self.config.model_id
        try:
            try:
                charge = await credits.charge(self.principal, block, model_id=model, product="speech_to_text")
            except QuotaExceeded:
                if block == needed:
                    raise
                charge = await credits.charge(
                    self.principal, needed, model_id=model, product="speech_to_text"
                )
        except QuotaExceeded as exc:
            ledger.received_s -= seconds
            raise RealtimeError("quota_exceeded", exc.message) from None
        ledger.charges.append(charge)
        ledger.charged += charge.characters

    async def _settle(self) -> None:
        """Make the session's charge exact (1 credit per started second), or refund it after a failure."""
        credits = self._service.credits
        ledger = self._credits
        try:
            if self.failure is not None and self.failure.message_type == "transcriber_error":
                for charge in ledger.charges:
                    await credits.refund(charge)
                return
            excess = ledger.charged - math.ceil(ledger.received_s - 1e-9)
            if excess > 0 and ledger.charges:
                last = ledger.charges[-1]
                await credits.refund(last)
                if last.characters - excess > 0:
                    await credits.charge(
                        self.principal,
                        last.characters - excess,
                        model_id=self.config.model_id,
                        product="speech_to_text",
                    )
        except Exception:
            log.exception("could not settle a realtime session's credits")


class RealtimeSTTService:
    """Opens realtime sessions over a streaming speech-to-text engine (see the module docstring).

    ``engine`` should have a decoder per session it may run at once (a session holds one while speech is in
    progress), so one session never waits for another's utterance to end.
    """

    def __init__(
        self,
        credits: CreditService,
        engine: Any,
        limits: RealtimeLimits | None = None,
        vad: Any = None,
    ) -> None:
        self.credits = credits
        self.engine = engine
        self.limits = limits or RealtimeLimits()
        self._vad = vad
        self._executor: ThreadPoolExecutor | None = None
        self._active = 0

    @property
    def active_sessions(self) -> int:
        return self._active

    def _vad_model(self) -> Any:
        if self._vad is None:
            from chorus.stt.vad import shared_vad

            self._vad = getattr(self.engine, "vad", None) or shared_vad()
        return self._vad

    def check(self, config: RealtimeConfig) -> None:
        """Refuse what this server cannot do for ``config`` (``invalid_request`` / ``transcriber_error``)."""
        engine = self.engine
        if engine is None or not engine.available():
            reason = engine.unavailable_reason() if engine is not None else "no speech-to-text engine"
            raise RealtimeError(
                "transcriber_error",
                f"Speech to text is not available: {reason}",
                close_code=INTERNAL_ERROR,
            )
        capabilities = engine.capabilities()
        if not capabilities.streaming:
            raise RealtimeError(
                "transcriber_error", "The speech-to-text engine cannot stream.", close_code=INTERNAL_ERROR
            )
        for language in (config.language_code, *config.secondary_languages):
            if language and not capabilities.supports_language(language):
                raise RealtimeError(
                    "invalid_request",
                    f"language {language!r} is not supported by the installed speech-to-text engine "
                    f"(it transcribes: {', '.join(capabilities.languages)}).",
                )
        if config.commit_strategy == "vad":
            reason = self._vad_model().unavailable_reason()
            if reason is not None:
                raise RealtimeError(
                    "transcriber_error", f"VAD commits are not available: {reason}", close_code=INTERNAL_ERROR
                )

    async def open(self, principal: Principal, config: RealtimeConfig, send: Send) -> RealtimeSession:
        """A new session for ``principal`` (raises :class:`RealtimeError`); ``send`` delivers its messages."""
        self.check(config)
        if self._active >= self.limits.max_sessions:
            raise RealtimeError(
                "resource_exhausted",
                f"This server is running its maximum of {self.limits.max_sessions} realtime sessions; "
                "try again shortly.",
                close_code=TRY_AGAIN_LATER,
            )
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.limits.max_sessions, thread_name_prefix="chorus-realtime-stt"
            )
        loop = asyncio.get_running_loop()
        vad = self._vad_model() if config.commit_strategy == "vad" else None
        try:
            transcriber = await loop.run_in_executor(
                self._executor, SegmentTranscriber, self.engine, config, vad
            )
        except Exception as exc:
            raise RealtimeError(
                "transcriber_error", f"Could not start transcription: {exc}", close_code=INTERNAL_ERROR
            ) from None
        self._active += 1
        return RealtimeSession(self, principal, config, send, transcriber, self._executor)

    def _session_closed(self) -> None:
        self._active -= 1

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        close_engine = getattr(self.engine, "close", None)
        if close_engine is not None:
            close_engine()
