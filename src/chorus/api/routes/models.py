from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from chorus.api.deps import ServicesDep, require
from chorus.services.accounts import Principal

router = APIRouter()


@router.get("/v1/models")
async def list_models(
    services: ServicesDep, _principal: Annotated[Principal, Depends(require("models_read"))]
) -> list[dict[str, Any]]:
    return [services.catalogue.describe(spec) for spec in services.catalogue.specs()]
