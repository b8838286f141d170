"""Per-language word lists the normaliser speaks with: number spellers, currencies, symbols, times and dates.

A :class:`Lexicon` exists for English, German, French and Spanish. Languages without one get only the
language-independent clean-ups (see :mod:`chorus.text.normalize`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chorus.text import numbers as num


def _split(words: str) -> tuple[str, ...]:
    """A tuple of the whitespace-separated words in ``words`` (keeps long word lists readable)."""
    return tuple(words.split())


@dataclass(frozen=True)
class Currency:
    """How a currency is read: main unit and (when it has one) its hundredth."""

    singular: str
    plural: str
    sub_singular: str | None = None
    sub_plural: str | None = None


@dataclass(frozen=True)
class Lexicon:
    """Everything language-specific the rules need. ``words`` holds symbol names keyed by role."""

    code: str
    cardinal: Callable[[int], str]
    cardinal_before_noun: Callable[[int], str]
    digits: Callable[[str], str]
    year: Callable[[int], str]
    time: Callable[[int, int, int | None], str]
    date: Callable[[int, int, int | None, bool], str]  # (day, month, year, day_first)
    decimal_sep: str  # "." or ","
    group_seps: str  # characters that may separate thousands
    minus: str
    point: str
    percent: str
    range_to: str
    money_and: str
    months: tuple[str, ...]
    currencies: Mapping[str, Currency]
    scales: Mapping[str, tuple[str, str]]  # "million" → (singular, plural)
    words: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- English


def _time_en(hour: int, minute: int, second: int | None) -> str:
    hours = num.cardinal_en(hour)
    if minute == 0:
        spoken = f"{hours} o'clock" if 1 <= hour <= 12 and second is None else f"{hours} hundred"
    elif minute < 10:
        spoken = f"{hours} oh {num.cardinal_en(minute)}"
    else:
        spoken = f"{hours} {num.cardinal_en(minute)}"
    if second is not None:
        spoken += f" and {num.cardinal_en(second)} second{'s' if second != 1 else ''}"
    return spoken


def _date_en(day: int, month: int, year: int | None, day_first: bool) -> str:
    month_name = num.month_name_en(month)
    spoken = (
        f"the {num.ordinal_en(day)} of {month_name}" if day_first else f"{month_name} {num.ordinal_en(day)}"
    )
    return spoken if year is None else f"{spoken}, {num.year_en(year)}"


_EN_CURRENCIES = {
    "$": Currency("dollar", "dollars", "cent", "cents"),
    "US$": Currency("U S dollar", "U S dollars", "cent", "cents"),
    "USD": Currency("U S dollar", "U S dollars", "cent", "cents"),
    "C$": Currency("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "CAD": Currency("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "A$": Currency("Australian dollar", "Australian dollars", "cent", "cents"),
    "AUD": Currency("Australian dollar", "Australian dollars", "cent", "cents"),
    "NZ$": Currency("New Zealand dollar", "New Zealand dollars", "cent", "cents"),
    "NZD": Currency("New Zealand dollar", "New Zealand dollars", "cent", "cents"),
    "HK$": Currency("Hong Kong dollar", "Hong Kong dollars", "cent", "cents"),
    "HKD": Currency("Hong Kong dollar", "Hong Kong dollars", "cent", "cents"),
    "€": Currency("euro", "euros", "cent", "cents"),
    "EUR": Currency("euro", "euros", "cent", "cents"),
    "£": Currency("pound", "pounds", "penny", "pence"),
    "GBP": Currency("pound", "pounds", "penny", "pence"),
    "¥": Currency("yen", "yen"),
    "JPY": Currency("yen", "yen"),
    "CNY": Currency("yuan", "yuan"),
    "₹": Currency("rupee", "rupees", "paisa", "paise"),
    "INR": Currency("rupee", "rupees", "paisa", "paise"),
    "₩": Currency("won", "won"),
    "KRW": Currency("won", "won"),
    "₽": Currency("ruble", "rubles", "kopek", "kopeks"),
    "RUB": Currency("ruble", "rubles", "kopek", "kopeks"),
    "CHF": Currency("Swiss franc", "Swiss francs", "centime", "centimes"),
    "MXN": Currency("Mexican peso", "Mexican pesos", "centavo", "centavos"),
    "₿": Currency("bitcoin", "bitcoins"),
    "BTC": Currency("bitcoin", "bitcoins"),
    "¢": Currency("cent", "cents"),
}

_COMMON_SYMBOL_WORDS_EN = {
    "and": "and",
    "plus": "plus",
    "equals": "equals",
    "at": "at",
    "dot": "dot",
    "slash": "slash",
    "dash": "dash",
    "underscore": "underscore",
    "colon": "colon",
    "question": "question mark",
    "hash": "hash",
    "hashtag": "hashtag",
    "number": "number",
    "tilde": "tilde",
    "times": "times",
    "by": "by",
    "divided_by": "divided by",
    "plus_minus": "plus or minus",
    "approximately": "approximately",
    "about": "about",
    "not_equal": "is not equal to",
    "less_equal": "less than or equal to",
    "greater_equal": "greater than or equal to",
    "less": "less than",
    "greater": "greater than",
    "degrees": "degrees",
    "section": "section",
    "paragraph": "paragraph",
    "copyright": "copyright",
    "power": "to the power of",
    "version": "version",
    "with": "with",
    "without": "without",
    "care_of": "care of",
}

ENGLISH = Lexicon(
    code="en",
    cardinal=num.cardinal_en,
    cardinal_before_noun=num.cardinal_en,
    digits=num.digits_en,
    year=num.year_en,
    time=_time_en,
    date=_date_en,
    decimal_sep=".",
    group_seps=",",
    minus="minus",
    point="point",
    percent="percent",
    range_to="to",
    money_and="and",
    months=tuple(num.month_name_en(m) for m in range(1, 13)),
    currencies=_EN_CURRENCIES,
    scales={
        "thousand": ("thousand", "thousand"),
        "million": ("million", "million"),
        "billion": ("billion", "billion"),
        "trillion": ("trillion", "trillion"),
    },
    words=_COMMON_SYMBOL_WORDS_EN,
)

# --------------------------------------------------------------------------------------------- German


def _time_de(hour: int, minute: int, second: int | None) -> str:
    hours = "ein" if hour == 1 else num.cardinal_de(hour)
    spoken = f"{hours} Uhr" + (f" {num.cardinal_de(minute)}" if minute else "")
    if second is not None:
        spoken += f" und {num.cardinal_de(second)} Sekunde{'n' if second != 1 else ''}"
    return spoken


_DE_MONTHS = _split("Januar Februar März April Mai Juni Juli August September Oktober November Dezember")


def _date_de(day: int, month: int, year: int | None, day_first: bool) -> str:
    spoken = f"{num.ordinal_de(day)} {_DE_MONTHS[month - 1]}"
    return spoken if year is None else f"{spoken} {num.year_de(year)}"


GERMAN = Lexicon(
    code="de",
    cardinal=num.cardinal_de,
    cardinal_before_noun=num.cardinal_before_noun_de,
    digits=num.digits_de,
    year=num.year_de,
    time=_time_de,
    date=_date_de,
    decimal_sep=",",
    group_seps=".\u00a0\u202f",
    minus="minus",
    point="Komma",
    percent="Prozent",
    range_to="bis",
    money_and="und",
    months=tuple(_DE_MONTHS),
    currencies={
        "€": Currency("Euro", "Euro", "Cent", "Cent"),
        "EUR": Currency("Euro", "Euro", "Cent", "Cent"),
        "$": Currency("Dollar", "Dollar", "Cent", "Cent"),
        "USD": Currency("US-Dollar", "US-Dollar", "Cent", "Cent"),
        "£": Currency("Pfund", "Pfund", "Penny", "Pence"),
        "GBP": Currency("Pfund", "Pfund", "Penny", "Pence"),
        "¥": Currency("Yen", "Yen"),
        "CHF": Currency("Franken", "Franken", "Rappen", "Rappen"),
    },
    scales={
        "thousand": ("tausend", "tausend"),
        "million": ("Million", "Millionen"),
        "billion": ("Milliarde", "Milliarden"),
        "trillion": ("Billion", "Billionen"),
    },
    words={
        "and": "und",
        "plus": "plus",
        "equals": "gleich",
        "at": "at",
        "dot": "Punkt",
        "slash": "Schrägstrich",
        "dash": "Bindestrich",
        "underscore": "Unterstrich",
        "colon": "Doppelpunkt",
        "question": "Fragezeichen",
        "hash": "Raute",
        "hashtag": "Hashtag",
        "number": "Nummer",
        "tilde": "Tilde",
        "times": "mal",
        "by": "mal",
        "divided_by": "geteilt durch",
        "plus_minus": "plus minus",
        "approximately": "ungefähr",
        "about": "etwa",
        "not_equal": "ungleich",
        "less_equal": "kleiner gleich",
        "greater_equal": "größer gleich",
        "less": "kleiner als",
        "greater": "größer als",
        "degrees": "Grad",
        "section": "Paragraph",
        "paragraph": "Absatz",
        "copyright": "Copyright",
        "power": "hoch",
        "version": "Version",
    },
)

# --------------------------------------------------------------------------------------------- French


def _time_fr(hour: int, minute: int, second: int | None) -> str:
    hours = "une heure" if hour == 1 else f"{num.cardinal_fr(hour)} heures"
    spoken = hours + (f" {num.cardinal_fr(minute)}" if minute else "")
    if second is not None:
        spoken += f" et {num.cardinal_fr(second)} seconde{'s' if second > 1 else ''}"
    return spoken


_FR_MONTHS = _split("janvier février mars avril mai juin juillet août septembre octobre novembre décembre")


def _date_fr(day: int, month: int, year: int | None, day_first: bool) -> str:
    spoken = f"{'premier' if day == 1 else num.cardinal_fr(day)} {_FR_MONTHS[month - 1]}"
    return spoken if year is None else f"{spoken} {num.cardinal_fr(year)}"


FRENCH = Lexicon(
    code="fr",
    cardinal=num.cardinal_fr,
    cardinal_before_noun=num.cardinal_fr,
    digits=num.digits_fr,
    year=num.cardinal_fr,
    time=_time_fr,
    date=_date_fr,
    decimal_sep=",",
    group_seps=" .\u00a0\u202f",
    minus="moins",
    point="virgule",
    percent="pour cent",
    range_to="à",
    money_and="et",
    months=tuple(_FR_MONTHS),
    currencies={
        "€": Currency("euro", "euros", "centime", "centimes"),
        "EUR": Currency("euro", "euros", "centime", "centimes"),
        "$": Currency("dollar", "dollars", "cent", "cents"),
        "USD": Currency("dollar américain", "dollars américains", "cent", "cents"),
        "£": Currency("livre", "livres", "penny", "pence"),
        "GBP": Currency("livre sterling", "livres sterling", "penny", "pence"),
        "¥": Currency("yen", "yens"),
        "CHF": Currency("franc suisse", "francs suisses", "centime", "centimes"),
    },
    scales={
        "thousand": ("mille", "mille"),
        "million": ("million", "millions"),
        "billion": ("milliard", "milliards"),
        "trillion": ("billion", "billions"),
    },
    words={
        "and": "et",
        "plus": "plus",
        "equals": "égale",
        "at": "arobase",
        "dot": "point",
        "slash": "barre oblique",
        "dash": "tiret",
        "underscore": "tiret bas",
        "colon": "deux-points",
        "question": "point d'interrogation",
        "hash": "dièse",
        "hashtag": "hashtag",
        "number": "numéro",
        "tilde": "tilde",
        "times": "fois",
        "by": "par",
        "divided_by": "divisé par",
        "plus_minus": "plus ou moins",
        "approximately": "environ",
        "about": "environ",
        "not_equal": "différent de",
        "less_equal": "inférieur ou égal à",
        "greater_equal": "supérieur ou égal à",
        "less": "inférieur à",
        "greater": "supérieur à",
        "degrees": "degrés",
        "section": "paragraphe",
        "paragraph": "alinéa",
        "copyright": "copyright",
        "power": "puissance",
        "version": "version",
    },
)

# --------------------------------------------------------------------------------------------- Spanish


def _time_es(hour: int, minute: int, second: int | None) -> str:
    hours = "una" if hour == 1 else num.cardinal_es(hour)
    spoken = f"{hours} y {num.cardinal_es(minute)}" if minute else f"{hours} en punto"
    if second is not None:
        spoken += f" y {num.cardinal_es(second)} segundo{'s' if second != 1 else ''}"
    return spoken


_ES_MONTHS = _split(
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
)


def _date_es(day: int, month: int, year: int | None, day_first: bool) -> str:
    spoken = f"{num.cardinal_es(day)} de {_ES_MONTHS[month - 1]}"
    return spoken if year is None else f"{spoken} de {num.cardinal_es(year)}"


SPANISH = Lexicon(
    code="es",
    cardinal=num.cardinal_es,
    cardinal_before_noun=num.cardinal_before_noun_es,
    digits=num.digits_es,
    year=num.cardinal_es,
    time=_time_es,
    date=_date_es,
    decimal_sep=",",
    group_seps=".\u00a0\u202f",
    minus="menos",
    point="coma",
    percent="por ciento",
    range_to="a",
    money_and="con",
    months=tuple(_ES_MONTHS),
    currencies={
        "€": Currency("euro", "euros", "céntimo", "céntimos"),
        "EUR": Currency("euro", "euros", "céntimo", "céntimos"),
        "$": Currency("dólar", "dólares", "centavo", "centavos"),
        "USD": Currency("dólar estadounidense", "dólares estadounidenses", "centavo", "centavos"),
        "£": Currency("libra", "libras", "penique", "peniques"),
        "GBP": Currency("libra esterlina", "libras esterlinas", "penique", "peniques"),
        "¥": Currency("yen", "yenes"),
        "MXN": Currency("peso mexicano", "pesos mexicanos", "centavo", "centavos"),
    },
    scales={
        "thousand": ("mil", "mil"),
        "million": ("millón", "millones"),
        "billion": ("mil millones", "mil millones"),
        "trillion": ("billón", "billones"),
    },
    words={
        "and": "y",
        "plus": "más",
        "equals": "igual a",
        "at": "arroba",
        "dot": "punto",
        "slash": "barra",
        "dash": "guion",
        "underscore": "guion bajo",
        "colon": "dos puntos",
        "question": "signo de interrogación",
        "hash": "almohadilla",
        "hashtag": "hashtag",
        "number": "número",
        "tilde": "tilde",
        "times": "por",
        "by": "por",
        "divided_by": "dividido por",
        "plus_minus": "más o menos",
        "approximately": "aproximadamente",
        "about": "aproximadamente",
        "not_equal": "distinto de",
        "less_equal": "menor o igual que",
        "greater_equal": "mayor o igual que",
        "less": "menor que",
        "greater": "mayor que",
        "degrees": "grados",
        "section": "sección",
        "paragraph": "párrafo",
        "copyright": "copyright",
        "power": "elevado a",
        "version": "versión",
    },
)

LEXICONS: dict[str, Lexicon] = {lex.code: lex for lex in (ENGLISH, GERMAN, FRENCH, SPANISH)}


def language_key(language: str | None) -> str | None:
    """The two-letter key of a language tag: ``"en-US"`` → "en", ``"pt_BR"`` → "pt", ``None`` → "en".

    ``None`` (no language given) is read as English, the language every premade voice speaks.
    """
    if language is None:
        return "en"
    key = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return {"eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es"}.get(
        key, key
    ) or None


def lexicon_for(language: str | None) -> Lexicon | None:
    """The :class:`Lexicon` for ``language``, or None when only language-independent rules apply."""
    key = language_key(language)
    return LEXICONS.get(key) if key else None
