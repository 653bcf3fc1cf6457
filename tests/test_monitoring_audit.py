"""Audit-trail review (issue 17) on a hand-made log whose findings are counted by hand."""

from __future__ import annotations

from datetime import date

import pandas as pd

from sgbm_redcap.monitoring.audit import audit_review, findings_frame
from sgbm_redcap.monitoring.log import log_frame
from sgbm_redcap.monitoring.sites import Sites
from sgbm_redcap.queries.reconcile import EXISTING_COLUMNS
from sgbm_redcap.reports.dashboard import script_json

SITES = Sites(["a", "b"], {"a": "Site A", "b": "Site B"}, {"1": "a", "2": "b"})


def _w(ts, user, record, details, action="Update record"):
    return {"timestamp": ts, "username": user, "action": f"{action} {record}",
            "details": details, "record": record}


LOG = log_frame([
    _w("2026-01-05 10:00", "a_crc", "1", "[instance = 1], ia_rano_inv = '3', ia_date = "
       "'2026-01-02', [instance = 2], ia_rano_inv = '3'", "Create record"),
    _w("2026-02-10 10:00", "a_crc", "1", "[instance = 1], ia_rano_inv = '2'"),  # after query
    _w("2026-01-06 10:00", "b_crc", "2", "ae_term = 'x'", "Create record"),
    _w("2026-01-07 10:00", "b_crc", "2", "ae_term = 'y'"),
    _w("2026-01-08 10:00", "b_crc", "2", "ae_term = 'z'"),
    _w("2026-01-09 10:00", "b_crc", "2", "ae_term = 'w'"),                    # 3 changes
    _w("2026-01-10 10:00", "a_crc", "2", "ae_term = 'w'"),                    # same value
    {"timestamp": "2026-03-01 09:00", "username": "admin", "action": "Delete record 3",
     "details": "record_id = '3'", "record": "3"},
    {"timestamp": "2026-03-02 09:00", "username": "admin", "action": "Manage/Design ",
     "details": "Edit user a_crc", "record": ""},
    {"timestamp": "2026-03-03 09:00", "username": "admin", "action": "Manage/Design ",
     "details": "Upload data dictionary", "record": ""},
])


def _query():
    row = dict.fromkeys(EXISTING_COLUMNS, "")
    row.update(record_id="1", instance=1, dq_id="q1", dq_status="3", dq_field="ia_rano_inv",
               dq_instance="1", dq_opened_date="2026-01-20", dq_closed_date="2026-02-01")
    return pd.DataFrame([row])


def test_each_kind_of_finding():
    found = audit_review(LOG, SITES, queries=_query(), cutoffs=[date(2026, 1, 31)],
                         user_dags={"a_crc": "a", "b_crc": "b", "admin": ""})
    kinds = findings_frame(found).groupby("kind").size().to_dict()
    assert kinds == {"after_query": 1, "after_cutoff": 1, "many_changes": 1, "deleted": 1,
                     "outside_dag": 1, "rights": 1, "design": 1}
    after = next(f for f in found if f.kind == "after_query")
    assert (after.who, after.when, after.record, after.site) == ("a_crc", "2026-02-10 10:00",
                                                                "1", "a")
    assert "'3' → '2'" in after.what and "instance 1" in after.what
    many = next(f for f in found if f.kind == "many_changes")
    assert many.record == "2" and "3 times" in many.what
    outside = next(f for f in found if f.kind == "outside_dag")
    assert (outside.who, outside.record) == ("a_crc", "2")


def test_instance_two_unchanged_and_no_user_dags_means_no_dag_check():
    found = audit_review(LOG, SITES)
    assert not [f for f in found if "instance 2" in f.what]
    assert not [f for f in found if f.kind in ("outside_dag", "after_query", "after_cutoff")]


def test_script_json_cannot_close_the_script_element():
    text = str(script_json({"x": "</script><!-- & \u2028"}))
    assert "<" not in text and ">" not in text and "&" not in text
    import json
    assert json.loads(text) == {"x": "</script><!-- & \u2028"}
