"""sync_queries with an in-memory backend: the audit log is written before each write,
batches, dry runs, and the per-site listings."""

from __future__ import annotations

import pandas as pd

from sgbm_redcap.checks.findings import FINDING_COLUMNS
from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.queries import AuditLog, apply_plan, sync_queries
from sgbm_redcap.queries.listings import write_listings
from sgbm_redcap.queries.reconcile import EXISTING_COLUMNS


class MemoryBackend:
    name = "memory"

    def __init__(self, audit: AuditLog | None = None):
        self.state = pd.DataFrame({c: pd.Series(dtype=object) for c in EXISTING_COLUMNS})
        self.calls: list[list[dict]] = []
        self.audit_seen: list[int] = []
        self.audit = audit

    def existing(self) -> pd.DataFrame:
        return self.state.copy()

    def send(self, actions):
        if self.audit is not None:
            self.audit_seen.append(len(self.audit.read()))
        self.calls.append(actions)
        from sgbm_redcap.queries.reconcile import Plan

        self.state = apply_plan(self.state, Plan(pd.DataFrame(actions)))
        return len(actions)


def findings(n: int, dag: str = "site_01") -> pd.DataFrame:
    return pd.DataFrame([{"rule_id": "FU-1", "severity": "warning", "record_id": str(i),
                          "form": "follow_up", "instance": 0, "field": "last_contact_date",
                          "message": f"<b>stale</b> {i}", "value": "", "dag": dag}
                         for i in range(1, n + 1)], columns=FINDING_COLUMNS)


def test_each_batch_is_in_the_audit_log_before_it_is_sent(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    backend = MemoryBackend(audit)
    result = sync_queries(findings(5), backend, today="2026-11-25", audit=audit,
                          sweep_id="s1", batch_size=2)
    assert [len(c) for c in backend.calls] == [2, 2, 1]
    assert backend.audit_seen == [2, 4, 5]           # written before each send
    entries = audit.read()
    assert {e["action"] for e in entries} == {"open"} and {e["sweep"] for e in entries} == {"s1"}
    assert entries[0]["values"]["dq_status"] == "1" and "token" not in str(entries)
    assert result.sent == 5


def test_dry_run_sends_and_audits_nothing(tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    backend = MemoryBackend()
    result = sync_queries(findings(3), backend, today="2026-11-25", audit=audit, dry_run=True)
    assert result.counts["open"] == 3 and result.sent == 0
    assert backend.calls == [] and audit.read() == []


def test_listings_one_csv_and_html_per_site_with_escaping(tmp_path):
    from sgbm_redcap.reports.quality import render_site_listing

    backend = MemoryBackend()
    sync_queries(findings(2), backend, today="2026-11-25", audit=None)
    state = backend.existing()
    state["dag"] = ["site_01", "site_02"]
    assert [p.name for p in write_listings(state, tmp_path / "csv", as_of="2026-11-25")] == [
        "queries_site_01.csv", "queries_site_02.csv"]          # no renderer: CSV only
    paths = write_listings(state, tmp_path, as_of="2026-11-25",
                           render_html=render_site_listing)
    assert sorted(p.name for p in paths) == ["queries_site_01.csv", "queries_site_01.html",
                                            "queries_site_02.csv", "queries_site_02.html"]
    # UTF-8 with a BOM, so that Excel on Windows reads Chinese text right
    assert (tmp_path / "queries_site_01.csv").read_bytes().startswith(b"\xef\xbb\xbfQuery,")
    csv = pd.read_csv(tmp_path / "queries_site_01.csv", dtype=str, encoding="utf-8-sig")
    assert list(csv["Query"]) == ["FU-1:1:follow_up:0:last_contact_date"]
    assert list(csv["Status"]) == ["open"]
    html = (tmp_path / "queries_site_01.html").read_text()
    assert "&lt;b&gt;stale&lt;/b&gt; 1" in html and "<b>stale</b>" not in html
    # the reports' site-listing template, with the same rows as the CSV
    # titled with the site's label (project.toml), not its DAG's unique name
    label = dict(study_project().dags)["site_01"]
    assert f"Data queries: {label}" in html and "site_01" not in html.split("<body", 1)[1]
    assert f"{study_project().short_name} data queries" in html
    # labels as the CRF shows them, never the raw form/field names
    assert "FU-1" in html and "Date of last contact (last known alive)" in html
    assert "last_contact_date" not in html


def test_the_sweep_listings_and_the_report_site_listing_share_their_rows():
    from sgbm_redcap.queries.listings import by_site

    backend = MemoryBackend()
    sync_queries(findings(3), backend, today="2026-11-25", audit=None)
    state = backend.existing()
    state["dag"] = ["site_01", "site_01", "site_02"]
    sites = by_site(state)
    assert [(s.dag, s.stem, len(s.queries)) for s in sites] == [
        ("site_01", "queries_site_01", 2), ("site_02", "queries_site_02", 1)]
    assert list(sites[0].queries["status"]) == ["open", "open"]
