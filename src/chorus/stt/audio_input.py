"""Recogniser input: decode any audio or video container, resample to 16 kHz, normalise loudness.

:func:`decode_any` reads whatever PyAV (FFmpeg) can open — WAV, FLAC, MP3, Ogg/Opus, AAC/M4A, WebM, MP4 or MKV
with video — and returns the first audio stream as mono s16le at its own sample rate. :func:`to_16k` resamples
with soxr; :func:`normalize_loudness` brings speech to a common level with a bounded gain. :func:`prepare`
does the last two, which is what every engine wants before recognition.
"""

from __future__ import annotations

import io
import math

import av
import numpy as np

from chorus.audio.decode import UndecodableAudio
from chorus.errors import BadRequest

__all__ = [
    "DEFAULT_MAX_DURATION_S",
    "TARGET_RATE",
    "AudioTooLong",
    "LevelTracker",
    "Resampler16k",
    "UndecodableAudio",
    "decode_any",
    "decode_channels",
    "gain_for_level",
    "loudness_gain",
    "normalize_loudness",
    "prepare",
    "to_16k",
]

TARGET_RATE = 16_000
DEFAULT_MAX_DURATION_S = 4 * 3600.0  # refuse longer inputs (a 4 h 48 kHz mono file is 1.4 GB of PCM)

# Loudness normalisation. The level is the RMS of the loudest half of the 20 ms frames (the speech, in
# anything but wall-to-wall noise). Audio whose level is within TOLERANCE_DB of TARGET_DBFS is left as it is:
# the recogniser's cepstral mean normalisation makes it indifferent to moderate gain, and measured on clean
# read speech (LibriSpeech, LJ Speech: -34 to -16 dBFS) re-levelling it only perturbed the results. Anything
# quieter or louder is brought to TARGET_DBFS, with the gain bounded to +-MAX_GAIN_DB and low enough that the
# peak stays under PEAK_DBFS (no clipping): 40 dB quieter LibriSpeech then has 19% fewer word errors. Input
# quieter than SILENCE_DBFS (about 2 LSB RMS) is digital silence and is left alone.
TARGET_DBFS = -20.0
TOLERANCE_DB = 15.0
MAX_GAIN_DB = 45.0
PEAK_DBFS = -1.0
SILENCE_DBFS = -85.0
_FRAME = 320  # 20 ms at 16 kHz; the level estimate is not sensitive to the exact frame size


class AudioTooLong(BadRequest):
    """The input is longer than the configured maximum duration."""

    status = "audio_too_long"


def decode_any(data: bytes, max_duration_s: float | None = DEFAULT_MAX_DURATION_S) -> tuple[bytes, int]:
    """Decode the first audio stream of any container PyAV reads to mono s16le; returns (pcm, sample_rate).

    Channels are averaged (FFmpeg's down-mix). Raises :class:`UndecodableAudio` when the bytes are not a
    container PyAV reads or hold no audio stream, and :class:`AudioTooLong` (a 400 ``audio_too_long``) as
    soon as more than ``max_duration_s`` seconds have been decoded or the container says it is longer.
    """
    channels, rate = _decode(data, max_duration_s, split=False)
    return channels[0], rate


def decode_channels(
    data: bytes, max_duration_s: float | None = DEFAULT_MAX_DURATION_S
) -> tuple[list[bytes], int]:
    """Like :func:`decode_any`, but each channel of the stream separately: ([pcm per channel], rate)."""
    return _decode(data, max_duration_s, split=True)


def _decode(data: bytes, max_duration_s: float | None, split: bool) -> tuple[list[bytes], int]:
    if not data:
        raise UndecodableAudio("the input is empty")
    parts: list[np.ndarray] = []
    rate = 0
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = next((s for s in container.streams if s.type == "audio"), None)
            if stream is None:
                kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
                raise UndecodableAudio(f"the input has no audio stream (streams: {kinds})")
            if max_duration_s is not None and container.duration is not None:
                declared = container.duration / av.time_base
                if declared > max_duration_s + 1.0:
                    raise _too_long(max_duration_s)
            resampler: av.AudioResampler | None = None
            limit = math.inf
            for frame in container.decode(stream):
                if resampler is None:
                    rate = int(frame.sample_rate or stream.codec_context.sample_rate or 0)
                    if rate <= 0:
                        raise UndecodableAudio("the audio stream has no sample rate")
                    # Planar s16 keeps the channels apart; packed mono is FFmpeg's down-mix.
                    layout = frame.layout.name if split else "mono"
                    resampler = av.AudioResampler(format="s16p" if split else "s16", layout=layout, rate=rate)
                    if max_duration_s is not None:
                        limit = max_duration_s * rate
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray()
                    parts.append(chunk if split else chunk.reshape(1, -1))
                    total += chunk.shape[-1]
                if total > limit:
                    raise _too_long(max_duration_s)
            if resampler is not None:
                for out in resampler.resample(None):
                    chunk = out.to_ndarray()
                    parts.append(chunk if split else chunk.reshape(1, -1))
    except av.FFmpegError as exc:
        raise UndecodableAudio(f"cannot decode audio: {exc}") from exc
    if resampler is None:
        raise UndecodableAudio("the audio stream holds no decodable audio frames")
    if not parts:
        return [b""], rate
    planes = np.concatenate(parts, axis=1).astype("<i2", copy=False)
    return [np.ascontiguousarray(plane).tobytes() for plane in planes], rate


def _too_long(max_duration_s: float | None) -> AudioTooLong:
    return AudioTooLong(f"The audio is longer than the maximum of {max_duration_s:g} seconds.")


def to_16k(pcm: bytes, rate: int) -> bytes:
    """Mono s16le at ``rate`` → mono s16le at 16 kHz (soxr, high quality); unchanged when already 16 kHz."""
    if rate <= 0:
        raise ValueError(f"invalid sample rate {rate}")
    pcm = pcm[: len(pcm) // 2 * 2]
    if rate == TARGET_RATE or not pcm:
        return pcm
    import soxr

    samples = np.frombuffer(pcm, dtype="<i2")
    out = soxr.resample(samples, rate, TARGET_RATE, quality="HQ")  # int16 in, int16 out (soxr clips)
    return np.asarray(out, dtype="<i2").tobytes()


class Resampler16k:
    """Streaming :func:`to_16k`: feed s16le chunks at ``rate``, get s16le at 16 kHz back.

    It resamples in float and rounds itself: soxr's own int16 output dithers, differently for every split
    of the input (up to 2 LSB on a third of the samples), and a live transcript must not depend on the
    client's chunk size.
    """

    def __init__(self, rate: int) -> None:
        if rate <= 0:
            raise ValueError(f"invalid sample rate {rate}")
        self.rate = rate
        self._carry = b""
        self._stream = None
        if rate != TARGET_RATE:
            import soxr

            self._stream = soxr.ResampleStream(rate, TARGET_RATE, 1, dtype="float32", quality="HQ")

    def feed(self, pcm: bytes, last: bool = False) -> bytes:
        data = self._carry + pcm
        cut = len(data) // 2 * 2
        self._carry = data[cut:]
        data = data[:cut]
        if self._stream is None:
            return data
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / np.float32(32768.0)
        out = self._stream.resample_chunk(samples, last=last)
        return np.clip(np.round(out * np.float32(32768.0)), -32768, 32767).astype("<i2").tobytes()


def _active_rms(samples: np.ndarray) -> float:
    """RMS (full scale = 1) of the loudest half of the 20 ms frames of float ``samples``."""
    frames = samples.size // _FRAME
    if frames == 0:
        return float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0
    energy = np.mean(np.square(samples[: frames * _FRAME].reshape(frames, _FRAME)), axis=1)
    loud = np.partition(energy, frames // 2)[frames // 2 :]
    return float(np.sqrt(np.mean(loud)))


def gain_for_level(
    rms: float,
    peak: float,
    target_dbfs: float = TARGET_DBFS,
    tolerance_db: float = TOLERANCE_DB,
    max_gain_db: float = MAX_GAIN_DB,
) -> float:
    """The linear gain for speech at active RMS ``rms`` with ``peak`` (full scale = 1); see the constants."""
    if rms <= 10 ** (SILENCE_DBFS / 20) or peak <= 0.0:
        return 1.0
    level_db = 20 * math.log10(rms)
    if abs(level_db - target_dbfs) <= tolerance_db:
        return 1.0
    gain = min(10 ** ((target_dbfs - level_db) / 20), 10 ** (max_gain_db / 20), 10 ** (PEAK_DBFS / 20) / peak)
    return max(gain, 10 ** (-max_gain_db / 20))


def loudness_gain(
    samples: np.ndarray, target_dbfs: float = TARGET_DBFS, tolerance_db: float = TOLERANCE_DB
) -> float:
    """The linear gain :func:`normalize_loudness` applies to int16 ``samples``."""
    if samples.size == 0:
        return 1.0
    audio = np.asarray(samples, dtype=np.float32) / 32768.0
    return gain_for_level(_active_rms(audio), float(np.max(np.abs(audio))), target_dbfs, tolerance_db)


def apply_gain(samples: np.ndarray, gain: float) -> np.ndarray:
    """int16 ``samples`` times ``gain``, rounded and clipped to int16."""
    if gain == 1.0:
        return np.asarray(samples, dtype=np.int16)
    scaled = np.round(np.asarray(samples, dtype=np.float32) * gain)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def normalize_loudness(
    samples: np.ndarray, target_dbfs: float = TARGET_DBFS, tolerance_db: float = TOLERANCE_DB
) -> np.ndarray:
    """int16 mono ``samples``, brought to ``target_dbfs`` when their speech level is more than
    ``tolerance_db`` away from it (bounded gain, no clipping)."""
    return apply_gain(samples, loudness_gain(samples, target_dbfs, tolerance_db))


class LevelTracker:
    """Streaming loudness normalisation: the gain follows the level of the audio heard so far.

    The gain is re-estimated from all the 20 ms frames heard so far, with the rule of
    :func:`normalize_loudness`, at fixed points of the stream: every ``UNESTIMATED_STEP`` samples until
    there is speech to estimate from, then once per second of audio, and at once at a sample that the
    current gain (over 1) would push past the peak limit (then with 2 dB to spare for higher peaks). Each
    gain holds from the sample where it was chosen and is chosen on what came before (that sample's peak
    included), so the output never depends on how the audio was split into chunks: the same audio gives the
    same samples, and so the same transcript, whether a client sends 20 ms or 3 s at a time or the decoder
    catches up on a backlog.
    """

    UNESTIMATED_STEP = 1600  # 100 ms
    # After a clip-driven re-estimate, 2 dB to spare until the next scheduled one: peaks that keep rising (a
    # crescendo, clicks) then cost a re-estimate each time they grow by a quarter, not at every new maximum
    # (a train of rising clicks: 39 re-estimates in 20 s instead of 783).
    CLIP_MARGIN = 1.26

    def __init__(self, target_dbfs: float = TARGET_DBFS, tolerance_db: float = TOLERANCE_DB) -> None:
        self.target_dbfs = target_dbfs
        self.tolerance_db = tolerance_db
        self.gain = 1.0
        self._energies: list[np.ndarray] = []
        self._peak = 0.0
        self._pending = np.zeros(0, np.float32)
        self._pos = 0  # samples processed
        self._next_update = self.UNESTIMATED_STEP  # where the next scheduled re-estimate falls
        self._estimated = False
        self._peak_limit = 10 ** (PEAK_DBFS / 20)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """The next int16 chunk, each stretch of it at the gain in force there."""
        samples = np.asarray(samples, dtype=np.int16)
        parts: list[np.ndarray] = []
        done = 0
        while done < samples.size:
            end = min(samples.size, done + self._next_update - self._pos)
            stretch = samples[done:end]
            clip_at = self._first_clip(stretch)
            if clip_at is not None:
                end = done + clip_at
                stretch = samples[done:end]
            self._hear(stretch)
            parts.append(apply_gain(stretch, self.gain))
            done = end
            if clip_at is not None:
                self._peak = max(self._peak, abs(int(samples[end])) / 32768.0)
                self._update(peak_margin=self.CLIP_MARGIN)
                # The new gain keeps that sample under the limit (its peak is in the estimate): it is taken
                # at once, so the search for the next one starts after it.
                self._hear(samples[end : end + 1])
                parts.append(apply_gain(samples[end : end + 1], self.gain))
                done = end + 1
            elif self._pos == self._next_update:
                self._update()
        return np.concatenate(parts) if parts else samples[:0]

    def _first_clip(self, stretch: np.ndarray) -> int | None:
        """Index of the first sample of ``stretch`` that the gain would push past the peak limit."""
        if self.gain <= 1.0 or stretch.size == 0:
            return None
        threshold = self._peak_limit * 32768.0 / self.gain
        over = np.flatnonzero(np.abs(stretch.astype(np.int32)) > threshold)
        return int(over[0]) if over.size else None

    def _hear(self, samples: np.ndarray) -> None:
        """Count ``samples`` (before any gain) into the level and peak estimates."""
        if samples.size == 0:
            return
        audio = samples.astype(np.float32) / 32768.0
        self._peak = max(self._peak, float(np.max(np.abs(audio))))
        pending = np.concatenate([self._pending, audio])
        frames = pending.size // _FRAME
        if frames:
            block = pending[: frames * _FRAME].reshape(frames, _FRAME)
            self._energies.append(np.mean(np.square(block), axis=1))
        self._pending = pending[frames * _FRAME :]
        self._pos += samples.size

    def _update(self, peak_margin: float = 1.0) -> None:
        """Re-estimate the gain now (its peak limit ``peak_margin`` times lower) and schedule the next."""
        energy = np.concatenate(self._energies) if self._energies else np.zeros(0)
        if len(self._energies) > 1:
            self._energies = [energy]
        if energy.size:
            loud = np.partition(energy, energy.size // 2)[energy.size // 2 :]
            rms = float(np.sqrt(np.mean(loud)))
            self._estimated = rms > 10 ** (SILENCE_DBFS / 20)
            self.gain = gain_for_level(rms, self._peak * peak_margin, self.target_dbfs, self.tolerance_db)
        self._next_update = self._pos + (TARGET_RATE if self._estimated else self.UNESTIMATED_STEP)


def prepare(pcm: bytes, rate: int, normalize: bool = True) -> np.ndarray:
    """Mono s16le at ``rate`` → int16 samples at 16 kHz, loudness-normalised (:func:`normalize_loudness`)."""
    samples = np.frombuffer(to_16k(pcm, rate), dtype="<i2").astype(np.int16)
    return normalize_loudness(samples) if normalize else samples
