"""Laboratory shift tables: CTCAE v5.0 grading of baseline values at every threshold (DOMAIN
§2.2), unit conversion, missing inputs, and the baseline → worst post-baseline counts."""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_world import World

from sgbm_redcap.analysis import LAB_PARAMETERS, adverse_events, baseline_lab_grade, lab_shifts

P = {p.field: p for p in LAB_PARAMETERS}

# (parameter, value, unit code, LLN, ULN, expected grade); limits in the value's unit
CASES = [
    # ANC ×10⁹/L: G1 <LLN–1.5, G2 <1.5–1.0, G3 <1.0–0.5, G4 <0.5
    ("anc", 2.0, "1", 1.8, 6.3, 0), ("anc", 1.8, "1", 1.8, 6.3, 0), ("anc", 1.7, "1", 1.8, 6.3, 1),
    ("anc", 1.5, "1", 1.8, 6.3, 1), ("anc", 1.49, "1", 1.8, 6.3, 2), ("anc", 1.0, "1", 1.8, 6.3, 2),
    ("anc", 0.99, "1", 1.8, 6.3, 3), ("anc", 0.5, "1", 1.8, 6.3, 3), ("anc", 0.49, "1", 1.8, 6.3, 4),
    ("anc", 1700, "2", 1800, 6300, 1), ("anc", 400, "2", 1800, 6300, 4),   # cells/µL
    # haemoglobin g/L: G1 <LLN–100, G2 <100–80, G3 <80
    ("hb", 120, "4", 115, 150, 0), ("hb", 110, "4", 115, 150, 1), ("hb", 100, "4", 115, 150, 1),
    ("hb", 99, "4", 115, 150, 2), ("hb", 80, "4", 115, 150, 2), ("hb", 79, "4", 115, 150, 3),
    ("hb", 9.5, "5", 11.5, 15.0, 2),                                        # g/dL
    ("hb", 4.9, "6", 7.1, 9.3, 3),                                          # mmol/L: 79 g/L
    # platelets ×10⁹/L: G1 <LLN–75, G2 <75–50, G3 <50–25, G4 <25
    ("plt", 130, "1", 125, 350, 0), ("plt", 75, "1", 125, 350, 1), ("plt", 74, "1", 125, 350, 2),
    ("plt", 50, "1", 125, 350, 2), ("plt", 49, "3", 125, 350, 3), ("plt", 25, "1", 125, 350, 3),
    ("plt", 24, "1", 125, 350, 4),
    # ALT/AST × ULN: G1 >1–3, G2 >3–5, G3 >5–20, G4 >20
    ("alt", 40, "7", 7, 40, 0), ("alt", 41, "7", 7, 40, 1), ("alt", 120, "7", 7, 40, 1),
    ("alt", 121, "7", 7, 40, 2), ("alt", 200, "7", 7, 40, 2), ("alt", 201, "7", 7, 40, 3),
    ("ast", 700, "7", 13, 35, 3), ("ast", 701, "7", 13, 35, 4),
    # bilirubin × ULN: G1 >1–1.5, G2 >1.5–3, G3 >3–10, G4 >10
    ("tbil", 20, "8", 3.4, 20, 0), ("tbil", 30, "8", 3.4, 20, 1), ("tbil", 31, "8", 3.4, 20, 2),
    ("tbil", 60, "8", 3.4, 20, 2), ("tbil", 61, "8", 3.4, 20, 3), ("tbil", 201, "8", 3.4, 20, 4),
    ("tbil", 2.0, "9", 0.2, 1.2, 2),                                        # mg/dL: ratio 1.67
    # potassium mmol/L: <LLN–3.0 graded 2 (worst case), G3 <3.0–2.5, G4 <2.5
    ("potassium", 3.6, "10", 3.5, 5.3, 0), ("potassium", 3.4, "10", 3.5, 5.3, 2),
    ("potassium", 3.0, "10", 3.5, 5.3, 2), ("potassium", 2.9, "10", 3.5, 5.3, 3),
    ("potassium", 2.5, "10", 3.5, 5.3, 3), ("potassium", 2.4, "10", 3.5, 5.3, 4),
    # magnesium mmol/L: G1 <LLN–0.5, G2 <0.5–0.4, G3 <0.4–0.3, G4 <0.3
    ("magnesium", 0.8, "10", 0.75, 1.02, 0), ("magnesium", 0.5, "10", 0.75, 1.02, 1),
    ("magnesium", 0.49, "10", 0.75, 1.02, 2), ("magnesium", 0.39, "10", 0.75, 1.02, 3),
    ("magnesium", 0.29, "10", 0.75, 1.02, 4),
    ("magnesium", 1.0, "9", 1.8, 2.5, 2),                                   # mg/dL: 0.41 mmol/L
]


@pytest.mark.parametrize(("field", "value", "unit", "lln", "uln", "grade"), CASES)
def test_baseline_values_are_graded_at_the_ctcae_thresholds(field, value, unit, lln, uln, grade):
    assert baseline_lab_grade(P[field], value, unit, lln, uln) == grade


@pytest.mark.parametrize(("field", "value", "unit", "lln", "uln"), [
    ("anc", None, "1", 1.8, 6.3),          # no value
    ("anc", 1.7, "", 1.8, 6.3),            # no unit
    ("anc", 1.7, "99", 1.8, 6.3),          # a unit the parameter does not know
    ("anc", 1.7, "1", None, 6.3),          # G0 or G1 needs the LLN
    ("alt", 90, "7", 7, float("nan")),     # every ALT grade needs the ULN
    ("potassium", 3.2, "10", "", 5.3),
])
def test_a_grade_that_needs_what_is_missing_is_missing(field, value, unit, lln, uln):
    assert baseline_lab_grade(P[field], value, unit, lln, uln) is None


def test_a_value_below_every_limit_is_graded_without_the_lln():
    assert baseline_lab_grade(P["anc"], 0.4, "1", None, None) == 4
    assert baseline_lab_grade(P["potassium"], 2.4, "10", None, None) == 4


def _labs(**values) -> dict:
    base = {"anc": 3.0, "anc_unit": "1", "anc_lln": 1.8, "anc_uln": 6.3,
            "plt": 200, "plt_unit": "1", "plt_lln": 125, "plt_uln": 350}
    return {**base, **values}


def test_shift_counts_baseline_grade_against_the_worst_treatment_emergent_grade():
    w = World()
    for rid in ("1", "2", "3", "4"):
        w.patient(rid)          # first SG dose 2024-01-10
    w.patient("5", eligible="0")
    w.add("demographics", "1", **_labs())                         # ANC G0
    w.add("demographics", "2", **_labs(anc=1.6))                  # ANC G1
    w.add("demographics", "3", **_labs(anc=""))                   # ANC missing
    w.add("demographics", "4", **_labs())
    w.add("demographics", "5", **_labs(anc=0.4))                  # not in the safety set
    neutropenia = "1101"
    w.add("adverse_events", "1", ae_term=neutropenia, ae_grade="2", ae_onset_date="2024-02-01")
    w.add("adverse_events", "1", ae_term=neutropenia, ae_grade="4", ae_onset_date="2024-03-01")
    w.add("adverse_events", "2", ae_term=neutropenia, ae_grade="3", ae_onset_date="2024-02-01")
    # before the first dose: not treatment-emergent, so not a post-baseline grade
    w.add("adverse_events", "4", ae_term=neutropenia, ae_grade="3", ae_onset_date="2024-01-01")
    w.add("adverse_events", "4", ae_term="1103", ae_grade="1", ae_onset_date="2024-02-01")
    w.add("adverse_events", "5", ae_term=neutropenia, ae_grade="4", ae_onset_date="2024-02-01")
    tables = w.tables()
    safety = ["1", "2", "3", "4"]
    shifts = lab_shifts(tables, adverse_events(tables), safety)
    anc = shifts[shifts["parameter"] == P["anc"].label]
    table = anc.pivot(index="baseline", columns="worst", values="n")
    assert table.loc["0", "4"] == 1 and table.loc["1", "3"] == 1
    assert table.loc["Missing", "0"] == 1 and table.loc["0", "0"] == 1   # record 4: not TE
    assert int(anc["n"].sum()) == 4                                      # record 5 left out
    plt = shifts[shifts["parameter"] == P["plt"].label].set_index(["baseline", "worst"])["n"]
    assert plt[("0", "1")] == 1 and plt[("0", "0")] == 3
    assert set(shifts["parameter"]) == {p.label for p in LAB_PARAMETERS}
    hb = shifts[shifts["parameter"] == P["hb"].label]    # no haemoglobin recorded at all
    assert hb.set_index(["baseline", "worst"])["n"][("Missing", "0")] == 4


def test_an_empty_safety_set_gives_zero_counts():
    w = World()
    w.patient("1", eligible="0")
    tables = w.tables()
    shifts = lab_shifts(tables, adverse_events(tables), [])
    assert len(shifts) and shifts["n"].eq(0).all()


def test_study_results_carry_the_shift_table():
    from sgbm_redcap.analysis import analyse_study

    w = World()
    w.patient("1")
    w.add("demographics", "1", **_labs(anc=1.6))
    r = analyse_study(w.tables(), cutoff="2024-12-31")
    row = r.lab_shifts[(r.lab_shifts["parameter"] == P["anc"].label)
                       & (r.lab_shifts["baseline"] == "1") & (r.lab_shifts["worst"] == "0")]
    assert int(row["n"].iloc[0]) == 1
    assert isinstance(r.lab_shifts, pd.DataFrame)
