"""The ONNX plumbing the neural engines share, and the factories the engine registry calls.

Nothing here imports onnxruntime or onnx at import time; :func:`load_model` does, when an engine first
needs a session.

Seeded noise. Piper (VITS) and Kokoro (iSTFTNet's harmonic source) draw noise inside the graph with
``RandomNormalLike`` / ``RandomUniformLike`` / ``RandomNormal`` / ``RandomUniform``. onnxruntime seeds
each such kernel once, when the session is created (from the op's ``seed`` attribute, else from
``onnxruntime.set_seed`` / the clock), and the generator then runs on from one ``run()`` to the next
and is shared by every thread using the session. So with the model as published, output depends on
what the session did before. :func:`load_model` therefore rewrites each random op into a counter-based
generator: the element index and a ``chorus_seed`` graph input (int64 [1]) are hashed with wrapping
uint32 arithmetic (T-function rounds of multiply, shift and add; only opset-11 ops, so the model's
opset stays as it is), and Box-Muller turns two hashed 24-bit uniforms into a normal sample. The
statistics were checked against numpy's generator (mean, variance, kurtosis, lag and cross-seed
correlations, bit bias); the cost is a few dozen element-wise ops per random value, about 30 ms per
million values on one core. Noise is then a pure function
of (seed, op, element), every ``run()`` is independent, one session serves any number of threads, and
equal requests give byte-identical audio on the same machine and onnxruntime build. Random ops inside
control-flow subgraphs (none in Piper or Kokoro exports) are left as they are. Without the ``onnx``
package the model is loaded unchanged and output is not reproducible.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from chorus.engines.kokoro import KokoroEngine
    from chorus.engines.piper import PiperEngine

log = logging.getLogger(__name__)

SEED_INPUT = "chorus_seed"
ONNXRUNTIME_HINT = "pip install onnxruntime (or: pip install 'chorus[neural]')"

_RANDOM_OPS = ("RandomNormalLike", "RandomUniformLike", "RandomNormal", "RandomUniform")
_SEED_MOD = 1 << 32
_MIX = (0x85EBCA6B, 0xC2B2AE35, 0x27D4EB2F)  # odd multipliers (murmur3's and xxhash's)
_SEED_MULT = 0x27D4EB2F
_SALT_MULT = 0x165667B1


def onnxruntime_missing() -> str | None:
    """Why onnxruntime cannot be used here (None when it can), without importing it."""
    try:
        found = importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"onnxruntime is not installed; {ONNXRUNTIME_HINT}"


def models_dir(settings: Any) -> Path:
    """The models folder named by ``settings`` (``resolved_models_dir``), default ./data/models."""
    resolved = getattr(settings, "resolved_models_dir", None)
    if resolved is not None:
        return Path(resolved)
    data_dir = getattr(settings, "data_dir", None)
    return Path(data_dir or "./data") / "models"


@dataclass
class OnnxModel:
    """An onnxruntime session plus what the engines need to know about its inputs."""

    session: Any
    input_types: dict[str, str]  # input name → onnxruntime type, e.g. "tensor(int64)"
    output_names: list[str]
    seeded: bool  # the random ops were rewritten to read SEED_INPUT
    random_ops: int  # how many random ops the model had
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def has_input(self, name: str) -> bool:
        return name in self.input_types

    def run(self, feeds: Mapping[str, np.ndarray], seed: int | None) -> list[np.ndarray]:
        """Run the model; ``seed`` (None = 0) feeds the rewritten random ops."""
        inputs = {name: value for name, value in feeds.items() if name in self.input_types}
        if self.seeded:
            inputs[SEED_INPUT] = np.array([(seed or 0) % _SEED_MOD], dtype=np.int64)
        return list(self.session.run(None, inputs))


def load_model(path: Path, *, threads: int | None = None) -> OnnxModel:
    """Load ``path`` into an onnxruntime CPU session, its random ops rewritten to seeded ones.

    Raises ImportError when onnxruntime is missing and onnxruntime's own errors for a bad file.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    model_bytes: bytes | str = str(path)
    seeded = False
    random_ops = 0
    try:
        import onnx
    except ImportError:
        log.warning("the onnx package is missing: %s will not honour seeds", path.name)
    else:
        proto = onnx.load(str(path))
        random_ops = seed_random_ops(proto)
        if random_ops:
            model_bytes = proto.SerializeToString()
            seeded = True
        del proto  # a large model should not be held twice while onnxruntime builds its session
    session = onnxruntime.InferenceSession(
        model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )
    return OnnxModel(
        session=session,
        input_types={i.name: i.type for i in session.get_inputs()},
        output_names=[o.name for o in session.get_outputs()],
        seeded=seeded,
        random_ops=random_ops,
    )


def seed_random_ops(model: Any) -> int:
    """Replace the main graph's random ops with seeded counter-based ones; returns how many.

    Adds the int64 [1] input :data:`SEED_INPUT` when there was anything to replace.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 11)
    targets = [
        i
        for i, node in enumerate(graph.node)
        if node.domain in ("", "ai.onnx") and node.op_type in _RANDOM_OPS
    ]
    if not targets:
        return 0
    if any(i.name == SEED_INPUT for i in graph.input):
        raise ValueError(f"model already has an input called {SEED_INPUT}")
    graph.input.append(helper.make_tensor_value_info(SEED_INPUT, TensorProto.INT64, [1]))
    known_types = _known_elem_types(model)
    new_nodes: list[Any] = []
    for index, node in enumerate(graph.node):
        if index in targets:
            new_nodes.extend(_seeded_replacement(targets.index(index), node, opset, known_types))
        else:
            new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    return len(targets)


def _known_elem_types(model: Any) -> dict[str, int]:
    graph = model.graph
    types: dict[str, int] = {}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        if value.type.HasField("tensor_type"):
            types[value.name] = value.type.tensor_type.elem_type
    for init in graph.initializer:
        types[init.name] = init.data_type
    return types


def _seeded_replacement(k: int, node: Any, opset: int, known_types: Mapping[str, int]) -> list[Any]:
    """Nodes computing ``node``'s output from SEED_INPUT; ``k`` tells this op's stream apart."""
    from onnx import TensorProto, helper, numpy_helper

    prefix = f"chorus_rng{k}_"
    nodes: list[Any] = []
    counter = iter(range(1_000_000))

    def name(tag: str) -> str:
        return f"{prefix}{tag}{next(counter)}"

    def const(value: Any, dtype: Any) -> str:
        out = name("c")
        tensor = numpy_helper.from_array(np.asarray(value, dtype=dtype), out)
        nodes.append(helper.make_node("Constant", [], [out], value=tensor))
        return out

    def op(op_type: str, *inputs: str, **attrs: Any) -> str:
        out = name(op_type.lower())
        nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    like = node.op_type.endswith("Like")
    if like:
        shape = op("Shape", node.input[0])
    else:
        shape = const(np.array(attrs.get("shape", []), dtype=np.int64), np.int64)
    ones = op("ConstantOfShape", shape, value=numpy_helper.from_array(np.ones(1, dtype=np.int64)))
    flat = op("Reshape", ones, const([-1], np.int64))
    index = op("Cast", op("CumSum", flat, const(0, np.int64)), to=TensorProto.UINT32)  # 1..n
    seed = op("Cast", SEED_INPUT, to=TensorProto.UINT32)

    def u32(value: int) -> str:
        return const(value & 0xFFFFFFFF, np.uint32)

    def mix(x: str, rounds: int) -> str:
        # T-function rounds (x * (2x + 1) is a permutation mod 2^32; the multiply and the add of the
        # high half carry bits both ways); uint32 arithmetic wraps, which is the point.
        for multiplier in _MIX[:rounds]:
            x = op("Mul", x, op("Add", op("Add", x, x), u32(1)))
            x = op("Add", x, op("BitShift", x, u32(16), direction="RIGHT"))
            x = op("Mul", x, u32(multiplier))
            x = op("Add", x, op("BitShift", x, u32(15), direction="RIGHT"))
        return x

    def uniform24(stream: int) -> str:
        # Per (seed, op, stream) keys, hashed on a one-element tensor; then a multiplicative key
        # and two rounds over the element counter.
        salt = u32((2 * k + stream + 1) * _SALT_MULT)
        base = op("Add", op("Mul", seed, u32(_SEED_MULT)), salt)
        key = mix(base, 3)
        odd_key = op("Add", op("Add", key, key), u32(1))
        offset = mix(op("Add", key, u32(_SALT_MULT)), 3)
        x = mix(op("Add", op("Mul", index, odd_key), offset), 2)
        return op("Cast", op("BitShift", x, u32(8), direction="RIGHT"), to=TensorProto.FLOAT)  # 0..2^24-1

    step = const(2.0**-24, np.float32)
    if node.op_type.startswith("RandomNormal"):
        u1 = op("Mul", op("Add", uniform24(0), const(0.5, np.float32)), step)  # (0, 1)
        u2 = op("Mul", uniform24(1), step)
        radius = op("Sqrt", op("Mul", op("Log", u1), const(-2.0, np.float32)))
        values = op("Mul", radius, op("Cos", op("Mul", u2, const(2 * math.pi, np.float32))))
        values = op("Mul", values, const(float(attrs.get("scale", 1.0)), np.float32))
        values = op("Add", values, const(float(attrs.get("mean", 0.0)), np.float32))
    else:
        low, high = float(attrs.get("low", 0.0)), float(attrs.get("high", 1.0))
        values = op("Mul", op("Mul", uniform24(0), step), const(high - low, np.float32))
        values = op("Add", values, const(low, np.float32))
    shaped = op("Reshape", values, shape)
    dtype = attrs.get("dtype")
    if dtype is None and like:
        dtype = known_types.get(node.input[0])
    output = node.output[0]
    if dtype is None and like and opset >= 15:
        nodes.append(helper.make_node("CastLike", [shaped, node.input[0]], [output]))
    elif dtype not in (None, TensorProto.FLOAT):
        nodes.append(helper.make_node("Cast", [shaped], [output], to=int(dtype)))
    else:
        nodes.append(helper.make_node("Identity", [shaped], [output]))
    return nodes


def float_to_pcm16(audio: np.ndarray, *, peak: float | None = None) -> bytes:
    """Float samples (nominally -1..1) to s16le; ``peak`` scales the loudest sample to that level."""
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        return b""
    samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    if peak is not None:
        samples = samples * (peak / max(0.01, float(np.max(np.abs(samples)))))
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def split_phonemes(phonemes: str, limit: int) -> list[str]:
    """Split an IPA string into pieces of at most ``limit`` characters at punctuation, else spaces."""
    pieces: list[str] = []
    rest = phonemes.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = max((window.rfind(mark + " ") + 1 for mark in ".!?;:,—…"), default=0)
        if cut <= 0:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return [p for p in pieces if p]


# --- factories for the engine registry ---------------------------------------------------------


def build_piper(settings: Any = None) -> PiperEngine:
    """The Piper engine over ``<models_dir>/piper``; unavailable (never raising) when unusable.

    Settings read (all optional): ``resolved_models_dir``, ``onnx_threads``, ``espeak_library``,
    ``espeak_data_path``.
    """
    from chorus.engines.piper import PiperEngine

    return PiperEngine(models_dir(settings) / "piper", **_common_options(settings))


def build_kokoro(settings: Any = None) -> KokoroEngine:
    """The Kokoro engine over ``<models_dir>/kokoro``; unavailable (never raising) when unusable."""
    from chorus.engines.kokoro import KokoroEngine

    return KokoroEngine(models_dir(settings) / "kokoro", **_common_options(settings))


def _common_options(settings: Any) -> dict[str, Any]:
    from chorus.engines.phonemize import Phonemizer

    library = getattr(settings, "espeak_library", None) or "libespeak-ng.so.1"
    data_path = getattr(settings, "espeak_data_path", None)
    return {
        "threads": getattr(settings, "onnx_threads", None),
        "phonemizer": Phonemizer(library=library, data_path=data_path),
    }


def file_stamp(path: Path) -> tuple[int, int]:
    """(mtime in ns, size) of ``path``, (0, 0) when missing: tells a replaced model file apart."""
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


def piece_seed(seed: int | None, index: int, part: int) -> int:
    """A distinct, reproducible seed for piece ``part`` of sentence ``index`` of a request."""
    return ((seed or 0) + 0x9E3779B9 * (index * 64 + part)) & 0xFFFFFFFF


def first_existing(folder: Path, names: Sequence[str]) -> Path | None:
    """The first of ``names`` (relative paths) that is a file in ``folder``."""
    for relative in names:
        candidate = folder / relative
        if candidate.is_file():
            return candidate
    return None
