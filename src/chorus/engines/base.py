"""The contract every speech engine meets, and the small helpers the in-process engines share.

Engines turn text into signed 16-bit little-endian mono PCM. They are plain objects built by
:class:`chorus.engines.registry.EngineRegistry`; nothing here loads a native library at import time.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# The speaking-rate multipliers an engine will honour; requests outside are clamped, not refused,
# because the API layer already validates the documented 0.7..1.2 range.
MIN_SPEED = 0.5
MAX_SPEED = 2.0

# A sentence longer than this is split again at clause boundaries so the first chunk of audio is
# ready quickly even for run-on text.
MAX_CHUNK_CHARS = 300


@dataclass(frozen=True)
class PCMFormat:
    """Raw PCM layout: signed 16-bit little-endian samples."""

    sample_rate: int
    channels: int = 1  # always mono for now

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * self.channels * 2


@dataclass(frozen=True)
class EngineVoice:
    """One premade voice an engine offers."""

    engine: str  # "flite" | "espeak-ng"
    native_id: str  # the engine's own voice name, e.g. "rms" or "en-us+f3"
    name: str  # human display name, e.g. "Rowan"
    gender: str  # "male" | "female"
    accent: str  # e.g. "american", "scottish", "british"
    age: str  # "young" | "middle_aged" | "old"
    language: str  # ISO 639-1, e.g. "en"
    description: str
    use_case: str  # e.g. "narration", "conversational"


@dataclass(frozen=True)
class SynthesisRequest:
    """What to say and how. Equal requests produce byte-identical audio."""

    text: str
    native_voice: str
    language: str | None = None  # ISO 639-1 hint; engines ignore languages they lack
    speed: float = 1.0  # 0.7..1.2 multiplier on speaking rate
    stability: float = 0.5  # 0..1, lower = more pitch variation; engines may ignore it
    style: float = 0.0
    seed: int | None = None


@dataclass(frozen=True)
class AudioChunk:
    """A piece of synthesised speech, normally one sentence."""

    pcm: bytes  # s16le mono
    format: PCMFormat

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.format.bytes_per_second


class EngineUnavailable(RuntimeError):
    """The engine cannot run here; the message names the engine and how to install what it needs."""


class UnknownVoice(ValueError):
    """The request names a voice the engine does not have."""


@runtime_checkable
class TTSEngine(Protocol):
    """A text-to-speech engine.

    ``synthesize`` blocks (callers run it in a worker thread), may be called from several threads at
    once, yields one :class:`AudioChunk` per sentence so the first audio is ready early, and yields
    nothing for text with nothing to say. It raises :class:`EngineUnavailable` when the engine is
    unavailable and :class:`UnknownVoice` for a voice it does not have.
    """

    name: str

    def available(self) -> bool: ...

    def unavailable_reason(self) -> str | None: ...

    def voices(self) -> list[EngineVoice]: ...

    def languages(self) -> list[tuple[str, str]]: ...  # (ISO 639-1 code, English name)

    def output_format(self) -> PCMFormat: ...

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]: ...


def clamp_speed(speed: float) -> float:
    """The speaking-rate multiplier an engine should use for ``speed``."""
    if not speed or speed != speed:  # 0 or NaN: fall back to the natural rate
        return 1.0
    return min(MAX_SPEED, max(MIN_SPEED, float(speed)))


# --- the C library's rand() -------------------------------------------------------------------
#
# Both native engines draw noise from the C library's rand(): flite's clustergen vocoder for its
# mixed excitation and eSpeak NG for breath noise. That generator is one per process, so byte-exact
# output needs every synthesis that may call it to run alone with a freshly seeded generator. The
# lock therefore has to be process-wide too: it guards a process-wide resource, not an engine.
_LIBC_RAND_LOCK = threading.Lock()


@functools.cache
def libc() -> ctypes.CDLL:
    """The C library (always mapped into a CPython process), with the functions used here declared."""
    lib = ctypes.CDLL(None)
    lib.srand.argtypes = [ctypes.c_uint]
    lib.srand.restype = None
    lib.free.argtypes = [ctypes.c_void_p]
    lib.free.restype = None
    return lib


@contextlib.contextmanager
def seeded_libc_rand(seed: int | None) -> Iterator[None]:
    """Hold the process-wide rand() lock with the generator seeded from ``seed`` (0 when None)."""
    srand = libc().srand
    with _LIBC_RAND_LOCK:
        srand((seed or 0) & 0xFFFFFFFF)
        yield


# --- text --------------------------------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e", "approx",
        "dept", "fig", "inc", "ltd", "corp", "vol", "cf", "jan", "feb", "mar", "apr", "jun", "jul",
        "aug", "sep", "sept", "oct", "nov", "dec", "gen", "col", "lt", "sgt", "capt", "rev", "hon",
    }
)  # fmt: skip
# A sentence ends at ., ! or ? (possibly repeated, possibly followed by closing quotes or brackets)
# and then whitespace. Candidates are checked against abbreviations and initials before splitting.
_SENTENCE_END = re.compile(r"""[.!?…]+["'”’)\]]*\s+|[。！？]+[」』”）]*\s*""")
_CLAUSE_END = re.compile(r"""[,;:—–]\s+|[，；：、]""")
_SPACE = re.compile(r"\s+")
# C0/C1 control characters and bidirectional overrides: never spoken, and a NUL would cut the text
# short in C.
_UNSPEAKABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def _is_abbreviation(text_before: str) -> bool:
    word = text_before.rstrip(".").rsplit(None, 1)[-1] if text_before.strip() else ""
    word = word.lstrip("\"'“‘([").lower()
    if not word:
        return False
    if len(word) == 1 and word.isalpha():  # an initial such as "J. R. R. Tolkien"
        return True
    if re.fullmatch(r"(?:[a-z]\.)+[a-z]", word):  # dotted: "p.m.", "U.S.", "e.g."
        return True
    return word in _ABBREVIATIONS


def _split_long(sentence: str, limit: int) -> list[str]:
    """Split a run-on sentence at clause punctuation, then at spaces, into pieces of at most ``limit``."""
    if len(sentence) <= limit:
        return [sentence]
    pieces: list[str] = []
    rest = sentence
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for match in _CLAUSE_END.finditer(window):
            cut = match.end()
        if cut <= limit // 3:  # no usable clause break: fall back to the last space
            space = window.rfind(" ")
            cut = space + 1 if space > limit // 3 else limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return [p for p in pieces if p]


def split_sentences(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[str]:
    """Split ``text`` into sentences (and over-long sentences into clauses), dropping empty pieces.

    Paragraph breaks always end a sentence; abbreviations ("Dr.", "e.g.") and initials do not.
    """
    sentences: list[str] = []
    text = _UNSPEAKABLE.sub("", text)
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = _SPACE.sub(" ", paragraph).strip()
        if not paragraph:
            continue
        start = 0
        for match in _SENTENCE_END.finditer(paragraph + " "):
            end = match.end()
            punct = match.group(0).strip()
            if (
                punct.startswith(".")
                and not punct.startswith("..")
                and _is_abbreviation(paragraph[start : match.start()])
            ):
                continue
            piece = paragraph[start:end].strip()
            if piece:
                sentences.extend(_split_long(piece, max_chars))
            start = end
        tail = paragraph[start:].strip()
        if tail:
            sentences.extend(_split_long(tail, max_chars))
    return [s for s in sentences if any(ch.isalnum() for ch in s)]


_ASCII_REPLACEMENTS = {
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'",
    "“": '"', "”": '"', "„": '"', "″": '"', "«": '"', "»": '"',
    "–": " - ", "—": " - ", "‒": " - ", "―": " - ", "−": "-",
    "…": "...", "•": ",", "·": ",",
    "€": " euros ", "£": " pounds ", "¥": " yen ", "¢": " cents ",
    "%": " percent ", "&": " and ", "@": " at ", "½": " one half ", "¼": " one quarter ",
    "¾": " three quarters ", "°": " degrees ", "×": " times ", "÷": " divided by ",
    "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ð": "d", "þ": "th",
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}  # fmt: skip


def to_speakable_ascii(text: str) -> str:
    """Transliterate ``text`` to printable ASCII for engines that only read English ASCII.

    Typographic punctuation becomes its ASCII form, accents are stripped ("café" → "cafe"), a few
    symbols become words, and anything else without an ASCII reading is dropped.
    """
    replaced = "".join(_ASCII_REPLACEMENTS.get(ch, ch) for ch in text)
    decomposed = unicodedata.normalize("NFKD", replaced)
    ascii_text = "".join(ch for ch in decomposed if 32 <= ord(ch) < 127 or ch in "\n\t")
    return _SPACE.sub(" ", ascii_text).strip()
