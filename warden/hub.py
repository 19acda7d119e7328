"""Warden under JupyterHub: the hub scopes Warden accepts, and job tokens.

The Warden service identifies a caller by the caller's own hub API token, asking the hub who
owns it. It accepts tokens carrying one of two custom scopes (defined in the hub's
configuration, held by every user):

* ``READ_SCOPE`` — interactive sessions: the single-user server's ``JUPYTERHUB_API_TOKEN``,
  which the server extension forwards for the browser and kernels use directly.
* ``JOB_SCOPE`` — scheduled jobs: a token the user creates (``python -m warden token create``
  or the hub's token page), which must expire, can be revoked, carries nothing else (it can
  read through Warden, as its owner, and do nothing more), and is audited as client ``job``.

The service enforces this (src/service/identity/hub.ts): a job token holding any other scope
is refused, and the read scope counts only on a running server's own token.

The scope names are the contract's ``HUB_SCOPES`` (src/common/api.ts).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import quote

import requests

from ._contract import HUB_SCOPES
from .errors import ConfigurationError, WardenError

READ_SCOPE = HUB_SCOPES["read"]
JOB_SCOPE = HUB_SCOPES["job"]
JOB_TOKEN_NOTE = "warden job"

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """``90`` or ``90s``, ``15m``, ``12h``, ``30d``, ``2w`` -> seconds."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"not a duration: {text!r} (examples: 12h, 30d, 2w)")
    return int(match.group(1)) * _SECONDS[match.group(2)]


@dataclass
class HubSession:
    """The hub API as the user of this single-user server (its own environment)."""

    api_url: str
    token: str
    user: str

    @classmethod
    def from_environment(cls) -> HubSession:
        names = ("JUPYTERHUB_API_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_USER")
        missing = [name for name in names if not os.environ.get(name)]
        if missing:
            raise ConfigurationError(
                f"{', '.join(missing)} not set: run this in a terminal or notebook of your "
                "JupyterHub server, or create the token on the hub's token page "
                f"(scope {JOB_SCOPE}, with an expiry)",
                code="not_configured",
            )
        api_url, token, user = (os.environ[name] for name in names)
        return cls(api_url.rstrip("/"), token, user)

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        url = f"{self.api_url}/users/{quote(self.user, safe='')}/tokens{path}"
        return self._request(method, url, self.token, **kwargs)

    def _request(self, method: str, url: str, token: str, **kwargs) -> requests.Response:
        try:
            response = requests.request(
                method, url, headers={"Authorization": f"token {token}"}, timeout=30, **kwargs
            )
        except requests.RequestException as exc:
            raise WardenError(
                f"JupyterHub is unreachable at {self.api_url}: {exc}", code="hub_unavailable"
            ) from exc
        if not response.ok:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            raise WardenError(
                f"JupyterHub refused {method} {url}: {response.status_code} {message}",
                code="hub_refused",
                status=response.status_code,
            )
        return response

    def create_job_token(self, expires_in: int, note: str = JOB_TOKEN_NOTE) -> dict:
        """A new token with only JOB_SCOPE (for the user itself), expiring in
        ``expires_in`` seconds."""
        body = {"scopes": [f"{JOB_SCOPE}!user"], "expires_in": expires_in, "note": note}
        return self._call("POST", "", json=body).json()

    def job_tokens(self) -> list[dict]:
        tokens = self._call("GET", "").json()["api_tokens"]
        return [token for token in tokens if JOB_SCOPE in " ".join(token.get("scopes", []))]

    def revoke(self, token_id: str) -> None:
        self._call("DELETE", f"/{quote(token_id, safe='')}")

    def own_token_id(self, token: str) -> str | None:
        """The id of ``token`` if the hub still accepts it and it is this user's, else None."""
        try:
            model = self._request("GET", f"{self.api_url}/user", token).json()
        except WardenError as exc:
            if exc.status in (401, 403):
                return None
            raise
        return model.get("token_id") if model.get("name") == self.user else None
