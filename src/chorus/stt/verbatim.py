"""``no_verbatim``: drop filler words, false starts, stutters and non-speech tags from recognised words.

The API promises a transcript "without filler words, false starts and non-speech sounds". This works on the
engine's :class:`~chorus.stt.base.Word` list before the response is shaped, so every kept word keeps its own
start, end and logprob. It handles lower-case engine output without punctuation (pocketsphinx) and cased,
punctuated output (neural engines): words are compared with case and edge punctuation removed.

What is removed (and what deliberately is not):

- Fillers: ``um``, ``uh``, ``er``, ``erm``, ``ah``, ``hmm``, ``mm`` and their lengthened spellings. ``mhm``
  and ``uh-huh`` stay: they answer something. ``like``, ``well``, ``so`` and ``actually`` stay: telling the
  filler use from the real one needs more than the words.
- ``you know`` / ``I mean`` only when commas or sentence punctuation set them off in cased text (``It was,
  you know, fine``); lower-case text has no commas to tell, so there they stay.
- Non-speech tags such as ``(laughter)``, ``[noise]``, ``<unk>`` and word fragments cut off with a hyphen
  (``w-``, ``I-``) before another word.
- Immediate repetitions: ``the the`` → ``the``; a repeated phrase of up to four words (``i want to i want to
  go`` → ``i want to go``); and a restart that repeats at least three words after abandoning one or two
  (``i went to the i went to a store`` → ``i went to a store``). Kept: repeats separated by sentence
  punctuation (``No. No.``), numbers read out (``five five five``), and doubles that carry meaning or grammar
  (``very very``, ``bye bye``, ``no no``, ``had had``, ``that that``, ``is is``).

When a removed word carried the sentence's capital or its final punctuation, they move to the neighbouring
kept word (``Um, so we went.`` → ``So we went.``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from chorus.stt.base import Word


def _split(text: str) -> list[str]:
    """Whitespace-separated words (a function so the word lists stay readable strings)."""
    return text.split()


_FILLER_RE = re.compile(r"u+h+|u+m+|u+h+m+|e+r+|e+r+m+|a+h+|h+m+|mm+")
_NON_SPEECH_RE = re.compile(r"[(\[<{].*[)\]>}]|\+\+.*\+\+")
_EDGE_PUNCT = ".,!?;:\"'“”‘’…"
_SENTENCE_END = ".?!…"
_NUMBER_WORDS = frozenset(
    _split(
        "zero oh o one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
        "ninety hundred thousand million billion double triple"
    )
)
# Doubles that mean something ("very very good", "bye bye") or are grammatical ("I had had enough").
_KEEP_DOUBLE = frozenset(
    _split(
        "very really so no yes yeah yep nope bye now there well ha haha he hee ho blah bla la na "
        "knock tut hush chop night many much more again far long round over on out up down away hear "
        "please go come wait stop help fast slow ok okay hey hi oh too had that is do did can tick "
        "tock ding dong choo boo bang hip ah aw quick run yay wow"
    )
)
_DISCOURSE = (("you", "know"), ("i", "mean"))


def _key(text: str) -> str:
    return text.strip().strip(_EDGE_PUNCT).lower().replace("’", "'")


def _trailing_punct(text: str) -> str:
    stripped = text.rstrip(_EDGE_PUNCT.replace("'", "").replace("’", ""))
    return text[len(stripped) :].strip("\"'“”‘’")


def _ends_with(text: str, marks: str) -> bool:
    """Whether the word's trailing punctuation ends with one of ``marks``."""
    punct = _trailing_punct(text)
    return bool(punct) and punct[-1] in marks


def _is_filler(text: str) -> bool:
    return bool(_FILLER_RE.fullmatch(_key(text)))


def _is_number(key: str) -> bool:
    return key in _NUMBER_WORDS or bool(re.fullmatch(r"[\d.,:/-]+", key))


def clean_words(words: Sequence[Word]) -> list[Word]:
    """The words without fillers, false starts and repetitions (see the module docstring); kept words keep
    their timings. Pure and deterministic."""
    kept: list[Word] = list(words)
    removed: list[bool] = [False] * len(kept)
    keys = [_key(w.text) for w in kept]

    # Non-speech tags, fillers, fragments, and set-off "you know" / "I mean".
    for i, word in enumerate(kept):
        raw = word.text.strip()
        if not keys[i] and not raw.strip(_EDGE_PUNCT) or _NON_SPEECH_RE.fullmatch(raw):
            removed[i] = True
        elif _is_filler(raw) and not (keys[i] == "uh" and i + 1 < len(kept) and keys[i + 1] == "huh"):
            removed[i] = True  # "uh huh" is an answer, not a filler
        elif re.fullmatch(r"[^\W\d_]+[-—–]", raw) and i + 1 < len(kept):
            removed[i] = True
    for i in range(len(kept) - 1):
        pair = (keys[i], keys[i + 1])
        if pair not in _DISCOURSE or removed[i] or removed[i + 1]:
            continue
        before = next((kept[k].text for k in range(i - 1, -1, -1) if not removed[k]), None)
        # Only punctuation tells the filler use apart: "It was, you know, fine." / "You know, it's fine."
        set_off_before = _ends_with(before, ",.?!;:") if before is not None else kept[i].text[:1].isupper()
        set_off_after = _ends_with(kept[i + 1].text, ",.?!;:")
        if set_off_before and set_off_after:
            removed[i] = removed[i + 1] = True

    out = _transfer([(w, r) for w, r in zip(kept, removed, strict=True)])
    # Repetitions and restarts, repeated until nothing changes (a stutter can hide a restart).
    while True:
        pruned = _drop_repeats(out)
        if len(pruned) == len(out):
            return out
        out = pruned


def _drop_repeats(words: list[Word]) -> list[Word]:
    keys = [_key(w.text) for w in words]
    n = len(words)
    drop = [False] * n

    def ends_sentence(k: int) -> bool:
        return _ends_with(words[k].text, _SENTENCE_END)

    i = 0
    while i < n:
        done = False
        # Exact repeats of 4, 3, 2 and 1 words: drop the first copy.
        for size in (4, 3, 2, 1):
            a, b = keys[i : i + size], keys[i + size : i + 2 * size]
            if len(b) < size or a != b or not all(a):
                continue
            if any(_is_number(k) for k in a) or ends_sentence(i + size - 1):
                continue
            if all(k in _KEEP_DOUBLE for k in a):
                continue
            for k in range(i, i + size):
                drop[k] = True
            i += size
            done = True
            break
        if done:
            continue
        # A restart: at least three words repeated after one or two abandoned words.
        for size in (5, 4, 3):
            head = keys[i : i + size]
            if len(head) < size or not all(head) or any(_is_number(k) for k in head):
                continue
            for abandoned in (1, 2):
                j = i + size + abandoned
                if keys[j : j + size] == head and not any(ends_sentence(k) for k in range(i, j)):
                    for k in range(i, j):
                        drop[k] = True
                    i = j
                    done = True
                    break
            if done:
                break
        if not done:
            i += 1
    if not any(drop):
        return words
    return _transfer(list(zip(words, drop, strict=True)))


def _transfer(marked: list[tuple[Word, bool]]) -> list[Word]:
    """Keep the unmarked words; carry a removed stretch's sentence capital and final punctuation over."""
    out: list[Word] = []
    pending_capital = False
    for k, (word, gone) in enumerate(marked):
        if gone:
            first_of_run = k == 0 or not marked[k - 1][1]
            starts_sentence = not out or _ends_with(out[-1].text, _SENTENCE_END)
            if first_of_run and word.text[:1].isupper() and starts_sentence:
                pending_capital = True
            end = _trailing_punct(word.text)[-1:]
            if end and end in _SENTENCE_END and out and not _trailing_punct(out[-1].text):
                out[-1] = dataclasses.replace(out[-1], text=out[-1].text + end)
            elif end and end in _SENTENCE_END and out and _ends_with(out[-1].text, ",;:"):
                out[-1] = dataclasses.replace(out[-1], text=out[-1].text.rstrip(",;:") + end)
            continue
        if pending_capital:
            text = word.text
            if text[:1].islower():
                word = dataclasses.replace(word, text=text[0].upper() + text[1:])
            pending_capital = False
        out.append(word)
    return _tidy_commas(out, marked)


def _tidy_commas(out: list[Word], marked: list[tuple[Word, bool]]) -> list[Word]:
    """A set-off phrase that was removed leaves its opening comma behind (``It was, fine``): drop it when the
    removed phrase closed with a comma too."""
    kept_index = -1
    fixed = list(out)
    for k, (word, gone) in enumerate(marked):
        if not gone:
            kept_index += 1
            continue
        last_of_run = k + 1 == len(marked) or not marked[k + 1][1]
        if not last_of_run or kept_index < 0:
            continue
        if _ends_with(word.text, ",") and _ends_with(fixed[kept_index].text, ","):
            # Only when the run began right after that comma (a parenthetical), not after a real pause.
            run_start = k
            while run_start > 0 and marked[run_start - 1][1]:
                run_start -= 1
            if run_start > 0 and not marked[run_start - 1][1]:
                fixed[kept_index] = dataclasses.replace(fixed[kept_index], text=fixed[kept_index].text[:-1])
    return fixed
