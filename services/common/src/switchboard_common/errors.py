"""Errors with stable ids, mapped once to HTTP status codes and gRPC status codes.

Raise a subclass (or `AppError` with an explicit id) anywhere; the FastAPI handler in
`switchboard_common.http` and the gRPC interceptor in `switchboard_common.grpc` turn it into
`{"error": id, "message": ..., "details": {...}}` or a gRPC status with the same text.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorKind(Enum):
    """What kind of failure an error is; decides the HTTP and gRPC codes."""

    INVALID = (422, "INVALID_ARGUMENT")
    BAD_REQUEST = (400, "INVALID_ARGUMENT")
    UNAUTHENTICATED = (401, "UNAUTHENTICATED")
    FORBIDDEN = (403, "PERMISSION_DENIED")
    NOT_FOUND = (404, "NOT_FOUND")
    CONFLICT = (409, "ALREADY_EXISTS")
    PRECONDITION = (409, "FAILED_PRECONDITION")
    TOO_LARGE = (413, "RESOURCE_EXHAUSTED")
    QUOTA = (429, "RESOURCE_EXHAUSTED")
    RATE_LIMITED = (429, "RESOURCE_EXHAUSTED")
    UNAVAILABLE = (503, "UNAVAILABLE")
    UPSTREAM = (502, "UNAVAILABLE")
    TIMEOUT = (504, "DEADLINE_EXCEEDED")
    INTERNAL = (500, "INTERNAL")

    @property
    def http_status(self) -> int:
        return self.value[0]

    @property
    def grpc_code_name(self) -> str:
        return self.value[1]


class AppError(Exception):
    """An error a client can act on. `error_id` is stable (kebab-case) and documented."""

    kind: ErrorKind = ErrorKind.INTERNAL
    error_id: str = "internal-error"

    def __init__(
        self,
        message: str,
        *,
        error_id: str | None = None,
        kind: ErrorKind | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if error_id is not None:
            self.error_id = error_id
        if kind is not None:
            self.kind = kind
        self.details: dict[str, Any] = details or {}

    def to_body(self) -> dict[str, Any]:
        return {"error": self.error_id, "message": self.message, "details": self.details}


class ValidationFailed(AppError):
    kind = ErrorKind.INVALID
    error_id = "invalid-input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        error_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged = dict(details or {})
        if field is not None:
            merged.setdefault("field", field)
        super().__init__(message, error_id=error_id, details=merged)


class NotFound(AppError):
    kind = ErrorKind.NOT_FOUND
    error_id = "not-found"


class Conflict(AppError):
    kind = ErrorKind.CONFLICT
    error_id = "conflict"


class PreconditionFailed(AppError):
    kind = ErrorKind.PRECONDITION
    error_id = "precondition-failed"


class Unauthenticated(AppError):
    kind = ErrorKind.UNAUTHENTICATED
    error_id = "unauthenticated"


class Forbidden(AppError):
    kind = ErrorKind.FORBIDDEN
    error_id = "forbidden"


class QuotaExceeded(AppError):
    kind = ErrorKind.QUOTA
    error_id = "quota-exceeded"


class Unavailable(AppError):
    kind = ErrorKind.UNAVAILABLE
    error_id = "unavailable"


class UpstreamError(AppError):
    """A dependency (FreeSWITCH, a webhook, another service) answered with an error."""

    kind = ErrorKind.UPSTREAM
    error_id = "upstream-error"


class ConfigurationError(Exception):
    """A setting is missing or wrong; the service refuses to start with one clear line."""
