"""Text → IPA phonemes through eSpeak NG, in process, for the neural engines (Piper, Kokoro).

This is what ``piper-phonemize`` does: hand the text to ``espeak_TextToPhonemes()`` (IPA mode, no
phoneme separator) one clause at a time until eSpeak sets the text pointer to NULL, and keep each
clause's closing punctuation, which eSpeak itself drops. Piper's own build of eSpeak has a patched
``espeak_TextToPhonemesWithTerminator()`` that reports that punctuation; stock libespeak-ng (1.51 here)
has not, so the terminator is read back from the text: eSpeak leaves the pointer just past the clause
it translated (plus at most the first character of the next one), so the slice of input each call
consumed ends with the punctuation eSpeak split on. The clause boundaries are therefore eSpeak's own
(it splits "Dr. Smith" at the full stop exactly as Piper's build does).

eSpeak NG keeps its state in C globals, and ``espeak_TextToPhonemes()`` keeps a read-ahead character
between calls. So, like :mod:`chorus.engines.espeak`, every :meth:`Phonemizer.clauses` call runs in a
freshly ``dlopen``ed private copy of the library (an anonymous in-memory file, so it shares nothing
with the eSpeak NG engine or anyone else in the process) under a per-phonemizer lock. That costs a few
milliseconds per call and makes the phonemes a pure function of (text, voice).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from chorus.engines.base import EngineUnavailable, UnknownVoice
from chorus.engines.private_library import PrivateLibrary

INSTALL_HINT = (
    "install eSpeak NG with: apt-get install libespeak-ng1 espeak-ng-data (Debian/Ubuntu) "
    "or dnf install espeak-ng (Fedora)"
)

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02  # phonememode bit 1: IPA as UTF-8; bits 8-23 (separator) left 0 = none
_EE_OK = 0

# Clause punctuation, with the full-width forms folded to ASCII.
_FOLD = {"。": ".", "！": "!", "？": "?", "，": ",", "：": ":", "；": ";", "、": ",", "…": "..."}
_CLAUSE_PUNCT = ".,?!:;" + "".join(_FOLD)
_CLOSERS = "\"'”’»)]}」』）"
# "(en)"-style language switch flags eSpeak puts around words it reads in another language.
_LANGUAGE_FLAG = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)*\)")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


class PhonemizerUnavailable(EngineUnavailable):
    """libespeak-ng (or its data) is missing; the message says how to install it."""


@dataclass(frozen=True)
class Clause:
    """One clause as eSpeak NG translated it."""

    phonemes: str  # IPA, stress marks included, words separated by spaces
    punctuation: str  # the clause's closing punctuation, folded to ASCII: "", ",", "?", "?!", "..."
    ends_sentence: bool  # closed by ".", "?" or "!" (an ellipsis does not end a sentence)

    @property
    def terminator(self) -> str:
        """The mark Piper appends: the first one, ";" for an ellipsis (eSpeak's clause type for it)."""
        if self.punctuation.startswith(".."):
            return ";"
        return self.punctuation[:1]


class Phonemizer:
    """eSpeak NG's text-to-IPA, safe from several threads. Construction never raises."""

    def __init__(self, *, library: str = "libespeak-ng.so.1", data_path: str | None = None) -> None:
        """Locate ``library``, keep a private in-memory copy, and check it initialises.

        ``data_path`` is the directory holding ``espeak-ng-data`` (default: compiled-in location).
        """
        self._data_path = data_path.encode() if data_path else None
        self._lock = threading.Lock()
        self._library: PrivateLibrary | None = None
        self._reason: str | None = None
        try:
            self._prepare(library)
        except (OSError, AttributeError, RuntimeError) as exc:
            if self._library is not None:
                self._library.close()
            self._reason = f"eSpeak NG phonemizer unavailable: {exc}; {INSTALL_HINT}"

    def _prepare(self, library: str) -> None:
        self._library = PrivateLibrary(library, "espeak_Initialize", _declare, "chorus-phonemizer")
        with self._lock, self._instance() as lib:
            try:
                if not self._initialize(lib):
                    raise RuntimeError("espeak_Initialize failed (is espeak-ng-data installed?)")
            finally:
                lib.espeak_Terminate()

    def _initialize(self, lib: ctypes.CDLL) -> bool:
        return lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data_path, _INITIALIZE_DONT_EXIT) > 0

    def _instance(self) -> contextlib.AbstractContextManager[ctypes.CDLL]:
        assert self._library is not None
        return self._library.instance()

    def available(self) -> bool:
        return self._reason is None

    def unavailable_reason(self) -> str | None:
        return self._reason

    # --- phonemes ------------------------------------------------------------------------------

    def clauses(self, text: str, voice: str = "en-us") -> list[Clause]:
        """Translate ``text`` with eSpeak NG voice ``voice`` ("en-us", "en-gb", "de", "cmn", ...).

        Raises :class:`PhonemizerUnavailable` when eSpeak NG is missing and
        :class:`~chorus.engines.base.UnknownVoice` when it has no such voice.
        """
        if self._reason is not None:
            raise PhonemizerUnavailable(self._reason)
        if not re.fullmatch(r"[A-Za-z0-9_\-/+]+", voice or ""):
            raise UnknownVoice(f"eSpeak NG voice names look like 'en-us' or 'de', not {voice!r}")
        text = _SPACES.sub(" ", _CONTROL.sub("", text)).strip()
        if not text:
            return []
        data = text.encode("utf-8", "ignore")
        buffer = ctypes.create_string_buffer(data)
        start = ctypes.addressof(buffer)
        pointer = ctypes.c_void_p(start)
        clauses: list[Clause] = []
        with self._lock, self._instance() as lib:
            if not self._initialize(lib):
                raise PhonemizerUnavailable(f"espeak_Initialize failed; {INSTALL_HINT}")
            try:
                if not _select_voice(lib, voice):
                    raise UnknownVoice(f"eSpeak NG has no voice or language {voice!r}")
                consumed = 0
                while pointer.value:
                    raw = lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, _PHONEMES_IPA)
                    final = not pointer.value
                    # eSpeak points into our buffer (it decodes UTF-8 in place), just past the clause.
                    end = len(data) if final else min(len(data), max(consumed, pointer.value - start))
                    source = data[consumed:end].decode("utf-8", "replace")
                    consumed = end
                    phonemes = _clean(raw.decode("utf-8", "replace") if raw else "")
                    punctuation = _closing_punctuation(source, final)
                    if phonemes or (punctuation and clauses):
                        clauses.append(Clause(phonemes, punctuation, _ends_sentence(punctuation)))
            finally:
                lib.espeak_Terminate()
        return clauses

    def sentences(self, text: str, voice: str = "en-us") -> list[str]:
        """Piper's phonemization: one IPA string per sentence, punctuation kept as Piper keeps it.

        Each clause's phonemes are followed by its terminator; a comma, colon or semicolon also by a
        space, and ".", "?" or "!" end the sentence (as ``piper-phonemize`` does).
        """
        return piper_sentences(self.clauses(text, voice))

    def phonemize(self, text: str, voice: str = "en-us", keep: str = ";:,.!?—…") -> str:
        """All of ``text`` as one IPA string, with the punctuation in ``keep`` preserved.

        Clauses are joined by their punctuation and a space, the way ``phonemizer`` (used by
        kokoro-onnx) preserves punctuation; an ellipsis comes out as "…".
        """
        return join_clauses(self.clauses(text, voice), keep)


def piper_sentences(clauses: Sequence[Clause]) -> list[str]:
    """Group clauses into sentences the way ``piper-phonemize`` does."""
    sentences: list[str] = []
    current: list[str] = []
    unmarked = False
    for clause in clauses:
        if unmarked:
            current.append(" ")  # the last clause ended without punctuation: keep the words apart
        current.append(clause.phonemes)
        mark = clause.terminator
        unmarked = not mark
        if mark in (",", ":", ";"):
            current.append(mark + " ")
        elif mark:
            current.append(mark)
        if clause.ends_sentence:
            sentences.append("".join(current))
            current = []
            unmarked = False
    if current:
        sentences.append("".join(current))
    return [s for s in sentences if s.strip()]


def join_clauses(clauses: Sequence[Clause], keep: str = ";:,.!?—…") -> str:
    """Clauses joined into one string, keeping the punctuation marks listed in ``keep``."""
    parts: list[str] = []
    for clause in clauses:
        punctuation = clause.punctuation
        if punctuation.startswith(".."):
            punctuation = "…"
        marks = "".join(ch for ch in punctuation if ch in keep)
        piece = clause.phonemes + marks
        if piece:
            parts.append(piece)
    return " ".join(parts).strip()


def _clean(phonemes: str) -> str:
    phonemes = _LANGUAGE_FLAG.sub("", phonemes)
    return _SPACES.sub(" ", unicodedata.normalize("NFC", phonemes)).strip()


def _closing_punctuation(source: str, final: bool) -> str:
    """The punctuation that closed the clause eSpeak read from ``source`` (folded to ASCII)."""
    if not final and re.search(r"\s\S$", source):
        source = source[:-1]  # eSpeak's read-ahead: the first character of the next clause
    source = source.rstrip().rstrip(_CLOSERS).rstrip()
    end = len(source)
    while end > 0 and source[end - 1] in _CLAUSE_PUNCT:
        end -= 1
    return "".join(_FOLD.get(ch, ch) for ch in source[end:])


def _ends_sentence(punctuation: str) -> bool:
    return bool(punctuation) and not punctuation.startswith("..") and punctuation[0] in ".?!"


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def _select_voice(lib: ctypes.CDLL, voice: str) -> bool:
    """Select ``voice`` by voice file name ("en-us", "gmw/en"), else by language tag ("en-gb")."""
    if lib.espeak_SetVoiceByName(voice.encode()) == _EE_OK:
        return True
    spec = _EspeakVoice(languages=voice.lower().encode())
    return lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) == _EE_OK


def _declare(lib: ctypes.CDLL) -> None:
    c_int, c_char_p, c_void_p = ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p
    lib.espeak_Initialize.restype = c_int
    lib.espeak_Initialize.argtypes = [c_int, c_int, c_char_p, c_int]
    lib.espeak_SetVoiceByName.restype = c_int
    lib.espeak_SetVoiceByName.argtypes = [c_char_p]
    lib.espeak_SetVoiceByProperties.restype = c_int
    lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_EspeakVoice)]
    lib.espeak_TextToPhonemes.restype = c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(c_void_p), c_int, c_int]
    lib.espeak_Terminate.restype = c_int
    lib.espeak_Terminate.argtypes = []


@functools.cache
def default_phonemizer() -> Phonemizer:
    """The process's shared phonemizer over the system libespeak-ng."""
    return Phonemizer()


def phonemize(text: str, voice: str = "en-us") -> list[str]:
    """Piper-style IPA sentences for ``text`` (see :meth:`Phonemizer.sentences`)."""
    return default_phonemizer().sentences(text, voice)
