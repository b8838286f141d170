"""Kokoro-82M (v1.0) in ONNX, run in process with onnxruntime.

The engine reads ``<models>/kokoro/`` in either of the two public layouts:

* kokoro-onnx's release files: ``kokoro-v1.0.onnx`` (inputs ``tokens`` int64 [1, T], ``style``
  float32 [1, 256], ``speed`` float32 [1]; output ``audio`` float32 [N]) and ``voices-v1.0.bin``, a
  NumPy ``.npz`` of voice name → float32 [510, 1, 256];
* the Hugging Face repository ``onnx-community/Kokoro-82M-v1.0-ONNX`` (what ``chorus models pull
  kokoro-v1.0`` fetches): ``onnx/model.onnx`` (inputs ``input_ids``, ``style``, ``speed``; output
  ``waveform`` [1, N]) and ``voices/<name>.bin``, each raw little-endian float32 [510, 1, 256].

Text becomes IPA through eSpeak NG (:mod:`chorus.engines.phonemize`) in the language the voice's
first letter names, as Kokoro does (a = American English, b = British English, e = Spanish, f =
French, h = Hindi, i = Italian, j = Japanese, p = Brazilian Portuguese, z = Mandarin), punctuation
kept and symbols outside the vocabulary dropped, as kokoro-onnx does. The vocabulary is Kokoro v1.0's
(``config.json`` of ``hexgrad/Kokoro-82M``), overridden by a ``config.json`` ``{"vocab": {...}}``
beside the model. Tokens are padded with 0 at both ends; the style vector is row ``len(tokens)`` of
the voice's table, so one piece holds at most 509 tokens: sentences longer than that are split at
punctuation, else between words. Output is 24 kHz.

Determinism: as for Piper, the model's random ops (the harmonic source's noise) are rewritten into
seeded ones, so equal requests give byte-identical audio.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
)
from chorus.engines.neural import (
    OnnxModel,
    file_stamp,
    first_existing,
    float_to_pcm16,
    load_model,
    onnxruntime_missing,
    piece_seed,
    split_phonemes,
)
from chorus.engines.phonemize import Phonemizer

log = logging.getLogger(__name__)

ENGINE_NAME = "kokoro"
SAMPLE_RATE = 24_000
STYLE_DIM = 256
MAX_TOKENS = 510  # the model's context; the style table has one row per length 0..509
PULL_HINT = "run `chorus models pull kokoro-v1.0` (or copy kokoro-v1.0.onnx and voices-v1.0.bin there)"
MODEL_FILES = ("kokoro-v1.0.onnx", "model.onnx", "onnx/model.onnx")
VOICES_ARCHIVE = "voices-v1.0.bin"
VOICES_FOLDER = "voices"
SIDECAR = "chorus.json"

# Kokoro v1.0's vocabulary (hexgrad/Kokoro-82M config.json): IPA symbol → token id; 0 is the pad.
VOCAB: dict[str, int] = {
    ";": 1, ":": 2, ",": 3, ".": 4, "!": 5, "?": 6, "—": 9, "…": 10, '"': 11, "(": 12, ")": 13,
    "“": 14, "”": 15, " ": 16, "\u0303": 17, "ʣ": 18, "ʥ": 19, "ʦ": 20, "ʨ": 21, "ᵝ": 22,
    "\uab67": 23, "A": 24, "I": 25, "O": 31, "Q": 33, "S": 35, "T": 36, "W": 39, "Y": 41, "ᵊ": 42,
    "a": 43, "b": 44, "c": 45, "d": 46, "e": 47, "f": 48, "h": 50, "i": 51, "j": 52, "k": 53,
    "l": 54, "m": 55, "n": 56, "o": 57, "p": 58, "q": 59, "r": 60, "s": 61, "t": 62, "u": 63,
    "v": 64, "w": 65, "x": 66, "y": 67, "z": 68, "ɑ": 69, "ɐ": 70, "ɒ": 71, "æ": 72, "β": 75,
    "ɔ": 76, "ɕ": 77, "ç": 78, "ɖ": 80, "ð": 81, "ʤ": 82, "ə": 83, "ɚ": 85, "ɛ": 86, "ɜ": 87,
    "ɟ": 90, "ɡ": 92, "ɥ": 99, "ɨ": 101, "ɪ": 102, "ʝ": 103, "ɯ": 110, "ɰ": 111, "ŋ": 112,
    "ɳ": 113, "ɲ": 114, "ɴ": 115, "ø": 116, "ɸ": 118, "θ": 119, "œ": 120, "ɹ": 123, "ɾ": 125,
    "ɻ": 126, "ʁ": 128, "ɽ": 129, "ʂ": 130, "ʃ": 131, "ʈ": 132, "ʧ": 133, "ʊ": 135, "ʋ": 136,
    "ʌ": 138, "ɣ": 139, "ɤ": 140, "χ": 142, "ʎ": 143, "ʒ": 147, "ʔ": 148, "ˈ": 156, "ˌ": 157,
    "ː": 158, "ʰ": 162, "ʲ": 164, "↓": 169, "→": 171, "↗": 172, "↘": 173, "ᵻ": 177,
}  # fmt: skip


@dataclass(frozen=True)
class _Language:
    espeak_voice: str
    iso: str
    name: str
    accent: str


# The first letter of a Kokoro voice name picks its language (Kokoro's lang_code).
LANGUAGES: dict[str, _Language] = {
    "a": _Language("en-us", "en", "English", "american"),
    "b": _Language("en-gb", "en", "English", "british"),
    "e": _Language("es", "es", "Spanish", "castilian"),
    "f": _Language("fr-fr", "fr", "French", "parisian"),
    "h": _Language("hi", "hi", "Hindi", "indian"),
    "i": _Language("it", "it", "Italian", "italian"),
    "j": _Language("ja", "ja", "Japanese", "japanese"),
    "p": _Language("pt-br", "pt", "Portuguese", "brazilian"),
    "z": _Language("cmn", "zh", "Chinese", "mandarin"),
}


@dataclass(frozen=True)
class _Files:
    model: Path
    archive: Path | None  # voices-v1.0.bin
    voice_files: dict[str, Path]  # voices/<name>.bin
    voice_names: tuple[str, ...]
    vocab: Mapping[str, int]
    meta: Mapping[str, Any]


class KokoroEngine:
    """Kokoro-82M voices. Construction never raises; see :meth:`available`."""

    name = ENGINE_NAME

    def __init__(
        self,
        model_dir: Path | str,
        *,
        phonemizer: Phonemizer | None = None,
        threads: int | None = None,
    ) -> None:
        self._dir = Path(model_dir)
        self._phonemizer = phonemizer
        self._threads = threads
        self._runtime_reason = onnxruntime_missing()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._files: _Files | None = None
        self._files_reason: str | None = None
        self._model: tuple[tuple[int, int], OnnxModel] | None = None
        self._styles: dict[str, np.ndarray] = {}

    # --- files ---------------------------------------------------------------------------------

    def _scan(self) -> tuple[_Files | None, str | None]:
        folders = [self._dir, self._dir / "onnx", self._dir / VOICES_FOLDER]
        stamp = tuple(_mtime(p) for p in folders) + tuple(_mtime(self._dir / n) for n in (VOICES_ARCHIVE,))
        with self._lock:
            if stamp != self._stamp:
                self._files, self._files_reason = _find_files(self._dir)
                self._styles.clear()
                self._stamp = stamp
            return self._files, self._files_reason

    def unavailable_reason(self) -> str | None:
        if self._runtime_reason is not None:
            return f"kokoro engine unavailable: {self._runtime_reason}"
        _, reason = self._scan()
        if reason is not None:
            return f"kokoro engine unavailable: {reason}"
        if self._phonemizer is None:
            self._phonemizer = Phonemizer()
        phonemizer_reason = self._phonemizer.unavailable_reason()
        return f"kokoro engine unavailable: {phonemizer_reason}" if phonemizer_reason else None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def voices(self) -> list[EngineVoice]:
        if not self.available():
            return []
        files, _ = self._scan()
        assert files is not None
        listed = []
        for name in files.voice_names:
            if name[:1] in LANGUAGES:
                overrides = (files.meta.get("voices") or {}).get(name) or {}
                listed.append(_engine_voice(name, overrides if isinstance(overrides, dict) else {}))
        return listed

    def languages(self) -> list[tuple[str, str]]:
        found = {LANGUAGES[v.native_id[0]].iso: LANGUAGES[v.native_id[0]].name for v in self.voices()}
        return sorted(found.items())

    def output_format(self) -> PCMFormat:
        return PCMFormat(SAMPLE_RATE)

    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities(
            streaming_output=True,
            streaming_input=False,
            timestamps=False,
            languages=tuple(code for code, _ in self.languages()),
            sample_rate=SAMPLE_RATE,
        )

    # --- synthesis -----------------------------------------------------------------------------

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Yield one chunk of 24 kHz PCM per sentence of ``request.text``.

        ``native_voice`` is a Kokoro voice name ("af_heart"); its first letter fixes the language,
        so a language hint is ignored. ``speed`` goes to the model's speed input; stability and
        style are not used; ``seed`` seeds the noise. Unavailability, an unknown voice or a model
        that will not load raise here, before any audio is produced.
        """
        reason = self.unavailable_reason()
        if reason is not None:
            raise EngineUnavailable(reason)
        files, _ = self._scan()
        assert files is not None
        voice = request.native_voice.strip()
        if voice not in files.voice_names or voice[:1] not in LANGUAGES:
            raise UnknownVoice(f"kokoro has no voice {voice!r}; installed: {', '.join(files.voice_names)}")
        styles = self._style_table(files, voice)
        model = self._load(files)
        return self._chunks(
            files, model, styles, voice, request.text, clamp_speed(request.speed), request.seed
        )

    def tokens(self, phonemes: str, vocab: Mapping[str, int] | None = None) -> list[int]:
        """Token ids for an IPA string, without the padding (symbols outside the vocabulary dropped)."""
        table = vocab if vocab is not None else VOCAB
        return [table[ch] for ch in phonemes if ch in table]

    def _chunks(
        self,
        files: _Files,
        model: OnnxModel,
        styles: np.ndarray,
        voice: str,
        text: str,
        speed: float,
        seed: int | None,
    ) -> Iterator[AudioChunk]:
        language = LANGUAGES[voice[0]]
        limit = min(MAX_TOKENS, styles.shape[0]) - 1
        counter = iter(range(1 << 30))
        assert self._phonemizer is not None
        phonemizer = self._phonemizer

        def render(sentence: MappedText) -> tuple[bytes, list[RawWord]]:
            index = next(counter)
            phonemes = phonemizer.phonemize(sentence.text, language.espeak_voice)
            phonemes = "".join(ch for ch in phonemes if ch in files.vocab).strip()
            pieces = []
            for part, piece in enumerate(split_phonemes(phonemes, limit)):
                tokens = self.tokens(piece, files.vocab)
                if not tokens:
                    continue
                audio = self.infer(model, tokens, styles, speed, piece_seed(seed, index, part))
                pieces.append(float_to_pcm16(audio))
            return b"".join(pieces), []

        return chunks_by_sentence(text, self.output_format(), render)

    @staticmethod
    def infer(
        model: OnnxModel, tokens: list[int], styles: np.ndarray, speed: float, seed: int | None
    ) -> np.ndarray:
        """Run Kokoro on one piece of at most 509 tokens (unpadded); returns float32 mono samples."""
        row = min(len(tokens), styles.shape[0] - 1)
        style = np.asarray(styles[row], dtype=np.float32).reshape(1, STYLE_DIM)
        padded = np.array([[0, *tokens, 0]], dtype=np.int64)
        speed_type = model.input_types.get("speed", "tensor(float)")
        speed_dtype = {"tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(double)": np.float64}
        feeds = {
            "input_ids" if model.has_input("input_ids") else "tokens": padded,
            "style": style,
            "speed": np.array([speed], dtype=speed_dtype.get(speed_type, np.float32)),
        }
        return np.asarray(model.run(feeds, seed)[0], dtype=np.float32).reshape(-1)

    # --- loading -------------------------------------------------------------------------------

    def _load(self, files: _Files) -> OnnxModel:
        stamp = file_stamp(files.model)
        with self._load_lock:
            if self._model is not None and self._model[0] == stamp:
                return self._model[1]
            try:
                model = load_model(files.model, threads=self._threads)
            except ImportError as exc:
                raise EngineUnavailable(f"kokoro engine unavailable: {exc}") from exc
            except Exception as exc:  # onnxruntime reports bad files with its own exception types
                raise EngineUnavailable(f"kokoro model {files.model} failed to load: {exc}") from exc
            self._model = (stamp, model)
            return model

    def _style_table(self, files: _Files, voice: str) -> np.ndarray:
        with self._lock:
            cached = self._styles.get(voice)
        if cached is not None:
            return cached
        try:
            if voice in files.voice_files:
                table = np.fromfile(files.voice_files[voice], dtype="<f4")
            else:
                assert files.archive is not None
                with np.load(files.archive, allow_pickle=False) as archive:
                    table = np.asarray(archive[voice], dtype=np.float32)
            table = table.reshape(-1, STYLE_DIM)
        except (OSError, ValueError, KeyError, AssertionError) as exc:
            raise EngineUnavailable(f"kokoro voice {voice!r} failed to load: {exc}") from exc
        if table.shape[0] < 2:
            raise EngineUnavailable(f"kokoro voice {voice!r} has no style rows")
        with self._lock:
            self._styles[voice] = table
        return table


def _find_files(folder: Path) -> tuple[_Files | None, str | None]:
    model = first_existing(folder, MODEL_FILES)
    if model is None:
        candidates = [*folder.glob("*.onnx"), *folder.glob("onnx/*.onnx")] if folder.is_dir() else []
        others = sorted(p for p in candidates if not p.name.startswith("."))
        model = others[0] if others else None
    if model is None:
        return None, f"no Kokoro model in {folder}; {PULL_HINT}"
    names: dict[str, None] = {}
    archive = folder / VOICES_ARCHIVE
    if archive.is_file():
        try:
            with np.load(archive, allow_pickle=False) as loaded:
                names.update(dict.fromkeys(sorted(loaded.files)))
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s: %s", archive, exc)
            archive_path: Path | None = None
        else:
            archive_path = archive
    else:
        archive_path = None
    voice_files = {p.stem: p for p in sorted((folder / VOICES_FOLDER).glob("*.bin"))}
    names.update(dict.fromkeys(voice_files))
    if not names:
        return None, f"no Kokoro voices ({VOICES_ARCHIVE} or {VOICES_FOLDER}/*.bin) in {folder}; {PULL_HINT}"
    vocab = dict(VOCAB)
    config = folder / "config.json"
    if config.is_file():
        try:
            loaded_vocab = json.loads(config.read_text(encoding="utf-8")).get("vocab")
            if isinstance(loaded_vocab, dict) and loaded_vocab:
                vocab = {str(k): int(v) for k, v in loaded_vocab.items()}
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("ignoring %s: %s", config, exc)
    meta: dict[str, Any] = {}
    sidecar = folder / SIDECAR
    if sidecar.is_file():
        try:
            loaded_meta = json.loads(sidecar.read_text(encoding="utf-8"))
            meta = loaded_meta if isinstance(loaded_meta, dict) else {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", sidecar, exc)
    files = _Files(model, archive_path, voice_files, tuple(names), vocab, meta)
    return files, None


def _engine_voice(name: str, overrides: Mapping[str, Any]) -> EngineVoice:
    language = LANGUAGES[name[0]]
    gender = {"f": "female", "m": "male"}.get(name[1:2], "neutral")
    display = name.split("_", 1)[-1].replace("_", " ").title()
    return EngineVoice(
        engine=ENGINE_NAME,
        native_id=name,
        name=str(overrides.get("name") or display),
        gender=str(overrides.get("gender") or gender),
        accent=str(overrides.get("accent") or language.accent),
        age=str(overrides.get("age") or "young"),
        language=str(overrides.get("language") or language.iso),
        description=str(
            overrides.get("description") or f"{display}: a Kokoro-82M neural voice ({language.name})."
        ),
        use_case=str(overrides.get("use_case") or "conversational"),
    )


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
