"""Instant voice cloning: a base engine voice plus a measured transform that moves it toward a speaker.

:func:`build_clone` takes a few voice samples and returns ``(engine, native_voice, VoiceTransform)``, which
every TTS route renders like any saved voice (see :mod:`chorus.voicelab.transform_dsp`). The method, chosen
by measurement (docs/BENCHMARKS.md "Voice cloning", bench/voice_clone.py):

1. **Analyse** the samples (:func:`chorus.voicelab.analysis.analyse`): speech without pauses, F0
   statistics, the speaker embedding, and the speaker's spectral frames (:class:`FrameBank`).
2. **Try each candidate base voice** (the premade voices of the installed engines that speak the samples'
   language): synthesise ``CALIBRATION_TEXT`` with the engine's own pitch control set to the speaker's
   median F0 (the engine's pitch moves F0 without a vocoder), measure the base voice's mean spectral shape
   there, apply the frame-bank transform and embed the result.
3. **Keep the best** by cosine similarity of that embedding to the samples' embedding, less a penalty per
   base voice for how much less intelligible its clones are (``BASE_PENALTY``, from measured WER); the
   most promising base by prior (penalty and pitch change) stays unless another beats it by more than
   ``SWITCH_MARGIN``, the leave-one-out score's error on a difference between bases.

What was tried and measured (resemblyzer cosine to held-out recordings of the speaker, see the benchmark):
choosing the nearest premade voice alone gives 0.54-0.71; matching its F0 (WORLD) adds 0.00-0.05; a WORLD
conversion with F0 mapping, a searched vocal-tract warp and long-term envelope equalisation reaches 0.55-0.70
(and WORLD resynthesis of the speaker's own recordings already costs 0.1); replacing each frame's envelope by
its nearest frame of the speaker (kNN in a speaker-normalised mel space, the spectral differential applied to
the engine's own output, no vocoder) reaches 0.67-0.84 with pocketsphinx WER 0.05-0.15 on the most
intelligible base (flite rms); re-ranking the nearest frames by +-80 ms of context adds 0.01-0.04. Matching
whole contexts instead of re-ranking scores higher still but wrecks intelligibility (WER 0.3-0.9).
Matching on band levels smoothed over +-200 Hz (``MatchParams.match_smooth_hz``: the harmonics' ripple no
longer decides which phone a frame resembles; the chosen frame's shape is still copied whole) cut the
tuning speakers' WER by a quarter (0.47 -> 0.38 on harder sentences, 0.13 -> 0.10 on the benchmark's) at
equal similarity; averaging several matches, smoothing the chosen shapes over frequency, or mixing in only
part of each frame's shape lost similarity faster than they gained words, and smoothing them over time lost
both.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chorus.engines.base import SynthesisRequest
from chorus.voicelab.analysis import (
    EMBED_WINDOW,
    SpeakerAnalysis,
    analyse,
    cosine,
    f0_statistics,
    f0_track,
    fair_share,
    pcm_to_float,
    speech_only,
    to_analysis_rate,
    utterance_embedding,
)
from chorus.voicelab.transform_dsp import (
    FrameBank,
    MatchParams,
    TransformStream,
    choose_warp,
    source_shape,
    split_for_engine,
)
from chorus.voicelab.voice_model import VoiceTransform

__all__ = [
    "BASE_PENALTY",
    "CALIBRATION_TEXT",
    "CandidateScore",
    "CloneResult",
    "add_tone_color",
    "build_clone",
    "clone_voice",
]

METHOD = "frame-bank-v1"

log = logging.getLogger(__name__)

# Phonetically varied, and kept apart from the sentences bench/voice_clone.py evaluates clones on.
CALIBRATION_TEXT = (
    "A gentle breeze moved the curtains while the kettle began to whistle in the kitchen.",
    "The children painted colourful pictures of animals for the school exhibition.",
    "Nobody could remember a night when the old light had failed.",
)

# Subtracted from a base voice's similarity when choosing: its clones' extra word error rate over the
# clearest base's, times 0.5 (a base must be 0.05 more similar per 0.1 of WER it costs). From pocketsphinx on
# clones of the tuning speakers of bench/voice_clone.py, each base forced, 18 sentences each: rms 0.24,
# awb 0.31, slt 0.31, kal16 0.42, while rms was also the most similar for each of them (awb -0.02,
# slt -0.07, kal16 -0.03 on average); eSpeak NG about 0.19 over rms (an earlier measurement). Voices not
# listed count as DEFAULT_PENALTY.
BASE_PENALTY: dict[tuple[str, str], float] = {
    ("flite", "rms"): 0.0,
    ("flite", "awb"): 0.035,
    ("flite", "slt"): 0.035,
    ("flite", "kal16"): 0.09,
}
DEFAULT_PENALTY = 0.1
# Shortlisting (before anything is synthesised and scored): the penalty plus this much per octave the
# base must move its pitch (the measured cost of moving it is small: rms an octave up is as close to
# female speakers as slt).
OCTAVE_PRIOR = 0.02
# Bases tried and scored per clone (those with the best prior). With flite installed these are rms, awb
# and slt; a fourth slot went to an eSpeak NG voice (penalty 0.1, clone WER 0.3-0.9) that never won on the
# benchmark's 15 speakers and cost a quarter of the build time.
MAX_CANDIDATES = 3
# Multiplier on the base voice's own pitch excursions (the engine's pitch_range).
F0_RANGE = 1.0
# Engines move F0 natively within this ratio; a base needing more would go through WORLD (worse), so
# clones stop where the engine does when that is within PITCH_TOLERANCE of the speaker's pitch.
MAX_ENGINE_PITCH = 2.0
MIN_ENGINE_PITCH = 0.5
PITCH_TOLERANCE = 1.12
# Another base replaces the most promising one by :func:`_prior` only when its score is higher by more
# than this. The leave-one-out score misjudges the difference between two bases by 0.03 (root mean square
# over the tuning speakers of bench/voice_clone.py, flite awb/slt/kal16 against rms, next to the held-out
# clips), and the three samples share the error: their folds agree, so it cannot be seen from them.
SWITCH_MARGIN = 0.03


@dataclass(frozen=True)
class CandidateScore:
    """One base voice as tried: its natural F0, the pitch asked of it and how close its clone came."""

    engine: str
    native_voice: str
    base_f0_median_hz: float | None
    pitch: float
    similarity: float
    score: float

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "native_voice": self.native_voice,
            "base_f0_median_hz": None if self.base_f0_median_hz is None else round(self.base_f0_median_hz, 2),
            "pitch": round(self.pitch, 4),
            "similarity": round(self.similarity, 4),
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class CloneResult:
    engine: str
    native_voice: str
    transform: VoiceTransform
    analysis: SpeakerAnalysis
    candidates: tuple[CandidateScore, ...] = field(default=())

    def as_tuple(self) -> tuple[str, str, VoiceTransform]:
        return self.engine, self.native_voice, self.transform


def _synthesize(engine: Any, voice: str, text: str, pitch: float = 1.0) -> np.ndarray:
    request = SynthesisRequest(text=text, native_voice=voice, pitch=pitch, seed=0)
    pcm = b"".join(chunk.pcm for chunk in engine.synthesize(request))
    return pcm_to_float(pcm)


def _trim_silence(audio: np.ndarray, rate: int) -> np.ndarray:
    """Engine speech without leading/trailing silence and with inner pauses (40 dB under the peak) cut."""
    hop = max(1, rate // 100)
    count = audio.size // hop
    if count == 0:
        return audio
    frames = audio[: count * hop].reshape(count, hop)
    level = 10 * np.log10((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    keep = level > level.max() - 40.0
    return frames[keep].reshape(-1)


def _candidates(engines: Iterable[Any], language: str | None) -> list[tuple[Any, str]]:
    found: list[tuple[Any, str]] = []
    for engine in engines:
        available = getattr(engine, "available", None)
        if available is not None and not available():
            continue
        for voice in engine.voices():
            if language is None or voice.language == language:
                found.append((engine, voice.native_id))
    return found


def _prior(engine: Any, voice: str, target_hz: float | None, cache: dict | None) -> float:
    """How promising a base is before trying it: its intelligibility penalty plus how far (in octaves)
    its pitch must move, and a large malus when the engine cannot move it that far itself."""
    penalty = BASE_PENALTY.get((engine.name, voice), DEFAULT_PENALTY)
    median = _base_median(engine, voice, cache)
    if not median or not target_hz:
        return penalty + 1.0
    octaves = abs(math.log2(target_hz / median))
    ratio = target_hz / median
    reachable = MIN_ENGINE_PITCH / PITCH_TOLERANCE <= ratio <= MAX_ENGINE_PITCH * PITCH_TOLERANCE
    return penalty + OCTAVE_PRIOR * octaves + (0.0 if reachable else 1.0)


def _shortlist(
    pool: list[tuple[Any, str]], target_hz: float | None, cache: dict | None, count: int
) -> list[tuple[Any, str]]:
    """The ``count`` most promising bases (by :func:`_prior`), in the pool's order."""
    if len(pool) <= count:
        return pool
    ranked = sorted(range(len(pool)), key=lambda i: _prior(pool[i][0], pool[i][1], target_hz, cache))
    keep = set(ranked[:count])
    return [item for i, item in enumerate(pool) if i in keep]


def _base_median(engine: Any, voice: str, cache: dict[tuple[str, str], float | None] | None) -> float | None:
    """Median F0 of ``voice`` speaking the calibration text unmodified (cached: it never changes)."""
    key = (engine.name, voice)
    if cache is not None and key in cache:
        return cache[key]
    rate = engine.output_format().sample_rate
    audio = np.concatenate([_synthesize(engine, voice, text) for text in CALIBRATION_TEXT])
    median = f0_statistics(f0_track(to_analysis_rate(audio, rate)))["median_hz"]
    if cache is not None:
        cache[key] = median
    return median


@dataclass(frozen=True)
class _Fold:
    """A cross-check: a clone built from all samples but one, judged against the one left out."""

    frames: str
    target: np.ndarray


def _folds(clips: Sequence[np.ndarray], embedder: Any, budget_s: float) -> list[_Fold]:
    """Leave-one-out folds over (at most 3 of) the samples; one sample is split in two halves."""
    pieces = list(clips)
    if len(pieces) == 1:
        half = pieces[0].size // 2
        pieces = [pieces[0][:half], pieces[0][half:]]
    folds = []
    for i, left_out in enumerate(pieces[:3]):
        rest = [c for j, c in enumerate(pieces) if j != i]
        bank = FrameBank.from_speech(_limit(rest, budget_s))
        folds.append(_Fold(bank.encode(), utterance_embedding(embedder, left_out, step=EMBED_WINDOW)))
    return folds


def _limit(clips: Sequence[np.ndarray], seconds: float) -> list[np.ndarray]:
    return [c for c in fair_share(clips, seconds) if c.size]


def _try_base(
    engine: Any,
    voice: str,
    analysis: SpeakerAnalysis,
    frames: str,
    folds: Sequence[_Fold],
    embedder: Any,
    vad: Any,
    match: MatchParams,
    seed: int,
    cache: dict[tuple[str, str], float | None] | None,
) -> tuple[VoiceTransform, CandidateScore]:
    rate = engine.output_format().sample_rate
    base_median = _base_median(engine, voice, cache)
    pitch = 1.0
    if analysis.f0_median_hz and base_median:
        pitch = min(MAX_ENGINE_PITCH, max(MIN_ENGINE_PITCH, analysis.f0_median_hz / base_median))
    calibration = [_synthesize(engine, voice, text, pitch) for text in CALIBRATION_TEXT]
    speech = [_trim_silence(a, rate) for a in calibration]
    # The vocal-tract warp under which the base voice's frames find the closest bank frames (VTLN).
    warp = choose_warp(frames, speech, rate, match)
    f0_median = analysis.f0_median_hz
    if f0_median and base_median:
        ratio = f0_median / base_median
        if MIN_ENGINE_PITCH / PITCH_TOLERANCE <= ratio <= MAX_ENGINE_PITCH * PITCH_TOLERANCE:
            f0_median = base_median * pitch  # where the engine's own pitch control gets: no vocoder needed
    transform = VoiceTransform(
        f0_median_hz=f0_median,
        f0_range=F0_RANGE,
        seed=seed,
        frames=frames,
        frames_source_db=tuple(round(float(v), 3) for v in source_shape(speech, rate, warp)),
        frames_warp=warp,
        reference={
            "method": METHOD,
            "base_f0_median_hz": base_median,
            "target": {k: v for k, v in analysis.to_json().items() if k != "embedding"},
            "embedding": list(analysis.embedding) if analysis.embedding else None,
        },
    )
    similarity = float("nan")
    if folds:
        # The engine already spoke at the asked pitch: what is left for the DSP is the envelope part. Each
        # fold's clone is built without the sample it is judged on, as the clone will meet new speech.
        _, residual, source_median = split_for_engine(transform, base_median)
        pcms = [(np.clip(a, -1, 1 - 1 / 32768) * 32768).astype("<i2").tobytes() for a in calibration]
        values = []
        for fold in folds:
            converted = []
            for pcm in pcms:
                stream = TransformStream(
                    residual.replace(frames=fold.frames), rate, source_f0_median_hz=source_median, match=match
                )
                out = pcm_to_float(stream.process(pcm) + stream.flush())
                converted.append(speech_only(to_analysis_rate(out, rate), vad))
            embedding = utterance_embedding(embedder, np.concatenate(converted), step=EMBED_WINDOW)
            values.append(cosine(embedding, fold.target))
        similarity = float(np.mean(values))
    penalty = BASE_PENALTY.get((engine.name, voice), DEFAULT_PENALTY)
    score = CandidateScore(engine.name, voice, base_median, pitch, similarity, similarity - penalty)
    return transform, score


def clone_voice(
    samples: Sequence[tuple[bytes | np.ndarray, int]],
    *,
    engines: Iterable[Any],
    embedder: Any = None,
    vad: Any = None,
    language: str | None = "en",
    candidates: Sequence[tuple[str, str]] | None = None,
    match: MatchParams | None = None,
    seed: int = 0,
    max_bank_s: float = 90.0,
    cache: dict[tuple[str, str], float | None] | None = None,
    detailed: bool = True,
    max_candidates: int = MAX_CANDIDATES,
    tone: Any = None,
) -> CloneResult:
    """Build a clone of the speaker in ``samples`` (s16le PCM bytes or float arrays, with their rates).

    ``engines``: TTS engines to draw base voices from (an :class:`~chorus.engines.registry.EngineRegistry`
    iterates as such); ``candidates`` limits the base voices to these ``(engine, native_voice)`` pairs.
    ``embedder``: a :class:`~chorus.stt.speaker_embedding.SpeakerEmbedder`; without one the base is chosen
    by :func:`_prior` alone (intelligibility penalty plus a little per octave of pitch change). With one, the
    ``max_candidates`` bases with the best prior are tried and scored. ``vad``: a
    :class:`~chorus.stt.vad.SileroVAD` (default: the shared one). At most ``max_bank_s`` seconds of speech
    go into the frame bank (about 10 kB stored per second). ``cache``: a dict the caller keeps between
    calls, for the base voices' measured pitch. ``detailed=False`` skips the formant, HNR and speaking-rate
    measurements (kept in ``transform.reference`` for information only). With one candidate nothing is
    scored. ``tone``: a :class:`~chorus.voicelab.tone_color.ToneColorConverter` (a neural cloning engine);
    with one, the transform also gets the speaker's tone color from the samples' speech and the chosen
    base's (:func:`add_tone_color`). Raises ValueError when the samples hold too little speech or no
    engine offers a voice in ``language``. Blocking, seconds of CPU (about 3-10 s per candidate here): run
    it in a worker thread.
    """
    # The base voices' pitch is measured by synthesis; without the caller's cache, once per call.
    cache = {} if cache is None else cache
    analysis, clips = analyse(samples, embedder=embedder, vad=vad, detailed=detailed)
    frames = FrameBank.from_speech(_limit(clips, max_bank_s)).encode()
    pool = _candidates(engines, language)
    if candidates is not None:
        wanted = set(candidates)
        pool = [(e, v) for e, v in pool if (e.name, v) in wanted]
    if not pool:
        raise ValueError(f"no engine voice to clone onto for language {language!r}")
    match = match or MatchParams()
    pool = _shortlist(pool, analysis.f0_median_hz, cache, max_candidates if embedder is not None else 1)
    folds = _folds(clips, embedder, max_bank_s) if embedder is not None and len(pool) > 1 else []
    tried = [_try_base(e, v, analysis, frames, folds, embedder, vad, match, seed, cache) for e, v in pool]
    priors = [_prior(e, v, analysis.f0_median_hz, cache) for e, v in pool]
    scores = tuple(score for _, score in tried)
    transform, chosen = tried[_choose(scores, priors)]
    reference = dict(transform.reference)
    reference["similarity_on_samples"] = None if not math.isfinite(chosen.similarity) else chosen.similarity
    reference["candidates"] = [s.to_json() for s in scores]
    transform = transform.replace(reference=reference)
    if tone is not None:
        engine = next(e for e, v in pool if e.name == chosen.engine and v == chosen.native_voice)
        try:
            transform = add_tone_color(transform, clips, tone, engine, chosen.native_voice, chosen.pitch)
        except Exception as exc:  # the DSP clone stands on its own: a converter failure must not lose it
            log.warning("clone without a tone color: %s", exc)
    return CloneResult(chosen.engine, chosen.native_voice, transform, analysis, scores)


def add_tone_color(
    transform: VoiceTransform, clips: Sequence[np.ndarray], tone: Any, engine: Any, voice: str, pitch: float
) -> VoiceTransform:
    """``transform`` with the speaker's tone color (from ``clips``, speech at the analysis rate) and the base
    voice's (``voice`` of ``engine`` reading the calibration text at ``pitch``, what rendering will feed the
    converter), for the neural converter ``tone``. The frame-bank part stays as the fallback."""
    from chorus.voicelab.analysis import ANALYSIS_RATE
    from chorus.voicelab.tone_color import MODEL_NAME

    target = tone.extract(clips, ANALYSIS_RATE)
    rate = engine.output_format().sample_rate
    base = [_trim_silence(_synthesize(engine, voice, text, pitch), rate) for text in CALIBRATION_TEXT]
    source = tone.extract(base, rate)
    reference = dict(transform.reference)
    reference["tone_model"] = MODEL_NAME
    return transform.replace(
        tone_color=tuple(round(float(v), 6) for v in target),
        tone_source=tuple(round(float(v), 6) for v in source),
        reference=reference,
    )


def _choose(scores: Sequence[CandidateScore], priors: Sequence[float]) -> int:
    """Which candidate to keep: the one with the best prior (lowest) unless another scores more than
    ``SWITCH_MARGIN`` higher, then the highest scoring. A score that is not a number counts as none."""

    def value(i: int) -> float:
        return scores[i].score if math.isfinite(scores[i].score) else -math.inf

    best = max(range(len(scores)), key=value)
    favoured = min(range(len(scores)), key=lambda i: priors[i])
    return favoured if value(best) - value(favoured) <= SWITCH_MARGIN else best


def build_clone(
    samples: Sequence[tuple[bytes | np.ndarray, int]],
    *,
    engines: Iterable[Any],
    embedder: Any = None,
    vad: Any = None,
    language: str | None = "en",
    candidates: Sequence[tuple[str, str]] | None = None,
    seed: int = 0,
    cache: dict[tuple[str, str], float | None] | None = None,
) -> tuple[str, str, VoiceTransform]:
    """``(engine, native_voice, transform)`` cloning the speaker in ``samples`` (see :func:`clone_voice`)."""
    return clone_voice(
        samples,
        engines=engines,
        embedder=embedder,
        vad=vad,
        language=language,
        candidates=candidates,
        seed=seed,
        cache=cache,
    ).as_tuple()
