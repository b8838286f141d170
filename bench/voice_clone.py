"""Voice cloning benchmark: how close a clone comes to its speaker, next to the nearest premade voice.

Speakers: the 14 of LibriSpeech train-clean-5 and LJ Speech (its first 10 clips) in ../shared/data/speech.
For each, the first 3 clips are the cloning samples and the other clips are held out. The clone
(:func:`chorus.voicelab.clone.clone_voice`, every premade voice of flite and eSpeak NG as candidate bases)
speaks six fixed sentences (never used in building clones), rendered as the TTS path will: the engine with
the pitch/rate that :func:`~chorus.voicelab.transform_dsp.split_for_engine` hands it, then a
:class:`~chorus.voicelab.transform_dsp.TransformStream` sentence by sentence.

- similarity: mean over held-out clips of the cosine between resemblyzer embeddings (1.6 s windows,
  averaged) of the clone's speech (pauses cut) and of the clip;
- premade: the same for the nearest premade voice, i.e. the one whose speech is most similar to the cloning
  samples (chosen as a user would, without the held-out clips); "best premade" is the most similar to the
  held-out clips (an oracle, the stricter comparison);
- WER: pocketsphinx (chorus.testing.asr) on the clone's six sentences, against their text;
- RTF: transform CPU time / audio duration (engine time excluded).
- build: CPU time (process_time) of :func:`~chorus.voicelab.clone.clone_voice`, and its wall time.

Speakers 1088, 163, 19, 3242 and 669 were used to choose the method and its settings ("tuning"); the other
ten are held out and the summary is over them.

Run: .venv/bin/python bench/voice_clone.py [--write] [--speakers 1088,163] [--base-penalty 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    REFERENCE_CLIPS,
    SENTENCES,
    SPEECH,
    TUNING,
    load,
    machine,
    speakers,
    today,
    write_section,
)

from chorus.engines.base import SynthesisRequest  # noqa: E402
from chorus.engines.registry import EngineRegistry  # noqa: E402
from chorus.stt.speaker_embedding import SpeakerEmbedder  # noqa: E402
from chorus.testing.asr import transcribe, word_errors  # noqa: E402
from chorus.voicelab import clone as clone_module  # noqa: E402
from chorus.voicelab.analysis import (  # noqa: E402
    cosine,
    pcm_to_float,
    speech_only,
    to_analysis_rate,
    utterance_embedding,
)
from chorus.voicelab.transform_dsp import MatchParams, TransformStream, split_for_engine  # noqa: E402


def render(engine, voice: str, text: str, transform, match: MatchParams) -> tuple[np.ndarray, int, float]:
    """(16 kHz float speech, engine rate, transform seconds) for one sentence in the cloned voice."""
    base = transform.reference.get("base_f0_median_hz")
    prosody, residual, source_median = split_for_engine(transform, base)
    request = SynthesisRequest(
        text=text,
        native_voice=voice,
        pitch=prosody.pitch,
        pitch_range=prosody.pitch_range,
        speed=prosody.speed,
    )
    rate = engine.output_format().sample_rate
    stream = TransformStream(residual, rate, source_f0_median_hz=source_median, match=match)
    spent = 0.0
    out = []
    for chunk in engine.synthesize(request):
        start = time.process_time()
        out.append(stream.process(chunk.pcm))
        spent += time.process_time() - start
    start = time.process_time()
    out.append(stream.flush())
    spent += time.process_time() - start
    return pcm_to_float(b"".join(out)), rate, spent


def wer(audios: list[np.ndarray]) -> float:
    errors = total = 0
    for audio, text in zip(audios, SENTENCES, strict=True):
        pcm = np.clip(np.round(audio * 32768), -32768, 32767).astype(np.int16)
        e, n = word_errors(text, transcribe(pcm, 16_000))
        errors += e
        total += n
    return errors / max(1, total)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--speakers", default="", help="comma-separated speaker ids (default: all)")
    parser.add_argument("--base-penalty", type=float, default=None, help="override every BASE_PENALTY value")
    parser.add_argument("--candidates", default="", help="engine:voice,... (default: every premade voice)")
    parser.add_argument("--f0-range", type=float, default=None, help="override clone.F0_RANGE")
    parser.add_argument("--match", default="", help="MatchParams overrides, e.g. candidates=1,context=0")
    args = parser.parse_args()
    if not (SPEECH / "librispeech-train-clean-5").is_dir():
        sys.exit(f"speech data not found under {SPEECH}")
    if args.base_penalty is not None:
        for key in clone_module.BASE_PENALTY:
            clone_module.BASE_PENALTY[key] = args.base_penalty
        clone_module.DEFAULT_PENALTY = args.base_penalty
    if args.f0_range is not None:
        clone_module.F0_RANGE = args.f0_range
    match = MatchParams(**{k: type(getattr(MatchParams(), k))(v) for k, v in
                           (item.split("=") for item in args.match.split(",") if item)})  # fmt: skip
    registry = EngineRegistry.from_names(["flite", "espeak-ng"])
    engines = {engine.name: engine for engine in registry.available()}
    embedder = SpeakerEmbedder()
    candidates = [tuple(c.split(":", 1)) for c in args.candidates.split(",") if c] or None
    median_cache: dict = {}

    # Premade voices: their speech of the fixed sentences, embedded once.
    premade: dict[tuple[str, str], np.ndarray] = {}
    for name, engine in engines.items():
        for voice in engine.voices():
            if voice.language != "en":
                continue
            rate = engine.output_format().sample_rate
            speech = []
            for text in SENTENCES:
                pcm = b"".join(
                    c.pcm
                    for c in engine.synthesize(SynthesisRequest(text=text, native_voice=voice.native_id))
                )
                speech.append(speech_only(to_analysis_rate(pcm_to_float(pcm), rate)))
            premade[(name, voice.native_id)] = utterance_embedding(embedder, np.concatenate(speech))

    wanted = [s for s in args.speakers.split(",") if s]
    rows = []
    for speaker, paths in speakers().items():
        if wanted and speaker not in wanted:
            continue
        clips = [load(p) for p in paths]
        refs, held = clips[:REFERENCE_CLIPS], clips[REFERENCE_CLIPS:]
        held_embeddings = np.array(
            [utterance_embedding(embedder, speech_only(to_analysis_rate(a, r))) for a, r in held]
        )
        ref_embedding = utterance_embedding(
            embedder, np.concatenate([speech_only(to_analysis_rate(a, r)) for a, r in refs])
        )
        start, start_cpu = time.perf_counter(), time.process_time()
        result = clone_module.clone_voice(
            [(a, r) for a, r in refs],
            engines=registry,
            embedder=embedder,
            candidates=candidates,
            match=match,
            cache=median_cache,
        )
        build_s, build_cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
        engine = engines[result.engine]
        audios, spent, duration = [], 0.0, 0.0
        for text in SENTENCES:
            audio, rate, seconds = render(engine, result.native_voice, text, result.transform, match)
            duration += audio.size / rate
            spent += seconds
            audios.append(to_analysis_rate(audio, rate))
        clone_embedding = utterance_embedding(embedder, np.concatenate([speech_only(a) for a in audios]))
        similarity = float(np.mean([cosine(clone_embedding, h) for h in held_embeddings]))
        nearest = max(premade, key=lambda k: cosine(premade[k], ref_embedding))
        premade_sim = float(np.mean([cosine(premade[nearest], h) for h in held_embeddings]))
        best = max(premade, key=lambda k: float(np.mean([cosine(premade[k], h) for h in held_embeddings])))
        best_sim = float(np.mean([cosine(premade[best], h) for h in held_embeddings]))
        row = {
            "speaker": speaker,
            "set": "tuning" if speaker in TUNING else "held-out",
            "f0": result.analysis.f0_median_hz or 0.0,
            "base": f"{result.engine}:{result.native_voice}",
            "similarity": similarity,
            "premade": f"{nearest[1]}",
            "premade_sim": premade_sim,
            "best_sim": best_sim,
            "wer": wer(audios),
            "rtf": spent / duration,
            "build_s": build_s,
            "build_cpu_s": build_cpu_s,
            "bank_kb": len(result.transform.frames) / 1024,
        }
        rows.append(row)
        print(
            f"{speaker:>5} {row['set']:8} F0 {row['f0']:5.0f} base {row['base']:22} sim {similarity:.3f} "
            f"premade {nearest[1]} {premade_sim:.3f} (best {best_sim:.3f}) diff {similarity - premade_sim:+.3f} "
            f"WER {row['wer']:.3f} RTF {row['rtf']:.3f} build {build_cpu_s:.1f}s CPU ({build_s:.1f}s wall) | tried "
            + " ".join(f"{c.native_voice}:{c.similarity:.3f}" for c in result.candidates),
            flush=True,
        )
    print()
    print(report(rows, match))
    if args.write:
        write_section("Voice cloning", report(rows, match))


def report(rows: list[dict], match: MatchParams) -> str:
    lines = [
        f"Measured {today()} on {machine()} by `bench/voice_clone.py` (RTF is CPU time of the transform per "
        "second of audio, build time the process's CPU time; measured with nothing else of ours running, on "
        "a host whose speed drifts with its other tenants).",
        "",
        "Resemblyzer cosine between each clone's speech (six fixed sentences) and the speaker's held-out "
        "clips (not used for cloning; the first 3 clips of each speaker are the cloning samples), next to "
        "the premade voice nearest the samples and the best premade voice on the held-out clips. WER: "
        "pocketsphinx on the clone's sentences. Targets: similarity >= 0.75, >= 0.10 above the premade "
        "voice, WER <= 0.20.",
        "",
        "| speaker | set | F0 Hz | clone base | clone sim | nearest premade | premade sim | best premade sim "
        "| gain | WER | RTF | bank kB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['speaker']} | {r['set']} | {r['f0']:.0f} | {r['base']} | {r['similarity']:.3f} | {r['premade']} "
            f"| {r['premade_sim']:.3f} | {r['best_sim']:.3f} | {r['similarity'] - r['premade_sim']:+.3f} "
            f"| {r['wer']:.3f} | {r['rtf']:.3f} | {r['bank_kb']:.0f} |"
        )
    lines.append("")
    for name in ("held-out", "tuning"):
        subset = [r for r in rows if r["set"] == name]
        if not subset:
            continue
        passing = sum(
            r["similarity"] >= 0.75 and r["similarity"] - r["premade_sim"] >= 0.10 and r["wer"] <= 0.20
            for r in subset
        )
        lines.append(
            f"- {name} ({len(subset)} speakers): mean similarity {statistics.mean(r['similarity'] for r in subset):.3f} "
            f"(min {min(r['similarity'] for r in subset):.3f}), nearest premade "
            f"{statistics.mean(r['premade_sim'] for r in subset):.3f}, mean gain "
            f"{statistics.mean(r['similarity'] - r['premade_sim'] for r in subset):+.3f} "
            f"(over the best premade {statistics.mean(r['similarity'] - r['best_sim'] for r in subset):+.3f}), "
            f"mean WER {statistics.mean(r['wer'] for r in subset):.3f} (max {max(r['wer'] for r in subset):.3f}), "
            f"all three targets met by {passing}/{len(subset)}; transform RTF "
            f"{statistics.mean(r['rtf'] for r in subset):.3f}, clone built in "
            f"{statistics.mean(r['build_cpu_s'] for r in subset):.1f} s of CPU on average "
            f"({statistics.mean(r['build_s'] for r in subset):.0f} s wall on the shared machine)."
        )
    lines.append(f"- Frame matching: {match}.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
