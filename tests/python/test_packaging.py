"""The wheel's layout, built from a copy of the project with stand-ins for the npm
build output (the real one takes minutes and is not what is tested here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = "jupyterlab_warden-0.1.0.data/data"


def project_copy(destination: Path) -> Path:
    for name in ("pyproject.toml", "hatch_build.py", "install.json", ".gitignore"):
        shutil.copy(REPO / name, destination / name)
    shutil.copytree(REPO / "jupyter-config", destination / "jupyter-config")
    shutil.copytree(
        REPO / "warden",
        destination / "warden",
        ignore=shutil.ignore_patterns("__pycache__", "labextension", "service"),
    )
    return destination


def fake_build_output(project: Path) -> None:
    labextension = project / "warden" / "labextension"
    (labextension / "static").mkdir(parents=True)
    (labextension / "package.json").write_text('{"name": "jupyterlab-warden"}')
    (labextension / "static" / "remoteEntry.abc.js").write_text("// built")
    service = project / "warden" / "service"
    binding = service / "node_modules" / "@duckdb" / "node-bindings-linux-x64"
    binding.mkdir(parents=True)
    (service / "warden-service.cjs").write_text("// bundled")
    (binding / "duckdb.node").write_bytes(b"\x7fELF")
    (service / "native").mkdir()
    (service / "native" / "warden_duckdb_arrow.node").write_bytes(b"\x7fELF")


def build_wheel(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--retries",
            "0",
            "--no-build-isolation",
            "--no-deps",
            "-w",
            str(project / "dist"),
            str(project),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_RETRIES": "0"},
    )


def test_wheel_ships_both_extensions_and_the_service(tmp_path):
    project = project_copy(tmp_path)
    fake_build_output(project)
    result = build_wheel(project)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (project / "dist").glob("*.whl")
    assert not wheel.name.endswith("-none-any.whl"), (
        "a wheel with a native binding must carry a platform tag"
    )
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "warden/__init__.py",
        "warden/client.py",
        "warden/server/app.py",
        "warden/service/warden-service.cjs",
        "warden/service/node_modules/@duckdb/node-bindings-linux-x64/duckdb.node",
        "warden/service/native/warden_duckdb_arrow.node",
        f"{DATA}/share/jupyter/labextensions/jupyterlab-warden/package.json",
        f"{DATA}/share/jupyter/labextensions/jupyterlab-warden/static/remoteEntry.abc.js",
        f"{DATA}/share/jupyter/labextensions/jupyterlab-warden/install.json",
        f"{DATA}/etc/jupyter/jupyter_server_config.d/warden.json",
    } <= names
    assert not any(name.startswith("warden/labextension/") for name in names)


@pytest.mark.parametrize(
    "missing", ["warden/labextension/package.json", "warden/service/warden-service.cjs"]
)
def test_wheel_without_the_built_javascript_is_refused(tmp_path, missing):
    project = project_copy(tmp_path)
    fake_build_output(project)
    (project / missing).unlink()
    result = build_wheel(project)
    assert result.returncode != 0
    assert (
        f"Build the JavaScript before the wheel; missing: {missing}"
        in result.stdout + result.stderr
    )


def test_editable_wheel_enables_the_server_extension_but_leaves_the_front_end_to_develop(tmp_path):
    project = project_copy(tmp_path)
    fake_build_output(project)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hatchling",
            "build",
            "-t",
            "wheel:editable",
            "-d",
            str(project / "dist"),
        ],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (project / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert f"{DATA}/etc/jupyter/jupyter_server_config.d/warden.json" in names
    assert not any("labextensions" in name for name in names)
