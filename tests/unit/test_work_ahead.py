"""WorkAhead: later pieces start on idle engine workers, refilled as workers come free."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from chorus.engines.base import SynthesisRequest
from chorus.engines.flite import FliteEngine
from chorus.engines.pool import PooledEngine
from chorus.engines.registry import EngineSpec
from chorus.services.work_ahead import WorkAhead


class Call(Iterator[int]):
    def __init__(self, index: int) -> None:
        self.index = index
        self.closed = False

    def __next__(self) -> int:
        raise StopIteration

    def close(self) -> None:
        self.closed = True


class Workers:
    """``idle`` workers; each start takes one until ``finish`` gives it back and calls its callback."""

    def __init__(self, idle: int, fail: set[int] | None = None) -> None:
        self.idle = idle
        self.fail = fail or set()
        self.started: list[int] = []
        self.calls: dict[int, Call] = {}
        self.callbacks: dict[int, Callable[[], None]] = {}

    def start(self, index: int, on_finished: Callable[[], None]) -> Iterator[Any] | None:
        if index in self.fail:
            raise ValueError(f"piece {index} refused")
        if self.idle == 0:
            return None
        self.idle -= 1
        self.started.append(index)
        self.calls[index] = Call(index)
        self.callbacks[index] = on_finished
        return self.calls[index]

    def finish(self, index: int) -> None:
        self.idle += 1
        self.callbacks[index]()


def test_fill_starts_the_pieces_after_the_current_one_within_the_window() -> None:
    workers = Workers(idle=5)
    ahead = WorkAhead(10, workers.start, lambda: True, window=3)
    assert ahead.take(0) is None
    ahead.fill()
    assert workers.started == [1, 2, 3]  # the window, though more workers are idle
    assert ahead.take(1) is workers.calls[1]
    ahead.fill()
    assert workers.started == [1, 2, 3, 4]
    ahead.close()
    assert [workers.calls[i].closed for i in (1, 2, 3, 4)] == [False, True, True, True]


def test_a_worker_coming_free_starts_the_next_piece_without_the_caller() -> None:
    workers = Workers(idle=1)
    ahead = WorkAhead(6, workers.start, lambda: True, window=3)
    ahead.take(0)
    ahead.fill()
    assert workers.started == [1]  # one idle worker
    workers.finish(1)  # its callback refills at once
    assert workers.started == [1, 2]
    workers.finish(2)
    assert workers.started == [1, 2, 3]
    workers.finish(3)
    assert workers.started == [1, 2, 3]  # piece 4 is beyond the window until piece 1 is taken
    assert ahead.take(1) is workers.calls[1]
    ahead.fill()
    assert workers.started == [1, 2, 3, 4]


def test_nothing_starts_while_another_request_needs_the_workers() -> None:
    workers = Workers(idle=2)
    allowed = False
    ahead = WorkAhead(4, workers.start, lambda: allowed, window=3)
    ahead.fill()
    assert workers.started == []
    allowed = True
    ahead.fill()
    assert workers.started == [0, 1]


def test_pieces_spoken_in_one_call_are_dropped_and_never_started() -> None:
    workers = Workers(idle=3)
    ahead = WorkAhead(8, workers.start, lambda: True, window=3)
    ahead.take(0)
    ahead.fill()
    assert workers.started == [1, 2, 3]
    ahead.skip_through(4)
    assert workers.calls[1].closed and workers.calls[3].closed
    assert ahead.take(5) is None
    workers.idle = 3
    ahead.fill()
    assert workers.started == [1, 2, 3, 6, 7]


def test_a_piece_that_failed_to_start_is_left_to_its_turn_and_not_retried() -> None:
    workers = Workers(idle=3, fail={2})
    ahead = WorkAhead(5, workers.start, lambda: True, window=3)
    ahead.take(0)
    ahead.fill()
    assert workers.started == [1]  # stops at the failure, as a busy pool would
    ahead.fill()
    assert workers.started == [1, 3]  # later pieces still go; piece 2 is not tried again
    assert ahead.take(2) is None  # the caller synthesises it in its turn (and sees the error there)


def test_nothing_starts_after_close() -> None:
    workers = Workers(idle=1)
    ahead = WorkAhead(5, workers.start, lambda: True, window=3)
    ahead.fill()
    ahead.close()
    assert workers.calls[0].closed
    workers.finish(0)
    assert workers.started == [0]


def test_a_pooled_worker_takes_the_next_piece_as_soon_as_it_finishes(flite: FliteEngine) -> None:
    sentences = [f"This is sentence number {n}, spoken by one of the engine workers." for n in range(6)]
    with PooledEngine(EngineSpec("flite"), 2) as pool:
        started: list[int] = []

        def start(index: int, on_finished: Callable[[], None]) -> Iterator[Any] | None:
            chunks = pool.try_synthesize(SynthesisRequest(sentences[index], "kal16"), on_finished)
            if chunks is not None:
                started.append(index)
            return chunks

        ahead = WorkAhead(len(sentences), start, lambda: True, window=4)
        assert ahead.take(0) is None
        ahead.fill()
        assert started == [1, 2]  # one piece on each worker
        # Nobody calls fill again: the workers' own completions start pieces 3 and 4.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (len(started) < 4 or pool.idle_workers() < 2):
            time.sleep(0.01)
        assert sorted(started) == [1, 2, 3, 4]  # and not 5: beyond the window
        got = [ahead.take(i) for i in range(1, 5)]
        assert all(chunks is not None for chunks in got)
        audio = [b"".join(chunk.pcm for chunk in chunks) for chunks in got if chunks is not None]
        expected = [
            b"".join(c.pcm for c in flite.synthesize(SynthesisRequest(s, "kal16"))) for s in sentences[1:5]
        ]
        assert audio == expected
        ahead.close()
