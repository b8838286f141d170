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
