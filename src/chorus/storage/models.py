"""ORM tables. Times are integer Unix seconds (ElevenLabs' wire unit) unless a name says otherwise."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    plan: Mapped[str] = mapped_column(String(40))
    # NULL means no limit (administrators). Copied from the plan so the charge is one conditional UPDATE.
    character_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    character_count: Mapped[int] = mapped_column(BigInteger, default=0)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    period_start_unix: Mapped[int] = mapped_column(BigInteger)
    created_at_unix: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # sha256 of the secret; the secret itself is never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))
    permissions: Mapped[list[str] | str] = mapped_column(JSON)  # list of names, or "all"
    character_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    character_count: Mapped[int] = mapped_column(BigInteger, default=0)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_concurrent_requests: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at_unix: Mapped[int] = mapped_column(BigInteger)


class Voice(Base):
    __tablename__ = "voices"

    voice_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # NULL owner: a premade voice, visible to everyone.
    owner_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    engine: Mapped[str] = mapped_column(String(40))
    native_voice: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at_unix: Mapped[int] = mapped_column(BigInteger)
    # A VoiceTransform (chorus.voicelab.voice_model) applied to the base engine voice; NULL: none.
    transform: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class VoiceSample(Base):
    """An audio sample a voice was made from (instant cloning), kept in the blob store."""

    __tablename__ = "voice_samples"

    sample_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    voice_id: Mapped[str] = mapped_column(ForeignKey("voices.voice_id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(String(300))
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    duration_secs: Mapped[float | None] = mapped_column(Float, nullable=True)
    blob_key: Mapped[str] = mapped_column(String(200))
    created_at_unix: Mapped[int] = mapped_column(BigInteger)


class VoicePreview(Base):
    """A generated voice (voice design or remix) not yet saved: its base voice, transform and preview audio.
    ``POST /v1/text-to-voice`` turns one into a voice; previews expire."""

    __tablename__ = "voice_previews"

    generated_voice_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    engine: Mapped[str] = mapped_column(String(40))
    native_voice: Mapped[str] = mapped_column(String(200))
    transform: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    media_type: Mapped[str] = mapped_column(String(60))
    blob_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    duration_secs: Mapped[float | None] = mapped_column(Float, nullable=True)
    source_voice_id: Mapped[str | None] = mapped_column(String(40), nullable=True)  # remix: the original
    created_at_unix: Mapped[int] = mapped_column(BigInteger)


class UserVoiceSettings(Base):
    """A user's own settings for a voice they do not own (premade voices are shared)."""

    __tablename__ = "user_voice_settings"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    voice_id: Mapped[str] = mapped_column(ForeignKey("voices.voice_id", ondelete="CASCADE"), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)


class HistoryItem(Base):
    __tablename__ = "history_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    api_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    voice_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    voice_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    voice_category: Mapped[str | None] = mapped_column(String(20), nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    character_count_change_from: Mapped[int] = mapped_column(BigInteger)
    character_count_change_to: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(60))
    output_format: Mapped[str | None] = mapped_column(String(40), nullable=True)
    source: Mapped[str] = mapped_column(String(20), default="TTS")
    # Content-addressed: equal audio is stored once and referenced by every item that produced it.
    blob_key: Mapped[str] = mapped_column(String(200), index=True)
    # Character timings of with-timestamps generations: {"alignment": ..., "normalized_alignment": ...}.
    alignments: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Sub-second creation time keeps pagination order stable within one second.
    created_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_history_user_created", "user_id", "created_at"),)


class UsageEvent(Base):
    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    api_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    voice_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    product: Mapped[str] = mapped_column(String(40), default="tts")
    characters: Mapped[int] = mapped_column(BigInteger)
    credits: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_usage_user_created", "user_id", "created_at"),)


class Transcript(Base):
    """A speech-to-text result kept for ``GET /v1/speech-to-text/transcripts/{id}``."""

    __tablename__ = "transcripts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String(40))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    audio_duration_secs: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)


class Job(Base):
    """One unit of background work (``services/jobs.py``): claimed by a conditional UPDATE, leased."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # queued | running | succeeded | failed | cancelled
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    # Unix seconds (fractional): when a queued job may next be claimed.
    next_run_at: Mapped[float] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    result: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The runner holding a running job and until when; an expired lease means its runner died.
    locked_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_jobs_status_next_run", "status", "next_run_at"),)


class Webhook(Base):
    """A workspace webhook (``/v1/workspace/webhooks``). The HMAC secret is kept to sign deliveries."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    webhook_url: Mapped[str] = mapped_column(Text)
    auth_type: Mapped[str] = mapped_column(String(10))
    secret: Mapped[str] = mapped_column(String(100))
    request_headers: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    # WorkspaceWebhookEventType names this webhook is subscribed to, e.g. ["speech_to_text"].
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_auto_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    retry_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    most_recent_failure_error_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    most_recent_failure_timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at_unix: Mapped[int] = mapped_column(BigInteger)


class SingleUseToken(Base):
    """A single-use token (``POST /v1/single-use-token/{type}``): only its hash is kept."""

    __tablename__ = "single_use_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_type: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    consumed_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class AudioIsolationItem(Base):
    """One audio isolation (``GET /v1/audio-isolation/history``): the isolated audio is in the blob store."""

    __tablename__ = "audio_isolation_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    api_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title: Mapped[str | None] = mapped_column(String(300), nullable=True)  # the upload's file name
    format: Mapped[str] = mapped_column(String(40))  # the stored audio's output format, e.g. mp3_44100_128
    content_type: Mapped[str] = mapped_column(String(60))
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    preview_b64: Mapped[str | None] = mapped_column(Text, nullable=True)
    blob_key: Mapped[str] = mapped_column(String(200))
    # Sub-second creation time keeps the listing's order stable within one second.
    created_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_audio_isolation_user_created", "user_id", "created_at"),)
