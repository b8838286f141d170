"""Voice design and remix use cases: describe a voice, hear three previews, save the one you like.

``design`` parses the description (:mod:`chorus.voicelab.design`), picks the preview text (the caller's, or
one written for the description by :mod:`chorus.voicelab.preview_text`), charges the text's characters once
(like TTS, model ``eleven_multilingual_ttv_v2`` by default), and renders each preview:

1. the engine speaks the normalised text with the base voice, doing the transform's F0 level, F0 range and
   rate itself (:func:`chorus.voicelab.transform_dsp.split_for_engine`; the pitch multiplier is the target
   median over the base voice's median on a calibration sentence, :meth:`VoiceDesignService.base_f0`).
   The base voice's F0 depends a little on the text, so when the result's median misses the target by
   more than ``F0_TOLERANCE`` the engine speaks again with the pitch corrected (at most ``F0_PASSES``
   times); what the engine cannot reach is left to the DSP;
2. the rest of the transform (formants, tilt, envelope, breathiness, roughness) is applied to the PCM
   (:func:`chorus.voicelab.transform_dsp.apply_transform`);
3. the result is brought to the requested loudness (ITU-R BS.1770 integrated loudness of the whole
   preview, pyloudnorm, with a look-ahead peak limiter) and encoded once in the requested format.

Each preview is stored (``voice_previews`` row, audio in the blob store) so that
``GET /v1/text-to-voice/{generated_voice_id}/stream`` can play it and ``POST /v1/text-to-voice`` can save
it as a voice: the saved voice is the preview's base voice plus its transform, usable in every TTS route.

With ``stream_previews`` nothing is rendered up front: the previews carry ids (and an estimated duration)
and the stream route renders each one, as MP3, when it is first asked for. Previews expire after
``PREVIEW_TTL_S``.

``remix`` does the same from an existing voice (premade or owned): the description says what to change,
and the previews are that voice with the changes applied to its transform.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import secrets
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.audio.encode import StreamEncoder
from chorus.audio.formats import OutputFormat, parse_output_format
from chorus.engines.base import PCMFormat, SynthesisRequest, TTSEngine
from chorus.engines.registry import EngineRegistry
from chorus.errors import BadRequest, EngineMissing, NotFound
from chorus.services.accounts import Principal
from chorus.services.credits import Charge, CreditService
from chorus.services.voices import VoiceService
from chorus.storage.blobs import BlobStore
from chorus.storage.models import Voice, VoicePreview
from chorus.text.normalize import normalize
from chorus.voicelab.design import (
    BaseVoice,
    ConceptMatcher,
    SentenceEncoder,
    VoiceAttributes,
    VoiceDesign,
    accent_voices,
    base_voices_from,
    design_voices,
    engine_voice_quality,
    parse_description,
    remix_voices,
)
from chorus.voicelab.preview_text import preview_text
from chorus.voicelab.transform_dsp import EngineProsody, split_for_engine
from chorus.voicelab.voice_model import VoiceTransform

log = logging.getLogger("chorus")

DESIGN_MODELS = ("eleven_multilingual_ttv_v2", "eleven_ttv_v3")
REMIX_MODEL = "eleven_multilingual_ttv_v2"  # what a remix is charged as (the request names no model)
PRODUCT = "voice_generation"
STREAM_FORMAT = "mp3_44100_128"  # the preview stream route answers audio/mpeg
PREVIEW_TTL_S = 24 * 3600
TRUE_PEAK = 0.98  # limiter ceiling (about -0.2 dBFS)
F0_TOLERANCE = 0.015  # relative miss of the median F0 target that a second engine pass corrects
F0_PASSES = 2
CHARS_PER_SECOND = 14.5  # speech at rate 1, for the duration estimate of previews not yet rendered
CALIBRATION_TEXT = "Every evening we walk along the river and talk about the day."


@dataclass(frozen=True)
class DesignInput:
    voice_description: str
    output_format: str = "mp3_44100_192"
    model_id: str = "eleven_multilingual_ttv_v2"
    text: str | None = None
    auto_generate_text: bool = False
    loudness: float = 0.5
    seed: int | None = None
    guidance_scale: float = 5.0
    stream_previews: bool = False
    request_id: str | None = None


@dataclass(frozen=True)
class RemixInput:
    voice_description: str
    output_format: str = "mp3_44100_192"
    text: str | None = None
    auto_generate_text: bool = False
    loudness: float = 0.5
    seed: int | None = None
    guidance_scale: float = 2.0
    stream_previews: bool = False
    request_id: str | None = None


@dataclass
class Preview:
    generated_voice_id: str
    media_type: str
    duration_secs: float
    language: str | None
    audio: bytes | None  # None: not rendered (stream_previews)
    design: VoiceDesign | None = None

    def to_http(self) -> dict[str, Any]:
        """One ``VoicePreviewResponseModel``."""
        return {
            "audio_base_64": base64.b64encode(self.audio).decode() if self.audio else "",
            "generated_voice_id": self.generated_voice_id,
            "media_type": self.media_type,
            "duration_secs": round(self.duration_secs, 3),
            "language": self.language,
        }


@dataclass
class PreviewSet:
    previews: list[Preview]
    text: str
    attributes: VoiceAttributes | None = None
    charge: Charge | None = None
    character_cost: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_http(self) -> dict[str, Any]:
        """The ``VoicePreviewsResponseModel`` body."""
        return {"previews": [p.to_http() for p in self.previews], "text": self.text}


@dataclass(frozen=True)
class RenderedPreview:
    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    loudness_lufs: float | None


class VoiceDesignService:
    """Owns the sentence model (loaded on first use) and the measured F0 of base voices."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        engines: EngineRegistry,
        voices: VoiceService,
        credits: CreditService,
        executor: ThreadPoolExecutor,
        *,
        encoder: SentenceEncoder | None = None,
    ) -> None:
        self._sessions = sessions
        self.blobs = blobs
        self.engines = engines
        self.voices = voices
        self.credits = credits
        self.executor = executor
        self.encoder = encoder or SentenceEncoder()
        self.matcher = ConceptMatcher(self.encoder)
        self._base_f0: dict[tuple[str, str], float | None] = {}

    # --- use cases -----------------------------------------------------------------------------

    async def design(self, principal: Principal, request: DesignInput) -> PreviewSet:
        """Three previews for a description (see the module docstring). Charges the preview text."""
        if request.model_id not in DESIGN_MODELS:
            raise BadRequest(
                f"model_id must be one of {', '.join(DESIGN_MODELS)}, got {request.model_id!r}.",
                status="invalid_model_id",
            )
        fmt = _output_format(request.output_format)
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        attrs, text, language, designs = await self._run(
            self._plan_design, request.voice_description, request.text, seed, request.guidance_scale,
            request.loudness,
        )  # fmt: skip
        return await self._deliver(
            principal, designs, text, language, fmt, request.stream_previews, request.model_id,
            description=request.voice_description, source_voice_id=None, attrs=attrs,
        )  # fmt: skip

    async def remix(self, principal: Principal, voice_id: str, request: RemixInput) -> PreviewSet:
        """Three previews of ``voice_id`` with the described changes."""
        voice = await self.voices.get(principal, voice_id)
        fmt = _output_format(request.output_format)
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        attrs, text, language, designs = await self._run(
            self._plan_remix, voice, request.voice_description, request.text, seed, request.guidance_scale,
            request.loudness,
        )  # fmt: skip
        return await self._deliver(
            principal, designs, text, language, fmt, request.stream_previews, REMIX_MODEL,
            description=request.voice_description, source_voice_id=voice.voice_id, attrs=attrs,
        )  # fmt: skip

    async def save(
        self,
        principal: Principal,
        *,
        generated_voice_id: str,
        voice_name: str,
        voice_description: str,
        labels: dict[str, str] | None = None,
    ) -> Voice:
        """Turn a preview into a voice of the caller's (category ``generated``)."""
        if not voice_name.strip():
            raise BadRequest("voice_name must not be empty.", status="invalid_voice_name")
        preview = await self._preview(principal, generated_voice_id)
        merged = dict(preview.labels or {})
        merged.update({str(k): str(v) for k, v in (labels or {}).items() if v is not None})
        return await self.voices.create_owned(
            principal,
            name=voice_name.strip(),
            engine=preview.engine,
            native_voice=preview.native_voice,
            category="generated",
            description=voice_description,
            labels=merged,
            transform=preview.transform,
        )

    async def preview_audio(self, principal: Principal, generated_voice_id: str) -> tuple[bytes, str]:
        """The preview's audio for the stream route (MP3), rendering it first if it never was."""
        preview = await self._preview(principal, generated_voice_id)
        if preview.blob_key and preview.media_type == "audio/mpeg":
            return await self.blobs.get(preview.blob_key), preview.media_type
        fmt = parse_output_format(STREAM_FORMAT)
        labels = dict(preview.labels or {})
        language = labels.get("language", "en")
        design = VoiceDesign(
            BaseVoice(preview.engine, preview.native_voice, "", "", "", language),
            VoiceTransform.from_json(preview.transform),
            language,
            labels,
        )
        audio, duration = await self._run(self._render_encoded, design, preview.text or "", fmt)
        key = f"voice_previews/{preview.generated_voice_id}.{fmt.file_extension}"
        await self.blobs.put(key, audio)
        async with self._sessions() as session, session.begin():
            row = await session.get(VoicePreview, preview.generated_voice_id)
            if row is not None:
                row.blob_key, row.media_type, row.duration_secs = key, fmt.media_type, duration
        if preview.blob_key and preview.blob_key != key:
            # The preview was delivered in another format; from now on it is kept as MP3 only.
            await self.blobs.delete(preview.blob_key)
        return audio, fmt.media_type

    # --- planning (worker thread) --------------------------------------------------------------

    def _matcher(self) -> ConceptMatcher | None:
        if self.matcher.available():
            return self.matcher
        log.warning("voice design without the sentence model: %s", self.encoder.unavailable_reason())
        return None

    def _text_for(
        self, attrs: VoiceAttributes, description: str, text: str | None, seed: int
    ) -> tuple[str, str]:
        """The preview text and its language: the caller's, or one written for the description."""
        language = attrs.language or "en"
        if text is not None and text.strip():
            return text, language
        # Without text ElevenLabs requires auto_generate_text; writing one either way is friendlier.
        matcher = self._matcher()
        theme = attrs.archetype or (matcher.best_theme(description) if matcher else None)
        return preview_text(theme, language, seed, energy=attrs.energy)

    def _base_voices(self, attrs: VoiceAttributes) -> list[BaseVoice]:
        def rate(engine: str) -> int:
            found = self.engines.get(engine)
            return found.output_format().sample_rate if found else 16_000

        voices = base_voices_from(self.engines.all_voices(), rate)
        espeak = self.engines.get("espeak-ng")
        if espeak is not None and espeak.available():
            languages = {code for code, _ in espeak.languages()}
            voices += accent_voices(attrs, languages, rate("espeak-ng"))
        # Measured F0 lets the ranking prefer voices near the target (less to shift, better sound).
        return [
            replace(v, f0_median_hz=self.base_f0(v.engine, v.native_voice, v.speaks_for_language))
            for v in voices
        ]

    def _plan_design(
        self, description: str, text: str | None, seed: int, guidance: float, loudness: float
    ) -> tuple[VoiceAttributes, str, str, list[VoiceDesign]]:
        attrs = parse_description(description, self._matcher())
        preview, language = self._text_for(attrs, description, text, seed)
        if language != (attrs.language or "en"):
            attrs.language = None if language == "en" else language
        voices = self._base_voices(attrs)
        try:
            designs = design_voices(attrs, voices, guidance_scale=guidance, seed=seed, loudness=loudness,
                                    salt=description)  # fmt: skip
        except ValueError:
            if attrs.language is None:
                raise EngineMissing("No speech engine with voices is available for voice design.") from None
            # No voice speaks the language asked for: say so rather than speak something else.
            raise BadRequest(
                f"No installed voice speaks the language asked for ({attrs.language}).",
                status="unsupported_language",
            ) from None
        return attrs, preview, attrs.language or "en", designs

    def _plan_remix(
        self, voice: Voice, description: str, text: str | None, seed: int, guidance: float, loudness: float
    ) -> tuple[VoiceAttributes, str, str, list[VoiceDesign]]:
        changes = parse_description(description, self._matcher(), relative=True)
        labels = voice.labels or {}
        engine = self.engines.get(voice.engine)
        if engine is None or not engine.available():
            raise EngineMissing(f"The {voice.engine} engine of voice {voice.voice_id} is not available.")
        source = BaseVoice(
            voice.engine,
            voice.native_voice,
            labels.get("gender") or "neutral",
            labels.get("accent") or "",
            labels.get("age") or "middle_aged",
            labels.get("language") or "en",
            voice.description or "",
            engine_voice_quality(voice.engine, voice.native_voice),
            engine.output_format().sample_rate,
        )
        transform = VoiceTransform.from_json(voice.transform)
        source_f0 = transform.f0_median_hz or self.base_f0(voice.engine, voice.native_voice)
        if source_f0 is None:
            raise BadRequest(
                f"Voice {voice.voice_id} could not be analysed for remixing.", status="remix_failed"
            )
        espeak = self.engines.get("espeak-ng")
        accent_bases: list[BaseVoice] = []
        if espeak is not None and espeak.available() and (changes.accent or changes.language):
            languages = {code for code, _ in espeak.languages()}
            accent_bases = accent_voices(changes, languages, espeak.output_format().sample_rate)
        designs = remix_voices(
            changes, source, transform, source_f0, guidance_scale=guidance, seed=seed, loudness=loudness,
            accent_bases=accent_bases, salt=description,
        )  # fmt: skip
        language = designs[0].language
        attrs_for_text = replace(changes, language=None if language == "en" else language)
        preview, language = self._text_for(attrs_for_text, description, text, seed)
        return changes, preview, language, designs

    def base_f0(self, engine_name: str, native_voice: str, language: str | None = None) -> float | None:
        """Median F0 (Hz) of a base voice reading a calibration sentence at pitch 1 (measured once, cached).

        The TTS render path needs the same figure to turn a transform's ``f0_median_hz`` into the engine's
        ``pitch`` (:func:`chorus.voicelab.design.native_controls`).
        """
        key = (engine_name, native_voice, language)
        if key not in self._base_f0:
            engine = self.engines.get(engine_name)
            value: float | None = None
            if engine is not None and engine.available():
                samples, rate = _synthesize(engine, native_voice, CALIBRATION_TEXT, language, seed=0)
                value = median_f0(samples, rate)
            self._base_f0[key] = value
        return self._base_f0[key]

    # --- rendering (worker thread) -------------------------------------------------------------

    def render_preview(self, design: VoiceDesign, text: str) -> RenderedPreview:
        """Engine (F0, range and rate as its own controls) -> timbre DSP -> loudness, as float samples."""
        base = design.base
        engine = self.engines.get(base.engine)
        if engine is None or not engine.available():
            raise EngineMissing(f"The {base.engine} engine is not available.")
        transform = design.transform
        # English needs no hint; an accent voice (French eSpeak NG reading English) must not get one, or
        # the engine would switch to an English voice.
        hint = base.speaks_for_language or (design.language if design.language != "en" else None)
        base_f0 = self.base_f0(base.engine, base.native_voice, hint)
        prosody, residual, _ = split_for_engine(transform.replace(loudness_lufs=None), base_f0)
        samples, rate = _synthesize(
            engine, base.native_voice, text, hint, seed=transform.seed, prosody=prosody
        )
        if samples.size == 0:
            raise BadRequest("The preview text has nothing to say.", status="empty_text")
        produced = median_f0(samples, rate)
        target = transform.f0_median_hz
        for _ in range(F0_PASSES):
            # The base voice's F0 on this text is not its F0 on the calibration sentence (and the range
            # moves the median a little): speak again with the pitch corrected by what came out.
            if not (target and produced) or abs(math.log(produced / target)) <= math.log1p(F0_TOLERANCE):
                break
            pitch = min(2.0, max(0.5, prosody.pitch * target / produced))
            if abs(pitch - prosody.pitch) < 1e-3:
                break  # at the engine's limit: the DSP does the rest
            prosody = replace(prosody, pitch=pitch)
            samples, rate = _synthesize(
                engine, base.native_voice, text, hint, seed=transform.seed, prosody=prosody
            )
            produced = median_f0(samples, rate)
        if target and produced and abs(math.log(produced / target)) > math.log1p(F0_TOLERANCE):
            residual = residual.replace(f0_median_hz=target)  # what the engine could not reach
        else:
            residual = residual.replace(f0_median_hz=None)
        shaped = apply_transform(samples, rate, residual, source_f0_hz=produced)
        loudness = transform.loudness_lufs
        if loudness is not None:
            shaped = normalize_loudness(shaped, rate, loudness)
        return RenderedPreview(shaped.astype(np.float32), rate, loudness)

    def _render_encoded(self, design: VoiceDesign, text: str, fmt: OutputFormat) -> tuple[bytes, float]:
        rendered = self.render_preview(design, text)
        pcm = _to_pcm(rendered.samples)
        encoder = StreamEncoder(PCMFormat(rendered.sample_rate), fmt)
        audio = encoder.feed(pcm) + encoder.flush()
        return audio, rendered.samples.size / rendered.sample_rate

    # --- delivery ------------------------------------------------------------------------------

    async def _deliver(
        self,
        principal: Principal,
        designs: list[VoiceDesign],
        text: str,
        language: str,
        fmt: OutputFormat,
        stream_previews: bool,
        model_id: str,
        *,
        description: str,
        source_voice_id: str | None,
        attrs: VoiceAttributes,
    ) -> PreviewSet:
        charge = await self.credits.charge(principal, len(text), model_id=model_id, product=PRODUCT)
        try:
            previews: list[Preview] = []
            if stream_previews:
                for design in designs:
                    estimate = len(text) / CHARS_PER_SECOND / max(design.transform.rate, 0.1)
                    previews.append(Preview(_new_id(), "audio/mpeg", estimate, language, None, design))
            else:
                loop = asyncio.get_running_loop()
                results = await asyncio.gather(
                    *(
                        loop.run_in_executor(self.executor, self._render_encoded, d, text, fmt)
                        for d in designs
                    )
                )
                for design, (audio, duration) in zip(designs, results, strict=True):
                    previews.append(Preview(_new_id(), fmt.media_type, duration, language, audio, design))
            await self._store(principal, previews, text, description, source_voice_id)
        except BaseException:
            await asyncio.shield(self.credits.refund(charge))
            raise
        return PreviewSet(previews, text, attrs, charge, charge.credits)

    async def _store(
        self,
        principal: Principal,
        previews: list[Preview],
        text: str,
        description: str,
        source_voice_id: str | None,
    ) -> None:
        now = int(time.time())
        rows = []
        for preview in previews:
            design = preview.design
            assert design is not None
            key = None
            if preview.audio is not None:
                extension = "mp3" if preview.media_type == "audio/mpeg" else preview.media_type.split("/")[-1]
                key = f"voice_previews/{preview.generated_voice_id}.{extension}"
                await self.blobs.put(key, preview.audio)
            rows.append(
                VoicePreview(
                    generated_voice_id=preview.generated_voice_id,
                    user_id=principal.user_id,
                    engine=design.base.engine,
                    native_voice=design.base.native_voice,
                    transform=design.transform.to_json(),
                    description=description,
                    labels=dict(design.labels),
                    text=text,
                    media_type=preview.media_type,
                    blob_key=key,
                    duration_secs=preview.duration_secs if preview.audio is not None else None,
                    source_voice_id=source_voice_id,
                    created_at_unix=now,
                )
            )
        async with self._sessions() as session, session.begin():
            expired = now - PREVIEW_TTL_S
            old = (
                await session.execute(
                    select(VoicePreview.blob_key).where(VoicePreview.created_at_unix < expired)
                )
            ).scalars()
            old_keys = [k for k in old if k]
            await session.execute(delete(VoicePreview).where(VoicePreview.created_at_unix < expired))
            session.add_all(rows)
        for key in old_keys:
            await self.blobs.delete(key)

    async def _preview(self, principal: Principal, generated_voice_id: str) -> VoicePreview:
        async with self._sessions() as session:
            row = await session.get(VoicePreview, generated_voice_id)
        if (
            row is None
            or row.user_id != principal.user_id
            or row.created_at_unix < time.time() - PREVIEW_TTL_S
        ):
            raise NotFound(
                f"No voice preview with the generated_voice_id {generated_voice_id} was found; previews "
                f"expire {PREVIEW_TTL_S // 3600} hours after they are made.",
                status="generated_voice_not_found",
            )
        return row

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)


# --- helpers -------------------------------------------------------------------------------------


def _output_format(name: str) -> OutputFormat:
    try:
        return parse_output_format(name)
    except ValueError as exc:
        raise BadRequest(str(exc), status="invalid_output_format") from None


def _new_id() -> str:
    return uuid.uuid4().hex[:20]


def _to_pcm(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2").tobytes()


def _synthesize(
    engine: TTSEngine,
    native_voice: str,
    text: str,
    language: str | None,
    *,
    seed: int | None,
    prosody: EngineProsody | None = None,
) -> tuple[np.ndarray, int]:
    """The engine reading normalised ``text`` (``language``: the hint it gets) with ``prosody``'s pitch,
    range and speed multipliers, as float samples, and their rate."""
    prosody = prosody or EngineProsody()
    request = SynthesisRequest(
        text=normalize(text, language or "en", "auto").text,
        native_voice=native_voice,
        language=language,
        seed=seed,
        speed=prosody.speed,
        pitch=prosody.pitch,
        pitch_range=prosody.pitch_range,
    )
    chunks = engine.synthesize(request)
    try:
        pcm = b"".join(chunk.pcm for chunk in chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    samples = np.frombuffer(pcm, "<i2").astype(np.float32) / np.float32(32768.0)
    return samples, engine.output_format().sample_rate


def apply_transform(
    samples: np.ndarray, rate: int, transform: VoiceTransform, *, source_f0_hz: float | None = None
) -> np.ndarray:
    """The (residual) transform applied to float samples by :mod:`chorus.voicelab.transform_dsp`."""
    if transform.is_identity():
        return samples
    from chorus.voicelab.transform_dsp import apply_transform as transform_pcm

    out = transform_pcm(_to_pcm(samples), rate, transform, source_f0_median_hz=source_f0_hz)
    return np.frombuffer(out, "<i2").astype(np.float32) / np.float32(32768.0)


def median_f0(samples: np.ndarray, rate: int) -> float | None:
    """Median F0 (Hz) of the voiced frames, or None when nothing is voiced."""
    import pyworld

    x = np.asarray(samples, np.float64)
    if x.size < rate // 10:
        return None
    f0, _ = pyworld.dio(x, rate, f0_floor=50.0, f0_ceil=600.0, frame_period=10.0)
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if voiced.size >= 5 else None


def normalize_loudness(samples: np.ndarray, rate: int, target_lufs: float) -> np.ndarray:
    """``samples`` at ``target_lufs`` integrated loudness (BS.1770), peaks limited to ``TRUE_PEAK``.

    The limiter takes a little loudness off the loudest targets; a second pass makes up for it, so the
    result lands within a fraction of a LU of the target unless the ceiling makes that impossible.
    """
    import pyloudnorm

    meter = pyloudnorm.Meter(rate)
    x = np.asarray(samples, np.float64)
    if x.size < int(0.5 * rate):
        x = np.concatenate([x, np.zeros(int(0.5 * rate) - x.size)])
    for _ in range(3):
        measured = meter.integrated_loudness(x)
        if not math.isfinite(measured):
            return samples
        x = _limit(x * 10 ** ((target_lufs - measured) / 20), rate)
        if abs(meter.integrated_loudness(x) - target_lufs) < 0.2:
            break
    return x[: samples.size].astype(np.float32)


def _limit(x: np.ndarray, rate: int) -> np.ndarray:
    """A look-ahead peak limiter: gain follows the peak envelope (5 ms attack, 50 ms release)."""
    peak = np.abs(x)
    if peak.max(initial=0.0) <= TRUE_PEAK:
        return x
    from scipy.ndimage import maximum_filter1d
    from scipy.signal import lfilter

    window = max(1, int(0.005 * rate))
    envelope = maximum_filter1d(peak, size=2 * window + 1)
    gain = np.minimum(1.0, TRUE_PEAK / np.maximum(envelope, 1e-9))
    # Release: gain recovers smoothly; attack is covered by the look-ahead window of the max filter.
    alpha = math.exp(-1.0 / (0.05 * rate))
    smoothed = 1.0 - lfilter([1 - alpha], [1, -alpha], 1.0 - gain)
    gain = np.minimum(gain, np.clip(smoothed, 0.0, 1.0))
    out = x * gain
    return np.clip(out, -TRUE_PEAK, TRUE_PEAK)
