"""Speech to text use cases: decode any input, charge by duration, recognise, shape the response, keep it.

Response shape (``SpeechToTextChunkResponseModel``): words interleaved with ``spacing`` tokens, per-word
``logprob`` (<= 0), optional per-character times, ISO 639-3 ``language_code``.
"""

from __future__ import annotations

import asyncio
import json
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


@dataclass(frozen=True)
class STTInput:
    audio: bytes
    model_id: str
    file_format: Literal["pcm_s16le_16", "other"] = "other"
    language_code: str | None = None
    timestamps_granularity: Granularity = "word"
    keyterms: tuple[str, ...] = ()
    enable_logging: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


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
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        credits: CreditService,
        settings: Settings,
        engine: Any,
        executor: ThreadPoolExecutor,
    ) -> None:
        self._sessions = sessions
        self._credits = credits
        self._settings = settings
        self._engine = engine
        self._executor = executor

    async def transcribe(self, principal: Principal, request: STTInput) -> dict[str, Any]:
        from chorus.stt.audio_input import UndecodableAudio, decode_any
        from chorus.stt.base import TranscribeOptions

        if request.model_id not in STT_MODELS:
            raise BadRequest(
                f"model_id must be one of {', '.join(STT_MODELS)}, got {request.model_id!r}.",
                status="invalid_model_id",
            )
        engine = self._engine
        if engine is None or not engine.available():
            reason = (
                engine.unavailable_reason() if engine is not None else "no speech-to-text engine configured"
            )
            raise EngineMissing(f"Speech to text is not available: {reason}")
        language = request.language_code
        if language:
            capabilities = engine.capabilities()
            supported = capabilities.languages
            if not capabilities.supports_language(language):
                raise BadRequest(
                    f"language_code {language!r} is not supported by the installed speech-to-text engine "
                    f"(it transcribes: {', '.join(supported)}). Install a multilingual engine such as "
                    "faster-whisper, or omit language_code.",
                    status="unsupported_language",
                )
        loop = asyncio.get_running_loop()
        if request.file_format == "pcm_s16le_16":
            pcm, rate = request.audio[: len(request.audio) // 2 * 2], 16000
        else:
            try:
                pcm, rate = await loop.run_in_executor(self._executor, decode_any, request.audio)
            except UndecodableAudio as exc:
                raise BadRequest(
                    f"The file could not be decoded as audio: {exc}", status="invalid_audio"
                ) from None
        duration = len(pcm) / 2 / rate
        if duration < MIN_AUDIO_SECONDS:
            raise BadRequest("The audio must be at least 100 ms long.", status="audio_too_short")
        charge = await self._credits.charge(
            principal,
            max(1, math.ceil(duration)),
            model_id=request.model_id,
            product="speech_to_text",
        )
        try:
            options = TranscribeOptions(language=language, keyterms=request.keyterms)
            transcript = await loop.run_in_executor(self._executor, engine.transcribe, pcm, rate, options)
            transcription_id = uuid.uuid4().hex[:20]
            body = shape_response(transcript, request.timestamps_granularity, duration, transcription_id)
            if request.enable_logging:
                await self._store(principal, request.model_id, body, duration)
        except BaseException:
            await asyncio.shield(self._credits.refund(charge))
            raise
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


def shape_response(
    transcript: Any, granularity: Granularity, duration: float, transcription_id: str
) -> dict[str, Any]:
    """The ``SpeechToTextChunkResponseModel`` body for an engine transcript."""
    timed = granularity != "none"
    words: list[dict[str, Any]] = []
    previous_end: float | None = None
    for word in transcript.words:
        if words:
            words.append(
                {
                    "text": " ",
                    "start": round(previous_end, 3) if timed and previous_end is not None else None,
                    "end": round(word.start_s, 3) if timed else None,
                    "type": "spacing",
                    "speaker_id": None,
                    "logprob": 0.0,
                }
            )
        item: dict[str, Any] = {
            "text": word.text,
            "start": round(word.start_s, 3) if timed else None,
            "end": round(word.end_s, 3) if timed else None,
            "type": "word",
            "speaker_id": None,
            "logprob": min(0.0, float(word.logprob)),
        }
        if granularity == "character":
            step = (word.end_s - word.start_s) / max(1, len(word.text))
            item["characters"] = [
                {
                    "text": ch,
                    "start": round(word.start_s + i * step, 3),
                    "end": round(word.start_s + (i + 1) * step, 3),
                }
                for i, ch in enumerate(word.text)
            ]
        words.append(item)
        previous_end = word.end_s
    return {
        "language_code": iso639_3(transcript.language),
        "language_probability": float(transcript.language_probability),
        "text": transcript.text,
        "words": words,
        "channel_index": None,
        "additional_formats": None,
        "transcription_id": transcription_id,
        "entities": None,
        "audio_duration_secs": round(duration, 3),
    }
