"""The output formats of the ElevenLabs API (``output_format=mp3_44100_128`` and friends)."""

from __future__ import annotations

from dataclasses import dataclass

# Exactly the names the ElevenLabs API accepts, in its documentation's order.
OUTPUT_FORMATS: tuple[str, ...] = (
    "mp3_22050_32",
    "mp3_24000_48",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_32000",
    "pcm_44100",
    "pcm_48000",
    "ulaw_8000",
    "alaw_8000",
    "opus_48000_32",
    "opus_48000_64",
    "opus_48000_96",
    "opus_48000_128",
    "opus_48000_192",
    "wav_8000",
    "wav_16000",
    "wav_22050",
    "wav_24000",
    "wav_32000",
    "wav_44100",
    "wav_48000",
)

DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"

_MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "pcm": "audio/pcm",
    "ulaw": "audio/basic",  # RFC 2046: 8 kHz mono mu-law
    "alaw": "audio/alaw",
    "opus": "audio/ogg",  # Opus in an Ogg container
    "wav": "audio/wav",
}
_EXTENSIONS = {"mp3": "mp3", "pcm": "pcm", "ulaw": "ulaw", "alaw": "alaw", "opus": "opus", "wav": "wav"}
_BITRATE_CODECS = frozenset({"mp3", "opus"})


@dataclass(frozen=True)
class OutputFormat:
    """An encoding of mono speech: codec, sample rate and (for mp3 and opus) bitrate."""

    codec: str  # "mp3" | "pcm" | "ulaw" | "alaw" | "opus" | "wav"
    sample_rate: int
    bitrate_kbps: int | None = None  # None for pcm, ulaw, alaw and wav

    @property
    def name(self) -> str:
        """The API name, e.g. ``mp3_44100_128``."""
        base = f"{self.codec}_{self.sample_rate}"
        return f"{base}_{self.bitrate_kbps}" if self.bitrate_kbps is not None else base

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self.codec]

    @property
    def file_extension(self) -> str:
        return _EXTENSIONS[self.codec]

    @property
    def streamable(self) -> bool:
        """Whether bytes can be sent as they are encoded; a WAV header needs the final length first."""
        return self.codec != "wav"


def parse_output_format(name: str) -> OutputFormat:
    """Parse an ElevenLabs output format name such as ``mp3_44100_128`` or ``pcm_16000``.

    Raises ValueError, listing the accepted names, for anything else.
    """
    key = name.strip().lower() if isinstance(name, str) else ""
    if key not in OUTPUT_FORMATS:
        raise ValueError(
            f"Unsupported output_format {name!r}. Supported formats: {', '.join(OUTPUT_FORMATS)}."
        )
    codec, rate, *rest = key.split("_")
    bitrate = int(rest[0]) if rest and codec in _BITRATE_CODECS else None
    return OutputFormat(codec, int(rate), bitrate)
