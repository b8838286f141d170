"""Character alignment: one start and end time per character, built from an engine's word timings.

Engines time words; ElevenLabs clients expect characters. Characters inside a word share the word's
interval in equal steps; characters between words (spaces, punctuation) share the gap between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TimedSpan:
    """A stretch of text (``start``..``end`` character offsets) voiced from ``start_s`` to ``end_s``."""

    start: int
    end: int
    start_s: float
    end_s: float


@dataclass
class CharAlignment:
    chars: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)

    def extend(self, other: CharAlignment) -> None:
        self.chars += other.chars
        self.starts += other.starts
        self.ends += other.ends

    def __len__(self) -> int:
        return len(self.chars)

    def to_http(self) -> dict[str, list]:
        """``CharacterAlignment`` of the HTTP API: seconds."""
        return {
            "characters": list(self.chars),
            "character_start_times_seconds": [round(t, 3) for t in self.starts],
            "character_end_times_seconds": [round(t, 3) for t in self.ends],
        }

    def to_ws(self, origin_s: float = 0.0) -> dict[str, list]:
        """The WebSocket form: camelCase, integer milliseconds relative to ``origin_s``."""
        starts = [max(0, round((t - origin_s) * 1000)) for t in self.starts]
        durations = [max(0, round((e - s) * 1000)) for s, e in zip(self.starts, self.ends, strict=True)]
        return {"chars": list(self.chars), "charStartTimesMs": starts, "charDurationsMs": durations}


def align_characters(
    text: str, start: int, end: int, spans: Sequence[TimedSpan], start_s: float, end_s: float
) -> CharAlignment:
    """Time every character of ``text[start:end]``, which is voiced from ``start_s`` to ``end_s``.

    ``spans`` are the timed words within that range (any order; overlapping or out-of-range ones are
    clipped). The result is monotonic: each character starts where the previous one ended or later.
    """
    result = CharAlignment()
    if end <= start:
        return result
    end_s = max(end_s, start_s)
    words = sorted(
        (TimedSpan(max(s.start, start), min(s.end, end), s.start_s, s.end_s) for s in spans),
        key=lambda s: (s.start, s.end),
    )
    cleaned: list[TimedSpan] = []
    for word in words:
        if word.end <= word.start or (cleaned and word.start < cleaned[-1].end):
            continue
        cleaned.append(word)

    def fill(a: int, b: int, t0: float, t1: float) -> None:
        count = b - a
        if count <= 0:
            return
        t1 = max(t1, t0)
        step = (t1 - t0) / count
        for i in range(count):
            result.chars.append(text[a + i])
            result.starts.append(t0 + step * i)
            result.ends.append(t0 + step * (i + 1))

    cursor, clock = start, start_s
    for word in cleaned:
        word_start = min(max(word.start_s, clock), end_s)
        word_end = min(max(word.end_s, word_start), end_s)
        fill(cursor, word.start, clock, word_start)
        fill(word.start, word.end, word_start, word_end)
        cursor, clock = word.end, word_end
    fill(cursor, end, clock, end_s)
    return result


def merge_by_original(spans: Sequence[TimedSpan]) -> list[TimedSpan]:
    """Join spans that map to overlapping original ranges (e.g. "$5" spoken as "five dollars")."""
    merged: list[TimedSpan] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = TimedSpan(
                last.start,
                max(last.end, span.end),
                min(last.start_s, span.start_s),
                max(last.end_s, span.end_s),
            )
        else:
            merged.append(span)
    return merged
