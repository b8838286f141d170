"""Speech to text use cases: decode any input, charge by duration, recognise, shape the response, keep it.

Response shape (``SpeechToTextChunkResponseModel``): words interleaved with ``spacing`` tokens, per-word
``logprob`` (<= 0), optional per-character times, ISO 639-3 ``language_code``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.config import Settings
from chorus.errors import BadRequest, EngineMissing, NotFound
from chorus.services.accounts import Principal
from chorus.services.credits import CreditService
from chorus.storage.models import Transcript
from chorus.stt.base import iso639_3

STT_MODELS = ("scribe_v1", "scribe_v2")
Granularity = Literal["none", "word", "character"]
MIN_AUDIO_SECONDS = 0.1
MAX_CHANNELS = 5  # use_multi_channel (the spec's limit)


@dataclass(frozen=True)
class STTInput:
    """One transcription request, validated at the edge. JSON-friendly (webhook jobs store it)."""

    audio: bytes
    model_id: str
    file_format: Literal["pcm_s16le_16", "other"] = "other"
    language_code: str | None = None
    timestamps_granularity: Granularity = "word"
    keyterms: tuple[str, ...] = ()
    enable_logging: bool = True
    tag_audio_events: bool = True
    diarize: bool = False
    num_speakers: int | None = None
    diarization_threshold: float | None = None
    detect_speaker_roles: bool = False
    no_verbatim: bool = False
    entity_detection: tuple[str, ...] = ()  # entity types (categories already expanded)
    entity_redaction: tuple[str, ...] = ()
    entity_redaction_mode: str = "enumerated_entity_type"
    additional_formats: tuple[dict[str, Any], ...] = ()  # validated ExportOptions, as dicts
    use_multi_channel: bool = False
    multichannel_output_style: Literal["separate", "combined"] = "separate"
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """The rules between fields that the spec states; a 400 naming the rule otherwise."""
        if self.model_id not in STT_MODELS:
            raise BadRequest(
                f"model_id must be one of {', '.join(STT_MODELS)}, got {self.model_id!r}.",
                status="invalid_model_id",
            )
        if self.diarization_threshold is not None and not self.diarize:
            raise BadRequest("diarization_threshold needs diarize=true.", status="invalid_request")
        if self.detect_speaker_roles and not self.diarize:
            raise BadRequest("detect_speaker_roles needs diarize=true.", status="invalid_request")
        if self.detect_speaker_roles and self.use_multi_channel:
            raise BadRequest(
                "detect_speaker_roles cannot be used with use_multi_channel.", status="invalid_request"
            )
        if self.no_verbatim and self.model_id != "scribe_v2":
            raise BadRequest("no_verbatim is only supported with scribe_v2.", status="invalid_request")
        if self.use_multi_channel and self.multichannel_output_style == "combined":
            if self.timestamps_granularity == "none":
                raise BadRequest(
                    "multichannel_output_style=combined needs timestamps (timestamps_granularity must not "
                    "be none).",
                    status="invalid_request",
                )
            if self.entity_detection or self.entity_redaction:
                raise BadRequest(
                    "multichannel_output_style=combined does not support entity detection or redaction.",
                    status="invalid_request",
                )
        if not set(self.entity_redaction) <= set(self.entity_detection):
            raise BadRequest(
                "entity_redaction must be a subset of entity_detection.", status="invalid_entity_redaction"
            )


def parse_keyterms(raw: str | None) -> tuple[str, ...]:
    """``keyterms`` arrive as one JSON form field (or repeated fields); the SDK sends ``null`` when unset."""
    if raw is None or raw.strip() in ("", "null"):
        return ()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = [raw]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("keyterms must be a JSON list of strings.", status="invalid_keyterms")
    if len(value) > 1000:
        raise BadRequest("At most 1000 keyterms are allowed.", status="invalid_keyterms")
    for term in value:
        if not term.strip() or len(term) >= 50 or len(term.split()) > 5 or any(c in term for c in "<>{}[]\\"):
            raise BadRequest(
                f"Invalid keyterm {term!r}: each must be under 50 characters, at most 5 words, "
                "without <>{}[]\\\\.",
                status="invalid_keyterms",
            )
    return tuple(value)


class STTService:
    """Batch transcription: validate, decode, charge, recognise, enrich (speakers, events, entities,
    clean-up, exports), keep. The enrichments run in the executor with the recogniser."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        credits: CreditService,
        settings: Settings,
        engine: Any,
        executor: ThreadPoolExecutor,
        diarizer: Any = None,
        tagger: Any = None,
    ) -> None:
        self._sessions = sessions
        self._credits = credits
        self._settings = settings
        self._engine = engine
        self._executor = executor
        self._diarizer = diarizer
        self._tagger = tagger

    @property
    def diarizer(self) -> Any:
        if self._diarizer is None:  # created on first use: it loads its model lazily anyway
            from chorus.stt.diarize import Diarizer

            self._diarizer = Diarizer()
        return self._diarizer

    @property
    def tagger(self) -> Any:
        if self._tagger is None:
            from chorus.stt.events import AudioEventTagger

            self._tagger = AudioEventTagger()
        return self._tagger

    def _usable_engine(self, request: STTInput) -> Any:
        """The engine, after checking it can serve ``request`` (503 / 400 otherwise)."""
        engine = self._engine
        if engine is None or not engine.available():
            reason = (
                engine.unavailable_reason() if engine is not None else "no speech-to-text engine configured"
            )
            raise EngineMissing(f"Speech to text is not available: {reason}")
        language = request.language_code
        if language:
            capabilities = engine.capabilities()
            if not capabilities.supports_language(language):
                hint = (
                    "Install a multilingual engine such as faster-whisper (CHORUS_STT_ENGINE), or omit "
                    "language_code."
                    if getattr(engine, "name", "") != "faster-whisper"
                    else "Omit language_code to detect the language."
                )
                raise BadRequest(
                    f"language_code {language!r} is not supported by the installed speech-to-text engine "
                    f"(it transcribes: {', '.join(capabilities.languages)}). {hint}",
                    status="unsupported_language",
                )
        if request.diarize and not self.diarizer.available():
            raise EngineMissing(f"Speaker diarization is not available: {self.diarizer.unavailable_reason()}")
        return engine

    async def _prepare(self, request: STTInput) -> tuple[Any, list[bytes], int, float]:
        """Checks made before charging, then decoding: (engine, pcm per channel, rate, duration)."""
        from chorus.stt.audio_input import UndecodableAudio, decode_any, decode_channels

        request.check()
        engine = self._usable_engine(request)
        loop = asyncio.get_running_loop()
        if request.file_format == "pcm_s16le_16":
            channels, rate = [request.audio[: len(request.audio) // 2 * 2]], 16000
        else:
            decode = decode_channels if request.use_multi_channel else decode_any
            try:
                decoded, rate = await loop.run_in_executor(self._executor, decode, request.audio)
            except UndecodableAudio as exc:
                raise BadRequest(
                    f"The file could not be decoded as audio: {exc}", status="invalid_audio"
                ) from None
            channels = decoded if request.use_multi_channel else [decoded]
        if len(channels) > MAX_CHANNELS:
            raise BadRequest(
                f"use_multi_channel supports at most {MAX_CHANNELS} channels; the audio has {len(channels)}.",
                status="invalid_request",
            )
        duration = len(channels[0]) / 2 / rate
        if duration < MIN_AUDIO_SECONDS:
            raise BadRequest("The audio must be at least 100 ms long.", status="audio_too_short")
        return engine, channels, rate, duration

    @staticmethod
    def _cost(request: STTInput, duration: float, channels: int) -> int:
        """1 credit per started second of audio, per channel, with ElevenLabs' surcharges: keyterms +20%
        (and at least 20 s billed with more than 100 of them), speaker roles +10%."""
        seconds = max(1, math.ceil(duration))
        if len(request.keyterms) > 100:
            seconds = max(seconds, 20)
        factor = 1.0 + (0.2 if request.keyterms else 0.0) + (0.1 if request.detect_speaker_roles else 0.0)
        return math.ceil(round(seconds * channels * factor, 6))

    async def transcribe(self, principal: Principal, request: STTInput) -> dict[str, Any]:
        engine, channels, rate, duration = await self._prepare(request)
        charge = await self._credits.charge(
            principal,
            self._cost(request, duration, len(channels)),
            model_id=request.model_id,
            product="speech_to_text",
        )
        try:
            transcription_id = uuid.uuid4().hex[:20]
            try:
                body = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._recognise, engine, channels, rate, duration, request,
                    transcription_id,
                )  # fmt: skip
            except _UNAVAILABLE as exc:  # a model that failed to load on first use
                raise EngineMissing(f"Speech to text is not available: {exc}") from None
            if request.enable_logging:
                await self._store(principal, request.model_id, body, duration)
        except BaseException:
            await asyncio.shield(self._credits.refund(charge))
            raise
        return body

    # -- recognition and enrichment (runs in the executor) --------------------------------------------

    def _recognise(
        self,
        engine: Any,
        channels: list[bytes],
        rate: int,
        duration: float,
        request: STTInput,
        transcription_id: str,
    ) -> dict[str, Any]:
        if not request.use_multi_channel:
            return self._finish(self._channel_items(engine, channels[0], rate, request, None), request,
                                duration, transcription_id, None)  # fmt: skip
        heard = [self._channel_items(engine, pcm, rate, request, i) for i, pcm in enumerate(channels)]
        if request.multichannel_output_style == "combined":
            items = sorted((item for _, items in heard for item in items), key=lambda item: item.start_s)
            language = heard[0][0]
            return self._finish((language, items), request, duration, transcription_id, None)
        return {
            "transcripts": [
                self._finish(h, request, duration, transcription_id, i) for i, h in enumerate(heard)
            ],
            "transcription_id": transcription_id,
            "audio_duration_secs": round(duration, 3),
        }

    def _channel_items(
        self, engine: Any, pcm: bytes, rate: int, request: STTInput, channel: int | None
    ) -> tuple[tuple[str, float], list[_Item]]:
        """Recognise one channel: ((language, probability), words and events in time order)."""
        import numpy as np

        from chorus.stt.audio_input import to_16k
        from chorus.stt.base import TranscribeOptions

        options = TranscribeOptions(language=request.language_code, keyterms=request.keyterms)
        transcript = engine.transcribe(pcm, rate, options)
        words = list(transcript.words)
        if request.no_verbatim:
            from chorus.stt.verbatim import clean_words

            words = clean_words(words)
        needs_audio = request.diarize or (request.tag_audio_events and not request.no_verbatim)
        samples = np.frombuffer(to_16k(pcm, rate), dtype="<i2") if needs_audio else None
        speakers: list[str | None] = [None] * len(words)
        if request.diarize and samples is not None:
            from chorus.stt.diarize import assign_speakers

            turns = self.diarizer.diarize(
                samples, None, request.num_speakers,
                None if request.num_speakers else request.diarization_threshold,
            )  # fmt: skip
            speakers = list(assign_speakers(words, turns)) if turns else ["speaker_0"] * len(words)
            if request.detect_speaker_roles:
                from chorus.stt.roles import assign_roles

                speakers = list(assign_roles([w.text for w in words], speakers))  # type: ignore[arg-type]
        items = [
            _Item(w.text, w.start_s, w.end_s, "word", min(0.0, float(w.logprob)), s, channel)
            for w, s in zip(words, speakers, strict=True)
        ]
        # no_verbatim drops non-speech sounds too (the spec says so).
        if request.tag_audio_events and not request.no_verbatim and samples is not None:
            # Where words were heard counts as speech too when the tagger looks for pauses.
            heard = [(w.start_s, w.end_s) for w in words]
            for event in self.tagger.detect(samples, heard):
                speaker = _speaker_at(items, event.start_s, event.end_s) if request.diarize else None
                logprob = math.log(max(1e-6, min(1.0, float(event.confidence))))
                items.append(_Item(event.text, event.start_s, event.end_s, "audio_event", logprob, speaker,
                                   channel))  # fmt: skip
            items.sort(key=lambda item: (item.start_s, item.type != "word"))
        return (transcript.language, float(transcript.language_probability)), items

    def _finish(
        self,
        heard: tuple[tuple[str, float], list[_Item]],
        request: STTInput,
        duration: float,
        transcription_id: str,
        channel: int | None,
    ) -> dict[str, Any]:
        """Shape one transcript, then entities, redaction and exports (exports see the redacted text)."""
        (language, probability), items = heard
        body = shape_items(
            items, language, probability, request.timestamps_granularity, duration, transcription_id
        )
        body["channel_index"] = channel
        if request.entity_detection:
            from chorus.stt.entities import detect_entities, redact

            detect = frozenset(request.entity_detection)
            entities = detect_entities(body["text"], detect)
            if request.entity_redaction:
                body = redact(body, entities, frozenset(request.entity_redaction),
                              request.entity_redaction_mode, detect_types=detect)  # fmt: skip
            else:
                body["entities"] = entities
        if request.additional_formats:
            from chorus.stt.exports import ExportRequest, render_exports

            body["additional_formats"] = render_exports(
                body, [ExportRequest(**options) for options in request.additional_formats]
            )
        return body

    async def _store(
        self, principal: Principal, model_id: str, body: dict[str, Any], duration: float
    ) -> None:
        async with self._sessions() as session, session.begin():
            session.add(
                Transcript(
                    id=body["transcription_id"],
                    user_id=principal.user_id,
                    model_id=model_id,
                    body=body,
                    audio_duration_secs=duration,
                    created_at=time.time(),
                )
            )

    async def get(self, principal: Principal, transcription_id: str) -> dict[str, Any]:
        async with self._sessions() as session:
            row = await session.get(Transcript, transcription_id)
        if row is None or row.user_id != principal.user_id:
            raise NotFound(f"Transcript {transcription_id} was not found.", status="transcript_not_found")
        return dict(row.body)

    async def delete(self, principal: Principal, transcription_id: str) -> None:
        await self.get(principal, transcription_id)
        async with self._sessions() as session, session.begin():
            await session.execute(delete(Transcript).where(Transcript.id == transcription_id))

    # -- webhook=true: accepted at once, transcribed by a job, the result sent to webhooks ----------
    # Self-contained on purpose: the job runs the same ``transcribe`` as a direct request.

    def enable_webhooks(self, jobs: Any, webhooks: Any, blobs: Any) -> None:
        """Register the transcription job (``JobQueue``, ``WebhookService``, ``BlobStore``); the
        service container calls this once."""
        self._jobs, self._webhooks, self._blobs = jobs, webhooks, blobs
        jobs.registry.register(
            STT_WEBHOOK_JOB,
            self._run_webhook_job,
            max_attempts=self._settings.stt_webhook_max_attempts,
            on_failure=self._webhook_job_failed,
        )

    async def submit_webhook(
        self,
        principal: Principal,
        request: STTInput,
        *,
        request_id: str,
        webhook_id: str | None = None,
        webhook_metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Validate and charge now (so bad input is a 4xx and an empty quota a 401 now), keep the
        audio in the blob store, queue the job; returns the ``SpeechToTextWebhookResponseModel`` body."""
        from chorus.errors import ServiceUnavailable

        if getattr(self, "_jobs", None) is None:
            raise ServiceUnavailable("Webhook delivery is not configured on this server.")
        targets = await self._webhooks.resolve_targets(principal.user_id, "speech_to_text", webhook_id)
        # The checks ``transcribe`` makes before it charges, so the request fails now rather than later.
        _engine, channels, _rate, duration = await self._prepare(request)
        charge = await self._credits.charge(
            principal,
            self._cost(request, duration, len(channels)),
            model_id=request.model_id,
            product="speech_to_text",
        )
        job_id = uuid.uuid4().hex
        transcription_id = uuid.uuid4().hex[:20]
        blob_key = f"stt-webhook/{job_id}.bin"
        payload = {
            "transcription_id": transcription_id,
            "request_id": request_id,
            "blob_key": blob_key,
            "principal": {
                "user_id": principal.user_id,
                "key_id": principal.key_id,
                "hint": principal.key_hint,
            },
            "request": _request_fields(request),
            "charge": dataclasses.asdict(charge),
            "targets": targets,
            "webhook_metadata": webhook_metadata,
        }
        try:
            await self._blobs.put(blob_key, request.audio)
            await self._jobs.enqueue(STT_WEBHOOK_JOB, payload, user_id=principal.user_id, job_id=job_id)
        except BaseException:
            await asyncio.shield(self._credits.refund(charge))
            await asyncio.shield(self._blobs.delete(blob_key))
            raise
        return {"message": WEBHOOK_ACCEPTED, "request_id": request_id, "transcription_id": transcription_id}

    async def _run_webhook_job(self, ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
        import copy

        from chorus.errors import ChorusError
        from chorus.services.credits import Charge
        from chorus.services.jobs import PermanentFailure, RetryLater

        hint = payload["principal"]
        principal = Principal(hint["user_id"], hint["key_id"], hint["hint"], None, False, None, None)
        try:
            audio = await self._blobs.get(payload["blob_key"])
        except FileNotFoundError:
            raise PermanentFailure("the uploaded audio is no longer in the blob store") from None
        request = _request_from(payload["request"], audio)
        await ctx.check_cancelled()
        # The same code path as a direct request, with the charge already taken at submission.
        prepaid = copy.copy(self)
        prepaid._credits = _PrepaidCredits(Charge(**payload["charge"]))  # type: ignore[assignment]
        try:
            body = await prepaid.transcribe(principal, dataclasses.replace(request, enable_logging=False))
        except ChorusError as exc:
            if exc.http_status < 500:
                raise PermanentFailure(exc.message) from None
            raise RetryLater(exc.message) from None
        await ctx.progress(0.9)
        body["transcription_id"] = payload["transcription_id"]
        if request.enable_logging:
            await self._store_once(principal, request.model_id, body)
        data: dict[str, Any] = {"request_id": payload["request_id"], "transcription": body}
        if payload.get("webhook_metadata") is not None:
            data["webhook_metadata"] = payload["webhook_metadata"]
        event = {"type": STT_WEBHOOK_EVENT, "event_timestamp": int(time.time()), "data": data}
        # Keyed by this job, so a re-run after a crash here does not deliver twice.
        deliveries = await self._webhooks.publish(
            principal.user_id, payload["targets"], event, dedupe_key=ctx.job_id
        )
        await self._blobs.delete(payload["blob_key"])
        return {"transcription_id": payload["transcription_id"], "deliveries": deliveries}

    async def _webhook_job_failed(self, ctx: Any, payload: dict[str, Any], error: BaseException) -> None:
        """Final failure or cancellation: refund, drop the audio, and tell the webhooks."""
        from chorus.services.credits import Charge

        hint = payload["principal"]
        steps = (
            ("refund", lambda: self._credits.refund(Charge(**payload["charge"]))),
            ("audio clean-up", lambda: self._blobs.delete(payload["blob_key"])),
        )
        for name, step in steps:
            try:
                await step()
            except Exception:
                log.exception("speech-to-text job %s: %s failed", ctx.job_id, name)
        data: dict[str, Any] = {
            "request_id": payload["request_id"],
            "transcription_id": payload["transcription_id"],
            "transcription": None,
            "status": "failed",
            "error": str(error)[:1000] or type(error).__name__,
        }
        if payload.get("webhook_metadata") is not None:
            data["webhook_metadata"] = payload["webhook_metadata"]
        event = {"type": STT_WEBHOOK_EVENT, "event_timestamp": int(time.time()), "data": data}
        await self._webhooks.publish(
            hint["user_id"], payload["targets"], event, dedupe_key=f"{ctx.job_id}:failed"
        )

    async def _store_once(self, principal: Principal, model_id: str, body: dict[str, Any]) -> None:
        async with self._sessions() as session, session.begin():
            if await session.get(Transcript, body["transcription_id"]) is None:
                session.add(
                    Transcript(
                        id=body["transcription_id"],
                        user_id=principal.user_id,
                        model_id=model_id,
                        body=body,
                        audio_duration_secs=float(body.get("audio_duration_secs") or 0.0),
                        created_at=time.time(),
                    )
                )


@dataclass(frozen=True)
class _Item:
    """A word or an audio event of a transcript, before shaping."""

    text: str
    start_s: float
    end_s: float
    type: Literal["word", "audio_event"]
    logprob: float
    speaker_id: str | None = None
    channel_index: int | None = None


def _speaker_at(items: list[_Item], start: float, end: float) -> str | None:
    """The speaker of the word overlapping (or else nearest to) ``start``-``end``."""
    best, best_distance = None, math.inf
    for item in items:
        distance = max(item.start_s - end, start - item.end_s, 0.0)
        if distance < best_distance:
            best, best_distance = item.speaker_id, distance
    return best


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    from chorus.stt.base import STTUnavailable
    from chorus.stt.vad import VADUnavailable

    errors: list[type[BaseException]] = [STTUnavailable, VADUnavailable]
    try:
        from chorus.stt.speaker_embedding import EmbedderUnavailable

        errors.append(EmbedderUnavailable)
    except ImportError:  # pragma: no cover - the module is part of chorus
        pass
    return tuple(errors)


_UNAVAILABLE = _unavailable_errors()

# Languages written without spaces between words: no spacing tokens, text joined as is.
UNSPACED_LANGUAGES = frozenset({"zho", "jpn", "tha", "lao", "mya", "yue", "khm"})


def shape_response(
    transcript: Any, granularity: Granularity, duration: float, transcription_id: str
) -> dict[str, Any]:
    """The ``SpeechToTextChunkResponseModel`` body for an engine transcript (words only)."""
    items = [_Item(w.text, w.start_s, w.end_s, "word", min(0.0, float(w.logprob))) for w in transcript.words]
    return shape_items(
        items, transcript.language, float(transcript.language_probability), granularity, duration,
        transcription_id,
    )  # fmt: skip


def shape_items(
    items: list[_Item],
    language: str,
    language_probability: float,
    granularity: Granularity,
    duration: float,
    transcription_id: str,
) -> dict[str, Any]:
    """The ``SpeechToTextChunkResponseModel`` body: words and audio events in time order, interleaved with
    ``spacing`` tokens (which carry the preceding item's speaker and channel)."""
    timed = granularity != "none"
    code = iso639_3(language)
    spaced = code not in UNSPACED_LANGUAGES
    words: list[dict[str, Any]] = []
    previous: _Item | None = None
    for item in items:
        if previous is not None and spaced:
            spacing: dict[str, Any] = {
                "text": " ",
                "start": round(previous.end_s, 3) if timed else None,
                "end": round(max(previous.end_s, item.start_s), 3) if timed else None,
                "type": "spacing",
                "speaker_id": previous.speaker_id,
                "logprob": 0.0,
            }
            if previous.channel_index is not None:
                spacing["channel_index"] = previous.channel_index
            words.append(spacing)
        entry: dict[str, Any] = {
            "text": item.text,
            "start": round(item.start_s, 3) if timed else None,
            "end": round(item.end_s, 3) if timed else None,
            "type": item.type,
            "speaker_id": item.speaker_id,
            "logprob": item.logprob,
        }
        if item.channel_index is not None:
            entry["channel_index"] = item.channel_index
        if granularity == "character" and item.type == "word":
            step = (item.end_s - item.start_s) / max(1, len(item.text))
            entry["characters"] = [
                {
                    "text": ch,
                    "start": round(item.start_s + i * step, 3),
                    "end": round(item.start_s + (i + 1) * step, 3),
                }
                for i, ch in enumerate(item.text)
            ]
        words.append(entry)
        previous = item
    return {
        "language_code": code,
        "language_probability": float(language_probability),
        "text": (" " if spaced else "").join(item.text for item in items),
        "words": words,
        "channel_index": None,
        "additional_formats": None,
        "transcription_id": transcription_id,
        "entities": None,
        "audio_duration_secs": round(duration, 3),
    }


# -- webhook mode ---------------------------------------------------------------------------------

log = logging.getLogger("chorus.stt")
STT_WEBHOOK_JOB = "stt.webhook"
STT_WEBHOOK_EVENT = "speech_to_text_transcription"
WEBHOOK_ACCEPTED = "Request accepted. Transcription result will be sent to the webhook."


def _request_fields(request: STTInput) -> dict[str, Any]:
    """An STTInput without its audio, as JSON (tuples become lists)."""
    values = {}
    for item in dataclasses.fields(request):
        if item.name != "audio":
            value = getattr(request, item.name)
            values[item.name] = list(value) if isinstance(value, tuple) else value
    return values


def _request_from(values: dict[str, Any], audio: bytes) -> STTInput:
    kwargs: dict[str, Any] = {}
    for item in dataclasses.fields(STTInput):
        if item.name in values and item.name != "audio":
            value = values[item.name]
            if isinstance(value, list) and str(item.type).startswith("tuple"):
                value = tuple(value)
            kwargs[item.name] = value
    return STTInput(audio=audio, **kwargs)


class _PrepaidCredits:
    """Stands in for CreditService while a webhook job runs ``transcribe``: the request was charged
    when it was accepted, so the job must not charge again, and a failed attempt must not refund (the
    job may be retried; its final failure refunds once)."""

    def __init__(self, charge: Any) -> None:
        self._charge = charge

    async def charge(self, *_args: Any, **_kwargs: Any) -> Any:
        return self._charge

    async def refund(self, _charge: Any) -> None:
        return None
