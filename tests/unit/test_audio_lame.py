"""MP3 through the system's LAME gives exactly PyAV's bytes, and PyAV stands in when it cannot."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from chorus.audio import encode, lame
from chorus.audio.encode import StreamEncoder, pyav_mp3
from chorus.audio.formats import OUTPUT_FORMATS, parse_output_format
from chorus.audio.lame import LameEncoder, system_lame
from chorus.engines.base import PCMFormat

MP3_FORMATS = [name for name in OUTPUT_FORMATS if name.startswith("mp3_")]


def speechy(seconds: float, rate: int = 16_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 30 * np.sin(2 * np.pi * 0.5 * t)
    voiced = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / rate) / k for k in range(1, 20))
    envelope = np.clip(np.sin(2 * np.pi * 2.3 * t), 0, None) ** 0.5
    x = 4000 * voiced * envelope + rng.normal(0, 300, len(t))
    return np.clip(np.round(x), -32768, 32767).astype("<i2")


@pytest.fixture
def fresh_lookup() -> Iterator[None]:
    system_lame.cache_clear()
    yield
    system_lame.cache_clear()


def chunked(encoder: StreamEncoder, pcm: bytes, sizes: list[int]) -> bytes:
    out, position = [], 0
    for size in sizes:
        out.append(encoder.feed(pcm[position : position + size]))
        position += size
    out.append(encoder.feed(pcm[position:]))
    return b"".join(out) + encoder.flush()


needs_lame = pytest.mark.skipif(system_lame() is None, reason="no system libmp3lame that matches PyAV")


@needs_lame
@pytest.mark.parametrize("name", MP3_FORMATS)
def test_system_lame_bytes_equal_pyav_bytes(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fmt = parse_output_format(name)
    pcm = speechy(2.3).tobytes()
    sizes = [
        int(s) for s in np.random.default_rng(len(name)).integers(1, 9_000, size=7)
    ]  # odd: split samples
    fast = chunked(StreamEncoder(PCMFormat(16_000), fmt), pcm, sizes)
    monkeypatch.setattr(encode, "system_lame", lambda: None)
    slow = chunked(StreamEncoder(PCMFormat(16_000), fmt), pcm, sizes)
    assert fast == slow
    assert len(fast) > 1_000


@needs_lame
def test_system_lame_empty_input_is_the_same_decodable_file(monkeypatch: pytest.MonkeyPatch) -> None:
    fmt = parse_output_format("mp3_44100_128")
    fast = StreamEncoder(PCMFormat(16_000), fmt).flush()
    monkeypatch.setattr(encode, "system_lame", lambda: None)
    assert fast == StreamEncoder(PCMFormat(16_000), fmt).flush()
    assert fast[:2] == b"\xff\xfb"  # an MPEG-1 Layer III frame header


@needs_lame
def test_lame_encoder_ignores_how_the_input_is_cut() -> None:
    lib = system_lame()
    assert lib is not None
    samples = speechy(1.5, rate=22_050, seed=2)
    whole = LameEncoder(lib, 22_050, 32, 7)
    once = whole.encode(samples) + whole.flush()
    pieces = LameEncoder(lib, 22_050, 32, 7)
    cut = b"".join(pieces.encode(samples[i : i + 333]) for i in range(0, len(samples), 333)) + pieces.flush()
    assert once == cut == pyav_mp3(samples, 22_050, 32)


@needs_lame
def test_lame_encoder_refuses_use_after_flush() -> None:
    lib = system_lame()
    assert lib is not None
    encoder = LameEncoder(lib, 44_100, 128, 7)
    encoder.flush()
    assert encoder.flush() == b""
    with pytest.raises(RuntimeError):
        encoder.encode(speechy(0.1))


def test_a_lame_that_encodes_differently_is_not_used(
    fresh_lookup: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lame, "_matches_pyav", lambda lib: False)
    assert system_lame() is None
    # MP3 still works, through PyAV.
    data = encode.encode_pcm(speechy(0.5).tobytes(), PCMFormat(16_000), parse_output_format("mp3_44100_64"))
    assert data == pyav_mp3(_resampled(speechy(0.5), 44_100), 44_100, 64)


def test_a_missing_library_means_pyav(fresh_lookup: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lame, "LIBRARY_NAMES", ("libchorus-no-such-lame.so.0",))
    monkeypatch.setattr(lame.ctypes.util, "find_library", lambda name: None)
    assert system_lame() is None


def _resampled(samples: np.ndarray, rate: int) -> np.ndarray:
    """What StreamEncoder hands the MP3 encoder for 16 kHz input at ``rate``."""
    encoder = StreamEncoder(PCMFormat(16_000), parse_output_format(f"pcm_{rate}"))
    return np.frombuffer(encoder.feed(samples.tobytes()) + encoder.flush(), dtype="<i2")
