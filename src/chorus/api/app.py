"""The FastAPI application factory."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from chorus import __version__
from chorus.api.deps import authenticate
from chorus.api.errors import install_error_handlers
from chorus.api.json_input import StrictJSONMiddleware
from chorus.api.middleware import RequestIdMiddleware
from chorus.api.routes import (
    audio_isolation,
    forced_alignment,
    health,
    history,
    models,
    speech_to_speech,
    stt,
    stt_realtime,
    text_to_voice,
    tokens,
    tts,
    tts_ws,
    user,
    voice_clone,
    voices,
    webhooks,
)
from chorus.config import Settings
from chorus.services.container import Services


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; services are created in the lifespan from ``settings`` (or the environment)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await Services.start(settings or Settings())
        app.state.services = services
        if services.bootstrap_secret:
            print(
                "\nChorus created an administrator API key (shown only this once; store it now):\n"
                f"    {services.bootstrap_secret}\n",
                file=sys.stderr,
                flush=True,
            )
        try:
            yield
        finally:
            await services.close()

    # The interactive docs would be routes without a key; Chorus keeps every route but /health behind one.
    app = FastAPI(
        title="Chorus",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)

    api = APIRouter(dependencies=[Depends(authenticate)])
    for module in (models, voices, tts, stt, history, user, webhooks, forced_alignment, audio_isolation):
        api.include_router(module.router)
    api.include_router(tokens.router)
    api.include_router(text_to_voice.router)
    api.include_router(voice_clone.router)
    api.include_router(speech_to_speech.router)
    app.include_router(health.router)
    app.include_router(api)
    # Authenticates itself: a single-use batch_scribe token or a key.
    app.include_router(stt.batch_router)
    # WebSockets authenticate themselves: the key may arrive in the first message.
    app.include_router(tts_ws.router)
    app.include_router(stt_realtime.router)

    # Innermost: JSON bodies are checked (no NaN, no lone surrogates) with CORS and request ids around it.
    app.add_middleware(StrictJSONMiddleware)
    # CORS as ElevenLabs answers it, so browser clients work unchanged.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["POST", "PATCH", "OPTIONS", "DELETE", "GET", "PUT"],
        allow_headers=["*"],
        expose_headers=[
            "request-id", "xi-request-id", "history-item-id", "character-cost", "x-character-count",
            "current-concurrent-requests", "maximum-concurrent-requests",
        ],
        max_age=600,
    )  # fmt: skip
    app.add_middleware(RequestIdMiddleware)
    return app
