"""The Python side of the API contract (warden/_contract.py) is generated from
src/common/api.ts and must agree with it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import warden
from warden import _contract
from warden.errors import CLASS_BY_CODE, error_code_of_status, error_from_response

REPO = Path(__file__).resolve().parents[2]
TSX = str(REPO / "node_modules" / ".bin" / "tsx")
GENERATOR = "scripts/gen-contract.mjs"


def generate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TSX, GENERATOR, *args], cwd=REPO, capture_output=True, text=True)


def test_generated_contract_is_up_to_date():
    result = generate("--check")
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_stale_contract(tmp_path):
    stale = tmp_path / "_contract.py"
    stale.write_text((REPO / "warden" / "_contract.py").read_text().replace("/api/v1", "/api/v0"))
    result = generate("--check", "--out", str(stale))
    assert result.returncode == 1
    assert (
        "is out of date with src/common/api.ts: run `npx tsx scripts/gen-contract.mjs`"
        in result.stderr
    )


def test_every_error_code_has_an_exception_class():
    assert set(CLASS_BY_CODE) == set(_contract.ERROR_STATUS)


@pytest.mark.parametrize("code", sorted(_contract.ERROR_STATUS))
def test_error_answers_become_their_class(code):
    status = _contract.ERROR_STATUS[code]
    error = error_from_response(status, code, "message")
    assert type(error) is CLASS_BY_CODE[code]
    assert isinstance(error, warden.WardenError)
    assert (error.code, error.status) == (code, status)


def test_status_fallback_agrees_with_typescript():
    statuses = list(range(400, 600))
    script = (
        "import { errorCodeOfStatus } from './src/common/api.ts';"
        f"console.log(JSON.stringify({statuses}.map(errorCodeOfStatus)));"
    )
    result = subprocess.run(
        [TSX, "--eval", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert [error_code_of_status(status) for status in statuses] == json.loads(result.stdout)
