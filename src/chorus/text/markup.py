"""ElevenLabs-style markup in request text, parsed into a script of pieces the TTS service renders.

Two kinds of markup are understood:

* SSML-ish tags (``ssml=True``): ``<break time="1.5s" />`` (also ``"500ms"``, or ``strength="weak"``),
  ``<phoneme alphabet="ipa" ph="ˈæktʃuəli">actually</phoneme>`` (or ``alphabet="cmu-arpabet"``), an
  optional ``<speak>…</speak>`` wrapper, XML comments and the five XML entities (``&amp;`` …). Any other
  well-formed tag is dropped and its inner text kept. Something that starts like a tag but is not one
  (``<break time="1s"`` without its ``>``, ``<!--`` never closed) is spoken as text without its angle
  brackets; a ``<`` that does not start a tag name (``a < b``, ``<3``) is left alone.
* eleven_v3 audio tags (``audio_tags=True``): ``[whispers]``, ``[excited]``, ``[laughs]``… become
  :class:`StylePiece` (tag lower-cased, spaces collapsed); ``[pause]``, ``[short pause]`` and
  ``[long pause]`` become :class:`BreakPiece` of 0.5, 0.25 and 1.0 seconds. Brackets holding anything
  but words (``[1]``, ``[a-b]`` is fine, ``[2024]`` is not) stay text.

Contract of :func:`parse_markup`
--------------------------------
* Pieces come in text order, never overlap, and every offset lies within the request text.
* A :class:`TextPiece`'s ``text`` is exactly ``text[orig_start:orig_end]``, except for a piece made from
  an XML entity (``&amp;`` → ``"&"``), which covers just that entity. Consecutive text pieces are split
  only where markup was removed: a renderer should speak them as one run.
* A :class:`PhonemePiece` covers its whole element, from ``<phoneme`` to ``</phoneme>``; a
  :class:`BreakPiece` or :class:`StylePiece` covers its tag.
* It never raises, whatever the input.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_BREAK_SECONDS",
    "STYLE_PROSODY",
    "BreakPiece",
    "PhonemeAlphabet",
    "PhonemePiece",
    "Piece",
    "Prosody",
    "StylePiece",
    "TextPiece",
    "parse_markup",
    "prosody_for",
]

MAX_BREAK_SECONDS = 3.0  # ElevenLabs caps a single <break> at three seconds
DEFAULT_BREAK_SECONDS = 0.5

PhonemeAlphabet = Literal["ipa", "cmu-arpabet"]


@dataclass(frozen=True)
class TextPiece:
    """Text to speak; offsets are into the original request text."""

    text: str
    orig_start: int
    orig_end: int


@dataclass(frozen=True)
class BreakPiece:
    """Silence of ``seconds`` (0 to :data:`MAX_BREAK_SECONDS`)."""

    seconds: float
    orig_start: int
    orig_end: int


@dataclass(frozen=True)
class PhonemePiece:
    """A word with a given pronunciation: say ``phonemes`` (in ``alphabet``) where ``text`` stands."""

    phonemes: str
    alphabet: PhonemeAlphabet
    text: str
    orig_start: int
    orig_end: int


@dataclass(frozen=True)
class StylePiece:
    """An eleven_v3 audio tag such as "whispers", "excited" or "laughs" (see :data:`STYLE_PROSODY`)."""

    tag: str
    orig_start: int
    orig_end: int


Piece = TextPiece | BreakPiece | PhonemePiece | StylePiece


# ============================================================================================ prosody


@dataclass(frozen=True)
class Prosody:
    """How an audio tag changes delivery, as multipliers and offsets a renderer can apply.

    ``pitch`` multiplies the mean F0 and ``pitch_range`` its excursions; ``volume_db`` is a gain;
    ``breathy`` asks for a whispered/breathy voice where the engine has one. ``nonverbal`` names a
    sound the tag stands for ("laugh", "sigh", "clear_throat" …): a renderer that cannot make it may
    insert a short breath or silence instead.
    """

    rate: float = 1.0
    pitch: float = 1.0
    pitch_range: float = 1.0
    volume_db: float = 0.0
    breathy: bool = False
    nonverbal: str | None = None


_WHISPER = Prosody(rate=0.95, pitch_range=0.6, volume_db=-10.0, breathy=True)
_EXCITED = Prosody(rate=1.1, pitch=1.1, pitch_range=1.4, volume_db=2.0)
_SAD = Prosody(rate=0.9, pitch=0.92, pitch_range=0.7, volume_db=-2.0)
_ANGRY = Prosody(rate=1.05, pitch=1.03, pitch_range=1.3, volume_db=4.0)
_SHOUT = Prosody(rate=1.05, pitch=1.1, pitch_range=1.3, volume_db=4.0)
_CALM = Prosody(rate=0.93, pitch=0.98, pitch_range=0.8, volume_db=-1.0)
_CURIOUS = Prosody(rate=1.0, pitch=1.05, pitch_range=1.2)
_SARCASTIC = Prosody(rate=0.95, pitch=0.98, pitch_range=1.25)
_HAPPY = Prosody(rate=1.05, pitch=1.06, pitch_range=1.2, volume_db=1.0)
_NERVOUS = Prosody(rate=1.08, pitch=1.04, pitch_range=1.1, volume_db=-1.0)
_CRYING = Prosody(rate=0.88, pitch=1.05, pitch_range=0.8, volume_db=-3.0, breathy=True)
_SURPRISED = Prosody(rate=1.05, pitch=1.1, pitch_range=1.5, volume_db=2.0)
_ANNOYED = Prosody(rate=1.03, pitch=1.0, pitch_range=1.2, volume_db=2.0)
_TIRED = Prosody(rate=0.85, pitch=0.95, pitch_range=0.6, volume_db=-3.0)
_PLAYFUL = Prosody(rate=1.03, pitch=1.04, pitch_range=1.25)
_THOUGHTFUL = Prosody(rate=0.92, pitch=0.99, pitch_range=0.9)
_SERIOUS = Prosody(rate=0.97, pitch=0.97, pitch_range=0.85)
_SOFT = Prosody(rate=0.97, pitch_range=0.9, volume_db=-6.0)
_LOUD = Prosody(volume_db=5.0, pitch_range=1.1)
_DRAMATIC = Prosody(rate=0.9, pitch_range=1.4, volume_db=1.0)
_FLAT = Prosody(pitch_range=0.4)
_HESITANT = Prosody(rate=0.88, pitch_range=0.9, volume_db=-1.0)
_CONFIDENT = Prosody(pitch_range=1.1, volume_db=1.0)


def _nonverbal(sound: str) -> Prosody:
    return Prosody(nonverbal=sound)


STYLE_PROSODY: dict[str, Prosody] = {
    # voice quality and emotion
    "whispers": _WHISPER,
    "whispering": _WHISPER,
    "whisper": _WHISPER,
    "excited": _EXCITED,
    "excitedly": _EXCITED,
    "sad": _SAD,
    "sadly": _SAD,
    "angry": _ANGRY,
    "angrily": _ANGRY,
    "shouts": _SHOUT,
    "shouting": _SHOUT,
    "yelling": _SHOUT,
    "calm": _CALM,
    "calmly": _CALM,
    "curious": _CURIOUS,
    "curiously": _CURIOUS,
    "sarcastic": _SARCASTIC,
    "sarcastically": _SARCASTIC,
    "happy": _HAPPY,
    "happily": _HAPPY,
    "cheerful": _HAPPY,
    "cheerfully": _HAPPY,
    "nervous": _NERVOUS,
    "nervously": _NERVOUS,
    "crying": _CRYING,
    "sobbing": _CRYING,
    "surprised": _SURPRISED,
    "annoyed": _ANNOYED,
    "frustrated": _ANNOYED,
    "tired": _TIRED,
    "sleepy": _TIRED,
    "mischievously": _PLAYFUL,
    "playfully": _PLAYFUL,
    "playful": _PLAYFUL,
    "thoughtful": _THOUGHTFUL,
    "thoughtfully": _THOUGHTFUL,
    "serious": _SERIOUS,
    "seriously": _SERIOUS,
    "softly": _SOFT,
    "quietly": _SOFT,
    "loudly": _LOUD,
    "dramatically": _DRAMATIC,
    "dramatic": _DRAMATIC,
    "deadpan": _FLAT,
    "flatly": _FLAT,
    "monotone": _FLAT,
    "hesitant": _HESITANT,
    "hesitantly": _HESITANT,
    "confident": _CONFIDENT,
    "confidently": _CONFIDENT,
    "slowly": Prosody(rate=0.8),
    "quickly": Prosody(rate=1.2),
    "fast": Prosody(rate=1.2),
    "rushed": Prosody(rate=1.25, pitch_range=0.9),
    # sounds
    "laughs": _nonverbal("laugh"),
    "laughing": _nonverbal("laugh"),
    "laughs harder": _nonverbal("laugh"),
    "starts laughing": _nonverbal("laugh"),
    "chuckles": _nonverbal("chuckle"),
    "giggles": _nonverbal("giggle"),
    "sighs": _nonverbal("sigh"),
    "exhales": _nonverbal("exhale"),
    "exhales sharply": _nonverbal("exhale"),
    "inhales": _nonverbal("inhale"),
    "inhales deeply": _nonverbal("inhale"),
    "gasps": _nonverbal("gasp"),
    "clears throat": _nonverbal("clear_throat"),
    "coughs": _nonverbal("cough"),
    "sniffs": _nonverbal("sniff"),
    "snorts": _nonverbal("snort"),
    "gulps": _nonverbal("gulp"),
    "yawns": _nonverbal("yawn"),
    "swallows": _nonverbal("gulp"),
}

_PAUSE_TAGS = {"pause": 0.5, "short pause": 0.25, "long pause": 1.0}


def prosody_for(tag: str) -> Prosody | None:
    """The :class:`Prosody` for an audio tag (case and spacing ignored), or None for an unknown tag."""
    return STYLE_PROSODY.get(_normalize_tag(tag))


def _normalize_tag(tag: str) -> str:
    return " ".join(tag.lower().split())


# ============================================================================================ parsing

_ATTRIBUTE = r"""[A-Za-z_:][\w.:-]*\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>/=`]+)"""
_TOKEN = re.compile(
    r"(?P<comment><!--.*?-->)"
    r"|(?P<decl><[?!][^<>]*>)"
    rf"|(?P<tag><(?P<close>/)?(?P<name>[A-Za-z][\w.:-]*)(?P<attrs>(?:\s+{_ATTRIBUTE})*)\s*(?P<empty>/)?\s*>)"
    r"|(?P<broken><(?=/?[A-Za-z]|[!?])[^<>]*>?)"
    r"|(?P<entity>&(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});)"
    r"|(?P<audio>\[(?P<audio_body>[^\W\d_][\w' ,-]{0,60})\])",
    re.S,
)
_ATTR_PAIR = re.compile(r"""([A-Za-z_:][\w.:-]*)\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)'|([^\s"'<>/=`]+))""")
_BREAK_TIME = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|msec|milliseconds?|s|secs?|seconds?)?\s*$", re.I)
_BREAK_STRENGTH = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.5, "strong": 0.75, "x-strong": 1.0}
_ALPHABETS: dict[str, PhonemeAlphabet] = {
    "ipa": "ipa",
    "cmu-arpabet": "cmu-arpabet",
    "arpabet": "cmu-arpabet",
    "x-arpabet": "cmu-arpabet",
    "cmu": "cmu-arpabet",
}
_TAGS_ONLY = re.compile(r"<[^<>]*>")


def _attributes(raw: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR_PAIR.finditer(raw):
        value = next((group for group in match.groups()[1:] if group is not None), "")
        attrs[match.group(1).lower()] = html.unescape(value)
    return attrs


def break_seconds(attrs: dict[str, str]) -> float:
    """Seconds for a ``<break>`` from its ``time`` (``"1.5s"``, ``"500ms"``) or ``strength`` attribute.

    Clamped to 0..:data:`MAX_BREAK_SECONDS`; a break with neither (or an unreadable value) is a medium
    pause of half a second.
    """
    seconds = None
    time_match = _BREAK_TIME.match(attrs.get("time", ""))
    if time_match:
        seconds = float(time_match.group(1))
        unit = (time_match.group(2) or "s").lower()
        if unit.startswith("m"):
            seconds /= 1000.0
    elif attrs.get("strength", "").lower() in _BREAK_STRENGTH:
        seconds = _BREAK_STRENGTH[attrs["strength"].lower()]
    if seconds is None or seconds != seconds:  # missing or NaN
        seconds = DEFAULT_BREAK_SECONDS
    return min(max(seconds, 0.0), MAX_BREAK_SECONDS)


def _inner_text(fragment: str) -> str:
    """The text of a phoneme element's content: tags removed, entities decoded, spaces tidied."""
    return " ".join(html.unescape(_TAGS_ONLY.sub("", fragment)).split())


def parse_markup(text: str, *, ssml: bool = True, audio_tags: bool = False) -> list[Piece]:
    """Split ``text`` into pieces to speak, silences, phoneme overrides and style tags (see module doc)."""
    if not isinstance(text, str):
        text = str(text)
    if not ssml and not audio_tags:
        return [TextPiece(text, 0, len(text))] if text else []
    try:
        return _parse(text, ssml, audio_tags)
    except Exception:  # malformed input is spoken as text rather than refused
        return [TextPiece(text, 0, len(text))] if text else []


def _parse(text: str, ssml: bool, audio_tags: bool) -> list[Piece]:
    pieces: list[Piece] = []
    cursor = 0  # start of text not yet emitted
    skip_to = 0  # tokens before this offset were consumed by a phoneme element

    def emit_text(start: int, end: int) -> None:
        if end > start:
            pieces.append(TextPiece(text[start:end], start, end))

    for token in _TOKEN.finditer(text):
        start, end = token.span()
        if start < skip_to:
            continue
        kind = token.lastgroup
        if kind in ("audio", "audio_body"):
            if not audio_tags:
                continue
            emit_text(cursor, start)
            tag = _normalize_tag(token.group("audio_body"))
            if tag in _PAUSE_TAGS:
                pieces.append(BreakPiece(_PAUSE_TAGS[tag], start, end))
            else:
                pieces.append(StylePiece(tag, start, end))
            cursor = end
            continue
        if not ssml:
            continue
        emit_text(cursor, start)
        cursor = end
        if kind == "entity":
            pieces.append(TextPiece(html.unescape(token.group(0)), start, end))
        elif kind == "broken":
            # Spoken as text, without its angle brackets.
            inner_start = start + 1
            inner_end = end - 1 if token.group(0).endswith(">") else end
            emit_text(inner_start, inner_end)
        elif kind == "tag":
            name = token.group("name").lower()
            if token.group("close"):
                continue  # closing tags of anything we keep were consumed with their element
            attrs = _attributes(token.group("attrs") or "")
            if name == "break":
                pieces.append(BreakPiece(break_seconds(attrs), start, end))
            elif name == "phoneme" and not token.group("empty"):
                element = _phoneme(text, token, attrs)
                if element is not None:
                    pieces.append(element)
                    cursor = skip_to = element.orig_end
        # comments, declarations and every other tag are dropped
    emit_text(cursor, len(text))
    return pieces


_PHONEME_CLOSE = re.compile(r"</phoneme\s*>", re.I)


def _phoneme(text: str, opening: re.Match[str], attrs: dict[str, str]) -> PhonemePiece | None:
    """The phoneme element ``opening`` starts, or None when it is unusable (the tag is then dropped)."""
    phonemes = attrs.get("ph", "").strip()
    alphabet = _ALPHABETS.get(attrs.get("alphabet", "ipa").strip().lower())
    closing = _PHONEME_CLOSE.search(text, opening.end())
    if not phonemes or alphabet is None or closing is None:
        return None
    word = _inner_text(text[opening.end() : closing.start()])
    return PhonemePiece(phonemes, alphabet, word, opening.start(), closing.end())
