"""Engines in worker processes, so several requests synthesise at once.

The in-process Flite and eSpeak NG engines serialise every synthesis on the C library's ``rand()``
(one generator per process, needed for byte-exact output), so one process speaks one sentence at a
time. :class:`PooledEngine` runs N copies of an engine in worker processes, each with its own
``rand()``, and forwards requests to whichever is free; it implements the same
:class:`~chorus.engines.base.TTSEngine` contract and produces the same bytes.

How a request travels. ``synthesize()`` takes a free worker (waiting up to ``acquire_timeout``, then
raising :class:`~chorus.engines.base.EngineBusy`), sends it the request and waits for the worker to
accept it, so an unknown voice raises on the call itself, as in process. The worker then sends each
chunk as soon as it is synthesised. When the stream ends, fails, or is closed early, the worker goes
back to the pool; after an early close it is told to stop after the sentence in hand, and whatever it
already sent is read off its pipe by the next request that takes it (never blocking the closer).

Workers are started with the ``forkserver`` method (never ``fork``: the server has threads): one
helper process imports the engine modules once, and each worker is forked from it, so a worker is
ready in the time it takes to load the engine's libraries. A worker that dies (a crash in C, a kill)
or stops answering for ``chunk_timeout`` seconds is killed and replaced at once; the request it was
serving fails with a :class:`RuntimeError` that says so, and a request that had not started yet is
retried on another worker.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from chorus.engines.base import (
    AudioChunk,
    EngineBusy,
    EngineCapabilities,
    EngineUnavailable,
    EngineVoice,
    PCMFormat,
    SynthesisRequest,
    TTSEngine,
)

__all__ = ["EngineBusy", "EngineInfo", "PooledEngine"]

logger = logging.getLogger(__name__)

# Imported once by the fork server, so that workers forked from it start with them loaded.
FORKSERVER_PRELOAD = ("__main__", "chorus.engines.registry", "chorus.engines.flite", "chorus.engines.espeak")

_preload_lock = threading.Lock()
_preload_done: set[str] = set()


@dataclass(frozen=True)
class EngineInfo:
    """What the pool answers from the parent, read once from a worker at start-up."""

    name: str
    available: bool
    reason: str | None
    voices: tuple[EngineVoice, ...]
    languages: tuple[tuple[str, str], ...]
    output_format: PCMFormat
    capabilities: EngineCapabilities

    @classmethod
    def of(cls, engine: TTSEngine) -> EngineInfo:
        return cls(
            name=engine.name,
            available=engine.available(),
            reason=engine.unavailable_reason(),
            voices=tuple(engine.voices()),
            languages=tuple(engine.languages()),
            output_format=engine.output_format(),
            capabilities=engine.capabilities(),
        )


# --- the worker process ------------------------------------------------------------------------


class _ParentGone(BaseException):
    """The pipe to the parent broke: the worker has nobody to talk to and exits quietly."""


def _send(conn: Connection, message: tuple[Any, ...]) -> None:
    try:
        conn.send(message)
    except (OSError, EOFError) as exc:
        raise _ParentGone from exc


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling as itself, else a RuntimeError that names it."""
    try:
        if type(pickle.loads(pickle.dumps(exc))) is type(exc):
            return exc
    except Exception:  # noqa: BLE001 - any failure to pickle means "send a stand-in"
        pass
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def _worker_main(conn: Connection, factory: Callable[[], TTSEngine]) -> None:
    """A worker: build the engine, report what it offers, then serve requests one at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business; it stops us
    try:
        try:
            engine = factory()
            info = EngineInfo.of(engine)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
            _send(conn, ("failed", f"{type(exc).__name__}: {exc}"))
            return
        _send(conn, ("ready", info))
        while True:
            try:
                message = conn.recv()
            except (OSError, EOFError):
                return
            if message[0] == "stop":
                return
            if message[0] == "synth" and not _serve(conn, engine, message[1], message[2]):
                return
            # Anything else is a stale "cancel" for a request that had already finished.
    except _ParentGone:
        return
    finally:
        with contextlib.suppress(OSError):
            conn.close()


def _serve(conn: Connection, engine: TTSEngine, request_id: int, request: SynthesisRequest) -> bool:
    """Run one request, streaming its chunks. False when the parent asked the worker to stop."""
    try:
        chunks = engine.synthesize(request)
    except Exception as exc:  # noqa: BLE001 - travels to the caller, who raises it
        _send(conn, ("error", request_id, _portable(exc)))
        return True
    _send(conn, ("started", request_id))
    try:
        for chunk in chunks:
            _send(conn, ("chunk", request_id, chunk))
            while conn.poll():  # between sentences: has the caller given up?
                message = conn.recv()
                if message[0] == "stop":
                    return False
                if message[0] == "cancel" and message[1] == request_id:
                    _send(conn, ("cancelled", request_id))
                    return True
        _send(conn, ("done", request_id))
    except (_ParentGone, EOFError):
        raise _ParentGone from None
    except Exception as exc:  # noqa: BLE001 - travels to the caller, who raises it
        _send(conn, ("error", request_id, _portable(exc)))
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
    return True


# --- the parent --------------------------------------------------------------------------------


class _WorkerLost(Exception):
    """A worker died or stopped answering; the message says how."""


class _Worker:
    __slots__ = ("conn", "draining", "leased", "process", "ready")

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.ready = False  # its "ready" message has been read
        self.draining: int | None = None  # a request it may still be sending, to read off first
        self.leased = False  # a request (its thread) owns it and its pipe

    @property
    def pid(self) -> int | None:
        return self.process.pid


_TERMINAL = frozenset({"done", "error", "cancelled"})


class PooledEngine:
    """An engine run in ``workers`` worker processes; the :class:`TTSEngine` contract, same bytes.

    ``factory`` builds the engine in each worker, so it must pickle (a module-level function or
    class, such as :class:`chorus.engines.registry.EngineSpec`). Construction never raises: an
    engine that cannot run, or workers that cannot start, leave the pool unavailable with the reason.
    """

    def __init__(
        self,
        factory: Callable[[], TTSEngine],
        workers: int = 2,
        *,
        name: str | None = None,
        start_method: str = "forkserver",
        start_timeout: float = 60.0,
        acquire_timeout: float = 60.0,
        chunk_timeout: float = 120.0,
        wait: bool = True,
    ) -> None:
        """Start the workers (in parallel). With ``wait`` (the default), return once they are ready;
        otherwise the first call that needs them waits (see :meth:`wait_ready`)."""
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.name = name or str(getattr(factory, "name", "engine"))
        self._factory = factory
        self._size = workers
        self._start_timeout = start_timeout
        self._acquire_timeout = acquire_timeout
        self._chunk_timeout = chunk_timeout
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._ready_lock = threading.Lock()
        self._started = False
        self._closed = False
        self._info: EngineInfo | None = None
        self._reason: str | None = None
        self._workers: list[_Worker] = []  # every live worker, leased or not
        self._free: list[_Worker] = []
        self._waiters = 0  # callers blocked in _acquire
        self._readers: ThreadPoolExecutor | None = None  # read try_synthesize streams (made on first use)
        self.startup_seconds: float | None = None
        self._started_at = time.perf_counter()
        try:
            if start_method not in multiprocessing.get_all_start_methods():
                start_method = "spawn"  # no fork server on this platform
            self._context = multiprocessing.get_context(start_method)
            if start_method == "forkserver":
                _configure_forkserver(self._context)
            for _ in range(workers):
                self._workers.append(self._spawn())
        except Exception as exc:  # noqa: BLE001 - reported through unavailable_reason()
            self._reason = f"{self.name} engine workers could not start: {exc}"
            self._shutdown()
        # Whatever happens to this object, its worker processes do not outlive it.
        self._finalizer = weakref.finalize(self, _kill_all, self._workers)
        if wait:
            self.wait_ready()

    # --- start-up ------------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_worker_main,
            args=(child_end, self._factory),
            name=f"chorus-{self.name}-worker",
            daemon=True,
        )
        try:
            process.start()
        finally:
            child_end.close()  # the worker holds the only copy, so its death reads as end-of-file
        return _Worker(process, parent_end)

    def wait_ready(self) -> None:
        """Wait (once) for the workers started at construction; afterwards a no-op."""
        with self._ready_lock:
            if self._started:
                return
            self._started = True
            problems: list[str] = []
            for worker in list(self._workers):
                try:
                    self._await_ready(worker, self._started_at + self._start_timeout)
                except _WorkerLost as lost:
                    problems.append(str(lost))
                    self._discard(worker)
            self.startup_seconds = time.perf_counter() - self._started_at
            if self._reason is not None:
                return
            if self._info is None:
                detail = problems[0] if problems else "no worker started"
                self._reason = f"{self.name} engine workers could not start: {detail}"
            elif not self._info.available:
                self._reason = self._info.reason or f"{self.name} engine unavailable"
            if self._reason is not None:
                self._shutdown()
                return
            with self._cond:
                self._free.extend(w for w in self._workers if w.ready)
                self._cond.notify_all()
            for _ in problems:  # workers that failed while others came up: try again
                self._start_replacement()

    def _await_ready(self, worker: _Worker, deadline: float) -> None:
        message = self._read(worker, max(0.0, deadline - time.perf_counter()), "start")
        if message[0] == "failed":
            raise _WorkerLost(f"its engine failed to build: {message[1]}")
        if message[0] != "ready":
            raise _WorkerLost(f"it sent {message[0]!r} instead of being ready")
        worker.ready = True
        if self._info is None:
            self._info = message[1]

    # --- the TTSEngine contract (answered here) --------------------------------------------------

    def available(self) -> bool:
        self.wait_ready()
        return self._reason is None and self._info is not None and self._info.available

    def unavailable_reason(self) -> str | None:
        self.wait_ready()
        if self._reason is not None:
            return self._reason
        return None if self._info is None else self._info.reason

    def voices(self) -> list[EngineVoice]:
        return list(self._info.voices) if self.available() and self._info else []

    def languages(self) -> list[tuple[str, str]]:
        return list(self._info.languages) if self.available() and self._info else []

    def output_format(self) -> PCMFormat:
        self.wait_ready()
        return self._info.output_format if self._info else PCMFormat(16_000)

    def capabilities(self) -> EngineCapabilities:
        self.wait_ready()
        if self._info is not None:
            return self._info.capabilities
        return EngineCapabilities(False, False, False, (), self.output_format().sample_rate)

    def worker_pids(self) -> list[int]:
        """The process ids of the live workers (for monitoring and tests)."""
        with self._cond:
            return [w.pid for w in self._workers if w.pid is not None]

    @property
    def size(self) -> int:
        return self._size

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Like the engine's own: raises for an unknown voice on the call, then streams chunks.

        Raises :class:`EngineBusy` when no worker comes free within ``acquire_timeout`` seconds and
        :class:`RuntimeError` when workers keep failing. Close the returned iterator (or let it be
        collected) to give up early; the worker is released either way.
        """
        stream = self._start(request, wait=True)
        assert stream is not None
        return stream

    def idle_workers(self) -> int:
        """Workers free right now for work that can wait (none while any caller waits for a worker)."""
        with self._cond:
            return 0 if self._waiters else sum(w.ready for w in self._free)

    def try_synthesize(
        self, request: SynthesisRequest, on_finished: Callable[[], None] | None = None
    ) -> Iterator[AudioChunk] | None:
        """:meth:`synthesize` if a worker is free right now and no other request is waiting for one;
        else None at once. For work done ahead of need (the next sentence of a request), which should
        only use workers nobody else wants.

        The stream is read to its end in the background, so the worker goes back to the pool as soon as
        it has finished, however slowly the caller gets to it (a slow streaming client holds no worker
        through it); its chunks, then its error if it failed, come when the caller iterates.
        ``on_finished`` is called (on the reading thread) once the worker is back in the pool, so work
        ahead can be handed to it at once.
        """
        stream = self._start(request, wait=False)
        if stream is None:
            return None
        with self._cond:
            closed = self._closed
            if self._readers is None and not closed:
                # Two per worker: a reader may spend a while in on_finished (starting the next piece waits
                # for a worker's reply), and other streams' reads should not queue behind it.
                self._readers = ThreadPoolExecutor(
                    2 * self._size, thread_name_prefix=f"chorus-{self.name}-ahead"
                )
            readers = self._readers
        if closed or readers is None:  # closed since the worker took the request: nobody will read it
            stream.close()
            raise EngineUnavailable(f"the {self.name} engine pool is closed")
        return _ReadAhead(stream, readers, on_finished)

    def _start(self, request: SynthesisRequest, wait: bool) -> _PooledStream | None:
        if not self.available():
            raise EngineUnavailable(self.unavailable_reason() or f"{self.name} engine unavailable")
        last: _WorkerLost | None = None
        # A worker lost before it took the request on (found dead while idle) is replaced and the
        # request tried on another: at most once per worker, plus once on a fresh one.
        for _attempt in range(self._size + 1):
            worker = self._acquire(wait)
            if worker is None:
                return None
            request_id = next(self._ids)
            try:
                self._settle(worker)
                try:
                    worker.conn.send(("synth", request_id, request))
                except (OSError, EOFError) as exc:
                    raise _WorkerLost(self._death(worker, exc)) from None
                reply = self._read(worker, self._chunk_timeout, "accept the request")
            except _WorkerLost as lost:
                # It failed before taking this request on: nothing to do with the request, so retry.
                last = lost
                self._replace(worker)
                continue
            except BaseException:
                self._replace(worker)  # its state is unknown; do not hand it out again
                raise
            if reply[0] == "started" and reply[1] == request_id:
                return _PooledStream(self, worker, request_id)
            self._release(worker)
            if reply[0] == "error":
                raise reply[2]
            raise RuntimeError(f"{self.name} engine worker answered {reply[0]!r} to a request")
        raise RuntimeError(f"{self.name} engine workers keep failing ({last}); they have been replaced")

    # --- leasing workers ---------------------------------------------------------------------------

    def _acquire(self, wait: bool = True) -> _Worker | None:
        """A free worker, leased to the caller; without ``wait``, None unless one is free now and no
        other caller is waiting for one (work that can wait never takes a worker from one that cannot)."""
        deadline = time.monotonic() + self._acquire_timeout
        while True:
            with self._cond:
                if self._closed:
                    raise EngineUnavailable(f"the {self.name} engine pool is closed")
                if not wait and (self._waiters or not any(w.ready for w in self._free)):
                    return None
                if self._free:
                    # Prefer a worker that is ready now over one still starting or finishing up.
                    best = min(self._free, key=lambda w: (not w.ready, w.draining is not None))
                    self._free.remove(best)
                    best.leased = True
                    return best
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EngineBusy(
                        f"all {self._size} {self.name} engine workers stayed busy for "
                        f"{self._acquire_timeout:g} s; try again shortly"
                    )
                if self._workers:
                    self._waiters += 1
                    try:
                        self._cond.wait(remaining)
                    finally:
                        self._waiters -= 1
                    continue
            # Every worker is gone (replacements failed to start): try to start one now.
            if not self._start_replacement():
                with self._cond:
                    self._cond.wait(min(1.0, max(0.0, deadline - time.monotonic())))

    def _settle(self, worker: _Worker) -> None:
        """Make a leased worker ready to take a request: wait for start-up, read off a closed stream."""
        if not worker.ready:
            self._await_ready(worker, time.perf_counter() + self._start_timeout)
        while worker.draining is not None:
            message = self._read(worker, self._chunk_timeout, "finish a cancelled request")
            if message[0] in _TERMINAL and message[1] == worker.draining:
                worker.draining = None
        if not worker.process.is_alive():
            raise _WorkerLost(self._death(worker, None))

    def _read(self, worker: _Worker, timeout: float, doing: str) -> tuple[Any, ...]:
        try:
            if not worker.conn.poll(timeout):
                raise _WorkerLost(f"it did not {doing} within {timeout:g} s and was killed")
            message = worker.conn.recv()
        except (OSError, EOFError) as exc:
            raise _WorkerLost(self._death(worker, exc)) from None
        return message  # type: ignore[no-any-return]

    def _death(self, worker: _Worker, exc: BaseException | None) -> str:
        worker.process.join(timeout=2.0)
        code = worker.process.exitcode
        if code is None:
            return f"its pipe failed ({exc})" if exc else "it stopped answering"
        if code < 0:
            try:
                how = signal.Signals(-code).name
            except ValueError:
                how = f"signal {-code}"
            return f"it died ({how})"
        return f"it exited with status {code}"

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            worker.leased = False
            if not self._closed and worker in self._workers:
                self._free.append(worker)
                self._cond.notify()
                return
        self._stop(worker)

    def _abandon(self, worker: _Worker, request_id: int) -> None:
        """A stream was closed early: tell the worker to stop, and let the next user drain it."""
        try:
            worker.conn.send(("cancel", request_id))
        except (OSError, EOFError):
            self._replace(worker)
            return
        worker.draining = request_id
        self._release(worker)

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start another in its place (unless the pool is closing)."""
        self._stop(worker, graceful=False)
        with self._cond:
            if worker in self._workers:
                self._workers.remove(worker)
            if worker in self._free:
                self._free.remove(worker)
        self._start_replacement()

    def _start_replacement(self) -> bool:
        """Start a worker and hand it out (it becomes ready in the background; its user waits)."""
        with self._cond:
            if self._closed:
                return False
        try:
            fresh = self._spawn()  # a few milliseconds from the fork server
        except Exception:  # noqa: BLE001 - the pool carries on one worker short
            return False
        with self._cond:
            if not self._closed:
                self._workers.append(fresh)
                self._free.append(fresh)
                self._cond.notify()
                return True
        self._stop(fresh, graceful=False)
        return False

    def _discard(self, worker: _Worker) -> None:
        self._stop(worker, graceful=False)
        with self._cond:
            if worker in self._workers:
                self._workers.remove(worker)

    @staticmethod
    def _stop(worker: _Worker, graceful: bool = True) -> None:
        if graceful:
            with contextlib.suppress(OSError, EOFError, ValueError):
                worker.conn.send(("stop",))
            worker.process.join(timeout=2.0)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5.0)
        with contextlib.suppress(OSError):
            worker.conn.close()

    # --- shutting down -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every worker (waiting briefly for idle ones to exit). Streams still open then fail."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            readers, self._readers = self._readers, None
        self._shutdown()
        if readers is not None:
            readers.shutdown(wait=False, cancel_futures=True)

    def _shutdown(self) -> None:
        with self._cond:
            workers = list(self._workers)
            # Idle workers exit when asked; one still finishing a closed stream may be blocked
            # writing to its pipe, and busy ones are mid-request: those are killed.
            unleased = [w for w in workers if not w.leased]
            idle = [w for w in self._free if w.draining is None]
            self._free.clear()
            self._workers.clear()
        for worker in idle:  # ask the idle ones first, so they exit in parallel
            with contextlib.suppress(OSError, EOFError, ValueError):
                worker.conn.send(("stop",))
        deadline = time.monotonic() + 2.0
        for worker in idle:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
        for worker in workers:  # busy ones (and any idle one that did not exit) are killed
            if worker.process.is_alive():
                worker.process.kill()
        for worker in workers:
            worker.process.join(timeout=5.0)
        for worker in unleased:
            # A busy worker's pipe is left to the thread reading it, which sees end-of-file.
            with contextlib.suppress(OSError):
                worker.conn.close()

    def __enter__(self) -> PooledEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PooledEngine {self.name} workers={self._size} closed={self._closed}>"


class _PooledStream(Iterator[AudioChunk]):
    """The chunks of one pooled request; closing it (or dropping it) gives the worker back."""

    def __init__(self, pool: PooledEngine, worker: _Worker, request_id: int) -> None:
        self._pool = pool
        self._worker: _Worker | None = worker
        self._request_id = request_id
        self.worker_pid = worker.pid

    def __iter__(self) -> _PooledStream:
        return self

    def __next__(self) -> AudioChunk:
        worker = self._worker
        if worker is None:
            raise StopIteration
        pool = self._pool
        try:
            message = pool._read(worker, pool._chunk_timeout, "send the next chunk")
        except _WorkerLost as lost:
            self._worker = None
            pool._replace(worker)
            if pool._closed:
                raise EngineUnavailable(f"the {pool.name} engine pool was closed mid-request") from None
            raise RuntimeError(
                f"{pool.name} engine worker (pid {self.worker_pid}) failed during synthesis: {lost}; "
                "it has been replaced"
            ) from None
        kind = message[0]
        if kind == "chunk" and message[1] == self._request_id:
            return message[2]  # type: ignore[no-any-return]
        self._worker = None
        pool._release(worker)
        if kind == "done":
            raise StopIteration
        if kind == "error":
            raise message[2]
        raise RuntimeError(f"{pool.name} engine worker sent {kind!r} mid-stream")

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            self._pool._abandon(worker, self._request_id)

    def __enter__(self) -> _PooledStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class _ReadAhead(Iterator[AudioChunk]):
    """A pooled stream read to its end by a background thread (see :meth:`PooledEngine.try_synthesize`).

    Only that thread touches the worker's pipe: :meth:`close` asks it to stop, and it closes the stream
    (the worker is then told to stop and drained by its next user, as for any stream closed early).
    """

    def __init__(
        self,
        stream: _PooledStream,
        readers: ThreadPoolExecutor,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self._stream = stream
        self._on_finished = on_finished
        self._chunks: list[AudioChunk] = []
        self._error: BaseException | None = None
        self._closed = threading.Event()
        self._next = 0
        self._read: Future[None] | None = None  # until the caller has waited for it
        # Set once the stream is read (before on_finished runs: the caller need not wait for that), or
        # when the read never ran (the pool closed first).
        self._done = threading.Event()
        try:
            self._read = readers.submit(self._read_all)
            self._read.add_done_callback(self._read_ended)
        except RuntimeError:  # the pool is closing: read it here and now
            self._read_all()

    def _read_all(self) -> None:
        try:
            for chunk in self._stream:
                if self._closed.is_set():
                    break
                self._chunks.append(chunk)
        except BaseException as exc:  # noqa: BLE001 - raised to the caller in its turn
            self._error = exc
        finally:
            self._stream.close()
            self._done.set()
            if self._on_finished is not None:
                try:
                    self._on_finished()
                except Exception:  # a failure there must not become this stream's error
                    logger.exception("work-ahead callback failed")

    def _read_ended(self, future: Future[None]) -> None:
        if future.cancelled():  # the pool closed before a reader got to it: nobody else will close it
            name = self._stream._pool.name
            self._error = EngineUnavailable(f"the {name} engine pool was closed mid-request")
            with contextlib.suppress(Exception):
                self._stream.close()
        self._done.set()

    def __iter__(self) -> _ReadAhead:
        return self

    def __next__(self) -> AudioChunk:
        if self._read is not None:
            self._done.wait()
            if self._read.done() and not self._read.cancelled():
                self._read.result()
            self._read = None
        if self._next < len(self._chunks):
            chunk = self._chunks[self._next]
            self._chunks[self._next] = None  # type: ignore[call-overload] # the caller has it now
            self._next += 1
            return chunk
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        raise StopIteration

    def close(self) -> None:
        self._closed.set()
        self._chunks.clear()
        self._next = 0


def _configure_forkserver(context: Any) -> None:
    """Ask the fork server (one per process, started on first use) to preload the engine modules."""
    with _preload_lock:
        if not _preload_done:
            modules = [m for m in FORKSERVER_PRELOAD if m != "__main__" or _main_is_importable()]
            context.set_forkserver_preload(modules)
            _preload_done.update(modules)


def _main_is_importable() -> bool:
    # The fork server re-imports a main *script* (as __mp_main__), as spawn would in every worker;
    # doing it once there is cheaper. An interactive session has no script to import.
    import sys

    main = sys.modules.get("__main__")
    return bool(getattr(main, "__file__", None))


def _kill_all(workers: Sequence[_Worker]) -> None:
    for worker in list(workers):
        with contextlib.suppress(Exception):
            if worker.process.is_alive():
                worker.process.kill()
        with contextlib.suppress(Exception):
            worker.process.join(timeout=1.0)


def default_worker_count() -> int:
    """One worker per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
