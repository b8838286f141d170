"""Keyterm biasing: the keyterm language model, its interpolation, and its effect on real (synthesised) speech."""

from __future__ import annotations

import ctypes
import logging
import math
from pathlib import Path

import pytest

from chorus.stt.base import TranscribeOptions, Transcript
from chorus.stt.keyterm_bias import (
    MAX_BOOST,
    MIN_BOOST,
    BiasSpec,
    bind_native,
    interpolation_weight,
    keyterm_arpa,
    keyterm_phrases,
)

# "oscilloscope" is in pocketsphinx's dictionary but not in its language model, "capacitor" likewise: the
# plain decoder hears "os telescope" / "ah sell us cope" and "capacitors".
SENTENCE = "the technician replaced the capacitor and checked the oscilloscope"
KEYTERMS = ("capacitor", "Oscilloscope")


def test_phrases_are_canonical() -> None:
    assert keyterm_phrases(["Doctor Nakamura", "glaucoma", "  ", "doctor  NAKAMURA", "O'Brien's-test"]) == (
        ("doctor", "nakamura"),
        ("glaucoma",),
        ("o'brien's", "test"),
    )
    assert keyterm_phrases(["b", "A"]) == keyterm_phrases(["a", "B"])  # order and case do not matter
    spec = BiasSpec(keyterm_phrases(["Doctor Nakamura", "glaucoma"]), -2.0)
    assert BiasSpec.decode(spec.encode()) == spec


def parse_arpa(text: str) -> tuple[dict[str, float], dict[tuple[str, str], float], dict[int, int]]:
    counts: dict[int, int] = {}
    unigrams: dict[str, float] = {}
    bigrams: dict[tuple[str, str], float] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("ngram "):
            order, count = line.split()[1].split("=")
            counts[int(order)] = int(count)
        elif line.startswith("\\"):
            section = line
        elif line.strip() and section == "\\1-grams:":
            prob, word, _ = line.split()
            unigrams[word] = float(prob)
        elif line.strip() and section == "\\2-grams:":
            prob, left, right = line.split()
            bigrams[(left, right)] = float(prob)
    return unigrams, bigrams, counts


def test_arpa_model_gives_keyterm_words_their_share() -> None:
    phrases = keyterm_phrases(["Doctor Nakamura", "Doctor Who", "glaucoma"])
    unigrams, bigrams, counts = parse_arpa(keyterm_arpa(phrases))
    words = {"doctor", "nakamura", "who", "glaucoma"}
    assert counts == {1: len(words) + 2, 2: 2}
    assert set(unigrams) == words | {"<s>", "</s>"}
    assert unigrams["<s>"] <= -99 and unigrams["</s>"] <= -99  # sentence ends are left to the main model
    for word in words:
        assert unigrams[word] == pytest.approx(-math.log10(len(words)), abs=1e-4)
    # "doctor" is followed by two keyterm words: each gets half
    assert bigrams == {("doctor", "nakamura"): pytest.approx(-math.log10(2), abs=1e-4),
                       ("doctor", "who"): pytest.approx(-math.log10(2), abs=1e-4)}  # fmt: skip
    with pytest.raises(ValueError):
        keyterm_arpa([])


def test_pocketsphinx_reads_the_model(tmp_path: Path) -> None:
    ngram = pytest.importorskip("pocketsphinx").NGramModel
    path = tmp_path / "keyterms.arpa"
    path.write_text(keyterm_arpa(keyterm_phrases(["George Gathercole", "glaucoma"])))
    model = ngram.readfile(str(path))
    ln_third = math.log(1 / 3) / math.log(1.0001)  # pocketsphinx log units (base 1.0001)
    assert model.prob(["glaucoma"]) == pytest.approx(ln_third, rel=1e-3)
    assert model.prob(["gathercole", "george"]) == pytest.approx(0, abs=50)  # P(gathercole | george) = 1


def test_interpolation_weight_sets_the_probability_floor() -> None:
    for boost in (-4.0, -2.0):
        for lw in (5.5, 6.5):
            weight = interpolation_weight(boost, lw)
            assert 0 < weight < 1e-3
            assert math.log10(weight) / lw == pytest.approx(boost)  # w^(1/lw) = 10^boost
    assert interpolation_weight(0.0, 5.5) == interpolation_weight(MAX_BOOST, 5.5)
    assert interpolation_weight(-50.0, 5.5) == interpolation_weight(MIN_BOOST, 5.5) > 0


def test_a_library_without_the_functions_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert bind_native(ctypes.CDLL(None)) is None  # the C library: no ps_add_lm
    assert "keyterm biasing unavailable" in caplog.text


# --- on speech --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    from chorus.engines.base import SynthesisRequest
    from chorus.engines.registry import EngineRegistry

    registry = EngineRegistry.from_names(["flite"])
    flite = registry["flite"]
    if not flite.available():
        pytest.skip(flite.unavailable_reason() or "flite unavailable")
    assert flite.output_format().sample_rate == 16_000
    voices = {
        v: b"".join(c.pcm for c in flite.synthesize(SynthesisRequest(SENTENCE, v))) for v in ("rms", "slt")
    }
    registry.close()
    return voices


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    pytest.importorskip("pocketsphinx")
    from chorus.stt.pocketsphinx_engine import PocketsphinxEngine

    stt = PocketsphinxEngine(max_decoders=1)  # one decoder: every request goes through the same pool slot
    if not stt.available():
        pytest.skip(stt.unavailable_reason() or "pocketsphinx unavailable")
    yield stt
    stt.close()


def check_words(transcript: Transcript) -> None:
    previous_end = 0.0
    for word in transcript.words:
        assert previous_end - 1e-6 <= word.start_s < word.end_s <= transcript.duration_s + 1e-6
        assert word.logprob <= 0.0
        previous_end = word.end_s


def test_in_dictionary_keyterms_missed_without_keyterms_are_recognised_with_them(engine, speech) -> None:  # type: ignore[no-untyped-def]
    for voice, pcm in speech.items():
        plain = engine.transcribe(pcm, 16_000, TranscribeOptions())
        assert "oscilloscope" not in plain.text.split(), (voice, plain.text)
        assert "oscilloscope" in engine.dictionary_words()  # not an added word: this is the boost
        boosted = engine.transcribe(pcm, 16_000, TranscribeOptions(keyterms=KEYTERMS))
        words = boosted.text.split()
        # Reported as the client spelled it ("Oscilloscope"), though the dictionary's word is lower case.
        assert "Oscilloscope" in words and "capacitor" in words, (voice, boosted.text)
        check_words(boosted)
        keyterm = next(w for w in boosted.words if w.text == "Oscilloscope")
        assert keyterm.end_s - keyterm.start_s > 0.4  # a real segment: the word is long
        assert keyterm.probability > 0.5  # the biased lattice is sure of it
        # The same request again gets the decoder built for these keyterms, and the same words.
        assert engine.transcribe(pcm, 16_000, TranscribeOptions(keyterms=KEYTERMS)) == boosted


def test_requests_without_keyterms_are_unchanged(engine, speech) -> None:  # type: ignore[no-untyped-def]
    pcm = speech["rms"]
    before = engine.transcribe(pcm, 16_000, TranscribeOptions())
    biased = engine.transcribe(pcm, 16_000, TranscribeOptions(keyterms=KEYTERMS))
    assert biased.text != before.text
    after = engine.transcribe(pcm, 16_000, TranscribeOptions())  # the pool's only decoder was biased
    assert after == before  # same words, times and confidences
    # ...and without biasing at all, a fresh engine agrees.
    from chorus.stt.pocketsphinx_engine import PocketsphinxEngine, PocketsphinxSettings

    unbiased = PocketsphinxEngine(max_decoders=1, settings=PocketsphinxSettings(keyterm_boost=None))
    try:
        assert unbiased.transcribe(pcm, 16_000, TranscribeOptions()) == before
        words_only = unbiased.transcribe(pcm, 16_000, TranscribeOptions(keyterms=KEYTERMS))
        assert (
            "oscilloscope" not in words_only.text.lower().split()
        )  # boost off: in-dictionary keyterms do nothing
    finally:
        unbiased.close()


def test_streaming_is_biased_too(engine, speech) -> None:  # type: ignore[no-untyped-def]
    from chorus.stt.base import Final

    pcm = speech["rms"] + b"\0\0" * 16_000  # a second of silence ends the utterance
    stream = engine.stream(16_000, TranscribeOptions(keyterms=KEYTERMS))
    events = []
    for start in range(0, len(pcm), 3_200):
        events += stream.feed(pcm[start : start + 3_200])
    events += stream.finish()
    text = " ".join(e.text for e in events if isinstance(e, Final))
    assert "Oscilloscope" in text.split(), text


def test_without_the_native_functions_keyterms_only_add_words(  # type: ignore[no-untyped-def]
    engine, speech, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from chorus.stt import pocketsphinx_engine as module
    from chorus.stt.pocketsphinx_engine import PocketsphinxEngine

    api = module._native_api()
    if api is None:
        pytest.skip("the pocketsphinx C API is not bound here")
    monkeypatch.setattr(api, "keyterm_bias", None)
    monkeypatch.setattr(module, "_warned", set())
    pcm = speech["rms"]
    degraded = PocketsphinxEngine(max_decoders=1)
    try:
        with caplog.at_level(logging.WARNING, logger=module.__name__):
            first = degraded.transcribe(pcm, 16_000, TranscribeOptions(keyterms=KEYTERMS))
            second = degraded.transcribe(pcm, 16_000, TranscribeOptions(keyterms=("oscilloscope",)))
        assert sum("keyterm biasing" in r.getMessage() for r in caplog.records) == 1  # logged once
        plain = engine.transcribe(pcm, 16_000, TranscribeOptions())
        assert first.text == plain.text == second.text  # today's behaviour: nothing boosted
    finally:
        degraded.close()


def test_keyterm_spelling_keeps_the_clients_case_but_not_for_function_words_of_phrases() -> None:
    from chorus.stt.pocketsphinx_engine import keyterm_spelling

    known = frozenset({"paris", "the", "beatles", "of", "a"})
    spelling = keyterm_spelling(("Paris", "The Beatles", "Kowalski", "paris", "A"), known)
    # Dictionary words respelled only when the client's spelling differs; unknown words always.
    assert spelling == {"paris": "Paris", "beatles": "Beatles", "kowalski": "Kowalski", "a": "A"}
    assert keyterm_spelling(("of",), known) == {}
