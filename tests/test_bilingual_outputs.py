"""Site-facing outputs in the site's language: bilingual query messages (site language +
English), Chinese site listings (HTML, PDF, CSV) and the codebook in either language or both.

The PDF checks read the text layer (pdftotext) and the fonts (pdffonts) of poppler-utils;
without them those checks are skipped with a message saying so."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from datetime import date, datetime, timezone

import pytest
from sweep_helpers_bilingual import MemoryBackend, finding_rows

from sgbm_redcap.checks import REGISTRY
from sgbm_redcap.dictionary.load import load_dictionary
from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.queries import sync_queries
from sgbm_redcap.queries.listings import STATUS_ZH, by_site, write_listings
from sgbm_redcap.queries.messages import (
    ENGLISH_MARK,
    bilingual,
    load_templates,
    localiser,
    message_in,
    placeholders,
    translate,
)
from sgbm_redcap.queries.reconcile import reconcile
from sgbm_redcap.reports.codebook import build_codebook, render_codebook
from sgbm_redcap.reports.contexts import study_cover
from sgbm_redcap.reports.env import render
from sgbm_redcap.reports.i18n import sweep_note
from sgbm_redcap.reports.pdf import write_html_pdf
from sgbm_redcap.reports.quality import render_site_listing, site_listing_context

needs_poppler = pytest.mark.skipif(
    shutil.which("pdffonts") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdffonts, pdftotext) not installed: `make sysdeps` or "
           "`apt-get install poppler-utils`")
PROJECT = study_project()
ZH_SITE = next(dag for dag, lang in PROJECT.dag_languages.items() if lang == "zh-CN")
EN_SITE = next(dag for dag, _ in PROJECT.dags if PROJECT.dag_language(dag) == "en")


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def cjk_font_embedded(path) -> bool:
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return any("Noto-Sans-SC" in line and line.split()[-5] == "yes"
               for line in out.splitlines())


# --------------------------------------------------------------------------- messages
def test_every_chinese_query_template_has_exactly_its_rules_placeholders():
    spec = PROJECT.languages[0]
    templates = load_templates(PROJECT.path / spec.queries)
    english = {r.rule_id: r.message for r in REGISTRY}
    assert set(templates) <= set(english), "a template for a rule that does not exist"
    for rule_id, template in templates.items():
        assert placeholders(template) == placeholders(english[rule_id]), rule_id
        assert re.search(r"[\u4e00-\u9fff]", template), rule_id


def test_a_chinese_sites_query_is_chinese_then_english_and_an_english_sites_english():
    findings = finding_rows([("DQ-B", ZH_SITE, "ae_grade"), ("DQ-B", EN_SITE, "ae_grade")])
    out = localiser(PROJECT)(findings)
    zh, en = out["message"]
    english = findings["message"][0]
    assert zh == bilingual("“CTCAE 最高分级”为必填项但未填写。请填写，或标记为原始资料中无此信息。",
                           english)
    assert zh.endswith(ENGLISH_MARK + english) and en == english
    assert message_in(zh, "zh-CN").startswith("“CTCAE 最高分级”")
    assert message_in(zh, "en") == english and message_in(en, "zh-CN") == english


def test_a_message_that_does_not_match_its_template_stays_english():
    assert translate("'{label}' is {value}.", "“{label}”为 {value}。", "something else") is None
    findings = finding_rows([("DQ-B", ZH_SITE, "ae_grade")])
    findings.loc[0, "message"] = "A message typed by hand."
    assert list(localiser(PROJECT)(findings)["message"]) == ["A message typed by hand."]


def test_the_sweep_note_never_repeats_the_query_message():
    f = finding_rows([("DQ-B", ZH_SITE, "ae_grade")])
    backend = MemoryBackend()
    sync_queries(f, backend, today="2026-11-25", audit=None)
    existing = backend.existing()
    existing["dq_status"] = "2"  # answered, finding persists -> reopened
    plan = reconcile(f, existing, today="2026-11-26")
    note = plan.rows()[0]["dq_note"]
    assert note.startswith("Reopened by the sweep on 2026-11-26") and f["message"][0] not in note
    old_style = f"{note} {f['message'][0]}"     # notes written before this rule
    assert sweep_note(old_style, "en", f["message"][0]) == note
    assert sweep_note(note, "zh-CN") == "质疑程序于 2026-11-26 重开：中心回复后数据仍显示该问题。"


# --------------------------------------------------------------------------- site listings
def _sites(tmp_path=None):
    f = finding_rows([("DQ-B", ZH_SITE, "ae_grade"), ("AE-1", ZH_SITE, "ae_grade"),
                      ("DQ-B", EN_SITE, "ae_grade")])
    backend = MemoryBackend()
    sync_queries(localiser(PROJECT)(f), backend, today="2026-11-25", audit=None)
    state = backend.existing()
    state["dag"] = [ZH_SITE, ZH_SITE, EN_SITE]
    return state


def test_the_status_words_are_the_translations_dq_status_choices():
    zh = PROJECT.translation("zh-CN")
    from sgbm_redcap.queries.reconcile import STATUS_WORDS

    assert {STATUS_WORDS[c]: zh.choice("dq_status", c) for c in STATUS_WORDS} == STATUS_ZH


def test_a_chinese_sites_csv_is_in_chinese_with_a_bom_and_an_english_sites_in_english(tmp_path):
    state = _sites()
    write_listings(state, tmp_path, as_of="2026-11-25", language_of=PROJECT.dag_language)
    raw = (tmp_path / f"queries_{ZH_SITE}.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["状态"] == "待处理" and "必填项" in rows[0]["需核查的内容"]
    assert "[EN]" not in rows[0]["需核查的内容"]
    en = list(csv.DictReader(io.StringIO(
        (tmp_path / f"queries_{EN_SITE}.csv").read_text(encoding="utf-8-sig"))))
    assert en[0]["Status"] == "open" and en[0]["What to check"].startswith("'Maximum")


def test_the_chinese_listing_shows_labels_not_raw_names():
    site = next(s for s in by_site(_sites()) if s.dag == ZH_SITE)
    html = render_site_listing(site, "2026-11-25", language="zh-CN")
    assert '<html lang="zh-CN">' in html and "数据质疑" in html
    assert "不良事件 #1" in html     # instrument title (Chinese) and instance
    assert "CTCAE 最高分级" in html and "待处理" in html
    assert "ae_grade" not in html and "adverse_events" not in html  # no raw names shown


@needs_poppler
def test_a_chinese_site_listing_pdf_has_chinese_text_and_the_cjk_font(tmp_path):
    site = next(s for s in by_site(_sites()) if s.dag == ZH_SITE)
    cover = study_cover("Data queries", date(2026, 11, 25), extract_date=None,
                        dictionary_version="", data_source="test",
                        generated_at=datetime.now(timezone.utc), package_versions=[])
    ctx = site_listing_context(site, cover=cover, language="zh-CN", project=PROJECT)
    _, pdf = write_html_pdf(render("site_queries.html.j2", ctx), tmp_path / "zh_listing")
    text = pdf_text(pdf)
    assert cjk_font_embedded(pdf)
    assert "数据质疑" in text and "待回复的质疑" in text and "待处理" in text
    assert "CTCAE 最高分级" in text.replace("\n", "")


# --------------------------------------------------------------------------- codebook
def small_dictionary():
    """The study dictionary cut to two instruments (a whole codebook PDF takes ~20 s)."""
    text = (PROJECT.path / "data_dictionary.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    keep = [rows[0]] + [r for r in rows[1:] if r[1] in ("enrolment", "adverse_events")]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(keep)
    return load_dictionary(out.getvalue())


def test_the_codebook_in_chinese_english_or_both():
    d = small_dictionary()
    zh = build_codebook(d, language="zh-CN", project=PROJECT)
    assert [f.label for f in zh.forms] == ["入组", "不良事件"] and zh.lang == "zh-CN"
    grade = next(f for f in zh.forms[1].fields if f.name == "ae_grade")
    assert grade.label == "CTCAE 最高分级" and grade.choices[0] == ("1", "1 级")
    en = build_codebook(d, project=PROJECT)
    assert [f.label for f in en.forms] == ["Enrolment", "Adverse events"]  # as REDCap shows
    both = build_codebook(d, language="both", project=PROJECT)
    grade = next(f for f in both.forms[1].fields if f.name == "ae_grade")
    assert (grade.label, grade.label_2) == ("Maximum CTCAE grade", "CTCAE 最高分级")
    assert [c for c, _ in grade.choices] == [c for c, _ in grade.choices_2]
    with pytest.raises(ValueError, match="no 'fr' translation"):
        build_codebook(d, language="fr", project=PROJECT)


@needs_poppler
@pytest.mark.parametrize("language", ["zh-CN", "both"])
def test_a_chinese_codebook_pdf_has_chinese_text_and_no_choice_code_broken(tmp_path, language):
    d = small_dictionary()
    html = render_codebook(d, version="t", language=language, project=PROJECT)
    _, pdf = write_html_pdf(html, tmp_path / f"codebook_{language}")
    text = pdf_text(pdf)
    assert cjk_font_embedded(pdf)
    joined = "".join(text.split())  # Chinese wraps inside a term; lines broken anywhere
    assert "不良事件" in joined and "中性粒细胞计数降低" in joined
    codes = list(d.field("ae_term").choices)
    tokens = set(re.findall(r"\d+", text))
    assert [c for c in codes if c not in tokens] == [], "a choice code broken across lines"


def test_the_data_quality_report_has_a_page_per_site_in_the_sites_language():
    import pandas as pd

    from sgbm_redcap.reports.quality import build_quality_context

    raw = pd.DataFrame({"record_id": ["1", "2"], "redcap_repeat_instrument": ["", ""],
                        "redcap_repeat_instance": ["", ""],
                        "redcap_data_access_group": [ZH_SITE, EN_SITE],
                        "screening_date": ["2025-01-02", ""], "eligible": ["1", "1"]})
    findings = finding_rows([("DQ-B", ZH_SITE, "ae_grade")])
    cover = study_cover("Data-quality report", date(2026, 11, 25), extract_date=None,
                        dictionary_version="", data_source="test",
                        generated_at=datetime.now(timezone.utc), package_versions=[])
    ctx = build_quality_context(raw, PROJECT.dictionary, findings, cover=cover,
                                dags=PROJECT.dags, project=PROJECT)
    pages = {s.id: s for s in ctx.sections if s.id.startswith("site-")}
    zh, en = pages[f"site-{ZH_SITE}"], pages[f"site-{EN_SITE}"]
    assert zh.lang == "zh-CN" and zh.title.startswith("中心页")
    assert en.lang == "en" and en.title.startswith("Site page")
    table = zh.blocks[1]
    assert table.columns[0] == "表单" and table.rows[0][0] == "入组"
    assert en.blocks[1].rows[0][0] == "Enrolment"
    assert [k.value for k in zh.blocks[0].items][:3] == ["1", "0", "1"]
    html = render("data_quality.html.j2", ctx)
    assert f'id="site-{ZH_SITE}" class="major" lang="zh-CN"' in html


def test_report_codebook_with_an_unknown_language_is_one_line_and_exit_2(tmp_path):
    from click.testing import CliRunner

    from sgbm_redcap.cli import main

    result = CliRunner().invoke(main, ["report", "codebook", "--no-pdf", "--language", "fr",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "en, zh-CN, both" in lines[0]
    ok = CliRunner().invoke(main, ["report", "codebook", "--no-pdf", "--language", "zh-CN",
                                   "--out", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    html = next(tmp_path.glob("codebook_*_zh-CN.html")).read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html and "不良事件" in html


@needs_poppler
def test_the_short_columns_of_a_listing_never_break_and_the_note_never_repeats(tmp_path):
    """The first demo listing broke the rule id "DQ-B" over two lines and repeated the
    message in the sweep note; both are looked for in the PDF's text layer."""
    f = finding_rows([("DQ-B", EN_SITE, "ae_grade"), ("DQ-B", EN_SITE, "ae_onset_date")])
    backend = MemoryBackend()
    sync_queries(f, backend, today="2026-11-25", audit=None)
    state = backend.existing()
    state["dag"] = EN_SITE
    state.loc[1, "dq_status"] = "4"
    state.loc[1, "dq_note"] = ("Reopened by the sweep on 2026-11-25: the data still show the "
                               "problem after the site's answer. " + f["message"][1])
    site = by_site(state)[0]
    _, pdf = write_html_pdf(render_site_listing(site, "2026-11-25"), tmp_path / "en")
    lines = pdf_text(pdf).splitlines()
    rows = [line for line in lines if "DQ-B" in line and "2026-11-25" in line]
    assert len(rows) == 2
    # the rule id is worded once, in the table's footnote (issue 14)
    assert [line.strip() for line in lines if "DQ-B" in line and line not in rows] == [
        "Rule: DQ-B Required field blank."]
    assert any("Reopened" in r for r in rows)
    raw = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout  # reading order: each cell's text together
    text = " ".join(raw.split())
    assert text.count("'Onset date' is required and blank") == 1  # once: not in the note
    assert "the data still show the problem after the site's answer." in text
