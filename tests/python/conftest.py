"""Fixtures running the real thing: the Warden service (from src/service, through tsx)
and real Jupyter servers with the Warden extension, each in its own process."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
SERVICE_COMMAND = [
    str(REPO / "node_modules" / ".bin" / "tsx"),
    str(REPO / "src" / "service" / "main.ts"),
]
# A region's third (about 5 MB of Arrow) spans batches on either of the service's DuckDB-to-Arrow
# paths (the native one cuts them at 4 MB).
VITALS_ROWS = 900_000
# Notes: an answer (about 27 MB) larger than every buffer between the service and a browser.
NOTES_ROWS = 200_000

TRIAL = pa.table(
    {
        "patient_id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
        "name": ["Ann Lee", "Bruno Roy", "Cara Diaz", "Didier Blanc", "Eve Stone", "Fritz Bauer"],
        "ssn": [
            "123-45-6789",
            "234-56-7890",
            "345-67-8901",
            "456-78-9012",
            "567-89-0123",
            "678-90-1234",
        ],
        "country": ["US", "FR", "US", "FR", "US", "DE"],
        "arm": ["placebo", "treatment", "treatment", "placebo", "placebo", "treatment"],
        "age": pa.array([34, 51, 47, 29, 62, 45], pa.int64()),
        "adverse_events": ["headache", "nausea", "none", "rash", "dizziness", "none"],
    }
)

WARDEN_YAML = """\
data_roots: [lake]
identity:
  audience: warden
  issuer: jupyter-server
  hs256_secret_env: WARDEN_JWT_SECRET
audit:
  path: audit/audit.jsonl
masking:
  key_file: mask.key
connections:
  archive_pg:
    { host: 127.0.0.1, port: 9, database: archive, user: warden,
      password_env: WARDEN_TEST_ARCHIVE_PASSWORD }
"""
# The archive connection's password, as an operator would put it in the server's environment:
# the embedded service needs it, kernels must not see it.
os.environ["WARDEN_TEST_ARCHIVE_PASSWORD"] = "archive secret"

DIRECTORY_YAML = """\
users:
  alice: { groups: [analysts], attributes: { region: US } }
  bob: { groups: [analysts], attributes: { region: FR } }
groups:
  analysts: { description: Clinical data analysts }
"""

CATALOG_YAML = """\
datasets:
  - name: clinical.trial
    description: Phase III trial, July cohort
    owner: clinical-data@example.com
    tags: [clinical, phase3]
    source: { format: csv, path: clinical/trial.csv }
    columns:
      - { name: ssn, tags: [pii.direct], description: US social security number }
  - name: clinical.vitals
    description: Heart rate measurements
    owner: clinical-data@example.com
    tags: [clinical]
    source: { format: parquet, path: clinical/vitals.parquet }
  - name: clinical.notes
    description: Free-text notes, one per visit
    owner: clinical-data@example.com
    tags: [notes]
    source: { format: parquet, path: clinical/notes.parquet }
  - name: finance.salaries
    description: Salaries
    owner: hr@example.com
    tags: [finance]
    source: { format: csv, path: finance/salaries.csv }
"""

POLICIES_YAML = """\
policies:
  - name: analysts-read-notes
    effect: grant
    datasets: { tags: [notes] }
    principals: { groups: [analysts] }
  - name: analysts-read-clinical
    effect: grant
    datasets: { tags: [clinical] }
    principals: { groups: [analysts] }
  - name: analysts-own-region
    effect: row_filter
    datasets: { tags: [clinical] }
    principals: { groups: [analysts] }
    filter: country = user.region
  - name: mask-direct-pii
    effect: column_mask
    datasets: { tags: [clinical] }
    principals: { everyone: true }
    columns: { tags: [pii.direct] }
    mask: { type: show_last, n: 4 }
  - name: withhold-placebo-adverse-events
    effect: cell_mask
    datasets: { names: [clinical.trial] }
    principals: { groups: [analysts] }
    columns: { names: [adverse_events] }
    when: arm = 'placebo'
    mask: { type: redact, value: '[withheld]' }
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_service_config(root: Path) -> Path:
    """A complete service configuration directory with a small lake, per docs/configuration.md."""
    (root / "lake" / "clinical").mkdir(parents=True)
    (root / "lake" / "finance").mkdir(parents=True)
    (root / "catalog").mkdir()
    (root / "policies").mkdir()
    pyarrow.csv.write_csv(TRIAL, root / "lake" / "clinical" / "trial.csv")
    countries = pa.array(["US", "FR", "DE"] * (VITALS_ROWS // 3))
    vitals = pa.table(
        {
            "patient_id": pa.array(range(VITALS_ROWS), pa.int64()),
            "country": countries,
            "heart_rate": pa.array([60 + i % 40 for i in range(VITALS_ROWS)], pa.int32()),
        }
    )
    pyarrow.parquet.write_table(vitals, root / "lake" / "clinical" / "vitals.parquet")
    notes = pa.table(
        {
            "visit_id": pa.array(range(NOTES_ROWS), pa.int64()),
            "note": pa.array([f"visit {i}: " + "observations " * 9 for i in range(NOTES_ROWS)]),
        }
    )
    pyarrow.parquet.write_table(notes, root / "lake" / "clinical" / "notes.parquet")
    (root / "lake" / "finance" / "salaries.csv").write_text("employee,salary\nann,100\n")
    (root / "warden.yaml").write_text(WARDEN_YAML)
    (root / "directory.yaml").write_text(DIRECTORY_YAML)
    (root / "catalog" / "datasets.yaml").write_text(CATALOG_YAML)
    (root / "policies" / "clinical.yaml").write_text(POLICIES_YAML)
    (root / "mask.key").write_text(secrets.token_hex(16))
    return root


def read_audit(config_dir: Path) -> list[dict]:
    path = config_dir / "audit" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_until(condition, timeout: float, message: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


def stop_process_tree(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL what is left, including any grandchildren."""
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _, alive = psutil.wait_procs(family, timeout=5)
    for leftover in alive:
        leftover.kill()


class StandaloneService:
    """The service run on its own, as a central deployment would."""

    def __init__(self, config_dir: Path, log_path: Path):
        self.secret = secrets.token_hex(32)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log_path, "wb")  # noqa: SIM115 (the process's output; closed in stop())
        self.process = subprocess.Popen(
            [*SERVICE_COMMAND, "--config", str(config_dir), "--port", str(self.port)],
            env={**os.environ, "WARDEN_JWT_SECRET": self.secret},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        self.log_path = log_path

    def wait_healthy(self, timeout: float = 60) -> None:
        def healthy():
            if self.process.poll() is not None:
                raise AssertionError(f"service exited: {self.log_path.read_text()}")
            try:
                return requests.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(healthy, timeout, f"service not healthy: {self.log_path.read_text()}")

    def stop(self) -> None:
        stop_process_tree(self.process)
        self._log.close()


class JupyterServer:
    """A real `jupyter server` with the Warden extension, configured by arguments."""

    def __init__(self, workdir: Path, args: list[str], env: dict[str, str] | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.runtime_dir = workdir / "runtime"
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "jupyter.log"
        self.root_dir = workdir / "root"
        self.root_dir.mkdir(exist_ok=True)
        process_env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTER_CONFIG_DIR": str(workdir / "config"),
            "JUPYTER_DATA_DIR": str(workdir / "data"),
            **(env or {}),
        }
        for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_TOKEN_FILE"):
            process_env.pop(name, None)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (the process's output; closed in stop())
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                f"--ServerApp.token={self.token}",
                "--allow-root",
                "--ServerApp.open_browser=False",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={self.root_dir}",
                *args,
            ],
            env=process_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        self._wait_running()

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_running(self, timeout: float = 60) -> None:
        def running():
            if self.process.poll() is not None:
                raise AssertionError(f"jupyter server exited:\n{self.log_text()}")
            try:
                return requests.get(f"{self.url}/api/status", headers=self.auth, timeout=2).ok
            except requests.ConnectionError:
                return False

        wait_until(running, timeout, f"jupyter server did not start:\n{self.log_text()}")

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def get(self, path: str, **kwargs) -> requests.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return requests.get(self.url + path, headers=headers, timeout=60, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return requests.post(self.url + path, headers=headers, timeout=60, **kwargs)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.url + path, headers=self.auth, timeout=60)

    def wait_for_warden(self, timeout: float = 60) -> None:
        wait_until(
            lambda: self.get("/warden/api/v1/health").status_code == 200,
            timeout,
            f"Warden did not become ready:\n{self.log_text()}",
            interval=0.5,
        )

    def service_processes(self) -> list[psutil.Process]:
        """The service child processes (the command's process and its descendants)."""
        children = psutil.Process(self.pid).children(recursive=True)
        return [child for child in children if "main.ts" in " ".join(child.cmdline())]

    def stop(self) -> None:
        stop_process_tree(self.process)
        self._log.close()


@pytest.fixture(scope="session")
def service_config(tmp_path_factory) -> Path:
    return write_service_config(tmp_path_factory.mktemp("warden-config"))


@pytest.fixture(scope="session")
def standalone_service(service_config, tmp_path_factory):
    service = StandaloneService(service_config, tmp_path_factory.mktemp("service") / "service.log")
    try:
        service.wait_healthy()
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def lab_alice(service_config, tmp_path_factory):
    """Embedded mode: the Lab starts its own service; everything runs as alice.
    Kernel tokens live 6 s (refreshed every 2 s) to exercise the refresh."""
    lab = JupyterServer(
        tmp_path_factory.mktemp("lab-alice"),
        [
            f"--Warden.config_dir={service_config}",
            "--Warden.principal=alice",
            f"--Warden.service_command={json.dumps(SERVICE_COMMAND)}",
            "--Warden.kernel_token_lifetime_seconds=6",
        ],
    )
    try:
        lab.wait_for_warden()
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def lab_bob(standalone_service, tmp_path_factory):
    """External mode: the Lab uses the standalone service; everything runs as bob."""
    lab = JupyterServer(
        tmp_path_factory.mktemp("lab-bob"),
        [f"--Warden.service_url={standalone_service.url}", "--Warden.principal=bob"],
        env={"WARDEN_JWT_SECRET": standalone_service.secret},
    )
    try:
        yield lab
    finally:
        lab.stop()


class NotebookKernel:
    """A kernel started by the Jupyter server for a notebook (REST sessions API), driven
    over ZMQ with the connection file the server wrote."""

    def __init__(self, lab: JupyterServer, notebook_path: str):
        from jupyter_client import BlockingKernelClient

        # The server starts the kernel in the notebook's directory.
        (lab.root_dir / notebook_path).parent.mkdir(parents=True, exist_ok=True)
        response = lab.post(
            "/api/sessions",
            json={
                "path": notebook_path,
                "name": Path(notebook_path).name,
                "type": "notebook",
                "kernel": {"name": "python3"},
            },
        )
        assert response.status_code == 201, response.text
        self._lab = lab
        self.session_id = response.json()["id"]
        kernel_id = response.json()["kernel"]["id"]
        self._client = BlockingKernelClient()
        self._client.load_connection_file(str(lab.runtime_dir / f"kernel-{kernel_id}.json"))
        # No heartbeat channel: right after start it can report "not beating" yet, which
        # wait_for_ready takes for a dead kernel. The server watches the kernel anyway.
        self._client.start_channels(hb=False)
        self._client.wait_for_ready(timeout=60)

    def run(self, code: str) -> str:
        """Execute code; return its stdout, or fail with the kernel's traceback."""
        stdout: list[str] = []
        errors: list[str] = []

        def collect(message):
            content = message["content"]
            if message["msg_type"] == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif message["msg_type"] == "error":
                errors.append("\n".join(content["traceback"]))

        reply = self._client.execute_interactive(code, timeout=120, output_hook=collect)
        assert reply["content"]["status"] == "ok", "\n".join(errors)
        return "".join(stdout)

    def run_json(self, code: str):
        """Execute code whose last stdout line is JSON; return it decoded."""
        return json.loads(self.run(code).strip().splitlines()[-1])

    def close(self) -> None:
        self._client.stop_channels()
        self._lab.delete(f"/api/sessions/{self.session_id}")
