"""The analysis package keeps no copy of the dictionary's labels: the labels it shows and
reads label-valued tables with are the data dictionary's choices (the study dictionary's when
the input carries none). Only a field without choices may get a label of its own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sgbm_redcap.analysis.inputs import EXTRA_LABELS, SCHEMA, prepare
from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.dictionary.project import load_project

STUDY = load_project(Path(__file__).resolve().parents[1] / "redcap_project").dictionary
CODED = [name for fields in SCHEMA.values() for name, kind in fields.items() if kind == "code"]


def test_labels_are_the_dictionary_choices_with_or_without_a_dictionary():
    without = prepare({"enrolment": pd.DataFrame({"record_id": ["1"]})}).labels
    for name in CODED:
        field = STUDY.get(name)
        assert field is not None, f"{name} is not a field of the study dictionary"
        if field.choices:
            assert without[name] == field.choices, name
    assert without["ae_term"] == STUDY.field("ae_term").choices


def test_a_dictionary_of_the_input_wins_over_the_study_one():
    text = (Path(__file__).resolve().parents[1] / "redcap_project" / "data_dictionary.csv"
            ).read_text(encoding="utf-8").replace("2, Dead |", "2, Deceased |")
    tables = {"follow_up": pd.DataFrame({"record_id": ["1", "2"],
                                         "vital_status": ["Deceased", "Alive"]})}
    mapping = type("Tables", (dict,), {"dictionary": load_dictionary(text.encode())})(tables)
    study = prepare(mapping)
    assert study.labels["vital_status"]["2"] == "Deceased"
    assert study["follow_up"]["vital_status"].tolist() == ["2", "1"]  # read back to codes


def test_extra_labels_only_for_fields_without_choices():
    for name, labels in EXTRA_LABELS.items():
        field = STUDY.field(name)
        assert not field.choices, f"{name} has choices: take them from the dictionary"
        assert field.field_type == "calc" and set(labels) == {"1", "0"}, name
