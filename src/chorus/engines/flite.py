"""CMU Flite, in process through ctypes.

Flite ships English voices as shared libraries (``libflite_cmu_us_<voice>.so.1``). Three of the voices
used here are clustergen (statistical parametric) voices, ``kal16`` is a diphone voice; all run at
16 kHz.

Thread safety, measured rather than assumed: synthesising with several voices at once, and with one
voice from several threads at once, neither crashes nor corrupts output, because every utterance
carries its own state. What is shared is the C library's ``rand()``, which the clustergen vocoder
uses for its noise excitation; those voices therefore synthesise under the process-wide seeded
``rand()`` lock (which also makes them byte-for-byte deterministic). The diphone voice never calls
``rand()`` and only takes its own voice lock.

Word timings are read from the synthesised utterance (Token, Word and Segment relations), see
:func:`_word_times`, and mapped back to the caller's text through the transliterated sentence's
:class:`~chorus.engines.base.MappedText`.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import soxr

from chorus.engines.base import (
    AudioChunk,
    EngineCapabilities,
    EngineUnavailable,
    EngineVoice,
    MappedText,
    PCMFormat,
    RawWord,
    SynthesisRequest,
    UnknownVoice,
    chunks_by_sentence,
    clamp_speed,
    seeded_libc_rand,
    speakable_ascii,
)

ENGINE_NAME = "flite"
SAMPLE_RATE = 16_000
INSTALL_HINT = (
    "install CMU Flite with: apt-get install libflite1 (Debian/Ubuntu) or dnf install flite (Fedora)"
)


@dataclass(frozen=True)
class _VoiceSpec:
    native_id: str
    clustergen: bool  # uses the C library's rand() in its vocoder
    voice: EngineVoice
    # Evens out loudness between voices (measured speech level, aiming near -20 dBFS RMS while
    # keeping peaks clear of clipping).
    gain_db: float = 0.0


def _voice(
    native_id: str, name: str, gender: str, accent: str, age: str, description: str, use: str
) -> EngineVoice:
    return EngineVoice(ENGINE_NAME, native_id, name, gender, accent, age, "en", description, use)


VOICE_SPECS: dict[str, _VoiceSpec] = {
    spec.native_id: spec
    for spec in (
        _VoiceSpec(
            "rms",
            True,
            _voice(
                "rms", "Rowan", "male", "american", "middle_aged",
                "A calm, even American male voice with clear diction (CMU Flite, clustergen).",
                "narration",
            ),
            gain_db=1.5,
        ),
        _VoiceSpec(
            "slt",
            True,
            _voice(
                "slt", "Sally", "female", "american", "young",
                "A bright, friendly American female voice (CMU Flite, clustergen).",
                "conversational",
            ),
            gain_db=-3.0,
        ),
        _VoiceSpec(
            "awb",
            True,
            _voice(
                "awb", "Alasdair", "male", "scottish", "middle_aged",
                "A warm Scottish male voice with a gentle lilt (CMU Flite, clustergen).",
                "conversational",
            ),
        ),
        _VoiceSpec(
            "kal16",
            False,
            _voice(
                "kal16", "Kal", "male", "american", "middle_aged",
                "A crisp, classic-sounding American male diphone voice (CMU Flite).",
                "informative_educational",
            ),
            gain_db=6.0,
        ),
    )
}  # fmt: skip

DEFAULT_VOICES = tuple(VOICE_SPECS)


class _Wave(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_char_p),
        ("sample_rate", ctypes.c_int),
        ("num_samples", ctypes.c_int),
        ("num_channels", ctypes.c_int),
        ("samples", ctypes.POINTER(ctypes.c_short)),
    ]


class _Utterance(ctypes.Structure):
    # Only the leading member is read; see cst_utterance.h.
    _fields_ = [("features", ctypes.c_void_p)]


class _CgDbHead(ctypes.Structure):
    # The stable head of cst_cg_db (cst_cg.h says fields are only ever appended).
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("types", ctypes.c_void_p),
        ("num_types", ctypes.c_int),
        ("sample_rate", ctypes.c_int),
        ("f0_mean", ctypes.c_float),
        ("f0_stddev", ctypes.c_float),
    ]


class _VoiceHead(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("features", ctypes.c_void_p)]


@dataclass
class _LoadedVoice:
    spec: _VoiceSpec
    handle: int  # cst_voice *
    lock: threading.Lock
    duration_stretch: float  # the voice's own default, which speed scales
    f0_stddev: float | None  # natural pitch variation in Hz, which stability scales


class FliteEngine:
    """CMU Flite voices synthesised in process. Construction never raises; see :meth:`available`."""

    name = ENGINE_NAME

    def __init__(
        self,
        voices: Iterable[str] | None = None,
        *,
        library: str = "libflite.so.1",
        language_library: str = "libflite_usenglish.so.1",
        lexicon_library: str = "libflite_cmulex.so.1",
        voice_library: str = "libflite_cmu_us_{voice}.so.1",
    ) -> None:
        """Load the Flite libraries and register ``voices`` (default: all known voices).

        Voices whose library is missing are left out; the engine is unavailable only when Flite itself
        or every requested voice is missing.
        """
        self._reason: str | None = None
        self._voices: dict[str, _LoadedVoice] = {}
        self._fl: ctypes.CDLL | None = None
        wanted = list(voices) if voices is not None else list(DEFAULT_VOICES)
        unknown = [v for v in wanted if v not in VOICE_SPECS]
        if unknown:
            self._reason = (
                f"flite engine: unknown voice(s) {', '.join(unknown)}; known: {', '.join(VOICE_SPECS)}"
            )
            return
        try:
            self._load(library, language_library, lexicon_library, voice_library, wanted)
        except (OSError, AttributeError) as exc:
            self._fl = None
            self._voices = {}
            self._reason = f"flite engine unavailable: {exc}; {INSTALL_HINT}"

    # --- loading -------------------------------------------------------------------------------

    def _load(self, library: str, language: str, lexicon: str, voice_library: str, wanted: list[str]) -> None:
        # Voice libraries resolve symbols from the core, language and lexicon libraries, so those
        # must be loaded with global visibility first.
        mode = ctypes.RTLD_GLOBAL
        fl = ctypes.CDLL(library, mode=mode)
        ctypes.CDLL(language, mode=mode)
        ctypes.CDLL(lexicon, mode=mode)
        _declare(fl)
        missing: list[str] = []
        # Registration touches Flite's process-wide tables; the rand() lock is the process-wide lock
        # every clustergen synthesis already holds, so nothing synthesises while they change.
        with seeded_libc_rand(0):
            fl.flite_init()
            for native_id in wanted:
                try:
                    lib = ctypes.CDLL(voice_library.format(voice=native_id), mode=mode)
                except OSError:
                    missing.append(native_id)
                    continue
                register = getattr(lib, f"register_cmu_us_{native_id}")
                register.restype = ctypes.c_void_p
                register.argtypes = [ctypes.c_char_p]
                handle = register(None)  # idempotent: returns the library's one voice object
                if not handle:
                    missing.append(native_id)
                    continue
                self._voices[native_id] = self._describe(fl, VOICE_SPECS[native_id], handle)
        self._fl = fl
        if not self._voices:
            raise OSError(f"no Flite voice library could be loaded (tried {', '.join(missing)})")

    @staticmethod
    def _describe(fl: ctypes.CDLL, spec: _VoiceSpec, handle: int) -> _LoadedVoice:
        features = _VoiceHead.from_address(handle).features
        stretch = fl.flite_get_param_float(features, b"duration_stretch", 1.0) or 1.0
        f0_stddev: float | None = fl.flite_get_param_float(features, b"int_f0_target_stddev", -1.0)
        if f0_stddev is not None and f0_stddev <= 0:
            f0_stddev = None
            # Optional symbols: without them stability simply has no effect on clustergen voices.
            has_cg_db = hasattr(fl, "flite_get_param_val") and hasattr(fl, "val_cg_db")
            cg_db = fl.flite_get_param_val(features, b"cg_db", None) if has_cg_db else None
            if cg_db:
                db = fl.val_cg_db(cg_db)
                if db:
                    f0_stddev = float(_CgDbHead.from_address(db).f0_stddev) or None
        return _LoadedVoice(spec, handle, threading.Lock(), float(stretch), f0_stddev)

    # --- TTSEngine ---------------------------------------------------------------------------

    def available(self) -> bool:
        return self._reason is None

    def unavailable_reason(self) -> str | None:
        return self._reason

    def voices(self) -> list[EngineVoice]:
        return [loaded.spec.voice for loaded in self._voices.values()]

    def languages(self) -> list[tuple[str, str]]:
        return [("en", "English")] if self.available() else []

    def output_format(self) -> PCMFormat:
        return PCMFormat(SAMPLE_RATE)

    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities(
            streaming_output=True,
            streaming_input=False,
            timestamps=True,
            languages=tuple(code for code, _ in self.languages()),
            sample_rate=SAMPLE_RATE,
        )

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Yield one chunk of 16 kHz PCM per sentence of ``request.text``, with its words' timings.

        Flite speaks English only: a language hint is ignored and text is transliterated to ASCII.
        ``speed`` scales the voice's duration model; ``stability`` scales its pitch variation (0.5
        leaves the voice as recorded); ``seed`` seeds the clustergen noise excitation. An unavailable
        engine or unknown voice raises here, before any audio is produced.
        """
        if self._reason is not None:
            raise EngineUnavailable(self._reason)
        loaded = self._voices.get(request.native_voice)
        if loaded is None:
            raise UnknownVoice(
                f"flite has no voice {request.native_voice!r}; available: {', '.join(self._voices)}"
            )
        stretch = loaded.duration_stretch / clamp_speed(request.speed)
        f0_stddev = _scaled_f0_stddev(loaded.f0_stddev, request.stability)
        return self._chunks(loaded, request.text, stretch, f0_stddev, request.seed)

    def _chunks(
        self, loaded: _LoadedVoice, text: str, stretch: float, f0_stddev: float | None, seed: int | None
    ) -> Iterator[AudioChunk]:
        def render(sentence: MappedText) -> tuple[bytes, list[RawWord]]:
            spoken = speakable_ascii(sentence)
            if not any(ch.isalnum() for ch in spoken.text):
                return b"", []
            return self._synthesize_one(loaded, spoken, stretch, f0_stddev, seed)

        return chunks_by_sentence(text, self.output_format(), render)

    # --- one utterance -------------------------------------------------------------------------

    def _synthesize_one(
        self,
        loaded: _LoadedVoice,
        spoken: MappedText,
        stretch: float,
        f0_stddev: float | None,
        seed: int | None,
    ) -> tuple[bytes, list[RawWord]]:
        with loaded.lock:
            if loaded.spec.clustergen:
                with seeded_libc_rand(seed):
                    return self._render(loaded, spoken, stretch, f0_stddev)
            return self._render(loaded, spoken, stretch, f0_stddev)

    def _render(
        self, loaded: _LoadedVoice, spoken: MappedText, stretch: float, f0_stddev: float | None
    ) -> tuple[bytes, list[RawWord]]:
        text = spoken.text
        fl = self._fl
        assert fl is not None
        # flite_text_to_wave() would read speed from the shared voice; building the utterance
        # ourselves lets each request set its own features on the utterance's private copy.
        utt = fl.new_utterance()
        if not utt:
            raise MemoryError("flite could not allocate an utterance")
        try:
            fl.utt_set_input_text(utt, text.encode("ascii", "ignore"))
            fl.utt_init(utt, loaded.handle)
            features = _Utterance.from_address(utt).features
            fl.flite_feat_set_float(features, b"duration_stretch", stretch)
            if f0_stddev is not None:
                fl.flite_feat_set_float(features, b"int_f0_target_stddev", f0_stddev)
            if not fl.utt_synth(utt):
                raise RuntimeError(f"flite failed to synthesise {text[:60]!r}")
            wave_ptr = fl.utt_wave(utt)
            if not wave_ptr:
                return b"", []
            wave = wave_ptr.contents
            if wave.num_samples <= 0:
                return b"", []
            pcm = ctypes.string_at(wave.samples, wave.num_samples * wave.num_channels * 2)
            words = _word_times(fl, utt, spoken, wave.num_samples / wave.sample_rate)
            if wave.sample_rate != SAMPLE_RATE or wave.num_channels != 1:
                pcm = _to_mono_16k(pcm, wave.sample_rate, wave.num_channels)
            return _apply_gain(pcm, loaded.spec.gain_db), words
        finally:
            if utt:
                fl.delete_utterance(utt)


# From a word in the Token relation (a token's daughter) to its first and last phone.
_FIRST_SEGMENT = b"R:Word.R:SylStructure.daughter1.daughter1.R:Segment"
_LAST_SEGMENT = b"R:Word.R:SylStructure.daughtern.daughtern.R:Segment"


def _word_times(fl: ctypes.CDLL, utt: int, spoken: MappedText, duration_s: float) -> list[RawWord]:
    """Each token's span of the caller's text and the time from its first word's start to its last's end.

    Flite's Token relation holds the input's whitespace-separated tokens (``name`` is the token with
    its surrounding punctuation stripped, a verbatim substring of the input) in order; each token's
    daughters are the words it is read as ("123" → one hundred twenty three). A word starts where the
    phone before its first phone ends and ends with its last phone, from the Segment relation's ``end``
    times (seconds). Diphone voices render slightly shorter or longer than their segment plan, so
    times are scaled to the wave's real length.
    """
    text = spoken.text
    segments = fl.utt_relation(utt, b"Segment")
    last = fl.relation_tail(segments) if segments else None
    planned = _end_time(fl, last)
    scale = duration_s / planned if planned > 0 else 1.0
    tokens = fl.utt_relation(utt, b"Token")
    token = fl.relation_head(tokens) if tokens else None
    words: list[RawWord] = []
    cursor = 0
    while token:
        present = fl.item_feat_present(token, b"name")
        name = (fl.item_feat_string(token, b"name") if present else b"").decode("ascii", "replace")
        found = text.find(name, cursor) if name else -1
        if found >= 0:
            char_start, char_end = found, found + len(name)
            cursor = char_end
        else:  # not expected: fall back to the next whitespace-separated run
            while cursor < len(text) and text[cursor] == " ":
                cursor += 1
            char_start = cursor
            char_end = text.find(" ", cursor)
            char_end = len(text) if char_end < 0 else char_end
            cursor = char_end
        start_s: float | None = None
        end_s = 0.0
        word = fl.item_daughter(token)
        while word:
            first = fl.path_to_item(word, _FIRST_SEGMENT)
            final = fl.path_to_item(word, _LAST_SEGMENT)
            if first and final:
                if start_s is None:
                    start_s = _end_time(fl, fl.item_prev(first))
                end_s = max(end_s, _end_time(fl, final))
            word = fl.item_next(word)
        if start_s is not None and char_end > char_start:
            origin_start, origin_end = spoken.span(char_start, char_end)
            words.append((origin_start, origin_end, start_s * scale, max(start_s, end_s) * scale))
        token = fl.item_next(token)
    return words


def _end_time(fl: ctypes.CDLL, segment: int | None) -> float:
    # Reading a feature an item lacks is a fatal error in Flite, so check first.
    if not segment or not fl.item_feat_present(segment, b"end"):
        return 0.0
    return float(fl.item_feat_float(segment, b"end"))


def _scaled_f0_stddev(natural: float | None, stability: float) -> float | None:
    """Pitch spread for ``stability``: 0 → 1.5 × natural, 0.5 → natural (unset), 1 → 0.5 × natural."""
    if natural is None or stability == 0.5:
        return None
    stability = min(1.0, max(0.0, float(stability)))
    return natural * (1.5 - stability)


def _apply_gain(pcm: bytes, gain_db: float) -> bytes:
    if not gain_db:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * np.float32(10 ** (gain_db / 20))
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


def _to_mono_16k(pcm: bytes, rate: int, channels: int) -> bytes:
    # Only reached if a Flite build renders at another rate; the registered voices are all 16 kHz.
    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, max(1, channels)).mean(axis=1)
    out = soxr.resample(samples.astype(np.float32), rate, SAMPLE_RATE, quality="HQ")
    return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()


def _declare(fl: ctypes.CDLL) -> None:
    """Give the Flite functions used here their C signatures (ctypes otherwise assumes int)."""
    c_void_p, c_char_p, c_float = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float
    fl.flite_init.restype = ctypes.c_int
    fl.flite_init.argtypes = []
    fl.new_utterance.restype = c_void_p
    fl.new_utterance.argtypes = []
    fl.delete_utterance.restype = None
    fl.delete_utterance.argtypes = [c_void_p]
    fl.utt_set_input_text.restype = ctypes.c_int
    fl.utt_set_input_text.argtypes = [c_void_p, c_char_p]
    fl.utt_init.restype = c_void_p
    fl.utt_init.argtypes = [c_void_p, c_void_p]
    fl.utt_synth.restype = c_void_p
    fl.utt_synth.argtypes = [c_void_p]
    fl.utt_wave.restype = ctypes.POINTER(_Wave)
    fl.utt_wave.argtypes = [c_void_p]
    fl.flite_feat_set_float.restype = None
    fl.flite_feat_set_float.argtypes = [c_void_p, c_char_p, c_float]
    fl.flite_get_param_float.restype = c_float
    fl.flite_get_param_float.argtypes = [c_void_p, c_char_p, c_float]
    # Walking the utterance for word timings (cst_utterance.h, cst_relation.h, cst_item.h).
    for name, restype, argtypes in (
        ("utt_relation", c_void_p, [c_void_p, c_char_p]),
        ("relation_head", c_void_p, [c_void_p]),
        ("relation_tail", c_void_p, [c_void_p]),
        ("item_next", c_void_p, [c_void_p]),
        ("item_prev", c_void_p, [c_void_p]),
        ("item_daughter", c_void_p, [c_void_p]),
        ("path_to_item", c_void_p, [c_void_p, c_char_p]),
        ("item_feat_present", ctypes.c_int, [c_void_p, c_char_p]),
        ("item_feat_string", c_char_p, [c_void_p, c_char_p]),
        ("item_feat_float", c_float, [c_void_p, c_char_p]),
    ):
        function = getattr(fl, name)
        function.restype = restype
        function.argtypes = argtypes
    with contextlib.suppress(AttributeError):  # only used to read clustergen pitch statistics
        fl.flite_get_param_val.restype = c_void_p
        fl.flite_get_param_val.argtypes = [c_void_p, c_char_p, c_void_p]
        fl.val_cg_db.restype = c_void_p
        fl.val_cg_db.argtypes = [c_void_p]
