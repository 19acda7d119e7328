"""Runs the bundled enforcement service as a child process of the Jupyter server.

The child is started when the server's event loop runs, checked through its health
route (it has started once that answers, ready or not: a service that cannot write its
audit log tells its callers why), restarted (same port, same secret, so kernels' URL and
tokens stay valid) when it dies, and stopped with the server. Its output, exit codes and
start failures go to the Jupyter log; requests made meanwhile get one short sentence for
people (ServiceStartError).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import socket
import time
from pathlib import Path

import yaml
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from .._contract import HEALTH_STATUS

# A run that lasted this long was healthy: the next crash restarts without backoff.
_STABLE_RUN_SECONDS = 60
_MAX_RESTART_DELAY_SECONDS = 60
_STOP_GRACE_SECONDS = 5
_OUTPUT_TAIL_LINES = 30
# How much longer than the startup timeout a request waits for a start to settle.
_SETTLE_MARGIN_SECONDS = 10


def secret_variables(config_dir: str) -> set[str]:
    """The environment variables the service's warden.yaml reads secrets from: every
    setting named ``*_env`` (``password_env``, ``hs256_secret_env``...) names one. The
    service gets them; kernels, which inherit the server's environment, must not."""
    try:
        settings = yaml.safe_load(Path(config_dir, "warden.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return set()  # the service reports its own configuration errors

    def named(node: object) -> set[str]:
        if isinstance(node, dict):
            return {
                value
                for key, value in node.items()
                if isinstance(key, str) and key.endswith("_env") and isinstance(value, str)
            } | {name for value in node.values() for name in named(value)}
        if isinstance(node, list):
            return {name for value in node for name in named(value)}
        return set()

    return named(settings)


class ServiceStartError(RuntimeError):
    """The service cannot answer now; the message is for the user, the log has the rest."""


# What requests are told while the service is away; the why is in the Jupyter log.
RESTARTING = "The Warden service is restarting; retry in a few seconds."
STOPPED = "The Warden service is stopped."


def _start_failed(retry_seconds: int) -> str:
    return (
        "The Warden service could not start; the Jupyter server log says why. "
        f"It is tried again in {retry_seconds} s."
    )


class ServiceEndpoint:
    """Where the service answers: an external service's URL, or the embedded process's
    once it is ready; or why there is none (a set-up that failed)."""

    def __init__(
        self,
        base_url: str = "",
        process: ServiceProcess | None = None,
        setup_error: str | None = None,
    ):
        self.base_url = base_url
        self.process = process
        self.setup_error = setup_error

    async def url_when_ready(self) -> str:
        """The base URL; raises ServiceStartError while the service cannot answer."""
        if self.setup_error:
            raise ServiceStartError(self.setup_error)
        if self.process is not None:
            await self.process.wait_ready()
        return self.base_url


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServiceProcess:
    """Supervises one service child process."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        health_url: str,
        log: logging.Logger,
        startup_timeout: float,
    ):
        self.command = command
        self._env = env
        self._health_url = health_url
        self._log = log
        self._startup_timeout = startup_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._output_tail: collections.deque[str] = collections.deque(maxlen=_OUTPUT_TAIL_LINES)
        # waiting (supervisor not started) -> starting -> ready | backoff -> starting ...; stopped
        self._state = "waiting"
        # Set whenever the state is not `waiting` or `starting`: a start attempt has settled.
        self._settled = asyncio.Event()
        self._supervisor: asyncio.Task | None = None
        self._output_readers: list[asyncio.Future] = []
        # Why requests cannot be served now, in words for the user (None while ready).
        self.unavailable_reason: str | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        """Start supervising; call with the event loop running."""
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def wait_ready(self) -> None:
        """Return once the service answers its health check. While it is starting, wait
        for the outcome; if the last start failed or the service died (a restart is
        pending), raise ServiceStartError saying why."""
        if self._state in ("waiting", "starting"):
            timeout = self._startup_timeout + _SETTLE_MARGIN_SECONDS
            try:
                await asyncio.wait_for(self._settled.wait(), timeout)
            except asyncio.TimeoutError:
                raise ServiceStartError(
                    f"The Warden service is still starting after {timeout:.0f} s; retry shortly."
                ) from None
        if self._state != "ready":
            raise ServiceStartError(self.unavailable_reason or STOPPED)

    async def stop(self) -> None:
        self._set_state("stopped")
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._terminate()

    async def _supervise(self) -> None:
        delay = 1
        while self._state != "stopped":
            started = time.monotonic()
            self._set_state("starting")
            try:
                await self._spawn()
                await self._wait_healthy()
            except (ServiceStartError, OSError) as exc:
                self._log.error("The Warden service failed to start: %s", exc)
                self.unavailable_reason = _start_failed(delay)
                self._set_state("backoff")
                await self._terminate()
            else:
                self.unavailable_reason = None
                self._set_state("ready")
                self._log.info("Warden service ready (pid %s)", self.pid)
                returncode = await self._process.wait()
                self._log.error(
                    "The Warden service exited unexpectedly with code %s.%s",
                    returncode,
                    self._tail_text(),
                )
                self.unavailable_reason = RESTARTING
                self._set_state("backoff")
                if time.monotonic() - started > _STABLE_RUN_SECONDS:
                    delay = 1
            self._log.warning("Restarting the Warden service in %s s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RESTART_DELAY_SECONDS)

    def _set_state(self, state: str) -> None:
        self._state = state
        if state == "starting":
            self._settled.clear()
        else:
            self._settled.set()

    async def _spawn(self) -> None:
        self._output_tail.clear()
        self._log.info("Starting the Warden service: %s", " ".join(self.command))
        self._process = await asyncio.create_subprocess_exec(
            *self.command,
            env=self._env,
            # Kept open and never written: if this server dies, even by SIGKILL, the pipe
            # closes and the service (started with --exit-with-stdin) exits with it.
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # Own process group, so stopping also reaches grandchildren (npx -> node).
            start_new_session=True,
        )
        self._output_readers = [
            asyncio.ensure_future(self._forward_output(stream))
            for stream in (self._process.stdout, self._process.stderr)
        ]

    async def _forward_output(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the reader's limit
                line = await stream.read(65536)
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            self._output_tail.append(text)
            self._log.info("[warden-service] %s", text)

    async def _wait_healthy(self) -> None:
        client = AsyncHTTPClient()
        deadline = time.monotonic() + self._startup_timeout
        while True:
            if self._process.returncode is not None:
                # Let the output readers drain, so the tail shows why it died.
                await asyncio.wait(self._output_readers, timeout=1)
                raise ServiceStartError(
                    f"it exited with code {self._process.returncode} before answering "
                    f"{self._health_url}.{self._tail_text()}"
                )
            try:
                response = await client.fetch(
                    self._health_url, request_timeout=2, raise_error=False
                )
                status = _health_status(response.code, response.body)
                if status is not None:
                    if status != "ok":
                        self._log.warning(
                            "The Warden service started %s (its log says why)", status
                        )
                    return
            except (HTTPClientError, OSError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise ServiceStartError(
                    f"{self._health_url} did not answer within "
                    f"{self._startup_timeout:.0f} s.{self._tail_text()}"
                )
            await asyncio.sleep(0.2)

    async def _terminate(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        self._signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), _STOP_GRACE_SECONDS)
        except asyncio.TimeoutError:
            self._log.warning("The Warden service did not stop in time; killing it")
            self._signal_group(process.pid, signal.SIGKILL)
            await process.wait()
        # npx and friends may leave their children behind: sweep the group.
        self._signal_group(process.pid, signal.SIGKILL)

    @staticmethod
    def _signal_group(pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signum)

    def _tail_text(self) -> str:
        if not self._output_tail:
            return " It printed nothing."
        return " Last output:\n  " + "\n  ".join(self._output_tail)


def _health_status(code: int, body: bytes | None) -> str | None:
    """The status of a health answer (ok, degraded, unavailable), or None if it is none."""
    try:
        status = json.loads(body or b"").get("status")
    except (ValueError, AttributeError):
        return None
    return status if HEALTH_STATUS.get(status) == code else None
