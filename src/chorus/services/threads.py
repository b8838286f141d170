"""Running blocking generators (engines, the render pipeline) in threads, consumed from asyncio."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


async def iterate_in_thread(
    executor: ThreadPoolExecutor,
    make: Callable[[Callable[[], bool]], Iterator[T]],
    *,
    buffer: int = 4,
) -> AsyncIterator[T]:
    """Yield the items of ``make(should_stop)`` as a worker thread produces them.

    At most ``buffer`` items wait unconsumed (back-pressure on the producer). When the consumer stops
    early (cancelled, closed, or a client disconnect), ``should_stop()`` turns true and the producer's
    generator is closed in its own thread; errors raised by the producer are re-raised here.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[object, object]] = asyncio.Queue()
    room = threading.Semaphore(buffer)
    stop = threading.Event()

    def produce() -> None:
        generator: Iterator[T] | None = None
        try:
            generator = make(stop.is_set)
            for item in generator:
                while not room.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                loop.call_soon_threadsafe(queue.put_nowait, (item, None))
        except BaseException as exc:  # handed to the consumer, which decides what it means
            if not stop.is_set():
                loop.call_soon_threadsafe(queue.put_nowait, (_DONE, exc))
            return
        finally:
            close = getattr(generator, "close", None)
            if close is not None:
                close()
        if not stop.is_set():
            loop.call_soon_threadsafe(queue.put_nowait, (_DONE, None))

    future = loop.run_in_executor(executor, produce)
    try:
        while True:
            item, error = await queue.get()
            if item is _DONE:
                if error is not None:
                    raise error  # type: ignore[misc]
                return
            room.release()
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        room.release()
        if not future.done():
            # Let the producer notice the stop flag; it never blocks for long.
            await asyncio.wait([future], timeout=5)


def run_ahead(items: Iterator[T], *, inline: int = 2, depth: int = 2) -> Iterator[T]:
    """``items``, with everything after the first ``inline`` ones produced in a thread of its own.

    The caller then works on item i (encodes it) while the thread produces item i + 1 (renders it): a
    two-stage pipeline on two cores. The first ``inline`` items are taken directly, so short outputs and
    first-audio latency pay for no thread. At most ``depth`` items wait. Errors raised by ``items`` are
    re-raised in the caller, in order; when the caller stops early, the thread stops after the item in
    hand and ``items`` is closed in the caller's thread.
    """
    worker: threading.Thread | None = None
    stop = threading.Event()
    try:
        for _ in range(inline):
            try:
                item = next(items)
            except StopIteration:
                return
            yield item
        ready: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)

        def produce() -> None:
            try:
                for item in items:
                    if not _put_until_stopped(ready, (item, None), stop):
                        return
            except BaseException as exc:  # handed to the caller, in order
                _put_until_stopped(ready, (_DONE, exc), stop)
                return
            _put_until_stopped(ready, (_DONE, None), stop)

        worker = threading.Thread(target=produce, name="run-ahead", daemon=True)
        worker.start()
        while True:
            item, error = ready.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        if worker is not None:
            worker.join()
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _put_until_stopped(
    target: queue.Queue[tuple[object, BaseException | None]],
    entry: tuple[object, BaseException | None],
    stop: threading.Event,
) -> bool:
    """Put ``entry`` as soon as there is room; False if ``stop`` was set first."""
    while not stop.is_set():
        try:
            target.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
