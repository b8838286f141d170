"""Entity detection and redaction for speech-to-text transcripts (``entity_detection``, ``entity_redaction``).

Entity types and categories are ElevenLabs' (the speech-to-text "Entity detection" guide): lower-case labels
such as ``name``, ``email_address``, ``phone_number``, ``credit_card``, ``dob``, grouped into the categories
``pii``, ``phi``, ``pci``, ``other`` and ``offensive_language``; ``all`` means every type. The legacy aliases
``gender_sexuality`` (``gender`` + ``sexual_orientation``) and ``statistics`` (``clinical_measurement``) are
accepted and expand to the types they stand for; detections always carry the canonical label.

Detection is rule based (no NER model runs offline): regular expressions for written forms, a small spoken
number grammar for recogniser output such as pocketsphinx's lower-case "five five five one two three four",
context cues ("my name is", "account number", "date of birth") and the small word lists in
:mod:`chorus.stt.data.entity_lexicon`. It handles both cased text with digits and punctuation (neural
engines) and lower-case text with numbers as words (pocketsphinx). Where one stretch of text matches several
rules, the more specific rule wins (a Luhn-valid card number over a bare number), then the longer match.
Some types are accepted but only found through cues or short lists (``organization``, ``product_or_service``,
``physical_attribute``, ...) and ``very_offensive_language`` covers general profanity, not slurs.

Offsets follow the docs' example (``"Jill"`` in ``"My name is Jill."`` is ``start_char`` 11, ``end_char``
15): Python string indices into the transcript ``text``, end exclusive, so ``text[start_char:end_char]`` is
the entity's ``text``.

Redaction replaces each redacted entity in ``text`` and in ``words`` with a marker: ``{REDACTED}``,
``{ENTITY_TYPE}`` or ``{ENTITY_TYPE_N}``, where N counts distinct values of that type from 0 in order of first
appearance (the docs' ``{NAME_0}``; the same card number read twice gets the same N). As the docs say, a
redacted response carries no ``entities``: offsets into the unredacted text would point at text the client
no longer has, and the entities' ``text`` would undo the redaction.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from chorus.errors import BadRequest
from chorus.stt.data import entity_lexicon as lex


def _split(text: str) -> list[str]:
    """Whitespace-separated words (a function so the word lists stay readable strings)."""
    return text.split()


# --------------------------------------------------------------------------------------------- the taxonomy

CATEGORIES: dict[str, tuple[str, ...]] = {
    "pii": (
        "account_number", "age", "bank_account", "cardinal", "credit_card", "credit_card_expiration", "cvv",
        "date", "date_interval", "dob", "driver_license", "email_address", "event", "filename", "gender",
        "gender_sexuality", "sexual_orientation", "healthcare_number", "ip_address", "location",
        "location_address", "location_city", "location_coordinate", "location_country", "location_state",
        "location_zip", "money", "name", "name_given", "name_family", "name_medical_professional",
        "numerical_pii", "occupation", "ordinal", "origin", "passport_number", "password", "percent",
        "phone_number", "physical_attribute", "ssn", "time", "url", "username", "vehicle_id",
    ),
    "phi": (
        "condition", "drug", "injury", "blood_type", "medical_process", "clinical_measurement", "statistics",
    ),
    "pci": ("credit_card", "credit_card_expiration", "cvv"),
    "other": (
        "language", "marital_status", "organization", "political_affiliation", "religion", "routing_number",
        "zodiac_sign", "product_or_service", "food_or_beverage", "document_reference", "generic_id",
        "measurement", "time_duration",
    ),
    "offensive_language": ("very_offensive_language", "less_offensive_language"),
}  # fmt: skip
ALIASES: dict[str, tuple[str, ...]] = {
    "gender_sexuality": ("gender", "sexual_orientation"),
    "statistics": ("clinical_measurement",),
}
ENTITY_TYPES: frozenset[str] = frozenset(t for types in CATEGORIES.values() for t in types)
REDACTION_MODES = ("redacted", "entity_type", "enumerated_entity_type")
DEFAULT_REDACTION_MODE = "enumerated_entity_type"


def parse_entity_option(raw: str | bytes | Sequence[str | bytes] | None, field: str) -> frozenset[str] | None:
    """The entity types an ``entity_detection`` / ``entity_redaction`` form value asks for, or None.

    Wire forms: the Python SDK sends one field holding JSON (``"pii"`` quoted, ``["pii", "email_address"]``,
    or ``null`` when unset); the JS SDK repeats the field once per plain name; curl users send a plain name
    or a comma-separated list. ``all`` and the categories expand to their types. Unknown names are a 400
    ``invalid_<field>`` that lists the valid ones.
    """
    names = _wire_names(raw, field)
    if names is None:
        return None
    types: set[str] = set()
    for name in names:
        key = name.strip().lower()
        if not key:
            continue
        if key == "all":
            types |= ENTITY_TYPES
        elif key in CATEGORIES:
            types.update(CATEGORIES[key])
        elif key in ENTITY_TYPES:
            types.add(key)
        else:
            raise BadRequest(
                f"{field} has an unknown entity type or category {name!r}. Use 'all', a category "
                f"({', '.join(CATEGORIES)}) or entity types: {', '.join(sorted(ENTITY_TYPES))}.",
                status=f"invalid_{field}",
            )
    for alias, targets in ALIASES.items():
        if alias in types:
            types.update(targets)
    return frozenset(types) or None


def _wire_names(raw: str | bytes | Sequence[str | bytes] | None, field: str) -> list[str] | None:
    if raw is None:
        return None
    items: Sequence[Any] = [raw] if isinstance(raw, str | bytes) else raw
    names: list[str] = []
    for item in items:
        if isinstance(item, bytes):
            item = item.decode("utf-8", "replace")
        if not isinstance(item, str):
            raise BadRequest(f"{field} must be a string or a list of strings.", status=f"invalid_{field}")
        value = item.strip()
        if value in ("", "null"):
            continue
        if value[0] in '["':
            try:
                decoded = json.loads(value)
            except json.JSONDecodeError:
                raise BadRequest(
                    f"{field} is not valid JSON: {value[:80]!r}.", status=f"invalid_{field}"
                ) from None
            if decoded is None:
                continue
            if isinstance(decoded, str):
                decoded = [decoded]
            if not isinstance(decoded, list) or not all(isinstance(v, str) for v in decoded):
                raise BadRequest(f"{field} must be a string or a list of strings.", status=f"invalid_{field}")
            names.extend(decoded)
        else:
            names.extend(value.split(","))
    return names or None


def check_redaction(detect_types: frozenset[str] | None, redact_types: frozenset[str] | None) -> None:
    """400 ``invalid_entity_redaction`` unless every redacted type is also detected (the docs' rule)."""
    if not redact_types:
        return
    missing = redact_types - (detect_types or frozenset())
    if missing:
        raise BadRequest(
            "entity_redaction must be a subset of entity_detection; not detected: "
            f"{', '.join(sorted(missing))}.",
            status="invalid_entity_redaction",
        )


def parse_redaction_mode(raw: str | None) -> str:
    """``entity_redaction_mode`` (default ``enumerated_entity_type``); anything else is a 400."""
    mode = (raw or "").strip().strip('"')
    if mode in ("", "null"):
        return DEFAULT_REDACTION_MODE
    if mode not in REDACTION_MODES:
        raise BadRequest(
            f"entity_redaction_mode must be one of {', '.join(REDACTION_MODES)}, got {raw!r}.",
            status="invalid_entity_redaction_mode",
        )
    return mode


# ------------------------------------------------------------------------------------------ tokens and text

_TOKEN_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_NUMBER_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*")
_SENTENCE_END = frozenset(".?!")


@dataclass(frozen=True, slots=True)
class _Tok:
    text: str
    norm: str
    start: int
    end: int


class _Ctx:
    """The text being searched: tokens with offsets, a same-length lower-case copy, and helpers."""

    def __init__(self, text: str) -> None:
        self.text = text
        lowered = text.lower()
        if len(lowered) != len(text):  # a few characters lower-case to two; keep offsets aligned
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        self.lower = lowered
        self.cased = any(c.isupper() for c in text)
        # Written emails and URLs are found whole; their pieces are not names or numbers.
        protected = sorted(m.span() for rx in (_EMAIL_RE, _URL_RE) for m in rx.finditer(text))
        protected_starts = [a for a, _ in protected]
        toks: list[_Tok] = []
        for m in _TOKEN_RE.finditer(text):
            k = bisect.bisect_right(protected_starts, m.start()) - 1
            if k >= 0 and m.start() < protected[k][1]:
                continue
            start, end = m.span()
            # "1,000", "3.5" and "555.123.4567" are one number token.
            if (
                toks
                and _NUMBER_TOKEN_RE.fullmatch(toks[-1].text)
                and m.group().isdigit()
                and start - toks[-1].end == 1
                and text[toks[-1].end] in ",."
            ):
                prev = toks.pop()
                start = prev.start
            word = text[start:end]
            toks.append(_Tok(word, word.lower().replace("’", "'"), start, end))
        self.toks = toks
        self.norms = [t.norm for t in toks]
        self.starts = [t.start for t in toks]

    def __len__(self) -> int:
        return len(self.toks)

    def gap(self, i: int) -> str:
        """The text between token ``i - 1`` and token ``i``."""
        if not 0 < i < len(self.toks):
            return ""
        return self.text[self.toks[i - 1].end : self.toks[i].start]

    def span(self, i: int, j: int) -> tuple[int, int]:
        return self.toks[i].start, self.toks[j - 1].end

    def index_at(self, offset: int) -> int:
        """The first token starting at or after ``offset``."""
        return bisect.bisect_left(self.starts, offset)

    def word(self, i: int) -> str:
        return self.norms[i] if 0 <= i < len(self.norms) else ""

    def sentence_initial(self, i: int) -> bool:
        if i == 0:
            return True
        start = self.toks[i].start
        before = self.text[max(0, start - 16) : start].rstrip(" \t\"'“‘(")
        return (not before and start <= 16) or before[-1:] in ("\n", *_SENTENCE_END)

    def capitalized(self, i: int) -> bool:
        return self.cased and self.toks[i].text[:1].isupper()

    def before(self, start: int, chars: int = 48) -> str:
        return self.lower[max(0, start - chars) : start]


@dataclass(frozen=True, slots=True)
class _Cand:
    start: int
    end: int
    labels: tuple[str, ...]  # most preferred first; the first one requested is reported
    priority: int  # 3 structured / cue-confirmed, 2 lexicon, 1 weak, 0 plain numbers


def _words(csv: str) -> frozenset[str]:
    return frozenset(w.strip() for w in csv.split(",") if w.strip())


STOPWORDS = _words(
    "a,an,the,and,or,but,if,then,so,because,as,at,by,for,from,in,into,of,on,onto,to,with,without,about,"
    "after,before,over,under,up,down,out,off,is,am,are,was,were,be,been,being,have,has,had,do,does,did,will,"
    "would,shall,should,can,could,may,might,must,i,me,my,mine,you,your,yours,he,him,his,she,her,hers,it,its,"
    "we,us,our,they,them,their,this,that,these,those,there,here,what,which,who,whom,whose,when,where,why,how,"
    "not,no,yes,all,any,some,each,every,both,few,more,most,other,such,only,own,same,than,too,very,just,also,"
    "now,well,okay,ok,oh,uh,um,hi,hello,hey,thanks,thank,please,sorry,like,really,again,still,already,even,"
    "i'm,it's,that's,there's,what's,don't,can't,won't,didn't,isn't,wasn't,i've,i'll,i'd,you're,we're,they're,"
    "called,number,name,is,new,one,two,three,four,five,six,seven,eight,nine,ten,said,says,say,tell,told,"
    "speaking,here,today,tomorrow,yesterday,going,get,got,go,went,know,think,want,need,see,look,come"
)

# ---------------------------------------------------------------------------------------- spoken numbers

_UNITS = {w: n for n, w in enumerate(_split("zero one two three four five six seven eight nine"))}
_ZERO_WORDS = frozenset({"oh", "o"})
_TEENS = {
    w: n + 10
    for n, w in enumerate(
        _split("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen")
    )
}
_TENS = {
    w: (n + 2) * 10 for n, w in enumerate(_split("twenty thirty forty fifty sixty seventy eighty ninety"))
}
_SCALES = {"thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_ORD_UNITS = {
    w: n + 1 for n, w in enumerate(_split("first second third fourth fifth sixth seventh eighth ninth"))
}
_ORD_TEENS = {
    w: n + 10
    for n, w in enumerate(
        _split(
            "tenth eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth "
            "nineteenth"
        )
    )
}
_ORD_TENS = {
    w: (n + 2) * 10
    for n, w in enumerate(
        _split("twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth")
    )
}
_WRITTEN_ORDINAL = re.compile(r"(\d+)(?:st|nd|rd|th)")
_JOIN_GAP = re.compile(r"[ \t\-–/()+]*|\s*,\s*|\.")
_NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TEENS) | frozenset(_TENS) | {"hundred"} | frozenset(_SCALES)


def _is_number(word: str) -> bool:
    return bool(_NUMBER_TOKEN_RE.fullmatch(word))


def _number_value(word: str) -> float | None:
    if not _NUMBER_TOKEN_RE.fullmatch(word):
        return None
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?", word):
        return float(word.replace(",", ""))
    return None


def _below_hundred(ctx: _Ctx, i: int) -> tuple[int, int] | None:
    """``"forty two"``, ``"seven"``, ``"13"`` → (end, value) for values under 100."""
    w = ctx.word(i)
    if w.isdigit() and len(w) <= 2:
        return i + 1, int(w)
    if w in _UNITS:
        return i + 1, _UNITS[w]
    if w in _TEENS:
        return i + 1, _TEENS[w]
    if w in _TENS:
        nxt = ctx.word(i + 1)
        if nxt in _UNITS and _UNITS[nxt] > 0 and _JOIN_GAP.fullmatch(ctx.gap(i + 1)):
            return i + 2, _TENS[w] + _UNITS[nxt]
        return i + 1, _TENS[w]
    return None


def _cardinal(ctx: _Ctx, i: int) -> tuple[int, float] | None:
    """A cardinal number at token ``i``: written (``1,250``, ``3.5``, ``5 million``) or spoken
    (``two thousand and five``, ``a hundred``, ``three point five``) → (end, value). Digit strings read
    one digit at a time are not cardinals (``five five five`` stops after the first ``five``)."""
    n = len(ctx)
    if i >= n:
        return None
    w = ctx.norms[i]
    value = _number_value(w)
    if value is not None:
        j = i + 1
        if ctx.word(j) in _SCALES and ctx.gap(j).isspace():
            value *= _SCALES[ctx.norms[j]]
            j += 1
        return j, value
    total, current, last, j = 0, 0, None, i
    if w == "a" and ctx.word(i + 1) in ("hundred", "thousand", "million", "billion"):
        current, last, j = 1, "unit", i + 1
    while j < n:
        w = ctx.norms[j]
        if j > i and not ctx.gap(j).isspace() and ctx.gap(j) not in ("-", " - "):
            break
        if w in _UNITS and last in (None, "tens", "hundred", "scale", "and"):
            if w == "zero" and last is not None:
                break
            current += _UNITS[w]
            last = "unit"
        elif w in _TEENS and last in (None, "hundred", "scale", "and"):
            current += _TEENS[w]
            last = "teen"
        elif w in _TENS and last in (None, "hundred", "scale", "and"):
            current += _TENS[w]
            last = "tens"
        elif w == "hundred" and last in ("unit", "teen", "tens") and 0 < current % 1000 < 100:
            current = current - current % 100 + (current % 100) * 100
            last = "hundred"
        elif w in _SCALES and last in ("unit", "teen", "tens", "hundred") and current > 0:
            total += current * _SCALES[w]
            current = 0
            last = "scale"
        elif (
            w == "and"
            and last in ("hundred", "scale")
            and ctx.word(j + 1) in (set(_UNITS) | set(_TEENS) | set(_TENS))
        ):
            last = "and"
        else:
            break
        j += 1
    if last is None or last == "and":
        return None
    value = float(total + current)
    # "three point one four"
    if ctx.word(j) == "point" and ctx.word(j + 1) in _UNITS:
        k, digits = j + 1, ""
        while ctx.word(k) in _UNITS:
            digits += str(_UNITS[ctx.norms[k]])
            k += 1
        value = float(f"{int(value)}.{digits}")
        j = k
    return j, value


def _ordinal(ctx: _Ctx, i: int) -> tuple[int, int] | None:
    """``"3rd"``, ``"twenty first"``, ``"twelfth"`` → (end, value)."""
    w = ctx.word(i)
    m = _WRITTEN_ORDINAL.fullmatch(w)
    if m:
        return i + 1, int(m.group(1))
    if w in _ORD_UNITS:
        return i + 1, _ORD_UNITS[w]
    if w in _ORD_TEENS:
        return i + 1, _ORD_TEENS[w]
    if w in _ORD_TENS:
        return i + 1, _ORD_TENS[w]
    if w in _TENS and ctx.word(i + 1) in _ORD_UNITS and _JOIN_GAP.fullmatch(ctx.gap(i + 1)):
        return i + 2, _TENS[w] + _ORD_UNITS[ctx.norms[i + 1]]
    return None


def _year(ctx: _Ctx, i: int) -> tuple[int, int] | None:
    """``"1987"``, ``"nineteen eighty seven"``, ``"twenty twenty four"``, ``"two thousand and five"``,
    ``"nineteen oh five"`` → (end, year)."""
    w = ctx.word(i)
    if re.fullmatch(r"\d{4}", w) and 1000 <= int(w) <= 2999:
        return i + 1, int(w)
    if w == "two" and ctx.word(i + 1) == "thousand":
        j = i + 2
        if ctx.word(j) == "and":
            j += 1
        rest = _below_hundred(ctx, j)
        if rest and not ctx.word(j).isdigit():
            return rest[0], 2000 + rest[1]
        return i + 2, 2000
    if w in _TEENS or w == "twenty":
        high = _TEENS.get(w, 20)
        nxt = ctx.word(i + 1)
        if nxt == "hundred":
            return i + 2, high * 100
        if nxt in _ZERO_WORDS and ctx.word(i + 2) in _UNITS:
            return i + 3, high * 100 + _UNITS[ctx.norms[i + 2]]
        if nxt in _TEENS:
            return i + 2, high * 100 + _TEENS[nxt]
        if nxt in _TENS:
            low = _below_hundred(ctx, i + 1)
            if low:
                return low[0], high * 100 + low[1]
    return None


@dataclass(frozen=True, slots=True)
class _Run:
    """Consecutive tokens read as a string of digits (and letters, for identifiers)."""

    start: int  # token indices
    end: int
    code: str
    spoken: bool  # at least one token was a number word
    ends: tuple[tuple[int, int], ...]  # (token end index, code length) after each piece


def _code_run(ctx: _Ctx, i: int, *, letters: bool = False) -> _Run | None:
    """Read digits one group at a time: ``"5551234"``, ``"555-123-4567"``, ``"five five five"``,
    ``"double five"``, ``"eight hundred"``, ``"forty two"``; with ``letters`` also single spoken letters and
    written alphanumerics (``"x one two"``, ``"AB12C"``)."""
    n = len(ctx)
    j, code, spoken = i, "", False
    ends: list[tuple[int, int]] = []
    letter_tail = 0
    while j < n:
        if j > i and not _JOIN_GAP.fullmatch(ctx.gap(j)):
            break
        w = ctx.norms[j]
        piece, step, is_letter = None, 1, False
        if _is_number(w):
            piece = re.sub(r"\D", "", w)
        elif w in ("double", "triple") and (ctx.word(j + 1) in _UNITS or ctx.word(j + 1) in _ZERO_WORDS):
            digit = str(_UNITS.get(ctx.norms[j + 1], 0))
            piece, step = digit * (2 if w == "double" else 3), 2
        elif w in _UNITS or (w in _ZERO_WORDS and (code or ctx.word(j + 1) in _UNITS)):
            digit = _UNITS.get(w, 0)
            piece = str(digit)
            if ctx.word(j + 1) == "hundred" and digit > 0:
                k = j + 2 + (ctx.word(j + 2) == "and")
                rest = _below_hundred(ctx, k) if not ctx.word(k).isdigit() else None
                if rest:
                    piece, step = f"{digit * 100 + rest[1]:03d}", rest[0] - j
                else:
                    piece, step = f"{digit}00", 2
        elif w in _TEENS:
            piece = str(_TEENS[w])
            if ctx.word(j + 1) == "hundred":
                piece, step = piece + "00", 2
        elif w in _TENS:
            low = _below_hundred(ctx, j)
            assert low is not None
            piece, step = str(low[1]), low[0] - j
        elif letters and len(w) == 1 and w.isalpha() and (code or w not in ("a", "i")):
            piece, is_letter = w.upper(), True
        elif letters and w.isalnum() and any(c.isdigit() for c in w) and any(c.isalpha() for c in w):
            piece = w.upper()
        if piece is None:
            break
        spoken = spoken or not any(c.isdigit() for c in ctx.norms[j])
        code += piece
        j += step
        ends.append((j, len(code)))
        letter_tail = letter_tail + 1 if is_letter else 0
    if letter_tail:
        ends = ends[:-letter_tail]
    if not ends:
        return None
    end, length = ends[-1]
    return _Run(i, end, code[:length], spoken, tuple(ends))


def _luhn(digits: str) -> bool:
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = int(ch)
        if k % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# ----------------------------------------------------------------------------------------- written forms

_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)]"
    r"|\b(?<!@)(?:[a-z0-9\-]+\.)+(?:com|org|net|edu|gov|io|co|ai|app|dev|info|biz|uk|de|fr|eu)\b(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)])?",
    re.IGNORECASE,
)
_IPV4_RE = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.]\d)"
)
_IPV6_RE = re.compile(
    r"(?<![\w:])(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?![\w:])"
    r"|(?<![\w:])(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}:?){0,6}[0-9a-f]{1,4}\b",
    re.IGNORECASE,
)
_SSN_RE = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_NUMERIC_DATE_RE = re.compile(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.-])")
_ISO_DATE_RE = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
_TIME_RE = re.compile(
    r"(?<![\d:])(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s?(?:[ap]\.m\.|[ap]m\b))?"
    r"|(?<![\d:])(?:1[0-2]|0?[1-9])\s?(?:[ap]\.m\.|[ap]m\b)",
    re.IGNORECASE,
)
_MONEY_RE = re.compile(
    r"[$€£¥₹]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:k|m|bn|thousand|million|billion)\b)?"
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:usd|eur|gbp|dollars?|euros?|bucks|cents?|pence|yen|rupees?)\b",
    re.IGNORECASE,
)
_PERCENT_RE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?%")
_FILENAME_RE = re.compile(
    r"(?<![\w@/.])[\w\-]+(?:\.[\w\-]+)*\.(?:"
    + "|".join(sorted(lex.FILE_EXTENSIONS.split(","), key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
_COORD_RE = re.compile(
    r"-?\d{1,2}(?:\.\d+)?°?\s?[NS]?,\s*-?\d{1,3}(?:\.\d+)?°?\s?[EW]?"
    r"|\d{1,2}(?:\.\d+)?°\s?[NS]\s*,?\s*\d{1,3}(?:\.\d+)?°\s?[EW]",
)
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,3})?\b")
_UK_POSTCODE_RE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b")
_CA_POSTCODE_RE = re.compile(r"\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b")
_US_STATE_ZIP_RE = re.compile(
    r"\b(?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|UT"
    r"|V[AT]|W[AIVY]),?\s+(\d{5}(?:-\d{4})?)\b"
)
_BLOOD_TYPE_RE = re.compile(
    r"\b(?:ab|a|b|o)\s?(?:[+-](?=\W|$)|\s(?:positive|negative|pos|neg)\b)", re.IGNORECASE
)
_USERNAME_AT_RE = re.compile(r"(?<![\w@.])@[A-Za-z0-9_]{2,30}\b")
_DECADE_RE = re.compile(r"\b(?:19|20)?\d0'?s\b|'\d0s\b")


def _iban_ok(raw: str) -> bool:
    s = raw.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


# ----------------------------------------------------------------------------------------------- lexicons


@cache
def _lexicon(name: str) -> frozenset[str]:
    return _words(getattr(lex, name))


@cache
def _phrase_table(*names: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """First token → phrases (as token tuples, longest first) for the named lexicons."""
    table: dict[str, list[tuple[str, ...]]] = {}
    for name in names:
        for entry in _lexicon(name):
            toks = tuple(m.group().lower() for m in _TOKEN_RE.finditer(entry))
            if toks:
                table.setdefault(toks[0], []).append(toks)
    return {k: tuple(sorted(set(v), key=len, reverse=True)) for k, v in table.items()}


def _phrase_matches(ctx: _Ctx, *names: str) -> Iterator[tuple[int, int, str]]:
    """(first token, end token, phrase) for every lexicon phrase in the text."""
    table = _phrase_table(*names)
    norms = ctx.norms
    for i, w in enumerate(norms):
        for phrase in table.get(w, ()):
            j = i + len(phrase)
            if tuple(norms[i:j]) == phrase and all(
                re.fullmatch(r"\s+|-|&|\s?&\s?", ctx.gap(k)) for k in range(i + 1, j)
            ):
                yield i, j, " ".join(phrase)
                break


def _caps_ok(ctx: _Ctx, i: int) -> bool:
    """An ambiguous lexicon word counts only capitalised in cased text, and not just because it starts a
    sentence."""
    return ctx.capitalized(i) and not ctx.sentence_initial(i)


_MEDICAL_CUES = _words(
    "had,have,has,having,with,from,diagnosed,suffer,suffers,suffered,suffering,treat,treated,treating,for,"
    "my,his,her,of,severe,mild,chronic,get,got,getting,need,needs,needed,scheduled,after,before,broke"
)
_FOOD_CUES = _words("eat,ate,eating,drink,drank,drinking,some,of,had,order,ordered,glass,cup,bottle")
_POLITICAL_CUES = _words("a,i'm,am,is,are,was,as,vote,voted,votes,staunch,lifelong,registered,being")
_IDENTITY_CUES = _words("i'm,am,is,are,was,as,identify,identifies,being,he's,she's,they're")
_ARTICLE_CUES = _words("a,an,the,as,my,his,her,their,our")
_ATTRIBUTE_CUES = _words("a,has,have,had,with,his,her,their")


def _gazetteer(
    ctx: _Ctx,
    lexicon: str,
    labels: tuple[str, ...],
    priority: int = 2,
    *,
    ambiguous: str | None = None,
    cues: frozenset[str] | None = None,
) -> Iterator[_Cand]:
    """Candidates for one lexicon. Ambiguous entries need capitals (``cues`` None) or a preceding cue word."""
    unsure = _lexicon(ambiguous) if ambiguous else frozenset()
    for i, j, phrase in _phrase_matches(ctx, lexicon):
        if phrase in unsure:
            if cues is None and not _caps_ok(ctx, i):
                continue
            if cues is not None and ctx.word(i - 1) not in cues:
                continue
        yield _Cand(*ctx.span(i, j), labels, priority)


# -------------------------------------------------------------------------------------------- recognisers


def _written(ctx: _Ctx) -> Iterator[_Cand]:
    """Forms that regular expressions find in cased text with digits and punctuation."""
    text = ctx.text
    for m in _EMAIL_RE.finditer(text):
        yield _Cand(*m.span(), ("email_address",), 3)
    for m in _URL_RE.finditer(text):
        if text[m.start() - 1 : m.start()] != "@":
            yield _Cand(*m.span(), ("url",), 3)
    for rx in (_IPV4_RE, _IPV6_RE):
        for m in rx.finditer(text):
            yield _Cand(*m.span(), ("ip_address",), 3)
    for m in _SSN_RE.finditer(text):
        yield _Cand(*m.span(), ("ssn",), 3)
    for m in _FILENAME_RE.finditer(text):
        yield _Cand(*m.span(), ("filename",), 2)
    for m in _COORD_RE.finditer(text):
        if (
            re.search(r"coordinat|latitude|longitude|\blat\b|gps", ctx.before(m.start(), 40))
            or "°" in m.group()
        ):
            yield _Cand(*m.span(), ("location_coordinate", "location"), 3)
    for m in _IBAN_RE.finditer(text):
        if _iban_ok(m.group()):
            yield _Cand(*m.span(), ("bank_account",), 3)
    for rx in (_UK_POSTCODE_RE, _CA_POSTCODE_RE):
        for m in rx.finditer(text):
            yield _Cand(*m.span(), ("location_zip", "location"), 2)
    for m in _US_STATE_ZIP_RE.finditer(text):
        yield _Cand(*m.span(1), ("location_zip", "location"), 3)
    for m in _TIME_RE.finditer(text):
        yield _Cand(*m.span(), ("time",), 2)
    for m in _MONEY_RE.finditer(text):
        yield _Cand(*m.span(), ("money",), 2)
    for m in _PERCENT_RE.finditer(text):
        yield _Cand(*m.span(), ("percent",), 2)
    for m in _USERNAME_AT_RE.finditer(text):
        yield _Cand(*m.span(), ("username",), 2)
    for m in _BLOOD_TYPE_RE.finditer(text):
        if re.search(r"\bblood\b|\btype\b|\bgroup\b", ctx.before(m.start(), 30)):
            yield _Cand(m.start(), m.end(), ("blood_type",), 3)
    for m in _NUMERIC_DATE_RE.finditer(text):
        a, b, year = int(m.group(1)), int(m.group(3)), m.group(4)
        if (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31):
            if len(year) == 2 and m.group(2) == ".":
                continue  # "3.14.15" is more likely a version or a number than a date
            yield _Cand(*m.span(), _date_labels(ctx, m.start()), 3)
    for m in _ISO_DATE_RE.finditer(text):
        if 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31:
            yield _Cand(*m.span(), _date_labels(ctx, m.start()), 3)
    for m in _DECADE_RE.finditer(text):
        yield _Cand(*m.span(), ("date_interval",), 1)


_DOB_CUE = re.compile(r"\bborn\b|\bbirth|\bbirthday\b|\bdob\b|\bd\.? ?o\.? ?b\b")
_EXPIRY_CUE = re.compile(r"\bexp\b|expir|\bvalid (?:thru|through|until)\b|\bgood thru\b")


def _date_labels(ctx: _Ctx, start: int, interval: bool = False) -> tuple[str, ...]:
    before = ctx.before(start, 40)
    base = ("date_interval",) if interval else ("date",)
    if _DOB_CUE.search(before):
        return ("dob", *base)
    if _EXPIRY_CUE.search(before):
        return ("credit_card_expiration", *base)
    return base


_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
    "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_AMBIGUOUS_MONTHS = frozenset({"may", "march", "mar", "jan", "dec", "sep", "august", "june", "april"})
_WEEKDAYS = frozenset(_split("monday tuesday wednesday thursday friday saturday sunday"))
_INTERVAL_CUES = frozenset(
    _split(
        "in during since until till by from through last next this early late mid of throughout "
        "before after around"
    )
)
_SEASONS = frozenset({"spring", "summer", "autumn", "fall", "winter"})
_DECADE_WORDS = frozenset(_split("twenties thirties forties fifties sixties seventies eighties nineties"))


def _day(ctx: _Ctx, i: int) -> tuple[int, int, bool] | None:
    """A day of the month: (end, day, said as an ordinal)."""
    o = _ordinal(ctx, i)
    if o and 1 <= o[1] <= 31:
        return o[0], o[1], True
    c = _below_hundred(ctx, i)
    if c and 1 <= c[1] <= 31:
        return c[0], c[1], False
    return None


def _dates(ctx: _Ctx) -> Iterator[_Cand]:
    """Spoken and written calendar dates, months, years, seasons and decades."""
    norms, n = ctx.norms, len(ctx)
    for i in range(n):
        w = norms[i]
        k = i
        weekday = w in _WEEKDAYS
        if weekday:
            k = i + 1
        month_word = ctx.word(k)
        if month_word in _MONTHS:
            strong = month_word not in _AMBIGUOUS_MONTHS or ctx.capitalized(k) or weekday
            start = ctx.toks[i].start
            d_at = k + 1 + (ctx.word(k + 1) == "the")
            day = _day(ctx, d_at)
            day_year = _year(ctx, day[0]) if day else None
            month_year = _year(ctx, k + 1)
            if day and day_year:  # "may ten eighteen fifty one": a day, then a year
                yield _Cand(start, ctx.toks[day_year[0] - 1].end, _date_labels(ctx, start), 3)
                continue
            if month_year and not (ctx.word(k + 1).isdigit() and len(ctx.word(k + 1)) <= 2):
                labels = _date_labels(ctx, start, interval=not weekday)
                yield _Cand(start, ctx.toks[month_year[0] - 1].end, labels, 3)
                continue
            if day and (strong or day[2]):
                yield _Cand(start, ctx.toks[day[0] - 1].end, _date_labels(ctx, start), 3)
                continue
            if weekday:
                yield _Cand(*ctx.span(i, i + 1), _date_labels(ctx, start), 2)
            elif strong or ctx.word(i - 1) in _INTERVAL_CUES:
                if month_word in ("may", "march") and ctx.word(i - 1) not in _INTERVAL_CUES:
                    continue
                yield _Cand(*ctx.span(i, i + 1), _date_labels(ctx, start, interval=True), 2)
            continue
        if weekday:
            yield _Cand(*ctx.span(i, i + 1), _date_labels(ctx, ctx.toks[i].start), 2)
            continue
        # "12th of July 1987", "the third of march", "3 March 2024"
        day = _day(ctx, i)
        if day:
            k = day[0] + (ctx.word(day[0]) == "of")
            if ctx.word(k) in _MONTHS and (day[2] or k == day[0]) and ctx.word(i - 1) not in _MONTHS:
                end = k + 1
                year = _year(ctx, end)
                if year:
                    end = year[0]
                if day[2] or ctx.word(k) not in _AMBIGUOUS_MONTHS or year:
                    start = ctx.toks[i].start
                    yield _Cand(start, ctx.toks[end - 1].end, _date_labels(ctx, start), 3)
                    continue
        # a year on its own after "in", "since", ...: "in nineteen eighty seven", "born in 1987"
        if ctx.word(i - 1) in _INTERVAL_CUES or ctx.word(i - 1) == "year":
            year = _year(ctx, i)
            if year and (1900 <= year[1] <= 2100):
                start = ctx.toks[i].start
                yield _Cand(start, ctx.toks[year[0] - 1].end, _date_labels(ctx, start, interval=True), 2)
                continue
        if w in _SEASONS:
            prev = ctx.word(i - 1)
            of_year = ctx.word(i + 1) == "of" and _year(ctx, i + 2)
            if of_year:
                yield _Cand(ctx.toks[i].start, ctx.toks[of_year[0] - 1].end, ("date_interval",), 2)
            elif prev in ("last", "next", "this", "early", "late", "mid") or (prev == "in" and w != "fall"):
                yield _Cand(*ctx.span(i, i + 1), ("date_interval",), 2)
        if w in _DECADE_WORDS and ctx.word(i - 1) in ("the", "nineteen", "twenty", "early", "late", "mid"):
            start_i = i - 1 if ctx.word(i - 1) in ("nineteen",) else i
            yield _Cand(*ctx.span(start_i, i + 1), ("date_interval",), 2)


_TIME_MARKERS = {("a", "m"): 2, ("p", "m"): 2, ("am",): 1, ("pm",): 1, ("o'clock",): 1, ("oclock",): 1}
_DAY_PARTS = (("in", "the", "morning"), ("in", "the", "afternoon"), ("in", "the", "evening"), ("at", "night"))


def _times(ctx: _Ctx) -> Iterator[_Cand]:
    """Spoken clock times: "three thirty p m", "seven o'clock", "at nine fifteen", "noon", "half past two"."""
    n = len(ctx)
    for i in range(n):
        w = ctx.norms[i]
        if w in ("noon", "midnight", "midday"):
            yield _Cand(*ctx.span(i, i + 1), ("time",), 2)
            continue
        if w in ("half", "quarter") and ctx.word(i + 1) in ("past", "to", "after"):
            hour = _below_hundred(ctx, i + 2)
            if hour and 1 <= hour[1] <= 12:
                yield _Cand(*ctx.span(i, hour[0]), ("time",), 2)
            continue
        hour = _below_hundred(ctx, i)
        if not hour or not (0 <= hour[1] <= 24) or (ctx.word(i).isdigit() and len(ctx.word(i)) > 2):
            continue
        j = hour[0]
        minute = False
        if ctx.word(j) in _ZERO_WORDS and ctx.word(j + 1) in _UNITS:
            j, minute = j + 2, True
        else:
            m = _below_hundred(ctx, j)
            if m and 10 <= m[1] < 60 and not (ctx.word(j).isdigit() and len(ctx.word(j)) != 2):
                j, minute = m[0], True
        marker = 0
        for words, size in _TIME_MARKERS.items():
            if tuple(ctx.norms[j : j + size]) == words:
                marker = size
                break
        if not marker:
            for part in _DAY_PARTS:
                if tuple(ctx.norms[j : j + len(part)]) == part:
                    marker = len(part)
                    break
        if marker:
            yield _Cand(*ctx.span(i, j + marker), ("time",), 2)
        elif minute and ctx.word(i - 1) in ("at", "by", "until", "till", "around") and hour[1] <= 12:
            yield _Cand(*ctx.span(i, j), ("time",), 2)


_MONEY_WORDS = _words(lex.CURRENCY_WORDS)
_MEASURE_UNITS = _words(lex.MEASUREMENT_UNITS)
_DURATION_UNITS = _words(lex.DURATION_UNITS)
_CLINICAL_CUE_RE = re.compile(
    r"\b(?:"
    + "|".join(re.escape(c) for c in sorted(_words(lex.CLINICAL_CUES), key=len, reverse=True))
    + r")\b"
)


def _quantities(ctx: _Ctx) -> Iterator[_Cand]:
    """Numbers with what they count: money, percentages, ages, durations, measurements, plain cardinals and
    ordinals."""
    n = len(ctx)
    covered_until = 0
    for i in range(n):
        card = _cardinal(ctx, i)
        if not card and ctx.word(i) in ("a", "an", "half") and ctx.word(i + 1) in _DURATION_UNITS:
            j = i + 1
            yield _Cand(*ctx.span(i, j + 1), ("time_duration",), 1)
            continue
        if not card:
            o = _ordinal(ctx, i)
            if o and i >= covered_until:
                yield _Cand(*ctx.span(i, o[0]), ("ordinal",), 0)
                covered_until = o[0]
            continue
        j, value = card
        if i >= covered_until:
            yield _Cand(*ctx.span(i, j), ("cardinal",), 0)
            covered_until = j
        unit = ctx.word(j)
        two = " ".join(ctx.norms[j : j + 2]) if j + 1 < n else ""
        if unit in _MONEY_WORDS or two in _MONEY_WORDS:
            end = j + (2 if two in _MONEY_WORDS else 1)
            if ctx.word(end) == "and":
                cents = _cardinal(ctx, end + 1)
                if cents and ctx.word(cents[0]) in ("cents", "cent", "pence"):
                    end = cents[0] + 1
            yield _Cand(*ctx.span(i, end), ("money",), 2)
        elif unit in ("percent", "per") and (unit == "percent" or ctx.word(j + 1) == "cent"):
            yield _Cand(*ctx.span(i, j + (1 if unit == "percent" else 2)), ("percent",), 2)
        elif unit in ("years", "year", "yrs", "yr") and ctx.word(j + 1) == "old" and value <= 130:
            yield _Cand(*ctx.span(i, j), ("age",), 2)
        elif unit in _DURATION_UNITS and ctx.word(j + 1) != "old":
            yield _Cand(*ctx.span(i, j + 1), ("time_duration",), 1)
        elif unit in _MEASURE_UNITS or two in _MEASURE_UNITS:
            end = j + (2 if two in _MEASURE_UNITS else 1)
            clinical = _CLINICAL_CUE_RE.search(ctx.before(ctx.toks[i].start, 40))
            labels = ("clinical_measurement", "measurement") if clinical else ("measurement",)
            yield _Cand(*ctx.span(i, end), labels, 2)
        if (
            ctx.word(i - 1) in ("aged", "age")
            and value <= 130
            or ctx.word(i - 1) in ("of", "is")
            and ctx.word(i - 2) == "age"
            and value <= 130
        ):
            yield _Cand(*ctx.span(i, j), ("age",), 2)


def _clinical(ctx: _Ctx) -> Iterator[_Cand]:
    """Vitals and lab values after their name: "blood pressure of 120 over 80", "pulse 72 bpm"."""
    for m in _CLINICAL_CUE_RE.finditer(ctx.lower):
        i = ctx.index_at(m.end())
        while ctx.word(i) in ("is", "was", "of", "at", "reading", "level", "reads", "around", "about"):
            i += 1
        card = _cardinal(ctx, i)
        if not card or i >= len(ctx) or ctx.toks[i].start - m.end() > 30:
            continue
        j = card[0]
        if ctx.word(j) == "over" or ctx.gap(j) == "/":
            second = _cardinal(ctx, j + (ctx.word(j) == "over"))
            if second:
                j = second[0]
        for unit in (("beats", "per", "minute"), ("bpm",), ("percent",), ("degrees",), ("mg",), ("mmol",)):
            if tuple(ctx.norms[j : j + len(unit)]) == unit:
                j += len(unit)
                break
        yield _Cand(*ctx.span(i, j), ("clinical_measurement", "measurement"), 3)


# Identifiers announced by a cue: (cue pattern, labels, letters allowed, min length, max length).
_ID_CUE_TABLE: tuple[tuple[str, tuple[str, ...], bool, int, int], ...] = (
    (r"social security|social insurance|\bssn\b|\bs s n\b", ("ssn",), False, 9, 9),
    (r"\brouting\b|\baba\b|transit number", ("routing_number",), False, 9, 9),
    (r"sort code", ("routing_number",), False, 6, 6),
    (r"bank account|checking account|savings account|\biban\b", ("bank_account",), True, 6, 34),
    (
        r"account (?:number|no|num)|\bacct\b|account (?:id|is)|account ending",
        ("account_number",), True, 4, 20,
    ),
    (r"\bcard (?:ending|ends)|\bending in\b", ("credit_card",), False, 4, 4),
    (r"\bcvv2?\b|\bcvc\b|\bc v [vc]\b|security code|verification (?:code|value)", ("cvv",), False, 3, 4),
    (r"passport", ("passport_number",), True, 6, 12),
    (
        r"driver'?s? licen[cs]e|driving licen[cs]e|licen[cs]e number|\bdl number\b",
        ("driver_license",), True, 5, 16,
    ),
    (
        r"\bvin\b|\bv i n\b|vehicle identification|licen[cs]e plate|plate number|number plate"
        r"|registration number",
        ("vehicle_id",), True, 2, 17,
    ),
    (
        r"medicare|medicaid|health (?:insurance|plan|card)|insurance (?:number|id)|member (?:id|number)"
        r"|policy number|nhs number|medical record|\bmrn\b|patient (?:id|number)",
        ("healthcare_number",), True, 4, 20,
    ),
    (
        r"case number|ticket number|reference number|\bref(?:erence)? (?:no|number)|invoice number"
        r"|order number|confirmation (?:number|code)|claim number|file number|tracking number|docket",
        ("document_reference",), True, 3, 24,
    ),
    (
        r"\bid number\b|\bi d number\b|identification number|employee (?:id|number)|student (?:id|number)"
        r"|customer (?:id|number)|membership number|\bmy id\b",
        ("generic_id",), True, 3, 20,
    ),
    (r"\bzip\b|zip code|postal code|post code|postcode", ("location_zip", "location"), False, 5, 9),
    (
        r"\bphone\b|\bcall\b|\bcell\b|\bmobile\b|reach me|\bfax\b|text me|telephone|\btel\b"
        r"|phone number|number is",
        ("phone_number",), False, 7, 15,
    ),
    (r"\bpin\b(?: number| code)?|passcode|pass code", ("password",), True, 3, 12),
    (
        r"\bexp(?:iry|iration)?(?: date)?\b|\bexpires\b|valid (?:thru|through|until)",
        ("credit_card_expiration",), False, 4, 4,
    ),
)  # fmt: skip
_ID_CUES = tuple((re.compile(pattern), *rest) for pattern, *rest in _ID_CUE_TABLE)
_CONNECTORS = frozenset(
    _split(
        "is was are number numbers no num of my the it's its it would be will code id please that's "
        "that reads ending in ends with on a"
    )
)


def _cued_ids(ctx: _Ctx) -> Iterator[_Cand]:
    """Identifiers right after what announces them: "account number is four four one two", "zip code
    90210", "passport X1234567"."""
    for pattern, labels, letters, lo, hi in _ID_CUES:
        for m in pattern.finditer(ctx.lower):
            i = ctx.index_at(m.end())
            hops = 0
            while ctx.word(i) in _CONNECTORS and hops < 4:
                i, hops = i + 1, hops + 1
            if i >= len(ctx) or ctx.toks[i].start - m.end() > 40:
                continue
            run = _code_run(ctx, i, letters=letters)
            if run is None:
                continue
            # Take the longest prefix (at a token boundary) with an acceptable length.
            for end, length in reversed(run.ends):
                code = run.code[:length]
                if lo <= len(code) <= hi and (not letters or any(c.isdigit() for c in code)):
                    if labels[0] == "credit_card_expiration" and not 1 <= int(code[:2]) <= 12:
                        break
                    yield _Cand(*ctx.span(i, end), labels, 3)
                    break
    # Expiry dates written "04/27" after their cue.
    for m in re.finditer(r"(?<![\d/])(0?[1-9]|1[0-2])\s?/\s?(\d{2}|\d{4})(?![\d/])", ctx.text):
        if _EXPIRY_CUE.search(ctx.before(m.start(), 30)):
            yield _Cand(*m.span(), ("credit_card_expiration", "date"), 3)


def _secret_after_cue(ctx: _Ctx) -> Iterator[_Cand]:
    """ "my password is hunter two" → the word(s) after the cue; usernames likewise."""
    for pattern, label in (
        (r"\bpassword\b|\bpass word\b|security answer|secret word", "password"),
        (r"\buser ?name\b|\bhandle\b|\blogin\b|screen name|gamertag", "username"),
    ):
        for m in re.finditer(pattern, ctx.lower):
            i = ctx.index_at(m.end())
            hops = 0
            while (
                ctx.word(i) in ("is", "was", "it's", "its", "my", "the", "would", "be", "will", "of")
                and hops < 3
            ):
                i, hops = i + 1, hops + 1
            if i >= len(ctx) or ctx.toks[i].start - m.end() > 20:
                continue
            run = _code_run(ctx, i, letters=True)
            j = run.end if run else i + 1
            if run is None and (tail := _code_run(ctx, j)) is not None:
                j = tail.end  # "hunter two"
            # Spoken separators inside a handle: "john underscore smith", "j dot doe".
            while ctx.word(j) in ("underscore", "dot", "dash", "hyphen") and j + 1 < len(ctx):
                j += 2
            if j == i + 1 and ctx.word(i) in STOPWORDS:
                continue
            yield _Cand(*ctx.span(i, j), (label,), 3)


_TLDS = _words(lex.TOP_LEVEL_DOMAINS)
_EXTENSIONS = _words(lex.FILE_EXTENSIONS)
_SEPARATORS = frozenset({"dot", "period", "underscore", "dash", "hyphen"})
_NOT_LOCAL = STOPWORDS - _NUMBER_WORDS  # "john two at ..." is a fine mailbox; "look at ..." is not


def _chain_forward(ctx: _Ctx, i: int) -> list[int]:
    """Token indices of ``part (sep part)*`` starting at ``i``, with spoken or written separators."""
    out = [i]
    j = i + 1
    while j < len(ctx):
        if ctx.word(j) in _SEPARATORS and j + 1 < len(ctx) and ctx.word(j + 1) not in _SEPARATORS:
            out.append(j + 1)
            j += 2
        elif ctx.gap(j) in (".", "_", "-"):
            out.append(j)
            j += 1
        else:
            break
    return out


def _spoken_addresses(ctx: _Ctx) -> Iterator[_Cand]:
    """Emails, web addresses, file names and IP addresses read out: "john dot smith at example dot com",
    "w w w dot example dot org", "report dot pdf", "one nine two dot one six eight dot one dot one"."""
    n = len(ctx)
    norms = ctx.norms
    for k in range(1, n - 2):
        if norms[k] != "at":
            continue
        domain = _chain_forward(ctx, k + 1)
        if len(domain) < 2 or norms[domain[-1]] not in _TLDS or norms[k + 1] in STOPWORDS:
            continue
        # The local part: a chain ending just before "at", or spelled letters.
        j = k - 1
        if j < 0 or norms[j] in _NOT_LOCAL and len(norms[j]) > 1:
            continue
        start = j
        while start - 2 >= 0 and norms[start - 1] in _SEPARATORS and norms[start - 2] not in _NOT_LOCAL:
            start -= 2
        while start - 1 >= 0 and ctx.gap(start) in (".", "_", "-"):
            start -= 1
        while (
            start - 1 >= 0
            and len(norms[start]) == 1
            and len(norms[start - 1]) == 1
            and norms[start - 1].isalpha()
        ):
            start -= 1
        yield _Cand(ctx.toks[start].start, ctx.toks[domain[-1]].end, ("email_address",), 3)
    for i in range(n):
        if i > 0 and norms[i - 1] == "at":
            continue
        if norms[i] == "www" or (norms[i] == "w" and norms[i + 1 : i + 3] == ["w", "w"]):
            first = i + (1 if norms[i] == "www" else 3)
            if ctx.word(first) in _SEPARATORS:  # "www dot example dot com"
                first += 1
            chain = _chain_forward(ctx, first) if first < n else []
            if len(chain) >= 2:
                yield _Cand(ctx.toks[i].start, ctx.toks[chain[-1]].end, ("url",), 3)
            continue
        if norms[i] in STOPWORDS or _is_number(norms[i]) or norms[i] in _SEPARATORS:
            continue
        if i > 0 and (norms[i - 1] in _SEPARATORS or ctx.gap(i) in (".", "_", "-")):
            continue  # not the start of a chain
        chain = _chain_forward(ctx, i)
        if len(chain) >= 2 and ctx.word(chain[-1] + 1) != "at":
            last = norms[chain[-1]]
            spoken_sep = any(norms[c - 1] in _SEPARATORS for c in chain[1:])
            if not spoken_sep:
                continue  # written forms are the regular expressions' job
            if last in _TLDS:
                yield _Cand(ctx.toks[i].start, ctx.toks[chain[-1]].end, ("url",), 3)
            elif last in _EXTENSIONS:
                yield _Cand(ctx.toks[i].start, ctx.toks[chain[-1]].end, ("filename",), 2)
    # IP addresses: four octets joined by "dot"/"point".
    for i in range(n):
        octets, j = 0, i
        while True:
            run = _code_run(ctx, j)
            if run is None:
                break
            # One octet: take the longest prefix that is 1-3 digits and at most 255.
            ok = [e for e, length in run.ends if 1 <= length <= 3 and int(run.code[:length]) <= 255]
            if not ok:
                break
            octets += 1
            j = ok[-1]
            if octets == 4 or ctx.word(j) not in ("dot", "point"):
                break
            j += 1
        if octets == 4 and ctx.word(i - 1) not in ("dot", "point"):
            yield _Cand(*ctx.span(i, j), ("ip_address",), 3)


def _numbers(ctx: _Ctx) -> Iterator[_Cand]:
    """Digit strings: card numbers (Luhn), phone numbers, SSNs, and other long numbers (``numerical_pii``)."""
    n = len(ctx)
    i = 0
    while i < n:
        run = _code_run(ctx, i)
        if run is None:
            i += 1
            continue
        start, end = ctx.span(run.start, run.end)
        # Include "+" / "(" written right before the digits.
        while start > 0 and ctx.text[start - 1] in "+(":
            start -= 1
        code = run.code
        labels: tuple[str, ...] | None = None
        cut = run.end
        # Card numbers may be followed by more digits (the expiry): try token-boundary prefixes too.
        for tok_end, length in reversed(run.ends):
            if 13 <= length <= 19 and _luhn(code[:length]):
                labels, cut = ("credit_card",), tok_end
                break
        if labels is None:
            raw = ctx.text[start:end]
            digits = len(code)
            if _SSN_RE.fullmatch(raw):
                labels = ("ssn",)
            elif (
                digits == 10
                or (digits == 11 and code[0] == "1")
                or (raw.startswith("+") and 8 <= digits <= 15)
                or re.fullmatch(r"\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}", raw)
            ):
                labels = ("phone_number",)
            elif (run.spoken and digits >= 5 and run.end - run.start >= 4) or (
                not run.spoken
                and digits >= 6
                and not re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+", raw)
            ):
                labels = ("numerical_pii",)
        if labels is not None:
            priority = 1 if labels == ("numerical_pii",) else 3
            yield _Cand(start, ctx.toks[cut - 1].end, labels, priority)
        i = max(cut, i + 1)


_STREET_SUFFIXES = _words(
    "street,st,avenue,ave,road,rd,boulevard,blvd,lane,ln,drive,dr,court,ct,way,place,pl,terrace,circle,"
    "parkway,pkwy,highway,hwy,square,sq,crescent,close,row,trail,alley,plaza,broadway"
)
_UNIT_WORDS = _words("apartment,apt,suite,ste,unit,flat,room,floor,building")
_STATE_CODES = frozenset(
    _split(
        "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
        "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
    )
)
_DIRECTIONS = _words("north,south,east,west,n,s,e,w,northeast,northwest,southeast,southwest")


def _addresses(ctx: _Ctx) -> Iterator[_Cand]:
    """Street addresses: a house number, a street name and a street type, then an optional apartment, city,
    state and ZIP code ("221b baker street", "twelve oak avenue apartment four", "1600 Pennsylvania Ave")."""
    n = len(ctx)
    places = _phrase_table("CITIES", "STATES")
    for i in range(n):
        w = ctx.norms[i]
        if re.fullmatch(r"\d{1,6}[a-z]?", w):
            j = i + 1
        else:
            # "twenty one" (a cardinal) or "one two three" (digits read out), whichever reads further.
            card = _cardinal(ctx, i) if w not in ("a", "zero") else None
            run = _code_run(ctx, i)
            ends = [card[0]] if card and card[1] < 100000 and card[1] == int(card[1]) else []
            if run and run.spoken and len(run.code) <= 6:
                ends.append(run.end)
            if not ends:
                continue
            j = max(ends)
        # Street name: 1-4 words (ordinals allowed: "fifth avenue"), then the street type.
        k, words = j, 0
        found = None
        while k < n and words <= 4:
            word = ctx.norms[k]
            if word in _STREET_SUFFIXES and words >= 1:
                found = k + 1
                break
            if word in STOPWORDS and word not in _DIRECTIONS:
                break
            if not (word.isalpha() or _WRITTEN_ORDINAL.fullmatch(word) or word in _ORD_UNITS):
                break
            k += 1
            words += 1
        if found is None:
            continue
        end = found
        if ctx.word(end) in _UNIT_WORDS or ctx.word(end) in ("number", "#"):
            unit = _code_run(ctx, end + 1 + (ctx.word(end + 1) == "number"), letters=True)
            if unit:
                end = unit.end
                if len(ctx.word(end)) == 1 and ctx.word(end).isalpha() and ctx.gap(end).isspace():
                    end += 1  # "apartment four b"
        # ", Springfield, Illinois 62704"
        for _ in range(3):
            phrases = places.get(ctx.word(end), ())
            matched = next((p for p in phrases if tuple(ctx.norms[end : end + len(p)]) == p), None)
            if matched:
                end += len(matched)
                continue
            if ctx.cased and ctx.toks[end : end + 1] and ctx.toks[end].text in _STATE_CODES:
                end += 1
                continue
            zip_run = _code_run(ctx, end)
            if zip_run and len(zip_run.code) in (5, 9):
                end = zip_run.end
            break
        yield _Cand(*ctx.span(i, end), ("location_address", "location"), 3)
    for m in re.finditer(r"\bp\.?\s?o\.?\s?box\b", ctx.lower):
        i = ctx.index_at(m.end())
        run = _code_run(ctx, i)
        if run:
            yield _Cand(m.start(), ctx.toks[run.end - 1].end, ("location_address", "location"), 3)


def _places(ctx: _Ctx) -> Iterator[_Cand]:
    yield from _gazetteer(ctx, "CITIES", ("location_city", "location"), ambiguous="AMBIGUOUS_PLACES")
    yield from _gazetteer(ctx, "STATES", ("location_state", "location"), ambiguous="AMBIGUOUS_PLACES")
    yield from _gazetteer(ctx, "COUNTRIES", ("location_country", "location"), ambiguous="AMBIGUOUS_PLACES")


_NAME_CUE_STRONG = re.compile(
    r"\b(?:my name is|my name's|name is|names are|named|call me|i am called|i'm called|this is|"
    r"speaking with|speak to|ask for|talk to|spoke (?:with|to))\s+"
)
_NAME_CUE_WEAK = re.compile(r"\b(?:i'm|i am|it's|hi|hello|hey|thanks|thank you|dear|and|with)\s+")
_NOT_NAMES = STOPWORDS | _NUMBER_WORDS | frozenset(_MONTHS) | _WEEKDAYS


def _names(ctx: _Ctx) -> Iterator[_Cand]:
    """People's names: after cues ("my name is X", "mister X"), from the bundled first-name and surname
    lists, and capitalised first-name + surname pairs in cased text. ``name`` spans exclude titles;
    ``name_medical_professional`` spans include them ("Doctor Patel")."""
    given, surnames, unsure = _lexicon("GIVEN_NAMES"), _lexicon("SURNAMES"), _lexicon("AMBIGUOUS_NAMES")
    titles, medical = _lexicon("NAME_TITLES"), _lexicon("MEDICAL_TITLES")
    n = len(ctx)
    norms = ctx.norms

    def known(i: int) -> bool:
        return norms[i] in given or norms[i] in surnames

    def extend(i: int) -> int:
        """End of a name starting at token ``i``: up to two more given names or surnames."""
        j = i + 1
        while j < n and j - i < 3 and ctx.gap(j).isspace() and norms[j] not in _NOT_NAMES:
            if norms[j] in surnames or norms[j] in given or (_caps_ok(ctx, j) and norms[j].isalpha()):
                j += 1
            else:
                break
        return j

    def emit(i: int, j: int, priority: int) -> Iterator[_Cand]:
        yield _Cand(*ctx.span(i, j), ("name",), priority)
        yield _Cand(
            *ctx.span(i, i + 1),
            ("name_given",) if norms[i] in given or j > i + 1 else ("name_family",),
            priority,
        )
        if j > i + 1:
            yield _Cand(*ctx.span(j - 1, j), ("name_family",), priority)

    for rx, strong in ((_NAME_CUE_STRONG, True), (_NAME_CUE_WEAK, False)):
        for m in rx.finditer(ctx.lower):
            i = ctx.index_at(m.end())
            if i >= n or ctx.toks[i].start != m.end() or not ctx.toks[i].text.isalpha():
                continue
            if norms[i] in _NOT_NAMES or norms[i] in titles or norms[i] in medical:
                continue
            if strong:
                # After "my name is" any word is taken in lower-case text (nothing else can tell).
                said_name = not ctx.cased and m.group().startswith(("my name", "name", "call me", "names"))
                accepted = known(i) or ctx.capitalized(i) or said_name
            else:
                accepted = norms[i] in given and (norms[i] not in unsure or ctx.capitalized(i))
            if accepted:
                yield from emit(i, extend(i), 3)
    for i in range(n - 1):
        word = norms[i].rstrip(".")
        if word not in titles and word not in medical:
            continue
        j = i + 1
        if ctx.gap(j).strip() not in ("", ".") or not ctx.toks[j].text.isalpha() or norms[j] in _NOT_NAMES:
            continue
        if not (known(j) or ctx.capitalized(j)):
            continue
        end = extend(j)
        yield from emit(j, end, 3)
        if word in medical:
            yield _Cand(ctx.toks[i].start, ctx.toks[end - 1].end, ("name_medical_professional", "name"), 3)
    for i in range(n):
        w = norms[i]
        if w in given and (w not in unsure or _caps_ok(ctx, i)):
            if ctx.cased and not ctx.capitalized(i) and w in unsure:
                continue
            yield from emit(i, extend(i), 2)
        elif (
            w in given
            and i + 1 < n
            and ctx.capitalized(i)
            and norms[i + 1] in surnames
            and ctx.capitalized(i + 1)
        ):
            yield from emit(i, extend(i), 2)  # "Will Smith", even at the start of a sentence
        elif w in surnames and w not in unsure and _caps_ok(ctx, i):
            yield from emit(i, extend(i), 2)


_ORG_STRONG = _words("inc,incorporated,corp,corporation,llc,ltd,plc,gmbh,limited")


def _organizations(ctx: _Ctx) -> Iterator[_Cand]:
    yield from _gazetteer(ctx, "ORGANIZATIONS", ("organization",), ambiguous="AMBIGUOUS_ORGS")
    suffixes = _lexicon("ORG_SUFFIXES")
    n = len(ctx)
    for j in range(1, n):
        w = ctx.norms[j]
        if w not in suffixes:
            continue
        strong = w in _ORG_STRONG
        i = j
        while (
            i - 1 >= 0 and j - i < 4 and ctx.norms[i - 1] not in STOPWORDS and ctx.toks[i - 1].text.isalpha()
        ):
            if (ctx.cased and not ctx.capitalized(i - 1)) or (not ctx.cased and not strong):
                break  # lower-case text: only "inc", "llc", ... are clear enough
            i -= 1
        if ctx.cased and not ctx.toks[j].text[:1].isupper() and not strong:
            continue
        end = j + 1
        # "University of Toronto", "Bank of Nova Scotia"
        if ctx.word(end) == "of" and end + 1 < n and (ctx.capitalized(end + 1) or not ctx.cased and i < j):
            end += 2
            while end < n and ctx.capitalized(end) and end - j < 5:
                end += 1
        if i < j or (end > j + 1):
            yield _Cand(ctx.toks[i].start, ctx.toks[end - 1].end, ("organization",), 2)


def _languages(ctx: _Ctx) -> Iterator[_Cand]:
    before = _words(lex.LANGUAGE_CUES_BEFORE)
    after = _words(lex.LANGUAGE_CUES_AFTER)
    yield from _gazetteer(ctx, "LANGUAGE_ONLY", ("language",))
    yield from _gazetteer(ctx, "ORIGIN_ONLY", ("origin",), ambiguous=None)
    for i, j, _ in _phrase_matches(ctx, "LANGUAGE_OR_ORIGIN"):
        if ctx.word(i - 1) in before or ctx.word(j) in after:
            yield _Cand(*ctx.span(i, j), ("language",), 2)
        else:
            yield _Cand(*ctx.span(i, j), ("origin",), 2)


def _zodiac(ctx: _Ctx) -> Iterator[_Cand]:
    unsure = _lexicon("AMBIGUOUS_ZODIAC")
    for i, j, phrase in _phrase_matches(ctx, "ZODIAC"):
        if phrase in unsure:
            window = set(ctx.norms[max(0, i - 3) : i]) | {ctx.word(j)}
            if not window & {"sign", "zodiac", "horoscope", "star"}:
                continue
        yield _Cand(*ctx.span(i, j), ("zodiac_sign",), 2)


# (lexicon, label, priority, ambiguous entries, cue words that confirm them; None: capitals confirm them)
_SIMPLE_LEXICONS: tuple[tuple[str, str, int, str | None, frozenset[str] | None], ...] = (
    ("EVENTS", "event", 2, None, None),
    ("RELIGIONS", "religion", 2, None, None),
    ("POLITICAL", "political_affiliation", 2, "AMBIGUOUS_POLITICAL", _POLITICAL_CUES),
    ("MARITAL", "marital_status", 2, "AMBIGUOUS_GENDER_ORIENTATION", _IDENTITY_CUES),
    ("GENDER", "gender", 2, "AMBIGUOUS_GENDER_ORIENTATION", _IDENTITY_CUES),
    ("SEXUAL_ORIENTATION", "sexual_orientation", 2, "AMBIGUOUS_GENDER_ORIENTATION", _IDENTITY_CUES),
    ("OCCUPATIONS", "occupation", 1, "AMBIGUOUS_OCCUPATIONS", _ARTICLE_CUES),
    ("CONDITIONS", "condition", 2, "AMBIGUOUS_CONDITIONS", _MEDICAL_CUES),
    ("DRUGS", "drug", 2, None, None),
    ("INJURIES", "injury", 2, "AMBIGUOUS_INJURIES", _MEDICAL_CUES),
    ("MEDICAL_PROCESSES", "medical_process", 2, "AMBIGUOUS_PROCESSES", _MEDICAL_CUES),
    ("FOOD", "food_or_beverage", 1, "AMBIGUOUS_FOOD", _FOOD_CUES),
    ("PRODUCTS", "product_or_service", 2, "AMBIGUOUS_PRODUCTS", None),
    ("PHYSICAL_ATTRIBUTES", "physical_attribute", 2, "AMBIGUOUS_ATTRIBUTES", _ATTRIBUTE_CUES),
    ("VERY_OFFENSIVE", "very_offensive_language", 2, None, None),
    ("LESS_OFFENSIVE", "less_offensive_language", 2, None, None),
)


def _lexicon_types(ctx: _Ctx) -> Iterator[_Cand]:
    for lexicon, label, priority, ambiguous, cues in _SIMPLE_LEXICONS:
        yield from _gazetteer(ctx, lexicon, (label,), priority, ambiguous=ambiguous, cues=cues)
    for m in _BLOOD_TYPE_WORDS.finditer(ctx.lower):
        yield _Cand(m.start(1), m.end(1), ("blood_type",), 3)


_BLOOD_TYPE_WORDS = re.compile(
    r"\bblood (?:type|group)(?: is)? ((?:a b|ab|a|b|o)(?: (?:positive|negative|pos|neg))?)\b"
)

# Each recogniser with the labels it can produce, so requests for a few types skip the rest.
_RECOGNISERS: tuple[tuple[frozenset[str], Callable[[_Ctx], Iterable[_Cand]]], ...] = (
    (frozenset({"email_address", "url", "ip_address", "ssn", "filename", "location_coordinate", "location",
                "bank_account", "location_zip", "time", "money", "percent", "username", "blood_type", "date",
                "dob", "credit_card_expiration", "date_interval"}), _written),
    (frozenset({"credit_card", "phone_number", "ssn", "numerical_pii"}), _numbers),
    (frozenset({"ssn", "routing_number", "bank_account", "account_number", "credit_card", "cvv",
                "passport_number", "driver_license", "vehicle_id", "healthcare_number", "document_reference",
                "generic_id", "location_zip", "location", "phone_number", "password",
                "credit_card_expiration", "date"}), _cued_ids),
    (frozenset({"password", "username"}), _secret_after_cue),
    (frozenset({"email_address", "url", "filename", "ip_address"}), _spoken_addresses),
    (frozenset({"date", "dob", "date_interval", "credit_card_expiration"}), _dates),
    (frozenset({"time"}), _times),
    (frozenset({"location_address", "location"}), _addresses),
    (frozenset({"clinical_measurement", "measurement"}), _clinical),
    (frozenset({"money", "percent", "age", "time_duration", "measurement", "clinical_measurement",
                "cardinal", "ordinal"}), _quantities),
    (frozenset({"location_city", "location_state", "location_country", "location"}), _places),
    (frozenset({"organization"}), _organizations),
    (frozenset({"name", "name_given", "name_family", "name_medical_professional"}), _names),
    (frozenset({"language", "origin"}), _languages),
    (frozenset({"zodiac_sign"}), _zodiac),
    (frozenset({"event", "religion", "political_affiliation", "marital_status", "gender",
                "sexual_orientation", "occupation", "condition", "drug", "injury", "medical_process",
                "food_or_beverage", "product_or_service", "physical_attribute", "very_offensive_language",
                "less_offensive_language", "blood_type"}), _lexicon_types),
)  # fmt: skip

_TRIM = " \t\n,;:!?\"'“”‘’()[]"


def detect_entities(text: str, types: frozenset[str] | set[str]) -> list[dict[str, Any]]:
    """Entities of the requested ``types`` in ``text``: ``{text, entity_type, start_char, end_char}`` in
    order, non-overlapping, with ``text[start_char:end_char] == entity["text"]`` (end exclusive)."""
    wanted = frozenset(types)
    if not text or not wanted:
        return []
    ctx = _Ctx(text)
    chosen: list[tuple[int, int, int, int, int, str]] = []  # (priority, length, order, start, end, label)
    order = 0
    for labels, recogniser in _RECOGNISERS:
        if not labels & wanted:
            continue
        for cand in recogniser(ctx):
            label = next((lab for lab in cand.labels if lab in wanted), None)
            if label is None:
                continue
            start, end = cand.start, cand.end
            while start < end and text[start] in _TRIM:
                if text[start] == "(" and ")" in text[start:end]:
                    break  # "(555) 123-4567" keeps its parenthesis
                start += 1
            while end > start and text[end - 1] in _TRIM + ".":
                end -= 1
            if end > start:
                chosen.append((cand.priority, end - start, order, start, end, label))
                order += 1
    # The most specific rule wins, then the longest match, then the first found.
    chosen.sort(key=lambda c: (-c[0], -c[1], c[2]))
    taken: list[tuple[int, int, str]] = []
    starts: list[int] = []
    for _, _, _, start, end, label in chosen:
        k = bisect.bisect_left(starts, start)
        if k > 0 and taken[k - 1][1] > start:
            continue
        if k < len(taken) and taken[k][0] < end:
            continue
        taken.insert(k, (start, end, label))
        starts.insert(k, start)
    return [{"text": text[s:e], "entity_type": lab, "start_char": s, "end_char": e} for s, e, lab in taken]


# ---------------------------------------------------------------------------------------------- redaction


def _marker(entity_type: str, mode: str, number: int) -> str:
    if mode == "redacted":
        return "{REDACTED}"
    if mode == "entity_type":
        return "{" + entity_type.upper() + "}"
    return "{" + f"{entity_type.upper()}_{number}" + "}"


def redact(
    body: dict[str, Any],
    entities: Sequence[dict[str, Any]],
    redact_types: frozenset[str] | set[str],
    mode: str = DEFAULT_REDACTION_MODE,
    *,
    detect_types: frozenset[str] | None = None,
) -> dict[str, Any]:
    """A copy of a ``SpeechToTextChunkResponseModel`` body with the entities of ``redact_types`` replaced by
    markers in ``text`` and in ``words``, and ``entities`` set to None (the docs: a redacted response does
    not return entities).

    A redacted stretch that covers several word items (with the spacing between them) becomes one ``word``
    item from the first item's start to the last item's end, keeping the speaker and the lowest logprob;
    text of a partly covered word outside the entity stays (``"Jill."`` → ``"{NAME_0}."``). Items with
    ``characters`` get characters for the marker spread evenly over its time. ``detect_types``, when given,
    is checked to include ``redact_types`` (see :func:`check_redaction`).
    """
    mode = parse_redaction_mode(mode)
    if detect_types is not None:
        check_redaction(detect_types, frozenset(redact_types))
    text: str = body.get("text") or ""
    spans: list[tuple[int, int, str]] = []
    for e in sorted(entities, key=lambda e: (e["start_char"], -e["end_char"])):
        s, t = int(e["start_char"]), int(e["end_char"])
        if e["entity_type"] not in redact_types or not 0 <= s < t <= len(text):
            continue
        if spans and s < spans[-1][1]:
            continue  # overlapping entities: the first one found covers the stretch
        spans.append((s, t, e["entity_type"]))
    out = dict(body)
    out["entities"] = None
    if not spans:
        return out
    numbers: dict[str, dict[str, int]] = {}
    pieces: list[str] = []
    shifts: list[tuple[int, int]] = []  # (old end, cumulative shift after it)
    pos, shift = 0, 0
    for s, t, kind in spans:
        key = re.sub(r"[\W_]+", "", text[s:t].casefold())
        seen = numbers.setdefault(kind, {})
        number = seen.setdefault(key, len(seen))
        marker = _marker(kind, mode, number)
        pieces.append(text[pos:s])
        pieces.append(marker)
        pos = t
        shift += len(marker) - (t - s)
        shifts.append((t, shift))
    pieces.append(text[pos:])
    new_text = "".join(pieces)
    out["text"] = new_text
    ends = [end for end, _ in shifts]

    def new_offset(old: int) -> int:
        k = bisect.bisect_right(ends, old)
        return old + (shifts[k - 1][1] if k else 0)

    words = body.get("words") or []
    out["words"] = _redact_words(words, text, spans, new_text, new_offset)
    return out


def _align(words: Sequence[dict[str, Any]], text: str) -> list[tuple[int, int] | None]:
    """Each word item's (start, end) in ``text``: exact when the items concatenate to the text (as
    ``shape_response`` builds them), otherwise found in order."""
    if "".join(str(w.get("text") or "") for w in words) == text:
        out: list[tuple[int, int] | None] = []
        pos = 0
        for w in words:
            size = len(str(w.get("text") or ""))
            out.append((pos, pos + size))
            pos += size
        return out
    aligned: list[tuple[int, int] | None] = []
    pos = 0
    for w in words:
        piece = str(w.get("text") or "")
        at = text.find(piece, pos) if piece.strip() else -1
        if at < 0 or text[pos:at].strip():
            aligned.append(None if piece.strip() else (pos, pos))
            continue
        aligned.append((at, at + len(piece)))
        pos = at + len(piece)
    return aligned


def _redact_words(
    words: Sequence[dict[str, Any]],
    text: str,
    spans: list[tuple[int, int, str]],
    new_text: str,
    new_offset: Callable[[int], int],
) -> list[dict[str, Any]]:
    aligned = _align(words, text)
    starts = [s for s, _, _ in spans]

    def hits(a: int, b: int) -> bool:
        """Whether a redacted stretch overlaps [a, b)."""
        k = bisect.bisect_left(starts, b) - 1
        return b > a and k >= 0 and spans[k][1] > a

    def crosses(a: int, b: int) -> bool:
        """Whether one redacted stretch runs from before ``a`` to after ``b`` (a <= b)."""
        k = bisect.bisect_left(starts, a) - 1
        return k >= 0 and spans[k][1] > b

    out: list[dict[str, Any]] = []
    k = 0
    while k < len(words):
        span = aligned[k]
        if span is None or not hits(*span):
            out.append(dict(words[k]))
            k += 1
            continue
        first_start, last_end = span
        m = k + 1
        while m < len(words) and (nxt := aligned[m]) is not None and crosses(last_end, nxt[0]):
            last_end = max(last_end, nxt[1])
            m += 1
        merged_text = new_text[new_offset(first_start) : new_offset(last_end)]
        out.append(_merged_item(list(words[k:m]), merged_text))
        k = m
    return out


def _merged_item(items: list[dict[str, Any]], new_text: str) -> dict[str, Any]:
    first, last = items[0], items[-1]
    probs = [float(w.get("logprob") or 0.0) for w in items if w.get("type") != "spacing"]
    item: dict[str, Any] = {
        "text": new_text,
        "start": first.get("start"),
        "end": last.get("end"),
        "type": "word",
        "speaker_id": first.get("speaker_id"),
        "logprob": min(probs) if probs else 0.0,
    }
    if "channel_index" in first:
        item["channel_index"] = first["channel_index"]
    if any("characters" in w for w in items):
        start, end = item["start"], item["end"]
        if start is not None and end is not None and new_text:
            step = (end - start) / len(new_text)
            item["characters"] = [
                {"text": ch, "start": round(start + i * step, 3), "end": round(start + (i + 1) * step, 3)}
                for i, ch in enumerate(new_text)
            ]
        else:
            item["characters"] = [{"text": ch, "start": None, "end": None} for ch in new_text]
    return item
