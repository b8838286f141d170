"""Forced alignment: when each word of a known text is spoken in a recording (pocketsphinx, US English).

Text. The text is normalised for reading (:func:`chorus.text.normalize`: numbers, money, dates,
abbreviations ...) and cut into spoken words (letters and digits, with inner apostrophes), lower-cased for
the pronunciation dictionary. Every spoken word keeps the range of the *original* text it was read from
(through the normaliser's offset map), so "$5.50" read as "five dollars and fifty cents" maps all five words
back to "$5.50". Words missing from the dictionary get a pronunciation from eSpeak NG, else from spelling
rules (:func:`chorus.stt.pocketsphinx_engine.pronounce`, the code the recogniser uses for keyterms).

Audio. Resampled to 16 kHz and loudness-normalised like the recogniser's input, then aligned window by
window with a finite-state grammar of the words (pocketsphinx FSG search; optional silence and noise
between any two words). A recording no longer than :attr:`AlignerSettings.max_window_s` is one window whose
grammar must consume every word. Longer recordings are aligned in windows of about
:attr:`AlignerSettings.window_s`, cut in pauses that Silero VAD finds: a window's grammar holds the next
words (as many as the window's speech can plausibly hold at the recording's average rate, plus a margin)
and may stop after any of them; words ending more than :attr:`AlignerSettings.guard_s` before the window's
end are kept, and the next window starts between the last kept word and the first one not kept (which is
aligned again there). A window never starts in a stretch VAD calls silence (it jumps to just before the
next speech), so long silences, music or noise do not swallow words. Without Silero VAD installed,
long recordings are windowed on the text alone (fine unless they hold long non-speech stretches).

Cost. Memory and time per window are bounded whatever the length of the recording, and the totals are
linear in it. Measured on an hour of LibriSpeech (3603 s, 9302 words, 133 windows): 71 s of CPU (2% of real
time, Silero VAD included), peak memory 550 MB above the caller's (the 16 kHz samples are 115 MB; most of
the rest is the float copies loudness normalisation makes for a moment). Recordings longer than
:data:`MAX_AUDIO_S` (4 h) are refused.

Times are 10 ms frames; a word starts at its first frame and ends after its last. Against Flite's own
word times (voices slt, rms, awb; 1273 words not used for tuning) the median start error is 9 ms, the 90th
percentile 21 ms, 98% are within 50 ms (see tests/unit/test_stt_align.py). ``loss`` (per word):
the mean over the word's frames of the acoustic cost of the aligned HMM states, in nats per frame,
relative to the best-scoring senone of each frame: ``-ln(ascr) / frames`` where ``ascr`` is the segment's
acoustic likelihood as pocketsphinx scores it (each frame's senone scores normalised to that frame's best).
0 means every frame matched the best senone the model has; clean read speech lands around 0.5-2, and words
that are not really in the audio score well above that. Words the search could not place at all (text
left over when the audio ran out) get times interpolated between their neighbours and
:data:`UNALIGNED_LOSS`.

Limits (checked before any decoding, as :class:`AlignmentInputError`): text with no speakable word; text
needing more than :attr:`AlignerSettings.max_phones_per_second` phones per second of audio (the en-us
model's HMMs need at least 30 ms per phone, i.e. 33 phones/s, and fast speech is about 15); audio
shorter than 0.1 s or longer than :data:`MAX_AUDIO_S`.

English only: other languages are aligned with English pronunciations of their spelling, which works
roughly for Latin-script text and not at all for other scripts.
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import logging
import math
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from chorus.stt.audio_input import prepare
from chorus.stt.base import STTUnavailable
from chorus.stt.pocketsphinx_engine import (
    _ALTERNATE,
    _FILLER,
    FRAME_RATE,
    _BindingDecoder,
    _DecoderPool,
    _native_api,
    _NativeAPI,
    _NativeDecoder,
    model_paths,
    pronounce,
)
from chorus.stt.vad import (
    SAMPLE_RATE,
    WINDOW,
    SileroVAD,
    SpeechSegment,
    VADParams,
    VADState,
    segments_from_probabilities,
    shared_vad,
)
from chorus.text.normalize import normalize

log = logging.getLogger(__name__)

MAX_AUDIO_S = 4 * 3600.0
MIN_AUDIO_S = 0.1
UNALIGNED_LOSS = 10.0  # loss of a word the search could not place (well above any aligned word's)
_SPOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_VAD_BLOCK = 1875 * WINDOW  # 60 s of audio per Silero call, so VAD memory stays bounded too

# pocketsphinx settings for alignment; everything else is its default for the en-us model. No language
# model is loaded: each window installs its own grammar. Far wider beams than recognition's (1e-48) cost
# little with a linear grammar (+10% time) and keep the forced path alive through words the speaker did
# not say: with 4 wrong words in a LibriSpeech sentence the search lost every path in 10 of 12 sentences
# at the default beams, 4 of 12 at 1e-80, none at 1e-120 or wider. No lattice (bestpath): the Viterbi
# backtrace is the alignment, and building a lattice over a wide beam took a third of the time.
ALIGN_DECODER_CONFIG: Mapping[str, object] = {
    "beam": 1e-200,
    "wbeam": 1e-150,
    "pbeam": 1e-200,
    "bestpath": False,
}
# The backtrace reports a segment's acoustic score in the search's units: log-base-1.0001 values shifted
# right by SENSCR_SHIFT (10) bits. (Only with bestpath, which we leave off, would they come from a lattice
# in plain log units.)
_SENSCR_SCALE = float(1 << 10)
# Pauses of 150 ms or more are window boundary candidates.
ALIGN_VAD = VADParams(
    threshold=0.5, min_speech_ms=150, min_silence_ms=150, speech_pad_ms=30, max_speech_s=60.0
)


class AlignmentInputError(ValueError):
    """The text or audio cannot be aligned (empty, unspeakable, or far too long for the audio)."""


@dataclass(frozen=True)
class AlignerSettings:
    """Windowing, pocketsphinx overrides, VAD segmentation and input limits (see the module docstring)."""

    window_s: float = 30.0  # target length of a window of a long recording
    max_window_s: float = 60.0  # a recording (or remainder) this short is aligned in one go
    guard_s: float = 3.0  # words ending this close to a window's (non-final) end are aligned again
    decoder_config: Mapping[str, object] = field(default_factory=lambda: dict(ALIGN_DECODER_CONFIG))
    vad: VADParams = ALIGN_VAD
    normalize: bool = True
    max_phones_per_second: float = 25.0
    max_added_words: int = 20_000  # a decoder with more words added than this is replaced

    def __post_init__(self) -> None:
        if not (0 < 2 * self.guard_s < self.window_s and 1.5 * self.window_s <= self.max_window_s):
            raise ValueError("need 0 < 2 * guard_s < window_s and 1.5 * window_s <= max_window_s")


@dataclass(frozen=True)
class AlignedWord:
    """One spoken word: ``text`` as read (normalised, lower case), ``char_start``/``char_end`` the range of
    the original text it was read from (shared by all words of one rewrite), its times and ``loss``.
    ``aligned`` is False when the search could not place it and the times are interpolated."""

    text: str
    char_start: int
    char_end: int
    start_s: float
    end_s: float
    loss: float
    frames: int
    aligned: bool = True


@dataclass(frozen=True)
class Alignment:
    words: tuple[AlignedWord, ...]
    duration_s: float
    windows: int = 1


@dataclass(frozen=True)
class _Unit:
    """A spoken word to align: dictionary ``key``, the original range, its phone count."""

    key: str
    text: str
    char_start: int
    char_end: int
    phones: int = 0


@dataclass(frozen=True)
class _Hit:
    index: int  # into the units
    start: int  # absolute sample
    end: int
    loss: float
    frames: int


# --- text ---------------------------------------------------------------------------------------------


def spoken_units(text: str) -> list[_Unit]:
    """The words to align, in order, with the original ranges they were read from."""
    normalized = normalize(text, "en")
    units: list[_Unit] = []
    for match in _SPOKEN.finditer(normalized.text):
        word = match.group(0).replace("\u2019", "'").lower()
        start, end = normalized.to_original(match.start(), match.end())
        if end <= start:  # cannot happen with the normaliser's contract; never lose a word over it
            start, end = max(0, min(start, len(text) - 1)), max(start + 1, end)
        units.append(_Unit(word, word, start, min(end, len(text))))
    return units


# --- decoders ------------------------------------------------------------------------------------------


class _AlignDecoder(Protocol):
    added: set[str]

    def reinit_feat(self) -> None: ...
    def start_utt(self) -> None: ...
    def process(self, samples: np.ndarray, full_utt: bool) -> None: ...
    def end_utt(self) -> None: ...
    def lookup_word(self, word: str) -> str | None: ...
    def add_word(self, word: str, phones: str) -> None: ...
    def use_grammar(self, path: str) -> None: ...
    def scored_segments(self) -> list[tuple[str, int, int, float]]: ...
    def close(self) -> None: ...


class _GrammarAPI:
    """The few C functions alignment needs beyond the recogniser's (same library, through ctypes)."""

    def __init__(self, api: _NativeAPI) -> None:
        import pocketsphinx._pocketsphinx as binding

        lib = ctypes.CDLL(binding.__file__)
        p, i, s, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_float

        def bind(name: str, restype: Any, *argtypes: Any) -> Any:
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = list(argtypes)
            return function

        self.api = api
        self.fsg_readfile = bind("fsg_model_readfile", p, s, p, f)
        self.fsg_free = bind("fsg_model_free", i, p)
        self.add_fsg = bind("ps_add_fsg", i, p, s, p)
        self.activate = bind("ps_activate_search", i, p, s)
        self.config_float = bind("ps_config_float", ctypes.c_double, p, s)
        self.get_config = bind("ps_get_config", p, p)


_grammar_lock = threading.Lock()
_grammar_value: list[_GrammarAPI | None] = []


def _grammar_api() -> _GrammarAPI | None:
    with _grammar_lock:
        if not _grammar_value:
            api = _native_api()
            try:
                _grammar_value.append(_GrammarAPI(api) if api is not None else None)
            except (OSError, AttributeError, ImportError) as exc:
                log.warning("pocketsphinx grammar API unavailable (%s); aligning through the binding", exc)
                _grammar_value.append(None)
        return _grammar_value[0]


class _NativeAlignDecoder(_NativeDecoder):
    """The recogniser's ctypes decoder plus grammars and acoustic scores (the GIL is released in C)."""

    def __init__(self, grammar: _GrammarAPI, config: Mapping[str, object]) -> None:
        super().__init__(grammar.api, config)
        self._grammar = grammar
        self.added: set[str] = set()
        self._lw = grammar.config_float(grammar.get_config(self._ps), b"lw")

    def add_word(self, word: str, phones: str) -> None:
        super().add_word(word, phones)
        self.added.add(word)

    def use_grammar(self, path: str) -> None:
        g = self._grammar
        fsg = g.fsg_readfile(path.encode(), self._logmath, self._lw)
        if not fsg:
            raise RuntimeError("pocketsphinx could not read the alignment grammar")
        try:
            if g.add_fsg(self._ps, b"align", fsg) < 0 or g.activate(self._ps, b"align") < 0:
                raise RuntimeError("pocketsphinx refused the alignment grammar")
        finally:
            g.fsg_free(fsg)  # the search keeps its own reference

    def scored_segments(self) -> list[tuple[str, int, int, float]]:
        """(word, first frame, last frame, ln acoustic likelihood) of the best path."""
        api = self._api
        out: list[tuple[str, int, int, float]] = []
        start, end = ctypes.c_int(), ctypes.c_int()
        ascr, lscr, lback = ctypes.c_int32(), ctypes.c_int32(), ctypes.c_int32()
        it = api.seg_iter(self._ps)
        while it:
            word = (api.seg_word(it) or b"").decode("utf-8", "replace")
            api.seg_frames(it, ctypes.byref(start), ctypes.byref(end))
            api.seg_prob(it, ctypes.byref(ascr), ctypes.byref(lscr), ctypes.byref(lback))
            ln_ascr = api.log_to_ln(self._logmath, ascr.value) * _SENSCR_SCALE
            out.append((word, start.value, end.value, ln_ascr))
            it = api.seg_next(it)
        return out


class _BindingAlignDecoder(_BindingDecoder):
    """Fallback through the Python binding (holds the GIL while decoding)."""

    def __init__(self, config: Mapping[str, object]) -> None:
        super().__init__(config)
        self.added: set[str] = set()

    def add_word(self, word: str, phones: str) -> None:
        super().add_word(word, phones)
        self.added.add(word)

    def use_grammar(self, path: str) -> None:
        fsg = self._decoder.read_fsg(path)
        self._decoder.add_fsg("align", fsg)
        self._decoder.activate_search("align")

    def scored_segments(self) -> list[tuple[str, int, int, float]]:
        return [
            (
                seg.word,
                seg.start_frame,
                seg.end_frame,
                math.log(seg.ascore) * _SENSCR_SCALE if seg.ascore > 0 else -math.inf,
            )
            for seg in self._decoder.seg()
        ]


def _grammar_text(keys: Sequence[str], stop_from: int | None) -> str:
    """An FSG (pocketsphinx text format) of ``keys`` in order; with ``stop_from`` it may end after any word
    from that (1-based) count on, otherwise only after the last."""
    n = len(keys)
    lines = ["FSG_BEGIN align", f"NUM_STATES {n + 1}", "START_STATE 0", f"FINAL_STATE {n}"]
    lines += [f"TRANSITION {i} {i + 1} 1.0 {key}" for i, key in enumerate(keys)]
    if stop_from is not None:
        lines += [f"TRANSITION {i} {n} 1.0" for i in range(max(1, stop_from), n)]
    lines.append("FSG_END")
    return "\n".join(lines) + "\n"


# --- the aligner ---------------------------------------------------------------------------------------


class ForcedAligner:
    """Aligns text to speech (see the module docstring). Thread-safe; decoders are pooled and lazily made."""

    name = "pocketsphinx"

    def __init__(
        self,
        *,
        model_dir: str | Path | None = None,
        vad: SileroVAD | None = None,
        settings: AlignerSettings | None = None,
        max_decoders: int | None = None,
        acquire_timeout_s: float | None = 300.0,
        native: bool = True,
    ) -> None:
        self._model_dir = model_dir
        self._vad = vad
        self.settings = settings or AlignerSettings()
        self.max_decoders = max(1, max_decoders or min(os.cpu_count() or 1, 4))
        self._native = native
        self._pool = _DecoderPool(self._new_decoder, self.max_decoders, acquire_timeout_s)
        self._pronunciations: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def vad(self) -> SileroVAD:
        return self._vad if self._vad is not None else shared_vad()

    def unavailable_reason(self) -> str | None:
        try:
            import pocketsphinx  # noqa: F401
        except ImportError:
            return "pocketsphinx is not installed; pip install pocketsphinx"
        paths = model_paths(self._model_dir)
        missing = [str(paths[k]) for k in ("hmm", "dict") if not paths[k].exists()]
        if missing:
            return f"pocketsphinx model files are missing: {', '.join(missing)}"
        return None  # Silero VAD only helps with long recordings, see _speech_segments

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def decoder_config(self) -> dict[str, object]:
        paths = model_paths(self._model_dir)
        config: dict[str, object] = {
            "hmm": str(paths["hmm"]),
            "dict": str(paths["dict"]),
            "loglevel": "FATAL",
        }
        config.update(self.settings.decoder_config)
        config["bestpath"] = False  # the loss is computed from the backtrace's scores (see _SENSCR_SCALE)
        return config

    def _new_decoder(self) -> _AlignDecoder:
        reason = self.unavailable_reason()
        if reason is not None:
            raise STTUnavailable(reason)
        grammar = _grammar_api() if self._native else None
        if grammar is not None:
            return _NativeAlignDecoder(grammar, self.decoder_config())
        return _BindingAlignDecoder(self.decoder_config())

    def close(self) -> None:
        self._pool.close()

    @contextlib.contextmanager
    def _lease(self) -> Iterator[_AlignDecoder]:
        # Words added to a decoder never disturb a later alignment (its grammar names only its own words),
        # so the pool's key stays empty; a decoder that has collected too many is dropped instead.
        decoder, _ = self._pool.acquire()
        ok = False
        try:
            yield decoder  # type: ignore[misc]
            ok = len(decoder.added) <= self.settings.max_added_words  # type: ignore[attr-defined]
        finally:
            self._pool.release(decoder, frozenset() if ok else None)

    # -- one request ----------------------------------------------------------------------------------

    def align(self, pcm: bytes, sample_rate: int, text: str) -> Alignment:
        """Align mono s16le ``pcm`` at ``sample_rate`` with ``text``.

        Raises :class:`AlignmentInputError` for input that cannot be aligned and :class:`STTUnavailable`
        when pocketsphinx or its model is missing.
        """
        reason = self.unavailable_reason()
        if reason is not None:
            raise STTUnavailable(reason)
        duration = len(pcm) // 2 / sample_rate if sample_rate > 0 else 0.0
        if duration < MIN_AUDIO_S:
            raise AlignmentInputError("The audio must be at least 100 ms long.")
        if duration > MAX_AUDIO_S + 1.0:
            raise AlignmentInputError(f"The audio is longer than {MAX_AUDIO_S / 3600:g} hours.")
        units = spoken_units(text)
        if not units:
            raise AlignmentInputError("The text has no words to align (only spaces and punctuation).")
        with self._lease() as decoder:
            units = self._pronounce(decoder, units)
        phones = sum(u.phones for u in units)
        if phones > self.settings.max_phones_per_second * max(duration, MIN_AUDIO_S):
            raise AlignmentInputError(
                f"The text is far too long for {duration:.1f} s of audio: it takes about {phones} "
                f"phones, more than {self.settings.max_phones_per_second:g} per second. Send the text "
                "that is actually spoken in the audio."
            )
        samples = prepare(pcm, sample_rate, normalize=self.settings.normalize)
        total = int(samples.size)
        single = total / SAMPLE_RATE <= self.settings.max_window_s
        speech = [] if single else self._speech_segments(samples)  # before leasing: VAD needs no decoder
        with self._lease() as decoder:
            self._pronounce(decoder, units)  # this decoder may lack words added to the first one
            if single:
                hits, windows = self._window(decoder, samples, 0, total, units, 0, len(units), final=True), 1
            else:
                hits, windows = self._windows(decoder, samples, units, speech)
        return Alignment(_place(units, hits, total), duration, windows)

    def _pronounce(self, decoder: _AlignDecoder, units: list[_Unit]) -> list[_Unit]:
        """Units with their phone counts; words missing from the dictionary are added to ``decoder``."""
        known: dict[str, int] = {}
        out: list[_Unit] = []
        for unit in units:
            count = known.get(unit.key)
            if count is None:
                phones = decoder.lookup_word(unit.key)
                if phones is None:
                    with self._lock:
                        phones = self._pronunciations.get(unit.key)
                    if phones is None:
                        phones = pronounce(unit.key)
                        with self._lock:
                            if len(self._pronunciations) < 100_000:
                                self._pronunciations[unit.key] = phones
                    decoder.add_word(unit.key, phones)
                count = known[unit.key] = max(1, len(phones.split()))
            out.append(_Unit(unit.key, unit.text, unit.char_start, unit.char_end, count))
        return out

    def _speech_segments(self, samples: np.ndarray) -> list[SpeechSegment]:
        """Where Silero VAD hears speech; everything, when VAD is not installed (windows then rely on the
        text alone, which works for recordings without long silences)."""
        if not self.vad.available():
            log.warning("aligning without Silero VAD: %s", self.vad.unavailable_reason())
            return [SpeechSegment(0, int(samples.size))]
        state = VADState()
        probs = [
            self.vad.probabilities(samples[i : i + _VAD_BLOCK].astype(np.float32) / 32768.0, state)
            for i in range(0, samples.size, _VAD_BLOCK)
        ]
        joined = np.concatenate(probs) if probs else np.zeros(0, np.float32)
        segments = segments_from_probabilities(joined, int(samples.size), self.settings.vad)
        return segments or [SpeechSegment(0, int(samples.size))]  # no speech heard: assume it is all speech

    def _windows(
        self, decoder: _AlignDecoder, samples: np.ndarray, units: list[_Unit], speech: list[SpeechSegment]
    ) -> tuple[list[_Hit], int]:
        settings = self.settings
        total = int(samples.size)
        # Pause midpoints (window cut candidates) and cumulative speech, for rate estimates.
        cuts = [(a.end + b.start) // 2 for a, b in zip(speech, speech[1:], strict=False) if b.start > a.end]
        starts = [s.start for s in speech]
        ends = [s.end for s in speech]
        cumulative = np.cumsum([0] + [s.end - s.start for s in speech])

        def speech_before(point: int) -> int:
            k = bisect.bisect_right(starts, point)
            if k == 0:
                return 0
            last = speech[k - 1]
            return int(cumulative[k - 1]) + max(0, min(point, last.end) - last.start)

        phones_after = np.cumsum([u.phones for u in units][::-1])[::-1].tolist() + [0]
        hits: list[_Hit] = []
        cursor, position, windows = 0, 0, 0
        rate_window = int(settings.window_s * SAMPLE_RATE)
        guard = int(settings.guard_s * SAMPLE_RATE)
        lead_in = SAMPLE_RATE // 5
        while position < len(units):
            windows += 1
            # Never start a window in a stretch VAD calls silence: the grammar would have to put its first
            # word there. Jump to just before the next speech.
            k = bisect.bisect_right(ends, cursor)
            if k < len(speech) and speech[k].start - lead_in > cursor:
                cursor = speech[k].start - lead_in
            if total - cursor <= settings.max_window_s * SAMPLE_RATE:
                hits += self._window(decoder, samples, cursor, total, units, position, len(units), final=True)
                break
            end = self._cut(
                cuts, cursor + rate_window // 2, cursor + rate_window, cursor + 3 * rate_window // 2
            )
            end = min(end, total)
            remaining_speech = max(SAMPLE_RATE, speech_before(total) - speech_before(cursor))
            rate = phones_after[position] / remaining_speech  # phones per sample of speech
            expected = rate * (speech_before(end) - speech_before(cursor))
            budget = 1.5 * expected + 30
            stop = position
            while stop < len(units) and phones_after[position] - phones_after[stop] <= budget:
                stop += 1
            stop = max(stop, position + 1)
            found = self._window(decoder, samples, cursor, end, units, position, stop, final=False)
            exhausted = stop < len(units) and bool(found) and found[-1].index == stop - 1
            keep = [h for h in found if h.end <= end - guard]
            if exhausted:  # the grammar ran out of words: its last ones may be stretched over the rest
                keep = keep[: max(0, len(found) - 3)]
            if not keep and found and found[0].start > cursor + SAMPLE_RATE:
                # Silence first: skip ahead to just before the first word.
                cursor = max(cursor + SAMPLE_RATE // 10, min(found[0].start - SAMPLE_RATE // 5, end - guard))
                continue
            if not keep and found:
                keep = found[:1]  # always make progress
            if not keep:
                cursor = max(cursor + SAMPLE_RATE, end - guard)  # no speech matched the words: move on
                continue
            hits += keep
            position = keep[-1].index + 1
            following = found[len(keep)] if len(found) > len(keep) else None
            new_cursor = (keep[-1].end + following.start) // 2 if following else keep[-1].end
            cursor = max(new_cursor, cursor + 1)
        return hits, windows

    @staticmethod
    def _cut(cuts: list[int], low: int, target: int, high: int) -> int:
        """The pause midpoint nearest ``target`` within [low, high], else ``target``."""
        k = bisect.bisect_left(cuts, target)
        best = [c for c in cuts[max(0, k - 1) : k + 1] if low <= c <= high]
        return min(best, key=lambda c: abs(c - target)) if best else target

    def _window(
        self,
        decoder: _AlignDecoder,
        samples: np.ndarray,
        start: int,
        end: int,
        units: list[_Unit],
        first: int,
        stop: int,
        final: bool,
    ) -> list[_Hit]:
        """Align ``units[first:stop]`` with ``samples[start:end]``; a non-final window may stop early.

        Should a final window's search lose every path that consumes all the words (text the audio
        does not hold), it is decoded again with a grammar that may stop early, so that the words it
        can place are placed.
        """
        hits = self._decode(decoder, samples, start, end, units, first, stop, final)
        if final and len(hits) < stop - first:
            retry = self._decode(decoder, samples, start, end, units, first, stop, False)
            if len(retry) > len(hits):
                hits = retry
        return hits

    def _decode(
        self,
        decoder: _AlignDecoder,
        samples: np.ndarray,
        start: int,
        end: int,
        units: list[_Unit],
        first: int,
        stop: int,
        final: bool,
    ) -> list[_Hit]:
        keys = [u.key for u in units[first:stop]]
        grammar = _grammar_text(keys, None if final else 1)
        handle, path = tempfile.mkstemp(prefix="chorus-align-", suffix=".fsg")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(grammar)
            decoder.use_grammar(path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        decoder.reinit_feat()
        decoder.start_utt()
        decoder.process(samples[start:end], full_utt=True)
        decoder.end_utt()
        hits: list[_Hit] = []
        index = first
        per_frame = SAMPLE_RATE // FRAME_RATE
        for word, first_frame, last_frame, ln_ascr in decoder.scored_segments():
            if _FILLER.match(word):
                continue
            if index >= stop or _ALTERNATE.sub("", word) != keys[index - first]:
                break  # not the grammar's next word: cannot happen with a linear grammar; stop trusting it
            frames = max(1, last_frame - first_frame + 1)
            loss = max(0.0, -ln_ascr / frames) if math.isfinite(ln_ascr) else UNALIGNED_LOSS
            hits.append(
                _Hit(
                    index,
                    min(end, start + first_frame * per_frame),
                    min(end, start + (last_frame + 1) * per_frame),
                    min(loss, UNALIGNED_LOSS),
                    frames,
                )
            )
            index += 1
        return hits


def _place(units: list[_Unit], hits: list[_Hit], total: int) -> tuple[AlignedWord, ...]:
    """Every unit with times: aligned ones as found, the others between their aligned neighbours."""
    by_index = {h.index: h for h in hits}
    words: list[AlignedWord] = []
    n = len(units)
    k = 0
    while k < n:
        hit = by_index.get(k)
        unit = units[k]
        if hit is not None:
            words.append(
                AlignedWord(
                    unit.text,
                    unit.char_start,
                    unit.char_end,
                    hit.start / SAMPLE_RATE,
                    hit.end / SAMPLE_RATE,
                    hit.loss,
                    hit.frames,
                )
            )
            k += 1
            continue
        # A run of unplaced units: spread them over the gap between the neighbouring placed ones.
        run_end = k
        while run_end < n and run_end not in by_index:
            run_end += 1
        gap_start = words[-1].end_s if words else 0.0
        gap_end = by_index[run_end].start / SAMPLE_RATE if run_end < n else total / SAMPLE_RATE
        gap_end = max(gap_end, gap_start)
        weights = [units[j].phones or 1 for j in range(k, run_end)]
        clock = gap_start
        for j, weight in zip(range(k, run_end), weights, strict=True):
            step = (gap_end - gap_start) * weight / sum(weights)
            u = units[j]
            words.append(
                AlignedWord(u.text, u.char_start, u.char_end, clock, clock + step, UNALIGNED_LOSS, 0, False)
            )
            clock += step
        k = run_end
    return tuple(words)
