"""The linter: each rule fires on a minimal dictionary that breaks it (and only there), the
whole corpus lints without a crash, and known problems in real files are found."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from dictionary_fixtures import CORPUS_DICTS, STUDY_CSV, corpus_files, make_csv

from sgbm_redcap.cli.dictionary import command
from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.dictionary.lint import RULES, lint, lint_path

RID = {"name": "record_id", "label": "Record ID"}


def rules_of(rows: list[dict[str, str]]) -> set[str]:
    return {i.rule for i in lint(load_dictionary(make_csv([RID, *rows]))).issues}


def test_a_clean_dictionary_has_no_issues() -> None:
    rows = [
        {"name": "visit_date", "validation": "date_ymd", "min": "2020-01-01"},
        {"name": "grade", "type": "radio", "choices": "1, Mild | 2, Severe"},
        {"name": "grade_note", "branching": "[grade] = '2'", "required": "y"},
        {"name": "score", "type": "calc", "choices": "[grade] * 2"},
    ]
    assert rules_of(rows) == set()


CASES: list[tuple[str, list[dict[str, str]]]] = [
    ("name-blank", [{"name": "", "label": "x"}]),
    ("name-invalid", [{"name": "1abc"}]),
    ("name-invalid", [{"name": "abc_"}]),
    ("name-invalid", [{"name": "a___b"}]),
    ("name-too-long", [{"name": "a" * 101}]),
    ("name-long", [{"name": "a" * 27}]),
    ("name-duplicate", [{"name": "x"}, {"name": "x"}]),
    ("name-reserved", [{"name": "redcap_event_name"}]),
    ("name-reserved", [{"name": "f_complete"}]),
    ("name-autofix", [{"name": "Weight Kg"}]),
    ("form-blank", [{"name": "x", "form": ""}]),
    ("form-too-long", [{"name": "x", "form": "f" * 65}]),
    ("form-long", [{"name": "x", "form": "f" * 51}]),
    ("form-autofix", [{"name": "x", "form": "Second Form"}]),
    ("form-not-contiguous", [{"name": "x", "form": "g"}, {"name": "y", "form": "f"}]),
    ("type-invalid", [{"name": "x", "type": "number"}]),
    ("type-invalid", [{"name": "x", "type": ""}]),
    ("type-legacy", [{"name": "x", "type": "textarea"}]),
    ("calc-empty", [{"name": "x", "type": "calc"}]),
    ("calc-unbalanced", [{"name": "x", "type": "calc", "choices": "([a] + 1"}]),
    ("calc-unknown-field", [{"name": "x", "type": "calc", "choices": "[nope] + 1"}]),
    ("calc-syntax", [{"name": "x", "type": "calc", "choices": "1 +* 2"}]),
    ("calc-syntax", [{"name": "x", "type": "calc", "choices": "frobnicate(1)"}]),
    ("validation-on-non-text", [{"name": "x", "type": "radio", "choices": "1, a | 2, b",
                                 "validation": "integer"}]),
    ("validation-unknown", [{"name": "x", "validation": "decimal"}]),
    ("validation-legacy", [{"name": "x", "validation": "int"}]),
    ("validation-legacy", [{"name": "x", "validation": "Integer"}]),
    ("minmax-without-validation", [{"name": "x", "min": "1"}]),
    ("minmax-invalid", [{"name": "x", "validation": "integer", "min": "1.5"}]),
    ("minmax-invalid", [{"name": "x", "validation": "date_ymd", "max": "yesterday"}]),
    ("minmax-reversed", [{"name": "x", "validation": "number", "min": "5", "max": "1"}]),
    ("slider-minmax", [{"name": "x", "type": "slider", "min": "0.5"}]),
    ("choices-missing", [{"name": "x", "type": "dropdown"}]),
    ("choices-duplicate-code", [{"name": "x", "type": "radio", "choices": "1, a | 1, b"}]),
    ("choices-illegal-code", [{"name": "x", "type": "radio", "choices": "1 a, a | 2, b"}]),
    ("choices-format", [{"name": "x", "type": "radio", "choices": "yes"}]),
    ("choices-format", [{"name": "x", "type": "radio", "choices": "1, a | b"}]),
    ("choices-stray-bar", [{"name": "x", "type": "radio", "choices": "1, a | | 2, b"}]),
    ("branching-unbalanced", [{"name": "x", "branching": "[record_id = '1'"}]),
    ("branching-unbalanced", [{"name": "x", "branching": "[record_id] = '1"}]),
    ("branching-unknown-field", [{"name": "x", "branching": "[nope] = '1'"}]),
    ("branching-syntax", [{"name": "x", "branching": "[record_id] = = '1'"}]),
    ("branching-self-reference", [{"name": "x", "branching": "[x] <> ''"}]),
    ("branching-impossible-code", [{"name": "g", "type": "radio", "choices": "1, a | 2, b"},
                                   {"name": "x", "branching": "[g] = '3'"}]),
    ("required-never-shown", [{"name": "g", "type": "radio", "choices": "1, a | 2, b"},
                              {"name": "x", "branching": "[g] = '3' and [record_id] <> ''",
                               "required": "y"}]),
    ("logic-reference", [{"name": "g", "type": "radio", "choices": "1, a | 2, b"},
                         {"name": "x", "branching": "[g(1)] = '1'"}]),
    ("logic-reference", [{"name": "g", "type": "checkbox", "choices": "1, a | 2, b"},
                         {"name": "x", "branching": "[g(7)] = '1'"}]),
    ("matrix-name-invalid", [{"name": "x", "type": "radio", "choices": "1, a | 2, b",
                              "matrix": "Bad Name"}]),
    ("matrix-not-contiguous", [{"name": "x", "type": "radio", "choices": "1, a", "matrix": "m"},
                               {"name": "y"},
                               {"name": "z", "type": "radio", "choices": "1, a", "matrix": "m"}]),
    ("matrix-mixed", [{"name": "x", "type": "radio", "choices": "1, a | 2, b", "matrix": "m"},
                      {"name": "y", "type": "radio", "choices": "1, a | 2, c", "matrix": "m"}]),
    ("matrix-mixed", [{"name": "x", "type": "text", "matrix": "m"}]),
    ("flag-value", [{"name": "x", "required": "yes"}]),
    ("required-on-descriptive", [{"name": "x", "type": "descriptive", "required": "y"}]),
    ("alignment-invalid", [{"name": "x", "alignment": "center"}]),
    ("choices-inconsistent", [{"name": "a_done", "type": "radio", "choices": "1, Yes | 0, No"},
                              {"name": "b_done", "type": "radio", "choices": "1, Yes | 2, No"}]),
    ("choices-inconsistent", [{"name": "p", "type": "radio", "choices": "1, CR | 2, PR"},
                              {"name": "q", "type": "dropdown", "choices": "2, CR | 1, PR"}]),
    ("identifier-not-flagged", [{"name": "patient_email", "validation": "email"}]),
    ("identifier-not-flagged", [{"name": "dob", "validation": "date_ymd"}]),
    ("identifier-not-flagged", [{"name": "x", "label": "Patient name"}]),
    ("action-tag-unknown", [{"name": "x", "annotation": "@HIDEN"}]),
]


@pytest.mark.parametrize("rule, rows", CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(CASES)])
def test_rule_fires(rule: str, rows: list[dict[str, str]]) -> None:
    assert rule in RULES
    assert rule in rules_of(rows)


def test_every_rule_has_a_case_or_a_corpus_witness() -> None:
    covered = {r for r, _ in CASES} | {"load-failed", "ragged-record", "record-id-not-text",
                                       "record-id-section-header", "logic-repeating-ref",
                                       # with the project's codes: test_dictionary_missing.py
                                       "missing-code-is-choice", "nomissing-no-effect"}
    assert covered == set(RULES)


def test_record_id_rules() -> None:
    d = load_dictionary(make_csv([{"name": "rid", "type": "radio", "choices": "1, a",
                                   "section": "Start"}]))
    assert {i.rule for i in lint(d).issues} == {"record-id-not-text", "record-id-section-header"}


def test_near_misses_do_not_fire() -> None:
    rows = [
        {"name": "g", "type": "checkbox", "choices": "1, a | 2, b"},
        {"name": "x", "branching": "[g(2)] = '1'"},                 # a real checkbox option
        {"name": "y", "branching": "[g] = ''"},                    # blank test
        {"name": "z", "validation": "date_ymd", "min": "today"},    # REDCap accepts 'today'
        {"name": "w", "validation": "integer", "max": "[z]"},      # piped bound
        {"name": "v", "type": "dropdown", "validation": "autocomplete", "choices": "1, a | 2, b"},
        {"name": "u", "annotation": "@HIDDEN @DEFAULT='1' @LANGUAGE-FORCE"},
        {"name": "is_mobile_user", "type": "yesno"},               # not an identifier
        {"name": "t", "type": "calc", "choices": "[f_complete] + [event-number]"},
    ]
    report = lint(load_dictionary(make_csv([RID, *rows])))
    assert [str(i) for i in report.issues] == []


def test_issue_names_row_column_rule_and_fix() -> None:
    d = load_dictionary(make_csv([RID, {"name": "x"}, {"name": "y", "validation": "decimal"}]))
    (issue,) = lint(d).issues
    assert (issue.row, issue.column, issue.rule, issue.field, issue.severity) == (
        4, "Text Validation Type OR Show Slider Number", "validation-unknown", "y", "error")
    assert issue.hint == RULES["validation-unknown"].hint


def test_known_fields_from_other_instrument_files() -> None:
    d = load_dictionary(make_csv([RID, {"name": "x", "branching": "[elsewhere] = '1'"}]))
    assert lint(d).errors
    assert not lint(d, known_fields=["elsewhere"]).errors


# ----------------------------------------------------------------------- the corpus
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name[:40])
def test_corpus_file_lints_without_crashing(path) -> None:
    report = lint_path(path)
    assert report.n_fields > 0
    assert "load-failed" not in {i.rule for i in report.issues}
    for issue in report.issues:
        assert issue.rule in RULES and issue.row >= 1 and issue.hint


def test_known_problems_in_real_files() -> None:
    def found(name: str) -> set[tuple[int, str, str]]:
        return {(i.row, i.rule, i.field) for i in lint_path(CORPUS_DICTS / name).issues}

    cases = found("082_nicholsn_redcap_rdf_datadict_test_cases.csv")
    assert {(2, "type-invalid", "missing_field_type"), (4, "choices-missing", "missing_choices"),
            (8, "minmax-reversed", "incorrect_max_lt_min"),
            (9, "type-invalid", "incorrect_field_type")} <= cases
    autism = found("020_clairemark38_141SL-Autism_DataDictionary.csv")
    assert any(r == "name-duplicate" and f == "szbpfamily" for _, r, f in autism)
    cvc = found("123_umg-minai_cvc-coating_pilot-data_dictionary.csv")
    assert (77, "branching-syntax", "measurement_us_time1") in cvc
    b4 = found("063_naccdata_uniform-data-set_b4-instrument.csv")
    assert (12, "calc-unknown-field", "cdrsum") in b4


def test_clean_real_files_stay_clean() -> None:
    for name in ("031_IeDEA_redcap-dictionaries_IeDEA_tblCENTER_2020-06-30.csv",
                 "106_OuhscBbmc_REDCapR_vignette-repeating-dictionary.csv",
                 "120_tranpl_redcap-api_Demographics_TestProject_DataDictionary.csv"):
        assert lint_path(CORPUS_DICTS / name).issues == [], name


# ----------------------------------------------------------------------- CLI
def test_cli_lint_study_dictionary_is_clean() -> None:
    result = CliRunner().invoke(command, ["lint", "--strict", str(STUDY_CSV)])
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


def test_cli_lint_exit_1_on_errors_and_json(tmp_path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(make_csv([RID, {"name": "x", "type": "bogus"}]), encoding="utf-8")
    result = CliRunner().invoke(command, ["lint", "--format", "json", str(p)])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["errors"] == 1
    (issue,) = data["files"][0]["issues"]
    assert issue["rule"] == "type-invalid" and issue["row"] == 3 and issue["column"] == "Field Type"


def test_cli_lint_unreadable_file_is_reported_not_raised(tmp_path) -> None:
    p = tmp_path / "notes.csv"
    p.write_text("just,some\ntext,here\n", encoding="utf-8")
    result = CliRunner().invoke(command, ["lint", str(p)])
    assert result.exit_code == 1
    assert "load-failed" in result.output and "row 1" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_lint_strict_fails_on_warnings(tmp_path) -> None:
    p = tmp_path / "warn.csv"
    p.write_text(make_csv([RID, {"name": "x", "validation": "int"}]), encoding="utf-8")
    assert CliRunner().invoke(command, ["lint", str(p)]).exit_code == 0
    assert CliRunner().invoke(command, ["lint", "--strict", str(p)]).exit_code == 1


def test_cli_lint_project_xml_and_project_folder(tmp_path) -> None:
    from dictionary_fixtures import PROJECT_DIR

    xml = tmp_path / "p.xml"
    assert CliRunner().invoke(command, ["build-xml", "-o", str(xml)]).exit_code == 0
    result = CliRunner().invoke(command, ["lint", "--strict", str(xml), str(PROJECT_DIR)])
    assert result.exit_code == 0, result.output
    assert "3 files: 0 errors, 0 warnings" in result.output  # XML, CSV, zh-CN translation
    broken = tmp_path / "broken.xml"
    broken.write_text("<ODM>", encoding="utf-8")
    assert CliRunner().invoke(command, ["lint", str(broken)]).exit_code == 1


def test_logic_reading_another_repeating_form_needs_an_instance() -> None:
    rows = [{"name": "ae_grade", "form": "ae", "type": "radio", "choices": "1, a | 3, c"},
            {"name": "ae_note", "form": "ae", "branching": "[ae_grade] = '3'"},
            {"name": "sae_note", "form": "eot", "branching": "[ae_grade] = '3'"},
            {"name": "last_note", "form": "eot", "branching": "[ae_grade][last-instance] = '3'"},
            {"name": "worst", "form": "eot", "type": "calc", "choices": "max([ae_grade], 1)"}]
    d = load_dictionary(make_csv([RID, *rows]))
    assert not {i.rule for i in lint(d).issues}
    found = [(i.field, i.column) for i in lint(d, repeating_forms=["ae"]).issues]
    assert found == [("sae_note", "Branching Logic (Show field only if...)"),
                     ("worst", "Choices, Calculations, OR Slider Labels")]
