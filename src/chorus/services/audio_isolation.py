"""Audio isolation use cases: decode any input, charge by duration, isolate the speech, encode.

Pricing follows ElevenLabs' Voice Isolator: 1000 credits per minute of input audio, charged pro rata
(``ceil(seconds * 1000 / 60)``, at least 1) before the work starts and refunded if it fails or a stream is
abandoned. The DSP is :mod:`chorus.voicelab.isolation`; audio is processed at its own sample rate (capped at
``MAX_RATE``) and encoded once, by the caller's :class:`~chorus.audio.encode.StreamEncoder`.

Every isolation whose output was delivered in full (``/v1/audio-isolation``, or a ``/stream`` read to its
end) becomes an item of the caller's isolation history (``GET /v1/audio-isolation/history``), titled with
the upload's file name, its audio kept in the blob store until the item is deleted. The spec gives these
endpoints no ``enable_logging`` switch, so nothing opts out; failed or abandoned isolations are not recorded.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from chorus.audio.encode import StreamEncoder
from chorus.audio.formats import OutputFormat
from chorus.config import Settings
from chorus.engines.base import PCMFormat
from chorus.errors import BadRequest, NotFound
from chorus.services.accounts import Principal
from chorus.services.credits import Charge, CreditService
from chorus.services.threads import iterate_in_thread
from chorus.storage.isolation_history import AudioIsolationHistory, NewIsolationItem
from chorus.storage.models import AudioIsolationItem
from chorus.voicelab.isolation import (
    BATCH_PRIME_S,
    STREAM_PRIME_S,
    IsolationParams,
    IsolationStream,
    SpeechDetector,
)

CREDITS_PER_MINUTE = 1000
MODEL_ID = "audio_isolation"  # the usage log's model for this product (ElevenLabs names none)
PRODUCT = "audio_isolation"
MIN_AUDIO_SECONDS = 0.1
MAX_AUDIO_SECONDS = 3600.0  # ElevenLabs' Voice Isolator takes up to an hour
MAX_RATE = 48_000
STEP_SECONDS = 2.0  # input processed per step of a stream
MAX_HISTORY_PAGE_SIZE = 1000
DEFAULT_TITLE = "Audio isolation"

FileFormat = Literal["pcm_s16le_16", "other"]
log = logging.getLogger("chorus")


def isolation_credits(duration_s: float) -> int:
    """Credits for ``duration_s`` seconds of input: 1000 per minute, pro rata, at least 1."""
    return max(1, math.ceil(duration_s * CREDITS_PER_MINUTE / 60 - 1e-9))


@dataclass(frozen=True)
class IsolationInput:
    audio: bytes
    file_format: FileFormat = "other"
    title: str | None = None  # the history item's title: the upload's file name
    preview_b64: str | None = None  # an image the client labels its history item with, kept as given


@dataclass(frozen=True)
class IsolationHistoryPage:
    items: list[AudioIsolationItem]
    has_more: bool


class IsolationJob:
    """A charged, decoded request; :meth:`chunks` isolates and encodes it, :meth:`abort` refunds it."""

    def __init__(
        self,
        service: AudioIsolationService,
        samples: np.ndarray,
        rate: int,
        charge: Charge,
        principal: Principal | None = None,
        request: IsolationInput | None = None,
    ) -> None:
        self._service = service
        self.samples = samples
        self.rate = rate
        self.charge = charge
        self.principal = principal
        self.request = request
        self._settled = False
        self.history_item_id: str | None = None

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.rate

    @property
    def credits(self) -> int:
        return self.charge.credits

    def chunks(self, fmt: OutputFormat, *, streaming: bool = True) -> AsyncIterator[bytes]:
        """Encoded output in ``fmt``, produced in a worker thread step by step (back-pressured).

        ``streaming`` chooses the priming (see :meth:`AudioIsolationService.params`).
        """
        service, samples, rate = self._service, self.samples, self.rate

        def produce(should_stop: Callable[[], bool]) -> Iterator[bytes]:
            stream = IsolationStream(rate, service.vad(), service.params(streaming))
            encoder = StreamEncoder(PCMFormat(rate), fmt)
            step = max(1, int(STEP_SECONDS * rate))
            for start in range(0, samples.size, step):
                if should_stop():
                    return
                piece = samples[start : start + step].astype(np.float32) / np.float32(32768.0)
                data = encoder.feed(_to_pcm(stream.feed(piece)))
                if data:
                    yield data
            tail = encoder.feed(_to_pcm(stream.flush())) + encoder.flush()
            if tail:
                yield tail

        return iterate_in_thread(service.executor, produce)

    async def render(self, fmt: OutputFormat) -> bytes:
        """The whole output in ``fmt``, recorded in the history; refunds and re-raises on failure."""
        parts: list[bytes] = []
        try:
            async for data in self.chunks(fmt, streaming=False):
                parts.append(data)
        except BaseException:
            await self.abort()
            raise
        output = b"".join(parts)
        await self.finish(fmt, output)
        return output

    async def finish(self, fmt: OutputFormat, output: bytes) -> None:
        """``output`` (all of it, in ``fmt``) was delivered: the charge stands and the history records it."""
        self._settled = True
        self.history_item_id = await self._service.record(self, fmt, output)

    async def abort(self) -> None:
        """The work failed or was abandoned: give the credits back (once)."""
        if self._settled:
            return
        self._settled = True
        await asyncio.shield(self._service.credits.refund(self.charge))


def _to_pcm(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


class AudioIsolationService:
    """Decodes and charges isolation requests; the VAD is loaded on first use and shared by requests."""

    def __init__(
        self,
        credits: CreditService,
        settings: Settings,
        executor: ThreadPoolExecutor,
        vad: SpeechDetector | None = None,
        history: AudioIsolationHistory | None = None,
    ) -> None:
        self.credits = credits
        self._settings = settings
        self.executor = executor
        self._vad = vad
        self._vad_checked = vad is not None
        self.history = history  # None: isolations are not recorded (and the history stays empty)

    def vad(self) -> SpeechDetector | None:
        """The Silero VAD, or None when its model is missing (isolation then works without it)."""
        if not self._vad_checked:
            from chorus.stt.vad import SileroVAD

            candidate = SileroVAD()
            if candidate.available():
                self._vad = candidate
            else:
                log.warning("audio isolation runs without a VAD: %s", candidate.unavailable_reason())
            self._vad_checked = True
        return self._vad

    def params(self, streaming: bool) -> IsolationParams:
        """Streams prime on their first second, so bytes flow early; whole files on their first 30 s."""
        return IsolationParams(prime_s=STREAM_PRIME_S if streaming else BATCH_PRIME_S)

    async def start(self, principal: Principal, request: IsolationInput) -> IsolationJob:
        """Decode and validate the input, then charge for it."""
        loop = asyncio.get_running_loop()
        samples, rate = await loop.run_in_executor(self.executor, _decode, request)
        duration = samples.size / rate
        if duration < MIN_AUDIO_SECONDS:
            raise BadRequest("The audio must be at least 100 ms long.", status="audio_too_short")
        charge = await self.credits.charge(
            principal, isolation_credits(duration), model_id=MODEL_ID, product=PRODUCT
        )
        return IsolationJob(self, samples, rate, charge, principal, request)

    # --- history -------------------------------------------------------------------------------

    async def record(self, job: IsolationJob, fmt: OutputFormat, output: bytes) -> str | None:
        """Add a delivered isolation to its caller's history; returns the item id (None: not recorded).

        The caller already has the audio and has paid for it, so a storage failure here is logged, not
        raised: it must not turn a delivered result into an error.
        """
        if self.history is None or job.principal is None or not output:
            return None
        request = job.request or IsolationInput(audio=b"")
        title = (request.title or "").strip()[:300] or DEFAULT_TITLE
        try:
            row = await self.history.add(
                NewIsolationItem(
                    user_id=job.principal.user_id,
                    api_key_id=job.principal.key_id,
                    title=title,
                    format=fmt.name,
                    content_type=fmt.media_type,
                    file_extension=fmt.file_extension,
                    duration_seconds=round(job.duration_s, 3),
                    preview_b64=request.preview_b64 or None,
                ),
                output,
            )
        except Exception:
            log.exception("audio isolation: the result could not be recorded in the history")
            return None
        return row.id

    def _require_history(self) -> AudioIsolationHistory:
        if self.history is None:
            raise NotFound("This server keeps no audio isolation history.", status="history_item_not_found")
        return self.history

    async def list_history(
        self, principal: Principal, *, page_size: int = 100, page: int = 1, search: str | None = None
    ) -> IsolationHistoryPage:
        """The caller's items, newest first. ``page`` (1-based) applies with or without ``search``."""
        if not 1 <= page_size <= MAX_HISTORY_PAGE_SIZE:
            raise BadRequest(
                f"page_size must be between 1 and {MAX_HISTORY_PAGE_SIZE}.", status="invalid_page_size"
            )
        if page < 1:
            raise BadRequest("page must be 1 or more.", status="invalid_page")
        if self.history is None:
            return IsolationHistoryPage([], False)
        items, has_more = await self.history.list(
            principal.user_id, page_size=page_size, page=page, search=(search or "").strip() or None
        )
        return IsolationHistoryPage(items, has_more)

    async def history_item(self, principal: Principal, history_item_id: str) -> AudioIsolationItem:
        item = await self._require_history().get(principal.user_id, history_item_id)
        if item is None:
            raise _item_not_found(history_item_id)
        return item

    async def history_audio(
        self, principal: Principal, history_item_id: str
    ) -> tuple[AudioIsolationItem, bytes]:
        """An item and its isolated audio."""
        item = await self.history_item(principal, history_item_id)
        try:
            return item, await self._require_history().audio(item)
        except FileNotFoundError:
            # Deleted between the two reads.
            raise _item_not_found(history_item_id) from None

    async def delete_history_item(self, principal: Principal, history_item_id: str) -> None:
        if not await self._require_history().delete(principal.user_id, history_item_id):
            raise _item_not_found(history_item_id)

    @staticmethod
    def describe(item: AudioIsolationItem, download_url: str | None) -> dict[str, Any]:
        """The ``AudioIsolationHistoryItemResponseModel`` body (every field is required by the spec)."""
        return {
            "id": item.id,
            "title": item.title,
            "created_at_unix": int(item.created_at),
            "format": item.format,
            "duration_seconds": item.duration_seconds,
            "download_url": download_url,
            "icon_url": None,
            "source_video_url": None,
            "supports_video": False,
            "processing": False,
            "video_processing_failed": False,
            "preview_b64": item.preview_b64,
        }


def _item_not_found(history_item_id: str) -> NotFound:
    return NotFound(
        f"Audio isolation history item {history_item_id} was not found.", status="history_item_not_found"
    )


def _decode(request: IsolationInput) -> tuple[np.ndarray, int]:
    """int16 mono samples and their rate (at most ``MAX_RATE``) from the request's audio."""
    from chorus.stt.audio_input import UndecodableAudio, decode_any

    if not request.audio:
        raise BadRequest("The audio file is empty.", status="invalid_audio")
    if request.file_format == "pcm_s16le_16":
        if len(request.audio) % 2:
            raise BadRequest(
                "pcm_s16le_16 input must hold whole 16-bit samples (an even number of bytes).",
                status="invalid_audio",
            )
        pcm, rate = request.audio, 16_000
        if len(pcm) / 2 / rate > MAX_AUDIO_SECONDS:
            raise BadRequest(
                f"The audio is longer than the maximum of {MAX_AUDIO_SECONDS:g} seconds.",
                status="audio_too_long",
            )
    else:
        try:
            pcm, rate = decode_any(request.audio, max_duration_s=MAX_AUDIO_SECONDS)
        except UndecodableAudio as exc:
            raise BadRequest(
                f"The file could not be decoded as audio: {exc}", status="invalid_audio"
            ) from None
    samples = np.frombuffer(pcm, dtype="<i2")  # int16 until processed: half the memory of float32
    if rate > MAX_RATE:
        import soxr

        samples = np.asarray(soxr.resample(samples, rate, MAX_RATE, quality="HQ"), "<i2")
        rate = MAX_RATE
    if rate < 4000:
        raise BadRequest(f"The audio's sample rate ({rate} Hz) is too low.", status="invalid_audio")
    return samples, rate
