"""Voices v1 and v2, and voice settings."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from chorus.api.deps import ServicesDep, require
from chorus.api.routes.voice_clone import clone_service, parse_labels, read_sample_files
from chorus.api.schemas import VoiceSettingsBody
from chorus.errors import BadRequest
from chorus.services.accounts import Principal
from chorus.services.voice_clone import EditInput
from chorus.services.voices import DEFAULT_VOICE_SETTINGS
from chorus.storage.models import Voice

router = APIRouter()
VoiceReader = Annotated[Principal, Depends(require("voices_read"))]
VoiceWriter = Annotated[Principal, Depends(require("voices_write"))]

# v2 voice_type filter: which categories each value admits.
VOICE_TYPES: dict[str, set[str]] = {
    "personal": {"cloned", "generated", "professional"},
    "community": set(),
    "default": {"premade"},
    "workspace": {"cloned", "generated", "professional"},
    "non-default": {"cloned", "generated", "professional"},
    "non-community": {"premade", "cloned", "generated", "professional"},
    "saved": {"cloned", "generated", "professional"},
}


async def _describe_all(
    services: ServicesDep, principal: Principal, voices: list[Voice]
) -> list[dict[str, Any]]:
    return [
        services.voices.describe(v, await services.voices.settings_for(principal, v), principal)
        for v in voices
    ]


@router.get("/v1/voices")
async def list_voices(
    services: ServicesDep, principal: VoiceReader, show_legacy: bool = False
) -> dict[str, Any]:
    voices = await services.voices.visible(principal)
    return {"voices": await _describe_all(services, principal, voices)}


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(
            "next_page_token is not one this server issued.", status="invalid_page_token"
        ) from None
    if offset < 0:
        raise BadRequest("next_page_token is not one this server issued.", status="invalid_page_token")
    return offset


def _matches(voice: Voice, search: str) -> bool:
    haystack = " ".join([voice.name, voice.description or "", voice.category, *(voice.labels or {}).values()])
    return search.lower() in haystack.lower()


@router.get("/v2/voices")
async def search_voices(
    services: ServicesDep,
    principal: VoiceReader,
    next_page_token: str | None = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
    search: str | None = None,
    sort: Literal["created_at_unix", "name"] | None = None,
    sort_direction: Literal["asc", "desc"] | None = None,
    voice_type: Literal[
        "personal", "community", "default", "workspace", "non-default", "non-community", "saved"
    ]
    | None = None,
    category: Literal["premade", "cloned", "generated", "professional"] | None = None,
    gender: str | None = None,
    age: str | None = None,
    accent: str | None = None,
    language: Annotated[list[str] | None, Query()] = None,
    voice_ids: Annotated[list[str] | None, Query(max_length=100)] = None,
    include_total_count: bool = True,
) -> dict[str, Any]:
    voices = await services.voices.visible(principal)
    if search:
        voices = [v for v in voices if _matches(v, search)]
    if voice_type:
        voices = [v for v in voices if v.category in VOICE_TYPES[voice_type]]
    if category:
        voices = [v for v in voices if v.category == category]
    for label, wanted in (("gender", gender), ("age", age), ("accent", accent)):
        if wanted:
            voices = [v for v in voices if (v.labels or {}).get(label, "").lower() == wanted.lower()]
    if language:
        voices = [v for v in voices if (v.labels or {}).get("language") in set(language)]
    if voice_ids:
        wanted_ids = set(voice_ids)
        voices = [v for v in voices if v.voice_id in wanted_ids]
    sort_key = sort or "created_at_unix"
    descending = (sort_direction or ("desc" if sort_key == "created_at_unix" else "asc")) == "desc"
    if sort_key == "name":
        voices.sort(key=lambda v: (v.name.lower(), v.voice_id), reverse=descending)
    else:
        voices.sort(key=lambda v: (v.created_at_unix, v.voice_id), reverse=descending)
    offset = _decode_token(next_page_token)
    page = voices[offset : offset + page_size]
    has_more = offset + page_size < len(voices)
    token = base64.urlsafe_b64encode(str(offset + page_size).encode()).decode() if has_more else None
    return {
        "voices": await _describe_all(services, principal, page),
        "has_more": has_more,
        "total_count": len(voices),
        "next_page_token": token,
    }


@router.get("/v1/voices/settings/default")
async def default_voice_settings(services: ServicesDep, _principal: VoiceReader) -> dict[str, Any]:
    return dict(DEFAULT_VOICE_SETTINGS)


@router.get("/v1/voices/{voice_id}")
async def get_voice(
    voice_id: str, services: ServicesDep, principal: VoiceReader, with_settings: bool = True
) -> dict[str, Any]:
    voice = await services.voices.get(principal, voice_id)
    return services.voices.describe(voice, await services.voices.settings_for(principal, voice), principal)


@router.delete("/v1/voices/{voice_id}")
async def delete_voice(voice_id: str, services: ServicesDep, principal: VoiceWriter) -> dict[str, str]:
    await services.voices.delete(principal, voice_id)
    return {"status": "ok"}


def _parse_edit_labels(labels: str | None) -> dict[str, str] | None:
    """An edit's ``labels``: None (absent, empty or JSON null, as SDKs send when none are given) leaves
    the voice's labels as they are; an object (or a JSON string holding one) replaces them."""
    if labels is None or labels.strip() in ("", "null"):
        return None
    return parse_labels(labels)


@router.post("/v1/voices/{voice_id}/edit")
async def edit_voice(
    voice_id: str,
    services: ServicesDep,
    principal: VoiceWriter,
    name: Annotated[str, Form(min_length=1)],
    files: Annotated[list[UploadFile] | None, File()] = None,
    description: Annotated[str | None, Form()] = None,
    labels: Annotated[str | None, Form()] = None,
    remove_background_noise: Annotated[bool, Form()] = False,
    moderate_metadata: Annotated[bool, Form()] = False,  # ElevenLabs' LLM moderation: nothing to do here
) -> dict[str, str]:
    """Name, description and labels; ``files`` are added as samples of a cloned voice, re-building it."""
    parsed_labels = _parse_edit_labels(labels)
    if files:
        samples = await read_sample_files(services, files)
        await clone_service(services).edit(
            principal,
            voice_id,
            EditInput(
                name=name,
                files=samples,
                description=description,
                labels=parsed_labels,
                remove_background_noise=remove_background_noise,
            ),
        )
    else:
        await services.voices.edit(
            principal, voice_id, name=name, description=description, labels=parsed_labels
        )
    return {"status": "ok"}


@router.get("/v1/voices/{voice_id}/settings")
async def get_voice_settings(voice_id: str, services: ServicesDep, principal: VoiceReader) -> dict[str, Any]:
    voice = await services.voices.get(principal, voice_id)
    return await services.voices.settings_for(principal, voice)


@router.post("/v1/voices/{voice_id}/settings/edit")
async def edit_voice_settings(
    voice_id: str, body: VoiceSettingsBody, services: ServicesDep, principal: VoiceWriter
) -> dict[str, str]:
    await services.voices.update_settings(principal, voice_id, body.model_dump(exclude_none=True))
    return {"status": "ok"}
