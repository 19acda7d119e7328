"""Driving the real multi-user deployment (scripts/hub) as its users would: each persona
logs in through the identity provider's form, starts their server through the hub, and runs
code in a kernel of that server over its websocket, through the hub's proxy. The test process
runs as root and reads the deployment's secrets and raw data only to check that none of them
reach a user."""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pyarrow as pa
import pyarrow.ipc
import requests
import websocket

REPO = Path(__file__).resolve().parents[2]
PREFIX = Path(os.environ.get("WARDEN_HUB_PREFIX", "/opt/warden-hub"))
STATE = Path(os.environ.get("WARDEN_HUB_STATE", "/srv/warden-hub"))
TRIAL = "drug_xyz.trial_july2020"
TIMEOUT = 60


def wait_until(condition, timeout: float, message: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def arrow_table(response: requests.Response) -> pa.Table:
    assert response.status_code == 200, response.text
    return pyarrow.ipc.open_stream(response.content).read_all()


@dataclass
class Hub:
    """The running deployment: URLs, and what only root may read (for the checks)."""

    url: str
    api_url: str
    service_url: str
    idp_url: str
    operator_token: str
    logins: dict[str, str]

    def operator(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.operator_token}"}
        return requests.request(
            method, f"{self.api_url}{path}", headers=headers, timeout=TIMEOUT, **kwargs
        )

    def stop_server(self, user: str) -> None:
        response = self.operator("DELETE", f"/users/{user}/server")
        assert response.status_code in (202, 204, 400), response.text  # 400: not running
        wait_until(
            lambda: not self.operator("GET", f"/users/{user}").json()["servers"],
            120,
            f"the server of {user} did not stop",
        )

    def audit(self) -> list[dict]:
        path = STATE / "warden" / "audit" / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def mask_key(self) -> str:
        return (STATE / "warden" / "config" / "mask.key").read_text().strip()


class Kernel:
    """A kernel of a user's server, driven over its websocket through the hub's proxy."""

    def __init__(self, user: HubUser, notebook: str):
        self._user = user
        response = user.server_post(
            "/api/sessions",
            json={
                "path": notebook,
                "name": Path(notebook).name,
                "type": "notebook",
                "kernel": {"name": "python3"},
            },
        )
        assert response.status_code == 201, response.text
        self.session_id = response.json()["id"]
        kernel_id = response.json()["kernel"]["id"]
        ws_url = f"{user.server_url.replace('http://', 'ws://')}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
        cookies = "; ".join(f"{name}={value}" for name, value in user.session.cookies.items())
        self._socket = websocket.create_connection(
            ws_url, cookie=cookies, timeout=TIMEOUT, header=[f"X-XSRFToken: {user.server_xsrf}"]
        )
        self._session = uuid.uuid4().hex
        wait_until(
            lambda: self._try("print('ready')") == "ready\n",
            120,
            "the kernel did not become ready",
            interval=1,
        )

    def _try(self, code: str) -> str | None:
        try:
            return self.run(code, timeout=10)
        except TimeoutError:
            return None

    def run(self, code: str, timeout: float = 300) -> str:
        """Execute code; return its stdout, or fail with the kernel's traceback."""
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "username": self._user.name,
            "session": self._session,
            "msg_type": "execute_request",
            "version": "5.3",
        }
        content = {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        self._socket.send(
            json.dumps(
                {
                    "header": header,
                    "parent_header": {},
                    "metadata": {},
                    "content": content,
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        stdout, errors, status, idle = [], [], None, False
        deadline = time.monotonic() + timeout
        while not (idle and status):
            self._socket.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                message = json.loads(self._socket.recv())
            except websocket.WebSocketTimeoutException:
                raise TimeoutError(f"no reply to {code[:60]!r} within {timeout} s") from None
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, body = message["msg_type"], message["content"]
            if kind == "stream" and body["name"] == "stdout":
                stdout.append(body["text"])
            elif kind == "error":
                errors.append("\n".join(body["traceback"]))
            elif kind == "execute_reply":
                status = body["status"]
            elif kind == "status" and body["execution_state"] == "idle":
                idle = True
        assert status == "ok", "\n".join(errors)
        return "".join(stdout)

    def run_json(self, code: str):
        """Execute code whose last stdout line is JSON; return it decoded."""
        return json.loads(self.run(code).strip().splitlines()[-1])

    def close(self) -> None:
        self._socket.close()
        self._user.server_request("DELETE", f"/api/sessions/{self.session_id}")


class HubUser:
    """A persona in a browser: logged in through the identity provider's form."""

    def __init__(self, hub: Hub, name: str):
        self.hub = hub
        self.name = name
        self.session = requests.Session()
        self.server_url = f"{hub.url}/user/{name}"

    def log_in(self) -> None:
        page = self.session.get(f"{self.hub.url}/hub/oauth_login", timeout=TIMEOUT)
        assert page.url.startswith(self.hub.idp_url), f"not sent to the IdP: {page.url}"
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
        done = self.session.post(
            urljoin(page.url, action),
            data={"login": self.name, "password": self.hub.logins[self.name]},
            timeout=TIMEOUT,
        )
        assert done.status_code == 200 and done.url.startswith(self.hub.url), (
            f"login of {self.name} failed: {done.status_code} {done.url}"
        )

    def hub_api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-XSRFToken": self.session.cookies.get("_xsrf", path="/hub/") or ""}
        return self.session.request(
            method, f"{self.hub.url}/hub/api{path}", headers=headers, timeout=TIMEOUT, **kwargs
        )

    def start_server(self) -> None:
        """Start (or find running) this user's server, then open it as the browser does
        (the server's own OAuth with the hub), so its cookie is set."""
        model = self.hub_api("GET", "/user").json()
        if not (model["servers"].get("") or {}).get("ready"):
            response = self.hub_api("POST", f"/users/{self.name}/server")
            assert response.status_code in (201, 202, 400), response.text
            wait_until(
                lambda: (self.hub_api("GET", "/user").json()["servers"].get("") or {}).get("ready"),
                240,
                f"the server of {self.name} did not start",
                interval=1,
            )
        lab = self.session.get(f"{self.server_url}/lab", timeout=TIMEOUT)
        assert lab.status_code == 200 and lab.url.startswith(self.server_url), (
            f"{lab.status_code} {lab.url}"
        )

    @property
    def server_xsrf(self) -> str:
        return self.session.cookies.get("_xsrf", path=f"/user/{self.name}/") or ""

    def server_request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-XSRFToken": self.server_xsrf, **kwargs.pop("headers", {})}
        return self.session.request(
            method, f"{self.server_url}{path}", headers=headers, timeout=TIMEOUT, **kwargs
        )

    def server_get(self, path: str, **kwargs) -> requests.Response:
        return self.server_request("GET", path, **kwargs)

    def server_post(self, path: str, **kwargs) -> requests.Response:
        return self.server_request("POST", path, **kwargs)

    def put_notebook(self, path: str, cells: list[str]) -> None:
        notebook = {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": source,
                }
                for source in cells
            ],
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            self.server_request(
                "PUT", f"/api/contents/{'/'.join(parts[:depth])}", json={"type": "directory"}
            )
        response = self.server_request(
            "PUT", f"/api/contents/{path}", json={"type": "notebook", "content": notebook}
        )
        assert response.status_code in (200, 201), response.text

    def kernel(self, notebook: str) -> Kernel:
        return Kernel(self, notebook)
