"""``no_verbatim`` clean-up: fillers, false starts and repetitions go; meaning, numbers and timings stay."""

from __future__ import annotations

import pytest

from chorus.stt.base import Word
from chorus.stt.verbatim import clean_words


def words(text: str) -> list[Word]:
    return [
        Word(t, round(i * 0.3, 3), round(i * 0.3 + 0.25, 3), -0.1 - i / 100)
        for i, t in enumerate(text.split())
    ]


def cleaned(text: str) -> str:
    return " ".join(w.text for w in clean_words(words(text)))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # Lower-case engine output (pocketsphinx): no punctuation to lean on.
        ("um i want to uh go home", "i want to go home"),
        ("i want to i want to go", "i want to go"),
        ("the the cat sat on the mat", "the cat sat on the mat"),
        ("i i i think so", "i think so"),
        ("i went to the i went to a store", "i went to a store"),
        ("we should we should really leave", "we should really leave"),
        ("hmm er well ah i guess so", "well i guess so"),
        # Cased, punctuated output (neural engines).
        ("Um, so we went to the, the store.", "So we went to the store."),
        ("It was, you know, fine.", "It was fine."),
        ("I think, uh, that's right.", "I think that's right."),
        ("I- I want to go, uh.", "I want to go."),
        ("(laughter) Hello there [noise] friend", "Hello there friend"),
        ("Uh, I mean, it works.", "It works."),
    ],
)
def test_removed(before, after):
    assert cleaned(before) == after


@pytest.mark.parametrize(
    "text",
    [
        "call five five five one two one two",  # digits read out
        "it was nineteen nineteen",
        "this is very very good",
        "he said no no no",
        "I had had enough",
        "I know that that is true",
        "bye bye",
        "uh huh mhm",  # answers, not fillers
        "you know what i mean",  # no commas: cannot tell the filler use, so it stays
        "the cat sat on the cat bed",
        "No. No. Not again.",
        "it was three p m",
        "I like it like that",
    ],
)
def test_kept(text):
    assert cleaned(text) == text


def test_kept_words_keep_their_timings_and_confidence():
    original = words("um i want to i want to go uh now")
    out = clean_words(original)
    assert [w.text for w in out] == ["i", "want", "to", "go", "now"]
    for w in out:
        assert w in original  # the very same word: text, start, end, logprob
    assert [w.start_s for w in out] == sorted(w.start_s for w in out)


def test_moved_capital_keeps_the_timing():
    original = words("Um, so we left.")
    out = clean_words(original)
    assert [w.text for w in out] == ["So", "we", "left."]
    assert (out[0].start_s, out[0].end_s, out[0].logprob) == (
        original[1].start_s,
        original[1].end_s,
        original[1].logprob,
    )


def test_empty_and_only_fillers():
    assert clean_words([]) == []
    assert clean_words(words("um uh hmm")) == []


def test_idempotent_and_deterministic():
    for text in ["um i want to i want to go", "Well, I mean, it's the the best.", "so so so what"]:
        once = clean_words(words(text))
        assert clean_words(once) == once
        assert clean_words(words(text)) == once
