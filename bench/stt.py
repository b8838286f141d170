"""Speech-to-text benchmark: word error rate and real-time factor through the API, next to raw pocketsphinx.

Every English clip of ../shared/data/speech (LibriSpeech train-clean-5, LJ Speech, the English multilingual
clip) is sent to ``POST /v1/speech-to-text`` of a Chorus server in its own process, one request at a time, and
decoded in this process by pocketsphinx used raw (its default US English model and settings, the whole clip as
one utterance, as `chorus.testing.asr` does). Both are scored against the reference with the same
normalisation (lower case, punctuation dropped, numbers spelt out). RTF = wall time / audio duration.

Run: .venv/bin/python bench/stt.py [--write] [--limit N]   (N clips per set; default all)
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ADMIN_KEY, machine, parallel_speedup, server, today, write_section  # noqa: E402

from chorus.stt.audio_input import decode_any  # noqa: E402
from chorus.testing.asr import transcribe as raw_pocketsphinx  # noqa: E402
from chorus.testing.asr import word_errors  # noqa: E402

SPEECH = Path(
    os.environ.get("CHORUS_SPEECH_DATA", Path(__file__).resolve().parents[2] / "shared/data/speech")
)


def clips(limit: int | None) -> dict[str, list[dict[str, str]]]:
    by_set: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (SPEECH / "transcripts.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["lang"] == "en" and (limit is None or len(by_set[row["set"]]) < limit):
                by_set[row["set"]].append(row)
    return dict(by_set)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    parser.add_argument("--limit", type=int, default=None, help="clips per set")
    args = parser.parse_args()
    if not (SPEECH / "transcripts.tsv").is_file():
        sys.exit(f"speech data not found at {SPEECH} (set CHORUS_SPEECH_DATA)")
    sets = clips(args.limit)
    totals: dict[str, dict[str, float]] = {}
    with server() as url, httpx.Client(base_url=url, headers={"xi-api-key": ADMIN_KEY}, timeout=600) as http:
        for name, rows in sets.items():
            t = defaultdict(float)
            for row in rows:
                data = (SPEECH / row["file"]).read_bytes()
                duration = float(row["duration_s"])
                start = time.perf_counter()
                response = http.post(
                    "/v1/speech-to-text",
                    data={"model_id": "scribe_v1", "enable_logging": "false"},
                    files={"file": (Path(row["file"]).name, data)},
                )
                t["api_s"] += time.perf_counter() - start
                response.raise_for_status()
                errors, words = word_errors(row["text"], response.json()["text"])
                t["api_err"] += errors
                start = time.perf_counter()
                pcm, rate = decode_any(data)
                raw_text = raw_pocketsphinx(np.frombuffer(pcm, dtype="<i2"), rate)
                t["raw_s"] += time.perf_counter() - start
                t["raw_err"] += word_errors(row["text"], raw_text)[0]
                t["words"] += words
                t["audio_s"] += duration
                t["clips"] += 1
            totals[name] = t
            print(
                f"{name}: {int(t['clips'])} clips, {t['audio_s']:.0f} s, WER api {t['api_err'] / t['words']:.3f} "
                f"raw {t['raw_err'] / t['words']:.3f}, RTF api {t['api_s'] / t['audio_s']:.3f} "
                f"raw {t['raw_s'] / t['audio_s']:.3f}",
                flush=True,
            )
    all_t = defaultdict(float)
    for t in totals.values():
        for key, value in t.items():
            all_t[key] += value
    totals["all English clips"] = all_t
    rows_md = [
        f"| {name} | {int(t['clips'])} | {t['audio_s']:.0f} | {int(t['words'])} | "
        f"**{t['api_err'] / t['words']:.3f}** | {t['raw_err'] / t['words']:.3f} | "
        f"{t['api_s'] / t['audio_s']:.3f} | {t['raw_s'] / t['audio_s']:.3f} |"
        for name, t in totals.items()
    ]
    body = "\n".join(
        [
            f"Measured {today()} on {machine()}; two busy processes get {parallel_speedup():.1f}x one core.",
            "",
            "`bench/stt.py`: every English clip of `shared/data/speech` through `POST /v1/speech-to-text`",
            "(model `scribe_v1` = pocketsphinx behind Silero VAD, loudness normalisation and the tuned decoder)",
            "next to pocketsphinx used raw (default settings, the whole clip as one utterance) in the same run.",
            "RTF = wall time / audio duration, one request at a time (the API figure includes upload, decoding",
            "the FLAC and the HTTP round trip).",
            "",
            "| set | clips | audio s | words | WER API | WER raw pocketsphinx | RTF API | RTF raw |",
            "|---|---|---|---|---|---|---|---|",
            *rows_md,
        ]
    )
    print(body)
    if args.write:
        write_section("Speech to text", body)


if __name__ == "__main__":
    main()
