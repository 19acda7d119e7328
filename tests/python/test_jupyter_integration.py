"""End to end: real Jupyter servers with the Warden extension, the real service, real
kernels. alice (region US) and bob (region FR) are analysts; see conftest.py for the
dataset and policies."""

from __future__ import annotations

import getpass
import http.client
import io
import json
import os
import signal
import stat
import sys
import time
from pathlib import Path

import jwt
import psutil
import pyarrow as pa
import pyarrow.ipc
import pytest
import requests

from warden.server.app import BUNDLED_SERVICE
from warden.server.tokens import TokenMinter

from conftest import (
    NOTES_ROWS,
    SERVICE_COMMAND,
    VITALS_ROWS,
    JupyterServer,
    NotebookKernel,
    free_port,
    read_audit,
    wait_until,
)

ARROW = "application/vnd.apache.arrow.stream"
ALICE_ROWS = [
    {
        "patient_id": 1,
        "name": "Ann Lee",
        "ssn": "*******6789",
        "country": "US",
        "arm": "placebo",
        "age": 34,
        "adverse_events": "[withheld]",
    },
    {
        "patient_id": 3,
        "name": "Cara Diaz",
        "ssn": "*******8901",
        "country": "US",
        "arm": "treatment",
        "age": 47,
        "adverse_events": "none",
    },
    {
        "patient_id": 5,
        "name": "Eve Stone",
        "ssn": "*******0123",
        "country": "US",
        "arm": "placebo",
        "age": 62,
        "adverse_events": "[withheld]",
    },
]
# What the kernel client gets: withheld cells are missing values, not the mask's text.
ALICE_KERNEL_ROWS = [
    {
        **row,
        "adverse_events": None if row["adverse_events"] == "[withheld]" else row["adverse_events"],
    }
    for row in ALICE_ROWS
]
BOB_IDS = [2, 4]


def scan_through_proxy(
    lab: JupyterServer, dataset: str, body: dict | None = None, **kwargs
) -> requests.Response:
    return lab.post(f"/warden/api/v1/datasets/{dataset}/scan", json=body or {}, **kwargs)


def arrow_rows(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == ARROW
    return (
        pyarrow.ipc.open_stream(io.BytesIO(response.content))
        .read_all()
        .sort_by("patient_id")
        .to_pylist()
    )


@pytest.fixture(scope="module")
def alice_kernel(lab_alice):
    kernel = NotebookKernel(lab_alice, "studies/trial.ipynb")
    yield kernel
    kernel.close()


# -- identity ----------------------------------------------------------------------------


def test_whoami_through_the_proxy_is_the_configured_principal(lab_alice):
    response = lab_alice.get("/warden/api/v1/whoami")
    assert response.status_code == 200
    assert response.json() == {
        "user": "alice",
        "groups": ["analysts"],
        "attributes": {"region": "US"},
    }


def test_proxy_ignores_the_browsers_authorization_header(lab_alice):
    forged = TokenMinter("x" * 64).mint("mallory", 300)
    response = requests.get(
        f"{lab_alice.url}/warden/api/v1/whoami",
        params={"token": lab_alice.token},  # Jupyter credentials in the URL...
        headers={"Authorization": f"Bearer {forged}"},  # ...and a service token of our own
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["user"] == "alice"


def test_proxy_ignores_even_a_validly_signed_token_from_the_browser(lab_bob, standalone_service):
    genuine_for_mallory = TokenMinter(standalone_service.secret).mint("mallory", 300)
    assert (
        requests.get(
            f"{standalone_service.url}/api/v1/whoami",
            headers={"Authorization": f"Bearer {genuine_for_mallory}"},
            timeout=30,
        ).json()["user"]
        == "mallory"
    )
    response = requests.get(
        f"{lab_bob.url}/warden/api/v1/whoami",
        params={"token": lab_bob.token},
        headers={"Authorization": f"Bearer {genuine_for_mallory}"},
        timeout=30,
    )
    assert response.json()["user"] == "bob"


@pytest.mark.parametrize("credentials", [{}, {"Authorization": "token wrong"}])
def test_requests_without_jupyter_credentials_are_refused(lab_alice, credentials):
    for response in (
        requests.get(f"{lab_alice.url}/warden/api/v1/whoami", headers=credentials, timeout=30),
        requests.post(
            f"{lab_alice.url}/warden/api/v1/datasets/clinical.trial/scan",
            json={},
            headers=credentials,
            timeout=30,
        ),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


def test_cookie_authenticated_post_needs_the_xsrf_token(lab_alice):
    browser = requests.Session()
    assert (
        browser.get(f"{lab_alice.url}/lab?token={lab_alice.token}", timeout=30).status_code == 200
    )
    xsrf = browser.cookies["_xsrf"]
    scan = f"{lab_alice.url}/warden/api/v1/datasets/clinical.trial/scan"
    assert (
        browser.get(f"{lab_alice.url}/warden/api/v1/whoami", timeout=30).json()["user"] == "alice"
    )
    refused = browser.post(scan, json={}, timeout=30)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert refused.json()["error"]["message"] == "'_xsrf' argument missing from POST"
    accepted = browser.post(scan, json={}, headers={"X-XSRFToken": xsrf}, timeout=30)
    assert [row["patient_id"] for row in arrow_rows(accepted)] == [1, 3, 5]


def test_default_principal_on_a_local_server_is_the_os_user(standalone_service, tmp_path):
    lab = JupyterServer(
        tmp_path / "lab",
        [f"--Warden.service_url={standalone_service.url}"],
        env={"WARDEN_JWT_SECRET": standalone_service.secret},
    )
    try:
        assert lab.get("/warden/api/v1/whoami").json()["user"] == getpass.getuser()
    finally:
        lab.stop()


def test_with_an_identity_provider_that_knows_users_each_user_is_themselves(
    standalone_service, tmp_path
):
    """The JupyterHub case: browser requests act as the authenticated user; kernels act
    as the server's owner (JUPYTERHUB_USER)."""
    lab = JupyterServer(
        tmp_path / "lab",
        [
            f"--Warden.service_url={standalone_service.url}",
            "--ServerApp.identity_provider_class=hub_like_identity.HeaderIdentityProvider",
        ],
        env={
            "WARDEN_JWT_SECRET": standalone_service.secret,
            "JUPYTERHUB_USER": "alice",
            "PYTHONPATH": os.path.dirname(__file__),
        },
    )
    try:
        for user in ("alice", "bob"):
            response = lab.get("/warden/api/v1/whoami", headers={"X-Test-User": user})
            assert response.json()["user"] == user
        kernel = NotebookKernel(lab, "owner.ipynb")
        try:
            assert (
                kernel.run_json(
                    "import json, warden; print(json.dumps(warden.connect().whoami()['user']))"
                )
                == "alice"
            )
        finally:
            kernel.close()
    finally:
        lab.stop()


def test_unreachable_external_service_is_a_json_502(tmp_path):
    closed_port = free_port()
    lab = JupyterServer(
        tmp_path / "lab",
        [f"--Warden.service_url=http://127.0.0.1:{closed_port}"],
        env={"WARDEN_JWT_SECRET": "s" * 64},
    )
    try:
        response = lab.get("/warden/api/v1/whoami")
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "service_unavailable"
        assert error["message"] == "The Warden service is not answering; retry in a few seconds."
        # The connection error itself is for the operator.
        assert f"service unreachable at http://127.0.0.1:{closed_port}" in lab.log_text()
    finally:
        lab.stop()


# -- catalog and data through the proxy -----------------------------------------------------


def test_catalog_lists_only_granted_datasets(lab_alice):
    response = lab_alice.get("/warden/api/v1/datasets", params={"tag": "clinical"})
    assert response.status_code == 200
    assert sorted(d["name"] for d in response.json()["datasets"]) == [
        "clinical.trial",
        "clinical.vitals",
    ]
    everything = {d["name"] for d in lab_alice.get("/warden/api/v1/datasets").json()["datasets"]}
    assert "finance.salaries" not in everything


def test_describe_explains_the_enforcement(lab_alice):
    detail = lab_alice.get("/warden/api/v1/datasets/clinical.trial").json()
    columns = {column["name"]: column["effect"] for column in detail["columns"]}
    assert columns["ssn"]["access"] == "masked"
    assert columns["ssn"]["policy"] == "mask-direct-pii"
    assert detail["rowFilter"]["description"] == "rows where country = 'US'"


def test_scan_streams_the_governed_view_with_audit_context(lab_alice, service_config):
    response = scan_through_proxy(
        lab_alice,
        "clinical.trial",
        headers={"X-Warden-Client": "preview", "X-Warden-Notebook": "studies/trial.ipynb"},
    )
    assert arrow_rows(response) == ALICE_ROWS
    request_id = response.headers["X-Warden-Request-Id"]

    def records_of_this_request():
        records = [r for r in read_audit(service_config) if r["request_id"] == request_id]
        return records if len(records) == 2 else None

    # The completion record is written once the stream has ended.
    records = wait_until(records_of_this_request, 10, "no completion record in the audit log")
    assert {
        (r["user_name"], r["client"], r["notebook"], r["dataset"], r["outcome"]) for r in records
    } == {
        ("alice", "preview", "studies/trial.ipynb", "clinical.trial", "allowed"),
        ("alice", "preview", "studies/trial.ipynb", "clinical.trial", "completed"),
    }


def test_scan_request_options_apply_to_the_masked_view(lab_alice):
    response = scan_through_proxy(
        lab_alice,
        "clinical.trial",
        {
            "columns": ["patient_id", "adverse_events"],
            "filter": "adverse_events = '[withheld]'",
            "orderBy": ["patient_id DESC"],
            "limit": 1,
        },
    )
    table = pyarrow.ipc.open_stream(io.BytesIO(response.content)).read_all()
    assert table.to_pylist() == [{"patient_id": 5, "adverse_events": "[withheld]"}]


def test_large_scan_is_streamed_through_the_proxy(lab_alice):
    response = lab_alice.post("/warden/api/v1/datasets/clinical.vitals/scan", json={}, stream=True)
    assert response.status_code == 200
    assert response.headers.get("Transfer-Encoding") == "chunked"
    response.raw.decode_content = True
    reader = pyarrow.ipc.open_stream(response.raw)
    batches = list(reader)
    assert len(batches) > 1
    table = pa.Table.from_batches(batches)
    assert table.num_rows == VITALS_ROWS // 3
    assert table.column("country").unique().to_pylist() == ["US"]


def _next_views(lines) -> dict:
    """The data of the next `views` server-sent event."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: ") and event == "views":
            return json.loads(line[len("data: ") :])


def test_view_events_stream_through_the_proxy_and_end_when_the_browser_goes(
    lab_alice, service_config
):
    response = lab_alice.get(
        "/warden/api/v1/events", headers={"X-Warden-Client": "extension"}, stream=True
    )
    try:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert response.headers["X-Accel-Buffering"] == "no"
        lines = response.iter_lines(decode_unicode=True)
        before = _next_views(lines)["datasets"]
        assert sorted(before) == [
            "clinical.notes",
            "clinical.trial",
            "clinical.vitals",
            "warden.audit_log",
        ]
        detail = lab_alice.get("/warden/api/v1/datasets/clinical.trial").json()
        assert before["clinical.trial"] == detail["version"]

        # A policy deployed as docs/configuration.md says (written aside, renamed over) reaches
        # the open stream: it arrives through the proxy as soon as the service sends it.
        policies = service_config / "policies" / "clinical.yaml"
        original = policies.read_text()
        changed = original.replace("mask: { type: show_last, n: 4 }", "mask: { type: hash }")
        staged = policies.with_suffix(".tmp")
        staged.write_text(changed)
        staged.rename(policies)
        try:
            after = _next_views(lines)["datasets"]
        finally:
            staged.write_text(original)
            staged.rename(policies)
        assert after["clinical.trial"] != before["clinical.trial"]
        assert after["clinical.vitals"] == before["clinical.vitals"]
        assert _next_views(lines)["datasets"] == before
    finally:
        response.close()

    # The browser went away: the proxy drops the service's stream at its next heartbeat.
    def stream_ended():
        return [
            record
            for record in read_audit(service_config)
            if record["action"] == "watch"
            and record["event"] == "complete"
            and record["user_name"] == "alice"
        ]

    (ended,) = wait_until(stream_ended, 30, "the service's event stream was not ended")
    assert ended["outcome"] == "aborted"
    assert ended["rows"] == 3


def test_a_browser_that_leaves_mid_stream_is_recorded_as_aborted(lab_alice, service_config):
    """The browser reads 70 KB of a 27 MB answer and goes away: the proxy cuts the upstream
    request, and the service's complete record says aborted, with what left it, not all."""
    response = lab_alice.post(
        "/warden/api/v1/datasets/clinical.notes/scan",
        json={},
        stream=True,
        headers={"X-Warden-Notebook": "studies/leaving.ipynb"},
    )
    assert response.status_code == 200
    request_id = response.headers["X-Warden-Request-Id"]
    taken = len(response.raw.read(70_000))
    time.sleep(2)  # a browser tab that stalls, then is closed
    response.close()  # unread data left: the socket is reset

    def complete():
        records = [
            r
            for r in read_audit(service_config)
            if r["request_id"] == request_id and r["event"] == "complete"
        ]
        return records[0] if records else None

    record = wait_until(complete, 30, "no complete record for the abandoned stream")
    assert taken == 70_000
    # What left the service is bounded by the buffers on the way (kernel, proxy), far from all.
    assert record["outcome"] == "aborted", record
    assert record["rows"] < NOTES_ROWS, record
    assert record["bytes"] < 20_000_000, record
    # The server's log says so in one line, not as an uncaught exception or a service failure.
    log = lab_alice.log_path.read_text()
    assert "browser went away; aborted datasets/clinical.notes/scan" in log
    assert "Uncaught exception" not in log and "service failed mid-response" not in log


def test_service_errors_pass_through_unchanged(lab_alice):
    hidden = lab_alice.get("/warden/api/v1/datasets/finance.salaries")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    bad_filter = scan_through_proxy(lab_alice, "clinical.trial", {"filter": "age >"})
    assert bad_filter.status_code == 400
    assert bad_filter.json()["error"]["code"] == "invalid_filter"


@pytest.mark.parametrize(
    ("method", "route", "headers", "body", "message"),
    [
        ("GET", "whoami", {"X-Warden-Notebook": "%E0%A4%A"}, None, "header is not valid percent"),
        ("GET", "datasets/%E0%A4%A/preview", {}, None, "name in the URL is not valid percent"),
        ("GET", "datasets/clinical.trial/preview?limit=ten", {}, None, "limit must be a whole"),
        ("GET", "datasets/clinical.trial/snippet?flavour=excel", {}, None, "flavour must be"),
        ("POST", "datasets/clinical.trial/scan", {}, b'{"limit": 5', "body is not valid JSON"),
        ("POST", "datasets/clinical.trial/scan", {}, b'{"rows": 5}', "unknown key in scan body"),
        ("POST", "whoami", {}, b"{}", "takes GET, not POST"),
    ],
)
def test_malformed_input_through_the_proxy_is_a_400_with_an_audit_record(
    lab_alice, service_config, method, route, headers, body, message
):
    """Whatever the browser sends badly reaches the service as sent, and comes back as the
    service's 400 with what is wrong, recorded as invalid in the audit log."""
    headers = {**lab_alice.auth, **headers, "Content-Type": "application/json"}
    # http.client sends the path as written (requests and urllib3 re-encode a bad escape).
    connection = http.client.HTTPConnection("127.0.0.1", lab_alice.port, timeout=60)
    try:
        connection.request(method, f"/warden/api/v1/{route}", body=body, headers=headers)
        response = connection.getresponse()
        status, text, request_id = (
            response.status,
            response.read(),
            response.getheader("X-Warden-Request-Id"),
        )
    finally:
        connection.close()
    assert status == 400, text
    error = json.loads(text)["error"]
    assert error["code"] == "bad_request"
    assert message in error["message"]
    records = [r for r in read_audit(service_config) if r["request_id"] == request_id]
    assert [(r["user_name"], r["outcome"]) for r in records] == [("alice", "invalid")]
    if "X-Warden-Notebook" in headers:
        assert records[0]["notebook"] == "%E0%A4%A"


def test_two_labs_with_different_principals_see_different_rows(lab_alice, lab_bob):
    assert [
        row["patient_id"] for row in arrow_rows(scan_through_proxy(lab_alice, "clinical.trial"))
    ] == [1, 3, 5]
    assert [
        row["patient_id"] for row in arrow_rows(scan_through_proxy(lab_bob, "clinical.trial"))
    ] == BOB_IDS


# -- kernels ---------------------------------------------------------------------------------

KERNEL_SCAN = """
import json, os, warden
df = warden.connect().scan_as_pandas("clinical.trial")
print(json.dumps({
    "url": os.environ.get("WARDEN_URL"),
    "token_file": os.environ.get("WARDEN_TOKEN_FILE"),
    "env_token": os.environ.get("WARDEN_TOKEN"),
    "visible_secrets": [
        name for name in ("WARDEN_JWT_SECRET", "WARDEN_TEST_ARCHIVE_PASSWORD") if name in os.environ
    ],
    "rows": df.sort_values("patient_id").astype(object).where(df.notna(), None).to_dict("records"),
    "policies": df.attrs["warden"]["policies"],
}))
"""


def test_kernel_reads_the_governed_view_without_any_secret_in_the_notebook(
    alice_kernel, lab_alice, service_config
):
    result = alice_kernel.run_json(KERNEL_SCAN)
    assert result["url"].startswith("http://127.0.0.1:")
    assert result["rows"] == ALICE_KERNEL_ROWS
    assert result["policies"] == [
        "analysts-read-clinical",
        "analysts-own-region",
        "mask-direct-pii",
        "withhold-placebo-adverse-events",
    ]
    # Neither the token secret nor the service's database password reach the kernel.
    assert result["visible_secrets"] == []
    token_file = result["token_file"]
    assert os.path.dirname(token_file) == str(lab_alice.runtime_dir)
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    claims = jwt.decode(result["env_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["aud"], claims["iss"]) == ("alice", "warden", "jupyter-server")
    assert claims["exp"] - claims["iat"] == 6
    scans = [
        r
        for r in read_audit(service_config)
        if r["client"] == "python-client" and r["action"] == "scan"
    ]
    assert {(r["user_name"], r["notebook"], r["dataset"]) for r in scans} == {
        ("alice", "studies/trial.ipynb", "clinical.trial")
    }


def test_kernel_token_file_is_refreshed_so_long_sessions_keep_working(alice_kernel):
    token_file = alice_kernel.run_json(
        "import os, json; print(json.dumps(os.environ['WARDEN_TOKEN_FILE']))"
    )
    token_path = Path(token_file)
    first = token_path.read_text()
    wait_until(
        lambda: token_path.read_text() != first, 5, "the kernel token file was not refreshed"
    )
    # The token the kernel got at start has expired (6 s); the file keeps it working.
    time.sleep(7)
    result = alice_kernel.run_json(KERNEL_SCAN)
    assert jwt.decode(result["env_token"], options={"verify_signature": False})["exp"] < time.time()
    assert result["rows"] == ALICE_KERNEL_ROWS


def test_kernels_in_external_mode_use_the_central_service(lab_bob, standalone_service):
    kernel = NotebookKernel(lab_bob, "bob.ipynb")
    try:
        result = kernel.run_json(KERNEL_SCAN)
    finally:
        kernel.close()
    assert result["url"] == standalone_service.url
    assert [row["patient_id"] for row in result["rows"]] == BOB_IDS
    # The server's signing secret was in its environment; kernels must not inherit it.
    assert "WARDEN_JWT_SECRET" not in result["visible_secrets"]


def test_kernel_client_errors_are_specific(alice_kernel):
    code = """
import json, warden
client = warden.connect()
outcomes = {}
for name, call in {
    "hidden": lambda: client.describe("finance.salaries"),
    "bad_filter": lambda: client.scan_as_arrow("clinical.trial", filter="age >"),
    "bad_column": lambda: client.scan_as_arrow("clinical.trial", columns=["nope"]),
}.items():
    try:
        call()
        outcomes[name] = None
    except warden.WardenError as error:
        outcomes[name] = [type(error).__name__, error.code, error.status]
print(json.dumps(outcomes))
"""
    assert alice_kernel.run_json(code) == {
        "hidden": ["NotFound", "not_found", 404],
        "bad_filter": ["InvalidRequest", "invalid_filter", 400],
        "bad_column": ["InvalidRequest", "unknown_column", 400],
    }


# -- the service's life ----------------------------------------------------------------------


def test_service_is_restarted_when_it_dies_and_kernels_keep_working(lab_alice, alice_kernel):
    (leader,) = [p for p in lab_alice.service_processes() if p.ppid() == lab_alice.pid]
    os.killpg(leader.pid, signal.SIGKILL)
    leader.wait(10)
    # Meanwhile the browser is told so in one sentence: no exit code, no output, no path.
    outage = lab_alice.get("/warden/api/v1/whoami")
    assert outage.status_code in (502, 503)
    error = outage.json()["error"]
    assert error["code"] == "service_unavailable"
    assert error["message"] in (
        "The Warden service is restarting; retry in a few seconds.",
        "The Warden service is not answering; retry in a few seconds.",
    )
    wait_until(
        lambda: lab_alice.get("/warden/api/v1/whoami").status_code == 200,
        60,
        f"the service did not come back:\n{lab_alice.log_text()}",
        interval=0.5,
    )
    (new_leader,) = [p for p in lab_alice.service_processes() if p.ppid() == lab_alice.pid]
    assert new_leader.pid != leader.pid
    assert "The Warden service exited unexpectedly with code -9" in lab_alice.log_text()
    # Same port and same secret: the kernel's URL and token are still good.
    assert alice_kernel.run_json(KERNEL_SCAN)["rows"] == ALICE_KERNEL_ROWS


def test_default_command_runs_the_bundled_service(service_config, tmp_path):
    """What a wheel install runs: `node warden/service/warden-service.cjs`, with DuckDB's
    native binding resolved from warden/service/node_modules."""
    assert BUNDLED_SERVICE.is_file(), (
        f"{BUNDLED_SERVICE} is missing: run `npm run build:service` first"
    )
    lab = JupyterServer(
        tmp_path / "lab", [f"--Warden.config_dir={service_config}", "--Warden.principal=alice"]
    )
    try:
        lab.wait_for_warden()
        assert f"Starting the Warden service: node {BUNDLED_SERVICE} --config" in lab.log_text()
        response = lab.post(
            "/warden/api/v1/datasets/clinical.vitals/scan",
            json={"limit": 5, "orderBy": ["patient_id"]},
        )
        assert [row["patient_id"] for row in arrow_rows(response)] == [0, 3, 6, 9, 12]
    finally:
        lab.stop()


def test_stopping_jupyter_stops_the_service(service_config, tmp_path):
    lab = JupyterServer(
        tmp_path / "lab",
        [f"--Warden.config_dir={service_config}", "--Warden.principal=alice"]
        + [f"--Warden.service_command={part}" for part in SERVICE_COMMAND],
    )
    try:
        lab.wait_for_warden()
        service = lab.service_processes()
        assert service
        token_files = list(lab.runtime_dir.glob("warden-kernel-token-*.jwt"))
        assert len(token_files) == 1
        lab.process.send_signal(signal.SIGTERM)
        lab.process.wait(30)
        _, alive = psutil.wait_procs(service, timeout=10)
        assert alive == []
        assert not token_files[0].exists()
        assert "[warden-service]" in lab.log_text()
    finally:
        lab.stop()


def test_a_service_that_cannot_start_is_reported_with_its_output(tmp_path, service_config):
    crash = (
        "import sys; print('invalid configuration: catalog/x.yaml:3: bad tag', file=sys.stderr); "
        "sys.exit(3)"
    )
    lab = JupyterServer(
        tmp_path / "lab",
        [
            f"--Warden.config_dir={service_config}",
            f"--Warden.service_command={json.dumps([sys.executable, '-c', crash])}",
        ],
    )
    try:
        # The request waits for the start attempt to settle, then reports its failure.
        response = lab.get("/warden/api/v1/whoami")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "service_unavailable"
        assert error["message"] == (
            "The Warden service could not start; the Jupyter server log says why. "
            "It is tried again in 1 s."
        )
        # The exit code and the output are for the operator: in the log only.
        assert "exited with code 3" in lab.log_text()
        assert "invalid configuration: catalog/x.yaml:3: bad tag" in lab.log_text()
    finally:
        lab.stop()


def test_a_service_that_never_gets_healthy_times_out_clearly(tmp_path, service_config):
    hang = "import time; print('starting up...', flush=True); time.sleep(600)"
    lab = JupyterServer(
        tmp_path / "lab",
        [
            f"--Warden.config_dir={service_config}",
            f"--Warden.service_command={json.dumps([sys.executable, '-c', hang])}",
            "--Warden.service_startup_timeout=2",
        ],
    )
    try:
        response = lab.get("/warden/api/v1/whoami")
        assert response.status_code == 503
        message = response.json()["error"]["message"]
        assert message.startswith("The Warden service could not start")
        assert "starting up..." not in message
        assert "did not answer within 2 s" in lab.log_text()
        assert "starting up..." in lab.log_text()
    finally:
        lab.stop()


def test_a_service_that_starts_unavailable_answers_its_callers_why(tmp_path, service_config):
    """A service whose audit log cannot be written answers its health check 503: it has
    started (the proxy passes its own answers on), it is just not ready to release data."""
    unready = (
        "import json, sys\n"
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
        "class Handler(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        if self.path.endswith('/health'):\n"
        "            body = {'status': 'unavailable', 'version': '0', 'audit': 'unavailable',"
        " 'engines': 'ok'}\n"
        "        else:\n"
        "            body = {'error': {'code': 'audit_unavailable', 'message': 'disk full'}}\n"
        "        data = json.dumps(body).encode()\n"
        "        self.send_response(503)\n"
        "        self.send_header('Content-Type', 'application/json')\n"
        "        self.send_header('Content-Length', str(len(data)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(data)\n"
        "port = int(sys.argv[sys.argv.index('--port') + 1])\n"
        "HTTPServer(('127.0.0.1', port), Handler).serve_forever()\n"
    )
    lab = JupyterServer(
        tmp_path / "lab",
        [
            f"--Warden.config_dir={service_config}",
            f"--Warden.service_command={json.dumps([sys.executable, '-c', unready])}",
            "--Warden.service_startup_timeout=20",
        ],
    )
    try:
        response = lab.get("/warden/api/v1/whoami")
        assert response.status_code == 503
        assert response.json()["error"] == {"code": "audit_unavailable", "message": "disk full"}
        health = lab.get("/warden/api/v1/health")
        assert (health.status_code, health.json()["status"]) == (503, "unavailable")
        assert "The Warden service started unavailable" in lab.log_text()
    finally:
        lab.stop()


def test_missing_configuration_is_reported(tmp_path):
    lab = JupyterServer(tmp_path / "lab", [f"--Warden.config_dir={tmp_path / 'nowhere'}"])
    try:
        response = lab.get("/warden/api/v1/datasets")
        assert response.status_code == 503
        assert f"{tmp_path / 'nowhere'} has no warden.yaml" in response.json()["error"]["message"]
    finally:
        lab.stop()


def test_external_mode_without_a_secret_is_reported(tmp_path, standalone_service):
    lab = JupyterServer(tmp_path / "lab", [f"--Warden.service_url={standalone_service.url}"])
    try:
        response = lab.get("/warden/api/v1/whoami")
        assert response.status_code == 503
        assert "WARDEN_JWT_SECRET (Warden.jwt_secret_env)" in response.json()["error"]["message"]
    finally:
        lab.stop()
