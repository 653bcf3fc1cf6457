"""Typed tidy tables from flat exports (CONTRACTS §4): dtypes from the dictionary, one row per
record or per instance, DAG and instance columns, longitudinal and repeating-event exports,
and values that do not fit kept as raw text and reported, never silently NaN."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.errors import SourceDataError
from sgbm_redcap.source import FileSource, build_tables, column_kind
from sgbm_redcap.source.casting import (
    ColumnKind,
    cast_checkbox_option,
    cast_column,
    cast_many,
    raw_text,
    text_values,
)

HEADER = ("field_name,form_name,section_header,field_type,field_label,"
          "select_choices_or_calculations,field_note,text_validation_type_or_show_slider_number,"
          "text_validation_min,text_validation_max,identifier,branching_logic,required_field,"
          "custom_alignment,question_number,matrix_group_name,matrix_ranking,field_annotation")


def dictionary(rows: str):
    lines = [HEADER]
    for row in textwrap.dedent(rows).strip().splitlines():
        cells = row.split(";")
        cells += [""] * (18 - len(cells))
        lines.append(",".join(f'"{c}"' for c in cells))
    return load_dictionary("\n".join(lines) + "\n")


STUDY = dictionary("""
    record_id;enrolment;;text;ID
    enrol_date;enrolment;;text;Enrolled;;;date_ymd
    visit_time;enrolment;;text;Visit;;;datetime_ymd
    age;enrolment;;text;Age;;;integer
    bmi;enrolment;;calc;BMI;[w]/2
    weight;enrolment;;text;Weight;;;number_1dp_comma_decimal
    sex;enrolment;;radio;Sex;1, Female | 2, Male
    ecog;enrolment;;dropdown;ECOG;0, 0 | 1, 1 | 2, 2 | 9, Unknown
    eligible;enrolment;;yesno;Eligible
    pain;enrolment;;slider;Pain
    note_d;enrolment;;descriptive;Read this
    comment;enrolment;;notes;Comment
    ae_grade;adverse_events;;radio;Grade;1, G1 | 2, G2 | 3, G3
    ae_onset;adverse_events;;text;Onset;;;date_ymd
    ae_sites;adverse_events;;checkbox;Sites;1, Skin | 2, Gut | -9, Not known
""")


def raw_frame(rows: list[dict[str, str]], *, longitudinal: bool = False) -> pd.DataFrame:
    cols = ["record_id"] + (["redcap_event_name"] if longitudinal else []) + [
        "redcap_repeat_instrument", "redcap_repeat_instance", "redcap_data_access_group"]
    cols += STUDY.export_columns()[1:]
    return pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows], columns=cols)


ROWS = [
    {"record_id": "10", "redcap_data_access_group": "site_b", "enrol_date": "2024-03-01",
     "visit_time": "2024-03-01 09:30", "age": "61", "bmi": "24.2", "weight": "70,5",
     "sex": "1", "ecog": "9", "eligible": "1", "pain": "35", "comment": "first",
     "enrolment_complete": "2"},
    {"record_id": "2", "redcap_data_access_group": "site_a", "enrol_date": "2024-02-01",
     "age": "45", "sex": "2", "ecog": "0", "eligible": "0", "enrolment_complete": "1"},
    {"record_id": "2", "redcap_repeat_instrument": "adverse_events",
     "redcap_repeat_instance": "2", "ae_grade": "3", "ae_onset": "2024-02-10",
     "ae_sites___1": "1", "ae_sites___2": "0", "ae_sites____9": "0",
     "adverse_events_complete": "0"},
    {"record_id": "2", "redcap_repeat_instrument": "adverse_events",
     "redcap_repeat_instance": "1", "ae_grade": "1", "ae_onset": "2024-02-05",
     "ae_sites___1": "0", "ae_sites___2": "1", "ae_sites____9": "0"},
]


def test_dtypes_follow_the_dictionary():
    t = build_tables(raw_frame(ROWS), STUDY)
    enrol = t["enrolment"]
    assert list(enrol.columns[:2]) == ["record_id", "redcap_data_access_group"]
    assert "note_d" not in enrol.columns and "redcap_repeat_instance" not in enrol.columns
    dtypes = {c: str(enrol[c].dtype) for c in enrol.columns}
    assert dtypes["enrol_date"] == "datetime64[ns]"
    assert dtypes["visit_time"] == "datetime64[ns]"
    assert dtypes["age"] == "Int64" and dtypes["pain"] == "Int64"
    assert dtypes["bmi"] == "Float64" and dtypes["weight"] == "Float64"
    assert dtypes["eligible"] == "boolean"
    assert dtypes["comment"] == "string"
    assert list(enrol["sex"].cat.categories) == ["Female", "Male"]
    assert list(enrol["ecog"].cat.categories) == ["0", "1", "2", "Unknown"]
    assert list(enrol["enrolment_complete"].cat.categories) == [
        "Incomplete", "Unverified", "Complete"]
    by_id = enrol.set_index("record_id")
    assert by_id.loc["10", "weight"] == 70.5  # comma decimal declared by its validation
    assert by_id.loc["10", "visit_time"] == pd.Timestamp("2024-03-01 09:30")
    assert by_id.loc["10", "ecog"] == "Unknown" and not by_id.loc["2", "eligible"]
    assert pd.isna(by_id.loc["2", "visit_time"]) and pd.isna(by_id.loc["2", "comment"])
    assert t.type_problems.empty


def test_rows_records_instances_and_order():
    t = build_tables(raw_frame(ROWS), STUDY, repeating_forms=["adverse_events"])
    enrol, ae = t["enrolment"], t["adverse_events"]
    assert list(enrol["record_id"]) == ["2", "10"]  # REDCap's natural order
    assert list(ae.columns[:3]) == ["record_id", "redcap_data_access_group",
                                    "redcap_repeat_instance"]
    assert list(ae["redcap_repeat_instance"]) == [2, 1]  # as exported within the record
    assert list(ae["redcap_data_access_group"]) == ["site_a", "site_a"]  # filled per record
    assert list(ae["ae_grade"]) == ["G3", "G1"]
    assert [c for c in ae.columns if c.startswith("ae_sites")] == [
        "ae_sites___1", "ae_sites___2", "ae_sites____9"]
    assert ae["ae_sites___2"].tolist() == [False, True]
    assert t.repeating_forms == ["adverse_events"]
    assert t.raw.loc[0, "record_id"] == "2" and (t.raw == "").any().any()


def test_non_repeating_form_gets_a_row_for_every_record():
    rows = ROWS + [{"record_id": "7", "redcap_repeat_instrument": "adverse_events",
                    "redcap_repeat_instance": "1", "ae_grade": "2"}]
    enrol = build_tables(raw_frame(rows), STUDY)["enrolment"]
    assert list(enrol["record_id"]) == ["2", "7", "10"]
    assert enrol.set_index("record_id").loc["7"].drop("redcap_data_access_group").isna().all()


@pytest.mark.parametrize("field,bad", [("enrol_date", "2024-02-30"), ("enrol_date", "01/02/2024"),
                                       ("age", "61.5"), ("age", "sixty"), ("sex", "3"),
                                       ("eligible", "2"), ("bmi", "n/a"), ("visit_time", "9:30")])
def test_values_that_do_not_fit_are_kept_as_text_and_reported(field, bad):
    rows = [dict(ROWS[0]), dict(ROWS[1])]
    rows[0][field] = bad
    t = build_tables(raw_frame(rows), STUDY)
    column = t["enrolment"].set_index("record_id")[field]
    assert column.loc["10"] == bad  # the raw text, not NaN
    assert str(column.dtype) == "string"
    assert pd.isna(column.loc["2"]) or column.loc["2"] == rows[1].get(field)
    problems = t.type_problems
    assert problems[["record_id", "form", "field", "value"]].values.tolist() == [
        ["10", "enrolment", field, bad]]
    assert column_kind(STUDY.field(field)).kind in problems.loc[0, "expected"]


def test_checkbox_value_that_is_not_0_or_1_is_reported():
    rows = [dict(r) for r in ROWS]
    rows[2]["ae_sites___1"] = "yes"
    t = build_tables(raw_frame(rows), STUDY)
    assert t["adverse_events"]["ae_sites___1"].tolist() == ["yes", "0"]
    assert t.type_problems.loc[0, "redcap_repeat_instance"] == "2"


def test_longitudinal_export_with_repeating_event():
    rows = [
        {"record_id": "1", "redcap_event_name": "baseline_arm_1", "enrol_date": "2024-01-01",
         "enrolment_complete": "2"},
        {"record_id": "1", "redcap_event_name": "visit_arm_1", "redcap_repeat_instance": "1",
         "ae_grade": "1", "adverse_events_complete": "0"},
        {"record_id": "1", "redcap_event_name": "visit_arm_1", "redcap_repeat_instance": "2",
         "ae_grade": "2", "adverse_events_complete": "0"},
        {"record_id": "2", "redcap_event_name": "baseline_arm_1", "enrol_date": "2024-01-05",
         "enrolment_complete": "0"},
    ]
    t = build_tables(raw_frame(rows, longitudinal=True), STUDY)
    enrol, ae = t["enrolment"], t["adverse_events"]
    assert list(enrol.columns[:3]) == ["record_id", "redcap_event_name",
                                       "redcap_data_access_group"]
    assert enrol[["record_id", "redcap_event_name"]].values.tolist() == [
        ["1", "baseline_arm_1"], ["2", "baseline_arm_1"]]
    assert ae[["redcap_event_name", "redcap_repeat_instance"]].values.tolist() == [
        ["visit_arm_1", 1], ["visit_arm_1", 2]]
    mapped = build_tables(raw_frame(rows, longitudinal=True), STUDY,
                          event_forms={"baseline_arm_1": {"enrolment"},
                                       "visit_arm_1": {"adverse_events"}})
    assert len(mapped["enrolment"]) == 2 and len(mapped["adverse_events"]) == 2


def test_file_source_reads_csv_and_json_exports(tmp_path):
    raw = raw_frame(ROWS)
    raw.to_csv(tmp_path / "records.csv", index=False)
    (tmp_path / "records.json").write_text(json.dumps(raw.to_dict("records")))
    dict_path = tmp_path / "dictionary.csv"
    dict_path.write_text("\n".join([HEADER] + [
        ",".join(f'"{v}"' for v in row) for row in STUDY.to_rows()]) + "\n")
    from_csv = FileSource(tmp_path / "records.csv", dict_path).tables()
    from_json = FileSource(tmp_path / "records.json", STUDY).tables()
    from_frame = build_tables(raw, STUDY)
    for form in from_frame:
        pd.testing.assert_frame_equal(from_csv[form], from_frame[form])
        pd.testing.assert_frame_equal(from_json[form], from_frame[form])


def test_label_export_fails_with_a_named_error(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("Record ID,Enrolled,Sex\n1,2024-01-01,Female\n")
    with pytest.raises(SourceDataError) as info:
        FileSource(path, STUDY).tables()
    assert info.value.column == "record_id" and "raw data" in str(info.value)


def test_eav_export_fails_with_a_named_error(tmp_path):
    path = tmp_path / "eav.csv"
    path.write_text("record,field_name,value\n1,age,50\n")
    with pytest.raises(SourceDataError, match="EAV"):
        FileSource(path, STUDY).tables()


def test_duplicate_columns_fail_with_a_named_error():
    raw = raw_frame(ROWS)
    raw.insert(5, "age", "1", allow_duplicates=True)
    with pytest.raises(SourceDataError, match="age"):
        build_tables(raw, STUDY)


def test_unknown_instrument_is_a_clear_key_error():
    t = build_tables(raw_frame(ROWS), STUDY)
    with pytest.raises(KeyError, match="enrolment"):
        t["enrollment"]


def test_designated_events_decide_a_forms_rows_and_values_stay_with_their_rows():
    """With the event mapping, a form has a row on every event it is designated for (blank
    when nothing was entered there), and each value stays with its own record and event."""
    rows = [
        {"record_id": "1", "redcap_event_name": "baseline_arm_1", "enrol_date": "2024-01-01",
         "age": "50", "redcap_data_access_group": "site_a"},
        {"record_id": "1", "redcap_event_name": "visit_arm_1", "age": "51"},
        {"record_id": "1", "redcap_event_name": "visit_arm_1",
         "redcap_repeat_instrument": "adverse_events", "redcap_repeat_instance": "1",
         "ae_grade": "3", "ae_sites___2": "1"},
        {"record_id": "2", "redcap_event_name": "baseline_arm_1", "age": "60"},
        {"record_id": "2", "redcap_event_name": "visit_arm_1"},
    ]
    t = build_tables(raw_frame(rows, longitudinal=True), STUDY,
                     event_forms={"baseline_arm_1": {"enrolment"},
                                  "visit_arm_1": {"enrolment", "adverse_events"}})
    enrol = t["enrolment"]
    assert enrol[["record_id", "redcap_event_name"]].values.tolist() == [
        ["1", "baseline_arm_1"], ["1", "visit_arm_1"], ["2", "baseline_arm_1"],
        ["2", "visit_arm_1"]]
    assert enrol["age"].tolist()[:3] == [50, 51, 60] and enrol["age"].isna().tolist()[3]
    assert enrol["redcap_data_access_group"].tolist()[:2] == ["site_a", "site_a"]
    assert enrol["redcap_data_access_group"].isna().tolist()[2:] == [True, True]
    ae = t["adverse_events"]
    assert ae[["record_id", "redcap_repeat_instance"]].values.tolist() == [["1", 1]]
    assert ae["ae_sites___2"].tolist() == [True] and ae["ae_grade"].astype(str).tolist() == ["G3"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from("abcdef"), max_size=4, unique=True),
                          st.lists(st.sampled_from("abcdef"), max_size=3, unique=True)),
                max_size=5))
def test_applying_sweeps_at_once_gives_what_applying_them_one_by_one_gives(sweeps):
    """Each sweep: the records it fetched (rows) and the records it replaced (fetched plus
    deleted ones); the cache's one-pass merge must equal filter-then-append per sweep."""
    from sgbm_redcap.source.cache import apply_deltas

    def rows(records, tag):
        return pd.DataFrame({"record_id": [r for r in records for _ in (1, 2)],
                             "v": [f"{tag}{r}{i}" for r in records for i in (1, 2)]})

    base = rows(list("abcdef"), "base")
    deltas = [(rows(fetched, f"d{k}"), sorted(set(fetched) | set(deleted)))
              for k, (fetched, deleted) in enumerate(sweeps)]
    expected = base
    for delta_rows, replaced in deltas:
        expected = pd.concat([expected[~expected["record_id"].isin(replaced)], delta_rows],
                             ignore_index=True)
    got = apply_deltas(base, deltas, "record_id")
    pd.testing.assert_frame_equal(got, expected)


_AWKWARD_VALUES = ["", "1", "0", "2", "3", "-3", "+4", "12", "0.0", "1.0", "1e3", "1,5", "nan",
                   "inf", " 1", "abc", "99999999999999999", "2024-01-01", "2024-02-30",
                   "2024-01-01 10:00", "2024-01-01T10:00:05", "2024-01-01\n", "\u0662"]
_KINDS = [ColumnKind("date", "v"), ColumnKind("datetime", "v"), ColumnKind("integer", "v"),
          ColumnKind("number", "v"), ColumnKind("number", "v", comma_decimal=True),
          ColumnKind("boolean", "v"), ColumnKind("checkbox", "v", (("1", "a"),)),
          ColumnKind("category", "v", (("1", "A"), ("2", "B"), ("3", "A"))),
          ColumnKind("text", "v")]


@example([["", "\x00"]])  # a NUL collided with '' in pandas' string hash table
@example([[""], ["99999999999999999"]])  # pooled with a blank, it rounded
@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.one_of(st.sampled_from(_AWKWARD_VALUES), st.text(max_size=6)),
                         max_size=12), min_size=1, max_size=3))
def test_fast_casting_types_every_value_as_the_column_rule_does(columns):
    """cast_many/cast_values (distinct values typed once, plain arrays) == cast_column /
    cast_checkbox_option / raw_text on each whole column: values, dtypes and misfits."""
    arrays = [np.array(c, dtype=object) for c in columns]
    for kind in _KINDS:
        for values, (typed, bad) in zip(arrays, cast_many(arrays, kind), strict=True):
            series = pd.Series(values, dtype=object)
            ref, ref_bad = (cast_checkbox_option(series) if kind.kind == "checkbox"
                            else cast_column(series, kind))
            pd.testing.assert_series_equal(pd.Series(typed), ref, check_exact=True,
                                           check_names=False, obj=kind.kind)
            assert bad.tolist() == ref_bad.tolist()
    for values in arrays:
        pd.testing.assert_series_equal(pd.Series(text_values(values)),
                                       raw_text(pd.Series(values, dtype=object)),
                                       check_names=False)
