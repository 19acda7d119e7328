"""Token minting and the kernels' token file."""

from __future__ import annotations

import os
import stat
import threading
import time

import jwt
import pytest

from warden.server.tokens import TokenMinter, write_private_file

SECRET = "s" * 64


def test_minted_token_claims():
    before = int(time.time())
    token = TokenMinter(SECRET).mint("alice", 300)
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience="warden", issuer="jupyter-server"
    )
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert set(claims) == {"sub", "aud", "iss", "iat", "nbf", "exp", "jti"}
    assert claims["sub"] == "alice"
    assert before <= claims["iat"] == claims["nbf"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 300


def test_every_token_has_its_own_id():
    minter = TokenMinter(SECRET)
    ids = {
        jwt.decode(minter.mint("alice", 60), options={"verify_signature": False})["jti"]
        for _ in range(50)
    }
    assert len(ids) == 50


def test_audience_and_issuer_are_configurable():
    token = TokenMinter(SECRET, audience="warden-prod", issuer="hub").mint("bob", 60)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="warden-prod", issuer="hub")
    assert claims["sub"] == "bob"


def test_token_signed_with_another_secret_does_not_verify():
    token = TokenMinter("other" * 10).mint("mallory", 60)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"], audience="warden")


def test_expired_token_does_not_verify():
    token = TokenMinter(SECRET).mint("alice", -1)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"], audience="warden")


def test_empty_secret_is_refused():
    with pytest.raises(ValueError):
        TokenMinter("")


def test_private_file_is_owner_only_and_replaced_whole(tmp_path):
    path = tmp_path / "runtime" / "warden-kernel-token.jwt"
    write_private_file(str(path), "first")
    assert path.read_text() == "first"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stop = threading.Event()
    seen = set()

    def read_while_writing():
        while not stop.is_set():
            seen.add(path.read_text())

    reader = threading.Thread(target=read_while_writing)
    reader.start()
    for index in range(300):
        write_private_file(str(path), f"token-{index:03d}-" + "x" * 2000)
    stop.set()
    reader.join()
    # A reader only ever sees complete tokens, never a partly written file.
    assert all(
        text == "first" or (text.startswith("token-") and len(text) == 2010) for text in seen
    )
    assert path.read_text().startswith("token-299-")
    assert [name for name in os.listdir(path.parent)] == ["warden-kernel-token.jwt"]
