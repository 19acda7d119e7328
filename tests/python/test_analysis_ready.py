"""Masked values that do not spoil analysis: the kernel client against the real service on
the demo lake, checked against the raw files. A cell mask withholds a cell as a missing
value of the column's own type (never a marker string that ``value_counts()`` would
rank), dates and timestamps stay typed, and the optional indicator columns agree with the
raw data."""

from __future__ import annotations

import subprocess

import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

import warden
from warden.server.tokens import TokenMinter

from conftest import REPO, StandaloneService

TRIAL = "drug_xyz.trial_july2020"
BATCHES = "commercial.production_batches"
INDICATOR = "warden:masked:adverse_events"
# A cell mask on an integer column, for alice only: her units of the Osaka plant.
UNITS_POLICY = """\
policies:
  - name: osaka-units-withheld
    effect: cell_mask
    datasets: { names: [commercial.production_batches] }
    principals: { users: [alice] }
    columns: { names: [units] }
    when: plant = 'Osaka'
    mask: { type: redact, value: '[confidential]' }
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    tsx = str(REPO / "node_modules/.bin/tsx")
    subprocess.run(
        [tsx, "src/service/demo/cli.ts", "--out", str(out), "--rows", "750"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (out / "config/policies/units.yaml").write_text(UNITS_POLICY)
    service = StandaloneService(out / "config", out / "service.log")
    try:
        service.wait_healthy()
        yield out, service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def alice(demo):
    _, service = demo
    token = TokenMinter(service.secret).mint("alice", 600)
    return warden.connect(url=service.url, token=token, client="api")


@pytest.fixture(scope="module")
def raw_trial(demo):
    """The rows alice may see (US), straight from the Parquet file, in file order."""
    out, _ = demo
    raw = pq.read_table(out / "lake/drug_xyz/trial_july2020.parquet").to_pandas()
    return raw[raw.country == "US"].reset_index(drop=True)


def test_value_counts_do_not_rank_a_mask_marker(alice, raw_trial):
    frame = alice.scan_as_pandas(TRIAL, order_by="participant_id", progress=False)
    counts = frame.adverse_events.value_counts()
    assert "[blinded]" not in counts.index
    # What is counted are exactly the events of the treatment arm: the placebo arm's are withheld.
    treatment = raw_trial[raw_trial.arm == "treatment"]
    assert counts.to_dict() == treatment.adverse_events.value_counts().to_dict()
    placebo = int((raw_trial.arm == "placebo").sum())
    assert 0 < placebo < len(raw_trial)
    assert frame.attrs["warden"]["masked_cells"] == {"adverse_events": placebo}
    # Withheld cells are missing values, as are the events never reported.
    never_reported = int(treatment.adverse_events.isna().sum())
    assert int(frame.adverse_events.isna().sum()) == placebo + never_reported
    # No indicator columns unless asked for.
    assert INDICATOR not in frame.columns


def test_dates_and_timestamps_stay_typed(alice):
    frame = alice.scan_as_pandas(TRIAL, progress=False)
    assert str(frame.enrolled_on.dtype) == "datetime64[ms]"
    assert frame.enrolled_on.min() >= pd.Timestamp("2020-07-01")
    # year_only gives integers, not dates.
    assert str(frame.date_of_birth.dtype) == "int32"
    audit = alice.scan_as_pandas("warden.audit_log", progress=False)
    assert str(audit.time.dtype) == "datetime64[us, UTC]"
    polars_frame = alice.scan_as_polars(TRIAL, progress=False)
    assert polars_frame.schema["enrolled_on"] == pl.Date
    assert polars_frame.schema["adverse_events"] == pl.String
    assert polars_frame.schema["date_of_birth"] == pl.Int32


def test_indicators_agree_with_the_raw_data(alice, raw_trial):
    frame = alice.scan_as_pandas(
        TRIAL, order_by="participant_id", mask_indicators=True, progress=False
    )
    assert list(frame.columns)[-1] == INDICATOR
    assert str(frame[INDICATOR].dtype) == "bool"
    assert frame.participant_id.tolist() == raw_trial.participant_id.tolist()
    assert frame[INDICATOR].tolist() == (raw_trial.arm == "placebo").tolist()
    # Where the indicator is false the value is the raw one (missing included); where true, missing.
    shown = ~frame[INDICATOR]
    assert frame.adverse_events[shown].fillna("<none>").tolist() == (
        raw_trial.adverse_events[shown].fillna("<none>").tolist()
    )
    assert frame.adverse_events[frame[INDICATOR]].isna().all()

    table = alice.scan_as_arrow(TRIAL, mask_indicators=True, progress=False)
    field = table.schema.field(INDICATOR)
    assert field.metadata == {b"warden.indicator_for": b"adverse_events"}
    polars_frame = alice.scan_as_polars(TRIAL, mask_indicators=True, progress=False)
    assert polars_frame.schema[INDICATOR] == pl.Boolean
    assert polars_frame[INDICATOR].sum() == frame[INDICATOR].sum()


def test_a_cell_masked_integer_column_stays_integer(demo, alice):
    out, _ = demo
    raw = pq.read_table(out / "lake/commercial/production_batches.parquet").to_pandas()
    frame = alice.scan_as_pandas(BATCHES, order_by="batch_id", progress=False)
    # Nullable integers: a withheld cell does not turn the column into floats.
    assert str(frame.units.dtype) == "Int32"
    osaka = (raw.plant == "Osaka").tolist()
    assert frame.units.isna().tolist() == osaka
    assert frame.units[~frame.units.isna()].tolist() == raw.units[[not o for o in osaka]].tolist()
    assert frame.attrs["warden"]["masked_cells"] == {"units": sum(osaka)}
    # Column order is kept around the converted column.
    assert list(frame.columns) == list(raw.columns)
