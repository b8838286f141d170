"""Forced alignment use case: decode the upload, charge by duration, align in a worker thread, shape the body.

Response (``ForcedAlignmentResponseModel``):

* ``words``: one entry per whitespace-separated token of the request's text, exactly as written (punctuation
  attached: ``"Hello,"``), with ``start``/``end`` in seconds and ``loss``. A token covers the spoken words
  read from it ("$5.50" → "five dollars and fifty cents"); several tokens read as one unit ("10:30 am")
  share that unit's time in proportion to their length. A token with nothing to say ("-", "...") takes no
  time: it starts and ends where the previous token ended.
* ``characters``: every character of the text, spaces and punctuation included, in order, so that joining
  their ``text`` gives the request's text back. Letters share their spoken word's time in equal steps;
  punctuation inside a token sits at the edge of the word it is attached to (zero length); the characters
  between two tokens share the pause between them.
* ``loss`` per word: the frame-weighted mean of its spoken words' acoustic cost (nats per 10 ms frame, see
  :mod:`chorus.stt.align`; 0 for a token with nothing to say, :data:`~chorus.stt.align.UNALIGNED_LOSS` when
  the aligner could not place it); overall ``loss``: the mean over every character of the text that belongs
  to a word, each carrying its word's loss (so long words weigh more, as the API describes it: "calculated
  from all characters").

Charged like speech to text: one credit unit per started second of audio, at ``scribe_v1``'s rate, recorded
as product ``forced_alignment``.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chorus.config import Settings
from chorus.engines.base import EngineBusy
from chorus.errors import BadRequest, EngineMissing, ServiceUnavailable
from chorus.services.accounts import Principal
from chorus.services.alignment import TimedSpan, align_characters, merge_by_original
from chorus.services.credits import CreditService

CREDIT_MODEL_ID = "scribe_v1"  # "Forced Alignment costs the same as the Speech to Text API"
MAX_TEXT_CHARS = 675_000  # ElevenLabs' documented maximum
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class AlignmentRequest:
    audio: bytes
    text: str


class ForcedAlignmentService:
    def __init__(
        self, credits: CreditService, settings: Settings, aligner: Any, executor: ThreadPoolExecutor
    ) -> None:
        self._credits = credits
        self._settings = settings
        self._aligner = aligner
        self._executor = executor

    def close(self) -> None:
        close = getattr(self._aligner, "close", None)
        if close is not None:
            close()

    async def align(self, principal: Principal, request: AlignmentRequest) -> dict[str, Any]:
        from chorus.stt.align import MAX_AUDIO_S, MIN_AUDIO_S, AlignmentInputError
        from chorus.stt.audio_input import UndecodableAudio, decode_any
        from chorus.stt.base import STTUnavailable

        text = request.text
        if not text.strip():
            raise BadRequest("text must not be empty.", status="invalid_text")
        if len(text) > MAX_TEXT_CHARS:
            raise BadRequest(
                f"text is {len(text)} characters long; at most {MAX_TEXT_CHARS} are allowed.",
                status="text_too_long",
            )
        aligner = self._aligner
        reason = (
            aligner.unavailable_reason() if aligner is not None else "no forced alignment engine configured"
        )
        if reason is not None:
            raise EngineMissing(f"Forced alignment is not available: {reason}")
        loop = asyncio.get_running_loop()
        try:
            pcm, rate = await loop.run_in_executor(self._executor, decode_any, request.audio, MAX_AUDIO_S)
        except UndecodableAudio as exc:
            raise BadRequest(
                f"The file could not be decoded as audio: {exc}", status="invalid_audio"
            ) from None
        duration = len(pcm) / 2 / rate
        if duration < MIN_AUDIO_S:
            raise BadRequest("The audio must be at least 100 ms long.", status="audio_too_short")
        charge = await self._credits.charge(
            principal, max(1, math.ceil(duration)), model_id=CREDIT_MODEL_ID, product="forced_alignment"
        )
        try:
            alignment = await loop.run_in_executor(self._executor, aligner.align, pcm, rate, text)
        except AlignmentInputError as exc:
            await asyncio.shield(self._credits.refund(charge))
            raise BadRequest(str(exc), status="invalid_alignment_input") from None
        except STTUnavailable as exc:
            await asyncio.shield(self._credits.refund(charge))
            raise EngineMissing(f"Forced alignment is not available: {exc}") from None
        except EngineBusy as exc:
            await asyncio.shield(self._credits.refund(charge))
            raise ServiceUnavailable(f"Forced alignment is busy: {exc}", status="engine_busy") from None
        except BaseException:
            await asyncio.shield(self._credits.refund(charge))
            raise
        return shape_response(text, alignment.words)


def shape_response(text: str, words: Any) -> dict[str, Any]:
    """The ``ForcedAlignmentResponseModel`` body for ``text`` and its aligned spoken words
    (:class:`chorus.stt.align.AlignedWord`: original ``char_start``/``char_end``, times, ``loss``,
    ``frames``)."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    units = sorted(words, key=lambda w: (w.char_start, w.start_s))
    unit_starts = [u.char_start for u in units]

    # The spoken words behind each token (a word belongs to every token its original range overlaps).
    reach = list(itertools.accumulate((u.char_end for u in units), max))
    members: list[tuple[int, ...]] = []
    for start, end in tokens:
        lo, hi = bisect.bisect_right(reach, start), bisect.bisect_left(unit_starts, end)
        members.append(tuple(i for i in range(lo, hi) if units[i].char_end > start))

    # Times and loss per token; tokens sharing exactly the same spoken words split that time by length.
    timed: list[tuple[float, float, float]] = []
    k = 0
    previous_end = 0.0
    while k < len(tokens):
        group_end = k + 1
        if members[k]:
            while group_end < len(tokens) and members[group_end] == members[k]:
                group_end += 1
        if not members[k]:
            timed.append((previous_end, previous_end, 0.0))
            k += 1
            continue
        spoken = [units[i] for i in members[k]]
        start_s = max(previous_end, min(u.start_s for u in spoken))
        end_s = max(start_s, max(u.end_s for u in spoken))
        frames = sum(max(1, u.frames) for u in spoken)
        loss = sum(u.loss * max(1, u.frames) for u in spoken) / frames
        lengths = [tokens[j][1] - tokens[j][0] for j in range(k, group_end)]
        clock = start_s
        for length in lengths:
            step = (end_s - start_s) * length / sum(lengths)
            timed.append((clock, clock + step, loss))
            clock += step
        previous_end = end_s
        k = group_end

    # Characters: inside a token, its spoken words' own ranges (merged where one rewrite became several
    # words); between tokens, the pause.
    chars: list[dict[str, Any]] = []

    def add(alignment: Any) -> None:
        for ch, s, e in zip(alignment.chars, alignment.starts, alignment.ends, strict=True):
            chars.append({"text": ch, "start": round(s, 3), "end": round(e, 3)})

    cursor, clock = 0, 0.0
    for (start, end), (start_s, end_s, _), member in zip(tokens, timed, members, strict=True):
        add(align_characters(text, cursor, start, [], clock, start_s))
        spans = merge_by_original(
            [
                TimedSpan(units[i].char_start, units[i].char_end, units[i].start_s, units[i].end_s)
                for i in member
            ]
        )
        inner = [TimedSpan(s.start, s.end, max(s.start_s, start_s), min(s.end_s, end_s)) for s in spans]
        add(align_characters(text, start, end, inner, start_s, end_s))
        cursor, clock = end, end_s
    add(align_characters(text, cursor, len(text), [], clock, clock))

    word_items = [
        {"text": text[s:e], "start": round(t0, 3), "end": round(t1, 3), "loss": round(loss, 4)}
        for (s, e), (t0, t1, loss) in zip(tokens, timed, strict=True)
    ]
    weighted = [
        (loss, sum(ch.isalnum() for ch in text[s:e]))
        for (s, e), (_, _, loss) in zip(tokens, timed, strict=True)
    ]
    weight = sum(w for _, w in weighted)
    overall = sum(loss * w for loss, w in weighted) / weight if weight else 0.0
    return {"characters": chars, "words": word_items, "loss": round(overall, 4)}


def build_forced_alignment_service(
    credits: CreditService, settings: Settings, executor: ThreadPoolExecutor
) -> ForcedAlignmentService:
    """The service with the embedded pocketsphinx aligner (decoders are made on first use)."""
    from chorus.stt.align import ForcedAligner

    return ForcedAlignmentService(credits, settings, ForcedAligner(), executor)
