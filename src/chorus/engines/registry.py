"""Building the configured engines and finding them again.

There are no module-level engine instances: a registry is built from a list of names (or a settings
object) at start-up and passed to whoever needs it. Engines that cannot run here are still listed,
unavailable, with the reason and the fix.

With ``settings.resolved_engine_workers > 0`` the engines that serialise on a process-wide lock
(Flite, eSpeak NG) run in that many worker processes each (:class:`chorus.engines.pool.PooledEngine`);
with 0 they run in this process. Call :meth:`EngineRegistry.close` at shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from chorus.engines.base import (
    EngineCapabilities,
    EngineUnavailable,
    EngineVoice,
    PCMFormat,
    SynthesisRequest,
    TTSEngine,
)

log = logging.getLogger(__name__)

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


def _build_piper(settings: Any) -> TTSEngine:
    from chorus.engines.neural import build_piper

    return build_piper(settings)


def _build_kokoro(settings: Any) -> TTSEngine:
    from chorus.engines.neural import build_kokoro

    return build_kokoro(settings)


# Engine name → factory taking a settings-like object (attributes read with getattr, all optional).
# Neural engines stay in process: onnxruntime sessions run concurrently and release the GIL.
ENGINE_FACTORIES: dict[str, Callable[[Any], TTSEngine]] = {
    "flite": _build_flite,
    "espeak-ng": _build_espeak,
    "piper": _build_piper,
    "kokoro": _build_kokoro,
}

# Engines that gain from worker processes: each process synthesises one sentence at a time because of
# the C library's process-wide rand(). Engines that parallelise inside one process stay in process.
POOLED_ENGINES = frozenset({"flite", "espeak-ng"})


@dataclass(frozen=True)
class EngineSpec:
    """A picklable recipe for one engine: its name and the settings its factory reads.

    Calling it builds the engine, which is how a worker process builds its own copy.
    """

    name: str
    settings: Any = None

    def __call__(self) -> TTSEngine:
        factory = ENGINE_FACTORIES.get(self.name)
        return factory(self.settings) if factory else UnknownEngine(self.name)


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

    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities(False, False, False, (), 16_000)

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
        ``espeak_data_path``, and ``resolved_engine_workers`` (worker processes per pooled engine; 0 or
        absent: in process). Names nobody implements become unavailable placeholders. Pools start in
        parallel and are ready when this returns.
        """
        workers = _worker_count(settings)
        engines: list[TTSEngine] = []
        seen: set[str] = set()
        for raw in names:
            name = canonical_engine_name(raw)
            if not name or name in seen:
                continue
            seen.add(name)
            factory = ENGINE_FACTORIES.get(name)
            if factory is None:
                engines.append(UnknownEngine(name))
            elif workers > 0 and name in POOLED_ENGINES and _picklable(settings):
                from chorus.engines.pool import PooledEngine

                engines.append(PooledEngine(EngineSpec(name, settings), workers, name=name, wait=False))
            else:
                engines.append(factory(settings))
        for engine in engines:
            wait_ready = getattr(engine, "wait_ready", None)
            if wait_ready is not None:
                wait_ready()
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

    def close(self) -> None:
        """Stop the worker processes of pooled engines (in-process engines need nothing). Idempotent."""
        for engine in self._engines.values():
            close = getattr(engine, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()


def _worker_count(settings: Any) -> int:
    try:
        return max(0, int(getattr(settings, "resolved_engine_workers", 0) or 0))
    except (TypeError, ValueError):
        return 0


def _picklable(settings: Any) -> bool:
    try:
        pickle.dumps(settings)
    except Exception as exc:  # noqa: BLE001 - any failure means the workers cannot get the settings
        log.warning("engine settings cannot be sent to worker processes (%s); engines run in process", exc)
        return False
    return True
