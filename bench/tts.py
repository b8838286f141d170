"""Text-to-speech benchmarks: time to first byte, server overhead, throughput, intelligibility.

Run: .venv/bin/python bench/tts.py [--write] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ADMIN_KEY, machine, parallel_speedup, percentile, server, today, write_section  # noqa: E402

from chorus.engines.base import SynthesisRequest  # noqa: E402
from chorus.engines.registry import EngineRegistry  # noqa: E402
from chorus.services.catalogue import TIERS  # noqa: E402
from chorus.services.voices import premade_voice_id  # noqa: E402

SHORT = "Hello, how can I help you today?"
LONG = (
    "The old lighthouse stood at the end of the rocky point, its white tower streaked with rust. "
    "For nearly a century it had guided fishing boats home through fog and storm. "
    "When the keeper retired, the town voted to keep the lamp burning, and volunteers took turns "
    "climbing the spiral stairs each evening. Children learned to read the weather from its beam. "
    "Visitors came in summer to photograph the tower against the sunset, and in winter the waves "
    "threw spray higher than the gallery rail. Nobody could remember a night when the light had failed. "
) * 3
PARAGRAPHS = (
    "The weather was warm and sunny, so we decided to walk to the park after lunch.",
    "Please remember to lock the front door before you leave the house tonight.",
    "She bought fresh bread, cheese and a bottle of milk at the corner shop.",
    "Our train to the city was delayed by almost twenty minutes this morning.",
    "He has been learning to play the piano for nearly three years now.",
    "The children painted colourful pictures of animals for the school exhibition.",
    "After the meeting, the manager thanked everyone for their patience and hard work.",
    "A gentle breeze moved the curtains while the kettle began to whistle in the kitchen.",
)
# A paragraph dense with what the normaliser rewrites (dates, money, abbreviations, URLs, numbers).
NORMALISER_PARAGRAPH = (
    "On 2024-03-05 at 14:30, Dr. Smith told the committee that revenue grew 15% to $4.2 million, "
    "up from $3.65 million in 2023. The FBI, NASA and the U.S. Department of Energy were briefed. "
    "Visit https://www.example.com/report or call (555) 123-4567 for details. Chapter IV covers the "
    "1990s; see p. 42, e.g. the 3/4 majority rule and the 10-20 km range at 20°C. "
    "The rest of the paragraph is ordinary prose that tells a story about a quiet town by the sea, "
    "where people walk along the harbour in the evening and talk about the weather and the boats. "
)


HEADERS = {"xi-api-key": ADMIN_KEY}


async def ttfb(http: httpx.AsyncClient, voice: str, model: str, text: str = SHORT) -> float:
    start = time.perf_counter()
    async with http.stream(
        "POST",
        f"/v1/text-to-speech/{voice}/stream",
        params={"enable_logging": "false"},
        json={"text": text, "model_id": model},
    ) as response:
        response.raise_for_status()
        chunks = response.aiter_raw()
        await anext(chunks)
        first = time.perf_counter() - start
        async for _ in chunks:
            pass
    return first


async def latency(url: str, voice: str, model: str, rounds: int) -> list[str]:
    rows = []
    # Every stream of a batch keeps its connection between batches, so no timing includes a TCP connect.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=120, limits=limits) as http:
        for _ in range(5):
            await ttfb(http, voice, model)
        single = [await ttfb(http, voice, model) for _ in range(rounds)]
        rows.append(
            f"| 1 | {len(single)} | {statistics.median(single) * 1000:.1f} | {percentile(single, 95) * 1000:.1f} | 0 |"
        )
        for concurrency in (8, 32):
            times: list[float] = []
            errors = 0
            # An untimed batch first opens the connections the timed batches reuse.
            await asyncio.gather(
                *(ttfb(http, voice, model) for _ in range(concurrency)), return_exceptions=True
            )
            for _ in range(max(2, rounds // concurrency * 2)):
                results = await asyncio.gather(
                    *(ttfb(http, voice, model) for _ in range(concurrency)), return_exceptions=True
                )
                errors += sum(isinstance(r, BaseException) for r in results)
                times += [r for r in results if isinstance(r, float)]
            rows.append(
                f"| {concurrency} | {len(times) + errors} | {statistics.median(times) * 1000:.1f} | "
                f"{percentile(times, 95) * 1000:.1f} | {errors} |"
            )
    return rows


def _process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_s(port: int) -> tuple[float, float]:
    """CPU seconds used so far by the server on ``port`` (a child of this process) and by its descendants
    (the engine workers and their fork server); (nan, nan) where /proc cannot tell."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    server = None
    for pid, parent in parents.items():
        if parent == os.getpid():
            with contextlib.suppress(OSError):
                if f"{port}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                    server = pid
    if server is None:
        return float("nan"), float("nan")
    family, todo = 0.0, [pid for pid, parent in parents.items() if parent == server]
    while todo:
        child = todo.pop()
        with contextlib.suppress(OSError):
            family += _process_cpu_s(child)
        todo += [pid for pid, parent in parents.items() if parent == child]
    return _process_cpu_s(server), family


async def stream_all(http: httpx.AsyncClient, voice: str, model: str, text: str, output_format: str) -> None:
    async with http.stream(
        "POST",
        f"/v1/text-to-speech/{voice}/stream",
        params={"enable_logging": "false", "output_format": output_format},
        json={"text": text, "model_id": model},
    ) as response:
        response.raise_for_status()
        async for _ in response.aiter_raw():
            pass


async def cpu_per_request(url: str, cases: list[tuple[str, str, str, str, str, int]]) -> list[str]:
    """Server CPU per ``/stream`` request, one request at a time: the server process (HTTP, database,
    effects, encoding) and its engine worker processes, the least of three runs of each case."""
    port = int(url.rsplit(":", 1)[1])
    rows = []
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=300) as http:
        for label, voice, model, text, output_format, count in cases:
            await stream_all(http, voice, model, text, output_format)
            best_main = best_workers = float("inf")
            for _ in range(3):
                main0, workers0 = server_cpu_s(port)
                for _ in range(count):
                    await stream_all(http, voice, model, text, output_format)
                main1, workers1 = server_cpu_s(port)
                best_main = min(best_main, (main1 - main0) / count * 1000)
                best_workers = min(best_workers, (workers1 - workers0) / count * 1000)
            rows.append(f"| {label} | {output_format} | {count} | {best_main:.1f} | {best_workers:.1f} |")
    return rows


def normaliser_ms(characters: int = 5000) -> float:
    """CPU ms to normalise ``characters`` of :data:`NORMALISER_PARAGRAPH` text (best of 7, warm)."""
    from chorus.text.normalize import normalize

    text = (NORMALISER_PARAGRAPH * (characters // len(NORMALISER_PARAGRAPH) + 1))[:characters]
    normalize(text)
    best = float("inf")
    for _ in range(7):
        started = time.process_time()
        normalize(text)
        best = min(best, time.process_time() - started)
    return best * 1000


def effects_cpu_ms(engine_name: str, native: str) -> tuple[int, float, float]:
    """CPU ms per audio second of the default voice-setting effects on the engine's speech of
    :data:`LONG`, fed sentence by sentence as a request feeds them: (rate, C, Python), best of 5."""
    from chorus.audio import effects_native
    from chorus.audio.effects import EffectChain, EffectSettings

    registry = EngineRegistry.from_names([engine_name])
    engine = registry.get(engine_name)
    assert engine is not None
    chunks = list(engine.synthesize(SynthesisRequest(text=LONG, native_voice=native)))
    rate = chunks[0].format.sample_rate
    seconds = sum(len(c.pcm) for c in chunks) / 2 / rate
    close = getattr(registry, "close", None)
    if close:
        close()
    costs = []
    for use_c in (True, False):
        if use_c and effects_native.load() is None:
            costs.append(float("nan"))
            continue
        best = float("inf")
        for _ in range(5):
            started = time.process_time()
            chain = EffectChain(rate, EffectSettings(), native=use_c)
            for chunk in chunks:
                chain.process(chunk.pcm)
            best = min(best, time.process_time() - started)
        costs.append(best / seconds * 1000)
    return rate, costs[0], costs[1]


def raw_engine_seconds(engine_name: str, native: str, text: str, runs: int = 3) -> tuple[float, float]:
    registry = EngineRegistry.from_names([engine_name])
    engine = registry.get(engine_name)
    assert engine is not None
    list(engine.synthesize(SynthesisRequest(text=SHORT, native_voice=native)))  # warm up
    best = float("inf")
    audio = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        chunks = list(engine.synthesize(SynthesisRequest(text=text, native_voice=native)))
        best = min(best, time.perf_counter() - start)
        audio = sum(len(c.pcm) for c in chunks) / 2 / chunks[0].format.sample_rate
    close = getattr(registry, "close", None)
    if close:
        close()
    return best, audio


def pipeline_seconds(engine_name: str, native: str, text: str, output_format: str, runs: int = 4) -> float:
    """The same work as a request, without the server: the render pipeline (normalisation, engine,
    default voice-setting effects) and the encoder, one after the other in this thread, engine in process."""
    from chorus.audio.encode import StreamEncoder
    from chorus.audio.formats import parse_output_format
    from chorus.services.render import RenderPlan, render

    registry = EngineRegistry.from_names([engine_name])
    engine = registry.get(engine_name)
    assert engine is not None
    # As the convert route: audio only, no character times.
    plan = RenderPlan(
        text=text, engine=engine, native_voice=native, language="en", settings={}, timestamps=False
    )
    fmt = parse_output_format(output_format)
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        encoder = StreamEncoder(engine.output_format(), fmt)
        for chunk in render(plan):
            encoder.feed(chunk.pcm)
        encoder.flush()
        best = min(best, time.perf_counter() - start)
    close = getattr(registry, "close", None)
    if close:
        close()
    return best


def request_seconds(
    url: str, voice: str, text: str, output_format: str, runs: int = 3, voice_settings: dict | None = None
) -> float:
    best = float("inf")
    body: dict = {"text": text, "model_id": "eleven_flash_v2_5"}
    if voice_settings is not None:
        body["voice_settings"] = voice_settings
    with httpx.Client(base_url=url, headers=HEADERS, timeout=300) as http:
        for _ in range(runs):
            start = time.perf_counter()
            response = http.post(
                f"/v1/text-to-speech/{voice}",
                params={"output_format": output_format, "enable_logging": "false"},
                json=body,
            )
            response.raise_for_status()
            best = min(best, time.perf_counter() - start)
    return best


async def throughput(url: str, voice: str, clients: int, seconds: float) -> float:
    audio = 0.0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=120) as http:

        async def worker() -> None:
            nonlocal audio
            while time.perf_counter() < deadline:
                response = await http.post(
                    f"/v1/text-to-speech/{voice}",
                    params={"output_format": "pcm_16000", "enable_logging": "false"},
                    json={"text": PARAGRAPHS[int(time.perf_counter() * 1000) % len(PARAGRAPHS)]},
                )
                response.raise_for_status()
                audio += len(response.content) / 32000

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return audio / (time.perf_counter() - start)


def intelligibility(url: str, voice: str, model: str) -> float:
    from chorus.testing.asr import transcribe, word_errors

    errors = words = 0
    with httpx.Client(base_url=url, headers=HEADERS, timeout=120) as http:
        for text in PARAGRAPHS:
            response = http.post(
                f"/v1/text-to-speech/{voice}",
                params={"output_format": "pcm_16000", "enable_logging": "false"},
                json={"text": text, "model_id": model},
            )
            response.raise_for_status()
            heard = transcribe(np.frombuffer(response.content, dtype="<i2"), 16000)
            e, w = word_errors(text, heard)
            errors, words = errors + e, words + w
    return errors / words


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds = 20 if args.quick else 60
    flash = next(t for t in TIERS if t.model_id == "eleven_flash_v2_5")
    flash_engine, flash_native = flash.default_voice.split(":", 1)
    flash_voice = premade_voice_id(flash_engine, flash_native)

    out = [
        f"Machine: {machine()}; two busy processes run {parallel_speedup():.2f}x as fast as one. "
        f"Date: {today()}. Server: `chorus serve`, engines in worker processes; the load generator "
        "runs on the same machine.",
        "",
    ]
    with server() as url:
        out += [
            f'### Time to first audio byte, `/stream`, flash tier ({flash.default_voice}), "{SHORT}", mp3_44100_128',
            "",
            "| concurrent streams | requests | median ms | p95 ms | errors |",
            "|---|---|---|---|---|",
            *asyncio.run(latency(url, flash_voice, flash.model_id, rounds)),
            "",
        ]
        kal16 = premade_voice_id("flite", "kal16")
        espeak = premade_voice_id("espeak-ng", "en-us+f5")
        short_runs, long_runs = (20, 2) if args.quick else (60, 5)
        cpu_cases = [
            (f'flite:kal16, "{SHORT}"', flash_voice, flash.model_id, SHORT, "mp3_44100_128", short_runs),
            (f'flite:kal16, "{SHORT}"', flash_voice, flash.model_id, SHORT, "pcm_16000", short_runs),
            (f"flite:kal16, {len(LONG)} chars", kal16, flash.model_id, LONG, "pcm_16000", long_runs),
            (f"flite:kal16, {len(LONG)} chars", kal16, flash.model_id, LONG, "mp3_44100_128", long_runs),
            (f"espeak-ng:en-us+f5, {len(LONG)} chars", espeak, flash.model_id, LONG, "pcm_16000", long_runs),
            (
                f"espeak-ng:en-us+f5, {len(LONG)} chars",
                espeak,
                flash.model_id,
                LONG,
                "mp3_44100_128",
                long_runs,
            ),
        ]
        out += [
            "### Server CPU per request, `/stream`, one request at a time (least of 3 runs)",
            "",
            "| text | output format | requests | server process CPU ms | engine workers CPU ms |",
            "|---|---|---|---|---|",
            *asyncio.run(cpu_per_request(url, cpu_cases)),
            "",
        ]
        out += [
            "### Server overhead: whole request / raw engine synthesis, same long text",
            "",
            "`POST /v1/text-to-speech/{voice_id}` (whole file, default voice settings), best of 5 interleaved "
            "rounds (raw, pipeline and request measured one after the other in each). *Raw engine*: "
            "the engine alone, in process. *Pipeline*: the same work without the server (normalisation, engine, "
            "the default speaker-boost effects and the encoder, one after the other in one thread); request / "
            "pipeline is what the server itself adds (HTTP, database, engine worker processes, threads), and "
            "falls under 1 where the server's pipelining across cores gains more than that costs: the "
            "server synthesises later sentences on idle engine workers while it processes and encodes the "
            "earlier ones. *Request CPU*: the CPU time of the server and its engine workers for the request "
            "(the least over the rounds), the work done on every core, next to the raw engine's. *Effects "
            "off*: the same request with `use_speaker_boost: false` (no voice-setting DSP), i.e. what the "
            "server adds to the engine and the encoder by itself. *2-core floor*: pipeline / 2 / raw engine, "
            "the least request / raw engine that any server could reach on 2 cores, since the pipeline's work "
            "(the same engine, effects and encoder) must be done and two cores at best halve it; where it "
            "exceeds 1.15 (mp3 from the fastest engines: the MP3 encoder alone needs several times the "
            "engine's CPU) that target cannot be met on this machine.",
            "",
            "| voice | text chars | audio s | raw engine s | output format | pipeline s | request s "
            "| request / raw engine | 2-core floor | request / pipeline | request CPU s | request CPU / raw engine "
            "| request, effects off s | effects off / raw engine |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        port = int(url.rsplit(":", 1)[1])
        formats = ("pcm_16000", "mp3_44100_128")
        for engine_name, native in (("flite", "rms"), ("flite", "kal16"), ("espeak-ng", "en-us+f5")):
            voice = premade_voice_id(engine_name, native)
            # Interleaved rounds, best of each: a shared machine's speed drifts over minutes, and the
            # ratios should compare measurements taken under the same conditions.
            raw, audio = float("inf"), 0.0
            pipelines = dict.fromkeys(formats, float("inf"))
            requests = dict.fromkeys(formats, float("inf"))
            cpus = dict.fromkeys(formats, float("inf"))
            plain = dict.fromkeys(formats, float("inf"))
            for _ in range(5):
                once, audio = raw_engine_seconds(engine_name, native, LONG, runs=1)
                raw = min(raw, once)
                for output_format in formats:
                    pipelines[output_format] = min(
                        pipelines[output_format],
                        pipeline_seconds(engine_name, native, LONG, output_format, 1),
                    )
                    before = sum(server_cpu_s(port))
                    requests[output_format] = min(
                        requests[output_format], request_seconds(url, voice, LONG, output_format, 1)
                    )
                    cpus[output_format] = min(cpus[output_format], sum(server_cpu_s(port)) - before)
                    plain[output_format] = min(
                        plain[output_format],
                        request_seconds(url, voice, LONG, output_format, 1, {"use_speaker_boost": False}),
                    )
            for output_format in formats:
                pipeline, request = pipelines[output_format], requests[output_format]
                out.append(
                    f"| {engine_name}:{native} | {len(LONG)} | {audio:.1f} | {raw:.3f} | {output_format} "
                    f"| {pipeline:.3f} | {request:.3f} | {request / raw:.2f} | {pipeline / 2 / raw:.2f} "
                    f"| {request / pipeline:.2f} "
                    f"| {cpus[output_format]:.3f} | {cpus[output_format] / raw:.2f} "
                    f"| {plain[output_format]:.3f} | {plain[output_format] / raw:.2f} |"
                )
        out += [
            "",
            "### Voice-setting effects (default: speaker boost), CPU ms per audio second",
            "",
            "The same chain in C (built by scripts/setup.sh) and in Python (the fallback); both give the "
            "same bytes. Fed sentence by sentence, as a request feeds it.",
            "",
            "| engine speech | sample rate | C | Python |",
            "|---|---|---|---|",
        ]
        for engine_name, native in (("flite", "kal16"), ("espeak-ng", "en-us+f5")):
            rate, c_ms, python_ms = effects_cpu_ms(engine_name, native)
            out.append(f"| {engine_name}:{native} | {rate} | {c_ms:.2f} | {python_ms:.2f} |")
        out += [
            "",
            "### Text normalisation",
            "",
            f"5,000 characters of dense text (dates, money, abbreviations, URLs, numbers): {normaliser_ms():.1f} CPU ms "
            "(best of 7), for text that takes about five minutes to speak.",
        ]
        out += ["", "### Throughput: audio seconds per wall second, 8 clients, 2 cores", ""]
        out += ["| voice | audio s / wall s |", "|---|---|"]
        for engine_name, native in (
            ("flite", "rms"),
            ("flite", "kal16"),
            ("flite", "slt"),
            ("flite", "awb"),
            ("espeak-ng", "en-us+f5"),
        ):
            rate = asyncio.run(
                throughput(url, premade_voice_id(engine_name, native), 8, 5 if args.quick else 15)
            )
            out.append(f"| {engine_name}:{native} | {rate:.1f} |")
        out += ["", "### Intelligibility: WER of each tier's default voice (pocketsphinx, 8 sentences)", ""]
        out += ["| tier | default voice | WER |", "|---|---|---|"]
        for tier in TIERS:
            engine_name, native = tier.default_voice.split(":", 1)
            wer = intelligibility(url, premade_voice_id(engine_name, native), tier.model_id)
            out.append(f"| {tier.model_id} | {tier.default_voice} | {wer:.3f} |")
        out += ["", "### Intelligibility per premade voice (eleven_multilingual_v2, same sentences)", ""]
        out += ["| voice | engine voice | WER |", "|---|---|---|"]
        voices = httpx.get(f"{url}/v1/voices", headers=HEADERS).json()["voices"]
        for voice in voices:
            wer = intelligibility(url, voice["voice_id"], "eleven_multilingual_v2")
            out.append(f"| {voice['name']} | {voice['engine']} | {wer:.3f} |")
        out += [
            "",
            "The recogniser (pocketsphinx) is itself weak on formant synthesis: eSpeak NG voices score",
            "worse with it than with people. The figures compare voices; they are not absolute.",
        ]
    body = "\n".join(out)
    print(body)
    if args.write:
        write_section("Text to speech", body)


if __name__ == "__main__":
    main()
