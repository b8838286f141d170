"""Background jobs Chorus owns: a ``jobs`` table, registered handlers, and an in-process runner.

A handler is ``async def handler(ctx: JobContext, payload: dict) -> result``: ``payload`` is the JSON
object given to :meth:`JobQueue.enqueue`; the (JSON-able) return value is kept as the job's ``result``.
Handlers call ``await ctx.progress(fraction)`` and ``await ctx.check_cancelled()`` at convenient points.
Jobs are at-least-once: a job whose runner dies mid-run is run again, so handlers must be idempotent
(or make their side effects so, e.g. by deriving child job ids from ``ctx.job_id``).

Outcomes a handler chooses by what it raises:

- returns: ``succeeded``;
- :class:`PermanentFailure`: ``failed`` at once; the kind's ``on_failure`` hook runs;
- :class:`RetryLater` or any other exception: queued again after exponential backoff with jitter (or
  ``retry_after_s``) until ``max_attempts`` attempts, then ``failed`` and ``on_failure``;
- :class:`JobCancelled` (``ctx.check_cancelled()``): ``cancelled`` and ``on_failure``.

Claiming is one conditional ``UPDATE jobs SET status='running' ... WHERE id=:id AND status='queued'``
(the same SQL on SQLite and PostgreSQL): of two runners racing for a job exactly one sees a row
updated. A running job carries a lease (``locked_by``, ``lease_expires_at``) that its runner renews;
runners re-queue jobs whose lease ran out (their runner died) at start-up and periodically, and a
graceful stop re-queues the jobs it interrupts at once, without counting the attempt.

:class:`JobQueue` is the interface services depend on; :class:`InProcessJobQueue` runs jobs inside the
server process. A Dramatiq runner can implement the same protocol later: ``enqueue`` inserts the row
with :class:`JobStore` and sends the id; the actor claims that id, runs the registered handler with a
:class:`JobContext`, and settles the row through the same store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.config import Settings
from chorus.storage.models import Job

log = logging.getLogger("chorus.jobs")

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINAL_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELLED})
MAX_ERROR_CHARS = 2000
# Ended jobs are kept this long (for status queries), then deleted by the runners' sweep.
FINISHED_RETENTION_S = 7 * 24 * 3600.0


class RetryLater(Exception):
    """A transient failure: try again (after ``retry_after_s`` when given) while attempts remain."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentFailure(Exception):
    """Retrying cannot help (bad input, a refused target): fail the job now."""


class JobCancelled(Exception):
    """The job was cancelled, or this runner lost its lease on it; raised by ``ctx.check_cancelled()``."""


Handler = Callable[["JobContext", dict[str, Any]], Awaitable[Any]]
FailureHook = Callable[["JobContext", dict[str, Any], BaseException], Awaitable[None]]


@dataclass(frozen=True)
class JobKind:
    """How one kind of job runs: its handler, attempts, and what to do when it fails for good."""

    name: str
    handler: Handler
    max_attempts: int = 3
    # Runs once when the job ends failed or cancelled (refunds, clean-up, failure notices).
    on_failure: FailureHook | None = None
    # False: the payload is cleared when the job ends (it may hold data that must not be retained).
    keep_payload: bool = True
    # Per-attempt limit; running past it counts as a failed attempt.
    timeout_s: float | None = None


class JobRegistry:
    """Kinds by name. Every runner (in process now, Dramatiq later) runs the kinds registered here."""

    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def register(
        self,
        name: str,
        handler: Handler,
        *,
        max_attempts: int = 3,
        on_failure: FailureHook | None = None,
        keep_payload: bool = True,
        timeout_s: float | None = None,
    ) -> JobKind:
        if name in self._kinds:
            raise ValueError(f"job kind {name!r} is already registered")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        kind = JobKind(name, handler, max_attempts, on_failure, keep_payload, timeout_s)
        self._kinds[name] = kind
        return kind

    def get(self, name: str) -> JobKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise ValueError(f"unknown job kind {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one job row."""

    id: str
    kind: str
    status: str
    attempts: int
    max_attempts: int
    progress: float
    last_error: str | None
    result: Any
    user_id: str | None
    next_run_at: float
    created_at: float
    updated_at: float
    finished_at: float | None

    @property
    def done(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    user_id: str | None


def retry_delay(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half the step is fixed, half random, so a burst of
    failures does not come back as a burst, yet no retry comes back immediately."""
    step = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return step / 2 + (rng or random).uniform(0, step / 2)


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        log.warning("job result is not JSON; storing its text")
        return str(value)
    return value


class JobStore:
    """Every read and write of the ``jobs`` table. Writes by a runner are conditional on it holding
    the job (``locked_by``), so a runner that lost its lease can never overwrite a newer outcome."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        max_attempts: int,
        user_id: str | None = None,
        delay_s: float = 0.0,
        job_id: str | None = None,
        session: AsyncSession | None = None,
    ) -> tuple[str, bool]:
        """Add a queued job; returns (id, created). An existing ``job_id`` is left as it is."""
        now = time.time()
        row = Job(
            id=job_id or uuid.uuid4().hex,
            kind=kind,
            payload=payload,
            status=QUEUED,
            attempts=0,
            max_attempts=max_attempts,
            next_run_at=now + max(0.0, delay_s),
            last_error=None,
            progress=0.0,
            result=None,
            user_id=user_id,
            cancel_requested=False,
            locked_by=None,
            lease_expires_at=None,
            created_at=now,
            updated_at=now,
            finished_at=None,
        )
        if session is not None:
            # Part of the caller's transaction (enqueued only if the caller's work commits).
            if job_id is not None and await session.get(Job, job_id) is not None:
                return job_id, False
            session.add(row)
            await session.flush()
            return row.id, True
        if job_id is not None:
            async with self._sessions() as check:
                if await check.get(Job, job_id) is not None:
                    return job_id, False
        try:
            async with self._sessions() as own, own.begin():
                own.add(row)
        except IntegrityError:
            if job_id is None:
                raise
            return job_id, False  # a concurrent enqueue of the same id won
        return row.id, True

    async def claim(self, runner_id: str, kinds: list[str], limit: int, lease_s: float) -> list[ClaimedJob]:
        """Claim up to ``limit`` due jobs of ``kinds``, one conditional UPDATE each."""
        if limit <= 0 or not kinds:
            return []
        now = time.time()
        async with self._sessions() as session:
            candidates = (
                await session.execute(
                    select(Job.id)
                    .where(Job.status == QUEUED, Job.next_run_at <= now, Job.kind.in_(kinds))
                    .order_by(Job.next_run_at, Job.created_at)
                    .limit(limit * 3)
                )
            ).scalars().all()  # fmt: skip
        claimed: list[ClaimedJob] = []
        for job_id in candidates:
            if len(claimed) >= limit:
                break
            try:
                row = await self._claim_one(job_id, runner_id, now, lease_s)
            except Exception:
                # Return what is already claimed, so it runs rather than waiting out its lease.
                log.exception("claiming job %s failed", job_id)
                break
            if row is not None:
                claimed.append(row)
        return claimed

    async def _claim_one(self, job_id: str, runner_id: str, now: float, lease_s: float) -> ClaimedJob | None:
        """The claim itself: only the runner whose UPDATE finds the job still queued gets a row back."""
        async with self._sessions() as session, session.begin():
            row = (
                await session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == QUEUED)
                    .values(
                        status=RUNNING,
                        attempts=Job.attempts + 1,
                        locked_by=runner_id,
                        lease_expires_at=now + lease_s,
                        updated_at=now,
                    )
                    .returning(Job.kind, Job.payload, Job.attempts, Job.max_attempts, Job.user_id)
                )
            ).first()
        if row is None:
            return None
        return ClaimedJob(job_id, row[0], dict(row[1] or {}), row[2], row[3], row[4])

    async def renew(self, runner_id: str, job_ids: list[str], lease_s: float) -> tuple[set[str], set[str]]:
        """Extend the leases this runner holds; returns (still held, of those: cancel requested)."""
        if not job_ids:
            return set(), set()
        now = time.time()
        async with self._sessions() as session, session.begin():
            rows = (
                await session.execute(
                    update(Job)
                    .where(Job.id.in_(job_ids), Job.locked_by == runner_id, Job.status == RUNNING)
                    .values(lease_expires_at=now + lease_s)
                    .returning(Job.id, Job.cancel_requested)
                )
            ).all()
        return {r[0] for r in rows}, {r[0] for r in rows if r[1]}

    async def _settle(self, job_id: str, runner_id: str, **values: Any) -> bool:
        values.setdefault("updated_at", time.time())
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.locked_by == runner_id, Job.status == RUNNING)
                .values(**values)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def finish(
        self,
        job_id: str,
        runner_id: str,
        status: str,
        *,
        error: str | None = None,
        result: Any = None,
        scrub_payload: bool = False,
    ) -> bool:
        now = time.time()
        values: dict[str, Any] = {
            "status": status,
            "locked_by": None,
            "lease_expires_at": None,
            "finished_at": now,
            "updated_at": now,
            "result": result,
        }
        if error is not None:
            values["last_error"] = error
        if status == SUCCEEDED:
            values["progress"] = 1.0
        if scrub_payload:
            values["payload"] = {}
        return await self._settle(job_id, runner_id, **values)

    async def retry(self, job_id: str, runner_id: str, error: str, run_at: float) -> bool:
        return await self._settle(
            job_id, runner_id, status=QUEUED, locked_by=None, lease_expires_at=None, last_error=error,
            next_run_at=run_at,
        )  # fmt: skip

    async def release(self, job_id: str, runner_id: str) -> bool:
        """Give an interrupted job back (graceful stop): queued again now, the attempt not counted."""
        return await self._settle(
            job_id, runner_id, status=QUEUED, locked_by=None, lease_expires_at=None,
            attempts=Job.attempts - 1, next_run_at=time.time(),
        )  # fmt: skip

    async def requeue_expired(self) -> int:
        """Queue again every running job whose lease ran out (its runner died without a word)."""
        now = time.time()
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Job)
                .where(Job.status == RUNNING, Job.lease_expires_at < now)
                .values(
                    status=QUEUED,
                    locked_by=None,
                    lease_expires_at=None,
                    next_run_at=now,
                    updated_at=now,
                    last_error="its runner stopped without finishing it (lease expired)",
                )
            )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            log.warning("re-queued %d job(s) left running by a runner that stopped", count)
        return count

    async def purge_finished(self, older_than_s: float) -> int:
        """Delete jobs that ended more than ``older_than_s`` ago."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(Job).where(
                    Job.status.in_(FINAL_STATUSES), Job.finished_at < time.time() - older_than_s
                )
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def set_progress(self, job_id: str, runner_id: str, fraction: float) -> bool:
        return await self._settle(job_id, runner_id, progress=fraction)

    async def cancel_state(self, job_id: str, runner_id: str) -> tuple[bool, bool]:
        """(cancel requested, still held by ``runner_id``)."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Job.cancel_requested, Job.locked_by, Job.status).where(Job.id == job_id)
                )
            ).first()
        if row is None:
            return True, False
        return bool(row[0]), row[1] == runner_id and row[2] == RUNNING

    async def cancel_queued(self, job_id: str) -> ClaimedJob | None:
        """Cancel a job that has not started; returns it (for its failure hook) when that happened."""
        now = time.time()
        async with self._sessions() as session, session.begin():
            row = (
                await session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == QUEUED)
                    .values(
                        status=CANCELLED, cancel_requested=True, finished_at=now, updated_at=now,
                        last_error="cancelled",
                    )
                    .returning(Job.kind, Job.payload, Job.attempts, Job.max_attempts, Job.user_id)
                )
            ).first()  # fmt: skip
        if row is None:
            return None
        return ClaimedJob(job_id, row[0], dict(row[1] or {}), row[2], row[3], row[4])

    async def request_cancel(self, job_id: str) -> bool:
        """Flag a running job; its runner stops it at the next heartbeat or ``check_cancelled``."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == RUNNING)
                .values(cancel_requested=True, updated_at=time.time())
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def scrub_payload(self, job_id: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(update(Job).where(Job.id == job_id).values(payload={}))

    async def get(self, job_id: str) -> JobInfo | None:
        async with self._sessions() as session:
            row = await session.get(Job, job_id)
        if row is None:
            return None
        return JobInfo(
            id=row.id, kind=row.kind, status=row.status, attempts=row.attempts,
            max_attempts=row.max_attempts, progress=row.progress, last_error=row.last_error,
            result=row.result, user_id=row.user_id, next_run_at=row.next_run_at,
            created_at=row.created_at, updated_at=row.updated_at, finished_at=row.finished_at,
        )  # fmt: skip


class JobContext:
    """What a handler sees of its job: who it is, and the two ways to talk back."""

    def __init__(self, store: JobStore, runner_id: str, job: ClaimedJob) -> None:
        self._store = store
        self._runner_id = runner_id
        self.job_id = job.id
        self.kind = job.kind
        self.attempt = job.attempt
        self.max_attempts = job.max_attempts
        self.user_id = job.user_id
        self._cancelled = False

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    async def progress(self, fraction: float) -> None:
        """Record progress (0..1). Raises JobCancelled when this runner no longer holds the job."""
        if not await self._store.set_progress(self.job_id, self._runner_id, min(1.0, max(0.0, fraction))):
            raise JobCancelled("this runner no longer holds the job")

    async def check_cancelled(self) -> None:
        """Raise JobCancelled if the job was cancelled (or taken over after a lost lease)."""
        if self._cancelled:
            raise JobCancelled("the job was cancelled")
        requested, held = await self._store.cancel_state(self.job_id, self._runner_id)
        if requested:
            raise JobCancelled("the job was cancelled")
        if not held:
            raise JobCancelled("this runner no longer holds the job")


class JobQueue(Protocol):
    """What services use to run work in the background (in process now; Dramatiq later)."""

    registry: JobRegistry

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        user_id: str | None = None,
        max_attempts: int | None = None,
        delay_s: float = 0.0,
        job_id: str | None = None,
        session: AsyncSession | None = None,
    ) -> str: ...

    async def get(self, job_id: str) -> JobInfo | None: ...

    async def cancel(self, job_id: str) -> bool: ...

    async def wait(self, job_id: str, timeout_s: float) -> JobInfo: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class _Running:
    task: asyncio.Task[None]
    ctx: JobContext
    # Why this runner cancelled the task: "cancel" (user), "shutdown" (graceful stop), "lost" (lease).
    reason: str | None = None


class InProcessJobQueue:
    """Runs jobs in the server's event loop: ``workers`` at a time, polling every ``poll_interval_s``
    and woken at once by an ``enqueue`` in this process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        registry: JobRegistry | None = None,
        workers: int = 2,
        poll_interval_s: float = 1.0,
        lease_s: float = 60.0,
        retry_base_s: float = 2.0,
        retry_max_s: float = 600.0,
        shutdown_grace_s: float = 5.0,
        finished_retention_s: float | None = FINISHED_RETENTION_S,
        runner_id: str | None = None,
    ) -> None:
        self.registry = registry or JobRegistry()
        self.store = JobStore(sessions)
        self.workers = workers
        self.poll_interval_s = poll_interval_s
        self.lease_s = lease_s
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.shutdown_grace_s = shutdown_grace_s
        self.finished_retention_s = finished_retention_s
        self.runner_id = runner_id or f"{socket.gethostname()[:20]}-{uuid.uuid4().hex[:12]}"
        self._running: dict[str, _Running] = {}
        self._wake: asyncio.Event | None = None
        self._main: asyncio.Task[None] | None = None
        self._stopping = False

    @classmethod
    def from_settings(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        registry: JobRegistry | None = None,
    ) -> InProcessJobQueue:
        return cls(
            sessions,
            registry=registry,
            workers=settings.job_workers,
            poll_interval_s=settings.job_poll_interval_s,
            lease_s=settings.job_lease_s,
            retry_base_s=settings.job_retry_base_s,
            retry_max_s=settings.job_retry_max_s,
            shutdown_grace_s=settings.job_shutdown_grace_s,
        )

    @property
    def running_job_ids(self) -> list[str]:
        return list(self._running)

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        user_id: str | None = None,
        max_attempts: int | None = None,
        delay_s: float = 0.0,
        job_id: str | None = None,
        session: AsyncSession | None = None,
    ) -> str:
        """Queue a job of a registered ``kind``. A given ``job_id`` makes this idempotent: enqueueing an
        id that exists does nothing. With ``session`` the row is part of the caller's transaction."""
        spec = self.registry.get(kind)
        json.dumps(payload)  # refuse what the JSON column could not store, here rather than in the DB
        new_id, _created = await self.store.insert(
            kind,
            payload,
            max_attempts=max_attempts or spec.max_attempts,
            user_id=user_id,
            delay_s=delay_s,
            job_id=job_id,
            session=session,
        )
        self._poke()
        return new_id

    async def get(self, job_id: str) -> JobInfo | None:
        return await self.store.get(job_id)

    async def wait(self, job_id: str, timeout_s: float, poll_s: float = 0.05) -> JobInfo:
        """Poll until the job has ended (TimeoutError after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            info = await self.store.get(job_id)
            if info is None:
                raise KeyError(job_id)
            if info.done:
                return info
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {info.status} after {timeout_s} s")
            await asyncio.sleep(poll_s)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it has already ended (or does not exist)."""
        queued = await self.store.cancel_queued(job_id)
        if queued is not None:
            spec = self.registry.get(queued.kind) if queued.kind in self.registry else None
            if spec is not None:
                await self._run_failure_hook(
                    spec, JobContext(self.store, self.runner_id, queued), queued.payload,
                    JobCancelled("the job was cancelled before it started"),
                )  # fmt: skip
                if not spec.keep_payload:
                    await self.store.scrub_payload(job_id)
            return True
        if not await self.store.request_cancel(job_id):
            return False
        local = self._running.get(job_id)
        if local is not None:
            self._interrupt(local, "cancel")
        return True

    async def start(self) -> None:
        """Re-queue jobs orphaned by a runner that died, then start claiming (unless ``workers`` is 0)."""
        if self.workers <= 0 or self._main is not None:
            return
        self._stopping = False
        self._wake = asyncio.Event()
        await self.store.requeue_expired()
        self._main = asyncio.create_task(self._loop(), name=f"chorus-jobs-{self.runner_id}")

    async def stop(self) -> None:
        """Stop claiming; give running jobs ``shutdown_grace_s`` to end, then interrupt and re-queue them."""
        self._stopping = True
        self._poke()
        if self._main is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
            self._main = None
        running = list(self._running.values())
        if not running:
            return
        # Leases are no longer renewed from here on: wait less than one could run out.
        grace = min(self.shutdown_grace_s, self.lease_s / 2)
        _done, pending = await asyncio.wait([r.task for r in running], timeout=grace)
        for entry in running:
            if entry.task in pending:
                self._interrupt(entry, "shutdown")
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.info("stopped %d running job(s); they are queued again", len(pending))

    async def abandon(self) -> None:
        """Stop as if the process had died: no re-queue, leases left to expire. (Tests use this.)"""
        self._stopping = True
        self._poke()
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
            self._main = None
        for entry in list(self._running.values()):
            self._interrupt(entry, "lost")
        await asyncio.gather(*(r.task for r in list(self._running.values())), return_exceptions=True)

    # -- the loop --------------------------------------------------------------------------------

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _loop(self) -> None:
        assert self._wake is not None
        beat_every = self.lease_s / 3
        sweep_every = max(self.poll_interval_s, min(self.lease_s / 2, 30.0))
        next_beat = next_sweep = time.monotonic()
        while not self._stopping:
            self._wake.clear()
            try:
                now = time.monotonic()
                if now >= next_beat:
                    await self._heartbeat()
                    next_beat = now + beat_every
                if now >= next_sweep:
                    await self.store.requeue_expired()
                    if self.finished_retention_s is not None:
                        await self.store.purge_finished(self.finished_retention_s)
                    next_sweep = now + sweep_every
                free = self.workers - len(self._running)
                if free > 0 and not self._stopping:
                    for job in await self.store.claim(
                        self.runner_id, self.registry.names(), free, self.lease_s
                    ):
                        self._spawn(job)
            except Exception:  # a database hiccup must not end the loop
                log.exception("job runner iteration failed")
            timeout = self.poll_interval_s
            if self._running:
                timeout = min(timeout, max(0.0, next_beat - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _heartbeat(self) -> None:
        ids = list(self._running)
        held, cancel = await self.store.renew(self.runner_id, ids, self.lease_s)
        for job_id in ids:
            entry = self._running.get(job_id)
            if entry is None:
                continue
            if job_id not in held:
                log.warning("job %s: lease lost; stopping this runner's copy", job_id)
                self._interrupt(entry, "lost")
            elif job_id in cancel:
                self._interrupt(entry, "cancel")

    def _interrupt(self, entry: _Running, reason: str) -> None:
        if entry.reason is None and not entry.task.done():
            entry.reason = reason
            entry.ctx._cancelled = True
            entry.task.cancel()

    def _spawn(self, job: ClaimedJob) -> None:
        ctx = JobContext(self.store, self.runner_id, job)
        task = asyncio.create_task(self._execute(ctx, job.payload), name=f"job-{job.kind}-{job.id}")
        self._running[job.id] = _Running(task, ctx)

        def finished(_task: asyncio.Task[None]) -> None:
            self._running.pop(job.id, None)
            self._poke()

        task.add_done_callback(finished)

    async def _execute(self, ctx: JobContext, payload: dict[str, Any]) -> None:
        spec = self.registry.get(ctx.kind)
        if ctx.attempt > ctx.max_attempts:
            # Its earlier runners died mid-run as often as it may be tried: do not try again.
            await self._fail(spec, ctx, payload, RuntimeError("attempts exhausted by runners that stopped"))
            return
        try:
            call = spec.handler(ctx, payload)
            result = await (asyncio.wait_for(call, spec.timeout_s) if spec.timeout_s else call)
        except asyncio.CancelledError:
            entry = self._running.get(ctx.job_id)
            reason = entry.reason if entry is not None else None
            if reason is None:
                raise  # cancelled from outside (the event loop is closing): the lease will expire
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            if reason == "cancel":
                await self._end_cancelled(spec, ctx, payload, JobCancelled("the job was cancelled"))
            elif reason == "shutdown":
                await self.store.release(ctx.job_id, self.runner_id)
            return  # "lost": another runner owns the job now
        except JobCancelled as exc:
            await self._end_cancelled(spec, ctx, payload, exc)
        except PermanentFailure as exc:
            await self._fail(spec, ctx, payload, exc)
        except Exception as exc:
            if ctx.attempt >= ctx.max_attempts:
                await self._fail(spec, ctx, payload, exc)
                return
            after = exc.retry_after_s if isinstance(exc, RetryLater) else None
            delay = (
                after if after is not None else retry_delay(ctx.attempt, self.retry_base_s, self.retry_max_s)
            )
            log.info("job %s (%s) attempt %d failed, retrying in %.1f s: %s",
                     ctx.job_id, ctx.kind, ctx.attempt, delay, exc)  # fmt: skip
            await self.store.retry(ctx.job_id, self.runner_id, _error_text(exc), time.time() + delay)
        else:
            await self.store.finish(
                ctx.job_id, self.runner_id, SUCCEEDED, result=_jsonable(result),
                scrub_payload=not spec.keep_payload,
            )  # fmt: skip

    async def _fail(
        self, spec: JobKind, ctx: JobContext, payload: dict[str, Any], exc: BaseException
    ) -> None:
        log.warning("job %s (%s) failed after %d attempt(s): %s", ctx.job_id, ctx.kind, ctx.attempt, exc)
        held = await self.store.finish(
            ctx.job_id, self.runner_id, FAILED, error=_error_text(exc), scrub_payload=not spec.keep_payload
        )
        # The row is settled first, then the hook runs: a crash between the two skips the hook rather
        # than running it twice (a refund given twice would be worse than one missed).
        if held:
            await self._run_failure_hook(spec, ctx, payload, exc)

    async def _end_cancelled(
        self, spec: JobKind, ctx: JobContext, payload: dict[str, Any], exc: JobCancelled
    ) -> None:
        held = await self.store.finish(
            ctx.job_id, self.runner_id, CANCELLED, error=_error_text(exc), scrub_payload=not spec.keep_payload
        )
        if held:
            await self._run_failure_hook(spec, ctx, payload, exc)

    async def _run_failure_hook(
        self, spec: JobKind, ctx: JobContext, payload: dict[str, Any], exc: BaseException
    ) -> None:
        if spec.on_failure is None:
            return
        try:
            await spec.on_failure(ctx, payload, exc)
        except Exception:
            log.exception("job %s (%s): failure hook raised", ctx.job_id, ctx.kind)
