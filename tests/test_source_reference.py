"""The pull's tables, dtypes and type problems equal those of a straightforward reference.

The reference below is the pipeline as it was before the pull was made fast (issue 16),
written plainly: the flat export read by the standard library's ``csv`` module as strings,
records put in REDCap's order, each instrument's rows picked one by one, and every column
typed as a whole by the per-value rules of ``sgbm_redcap.source.casting`` (``cast_column``:
the rule for one value; the fast pipeline applies it to each distinct value once). It is
compared with ``RedcapSource.tables()`` (batched pull through the sandbox over HTTP, after a
full pull and after a sweep) and with ``FileSource``, on the synthetic cohort with planted
problems plus records holding awkward strings (quotes, commas, line breaks, 'NA', spaces,
non-ASCII, numbers that are not quite numbers), and missing data codes: a field that takes
codes and holds one is blank in the reference tables and its code is a reason row (the
project info's ``missing_data_codes``; ``dictionary.missing`` says which fields take codes).
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
import redcap

from sgbm_redcap.config import Settings
from sgbm_redcap.dictionary.missing import accepts_missing_codes, parse_missing_codes
from sgbm_redcap.dictionary.model import record_sort_key
from sgbm_redcap.sandbox import Sandbox, serve_in_thread
from sgbm_redcap.source import FileSource, RedcapSource
from sgbm_redcap.source.casting import (
    FORM_STATUS,
    PROBLEM_COLUMNS,
    ColumnKind,
    cast_checkbox_option,
    cast_column,
    column_kind,
    raw_text,
)
from sgbm_redcap.source.metadata import dictionary_from_text, metadata_rows_to_csv
from sgbm_redcap.source.tables import REASON_COLUMNS
from sgbm_redcap.synthetic.seed import seed_study

RID = "record_id"
SPECIAL = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
           "redcap_data_access_group")

#: Values a CSV reader may get wrong (quoting, NA-like words, spaces, line breaks) and values
#: that look typed but do not fit (type problems), on fields of several kinds.
AWKWARD = [
    {RID: "9001", "inelig_reason": 'said "no", then\nyes', "site_patient_id": "NA",
     "screening_date": "2024-02-30", "eligible": "1", "consent_type": "7"},
    {RID: "9002", "inelig_reason": "  leading and trailing  ", "site_patient_id": "null",
     "screening_date": "2024-01-05", "height_cm": "1e3", "ecog": " 1"},
    {RID: "9003", "inelig_reason": "中文, ünïcödé; #", "site_patient_id": "nan",
     "height_cm": "NaN", "weight_kg": "inf", "kps": "80.0"},
    {RID: "9004", "inelig_reason": "N/A", "site_patient_id": "", "kps": "+70",
     "height_cm": "-0", "weight_kg": "1,5"},
    {RID: "9005", "redcap_repeat_instrument": "adverse_events", "redcap_repeat_instance": "1",
     "ae_grade": "3", "ae_onset_date": "2024-13-01"},
    {RID: "9005", "redcap_repeat_instrument": "adverse_events", "redcap_repeat_instance": "2",
     "ae_grade": "2", "ae_onset_date": "2024-03-01", "ae_serious": "2"},
    # missing data codes in a date, an integer, a choice and free text; NA in the @NOMISSING
    # identifier of 9001 above is an ordinary value
    {RID: "9006", "screening_date": "UNK", "kps": "ND", "eligible": "NASK",
     "inelig_reason": "NA", "site_patient_id": "UNK"},
    {RID: "9005", "redcap_repeat_instrument": "adverse_events", "redcap_repeat_instance": "3",
     "ae_grade": "ASKU", "ae_onset_date": "UNK"},
]


# -- the reference ------------------------------------------------------------------------


def reference_raw(csv_text: str) -> pd.DataFrame:
    """The flat export as strings in REDCap's record order (each record's rows as exported)."""
    reader = csv.reader(io.StringIO(csv_text, newline=""))
    header = next(reader)
    rows = [row for row in reader if row]
    order = sorted(range(len(rows)), key=lambda i: (record_sort_key(rows[i][0]), i))
    data = {col: [rows[i][j] for i in order] for j, col in enumerate(header)}
    if "redcap_repeat_instance" in data:
        data["redcap_repeat_instance"] = [v[:-2] if v.endswith(".0") else v
                                          for v in data["redcap_repeat_instance"]]
    return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in data.items()},
                        columns=header)


def reference_columns(dictionary, form: str, present: set[str]) -> list[tuple[str, ColumnKind]]:
    cols = []
    for f in dictionary.form_fields(form):
        if f.name == dictionary.record_id or f.field_type == "descriptive":
            continue
        kind = column_kind(f)
        cols.extend((c, kind) for c in f.export_columns() if c in present)
    if f"{form}_complete" in present:
        cols.append((f"{form}_complete",
                     ColumnKind("category", "form status", tuple(FORM_STATUS.items()))))
    return cols


def reference_tables(raw: pd.DataFrame, dictionary, repeating_forms: list[str], codes):
    """(tables, type_problems, missing_reasons) of a classic project's flat export, the
    plain way."""
    instrument = raw["redcap_repeat_instrument"].tolist()
    records = list(dict.fromkeys(raw[RID]))
    dag: dict[str, str] = {}
    for rid, group in zip(raw[RID], raw["redcap_data_access_group"], strict=True):
        if group and rid not in dag:
            dag[rid] = group
    repeating = [f for f in dictionary.forms
                 if f in set(repeating_forms) | (set(instrument) - {""})]
    present = set(raw.columns)
    lists = {col: raw[col].tolist() for col in raw.columns}
    tables, problems, reasons = {}, [], []
    takes = {f.name for f in dictionary if accepts_missing_codes(f, dictionary.record_id)}
    for form in dictionary.forms:
        if form in repeating:
            picked = [i for i, inst in enumerate(instrument) if inst == form]
        else:
            first: dict[str, int] = {}
            for i, (rid, inst) in enumerate(zip(raw[RID], instrument, strict=True)):
                if inst == "" and rid not in first:
                    first[rid] = i
            picked = [first.get(rid, -1) for rid in records]
        columns = reference_columns(dictionary, form, present)
        rows = {}
        for col in [RID, "redcap_repeat_instance", *(c for c, _k in columns)]:
            values = lists[col]
            rows[col] = pd.Series([values[i] if i >= 0 else "" for i in picked], dtype=object)
        if form not in repeating:
            rows[RID] = pd.Series(records, dtype=object)
        out = pd.DataFrame({RID: rows[RID].astype("string")})
        out["redcap_data_access_group"] = pd.Series(
            [dag.get(r, pd.NA) for r in rows[RID]], dtype="string")
        instances = rows["redcap_repeat_instance"]
        if form in repeating or (instances != "").any():
            out["redcap_repeat_instance"] = pd.Series(
                [int(v) if v else pd.NA for v in instances], dtype="Int64")
        for col, kind in columns:
            if col in takes and kind.kind != "checkbox":
                for i, value in enumerate(rows[col]):
                    if value in codes:
                        reasons.append({
                            "record_id": rows[RID][i], "redcap_event_name": "", "form": form,
                            "redcap_repeat_instance": rows["redcap_repeat_instance"][i],
                            "field": col, "code": value, "reason": codes.label(value)})
                rows[col] = pd.Series(["" if v in codes else v for v in rows[col]],
                                      dtype=object)
            if kind.kind == "checkbox":
                typed, bad = cast_checkbox_option(rows[col])
            else:
                typed, bad = cast_column(rows[col], kind)
            if bad.any():
                typed = raw_text(rows[col])
                problems.append(reference_problems(rows, bad, form, col, kind))
            out[col] = typed
        tables[form] = out
    type_problems = (pd.concat(problems, ignore_index=True) if problems
                     else pd.DataFrame(columns=PROBLEM_COLUMNS))
    return tables, type_problems, pd.DataFrame(reasons, columns=REASON_COLUMNS, dtype=object)


def reference_problems(rows, bad, form, col, kind) -> pd.DataFrame:
    mask = bad.to_numpy()
    expected = "checkbox 0/1" if kind.kind == "checkbox" else f"{kind.kind} ({kind.reason})"
    if kind.kind == "category":
        expected += ": one of " + ", ".join(code for code, _ in kind.choices)
    return pd.DataFrame({
        "record_id": rows[RID][mask].to_numpy(), "redcap_event_name": "", "form": form,
        "redcap_repeat_instance": rows["redcap_repeat_instance"][mask].to_numpy(),
        "field": col, "value": rows[col][mask].to_numpy(), "expected": expected,
    }, columns=PROBLEM_COLUMNS)


# -- the comparison -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    sandbox = Sandbox(tmp_path_factory.mktemp("sandbox"))
    with serve_in_thread(sandbox, port=0) as url:
        seeded = seed_study(sandbox, n=60, problem_rate=0.5, api_url=url)
        project = redcap.Project(url, seeded.token)
        plant_awkward(project)
        yield url, seeded.token, project


def plant_awkward(project: redcap.Project) -> None:
    """Import AWKWARD the way misfits reach real projects: the fields are plain text while
    the values arrive, then their validation or choices come back."""
    metadata = project.export_metadata(format_type="json")
    touched = {k for row in AWKWARD for k in row} - {RID, *SPECIAL, "inelig_reason",
                                                      "site_patient_id", "eligible"}
    loose = [dict(row, field_type="text", select_choices_or_calculations="",
                  text_validation_type_or_show_slider_number="", text_validation_min="",
                  text_validation_max="", branching_logic="")
             if row["field_name"] in touched else row for row in metadata]
    project.import_metadata(loose, import_format="json")
    project.import_records(AWKWARD)
    project.import_metadata(metadata, import_format="json")


def expected(project: redcap.Project):
    """The reference tables of what REDCap holds now (one unbatched csv export)."""
    text = project.export_records(format_type="csv", export_data_access_groups=True)
    metadata = metadata_rows_to_csv(project.export_metadata(format_type="json"))
    dictionary = dictionary_from_text(metadata)
    repeating = [r["form_name"] for r in
                 project.export_repeating_instruments_events(format_type="json")]
    raw = reference_raw(text)
    codes = parse_missing_codes(project.export_project_info()["missing_data_codes"])
    tables, problems, reasons = reference_tables(raw, dictionary, repeating, codes)
    return raw, tables, problems, text, metadata, reasons


def assert_same(actual, raw, tables, problems, reasons) -> None:
    assert list(actual) == list(tables)
    for form, table in tables.items():
        pd.testing.assert_frame_equal(actual[form], table, check_dtype=True,
                                      check_exact=True, obj=form)
    pd.testing.assert_frame_equal(actual.raw, raw, check_dtype=True, check_exact=True,
                                  obj="raw")
    pd.testing.assert_frame_equal(actual.type_problems.reset_index(drop=True),
                                  problems, check_dtype=True, check_exact=True,
                                  obj="type_problems")
    pd.testing.assert_frame_equal(actual.missing_reasons.reset_index(drop=True).astype(object),
                                  reasons, check_dtype=True, check_exact=True,
                                  obj="missing_reasons")


def test_the_reference_sees_the_planted_problems(study):
    _url, _token, project = study
    raw, tables, problems, _text, _meta, reasons = expected(project)
    assert len(problems) > 10 and problems["form"].nunique() >= 3
    assert {"screening_date", "consent_type", "ae_onset_date", "kps", "weight_kg"} <= set(problems["field"])
    notes = raw.set_index(RID).loc["9001"]
    assert np.asarray(notes["inelig_reason"]).ravel()[0] == 'said "no", then\nyes'
    assert str(tables["enrolment"]["enrol_date"].dtype) == "datetime64[ns]"
    coded = reasons.set_index(["record_id", "field"])["code"]
    assert coded[("9006", "kps")] == "ND" and coded[("9006", "screening_date")] == "UNK"
    assert ("9006", "site_patient_id") not in coded.index  # @NOMISSING
    assert ("9001", "site_patient_id") not in coded.index
    assert {"trop2_hscore", "ki67_pct", "pr_pct"} <= set(reasons["field"])  # the cohort's


def test_pull_and_sweep_give_the_reference_tables(study, tmp_path):
    url, token, project = study
    raw, tables, problems, _text, _meta, reasons = expected(project)
    settings = Settings(cache_dir=tmp_path / "cache", retries=2, backoff_s=0.0)
    source = RedcapSource(url, token, settings=settings, batch_size=17, progress=False)
    assert_same(source.tables(full=True), raw, tables, problems, reasons)
    project.import_records([{RID: "9002", "inelig_reason": "edited, \"quoted\""},
                            {RID: "9004", "kps": "85"}])
    swept = source.tables()
    assert swept.pull.mode == "incremental"
    assert_same(swept, *expected(project)[:3], expected(project)[5])


def test_file_source_gives_the_reference_tables(study, tmp_path):
    _url, _token, project = study
    raw, tables, problems, text, metadata, reasons = expected(project)
    (tmp_path / "records.csv").write_text(text, encoding="utf-8")
    (tmp_path / "dictionary.csv").write_text(metadata, encoding="utf-8")
    repeating = [r["form_name"] for r in
                 project.export_repeating_instruments_events(format_type="json")]
    actual = FileSource(tmp_path / "records.csv", tmp_path / "dictionary.csv",
                        repeating_forms=repeating,
                        missing_codes=parse_missing_codes(
                            project.export_project_info()["missing_data_codes"])).tables()
    assert_same(actual, raw, tables, problems, reasons)
