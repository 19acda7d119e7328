"""The server extension's modules depend one way: the app assembles the handler, the
identity and the service endpoint; the handler and the identity never import the app."""

from __future__ import annotations

import subprocess
import sys

import pytest


def modules_loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


@pytest.mark.parametrize(
    ("module", "must_not_load"),
    [
        ("warden.server.handlers", {"warden.server.app", "warden.server.identity"}),
        ("warden.server.identity", {"warden.server.app", "warden.server.handlers"}),
        ("warden.server.service", {"warden.server.app", "warden.server.handlers"}),
    ],
)
def test_server_modules_do_not_import_the_app(module, must_not_load):
    assert modules_loaded_by(module) & must_not_load == set()
