"""Query ageing (issue 14 / issue 17): which queries are open at a date, their age bucket,
by site; a site with no patient is not yet active; the monthly report shows the same numbers
the monitoring function gives."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from sgbm_redcap.monitoring import BUCKET_LABELS, query_ageing, study_sites
from sgbm_redcap.monitoring.ageing import bucket_of
from sgbm_redcap.queries.reconcile import EXISTING_COLUMNS
from sgbm_redcap.reports.query_ageing import NOT_YET_ACTIVE, query_ageing_section

REF = date(2026, 10, 31)
DAGS = [("site_a", "Site A"), ("site_b", "Site B"), ("site_c", "Site C")]


def _raw() -> pd.DataFrame:
    base = [{"record_id": r, "redcap_data_access_group": s, "redcap_repeat_instrument": "",
             "redcap_repeat_instance": ""} for r, s in (("1", "site_a"), ("2", "site_a"),
                                                        ("3", "site_b"))]
    return pd.DataFrame(base)


def _q(record: str, instance: int, status: str, opened: str, answered: str = "",
       closed: str = "") -> dict[str, object]:
    row: dict[str, object] = {c: "" for c in EXISTING_COLUMNS}
    row.update(record_id=record, instance=instance, dq_id=f"R:{record}:f:0:x{instance}",
               dq_status=status, dq_opened_date=opened, dq_answered_date=answered,
               dq_closed_date=closed)
    return row


QUERIES = pd.DataFrame([
    _q("1", 1, "1", "2026-10-31"),                 # open, 0 days
    _q("1", 2, "1", "2026-10-01"),                 # open, 30 days: still ≤30
    _q("1", 3, "4", "2026-09-30", "2026-10-05"),   # reopened: open, 31 days
    _q("2", 1, "2", "2026-08-01", "2026-11-10"),   # answered after the cut-off: open, 91
    _q("2", 2, "2", "2026-08-01", "2026-10-10"),   # answered before: awaiting review
    _q("2", 3, "3", "2026-07-01", "", "2026-10-30"),  # closed before: not open
    _q("3", 1, "3", "2026-09-01", "", "2026-11-05"),  # closed after: open at the cut-off, 60
    _q("3", 2, "1", "2026-11-02"),                 # raised after the cut-off: not counted
])


def test_buckets_have_their_edges_where_the_issue_puts_them():
    days = pd.Series([0, 30, 31, 60, 61, 90, 91, 400])
    assert list(bucket_of(days)) == [BUCKET_LABELS[i] for i in (0, 0, 1, 1, 2, 2, 3, 3)]


def test_open_queries_at_the_reference_date_by_site_and_bucket():
    sites = study_sites(_raw(), DAGS)
    ageing = query_ageing(QUERIES, sites, ref=REF)
    table = ageing.table.set_index("site")
    assert list(table.loc["site_a", BUCKET_LABELS]) == [2, 1, 0, 1]
    assert table.loc["site_a", "open"] == 4 and table.loc["site_a", "answered"] == 1
    assert list(table.loc["site_b", BUCKET_LABELS]) == [0, 1, 0, 0]
    assert table.loc["site_b", "answered"] == 0
    assert not table.loc["site_c", "active"] and table.loc["site_c", "open"] == 0
    assert ageing.total["open"] == 5
    # oldest first, with their ages
    assert list(ageing.listing["age_days"]) == [91, 60, 31, 30, 0]


def test_a_later_reference_date_sees_the_later_answers():
    ageing = query_ageing(QUERIES, study_sites(_raw(), DAGS), ref=date(2026, 11, 30))
    # open at 30 Nov: 1/1 (30 d), 1/2 (60 d), 1/3 reopened (61 d), 3/2 (28 d)
    assert sorted(ageing.listing["age_days"]) == [28, 30, 60, 61]


@pytest.fixture()
def raw_with_queries() -> pd.DataFrame:
    q = QUERIES.assign(redcap_repeat_instrument="data_queries",
                       redcap_repeat_instance=QUERIES["instance"].astype(str))
    q = q.drop(columns=["instance"]).merge(_raw()[["record_id", "redcap_data_access_group"]])
    return pd.concat([_raw(), q], ignore_index=True).fillna("")


def test_the_report_section_shows_the_monitoring_numbers_and_inactive_sites(raw_with_queries):
    section = query_ageing_section(raw_with_queries, DAGS, cutoff=REF)
    table = section.find("query-ageing")
    rows = {r[0]: r for r in table.rows}
    assert rows["Site A"][1:] == ["2", "2", "1", "0", "1", "4", "1"]
    assert rows["Site B"][1:] == ["1", "0", "1", "0", "0", "1", "0"]
    assert rows["Site C"][2] == NOT_YET_ACTIVE
    assert rows["All sites"][1:] == ["3", "2", "2", "0", "1", "5", "1"]
    assert section.find("fig-query-ageing") is not None


def test_the_monthly_report_has_the_section_under_data_quality(raw_with_queries, tmp_path):
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.reports.monthly import build_monthly_context
    from sgbm_redcap.source import build_tables
    from sgbm_redcap.synthetic.cohort import generate_cohort

    project = load_project("redcap_project")
    cohort = generate_cohort(n=30, seed=5, problem_rate=0.0)
    raw = cohort.to_frame(dictionary=project.dictionary, with_dag=True)
    first = raw[raw["redcap_repeat_instrument"] == ""].iloc[0]
    query = {c: "" for c in raw.columns} | {
        "record_id": first["record_id"], "redcap_data_access_group":
        first["redcap_data_access_group"], "redcap_repeat_instrument": "data_queries",
        "redcap_repeat_instance": "1", "dq_id": "X:1:f:0:g", "dq_status": "1",
        "dq_opened_date": "2026-07-01"}
    raw = pd.concat([raw, pd.DataFrame([query])], ignore_index=True)
    tables = build_tables(raw, project.dictionary, repeating_forms=project.repeating_forms,
                          missing_codes=project.missing_codes)
    context = build_monthly_context(tables, cutoff=date(2026, 10, 31), dags=project.dags)
    quality = context.section("data-quality")
    assert [s.id for s in quality.subsections][-1] == "query-ageing"
    table = context.find("query-ageing")
    site = dict(project.dags)[first["redcap_data_access_group"]]
    row = next(r for r in table.rows if r[0] == site)
    # 122 days open at the cut-off: the >90 bucket
    assert row[2:7] == ["0", "0", "0", "1", "1"]
    assert table.caption.startswith("Table ")
