"""The query lifecycle as pure functions: open, leave, close, reopen, never duplicate."""

from __future__ import annotations

import pandas as pd
import pytest

from sgbm_redcap.checks.findings import FINDING_COLUMNS, query_id
from sgbm_redcap.queries.reconcile import (
    ANSWERED,
    CLOSED,
    EXISTING_COLUMNS,
    OPEN,
    REOPENED,
    apply_plan,
    normalise_existing,
    reconcile,
)

TODAY = "2026-11-25"


def findings(*rows: tuple[str, str, str, int, str]) -> pd.DataFrame:
    return pd.DataFrame([{"rule_id": r, "severity": "error", "record_id": rec, "form": form,
                          "instance": inst, "field": field, "message": f"{r} on {field}",
                          "value": "", "dag": "site_a"} for r, rec, form, inst, field in rows],
                        columns=FINDING_COLUMNS)


def no_queries() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in EXISTING_COLUMNS})


F1 = ("DATE-3", "1", "sg_treatment", 0, "sg_start_date")
F2 = ("AE-1", "1", "adverse_events", 2, "ae_grade")
F3 = ("FU-1", "2", "follow_up", 0, "last_contact_date")


def test_query_id_is_rule_record_form_instance_field():
    assert query_id("AE-1", "1", "adverse_events", 2, "ae_grade") == \
        "AE-1:1:adverse_events:2:ae_grade"
    assert query_id("DATE-3", "7", "sg_treatment", None, "sg_start_date").endswith(":0:sg_start_date")


def test_new_findings_open_queries_on_next_free_instances():
    plan = reconcile(findings(F1, F2, F3), no_queries(), today=TODAY)
    assert plan.counts() == {"open": 3, "close": 0, "reopen": 0}
    rows = {r["dq_id"]: r for r in plan.rows()}
    # record 1 gets instances 1 and 2, record 2 instance 1, in query-id order
    assert rows["AE-1:1:adverse_events:2:ae_grade"]["redcap_repeat_instance"] == "1"
    assert rows["DATE-3:1:sg_treatment:0:sg_start_date"]["redcap_repeat_instance"] == "2"
    assert rows["FU-1:2:follow_up:0:last_contact_date"]["redcap_repeat_instance"] == "1"
    r = rows["AE-1:1:adverse_events:2:ae_grade"]
    assert (r["dq_status"], r["dq_instance"], r["dq_opened_date"], r["dq_severity"]) == \
        (OPEN, "2", TODAY, "1")
    assert r["redcap_repeat_instrument"] == "data_queries"


def test_second_sweep_without_change_posts_nothing():
    first = reconcile(findings(F1, F2), no_queries(), today=TODAY)
    after = apply_plan(no_queries(), first)
    second = reconcile(findings(F1, F2), after, today="2026-11-26")
    assert len(second) == 0 and second.unchanged == 2


def test_gone_finding_closes_and_answered_persisting_finding_reopens():
    after = apply_plan(no_queries(), reconcile(findings(F1, F2), no_queries(), today=TODAY))
    after.loc[after["dq_id"].str.startswith("AE-1"), "dq_status"] = ANSWERED
    plan = reconcile(findings(F2), after, today="2026-11-26")
    acts = plan.actions.set_index("query_id")["action"].to_dict()
    assert acts == {"DATE-3:1:sg_treatment:0:sg_start_date": "close",
                    "AE-1:1:adverse_events:2:ae_grade": "reopen"}
    rows = {r["redcap_repeat_instance"]: r for r in plan.rows()}
    # applying keeps what the actions do not send (normal overwrite never blanks)
    applied = apply_plan(after, plan).set_index("dq_id")
    assert applied.loc["DATE-3:1:sg_treatment:0:sg_start_date", "dq_message"] == \
        "DATE-3 on sg_start_date"
    closed = next(r for r in rows.values() if r["dq_status"] == CLOSED)
    assert closed["dq_closed_date"] == "2026-11-26" and "no longer found" in closed["dq_note"]
    reopened = next(r for r in rows.values() if r["dq_status"] == REOPENED)
    assert "still show" in reopened["dq_note"]
    # and the state converges
    final = apply_plan(after, plan)
    assert len(reconcile(findings(F2), final, today="2026-11-27")) == 0


def test_closed_query_whose_finding_returns_is_reopened_not_duplicated():
    after = apply_plan(no_queries(), reconcile(findings(F1), no_queries(), today=TODAY))
    after = apply_plan(after, reconcile(findings(), after, today=TODAY, rules_run={"DATE-3"}))
    assert list(after["dq_status"]) == [CLOSED]
    plan = reconcile(findings(F1), after, today=TODAY)
    assert plan.counts() == {"open": 0, "close": 0, "reopen": 1}


def test_queries_of_rules_not_run_or_typed_by_hand_are_never_closed():
    after = apply_plan(no_queries(), reconcile(findings(F1, F3), no_queries(), today=TODAY))
    manual = pd.DataFrame([{"record_id": "2", "instance": 9, "dq_id": "asked by phone",
                            "dq_rule": "", "dq_status": OPEN, "dq_message": "",
                            "dq_site_response": ""}])
    existing = pd.concat([after, manual], ignore_index=True)
    plan = reconcile(findings(), existing, today=TODAY, rules_run={"FU-1"})
    assert list(plan.actions["query_id"]) == ["FU-1:2:follow_up:0:last_contact_date"]


def test_duplicate_instances_keep_the_first_and_close_the_others():
    after = apply_plan(no_queries(), reconcile(findings(F1), no_queries(), today=TODAY))
    copy = after.copy()
    copy["instance"] = 5
    existing = pd.concat([after, copy], ignore_index=True)
    plan = reconcile(findings(F1), existing, today=TODAY)
    assert plan.duplicates == ["DATE-3:1:sg_treatment:0:sg_start_date"]
    assert plan.actions[["action", "instance"]].values.tolist() == [["close", 5]]


def test_half_posted_plan_completes_without_duplicates():
    """A sweep killed after posting part of its plan: re-planning from what REDCap holds
    opens only the rest, on new instances."""
    fs = findings(F1, F2, F3)
    plan = reconcile(fs, no_queries(), today=TODAY)
    partial = plan.actions.iloc[:1]
    half = apply_plan(no_queries(), type(plan)(partial))
    second = reconcile(fs, half, today=TODAY)
    assert second.counts()["open"] == 2
    final = apply_plan(half, second)
    assert final["dq_id"].is_unique and len(final) == 3
    assert not final.duplicated(["record_id", "instance"]).any()


def test_normalise_existing_reads_data_queries_rows_of_a_flat_export():
    raw = pd.DataFrame([
        {"record_id": "1", "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
         "dq_id": "", "dq_status": ""},
        {"record_id": "1", "redcap_repeat_instrument": "data_queries",
         "redcap_repeat_instance": "3", "dq_id": "X-1:1:f:0:x", "dq_status": "2"},
    ])
    ex = normalise_existing(raw)
    assert ex[["record_id", "instance", "dq_id", "dq_status"]].values.tolist() == \
        [["1", 3, "X-1:1:f:0:x", "2"]]


@pytest.mark.parametrize("status,expected", [(OPEN, None), (REOPENED, None), (CLOSED, None),
                                             (ANSWERED, "reopen")])
def test_persisting_finding_by_status(status, expected):
    after = apply_plan(no_queries(), reconcile(findings(F1), no_queries(), today=TODAY))
    after["dq_status"] = status
    plan = reconcile(findings(F1), after, today=TODAY)
    got = plan.actions["action"].iloc[0] if len(plan) else None
    assert got == (expected if status != CLOSED else "reopen")


def test_new_queries_never_reuse_an_instance_typed_by_hand():
    blank = pd.DataFrame([{c: "" for c in EXISTING_COLUMNS}])
    blank["record_id"], blank["instance"] = "1", 4
    plan = reconcile(findings(F1), blank, today=TODAY)
    assert [r["redcap_repeat_instance"] for r in plan.rows()] == ["5"]
