"""The rendering path: autoescaping, identifier suppression, figures as inline SVG, PDF."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from sgbm_redcap.errors import ConfigError
from sgbm_redcap.reports import figures
from sgbm_redcap.reports.contexts import (
    Cover,
    Figure,
    KeyFigure,
    KeyFigures,
    Paragraph,
    ReportContext,
    Section,
    Table,
    study_cover,
)
from sgbm_redcap.reports.env import css_string, render, templates_dir
from sgbm_redcap.reports.formatting import median_iqr, n_pct, num, proportion_ci
from sgbm_redcap.reports.pdf import html_to_pdf
from sgbm_redcap.reports.redaction import drop_identifiers, listing_table

SCRIPT = "<script>alert('x')</script>"


def _cover() -> Cover:
    return study_cover("Monthly interim report", date(2026, 10, 31),
                       extract_date=datetime(2026, 11, 1, tzinfo=timezone.utc),
                       dictionary_version="1.0.0", data_source="test",
                       generated_at=datetime(2026, 11, 2, tzinfo=timezone.utc),
                       package_versions=[("sgbm-redcap", "0.1.0")])


def _context(blocks: list) -> ReportContext:
    return ReportContext(_cover(), [Section("s1", "First", blocks)], "header")


def test_text_from_data_entry_is_escaped_everywhere():
    table = Table("t", f"caption {SCRIPT}", ["a", SCRIPT], [[SCRIPT, "1"]],
                  footnote=SCRIPT)
    html = render("monthly_report.html.j2", _context(
        [table, Paragraph(SCRIPT), KeyFigures("k", [KeyFigure(SCRIPT, SCRIPT, SCRIPT)])]))
    assert "<script" not in html
    assert html.count("&lt;script&gt;") == 8  # caption, heading, cell, footnote, text, 3 key-figure parts


def test_undefined_variable_is_an_error_not_blank():
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render("monthly_report.html.j2", {"cover": _cover(), "sections": []})


def test_running_header_cannot_break_out_of_css():
    assert css_string('a"b</style><script>') == "ab/stylescript"


def test_templates_dir_override_must_hold_templates(tmp_path, monkeypatch):
    monkeypatch.setenv("SGBM_REDCAP_TEMPLATES", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        templates_dir()
    assert err.value.setting == "SGBM_REDCAP_TEMPLATES"


def test_identifier_columns_never_reach_a_listing():
    dictionary = SimpleNamespace(fields=[SimpleNamespace(name="nickname", identifier=True),
                                         SimpleNamespace(name="ae_term", identifier=False)])
    frame = pd.DataFrame({"record_id": ["1"], "site_patient_id": ["MRN-998877"],
                          "nickname": ["Jo"], "nickname___1": ["1"], "ae_term": ["Nausea"]})
    assert list(drop_identifiers(frame, dictionary).columns) == ["record_id", "ae_term"]
    table = listing_table(frame, columns=[("record_id", "Record"), ("site_patient_id", "MRN"),
                                          ("nickname", "Name"), ("ae_term", "Term")],
                          id="l", caption="AEs", dictionary=dictionary)
    html = render("monthly_report.html.j2", _context([table]))
    assert "MRN-998877" not in html and "Jo<" not in html and "Nausea" in html
    assert table.columns == ["Record", "Term"]


def test_formatting_follows_the_report_conventions():
    assert n_pct(3, 8) == "3 (37.5%)"
    assert n_pct(0, 0) == "0"
    values = [1, 2, 3, 4, 100, None]
    q1, med, q3 = np.percentile([1, 2, 3, 4, 100], [25, 50, 75])
    assert median_iqr(values) == f"{med:.1f} ({q1:.1f}–{q3:.1f})"
    assert num(float("inf")) == "NR"
    assert proportion_ci(7, 25, 0.120717, 0.493877) == "7/25, 28.0% (12.1–49.4)"


def test_figures_are_inline_svg_with_escaped_labels():
    enrolment = pd.DataFrame({"enrol_date": pd.to_datetime(["2024-08-03", "2024-09-10"]),
                              "site": ["Site A", SCRIPT]})
    svg = str(figures.enrolment_figure(enrolment, figure_id="enrol"))
    assert svg.startswith("<svg") and "<?xml" not in svg
    assert "<script" not in svg and "&lt;script&gt;" in svg


def test_figure_ids_do_not_collide_between_figures():
    rng = np.random.default_rng(3)
    curve = figures.SurvivalCurve("All", rng.exponential(6, 30), rng.random(30) < 0.6)
    a = str(figures.km_figure([curve], ylabel="iPFS (%)", figure_id="a"))
    b = str(figures.km_figure([curve], ylabel="OS (%)", figure_id="b"))
    ids_a = set(pd.Series(a.split('id="')[1:]).str.split('"').str[0])
    ids_b = set(pd.Series(b.split('id="')[1:]).str.split('"').str[0])
    assert ids_a and not ids_a & ids_b


def test_numbers_at_risk_count_patients_still_followed():
    assert figures.at_risk([1.0, 2.0, 2.0, 5.0], [0, 2, 3, 6]) == [4, 3, 1, 0]


def test_empty_inputs_say_so_instead_of_failing():
    svg = str(figures.waterfall_figure(pd.DataFrame(
        {"record_id": [], "best_pct_change": [], "bor": []})))
    assert "No patient has a post-baseline" in svg


def test_pdf_has_pages_and_the_report_text(tmp_path):
    rng = np.random.default_rng(7)
    best = pd.DataFrame({"record_id": range(12), "best_pct_change": rng.normal(-20, 30, 12),
                         "bor": rng.choice(["PR", "SD", "PD"], 12)})
    ctx = _context([Table("t", "Counts", ["What", "n"], [["Enrolled", "12"]]),
                    Figure("w", "Waterfall", figures.waterfall_figure(best))])
    path = html_to_pdf(render("monthly_report.html.j2", ctx), tmp_path / "r.pdf")
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    assert len(reader.pages) >= 2
    text = "".join(p.extract_text() for p in reader.pages)
    assert "Data cut-off date" in text and "Enrolled" in text and "Page 1 of" in text


