"""Credits never overdraw: 50 concurrent charges at the edge of a quota, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from chorus.config import Settings
from chorus.errors import QuotaExceeded
from chorus.services.accounts import AccountService
from chorus.services.credits import CreditService
from chorus.storage.db import Database
from chorus.storage.models import ApiKey, User


async def _race(
    url: str, *, user_limit_plan: str | None, key_limit: int | None, each: int, serialize: bool = False
) -> tuple[int, int, int]:
    db = Database(url)
    db.migrate()
    settings = Settings(model_credit_multipliers={"m": 1.0})
    accounts = AccountService(db.sessions, "free")
    credits = CreditService(
        db.sessions,
        settings,
        write_turn=asyncio.Lock() if serialize else None,
        sync_engine=db.sync_engine if serialize else None,  # the server's SQLite path
    )
    created = await accounts.create_key(
        "race", user_name="racer", plan=user_limit_plan, character_limit=key_limit
    )
    principal = await accounts.authenticate(created.secret)

    async def one() -> bool:
        try:
            await credits.charge(principal, each, model_id="m")
            return True
        except QuotaExceeded:
            return False

    results = await asyncio.gather(*(one() for _ in range(50)))
    async with db.sessions() as session:
        user = await session.get(User, principal.user_id)
        key = await session.get(ApiKey, principal.key_id)
        user_count, key_count = user.character_count, key.character_count
    await db.close()
    return sum(results), user_count, key_count


async def test_user_quota_never_overdraws_sqlite(tmp_path: Path) -> None:
    # free plan: 10_000 credits; 50 x 450 = 22_500 asked, so exactly 22 fit.
    ok, user_count, key_count = await _race(
        f"sqlite+aiosqlite:///{tmp_path}/c.db", user_limit_plan="free", key_limit=None, each=450
    )
    assert ok == 22
    assert user_count == key_count == 22 * 450 <= 10_000


async def test_key_limit_never_overdraws_sqlite(tmp_path: Path) -> None:
    ok, user_count, key_count = await _race(
        f"sqlite+aiosqlite:///{tmp_path}/c.db", user_limit_plan="pro", key_limit=1_000, each=70
    )
    assert ok == 14
    assert key_count == user_count == 980


async def test_quota_never_overdraws_postgres(postgres_url: str) -> None:
    ok, user_count, _ = await _race(postgres_url, user_limit_plan="free", key_limit=None, each=450)
    assert ok == 22
    assert user_count == 9_900


async def test_refund_restores_counters(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/r.db")
    db.migrate()
    accounts = AccountService(db.sessions, "free")
    credits = CreditService(db.sessions, Settings())
    created = await accounts.create_key("r", character_limit=100)
    principal = await accounts.authenticate(created.secret)
    charge = await credits.charge(principal, 60, model_id="eleven_multilingual_v2")
    assert (charge.count_from, charge.count_to) == (0, 60)
    with pytest.raises(QuotaExceeded) as info:
        await credits.charge(principal, 60, model_id="eleven_multilingual_v2")
    assert info.value.http_status == 401 and "40 credits remaining" in info.value.message
    await credits.refund(charge)
    again = await credits.charge(principal, 100, model_id="eleven_multilingual_v2")
    assert again.count_to == 100
    await db.close()


def test_model_multiplier_rounds_up(tmp_path: Path) -> None:
    credits = CreditService(None, Settings(model_credit_multipliers={"fast": 0.5}))  # type: ignore[arg-type]
    assert credits.cost(11, "fast") == 6
    assert credits.cost(11, "unknown-model") == 11


async def test_serialized_charges_take_turns_and_still_fit_the_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the server does on SQLite: charges queue in the process, never two transactions at once, each
    in one trip to a thread on the synchronous driver."""
    import threading
    import time as clock

    inside = most = 0
    guard = threading.Lock()
    original_thread, original_transaction = CreditService._charge_in_thread, CreditService._transaction

    def enter() -> None:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)

    def leave() -> None:
        nonlocal inside
        with guard:
            inside -= 1

    def counted_thread(self: CreditService, params):  # type: ignore[no-untyped-def]
        enter()
        try:
            clock.sleep(0.001)  # give the other charges every chance to overlap
            return original_thread(self, params)
        finally:
            leave()

    @contextlib.asynccontextmanager
    async def counted_transaction(self: CreditService):  # type: ignore[no-untyped-def]
        enter()
        try:
            async with original_transaction(self) as conn:
                await asyncio.sleep(0)
                yield conn
        finally:
            leave()

    monkeypatch.setattr(CreditService, "_charge_in_thread", counted_thread)
    monkeypatch.setattr(CreditService, "_transaction", counted_transaction)
    ok, user_count, key_count = await _race(
        f"sqlite+aiosqlite:///{tmp_path}/c.db",
        user_limit_plan="free",
        key_limit=None,
        each=450,
        serialize=True,
    )
    assert ok == 22 and user_count == key_count == 22 * 450
    assert most == 1
    # Without the turn-taking the same race overlaps (and SQLite's busy handler sorts it out, slowly).
    most = 0
    await _race(f"sqlite+aiosqlite:///{tmp_path}/d.db", user_limit_plan="free", key_limit=None, each=450)
    assert most > 1
