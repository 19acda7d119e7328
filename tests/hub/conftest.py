"""The real multi-user deployment, installed and started by the project's own scripts
(scripts/hub): real OS users, a real OpenID Connect login, real JupyterHub single-user servers
and kernels, and the real Warden service under its own OS user."""

from __future__ import annotations

import os
import subprocess

import pyarrow as pa
import pyarrow.parquet
import pytest

from deployment import REPO, STATE, Hub, HubUser, free_port


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, text=True, capture_output=True, **kwargs)


@pytest.fixture(scope="session")
def hub():
    if os.geteuid() != 0:
        raise RuntimeError(
            "the hub suite runs as root: it installs OS users and starts JupyterHub "
            "(bash scripts/test.sh does)"
        )
    installed = _run(["bash", "scripts/hub/install.sh"], timeout=1800)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    port = free_port()
    started = _run(["bash", "scripts/hub/start.sh", "--port", str(port)], timeout=600)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        ports = dict(
            line.split("=", 1) for line in (STATE / "run" / "ports.env").read_text().split()
        )
        yield Hub(
            url=f"http://127.0.0.1:{port}",
            api_url=f"http://127.0.0.1:{port}/hub/api",
            service_url=f"http://127.0.0.1:{ports['WARDEN_HUB_SERVICE_PORT']}",
            idp_url=f"http://127.0.0.1:{ports['WARDEN_HUB_IDP_PORT']}",
            operator_token=(STATE / "hub" / "operator-token").read_text().strip(),
            logins=dict(
                line.split() for line in (STATE / "hub" / "logins.txt").read_text().splitlines()
            ),
        )
    finally:
        _run(["bash", "scripts/hub/stop.sh"], timeout=120)


def _logged_in_with_server(hub: Hub, name: str) -> HubUser:
    user = HubUser(hub, name)
    user.log_in()
    user.start_server()
    return user


@pytest.fixture(scope="session")
def alice_logged_in(hub) -> HubUser:
    return _logged_in_with_server(hub, "alice")


@pytest.fixture
def alice(alice_logged_in) -> HubUser:
    """Alice with her server running (a test may stop it)."""
    alice_logged_in.start_server()
    return alice_logged_in


@pytest.fixture(scope="session")
def carlos(hub) -> HubUser:
    return _logged_in_with_server(hub, "carlos")


@pytest.fixture(scope="session")
def pat(hub) -> HubUser:
    """The privacy officer, who sees everything in the clear: the prize for an attacker."""
    return _logged_in_with_server(hub, "pat")


@pytest.fixture(scope="session")
def raw_trial() -> pa.Table:
    return pyarrow.parquet.read_table(
        STATE / "warden" / "lake" / "drug_xyz" / "trial_july2020.parquet"
    )
