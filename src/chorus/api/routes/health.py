"""Liveness, the only route without authentication."""

from __future__ import annotations

from fastapi import APIRouter

from chorus import __version__
from chorus.api.deps import ServicesDep

router = APIRouter()


@router.get("/health", include_in_schema=False)
async def health(services: ServicesDep) -> dict[str, object]:
    engines = services.engines.status()
    tone = services.tts.tone
    if tone is not None:
        # The neural cloning engine (OpenVoice's tone color converter), listed like the TTS engines.
        engines = {**engines, "openvoice": tone.status()}
    return {"status": "ok", "version": __version__, "engines": engines}
