"""Encoding engine PCM into the API's output formats, whole clips or incrementally for streaming.

The input is always mono s16le from an engine. It is resampled with soxr (high quality) when the
output rate differs, then encoded: raw PCM, G.711 mu-law/A-law, WAV, MP3 (LAME, constant bitrate) or
Opus in Ogg (libopus). :func:`encode_pcm` is :class:`StreamEncoder` fed once, so a streamed response
and a whole-clip response carry the same audio. Encoding is deterministic: equal input, equal bytes.

MP3 goes through the system's LAME when it is installed and encodes exactly as PyAV's does (three times
as fast, see :mod:`chorus.audio.lame`), else through PyAV; the bytes are the same either way.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Protocol

import av
import numpy as np
import soxr

from chorus.audio.formats import OutputFormat
from chorus.audio.lame import LameEncoder, system_lame
from chorus.engines.base import PCMFormat

__all__ = ["StreamEncoder", "encode_pcm", "linear_to_alaw", "linear_to_ulaw", "wav_header"]

_RESAMPLE_QUALITY = "HQ"
_CODECS = frozenset({"pcm", "ulaw", "alaw", "wav", "mp3", "opus"})
# Ogg pages are cut at least this often (µs) so streamed Opus reaches the client in small steps
# rather than in the muxer's default one-second pages.
_OGG_PAGE_DURATION_US = 100_000


def encode_pcm(pcm: bytes, source: PCMFormat, fmt: OutputFormat) -> bytes:
    """Encode a whole clip of s16le mono ``pcm`` in ``source`` format as ``fmt``.

    Empty input gives empty bytes for raw formats (pcm, ulaw, alaw), a header-only WAV file, and for
    MP3 and Opus a decodable file holding a single silent sample (a decoder needs one frame).
    """
    encoder = StreamEncoder(source, fmt)
    return encoder.feed(pcm) + encoder.flush()


class StreamEncoder:
    """Incremental encoder: :meth:`feed` PCM as it is synthesised, :meth:`flush` once at the end.

    Each call returns the encoded bytes that became ready, possibly none. Concatenating every
    return value gives a complete file (for WAV everything arrives from :meth:`flush`, as its
    header needs the final length). Chunks may split a sample between calls. Not thread-safe.
    """

    def __init__(self, source: PCMFormat, fmt: OutputFormat) -> None:
        if source.channels != 1:
            raise ValueError(f"only mono PCM can be encoded, not {source.channels} channels")
        if source.sample_rate <= 0:
            raise ValueError(f"invalid source sample rate {source.sample_rate}")
        self.source = source
        self.format = fmt
        if fmt.codec not in _CODECS:
            raise ValueError(f"unsupported codec {fmt.codec!r}")
        self._pending = b""  # an odd trailing byte: half a sample, completed by the next feed
        self._closed = False
        self._resampler: soxr.ResampleStream | None = None
        self._sink: _Sink | None = None

    def _start(self) -> _Sink:
        # Built on first use rather than in __init__: a route makes its encoder on the event loop and
        # feeds it from a worker thread, where setting up the resampler and codec (about a millisecond
        # for MP3) holds nobody up.
        if self.source.sample_rate != self.format.sample_rate:
            self._resampler = soxr.ResampleStream(
                self.source.sample_rate,
                self.format.sample_rate,
                1,
                dtype="float32",
                quality=_RESAMPLE_QUALITY,
            )
        self._sink = _make_sink(self.format)
        return self._sink

    def feed(self, pcm: bytes) -> bytes:
        """Encode more s16le mono PCM; returns whatever encoded bytes are ready."""
        if self._closed:
            raise RuntimeError("feed() after flush()")
        sink = self._sink or self._start()
        data = self._pending + bytes(pcm)
        usable = len(data) - (len(data) % 2)
        self._pending = data[usable:]
        samples = np.frombuffer(data[:usable], dtype="<i2")
        return sink.write(self._resample(samples, last=False))

    def flush(self) -> bytes:
        """Finish the stream: drain the resampler and encoder and close any container."""
        if self._closed:
            return b""
        sink = self._sink or self._start()
        self._closed = True
        # A dangling half sample cannot be decoded; it is dropped.
        self._pending = b""
        out = sink.write(self._resample(np.zeros(0, dtype="<i2"), last=True))
        return out + sink.close()

    def _resample(self, samples: np.ndarray, *, last: bool) -> np.ndarray:
        if self._resampler is None:
            return samples.astype("<i2", copy=False)
        floats = samples.astype(np.float32) / np.float32(32768.0)
        out = self._resampler.resample_chunk(floats, last=last)
        return _to_int16(out * np.float32(32768.0))


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples), -32768, 32767).astype("<i2")


# --- G.711 -------------------------------------------------------------------------------------
# After ITU-T G.191's reference g711.c (the classic Sun implementation): segment search on the
# magnitude, 4 mantissa bits, and the standard inversion masks.

_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159


def linear_to_ulaw(samples: np.ndarray) -> bytes:
    """G.711 mu-law bytes for 16-bit linear samples."""
    value = np.asarray(samples, dtype=np.int32) >> 2  # 14-bit magnitude domain
    negative = value < 0
    magnitude = np.minimum(np.where(negative, -value, value), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    mask = np.where(negative, 0x7F, 0xFF)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude, side="left")
    mantissa = (magnitude >> np.minimum(segment + 1, 31)) & 0xF
    code = np.where(segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | mantissa)
    return (code ^ mask).astype(np.uint8).tobytes()


def linear_to_alaw(samples: np.ndarray) -> bytes:
    """G.711 A-law bytes for 16-bit linear samples."""
    value = np.asarray(samples, dtype=np.int32) >> 3  # 13-bit domain
    negative = value < 0
    magnitude = np.where(negative, -value - 1, value)
    mask = np.where(negative, 0x55, 0xD5)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude, side="left")
    shift = np.where(segment < 2, 1, np.minimum(segment, 7))
    code = np.where(segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0xF))
    return (code ^ mask).astype(np.uint8).tobytes()


def wav_header(sample_rate: int, data_bytes: int, channels: int = 1) -> bytes:
    """A 44-byte RIFF/WAVE header for 16-bit PCM."""
    block_align = channels * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        16,
        b"data",
        data_bytes,
    )


# --- sinks: one per codec ------------------------------------------------------------------------


class _Sink(Protocol):
    def write(self, samples: np.ndarray) -> bytes: ...

    def close(self) -> bytes: ...


class _RawSink:
    def write(self, samples: np.ndarray) -> bytes:
        return samples.astype("<i2", copy=False).tobytes()

    def close(self) -> bytes:
        return b""


class _G711Sink:
    def __init__(self, codec: str) -> None:
        self._encode = linear_to_ulaw if codec == "ulaw" else linear_to_alaw

    def write(self, samples: np.ndarray) -> bytes:
        return self._encode(samples) if samples.size else b""

    def close(self) -> bytes:
        return b""


class _WavSink:
    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._parts: list[bytes] = []

    def write(self, samples: np.ndarray) -> bytes:
        if samples.size:
            self._parts.append(samples.astype("<i2", copy=False).tobytes())
        return b""

    def close(self) -> bytes:
        data = b"".join(self._parts)
        self._parts = []
        return wav_header(self._rate, len(data)) + data


class _FrameBuffer:
    """Collects samples and hands them out in the fixed-size frames an audio encoder wants."""

    def __init__(self, frame_size: int) -> None:
        self.frame_size = frame_size
        self._buffer = np.zeros(0, dtype="<i2")

    def frames(self, samples: np.ndarray, *, final: bool = False) -> list[np.ndarray]:
        buffer = np.concatenate([self._buffer, samples]) if samples.size else self._buffer
        count = len(buffer) // self.frame_size
        frames = [buffer[i * self.frame_size : (i + 1) * self.frame_size] for i in range(count)]
        rest = buffer[count * self.frame_size :]
        if final and rest.size:
            frames.append(rest)
            rest = rest[:0]
        self._buffer = rest
        return frames


def _audio_frame(samples: np.ndarray, layout_format: str, rate: int, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype="<i2").reshape(1, -1), format=layout_format, layout="mono"
    )
    frame.sample_rate = rate
    frame.pts = pts
    return frame


# LAME quality 7 ("fast, good for speech"): 1.5x faster than its default 3 at the same bitrate, which
# matters because MP3 encoding is the largest cost on the streaming path.
_MP3_QUALITY = 7


class _PyAVMp3Sink:
    """Raw MPEG audio frames from PyAV's LAME at a constant bitrate (no container is needed for MP3)."""

    def __init__(self, sample_rate: int, bitrate_kbps: int) -> None:
        context = av.CodecContext.create("libmp3lame", "w")
        context.sample_rate = sample_rate
        context.layout = "mono"
        context.format = "s16p"
        context.bit_rate = bitrate_kbps * 1000
        context.options = {"compression_level": str(_MP3_QUALITY)}
        context.open()
        self._context = context
        self._rate = sample_rate
        self._frames = _FrameBuffer(context.frame_size or 1152)
        self._pts = 0

    def _encode(self, frames: list[np.ndarray]) -> bytes:
        out = bytearray()
        for samples in frames:
            frame = _audio_frame(samples, "s16p", self._rate, self._pts)
            self._pts += len(samples)
            for packet in self._context.encode(frame):
                out += bytes(packet)
        return bytes(out)

    def write(self, samples: np.ndarray) -> bytes:
        return self._encode(self._frames.frames(samples))

    def close(self) -> bytes:
        out = self._encode(self._frames.frames(np.zeros(0, dtype="<i2"), final=True))
        if self._pts == 0:
            out += self._encode([np.zeros(1, dtype="<i2")])  # no audio at all: still a decodable file
        return out + b"".join(bytes(packet) for packet in self._context.encode(None))


class _LameMp3Sink:
    """The same frames as :class:`_PyAVMp3Sink`, from the system's LAME (see :mod:`chorus.audio.lame`)."""

    def __init__(self, lib: ctypes.CDLL, sample_rate: int, bitrate_kbps: int) -> None:
        self._encoder = LameEncoder(lib, sample_rate, bitrate_kbps, _MP3_QUALITY)
        self._samples = 0

    def write(self, samples: np.ndarray) -> bytes:
        self._samples += samples.size
        return self._encoder.encode(samples)

    def close(self) -> bytes:
        out = b""
        if self._samples == 0:
            out = self._encoder.encode(np.zeros(1, dtype="<i2"))  # no audio at all: still a decodable file
        return out + self._encoder.flush()


def pyav_mp3(samples: np.ndarray, sample_rate: int, bitrate_kbps: int) -> bytes:
    """``samples`` (s16 mono) as MP3 through PyAV's encoder, whatever LAME the system has."""
    sink = _PyAVMp3Sink(sample_rate, bitrate_kbps)
    return sink.write(samples) + sink.close()


class _Collector:
    """A write-only file object for PyAV: the muxer writes Ogg pages here, we hand them on."""

    def __init__(self) -> None:
        self._data = bytearray()

    def write(self, data: bytes) -> int:
        self._data += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._data)
        self._data.clear()
        return out


class _OpusSink:
    """Opus (libopus) in an Ogg container, written page by page as pages complete."""

    FRAME_SAMPLES_48K = 960  # 20 ms

    def __init__(self, sample_rate: int, bitrate_kbps: int) -> None:
        self._collector = _Collector()
        self._container = av.open(
            self._collector,
            mode="w",
            format="ogg",
            options={"fflags": "+bitexact", "page_duration": str(_OGG_PAGE_DURATION_US)},
        )
        stream = self._container.add_stream("libopus", rate=sample_rate)
        stream.bit_rate = bitrate_kbps * 1000
        stream.layout = "mono"
        stream.codec_context.format = "s16"
        self._stream = stream
        self._rate = sample_rate
        self._frames = _FrameBuffer(self.FRAME_SAMPLES_48K * sample_rate // 48_000)
        self._pts = 0

    def _encode(self, frames: list[np.ndarray]) -> None:
        for samples in frames:
            frame = _audio_frame(samples, "s16", self._rate, self._pts)
            self._pts += len(samples)
            self._container.mux(self._stream.encode(frame))

    def write(self, samples: np.ndarray) -> bytes:
        self._encode(self._frames.frames(samples))
        return self._collector.take()

    def close(self) -> bytes:
        # The last frame may be short: the encoder pads it and records the padding in the stream, so
        # the decoded length stays exact.
        self._encode(self._frames.frames(np.zeros(0, dtype="<i2"), final=True))
        if self._pts == 0:
            # No audio at all: header pages alone do not decode, so carry one silent sample.
            self._encode([np.zeros(1, dtype="<i2")])
        self._container.mux(self._stream.encode(None))
        self._container.close()
        return self._collector.take()


def _make_sink(fmt: OutputFormat) -> _Sink:
    if fmt.codec == "pcm":
        return _RawSink()
    if fmt.codec in ("ulaw", "alaw"):
        return _G711Sink(fmt.codec)
    if fmt.codec == "wav":
        return _WavSink(fmt.sample_rate)
    if fmt.codec == "mp3":
        lame = system_lame()
        if lame is not None:
            return _LameMp3Sink(lame, fmt.sample_rate, fmt.bitrate_kbps or 128)
        return _PyAVMp3Sink(fmt.sample_rate, fmt.bitrate_kbps or 128)
    if fmt.codec == "opus":
        return _OpusSink(fmt.sample_rate, fmt.bitrate_kbps or 64)
    raise ValueError(f"unsupported codec {fmt.codec!r}")
