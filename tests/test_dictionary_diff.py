"""Diff: every kind of production change, made to our own dictionary, is classified as the
REDCap production-change checks need; the CLI's exit code says the worst level."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import pytest
from click.testing import CliRunner
from dictionary_fixtures import CORPUS_DICTS, STUDY_CSV

from sgbm_redcap.cli.dictionary import command
from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.dictionary.diff import DESTROYS, REVIEW, SAFE, diff_dictionaries
from sgbm_redcap.dictionary.model import COLUMNS

OLD_TEXT = STUDY_CSV.read_text(encoding="utf-8")
OLD = load_dictionary(OLD_TEXT)


def edited(edit) -> str:
    """The study CSV after ``edit(rows)``, rows being dicts keyed by COLUMNS."""
    reader = csv.reader(io.StringIO(OLD_TEXT))
    header = next(reader)
    rows = [dict(zip(COLUMNS, r, strict=True)) for r in reader]
    edit(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([r[c] for c in COLUMNS] for r in rows)
    return buf.getvalue()


def row(rows, name):
    return next(r for r in rows if r["field_name"] == name)


def changes(edit) -> list[tuple[str, str, str]]:
    new = load_dictionary(edited(edit))
    return [(c.kind, c.level, c.field) for c in diff_dictionaries(OLD, new).changes]


def test_identical_versions_have_no_change() -> None:
    result = diff_dictionaries(OLD, load_dictionary(STUDY_CSV))
    assert result.changes == [] and result.level is None and result.exit_code == 0


def _add_field(rows):
    i = rows.index(row(rows, "ae_aesi"))
    new = dict(row(rows, "ae_aesi"), field_name="ae_hospital_days", field_type="text",
               field_label="Days in hospital", text_validation_type_or_show_slider_number="integer")
    rows.insert(i + 1, new)


def _relabel(rows):
    row(rows, "ae_grade")["field_label"] = "Worst CTCAE grade"
    row(rows, "ae_grade")["field_note"] = "The highest grade reached"


def _tighten(rows):
    row(rows, "weight_kg")["text_validation_max"] = "150"


def _loosen(rows):
    row(rows, "weight_kg")["text_validation_max"] = "250"


def _branching(rows):
    row(rows, "death_date")["branching_logic"] = "[vital_status] = '2' or [vital_status] = '3'"


def _remove(rows):
    rows.remove(row(rows, "ae_aesi"))


def _rename(rows):
    row(rows, "ae_aesi")["field_name"] = "ae_special_interest"


def _recode(rows):
    row(rows, "ae_relation")["select_choices_or_calculations"] = \
        "1, Related | 3, Not related | 2, Unknown"


def _drop_choice(rows):
    row(rows, "ae_outcome")["select_choices_or_calculations"] = \
        "1, Recovered | 2, Recovering | 3, Not recovered | 5, Fatal | 9, Unknown"


def _add_choice(rows):
    row(rows, "ia_modality")["select_choices_or_calculations"] = "1, MRI | 2, CT | 3, PET-MRI"


def _retype(rows):
    row(rows, "kps")["field_type"] = "dropdown"
    row(rows, "kps")["select_choices_or_calculations"] = "100, 100 | 90, 90"
    row(rows, "kps")["text_validation_type_or_show_slider_number"] = ""
    row(rows, "kps")["text_validation_min"] = row(rows, "kps")["text_validation_max"] = ""


def _radio_to_dropdown(rows):
    row(rows, "ae_grade")["field_type"] = "dropdown"


def _rename_form(rows):
    for r in rows:
        if r["form_name"] == "follow_up":
            r["form_name"] = "survival_follow_up"


def _require(rows):
    row(rows, "height_cm")["required_field"] = "y"


def _unflag_identifier(rows):
    row(rows, "birth_date")["identifier"] = ""


def _calc(rows):
    row(rows, "ia_sld")["select_choices_or_calculations"] = "sum([ia_tl1_ld], [ia_tl2_ld])"


def _reword_choice(rows):
    row(rows, "ae_action")["select_choices_or_calculations"] = \
        "1, No action | 2, Interrupted or delayed | 3, Dose reduced | 4, Discontinued"


def _autocomplete_off(rows):
    row(rows, "ae_term")["text_validation_type_or_show_slider_number"] = ""


def _validation_type(rows):
    row(rows, "height_cm")["text_validation_type_or_show_slider_number"] = "integer"


def _move_field(rows):
    f = row(rows, "trop2_pct")
    rows.remove(f)
    f["form_name"] = "brain_mets_baseline"
    rows.insert(rows.index(row(rows, "bm_diag_date")) + 1, f)


CASES = [
    (_add_field, "field-added", SAFE, "ae_hospital_days"),
    (_relabel, "label-changed", SAFE, "ae_grade"),
    (_relabel, "note-changed", SAFE, "ae_grade"),
    (_loosen, "range-loosened", SAFE, "weight_kg"),
    (_add_choice, "choice-added", SAFE, "ia_modality"),
    (_autocomplete_off, "autocomplete-changed", SAFE, "ae_term"),
    (_validation_type, "validation-changed", REVIEW, "height_cm"),
    (_tighten, "range-tightened", REVIEW, "weight_kg"),
    (_branching, "branching-changed", REVIEW, "death_date"),
    (_require, "required-added", REVIEW, "height_cm"),
    (_unflag_identifier, "identifier-removed", REVIEW, "birth_date"),
    (_calc, "calc-changed", REVIEW, "ia_sld"),
    (_radio_to_dropdown, "type-changed", REVIEW, "ae_grade"),
    (_reword_choice, "choice-label-changed", REVIEW, "ae_action"),
    (_move_field, "field-moved", REVIEW, "trop2_pct"),
    (_remove, "field-removed", DESTROYS, "ae_aesi"),
    (_rename, "field-renamed", DESTROYS, "ae_aesi"),
    (_recode, "choice-recoded", DESTROYS, "ae_relation"),
    (_drop_choice, "choice-removed", DESTROYS, "ae_outcome"),
    (_retype, "type-changed", DESTROYS, "kps"),
]


@pytest.mark.parametrize("edit, kind, level, field", CASES,
                         ids=[f"{k}-{lv}" for _, k, lv, _ in CASES])
def test_change_is_classified(edit, kind, level, field) -> None:
    assert (kind, level, field) in changes(edit)


def test_each_edit_causes_nothing_worse_than_expected() -> None:
    order = [SAFE, REVIEW, DESTROYS]
    expected: dict[object, str] = {}
    for edit, _kind, level, _field in CASES:
        expected[edit] = max(expected.get(edit, SAFE), level, key=order.index)
    for edit, level in expected.items():
        result = diff_dictionaries(OLD, load_dictionary(edited(edit)))
        assert result.level == level, (edit.__name__, [str(c) for c in result.changes])


def test_rename_is_not_also_reported_as_remove_and_add() -> None:
    kinds = {k for k, _, _ in changes(_rename)}
    assert kinds == {"field-renamed"}


def test_form_rename_is_one_destructive_change() -> None:
    result = diff_dictionaries(OLD, load_dictionary(edited(_rename_form)))
    assert [(c.kind, c.level, c.old, c.new) for c in result.changes] == [
        ("form-renamed", DESTROYS, "follow_up", "survival_follow_up")]
    assert result.exit_code == 3


def test_record_id_change_destroys() -> None:
    def edit(rows):
        rows.insert(0, dict(rows[0], field_name="study_id"))
    result = diff_dictionaries(OLD, load_dictionary(edited(edit)))
    assert ("record-id-changed", DESTROYS) in {(c.kind, c.level) for c in result.changes}


def test_real_world_versions() -> None:
    """Two published versions of the same Epi25 dictionary: a real production history."""
    old = load_dictionary(CORPUS_DICTS / "043_mickypz_epi25-edc_Epi25EE_DataDictionary_2015-07-29.csv")
    new = load_dictionary(CORPUS_DICTS / "042_mickypz_epi25-edc_Epi25EE.csv")
    result = diff_dictionaries(old, new)
    assert result.level == DESTROYS
    kinds = {c.kind for c in result.changes}
    assert "field-added" in kinds
    assert result.by_level(DESTROYS)
    for c in result.changes:
        assert c.level in (SAFE, REVIEW, DESTROYS) and c.detail


# ----------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("edit, code", [(None, 0), (_relabel, 0), (_branching, 1), (_remove, 3)])
def test_cli_exit_codes(tmp_path, edit, code) -> None:
    new = tmp_path / "new.csv"
    new.write_text(OLD_TEXT if edit is None else edited(edit), encoding="utf-8")
    result = CliRunner().invoke(command, ["diff", str(STUDY_CSV), str(new)])
    assert result.exit_code == code, result.output


def test_cli_json_and_unreadable_input(tmp_path) -> None:
    new = tmp_path / "new.csv"
    new.write_text(edited(_recode), encoding="utf-8")
    result = CliRunner().invoke(command, ["diff", "--format", "json", str(STUDY_CSV), str(new)])
    data = json.loads(result.output)
    assert data["level"] == DESTROYS and data["exit_code"] == 3 == result.exit_code
    assert data["counts"]["destroys"] >= 1
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing here\n", encoding="utf-8")
    assert CliRunner().invoke(command, ["diff", str(STUDY_CSV), str(bad)]).exit_code == 2


# ----------------------------------------------------------------------------- projects
def _project_copy(tmp_path, name: str, toml_edit=None, csv_edit=None):
    from dictionary_fixtures import PROJECT_DIR

    d = tmp_path / name
    d.mkdir()
    toml = (PROJECT_DIR / "project.toml").read_text(encoding="utf-8")
    (d / "project.toml").write_text(toml_edit(toml) if toml_edit else toml, encoding="utf-8")
    (d / "data_dictionary.csv").write_text(edited(csv_edit) if csv_edit else OLD_TEXT,
                                           encoding="utf-8")
    shutil.copytree(PROJECT_DIR / "translations", d / "translations")
    return d


def _kinds(tmp_path, **new_edits) -> set[tuple[str, str]]:
    from sgbm_redcap.dictionary.diff import diff_projects
    from sgbm_redcap.dictionary.project import load_project

    old = load_project(_project_copy(tmp_path, "old"))
    new = load_project(_project_copy(tmp_path, "new", **new_edits))
    return {(c.kind, c.level) for c in diff_projects(old, new).changes}


def test_project_unchanged(tmp_path) -> None:
    assert _kinds(tmp_path) == set()


def test_project_repeating_and_dags(tmp_path) -> None:
    def edit(toml: str) -> str:
        toml = toml.replace('    "subsequent_therapy",\n', "")
        toml = toml.replace('    "data_queries",\n', '    "data_queries",\n    "follow_up",\n')
        toml = toml.replace('unique_name = "site_08"\nlabel = "Site 08"',
                            'unique_name = "site_09"\nlabel = "Site 09"')
        return toml.replace('label = "Site 01"', 'label = "Beijing"')

    kinds = _kinds(tmp_path, toml_edit=edit)
    assert kinds == {("form-made-non-repeating", DESTROYS), ("form-made-repeating", REVIEW),
                     ("dag-removed", REVIEW), ("dag-added", SAFE), ("dag-relabelled", SAFE),
                     ("version-unchanged", REVIEW)}


def test_project_version_bump(tmp_path) -> None:
    def bump(toml: str) -> str:
        return re.sub(r'^version = "[^"]+"', 'version = "99.0.0"', toml, flags=re.M)

    assert _kinds(tmp_path, toml_edit=bump) == {("version-changed", SAFE)}


def test_project_change_with_a_version_bump_lists_only_the_change(tmp_path) -> None:
    def bump(toml: str) -> str:
        return re.sub(r'^version = "[^"]+"', 'version = "99.0.0"', toml, flags=re.M)

    assert _kinds(tmp_path, toml_edit=bump, csv_edit=_relabel) == {
        ("label-changed", SAFE), ("note-changed", SAFE)}


def test_project_translation_changes_are_reported_item_by_item(tmp_path) -> None:
    from sgbm_redcap.dictionary.diff import diff_projects
    from sgbm_redcap.dictionary.project import load_project

    old = load_project(_project_copy(tmp_path, "old"))
    new_dir = _project_copy(tmp_path, "new", toml_edit=lambda t: re.sub(
        r'^version = "[^"]+"', 'version = "99.0.0"', t, flags=re.M))
    mlm = new_dir / "translations" / "zh-CN.mlm.json"
    data = json.loads(mlm.read_text(encoding="utf-8"))
    grade = next(e for e in data["fieldTranslations"] if e["id"] == "ae_grade")
    grade["label"]["translation"] = "最高 CTCAE 分级"       # reworded
    del grade["enum"][4]                                     # grade 5 no longer translated
    mlm.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    changes = [c for c in diff_projects(old, load_project(new_dir)).changes
               if c.kind.startswith("translation")]
    assert [(c.kind, c.level, c.field) for c in changes] == [
        ("translation-removed", REVIEW, "ae_grade"), ("translation-changed", SAFE, "ae_grade")]
    assert changes[1].old == "CTCAE 最高分级" and changes[1].new == "最高 CTCAE 分级"
    no_language = _project_copy(tmp_path, "none", toml_edit=lambda t: t.replace(
        '[[languages]]\nid = "zh-CN"', '[[retired]]\nid = "zh-CN"').replace(
        'language = "zh-CN"\n', ""))
    kinds = {(c.kind, c.level) for c in diff_projects(old, load_project(no_language)).changes}
    assert ("language-removed", REVIEW) in kinds


def test_cli_diff_project_folder_against_its_project_xml(tmp_path) -> None:
    from dictionary_fixtures import PROJECT_DIR

    xml = tmp_path / "p.xml"
    assert CliRunner().invoke(command, ["build-xml", "-o", str(xml)]).exit_code == 0
    result = CliRunner().invoke(command, ["diff", str(PROJECT_DIR), str(xml)])
    assert result.exit_code == 0, result.output
    assert "no change" in result.output
    changed = _project_copy(tmp_path, "changed", csv_edit=_remove)
    result = CliRunner().invoke(command, ["diff", str(xml), str(changed)])
    assert result.exit_code == 3, result.output
