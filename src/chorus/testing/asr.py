"""An independent recogniser for tests: PocketSphinx transcription and word error rate.

PocketSphinx (CMU's HMM recogniser, with the US English model shipped in its wheel) shares no code
or data with the synthesisers under test, which makes it a fair, if strict, judge of intelligibility.
It is a test dependency only (``pip install chorus[test]``); import this module from tests.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from typing import Any

import numpy as np

ASR_SAMPLE_RATE = 16_000

_decoder_lock = threading.Lock()


@functools.cache
def _decoder() -> Any:
    # Loading the acoustic model and language model takes about half a second, so one decoder is
    # built on first use and reused; decoding is serialised because a Decoder is not thread-safe.
    from pocketsphinx import Decoder

    return Decoder(samprate=ASR_SAMPLE_RATE, loglevel="FATAL")


def transcribe(pcm_int16: np.ndarray, sample_rate: int) -> str:
    """Transcribe mono int16 speech at ``sample_rate`` with PocketSphinx's default US English model.

    The audio is resampled to 16 kHz (soxr, high quality) and decoded as one utterance. Returns the
    lowercase hypothesis, or "" when nothing was recognised.
    """
    samples = np.asarray(pcm_int16)
    if samples.ndim != 1:
        samples = samples.reshape(-1)
    if samples.dtype != np.int16:
        samples = np.clip(np.round(samples), -32768, 32767).astype(np.int16)
    if sample_rate != ASR_SAMPLE_RATE and samples.size:
        import soxr

        resampled = soxr.resample(samples.astype(np.float32), sample_rate, ASR_SAMPLE_RATE, quality="HQ")
        samples = np.clip(np.round(resampled), -32768, 32767).astype(np.int16)
    if not samples.size:
        return ""
    with _decoder_lock:
        decoder = _decoder()
        decoder.start_utt()
        decoder.process_raw(samples.astype("<i2").tobytes(), no_search=False, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
    return hypothesis.hypstr.strip().lower() if hypothesis is not None else ""


# --- word error rate ---------------------------------------------------------------------------

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def _number_words(n: int) -> list[str]:
    """English words for 0 <= n < 10**9 ("2024" → two thousand twenty four)."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [_TENS[tens]] + ([_ONES[ones]] if ones else [])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return [_ONES[hundreds], "hundred"] + (_number_words(rest) if rest else [])
    for size, word in ((10**6, "million"), (1000, "thousand")):
        if n >= size:
            high, rest = divmod(n, size)
            return _number_words(high) + [word] + (_number_words(rest) if rest else [])
    raise ValueError(n)  # unreachable


_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                      "nine": "ninth", "twelve": "twelfth"}  # fmt: skip


def _ordinal_words(n: int) -> list[str]:
    """English ordinal words ("21" → twenty first)."""
    words = _number_words(n)
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return words


def normalize_words(text: str) -> list[str]:
    """Words for scoring: lowercase, accents and punctuation removed, numbers spelt out.

    Apostrophes inside words are kept ("don't"), hyphens and slashes separate words, and digit runs
    become words ("42" → "forty two", "3rd" → "third") so a recogniser's spelling of numbers is not
    an error.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("’", "'").replace("‘", "'")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 → 1000
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    words: list[str] = []
    for token in text.split():
        token = token.strip("'")
        if not token:
            continue
        for part in re.findall(r"\d+(?:st|nd|rd|th)\b|\d+|[a-z']+", token):
            if part[:1].isdigit() and not part.isdigit() and len(part) < 12:
                words.extend(_ordinal_words(int(part[:-2])))
            elif part.isdigit():
                words.extend(_number_words(int(part)) if len(part) < 10 else list(part))
            else:
                words.append(part)
    return words


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, number of reference words) after :func:`normalize_words`."""
    reference, hypothesis = normalize_words(ref), normalize_words(hyp)
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_word in enumerate(hypothesis, start=1):
            current[j] = min(
                previous[j] + 1,  # deletion
                current[j - 1] + 1,  # insertion
                previous[j - 1] + (ref_word != hyp_word),  # substitution or match
            )
        previous = current
    return previous[-1], len(reference)


def word_error_rate(ref: str, hyp: str) -> float:
    """Word error rate of ``hyp`` against ``ref``: (substitutions + deletions + insertions) / ref words.

    An empty reference scores 0.0 against an empty hypothesis and 1.0 against anything else.
    """
    errors, total = word_errors(ref, hyp)
    if total == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / total
