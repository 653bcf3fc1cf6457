"""Missing data codes (issue 13 part 3): the one parser/type, REDCap's rules for which fields
take a code, project.toml and the Project XML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import CORPUS_API

from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.dictionary.missing import (
    NO_CODES,
    accepts_missing_codes,
    is_missing_code,
    missing_code_columns,
    missing_codes_from,
    parse_missing_codes,
)
from sgbm_redcap.dictionary.odm import build_project_xml, read_project_xml
from sgbm_redcap.dictionary.project import load_any, load_project, study_project
from sgbm_redcap.errors import DictionaryError

HEADER = ("field_name,form_name,section_header,field_type,field_label,"
          "select_choices_or_calculations,field_note,text_validation_type_or_show_slider_number,"
          "text_validation_min,text_validation_max,identifier,branching_logic,required_field,"
          "custom_alignment,question_number,matrix_group_name,matrix_ranking,field_annotation\n")


def _dictionary(rows: str):  # noqa: ANN202 - a Dictionary
    return load_dictionary(HEADER + rows)


def test_both_spellings_read_alike_and_keep_order() -> None:
    api = parse_missing_codes("UNK, Unknown | NASK, Not asked | -999, Not done, really")
    xml = parse_missing_codes("UNK, Unknown\nNASK, Not asked\r\n-999, Not done, really")
    assert api == xml
    assert api.codes == ("UNK", "NASK", "-999")
    assert api.label("-999") == "Not done, really"  # a label keeps its later commas
    assert api.to_project_info() == "UNK, Unknown | NASK, Not asked | -999, Not done, really"
    assert parse_missing_codes(api.to_xml_text()) == api
    assert not parse_missing_codes("") and not parse_missing_codes(None) and not NO_CODES


def test_a_code_is_the_stored_text_exactly() -> None:
    codes = parse_missing_codes("UNK, Unknown | NA, Not applicable")
    assert "UNK" in codes and codes.is_missing_code("NA")
    for value in ("unk", " UNK", "UNK ", "", "Unknown", None, 1):
        assert not codes.is_missing_code(value), value


def test_redcap_setup_refuses_bad_codes() -> None:
    assert parse_missing_codes("UNK, Unknown | UNK, Again | a b, Spaces | X,").problems() == [
        "missing data code 'UNK' is declared twice",
        "missing data code 'a b' may only have letters, numbers, dots, dashes and underscores",
        "missing data code 'X' has no label",
    ]
    with pytest.raises(ValueError, match="a b"):
        missing_codes_from({"a b": "Spaces"})
    assert missing_codes_from([("-9.9", "Odd but allowed")]).codes == ("-9.9",)


def test_which_fields_take_a_code() -> None:
    d = _dictionary(
        "record_id,f,,text,Id,,,,,,,,,,,,,\n"
        "score,f,,text,Score,,,integer,,,,,,,,,,\n"
        "kept,f,,text,Kept,,,,,,,,,,,,,@NOMISSING\n"
        "info,f,,descriptive,Info,,,,,,,,,,,,,\n"
        "total,f,,calc,Total,[score]*2,,,,,,,,,,,,\n"
        "shown,f,,text,Shown,,,,,,,,,,,,,@CALCTEXT(1)\n"
        "mets,f,,checkbox,Mets,\"1, Liver | 2, Lung\",,,,,,,,,,,,\n"
        "mets_nm,f,,checkbox,Mets,\"1, Liver | 2, Lung\",,,,,,,,,,,,@HIDDEN @nomissing\n")
    takes = {f.name: accepts_missing_codes(f, d.record_id) for f in d}
    assert takes == {"record_id": False, "score": True, "kept": False, "info": False,
                     "total": False, "shown": False, "mets": True, "mets_nm": False}
    codes = parse_missing_codes("UNK, Unknown | -9, Not done")
    assert is_missing_code("UNK", codes, d.field("score"))
    assert not is_missing_code("UNK", codes, d.field("kept"))  # @NOMISSING: a plain value
    assert missing_code_columns(d.field("mets"), codes) == ["mets___unk", "mets____9"]
    assert missing_code_columns(d.field("mets_nm"), codes) == []
    assert missing_code_columns(d.field("score"), codes) == []


def test_the_study_declares_its_codes() -> None:
    codes = study_project().missing_codes
    assert codes.codes == ("UNK", "ND", "NASK", "ASKU", "NA")
    assert codes.label("ND") == "Not done" and not codes.problems()


def test_project_toml_codes_are_checked(tmp_path: Path) -> None:
    src = study_project().path
    assert src is not None
    for name in ("data_dictionary.csv", "project.toml"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    toml = tmp_path / "project.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace('NASK = "Not asked"', '"N A" = "Not asked"'), encoding="utf-8")
    with pytest.raises(DictionaryError, match="'N A' may only have") as err:
        load_project(tmp_path)
    assert err.value.column == "missing_data_codes"
    toml.write_text(text.replace('NASK = "Not asked"', "NASK = 3"), encoding="utf-8")
    with pytest.raises(DictionaryError, match='CODE = "label"'):
        load_project(tmp_path)


def test_project_xml_carries_the_codes_both_ways(tmp_path: Path) -> None:
    project = study_project()
    xml = build_project_xml(project)
    assert "<redcap:MissingDataCodes>UNK, Unknown\nND, Not done\n" in xml
    back = tmp_path / "study.xml"
    back.write_text(xml, encoding="utf-8")
    loaded = load_any(back)
    assert loaded.missing_codes == project.missing_codes  # type: ignore[union-attr]
    read = read_project_xml(xml)
    assert parse_missing_codes(read.settings["missing_data_codes"]) == project.missing_codes


def test_real_project_xml_codes() -> None:
    path = CORPUS_API / "063_ISARICResearch_BRIDGE_ISARIC-Clinical-Characterisation-Setup_English.xml"
    codes = parse_missing_codes(read_project_xml(path.read_bytes()).settings["missing_data_codes"])
    assert codes.labels == {"NI": "No information", "UNK": "Unknown", "NASK": "Not asked",
                            "NA": "Not applicable"}


def test_the_linter_accepts_codes_and_flags_their_misuse() -> None:
    from sgbm_redcap.dictionary.lint import lint

    d = _dictionary(
        "record_id,f,,text,Id,,,,,,,,,,,,,@NOMISSING\n"
        "ugt,f,,radio,UGT1A1,\"1, Wild type | 9, Not tested\",,,,,,,,,,,,\n"
        "grade,f,,radio,Grade,\"1, Low | UNK, Unknown\",,,,,,,,,,,,\n"
        "grade_nm,f,,radio,Grade,\"1, Low | UNK, Unknown\",,,,,,,,,,,,@NOMISSING\n"
        "why,f,,text,Why,,,,,,,[ugt] = 'ND',,,,,,\n"
        "total,f,,calc,Total,[ugt]*2,,,,,,,,,,,,@NOMISSING\n"
        "kept,f,,text,Kept,,,,,,,,,,,,,@NOMISSING\n")
    codes = parse_missing_codes("UNK, Unknown | ND, Not done")
    found = {(i.rule, i.field) for i in lint(d, missing_codes=codes).issues}
    assert ("missing-code-is-choice", "grade") in found
    assert ("missing-code-is-choice", "grade_nm") not in found  # @NOMISSING: a plain answer
    assert {("nomissing-no-effect", "record_id"), ("nomissing-no-effect", "total")} <= found
    assert ("nomissing-no-effect", "kept") not in found
    assert not any(rule == "branching-impossible-code" for rule, _ in found)  # [ugt] = 'ND'
    without = {(i.rule, i.field) for i in lint(d).issues}
    assert ("branching-impossible-code", "why") in without  # no codes: 'ND' is no code
    assert not any(rule == "missing-code-is-choice" for rule, _ in without)


def test_the_study_dictionary_lints_clean_with_its_codes() -> None:
    from sgbm_redcap.dictionary.lint import lint

    project = study_project()
    issues = lint(project.dictionary, repeating_forms=project.repeating_forms,
                  missing_codes=project.missing_codes).issues
    assert issues == []
    nomissing = {f.name for f in project.dictionary if "@NOMISSING" in f.action_tags}
    assert {"site_patient_id", "birth_date", "dq_id", "dq_site_response"} <= nomissing
