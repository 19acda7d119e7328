"""Service tokens: short-lived HS256 JWTs naming the user, and the kernels' token file."""

from __future__ import annotations

import os
import tempfile
import time
import uuid

import jwt

AUDIENCE = "warden"
ISSUER = "jupyter-server"


class TokenMinter:
    """Signs tokens the service accepts: ``sub`` is the user, nothing else is claimed
    (groups and attributes come from the service's directory)."""

    def __init__(self, secret: str, audience: str = AUDIENCE, issuer: str = ISSUER):
        if not secret:
            raise ValueError("the JWT secret must not be empty")
        self._secret = secret
        self.audience = audience
        self.issuer = issuer

    def mint(self, user: str, lifetime_seconds: int) -> str:
        now = int(time.time())
        claims = {
            "sub": user,
            "aud": self.audience,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime_seconds),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")


def write_private_file(path: str, content: str) -> None:
    """Replace ``path`` atomically with ``content``, readable by the owner only, so a
    kernel reading it never sees a half-written token."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    # mkstemp creates the file with mode 0600.
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".warden-token-")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
