"""MP3 encoding straight through the system's LAME library (ctypes), when it is installed.

PyAV's wheels carry their own LAME, built without the optimisations distributions compile in: on the
reference machine the system ``libmp3lame.so.0`` (Debian's ``libmp3lame0``) encodes speech about three
times as fast, with the same bytes. MP3 encoding is the largest cost of a streamed ``mp3_*`` response,
so :class:`LameEncoder` calls the system library directly, configured exactly as FFmpeg's
``libmp3lame`` wrapper configures it (CBR, quality = ``compression_level``, no Xing/Info frame, bit
reservoir on). ctypes also releases the GIL during each call, so streams encode on several cores.

:func:`system_lame` returns the library only after checking, once per process, that it produces
byte-for-byte what PyAV's encoder produces for the same input; otherwise (no library, another LAME
version, a failed check) the caller keeps using PyAV. Either way a request's bytes are the same.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import threading

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["LameEncoder", "system_lame"]

_MONO = 3  # MPEG_mode MONO (lame.h)
# lame_init_params() fills tables shared by every encoder of the process the first time it runs.
_INIT_LOCK = threading.Lock()


def _declare(lib: ctypes.CDLL) -> None:
    c_void_p, c_int = ctypes.c_void_p, ctypes.c_int
    lib.lame_init.restype = c_void_p
    lib.lame_init.argtypes = []
    lib.lame_close.restype = c_int
    lib.lame_close.argtypes = [c_void_p]
    for setter in (
        "lame_set_num_channels",
        "lame_set_mode",
        "lame_set_in_samplerate",
        "lame_set_out_samplerate",
        "lame_set_quality",
        "lame_set_brate",
        "lame_set_bWriteVbrTag",
        "lame_set_disable_reservoir",
    ):
        function = getattr(lib, setter)
        function.restype = c_int
        function.argtypes = [c_void_p, c_int]
    lib.lame_init_params.restype = c_int
    lib.lame_init_params.argtypes = [c_void_p]
    lib.lame_encode_buffer.restype = c_int
    lib.lame_encode_buffer.argtypes = [c_void_p, c_void_p, c_void_p, c_int, c_void_p, c_int]
    lib.lame_encode_flush.restype = c_int
    lib.lame_encode_flush.argtypes = [c_void_p, c_void_p, c_int]


class LameEncoder:
    """One mono CBR MP3 stream: :meth:`encode` s16 samples as they come, :meth:`flush` once at the end.

    Concatenating what every call returns gives the same bytes as FFmpeg's ``libmp3lame`` encoder
    fed the same samples (in any chunking). Not thread-safe; one encoder per stream.
    """

    def __init__(self, lib: ctypes.CDLL, sample_rate: int, bitrate_kbps: int, quality: int) -> None:
        self._lib = lib
        handle = lib.lame_init()
        if not handle:
            raise MemoryError("lame_init failed")
        self._handle: int | None = handle
        ok = (
            lib.lame_set_num_channels(handle, 1) >= 0
            and lib.lame_set_mode(handle, _MONO) >= 0
            and lib.lame_set_in_samplerate(handle, sample_rate) >= 0
            and lib.lame_set_out_samplerate(handle, sample_rate) >= 0
            and lib.lame_set_quality(handle, quality) >= 0
            and lib.lame_set_brate(handle, bitrate_kbps) >= 0
            and lib.lame_set_bWriteVbrTag(handle, 0) >= 0
            and lib.lame_set_disable_reservoir(handle, 0) >= 0
        )
        if ok:
            with _INIT_LOCK:
                ok = lib.lame_init_params(handle) >= 0
        if not ok:
            self.close()
            raise ValueError(f"LAME refused mono {sample_rate} Hz at {bitrate_kbps} kbps")
        self._buffer = ctypes.create_string_buffer(8192)

    def _room(self, samples: int) -> int:
        # lame.h: the worst case is 1.25 * samples + 7200 bytes.
        need = samples + samples // 4 + 7200
        if len(self._buffer) < need:
            self._buffer = ctypes.create_string_buffer(need)
        return len(self._buffer)

    def encode(self, samples: np.ndarray) -> bytes:
        """Encode s16 mono ``samples``; returns the MP3 bytes that became ready (maybe none)."""
        if self._handle is None:
            raise RuntimeError("encode() after flush()")
        if not samples.size:
            return b""
        data = np.ascontiguousarray(samples, dtype="<i2")
        room = self._room(len(data))
        written = self._lib.lame_encode_buffer(
            self._handle, data.ctypes.data, None, len(data), self._buffer, room
        )
        if written < 0:
            raise RuntimeError(f"LAME failed to encode (error {written})")
        return self._buffer.raw[:written]

    def flush(self) -> bytes:
        """The last frames (padded), then the encoder is closed."""
        if self._handle is None:
            return b""
        room = self._room(0)
        written = self._lib.lame_encode_flush(self._handle, self._buffer, room)
        self.close()
        if written < 0:
            raise RuntimeError(f"LAME failed to flush (error {written})")
        return self._buffer.raw[:written]

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            self._lib.lame_close(handle)

    def __del__(self) -> None:
        self.close()


def _load(name: str) -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(name)
        _declare(lib)
    except (OSError, AttributeError):
        return None
    return lib


# Tried in order before asking ctypes.util.find_library (which runs ldconfig in a subprocess).
LIBRARY_NAMES = ("libmp3lame.so.0", "libmp3lame.0.dylib")


@functools.cache
def system_lame(check: bool = True) -> ctypes.CDLL | None:
    """The system's libmp3lame, if it is installed and encodes exactly as PyAV's LAME does; else None."""
    name = next((n for n in LIBRARY_NAMES if _load(n) is not None), None)
    name = name or ctypes.util.find_library("mp3lame")
    lib = _load(name) if name else None
    if lib is None or not check:
        return lib
    try:
        same = _matches_pyav(lib)
    except Exception as exc:  # noqa: BLE001 - any failure means "use PyAV"
        log.info("system LAME (%s) not used: %s", name, exc)
        return None
    if not same:
        log.info("system LAME (%s) not used: its output differs from PyAV's", name)
        return None
    return lib


def _matches_pyav(lib: ctypes.CDLL) -> bool:
    """Encode a short test signal both ways, at both MPEG versions the API uses; equal bytes?"""
    from chorus.audio.encode import pyav_mp3

    rng = np.random.default_rng(1234)
    for rate, kbps in ((44_100, 128), (22_050, 32)):
        t = np.arange(rate // 4) / rate
        tone = 6000 * np.sin(2 * np.pi * 220 * t) + rng.normal(0, 800, len(t))
        samples = np.clip(np.round(tone), -32768, 32767).astype("<i2")
        encoder = LameEncoder(lib, rate, kbps, quality=7)
        ours = encoder.encode(samples[:1000]) + encoder.encode(samples[1000:]) + encoder.flush()
        if ours != pyav_mp3(samples, rate, kbps):
            return False
    return True
