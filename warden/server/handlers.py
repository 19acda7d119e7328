"""The browser's door to the service: ``<base_url>/warden/api/v1/<route>``.

Requests are authenticated by Jupyter; the handler mints a short-lived token for the
Jupyter user and forwards the request to the service, streaming the answer back chunk by
chunk (Arrow bodies are never buffered whole). The browser never holds a service token,
and any Authorization header it sends is dropped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import httputil, web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .service import ServiceStartError

if TYPE_CHECKING:
    from .app import Warden

PROXY_PREFIX = "warden/api/v1/"
# Headers the browser may pass on to the service (audit context).
FORWARDED_REQUEST_HEADERS = ("X-Warden-Client", "X-Warden-Notebook", "Accept")
FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Content-Disposition", "Cache-Control")
# Jupyter's own credentials, never forwarded.
JUPYTER_QUERY_ARGUMENTS = ("token", "_xsrf")
CONNECT_TIMEOUT_SECONDS = 10
REQUEST_TIMEOUT_SECONDS = 3600

_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    502: "service_unavailable",
    503: "service_unavailable",
}


class _BrowserGone(Exception):
    """Raised in the streaming callback to abort the upstream request."""


class ServiceProxyHandler(APIHandler):
    auth_resource = "warden"

    def initialize(self, warden: Warden) -> None:
        self.warden = warden
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
        self._finish_error(status_code, _CODE_BY_STATUS.get(status_code, "internal"), message)

    async def _forward(self) -> None:
        warden = self.warden
        try:
            service_url = await warden.service_url_when_ready()
        except ServiceStartError as exc:
            self._finish_error(503, "service_unavailable", f"{exc} (see the Jupyter server log)")
            return
        # The raw path keeps percent-encoding (a dataset name may contain anything).
        raw_route = self.request.path[len(url_path_join(self.base_url, PROXY_PREFIX)) :]
        if ".." in raw_route.split("/"):
            self._finish_error(400, "bad_request", "'..' is not allowed in a Warden route")
            return

        user = warden.principal_for(self.current_user)
        headers = {"Authorization": f"Bearer {warden.mint_browser_token(user)}"}
        for name in FORWARDED_REQUEST_HEADERS:
            if name in self.request.headers:
                headers[name] = self.request.headers[name]
        body = None
        if self.request.method == "POST":
            body = self.request.body
            headers["Content-Type"] = self.request.headers.get("Content-Type", "application/json")

        upstream = HTTPRequest(
            f"{service_url}/api/v1/{raw_route}{self._forwarded_query()}",
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
            if self._response_started:
                # Too late for an error status: cut the stream so the reader sees it end early.
                self.log.error(
                    "Warden proxy: service failed mid-response for %s: %s", raw_route, exc
                )
                self.request.connection.close()
                return
            self.log.error("Warden proxy: service unreachable at %s: %s", service_url, exc)
            self._finish_error(
                502, "service_unavailable", f"The Warden service is unreachable: {exc}"
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
                if name.lower().startswith("x-warden-"):
                    self.set_header(name, value)

    def _on_upstream_chunk(self, chunk: bytes) -> None:
        if self._browser_gone:
            raise _BrowserGone()
        self._response_started = True
        self.write(chunk)
        self.flush()

    def _finish_error(self, status: int, code: str, message: str) -> None:
        self.clear()
        self.set_status(status)
        self.finish(json.dumps({"error": {"code": code, "message": message}}))
