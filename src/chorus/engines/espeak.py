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
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import os
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from chorus.engines.base import (
    AudioChunk,
    EngineUnavailable,
    EngineVoice,
    PCMFormat,
    SynthesisRequest,
    UnknownVoice,
    clamp_speed,
    libc,
    seeded_libc_rand,
    split_sentences,
)

ENGINE_NAME = "espeak-ng"
INSTALL_HINT = (
    "install eSpeak NG with: apt-get install libespeak-ng1 espeak-ng-data (Debian/Ubuntu) "
    "or dnf install espeak-ng (Fedora)"
)

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # keep the pause after the final clause, so sentences do not run together
_POS_CHARACTER = 1
_PARAM_RATE = 1
_PARAM_RANGE = 4
_EE_OK = 0

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


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class _ListedVoice:
    name: str
    identifier: str
    languages: tuple[tuple[int, str], ...]  # (priority, lowercase tag such as "en-us")


class _Dladdr(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


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
        self._path: str | None = None
        self._memfd: int | None = None
        self._sample_rate = 22_050
        self._listed: tuple[_ListedVoice, ...] = ()
        self._frees_voice_list = False
        self._sink: list[bytes] = []
        # One callback object for the engine's lifetime: ctypes must keep it alive while C holds it.
        self._callback = _SynthCallback(self._on_audio)
        try:
            self._prepare(library)
        except (OSError, AttributeError, RuntimeError) as exc:
            self._close_memfd()
            self._reason = f"espeak-ng engine unavailable: {exc}; {INSTALL_HINT}"

    def __del__(self) -> None:
        self._close_memfd()

    def _close_memfd(self) -> None:
        fd, self._memfd = getattr(self, "_memfd", None), None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # --- loading -------------------------------------------------------------------------------

    def _prepare(self, library: str) -> None:
        real_path = _resolve_library(library)
        self._path = real_path
        with contextlib.suppress(OSError, AttributeError):
            # An anonymous copy gets its own inode, so dlopen() maps a private instance that nobody
            # else in the process shares. Kernels that forbid executable memfds fall back to the file.
            fd = os.memfd_create("chorus-espeak-ng", os.MFD_CLOEXEC)
            with open(real_path, "rb") as source:
                os.write(fd, source.read())
            self._memfd = fd
            self._path = f"/proc/self/fd/{fd}"
            try:
                with self._instance():
                    pass
            except OSError:
                self._close_memfd()
                self._path = real_path
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

    @contextlib.contextmanager
    def _instance(self) -> Iterator[ctypes.CDLL]:
        """A freshly loaded library instance, unloaded again (so its globals reset) on exit."""
        assert self._path is not None
        lib = ctypes.CDLL(self._path, mode=ctypes.RTLD_LOCAL)
        handle = lib._handle
        try:
            _declare(lib)
            yield lib
        finally:
            del lib
            _ctypes.dlclose(handle)

    # --- TTSEngine ---------------------------------------------------------------------------

    def available(self) -> bool:
        return self._reason is None

    def unavailable_reason(self) -> str | None:
        return self._reason

    def voices(self) -> list[EngineVoice]:
        return list(self._premade) if self.available() else []

    def languages(self) -> list[tuple[str, str]]:
        """Every ISO 639-1 language some installed eSpeak NG voice speaks, with its English name."""
        codes = {tag.split("-", 1)[0] for voice in self._listed for _, tag in voice.languages}
        result: list[tuple[str, str]] = []
        for code in sorted(codes):
            if len(code) != 2 or not code.isalpha():
                continue  # ISO 639-3 and private tags have no ISO 639-1 code
            voice = self._best_voice_for(code)
            if voice is not None:
                result.append((code, _language_name(voice.name)))
        return result

    def output_format(self) -> PCMFormat:
        return PCMFormat(self._sample_rate)

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Yield one chunk of PCM (22.05 kHz) per sentence of ``request.text``.

        ``native_voice`` is any eSpeak NG voice name, optionally with a variant ("en-us+f3"). A
        ``language`` hint that the voice does not speak switches to that language's voice while
        keeping the variant. ``speed`` scales the words per minute, ``stability`` the pitch range.
        An unavailable engine or unknown voice raises here, before any audio is produced.
        """
        if self._reason is not None:
            raise EngineUnavailable(self._reason)
        voice_name = self._voice_for(request.native_voice, request.language)
        wpm = round(DEFAULT_RATE_WPM * clamp_speed(request.speed))
        wpm = min(MAX_RATE_WPM, max(MIN_RATE_WPM, wpm))
        stability = min(1.0, max(0.0, float(request.stability)))
        pitch_range = round(50 * (1.5 - stability))  # 0.5 → eSpeak's default of 50
        return self._chunks(request.text, voice_name, wpm, pitch_range, request.seed)

    def _chunks(
        self, text: str, voice_name: bytes, wpm: int, pitch_range: int, seed: int | None
    ) -> Iterator[AudioChunk]:
        fmt = self.output_format()
        for sentence in split_sentences(text):
            pcm = self._synthesize_one(sentence, voice_name, wpm, pitch_range, seed)
            if pcm:
                yield AudioChunk(pcm, fmt)

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
        """The voice eSpeak NG ranks first for language ``tag`` (lowest priority number wins)."""
        best: tuple[int, int, _ListedVoice] | None = None
        for index, voice in enumerate(self._listed):
            for priority, voice_tag in voice.languages:
                if voice_tag == tag and (best is None or (priority, index) < best[:2]):
                    best = (priority, index, voice)
        return best[2] if best else None

    # --- one utterance -------------------------------------------------------------------------

    def _on_audio(self, wav: object, count: int, _events: object) -> int:
        if count > 0 and wav:
            self._sink.append(ctypes.string_at(wav, count * 2))
        return 0  # 0 = carry on

    def _synthesize_one(self, text: str, voice: bytes, wpm: int, pitch_range: int, seed: int | None) -> bytes:
        data = text.encode("utf-8", "ignore")
        with self._lock, seeded_libc_rand(seed), self._instance() as lib:
            self._sink = []
            listed = None
            rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data_path, _INITIALIZE_DONT_EXIT)
            if rate <= 0:
                raise RuntimeError("espeak_Initialize failed")
            try:
                lib.espeak_SetSynthCallback(self._callback)
                if lib.espeak_SetVoiceByName(voice) != _EE_OK:
                    raise UnknownVoice(f"espeak-ng could not select voice {voice.decode()!r}")
                lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
                lib.espeak_SetParameter(_PARAM_RANGE, pitch_range, 0)
                status = lib.espeak_Synth(
                    data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
                )
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
        return pcm


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


def _resolve_library(library: str) -> str:
    """The file behind a library name such as ``libespeak-ng.so.1`` (raises OSError when missing)."""
    probe = ctypes.CDLL(library, mode=ctypes.RTLD_LOCAL)
    handle = probe._handle
    try:
        if os.path.isabs(library):
            return library
        info = _Dladdr()
        prototype = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_Dladdr))
        dladdr = prototype(("dladdr", libc()))
        address = ctypes.cast(probe.espeak_Initialize, ctypes.c_void_p).value
        if not dladdr(address, ctypes.byref(info)) or not info.dli_fname:
            raise OSError(f"cannot locate the file behind {library}")
        return os.path.realpath(info.dli_fname.decode())
    finally:
        del probe
        _ctypes.dlclose(handle)


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


def _language_name(voice_name: str) -> str:
    """The language part of an eSpeak voice name: ``English_(Great_Britain)`` → ``English``."""
    name = voice_name.replace("_", " ")
    return name.split("(", 1)[0].strip() or name
