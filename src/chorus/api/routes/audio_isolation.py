"""Audio isolation over HTTP: ``POST /v1/audio-isolation`` and ``POST /v1/audio-isolation/stream``.

Multipart ``audio`` (any container FFmpeg reads, or raw 16 kHz s16le with ``file_format=pcm_s16le_16``),
answered with MP3 (``mp3_44100_128``, ElevenLabs' format for this endpoint; the spec has no
``output_format``). ``preview_b64`` is accepted and ignored: it only labels ElevenLabs' web history.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Response, UploadFile
from fastapi.responses import StreamingResponse

from chorus.api.deps import ServicesDep, generation_slot, require
from chorus.audio.formats import OutputFormat, parse_output_format
from chorus.errors import BadRequest, EngineMissing
from chorus.services.accounts import Principal
from chorus.services.audio_isolation import IsolationInput, IsolationJob

router = APIRouter(dependencies=[Depends(generation_slot)])
Isolator = Annotated[Principal, Depends(require("audio_isolation"))]
FileFormat = Annotated[Literal["pcm_s16le_16", "other"] | None, Form()]
OUTPUT_FORMAT = "mp3_44100_128"


async def _start(
    services: ServicesDep, principal: Principal, audio: UploadFile, file_format: str | None
) -> tuple[IsolationJob, OutputFormat]:
    limit = services.settings.max_upload_bytes
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise BadRequest(f"The file is larger than {limit} bytes.", status="file_too_large")
    if services.audio_isolation is None:
        raise EngineMissing("Audio isolation is not available on this server.")
    job = await services.audio_isolation.start(
        principal,
        IsolationInput(audio=data, file_format="pcm_s16le_16" if file_format == "pcm_s16le_16" else "other"),
    )
    return job, parse_output_format(OUTPUT_FORMAT)


def _headers(job: IsolationJob) -> dict[str, str]:
    return {"character-cost": str(job.credits), "x-character-count": str(job.credits)}


@router.post("/v1/audio-isolation")
async def audio_isolation(
    services: ServicesDep,
    principal: Isolator,
    audio: UploadFile,
    file_format: FileFormat = "other",
    preview_b64: Annotated[str | None, Form()] = None,
) -> Response:
    job, fmt = await _start(services, principal, audio, file_format)
    body = await job.render(fmt)
    return Response(content=body, media_type=fmt.media_type, headers=_headers(job))


async def _stream(job: IsolationJob, fmt: OutputFormat) -> AsyncIterator[bytes]:
    """Send each encoded step as it is ready; the charge stands only if the whole output was sent."""
    completed = False
    try:
        async with aclosing(job.chunks(fmt)) as chunks:  # type: ignore[type-var]
            async for data in chunks:
                yield data
        completed = True
    finally:
        if completed:
            job.finish()
        else:
            await job.abort()


@router.post("/v1/audio-isolation/stream")
async def audio_isolation_stream(
    services: ServicesDep,
    principal: Isolator,
    audio: UploadFile,
    file_format: FileFormat = "other",
) -> StreamingResponse:
    job, fmt = await _start(services, principal, audio, file_format)
    return StreamingResponse(_stream(job, fmt), media_type=fmt.media_type, headers=_headers(job))
