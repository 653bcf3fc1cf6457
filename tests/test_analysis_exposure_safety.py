"""Exposure, TEAE window, max grade per pooled term, AESI onset, G-CSF."""

import pandas as pd
import pytest
from analysis_world import World

from sgbm_redcap.analysis.exposure import exposure, exposure_summary
from sgbm_redcap.analysis.safety import (
    adverse_events,
    aesi_summary,
    gcsf_use,
    teae_by_term,
    teae_overview,
)


def _world():
    w = World().patient("1", sg_start="2024-01-01", doses=0).patient("2", doses=2)
    adm = [("2024-01-01", 1, "1", "1"), ("2024-01-08", 1, "8", "1"),
           ("2024-01-29", 2, "1", "2"), ("2024-02-05", 2, "8", "2"),
           ("2024-02-19", 3, "1", "3")]
    for date, cycle, day, level in adm:
        w.add("sg_administration", "1", adm_date=date, adm_cycle=cycle, adm_day=day,
              adm_dose_level=level, adm_dose_mg=float({"1": 600, "2": 450, "3": 300}[level]),
              adm_status="2" if date == "2024-01-29" else "1",
              adm_delay_days=7 if date == "2024-01-29" else "")
    w.add("sg_administration", "1", adm_date="2024-02-26", adm_cycle=3, adm_day="8",
          adm_dose_level="3", adm_status="3")
    w.add("end_of_treatment", "1", eot_reason="1", eot_ongoing="0",
          eot_last_dose_date="2024-02-19")
    return w


def test_exposure_counts_doses_cycles_reductions_and_rdi():
    e = exposure(_world().tables()).set_index("record_id").loc["1"]
    assert (e.n_doses, e.n_cycles, e.n_delays, e.n_reductions) == (5, 3, 1, 2)
    assert e.duration_days == 50                      # 2024-01-01 .. 2024-02-19
    assert e.cumulative_mg == 2400
    assert e.cumulative_mg_per_kg == 10 + 10 + 7.5 + 7.5 + 5
    # delivered 40 mg/kg over (49 + 21) days = 10 weeks -> 4 mg/kg/week of 20/3 planned
    assert e.relative_dose_intensity == pytest.approx(4 / (20 / 3))
    assert e.lowest_level_mg_per_kg == 5.0
    assert e.discontinued and e.discontinuation_reason == "Intracranial progression"


def test_exposure_summary_reports_medians_and_counts():
    s = exposure_summary(exposure(_world().tables())).set_index("measure")
    assert s.loc[">= 1 dose reduction", "n"] == 1
    assert s.loc["Discontinued", "value"] == "1 (50.0%)"
    assert s.loc["Cycles", "value"].startswith("2.00")


def _ae_world():
    w = _world()
    ae = [  # (record, term code, onset, grade, serious, relation, action)
        ("1", "1101", "2024-01-15", "3", "0", "1", "2"),   # neutrophil count decreased
        ("1", "1101", "2024-02-10", "4", "0", "1", "3"),
        ("2", "1101", "2024-01-20", "2", "0", "1", "1"),
        ("1", "1001", "2024-03-15", "2", "0", "2", "1"),   # 25 days after last dose: TEAE
        ("1", "1001", "2024-03-25", "3", "1", "2", "1"),   # 35 days after: not TEAE
        ("1", "999", "2023-12-20", "1", "0", "2", "1"),    # before first dose: not TEAE
    ]
    for rid, code, onset, grade, serious, rel, action in ae:
        w.add("adverse_events", rid, ae_term=code, ae_onset_date=onset, ae_grade=grade,
              ae_serious=serious, ae_relation=rel, ae_action=action,
              ae_term_other="Neutropenia" if code == "999" else "")
    w.add("adverse_events", "2", ae_term="999", ae_term_other="neutropenia",
          ae_onset_date="2024-01-25", ae_grade="3", ae_serious="1", ae_relation="1",
          ae_action="4")
    return w


def test_teae_window_is_first_dose_to_last_dose_plus_30_days():
    ae = adverse_events(_ae_world().tables())
    assert ae["teae"].tolist() == [True, True, True, True, False, False, True]


def test_neutropenia_pooled_and_counted_once_at_highest_grade():
    ae = adverse_events(_ae_world().tables())
    table = teae_by_term(ae, n_safety=2).set_index("term")
    neut = table.loc["Neutropenia"]
    assert (neut.n_any, neut.n_grade3plus, neut.n_grade3, neut.n_grade4) == (2, 2, 1, 1)
    assert table.loc["Anemia", "n_any"] == 1 and table.loc["Anemia", "n_grade3plus"] == 0
    assert table.index[0] == "Neutropenia"


def test_overview_counts_patients_not_events():
    ae = adverse_events(_ae_world().tables())
    o = teae_overview(ae, n_safety=2).set_index("category")["n"]
    assert o["Any TEAE"] == 2
    assert o["Grade >= 3 TEAE"] == 2
    assert o["Serious TEAE"] == 1
    assert o["TEAE leading to dose reduction"] == 1
    assert o["TEAE leading to discontinuation"] == 1
    assert o["TEAE leading to death (grade 5)"] == 0


def test_aesi_time_to_first_onset():
    ae = adverse_events(_ae_world().tables())
    s = aesi_summary(ae, n_safety=2).set_index("aesi")
    # patient 1 first neutropenia day 15, patient 2 (first dose 2024-01-10) day 11
    assert s.loc["Neutropenia", "n"] == 2
    assert s.loc["Neutropenia", "median_first_onset_day"] == 13
    assert s.loc["Anemia", "n"] == 1


def test_gcsf_by_purpose():
    w = _world()
    w.add("concomitant_care", "1", cm_category="2", gcsf_type="2", gcsf_purpose="1")
    w.add("concomitant_care", "1", cm_category="2", gcsf_type="1", gcsf_purpose="3")
    w.add("concomitant_care", "2", cm_category="1")
    g = gcsf_use(w.tables(), ["1", "2"]).set_index("category")
    assert g.loc["Any G-CSF", "n"] == 1 and g.loc["Any G-CSF", "pct"] == 50
    assert g.loc["Primary prophylaxis", "n"] == 1 and g.loc["Secondary prophylaxis", "n"] == 0
    assert g.loc["Pegylated", "n"] == 1 and g.loc["Short-acting", "n"] == 1


def test_typed_tables_with_labels_give_the_same_ae_flags():
    tables = _ae_world().tables()
    ae = tables["adverse_events"]
    ae["ae_serious"] = ae["ae_serious"].map({"1": True, "0": False}).astype("boolean")
    ae["ae_onset_date"] = pd.to_datetime(ae["ae_onset_date"])
    assert adverse_events(tables)["serious"].tolist() == adverse_events(
        _ae_world().tables())["serious"].tolist()
