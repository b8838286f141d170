"""Whisper speech to text on CTranslate2 (faster-whisper): ~100 languages, language detection, word times.

Model: a CTranslate2 Whisper model folder (``model.bin``, ``config.json``, ``tokenizer.json``,
``vocabulary.txt`` or ``.json``, optionally ``preprocessor_config.json``), found as

1. ``model`` itself when it names a folder (``CHORUS_WHISPER_MODEL=/srv/models/my-whisper``), else
2. ``<models_dir>/faster-whisper/<model>/`` (``small``, ``large-v3``, ...: what ``chorus models pull
   faster-whisper-small`` installs; a ``faster-whisper-`` prefix on the name is ignored), else
3. with ``download`` on, pulled into that folder from the hub on first use (:mod:`chorus.models.store`, the
   same atomic download as ``chorus models pull``); ``HF_HUB_OFFLINE=1`` forbids it.

Nothing loads at import or construction: :meth:`FasterWhisperEngine.load` (first request, or a warm-up)
loads the model once; :meth:`~FasterWhisperEngine.unavailable_reason` says what is missing and how to get it.

Batch pipeline: PCM → 16 kHz float → faster-whisper with its Silero VAD filter (silence is cut out before
decoding, times are mapped back), beam search with Whisper's temperature fallback, and word timestamps
from cross-attention alignment. Language: the requested one (any ISO 639-1/-3 or BCP 47 spelling, mapped to
Whisper's code), else detected on the first 30 s of speech, reported with its probability.

Words: faster-whisper's words with surrounding whitespace stripped; casing and punctuation are Whisper's (an
ElevenLabs transcript is cased and punctuated too). Times are clamped into the audio and made monotonic
(a word never starts before the previous one ended). ``Word.logprob`` is the natural log of faster-whisper's
word probability, the mean probability of the word's tokens in the alignment pass, clamped to
``[LOGPROB_FLOOR, 0]``. ``Transcript.text`` is the words joined by single spaces, or by nothing for the
languages written without spaces (Chinese, Japanese, Thai, Lao, Burmese, Cantonese), where faster-whisper's
"words" are runs of characters.

Keyterms: passed as Whisper ``hotwords`` (a prompt before every 30 s window, "Glossary: A, B, C."), which
biases decoding towards those spellings; faster-whisper truncates the prompt to 223 tokens.

Concurrency: one CTranslate2 model serves every thread; ``workers`` transcriptions run in parallel (each
with ``cpu_threads`` threads), more queue inside CTranslate2. Decoding at temperature 0 is deterministic;
when Whisper's fallback samples at a higher temperature (a window that compressed too well or scored too
low), that window's text can differ from run to run.

Streaming (:class:`FasterWhisperStream`): Chorus' Silero VAD (:mod:`chorus.stt.vad`) cuts the live audio into
utterances; each finished utterance is transcribed like a batch request (a :class:`Final`), and the one in
progress is re-transcribed every ``partial_interval_s`` of new audio (a :class:`Partial`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chorus.stt.audio_input import Resampler16k, to_16k
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
    shared_vad,
)

log = logging.getLogger(__name__)

ENGINE_NAME = "faster-whisper"
MODELS_SUBDIR = "faster-whisper"  # <models_dir>/faster-whisper/<model>/
PULL_PREFIX = "faster-whisper-"  # `chorus models pull faster-whisper-<model>`
DEFAULT_MODEL = "small"
LOGPROB_FLOOR = -20.0
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
VOCABULARY_FILES = ("vocabulary.json", "vocabulary.txt")
MULTILINGUAL_VOCABULARY = 51_865  # OpenAI's multilingual vocabulary size (large-v3: one more)
INSTALL_HINT = "pip install faster-whisper"
MODEL_ALIASES = {"large": "large-v3", "turbo": "large-v3-turbo"}  # as `chorus models pull` installs them
PULL_RETRY_S = 60.0  # a failed download is tried again after this long (a broken model when it changes)

# Whisper's language codes (faster_whisper.tokenizer._LANGUAGE_CODES) → ISO 639-3.
WHISPER_LANGUAGES: dict[str, str] = {
    "af": "afr", "am": "amh", "ar": "ara", "as": "asm", "az": "aze", "ba": "bak", "be": "bel", "bg": "bul",
    "bn": "ben", "bo": "bod", "br": "bre", "bs": "bos", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan",
    "de": "deu", "el": "ell", "en": "eng", "es": "spa", "et": "est", "eu": "eus", "fa": "fas", "fi": "fin",
    "fo": "fao", "fr": "fra", "gl": "glg", "gu": "guj", "ha": "hau", "haw": "haw", "he": "heb", "hi": "hin",
    "hr": "hrv", "ht": "hat", "hu": "hun", "hy": "hye", "id": "ind", "is": "isl", "it": "ita", "ja": "jpn",
    "jw": "jav", "ka": "kat", "kk": "kaz", "km": "khm", "kn": "kan", "ko": "kor", "la": "lat", "lb": "ltz",
    "ln": "lin", "lo": "lao", "lt": "lit", "lv": "lav", "mg": "mlg", "mi": "mri", "mk": "mkd", "ml": "mal",
    "mn": "mon", "mr": "mar", "ms": "msa", "mt": "mlt", "my": "mya", "ne": "nep", "nl": "nld", "nn": "nno",
    "no": "nor", "oc": "oci", "pa": "pan", "pl": "pol", "ps": "pus", "pt": "por", "ro": "ron", "ru": "rus",
    "sa": "san", "sd": "snd", "si": "sin", "sk": "slk", "sl": "slv", "sn": "sna", "so": "som", "sq": "sqi",
    "sr": "srp", "su": "sun", "sv": "swe", "sw": "swa", "ta": "tam", "te": "tel", "tg": "tgk", "th": "tha",
    "tk": "tuk", "tl": "tgl", "tr": "tur", "tt": "tat", "uk": "ukr", "ur": "urd", "uz": "uzb", "vi": "vie",
    "yi": "yid", "yo": "yor", "zh": "zho", "yue": "yue",
}  # fmt: skip
_FROM_ISO3 = {iso3: code for code, iso3 in WHISPER_LANGUAGES.items()}
# Other spellings clients use: ISO 639-1 codes Whisper spells differently, ISO 639-2/B codes, and the
# individual languages of macrolanguages Whisper knows by the macrolanguage's code.
_LANGUAGE_ALIASES = {
    "jv": "jw", "nb": "no", "nob": "no", "iw": "he", "in": "id", "ji": "yi", "mo": "ro", "fil": "tl",
    "cmn": "zh", "chi": "zh", "ger": "de", "fre": "fr", "dut": "nl", "cze": "cs", "gre": "el", "rum": "ro",
    "per": "fa", "arm": "hy", "geo": "ka", "mac": "mk", "mao": "mi", "may": "ms", "bur": "my", "tib": "bo",
    "wel": "cy", "baq": "eu", "ice": "is", "alb": "sq", "slo": "sk", "pes": "fa", "prs": "fa", "arb": "ar",
    "zsm": "ms", "zlm": "ms", "ekk": "et", "lvs": "lv", "khk": "mn", "npi": "ne", "uzn": "uz", "swh": "sw",
    "azj": "az", "ydd": "yi", "pbu": "ps", "pst": "ps", "als": "sq", "plt": "mg", "pnb": "pa",
}  # fmt: skip
# Written without spaces between words: faster-whisper splits their words at character boundaries.
_UNSPACED = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


def whisper_language(code: str) -> str | None:
    """Whisper's code for ``code`` in any ISO 639-1/-2/-3 or BCP 47 spelling (``"de"``, ``"deu"``,
    ``"ger"``, ``"de-AT"``, ``"zh_TW"``), or None when Whisper does not know the language."""
    base = code.strip().lower().replace("_", "-").split("-")[0]
    if base in WHISPER_LANGUAGES:
        return base
    return _FROM_ISO3.get(base) or _LANGUAGE_ALIASES.get(base)


@dataclass(frozen=True)
class WhisperCapabilities(STTCapabilities):
    """:class:`STTCapabilities` that recognise every spelling of every Whisper language (the shared
    ISO 639 table in :mod:`chorus.stt.base` knows only the common ones)."""

    def supports_language(self, language: str | None) -> bool:
        if language is None or not language.strip():
            return True
        code = whisper_language(language)
        return code is not None and WHISPER_LANGUAGES[code] in self.languages


@dataclass(frozen=True)
class WhisperSettings:
    """Decoding and segmentation choices (faster-whisper's defaults unless said otherwise).

    ``temperatures``: Whisper's fallback schedule; ``(0.0,)`` makes decoding deterministic at some cost in
    robustness. ``vad_filter``: cut silence out with faster-whisper's Silero VAD before decoding (Whisper
    invents text in long silences). ``stream_vad``: how a live stream is cut into utterances;
    ``partial_interval_s``: how much new audio triggers a new partial hypothesis (0: no partials).
    """

    beam_size: int = 5
    best_of: int = 5  # candidates when the fallback samples
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    condition_on_previous_text: bool = True
    vad_filter: bool = True
    vad_min_silence_ms: int = 1000  # faster-whisper's default of 2000 merges too much into one window
    vad_speech_pad_ms: int = 400
    max_new_tokens: int | None = None  # per 30 s window; None: Whisper's limit
    stream_vad: VADParams = field(
        default_factory=lambda: VADParams(min_silence_ms=500, speech_pad_ms=200, max_speech_s=30.0)
    )
    partial_interval_s: float = 1.0

    def transcribe_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for ``WhisperModel.transcribe`` these settings stand for."""
        kwargs: dict[str, Any] = {
            "task": "transcribe",
            "beam_size": self.beam_size,
            "best_of": self.best_of,
            "temperature": list(self.temperatures),
            "condition_on_previous_text": self.condition_on_previous_text,
            "word_timestamps": True,
            "vad_filter": self.vad_filter,
            "max_new_tokens": self.max_new_tokens,
        }
        if self.vad_filter:
            kwargs["vad_parameters"] = {
                "min_silence_duration_ms": self.vad_min_silence_ms,
                "speech_pad_ms": self.vad_speech_pad_ms,
            }
        return kwargs


def hotwords(keyterms: Sequence[str]) -> str | None:
    """The Whisper prompt for ``keyterms``: a glossary line, or None when there are none."""
    terms = [" ".join(term.split()) for term in keyterms if term.strip()]
    return f"Glossary: {', '.join(terms)}." if terms else None


def read_vocabulary(folder: Path) -> list[str]:
    """The tokens of a CTranslate2 model folder's ``vocabulary.json`` (a list) or ``vocabulary.txt``."""
    json_path, text_path = (folder / name for name in VOCABULARY_FILES)
    if json_path.is_file():
        tokens = json.loads(json_path.read_text(encoding="utf-8"))
        if not isinstance(tokens, list):
            raise ValueError(f"{json_path} is not a list of tokens")
        return [str(token) for token in tokens]
    lines = text_path.read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def model_languages(folder: Path) -> tuple[str, ...]:
    """Whisper codes of the languages a model folder transcribes: its ``<|xx|>`` language tokens when its
    vocabulary is multilingual, else English only (the ``.en`` models)."""
    tokens = read_vocabulary(folder)
    if len(tokens) < MULTILINGUAL_VOCABULARY:
        return ("en",)
    codes = [
        t[2:-2] for t in tokens if t.startswith("<|") and t.endswith("|>") and t[2:-2] in WHISPER_LANGUAGES
    ]
    return tuple(dict.fromkeys(codes)) or ("en",)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class FasterWhisperEngine:
    """:class:`chorus.stt.base.STTEngine` over faster-whisper (see the module docstring)."""

    name = ENGINE_NAME

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        models_dir: str | Path | None = None,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        workers: int = 1,
        download: bool = False,
        hub_url: str | None = None,
        settings: WhisperSettings | None = None,
        vad: SileroVAD | None = None,
    ) -> None:
        self.model = model.strip()
        self.models_dir = Path(models_dir) if models_dir is not None else Path("data/models")
        self.device = device
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.workers = max(1, workers)
        self.download = download
        self.hub_url = hub_url
        self.settings = settings or WhisperSettings()
        self._vad = vad
        self._lock = threading.Lock()
        self._model: Any = None
        # Why the last load failed: (folder, model.bin stamp, message, retry after (monotonic) or None).
        self._load_error: tuple[Path, tuple[int, int] | None, str, float | None] | None = None
        self._languages: tuple[Path, tuple[int, int] | None, tuple[str, ...]] | None = None

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> FasterWhisperEngine:
        """The engine the ``whisper_*`` fields of :class:`chorus.config.Settings` describe."""
        options: dict[str, Any] = {
            "models_dir": Path(settings.resolved_models_dir),
            "device": settings.whisper_device,
            "compute_type": settings.whisper_compute_type,
            "cpu_threads": settings.whisper_cpu_threads,
            "workers": settings.whisper_workers,
            "download": settings.whisper_download,
            "hub_url": settings.model_hub_url,
        }
        options.update(overrides)
        return cls(settings.whisper_model, **options)

    # -- where the model is ---------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """The short name: ``small`` for ``small``, ``faster-whisper-small`` or a folder ``.../small``."""
        if self._explicit_folder() is not None:
            return Path(self.model).name
        name = self.model.removeprefix(PULL_PREFIX)
        return MODEL_ALIASES.get(name, name)

    @property
    def install_folder(self) -> Path:
        """Where ``chorus models pull`` puts this model: ``<models_dir>/faster-whisper/<name>``."""
        return self.models_dir / MODELS_SUBDIR / self.model_name

    @property
    def pull_command(self) -> str:
        return f"chorus models pull {PULL_PREFIX}{self.model_name}"

    def _explicit_folder(self) -> Path | None:
        if os.sep in self.model or "/" in self.model or self.model.startswith("."):
            return Path(self.model).expanduser()
        return None

    def model_folder(self) -> Path:
        """The folder the model loads from (it may not exist yet)."""
        return self._explicit_folder() or self.install_folder

    def _missing_files(self, folder: Path) -> list[str]:
        missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
        if not any((folder / name).is_file() for name in VOCABULARY_FILES):
            missing.append("vocabulary.txt (or vocabulary.json)")
        return missing

    # -- availability ---------------------------------------------------------------------------------

    @property
    def vad(self) -> SileroVAD:
        """The VAD that cuts live streams into utterances (batch requests use faster-whisper's own)."""
        return self._vad if self._vad is not None else shared_vad()

    def unavailable_reason(self) -> str | None:
        """None when the engine can transcribe; otherwise what is missing and how to get it."""
        if self._model is not None:
            return None
        for package in ("faster_whisper", "ctranslate2"):
            if importlib.util.find_spec(package) is None:
                return f"{package} is not installed; {INSTALL_HINT}"
        folder = self.model_folder()
        failed = self._load_error
        if (
            failed is not None
            and (failed[0], failed[1]) == (folder, _stamp(folder / "model.bin"))
            and (failed[3] is None or time.monotonic() < failed[3])
        ):
            return failed[2]
        if not folder.is_dir():
            if self._explicit_folder() is not None:
                return f"faster-whisper model folder {folder} does not exist (CHORUS_WHISPER_MODEL)"
            if self.download and not _hub_offline():
                return None  # pulled on first use
            return (
                f"faster-whisper model {self.model_name!r} is not installed (looked in {folder}); run "
                f"`{self.pull_command}`, or copy a CTranslate2 Whisper model folder there "
                "(or set CHORUS_WHISPER_MODEL to its path)"
            )
        missing = self._missing_files(folder)
        if missing:
            return (
                f"faster-whisper model folder {folder} is incomplete (missing {', '.join(missing)}); "
                f"run `{self.pull_command}` to reinstall it"
            )
        return None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def installed(self) -> bool:
        """Whether the model is on disk (no download needed)."""
        folder = self.model_folder()
        return folder.is_dir() and not self._missing_files(folder)

    def languages(self) -> tuple[str, ...]:
        """Whisper codes of the model's languages (read from its vocabulary; before it is installed, every
        Whisper language, or English for a ``.en`` model)."""
        folder = self.model_folder()
        vocabulary = next((folder / n for n in VOCABULARY_FILES if (folder / n).is_file()), None)
        if vocabulary is None:
            return ("en",) if self.model_name.endswith(".en") else tuple(WHISPER_LANGUAGES)
        stamp = _stamp(vocabulary)
        cached = self._languages
        if cached is not None and cached[0] == vocabulary and cached[1] == stamp:
            return cached[2]
        try:
            codes = model_languages(folder)
        except (OSError, ValueError) as exc:
            log.warning("cannot read the vocabulary of %s: %s", folder, exc)
            return tuple(WHISPER_LANGUAGES)
        self._languages = (vocabulary, stamp, codes)
        return codes

    def capabilities(self) -> WhisperCapabilities:
        return WhisperCapabilities(
            languages=tuple(WHISPER_LANGUAGES[code] for code in self.languages()),
            word_timestamps=True,
            streaming=self.vad.available(),
            keyterms=True,
            max_concurrency=self.workers,
        )

    # -- loading --------------------------------------------------------------------------------------

    def load(self) -> Any:
        """The faster-whisper ``WhisperModel`` (loaded once; downloaded first when allowed and missing).
        Raises :class:`STTUnavailable` with the reason when it cannot be loaded."""
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is not None:
                return self._model
            reason = self.unavailable_reason()
            if reason is not None:
                raise STTUnavailable(reason)
            folder = self.model_folder()
            if not folder.is_dir():
                try:
                    self._pull()
                except STTUnavailable as exc:
                    self._load_error = (folder, None, str(exc), time.monotonic() + PULL_RETRY_S)
                    raise
            try:
                from faster_whisper import WhisperModel

                # faster-whisper logs every request at INFO; keep that out of the server log.
                logging.getLogger("faster_whisper").setLevel(logging.WARNING)
                self._model = WhisperModel(
                    str(folder),
                    device=self.device,
                    compute_type=self.compute_type,
                    cpu_threads=self.cpu_threads,
                    num_workers=self.workers,
                    local_files_only=True,
                )
            except Exception as exc:  # a corrupt model, an unsupported device or compute type, ...
                message = f"cannot load faster-whisper model {folder}: {exc.__class__.__name__}: {exc}"
                self._load_error = (folder, _stamp(folder / "model.bin"), message, None)
                raise STTUnavailable(message) from exc
            self._load_error = None
            log.info("faster-whisper model %s loaded (%s, %s)", folder, self.device, self.compute_type)
            return self._model

    def _pull(self) -> None:
        from chorus.models.store import DEFAULT_HUB, ModelError, ModelStore

        log.info("downloading faster-whisper model %s into %s", self.model_name, self.models_dir)
        try:
            ModelStore(self.models_dir).pull(PULL_PREFIX + self.model_name, self.hub_url or DEFAULT_HUB)
        except ModelError as exc:
            raise STTUnavailable(
                f"faster-whisper model {self.model_name!r} could not be downloaded: {exc}"
            ) from exc

    def close(self) -> None:
        """Drop the model (it is loaded again on the next request)."""
        with self._lock:
            self._model = None

    # -- requests -------------------------------------------------------------------------------------

    def resolve_language(self, language: str | None) -> str | None:
        """Whisper's code for a requested language (None: detect); raises :class:`UnsupportedLanguage`."""
        if language is None or not language.strip():
            return None
        code = whisper_language(language)
        supported = self.languages()
        if code is None or code not in supported:
            names = "English (eng) only" if supported == ("en",) else f"{len(supported)} languages"
            raise UnsupportedLanguage(
                f"The faster-whisper model {self.model_name!r} transcribes {names}; language {language!r} is "
                "not one of them. Omit the language to detect it."
            )
        return code

    def transcribe(self, pcm: bytes, sample_rate: int, options: TranscribeOptions) -> Transcript:
        """Transcribe mono s16le ``pcm`` (see :meth:`chorus.stt.base.STTEngine.transcribe`)."""
        language = self.resolve_language(options.language)
        duration = len(pcm) // 2 / sample_rate
        audio = _float16k(to_16k(pcm[: len(pcm) // 2 * 2], sample_rate))
        result = self.decode(audio, language, options.keyterms)
        return Transcript(
            text=result.text,
            words=result.words,
            language=WHISPER_LANGUAGES.get(result.language, result.language),
            language_probability=result.language_probability,
            duration_s=duration,
        )

    def decode(
        self,
        audio: np.ndarray,
        language: str | None,
        keyterms: Sequence[str] = (),
        *,
        offset_s: float = 0.0,
        vad_filter: bool | None = None,
    ) -> _Decoded:
        """Run Whisper on float32 16 kHz ``audio``; word times are shifted by ``offset_s``."""
        model = self.load()
        kwargs = self.settings.transcribe_kwargs()
        if vad_filter is not None:
            kwargs["vad_filter"] = vad_filter
            if not vad_filter:
                kwargs.pop("vad_parameters", None)
        segments, info = model.transcribe(audio, language=language, hotwords=hotwords(keyterms), **kwargs)
        raw = [word for segment in segments for word in (segment.words or ())]
        detected = str(info.language)
        limit = offset_s + audio.size / SAMPLE_RATE
        words = _words(raw, offset_s, limit)
        separator = "" if detected in _UNSPACED else " "
        return _Decoded(
            text=separator.join(word.text for word in words),
            words=tuple(words),
            language=detected,
            language_probability=float(info.language_probability),
        )

    def stream(self, sample_rate: int, options: TranscribeOptions) -> FasterWhisperStream:
        """Open a live transcription (see :class:`FasterWhisperStream`)."""
        self.resolve_language(options.language)
        reason = self.unavailable_reason() or self.vad.unavailable_reason()
        if reason is not None:
            raise STTUnavailable(reason)
        return FasterWhisperStream(self, sample_rate, options)


@dataclass(frozen=True)
class _Decoded:
    text: str
    words: tuple[Word, ...]
    language: str  # Whisper's code
    language_probability: float


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _float16k(pcm16k: bytes) -> np.ndarray:
    return np.frombuffer(pcm16k, dtype="<i2").astype(np.float32) / 32768.0


def _words(raw: Iterable[Any], offset_s: float, limit_s: float) -> list[Word]:
    """faster-whisper words → :class:`Word`: stripped, shifted, clamped into ``[offset, limit]`` and
    monotonic, with ``logprob = ln(probability)`` in ``[LOGPROB_FLOOR, 0]``."""
    words: list[Word] = []
    previous_end = offset_s
    for item in raw:
        text = str(item.word).strip()
        if not text:
            continue
        start = min(limit_s, max(previous_end, offset_s + float(item.start)))
        end = min(limit_s, max(start, offset_s + float(item.end)))
        probability = float(item.probability)
        logprob = math.log(probability) if probability > 0 and math.isfinite(probability) else LOGPROB_FLOOR
        words.append(Word(text, round(start, 3), round(end, 3), min(0.0, max(LOGPROB_FLOOR, logprob))))
        previous_end = end
    return words


class FasterWhisperStream:
    """Live transcription: Silero VAD runs as audio arrives and cuts it into utterances.

    A finished utterance is transcribed as a whole (without faster-whisper's own VAD: it is speech already)
    and comes out as a :class:`Final` with word times on the stream's clock. While an utterance goes on,
    it is re-transcribed whenever ``partial_interval_s`` of new audio has arrived, and a changed text comes
    out as a :class:`Partial`. Without a requested language each utterance's language is detected on its
    own. Only the audio of the utterance in progress is kept.
    """

    def __init__(self, engine: FasterWhisperEngine, sample_rate: int, options: TranscribeOptions) -> None:
        self._engine = engine
        self._language = engine.resolve_language(options.language)
        self._keyterms = tuple(options.keyterms)
        self._resampler = Resampler16k(sample_rate)
        self._vad = engine.vad
        self._vad_state = VADState()
        self._segmenter = StreamingSegmenter(engine.settings.stream_vad)
        params = engine.settings.stream_vad
        self._lead_in = int(max(params.speech_pad_ms, params.start_pad_ms or 0) * SAMPLE_RATE / 1000)
        self._audio = np.zeros(0, np.int16)
        self._audio_start = 0  # absolute sample index of _audio[0]
        self._vad_pos = 0  # absolute sample up to which VAD has run
        self._partial = ""
        self._partial_pos = 0  # absolute sample at which the last partial was decoded
        self._finished = False

    @property
    def position_s(self) -> float:
        """Seconds of audio received so far."""
        return (self._audio_start + self._audio.size) / SAMPLE_RATE

    def feed(self, pcm: bytes) -> list[StreamEvent]:
        if self._finished:
            raise RuntimeError("the stream is finished")
        samples = np.frombuffer(self._resampler.feed(pcm), dtype="<i2")
        return self._process(samples, final=False)

    def finish(self) -> list[StreamEvent]:
        if self._finished:
            return []
        samples = np.frombuffer(self._resampler.feed(b"", last=True), dtype="<i2")
        try:
            return self._process(samples, final=True)
        finally:
            self.close()

    def close(self) -> None:
        """Abandon the stream without decoding what is left."""
        self._finished = True
        self._audio = np.zeros(0, np.int16)

    # -- internals ------------------------------------------------------------------------------------

    def _process(self, samples: np.ndarray, final: bool) -> list[StreamEvent]:
        if samples.size:
            self._audio = np.concatenate([self._audio, samples.astype(np.int16)])
        total = self._audio_start + self._audio.size
        events: list[StreamEvent] = []
        available = total - self._vad_pos
        windows = available // WINDOW + (1 if final and available % WINDOW else 0)
        if windows:
            chunk = self._slice(self._vad_pos, self._vad_pos + windows * WINDOW).astype(np.float32) / 32768.0
            for prob in self._vad.probabilities(chunk, self._vad_state):
                was_open = self._segmenter.in_speech
                closed = self._segmenter.push(float(prob))
                events.extend(self._final(segment) for segment in closed)
                if was_open and not closed and not self._segmenter.in_speech:
                    events.extend(self._drop())  # too short to be speech
            self._vad_pos = min(total, self._vad_pos + windows * WINDOW)
        if final:
            closed = self._segmenter.flush(total)
            events.extend(self._final(segment) for segment in closed)
            if not closed:
                events.extend(self._drop())
        else:
            events.extend(self._maybe_partial(total))
        self._trim()
        return events

    def _slice(self, start: int, end: int) -> np.ndarray:
        lo = min(self._audio.size, max(0, start - self._audio_start))
        hi = min(self._audio.size, max(0, end - self._audio_start))
        return self._audio[lo : max(lo, hi)]

    def _decode(self, start: int, end: int) -> _Decoded:
        audio = self._slice(start, end).astype(np.float32) / 32768.0
        return self._engine.decode(
            audio, self._language, self._keyterms, offset_s=start / SAMPLE_RATE, vad_filter=False
        )

    def _maybe_partial(self, total: int) -> list[StreamEvent]:
        interval = int(self._engine.settings.partial_interval_s * SAMPLE_RATE)
        start = self._segmenter.open_start
        if interval <= 0 or start is None or total - max(start, self._partial_pos) < interval:
            return []
        self._partial_pos = total
        text = self._decode(start, total).text
        if text == self._partial:
            return []
        self._partial = text
        return [Partial(text, round(start / SAMPLE_RATE, 3))]

    def _drop(self) -> list[StreamEvent]:
        """VAD dropped the utterance in progress (too short): blank any partial shown for it."""
        events: list[StreamEvent] = []
        if self._partial:
            start = self._segmenter.open_start
            events.append(Partial("", round((start or self._partial_pos) / SAMPLE_RATE, 3)))
        self._partial = ""
        return events

    def _final(self, segment: SpeechSegment) -> Final:
        decoded = self._decode(segment.start, segment.end)
        self._partial = ""
        return Final(
            text=decoded.text,
            words=decoded.words,
            start_s=round(segment.start_s, 3),
            end_s=round(segment.end_s, 3),
            language=WHISPER_LANGUAGES.get(decoded.language, decoded.language),
            language_probability=decoded.language_probability,
        )

    def _trim(self) -> None:
        keep = self._segmenter.open_start
        if keep is None:
            keep = self._vad_pos - self._lead_in - WINDOW  # where the next utterance could start
        drop = keep - self._audio_start
        if drop > 5 * SAMPLE_RATE:  # in large steps, to keep copying cheap
            self._audio = self._audio[drop:].copy()
            self._audio_start += drop
