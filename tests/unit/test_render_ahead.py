"""Sentence by sentence engine calls, started ahead on idle engine workers: same audio, same times."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from chorus.engines.base import AudioChunk, EngineCapabilities, PCMFormat, SynthesisRequest, TTSEngine
from chorus.engines.pool import PooledEngine
from chorus.engines.registry import EngineRegistry, EngineSpec
from chorus.services.render import RenderPlan, render

TEXT = (
    "Hello there, my friend. How are you today? I am fine!  Dr. Smith paid $5.20 on Jan. 3rd, 2021.\n\n"
    "New paragraph... yes. ... Okay. (Twenty-one items, e.g. apples.)"
)
LONG = " ".join(f"Sentence number {n} has a few words in it." for n in range(10))


class OneCall:
    """The wrapped engine, but declaring its sentences dependent: the renderer then makes one call per
    text piece (the behaviour before sentence calls), the reference the sentence calls must match."""

    def __init__(self, engine: TTSEngine) -> None:
        self._engine = engine
        self.name = engine.name

    def output_format(self) -> PCMFormat:
        return self._engine.output_format()

    def capabilities(self) -> EngineCapabilities:
        return replace(self._engine.capabilities(), independent_sentences=False)

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        return self._engine.synthesize(request)


class AlwaysIdle:
    """The wrapped in-process engine as if idle workers could always take sentences ahead (they run when
    their turn comes): the renderer then calls the engine sentence by sentence."""

    def __init__(self, engine: TTSEngine) -> None:
        self._engine = engine
        self.name = engine.name
        self.calls: list[str] = []

    def output_format(self) -> PCMFormat:
        return self._engine.output_format()

    def capabilities(self) -> EngineCapabilities:
        return self._engine.capabilities()

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        self.calls.append(request.text)
        return self._engine.synthesize(request)

    def try_synthesize(
        self, request: SynthesisRequest, on_finished: Callable[[], None] | None = None
    ) -> Iterator[AudioChunk] | None:
        return self.synthesize(request)

    def idle_workers(self) -> int:
        return 2


def rendered(engine: Any, text: str, voice: str, **options: Any) -> tuple[bytes, list[Any], list[Any]]:
    plan = RenderPlan(text=text, engine=engine, native_voice=voice, language="en", settings={}, **options)
    pcm, alignment, normalized = b"", [], []
    for chunk in render(plan):
        pcm += chunk.pcm
        alignment.append(chunk.alignment.to_http())
        normalized.append(chunk.normalized_alignment.to_http())
    return pcm, alignment, normalized


@pytest.fixture(scope="module")
def engines() -> Iterator[EngineRegistry]:
    registry = EngineRegistry.from_names(["flite", "espeak-ng"])
    for engine in registry:
        if not engine.available():
            pytest.skip(engine.unavailable_reason() or f"{engine.name} unavailable")
    yield registry
    registry.close()


@pytest.mark.parametrize(("name", "voice"), [("flite", "kal16"), ("flite", "slt"), ("espeak-ng", "en-us+f5")])
@pytest.mark.parametrize("options", [{}, {"seed": 7}, {"early_first_chunk": True}])
def test_sentence_calls_give_the_same_audio_and_times_as_one_call(
    engines: EngineRegistry, name: str, voice: str, options: dict[str, Any]
) -> None:
    engine = engines[name]
    assert engine.capabilities().independent_sentences
    together = rendered(OneCall(engine), TEXT, voice, **options)
    sentence_by_sentence = AlwaysIdle(engine)
    apart = rendered(sentence_by_sentence, TEXT, voice, **options)
    assert len(sentence_by_sentence.calls) >= 8
    # In process nobody can work ahead: one call per text piece, as before sentence calls existed.
    assert rendered(engine, TEXT, voice, **options) == together
    assert apart[0] == together[0]
    # Chunk by chunk: the same characters in each (the space between sentences with the earlier one) and
    # the same times (to the millisecond, as the API gives them).
    assert apart[1] == together[1]
    assert apart[2] == together[2]


class Counting:
    """A pooled engine that counts the engine calls it started ahead."""

    def __init__(self, pool: PooledEngine) -> None:
        self.pool = pool
        self.name = pool.name
        self.ahead = 0

    def output_format(self) -> PCMFormat:
        return self.pool.output_format()

    def capabilities(self) -> EngineCapabilities:
        return self.pool.capabilities()

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        return self.pool.synthesize(request)

    def try_synthesize(
        self, request: SynthesisRequest, on_finished: Callable[[], None] | None = None
    ) -> Iterator[AudioChunk] | None:
        stream = self.pool.try_synthesize(request, on_finished)
        self.ahead += stream is not None
        return stream

    def idle_workers(self) -> int:
        return self.pool.idle_workers()


def test_a_pooled_engine_synthesises_later_sentences_ahead_with_the_same_output(
    engines: EngineRegistry,
) -> None:
    expected = rendered(engines["flite"], LONG, "kal16")
    with PooledEngine(EngineSpec("flite"), 2) as pool:
        counting = Counting(pool)
        assert rendered(counting, LONG, "kal16") == expected
        assert counting.ahead >= 5  # ten sentences, a second worker idle: most went ahead
        # Not while the caller says no (another job waits for its first audio).
        counting.ahead = 0
        plan = RenderPlan(text=LONG, engine=counting, native_voice="kal16", language="en", settings={})
        assert b"".join(c.pcm for c in render(plan, may_start_ahead=lambda: False)) == expected[0]
        assert counting.ahead == 0


class Fake:
    """An engine with independent sentences, 0.1 s of silence per sentence, that records its calls."""

    name = "fake"

    def __init__(self) -> None:
        self.started: list[str] = []
        self.closed: list[str] = []

    def output_format(self) -> PCMFormat:
        return PCMFormat(16_000)

    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities(True, False, False, ("en",), 16_000, independent_sentences=True)

    def _stream(self, text: str) -> Iterator[AudioChunk]:
        chunks = iter([AudioChunk(b"\x00\x00" * 1_600, PCMFormat(16_000), 0, len(text.rstrip()), ())])
        closed = self.closed

        class Stream(Iterator[AudioChunk]):
            def __next__(self) -> AudioChunk:
                return next(chunks)

            def close(self) -> None:
                closed.append(text)

        return Stream()

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        self.started.append(request.text)
        return self._stream(request.text)

    def try_synthesize(
        self, request: SynthesisRequest, on_finished: Callable[[], None] | None = None
    ) -> Iterator[AudioChunk] | None:
        return self.synthesize(request)

    def idle_workers(self) -> int:
        return 4


def test_calls_started_ahead_are_closed_when_the_render_stops_early() -> None:
    engine = Fake()
    plan = RenderPlan(text=LONG, engine=engine, native_voice="x", language="en", settings={})
    chunks = render(plan)
    next(chunks)
    # The first sentence's call and up to three ahead of it.
    assert len(engine.started) == 4
    assert [text.split()[2] for text in engine.started] == ["zero", "one", "two", "three"]
    chunks.close()  # type: ignore[attr-defined]
    assert sorted(engine.closed) == sorted(engine.started)


def test_a_single_sentence_or_a_given_pronunciation_is_one_call() -> None:
    engine = Fake()
    plan = RenderPlan(
        text="Just one sentence here.", engine=engine, native_voice="x", language="en", settings={}
    )
    list(render(plan))
    assert engine.started == ["Just one sentence here."]
    engine.started.clear()
    plan = replace(plan, text='Say <phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato. Again.</phoneme> now.')
    list(render(plan))
    assert "tomato. Again." in engine.started


@pytest.mark.parametrize("options", [{}, {"early_first_chunk": True}])
def test_without_timestamps_the_audio_is_the_same_and_chunks_carry_no_times(
    engines: EngineRegistry, options: dict[str, Any]
) -> None:
    text = TEXT + ' Then <break time="0.4s"/> a pause.'
    pcm, alignment, normalized = rendered(engines["espeak-ng"], text, "en-us+f5", **options)
    assert sum(len(a["characters"]) for a in alignment) == len(text)  # with times: every character
    bare, bare_alignment, bare_normalized = rendered(
        engines["espeak-ng"], text, "en-us+f5", timestamps=False, **options
    )
    assert bare == pcm
    assert all(not a["characters"] for a in bare_alignment + bare_normalized)


def test_a_voice_transform_gives_the_same_audio_sentence_by_sentence_or_in_one_call(
    engines: EngineRegistry,
) -> None:
    """The transform's DSP restarts at every sentence however the sentences were grouped into engine
    calls, so a saved voice's output does not depend on whether idle workers took sentences ahead."""
    from chorus.voicelab.voice_model import VoiceTransform

    transform = VoiceTransform(formant_shift=1.12, tilt_db_per_octave=-1.5, breathiness=0.3, seed=3)
    engine = engines["flite"]
    text = "The first sentence is short. The second one is a little longer than that. A third!"
    merged = rendered(engine, text, "slt", transform=transform)
    split = AlwaysIdle(engine)
    assert rendered(split, text, "slt", transform=transform) == merged
    assert len(split.calls) == 3
    assert merged[0] != rendered(engine, text, "slt")[0]  # the transform did something


def test_without_idle_workers_the_rest_of_the_text_is_one_call(engines: EngineRegistry) -> None:
    expected = rendered(engines["flite"], TEXT, "kal16", early_first_chunk=True)
    with PooledEngine(EngineSpec("flite"), 1) as pool:
        counting = Counting(pool)
        calls: list[str] = []
        original = pool.synthesize

        def synthesize(request: SynthesisRequest) -> Iterator[AudioChunk]:
            calls.append(request.text)
            return original(request)

        counting.synthesize = synthesize  # type: ignore[method-assign]
        assert rendered(counting, TEXT, "kal16", early_first_chunk=True) == expected
        assert counting.ahead == 0
        assert [call.split()[:2] for call in calls] == [
            ["Hello", "there,"],
            ["my", "friend."],
        ]  # the first clause on its own, then everything else in one call
