"""The monthly report rendered from the synthetic cohort: sections in the DOMAIN §6.2 order,
numbers equal to the analysis package's, no identifier, no injected markup, a real PDF."""

from __future__ import annotations

import io
import re
from datetime import date

import pandas as pd
import pytest
from pypdf import PdfReader
from report_world import visible_text

from sgbm_redcap.analysis import analyse_study
from sgbm_redcap.dictionary.ctcae import OTHER_TERM_CODE
from sgbm_redcap.dictionary.project import load_project, study_project
from sgbm_redcap.reports.formatting import DASH, reader_text
from sgbm_redcap.reports.monthly import write_monthly_report
from sgbm_redcap.reports.redaction import identifier_fields
from sgbm_redcap.source import build_tables
from sgbm_redcap.synthetic.cohort import generate_cohort

CUTOFF = date(2026, 10, 31)
INJECTED = "<script>alert('sgbm')</script>"
SECTIONS = ["study-status", "follow-up", "data-quality", "baseline", "exposure", "efficacy",
            "safety", "benchmarks", "notes"]


@pytest.fixture(scope="module")
def world():
    """Study tables from the seeded cohort, with markup typed into two free-text fields."""
    project = load_project("redcap_project")
    cohort = generate_cohort(n=100, seed=20240801, problem_rate=0.1)
    raw = cohort.to_frame(dictionary=project.dictionary, with_dag=True)
    base = raw["redcap_repeat_instrument"] == ""
    not_eligible = base & (raw["eligible"] == "0")
    assert not_eligible.any()
    raw.loc[not_eligible.idxmax(), "inelig_reason"] = INJECTED
    ae = raw.index[raw["redcap_repeat_instrument"] == "adverse_events"][0]
    raw.loc[ae, ["ae_term", "ae_term_other"]] = [OTHER_TERM_CODE, INJECTED]
    tables = build_tables(raw, project.dictionary, repeating_forms=project.repeating_forms,
                          missing_codes=project.missing_codes)
    return project, cohort, tables


@pytest.fixture(scope="module")
def report(world, tmp_path_factory):
    project, _, tables = world
    out = tmp_path_factory.mktemp("monthly")
    files = write_monthly_report(tables, cutoff=CUTOFF, out_dir=out, dags=project.dags,
                                 dictionary_version=project.version)
    return files, files.html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def results(world):
    return analyse_study(world[2], cutoff=CUTOFF)


def test_sections_follow_the_interim_report_outline(report):
    files, html = report
    assert [s.id for s in files.context.sections] == SECTIONS
    positions = [html.index(f'<section id="{s}"') for s in SECTIONS]
    assert positions == sorted(positions)
    for block in ("fig-enrolment", "enrolment-by-site", "screening-flow", "followup-status",
                  "completeness-by-site", "queries-by-site", "baseline-table",
                  "exposure-table", "best-response", "response-rates", "fig-waterfall",
                  "fig-swimmer", "fig-km-ipfs", "fig-km-os", "fig-cif", "fig-forest",
                  "teae-summary", "teae-by-term", "teae-grade3", "aesi", "gcsf", "lab-shifts",
                  "listing-sae", "listing-deaths", "benchmarks-table"):
        assert files.context.find(block) is not None, block
        assert f'id="{block}"' in html


def test_cover_states_cutoff_dictionary_and_package_versions(report, world):
    files, html = report
    text = visible_text(html)
    assert f"Data cut-off date {CUTOFF.isoformat()}" in text
    assert f"Data dictionary version {world[0].version}" in text
    assert re.search(r"lifelines \d+\.\d+", text) and re.search(r"sgbm-redcap \d", text)


def test_efficacy_numbers_are_the_analysis_packages(report, results):
    files, html = report
    ctx = files.context
    rates = {row[0]: row for row in ctx.find("response-rates").rows}
    for key, label in (("iORR_confirmed", "iORR, confirmed"), ("iDCR", "iDCR")):
        p = results.proportions[key]
        assert rates[label][1] == f"{p.x}/{p.n}"
        assert rates[label][2] == (f"{100 * p.estimate:.1f} ({100 * p.lower:.1f}–"
                                   f"{100 * p.upper:.1f})")
    tte = {row[0]: row for row in ctx.find("tte-summary").rows}
    ipfs = results.km["ipfs"]
    assert tte["Intracranial PFS"][1:4] == [str(ipfs.n), str(ipfs.events), ipfs.median_text()]
    assert tte["Overall survival"][3] == results.km["os"].median_text()
    bor = ctx.find("best-response")
    ires = results.sets.loc[results.sets["ires"], "record_id"]
    confirmed = results.bor_intracranial.set_index("record_id").loc[ires, "confirmed"]
    pr = next(r for r in bor.rows if r[0].startswith("Partial"))
    assert pr[1].startswith(f"{int((confirmed == 'PR').sum())} (")
    assert ipfs.median_text() in visible_text(html)


def test_safety_and_status_numbers_are_the_analysis_packages(report, results, world):
    files, _ = report
    ctx = files.context
    n = results.set_counts["safety"]
    overview = dict(ctx.find("teae-summary").rows)
    for category, k in zip(results.teae_overview["category"], results.teae_overview["n"],
                           strict=True):
        assert overview[reader_text(category)].startswith(f"{int(k)} (")
    assert ctx.find("teae-summary").columns[1] == f"Safety set (N = {n})"
    key = {k.label: k.value for k in ctx.find("status-key").items}
    assert key["Safety set"] == str(n)
    assert key["Response-evaluable"] == str(results.set_counts["ires"])
    raw = world[2].raw
    base = raw[raw["redcap_repeat_instrument"] == ""]
    enrolled = ((base["eligible"] == "1") & (base["enrol_date"] != "")
                & (pd.to_datetime(base["enrol_date"]) <= pd.Timestamp(CUTOFF))).sum()
    assert key["Enrolled / target"] == f"{enrolled} / {study_project().enrolment_target}"
    assert ctx.find("enrolment-by-site").rows[-1][1] == str(enrolled)


def test_no_identifier_value_is_shown(report, world):
    _, html = report
    project, _, tables = world
    ids = identifier_fields(project.dictionary)
    assert {"site_patient_id", "birth_date"} <= ids
    base = tables.raw[tables.raw["redcap_repeat_instrument"] == ""]
    for field in ids & set(base.columns):
        values = [v for v in base[field].unique() if len(v) >= 6]
        assert values, field
        assert not [v for v in values if v in html], field


def test_markup_typed_at_a_site_is_shown_as_text(report):
    _, html = report
    assert "<script" not in html
    assert html.count("&lt;script&gt;alert(") >= 1
    assert INJECTED in visible_text(html)


def test_pdf_has_the_report_on_its_pages(report):
    files, _ = report
    reader = PdfReader(io.BytesIO(files.pdf.read_bytes()))
    assert len(reader.pages) >= 10
    first = reader.pages[0].extract_text()
    assert "Monthly interim report" in first and CUTOFF.isoformat() in first
    text = " ".join(p.extract_text() for p in reader.pages)
    assert "Kaplan" in text and f"Page {len(reader.pages)} of {len(reader.pages)}" in text


def test_html_is_self_contained(report):
    _, html = report
    assert not re.search(r'<(link|script|img)\b', html)
    assert not re.search(r'(src|href)="(https?:|//)', html)


@pytest.mark.parametrize("cutoff", [date(2024, 9, 30), date(2025, 3, 31)])
def test_an_early_report_counts_only_what_was_known_at_the_cutoff(cutoff, tmp_path):
    project = load_project("redcap_project")
    cohort = generate_cohort(n=8, seed=5, problem_rate=0.0)
    raw = cohort.to_frame(dictionary=project.dictionary, with_dag=True)
    tables = build_tables(raw, project.dictionary, repeating_forms=project.repeating_forms,
                          missing_codes=project.missing_codes)
    files = write_monthly_report(tables, cutoff=cutoff, out_dir=tmp_path, pdf=False,
                                 dags=project.dags)
    base = raw[raw["redcap_repeat_instrument"] == ""]
    known = base["enrol_date"].replace("", None).dropna()
    enrolled = int(((pd.to_datetime(known) <= pd.Timestamp(cutoff))
                    & (base.loc[known.index, "eligible"] == "1")).sum())
    key = {k.label: k.value for k in files.context.find("status-key").items}
    assert key["Enrolled / target"] == f"{enrolled} / {study_project().enrolment_target}"
    screened = files.context.find("screening-flow").rows[0]
    assert screened[0] == "Screened" and int(screened[1]) < len(base)


def test_lab_shift_table_shows_the_analysis_counts(report, results):
    files, _ = report
    table = files.context.find("lab-shifts")
    n_safety = results.set_counts["safety"]
    groups = sorted(table.group_rows)
    assert len(groups) == results.lab_shifts["parameter"].nunique()
    for start, end in zip(groups, [*groups[1:], len(table.rows)], strict=True):
        parameter = table.rows[start][0]
        body = table.rows[start + 1:end]
        assert sum(int(r[-1]) for r in body) == n_safety, parameter   # every patient, once
        expected = results.lab_shifts[(results.lab_shifts["parameter"] == parameter)
                                      & (results.lab_shifts["worst"] == "3")]["n"].sum()
        assert sum(int(r[4]) for r in body) == expected               # the "Grade 3" column


def test_subgroup_table_shows_the_hazard_ratios_of_the_analysis(report, results):
    files, _ = report
    table = files.context.find("subgroup-ipfs")
    assert table.columns[-1] == "HR (95% CI)"
    shown = [r[-1] for r in table.rows if r[-1] not in ("", DASH, "1 (reference)")]
    estimated = results.subgroups.dropna(subset=["ipfs_hr"])
    assert len(estimated) >= 1 and len(shown) == len(estimated)
    r = estimated.iloc[0]
    assert f"{r.ipfs_hr:.2f} ({r.ipfs_hr_lower:.2f}–{r.ipfs_hr_upper:.2f})" in shown
    assert sum(r[-1] == "1 (reference)" for r in table.rows) == int(
        results.subgroups["hr_reference"].sum())


def test_landmark_rates_never_extrapolate_past_the_follow_up(report, results):
    """Issue 19: no rate with 0 at risk or past the last observation; NE where an endpoint has
    nobody at risk; columns only at months the follow-up reaches; the CIF caption quotes only
    estimable months."""
    ctx = report[0].context
    tte = ctx.find("tte-summary")
    months = results.landmark_months
    assert months and set(months) <= set(results.options.landmark_months)
    assert tte.columns[4:] == [f"{m:g}-month rate, % (95% CI) [at risk]" for m in months]
    marks = results.landmarks.set_index(["endpoint", "months"])
    labels = {"Intracranial PFS": "ipfs", "PFS (either compartment)": "pfs",
              "Overall survival": "os", "Duration of intracranial response": "idor"}
    for row in tte.rows:
        for month, cell in zip(months, row[4:], strict=True):
            mark = marks.loc[(labels[row[0]], month)]
            assert not cell.endswith(" [0]")
            assert (cell == "NE") == (mark["at_risk"] == 0)
    cif = results.cumulative_incidence_ipd.set_index("time")
    caption = ctx.find("fig-cif").note
    for month in results.options.landmark_months:
        quoted = f"at {month:g} months" in caption
        assert quoted == (cif.loc[month, "at_risk"] > 0), (month, caption)
