"""Running blocking generators (engines, the render pipeline) in threads, consumed from asyncio."""

from __future__ import annotations

import asyncio
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
