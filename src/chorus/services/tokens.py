"""Single-use tokens (``POST /v1/single-use-token/{token_type}``): short-lived credentials for browsers.

A token stands in for the API key that created it, for one connection of one kind (``token_type``):
``realtime_scribe`` (the realtime speech-to-text WebSocket), ``batch_scribe`` (``POST /v1/speech-to-text``)
or ``tts_websocket`` (the TTS WebSockets). It expires :data:`TOKEN_TTL_S` seconds after it was issued and
is consumed by the first connection that presents it; a token of another type is refused without being
consumed. Redeeming gives the creating key's :class:`Principal` (looked up by the :class:`AccountService`,
as for the key itself), so permissions, limits, usage and credits are that key's (a key disabled since is
refused).

Where each type is accepted: ``realtime_scribe`` as the ``token`` query parameter of
``/v1/speech-to-text/realtime``, ``batch_scribe`` as the ``token`` query parameter of ``POST
/v1/speech-to-text``, ``tts_websocket`` as the ``single_use_token`` query parameter of
``/v1/text-to-speech/{voice_id}/stream-input`` and ``/multi-stream-input``.

Only a SHA-256 of the token is stored, as for API keys. Storage: :class:`DatabaseTokenStore` keeps tokens in
the ``single_use_tokens`` table, so every worker process of a server (and every server on the database)
honours the single use: consumption is one conditional ``UPDATE ... RETURNING``, atomic on SQLite and
PostgreSQL. Until a migration creates that table, :meth:`TokenService.open` falls back to
:class:`MemoryTokenStore`, which is per process: a token then works only on the worker that issued it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Literal, Protocol, get_args

from sqlalchemy import delete, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chorus.errors import Unauthorized
from chorus.services.accounts import AccountService, Principal
from chorus.storage.models import SingleUseToken

log = logging.getLogger(__name__)

TokenType = Literal["realtime_scribe", "batch_scribe", "tts_websocket"]
TOKEN_TYPES: tuple[str, ...] = get_args(TokenType)
TOKEN_TTL_S = 15 * 60
TOKEN_PREFIX = "sutkn_"
# The permission a key needs to issue (and later use) each kind of token.
TOKEN_PERMISSIONS: dict[str, str] = {
    "realtime_scribe": "speech_to_text",
    "batch_scribe": "speech_to_text",
    "tts_websocket": "text_to_speech",
}

# The table :class:`DatabaseTokenStore` uses (model SingleUseToken, migration 0005).
single_use_tokens = SingleUseToken.__table__


@dataclass(frozen=True)
class TokenRecord:
    token_hash: str
    token_type: str
    user_id: str
    key_id: str
    created_at: float
    expires_at: float
    consumed_at: float | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_type: str
    expires_at: float


class TokenStore(Protocol):
    """Where tokens live. :meth:`take` must be atomic: of two concurrent takes, at most one succeeds."""

    async def put(self, record: TokenRecord) -> None: ...

    async def take(self, token_hash: str, token_type: str, now: float) -> TokenRecord | None:
        """Consume the unexpired, unused token of ``token_type``; None when there is none."""
        ...

    async def get(self, token_hash: str) -> TokenRecord | None: ...

    async def purge(self, before: float) -> None:
        """Forget tokens that expired before ``before``."""
        ...


class MemoryTokenStore:
    """Tokens in this process only (the fallback until the ``single_use_tokens`` table exists)."""

    def __init__(self) -> None:
        self._records: dict[str, TokenRecord] = {}
        self._lock = asyncio.Lock()

    async def put(self, record: TokenRecord) -> None:
        async with self._lock:
            self._records[record.token_hash] = record

    async def take(self, token_hash: str, token_type: str, now: float) -> TokenRecord | None:
        async with self._lock:
            record = self._records.get(token_hash)
            if (
                record is None
                or record.token_type != token_type
                or record.consumed_at is not None
                or record.expires_at <= now
            ):
                return None
            used = replace(record, consumed_at=now)
            self._records[token_hash] = used
            return used

    async def get(self, token_hash: str) -> TokenRecord | None:
        return self._records.get(token_hash)

    async def purge(self, before: float) -> None:
        async with self._lock:
            for key in [k for k, r in self._records.items() if r.expires_at < before]:
                del self._records[key]


class DatabaseTokenStore:
    """Tokens in the ``single_use_tokens`` table, shared by every process on the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def put(self, record: TokenRecord) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(insert(single_use_tokens).values(**asdict(record)))

    async def take(self, token_hash: str, token_type: str, now: float) -> TokenRecord | None:
        table = single_use_tokens
        async with self._sessions() as session, session.begin():
            row = (
                await session.execute(
                    update(table)
                    .where(table.c.token_hash == token_hash)
                    .where(table.c.token_type == token_type)
                    .where(table.c.consumed_at.is_(None))
                    .where(table.c.expires_at > now)
                    .values(consumed_at=now)
                    .returning(*table.c)
                )
            ).first()
        return TokenRecord(**row._mapping) if row is not None else None

    async def get(self, token_hash: str) -> TokenRecord | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(single_use_tokens).where(single_use_tokens.c.token_hash == token_hash)
                )
            ).first()
        return TokenRecord(**row._mapping) if row is not None else None

    async def purge(self, before: float) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(single_use_tokens).where(single_use_tokens.c.expires_at < before))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def table_exists(engine: AsyncEngine, name: str) -> bool:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: inspect(sync).has_table(name))


class TokenService:
    """Issues and redeems single-use tokens (see the module docstring)."""

    def __init__(
        self,
        store: TokenStore,
        accounts: AccountService,
        *,
        ttl_s: float = TOKEN_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._accounts = accounts
        self.ttl_s = ttl_s
        self.clock = clock

    @classmethod
    async def open(
        cls, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], accounts: AccountService
    ) -> TokenService:
        """The service over the database when it has the ``single_use_tokens`` table, else in memory."""
        if await table_exists(engine, single_use_tokens.name):
            return cls(DatabaseTokenStore(sessions), accounts)
        log.warning(
            "single-use tokens are kept in memory (no single_use_tokens table): with several worker "
            "processes a token works only on the worker that issued it"
        )
        return cls(MemoryTokenStore(), accounts)

    async def issue(self, principal: Principal, token_type: str) -> IssuedToken:
        """A new token of ``token_type`` for ``principal``'s key (the caller has checked permissions)."""
        if token_type not in TOKEN_TYPES:
            raise ValueError(f"unknown token type {token_type!r}")
        now = self.clock()
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        record = TokenRecord(
            token_hash=hash_token(token),
            token_type=token_type,
            user_id=principal.user_id,
            key_id=principal.key_id,
            created_at=now,
            expires_at=now + self.ttl_s,
        )
        # Expired tokens are useless; dropping them here keeps the store small without a sweeper.
        await self.store.purge(now - self.ttl_s)
        await self.store.put(record)
        return IssuedToken(token, token_type, record.expires_at)

    async def check(self, token: str, token_type: str) -> Principal:
        """The principal ``token`` would give, without consuming it (see :meth:`redeem` for the errors).

        For requests that validate their input before spending the token, so a malformed request leaves
        it usable; the request then calls :meth:`redeem`, which alone makes the token spent."""
        token_hash = hash_token(token.strip())
        now = self.clock()
        record = await self.store.get(token_hash)
        if (
            record is None
            or record.token_type != token_type
            or record.consumed_at is not None
            or record.expires_at <= now
        ):
            raise Unauthorized(await self._why_refused(token_hash, token_type, now), status="invalid_token")
        return await self._principal(record)

    async def redeem(self, token: str, token_type: str) -> Principal:
        """Consume ``token`` for a ``token_type`` connection; the creating key's principal.

        Raises :class:`Unauthorized` (``invalid_token``) for an unknown, expired, used or other-type token.
        """
        token_hash = hash_token(token.strip())
        now = self.clock()
        record = await self.store.take(token_hash, token_type, now)
        if record is None:
            raise Unauthorized(await self._why_refused(token_hash, token_type, now), status="invalid_token")
        return await self._principal(record)

    async def _principal(self, record: TokenRecord) -> Principal:
        principal = await self._accounts.principal_for_key(record.key_id)
        if principal is None:
            raise Unauthorized(
                "The API key that issued this single-use token no longer exists or is disabled.",
                status="invalid_token",
            )
        return principal

    async def _why_refused(self, token_hash: str, token_type: str, now: float) -> str:
        record = await self.store.get(token_hash)
        if record is None:
            return "Invalid single-use token."
        if record.token_type != token_type:
            return f"This single-use token is for {record.token_type}, not {token_type}."
        if record.consumed_at is not None:
            return "This single-use token has already been used."
        return "This single-use token has expired (tokens are valid for 15 minutes)."
