"""Study rules on hand-made flat exports: a clean cohort gives no finding, each planted
problem gives exactly the expected finding."""

from __future__ import annotations

import pandas as pd
import pytest
from checks_fixtures import cohort, flat, set_value

from sgbm_redcap.checks import FINDING_COLUMNS, REGISTRY, run_checks, screening_table

CUTOFF = "2024-10-01"
STUDY = [r for r in REGISTRY if r.category != "dictionary"]


def check(rows) -> pd.DataFrame:
    return run_checks(flat(rows), cutoff=CUTOFF, rules=STUDY).findings


def keys(f: pd.DataFrame) -> set[tuple]:
    return set(f[["rule_id", "record_id", "form", "instance", "field"]].itertuples(
        index=False, name=None))


def test_clean_cohort_has_no_finding():
    f = check(cohort(4))
    assert list(f.columns) == FINDING_COLUMNS
    assert f.empty, f.to_string()


PLANTED = [
    ("", 0, {"diag_date": "1969-01-01"}, ("DATE-1", "2", "tumour", 0, "diag_date")),
    ("", 0, {"bm_diag_date": "2017-01-01"}, ("DATE-2", "2", "brain_mets_baseline", 0,
                                             "bm_diag_date")),
    ("sg_administration", 2, {"adm_date": "2024-02-01"},
     ("DATE-4", "2", "sg_administration", 2, "adm_date")),
    ("intracranial_assessment", 2, {"ia_date": "2024-02-20"},
     ("DATE-5", "2", "intracranial_assessment", 2, "ia_date")),
    ("adverse_events", 1, {"ae_onset_date": "2024-02-01"},
     ("DATE-7", "2", "adverse_events", 1, "ae_onset_date")),
    ("adverse_events", 1, {"ae_end_date": "2024-03-05"},
     ("DATE-8", "2", "adverse_events", 1, "ae_end_date")),
    ("", 0, {"vital_status": "2", "death_date": "2024-04-01"},
     ("DATE-9", "2", "follow_up", 0, "death_date")),
    ("", 0, {"eot_last_dose_date": "2024-02-01"},
     ("DATE-11", "2", "end_of_treatment", 0, "eot_last_dose_date")),
    ("", 0, {"ipd_date": "2024-02-28"}, ("DATE-12", "2", "follow_up", 0, "ipd_date")),
    ("adverse_events", 1, {"ae_onset_date": "2025-01-01", "ae_end_date": ""},
     ("DATE-10", "2", "adverse_events", 1, "ae_onset_date")),
    ("sg_administration", 3, {"adm_dose_level": "1", "adm_date": "2024-03-22"},
     None),  # 1,1,1: no reduction, no finding
    ("sg_administration", 3, {"adm_date": "2024-03-05"},
     ("DOSE-2", "2", "sg_administration", 3, "adm_date")),  # C2D1 before C1D8
    ("sg_administration", 2, {"adm_date": "2024-03-01"},
     ("DOSE-2", "2", "sg_administration", 2, "adm_date")),  # C1D8 on the day of C1D1
    ("", 0, {"bm_baseline_scan_date": "2023-12-01"}, None),  # the ia baseline still counts
    ("intracranial_assessment", 2, {"ia_tl1_ld": "19", "ia_tl2_ld": "14"},
     ("RANO-1", "2", "intracranial_assessment", 2, "ia_rano_inv")),
    ("intracranial_assessment", 2, {"ia_rano_inv": "4"},
     ("RANO-2", "2", "intracranial_assessment", 2, "ia_rano_inv")),
    ("intracranial_assessment", 2, {"ia_rano_inv": "3", "ia_new_lesion": "1"},
     ("RANO-3", "2", "intracranial_assessment", 2, "ia_rano_inv")),
    ("intracranial_assessment", 2, {"ia_rano_inv": "1"},
     ("RANO-4", "2", "intracranial_assessment", 2, "ia_rano_inv")),
    ("", 0, {"last_contact_date": "2024-06-01"},
     ("FU-1", "2", "follow_up", 0, "last_contact_date")),
    ("", 0, {"death_date": "2024-09-01"}, ("FU-2", "2", "follow_up", 0, "vital_status")),
    ("adverse_events", 1, {"ae_grade": "5", "ae_outcome": "5", "ae_serious": "1",
                           "ae_sae_criteria___1": "1"},
     ("AE-1", "2", "adverse_events", 1, "ae_grade")),
    ("adverse_events", 1, {"ae_outcome": "5"},
     ("AE-2", "2", "adverse_events", 1, "ae_outcome")),
    ("", 0, {"exc_trial": "1"}, ("ELIG-1", "2", "enrolment", 0, "exc_trial")),
    ("", 0, {"inc_followup": ""}, ("ELIG-3", "2", "enrolment", 0, "inc_followup")),
    ("", 0, {"birth_date": "2010-01-01"}, ("ELIG-4", "2", "enrolment", 0, "inc_age18")),
]


@pytest.mark.parametrize("form,instance,values,expected", PLANTED)
def test_planted_problem_gives_its_finding(form, instance, values, expected):
    rows = set_value(cohort(3), "2", form, instance, **values)
    got = keys(check(rows))
    assert got == ({expected} if expected else set())


def test_dose_re_escalation_is_found_on_the_later_administration():
    rows = cohort(1)
    rows.append({"record_id": "1", "redcap_repeat_instrument": "sg_administration",
                 "redcap_repeat_instance": "4", "adm_date": "2024-04-05", "adm_cycle": "3",
                 "adm_day": "1", "adm_dose_level": "1", "adm_status": "1"})
    f = check(rows)
    assert keys(f) == {("DOSE-1", "1", "sg_administration", 4, "adm_dose_level")}
    assert "10 mg/kg" in f["message"].iloc[0] and "7.5 mg/kg" in f["message"].iloc[0]


def test_administration_out_of_cycle_order_names_both_administrations():
    rows = set_value(cohort(2), "2", "sg_administration", 3, adm_date="2024-03-05")
    f = check(rows)
    (message,) = f.loc[f["rule_id"] == "DOSE-2", "message"]
    assert "cycle 2 day 1" in message and "2024-03-05" in message
    assert "cycle 1 day 8" in message and "2024-03-08" in message


def test_sd_call_with_a_partial_response_by_size():
    rows = set_value(cohort(1), "1", "intracranial_assessment", 2, ia_rano_inv="3")
    assert keys(check(rows)) == {("RANO-5", "1", "intracranial_assessment", 2, "ia_rano_inv")}


def test_missing_baseline_scan():
    rows = set_value(cohort(1), "1", "", 0, bm_baseline_scan_date="2023-12-01")
    rows = [r for r in rows if r.get("ia_type") != "1"]
    f = check(rows)
    assert ("SCAN-1", "1", "intracranial_assessment", 0, "ia_date") in keys(f)


def test_pd_by_growth_from_nadir_is_plausible_and_messages_name_the_numbers():
    rows = cohort(1)
    rows.append({"record_id": "1", "redcap_repeat_instrument": "intracranial_assessment",
                 "redcap_repeat_instance": "3", "ia_date": "2024-07-01", "ia_type": "2",
                 "ia_tl1_ld": "17", "ia_tl2_ld": "12", "ia_rano_inv": "4",
                 "ia_new_lesion": "0"})
    # nadir 12+10 = 22 mm, now 29 mm: +32% and lesion 1 is 5 mm larger -> PD is justified
    assert check(rows).empty
    rows[-1]["ia_tl1_ld"] = "16"   # +27% but no lesion 5 mm larger -> not PD by size
    assert keys(check(rows)) == {("RANO-2", "1", "intracranial_assessment", 3, "ia_rano_inv")}
    rows[-1]["ia_tl1_ld"] = "14"   # 26 mm: +18% -> not PD
    f = check(rows)
    assert keys(f) == {("RANO-2", "1", "intracranial_assessment", 3, "ia_rano_inv")}
    assert "26 mm" in f["message"].iloc[0] and "22 mm" in f["message"].iloc[0]


def test_findings_carry_the_site_and_a_failing_rule_does_not_stop_the_others():
    from sgbm_redcap.checks.registry import Rule

    def broken(ctx):
        raise RuntimeError("bug")

    bad = Rule("XX-1", "broken", "error", "dates", "f", "x", "m", "d", broken)
    rows = set_value(cohort(2), "2", "", 0, diag_date="1969-01-01")
    result = run_checks(flat(rows), cutoff=CUTOFF, rules=[bad, REGISTRY.get("DATE-1")])
    assert result.failed_rules == ["XX-1"] and result.not_run == {"XX-1"}
    assert list(result.findings["dag"]) == ["site_b"]
    assert list(result.findings.columns) == FINDING_COLUMNS


def test_screening_table_gives_each_criterion_and_the_reason():
    rows = set_value(cohort(2), "2", "", 0, exc_other_cancer="1", eligible="0")
    t = screening_table(flat(rows)).set_index("record_id")
    assert t.loc["1", "eligible_by_criteria"] == "eligible"
    assert t.loc["2", "exc_other_cancer"] == "not met"
    assert t.loc["2", "eligible_by_criteria"] == "not eligible"
    assert "another active primary cancer" in t.loc["2", "reason"]


def test_dictionary_rules_are_skipped_not_silently_empty_without_a_dictionary():
    result = run_checks(flat(cohort(1)), cutoff=CUTOFF)
    assert result.findings.empty and list(result.findings.columns) == FINDING_COLUMNS
    assert set(result.skipped_rules) == {r.rule_id for r in REGISTRY
                                         if r.category == "dictionary"}
    assert result.failed_rules == [] and result.not_run == set(result.skipped_rules)
