"""How the client reaches the service: one HTTP session, the caller's token, the audit
headers, and error answers turned into WardenError exceptions."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from ._contract import API_PREFIX, ARROW_STREAM_MIME, CLIENT_HEADER, NOTEBOOK_HEADER
from .errors import (
    ConfigurationError,
    ServiceError,
    ServiceUnavailable,
    WardenError,
    error_from_response,
)

# (connect, read) seconds; the read timeout bounds the wait for the *next* bytes, not
# the whole download, so long scans are fine.
DEFAULT_TIMEOUT = (10.0, 300.0)


class Transport:
    """Requests to one service as one user (the token's subject)."""

    def __init__(
        self,
        url: str,
        token: str | None,
        token_file: str | None,
        client: str,
        notebook: str | None,
        timeout: float | tuple[float, float],
    ):
        self.url = url.rstrip("/")
        self._token = token
        self._token_file = token_file
        self._client = client
        self._notebook = notebook
        self._timeout = timeout
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = self._request("GET", path, params=params)
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceError(
                f"The service answered {path} with something that is not JSON",
                code="bad_response",
                status=response.status_code,
            ) from exc

    def post_for_arrow_stream(self, path: str, body: dict[str, Any]) -> requests.Response:
        """POST ``body``; the answer's Arrow IPC stream is left unread, to be streamed."""
        response = self._request("POST", path, json=body, stream=True)
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";")[0] != ARROW_STREAM_MIME:
            response.close()
            raise ServiceError(
                f"Expected an Arrow stream from {path}, got {content_type!r}",
                code="bad_response",
                status=response.status_code,
            )
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.url}{API_PREFIX}{path}"
        try:
            response = self._session.request(
                method, url, headers=self._headers(), timeout=self._timeout, **kwargs
            )
        except requests.Timeout as exc:
            raise ServiceUnavailable(
                f"The Warden service at {self.url} did not answer in time: {exc}",
                code="timeout",
            ) from exc
        except requests.ConnectionError as exc:
            raise ServiceUnavailable(
                f"Could not reach the Warden service at {self.url}: {exc}",
                code="unreachable",
            ) from exc
        if response.status_code >= 400:
            try:
                raise _error_of(response)
            finally:
                response.close()
        return response

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._current_token()}", CLIENT_HEADER: self._client}
        if self._notebook:
            # Header values are Latin-1 on the wire: the path goes percent-encoded as UTF-8.
            headers[NOTEBOOK_HEADER] = quote(self._notebook, safe="/")
        return headers

    def _current_token(self) -> str:
        """The token file's content (re-read every time: the server refreshes it), else
        the token given at start."""
        if self._token_file:
            try:
                with open(self._token_file, encoding="utf-8") as handle:
                    token = handle.read().strip()
                if token:
                    return token
            except OSError as exc:
                if not self._token:
                    raise ConfigurationError(
                        f"Cannot read the Warden token file {self._token_file}: {exc}",
                        code="not_configured",
                    ) from exc
        if not self._token:
            raise ConfigurationError("No Warden token available", code="not_configured")
        return self._token


def _error_of(response: requests.Response) -> WardenError:
    code = None
    message = ""
    try:
        error = response.json().get("error") or {}
        code = error.get("code")
        message = error.get("message") or ""
    except (ValueError, AttributeError):
        message = response.text.strip()[:500]
    return error_from_response(
        response.status_code,
        code,
        message or f"HTTP {response.status_code} {response.reason}",
        response.headers.get("Retry-After"),
    )
