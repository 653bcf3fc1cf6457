"""REDCap's rules for choice strings and checkbox export columns: one definition each, in
``sgbm_redcap.dictionary.model``, and every package that needs them reads them from there
(docs/dictionary.md, "Choices and checkbox columns")."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from corpus import CORPUS_API
from sandbox_fixtures import *  # noqa: F403  (the shared fixtures)

from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.dictionary.model import (
    checkbox_column,
    choice_map,
    parse_choices,
    record_sort_key,
)
from sgbm_redcap.logic import evaluate, parse
from sgbm_redcap.queries.listings import site_queries
from sgbm_redcap.sandbox.meta import ProjectMeta
from sgbm_redcap.source.tables import build_tables, canonical_order

ODM = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
REDCAP_NS = "{https://projectredcap.org}"


@pytest.mark.parametrize(("code", "column"), [
    ("1", "x___1"),
    ("-99", "x____99"),      # REDCapTidieR #31, redcapAPI #90 (real exports)
    ("4.4", "x___4_4"),      # corpus: 097 redcap-etl MultipleChoice.REDCap.xml
    ("Five.5", "x___five_5"),
    ("0-zero", "x___0_zero"),
    ("a_b", "x___a_b"),      # underscores kept since REDCap 5.5.21 (redcapAPI)
    ("a b", "x___a_b"),      # every other character becomes '_', like '-' and '.'
    ("A/B", "x___a_b"),
])
def test_checkbox_column_lower_cases_and_replaces_other_characters(code, column) -> None:
    assert checkbox_column("x", code) == column


def _corpus_checkbox_columns() -> list[tuple[str, str, str]]:
    """(file, expected column, code) of every checkbox option in the corpus Project XMLs:
    REDCap itself wrote the option's export name as the ItemDef OID."""
    out = []
    for path in sorted(CORPUS_API.glob("*.xml")):
        root = ET.parse(path).getroot()
        lists = {cl.get("OID"): cl for cl in root.iter(f"{{{ODM['odm']}}}CodeList")}
        for item in root.iter(f"{{{ODM['odm']}}}ItemDef"):
            if item.get(f"{REDCAP_NS}FieldType") != "checkbox":
                continue
            ref = item.find("odm:CodeListRef", ODM)
            cl = lists.get(ref.get("CodeListOID")) if ref is not None else None
            # each option's CodeList repeats the field's whole choices string
            choices = parse_choices(cl.get(f"{REDCAP_NS}CheckboxChoices") or "") \
                if cl is not None else []
            var = item.get(f"{REDCAP_NS}Variable")
            codes = [c for c, _ in choices if checkbox_column(var, c) == item.get("OID")]
            out.append((path.name, item.get("OID"), codes[0] if codes else ""))
    return out


def test_checkbox_columns_match_every_real_project_xml_in_the_corpus() -> None:
    found = _corpus_checkbox_columns()
    assert len(found) > 100
    unmatched = [(f, oid) for f, oid, code in found if not code]
    assert unmatched == []
    odd = {code for _, _, code in found if not code.isalnum()}
    # the corpus holds codes with '-' and '.', the characters the rule has to rewrite
    assert {"0-zero", "4.4", "Five.5", "000-01"} <= odd


@pytest.mark.parametrize(("text", "pairs"), [
    ("1, A | B", [("1", "A"), ("B", "B")]),
    ("1, A, with a comma | 2, B", [("1", "A, with a comma"), ("2", "B")]),
    ("1, Yes\n0, No", [("1", "Yes"), ("0", "No")]),
    ("1, Yes\r\n0, No", [("1", "Yes"), ("0", "No")]),
    ("1, A | | 2, B |", [("1", "A"), ("2", "B")]),
    ("1,A|2 ,B", [("1", "A"), ("2", "B")]),
    ("", []),
])
def test_parse_choices(text, pairs) -> None:
    assert parse_choices(text) == pairs


def test_choice_map_keeps_the_first_label_of_a_repeated_code() -> None:
    assert choice_map("1, A | 1, B | 2, C") == {"1": "A", "2": "C"}


DICT = (
    "field_name,form_name,section_header,field_type,field_label,"
    "select_choices_or_calculations,field_note,text_validation_type_or_show_slider_number,"
    "text_validation_min,text_validation_max,identifier,branching_logic,required_field,"
    "custom_alignment,question_number,matrix_group_name,matrix_ranking,field_annotation\n"
    "record_id,f,,text,ID,,,,,,,,,,,,,\n"
    'cb,f,,checkbox,Boxes,"1, A, with a comma | A-1, Dash | B",,,,,,,,,,,,\n'
    'rd,f,,radio,Radio,"1, A | B",,,,,,,,,,,,\n'
)


def test_every_package_reads_choices_and_checkbox_columns_the_same_way() -> None:
    d = load_dictionary(DICT)
    columns = [checkbox_column("cb", c) for c in ("1", "A-1", "B")]
    assert d.export_columns() == ["record_id", *columns, "rd", "f_complete"]
    assert d.field("rd").choices == {"1": "A", "B": "B"}
    # the sandbox's project design
    meta = ProjectMeta.build({"metadata": [
        {"field_name": f.name, "form_name": f.form, "field_type": f.field_type,
         "select_choices_or_calculations": f.choices_raw} for f in d.fields]})
    assert [c for c in meta.column_order if c.startswith("cb")] == columns
    assert meta.fields["rd"].choices == d.field("rd").choices
    assert meta.fields["cb"].choices == d.field("cb").choices
    # the typed tables and the logic evaluator
    raw = pd.DataFrame([{"record_id": "1", "cb___1": "0", "cb___a_1": "1", "cb___b": "0",
                         "rd": "B", "f_complete": "0"}])
    tables = build_tables(raw, d)
    assert [c for c in tables["f"].columns if c.startswith("cb")] == columns
    assert bool(evaluate(parse("[cb(A-1)] = '1'"), raw).iloc[0])


def test_record_order_numbers_first_then_the_rest_naturally() -> None:
    ids = ["27", "3", "10", "3-10", "3-2", "5", "a10", "a9", "1-1", "2-10", "2"]
    assert sorted(ids, key=record_sort_key) == [
        "2", "3", "5", "10", "27", "1-1", "2-10", "3-2", "3-10", "a9", "a10"]


@pytest.mark.usefixtures("api")
def test_tables_sandbox_and_listings_share_the_record_order(project) -> None:
    ids = ["10", "2", "1-1", "2-10", "2-3"]
    want = sorted(ids, key=record_sort_key)
    raw = pd.DataFrame({"record_id": ids, "f_complete": "0"})
    assert canonical_order(raw, "record_id")["record_id"].tolist() == want
    queries = pd.DataFrame({"record_id": ids, "dag": "site_01", "dq_id": "r", "dq_status": "1"})
    assert site_queries(queries)["record_id"].tolist() == want
    project.import_records([{"record_id": r, "age": "50"} for r in ids])
    exported = [r["record_id"] for r in project.export_records(fields=["record_id"])]
    assert exported == sorted(ids, key=record_sort_key)
