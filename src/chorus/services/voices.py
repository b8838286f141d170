"""Voices: premade ones derived from the installed engines, and each user's own."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from chorus.config import Settings
from chorus.engines.base import EngineVoice
from chorus.errors import BadRequest, NotFound
from chorus.services.accounts import Principal
from chorus.storage.models import UserVoiceSettings, Voice, VoiceSample

DEFAULT_VOICE_SETTINGS: dict[str, Any] = {
    "stability": 0.5,
    "similarity_boost": 0.75,
    "style": 0.0,
    "use_speaker_boost": True,
    "speed": 1.0,
}
SETTING_BOUNDS: dict[str, tuple[float, float]] = {
    "stability": (0.0, 1.0),
    "similarity_boost": (0.0, 1.0),
    "style": (0.0, 1.0),
    "speed": (0.7, 1.2),
}
HIGH_QUALITY_MODELS = ["eleven_multilingual_v2", "eleven_turbo_v2_5", "eleven_flash_v2_5", "eleven_v3"]


def premade_voice_id(engine: str, native_id: str) -> str:
    """A stable 20-character id (ElevenLabs' shape) derived from the engine and its voice name."""
    digest = hashlib.sha256(f"chorus:{engine}:{native_id}".encode()).digest()
    return base64.b32encode(digest).decode().rstrip("=")[:20]


def default_voice_id(settings: Settings) -> str:
    engine, _, native = settings.default_voice.partition(":")
    return premade_voice_id(engine, native)


def merge_settings(*layers: dict[str, Any] | None) -> dict[str, Any]:
    """Later layers win; ``None`` values in a layer mean "not given"."""
    merged = dict(DEFAULT_VOICE_SETTINGS)
    for layer in layers:
        for key, value in (layer or {}).items():
            if key in DEFAULT_VOICE_SETTINGS and value is not None:
                merged[key] = value
    return merged


def validate_settings(settings: dict[str, Any]) -> None:
    for key, (low, high) in SETTING_BOUNDS.items():
        value = settings.get(key)
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan  # a string or an object: refused below like a number out of range
        if isinstance(value, bool) or not (low <= number <= high):
            raise BadRequest(
                f"voice_settings.{key} must be between {low} and {high}, got {value}.",
                status="invalid_voice_settings",
            )


@dataclass(frozen=True)
class ResolvedVoice:
    voice: Voice
    settings: dict[str, Any]


# A voice and the caller's own settings for it, in one query; built once (every generation runs it).
_RESOLVE = select(
    Voice,
    select(UserVoiceSettings.settings)
    .where(
        UserVoiceSettings.user_id == bindparam("p_user_id"),
        UserVoiceSettings.voice_id == bindparam("p_voice_id"),
    )
    .scalar_subquery(),
).where(Voice.voice_id == bindparam("p_voice_id"))


MAX_NAME_CHARS = 200  # the voices table's name column


def voice_name(raw: str) -> str:
    """A voice name as given, stripped; 400 ``invalid_name`` when empty or longer than the column holds."""
    name = raw.strip()
    if not name:
        raise BadRequest("name must not be empty.", status="invalid_name")
    if len(name) > MAX_NAME_CHARS:
        raise BadRequest(f"name must be at most {MAX_NAME_CHARS} characters.", status="invalid_name")
    return name


class VoiceService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        blobs: Any = None,
        *,
        sync_engine: Engine | None = None,
    ) -> None:
        self._sessions = sessions
        self.blobs = blobs  # a BlobStore: a deleted voice's samples (instant cloning) are removed from it
        # SQLite: a synchronous engine on the same file; :meth:`resolve` reads through it in one thread trip.
        self._sync_engine = sync_engine

    async def sync_premade(self, voices: list[EngineVoice]) -> None:
        """Upsert the engines' voices as premade voices with stable ids (run at start-up)."""
        now = int(time.time())
        async with self._sessions() as session, session.begin():
            for ev in voices:
                voice_id = premade_voice_id(ev.engine, ev.native_id)
                labels = {
                    "accent": ev.accent,
                    "description": ev.description,
                    "age": ev.age,
                    "gender": ev.gender,
                    "use_case": ev.use_case,
                    "language": ev.language,
                }
                row = await session.get(Voice, voice_id)
                if row is None:
                    session.add(
                        Voice(
                            voice_id=voice_id,
                            owner_user_id=None,
                            name=ev.name,
                            category="premade",
                            description=ev.description,
                            labels=labels,
                            engine=ev.engine,
                            native_voice=ev.native_id,
                            settings=None,
                            created_at_unix=now,
                        )
                    )
                else:
                    row.name, row.description, row.labels = ev.name, ev.description, labels

    async def visible(self, principal: Principal) -> list[Voice]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(Voice)
                .where(or_(Voice.owner_user_id.is_(None), Voice.owner_user_id == principal.user_id))
                .order_by(Voice.created_at_unix, Voice.name)
            )
            return list(rows.scalars())

    async def get(self, principal: Principal, voice_id: str) -> Voice:
        async with self._sessions() as session:
            voice = await session.get(Voice, voice_id)
        if voice is None or (voice.owner_user_id is not None and voice.owner_user_id != principal.user_id):
            raise NotFound(f"A voice with the voice_id {voice_id} was not found.", status="voice_not_found")
        return voice

    async def settings_for(self, principal: Principal, voice: Voice) -> dict[str, Any]:
        async with self._sessions() as session:
            own = await session.get(UserVoiceSettings, (principal.user_id, voice.voice_id))
        return merge_settings(voice.settings, own.settings if own else None)

    async def resolve(self, principal: Principal, voice_id: str) -> ResolvedVoice:
        """:meth:`get` and :meth:`settings_for` in one query (every generation starts with this)."""
        params = {"p_user_id": principal.user_id, "p_voice_id": voice_id}
        if self._sync_engine is not None:
            row = await asyncio.get_running_loop().run_in_executor(None, self._resolve_in_thread, params)
        else:
            async with self._sessions() as session:
                row = (await session.execute(_RESOLVE, params)).first()
        voice = row[0] if row is not None else None
        if voice is None or (voice.owner_user_id is not None and voice.owner_user_id != principal.user_id):
            raise NotFound(f"A voice with the voice_id {voice_id} was not found.", status="voice_not_found")
        return ResolvedVoice(voice, merge_settings(voice.settings, row[1] if row is not None else None))

    def _resolve_in_thread(self, params: dict[str, str]) -> Any:
        with Session(self._sync_engine, expire_on_commit=False) as session:
            return session.execute(_RESOLVE, params).first()

    async def update_settings(self, principal: Principal, voice_id: str, settings: dict[str, Any]) -> None:
        voice = await self.get(principal, voice_id)
        current = await self.settings_for(principal, voice)
        merged = merge_settings(current, settings)
        validate_settings(merged)
        async with self._sessions() as session, session.begin():
            if voice.owner_user_id == principal.user_id:
                row = await session.get(Voice, voice_id)
                assert row is not None
                row.settings = merged
            else:
                # Premade voices are shared: a user's settings for them are the user's own.
                own = await session.get(UserVoiceSettings, (principal.user_id, voice_id))
                if own is None:
                    session.add(
                        UserVoiceSettings(user_id=principal.user_id, voice_id=voice_id, settings=merged)
                    )
                else:
                    own.settings = merged

    async def editable(self, principal: Principal, voice_id: str) -> Voice:
        """The caller's own voice ``voice_id``: 404 ``voice_not_found`` when it sees no such voice, 400
        ``voice_not_editable`` for a premade one (shared by every user, so nobody's to change)."""
        voice = await self.get(principal, voice_id)
        if voice.owner_user_id is None:
            raise BadRequest(
                "Premade voices cannot be edited; create your own voice to customise it.",
                status="voice_not_editable",
            )
        return voice

    async def edit(
        self,
        principal: Principal,
        voice_id: str,
        *,
        name: str,
        description: str | None,
        labels: dict[str, str] | None,
    ) -> None:
        """Metadata only: ``name``; ``description`` and ``labels`` when given (new labels replace old)."""
        name = voice_name(name)
        await self.editable(principal, voice_id)
        async with self._sessions() as session, session.begin():
            row = await session.get(Voice, voice_id)
            if row is None:  # deleted meanwhile
                raise NotFound(
                    f"A voice with the voice_id {voice_id} was not found.", status="voice_not_found"
                )
            row.name = name
            if description is not None:
                row.description = description
            if labels is not None:
                row.labels = {str(k): str(v) for k, v in labels.items()}

    async def create_owned(
        self,
        principal: Principal,
        *,
        name: str,
        engine: str,
        native_voice: str,
        category: str = "generated",
        description: str | None = None,
        labels: dict[str, str] | None = None,
        settings: dict[str, Any] | None = None,
        transform: dict[str, Any] | None = None,
    ) -> Voice:
        """Add a voice owned by the caller (used by voice design and cloning).

        ``transform``: a ``VoiceTransform.to_json()`` applied to the base engine voice (None: none).
        """
        voice = Voice(
            voice_id=premade_voice_id("user", f"{principal.user_id}:{time.time_ns()}"),
            owner_user_id=principal.user_id,
            name=name,
            category=category,
            description=description,
            labels=labels or {},
            engine=engine,
            native_voice=native_voice,
            settings=settings,
            created_at_unix=int(time.time()),
            transform=transform,
        )
        async with self._sessions() as session, session.begin():
            session.add(voice)
        return voice

    async def delete(self, principal: Principal, voice_id: str) -> None:
        voice = await self.get(principal, voice_id)
        if voice.owner_user_id is None:
            raise BadRequest("Premade voices cannot be deleted.", status="voice_not_deletable")
        async with self._sessions() as session, session.begin():
            query = select(VoiceSample.blob_key).where(VoiceSample.voice_id == voice_id)
            sample_keys = list((await session.execute(query)).scalars())
            await session.execute(delete(VoiceSample).where(VoiceSample.voice_id == voice_id))
            await session.execute(delete(UserVoiceSettings).where(UserVoiceSettings.voice_id == voice_id))
            await session.execute(delete(Voice).where(Voice.voice_id == voice_id))
        if self.blobs is not None:
            for key in sample_keys:
                if key:
                    await self.blobs.delete(key)

    @staticmethod
    def describe(voice: Voice, settings: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The ``VoiceResponseModel`` body."""
        language = (voice.labels or {}).get("language")
        return {
            "voice_id": voice.voice_id,
            "name": voice.name,
            # Cloned voices keep their samples' summaries in the transform's reference (voice_clone.py).
            "samples": ((voice.transform or {}).get("reference") or {}).get("samples"),
            "category": voice.category,
            "fine_tuning": {
                "is_allowed_to_fine_tune": False,
                "state": {},
                "verification_failures": [],
                "verification_attempts_count": 0,
                "manual_verification_requested": False,
            },
            "labels": dict(voice.labels or {}),
            "description": voice.description,
            "preview_url": None,
            "available_for_tiers": [],
            "settings": settings,
            "sharing": None,
            "high_quality_base_model_ids": HIGH_QUALITY_MODELS,
            "verified_languages": (
                [
                    {
                        "language": language,
                        "model_id": "eleven_multilingual_v2",
                        "accent": (voice.labels or {}).get("accent"),
                        "locale": None,
                        "preview_url": None,
                    }
                ]
                if language
                else []
            ),
            "collection_ids": [],
            "safety_control": None,
            "voice_verification": {
                "requires_verification": False,
                "is_verified": False,
                "verification_failures": [],
                "verification_attempts_count": 0,
                "language": None,
                "verification_attempts": None,
            },
            "permission_on_resource": "admin" if voice.owner_user_id == principal.user_id else None,
            "is_owner": voice.owner_user_id == principal.user_id,
            "is_legacy": False,
            "is_mixed": False,
            "favorited_at_unix": None,
            "created_at_unix": voice.created_at_unix,
            "engine": voice.engine,
        }
