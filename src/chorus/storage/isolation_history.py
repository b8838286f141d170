"""Audio isolation history: one ``audio_isolation_items`` row per isolation, its audio in the blob store.

Each item's audio has its own key (``audio_isolation/<id>.<ext>``): an isolation's output is rarely equal to
another's, so content addressing would buy nothing and cost the reference counting the TTS history needs.
The row is written after the blob and removed before it, so a listed item's audio is always there.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.storage.blobs import BlobStore
from chorus.storage.models import AudioIsolationItem

BLOB_NAMESPACE = "audio_isolation"


@dataclass(frozen=True)
class NewIsolationItem:
    user_id: str
    api_key_id: str | None
    title: str | None
    format: str  # an output format name, e.g. mp3_44100_128
    content_type: str
    file_extension: str
    duration_seconds: float | None
    preview_b64: str | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AudioIsolationHistory:
    """The storage of isolation history items: rows and audio together."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], blobs: BlobStore) -> None:
        self._sessions = sessions
        self._blobs = blobs

    async def add(self, item: NewIsolationItem, audio: bytes) -> AudioIsolationItem:
        item_id = uuid.uuid4().hex[:20]
        blob_key = f"{BLOB_NAMESPACE}/{item_id}.{item.file_extension}"
        await self._blobs.put(blob_key, audio)
        row = AudioIsolationItem(
            id=item_id,
            user_id=item.user_id,
            api_key_id=item.api_key_id,
            title=item.title,
            format=item.format,
            content_type=item.content_type,
            duration_seconds=item.duration_seconds,
            preview_b64=item.preview_b64,
            blob_key=blob_key,
            created_at=time.time(),
        )
        try:
            async with self._sessions() as session, session.begin():
                session.add(row)
        except BaseException:
            await self._blobs.delete(blob_key)
            raise
        return row

    async def list(
        self, user_id: str, *, page_size: int, page: int = 1, search: str | None = None
    ) -> tuple[list[AudioIsolationItem], bool]:
        """One page of the user's items, newest first, and whether more follow it."""
        query = select(AudioIsolationItem).where(AudioIsolationItem.user_id == user_id)
        if search:
            pattern = f"%{_escape_like(search.lower())}%"
            query = query.where(func.lower(AudioIsolationItem.title).like(pattern, escape="\\"))
        query = (
            query.order_by(AudioIsolationItem.created_at.desc(), AudioIsolationItem.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size + 1)
        )
        async with self._sessions() as session:
            rows = list((await session.execute(query)).scalars())
        return rows[:page_size], len(rows) > page_size

    async def get(self, user_id: str, item_id: str) -> AudioIsolationItem | None:
        async with self._sessions() as session:
            row = await session.get(AudioIsolationItem, item_id)
        return row if row is not None and row.user_id == user_id else None

    async def audio(self, item: AudioIsolationItem) -> bytes:
        return await self._blobs.get(item.blob_key)

    async def delete(self, user_id: str, item_id: str) -> bool:
        """Remove the item and its audio; False when the user has no such item."""
        async with self._sessions() as session, session.begin():
            row = await session.get(AudioIsolationItem, item_id)
            if row is None or row.user_id != user_id:
                return False
            blob_key = row.blob_key
            await session.execute(delete(AudioIsolationItem).where(AudioIsolationItem.id == item_id))
        await self._blobs.delete(blob_key)
        return True
