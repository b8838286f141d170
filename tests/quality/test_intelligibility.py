"""Is the speech intelligible? An independent recogniser (PocketSphinx) transcribes it and we score
the word error rate. Plus unit checks of the scoring itself, which are cheap and unmarked."""

from __future__ import annotations

import numpy as np
import pytest

from chorus.engines.base import SynthesisRequest
from chorus.engines.flite import FliteEngine
from chorus.testing.asr import normalize_words, word_error_rate, word_errors

# Ordinary sentences of everyday English, written before any voice was measured against them.
SENTENCES = (
    "The weather was warm and sunny, so we decided to walk to the park after lunch.",
    "Please remember to lock the front door before you leave the house tonight.",
    "She bought fresh bread, cheese and a bottle of milk at the corner shop.",
    "Our train to the city was delayed by almost twenty minutes this morning.",
    "He has been learning to play the piano for nearly three years now.",
)

# The server's default voice (settings.default_voice = "flite:rms").
DEFAULT_VOICE = "rms"
MAX_WER = 0.25


def _wer_for(engine: FliteEngine, voice: str) -> tuple[float, list[str]]:
    from chorus.testing.asr import transcribe

    errors = words = 0
    heard: list[str] = []
    for sentence in SENTENCES:
        chunks = list(engine.synthesize(SynthesisRequest(sentence, voice)))
        pcm = np.frombuffer(b"".join(chunk.pcm for chunk in chunks), dtype="<i2")
        hypothesis = transcribe(pcm, engine.output_format().sample_rate)
        heard.append(hypothesis)
        sentence_errors, sentence_words = word_errors(sentence, hypothesis)
        errors += sentence_errors
        words += sentence_words
    return errors / words, heard


@pytest.fixture(scope="module")
def flite() -> FliteEngine:
    pytest.importorskip("pocketsphinx")
    engine = FliteEngine()
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "flite unavailable")
    return engine


@pytest.mark.quality
def test_default_voice_is_intelligible(flite: FliteEngine) -> None:
    wer, heard = _wer_for(flite, DEFAULT_VOICE)
    assert wer <= MAX_WER, f"WER {wer:.3f} for flite:{DEFAULT_VOICE}; recogniser heard: {heard}"


@pytest.mark.quality
@pytest.mark.parametrize("voice", ["slt", "awb", "kal16"])
def test_other_flite_voices_are_intelligible(flite: FliteEngine, voice: str) -> None:
    wer, heard = _wer_for(flite, voice)
    assert wer <= MAX_WER, f"WER {wer:.3f} for flite:{voice}; recogniser heard: {heard}"


# --- the scoring itself -------------------------------------------------------------------------


def test_normalisation_ignores_case_punctuation_and_number_spelling() -> None:
    words = normalize_words("Don't stop — it's 2024, the 3rd of May!")
    assert " ".join(words) == "don't stop it's two thousand twenty four the third of may"
    words = normalize_words("Café, naïve; 1,500 people")
    assert " ".join(words) == "cafe naive one thousand five hundred people"


def test_word_error_rate() -> None:
    assert word_error_rate("the cat sat", "The cat sat.") == 0.0
    assert word_error_rate("the cat sat on the mat", "the cat sat on mat") == pytest.approx(1 / 6)
    assert word_error_rate("the cat sat", "a dog sat down") == pytest.approx(3 / 3)
    assert word_error_rate("twenty minutes", "20 minutes") == 0.0
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "noise") == 1.0
    assert word_errors("one two three", "one three") == (1, 3)
