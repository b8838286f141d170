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

Prosody is set per utterance, on the utterance's own copy of the voice features (as ``flite --setf``
does on the voice): ``duration_stretch`` for speed, ``int_f0_target_mean`` and
``int_f0_target_stddev`` for pitch. The clustergen vocoder maps its predicted F0 through
``(f0 - db_mean) / db_stddev * stddev + mean`` and the diphone voice's intonation model (``us_f0_model``)
places its targets at ``mean + z * stddev``, so multiplying both by ``pitch`` multiplies the whole F0
contour by it, and ``pitch_range`` (times the spread ``stability`` asks for) scales the spread alone.
The rms voice takes its F0 from a SPAM accent model instead, which ignores those features: its pitch
and range are set through a per-utterance copy of its model, see :class:`_Spam`.

Given phonemes (``SynthesisRequest.phonemes``) are spoken through Flite's own explicit-pronunciation
hook: when the Token a word comes from carries a ``phones`` feature, lexical insertion
(``default_lexical_insertion`` in cst_synth.c) takes that word's phones from it instead of the
lexicon, then syllabifies and stresses them as it would a lexicon entry. So the utterance is built
in two steps: the voice's tokenizer module runs on a one-word placeholder, the ``phones`` feature
(Flite's lexicon phones, see :func:`chorus.engines.phonemes.flite_phones`) is set on that token, and
``utt_synth_tokens`` runs the rest of the usual pipeline (text analysis, phrasing, lexical insertion,
intonation, durations, waveform). Nothing shared is modified (no lexicon addenda), so no extra lock
is needed, and "T AH0 M EY1 T OW2" comes out byte-identical to Flite reading "tomato".
"""

from __future__ import annotations

import contextlib
import ctypes
import math
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
    clamp_pitch,
    clamp_pitch_range,
    clamp_speed,
    seeded_libc_rand,
    single_word_chunk,
    speakable_ascii,
)
from chorus.engines.phonemes import ARPABET_CONSONANTS, ARPABET_VOWELS, flite_phones

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


_FloatRows = ctypes.POINTER(ctypes.POINTER(ctypes.c_float))


class _CgDb(ctypes.Structure):
    # All of cst_cg_db as Flite 2.2 declares it (cst_cg.h), to copy it and change the copy.
    _fields_ = [
        *_CgDbHead._fields_,
        ("num_f0_models", ctypes.c_int),
        ("f0_trees", ctypes.c_void_p),
        ("num_param_models", ctypes.c_int),
        ("param_trees", ctypes.c_void_p),
        ("spamf0_accent_tree", ctypes.c_void_p),
        ("spamf0_phrase_tree", ctypes.c_void_p),
        ("num_channels", ctypes.c_void_p),
        ("num_frames", ctypes.c_void_p),
        ("model_vectors", ctypes.c_void_p),
        ("num_channels_spamf0_accent", ctypes.c_int),
        ("num_frames_spamf0_accent", ctypes.c_int),
        ("spamf0_accent_vectors", _FloatRows),
        ("model_min", ctypes.c_void_p),
        ("model_range", ctypes.c_void_p),
        ("qtable", ctypes.c_void_p),
        ("model_shape", ctypes.c_int),
        ("frame_advance", ctypes.c_float),
        ("num_dur_models", ctypes.c_int),
        ("dur_stats", ctypes.c_void_p),
        ("dur_cart", ctypes.c_void_p),
        ("phone_states", ctypes.c_void_p),
        ("do_mlpg", ctypes.c_int),
        ("dynwin", ctypes.c_void_p),
        ("dynwinsize", ctypes.c_int),
        ("mlsa_alpha", ctypes.c_float),
        ("mlsa_beta", ctypes.c_float),
        ("multimodel", ctypes.c_int),
        ("mixed_excitation", ctypes.c_int),
        ("ME_num", ctypes.c_int),
        ("ME_order", ctypes.c_int),
        ("me_h", ctypes.c_void_p),
        ("spamf0", ctypes.c_int),
        ("gain", ctypes.c_float),
        ("phoneset", ctypes.c_void_p),
        ("char_sym_map", ctypes.c_void_p),
        ("sym_phone_map", ctypes.c_void_p),
        ("freeable", ctypes.c_int),
    ]


# Zeroed room after a copied cst_cg_db, for fields a later Flite may have appended.
_CG_DB_SLACK = 512
# Channels of a SPAM accent vector used by cst_spamf0(): 0 is the accent's peak (log F0), 2 its
# amplitude (log F0), 6 its tilt.
_SPAM_PEAK, _SPAM_AMPLITUDE, _SPAM_CHANNELS = 0, 2, 7


@dataclass(frozen=True)
class _Spam:
    """A clustergen voice whose F0 comes from its SPAM accent model (cst_spamf0.c), not its F0 trees.

    cst_spamf0() overwrites the F0 that honoured ``int_f0_target_*``: each syllable's log F0 is the
    phrase tree's value plus an accent shape (peak, amplitude, tilt from ``spamf0_accent_vectors``),
    exponentiated. So pitch and range are set on a per-utterance copy of the voice's cg_db (given to
    the utterance as its ``cg_db`` feature; the voice's own is read-only) whose accent vectors have
    ``ln(pitch)`` added to every peak (multiplying F0 by pitch) and peaks' spread and amplitudes
    multiplied by ``pitch_range``.
    """

    db: int  # the voice's cst_cg_db *
    rows: tuple[tuple[float, ...], ...]  # its accent vectors

    def scaled(self, pitch: float, spread: float) -> tuple[ctypes.Array[ctypes.c_char], list[object]]:
        """A copy of the cg_db with scaled accents, and the buffers it points into (keep them alive)."""
        size = ctypes.sizeof(_CgDb)
        buffer = ctypes.create_string_buffer(size + _CG_DB_SLACK)
        ctypes.memmove(buffer, self.db, size)
        copy = _CgDb.from_buffer(buffer)
        copy.freeable = 0  # delete_cg_db() leaves a db alone unless it is marked freeable
        mean_peak = sum(row[_SPAM_PEAK] for row in self.rows) / len(self.rows)
        shift = math.log(pitch)
        Row = ctypes.c_float * len(self.rows[0])
        arrays = []
        for row in self.rows:
            values = list(row)
            values[_SPAM_PEAK] = mean_peak + (row[_SPAM_PEAK] - mean_peak) * spread + shift
            values[_SPAM_AMPLITUDE] = row[_SPAM_AMPLITUDE] * spread
            arrays.append(Row(*values))
        pointers = (ctypes.POINTER(ctypes.c_float) * len(arrays))(
            *(ctypes.cast(array, ctypes.POINTER(ctypes.c_float)) for array in arrays)
        )
        copy.spamf0_accent_vectors = ctypes.cast(pointers, _FloatRows)
        return buffer, [arrays, pointers]


class _VoiceHead(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("features", ctypes.c_void_p)]


class _LexiconHead(ctypes.Structure):
    # The leading members of cst_lexicon (cst_lexicon.h).
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("num_entries", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("num_bytes", ctypes.c_int),
        ("phone_table", ctypes.POINTER(ctypes.c_char_p)),
    ]


class _SynthModule(ctypes.Structure):
    # cst_synth_module (cst_synth.h): a voice feature naming a hook, and the default if it is unset.
    _fields_ = [("hookname", ctypes.c_char_p), ("defhook", ctypes.c_void_p)]


# The phones Flite's CMU lexicon knows (its phone_table): used when a voice's table cannot be read.
_CMU_LEXICON_PHONES = frozenset(
    {p.lower() for p in ARPABET_CONSONANTS}
    | {v.lower() + digit for v in ARPABET_VOWELS for digit in "01"}
    | {"ax0"}
)
# The word the tokenizer is given when phonemes are spoken; its phones come from the token instead.
_PLACEHOLDER = "word"


@dataclass
class _LoadedVoice:
    spec: _VoiceSpec
    handle: int  # cst_voice *
    lock: threading.Lock
    duration_stretch: float  # the voice's own default, which speed scales
    f0_stddev: float | None  # natural pitch variation in Hz, which stability and pitch_range scale
    f0_mean: float | None = None  # natural mean pitch in Hz, which pitch scales
    phones: frozenset[str] = _CMU_LEXICON_PHONES  # what its lexicon accepts as phones
    spam: _Spam | None = None  # set when its F0 comes from a SPAM accent model


@dataclass(frozen=True)
class _Prosody:
    """Per-utterance settings; None leaves the voice's own value."""

    stretch: float
    f0_mean: float | None = None
    f0_stddev: float | None = None
    pitch: float = 1.0  # for voices with a SPAM accent model, which ignore the two above
    spread: float = 1.0


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
        f0_mean: float | None = fl.flite_get_param_float(features, b"int_f0_target_mean", -1.0)
        # Optional symbols: without them stability and pitch simply have no effect on clustergen voices.
        has_param_val = hasattr(fl, "flite_get_param_val")
        head = None
        spam = None
        cg_db = fl.flite_get_param_val(features, b"cg_db", None) if has_param_val else None
        if cg_db and hasattr(fl, "val_cg_db"):
            db = fl.val_cg_db(cg_db)
            head = _CgDbHead.from_address(db) if db else None
            if db and hasattr(fl, "cg_db_val"):
                spam = _spam_model(db)
        if (f0_stddev is None or f0_stddev <= 0) or (f0_mean is None or f0_mean <= 0):
            if f0_stddev is None or f0_stddev <= 0:
                f0_stddev = (float(head.f0_stddev) or None) if head is not None else None
            if f0_mean is None or f0_mean <= 0:
                f0_mean = (float(head.f0_mean) or None) if head is not None else None
        phones = _CMU_LEXICON_PHONES
        lexicon = fl.flite_get_param_val(features, b"lexicon", None) if has_param_val else None
        if lexicon and hasattr(fl, "val_lexicon"):
            phones = _phone_table(fl.val_lexicon(lexicon)) or phones
        return _LoadedVoice(spec, handle, threading.Lock(), float(stretch), f0_stddev, f0_mean, phones, spam)

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
            independent_sentences=True,
        )

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Yield one chunk of 16 kHz PCM per sentence of ``request.text``, with its words' timings.

        Flite speaks English only: a language hint is ignored and text is transliterated to ASCII.
        ``speed`` scales the voice's duration model; ``stability`` scales its pitch variation (0.5
        leaves the voice as recorded), ``pitch`` its mean pitch and ``pitch_range`` the variation;
        ``seed`` seeds the clustergen noise excitation. With ``phonemes`` the whole text is spoken as
        one word with that pronunciation (unknown symbols dropped; if none is left, the text is read
        as usual). An unavailable engine or unknown voice raises here, before any audio is produced.
        """
        if self._reason is not None:
            raise EngineUnavailable(self._reason)
        loaded = self._voices.get(request.native_voice)
        if loaded is None:
            raise UnknownVoice(
                f"flite has no voice {request.native_voice!r}; available: {', '.join(self._voices)}"
            )
        prosody = _prosody(loaded, request)
        if request.phonemes is not None:
            phones = [p for p in flite_phones(request.phonemes, request.alphabet) if p in loaded.phones]
            if phones:
                return self._phoneme_chunks(loaded, request.text, " ".join(phones), prosody, request.seed)
        return self._chunks(loaded, request.text, prosody, request.seed)

    def _chunks(
        self, loaded: _LoadedVoice, text: str, prosody: _Prosody, seed: int | None
    ) -> Iterator[AudioChunk]:
        def render(sentence: MappedText) -> tuple[bytes, list[RawWord]]:
            spoken = speakable_ascii(sentence)
            if not any(ch.isalnum() for ch in spoken.text):
                return b"", []
            return self._synthesize_one(loaded, spoken, prosody, seed)

        return chunks_by_sentence(text, self.output_format(), render)

    def _phoneme_chunks(
        self, loaded: _LoadedVoice, text: str, phones: str, prosody: _Prosody, seed: int | None
    ) -> Iterator[AudioChunk]:
        pcm, words = self._synthesize_one(loaded, MappedText(_PLACEHOLDER), prosody, seed, phones)
        start_s = min((word[2] for word in words), default=0.0)
        end_s = max((word[3] for word in words), default=len(pcm) / self.output_format().bytes_per_second)
        chunk = single_word_chunk(text, self.output_format(), pcm, start_s, end_s)
        if chunk is not None:
            yield chunk

    # --- one utterance -------------------------------------------------------------------------

    def _synthesize_one(
        self,
        loaded: _LoadedVoice,
        spoken: MappedText,
        prosody: _Prosody,
        seed: int | None,
        phones: str | None = None,
    ) -> tuple[bytes, list[RawWord]]:
        with loaded.lock:
            if loaded.spec.clustergen:
                with seeded_libc_rand(seed):
                    return self._render(loaded, spoken, prosody, phones)
            return self._render(loaded, spoken, prosody, phones)

    def _render(
        self, loaded: _LoadedVoice, spoken: MappedText, prosody: _Prosody, phones: str | None = None
    ) -> tuple[bytes, list[RawWord]]:
        """Synthesise ``spoken``; with ``phones``, ``spoken`` is one placeholder word said with them."""
        text = spoken.text
        fl = self._fl
        assert fl is not None
        # flite_text_to_wave() would read speed from the shared voice; building the utterance
        # ourselves lets each request set its own features on the utterance's private copy.
        utt = fl.new_utterance()
        if not utt:
            raise MemoryError("flite could not allocate an utterance")
        keep_alive: list[object] = []  # memory the utterance points into, until it is deleted
        try:
            fl.utt_set_input_text(utt, text.encode("ascii", "ignore"))
            fl.utt_init(utt, loaded.handle)
            features = _Utterance.from_address(utt).features
            fl.flite_feat_set_float(features, b"duration_stretch", prosody.stretch)
            if prosody.f0_mean is not None:
                fl.flite_feat_set_float(features, b"int_f0_target_mean", prosody.f0_mean)
            if prosody.f0_stddev is not None:
                fl.flite_feat_set_float(features, b"int_f0_target_stddev", prosody.f0_stddev)
            if loaded.spam is not None and (prosody.pitch != 1.0 or prosody.spread != 1.0):
                db_copy, buffers = loaded.spam.scaled(prosody.pitch, prosody.spread)
                keep_alive += [db_copy, buffers]
                fl.flite_feat_set(features, b"cg_db", fl.cg_db_val(ctypes.addressof(db_copy)))
            if phones is None:
                done = fl.utt_synth(utt)
            else:
                # Tokenise as utt_synth() would, give the token its phones, then run the rest.
                tokenizer = ctypes.cast(fl.default_tokenization, ctypes.c_void_p).value
                module = _SynthModule(b"tokenizer_func", tokenizer)
                fl.apply_synth_module(utt, ctypes.byref(module))
                tokens = fl.utt_relation(utt, b"Token")
                token = fl.relation_head(tokens) if tokens else None
                if not token:
                    raise RuntimeError("flite found no token to give phones to")
                fl.item_set_string(token, b"phones", phones.encode("ascii"))
                done = fl.utt_synth_tokens(utt)
            if not done:
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
            keep_alive.clear()


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


def _prosody(loaded: _LoadedVoice, request: SynthesisRequest) -> _Prosody:
    """The utterance features ``request`` asks of ``loaded`` (None: leave the voice's own)."""
    stretch = loaded.duration_stretch / clamp_speed(request.speed)
    f0_stddev = _scaled_f0_stddev(loaded.f0_stddev, request.stability)
    pitch = clamp_pitch(request.pitch)
    spread = clamp_pitch_range(request.pitch_range)
    f0_mean: float | None = None
    if pitch != 1.0 and loaded.f0_mean is not None:
        f0_mean = loaded.f0_mean * pitch
    else:
        pitch = 1.0  # a voice without a known mean keeps its pitch, spread included
    if loaded.spam is not None:
        # Its F0 ignores int_f0_target_* (and so stability, as it always has): see _Spam.
        return _Prosody(stretch, None, f0_stddev, clamp_pitch(request.pitch), spread)
    if (pitch != 1.0 or spread != 1.0) and loaded.f0_stddev is not None:
        # Scaling the spread by pitch as well multiplies the whole contour by pitch.
        f0_stddev = (loaded.f0_stddev if f0_stddev is None else f0_stddev) * spread * pitch
    return _Prosody(stretch, f0_mean, f0_stddev)


def _spam_model(db: int) -> _Spam | None:
    """The SPAM accent model of the cst_cg_db at ``db``, if its voice uses one."""
    head = _CgDb.from_address(db)
    if not head.spamf0 or not head.spamf0_accent_vectors:
        return None
    count, channels = head.num_frames_spamf0_accent, head.num_channels_spamf0_accent
    if count <= 0 or channels < _SPAM_CHANNELS:
        return None
    rows = tuple(tuple(head.spamf0_accent_vectors[i][c] for c in range(channels)) for i in range(count))
    return _Spam(db, rows)


def _phone_table(lexicon: int | None) -> frozenset[str]:
    """The phones a cst_lexicon accepts (its NULL-terminated phone_table), or an empty set."""
    if not lexicon:
        return frozenset()
    table = _LexiconHead.from_address(lexicon).phone_table
    phones: set[str] = set()
    if table:
        index = 0
        while index < 1000 and table[index]:
            phones.add(table[index].decode("ascii", "replace"))
            index += 1
    return frozenset(phones)


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
    # Speaking given phones (cst_synth.h, cst_item.h); all exported by libflite 2.0 and later.
    fl.apply_synth_module.restype = c_void_p
    fl.apply_synth_module.argtypes = [c_void_p, ctypes.POINTER(_SynthModule)]
    fl.utt_synth_tokens.restype = c_void_p
    fl.utt_synth_tokens.argtypes = [c_void_p]
    fl.item_set_string.restype = None
    fl.item_set_string.argtypes = [c_void_p, c_char_p, c_char_p]
    fl.default_tokenization  # noqa: B018 - only its address is used; fail at load time if missing
    with contextlib.suppress(AttributeError):  # only used to read pitch statistics and the lexicon
        fl.flite_get_param_val.restype = c_void_p
        fl.flite_get_param_val.argtypes = [c_void_p, c_char_p, c_void_p]
        fl.val_cg_db.restype = c_void_p
        fl.val_cg_db.argtypes = [c_void_p]
        fl.val_lexicon.restype = c_void_p
        fl.val_lexicon.argtypes = [c_void_p]
    with contextlib.suppress(AttributeError):  # only used to change pitch on SPAM-accent voices
        fl.cg_db_val.restype = c_void_p
        fl.cg_db_val.argtypes = [c_void_p]
        fl.flite_feat_set.restype = None
        fl.flite_feat_set.argtypes = [c_void_p, c_char_p, c_void_p]
