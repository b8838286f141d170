"""Pure ASGI middleware (safe for streamed bodies): request ids and limit headers on every response."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestIdMiddleware:
    """Gives every request an id, exposed as ``request-id``, ``xi-request-id`` and ``x-trace-id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request_id = uuid.uuid4().hex
        state["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name in (b"request-id", b"xi-request-id", b"x-trace-id"):
                    if name not in present:
                        headers.append((name, request_id.encode()))
                lease = state.get("concurrency_lease")
                if lease is not None and b"current-concurrent-requests" not in present:
                    headers.append((b"current-concurrent-requests", str(lease.current).encode()))
                    headers.append((b"maximum-concurrent-requests", str(lease.maximum).encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
