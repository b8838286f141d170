"""The Kokoro engine, run for real on tiny randomly initialised ONNX models with Kokoro's signature.

The test model takes ``tokens`` [1, T] (or ``input_ids``), ``style`` [1, 256] and ``speed`` [1] and
produces ``audio`` [N] (or ``waveform`` [1, N]) with N = floor(T * 32 / speed), plus noise from a
RandomUniformLike op, so lengths, padding, style rows and seeds are observable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chorus.engines.base import EngineUnavailable, SynthesisRequest, TTSEngine, UnknownVoice
from chorus.engines.kokoro import MAX_TOKENS, STYLE_DIM, VOCAB, KokoroEngine
from chorus.engines.neural import build_kokoro, split_phonemes
from chorus.engines.phonemize import Phonemizer

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SAMPLES_PER_TOKEN = 32


def build_kokoro_model(path: Path, *, hub_layout: bool = False, seed: int = 0) -> Path:
    """Write a tiny random model: tokens → per-token values stretched to T * 32 / speed, + style."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    ids, out = ("input_ids", "waveform") if hub_layout else ("tokens", "audio")

    def const(name: str, value: np.ndarray) -> Any:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))

    nodes = [
        const("emb_w", rng.normal(0, 0.5, (200, 1)).astype(np.float32)),
        const("one_one", np.array([1, 1], dtype=np.int64)),
        const("i1", np.array([1], dtype=np.int64)),
        const("i2", np.array([2], dtype=np.int64)),
        const("per_token", np.array([float(SAMPLES_PER_TOKEN)], dtype=np.float32)),
        const("shape_113", np.array([1, 1, -1], dtype=np.int64)),
        const("shape_out", np.array([1, -1] if hub_layout else [-1], dtype=np.int64)),
        const("hundredth", np.array([0.01], dtype=np.float32)),
        helper.make_node("Gather", ["emb_w", ids], ["emb"]),
        helper.make_node("Reshape", ["emb", "shape_113"], ["x"]),
        helper.make_node("Shape", [ids], ["in_shape"]),
        helper.make_node("Slice", ["in_shape", "i1", "i2"], ["t"]),
        helper.make_node("Cast", ["t"], ["t_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["t_f", "per_token"], ["n0"]),
        helper.make_node("Div", ["n0", "speed"], ["n1"]),
        helper.make_node("Floor", ["n1"], ["n2"]),
        helper.make_node("Cast", ["n2"], ["n_out"], to=TensorProto.INT64),
        helper.make_node("Concat", ["one_one", "n_out"], ["sizes"], axis=0),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y0"], mode="nearest"),
        helper.make_node("ReduceMean", ["style"], ["style_mean"], axes=[1], keepdims=1),  # [1, 1]
        helper.make_node("Add", ["y0", "style_mean"], ["y1"]),
        helper.make_node("RandomUniformLike", ["y1"], ["noise"], low=-1.0, high=1.0),
        helper.make_node("Mul", ["noise", "hundredth"], ["noise_small"]),
        helper.make_node("Add", ["y1", "noise_small"], ["y2"]),
        helper.make_node("Tanh", ["y2"], ["y3"]),
        helper.make_node("Reshape", ["y3", "shape_out"], [out]),
    ]
    inputs = [
        helper.make_tensor_value_info(ids, TensorProto.INT64, [1, "T"]),
        helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, STYLE_DIM]),
        helper.make_tensor_value_info("speed", TensorProto.FLOAT, [1]),
    ]
    out_shape: list[Any] = [1, "N"] if hub_layout else ["N"]
    graph = helper.make_graph(
        nodes, "tiny_kokoro", inputs, [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def style_table(rows: int = 510, base: float = 0.0) -> np.ndarray:
    """A voice whose row r is filled with base + r / 1000, so the row used is recoverable."""
    values = base + np.arange(rows, dtype=np.float32) / 1000.0
    return np.repeat(values[:, None, None], STYLE_DIM, axis=2).astype(np.float32)  # [rows, 1, 256]


def install_release_layout(folder: Path, voices: dict[str, np.ndarray]) -> None:
    """kokoro-onnx's files: kokoro-v1.0.onnx + voices-v1.0.bin (an npz)."""
    build_kokoro_model(folder / "kokoro-v1.0.onnx")
    with open(folder / "voices-v1.0.bin", "wb") as out:
        np.savez(out, **voices)


def install_hub_layout(folder: Path, voices: dict[str, np.ndarray]) -> None:
    """onnx-community's files: onnx/model.onnx + voices/<name>.bin (raw float32)."""
    build_kokoro_model(folder / "onnx" / "model.onnx", hub_layout=True)
    (folder / "voices").mkdir(parents=True, exist_ok=True)
    for name, table in voices.items():
        table.astype("<f4").tofile(folder / "voices" / f"{name}.bin")


@pytest.fixture(scope="module")
def phonemizer() -> Phonemizer:
    found = Phonemizer()
    if not found.available():
        pytest.skip(found.unavailable_reason() or "espeak-ng unavailable")
    return found


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, phonemizer: Phonemizer) -> KokoroEngine:
    folder = tmp_path_factory.mktemp("kokoro")
    install_release_layout(
        folder, {"af_heart": style_table(), "bm_george": style_table(base=0.5), "xx_odd": style_table()}
    )
    return KokoroEngine(folder, phonemizer=phonemizer)


def speak(engine: KokoroEngine, text: str, voice: str, **options: object) -> bytes:
    request = SynthesisRequest(text, voice, **options)  # type: ignore[arg-type]
    return b"".join(chunk.pcm for chunk in engine.synthesize(request))


class RecordingModel:
    """Stands in for an onnxruntime session to show exactly what the engine feeds Kokoro."""

    def __init__(self, input_types: dict[str, str]) -> None:
        self.input_types = input_types
        self.feeds: list[dict[str, np.ndarray]] = []

    def has_input(self, name: str) -> bool:
        return name in self.input_types

    def run(self, feeds: dict[str, np.ndarray], seed: int | None) -> list[np.ndarray]:
        self.feeds.append(dict(feeds))
        return [np.zeros(10, dtype=np.float32)]


# --- tokens and feeds ---------------------------------------------------------------------------------


def test_vocab_is_kokoro_v1() -> None:
    assert len(VOCAB) == 114
    assert (VOCAB[" "], VOCAB["ˈ"], VOCAB["ɹ"], VOCAB["ᵻ"], VOCAB[";"]) == (16, 156, 123, 177, 1)
    assert 0 not in VOCAB.values()  # 0 is the pad


def test_feeds_pad_tokens_and_pick_the_style_row() -> None:
    table = style_table().reshape(-1, STYLE_DIM)
    tokens = KokoroEngine.tokens(KokoroEngine, "həlˈoʊ")  # type: ignore[arg-type]
    assert tokens == [50, 83, 54, 156, 57, 135]
    model = RecordingModel({"tokens": "tensor(int64)", "style": "tensor(float)", "speed": "tensor(float)"})
    KokoroEngine.infer(model, tokens, table, 1.25, seed=None)  # type: ignore[arg-type]
    feeds = model.feeds[0]
    assert feeds["tokens"].tolist() == [[0, *tokens, 0]]
    assert feeds["style"].shape == (1, STYLE_DIM) and np.allclose(feeds["style"], len(tokens) / 1000.0)
    assert feeds["speed"].dtype == np.float32 and feeds["speed"].tolist() == [1.25]
    hub = RecordingModel({"input_ids": "tensor(int64)", "style": "tensor(float)", "speed": "tensor(float)"})
    KokoroEngine.infer(hub, tokens, table, 1.0, seed=None)  # type: ignore[arg-type]
    assert "input_ids" in hub.feeds[0] and "tokens" not in hub.feeds[0]


def test_split_phonemes_respects_the_limit() -> None:
    text = "ðə kwˈɪk bɹˈaʊn fˈɑːks, dʒˈʌmps ˈoʊvɚ ðə lˈeɪzi dˈɑːɡ. " * 20
    pieces = split_phonemes(text, 100)
    assert all(len(piece) <= 100 for piece in pieces) and len(pieces) > 5
    assert " ".join(pieces).split() == text.split()
    assert split_phonemes("a" * 250, 100) == ["a" * 100, "a" * 100, "a" * 50]


# --- the engine ----------------------------------------------------------------------------------------


def test_voices_come_from_the_npz_archive(engine: KokoroEngine) -> None:
    assert isinstance(engine, TTSEngine)
    assert engine.available(), engine.unavailable_reason()
    voices = {voice.native_id: voice for voice in engine.voices()}
    assert set(voices) == {"af_heart", "bm_george"}  # "xx_odd" names no Kokoro language
    heart, george = voices["af_heart"], voices["bm_george"]
    assert (heart.name, heart.gender, heart.accent, heart.language, heart.engine) == (
        "Heart",
        "female",
        "american",
        "en",
        "kokoro",
    )
    assert (george.name, george.gender, george.accent) == ("George", "male", "british")
    assert engine.languages() == [("en", "English")]
    assert engine.output_format().sample_rate == 24_000
    assert engine.capabilities().languages == ("en",)


def test_output_length_follows_tokens_and_speed(engine: KokoroEngine, phonemizer: Phonemizer) -> None:
    text = "Hello there, my friend."
    phonemes = "".join(ch for ch in phonemizer.phonemize(text, "en-us") if ch in VOCAB).strip()
    padded = len(phonemes) + 2
    assert len(speak(engine, text, "af_heart")) // 2 == padded * SAMPLES_PER_TOKEN
    assert len(speak(engine, text, "af_heart", speed=2.0)) // 2 == padded * SAMPLES_PER_TOKEN // 2
    assert len(speak(engine, text, "af_heart", speed=0.5)) // 2 == padded * SAMPLES_PER_TOKEN * 2


def test_the_voice_letter_picks_the_language(engine: KokoroEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine._phonemizer is not None
    seen: list[str] = []
    original = engine._phonemizer.phonemize

    def recording(text: str, voice: str = "en-us", keep: str = ";:,.!?—…") -> str:
        seen.append(voice)
        return original(text, voice, keep)

    monkeypatch.setattr(engine._phonemizer, "phonemize", recording)
    speak(engine, "Hello.", "af_heart")
    speak(engine, "Hello.", "bm_george")
    assert seen == ["en-us", "en-gb"]


def test_style_changes_the_audio(engine: KokoroEngine) -> None:
    heart = np.frombuffer(speak(engine, "Hello there.", "af_heart"), dtype="<i2")
    george = np.frombuffer(speak(engine, "Hello there.", "bm_george"), dtype="<i2")
    assert heart.shape == george.shape and george.mean() > heart.mean()  # george's style rows are higher


def test_seed_makes_output_reproducible(engine: KokoroEngine) -> None:
    first = speak(engine, "A seeded sentence.", "af_heart", seed=11)
    assert speak(engine, "A seeded sentence.", "af_heart", seed=11) == first
    assert speak(engine, "A seeded sentence.", "af_heart", seed=12) != first


def test_long_sentences_are_split_below_the_style_table(tmp_path: Path, phonemizer: Phonemizer) -> None:
    install_hub_layout(tmp_path, {"af_short": style_table(rows=40)})  # 39 tokens per piece at most
    engine = KokoroEngine(tmp_path, phonemizer=phonemizer)
    assert [voice.native_id for voice in engine.voices()] == ["af_short"]
    lengths: list[int] = []
    original = KokoroEngine.infer

    def recording(
        model: Any, tokens: list[int], styles: np.ndarray, speed: float, seed: int | None
    ) -> np.ndarray:
        lengths.append(len(tokens))
        return original(model, tokens, styles, speed, seed)

    engine.infer = recording  # type: ignore[method-assign]
    text = "The quick brown fox jumps over the lazy dog, and then it runs far away into the woods"
    chunks = list(engine.synthesize(SynthesisRequest(text, "af_short")))
    assert len(chunks) == 1 and len(lengths) > 1 and max(lengths) <= 39
    assert len(chunks[0].pcm) // 2 == sum((n + 2) * SAMPLES_PER_TOKEN for n in lengths)


def test_hub_layout_with_waveform_output(tmp_path: Path, phonemizer: Phonemizer) -> None:
    install_hub_layout(tmp_path, {"af_bella": style_table(), "ff_siwis": style_table()})
    engine = KokoroEngine(tmp_path, phonemizer=phonemizer)
    assert {v.native_id: v.language for v in engine.voices()} == {"af_bella": "en", "ff_siwis": "fr"}
    assert engine.languages() == [("en", "English"), ("fr", "French")]
    chunks = list(engine.synthesize(SynthesisRequest("Bonjour. Merci beaucoup.", "ff_siwis")))
    assert len(chunks) == 2 and all(chunk.pcm for chunk in chunks)


def test_config_json_vocab_overrides_the_builtin(tmp_path: Path, phonemizer: Phonemizer) -> None:
    install_hub_layout(tmp_path, {"af_bella": style_table()})
    (tmp_path / "config.json").write_text(json.dumps({"vocab": {"h": 1, "l": 2}}), encoding="utf-8")
    engine = KokoroEngine(tmp_path, phonemizer=phonemizer)
    # Only "h" and "l" survive: "Hello" → h, l → 2 tokens + 2 pads.
    assert len(speak(engine, "Hello", "af_bella")) // 2 == 4 * SAMPLES_PER_TOKEN


def test_unknown_voice(engine: KokoroEngine) -> None:
    with pytest.raises(UnknownVoice, match="af_heart"):
        engine.synthesize(SynthesisRequest("Hi.", "af_nobody"))


def test_max_tokens_is_kokoros_context() -> None:
    assert MAX_TOKENS == 510


# --- unavailability -------------------------------------------------------------------------------------


def test_missing_files_name_the_pull_command(tmp_path: Path, phonemizer: Phonemizer) -> None:
    engine = KokoroEngine(tmp_path / "kokoro", phonemizer=phonemizer)
    assert "chorus models pull kokoro-v1.0" in (engine.unavailable_reason() or "")
    assert engine.voices() == [] and engine.languages() == []
    build_kokoro_model(tmp_path / "kokoro" / "kokoro-v1.0.onnx")
    reason = engine.unavailable_reason() or ""
    assert "no Kokoro voices" in reason and "chorus models pull kokoro-v1.0" in reason
    with open(tmp_path / "kokoro" / "voices-v1.0.bin", "wb") as out:
        np.savez(out, af_sky=style_table())
    assert engine.available()  # picked up without a restart


def test_missing_onnxruntime_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_release_layout(tmp_path, {"af_heart": style_table()})
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    engine = KokoroEngine(tmp_path)
    assert "pip install onnxruntime" in (engine.unavailable_reason() or "")
    with pytest.raises(EngineUnavailable, match="kokoro"):
        engine.synthesize(SynthesisRequest("Hi.", "af_heart"))


def test_factory_never_raises(tmp_path: Path) -> None:
    from chorus.config import Settings

    engine = build_kokoro(Settings(data_dir=tmp_path, models_dir=tmp_path / "m"))
    assert engine.name == "kokoro" and not engine.available()
    assert str(tmp_path / "m" / "kokoro") in (engine.unavailable_reason() or "")
