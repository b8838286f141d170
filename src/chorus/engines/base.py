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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

# The speaking-rate multipliers an engine will honour; requests outside are clamped, not refused,
# because the API layer already validates the documented 0.7..1.2 range.
MIN_SPEED = 0.5
MAX_SPEED = 2.0
# Pitch multipliers (of the voice's mean F0, and of the F0 variation around it) an engine honours.
MIN_PITCH = 0.5
MAX_PITCH = 2.0
MIN_PITCH_RANGE = 0.0
MAX_PITCH_RANGE = 3.0

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
    pitch: float = 1.0  # multiplier of the voice's mean F0 (clamped to 0.5..2.0)
    pitch_range: float = 1.0  # multiplier of F0 variation around the mean (clamped to 0.0..3.0)
    # Pronounce ``text`` (a word or a short phrase) with these phonemes instead of reading it; the
    # audio is one chunk whose one word timing covers the whole text. See chorus.engines.phonemes.
    phonemes: str | None = None
    alphabet: Literal["ipa", "cmu-arpabet"] | None = None  # of ``phonemes``; guessed when None


@dataclass(frozen=True)
class WordTiming:
    """When one word of the request's text is spoken.

    Offsets index :attr:`SynthesisRequest.text` exactly as the caller passed it (never a cleaned or
    transliterated copy) and span the word without surrounding punctuation; text an engine reads as
    several words ("123", "50%") is one timing covering all of them. Times are seconds from the start
    of the whole synthesis: the first chunk starts at 0.0 and later chunks carry on from there.
    """

    char_start: int
    char_end: int  # exclusive
    start_s: float
    end_s: float


@dataclass(frozen=True)
class AudioChunk:
    """A piece of synthesised speech, normally one sentence.

    ``text_start``/``text_end`` locate what the chunk voices in :attr:`SynthesisRequest.text`. The
    chunks of one synthesis tile the text in order: each starts where the one before ended (so the
    whitespace between sentences belongs to the earlier chunk); the first starts at the first
    character spoken and the last ends after the last. ``words`` are the words voiced in this chunk,
    in order, not overlapping, and inside the audio produced so far. A chunk an engine adds on its
    own (silence) voices no text: both offsets equal the position it sits at and ``words`` is empty.
    """

    pcm: bytes  # s16le mono
    format: PCMFormat
    text_start: int = 0
    text_end: int = 0
    words: tuple[WordTiming, ...] = ()

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.format.bytes_per_second


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine can do, so callers can choose (and the API can advertise) features."""

    streaming_output: bool  # yields audio sentence by sentence
    streaming_input: bool  # can start before the full text is known
    timestamps: bool  # fills AudioChunk.words
    languages: tuple[str, ...]  # ISO 639-1
    sample_rate: int
    # Every sentence of a request is synthesised on its own, as a pure function of that sentence and the
    # request's settings (seed included): text cut at the starts of :func:`sentence_spans` sentences and
    # synthesised piece by piece gives the same audio. Callers may then synthesise sentences in parallel.
    independent_sentences: bool = False


class EngineUnavailable(RuntimeError):
    """The engine cannot run here; the message names the engine and how to install what it needs."""


class UnknownVoice(ValueError):
    """The request names a voice the engine does not have."""


class EngineBusy(RuntimeError):
    """Every worker of a pooled engine stayed busy for longer than the pool is willing to wait."""


@runtime_checkable
class TTSEngine(Protocol):
    """A text-to-speech engine.

    ``synthesize`` blocks (callers run it in a worker thread), may be called from several threads at
    once, yields one :class:`AudioChunk` per sentence so the first audio is ready early, and yields
    nothing for text with nothing to say. Chunks say which part of the request's text they voice and,
    when ``capabilities().timestamps``, when each of its words is spoken. It raises
    :class:`EngineUnavailable` when the engine is unavailable and :class:`UnknownVoice` for a voice it
    does not have, on the call itself (before any audio). The iterator may be closed early; engines in
    worker processes then free the worker (:mod:`chorus.engines.pool`).
    """

    name: str

    def available(self) -> bool: ...

    def unavailable_reason(self) -> str | None: ...

    def voices(self) -> list[EngineVoice]: ...

    def languages(self) -> list[tuple[str, str]]: ...  # (ISO 639-1 code, English name)

    def output_format(self) -> PCMFormat: ...

    def capabilities(self) -> EngineCapabilities: ...

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]: ...


def clamp_speed(speed: float) -> float:
    """The speaking-rate multiplier an engine should use for ``speed``."""
    if not speed or speed != speed:  # 0 or NaN: fall back to the natural rate
        return 1.0
    return min(MAX_SPEED, max(MIN_SPEED, float(speed)))


def clamp_pitch(pitch: float) -> float:
    """The mean-F0 multiplier an engine should use for ``pitch`` (NaN or a non-number: 1.0)."""
    return _clamp(pitch, MIN_PITCH, MAX_PITCH)


def clamp_pitch_range(pitch_range: float) -> float:
    """The F0-variation multiplier an engine should use for ``pitch_range`` (NaN or a non-number: 1.0)."""
    return _clamp(pitch_range, MIN_PITCH_RANGE, MAX_PITCH_RANGE)


def _clamp(value: float, low: float, high: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 1.0
    if value != value:  # NaN
        return 1.0
    return min(high, max(low, value))


# --- the C library's rand() -------------------------------------------------------------------
#
# Both native engines draw noise from the C library's rand(): flite's clustergen vocoder for its
# mixed excitation and eSpeak NG for breath noise. That generator is one per process, so byte-exact
# output needs every synthesis that may call it to run alone with a freshly seeded generator. The
# lock therefore has to be process-wide too: it guards a process-wide resource, not an engine.
# It only excludes code that takes it: a native library calling rand(), random() or srandom() from its
# own thread breaks seeded output (onnxruntime's telemetry thread did; chorus/__init__.py turns it off).
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


# --- text that remembers where it came from ---------------------------------------------------


class MappedText:
    """A string derived from a caller's text that remembers, for each of its characters, the span of
    the caller's text it came from.

    Engines clean, split and transliterate text before speaking it; word positions they report refer
    to that derived string and are mapped back through here. Every operation keeps characters in
    their original order; a replacement ("—" → " - ") maps all of its characters to what it replaced.
    """

    __slots__ = ("_ends", "_starts", "text")

    def __init__(self, text: str, starts: list[int] | None = None, ends: list[int] | None = None) -> None:
        self.text = text
        if starts is None or ends is None:
            starts, ends = list(range(len(text))), list(range(1, len(text) + 1))
        self._starts = starts
        self._ends = ends

    def __len__(self) -> int:
        return len(self.text)

    def __repr__(self) -> str:
        return f"MappedText({self.text!r})"

    def __getitem__(self, key: slice) -> MappedText:
        return MappedText(self.text[key], self._starts[key], self._ends[key])

    def span(self, start: int = 0, end: int | None = None) -> tuple[int, int]:
        """The caller's offsets ``[start, end)`` that characters ``start`` to ``end - 1`` came from."""
        end = len(self.text) if end is None else min(end, len(self.text))
        start = min(max(0, start), end)
        if start == end:
            at = self._starts[start] if start < len(self.text) else (self._ends[-1] if self.text else 0)
            return at, at
        return min(self._starts[start:end]), max(self._ends[start:end])

    def sub(self, pattern: re.Pattern[str], replacement: str) -> MappedText:
        """Replace every (non-empty) match of ``pattern`` with ``replacement``."""
        text, starts, ends = self.text, self._starts, self._ends
        out: list[str] = []
        out_starts: list[int] = []
        out_ends: list[int] = []
        position = 0
        for match in pattern.finditer(text):
            if match.start() == match.end():
                continue
            out.append(text[position : match.start()])
            out_starts += starts[position : match.start()]
            out_ends += ends[position : match.start()]
            if replacement:
                origin = min(starts[match.start() : match.end()]), max(ends[match.start() : match.end()])
                out.append(replacement)
                out_starts += [origin[0]] * len(replacement)
                out_ends += [origin[1]] * len(replacement)
            position = match.end()
        out.append(text[position:])
        out_starts += starts[position:]
        out_ends += ends[position:]
        return MappedText("".join(out), out_starts, out_ends)

    def map_chars(self, function: Callable[[str], str]) -> MappedText:
        """Replace each character ``ch`` with ``function(ch)`` (any length, empty to drop it)."""
        out: list[str] = []
        out_starts: list[int] = []
        out_ends: list[int] = []
        for ch, start, end in zip(self.text, self._starts, self._ends, strict=True):
            replaced = function(ch)
            if replaced:
                out.append(replaced)
                out_starts += [start] * len(replaced)
                out_ends += [end] * len(replaced)
        return MappedText("".join(out), out_starts, out_ends)

    def split(self, pattern: re.Pattern[str]) -> list[MappedText]:
        """The pieces between matches of ``pattern``, like :func:`re.split` without groups."""
        pieces: list[MappedText] = []
        position = 0
        for match in pattern.finditer(self.text):
            pieces.append(self[position : match.start()])
            position = match.end()
        pieces.append(self[position:])
        return pieces

    def strip(self) -> MappedText:
        return self.lstrip().rstrip()

    def lstrip(self) -> MappedText:
        return self[len(self.text) - len(self.text.lstrip()) :]

    def rstrip(self) -> MappedText:
        return self[: len(self.text.rstrip())]


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
_PARAGRAPH = re.compile(r"\n\s*\n")
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


def _split_long(sentence: MappedText, limit: int) -> list[MappedText]:
    """Split a run-on sentence at clause punctuation, then at spaces, into pieces of at most ``limit``."""
    if len(sentence) <= limit:
        return [sentence]
    pieces: list[MappedText] = []
    rest = sentence
    while len(rest) > limit:
        window = rest.text[:limit]
        cut = -1
        for match in _CLAUSE_END.finditer(window):
            cut = match.end()
        if cut <= limit // 3:  # no usable clause break: fall back to the last space
            space = window.rfind(" ")
            cut = space + 1 if space > limit // 3 else limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].lstrip()
    if rest.text:
        pieces.append(rest)
    return [p for p in pieces if p.text]


def sentence_spans(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[MappedText]:
    """:func:`split_sentences`, each sentence remembering where in ``text`` its characters came from."""
    sentences: list[MappedText] = []
    for paragraph in MappedText(text).sub(_UNSPEAKABLE, "").split(_PARAGRAPH):
        paragraph = paragraph.sub(_SPACE, " ").strip()
        if not paragraph.text:
            continue
        plain = paragraph.text
        start = 0
        for match in _SENTENCE_END.finditer(plain + " "):
            end = match.end()
            punct = match.group(0).strip()
            if (
                punct.startswith(".")
                and not punct.startswith("..")
                and _is_abbreviation(plain[start : match.start()])
            ):
                continue
            piece = paragraph[start:end].strip()
            if piece.text:
                sentences.extend(_split_long(piece, max_chars))
            start = end
        tail = paragraph[start:].strip()
        if tail.text:
            sentences.extend(_split_long(tail, max_chars))
    return [s for s in sentences if any(ch.isalnum() for ch in s.text)]


def split_sentences(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[str]:
    """Split ``text`` into sentences (and over-long sentences into clauses), dropping empty pieces.

    Paragraph breaks always end a sentence; abbreviations ("Dr.", "e.g.") and initials do not.
    """
    return [sentence.text for sentence in sentence_spans(text, max_chars)]


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


def _ascii_reading(ch: str) -> str:
    if " " <= ch < "\x7f" and ch not in _ASCII_REPLACEMENTS:
        return ch
    # Decomposing one character at a time gives the same ASCII as decomposing the whole text: the
    # canonical reordering that whole-text NFKD adds only moves combining marks, which are dropped.
    decomposed = unicodedata.normalize("NFKD", _ASCII_REPLACEMENTS.get(ch, ch))
    return "".join(c for c in decomposed if 32 <= ord(c) < 127 or c in "\n\t")


def speakable_ascii(text: MappedText) -> MappedText:
    """:func:`to_speakable_ascii` on a :class:`MappedText`, keeping track of where characters came from."""
    return text.map_chars(_ascii_reading).sub(_SPACE, " ").strip()


def to_speakable_ascii(text: str) -> str:
    """Transliterate ``text`` to printable ASCII for engines that only read English ASCII.

    Typographic punctuation becomes its ASCII form, accents are stripped ("café" → "cafe"), a few
    symbols become words, and anything else without an ASCII reading is dropped.
    """
    return speakable_ascii(MappedText(text)).text


# --- assembling chunks -------------------------------------------------------------------------

# A word as an engine reports it: offsets in the caller's text, seconds from the start of its chunk.
RawWord = tuple[int, int, float, float]


def _settle_words(raw: Iterable[RawWord], chunk_start_s: float, chunk_end_s: float) -> tuple[WordTiming, ...]:
    """Merge words whose text touches or overlaps, then place them in order inside the chunk."""
    merged: list[list[float]] = []
    for char_start, char_end, start_s, end_s in sorted(raw, key=lambda word: (word[0], word[1])):
        char_end = max(char_end, char_start + 1)
        if merged and char_start <= merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], char_end)
            last[2] = min(last[2], start_s)
            last[3] = max(last[3], end_s)
        else:
            merged.append([char_start, char_end, start_s, end_s])
    words: list[WordTiming] = []
    floor = chunk_start_s
    for char_start, char_end, start_s, end_s in merged:
        start = min(max(chunk_start_s + start_s, floor), chunk_end_s)
        end = min(max(chunk_start_s + end_s, start), chunk_end_s)
        words.append(WordTiming(int(char_start), int(char_end), start, end))
        floor = end
    return tuple(words)


def spoken_span(text: str) -> tuple[int, int]:
    """Where the spoken part of ``text`` lies: without surrounding whitespace (``(0, 0)`` if blank)."""
    stripped = text.strip()
    if not stripped:
        return 0, 0
    start = len(text) - len(text.lstrip())
    return start, start + len(stripped)


def word_span(text: str) -> tuple[int, int]:
    """:func:`spoken_span` without the punctuation around it, unless that leaves nothing."""
    start, end = spoken_span(text)
    inner_start, inner_end = start, end
    while inner_start < inner_end and unicodedata.category(text[inner_start])[0] in "PS":
        inner_start += 1
    while inner_end > inner_start and unicodedata.category(text[inner_end - 1])[0] in "PS":
        inner_end -= 1
    return (inner_start, inner_end) if inner_start < inner_end else (start, end)


def single_word_chunk(
    text: str, fmt: PCMFormat, pcm: bytes, start_s: float, end_s: float
) -> AudioChunk | None:
    """The one chunk of a synthesis that spoke all of ``text`` as a single word (a ``phonemes`` request).

    The chunk covers the spoken part of ``text``; its one word timing covers ``text`` without
    surrounding punctuation and runs from ``start_s`` to ``end_s`` (kept inside the audio). Blank text
    gets no word timing; no audio gives no chunk.
    """
    if not pcm:
        return None
    text_start, text_end = spoken_span(text)
    duration_s = len(pcm) / fmt.bytes_per_second
    words: tuple[WordTiming, ...] = ()
    if text_end > text_start:
        char_start, char_end = word_span(text)
        words = _settle_words([(char_start, char_end, start_s, end_s)], 0.0, duration_s)
    return AudioChunk(pcm, fmt, text_start, text_end, words)


def chunks_by_sentence(
    text: str, fmt: PCMFormat, render: Callable[[MappedText], tuple[bytes, list[RawWord]]]
) -> Iterator[AudioChunk]:
    """Speak ``text`` one sentence at a time with ``render``, yielding a timed chunk per sentence.

    ``render`` gets a sentence (mapped back to ``text``) and returns its PCM and its words; a
    sentence with no audio yields no chunk and its text joins the next chunk's.
    """
    sentences = sentence_spans(text)
    starts = [sentence.span()[0] for sentence in sentences]
    done_bytes = 0
    pending_start: int | None = None
    for index, sentence in enumerate(sentences):
        text_start = starts[index] if pending_start is None else pending_start
        pcm, raw_words = render(sentence)
        if not pcm:
            pending_start = text_start
            continue
        pending_start = None
        text_end = starts[index + 1] if index + 1 < len(sentences) else sentence.span()[1]
        chunk_start_s = done_bytes / fmt.bytes_per_second
        done_bytes += len(pcm)
        chunk_end_s = done_bytes / fmt.bytes_per_second
        words = _settle_words(raw_words, chunk_start_s, chunk_end_s)
        yield AudioChunk(pcm, fmt, text_start, text_end, words)
