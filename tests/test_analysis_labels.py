"""The analysis package's fallback labels (used to read label-valued tables that carry no
dictionary) must say exactly what the study dictionary says, or a relabelled choice in a new
dictionary version would silently stop matching."""

from __future__ import annotations

from pathlib import Path

from sgbm_redcap.analysis.inputs import LABELS
from sgbm_redcap.dictionary.project import load_project

STUDY = load_project(Path(__file__).resolve().parents[1] / "redcap_project").dictionary


def test_fallback_labels_equal_the_study_dictionary_choices():
    differences = {}
    for name, labels in LABELS.items():
        field = STUDY.get(name)
        assert field is not None, f"{name} is not a field of the study dictionary"
        if field.field_type == "calc":  # a derived 1/0 has no choices to compare with
            assert set(labels) == {"1", "0"}, name
            continue
        if field.choices != labels:
            differences[name] = (labels, field.choices)
    assert differences == {}
