"""Reading a scan's Arrow IPC stream from an HTTP response, batch by batch.

Each record batch is decoded as soon as its bytes have arrived; the response is never
buffered whole, so a scan larger than memory can be consumed batch by batch.

Scans ask for mask indicators (``warden:masked:<column>``, true where a cell mask withheld
the value, which then arrives as NULL). The reader counts the withheld cells per column and,
unless the caller keeps them, leaves the indicator columns out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import requests
import urllib3

from ._contract import ARROW_META
from ._progress import ScanProgress
from .errors import ServiceError, ServiceUnavailable

if TYPE_CHECKING:
    import pyarrow


def read_batches(
    response: requests.Response,
    label: str,
    progress: bool = True,
    keep_indicators: bool = True,
    masked_cells: dict[str, int] | None = None,
) -> pyarrow.RecordBatchReader:
    """The record batches of a streamed (``stream=True``) Arrow response; the response
    is closed once they are read, or failed. Raises ServiceError if the stream does not
    even start; a stream cut off later raises ServiceUnavailable while iterating.

    ``masked_cells``, when given, is filled while reading: per cell-masked column, how many
    of its cells were withheld. Without ``keep_indicators`` the indicator columns are left out.
    """
    import pyarrow as pa
    import pyarrow.compute
    import pyarrow.ipc

    body = _ResponseBody(response.raw)
    try:
        reader = pyarrow.ipc.open_stream(body)
    except (pa.ArrowInvalid, OSError, urllib3.exceptions.HTTPError) as exc:
        response.close()
        raise ServiceError(
            f"Could not read the Arrow stream of {label}: {exc}", code="bad_response"
        ) from exc
    tracker = ScanProgress(label, enabled=progress)
    # What a connection dropped or a body cut short mid-stream raises.
    stream_errors = (pa.ArrowInvalid, OSError, urllib3.exceptions.HTTPError)
    indicators = indicator_fields(reader.schema)
    if masked_cells is not None:
        masked_cells.update((column, 0) for column in indicators.values())
    schema = reader.schema
    drop_indicators = not keep_indicators and bool(indicators)
    data_fields = [i for i in range(len(schema)) if i not in indicators]
    if drop_indicators:
        schema = pa.schema([schema.field(i) for i in data_fields], metadata=schema.metadata)

    def batches() -> Iterator[pyarrow.RecordBatch]:
        rows = 0
        try:
            for batch in reader:
                rows += batch.num_rows
                tracker.update(rows, body.bytes_read)
                if masked_cells is not None:
                    for index, column in indicators.items():
                        masked_cells[column] += pa.compute.sum(batch.column(index)).as_py() or 0
                if drop_indicators:
                    batch = pa.RecordBatch.from_arrays(
                        [batch.column(i) for i in data_fields], schema=schema
                    )
                yield batch
        except stream_errors as exc:
            tracker.finish(rows, body.bytes_read, failed=True)
            raise ServiceUnavailable(
                f"The scan of {label} was interrupted after {rows} rows: {exc}",
                code="interrupted",
            ) from exc
        finally:
            response.close()
        tracker.finish(rows, body.bytes_read)

    return pa.RecordBatchReader.from_batches(schema, batches())


def indicator_fields(schema: pyarrow.Schema) -> dict[int, str]:
    """The mask indicator fields of a schema: their index, and the column each marks."""
    key = ARROW_META["indicatorFor"].encode()
    return {
        index: field.metadata[key].decode("utf-8")
        for index, field in enumerate(schema)
        if field.metadata and key in field.metadata
    }


class _ResponseBody:
    """The response body as the file Arrow's stream reader expects: ``read(n)`` returns
    n bytes unless the stream has ended. Counts the bytes, for the progress line.

    Reads go through urllib3's public ``HTTPResponse.read``, which takes the chunked
    transfer framing off; Arrow keeps each returned ``bytes`` as the batch's memory
    without a copy.
    """

    def __init__(self, raw: urllib3.response.BaseHTTPResponse):
        self._raw = raw
        self.bytes_read = 0
        self.closed = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data = self._raw.read(decode_content=True)
        else:
            data = self._raw.read(size, decode_content=True)
            if 0 < len(data) < size:  # a short read before the end: gather the rest
                parts = [data]
                remaining = size - len(data)
                while remaining > 0:
                    part = self._raw.read(remaining, decode_content=True)
                    if not part:
                        break
                    parts.append(part)
                    remaining -= len(part)
                data = b"".join(parts)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self.closed = True
