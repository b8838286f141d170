"""Client JSON as the API reads it: standard JSON, and text that can be written back out.

Python's ``json`` module accepts more than JSON: ``NaN``, ``Infinity`` and numbers like ``1e400`` that
overflow to infinity. A non-finite number reaching a voice setting or an engine has no meaning, and it
cannot even be echoed back in a validation error (JSON has no way to write it), so :func:`loads` refuses
it as malformed JSON.

A ``\\ud800`` escape (a lone UTF-16 surrogate) is legal JSON syntax but no Unicode character: the string
it parses to cannot be encoded as UTF-8, so storing it, synthesising it or echoing it in an alignment
would fail later. :func:`loads` replaces every lone surrogate with U+FFFD, which keeps each string's
length, so character offsets (alignments) still line up with what the client sent.

:class:`StrictJSONMiddleware` applies this to every JSON request body before FastAPI parses it;
WebSocket handlers call :func:`loads` on each message.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["StrictJSONMiddleware", "clean_text", "json_safe", "loads"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def _constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is too large")
    return value


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (same length)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def json_safe(value: Any) -> Any:
    """``value`` (an error's echo of client input) in a form JSON can always write: bytes become None,
    non-finite numbers their name, lone surrogates U+FFFD."""
    if isinstance(value, bytes | bytearray):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(json_safe(key)): json_safe(item) for key, item in value.items()}
    return value


def loads(text: str | bytes) -> Any:
    """Parse standard JSON. Raises :class:`json.JSONDecodeError` on malformed input, including ``NaN``,
    ``Infinity`` and numbers too large for a double; lone surrogates in strings become U+FFFD."""
    return _parse(text)[0]


def _parse(text: str | bytes) -> tuple[Any, bool]:
    """:func:`loads`, and whether a surrogate was replaced."""
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_finite)
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise
        document = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else text
        raise json.JSONDecodeError(str(exc), document, 0) from None
    cleaned = json_safe(value)  # parsed JSON holds no bytes or non-finite numbers: only surrogates change
    return cleaned, cleaned != value


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class StrictJSONMiddleware:
    """Runs JSON request bodies through :func:`loads` before the route sees them: malformed ones get
    FastAPI's 422 ``json_invalid`` error, lone surrogates are replaced. Other requests pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        if body.strip():
            try:
                value, replaced = _parse(body)
            except json.JSONDecodeError as exc:  # also a body that is not UTF-8
                await _json_invalid(exc, send)
                return
            if replaced:  # otherwise the client's bytes go on exactly as sent
                body = json.dumps(value).encode()
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _json_invalid(exc: json.JSONDecodeError, send: Send) -> None:
    """The error FastAPI gives for a body that is not JSON (``RequestValidationError``, type json_invalid)."""
    payload = {
        "detail": [
            {
                "type": "json_invalid",
                "loc": ["body", exc.pos],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
        ]
    }
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})
