"""The project log's parsing and the columns the indicators read (issue 17, at 10,000
patients: benchmarks/bench_monitoring.py): reading only some fields gives what reading all
of them and filtering gives, and the indicators need no column beyond RAW_FIELDS."""

from __future__ import annotations

from datetime import date

import pandas as pd

from sgbm_redcap.monitoring import study_sites
from sgbm_redcap.monitoring.entry import EVENT_DATE_FIELDS
from sgbm_redcap.monitoring.kris import RAW_FIELDS, compute_kris, kri_columns
from sgbm_redcap.monitoring.log import log_changes, log_frame
from sgbm_redcap.queries.reconcile import EXISTING_COLUMNS
from tests.report_world import seeded_export

LOG = [
    {"timestamp": "2026-03-02 10:00", "username": "dm", "action": "Update record 7",
     # a free-text value that itself reads like "field = 'value'" stays one value
     "details": "ae_term = 'rash, ia_date = '2026-01-01'', [instance = 3], "
                "ae_onset_date = '2026-02-20', ae_serious = '0'", "record": "7"},
    {"timestamp": "2026-03-01 09:00", "username": "dm", "action": "Create record 7",
     "details": "record_id = '7', sg_start_date = '2026-01-05', [instance = 2], "
                "ia_date = '2026-02-28'", "record": "7"},
    {"timestamp": "2026-03-01 08:00", "username": "admin", "action": "Manage/Design",
     "details": "Add user dm", "record": ""},
]


def test_reading_some_fields_equals_reading_all_and_filtering():
    log = log_frame(LOG)
    every = log_changes(log)
    some = log_changes(log, EVENT_DATE_FIELDS)
    expected = every[every["field"].isin(EVENT_DATE_FIELDS)].reset_index(drop=True)
    pd.testing.assert_frame_equal(some, expected)
    assert list(zip(some["field"], some["instance"], some["value"], strict=True)) == [
        ("ia_date", "2", "2026-02-28"), ("ae_onset_date", "3", "2026-02-20")]
    assert every.loc[every["field"] == "ae_term", "value"].tolist() == [
        "rash, ia_date = '2026-01-01'"]
    assert log["kind"].tolist() == ["user", "create", "update"]


def test_a_log_with_no_writes_gives_no_changes():
    changes = log_changes(log_frame(LOG[2:]), EVENT_DATE_FIELDS)
    assert list(changes.columns) == ["ts", "username", "kind", "record", "instance", "field",
                                     "value"]
    assert changes.empty


def test_the_indicators_read_no_column_beyond_raw_fields():
    project, raw = seeded_export()
    queries = pd.DataFrame(columns=EXISTING_COLUMNS)
    sites = study_sites(raw, project.dags)
    slim = kri_columns(raw)
    assert set(slim.columns) - set(RAW_FIELDS) <= {c for c in raw.columns
                                                  if c.startswith("redcap_")}
    assert slim.shape[1] < raw.shape[1] / 5
    ref = date(2026, 10, 31)
    full, cut = (compute_kris(r, queries, sites, ref=ref, findings=None) for r in (raw, slim))
    assert {k: {s: v.value for s, v in by.items()} for k, by in full.values.items()} == \
        {k: {s: v.value for s, v in by.items()} for k, by in cut.values.items()}
    pd.testing.assert_frame_equal(full.series, cut.series)
    assert full.values["missing_scans"]["*"].denominator > 0
