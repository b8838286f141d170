"""Speech engines: the engine contract, and a registry that builds the configured engines.

Importing this package loads no native library and no machine-learning framework; engines are built
by :class:`EngineRegistry` when the server starts.
"""

from chorus.engines.base import (
    AudioChunk,
    EngineUnavailable,
    EngineVoice,
    PCMFormat,
    SynthesisRequest,
    TTSEngine,
    UnknownVoice,
)
from chorus.engines.registry import ENGINE_FACTORIES, EngineRegistry

__all__ = [
    "ENGINE_FACTORIES",
    "AudioChunk",
    "EngineRegistry",
    "EngineUnavailable",
    "EngineVoice",
    "PCMFormat",
    "SynthesisRequest",
    "TTSEngine",
    "UnknownVoice",
]
