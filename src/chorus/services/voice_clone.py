"""Instant voice cloning use case: samples in, a saved ``cloned`` voice out.

``POST /v1/voices/add`` hands over the uploaded files; :meth:`VoiceCloneService.create` decodes them (any
container FFmpeg reads), optionally isolates the speech (``remove_background_noise``,
:func:`chorus.voicelab.isolation.isolate`), builds the clone (:func:`chorus.voicelab.clone.clone_voice`: a
premade engine voice plus a :class:`~chorus.voicelab.voice_model.VoiceTransform`; seconds of CPU, run in the
TTS executor), saves the voice and keeps each sample as uploaded in the blob store (a ``voice_samples`` row
per file, key ``voice_samples/{voice_id}/{sample_id}``). The samples' summaries also go into the transform's
``reference["samples"]``, which is what :meth:`VoiceService.describe` lists as the voice's ``samples``.

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
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.engines.registry import EngineRegistry
from chorus.errors import BadRequest, NotFound
from chorus.services.accounts import Principal
from chorus.services.voices import VoiceService
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
    ) -> None:
        self._sessions = sessions
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
        name = request.name.strip()
        if not name:
            raise BadRequest("name must not be empty.", status="invalid_name")
        if not request.files:
            raise BadRequest("At least one audio file is needed in files.", status="no_files")
        if len(request.files) > MAX_FILES:
            raise BadRequest(f"At most {MAX_FILES} files can be uploaded.", status="too_many_files")
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(self.executor, _decode_all, request.files)
        language = request.labels.get("language") or "en"
        result = await loop.run_in_executor(
            self.executor, self._clone, decoded, request.remove_background_noise, language
        )
        now = int(time.time())
        samples = [
            VoiceSample(
                sample_id=uuid.uuid4().hex[:20],
                voice_id="",
                file_name=d.file.file_name[:300],
                mime_type=(d.file.content_type or "application/octet-stream")[:100],
                size_bytes=len(d.file.data),
                hash=hashlib.md5(d.file.data).hexdigest(),  # noqa: S324 - ElevenLabs' sample hash is MD5
                duration_secs=round(d.duration_s, 3),
                blob_key="",
                created_at_unix=now,
            )
            for d in decoded
        ]
        transform = result.transform
        reference = dict(transform.reference)
        reference["samples"] = [_sample_json(s, request.remove_background_noise) for s in samples]
        reference["remove_background_noise"] = request.remove_background_noise
        labels = {str(k): str(v) for k, v in request.labels.items()}
        labels.setdefault("language", language)
        voice = await self.voices.create_owned(
            principal,
            name=name,
            engine=result.engine,
            native_voice=result.native_voice,
            category=CATEGORY,
            description=request.description,
            labels=labels,
            transform=transform.replace(reference=reference).to_json(),
        )
        try:
            for sample, d in zip(samples, decoded, strict=True):
                sample.voice_id = voice.voice_id
                sample.blob_key = f"voice_samples/{voice.voice_id}/{sample.sample_id}"
                await self.blobs.put(sample.blob_key, d.file.data)
            async with self._sessions() as session, session.begin():
                session.add_all(samples)
        except BaseException:
            await asyncio.shield(self.voices.delete(principal, voice.voice_id))
            raise
        return voice

    async def sample_audio(self, principal: Principal, voice_id: str, sample_id: str) -> tuple[bytes, str]:
        """A stored sample as uploaded, and its MIME type."""
        voice = await self.voices.get(principal, voice_id)
        async with self._sessions() as session:
            row = await session.get(VoiceSample, sample_id)
        if row is None or row.voice_id != voice.voice_id:
            raise NotFound(
                f"Voice {voice_id} has no sample with the sample_id {sample_id}.", status="sample_not_found"
            )
        return await self.blobs.get(row.blob_key), row.mime_type

    async def samples(self, voice_id: str) -> list[VoiceSample]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(VoiceSample)
                .where(VoiceSample.voice_id == voice_id)
                .order_by(VoiceSample.created_at_unix)
            )
            return list(rows.scalars())

    # --- cloning (worker thread) ---------------------------------------------------------------

    def _clone(self, decoded: list[_Decoded], remove_noise: bool, language: str) -> Any:
        from chorus.voicelab.clone import clone_voice

        vad = self.vad()
        inputs: list[tuple[bytes | np.ndarray, int]] = []
        for d in decoded:
            if remove_noise:
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
