"""Text to speech use cases: validate, charge, render in a worker thread, record history.

``TTSService.start`` does everything that can fail cheaply (model, voice, engine, settings, credits)
before any audio exists, and returns a :class:`SynthesisJob` whose chunks the edge encodes and sends.
The edge calls ``finish`` with the encoded audio (history) or ``abort`` (refund) at the end.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from chorus.engines.base import EngineVoice, PCMFormat, TTSEngine
from chorus.engines.registry import EngineRegistry
from chorus.errors import BadRequest, EngineMissing
from chorus.services.accounts import Principal
from chorus.services.alignment import CharAlignment
from chorus.services.catalogue import ModelCatalogue, ModelSpec
from chorus.services.credits import Charge, CreditService
from chorus.services.history import HistoryService, NewHistoryItem
from chorus.services.render import RenderedChunk, RenderPlan, render
from chorus.services.threads import iterate_in_thread, run_ahead
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
    timestamps: bool = True  # chunks carry character times (the routes that return them)


class FirstAudioFirst:
    """Scheduling between concurrent generations: jobs that have no audio out yet go first.

    The work before a stream's first byte (authentication, the charge, synthesising, processing and
    encoding its first clause) shares the CPUs and the GIL with the streams already running; served in
    arrival order, each request of a burst waits for the others' whole sentences. So a job that has
    produced audio gives way before each further engine call while another admitted job has none yet:
    it waits for them (at most ``max_wait_s``) only as long as the audio it has produced stays more than
    ``keep_s`` ahead of real time. A streaming client never runs dry for it, the work done is the same,
    and the first audio of every stream in a burst leaves sooner.
    """

    def __init__(self, max_wait_s: float = 0.25, keep_s: float = 0.2) -> None:
        self.max_wait_s = max_wait_s
        self.keep_s = keep_s
        self._cond = threading.Condition()
        self._waiting = 0  # admitted jobs without audio yet

    def admit(self) -> _Admission:
        """A job starts: it counts as waiting for its first audio until the admission is released."""
        with self._cond:
            self._waiting += 1
        return _Admission(self)

    @property
    def waiting(self) -> int:
        return self._waiting

    def _released(self) -> None:
        with self._cond:
            self._waiting -= 1
            if self._waiting == 0:
                self._cond.notify_all()

    def pace(self, ahead_s: float) -> None:
        """Called by a job with audio out and ``ahead_s`` seconds of it not yet due: give way (blocks)."""
        timeout = min(self.max_wait_s, ahead_s - self.keep_s)
        if timeout <= 0 or not self._waiting:
            return
        with self._cond:
            self._cond.wait_for(lambda: self._waiting == 0, timeout)


class _Admission:
    """One job's place among those waiting for first audio; :meth:`release` is idempotent."""

    def __init__(self, gate: FirstAudioFirst) -> None:
        self._gate = gate
        self._lock = threading.Lock()
        self._open = True

    def release(self) -> None:
        with self._lock:
            if not self._open:
                return
            self._open = False
        self._gate._released()


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
        admission: _Admission | None = None,
    ) -> None:
        self._service = service
        self._admission = admission
        if admission is not None:
            # However the job ends (or is dropped unfinished), it stops holding the others back.
            weakref.finalize(self, admission.release)
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
        """Rendered chunks with ``encode(chunk.pcm)``, computed in worker threads (see :func:`run_ahead`).

        Encoding there (not on the event loop) lets streams encode in parallel and keeps the loop free.
        Once its first audio is out, the job gives way to newer jobs between engine calls
        (:class:`FirstAudioFirst`).
        """
        gate = self._service.first_audio
        first_audio_at: float | None = None

        def pace(rendered_s: float) -> None:
            if first_audio_at is not None:
                gate.pace(rendered_s - (time.monotonic() - first_audio_at))

        def may_start_ahead() -> bool:
            # Idle engine workers may synthesise this job's next sentences unless another job still waits
            # for its first audio (until its own first audio, this job is one of those waiting).
            return gate.waiting <= (1 if first_audio_at is None else 0)

        def produce(stop: Callable[[], bool]) -> Iterator[tuple[RenderedChunk, bytes]]:
            nonlocal first_audio_at
            # Rendering runs ahead in a thread of its own past the first chunks, so a long text is encoded
            # (LAME releases the GIL) while the next sentence's effects are computed.
            for chunk in run_ahead(render(self.plan, stop, pace, may_start_ahead), inline=3):
                data = encode(chunk.pcm)
                if first_audio_at is None and chunk.pcm:
                    first_audio_at = time.monotonic()
                    self._release()
                yield chunk, data
            self._release()

        return iterate_in_thread(self._service.executor, produce)

    def _release(self) -> None:
        if self._admission is not None:
            self._admission.release()

    async def finish(
        self, audio: bytes, alignment: CharAlignment | None = None, normalized: CharAlignment | None = None
    ) -> str | None:
        """Record the generation in history (when logging is on). Call once, after the last chunk."""
        self._settled = True
        self._release()
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
        self._release()
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
        self.first_audio = FirstAudioFirst()
        # (engine name, engine voice) -> median F0 of that voice as it speaks unmodified; saved voices whose
        # transform sets a pitch need it (the container plugs in the voice-lab measurement, which caches).
        self.base_f0: Callable[[str, str], float | None] | None = None
        # The neural cloning engine (a chorus.voicelab.tone_color.ToneColorProvider), when configured:
        # clones with a tone color are re-voiced by it while it is installed.
        self.tone: Any = None

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def start(self, principal: Principal, voice_id: str, request: TTSInput) -> SynthesisJob:
        admission = self.first_audio.admit()
        try:
            return await self._start(principal, voice_id, request, admission)
        except BaseException:
            admission.release()
            raise

    async def _start(
        self, principal: Principal, voice_id: str, request: TTSInput, admission: _Admission
    ) -> SynthesisJob:
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
        return SynthesisJob(self, principal, request, spec, resolved.voice, plan, charge, admission)

    def _tier_voice(self, spec: ModelSpec, voice: Voice, language: str | None) -> tuple[TTSEngine, str]:
        """The voice to speak ``voice`` with on a model whose engines (``model_engines``) exclude its own.

        An ``eleven_*`` tier takes any voice, as on ElevenLabs: the tier's first available engine speaks
        with its voice closest to ``voice`` (the language asked for, then the same gender), and a saved
        voice's transform is applied on top as usual. Chorus' engine model ids (``chorus_flite``...) name
        an engine outright, so a voice of another engine is refused there.
        """
        if not spec.model_id.startswith("eleven_"):
            raise BadRequest(
                f"Model {spec.model_id} cannot speak with voice {voice.voice_id} ({voice.engine} engine); "
                f"use one of its engines' voices ({', '.join(spec.engines or ())}) or an eleven_* model.",
                status="voice_not_supported_by_model",
            )
        code = _language_code(language or (voice.labels or {}).get("language") or "en")
        gender = (voice.labels or {}).get("gender")
        missing: list[str] = []
        for name in spec.engines or ():
            engine = self.engines.get(name)
            if engine is None or not engine.available():
                missing.append(
                    engine.unavailable_reason() or name if engine else f"{name!r} is not configured"
                )
                continue
            voices = engine.voices()
            match = _closest_voice([v for v in voices if v.language == code] or voices, gender)
            if match is not None:
                return engine, match.native_id
        raise EngineMissing(
            f"Model {spec.model_id} is configured for the {', '.join(spec.engines or ())} engine(s), and "
            f"none is available: {'; '.join(missing) or 'no voices'}"
        )

    def _for_language(self, engine: TTSEngine, voice: Voice, language: str) -> tuple[TTSEngine, str]:
        """Keep the voice's engine if it speaks ``language``; else the closest voice of one that does.

        The multilingual tiers promise every installed language: a flite voice asked for German
        speaks through an eSpeak NG voice of the same gender instead of ignoring the language.
        """
        code = _language_code(language)
        if code in engine.capabilities().languages:
            return engine, voice.native_voice
        gender = (voice.labels or {}).get("gender")
        for candidate in self.engines.available():
            if candidate is engine or code not in candidate.capabilities().languages:
                continue
            match = _closest_voice(candidate.voices(), gender)
            if match is not None:
                return candidate, match.native_id
        return engine, voice.native_voice

    def plan(self, spec: ModelSpec, resolved: ResolvedVoice, request: TTSInput) -> RenderPlan:
        voice = resolved.voice
        language = request.language_code
        if spec.engines is not None and voice.engine not in spec.engines:
            engine, native_voice = self._tier_voice(spec, voice, language)
        else:
            found = self.engines.get(voice.engine)
            if found is None or not found.available():
                reason = found.unavailable_reason() if found else f"engine {voice.engine!r} is not configured"
                raise EngineMissing(f"The {voice.engine} engine is not available: {reason}")
            engine, native_voice = found, voice.native_voice
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
        tone = None
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
            same_base = engine_name == voice.engine and native_voice == voice.native_voice
            if transform.tone_color and same_base and self.tone is not None:
                tone = self.tone.get  # loads the converter on first use, in the worker thread
        return RenderPlan(
            tone=tone,
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
            timestamps=request.timestamps,
        )


def _language_code(tag: str) -> str:
    """The language part of a tag: ``en-US`` and ``en_gb`` -> ``en``."""
    return tag.split("-")[0].split("_")[0].lower()


def _closest_voice(voices: list[EngineVoice], gender: str | None) -> EngineVoice | None:
    """The first of ``voices`` of ``gender``, else the first; None when there are none."""
    return next((v for v in voices if v.gender == gender), voices[0] if voices else None)
