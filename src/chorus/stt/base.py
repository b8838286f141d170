"""The contract every speech-to-text engine meets.

Engines take mono signed 16-bit little-endian PCM at any sample rate and return a :class:`Transcript`: the
text, each word with its start and end time (seconds from the start of the input) and a confidence as a
natural-log probability (``logprob <= 0``; ``exp(logprob)`` is the probability that the word is right), the
language (ISO 639-3) and the probability of that language. Engines are plain objects: nothing loads a model at
import time, :meth:`STTEngine.available` says whether it can run and :meth:`STTEngine.unavailable_reason` why
not.

:meth:`STTEngine.transcribe` blocks; callers run it in a thread pool, and an engine must let several calls
run at once (from different threads) and give each the result it would have given alone.

:meth:`STTEngine.stream` opens a live transcription: :meth:`STTStream.feed` takes the next PCM chunk and
returns what became known — :class:`Partial` hypotheses for the speech still going on and a :class:`Final`
for each finished stretch of speech (an utterance), with word times on the stream's clock;
:meth:`STTStream.finish` ends the audio and returns the remaining events. A stream is used by one thread at a
time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from chorus.engines.base import EngineUnavailable
from chorus.errors import BadRequest

# ISO 639-1 → ISO 639-3 for the languages clients name most often. Engines report ISO 639-3.
_ISO3 = {
    "en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "pt": "por", "nl": "nld", "pl": "pol",
    "ru": "rus", "ja": "jpn", "zh": "zho", "ko": "kor", "ar": "ara", "hi": "hin", "tr": "tur", "sv": "swe",
    "uk": "ukr", "cs": "ces", "da": "dan", "fi": "fin", "el": "ell", "he": "heb", "hu": "hun", "id": "ind",
    "no": "nor", "nb": "nob", "ro": "ron", "vi": "vie", "th": "tha", "ca": "cat",
}  # fmt: skip
# Bibliographic and alternative ISO 639-2 codes that name the same language as the ISO 639-3 code.
_ALIASES = {"ger": "deu", "fre": "fra", "dut": "nld", "chi": "zho", "cze": "ces", "gre": "ell", "rum": "ron",
            "cmn": "zho"}  # fmt: skip


def iso639_3(code: str) -> str:
    """``"en"``, ``"en-US"``, ``"en_GB"``, ``"ENG"`` → ``"eng"``; unknown codes come back lower-cased."""
    base = code.strip().lower().replace("_", "-").split("-")[0]
    base = _ISO3.get(base, base)
    return _ALIASES.get(base, base)


@dataclass(frozen=True)
class Word:
    """A recognised word. Times are seconds from the start of the input; ``logprob`` is ln P(correct) <= 0."""

    text: str
    start_s: float
    end_s: float
    logprob: float

    @property
    def probability(self) -> float:
        return math.exp(self.logprob)


@dataclass(frozen=True)
class Transcript:
    """What an engine heard: ``text`` is the words joined by single spaces (no casing or punctuation)."""

    text: str
    words: tuple[Word, ...]
    language: str  # ISO 639-3
    language_probability: float
    duration_s: float


@dataclass(frozen=True)
class STTCapabilities:
    """What an engine can do, as data: callers check these instead of calling and catching.

    ``languages`` are ISO 639-3 codes; ``keyterms`` says whether :attr:`TranscribeOptions.keyterms` has an
    effect; ``max_concurrency`` is how many transcriptions run truly in parallel (more queue).
    """

    languages: tuple[str, ...]
    word_timestamps: bool
    streaming: bool
    keyterms: bool = False
    max_concurrency: int = 1

    def supports_language(self, language: str | None) -> bool:
        """Whether ``language`` (any ISO 639-1/-3 or BCP 47 spelling; None: detect) can be transcribed."""
        return language is None or not language.strip() or iso639_3(language) in self.languages


@dataclass(frozen=True)
class TranscribeOptions:
    """``language``: the spoken language (None: the engine decides); ``keyterms``: words or short phrases
    likely to occur (names, jargon) that the engine should be able to recognise."""

    language: str | None = None
    keyterms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Partial:
    """The current hypothesis for the utterance in progress, which began ``start_s`` into the stream. Later
    events replace it."""

    text: str
    start_s: float


@dataclass(frozen=True)
class Final:
    """A finished utterance: its words (times on the stream's clock) and where it starts and ends."""

    text: str
    words: tuple[Word, ...]
    start_s: float
    end_s: float
    language: str
    language_probability: float


StreamEvent = Partial | Final


class STTUnavailable(EngineUnavailable):
    """The engine cannot run here (a model or library is missing); the message says how to fix it."""


class UnsupportedLanguage(BadRequest):
    """The requested language is not one the engine transcribes (a 400 ``unsupported_language``)."""

    status = "unsupported_language"


@runtime_checkable
class STTStream(Protocol):
    """A live transcription (see the module docstring). Not thread-safe: one feeder at a time."""

    def feed(self, pcm: bytes) -> list[StreamEvent]:
        """Take the next mono s16le chunk (any length, at the stream's rate); return the new events."""
        ...

    def finish(self) -> list[StreamEvent]:
        """End of audio: decode what is left and return the last events (ending with any :class:`Final`)."""
        ...


@runtime_checkable
class STTEngine(Protocol):
    """A speech-to-text engine (see the module docstring)."""

    name: str

    def available(self) -> bool: ...

    def unavailable_reason(self) -> str | None: ...

    def capabilities(self) -> STTCapabilities: ...

    def transcribe(self, pcm: bytes, sample_rate: int, options: TranscribeOptions) -> Transcript:
        """Transcribe mono s16le ``pcm`` at ``sample_rate`` (blocking).

        Raises :class:`UnsupportedLanguage` for a language not in :meth:`capabilities` and
        :class:`STTUnavailable` when the engine cannot run.
        """
        ...

    def stream(self, sample_rate: int, options: TranscribeOptions) -> STTStream:
        """Open a live transcription of mono s16le audio at ``sample_rate``."""
        ...
