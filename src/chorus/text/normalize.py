"""Text normalisation: numbers, symbols, abbreviations and addresses rewritten as the words to read aloud.

:func:`normalize` returns the rewritten text together with an offset map (:class:`Span` s) so that timings
computed on the normalised text can be reported against the characters of the original request.

Contract
--------
* ``mode="off"`` returns the text unchanged (one span covering everything).
* ``mode="on"`` and ``mode="auto"`` both normalise. English (and ``language=None``) gets every rule;
  German, French and Spanish get numbers, money, percentages, times, numeric dates, phone numbers,
  addresses and symbols in their own words; any other language gets only language-independent
  clean-ups (repeated punctuation, decorative runs like ``-----``, ``®``/``™``, dashes used as pauses,
  and the scheme/``www.`` stripped from URLs).
* Spans tile both strings in order: the first starts at 0/0, each starts where the previous ended, the
  last ends at ``len(original)``/``len(text)``. Unchanged stretches are spans with equal text on both
  sides; every other span is one rewrite (``"$5.50"`` ↔ ``"five dollars and fifty cents"``), mapped
  as a whole by :meth:`NormalizedText.to_original` (spans whose sides have equal length map character
  for character). Spaces the normaliser inserts between a rewrite and a neighbouring word belong to
  the rewrite's span.
* :func:`normalize` never raises, whatever the input, and is linear-ish in the text length (a 5,000
  character paragraph takes a few milliseconds).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

from chorus.text.rules import Edit, find_edits

NormalizationMode = Literal["auto", "on", "off"]

__all__ = ["NormalizationMode", "NormalizedText", "Span", "normalize"]


@dataclass(frozen=True)
class Span:
    """One piece of the mapping: ``original[orig_start:orig_end]`` became ``text[norm_start:norm_end]``."""

    orig_start: int
    orig_end: int
    norm_start: int
    norm_end: int


@dataclass(frozen=True)
class NormalizedText:
    """What the engine should read (``text``) and how it maps back to the original (``spans``)."""

    text: str
    spans: tuple[Span, ...]
    _norm_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_norm_starts", tuple(span.norm_start for span in self.spans))

    def to_original(self, norm_start: int, norm_end: int) -> tuple[int, int]:
        """Map the normalised range ``[norm_start, norm_end)`` to a range of the original text.

        Inside an unchanged stretch the mapping is character for character; touching any part of a
        rewrite maps to the whole of what it was rewritten from (the words "fifty cents" of
        "five dollars and fifty cents" map to all of "$5.50"). Out-of-range or reversed arguments are
        clamped, so the result always lies within the original text with ``start <= end``.
        """
        spans = self.spans
        if not spans:
            return (0, 0)
        length = len(self.text)
        start = min(max(norm_start, 0), length)
        end = min(max(norm_end, start), length)
        starts = self._norm_starts
        if start >= length:  # past the last character: the end of the original
            point = spans[-1].orig_end
            return (point, point)

        # Spans tile the normalised text, so the last span beginning at or before a position holds it.
        first = spans[bisect.bisect_right(starts, start) - 1]
        orig_start = first.orig_start + (start - first.norm_start) if _is_linear(first) else first.orig_start
        if end == start:
            return (orig_start, orig_start)
        last = spans[bisect.bisect_right(starts, end - 1) - 1]
        orig_end = last.orig_start + (end - last.norm_start) if _is_linear(last) else last.orig_end
        return (orig_start, max(orig_end, orig_start))


def _is_linear(span: Span) -> bool:
    return span.orig_end - span.orig_start == span.norm_end - span.norm_start


def normalize(text: str, language: str | None = "en", mode: NormalizationMode = "auto") -> NormalizedText:
    """Rewrite ``text`` for reading aloud in ``language`` (an ISO 639-1 code or tag such as "en-GB").

    ``language=None`` is read as English. See the module docstring for what each mode and language gets.
    """
    if not isinstance(text, str):
        text = str(text)
    if mode == "off" or not text:
        return _identity(text)
    try:
        edits = find_edits(text, language)
    except Exception:  # a bug in a rule must never cost the request its audio
        edits = []
    if not edits:
        return _identity(text)
    return _apply(text, edits)


def _identity(text: str) -> NormalizedText:
    return NormalizedText(text, (Span(0, len(text), 0, len(text)),))


def _apply(text: str, edits: list[Edit]) -> NormalizedText:
    """Build the normalised string and its spans from sorted, non-overlapping edits."""
    out: list[str] = []
    spans: list[Span] = []
    out_len = 0
    last_char = ""
    cursor = 0
    edit_starts = {start for start, _end, _repl in edits}
    for start, end, replacement in edits:
        if start > cursor:
            chunk = text[cursor:start]
            spans.append(Span(cursor, start, out_len, out_len + len(chunk)))
            out.append(chunk)
            out_len += len(chunk)
            last_char = chunk[-1]
        if replacement:
            if replacement[0].isalnum() and last_char.isalnum():
                replacement = " " + replacement
            if (
                replacement[-1].isalnum()
                and end < len(text)
                and end not in edit_starts
                and text[end].isalnum()
            ):
                replacement += " "
        spans.append(Span(start, end, out_len, out_len + len(replacement)))
        out.append(replacement)
        out_len += len(replacement)
        if replacement:
            last_char = replacement[-1]
        cursor = end
    if cursor < len(text):
        chunk = text[cursor:]
        spans.append(Span(cursor, len(text), out_len, out_len + len(chunk)))
        out.append(chunk)
    return NormalizedText("".join(out), tuple(spans))
