"""Instant voice cloning use case: samples in, a saved ``cloned`` voice out.

``POST /v1/voices/add`` hands over the uploaded files; :meth:`VoiceCloneService.create` decodes them (any
container FFmpeg reads), optionally isolates the speech (``remove_background_noise``,
:func:`chorus.voicelab.isolation.isolate`), builds the clone (:func:`chorus.voicelab.clone.clone_voice`: a
premade engine voice plus a :class:`~chorus.voicelab.voice_model.VoiceTransform`; seconds of CPU, run in the
TTS executor), saves the voice and keeps each sample as uploaded in the blob store (a ``voice_samples`` row
per file, key ``voice_samples/{voice_id}/{sample_id}``). The samples' summaries also go into the transform's
``reference["samples"]``, which is what :meth:`VoiceService.describe` lists as the voice's ``samples``.

Editing (``POST /v1/voices/{voice_id}/edit`` with ``files``, :meth:`VoiceCloneService.edit`) adds the files
as samples, validated and stored as on creation, and re-builds the clone from all of its samples (each
isolated or not as it was when uploaded). Deleting a sample (:meth:`VoiceCloneService.delete_sample`)
re-builds the clone from the samples that remain. When none remain, or what remains holds too little
speech to clone from, the deletion still succeeds and the voice keeps the model it had: a voice that
stopped speaking, or vanished, because a recording was removed would break every client using its id,
and a later edit with new files re-builds it from those. Edits of one voice are serialised in process.

Cloning is not charged (ElevenLabs counts it against a voice-slot quota, not credits).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.engines.registry import EngineRegistry
from chorus.errors import BadRequest, NotFound
from chorus.services.accounts import Principal
from chorus.services.voices import VoiceService, voice_name
from chorus.storage.blobs import BlobStore
from chorus.storage.models import Voice, VoiceSample

log = logging.getLogger("chorus")

MAX_FILES = 25  # ElevenLabs' instant cloning takes up to 25 samples
MAX_SAMPLE_SECONDS = 600.0
MIN_SPEECH_SECONDS = 1.0  # what clone_voice needs (its analysis raises under it)
CATEGORY = "cloned"


@dataclass(frozen=True)
class SampleFile:
    file_name: str
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class CloneInput:
    name: str
    files: Sequence[SampleFile]
    description: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    remove_background_noise: bool = False


@dataclass(frozen=True)
class EditInput:
    """``POST /v1/voices/{voice_id}/edit``: ``None`` description or labels leave them as they are."""

    name: str
    files: Sequence[SampleFile] = ()
    description: str | None = None
    labels: dict[str, str] | None = None
    remove_background_noise: bool = False  # applies to ``files``; stored samples keep their own setting


@dataclass(frozen=True)
class _Built:
    """A clone model: base engine voice and transform (JSON, its reference listing the samples)."""

    engine: str
    native_voice: str
    transform: dict[str, Any]


@dataclass
class _Decoded:
    file: SampleFile
    pcm: np.ndarray  # int16 mono
    rate: int

    @property
    def duration_s(self) -> float:
        return self.pcm.size / self.rate


class VoiceCloneService:
    """Owns the speaker embedder and VAD used for cloning (both loaded on first use)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        engines: EngineRegistry,
        voices: VoiceService,
        executor: ThreadPoolExecutor,
        *,
        embedder: Any = None,
        vad: Any = None,
        tone: Any = None,
    ) -> None:
        self._sessions = sessions
        # A ToneColorProvider: clones also get a tone color while the neural cloning engine is installed.
        self.tone = tone
        self.blobs = blobs
        self.engines = engines
        self.voices = voices
        self.executor = executor
        self._embedder = embedder
        self._embedder_checked = embedder is not None
        self._vad = vad
        self._vad_checked = vad is not None
        self._f0_cache: dict[tuple[str, str], float | None] = {}
        # (engine, native_voice) pairs a clone may start from; None: every installed voice of the language.
        self.candidates: list[tuple[str, str]] | None = None
        self._locks: dict[str, asyncio.Lock] = {}  # one per edited voice: its edits run one at a time

    # --- models (worker thread) ----------------------------------------------------------------

    def embedder(self) -> Any:
        """The resemblyzer encoder, or None when it cannot load (the base voice is then chosen by F0)."""
        if not self._embedder_checked:
            from chorus.stt.speaker_embedding import SpeakerEmbedder

            candidate = SpeakerEmbedder()
            reason = candidate.unavailable_reason()
            if reason is None:
                self._embedder = candidate
            else:
                log.warning("voice cloning without speaker embeddings: %s", reason)
            self._embedder_checked = True
        return self._embedder

    def vad(self) -> Any:
        if not self._vad_checked:
            from chorus.stt.vad import SileroVAD

            candidate = SileroVAD()
            if candidate.available():
                self._vad = candidate
            else:
                log.warning("voice cloning without a VAD: %s", candidate.unavailable_reason())
            self._vad_checked = True
        return self._vad

    # --- use cases -----------------------------------------------------------------------------

    async def create(self, principal: Principal, request: CloneInput) -> Voice:
        """Clone the speaker of ``request.files`` into a new voice of the caller's."""
        name = voice_name(request.name)
        if not request.files:
            raise BadRequest("At least one audio file is needed in files.", status="no_files")
        if len(request.files) > MAX_FILES:
            raise BadRequest(f"At most {MAX_FILES} files can be uploaded.", status="too_many_files")
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(self.executor, _decode_all, request.files)
        language = request.labels.get("language") or "en"
        samples = _new_rows(decoded, "", int(time.time()))
        built = await self._build(
            decoded, [request.remove_background_noise] * len(decoded), language, samples
        )
        labels = {str(k): str(v) for k, v in request.labels.items()}
        labels.setdefault("language", language)
        voice = await self.voices.create_owned(
            principal,
            name=name,
            engine=built.engine,
            native_voice=built.native_voice,
            category=CATEGORY,
            description=request.description,
            labels=labels,
            transform=built.transform,
        )
        try:
            for sample, d in zip(samples, decoded, strict=True):
                sample.voice_id = voice.voice_id
                sample.blob_key = _blob_key(voice.voice_id, sample.sample_id)
                await self.blobs.put(sample.blob_key, d.file.data)
            async with self._sessions() as session, session.begin():
                session.add_all(samples)
        except BaseException:
            await asyncio.shield(self.voices.delete(principal, voice.voice_id))
            raise
        return voice

    async def edit(self, principal: Principal, voice_id: str, request: EditInput) -> None:
        """Edit a voice of the caller's; ``request.files`` are added as samples and the clone re-built.

        Without files this is :meth:`VoiceService.edit` (metadata only, any voice the caller owns). With
        files the voice must be a cloned one. Nothing changes unless every file decodes and the clone builds.
        """
        if not request.files:
            await self.voices.edit(
                principal, voice_id, name=request.name, description=request.description, labels=request.labels
            )
            return
        name = voice_name(request.name)
        voice = await self.voices.editable(principal, voice_id)
        if voice.category != CATEGORY:
            raise BadRequest(
                f"Samples can only be added to cloned voices; {voice_id} is a {voice.category} voice.",
                status="voice_not_cloned",
            )
        async with self._lock(voice_id):
            voice = await self.voices.editable(principal, voice_id)  # as it is now, under the lock
            existing = await self._ordered_samples(voice)
            if len(existing) + len(request.files) > MAX_FILES:
                raise BadRequest(
                    f"A voice can have at most {MAX_FILES} samples; it has {len(existing)}.",
                    status="too_many_files",
                )
            loop = asyncio.get_running_loop()
            added = await loop.run_in_executor(self.executor, _decode_all, request.files)
            kept = await self._load(existing)
            rows = _new_rows(added, voice_id, int(time.time()))
            noise = _noise_flags(voice)
            flags = [noise.get(r.sample_id, False) for r in existing]
            flags += [request.remove_background_noise] * len(rows)
            labels = request.labels if request.labels is not None else dict(voice.labels or {})
            language = labels.get("language") or (voice.labels or {}).get("language") or "en"
            built = await self._build(kept + added, flags, language, [*existing, *rows])
            stored: list[str] = []
            try:
                for row, d in zip(rows, added, strict=True):
                    await self.blobs.put(row.blob_key, d.file.data)
                    stored.append(row.blob_key)
                async with self._sessions() as session, session.begin():
                    current = await session.get(Voice, voice_id)
                    if current is None:  # deleted meanwhile
                        raise _voice_not_found(voice_id)
                    current.name = name
                    if request.description is not None:
                        current.description = request.description
                    current.labels = labels
                    current.engine, current.native_voice = built.engine, built.native_voice
                    current.transform = built.transform
                    session.add_all(rows)
            except BaseException:
                for key in stored:
                    await asyncio.shield(self.blobs.delete(key))
                raise

    async def delete_sample(self, principal: Principal, voice_id: str, sample_id: str) -> None:
        """Remove one sample of the caller's voice and re-build the clone from the rest (see the module
        docstring for when nothing, or too little, remains)."""
        voice = await self.voices.get(principal, voice_id)
        async with self._lock(voice_id):
            voice = await self.voices.get(principal, voice_id)
            if voice.owner_user_id != principal.user_id:
                raise _sample_not_found(voice_id, sample_id)  # premade voices have no samples
            rows = await self._ordered_samples(voice)
            target = next((r for r in rows if r.sample_id == sample_id), None)
            if target is None:
                raise _sample_not_found(voice_id, sample_id)
            remaining = [r for r in rows if r.sample_id != sample_id]
            built: _Built | None = None
            if remaining:
                noise = _noise_flags(voice)
                language = (voice.labels or {}).get("language") or "en"
                try:
                    decoded = await self._load(remaining)
                    flags = [noise.get(r.sample_id, False) for r in remaining]
                    built = await self._build(decoded, flags, language, remaining)
                except BadRequest as exc:
                    log.info("voice %s keeps its model: its other samples build none (%s)", voice_id, exc)
            async with self._sessions() as session, session.begin():
                current = await session.get(Voice, voice_id)
                if current is None:
                    raise _voice_not_found(voice_id)
                await session.execute(delete(VoiceSample).where(VoiceSample.sample_id == sample_id))
                if built is not None:
                    current.engine, current.native_voice = built.engine, built.native_voice
                    current.transform = built.transform
                else:
                    current.transform = _without_sample(current.transform, sample_id)
            await self.blobs.delete(target.blob_key)

    async def sample_audio(self, principal: Principal, voice_id: str, sample_id: str) -> tuple[bytes, str]:
        """A stored sample as uploaded, and its MIME type."""
        voice = await self.voices.get(principal, voice_id)
        async with self._sessions() as session:
            row = await session.get(VoiceSample, sample_id)
        if row is None or row.voice_id != voice.voice_id:
            raise _sample_not_found(voice_id, sample_id)
        try:
            return await self.blobs.get(row.blob_key), row.mime_type
        except FileNotFoundError:  # deleted between the two reads
            raise _sample_not_found(voice_id, sample_id) from None

    async def samples(self, voice_id: str) -> list[VoiceSample]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(VoiceSample)
                .where(VoiceSample.voice_id == voice_id)
                .order_by(VoiceSample.created_at_unix)
            )
            return list(rows.scalars())

    async def _ordered_samples(self, voice: Voice) -> list[VoiceSample]:
        """The voice's samples in the order its model lists them (the order they were added)."""
        listed = [s.get("sample_id") for s in _reference(voice.transform).get("samples") or []]
        position = {sample_id: i for i, sample_id in enumerate(listed)}
        rows = await self.samples(voice.voice_id)
        return sorted(rows, key=lambda r: (position.get(r.sample_id, len(position)), r.created_at_unix))

    async def _load(self, rows: Sequence[VoiceSample]) -> list[_Decoded]:
        """Stored samples, decoded as on upload."""
        files = [SampleFile(r.file_name, r.mime_type, await self.blobs.get(r.blob_key)) for r in rows]
        return await asyncio.get_running_loop().run_in_executor(self.executor, _decode_all, files)

    async def _build(
        self,
        decoded: list[_Decoded],
        remove_noise: Sequence[bool],
        language: str,
        rows: Sequence[VoiceSample],
    ) -> _Built:
        """The clone of ``decoded`` (one ``remove_noise`` flag each); ``rows`` become its samples list."""
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.executor, self._clone, decoded, list(remove_noise), language)
        reference = dict(result.transform.reference)
        reference["samples"] = [_sample_json(r, flag) for r, flag in zip(rows, remove_noise, strict=True)]
        reference["remove_background_noise"] = any(remove_noise)
        transform = result.transform.replace(reference=reference).to_json()
        return _Built(result.engine, result.native_voice, transform)

    def _lock(self, voice_id: str) -> asyncio.Lock:
        return self._locks.setdefault(voice_id, asyncio.Lock())

    # --- cloning (worker thread) ---------------------------------------------------------------

    def _clone(self, decoded: list[_Decoded], remove_noise: Sequence[bool], language: str) -> Any:
        """:func:`~chorus.voicelab.clone.clone_voice` of ``decoded``, each isolated first if flagged."""
        from chorus.voicelab.clone import clone_voice

        vad = self.vad()
        inputs: list[tuple[bytes | np.ndarray, int]] = []
        for d, isolate_first in zip(decoded, remove_noise, strict=True):
            if isolate_first:
                from chorus.voicelab.isolation import isolate

                inputs.append(
                    (isolate(d.pcm.astype(np.float32) / np.float32(32768.0), d.rate, vad=vad), d.rate)
                )
            else:
                inputs.append((d.pcm.tobytes(), d.rate))
        try:
            return clone_voice(
                inputs,
                engines=self.engines,
                embedder=self.embedder(),
                vad=vad,
                language=language,
                candidates=self.candidates,
                cache=self._f0_cache,
                tone=self.tone.get() if self.tone is not None else None,
            )
        except ValueError as exc:
            message = str(exc)
            if "language" in message:
                raise BadRequest(
                    f"No installed voice speaks the samples' language ({language}) to clone onto.",
                    status="unsupported_language",
                ) from None
            raise BadRequest(
                f"The samples hold too little speech to clone a voice ({message}); upload at least "
                f"{MIN_SPEECH_SECONDS:g} s of clear speech (30 s or more gives a better clone).",
                status="voice_sample_too_short",
            ) from None


def _blob_key(voice_id: str, sample_id: str) -> str:
    return f"voice_samples/{voice_id}/{sample_id}"


def _new_rows(decoded: Sequence[_Decoded], voice_id: str, now: int) -> list[VoiceSample]:
    """One ``voice_samples`` row per decoded upload (``voice_id`` "" until the voice exists)."""
    rows = []
    for d in decoded:
        sample_id = uuid.uuid4().hex[:20]
        rows.append(
            VoiceSample(
                sample_id=sample_id,
                voice_id=voice_id,
                file_name=d.file.file_name[:300],
                mime_type=(d.file.content_type or "application/octet-stream")[:100],
                size_bytes=len(d.file.data),
                hash=hashlib.md5(d.file.data).hexdigest(),  # noqa: S324 - ElevenLabs' sample hash is MD5
                duration_secs=round(d.duration_s, 3),
                blob_key=_blob_key(voice_id, sample_id) if voice_id else "",
                created_at_unix=now,
            )
        )
    return rows


def _reference(transform: dict[str, Any] | None) -> dict[str, Any]:
    return dict((transform or {}).get("reference") or {})


def _noise_flags(voice: Voice) -> dict[str, bool]:
    """Whether each stored sample was isolated before cloning (as listed in the voice's model)."""
    reference = _reference(voice.transform)
    default = bool(reference.get("remove_background_noise", False))
    return {
        str(s["sample_id"]): bool(s.get("remove_background_noise", default))
        for s in reference.get("samples") or []
        if s.get("sample_id")
    }


def _without_sample(transform: dict[str, Any] | None, sample_id: str) -> dict[str, Any] | None:
    """``transform`` with ``sample_id`` gone from its samples list (the model itself unchanged)."""
    if transform is None:
        return None
    reference = _reference(transform)
    reference["samples"] = [s for s in reference.get("samples") or [] if s.get("sample_id") != sample_id]
    return {**transform, "reference": reference}


def _voice_not_found(voice_id: str) -> NotFound:
    return NotFound(f"A voice with the voice_id {voice_id} was not found.", status="voice_not_found")


def _sample_not_found(voice_id: str, sample_id: str) -> NotFound:
    return NotFound(
        f"Voice {voice_id} has no sample with the sample_id {sample_id}.", status="sample_not_found"
    )


def _sample_json(sample: VoiceSample, remove_noise: bool) -> dict[str, Any]:
    """One ``Sample`` of ``VoiceResponseModel``."""
    return {
        "sample_id": sample.sample_id,
        "file_name": sample.file_name,
        "mime_type": sample.mime_type,
        "size_bytes": sample.size_bytes,
        "hash": sample.hash,
        "duration_secs": sample.duration_secs,
        "remove_background_noise": remove_noise,
        "has_isolated_audio": False,
        "has_isolated_audio_preview": False,
    }


def _decode_all(files: Sequence[SampleFile]) -> list[_Decoded]:
    from chorus.stt.audio_input import AudioTooLong, UndecodableAudio, decode_any

    out = []
    for file in files:
        if not file.data:
            raise BadRequest(f"The file {file.file_name!r} is empty.", status="invalid_audio")
        try:
            pcm, rate = decode_any(file.data, max_duration_s=MAX_SAMPLE_SECONDS)
        except UndecodableAudio as exc:
            raise BadRequest(
                f"The file {file.file_name!r} could not be decoded as audio: {exc}", status="invalid_audio"
            ) from None
        except AudioTooLong:
            raise BadRequest(
                f"The file {file.file_name!r} is longer than {MAX_SAMPLE_SECONDS:g} seconds.",
                status="audio_too_long",
            ) from None
        samples = np.frombuffer(pcm, dtype="<i2")
        if rate < 4000 or samples.size == 0:
            raise BadRequest(f"The file {file.file_name!r} holds no usable audio.", status="invalid_audio")
        out.append(_Decoded(file, samples, rate))
    return out
