"""Text → IPA through a private copy of libespeak-ng, punctuation kept the way Piper keeps it."""

from __future__ import annotations

import threading

import pytest

from chorus.engines.base import SynthesisRequest, UnknownVoice
from chorus.engines.phonemize import (
    Clause,
    Phonemizer,
    PhonemizerUnavailable,
    join_clauses,
    phonemize,
    piper_sentences,
)


@pytest.fixture(scope="module")
def phonemizer() -> Phonemizer:
    found = Phonemizer()
    if not found.available():
        pytest.skip(found.unavailable_reason() or "espeak-ng unavailable")
    return found


def test_sentences_keep_punctuation_like_piper(phonemizer: Phonemizer) -> None:
    assert phonemizer.sentences("Hello, world!") == ["həlˈoʊ, wˈɜːld!"]
    sentences = phonemizer.sentences("Hello, world! How are you? Fine; thanks: bye.")
    assert len(sentences) == 3
    assert sentences[0] == "həlˈoʊ, wˈɜːld!"
    assert sentences[1].endswith("?") and " " in sentences[1]
    assert "; " in sentences[2] and ": " in sentences[2] and sentences[2].endswith(".")
    assert phonemize("Hello, world!") == ["həlˈoʊ, wˈɜːld!"]


def test_clauses_report_their_terminators(phonemizer: Phonemizer) -> None:
    clauses = phonemizer.clauses('He said "no."  Then, left! Wait... what?!')
    assert [(c.punctuation, c.ends_sentence) for c in clauses] == [
        (".", True),
        (",", False),
        ("!", True),
        ("...", False),
        ("?!", True),
    ]
    assert all(c.phonemes and "(" not in c.phonemes for c in clauses)


def test_clauses_without_punctuation_and_empty_text(phonemizer: Phonemizer) -> None:
    assert phonemizer.clauses("") == [] and phonemizer.sentences("  \n ") == []
    (clause,) = phonemizer.clauses("no punctuation here")
    assert clause.punctuation == "" and not clause.ends_sentence


def test_language_is_selectable(phonemizer: Phonemizer) -> None:
    english = phonemizer.sentences("Guten Tag", "en-us")
    german = phonemizer.sentences("Guten Tag", "de")
    assert english != german and german == ["ɡˈuːtən tˈɑːk"]
    # Language tags that are not voice file names are found by language ("en-gb" is gmw/en).
    assert phonemizer.sentences("tomato", "en-gb") != phonemizer.sentences("tomato", "en-us")
    with pytest.raises(UnknownVoice):
        phonemizer.sentences("hello", "xx-nowhere")
    with pytest.raises(UnknownVoice):
        phonemizer.sentences("hello", "en us; rm -rf")


def test_kokoro_style_string(phonemizer: Phonemizer) -> None:
    text = "Wait... what? Yes, really!"
    assert phonemizer.phonemize(text) == "wˈeɪt… wˌʌt? jˈɛs, ɹˈiəli!"
    assert "…" not in phonemizer.phonemize(text, keep=",.?!")


def test_grouping_is_a_pure_function() -> None:
    clauses = [
        Clause("a", ",", False),
        Clause("b", "...", False),
        Clause("c", "", False),  # eSpeak cut a long clause: the words must stay apart
        Clause("d", "?!", True),
        Clause("e", "", False),
    ]
    assert piper_sentences(clauses) == ["a, b; c d?", "e"]
    assert join_clauses(clauses) == "a, b… c d?! e"


def test_output_is_deterministic_across_threads(phonemizer: Phonemizer) -> None:
    text = "The quick brown fox, as usual, jumps over the lazy dog. Twice!"
    expected = phonemizer.sentences(text)
    results: list[list[str]] = []

    def work() -> None:
        for _ in range(5):
            results.append(phonemizer.sentences(text))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 20


def test_private_copy_does_not_disturb_the_espeak_engine(phonemizer: Phonemizer) -> None:
    from chorus.engines.espeak import EspeakEngine

    engine = EspeakEngine()
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "espeak-ng unavailable")
    request = SynthesisRequest("Nothing in here should change.", "en-us+m1", seed=1)
    alone = b"".join(chunk.pcm for chunk in engine.synthesize(request))
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            phonemizer.sentences("Meanwhile, the phonemizer keeps working in German.", "de")

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        together = b"".join(chunk.pcm for chunk in engine.synthesize(request))
    finally:
        stop.set()
        thread.join()
    assert together == alone


def test_missing_library_is_reported() -> None:
    missing = Phonemizer(library="libdoes-not-exist.so.9")
    assert not missing.available()
    assert "apt-get install libespeak-ng1" in (missing.unavailable_reason() or "")
    with pytest.raises(PhonemizerUnavailable):
        missing.clauses("hello")
