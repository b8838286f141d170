"""The rewrite rules behind :func:`chorus.text.normalize.normalize`.

Each :class:`Rule` is a regular expression and a handler. All rules scan the original text; a match
becomes an edit when no rule earlier in the list already claimed any of its characters, and its handler
agrees (returns words rather than None). Handlers see the whole original text, so context checks
("is this 4-digit number a year?", "is this 'Dr.' a doctor or a drive?") look at the neighbouring words.
The rules are ordered from the most specific (URLs, dates, money) to the most general (any digit run).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from chorus.text import numbers as num
from chorus.text.lexicon import ENGLISH, Currency, Lexicon, language_key, lexicon_for

Edit = tuple[int, int, str]  # (orig_start, orig_end, replacement)
Replacement = str | list[Edit] | None


@dataclass(frozen=True)
class Rule:
    """A pattern and what to say for a match (None: leave the match to later rules)."""

    name: str
    pattern: re.Pattern[str]
    handler: Callable[[re.Match[str], Lexicon | None], Replacement]
    trigger: str = ""  # the rule only runs when the text holds one of these characters ("" = always)
    gate: re.Pattern[str] | None = None  # ... and only when this pattern occurs somewhere in the text


def find_edits(text: str, language: str | None) -> list[Edit]:
    """The sorted, non-overlapping edits every applicable rule makes to ``text``."""
    lexicon = lexicon_for(language)
    rules = _rules_for(lexicon.code if lexicon else None)
    claimed_starts: list[int] = []
    claimed_ends: list[int] = []
    edits: list[Edit] = []
    present = set(text)
    for rule in rules:
        if rule.trigger and present.isdisjoint(rule.trigger):
            continue
        if rule.gate is not None and rule.gate.search(text) is None:
            continue
        for match in rule.pattern.finditer(text):
            start, end = match.span()
            if start == end:
                continue
            i = bisect.bisect_right(claimed_starts, start)
            if (i and claimed_ends[i - 1] > start) or (i < len(claimed_starts) and claimed_starts[i] < end):
                continue
            try:
                result = rule.handler(match, lexicon)
            except Exception:  # never let one odd input break normalisation as a whole
                result = None
            if result is None:
                continue
            if isinstance(result, str):
                result = [(start, end, result)]
            elif result:  # the edits may reach past the match (a dash takes its spaces along): claim them all
                low, high = min(start, *(edit[0] for edit in result)), max(end, *(edit[1] for edit in result))
                if (low, high) != (start, end):
                    start, end = low, high
                    i = bisect.bisect_right(claimed_starts, start)
                    if (i and claimed_ends[i - 1] > start) or (
                        i < len(claimed_starts) and claimed_starts[i] < end
                    ):
                        continue
            claimed_starts.insert(i, start)
            claimed_ends.insert(i, end)
            edits.extend(edit for edit in result if edit[2] != text[edit[0] : edit[1]])
    edits.sort()
    return edits


# ============================================================================================ helpers

_DIGITS = "0123456789"
_NUM_EN = r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?)"
_NUM_END = r"(?![\w]|[.,][0-9])"  # a number ends here: no letter/digit, no decimal part following
_SP = r"[ \u00a0\u202f]?"  # an optional space within one expression ("5 km", "20 €")


def _num_re(lex: Lexicon | None) -> str:
    if lex is None or lex.decimal_sep == ".":
        return _NUM_EN
    groups = re.escape(lex.group_seps)
    return rf"(?:[0-9]{{1,3}}(?:[{groups}][0-9]{{3}})+(?:,[0-9]+)?|[0-9]+(?:[.,][0-9]+)?)"


_THOUSANDS_DOTTED = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")


def parse_number(raw: str, lex: Lexicon) -> tuple[str, str | None]:
    """Split a written number into (integer digits, fraction digits or None), dropping group separators."""
    if lex.decimal_sep == ".":
        whole, _, frac = raw.replace(",", "").partition(".")
        return whole, frac or None
    if "," in raw:
        whole, _, frac = raw.partition(",")
    elif "." in raw and not _THOUSANDS_DOTTED.fullmatch(raw):
        whole, _, frac = raw.partition(".")
    else:
        whole, frac = raw, ""
    whole = "".join(ch for ch in whole if ch in _DIGITS)
    return whole, frac or None


def speak_number(raw: str, lex: Lexicon, before_noun: bool = False) -> str:
    """Read a written number: "1,234.5" → "one thousand two hundred thirty-four point five"."""
    whole, frac = parse_number(raw, lex)
    if not whole:
        whole = "0"
    if len(whole) > 15 or (len(whole) > 1 and whole[0] == "0" and frac is None):
        spoken = lex.digits(whole)
    else:
        value = int(whole)
        spoken = lex.cardinal_before_noun(value) if before_noun and frac is None else lex.cardinal(value)
    if frac is not None:
        spoken += f" {lex.point} {lex.digits(frac)}"
    return spoken


def _is_one(raw: str, lex: Lexicon) -> bool:
    whole, frac = parse_number(raw, lex)
    return frac is None and whole.lstrip("0") == "1"


def word_before(text: str, pos: int) -> str:
    """The whitespace-delimited token ending just before ``pos`` (skipping spaces, not line breaks)."""
    i = pos
    while i > 0 and text[i - 1] in " \t\u00a0\u202f":
        i -= 1
    j = i
    while j > 0 and i - j < 40 and not text[j - 1].isspace():
        j -= 1
    return text[j:i]


def _word_start(text: str, pos: int) -> int:
    """Where the token :func:`word_before` returns for ``pos`` starts."""
    i = pos
    while i > 0 and text[i - 1] in " \t\u00a0\u202f":
        i -= 1
    return i - len(word_before(text, pos))


def word_after(text: str, pos: int) -> str:
    """The whitespace-delimited token starting after ``pos`` (skipping spaces, not line breaks)."""
    i = pos
    n = len(text)
    while i < n and text[i] in " \t\u00a0\u202f":
        i += 1
    j = i
    while j < n and j - i < 40 and not text[j].isspace():
        j += 1
    return text[i:j]


def _compile(first: str, pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile ``pattern`` behind a look-ahead for the characters a match can start with.

    ``first`` is the body of a character class. The look-ahead lets the regex engine skip quickly to
    candidate positions instead of trying the whole pattern (often a look-behind first) everywhere;
    it keeps a 5,000-character paragraph to a few milliseconds over all rules.
    """
    return re.compile(f"(?=[{first}])(?:{pattern})", flags)


def _firsts(alternation: str) -> str:
    """The character-class body of the first letters of a ``a|b|c`` alternation of words."""
    return "".join(sorted({re.escape(word[:1]) for word in alternation.split("|") if word}))


def _split(words: str) -> tuple[str, ...]:
    """A tuple of the whitespace-separated words in ``words`` (keeps long word lists readable)."""
    return tuple(words.split())


def _strip_punct(token: str) -> str:
    return token.strip(".,;:!?\"'()[]{}“”‘’«»")


def at_sentence_start(text: str, pos: int) -> bool:
    """True when only whitespace separates ``pos`` from the start of the text or a sentence end."""
    i = pos
    while i > 0 and text[i - 1].isspace():
        if text[i - 1] == "\n":
            return True
        i -= 1
    return i == 0 or text[i - 1] in ".!?:;\"“(['‘«"


_SENTENCE_STARTERS = frozenset(
    _split(
        "The It I We He She They This That These Those But And In On At A An There So If When What Why How "
        "Then Now Our My Your His Her Its Their You Today Yesterday Tomorrow"
    )
)


def sentence_period(text: str, end: int, strict: bool = False) -> str:
    """``"."`` when the period that ends ``text[:end]`` also ends a sentence, else ``""``.

    A period is kept at the end of the text or a line, and before a capitalised word (``strict``: only
    before a word that usually starts a sentence, for tokens like "U.S." that often precede names).
    """
    if end <= 0 or text[end - 1] != ".":
        return ""
    i = end
    n = len(text)
    if i >= n:
        return "."
    if not text[i].isspace():
        return ""
    while i < n and text[i].isspace():
        if text[i] == "\n":
            return "."
        i += 1
    if i >= n:
        return "."
    following = word_after(text, i)
    if not following[:1].isupper():
        return ""
    if strict and _strip_punct(following) not in _SENTENCE_STARTERS:
        return ""
    return "."


_ADDRESS_TOKEN = re.compile(r"[^\W_0-9]+|[0-9]+|.", re.S)
_ADDRESS_SYMBOLS = {
    ".": "dot",
    "/": "slash",
    "-": "dash",
    "_": "underscore",
    ":": "colon",
    "?": "question",
    "=": "equals",
    "&": "and",
    "#": "hash",
    "~": "tilde",
    "+": "plus",
    "@": "at",
}


def speak_address(address: str, lex: Lexicon) -> str:
    """Read a URL, e-mail address or domain: "example.com/docs" → "example dot com slash docs"."""
    words: list[str] = []
    for token in _ADDRESS_TOKEN.findall(address):
        if token[0] in _DIGITS:
            short = len(token) <= 4 and not (len(token) > 1 and token[0] == "0")
            words.append(lex.cardinal(int(token)) if short else lex.digits(token))
        elif token[0].isalpha():
            words.append(token)
        elif token == "%":
            words.append(lex.percent)
        elif token in _ADDRESS_SYMBOLS:
            words.append(lex.words.get(_ADDRESS_SYMBOLS[token], ""))
    return " ".join(word for word in words if word)


def _spell(letters: str) -> str:
    return " ".join(letters)


def _split_camel(word: str) -> str:
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])", " ", word)
    return spaced.replace("_", " ").strip()


# ============================================================================================ addresses

_URL_TAIL = r"[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]}]"
_URL_SCHEME = _compile("hHfFwW", r"(?<![\w@])(?:(?:https?|ftp)://(?:www\.)?|www\.)" + _URL_TAIL, re.I)
_EMAIL = _compile(
    "A-Za-z0-9",
    r"(?<![\w.+@-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w@])",
)
_TLDS = "com|org|net|edu|gov|io|co|uk|de|fr|es|it|nl|eu|ai|dev|app|info|biz|us|ca|au|me|tv|ly|gg|xyz|tech"
_BARE_DOMAIN = _compile(
    "A-Za-z0-9",
    r"(?<![\w@./\\-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:" + _TLDS + r")"
    r"(?:/" + _URL_TAIL + r")?(?![\w@-]|\.[A-Za-z0-9])",
    re.I,
)
_SCHEME_PREFIX = re.compile(r"^(?:(?:https?|ftp)://)?(?:www\.)?", re.I)


def _url(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    address = _SCHEME_PREFIX.sub("", match.group(0)).rstrip("/")
    if lex is None:
        return address or None
    return speak_address(address, lex) or None


def _email(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    return speak_address(match.group(0), lex) if lex else None


# ============================================================================================ dates & times

_MONTHS_EN_ALT = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
)
_MONTH_INDEX_EN = {name: i + 1 for i, name in enumerate(ENGLISH.months)}
_MONTH_INDEX_EN.update({name[:3]: i + 1 for i, name in enumerate(ENGLISH.months)} | {"Sept": 9})


def _valid_date(day: int, month: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)


def _full_year(raw: str) -> int:
    year = int(raw)
    if len(raw) == 2:
        year += 2000 if year < 50 else 1900
    return year


_DATE_ISO = _compile(
    "0-9",
    r"(?<![\w.\-/])(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:T(?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:\.[0-9]+)?)?(?P<tz>Z|[+-][0-9]{2}:?[0-9]{2})?)?"
    r"(?![\w]|[-/.:][0-9])",
)


_GERMAN_DATIVE = frozenset({"am", "vom", "zum", "beim", "dem", "den", "seit", "ab"})


def _inflect_date(spoken: str, match: re.Match[str], lex: Lexicon) -> str:
    """German: "am 5. März" is "am fünften März" (dative), not the nominative "fünfter"."""
    if lex.code != "de":
        return spoken
    previous = _strip_punct(word_before(match.string, match.start())).lower()
    first, sep, rest = spoken.partition(" ")
    if first.endswith("er") and previous in _GERMAN_DATIVE:
        return first[:-1] + "n" + sep + rest
    if first.endswith("er") and previous in ("der", "die", "das"):
        return first[:-1] + sep + rest
    return spoken


def _date_iso(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    if not _valid_date(day, month):
        return None
    spoken = _inflect_date(lex.date(day, month, year, False), match, lex)
    if match["H"] is not None:
        hour, minute = int(match["H"]), int(match["M"])
        if hour > 23 or minute > 59:
            return None
        second = int(match["S"]) if match["S"] is not None else None
        spoken += ", " + lex.time(hour, minute, second)
        if match["tz"] == "Z":
            spoken += " U T C" if lex.code == "en" else " UTC"
    return spoken


_DATE_NUMERIC = _compile(
    "0-9",
    r"(?<![\w.\-/])(?P<a>[0-9]{1,2})(?P<sep>[/.-])(?P<b>[0-9]{1,2})(?P=sep)(?P<y>[0-9]{4}|[0-9]{2})"
    r"(?![\w]|[-/.][0-9])",
)


def _date_numeric(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    a, b, sep, year_raw = int(match["a"]), int(match["b"]), match["sep"], match["y"]
    if sep == "." and len(year_raw) == 2 and (len(match["a"]) == 1 or len(match["b"]) == 1):
        return None  # "1.2.34" is more likely a version number than a date
    day_first = lex.code != "en" or sep == "."
    if day_first and b > 12 >= a:
        day_first = False
    elif not day_first and a > 12 >= b:
        day_first = True
    day, month = (a, b) if day_first else (b, a)
    if not _valid_date(day, month):
        return None
    return _inflect_date(lex.date(day, month, _full_year(year_raw), day_first), match, lex)


_DATE_MONTH_FIRST = _compile(
    "JFMASOND",
    r"\b(?P<mon>" + _MONTHS_EN_ALT + r")(?P<dot>\.)?\s+(?:(?P<d>[0-9]{1,2})(?:st|nd|rd|th)?(?![0-9:])"
    r"(?:,?\s+(?P<y>[0-9]{4}))?|(?P<y2>[0-9]{4}))" + _NUM_END,
)


def _date_month_first(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    month = _MONTH_INDEX_EN[match["mon"]]
    name = num.month_name_en(month)
    if match["y2"] is not None:
        return f"{name} {num.year_en(int(match['y2']))}"
    day = int(match["d"])
    if not _valid_date(day, month):
        return None
    return ENGLISH.date(day, month, int(match["y"]) if match["y"] else None, False)


_DATE_DAY_FIRST = _compile(
    "0-9",
    r"(?<![\w.,])(?P<d>[0-9]{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>" + _MONTHS_EN_ALT + r")(?P<dot>\.)?"
    r"(?:,?\s+(?P<y>[0-9]{4}))?(?!\w)",
)


def _date_day_first(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    month = _MONTH_INDEX_EN[match["mon"]]
    day = int(match["d"])
    if not _valid_date(day, month):
        return None
    spoken = ENGLISH.date(day, month, int(match["y"]) if match["y"] else None, True)
    if _strip_punct(word_before(match.string, match.start())).lower() == "the":
        spoken = spoken.removeprefix("the ")
    if match["dot"] and not match["y"]:
        spoken += sentence_period(match.string, match.end())
    return spoken


def _date_words_re(lex: Lexicon) -> re.Pattern[str]:
    months = "|".join(lex.months)
    return _compile(
        "0-9", rf"(?<![\w.])(?P<d>[0-9]{{1,2}})\.\s?(?P<mon>{months})(?:\s+(?P<y>[0-9]{{4}}))?(?!\w)"
    )


def _date_de(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    month = lex.months.index(match["mon"]) + 1
    day = int(match["d"])
    if not _valid_date(day, month):
        return None
    return _inflect_date(lex.date(day, month, int(match["y"]) if match["y"] else None, True), match, lex)


_AMPM = r"(?:[ \u00a0]?(?P<ap>[AaPp])(?:[Mm]|\.\s?[Mm]\.)(?!\w))"
_TIME_EN = _compile(
    "0-9",
    r"(?<![\w:.,])(?P<h>[01]?[0-9]|2[0-3]):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?"
    + _AMPM
    + r"?(?![\w:]|[.,][0-9])",
)
_TIME_ANY = _compile(
    "0-9", r"(?<![\w:.,])(?P<h>[01]?[0-9]|2[0-3]):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?(?![\w:]|[.,][0-9])"
)
_TIME_DE = _compile(
    "0-9",
    r"(?<![\w:.,])(?P<h>[01]?[0-9]|2[0-3])[:.](?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?(?:\s+Uhr)?(?![\w:]|[.,][0-9])",
)
_HOUR_AMPM = _compile("0-9", r"(?<![\w:.,])(?P<h>1[0-2]|0?[1-9])" + _AMPM)
_TIME_FR = _compile("0-9", r"(?<![\w:.,])(?P<h>[01]?[0-9]|2[0-3])\s?h\s?(?P<m>[0-5][0-9])?(?!\w)")


def _ampm_words(match: re.Match[str]) -> str:
    letter = "a" if match["ap"] in "Aa" else "p"
    return f"{letter} m" + sentence_period(match.string, match.end(), strict=True)


def _time(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    if match.re is _TIME_DE and ":" not in match.group(0) and "Uhr" not in match.group(0):
        return None  # "9.30" is a time only as "9.30 Uhr"
    hour, minute = int(match["h"]), int(match["m"] or 0)
    second = int(match["s"]) if match.groupdict().get("s") is not None else None
    if match.groupdict().get("ap") is None:
        return lex.time(hour, minute, second)
    spoken = num.cardinal_en(hour)
    if minute:
        spoken += f" oh {num.cardinal_en(minute)}" if minute < 10 else f" {num.cardinal_en(minute)}"
    if second is not None:
        spoken += f" and {num.cardinal_en(second)} seconds"
    return f"{spoken} {_ampm_words(match)}"


_RATIO = _compile("0-9", r"(?<![\w:.,])(?P<a>[0-9]{1,3}):(?P<b>[0-9]{1,3})(?![\w:]|[.,][0-9])")


def _ratio(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    return f"{num.cardinal_en(int(match['a']))} to {num.cardinal_en(int(match['b']))}"


def _hour_ampm(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    return f"{num.cardinal_en(int(match['h']))} {_ampm_words(match)}"


# ======================================================================================== numbers in forms


_IP = _compile("0-9", r"(?<![\w.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![\w]|\.[0-9])")


def _ip(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    octets = match.group(0).split(".")
    if any(int(octet) > 255 for octet in octets):
        return None
    return f" {lex.words['dot']} ".join(lex.cardinal(int(octet)) for octet in octets)


_VERSION = _compile(
    "0-9v", r"(?<![\w.])(?:(?P<v>v)(?P<a>[0-9]+(?:\.[0-9]+)*)|(?P<b>[0-9]+(?:\.[0-9]+){2,}))(?![\w]|\.[0-9])"
)


def _version(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    body = match["a"] or match["b"]
    if lex.decimal_sep == "," and _THOUSANDS_DOTTED.fullmatch(body):
        return None  # "1.234.567" groups thousands in German, French and Spanish
    joiner = f" {lex.point if lex.decimal_sep == '.' else lex.words['dot']} "
    spoken = joiner.join(
        lex.cardinal(int(part)) if len(part) < 16 else lex.digits(part) for part in body.split(".")
    )
    if (
        match["v"]
        and _strip_punct(word_before(match.string, match.start())).lower() != lex.words["version"].lower()
    ):
        spoken = f"{lex.words['version']} {spoken}"
    return spoken


_PHONE_NANP = _compile(
    "0-9+(",
    r"(?<![\w+])(?:(?P<cc>\+?1)[ .-]?)?(?:\([0-9]{3}\)[ ]?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}"
    r"(?![\w]|[.-][0-9])",
)
_PHONE_INTL = _compile("+", r"(?<![\w+])\+[0-9]{1,3}(?:[ .-]\(?[0-9]{1,5}\)?){1,6}(?![\w]|[.-][0-9])")
_PHONE_LOCAL = _compile("2-9", r"(?<![\w.,-])(?P<a>[2-9][0-9]{2})-(?P<b>[0-9]{4})(?![\w]|[.,-][0-9])")
_DIGIT_GROUPS = re.compile(r"\+|[0-9]+")


def _phone(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    groups = _DIGIT_GROUPS.findall(match.group(0))
    total = sum(len(group) for group in groups if group != "+")
    if not 7 <= total <= 15:
        return None
    if match.re is _PHONE_LOCAL and int(match["b"]) % 100 == 0:
        return None  # "250-1500" is a range, not a number to dial
    spoken = ", ".join(lex.digits(group) for group in groups if group != "+")
    return f"{lex.words['plus']} {spoken}" if groups[0] == "+" else spoken


# ============================================================================================ money

_SCALE_ALIASES = {
    "thousand": "thousand",
    "k": "thousand",
    "K": "thousand",
    "million": "million",
    "m": "million",
    "M": "million",
    "mn": "million",
    "billion": "billion",
    "b": "billion",
    "B": "billion",
    "bn": "billion",
    "trillion": "trillion",
    "tn": "trillion",
}
_SCALE_WORDS_RE = r"thousand|million|billion|trillion|bn|mn"
_SCALE_LETTERS_RE = r"bn|mn|tn|[kKmMbB]"
_SCALE = rf"(?:{_SP}(?P<scale>{_SCALE_WORDS_RE})(?!\w)|(?P<abbr>{_SCALE_LETTERS_RE})(?!\w))?"


def _money_amount(raw: str, currency: Currency, lex: Lexicon, scale: str | None) -> str:
    whole, frac = parse_number(raw, lex)
    if scale is not None:
        singular, plural = lex.scales[scale]
        scale_word = singular if _is_one(raw, lex) else plural
        joiner = " de " if lex.code in ("es", "fr") and scale != "thousand" else " "
        if joiner == " de " and lex.code == "fr" and currency.plural[:1] in "aeiouyéh":
            return f"{speak_number(raw, lex, before_noun=True)} {scale_word} d'{currency.plural}"
        return f"{speak_number(raw, lex, before_noun=True)} {scale_word}{joiner}{currency.plural}"
    if frac is not None and (currency.sub_singular is None or len(frac) > 2):
        return f"{speak_number(raw, lex)} {currency.plural}"
    value = int(whole or "0")
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if value or not cents:
        main = lex.cardinal_before_noun(value) if len(whole) <= 15 else lex.digits(whole)
        parts.append(f"{main} {currency.singular if value == 1 else currency.plural}")
    if cents and currency.sub_singular and currency.sub_plural:
        sub = currency.sub_singular if cents == 1 else currency.sub_plural
        parts.append(f"{lex.cardinal_before_noun(cents)} {sub}")
    return f" {lex.money_and} ".join(parts)


_PER_UNITS = {
    "hr": "hour",
    "h": "hour",
    "mo": "month",
    "yr": "year",
    "wk": "week",
    "d": "day",
    "min": "minute",
    "lb": "pound",
    "lbs": "pound",
    "kg": "kilogram",
    "person": "person",
    "night": "night",
    "day": "day",
    "week": "week",
    "month": "month",
    "year": "year",
    "hour": "hour",
}


def _money(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    groups = match.groupdict()
    currency = lex.currencies.get(groups.get("sym") or groups.get("code") or "")
    if currency is None:
        return None
    scale_raw = groups.get("scale") or groups.get("abbr")
    scale = _SCALE_ALIASES.get(scale_raw) if scale_raw else None
    if scale is not None and scale not in lex.scales:
        return None
    a, b = match["a"], groups.get("b")
    negative = bool(groups.get("neg") or groups.get("neg2"))
    if b is not None:
        if scale is None and parse_number(a, lex)[1] is None and parse_number(b, lex)[1] is None:
            first = speak_number(a, lex)
        elif scale is not None:
            first = speak_number(a, lex, before_noun=True)
        else:
            first = _money_amount(a, currency, lex, None)
        spoken = f"{first} {lex.range_to} {_money_amount(b, currency, lex, scale)}"
    else:
        spoken = _money_amount(a, currency, lex, scale)
    if negative:
        spoken = f"{lex.minus} {spoken}"
    per = groups.get("per")
    if per:
        unit = _PER_UNITS.get(per) or (UNITS["en"].get(per, (per, per))[0])
        spoken += f" per {unit}"
    return spoken


def _money_rules(lex: Lexicon) -> list[Rule]:
    number = _num_re(lex)
    symbols = sorted(
        (key for key in lex.currencies if not key.isalpha() and key != "¢"), key=len, reverse=True
    )
    codes = sorted((key for key in lex.currencies if key.isalpha()), key=len, reverse=True)
    sym_re = "|".join(re.escape(symbol) for symbol in symbols)
    code_re = "|".join(codes)
    suffix_re = "|".join([re.escape(key) for key in lex.currencies if not key.isalpha()] + codes)
    to = r"|\s+to\s+" if lex.code == "en" else ""
    dash = rf"(?P<dash>-|{_SP}[–—]{_SP}{to})"
    first = "\\-−" + "".join(sorted({re.escape(symbol[0]) for symbol in symbols}))
    per = r"(?:/(?P<per>[A-Za-z]{1,6})(?!\w))?" if lex.code == "en" else ""
    prefix = _compile(
        first,
        rf"(?<![\w.,])(?P<neg>[-−])?(?P<sym>{sym_re}){_SP}(?P<neg2>[-−])?(?P<a>{number})"
        rf"(?:{dash}(?:{sym_re})?(?P<b>{number}))?{_SCALE}{_NUM_END}{per}",
    )
    code = _compile(
        "A-Z", rf"(?<!\w)(?P<code>{code_re}){_SP}(?P<neg2>[-−])?(?P<a>{number}){_SCALE}{_NUM_END}"
    )
    suffix = _compile(
        "\\-−0-9",
        rf"(?<![\w.,])(?P<neg>[-−])?(?P<a>{number})(?:(?P<dash>-|{_SP}[–—]{_SP})(?P<b>{number}))?"
        rf"{_SCALE}{_SP}(?P<sym>{suffix_re})(?!\w)",
    )
    chars = "".join({ch for key in lex.currencies for ch in key if not ch.isalpha()})
    return [
        Rule("money_prefix", prefix, _money, chars),
        Rule("money_code", code, _money, _DIGITS, gate=re.compile(f"(?=[A-Z])(?:{code_re})")),
        Rule("money_suffix", suffix, _money, _DIGITS, gate=re.compile(suffix_re)),
    ]


# ============================================================================================ quantities

# Units after a number: written form → (singular, plural). Matched case-sensitively, longest first.
_UNITS_EN: dict[str, tuple[str, str]] = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "kmh": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "m/s": ("meter per second", "meters per second"),
    "km²": ("square kilometer", "square kilometers"),
    "m²": ("square meter", "square meters"),
    "m³": ("cubic meter", "cubic meters"),
    "sq ft": ("square foot", "square feet"),
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "m": ("meter", "meters"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "yd": ("yard", "yards"),
    "in": ("inch", "inches"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "lbs": ("pound", "pounds"),
    "lb": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "L": ("liter", "liters"),
    "l": ("liter", "liters"),
    "gal": ("gallon", "gallons"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "ºC": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "ºF": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    "º": ("degree", "degrees"),
    "K": ("kelvin", "kelvin"),
    "GHz": ("gigahertz", "gigahertz"),
    "MHz": ("megahertz", "megahertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "Hz": ("hertz", "hertz"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "kW": ("kilowatt", "kilowatts"),
    "MW": ("megawatt", "megawatts"),
    "W": ("watt", "watts"),
    "V": ("volt", "volts"),
    "mAh": ("milliamp hour", "milliamp hours"),
    "mA": ("milliamp", "milliamps"),
    "TB": ("terabyte", "terabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    "Mbps": ("megabit per second", "megabits per second"),
    "ms": ("millisecond", "milliseconds"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "h": ("hour", "hours"),
    "yr": ("year", "years"),
    "yrs": ("year", "years"),
    "px": ("pixel", "pixels"),
    "dB": ("decibel", "decibels"),
    "kcal": ("kilocalorie", "kilocalories"),
    "cal": ("calorie", "calories"),
}
_UNITS_DE = {
    "km/h": ("Kilometer pro Stunde", "Kilometer pro Stunde"),
    "km": ("Kilometer", "Kilometer"),
    "cm": ("Zentimeter", "Zentimeter"),
    "mm": ("Millimeter", "Millimeter"),
    "m": ("Meter", "Meter"),
    "kg": ("Kilogramm", "Kilogramm"),
    "g": ("Gramm", "Gramm"),
    "l": ("Liter", "Liter"),
    "°C": ("Grad Celsius", "Grad Celsius"),
    "°": ("Grad", "Grad"),
}
_UNITS_FR = {
    "km/h": ("kilomètre par heure", "kilomètres par heure"),
    "km": ("kilomètre", "kilomètres"),
    "cm": ("centimètre", "centimètres"),
    "mm": ("millimètre", "millimètres"),
    "m": ("mètre", "mètres"),
    "kg": ("kilogramme", "kilogrammes"),
    "g": ("gramme", "grammes"),
    "l": ("litre", "litres"),
    "°C": ("degré Celsius", "degrés Celsius"),
    "°": ("degré", "degrés"),
}
_UNITS_ES = {
    "km/h": ("kilómetro por hora", "kilómetros por hora"),
    "km": ("kilómetro", "kilómetros"),
    "cm": ("centímetro", "centímetros"),
    "mm": ("milímetro", "milímetros"),
    "m": ("metro", "metros"),
    "kg": ("kilogramo", "kilogramos"),
    "g": ("gramo", "gramos"),
    "l": ("litro", "litros"),
    "°C": ("grado Celsius", "grados Celsius"),
    "°": ("grado", "grados"),
}
UNITS: dict[str, dict[str, tuple[str, str]]] = {
    "en": _UNITS_EN,
    "de": _UNITS_DE,
    "fr": _UNITS_FR,
    "es": _UNITS_ES,
}
# Units read only when written without a space ("5in", not "5 in the morning").
_GLUED_ONLY = frozenset({"in", "K"})

_YEAR_CUES = frozenset(
    _split(
        "in since by from until till of during circa c. ca. before after around early late mid spring summer "
        "autumn fall winter year years january february march april may june july august september october "
        "november december jan feb mar apr jun jul aug sep sept oct nov dec"
    )
)
_COUNT_CUES = frozenset(
    _split(
        "about approximately nearly almost over under than exactly only just total roughly some all "
        "another additional extra"
    )
)
_PLURAL_NOT_NOUN = frozenset(
    _split(
        "was is has does says marks brings begins ends sees looks feels seems remains means comes goes gives "
        "makes takes as plus minus us this his its thus yes less unless always perhaps whereas was"
    )
)
_DIGIT_CUES = frozenset(_split("call dial dialed dialled dialing dialling tel ext extension pin code zip"))
_IRREGULAR_PLURALS = frozenset(_split("people men women children feet teeth mice geese persons sheep"))


def _looks_like_year(match: re.Match[str], value_end: int) -> bool:
    text = match.string
    previous = _strip_punct(word_before(text, match.start())).lower()
    if previous in _YEAR_CUES or word_before(text, match.start()).lower() in _YEAR_CUES:
        return True
    if previous in _COUNT_CUES:
        return False
    following = word_after(text, value_end)
    bare = _strip_punct(following)
    if bare.isalpha() and bare.islower():
        if bare in _IRREGULAR_PLURALS:
            return False
        if len(bare) > 3 and bare.endswith("s") and not bare.endswith("ss") and bare not in _PLURAL_NOT_NOUN:
            return False
    return True


def _speak_plain(raw: str, lex: Lexicon, year_ok: bool, match: re.Match[str], value_end: int) -> str:
    if lex.code == "en" and raw.isdigit() and len(raw) >= 3:
        previous = _strip_punct(word_before(match.string, match.start())).lower()
        if previous in _DIGIT_CUES:  # "call 911", "zip code 90210", "PIN 1234"
            return lex.digits(raw)
    if (
        year_ok
        and len(raw) == 4
        and raw.isdigit()
        and 1100 <= int(raw) <= 2099
        and _looks_like_year(match, value_end)
    ):
        return lex.year(int(raw))
    return speak_number(raw, lex)


def _quantity(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    a, b = match["a"], match["b"]
    unit, percent = match["unit"], match["pct"]
    end = match.end()
    if unit is not None and unit[0].isspace() and unit.strip() in _GLUED_ONLY:
        unit, end = None, match.end("b") if b is not None else match.end("a")  # "5 in the box": not inches
    negative = match["neg"] is not None
    plain = unit is None and percent is None
    if b is None:
        spoken = _speak_plain(a, lex, plain and not negative, match, match.end("a"))
    else:
        b_is_year = len(b) in (2, 4) and b.isdigit()
        years = (
            plain and not negative and len(a) == 4 and a.isdigit() and 1100 <= int(a) <= 2099 and b_is_year
        )
        if years:
            second = lex.year(int(b)) if len(b) == 4 else lex.cardinal(int(b))
            spoken = f"{lex.year(int(a))} {lex.range_to} {second}"
        else:
            spoken = f"{speak_number(a, lex)} {lex.range_to} {speak_number(b, lex)}"
    if negative:
        spoken = f"{lex.minus} {spoken}"
    if percent is not None:
        spoken += f" {lex.percent}"
    elif unit is not None:
        singular, plural = UNITS[lex.code][unit.strip()]
        spoken += f" {singular if b is None and _is_one(a, lex) else plural}"
    return [(match.start(), end, spoken)]


def _quantity_rule(lex: Lexicon) -> Rule:
    number = _num_re(lex)
    units = sorted(UNITS[lex.code], key=len, reverse=True)
    unit_re = "|".join(re.escape(unit) for unit in units)
    pattern = _compile(
        "\\-−0-9",
        rf"(?<![\w.,])(?:(?P<neg>[-−])(?=[0-9]))?(?P<a>{number})"
        rf"(?:(?:-|{_SP}[–—]{_SP})(?P<b>{number})(?!-\w))?"
        rf"(?:{_SP}(?P<pct>%)|(?P<unit>{_SP}(?:{unit_re}))(?![\w²³]))?{_NUM_END}",
    )
    return Rule("quantity", pattern, _quantity, _DIGITS)


_DIMENSIONS = _compile(
    "0-9",
    rf"(?<![\w.,])(?P<a>{_NUM_EN}){_SP}[x×]{_SP}(?P<b>{_NUM_EN})(?:{_SP}[x×]{_SP}(?P<c>{_NUM_EN}))?{_NUM_END}",
)


def _dimensions(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    parts = [speak_number(part, lex) for part in (match["a"], match["b"], match["c"]) if part]
    return f" {lex.words['by']} ".join(parts)


_MULTIPLIER = _compile("0-9", rf"(?<![\w.,])(?P<a>{_NUM_EN})x(?!\w)")


def _multiplier(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    return f"{speak_number(match['a'], lex)} {lex.words['times']}"


_ORDINAL_EN = _compile(
    "0-9", r"(?<![\w.,])(?P<n>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:st|nd|rd|th|ST|ND|RD|TH)(?!\w)"
)


def _ordinal_en(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    digits = match["n"].replace(",", "")
    return num.ordinal_en(int(digits)) if len(digits) <= 15 else None


_ORDINAL_FR = _compile("0-9", r"(?<![\w.,])(?P<n>[0-9]{1,6})(?P<suf>er|re|ère|e|ème|eme)(?!\w)")


def _ordinal_fr(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    n = int(match["n"])
    if n == 1 and match["suf"] in ("e", "ème", "eme"):
        return None
    return num.ordinal_fr(n, feminine=match["suf"] in ("re", "ère"))


_DECADE = _compile(
    "0-9'’",
    r"(?<![\w.,'’])(?:['’](?P<short>[0-9]0)|(?P<full>1[1-9][0-9]0|20[0-9]0)|(?P<two>[1-9]0))['’]?s(?!\w)",
)


_SHORT_YEAR = _compile("'’", r"(?<![\w'’])['’](?P<y>[0-9]{2})(?![\w'’]|[.,][0-9])")


def _short_year(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    value = int(match["y"])
    return num.cardinal_en(value) if value >= 10 else f"oh {num.cardinal_en(value)}"


def _decade(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    if match["full"]:
        return num.pluralize_en(num.year_en(int(match["full"])))
    value = int(match["short"] or match["two"])
    return num.pluralize_en(num.cardinal_en(value)) if value else "two thousands"


_VULGAR = {
    "½": (1, 2),
    "⅓": (1, 3),
    "⅔": (2, 3),
    "¼": (1, 4),
    "¾": (3, 4),
    "⅕": (1, 5),
    "⅖": (2, 5),
    "⅗": (3, 5),
    "⅘": (4, 5),
    "⅙": (1, 6),
    "⅚": (5, 6),
    "⅛": (1, 8),
    "⅜": (3, 8),
    "⅝": (5, 8),
    "⅞": (7, 8),
}
_FRACTION_VULGAR = _compile(
    "0-9" + "".join(_VULGAR), r"(?<![\w.,])(?:(?P<w>[0-9]+) ?)?(?P<f>[" + "".join(_VULGAR) + "])"
)
_FRACTION = _compile(
    "0-9", r"(?<![\w./])(?:(?P<w>[0-9]{1,6})\s+)?(?P<n>[0-9]{1,3})[/⁄](?P<d>[0-9]{1,4})(?![\w/]|[.,][0-9])"
)
_FRACTION_IDIOMS = {
    ("24", "7"): "twenty-four seven",
    ("9", "11"): "nine eleven",
    ("50", "50"): "fifty-fifty",
    ("20", "20"): "twenty-twenty",
}


def _mixed(whole: int, numerator: int, denominator: int) -> str:
    if numerator == 1 and denominator in (2, 4):
        tail = "a half" if denominator == 2 else "a quarter"
    elif numerator == 1 and 3 <= denominator <= 10:
        tail = "a " + num.ordinal_en(denominator)
    else:
        tail = num.fraction_en(numerator, denominator)
    return f"{num.cardinal_en(whole)} and {tail}"


def _fraction(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    if match.re is _FRACTION_VULGAR:
        numerator, denominator = _VULGAR[match["f"]]
    else:
        idiom = _FRACTION_IDIOMS.get((match["n"], match["d"]))
        if idiom and not match["w"]:
            return idiom
        numerator, denominator = int(match["n"]), int(match["d"])
    if match["w"]:
        return _mixed(int(match["w"]), numerator, denominator)
    return num.fraction_en(numerator, denominator)


_POINT_DECIMAL = _compile(".", r"(?<![\w.,])\.(?P<f>[0-9]+)" + _NUM_END)


def _point_decimal(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    return f"{lex.point} {lex.digits(match['f'])}"


_ANY_DIGITS = re.compile(r"[0-9]+")


def _any_digits(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    return speak_number(match.group(0), lex)


# ============================================================================================ social

_NUMBER_SIGN = _compile("#", r"(?<![\w#&])# ?(?P<n>[0-9]+)(?!\w)")
_HASHTAG = _compile("#", r"(?<![\w#&/])#(?P<tag>[^\W\d_]\w*)")
_HANDLE = _compile("@", r"(?<![\w@./])@(?P<h>[A-Za-z0-9_]{1,30})(?![\w@])")


def _number_sign(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    return f"{lex.words['number']} {speak_number(match['n'], lex)}"


def _hashtag(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    return f"{lex.words['hashtag']} {_split_camel(match['tag'])}"


def _handle(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    assert lex is not None
    return f"{lex.words['at']} {speak_address(match['h'], lex)}"


# ============================================================================================ Roman numerals

_ROMAN_KEYWORDS = (
    "Chapter|Part|Volume|Vol\\.|Book|Act|Scene|Section|Article|Title|Phase|Stage|Level|Round|Episode|"
    "Appendix|Canto|Psalm|Class|Type|Grade|Division|Tier|War|Bowl|Mark|Mk\\.?|Schedule|Amendment|Plate|"
    "Figure|Table|Unit|Lesson|Season"
)
_ROMAN_KEYWORD = _compile(
    _firsts(_ROMAN_KEYWORDS), rf"\b(?P<kw>{_ROMAN_KEYWORDS})\s+(?P<r>[IVXLCDM]{{1,9}})\b(?!['’]\w|-\w)"
)
_REGNAL_NAMES = (
    "Henry|Louis|Elizabeth|George|Edward|Charles|William|James|Richard|John|Mary|Anne|Victoria|Peter|"
    "Catherine|Frederick|Philip|Ferdinand|Alexander|Nicholas|Ivan|Gustav|Gustavus|Napoleon|Ramesses|Rameses|"
    "Constantine|Otto|Alfonso|Felipe|Carlos|Juan|Wilhelm|Friedrich|Ludwig|Leopold|Francis|Franz|Pius|"
    "Benedict|Gregory|Leo|Innocent|Clement|Paul|Urban|Boniface|Sixtus|Julius|Harald|Olaf|Haakon|Christian|"
    "Frederik|Carl|Gustaf|Willem|Rama|Selim|Mehmed|Suleiman|Murad|Amenhotep|Thutmose|Darius|Xerxes|"
    "Antiochus|Ptolemy|Cleopatra|Edmund|Harold|Stephen|Matilda|Malcolm|David|Robert|Rudolf|Maximilian|"
    "Sigismund|Casimir|Sancho|Pedro|Manuel|Afonso|Umberto|Isabella|Joanna|Elizabeth|Sebastian|Valdemar"
)
_REGNAL = _compile(
    _firsts(_REGNAL_NAMES),
    rf"\b(?P<name>{_REGNAL_NAMES})\s+(?P<r>[IVX]{{1,7}})(?P<pos>['’]s)?\b(?!['’]\w|-\w)",
)
_PRONOUN_FOLLOWERS = frozenset(
    _split(
        "am think know have had will would can could do did don't said love want feel guess mean believe "
        "hope "
        "see saw told asked met got need like just really also never went called thought wish"
    )
)


def _pronoun_i(match: re.Match[str]) -> bool:
    """True when a numeral "I" is more likely the pronoun ("Paul I think ...")."""
    if match["r"] != "I":
        return False
    following = _strip_punct(word_after(match.string, match.end())).lower()
    return following in _PRONOUN_FOLLOWERS


def _roman_keyword(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    value = num.parse_roman(match["r"])
    if value is None or _pronoun_i(match):
        return None
    edits: list[Edit] = [(match.start("r"), match.end("r"), num.cardinal_en(value))]
    expansion = {"Vol.": "Volume", "Mk.": "Mark", "Mk": "Mark"}.get(match["kw"])
    if expansion:
        edits.append((match.start("kw"), match.end("kw"), expansion))
    return edits


def _regnal(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    value = num.parse_roman(match["r"])
    if value is None or _pronoun_i(match):
        return None
    ordinal = num.ordinal_en(value)
    words = f"the {ordinal[0].upper()}{ordinal[1:]}" + (match["pos"] or "")
    return [(match.start("r"), match.end(), words)]


# ============================================================================================ abbreviations

_TITLES_ALWAYS = {"Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor", "Mx": "Mix"}
_TITLES_BEFORE_NAME = {
    "Gen": "General",
    "Col": "Colonel",
    "Capt": "Captain",
    "Lt": "Lieutenant",
    "Sgt": "Sergeant",
    "Gov": "Governor",
    "Sen": "Senator",
    "Rep": "Representative",
    "Rev": "Reverend",
    "Hon": "Honorable",
    "Pres": "President",
    "Cpl": "Corporal",
    "Maj": "Major",
    "Adm": "Admiral",
    "Cmdr": "Commander",
    "Supt": "Superintendent",
    "Fr": "Father",
    "Sr": "Senior",
    "Jr": "Junior",
}
_TITLE = _compile(
    "MPGCLSRHAF",
    r"\b(?:(?P<a>Mrs|Mr|Ms|Mx|Prof)(?:\.|\b(?=\s+[A-Z]))|(?P<b>"
    + "|".join(key for key in _TITLES_BEFORE_NAME if key not in ("Sr", "Jr"))
    + r")\.(?=\s+[A-Z]))",
)


def _title(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    if match["a"]:
        return _TITLES_ALWAYS[match["a"]]
    return _TITLES_BEFORE_NAME[match["b"]]


_ORDINAL_TOKEN = re.compile(r"[0-9]+(?:st|nd|rd|th)")
_DR_ST = _compile("DS", r"\b(?P<t>Dr|St)(?P<dot>\.)?(?!\w|\.\w)")


def _dr_st(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    text = match.string
    before = word_before(text, match.start())
    before_bare = _strip_punct(before)
    before_start = _word_start(text, match.start())
    prev_is_name = (
        bool(before_bare)
        and before == before_bare
        and (
            bool(_ORDINAL_TOKEN.fullmatch(before_bare))  # "5th St."
            or (before_bare[0].isupper() and not at_sentence_start(text, before_start))
        )
    )
    following = word_after(text, match.end())
    next_is_name = following[:1].isupper() and text[match.end() : match.end() + 1] != "\n"
    person, place = ("Doctor", "Drive") if match["t"] == "Dr" else ("Saint", "Street")
    if prev_is_name:
        return place + sentence_period(text, match.end(), strict=True)
    if next_is_name:
        return person
    if not match["dot"]:
        return None
    return person if match["t"] == "Dr" else place + sentence_period(text, match.end(), strict=True)


# key (lower-cased, with its dots) → (expansion, keep a sentence-final period, needs a following number)
_SIMPLE_ABBREVIATIONS: dict[str, tuple[str, bool, bool]] = {
    "vs.": ("versus", False, False),
    "vs": ("versus", False, False),
    "etc.": ("et cetera", True, False),
    "e.g.": ("for example", False, False),
    "eg.": ("for example", False, False),
    "i.e.": ("that is", False, False),
    "ie.": ("that is", False, False),
    "approx.": ("approximately", True, False),
    "approx": ("approximately", False, False),
    "incl.": ("including", True, False),
    "dept.": ("department", True, False),
    "inc.": ("Incorporated", True, False),
    "ltd.": ("Limited", True, False),
    "corp.": ("Corporation", True, False),
    "co.": ("Company", True, False),
    "jr.": ("Junior", True, False),
    "sr.": ("Senior", True, False),
    "esq.": ("Esquire", True, False),
    "bros.": ("Brothers", True, False),
    "mt.": ("Mount", False, False),
    "ave.": ("Avenue", True, False),
    "blvd.": ("Boulevard", True, False),
    "rd.": ("Road", True, False),
    "ln.": ("Lane", True, False),
    "hwy.": ("Highway", True, False),
    "apt.": ("Apartment", False, False),
    "fig.": ("Figure", False, True),
    "ch.": ("Chapter", False, True),
    "vol.": ("Volume", False, True),
    "no.": ("number", False, True),
    "nos.": ("numbers", False, True),
    "p.": ("page", False, True),
    "pp.": ("pages", False, True),
    "ca.": ("circa", False, True),
    "c.": ("circa", False, True),
    "a.k.a.": ("also known as", False, False),
    "aka": ("also known as", False, False),
    "et al.": ("et al", True, False),
    "w/": ("with", False, False),
    "w/o": ("without", False, False),
    "c/o": ("care of", False, False),
    "ph.d.": ("P H D", True, False),
    "phd": ("P H D", False, False),
}
_SIMPLE_FIRSTS = "vVeEiIaAdDcCjJsSmMbBrRlLhHfFnNpPwW"
# Any short dotted word is a candidate; the handler looks it up in the table above.
_SIMPLE = _compile(
    _SIMPLE_FIRSTS,
    r"(?<![\w.])(?:ph\.d\.|(?:[a-z]\.){2,}|[a-z]{1,6}\.|vs|approx|aka|phd|w/o|w/|c/o|et al\.)(?![\w/])",
    re.I,
)
_CAPITALISED_ONLY = frozenset({"inc.", "ltd.", "corp.", "co.", "jr.", "sr.", "esq.", "bros.", "mt."})


def _simple_abbreviation(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    written = match.group(0)
    key = written.lower()
    if key not in _SIMPLE_ABBREVIATIONS:
        return None
    expansion, keep_period, needs_number = _SIMPLE_ABBREVIATIONS[key]
    text = match.string
    if key in _CAPITALISED_ONLY and not written[0].isupper():
        return None
    following = word_after(text, match.end())
    if needs_number and not following[:1].isdigit():
        return None
    before = word_before(text, match.start())
    if key == "co." and before != "&" and not _strip_punct(before)[:1].isupper():
        return None
    if key in ("ca.", "c.") and not following[:4].rstrip(",.;").isdigit():
        return None
    if expansion[0].islower() and written[0].isupper() and at_sentence_start(text, match.start()):
        expansion = expansion[0].upper() + expansion[1:]
    return expansion + (sentence_period(text, match.end(), strict=True) if keep_period else "")


# ============================================================================================ acronyms

_PRONOUNCEABLE = frozenset(
    _split(
        "NASA NATO UNESCO UNICEF OPEC FIFA UEFA AIDS LASER RADAR SCUBA SWAT GIF JPEG PIN ZIP SIM RAM ROM LAN "
        "FEMA OSHA NAFTA IKEA LEGO COVID ASAP AWOL NASCAR SARS MERS TESOL JSON YAML CAPTCHA WASP POTUS "
        "FLOTUS "
        "SCOTUS LOL YOLO FOMO NIMBY ANSI ASCII DOS GUI MIDI SONAR QUANGO INTERPOL BAFTA OFCOM OFSTED "
        "DARPA CERN ESA"
    )
)
_SPELLED = frozenset(_split("UCLA USAF USMC EULA IOU AOL ESPN NAACP NCAA ACLU AARP HBO CNN"))
_COMMON_UPPER = frozenset(
    _split(
        "A I AM AN AS AT BE BY DO GO HE HI IF IN IS IT ME MY NO OF OH OK ON OR SO TO UP WE YO YA HA "
        "THE AND FOR YOU NOT BUT ALL CAN HAS HAD HER HIM HIS HOW ITS LET MAY NEW NOW OLD ONE OUR OUT SEE SHE "
        "TWO WAY WHY YES GET GOT BIG BAD HOT TOP WOW ARE WAS DID DAY MAN BOY RUN YET OFF END ANY FEW OWN SAY "
        "SAW TOO USE WAR WIN BOX KEY FUN SUN RED BUY OMG NOR CRY TRY FLY SKY FAR BAR CAR EAT ATE LOT GOD "
        "STOP HELP NEVER WHAT THIS THAT WITH FROM HAVE WILL YOUR JUST LIKE LOVE HATE GOOD BEST NEXT LAST "
        "FREE SALE NOTE WARNING ALERT DANGER OPEN CLOSED EXIT PUSH PULL SOLD HERE THERE THEY THEM WHEN WHERE "
        "WHO MUST VERY MUCH MORE MOST SOME EVEN EVER ONLY ALSO BACK DONE GONE COME CAME MAKE MADE TAKE TOOK "
        "LOOK WANT NEED KNOW THINK TELL SAID OKAY YEAH NOPE WAIT DONT CANT WONT "
    )
)
_VOWELS = frozenset("AEIOUY")
_ONSETS = frozenset(
    _split(
        "BL BR CH CL CR DR FL FR GL GR KN PH PL PR SC SH SK SL SM SN SP ST SW TH TR TW WH WR QU SCR SPR STR "
        "SPL THR CHR SHR SCH"
    )
)
_CODAS = frozenset(
    _split(
        "ST NT ND NK NG SK SP CK CH SH TH LL SS LT LD LK RT RD RK RN RM RS MP PT FT XT NS TS DS GS KS LS MS "
        "RB RP RF RG RL LF LM LP NCH RCH RST NTS NDS"
    )
)
_CLUSTER = re.compile(r"[^AEIOUY]+")


def looks_pronounceable(word: str) -> bool:
    """Whether an all-caps token of four or five letters reads as a word (NASA, JSON) rather than letters.

    A rough syllable check: it needs a vowel, may not start or end with a consonant cluster English
    does not use, nor hold three vowels or three consonants in a row.
    """
    if len(word) < 4 or not any(ch in _VOWELS for ch in word):
        return False
    if re.search(r"[AEIOUY]{3}|[^AEIOUY]{3}", word):
        return False
    clusters = _CLUSTER.findall(word)
    if word[0] not in _VOWELS and len(clusters[0]) > 1 and clusters[0] not in _ONSETS:
        return False
    return not (word[-1] not in _VOWELS and len(clusters[-1]) > 1 and clusters[-1] not in _CODAS)


_ACRONYM = _compile(
    "A-Z", r"(?<![\w'’&.\-])(?P<a>[A-Z]{2,5})(?P<pl>['’]?s)?(?![A-Za-z'’&]|\.[A-Za-z]|-[A-Za-z])"
)
_CAPS_WORD = re.compile(r"[A-Z]{2,}")


def _is_shouting(token: str) -> bool:
    if token[-1:] in ".!?:;" or token[:1] in '(["“':
        return False  # another sentence or clause
    bare = _strip_punct(token)
    return bool(_CAPS_WORD.fullmatch(bare)) and (bare in _COMMON_UPPER or looks_pronounceable(bare))


def _acronym(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    token = match["a"]
    if token in _PRONOUNCEABLE or token in _COMMON_UPPER:
        return None
    if token not in _SPELLED and looks_pronounceable(token):
        return None
    text = match.string
    before = word_before(text, match.start())
    titled = (
        before[:1].isupper()
        and before.isalpha()
        and not at_sentence_start(text, _word_start(text, match.start()))
    )
    if set(token) <= {"I", "V", "X"} and not match["pl"] and titled:
        value = num.parse_roman(token)  # "Final Fantasy VII", "Rocky II"
        if value is not None:
            return num.cardinal_en(value)
    if _is_shouting(before) or _is_shouting(word_after(text, match.end())):
        return None
    return _spell(token) + (match["pl"] or "")


_DOTTED = _compile("A-Za-z", r"(?<![\w.])(?P<a>[A-Za-z](?:\.[A-Za-z])+)(?P<dot>\.)?(?!\w)")


def _dotted(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    letters = match["a"].replace(".", "")
    spoken = _spell(letters.upper() if letters.isupper() else letters)
    return spoken + (sentence_period(match.string, match.end(), strict=True) if match["dot"] else "")


_LETTERS_AMP = _compile("A-Z", r"(?<![\w&])(?P<a>[A-Z]{1,3}) ?& ?(?P<b>[A-Z]{1,3})(?![\w&])")


def _letters_amp(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    return f"{_spell(match['a'])} and {_spell(match['b'])}"


# ============================================================================================ symbols

_SYMBOLS = _compile(
    "\\-−*×^~<>≤≥≠≈±÷§¶©®™℠&+=%°º@/—–№N",
    r"(?P<number>№|N[º°](?= ?[0-9]))"
    r"|(?P<minus>[-−](?<=[0-9] [-−])(?= [0-9]))"
    r"|(?P<times>\*(?<=[0-9]\*)(?=[0-9])|\*(?<=[0-9] \*)(?= [0-9])|×)"
    r"|(?P<power>\^(?<=[0-9]\^)(?=[0-9]))"
    r"|(?P<about>~(?=\s?[0-9]))"
    r"|(?P<less><(?<=\s<)(?=\s))|(?P<greater>>(?<=\s>)(?=\s))"
    r"|(?P<less_equal>≤)|(?P<greater_equal>≥)|(?P<not_equal>≠)|(?P<approximately>≈)|(?P<plus_minus>±)"
    r"|(?P<divided_by>÷)|(?P<section>§)|(?P<paragraph>¶)|(?P<copyright>©)"
    r"|(?P<drop>[®™℠]|\*+)"
    r"|(?P<and>&)|(?P<plus>\+)|(?P<equals>=+)|(?P<percent>%)|(?P<degrees>[°º])"
    r"|(?P<at>@(?<!\S@)(?!\S))"
    r"|(?P<slash>/(?<=[^\W\d_]/)(?=[^\W\d_]))"
    r"|(?P<pause>—|[-–](?<=\s[-–])(?=\s))",
)


def _symbol(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    kind = match.lastgroup or ""
    if kind == "drop":
        return ""
    if kind == "pause":  # a dash between words: a comma's pause, taking the spaces around it along
        text = match.string
        start, end = match.span()
        while start > 0 and text[start - 1] in " \t\u00a0":
            start -= 1
        while end < len(text) and text[end] in " \t\u00a0":
            end += 1
        at_line_start = start == 0 or text[start - 1] == "\n"
        return [(start, end, "" if at_line_start else ", ")]
    if lex is None:
        return None
    if kind == "minus":
        return lex.minus
    if kind == "percent":
        return lex.percent
    return lex.words.get(kind)


_NEUTRAL_SYMBOLS = _compile("®™℠—–", r"(?P<drop>[®™℠])|(?P<pause>—|–(?<=\s–)(?=\s))")


# ============================================================================================ punctuation

_PUNCT_RUNS = _compile(
    "!?.…,;\\-=_*~#─━═", r"[!?]{2,}|\.{4,}|…{2,}|,{2,}|;{2,}|(?P<decor>[-=_*~#]{3,}|[─━═]{2,})"
)


def _punctuation(match: re.Match[str], lex: Lexicon | None) -> Replacement:
    run = match.group(0)
    if match["decor"]:
        return " "
    if run[0] in "!?":
        return "?" if "?" in run else "!"
    if run[0] == ".":
        return "..."
    return run[0]


# ============================================================================================ rule lists


@functools.lru_cache(maxsize=16)
def _rules_for(code: str | None) -> tuple[Rule, ...]:
    """The ordered rules for a language key (None: language-independent rules only)."""
    url = Rule("url", _URL_SCHEME, _url, "/w")
    punctuation = Rule("punctuation", _PUNCT_RUNS, _punctuation)
    if code is None:
        return (url, punctuation, Rule("symbols", _NEUTRAL_SYMBOLS, _symbol, "®™℠—–"))
    lex = lexicon_for(code)
    assert lex is not None
    en = code == "en"
    rules: list[Rule] = [
        url,
        Rule("email", _EMAIL, _email, "@"),
        Rule("domain", _BARE_DOMAIN, _url, ".", gate=re.compile(rf"\.(?:{_TLDS})\b", re.I)),
        Rule("date_iso", _DATE_ISO, _date_iso, "-"),
        Rule("date_numeric", _DATE_NUMERIC, _date_numeric, "/.-"),
    ]
    if en:
        rules += [
            Rule("date_day_first", _DATE_DAY_FIRST, _date_day_first),
            Rule("date_month_first", _DATE_MONTH_FIRST, _date_month_first),
            Rule("time", _TIME_EN, _time, ":"),
            Rule("hour_ampm", _HOUR_AMPM, _hour_ampm, "aApP"),
            Rule("ratio", _RATIO, _ratio, ":"),
        ]
    else:
        rules.append(
            Rule("time", _TIME_DE if code == "de" else _TIME_ANY, _time, ":." if code == "de" else ":")
        )
        if code == "de":
            rules.append(Rule("date_words", _date_words_re(lex), _date_de, "."))
        if code == "fr":
            rules.append(Rule("time_fr", _TIME_FR, _time, "h"))
    rules += [
        Rule("ip", _IP, _ip, "."),
        Rule("version", _VERSION, _version, ".v"),
        Rule("phone_nanp", _PHONE_NANP, _phone, _DIGITS),
        Rule("phone_intl", _PHONE_INTL, _phone, "+"),
        Rule("phone_local", _PHONE_LOCAL, _phone, "-"),
        *_money_rules(lex),
        Rule("number_sign", _NUMBER_SIGN, _number_sign, "#"),
        Rule("hashtag", _HASHTAG, _hashtag, "#"),
        Rule("handle", _HANDLE, _handle, "@"),
    ]
    if en:
        rules += [
            Rule("letters_amp", _LETTERS_AMP, _letters_amp, "&"),
            Rule("decade", _DECADE, _decade, "s"),
            Rule("short_year", _SHORT_YEAR, _short_year, "'’"),
            Rule("ordinal", _ORDINAL_EN, _ordinal_en, _DIGITS),
            Rule("fraction_vulgar", _FRACTION_VULGAR, _fraction, "".join(_VULGAR)),
            Rule("fraction", _FRACTION, _fraction, "/⁄"),
        ]
    if code == "fr":
        rules.append(Rule("ordinal", _ORDINAL_FR, _ordinal_fr, "e"))
    rules += [
        Rule("dimensions", _DIMENSIONS, _dimensions, "x×"),
        Rule("multiplier", _MULTIPLIER, _multiplier, "x"),
        _quantity_rule(lex),
    ]
    if en:
        rules += [
            Rule("point_decimal", _POINT_DECIMAL, _point_decimal, "."),
            Rule("roman_keyword", _ROMAN_KEYWORD, _roman_keyword),
            Rule("regnal", _REGNAL, _regnal),
            Rule("title", _TITLE, _title),
            Rule("dr_st", _DR_ST, _dr_st, "DS"),
            Rule("abbreviation", _SIMPLE, _simple_abbreviation),
            Rule("dotted_acronym", _DOTTED, _dotted, "."),
            Rule("acronym", _ACRONYM, _acronym),
        ]
    rules += [
        punctuation,
        Rule("symbols", _SYMBOLS, _symbol),
        Rule("digits", _ANY_DIGITS, _any_digits, _DIGITS),
    ]
    return tuple(rules)


def supported_languages() -> tuple[str, ...]:
    """Language keys that get full normalisation (others get the language-independent rules only)."""
    return ("en", "de", "fr", "es")


__all__ = [
    "Edit",
    "Rule",
    "find_edits",
    "language_key",
    "looks_pronounceable",
    "parse_number",
    "speak_address",
    "speak_number",
    "supported_languages",
]
