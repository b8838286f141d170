"""eSpeak NG, in process through ``libespeak-ng.so.1`` and its synchronous callback API.

eSpeak NG keeps all of its state in C globals, and some of it (the pitch-flutter phase, the
automatic gain, the breath-noise generator) runs on from one call to the next and is never reset,
even by ``espeak_Terminate()`` followed by ``espeak_Initialize()`` (which hangs in 1.51 anyway). So
the same sentence spoken twice comes out slightly different. To make output a pure function of the
request, every sentence is rendered by a freshly loaded copy of the library: the engine keeps the
library's bytes in an anonymous in-memory file, ``dlopen``s it, initialises, speaks, terminates and
``dlclose``s it. That costs a few milliseconds per sentence and makes the output byte-identical
whatever ran before. The private copy also keeps this engine clear of any other user of the system
library in the process. One lock per engine serialises the library; the process-wide ``rand()`` lock
is held as well because eSpeak draws breath noise from the C library's generator.

Word timings come from the events eSpeak passes to the synthesis callback: a word event gives a
word's character position in the text it was given and its start in milliseconds, phoneme events
(pauses included) tell where it stops. Positions are mapped back to the caller's text through the
sentence's :class:`~chorus.engines.base.MappedText`; see :func:`_word_times` for eSpeak's quirks.
Asking for phoneme events does not change the audio.

Pitch uses eSpeak's own parameters, read back from the selected voice and scaled: ``espeakPITCH``
(0..99, default 50) sets the base pitch through ``pitch_adjust_tab``, which is 2 ** ((value - 50) /
50), so ``pitch`` p adds 50 * log2(p); ``espeakRANGE`` (0..99, default 50) multiplies the voice's
pitch range (in Hz) by value / 50, and gets ``(1.5 - stability) * pitch_range * pitch`` times the
voice's value, so that pitch moves the whole contour and pitch_range (with stability, as before)
its spread. Both saturate at 99 (base pitch about x1.97, range about x2).

Given phonemes (``SynthesisRequest.phonemes``) become eSpeak NG mnemonics (see
:mod:`chorus.engines.phonemes`) spoken as ``[[...]]`` with ``espeakPHONEMES`` set, which is what turns
on eSpeak's phoneme input (the ``espeak-ng`` program sets it by default, the library does not), in
the request's voice and language.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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
    libc,
    seeded_libc_rand,
    single_word_chunk,
)
from chorus.engines.phonemes import espeak_mnemonics
from chorus.engines.private_library import PrivateLibrary

ENGINE_NAME = "espeak-ng"
INSTALL_HINT = (
    "install eSpeak NG with: apt-get install libespeak-ng1 espeak-ng-data (Debian/Ubuntu) "
    "or dnf install espeak-ng (Fedora)"
)

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001  # report each phoneme (pauses included) as an event
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_PHONEMES = 0x100  # read [[...]] as phoneme mnemonics
_ENDPAUSE = 0x1000  # keep the pause after the final clause, so sentences do not run together
_POS_CHARACTER = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_PARAM_MAX = 99  # espeak_SetParameter caps pitch and range here
_EE_OK = 0
# espeak_EVENT_TYPE
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5  # end of a clause
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7

DEFAULT_RATE_WPM = 175
MIN_RATE_WPM = 80
MAX_RATE_WPM = 450


def _voice(
    native_id: str, name: str, gender: str, accent: str, age: str, description: str, use: str
) -> EngineVoice:
    return EngineVoice(ENGINE_NAME, native_id, name, gender, accent, age, "en", description, use)


# The premade voices: eSpeak NG language voices with a voice variant. Variants were chosen by
# transcribing their speech with an independent recogniser (PocketSphinx, US English) and keeping the
# clearest variant for each accent; the female "f5" and male "m1" variants came out on top.
PREMADE_VOICES: tuple[EngineVoice, ...] = (
    _voice(
        "en-us+f5", "Ivy", "female", "american", "young",
        "A clear, bright American female voice (eSpeak NG formant synthesis).",
        "conversational",
    ),
    _voice(
        "en-us+m1", "Miles", "male", "american", "middle_aged",
        "A steady American male voice (eSpeak NG formant synthesis).",
        "informative_educational",
    ),
    _voice(
        "en+f5", "Harriet", "female", "british", "middle_aged",
        "A poised British female voice (eSpeak NG formant synthesis).",
        "narration",
    ),
    _voice(
        "en+m1", "Edmund", "male", "british", "middle_aged",
        "A measured British male voice (eSpeak NG formant synthesis).",
        "narration",
    ),
    _voice(
        "en-gb-scotland+f5", "Isla", "female", "scottish", "young",
        "A lively Scottish female voice (eSpeak NG formant synthesis).",
        "conversational",
    ),
)  # fmt: skip


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated name)*, then a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class _Event(ctypes.Structure):
    """espeak_EVENT (speak_lib.h)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters of the text passed
        ("length", ctypes.c_int),  # characters, for word events
        ("audio_position", ctypes.c_int),  # milliseconds from the start of this synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # a phoneme's name for phoneme events (union with int/char*)
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class _Mark:
    """What one espeak_EVENT said, copied out of the callback."""

    type: int
    text_position: int
    length: int
    audio_ms: int
    pause: bool  # a pause phoneme ("_", "_:", "_!" ...)


@dataclass(frozen=True)
class _Settings:
    """How to speak, as eSpeak parameters (the voice's own values are only known once it is selected)."""

    wpm: int
    range_factor: float  # times the voice's pitch range parameter
    pitch: float = 1.0  # multiplier of the voice's base pitch


@dataclass(frozen=True)
class _ListedVoice:
    name: str
    identifier: str
    languages: tuple[tuple[int, str], ...]  # (priority, lowercase tag such as "en-us")


class EspeakEngine:
    """eSpeak NG voices synthesised in process. Construction never raises; see :meth:`available`."""

    name = ENGINE_NAME

    def __init__(
        self,
        voices: Iterable[EngineVoice] | None = None,
        *,
        library: str = "libespeak-ng.so.1",
        data_path: str | None = None,
    ) -> None:
        """Load ``library`` once to check it works, read its voice list and keep a private copy.

        ``voices`` replaces the premade voice list; ``data_path`` is the directory holding
        ``espeak-ng-data`` (default: the library's compiled-in location).
        """
        self._premade = tuple(voices) if voices is not None else PREMADE_VOICES
        self._data_path = data_path.encode() if data_path else None
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._library: PrivateLibrary | None = None
        self._sample_rate = 22_050
        self._listed: tuple[_ListedVoice, ...] = ()
        self._languages: tuple[tuple[str, str], ...] | None = None
        self._frees_voice_list = False
        self._sink: list[bytes] = []
        self._marks: list[_Mark] = []
        # One callback object for the engine's lifetime: ctypes must keep it alive while C holds it.
        self._callback = _SynthCallback(self._on_audio)
        try:
            self._prepare(library)
        except (OSError, AttributeError, RuntimeError) as exc:
            if self._library is not None:
                self._library.close()
            self._reason = f"espeak-ng engine unavailable: {exc}; {INSTALL_HINT}"

    # --- loading -------------------------------------------------------------------------------

    def _prepare(self, library: str) -> None:
        self._library = PrivateLibrary(library, "espeak_Initialize", _declare, "chorus-espeak-ng")
        with self._lock, seeded_libc_rand(0), self._instance() as lib:
            rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data_path, _INITIALIZE_DONT_EXIT)
            if rate <= 0:
                raise RuntimeError("espeak_Initialize failed (is espeak-ng-data installed?)")
            self._sample_rate = int(rate)
            listed = None
            try:
                version = lib.espeak_Info(None)
                self._frees_voice_list = _leaks_voice_list(version or b"")
                listed = lib.espeak_ListVoices(None)
                self._listed = tuple(_read_voice_list(listed))
            finally:
                lib.espeak_Terminate()
                if self._frees_voice_list and listed:
                    _libc_free(listed)
        if not self._listed:
            raise RuntimeError("espeak-ng lists no voices (is espeak-ng-data installed?)")

    def _instance(self) -> contextlib.AbstractContextManager[ctypes.CDLL]:
        """A freshly loaded library instance, unloaded again (so its globals reset) on exit."""
        assert self._library is not None
        return self._library.instance()

    # --- TTSEngine ---------------------------------------------------------------------------

    def available(self) -> bool:
        return self._reason is None

    def unavailable_reason(self) -> str | None:
        return self._reason

    def voices(self) -> list[EngineVoice]:
        return list(self._premade) if self.available() else []

    def languages(self) -> list[tuple[str, str]]:
        """Every language some installed eSpeak NG voice speaks, with its English name.

        Codes are the primary subtags eSpeak NG gives its voices: ISO 639-1 ("de") where the language has
        one, else ISO 639-3 ("yue", "haw", "chr"); private-use codes (qaa..qtz, "piqd") are left out. An
        ISO 639-3 language's name keeps its voice's qualifier ("Chinese (Cantonese)", "Greek (Ancient)"),
        as most of them are varieties of a language listed under its two-letter code.
        """
        if self._languages is None:
            codes = {tag.split("-", 1)[0] for voice in self._listed for _, tag in voice.languages}
            result: list[tuple[str, str]] = []
            for code in sorted(codes):
                if not _is_language_code(code):
                    continue
                voice = self._best_voice_for(code)
                if voice is not None:
                    result.append((code, _language_name(voice.name, qualified=len(code) == 3)))
            # Worked out once: capabilities() (and so this) is consulted on every request with a language.
            self._languages = tuple(result)
        return list(self._languages) if self.available() else []

    def output_format(self) -> PCMFormat:
        return PCMFormat(self._sample_rate)

    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities(
            streaming_output=True,
            streaming_input=False,
            timestamps=True,
            languages=tuple(code for code, _ in self.languages()),
            sample_rate=self._sample_rate,
            independent_sentences=True,
        )

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Yield one chunk of PCM (22.05 kHz) per sentence of ``request.text``, with its words' timings.

        ``native_voice`` is any eSpeak NG voice name, optionally with a variant ("en-us+f3"). A
        ``language`` hint that the voice does not speak switches to that language's voice while
        keeping the variant. ``speed`` scales the words per minute, ``stability`` and
        ``pitch_range`` the pitch range, ``pitch`` the base pitch. With ``phonemes`` the whole text is
        spoken as one word with that pronunciation (unknown symbols dropped; if none is left, the text
        is read as usual). An unavailable engine or unknown voice raises here, before any audio.
        """
        if self._reason is not None:
            raise EngineUnavailable(self._reason)
        voice_name = self._voice_for(request.native_voice, request.language)
        wpm = round(DEFAULT_RATE_WPM * clamp_speed(request.speed))
        wpm = min(MAX_RATE_WPM, max(MIN_RATE_WPM, wpm))
        stability = min(1.0, max(0.0, float(request.stability)))
        # stability 0.5 keeps the voice's range (eSpeak's default of 50); pitch_range multiplies it.
        range_factor = 1.5 - stability
        spread = clamp_pitch_range(request.pitch_range)
        pitch = clamp_pitch(request.pitch)
        if spread != 1.0 or pitch != 1.0:
            # The range is in Hz: scaling it by pitch too multiplies the whole contour by pitch.
            range_factor *= spread * pitch
        settings = _Settings(wpm, range_factor, pitch)
        if request.phonemes is not None:
            mnemonics = espeak_mnemonics(request.phonemes, request.alphabet)
            if mnemonics:
                return self._phoneme_chunks(request.text, voice_name, settings, mnemonics, request.seed)
        return self._chunks(request.text, voice_name, settings, request.seed)

    def _chunks(
        self, text: str, voice_name: bytes, settings: _Settings, seed: int | None
    ) -> Iterator[AudioChunk]:
        def render(sentence: MappedText) -> tuple[bytes, list[RawWord]]:
            # eSpeak counts positions in characters of what it is given; characters that cannot be
            # encoded (lone surrogates) are removed first so that its count and ours agree.
            sentence = sentence.sub(_UNENCODABLE, "")
            pcm, marks = self._synthesize_one(sentence.text, voice_name, settings, seed)
            duration_s = len(pcm) / (2 * self._sample_rate)
            return pcm, _word_times(marks, sentence, duration_s) if pcm else []

        return chunks_by_sentence(text, self.output_format(), render)

    def _phoneme_chunks(
        self, text: str, voice_name: bytes, settings: _Settings, mnemonics: str, seed: int | None
    ) -> Iterator[AudioChunk]:
        pcm, marks = self._synthesize_one(f"[[{mnemonics}]]", voice_name, settings, seed, phonemes=True)
        start_s, end_s = _voiced_time(marks, len(pcm) / (2 * self._sample_rate))
        chunk = single_word_chunk(text, self.output_format(), pcm, start_s, end_s)
        if chunk is not None:
            yield chunk

    # --- voices and languages ------------------------------------------------------------------

    def _voice_for(self, native_voice: str, language: str | None) -> bytes:
        """The name to hand espeak_SetVoiceByName(): a voice file identifier plus any variant."""
        base, _, variant = native_voice.strip().partition("+")
        if (
            not base
            or not re.fullmatch(r"[A-Za-z0-9_\-/]+", base)
            or (variant and not re.fullmatch(r"[A-Za-z0-9_\-]+", variant))
        ):
            raise UnknownVoice(f"espeak-ng voice names look like 'en-us' or 'en-us+f3', not {native_voice!r}")
        voice = self._find_voice(base)
        if voice is None:
            raise UnknownVoice(f"espeak-ng has no voice or language {base!r}")
        if language:
            code = language.strip().lower().replace("_", "-").split("-", 1)[0]
            if code and code != _primary_language(voice):
                voice = self._best_voice_for(code) or voice
        # Voice file identifiers ("gmw/en-US") load directly, without a search by language.
        return f"{voice.identifier}+{variant}".encode() if variant else voice.identifier.encode()

    def _find_voice(self, base: str) -> _ListedVoice | None:
        """The voice called ``base`` (identifier, file or display name), else the best for that language."""
        wanted = base.lower()
        for voice in self._listed:
            identifier = voice.identifier.lower()
            if wanted in (identifier, identifier.rsplit("/", 1)[-1], voice.name.lower()):
                return voice
        return self._best_voice_for(wanted)

    def _best_voice_for(self, tag: str) -> _ListedVoice | None:
        """The voice eSpeak NG ranks first for language ``tag`` (lowest priority number wins).

        Voices tagged ``tag`` exactly come first; failing those, voices whose tag starts with it as its
        primary subtag (Cherokee is only tagged "chr-us-qaaa-x-west").
        """
        for matches in (lambda t: t == tag, lambda t: t.split("-", 1)[0] == tag):
            best: tuple[int, int, _ListedVoice] | None = None
            for index, voice in enumerate(self._listed):
                for priority, voice_tag in voice.languages:
                    if matches(voice_tag) and (best is None or (priority, index) < best[:2]):
                        best = (priority, index, voice)
            if best is not None:
                return best[2]
        return None

    # --- one utterance -------------------------------------------------------------------------

    def _on_audio(self, wav: object, count: int, events: int | None) -> int:
        if events:
            array = ctypes.cast(events, ctypes.POINTER(_Event))
            index = 0
            while (event := array[index]).type != _EVENT_LIST_TERMINATED:
                index += 1
                if event.type in (_EVENT_WORD, _EVENT_END, _EVENT_MSG_TERMINATED, _EVENT_PHONEME):
                    pause = event.type == _EVENT_PHONEME and event.id.startswith(b"_")
                    self._marks.append(
                        _Mark(event.type, event.text_position, event.length, event.audio_position, pause)
                    )
        if count > 0 and wav:
            self._sink.append(ctypes.string_at(wav, count * 2))
        return 0  # 0 = carry on

    def _synthesize_one(
        self, text: str, voice: bytes, settings: _Settings, seed: int | None, *, phonemes: bool = False
    ) -> tuple[bytes, list[_Mark]]:
        data = text.encode("utf-8", "ignore")
        with self._lock, seeded_libc_rand(seed), self._instance() as lib:
            self._sink = []
            self._marks = []
            listed = None
            options = _INITIALIZE_DONT_EXIT | _INITIALIZE_PHONEME_EVENTS
            rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data_path, options)
            if rate <= 0:
                raise RuntimeError("espeak_Initialize failed")
            try:
                lib.espeak_SetSynthCallback(self._callback)
                if lib.espeak_SetVoiceByName(voice) != _EE_OK:
                    raise UnknownVoice(f"espeak-ng could not select voice {voice.decode()!r}")
                lib.espeak_SetParameter(_PARAM_RATE, settings.wpm, 0)
                voice_range = lib.espeak_GetParameter(_PARAM_RANGE, 1)
                lib.espeak_SetParameter(_PARAM_RANGE, _scaled_range(voice_range, settings.range_factor), 0)
                if settings.pitch != 1.0:
                    voice_pitch = lib.espeak_GetParameter(_PARAM_PITCH, 1)
                    lib.espeak_SetParameter(_PARAM_PITCH, _scaled_pitch(voice_pitch, settings.pitch), 0)
                flags = _CHARS_UTF8 | _ENDPAUSE | (_PHONEMES if phonemes else 0)
                status = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, flags, None, None)
                if status != _EE_OK:
                    raise RuntimeError(f"espeak_Synth failed with status {status}")
                if self._frees_voice_list:
                    # Fetch the voice list that voice selection allocated, to free it after unloading.
                    listed = lib.espeak_ListVoices(None)
            finally:
                lib.espeak_Terminate()
                if listed:
                    _libc_free(listed)
            pcm, self._sink = b"".join(self._sink), []
            marks, self._marks = self._marks, []
        return pcm, marks


def _scaled_range(voice_range: int, factor: float) -> int:
    """eSpeak's range parameter for ``factor`` times the voice's ``voice_range``."""
    return min(_PARAM_MAX, max(0, round(voice_range * factor)))


def _scaled_pitch(voice_pitch: int, pitch: float) -> int:
    """eSpeak's pitch parameter for ``pitch`` times the voice's base pitch (2 ** ((value - 50) / 50))."""
    return min(_PARAM_MAX, max(0, round(voice_pitch + 50 * math.log2(pitch))))


def _voiced_time(marks: list[_Mark], duration_s: float) -> tuple[float, float]:
    """From the first sounding phoneme to the pause (or end) after the last one, in seconds."""
    start_s: float | None = None
    end_s = duration_s
    voiced_at = -1
    for index, mark in enumerate(marks):
        if mark.type == _EVENT_PHONEME and not mark.pause:
            if start_s is None:
                start_s = mark.audio_ms / 1000
            voiced_at = index
    if voiced_at >= 0:
        for mark in marks[voiced_at + 1 :]:
            if mark.type in (_EVENT_PHONEME, _EVENT_WORD, _EVENT_END, _EVENT_MSG_TERMINATED):
                end_s = mark.audio_ms / 1000
                break
    start = min(start_s or 0.0, duration_s)
    return start, min(max(end_s, start), duration_s)


_UNENCODABLE = re.compile("[\ud800-\udfff]")
# Punctuation trimmed from the ends of a word (currency and other symbols are spoken, so they stay).
_TRIMMED = frozenset(("Ps", "Pe", "Pi", "Pf", "Pd"))
_TRIMMED_OTHER = frozenset(".,;:!?¡¿…\"'·‥")


def _trimmable(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category in _TRIMMED or (category == "Po" and ch in _TRIMMED_OTHER)


def _is_wide(ch: str) -> bool:
    # Scripts written without spaces between words (CJK) and emoji: a "word" is what eSpeak says.
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _word_span(text: str, position: int, length: int) -> tuple[int, int] | None:
    """The word of ``text`` at character ``position`` (0-based), or None at whitespace.

    eSpeak's word lengths are unreliable (0 after an opening quote, "don" for "don’t", and a number
    read as several words reports pieces of it), so a word is the whitespace-separated run that
    holds the position, without the punctuation around it. In text written without spaces the
    reported length is used.
    """
    if position >= len(text) or text[position].isspace():
        return None
    if _is_wide(text[position]):
        end = position + 1
        while end < min(len(text), position + max(length, 1)) and not text[end].isspace():
            end += 1
        return position, end
    start = position
    while start > 0 and not text[start - 1].isspace() and not _is_wide(text[start - 1]):
        start -= 1
    end = position + 1
    while end < len(text) and not text[end].isspace() and not _is_wide(text[end]):
        end += 1
    trimmed_start, trimmed_end = start, end
    while trimmed_start < trimmed_end and _trimmable(text[trimmed_start]):
        trimmed_start += 1
    while trimmed_end > trimmed_start and _trimmable(text[trimmed_end - 1]):
        trimmed_end -= 1
    # A word of nothing but punctuation ("—" read as a pause, "?" read aloud) keeps its characters.
    return (trimmed_start, trimmed_end) if trimmed_start < trimmed_end else (start, end)


def _word_times(marks: list[_Mark], sentence: MappedText, duration_s: float) -> list[RawWord]:
    """Each word's span of the caller's text and its time, from eSpeak's events for one sentence.

    A word starts at its word event and ends at the first pause phoneme after one of its own
    phonemes, or else where the next word or clause starts (the last word: at the end of the audio).
    eSpeak's positions need some care:

    * after an abbreviation ("Dr. Smith", "St. Louis") the next word's event points at the space
      before it; an event at a space whose next word has no event of its own is that word's;
    * otherwise an event at a space is eSpeak reading on from the word before (the "half" of "½"),
      which extends that word;
    * a word given no event at all (it happens after some punctuation runs) shares the time of the
      word before it, in proportion to their lengths, so that every word has a timing.

    Events that land on the same word (the pieces of "$3.50") are merged when the chunk is settled.
    """
    text = sentence.text
    events = [
        (index, min(max(mark.text_position - 1, 0), len(text)))
        for index, mark in enumerate(marks)
        if mark.type == _EVENT_WORD
    ]
    positions = [position for _, position in events]
    timed: list[list[float]] = []  # [start, end, start_s, end_s], in the sentence's characters
    for index, position in events:
        mark = marks[index]
        finish: float | None = None
        voiced = False
        for later in marks[index + 1 :]:
            if later.type in (_EVENT_WORD, _EVENT_END, _EVENT_MSG_TERMINATED) or (later.pause and voiced):
                finish = later.audio_ms / 1000
                break
            voiced = voiced or not later.pause
        begin = min(mark.audio_ms / 1000, duration_s)
        end_s = duration_s if finish is None else max(begin, finish)
        span = _word_span(text, position, mark.length)
        if span is None:
            following = position
            while following < len(text) and text[following].isspace():
                following += 1
            ahead = _word_span(text, following, mark.length) if following < len(text) else None
            if ahead is not None and not any(ahead[0] <= other < ahead[1] for other in positions):
                span = ahead
        if span is not None:
            timed.append([span[0], span[1], begin, end_s])
        elif timed:
            timed[-1][3] = max(timed[-1][3], end_s)
    timed = _share_with_silent_words(text, sorted(timed), duration_s)
    words: list[RawWord] = []
    for start, end, start_s, end_s in timed:
        origin_start, origin_end = sentence.span(int(start), int(end))
        words.append((origin_start, origin_end, start_s, end_s))
    return words


def _share_with_silent_words(text: str, timed: list[list[float]], duration_s: float) -> list[list[float]]:
    """Give words of ``text`` that no event covers a share of the time of the word before them."""
    untimed: dict[int, list[tuple[int, int]]] = {}  # index into timed (-1: before the first) → words
    cursor = 0
    for match in re.finditer(r"\S+", text):
        start, end = match.span()
        if not any(ch.isalnum() for ch in match.group()):
            continue
        while start < end and _trimmable(text[start]):
            start += 1
        while end > start and _trimmable(text[end - 1]):
            end -= 1
        if any(word[0] < end and start < word[1] for word in timed):
            continue
        while cursor < len(timed) and timed[cursor][0] < start:
            cursor += 1
        untimed.setdefault(cursor - 1, []).append((start, end))
    if not untimed:
        return timed
    if not timed:  # no events at all: spread the words over the whole sentence
        timed_out: list[list[float]] = []
        _split(untimed[-1], 0.0, duration_s, timed_out)
        return timed_out
    result: list[list[float]] = []
    for index, word in enumerate(timed):
        group = [(int(word[0]), int(word[1]))] + untimed.get(index, [])
        if index == 0 and -1 in untimed:
            group = untimed[-1] + group
        if len(group) == 1:
            result.append(word)
        else:
            _split(group, word[2], word[3], result)
    return result


def _split(group: list[tuple[int, int]], start_s: float, end_s: float, out: list[list[float]]) -> None:
    total = sum(end - start for start, end in group) or 1
    at = start_s
    for start, end in group:
        share = (end_s - start_s) * (end - start) / total
        out.append([start, end, at, at + share])
        at += share


def _declare(lib: ctypes.CDLL) -> None:
    c_int, c_uint, c_void_p, c_char_p = ctypes.c_int, ctypes.c_uint, ctypes.c_void_p, ctypes.c_char_p
    lib.espeak_Initialize.restype = c_int
    lib.espeak_Initialize.argtypes = [c_int, c_int, c_char_p, c_int]
    lib.espeak_Info.restype = c_char_p
    lib.espeak_Info.argtypes = [ctypes.POINTER(c_char_p)]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetVoiceByName.restype = c_int
    lib.espeak_SetVoiceByName.argtypes = [c_char_p]
    lib.espeak_SetParameter.restype = c_int
    lib.espeak_SetParameter.argtypes = [c_int, c_int, c_int]
    lib.espeak_GetParameter.restype = c_int
    lib.espeak_GetParameter.argtypes = [c_int, c_int]
    lib.espeak_Synth.restype = c_int
    lib.espeak_Synth.argtypes = [
        c_void_p,
        ctypes.c_size_t,
        c_uint,
        c_int,
        c_uint,
        c_uint,
        ctypes.POINTER(c_uint),
        c_void_p,
    ]
    lib.espeak_ListVoices.restype = c_void_p
    lib.espeak_ListVoices.argtypes = [c_void_p]
    lib.espeak_Terminate.restype = c_int
    lib.espeak_Terminate.argtypes = []


def _primary_language(voice: _ListedVoice) -> str:
    return voice.languages[0][1].split("-", 1)[0] if voice.languages else ""


def _leaks_voice_list(version: bytes) -> bool:
    """eSpeak NG up to 1.51 never frees the array espeak_ListVoices() returns."""
    match = re.match(rb"(\d+)\.(\d+)", version)
    return bool(match) and (int(match.group(1)), int(match.group(2))) <= (1, 51)


def _libc_free(pointer: int) -> None:
    libc().free(pointer)


def _read_voice_list(pointer: int | None) -> Iterator[_ListedVoice]:
    if not pointer:
        return
    array = ctypes.cast(pointer, ctypes.POINTER(ctypes.POINTER(_EspeakVoice)))
    index = 0
    while array[index]:
        voice = array[index].contents
        index += 1
        if not voice.name or not voice.identifier:
            continue
        yield _ListedVoice(
            name=voice.name.decode("utf-8", "replace"),
            identifier=voice.identifier.decode("utf-8", "replace"),
            languages=tuple(_read_languages(voice.languages)),
        )


def _read_languages(pointer: int | None) -> Iterator[tuple[int, str]]:
    """Decode eSpeak's packed language list: (priority byte, NUL-terminated tag) pairs, then 0."""
    if not pointer:
        return
    offset = 0
    while True:
        priority = ctypes.c_ubyte.from_address(pointer + offset).value
        if priority == 0:
            return
        tag = ctypes.string_at(pointer + offset + 1)
        offset += 2 + len(tag)
        yield priority, tag.decode("ascii", "replace").lower()


def _is_language_code(code: str) -> bool:
    """An ISO 639-1 or ISO 639-3 code, not one of ISO 639-3's private-use codes (qaa..qtz)."""
    if not re.fullmatch(r"[a-z]{2,3}", code):
        return False
    return not (len(code) == 3 and "qaa" <= code <= "qtz")


def _language_name(voice_name: str, *, qualified: bool = False) -> str:
    """The language part of an eSpeak voice name: ``English_(Great_Britain)`` → ``English``.

    ``qualified`` keeps the qualifier's first part: ``Chinese_(Mandarin,_latin_as_English)`` →
    ``Chinese (Mandarin)``.
    """
    name = voice_name.replace("_", " ").strip()
    base, paren, qualifier = name.partition("(")
    base = base.strip()
    if not base:
        return name
    qualifier = qualifier.split(",", 1)[0].rstrip(")").strip()
    return f"{base} ({qualifier})" if qualified and paren and qualifier else base
