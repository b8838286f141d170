"""Builds every service from one Settings object; the app's lifespan owns the result."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from chorus.config import Settings
from chorus.engines.registry import EngineRegistry
from chorus.services.accounts import ADMIN_USER, AccountService
from chorus.services.audio_isolation import AudioIsolationService
from chorus.services.catalogue import ModelCatalogue
from chorus.services.credits import CreditService
from chorus.services.forced_alignment import ForcedAlignmentService, build_forced_alignment_service
from chorus.services.history import HistoryService
from chorus.services.jobs import InProcessJobQueue
from chorus.services.limits import ConcurrencyLimiter, RateLimiter
from chorus.services.realtime_stt import RealtimeLimits, RealtimeSTTService
from chorus.services.speech_to_speech import SpeechToSpeechService
from chorus.services.stt import STTService
from chorus.services.tokens import TokenService
from chorus.services.tts import TTSService
from chorus.services.usage import UsageService
from chorus.services.voice_clone import VoiceCloneService
from chorus.services.voice_design import VoiceDesignService
from chorus.services.voices import VoiceService
from chorus.services.webhooks import WebhookService
from chorus.storage.blobs import BlobStore
from chorus.storage.db import Database
from chorus.storage.isolation_history import AudioIsolationHistory
from chorus.stt.registry import build_stt_engine
from chorus.voicelab.tone_color import ToneColorProvider

log = logging.getLogger("chorus")


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
    realtime_stt: RealtimeSTTService
    tokens: TokenService
    jobs: InProcessJobQueue
    webhooks: WebhookService
    forced_alignment: ForcedAlignmentService | None = None
    audio_isolation: AudioIsolationService | None = None
    voice_design: VoiceDesignService | None = None
    voice_clone: VoiceCloneService | None = None
    speech_to_speech: SpeechToSpeechService | None = None
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
        # SQLite has one writer at a time: the writes on the request path (charges, history) queue here.
        write_turn = asyncio.Lock() if db.is_sqlite else None
        credits = CreditService(db.sessions, settings, write_turn=write_turn, sync_engine=db.sync_engine)
        catalogue = ModelCatalogue(settings, engines)
        voices = VoiceService(db.sessions, blobs, sync_engine=db.sync_engine)
        await voices.sync_premade(engines.all_voices())
        history = HistoryService(db.sessions, blobs, write_turn=write_turn)
        tts = TTSService(engines, catalogue, voices, credits, history)
        jobs = InProcessJobQueue.from_settings(db.sessions, settings)
        webhooks = WebhookService(db.sessions, settings, jobs)
        stt_engine = build_stt_engine(settings)  # chosen by settings.stt_engine (chorus.stt.registry)
        realtime_limits = RealtimeLimits.from_settings(settings)
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
            stt=STTService(db.sessions, credits, settings, stt_engine, tts.executor),
            rate_limiter=RateLimiter(),
            concurrency=ConcurrencyLimiter(),
            # Realtime sessions get their own engine: one decoder per session that may run at once.
            realtime_stt=RealtimeSTTService(
                credits,
                build_stt_engine(settings, realtime_limits.max_sessions, reuse=stt_engine),
                realtime_limits,
            ),
            tokens=await TokenService.open(db.engine, db.sessions, accounts),
            jobs=jobs,
            webhooks=webhooks,
        )
        services.stt.enable_webhooks(jobs, webhooks, blobs)
        services.forced_alignment = build_forced_alignment_service(credits, settings, tts.executor)
        services.audio_isolation = AudioIsolationService(
            credits, settings, tts.executor, history=AudioIsolationHistory(db.sessions, blobs)
        )
        services.voice_design = VoiceDesignService(db.sessions, blobs, engines, voices, credits, tts.executor)
        tts.base_f0 = services.voice_design.base_f0  # saved voices' pitch targets need their base voice's F0
        # The neural cloning engine, when its models are installed (looked for on first use).
        tone = ToneColorProvider.from_settings(settings)
        tts.tone = tone
        services.voice_clone = VoiceCloneService(db.sessions, blobs, engines, voices, tts.executor, tone=tone)
        services.speech_to_speech = SpeechToSpeechService(
            voices, engines, credits, tts.executor, base_f0=services.voice_design.base_f0,
            vad=services.voice_clone.vad, history=history, tone=tone,
        )  # fmt: skip
        if settings.admin_api_key:
            await accounts.ensure_admin_key(settings.admin_api_key)
        elif not await accounts.has_any_key():
            created = await accounts.create_key(
                "admin (first start)", user_name=ADMIN_USER, permissions="all", is_admin=True
            )
            services.bootstrap_secret = created.secret
        # Last, once every job kind is registered: re-queues jobs a stopped server left running.
        await jobs.start()
        return services

    async def close(self) -> None:
        # First: running jobs still need the engines, executor and database to finish or re-queue.
        await self.jobs.stop()
        self.tts.close()
        self.realtime_stt.close()
        if self.forced_alignment is not None:
            self.forced_alignment.close()
        close_engines = getattr(self.engines, "close", None)
        if close_engines is not None:
            close_engines()
        await self.db.close()
