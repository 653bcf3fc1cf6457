"""The study's zh-CN translation (REDCap MLM) and the linter's translation rules: each rule
fires on a translation that breaks it, and the committed translation passes all of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sgbm_redcap.cli.dictionary import command
from sgbm_redcap.dictionary.project import load_project, study_project
from sgbm_redcap.dictionary.translation import (
    EnglishItem,
    Translation,
    item_key,
    load_source,
    mlm_json,
    project_english,
    read_mlm,
)
from sgbm_redcap.dictionary.translation_lint import lint_translation, lint_translations
from sgbm_redcap.errors import DictionaryError

PROJECT = Path(__file__).resolve().parents[1] / "redcap_project"


@pytest.fixture(scope="module")
def english() -> dict[str, EnglishItem]:
    return project_english(study_project())


@pytest.fixture()
def zh() -> Translation:
    t = study_project().translation("zh-CN")
    assert t is not None
    return Translation(t.language, t.display, dict(t.items))


def rules(t: Translation, english: dict[str, EnglishItem]) -> list[tuple[str, str, str]]:
    return [(i.rule, i.field, i.column) for i in lint_translation(t, english)]


def test_every_translatable_item_of_the_crf_has_a_chinese_translation(english, zh):
    assert set(english) == set(zh.items)
    kinds = {key.split(":")[2] for key in english}
    assert kinds == {"title", "repeat_label", "label", "note", "section", "choice"}
    assert lint_translations(study_project())[0].issues == []


def test_clinical_terms_use_the_standard_chinese_terminology(zh):
    assert "戈沙妥珠单抗" in zh.field_text("inc_sg_received", "label")
    assert [zh.choice("ia_rano_inv", c) for c in "1234"] == [
        "完全缓解（CR）", "部分缓解（PR）", "疾病稳定（SD）", "疾病进展（PD）"]
    assert zh.choice("ea_recist_inv", "4") == "疾病进展（PD）"
    assert zh.choice("ae_term", "1101") == "中性粒细胞计数降低"
    assert zh.choice("ae_term", "1002") == "发热性中性粒细胞减少症"


def test_uncertain_terms_carry_a_reviewer_note_in_the_source():
    source = load_source(PROJECT / "translations" / "zh-CN.toml")
    assert item_key("field", "ae_term", "choice", "1208") in source.reviews
    assert item_key("field", "ae_term", "label") in source.reviews


def test_a_missing_translation_is_found(english, zh):
    del zh.items[item_key("field", "ae_grade", "label")]
    zh.items[item_key("form", "tumour", "title")] = "  "
    assert sorted(rules(zh, english)) == [("translation-missing", "", "title"),
                                          ("translation-missing", "ae_grade", "label")]


def test_an_orphan_key_is_found(english, zh):
    zh.items[item_key("field", "no_such_field", "label")] = "无"
    zh.items[item_key("field", "ae_grade", "section")] = "多余的标题"  # English has none
    zh.items[item_key("form", "no_such_form", "title")] = "无"
    assert sorted(r for r, _, _ in rules(zh, english)) == ["translation-orphan"] * 3


def test_choice_codes_must_be_the_fields_codes(english, zh):
    grade = {k: v for k, v in zh.items.items() if k.startswith("field:ae_grade:choice:")}
    for key in grade:
        del zh.items[key]
    for code, text in zip(["01", "2", "3", "4", "5"], grade.values(), strict=True):
        zh.items[item_key("field", "ae_grade", "choice", code)] = text  # "1" re-coded "01"
    found = rules(zh, english)
    assert found == [("translation-choice-codes", "ae_grade", "choice 1"),
                     ("translation-choice-codes", "ae_grade", "choice 01")]


def test_a_piped_reference_lost_or_added_is_found(english, zh):
    zh.items[item_key("form", "prior_cns_therapy", "repeat_label")] = "[cns_start_date]"
    zh.items[item_key("field", "sex", "label")] = "性别 [birth_date]"
    issues = {i.message for i in lint_translation(zh, english)}
    assert issues == {"lost [cns_type]", "added [birth_date]"}


def test_html_tags_must_balance_and_match_the_english():
    english = {"field:dose:label": EnglishItem("field:dose:label",
                                               "<b>Dose</b> per <site> today", 2, "f")}

    def found(text: str) -> list[str]:
        t = Translation("zh-CN", "", {"field:dose:label": text})
        return [i.message for i in lint_translation(t, english)]

    assert found("<b>剂量</b>，每个 <site>") == []           # <site> is text, not a tag
    assert found("<b>剂量 今天") == ["tags not balanced"]
    assert found("<i>剂量</i> 今天") == ["tags ['i'] instead of ['b']"]


def test_the_mlm_file_round_trips_and_is_refused_when_it_is_not_one(english, zh):
    text = mlm_json(zh, study_project().dictionary, english=english)
    data = json.loads(text)
    assert data["creator"] == "REDCap MLM" and data["key"] == "zh-CN"
    enum = next(e for e in data["fieldTranslations"] if e["id"] == "ae_grade")["enum"]
    assert enum[0] == {"id": "1", "translation": "1 级", "default": "Grade 1"}
    assert read_mlm(text).items == zh.items
    with pytest.raises(DictionaryError, match="creator"):
        read_mlm('{"key": "zh-CN"}')


def copy_project(tmp_path: Path) -> Path:
    target = tmp_path / "redcap_project"
    shutil.copytree(PROJECT, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_a_language_file_not_built_from_its_source_is_stale(tmp_path):
    project_dir = copy_project(tmp_path)
    source = project_dir / "translations" / "zh-CN.toml"
    source.write_text(source.read_text(encoding="utf-8").replace('title = "不良事件"',
                                                                 'title = "不良事件记录"'),
                      encoding="utf-8")
    issues = lint_translations(load_project(project_dir))[0].issues
    assert [i.rule for i in issues] == ["translation-stale"]


def test_cli_lint_of_the_project_folder_fails_on_a_broken_translation(tmp_path):
    project_dir = copy_project(tmp_path)
    mlm = project_dir / "translations" / "zh-CN.mlm.json"
    data = json.loads(mlm.read_text(encoding="utf-8"))
    data["key"] = "zh-TW"
    mlm.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(command, ["lint", str(project_dir)])
    assert result.exit_code == 1
    assert "translation-unreadable" in result.output and "translation-stale" in result.output


def test_the_sandbox_like_redcaps_api_has_no_content_for_translations(tmp_path):
    """REDCap's API lists no MLM content (docs/sandbox.md): translations move as MLM language
    files through REDCap's MLM page, so the sandbox refuses such a request as REDCap does, and
    its project information gives the project's own language."""
    from urllib.parse import urlencode

    from sandbox_fixtures import DICTIONARY

    from sgbm_redcap.sandbox import Sandbox

    sb = Sandbox(tmp_path / "sandbox")
    token = sb.create_project(DICTIONARY)
    form = "application/x-www-form-urlencoded"
    for content in ("language", "mlm", "translation"):
        status, _, body = sb.handle(urlencode({"token": token, "content": content,
                                               "format": "json"}).encode(), form)
        assert status == 400 and "is not valid" in json.loads(body)["error"]
    status, _, body = sb.handle(urlencode({"token": token, "content": "project",
                                           "format": "json"}).encode(), form)
    assert status == 200 and json.loads(body)["project_language"] == "English"
