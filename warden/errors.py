"""Exceptions raised by the Warden client, one class per kind of failure.

The service answers errors as ``{"error": {"code", "message"}}``; the code selects the
class, so callers can write ``except warden.Forbidden``.
"""

from __future__ import annotations

from ._contract import ERROR_CODE_OF_STATUS


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
    """The service, or the engine holding a dataset, could not be reached: try again later."""


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


class Overloaded(ServiceError):
    """The service had no room for the read now (too many heavy queries or slow streams);
    ``retry_after`` says in how many seconds to try again, when the service said."""

    def __init__(
        self,
        message: str,
        code: str = "overloaded",
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


# One class per error code of the contract (tests/python/test_contract.py checks that none
# is missing).
CLASS_BY_CODE: dict[str, type[WardenError]] = {
    "bad_request": InvalidRequest,
    "invalid_filter": InvalidRequest,
    "unknown_column": InvalidRequest,
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "source_error": ServiceError,
    "internal": ServiceError,
    "service_unavailable": ServiceUnavailable,
    "audit_unavailable": ServiceError,
    "overloaded": Overloaded,
    "engine_unavailable": ServiceUnavailable,
}


def error_code_of_status(status: int) -> str:
    """The code an error answer without a Warden error body stands for (as
    ``errorCodeOfStatus`` in src/common/api.ts)."""
    code = ERROR_CODE_OF_STATUS.get(status)
    if code is None:
        code = "bad_request" if 400 <= status < 500 else "internal"
    return code


def error_from_response(
    status: int, code: str | None, message: str, retry_after: str | None = None
) -> WardenError:
    """The exception for an error answer: by its error code; without one (not a Warden
    answer), by HTTP status, with the code ``http_<status>``. ``retry_after`` is the
    answer's Retry-After header (seconds), kept on an Overloaded error."""
    cls = CLASS_BY_CODE.get(code or "") or CLASS_BY_CODE[error_code_of_status(status)]
    error = cls(message, code=code or f"http_{status}", status=status)
    if isinstance(error, Overloaded) and retry_after and retry_after.strip().isdigit():
        error.retry_after = float(retry_after)
    return error
