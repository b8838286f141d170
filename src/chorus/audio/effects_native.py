"""The effect chain's hot loops in C (``_effects_native.c``), loaded with ctypes when it was built.

``scripts/setup.sh`` (``pip install``) compiles the C file with the project, as an optional extension: with
no compiler the build goes on without it and :func:`load` returns ``None``, and the chain runs its
Python code, which gives the same bytes (the C file repeats its arithmetic operation for operation;
tests/unit/test_effects_native.py holds the two to that). The library is found next to this file and
refused if its ABI number differs from :data:`ABI` (a build older than the source).

The structs below mirror the C ones field for field; :func:`load` checks their sizes against the
library's before using it.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.machinery
import logging
from pathlib import Path

__all__ = ["ABI", "NativeEffects", "load"]

logger = logging.getLogger(__name__)

ABI = 3
_FRAME_MAX = 1024
_RING_MAX = 256

DOUBLE_P = ctypes.POINTER(ctypes.c_double)


class GatedLevel(ctypes.Structure):
    _fields_ = [
        ("alpha", ctypes.c_double),
        ("blocks", ctypes.c_int64),
        ("ungated", ctypes.c_double),
        ("gated_blocks", ctypes.c_int64),
        ("level", ctypes.c_double),
    ]


class Ring(ctypes.Structure):
    _fields_ = [("len", ctypes.c_int64), ("head", ctypes.c_int64), ("v", ctypes.c_double * _RING_MAX)]


class DynState(ctypes.Structure):
    _fields_ = [
        ("kw_zi", (ctypes.c_double * 2) * 2),
        ("pending", ctypes.c_double * _FRAME_MAX),
        ("frame_pos", ctypes.c_int64),
        ("powers", Ring),
        ("powers_out", Ring),
        ("recent", Ring),
        ("speech_frames", ctypes.c_int64),
        ("level_in", GatedLevel),
        ("level_out", GatedLevel),
        ("makeup_db", ctypes.c_double),
        ("envelope", ctypes.c_double),
        ("style_env", ctypes.c_double),
        ("dyn_a", ctypes.c_double),
        ("dyn_b", ctypes.c_double),
        ("makeup_a", ctypes.c_double),
        ("makeup_b", ctypes.c_double),
    ]


class BreathyState(ctypes.Structure):
    _fields_ = [
        ("ref_zi", (ctypes.c_double * 2) * 2),
        ("ref_pending", ctypes.c_double * _FRAME_MAX),
        ("powers_ref", Ring),
        ("match_ref", GatedLevel),
        ("match_voice", GatedLevel),
    ]


class LimiterState(ctypes.Structure):
    _fields_ = [("pos", ctypes.c_int64), ("env", ctypes.c_double), ("max", ctypes.c_double)]


class State(ctypes.Structure):
    _fields_ = [("lim", LimiterState), ("dyn", DynState), ("br", BreathyState)]


class Params(ctypes.Structure):
    _fields_ = [
        *((name, ctypes.c_int64) for name in ("frame", "hop", "powers_cap", "recent_cap", "limiter_block")),
        *((name, ctypes.c_int32) for name in ("dynamics", "boost", "breathy", "has_target")),
        *(
            (name, ctypes.c_double)
            for name in (
                "style",
                "target_power",
                "volume",
                "a_attack",
                "a_release",
                "a_style_attack",
                "a_style_release",
                "a_makeup",
                "quiet_ratio",
                "open_ratio",
                "slope",
                "half",
                "knee",
                "threshold_db",
                "style_min_db",
                "style_max_db",
                "match_low_db",
                "match_high_db",
                "agc_min_db",
                "agc_max_db",
                "pause_low_db",
                "pause_high_db",
                "frame_restart",
                "start_gate",
                "restart",
                "abs_gate",
                "rel_gate",
                "ceiling",
            )
        ),
        ("kw_sos", (ctypes.c_double * 6) * 2),
        ("lim_pow", DOUBLE_P),
        ("lim_pow1", DOUBLE_P),
        ("lim_inv", DOUBLE_P),
    ]


class NativeEffects:
    """The loaded library's entry points, typed."""

    frame_max = _FRAME_MAX
    ring_max = _RING_MAX

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.sosfilt = lib.chorus_fx_sosfilt
        self.sosfilt.argtypes = [DOUBLE_P, ctypes.c_int64, DOUBLE_P, DOUBLE_P, ctypes.c_int64]
        self.sosfilt.restype = None
        self.tail = lib.chorus_fx_tail
        self.tail.argtypes = [
            ctypes.POINTER(Params),
            ctypes.POINTER(State),
            DOUBLE_P,
            DOUBLE_P,
            DOUBLE_P,
            DOUBLE_P,
            ctypes.POINTER(ctypes.c_int16),
            ctypes.c_int64,
        ]
        self.tail.restype = None
        self.run = lib.chorus_fx_run
        self.run.argtypes = [
            ctypes.POINTER(Params),
            ctypes.POINTER(State),
            DOUBLE_P,
            ctypes.c_int64,
            DOUBLE_P,
            ctypes.POINTER(ctypes.c_int16),
            DOUBLE_P,
            DOUBLE_P,
            ctypes.POINTER(ctypes.c_int16),
            ctypes.c_int64,
        ]
        self.run.restype = ctypes.c_int


def source_digest() -> str | None:
    """The digest setup.py records in the library, of the C source beside this module (None without it,
    as in an installed wheel, where library and source cannot drift apart)."""
    source = Path(__file__).resolve().with_name("_effects_native.c")
    try:
        return hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def _library_path() -> Path | None:
    here = Path(__file__).resolve().parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = here / f"_effects_native{suffix}"
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def load() -> NativeEffects | None:
    """The C effects if they were built and match this source, else ``None`` (the Python chain is used)."""
    path = _library_path()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_LOCAL)
        checks = {
            "chorus_fx_abi": ABI,
            "chorus_fx_frame_max": _FRAME_MAX,
            "chorus_fx_ring_max": _RING_MAX,
            "chorus_fx_state_size": ctypes.sizeof(State),
            "chorus_fx_params_size": ctypes.sizeof(Params),
        }
        for symbol, expected in checks.items():
            function = getattr(lib, symbol)
            function.restype = ctypes.c_int64 if symbol != "chorus_fx_abi" else ctypes.c_int
            if function() != expected:
                logger.warning("%s is stale (%s differs); using the Python effects", path.name, symbol)
                return None
        lib.chorus_fx_source.restype = ctypes.c_char_p
        built_from = lib.chorus_fx_source().decode()
        source = source_digest()
        if source is not None and built_from != source:
            # Built from another version of the C file (an edit since the last `pip install -e .`).
            logger.warning(
                "%s is stale (built from source %s, the source is now %s); using the Python effects; "
                "rebuild with: .venv/bin/python -m pip install --no-deps --no-build-isolation -e .",
                path.name,
                built_from or "unknown",
                source,
            )
            return None
        return NativeEffects(lib)
    except (OSError, AttributeError) as exc:
        logger.warning("cannot load %s (%s); using the Python effects", path, exc)
        return None
