"""Speech to speech (voice changer): the input's words and timing, the target voice's voice.

Method (:mod:`chorus.voicelab.conversion`, the same frame-bank DSP that renders clones):

1. **Target.** A voice is a base engine voice plus a transform. A clone's transform already holds its
   speaker's spectral frames (``frames``); its median F0 is the speaker's as measured on the samples. For
   any other voice (premade, designed, remixed) the voice reads the clone calibration text and
   ``TARGET_TEXTS`` preview texts (about a minute) through the normal render path (transform included)
   once, and its speech (pauses cut) becomes the frame bank; its median F0 is measured on the same audio.
   Targets are cached per voice and transform.
2. **Source.** The input is decoded (any container, or raw 16 kHz s16le with ``file_format=pcm_s16le_16``),
   processed at its own rate up to ``MAX_RATE``, optionally isolated (``remove_background_noise``), and
   its speech (pauses cut) and median F0 are measured.
3. **Conversion** (:func:`~chorus.voicelab.conversion.conversion_transform`): WORLD moves the input's median
   F0 to the target's (intonation and timing kept), each frame's envelope moves toward its nearest target
   frame after a vocal-tract warp chosen on the input. Then the voice settings' effects (speaker boost
   loudness, similarity, style: :class:`chorus.audio.effects.EffectChain`), then encoding once at the
   edge's format.

Pricing: ElevenLabs' voice changer costs 1000 credits per minute of input audio; charged pro rata
(``ceil(seconds * 1000 / 60)``, at least 1) before the work and refunded if it fails or a stream is
abandoned.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from chorus.audio.effects import EffectChain, EffectSettings
from chorus.audio.encode import StreamEncoder
from chorus.audio.formats import OutputFormat
from chorus.engines.base import PCMFormat
from chorus.engines.registry import EngineRegistry
from chorus.errors import BadRequest, EngineMissing
from chorus.services.accounts import Principal
from chorus.services.credits import Charge, CreditService
from chorus.services.history import HistoryService, NewHistoryItem
from chorus.services.threads import iterate_in_thread
from chorus.services.voices import VoiceService, merge_settings, validate_settings
from chorus.storage.models import Voice
from chorus.voicelab.conversion import (
    ConversionTarget,
    SourceSpeech,
    analyse_source,
    conversion_transform,
    target_from_speech,
)
from chorus.voicelab.voice_model import VoiceTransform

log = logging.getLogger("chorus")

MODELS = ("eleven_english_sts_v2", "eleven_multilingual_sts_v2")
PRODUCT = "speech_to_speech"
CREDITS_PER_MINUTE = 1000
MIN_AUDIO_SECONDS = 0.1
MIN_SPEECH_SECONDS = 0.3
MAX_AUDIO_SECONDS = 600.0
MAX_RATE = 24_000  # the target frames describe 0-8 kHz; more rate only costs
STEP_SECONDS = 1.0  # input converted per step of a stream
TARGET_TEXTS = 6  # preview texts a non-clone target voice reads (with the calibration text) for its frames

FileFormat = Literal["pcm_s16le_16", "other"]


def sts_credits(duration_s: float) -> int:
    """Credits for ``duration_s`` seconds of input: 1000 per minute, pro rata, at least 1."""
    return max(1, math.ceil(duration_s * CREDITS_PER_MINUTE / 60 - 1e-9))


@dataclass(frozen=True)
class STSInput:
    audio: bytes
    model_id: str = "eleven_english_sts_v2"
    voice_settings: dict[str, Any] | None = None
    seed: int | None = None
    remove_background_noise: bool = False
    file_format: FileFormat = "other"
    # History (source "STS"), as for TTS: kept unless enable_logging is false.
    enable_logging: bool = True
    request_id: str | None = None
    output_format_name: str = "mp3_44100_128"
    content_type: str = "audio/mpeg"
    file_extension: str = "mp3"


@dataclass(frozen=True)
class _Source:
    samples: np.ndarray  # float32 mono at ``rate`` (isolated when asked)
    rate: int
    speech: SourceSpeech


class STSJob:
    """A charged, analysed request; :meth:`chunks` converts and encodes it, :meth:`abort` refunds it."""

    def __init__(
        self,
        service: SpeechToSpeechService,
        source: _Source,
        target: ConversionTarget,
        transform: VoiceTransform,
        settings: dict[str, Any],
        seed: int,
        charge: Charge,
        *,
        principal: Principal | None = None,
        voice: Voice | None = None,
        request: STSInput | None = None,
        tone: tuple[Any, tuple[float, ...], tuple[float, ...]] | None = None,
    ) -> None:
        self._service = service
        # (converter, target's tone color, input's): the neural converter re-voices the input (convert_pcm).
        self.tone = tone
        self.source = source
        self.target = target
        self._transform = transform
        self.settings = settings
        self.seed = seed
        self.charge = charge
        self._settled = False
        self._principal, self._voice, self._request = principal, voice, request
        # Known before any audio, so streamed responses can name it in their headers.
        keep = request is not None and request.enable_logging and service.history is not None
        self.history_item_id: str | None = uuid.uuid4().hex[:20] if keep else None

    @property
    def credits(self) -> int:
        return self.charge.credits

    @property
    def duration_s(self) -> float:
        return self.source.samples.size / self.source.rate

    def transform(self) -> VoiceTransform:
        return self._transform

    def chunks(self, fmt: OutputFormat) -> AsyncIterator[bytes]:
        """Encoded output in ``fmt``, converted in a worker thread step by step (back-pressured)."""
        source, settings, seed = self.source, self.settings, self.seed
        transform, tone = self.transform(), self.tone

        def produce(should_stop: Callable[[], bool]) -> Iterator[bytes]:
            encoder = StreamEncoder(PCMFormat(source.rate), fmt)
            for pcm in convert_pcm(source, transform, settings, seed, should_stop, tone=tone):
                data = encoder.feed(pcm)
                if data:
                    yield data
            if should_stop():
                return
            data = encoder.flush()
            if data:
                yield data

        return iterate_in_thread(self._service.executor, produce)

    async def render(self, fmt: OutputFormat) -> bytes:
        """The whole output in ``fmt``; refunds and re-raises on failure."""
        parts: list[bytes] = []
        try:
            async for data in self.chunks(fmt):
                parts.append(data)
        except BaseException:
            await self.abort()
            raise
        audio = b"".join(parts)
        await self.finish(audio)
        return audio

    async def finish(self, audio: bytes) -> None:
        """The whole output was delivered: the charge stands, and ``audio`` goes to history (if logging)."""
        self._settled = True
        history, request, voice = self._service.history, self._request, self._voice
        if self.history_item_id is None or history is None or request is None or voice is None:
            return
        assert self._principal is not None
        await history.record(
            self._principal,
            NewHistoryItem(
                request_id=request.request_id,
                voice_id=voice.voice_id,
                voice_name=voice.name,
                voice_category=voice.category,
                model_id=request.model_id,
                text="",
                settings=self.settings,
                count_from=self.charge.count_from,
                count_to=self.charge.count_to,
                content_type=request.content_type,
                output_format=request.output_format_name,
                file_extension=request.file_extension,
                source="STS",
            ),
            audio,
            history_id=self.history_item_id,
        )

    async def abort(self) -> None:
        if self._settled:
            return
        self._settled = True
        await asyncio.shield(self._service.credits.refund(self.charge))


def convert_pcm(
    source: _Source,
    transform: VoiceTransform,
    settings: dict[str, Any],
    seed: int,
    should_stop: Callable[[], bool] = lambda: False,
    *,
    tone: tuple[Any, tuple[float, ...], tuple[float, ...]] | None = None,
) -> Iterator[bytes]:
    """The converted input as s16le PCM at its own rate, voice-setting effects applied, step by step.

    ``tone`` = (neural converter, target tone color, the input's tone color): the DSP then moves only the
    pitch, and the converter re-voices the result piece by piece instead of the frame bank.
    """
    from chorus.voicelab.conversion import convert, headroom_gain

    # The conversion runs with headroom (a loud recording would clip); the level comes back here: the
    # speaker-boost AGC sets its own, and without it a gain puts the input's level back, the chain's peak
    # limiter (-1 dBFS) catching what the resynthesis raised over full scale.
    boost = bool(settings.get("use_speaker_boost", True))
    gain = headroom_gain(source.samples)
    effects = EffectChain(
        source.rate,
        EffectSettings(
            use_speaker_boost=boost,
            similarity_boost=float(settings.get("similarity_boost", 0.75)),
            style=float(settings.get("style", 0.0)),
            volume_db=0.0 if boost else -20.0 * math.log10(gain),
        ),
        seed,
    )
    f0 = source.speech.f0_median_hz
    if tone is not None:
        transform = transform.replace(frames="", frames_source_db=(), frames_warp=1.0)
    steps = convert(source.samples, source.rate, transform, f0, step_s=STEP_SECONDS, gain=gain)
    if tone is not None:
        from chorus.voicelab.tone_color import convert_pieces

        converter, target_color, source_color = tone
        steps = convert_pieces(steps, source.rate, converter, target_color, source_color, seed=seed)
    for pcm in steps:
        if should_stop():
            return
        data = effects.process(pcm)
        if data:
            yield data
    tail = effects.flush()
    if tail:
        yield tail


class SpeechToSpeechService:
    """Converts speech to a voice; caches each target voice's frame bank."""

    def __init__(
        self,
        voices: VoiceService,
        engines: EngineRegistry,
        credits: CreditService,
        executor: ThreadPoolExecutor,
        *,
        base_f0: Callable[[str, str], float | None] | None = None,
        vad: Callable[[], Any] | None = None,
        history: HistoryService | None = None,
        tone: Any = None,
    ) -> None:
        self.history = history
        # A ToneColorProvider: while the neural converter is installed it re-voices the input.
        self.tone = tone
        self.voices = voices
        self.engines = engines
        self.credits = credits
        self.executor = executor
        self._base_f0 = base_f0
        self._vad = vad
        self._targets: dict[str, ConversionTarget] = {}

    def vad(self) -> Any:
        return self._vad() if self._vad is not None else None

    async def start(self, principal: Principal, voice_id: str, request: STSInput) -> STSJob:
        """Validate, analyse the input and the target voice, then charge."""
        if request.model_id not in MODELS:
            raise BadRequest(
                f"model_id must be a speech-to-speech model ({', '.join(MODELS)}), got {request.model_id!r}.",
                status="invalid_model_id",
            )
        resolved = await self.voices.resolve(principal, voice_id)
        settings = merge_settings(resolved.settings, request.voice_settings)
        validate_settings(settings)
        loop = asyncio.get_running_loop()
        source = await loop.run_in_executor(self.executor, self._source, request)
        target = await loop.run_in_executor(self.executor, self.target, resolved.voice)
        tone = await loop.run_in_executor(self.executor, self._source_tone, source, target)
        seed = request.seed if request.seed is not None else 0
        transform = await loop.run_in_executor(
            self.executor, conversion_transform, source.speech, target, seed
        )
        charge = await self.credits.charge(
            principal,
            sts_credits(source.samples.size / source.rate),
            model_id=request.model_id,
            voice_id=voice_id,
            product=PRODUCT,
        )
        return STSJob(
            self, source, target, transform, settings, seed, charge,
            principal=principal, voice=resolved.voice, request=request, tone=tone,
        )  # fmt: skip

    # --- worker thread -------------------------------------------------------------------------

    def _source(self, request: STSInput) -> _Source:
        samples, rate = _decode(request)
        audio = samples.astype(np.float32) / np.float32(32768.0)
        if request.remove_background_noise:
            from chorus.voicelab.isolation import isolate

            audio = isolate(audio, rate, vad=self.vad())
        speech = analyse_source(audio, rate, self.vad())
        samples_16k = speech.speech
        if (
            samples_16k.size < MIN_SPEECH_SECONDS * 16_000
            or float(np.abs(samples_16k).max(initial=0.0)) < 1e-3
        ):
            raise BadRequest("The audio holds no speech to convert.", status="no_speech")
        return _Source(audio, rate, speech)

    def converter(self) -> Any:
        """The neural tone color converter, or None when it is not installed (or not configured)."""
        return self.tone.get() if self.tone is not None else None

    def _source_tone(
        self, source: _Source, target: ConversionTarget
    ) -> tuple[Any, tuple[float, ...], tuple[float, ...]] | None:
        """(converter, the target's tone color, the input speech's) when the converter can re-voice the
        input to ``target``."""
        converter = self.converter()
        if converter is None or not target.tone_color:
            return None
        try:
            color = converter.extract([source.speech.speech], 16_000)
        except ValueError:
            return None
        return converter, target.tone_color, tuple(float(v) for v in color)

    def target(self, voice: Voice) -> ConversionTarget:
        """The target voice's frames, median F0 and (with the neural converter) tone color, cached per voice
        and transform."""
        key = (
            ("tone:" if self.converter() is not None else "")
            + voice.voice_id
            + ":"
            + hashlib.sha1(
                json.dumps(voice.transform or {}, sort_keys=True, default=str).encode()
            ).hexdigest()
        )
        if key not in self._targets:
            self._targets[key] = self._measure_target(voice)
        return self._targets[key]

    def _measure_target(self, voice: Voice) -> ConversionTarget:
        transform = VoiceTransform.from_json(voice.transform)
        if transform.frames:
            # A clone: its transform describes its speaker. Its f0_median_hz may stop where the base engine
            # voice could go (within 12 %); the speaker's own median, measured on the samples, is the target.
            measured = (transform.reference.get("target") or {}).get("f0_median_hz")
            f0 = measured or transform.f0_median_hz
            if f0 is None and self._base_f0:
                f0 = self._base_f0(voice.engine, voice.native_voice)
            return ConversionTarget(transform.frames, float(f0) if f0 else None, transform.tone_color)
        from chorus.services.render import RenderPlan, render
        from chorus.voicelab.analysis import speech_only, to_analysis_rate
        from chorus.voicelab.clone import CALIBRATION_TEXT
        from chorus.voicelab.preview_text import preview_text

        engine = self.engines.get(voice.engine)
        if engine is None or not engine.available():
            raise EngineMissing(f"The {voice.engine} engine of voice {voice.voice_id} is not available.")
        base_f0 = self._base_f0
        plan = RenderPlan(
            # About a minute of speech: with the ~10 s of the calibration text alone, frames found no close
            # match often enough to cost intelligibility (pocketsphinx WER 0.85 vs 0.08, flite awb -> slt).
            text=" ".join(
                [*CALIBRATION_TEXT, *(preview_text(None, "en", seed)[0] for seed in range(TARGET_TEXTS))]
            ),
            engine=engine,
            native_voice=voice.native_voice,
            language=None,
            settings={"use_speaker_boost": False},
            seed=0,
            transform=None if transform.is_identity() else transform,
            base_f0=(lambda: base_f0(voice.engine, voice.native_voice)) if base_f0 else None,
        )
        pcm = b"".join(chunk.pcm for chunk in render(plan))
        rate = engine.output_format().sample_rate
        audio = np.frombuffer(pcm, "<i2").astype(np.float32) / np.float32(32768.0)
        speech = speech_only(to_analysis_rate(audio, rate), self.vad())
        if speech.size < 16_000:
            raise BadRequest(f"Voice {voice.voice_id} could not be analysed.", status="voice_not_convertible")
        target = target_from_speech(speech)
        converter = self.converter()
        if converter is not None:
            # The voice's own speech gives its tone color, as samples give a clone's.
            try:
                color = converter.extract([speech], 16_000)
                target = dataclasses.replace(target, tone_color=tuple(float(v) for v in color))
            except ValueError as exc:
                log.info("voice %s has no tone color: %s", voice.voice_id, exc)
        return target


def _decode(request: STSInput) -> tuple[np.ndarray, int]:
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
    samples = np.frombuffer(pcm, dtype="<i2")
    if rate < 4000:
        raise BadRequest(f"The audio's sample rate ({rate} Hz) is too low.", status="invalid_audio")
    if samples.size < MIN_AUDIO_SECONDS * rate:
        raise BadRequest("The audio must be at least 100 ms long.", status="audio_too_short")
    if rate > MAX_RATE:
        import soxr

        samples = np.asarray(soxr.resample(samples, rate, MAX_RATE, quality="HQ"), "<i2")
        rate = MAX_RATE
    return samples, rate
