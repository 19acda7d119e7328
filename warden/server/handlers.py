"""The browser's door to the service: ``<base_url>/warden/api/v1/<route>``.

Requests are authenticated by Jupyter; the handler gets the Jupyter user's service
credential from its credentials (identity.py: a short-lived token, or under JupyterHub the
owner's own hub token) and forwards the request to the service, streaming the answer
back chunk by chunk (Arrow bodies are never buffered whole). The browser never holds a
service token, and any Authorization header it sends is dropped.

The proxy reads from the service only as fast as the browser takes the answer (each chunk
is flushed to the browser before the next is read), and cuts the upstream connection when
the browser goes away, so that the service records the stream as aborted with what left it,
not as completed (docs/configuration.md, "What a record says").
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol
from urllib.parse import urlencode

from jupyter_server.auth.decorator import authorized
from jupyter_server.auth.identity import User
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from tornado import httputil, web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError

from .._contract import (
    API_PREFIX,
    CLIENT_HEADER,
    ERROR_STATUS,
    JUPYTER_SERVER_NAMESPACE,
    NOTEBOOK_HEADER,
    RESPONSE_HEADER_PREFIX,
)
from ..errors import Forbidden, error_code_of_status
from .service import ServiceStartError

PROXY_PREFIX = f"{JUPYTER_SERVER_NAMESPACE}{API_PREFIX}/"
# Headers the browser may pass on to the service (audit context).
FORWARDED_REQUEST_HEADERS = (CLIENT_HEADER, NOTEBOOK_HEADER, "Accept")
# X-Accel-Buffering: event streams tell nginx-like proxies in front of Jupyter not to buffer.
FORWARDED_RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Disposition",
    "Cache-Control",
    "X-Accel-Buffering",
    # A 503 overloaded says when to try again.
    "Retry-After",
)
# Jupyter's own credentials, never forwarded.
JUPYTER_QUERY_ARGUMENTS = ("token", "_xsrf")
CONNECT_TIMEOUT_SECONDS = 10
REQUEST_TIMEOUT_SECONDS = 3600


class Upstream(Protocol):
    """The service the requests go to."""

    async def url_when_ready(self) -> str: ...


class Credentials(Protocol):
    """The service token that a Jupyter user's requests carry; raises Forbidden for a user
    who may not act through this server."""

    def browser_token(self, user: User) -> str: ...


class _BrowserGone(Exception):
    """Raised in the streaming callback to abort the upstream request."""


class _QuietBrowserGone(logging.Filter):
    """Tornado logs any exception of a streaming callback as uncaught before it aborts the
    upstream request; a browser that left is routine, logged once by the handler instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _BrowserGone))


logging.getLogger("tornado.application").addFilter(_QuietBrowserGone())


class ServiceProxyHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = "warden"

    def initialize(self, name: str, upstream: Upstream, credentials: Credentials) -> None:
        super().initialize(name)
        self.upstream = upstream
        self.credentials = credentials
        self._browser_gone = False
        self._response_started = False
        self._upstream_headers = httputil.HTTPHeaders()
        self._upstream_status = (502, "Bad Gateway")

    @web.authenticated
    @authorized("read")
    async def get(self) -> None:
        await self._forward()

    @web.authenticated
    @authorized("read")
    async def post(self) -> None:
        await self._forward()

    def on_connection_close(self) -> None:
        self._browser_gone = True

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors in the service's shape, ``{"error": {"code", "message"}}``."""
        message = self._reason
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], web.HTTPError) and exc_info[1].log_message:
            message = exc_info[1].log_message
        self._finish_error(status_code, error_code_of_status(status_code), message)

    async def _forward(self) -> None:
        try:
            service_url = await self.upstream.url_when_ready()
        except ServiceStartError as exc:
            # 503, not the 502 of an unreachable service: it is starting, or failed to. The
            # message is for people; exit codes and output are in the server log already.
            self._finish_error(503, "service_unavailable", str(exc))
            return
        # The raw path keeps percent-encoding (a dataset name may contain anything).
        raw_route = self.request.path[len(url_path_join(self.base_url, PROXY_PREFIX)) :]
        if ".." in raw_route.split("/"):
            self._finish_error(
                ERROR_STATUS["bad_request"], "bad_request", "'..' is not allowed in a Warden route"
            )
            return

        try:
            token = self.credentials.browser_token(self.current_user)
        except Forbidden as exc:
            self._finish_error(ERROR_STATUS["forbidden"], "forbidden", exc.message)
            return
        headers = {
            "Authorization": f"Bearer {token}",
            # Not "close" (tornado's default): the service then keeps its end of the connection
            # after the answer and sees how the proxy closes it, cleanly once the browser took
            # the answer, or with unread data (a reset) when the browser went away.
            "Connection": "keep-alive",
        }
        for name in FORWARDED_REQUEST_HEADERS:
            if name in self.request.headers:
                headers[name] = self.request.headers[name]
        body = None
        if self.request.method == "POST":
            body = self.request.body
            headers["Content-Type"] = self.request.headers.get("Content-Type", "application/json")

        upstream = HTTPRequest(
            f"{service_url}{API_PREFIX}/{raw_route}{self._forwarded_query()}",
            method=self.request.method,
            headers=headers,
            body=body,
            follow_redirects=False,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            request_timeout=REQUEST_TIMEOUT_SECONDS,
            header_callback=self._on_upstream_header,
            streaming_callback=self._on_upstream_chunk,
        )
        try:
            await AsyncHTTPClient().fetch(upstream, raise_error=False)
        except _BrowserGone:
            self.log.info("Warden proxy: browser went away; aborted %s", raw_route)
            return
        except (HTTPClientError, OSError) as exc:
            if self._browser_gone:  # the callback aborted the upstream request
                self.log.info("Warden proxy: browser went away; aborted %s", raw_route)
                return
            if self._response_started:
                # Too late for an error status: cut the stream so the reader sees it end early.
                self.log.error(
                    "Warden proxy: service failed mid-response for %s: %s", raw_route, exc
                )
                self.request.connection.close()
                return
            self.log.error("Warden proxy: service unreachable at %s: %s", service_url, exc)
            self._finish_error(
                ERROR_STATUS["service_unavailable"],
                "service_unavailable",
                "The Warden service is not answering; retry in a few seconds.",
            )
            return
        self.finish(set_content_type=self._upstream_headers.get("Content-Type", "application/json"))

    def _forwarded_query(self) -> str:
        arguments = [
            (name, value.decode("utf-8", "replace"))
            for name, values in self.request.query_arguments.items()
            if name not in JUPYTER_QUERY_ARGUMENTS
            for value in values
        ]
        return "?" + urlencode(arguments) if arguments else ""

    def _on_upstream_header(self, line: str) -> None:
        if line.startswith("HTTP/"):
            start = httputil.parse_response_start_line(line.strip())
            self._upstream_headers = httputil.HTTPHeaders()
            self._upstream_status = (start.code, start.reason)
        elif line.strip():
            self._upstream_headers.parse_line(line)
        else:  # end of headers: they become ours
            self.set_status(*self._upstream_status)
            for name in FORWARDED_RESPONSE_HEADERS:
                if name in self._upstream_headers:
                    self.set_header(name, self._upstream_headers[name])
            for name, value in self._upstream_headers.get_all():
                if name.lower().startswith(RESPONSE_HEADER_PREFIX):
                    self.set_header(name, value)

    async def _on_upstream_chunk(self, chunk: bytes) -> None:
        """Hands a chunk to the browser; the next is read from the service only once it is
        flushed (tornado awaits this), so a browser that stops reading holds the service back."""
        if self._browser_gone:
            raise _BrowserGone()
        self._response_started = True
        self.write(chunk)
        try:
            await self.flush()
        except StreamClosedError:
            self._browser_gone = True
            raise _BrowserGone() from None

    def _finish_error(self, status: int, code: str, message: str) -> None:
        self.clear()
        self.set_status(status)
        self.finish(json.dumps({"error": {"code": code, "message": message}}))
