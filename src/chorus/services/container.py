"""Builds every service from one Settings object; the app's lifespan owns the result."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chorus.config import Settings
from chorus.engines.registry import EngineRegistry
from chorus.services.accounts import ADMIN_USER, AccountService
from chorus.services.catalogue import ModelCatalogue
from chorus.services.credits import CreditService
from chorus.services.history import HistoryService
from chorus.services.limits import ConcurrencyLimiter, RateLimiter
from chorus.services.stt import STTService
from chorus.services.tts import TTSService
from chorus.services.usage import UsageService
from chorus.services.voices import VoiceService
from chorus.storage.blobs import BlobStore
from chorus.storage.db import Database

log = logging.getLogger("chorus")


def _build_stt_engine() -> object | None:
    """The embedded recogniser; None (reported per request) when its packages are missing."""
    try:
        from chorus.stt.pocketsphinx_engine import PocketsphinxEngine
    except ImportError as exc:
        log.warning("speech to text unavailable: %s", exc)
        return None
    return PocketsphinxEngine()


@dataclass
class Services:
    settings: Settings
    db: Database
    blobs: BlobStore
    engines: EngineRegistry
    accounts: AccountService
    credits: CreditService
    catalogue: ModelCatalogue
    voices: VoiceService
    history: HistoryService
    usage: UsageService
    tts: TTSService
    stt: STTService
    rate_limiter: RateLimiter
    concurrency: ConcurrencyLimiter
    # Set only on a first start without CHORUS_ADMIN_API_KEY: the admin key created then, shown once.
    bootstrap_secret: str | None = None

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        """Migrate the database, open the blob store, load engines and sync premade voices."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        db.migrate()
        blobs = BlobStore.from_settings(settings)
        engines = EngineRegistry.from_settings(settings)
        for name, reason in engines.status().items():
            if reason:
                log.warning("engine %s unavailable: %s", name, reason)
        accounts = AccountService(db.sessions, settings.default_plan)
        credits = CreditService(db.sessions, settings)
        catalogue = ModelCatalogue(settings, engines)
        voices = VoiceService(db.sessions)
        await voices.sync_premade(engines.all_voices())
        history = HistoryService(db.sessions, blobs)
        tts = TTSService(engines, catalogue, voices, credits, history)
        services = cls(
            settings=settings,
            db=db,
            blobs=blobs,
            engines=engines,
            accounts=accounts,
            credits=credits,
            catalogue=catalogue,
            voices=voices,
            history=history,
            usage=UsageService(db.sessions),
            tts=tts,
            stt=STTService(db.sessions, credits, settings, _build_stt_engine(), tts.executor),
            rate_limiter=RateLimiter(),
            concurrency=ConcurrencyLimiter(),
        )
        if settings.admin_api_key:
            await accounts.ensure_admin_key(settings.admin_api_key)
        elif not await accounts.has_any_key():
            created = await accounts.create_key(
                "admin (first start)", user_name=ADMIN_USER, permissions="all", is_admin=True
            )
            services.bootstrap_secret = created.secret
        return services

    async def close(self) -> None:
        self.tts.close()
        close_engines = getattr(self.engines, "close", None)
        if close_engines is not None:
            close_engines()
        await self.db.close()
