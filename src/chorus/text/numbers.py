"""Spell numbers as words: English in full, German, French and Spanish cardinals and the forms dates need.

Every function takes plain Python integers (or digit strings) and returns words; none of them raises for
a non-negative value of any size: numbers beyond the largest named scale are read digit by digit.
Negative values are read with the language's word for "minus".
"""

from __future__ import annotations

from collections.abc import Callable


def _split(words: str) -> tuple[str, ...]:
    """A tuple of the whitespace-separated words in ``words`` (keeps long word lists readable)."""
    return tuple(words.split())


# --------------------------------------------------------------------------------------------- English

_EN_ONES = _split(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
)
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_SCALES = (
    "",
    "thousand",
    "million",
    "billion",
    "trillion",
    "quadrillion",
    "quintillion",
    "sextillion",
    "septillion",
    "octillion",
    "nonillion",
    "decillion",
)
_EN_MAX = 1000 ** len(_EN_SCALES)

_EN_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}

_EN_MONTHS = _split("January February March April May June July August September October November December")


def _en_below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(f"{_EN_ONES[hundreds]} hundred")
    if rest:
        if rest < 20:
            parts.append(_EN_ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            parts.append(_EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else ""))
    return " ".join(parts)


def digits_en(digits: str) -> str:
    """Read a string of digits one by one: ``"2048"`` → ``"two zero four eight"`` (non-digits skipped)."""
    return " ".join(_EN_ONES[int(ch)] for ch in digits if ch in "0123456789")


def cardinal_en(n: int) -> str:
    """``1234567`` → ``"one million two hundred thirty-four thousand five hundred sixty-seven"``."""
    if n < 0:
        return "minus " + cardinal_en(-n)
    if n == 0:
        return "zero"
    if n >= _EN_MAX:
        return digits_en(str(n))
    parts = []
    scale = 0
    while n:
        n, group = divmod(n, 1000)
        if group:
            words = _en_below_1000(group)
            parts.append(f"{words} {_EN_SCALES[scale]}" if scale else words)
        scale += 1
    return " ".join(reversed(parts))


def ordinalize_en(words: str) -> str:
    """Turn spelled cardinal words into the ordinal: ``"twenty-one"`` → ``"twenty-first"``."""
    head, sep, last = words.rpartition(" ")
    head2, hyphen, last2 = last.rpartition("-")
    if last2 in _EN_ORDINAL_WORDS:
        new_last = _EN_ORDINAL_WORDS[last2]
    elif last2.endswith("y"):
        new_last = last2[:-1] + "ieth"
    else:
        new_last = last2 + "th"
    return head + sep + head2 + hyphen + new_last


def ordinal_en(n: int) -> str:
    """``21`` → ``"twenty-first"``, ``100`` → ``"one hundredth"``."""
    if n < 0:
        return "minus " + ordinal_en(-n)
    if n >= _EN_MAX:
        return cardinal_en(n) + "th"
    return ordinalize_en(cardinal_en(n))


def pluralize_en(words: str) -> str:
    """Pluralise the last word of spelled number words: ``"nineteen ninety"`` → ``"nineteen nineties"``."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    if words.endswith("x"):
        return words + "es"
    return words + "s"


def year_en(n: int) -> str:
    """Read a year the way people say it.

    ``1999`` → "nineteen ninety-nine", ``2024`` → "twenty twenty-four", ``2005`` → "two thousand five",
    ``1900`` → "nineteen hundred", ``1905`` → "nineteen oh five", ``2000`` → "two thousand". Values
    outside 1000..9999 are read as cardinals.
    """
    if not 1000 <= n <= 9999:
        return cardinal_en(n)
    high, low = divmod(n, 100)
    if 2000 <= n <= 2009 or n % 1000 == 0:
        return cardinal_en(n)
    if low == 0:
        return f"{cardinal_en(high)} hundred"
    if low < 10:
        return f"{cardinal_en(high)} oh {_EN_ONES[low]}"
    return f"{cardinal_en(high)} {cardinal_en(low)}"


_EN_FRACTION_DENOMINATORS = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def fraction_en(numerator: int, denominator: int) -> str:
    """``1/2`` → "one half", ``3/4`` → "three quarters", ``7/50`` → "seven over fifty".

    Denominators other than 2..10, 12, 16, 20, 32, 64, 100 and 1000 are read with "over".
    """
    num = cardinal_en(numerator)
    if denominator in _EN_FRACTION_DENOMINATORS:
        singular, plural = _EN_FRACTION_DENOMINATORS[denominator]
        return f"{num} {singular if numerator == 1 else plural}"
    if 3 <= denominator <= 10 or denominator in (12, 16, 20, 32, 64, 100, 1000):
        ordinal = ordinal_en(denominator)
        return f"{num} {ordinal if numerator == 1 else ordinal + 's'}"
    return f"{num} over {cardinal_en(denominator)}"


# --------------------------------------------------------------------------------------------- German

_DE_ONES = _split(
    "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn "
    "sechzehn siebzehn achtzehn neunzehn"
)
_DE_TENS = ("", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig", "neunzig")
_DE_LARGE = (
    (10**24, "Quadrillion", "Quadrillionen"),
    (10**21, "Trilliarde", "Trilliarden"),
    (10**18, "Trillion", "Trillionen"),
    (10**15, "Billiarde", "Billiarden"),
    (10**12, "Billion", "Billionen"),
    (10**9, "Milliarde", "Milliarden"),
    (10**6, "Million", "Millionen"),
)
_DE_MAX = 10**27


def _de_below_100(n: int, final: bool) -> str:
    if n < 20:
        return "ein" if n == 1 and not final else _DE_ONES[n]
    tens, ones = divmod(n, 10)
    if ones == 0:
        return _DE_TENS[tens]
    return ("ein" if ones == 1 else _DE_ONES[ones]) + "und" + _DE_TENS[tens]


def _de_below_1000(n: int, final: bool) -> str:
    hundreds, rest = divmod(n, 100)
    out = ""
    if hundreds:
        out = ("ein" if hundreds == 1 else _DE_ONES[hundreds]) + "hundert"
    if rest:
        out += _de_below_100(rest, final)
    return out


def _de_below_million(n: int, final: bool = True) -> str:
    thousands, rest = divmod(n, 1000)
    out = ""
    if thousands:
        out = _de_below_1000(thousands, final=False) + "tausend"
    if rest:
        out += _de_below_1000(rest, final)
    return out


def digits_de(digits: str) -> str:
    """Read digits one by one in German."""
    return " ".join(_DE_ONES[int(ch)] for ch in digits if ch in "0123456789")


def cardinal_de(n: int) -> str:
    """``1234`` → "eintausendzweihundertvierunddreißig", ``2000000`` → "zwei Millionen"."""
    if n < 0:
        return "minus " + cardinal_de(-n)
    if n == 0:
        return "null"
    if n >= _DE_MAX:
        return digits_de(str(n))
    parts = []
    for value, singular, plural in _DE_LARGE:
        count, n = divmod(n, value)
        if count:
            parts.append(f"eine {singular}" if count == 1 else f"{_de_below_million(count)} {plural}")
    if n:
        parts.append(_de_below_million(n))
    return " ".join(parts)


def year_de(n: int) -> str:
    """German years: ``1999`` → "neunzehnhundertneunundneunzig", ``2024`` → "zweitausendvierundzwanzig"."""
    if 1100 <= n <= 1999:
        high, low = divmod(n, 100)
        return _DE_ONES[high] + "hundert" + (_de_below_100(low, final=True) if low else "")
    return cardinal_de(n)


_DE_ORDINAL_IRREGULAR = {1: "erst", 3: "dritt", 7: "siebt", 8: "acht"}


def ordinal_de(n: int) -> str:
    """Nominative masculine German ordinal: ``5`` → "fünfter", ``21`` → "einundzwanzigster"."""
    if n < 0:
        return "minus " + ordinal_de(-n)
    high, low = divmod(n, 100)
    prefix = cardinal_de(high * 100) if high else ""
    if low == 0 and high:
        return prefix + "ster"
    if low in _DE_ORDINAL_IRREGULAR:
        return prefix + _DE_ORDINAL_IRREGULAR[low] + "er"
    if low < 20:
        return prefix + cardinal_de(low) + "ter"
    return prefix + cardinal_de(low) + "ster"


# --------------------------------------------------------------------------------------------- French

_FR_ONES = _split(
    "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize"
)
_FR_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante", 8: "quatre-vingt"}
_FR_LARGE = (
    (10**24, "quadrillion", "quadrillions"),
    (10**21, "trilliard", "trilliards"),
    (10**18, "trillion", "trillions"),
    (10**15, "billiard", "billiards"),
    (10**12, "billion", "billions"),
    (10**9, "milliard", "milliards"),
    (10**6, "million", "millions"),
)
_FR_MAX = 10**27


def _fr_below_100(n: int, plural_ok: bool = True) -> str:
    if n < 17:
        return _FR_ONES[n]
    if n < 20:
        return "dix-" + _FR_ONES[n - 10]
    tens, ones = divmod(n, 10)
    if tens == 7:
        return "soixante et onze" if ones == 1 else "soixante-" + _fr_below_100(n - 60)
    if tens == 9:
        return "quatre-vingt-" + _fr_below_100(n - 80)
    base = _FR_TENS[tens]
    if ones == 0:
        return "quatre-vingts" if tens == 8 and plural_ok else base
    if ones == 1 and tens != 8:
        return base + " et un"
    return base + "-" + _FR_ONES[ones]


def _fr_below_1000(n: int, plural_ok: bool = True) -> str:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds == 1:
        parts.append("cent")
    elif hundreds:
        parts.append(_FR_ONES[hundreds] + (" cents" if rest == 0 and plural_ok else " cent"))
    if rest:
        parts.append(_fr_below_100(rest, plural_ok))
    return " ".join(parts)


def _fr_below_million(n: int) -> str:
    thousands, rest = divmod(n, 1000)
    parts = []
    if thousands == 1:
        parts.append("mille")
    elif thousands:
        parts.append(_fr_below_1000(thousands, plural_ok=False) + " mille")
    if rest:
        parts.append(_fr_below_1000(rest))
    return " ".join(parts)


def digits_fr(digits: str) -> str:
    """Read digits one by one in French."""
    return " ".join(_FR_ONES[int(ch)] for ch in digits if ch in "0123456789")


def cardinal_fr(n: int) -> str:
    """``81`` → "quatre-vingt-un", ``71`` → "soixante et onze", ``2000`` → "deux mille"."""
    if n < 0:
        return "moins " + cardinal_fr(-n)
    if n == 0:
        return "zéro"
    if n >= _FR_MAX:
        return digits_fr(str(n))
    parts = []
    for value, singular, plural in _FR_LARGE:
        count, n = divmod(n, value)
        if count:
            parts.append(f"un {singular}" if count == 1 else f"{_fr_below_million(count)} {plural}")
    if n:
        parts.append(_fr_below_million(n))
    return " ".join(parts)


def ordinal_fr(n: int, feminine: bool = False) -> str:
    """French ordinal: ``1`` → "premier" ("première"), ``5`` → "cinquième", ``21`` → "vingt et unième"."""
    if n == 1:
        return "première" if feminine else "premier"
    words = cardinal_fr(n)
    if words.endswith("cinq"):
        return words + "uième"
    if words.endswith("neuf"):
        return words[:-1] + "vième"
    if words.endswith(("e", "cents", "vingts")):
        words = words[:-1]
    return words + "ième"


# --------------------------------------------------------------------------------------------- Spanish

_ES_ONES = _split(
    "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciséis "
    "diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés veinticuatro veinticinco "
    "veintiséis veintisiete veintiocho veintinueve"
)
_ES_TENS = {
    3: "treinta",
    4: "cuarenta",
    5: "cincuenta",
    6: "sesenta",
    7: "setenta",
    8: "ochenta",
    9: "noventa",
}
_ES_HUNDREDS = (
    "",
    "ciento",
    "doscientos",
    "trescientos",
    "cuatrocientos",
    "quinientos",
    "seiscientos",
    "setecientos",
    "ochocientos",
    "novecientos",
)
_ES_MAX = 10**24


def _es_apocope(words: str) -> str:
    """Shorten a final "uno" before a noun: "veintiuno" → "veintiún", "treinta y uno" → "treinta y un"."""
    if words.endswith("veintiuno"):
        return words[:-3] + "ún"
    if words.endswith("uno"):
        return words[:-1]
    return words


def _es_below_1000(n: int) -> str:
    if n == 100:
        return "cien"
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(_ES_HUNDREDS[hundreds])
    if rest:
        if rest < 30:
            parts.append(_ES_ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            parts.append(_ES_TENS[tens] + (f" y {_ES_ONES[ones]}" if ones else ""))
    return " ".join(parts)


def _es_below_million(n: int) -> str:
    thousands, rest = divmod(n, 1000)
    parts = []
    if thousands == 1:
        parts.append("mil")
    elif thousands:
        parts.append(_es_apocope(_es_below_1000(thousands)) + " mil")
    if rest:
        parts.append(_es_below_1000(rest))
    return " ".join(parts)


def digits_es(digits: str) -> str:
    """Read digits one by one in Spanish."""
    return " ".join(_ES_ONES[int(ch)] for ch in digits if ch in "0123456789")


def cardinal_es(n: int) -> str:
    """``21000`` → "veintiún mil", ``1000000000`` → "mil millones" (long scale: 10¹² is "un billón")."""
    if n < 0:
        return "menos " + cardinal_es(-n)
    if n == 0:
        return "cero"
    if n >= _ES_MAX:
        return digits_es(str(n))
    parts = []
    for value, singular, plural in ((10**18, "trillón", "trillones"), (10**12, "billón", "billones")):
        count, n = divmod(n, value)
        if count:
            parts.append(f"un {singular}" if count == 1 else f"{_es_apocope(cardinal_es(count))} {plural}")
    millions, n = divmod(n, 10**6)
    if millions:
        parts.append("un millón" if millions == 1 else f"{_es_apocope(_es_below_million(millions))} millones")
    if n:
        parts.append(_es_below_million(n))
    return " ".join(parts)


def cardinal_before_noun_es(n: int) -> str:
    """The cardinal as it stands before a masculine noun: ``1`` → "un", ``21`` → "veintiún"."""
    return _es_apocope(cardinal_es(n))


def cardinal_before_noun_de(n: int) -> str:
    """The cardinal as it stands before a noun: ``1`` → "ein", ``101`` → "einhundertein"."""
    words = cardinal_de(n)
    return words[:-1] if words.endswith("eins") else words


# --------------------------------------------------------------------------------------------- dispatch

CARDINALS: dict[str, Callable[[int], str]] = {
    "en": cardinal_en,
    "de": cardinal_de,
    "fr": cardinal_fr,
    "es": cardinal_es,
}
DIGITS: dict[str, Callable[[str], str]] = {"en": digits_en, "de": digits_de, "fr": digits_fr, "es": digits_es}


def cardinal(n: int, language: str = "en") -> str:
    """Spell ``n`` in ``language`` ("en", "de", "fr" or "es"; anything else falls back to English)."""
    return CARDINALS.get(language, cardinal_en)(n)


def month_name_en(month: int) -> str:
    """``3`` → "March" (1-based)."""
    return _EN_MONTHS[month - 1]


# --------------------------------------------------------------------------------------------- Roman numerals

_ROMAN_VALUES = (
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
)


def to_roman(n: int) -> str:
    """``1994`` → ``"MCMXCIV"`` (1..3999)."""
    out = []
    for value, letters in _ROMAN_VALUES:
        count, n = divmod(n, value)
        out.append(letters * count)
    return "".join(out)


def parse_roman(numeral: str) -> int | None:
    """The value of a canonical upper-case Roman numeral, or None when ``numeral`` is not one."""
    if not numeral or len(numeral) > 15 or any(ch not in "IVXLCDM" for ch in numeral):
        return None
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(numeral):
        value = values[ch]
        if i + 1 < len(numeral) and values[numeral[i + 1]] > value:
            total -= value
        else:
            total += value
    if not 0 < total < 4000 or to_roman(total) != numeral:
        return None
    return total
