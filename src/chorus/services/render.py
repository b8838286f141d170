"""The synthesis pipeline for one request, run in a worker thread.

markup (breaks, phonemes, v3 audio tags) -> text normalisation -> engine (sentence by sentence)
-> the voice's transform (saved voices: cloned, designed, remixed) -> voice-setting effects -> PCM chunks
with character alignments for the original and the normalised text. Encoding is not done here: the edge
encodes once, in the format the client asked for.

A voice transform is split with the engine (:func:`~chorus.voicelab.transform_dsp.split_for_engine`): pitch,
pitch range and rate become the engine's own controls, the rest (timbre) runs in a
:class:`~chorus.voicelab.transform_dsp.TransformStream` per engine call, flushed at its end, so every
sentence keeps its length and the alignments stay exact.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

from chorus.audio.effects import EffectChain, EffectSettings
from chorus.engines.base import PCMFormat, SynthesisRequest, TTSEngine, sentence_spans
from chorus.services.alignment import CharAlignment, TimedSpan, align_characters, merge_by_original
from chorus.services.work_ahead import WorkAhead
from chorus.text.markup import (
    STYLE_PROSODY,
    BreakPiece,
    PhonemePiece,
    Prosody,
    StylePiece,
    TextPiece,
    parse_markup,
)
from chorus.text.normalize import normalize

# Engine calls started ahead of their turn at most (each holds an engine worker until it is read).
AHEAD_PIECES = 3
# Silence standing in for a non-verbal v3 tag (laughs, sighs) the engines cannot voice.
NONVERBAL_SECONDS = 0.3
MAX_BREAK_SECONDS = 3.0


@dataclass(frozen=True)
class RenderPlan:
    text: str
    engine: TTSEngine
    native_voice: str
    language: str | None
    settings: dict[str, Any]
    seed: int | None = None
    normalization: Literal["auto", "on", "off"] = "auto"
    audio_tags: bool = False
    ssml: bool = True
    # Synthesise the first clause on its own so the first audio leaves sooner (latency over prosody).
    early_first_chunk: bool = False
    # Character times for every chunk; without them (convert and stream: audio only) chunks carry none.
    timestamps: bool = True
    # The voice's transform (VoiceTransform) and how to learn the base voice's median F0 when the transform
    # does not record it (measured once per voice by the caller, in this worker thread).
    transform: Any = None
    base_f0: Callable[[], float | None] | None = None
    # For a voice whose transform has a tone color: returns the neural tone color converter
    # (chorus.voicelab.tone_color), which then re-voices each sentence instead of the frame-bank DSP, or
    # None when it is not installed (the DSP renders the voice). Called once, in the worker thread.
    tone: Callable[[], Any] | None = None


class _Piece(NamedTuple):
    """A stretch of the normalised text given to the engine in one call."""

    start: int
    end: int
    # Where the piece's last sentence ends when the piece ends at the start of another sentence: the chunk
    # that reaches it takes the rest of the piece, as the engine does with the whole text (the space
    # between two sentences goes with the earlier one).
    spoken_end: int | None
    segment: int  # which stretch between ``bounds`` (the early first clause is one): never merged across


@dataclass
class RenderedChunk:
    """PCM for one stretch of output, positioned in the whole output, with its characters' times."""

    pcm: bytes
    format: PCMFormat
    start_s: float
    duration_s: float
    alignment: CharAlignment = field(default_factory=CharAlignment)
    normalized_alignment: CharAlignment = field(default_factory=CharAlignment)


def _effect_settings(settings: dict[str, Any], prosody: Prosody) -> EffectSettings:
    return EffectSettings(
        use_speaker_boost=bool(settings.get("use_speaker_boost", True)),
        similarity_boost=float(settings.get("similarity_boost", 0.75)),
        style=float(settings.get("style", 0.0)),
        volume_db=prosody.volume_db,
        breathy=prosody.breathy,
    )


class _Renderer:
    def __init__(
        self,
        plan: RenderPlan,
        should_stop: Callable[[], bool],
        pace: Callable[[float], None] | None = None,
        may_start_ahead: Callable[[], bool] = lambda: True,
    ) -> None:
        self.plan = plan
        self.should_stop = should_stop
        self.pace = pace
        self.may_start_ahead = may_start_ahead
        self.format = plan.engine.output_format()
        capabilities = getattr(plan.engine, "capabilities", None)  # test doubles may leave it out
        self.sentence_calls = bool(capabilities and getattr(capabilities(), "independent_sentences", False))
        self.try_synthesize: Callable[..., Iterator[Any] | None] | None = (
            getattr(plan.engine, "try_synthesize", None) if self.sentence_calls else None
        )
        self.clock = 0.0
        self.prosody = Prosody()
        self.spoken = False
        self.chain = EffectChain(
            self.format.sample_rate, _effect_settings(plan.settings, self.prosody), plan.seed or 0
        )
        self.voice_pitch = self.voice_range = self.voice_speed = 1.0
        self.residual: Any = None  # the part of the voice transform done by DSP
        self.source_f0: float | None = None
        self.tone: Any = None
        transform = plan.transform
        if transform is not None and transform.tone_color:
            converter = plan.tone() if plan.tone is not None and transform.tone_source else None
            if converter is not None:
                # The converter does the timbre: the frame bank is the fallback for when it is missing.
                seed = transform.seed if plan.seed is None else plan.seed
                self.tone = (converter, transform.tone_source, transform.tone_color, seed)
                transform = transform.replace(frames="", frames_source_db=(), frames_warp=1.0)
            transform = transform.replace(tone_color=(), tone_source=())
        if transform is not None and not transform.is_identity():
            from chorus.voicelab.transform_dsp import split_for_engine

            base = transform.reference.get("base_f0_median_hz") or (plan.base_f0() if plan.base_f0 else None)
            # Output loudness is the voice settings' business (speaker boost), as for every voice.
            prosody, residual, self.source_f0 = split_for_engine(transform.replace(loudness_lufs=None), base)
            self.voice_pitch, self.voice_range, self.voice_speed = (
                prosody.pitch,
                prosody.pitch_range,
                prosody.speed,
            )
            self.residual = None if residual.is_identity() else residual

    def run(self) -> Iterator[RenderedChunk]:
        text = self.plan.text
        for piece in parse_markup(text, ssml=self.plan.ssml, audio_tags=self.plan.audio_tags):
            if self.should_stop():
                return
            if isinstance(piece, TextPiece):
                yield from self._speak(piece.text, piece.orig_start, piece.orig_end)
            elif isinstance(piece, PhonemePiece):
                yield from self._speak(
                    piece.text, piece.orig_start, piece.orig_end, phonemes=(piece.phonemes, piece.alphabet)
                )
            elif isinstance(piece, BreakPiece):
                yield self._silence(min(piece.seconds, MAX_BREAK_SECONDS), piece.orig_start, piece.orig_end)
            elif isinstance(piece, StylePiece):
                prosody = STYLE_PROSODY.get(piece.tag)
                if prosody is not None and prosody.nonverbal:
                    yield self._silence(NONVERBAL_SECONDS, piece.orig_start, piece.orig_end)
                    continue
                yield self._silence(0.0, piece.orig_start, piece.orig_end)
                if prosody is not None and prosody != self.prosody:
                    self._set_prosody(prosody)
        tail = self.chain.flush()
        if tail:
            yield self._chunk(tail, CharAlignment(), CharAlignment())

    def _set_prosody(self, prosody: Prosody) -> None:
        self.prosody = prosody
        # Updating (not rebuilding) the chain keeps its loudness estimate, so no segment restarts cold.
        self.chain.update(_effect_settings(self.plan.settings, prosody))

    def _chunk(
        self, pcm: bytes, alignment: CharAlignment, normalized: CharAlignment, advance: float | None = None
    ) -> RenderedChunk:
        """A chunk at the current clock. The clock moves by ``advance`` seconds when given (the engine's
        duration, while a voice transform holds some of it back), else by the chunk's own length."""
        duration = len(pcm) / 2 / self.format.sample_rate
        chunk = RenderedChunk(pcm, self.format, self.clock, duration, alignment, normalized)
        self.clock += duration if advance is None else advance
        return chunk

    def _voice_stream(self) -> Any:
        """A fresh transform stream for one engine call, or None when the voice needs no DSP."""
        stream = None
        if self.residual is not None:
            from chorus.voicelab.transform_dsp import TransformStream

            stream = TransformStream(
                self.residual, self.format.sample_rate, source_f0_median_hz=self.source_f0
            )
        if self.tone is not None:
            from chorus.voicelab.tone_color import ToneStream

            converter, source, target, seed = self.tone
            stream = ToneStream(converter, source, target, self.format.sample_rate, seed=seed, inner=stream)
        return stream

    def _voice_tail(self, voice: Any) -> Iterator[RenderedChunk]:
        """The transform's look-ahead, released at the end of a sentence or an engine call: the sentence
        keeps its length, so the times given so far stay right."""
        tail = voice.flush()
        if tail:
            yield self._chunk(self.chain.process(tail), CharAlignment(), CharAlignment(), advance=0.0)

    def _silence(self, seconds: float, orig_start: int, orig_end: int) -> RenderedChunk:
        samples = int(round(seconds * self.format.sample_rate))
        pcm = self.chain.process(b"\x00\x00" * samples) if samples else b""
        alignment = (
            align_characters(self.plan.text, orig_start, orig_end, (), self.clock, self.clock + seconds)
            if self.plan.timestamps
            else CharAlignment()
        )
        return self._chunk(pcm, alignment, CharAlignment())

    def _pieces(self, text: str, bounds: list[int], whole_span: bool) -> list[_Piece]:
        """The stretches of ``text`` between ``bounds`` and, for an engine whose sentences are independent,
        each sentence on its own: the engine calls that can run in parallel (same audio either way)."""
        cuts = set(bounds)
        spoken_end: dict[int, int] = {}  # cut at a sentence start -> end of the sentence before it
        if self.sentence_calls and not whole_span:
            sentences = sentence_spans(text)
            for before, sentence in zip(sentences, sentences[1:], strict=False):
                start = sentence.span()[0]
                if start not in cuts:
                    cuts.add(start)
                    spoken_end[start] = before.span()[1]
        edges = sorted(cuts)
        return [
            _Piece(start, end, spoken_end.get(end), bisect.bisect_right(bounds, start))
            for start, end in zip(edges, edges[1:], strict=False)
            if text[start:end].strip()
        ]

    def _can_work_ahead(self) -> bool:
        """Whether later pieces can go to other engine workers now: the engine runs in worker processes, at
        least two are idle (one for this piece, one ahead) and the caller allows it."""
        if self.try_synthesize is None or not self.may_start_ahead():
            return False
        idle = getattr(self.plan.engine, "idle_workers", None)
        return idle is not None and idle() >= 2

    def _work_ahead(self, request: SynthesisRequest, text: str, pieces: list[_Piece]) -> WorkAhead | None:
        """Later pieces' engine calls, started on idle engine workers (up to ``AHEAD_PIECES`` past the one
        in hand) so a long text uses every idle core; None for an engine without ``try_synthesize`` (in
        process) or a text of one piece."""
        try_synthesize = self.try_synthesize
        if try_synthesize is None or len(pieces) < 2:
            return None

        def start(index: int, on_finished: Callable[[], None]) -> Iterator[Any] | None:
            piece = pieces[index]
            return try_synthesize(replace(request, text=text[piece.start : piece.end]), on_finished)

        return WorkAhead(len(pieces), start, self.may_start_ahead, AHEAD_PIECES)

    def _align(
        self,
        raw: Any,
        norm: Any,
        piece: _Piece,
        piece_t0: float,
        duration: float,
        cursors: tuple[int, int],
        orig_span: tuple[int, int],
        whole_span: bool,
    ) -> tuple[CharAlignment, CharAlignment, int, int]:
        """The character times of one engine chunk (``raw``, of the engine call for ``piece`` of the
        normalised text, which started at ``piece_t0``), in the original and the normalised text, and the
        cursors (normalised, original) moved past it."""
        sub_start, sub_end, spoken_end, _ = piece
        norm_cursor, orig_cursor = cursors
        orig_start, orig_end = orig_span
        plan = self.plan
        t0, t1 = self.clock, self.clock + duration
        norm_end = max(sub_start + raw.text_end, norm_cursor)
        if spoken_end is not None and norm_end >= spoken_end:
            norm_end = sub_end
        words = [
            TimedSpan(
                sub_start + w.char_start,
                sub_start + w.char_end,
                piece_t0 + w.start_s,
                piece_t0 + w.end_s,
            )
            for w in raw.words
        ]
        normalized = align_characters(norm.text, norm_cursor, norm_end, words, t0, t1)
        if whole_span:
            orig_words = [TimedSpan(orig_start, orig_end, t0, t1)]
            orig_end_here = orig_end
        else:
            orig_words = merge_by_original(
                [
                    TimedSpan(
                        *_shift(norm.to_original(w.start, w.end), orig_start),
                        w.start_s,
                        w.end_s,
                    )
                    for w in words
                ]
            )
            orig_end_here = orig_start + norm.to_original(norm_cursor, norm_end)[1]
        orig_end_here = min(max(orig_end_here, orig_cursor), orig_end)
        alignment = align_characters(plan.text, orig_cursor, orig_end_here, orig_words, t0, t1)
        return alignment, normalized, norm_end, orig_end_here

    def _speak(
        self, text: str, orig_start: int, orig_end: int, phonemes: tuple[str, str] | None = None
    ) -> Iterator[RenderedChunk]:
        """Speak ``text`` (``plan.text[orig_start:orig_end]``), or its given pronunciation."""
        plan = self.plan
        whole_span = phonemes is not None
        # A word with a given pronunciation is not normalised: its phonemes say how to read it.
        norm = normalize(text, plan.language or "en", "off" if whole_span else plan.normalization)
        request = SynthesisRequest(
            text=norm.text,
            native_voice=plan.native_voice,
            language=plan.language,
            speed=float(plan.settings.get("speed", 1.0)) * self.prosody.rate * self.voice_speed,
            stability=float(plan.settings.get("stability", 0.5)),
            style=float(plan.settings.get("style", 0.0)),
            seed=plan.seed,
            pitch=self.prosody.pitch * self.voice_pitch,
            pitch_range=self.prosody.pitch_range * self.voice_range,
            phonemes=phonemes[0] if phonemes else None,
            alphabet=phonemes[1] if phonemes else None,  # type: ignore[arg-type]
        )
        bounds = [0, len(norm.text)]
        if plan.early_first_chunk and not self.spoken and not whole_span:
            split = first_clause_end(norm.text)
            if split:
                bounds = [0, split, len(norm.text)]
        pieces = self._pieces(norm.text, bounds, whole_span)
        self.spoken = self.spoken or bool(norm.text.strip())
        norm_cursor, orig_cursor = 0, orig_start
        ahead = self._work_ahead(request, norm.text, pieces)  # engine calls started before their turn
        index = 0
        try:
            while index < len(pieces):
                piece = pieces[index]
                if self.pace is not None:
                    # Between engine calls this job holds no engine worker (but those already working ahead
                    # for it): the one place a job may wait its turn.
                    self.pace(self.clock)
                    if self.should_stop():
                        return
                chunks = ahead.take(index) if ahead is not None else None
                if chunks is None:
                    if len(pieces) > index + 1 and not self._can_work_ahead():
                        # Nobody can work ahead: one call for the rest of the segment, which the engine
                        # splits into the same sentences, so its worker is not handed back between them.
                        last = max(i for i in range(index, len(pieces)) if pieces[i].segment == piece.segment)
                        piece = piece._replace(end=pieces[last].end, spoken_end=pieces[last].spoken_end)
                        index = last
                        if ahead is not None:
                            ahead.skip_through(last)
                    chunks = plan.engine.synthesize(replace(request, text=norm.text[piece.start : piece.end]))
                try:
                    if ahead is not None:
                        ahead.fill()
                    piece_t0 = self.clock
                    voice = None
                    # Each chunk is passed on as soon as the engine yields it: waiting for the next one to
                    # learn whether this is the last would cost a sentence of latency.
                    for raw in chunks:
                        if self.should_stop():
                            return
                        duration = len(raw.pcm) / 2 / self.format.sample_rate
                        if plan.timestamps:
                            alignment, normalized, norm_cursor, orig_cursor = self._align(
                                raw,
                                norm,
                                piece,
                                piece_t0,
                                duration,
                                (norm_cursor, orig_cursor),
                                (orig_start, orig_end),
                                whole_span,
                            )
                        else:
                            alignment, normalized = CharAlignment(), CharAlignment()
                        if voice is None:
                            voice = self._voice_stream()
                        pcm = raw.pcm if voice is None else voice.process(raw.pcm)
                        yield self._chunk(self.chain.process(pcm), alignment, normalized, advance=duration)
                        if voice is not None and self.sentence_calls:
                            # A fresh transform stream per sentence, however the sentences were grouped into
                            # engine calls: the same audio whether they went ahead one by one or not.
                            yield from self._voice_tail(voice)
                            voice = None
                    if voice is not None:
                        yield from self._voice_tail(voice)
                finally:
                    _close(chunks)
                index += 1
        finally:
            if ahead is not None:
                ahead.close()
        if plan.timestamps and (orig_cursor < orig_end or norm_cursor < len(norm.text)):
            # Trailing characters the engine voiced no audio for (spaces, final punctuation, or text with
            # nothing to say) still get their times: zero length, at the end.
            yield self._chunk(
                b"",
                align_characters(plan.text, orig_cursor, orig_end, (), self.clock, self.clock),
                align_characters(norm.text, norm_cursor, len(norm.text), (), self.clock, self.clock),
            )


_CLAUSE = re.compile(r"[,;:\u2014]\s+")
_SENTENCE = re.compile(r"[.!?]\s")


def first_clause_end(text: str) -> int | None:
    """Where the first clause of the first sentence ends (after its punctuation and space), if it has one.

    Only splits inside the first sentence, and only when words remain on both sides.
    """
    sentence = _SENTENCE.search(text)
    limit = sentence.start() if sentence else len(text)
    clause = _CLAUSE.search(text, 0, limit)
    if clause is None or not text[: clause.start()].strip() or not text[clause.end() : limit].strip():
        return None
    return clause.end()


def _close(chunks: Iterator[Any]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def _shift(span: tuple[int, int], offset: int) -> tuple[int, int]:
    return span[0] + offset, span[1] + offset


def render(
    plan: RenderPlan,
    should_stop: Callable[[], bool] = lambda: False,
    pace: Callable[[float], None] | None = None,
    may_start_ahead: Callable[[], bool] = lambda: True,
) -> Iterator[RenderedChunk]:
    """Synthesise ``plan`` chunk by chunk (blocking; run it in a worker thread).

    ``pace``, when given, is called before each engine call with the seconds of audio rendered so far;
    it may block (see :class:`chorus.services.tts.FirstAudioFirst`). With an engine in worker processes
    (:class:`~chorus.engines.pool.PooledEngine`) whose sentences are independent, later sentences are
    synthesised ahead on idle workers while ``may_start_ahead()`` says so; the output is the same.
    """
    return _Renderer(plan, should_stop, pace, may_start_ahead).run()
