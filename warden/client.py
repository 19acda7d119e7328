"""The kernel-side client: governed datasets as Arrow, pandas or polars.

Inside a Jupyter server with the Warden extension, kernels inherit ``WARDEN_URL`` and a
token for the workspace owner, so ``warden.connect()`` needs no arguments and no secret
ever appears in a notebook::

    import warden
    df = warden.connect().scan_as_pandas("drug_xyz.trial_july2020")

Data arrives as an Arrow IPC stream and is decoded batch by batch while it downloads.
"""

from __future__ import annotations

import http.client
import json
import operator
import os
from typing import TYPE_CHECKING, Any, Iterator, Sequence
from urllib.parse import quote

import requests
import urllib3

from ._progress import ScanProgress
from .errors import (
    ConfigurationError,
    InvalidRequest,
    ServiceError,
    ServiceUnavailable,
    WardenError,
    error_from_response,
)

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

ENV_URL = "WARDEN_URL"
ENV_TOKEN = "WARDEN_TOKEN"
ENV_TOKEN_FILE = "WARDEN_TOKEN_FILE"
# Set by jupyter_server for kernels started for a notebook: the notebook's file path.
ENV_NOTEBOOK = "JPY_SESSION_NAME"
# Set by the Warden server extension: the server's root, to audit the notebook by the
# same root-relative path the browser extension reports.
ENV_SERVER_ROOT = "JUPYTER_SERVER_ROOT"

API_PREFIX = "/api/v1"
ARROW_STREAM_MIME = "application/vnd.apache.arrow.stream"
CLIENT_HEADER = "X-Warden-Client"
# Percent-encoded (header values are Latin-1 on the wire); the service decodes it.
NOTEBOOK_HEADER = "X-Warden-Notebook"

# (connect, read) seconds; the read timeout bounds the wait for the *next* bytes, not
# the whole download, so long scans are fine.
DEFAULT_TIMEOUT = (10.0, 300.0)


def connect(
    url: str | None = None,
    token: str | None = None,
    client: str = "python-client",
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
) -> Client:
    """A client for the Warden service.

    Without arguments, uses what the Jupyter server gave this kernel: ``WARDEN_URL`` and
    the token in ``WARDEN_TOKEN_FILE`` (re-read before every request, since the server
    refreshes it) or else ``WARDEN_TOKEN``.
    """
    url = url or os.environ.get(ENV_URL)
    if not url:
        raise ConfigurationError(
            f"{ENV_URL} is not set: run inside a Jupyter server with the Warden extension, "
            "or pass url= and token=",
            code="not_configured",
        )
    token_file = None
    if token is None:
        token_file = os.environ.get(ENV_TOKEN_FILE) or None
        token = os.environ.get(ENV_TOKEN) or None
        if token_file is None and token is None:
            raise ConfigurationError(
                f"Neither {ENV_TOKEN_FILE} nor {ENV_TOKEN} is set: run inside a Jupyter "
                "server with the Warden extension, or pass token=",
                code="not_configured",
            )
    return Client(
        url,
        token=token,
        token_file=token_file,
        client=client,
        notebook=_notebook_path(),
        timeout=timeout,
    )


class Client:
    """Talks to one Warden service as one user (the token's subject)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        token_file: str | None = None,
        client: str = "python-client",
        notebook: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ):
        self.url = url.rstrip("/")
        self._token = token
        self._token_file = token_file
        self._client = client
        self._notebook = notebook
        self._timeout = timeout
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"<warden.Client {self.url}>"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- catalog -----------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """The principal the service sees: ``{"user", "groups", "attributes"}``."""
        return self._get_json("/whoami")

    def list_datasets(
        self, query: str | None = None, tag: str | None = None, database: str | None = None
    ) -> list[dict[str, Any]]:
        """The datasets this user may read, optionally searched by text, tag or database."""
        params = {"q": query, "tag": tag, "database": database}
        page = self._get_json("/datasets", params={k: v for k, v in params.items() if v})
        return page["datasets"]

    def describe(self, name: str) -> dict[str, Any]:
        """Schema and enforcement of one dataset, as this user receives it: per column
        whether it is clear, masked or hidden and why, and the row filter in words."""
        return self._get_json(f"/datasets/{_quote_name(name)}")

    # -- data --------------------------------------------------------------------------

    def scan_batches(
        self,
        name: str,
        columns: Sequence[str] | str | None = None,
        filter: str | None = None,
        limit: int | None = None,
        order_by: Sequence[str] | str | None = None,
        progress: bool = True,
    ) -> pyarrow.RecordBatchReader:
        """Stream the governed view of ``name`` batch by batch.

        ``filter`` and ``order_by`` use the Warden expression language and apply to the
        view after enforcement (masked values, filtered rows). The request is sent now,
        so errors surface here; the result yields record batches as they arrive and can
        be passed to anything that accepts a ``pyarrow.RecordBatchReader``.
        """
        import pyarrow as pa
        import pyarrow.ipc

        body = _scan_body(columns, filter, limit, order_by)
        response = self._request(
            "POST", f"/datasets/{_quote_name(name)}/scan", json=body, stream=True
        )
        if response.headers.get("Content-Type", "").split(";")[0] != ARROW_STREAM_MIME:
            response.close()
            raise ServiceError(
                f"Expected an Arrow stream from the scan of {name}, got "
                f"{response.headers.get('Content-Type')!r}",
                code="bad_response",
                status=response.status_code,
            )
        source = _CountingReader(response.raw)
        try:
            reader = pyarrow.ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError) as exc:
            response.close()
            raise ServiceError(
                f"Could not read the Arrow stream of {name}: {exc}", code="bad_response"
            ) from exc
        tracker = ScanProgress(name, enabled=progress)
        stream_errors = (
            pa.ArrowInvalid,
            OSError,
            http.client.HTTPException,  # e.g. IncompleteRead from the fast path
            requests.RequestException,
            urllib3.exceptions.HTTPError,  # e.g. the connection dropped mid-body
        )

        def batches() -> Iterator[pyarrow.RecordBatch]:
            rows = 0
            try:
                for batch in reader:
                    rows += batch.num_rows
                    tracker.update(rows, source.bytes_read)
                    yield batch
            except stream_errors as exc:
                tracker.finish(rows, source.bytes_read, failed=True)
                raise ServiceUnavailable(
                    f"The scan of {name} was interrupted after {rows} rows: {exc}",
                    code="interrupted",
                ) from exc
            finally:
                response.close()
            tracker.finish(rows, source.bytes_read)

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def scan_as_arrow(
        self,
        name: str,
        columns: Sequence[str] | str | None = None,
        filter: str | None = None,
        limit: int | None = None,
        order_by: Sequence[str] | str | None = None,
        progress: bool = True,
    ) -> pyarrow.Table:
        """The governed view of ``name`` as a ``pyarrow.Table``.

        The schema metadata (``warden.*`` keys) says which policies applied and carries
        the audit request id.
        """
        return self.scan_batches(name, columns, filter, limit, order_by, progress).read_all()

    def scan_as_pandas(
        self,
        name: str,
        columns: Sequence[str] | str | None = None,
        filter: str | None = None,
        limit: int | None = None,
        order_by: Sequence[str] | str | None = None,
        progress: bool = True,
    ) -> pandas.DataFrame:
        """The governed view of ``name`` as a pandas DataFrame; ``df.attrs["warden"]``
        holds the enforcement metadata (policies, row filter, request id)."""
        table = self.scan_as_arrow(name, columns, filter, limit, order_by, progress)
        metadata = warden_metadata(table.schema)
        # One block per column (no consolidation copy), and each column's Arrow memory
        # released as soon as it is converted: the table is not used afterwards.
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        frame.attrs["warden"] = metadata
        return frame

    def scan_as_polars(
        self,
        name: str,
        columns: Sequence[str] | str | None = None,
        filter: str | None = None,
        limit: int | None = None,
        order_by: Sequence[str] | str | None = None,
        progress: bool = True,
    ) -> polars.DataFrame:
        """The governed view of ``name`` as a polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.scan_as_arrow(name, columns, filter, limit, order_by, progress))

    # -- HTTP --------------------------------------------------------------------------

    def _get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = self._request("GET", path, params=params)
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceError(
                f"The service answered {path} with something that is not JSON",
                code="bad_response",
                status=response.status_code,
            ) from exc

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
        headers = {
            "Authorization": f"Bearer {self._current_token()}",
            CLIENT_HEADER: self._client,
        }
        if self._notebook:
            headers[NOTEBOOK_HEADER] = quote(self._notebook, safe="/")
        return headers

    def _current_token(self) -> str:
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


def warden_metadata(schema: pyarrow.Schema) -> dict[str, Any]:
    """The ``warden.*`` schema metadata of a scan result, JSON values decoded."""
    metadata: dict[str, Any] = {}
    for key, value in (schema.metadata or {}).items():
        name = key.decode("utf-8", "replace")
        if not name.startswith("warden."):
            continue
        text = value.decode("utf-8", "replace")
        try:
            metadata[name[len("warden.") :]] = json.loads(text)
        except ValueError:
            metadata[name[len("warden.") :]] = text
    return metadata


def _notebook_path() -> str | None:
    path = os.environ.get(ENV_NOTEBOOK)
    root = os.environ.get(ENV_SERVER_ROOT)
    if path and root and os.path.isabs(path):
        relative = os.path.relpath(path, root)
        if not relative.startswith(".."):
            return relative.replace(os.sep, "/")
    return path or None


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
        response.status_code, code, message or f"HTTP {response.status_code} {response.reason}"
    )


def _scan_body(
    columns: Sequence[str] | str | None,
    filter: str | None,
    limit: int | None,
    order_by: Sequence[str] | str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if columns is not None:
        body["columns"] = [columns] if isinstance(columns, str) else list(columns)
    if filter is not None:
        body["filter"] = filter
    if order_by is not None:
        body["orderBy"] = [order_by] if isinstance(order_by, str) else list(order_by)
    if limit is not None:
        try:
            body["limit"] = operator.index(limit)
        except TypeError:
            body["limit"] = -1
        if isinstance(limit, bool) or body["limit"] < 0:
            raise InvalidRequest(
                f"limit must be a non-negative integer, got {limit!r}", code="bad_request"
            )
    return body


def _quote_name(name: str) -> str:
    return quote(name, safe="")


class _CountingReader:
    """A file-like view of the response body that counts the bytes Arrow consumes.

    Arrow's stream reader expects ``read(n)`` to return n bytes unless the stream ended.
    Each read fills one new Arrow buffer straight from the socket: http.client's
    ``readinto`` takes the chunked transfer framing off in place, and pyarrow keeps the
    buffer as the batch's memory (no copy), so the bytes are copied once, from the kernel.
    """

    def __init__(self, raw: Any):
        raw.decode_content = True
        self._raw = raw
        # urllib3's HTTPResponse wraps an http.client.HTTPResponse; its readinto is used when
        # the body is not content-encoded (the service never compresses Arrow streams).
        fp = getattr(raw, "_fp", None)
        encoded = (raw.headers.get("Content-Encoding") or "identity").lower() != "identity"
        self._readinto = None if encoded or not hasattr(fp, "readinto") else fp.readinto
        import pyarrow as pa

        self._allocate = pa.allocate_buffer
        self.bytes_read = 0
        self.closed = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes | pyarrow.Buffer:
        if size is None or size < 0:
            data = self._raw.read()
        elif self._readinto is None:
            parts = []
            remaining = size
            while remaining > 0:
                part = self._raw.read(remaining)
                if not part:
                    break
                parts.append(part)
                remaining -= len(part)
            data = b"".join(parts)
        else:
            # From pyarrow's memory pool: not zero-filled first, and recycled across scans
            # (fresh pages are slow to touch on virtual machines).
            data = self._allocate(size)
            with memoryview(data) as raw_view, raw_view.cast("B") as view:
                filled = 0
                while filled < size:
                    n = self._readinto(view[filled:])
                    if not n:
                        break
                    filled += n
            if filled < size:
                data = data.slice(0, filled)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self.closed = True
