"""Speech to text over HTTP: ``POST /v1/speech-to-text`` and stored transcripts."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import httpx
from fastapi import APIRouter, Depends, Form, UploadFile
from fastapi.responses import JSONResponse

from chorus.api.deps import ServicesDep, generation_slot, require
from chorus.errors import BadRequest
from chorus.services.accounts import Principal
from chorus.services.stt import STTInput, parse_keyterms

router = APIRouter()
Listener = Annotated[Principal, Depends(require("speech_to_text"))]
FETCH_TIMEOUT_S = 30.0

# Accepted for compatibility but not yet implemented: refusing them beats silently ignoring them.
NOT_YET = {
    "diarize": "speaker diarization",
    "webhook": "webhook delivery",
    "use_multi_channel": "multi-channel transcription",
    "no_verbatim": "verbatim clean-up (no_verbatim)",
    "detect_speaker_roles": "speaker roles",
}


def _absent(value: str | None) -> bool:
    return value is None or value.strip() in ("", "null")


async def _fetch(url: str, limit: int) -> bytes:
    """Download ``url`` (HTTPS only) within size and time limits."""
    if urlparse(url).scheme != "https":
        raise BadRequest(
            "source_url and cloud_storage_url must be https:// URLs.", status="invalid_source_url"
        )
    data = bytearray()
    try:
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise BadRequest(
                    f"Fetching {url} failed with HTTP {response.status_code}.", status="invalid_source_url"
                )
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > limit:
                    raise BadRequest(
                        f"The file at {url} is larger than {limit} bytes.", status="file_too_large"
                    )
    except httpx.HTTPError as exc:
        raise BadRequest(f"Could not fetch {url}: {exc}", status="invalid_source_url") from None
    return bytes(data)


@router.post("/v1/speech-to-text", dependencies=[Depends(generation_slot)])
async def speech_to_text(
    services: ServicesDep,
    principal: Listener,
    model_id: Annotated[str, Form()],
    file: UploadFile | None = None,
    source_url: Annotated[str | None, Form()] = None,
    cloud_storage_url: Annotated[str | None, Form()] = None,
    language_code: Annotated[str | None, Form()] = None,
    tag_audio_events: Annotated[bool, Form()] = True,
    num_speakers: Annotated[int | None, Form(ge=1, le=32)] = None,
    timestamps_granularity: Annotated[Literal["none", "word", "character"], Form()] = "word",
    diarize: Annotated[bool, Form()] = False,
    diarization_threshold: Annotated[float | None, Form(ge=0.1, le=0.4)] = None,
    file_format: Annotated[Literal["pcm_s16le_16", "other"], Form()] = "other",
    webhook: Annotated[bool, Form()] = False,
    use_multi_channel: Annotated[bool, Form()] = False,
    no_verbatim: Annotated[bool, Form()] = False,
    detect_speaker_roles: Annotated[bool, Form()] = False,
    keyterms: Annotated[list[str] | None, Form()] = None,
    additional_formats: Annotated[str | None, Form()] = None,
    entity_detection: Annotated[str | None, Form()] = None,
    entity_redaction: Annotated[str | None, Form()] = None,
    temperature: Annotated[float | None, Form(ge=0, le=2)] = None,
    seed: Annotated[int | None, Form(ge=0, le=2_147_483_647)] = None,
    enable_logging: bool = True,
) -> JSONResponse:
    flags = {
        "diarize": diarize,
        "webhook": webhook,
        "use_multi_channel": use_multi_channel,
        "no_verbatim": no_verbatim,
        "detect_speaker_roles": detect_speaker_roles,
    }
    for name, on in flags.items():
        if on:
            raise BadRequest(
                f"{NOT_YET[name]} is not available on this server yet.", status="feature_not_available"
            )
    for name, value in (
        ("additional_formats", additional_formats),
        ("entity_detection", entity_detection),
        ("entity_redaction", entity_redaction),
    ):
        if not _absent(value) and value.strip() != "[]":  # type: ignore[union-attr]
            raise BadRequest(f"{name} is not available on this server yet.", status="feature_not_available")
    urls = [u for u in (source_url, cloud_storage_url) if not _absent(u)]
    sources: list[UploadFile | str] = ([file] if file is not None else []) + urls  # type: ignore[operator]
    if len(sources) != 1:
        raise BadRequest(
            "Provide exactly one of file, source_url or cloud_storage_url.", status="invalid_request"
        )
    limit = services.settings.max_upload_bytes
    if file is not None:
        audio = await file.read(limit + 1)
        if len(audio) > limit:
            raise BadRequest(f"The file is larger than {limit} bytes.", status="file_too_large")
    else:
        audio = await _fetch(str(sources[0]), limit)
    terms = parse_keyterms(keyterms[0] if keyterms and len(keyterms) == 1 else json.dumps(keyterms or []))
    body: dict[str, Any] = await services.stt.transcribe(
        principal,
        STTInput(
            audio=audio,
            model_id=model_id,
            file_format=file_format,
            language_code=None if _absent(language_code) else language_code,
            timestamps_granularity=timestamps_granularity,
            keyterms=terms,
            enable_logging=enable_logging,
        ),
    )
    return JSONResponse(body)


@router.get("/v1/speech-to-text/transcripts/{transcription_id}")
async def get_transcript(transcription_id: str, services: ServicesDep, principal: Listener) -> dict[str, Any]:
    return await services.stt.get(principal, transcription_id)


@router.delete("/v1/speech-to-text/transcripts/{transcription_id}")
async def delete_transcript(
    transcription_id: str, services: ServicesDep, principal: Listener
) -> dict[str, str]:
    await services.stt.delete(principal, transcription_id)
    return {"status": "ok"}
