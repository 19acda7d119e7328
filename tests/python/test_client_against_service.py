"""The kernel client against the real service (src/service through tsx): the Arrow
stream read batch by batch through warden/_arrow_stream.py, values checked."""

from __future__ import annotations

import pyarrow as pa
import pytest

import warden
from warden.server.tokens import TokenMinter

from conftest import VITALS_ROWS, StandaloneService, read_audit, write_service_config


@pytest.fixture(scope="module")
def client_as(standalone_service):
    minter = TokenMinter(standalone_service.secret)

    def connect(user: str) -> warden.Client:
        # As client "api": the kernel tests count the audit log's python-client scans.
        return warden.connect(
            url=standalone_service.url, token=minter.mint(user, 300), client="api"
        )

    return connect


def test_a_large_scan_arrives_in_several_batches_with_the_governed_values(client_as):
    reader = client_as("bob").scan_batches("clinical.vitals", progress=False)
    batches = list(reader)
    assert len(batches) > 1
    table = pa.Table.from_batches(batches, reader.schema)
    # bob's region is FR: every third row, from patient 1 on (see conftest.write_service_config).
    expected_ids = list(range(1, VITALS_ROWS, 3))
    assert table.column("patient_id").to_pylist() == expected_ids
    assert set(table.column("country").to_pylist()) == {"FR"}
    assert table.column("heart_rate").to_pylist() == [60 + i % 40 for i in expected_ids]


def test_scan_as_pandas_gets_masked_values_and_the_enforcement_metadata(client_as):
    frame = client_as("alice").scan_as_pandas(
        "clinical.trial", columns=["patient_id", "ssn", "adverse_events"], order_by="patient_id"
    )
    # Withheld cells are missing values (pandas' NaN for strings), not the mask's text.
    assert frame.astype(object).where(frame.notna(), None).to_dict("records") == [
        {"patient_id": 1, "ssn": "*******6789", "adverse_events": None},
        {"patient_id": 3, "ssn": "*******8901", "adverse_events": "none"},
        {"patient_id": 5, "ssn": "*******0123", "adverse_events": None},
    ]
    assert frame.attrs["warden"]["masked_cells"] == {"adverse_events": 2}
    assert frame.attrs["warden"]["row_filter"] == "rows where country = 'US'"
    assert frame.attrs["warden"]["policies"] == [
        "analysts-read-clinical",
        "analysts-own-region",
        "mask-direct-pii",
        "withhold-placebo-adverse-events",
    ]


def test_service_errors_arrive_as_their_classes(client_as):
    client = client_as("alice")
    with pytest.raises(warden.InvalidRequest) as bad_filter:
        client.scan_as_arrow("clinical.trial", filter="age >")
    assert (bad_filter.value.code, bad_filter.value.status) == ("invalid_filter", 400)
    with pytest.raises(warden.NotFound) as hidden:
        client.describe("finance.salaries")
    assert (hidden.value.code, hidden.value.status) == ("not_found", 404)


@pytest.fixture(scope="module")
def busy_service(tmp_path_factory):
    """A service that runs one heavy query at a time and lets no read wait for room."""
    config = write_service_config(tmp_path_factory.mktemp("busy-config"))
    with (config / "warden.yaml").open("a") as settings:
        settings.write(
            "resources:\n  heavy_queries: 1\n  queue_length: 0\n  queue_wait_seconds: 5\n"
        )
    service = StandaloneService(config, tmp_path_factory.mktemp("busy-service") / "service.log")
    try:
        service.wait_healthy()
        yield service, config
    finally:
        service.stop()


def test_a_read_the_service_has_no_room_for_raises_overloaded_with_retry_after(busy_service):
    service, config = busy_service
    minter = TokenMinter(service.secret)

    def client(user: str) -> warden.Client:
        return warden.connect(url=service.url, token=minter.mint(user, 300), client="api")

    # alice's sort takes the one heavy slot, and holds it while her reader takes nothing more.
    sorting = client("alice").scan_batches("clinical.notes", order_by="visit_id", progress=False)
    assert sorting.read_next_batch().num_rows > 0
    try:
        with pytest.raises(warden.Overloaded) as refused:
            client("bob").scan_as_arrow("clinical.vitals", order_by="heart_rate", progress=False)
        assert (refused.value.status, refused.value.code, refused.value.retry_after) == (
            503,
            "overloaded",
            5.0,
        )
        assert "a large sort/aggregate is running" in refused.value.message
        assert "retry in 5 s" in refused.value.message
        assert "ORDER_BY" not in refused.value.message
        # A read that sorts nothing is not held back.
        assert (
            client("bob").scan_as_arrow("clinical.vitals", limit=10, progress=False).num_rows == 10
        )
    finally:
        sorting.close()
    refusal = [record for record in read_audit(config) if record.get("outcome") == "refused"]
    assert [(record["user_name"], record["dataset"]) for record in refusal] == [
        ("bob", "clinical.vitals")
    ]
    assert "a large sort/aggregate is running" in refusal[0]["reason"]
    assert "heavy in the engine's plan: ORDER_BY" in refusal[0]["actual_reason"]
