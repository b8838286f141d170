"""Text to speech over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from chorus.api.deps import ServicesDep, generation_slot, require
from chorus.api.schemas import OutputFormatName, TextToSpeechBody
from chorus.audio.formats import parse_output_format
from chorus.errors import BadRequest
from chorus.services.accounts import Principal
from chorus.services.tts import TTSInput

router = APIRouter()
Speaker = Annotated[Principal, Depends(require("text_to_speech"))]


@router.post("/v1/text-to-speech/{voice_id}", dependencies=[Depends(generation_slot)])
async def text_to_speech(
    voice_id: str,
    body: TextToSpeechBody,
    request: Request,
    services: ServicesDep,
    principal: Speaker,
    enable_logging: bool = True,
    optimize_streaming_latency: Annotated[int | None, Query(ge=0, le=4)] = None,
    output_format: OutputFormatName = "mp3_44100_128",
) -> Response:
    fmt = parse_output_format(output_format)
    if body.voice_settings is not None:
        voice_settings = body.voice_settings.model_dump(exclude_none=True)
    else:
        voice_settings = None
    if body.seed is not None and body.seed < 0:
        raise BadRequest("seed must be between 0 and 4294967295.")
    result = await services.tts.convert(
        principal,
        voice_id,
        TTSInput(
            text=body.text,
            model_id=body.model_id,
            voice_settings=voice_settings,
            language_code=body.language_code,
            seed=body.seed,
            output_format=fmt,
            output_format_name=output_format,
            enable_logging=enable_logging,
            request_id=request.state.request_id,
        ),
    )
    headers = {"character-cost": str(result.character_cost), "x-character-count": str(result.character_cost)}
    if result.history_item_id:
        headers["history-item-id"] = result.history_item_id
    return Response(content=result.audio, media_type=result.media_type, headers=headers)
