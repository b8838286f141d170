"""Generation history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from chorus.api.deps import ServicesDep, require
from chorus.api.schemas import HistoryDownloadBody
from chorus.services.accounts import Principal

router = APIRouter()
HistoryReader = Annotated[Principal, Depends(require("speech_history_read"))]
HistoryWriter = Annotated[Principal, Depends(require("speech_history_write"))]


@router.get("/v1/history")
async def list_history(
    services: ServicesDep,
    principal: HistoryReader,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    start_after_history_item_id: str | None = None,
    voice_id: str | None = None,
    model_id: str | None = None,
    date_before_unix: int | None = None,
    date_after_unix: int | None = None,
    sort_direction: Literal["asc", "desc"] | None = "desc",
    search: str | None = None,
    source: Literal["TTS", "STS", "Flows"] | None = None,
) -> dict[str, Any]:
    page = await services.history.list(
        principal,
        page_size=page_size,
        start_after=start_after_history_item_id,
        voice_id=voice_id,
        model_id=model_id,
        date_before_unix=date_before_unix,
        date_after_unix=date_after_unix,
        sort_direction=sort_direction or "desc",
        search=search,
        source=source,
    )
    return {
        "history": [services.history.describe(item) for item in page.items],
        "last_history_item_id": page.last_id,
        "has_more": page.has_more,
        "scanned_until": page.scanned_until,
    }


@router.get("/v1/history/{history_item_id}")
async def get_history_item(
    history_item_id: str, services: ServicesDep, principal: HistoryReader
) -> dict[str, Any]:
    return services.history.describe(await services.history.get(principal, history_item_id))


@router.get("/v1/history/{history_item_id}/audio")
async def get_history_audio(
    history_item_id: str, services: ServicesDep, principal: HistoryReader
) -> Response:
    item, audio = await services.history.audio(principal, history_item_id)
    return Response(content=audio, media_type=item.content_type)


@router.delete("/v1/history/{history_item_id}")
async def delete_history_item(
    history_item_id: str, services: ServicesDep, principal: HistoryWriter
) -> dict[str, str]:
    await services.history.delete(principal, history_item_id)
    return {"status": "ok"}


@router.post("/v1/history/download")
async def download_history(
    body: HistoryDownloadBody, services: ServicesDep, principal: HistoryReader
) -> Response:
    data, media_type, filename = await services.history.download(
        principal, body.history_item_ids, body.output_format
    )
    return Response(
        content=data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
