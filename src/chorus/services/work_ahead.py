"""Engine calls of a text's later pieces, started on idle engine workers before their turn.

A long text is spoken piece by piece (a sentence each, for engines whose sentences are independent). While
the render thread post-processes piece ``i``, the pieces after it can already be synthesising on engine
workers nobody else wants. :class:`WorkAhead` keeps up to ``window`` pieces past the one being consumed in
flight, and refills whenever a worker comes free: from the render thread when it moves on, and from the
engine's own reader thread the moment a piece ahead finishes (``try_synthesize``'s ``on_finished``). So
the workers do not wait for the render thread to get round to them, and most hand-shakes with a worker
(a call waits for the worker to accept it) happen on the engine's reader threads, not the render thread.

Only idle workers are used, and only while ``may_start_ahead()`` allows it (another request waiting for
its first audio takes precedence); a piece that could not start ahead is synthesised in its turn.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["WorkAhead"]

# start(piece index, on_finished) -> the engine call's chunks, or None when no worker is idle.
StartAhead = Callable[[int, Callable[[], None]], Iterator[Any] | None]


class WorkAhead:
    """Pieces ``0..count-1`` of one engine segment; ``start(j, on_finished)`` starts piece ``j`` ahead.

    Thread-safe: :meth:`fill` runs on the render thread and on the engine's reader threads. The render
    thread calls :meth:`take` for each piece in order, :meth:`skip_through` when it speaks a run of pieces
    in one call itself, and :meth:`close` at the end (every call started ahead and not taken is closed).
    """

    def __init__(self, count: int, start: StartAhead, may_start: Callable[[], bool], window: int) -> None:
        self._count = count
        self._start = start
        self._may_start = may_start
        self._window = window
        self._cond = threading.Condition()
        self._started: dict[int, Iterator[Any]] = {}
        self._starting: set[int] = set()
        self._failed: set[int] = set()  # refused with an error: raised again in its turn, not retried
        self._current = -1  # the piece the render thread has taken last
        self._floor = -1  # pieces up to here are spoken (or skipped): never started ahead
        self._closed = False

    def take(self, index: int) -> Iterator[Any] | None:
        """The calls started ahead for piece ``index``, or None (the caller synthesises it now)."""
        with self._cond:
            self._current = max(self._current, index)
            self._cond.wait_for(lambda: index not in self._starting)
            return self._started.pop(index, None)

    def skip_through(self, last: int) -> None:
        """The render thread speaks pieces up to ``last`` itself: none of them goes ahead any more."""
        with self._cond:
            self._floor = max(self._floor, last)
            self._current = max(self._current, last)
            dropped = [self._started.pop(j) for j in list(self._started) if j <= last]
        for chunks in dropped:
            _close(chunks)

    def fill(self) -> None:
        """Start the next pieces within the window on idle workers, until none is idle."""
        while True:
            with self._cond:
                if self._closed:
                    return
                low = max(self._current, self._floor) + 1
                high = min(self._count, self._current + 1 + self._window)
                busy = self._started.keys() | self._starting | self._failed
                index = next((j for j in range(low, high) if j not in busy), None)
                if index is None or not self._may_start():
                    return
                self._starting.add(index)
            chunks: Iterator[Any] | None = None
            try:
                chunks = self._start(index, self.fill)
            except Exception:  # noqa: BLE001 - the call in its turn raises it again, in order
                with self._cond:
                    self._failed.add(index)
            finally:
                with self._cond:
                    self._starting.discard(index)
                    keep = chunks is not None and not self._closed and index > self._floor
                    if keep:
                        assert chunks is not None
                        self._started[index] = chunks
                    self._cond.notify_all()
            if chunks is None:
                return  # no idle worker (or the start failed): the next free worker calls fill again
            if not keep:
                _close(chunks)
                return

    def close(self) -> None:
        """Close every call started ahead and not taken; nothing starts after this."""
        with self._cond:
            self._closed = True
            self._cond.wait_for(lambda: not self._starting)
            dropped = list(self._started.values())
            self._started.clear()
        for chunks in dropped:
            _close(chunks)


def _close(chunks: Iterator[Any]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()
