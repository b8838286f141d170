"""Speech to speech benchmark: does the output sound like the target voice and keep the source's words?

Sources: one clip of each speaker of ../shared/data/speech (LibriSpeech train-clean-5 and LJ Speech: the
fourth clip, never a cloning sample in bench/voice_clone.py), with its reference transcript. Targets: the
premade flite voices slt (female), rms and awb (male), and clones of two LibriSpeech speakers (1088, female,
and 163, male; built by :func:`chorus.voicelab.clone.clone_voice` from their first 3 clips). A source is never
converted to a clone of its own speaker. Each conversion runs the service's path in process
(:class:`chorus.services.speech_to_speech.SpeechToSpeechService`: decoding, analysis, the conversion
transform, the stream and the default voice-setting effects; no HTTP, no encoding).

- to target: resemblyzer cosine between the output (pauses cut) and the target voice: for a premade voice
  its speech of six fixed sentences, for a clone its speaker's real recordings (the clips after the first 3);
- to source: the same between the output and the source speaker's other clips (not the converted one);
  "closer" counts the conversions where to target > to source;
- WER: pocketsphinx (chorus.testing.asr) on the output against the clip's reference transcript, next to the
  same for the unconverted clip;
- RTF: CPU time (process_time) of analysis + conversion per second of input (shared machine: CPU time,
  not wall time).

Sources of the tuning speakers of bench/voice_clone.py (1088, 163, 19, 3242, 669) chose the method's
settings; the summary is over the other ten ("held-out").

Run: .venv/bin/python bench/speech_to_speech.py [--write] [--set tuning|held-out|all] [--targets all|clones]
[--blend 0.5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import wave
from dataclasses import replace
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
from chorus.services.speech_to_speech import SpeechToSpeechService, STSInput, convert_pcm  # noqa: E402
from chorus.storage.models import Voice  # noqa: E402
from chorus.stt.speaker_embedding import SpeakerEmbedder  # noqa: E402
from chorus.testing.asr import transcribe, word_errors  # noqa: E402
from chorus.voicelab import conversion  # noqa: E402
from chorus.voicelab.analysis import (  # noqa: E402
    cosine,
    pcm_to_float,
    speech_only,
    to_analysis_rate,
    utterance_embedding,
)
from chorus.voicelab.clone import clone_voice  # noqa: E402

SOURCE_CLIP = 3
PREMADE = (("flite", "slt"), ("flite", "rms"), ("flite", "awb"))
CLONED = ("1088", "163")


def transcripts() -> dict[str, str]:
    found = {}
    for line in (SPEECH / "transcripts.tsv").read_text().splitlines()[1:]:
        fields = line.split("\t")
        found[fields[0].rsplit("/", 1)[-1]] = fields[-1]
    return found


def wav(audio: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def unit(vectors: list[np.ndarray]) -> np.ndarray:
    mean = np.mean([v / np.linalg.norm(v) for v in vectors], axis=0)
    return mean / np.linalg.norm(mean)


def wer(audio: np.ndarray, rate: int, text: str) -> tuple[int, int]:
    pcm = np.clip(np.round(audio * 32768), -32768, 32767).astype(np.int16)
    return word_errors(text, transcribe(pcm, rate))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--set", choices=("tuning", "held-out", "all"), default="all")
    parser.add_argument("--targets", choices=("all", "clones"), default="all")
    parser.add_argument("--blend", type=float, default=None, help="override CONVERSION_MATCH.blend")
    args = parser.parse_args()
    if not (SPEECH / "librispeech-train-clean-5").is_dir():
        sys.exit(f"speech data not found under {SPEECH}")
    if args.blend is not None:
        conversion.CONVERSION_MATCH = replace(conversion.CONVERSION_MATCH, blend=args.blend)
    registry = EngineRegistry.from_names(["flite", "espeak-ng"])
    engines = {engine.name: engine for engine in registry.available()}
    embedder = SpeakerEmbedder()
    service = SpeechToSpeechService(None, registry, None, None)  # type: ignore[arg-type]
    texts = transcripts()
    everyone = speakers()

    def embed(audio: np.ndarray, rate: int) -> np.ndarray:
        return utterance_embedding(embedder, speech_only(to_analysis_rate(audio, rate)))

    # Targets: (label, voice row, embedding of what the target sounds like, speaker cloned or None).
    targets = []
    for engine_name, native in PREMADE if args.targets == "all" else ():
        engine = engines[engine_name]
        rate = engine.output_format().sample_rate
        speech = [
            pcm_to_float(
                b"".join(c.pcm for c in engine.synthesize(SynthesisRequest(text=t, native_voice=native)))
            )
            for t in SENTENCES
        ]
        voice = Voice(
            voice_id=f"{engine_name}-{native}", engine=engine_name, native_voice=native, transform=None
        )
        targets.append((f"{engine_name}:{native}", voice, embed(np.concatenate(speech), rate), None))
    for speaker in CLONED:
        clips = [load(p) for p in everyone[speaker]]
        result = clone_voice(clips[:REFERENCE_CLIPS], engines=registry, embedder=embedder, detailed=True)
        voice = Voice(
            voice_id=f"clone-{speaker}",
            engine=result.engine,
            native_voice=result.native_voice,
            transform=result.transform.to_json(),
        )
        reference = unit([embed(a, r) for a, r in clips[REFERENCE_CLIPS:]])
        targets.append((f"clone of {speaker}", voice, reference, speaker))
    measured = {label: service.target(voice) for label, voice, _, _ in targets}

    rows = []
    for speaker, paths in everyone.items():
        group = "tuning" if speaker in TUNING else "held-out"
        if args.set != "all" and group != args.set:
            continue
        audio, rate = load(paths[SOURCE_CLIP])
        text = texts[paths[SOURCE_CLIP].name]
        others = unit([embed(*load(p)) for i, p in enumerate(paths) if i != SOURCE_CLIP])
        source_embedding = embed(audio, rate)
        source_errors = wer(audio, rate, text)
        for label, _, target_embedding, cloned in targets:
            if cloned == speaker:
                continue
            start = time.process_time()
            source = service._source(STSInput(audio=wav(audio, rate)))
            transform = conversion.conversion_transform(source.speech, measured[label], 0)
            out = pcm_to_float(b"".join(convert_pcm(source, transform, {}, 0)))
            cpu = time.process_time() - start
            converted = embed(out, source.rate)
            errors = wer(out, source.rate, text)
            row = {
                "speaker": speaker,
                "set": group,
                "target": label,
                "to_target": cosine(converted, target_embedding),
                "to_source": cosine(converted, others),
                "before_target": cosine(source_embedding, target_embedding),
                "before_source": cosine(source_embedding, others),
                "errors": errors,
                "source_errors": source_errors,
                "rtf": cpu / (audio.size / rate),
                "warp": transform.frames_warp,
            }
            rows.append(row)
            print(
                f"{speaker:>5} {group:8} -> {label:14} warp {row['warp']:.2f} to target {row['to_target']:.3f} "
                f"(was {row['before_target']:.3f}) to source {row['to_source']:.3f} "
                f"(was {row['before_source']:.3f}) WER {errors[0] / errors[1]:.3f} "
                f"(source {source_errors[0] / source_errors[1]:.3f}) RTF {row['rtf']:.3f}",
                flush=True,
            )
    print()
    print(report(rows, conversion.CONVERSION_MATCH))
    if args.write:
        write_section("Speech to speech", report(rows, conversion.CONVERSION_MATCH))


def _wer(rows: list[dict], key: str) -> float:
    return sum(r[key][0] for r in rows) / max(1, sum(r[key][1] for r in rows))


def report(rows: list[dict], match: object) -> str:
    lines = [
        f"Measured {today()} on {machine()} by `bench/speech_to_speech.py` (a machine shared with other "
        "jobs: RTF is CPU time of analysis and conversion per second of input).",
        "",
        "One clip per speaker (the fourth; LibriSpeech train-clean-5 and LJ Speech) converted to each target "
        "through the service's path. Resemblyzer cosine of the output to the target voice (premade: its speech "
        "of six fixed sentences; clone: its speaker's real recordings) and to the source speaker's other clips; "
        "before: the same for the unconverted clip. WER: pocketsphinx against the reference transcript, "
        "words pooled over the clips (source: the unconverted clips). Targets: closer to the target than to "
        "the source speaker, WER <= 0.4.",
        "",
        "| set | target | pairs | to target (before) | to source (before) | closer | WER | WER source | max WER "
        "| RTF |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group in ("held-out", "tuning"):
        subset = [r for r in rows if r["set"] == group]
        for label in dict.fromkeys(r["target"] for r in subset):
            part = [r for r in subset if r["target"] == label]
            lines.append(
                f"| {group} | {label} | {len(part)} | {statistics.mean(r['to_target'] for r in part):.3f} "
                f"({statistics.mean(r['before_target'] for r in part):.3f}) "
                f"| {statistics.mean(r['to_source'] for r in part):.3f} "
                f"({statistics.mean(r['before_source'] for r in part):.3f}) "
                f"| {sum(r['to_target'] > r['to_source'] for r in part)}/{len(part)} "
                f"| {_wer(part, 'errors'):.3f} | {_wer(part, 'source_errors'):.3f} "
                f"| {max(r['errors'][0] / r['errors'][1] for r in part):.3f} "
                f"| {statistics.mean(r['rtf'] for r in part):.3f} |"
            )
    lines.append("")
    for group in ("held-out", "tuning"):
        subset = [r for r in rows if r["set"] == group]
        if not subset:
            continue
        closer = sum(r["to_target"] > r["to_source"] for r in subset)
        within = sum(r["errors"][0] / r["errors"][1] <= 0.4 for r in subset)
        lines.append(
            f"- {group} ({len(subset)} conversions): closer to the target than to the source in {closer}, "
            f"to target {statistics.mean(r['to_target'] for r in subset):.3f} (before "
            f"{statistics.mean(r['before_target'] for r in subset):.3f}), to source "
            f"{statistics.mean(r['to_source'] for r in subset):.3f} (before "
            f"{statistics.mean(r['before_source'] for r in subset):.3f}); WER {_wer(subset, 'errors'):.3f} "
            f"(unconverted {_wer(subset, 'source_errors'):.3f}), WER <= 0.4 in {within}; "
            f"RTF {statistics.mean(r['rtf'] for r in subset):.3f}."
        )
    lines.append(f"- Frame matching: {match}.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
