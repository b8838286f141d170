"""Generation history: every logged generation with its text, voice, model, settings and audio."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import uuid
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.audio.decode import decode_to_pcm, g711_to_pcm
from chorus.audio.encode import encode_pcm
from chorus.audio.formats import OUTPUT_FORMATS, parse_output_format
from chorus.engines.base import PCMFormat
from chorus.errors import BadRequest, NotFound
from chorus.services.accounts import Principal
from chorus.storage.blobs import BlobStore
from chorus.storage.models import HistoryItem


@dataclass(frozen=True)
class NewHistoryItem:
    request_id: str | None
    voice_id: str | None
    voice_name: str | None
    voice_category: str | None
    model_id: str | None
    text: str
    settings: dict[str, Any] | None
    count_from: int
    count_to: int
    content_type: str
    output_format: str
    file_extension: str
    source: str = "TTS"


@dataclass(frozen=True)
class HistoryPage:
    items: list[HistoryItem]
    has_more: bool
    last_id: str | None
    scanned_until: int | None


class HistoryService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        *,
        write_turn: asyncio.Lock | None = None,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        # SQLite: the lock the process's writers share (see CreditService); held for the insert only.
        self._write_turn = write_turn
        # Serialises "store blob + add row" against "remove row + drop unreferenced blob" for one
        # content address, so a shared blob is never dropped while a new item starts to reference it.
        self._blob_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def record(
        self,
        principal: Principal,
        item: NewHistoryItem,
        audio: bytes,
        *,
        history_id: str | None = None,
        alignments: dict[str, Any] | None = None,
    ) -> str:
        blob_key = self._blobs.content_key(audio, item.file_extension)
        history_id = history_id or uuid.uuid4().hex[:20]
        async with self._blob_locks[blob_key]:
            await self._blobs.put_content(audio, item.file_extension)
            async with (
                self._write_turn or contextlib.nullcontext(),
                self._sessions() as session,
                session.begin(),
            ):
                session.add(
                    HistoryItem(
                        id=history_id,
                        user_id=principal.user_id,
                        api_key_id=principal.key_id,
                        request_id=item.request_id,
                        voice_id=item.voice_id,
                        voice_name=item.voice_name,
                        voice_category=item.voice_category,
                        model_id=item.model_id,
                        text=item.text,
                        settings=item.settings,
                        character_count_change_from=item.count_from,
                        character_count_change_to=item.count_to,
                        content_type=item.content_type,
                        output_format=item.output_format,
                        source=item.source,
                        blob_key=blob_key,
                        alignments=alignments,
                        created_at=time.time(),
                    )
                )
        return history_id

    async def list(
        self,
        principal: Principal,
        *,
        page_size: int = 100,
        start_after: str | None = None,
        voice_id: str | None = None,
        model_id: str | None = None,
        date_before_unix: int | None = None,
        date_after_unix: int | None = None,
        sort_direction: str = "desc",
        search: str | None = None,
        source: str | None = None,
    ) -> HistoryPage:
        if not 1 <= page_size <= 1000:
            raise BadRequest("page_size must be between 1 and 1000.", status="invalid_page_size")
        descending = sort_direction != "asc"
        query = select(HistoryItem).where(HistoryItem.user_id == principal.user_id)
        if voice_id:
            query = query.where(HistoryItem.voice_id == voice_id)
        if model_id:
            query = query.where(HistoryItem.model_id == model_id)
        if date_before_unix is not None:
            query = query.where(HistoryItem.created_at < date_before_unix)
        if date_after_unix is not None:
            query = query.where(HistoryItem.created_at >= date_after_unix)
        if source:
            query = query.where(HistoryItem.source == source)
        if search:
            pattern = f"%{search.lower()}%"
            query = query.where(
                or_(
                    func.lower(HistoryItem.text).like(pattern),
                    func.lower(HistoryItem.voice_name).like(pattern),
                )
            )
        async with self._sessions() as session:
            if start_after:
                anchor = await session.get(HistoryItem, start_after)
                if anchor is None or anchor.user_id != principal.user_id:
                    raise BadRequest(
                        f"start_after_history_item_id {start_after} does not exist.",
                        status="invalid_history_item_id",
                    )
                # Keyset pagination on (created_at, id): stable while items are added or removed.
                if descending:
                    query = query.where(
                        or_(
                            HistoryItem.created_at < anchor.created_at,
                            and_(HistoryItem.created_at == anchor.created_at, HistoryItem.id < anchor.id),
                        )
                    )
                else:
                    query = query.where(
                        or_(
                            HistoryItem.created_at > anchor.created_at,
                            and_(HistoryItem.created_at == anchor.created_at, HistoryItem.id > anchor.id),
                        )
                    )
            order = (
                (HistoryItem.created_at.desc(), HistoryItem.id.desc())
                if descending
                else (HistoryItem.created_at.asc(), HistoryItem.id.asc())
            )
            rows = list((await session.execute(query.order_by(*order).limit(page_size + 1))).scalars())
        has_more = len(rows) > page_size
        rows = rows[:page_size]
        last = rows[-1] if rows else None
        return HistoryPage(rows, has_more, last.id if last else None, int(last.created_at) if last else None)

    async def get(self, principal: Principal, history_item_id: str) -> HistoryItem:
        async with self._sessions() as session:
            item = await session.get(HistoryItem, history_item_id)
        if item is None or item.user_id != principal.user_id:
            raise NotFound(f"History item {history_item_id} was not found.", status="history_item_not_found")
        return item

    async def audio(self, principal: Principal, history_item_id: str) -> tuple[HistoryItem, bytes]:
        item = await self.get(principal, history_item_id)
        return item, await self._blobs.get(item.blob_key)

    async def delete(self, principal: Principal, history_item_id: str) -> None:
        item = await self.get(principal, history_item_id)
        async with self._blob_locks[item.blob_key]:
            async with self._sessions() as session, session.begin():
                await session.execute(delete(HistoryItem).where(HistoryItem.id == item.id))
                still_used = (
                    await session.execute(
                        select(HistoryItem.id).where(HistoryItem.blob_key == item.blob_key).limit(1)
                    )
                ).first()
            if still_used is None:
                await self._blobs.delete(item.blob_key)
        self._blob_locks.pop(item.blob_key, None)

    async def download(
        self, principal: Principal, ids: list[str], output_format: str | None = None
    ) -> tuple[bytes, str, str]:
        """One id: that audio file. Several: a zip of them. Returns (bytes, media type, file name).

        ``output_format="wav"`` converts each file to WAV; anything else keeps the stored encoding.
        """
        if not ids:
            raise BadRequest(
                "history_item_ids must name at least one item.", status="invalid_history_item_ids"
            )
        if output_format not in (None, "", "default", "wav"):
            raise BadRequest("output_format must be 'wav' or omitted.", status="invalid_output_format")
        files = [
            await self._file(principal, history_id, output_format == "wav")
            for history_id in dict.fromkeys(ids)
        ]
        if len(files) == 1:
            return files[0]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for audio, _media_type, name in files:
                archive.writestr(name, audio)
        return buffer.getvalue(), "application/zip", "history.zip"

    async def _file(self, principal: Principal, history_id: str, as_wav: bool) -> tuple[bytes, str, str]:
        item, audio = await self.audio(principal, history_id)
        if not as_wav:
            return audio, item.content_type, f"{item.id}.{_extension(item.blob_key)}"
        wav = await asyncio.to_thread(_to_wav, audio, item.output_format or "")
        return wav, "audio/wav", f"{item.id}.wav"

    @staticmethod
    def describe(item: HistoryItem) -> dict[str, Any]:
        """The ``SpeechHistoryItemResponseModel`` body."""
        return {
            "history_item_id": item.id,
            "request_id": item.request_id,
            "voice_id": item.voice_id,
            "model_id": item.model_id,
            "voice_name": item.voice_name,
            "voice_category": item.voice_category,
            "text": item.text,
            "date_unix": int(item.created_at),
            "character_count_change_from": item.character_count_change_from,
            "character_count_change_to": item.character_count_change_to,
            "content_type": item.content_type,
            "state": "created",
            "settings": item.settings,
            "share_link_id": None,
            "source": item.source,
            "alignments": item.alignments,
            "dialogue": None,
            "output_format": item.output_format,
        }


def _to_wav(audio: bytes, output_format: str) -> bytes:
    codec, _, rest = output_format.partition("_")
    if codec in ("pcm", "ulaw", "alaw", "wav"):
        # Headerless G.711 and raw PCM carry their format only in the stored format name.
        rate = int(rest.split("_")[0]) if rest else 16000
        if codec == "pcm":
            pcm = audio
        elif codec == "wav":
            pcm, rate = decode_to_pcm(audio)
        else:
            pcm = g711_to_pcm(audio, codec)
    else:
        pcm, rate = decode_to_pcm(audio)
    return encode_pcm(
        pcm,
        PCMFormat(rate),
        parse_output_format(f"wav_{rate}")
        if f"wav_{rate}" in OUTPUT_FORMATS
        else parse_output_format("wav_44100"),
    )


def _extension(blob_key: str) -> str:
    return blob_key.rsplit(".", 1)[-1] if "." in blob_key else "bin"
