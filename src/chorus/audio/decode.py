"""Decoding any container or codec PyAV knows into mono s16le PCM."""

from __future__ import annotations

import io

import av
import numpy as np


class UndecodableAudio(ValueError):
    """The bytes are not audio PyAV can read."""


def decode_to_pcm(data: bytes) -> tuple[bytes, int]:
    """Decode ``data`` to mono signed 16-bit PCM at its own sample rate; returns (pcm, sample_rate)."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = next((s for s in container.streams if s.type == "audio"), None)
            if stream is None:
                raise UndecodableAudio("no audio stream in the input")
            rate = stream.codec_context.sample_rate or stream.rate
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            parts: list[np.ndarray] = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as exc:
        raise UndecodableAudio(f"cannot decode audio: {exc}") from exc
    pcm = np.concatenate(parts).astype("<i2") if parts else np.zeros(0, "<i2")
    return pcm.tobytes(), int(rate)


def g711_to_pcm(data: bytes, codec: str) -> bytes:
    """Expand headerless G.711 (``ulaw`` or ``alaw``) bytes to s16le."""
    codec_name = {"ulaw": "pcm_mulaw", "alaw": "pcm_alaw"}[codec]
    context = av.CodecContext.create(codec_name, "r")
    context.sample_rate = 8000
    context.layout = "mono"
    frames = context.decode(av.Packet(data)) if data else []
    parts = [frame.to_ndarray().reshape(-1).astype("<i2") for frame in frames]
    return (np.concatenate(parts) if parts else np.zeros(0, "<i2")).tobytes()
