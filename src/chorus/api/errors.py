"""Exception handlers: ElevenLabs' error shapes for everything, and never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chorus.api.json_input import clean_text, json_safe
from chorus.errors import ChorusError

log = logging.getLogger("chorus.api")

_HTTP_STATUS_NAMES = {
    400: ("invalid_request", "invalid_request"),
    401: ("invalid_api_key", "authentication_error"),
    403: ("missing_permissions", "authorization_error"),
    404: ("not_found", "not_found"),
    405: ("method_not_allowed", "invalid_request"),
    413: ("payload_too_large", "invalid_request"),
    415: ("unsupported_media_type", "invalid_request"),
}


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_body(status: str, message: str, error_type: str, request_id: str | None) -> dict[str, object]:
    return {
        "detail": {
            "status": status,
            "message": message,
            "type": error_type,
            "code": status,
            "request_id": request_id,
        }
    }


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ChorusError)
    async def chorus_error(request: Request, exc: ChorusError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail(_request_id(request))}, status_code=exc.http_status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's list form, as the spec's HTTPValidationError; inputs may be bytes, NaN or odd text, so
        # keep them JSON-safe.
        errors = []
        for error in exc.errors():
            item = {k: v for k, v in error.items() if k in ("type", "loc", "msg", "input", "ctx")}
            if "ctx" in item:
                item["ctx"] = {k: clean_text(str(v)) for k, v in item["ctx"].items()}
            if "input" in item:
                item["input"] = json_safe(item["input"])
            errors.append(item)
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status, error_type = _HTTP_STATUS_NAMES.get(exc.status_code, ("error", "invalid_request"))
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"No route {request.method} {request.url.path} on this server."
        return JSONResponse(
            error_body(status, message, error_type, _request_id(request)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body(
                "internal_error",
                "An internal error occurred; it has been logged with this request id.",
                "internal_error",
                _request_id(request),
            ),
            status_code=500,
        )
