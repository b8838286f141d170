"""Engines in worker processes: same bytes as in process, real parallelism, and no stuck or leaked workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from chorus.engines.base import EngineBusy, EngineUnavailable, SynthesisRequest, TTSEngine, UnknownVoice
from chorus.engines.espeak import EspeakEngine
from chorus.engines.flite import FliteEngine
from chorus.engines.pool import PooledEngine
from chorus.engines.registry import EngineRegistry, EngineSpec

SENTENCE = "The quick brown fox jumps over the lazy dog."
THREE_SENTENCES = "Good morning, everyone. The library opens at nine today. Please bring your card."
LONG_TEXT = " ".join(f"This is sentence number {n}, which goes on for a little while." for n in range(12))


@dataclass(frozen=True)
class Settings:
    """Just what the registry reads (module level, so it pickles into the workers)."""

    resolved_engine_workers: int = 1
    engines: tuple[str, ...] = ("flite", "espeak-ng")
    flite_library: str | None = None


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    engine = EspeakEngine()
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "espeak-ng unavailable")
    return engine


@pytest.fixture(scope="module")
def flite_pool(flite: FliteEngine) -> Iterator[PooledEngine]:
    with PooledEngine(EngineSpec("flite"), 2) as pool:
        yield pool


@pytest.fixture(scope="module")
def espeak_pool(espeak: EspeakEngine) -> Iterator[PooledEngine]:
    with PooledEngine(EngineSpec("espeak-ng"), 2) as pool:
        yield pool


@pytest.fixture
def small_pool(flite: FliteEngine) -> Iterator[PooledEngine]:
    """One worker, so every request lands on the same process."""
    with PooledEngine(EngineSpec("flite"), 1, acquire_timeout=10, chunk_timeout=10) as pool:
        yield pool


def speak(engine: TTSEngine, text: str, voice: str, **options: object) -> bytes:
    return b"".join(chunk.pcm for chunk in engine.synthesize(SynthesisRequest(text, voice, **options)))  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def runs_two_processes_at_once() -> bool:
    """Whether this machine really runs two busy processes side by side (some VMs give one CPU's worth)."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass"

    def wall(processes: int) -> float:
        started = time.perf_counter()
        for process in [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(processes)]:
            process.wait()
        return time.perf_counter() - started

    return len(os.sched_getaffinity(0)) >= 2 and wall(2) < 1.4 * wall(1)


# --- the same engine -----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["flite", "espeak-ng"])
def test_pooled_output_is_identical_to_in_process(which: str, request: pytest.FixtureRequest) -> None:
    local: TTSEngine = request.getfixturevalue("flite" if which == "flite" else "espeak")
    pool: PooledEngine = request.getfixturevalue("flite_pool" if which == "flite" else "espeak_pool")
    for voice in [v.native_id for v in local.voices()]:
        for options in ({}, {"seed": 7, "speed": 1.2, "stability": 0.2}):
            req = SynthesisRequest(THREE_SENTENCES, voice, **options)  # type: ignore[arg-type]
            pooled = list(pool.synthesize(req))
            assert pooled == list(local.synthesize(req)), (voice, options)  # bytes, spans and timings
            assert len(pooled) == 3


def test_pool_answers_questions_itself(flite: FliteEngine, flite_pool: PooledEngine) -> None:
    assert flite_pool.name == "flite"
    assert flite_pool.available() and flite_pool.unavailable_reason() is None
    assert flite_pool.voices() == flite.voices()
    assert flite_pool.languages() == flite.languages()
    assert flite_pool.output_format() == flite.output_format()
    assert flite_pool.capabilities() == flite.capabilities()
    assert isinstance(flite_pool, TTSEngine)
    assert flite_pool.startup_seconds is not None and flite_pool.startup_seconds < 30


def test_errors_and_empty_text_behave_as_in_process(
    flite_pool: PooledEngine, espeak_pool: PooledEngine
) -> None:
    with pytest.raises(UnknownVoice):
        flite_pool.synthesize(SynthesisRequest(SENTENCE, "no-such-voice"))  # on the call itself
    with pytest.raises(UnknownVoice):
        espeak_pool.synthesize(SynthesisRequest(SENTENCE, "bad voice!"))
    assert list(flite_pool.synthesize(SynthesisRequest(" ... ", "rms"))) == []
    # The workers are still fine afterwards.
    assert speak(flite_pool, SENTENCE, "rms") == speak(flite_pool, SENTENCE, "rms")


def test_first_audio_arrives_before_the_whole_text_is_done(flite_pool: PooledEngine) -> None:
    started = time.perf_counter()
    stream = flite_pool.synthesize(SynthesisRequest(LONG_TEXT, "slt"))
    first = next(stream)
    first_at = time.perf_counter() - started
    rest = list(stream)
    total = time.perf_counter() - started
    assert first.pcm and len(rest) == 11
    assert first_at < total / 3, (first_at, total)


# --- parallelism ---------------------------------------------------------------------------------


def test_concurrent_requests_run_in_parallel(flite_pool: PooledEngine) -> None:
    texts = [f"{THREE_SENTENCES} Request number {n} asks for a little more." for n in range(8)]
    voices = ["rms", "slt", "awb", "rms", "slt", "awb", "rms", "slt"]

    started = time.perf_counter()
    serial = [speak(flite_pool, text, voice) for text, voice in zip(texts, voices, strict=True)]
    serial_s = time.perf_counter() - started

    results: dict[int, bytes] = {}
    busy: dict[int, tuple[int | None, float, float]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def one(index: int) -> None:
        try:
            barrier.wait()
            stream = flite_pool.synthesize(SynthesisRequest(texts[index], voices[index]))
            began = time.perf_counter()  # the worker has taken the request
            results[index] = b"".join(chunk.pcm for chunk in stream)
            busy[index] = (getattr(stream, "worker_pid", None), began, time.perf_counter())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(8)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    parallel_s = time.perf_counter() - started
    assert not errors
    assert [results[index] for index in range(8)] == serial

    # Requests on different workers overlapped in time...
    pids = {pid for pid, _, _ in busy.values()}
    assert len(pids) == 2
    overlapping = any(
        a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in busy.values() for b in busy.values()
    )
    assert overlapping
    # ...and, where the machine can run two processes at once, finished sooner.
    if runs_two_processes_at_once():
        assert parallel_s < 0.8 * serial_s, (parallel_s, serial_s)


def test_a_busy_pool_says_so_after_a_bounded_wait(flite: FliteEngine) -> None:
    with PooledEngine(EngineSpec("flite"), 1, acquire_timeout=0.3) as pool:
        holding = pool.synthesize(SynthesisRequest(LONG_TEXT, "rms"))
        started = time.perf_counter()
        with pytest.raises(EngineBusy, match="busy"):
            pool.synthesize(SynthesisRequest(SENTENCE, "rms"))
        assert 0.25 < time.perf_counter() - started < 5
        holding.close()
        assert speak(pool, SENTENCE, "rms") == speak(flite, SENTENCE, "rms")


def test_try_synthesize_takes_only_a_worker_nobody_else_wants(flite: FliteEngine) -> None:
    expected = speak(flite, SENTENCE, "rms")
    long_expected = speak(flite, LONG_TEXT, "rms")
    with PooledEngine(EngineSpec("flite"), 1, acquire_timeout=10) as pool:
        ahead = pool.try_synthesize(SynthesisRequest(LONG_TEXT, "rms"))
        assert ahead is not None  # the worker was idle
        assert pool.try_synthesize(SynthesisRequest(SENTENCE, "rms")) is None  # busy: None, no waiting
        # A caller that must wait for a worker keeps it from work that can wait.
        waiter_got: list[bytes] = []
        waiter = threading.Thread(target=lambda: waiter_got.append(speak(pool, SENTENCE, "rms")))
        waiter.start()
        assert wait_until(lambda: pool._waiters == 1 or waiter_got)
        waiter.join(20)
        assert waiter_got == [expected]
        assert b"".join(chunk.pcm for chunk in ahead) == long_expected
        # The rule itself, at the moment a worker comes free while someone waits for it:
        pool._waiters += 1
        try:
            assert pool.try_synthesize(SynthesisRequest(SENTENCE, "rms")) is None
        finally:
            pool._waiters -= 1
        again = pool.try_synthesize(SynthesisRequest(SENTENCE, "rms"))
        assert again is not None and b"".join(chunk.pcm for chunk in again) == expected
        with pytest.raises(UnknownVoice):
            pool.try_synthesize(SynthesisRequest(SENTENCE, "nobody"))


def test_work_started_ahead_frees_its_worker_without_being_read(flite: FliteEngine) -> None:
    """Read in the background: a caller that is slow to get to it (a slow client) holds no worker."""
    with PooledEngine(EngineSpec("flite"), 1, acquire_timeout=10) as pool:
        ahead = pool.try_synthesize(SynthesisRequest(THREE_SENTENCES, "rms"))
        assert ahead is not None
        assert wait_until(lambda: len(pool._free) == 1)  # finished, back in the pool, nothing read yet
        assert speak(pool, SENTENCE, "rms") == speak(flite, SENTENCE, "rms")
        chunks = list(ahead)
        assert len(chunks) == 3
        assert b"".join(c.pcm for c in chunks) == speak(flite, THREE_SENTENCES, "rms")
        # Closed before it is read: the worker is still free for the next request.
        dropped = pool.try_synthesize(SynthesisRequest(LONG_TEXT, "rms"))
        assert dropped is not None
        dropped.close()  # type: ignore[attr-defined]
        assert list(dropped) == []
        assert speak(pool, SENTENCE, "rms") == speak(flite, SENTENCE, "rms")


def test_work_ahead_calls_back_when_its_worker_is_free_and_its_reader_need_not_wait(
    flite: FliteEngine,
) -> None:
    """on_finished runs once the worker is back in the pool (so more work can go to it at once); the chunks
    are there for the caller even while the callback is still busy."""
    with PooledEngine(EngineSpec("flite"), 1, acquire_timeout=10) as pool:
        called = threading.Event()
        release = threading.Event()
        free_when_called: list[int] = []

        def on_finished() -> None:
            free_when_called.append(pool.idle_workers())
            called.set()
            release.wait(10)  # a slow callback (starting the next piece waits for a worker's reply)

        ahead = pool.try_synthesize(SynthesisRequest(THREE_SENTENCES, "rms"), on_finished)
        assert ahead is not None
        assert called.wait(10)
        assert free_when_called == [1]
        started = time.monotonic()
        chunks = list(ahead)  # the callback still blocks its thread
        assert time.monotonic() - started < 5
        release.set()
        assert b"".join(c.pcm for c in chunks) == speak(flite, THREE_SENTENCES, "rms")


def test_a_read_cancelled_by_close_fails_clearly_and_closes_its_stream(flite: FliteEngine) -> None:
    """A read ahead still queued when the pool closes: a clear error, and its stream is closed."""
    pool = PooledEngine(EngineSpec("flite"), 1, acquire_timeout=10)
    release = threading.Event()
    busy = threading.Semaphore(0)

    def on_finished() -> None:  # keeps a reader thread busy (as a fill's hand-shake does)
        busy.release()
        release.wait(10)

    try:
        # Two reads ahead whose callbacks hold both reader threads (two per worker) ...
        for text in ("One sentence.", "Two sentences."):
            assert pool.try_synthesize(SynthesisRequest(text, "kal16"), on_finished) is not None
            assert busy.acquire(timeout=10)
        # ... so the next one's read waits in the queue, and is cancelled by close().
        queued = pool.try_synthesize(SynthesisRequest("Another sentence.", "kal16"))
        assert queued is not None
        pool.close()
    finally:
        release.set()
        pool.close()
    with pytest.raises(EngineUnavailable, match="closed"):
        list(queued)
    assert queued._stream._worker is None  # type: ignore[attr-defined]


# --- giving up early ---------------------------------------------------------------------------------


def test_closing_a_stream_early_frees_the_worker(flite: FliteEngine, small_pool: PooledEngine) -> None:
    (pid,) = small_pool.worker_pids()
    expected = speak(flite, SENTENCE, "rms")
    for _ in range(3):
        stream = small_pool.synthesize(SynthesisRequest(LONG_TEXT, "rms"))
        next(stream)
        started = time.perf_counter()
        stream.close()  # type: ignore[attr-defined]
        assert time.perf_counter() - started < 0.5  # closing does not wait for the worker
        assert speak(small_pool, SENTENCE, "rms") == expected
    # A stream never iterated, and one dropped without closing, free it too.
    small_pool.synthesize(SynthesisRequest(LONG_TEXT, "rms")).close()  # type: ignore[attr-defined]
    dropped = small_pool.synthesize(SynthesisRequest(LONG_TEXT, "rms"))
    next(dropped)
    del dropped
    assert speak(small_pool, SENTENCE, "rms") == expected
    assert small_pool.worker_pids() == [pid]  # the same worker throughout, never replaced


# --- failures ------------------------------------------------------------------------------------------


def test_a_killed_idle_worker_is_replaced(flite: FliteEngine, small_pool: PooledEngine) -> None:
    (pid,) = small_pool.worker_pids()
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not alive(pid))
    assert speak(small_pool, SENTENCE, "rms") == speak(flite, SENTENCE, "rms")
    (replacement,) = small_pool.worker_pids()
    assert replacement != pid


def test_a_pool_whose_workers_all_died_recovers(flite: FliteEngine) -> None:
    with PooledEngine(EngineSpec("flite"), 2) as pool:
        pids = pool.worker_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: not any(alive(pid) for pid in pids))
        assert speak(pool, SENTENCE, "rms") == speak(flite, SENTENCE, "rms")
        assert len(pool.worker_pids()) == 2 and not set(pool.worker_pids()) & set(pids)


def test_a_crash_mid_request_fails_that_request_clearly(flite: FliteEngine, small_pool: PooledEngine) -> None:
    stream = small_pool.synthesize(SynthesisRequest(LONG_TEXT, "rms"))
    next(stream)
    pid = stream.worker_pid  # type: ignore[attr-defined]
    os.kill(pid, signal.SIGSEGV)
    with pytest.raises(RuntimeError, match=r"SIGSEGV.*replaced"):
        list(stream)
    assert speak(small_pool, SENTENCE, "rms") == speak(flite, SENTENCE, "rms")
    assert pid not in small_pool.worker_pids()


def test_a_worker_that_stops_answering_is_killed(flite: FliteEngine) -> None:
    with PooledEngine(EngineSpec("flite"), 1, chunk_timeout=1.0) as pool:
        stream = pool.synthesize(SynthesisRequest(LONG_TEXT, "rms"))
        next(stream)
        pid = stream.worker_pid  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGSTOP)  # frozen, as if stuck in C
        started = time.perf_counter()
        with pytest.raises(RuntimeError, match="within 1 s"):
            list(stream)
        assert time.perf_counter() - started < 10
        assert wait_until(lambda: not alive(pid))
        assert speak(pool, SENTENCE, "rms") == speak(flite, SENTENCE, "rms")


# --- starting and stopping ------------------------------------------------------------------------------


def test_close_ends_every_worker(flite: FliteEngine) -> None:
    pool = PooledEngine(EngineSpec("flite"), 2)
    pids = pool.worker_pids()
    assert len(pids) == 2 and all(alive(pid) for pid in pids)
    stream = pool.synthesize(SynthesisRequest(LONG_TEXT, "rms"))
    next(stream)
    pool.close()
    assert wait_until(lambda: not any(alive(pid) for pid in pids))
    assert pool.worker_pids() == []
    with pytest.raises(EngineUnavailable):
        list(stream)  # the request in flight ends with an error, not a hang
    with pytest.raises(EngineUnavailable):
        pool.synthesize(SynthesisRequest(SENTENCE, "rms"))
    pool.close()  # idempotent


def test_an_engine_that_cannot_run_makes_an_unavailable_pool() -> None:
    pool = PooledEngine(EngineSpec("flite", Settings(flite_library="libflite-missing.so.1")), 2)
    try:
        assert not pool.available()
        assert "apt-get install libflite1" in (pool.unavailable_reason() or "")
        assert pool.voices() == [] and pool.languages() == []
        assert pool.worker_pids() == []
        with pytest.raises(EngineUnavailable, match="flite"):
            pool.synthesize(SynthesisRequest(SENTENCE, "rms"))
    finally:
        pool.close()


def broken_engine() -> TTSEngine:
    raise RuntimeError("no engine today")


def test_workers_that_cannot_build_their_engine_make_an_unavailable_pool() -> None:
    with PooledEngine(broken_engine, 2, name="broken") as pool:
        assert not pool.available()
        assert "no engine today" in (pool.unavailable_reason() or "")
        assert pool.worker_pids() == []
        with pytest.raises(EngineUnavailable, match="no engine today"):
            pool.synthesize(SynthesisRequest(SENTENCE, "rms"))


def test_registry_pools_engines_when_asked(flite: FliteEngine, espeak: EspeakEngine) -> None:
    in_process = EngineRegistry.from_settings(Settings(resolved_engine_workers=0))
    assert isinstance(in_process.get("flite"), FliteEngine)
    in_process.close()  # nothing to do, and harmless

    registry = EngineRegistry.from_settings(Settings(resolved_engine_workers=1))
    try:
        pools = [registry["flite"], registry["espeak-ng"]]
        assert all(isinstance(pool, PooledEngine) for pool in pools)
        pids = [pid for pool in pools for pid in pool.worker_pids()]  # type: ignore[attr-defined]
        assert len(pids) == 2
        assert registry.find_voice("flite", "rms") is not None
        assert speak(registry["espeak-ng"], SENTENCE, "en-us+f5") == speak(espeak, SENTENCE, "en-us+f5")
    finally:
        registry.close()
    assert wait_until(lambda: not any(alive(pid) for pid in pids))
