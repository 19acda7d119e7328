"""Exceptions raised by the Warden client, one class per kind of failure.

The service answers errors as ``{"error": {"code", "message"}}``; the code selects the
class, so callers can write ``except warden.Forbidden``.
"""

from __future__ import annotations


class WardenError(Exception):
    """Base class of every error the Warden client raises."""

    def __init__(self, message: str, code: str = "internal", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message


class ConfigurationError(WardenError):
    """The client does not know where the service is, or has no token."""


class ServiceUnavailable(WardenError, ConnectionError):
    """The service could not be reached, or is not running."""


class InvalidRequest(WardenError, ValueError):
    """The request was malformed: bad filter, unknown column, bad parameter."""


class Unauthenticated(WardenError):
    """The token was missing, invalid or expired."""


class Forbidden(WardenError, PermissionError):
    """The policies do not grant this user access to the dataset."""


class NotFound(WardenError, LookupError):
    """No such dataset (or route)."""


class ServiceError(WardenError):
    """The service failed: audit sink unavailable, source unreadable, internal error."""


_CLASS_BY_CODE: dict[str, type[WardenError]] = {
    "bad_request": InvalidRequest,
    "invalid_filter": InvalidRequest,
    "unknown_column": InvalidRequest,
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "audit_unavailable": ServiceError,
    "source_error": ServiceError,
    "internal": ServiceError,
    "service_unavailable": ServiceUnavailable,
}

_CLASS_BY_STATUS: dict[int, type[WardenError]] = {
    400: InvalidRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
}


def error_from_response(status: int, code: str | None, message: str) -> WardenError:
    """The exception for an error answer: by error code, else by HTTP status."""
    cls = _CLASS_BY_CODE.get(code or "") or _CLASS_BY_STATUS.get(status)
    if cls is None:
        cls = InvalidRequest if 400 <= status < 500 else ServiceError
    return cls(message, code=code or f"http_{status}", status=status)
