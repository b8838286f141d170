"""Cloning from noisy samples: what the frame bank's noise subtraction does for clones of noisy recordings.

The protocol of bench/voice_clone.py (first 3 clips of each held-out speaker as the cloning samples, the rest
held out; six fixed sentences; resemblyzer similarity to the held-out clips; pocketsphinx WER), with steady
noise added to the cloning samples only (the held-out clips stay clean): pink noise (-3 dB per octave) at
10 dB SNR by default, a fixed seed per clip. Each speaker is cloned twice from the same noisy samples:
with the bank's noise subtraction (:func:`chorus.voicelab.transform_dsp._less_noise`, as shipped) and
without it (its broadband gate set out of reach), so the two columns differ by that step alone.

Run: .venv/bin/python bench/voice_clone_noisy.py [--write] [--noise pink|white] [--snr 10] [--speakers ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REFERENCE_CLIPS, SENTENCES, SPEECH, TUNING, load, machine, speakers, today, write_section  # noqa: E402
from voice_clone import render, wer  # noqa: E402

from chorus.engines.registry import EngineRegistry  # noqa: E402
from chorus.stt.speaker_embedding import SpeakerEmbedder  # noqa: E402
from chorus.voicelab import clone as clone_module  # noqa: E402
from chorus.voicelab import transform_dsp  # noqa: E402
from chorus.voicelab.analysis import cosine, speech_only, to_analysis_rate, utterance_embedding  # noqa: E402
from chorus.voicelab.transform_dsp import MatchParams  # noqa: E402


def noisy(audio: np.ndarray, kind: str, snr_db: float, seed: int) -> np.ndarray:
    """``audio`` with steady noise ``snr_db`` under its mean power."""
    noise = np.random.default_rng(seed).standard_normal(audio.size)
    if kind == "pink":
        spectrum = np.fft.rfft(noise)
        spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
        noise = np.fft.irfft(spectrum, audio.size)
    noise *= np.sqrt(np.mean(audio**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
    return (audio + noise).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--noise", choices=("pink", "white"), default="pink")
    parser.add_argument("--snr", type=float, default=10.0)
    parser.add_argument("--speakers", default="", help="comma-separated speaker ids (default: the held-out)")
    args = parser.parse_args()
    if not (SPEECH / "librispeech-train-clean-5").is_dir():
        sys.exit(f"speech data not found under {SPEECH}")
    registry = EngineRegistry.from_names(["flite", "espeak-ng"])
    engines = {engine.name: engine for engine in registry.available()}
    embedder = SpeakerEmbedder()
    match, cache = MatchParams(), {}
    wanted = [s for s in args.speakers.split(",") if s]
    shipped = transform_dsp.NOISE_BROADBAND
    rows = []
    for speaker, paths in speakers().items():
        if (wanted and speaker not in wanted) or (not wanted and speaker in TUNING):
            continue
        clips = [load(p) for p in paths]
        refs, held = clips[:REFERENCE_CLIPS], clips[REFERENCE_CLIPS:]
        samples = [(noisy(a, args.noise, args.snr, i), r) for i, (a, r) in enumerate(refs)]
        held_embeddings = [
            utterance_embedding(embedder, speech_only(to_analysis_rate(a, r))) for a, r in held
        ]
        row: dict = {"speaker": speaker}
        for mode, gate in (("without", 2.0), ("with", shipped)):
            transform_dsp.NOISE_BROADBAND = gate  # over 1: no recording qualifies, nothing is subtracted
            try:
                result = clone_module.clone_voice(samples, engines=registry, embedder=embedder, cache=cache)
            finally:
                transform_dsp.NOISE_BROADBAND = shipped
            engine = engines[result.engine]
            audios = []
            for text in SENTENCES:
                audio, rate, _ = render(engine, result.native_voice, text, result.transform, match)
                audios.append(to_analysis_rate(audio, rate))
            embedding = utterance_embedding(embedder, np.concatenate([speech_only(a) for a in audios]))
            row[mode] = (float(np.mean([cosine(embedding, h) for h in held_embeddings])), wer(audios))
        rows.append(row)
        print(
            f"{speaker:>5} without: sim {row['without'][0]:.3f} WER {row['without'][1]:.3f} | "
            f"with: sim {row['with'][0]:.3f} WER {row['with'][1]:.3f}",
            flush=True,
        )
    body = report(rows, args.noise, args.snr)
    print()
    print(body)
    if args.write:
        write_section("Voice cloning from noisy samples", body)


def report(rows: list[dict], noise: str, snr: float) -> str:
    lines = [
        f"Measured {today()} on {machine()} by `bench/voice_clone_noisy.py`.",
        "",
        f'The protocol of "Voice cloning" on the held-out speakers, with {noise} noise at {snr:g} dB SNR added '
        "to the three cloning samples (the held-out clips stay clean), each speaker cloned from the same noisy "
        "samples without and with the frame bank's noise subtraction (the only difference). Clean samples "
        'are not touched by it (the figures of "Voice cloning" are the same either way).',
        "",
        "| speaker | similarity without | similarity with | WER without | WER with |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['speaker']} | {r['without'][0]:.3f} | {r['with'][0]:.3f} | {r['without'][1]:.3f} "
            f"| {r['with'][1]:.3f} |"
        )
    if rows:
        mean = {m: (statistics.mean(r[m][0] for r in rows), statistics.mean(r[m][1] for r in rows)) for m in
                ("without", "with")}  # fmt: skip
        better = sum(r["with"][0] > r["without"][0] for r in rows)
        fewer = sum(r["with"][1] < r["without"][1] for r in rows)
        lines += [
            "",
            f"- {len(rows)} speakers: mean similarity {mean['without'][0]:.3f} -> {mean['with'][0]:.3f} "
            f"(higher for {better}), mean WER {mean['without'][1]:.3f} -> {mean['with'][1]:.3f} "
            f"(lower for {fewer}).",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
