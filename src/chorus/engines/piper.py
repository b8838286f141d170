"""Piper neural voices (VITS exported to ONNX), run in process with onnxruntime.

A voice is a pair of files, ``<name>.onnx`` and ``<name>.onnx.json``, as published in
``rhasspy/piper-voices``; the engine looks for them in ``<models>/piper/<name>/`` (and directly in
``<models>/piper/``). An optional ``chorus.json`` beside them overrides the display name, gender,
accent, age, description and use case, and may name speakers of a multi-speaker model to list as
voices of their own (``{"speakers": {"p225": {"name": "Ada", "gender": "female"}}}``).

Inference follows Piper exactly: eSpeak NG phonemes (see :mod:`chorus.engines.phonemize`) split into
sentences, each sentence's phonemes decomposed (NFD) into code points and mapped through the voice's
``phoneme_id_map`` as ``^ _ p1 _ p2 _ ... pn _ $`` (BOS, pad after every symbol, EOS), then
``input`` [1, T] int64, ``input_lengths`` [1], ``scales`` = [noise_scale, length_scale, noise_w] and,
for multi-speaker models, ``sid`` [1]. The float audio is peak-normalised per sentence like Piper's
(to 0.95 of full scale rather than 1.0) and resampled to the engine's single output rate.

Determinism: the model's random ops are rewritten into seeded ones (see
:mod:`chorus.engines.neural`), so equal requests give byte-identical audio; each sentence gets its own
seed derived from the request's (None counts as 0).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    float_to_pcm16,
    load_model,
    onnxruntime_missing,
    piece_seed,
)
from chorus.engines.phonemize import Phonemizer

log = logging.getLogger(__name__)

ENGINE_NAME = "piper"
DEFAULT_SAMPLE_RATE = 22_050  # what medium and high quality Piper voices produce
DEFAULT_SENTENCE_SILENCE = 0.2  # seconds after each sentence, as the piper command line adds
PULL_HINT = "run `chorus models pull en_US-lessac-medium` (or copy <voice>.onnx and <voice>.onnx.json there)"
SIDECAR = "chorus.json"

BOS, EOS, PAD = "^", "$", "_"
SPEAKER_SEPARATOR = ":"

# Piper voices publish no gender; these are the well-known ones (by dataset name).
_KNOWN_GENDERS = {
    "amy": "female", "bryce": "male", "danny": "male", "hfc_female": "female", "hfc_male": "male",
    "joe": "male", "john": "male", "kathleen": "female", "kristin": "female", "kusal": "male",
    "lessac": "female", "ljspeech": "female", "norman": "male", "reza_ibrahim": "male",
    "ryan": "male", "alan": "male", "alba": "female", "cori": "female", "jenny_dioco": "female",
    "northern_english_male": "male", "southern_english_female": "female", "thorsten": "male",
    "eva_k": "female", "kerstin": "female", "karlsson": "male", "ramona": "female", "pavoque": "male",
    "siwis": "female", "tom": "male", "gilles": "male", "davefx": "male", "carlfm": "male",
    "ald": "male", "claude": "female", "paola": "female", "riccardo": "male", "faber": "male",
    "cadu": "male", "tugao": "male", "denis": "male", "dmitri": "male", "irina": "female",
    "ruslan": "male", "dfki": "male", "nathalie": "female", "rdh": "male",
}  # fmt: skip
_ACCENTS = {
    "en_US": "american", "en_GB": "british", "en_AU": "australian", "en_IE": "irish",
    "en_IN": "indian", "en_CA": "canadian", "en_NZ": "new zealand", "en_ZA": "south african",
    "de_DE": "german", "de_AT": "austrian", "de_CH": "swiss", "fr_FR": "french",
    "fr_CA": "canadian french", "es_ES": "castilian", "es_MX": "mexican", "es_AR": "argentinian",
    "pt_BR": "brazilian", "pt_PT": "european portuguese", "it_IT": "italian", "nl_NL": "dutch",
    "nl_BE": "flemish",
}  # fmt: skip


@dataclass(frozen=True)
class PiperVoice:
    """One installed Piper model and its configuration."""

    key: str  # the model name: "en_US-lessac-medium"
    model_path: Path
    sample_rate: int
    phoneme_type: str  # "espeak" or "text"
    espeak_voice: str  # "en-us"
    phoneme_id_map: Mapping[str, Sequence[int]]
    phoneme_map: Mapping[str, Sequence[str]]
    noise_scale: float
    length_scale: float
    noise_w: float
    num_speakers: int
    speaker_id_map: Mapping[str, int]
    language_code: str  # "en_US"
    language_family: str  # "en"
    language_name: str  # "English"
    dataset: str  # "lessac"
    quality: str  # "medium"
    meta: Mapping[str, Any] = field(default_factory=dict)  # the sidecar chorus.json

    @classmethod
    def from_files(cls, model_path: Path, config_path: Path | None = None) -> PiperVoice:
        """Read ``<model>.onnx.json`` (and ``chorus.json`` if present). Raises ValueError if invalid."""
        config_path = config_path or model_path.with_name(model_path.name + ".json")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {config_path}: {exc}") from exc
        key = model_path.name[: -len(".onnx")]
        id_map = config.get("phoneme_id_map")
        if not isinstance(id_map, dict) or not id_map:
            raise ValueError(f"{config_path} has no phoneme_id_map")
        for symbol in (BOS, EOS, PAD):
            if symbol not in id_map:
                raise ValueError(f"{config_path}: phoneme_id_map lacks {symbol!r}")
        meta: dict[str, Any] = {}
        sidecar = model_path.parent / SIDECAR
        if sidecar.is_file():
            try:
                loaded = json.loads(sidecar.read_text(encoding="utf-8"))
                meta = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError) as exc:
                log.warning("ignoring %s: %s", sidecar, exc)
        inference = config.get("inference") or {}
        language = config.get("language") or {}
        parts = key.split("-")
        code = str(language.get("code") or (parts[0] if len(parts) >= 3 else "en_US"))
        family = str(language.get("family") or code.split("_", 1)[0]).lower()
        dataset = str(config.get("dataset") or (parts[1] if len(parts) >= 3 else key))
        quality = str((config.get("audio") or {}).get("quality") or (parts[-1] if len(parts) >= 3 else ""))
        return cls(
            key=key,
            model_path=model_path,
            sample_rate=int((config.get("audio") or {}).get("sample_rate") or 22_050),
            phoneme_type=str(config.get("phoneme_type") or "espeak"),
            espeak_voice=str((config.get("espeak") or {}).get("voice") or family),
            phoneme_id_map={str(k): [int(i) for i in v] for k, v in id_map.items()},
            phoneme_map={str(k): list(v) for k, v in (config.get("phoneme_map") or {}).items()},
            noise_scale=float(inference.get("noise_scale", 0.667)),
            length_scale=float(inference.get("length_scale", 1.0)),
            noise_w=float(inference.get("noise_w", 0.8)),
            num_speakers=int(config.get("num_speakers") or 1),
            speaker_id_map={str(k): int(v) for k, v in (config.get("speaker_id_map") or {}).items()},
            language_code=code,
            language_family=family,
            language_name=str(language.get("name_english") or family),
            dataset=dataset,
            quality=quality,
            meta=meta,
        )

    def speaker_id(self, speaker: str | None) -> int | None:
        """The ``sid`` for ``speaker`` (a name in speaker_id_map or a number); None for one-speaker models."""
        if self.num_speakers <= 1:
            if speaker:
                raise UnknownVoice(f"piper voice {self.key!r} has a single speaker, not {speaker!r}")
            return None
        if not speaker:
            default = self.meta.get("default_speaker")
            return self.speaker_id(str(default)) if default is not None else 0
        if speaker in self.speaker_id_map:
            return self.speaker_id_map[speaker]
        if speaker.isdigit() and int(speaker) < self.num_speakers:
            return int(speaker)
        raise UnknownVoice(f"piper voice {self.key!r} has no speaker {speaker!r}")

    def phonemes(self, ipa: str) -> list[str]:
        """Piper's phoneme list for one sentence: NFD code points, through ``phoneme_map`` if any."""
        symbols = list(unicodedata.normalize("NFD", ipa))
        if not self.phoneme_map:
            return symbols
        mapped: list[str] = []
        for symbol in symbols:
            mapped.extend(self.phoneme_map.get(symbol, [symbol]))
        return mapped


def phoneme_ids(phonemes: Iterable[str], id_map: Mapping[str, Sequence[int]]) -> list[int]:
    """Piper's ids for a sentence: BOS, pad, then each phoneme's ids followed by pad, then EOS.

    Phonemes missing from ``id_map`` are skipped, as Piper does.
    """
    pad = list(id_map[PAD])
    ids = list(id_map[BOS]) + pad
    missing: set[str] = set()
    for phoneme in phonemes:
        mapped = id_map.get(phoneme)
        if mapped is None:
            missing.add(phoneme)
            continue
        ids.extend(mapped)
        ids.extend(pad)
    ids.extend(id_map[EOS])
    if missing:
        log.debug("phonemes missing from the id map: %s", "".join(sorted(missing)))
    return ids


def find_voices(folder: Path) -> dict[str, PiperVoice]:
    """Every valid Piper voice in ``folder`` and its subfolders (one level), by model name."""
    found: dict[str, PiperVoice] = {}
    if not folder.is_dir():
        return found
    candidates = sorted(folder.glob("*.onnx")) + sorted(folder.glob("*/*.onnx"))
    for model_path in candidates:
        if model_path.name.startswith(".") or model_path.parent.name.startswith("."):
            continue  # downloads in progress live in hidden folders
        config_path = model_path.with_name(model_path.name + ".json")
        if not config_path.is_file():
            continue
        try:
            voice = PiperVoice.from_files(model_path, config_path)
        except ValueError as exc:
            log.warning("skipping Piper voice %s: %s", model_path, exc)
            continue
        if voice.phoneme_type not in ("espeak", "text"):
            log.warning(
                "skipping Piper voice %s: phoneme type %r is not supported", model_path, voice.phoneme_type
            )
            continue
        found.setdefault(voice.key, voice)
    return found


class PiperEngine:
    """Piper voices from a folder. Construction never raises; see :meth:`available`.

    The voice folder is rescanned when it changes, so voices pulled while the server runs appear
    without a restart. Sessions load on first use and are shared by all threads.
    """

    name = ENGINE_NAME

    def __init__(
        self,
        voices_dir: Path | str,
        *,
        phonemizer: Phonemizer | None = None,
        threads: int | None = None,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        sentence_silence: float = DEFAULT_SENTENCE_SILENCE,
    ) -> None:
        self._dir = Path(voices_dir)
        self._phonemizer = phonemizer
        self._threads = threads
        self._sample_rate = int(sample_rate)
        self._silence = max(0.0, float(sentence_silence))
        self._runtime_reason = onnxruntime_missing()
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._voices: dict[str, PiperVoice] = {}
        self._models: dict[str, tuple[tuple[int, int], OnnxModel]] = {}  # key → (file stamp, model)
        self._model_locks: dict[str, threading.Lock] = {}

    # --- voices on disk ------------------------------------------------------------------------

    def _scan(self) -> dict[str, PiperVoice]:
        try:
            folders = [self._dir, *(p for p in sorted(self._dir.iterdir()) if p.is_dir())]
            stamp = tuple(p.stat().st_mtime_ns for p in folders)
        except OSError:
            stamp = ()
        with self._lock:
            if stamp != self._stamp:
                voices = find_voices(self._dir)
                # A replaced or removed model must not keep serving from a stale session.
                for key, (loaded_stamp, _) in list(self._models.items()):
                    if key not in voices or file_stamp(voices[key].model_path) != loaded_stamp:
                        del self._models[key]
                self._voices, self._stamp = voices, stamp
            return self._voices

    def _phonemizer_reason(self, voices: Iterable[PiperVoice]) -> str | None:
        if not any(v.phoneme_type == "espeak" for v in voices):
            return None
        if self._phonemizer is None:
            self._phonemizer = Phonemizer()
        reason = self._phonemizer.unavailable_reason()
        return f"piper engine unavailable: {reason}" if reason else None

    def unavailable_reason(self) -> str | None:
        if self._runtime_reason is not None:
            return f"piper engine unavailable: {self._runtime_reason}"
        voices = self._scan()
        if not voices:
            return f"piper engine unavailable: no Piper voices in {self._dir}; {PULL_HINT}"
        return self._phonemizer_reason(voices.values())

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def voices(self) -> list[EngineVoice]:
        if not self.available():
            return []
        voices = self._scan()
        datasets: dict[str, int] = {}
        for voice in voices.values():
            datasets[voice.dataset] = datasets.get(voice.dataset, 0) + 1
        listed: list[EngineVoice] = []
        for voice in voices.values():
            listed.append(_engine_voice(voice, voice.key, voice.meta, datasets[voice.dataset] > 1))
            speakers = voice.meta.get("speakers")
            if isinstance(speakers, dict) and voice.num_speakers > 1:
                shared = {k: v for k, v in voice.meta.items() if k not in ("name", "description", "speakers")}
                for speaker, info in speakers.items():
                    details = {**shared, "name": str(speaker).replace("_", " ").title()}
                    details.update(info if isinstance(info, dict) else {})
                    native_id = f"{voice.key}{SPEAKER_SEPARATOR}{speaker}"
                    listed.append(_engine_voice(voice, native_id, details, False))
        return listed

    def languages(self) -> list[tuple[str, str]]:
        if not self.available():
            return []
        found = {
            v.language_family: v.language_name for v in self._scan().values() if len(v.language_family) == 2
        }
        return sorted(found.items())

    def output_format(self) -> PCMFormat:
        return PCMFormat(self._sample_rate)

    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities(
            streaming_output=True,
            streaming_input=False,
            timestamps=False,
            languages=tuple(code for code, _ in self.languages()),
            sample_rate=self._sample_rate,
        )

    # --- synthesis -----------------------------------------------------------------------------

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Yield one chunk of PCM per sentence of ``request.text``.

        ``native_voice`` is a model name ("en_US-lessac-medium"), or ``<model>:<speaker>`` for a
        speaker of a multi-speaker model (a name from its ``speaker_id_map`` or a number). ``speed``
        divides the length scale; ``stability`` scales both noise terms (0.5 leaves the voice's own
        values, 0 gives 1.5 times them, 1 half); ``seed`` seeds the noise. The voice's language is
        fixed, so a language hint is ignored. Unavailability, an unknown voice or a model that will
        not load raise here, before any audio is produced.
        """
        reason = self.unavailable_reason()
        if reason is not None:
            raise EngineUnavailable(reason)
        voice, speaker_id = self._resolve(request.native_voice)
        model = self._model(voice)
        stability = min(1.0, max(0.0, float(request.stability)))
        variation = 1.5 - stability
        scales = np.array(
            [
                voice.noise_scale * variation,
                voice.length_scale / clamp_speed(request.speed),
                voice.noise_w * variation,
            ],
            dtype=np.float32,
        )
        return self._chunks(voice, model, request.text, scales, speaker_id, request.seed)

    def _resolve(self, native_voice: str) -> tuple[PiperVoice, int | None]:
        voices = self._scan()
        key, _, speaker = native_voice.strip().partition(SPEAKER_SEPARATOR)
        voice = voices.get(key)
        if voice is None:
            known = ", ".join(sorted(voices)) or "none"
            raise UnknownVoice(f"piper has no voice {native_voice!r}; installed: {known}")
        return voice, voice.speaker_id(speaker or None)

    def _model(self, voice: PiperVoice) -> OnnxModel:
        stamp = file_stamp(voice.model_path)
        with self._lock:
            cached = self._models.get(voice.key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            lock = self._model_locks.setdefault(voice.key, threading.Lock())
        with lock:  # one load per voice, without holding up the others
            with self._lock:
                cached = self._models.get(voice.key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            try:
                model = load_model(voice.model_path, threads=self._threads)
            except ImportError as exc:
                raise EngineUnavailable(f"piper engine unavailable: {exc}") from exc
            except Exception as exc:  # onnxruntime reports bad files with its own exception types
                raise EngineUnavailable(f"piper voice {voice.key!r} failed to load: {exc}") from exc
            with self._lock:
                self._models[voice.key] = (stamp, model)
        return model

    def _chunks(
        self,
        voice: PiperVoice,
        model: OnnxModel,
        text: str,
        scales: np.ndarray,
        speaker_id: int | None,
        seed: int | None,
    ) -> Iterator[AudioChunk]:
        counter = iter(range(1 << 30))
        silence = b"\x00\x00" * round(self._silence * self._sample_rate)

        def render(sentence: MappedText) -> tuple[bytes, list[RawWord]]:
            index = next(counter)
            pieces = []
            for part, ipa in enumerate(self._phonemize(voice, sentence.text)):
                ids = phoneme_ids(voice.phonemes(ipa), voice.phoneme_id_map)
                if len(ids) <= 3:  # BOS, pad, EOS: nothing to say
                    continue
                audio = self.infer(model, ids, scales, speaker_id, piece_seed(seed, index, part))
                pieces.append(float_to_pcm16(self._resample(audio, voice.sample_rate), peak=0.95))
            if not pieces:
                return b"", []
            return b"".join(pieces) + silence, []

        return chunks_by_sentence(text, self.output_format(), render)

    def _phonemize(self, voice: PiperVoice, text: str) -> list[str]:
        if voice.phoneme_type == "text":
            return [unicodedata.normalize("NFD", re.sub(r"\s+", " ", text).strip())]
        assert self._phonemizer is not None
        return self._phonemizer.sentences(text, voice.espeak_voice)

    @staticmethod
    def infer(
        model: OnnxModel, ids: Sequence[int], scales: np.ndarray, speaker_id: int | None, seed: int | None
    ) -> np.ndarray:
        """Run a Piper model on one sentence's phoneme ids; returns float32 mono samples."""
        feeds: dict[str, np.ndarray] = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.asarray(scales, dtype=np.float32),
        }
        if model.has_input("sid"):
            feeds["sid"] = np.array([speaker_id or 0], dtype=np.int64)
        return np.asarray(model.run(feeds, seed)[0], dtype=np.float32).reshape(-1)

    def _resample(self, audio: np.ndarray, rate: int) -> np.ndarray:
        if rate == self._sample_rate or audio.size == 0:
            return audio
        import soxr

        return soxr.resample(audio, rate, self._sample_rate)


def _engine_voice(voice: PiperVoice, native_id: str, meta: Mapping[str, Any], qualify: bool) -> EngineVoice:
    display = voice.dataset.replace("_", " ").title()
    if qualify and voice.quality:
        display = f"{display} ({voice.quality.replace('_', ' ')})"
    name = str(meta.get("name") or display)
    gender = str(meta.get("gender") or _guess_gender(voice))
    accent = str(meta.get("accent") or _ACCENTS.get(voice.language_code) or voice.language_code)
    description = str(
        meta.get("description")
        or f"{display}: a Piper neural voice ({voice.language_name}, {voice.quality or 'unknown'} quality)."
    )
    return EngineVoice(
        engine=ENGINE_NAME,
        native_id=native_id,
        name=name,
        gender=gender,
        accent=accent,
        age=str(meta.get("age") or "middle_aged"),
        language=str(meta.get("language") or voice.language_family),
        description=description,
        use_case=str(meta.get("use_case") or "conversational"),
    )


def _guess_gender(voice: PiperVoice) -> str:
    dataset = voice.dataset.lower()
    if dataset in _KNOWN_GENDERS:
        return _KNOWN_GENDERS[dataset]
    if "female" in dataset:
        return "female"
    if "male" in dataset:
        return "male"
    return "neutral"
