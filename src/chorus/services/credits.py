"""Credits: charged atomically before work starts, refunded if the work fails.

Each charge is one conditional ``UPDATE ... RETURNING`` per counter (user, then key) inside one
transaction, the same SQL on SQLite and PostgreSQL: the database, not Python, decides whether the
characters still fit, so concurrent requests at the edge of a quota can never overdraw it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import Connection, Engine, Integer, bindparam, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from chorus.config import Settings
from chorus.errors import QuotaExceeded
from chorus.services.accounts import Principal
from chorus.storage.models import ApiKey, UsageEvent, User


def _charge_counter(table: type[User] | type[ApiKey]) -> Any:
    """``UPDATE`` a counter by ``:p_credits`` where it still fits its limit, ``RETURNING`` count and limit."""
    credits = bindparam("p_credits", type_=Integer)
    return (
        update(table)
        .where(table.id == bindparam("p_id"))
        .where(table.character_limit.is_(None) | (table.character_count + credits <= table.character_limit))
        .values(character_count=table.character_count + credits)
        .returning(table.character_count, table.character_limit)
    )


_CHARGE_USER = _charge_counter(User)
_CHARGE_KEY = _charge_counter(ApiKey)
_RECORD_USAGE = insert(UsageEvent).returning(UsageEvent.id)


def _charge_rows(conn: Connection | Session, params: dict[str, Any]) -> tuple[int, int]:
    """Charge both counters and record the usage event in ``conn``'s transaction: (count after, event id).

    Raises :class:`_OverQuota` (and the caller's transaction rolls back) when a counter would overdraw."""
    user_row = conn.execute(_CHARGE_USER, {"p_id": params["user_id"], "p_credits": params["credits"]}).first()
    if user_row is None:
        raise _OverQuota("user")
    key_row = conn.execute(
        _CHARGE_KEY, {"p_id": params["api_key_id"], "p_credits": params["credits"]}
    ).first()
    if key_row is None:
        raise _OverQuota("key")
    event_id = conn.execute(_RECORD_USAGE, params).scalar_one()
    return int(user_row[0]), int(event_id)


class _OverQuota(Exception):
    def __init__(self, counter: str) -> None:
        self.counter = counter


@dataclass(frozen=True)
class Charge:
    credits: int
    characters: int
    count_from: int
    count_to: int
    usage_event_id: int
    user_id: str
    key_id: str


class CreditService:
    """Charges and refunds. ``write_turn`` (SQLite): a lock this process's writers share, so charges take
    turns in Python instead of in SQLite's busy handler, which sleeps 1-100 ms between retries: 8
    simultaneous charges took 30/110 ms median/p95 that way and about one transaction each when queued."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        write_turn: asyncio.Lock | None = None,
        sync_engine: Engine | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._write_turn = write_turn
        # SQLite: a synchronous engine on the same file, for charges in one thread trip (see _charge).
        self._sync_engine = sync_engine

    def cost(self, characters: int, model_id: str) -> int:
        return math.ceil(characters * self._settings.credit_multiplier(model_id))

    async def charge(
        self,
        principal: Principal,
        characters: int,
        *,
        model_id: str,
        voice_id: str | None = None,
        product: str = "tts",
    ) -> Charge:
        credits = self.cost(characters, model_id)
        try:
            return await self._charge(principal, characters, credits, model_id, voice_id, product)
        except _OverQuota as over:
            # The transaction has rolled back; read the counters afresh for an exact message.
            if over.counter == "user":
                await self._raise_user_quota(principal, credits)
            await self._raise_key_quota(principal, credits)

    async def _charge(
        self,
        principal: Principal,
        characters: int,
        credits: int,
        model_id: str,
        voice_id: str | None,
        product: str,
    ) -> Charge:
        # Core statements on a connection, not the ORM session: a charge precedes every generation's first
        # byte, and the session's unit of work adds a third to its cost without doing anything here. The
        # statements are built once (below): building and keying them anew cost more than running them.
        params = {
            "user_id": principal.user_id,
            "api_key_id": principal.key_id,
            "model_id": model_id,
            "voice_id": voice_id,
            "product": product,
            "characters": characters,
            "credits": credits,
            "created_at": time.time(),
        }
        if self._sync_engine is not None:
            # SQLite: the whole transaction in one trip to a thread, on the synchronous driver, instead of
            # a trip to aiosqlite's thread and back for every statement, the BEGIN and the COMMIT.
            async with self._write_turn or contextlib.nullcontext():
                count_to, event_id = await asyncio.get_running_loop().run_in_executor(
                    None, self._charge_in_thread, params
                )
        else:
            async with self._connect() as conn:
                count_to, event_id = await conn.run_sync(_charge_rows, params)  # type: ignore[union-attr]
        return Charge(
            credits,
            characters,
            count_to - credits,
            count_to,
            int(event_id),
            principal.user_id,
            principal.key_id,
        )

    def _charge_in_thread(self, params: dict[str, Any]) -> tuple[int, int]:
        assert self._sync_engine is not None
        with self._sync_engine.begin() as conn:
            return _charge_rows(conn, params)

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection | AsyncSession]:
        """One transaction on a plain connection of the sessions' engine (or a session, if unbound)."""
        async with self._write_turn or contextlib.nullcontext(), self._transaction() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection | AsyncSession]:
        bind = self._sessions.kw.get("bind")
        if isinstance(bind, AsyncEngine):
            async with bind.begin() as conn:
                yield conn
        else:
            async with self._sessions() as session, session.begin():
                yield session

    async def refund(self, charge: Charge) -> None:
        """Give back a charge whose work failed (best effort: never raises into the error path)."""
        async with self._write_turn or contextlib.nullcontext(), self._sessions() as session, session.begin():
            await session.execute(
                update(User)
                .where(User.id == charge.user_id)
                .values(character_count=User.character_count - charge.credits)
            )
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == charge.key_id)
                .values(character_count=ApiKey.character_count - charge.credits)
            )
            await session.execute(delete(UsageEvent).where(UsageEvent.id == charge.usage_event_id))

    async def _raise_user_quota(self, principal: Principal, credits: int) -> NoReturn:
        async with self._sessions() as session:
            user = await session.get(User, principal.user_id)
        limit = user.character_limit if user else 0
        used = user.character_count if user else 0
        raise QuotaExceeded(
            f"This request exceeds your quota of {limit}. You have {max(0, (limit or 0) - used)} credits "
            f"remaining, while {credits} credits are required for this request.",
        )

    async def _raise_key_quota(self, principal: Principal, credits: int) -> NoReturn:
        async with self._sessions() as session:
            key = await session.get(ApiKey, principal.key_id)
        limit = key.character_limit if key else 0
        used = key.character_count if key else 0
        raise QuotaExceeded(
            f"This request exceeds the API key's character limit of {limit}. The key has "
            f"{max(0, (limit or 0) - used)} credits remaining, while {credits} credits are required.",
        )
