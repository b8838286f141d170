"""The TTS WebSockets: ``stream-input`` and ``multi-stream-input``, as ElevenLabs' AsyncAPI defines them.

Client messages are JSON text frames. Audio goes back as ``{"audio": <base64>, "alignment": {...},
"normalizedAlignment": {...}}`` with camelCase, chunk-relative millisecond timings, then ``{"isFinal":
true}``; the single-context socket closes with 1000 after the final message. Errors are sent as
``{"message", "error", "code"}`` before the socket closes.

Deviation from the AsyncAPI text: alignments name their durations ``charDurationsMs``, not the schema's
``charsDurationsMs``, because that is the key the official SDKs (Python and JS, since their Oct-2025
regeneration) and third-party clients read from the live API.

``sync_alignment`` ("include timing data with every audio chunk"): each alignment always travels with
the audio rendered for its characters. With ``sync_alignment=true`` this is strict: every message with
audio carries ``alignment`` and ``normalizedAlignment`` objects (empty lists when it voices no
character, as the encoder's tail), and characters whose audio an encoder (MP3, Opus, u-law...) still
holds wait for the next audio bytes, timed from the first held chunk; only characters after a
generation's last sample (a final space, zero-length) can come with empty audio, and only for PCM, which
has no encoder tail to carry them. Without it, a chunk that voices no character (the encoder's tail) has
null alignments, and a chunk whose encoded bytes are not out yet sends its alignment with empty audio.

Inactivity (``inactivity_timeout``, 1..180 s, default 20) is timed per context, from the last client
message naming it; the clock is stopped while the context has a generation queued or running. On
``stream-input`` a timeout ends the socket with ``input_timeout_exceeded`` (1008). On
``multi-stream-input`` only the idle context is closed: unflushed text is dropped (as ``close_context``
does) and it gets ``{"isFinal": true, "contextId": ...}``, while other contexts go on; a ``""`` or
``" "`` message for a context is a keep-alive that resets that context's clock only. Once no context is
open and no message at all has come for ``inactivity_timeout`` seconds, the socket closes with
``input_timeout_exceeded`` (1008), as ``stream-input`` does.
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

from chorus.api import json_input
from chorus.api.schemas import VoiceSettingsBody
from chorus.audio.encode import StreamEncoder
from chorus.audio.formats import OUTPUT_FORMATS, parse_output_format
from chorus.errors import ChorusError
from chorus.services.accounts import Principal
from chorus.services.alignment import CharAlignment
from chorus.services.container import Services
from chorus.services.limits import Lease
from chorus.services.text_stream import TextBuffer
from chorus.services.tts import TTSInput

router = APIRouter()

MAX_INACTIVITY = 180
MAX_SEED = 4294967295  # as the HTTP endpoints allow
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
        if value is None or value == "":
            return default
        # The words FastAPI takes for a boolean query parameter on the HTTP routes; anything else is refused.
        if value.lower() in ("1", "true", "yes", "on", "t", "y"):
            return True
        if value.lower() in ("0", "false", "no", "off", "f", "n"):
            return False
        raise SocketError(f"{name} must be true or false, got {value!r}.", "invalid_request")

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
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise SocketError(f"seed must be between 0 and {MAX_SEED}.", "invalid_request")
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
    # The spec types the items as numbers: whole-valued floats (120.0, as JSON encoders write them) count.
    if (
        not isinstance(schedule, list)
        or not schedule
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer() for v in schedule
        )
    ):
        raise SocketError("chunk_length_schedule must be a list of integers.", "invalid_generation_config")
    if any(not 50 <= v <= 500 for v in schedule):
        raise SocketError(
            "chunk_length_schedule values must be between 50 and 500.", "invalid_generation_config"
        )
    return [int(v) for v in schedule]


def _timeout_error(seconds: float) -> SocketError:
    return SocketError(
        f"Have not received a new text input within the timeout of {int(seconds)} seconds. Streaming input"
        " terminated. Please make sure to either feed the input in the timely manner, or to send the end of"
        ' input text (empty string "") when done.',
        "input_timeout_exceeded",
    )


async def _read_json(ws: WebSocket) -> dict[str, Any] | None:
    """The next JSON object from the client; None if the client went away."""
    event = await ws.receive()
    if event["type"] == "websocket.disconnect":
        return None
    raw = event.get("text")
    if raw is None:  # a binary frame
        raise SocketError("Messages must be JSON objects sent as text frames.", "invalid_message")
    try:
        message = json_input.loads(raw)
    except json.JSONDecodeError as exc:
        raise SocketError(f"Messages must be JSON objects ({exc.msg}).", "invalid_message") from None
    if not isinstance(message, dict):
        raise SocketError("Messages must be JSON objects.", "invalid_message")
    return message


async def _receive_json(ws: WebSocket, idle_seconds: float) -> dict[str, Any] | None:
    """The next JSON object, within ``idle_seconds`` (the opening message); None if the client went away."""
    try:
        return await asyncio.wait_for(_read_json(ws), timeout=idle_seconds)
    except TimeoutError:
        raise _timeout_error(idle_seconds) from None


@dataclass
class Context:
    """One stream of text and its audio (the single socket has exactly one)."""

    context_id: str | None
    buffer: TextBuffer
    voice_settings: dict[str, Any] | None
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    closed: bool = False
    pending: int = 0  # segments submitted and not yet generated: the inactivity clock stands still
    last_active: float = field(default_factory=lambda: asyncio.get_running_loop().time())

    def touch(self) -> None:
        self.last_active = asyncio.get_running_loop().time()

    def idle_deadline(self, timeout: float) -> float | None:
        """When the context times out, unless something happens first; None while it is generating."""
        return None if self.pending else self.last_active + timeout


class StreamSession:
    """Turns buffered text into generations, one context at a time, in order."""

    def __init__(self, ws: WebSocket, services: Services, principal: Principal, config: SocketConfig) -> None:
        self.ws = ws
        self.services = services
        self.principal = principal
        self.config = config
        self.fmt = parse_output_format(config.output_format)
        self._send_lock = asyncio.Lock()
        self._receive: asyncio.Task[dict[str, Any] | None] | None = None
        self.failure: SocketError | None = None
        self.failed = asyncio.Event()
        self.idle = asyncio.Event()  # set when a context's last queued generation ends (its clock restarts)

    async def poll(self, wait_s: float | None) -> tuple[bool, dict[str, Any] | None]:
        """Wait up to ``wait_s`` seconds (None: no limit) for the next client message.

        Returns ``(True, message)`` (``message`` is None once the client went away), or ``(False, None)``
        when the time is up or a context went idle first. A failed generation's error is raised. A read in
        progress is kept for the next call, so a message is never lost to a timeout.
        """
        if self._receive is None:
            self._receive = asyncio.create_task(_read_json(self.ws))
        waiters = {asyncio.create_task(self.failed.wait()), asyncio.create_task(self.idle.wait())}
        try:
            await asyncio.wait({self._receive, *waiters}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self.idle.clear()
        if self._receive.done():
            receive, self._receive = self._receive, None
            return True, receive.result()
        if self.failure is not None:
            raise self.failure
        return False, None

    async def close(self) -> None:
        """Stop the read in progress, if any (before the socket is closed)."""
        receive, self._receive = self._receive, None
        if receive is not None:
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receive

    async def send(self, payload: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_text(json.dumps(payload, ensure_ascii=False))

    def start(self, context: Context) -> None:
        context.worker = asyncio.create_task(self._work(context))

    async def submit(self, context: Context, segments: list[str]) -> None:
        context.pending += len(segments)
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
            finally:
                context.pending -= 1
                context.touch()
            if not context.pending:
                self.idle.set()

    def _audio_message(
        self,
        context: Context,
        data: bytes,
        alignment: CharAlignment | None,
        normalized: CharAlignment | None,
        origin_s: float,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "audio": base64.b64encode(data).decode(),
            "isFinal": None,
            "normalizedAlignment": normalized.to_ws(origin_s) if normalized is not None else None,
            "alignment": alignment.to_ws(origin_s) if alignment is not None else None,
        }
        if context.context_id is not None:
            payload["contextId"] = context.context_id
        return payload

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
        sync = config.sync_alignment
        # sync_alignment: characters whose audio the encoder still holds, and where the first of them starts.
        held, held_normalized, held_origin = CharAlignment(), CharAlignment(), 0.0
        sent: list[bytes] = []
        completed = False
        try:
            async with aclosing(job.chunks(encoder.feed)) as chunks:
                async for chunk, data in chunks:
                    sent.append(data)
                    if sync:
                        if not len(held) and not len(held_normalized):
                            held_origin = chunk.start_s
                        held.extend(chunk.alignment)
                        held_normalized.extend(chunk.normalized_alignment)
                        if not data:
                            continue
                        payload = self._audio_message(context, data, held, held_normalized, held_origin)
                        held, held_normalized = CharAlignment(), CharAlignment()
                    else:
                        if not data and not len(chunk.alignment):
                            continue
                        payload = self._audio_message(
                            context,
                            data,
                            chunk.alignment if len(chunk.alignment) else None,
                            chunk.normalized_alignment if len(chunk.normalized_alignment) else None,
                            chunk.start_s,
                        )
                    await self.send(payload)
            tail = encoder.flush()
            sent.append(tail)
            if sync and (tail or len(held) or len(held_normalized)):
                await self.send(self._audio_message(context, tail, held, held_normalized, held_origin))
            elif tail:
                await self.send(self._audio_message(context, tail, None, None, 0.0))
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
        try:
            await handler(session, first)
        finally:
            await session.close()
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


def _text_segments(context: Context, message: dict[str, Any], text: str) -> list[str]:
    """Add ``text`` to the buffer; the segments to generate now (``flush``, ``try_trigger_generation``)."""
    segments = context.buffer.add(text) if text else []
    if message.get("flush"):
        segments += context.buffer.flush()
    elif message.get("try_trigger_generation"):
        segments += context.buffer.try_trigger()
    return segments


async def _single(session: StreamSession, first: dict[str, Any]) -> None:
    config = session.config
    timeout = config.inactivity_timeout
    context = Context(None, TextBuffer(_schedule(first), auto_mode=config.auto_mode), _voice_settings(first))
    session.start(context)

    async def handle(message: dict[str, Any], opening: bool) -> bool:
        text = message.get("text")
        if not isinstance(text, str):
            raise SocketError("Every message needs a text field (a string).", "invalid_message")
        context.touch()
        if text == "" and not opening:
            await session.submit(context, context.buffer.flush())
            await session.finish(context)
            return False
        await session.submit(context, _text_segments(context, message, text))
        return True

    loop = asyncio.get_running_loop()
    try:
        if not await handle(first, opening=True):
            return
        while session.failure is None:
            deadline = context.idle_deadline(timeout)
            if deadline is not None and loop.time() >= deadline:
                raise _timeout_error(timeout)
            received, message = await session.poll(None if deadline is None else deadline - loop.time())
            if not received:
                continue
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
    timeout = config.inactivity_timeout
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
        context.touch()  # any message naming the context, "" (keep-alive) included, restarts its clock
        text = message.get("text")
        if text is not None and not isinstance(text, str):
            raise SocketError("text must be a string.", "invalid_message")
        await session.submit(context, _text_segments(context, message, text or ""))
        return True

    async def expire(now: float) -> None:
        """Close the contexts that have been idle for ``timeout`` seconds, each with its final message."""
        for context_id, context in list(contexts.items()):
            deadline = context.idle_deadline(timeout)
            if deadline is None or now < deadline:
                continue
            context.buffer.flush()  # text never flushed is dropped, as close_context drops it
            contexts.pop(context_id)
            await session.finish(context)  # nothing is queued, so this sends its isFinal at once

    loop = asyncio.get_running_loop()
    last_message = loop.time()
    try:
        if not await handle(first):
            return
        while session.failure is None:
            now = loop.time()
            await expire(now)
            if contexts:
                deadlines = [d for c in contexts.values() if (d := c.idle_deadline(timeout)) is not None]
                wait = max(0.0, min(deadlines) - now) if deadlines else None
            elif now - last_message >= timeout:
                raise _timeout_error(timeout)
            else:
                wait = last_message + timeout - now
            received, message = await session.poll(wait)
            if not received:
                continue
            last_message = loop.time()
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
