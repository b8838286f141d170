"""The faster-whisper engine end to end, on a tiny randomly initialised Whisper built here (tiny_whisper.py).

A random model's text is garbage, so these tests check structure and behaviour: loading, word times,
confidences, language detection and requested languages, concurrency, streaming, availability, pulling,
the engine choice, and the HTTP API. Decoding is greedy at temperature 0 with a short token budget: a
random model never satisfies Whisper's fallback checks, which would otherwise decode every window six
times (the defaults are checked as data instead).
"""

from __future__ import annotations

import functools
import http.server
import io
import threading
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.errors import BadRequest
from chorus.models import ModelStore, UnknownModel, resolve
from chorus.stt import whisper_engine as whisper_module
from chorus.stt.base import Final, Partial, STTEngine, STTUnavailable, TranscribeOptions, UnsupportedLanguage
from chorus.stt.registry import build_stt_engine, choose_stt_engine
from chorus.stt.whisper_engine import (
    LOGPROB_FLOOR,
    WHISPER_LANGUAGES,
    FasterWhisperEngine,
    WhisperSettings,
    hotwords,
    model_languages,
    whisper_language,
)
from tests.conftest import ADMIN_KEY, make_settings
from tests.unit.tiny_whisper import LANGUAGES, build_tiny_whisper

MODEL = "tiny-random"
FAST = WhisperSettings(beam_size=1, best_of=1, temperatures=(0.0,), max_new_tokens=48, partial_interval_s=1.5)
UNSPACED = {"zho", "jpn", "tha", "lao", "mya", "yue"}
SENTENCE_A = "Please lock the front door. The house is quiet tonight."
SENTENCE_B = "Seven bright lamps were burning in the hall."


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding the tiny Whisper as faster-whisper/tiny-random (built once per module)."""
    root = tmp_path_factory.mktemp("models")
    build_tiny_whisper(root / "faster-whisper" / MODEL)
    return root


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> FasterWhisperEngine:
    return FasterWhisperEngine(MODEL, models_dir=models_dir, cpu_threads=1, workers=2, settings=FAST)


def _flite(text: str, voice: str) -> bytes:
    from chorus.engines.base import SynthesisRequest
    from chorus.engines.flite import FliteEngine

    flite = FliteEngine([voice])
    if not flite.available():
        pytest.skip(f"flite is needed to make test speech: {flite.unavailable_reason()}")
    assert flite.output_format().sample_rate == 16_000
    return b"".join(chunk.pcm for chunk in flite.synthesize(SynthesisRequest(text=text, native_voice=voice)))


@pytest.fixture(scope="module")
def speech_a() -> bytes:
    return _flite(SENTENCE_A, "rms")


@pytest.fixture(scope="module")
def speech_b() -> bytes:
    return _flite(SENTENCE_B, "slt")


@pytest.fixture(scope="module")
def transcript_a(engine: FasterWhisperEngine, speech_a: bytes) -> Any:
    return engine.transcribe(speech_a, 16_000, TranscribeOptions())


def _duration(pcm: bytes, rate: int = 16_000) -> float:
    return len(pcm) // 2 / rate


def assert_words_well_formed(words: Any, start_s: float, end_s: float) -> None:
    previous_end = start_s
    for word in words:
        assert word.text and word.text == word.text.strip()
        assert previous_end <= word.start_s <= word.end_s <= end_s + 1e-6
        assert LOGPROB_FLOOR <= word.logprob <= 0.0
        previous_end = word.end_s


# --- the engine -----------------------------------------------------------------------------------


def test_the_tiny_model_is_a_multilingual_whisper(engine: FasterWhisperEngine) -> None:
    assert isinstance(engine, STTEngine)
    assert engine.available() and engine.unavailable_reason() is None and engine.installed()
    caps = engine.capabilities()
    assert caps.languages == tuple(WHISPER_LANGUAGES[code] for code in LANGUAGES)  # 99: no Cantonese
    assert {"eng", "deu", "zho", "haw", "jav"} <= set(caps.languages) and "yue" not in caps.languages
    assert caps.word_timestamps and caps.keyterms and caps.max_concurrency == 2
    assert caps.streaming == engine.vad.available()
    for spelling in ("de", "deu", "ger", "de-AT", "de_CH", "nb", "nob", "jv", "fil", "EN", None, " "):
        assert caps.supports_language(spelling), spelling
    for spelling in ("xx", "tlh", "yue", "qaa-x-private"):
        assert not caps.supports_language(spelling), spelling


def test_transcribes_words_with_times_confidence_and_detected_language(
    engine: FasterWhisperEngine, speech_a: bytes, transcript_a: Any
) -> None:
    duration = _duration(speech_a)
    assert transcript_a.duration_s == pytest.approx(duration)
    assert transcript_a.words, "the VAD found the speech and the model produced words"
    assert_words_well_formed(transcript_a.words, 0.0, duration)
    separator = "" if transcript_a.language in UNSPACED else " "
    assert transcript_a.text == separator.join(w.text for w in transcript_a.words)
    # The language is the model's own detection on this audio, reported with its probability.
    assert transcript_a.language in engine.capabilities().languages
    audio = np.frombuffer(speech_a, "<i2").astype(np.float32) / 32768.0
    from faster_whisper.vad import VadOptions

    vad = VadOptions(**FAST.transcribe_kwargs()["vad_parameters"])
    code, probability, _ = engine.load().detect_language(audio, vad_filter=True, vad_parameters=vad)
    assert transcript_a.language == WHISPER_LANGUAGES[code]
    assert 0.0 < transcript_a.language_probability <= 1.0
    assert transcript_a.language_probability == pytest.approx(probability, abs=1e-3)


def test_honours_a_requested_language_at_any_sample_rate(
    engine: FasterWhisperEngine, speech_a: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import soxr

    model = engine.load()
    decoded_as: list[tuple[str, str]] = []

    def passthrough(audio: np.ndarray, **kwargs: Any) -> tuple[Any, Any]:
        segments, info = real(audio, **kwargs)
        decoded_as.append((kwargs["language"], info.language))
        return segments, info

    real = model.transcribe
    monkeypatch.setattr(model, "transcribe", passthrough)
    pcm_24k = soxr.resample(np.frombuffer(speech_a, "<i2"), 16_000, 24_000).astype("<i2").tobytes()
    transcript = engine.transcribe(pcm_24k, 24_000, TranscribeOptions(language="de-AT"))
    assert decoded_as == [("de", "de")]  # Whisper decoded with the <|de|> token, not a detected language
    assert (transcript.language, transcript.language_probability) == ("deu", 1.0)
    assert transcript.duration_s == pytest.approx(_duration(pcm_24k, 24_000))
    assert transcript.words
    assert_words_well_formed(transcript.words, 0.0, transcript.duration_s)


def test_an_unknown_language_is_refused_before_decoding(engine: FasterWhisperEngine, speech_a: bytes) -> None:
    with pytest.raises(UnsupportedLanguage) as error:
        engine.transcribe(speech_a, 16_000, TranscribeOptions(language="tlh"))
    assert isinstance(error.value, BadRequest) and error.value.status == "unsupported_language"
    assert "'tlh'" in error.value.message
    with pytest.raises(UnsupportedLanguage):
        engine.stream(16_000, TranscribeOptions(language="xx"))


def test_silence_has_no_words(engine: FasterWhisperEngine) -> None:
    transcript = engine.transcribe(bytes(2 * 24_000), 16_000, TranscribeOptions(language="en"))
    assert transcript.words == () and transcript.text == ""
    assert transcript.duration_s == pytest.approx(1.5)


def test_concurrent_transcriptions_match_sequential_ones(
    engine: FasterWhisperEngine, speech_a: bytes, speech_b: bytes, transcript_a: Any
) -> None:
    transcript_b = engine.transcribe(speech_b, 16_000, TranscribeOptions())
    jobs = [speech_a, speech_b, speech_a]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda pcm: engine.transcribe(pcm, 16_000, TranscribeOptions()), jobs))
    assert results == [transcript_a, transcript_b, transcript_a]


def test_keyterms_become_whisper_hotwords(
    engine: FasterWhisperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hotwords(("Chorus", "  Kubernetes   cluster ", " ")) == "Glossary: Chorus, Kubernetes cluster."
    assert hotwords(()) is None
    model = engine.load()
    seen: dict[str, Any] = {}

    def spy(audio: np.ndarray, **kwargs: Any) -> tuple[Iterator[Any], Any]:
        seen.update(kwargs, samples=audio.size)
        return iter(()), SimpleNamespace(language="fr", language_probability=0.75)

    monkeypatch.setattr(model, "transcribe", spy)
    transcript = engine.transcribe(bytes(16_000), 8_000, TranscribeOptions(keyterms=("Chorus", "ElevenLabs")))
    assert seen["hotwords"] == "Glossary: Chorus, ElevenLabs." and seen["language"] is None
    assert seen["samples"] == 16_000 and seen["word_timestamps"] is True
    assert (transcript.language, transcript.language_probability, transcript.words) == ("fra", 0.75, ())


def test_default_settings_are_whispers_robust_decoding() -> None:
    kwargs = WhisperSettings().transcribe_kwargs()
    assert kwargs["beam_size"] == 5 and kwargs["best_of"] == 5
    assert kwargs["temperature"] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert kwargs["word_timestamps"] and kwargs["vad_filter"] and kwargs["task"] == "transcribe"
    assert kwargs["vad_parameters"]["min_silence_duration_ms"] == 1000


def test_language_spellings_and_model_vocabularies(models_dir: Path, tmp_path: Path) -> None:
    assert [whisper_language(c) for c in ("en", "eng", "en-GB", "ger", "jv", "jav", "nb", "cmn", "zh-TW")] == [
        "en", "en", "en", "de", "jw", "jw", "no", "zh", "zh",
    ]  # fmt: skip
    assert whisper_language("tlh") is None and whisper_language("") is None
    assert model_languages(models_dir / "faster-whisper" / MODEL) == LANGUAGES
    english_only = tmp_path / "english"
    english_only.mkdir()
    (english_only / "vocabulary.txt").write_text("\n".join(f"t{i}" for i in range(51_864)) + "\n")
    assert model_languages(english_only) == ("en",)
    engine = FasterWhisperEngine(str(english_only))
    assert engine.capabilities().languages == ("eng",)
    assert engine.capabilities().supports_language("en-US") and not engine.capabilities().supports_language(
        "de"
    )


# --- streaming ------------------------------------------------------------------------------------


def test_stream_gives_partials_then_finals_on_the_stream_clock(
    engine: FasterWhisperEngine, speech_a: bytes, speech_b: bytes
) -> None:
    if not engine.vad.available():
        pytest.skip(f"streaming needs Silero VAD: {engine.vad.unavailable_reason()}")
    pcm = speech_a + bytes(2 * 16_000) + speech_b  # two utterances a second apart
    gap_start, gap_end = _duration(speech_a), _duration(speech_a) + 1.0
    stream = engine.stream(16_000, TranscribeOptions(language="en"))
    events = []
    for i in range(0, len(pcm), 3200):  # 100 ms chunks
        events += stream.feed(pcm[i : i + 3200])
    events += stream.finish()
    assert stream.finish() == []
    with pytest.raises(RuntimeError):
        stream.feed(b"\0\0")
    finals = [e for e in events if isinstance(e, Final)]
    partials = [e for e in events if isinstance(e, Partial)]
    assert len(finals) >= 2 and partials, events
    assert isinstance(events[-1], Final)
    # The utterances are in order, do not overlap, and the pause between the sentences separates them.
    assert all(a.end_s <= b.start_s for a, b in zip(finals, finals[1:], strict=False))
    assert finals[0].start_s < gap_start and finals[-1].end_s > gap_end
    assert all(f.end_s <= gap_start + 0.5 or f.start_s >= gap_end - 0.5 for f in finals)
    assert finals[-1].end_s <= _duration(pcm) + 1e-6
    for final in finals:
        assert (final.language, final.language_probability) == ("eng", 1.0)
        assert final.text == " ".join(w.text for w in final.words)
        assert_words_well_formed(final.words, final.start_s, final.end_s)
    assert any(final.words for final in finals)
    # Each partial belongs to an utterance that later became final.
    assert {p.start_s for p in partials} <= {f.start_s for f in finals}


# --- availability and installing ------------------------------------------------------------------


def test_a_missing_model_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    engine = FasterWhisperEngine("small", models_dir=tmp_path)
    reason = engine.unavailable_reason()
    assert not engine.available() and reason is not None
    assert (
        "`chorus models pull faster-whisper-small`" in reason and str(tmp_path / "faster-whisper") in reason
    )
    with pytest.raises(STTUnavailable, match="chorus models pull faster-whisper-small"):
        engine.transcribe(bytes(3200), 16_000, TranscribeOptions())
    assert "faster-whisper-large-v3`" in (
        FasterWhisperEngine("large", models_dir=tmp_path).unavailable_reason() or ""
    )
    missing_path = FasterWhisperEngine(str(tmp_path / "nowhere"))
    assert str(tmp_path / "nowhere") in (missing_path.unavailable_reason() or "")
    incomplete = tmp_path / "faster-whisper" / "base"
    incomplete.mkdir(parents=True)
    (incomplete / "config.json").write_text("{}")
    reason = FasterWhisperEngine("base", models_dir=tmp_path).unavailable_reason() or ""
    assert "incomplete" in reason and "model.bin" in reason and "vocabulary" in reason
    offline = FasterWhisperEngine("small", models_dir=tmp_path, download=True)
    assert offline.available()  # pulled on first use ...
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not offline.available()  # ... unless the hub is off limits


def test_a_corrupt_model_is_reported_until_it_is_replaced(models_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "faster-whisper" / "broken"
    folder.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        (folder / name).write_bytes((models_dir / "faster-whisper" / MODEL / name).read_bytes())
    (folder / "model.bin").write_bytes(b"not a model")
    engine = FasterWhisperEngine("broken", models_dir=tmp_path, cpu_threads=1, settings=FAST)
    assert engine.available()  # every file is there; only loading shows the problem
    with pytest.raises(STTUnavailable, match="cannot load faster-whisper model"):
        engine.transcribe(bytes(3200), 16_000, TranscribeOptions())
    assert "cannot load" in (engine.unavailable_reason() or "")
    (folder / "model.bin").write_bytes((models_dir / "faster-whisper" / MODEL / "model.bin").read_bytes())
    assert engine.available()
    assert engine.load() is not None


class _Hub:
    """A stand-in for the Hugging Face hub serving the tiny model as Systran/faster-whisper-small."""

    def __init__(self, root: Path, model: Path) -> None:
        folder = root / "Systran" / "faster-whisper-small" / "resolve" / "main"
        folder.mkdir(parents=True)
        for file in model.iterdir():
            (folder / file.name).symlink_to(file)
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_whisper_models_are_pulled_into_the_models_folder(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    entry = resolve("faster-whisper-small")
    assert (entry.kind, entry.repo, entry.folder) == (
        "whisper",
        "Systran/faster-whisper-small",
        "faster-whisper/small",
    )
    assert resolve("faster-whisper-large").folder == "faster-whisper/large-v3"
    with pytest.raises(UnknownModel, match="faster-whisper-small"):
        resolve("faster-whisper-huge")
    hub = _Hub(tmp_path / "hub", models_dir / "faster-whisper" / MODEL)
    try:
        installed = ModelStore(tmp_path / "pulled").pull("faster-whisper-small", hub.url)
        assert (installed.name, installed.kind, installed.managed) == (
            "faster-whisper-small",
            "whisper",
            True,
        )
        assert installed.path == tmp_path / "pulled" / "faster-whisper" / "small"
        assert [m.name for m in ModelStore(tmp_path / "pulled").list_models()] == ["faster-whisper-small"]
        assert FasterWhisperEngine("small", models_dir=tmp_path / "pulled").available()
        # With downloads allowed, a missing model is pulled on first use, from the configured hub.
        lazy = FasterWhisperEngine("small", models_dir=tmp_path / "lazy", download=True, hub_url=hub.url)
        assert lazy.available() and not lazy.installed()
        assert lazy.load() is not None and lazy.installed()
    finally:
        hub.close()
    # A hub that cannot be reached: a clear reason, and no new attempt on every request.
    unreachable = FasterWhisperEngine("small", models_dir=tmp_path / "x", download=True, hub_url=hub.url)
    with pytest.raises(STTUnavailable, match="could not be downloaded.*cannot reach"):
        unreachable.load()
    assert "could not be downloaded" in (unreachable.unavailable_reason() or "")


# --- choosing the engine --------------------------------------------------------------------------


def test_the_registry_builds_the_engine_the_settings_choose(models_dir: Path, tmp_path: Path) -> None:
    with_model = make_settings(tmp_path / "a", models_dir=models_dir, whisper_model=MODEL, stt_engine="auto")
    without = make_settings(tmp_path / "b", models_dir=tmp_path / "empty", stt_engine="auto")
    assert choose_stt_engine(with_model) == "faster-whisper" and choose_stt_engine(without) == "pocketsphinx"
    chosen = build_stt_engine(with_model)
    assert isinstance(chosen, FasterWhisperEngine) and chosen.available()
    assert chosen.model_folder() == models_dir / "faster-whisper" / MODEL
    assert (chosen.device, chosen.compute_type) == ("cpu", "int8")
    assert build_stt_engine(with_model, 4, reuse=chosen) is chosen  # one model in memory, shared
    assert build_stt_engine(without).name == "pocketsphinx"
    forced = build_stt_engine(
        make_settings(tmp_path / "c", models_dir=tmp_path / "empty", stt_engine="faster-whisper")
    )
    assert (
        forced.name == "faster-whisper"
        and "chorus models pull faster-whisper-small" in forced.unavailable_reason()
    )
    assert build_stt_engine(make_settings(tmp_path / "d", models_dir=models_dir)).name == "pocketsphinx"
    with pytest.raises(ValueError):
        make_settings(tmp_path / "e", stt_engine="vosk")


# --- through the HTTP API -------------------------------------------------------------------------


def _wav(pcm: bytes, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm)
    return out.getvalue()


def test_speech_to_text_api_with_faster_whisper(
    models_dir: Path, tmp_path: Path, speech_a: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        whisper_module, "WhisperSettings", lambda: FAST
    )  # the engine the app builds decodes fast
    settings = make_settings(
        tmp_path / "data",
        stt_engine="faster-whisper",
        models_dir=models_dir,
        whisper_model=MODEL,
        whisper_cpu_threads=1,
    )
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as client:

        def stt(**fields: str) -> Any:
            return client.post(
                "/v1/speech-to-text",
                data={"model_id": "scribe_v1", **fields},
                files={"file": ("speech.wav", _wav(speech_a), "audio/wav")},
            )

        response = stt()
        assert response.status_code == 200, response.text
        body = response.json()
        assert (
            body["language_code"]
            in FasterWhisperEngine(MODEL, models_dir=models_dir).capabilities().languages
        )
        assert 0 < body["language_probability"] <= 1
        assert body["audio_duration_secs"] == pytest.approx(_duration(speech_a), abs=0.01)
        words = [w for w in body["words"] if w["type"] == "word"]
        assert words and all(w["logprob"] <= 0 for w in words)
        kinds = [w["type"] for w in body["words"]]
        assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False))  # spacing between words
        ends = [w["end"] for w in words]
        assert ends == sorted(ends) and ends[-1] <= body["audio_duration_secs"] + 1e-3

        german = stt(language_code="deu").json()
        assert (german["language_code"], german["language_probability"]) == ("deu", 1.0)
        refused = stt(language_code="tlh")
        assert refused.status_code == 400 and refused.json()["detail"]["status"] == "unsupported_language"


def test_speech_to_text_api_without_the_model_says_how_to_get_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", stt_engine="faster-whisper", models_dir=tmp_path / "models")
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as client:
        response = client.post(
            "/v1/speech-to-text",
            data={"model_id": "scribe_v1"},
            files={"file": ("speech.wav", _wav(bytes(32_000)), "audio/wav")},
        )
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail["status"] == "engine_unavailable"
    assert "chorus models pull faster-whisper-small" in detail["message"]
