"""Keyterm biasing for pocketsphinx: a small keyterm language model interpolated with the main one.

Pocketsphinx cannot re-weight a word of a loaded (binary, trie) language model in place, but it can score a
*set* of language models by linear interpolation (``ngram_model_set_*``). A request's keyterms become a tiny
ARPA model (:func:`keyterm_arpa`): every word of every keyterm gets probability ``1/V`` (``V`` distinct words)
and each word of a multi-word keyterm predicts the next one with a bigram. A new n-gram search over the set
``{main model, keyterm model}`` is added to the decoder and made its search (``ps_add_lm`` /
``ps_activate_search``); the main model is shared, not copied.

How strong the bias is: pocketsphinx interpolates *weighted* scores, ``log((1-w) P_main^lw + w P_kt^lw)``
(``lw`` is the language weight), so a keyterm word scores at least as well as a word of probability
``w^(1/lw) P_kt`` while every other word loses only ``log(1-w)``, a negligible constant. The weight is set
from a target instead: ``boost`` is the log10 probability floor of a one-word keyterm list, and
``w = 10^(lw * boost)`` (:func:`interpolation_weight`), so a keyterm word of a ``V``-word list scores at
least like a word of probability ``10^boost / V`` in the main model's place, in every pass (fwdflat and
bestpath scale the same scores). Words the main model lacks (half of the pronunciation dictionary is not in
it) become reachable once they are keyterms, because the new search's lexicon holds every word either
model knows.

Word times and confidences are unchanged in kind: they come from the same search machinery, now scored
with the interpolated model. Requests without keyterms never see a biased decoder (the engine's pool keys
decoders by their keyterms).

Everything native is optional: :func:`bind_native` returns None when the library lacks a function, and the
engine then keeps its unbiased behaviour (and says so once in the log).
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Chosen on the tuning half of bench/stt_keyterms.py (24 synthesised sentences x 4 flite voices; see
# docs/BENCHMARKS.md, "Speech to text: keyterms"): recall of in-dictionary rare keyterms 54% without keyterms,
# 73% at -5, 82% at -4, 88% at -3, 89% at -2.5 and above; from -2 on a second keyterm word was falsely
# inserted in sentences that do not hold it (-2.5: one in 96 utterances). WER of those sentences unchanged.
# Held out at -2.5: recall 64% -> 88% (synthesised), 58% -> 91% (107 real clips), no WER change without them.
DEFAULT_BOOST = -2.5
MIN_BOOST, MAX_BOOST = -7.0, -1.0  # 10^(lw * boost) must stay a positive float32 for lw up to ~5.5
SEARCH_NAME = b"chorus_keyterms"
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # a keyterm word, as the engine splits keyterms
_NGRAM_ARPA = 1  # ngram_file_type_t


Phrase = tuple[str, ...]


def keyterm_phrases(keyterms: Iterable[str]) -> tuple[Phrase, ...]:
    """Each keyterm as its lower-case words (the dictionary's spelling), without duplicates, sorted: two
    requests whose keyterms differ only in order or case get the same biased model."""
    phrases = {tuple(m.group(0).lower() for m in _WORD.finditer(term)) for term in keyterms}
    return tuple(sorted(p for p in phrases if p))


@dataclass(frozen=True)
class BiasSpec:
    """What a biased decoder was built with; :meth:`encode` is a stable key for the decoder pool."""

    phrases: tuple[Phrase, ...]
    boost: float = DEFAULT_BOOST

    def encode(self) -> str:
        return json.dumps({"boost": self.boost, "phrases": self.phrases}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> BiasSpec:
        data = json.loads(text)
        return cls(tuple(tuple(p) for p in data["phrases"]), float(data["boost"]))


def keyterm_arpa(phrases: Iterable[Phrase]) -> str:
    """The keyterm language model in ARPA format.

    Unigrams: every distinct word, probability ``1/V``. Bigrams: within each multi-word keyterm, each word
    predicts its successor with probability ``1/(number of successors)``; the backoff weight is 1, so a
    word that follows no keyterm word keeps its unigram probability. ``<s>`` and ``</s>`` are present (the
    format wants them) with log10 probability -99, so the keyterm model never shifts where utterances end.
    """
    words: dict[str, None] = {}
    successors: dict[str, dict[str, None]] = {}
    for phrase in phrases:
        for word in phrase:
            words.setdefault(word)
        for left, right in zip(phrase, phrase[1:], strict=False):
            successors.setdefault(left, {}).setdefault(right)
    if not words:
        raise ValueError("no keyterm words")
    unigram = -math.log10(len(words))
    lines = ["\\data\\", f"ngram 1={len(words) + 2}"]
    bigrams = [(a, b, -math.log10(len(nexts))) for a, nexts in successors.items() for b in nexts]
    if bigrams:
        lines.append(f"ngram 2={len(bigrams)}")
    lines += ["", "\\1-grams:", "-99.0000 <s> 0.0000", "-99.0000 </s> 0.0000"]
    lines += [f"{unigram:.4f} {word} 0.0000" for word in sorted(words)]
    if bigrams:
        lines += ["", "\\2-grams:"]
        lines += [f"{prob:.4f} {left} {right}" for left, right, prob in sorted(bigrams)]
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def interpolation_weight(boost: float, language_weight: float) -> float:
    """The keyterm model's interpolation weight ``w = 10^(lw * boost)`` (see the module docstring)."""
    boost = min(MAX_BOOST, max(MIN_BOOST, boost))
    return 10.0 ** (language_weight * boost)


class BiasError(RuntimeError):
    """Pocketsphinx refused to build or install the keyterm model (the decoder stays unbiased)."""


class NativeBias:
    """The pocketsphinx C functions that build and install an interpolated model, through ctypes."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        p, i, s, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_float

        def bind(name: str, restype: Any, *argtypes: Any) -> Any:
            function = getattr(lib, name)  # AttributeError when the library lacks it
            function.restype = restype
            function.argtypes = list(argtypes)
            return function

        self.get_config = bind("ps_get_config", p, p)
        self.config_float = bind("ps_config_float", ctypes.c_double, p, s)
        self.get_logmath = bind("ps_get_logmath", p, p)
        self.get_lm = bind("ps_get_lm", p, p, s)
        self.add_lm = bind("ps_add_lm", i, p, s, p)
        self.activate_search = bind("ps_activate_search", i, p, s)
        self.remove_search = bind("ps_remove_search", i, p, s)
        self.current_search = bind("ps_current_search", s, p)
        self.model_read = bind("ngram_model_read", p, p, s, i, p)
        self.model_free = bind("ngram_model_free", i, p)
        self.set_init = bind("ngram_model_set_init", p, p, ctypes.POINTER(p), ctypes.POINTER(s),
                             ctypes.POINTER(f), i)  # fmt: skip
        self.set_lookup = bind("ngram_model_set_lookup", p, p, s)

    def apply(self, ps: int, spec: BiasSpec) -> None:
        """Make decoder ``ps`` (idle, between utterances) decode with its current model interpolated with
        ``spec``'s keyterm model. On failure the decoder keeps its current search and :class:`BiasError`
        is raised."""
        config = self.get_config(ps)
        current = self.current_search(ps)
        outer = self.get_lm(ps, None)
        if not config or not current or not outer:
            raise BiasError("the decoder has no n-gram search to bias")
        if current == SEARCH_NAME:
            raise BiasError("the decoder is already biased")  # the pool never biases a decoder twice
        # An n-gram search wraps its model in a one-model set named "default": interpolate that model.
        main = self.set_lookup(outer, b"default") or outer
        keyterms = self._read_arpa(config, ps, keyterm_arpa(spec.phrases))
        try:
            weight = interpolation_weight(spec.boost, self.config_float(config, b"lw"))
            models = (ctypes.c_void_p * 2)(main, keyterms)
            names = (ctypes.c_char_p * 2)(b"main", b"keyterms")
            weights = (ctypes.c_float * 2)(1.0 - weight, weight)
            lmset = self.set_init(config, models, names, weights, 2)  # retains both models
        finally:
            self.model_free(keyterms)
        if not lmset:
            raise BiasError("ngram_model_set_init failed")
        try:
            if self.add_lm(ps, SEARCH_NAME, lmset) < 0:  # the search retains the set
                raise BiasError("ps_add_lm failed")
        finally:
            self.model_free(lmset)
        if self.activate_search(ps, SEARCH_NAME) < 0:
            self.remove_search(ps, SEARCH_NAME)
            raise BiasError("ps_activate_search failed")
        # The unbiased search is never used again by this decoder (the pool keeps it for these keyterms):
        # free its lexicon trees. The main model lives on in the set.
        self.remove_search(ps, current)

    def _read_arpa(self, config: int, ps: int, text: str) -> int:
        handle, path = tempfile.mkstemp(prefix="chorus-keyterms-", suffix=".arpa")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            # Read with the decoder's configuration (language weight, insertion penalty) and log base.
            model = self.model_read(config, path.encode(), _NGRAM_ARPA, self.get_logmath(ps))
        finally:
            os.unlink(path)
        if not model:
            raise BiasError("pocketsphinx could not read the keyterm language model")
        return int(model)


def bind_native(lib: ctypes.CDLL) -> NativeBias | None:
    """:class:`NativeBias` for ``lib``, or None (logged) when a function is missing."""
    try:
        return NativeBias(lib)
    except AttributeError as exc:
        log.warning("keyterm biasing unavailable: the pocketsphinx library lacks %s", exc)
        return None
