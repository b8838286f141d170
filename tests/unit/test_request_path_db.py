"""The database work before a generation's first byte: the cached key lookup, one-query voice
resolution, and the charge's usage event (what a refund removes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select, update

from chorus.config import Settings
from chorus.errors import NotFound, Unauthorized
from chorus.services.accounts import AccountService
from chorus.services.credits import CreditService
from chorus.services.voices import VoiceService
from chorus.storage.db import Database
from chorus.storage.models import ApiKey, UsageEvent, User, UserVoiceSettings, Voice


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/chorus.db")
    db.migrate()
    return db


async def test_a_key_disabled_elsewhere_stops_working_within_the_cache_time(tmp_path: Path) -> None:
    db = _db(tmp_path)
    accounts = AccountService(db.sessions, "free", principal_ttl_s=0.3)
    created = await accounts.create_key("app", user_name="alice")
    principal = await accounts.authenticate(created.secret)
    # Another process (the CLI) disables the key straight in the database.
    async with db.sessions() as session, session.begin():
        await session.execute(update(ApiKey).where(ApiKey.id == created.key_id).values(is_disabled=True))
    assert await accounts.authenticate(created.secret) == principal  # remembered for a moment...
    await asyncio.sleep(0.35)
    with pytest.raises(Unauthorized):  # ...then looked up again
        await accounts.authenticate(created.secret)
    await db.close()


async def test_revoking_through_the_service_applies_at_once(tmp_path: Path) -> None:
    db = _db(tmp_path)
    accounts = AccountService(db.sessions, "free", principal_ttl_s=60)
    created = await accounts.create_key("app", user_name="alice")
    await accounts.authenticate(created.secret)
    await accounts.revoke_key(created.key_id)
    with pytest.raises(Unauthorized):
        await accounts.authenticate(created.secret)
    with pytest.raises(Unauthorized):
        await accounts.authenticate("sk_not_a_key")
    await db.close()


async def test_requests_arriving_together_share_one_key_lookup(tmp_path: Path) -> None:
    db = _db(tmp_path)
    accounts = AccountService(db.sessions, "free", principal_ttl_s=60)
    created = await accounts.create_key("app", user_name="alice")
    lookups = 0
    original = accounts._lookup

    async def counted(digest: str, now: float):  # type: ignore[no-untyped-def]
        nonlocal lookups
        lookups += 1
        return await original(digest, now)

    accounts._lookup = counted  # type: ignore[method-assign]
    principals = await asyncio.gather(*(accounts.authenticate(created.secret) for _ in range(8)))
    assert lookups == 1 and len(set(principals)) == 1
    bad = await asyncio.gather(*(accounts.authenticate("sk_nope") for _ in range(4)), return_exceptions=True)
    assert lookups == 2 and all(isinstance(b, Unauthorized) for b in bad)
    # A revocation while a lookup is in flight: that lookup's answer is not remembered.
    pending = asyncio.ensure_future(accounts.authenticate(created.secret))
    accounts._principals.clear()
    await asyncio.sleep(0)
    await accounts.revoke_key(created.key_id)
    await asyncio.gather(pending, return_exceptions=True)  # it may have read the key before or after
    with pytest.raises(Unauthorized):
        await accounts.authenticate(created.secret)
    await db.close()


async def test_charge_records_one_usage_event_that_refund_removes(tmp_path: Path) -> None:
    db = _db(tmp_path)
    accounts = AccountService(db.sessions, "free")
    credits = CreditService(db.sessions, Settings(model_credit_multipliers={"half": 0.5}))
    principal = await accounts.authenticate((await accounts.create_key("a", user_name="u")).secret)
    first = await credits.charge(principal, 30, model_id="half", voice_id="v1")
    second = await credits.charge(principal, 10, model_id="half", voice_id="v2", product="stt")
    assert (first.credits, first.count_from, first.count_to) == (15, 0, 15)
    assert (second.credits, second.count_from, second.count_to) == (5, 15, 20)
    async with db.sessions() as session:
        events = {e.id: e for e in (await session.execute(select(UsageEvent))).scalars()}
    assert set(events) == {first.usage_event_id, second.usage_event_id}
    event = events[first.usage_event_id]
    assert (event.user_id, event.api_key_id, event.model_id, event.voice_id, event.product) == (
        principal.user_id,
        principal.key_id,
        "half",
        "v1",
        "tts",
    )
    assert (event.characters, event.credits) == (30, 15) and event.created_at > 0
    await credits.refund(first)
    async with db.sessions() as session:
        left = list((await session.execute(select(UsageEvent.id))).scalars())
        user = await session.get(User, principal.user_id)
        key = await session.get(ApiKey, principal.key_id)
    assert left == [second.usage_event_id]
    assert user is not None and key is not None and user.character_count == key.character_count == 5
    await db.close()


@pytest.mark.parametrize("through", ["async", "sync"])
async def test_resolve_finds_visible_voices_with_the_callers_settings(tmp_path: Path, through: str) -> None:
    db = _db(tmp_path)
    accounts = AccountService(db.sessions, "free")
    # "sync": the server's SQLite path (one trip to a thread on the synchronous driver).
    voices = VoiceService(db.sessions, sync_engine=db.sync_engine if through == "sync" else None)
    alice = await accounts.authenticate((await accounts.create_key("a", user_name="alice")).secret)
    bob = await accounts.authenticate((await accounts.create_key("b", user_name="bob")).secret)
    async with db.sessions() as session, session.begin():
        session.add(Voice(voice_id="premade1", owner_user_id=None, name="P", category="premade", labels={},
                          engine="flite", native_voice="kal16", settings=None, created_at_unix=0))  # fmt: skip
        session.add(Voice(voice_id="alices1", owner_user_id=alice.user_id, name="A", category="generated",
                          labels={}, engine="flite", native_voice="rms", settings={"stability": 0.2},
                          created_at_unix=0))  # fmt: skip
    async with db.sessions() as session, session.begin():
        session.add(UserVoiceSettings(user_id=bob.user_id, voice_id="premade1", settings={"speed": 1.1}))
    premade_for_bob = await voices.resolve(bob, "premade1")
    premade_for_alice = await voices.resolve(alice, "premade1")
    assert premade_for_bob.voice.voice_id == "premade1" and premade_for_bob.settings["speed"] == 1.1
    assert premade_for_alice.settings["speed"] == 1.0  # bob's settings are bob's
    own = await voices.resolve(alice, "alices1")
    assert own.settings["stability"] == 0.2 and own.voice.native_voice == "rms"
    for principal, voice_id in ((bob, "alices1"), (alice, "nosuchvoice")):
        with pytest.raises(NotFound):
            await voices.resolve(principal, voice_id)
    await db.close()
