"""Text to speech use cases: validate, charge, render in a worker thread, record history.

``TTSService.start`` does everything that can fail cheaply (model, voice, engine, settings, credits)
before any audio exists, and returns a :class:`SynthesisJob` whose chunks the edge encodes and sends.
The edge calls ``finish`` with the encoded audio (history) or ``abort`` (refund) at the end.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from chorus.engines.base import PCMFormat, TTSEngine
from chorus.engines.registry import EngineRegistry
from chorus.errors import BadRequest, EngineMissing
from chorus.services.accounts import Principal
from chorus.services.alignment import CharAlignment
from chorus.services.catalogue import ModelCatalogue, ModelSpec
from chorus.services.credits import Charge, CreditService
from chorus.services.history import HistoryService, NewHistoryItem
from chorus.services.render import RenderedChunk, RenderPlan, render
from chorus.services.threads import iterate_in_thread
from chorus.services.voices import ResolvedVoice, VoiceService, merge_settings, validate_settings
from chorus.storage.models import Voice

Normalization = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class TTSInput:
    text: str
    model_id: str
    voice_settings: dict[str, Any] | None = None
    language_code: str | None = None
    seed: int | None = None
    output_format_name: str = "mp3_44100_128"
    content_type: str = "audio/mpeg"
    file_extension: str = "mp3"
    enable_logging: bool = True
    request_id: str | None = None
    apply_text_normalization: Normalization = "auto"
    optimize_streaming_latency: int | None = None
    enable_ssml_parsing: bool = True


class SynthesisJob:
    """One paid-for synthesis: iterate ``chunks()`` once, then ``finish`` or ``abort``."""

    def __init__(
        self,
        service: TTSService,
        principal: Principal,
        request: TTSInput,
        spec: ModelSpec,
        voice: Voice,
        plan: RenderPlan,
        charge: Charge,
    ) -> None:
        self._service = service
        self._principal = principal
        self._request = request
        self._charge = charge
        self._settled = False
        self.spec = spec
        self.voice = voice
        self.plan = plan
        self.pcm_format: PCMFormat = plan.engine.output_format()
        self.character_cost = charge.credits
        # Known before any audio so streamed responses can name it in their headers.
        self.history_item_id: str | None = uuid.uuid4().hex[:20] if request.enable_logging else None

    def chunks(self, encode: Callable[[bytes], bytes]) -> AsyncIterator[tuple[RenderedChunk, bytes]]:
        """Rendered chunks with ``encode(chunk.pcm)``, both computed in a worker thread.

        Encoding there (not on the event loop) lets streams encode in parallel and keeps the loop free.
        """

        def produce(stop: Callable[[], bool]) -> Iterator[tuple[RenderedChunk, bytes]]:
            for chunk in render(self.plan, stop):
                yield chunk, encode(chunk.pcm)

        return iterate_in_thread(self._service.executor, produce)

    async def finish(
        self, audio: bytes, alignment: CharAlignment | None = None, normalized: CharAlignment | None = None
    ) -> str | None:
        """Record the generation in history (when logging is on). Call once, after the last chunk."""
        self._settled = True
        if self.history_item_id is None:
            return None
        request = self._request
        await self._service.history.record(
            self._principal,
            NewHistoryItem(
                request_id=request.request_id,
                voice_id=self.voice.voice_id,
                voice_name=self.voice.name,
                voice_category=self.voice.category,
                model_id=self.spec.model_id,
                text=request.text,
                settings=self.plan.settings,
                count_from=self._charge.count_from,
                count_to=self._charge.count_to,
                content_type=request.content_type,
                output_format=request.output_format_name,
                file_extension=request.file_extension,
            ),
            audio,
            history_id=self.history_item_id,
            alignments=(
                {"alignment": alignment.to_http(), "normalized_alignment": normalized.to_http()}
                if alignment is not None and normalized is not None
                else None
            ),
        )
        return self.history_item_id

    async def abort(self) -> None:
        """Give the credits back: the client got no complete result."""
        if not self._settled:
            self._settled = True
            await asyncio.shield(self._service.credits.refund(self._charge))


class TTSService:
    def __init__(
        self,
        engines: EngineRegistry,
        catalogue: ModelCatalogue,
        voices: VoiceService,
        credits: CreditService,
        history: HistoryService,
        *,
        max_threads: int = 64,
    ) -> None:
        self.engines = engines
        self.catalogue = catalogue
        self.voices = voices
        self.credits = credits
        self.history = history
        # Engine calls block (C code, worker-process pipes): a dedicated pool, sized for many streams.
        self.executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="chorus-tts")
        # (engine name, engine voice) -> median F0 of that voice as it speaks unmodified; saved voices whose
        # transform sets a pitch need it (the container plugs in the voice-lab measurement, which caches).
        self.base_f0: Callable[[str, str], float | None] | None = None

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def start(self, principal: Principal, voice_id: str, request: TTSInput) -> SynthesisJob:
        text = request.text
        if not text.strip():
            raise BadRequest("text must contain at least one non-whitespace character.", status="empty_text")
        spec = self.catalogue.get(request.model_id)
        if len(text) > spec.max_characters:
            raise BadRequest(
                f"You are sending {len(text)} characters in a single request, but the maximum allowed for "
                f"{spec.model_id} is {spec.max_characters}.",
                status="max_character_limit_exceeded",
            )
        resolved = await self.voices.resolve(principal, voice_id)
        plan = self.plan(spec, resolved, request)
        charge = await self.credits.charge(principal, len(text), model_id=spec.model_id, voice_id=voice_id)
        return SynthesisJob(self, principal, request, spec, resolved.voice, plan, charge)

    def _for_language(self, engine: TTSEngine, voice: Voice, language: str) -> tuple[TTSEngine, str]:
        """Keep the voice's engine if it speaks ``language``; else the closest voice of one that does.

        The multilingual tiers promise every installed language: a flite voice asked for German
        speaks through an eSpeak NG voice of the same gender instead of ignoring the language.
        """
        code = language.split("-")[0].split("_")[0].lower()
        if code in engine.capabilities().languages:
            return engine, voice.native_voice
        gender = (voice.labels or {}).get("gender")
        for candidate in self.engines.available():
            if candidate is engine or code not in candidate.capabilities().languages:
                continue
            voices = candidate.voices()
            match = next((v for v in voices if v.gender == gender), voices[0] if voices else None)
            if match is not None:
                return candidate, match.native_id
        return engine, voice.native_voice

    def plan(self, spec: ModelSpec, resolved: ResolvedVoice, request: TTSInput) -> RenderPlan:
        voice = resolved.voice
        if spec.engines is not None and voice.engine not in spec.engines:
            raise BadRequest(
                f"Model {spec.model_id} cannot speak with voice {voice.voice_id} ({voice.engine} engine); "
                f"use one of its engines' voices ({', '.join(spec.engines)}) or an eleven_* model.",
                status="voice_not_supported_by_model",
            )
        engine = self.engines.get(voice.engine)
        if engine is None or not engine.available():
            reason = engine.unavailable_reason() if engine else f"engine {voice.engine!r} is not configured"
            raise EngineMissing(f"The {voice.engine} engine is not available: {reason}")
        native_voice = voice.native_voice
        language = request.language_code
        if language and spec.engines is None:
            engine, native_voice = self._for_language(engine, voice, language)
        settings = merge_settings(resolved.settings, request.voice_settings)
        validate_settings(settings)
        normalization: Normalization = request.apply_text_normalization
        if request.optimize_streaming_latency == 4:
            # ElevenLabs' level 4 is "max latency optimisations, text normaliser off".
            normalization = "off"
        transform = None
        base_f0 = None
        if voice.transform:
            from chorus.voicelab.voice_model import VoiceTransform

            transform = VoiceTransform.from_json(voice.transform)
            measure, engine_name, voice_name = (
                self.base_f0,
                getattr(engine, "name", voice.engine),
                native_voice,
            )
            if measure is not None:
                base_f0 = lambda: measure(engine_name, voice_name)  # noqa: E731 - runs in the worker
        return RenderPlan(
            transform=transform,
            base_f0=base_f0,
            text=request.text,
            engine=engine,
            native_voice=native_voice,
            language=language,
            settings=settings,
            seed=request.seed,
            normalization=normalization,
            audio_tags=spec.model_id == "eleven_v3",
            ssml=request.enable_ssml_parsing,
            early_first_chunk=spec.model_id == "eleven_flash_v2_5"
            or (request.optimize_streaming_latency or 0) >= 1,
        )
