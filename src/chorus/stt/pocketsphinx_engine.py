"""The embedded speech-to-text engine: CMU pocketsphinx 5 (US English model from its wheel) behind Silero VAD.

Pipeline (batch): resample to 16 kHz and normalise loudness (:mod:`chorus.stt.audio_input`), find the speech
with Silero VAD (:mod:`chorus.stt.vad`), and decode each speech segment as its own utterance. Segmenting
helps pocketsphinx: its batch cepstral mean normalisation is computed over speech rather than long silences,
the search restarts at every pause, and word times come out relative to a natural start. The feature state
is re-initialised before every utterance, so a result never depends on what a pooled decoder decoded before.

Live transcription (:class:`PocketsphinxStream`) decodes speech as it arrives, with decoders of its own whose
search is cheaper (:data:`STREAM_DECODER_CONFIG`: one pass, tighter pruning), so that one core keeps up with
many realtime sessions; batch requests never use them.

Words and times come from the decoder's segmentation (``ps_seg_*``): fillers (``<s>``, ``</s>``, ``<sil>``,
``[NOISE]`` ...) are skipped, alternate pronunciations (``read(2)``) are reported as the word, and frames
(100 per second) become seconds. Confidence: ``Word.logprob`` is the natural log of the word's posterior
probability in the decoder's word lattice (``ps_seg_prob``). Pocketsphinx computes it by forward-backward
over the lattice, from each link's ``ascore + lscore`` (acoustic plus weighted language-model log score)
normalised against every competing path, so it is the segment's ``ascore + lscore`` turned into a proper
probability. It is <= 0 by construction; values are clamped to ``[LOGPROB_FLOOR, 0]``.

Concurrency: a pocketsphinx decoder is not thread-safe, and the ``pocketsphinx`` Python binding holds the GIL
while it decodes, so threads would take turns. The engine therefore drives the same shared library through
:mod:`ctypes` (which releases the GIL for each C call), and keeps a bounded pool of decoders, created lazily,
one per request in flight; several requests decode truly in parallel. Should the C API ever not match, the
Python binding is used instead (correct, but serialised).

Keyterms: words of :attr:`TranscribeOptions.keyterms` missing from the pronunciation dictionary are added (the
pronunciation from eSpeak NG when it is installed, else from simple letter-to-sound rules) so they can be
recognised at all. Recognised keyterm words come back spelled as the client wrote them (dictionary words
too, when the client's spelling differs in case: ``Paris``; see :func:`keyterm_spelling`). Then every
keyterm is boosted: the decoder searches with its language model interpolated with a small keyterm model
(:mod:`chorus.stt.keyterm_bias`; strength :attr:`PocketsphinxSettings.keyterm_boost`). A decoder with added
words or a keyterm model serves only requests with the same keyterms (the pool keeps it for them), so
requests without keyterms are decoded exactly as before. Without the C API (the Python binding fallback)
keyterms only add missing words.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import math
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from chorus.engines.base import EngineBusy
from chorus.stt import keyterm_bias
from chorus.stt.audio_input import LevelTracker, Resampler16k, prepare
from chorus.stt.base import (
    Final,
    Partial,
    StreamEvent,
    STTCapabilities,
    STTUnavailable,
    TranscribeOptions,
    Transcript,
    UnsupportedLanguage,
    Word,
)
from chorus.stt.vad import (
    SAMPLE_RATE,
    WINDOW,
    SileroVAD,
    SpeechSegment,
    StreamingSegmenter,
    VADParams,
    VADState,
    segments_from_probabilities,
    shared_vad,
)

log = logging.getLogger(__name__)

LANGUAGE = "eng"
LOGPROB_FLOOR = -20.0  # ln P for a word the lattice all but rules out
FRAME_RATE = 100  # pocketsphinx frames per second (the en-us model's -frate)

# Tuned on 7 of the 14 LibriSpeech train-clean-5 speakers (59 clips, 1879 words): a lower language weight in
# all three passes (pocketsphinx defaults: lw 6.5, fwdflatlw 8.5, bestpathlw 9.5) cut the word error rate from
# 25.3% to 24.3%; wider beams (5x slower), wip, topn, cmn and noise removal changed nothing that mattered.
# Everything else is pocketsphinx's default for the en-us model.
TUNED_DECODER_CONFIG: Mapping[str, object] = {"lw": 5.5, "fwdflatlw": 7.5, "bestpathlw": 8.5}
# Streams (realtime sessions) search more cheaply than batch, so one core keeps up with many live sessions:
# no second (fwdflat) pass, which cost ~0.05 CPU s per audio s (the bestpath lattice pass still runs, for the
# final words and their posteriors); at most 3000 HMMs per frame; narrower word-exit and phone-transition
# beams (pocketsphinx defaults: maxhmmpf 30000, wbeam and lponlybeam 7e-29, pbeam 1e-48; the main beam stays,
# narrowing it cost the most accuracy). Measured 2026-11-21 by streaming 32 LibriSpeech clips (the first 4
# 8-16 s clips of each of bench/stt_realtime.py's 8 speakers, 440 s) in 100 ms chunks through the realtime
# transcriber, committing after each clip: CPU per audio second 0.23 -> 0.095 (x0.41, both on one loaded
# machine: compare the ratio), WER 27.6% -> 29.1%. Tried and dropped: ds 2 (GMMs on every other frame,
# ~15% less CPU, WER +4-9 points), topn 2 (~10% less, +2 points), beam 1e-40 (WER +5), maxhmmpf <= 2500 or
# pbeam 1e-30 (+1-2 points each for ~10%), pl_window 0/3/4/7 (none cheaper), maxwpf 5 (no change).
STREAM_DECODER_CONFIG: Mapping[str, object] = {
    "fwdflat": False,
    "maxhmmpf": 3000,
    "wbeam": 1e-20,
    "lponlybeam": 1e-20,
    "pbeam": 1e-40,
}
# Short segments suit pocketsphinx: a 100 ms pause ends a segment, padded by 100 ms (24.3% -> 23.9% on the
# same clips; 50 ms of padding clips word edges, 1 s of silence keeps segments too long).
# Re-measured 2026-11-21 against pocketsphinx's defaults (lw 6.5 ..., VADParams()) on every clip: LibriSpeech
# (all 14 speakers, 105 clips) 25.8% -> 24.2%, better for 10 speakers and worse for 4; LJ Speech (16 clips,
# never used for tuning) 23.3% -> 24.4% (3 words of ~280). The gain mostly comes from the tuning speakers, so
# treat it as small; kept because it is not worse overall.
TUNED_VAD = VADParams(
    threshold=0.5, min_speech_ms=250, min_silence_ms=100, speech_pad_ms=100, max_speech_s=30.0
)

# Utterance packing (batch). Short segments cut at every 100 ms pause help long recordings (the search and
# the cepstral mean restart at pauses) but cut a sentence's language-model context at its commas: LJ Speech
# (single 2-10 s sentences) lost 2 points of WER to raw pocketsphinx that way. Packing pauses back into
# utterances of up to PACK_S seconds keeps whole sentences together while long recordings still split.
# Measured on LJ Speech (16 clips) and every third LibriSpeech clip: no packing 24.4% / 25.3%, 8 s 22.2% /
# 25.9%, 12 s 21.5% / 26.4%, one segment per 600 ms pause 21.1% / 26.5% (raw pocketsphinx: 22.2% on LJ
# Speech, 26.9% on all of LibriSpeech). 8 s is the one never worse than raw pocketsphinx on either set.
PACK_S = 8.0
PACK_GAP_S = 1.0


def pack_segments(segments: list[SpeechSegment], max_s: float, max_gap_s: float) -> list[SpeechSegment]:
    """Join neighbouring segments (the pause between them included) while the joined span stays under
    ``max_s`` seconds and each pause is under ``max_gap_s``."""
    if max_s <= 0 or not segments:
        return list(segments)
    packed = [segments[0]]
    for segment in segments[1:]:
        last = packed[-1]
        gap = (segment.start - last.end) / SAMPLE_RATE
        if gap < max_gap_s and (segment.end - last.start) / SAMPLE_RATE <= max_s:
            packed[-1] = SpeechSegment(last.start, segment.end)
        else:
            packed.append(segment)
    return packed


_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")
_ALTERNATE = re.compile(r"\(\d+\)$")
_KEYTERM_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_PHONES = frozenset((
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY",
    "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
    "Z", "ZH",
))  # fmt: skip


def model_paths(model_dir: str | Path | None = None) -> dict[str, Path]:
    """The acoustic model, language model and dictionary: ``model_dir`` (laid out like the wheel's
    ``model/en-us``) or the US English model shipped in the pocketsphinx wheel."""
    if model_dir is None:
        from pocketsphinx import get_model_path

        base = Path(get_model_path("en-us"))
    else:
        base = Path(model_dir)
    return {"hmm": base / "en-us", "lm": base / "en-us.lm.bin", "dict": base / "cmudict-en-us.dict"}


# --- decoders ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Seg:
    word: str
    start_frame: int
    end_frame: int
    ln_posterior: float


class _Decoder(Protocol):
    def reinit_feat(self) -> None: ...
    def start_utt(self) -> None: ...
    def process(self, samples: np.ndarray, full_utt: bool) -> None: ...
    def end_utt(self) -> None: ...
    def hyp(self) -> str: ...
    def segments(self) -> list[_Seg]: ...
    def get_cmn(self) -> str: ...
    def set_cmn(self, cmn: str) -> None: ...
    def lookup_word(self, word: str) -> str | None: ...
    def add_word(self, word: str, phones: str) -> None: ...
    def bias(self, spec: str) -> None: ...
    def close(self) -> None: ...


class _NativeAPI:
    """The pocketsphinx C API of the library inside the ``pocketsphinx`` wheel, through ctypes."""

    def __init__(self) -> None:
        import pocketsphinx._pocketsphinx as binding

        lib = ctypes.CDLL(binding.__file__)
        libc = ctypes.CDLL(None)
        p, i, i32, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_int32, ctypes.c_char_p
        pi, pi32 = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int32)

        def bind(name: str, restype: Any, *argtypes: Any) -> Any:
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = list(argtypes)
            return function

        self.config_parse_json = bind("ps_config_parse_json", p, p, s)
        self.config_free = bind("ps_config_free", i, p)
        self.init = bind("ps_init", p, p)
        self.free = bind("ps_free", i, p)
        self.reinit_feat = bind("ps_reinit_feat", i, p, p)
        self.start_utt = bind("ps_start_utt", i, p)
        self.process_raw = bind("ps_process_raw", i, p, p, ctypes.c_size_t, i, i)
        self.end_utt = bind("ps_end_utt", i, p)
        self.get_hyp = bind("ps_get_hyp", s, p, pi32)
        self.seg_iter = bind("ps_seg_iter", p, p)
        self.seg_next = bind("ps_seg_next", p, p)
        self.seg_word = bind("ps_seg_word", s, p)
        self.seg_frames = bind("ps_seg_frames", None, p, pi, pi)
        self.seg_prob = bind("ps_seg_prob", i32, p, pi32, pi32, pi32)
        self.get_logmath = bind("ps_get_logmath", p, p)
        self.log_to_ln = bind("logmath_log_to_ln", ctypes.c_double, p, i)
        self.get_cmn = bind("ps_get_cmn", s, p, i)
        self.set_cmn = bind("ps_set_cmn", i, p, s)
        self.lookup_word = bind("ps_lookup_word", p, p, s)  # malloc()ed string the caller frees
        self.add_word = bind("ps_add_word", i, p, s, s, i)
        self.libc_free = libc.free
        self.libc_free.restype = None
        self.libc_free.argtypes = [p]
        self.keyterm_bias = keyterm_bias.bind_native(lib)  # None: keyterms only add missing words


_native_api_lock = threading.Lock()
_native_api_value: list[_NativeAPI | None] = []


def _native_api() -> _NativeAPI | None:
    """The ctypes binding, or None when the library's C API cannot be bound (then the binding is used)."""
    with _native_api_lock:
        if not _native_api_value:
            try:
                _native_api_value.append(_NativeAPI())
            except (OSError, AttributeError, ImportError) as exc:
                log.warning("pocketsphinx C API unavailable (%s); decoding will not run in parallel", exc)
                _native_api_value.append(None)
        return _native_api_value[0]


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    with _native_api_lock:
        if message in _warned:
            return
        _warned.add(message)
    log.warning(message)


class _NativeDecoder:
    """One ``ps_decoder_t`` driven through ctypes (the GIL is released inside every call)."""

    def __init__(self, api: _NativeAPI, config: Mapping[str, object]) -> None:
        self._api = api
        cfg = api.config_parse_json(None, json.dumps(dict(config)).encode())
        if not cfg:
            raise STTUnavailable(f"pocketsphinx rejected its configuration: {dict(config)}")
        try:
            self._ps = api.init(cfg)
        finally:
            api.config_free(cfg)
        if not self._ps:
            raise STTUnavailable("pocketsphinx could not load its model (see the pocketsphinx log)")
        self._logmath = api.get_logmath(self._ps)

    def reinit_feat(self) -> None:
        if self._api.reinit_feat(self._ps, None) < 0:
            raise RuntimeError("ps_reinit_feat failed")

    def start_utt(self) -> None:
        if self._api.start_utt(self._ps) < 0:
            raise RuntimeError("ps_start_utt failed")

    def process(self, samples: np.ndarray, full_utt: bool) -> None:
        data = np.ascontiguousarray(samples, dtype=np.int16)
        if data.size and self._api.process_raw(self._ps, data.ctypes.data, data.size, 0, int(full_utt)) < 0:
            raise RuntimeError("ps_process_raw failed")

    def end_utt(self) -> None:
        if self._api.end_utt(self._ps) < 0:
            raise RuntimeError("ps_end_utt failed")

    def hyp(self) -> str:
        score = ctypes.c_int32()
        text = self._api.get_hyp(self._ps, ctypes.byref(score))
        return text.decode("utf-8", "replace") if text else ""

    def segments(self) -> list[_Seg]:
        api = self._api
        out: list[_Seg] = []
        start, end = ctypes.c_int(), ctypes.c_int()
        ascr, lscr, lback = ctypes.c_int32(), ctypes.c_int32(), ctypes.c_int32()
        it = api.seg_iter(self._ps)
        while it:
            word = (api.seg_word(it) or b"").decode("utf-8", "replace")
            api.seg_frames(it, ctypes.byref(start), ctypes.byref(end))
            posterior = api.seg_prob(it, ctypes.byref(ascr), ctypes.byref(lscr), ctypes.byref(lback))
            out.append(_Seg(word, start.value, end.value, api.log_to_ln(self._logmath, posterior)))
            it = api.seg_next(it)  # frees the iterator at the end
        return out

    def get_cmn(self) -> str:
        value = self._api.get_cmn(self._ps, 0)
        return value.decode() if value else ""

    def set_cmn(self, cmn: str) -> None:
        self._api.set_cmn(self._ps, cmn.encode())

    def lookup_word(self, word: str) -> str | None:
        pointer = self._api.lookup_word(self._ps, word.encode("utf-8"))
        if not pointer:
            return None
        try:
            return ctypes.string_at(pointer).decode("utf-8", "replace")
        finally:
            self._api.libc_free(pointer)

    def add_word(self, word: str, phones: str) -> None:
        if self._api.add_word(self._ps, word.encode("utf-8"), phones.encode(), 1) < 0:
            raise ValueError(f"pocketsphinx refused the word {word!r} /{phones}/")

    def bias(self, spec: str) -> None:
        """Boost the keyterms of ``spec`` (:meth:`keyterm_bias.BiasSpec.encode`); after any added words."""
        native = self._api.keyterm_bias
        if native is None:
            _warn_once("keyterm biasing needs ps_add_lm and ngram_model_set_init; keyterms only add words")
            return
        try:
            native.apply(self._ps, keyterm_bias.BiasSpec.decode(spec))
        except keyterm_bias.BiasError as exc:
            _warn_once(f"keyterm biasing failed ({exc}); keyterms only add words")

    def close(self) -> None:
        if self._ps:
            self._api.free(self._ps)
            self._ps = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class _BindingDecoder:
    """Fallback: the ``pocketsphinx`` Python binding (holds the GIL while decoding)."""

    def __init__(self, config: Mapping[str, object]) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(**dict(config))

    def reinit_feat(self) -> None:
        self._decoder.reinit_feat()

    def start_utt(self) -> None:
        self._decoder.start_utt()

    def process(self, samples: np.ndarray, full_utt: bool) -> None:
        data = np.ascontiguousarray(samples, dtype="<i2")
        if data.size:
            self._decoder.process_raw(data.tobytes(), no_search=False, full_utt=full_utt)

    def end_utt(self) -> None:
        self._decoder.end_utt()

    def hyp(self) -> str:
        hypothesis = self._decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""

    def segments(self) -> list[_Seg]:
        # The binding hands out probabilities (logmath.exp of the C log values).
        return [
            _Seg(seg.word, seg.start_frame, seg.end_frame, math.log(seg.prob) if seg.prob > 0 else -math.inf)
            for seg in self._decoder.seg()
        ]

    def get_cmn(self) -> str:
        return str(self._decoder.get_cmn(False))

    def set_cmn(self, cmn: str) -> None:
        self._decoder.set_cmn(cmn)

    def lookup_word(self, word: str) -> str | None:
        result = self._decoder.lookup_word(word)
        return str(result) if result is not None else None

    def add_word(self, word: str, phones: str) -> None:
        try:
            self._decoder.add_word(word, phones, True)
        except RuntimeError as exc:
            raise ValueError(f"pocketsphinx refused the word {word!r} /{phones}/") from exc

    def bias(self, spec: str) -> None:
        _warn_once("keyterm biasing needs the pocketsphinx C API; with the binding keyterms only add words")

    def close(self) -> None:
        self._decoder = None


# What was done to a decoder for its keyterms: (dictionary word, phones) for each added word, and
# (BIAS_ENTRY, encoded keyterm_bias.BiasSpec) when its search is biased towards the keyterms.
KeytermEntries = frozenset[tuple[str, str]]
BIAS_ENTRY = "<keyterm-bias>"  # never a keyterm word (those are letters, digits and apostrophes)


class _DecoderPool:
    """At most ``size`` decoders, created on demand; each serves one request at a time.

    Idle decoders are keyed by the words added to them: a request gets one with exactly its added words if
    there is one, else an unmodified one (and adds its words), else a new one; when the pool is full, the
    least recently used idle decoder is replaced. Waits up to ``timeout_s`` for a free decoder.
    """

    def __init__(self, factory: Any, size: int, timeout_s: float | None) -> None:
        self._factory = factory
        self.size = size
        self._timeout_s = timeout_s
        self._cond = threading.Condition()
        self._idle: list[tuple[KeytermEntries, _Decoder]] = []  # least recently used first
        self._count = 0

    @contextlib.contextmanager
    def lease(self, entries: KeytermEntries = frozenset()) -> Iterator[_Decoder]:
        decoder, key = self.acquire(entries)
        ok = False
        try:
            yield decoder
            ok = True
        finally:
            self.release(decoder, key if ok else None)

    def acquire(self, entries: KeytermEntries = frozenset()) -> tuple[_Decoder, KeytermEntries]:
        """A decoder holding exactly ``entries`` (added here if needed) and its pool key."""
        evicted: _Decoder | None = None
        decoder: _Decoder | None = None
        with self._cond:
            while True:
                match = next((n for n, (k, _) in enumerate(self._idle) if k == entries), None)
                if match is None and entries:
                    match = next((n for n, (k, _) in enumerate(self._idle) if not k), None)
                if match is not None:
                    key, decoder = self._idle.pop(match)
                    break
                if self._count < self.size:
                    self._count += 1
                    key = frozenset()
                    break
                if self._idle:  # full of decoders with other words: replace the least recently used
                    _, evicted = self._idle.pop(0)
                    key = frozenset()
                    break
                if not self._cond.wait(self._timeout_s):
                    raise EngineBusy(
                        f"all {self.size} pocketsphinx decoders stayed busy for {self._timeout_s:g} s; "
                        "try again shortly"
                    )
        if evicted is not None:
            evicted.close()
        try:
            if decoder is None:
                decoder = self._factory()
            assert decoder is not None
            added = entries - key
            for word, phones in sorted(e for e in added if e[0] != BIAS_ENTRY):
                decoder.add_word(word, phones)
            for _, spec in (e for e in added if e[0] == BIAS_ENTRY):
                decoder.bias(spec)  # last: the biased search is built over the words added above
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            if decoder is not None:
                decoder.close()
            raise
        return decoder, entries | key

    def release(self, decoder: _Decoder, key: KeytermEntries | None) -> None:
        """Give ``decoder`` back (``key=None``: it failed mid-use and is dropped)."""
        with self._cond:
            if key is None:
                self._count -= 1
            else:
                self._idle.append((key, decoder))
            self._cond.notify()
        if key is None:
            decoder.close()

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for _, decoder in idle:
            decoder.close()


# --- keyterms ---------------------------------------------------------------------------------------

_LTS_MULTI = [
    ("tch", "CH"), ("sch", "SH K"), ("ough", "AO"), ("igh", "AY"), ("eigh", "EY"), ("tion", "SH AH N"),
    ("sion", "ZH AH N"), ("ch", "CH"), ("sh", "SH"), ("th", "TH"), ("ph", "F"), ("wh", "W"), ("ck", "K"),
    ("ng", "NG"), ("qu", "K W"), ("gh", "G"), ("kn", "N"), ("wr", "R"), ("ee", "IY"), ("ea", "IY"),
    ("oo", "UW"), ("ou", "AW"), ("ow", "OW"), ("oi", "OY"), ("oy", "OY"), ("ai", "EY"), ("ay", "EY"),
    ("au", "AO"), ("aw", "AO"), ("ei", "EY"), ("ey", "IY"), ("ie", "IY"), ("ue", "UW"), ("ew", "UW"),
    ("oa", "OW"), ("er", "ER"), ("ir", "ER"), ("ur", "ER"), ("ar", "AA R"), ("or", "AO R"),
]  # fmt: skip
_LTS_SINGLE = {
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH", "i": "IH", "j": "JH",
    "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P", "q": "K", "r": "R", "s": "S", "t": "T",
    "u": "AH", "v": "V", "w": "W", "x": "K S", "y": "IY", "z": "Z", "'": "",
    "0": "Z IH R OW", "1": "W AH N", "2": "T UW", "3": "TH R IY", "4": "F AO R", "5": "F AY V",
    "6": "S IH K S", "7": "S EH V AH N", "8": "EY T", "9": "N AY N",
}  # fmt: skip


def letter_to_sound(word: str) -> str:
    """A rough ARPAbet pronunciation of ``word`` from spelling rules (used when eSpeak NG is absent)."""
    import unicodedata

    text = "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))
    if len(text) > 3 and text.endswith("e") and text[-2] not in "aeiouy":
        text = text[:-1]  # silent final e
    phones: list[str] = []
    i = 0
    while i < len(text):
        for graph, sound in _LTS_MULTI:
            if text.startswith(graph, i):
                phones.append(sound)
                i += len(graph)
                break
        else:
            char = text[i]
            following = text[i + 1 : i + 2]
            if char == "c" and following in ("e", "i", "y"):
                phones.append("S")
            elif char == "g" and following in ("e", "i", "y") and i > 0:
                phones.append("JH")
            elif char == "y" and i == 0:
                phones.append("Y")
            elif char in _LTS_SINGLE:
                phones.append(_LTS_SINGLE[char])
            i += 1
    result = " ".join(p for p in " ".join(phones).split() if p in _PHONES)
    return result or "AH"


def _espeak_pronunciation(word: str) -> str | None:
    """ARPAbet (no stress) for ``word`` from eSpeak NG, or None when eSpeak NG is not installed."""
    try:
        from chorus.engines.phonemes import ipa_to_arpabet
        from chorus.engines.phonemize import default_phonemizer

        ipa = default_phonemizer().phonemize(word, "en-us", keep="")
        phones = [re.sub(r"\d", "", p) for p in ipa_to_arpabet(ipa.replace(" ", "")).split()]
    except Exception:  # eSpeak NG missing, or a symbol the IPA mapping lacks
        return None
    phones = [p for p in phones if p in _PHONES]
    return " ".join(phones) or None


def pronounce(word: str) -> str:
    """A pronunciation in the en-us model's phone set for a word missing from the dictionary."""
    return _espeak_pronunciation(word) or letter_to_sound(word)


def keyterm_words(keyterms: tuple[str, ...]) -> dict[str, str]:
    """Dictionary spelling (lower case) → the client's spelling, for every word of every keyterm."""
    words: dict[str, str] = {}
    for term in keyterms:
        for match in _KEYTERM_WORD.finditer(term):
            spelled = match.group(0)
            words.setdefault(spelled.lower(), spelled)
    return words


# Function words: a keyterm like "The Beatles" must not capitalise every "the" in the transcript.
_FUNCTION_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
    }
)


def keyterm_spelling(keyterms: tuple[str, ...], known: frozenset[str]) -> dict[str, str]:
    """How to report recognised keyterm words: dictionary spelling (lower case) → the client's spelling.

    Words the dictionary lacks always come back as the client wrote them. Dictionary words do too when the
    client's spelling differs (``Paris``, ``iPhone``, ``NASA``), except function words inside a phrase."""
    spelling: dict[str, str] = {}
    for term in keyterms:
        matches = list(_KEYTERM_WORD.finditer(term))
        for match in matches:
            spelled = match.group(0)
            word = spelled.lower()
            if word in spelling or (word in known and spelled == word):
                continue
            if word in known and len(matches) > 1 and word in _FUNCTION_WORDS:
                continue
            spelling[word] = spelled
    return spelling


# --- the engine -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PocketsphinxSettings:
    """Everything tunable: pocketsphinx configuration overrides, VAD segmentation, loudness normalisation."""

    decoder_config: Mapping[str, object] = field(default_factory=lambda: dict(TUNED_DECODER_CONFIG))
    vad: VADParams = TUNED_VAD
    normalize: bool = True
    # Batch: neighbouring VAD segments are decoded as one utterance while it stays under pack_s seconds and
    # the pause between them is under pack_gap_s (0 disables packing); see pack_segments.
    pack_s: float = PACK_S
    pack_gap_s: float = PACK_GAP_S
    # Keyterm boost (log10 probability floor, see chorus.stt.keyterm_bias); None: keyterms only add words.
    keyterm_boost: float | None = keyterm_bias.DEFAULT_BOOST
    # Streams (live transcription) decode with decoder_config plus these overrides, from a pool of their own,
    # so batch requests are decoded exactly as before; see STREAM_DECODER_CONFIG.
    stream_decoder_config: Mapping[str, object] = field(default_factory=lambda: dict(STREAM_DECODER_CONFIG))


class PocketsphinxEngine:
    """:class:`chorus.stt.base.STTEngine` over pocketsphinx (see the module docstring)."""

    name = "pocketsphinx"

    def __init__(
        self,
        *,
        model_dir: str | Path | None = None,
        vad: SileroVAD | None = None,
        settings: PocketsphinxSettings | None = None,
        max_decoders: int | None = None,
        acquire_timeout_s: float | None = 120.0,
        native: bool = True,
    ) -> None:
        self._model_dir = model_dir
        self._vad = vad
        self.settings = settings or PocketsphinxSettings()
        self.max_decoders = max(1, max_decoders or min(os.cpu_count() or 1, 8))
        self._native = native
        self._pool = _DecoderPool(self._new_decoder, self.max_decoders, acquire_timeout_s)
        self._stream_pool = _DecoderPool(self._new_stream_decoder, self.max_decoders, acquire_timeout_s)
        self._pronunciations: dict[str, str] = {}
        self._dictionary: frozenset[str] | None = None
        self._lock = threading.Lock()

    # -- availability ---------------------------------------------------------------------------------

    @property
    def vad(self) -> SileroVAD:
        return self._vad if self._vad is not None else shared_vad()

    def unavailable_reason(self) -> str | None:
        try:
            import pocketsphinx  # noqa: F401
        except ImportError:
            return "pocketsphinx is not installed; pip install pocketsphinx"
        paths = model_paths(self._model_dir)
        missing = [str(path) for path in paths.values() if not path.exists()]
        if missing:
            return f"pocketsphinx model files are missing: {', '.join(missing)}"
        return self.vad.unavailable_reason()

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def capabilities(self) -> STTCapabilities:
        return STTCapabilities(
            languages=(LANGUAGE,),
            word_timestamps=True,
            streaming=True,
            keyterms=True,
            max_concurrency=self.max_decoders,
        )

    def decoder_config(self) -> dict[str, object]:
        """The full pocketsphinx configuration every decoder is built with."""
        config: dict[str, object] = {key: str(path) for key, path in model_paths(self._model_dir).items()}
        config["loglevel"] = "FATAL"
        config.update(self.settings.decoder_config)
        return config

    def stream_decoder_config(self) -> dict[str, object]:
        """The configuration of the decoders streams use: :meth:`decoder_config` with
        :attr:`PocketsphinxSettings.stream_decoder_config` over it."""
        return {**self.decoder_config(), **self.settings.stream_decoder_config}

    def _new_decoder(self, config: dict[str, object] | None = None) -> _Decoder:
        reason = self.unavailable_reason()
        if reason is not None:
            raise STTUnavailable(reason)
        config = config if config is not None else self.decoder_config()
        api = _native_api() if self._native else None
        if api is not None:
            return _NativeDecoder(api, config)
        return _BindingDecoder(config)

    def _new_stream_decoder(self) -> _Decoder:
        return self._new_decoder(self.stream_decoder_config())

    def close(self) -> None:
        """Free the idle decoders (busy ones are freed when their request ends)."""
        self._pool.close()
        self._stream_pool.close()

    # -- requests -------------------------------------------------------------------------------------

    def _check_language(self, options: TranscribeOptions) -> None:
        if not self.capabilities().supports_language(options.language):
            raise UnsupportedLanguage(
                f"The pocketsphinx engine transcribes English (eng) only; language {options.language!r} is "
                "not supported. Omit the language or install a multilingual speech-to-text engine."
            )

    def dictionary_words(self) -> frozenset[str]:
        """Every word of the pronunciation dictionary (read once, on first use)."""
        with self._lock:
            if self._dictionary is None:
                words: set[str] = set()
                with open(model_paths(self._model_dir)["dict"], encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        head = line.split(maxsplit=1)[0] if line.strip() else ""
                        if head:
                            words.add(_ALTERNATE.sub("", head))
                self._dictionary = frozenset(words)
            return self._dictionary

    def _keyterm_entries(self, keyterms: tuple[str, ...]) -> tuple[KeytermEntries, dict[str, str]]:
        """What to do to a decoder for ``keyterms`` (the (word, phones) to add and the bias entry) and the
        spelling to report each added word with."""
        if not keyterms:
            return frozenset(), {}
        words = keyterm_words(keyterms)
        known = self.dictionary_words()
        entries: set[tuple[str, str]] = set()
        for word in words:
            if word in known:
                continue
            with self._lock:
                phones = self._pronunciations.get(word)
                if phones is None:
                    phones = self._pronunciations[word] = pronounce(word)
            entries.add((word, phones))
        spelling = keyterm_spelling(keyterms, known)
        boost = self.settings.keyterm_boost
        phrases = keyterm_bias.keyterm_phrases(keyterms)
        if boost is not None and phrases:
            entries.add((BIAS_ENTRY, keyterm_bias.BiasSpec(phrases, boost).encode()))
        return frozenset(entries), spelling

    def transcribe(self, pcm: bytes, sample_rate: int, options: TranscribeOptions) -> Transcript:
        """Transcribe mono s16le ``pcm`` (see :meth:`chorus.stt.base.STTEngine.transcribe`)."""
        self._check_language(options)
        reason = self.unavailable_reason()
        if reason is not None:
            raise STTUnavailable(reason)
        duration = len(pcm) // 2 / sample_rate
        samples = prepare(pcm, sample_rate, normalize=self.settings.normalize)
        probs = self.vad.probabilities(samples.astype(np.float32) / 32768.0)
        segments = pack_segments(
            segments_from_probabilities(probs, samples.size, self.settings.vad),
            self.settings.pack_s,
            self.settings.pack_gap_s,
        )
        entries, spelling = self._keyterm_entries(options.keyterms)
        words: list[Word] = []
        if segments:
            with self._pool.lease(entries) as decoder:
                for segment in segments:
                    audio = samples[segment.start : segment.end]
                    words.extend(_decode_audio(decoder, audio, segment.start_s, spelling, duration))
        return Transcript(
            text=" ".join(w.text for w in words),
            words=tuple(words),
            language=LANGUAGE,
            language_probability=1.0,
            duration_s=duration,
        )

    def stream(self, sample_rate: int, options: TranscribeOptions) -> PocketsphinxStream:
        """Open a live transcription (see :class:`PocketsphinxStream`)."""
        self._check_language(options)
        if not self.available():
            raise STTUnavailable(self.unavailable_reason() or "pocketsphinx is unavailable")
        return PocketsphinxStream(self, sample_rate, options)


def _words(
    segs: list[_Seg], offset_s: float, spelling: Mapping[str, str], limit_s: float | None = None
) -> list[Word]:
    words: list[Word] = []
    for seg in segs:
        if _FILLER.match(seg.word):
            continue
        text = _ALTERNATE.sub("", seg.word)
        start = offset_s + seg.start_frame / FRAME_RATE
        end = offset_s + (seg.end_frame + 1) / FRAME_RATE
        if limit_s is not None:
            start, end = min(start, limit_s), min(end, limit_s)
        logprob = (
            min(0.0, max(LOGPROB_FLOOR, seg.ln_posterior))
            if math.isfinite(seg.ln_posterior)
            else LOGPROB_FLOOR
        )
        words.append(Word(spelling.get(text, text), round(start, 3), round(end, 3), logprob))
    return words


def _decode_audio(
    decoder: _Decoder, audio: np.ndarray, offset_s: float, spelling: Mapping[str, str], limit_s: float | None
) -> list[Word]:
    """Decode 16 kHz ``audio`` as one utterance with fresh feature state; word times ``offset_s`` later."""
    decoder.reinit_feat()
    decoder.start_utt()
    decoder.process(audio, full_utt=True)
    decoder.end_utt()
    return _words(decoder.segments(), offset_s, spelling, limit_s)


class PocketsphinxStream:
    """Live transcription: VAD runs as audio arrives; speech is decoded incrementally for :class:`Partial`
    hypotheses, and when VAD closes a segment the live utterance is finished for the :class:`Final` (a
    segment cut at the maximum length is decoded again as a whole, as :meth:`PocketsphinxEngine.transcribe`
    does).

    Loudness normalisation follows the level heard so far (:class:`LevelTracker`). A decoder is leased from
    the engine's stream pool (decoders built with :meth:`PocketsphinxEngine.stream_decoder_config`, a search
    cheap enough for many live sessions) for each utterance only, so idle streams hold none. The cepstral
    mean the incremental decoder ends an utterance with seeds the next one, which steadies the partials of a
    long stream. :meth:`cut` ends the utterance in progress on demand (a realtime commit) and goes on.

    The same audio gives the same events' words and times however it is split into :meth:`feed` calls (a
    client's chunk size, a loaded server's catch-up batches): the gain changes at fixed points of the
    stream, the live search takes only audio its utterance surely holds, and VAD works in whole windows.
    """

    def __init__(self, engine: PocketsphinxEngine, sample_rate: int, options: TranscribeOptions) -> None:
        self._engine = engine
        self._vad = engine.vad
        self._resampler = Resampler16k(sample_rate)
        self._level = LevelTracker() if engine.settings.normalize else None
        self._vad_state = VADState()
        self._segmenter = StreamingSegmenter(engine.settings.vad)
        vad = engine.settings.vad
        self._lead_in = int(max(vad.speech_pad_ms, vad.start_pad_ms or 0) * SAMPLE_RATE / 1000)
        self._max_live = int((vad.max_speech_s - 1.0) * SAMPLE_RATE)  # shorter segments end in silence
        self._entries, self._spelling = engine._keyterm_entries(options.keyterms)
        self._audio = _SampleBuffer()  # the 16 kHz audio still needed, by absolute sample index
        self._vad_pos = 0  # absolute sample up to which VAD has run
        self._decoder: _Decoder | None = None
        self._decoder_key: KeytermEntries = frozenset()
        self._utt_start: int | None = None  # absolute start of the utterance being decoded incrementally
        self._fed = 0  # absolute sample up to which the incremental decoder has audio
        self._partial = ""
        self._cmn: str | None = None
        self._finished = False

    @property
    def position_s(self) -> float:
        """Seconds of audio received so far."""
        return self._audio.end / SAMPLE_RATE

    def feed(self, pcm: bytes) -> list[StreamEvent]:
        if self._finished:
            raise RuntimeError("the stream is finished")
        samples = np.frombuffer(self._resampler.feed(pcm), dtype="<i2")
        try:
            return self._process(samples, final=False)
        except BaseException:
            self._abort()
            raise

    def finish(self) -> list[StreamEvent]:
        if self._finished:
            return []
        samples = np.frombuffer(self._resampler.feed(b"", last=True), dtype="<i2")
        try:
            return self._process(samples, final=True)
        finally:
            self._abort()

    def cut(self) -> list[StreamEvent]:
        """End the utterance in progress now, as a pause would (the client committed): its :class:`Final`
        when it was long enough to be speech. Unlike :meth:`finish`, the stream goes on: VAD, loudness and
        cepstral-mean state carry over to the audio that follows, and its clock keeps running. The samples
        not yet seen by VAD (under one 32 ms window) belong to the utterance ended here; VAD looks at them
        again with the next audio, but a new utterance never starts before this one's end."""
        if self._finished:
            raise RuntimeError("the stream is finished")
        try:
            events: list[StreamEvent] = []
            closed = self._segmenter.flush(self._audio.end)
            events.extend(self._final(segment) for segment in closed)
            if not closed:
                events.extend(self._drop())
            self._trim()
            return events
        except BaseException:
            self._abort()
            raise

    def close(self) -> None:
        """Abandon the stream without decoding what is left."""
        self._abort()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._abort()

    def _abort(self) -> None:
        self._finished = True
        ok = True
        if self._utt_start is not None and self._decoder is not None:
            try:
                self._decoder.end_utt()
            except Exception:
                ok = False
        self._release(ok=ok)

    # -- internals ----------------------------------------------------------------------------------

    def _process(self, samples: np.ndarray, final: bool) -> list[StreamEvent]:
        if self._level is not None:
            samples = self._level.process(samples)
        self._audio.append(samples)
        total = self._audio.end
        events: list[StreamEvent] = []
        available = total - self._vad_pos
        windows = available // WINDOW + (1 if final and available % WINDOW else 0)
        if windows:
            chunk = (
                self._audio.slice(self._vad_pos, self._vad_pos + windows * WINDOW).astype(np.float32)
                / 32768.0
            )
            for prob in self._vad.probabilities(chunk, self._vad_state):
                was_open = self._segmenter.in_speech
                closed = self._segmenter.push(float(prob))
                events.extend(self._final(segment) for segment in closed)
                if was_open and not closed and not self._segmenter.in_speech:
                    events.extend(self._drop())  # too short to be speech
                if self._segmenter.in_speech and (closed or not was_open):
                    self._open(self._segmenter.open_start or 0)
            self._vad_pos = min(total, self._vad_pos + windows * WINDOW)
        if final:
            closed = self._segmenter.flush(total)
            events.extend(self._final(segment) for segment in closed)
            if not closed:
                events.extend(self._drop())
        elif self._utt_start is not None and self._decoder is not None:
            # Only audio the utterance surely holds: when a pause ends it, its search has then seen exactly
            # its own audio, however the stream was split into chunks (and so the same words).
            settled = self._segmenter.settled_end
            settled = None if settled is None else min(settled, total)
            if settled is not None and settled > self._fed:
                self._decoder.process(self._audio.slice(self._fed, settled), full_utt=False)
                self._fed = settled
            text = self._respell(self._decoder.hyp())
            if text and text != self._partial:
                self._partial = text
                events.append(Partial(text, round(self._utt_start / SAMPLE_RATE, 3)))
        self._trim()
        return events

    def _respell(self, hyp: str) -> str:
        return " ".join(self._spelling.get(w, w) for w in hyp.split())

    def _lease(self) -> _Decoder:
        if self._decoder is None:
            self._decoder, self._decoder_key = self._engine._stream_pool.acquire(self._entries)
        return self._decoder

    def _release(self, ok: bool = True) -> None:
        if self._decoder is not None:
            decoder, self._decoder = self._decoder, None
            self._engine._stream_pool.release(decoder, self._decoder_key if ok else None)
        self._utt_start = None

    def _open(self, start: int) -> None:
        decoder = self._lease()
        decoder.reinit_feat()
        if self._cmn:
            decoder.set_cmn(self._cmn)
        decoder.start_utt()
        self._utt_start = start
        self._fed = start
        self._partial = ""

    def _drop(self) -> list[StreamEvent]:
        """VAD dropped the utterance in progress (too short): end it, and blank any partial shown for it."""
        events: list[StreamEvent] = []
        if self._utt_start is not None and self._decoder is not None:
            self._decoder.end_utt()
            if self._partial:
                events.append(Partial("", round(self._utt_start / SAMPLE_RATE, 3)))
        self._release()
        self._partial = ""
        return events

    def _final(self, segment: SpeechSegment) -> Final:
        decoder = self._lease()
        words: list[Word] | None = None
        if self._utt_start is not None:
            # The live utterance already holds this segment's search: finish it rather than decode the
            # audio again. Measured on 6 LibriSpeech clips streamed in 100 ms chunks: CPU per audio second
            # 0.31 -> 0.15, a commit 334 -> 38 ms (median), WER 27.3% -> 28.0%. A segment cut at the
            # maximum length (the live utterance runs on into the next one) is decoded again instead, and so
            # is a stream's first utterance: its live search began with the model's default cepstral mean,
            # far off for narrowband or unusual channels (8 kHz u-law lost half its words that way).
            live = (
                bool(self._cmn)
                and self._utt_start <= segment.start
                and segment.end - segment.start < self._max_live
            )
            if self._utt_start <= segment.start and self._fed < segment.end:
                # The whole segment, even when it is decoded again below: the cepstral mean it leaves for
                # the next utterance is then the same however the audio came in.
                decoder.process(self._audio.slice(self._fed, segment.end), full_utt=False)
                self._fed = segment.end
            decoder.end_utt()
            self._cmn = decoder.get_cmn() or self._cmn
            if live:
                words = _words(decoder.segments(), self._utt_start / SAMPLE_RATE, self._spelling,
                               segment.end_s)  # fmt: skip
            self._utt_start = None
        if words is None:
            audio = self._audio.slice(segment.start, segment.end)
            words = _decode_audio(decoder, audio, segment.start_s, self._spelling, None)
        self._release()
        self._partial = ""
        return Final(
            text=" ".join(w.text for w in words),
            words=tuple(words),
            start_s=round(segment.start_s, 3),
            end_s=round(segment.end_s, 3),
            language=LANGUAGE,
            language_probability=1.0,
        )

    def _trim(self) -> None:
        keep = self._utt_start if self._utt_start is not None else self._segmenter.open_start
        if keep is None:
            keep = self._vad_pos - self._lead_in - WINDOW  # where the next segment could start
        if keep - self._audio.start > 5 * SAMPLE_RATE:  # in large steps, to keep copying cheap
            self._audio.drop_before(keep)


class _SampleBuffer:
    """Growable int16 buffer addressed by absolute sample index, whose head can be dropped."""

    def __init__(self) -> None:
        self._data = np.zeros(4 * SAMPLE_RATE, np.int16)
        self._size = 0
        self.start = 0  # absolute index of _data[0]

    @property
    def end(self) -> int:
        return self.start + self._size

    def append(self, samples: np.ndarray) -> None:
        needed = self._size + samples.size
        if needed > self._data.size:
            grown = np.zeros(max(needed, 2 * self._data.size), np.int16)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : needed] = samples
        self._size = needed

    def slice(self, start: int, end: int) -> np.ndarray:
        """Samples ``start`` to ``end`` (absolute, clipped to what is held); a view, valid until the next
        :meth:`drop_before`."""
        lo = min(self._size, max(0, start - self.start))
        hi = min(self._size, max(0, end - self.start))
        return self._data[lo : max(lo, hi)]

    def drop_before(self, index: int) -> None:
        count = min(self._size, index - self.start)
        if count > 0:
            self._data[: self._size - count] = self._data[count : self._size]
            self._size -= count
            self.start += count
