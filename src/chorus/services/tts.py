"""Text to speech: validate, charge, synthesise with the voice's engine, encode once, record history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from chorus.audio.encode import encode_pcm
from chorus.audio.formats import OutputFormat
from chorus.engines.base import SynthesisRequest
from chorus.engines.registry import EngineRegistry
from chorus.errors import BadRequest, EngineMissing
from chorus.services.accounts import Principal
from chorus.services.catalogue import ModelCatalogue
from chorus.services.credits import CreditService
from chorus.services.history import HistoryService, NewHistoryItem
from chorus.services.voices import VoiceService, merge_settings, validate_settings


@dataclass(frozen=True)
class TTSInput:
    text: str
    model_id: str
    voice_settings: dict[str, Any] | None
    language_code: str | None
    seed: int | None
    output_format: OutputFormat
    output_format_name: str
    enable_logging: bool
    request_id: str | None


@dataclass(frozen=True)
class TTSResult:
    audio: bytes
    media_type: str
    character_cost: int
    history_item_id: str | None


class TTSService:
    def __init__(
        self,
        engines: EngineRegistry,
        catalogue: ModelCatalogue,
        voices: VoiceService,
        credits: CreditService,
        history: HistoryService,
    ) -> None:
        self._engines = engines
        self._catalogue = catalogue
        self._voices = voices
        self._credits = credits
        self._history = history

    async def convert(self, principal: Principal, voice_id: str, request: TTSInput) -> TTSResult:
        text = request.text
        if not text.strip():
            raise BadRequest("text must contain at least one non-whitespace character.", status="empty_text")
        spec = self._catalogue.get(request.model_id)
        if len(text) > spec.max_characters:
            raise BadRequest(
                f"You are sending {len(text)} characters in a single request, but the maximum allowed for "
                f"{spec.model_id} is {spec.max_characters}.",
                status="max_character_limit_exceeded",
            )
        resolved = await self._voices.resolve(principal, voice_id)
        voice = resolved.voice
        if spec.engines is not None and voice.engine not in spec.engines:
            raise BadRequest(
                f"Model {spec.model_id} cannot speak with voice {voice.voice_id} ({voice.engine} engine); "
                f"use one of its engines' voices ({', '.join(spec.engines)}) or an eleven_* model.",
                status="voice_not_supported_by_model",
            )
        engine = self._engines.get(voice.engine)
        if engine is None or not engine.available():
            reason = engine.unavailable_reason() if engine else f"engine {voice.engine!r} is not configured"
            raise EngineMissing(f"The {voice.engine} engine is not available: {reason}")
        settings = merge_settings(resolved.settings, request.voice_settings)
        validate_settings(settings)

        charge = await self._credits.charge(principal, len(text), model_id=spec.model_id, voice_id=voice_id)
        try:
            synthesis = SynthesisRequest(
                text=text,
                native_voice=voice.native_voice,
                language=request.language_code,
                speed=float(settings["speed"]),
                stability=float(settings["stability"]),
                style=float(settings["style"]),
                seed=request.seed,
            )
            audio = await asyncio.to_thread(self._render, engine, synthesis, request.output_format)
            history_id = None
            if request.enable_logging:
                history_id = await self._history.record(
                    principal,
                    NewHistoryItem(
                        request_id=request.request_id,
                        voice_id=voice.voice_id,
                        voice_name=voice.name,
                        voice_category=voice.category,
                        model_id=spec.model_id,
                        text=text,
                        settings=settings,
                        count_from=charge.count_from,
                        count_to=charge.count_to,
                        content_type=request.output_format.media_type,
                        output_format=request.output_format_name,
                        file_extension=request.output_format.file_extension,
                    ),
                    audio,
                )
        except BaseException:
            await asyncio.shield(self._credits.refund(charge))
            raise
        return TTSResult(audio, request.output_format.media_type, charge.credits, history_id)

    @staticmethod
    def _render(engine: Any, synthesis: SynthesisRequest, fmt: OutputFormat) -> bytes:
        chunks = list(engine.synthesize(synthesis))
        if not chunks:
            source = engine.output_format()
            return encode_pcm(b"", source, fmt)
        source = chunks[0].format
        return encode_pcm(b"".join(c.pcm for c in chunks), source, fmt)
