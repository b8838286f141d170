"""ElevenLabs markup: SSML-ish breaks and phonemes, eleven_v3 audio tags, offsets, and malformed input."""

from __future__ import annotations

import random

import pytest

from chorus.text import (
    MAX_BREAK_SECONDS,
    STYLE_PROSODY,
    BreakPiece,
    PhonemePiece,
    Piece,
    Prosody,
    StylePiece,
    TextPiece,
    parse_markup,
    prosody_for,
)


def check_pieces(text: str, pieces: list[Piece]) -> None:
    """Pieces are in order, do not overlap, stay inside the text, and text pieces are exact slices."""
    previous_end = 0
    for piece in pieces:
        assert 0 <= piece.orig_start <= piece.orig_end <= len(text)
        assert piece.orig_start >= previous_end
        previous_end = piece.orig_end
        if isinstance(piece, TextPiece):
            assert piece.text
            source = text[piece.orig_start : piece.orig_end]
            assert piece.text == source or source.startswith("&"), (piece, source)
        if isinstance(piece, BreakPiece):
            assert 0.0 <= piece.seconds <= MAX_BREAK_SECONDS


def spoken(pieces: list[Piece]) -> str:
    return "".join(piece.text for piece in pieces if isinstance(piece, TextPiece | PhonemePiece))


# ============================================================================================ breaks


def test_break_between_words() -> None:
    text = 'Hello <break time="1.5s" /> world'
    pieces = parse_markup(text)
    assert pieces == [
        TextPiece("Hello ", 0, 6),
        BreakPiece(1.5, 6, 27),
        TextPiece(" world", 27, 33),
    ]
    check_pieces(text, pieces)


@pytest.mark.parametrize(
    ("tag", "seconds"),
    [
        ('<break time="500ms"/>', 0.5),
        ('<break time="2s"/>', 2.0),
        ("<break time='0.75s'/>", 0.75),
        ('<break time="1.2 seconds"/>', 1.2),
        ('<break time="2"/>', 2.0),
        ('<break time="10s"/>', 3.0),  # ElevenLabs caps a break at 3 s
        ('<break time="4000ms"/>', 3.0),
        ('<break time="0s"/>', 0.0),
        ("<break/>", 0.5),
        ('<break strength="weak"/>', 0.25),
        ('<break strength="x-strong"/>', 1.0),
        ('<break time="soon"/>', 0.5),
        ('<BREAK TIME="1S">', 1.0),
    ],
)
def test_break_durations(tag: str, seconds: float) -> None:
    pieces = parse_markup(f"a {tag} b")
    breaks = [piece for piece in pieces if isinstance(piece, BreakPiece)]
    assert len(breaks) == 1
    assert breaks[0].seconds == pytest.approx(seconds)
    assert spoken(pieces) == "a  b"


def test_closing_break_tag_is_dropped() -> None:
    assert spoken(parse_markup('a <break time="1s"></break>b')) == "a b"


# ============================================================================================ phonemes


def test_ipa_phoneme() -> None:
    text = 'I <phoneme alphabet="ipa" ph="ˈæktʃuəli">actually</phoneme> did.'
    pieces = parse_markup(text)
    assert pieces == [
        TextPiece("I ", 0, 2),
        PhonemePiece("ˈæktʃuəli", "ipa", "actually", 2, text.index(" did")),
        TextPiece(" did.", text.index(" did"), len(text)),
    ]
    check_pieces(text, pieces)


def test_cmu_arpabet_phoneme() -> None:
    text = '<phoneme alphabet="cmu-arpabet" ph="T AH0 M EY1 T OW2">tomato</phoneme>'
    assert parse_markup(text) == [PhonemePiece("T AH0 M EY1 T OW2", "cmu-arpabet", "tomato", 0, len(text))]


def test_phoneme_defaults_to_ipa_and_strips_inner_markup() -> None:
    text = "<phoneme ph='təˈmɑːtoʊ'> <b>to</b>mato </phoneme>"
    (piece,) = parse_markup(text)
    assert piece == PhonemePiece("təˈmɑːtoʊ", "ipa", "tomato", 0, len(text))


@pytest.mark.parametrize(
    "text",
    [
        '<phoneme alphabet="x-sampa" ph="t@">tomato</phoneme>',  # unsupported alphabet
        "<phoneme alphabet='ipa'>tomato</phoneme>",  # no pronunciation
        '<phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato',  # never closed
    ],
)
def test_unusable_phoneme_keeps_the_word(text: str) -> None:
    pieces = parse_markup(text)
    assert spoken(pieces) == "tomato"
    assert not any(isinstance(piece, PhonemePiece) for piece in pieces)
    check_pieces(text, pieces)


# ============================================================================================ other tags


def test_speak_wrapper_and_unknown_tags_are_dropped_keeping_text() -> None:
    text = '<speak><prosody rate="slow">Hello</prosody> <emphasis level="strong">there</emphasis>.</speak>'
    pieces = parse_markup(text)
    assert spoken(pieces) == "Hello there."
    assert all(isinstance(piece, TextPiece) for piece in pieces)
    check_pieces(text, pieces)


def test_nested_markup() -> None:
    text = (
        '<speak><emphasis>Say <phoneme alphabet="ipa" ph="ˈpiːkæn">pecan</phoneme>'
        '<break time="300ms"/> twice</emphasis></speak>'
    )
    pieces = parse_markup(text)
    kinds = [type(piece).__name__ for piece in pieces]
    assert kinds == ["TextPiece", "PhonemePiece", "BreakPiece", "TextPiece"]
    assert pieces[1] == PhonemePiece("ˈpiːkæn", "ipa", "pecan", text.index("<phoneme"), text.index("<break"))
    assert pieces[2].seconds == pytest.approx(0.3)  # type: ignore[union-attr]
    check_pieces(text, pieces)


def test_entities_are_decoded_as_their_own_pieces() -> None:
    text = "AT&amp;T &lt;3 &#233;"
    pieces = parse_markup(text)
    assert spoken(pieces) == "AT&T <3 é"
    assert TextPiece("&", 2, 7) in pieces
    check_pieces(text, pieces)


def test_comments_and_declarations_are_dropped() -> None:
    assert spoken(parse_markup('<?xml version="1.0"?><!-- note --><speak>Hi</speak>')) == "Hi"


def test_ssml_off_keeps_angle_brackets_as_text() -> None:
    text = 'a <break time="1s"/> b'
    assert parse_markup(text, ssml=False) == [TextPiece(text, 0, len(text))]


# ============================================================================================ malformed input


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Wait <break time="1s" then go', 'Wait break time="1s" then go'),
        ("Mail <jane@example.org> now", "Mail jane@example.org now"),
        ("See <https://example.com>", "See https://example.com"),
        ("a < b and c > d", "a < b and c > d"),
        ("I <3 you", "I <3 you"),
        ("x<y", "xy"),
        ("</phoneme> stray close", " stray close"),
        ("<<>>", "<<>>"),
        ("unclosed <!-- comment", "unclosed !-- comment"),
    ],
)
def test_malformed_markup_is_spoken_without_angle_brackets(text: str, expected: str) -> None:
    pieces = parse_markup(text)
    assert spoken(pieces) == expected
    check_pieces(text, pieces)


# ============================================================================================ audio tags


def test_audio_tags_become_styles_and_pauses() -> None:
    text = "[whispers] Hello. [laughs] [short pause] ok [long pause] [Pause] done [Sarcastic]"
    pieces = parse_markup(text, audio_tags=True)
    assert pieces[0] == StylePiece("whispers", 0, 10)
    styles = [piece.tag for piece in pieces if isinstance(piece, StylePiece)]
    assert styles == ["whispers", "laughs", "sarcastic"]
    breaks = [piece.seconds for piece in pieces if isinstance(piece, BreakPiece)]
    assert breaks == [0.25, 1.0, 0.5]
    assert spoken(pieces) == " Hello.   ok   done "
    check_pieces(text, pieces)


def test_audio_tag_offsets_and_spacing() -> None:
    text = "Well [clears   throat] then"
    pieces = parse_markup(text, audio_tags=True)
    assert pieces == [
        TextPiece("Well ", 0, 5),
        StylePiece("clears throat", 5, 22),
        TextPiece(" then", 22, 27),
    ]


def test_brackets_without_words_stay_text() -> None:
    text = "See [1] and [2024] and []"
    assert parse_markup(text, audio_tags=True) == [TextPiece(text, 0, len(text))]


def test_audio_tags_off_keeps_brackets() -> None:
    text = "[whispers] Hello"
    assert parse_markup(text) == [TextPiece(text, 0, len(text))]
    assert parse_markup(text, ssml=False, audio_tags=False) == [TextPiece(text, 0, len(text))]


def test_audio_tags_with_ssml_off_leave_tags_as_text() -> None:
    text = '[sad] a <break time="1s"/> b'
    pieces = parse_markup(text, ssml=False, audio_tags=True)
    assert pieces == [StylePiece("sad", 0, 5), TextPiece(' a <break time="1s"/> b', 5, len(text))]


def test_audio_tags_and_ssml_together() -> None:
    text = '[excited] We won! <break time="1s"/> [whispers] Tell no one.'
    pieces = parse_markup(text, audio_tags=True)
    assert [type(piece).__name__ for piece in pieces] == [
        "StylePiece",
        "TextPiece",
        "BreakPiece",
        "TextPiece",
        "StylePiece",
        "TextPiece",
    ]
    check_pieces(text, pieces)


# ============================================================================================ prosody


def test_style_prosody_table() -> None:
    whispers = STYLE_PROSODY["whispers"]
    assert whispers.volume_db == -10.0 and whispers.breathy
    assert STYLE_PROSODY["excited"] == Prosody(rate=1.1, pitch=1.1, pitch_range=1.4, volume_db=2.0)
    sad = STYLE_PROSODY["sad"]
    assert (sad.rate, sad.pitch, sad.pitch_range) == (0.9, 0.92, 0.7)
    for tag in ("angry", "shouts"):
        assert STYLE_PROSODY[tag].volume_db == 4.0 and STYLE_PROSODY[tag].rate == 1.05
        assert STYLE_PROSODY[tag].pitch_range == 1.3
    for tag in ("calm", "curious", "sarcastic", "crying"):
        assert tag in STYLE_PROSODY
    assert STYLE_PROSODY["laughs"].nonverbal == "laugh"
    assert STYLE_PROSODY["sighs"].nonverbal == "sigh"
    assert STYLE_PROSODY["clears throat"].nonverbal == "clear_throat"
    assert STYLE_PROSODY["excited"].nonverbal is None


def test_prosody_values_are_sane() -> None:
    for tag, prosody in STYLE_PROSODY.items():
        assert tag == tag.lower().strip()
        assert 0.5 <= prosody.rate <= 1.5
        assert 0.5 <= prosody.pitch <= 1.5
        assert 0.2 <= prosody.pitch_range <= 2.0
        assert -20.0 <= prosody.volume_db <= 10.0


def test_prosody_for_ignores_case_and_spacing() -> None:
    assert prosody_for("  Whispers ") == STYLE_PROSODY["whispers"]
    assert prosody_for("CLEARS   throat") == STYLE_PROSODY["clears throat"]
    assert prosody_for("strong French accent") is None


# ============================================================================================ robustness


def test_empty_and_plain_text() -> None:
    assert parse_markup("") == []
    assert parse_markup("Just words.", audio_tags=True) == [TextPiece("Just words.", 0, 11)]


@pytest.mark.parametrize(("ssml", "audio_tags"), [(True, False), (True, True), (False, True)])
def test_fuzz_never_raises(ssml: bool, audio_tags: bool) -> None:
    rng = random.Random(f"markup-{ssml}-{audio_tags}")
    fragments = [
        "<", ">", "/", "break", "phoneme", "speak", " ", '"', "'", "=", "time", "ph", "alphabet", "ipa", "1s",
        "500ms", "[", "]", "whispers", "pause", "short", "&amp;", "&#", ";", "!--", "--", "?", "a", "é", "\n",
    ]  # fmt: skip
    for i in range(3000):
        if i % 3:
            text = "".join(rng.choice(fragments) for _ in range(rng.randint(0, 25)))
        else:
            text = "".join(chr(rng.randint(1, 0x2FFFF)) for _ in range(rng.randint(0, 30)))
        pieces = parse_markup(text, ssml=ssml, audio_tags=audio_tags)
        check_pieces(text, pieces)
