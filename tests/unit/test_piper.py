"""The Piper engine, run for real on tiny randomly initialised ONNX models with Piper's signature.

The test models take ``input`` [1, T], ``input_lengths`` [1], ``scales`` [3] (and ``sid`` [1]) like a
Piper export and produce ``output`` [1, 1, 1, N] with N = floor(T * 16 * length_scale), plus noise
drawn by a RandomNormalLike op scaled by noise_scale, so lengths, speakers and seeds are observable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from chorus.engines.base import EngineUnavailable, SynthesisRequest, TTSEngine, UnknownVoice
from chorus.engines.kokoro import VOCAB
from chorus.engines.neural import SEED_INPUT, build_piper, load_model
from chorus.engines.phonemize import Phonemizer
from chorus.engines.piper import PiperEngine, PiperVoice, find_voices, phoneme_ids

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SAMPLES_PER_ID = 16
# A phoneme map in Piper's shape: specials first, then the IPA symbols the tests' text produces.
PHONEME_ID_MAP: dict[str, list[int]] = {"_": [0], "^": [1], "$": [2]}
for _index, _symbol in enumerate(sym for sym in VOCAB if sym not in PHONEME_ID_MAP):
    PHONEME_ID_MAP[_symbol] = [_index + 3]
PHONEME_ID_MAP["\u0327"] = [200]  # combining cedilla, for the NFD check


def build_piper_model(path: Path, *, num_speakers: int = 1, vocab_size: int = 256, seed: int = 0) -> Path:
    """Write a tiny random VITS-shaped model: ids → per-id values, stretched to T * 16 * length_scale."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def const(name: str, value: np.ndarray) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))

    nodes = [
        const("emb_w", rng.normal(0, 0.5, (vocab_size, 1)).astype(np.float32)),
        const("one_one", np.array([1, 1], dtype=np.int64)),
        const("i1", np.array([1], dtype=np.int64)),
        const("i2", np.array([2], dtype=np.int64)),
        const("i0", np.array([0], dtype=np.int64)),
        const("per_id", np.array([float(SAMPLES_PER_ID)], dtype=np.float32)),
        const("shape_113", np.array([1, 1, -1], dtype=np.int64)),
        const("shape_out", np.array([1, 1, 1, -1], dtype=np.int64)),
        const("tenth", np.array([0.1], dtype=np.float32)),
        helper.make_node("Gather", ["emb_w", "input"], ["emb"]),  # [1, T, 1]
        helper.make_node("Reshape", ["emb", "shape_113"], ["x0"]),  # [1, 1, T]
        helper.make_node("Shape", ["input"], ["in_shape"]),
        helper.make_node("Slice", ["in_shape", "i1", "i2"], ["t"]),  # [T]
        helper.make_node("Cast", ["t"], ["t_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["input_lengths"], ["len_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["len_f", "t_f"], ["len_ratio"]),  # 1 when input_lengths is right
        helper.make_node("Mul", ["x0", "len_ratio"], ["x"]),
        helper.make_node("Slice", ["scales", "i0", "i1"], ["noise_scale"]),
        helper.make_node("Slice", ["scales", "i1", "i2"], ["length_scale"]),
        helper.make_node("Mul", ["t_f", "per_id"], ["n0"]),
        helper.make_node("Mul", ["n0", "length_scale"], ["n1"]),
        helper.make_node("Floor", ["n1"], ["n2"]),
        helper.make_node("Cast", ["n2"], ["n_out"], to=TensorProto.INT64),
        helper.make_node("Concat", ["one_one", "n_out"], ["sizes"], axis=0),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y0"], mode="nearest"),
        helper.make_node("RandomNormalLike", ["y0"], ["noise"], dtype=TensorProto.FLOAT),
        helper.make_node("Mul", ["noise", "noise_scale"], ["noise_scaled"]),
        helper.make_node("Mul", ["noise_scaled", "tenth"], ["noise_small"]),
        helper.make_node("Add", ["y0", "noise_small"], ["y1"]),
    ]
    inputs = [
        helper.make_tensor_value_info("input", TensorProto.INT64, [1, "T"]),
        helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
    ]
    last = "y1"
    if num_speakers > 1:
        speakers = np.linspace(-2.0, 2.0, num_speakers, dtype=np.float32).reshape(num_speakers, 1)
        nodes += [
            const("spk_w", speakers),
            helper.make_node("Gather", ["spk_w", "sid"], ["spk"]),  # [1, 1]
            helper.make_node("Reshape", ["spk", "shape_113"], ["spk3"]),
            helper.make_node("Add", ["y1", "spk3"], ["y2"]),
        ]
        inputs.append(helper.make_tensor_value_info("sid", TensorProto.INT64, [1]))
        last = "y2"
    nodes += [
        helper.make_node("Tanh", [last], ["y_t"]),
        helper.make_node("Reshape", ["y_t", "shape_out"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_piper",
        inputs,
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "N"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def piper_config(
    *,
    sample_rate: int = 22_050,
    num_speakers: int = 1,
    speaker_id_map: dict[str, int] | None = None,
    code: str = "en_US",
    espeak_voice: str = "en-us",
    length_scale: float = 1.0,
) -> dict[str, object]:
    """A config in the shape of a real ``<voice>.onnx.json``."""
    family, region = code.split("_")
    return {
        "audio": {"sample_rate": sample_rate, "quality": "medium"},
        "espeak": {"voice": espeak_voice},
        "inference": {"noise_scale": 0.667, "length_scale": length_scale, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": PHONEME_ID_MAP,
        "num_symbols": 256,
        "num_speakers": num_speakers,
        "speaker_id_map": speaker_id_map or {},
        "language": {
            "code": code,
            "family": family,
            "region": region,
            "name_native": "English",
            "name_english": "English",
            "country_english": "United States",
        },
        "dataset": "",
        "piper_version": "1.0.0",
    }


def install_voice(
    root: Path, name: str, *, flat: bool = False, model_seed: int = 0, **config: object
) -> Path:
    """Install a tiny voice as ``root/<name>/<name>.onnx`` (+ .json); returns the model path."""
    folder = root if flat else root / name
    num_speakers = int(config.get("num_speakers", 1))  # type: ignore[call-overload]
    model = build_piper_model(folder / f"{name}.onnx", num_speakers=num_speakers, seed=model_seed)
    settings = piper_config(**config)  # type: ignore[arg-type]
    (folder / f"{name}.onnx.json").write_text(json.dumps(settings), encoding="utf-8")
    return model


@pytest.fixture(scope="module")
def phonemizer() -> Phonemizer:
    found = Phonemizer()
    if not found.available():
        pytest.skip(found.unavailable_reason() or "espeak-ng unavailable")
    return found


@pytest.fixture(scope="module")
def voices_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("piper")
    install_voice(root, "en_US-tiny-medium")
    install_voice(root, "en_GB-tiny-low", sample_rate=16_000, code="en_GB", espeak_voice="en-gb")
    install_voice(
        root,
        "en_US-crowd-medium",
        num_speakers=3,
        speaker_id_map={"alice": 0, "bob": 1, "carol": 2},
        model_seed=1,
    )
    (root / "en_US-crowd-medium" / "chorus.json").write_text(
        json.dumps({"name": "Crowd", "speakers": {"bob": {"name": "Bob", "gender": "male"}, "carol": {}}}),
        encoding="utf-8",
    )
    broken = root / "en_US-broken-medium"
    broken.mkdir()
    (broken / "en_US-broken-medium.onnx").write_bytes(b"not a model")  # no config: ignored
    hidden = root / ".partial"
    hidden.mkdir()
    install_voice(hidden, "en_US-hidden-medium", flat=True)
    return root


@pytest.fixture(scope="module")
def engine(voices_dir: Path, phonemizer: Phonemizer) -> PiperEngine:
    return PiperEngine(voices_dir, phonemizer=phonemizer, sentence_silence=0.0)


def speak(engine: PiperEngine, text: str, voice: str, **options: object) -> bytes:
    request = SynthesisRequest(text, voice, **options)  # type: ignore[arg-type]
    return b"".join(chunk.pcm for chunk in engine.synthesize(request))


def expected_samples(phonemizer: Phonemizer, text: str, length_scale: float = 1.0) -> int:
    total = 0
    for ipa in phonemizer.sentences(text, "en-us"):
        import unicodedata

        ids = phoneme_ids(list(unicodedata.normalize("NFD", ipa)), PHONEME_ID_MAP)
        total += int(np.floor(np.float32(len(ids)) * np.float32(SAMPLES_PER_ID) * np.float32(length_scale)))
    return total


# --- phoneme ids ---------------------------------------------------------------------------------


def test_phoneme_ids_are_built_as_piper_builds_them() -> None:
    id_map = {
        "_": [0],
        "^": [1],
        "$": [2],
        " ": [3],
        "h": [20],
        "ə": [59],
        "l": [24],
        "ˈ": [120],
        "o": [27],
        "ʊ": [100],
    }
    # BOS, pad, then every phoneme followed by pad, then EOS (piper-phonemize's phonemes_to_ids).
    assert phoneme_ids(list("həlˈoʊ"), id_map) == [1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 2]
    # Unknown phonemes are skipped, multi-id phonemes expand in place.
    assert phoneme_ids(["h", "?", "o"], {**id_map, "o": [27, 28]}) == [1, 0, 20, 0, 27, 28, 0, 2]


def test_phonemes_are_decomposed_like_piper(voices_dir: Path) -> None:
    voice = PiperVoice.from_files(voices_dir / "en_US-tiny-medium" / "en_US-tiny-medium.onnx")
    assert voice.phonemes("ç") == ["c", "\u0327"]  # NFD: one id each
    ids = phoneme_ids(voice.phonemes("ç"), voice.phoneme_id_map)
    assert ids == [1, 0, PHONEME_ID_MAP["c"][0], 0, 200, 0, 2]


# --- discovery ------------------------------------------------------------------------------------


def test_voices_are_discovered_from_the_folder(engine: PiperEngine) -> None:
    assert isinstance(engine, TTSEngine)
    assert engine.available(), engine.unavailable_reason()
    voices = {voice.native_id: voice for voice in engine.voices()}
    assert set(voices) == {
        "en_US-tiny-medium",
        "en_GB-tiny-low",
        "en_US-crowd-medium",
        "en_US-crowd-medium:bob",
        "en_US-crowd-medium:carol",
    }
    assert voices["en_US-crowd-medium:carol"].name == "Carol"  # named after its key, not the model
    tiny = voices["en_US-tiny-medium"]
    assert (tiny.engine, tiny.language, tiny.accent) == ("piper", "en", "american")
    assert tiny.name == "Tiny (medium)"  # two "tiny" voices installed: the quality tells them apart
    assert voices["en_GB-tiny-low"].accent == "british"
    assert voices["en_US-crowd-medium"].name == "Crowd"  # from chorus.json
    assert (voices["en_US-crowd-medium:bob"].name, voices["en_US-crowd-medium:bob"].gender) == ("Bob", "male")
    assert engine.languages() == [("en", "English")]
    caps = engine.capabilities()
    assert (caps.sample_rate, caps.languages, caps.streaming_output, caps.timestamps) == (
        22_050,
        ("en",),
        True,
        False,
    )


def test_find_voices_skips_incomplete_and_hidden(voices_dir: Path) -> None:
    assert "en_US-broken-medium" not in find_voices(voices_dir)
    assert "en_US-hidden-medium" not in find_voices(voices_dir)


def test_voices_pulled_later_appear_without_restart(tmp_path: Path, phonemizer: Phonemizer) -> None:
    engine = PiperEngine(tmp_path / "piper", phonemizer=phonemizer)
    assert not engine.available()
    assert "chorus models pull en_US-lessac-medium" in (engine.unavailable_reason() or "")
    install_voice(tmp_path / "piper", "en_US-late-medium")
    assert engine.available()
    assert [voice.native_id for voice in engine.voices()] == ["en_US-late-medium"]


# --- synthesis ------------------------------------------------------------------------------------


def test_output_length_follows_the_ids_and_speed(engine: PiperEngine, phonemizer: Phonemizer) -> None:
    text = "Hello there, my friend."
    normal = speak(engine, text, "en_US-tiny-medium")
    assert len(normal) // 2 == expected_samples(phonemizer, text)
    fast = speak(engine, text, "en_US-tiny-medium", speed=2.0)
    slow = speak(engine, text, "en_US-tiny-medium", speed=0.5)
    assert len(fast) // 2 == expected_samples(phonemizer, text, 0.5)
    assert len(slow) // 2 == expected_samples(phonemizer, text, 2.0)
    samples = np.frombuffer(normal, dtype="<i2")
    assert np.abs(samples).max() == round(0.95 * 32767)  # peak-normalised per sentence


def test_voices_at_other_rates_are_resampled(engine: PiperEngine, phonemizer: Phonemizer) -> None:
    text = "Hello there, my friend."
    native = expected_samples(phonemizer, text)  # the 16 kHz voice makes this many samples at 16 kHz
    got = len(speak(engine, text, "en_GB-tiny-low")) // 2
    # en-gb phonemes differ slightly from en-us; the 22.05/16 stretch dominates.
    assert got == pytest.approx(native * 22_050 / 16_000, rel=0.2)
    assert engine.output_format().sample_rate == 22_050


def test_one_chunk_per_sentence_tiling_the_text(engine: PiperEngine) -> None:
    text = "Good morning, everyone. The library opens at nine today. Please bring your card."
    chunks = list(engine.synthesize(SynthesisRequest(text, "en_US-tiny-medium")))
    assert len(chunks) == 3
    assert chunks[0].text_start == 0 and chunks[-1].text_end == len(text)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.text_end == after.text_start
    assert all(chunk.format.sample_rate == 22_050 and chunk.words == () for chunk in chunks)
    assert list(engine.synthesize(SynthesisRequest("  ... ", "en_US-tiny-medium"))) == []


def test_sentence_silence_is_appended(voices_dir: Path, phonemizer: Phonemizer) -> None:
    silent = PiperEngine(voices_dir, phonemizer=phonemizer, sentence_silence=0.25)
    text = "Hello there."
    assert len(speak(silent, text, "en_US-tiny-medium")) // 2 == expected_samples(phonemizer, text) + round(
        0.25 * 22_050
    )


def test_seed_makes_output_reproducible(engine: PiperEngine) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    first = speak(engine, text, "en_US-tiny-medium", seed=7)
    assert speak(engine, text, "en_US-tiny-medium", seed=7) == first
    assert speak(engine, text, "en_US-tiny-medium", seed=8) != first
    assert speak(engine, text, "en_US-tiny-medium") == speak(engine, text, "en_US-tiny-medium", seed=0)
    # stability scales noise_scale; at 1.0 it is half the voice's, so the seed matters less but still does.
    assert speak(engine, text, "en_US-tiny-medium", seed=7, stability=1.0) != first


def test_model_random_ops_are_rewritten_to_read_the_seed(voices_dir: Path) -> None:
    model = load_model(voices_dir / "en_US-tiny-medium" / "en_US-tiny-medium.onnx")
    assert model.seeded and model.random_ops == 1 and model.has_input(SEED_INPUT)
    feeds = {
        "input": np.ones((1, 4000), dtype=np.int64),
        "input_lengths": np.array([4000], dtype=np.int64),
        "scales": np.array([10.0, 1.0, 0.8], dtype=np.float32),
    }
    # The model's output is tanh(embedding + 0.1 * noise_scale * noise): undo the tanh and the
    # embedding (noise_scale 0) and what is left must look like a standard normal sample.
    quiet = model.run({**feeds, "scales": np.array([0.0, 1.0, 0.8], dtype=np.float32)}, 123)[0].reshape(-1)
    loud = model.run(feeds, 123)[0].reshape(-1)
    assert loud.shape == (4000 * SAMPLES_PER_ID,)
    assert np.array_equal(loud, model.run(feeds, 123)[0].reshape(-1))
    assert not np.array_equal(loud, model.run(feeds, 124)[0].reshape(-1))
    noise = np.arctanh(loud.astype(np.float64)) - np.arctanh(quiet.astype(np.float64))
    assert abs(noise.mean()) < 0.05 and 0.9 < noise.std() < 1.1


def test_multi_speaker_models_use_sid(engine: PiperEngine) -> None:
    text = "Hello there."
    alice = speak(engine, text, "en_US-crowd-medium:alice")
    assert speak(engine, text, "en_US-crowd-medium") == alice  # speaker 0 by default
    assert speak(engine, text, "en_US-crowd-medium:0") == alice
    bob = speak(engine, text, "en_US-crowd-medium:bob")
    assert len(bob) == len(alice) and bob != alice
    assert speak(engine, text, "en_US-crowd-medium:2") != bob
    with pytest.raises(UnknownVoice):
        engine.synthesize(SynthesisRequest(text, "en_US-crowd-medium:zed"))
    with pytest.raises(UnknownVoice):
        engine.synthesize(SynthesisRequest(text, "en_US-tiny-medium:bob"))


def test_unknown_voice_raises_before_audio(engine: PiperEngine) -> None:
    with pytest.raises(UnknownVoice, match="en_US-tiny-medium"):
        engine.synthesize(SynthesisRequest("Hi.", "en_US-nobody-medium"))


def test_concurrent_requests_match_serial_ones(engine: PiperEngine) -> None:
    texts = ["One sentence here.", "Another, longer sentence follows now.", "A third one."]
    expected = {text: speak(engine, text, "en_US-tiny-medium", seed=3) for text in texts}
    results: dict[int, bytes] = {}

    def work(index: int) -> None:
        results[index] = speak(engine, texts[index % 3], "en_US-tiny-medium", seed=3)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[i] == expected[texts[i % 3]] for i in range(9))


def test_a_corrupt_model_is_reported_as_unavailable(tmp_path: Path, phonemizer: Phonemizer) -> None:
    folder = tmp_path / "en_US-bad-medium"
    folder.mkdir()
    (folder / "en_US-bad-medium.onnx").write_bytes(b"garbage")
    (folder / "en_US-bad-medium.onnx.json").write_text(json.dumps(piper_config()), encoding="utf-8")
    engine = PiperEngine(tmp_path, phonemizer=phonemizer)
    with pytest.raises(EngineUnavailable, match="en_US-bad-medium"):
        engine.synthesize(SynthesisRequest("Hi.", "en_US-bad-medium"))


def test_text_phoneme_voices_skip_espeak(tmp_path: Path, phonemizer: Phonemizer) -> None:
    install_voice(tmp_path, "en_US-letters-medium")
    config_path = tmp_path / "en_US-letters-medium" / "en_US-letters-medium.onnx.json"
    config = json.loads(config_path.read_text())
    config["phoneme_type"] = "text"
    config_path.write_text(json.dumps(config))
    engine = PiperEngine(tmp_path, phonemizer=phonemizer, sentence_silence=0.0)
    # "Ab c." → NFD characters A, b, space, c, . : (1 + 5) * 2 + 1 ids ("A" is not in the map: skipped).
    ids = phoneme_ids(list("Ab c."), PHONEME_ID_MAP)
    assert len(speak(engine, "Ab c.", "en_US-letters-medium")) // 2 == len(ids) * SAMPLES_PER_ID


@pytest.mark.parametrize("opset", [11, 17])
def test_seeded_random_ops_look_random(tmp_path: Path, opset: int) -> None:
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("RandomNormalLike", ["x"], ["normal"], mean=2.0, scale=3.0),
        helper.make_node(
            "RandomUniformLike", ["x"], ["uniform"], low=-1.0, high=3.0, dtype=TensorProto.DOUBLE
        ),
        helper.make_node("RandomNormal", [], ["fixed"], shape=[3, 4]),
    ]
    types = {"normal": TensorProto.FLOAT, "uniform": TensorProto.DOUBLE, "fixed": TensorProto.FLOAT}
    outputs = [helper.make_tensor_value_info(name, kind, None) for name, kind in types.items()]
    graph = helper.make_graph(
        nodes, "rng", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["a", "b"])], outputs
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.save(model, str(tmp_path / "rng.onnx"))
    loaded = load_model(tmp_path / "rng.onnx")
    assert loaded.seeded and loaded.random_ops == 3
    x = np.zeros((100, 2000), dtype=np.float32)
    normal, uniform, fixed = loaded.run({"x": x}, 5)
    assert normal.shape == x.shape and normal.dtype == np.float32 and fixed.shape == (3, 4)
    assert uniform.dtype == np.float64 and uniform.min() >= -1.0 and uniform.max() < 3.0
    assert abs(normal.mean() - 2.0) < 0.02 and abs(normal.std() - 3.0) < 0.02
    z = (normal.reshape(-1) - 2.0) / 3.0
    assert abs(float(np.mean(z**4)) - 3.0) < 0.05  # Gaussian kurtosis
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.01
    assert abs(uniform.mean() - 1.0) < 0.01
    other = loaded.run({"x": x}, 6)[0].reshape(-1)
    assert abs(np.corrcoef(normal.reshape(-1), other)[0, 1]) < 0.01  # seeds give unrelated streams
    assert abs(np.corrcoef(z, uniform.reshape(-1))[0, 1]) < 0.01  # ops give unrelated streams


# --- unavailability ---------------------------------------------------------------------------------


def test_missing_onnxruntime_is_reported(voices_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    engine = PiperEngine(voices_dir)
    reason = engine.unavailable_reason() or ""
    assert "piper" in reason and "pip install onnxruntime" in reason
    assert engine.voices() == []
    with pytest.raises(EngineUnavailable, match="onnxruntime"):
        engine.synthesize(SynthesisRequest("Hi.", "en_US-tiny-medium"))


def test_missing_espeak_is_reported(voices_dir: Path) -> None:
    engine = PiperEngine(voices_dir, phonemizer=Phonemizer(library="libdoes-not-exist.so.9"))
    assert "apt-get install libespeak-ng1" in (engine.unavailable_reason() or "")


def test_factory_never_raises_and_names_the_fix(tmp_path: Path) -> None:
    from chorus.config import Settings

    engine = build_piper(Settings(data_dir=tmp_path))
    assert engine.name == "piper"
    assert not engine.available()
    assert str(tmp_path / "models" / "piper") in (engine.unavailable_reason() or "")
    assert "chorus models pull en_US-lessac-medium" in (engine.unavailable_reason() or "")
    with pytest.raises(EngineUnavailable):
        engine.synthesize(SynthesisRequest("Hi.", "en_US-lessac-medium"))


def test_importing_the_engines_does_not_import_onnxruntime() -> None:
    code = (
        "import sys, chorus.engines, chorus.engines.piper, chorus.engines.kokoro, chorus.engines.neural, "
        "chorus.models, chorus.cli.models; "
        "assert 'onnxruntime' not in sys.modules and 'onnx' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
