"""Text to speech over HTTP: convert, stream, with-timestamps and stream/with-timestamps."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from chorus.api.audio_out import render_whole
from chorus.api.deps import ServicesDep, generation_slot, require
from chorus.api.schemas import OutputFormatName, StreamingOutputFormatName, TextToSpeechBody
from chorus.audio.encode import StreamEncoder
from chorus.audio.formats import OutputFormat, parse_output_format
from chorus.services.accounts import Principal
from chorus.services.alignment import CharAlignment
from chorus.services.tts import SynthesisJob, TTSInput

router = APIRouter(dependencies=[Depends(generation_slot)])
Speaker = Annotated[Principal, Depends(require("text_to_speech"))]
Latency = Annotated[int | None, Query(ge=0, le=4)]


class TTSCall:
    """What every TTS route receives: the voice, the body, the caller and the common query parameters."""

    def __init__(
        self,
        voice_id: str,
        body: TextToSpeechBody,
        request: Request,
        services: ServicesDep,
        principal: Speaker,
        enable_logging: bool = True,
        optimize_streaming_latency: int | None = None,
    ) -> None:
        self.voice_id, self.body, self.request = voice_id, body, request
        self.services, self.principal = services, principal
        self.enable_logging, self.latency = enable_logging, optimize_streaming_latency

    async def start(self, output_format: str, timestamps: bool = True) -> tuple[SynthesisJob, OutputFormat]:
        """Validate and charge; the job is ready to render in ``output_format`` (with character times
        when ``timestamps``)."""
        fmt = parse_output_format(output_format)
        body = self.body
        job = await self.services.tts.start(
            self.principal,
            self.voice_id,
            TTSInput(
                text=body.text,
                model_id=body.model_id,
                voice_settings=body.voice_settings.model_dump(exclude_none=True)
                if body.voice_settings
                else None,
                language_code=body.language_code,
                seed=body.seed,
                output_format_name=output_format,
                content_type=fmt.media_type,
                file_extension=fmt.file_extension,
                enable_logging=self.enable_logging,
                request_id=self.request.state.request_id,
                apply_text_normalization=body.apply_text_normalization,
                optimize_streaming_latency=self.latency,
                timestamps=timestamps,
            ),
        )
        return job, fmt


async def tts_call(
    voice_id: str,
    body: TextToSpeechBody,
    request: Request,
    services: ServicesDep,
    principal: Speaker,
    enable_logging: bool = True,
    optimize_streaming_latency: Latency = None,
) -> TTSCall:
    # A coroutine, not the class itself: FastAPI would construct a class dependency in a worker thread.
    return TTSCall(voice_id, body, request, services, principal, enable_logging, optimize_streaming_latency)


Call = Annotated[TTSCall, Depends(tts_call)]


def _headers(job: SynthesisJob) -> dict[str, str]:
    headers = {"character-cost": str(job.character_cost), "x-character-count": str(job.character_cost)}
    if job.history_item_id:
        headers["history-item-id"] = job.history_item_id
    return headers


@router.post("/v1/text-to-speech/{voice_id}")
async def convert(call: Call, output_format: OutputFormatName = "mp3_44100_128") -> Response:
    job, fmt = await call.start(output_format, timestamps=False)
    audio, _, _ = await render_whole(job, fmt)
    await job.finish(audio)
    return Response(content=audio, media_type=fmt.media_type, headers=_headers(job))


@router.post("/v1/text-to-speech/{voice_id}/with-timestamps")
async def convert_with_timestamps(call: Call, output_format: OutputFormatName = "mp3_44100_128") -> Response:
    job, fmt = await call.start(output_format)
    audio, alignment, normalized = await render_whole(job, fmt)
    await job.finish(audio, alignment, normalized)
    return JSONResponse(
        {
            "audio_base64": base64.b64encode(audio).decode(),
            "alignment": alignment.to_http(),
            "normalized_alignment": normalized.to_http(),
        },
        headers=_headers(job),
    )


async def _stream(job: SynthesisJob, fmt: OutputFormat, timestamps: bool) -> AsyncIterator[bytes]:
    """Encode each rendered chunk as it arrives; record history (or refund) when the stream ends."""
    encoder = StreamEncoder(job.pcm_format, fmt)
    sent: list[bytes] = []
    alignment, normalized = CharAlignment(), CharAlignment()
    completed = False
    try:
        async with aclosing(job.chunks(encoder.feed)) as chunks:
            async for chunk, data in chunks:
                sent.append(data)
                if timestamps:
                    alignment.extend(chunk.alignment)
                    normalized.extend(chunk.normalized_alignment)
                    if data or len(chunk.alignment):
                        yield _ndjson(data, chunk.alignment, chunk.normalized_alignment)
                elif data:
                    yield data
        tail = encoder.flush()
        sent.append(tail)
        if tail:
            yield _ndjson(tail, CharAlignment(), CharAlignment()) if timestamps else tail
        completed = True
    finally:
        if completed:
            await job.finish(
                b"".join(sent), alignment if timestamps else None, normalized if timestamps else None
            )
        else:
            await job.abort()


def _ndjson(audio: bytes, alignment: CharAlignment, normalized: CharAlignment) -> bytes:
    line = {
        "audio_base64": base64.b64encode(audio).decode(),
        "alignment": alignment.to_http() if len(alignment) else None,
        "normalized_alignment": normalized.to_http() if len(normalized) else None,
    }
    return (json.dumps(line, ensure_ascii=False) + "\n").encode()


@router.post("/v1/text-to-speech/{voice_id}/stream")
async def stream(call: Call, output_format: StreamingOutputFormatName = "mp3_44100_128") -> StreamingResponse:
    job, fmt = await call.start(output_format, timestamps=False)
    return StreamingResponse(
        _stream(job, fmt, timestamps=False), media_type=fmt.media_type, headers=_headers(job)
    )


@router.post("/v1/text-to-speech/{voice_id}/stream/with-timestamps")
async def stream_with_timestamps(
    call: Call, output_format: StreamingOutputFormatName = "mp3_44100_128"
) -> StreamingResponse:
    job, fmt = await call.start(output_format)
    return StreamingResponse(
        _stream(job, fmt, timestamps=True), media_type="application/x-ndjson", headers=_headers(job)
    )
