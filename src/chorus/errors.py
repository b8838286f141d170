"""Errors in ElevenLabs' shape.

Every non-422 error body is ``{"detail": {"status", "message", "type", "code", "request_id"}}``: legacy
readers look at ``status``/``message``, the 2026 ones at ``type``/``code``. Services raise these;
the HTTP edge renders them.
"""

from __future__ import annotations


class ChorusError(Exception):
    """An error a client caused or must be told about; never a traceback."""

    http_status: int = 400
    status: str = "bad_request"
    error_type: str = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        status: str | None = None,
        http_status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if http_status is not None:
            self.http_status = http_status
        self.headers = headers or {}

    def detail(self, request_id: str | None) -> dict[str, object]:
        return {
            "status": self.status,
            "message": self.message,
            "type": self.error_type,
            "code": self.status,
            "request_id": request_id,
        }


class BadRequest(ChorusError):
    http_status = 400
    status = "invalid_request"


class Unauthorized(ChorusError):
    http_status = 401
    status = "invalid_api_key"
    error_type = "authentication_error"


class QuotaExceeded(ChorusError):
    # ElevenLabs answers quota exhaustion with 401, not 402.
    http_status = 401
    status = "quota_exceeded"
    error_type = "payment_required"


class Forbidden(ChorusError):
    http_status = 403
    status = "missing_permissions"
    error_type = "authorization_error"


class NotFound(ChorusError):
    http_status = 404
    status = "not_found"
    error_type = "not_found"


class Conflict(ChorusError):
    http_status = 409
    status = "conflict"


class TooManyRequests(ChorusError):
    http_status = 429
    status = "too_many_requests"
    error_type = "rate_limit_error"


class ServiceUnavailable(ChorusError):
    http_status = 503
    status = "service_unavailable"
    error_type = "service_unavailable"


class EngineMissing(ServiceUnavailable):
    status = "engine_unavailable"
