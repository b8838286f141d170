"""Phoneme alphabets: IPA, CMU ARPAbet, eSpeak NG mnemonics and Flite's lexicon phones.

A ``<phoneme>`` element gives a pronunciation in IPA (``ph="təˈmɑːtəʊ"``) or CMU ARPAbet
(``ph="T AH0 M EY1 T OW2"``); each engine needs it in its own alphabet:

* eSpeak NG reads its ASCII phoneme mnemonics between ``[[`` and ``]]``: ``t|@|m|'eI|t|oU``. The
  English mnemonics name lexical sets rather than sounds (``0`` is the LOT vowel, ``oU`` the GOAT
  vowel), and the voice's dialect decides how they sound: ``0`` is [ɒ] in ``en`` and [ɑː] in ``en-us``,
  ``oU`` is [əʊ] and [oʊ]. The mnemonics used here were checked against ``espeak-ng -x`` (text to
  mnemonics) and ``espeak-ng -x --ipa "[[...]]"`` (mnemonics to IPA) for ``en`` and ``en-us``.
  Phonemes are joined with ``|``, eSpeak's separator, which makes no sound but keeps ``a`` ``I``
  from being read as ``aI`` (and ``t`` ``S`` as ``tS``); a stress mark (``'`` primary, ``,``
  secondary) stands right before its vowel, where ``espeak-ng -x`` writes it.
* Flite's CMU lexicon uses lowercase ARPAbet with a stress digit on vowels, only ``0`` and ``1``
  (secondary stress is ``1``, as its compiled lexicon has it), and ``ax0`` for an unstressed ``AH``:
  ``t ax0 m ey1 t ow1`` is exactly what the lexicon says for "tomato".

Conversions never raise: a symbol with no equivalent is dropped. IPA is read with the common
English conventions: ``ˈ``/``ˌ`` (or ``'``) before a syllable stress its vowel; length marks, tie
bars, syllable dots and diacritics other than the syllabic mark are ignored; British centring
diphthongs become the vowel plus ``R`` in ARPAbet (``ɪə`` → ``IH R``) as the CMU dictionary writes them.
When speaking (:func:`espeak_mnemonics`, :func:`flite_phones`), a word whose vowels have no stress
given at all (IPA without any stress mark, ARPAbet without digits) gets the primary stress on its
first full vowel, so a bare ``kæt`` is spoken as a normal stressed word; stress written as 0
(``DH AH0``) is kept. Pure conversions (:func:`ipa_to_arpabet`, :func:`arpabet_to_ipa`) add nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Alphabet = Literal["ipa", "cmu-arpabet"]

ARPABET_VOWELS = frozenset(
    {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
)
ARPABET_CONSONANTS = frozenset(
    {
        "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
        "TH", "V", "W", "Y", "Z", "ZH",
    }
)  # fmt: skip
# Symbols from extended ARPAbet (TIMIT, older CMU tools) that people still write, read as the
# 39-phoneme set: (phones, the stress the first phone gets when none is written).
_ARPABET_EXTENDED: dict[str, tuple[tuple[str, ...], int | None]] = {
    "AX": (("AH",), 0),
    "AXR": (("ER",), 0),
    "IX": (("IH",), 0),
    "UX": (("UW",), None),
    "EL": (("AH", "L"), 0),
    "EM": (("AH", "M"), 0),
    "EN": (("AH", "N"), 0),
    "NX": (("N",), None),
    "DX": (("T",), None),
    "Q": (("T",), None),
    "WH": (("W",), None),
    "H": (("HH",), None),
}


@dataclass(frozen=True)
class Phone:
    """One ARPAbet phone: ``stress`` is 0, 1 or 2 for a vowel (None: not given) and None otherwise."""

    symbol: str  # e.g. "AH", "T"
    stress: int | None = None
    word_start: bool = False  # the first phone of a word (IPA input separates words with spaces)

    @property
    def vowel(self) -> bool:
        return self.symbol in ARPABET_VOWELS


# --- IPA -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    arpabet: tuple[str, ...]  # the vowel (which takes the stress) comes first
    espeak: str  # mnemonic when stressed (or for a consonant)
    espeak_unstressed: str | None = None  # mnemonic when the vowel is unstressed, if different

    @property
    def vowel(self) -> bool:
        return self.arpabet[0] in ARPABET_VOWELS


_IPA_VOWELS: dict[str, _Unit] = {
    # diphthongs
    "eɪ": _Unit(("EY",), "eI"),
    "ei": _Unit(("EY",), "eI"),
    "aɪ": _Unit(("AY",), "aI"),
    "ai": _Unit(("AY",), "aI"),
    "ɑɪ": _Unit(("AY",), "aI"),
    "ʌɪ": _Unit(("AY",), "aI"),
    "aʊ": _Unit(("AW",), "aU"),
    "au": _Unit(("AW",), "aU"),
    "æʊ": _Unit(("AW",), "aU"),
    "ɔɪ": _Unit(("OY",), "OI"),
    "ɔi": _Unit(("OY",), "OI"),
    "oɪ": _Unit(("OY",), "OI"),
    "oʊ": _Unit(("OW",), "oU"),
    "ou": _Unit(("OW",), "oU"),
    "əʊ": _Unit(("OW",), "oU"),
    "əu": _Unit(("OW",), "oU"),
    "ɪə": _Unit(("IH", "R"), "i@"),
    "iə": _Unit(("IH", "R"), "i@"),
    "ɪɚ": _Unit(("IH", "R"), "i@"),
    "eə": _Unit(("EH", "R"), "e@"),
    "ɛə": _Unit(("EH", "R"), "e@"),
    "ɛɚ": _Unit(("EH", "R"), "e@"),
    "ɛː": _Unit(("EH", "R"), "e@"),
    "ʊə": _Unit(("UH", "R"), "U@"),
    "ʊɚ": _Unit(("UH", "R"), "U@"),
    # r-coloured vowels written as vowel + r
    "ɜːɹ": _Unit(("ER",), "3:"),
    "ɜːr": _Unit(("ER",), "3:"),
    "ɜɹ": _Unit(("ER",), "3:"),
    "ɜr": _Unit(("ER",), "3:"),
    "ɝɹ": _Unit(("ER",), "3:"),
    "ɝr": _Unit(("ER",), "3:"),
    "əɹ": _Unit(("ER",), "3"),
    "ər": _Unit(("ER",), "3"),
    "ɚɹ": _Unit(("ER",), "3"),
    "ɚr": _Unit(("ER",), "3"),
    # monophthongs
    "ɑː": _Unit(("AA",), "A:"),
    "ɑ": _Unit(("AA",), "A:"),
    "aː": _Unit(("AA",), "A:"),
    "ɒː": _Unit(("AA",), "0"),
    "ɒ": _Unit(("AA",), "0"),
    "ɔː": _Unit(("AO",), "O:"),
    "ɔ": _Unit(("AO",), "O:"),
    "oː": _Unit(("AO",), "O:"),
    "o": _Unit(("OW",), "oU"),
    "æ": _Unit(("AE",), "a"),
    "a": _Unit(("AE",), "a"),
    "ʌ": _Unit(("AH",), "V"),
    "ɐ": _Unit(("AH",), "a#"),
    "ə": _Unit(("AH",), "@"),
    "ɚ": _Unit(("ER",), "3"),
    "ɝː": _Unit(("ER",), "3:"),
    "ɝ": _Unit(("ER",), "3:"),
    "ɜː": _Unit(("ER",), "3:"),
    "ɜ": _Unit(("ER",), "3:"),
    "əː": _Unit(("ER",), "3:"),
    "ɛ": _Unit(("EH",), "E"),
    "e": _Unit(("EH",), "E"),
    "ɪ": _Unit(("IH",), "I"),
    "ᵻ": _Unit(("IH",), "I2"),
    "ɨ": _Unit(("IH",), "I2"),
    "iː": _Unit(("IY",), "i:"),
    "i": _Unit(("IY",), "i:", "i"),
    "ʊ": _Unit(("UH",), "U"),
    "uː": _Unit(("UW",), "u:"),
    "u": _Unit(("UW",), "u:"),
    "ʉː": _Unit(("UW",), "u:"),
    "ʉ": _Unit(("UW",), "u:"),
}
_IPA_CONSONANTS: dict[str, _Unit] = {
    "tʃ": _Unit(("CH",), "tS"),
    "ʧ": _Unit(("CH",), "tS"),
    "dʒ": _Unit(("JH",), "dZ"),
    "ʤ": _Unit(("JH",), "dZ"),
    "p": _Unit(("P",), "p"),
    "b": _Unit(("B",), "b"),
    "t": _Unit(("T",), "t"),
    "d": _Unit(("D",), "d"),
    "k": _Unit(("K",), "k"),
    "c": _Unit(("K",), "k"),
    "q": _Unit(("K",), "k"),
    "ɡ": _Unit(("G",), "g"),
    "g": _Unit(("G",), "g"),
    "f": _Unit(("F",), "f"),
    "v": _Unit(("V",), "v"),
    "θ": _Unit(("TH",), "T"),
    "ð": _Unit(("DH",), "D"),
    "s": _Unit(("S",), "s"),
    "z": _Unit(("Z",), "z"),
    "ʃ": _Unit(("SH",), "S"),
    "ʒ": _Unit(("ZH",), "Z"),
    "h": _Unit(("HH",), "h"),
    "ɦ": _Unit(("HH",), "h"),
    "ç": _Unit(("HH",), "h"),
    "x": _Unit(("K",), "x"),
    "m": _Unit(("M",), "m"),
    "ɱ": _Unit(("M",), "m"),
    "n": _Unit(("N",), "n"),
    "ɲ": _Unit(("N",), "n"),
    "ŋ": _Unit(("NG",), "N"),
    "l": _Unit(("L",), "l"),
    "ɫ": _Unit(("L",), "l"),
    "ɹ": _Unit(("R",), "r"),
    "r": _Unit(("R",), "r"),
    "ɻ": _Unit(("R",), "r"),
    "ʁ": _Unit(("R",), "r"),
    "ɾ": _Unit(("T",), "t#"),
    "ʔ": _Unit(("T",), "?"),
    "j": _Unit(("Y",), "j"),
    "w": _Unit(("W",), "w"),
    "ʍ": _Unit(("W",), "w"),
}
# A consonant with the syllabic mark (U+0329 or U+030D) is a syllable of its own.
_SYLLABIC: dict[str, _Unit] = {
    "l": _Unit(("AH", "L"), "@L"),
    "ɫ": _Unit(("AH", "L"), "@L"),
    "n": _Unit(("AH", "N"), "n-"),
    "m": _Unit(("AH", "M"), "m-"),
    "ɹ": _Unit(("ER",), "3"),
    "r": _Unit(("ER",), "3"),
}
_SYLLABIC_UNITS = frozenset(_SYLLABIC.values())
_SYLLABIC_MARKS = frozenset("\u0329\u030d")
_PRIMARY = frozenset("ˈ'")
_SECONDARY = frozenset("ˌ")
_LENGTH = "ː"
# Vowels written as vowel + r only merge when no vowel follows ("ər" in "butter", not in "ərɪv").
_RHOTIC_KEYS = frozenset(key for key in _IPA_VOWELS if key.endswith(("r", "ɹ")) and len(key) > 1)
_IPA_UNITS: dict[str, _Unit] = {**_IPA_CONSONANTS, **_IPA_VOWELS}
_LONGEST = max(len(key) for key in _IPA_UNITS)
_VOWEL_STARTS = frozenset(key[0] for key in _IPA_VOWELS)
_KNOWN_CHARS = frozenset("".join(_IPA_UNITS)) | _PRIMARY | _SECONDARY | {_LENGTH}
# Reduced vowels, which only take the default stress when a word has no other vowel.
_REDUCED_IPA = frozenset({"ə", "ɚ", "ɐ", "ᵻ", "ɨ", "əɹ", "ər", "ɚɹ", "ɚr"})


@dataclass(frozen=True)
class _IpaSegment:
    key: str  # the IPA unit as written (after normalisation)
    unit: _Unit
    stress: int | None  # vowels: 1 or 2 from a mark, 0 when the string has marks elsewhere, None if none
    word_start: bool


def _ipa_chars(ipa: str) -> list[str]:
    """``ipa`` as known base characters, syllabic marks and word breaks (" "); the rest dropped."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", ipa):
        if ch == ":":
            ch = _LENGTH
        if ch in _KNOWN_CHARS or ch in _SYLLABIC_MARKS:
            out.append(ch)
        elif ch.isspace():
            out.append(" ")
        else:
            # "ã" → "a" + tilde: keep the base letter if it is one we know, drop the diacritic.
            for part in unicodedata.normalize("NFD", ch):
                if part in _KNOWN_CHARS or part in _SYLLABIC_MARKS:
                    out.append(part)
    return out


def _vowel_follows(chars: list[str], index: int) -> bool:
    """Whether the next sound from ``index`` on (past stress and length marks) is a vowel."""
    while index < len(chars) and (
        chars[index] in _PRIMARY or chars[index] in _SECONDARY or chars[index] == _LENGTH
    ):
        index += 1
    return index < len(chars) and chars[index] in _VOWEL_STARTS


def _parse_ipa(ipa: str) -> list[_IpaSegment]:
    chars = _ipa_chars(ipa)
    has_marks = any(ch in _PRIMARY or ch in _SECONDARY for ch in chars)
    segments: list[_IpaSegment] = []
    pending: int | None = None
    word_start = True
    index = 0
    while index < len(chars):
        ch = chars[index]
        if ch == " ":
            word_start = True
            pending = None
            index += 1
            continue
        if ch in _PRIMARY or ch in _SECONDARY:
            pending = 1 if ch in _PRIMARY else 2
            index += 1
            continue
        if ch in _SYLLABIC_MARKS or ch == _LENGTH:
            index += 1  # a stray mark: the unit it belonged to is unknown
            continue
        match = None
        for size in range(min(_LONGEST, len(chars) - index), 0, -1):
            key = "".join(chars[index : index + size])
            if key not in _IPA_UNITS:
                continue
            if key in _RHOTIC_KEYS and _vowel_follows(chars, index + size):
                continue
            match = key
            break
        if match is None:
            index += 1
            continue
        index += len(match)
        unit = _IPA_UNITS[match]
        if index < len(chars) and chars[index] in _SYLLABIC_MARKS:
            unit = _SYLLABIC.get(match, unit)
            index += 1
        while index < len(chars) and chars[index] == _LENGTH:
            index += 1
        stress: int | None = None
        if unit.vowel:
            stress = pending if pending is not None else (0 if has_marks else None)
            pending = None
        segments.append(_IpaSegment(match, unit, stress, word_start))
        word_start = False
    return segments


def _default_stress(segments: list[_IpaSegment]) -> list[_IpaSegment]:
    """Give each word whose vowels have no stress written its first full vowel's primary stress."""
    out = list(segments)
    words: list[list[int]] = []
    for index, segment in enumerate(out):
        if segment.word_start or not words:
            words.append([])
        words[-1].append(index)
    for word in words:
        vowels = [i for i in word if out[i].unit.vowel]
        if not vowels or any(out[i].stress for i in vowels):
            continue
        if any(out[i].stress is not None for i in vowels):
            continue  # stress was written as 0 on purpose (ARPAbet "DH AH0")
        full = [i for i in vowels if out[i].key not in _REDUCED_IPA and out[i].unit not in _SYLLABIC_UNITS]
        chosen = (full or vowels)[0]
        for i in vowels:
            out[i] = _IpaSegment(out[i].key, out[i].unit, 1 if i == chosen else 0, out[i].word_start)
    return out


def ipa_phones(ipa: str) -> list[Phone]:
    """``ipa`` as ARPAbet phones, stress as written (None where the string has no stress marks)."""
    return _ipa_segments_to_phones(_parse_ipa(ipa))


def _ipa_segments_to_phones(segments: list[_IpaSegment]) -> list[Phone]:
    phones: list[Phone] = []
    for segment in segments:
        for position, symbol in enumerate(segment.unit.arpabet):
            if symbol == "R" and phones and phones[-1].symbol == "R":
                continue  # "ɪəɹ": the diphthong already brought its R
            # Only a unit's first phone can be a vowel, and it takes the unit's stress.
            stress = segment.stress if symbol in ARPABET_VOWELS else None
            phones.append(Phone(symbol, stress, segment.word_start and position == 0))
    return phones


# --- ARPAbet -------------------------------------------------------------------------------------

_ARPABET_TOKEN = re.compile(r"([A-Za-z]+)([0-2])?")


def arpabet_phones(arpabet: str) -> list[Phone]:
    """Read an ARPAbet string ("T AH0 M EY1 T OW2", any case); unknown symbols are dropped."""
    phones: list[Phone] = []
    for token in re.split(r"[\s,;.|/]+", arpabet.strip()):
        match = _ARPABET_TOKEN.fullmatch(token)
        if not match:
            continue
        symbol, digit = match.group(1).upper(), match.group(2)
        stress = int(digit) if digit is not None else None
        if symbol in ARPABET_VOWELS:
            phones.append(Phone(symbol, stress))
        elif symbol in ARPABET_CONSONANTS:
            phones.append(Phone(symbol))
        elif symbol in _ARPABET_EXTENDED:
            expansion, default = _ARPABET_EXTENDED[symbol]
            for part in expansion:
                if part in ARPABET_VOWELS:
                    phones.append(Phone(part, stress if stress is not None else default))
                else:
                    phones.append(Phone(part))
    if phones:
        phones[0] = Phone(phones[0].symbol, phones[0].stress, True)
    return phones


def stressed(phones: list[Phone]) -> list[Phone]:
    """``phones`` with unknown stress settled: if no vowel of a word has a stress written, its first
    full vowel (else its first vowel) takes the primary stress; other unknown stresses become 0."""
    out = list(phones)
    words: list[list[int]] = []
    for index, phone in enumerate(out):
        if phone.word_start or not words:
            words.append([])
        words[-1].append(index)
    for word in words:
        vowels = [i for i in word if out[i].vowel]
        if not vowels:
            continue
        if all(out[i].stress is None for i in vowels):
            full = [i for i in vowels if out[i].symbol not in ("AH", "ER")] or vowels
            chosen = full[0]
        else:
            chosen = -1
        for i in vowels:
            stress = out[i].stress
            if stress is None:
                stress = 1 if i == chosen else 0
            out[i] = Phone(out[i].symbol, stress, out[i].word_start)
    return out


def format_arpabet(phones: list[Phone]) -> str:
    """``phones`` as an ARPAbet string, each vowel with a stress digit (0 where none is known)."""
    return " ".join(p.symbol + str(p.stress or 0) if p.vowel else p.symbol for p in phones)


_ARPABET_TO_IPA = {
    "AA": "ɑ", "AE": "æ", "AH": "ʌ", "AO": "ɔ", "AW": "aʊ", "AY": "aɪ", "EH": "ɛ", "ER": "ɝ", "EY": "eɪ",
    "IH": "ɪ", "IY": "i", "OW": "oʊ", "OY": "ɔɪ", "UH": "ʊ", "UW": "u",
    "B": "b", "CH": "tʃ", "D": "d", "DH": "ð", "F": "f", "G": "ɡ", "HH": "h", "JH": "dʒ", "K": "k",
    "L": "l", "M": "m", "N": "n", "NG": "ŋ", "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ", "T": "t",
    "TH": "θ", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "ʒ",
}  # fmt: skip
_ARPABET_TO_IPA_UNSTRESSED = {"AH": "ə", "ER": "ɚ"}
# Consonant clusters that can begin an English syllable, for placing IPA stress marks.
_ONSETS = frozenset(
    {
        ("P", "R"), ("P", "L"), ("B", "R"), ("B", "L"), ("T", "R"), ("D", "R"), ("K", "R"), ("K", "L"),
        ("G", "R"), ("G", "L"), ("F", "R"), ("F", "L"), ("TH", "R"), ("SH", "R"), ("S", "P"), ("S", "T"),
        ("S", "K"), ("S", "M"), ("S", "N"), ("S", "L"), ("S", "W"), ("T", "W"), ("D", "W"), ("K", "W"),
        ("G", "W"), ("TH", "W"), ("P", "Y"), ("B", "Y"), ("K", "Y"), ("G", "Y"), ("M", "Y"), ("F", "Y"),
        ("V", "Y"), ("HH", "Y"), ("S", "P", "R"), ("S", "P", "L"), ("S", "T", "R"), ("S", "K", "R"),
        ("S", "K", "W"), ("S", "P", "Y"), ("S", "K", "Y"), ("S", "K", "L"),
    }
)  # fmt: skip


def _onset_length(consonants: list[str], word_initial: bool) -> int:
    """How many of the consonants before a vowel begin its syllable (the longest legal onset)."""
    if word_initial:
        return len(consonants)
    for size in range(len(consonants), 0, -1):
        tail = tuple(consonants[len(consonants) - size :])
        if (size == 1 and tail[0] != "NG") or tail in _ONSETS:
            return size
    return 0


def arpabet_to_ipa(arpabet: str) -> str:
    """CMU ARPAbet → IPA (General American values), stress marks before the stressed syllable."""
    phones = arpabet_phones(arpabet)
    out: list[str] = []
    pending: list[str] = []  # consonants since the last vowel
    seen_vowel = False
    for phone in phones:
        if not phone.vowel:
            pending.append(phone.symbol)
            continue
        stress = phone.stress or 0
        onset = _onset_length(pending, not seen_vowel)
        coda = pending[: len(pending) - onset]
        out.extend(_ARPABET_TO_IPA[c] for c in coda)
        if stress == 1:
            out.append("ˈ")
        elif stress == 2:
            out.append("ˌ")
        out.extend(_ARPABET_TO_IPA[c] for c in pending[len(pending) - onset :])
        symbol = _ARPABET_TO_IPA_UNSTRESSED.get(phone.symbol) if stress == 0 else None
        out.append(symbol or _ARPABET_TO_IPA[phone.symbol])
        pending = []
        seen_vowel = True
    out.extend(_ARPABET_TO_IPA[c] for c in pending)
    return "".join(out)


def ipa_to_arpabet(ipa: str) -> str:
    """IPA → CMU ARPAbet, stress from ``ˈ``/``ˌ`` (vowels without a mark get 0)."""
    return format_arpabet(ipa_phones(ipa))


# --- eSpeak NG -----------------------------------------------------------------------------------

_ARPABET_TO_ESPEAK = {
    "AA": "A:", "AE": "a", "AH": "V", "AO": "O:", "AW": "aU", "AY": "aI", "EH": "E", "ER": "3:", "EY": "eI",
    "IH": "I", "IY": "i:", "OW": "oU", "OY": "OI", "UH": "U", "UW": "u:",
    "B": "b", "CH": "tS", "D": "d", "DH": "D", "F": "f", "G": "g", "HH": "h", "JH": "dZ", "K": "k",
    "L": "l", "M": "m", "N": "n", "NG": "N", "P": "p", "R": "r", "S": "s", "SH": "S", "T": "t",
    "TH": "T", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "Z",
}  # fmt: skip
_ARPABET_TO_ESPEAK_UNSTRESSED = {"AH": "@", "ER": "3", "IY": "i"}
_ESPEAK_STRESS = {1: "'", 2: ","}


def _espeak_word(pieces: list[tuple[str, int | None]]) -> str:
    """Mnemonics of one word joined with eSpeak's separator, stress marks before their vowels."""
    return "|".join(_ESPEAK_STRESS.get(stress or 0, "") + mnemonic for mnemonic, stress in pieces)


def arpabet_to_espeak(arpabet: str) -> str:
    """CMU ARPAbet → eSpeak NG English mnemonics (for ``[[...]]`` input), e.g. ``t|@|m|'eI|t|,oU``."""
    return _phones_to_espeak(stressed(arpabet_phones(arpabet)))


def _phones_to_espeak(phones: list[Phone]) -> str:
    words: list[list[tuple[str, int | None]]] = []
    for phone in phones:
        if phone.word_start or not words:
            words.append([])
        if phone.vowel:
            stress = phone.stress or 0
            mnemonic = _ARPABET_TO_ESPEAK_UNSTRESSED.get(phone.symbol) if stress == 0 else None
            words[-1].append((mnemonic or _ARPABET_TO_ESPEAK[phone.symbol], stress))
        else:
            words[-1].append((_ARPABET_TO_ESPEAK[phone.symbol], None))
    return " ".join(_espeak_word(word) for word in words if word)


def ipa_to_espeak(ipa: str) -> str:
    """IPA → eSpeak NG English mnemonics, keeping distinctions ARPAbet lacks (ɒ/ɑː, ɐ, ɾ, ʔ)."""
    words: list[list[tuple[str, int | None]]] = []
    for segment in _default_stress(_parse_ipa(ipa)):
        if segment.word_start or not words:
            words.append([])
        unit = segment.unit
        if unit.vowel:
            stress = segment.stress or 0
            mnemonic = unit.espeak_unstressed if stress == 0 and unit.espeak_unstressed else unit.espeak
            words[-1].append((mnemonic, stress))
        else:
            words[-1].append((unit.espeak, None))
    return " ".join(_espeak_word(word) for word in words if word)


def espeak_mnemonics(phonemes: str, alphabet: Alphabet | None) -> str:
    """``phonemes`` (in ``alphabet``, guessed when None) as eSpeak NG mnemonics; "" if none are known."""
    if (alphabet or guess_alphabet(phonemes)) == "cmu-arpabet":
        return arpabet_to_espeak(phonemes)
    return ipa_to_espeak(phonemes)


# --- Flite ---------------------------------------------------------------------------------------


def arpabet_to_flite(phones: list[Phone]) -> list[str]:
    """Phones as Flite's CMU lexicon writes them: lowercase, vowels with 0/1, ``ax0`` for AH0."""
    out: list[str] = []
    for phone in stressed(phones):
        if phone.vowel:
            stressed_vowel = (phone.stress or 0) > 0
            if phone.symbol == "AH" and not stressed_vowel:
                out.append("ax0")
            else:
                out.append(phone.symbol.lower() + ("1" if stressed_vowel else "0"))
        else:
            out.append(phone.symbol.lower())
    return out


def flite_phones(phonemes: str, alphabet: Alphabet | None) -> list[str]:
    """``phonemes`` (in ``alphabet``, guessed when None) as Flite lexicon phones; [] if none are known."""
    if (alphabet or guess_alphabet(phonemes)) == "cmu-arpabet":
        return arpabet_to_flite(arpabet_phones(phonemes))
    return arpabet_to_flite(_ipa_segments_to_phones(_default_stress(_parse_ipa(phonemes))))


def to_arpabet(phonemes: str, alphabet: Alphabet | None) -> str:
    """``phonemes`` in ``alphabet`` (guessed when None) as an ARPAbet string."""
    if (alphabet or guess_alphabet(phonemes)) == "cmu-arpabet":
        return format_arpabet(arpabet_phones(phonemes))
    return ipa_to_arpabet(phonemes)


_ARPABET_SYMBOLS = ARPABET_VOWELS | ARPABET_CONSONANTS | frozenset(_ARPABET_EXTENDED)


def guess_alphabet(phonemes: str) -> Alphabet:
    """ "cmu-arpabet" for a string of ARPAbet symbols ("HH AH0 L OW1", "hh ah l ow"), otherwise "ipa".

    One symbol without a stress digit ("bed") is taken for IPA.
    """
    tokens = phonemes.split()
    matches = [_ARPABET_TOKEN.fullmatch(token) for token in tokens]
    if not tokens or not all(m is not None and m.group(1).upper() in _ARPABET_SYMBOLS for m in matches):
        return "ipa"
    return "cmu-arpabet" if len(tokens) > 1 or any(ch.isdigit() for ch in phonemes) else "ipa"
