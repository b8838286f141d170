"""Tiny randomly initialised OpenVoice tone color models with the real ONNX signatures.

The extractor maps the mean log spectrum to 256 values (so speakers with different spectra get different
tone colors); the converter maps each spectrogram frame to ``hop`` samples, scaled by a gain the tone
colors' difference sets, plus ``RandomNormalLike`` noise times ``tau`` (as VITS' posterior draws it), so
lengths, tone colors and seeds are all observable in the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

CONFIG = {"data": {"sampling_rate": 22050, "filter_length": 1024, "hop_length": 256, "win_length": 1024}}
BINS = 513
HOP = 256
DIMS = 256


def _const(name: str, value: np.ndarray):  # type: ignore[no-untyped-def]
    from onnx import helper, numpy_helper

    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def _save(nodes: list, name: str, inputs: list, outputs: list, path: Path) -> None:  # type: ignore[type-arg]
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build_extractor(path: Path, seed: int = 0) -> None:
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    nodes = [
        _const("w", rng.normal(0, 0.05, (BINS, DIMS)).astype(np.float32)),
        _const("eps", np.array([1e-3], dtype=np.float32)),
        helper.make_node("Add", ["input", "eps"], ["x"]),
        helper.make_node("Log", ["x"], ["log_x"]),
        helper.make_node("ReduceMean", ["log_x"], ["mean"], axes=[1], keepdims=0),  # [1, bins]
        helper.make_node("MatMul", ["mean", "w"], ["proj"]),
        helper.make_node("Tanh", ["proj"], ["output"]),
    ]
    _save(
        nodes,
        "tiny_tone_color_extractor",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, "T", BINS])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, DIMS])],
        path,
    )


def build_converter(path: Path, seed: int = 1) -> None:
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    nodes = [
        _const("u", rng.normal(0, 0.05, (BINS, HOP)).astype(np.float32)),
        _const("v", rng.normal(0, 0.5, (DIMS, 1)).astype(np.float32)),
        _const("eps", np.array([1e-3], dtype=np.float32)),
        _const("shape_tone", np.array([1, DIMS], dtype=np.int64)),
        _const("shape_out", np.array([1, 1, -1], dtype=np.int64)),
        _const("i2", np.array([2], dtype=np.int64)),
        _const("i3", np.array([3], dtype=np.int64)),
        _const("quiet", np.array([0.3], dtype=np.float32)),
        _const("one", np.array([1.0], dtype=np.float32)),
        helper.make_node("Sub", ["dest_tone", "src_tone"], ["diff3"]),
        helper.make_node("Reshape", ["diff3", "shape_tone"], ["diff"]),
        helper.make_node("MatMul", ["diff", "v"], ["g0"]),  # [1, 1]
        helper.make_node("Tanh", ["g0"], ["g1"]),
        helper.make_node("Add", ["g1", "one"], ["gain"]),  # 1 when the tone colors are equal
        helper.make_node("Transpose", ["audio"], ["frames"], perm=[0, 2, 1]),  # [1, T, bins]
        helper.make_node("Add", ["frames", "eps"], ["x"]),
        helper.make_node("Log", ["x"], ["log_x"]),
        helper.make_node("MatMul", ["log_x", "u"], ["proj"]),  # [1, T, hop]
        helper.make_node("Tanh", ["proj"], ["wave"]),
        helper.make_node("Shape", ["audio"], ["audio_shape"]),
        helper.make_node("Slice", ["audio_shape", "i2", "i3"], ["t"]),
        helper.make_node("Cast", ["t"], ["t_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["audio_length"], ["len_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["len_f", "t_f"], ["len_ratio"]),  # 1 when audio_length is right
        helper.make_node("Mul", ["wave", "len_ratio"], ["wave_l"]),
        helper.make_node("Mul", ["wave_l", "gain"], ["wave_g"]),
        helper.make_node("RandomNormalLike", ["wave_g"], ["noise"], dtype=TensorProto.FLOAT),
        helper.make_node("Mul", ["noise", "tau"], ["noise_tau"]),
        helper.make_node("Add", ["wave_g", "noise_tau"], ["mixed"]),
        helper.make_node("Mul", ["mixed", "quiet"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "shape_out"], ["output"]),
    ]
    inputs = [
        helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, BINS, "T"]),
        helper.make_tensor_value_info("audio_length", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("src_tone", TensorProto.FLOAT, [1, DIMS, 1]),
        helper.make_tensor_value_info("dest_tone", TensorProto.FLOAT, [1, DIMS, 1]),
        helper.make_tensor_value_info("tau", TensorProto.FLOAT, [1]),
    ]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "N"])]
    _save(nodes, "tiny_tone_clone", inputs, outputs, path)


def install_openvoice(folder: Path) -> Path:
    """Write the three files of a tiny OpenVoice tone color model into ``folder`` (skips without onnx)."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "configuration.json").write_text(json.dumps(CONFIG))
    build_extractor(folder / "tone_color_extract_model.onnx")
    build_converter(folder / "tone_clone_model.onnx")
    return folder
