"""Shared helpers for the benchmarks: a server in a subprocess, machine facts, the results file, and the
speech data (speakers of ../shared/data/speech, their tuning/held-out split and the fixed sentences)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "BENCHMARKS.md"
ADMIN_KEY = "sk_bench_admin_key_0000000000"
SPEECH = Path(os.environ.get("CHORUS_SPEECH_DATA", ROOT.parent / "shared/data/speech"))
TUNING = ("1088", "163", "19", "3242", "669")
REFERENCE_CLIPS = 3
SENTENCES = (
    "The weather was warm and sunny, so we decided to walk to the park after lunch.",
    "Please remember to lock the front door before you leave the house tonight.",
    "She bought fresh bread, cheese and a bottle of milk at the corner shop.",
    "Our train to the city was delayed by almost twenty minutes this morning.",
    "He has been learning to play the piano for nearly three years now.",
    "After the meeting, the manager thanked everyone for their patience and hard work.",
)


def speakers() -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted((SPEECH / "librispeech-train-clean-5").glob("*.flac")):
        found.setdefault(path.name.split("-")[0], []).append(path)
    lj = sorted((SPEECH / "ljspeech").glob("*.wav"))[:10]
    if lj:
        found["LJ"] = lj
    return found


def load(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(rate)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {platform.system()}"


def _spin(_: int) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i
    return time.perf_counter() - start


def parallel_speedup() -> float:
    """How many cores' worth of work two busy processes get here (2.0 on two real cores)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, range(2)))  # warm up both workers
        serial = sum(_spin(0) for _ in range(2))
        start = time.perf_counter()
        list(pool.map(_spin, range(2)))
        return serial / (time.perf_counter() - start)


def today() -> str:
    return dt.date.today().isoformat()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(**env: str) -> Iterator[str]:
    """A Chorus server in its own process (as deployed), on a fresh data dir; yields its URL."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as data:
        environment = {
            **os.environ,
            "CHORUS_DATA_DIR": data,
            "CHORUS_ADMIN_API_KEY": ADMIN_KEY,
            "CHORUS_MAX_CONCURRENT_REQUESTS": "256",
            "CHORUS_RATE_LIMIT_PER_MINUTE": "1000000",
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "chorus.cli.main", "serve", "--port", str(port), "--log-level", "warning"],
            env=environment,
            cwd=ROOT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the benchmark server did not start")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``## name`` of docs/BENCHMARKS.md."""
    RESULTS.parent.mkdir(exist_ok=True)
    text = (
        RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n\nMeasured by the scripts in `bench/`.\n"
    )
    section = f"## {name}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
