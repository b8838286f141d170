"""Building the configured engines and finding them again.

There are no module-level engine instances: a registry is built from a list of names (or a settings
object) at start-up and passed to whoever needs it. Engines that cannot run here are still listed,
unavailable, with the reason and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from chorus.engines.base import EngineUnavailable, EngineVoice, PCMFormat, SynthesisRequest, TTSEngine

# Spellings accepted for each engine name.
_ALIASES = {"espeak": "espeak-ng", "espeak_ng": "espeak-ng", "espeakng": "espeak-ng"}


def _build_flite(settings: Any) -> TTSEngine:
    from chorus.engines.flite import FliteEngine

    options: dict[str, Any] = {}
    if (library := getattr(settings, "flite_library", None)) is not None:
        options["library"] = library
    return FliteEngine(getattr(settings, "flite_voices", None), **options)


def _build_espeak(settings: Any) -> TTSEngine:
    from chorus.engines.espeak import EspeakEngine

    options: dict[str, Any] = {"data_path": getattr(settings, "espeak_data_path", None)}
    if (library := getattr(settings, "espeak_library", None)) is not None:
        options["library"] = library
    return EspeakEngine(**options)


# Engine name → factory taking a settings-like object (attributes read with getattr, all optional).
ENGINE_FACTORIES: dict[str, Callable[[Any], TTSEngine]] = {
    "flite": _build_flite,
    "espeak-ng": _build_espeak,
}


class UnknownEngine:
    """Stands in for an engine name nobody implements, so a typo in settings is reported, not fatal."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._reason = f"unknown engine {name!r}; known engines: {', '.join(ENGINE_FACTORIES)}"

    def available(self) -> bool:
        return False

    def unavailable_reason(self) -> str | None:
        return self._reason

    def voices(self) -> list[EngineVoice]:
        return []

    def languages(self) -> list[tuple[str, str]]:
        return []

    def output_format(self) -> PCMFormat:
        return PCMFormat(16_000)

    def synthesize(self, request: SynthesisRequest) -> Iterator[Any]:
        raise EngineUnavailable(self._reason)


def canonical_engine_name(name: str) -> str:
    key = name.strip().lower()
    return _ALIASES.get(key, key)


class EngineRegistry:
    """The engines this server was configured with, by name, in configuration order."""

    def __init__(self, engines: Iterable[TTSEngine]) -> None:
        self._engines: dict[str, TTSEngine] = {}
        for engine in engines:
            if engine.name in self._engines:
                raise ValueError(f"engine {engine.name!r} is registered twice")
            self._engines[engine.name] = engine

    @classmethod
    def from_names(cls, names: Sequence[str], settings: Any = None) -> EngineRegistry:
        """Build the named engines (duplicates and alias spellings collapse to one).

        ``settings`` may carry engine options: ``flite_voices``, ``flite_library``, ``espeak_library``,
        ``espeak_data_path``. Names nobody implements become unavailable placeholders.
        """
        engines: list[TTSEngine] = []
        seen: set[str] = set()
        for raw in names:
            name = canonical_engine_name(raw)
            if not name or name in seen:
                continue
            seen.add(name)
            factory = ENGINE_FACTORIES.get(name)
            engines.append(factory(settings) if factory else UnknownEngine(name))
        return cls(engines)

    @classmethod
    def from_settings(cls, settings: Any) -> EngineRegistry:
        """Build the engines listed in ``settings.engines`` (default: flite and espeak-ng)."""
        names = getattr(settings, "engines", None) or list(ENGINE_FACTORIES)
        return cls.from_names(names, settings)

    def get(self, name: str) -> TTSEngine | None:
        """The engine called ``name``, or None when it was not configured."""
        return self._engines.get(canonical_engine_name(name))

    def __getitem__(self, name: str) -> TTSEngine:
        engine = self.get(name)
        if engine is None:
            raise KeyError(name)
        return engine

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[TTSEngine]:
        return iter(self._engines.values())

    def __len__(self) -> int:
        return len(self._engines)

    def names(self) -> list[str]:
        return list(self._engines)

    def available(self) -> list[TTSEngine]:
        """The configured engines that can synthesise here."""
        return [engine for engine in self._engines.values() if engine.available()]

    def all_voices(self) -> list[EngineVoice]:
        """Every premade voice of every available engine."""
        return [voice for engine in self.available() for voice in engine.voices()]

    def find_voice(self, engine: str, native_id: str) -> EngineVoice | None:
        found = self.get(engine)
        if found is None or not found.available():
            return None
        return next((voice for voice in found.voices() if voice.native_id == native_id), None)

    def status(self) -> dict[str, str | None]:
        """Engine name → None when available, else why not and how to fix it."""
        return {name: engine.unavailable_reason() for name, engine in self._engines.items()}
