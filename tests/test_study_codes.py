"""Every code the package names (``sgbm_redcap.study_codes``) against the study dictionary
CSV: the code exists in each field it names, with the label it is meant to stand for. A
dictionary version that recodes or relabels a choice fails here, not silently in a report."""

from __future__ import annotations

import copy
import pickle
import re
from pathlib import Path

import pandas as pd
import pytest

from sgbm_redcap import study_codes
from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.study_codes import (
    CHOICES,
    Checkbox,
    FormStatus,
    LabUnit,
    VitalStatus,
    YesNo,
)

CSV = Path(__file__).resolve().parents[1] / "redcap_project" / "data_dictionary.csv"
STUDY = load_dictionary(CSV)
#: classes whose members are spread over fields that each offer only some of the codes
PARTIAL = {LabUnit}


def test_every_choice_class_is_listed_and_names_fields():
    assert len(CHOICES) >= 25
    for choice in CHOICES:
        assert len(choice) >= 1, choice
        if choice not in (YesNo, FormStatus, Checkbox):  # REDCap's own codes
            assert choice.fields, f"{choice.__name__} names no dictionary field"


def _problems(choice, dictionary) -> list[str]:
    problems = []
    for name in choice.fields:
        field = dictionary.get(name)
        if field is None:
            problems.append(f"{name}: not a field of the dictionary")
            continue
        for member in choice:
            if member.value not in field.choices:
                if choice not in PARTIAL:
                    problems.append(f"{name}: no code {member.value} ({member.name})")
            elif field.choices[member.value] != member.label:
                problems.append(f"{name}={member.value}: dictionary says "
                                f"{field.choices[member.value]!r}, {choice.__name__}."
                                f"{member.name} means {member.label!r}")
    if choice in PARTIAL:  # each code is offered by at least one of the fields
        offered = {code for name in choice.fields if (f := dictionary.get(name))
                   for code in f.choices}
        problems += [f"{m.name} ({m.value}) offered by none of {choice.fields}"
                     for m in choice if m.value not in offered]
    return problems


@pytest.mark.parametrize("choice", [c for c in CHOICES if c.fields], ids=lambda c: c.__name__)
def test_each_code_exists_with_its_intended_label(choice):
    assert _problems(choice, STUDY) == []


def test_yes_no_is_every_yesno_field():
    yesno = [f for f in STUDY.fields if f.field_type == "yesno"]
    assert len(yesno) > 20
    for field in yesno:
        assert field.choices == {m.value: m.label for m in YesNo}, field.name


def test_checkbox_columns_of_an_export_are_checked_or_not():
    from sgbm_redcap.source.tables import build_tables

    flat = pd.DataFrame({"record_id": ["1", "2"], "ec_mets___1": ["1", "0"]})
    tables = build_tables(flat, STUDY)
    assert tables["tumour"]["ec_mets___1"].tolist() == [True, False]
    assert [m.value for m in Checkbox] == ["1", "0"]


def test_form_status_agrees_with_the_emulator():
    from sgbm_redcap.sandbox.meta import COMPLETE_LABELS

    assert {m.value: m.label for m in FormStatus} == COMPLETE_LABELS
    assert all(f"{form}_complete" in STUDY.export_columns() for form in STUDY.forms)


def test_a_relabelled_or_recoded_choice_is_caught():
    text = CSV.read_text(encoding="utf-8")
    relabelled = load_dictionary(text.replace("2, Dead |", "2, Alive (moved) |").encode())
    assert _problems(VitalStatus, relabelled) == [
        "vital_status=2: dictionary says 'Alive (moved)', VitalStatus.DEAD means 'Dead'"]
    recoded = load_dictionary(text.replace("10, mmol/L", "11, mmol/L").encode())
    assert _problems(LabUnit, recoded) == ["MMOL_PER_L (10) offered by none of "
                                           f"{LabUnit.fields}"]


def test_codes_are_plain_strings_for_pandas_and_text():
    frame = pd.Series(["1", "2", None, "2"], dtype=object)
    assert (frame == VitalStatus.DEAD).tolist() == [False, True, False, True]
    assert frame.isin([VitalStatus.ALIVE]).tolist() == [True, False, False, False]
    assert f"{VitalStatus.DEAD}" == str(VitalStatus.DEAD) == "2"
    assert {"2": "x"}[VitalStatus.DEAD] == "x"
    assert VitalStatus("2") is VitalStatus.DEAD and VitalStatus.DEAD.label == "Dead"
    assert pickle.loads(pickle.dumps(VitalStatus.DEAD)) is VitalStatus.DEAD
    assert copy.deepcopy(VitalStatus.DEAD) is VitalStatus.DEAD
    assert study_codes.DAYS_PER_MONTH == 30.4375


#: where code compares data with codes: none of it may spell a code itself
NAMED_CODE_PACKAGES = ("analysis", "reports", "checks", "queries")
_RAW_CODE = re.compile(r'''[=!]=\s*"\d+"|isin\(\s*[\[\(\{]\s*"\d+"|[\{,]\s*"\d+"\s*:''')


def test_no_raw_code_in_analysis_reports_checks_or_queries():
    root = Path(study_codes.__file__).resolve().parent
    found = []
    for package in NAMED_CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _RAW_CODE.search(line.split("#")[0]):
                    found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert found == [], "name these codes in sgbm_redcap.study_codes:\n" + "\n".join(found)


def test_the_raw_code_pattern_sees_what_it_must():
    for line in ('x == "2"', 'x != "10"', 'x.isin(["1", "3"])', '{"1": 1.0}', 'a, "3": "b"'):
        assert _RAW_CODE.search(line), line
    for line in ('x == VitalStatus.DEAD', 'f"{x}"', 'round(x, 2)', '"ia_tl1_ld"'):
        assert not _RAW_CODE.search(line), line
