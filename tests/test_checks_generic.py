"""The dictionary rules (REDCap Data Quality B–H) on the study dictionary, with branching
logic: planted values in an otherwise clean synthetic cohort."""

from __future__ import annotations

import pandas as pd
import pytest

from sgbm_redcap.checks import REGISTRY, run_checks
from sgbm_redcap.jobs import study_dictionary
from sgbm_redcap.synthetic.cohort import generate_cohort

DQ = [r for r in REGISTRY if r.category == "dictionary"]


@pytest.fixture(scope="module")
def dictionary():
    return study_dictionary()


@pytest.fixture(scope="module")
def clean(dictionary):
    c = generate_cohort(15, seed=3, problem_rate=0.0)
    return c.to_frame(dictionary=dictionary, with_dag=True)


def run(raw, dictionary):
    f = run_checks(raw, dictionary=dictionary, cutoff="2026-11-25", rules=DQ).findings
    return set(f[["rule_id", "record_id", "form", "instance", "field"]].itertuples(
        index=False, name=None))


def base_row(raw, rid="2"):
    return raw.index[(raw["record_id"] == rid) & (raw["redcap_repeat_instrument"] == "")][0]


def instance_row(raw, form, rid=None):
    rows = raw[raw["redcap_repeat_instrument"] == form]
    if rid is not None:
        rows = rows[rows["record_id"] == rid]
    return rows.index[0]


def test_clean_cohort_raises_nothing(clean, dictionary):
    assert run(clean, dictionary) == set()


@pytest.mark.parametrize("field,value,rule", [
    ("weight_kg", "", "DQ-B"),            # required, always shown
    ("weight_kg", "72,5", "DQ-C"),        # not a number
    ("diag_date", "2021-02-30", "DQ-C"),  # not a date
    ("weight_kg", "720", "DQ-D"),         # above 180
    ("menopausal", "7", "DQ-G"),          # not a choice
])
def test_planted_base_value(clean, dictionary, field, value, rule):
    raw = clean.copy()
    i = base_row(raw)
    form = dictionary.field(field).form
    raw.loc[i, field] = value
    assert (rule, "2", form, 0, field) in run(raw, dictionary)


def test_branching_hidden_field_is_not_missing_but_flagged_when_it_holds_a_value(clean,
                                                                               dictionary):
    raw = clean.copy()
    i = base_row(raw)
    raw.loc[i, "steroid_at_start"] = "0"
    raw.loc[i, "steroid_dex_mg"] = ""        # hidden now: required but not missing
    assert not {k for k in run(raw, dictionary) if k[4] == "steroid_dex_mg"}
    raw.loc[i, "steroid_dex_mg"] = "8"       # hidden and holding a value
    assert ("DQ-F", "2", "brain_mets_baseline", 0, "steroid_dex_mg") in run(raw, dictionary)
    raw.loc[i, "steroid_at_start"] = "1"
    raw.loc[i, "steroid_dex_mg"] = ""        # shown, required, blank
    assert ("DQ-B", "2", "brain_mets_baseline", 0, "steroid_dex_mg") in run(raw, dictionary)


def test_branching_on_a_repeating_form(clean, dictionary):
    raw = clean.copy()
    i = instance_row(raw, "sg_administration")
    rid, inst = raw.loc[i, "record_id"], int(raw.loc[i, "redcap_repeat_instance"])
    raw.loc[i, "adm_status"] = "1"
    raw.loc[i, "adm_delay_days"] = "7"       # only shown when delayed
    assert ("DQ-F", rid, "sg_administration", inst, "adm_delay_days") in run(raw, dictionary)


def test_calc_field_that_differs_from_its_equation(clean, dictionary):
    raw = clean.copy()
    i = instance_row(raw, "intracranial_assessment")
    rid, inst = raw.loc[i, "record_id"], int(raw.loc[i, "redcap_repeat_instance"])
    assert raw.loc[i, "ia_sld"] != ""
    raw.loc[i, "ia_sld"] = str(float(raw.loc[i, "ia_sld"]) + 7)
    assert ("DQ-H", rid, "intracranial_assessment", inst, "ia_sld") in run(raw, dictionary)


SMALL_DICTIONARY = """\
Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"Choices, Calculations, OR Slider Labels",Field Note,Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,Identifier?,Branching Logic (Show field only if...),Required Field?,Custom Alignment,Question Number (surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation
record_id,lab,,text,Record,,,,,,,,,,,,,
ldh,lab,,text,LDH (U/L),,,number,0,,,,,,,,,
"""


def test_numeric_outlier_only_far_from_everyone_else():
    from sgbm_redcap.dictionary import load_dictionary

    d = load_dictionary(SMALL_DICTIONARY.encode())
    values = [str(180 + (i * 7) % 60) for i in range(30)]
    raw = pd.DataFrame({"record_id": [str(i) for i in range(1, 31)], "ldh": values})
    rules = [REGISTRY.get("DQ-E")]
    assert run_checks(raw, dictionary=d, rules=rules).findings.empty
    raw.loc[4, "ldh"] = "2400"   # a typo: 240
    f = run_checks(raw, dictionary=d, rules=rules).findings
    assert list(f[["record_id", "field", "value"]].itertuples(index=False, name=None)) == [
        ("5", "ldh", "2400")]
    assert "median" in f["message"].iloc[0]
