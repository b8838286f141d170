"""The TTS WebSockets: ``stream-input`` and ``multi-stream-input``, as ElevenLabs' AsyncAPI defines them.

Client messages are JSON text frames. Audio goes back as ``{"audio": <base64>, "alignment": {...},
"normalizedAlignment": {...}}`` with camelCase, chunk-relative millisecond timings, then ``{"isFinal":
true}``; the single-context socket closes with 1000 after the final message. Errors are sent as
``{"message", "error", "code"}`` before the socket closes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from chorus.api.schemas import VoiceSettingsBody
from chorus.audio.encode import StreamEncoder
from chorus.audio.formats import OUTPUT_FORMATS, parse_output_format
from chorus.errors import ChorusError
from chorus.services.accounts import Principal
from chorus.services.container import Services
from chorus.services.limits import Lease
from chorus.services.text_stream import TextBuffer
from chorus.services.tts import TTSInput

router = APIRouter()

MAX_INACTIVITY = 180
POLICY_VIOLATION = 1008


class SocketError(Exception):
    def __init__(self, message: str, error: str, code: int = POLICY_VIOLATION) -> None:
        super().__init__(message)
        self.message, self.error, self.code = message, error, code


@dataclass
class SocketConfig:
    voice_id: str
    model_id: str
    output_format: str
    language_code: str | None
    enable_logging: bool
    enable_ssml_parsing: bool
    inactivity_timeout: float
    sync_alignment: bool
    auto_mode: bool
    apply_text_normalization: str
    seed: int | None


def _config(ws: WebSocket, voice_id: str) -> SocketConfig:
    q = ws.query_params

    def flag(name: str, default: bool) -> bool:
        value = q.get(name)
        return default if value is None else value.lower() in ("1", "true", "yes")

    output_format = q.get("output_format") or "mp3_44100_128"
    if output_format not in OUTPUT_FORMATS or output_format.startswith("wav_"):
        raise SocketError(
            f"output_format {output_format!r} is not a streaming format.", "invalid_output_format"
        )
    try:
        timeout = int(q.get("inactivity_timeout") or 20)
        seed = int(q["seed"]) if q.get("seed") else None
    except ValueError:
        raise SocketError("inactivity_timeout and seed must be integers.", "invalid_request") from None
    if not 1 <= timeout <= MAX_INACTIVITY:
        raise SocketError(f"inactivity_timeout must be between 1 and {MAX_INACTIVITY}.", "invalid_request")
    normalization = q.get("apply_text_normalization") or "auto"
    if normalization not in ("auto", "on", "off"):
        raise SocketError("apply_text_normalization must be auto, on or off.", "invalid_request")
    return SocketConfig(
        voice_id=voice_id,
        model_id=q.get("model_id") or "eleven_multilingual_v2",
        output_format=output_format,
        language_code=q.get("language_code"),
        enable_logging=flag("enable_logging", True),
        enable_ssml_parsing=flag("enable_ssml_parsing", False),
        inactivity_timeout=float(timeout),
        sync_alignment=flag("sync_alignment", False),
        auto_mode=flag("auto_mode", False),
        apply_text_normalization=normalization,
        seed=seed,
    )


def _key_from(ws: WebSocket, message: dict[str, Any] | None) -> str | None:
    """The API key, from the headers, the query, or the first message (every place clients put it)."""
    candidates = [
        ws.headers.get("xi-api-key"),
        ws.headers.get("authorization"),
        ws.query_params.get("authorization"),
        ws.query_params.get("xi_api_key"),
        ws.query_params.get("xi-api-key"),
    ]
    if message:
        candidates += [message.get("xi_api_key"), message.get("xi-api-key"), message.get("authorization")]
    for value in candidates:
        if isinstance(value, str) and value.strip():
            value = value.strip()
            return value[7:].strip() if value.lower().startswith("bearer ") else value
    return None


async def _authenticate(ws: WebSocket, services: Services, message: dict[str, Any] | None) -> Principal:
    """The caller: the ``single_use_token`` query parameter (a single-use ``tts_websocket`` token, for
    browsers; it takes precedence over an API key) if given, else the key :func:`_key_from` finds."""
    token = ws.query_params.get("single_use_token")
    try:
        if token is not None and token.strip():
            principal = await services.tokens.redeem(token, "tts_websocket")
        else:
            principal = await services.accounts.authenticate(_key_from(ws, message))
        principal.require("text_to_speech")
        services.rate_limiter.hit(
            principal.key_id, principal.rate_limit_per_minute or services.settings.rate_limit_per_minute
        )
    except ChorusError as exc:
        raise SocketError(exc.message, exc.status) from None
    return principal


def _voice_settings(message: dict[str, Any]) -> dict[str, Any] | None:
    raw = message.get("voice_settings")
    if raw is None:
        return None
    try:
        return VoiceSettingsBody.model_validate(raw).model_dump(exclude_none=True)
    except ValidationError as exc:
        raise SocketError(
            f"invalid voice_settings: {exc.errors()[0]['msg']}", "invalid_voice_settings"
        ) from None


def _schedule(message: dict[str, Any]) -> list[int] | None:
    config = message.get("generation_config") or {}
    schedule = config.get("chunk_length_schedule") if isinstance(config, dict) else None
    if schedule is None:
        return None
    if not isinstance(schedule, list) or not schedule or not all(isinstance(v, int) for v in schedule):
        raise SocketError("chunk_length_schedule must be a list of integers.", "invalid_generation_config")
    if any(not 50 <= v <= 500 for v in schedule):
        raise SocketError(
            "chunk_length_schedule values must be between 50 and 500.", "invalid_generation_config"
        )
    return schedule


async def _receive_json(ws: WebSocket, idle_seconds: float) -> dict[str, Any] | None:
    """The next JSON object from the client; None if the client went away."""
    try:
        raw = await asyncio.wait_for(ws.receive_text(), timeout=idle_seconds)
    except WebSocketDisconnect:
        return None
    except TimeoutError:
        raise SocketError(
            f"Have not received new text for {int(idle_seconds)} seconds. Closing the connection.",
            "input_timeout_exceeded",
        ) from None
    try:
        message = json.loads(raw)
    except json.JSONDecodeError:
        raise SocketError("Messages must be JSON objects.", "invalid_message") from None
    if not isinstance(message, dict):
        raise SocketError("Messages must be JSON objects.", "invalid_message")
    return message


@dataclass
class Context:
    """One stream of text and its audio (the single socket has exactly one)."""

    context_id: str | None
    buffer: TextBuffer
    voice_settings: dict[str, Any] | None
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    closed: bool = False


class StreamSession:
    """Turns buffered text into generations, one context at a time, in order."""

    def __init__(self, ws: WebSocket, services: Services, principal: Principal, config: SocketConfig) -> None:
        self.ws = ws
        self.services = services
        self.principal = principal
        self.config = config
        self.fmt = parse_output_format(config.output_format)
        self._send_lock = asyncio.Lock()
        self.failure: SocketError | None = None
        self.failed = asyncio.Event()

    async def next_message(self) -> dict[str, Any] | None:
        """The next client message, unless a generation fails first (then its error is raised)."""
        receive = asyncio.create_task(_receive_json(self.ws, self.config.inactivity_timeout))
        failed = asyncio.create_task(self.failed.wait())
        try:
            await asyncio.wait({receive, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            failed.cancel()
        if receive.done():
            return receive.result()
        receive.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receive
        assert self.failure is not None
        raise self.failure

    async def send(self, payload: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_text(json.dumps(payload, ensure_ascii=False))

    def start(self, context: Context) -> None:
        context.worker = asyncio.create_task(self._work(context))

    async def submit(self, context: Context, segments: list[str]) -> None:
        for segment in segments:
            await context.queue.put(segment)

    async def finish(self, context: Context, *, final: bool = True) -> None:
        """Let the context's queued generations complete, then send its final message."""
        if context.closed:
            return
        context.closed = True
        await context.queue.put(None)
        if context.worker is not None:
            await context.worker
        if final and self.failure is None:
            payload: dict[str, Any] = {"isFinal": True}
            if context.context_id is not None:
                payload["contextId"] = context.context_id
            await self.send(payload)

    async def cancel(self, context: Context) -> None:
        context.closed = True
        if context.worker is not None:
            context.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await context.worker

    async def _work(self, context: Context) -> None:
        while True:
            segment = await context.queue.get()
            if segment is None:
                return
            try:
                await self._generate(context, segment)
            except ChorusError as exc:
                # The socket's main loop sends the error and closes; this context stops here.
                self.failure = SocketError(exc.message, exc.status)
                self.failed.set()
                return

    async def _generate(self, context: Context, text: str) -> None:
        config = self.config
        job = await self.services.tts.start(
            self.principal,
            config.voice_id,
            TTSInput(
                text=text,
                model_id=config.model_id,
                voice_settings=context.voice_settings,
                language_code=config.language_code,
                seed=config.seed,
                output_format_name=config.output_format,
                content_type=self.fmt.media_type,
                file_extension=self.fmt.file_extension,
                enable_logging=config.enable_logging,
                apply_text_normalization=config.apply_text_normalization,  # type: ignore[arg-type]
                enable_ssml_parsing=config.enable_ssml_parsing,
            ),
        )
        encoder = StreamEncoder(job.pcm_format, self.fmt)
        sent: list[bytes] = []
        completed = False
        try:
            async with aclosing(job.chunks(encoder.feed)) as chunks:
                async for chunk, data in chunks:
                    sent.append(data)
                    if not data and not len(chunk.alignment):
                        continue
                    payload: dict[str, Any] = {
                        "audio": base64.b64encode(data).decode(),
                        "isFinal": None,
                        "normalizedAlignment": chunk.normalized_alignment.to_ws(chunk.start_s)
                        if len(chunk.normalized_alignment)
                        else None,
                        "alignment": chunk.alignment.to_ws(chunk.start_s) if len(chunk.alignment) else None,
                    }
                    if context.context_id is not None:
                        payload["contextId"] = context.context_id
                    await self.send(payload)
            tail = encoder.flush()
            sent.append(tail)
            if tail:
                payload = {"audio": base64.b64encode(tail).decode(), "isFinal": None}
                if context.context_id is not None:
                    payload["contextId"] = context.context_id
                await self.send(payload)
            completed = True
        finally:
            if completed:
                await job.finish(b"".join(sent))
            else:
                await job.abort()


async def _run(
    ws: WebSocket, voice_id: str, handler: Callable[[StreamSession, dict[str, Any]], Awaitable[None]]
) -> None:
    services: Services = ws.app.state.services
    await ws.accept()
    lease: Lease | None = None
    try:
        config = _config(ws, voice_id)
        first = await _receive_json(ws, config.inactivity_timeout)
        if first is None:
            return
        principal = await _authenticate(ws, services, first)
        maximum = principal.max_concurrent_requests or services.settings.max_concurrent_requests
        try:
            lease = services.concurrency.acquire(principal.key_id, maximum)
        except ChorusError as exc:
            raise SocketError(exc.message, exc.status) from None
        # Check the voice and model before any text arrives, so mistakes surface at once.
        try:
            resolved = await services.voices.resolve(principal, voice_id)
            services.tts.plan(
                services.catalogue.get(config.model_id),
                resolved,
                TTSInput(text=" ", model_id=config.model_id),
            )
        except ChorusError as exc:
            raise SocketError(exc.message, exc.status) from None
        session = StreamSession(ws, services, principal, config)
        await handler(session, first)
        if session.failure is not None:
            raise session.failure
        await ws.close(code=1000)
    except SocketError as exc:
        with contextlib.suppress(Exception):
            await ws.send_text(json.dumps({"message": exc.message, "error": exc.error, "code": exc.code}))
            await ws.close(code=exc.code, reason=exc.message[:120])
    except WebSocketDisconnect:
        pass
    finally:
        if lease is not None:
            lease.release()


async def _single(session: StreamSession, first: dict[str, Any]) -> None:
    config = session.config
    context = Context(None, TextBuffer(_schedule(first), auto_mode=config.auto_mode), _voice_settings(first))
    session.start(context)

    async def handle(message: dict[str, Any], opening: bool) -> bool:
        text = message.get("text")
        if not isinstance(text, str):
            raise SocketError("Every message needs a text field (a string).", "invalid_message")
        if text == "" and not opening:
            await session.submit(context, context.buffer.flush())
            await session.finish(context)
            return False
        segments = context.buffer.add(text)
        trigger = message.get("try_trigger_generation") and len(context.buffer.pending) >= 50
        if message.get("flush") or trigger:
            segments += context.buffer.flush()
        await session.submit(context, segments)
        return True

    try:
        if not await handle(first, opening=True):
            return
        while session.failure is None:
            message = await session.next_message()
            if message is None:
                await session.cancel(context)
                return
            if not await handle(message, opening=False):
                return
    finally:
        if not context.closed:
            await session.cancel(context)


async def _multi(session: StreamSession, first: dict[str, Any]) -> None:
    config = session.config
    contexts: dict[str, Context] = {}
    schedule = _schedule(first)

    def open_context(context_id: str, message: dict[str, Any]) -> Context:
        context = Context(
            context_id,
            TextBuffer(_schedule(message) or schedule, auto_mode=config.auto_mode),
            _voice_settings(message) or _voice_settings(first),
        )
        contexts[context_id] = context
        session.start(context)
        return context

    async def handle(message: dict[str, Any]) -> bool:
        context_id = message.get("context_id") or message.get("contextId") or "default"
        if not isinstance(context_id, str):
            raise SocketError("context_id must be a string.", "invalid_message")
        if message.get("close_socket"):
            for context in list(contexts.values()):
                await session.submit(context, context.buffer.flush())
                await session.finish(context)
            return False
        context = contexts.get(context_id)
        if message.get("close_context"):
            if context is not None:
                await session.cancel(context)
                contexts.pop(context_id, None)
                await session.send({"isFinal": True, "contextId": context_id})
            return True
        if context is None or context.closed:
            context = open_context(context_id, message)
        text = message.get("text")
        if text is not None and not isinstance(text, str):
            raise SocketError("text must be a string.", "invalid_message")
        segments = context.buffer.add(text) if text else []
        if message.get("flush"):
            segments += context.buffer.flush()
        await session.submit(context, segments)
        return True

    await handle(first)
    try:
        while session.failure is None:
            message = await session.next_message()
            if message is None or not await handle(message):
                return
    finally:
        for context in contexts.values():
            if not context.closed:
                await session.cancel(context)


@router.websocket("/v1/text-to-speech/{voice_id}/stream-input")
async def stream_input(ws: WebSocket, voice_id: str) -> None:
    await _run(ws, voice_id, _single)


@router.websocket("/v1/text-to-speech/{voice_id}/multi-stream-input")
async def multi_stream_input(ws: WebSocket, voice_id: str) -> None:
    await _run(ws, voice_id, _multi)
