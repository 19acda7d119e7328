"""The kernel-side client: governed datasets as Arrow, pandas or polars.

Inside a Jupyter server with the Warden extension, kernels inherit ``WARDEN_URL`` and a
token for the workspace owner, so ``warden.connect()`` needs no arguments and no secret
ever appears in a notebook::

    import warden
    df = warden.connect().scan_as_pandas("drug_xyz.trial_july2020")

Data arrives as an Arrow IPC stream and is decoded batch by batch while it downloads.

Masked cells (a cell mask's rows) arrive as NULL in the column's own type, never as a
marker string: ``value_counts()`` and ``mean()`` skip them, and dates stay dates. Which
cells were withheld is said by a boolean indicator column per cell-masked column,
``warden:masked:<column>``, kept with ``mask_indicators=True``; either way the tables and
DataFrames count them per column in their ``warden`` metadata (``masked_cells``).
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import _kernel_env
from ._arrow_stream import read_batches
from ._contract import ARROW_META, ARROW_META_PREFIX, CLIENT_KINDS
from ._transport import DEFAULT_TIMEOUT, Transport
from .errors import ConfigurationError, InvalidRequest

#: How ``scan_as_pandas`` converts its Arrow table: one block per column (no consolidation
#: copy), and each column's Arrow memory released as soon as it is converted (the table is
#: not used afterwards).
PANDAS_OPTIONS = {"split_blocks": True, "self_destruct": True, "date_as_object": False}

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

# Set by this client on the tables it reads: withheld cells per cell-masked column (JSON).
MASKED_CELLS_KEY = f"{ARROW_META_PREFIX}masked_cells"


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
    refreshes it), else ``WARDEN_TOKEN``, else (under JupyterHub) ``JUPYTERHUB_API_TOKEN``.
    """
    url = url or os.environ.get(_kernel_env.URL)
    if not url:
        raise ConfigurationError(
            f"{_kernel_env.URL} is not set: run inside a Jupyter server with the Warden "
            "extension, or pass url= and token=",
            code="not_configured",
        )
    token_file = None
    if token is None:
        token_file = os.environ.get(_kernel_env.TOKEN_FILE) or None
        token = os.environ.get(_kernel_env.TOKEN) or os.environ.get(_kernel_env.HUB_TOKEN) or None
        if token_file is None and token is None:
            raise ConfigurationError(
                f"None of {_kernel_env.TOKEN_FILE}, {_kernel_env.TOKEN}, {_kernel_env.HUB_TOKEN} "
                "is set: run inside a Jupyter server with the Warden extension, or pass token=",
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
        if client not in CLIENT_KINDS:
            raise InvalidRequest(
                f"client must be one of {', '.join(CLIENT_KINDS)}, got {client!r}",
                code="bad_request",
            )
        self._transport = Transport(url, token, token_file, client, notebook, timeout)

    @property
    def url(self) -> str:
        return self._transport.url

    def __repr__(self) -> str:
        return f"<warden.Client {self.url}>"

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- catalog -----------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """The principal the service sees: ``{"user", "groups", "attributes"}``."""
        return self._transport.get_json("/whoami")

    def list_datasets(
        self, query: str | None = None, tag: str | None = None, database: str | None = None
    ) -> list[dict[str, Any]]:
        """The datasets this user may read, optionally searched by text, tag or database."""
        params = {"q": query, "tag": tag, "database": database}
        page = self._transport.get_json("/datasets", params={k: v for k, v in params.items() if v})
        return page["datasets"]

    def describe(self, name: str) -> dict[str, Any]:
        """Schema and enforcement of one dataset, as this user receives it: per column
        whether it is clear, masked or hidden and why, and the row filter in words."""
        return self._transport.get_json(f"/datasets/{_quote_name(name)}")

    # -- data --------------------------------------------------------------------------

    def scan_batches(
        self,
        name: str,
        columns: Sequence[str] | str | None = None,
        filter: str | None = None,
        limit: int | None = None,
        order_by: Sequence[str] | str | None = None,
        progress: bool = True,
        mask_indicators: bool = False,
    ) -> pyarrow.RecordBatchReader:
        """Stream the governed view of ``name`` batch by batch.

        ``filter`` and ``order_by`` use the Warden expression language and apply to the
        view after enforcement (masked values, filtered rows; a withheld cell is NULL).
        ``mask_indicators=True`` keeps, after the data columns, a boolean column
        ``warden:masked:<column>`` per cell-masked column: true where the cell was withheld.
        The request is sent now, so errors surface here; the result yields record batches as
        they arrive and can be passed to anything that accepts a ``pyarrow.RecordBatchReader``.
        """
        return self._read(name, columns, filter, limit, order_by, progress, mask_indicators)

    def _read(
        self,
        name: str,
        columns: Sequence[str] | str | None,
        filter: str | None,
        limit: int | None,
        order_by: Sequence[str] | str | None,
        progress: bool,
        mask_indicators: bool,
        masked_cells: dict[str, int] | None = None,
    ) -> pyarrow.RecordBatchReader:
        body = _scan_body(columns, filter, limit, order_by)
        # Always asked for: with indicators, the service withholds masked cells as NULL.
        body["maskIndicators"] = True
        response = self._transport.post_for_arrow_stream(
            f"/datasets/{_quote_name(name)}/scan", body
        )
        return read_batches(response, name, progress, mask_indicators, masked_cells)

    def scan_as_arrow(
        self,
        name: str,
        columns: Sequence[str] | str | None = None,
        filter: str | None = None,
        limit: int | None = None,
        order_by: Sequence[str] | str | None = None,
        progress: bool = True,
        mask_indicators: bool = False,
    ) -> pyarrow.Table:
        """The governed view of ``name`` as a ``pyarrow.Table`` (arguments as for
        ``scan_batches``).

        The schema metadata (``warden.*`` keys) says which policies applied, carries the
        audit request id and, under ``warden.masked_cells``, how many cells of each
        cell-masked column were withheld (NULL).
        """
        masked_cells: dict[str, int] = {}
        reader = self._read(
            name, columns, filter, limit, order_by, progress, mask_indicators, masked_cells
        )
        table = reader.read_all()
        if not masked_cells:
            return table
        metadata = {**(table.schema.metadata or {}), MASKED_CELLS_KEY: json.dumps(masked_cells)}
        return table.replace_schema_metadata(metadata)

    def scan_as_pandas(
        self,
        name: str,
        columns: Sequence[str] | str | None = None,
        filter: str | None = None,
        limit: int | None = None,
        order_by: Sequence[str] | str | None = None,
        progress: bool = True,
        mask_indicators: bool = False,
    ) -> pandas.DataFrame:
        """The governed view of ``name`` as a pandas DataFrame; ``df.attrs["warden"]``
        holds the enforcement metadata (policies, row filter, request id, masked_cells).

        Dates and timestamps are ``datetime64``; withheld cells are missing values (NaN,
        NaT, ``<NA>``), and integer or boolean columns that may have some are nullable
        (``Int64``, ``boolean``), so their dtype does not depend on which rows were read.
        """
        table = self.scan_as_arrow(
            name, columns, filter, limit, order_by, progress, mask_indicators
        )
        metadata = warden_metadata(table.schema)
        frame = _to_pandas(table)
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
        mask_indicators: bool = False,
    ) -> polars.DataFrame:
        """The governed view of ``name`` as a polars DataFrame; withheld cells are null."""
        import polars as pl

        return pl.from_arrow(
            self.scan_as_arrow(name, columns, filter, limit, order_by, progress, mask_indicators)
        )


def _to_pandas(table: pyarrow.Table) -> pandas.DataFrame:
    """A table as pandas, dates as datetime64; cell-masked integer and boolean columns
    nullable, so a withheld cell does not turn integers into floats or booleans into objects."""
    import pyarrow as pa

    flag = ARROW_META["cellMasked"].encode()
    nullable = {
        index: field.name
        for index, field in enumerate(table.schema)
        if field.metadata
        and field.metadata.get(flag) == b"true"
        and (pa.types.is_integer(field.type) or pa.types.is_boolean(field.type))
    }
    dtypes = _nullable_dtypes()
    columns = {index: table.column(index).to_pandas(types_mapper=dtypes.get) for index in nullable}
    rest = table.drop_columns(list(nullable.values())) if nullable else table
    frame = rest.to_pandas(**PANDAS_OPTIONS)
    for index, series in sorted(columns.items()):
        frame.insert(index, nullable[index], series)
    return frame


def _nullable_dtypes() -> dict:
    import pandas as pd
    import pyarrow as pa

    return {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }


def warden_metadata(schema: pyarrow.Schema) -> dict[str, Any]:
    """The ``warden.*`` schema metadata of a scan result without the prefix, JSON values
    decoded."""
    metadata: dict[str, Any] = {}
    for key, value in (schema.metadata or {}).items():
        name = key.decode("utf-8", "replace")
        if not name.startswith(ARROW_META_PREFIX):
            continue
        text = value.decode("utf-8", "replace")
        try:
            metadata[name[len(ARROW_META_PREFIX) :]] = json.loads(text)
        except ValueError:
            metadata[name[len(ARROW_META_PREFIX) :]] = text
    return metadata


def _notebook_path() -> str | None:
    path = os.environ.get(_kernel_env.NOTEBOOK)
    root = os.environ.get(_kernel_env.SERVER_ROOT)
    if path and root and os.path.isabs(path):
        relative = os.path.relpath(path, root)
        if not relative.startswith(".."):
            return relative.replace(os.sep, "/")
    return path or None


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
