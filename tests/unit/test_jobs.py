"""The job runner: outcomes, retries, cancellation, shutdown and crash recovery, two runners on one database."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from chorus.services.jobs import (
    InProcessJobQueue,
    JobCancelled,
    JobContext,
    JobRegistry,
    PermanentFailure,
    RetryLater,
    retry_delay,
)
from chorus.storage.db import Database
from chorus.storage.models import Job


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite+aiosqlite:///{tmp_path}/jobs.db"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/jobs.db")
    database.migrate()
    yield database
    await database.close()


def _queue(db: Database, registry: JobRegistry, **options: Any) -> InProcessJobQueue:
    values: dict[str, Any] = {
        "workers": 2, "poll_interval_s": 0.05, "lease_s": 3.0, "retry_base_s": 0.02, "retry_max_s": 0.1,
        "shutdown_grace_s": 0.05,
    }  # fmt: skip
    values.update(options)
    return InProcessJobQueue(db.sessions, registry=registry, **values)


async def _until(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    for _ in range(100_000):
        if predicate():
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


class Hook:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], BaseException]] = []

    async def __call__(self, ctx: JobContext, payload: dict[str, Any], error: BaseException) -> None:
        self.calls.append((ctx.job_id, payload, error))


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        step = min(60.0, 1.0 * 2 ** (attempt - 1))
        delays = [retry_delay(attempt, 1.0, 60.0, rng) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert max(delays) - min(delays) > step / 10  # jittered, not constant


async def test_success_records_progress_and_result(db: Database) -> None:
    registry = JobRegistry()
    seen: list[float] = []

    async def work(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
        await ctx.progress(0.5)
        info = await queue.get(ctx.job_id)
        assert info is not None
        seen.append(info.progress)
        await ctx.check_cancelled()
        return {"doubled": payload["n"] * 2, "attempt": ctx.attempt}

    registry.register("double", work)
    queue = _queue(db, registry)
    await queue.start()
    try:
        job_id = await queue.enqueue("double", {"n": 21}, user_id="u1")
        info = await queue.wait(job_id, 10)
    finally:
        await queue.stop()
    assert info.status == "succeeded" and info.result == {"doubled": 42, "attempt": 1}
    assert seen == [0.5] and info.progress == 1.0 and info.attempts == 1 and info.user_id == "u1"
    assert info.finished_at is not None and info.finished_at >= info.created_at


async def test_enqueue_checks_kind_payload_and_dedupes_ids(db: Database) -> None:
    registry = JobRegistry()

    async def noop(ctx: JobContext, payload: dict[str, Any]) -> None:
        return None

    registry.register("noop", noop)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("noop", noop)
    queue = _queue(db, registry)  # not started: jobs stay queued
    with pytest.raises(ValueError, match="unknown job kind"):
        await queue.enqueue("nope", {})
    with pytest.raises(TypeError):
        await queue.enqueue("noop", {"x": object()})
    first = await queue.enqueue("noop", {"v": 1}, job_id="fixed-id")
    again = await queue.enqueue("noop", {"v": 2}, job_id="fixed-id")
    assert first == again == "fixed-id"
    async with db.sessions() as session:
        row = await session.get(Job, "fixed-id")
    assert row is not None and row.payload == {"v": 1} and row.status == "queued"


async def test_retries_with_backoff_then_gives_up_once(db: Database) -> None:
    registry = JobRegistry()
    hook = Hook()
    times: dict[str, list[float]] = {"flaky": [], "broken": []}

    async def flaky(ctx: JobContext, payload: dict[str, Any]) -> str:
        times["flaky"].append(time.monotonic())
        if ctx.attempt < 3:
            raise ConnectionError(f"down on attempt {ctx.attempt}")
        return "ok"

    async def broken(ctx: JobContext, payload: dict[str, Any]) -> None:
        times["broken"].append(time.monotonic())
        raise RuntimeError("always broken")

    registry.register("flaky", flaky, max_attempts=3, on_failure=hook)
    registry.register("broken", broken, max_attempts=3, on_failure=hook)
    queue = _queue(db, registry, retry_base_s=0.1, retry_max_s=1.0)
    await queue.start()
    try:
        ok_id = await queue.enqueue("flaky", {})
        bad_id = await queue.enqueue("broken", {"keep": "me"})
        ok, bad = await queue.wait(ok_id, 10), await queue.wait(bad_id, 10)
    finally:
        await queue.stop()
    assert ok.status == "succeeded" and ok.attempts == 3 and ok.result == "ok"
    assert bad.status == "failed" and bad.attempts == 3 and "always broken" in (bad.last_error or "")
    # Backoff: >= half of 0.1 s before the 2nd attempt, >= half of 0.2 s before the 3rd.
    gaps = [b - a for a, b in zip(times["broken"], times["broken"][1:], strict=False)]
    assert len(gaps) == 2 and gaps[0] >= 0.05 and gaps[1] >= 0.1
    assert [(c[0], c[1]) for c in hook.calls] == [(bad_id, {"keep": "me"})]
    assert isinstance(hook.calls[0][2], RuntimeError)


async def test_permanent_failure_retry_after_and_timeout(db: Database) -> None:
    registry = JobRegistry()
    hook = Hook()
    stamps: list[float] = []

    async def refuse(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise PermanentFailure("bad input")

    async def later(ctx: JobContext, payload: dict[str, Any]) -> int:
        stamps.append(time.monotonic())
        if ctx.attempt == 1:
            raise RetryLater("busy", retry_after_s=0.4)
        return ctx.attempt

    async def slow(ctx: JobContext, payload: dict[str, Any]) -> None:
        await asyncio.sleep(30)

    registry.register("refuse", refuse, max_attempts=5, on_failure=hook)
    registry.register("later", later, max_attempts=2)
    registry.register("slow", slow, max_attempts=1, timeout_s=0.1, on_failure=hook, keep_payload=False)
    queue = _queue(db, registry, workers=3)
    await queue.start()
    try:
        ids = [await queue.enqueue(kind, {"secret": kind}) for kind in ("refuse", "later", "slow")]
        refused, retried, timed_out = [await queue.wait(i, 10) for i in ids]
    finally:
        await queue.stop()
    assert refused.status == "failed" and refused.attempts == 1 and "bad input" in (refused.last_error or "")
    assert retried.status == "succeeded" and retried.result == 2 and stamps[1] - stamps[0] >= 0.4
    assert timed_out.status == "failed" and "TimeoutError" in (timed_out.last_error or "")
    assert sorted(c[0] for c in hook.calls) == sorted([ids[0], ids[2]])
    async with db.sessions() as session:
        assert (await session.get(Job, ids[2])).payload == {}  # type: ignore[union-attr]
        assert (await session.get(Job, ids[0])).payload == {"secret": "refuse"}  # type: ignore[union-attr]


async def test_cancel_queued_running_and_finished(db: Database) -> None:
    registry = JobRegistry()
    hook = Hook()
    started = asyncio.Event()

    async def polite(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        while True:
            await ctx.check_cancelled()
            await asyncio.sleep(0.02)

    async def quick(ctx: JobContext, payload: dict[str, Any]) -> str:
        return "done"

    registry.register("polite", polite, on_failure=hook)
    registry.register("quick", quick, on_failure=hook)
    queue = _queue(db, registry)
    await queue.start()
    try:
        later = await queue.enqueue("quick", {}, delay_s=60)
        assert await queue.cancel(later)
        running = await queue.enqueue("polite", {})
        await asyncio.wait_for(started.wait(), 10)
        assert await queue.cancel(running)
        cancelled = await queue.wait(running, 10)
        finished = await queue.enqueue("quick", {})
        assert (await queue.wait(finished, 10)).status == "succeeded"
        assert not await queue.cancel(finished)
        assert not await queue.cancel("no-such-job")
    finally:
        await queue.stop()
    assert (await queue.get(later)).status == "cancelled"  # type: ignore[union-attr]
    assert cancelled.status == "cancelled"
    assert [c[0] for c in hook.calls] == [later, running]
    assert all(isinstance(c[2], JobCancelled) for c in hook.calls)


async def test_cancel_reaches_a_job_on_another_runner(db: Database) -> None:
    registry = JobRegistry()
    started = asyncio.Event()

    async def stubborn(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(30)  # never checks: its runner's heartbeat has to stop it

    registry.register("stubborn", stubborn)
    owner = _queue(db, registry, lease_s=0.3)
    other = _queue(db, registry)  # not started: it only asks for the cancellation
    await owner.start()
    try:
        job_id = await owner.enqueue("stubborn", {})
        await asyncio.wait_for(started.wait(), 10)
        began = time.monotonic()
        assert await other.cancel(job_id)
        info = await other.wait(job_id, 10)
        assert time.monotonic() - began < 5  # the heartbeat (every 0.1 s here) stopped it
    finally:
        await owner.stop()
    assert info.status == "cancelled" and owner.running_job_ids == []


async def test_graceful_stop_requeues_without_counting_the_attempt(db: Database) -> None:
    registry = JobRegistry()
    runs: list[str] = []
    release = asyncio.Event()

    async def waits(ctx: JobContext, payload: dict[str, Any]) -> int:
        runs.append(ctx.job_id)
        await release.wait()
        return ctx.attempt

    registry.register("waits", waits)
    first = _queue(db, registry)
    await first.start()
    job_id = await first.enqueue("waits", {})
    await _until(lambda: runs)
    await first.stop()
    info = await first.get(job_id)
    assert info is not None and info.status == "queued" and info.attempts == 0
    release.set()
    second = _queue(db, registry)
    await second.start()
    try:
        done = await second.wait(job_id, 10)
    finally:
        await second.stop()
    assert done.status == "succeeded" and done.result == 1 and runs == [job_id, job_id]


async def test_a_dead_runners_jobs_are_requeued(db_url: str) -> None:
    database = Database(db_url)
    database.migrate()
    registry = JobRegistry()
    hook = Hook()
    runs: list[tuple[str, int]] = []

    async def hangs_first(ctx: JobContext, payload: dict[str, Any]) -> int:
        runs.append((ctx.job_id, ctx.attempt))
        if ctx.attempt == 1:
            await asyncio.sleep(30)
        return ctx.attempt

    async def always_hangs(ctx: JobContext, payload: dict[str, Any]) -> None:
        runs.append((ctx.job_id, ctx.attempt))
        await asyncio.sleep(30)

    registry.register("hangs_first", hangs_first, max_attempts=3)
    registry.register("always_hangs", always_hangs, max_attempts=1, on_failure=hook)
    try:
        dead = _queue(database, registry, lease_s=0.3)
        await dead.start()
        recovered = await dead.enqueue("hangs_first", {})
        exhausted = await dead.enqueue("always_hangs", {})
        await _until(lambda: len(runs) >= 2)
        await dead.abandon()  # as if killed: rows stay "running" with a lease nobody renews
        assert {(await dead.get(i)).status for i in (recovered, exhausted)} == {"running"}  # type: ignore[union-attr]
        await asyncio.sleep(0.35)  # the lease runs out; the next runner re-queues at start-up
        heir = _queue(database, registry, lease_s=0.3)
        await heir.start()
        try:
            ok = await heir.wait(recovered, 10)
            gone = await heir.wait(exhausted, 10)
        finally:
            await heir.stop()
    finally:
        await database.close()
    assert ok.status == "succeeded" and ok.result == 2 and ok.attempts == 2
    # Its one attempt was used up by the runner that died: failed, hook run, not started again.
    assert gone.status == "failed" and "exhausted" in (gone.last_error or "")
    assert [c[0] for c in hook.calls] == [exhausted]
    assert sorted(runs) == sorted([(recovered, 1), (exhausted, 1), (recovered, 2)])


async def test_a_runner_that_lost_its_lease_stops_and_does_not_overwrite(db: Database) -> None:
    registry = JobRegistry()
    started = asyncio.Event()

    async def long(ctx: JobContext, payload: dict[str, Any]) -> str:
        started.set()
        await asyncio.sleep(30)
        return "should not be recorded"

    registry.register("long", long)
    queue = _queue(db, registry, lease_s=0.3)
    await queue.start()
    try:
        job_id = await queue.enqueue("long", {})
        await asyncio.wait_for(started.wait(), 10)
        async with db.sessions() as session, session.begin():
            # Another runner holds it now, and keeps renewing its lease (so no sweep re-queues the job
            # however slowly this runner notices).
            await session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(locked_by="another-runner", lease_expires_at=time.time() + 3600)
            )
        await _until(lambda: queue.running_job_ids == [], 5)
    finally:
        await queue.stop()
    info = await queue.get(job_id)
    assert info is not None and info.status == "running" and info.result is None


async def test_two_runners_never_run_one_job_twice(db_url: str) -> None:
    databases = [Database(db_url), Database(db_url)]  # separate pools, as two processes would have
    databases[0].migrate()
    runs: list[tuple[str, str]] = []

    def handler_for(name: str):  # type: ignore[no-untyped-def]
        async def handler(ctx: JobContext, payload: dict[str, Any]) -> None:
            runs.append((payload["n"], name))
            await asyncio.sleep(0.005)

        return handler

    registries = [JobRegistry(), JobRegistry()]
    for name, reg in zip(("a", "b"), registries, strict=True):
        reg.register("count", handler_for(name))
    queues = [
        _queue(d, r, workers=4, poll_interval_s=0.01) for d, r in zip(databases, registries, strict=True)
    ]
    try:
        for queue in queues:
            await queue.start()
        ids = await asyncio.gather(*(queues[i % 2].enqueue("count", {"n": str(i)}) for i in range(60)))
        infos = [await queues[0].wait(i, 20) for i in ids]
    finally:
        for queue in queues:
            await queue.stop()
        for database in databases:
            await database.close()
    assert all(info.status == "succeeded" and info.attempts == 1 for info in infos)
    numbers = [n for n, _ in runs]
    assert sorted(numbers) == sorted(str(i) for i in range(60))  # each exactly once
    assert {name for _, name in runs} == {"a", "b"}  # both runners took part


async def test_ended_jobs_are_purged_after_the_retention(db: Database) -> None:
    registry = JobRegistry()

    async def noop(ctx: JobContext, payload: dict[str, Any]) -> None:
        return None

    registry.register("noop", noop)
    queue = _queue(db, registry, finished_retention_s=0.2, lease_s=0.2)  # sweeps every 0.1 s
    await queue.start()
    try:
        done = await queue.enqueue("noop", {})
        await queue.wait(done, 10)
        waiting = await queue.enqueue("noop", {}, delay_s=60)
        assert await queue.store.purge_finished(3600) == 0
        await asyncio.sleep(0.6)  # past the retention: the runner's sweep removes it
        assert await queue.get(done) is None
        assert (await queue.get(waiting)).status == "queued"  # type: ignore[union-attr]
    finally:
        await queue.stop()
