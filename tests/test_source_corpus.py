"""Real record exports and metadata from ../shared/corpus/api_fixtures: each records file
with its project's dictionary in the corpus loads into typed tables in which no value went
missing silently; every metadata file types an export; the rest are read as raw strings with
the row count their source states, or fail with a named error."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from corpus import CORPUS_API

from sgbm_redcap.errors import SourceDataError
from sgbm_redcap.sandbox.odm import parse_odm
from sgbm_redcap.source import FileSource, build_tables
from sgbm_redcap.source.files import read_records_file
from sgbm_redcap.source.metadata import dictionary_from_text, metadata_rows_to_csv
from sgbm_redcap.source.tables import SPECIAL_COLUMNS

CORPUS = CORPUS_API
with open(CORPUS / "SOURCES.tsv", encoding="utf-8") as _fh:
    SOURCES = list(csv.DictReader(_fh, delimiter="\t"))
RECORD_FILES = [r for r in SOURCES if r["kind"] in ("records_csv", "records_json")]
METADATA_FILES = [r for r in SOURCES if r["kind"] in ("metadata_json", "metadata_csv")]
#: a dictionary "belongs" to a records file when it has the file's record id and covers this
#: share of its data columns
COVERAGE = 0.9


def _dictionaries_of(repo: str) -> list[tuple[str, object, list[str]]]:
    out = []
    for row in SOURCES:
        if row["repo"] != repo:
            continue
        text = (CORPUS / row["file"]).read_text(encoding="utf-8-sig")
        if row["kind"] in ("metadata_json", "metadata_csv"):
            out.append((row["file"], dictionary_from_text(text), []))
        elif row["kind"].startswith("project_xml_odm"):
            odm = parse_odm(text)
            repeating = [r["form_name"] for r in odm["repeating"] if r["form_name"]]
            out.append((row["file"], dictionary_from_text(metadata_rows_to_csv(odm["metadata"])),
                        repeating))
    return out


def _matching_dictionary(row: dict[str, str], raw: pd.DataFrame):
    data_cols = set(raw.columns) - set(SPECIAL_COLUMNS) - {
        "redcap_survey_identifier", "redcap_form_instance"}
    best = None
    for name, dictionary, repeating in _dictionaries_of(row["repo"]):
        if dictionary.record_id not in raw.columns:
            continue
        cover = len(data_cols & set(dictionary.export_columns())) / max(1, len(data_cols))
        if cover >= COVERAGE and (best is None or cover > best[0]):
            best = (cover, name, dictionary, repeating)
    return best


def _assert_nothing_lost(tables, raw: pd.DataFrame) -> None:
    """Every non-blank raw value of a dictionary column is a non-missing typed value, or the
    column fell back to raw text and the value is listed in type_problems."""
    problems = set(tables.type_problems["field"]) if len(tables.type_problems) else set()
    for form, table in tables.items():
        for col in table.columns:
            if col in raw.columns and col not in (tables.record_id, *SPECIAL_COLUMNS):
                nonblank = int((raw[col].astype(str).str.strip() != "").sum())
                assert int(table[col].notna().sum()) == nonblank, (form, col)
                if col in problems:
                    assert str(table[col].dtype) == "string", col


@pytest.mark.parametrize("row", RECORD_FILES, ids=[r["file"][:40] for r in RECORD_FILES])
def test_each_records_export_loads_typed_or_fails_with_a_named_error(row):
    path = CORPUS / row["file"]
    raw = read_records_file(path)
    assert all(dtype is object or dtype == "object" for dtype in raw.dtypes)
    if row["n_records_or_rows"]:
        assert len(raw) == int(row["n_records_or_rows"])
    match = _matching_dictionary(row, raw)
    if match is None:
        # No dictionary of this project in the corpus: typing it with another project's
        # dictionary must fail with a named error, not produce empty tables.
        study = Path(__file__).resolve().parents[1] / "redcap_project" / "data_dictionary.csv"
        with pytest.raises(SourceDataError) as info:
            FileSource(path, study).tables()
        assert info.value.file == str(path)
        return
    _cover, _name, dictionary, repeating = match
    tables = FileSource(path, dictionary, repeating_forms=repeating).tables()
    assert list(tables) == dictionary.forms
    _assert_nothing_lost(tables, tables.raw)
    rid = dictionary.record_id
    n_records = raw[rid].nunique()
    for form, table in tables.items():
        assert table.columns[0] == rid
        if "redcap_event_name" not in raw.columns and form not in tables.repeating_forms:
            assert len(table) == n_records and table[rid].is_unique, form
    for form in tables.repeating_forms:
        expected = (raw.get("redcap_repeat_instrument", pd.Series(dtype=str)) == form).sum()
        assert len(tables[form]) == expected, form
        assert str(tables[form]["redcap_repeat_instance"].dtype) == "Int64"


@pytest.mark.parametrize("row", METADATA_FILES, ids=[r["file"][:40] for r in METADATA_FILES])
def test_each_metadata_file_types_an_export(row):
    dictionary = dictionary_from_text((CORPUS / row["file"]).read_text(encoding="utf-8-sig"))
    raw = pd.DataFrame({c: pd.Series(dtype=str) for c in dictionary.export_columns()})
    raw.loc[0] = ""
    raw.loc[0, dictionary.record_id] = "1"
    tables = build_tables(raw, dictionary)
    assert list(tables) == dictionary.forms
    for f in dictionary.fields:
        kind = f.field_type
        table = tables[f.form]
        if f.name == dictionary.record_id or kind == "descriptive":
            continue
        if kind in ("yesno", "truefalse"):
            assert str(table[f.name].dtype) == "boolean", f.name
        elif kind in ("radio", "dropdown"):
            assert isinstance(table[f.name].dtype, pd.CategoricalDtype), f.name
        elif kind == "checkbox":
            assert all(str(table[c].dtype) == "boolean" for c in f.export_columns()), f.name
        elif f.is_date and f.validation_type.startswith("date_"):
            assert str(table[f.name].dtype) == "datetime64[ns]", f.name


def test_decimal_comma_export_needs_its_declared_type():
    """REDCapR's decimal-comma export holds '1,5' in fields the dictionary declares as
    dot-decimal numbers: those values are kept as text and reported, not turned into NaN."""
    row = next(r for r in RECORD_FILES if "decimal-comma" in r["file"])
    raw = read_records_file(CORPUS / row["file"])
    _c, _n, dictionary, _r = _matching_dictionary(row, raw)
    tables = FileSource(CORPUS / row["file"], dictionary).tables()
    comma_values = raw["height"].str.contains(",").sum() + raw["weight"].str.contains(",").sum()
    assert comma_values > 0
    assert len(tables.type_problems) >= comma_values
    assert set(tables.type_problems["field"]) >= {"height"}
