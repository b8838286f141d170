"""Speech to text: the engine contract (:mod:`chorus.stt.base`) and the embedded pocketsphinx engine.

Importing this package loads no model and no native library; :mod:`chorus.stt.pocketsphinx_engine` does so
lazily, on an engine's first request.
"""

from chorus.stt.base import (
    Final,
    Partial,
    StreamEvent,
    STTCapabilities,
    STTEngine,
    STTStream,
    STTUnavailable,
    TranscribeOptions,
    Transcript,
    UnsupportedLanguage,
    Word,
    iso639_3,
)

__all__ = [
    "Final",
    "Partial",
    "STTCapabilities",
    "STTEngine",
    "STTStream",
    "STTUnavailable",
    "StreamEvent",
    "TranscribeOptions",
    "Transcript",
    "UnsupportedLanguage",
    "Word",
    "iso639_3",
]
