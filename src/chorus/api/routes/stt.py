"""Speech to text over HTTP: ``POST /v1/speech-to-text`` and stored transcripts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import httpx
from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from chorus.api.deps import ServicesDep, authenticate, generation_slot, require
from chorus.errors import BadRequest
from chorus.services.accounts import Principal
from chorus.services.stt import STTInput, parse_keyterms
from chorus.services.webhooks import parse_webhook_metadata
from chorus.stt.entities import check_redaction, parse_entity_option, parse_redaction_mode
from chorus.stt.exports import parse_additional_formats

router = APIRouter()
# POST /v1/speech-to-text authenticates itself (a batch_scribe token or a key), so the app mounts it outside
# the router whose every route needs a key.
batch_router = APIRouter()
Listener = Annotated[Principal, Depends(require("speech_to_text"))]
FETCH_TIMEOUT_S = 30.0


async def _batch_caller(
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Query(description="A single-use batch_scribe token.")] = None,
) -> Principal:
    """The caller of ``POST /v1/speech-to-text``: a single-use ``token`` (type ``batch_scribe``, for
    browsers; it takes precedence over an API key, as on the realtime socket), else the API key. Either way
    the key needs ``speech_to_text`` and its rate limit applies. The token is only checked here: the route
    spends it once the request has passed validation (:func:`_spend_token`), so a 4xx leaves it usable."""
    if token is not None and token.strip():
        principal = await services.tokens.check(token, "batch_scribe")
        request.state.principal = principal
        request.state.batch_token = token
        services.rate_limiter.hit(
            principal.key_id, principal.rate_limit_per_minute or services.settings.rate_limit_per_minute
        )
    else:
        principal = await authenticate(request, services)
    principal.require("speech_to_text")
    return principal


BatchCaller = Annotated[Principal, Depends(_batch_caller)]


async def _spend_token(request: Request, services: ServicesDep) -> None:
    """Consume the request's single-use token, if it came with one (raises if another request won it)."""
    token = getattr(request.state, "batch_token", None)
    if token is not None:
        await services.tokens.redeem(token, "batch_scribe")


_slot = contextlib.asynccontextmanager(generation_slot)


async def _batch_slot(request: Request, principal: BatchCaller, services: ServicesDep) -> AsyncIterator[None]:
    """:func:`generation_slot` for the caller found by :func:`_batch_caller` (a token has no API key)."""
    async with _slot(request, principal, services):
        yield


def _absent(value: str | None) -> bool:
    return value is None or value.strip() in ("", "null")


def _unwrap(values: list[str] | None) -> str | list[str] | None:
    """One form field stays its text (JSON, a name or ``null``); repeated fields stay a list."""
    if not values:
        return None
    return values[0] if len(values) == 1 else values


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


@batch_router.post("/v1/speech-to-text", dependencies=[Depends(_batch_slot)])
async def speech_to_text(
    http_request: Request,
    services: ServicesDep,
    principal: BatchCaller,
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
    webhook_id: Annotated[str | None, Form()] = None,
    webhook_metadata: Annotated[str | None, Form()] = None,
    use_multi_channel: Annotated[bool, Form()] = False,
    multichannel_output_style: Annotated[Literal["separate", "combined"], Form()] = "separate",
    no_verbatim: Annotated[bool, Form()] = False,
    detect_speaker_roles: Annotated[bool, Form()] = False,
    use_speaker_library: Annotated[bool, Form()] = False,
    keyterms: Annotated[list[str] | None, Form()] = None,
    # Repeated fields (JS SDK) or one JSON field (Python SDK, literal "null" when unset) both arrive as lists.
    additional_formats: Annotated[list[str] | None, Form()] = None,
    entity_detection: Annotated[list[str] | None, Form()] = None,
    entity_redaction: Annotated[list[str] | None, Form()] = None,
    entity_redaction_mode: Annotated[str | None, Form()] = None,
    temperature: Annotated[float | None, Form(ge=0, le=2)] = None,
    seed: Annotated[int | None, Form(ge=0, le=2_147_483_647)] = None,
    enable_logging: bool = True,
) -> JSONResponse:
    # Parsed before anything is read or charged, so malformed options cost nothing.
    detect = parse_entity_option(_unwrap(entity_detection), "entity_detection") or frozenset()
    redact_types = parse_entity_option(_unwrap(entity_redaction), "entity_redaction") or frozenset()
    check_redaction(detect, redact_types)
    mode = parse_redaction_mode(entity_redaction_mode)
    exports = parse_additional_formats(_unwrap(additional_formats))
    metadata = parse_webhook_metadata(webhook_metadata)
    target_id = None if _absent(webhook_id) else webhook_id.strip()  # type: ignore[union-attr]
    if not webhook and (target_id is not None or metadata is not None):
        raise BadRequest(
            "webhook_id and webhook_metadata are only valid when webhook is true.", status="invalid_request"
        )
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
    stt_input = STTInput(
        audio=audio,
        model_id=model_id,
        file_format=file_format,
        language_code=None if _absent(language_code) else language_code,
        timestamps_granularity=timestamps_granularity,
        keyterms=terms,
        enable_logging=enable_logging,
        tag_audio_events=tag_audio_events,
        diarize=diarize,
        num_speakers=num_speakers,
        diarization_threshold=diarization_threshold,
        detect_speaker_roles=detect_speaker_roles,
        no_verbatim=no_verbatim,
        entity_detection=tuple(sorted(detect)),
        entity_redaction=tuple(sorted(redact_types)),
        entity_redaction_mode=mode,
        additional_formats=tuple(dataclasses.asdict(e) for e in exports),
        use_multi_channel=use_multi_channel,
        multichannel_output_style=multichannel_output_style,
    )
    await _spend_token(http_request, services)
    if webhook:
        # Answered at once (SpeechToTextWebhookResponseModel); the transcript goes to the webhooks.
        accepted = await services.stt.submit_webhook(
            principal,
            stt_input,
            request_id=http_request.state.request_id,
            webhook_id=target_id,
            webhook_metadata=metadata,
        )
        return JSONResponse(accepted, status_code=202)
    body: dict[str, Any] = await services.stt.transcribe(principal, stt_input)
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
