"""Given pronunciations: the phoneme tables, and engines speaking exactly the phonemes they are given."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator

import numpy as np
import pytest

from chorus.engines.base import AudioChunk, SynthesisRequest, TTSEngine
from chorus.engines.espeak import EspeakEngine
from chorus.engines.flite import FliteEngine
from chorus.engines.phonemes import (
    arpabet_phones,
    arpabet_to_espeak,
    arpabet_to_ipa,
    espeak_mnemonics,
    flite_phones,
    format_arpabet,
    guess_alphabet,
    ipa_to_arpabet,
    ipa_to_espeak,
    to_arpabet,
)
from chorus.engines.pool import PooledEngine
from chorus.engines.registry import EngineSpec

# Common English words and their CMU Pronouncing Dictionary entries (first pronunciation).
WORDS = {
    "hello": "HH AH0 L OW1", "world": "W ER1 L D", "tomato": "T AH0 M EY1 T OW2", "water": "W AO1 T ER0",
    "father": "F AA1 DH ER0", "mother": "M AH1 DH ER0", "cat": "K AE1 T", "dog": "D AO1 G",
    "house": "HH AW1 S", "time": "T AY1 M", "boy": "B OY1", "book": "B UH1 K", "food": "F UW1 D",
    "red": "R EH1 D", "green": "G R IY1 N", "blue": "B L UW1", "yellow": "Y EH1 L OW0", "good": "G UH1 D",
    "night": "N AY1 T", "morning": "M AO1 R N IH0 NG", "thank": "TH AE1 NG K", "think": "TH IH1 NG K",
    "this": "DH IH1 S", "church": "CH ER1 CH", "judge": "JH AH1 JH", "measure": "M EH1 ZH ER0",
    "ship": "SH IH1 P", "vision": "V IH1 ZH AH0 N", "zoo": "Z UW1", "sing": "S IH1 NG",
    "computer": "K AH0 M P Y UW1 T ER0", "telephone": "T EH1 L AH0 F OW2 N", "banana": "B AH0 N AE1 N AH0",
    "potato": "P AH0 T EY1 T OW2", "beautiful": "B Y UW1 T AH0 F AH0 L", "question": "K W EH1 S CH AH0 N",
    "yesterday": "Y EH1 S T ER0 D EY2", "about": "AH0 B AW1 T", "people": "P IY1 P AH0 L",
    "apple": "AE1 P AH0 L", "seven": "S EH1 V AH0 N", "twelve": "T W EH1 L V", "quick": "K W IH1 K",
    "brown": "B R AW1 N", "fox": "F AA1 K S", "jump": "JH AH1 M P", "voice": "V OY1 S",
    "music": "M Y UW1 Z IH0 K", "happy": "HH AE1 P IY0", "window": "W IH1 N D OW0",
    "garden": "G AA1 R D AH0 N", "teacher": "T IY1 CH ER0", "pleasure": "P L EH1 ZH ER0",
    "strong": "S T R AO1 NG", "yes": "Y EH1 S", "away": "AH0 W EY1", "nothing": "N AH1 TH IH0 NG",
    "together": "T AH0 G EH1 DH ER0",
}  # fmt: skip

BRITISH_TOMATO = "ˈtɒmɑːtoʊ"  # as in the SSML example
AMERICAN_TOMATO = "T AH0 M EY1 T OW2"
HELLO_IPA = "həˈloʊ"
HELLO_ARPABET = "HH AH0 L OW1"


def without_stress(ipa: str) -> str:
    return ipa.replace("ˈ", "").replace("ˌ", "")


# --- the tables -----------------------------------------------------------------------------------


@pytest.mark.parametrize("word", sorted(WORDS))
def test_arpabet_round_trips_through_ipa(word: str) -> None:
    arpabet = WORDS[word]
    assert ipa_to_arpabet(arpabet_to_ipa(arpabet)) == arpabet
    assert format_arpabet(arpabet_phones(arpabet.lower())) == arpabet


def test_ipa_reading() -> None:
    assert arpabet_to_ipa("T AH0 M EY1 T OW2") == "təˈmeɪˌtoʊ"
    assert arpabet_to_ipa("K AH0 M P Y UW1 T ER0") == "kəmˈpjutɚ"  # the stress mark before the onset
    assert ipa_to_arpabet("təˈmɑːtəʊ") == "T AH0 M AA1 T OW0"
    assert ipa_to_arpabet("ˈtɒmɑːtoʊ") == "T AA1 M AA0 T OW0"
    assert ipa_to_arpabet("t͡ʃɜːtʃ") == "CH ER0 CH"  # tie bars; no marks, no stress
    assert ipa_to_arpabet("ˈbʌtn̩") == "B AH1 T AH0 N"  # syllabic consonant
    assert ipa_to_arpabet("ˈbʌtər") == "B AH1 T ER0"  # r-coloured schwa written with r
    assert ipa_to_arpabet("əˈraɪv") == ipa_to_arpabet("ərˈaɪv") == "AH0 R AY1 V"  # but not before a vowel
    assert ipa_to_arpabet("ˈnɪə") == ipa_to_arpabet("ˈnɪəɹ") == "N IH1 R"  # centring diphthong
    assert ipa_to_arpabet("ˈhæ̃p:i") == "HH AE1 P IY0"  # diacritics ignored, ASCII length mark
    assert ipa_to_arpabet("'kæt") == "K AE1 T"  # ASCII apostrophe for primary stress


def test_extended_arpabet_and_missing_digits() -> None:
    assert to_arpabet("AX B AW1 T", "cmu-arpabet") == "AH0 B AW1 T"
    assert to_arpabet("B AA1 T EL", "cmu-arpabet") == "B AA1 T AH0 L"
    # Without stress digits engines stress the first full vowel.
    assert flite_phones("hh ah l ow", "cmu-arpabet") == ["hh", "ax0", "l", "ow1"]
    assert flite_phones("kæt", "ipa") == ["k", "ae1", "t"]
    assert ipa_to_espeak("kæt") == "k|'a|t"


def test_flite_phones_match_its_lexicon_conventions() -> None:
    # Flite's CMU lexicon: schwa is ax0, secondary stress is 1 ("tomato" is t ax0 m ey1 t ow1).
    assert flite_phones(AMERICAN_TOMATO, "cmu-arpabet") == ["t", "ax0", "m", "ey1", "t", "ow1"]
    assert flite_phones(HELLO_IPA, "ipa") == flite_phones(HELLO_ARPABET, "cmu-arpabet")


def test_espeak_mnemonics() -> None:
    assert arpabet_to_espeak(AMERICAN_TOMATO) == "t|@|m|'eI|t|,oU"
    assert ipa_to_espeak("təˈmɑːtəʊ") == "t|@|m|'A:|t|oU"
    assert ipa_to_espeak(BRITISH_TOMATO) == "t|'0|m|A:|t|oU"  # ɒ is eSpeak's LOT vowel "0"
    assert ipa_to_espeak("nuː ˈjɔːk") == "n|u: j|'O:|k"  # with marks elsewhere, no mark means unstressed
    assert ipa_to_espeak("nuː jɔːk") == "n|'u: j|'O:|k"  # with none at all, each word is stressed
    assert espeak_mnemonics(HELLO_ARPABET, None) == espeak_mnemonics(HELLO_IPA, None) == "h|@|l|'oU"


def test_unknown_symbols_are_dropped_never_raised() -> None:
    assert ipa_to_arpabet("kæ#t!") == "K AE0 T"
    assert to_arpabet("K AE1 XX T 42", "cmu-arpabet") == "K AE1 T"
    assert ipa_to_espeak("]] [[") == "" and arpabet_to_espeak("") == "" and flite_phones("§", "ipa") == []
    rng = random.Random(7)
    alphabet = "".join(chr(c) for c in range(0x20, 0x2FF)) + "ˈˌː̩͡ɹɾʔ ɪʊəɚɝ[]|'\\\""
    for _ in range(300):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        for alphabet_name in ("ipa", "cmu-arpabet", None):
            flite_phones(junk, alphabet_name)  # type: ignore[arg-type]
            mnemonics = espeak_mnemonics(junk, alphabet_name)  # type: ignore[arg-type]
            assert "[" not in mnemonics and "]" not in mnemonics


def test_guess_alphabet() -> None:
    assert guess_alphabet("HH AH0 L OW1") == "cmu-arpabet"
    assert guess_alphabet("hh ah l ow") == "cmu-arpabet"
    assert guess_alphabet(HELLO_IPA) == "ipa"
    assert guess_alphabet("bed") == "ipa"


# --- the tables against eSpeak NG itself ----------------------------------------------------------

needs_espeak_program = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng program missing"
)


def espeak_ipa(text: str, voice: str = "en-us") -> str:
    result = subprocess.run(
        ["espeak-ng", "-q", "--ipa", "-v", voice, text],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def same_phonemes(ours: str, theirs: str) -> bool:
    """The same phonemes, allowing for eSpeak's choices: cot-caught, and which reduced vowel it uses."""
    a, b = ours.split(), theirs.split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        bare_x, bare_y = x.rstrip("012"), y.rstrip("012")
        if bare_x == bare_y or {bare_x, bare_y} == {"AA", "AO"}:
            continue
        reduced = {bare_x, bare_y} <= {"AH", "IH", "IY"} and (x.endswith("0") or y.endswith("0"))
        if not reduced:
            return False
    return True


@needs_espeak_program
def test_espeaks_own_reading_agrees_with_the_word_list() -> None:
    for word, arpabet in WORDS.items():
        reading = espeak_ipa(word)
        assert same_phonemes(arpabet, ipa_to_arpabet(reading)), (word, reading)


@needs_espeak_program
@pytest.mark.parametrize("via", ["arpabet", "ipa"])
def test_espeak_says_exactly_the_mnemonics_it_is_given(via: str) -> None:
    """ARPAbet (or its IPA) → our mnemonics → what eSpeak reads them as (IPA) → ARPAbet: unchanged."""
    convert = arpabet_to_espeak if via == "arpabet" else (lambda a: ipa_to_espeak(arpabet_to_ipa(a)))
    for word, arpabet in WORDS.items():
        reading = espeak_ipa(f"[[{convert(arpabet)}]]")
        assert ipa_to_arpabet(reading) == arpabet, (word, reading)


@needs_espeak_program
def test_british_ipa_keeps_its_vowels_in_espeak() -> None:
    british = {"tomato": "təˈmɑːtəʊ", "lot": "ˈlɒt", "goat": "ˈɡəʊt", "square": "ˈskweə", "nurse": "ˈnɜːs"}
    for word, ipa in british.items():
        # Spoken by a British voice, the mnemonics give back the very IPA (stress marks aside) ...
        reading = espeak_ipa(f"[[{ipa_to_espeak(ipa)}]]", voice="en")
        assert without_stress(reading) == without_stress(ipa), (word, reading)
        # ... which is also how that voice reads the word itself.
        assert without_stress(espeak_ipa(word, voice="en")) == without_stress(ipa), word


# --- engines ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    engine = EspeakEngine()
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "espeak-ng unavailable")
    return engine


@pytest.fixture(params=["flite", "espeak-ng"])
def engine(request: pytest.FixtureRequest) -> TTSEngine:
    return request.getfixturevalue("flite" if request.param == "flite" else "espeak")


def chunks(engine: TTSEngine, text: str, voice: str, **options: object) -> list[AudioChunk]:
    return list(engine.synthesize(SynthesisRequest(text, voice, **options)))  # type: ignore[arg-type]


def pcm(engine: TTSEngine, text: str, voice: str, **options: object) -> bytes:
    return b"".join(chunk.pcm for chunk in chunks(engine, text, voice, **options))


def voice_ids(engine: TTSEngine) -> list[str]:
    return [voice.native_id for voice in engine.voices()]


def test_british_and_american_tomato_differ_on_every_voice(engine: TTSEngine) -> None:
    for voice in voice_ids(engine):
        british = pcm(engine, "tomato", voice, phonemes=BRITISH_TOMATO, alphabet="ipa")
        american = pcm(engine, "tomato", voice, phonemes=AMERICAN_TOMATO, alphabet="cmu-arpabet")
        assert british and american and british != american, voice
        # Deterministic, like everything else.
        assert british == pcm(engine, "tomato", voice, phonemes=BRITISH_TOMATO, alphabet="ipa"), voice


def test_the_same_pronunciation_in_either_alphabet_sounds_the_same(engine: TTSEngine) -> None:
    for voice in voice_ids(engine):
        ipa = pcm(engine, "zorblax", voice, phonemes=HELLO_IPA, alphabet="ipa")
        assert ipa == pcm(engine, "zorblax", voice, phonemes=HELLO_ARPABET, alphabet="cmu-arpabet"), voice
        assert ipa == pcm(engine, "zorblax", voice, phonemes=HELLO_ARPABET), voice  # alphabet guessed
        assert ipa != pcm(engine, "zorblax", voice), voice


def test_flite_given_its_own_lexicon_entry_says_the_word_identically(flite: FliteEngine) -> None:
    # The pronunciation goes in where Flite's lexicon entry would: nothing else changes.
    for voice in voice_ids(flite):
        assert pcm(flite, "tomato", voice, phonemes=AMERICAN_TOMATO, alphabet="cmu-arpabet") == pcm(
            flite, "tomato", voice
        ), voice


def recognised(engine: TTSEngine, audio: bytes) -> str:
    from chorus.testing.asr import transcribe

    return transcribe(np.frombuffer(audio, dtype="<i2"), engine.output_format().sample_rate)


@pytest.mark.parametrize(
    ("which", "voice"), [("flite", "rms"), ("flite", "slt"), ("flite", "awb"), ("espeak", "en-us+f5")]
)
def test_a_made_up_word_said_as_hello_is_heard_as_hello(
    which: str, voice: str, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("pocketsphinx")
    engine: TTSEngine = request.getfixturevalue(which)
    assert recognised(engine, pcm(engine, "zorblax", voice)) != "hello"
    for phonemes, alphabet in ((HELLO_ARPABET, "cmu-arpabet"), (HELLO_IPA, "ipa")):
        assert (
            recognised(engine, pcm(engine, "zorblax", voice, phonemes=phonemes, alphabet=alphabet)) == "hello"
        )


@pytest.mark.parametrize(
    ("text", "word"),
    [("tomato", (0, 6)), ("New York", (0, 8)), ("  «tomato»! ", (3, 9)), ("zorblax.", (0, 7))],
)
def test_one_word_timing_covers_the_whole_text(engine: TTSEngine, text: str, word: tuple[int, int]) -> None:
    for voice in voice_ids(engine)[:2]:
        spoken = chunks(engine, text, voice, phonemes="T AH0 M EY1 T OW2")
        assert len(spoken) == 1, voice
        chunk = spoken[0]
        assert (chunk.text_start, chunk.text_end) == (len(text) - len(text.lstrip()), len(text.rstrip()))
        assert len(chunk.words) == 1
        timing = chunk.words[0]
        assert (timing.char_start, timing.char_end) == word
        # The word is inside the audio, after the leading silence and lasting a plausible while.
        assert 0.0 <= timing.start_s < timing.end_s <= chunk.duration_s
        assert 0.3 <= timing.end_s - timing.start_s <= 1.5, (voice, timing)


def test_phonemes_follow_speed_and_pitch(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    base = chunks(engine, "tomato", voice, phonemes=AMERICAN_TOMATO)[0]
    slow = chunks(engine, "tomato", voice, phonemes=AMERICAN_TOMATO, speed=0.7)[0]
    assert slow.duration_s > base.duration_s * 1.15
    assert chunks(engine, "tomato", voice, phonemes=AMERICAN_TOMATO, pitch=1.3)[0].pcm != base.pcm


def test_blank_text_or_no_known_phonemes(engine: TTSEngine) -> None:
    voice = voice_ids(engine)[0]
    # Blank text with phonemes: the phonemes are spoken, with no word to time.
    (chunk,) = chunks(engine, "", voice, phonemes=HELLO_IPA)
    assert chunk.pcm and chunk.words == () and (chunk.text_start, chunk.text_end) == (0, 0)
    # Phonemes with nothing usable in them: the text is read as if none were given.
    plain = pcm(engine, "tomato", voice)
    assert pcm(engine, "tomato", voice, phonemes="###", alphabet="ipa") == plain
    assert pcm(engine, "tomato", voice, phonemes="", alphabet="cmu-arpabet") == plain


def test_espeak_keeps_the_voice_and_language(espeak: EspeakEngine) -> None:
    american = pcm(espeak, "tomato", "en-us+f5", phonemes="təˈmɑːtəʊ", alphabet="ipa")
    british = pcm(espeak, "tomato", "en+f5", phonemes="təˈmɑːtəʊ", alphabet="ipa")
    assert american != british  # the dialect decides how "oU" sounds
    assert pcm(espeak, "tomato", "en-us+m1", phonemes="təˈmɑːtəʊ", alphabet="ipa") != american


# --- in worker processes ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["flite", "espeak-ng"])
def pooled(request: pytest.FixtureRequest) -> Iterator[tuple[TTSEngine, PooledEngine]]:
    local: TTSEngine = request.getfixturevalue("flite" if request.param == "flite" else "espeak")
    with PooledEngine(EngineSpec(request.param), 1) as pool:
        if not pool.available():
            pytest.skip(pool.unavailable_reason() or "pool unavailable")
        yield local, pool


def test_pooled_engine_gives_identical_bytes(pooled: tuple[TTSEngine, PooledEngine]) -> None:
    local, pool = pooled
    voice = voice_ids(local)[0]
    for options in (
        {"phonemes": BRITISH_TOMATO, "alphabet": "ipa"},
        {"phonemes": AMERICAN_TOMATO, "alphabet": "cmu-arpabet", "pitch": 1.1, "pitch_range": 1.4},
        {"pitch": 0.92, "pitch_range": 0.7, "seed": 3},
    ):
        text = "tomato" if "phonemes" in options else "Good morning, everyone. The library opens at nine."
        assert chunks(pool, text, voice, **options) == chunks(local, text, voice, **options), options
