"""The kernel client against a scripted stand-in service (real HTTP, real Arrow bytes)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import warden
from warden import _progress

from fake_service import FakeService, Reply, arrow_reply, error_reply, json_reply

TRIAL = pa.record_batch(
    {
        "patient_id": pa.array([1, 2, 3], pa.int64()),
        "country": ["US", "US", "US"],
        "ssn": ["*******6789", "*******4321", None],
    }
)
METADATA = {
    "warden.policies": json.dumps(["grant-clinical", "mask-ssn"]),
    "warden.request_id": "r-1",
}


@pytest.fixture
def service():
    with FakeService() as fake:
        yield fake


@pytest.fixture
def kernel_env(monkeypatch, service, tmp_path):
    """The environment a kernel of a Warden-enabled Jupyter server has."""
    token_file = tmp_path / "token.jwt"
    token_file.write_text("file-token-1\n")
    monkeypatch.setenv("WARDEN_URL", service.url)
    monkeypatch.setenv("WARDEN_TOKEN", "env-token")
    monkeypatch.setenv("WARDEN_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("JPY_SESSION_NAME", "studies/trial ü.ipynb")
    return token_file


def test_import_is_light():
    heavy = ("jupyter_server", "tornado", "pyarrow", "pandas", "polars")
    code = f"import sys, warden; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_connect_without_environment_says_what_to_do(monkeypatch):
    for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_TOKEN_FILE", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(warden.ConfigurationError) as error:
        warden.connect()
    assert error.value.message == (
        "WARDEN_URL is not set: run inside a Jupyter server with the Warden extension, "
        "or pass url= and token="
    )
    with pytest.raises(
        warden.ConfigurationError,
        match="None of WARDEN_TOKEN_FILE, WARDEN_TOKEN, JUPYTERHUB_API_TOKEN is set",
    ):
        warden.connect(url="http://127.0.0.1:1")


def test_under_jupyterhub_the_kernel_uses_its_own_hub_token(service, monkeypatch):
    """A kernel of a JupyterHub server has JUPYTERHUB_API_TOKEN and no Warden token."""
    for name in ("WARDEN_TOKEN", "WARDEN_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WARDEN_URL", service.url)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token-of-alice")
    service.route(
        "GET", "/api/v1/whoami", json_reply({"user": "alice", "groups": [], "attributes": {}})
    )
    warden.connect().whoami()
    # A Warden token, when there is one (a job's WARDEN_TOKEN_FILE), comes first.
    monkeypatch.setenv("WARDEN_TOKEN", "job-token")
    warden.connect().whoami()
    authorizations = [request.headers["Authorization"] for request in service.requests]
    assert authorizations == ["Bearer hub-token-of-alice", "Bearer job-token"]


def test_requests_carry_token_client_and_notebook(service, kernel_env):
    service.route(
        "GET",
        "/api/v1/whoami",
        json_reply({"user": "alice", "groups": ["analysts"], "attributes": {}}),
    )
    client = warden.connect()
    assert client.whoami() == {"user": "alice", "groups": ["analysts"], "attributes": {}}
    headers = service.requests[-1].headers
    assert headers["Authorization"] == "Bearer file-token-1"
    assert headers["X-Warden-Client"] == "python-client"
    assert headers["X-Warden-Notebook"] == "studies/trial%20%C3%BC.ipynb"


def test_token_file_is_reread_before_every_request(service, kernel_env):
    service.route(
        "GET", "/api/v1/whoami", json_reply({"user": "alice", "groups": [], "attributes": {}})
    )
    client = warden.connect()
    client.whoami()
    kernel_env.write_text("file-token-2")
    client.whoami()
    kernel_env.unlink()  # unreadable file: the token from the environment is the fallback
    client.whoami()
    assert [r.headers["Authorization"] for r in service.requests] == [
        "Bearer file-token-1",
        "Bearer file-token-2",
        "Bearer env-token",
    ]


def test_explicit_url_and_token_win(service, kernel_env):
    service.route(
        "GET", "/api/v1/whoami", json_reply({"user": "svc", "groups": [], "attributes": {}})
    )
    warden.connect(url=service.url + "/", token="explicit", client="api").whoami()
    assert service.requests[-1].headers["Authorization"] == "Bearer explicit"
    assert service.requests[-1].headers["X-Warden-Client"] == "api"


def test_list_and_describe(service, kernel_env):
    summary = {"name": "drug_xyz.trial july", "database": "drug_xyz", "tags": ["clinical"]}
    service.route(
        "GET", "/api/v1/datasets", json_reply({"datasets": [summary], "tags": ["clinical"]})
    )
    service.route(
        "GET", "/api/v1/datasets/drug_xyz.trial%20july", json_reply({**summary, "columns": []})
    )
    client = warden.connect()
    assert client.list_datasets(query="trial", tag="clinical") == [summary]
    assert service.requests[-1].path == "/api/v1/datasets?q=trial&tag=clinical"
    assert client.describe("drug_xyz.trial july")["columns"] == []


def test_scan_sends_the_request_and_decodes_arrow(service, kernel_env):
    service.route(
        "POST", "/api/v1/datasets/clinical.trial/scan", arrow_reply([TRIAL, TRIAL], METADATA)
    )
    table = warden.connect().scan_as_arrow(
        "clinical.trial",
        columns=["patient_id", "ssn"],
        filter="patient_id > 1",
        limit=10,
        order_by="patient_id DESC",
    )
    assert json.loads(service.requests[-1].body) == {
        "columns": ["patient_id", "ssn"],
        "filter": "patient_id > 1",
        "orderBy": ["patient_id DESC"],
        "limit": 10,
        "maskIndicators": True,
    }
    assert table.num_rows == 6
    assert table.column("ssn").to_pylist()[:3] == ["*******6789", "*******4321", None]
    assert table.schema.metadata[b"warden.request_id"] == b"r-1"


def test_scan_body_leaves_out_what_was_not_asked(service, kernel_env):
    service.route("POST", "/api/v1/datasets/clinical.trial/scan", arrow_reply([TRIAL]))
    warden.connect().scan_as_arrow("clinical.trial")
    # Indicators are always asked for: with them, masked cells come as NULL.
    assert json.loads(service.requests[-1].body) == {"maskIndicators": True}
    with pytest.raises(warden.InvalidRequest, match="limit must be a non-negative integer"):
        warden.connect().scan_as_arrow("clinical.trial", limit=-1)


def test_scan_as_pandas_and_polars(service, kernel_env):
    service.route("POST", "/api/v1/datasets/clinical.trial/scan", arrow_reply([TRIAL], METADATA))
    client = warden.connect()
    frame = client.scan_as_pandas("clinical.trial")
    pd.testing.assert_frame_equal(frame, TRIAL.to_pandas())
    assert frame.attrs["warden"] == {
        "policies": ["grant-clinical", "mask-ssn"],
        "request_id": "r-1",
    }
    polars_frame = client.scan_as_polars("clinical.trial")
    assert polars_frame.equals(pl.from_arrow(pa.Table.from_batches([TRIAL])))


def test_scan_batches_arrive_while_the_body_is_still_streaming(service, kernel_env):
    first_batch_seen = threading.Event()

    def hold_after_first_batch(index: int) -> None:
        # The second batch is sent only once the client has decoded the first one:
        # a client that buffered the whole body would wait here forever.
        if index == 1:
            assert first_batch_seen.wait(10), "the client did not see the first batch in time"

    service.route(
        "POST",
        "/api/v1/datasets/clinical.trial/scan",
        arrow_reply([TRIAL, TRIAL.slice(0, 1)], between_chunks=hold_after_first_batch),
    )
    reader = warden.connect().scan_batches("clinical.trial")
    assert reader.schema.names == ["patient_id", "country", "ssn"]
    sizes = []
    for batch in reader:
        sizes.append(batch.num_rows)
        first_batch_seen.set()
    assert sizes == [3, 1]


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (400, "bad_request", warden.InvalidRequest),
        (400, "invalid_filter", warden.InvalidRequest),
        (400, "unknown_column", warden.InvalidRequest),
        (401, "unauthenticated", warden.Unauthenticated),
        (403, "forbidden", warden.Forbidden),
        (404, "not_found", warden.NotFound),
        (503, "audit_unavailable", warden.ServiceError),
        (503, "overloaded", warden.Overloaded),
        (503, "engine_unavailable", warden.ServiceUnavailable),
        (500, "source_error", warden.ServiceError),
        (500, "internal", warden.ServiceError),
        (502, "service_unavailable", warden.ServiceUnavailable),
    ],
)
def test_service_errors_become_exceptions(service, kernel_env, status, code, error_class):
    service.route(
        "POST", "/api/v1/datasets/clinical.trial/scan", error_reply(status, code, f"it went {code}")
    )
    with pytest.raises(error_class) as error:
        warden.connect().scan_as_pandas("clinical.trial", filter="age >")
    assert isinstance(error.value, warden.WardenError)
    assert (error.value.status, error.value.code, error.value.message) == (
        status,
        code,
        f"it went {code}",
    )
    assert str(error.value) == f"[{code}] it went {code}"


def test_overloaded_keeps_the_retry_after_header():
    error = warden.errors.error_from_response(503, "overloaded", "busy", "7")
    assert isinstance(error, warden.Overloaded)
    assert (error.retry_after, error.status, str(error)) == (7.0, 503, "[overloaded] busy")
    assert warden.errors.error_from_response(503, "overloaded", "busy", None).retry_after is None


def test_errors_without_a_json_body_map_by_status(service, kernel_env):
    service.route(
        "GET",
        "/api/v1/whoami",
        Reply(status=403, content_type="text/html", body=b"<h1>Forbidden</h1>"),
    )
    with pytest.raises(warden.Forbidden) as error:
        warden.connect().whoami()
    assert (error.value.code, error.value.message) == ("http_403", "<h1>Forbidden</h1>")


def test_python_exception_types_still_catch_warden_errors():
    assert issubclass(warden.NotFound, LookupError)
    assert issubclass(warden.Forbidden, PermissionError)
    assert issubclass(warden.InvalidRequest, ValueError)
    assert issubclass(warden.ServiceUnavailable, ConnectionError)


def test_unreachable_service_names_the_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(warden.ServiceUnavailable) as error:
        warden.connect(url=url, token="t").whoami()
    assert error.value.message.startswith(f"Could not reach the Warden service at {url}: ")
    assert error.value.code == "unreachable"


def test_truncated_stream_is_an_error(service, kernel_env):
    schema_and_first_batch, second_batch, _end_of_stream = arrow_reply([TRIAL, TRIAL]).chunks
    truncated = schema_and_first_batch + second_batch[: len(second_batch) // 2]
    service.route(
        "POST",
        "/api/v1/datasets/clinical.trial/scan",
        Reply(content_type="application/vnd.apache.arrow.stream", chunks=[truncated]),
    )
    with pytest.raises(warden.ServiceUnavailable, match="interrupted after 3 rows"):
        warden.connect().scan_as_arrow("clinical.trial")


def test_dropped_connection_mid_stream_is_an_error(service, kernel_env):
    service.route(
        "POST",
        "/api/v1/datasets/clinical.trial/scan",
        arrow_reply([TRIAL, TRIAL, TRIAL], drop_after_chunks=1),
    )
    with pytest.raises(warden.ServiceUnavailable, match="interrupted after 3 rows"):
        warden.connect().scan_as_pandas("clinical.trial")


def test_a_scan_answer_that_is_not_arrow_is_an_error(service, kernel_env):
    service.route("POST", "/api/v1/datasets/clinical.trial/scan", json_reply({"rows": []}))
    with pytest.raises(warden.ServiceError, match="Expected an Arrow stream"):
        warden.connect().scan_as_arrow("clinical.trial")


class _TerminalShell:
    """What IPython's terminal shell looks like to the progress line: no kernel."""


def test_slow_scan_shows_progress_in_terminal_ipython(service, kernel_env, monkeypatch, capsys):
    monkeypatch.setattr(_progress, "_ipython_shell", lambda: _TerminalShell())
    service.route(
        "POST",
        "/api/v1/datasets/clinical.trial/scan",
        arrow_reply(
            [TRIAL, TRIAL, TRIAL], between_chunks=lambda index: index == 1 and time.sleep(1.3)
        ),
    )
    warden.connect().scan_as_arrow("clinical.trial")
    err = capsys.readouterr().err
    assert "\rReading clinical.trial: 6 rows" in err
    assert "\rRead clinical.trial: 9 rows, " in err and err.endswith(" s\n")


def test_fast_scan_or_progress_false_shows_nothing(service, kernel_env, monkeypatch, capsys):
    monkeypatch.setattr(_progress, "_ipython_shell", lambda: _TerminalShell())
    service.route("POST", "/api/v1/datasets/clinical.trial/scan", arrow_reply([TRIAL]))
    warden.connect().scan_as_arrow("clinical.trial")
    service.route(
        "POST",
        "/api/v1/datasets/clinical.trial/scan",
        arrow_reply([TRIAL, TRIAL], between_chunks=lambda index: index == 1 and time.sleep(1.2)),
    )
    warden.connect().scan_as_arrow("clinical.trial", progress=False)
    assert capsys.readouterr().err == ""


def test_progress_in_a_notebook_updates_one_display(monkeypatch):
    import IPython.display

    class Handle:
        def __init__(self):
            self.updates = []

        def update(self, obj):
            self.updates.append(repr(obj))

    handle = Handle()
    shown = []

    def display(obj, display_id=False):
        shown.append((repr(obj), obj._repr_html_(), display_id))
        return handle

    class KernelShell:
        kernel = object()

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(_progress, "_ipython_shell", lambda: KernelShell())
    progress = _progress.ScanProgress("clinical.trial", delay=0, interval=0)
    progress.update(2048, 1_500_000)
    progress.update(4096, 3_000_000)
    progress.finish(5000, 3_600_000)
    assert shown[0][0].startswith("Reading clinical.trial: 2,048 rows, 1.5 MB (")
    assert shown[0][1].startswith('<pre class="warden-progress"')
    assert shown[0][2] is True
    assert handle.updates[0].startswith("Reading clinical.trial: 4,096 rows, 3.0 MB")
    assert handle.updates[1].startswith("Read clinical.trial: 5,000 rows, 3.6 MB in ")


def test_an_unknown_client_kind_is_refused_before_any_request(service):
    with pytest.raises(warden.InvalidRequest) as error:
        warden.connect(url=service.url, token="t", client="notebook")
    assert error.value.message == (
        "client must be one of preview, python-client, catalog, extension, api, got 'notebook'"
    )
    assert service.requests == []
