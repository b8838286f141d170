"""Speech to speech over HTTP: ``POST /v1/speech-to-speech/{voice_id}`` and ``.../stream``.

The SDKs (2.x) call the same endpoints as ``/v1/voice-changer/{voice_id}`` (and ``/stream``); both paths are
served. Multipart ``audio`` (any container FFmpeg reads, or raw 16 kHz s16le with
``file_format=pcm_s16le_16``), ``model_id``, ``voice_settings`` (a JSON object as text), ``seed``,
``remove_background_noise``; query ``output_format`` (every format; ``wav_*`` not on ``/stream``),
``enable_logging`` (on: the output goes to history with source ``STS``, its id in the ``history-item-id``
header) and ``optimize_streaming_latency`` (accepted; the conversion has one speed).
Permission: ``speech_to_speech`` (a key with ``text_to_speech`` may use it too).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from chorus.api import json_input
from chorus.api.deps import PrincipalDep, ServicesDep, generation_slot
from chorus.api.schemas import OutputFormatName, StreamingOutputFormatName
from chorus.audio.formats import OutputFormat, parse_output_format
from chorus.errors import BadRequest, EngineMissing, Forbidden
from chorus.services.accounts import Principal
from chorus.services.speech_to_speech import STSInput, STSJob

router = APIRouter(dependencies=[Depends(generation_slot)])


async def _converter(principal: PrincipalDep) -> Principal:
    try:
        principal.require("speech_to_speech")
    except Forbidden as missing:
        try:
            principal.require("text_to_speech")
        except Forbidden:
            raise missing from None
    return principal


Converter = Annotated[Principal, Depends(_converter)]
ModelId = Annotated[str, Form()]
# The spec's enum: another value gets a 422, as in audio isolation.
FileFormat = Annotated[Literal["pcm_s16le_16", "other"] | None, Form()]


def _voice_settings(text: str | None) -> dict[str, Any] | None:
    if text is None or text.strip() in ("", "null"):
        return None
    try:
        parsed = json_input.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise BadRequest(
            'voice_settings must be a JSON object, e.g. {"stability": 0.5, "similarity_boost": 0.75}.',
            status="invalid_voice_settings",
        )
    return parsed


async def _start(
    services: ServicesDep,
    principal: Principal,
    voice_id: str,
    audio: UploadFile,
    output_format: str,
    model_id: str,
    voice_settings: str | None,
    seed: int | None,
    remove_background_noise: bool,
    file_format: str | None,
    enable_logging: bool,
    request_id: str | None,
) -> tuple[STSJob, OutputFormat]:
    fmt = parse_output_format(output_format)
    limit = services.settings.max_upload_bytes
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise BadRequest(f"The file is larger than {limit} bytes.", status="file_too_large")
    service = getattr(services, "speech_to_speech", None)
    if service is None:
        raise EngineMissing("Speech to speech is not available on this server.")
    job = await service.start(
        principal,
        voice_id,
        STSInput(
            audio=data,
            model_id=model_id,
            voice_settings=_voice_settings(voice_settings),
            seed=seed,
            remove_background_noise=remove_background_noise,
            file_format="pcm_s16le_16" if file_format == "pcm_s16le_16" else "other",
            enable_logging=enable_logging,
            request_id=request_id,
            output_format_name=output_format,
            content_type=fmt.media_type,
            file_extension=fmt.file_extension,
        ),
    )
    return job, fmt


def _headers(job: STSJob) -> dict[str, str]:
    headers = {"character-cost": str(job.credits), "x-character-count": str(job.credits)}
    if job.history_item_id:
        headers["history-item-id"] = job.history_item_id
    return headers


@router.post("/v1/speech-to-speech/{voice_id}")
@router.post("/v1/voice-changer/{voice_id}")
async def convert(
    voice_id: str,
    request: Request,
    services: ServicesDep,
    principal: Converter,
    audio: UploadFile,
    output_format: OutputFormatName = "mp3_44100_128",
    enable_logging: bool = True,
    optimize_streaming_latency: int | None = None,
    model_id: ModelId = "eleven_english_sts_v2",
    voice_settings: Annotated[str | None, Form()] = None,
    seed: Annotated[int | None, Form(ge=0, le=4294967295)] = None,
    remove_background_noise: Annotated[bool, Form()] = False,
    file_format: FileFormat = "other",
) -> Response:
    job, fmt = await _start(
        services, principal, voice_id, audio, output_format, model_id, voice_settings, seed,
        remove_background_noise, file_format, enable_logging, request.state.request_id,
    )  # fmt: skip
    body = await job.render(fmt)
    return Response(content=body, media_type=fmt.media_type, headers=_headers(job))


async def _stream(job: STSJob, fmt: OutputFormat) -> AsyncIterator[bytes]:
    """Send each converted step as it is ready; the charge (and history) stand only if all was sent."""
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
            await job.finish(b"".join(sent))
        else:
            await job.abort()


@router.post("/v1/speech-to-speech/{voice_id}/stream")
@router.post("/v1/voice-changer/{voice_id}/stream")
async def stream(
    voice_id: str,
    request: Request,
    services: ServicesDep,
    principal: Converter,
    audio: UploadFile,
    output_format: StreamingOutputFormatName = "mp3_44100_128",
    enable_logging: bool = True,
    optimize_streaming_latency: int | None = None,
    model_id: ModelId = "eleven_english_sts_v2",
    voice_settings: Annotated[str | None, Form()] = None,
    seed: Annotated[int | None, Form(ge=0, le=4294967295)] = None,
    remove_background_noise: Annotated[bool, Form()] = False,
    file_format: FileFormat = "other",
) -> StreamingResponse:
    job, fmt = await _start(
        services, principal, voice_id, audio, output_format, model_id, voice_settings, seed,
        remove_background_noise, file_format, enable_logging, request.state.request_id,
    )  # fmt: skip
    return StreamingResponse(_stream(job, fmt), media_type=fmt.media_type, headers=_headers(job))
