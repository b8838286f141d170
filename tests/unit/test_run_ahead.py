"""``run_ahead``: a generator's later items produced in a thread of its own, in order, errors included."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from chorus.services.threads import run_ahead


def _numbers(count: int, threads: list[str], closed: list[bool], fail_at: int | None = None) -> Iterator[int]:
    try:
        for i in range(count):
            threads.append(threading.current_thread().name)
            if i == fail_at:
                raise ValueError(f"failed at {i}")
            yield i
    finally:
        closed.append(True)


def test_items_come_in_order_the_first_ones_from_the_callers_thread() -> None:
    threads: list[str] = []
    closed: list[bool] = []
    assert list(run_ahead(_numbers(20, threads, closed), inline=3, depth=2)) == list(range(20))
    me = threading.current_thread().name
    assert threads[:3] == [me] * 3
    assert set(threads[3:]) == {"run-ahead"}
    assert closed == [True]


def test_short_outputs_start_no_thread() -> None:
    threads: list[str] = []
    closed: list[bool] = []
    assert list(run_ahead(_numbers(2, threads, closed), inline=3)) == [0, 1]
    assert set(threads) == {threading.current_thread().name}


def test_the_producer_works_while_the_caller_does() -> None:
    produced: list[float] = []

    def slow() -> Iterator[int]:
        for i in range(6):
            time.sleep(0.05)
            produced.append(time.monotonic())
            yield i

    start = time.monotonic()
    for _ in run_ahead(slow(), inline=1, depth=2):
        time.sleep(0.05)  # the caller's own work on each item
    # One after the other this takes 12 x 50 ms; overlapped, about 7 x 50 ms.
    assert time.monotonic() - start < 0.5


def test_an_error_arrives_after_the_items_before_it() -> None:
    threads: list[str] = []
    closed: list[bool] = []
    got: list[int] = []
    with pytest.raises(ValueError, match="failed at 5"):
        for item in run_ahead(_numbers(10, threads, closed, fail_at=5), inline=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_stopping_early_stops_the_producer_and_closes_the_generator() -> None:
    threads: list[str] = []
    closed: list[bool] = []
    items = run_ahead(_numbers(1000, threads, closed), inline=1, depth=2)
    assert [next(items) for _ in range(4)] == [0, 1, 2, 3]
    items.close()  # type: ignore[attr-defined]
    assert closed == [True]
    # The producer got at most depth items (and the one in hand) ahead of the caller.
    assert len(threads) <= 4 + 2 + 1
    assert not any(t.name == "run-ahead" for t in threading.enumerate())
