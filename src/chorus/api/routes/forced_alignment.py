"""Forced alignment over HTTP: ``POST /v1/forced-alignment`` (multipart ``file``, ``text``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, UploadFile
from fastapi.responses import JSONResponse

from chorus.api.deps import ServicesDep, generation_slot, require
from chorus.errors import BadRequest, EngineMissing
from chorus.services.accounts import Principal
from chorus.services.forced_alignment import AlignmentRequest

router = APIRouter()
Aligner = Annotated[Principal, Depends(require("forced_alignment"))]


@router.post("/v1/forced-alignment", dependencies=[Depends(generation_slot)])
async def forced_alignment(
    services: ServicesDep,
    principal: Aligner,
    file: UploadFile,
    text: Annotated[str, Form()],
    # Accepted for compatibility: uploads are always spooled to disk past a small size, and decoding
    # streams the container, so there is nothing to switch on.
    enabled_spooled_file: Annotated[bool, Form()] = False,
) -> JSONResponse:
    service = getattr(services, "forced_alignment", None)
    if service is None:
        raise EngineMissing("Forced alignment is not available on this server.")
    limit = services.settings.max_upload_bytes
    audio = await file.read(limit + 1)
    if len(audio) > limit:
        raise BadRequest(f"The file is larger than {limit} bytes.", status="file_too_large")
    body: dict[str, Any] = await service.align(principal, AlignmentRequest(audio=audio, text=text))
    return JSONResponse(body)
