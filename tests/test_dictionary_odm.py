"""Project XML: the study project in one upload, checked by reading it back (and by reading
REDCap's own Project XML exports with the same reader)."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from dictionary_fixtures import CORPUS_API, PROJECT_DIR

from sgbm_redcap.cli.dictionary import command
from sgbm_redcap.dictionary.diff import diff_dictionaries
from sgbm_redcap.dictionary.odm import NS, build_project_xml, form_label, read_project_xml
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.errors import DictionaryError

PROJECT = load_project(PROJECT_DIR)
XML = build_project_xml(PROJECT, now=dt.datetime(2026, 1, 2, 3, 4, 5))
ROOT = ET.fromstring(XML)
MDV = ROOT.find("odm:Study/odm:MetaDataVersion", NS)


def test_round_trip_reproduces_the_dictionary_exactly() -> None:
    back = read_project_xml(XML)
    result = diff_dictionaries(PROJECT.dictionary, back.dictionary)
    assert [str(c) for c in result.changes] == []
    assert back.record_id_field == "record_id"
    assert back.repeating_forms == PROJECT.repeating_forms
    assert back.dag_labels == [label for _, label in PROJECT.dags]


def test_odm_header_and_global_variables() -> None:
    assert ROOT.get("ODMVersion") == "1.3.1" and ROOT.get("SourceSystem") == "REDCap"
    assert ROOT.get("CreationDateTime") == "2026-01-02T03:04:05"
    g = ROOT.find("odm:Study/odm:GlobalVariables", NS)
    assert g.findtext("{https://projectredcap.org}RecordAutonumberingEnabled") == "1"
    repeat = g.findall(".//{https://projectredcap.org}RepeatingInstrument")
    assert {r.get("{https://projectredcap.org}UniqueEventName") for r in repeat} == {
        "event_1_arm_1"}
    labels = {r.get("{https://projectredcap.org}RepeatInstrument"):
              r.get("{https://projectredcap.org}CustomLabel") for r in repeat}
    assert labels["adverse_events"] == PROJECT.repeating_labels["adverse_events"]


def test_forms_items_and_codelists_are_consistent() -> None:
    forms = MDV.findall("odm:FormDef", NS)
    assert [f.get("{https://projectredcap.org}FormName") for f in forms] == \
        PROJECT.dictionary.forms
    assert forms[0].get("Name") == "Enrolment"
    items = {i.get("OID") for i in MDV.findall("odm:ItemDef", NS)}
    groups = {g.get("OID") for g in MDV.findall("odm:ItemGroupDef", NS)}
    lists = {c.get("OID") for c in MDV.findall("odm:CodeList", NS)}
    for f in forms:
        for ref in f.findall("odm:ItemGroupRef", NS):
            assert ref.get("ItemGroupOID") in groups
    for g in MDV.findall("odm:ItemGroupDef", NS):
        for ref in g.findall("odm:ItemRef", NS):
            assert ref.get("ItemOID") in items
    for i in MDV.findall("odm:ItemDef", NS):
        ref = i.find("odm:CodeListRef", NS)
        if ref is not None:
            assert ref.get("CodeListOID") in lists
    expected_items = set(PROJECT.dictionary.export_columns()) | {"redcap_data_access_group"}
    assert items == expected_items


def test_item_attributes_follow_redcap_exports() -> None:
    def item(oid: str) -> ET.Element:
        return MDV.find(f"odm:ItemDef[@OID='{oid}']", NS)

    r = "{https://projectredcap.org}"
    assert item("birth_date").get("DataType") == "date"
    assert item("birth_date").get(f"{r}Identifier") == "y"
    assert item("adm_cycle").get(f"{r}TextValidationType") == "int"
    assert item("adm_cycle").get("DataType") == "integer"
    assert item("weight_kg").get(f"{r}TextValidationType") == "float"
    checks = {rc.get("Comparator"): rc.findtext("odm:CheckValue", None, NS)
              for rc in item("weight_kg").findall("odm:RangeCheck", NS)}
    assert checks == {"GE": "30", "LE": "180"}
    assert item("ae_term").get(f"{r}FieldType") == "select"
    assert item("ec_mets___0").get("DataType") == "boolean"
    assert item("age_sg_start").get(f"{r}Calculation").startswith("rounddown(")
    assert item("inelig_reason").get(f"{r}BranchingLogic") == "[eligible] = '0'"
    assert item("dq_message").get(f"{r}FieldType") == "textarea"
    assert item("enrolment_complete").get(f"{r}FieldType") == "select"


def test_form_label() -> None:
    assert form_label("brain_mets_baseline") == "Brain Mets Baseline"


# ------------------------------------------------------------------ REDCap's own exports
XML_FIXTURES = sorted(CORPUS_API.glob("*.xml"))


@pytest.mark.parametrize("path", XML_FIXTURES, ids=lambda p: p.name[:40])
def test_reader_on_real_project_xml(path) -> None:
    text = path.read_bytes()
    if b"<MetaDataVersion " not in text:  # data-only exports (ClinicalData)
        with pytest.raises(DictionaryError):
            read_project_xml(text, str(path))
        return
    project = read_project_xml(text, str(path))
    d = project.dictionary
    # every field variable REDCap declared, except form status, survey timestamps and the
    # redcap_* pseudo-fields (DAG, survey identifier): none is a dictionary row
    variables = set(re.findall(rb'<ItemDef [^>]*redcap:Variable="([^"]+)"', text))
    variables = {v.decode() for v in variables}
    expected = {v for v in variables if not v.startswith("redcap_")
                and not any(v in (f"{form}_complete", f"{form}_timestamp") for form in d.forms)}
    assert {f.name for f in d} == expected
    for f in d:
        if f.field_type in ("radio", "dropdown", "checkbox"):
            assert f.choices, f.name


def test_reader_on_a_real_repeating_project() -> None:
    p = read_project_xml((CORPUS_API / "100_IUREDCap_redcap-etl_RepeatingForms.REDCap.xml")
                         .read_bytes())
    assert p.repeating_forms == ["weight"]
    assert p.dag_labels == ["dag1", "dag2"]
    race = p.dictionary.field("race")
    assert race.field_type == "checkbox" and list(race.choices) == ["0", "1", "2", "3", "4", "5"]
    assert p.dictionary.field("weight_kg").validation == "number_1dp"


def test_broken_xml_raises_dictionary_error() -> None:
    with pytest.raises(DictionaryError):
        read_project_xml("<ODM><Study>")


# ------------------------------------------------------------------ CLI
def test_cli_build_xml(tmp_path) -> None:
    out = tmp_path / "sgbm.xml"
    result = CliRunner().invoke(command, ["build-xml", "-o", str(out)])
    assert result.exit_code == 0, result.output
    back = read_project_xml(out.read_bytes())
    assert len(back.dictionary) == len(PROJECT.dictionary)
    assert len(back.dag_labels) == len(PROJECT.dags)


def test_cli_build_xml_refuses_a_dictionary_with_errors(tmp_path) -> None:
    (tmp_path / "project.toml").write_text(
        '[project]\nversion = "0.1"\n[repeating]\nforms = []\n', encoding="utf-8")
    (tmp_path / "data_dictionary.csv").write_text(
        (PROJECT_DIR / "data_dictionary.csv").read_text(encoding="utf-8")
        + "bad name,follow_up,,text,Bad,,,,,,,,,,,,,\n", encoding="utf-8")
    result = CliRunner().invoke(command, ["build-xml", "--project-dir", str(tmp_path)])
    assert result.exit_code == 1
    result = CliRunner().invoke(command, ["build-xml", "--project-dir", str(tmp_path / "no")])
    assert result.exit_code == 2


def test_project_xml_builds_the_project_in_the_sandbox_over_pycap(tmp_path) -> None:
    """End to end: the sandbox's own ODM reader creates the project from our XML, and the
    metadata PyCap exports back over loopback HTTP is our dictionary, unchanged."""
    import redcap

    from sgbm_redcap.dictionary import load_dictionary
    from sgbm_redcap.sandbox import Sandbox, serve_in_thread
    from sgbm_redcap.sandbox.odm import create_from_odm

    sb = Sandbox(tmp_path)
    token = create_from_odm(sb, XML, {}, username="admin")
    with serve_in_thread(sb, port=0) as url:
        project = redcap.Project(url, token)
        exported = load_dictionary(project.export_metadata(format_type="csv"))
        repeating = project.export_repeating_instruments_events()
        dags = project.export_dags()
    assert [str(c) for c in diff_dictionaries(PROJECT.dictionary, exported).changes] == []
    assert [r["form_name"] for r in repeating] == PROJECT.repeating_forms
    assert [(d["unique_group_name"], d["data_access_group_name"]) for d in dags] == PROJECT.dags
