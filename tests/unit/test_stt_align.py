"""Forced alignment (chorus.stt.align): word times against independent references.

Reference times come from CMU Flite, which reports when it speaks each word (its segment plan; the
clustergen voices slt, rms and awb realise it frame-exactly). The sentences here were not used to tune the
aligner (tuning used Flite readings of the data folder's transcripts). Real speech (LibriSpeech, skipped
when the data folder is absent) has no reference word times, so it is checked for consistency: shifting the
audio shifts the words, windows of a long recording agree with clip-by-clip alignment, speech starts where
Silero VAD hears it, and words that are not said cost more.

Measured when these tests were written, on Flite readings of 60 data-folder transcripts held out from
tuning: slt/rms/awb (1273 words) median |start error| 8.7 ms, 90th percentile 21 ms, 98.4% within 50 ms,
worst 195 ms; the diphone voice kal16 (443 words) reads +51 ms throughout (its segment plan is scaled to the
rendered length, so its reference is the suspect). A 325 s recording of 30 of them (rms), aligned in 12
windows: median 8 ms, 90th percentile 21 ms, worst 115 ms.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from chorus.stt.align import (
    UNALIGNED_LOSS,
    AlignerSettings,
    AlignmentInputError,
    ForcedAligner,
    spoken_units,
)
from chorus.stt.base import STTUnavailable

SPEECH = Path(
    os.environ.get("CHORUS_SPEECH_DATA", Path(__file__).resolve().parents[3] / "shared/data/speech")
)
LIBRI = SPEECH / "librispeech-train-clean-5"
RATE = 16_000

SENTENCES = [
    ("slt", "The old lighthouse keeper climbed the stairs every evening to light the great lamp."),
    ("rms", "Children were playing near the river while their parents prepared a picnic."),
    ("awb", "After the storm, the village gathered to repair the broken fences and roofs."),
    ("slt", "She opened the letter slowly, afraid of what the doctor might have written."),
    ("rms", "Several musicians practised in the hall until the caretaker turned off the lights."),
    ("awb", "Our train left the station late, so we missed the meeting in the city."),
]


@pytest.fixture(scope="module")
def aligner() -> ForcedAligner:
    pytest.importorskip("pocketsphinx")
    engine = ForcedAligner(max_decoders=2)
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "aligner unavailable")
    return engine


@pytest.fixture(scope="module")
def flite():  # type: ignore[no-untyped-def]
    from chorus.engines.flite import FliteEngine

    engine = FliteEngine(["slt", "rms", "awb"])
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "flite unavailable")
    return engine


def speak(flite, voice: str, text: str) -> tuple[bytes, list[tuple[int, int, float, float]]]:  # type: ignore[no-untyped-def]
    """16 kHz PCM of ``text`` and Flite's (char_start, char_end, start_s, end_s) for each word."""
    from chorus.engines.base import SynthesisRequest

    chunks = list(flite.synthesize(SynthesisRequest(text=text, native_voice=voice)))
    assert chunks[0].format.sample_rate == RATE
    words = [(w.char_start, w.char_end, w.start_s, w.end_s) for c in chunks for w in c.words]
    return b"".join(c.pcm for c in chunks), words


def start_errors(result, reference) -> list[float]:  # type: ignore[no-untyped-def]
    """Aligned minus reference start of every reference word (matched through original offsets)."""
    errors = []
    for char_start, char_end, start_s, _ in reference:
        mine = [w for w in result.words if w.char_end > char_start and w.char_start < char_end]
        assert mine, f"no aligned word for reference word at {char_start}"
        errors.append(mine[0].start_s - start_s)
    return errors


def check_shape(result, duration: float) -> None:  # type: ignore[no-untyped-def]
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts)
    assert all(w.start_s <= w.end_s <= duration + 1e-6 for w in result.words)
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(result.words, result.words[1:], strict=False))
    assert all(0 <= w.loss <= UNALIGNED_LOSS for w in result.words)


# --- text ----------------------------------------------------------------------------------------------


def test_spoken_units_map_back_to_the_original_text() -> None:
    text = "I paid $5.50, Dr. Smith! It's 50% off."
    units = spoken_units(text)
    words = [u.text for u in units]
    assert words[:2] == ["i", "paid"] and "doctor" in words and "it's" in words
    money = [u for u in units if text[u.char_start : u.char_end] == "$5.50"]
    assert [u.text for u in money] == ["five", "dollars", "and", "fifty", "cents"]
    assert [text[u.char_start : u.char_end] for u in units if u.text == "doctor"] == ["Dr."]
    assert [text[u.char_start : u.char_end] for u in units if u.text in ("fifty", "percent")][-2:] == [
        "50%"
    ] * 2
    starts = [u.char_start for u in units]
    assert starts == sorted(starts)
    assert spoken_units(" ... -- !? ") == []


# --- accuracy against Flite's word times --------------------------------------------------------------


def test_word_starts_match_flite_timings(aligner: ForcedAligner, flite) -> None:  # type: ignore[no-untyped-def]
    errors: list[float] = []
    for voice, text in SENTENCES:
        pcm, reference = speak(flite, voice, text)
        result = aligner.align(pcm, RATE, text)
        check_shape(result, len(pcm) / 2 / RATE)
        assert all(w.aligned for w in result.words)
        errors += start_errors(result, reference)
    absolute = np.abs(errors)
    # Measured on these 79 words: median 9 ms, 90th percentile 26 ms, worst 45 ms.
    assert np.median(absolute) <= 0.030, np.median(absolute)
    assert np.percentile(absolute, 90) <= 0.080
    assert absolute.max() <= 0.150


def test_numbers_punctuation_and_unknown_words(aligner: ForcedAligner, flite) -> None:  # type: ignore[no-untyped-def]
    text = "Dr. Zorbnik paid $5.50 for 12 apples at 10:30 am -- that's 50% off, said Quellatrix!"
    pcm, reference = speak(flite, "slt", text)
    # The made-up names are not in the dictionary: they are pronounced on the fly.
    assert {"zorbnik", "quellatrix"} <= {u.text for u in spoken_units(text)}
    result = aligner.align(pcm, RATE, text)
    check_shape(result, len(pcm) / 2 / RATE)
    by_token = {text[s:e]: (start, end) for s, e, start, end in reference}
    for token in ("Dr", "Zorbnik", "$5.50", "12", "apples", "50%", "Quellatrix"):
        char_start = text.index(token)
        mine = [w for w in result.words if w.char_end > char_start and w.char_start < char_start + len(token)]
        ref_start, ref_end = by_token[token]
        assert abs(mine[0].start_s - ref_start) <= 0.1, token
        assert abs(mine[-1].end_s - ref_end) <= 0.1, token
    money = [w for w in result.words if text[w.char_start : w.char_end] == "$5.50"]
    assert len(money) == 5 and all(w.aligned for w in money)


def test_words_that_are_not_said_cost_more(aligner: ForcedAligner, flite) -> None:  # type: ignore[no-untyped-def]
    voice, text = SENTENCES[0]
    pcm, _ = speak(flite, voice, text)
    right = aligner.align(pcm, RATE, text)
    wrong_text = text.replace("lighthouse", "strawberry").replace("stairs", "volcano")
    wrong = aligner.align(pcm, RATE, wrong_text)
    swapped = [w.loss for w in wrong.words if w.text in ("strawberry", "volcano")]
    kept = [w.loss for w in right.words]
    assert min(swapped) > np.median(kept) * 2
    assert np.mean([w.loss for w in wrong.words]) > np.mean(kept)


def test_long_recording_is_aligned_in_windows(flite) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pocketsphinx")
    # Small windows, so that a 40 s recording exercises what an hour-long one does.
    windowed = ForcedAligner(settings=AlignerSettings(window_s=8.0, max_window_s=12.0, guard_s=2.0))
    if not windowed.available():
        pytest.skip(windowed.unavailable_reason() or "aligner unavailable")
    pcm, text, reference, offset = b"", "", [], 0.0
    pause = b"\0\0" * int(0.4 * RATE)
    for voice, sentence in SENTENCES:
        audio, words = speak(flite, voice, sentence)
        shift = len(text) + (1 if text else 0)
        text = f"{text} {sentence}" if text else sentence
        reference += [(s + shift, e + shift, a + offset, b + offset) for s, e, a, b in words]
        pcm += audio + pause
        offset += len(audio) / 2 / RATE + 0.4
    result = windowed.align(pcm, RATE, text)
    assert result.windows >= 4
    check_shape(result, offset)
    assert all(w.aligned for w in result.words)
    absolute = np.abs(start_errors(result, reference))
    assert np.median(absolute) <= 0.030 and np.percentile(absolute, 90) <= 0.080
    assert absolute.max() <= 0.3


def test_leading_silence_is_skipped_by_windows(flite) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pocketsphinx")
    windowed = ForcedAligner(settings=AlignerSettings(window_s=8.0, max_window_s=12.0, guard_s=2.0))
    if not windowed.available():
        pytest.skip(windowed.unavailable_reason() or "aligner unavailable")
    voice, text = SENTENCES[1]
    audio, reference = speak(flite, voice, text)
    lead = 20.0
    rng = np.random.default_rng(0)
    hiss = (rng.normal(0, 20, int(lead * RATE))).astype("<i2").tobytes()  # room noise, no speech
    result = windowed.align(hiss + audio, RATE, text)
    assert result.words[0].start_s >= lead - 0.05
    errors = np.abs([e - lead for e in start_errors(result, reference)])
    assert np.median(errors) <= 0.030


# --- input limits and availability ---------------------------------------------------------------------


def test_bad_input_is_refused(aligner: ForcedAligner, flite) -> None:  # type: ignore[no-untyped-def]
    pcm, _ = speak(flite, "rms", "Just a few words.")
    with pytest.raises(AlignmentInputError, match="no words"):
        aligner.align(pcm, RATE, " -- ... !")
    with pytest.raises(AlignmentInputError, match="far too long"):
        aligner.align(pcm, RATE, "many more words than that " * 40)
    with pytest.raises(AlignmentInputError, match="100 ms"):
        aligner.align(b"\0\0" * 800, RATE, "hello")


def test_text_the_audio_does_not_finish_is_interpolated(aligner: ForcedAligner, flite) -> None:  # type: ignore[no-untyped-def]
    voice, text = SENTENCES[2]
    pcm, reference = speak(flite, voice, text)
    extra = text + " Nobody said these last words."
    result = aligner.align(pcm, RATE, extra)
    check_shape(result, len(pcm) / 2 / RATE)
    assert len(result.words) == len(spoken_units(extra))
    said = np.abs(start_errors(result, reference))
    assert np.median(said) <= 0.05


def test_missing_model_is_reported(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    broken = ForcedAligner(model_dir=tmp_path)
    assert not broken.available() and "missing" in (broken.unavailable_reason() or "")
    with pytest.raises(STTUnavailable):
        broken.align(b"\0\0" * RATE, RATE, "hello")


def test_python_binding_fallback_agrees(aligner: ForcedAligner, flite) -> None:  # type: ignore[no-untyped-def]
    voice, text = SENTENCES[3]
    pcm, _ = speak(flite, voice, text)
    binding = ForcedAligner(native=False, max_decoders=1)
    native_words = aligner.align(pcm, RATE, text).words
    binding_words = binding.align(pcm, RATE, text).words
    assert [(w.start_s, w.end_s) for w in native_words] == [(w.start_s, w.end_s) for w in binding_words]
    assert np.allclose([w.loss for w in native_words], [w.loss for w in binding_words], atol=1e-6)
    binding.close()


# --- real speech (LibriSpeech) ------------------------------------------------------------------------


def libri(count: int) -> list[tuple[bytes, str]]:
    """The first ``count`` LibriSpeech clips (16 kHz PCM, transcript); skips when the data is absent."""
    from chorus.stt.audio_input import decode_any

    table = SPEECH / "transcripts.tsv"
    if not table.is_file():
        pytest.skip(f"speech data not found at {SPEECH} (set CHORUS_SPEECH_DATA)")
    rows = [line.split("\t") for line in table.read_text(encoding="utf-8").splitlines()[1:]]
    clips = []
    for fields in rows:
        if fields[0].startswith("librispeech") and len(clips) < count:
            pcm, rate = decode_any((SPEECH / fields[0]).read_bytes())
            assert rate == RATE
            clips.append((pcm, fields[-1]))
    if len(clips) < count:
        pytest.skip("not enough LibriSpeech clips in the data folder")
    return clips


def test_real_speech_is_consistent(aligner: ForcedAligner) -> None:
    from chorus.stt.vad import segment_speech, shared_vad

    rng = np.random.default_rng(1)
    for pcm, text in libri(3):
        result = aligner.align(pcm, RATE, text)
        duration = len(pcm) / 2 / RATE
        check_shape(result, duration)
        assert all(w.aligned for w in result.words)
        assert np.mean([w.loss for w in result.words]) < 3.0
        # The first word starts where Silero VAD first hears speech (its onset is padded by 30 ms).
        samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
        onset = segment_speech(samples, vad=shared_vad())[0].start_s
        assert abs(result.words[0].start_s - onset) <= 0.25
        # Moving the speech later by 1.5 s (low noise in front) moves every word by 1.5 s.
        lead = (rng.normal(0, 8, int(1.5 * RATE))).astype("<i2").tobytes()
        shifted = aligner.align(lead + pcm, RATE, text)
        moved = np.array([b.start_s - a.start_s for a, b in zip(result.words, shifted.words, strict=True)])
        assert np.median(np.abs(moved - 1.5)) <= 0.02


def test_real_speech_windows_agree_with_clips(aligner: ForcedAligner) -> None:
    clips = libri(4)
    windowed = ForcedAligner(settings=AlignerSettings(window_s=8.0, max_window_s=12.0, guard_s=2.0))
    pcm, text, expected, offset = b"", "", [], 0.0
    for audio, transcript in clips:
        single = aligner.align(audio, RATE, transcript)
        shift = len(text) + (1 if text else 0)
        text = f"{text} {transcript}" if text else transcript
        expected += [(w.char_start + shift, w.start_s + offset) for w in single.words]
        pcm += audio
        offset += len(audio) / 2 / RATE
    result = windowed.align(pcm, RATE, text)
    assert result.windows >= 5
    mine = {w.char_start: w.start_s for w in result.words}
    differences = np.abs([mine[c] - s for c, s in expected])
    assert np.median(differences) <= 0.02 and np.mean(differences <= 0.1) >= 0.97
