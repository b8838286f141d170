"""Realtime speech-to-text benchmark: sessions streaming real speech at real-time pace.

Each session opens ``/v1/speech-to-text/realtime`` (manual commits, word timestamps), streams LibriSpeech
clips (train-clean-5, one speaker per session, 16 kHz) in 100 ms chunks on a real-time schedule, and commits
right after each clip's last chunk, as a push-to-talk client does. Measured on the client:

- partial latency: for every word of a committed transcript, the time from sending the chunk that holds
  the end of the word (from the word's timestamp) to the first partial transcript that contains it (aligned
  to the committed words with difflib). Negative when the recogniser guessed the word before its end
  arrived. Words that never appear in a partial (the final decode can differ) are counted as uncovered.
- commit latency: from sending ``commit: true`` to receiving ``committed_transcript``.
- WER of the committed text against the LibriSpeech transcript.

Run: .venv/bin/python bench/stt_realtime.py [--sessions 8] [--clips 2] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import difflib
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ADMIN_KEY, ROOT, machine, parallel_speedup, percentile, server, today, write_section  # noqa: E402

SPEECH = Path(os.environ.get("CHORUS_SPEECH_DATA", ROOT.parent / "shared" / "data" / "speech"))
CHUNK_S = 0.1
RATE = 16000


@dataclass
class Clip:
    name: str
    text: str
    pcm: bytes

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


@dataclass
class Segment:
    """One committed clip: when each chunk went out, the partials, and the commit."""

    clip: Clip
    start_s: float  # where the clip starts on the session's audio clock
    chunks: list[tuple[float, float]] = field(default_factory=list)  # (audio end s, wall time sent)
    partials: list[tuple[float, str]] = field(default_factory=list)  # (wall time received, text)
    commit_sent: float = 0.0
    committed_at: float = 0.0
    committed: str = ""
    words: list[dict[str, Any]] = field(default_factory=list)


def load_clips(count: int) -> list[list[Clip]]:
    """``count`` groups of clips, one speaker per group, 8-16 s each, in file order."""
    from chorus.stt.audio_input import decode_any

    table = SPEECH / "transcripts.tsv"
    if not table.is_file():
        raise SystemExit(f"speech data not found at {SPEECH} (set CHORUS_SPEECH_DATA)")
    by_speaker: dict[str, list[tuple[str, str]]] = {}
    for line in table.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        if fields[2] != "librispeech-train-clean-5" or not 8.0 <= float(fields[3]) <= 16.0:
            continue
        speaker = Path(fields[0]).name.split("-")[0]
        by_speaker.setdefault(speaker, []).append((fields[0], fields[-1]))
    return [
        [Clip(Path(path).stem, text, decode_any((SPEECH / path).read_bytes())[0]) for path, text in files]
        for _, files in sorted(by_speaker.items())
    ][:count]


def _chunk(audio: bytes, commit: bool = False) -> str:
    return json.dumps(
        {
            "message_type": "input_audio_chunk",
            "audio_base_64": base64.b64encode(audio).decode(),
            "commit": commit,
            "sample_rate": RATE,
        }
    )


async def run_session(url: str, clips: list[Clip], errors: list[str]) -> list[Segment]:
    """Stream ``clips`` in one session; the committed segments. An error message (its type goes to
    ``errors``) ends the session."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    query = (
        "model_id=scribe_v2_realtime&audio_format=pcm_16000&commit_strategy=manual&include_timestamps=true"
    )
    ws_url = url.replace("http://", "ws://") + "/v1/speech-to-text/realtime?" + query
    segments: list[Segment] = []
    failed: list[str] = []
    async with connect(ws_url, additional_headers={"xi-api-key": ADMIN_KEY}, max_size=None) as ws:
        started = json.loads(await ws.recv())
        assert started["message_type"] == "session_started", started
        current: list[Segment] = []
        done: asyncio.Queue[None] = asyncio.Queue()

        async def receive() -> None:
            async for raw in ws:
                message = json.loads(raw)
                kind = message["message_type"]
                segment = current[-1]
                if kind == "partial_transcript":
                    segment.partials.append((time.perf_counter(), message["text"]))
                elif kind == "committed_transcript":
                    segment.committed_at = time.perf_counter()
                    segment.committed = message["text"]
                elif kind == "committed_transcript_with_timestamps":
                    segment.words = [w for w in message["words"] if w["type"] == "word"]
                    done.put_nowait(None)
                elif kind != "final_transcript":
                    failed.append(kind)
                    break
            done.put_nowait(None)  # closed or failed: stop waiting

        receiver = asyncio.create_task(receive())
        position = 0.0
        step = int(RATE * CHUNK_S) * 2
        try:
            for clip in clips:
                segment = Segment(clip, position)
                current.append(segment)
                start = time.perf_counter()
                for index, offset in enumerate(range(0, len(clip.pcm), step)):
                    # Real time: chunk k goes out once its audio would have been spoken.
                    await asyncio.sleep(max(0.0, start + (index + 1) * CHUNK_S - time.perf_counter()))
                    if failed:
                        break
                    piece = clip.pcm[offset : offset + step]
                    await ws.send(_chunk(piece))
                    position += len(piece) / 2 / RATE
                    segment.chunks.append((position, time.perf_counter()))
                if failed:
                    break
                segment.commit_sent = time.perf_counter()
                await ws.send(_chunk(b"", commit=True))
                await asyncio.wait_for(done.get(), timeout=600)
                if not segment.words:
                    break
                segments.append(segment)
        except ConnectionClosed:
            pass
        finally:
            receiver.cancel()
    errors.extend(failed)
    return segments


def word_latencies(segment: Segment) -> tuple[list[float], int]:
    """Partial latency of each committed word that some partial contained, and how many words none did."""
    final = [w["text"] for w in segment.words]
    seen: dict[int, float] = {}
    for received, text in segment.partials:
        matcher = difflib.SequenceMatcher(None, final, text.split(), autojunk=False)
        for block in matcher.get_matching_blocks():
            for i in range(block.a, block.a + block.size):
                seen.setdefault(i, received)
    latencies = []
    for i, word in enumerate(segment.words):
        if i not in seen:
            continue
        sent = next((t for end, t in segment.chunks if end >= word["end"] - 1e-6), segment.chunks[-1][1])
        latencies.append(seen[i] - sent)
    return latencies, len(final) - len(seen)


def server_cpu_s() -> float:
    """CPU seconds used so far by this script's child processes (the server)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wer(reference: str, hypothesis: str) -> float:
    from chorus.testing.asr import word_error_rate

    return word_error_rate(reference, hypothesis)


async def run(url: str, groups: list[list[Clip]]) -> dict[str, Any]:
    started, cpu = time.perf_counter(), server_cpu_s()
    errors: list[str] = []
    results = await asyncio.gather(*(run_session(url, clips, errors) for clips in groups))
    wall, cpu = time.perf_counter() - started, server_cpu_s() - cpu
    segments = [s for session in results for s in session]
    partial: list[float] = []
    uncovered = 0
    for segment in segments:
        latencies, missing = word_latencies(segment)
        partial += latencies
        uncovered += missing
    commits = [s.committed_at - s.commit_sent for s in segments]
    words = sum(len(s.words) for s in segments)
    audio = sum(s.clip.seconds for s in segments)
    rates = [wer(s.clip.text, s.committed) for s in segments]
    return {
        "sessions": len(groups),
        "segments": len(segments),
        "audio_s": audio,
        "wall_s": wall,
        "cpu_per_audio_s": cpu / max(audio, 1e-9),
        "partial": partial,
        "coverage": (words - uncovered) / max(1, words),
        "commit": commits,
        "wer": statistics.mean(rates) if rates else float("nan"),
        "clips": [s.clip.name for s in segments],
        "errors": errors,
    }


def ms(values: list[float], q: float) -> str:
    return f"{1000 * percentile(values, q):.0f}" if values else "n/a"


def row(result: dict[str, Any]) -> str:
    p, c = result["partial"], result["commit"]
    return (
        f"| {result['sessions']} | {result['segments']} | {result['audio_s']:.0f} | {ms(p, 50)} | {ms(p, 95)} | "
        f"{100 * result['coverage']:.0f}% | {ms(c, 50)} | {ms(c, 95)} | {result['cpu_per_audio_s']:.2f} | "
        f"{result['wer']:.3f} | {', '.join(result['errors']) or 'none'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=8, help="concurrent sessions")
    parser.add_argument("--clips", type=int, default=2, help="clips (commits) per session")
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    args = parser.parse_args()

    groups = [clips[: args.clips] for clips in load_clips(args.sessions)]
    if len(groups) < args.sessions or any(len(g) < args.clips for g in groups):
        raise SystemExit("not enough LibriSpeech clips for that many sessions and clips")
    load = os.getloadavg()[0]
    speedup = parallel_speedup()
    with server() as url:
        # Warm up with as many sessions as the largest run (4 s of speech each): every decoder the runs need
        # is then loaded (a decoder loads the model once per server process), so loading is not measured.
        asyncio.run(run(url, [[Clip(g[0].name, g[0].text, g[0].pcm[: 4 * RATE * 2])] for g in groups]))
        results = [asyncio.run(run(url, groups[:1])), asyncio.run(run(url, groups))]
    lines = [
        f"Machine: {machine()}; two busy processes run {speedup:.2f}x as fast as one; load average "
        f"{load:.1f} when the run began. Date: {today()}. Server: `chorus serve` (pocketsphinx engine, "
        "Silero VAD); the clients run on the same machine.",
        "",
        "Each session streams LibriSpeech train-clean-5 clips (8-16 s, one speaker per session, "
        f"{', '.join(sorted({c.split('-')[0] for r in results for c in r['clips']}))}) as pcm_16000 in "
        "100 ms chunks at real-time pace, with manual commits right after each clip and word timestamps. "
        "Partial latency: from sending the chunk that holds the end of a word to the first partial "
        "transcript containing that word (negative: guessed before its end arrived); coverage: the share "
        "of committed words some partial contained. Commit latency: from `commit: true` to "
        "`committed_transcript`. Server CPU: the server process's CPU time over the audio streamed (how much of "
        "a core one real-time session needs). Targets: partial median <= 150 ms, commit median <= 300 ms.",
        "",
        "| sessions | commits | audio s | partial median ms | partial p95 ms | coverage | commit median ms "
        "| commit p95 ms | server CPU s per audio s | WER | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(row(r) for r in results),
        "",
        f"At {results[0]['cpu_per_audio_s']:.2f} CPU seconds per second of audio, one core keeps up with about "
        f"{1 / results[0]['cpu_per_audio_s']:.1f} real-time sessions; past that, decoding falls behind and "
        "latencies grow with the backlog.",
    ]
    if load > (os.cpu_count() or 1):
        lines += [
            "",
            f"The machine was busy with other work during this run (load average {load:.1f} on "
            f"{os.cpu_count()} cores), so the latencies above mostly measure waiting for a CPU; rerun on an "
            "idle machine for the server's own figures.",
        ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section("Realtime speech to text", body)


if __name__ == "__main__":
    main()
