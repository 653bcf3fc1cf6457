"""The sweep end to end against the sandbox over loopback HTTP: recall on the planted
problems, idempotence, the query lifecycle as sites fix and answer, and both backends."""

from __future__ import annotations

import json

from sweep_helpers import TODAY, fix_one, seeded_study, unmatched

from sgbm_redcap.checks import query_ids
from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.jobs import make_backend
from sgbm_redcap.queries.reconcile import ANSWERED, CLOSED, OPEN, REOPENED


def test_query_lifecycle_over_repeated_sweeps(tmp_path):
    """One scenario in order (the steps share the project's state, so they are one test and
    xdist can never run them apart): first sweep, a quiet second sweep, sites fixing and
    answering, then a dry run."""
    with seeded_study(tmp_path / "sweep", n=25, problem_rate=0.4) as study:
        _first_sweep_finds_every_planted_problem_and_nothing_else(study)
        _second_sweep_without_change_posts_nothing(study)
        _fixed_problem_closes_and_answered_persisting_problem_reopens(study)
        _dry_run_posts_nothing_writes_no_audit_and_lists_per_site(study, tmp_path)


def _first_sweep_finds_every_planted_problem_and_nothing_else(study):
    r = study.sweep()
    assert unmatched(r.findings, study.manifest) == []
    planted = {p.record_id for p in study.manifest}
    # FU-3 asks about every death of unknown or other cause: clean data, queried by design
    cause = r.findings["rule_id"] == "FU-3"
    assert set(r.findings.loc[~cause, "record_id"]) <= planted
    unclear = {c["record_id"] for c in study.cohort.clean_records
               if c["redcap_repeat_instrument"] == "" and c.get("vital_status") == "2"
               and c.get("death_cause") in ("4", "9")}
    assert set(r.findings.loc[cause, "record_id"]) == unclear
    q = study.queries()
    assert q["dq_id"].is_unique and len(q) == len(r.findings) == r.sent
    assert set(q["dq_status"]) == {OPEN}
    # the audit log holds one line per write
    log = (study.tmp / "audit.jsonl").read_text().splitlines()
    assert len(log) == r.sent


def _second_sweep_without_change_posts_nothing(study):
    before = study.queries()
    r = study.sweep()
    assert r.sent == 0 and r.plan.unchanged == len(before)
    assert study.queries().equals(before)


def _fixed_problem_closes_and_answered_persisting_problem_reopens(study):
    q = study.queries()
    problem = fix_one(study)
    # the record's queries the fix answers (an FU-3 query about its death stays open)
    on_record = q[(q["record_id"] == problem.record_id) & (q["dq_rule"] != "FU-3")]
    answered = q[q["record_id"] != problem.record_id].iloc[0]
    study.import_rows([{"record_id": answered.record_id, "redcap_repeat_instrument":
                        "data_queries", "redcap_repeat_instance": str(answered.instance),
                        "dq_status": ANSWERED, "dq_site_response": "checked, it is right"}])
    r = study.sweep()
    assert r.counts == {"open": 0, "close": len(on_record), "reopen": 1}
    after = study.queries().set_index("dq_id")
    for qid in on_record["dq_id"]:
        assert after.loc[qid, "dq_status"] == CLOSED
        assert after.loc[qid, "dq_closed_date"] == str(TODAY)
    assert after.loc[answered.dq_id, "dq_status"] == REOPENED
    assert "still show" in after.loc[answered.dq_id, "dq_note"]
    assert after.loc[answered.dq_id, "dq_site_response"] == "checked, it is right"
    # a rule that is not run closes nothing
    assert study.sweep(rules=[]).counts["close"] == 0


def _dry_run_posts_nothing_writes_no_audit_and_lists_per_site(study, tmp_path):
    from sgbm_redcap.queries import AuditLog

    before = study.queries()
    audit = AuditLog(tmp_path / "a.jsonl")
    r = study.sweep(rules=[], audit=audit, dry_run=True, listings_dir=tmp_path / "lists")
    assert r.dry_run and r.sent == 0 and audit.read() == []
    assert study.queries().equals(before)
    csvs = sorted(p.name for p in r.listings if p.suffix == ".csv")
    assert csvs and all(n.startswith("queries_site_") for n in csvs)
    html = next(p for p in r.listings if p.suffix == ".html").read_text()
    assert f"{study_project().short_name} data queries" in html


def test_data_quality_api_backend_lifecycle(tmp_path):
    with seeded_study(tmp_path, n=12, problem_rate=0.5, seed=7) as s:
        first = s.sweep("data_quality_api")
        assert first.sent == len(first.findings) > 0
        assert unmatched(first.findings, s.manifest) == []
        backend = make_backend("data_quality_api", s.url, s.token, today=TODAY)
        existing = backend.existing()
        assert sorted(existing["dq_id"]) == sorted(query_ids(first.findings))
        assert set(existing["dq_status"]) == {OPEN}
        assert s.sweep("data_quality_api").sent == 0
        problem = fix_one(s)
        other = existing[existing["record_id"] != problem.record_id].iloc[0]
        rid, _form, inst, field = other.dq_id.split(":")[1:]
        backend.http.post("dq_import", {"data": json.dumps([{
            "record": rid, "field_name": field, "instance": max(int(inst), 1),
            "comment": "source checked", "response": "CONFIRMED_CORRECT",
            "current_query_status": "OPEN", "username": "site_user"}])},
            params=backend._params("import"))
        r = s.sweep("data_quality_api")
        closed = set(existing.loc[existing["record_id"] == problem.record_id, "dq_id"])
        assert r.counts == {"open": 0, "close": len(closed), "reopen": 1}
        now = backend.existing().set_index("dq_id")["dq_status"]
        assert {now[q] for q in closed} == {CLOSED}
        assert now[other.dq_id] == REOPENED
        assert s.sweep("data_quality_api").sent == 0
