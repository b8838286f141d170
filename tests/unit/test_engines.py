"""The in-process engines: real speech, deterministic, safe from several threads, honest when missing."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from chorus.engines import EngineRegistry
from chorus.engines.base import (
    AudioChunk,
    EngineCapabilities,
    EngineUnavailable,
    EngineVoice,
    MappedText,
    SynthesisRequest,
    TTSEngine,
    UnknownVoice,
    sentence_spans,
    speakable_ascii,
    split_sentences,
    to_speakable_ascii,
)
from chorus.engines.espeak import EspeakEngine
from chorus.engines.flite import FliteEngine

SENTENCE = "The quick brown fox jumps over the lazy dog."  # 9 words
THREE_SENTENCES = "Good morning, everyone. The library opens at nine today. Please bring your card."


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    engine = EspeakEngine()
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "espeak-ng unavailable")
    return engine


@pytest.fixture(params=["flite", "espeak-ng"])
def engine(request: pytest.FixtureRequest) -> TTSEngine:
    return request.getfixturevalue("flite" if request.param == "flite" else "espeak")


def speak(engine: TTSEngine, text: str, voice: str, **options: object) -> bytes:
    return b"".join(chunk.pcm for chunk in engine.synthesize(SynthesisRequest(text, voice, **options)))  # type: ignore[arg-type]


def seconds(engine: TTSEngine, pcm: bytes) -> float:
    return len(pcm) / engine.output_format().bytes_per_second


def voice_ids(engine: TTSEngine) -> list[str]:
    return [voice.native_id for voice in engine.voices()]


# --- real speech ---------------------------------------------------------------------------------


def test_every_voice_speaks(engine: TTSEngine) -> None:
    for voice in voice_ids(engine):
        chunks = list(engine.synthesize(SynthesisRequest(SENTENCE, voice)))
        assert chunks, voice
        assert all(chunk.format == engine.output_format() for chunk in chunks)
        samples = np.frombuffer(b"".join(chunk.pcm for chunk in chunks), dtype="<i2").astype(np.float64)
        duration = len(samples) / engine.output_format().sample_rate
        # Nine words at an ordinary speaking rate (1.5 to 5 words a second, plus pauses).
        assert 1.5 <= duration <= 7.0, (voice, duration)
        rms_dbfs = 20 * np.log10(np.sqrt(np.mean(samples**2)) / 32768)
        assert -35 < rms_dbfs < -6, (voice, rms_dbfs)
        # Speech is mostly voiced and loud in its middle; silence or a click would not be.
        frame = engine.output_format().sample_rate // 50
        energies = [
            np.sqrt(np.mean(samples[i : i + frame] ** 2)) for i in range(0, len(samples) - frame, frame)
        ]
        assert np.mean(np.array(energies) > 300) > 0.4, voice


def test_output_is_deterministic_whatever_ran_before(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    first = speak(engine, THREE_SENTENCES, voice)
    speak(engine, "Something else entirely, to disturb any state left behind!", voice_ids(engine)[-1])
    assert speak(engine, THREE_SENTENCES, voice) == first


def test_one_chunk_per_sentence(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    chunks = list(engine.synthesize(SynthesisRequest(THREE_SENTENCES, voice)))
    assert len(chunks) == 3
    assert b"".join(chunk.pcm for chunk in chunks) == speak(engine, THREE_SENTENCES, voice)


def test_speed_changes_the_speaking_rate(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    slow = seconds(engine, speak(engine, SENTENCE, voice, speed=0.7))
    normal = seconds(engine, speak(engine, SENTENCE, voice))
    fast = seconds(engine, speak(engine, SENTENCE, voice, speed=1.2))
    assert fast < normal < slow
    assert fast / slow == pytest.approx(0.7 / 1.2, rel=0.2)


def test_nothing_to_say_yields_nothing(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    for text in ("", "   ", "...", " - ! ?"):
        assert list(engine.synthesize(SynthesisRequest(text, voice))) == []


def test_unknown_voice_is_refused_before_any_audio(engine: TTSEngine) -> None:
    with pytest.raises(UnknownVoice):
        engine.synthesize(SynthesisRequest(SENTENCE, "no-such-voice"))  # raises on the call itself


def test_voices_are_described(engine: TTSEngine) -> None:
    voices = engine.voices()
    assert len(voices) >= 3
    assert len({voice.native_id for voice in voices}) == len(voices)
    assert len({voice.name for voice in voices}) == len(voices)
    assert {voice.gender for voice in voices} == {"male", "female"}
    for voice in voices:
        assert isinstance(voice, EngineVoice)
        assert voice.engine == engine.name
        assert voice.age in {"young", "middle_aged", "old"}
        assert voice.language == "en"
        assert voice.name and voice.accent and voice.description and voice.use_case
    assert ("en", "English") in engine.languages()


def test_capabilities(engine: TTSEngine) -> None:
    capabilities = engine.capabilities()
    assert isinstance(capabilities, EngineCapabilities)
    assert capabilities.streaming_output and capabilities.timestamps and not capabilities.streaming_input
    assert "en" in capabilities.languages
    assert capabilities.languages == tuple(code for code, _ in engine.languages())
    assert capabilities.sample_rate == engine.output_format().sample_rate


# --- word timings and text spans -----------------------------------------------------------------

# A word as a reader sees it: letters and digits, with inner apostrophes ("it's", "don’t").
WORD = re.compile(r"\w+(?:['’]\w+)*")
TIMED_TEXTS = [
    SENTENCE,
    THREE_SENTENCES,
    "It's 5 o'clock; we've 12 apples (and 3 pears)! “Really?” she asked.",
    "Café naïve — 2 cats.",
]


def timed(engine: TTSEngine, text: str, voice: str, **options: object) -> list[AudioChunk]:
    return list(engine.synthesize(SynthesisRequest(text, voice, **options)))  # type: ignore[arg-type]


def check_timeline(text: str, chunks: list[AudioChunk]) -> None:
    """Chunks tile the text; words are in order, inside their chunk's stretch of audio, not overlapping."""
    assert chunks
    assert chunks[0].text_start == len(text) - len(text.lstrip())
    assert chunks[-1].text_end == len(text.rstrip())
    elapsed = 0.0
    previous_end_s = 0.0
    previous_char = 0
    for index, chunk in enumerate(chunks):
        if index:
            assert chunk.text_start == chunks[index - 1].text_end
        assert chunk.text_start < chunk.text_end
        chunk_end = elapsed + chunk.duration_s
        assert chunk.words, "every sentence has words"
        for word in chunk.words:
            assert chunk.text_start <= word.char_start < word.char_end <= chunk.text_end
            assert word.char_start >= previous_char
            assert elapsed - 1e-9 <= word.start_s <= word.end_s <= chunk_end + 1e-9
            assert word.start_s >= previous_end_s - 1e-9
            previous_end_s, previous_char = word.end_s, word.char_end
        elapsed = chunk_end


def test_every_word_is_timed_on_every_voice(engine: TTSEngine) -> None:
    for voice in voice_ids(engine):
        for text in TIMED_TEXTS:
            chunks = timed(engine, text, voice)
            check_timeline(text, chunks)
            spoken = [text[w.char_start : w.char_end] for chunk in chunks for w in chunk.words]
            assert spoken == WORD.findall(text), (voice, text)
            total = sum(chunk.duration_s for chunk in chunks)
            assert chunks[-1].words[-1].end_s <= total


def test_word_timings_are_plausibly_placed(engine: TTSEngine) -> None:
    text = "one two three four five six seven eight nine ten"
    for voice in voice_ids(engine):
        (chunk,) = timed(engine, text, voice)
        words = {text[w.char_start : w.char_end]: w for w in chunk.words}
        five = words["five"]
        assert 0.3 < (five.start_s + five.end_s) / 2 / chunk.duration_s < 0.6, voice
        # Words take a plausible share of the audio: none instantaneous, none most of it.
        for word in chunk.words:
            assert 0.05 < word.end_s - word.start_s < 0.5 * chunk.duration_s, (voice, word)
        assert words["one"].start_s < 0.5 and words["ten"].end_s > 0.7 * chunk.duration_s


def test_word_timings_follow_the_pauses(engine: TTSEngine) -> None:
    # The comma's pause lies between "Hello" and "world": the audio there is quieter than in the words.
    text = "Hello, world."
    voice = voice_ids(engine)[0]
    (chunk,) = timed(engine, text, voice)
    hello, world = chunk.words
    assert world.start_s - hello.end_s > 0.05
    rate = chunk.format.sample_rate
    samples = np.frombuffer(chunk.pcm, dtype="<i2").astype(np.float64)

    def level(start_s: float, end_s: float) -> float:
        return float(np.sqrt(np.mean(samples[int(start_s * rate) : int(end_s * rate)] ** 2)))

    pause = level(hello.end_s, world.start_s)
    assert pause < 0.25 * level(hello.start_s, hello.end_s)
    assert pause < 0.25 * level(world.start_s, world.end_s)


def test_times_continue_across_chunks(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    chunks = timed(engine, THREE_SENTENCES, voice)
    assert len(chunks) == 3
    check_timeline(THREE_SENTENCES, chunks)
    assert [THREE_SENTENCES[c.text_start : c.text_end] for c in chunks] == [
        "Good morning, everyone. ",
        "The library opens at nine today. ",
        "Please bring your card.",
    ]
    first_duration = chunks[0].duration_s
    assert chunks[1].words[0].start_s >= first_duration
    assert chunks[2].words[-1].end_s > first_duration + chunks[1].duration_s


def test_offsets_refer_to_the_callers_text(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    text = "  Café naïve — 2 cats.\n\n½ “quoted” don’t… 50% off\x00 now! "
    chunks = timed(engine, text, voice)
    check_timeline(text, chunks)
    spoken = [text[w.char_start : w.char_end] for chunk in chunks for w in chunk.words]
    assert spoken == ["Café", "naïve", "2", "cats", "½", "quoted", "don’t", "50%", "off", "now"]
    assert text[chunks[0].text_start : chunks[0].text_end].strip() == "Café naïve — 2 cats."


def test_abbreviations_keep_their_words_apart(engine: TTSEngine) -> None:
    # eSpeak reports the word after an abbreviation at the space before it; it still belongs to it.
    text = "St. Louis and Dr. Smith met in the U.S.A. today, e.g. at 5 p.m."
    for voice in voice_ids(engine)[:2]:
        chunks = timed(engine, text, voice)
        check_timeline(text, chunks)
        spoken = [text[w.char_start : w.char_end] for chunk in chunks for w in chunk.words]
        assert spoken == [
            "St",
            "Louis",
            "and",
            "Dr",
            "Smith",
            "met",
            "in",
            "the",
            "U.S.A",
            "today",
            "e.g",
            "at",
            "5",
            "p.m",
        ], voice


def test_numbers_read_as_several_words_are_one_timing(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    text = "It costs $1,234.50 today."
    (chunk,) = timed(engine, text, voice)
    spoken = [text[w.char_start : w.char_end] for w in chunk.words]
    assert spoken == ["It", "costs", "$1,234.50", "today"]
    amount = chunk.words[2]
    assert amount.end_s - amount.start_s > 0.4 * chunk.duration_s  # "one thousand two hundred ..."


def test_timings_and_spans_are_deterministic(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[-1]
    assert timed(engine, THREE_SENTENCES, voice, speed=1.2) == timed(
        engine, THREE_SENTENCES, voice, speed=1.2
    )
    slow = timed(engine, SENTENCE, voice, speed=0.7)[0].words
    fast = timed(engine, SENTENCE, voice, speed=1.2)[0].words
    assert fast[-1].end_s < slow[-1].end_s


# --- concurrency -----------------------------------------------------------------------------------


def test_concurrent_synthesis_equals_serial(flite: FliteEngine, espeak: EspeakEngine) -> None:
    jobs: list[tuple[TTSEngine, str, str]] = []
    texts = [THREE_SENTENCES, SENTENCE, "Four threads are speaking at once, and none of them should notice."]
    for index, (engine, voice) in enumerate(
        [(flite, v) for v in voice_ids(flite)] + [(espeak, v) for v in voice_ids(espeak)[:2]]
    ):
        jobs.append((engine, voice, texts[index % len(texts)]))
    serial = [speak(engine, text, voice) for engine, voice, text in jobs]

    results: dict[int, bytes] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(offset: int) -> None:
        try:
            barrier.wait()
            for index in range(offset, len(jobs), 4):
                engine, voice, text = jobs[index]
                results[index] = speak(engine, text, voice)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert [results[index] for index in range(len(jobs))] == serial


def test_the_same_voice_from_four_threads(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    expected = speak(engine, SENTENCE, voice)
    outputs: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: outputs.append(speak(engine, SENTENCE, voice))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outputs == [expected] * 4


# --- engine specifics ----------------------------------------------------------------------------


def test_flite_voices_and_seed(flite: FliteEngine) -> None:
    assert set(voice_ids(flite)) == {"rms", "awb", "slt", "kal16"}
    assert flite.output_format().sample_rate == 16_000
    # The clustergen vocoder's noise comes from the seed: a new seed, new noise, same timing.
    one = speak(flite, SENTENCE, "slt", seed=1)
    two = speak(flite, SENTENCE, "slt", seed=2)
    assert one != two and len(one) == len(two)
    assert speak(flite, SENTENCE, "slt", seed=1) == one


def test_flite_reads_non_ascii_text_and_ignores_language_hints(flite: FliteEngine) -> None:
    text = "The café served crème brûlée — “delicious”, she said."
    assert seconds(flite, speak(flite, text, "rms")) > 1.5
    assert speak(flite, text, "rms", language="de") == speak(flite, text, "rms")
    assert flite.languages() == [("en", "English")]


def test_espeak_language_hint_switches_language_and_keeps_the_variant(espeak: EspeakEngine) -> None:
    languages = dict(espeak.languages())
    assert {"de", "fr", "es", "it"} <= set(languages)
    assert languages["de"] == "German" and languages["fr"] == "French"
    # ISO 639-1 codes, and ISO 639-3 ones for languages that have no two-letter code (yue, haw).
    assert all(len(code) in (2, 3) and code.isalpha() for code in languages)

    text = "Guten Morgen, wie geht es Ihnen heute?"
    english = speak(espeak, text, "en-us+f5")
    german = speak(espeak, text, "en-us+f5", language="de")
    assert german and german != english
    assert speak(espeak, text, "gmw/de+f5") == german  # the same as naming the German voice
    # A language it does not have is ignored rather than refused.
    assert speak(espeak, SENTENCE, "en-us+f5", language="xx") == speak(espeak, SENTENCE, "en-us+f5")


def test_espeak_stability_changes_pitch_not_timing(espeak: EspeakEngine) -> None:
    steady = speak(espeak, SENTENCE, "en-us+m1", stability=1.0)
    lively = speak(espeak, SENTENCE, "en-us+m1", stability=0.0)
    default = speak(espeak, SENTENCE, "en-us+m1")
    assert len({steady, lively, default}) == 3
    assert seconds(espeak, steady) == pytest.approx(seconds(espeak, lively), rel=0.05)


# --- unavailable engines -------------------------------------------------------------------------


def test_missing_flite_is_reported_not_raised() -> None:
    engine = FliteEngine(library="libflite-missing.so.1")
    assert not engine.available()
    reason = engine.unavailable_reason() or ""
    assert "flite" in reason and "apt-get install libflite1" in reason
    assert engine.voices() == [] and engine.languages() == []
    with pytest.raises(EngineUnavailable, match="flite"):
        list(engine.synthesize(SynthesisRequest(SENTENCE, "rms")))


def test_missing_espeak_is_reported_not_raised() -> None:
    engine = EspeakEngine(library="libespeak-ng-missing.so.1")
    assert not engine.available()
    reason = engine.unavailable_reason() or ""
    assert "espeak-ng" in reason and "apt-get install libespeak-ng1 espeak-ng-data" in reason
    assert engine.voices() == [] and engine.languages() == []
    with pytest.raises(EngineUnavailable, match="espeak-ng"):
        list(engine.synthesize(SynthesisRequest(SENTENCE, "en-us+f5")))


# --- registry ------------------------------------------------------------------------------------


def test_registry_builds_named_engines() -> None:
    registry = EngineRegistry.from_names(["flite", "espeak", "espeak-ng", "nonsense"])
    assert registry.names() == ["flite", "espeak-ng", "nonsense"]
    status = registry.status()
    assert "unknown engine 'nonsense'" in (status["nonsense"] or "")
    available = {engine.name for engine in registry.available()}
    assert "nonsense" not in available
    assert registry.get("missing") is None
    assert registry.get("espeak") is registry.get("espeak-ng")
    voices = registry.all_voices()
    assert {voice.engine for voice in voices} == available
    for name in available:
        engine = registry[name]
        assert status[name] is None
        assert registry.find_voice(name, engine.voices()[0].native_id) == engine.voices()[0]


def test_registry_reports_unavailable_engines() -> None:
    class Settings:
        engines = ["flite", "espeak-ng"]
        flite_library = "libflite-missing.so.1"
        espeak_library = "libespeak-ng-missing.so.1"

    registry = EngineRegistry.from_settings(Settings())
    assert registry.available() == [] and registry.all_voices() == []
    assert all(reason and "apt-get install" in reason for reason in registry.status().values())


def test_importing_the_engines_loads_nothing_heavy() -> None:
    code = (
        "import sys, chorus.engines, chorus.engines.registry; "
        "heavy = [m for m in ('torch', 'chorus.engines.flite', 'chorus.engines.espeak') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- text helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
        ("Dr. Smith paid $3.50 at 5 p.m. today.", ["Dr. Smith paid $3.50 at 5 p.m. today."]),
        ("J. R. R. Tolkien wrote it. Really…  Yes.", ["J. R. R. Tolkien wrote it.", "Really…", "Yes."]),
        ("“Stop!” she said. He did.", ["“Stop!”", "she said.", "He did."]),
        ("First paragraph\r\n\r\nSecond paragraph", ["First paragraph", "Second paragraph"]),
        ("你好。今天天气很好！", ["你好。", "今天天气很好！"]),
        ("Null\x00 and \u202eoverride", ["Null and override"]),
        ("  ... !  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_breaks_run_on_text() -> None:
    text = ", ".join(f"clause number {i} goes on" for i in range(40)) + "."
    pieces = split_sentences(text, max_chars=120)
    assert all(len(piece) <= 120 for piece in pieces)
    assert " ".join(pieces).split() == text.split()


def test_control_characters_are_not_spoken(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    assert speak(engine, "Hello\x00 world\u202e.", voice) == speak(engine, "Hello world.", voice)


def test_to_speakable_ascii() -> None:
    assert to_speakable_ascii("Café – “naïve” 50% £5…") == 'Cafe - "naive" 50 percent pounds 5...'
    assert to_speakable_ascii("日本語") == ""


def test_mapped_text_remembers_where_characters_came_from() -> None:
    text = "  Café\x00 naïve —\n 50%.\n\nNext  one here. "
    sentences = sentence_spans(text)
    assert [s.text for s in sentences] == split_sentences(text) == ["Café naïve — 50%.", "Next one here."]
    assert [text[slice(*s.span())] for s in sentences] == ["Café\x00 naïve —\n 50%.", "Next  one here."]
    spoken = speakable_ascii(sentences[0])
    assert spoken.text == "Cafe naive - 50 percent ."
    assert text[slice(*spoken.span(0, 4))] == "Café"
    assert text[slice(*spoken.span(11, 12))] == "—"  # the "-" came from the dash
    assert text[slice(*spoken.span(16, 23))] == "%"  # "percent" came from "%"
    mapped = MappedText("a  b")
    assert mapped.span(2, 2) == (2, 2) and mapped.span(0, 4) == (0, 4)


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() <= before


# --- pitch and pitch range -----------------------------------------------------------------------

PITCH_TEXT = "The quick brown fox jumps over the lazy dog. Good morning, everyone, and welcome back."


def f0_track(pcm: bytes, sample_rate: int, fmin: float = 60.0, fmax: float = 450.0) -> np.ndarray:
    """The F0 (Hz) of each voiced 10 ms frame, by YIN (de Cheveigné & Kawahara, 2002).

    A frame is voiced when it is loud enough and its cumulative-mean-normalised difference dips
    below 0.15 at some lag; the first such dip (refined to its minimum and interpolated) is the period.
    """
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    max_lag = int(sample_rate / fmin) + 2
    width = int(0.025 * sample_rate)
    hop = int(0.01 * sample_rate)
    size = width + max_lag
    if len(x) < size:
        return np.array([])
    count = (len(x) - size) // hop + 1
    frames = x[np.arange(size)[None, :] + hop * np.arange(count)[:, None]]
    frames -= frames.mean(axis=1, keepdims=True)
    head = frames[:, :width]
    loudness = np.sqrt((head**2).mean(axis=1))
    loud = loudness > 0.05 * np.percentile(loudness, 95)
    # d(lag) = sum over the window of (x[j] - x[j + lag])^2, from running sums and one correlation.
    n_fft = 1 << int(np.ceil(np.log2(size + width)))
    cross = np.fft.irfft(np.fft.rfft(frames, n_fft) * np.conj(np.fft.rfft(head, n_fft)), n_fft)[:, :max_lag]
    running = np.concatenate([np.zeros((count, 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(max_lag)
    diff = running[:, width : width + 1] + running[:, lags + width] - running[:, lags] - 2 * cross
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * lags[1:] / np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12)
    low = int(sample_rate / fmax)
    f0: list[float] = []
    for index in np.nonzero(loud)[0]:
        curve = cmnd[index]
        dips = np.nonzero(curve[low : max_lag - 1] < 0.15)[0]
        if not dips.size:
            continue
        lag = int(dips[0]) + low
        while lag + 2 < max_lag and curve[lag + 1] < curve[lag]:
            lag += 1
        before, at, after = curve[lag - 1], curve[lag], curve[lag + 1]
        bend = before - 2 * at + after
        shift = 0.5 * (before - after) / bend if abs(bend) > 1e-12 else 0.0
        f0.append(sample_rate / (lag + max(-1.0, min(1.0, shift))))
    return np.array(f0)


def pitch_of(engine: TTSEngine, voice: str, **options: object) -> tuple[float, float]:
    """Median F0 (Hz) and spread (standard deviation in semitones) of PITCH_TEXT."""
    f0 = f0_track(speak(engine, PITCH_TEXT, voice, **options), engine.output_format().sample_rate)
    assert len(f0) > 30, (voice, options)
    median = float(np.median(f0))
    return median, float(np.std(12 * np.log2(f0 / median)))


def test_f0_tracker_measures_a_known_tone() -> None:
    rate = 16_000
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 150 * t) + 0.5 * np.sin(2 * np.pi * 300 * t) + 0.3 * np.sin(2 * np.pi * 450 * t)
    f0 = f0_track((tone * 8000).astype("<i2").tobytes(), rate)
    assert len(f0) > 80 and np.median(f0) == pytest.approx(150, rel=0.01)


def test_pitch_raises_and_lowers_the_voice(engine: TTSEngine) -> None:
    for voice in voice_ids(engine):
        natural, _ = pitch_of(engine, voice)
        higher, _ = pitch_of(engine, voice, pitch=1.3)
        lower, _ = pitch_of(engine, voice, pitch=0.8)
        assert higher > natural * 1.15, (voice, natural, higher)
        assert lower < natural * 0.9, (voice, natural, lower)


def test_pitch_range_narrows_and_widens_the_melody(engine: TTSEngine) -> None:
    for voice in voice_ids(engine):
        _, natural = pitch_of(engine, voice)
        _, narrow = pitch_of(engine, voice, pitch_range=0.3)
        _, wide = pitch_of(engine, voice, pitch_range=2.0)
        assert narrow < natural * 0.9, (voice, natural, narrow)
        assert wide > natural * 1.2, (voice, natural, wide)


def test_pitch_changes_pitch_not_timing(engine: TTSEngine) -> None:
    for voice in voice_ids(engine):
        plain = timed(engine, SENTENCE, voice)
        tagged = timed(engine, SENTENCE, voice, pitch=1.1, pitch_range=1.4)  # eleven_v3's [excited]
        assert b"".join(c.pcm for c in plain) != b"".join(c.pcm for c in tagged), voice
        plain_s = sum(c.duration_s for c in plain)
        assert sum(c.duration_s for c in tagged) == pytest.approx(plain_s, rel=0.03), voice
        assert [(w.char_start, w.char_end) for c in tagged for w in c.words] == [
            (w.char_start, w.char_end) for c in plain for w in c.words
        ]


def test_pitch_settings_are_clamped_and_neutral_by_default(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    default = speak(engine, SENTENCE, voice)
    assert speak(engine, SENTENCE, voice, pitch=1.0, pitch_range=1.0) == default
    assert speak(engine, SENTENCE, voice, pitch=float("nan"), pitch_range=float("nan")) == default
    assert speak(engine, SENTENCE, voice, pitch=9.0) == speak(engine, SENTENCE, voice, pitch=2.0)
    assert speak(engine, SENTENCE, voice, pitch=0.1) == speak(engine, SENTENCE, voice, pitch=0.5)
    assert speak(engine, SENTENCE, voice, pitch_range=-1) == speak(engine, SENTENCE, voice, pitch_range=0.0)
    tagged = speak(engine, SENTENCE, voice, pitch=0.92, pitch_range=0.7, seed=5)  # eleven_v3's [sad]
    assert tagged == speak(engine, SENTENCE, voice, pitch=0.92, pitch_range=0.7, seed=5)


def test_pitch_range_combines_with_stability(engine: TTSEngine) -> None:
    voice = "slt" if engine.name == "flite" else "en-us+m1"  # (rms ignores stability, as before)
    _, steady = pitch_of(engine, voice, stability=1.0)
    _, steadier = pitch_of(engine, voice, stability=1.0, pitch_range=0.5)
    _, lively = pitch_of(engine, voice, stability=0.0, pitch_range=1.5)
    assert steadier < steady * 0.8 < lively, (steadier, steady, lively)
