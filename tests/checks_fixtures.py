"""Small hand-made flat exports (raw strings) for the checks and queries tests."""

from __future__ import annotations

import pandas as pd

FLAT_COLUMNS = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance",
                "redcap_data_access_group"]


def clean_patient(rid: str, dag: str = "site_a") -> list[dict[str, str]]:
    """One consistent patient: eligible, SG from 2024-03-01, a baseline scan, a PR, alive."""
    base = {
        "record_id": rid, "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
        "redcap_data_access_group": dag,
        "screening_date": "2024-02-20", "enrol_date": "2024-02-25", "eligible": "1",
        "inc_age18": "1", "inc_histology": "1", "inc_bm_imaging": "1", "inc_sg_received": "1",
        "inc_clin_stable": "1", "inc_followup": "1", "exc_other_cancer": "0",
        "exc_no_consent": "0", "exc_trial": "0", "exc_investigator": "0",
        "birth_date": "1970-05-01", "diag_date": "2018-01-10", "bm_diag_date": "2023-12-01",
        "bm_baseline_scan_date": "2024-02-15", "sg_start_date": "2024-03-01",
        "sg_start_dose": "1", "eot_last_dose_date": "", "vital_status": "1",
        "last_contact_date": "2024-09-01", "death_date": "",
    }
    def rep(form: str, i: int, **values: str) -> dict[str, str]:
        return {"record_id": rid, "redcap_repeat_instrument": form,
                "redcap_repeat_instance": str(i), "redcap_data_access_group": "", **values}

    return [
        base,
        rep("sg_administration", 1, adm_date="2024-03-01", adm_cycle="1", adm_day="1",
            adm_dose_level="1", adm_status="1"),
        rep("sg_administration", 2, adm_date="2024-03-08", adm_cycle="1", adm_day="8",
            adm_dose_level="1", adm_status="1"),
        rep("sg_administration", 3, adm_date="2024-03-22", adm_cycle="2", adm_day="1",
            adm_dose_level="2", adm_status="1"),
        rep("intracranial_assessment", 1, ia_date="2024-02-15", ia_type="1",
            ia_tl1_ld="20", ia_tl2_ld="15", ia_rano_inv=""),
        rep("intracranial_assessment", 2, ia_date="2024-05-01", ia_type="2",
            ia_tl1_ld="12", ia_tl2_ld="10", ia_rano_inv="2", ia_new_lesion="0"),
        rep("adverse_events", 1, ae_onset_date="2024-03-10", ae_end_date="2024-03-20",
            ae_grade="2", ae_outcome="1"),
    ]


def flat(rows: list[dict[str, str]]) -> pd.DataFrame:
    """A flat export: every column present on every row, '' for blank."""
    cols = list(FLAT_COLUMNS)
    for r in rows:
        cols += [c for c in r if c not in cols]
    return pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows], columns=cols)


def cohort(n: int = 3) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for i in range(1, n + 1):
        rows += clean_patient(str(i), dag="site_a" if i % 2 else "site_b")
    return rows


def set_value(rows: list[dict[str, str]], rid: str, form: str, instance: int, **values: str
              ) -> list[dict[str, str]]:
    """Change values of one row (``form`` '' and instance 0 for the base row)."""
    for r in rows:
        if r["record_id"] == rid and r["redcap_repeat_instrument"] == form and (
                form == "" or r["redcap_repeat_instance"] == str(instance)):
            r.update(values)
            return rows
    raise KeyError((rid, form, instance))
