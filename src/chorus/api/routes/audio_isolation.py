"""Audio isolation over HTTP: ``POST /v1/audio-isolation``, ``POST /v1/audio-isolation/stream``, history.

Multipart ``audio`` (any container FFmpeg reads, or raw 16 kHz s16le with ``file_format=pcm_s16le_16``),
answered with MP3 (``mp3_44100_128``, ElevenLabs' format for this endpoint; the spec has no
``output_format``). ``preview_b64`` is kept with the history item and returned by the history.

History: ``GET /v1/audio-isolation/history?page_size&page&search`` ->
``{items: [AudioIsolationHistoryItemResponseModel], has_more}`` (newest first; ``search`` matches the title,
the upload's file name) and ``DELETE /v1/audio-isolation/history/{history_item_id}`` -> 204. Each item's
``download_url`` is ``GET /v1/audio-isolation/history/{history_item_id}/audio`` on this server, which wants
the same API key as every other route (a Chorus addition: the spec only says the field is a URL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from chorus.api.deps import ServicesDep, generation_slot, require
from chorus.audio.formats import OutputFormat, parse_output_format
from chorus.errors import BadRequest, EngineMissing
from chorus.services.accounts import Principal
from chorus.services.audio_isolation import (
    MAX_HISTORY_PAGE_SIZE,
    AudioIsolationService,
    IsolationInput,
    IsolationJob,
)
from chorus.storage.models import AudioIsolationItem

router = APIRouter()
# Isolations hold one of the key's concurrency slots; reading or deleting the history does not.
Slot = [Depends(generation_slot)]
Isolator = Annotated[Principal, Depends(require("audio_isolation"))]
FileFormat = Annotated[Literal["pcm_s16le_16", "other"] | None, Form()]
OUTPUT_FORMAT = "mp3_44100_128"


def _service(services: ServicesDep) -> AudioIsolationService:
    if services.audio_isolation is None:
        raise EngineMissing("Audio isolation is not available on this server.")
    return services.audio_isolation


async def _start(
    services: ServicesDep,
    principal: Principal,
    audio: UploadFile,
    file_format: str | None,
    preview_b64: str | None = None,
) -> tuple[IsolationJob, OutputFormat]:
    limit = services.settings.max_upload_bytes
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise BadRequest(f"The file is larger than {limit} bytes.", status="file_too_large")
    job = await _service(services).start(
        principal,
        IsolationInput(
            audio=data,
            file_format="pcm_s16le_16" if file_format == "pcm_s16le_16" else "other",
            title=audio.filename,
            preview_b64=preview_b64,
        ),
    )
    return job, parse_output_format(OUTPUT_FORMAT)


def _headers(job: IsolationJob) -> dict[str, str]:
    return {"character-cost": str(job.credits), "x-character-count": str(job.credits)}


@router.post("/v1/audio-isolation", dependencies=Slot)
async def audio_isolation(
    services: ServicesDep,
    principal: Isolator,
    audio: UploadFile,
    file_format: FileFormat = "other",
    preview_b64: Annotated[str | None, Form()] = None,
) -> Response:
    job, fmt = await _start(services, principal, audio, file_format, preview_b64)
    body = await job.render(fmt)
    return Response(content=body, media_type=fmt.media_type, headers=_headers(job))


async def _stream(job: IsolationJob, fmt: OutputFormat) -> AsyncIterator[bytes]:
    """Send each encoded step as it is ready; the charge stands (and the history records the output)
    only if the whole output was sent."""
    completed = False
    sent: list[bytes] = []
    try:
        async with aclosing(job.chunks(fmt)) as chunks:  # type: ignore[type-var]
            async for data in chunks:
                sent.append(data)
                yield data
        completed = True
    finally:
        if completed:
            await job.finish(fmt, b"".join(sent))
        else:
            await job.abort()


@router.post("/v1/audio-isolation/stream", dependencies=Slot)
async def audio_isolation_stream(
    services: ServicesDep,
    principal: Isolator,
    audio: UploadFile,
    file_format: FileFormat = "other",
) -> StreamingResponse:
    job, fmt = await _start(services, principal, audio, file_format)
    return StreamingResponse(_stream(job, fmt), media_type=fmt.media_type, headers=_headers(job))


def _download_url(request: Request, item: AudioIsolationItem) -> str:
    return str(request.url_for("audio_isolation_history_audio", history_item_id=item.id))


@router.get("/v1/audio-isolation/history")
async def audio_isolation_history(
    request: Request,
    services: ServicesDep,
    principal: Isolator,
    page_size: Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE_SIZE)] = 100,
    page: Annotated[int, Query(ge=1)] = 1,
    search: str | None = None,
) -> dict[str, Any]:
    listing = await _service(services).list_history(principal, page_size=page_size, page=page, search=search)
    describe = AudioIsolationService.describe
    return {
        "items": [describe(item, _download_url(request, item)) for item in listing.items],
        "has_more": listing.has_more,
    }


@router.get("/v1/audio-isolation/history/{history_item_id}/audio", name="audio_isolation_history_audio")
async def audio_isolation_history_audio(
    history_item_id: str, services: ServicesDep, principal: Isolator
) -> Response:
    """The isolated audio of one history item (its ``download_url``; not an ElevenLabs path)."""
    item, audio = await _service(services).history_audio(principal, history_item_id)
    extension = item.blob_key.rsplit(".", 1)[-1]
    return Response(
        content=audio,
        media_type=item.content_type,
        headers={"content-disposition": f'attachment; filename="{item.id}.{extension}"'},
    )


@router.delete("/v1/audio-isolation/history/{history_item_id}", status_code=204)
async def delete_audio_isolation_history_item(
    history_item_id: str, services: ServicesDep, principal: Isolator
) -> Response:
    await _service(services).delete_history_item(principal, history_item_id)
    return Response(status_code=204)
