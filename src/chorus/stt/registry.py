"""Which speech-to-text engine serves the server, chosen by ``Settings.stt_engine``.

* ``pocketsphinx``: the embedded English recogniser (:mod:`chorus.stt.pocketsphinx_engine`);
* ``faster-whisper``: Whisper on CTranslate2 (:mod:`chorus.stt.whisper_engine`); without its model it stays
  configured and every request gets the clear "not available: run `chorus models pull ...`" error;
* ``auto``: faster-whisper when its model is installed (or will be downloaded, ``whisper_download``), else
  pocketsphinx.

Building an engine loads nothing; models load on first use. Engine modules are imported here, lazily, so
``import chorus`` stays light.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

STT_ENGINES = ("pocketsphinx", "faster-whisper", "auto")


def whisper_engine(settings: Any) -> Any:
    """The faster-whisper engine the settings describe (never raises; check ``available()``)."""
    from chorus.stt.whisper_engine import FasterWhisperEngine

    return FasterWhisperEngine.from_settings(settings)


def pocketsphinx_engine(max_decoders: int | None = None) -> Any:
    """The pocketsphinx engine, or None when its packages are missing (reported per request)."""
    try:
        from chorus.stt.pocketsphinx_engine import PocketsphinxEngine
    except ImportError as exc:
        log.warning("pocketsphinx speech to text unavailable: %s", exc)
        return None
    return PocketsphinxEngine(max_decoders=max_decoders)


def choose_stt_engine(settings: Any) -> str:
    """``"pocketsphinx"`` or ``"faster-whisper"``: what ``settings.stt_engine`` resolves to now."""
    choice = str(getattr(settings, "stt_engine", "pocketsphinx") or "pocketsphinx").strip().lower()
    if choice not in STT_ENGINES:
        raise ValueError(f"unknown stt_engine {choice!r}; choose one of {', '.join(STT_ENGINES)}")
    if choice != "auto":
        return choice
    engine = whisper_engine(settings)
    if engine.installed() or engine.available():
        return "faster-whisper"
    return "pocketsphinx"


def build_stt_engine(settings: Any, max_decoders: int | None = None, *, reuse: Any = None) -> Any:
    """The speech-to-text engine for ``settings`` (None when nothing can be built).

    ``max_decoders`` bounds pocketsphinx's decoder pool (how many requests decode at once). ``reuse``: an
    engine built earlier for the same settings; a faster-whisper engine is shared (one model in memory
    serves any number of callers) instead of loading the model twice, pocketsphinx engines are not (each
    owner sizes its own pool).
    """
    choice = choose_stt_engine(settings)
    if choice == "faster-whisper":
        if reuse is not None and getattr(reuse, "name", None) == "faster-whisper":
            return reuse
        engine = whisper_engine(settings)
        reason = engine.unavailable_reason()
        if reason is not None:
            log.warning("speech to text (faster-whisper) unavailable: %s", reason)
        return engine
    return pocketsphinx_engine(max_decoders)
