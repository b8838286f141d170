"""Voice design over HTTP: ``/v1/text-to-voice/design``, ``/create-previews``, ``/{voice_id}/remix``, saving a
preview (``POST /v1/text-to-voice``) and playing one (``GET /v1/text-to-voice/{generated_voice_id}/stream``).

Bodies follow the OpenAPI spec's ``VoiceDesignRequestModel``, ``VoicePreviewsRequestModel``,
``VoiceRemixRequestModel`` and ``Body_Create_a_new_voice_from_voice_preview_v1_text_to_voice_post`` (field
names, defaults, bounds: out-of-range values get a 422). ``should_enhance``, ``quality``, the remixing session
ids and ``prompt_strength`` are accepted and have no effect; ``reference_audio_base64`` is refused (this
server designs from descriptions only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from chorus.api.deps import ServicesDep, generation_slot, require
from chorus.api.schemas import StreamingOutputFormatName
from chorus.errors import BadRequest, EngineMissing
from chorus.services.accounts import Principal
from chorus.services.voice_design import DesignInput, PreviewSet, RemixInput, VoiceDesignService

router = APIRouter()
Designer = Annotated[Principal, Depends(require("voice_generation"))]
VoiceWriter = Annotated[Principal, Depends(require("voices_write"))]
Slot = Depends(generation_slot)
STREAM_CHUNK = 16 * 1024

Description = Annotated[str, Field(min_length=20, max_length=1000)]
PreviewText = Annotated[str | None, Field(default=None, min_length=100, max_length=1000)]
Loudness = Annotated[float, Field(ge=-1.0, le=1.0)]
Seed = Annotated[int | None, Field(default=None, ge=0, le=2_147_483_647)]
Guidance = Annotated[float, Field(ge=0.0, le=100.0)]
# The spec's ``AllowedOutputFormats`` for design, create-previews and remix: every format but ``wav_*``.
DesignOutputFormat = StreamingOutputFormatName


class VoiceDesignBody(BaseModel):
    """``VoiceDesignRequestModel``."""

    model_config = ConfigDict(extra="ignore")

    voice_description: Description
    model_id: Literal["eleven_multilingual_ttv_v2", "eleven_ttv_v3"] = "eleven_multilingual_ttv_v2"
    text: PreviewText = None
    auto_generate_text: bool = False
    loudness: Loudness = 0.5
    seed: Seed = None
    guidance_scale: Guidance = 5.0
    stream_previews: bool = False
    should_enhance: bool = False
    remixing_session_id: str | None = None
    remixing_session_iteration_id: str | None = None
    quality: float | None = Field(default=None, ge=-1.0, le=1.0)
    reference_audio_base64: str | None = None
    prompt_strength: float | None = Field(default=None, ge=0.0, le=1.0)


class VoicePreviewsBody(BaseModel):
    """``VoicePreviewsRequestModel`` (the deprecated ``create-previews``)."""

    model_config = ConfigDict(extra="ignore")

    voice_description: Description
    text: PreviewText = None
    auto_generate_text: bool = False
    loudness: Loudness = 0.5
    quality: float = Field(default=0.9, ge=-1.0, le=1.0)
    seed: Seed = None
    guidance_scale: Guidance = 5.0
    should_enhance: bool = False


class VoiceRemixBody(BaseModel):
    """``VoiceRemixRequestModel``."""

    model_config = ConfigDict(extra="ignore")

    voice_description: str = Field(min_length=5, max_length=1000)
    text: PreviewText = None
    auto_generate_text: bool = False
    loudness: Loudness = 0.5
    seed: Seed = None
    guidance_scale: Guidance = 2.0
    stream_previews: bool = False
    remixing_session_id: str | None = None
    remixing_session_iteration_id: str | None = None
    prompt_strength: float | None = Field(default=None, ge=0.0, le=1.0)


class SaveVoiceBody(BaseModel):
    """``Body_Create_a_new_voice_from_voice_preview_v1_text_to_voice_post``."""

    model_config = ConfigDict(extra="ignore")

    # The spec sets no length on either. A blank voice_name is a 400 ``invalid_voice_name`` (the service);
    # an unknown generated_voice_id, whatever its length, a 404. The 200 characters are the voices table's
    # ``name`` column (VARCHAR(200), which PostgreSQL enforces): a longer name gets a 422, not a 500.
    voice_name: str = Field(max_length=200)
    voice_description: Description
    generated_voice_id: str
    labels: dict[str, str] | None = None
    played_not_selected_voice_ids: list[str] | None = None


def _service(services: ServicesDep) -> VoiceDesignService:
    service = getattr(services, "voice_design", None)
    if service is None:
        raise EngineMissing("Voice design is not available on this server.")
    return service


def _response(result: PreviewSet) -> JSONResponse:
    cost = str(result.character_cost)
    return JSONResponse(result.to_http(), headers={"character-cost": cost, "x-character-count": cost})


@router.post("/v1/text-to-voice/design", dependencies=[Slot])
async def design(
    body: VoiceDesignBody,
    request: Request,
    services: ServicesDep,
    principal: Designer,
    output_format: DesignOutputFormat = "mp3_44100_192",
) -> JSONResponse:
    if body.reference_audio_base64:
        raise BadRequest(
            "reference_audio_base64 is not supported: this server designs voices from descriptions only.",
            status="unsupported_feature",
        )
    result = await _service(services).design(
        principal,
        DesignInput(
            voice_description=body.voice_description,
            output_format=output_format,
            model_id=body.model_id,
            text=body.text,
            auto_generate_text=body.auto_generate_text,
            loudness=body.loudness,
            seed=body.seed,
            guidance_scale=body.guidance_scale,
            stream_previews=body.stream_previews,
            request_id=request.state.request_id,
        ),
    )
    return _response(result)


@router.post("/v1/text-to-voice/create-previews", dependencies=[Slot])
async def create_previews(
    body: VoicePreviewsBody,
    request: Request,
    services: ServicesDep,
    principal: Designer,
    output_format: DesignOutputFormat = "mp3_44100_192",
) -> JSONResponse:
    result = await _service(services).design(
        principal,
        DesignInput(
            voice_description=body.voice_description,
            output_format=output_format,
            text=body.text,
            auto_generate_text=body.auto_generate_text,
            loudness=body.loudness,
            seed=body.seed,
            guidance_scale=body.guidance_scale,
            request_id=request.state.request_id,
        ),
    )
    return _response(result)


@router.post("/v1/text-to-voice/{voice_id}/remix", dependencies=[Slot])
async def remix(
    voice_id: str,
    body: VoiceRemixBody,
    request: Request,
    services: ServicesDep,
    principal: Designer,
    output_format: DesignOutputFormat = "mp3_44100_192",
) -> JSONResponse:
    result = await _service(services).remix(
        principal,
        voice_id,
        RemixInput(
            voice_description=body.voice_description,
            output_format=output_format,
            text=body.text,
            auto_generate_text=body.auto_generate_text,
            loudness=body.loudness,
            seed=body.seed,
            guidance_scale=body.guidance_scale,
            stream_previews=body.stream_previews,
            request_id=request.state.request_id,
        ),
    )
    return _response(result)


@router.post("/v1/text-to-voice")
async def save_voice(body: SaveVoiceBody, services: ServicesDep, principal: VoiceWriter) -> dict[str, Any]:
    voice = await _service(services).save(
        principal,
        generated_voice_id=body.generated_voice_id,
        voice_name=body.voice_name,
        voice_description=body.voice_description,
        labels=body.labels,
    )
    return services.voices.describe(voice, await services.voices.settings_for(principal, voice), principal)


@router.get("/v1/text-to-voice/{generated_voice_id}/stream", dependencies=[Slot])
async def stream_preview(generated_voice_id: str, services: ServicesDep, principal: Designer) -> Response:
    audio, media_type = await _service(services).preview_audio(principal, generated_voice_id)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(audio), STREAM_CHUNK):
            yield audio[start : start + STREAM_CHUNK]

    return StreamingResponse(chunks(), media_type=media_type)
