"""A tiny stand-in for the Warden service, for client unit tests: it records requests
and answers with whatever the test scripted, including real Arrow IPC bytes."""

from __future__ import annotations

import io
import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pyarrow as pa
import pyarrow.ipc
from requests.structures import CaseInsensitiveDict

from warden._contract import ARROW_STREAM_MIME


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: CaseInsensitiveDict[str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b""
    # Written one after the other with flushes, for streaming tests.
    chunks: list[bytes] = field(default_factory=list)
    # Called between chunks (index of the chunk about to be written).
    between_chunks: Callable[[int], None] | None = None
    # Drop the connection after this many chunks, as a crashing service would.
    drop_after_chunks: int | None = None


def json_reply(payload: object, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(payload).encode())


def error_reply(status: int, code: str, message: str) -> Reply:
    return json_reply({"error": {"code": code, "message": message}}, status)


def arrow_chunks(
    batches: list[pa.RecordBatch], metadata: dict[str, str] | None = None
) -> list[bytes]:
    """The IPC stream of these batches, split so each batch is its own chunk."""
    schema = batches[0].schema.with_metadata(metadata or {})
    sink = io.BytesIO()
    chunks = []
    with pyarrow.ipc.new_stream(sink, schema) as writer:
        written = 0
        for batch in batches:
            writer.write_batch(batch)
            data = sink.getvalue()
            chunks.append(data[written:])
            written = len(data)
    data = sink.getvalue()
    chunks.append(data[written:])  # end-of-stream marker
    return chunks


def arrow_reply(
    batches: list[pa.RecordBatch], metadata: dict[str, str] | None = None, **kwargs
) -> Reply:
    return Reply(content_type=ARROW_STREAM_MIME, chunks=arrow_chunks(batches, metadata), **kwargs)


class FakeService:
    def __init__(self):
        self.requests: list[RecordedRequest] = []
        self.routes: dict[tuple[str, str], Reply] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer()

            def do_POST(self):
                self._answer()

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                service.requests.append(
                    RecordedRequest(
                        self.command, self.path, CaseInsensitiveDict(self.headers.items()), body
                    )
                )
                reply = service.routes.get((self.command, self.path.split("?")[0]))
                if reply is None:
                    reply = error_reply(404, "not_found", f"no such endpoint: {self.path}")
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if reply.chunks:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for index, chunk in enumerate(reply.chunks):
                        if index == reply.drop_after_chunks:
                            self.close_connection = True
                            return
                        if reply.between_chunks:
                            reply.between_chunks(index)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A client that closes a kept-alive connection is routine, not a failure to
                # print into the stderr of whichever test runs then.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeService:
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()

    def route(self, method: str, path: str, reply: Reply) -> None:
        self.routes[(method, path)] = reply
