"""The realtime speech-to-text WebSocket, ``/v1/speech-to-text/realtime``, as ElevenLabs' Scribe AsyncAPI
defines it (the official SDKs' ``speech_to_text.realtime.connect``).

The socket is always accepted; what goes wrong before the session starts is reported as one
``{message_type, error}`` message and the socket closes: ``auth_error`` (no or bad ``xi-api-key`` header or
``token`` query parameter, or a key without ``speech_to_text``), ``invalid_request`` (a query parameter out
of range), ``rate_limited`` (the key's rate or concurrency limit), ``resource_exhausted`` (the server's
session limit). Then ``session_started`` and the session (:mod:`chorus.services.realtime_stt`).

A single-use ``token`` (type ``realtime_scribe``) takes precedence over an API key, as the SDKs expect. The
session holds one of the key's concurrency slots while it is open.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.datastructures import QueryParams

from chorus.api import json_input
from chorus.api.routes.tts_ws import _key_from
from chorus.audio.decode import g711_to_pcm
from chorus.errors import ChorusError, Forbidden, QuotaExceeded, TooManyRequests
from chorus.services.accounts import Principal
from chorus.services.container import Services
from chorus.services.limits import Lease
from chorus.services.realtime_stt import (
    AUDIO_FORMATS,
    NORMAL,
    REALTIME_MODELS,
    RealtimeConfig,
    RealtimeError,
    RealtimeSession,
)

router = APIRouter()

MAX_KEYTERMS = 50
MAX_KEYTERM_CHARS = 20
_RANGES: dict[str, tuple[float, float]] = {
    "vad_silence_threshold_secs": (0.3, 3.0),
    "vad_threshold": (0.1, 0.9),
    "min_speech_duration_ms": (50, 2000),
    "min_silence_duration_ms": (50, 2000),
}
# Accepted by the protocol but not implemented: refusing them beats silently ignoring them.
_NOT_YET = {
    "entity_detection": "entity detection",
    "entity_redaction": "entity redaction",
    "transcript_edit": "transcript editing",
}


def _invalid(message: str) -> RealtimeError:
    return RealtimeError("invalid_request", message)


def parse_config(query: QueryParams) -> RealtimeConfig:
    """The session's configuration from the WebSocket's query (raises ``invalid_request``)."""

    def flag(name: str, default: bool = False) -> bool:
        value = query.get(name)
        if value is None or value == "":
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise _invalid(f"{name} must be true or false, got {value!r}.")

    def number(name: str, default: float, integer: bool = False) -> float:
        value = query.get(name)
        low, high = _RANGES[name]
        if value is None or value == "":
            return default
        try:
            parsed = float(value)
        except ValueError:
            parsed = math.nan
        if not math.isfinite(parsed) or (integer and parsed != int(parsed)) or not low <= parsed <= high:
            kind = "an integer" if integer else "a number"
            raise _invalid(f"{name} must be {kind} between {low:g} and {high:g}, got {value!r}.")
        return parsed

    model_id = query.get("model_id")
    if not model_id:
        raise _invalid(f"model_id is required ({' or '.join(REALTIME_MODELS)}).")
    if model_id not in REALTIME_MODELS:
        raise _invalid(f"model_id must be one of {', '.join(REALTIME_MODELS)}, got {model_id!r}.")
    audio_format = query.get("audio_format") or "pcm_16000"
    if audio_format not in AUDIO_FORMATS:
        raise _invalid(f"audio_format must be one of {', '.join(AUDIO_FORMATS)}, got {audio_format!r}.")
    commit_strategy = query.get("commit_strategy") or "manual"
    if commit_strategy not in ("manual", "vad"):
        raise _invalid(f"commit_strategy must be manual or vad, got {commit_strategy!r}.")
    keyterms = tuple(term.strip() for term in query.getlist("keyterms"))
    if len(keyterms) > MAX_KEYTERMS:
        raise _invalid(f"At most {MAX_KEYTERMS} keyterms are allowed, got {len(keyterms)}.")
    for term in keyterms:
        if not term or len(term) > MAX_KEYTERM_CHARS:
            raise _invalid(f"Each keyterm must have 1 to {MAX_KEYTERM_CHARS} characters, got {term!r}.")
    for name, feature in _NOT_YET.items():
        if any(v.strip() for v in query.getlist(name)):
            raise _invalid(f"{name} ({feature}) is not supported by this server.")
    if flag("no_verbatim"):
        raise _invalid("no_verbatim is not supported by this server.")
    include_timestamps = flag("include_timestamps")
    filter_background_audio = flag("filter_background_audio")
    if filter_background_audio:
        if include_timestamps:
            raise _invalid("filter_background_audio cannot be combined with include_timestamps.")
        raise _invalid("filter_background_audio is not supported by this server.")
    return RealtimeConfig(
        model_id=model_id,
        audio_format=audio_format,
        commit_strategy=commit_strategy,  # type: ignore[arg-type]
        vad_silence_threshold_secs=number("vad_silence_threshold_secs", 1.5),
        vad_threshold=number("vad_threshold", 0.4),
        min_speech_duration_ms=int(number("min_speech_duration_ms", 100, integer=True)),
        min_silence_duration_ms=int(number("min_silence_duration_ms", 100, integer=True)),
        language_code=query.get("language_code") or None,
        secondary_languages=tuple(v for v in query.getlist("secondary_languages") if v.strip()),
        include_timestamps=include_timestamps,
        include_language_detection=flag("include_language_detection"),
        keyterms=keyterms,
        enable_logging=flag("enable_logging", True),
    )


def _input_error(message: str) -> RealtimeError:
    return RealtimeError("input_error", message, fatal=False)


def parse_chunk(message: Any, config: RealtimeConfig) -> tuple[bytes, bool, str | None]:
    """``(s16le audio, commit, previous_text)`` of an ``input_audio_chunk`` (raises ``input_error``)."""
    if not isinstance(message, dict):
        raise _input_error("Messages must be JSON objects.")
    if message.get("message_type") != "input_audio_chunk":
        raise _input_error(
            f"Unknown message_type {message.get('message_type')!r}: only input_audio_chunk is accepted."
        )
    audio = message.get("audio_base_64")
    if audio is None:
        audio = ""
    if not isinstance(audio, str):
        raise _input_error("audio_base_64 must be a base64 string.")
    try:
        data = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise _input_error("audio_base_64 is not valid base64.") from None
    commit = message.get("commit", False)
    if commit is None:
        commit = False
    if not isinstance(commit, bool):
        raise _input_error("commit must be true or false.")
    rate = message.get("sample_rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int)):
        raise _input_error("sample_rate must be an integer.")
    if rate is not None and rate != config.sample_rate:
        raise _input_error(
            f"sample_rate {rate} does not match the session's audio_format {config.audio_format} "
            f"({config.sample_rate} Hz)."
        )
    previous_text = message.get("previous_text")
    if previous_text is not None and not isinstance(previous_text, str):
        raise _input_error("previous_text must be a string.")
    if config.codec == "ulaw":
        data = g711_to_pcm(data, "ulaw")
    return data, commit, previous_text or None


class _Channel:
    """Sends on the socket from the session's worker and the receive loop alike, one message at a time."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.open = True
        self._lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            if not self.open:
                return
            try:
                await self.ws.send_text(json.dumps(payload, ensure_ascii=False))
            except Exception:  # the client went away; the receive loop will notice
                self.open = False

    async def fail(self, error: RealtimeError) -> None:
        await self.send(error.payload())
        await self.close(error.close_code, error.error)

    async def close(self, code: int = NORMAL, reason: str = "") -> None:
        async with self._lock:
            if self.open:
                self.open = False
                with contextlib.suppress(Exception):
                    await self.ws.close(code=code, reason=reason[:120])


def _as_realtime(exc: ChorusError) -> RealtimeError:
    if isinstance(exc, QuotaExceeded):
        return RealtimeError("quota_exceeded", exc.message)
    if isinstance(exc, TooManyRequests):
        return RealtimeError("rate_limited", exc.message)
    if exc.http_status in (401, 403) or isinstance(exc, Forbidden):
        return RealtimeError("auth_error", exc.message)
    return RealtimeError("error", exc.message)


async def _authenticate(ws: WebSocket, services: Services) -> Principal:
    """The caller: a single-use ``token`` (type realtime_scribe) if given, else the API key."""
    token = ws.query_params.get("token")
    if token:
        principal = await services.tokens.redeem(token, "realtime_scribe")
    else:
        principal = await services.accounts.authenticate(_key_from(ws, None))
    principal.require("speech_to_text")
    services.rate_limiter.hit(
        principal.key_id, principal.rate_limit_per_minute or services.settings.rate_limit_per_minute
    )
    return principal


async def _next_message(ws: WebSocket, session: RealtimeSession, limit_s: float) -> Any:
    """The next client message (parsed JSON; None when the client left), unless the session fails or its
    time runs out first (then that error is raised)."""
    receive = asyncio.create_task(ws.receive())
    failed = asyncio.create_task(session.failed.wait())
    try:
        await asyncio.wait({receive, failed}, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        failed.cancel()
    if not receive.done():
        receive.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receive
        if session.failure is not None:
            raise session.failure
        raise RealtimeError(
            "session_time_limit_exceeded",
            f"The session reached its time limit of {session.limits.max_session_s:g} seconds.",
        )
    event = receive.result()
    if event["type"] == "websocket.disconnect":
        return None
    text = event.get("text")
    if text is None:
        return _BINARY
    try:
        return json_input.loads(text)
    except json.JSONDecodeError:
        return _NOT_JSON


_BINARY = object()
_NOT_JSON = object()


async def _pump(ws: WebSocket, channel: _Channel, session: RealtimeSession) -> None:
    """Feed the client's chunks to the session until the client leaves or the session must end."""
    deadline = time.monotonic() + session.limits.max_session_s
    while True:
        message = await _next_message(ws, session, max(0.0, deadline - time.monotonic()))
        if message is None:
            return
        try:
            if message is _BINARY:
                raise _input_error("Binary frames are not accepted: send input_audio_chunk JSON messages.")
            if message is _NOT_JSON:
                raise _input_error("Messages must be JSON objects.")
            pcm, commit, previous_text = parse_chunk(message, session.config)
            await session.push(pcm, commit=commit, previous_text=previous_text)
        except RealtimeError as exc:
            if exc.fatal:
                raise
            await channel.send(exc.payload())


@router.websocket("/v1/speech-to-text/realtime")
async def realtime_transcription(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    await ws.accept()
    channel = _Channel(ws)
    lease: Lease | None = None
    session: RealtimeSession | None = None
    try:
        try:
            principal = await _authenticate(ws, services)
            config = parse_config(ws.query_params)
            maximum = principal.max_concurrent_requests or services.settings.max_concurrent_requests
            lease = services.concurrency.acquire(principal.key_id, maximum)
        except ChorusError as exc:
            raise _as_realtime(exc) from None
        session = await services.realtime_stt.open(principal, config, channel.send)
        await channel.send(session.started_message())
        await _pump(ws, channel, session)
        await channel.close(NORMAL)
    except RealtimeError as exc:
        await channel.fail(exc)
    except WebSocketDisconnect:
        pass
    finally:
        if session is not None:
            await session.aclose()
        if lease is not None:
            lease.release()
