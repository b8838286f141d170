"""Instant voice cloning over HTTP: ``POST /v1/voices/add``, the samples' audio, and deleting a sample.

Multipart ``files`` (repeated; any container FFmpeg reads), ``name``, ``description``, ``labels`` (a JSON
object as text, which is what the SDKs send) and ``remove_background_noise``. Answers
``{voice_id, requires_verification: false}``; the voice is a ``cloned`` voice usable in every TTS route.
``DELETE /v1/voices/{voice_id}/samples/{sample_id}`` answers ``{"status": "ok"}`` and re-builds the clone
from the samples left (:meth:`~chorus.services.voice_clone.VoiceCloneService.delete_sample`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile

from chorus.api import json_input
from chorus.api.deps import ServicesDep, require
from chorus.errors import BadRequest, EngineMissing
from chorus.services.accounts import Principal
from chorus.services.voice_clone import CloneInput, SampleFile, VoiceCloneService

router = APIRouter()
VoiceReader = Annotated[Principal, Depends(require("voices_read"))]
VoiceWriter = Annotated[Principal, Depends(require("voices_write"))]


def clone_service(services: ServicesDep) -> VoiceCloneService:
    service = getattr(services, "voice_clone", None)
    if service is None:
        raise EngineMissing("Voice cloning is not available on this server.")
    return service


def parse_labels(labels: str | None) -> dict[str, str]:
    """``labels`` as sent in a form field: a JSON object (of strings; other values are stringified)."""
    if labels is None or labels.strip() in ("", "null", "{}"):
        return {}
    try:
        parsed: Any = json_input.loads(labels)
    except json.JSONDecodeError:
        raise BadRequest(
            'labels must be a JSON object of strings, e.g. {"accent": "british"}.', status="invalid_labels"
        ) from None
    if isinstance(parsed, str):
        # The Python SDK JSON-encodes labels given as a string once more: a JSON string holding the object.
        return parse_labels(parsed) if parsed.strip().startswith("{") else _bad_labels()
    if not isinstance(parsed, dict):
        _bad_labels()
    return {str(k): str(v) for k, v in parsed.items() if v is not None}


def _bad_labels() -> NoReturn:
    raise BadRequest(
        'labels must be a JSON object of strings, e.g. {"accent": "british"}.', status="invalid_labels"
    )


async def read_sample_files(services: ServicesDep, files: list[UploadFile]) -> list[SampleFile]:
    """The uploads of a ``files`` field, at most ``max_upload_bytes`` in all."""
    limit = services.settings.max_upload_bytes
    samples: list[SampleFile] = []
    total = 0
    for upload in files:
        data = await upload.read(limit + 1)
        total += len(data)
        if total > limit:
            raise BadRequest(f"The files are larger than {limit} bytes in all.", status="file_too_large")
        samples.append(SampleFile(upload.filename or "sample", upload.content_type, data))
    return samples


@router.post("/v1/voices/add")
async def add_voice(
    services: ServicesDep,
    principal: VoiceWriter,
    name: Annotated[str, Form()],
    files: Annotated[list[UploadFile], File()],
    description: Annotated[str | None, Form()] = None,
    labels: Annotated[str | None, Form()] = None,
    remove_background_noise: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    # name and files are required (a missing one gets FastAPI's 422, as the spec's schema says); a blank
    # name is a 400 ``invalid_name``.
    if not name.strip():
        raise BadRequest("name must not be empty.", status="invalid_name")
    parsed_labels = parse_labels(labels)
    samples = await read_sample_files(services, files)
    voice = await clone_service(services).create(
        principal,
        CloneInput(
            name=name,
            files=samples,
            description=description,
            labels=parsed_labels,
            remove_background_noise=remove_background_noise,
        ),
    )
    return {"voice_id": voice.voice_id, "requires_verification": False}


@router.get("/v1/voices/{voice_id}/samples/{sample_id}/audio")
async def sample_audio(
    voice_id: str, sample_id: str, services: ServicesDep, principal: VoiceReader
) -> Response:
    audio, media_type = await clone_service(services).sample_audio(principal, voice_id, sample_id)
    return Response(content=audio, media_type=media_type)


@router.delete("/v1/voices/{voice_id}/samples/{sample_id}")
async def delete_sample(
    voice_id: str, sample_id: str, services: ServicesDep, principal: VoiceWriter
) -> dict[str, str]:
    await clone_service(services).delete_sample(principal, voice_id, sample_id)
    return {"status": "ok"}
