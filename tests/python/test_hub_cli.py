"""`python -m warden token` outside a hub (tests/hub runs it in one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from warden.hub import parse_duration

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("12h", 43200), ("30d", 2592000), ("2w", 1209600)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0d", "-1d", "3y", "1.5h", "forever"])
def test_bad_durations_say_what_is_expected(text):
    with pytest.raises(ValueError, match=r"not a duration: .* \(examples: 12h, 30d, 2w\)"):
        parse_duration(text)


def test_outside_a_hub_server_the_cli_says_where_to_run_it():
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTERHUB_")}
    done = subprocess.run(
        [sys.executable, "-m", "warden", "token", "create"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: [not_configured] JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN, JUPYTERHUB_USER "
        "not set: run this in a terminal or notebook of your JupyterHub server"
    )


def test_an_existing_job_token_file_is_not_replaced_without_replace(tmp_path):
    """Refused before anything is asked of the hub (whose URL here answers nothing)."""
    token_file = tmp_path / "job-token"
    token_file.write_text("the token a cron job uses\n")
    env = {
        **os.environ,
        "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",
        "JUPYTERHUB_API_TOKEN": "server-token",
        "JUPYTERHUB_USER": "alice",
        "WARDEN_URL": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "warden", "token", "create", "--file", str(token_file)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (
        1,
        f"error: [exists] {token_file} already holds a job token: pass --replace to replace it "
        "(the previous token is revoked once the new one works), or --file to save the new "
        "one elsewhere\n",
    )
    assert token_file.read_text() == "the token a cron job uses\n"


def test_without_warden_url_no_token_is_created():
    env = {
        **os.environ,
        "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",
        "JUPYTERHUB_API_TOKEN": "server-token",
        "JUPYTERHUB_USER": "alice",
    }
    env.pop("WARDEN_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "warden", "token", "create"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: [not_configured] WARDEN_URL is not set: run this in a terminal or notebook of "
        "your JupyterHub server with Warden, so that the new token is checked with Warden"
    )
